/* test_pcap_replay.c - hard captures at the packet level: one conversation, many pcap shapes, one EVE output. */

/*
 * One MQTT conversation is written as pcap files in many shapes (split,
 * reordered, duplicated and overlapping segments, midstream, IPv6, VLAN,
 * IP fragments, several link types) and run through capture_file and the
 * engine; the EVE records, less what legitimately differs (timestamp,
 * pcap_cnt, flow_id, vlan, addresses), must equal the plain capture's.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "engine/engine.h"
#include "mqtt_build.h"
#include "pcap_build.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define TPID_8021Q 0x8100
#define TPID_8021AD 0x88a8

static const struct ep cli4 = { 4, { 10, 0, 0, 1 }, 40000 };
static const struct ep srv4 = { 4, { 10, 0, 0, 2 }, 1883 };
static const struct ep cli6 = { 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, 40000 };
static const struct ep srv6 = { 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 }, 1883 };

#define CLI_ISN 0x10000000u
#define SRV_ISN 0xfffffff0u /* the server's sequence numbers wrap */

/* ---- the conversation ---- */

struct msg {
	bool toclient;
	struct mb bytes;
};

struct convo {
	struct msg m[32];
	size_t n;
};

static struct mb *msg_add(struct convo *c, bool toclient)
{
	assert_true(c->n < 32);
	struct msg *m = &c->m[c->n++];
	m->toclient = toclient;
	mb_init(&m->bytes);
	return &m->bytes;
}

#define C2S(c) msg_add((c), false)
#define S2C(c) msg_add((c), true)

/* CONNECT..DISCONNECT, MQTT 3.1.1, every packet type but AUTH. */
static void convo_build(struct convo *c)
{
	static const char *const sub[] = { "sensors/#", "cmd/+" };
	static const uint8_t opts[] = { 1, 2 };
	static const uint8_t granted[] = { 1, 2 };
	static const char *const unsub[] = { "cmd/+" };
	memset(c, 0, sizeof(*c));
	struct connect_spec cs = {
		.version = 4, .clean = true, .keepalive = 60,
		.client_id = "pcap-client", .will_topic = "status/pcap-client",
		.will_msg = "offline", .will_qos = 1, .username = "user",
		.password = "pw",
	};
	mqtt_build_connect(C2S(c), &cs);
	mqtt_build_connack(S2C(c), 4, false, 0, NULL);
	mqtt_build_subscribe(C2S(c), 4, 1, NULL, sub, opts, 2);
	mqtt_build_suback(S2C(c), MQTT_SUBACK, 4, 1, NULL, granted, 2);
	mqtt_build_publish(C2S(c), 4, 0, false, false, "sensors/hum", 0, NULL, "40", 2);
	mqtt_build_publish(C2S(c), 4, 1, false, false, "sensors/temp", 2, NULL, "21.5", 4);
	mqtt_build_ack(S2C(c), MQTT_PUBACK, 4, 2, -1, NULL);
	mqtt_build_publish(C2S(c), 4, 2, false, true, "sensors/door", 3, NULL, "open", 4);
	mqtt_build_ack(S2C(c), MQTT_PUBREC, 4, 3, -1, NULL);
	mqtt_build_ack(C2S(c), MQTT_PUBREL, 4, 3, -1, NULL);
	mqtt_build_ack(S2C(c), MQTT_PUBCOMP, 4, 3, -1, NULL);
	mqtt_build_publish(S2C(c), 4, 1, false, false, "cmd/reboot", 1, NULL, "now", 3);
	mqtt_build_ack(C2S(c), MQTT_PUBACK, 4, 1, -1, NULL);
	mqtt_build_publish(S2C(c), 4, 2, false, false, "cmd/led", 2, NULL, "on", 2);
	mqtt_build_ack(C2S(c), MQTT_PUBREC, 4, 2, -1, NULL);
	mqtt_build_ack(S2C(c), MQTT_PUBREL, 4, 2, -1, NULL);
	mqtt_build_ack(C2S(c), MQTT_PUBCOMP, 4, 2, -1, NULL);
	mqtt_build_empty(C2S(c), MQTT_PINGREQ);
	mqtt_build_empty(S2C(c), MQTT_PINGRESP);
	mqtt_build_unsubscribe(C2S(c), 4, 4, NULL, unsub, 1);
	mqtt_build_suback(S2C(c), MQTT_UNSUBACK, 4, 4, NULL, NULL, 0);
	mqtt_build_empty(C2S(c), MQTT_DISCONNECT);
}

static void convo_free(struct convo *c)
{
	for (size_t i = 0; i < c->n; i++)
		mb_free(&c->m[i].bytes);
}

/* ---- TCP segments ---- */

struct tseg {
	bool toclient;
	uint8_t flags;
	uint32_t seq;
	uint32_t ack;
	const uint8_t *p; /* into the conversation's messages */
	size_t n;
	size_t msg;       /* index of the message, or SIZE_MAX */
};

struct tlist {
	struct tseg *s;
	size_t n;
	size_t cap;
};

static void tl_push(struct tlist *l, struct tseg s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->s = realloc(l->s, l->cap * sizeof(*l->s));
		assert_non_null(l->s);
	}
	l->s[l->n++] = s;
}

static void tl_free(struct tlist *l)
{
	free(l->s);
	memset(l, 0, sizeof(*l));
}

/*
 * The plain capture: handshake (unless midstream), each message from
 * message index first on in one segment answered by a pure ACK, then FIN
 * from both sides. Sequence numbers continue as if the earlier messages
 * had been sent.
 */
enum ending { END_FIN, END_RST, END_NONE };

static void tl_build_range(struct tlist *l, const struct convo *c,
			   bool handshake, size_t first, size_t last,
			   enum ending end)
{
	uint32_t next[2] = { CLI_ISN + 1, SRV_ISN + 1 };
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < first; i++)
		next[c->m[i].toclient] += (uint32_t)c->m[i].bytes.len;
	if (handshake) {
		tl_push(l, (struct tseg){ false, TCP_SYN, next[0] - 1, 0, NULL, 0, SIZE_MAX });
		tl_push(l, (struct tseg){ true, TCP_SYN | TCP_ACK, next[1] - 1, next[0], NULL, 0, SIZE_MAX });
		tl_push(l, (struct tseg){ false, TCP_ACK, next[0], next[1], NULL, 0, SIZE_MAX });
	}
	for (size_t i = first; i < last; i++) {
		int d = c->m[i].toclient;
		tl_push(l, (struct tseg){ d, TCP_ACK | TCP_PSH, next[d], next[!d],
					  c->m[i].bytes.p, c->m[i].bytes.len, i });
		next[d] += (uint32_t)c->m[i].bytes.len;
		tl_push(l, (struct tseg){ !d, TCP_ACK, next[!d], next[d], NULL, 0, SIZE_MAX });
	}
	if (end == END_RST) {
		tl_push(l, (struct tseg){ true, TCP_RST | TCP_ACK, next[1], next[0], NULL, 0, SIZE_MAX });
	} else if (end == END_FIN) {
		tl_push(l, (struct tseg){ false, TCP_FIN | TCP_ACK, next[0], next[1], NULL, 0, SIZE_MAX });
		tl_push(l, (struct tseg){ true, TCP_FIN | TCP_ACK, next[1], next[0] + 1, NULL, 0, SIZE_MAX });
		tl_push(l, (struct tseg){ false, TCP_ACK, next[0] + 1, next[1] + 1, NULL, 0, SIZE_MAX });
	}
}

static void tl_build(struct tlist *l, const struct convo *c, bool handshake,
		     size_t first)
{
	tl_build_range(l, c, handshake, first, c->n, END_FIN);
}

static struct tseg piece(const struct tseg *s, size_t from, size_t to)
{
	struct tseg r = *s;
	r.seq = s->seq + (uint32_t)from;
	r.p = s->p + from;
	r.n = to - from;
	return r;
}

/*
 * Splits the data segment of direction toclient that holds stream offset
 * k strictly inside it. Returns false when k is a segment boundary.
 */
static bool tl_split_at(struct tlist *out, const struct tlist *in,
			bool toclient, size_t k)
{
	size_t off = 0;
	bool split = false;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->n; i++) {
		const struct tseg *s = &in->s[i];
		if (s->toclient != toclient || s->n == 0) {
			tl_push(out, *s);
			continue;
		}
		if (k > off && k < off + s->n) {
			tl_push(out, piece(s, 0, k - off));
			tl_push(out, piece(s, k - off, s->n));
			split = true;
		} else {
			tl_push(out, *s);
		}
		off += s->n;
	}
	return split;
}

/* Each data segment cut into pieces sent last first. */
static void tl_reverse_pieces(struct tlist *out, const struct tlist *in,
			      size_t pieces)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->n; i++) {
		const struct tseg *s = &in->s[i];
		if (s->n < 2) {
			tl_push(out, *s);
			continue;
		}
		size_t k = pieces < s->n ? pieces : s->n;
		for (size_t j = k; j-- > 0;)
			tl_push(out, piece(s, s->n * j / k, s->n * (j + 1) / k));
	}
}

/* Consecutive data segments of one direction sent in reverse order. */
static void tl_swap_runs(struct tlist *out, const struct tlist *in)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->n; i++) {
		const struct tseg *s = &in->s[i];
		/* data, pure ACK, data of the same side: send data 2, data 1. */
		if (s->n && i + 2 < in->n && in->s[i + 2].n &&
		    in->s[i + 2].toclient == s->toclient) {
			tl_push(out, in->s[i + 2]);
			tl_push(out, *s);
			tl_push(out, in->s[i + 1]);
			i += 2;
			continue;
		}
		tl_push(out, *s);
	}
}

static void tl_duplicate(struct tlist *out, const struct tlist *in)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->n; i++) {
		tl_push(out, in->s[i]);
		tl_push(out, in->s[i]);
	}
}

/*
 * Overlapping segments carrying identical bytes: [0, mid+o) then
 * [mid-o, n), and a segment followed by a superset of it.
 */
static void tl_overlap(struct tlist *out, const struct tlist *in)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->n; i++) {
		const struct tseg *s = &in->s[i];
		if (s->n < 4) {
			tl_push(out, *s);
			continue;
		}
		size_t mid = s->n / 2, o = s->n / 4;
		if (i % 2) {
			tl_push(out, piece(s, 0, mid + o));
			tl_push(out, piece(s, mid - o, s->n));
		} else {
			tl_push(out, piece(s, 0, mid));
			tl_push(out, piece(s, 0, s->n));
		}
	}
}

/* ---- frames ---- */

enum encap {
	ENC_ETH4, ENC_ETH6, ENC_VLAN, ENC_QINQ, ENC_SLL, ENC_SLL2, ENC_RAW4,
	ENC_RAW6, ENC_NULL4, ENC_NULL6, ENC_LOOP4, ENC_FRAG4, ENC_FRAG4_REV,
	ENC_FRAG6, ENC_ETH6_EXT, ENC__COUNT
};

static const char *const enc_names[ENC__COUNT] = {
	"ethernet/ipv4", "ethernet/ipv6", "802.1q", "qinq", "linux cooked v1",
	"linux cooked v2", "raw ipv4", "raw ipv6", "bsd null ipv4",
	"bsd null ipv6 (AF 30)", "openbsd loop ipv4", "ipv4 fragments",
	"ipv4 fragments reversed", "ipv6 fragments",
	"ipv6 with extension headers",
};

static int enc_family(enum encap e)
{
	return (e == ENC_ETH6 || e == ENC_RAW6 || e == ENC_NULL6 ||
		e == ENC_FRAG6 || e == ENC_ETH6_EXT) ? 6 : 4;
}

static uint32_t enc_linktype(enum encap e)
{
	switch (e) {
	case ENC_SLL: return LINKTYPE_LINUX_SLL;
	case ENC_SLL2: return LINKTYPE_LINUX_SLL2;
	case ENC_RAW4: case ENC_RAW6: return LINKTYPE_RAW;
	case ENC_NULL4: case ENC_NULL6: return LINKTYPE_NULL;
	case ENC_LOOP4: return LINKTYPE_LOOP;
	default: return LINKTYPE_ETHERNET;
	}
}

/* Wraps one layer-3 packet in the link layer of e. */
static void link_wrap(struct mb *out, enum encap e, const uint8_t *l3, size_t n)
{
	int fam = enc_family(e);
	uint16_t et = fam == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
	static const uint16_t q_tpid[] = { TPID_8021Q };
	static const uint16_t q_vid[] = { 100 };
	static const uint16_t qq_tpid[] = { TPID_8021AD, TPID_8021Q };
	static const uint16_t qq_vid[] = { 200, 100 };
	switch (e) {
	case ENC_VLAN: frame_eth(out, et, q_tpid, q_vid, 1, l3, n); break;
	case ENC_QINQ: frame_eth(out, et, qq_tpid, qq_vid, 2, l3, n); break;
	case ENC_SLL: frame_sll(out, et, l3, n); break;
	case ENC_SLL2: frame_sll2(out, et, l3, n); break;
	case ENC_RAW4: case ENC_RAW6: mb_raw(out, l3, n); break;
	case ENC_NULL4: frame_null(out, 2, false, l3, n); break;
	case ENC_NULL6: frame_null(out, 30, false, l3, n); break;
	case ENC_LOOP4: frame_null(out, 2, true, l3, n); break;
	default: frame_eth(out, et, NULL, NULL, 0, l3, n); break;
	}
}

#define FRAG_UNIT 16 /* fragment payload size: a multiple of 8 */

/* Appends the frames of one TCP segment to the pcap file. */
static void add_segment(struct mb *file, enum encap e, const struct tseg *s,
			uint16_t ip_id, uint16_t srv_port, uint64_t *ts)
{
	int fam = enc_family(e);
	struct ep cli = fam == 6 ? cli6 : cli4;
	struct ep srv = fam == 6 ? srv6 : srv4;
	srv.port = srv_port;
	const struct ep *src = s->toclient ? &srv : &cli;
	const struct ep *dst = s->toclient ? &cli : &srv;
	struct mb tcp, l3, fr;
	mb_init(&tcp);
	mb_init(&l3);
	mb_init(&fr);
	frame_tcp(&tcp, src, dst, s->seq, s->ack, s->flags, s->p, s->n);
	if (e == ENC_FRAG4 || e == ENC_FRAG4_REV || e == ENC_FRAG6) {
		size_t nfrag = (tcp.len + FRAG_UNIT - 1) / FRAG_UNIT;
		for (size_t k = 0; k < nfrag; k++) {
			size_t j = e == ENC_FRAG4_REV ? nfrag - 1 - k : k;
			size_t off = j * FRAG_UNIT;
			size_t len = tcp.len - off < FRAG_UNIT ? tcp.len - off : FRAG_UNIT;
			bool more = j + 1 < nfrag;
			mb_reset(&l3);
			mb_reset(&fr);
			if (fam == 6)
				frame_ipv6_frag(&l3, src->addr, dst->addr, ip_id,
						(uint32_t)off, more, 6, tcp.p + off, len);
			else
				frame_ipv4(&l3, src->addr, dst->addr, ip_id,
					   (uint16_t)((off / 8) | (more ? 0x2000 : 0)),
					   6, tcp.p + off, len);
			link_wrap(&fr, e, l3.p, l3.len);
			pcapw_add(file, *ts, fr.p, fr.len);
			*ts += 100;
		}
	} else if (e == ENC_ETH6_EXT) {
		/* Hop-by-hop (8 bytes) and destination options (16 bytes). */
		struct mb ext;
		mb_init(&ext);
		static const uint8_t pad6[6] = { 1, 4, 0, 0, 0, 0 }; /* PadN */
		static const uint8_t pad14[14] = { 1, 12 };
		mb_u8(&ext, 60);
		mb_u8(&ext, 0);
		mb_raw(&ext, pad6, sizeof(pad6));
		mb_u8(&ext, 6);
		mb_u8(&ext, 1);
		mb_raw(&ext, pad14, sizeof(pad14));
		mb_cat(&ext, &tcp);
		frame_ipv6(&l3, src->addr, dst->addr, 0, ext.p, ext.len);
		link_wrap(&fr, e, l3.p, l3.len);
		pcapw_add(file, *ts, fr.p, fr.len);
		*ts += 1000;
		mb_free(&ext);
	} else {
		if (fam == 6)
			frame_ipv6(&l3, src->addr, dst->addr, 6, tcp.p, tcp.len);
		else
			frame_ipv4(&l3, src->addr, dst->addr, ip_id, 0x4000, 6,
				   tcp.p, tcp.len);
		link_wrap(&fr, e, l3.p, l3.len);
		pcapw_add(file, *ts, fr.p, fr.len);
		*ts += 1000;
	}
	mb_free(&tcp);
	mb_free(&l3);
	mb_free(&fr);
}

static void pcap_of(struct mb *file, const struct tlist *l, enum encap e,
		    uint16_t srv_port)
{
	uint64_t ts = 1700000000ull * 1000000u;
	mb_init(file);
	pcapw_init(file, enc_linktype(e));
	for (size_t i = 0; i < l->n; i++)
		add_segment(file, e, &l->s[i], (uint16_t)(i + 1), srv_port, &ts);
}

/* ---- running the engine ---- */

static char tmpdir[64];
static char pcap_path[128];

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mqttids_pcap_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(pcap_path, sizeof(pcap_path), "%s/run.pcap", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(pcap_path);
	rmdir(tmpdir);
	return 0;
}

/* Raw EVE text of the engine over a pcap file; rc and err of capture_file. */
static char *run_file(const char *path, const struct engine_cfg *cfg, int *rc,
		      char *err, size_t errsz, uint64_t *packets)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&text, &tlen);
	assert_non_null(out);
	struct eve_cfg ec = { cfg->mqtt.string_log_limit, cfg->mqtt.log_passwords };
	struct output *o = output_open_stream(out, &ec);
	assert_non_null(o);
	struct engine *e = engine_new(cfg, o);
	assert_non_null(e);
	err[0] = 0;
	*rc = capture_file(path, e, err, errsz);
	engine_finish(e);
	if (packets)
		*packets = engine_packets(e);
	engine_free(e);
	assert_int_equal(output_close(o, 0), 0);
	fclose(out);
	return text;
}

struct norm {
	int family;
	const uint16_t *vlan; /* expected "vlan" array, or NULL: none */
	size_t nvlan;
};

static void replace_ip(cJSON *o, const char *key, int family)
{
	const char *c = family == 6 ? "2001:db8::1" : "10.0.0.1";
	const char *s = family == 6 ? "2001:db8::2" : "10.0.0.2";
	cJSON *ip = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsString(ip));
	const char *v = ip->valuestring;
	if (strcmp(v, c) != 0 && strcmp(v, s) != 0)
		fail_msg("%s %s is neither client %s nor server %s", key, v, c, s);
	cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateString(
		strcmp(v, c) == 0 ? "client" : "server"));
}

/*
 * Parses every EVE line, checks and removes what legitimately differs
 * between captures of one conversation (timestamp, pcap_cnt, flow_id,
 * vlan, IP addresses) and prints the rest, one record per line.
 */
static char *normalize(const char *text, const struct norm *nm)
{
	struct mb out;
	mb_init(&out);
	const char *p = text;
	while (*p) {
		const char *e = strchr(p, '\n');
		assert_non_null(e); /* every record ends its line */
		char *line = strndup(p, (size_t)(e - p));
		cJSON *o = cJSON_Parse(line);
		if (!o)
			fail_msg("not JSON: %s", line);
		assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "timestamp")));
		cJSON_DeleteItemFromObjectCaseSensitive(o, "timestamp");
		cJSON_DeleteItemFromObjectCaseSensitive(o, "pcap_cnt");
		cJSON_DeleteItemFromObjectCaseSensitive(o, "flow_id");
		cJSON *vl = cJSON_GetObjectItemCaseSensitive(o, "vlan");
		if (nm->nvlan) {
			if (!cJSON_IsArray(vl) || (size_t)cJSON_GetArraySize(vl) != nm->nvlan)
				fail_msg("vlan missing or wrong in %s", line);
			for (size_t i = 0; i < nm->nvlan; i++)
				assert_int_equal(cJSON_GetArrayItem(vl, (int)i)->valueint,
						 nm->vlan[i]);
			cJSON_DeleteItemFromObjectCaseSensitive(o, "vlan");
		} else if (vl) {
			fail_msg("unexpected vlan in %s", line);
		}
		if (cJSON_GetObjectItemCaseSensitive(o, "src_ip")) {
			replace_ip(o, "src_ip", nm->family);
			replace_ip(o, "dest_ip", nm->family);
		}
		char *s = cJSON_PrintUnformatted(o);
		mb_raw(&out, s, strlen(s));
		mb_u8(&out, '\n');
		free(s);
		cJSON_Delete(o);
		free(line);
		p = e + 1;
	}
	mb_u8(&out, 0);
	return (char *)out.p;
}

/*
 * Normalised EVE output of the engine over the segments l encapsulated as
 * e, with the server on srv_port.
 */
static char *run_list_port(const struct tlist *l, enum encap e,
			   const struct engine_cfg *cfg, uint16_t srv_port)
{
	struct mb file;
	pcap_of(&file, l, e, srv_port);
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	mb_free(&file);
	struct engine_cfg def;
	if (!cfg) {
		engine_cfg_default(&def);
		cfg = &def;
	}
	int rc;
	char err[512];
	char *raw = run_file(pcap_path, cfg, &rc, err, sizeof(err), NULL);
	if (rc != 0)
		fail_msg("capture_file failed: %s", err);
	static const uint16_t v1[] = { 100 };
	static const uint16_t v2[] = { 200, 100 };
	struct norm nm = { enc_family(e), NULL, 0 };
	if (e == ENC_VLAN) {
		nm.vlan = v1;
		nm.nvlan = 1;
	} else if (e == ENC_QINQ) {
		nm.vlan = v2;
		nm.nvlan = 2;
	}
	char *n = normalize(raw, &nm);
	free(raw);
	return n;
}

static char *run_list(const struct tlist *l, enum encap e,
		      const struct engine_cfg *cfg)
{
	return run_list_port(l, e, cfg, 1883);
}

static unsigned count_lines(const char *s, const char *needle)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static struct convo conv;
static struct tlist plain;
static char *baseline; /* Ethernet/IPv4, one segment per message */

static void ensure_baseline(void)
{
	if (baseline)
		return;
	convo_build(&conv);
	tl_build(&plain, &conv, true, 0);
	baseline = run_list(&plain, ENC_ETH4, NULL);
}

static int free_baseline(void **state)
{
	(void)state;
	free(baseline);
	baseline = NULL;
	tl_free(&plain);
	convo_free(&conv);
	return group_teardown(state);
}

/* Compares a variant with the baseline, printing the first difference. */
static bool same_as_baseline(const char *got, const char *what, bool quiet)
{
	if (strcmp(got, baseline) == 0)
		return true;
	if (quiet)
		return false;
	const char *g = got, *b = baseline;
	while (*g && *g == *b) {
		g++;
		b++;
	}
	while (g > got && g[-1] != '\n') {
		g--;
		b--;
	}
	fprintf(stderr, "%s differs from the baseline:\n  got : %.300s\n  want: %.300s\n",
		what, g, b);
	return false;
}

static void assert_baseline(const char *got, const char *what)
{
	if (!same_as_baseline(got, what, false))
		fail_msg("%s: EVE output differs from the unsplit capture", what);
}

/* Runs one variant of the capture and checks it against the baseline; frees l. */
static void check_variant(struct tlist *l, enum encap e, const char *label)
{
	char what[160];
	char *got = run_list(l, e, NULL);
	snprintf(what, sizeof(what), "%s: %s", enc_names[e], label);
	assert_baseline(got, what);
	free(got);
	tl_free(l);
}

/* ---- tests ---- */

static void test_baseline_records(void **state)
{
	(void)state;
	ensure_baseline();
	/* 11 transactions, no anomalies. */
	assert_int_equal(count_lines(baseline, "\n"), 11);
	assert_int_equal(count_lines(baseline, "\"event_type\":\"mqtt\""), 11);
	assert_int_equal(count_lines(baseline, "\"anomaly\""), 0);
	static const char *const must[] = {
		"\"src_ip\":\"client\",\"src_port\":40000,\"dest_ip\":\"server\","
		"\"dest_port\":1883,\"proto\":\"TCP\",\"app_proto\":\"mqtt\","
		"\"mqtt\":{\"connect\":{",
		"\"connack\":{\"qos\":0,\"retain\":false,\"dup\":false,"
		"\"session_present\":false,\"return_code\":0}}",
		"\"suback\":{\"qos\":0,\"retain\":false,\"dup\":false,"
		"\"message_id\":1,\"qos_granted\":[1,2]}",
		"\"topic\":\"sensors/hum\"",
		"\"topic\":\"sensors/temp\",\"message_id\":2,\"message\":\"21.5\"},\"puback\"",
		"\"pubrec\":{", "\"pubrel\":{", "\"pubcomp\":{",
		"\"src_ip\":\"server\",\"src_port\":1883,\"dest_ip\":\"client\","
		"\"dest_port\":40000,\"proto\":\"TCP\",\"app_proto\":\"mqtt\","
		"\"mqtt\":{\"publish\":{\"qos\":1,\"retain\":false,\"dup\":false,"
		"\"topic\":\"cmd/reboot\"",
		"\"topic\":\"cmd/led\"", "\"pingreq\":{", "\"pingresp\":{",
		"\"unsuback\":{", "\"disconnect\":{",
		"\"mqtt_session\":{\"client_id\":\"pcap-client\",\"username\":\"user\"",
	};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (!strstr(baseline, must[i]))
			fail_msg("baseline lacks %s:\n%s", must[i], baseline);
	/* The password is not logged by default. */
	assert_null(strstr(baseline, "\"password\":\"pw\""));
}

/*
 * (a) Each direction's stream split into two segments at every byte
 * boundary. Every failing split point is listed before the test fails.
 */
static void split_every_byte(enum encap e)
{
	ensure_baseline();
	char what[160];
	unsigned runs = 0, bad = 0;
	for (int d = 0; d < 2; d++) {
		size_t len = 0;
		for (size_t i = 0; i < conv.n; i++)
			if (conv.m[i].toclient == (d == 1))
				len += conv.m[i].bytes.len;
		for (size_t k = 1; k < len; k++) {
			struct tlist l;
			if (!tl_split_at(&l, &plain, d == 1, k)) {
				tl_free(&l);
				continue;
			}
			char *got = run_list(&l, e, NULL);
			snprintf(what, sizeof(what), "%s: %s stream split at %zu",
				 enc_names[e], d ? "server" : "client", k);
			if (!same_as_baseline(got, what, bad >= 3)) {
				bad++;
				if (bad > 3 && bad <= 20)
					fprintf(stderr, "%s differs as well\n", what);
			}
			runs++;
			free(got);
			tl_free(&l);
		}
	}
	assert_true(runs > 100);
	if (bad)
		fail_msg("%s: %u of %u split points differ from the unsplit capture",
			 enc_names[e], bad, runs);
}

static void test_split_every_byte_ipv4(void **state)
{
	(void)state;
	split_every_byte(ENC_ETH4);
}

static void test_split_every_byte_ipv6(void **state)
{
	(void)state;
	split_every_byte(ENC_ETH6);
}

/* (b)-(d) on one encapsulation, each compared with the baseline. */
static void reorder_variants(enum encap e)
{
	ensure_baseline();
	char what[160];
	struct tlist l;
	char *got = run_list(&plain, e, NULL);
	snprintf(what, sizeof(what), "%s: plain", enc_names[e]);
	assert_baseline(got, what);
	free(got);
	for (size_t pieces = 2; pieces <= 5; pieces += 3) {
		tl_reverse_pieces(&l, &plain, pieces);
		got = run_list(&l, e, NULL);
		snprintf(what, sizeof(what), "%s: out of order, %zu pieces per segment reversed",
			 enc_names[e], pieces);
		assert_baseline(got, what);
		free(got);
		tl_free(&l);
	}
	tl_swap_runs(&l, &plain);
	check_variant(&l, e, "consecutive messages swapped");
	tl_duplicate(&l, &plain);
	check_variant(&l, e, "every segment twice");
	tl_overlap(&l, &plain);
	check_variant(&l, e, "overlapping segments");
	/* Reversed pieces, each sent twice. */
	struct tlist r;
	tl_reverse_pieces(&r, &plain, 3);
	tl_duplicate(&l, &r);
	check_variant(&l, e, "reversed and duplicated");
	tl_free(&r);
}

static void test_out_of_order_dup_overlap_ipv4(void **state)
{
	(void)state;
	reorder_variants(ENC_ETH4);
}

/* (e) No handshake in the capture. */
static void test_midstream(void **state)
{
	(void)state;
	ensure_baseline();
	struct tlist l;
	/* Starting at the CONNECT: the same records. */
	tl_build(&l, &conv, false, 0);
	char *got = run_list(&l, ENC_ETH4, NULL);
	assert_baseline(got, "midstream from the CONNECT");
	free(got);
	tl_free(&l);
	/* Starting at the SUBSCRIBE, with and without a handshake. */
	tl_build(&l, &conv, true, 2);
	char *with_syn = run_list(&l, ENC_ETH4, NULL);
	tl_free(&l);
	tl_build(&l, &conv, false, 2);
	got = run_list(&l, ENC_ETH4, NULL);
	tl_free(&l);
	assert_string_equal(got, with_syn);
	assert_non_null(strstr(got, "\"subscribe\":{"));
	assert_null(strstr(got, "\"connect\":{"));
	assert_non_null(strstr(got, "unintroduced_message"));
	free(got);
	free(with_syn);
	/* Midstream pickup switched off: nothing at all. */
	struct engine_cfg cfg;
	engine_cfg_default(&cfg);
	cfg.reasm.midstream = false;
	tl_build(&l, &conv, false, 0);
	got = run_list(&l, ENC_ETH4, &cfg);
	assert_string_equal(got, "");
	free(got);
	tl_free(&l);
}

/* (f) IPv6, also behind extension headers. */
static void test_ipv6(void **state)
{
	(void)state;
	reorder_variants(ENC_ETH6);
	reorder_variants(ENC_ETH6_EXT);
}

/* (g) 802.1Q and QinQ: "vlan" is present, and the rest is the same. */
static void test_vlan(void **state)
{
	(void)state;
	reorder_variants(ENC_VLAN);
	reorder_variants(ENC_QINQ);
}

/* (h) IP fragments, in order and reversed. */
static void test_ip_fragments(void **state)
{
	(void)state;
	reorder_variants(ENC_FRAG4);
	reorder_variants(ENC_FRAG4_REV);
	reorder_variants(ENC_FRAG6);
}

/* (i) Link types. */
static void test_link_types(void **state)
{
	(void)state;
	static const enum encap encs[] = { ENC_SLL, ENC_SLL2, ENC_RAW4, ENC_RAW6,
					   ENC_NULL4, ENC_NULL6, ENC_LOOP4 };
	for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++)
		reorder_variants(encs[i]);
}

/* A capture cut inside a record: an error naming the file, earlier packets kept. */
static void test_truncated_pcap(void **state)
{
	(void)state;
	ensure_baseline();
	struct mb file;
	pcap_of(&file, &plain, ENC_ETH4, 1883);
	/* Cut in the middle of the last record (the final ACK). */
	file.len -= 10;
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	struct engine_cfg cfg;
	engine_cfg_default(&cfg);
	int rc;
	char err[512];
	uint64_t pkts;
	char *raw = run_file(pcap_path, &cfg, &rc, err, sizeof(err), &pkts);
	assert_int_equal(rc, -1);
	if (!strstr(err, pcap_path))
		fail_msg("error does not name the file: %s", err);
	char want[64];
	snprintf(want, sizeof(want), "after packet %zu", plain.n - 1);
	if (!strstr(err, want))
		fail_msg("error does not say where: %s", err);
	assert_int_equal(pkts, plain.n - 1);
	struct norm nm = { 4, NULL, 0 };
	char *got = normalize(raw, &nm);
	assert_baseline(got, "truncated in the last record");
	free(got);
	free(raw);
	mb_free(&file);
	/* Cut inside the SUBACK: what came before it is still logged. */
	pcap_of(&file, &plain, ENC_ETH4, 1883);
	size_t off = 24, recs = 0;
	while (off < file.len) {
		uint32_t caplen = (uint32_t)file.p[off + 8] | (uint32_t)file.p[off + 9] << 8;
		if (recs == 9) { /* handshake 3, CONNECT+ACK, CONNACK+ACK, SUBSCRIBE+ACK: SUBACK */
			file.len = off + 16 + caplen / 2;
			break;
		}
		off += 16 + caplen;
		recs++;
	}
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	raw = run_file(pcap_path, &cfg, &rc, err, sizeof(err), &pkts);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, pcap_path));
	assert_int_equal(pkts, 9);
	assert_non_null(strstr(raw, "\"connack\":{"));
	assert_non_null(strstr(raw, "\"subscribe\":{")); /* logged when the flow ended */
	assert_null(strstr(raw, "\"suback\""));
	free(raw);
	mb_free(&file);
	/* A file that ends inside its global header. */
	pcap_of(&file, &plain, ENC_ETH4, 1883);
	file.len = 10;
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	raw = run_file(pcap_path, &cfg, &rc, err, sizeof(err), &pkts);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, pcap_path));
	assert_int_equal(pkts, 0);
	assert_string_equal(raw, "");
	free(raw);
	mb_free(&file);
}

static void test_unknown_link_type(void **state)
{
	(void)state;
	ensure_baseline();
	struct mb file;
	mb_init(&file);
	pcapw_init(&file, LINKTYPE_USER0);
	static const uint8_t junk[] = { 1, 2, 3, 4 };
	pcapw_add(&file, 1000000, junk, sizeof(junk));
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	struct engine_cfg cfg;
	engine_cfg_default(&cfg);
	int rc;
	char err[512];
	uint64_t pkts;
	char *raw = run_file(pcap_path, &cfg, &rc, err, sizeof(err), &pkts);
	assert_int_equal(rc, -1);
	if (!strstr(err, pcap_path) || !strstr(err, "link type 147"))
		fail_msg("unhelpful error: %s", err);
	assert_int_equal(pkts, 0);
	assert_string_equal(raw, "");
	free(raw);
	mb_free(&file);
	/* A missing file. */
	raw = run_file("/nonexistent/none.pcap", &cfg, &rc, err, sizeof(err), &pkts);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "/nonexistent/none.pcap"));
	free(raw);
}

/*
 * MQTT on a port that is not configured is recognised by its CONNECT,
 * wherever the first segment ends.
 *
 * BUG (src/engine/engine.c engine_packet, probe): the probe looks only at
 * the first payload segment, and "needs more bytes" (mqtt_probe_connect
 * returning 0) is taken as "not MQTT", so a CONNECT whose first segment is
 * shorter than 8 bytes makes the whole flow FLOW_APP_OTHER.
 */
static void test_probe_other_port_split(void **state)
{
	(void)state;
	ensure_baseline();
	char *base = run_list_port(&plain, ENC_ETH4, NULL, 18830);
	assert_int_equal(count_lines(base, "\"event_type\":\"mqtt\""), 11);
	assert_non_null(strstr(base, "\"dest_port\":18830"));
	unsigned bad = 0, runs = 0;
	for (size_t k = 1; k <= 12; k++) {
		struct tlist v;
		assert_true(tl_split_at(&v, &plain, false, k));
		char *got = run_list_port(&v, ENC_ETH4, NULL, 18830);
		if (strcmp(got, base) != 0) {
			fprintf(stderr, "  CONNECT split at byte %zu on port 18830: "
				"%u records instead of %u\n", k,
				count_lines(got, "\n"), count_lines(base, "\n"));
			bad++;
		}
		runs++;
		free(got);
		tl_free(&v);
	}
	free(base);
	if (bad)
		fail_msg("%u of %u split points of the CONNECT lose the flow on a "
			 "probed port", bad, runs);
}

/* The same port pair used again after a clean close: two flows, same records. */
static void test_port_reuse(void **state)
{
	(void)state;
	ensure_baseline();
	struct tlist twice;
	memset(&twice, 0, sizeof(twice));
	for (int r = 0; r < 2; r++)
		for (size_t i = 0; i < plain.n; i++)
			tl_push(&twice, plain.s[i]);
	char *got = run_list(&twice, ENC_ETH4, NULL);
	struct mb want;
	mb_init(&want);
	mb_raw(&want, baseline, strlen(baseline));
	mb_raw(&want, baseline, strlen(baseline) + 1);
	assert_string_equal(got, (const char *)want.p);
	free(got);
	mb_free(&want);
	tl_free(&twice);
}

/*
 * A connection reset with transactions pending: they are logged with a
 * missing_ack anomaly each. A capture that just stops logs them quietly.
 */
static void test_reset_and_cut_with_pending(void **state)
{
	(void)state;
	ensure_baseline();
	struct tlist l;
	/* Up to the QoS 1 PUBLISH, whose PUBACK never comes. */
	tl_build_range(&l, &conv, true, 0, 6, END_RST);
	char *got = run_list(&l, ENC_ETH4, NULL);
	tl_free(&l);
	assert_int_equal(count_lines(got, "\n"), 5);
	assert_non_null(strstr(got, "\"event_type\":\"anomaly\",\"src_ip\":\"client\""));
	assert_non_null(strstr(got, "\"event\":\"missing_ack\",\"layer\":\"proto_parser\","
				   "\"detail\":\"publish (QoS 1) never acknowledged before the "
				   "connection closed\""));
	assert_non_null(strstr(got, "\"topic\":\"sensors/temp\",\"message_id\":2,"
				   "\"message\":\"21.5\"}}"));
	free(got);
	tl_build_range(&l, &conv, true, 0, 6, END_NONE);
	got = run_list(&l, ENC_ETH4, NULL);
	tl_free(&l);
	assert_int_equal(count_lines(got, "\n"), 4);
	assert_null(strstr(got, "missing_ack"));
	assert_non_null(strstr(got, "\"topic\":\"sensors/temp\""));
	free(got);
}

/*
 * Frames that do not decode become one "decode" anomaly record each,
 * naming the event, and do not disturb the conversation around them.
 */
static void test_decode_anomalies(void **state)
{
	(void)state;
	ensure_baseline();
	struct mb file, l3, fr, tcp;
	mb_init(&l3);
	mb_init(&fr);
	mb_init(&tcp);
	pcap_of(&file, &plain, ENC_ETH4, 1883);
	uint64_t ts = 1800000000ull * 1000000u;
	/* Ethernet header cut short. */
	static const uint8_t runt[] = { 1, 2, 3, 4, 5, 6, 7 };
	pcapw_add(&file, ts++, runt, sizeof(runt));
	/* IPv4 version field 5. */
	frame_tcp(&tcp, &cli4, &srv4, 1, 1, TCP_ACK, NULL, 0);
	frame_ipv4(&l3, cli4.addr, srv4.addr, 1, 0, 6, tcp.p, tcp.len);
	l3.p[0] = 0x55;
	frame_eth(&fr, ETHERTYPE_IPV4, NULL, NULL, 0, l3.p, l3.len);
	pcapw_add(&file, ts++, fr.p, fr.len);
	/* TCP data offset 4 (16 bytes). */
	mb_reset(&l3);
	mb_reset(&fr);
	tcp.p[12] = 0x40;
	frame_ipv4(&l3, cli4.addr, srv4.addr, 2, 0, 6, tcp.p, tcp.len);
	frame_eth(&fr, ETHERTYPE_IPV4, NULL, NULL, 0, l3.p, l3.len);
	pcapw_add(&file, ts++, fr.p, fr.len);
	/* Four VLAN tags. */
	mb_reset(&fr);
	static const uint16_t tp[] = { TPID_8021AD, TPID_8021Q, TPID_8021Q };
	static const uint16_t vid[] = { 1, 2, 3 };
	mb_reset(&tcp);
	frame_tcp(&tcp, &cli4, &srv4, 1, 1, TCP_ACK, NULL, 0);
	mb_reset(&l3);
	mb_be16(&l3, 4); /* the fourth tag: TCI, then the real ethertype */
	mb_be16(&l3, ETHERTYPE_IPV4);
	frame_ipv4(&l3, cli4.addr, srv4.addr, 3, 0, 6, tcp.p, tcp.len);
	frame_eth(&fr, TPID_8021Q, tp, vid, 3, l3.p, l3.len);
	pcapw_add(&file, ts++, fr.p, fr.len);
	/* Not TCP (UDP) and not IP (ARP): silently ignored. */
	mb_reset(&l3);
	mb_reset(&fr);
	frame_ipv4(&l3, cli4.addr, srv4.addr, 4, 0, 17, tcp.p, 8);
	frame_eth(&fr, ETHERTYPE_IPV4, NULL, NULL, 0, l3.p, l3.len);
	pcapw_add(&file, ts++, fr.p, fr.len);
	mb_reset(&fr);
	frame_eth(&fr, 0x0806, NULL, NULL, 0, tcp.p, 28);
	pcapw_add(&file, ts++, fr.p, fr.len);
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	struct engine_cfg cfg;
	engine_cfg_default(&cfg);
	int rc;
	char err[512];
	char *raw = run_file(pcap_path, &cfg, &rc, err, sizeof(err), NULL);
	assert_int_equal(rc, 0);
	static const char *const events[] = {
		"\"anomaly\":{\"type\":\"decode\",\"event\":\"ethernet.pkt_too_small\"}",
		"\"anomaly\":{\"type\":\"decode\",\"event\":\"ipv4.wrong_ip_version\"}",
		"\"anomaly\":{\"type\":\"decode\",\"event\":\"tcp.hlen_invalid\"}",
		"\"anomaly\":{\"type\":\"decode\",\"event\":\"vlan.too_many_layers\"}",
	};
	for (size_t i = 0; i < 4; i++)
		if (!strstr(raw, events[i]))
			fail_msg("no %s in:\n%s", events[i], raw);
	assert_int_equal(count_lines(raw, "\"type\":\"decode\""), 4);
	/* The conversation's records are all there, and nothing else. */
	assert_int_equal(count_lines(raw, "\"event_type\":\"mqtt\""), 11);
	assert_int_equal(count_lines(raw, "\n"), 15);
	free(raw);
	mb_free(&file);
	mb_free(&l3);
	mb_free(&fr);
	mb_free(&tcp);
}

/*
 * The partial-message flood as a capture: FLOWS connections (handshake,
 * then 32 KiB of a CONNECT declaring 1 MB in 1400-byte segments, never
 * finished). With mqtt.buffer-memcap at 1 MiB, the engine buffers at most
 * that much, says so with buffer_memcap_reached anomalies, and counts the
 * drops and the peak in the stats record.
 */
static void test_partial_message_flood(void **state)
{
	(void)state;
	enum { FLOWS = 200, SENT = 32 * 1024, DECLARED = 1000000, SEG = 1400 };
	static uint8_t body[SENT];
	body[0] = 0x10;
	body[1] = (uint8_t)(0x80 | (DECLARED & 0x7f));
	body[2] = (uint8_t)(0x80 | ((DECLARED >> 7) & 0x7f));
	body[3] = (uint8_t)(DECLARED >> 14);
	struct mb file, tcp, l3, fr;
	mb_init(&file);
	mb_init(&tcp);
	mb_init(&l3);
	mb_init(&fr);
	pcapw_init(&file, LINKTYPE_ETHERNET);
	uint64_t ts = 1735689600000000ull;
	struct ep srv = srv4;
	srv.port = 1883;
	for (int f = 0; f < FLOWS; f++) {
		struct ep cli = cli4;
		cli.addr[2] = (uint8_t)(f >> 8);
		cli.addr[3] = (uint8_t)(f + 1);
		cli.port = (uint16_t)(40000 + f);
		uint32_t cs = 1000, ss = 5000;
		const struct { bool toclient; uint8_t flags; } hs[] = {
			{ false, TCP_SYN }, { true, TCP_SYN | TCP_ACK }, { false, TCP_ACK },
		};
		for (size_t k = 0; k < 3; k++) {
			mb_reset(&tcp);
			mb_reset(&l3);
			mb_reset(&fr);
			bool tc = hs[k].toclient;
			frame_tcp(&tcp, tc ? &srv : &cli, tc ? &cli : &srv,
				  tc ? ss : cs + (k ? 1 : 0), k ? (tc ? cs + 1 : ss + 1) : 0,
				  hs[k].flags, NULL, 0);
			frame_ipv4(&l3, tc ? srv.addr : cli.addr, tc ? cli.addr : srv.addr,
				   0, 0x4000, 6, tcp.p, tcp.len);
			frame_eth(&fr, 0x0800, NULL, NULL, 0, l3.p, l3.len);
			pcapw_add(&file, ts += 10, fr.p, fr.len);
		}
		for (size_t o = 0; o < SENT; o += SEG) {
			size_t n = SENT - o < SEG ? SENT - o : SEG;
			mb_reset(&tcp);
			mb_reset(&l3);
			mb_reset(&fr);
			frame_tcp(&tcp, &cli, &srv, cs + 1 + (uint32_t)o, ss + 1,
				  TCP_ACK | TCP_PSH, body + o, n);
			frame_ipv4(&l3, cli.addr, srv.addr, 0, 0x4000, 6, tcp.p, tcp.len);
			frame_eth(&fr, 0x0800, NULL, NULL, 0, l3.p, l3.len);
			pcapw_add(&file, ts += 10, fr.p, fr.len);
		}
	}
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	struct engine_cfg cfg;
	engine_cfg_default(&cfg);
	cfg.mqtt.buf_memcap = 1024 * 1024;
	char *text = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&text, &tlen);
	assert_non_null(out);
	struct eve_cfg ec = { SIZE_MAX, false };
	struct output *o = output_open_stream(out, &ec);
	struct engine *e = engine_new(&cfg, o);
	assert_non_null(e);
	char err[256];
	assert_int_equal(capture_file(pcap_path, e, err, sizeof(err)), 0);
	engine_finish(e);
	engine_write_eve_stats(e);
	engine_free(e);
	assert_int_equal(output_close(o, 0), 0);
	fclose(out);
	/* 1 MiB holds about 30 of the 32 KiB buffers; the rest are dropped. */
	unsigned drops = count_lines(text, "\"event\":\"buffer_memcap_reached\"");
	assert_true(drops >= FLOWS - 32);
	const char *st = strstr(text, "\"event_type\":\"stats\"");
	assert_non_null(st);
	while (st > text && st[-1] != '\n')
		st--; /* the stats record is the last line */
	cJSON *j = cJSON_Parse(st);
	assert_non_null(j);
	const cJSON *mq = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "stats"), "mqtt");
	assert_int_equal((unsigned)cJSON_GetObjectItemCaseSensitive(mq, "buffer_memcap_drops")->valuedouble,
			 drops);
	double peak = cJSON_GetObjectItemCaseSensitive(mq, "buffer_memuse_peak")->valuedouble;
	assert_true(peak > 0 && peak <= 1024 * 1024);
	/* The outputs count what they wrote: every line but the stats one. */
	const cJSON *oc = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "stats"), "outputs");
	assert_int_equal((unsigned)cJSON_GetObjectItemCaseSensitive(oc, "eve_records")->valuedouble,
			 count_lines(text, "\n") - 1);
	assert_int_equal((unsigned)cJSON_GetObjectItemCaseSensitive(oc, "eve_errors")->valuedouble, 0);
	cJSON_Delete(j);
	free(text);
	mb_free(&file);
	mb_free(&tcp);
	mb_free(&l3);
	mb_free(&fr);
}

/*
 * The flow key includes the VLAN ids: the same addresses and ports on
 * VLAN 100 and VLAN 200, interleaved packet by packet, are two
 * connections, each with its own session.
 */
static void test_vlan_in_flow_key(void **state)
{
	(void)state;
	struct mb file, tcp, l3, fr, msg;
	mb_init(&file);
	mb_init(&tcp);
	mb_init(&l3);
	mb_init(&fr);
	mb_init(&msg);
	pcapw_init(&file, LINKTYPE_ETHERNET);
	uint64_t ts = 1735689600000000ull;
	static const uint16_t tpid[] = { 0x8100 };
	static const uint16_t vids[2] = { 100, 200 };
	for (int step = 0; step < 5; step++) {
		for (int v = 0; v < 2; v++) {
			bool tc = step == 1 || step == 4;
			uint8_t flags = step == 0 ? TCP_SYN
				      : step == 1 ? (TCP_SYN | TCP_ACK) : TCP_ACK;
			uint32_t cs = 1000, ss = 5000;
			mb_reset(&msg);
			if (step == 3) {
				struct connect_spec c = { .version = 4,
					.client_id = v ? "dev-b" : "dev-a",
					.keepalive = 60, .clean = true };
				mqtt_build_connect(&msg, &c);
				flags |= TCP_PSH;
			} else if (step == 4) {
				mqtt_build_connack(&msg, 4, false, 0, NULL);
				flags |= TCP_PSH;
			}
			uint32_t seq = tc ? ss + (step == 4 ? 1 : 0) : cs + (step ? 1 : 0);
			uint32_t ack = step == 0 ? 0 : tc ? cs + 1 + (step == 4 ? 14 + 5 : 0) : ss + 1;
			mb_reset(&tcp);
			mb_reset(&l3);
			mb_reset(&fr);
			frame_tcp(&tcp, tc ? &srv4 : &cli4, tc ? &cli4 : &srv4, seq, ack,
				  flags, msg.len ? msg.p : NULL, msg.len);
			frame_ipv4(&l3, tc ? srv4.addr : cli4.addr, tc ? cli4.addr : srv4.addr,
				   0, 0x4000, 6, tcp.p, tcp.len);
			frame_eth(&fr, 0x0800, tpid, &vids[v], 1, l3.p, l3.len);
			pcapw_add(&file, ts += 1000, fr.p, fr.len);
		}
	}
	assert_int_equal(pcapw_save(&file, pcap_path), 0);
	struct engine_cfg cfg;
	engine_cfg_default(&cfg);
	int rc;
	char err[256];
	char *text = run_file(pcap_path, &cfg, &rc, err, sizeof(err), NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(count_lines(text, "\"connect\":{"), 2);
	assert_int_equal(count_lines(text, "\"vlan\":[100],"), 1);
	assert_int_equal(count_lines(text, "\"vlan\":[200],"), 1);
	assert_non_null(strstr(text, "\"client_id\":\"dev-a\""));
	assert_non_null(strstr(text, "\"client_id\":\"dev-b\""));
	assert_null(strstr(text, "double_connect"));
	free(text);
	mb_free(&file);
	mb_free(&tcp);
	mb_free(&l3);
	mb_free(&fr);
	mb_free(&msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_baseline_records),
		cmocka_unit_test(test_split_every_byte_ipv4),
		cmocka_unit_test(test_split_every_byte_ipv6),
		cmocka_unit_test(test_out_of_order_dup_overlap_ipv4),
		cmocka_unit_test(test_midstream),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_ip_fragments),
		cmocka_unit_test(test_link_types),
		cmocka_unit_test(test_truncated_pcap),
		cmocka_unit_test(test_unknown_link_type),
		cmocka_unit_test(test_decode_anomalies),
		cmocka_unit_test(test_port_reuse),
		cmocka_unit_test(test_reset_and_cut_with_pending),
		cmocka_unit_test(test_probe_other_port_split),
		cmocka_unit_test(test_partial_message_flood),
		cmocka_unit_test(test_vlan_in_flow_key),
	};
	return cmocka_run_group_tests(tests, group_setup, free_baseline);
}
