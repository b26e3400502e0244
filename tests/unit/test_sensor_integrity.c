/* test_sensor_integrity.c - unit tests for the integrity detector: shared secret, HMAC tail signatures, replays, the key file and state (sensor/sensor_integrity.c). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/sensor.h"
#include "sensor/sensor_telemetry.h"
#include "sensor/sensor_integrity.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define T0 1735689600u /* the testbed's default start, 2025-01-01 */

/*
 * The host's sensor_msg_json, as a test double: sensor.c is the host and
 * is not linked into this test (nothing here needs it). It parses the
 * payload with cJSON and keeps the tree until the next call.
 */
static cJSON *json_last;

const cJSON *sensor_msg_json(const struct sensor_msg *m)
{
	cJSON_Delete(json_last);
	json_last = NULL;
	if (!m->payload.p)
		return NULL;
	json_last = cJSON_ParseWithLength((const char *)m->payload.p, m->payload.len);
	return json_last;
}

/* ---- keys ---- */

/* esp32-kitchen's and nodemcu-hall's HMAC keys (32 bytes each), as hex. */
#define HEX_KITCHEN "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"
#define HEX_HALL "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"
#define HEX_OTHER "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define SHARED "s3cr3t-esp-key"
#define SECRET_PANEL "panel-only-Pa55"

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* ---- the testbed's payload format (tools/common/tb_payload.c), copied ---- */

static void hmac_hex(const char *keyhex, const void *p, size_t n, char hex[65])
{
	uint8_t key[64], mac[32];
	size_t kl = unhex(keyhex, key);
	unsigned ml = 0;
	HMAC(EVP_sha256(), key, (int)kl, p, n, mac, &ml);
	assert_int_equal(ml, 32);
	static const char dig[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = dig[mac[i] >> 4];
		hex[2 * i + 1] = dig[mac[i] & 15];
	}
	hex[64] = 0;
}

/* tb_payload_format for TB_SEC_HMAC (DHT11 shape): sign the object, then replace its "}" by the tail. */
static size_t fmt_hmac(char *out, size_t cap, const char *dev, double temp, uint64_t ctr,
		       uint64_t ts, const char *keyhex)
{
	int n = snprintf(out, cap,
			 "{\"device\":\"%s\",\"temperature\":%.1f,\"humidity\":%.0f,"
			 "\"ctr\":%llu,\"ts\":%llu}",
			 dev, temp, 41.0, (unsigned long long)ctr, (unsigned long long)ts);
	assert_true(n > 0 && (size_t)n < cap);
	char hex[65];
	hmac_hex(keyhex, out, (size_t)n, hex);
	size_t len = (size_t)n - 1;
	n = snprintf(out + len, cap - len, ",\"hmac\":\"%s\"}", hex);
	assert_true(n > 0 && (size_t)n < cap - len);
	return len + (size_t)n;
}

/* ---- a recording report sink ---- */

#define REP_MAX 64

struct rep {
	char event[32], layer[32];
	char detail[512];
	char meta[2048];
	bool has_base;
};

static struct rep reps[REP_MAX];
static unsigned n_reps;

static void rec_report(void *ud, const struct sensor_report *r)
{
	(void)ud;
	assert_true(n_reps < REP_MAX);
	struct rep *x = &reps[n_reps++];
	memset(x, 0, sizeof(*x));
	snprintf(x->event, sizeof(x->event), "%s", r->event);
	snprintf(x->layer, sizeof(x->layer), "%s", r->layer);
	snprintf(x->detail, sizeof(x->detail), "%s", r->detail ? r->detail : "");
	assert_true(r->meta_len < sizeof(x->meta));
	memcpy(x->meta, r->meta, r->meta_len);
	x->has_base = r->base != NULL;
	/* meta is the members of an object: valid JSON once braced. */
	char buf[2100];
	snprintf(buf, sizeof(buf), "{%s}", x->meta);
	cJSON *j = cJSON_Parse(buf);
	assert_non_null(j);
	cJSON_Delete(j);
}

/* A meta member of report i as text (strings unquoted, numbers %.0f); "" when absent. */
static const char *meta_get(unsigned i, const char *key)
{
	static char out[512];
	char buf[2100];
	snprintf(buf, sizeof(buf), "{%s}", reps[i].meta);
	cJSON *j = cJSON_Parse(buf);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	out[0] = 0;
	if (cJSON_IsString(v))
		snprintf(out, sizeof(out), "%s", v->valuestring);
	else if (cJSON_IsNumber(v))
		snprintf(out, sizeof(out), "%.0f", v->valuedouble);
	cJSON_Delete(j);
	return out;
}

/* ---- the log ---- */

static char *log_buf;
static size_t log_len;
static FILE *log_f;

static void log_open(void)
{
	if (log_f)
		fclose(log_f);
	log_f = NULL;
	free(log_buf);
	log_buf = NULL;
	log_len = 0;
	log_f = open_memstream(&log_buf, &log_len);
	assert_non_null(log_f);
}

static const char *log_text(void)
{
	fflush(log_f);
	return log_buf ? log_buf : "";
}

/* ---- fixtures ---- */

static char tmpdir[64];
static char keys_path[128];

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

#define KEYS_DEFAULT                                                      \
	"# test keys\n"                                                   \
	"esp32-kitchen " HEX_KITCHEN "\n"                                 \
	"nodemcu-hall  " HEX_HALL "   # the hall\n"                       \
	"* " SHARED "\n"                                                  \
	"panel " SECRET_PANEL "\n"

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_integ_XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(keys_path, sizeof(keys_path), "%s/keys", tmpdir);
	write_file(keys_path, KEYS_DEFAULT, 0600);
	n_reps = 0;
	log_open();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(keys_path);
	char p[160];
	snprintf(p, sizeof(p), "%s/other", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	fclose(log_f);
	log_f = NULL;
	free(log_buf);
	log_buf = NULL;
	cJSON_Delete(json_last);
	json_last = NULL;
	return 0;
}

/* The default policy: hmac on sensors/#, key on secure/#, nothing on public/#. */
static const char *policy_json(void)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"keys-file\":\"%s\",\"topics\":["
		 "{\"filter\":\"public/#\",\"mode\":\"none\"},"
		 "{\"filter\":\"sensors/+/+\",\"mode\":\"hmac\"},"
		 "{\"filter\":\"secure/#\",\"mode\":\"key\"}]}",
		 keys_path);
	return buf;
}

static void *det_new_cfg(const char *json)
{
	struct sensor_env env = { .report = rec_report, .log = log_f };
	cJSON *cfg = json ? cJSON_Parse(json) : NULL;
	if (json)
		assert_non_null(cfg);
	void *st = NULL;
	int rc = sensor_integrity_detector.init(&env, cfg, &st);
	cJSON_Delete(cfg);
	if (rc != 0) {
		assert_null(st);
		return NULL;
	}
	assert_non_null(st);
	return st;
}

static int det_init_rc(const char *json)
{
	void *st = det_new_cfg(json);
	if (!st)
		return -1;
	sensor_integrity_detector.free(st);
	return 0;
}

/* One PUBLISH from a client. */
struct pub {
	struct mqtt_msg mm;
	struct det_event ev;
	struct tm_result tm;
	struct sensor_msg m;
};

static void pub_make(struct pub *p, const char *topic, const char *client_id,
		     const char *device, const void *payload, size_t len, uint64_t ts_us)
{
	memset(p, 0, sizeof(*p));
	p->mm.type = MQTT_PUBLISH;
	p->mm.topic.p = (const uint8_t *)topic;
	p->mm.topic.len = strlen(topic);
	p->mm.payload.p = payload;
	p->mm.payload.len = len;
	p->ev.kind = DET_MQTT;
	p->ev.ts_us = ts_us;
	p->ev.msg = &p->mm;
	p->m.ev = &p->ev;
	p->m.m = &p->mm;
	p->m.ts_us = ts_us;
	p->m.from_client = true;
	p->m.client_id = client_id;
	p->m.username = "";
	p->m.topic = p->mm.topic;
	p->m.payload = p->mm.payload;
	if (device) {
		p->tm.entry = 0;
		snprintf(p->tm.device, sizeof(p->tm.device), "%s", device);
		p->m.tm = &p->tm;
	}
}

/* Sends payload on sensors/kitchen/<device> as the device would (telemetry names it). */
static void send_dev(void *st, const char *device, const char *payload, size_t len,
		     uint64_t ts_us)
{
	char topic[200];
	snprintf(topic, sizeof(topic), "sensors/kitchen/%s", device);
	struct pub p;
	pub_make(&p, topic, device, device, payload, len, ts_us);
	sensor_integrity_detector.on_msg(st, &p.m);
}

static void send_topic(void *st, const char *topic, const char *cid, const char *payload,
		       uint64_t ts_us)
{
	struct pub p;
	pub_make(&p, topic, cid, NULL, payload, strlen(payload), ts_us);
	sensor_integrity_detector.on_msg(st, &p.m);
}

static void expect_one(const char *event)
{
	assert_int_equal(n_reps, 1);
	assert_string_equal(reps[0].event, event);
	assert_string_equal(reps[0].layer, "integrity");
	assert_true(reps[0].has_base);
}

/* ---- HMAC mode ---- */

static void test_hmac_ok(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 17, T0, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0) + 500000);
	assert_int_equal(n_reps, 0);
	n = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 19.5, 1, T0, HEX_HALL);
	send_dev(st, "nodemcu-hall", pl, n, S(T0));
	assert_int_equal(n_reps, 0);
	struct integ_stats s;
	integ_get_stats(st, &s);
	assert_int_equal(s.checked, 2);
	assert_int_equal(s.accepted, 2);
	assert_int_equal(s.devices, 2);
	assert_int_equal(s.keys, 3); /* esp32-kitchen, nodemcu-hall, panel */
	/* The exact bytes tb_payload_format writes for this reading. */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 18, T0 + 10, HEX_KITCHEN);
	assert_memory_equal(pl, "{\"device\":\"esp32-kitchen\",\"temperature\":22.0,\"humidity\":41,"
				"\"ctr\":18,\"ts\":1735689610,\"hmac\":\"", 91);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 10));
	assert_int_equal(n_reps, 0);
	sensor_integrity_detector.free(st);
}

static void test_hmac_wrong_key(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 17, T0, HEX_OTHER);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	expect_one("hmac_wrong");
	assert_string_equal(meta_get(0, "device"), "esp32-kitchen");
	assert_string_equal(meta_get(0, "topic"), "sensors/kitchen/esp32-kitchen");
	assert_string_equal(meta_get(0, "client_id"), "esp32-kitchen");
	assert_string_equal(meta_get(0, "mode"), "hmac");
	assert_non_null(strstr(reps[0].detail, "does not verify"));
	/* Another device's (valid) key is just as wrong. */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 18, T0, HEX_HALL);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	assert_int_equal(n_reps, 2);
	assert_string_equal(reps[1].event, "hmac_wrong");
	struct integ_stats s;
	integ_get_stats(st, &s);
	assert_int_equal(s.accepted, 0);
	assert_int_equal(s.devices, 0); /* wrong signatures touch no replay state */
	sensor_integrity_detector.free(st);
}

static void test_hmac_tampered(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 17, T0, HEX_KITCHEN);
	char *t = strstr(pl, "22.0");
	assert_non_null(t);
	t[0] = '9'; /* 92.0 */
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	expect_one("hmac_wrong");
	/* One signature digit changed. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 18, T0, HEX_KITCHEN);
	pl[n - 3] = pl[n - 3] == '0' ? '1' : '0';
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	expect_one("hmac_wrong");
	/* The signature moved to another device's topic: that device's key. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 19, T0, HEX_KITCHEN);
	send_dev(st, "nodemcu-hall", pl, n, S(T0));
	expect_one("hmac_wrong");
	assert_string_equal(meta_get(0, "device"), "nodemcu-hall");
	sensor_integrity_detector.free(st);
}

static void test_hmac_missing_forms(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512], hex[65];
	const char *plain = "{\"device\":\"esp32-kitchen\",\"temperature\":22.0,\"humidity\":41}";
	send_dev(st, "esp32-kitchen", plain, strlen(plain), S(T0));
	expect_one("hmac_missing");
	assert_string_equal(meta_get(0, "reason"), "absent");
	assert_string_equal(meta_get(0, "mode"), "hmac");

	/* Truncated hex: the tail is there, two digits short. */
	n_reps = 0;
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 17, T0, HEX_KITCHEN);
	memmove(pl + n - 4, pl + n - 2, 3);
	send_dev(st, "esp32-kitchen", pl, n - 2, S(T0));
	expect_one("hmac_missing");
	assert_string_equal(meta_get(0, "reason"), "malformed");

	/* Uppercase hex is not the format (the signature text is canonical). */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 17, T0, HEX_KITCHEN);
	for (size_t i = n - 66; i < n - 2; i++)
		if (pl[i] >= 'a' && pl[i] <= 'f')
			pl[i] = (char)(pl[i] - 'a' + 'A');
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	expect_one("hmac_missing");
	assert_string_equal(meta_get(0, "reason"), "malformed");

	/* Not the last member. */
	n_reps = 0;
	const char *body = "{\"device\":\"esp32-kitchen\",\"ctr\":1,\"ts\":1735689600}";
	hmac_hex(HEX_KITCHEN, body, strlen(body), hex);
	snprintf(pl, sizeof(pl), "{\"device\":\"esp32-kitchen\",\"hmac\":\"%s\",\"ctr\":1,\"ts\":1735689600}", hex);
	send_dev(st, "esp32-kitchen", pl, strlen(pl), S(T0));
	expect_one("hmac_missing");
	assert_string_equal(meta_get(0, "reason"), "malformed");

	/* Trailing newline after the object: not the exact format. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 17, T0, HEX_KITCHEN);
	pl[n] = '\n';
	send_dev(st, "esp32-kitchen", pl, n + 1, S(T0));
	expect_one("hmac_missing");

	/* Not JSON at all, an empty payload, and binary garbage. */
	n_reps = 0;
	send_dev(st, "esp32-kitchen", "23.5", 4, S(T0));
	send_dev(st, "esp32-kitchen", "", 0, S(T0));
	send_dev(st, "esp32-kitchen", "\xff\xfe\x00\x80{", 5, S(T0));
	assert_int_equal(n_reps, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_string_equal(reps[i].event, "hmac_missing");
		assert_string_equal(meta_get(i, "reason"), "not_json");
	}
	/* A JSON array ending like a tail is no object. */
	n_reps = 0;
	snprintf(pl, sizeof(pl), "[1,\"hmac\":\"%s\"}", hex);
	send_dev(st, "esp32-kitchen", pl, strlen(pl), S(T0));
	expect_one("hmac_missing");
	sensor_integrity_detector.free(st);
}

static void test_unknown_device(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-garage", 22.0, 1, T0, HEX_KITCHEN);
	send_dev(st, "esp32-garage", pl, n, S(T0));
	expect_one("unknown_device");
	assert_string_equal(meta_get(0, "device"), "esp32-garage");
	/* "panel" has a key-mode secret but no hex key. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "panel", 22.0, 1, T0, HEX_KITCHEN);
	send_dev(st, "panel", pl, n, S(T0));
	expect_one("unknown_device");
	assert_non_null(strstr(reps[0].detail, "no HMAC (hex) key"));
	/* The shared secret's "*" is no device. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "*", 22.0, 1, T0, HEX_KITCHEN);
	send_dev(st, "*", pl, n, S(T0));
	expect_one("unknown_device");
	/* No device name at all: the empty client id. */
	n_reps = 0;
	struct pub p;
	pub_make(&p, "sensors/a/b", "", NULL, pl, n, S(T0));
	sensor_integrity_detector.on_msg(st, &p.m);
	expect_one("unknown_device");
	assert_string_equal(meta_get(0, "device"), "");
	sensor_integrity_detector.free(st);
}

/* ---- replays ---- */

static void test_replay_counter(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 5, T0 + 20, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 20));
	assert_int_equal(n_reps, 0);
	/* An older, genuinely signed reading: lower counter, older time. */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 21.0, 4, T0 + 10, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 25));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "counter");
	assert_string_equal(meta_get(0, "counter"), "4");
	assert_string_equal(meta_get(0, "last_counter"), "5");
	assert_string_equal(meta_get(0, "ts"), "1735689610");
	assert_string_equal(meta_get(0, "last_ts"), "1735689620");
	assert_string_equal(meta_get(0, "device"), "esp32-kitchen");
	/* Same counter, same time, different reading. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 23.0, 5, T0 + 20, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 26));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "counter");
	/* Replays changed nothing: the next genuine reading passes. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 6, T0 + 20, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 27));
	assert_int_equal(n_reps, 0);
	/* Other devices keep their own counters. */
	n = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 22.0, 1, T0, HEX_HALL);
	send_dev(st, "nodemcu-hall", pl, n, S(T0 + 27));
	assert_int_equal(n_reps, 0);
	sensor_integrity_detector.free(st);
}

static void test_replay_duplicate(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 7, T0, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	assert_int_equal(n_reps, 0);
	/* tb_attack's replay: the captured bytes again, from another client. */
	struct pub p;
	pub_make(&p, "sensors/kitchen/esp32-kitchen", "mqtt-spy-3c9e", "esp32-kitchen", pl, n,
		 S(T0 + 3));
	sensor_integrity_detector.on_msg(st, &p.m);
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "duplicate");
	assert_string_equal(meta_get(0, "client_id"), "mqtt-spy-3c9e");
	assert_string_equal(meta_get(0, "counter"), "7");
	assert_string_equal(meta_get(0, "last_counter"), "7");
	/* A QoS 1 retransmission (DUP) of the last accepted message is not one. */
	n_reps = 0;
	pub_make(&p, "sensors/kitchen/esp32-kitchen", "esp32-kitchen", "esp32-kitchen", pl, n,
		 S(T0 + 4));
	p.mm.dup = true;
	p.mm.qos = 1;
	sensor_integrity_detector.on_msg(st, &p.m);
	assert_int_equal(n_reps, 0);
	/* But an older one with DUP set still is. */
	char old[512];
	size_t on = n;
	memcpy(old, pl, n);
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 8, T0 + 5, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 5));
	assert_int_equal(n_reps, 0);
	pub_make(&p, "sensors/kitchen/esp32-kitchen", "x", "esp32-kitchen", old, on, S(T0 + 6));
	p.mm.dup = true;
	p.mm.qos = 1;
	sensor_integrity_detector.on_msg(st, &p.m);
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "duplicate");
	sensor_integrity_detector.free(st);
}

static void test_reboot_accepted(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 100, T0, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	/* The device restarts: counter from 1, time moved on. */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, T0 + 10, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 10));
	/* Two readings within the same second: the counter carries it. */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.1, 2, T0 + 10, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 10));
	assert_int_equal(n_reps, 0);
	/* ...and a pre-reboot reading replayed later is caught by its time. */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, T0 + 5, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 11));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "counter");
	assert_string_equal(meta_get(0, "last_counter"), "2");
	assert_string_equal(meta_get(0, "last_ts"), "1735689610");
	struct integ_stats s;
	integ_get_stats(st, &s);
	assert_int_equal(s.accepted, 3);
	sensor_integrity_detector.free(st);
}

static void test_stale_and_future(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	uint64_t now = T0 + 1000;
	/* Exactly max-skew (300 s) old is still fine, one second more is not. */
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, now - 300, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(now) + 999999);
	assert_int_equal(n_reps, 0);
	n = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 22.0, 1, now - 301, HEX_HALL);
	send_dev(st, "nodemcu-hall", pl, n, S(now));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "stale");
	assert_string_equal(meta_get(0, "ts"), "1735690299");
	assert_string_equal(meta_get(0, "now"), "1735690600");
	assert_string_equal(meta_get(0, "max_skew"), "300");
	assert_string_equal(meta_get(0, "last_ts"), ""); /* no state for the hall yet */
	/* The future. */
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 22.0, 2, now + 301, HEX_HALL);
	send_dev(st, "nodemcu-hall", pl, n, S(now));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "future");
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 22.0, 3, now + 300, HEX_HALL);
	send_dev(st, "nodemcu-hall", pl, n, S(now));
	assert_int_equal(n_reps, 0);
	sensor_integrity_detector.free(st);

	/* max-skew 0 turns the time checks off; per-topic max-skew overrides. */
	char cfg[1024];
	snprintf(cfg, sizeof(cfg),
		 "{\"keys-file\":\"%s\",\"max-skew\":\"0\",\"topics\":["
		 "{\"filter\":\"sensors/kitchen/#\",\"mode\":\"hmac\",\"max-skew\":\"10s\"},"
		 "{\"filter\":\"sensors/#\",\"mode\":\"hmac\"}]}",
		 keys_path);
	st = det_new_cfg(cfg);
	assert_non_null(st);
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, now - 11, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(now));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "stale");
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 22.0, 1, 5, HEX_HALL);
	struct pub p;
	pub_make(&p, "sensors/hall/nodemcu-hall", "nodemcu-hall", "nodemcu-hall", pl, n, S(now));
	sensor_integrity_detector.on_msg(st, &p.m);
	assert_int_equal(n_reps, 0);
	sensor_integrity_detector.free(st);
}

static void test_odd_counters(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char body[512], pl[600], hex[65];
	/* Signed, but ctr and ts are not whole numbers: only duplicates are caught. */
	const char *bodies[] = {
		"{\"device\":\"esp32-kitchen\",\"ctr\":-1,\"ts\":\"1735689600\"}",
		"{\"device\":\"esp32-kitchen\",\"ctr\":1.5,\"ts\":1e300}",
		"{\"device\":\"esp32-kitchen\",\"ctr\":9007199254740993000,\"ts\":null}",
		"{\"device\":\"esp32-kitchen\"}",
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(body, sizeof(body), "%s", bodies[i]);
		hmac_hex(HEX_KITCHEN, body, strlen(body), hex);
		size_t bl = strlen(body) - 1;
		snprintf(pl, sizeof(pl), "%.*s,\"hmac\":\"%s\"}", (int)bl, body, hex);
		send_dev(st, "esp32-kitchen", pl, strlen(pl), S(T0));
		assert_int_equal(n_reps, 0);
	}
	send_dev(st, "esp32-kitchen", pl, strlen(pl), S(T0));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "duplicate");
	assert_string_equal(meta_get(0, "counter"), "");
	sensor_integrity_detector.free(st);
}

/* ---- key mode ---- */

static void test_key_mode(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	send_topic(st, "secure/a", "esp32-x", "{\"temperature\":22.0,\"key\":\"" SHARED "\"}", S(T0));
	assert_int_equal(n_reps, 0);
	send_topic(st, "secure/a", "esp32-x", "{\"temperature\":22.0}", S(T0));
	expect_one("key_missing");
	assert_string_equal(meta_get(0, "mode"), "key");
	assert_string_equal(meta_get(0, "device"), "esp32-x");
	assert_string_equal(meta_get(0, "topic"), "secure/a");
	n_reps = 0;
	send_topic(st, "secure/a", "esp32-x", "not json", S(T0));
	expect_one("key_missing");
	n_reps = 0;
	const char *wrong[] = {
		"{\"key\":\"s3cr3t-esp-kez\"}", "{\"key\":\"s3cr3t-esp-ke\"}",
		"{\"key\":\"s3cr3t-esp-key \"}", "{\"key\":\"\"}", "{\"key\":14}",
		"{\"key\":null}", "{\"key\":[\"" SHARED "\"]}",
		"{\"key\":\"" SHARED SHARED SHARED SHARED SHARED SHARED SHARED SHARED SHARED SHARED "\"}",
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		send_topic(st, "secure/b", "esp32-x", wrong[i], S(T0));
	assert_int_equal(n_reps, sizeof(wrong) / sizeof(wrong[0]));
	for (unsigned i = 0; i < n_reps; i++)
		assert_string_equal(reps[i].event, "key_wrong");
	/* "panel" has its own secret, which overrides the shared one. */
	n_reps = 0;
	send_topic(st, "secure/p", "panel", "{\"key\":\"" SECRET_PANEL "\"}", S(T0));
	assert_int_equal(n_reps, 0);
	send_topic(st, "secure/p", "panel", "{\"key\":\"" SHARED "\"}", S(T0));
	expect_one("key_wrong");
	assert_non_null(strstr(reps[0].detail, "device's secret"));
	/* A device with an HMAC key: its hex text is its key-mode secret. */
	n_reps = 0;
	send_topic(st, "secure/k", "esp32-kitchen", "{\"key\":\"" HEX_KITCHEN "\"}", S(T0));
	assert_int_equal(n_reps, 0);
	/* A custom key-field. */
	sensor_integrity_detector.free(st);
	char cfg[600];
	snprintf(cfg, sizeof(cfg),
		 "{\"keys-file\":\"%s\",\"topics\":{\"filter\":\"#\",\"mode\":\"key\","
		 "\"key-field\":\"auth\",\"device-from\":\"client-id\"}}",
		 keys_path);
	st = det_new_cfg(cfg);
	assert_non_null(st);
	send_topic(st, "x", "d", "{\"auth\":\"" SHARED "\"}", S(T0));
	send_topic(st, "$SYS/x", "d", "{}", S(T0)); /* '#' does not match $ topics */
	assert_int_equal(n_reps, 0);
	send_topic(st, "x", "d", "{\"key\":\"" SHARED "\"}", S(T0));
	expect_one("key_missing");
	sensor_integrity_detector.free(st);
}

static void test_key_mode_no_secret(void **state)
{
	(void)state;
	write_file(keys_path, "panel " SECRET_PANEL "\n", 0600);
	char cfg[600];
	snprintf(cfg, sizeof(cfg),
		 "{\"keys-file\":\"%s\",\"topics\":[{\"filter\":\"secure/#\",\"mode\":\"key\"}]}",
		 keys_path);
	void *st = det_new_cfg(cfg);
	assert_non_null(st);
	send_topic(st, "secure/a", "esp32-x", "{\"key\":\"" SECRET_PANEL "\"}", S(T0));
	expect_one("unknown_device");
	assert_string_equal(meta_get(0, "mode"), "key");
	sensor_integrity_detector.free(st);
}

/* ---- policy ---- */

static void test_policy_scope(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	/* public/#: mode none; other topics: no entry. */
	send_topic(st, "public/x", "guest", "{}", S(T0));
	send_topic(st, "other/y", "guest", "{}", S(T0));
	/* From the broker (delivery to a subscriber): not checked. */
	struct pub p;
	pub_make(&p, "sensors/kitchen/esp32-kitchen", "dashboard", "esp32-kitchen", "{}", 2, S(T0));
	p.m.from_client = false;
	sensor_integrity_detector.on_msg(st, &p.m);
	/* Not a PUBLISH. */
	pub_make(&p, "sensors/kitchen/esp32-kitchen", "x", NULL, "{}", 2, S(T0));
	p.mm.type = MQTT_SUBSCRIBE;
	sensor_integrity_detector.on_msg(st, &p.m);
	/* Too deep for sensors/+/+. */
	send_topic(st, "sensors/a/b/c", "x", "{}", S(T0));
	assert_int_equal(n_reps, 0);
	struct integ_stats s;
	integ_get_stats(st, &s);
	assert_int_equal(s.checked, 0);
	/* The first matching entry wins: public/# before a later sensors catch-all. */
	sensor_integrity_detector.free(st);
	char cfg[600];
	snprintf(cfg, sizeof(cfg),
		 "{\"keys-file\":\"%s\",\"topics\":[{\"filter\":\"sensors/lab/#\",\"mode\":\"none\"},"
		 "{\"filter\":\"sensors/#\",\"mode\":\"hmac\"}]}",
		 keys_path);
	st = det_new_cfg(cfg);
	send_topic(st, "sensors/lab/x", "x", "{}", S(T0));
	assert_int_equal(n_reps, 0);
	send_topic(st, "sensors/hall/x", "x", "{}", S(T0));
	expect_one("hmac_missing");
	sensor_integrity_detector.free(st);
}

static void test_device_naming(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, T0, HEX_KITCHEN);
	/* Without the telemetry's device name, the client id names it. */
	struct pub p;
	pub_make(&p, "sensors/x/y", "esp32-kitchen", NULL, pl, n, S(T0));
	sensor_integrity_detector.on_msg(st, &p.m);
	assert_int_equal(n_reps, 0);
	/* Telemetry named no device (""): the client id again. */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 2, T0, HEX_KITCHEN);
	pub_make(&p, "sensors/x/y", "esp32-kitchen", "", pl, n, S(T0));
	sensor_integrity_detector.on_msg(st, &p.m);
	assert_int_equal(n_reps, 0);
	sensor_integrity_detector.free(st);
	/* device-from: client-id ignores the telemetry's name. */
	char cfg[600];
	snprintf(cfg, sizeof(cfg),
		 "{\"keys-file\":\"%s\",\"device-from\":\"client-id\",\"topics\":[{\"filter\":\"sensors/#\",\"mode\":\"hmac\"}]}",
		 keys_path);
	st = det_new_cfg(cfg);
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, T0, HEX_KITCHEN);
	pub_make(&p, "sensors/kitchen/esp32-kitchen", "mqtt-spy", "esp32-kitchen", pl, n, S(T0));
	sensor_integrity_detector.on_msg(st, &p.m);
	expect_one("unknown_device");
	assert_string_equal(meta_get(0, "device"), "mqtt-spy");
	sensor_integrity_detector.free(st);
}

static void test_hostile_names(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	/* Non-UTF-8, quotes and control bytes in topic and client id; long topic. */
	char topic[700];
	memcpy(topic, "sensors/\xff\"\x01\n/", 13);
	memset(topic + 13, 'z', 600);
	topic[613] = 0;
	struct pub p;
	pub_make(&p, topic, "\xc3\x28\"\\\x7f", NULL, "{}", 2, S(T0));
	sensor_integrity_detector.on_msg(st, &p.m);
	expect_one("hmac_missing");
	assert_string_equal(meta_get(0, "client_id"), "\\xC3(\"\\\\x7F");
	assert_null(strchr(reps[0].detail, '\n'));
	for (const char *c = reps[0].detail; *c; c++)
		assert_true(*c >= 0x20 && *c < 0x7f);
	assert_true(strlen(meta_get(0, "topic")) < 400); /* cut to a budget */
	/* A topic given with a NULL slice. */
	n_reps = 0;
	pub_make(&p, "", "c", NULL, "{}", 2, S(T0));
	p.m.topic.p = NULL;
	sensor_integrity_detector.on_msg(st, &p.m);
	assert_int_equal(n_reps, 0);
	/* A large payload: checked without trouble. */
	size_t big = 200000;
	char *pl = malloc(big + 100);
	assert_non_null(pl);
	pl[0] = '{';
	memset(pl + 1, ' ', big);
	size_t n = 1 + big;
	n += (size_t)snprintf(pl + n, 100, "\"ctr\":1,\"ts\":%u}", T0);
	char hex[65];
	hmac_hex(HEX_KITCHEN, pl, n, hex);
	n--;
	n += (size_t)snprintf(pl + n, 100, ",\"hmac\":\"%s\"}", hex);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	assert_int_equal(n_reps, 0);
	free(pl);
	sensor_integrity_detector.free(st);
}

/* ---- configuration and the key file ---- */

static void test_config_errors(void **state)
{
	(void)state;
	char cfg[600];
	assert_int_equal(det_init_rc(NULL), 0);
	assert_int_equal(det_init_rc("{}"), 0);
	/* A mode needs a keys file. */
	assert_int_equal(det_init_rc("{\"topics\":[{\"filter\":\"a\",\"mode\":\"hmac\"}]}"), -1);
	assert_non_null(strstr(log_text(), "no keys-file"));
	assert_int_equal(det_init_rc("{\"topics\":[{\"filter\":\"a\",\"mode\":\"key\"}]}"), -1);
	/* mode none needs none. */
	assert_int_equal(det_init_rc("{\"topics\":[{\"filter\":\"a\",\"mode\":\"none\"}]}"), 0);
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"topics\":[{\"filter\":\"a\",\"mode\":\"sha1\"}]}", keys_path);
	assert_int_equal(det_init_rc(cfg), -1);
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"topics\":[{\"mode\":\"hmac\"}]}", keys_path);
	assert_int_equal(det_init_rc(cfg), -1);
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"topics\":[{\"filter\":\"a\",\"mode\":\"hmac\",\"hmac-field\":\"a\\\"b\"}]}", keys_path);
	assert_int_equal(det_init_rc(cfg), -1);
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"max-devices\":\"0\"}", keys_path);
	assert_int_equal(det_init_rc(cfg), -1);
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"max-keys\":\"lots\"}", keys_path);
	assert_int_equal(det_init_rc(cfg), -1);
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"device-from\":\"mac\"}", keys_path);
	assert_int_equal(det_init_rc(cfg), -1);
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"max-skew\":\"-5\"}", keys_path);
	assert_int_equal(det_init_rc(cfg), -1);
	assert_int_equal(det_init_rc("{\"keys-file\":\"/nonexistent/keys\"}"), -1);
	assert_non_null(strstr(log_text(), "/nonexistent/keys: cannot open"));
	assert_int_equal(det_init_rc("[1]"), -1);
	/* Unknown keys are reported, not fatal. */
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"topcis\":[]}", keys_path);
	assert_int_equal(det_init_rc(cfg), 0);
	assert_non_null(strstr(log_text(), "topcis: unknown key"));
}

static void test_key_file_permissions(void **state)
{
	(void)state;
	char cfg[600];
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\",\"topics\":[{\"filter\":\"s/#\",\"mode\":\"hmac\"}]}", keys_path);
	static const mode_t bad[] = { 0644, 0640, 0604, 0620, 0602, 0610, 0660, 0666 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		log_open();
		assert_int_equal(chmod(keys_path, bad[i]), 0);
		assert_int_equal(det_init_rc(cfg), -1);
		char want[300];
		snprintf(want, sizeof(want), "%s: permissions %04o are too open", keys_path,
			 (unsigned)bad[i]);
		assert_non_null(strstr(log_text(), want));
		snprintf(want, sizeof(want), "fix with: chmod 600 %s", keys_path);
		assert_non_null(strstr(log_text(), want));
	}
	assert_int_equal(chmod(keys_path, 0600), 0);
	assert_int_equal(det_init_rc(cfg), 0);
	assert_int_equal(chmod(keys_path, 0400), 0);
	assert_int_equal(det_init_rc(cfg), 0);
	/* A directory is no key file. */
	snprintf(cfg, sizeof(cfg), "{\"keys-file\":\"%s\"}", tmpdir);
	chmod(tmpdir, 0700);
	assert_int_equal(det_init_rc(cfg), -1);
	assert_non_null(strstr(log_text(), "not a regular file"));
}

static void test_key_file_bad_lines(void **state)
{
	(void)state;
	char text[4096];
	char longname[200], longkey[200];
	memset(longname, 'n', 129);
	longname[129] = 0;
	memset(longkey, 'a', 130);
	longkey[130] = 0;
	snprintf(text, sizeof(text),
		 "# comment\n"                            /* 1 */
		 "\n"                                     /* 2 */
		 "lonely\n"                               /* 3 */
		 "esp32-kitchen " HEX_KITCHEN " extra\n"  /* 4 */
		 "%s 00ff\n"                              /* 5 */
		 "dev %s\n"                               /* 6 */
		 "dev\x01x 00ff\n"                        /* 7 */
		 "nodemcu-hall " HEX_HALL "\r\n"          /* 8: CRLF is fine */
		 "nodemcu-hall " HEX_OTHER "\n"           /* 9: duplicate */
		 "* one\n"                                /* 10 */
		 "* two\n"                                /* 11: duplicate */
		 "   esp32-kitchen\t" HEX_KITCHEN "  # ok\n" /* 12 */
		 "odd abc\n"                              /* 13: fine in key mode */
		 "nul ab",                                /* 14 + NUL below */
		 longname, longkey);
	size_t n = strlen(text);
	memcpy(text + n, "\0cd\nlast 0a0b", 13); /* line 14 has a NUL; 15 ends without '\n' */
	n += 13;
	struct integ_keys k;
	assert_int_equal(integ_keys_init(&k, 16), 0);
	log_open();
	uint32_t problems = integ_keys_parse(&k, text, n, "etc/keys", false, log_f);
	const char *want =
		"etc/keys:3: expected \"<device> <key>\" or \"* <shared secret>\"; skipped\n"
		"etc/keys:4: extra text after the key (a comment starts with #); skipped\n"
		"etc/keys:5: device name longer than 128 bytes; skipped\n"
		"etc/keys:6: key longer than 128 bytes; skipped\n"
		"etc/keys:7: line contains a control character; skipped\n"
		"etc/keys:9: the device already has a key at line 8; skipped\n"
		"etc/keys:11: the shared secret is already set at line 10; skipped\n"
		"etc/keys:14: line contains a NUL byte; skipped\n";
	assert_string_equal(log_text(), want);
	assert_int_equal(problems, 8);
	assert_int_equal(k.n, 4); /* esp32-kitchen, last, nodemcu-hall, odd */
	const struct integ_key *e = integ_keys_find(&k, "nodemcu-hall");
	assert_non_null(e);
	assert_int_equal(e->line, 8);
	assert_true(e->has_hmac);
	assert_int_equal(e->hmac_len, 32);
	assert_int_equal(e->hmac[0], 0xa5);
	e = integ_keys_find(&k, "esp32-kitchen");
	assert_non_null(e);
	assert_int_equal(e->line, 12);
	e = integ_keys_find(&k, "odd");
	assert_non_null(e);
	assert_false(e->has_hmac);
	e = integ_keys_find(&k, "last");
	assert_non_null(e);
	assert_int_equal(e->hmac_len, 2);
	assert_true(k.has_shared);
	assert_int_equal(k.shared.secret_len, 3);
	assert_memory_equal(k.shared.secret, "one", 3);
	assert_null(integ_keys_find(&k, "lonely"));
	assert_null(integ_keys_find(&k, "*"));
	integ_keys_deinit(&k);

	/* With no key-mode topic, a device token must be a hex key. */
	assert_int_equal(integ_keys_init(&k, 2), 0);
	log_open();
	const char *t2 = "a 0g\nb abc\nc 00\nd 01\ne 02\n* x\n";
	assert_int_equal(integ_keys_parse(&k, t2, strlen(t2), "k", true, log_f), 3);
	assert_string_equal(log_text(),
			    "k:1: the HMAC key is not an even number of hex digits (2 to 128); skipped\n"
			    "k:2: the HMAC key is not an even number of hex digits (2 to 128); skipped\n"
			    "k:5: more than max-keys (2) keys; skipped\n");
	assert_int_equal(k.n, 2);
	assert_true(k.has_shared);
	integ_keys_deinit(&k);

	/* Floods of bad lines: 50 shown, then a count. */
	char *flood = malloc(60 * 3);
	assert_non_null(flood);
	for (int i = 0; i < 60; i++)
		memcpy(flood + 3 * i, "xx\n", 3);
	assert_int_equal(integ_keys_init(&k, 2), 0);
	log_open();
	assert_int_equal(integ_keys_parse(&k, flood, 180, "k", false, log_f), 60);
	const char *lt = log_text();
	unsigned lines = 0;
	for (const char *c = lt; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 51);
	assert_non_null(strstr(lt, "k:50: expected"));
	assert_null(strstr(lt, "k:51:"));
	assert_non_null(strstr(lt, "k: 10 more problems not shown\n"));
	integ_keys_deinit(&k);
	free(flood);

	/* The detector goes on with the good lines of a file. */
	write_file(keys_path, text, 0600);
	FILE *f = fopen(keys_path, "w");
	assert_non_null(f);
	fwrite(text, 1, n, f);
	fclose(f);
	log_open();
	void *st = det_new_cfg(policy_json());
	assert_non_null(st);
	char path_line[200];
	snprintf(path_line, sizeof(path_line), "%s:9: the device already has a key at line 8", keys_path);
	assert_non_null(strstr(log_text(), path_line));
	char pl[512];
	size_t pn = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 22.0, 1, T0, HEX_HALL);
	send_dev(st, "nodemcu-hall", pl, pn, S(T0));
	assert_int_equal(n_reps, 0);
	send_topic(st, "secure/a", "q", "{\"key\":\"one\"}", S(T0));
	assert_int_equal(n_reps, 0);
	sensor_integrity_detector.free(st);
}

/* ---- secrets stay secret ---- */

static bool contains(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(hay + i, needle, k))
			return true;
	return false;
}

static void assert_no_secret(const char *text, size_t n, const char *const *secrets, size_t ns)
{
	for (size_t i = 0; i < ns; i++)
		if (contains(text, n, secrets[i])) {
			fprintf(stderr, "secret %s found in: %.*s\n", secrets[i], (int)n, text);
			fail();
		}
}

static void test_no_key_material(void **state)
{
	(void)state;
	/* A key file with bad lines that are keys (a key whose name got lost). */
	write_file(keys_path,
		   KEYS_DEFAULT HEX_OTHER "\n" "dup " HEX_OTHER " trailing-" SHARED "\n"
		   "esp32-kitchen " HEX_OTHER "\n",
		   0600);
	log_open();
	void *st = det_new_cfg(policy_json());
	assert_non_null(st);
	char pl[512], sig[65];
	size_t n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, T0, HEX_KITCHEN);
	memcpy(sig, pl + n - 66, 64);
	sig[64] = 0;
	/* Every kind of report. */
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	send_dev(st, "esp32-kitchen", pl, n, S(T0 + 1));               /* replay */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 2, T0, HEX_HALL);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));                   /* hmac_wrong */
	send_dev(st, "esp32-kitchen", "{}", 2, S(T0));                 /* hmac_missing */
	send_dev(st, "nobody", pl, n, S(T0));                          /* unknown_device */
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 3, T0 - 1000, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));                   /* stale */
	send_topic(st, "secure/a", "x", "{}", S(T0));                  /* key_missing */
	send_topic(st, "secure/a", "x", "{\"key\":\"s3cr3t\"}", S(T0)); /* key_wrong */
	send_topic(st, "secure/a", "panel", "{\"key\":\"" SHARED "\"}", S(T0));
	assert_int_equal(n_reps, 8);
	const char *secrets[] = { HEX_KITCHEN, HEX_HALL, HEX_OTHER, SHARED, SECRET_PANEL, sig,
				  "00112233", "a5a5a5a5", "5a5a5a5a" };
	const size_t ns = sizeof(secrets) / sizeof(secrets[0]);
	for (unsigned i = 0; i < n_reps; i++) {
		assert_no_secret(reps[i].detail, strlen(reps[i].detail), secrets, ns);
		assert_no_secret(reps[i].meta, strlen(reps[i].meta), secrets, ns);
	}
	const char *lt = log_text();
	assert_no_secret(lt, strlen(lt), secrets, ns);
	assert_non_null(strstr(lt, ":6: expected")); /* the nameless key was reported */
	cJSON *saved = sensor_integrity_detector.save(st);
	assert_non_null(saved);
	char *txt = cJSON_PrintUnformatted(saved);
	assert_no_secret(txt, strlen(txt), secrets, ns);
	free(txt);
	cJSON_Delete(saved);
	sensor_integrity_detector.free(st);
}

/* ---- state ---- */

static void test_save_load(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	char a[512], b[512];
	size_t an = fmt_hmac(a, sizeof(a), "esp32-kitchen", 22.0, 40, T0 + 100, HEX_KITCHEN);
	size_t bn = fmt_hmac(b, sizeof(b), "nodemcu-hall", 22.0, 7, T0 + 90, HEX_HALL);
	send_dev(st, "esp32-kitchen", a, an, S(T0 + 100));
	send_dev(st, "nodemcu-hall", b, bn, S(T0 + 100));
	assert_int_equal(n_reps, 0);
	cJSON *saved = sensor_integrity_detector.save(st);
	assert_non_null(saved);
	char *txt = cJSON_PrintUnformatted(saved);
	assert_string_equal(txt, "{\"devices\":[{\"device\":\"esp32-kitchen\",\"ctr\":40,\"ts\":1735689700},"
				 "{\"device\":\"nodemcu-hall\",\"ctr\":7,\"ts\":1735689690}]}");
	free(txt);
	sensor_integrity_detector.free(st);

	/* A restart: the old readings are replays even though the bytes were not kept. */
	st = det_new_cfg(policy_json());
	sensor_integrity_detector.load(st, saved);
	cJSON_Delete(saved);
	struct integ_stats s;
	integ_get_stats(st, &s);
	assert_int_equal(s.devices, 2);
	assert_int_equal(s.load_skipped, 0);
	send_dev(st, "esp32-kitchen", a, an, S(T0 + 200));
	expect_one("replay");
	assert_string_equal(meta_get(0, "reason"), "counter");
	assert_string_equal(meta_get(0, "last_counter"), "40");
	n_reps = 0;
	bn = fmt_hmac(b, sizeof(b), "nodemcu-hall", 22.0, 8, T0 + 90, HEX_HALL);
	send_dev(st, "nodemcu-hall", b, bn, S(T0 + 200));
	assert_int_equal(n_reps, 0);
	/* Saved again: the LRU order (least recent first) survives. */
	saved = sensor_integrity_detector.save(st);
	txt = cJSON_PrintUnformatted(saved);
	assert_string_equal(txt, "{\"devices\":[{\"device\":\"esp32-kitchen\",\"ctr\":40,\"ts\":1735689700},"
				 "{\"device\":\"nodemcu-hall\",\"ctr\":8,\"ts\":1735689690}]}");
	free(txt);
	cJSON_Delete(saved);
	sensor_integrity_detector.free(st);

	/* Nothing to save. */
	st = det_new_cfg(policy_json());
	assert_null(sensor_integrity_detector.save(st));
	sensor_integrity_detector.free(st);
}

static void test_load_garbage(void **state)
{
	(void)state;
	void *st = det_new_cfg(policy_json());
	const char *bad[] = {
		"[]", "7", "\"x\"", "{}", "{\"devices\":{}}", "{\"devices\":\"a\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *j = cJSON_Parse(bad[i]);
		assert_non_null(j);
		sensor_integrity_detector.load(st, j);
		cJSON_Delete(j);
	}
	sensor_integrity_detector.load(st, NULL);
	char big[400];
	memset(big, 'e', 300);
	big[300] = 0;
	char entries[2000];
	snprintf(entries, sizeof(entries),
		 "{\"devices\":[1,null,[],{},{\"device\":7,\"ctr\":1},"
		 "{\"device\":\"\",\"ctr\":1},{\"device\":\"%s\",\"ctr\":1},"
		 "{\"device\":\"esp32-kitchen\",\"ctr\":-1},"
		 "{\"device\":\"esp32-kitchen\",\"ctr\":1.5},"
		 "{\"device\":\"esp32-kitchen\",\"ctr\":\"9\"},"
		 "{\"device\":\"esp32-kitchen\",\"ts\":1e300},"
		 "{\"device\":\"esp32-kitchen\"},"
		 "{\"device\":\"stranger\",\"ctr\":1,\"ts\":1},"
		 "{\"device\":\"panel\",\"ctr\":1,\"ts\":1},"
		 "{\"device\":\"nodemcu-hall\",\"ctr\":5,\"ts\":1735689600,\"extra\":{}}]}",
		 big);
	cJSON *j = cJSON_Parse(entries);
	assert_non_null(j);
	/* A NaN and an infinity cannot come from text, but can from a caller. */
	cJSON *arr = cJSON_GetObjectItem(j, "devices");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "device", "esp32-kitchen");
	cJSON_AddNumberToObject(o, "ctr", NAN);
	cJSON_AddItemToArray(arr, o);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "device", "esp32-kitchen");
	cJSON_AddNumberToObject(o, "ts", INFINITY);
	cJSON_AddItemToArray(arr, o);
	sensor_integrity_detector.load(st, j);
	cJSON_Delete(j);
	struct integ_stats s;
	integ_get_stats(st, &s);
	assert_int_equal(s.devices, 1); /* only nodemcu-hall */
	assert_int_equal(s.load_skipped, 6 + 16);
	assert_non_null(strstr(log_text(), "integrity state: device entry 1 ignored"));
	assert_non_null(strstr(log_text(), "more entries ignored"));
	/* Works on: the hall's loaded counter holds, the kitchen starts afresh. */
	char pl[512];
	size_t n = fmt_hmac(pl, sizeof(pl), "nodemcu-hall", 22.0, 5, T0, HEX_HALL);
	send_dev(st, "nodemcu-hall", pl, n, S(T0));
	expect_one("replay");
	n_reps = 0;
	n = fmt_hmac(pl, sizeof(pl), "esp32-kitchen", 22.0, 1, T0, HEX_KITCHEN);
	send_dev(st, "esp32-kitchen", pl, n, S(T0));
	assert_int_equal(n_reps, 0);
	sensor_integrity_detector.free(st);
}

static void test_table_eviction(void **state)
{
	(void)state;
	write_file(keys_path,
		   "d1 0101\nd2 0202\nd3 0303\n", 0600);
	char cfg[600];
	snprintf(cfg, sizeof(cfg),
		 "{\"keys-file\":\"%s\",\"max-devices\":\"2\",\"topics\":[{\"filter\":\"sensors/#\",\"mode\":\"hmac\"}]}",
		 keys_path);
	void *st = det_new_cfg(cfg);
	assert_non_null(st);
	char m1[512], m2[512], m3[512];
	size_t n1 = fmt_hmac(m1, sizeof(m1), "d1", 20.0, 10, T0, "0101");
	size_t n2 = fmt_hmac(m2, sizeof(m2), "d2", 20.0, 10, T0, "0202");
	size_t n3 = fmt_hmac(m3, sizeof(m3), "d3", 20.0, 10, T0, "0303");
	send_dev(st, "d1", m1, n1, S(T0));
	send_dev(st, "d2", m2, n2, S(T0));
	send_dev(st, "d1", m1, n1, S(T0)); /* replay: d1 is now the most recent... */
	expect_one("replay");
	struct integ_stats s;
	integ_get_stats(st, &s);
	assert_int_equal(s.devices, 2);
	assert_int_equal(s.evictions, 0);
	/* ...but a replay does not refresh it: d1 was last accepted before d2. */
	send_dev(st, "d3", m3, n3, S(T0));
	integ_get_stats(st, &s);
	assert_int_equal(s.devices, 2);
	assert_int_equal(s.evictions, 1);
	/* d2 and d3 are remembered, d1 was forgotten: its replay passes (documented). */
	n_reps = 0;
	send_dev(st, "d2", m2, n2, S(T0));
	send_dev(st, "d3", m3, n3, S(T0));
	assert_int_equal(n_reps, 2);
	assert_string_equal(reps[0].event, "replay");
	assert_string_equal(reps[1].event, "replay");
	n_reps = 0;
	send_dev(st, "d1", m1, n1, S(T0));
	assert_int_equal(n_reps, 0);
	integ_get_stats(st, &s);
	assert_int_equal(s.evictions, 2); /* d1 took d2's slot */
	cJSON *saved = sensor_integrity_detector.save(st);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(saved, "devices")), 2);
	/* Loading more than fits keeps the most recent. */
	void *st2 = det_new_cfg(cfg);
	cJSON *extra = cJSON_CreateObject();
	cJSON_AddStringToObject(extra, "device", "d2");
	cJSON_AddNumberToObject(extra, "ctr", 99);
	cJSON_AddItemToArray(cJSON_GetObjectItem(saved, "devices"), extra);
	sensor_integrity_detector.load(st2, saved);
	integ_get_stats(st2, &s);
	assert_int_equal(s.devices, 2);
	assert_int_equal(s.evictions, 1);
	cJSON_Delete(saved);
	saved = sensor_integrity_detector.save(st2);
	char *txt = cJSON_PrintUnformatted(saved);
	assert_string_equal(txt, "{\"devices\":[{\"device\":\"d1\",\"ctr\":10,\"ts\":1735689600},"
				 "{\"device\":\"d2\",\"ctr\":99}]}");
	free(txt);
	cJSON_Delete(saved);
	sensor_integrity_detector.free(st2);
	sensor_integrity_detector.free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hmac_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmac_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmac_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmac_missing_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reboot_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_future, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_mode_no_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_naming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_key_material, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_eviction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
