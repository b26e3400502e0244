/*
 * fuzz_sensors.c - the data detectors behind their host: the telemetry
 * extractor, value baselines, integrity (key and HMAC), topic
 * authorisation, the device inventory and inactivity timers, fed a stream
 * of MQTT messages made from the input (PUBLISH, SUBSCRIBE, CONNECT and
 * the broker's answers, any topic, payload, client id and time step).
 *
 * Oracles: every finding names a layer and an event; its metadata is JSON
 * members that make a valid object between braces; no finding carries the
 * configured secrets (unless the input itself spells one out, as a client
 * id or a topic that a finding may quote); a state saved at the end loads
 * into fresh detectors, which save it again as valid JSON (or, when it
 * holds identities that are not UTF-8, as JSON that cJSON reads).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event/event.h"
#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"
#include "net/flow_table.h"
#include "sensor/sensor.h"
#include "util/file.h"
#include "util/rd.h"
#include "fuzz_util.h"

#define SHARED_SECRET "fuzz-shared-secret-7f3a"
#define HMAC_KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char dir[64];
static cJSON *cfg;
static bool input_has_secret; /* the input holds a secret's text itself */

static bool has_text(const uint8_t *d, size_t n, const char *t)
{
	size_t tn = strlen(t);
	for (size_t i = 0; i + tn <= n; i++)
		if (d[i] == (uint8_t)t[0] && !memcmp(d + i, t, tn))
			return true;
	return false;
}

static void report(void *ud, const struct sensor_report *r)
{
	(void)ud;
	FUZZ_CHECK(r->layer && *r->layer);
	FUZZ_CHECK(r->event && *r->event);
	if (r->meta && r->meta_len) {
		char *obj = malloc(r->meta_len + 3);
		FUZZ_CHECK(obj != NULL);
		obj[0] = '{';
		memcpy(obj + 1, r->meta, r->meta_len);
		obj[r->meta_len + 1] = '}';
		obj[r->meta_len + 2] = 0;
		FUZZ_CHECK(fuzz_json_check(obj, r->meta_len + 2) == 0);
		FUZZ_CHECK(input_has_secret ||
			   (!strstr(obj, SHARED_SECRET) && !strstr(obj, HMAC_KEY_HEX)));
		free(obj);
	}
	if (r->detail && !input_has_secret) {
		FUZZ_CHECK(!strstr(r->detail, SHARED_SECRET));
		FUZZ_CHECK(!strstr(r->detail, HMAC_KEY_HEX));
	}
}

/*
 * The detectors with a small takeover table: its 65,536 default entries
 * are nothing to glibc (zero pages), but ASan's calloc touches them on
 * every input, which halved the executions per second.
 */
static struct sensors *fuzz_sensors_open(const cJSON *c)
{
	struct sensors_opts o = {
		.cfg = c, .report = report, .live = false,
		.log = fuzz_devnull(), .max_client_ids = 256,
	};
	return sensors_open(&o);
}

/* Every detector on, with policies that fuzzed topics can hit. */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fuzz-sensors-%d", (int)getpid());
	mkdir(dir, 0700);
	char keys[128], acl[128], json[2048];
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(acl, sizeof(acl), "%s/acl", dir);
	FILE *f = fopen(keys, "w");
	if (f) {
		fprintf(f, "* %s\nesp32-kitchen %s\nd %s\n", SHARED_SECRET, HMAC_KEY_HEX, HMAC_KEY_HEX);
		fclose(f);
	}
	chmod(keys, 0600);
	f = fopen(acl, "w");
	if (f) {
		fputs("topic read public/#\nuser dashboard\ntopic read sensors/#\n"
		      "user admin\ntopic readwrite #\npattern write sensors/+/%c\n"
		      "pattern readwrite zigbee2mqtt/%u/#\n", f);
		fclose(f);
	}
	snprintf(json, sizeof(json),
		 "{\"telemetry\":{\"max-payload\":\"2048\",\"topics\":["
		 "{\"filter\":\"sensors/+/+\",\"device\":\"topic-level 3\",\"fields\":["
		 "{\"name\":\"temperature\",\"min\":\"-40\",\"max\":\"80\",\"max-rate\":\"2\",\"resolution\":\"0.1\"},"
		 "{\"name\":\"humidity\",\"min\":\"0\",\"max\":\"100\",\"required\":\"no\"}]},"
		 "{\"filter\":\"k/#\",\"device\":\"field id\",\"fields\":[\"v\",{\"name\":\"w\",\"path\":\"a.0\"}]},"
		 "{\"filter\":\"n/+\",\"device\":\"client-id\",\"format\":\"number\"}]},"
		 "\"value\":{\"warmup\":\"3\"},"
		 "\"integrity\":{\"keys-file\":\"%s\",\"topics\":["
		 "{\"filter\":\"sensors/#\",\"mode\":\"hmac\"},{\"filter\":\"k/#\",\"mode\":\"key\"}]},"
		 "\"authz\":{\"acl-file\":\"%s\",\"policies\":[{\"client-id\":\"esp*\",\"publish\":[\"n/%%c\"]}]},"
		 "\"inventory\":{\"learn\":\"2s\",\"max-devices\":\"64\"},"
		 "\"inactivity\":{\"max-devices\":\"64\",\"devices\":{\"min-samples\":\"2\",\"min-timeout\":\"1s\"}}}",
		 keys, acl);
	cfg = cJSON_Parse(json);
}

static struct slice take_str(struct fuzz_in *in, size_t max)
{
	size_t want = fuzz_u8(in) % (max + 1), got = 0;
	const uint8_t *p = fuzz_take(in, want, &got);
	struct slice s = { p, got };
	return s;
}

static char *cstr(struct slice s, char *buf, size_t cap)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	if (n)
		memcpy(buf, s.p, n);
	buf[n] = 0;
	buf[strnlen(buf, n)] = 0;
	return buf;
}

static void save_reload(struct sensors *sn)
{
	char a[128], b[128];
	snprintf(a, sizeof(a), "%s/state-a.json", dir);
	snprintf(b, sizeof(b), "%s/state-b.json", dir);
	if (sensors_save_state(sn, a) != 0)
		return;
	struct sensors *s2 = fuzz_sensors_open(cfg);
	FUZZ_CHECK(s2 != NULL);
	FUZZ_CHECK(sensors_load_state(s2, a) == 0);
	if (sensors_save_state(s2, b) == 0) {
		size_t na = 0, nb = 0;
		char *ta = file_read_all(a, 64u << 20, &na);
		char *tb = file_read_all(b, 64u << 20, &nb);
		FUZZ_CHECK(ta && tb);
		/*
		 * Valid JSON; but identities from the wire that are not UTF-8
		 * are kept byte for byte (docs/sensors.md, "State"), so such a
		 * file need only be one cJSON reads.
		 */
		if (na && fuzz_json_check(ta, na) != 0) {
			FUZZ_CHECK(utf8_check((const uint8_t *)ta, na) == UTF8_INVALID);
			cJSON *j = cJSON_ParseWithLength(ta, na);
			FUZZ_CHECK(cJSON_IsObject(j));
			cJSON_Delete(j);
		}
		free(ta);
		free(tb);
	}
	sensors_free(s2);
	unlink(a);
	unlink(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cfg)
		setup();
	if (!cfg)
		return 0;
	input_has_secret = has_text(data, size, SHARED_SECRET) || has_text(data, size, HMAC_KEY_HEX);
	struct sensors *sn = fuzz_sensors_open(cfg);
	FUZZ_CHECK(sn != NULL);
	struct fuzz_in in = { data, size };
	bool reload = size && (data[0] & 0x80);
	struct flow flows[4];
	memset(flows, 0, sizeof(flows));
	for (int i = 0; i < 4; i++)
		flows[i].id = (uint64_t)i + 1;
	uint64_t now = 1700000000000000ull;
	struct mqtt_topic topics[8];
	for (int n = 0; n < 256 && in.n; n++) {
		uint8_t op = fuzz_u8(&in), fl = fuzz_u8(&in);
		now += (uint64_t)fuzz_be16(&in) * 20000u; /* up to ~22 min a step */
		struct mqtt_msg m;
		memset(&m, 0, sizeof(m));
		static const uint8_t types[] = { MQTT_PUBLISH, MQTT_PUBLISH, MQTT_PUBLISH, MQTT_CONNECT,
						 MQTT_SUBSCRIBE, MQTT_SUBACK, MQTT_PUBACK, MQTT_DISCONNECT };
		m.type = types[op % 8];
		m.version = (fl & 0x40) ? 5 : 4;
		m.qos = (fl >> 4) & 3;
		m.msg_id = (uint16_t)(fl & 7);
		m.has_msg_id = true;
		m.reason_code = (uint8_t)(op & 0x80 ? 0x87 : 0);
		m.has_reason_code = m.version == 5;
		char cid[96], user[64];
		struct slice scid = take_str(&in, 40), susr = take_str(&in, 20);
		struct mqtt_state st;
		memset(&st, 0, sizeof(st));
		st.client_id = cstr(scid, cid, sizeof(cid));
		st.username = (fl & 8) ? cstr(susr, user, sizeof(user)) : NULL;
		st.version = m.version;
		m.client_id = scid;
		m.username = susr;
		m.has_username = (fl & 8) != 0;
		struct slice topic = take_str(&in, 64);
		switch (m.type) {
		case MQTT_PUBLISH: {
			m.topic = topic;
			size_t want = fuzz_be16(&in) % 600, got = 0;
			m.payload.p = fuzz_take(&in, want, &got);
			m.payload.len = got;
			break;
		}
		case MQTT_SUBSCRIBE:
			m.n_topics = 1 + (fl & 3);
			for (uint32_t i = 0; i < m.n_topics; i++) {
				topics[i].name = i ? take_str(&in, 32) : topic;
				topics[i].opts = (uint8_t)(i & 3);
			}
			m.topics = topics;
			break;
		case MQTT_SUBACK:
			m.codes = take_str(&in, 4);
			break;
		default:
			break;
		}
		uint8_t src[16] = { 10, 77, 0, (uint8_t)(10 + (op >> 5)) };
		uint8_t dst[16] = { 10, 77, 0, 1 };
		uint8_t mac[6] = { 2, 0, 0, 0, 0, (uint8_t)(fl >> 5) };
		char sstr[46], dstr[46] = "10.77.0.1";
		snprintf(sstr, sizeof(sstr), "10.77.0.%u", (unsigned)src[3]);
		bool toclient = m.type == MQTT_SUBACK || m.type == MQTT_PUBACK || (fl & 0x80);
		struct det_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.kind = DET_MQTT;
		ev.ts_us = now;
		ev.family = (fl & 0x20) ? 4 : 0;
		ev.src = toclient ? dst : src;
		ev.dst = toclient ? src : dst;
		ev.src_str = toclient ? dstr : sstr;
		ev.dst_str = toclient ? sstr : dstr;
		ev.server = toclient ? DET_SERVER_SRC : DET_SERVER_DST;
		ev.flow = &flows[op & 3];
		ev.st = &st;
		ev.toclient = toclient;
		ev.msg = &m;
		ev.cli_mac = (fl & 1) ? mac : NULL;
		sensors_event(sn, &ev);
		if (fl & 2)
			sensors_tick(sn, now + 3000000u);
	}
	if (reload)
		save_reload(sn);
	sensors_free(sn);
	return 0;
}
