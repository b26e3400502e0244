/* test_detect.c - unit tests for the rule engine: thresholds, cooldown updates, metadata, uuids and takeovers (detect/detect.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"
#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"
#include "net/flow_table.h"
#include "net/pkt_decode.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define MS(x) ((uint64_t)(x) * 1000u)

/* The seed's rules (Figs. 7, 13, 16), as published, plus sids. */
#define RULE_PROTECTED                                                       \
	"mqtt $EXTERNAL_NET -> $SELF src; name: Access to protected topic; " \
	"priority: 4; cooldown: 0; msg_type: publish, subscribe; "           \
	"topics: $SYS/#, is2/mqtt_attack_notifications; sid: 1000001\n"
#define RULE_PUBLISH                                                          \
	"mqtt any -> $SELF src; name: Excessive MQTT PUBLISH activity; "      \
	"priority: 2; threshold: 20; interval: 5; msg_type: publish; "        \
	"sid: 1000004\n"
#define RULE_BRUTE                                                           \
	"mqtt $SELF -> any dst; name: Brute Force (Auth); priority: 3; "     \
	"threshold: 5; interval: 60; msg_type: connack; retcode: 5\n"
#define RULE_TAKEOVER                                                        \
	"mqtt any -> $SELF src; name: Client-id takeover; priority: 3; "     \
	"interval: 60; anomaly: client_id_takeover; sid: 1000017\n"

/* ---- a recording alert sink ---- */

#define REC_MAX 64

struct ralert {
	char uuid[33];
	bool update;
	uint64_t ts_us, first_us, total, added;
	uint32_t sid;
	uint8_t priority;
	char classification[96], category[96], src[64];
	char src_ip[64], dest_ip[64];
	uint16_t src_port, dest_port;
	uint64_t flow_id, pcap_cnt;
	bool truncated;
	bool fold;
	uint64_t folded;
	uint32_t n_ids, n_pub, n_sub;
	uint64_t pub_sum;
	char meta[4096]; /* ids=[..] users=[..] pass=[..] pub={..} sub={..} unsub={..} */
};

struct arec {
	struct ralert v[REC_MAX];
	unsigned n;
};

static void cat(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf);
	snprintf(buf + n, cap - n, "%s", s);
}

static void cat_strs(char *buf, size_t cap, const char *name,
		     struct alert_strs s)
{
	cat(buf, cap, name);
	cat(buf, cap, "=[");
	for (uint32_t i = 0; i < s.n; i++) {
		if (i)
			cat(buf, cap, ",");
		cat(buf, cap, s.v[i]);
	}
	cat(buf, cap, "] ");
}

static void cat_counts(char *buf, size_t cap, const char *name,
		       struct alert_counts c)
{
	char num[32];
	cat(buf, cap, name);
	cat(buf, cap, "={");
	for (uint32_t i = 0; i < c.n; i++) {
		if (i)
			cat(buf, cap, ",");
		cat(buf, cap, "\"");
		cat(buf, cap, c.v[i].key);
		snprintf(num, sizeof(num), "\":%llu", (unsigned long long)c.v[i].count);
		cat(buf, cap, num);
	}
	cat(buf, cap, "}");
}

static void rec_emit(void *ud, const struct alert *a)
{
	struct arec *r = ud;
	assert_true(r->n < REC_MAX);
	struct ralert *x = &r->v[r->n++];
	memset(x, 0, sizeof(*x));
	memcpy(x->uuid, a->uuid, sizeof(x->uuid));
	x->update = a->update;
	x->ts_us = a->ts_us;
	x->first_us = a->first_us;
	x->total = a->total;
	x->added = a->update_added;
	x->sid = a->sid;
	x->priority = a->priority;
	snprintf(x->classification, sizeof(x->classification), "%s", a->classification);
	snprintf(x->category, sizeof(x->category), "%s", a->category);
	snprintf(x->src, sizeof(x->src), "%s", a->src);
	snprintf(x->src_ip, sizeof(x->src_ip), "%s", a->src_ip ? a->src_ip : "-");
	snprintf(x->dest_ip, sizeof(x->dest_ip), "%s", a->dest_ip ? a->dest_ip : "-");
	x->src_port = a->src_port;
	x->dest_port = a->dest_port;
	x->flow_id = a->flow_id;
	x->pcap_cnt = a->pcap_cnt;
	x->truncated = a->metadata_truncated;
	x->folded = a->folded;
	x->fold = a->fold;
	x->n_ids = a->client_ids.n;
	x->n_pub = a->publish.n;
	x->n_sub = a->subscribe.n;
	for (uint32_t i = 0; i < a->publish.n; i++)
		x->pub_sum += a->publish.v[i].count;
	assert_non_null(a->rule_raw);
	cat_strs(x->meta, sizeof(x->meta), "ids", a->client_ids);
	cat_strs(x->meta, sizeof(x->meta), "users", a->usernames);
	cat_strs(x->meta, sizeof(x->meta), "pass", a->passwords);
	cat_counts(x->meta, sizeof(x->meta), "pub", a->publish);
	cat(x->meta, sizeof(x->meta), " ");
	cat_counts(x->meta, sizeof(x->meta), "sub", a->subscribe);
	cat(x->meta, sizeof(x->meta), " ");
	cat_counts(x->meta, sizeof(x->meta), "unsub", a->unsubscribe);
}

/* ---- a detector over a rule text ---- */

struct fx {
	struct ruleset *rs;
	struct detect *d;
	struct arec rec;
};

static void fx_init_cfg(struct fx *x, const char *rules,
			const struct detect_cfg *cfg)
{
	struct rule_vars vars;
	memset(x, 0, sizeof(*x));
	rule_vars_default(&vars);
	x->rs = ruleset_new(&vars);
	assert_non_null(x->rs);
	assert_int_equal(ruleset_load_classification(x->rs,
		MQTTIDS_SOURCE_RULES_DIR "/classification.config", stderr), 0);
	assert_int_equal(ruleset_load_string(x->rs, "test", rules, stderr), 0);
	assert_true(ruleset_count(x->rs) > 0);
	/* The rules and the takeover detector (the core one), as with
	 * --no-detectors. */
	struct detect_detectors dd = { .data_off = true, .log = stderr };
	struct detect_emit emit = { rec_emit, NULL, &x->rec };
	int err;
	x->d = detect_new(cfg, x->rs, &dd, emit, &err);
	assert_non_null(x->d);
}

static void fx_init(struct fx *x, const char *rules)
{
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	fx_init_cfg(x, rules, &cfg);
}

static void fx_free(struct fx *x)
{
	detect_free(x->d);
	ruleset_free(x->rs);
}

static const struct detect_stats *st_of(struct fx *x)
{
	return detect_stats(x->d);
}

/* ---- connections and messages built by hand ---- */

/* One client connection to the broker 10.0.0.1:1883. */
struct conn {
	struct flow f;
	struct mqtt_state st;
	char cid[300], user[300];
};

static void conn_init(struct conn *c, uint64_t id, const char *cli_ip,
		      uint16_t cport, const char *cid, const char *user)
{
	memset(c, 0, sizeof(*c));
	c->f.id = id;
	c->f.family = strchr(cli_ip, ':') ? 6 : 4;
	int af = c->f.family == 4 ? AF_INET : AF_INET6;
	assert_int_equal(inet_pton(af, cli_ip, c->f.cli), 1);
	assert_int_equal(inet_pton(af, c->f.family == 4 ? "10.0.0.1" : "fd00::1",
				   c->f.srv), 1);
	c->f.cport = cport;
	c->f.sport = 1883;
	c->f.app = FLOW_APP_MQTT;
	snprintf(c->f.cli_str, sizeof(c->f.cli_str), "%s", cli_ip);
	snprintf(c->f.srv_str, sizeof(c->f.srv_str), "%s",
		 c->f.family == 4 ? "10.0.0.1" : "fd00::1");
	if (cid) {
		snprintf(c->cid, sizeof(c->cid), "%s", cid);
		c->st.client_id = c->cid;
	}
	if (user) {
		snprintf(c->user, sizeof(c->user), "%s", user);
		c->st.username = c->user;
	}
	c->st.connect_seen = true;
	c->f.mqtt = &c->st;
}

static uint64_t pcap_cnt;

/* A DET_MQTT event of c in direction toclient, as the engine builds it. */
static struct det_event ev_of(struct conn *c, bool toclient,
			      const struct mqtt_msg *m, uint64_t ts)
{
	struct det_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = DET_MQTT;
	ev.ts_us = ts;
	ev.pcap_cnt = ++pcap_cnt;
	ev.family = c->f.family;
	ev.src = toclient ? c->f.srv : c->f.cli;
	ev.dst = toclient ? c->f.cli : c->f.srv;
	ev.sport = toclient ? c->f.sport : c->f.cport;
	ev.dport = toclient ? c->f.cport : c->f.sport;
	ev.src_str = toclient ? c->f.srv_str : c->f.cli_str;
	ev.dst_str = toclient ? c->f.cli_str : c->f.srv_str;
	ev.server = toclient ? DET_SERVER_SRC : DET_SERVER_DST;
	ev.flow = &c->f;
	ev.st = &c->st;
	ev.toclient = toclient;
	ev.msg = m;
	return ev;
}

static void send_msg(struct fx *x, struct conn *c, bool toclient,
		     const struct mqtt_msg *m, uint64_t ts)
{
	struct det_event ev = ev_of(c, toclient, m, ts);
	detect_event(x->d, &ev);
}

static struct slice sl(const char *s)
{
	struct slice v = { (const uint8_t *)s, s ? strlen(s) : 0 };
	return v;
}

static struct mqtt_msg msg_connect(const char *cid, const char *user,
				   const char *pass)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = MQTT_CONNECT;
	m.version = m.protocol_version = 4;
	m.protocol_name = sl("MQTT");
	m.keepalive = 60;
	m.client_id = sl(cid);
	m.has_username = user != NULL;
	m.username = sl(user);
	m.has_password = pass != NULL;
	m.password = sl(pass);
	return m;
}

static struct mqtt_msg msg_connack(uint8_t rc)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = MQTT_CONNACK;
	m.version = 4;
	m.return_code = rc;
	m.has_reason_code = true; /* as mqtt_parse.c sets it for CONNACK */
	m.reason_code = rc;
	return m;
}

static struct mqtt_msg msg_publish(const char *topic, uint8_t qos)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = MQTT_PUBLISH;
	m.version = 4;
	m.qos = qos;
	m.flags = (uint8_t)(qos << 1);
	m.topic = sl(topic);
	m.payload = sl("21.5");
	m.has_msg_id = qos > 0;
	m.msg_id = qos ? 7 : 0;
	return m;
}

/* tv[] must outlive the message. */
static struct mqtt_msg msg_subscribe(uint8_t type, struct mqtt_topic *tv,
				     const char *const *filters, uint32_t n,
				     uint8_t qos)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.version = 4;
	m.flags = 2;
	m.qos = 1;
	m.has_msg_id = true;
	m.msg_id = 1;
	for (uint32_t i = 0; i < n; i++) {
		tv[i].name = sl(filters[i]);
		tv[i].opts = qos;
	}
	m.topics = tv;
	m.n_topics = n;
	return m;
}

static struct mqtt_msg msg_disconnect(void)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = MQTT_DISCONNECT;
	m.version = 4;
	return m;
}

static bool is_uuid(const char *u)
{
	if (strlen(u) != 32)
		return false;
	for (int i = 0; i < 32; i++)
		if (!strchr("0123456789abcdef", u[i]))
			return false;
	return u[12] == '4';
}

/* ---- seed figures ---- */

/*
 * Fig. 14-16: five refused connections (CONNACK 5) from 172.27.67.201
 * within 60 s: one alert at the fifth, total 5, the client ids of both
 * tools the attacker used, its user name, no password.
 */
static void test_brute_force_seed(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_BRUTE);
	const char *cids[5] = { "mqtt-explorer-ddf55658", "mqtt-explorer-ddf55658",
				"mqttx_88f6220f", "mqtt-explorer-ddf55658",
				"mqttx_88f6220f" };
	uint64_t t0 = S(1662363001) + 958344;
	uint64_t ts[5] = { t0, t0 + S(3), t0 + S(3) + 1000, t0 + S(4),
			   t0 + S(4) + 291769 };
	struct conn c[5];
	struct mqtt_msg ok = msg_connack(0), refused = msg_connack(5);
	/* An accepted connection of the same host does not count. */
	struct conn good;
	conn_init(&good, 99, "172.27.67.201", 54770, "mqtt-explorer-ddf55658",
		  "mqtt-user");
	send_msg(&x, &good, true, &ok, t0 - S(1));
	for (int i = 0; i < 5; i++) {
		conn_init(&c[i], 100 + (uint64_t)i, "172.27.67.201",
			  (uint16_t)(54772 + i), cids[i], "mqtt-user");
		send_msg(&x, &c[i], true, &refused, ts[i]);
		assert_int_equal(x.rec.n, i < 4 ? 0 : 1);
	}
	detect_finish(x.d, 0);
	assert_int_equal(x.rec.n, 1);
	const struct ralert *a = &x.rec.v[0];
	assert_false(a->update);
	assert_int_equal(a->total, 5);
	assert_int_equal(a->first_us, t0);
	assert_int_equal(a->ts_us, ts[4]);
	assert_string_equal(a->src, "172.27.67.201");
	assert_string_equal(a->classification, "Brute Force (Auth)");
	assert_string_equal(a->category, "Brute Force (Auth)"); /* no classtype */
	assert_int_equal(a->priority, 3);
	assert_true(is_uuid(a->uuid));
	assert_string_equal(a->meta,
			    "ids=[mqtt-explorer-ddf55658,mqttx_88f6220f] "
			    "users=[mqtt-user] pass=[] pub={} sub={} unsub={}");
	assert_false(a->truncated);
	/* The flow tuple is the fifth CONNACK's: broker -> client. */
	assert_string_equal(a->src_ip, "10.0.0.1");
	assert_string_equal(a->dest_ip, "172.27.67.201");
	assert_int_equal(a->src_port, 1883);
	assert_int_equal(a->dest_port, 54776);
	assert_int_equal(a->flow_id, 104);
	assert_int_equal(a->pcap_cnt, pcap_cnt);
	const struct detect_stats *s = st_of(&x);
	assert_int_equal(s->events, 6);
	assert_int_equal(s->matches, 5);
	assert_int_equal(s->alerts, 1);
	assert_int_equal(s->updates, 0);
	fx_free(&x);
}

/* A rule's classtype gives the alert its category, as Suricata's. */
static void test_category_from_classtype(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, "mqtt $SELF -> any dst; name: Brute Force (Auth); "
		    "classtype: attempted-user; msg_type: connack; retcode: 5\n");
	struct mqtt_msg refused = msg_connack(5);
	struct conn c;
	conn_init(&c, 1, "172.27.67.201", 50000, "mqttx_88f6220f", NULL);
	send_msg(&x, &c, true, &refused, S(1000));
	assert_int_equal(x.rec.n, 1);
	assert_string_equal(x.rec.v[0].classification, "Brute Force (Auth)");
	assert_string_equal(x.rec.v[0].category, "Attempted User Privilege Gain");
	assert_int_equal(x.rec.v[0].priority, 3); /* the classtype's: high */
	fx_free(&x);
}

/* A sixth failure during the cooldown is added: the end of input reports it. */
static void test_brute_force_update_at_finish(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_BRUTE);
	struct mqtt_msg refused = msg_connack(5);
	struct conn c[6];
	for (int i = 0; i < 6; i++) {
		conn_init(&c[i], 1 + (uint64_t)i, "172.27.67.201",
			  (uint16_t)(50000 + i), i == 5 ? "late-tool" : "mqttx_88f6220f",
			  NULL);
		send_msg(&x, &c[i], true, &refused, S(1000 + i));
	}
	assert_int_equal(x.rec.n, 1);
	assert_int_equal(x.rec.v[0].total, 5);
	detect_tick(x.d, S(1030)); /* cooldown (= interval, 60 s) not over */
	assert_int_equal(x.rec.n, 1);
	detect_finish(x.d, 0);
	assert_int_equal(x.rec.n, 2);
	const struct ralert *u = &x.rec.v[1];
	assert_true(u->update);
	assert_string_equal(u->uuid, x.rec.v[0].uuid);
	assert_int_equal(u->total, 6);
	assert_int_equal(u->added, 1);
	assert_int_equal(u->first_us, S(1000));
	/* Input ended before the cooldown: dated at the latest time seen (the tick). */
	assert_int_equal(u->ts_us, S(1030));
	assert_string_equal(u->src, "172.27.67.201");
	assert_string_equal(u->meta, "ids=[mqttx_88f6220f,late-tool] users=[] "
				     "pass=[] pub={} sub={} unsub={}");
	assert_string_equal(u->dest_ip, "172.27.67.201");
	assert_int_equal(u->dest_port, 50005);
	assert_int_equal(u->flow_id, 6);
	/* Nothing is reported twice. */
	detect_finish(x.d, 0);
	assert_int_equal(x.rec.n, 2);
	assert_int_equal(st_of(&x)->updates, 1);
	fx_free(&x);
}

/*
 * Fig. 12-13: 25 publishes within 5 s: the alert at the 20th says 20, and
 * when the cooldown (default: the interval) ends an update says 25.
 */
static void test_excessive_publish_seed(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_PUBLISH);
	struct conn c;
	conn_init(&c, 7, "172.16.2.82", 50123, "ESP32_99C490", "mqtt-user");
	static const char *const topics[5] = {
		"smx/device/051001006/single_ts/20220812/151001006Z1",
		"smx/device/051001006/position",
		"smx/device/051001006/sync_list",
		"smx/device/051001006/single_ts/20220812/251001006Z1",
		"smx/device/051001006/status",
	};
	uint64_t t0 = S(1660157050) + 176617;
	uint64_t fired = 0;
	for (int i = 0; i < 25; i++) {
		struct mqtt_msg m = msg_publish(topics[i % 5], 2);
		uint64_t ts = t0 + MS(190) * (uint64_t)i;
		send_msg(&x, &c, false, &m, ts);
		if (i == 19)
			fired = ts;
		assert_int_equal(x.rec.n, i < 19 ? 0 : 1);
	}
	const struct ralert *a = &x.rec.v[0];
	assert_int_equal(a->total, 20);
	assert_int_equal(a->first_us, t0);
	assert_int_equal(a->ts_us, fired);
	assert_int_equal(a->sid, 1000004);
	assert_string_equal(a->src, "172.16.2.82");
	assert_int_equal(a->n_pub, 5);
	assert_int_equal(a->pub_sum, 20);
	assert_non_null(strstr(a->meta, "\"smx/device/051001006/position (QOS: 2)\":4"));
	assert_non_null(strstr(a->meta, "ids=[ESP32_99C490] users=[mqtt-user]"));
	/* The cooldown ends 5 s after the alert: one update with 25. */
	detect_tick(x.d, fired + S(5) - 1);
	assert_int_equal(x.rec.n, 1);
	detect_tick(x.d, fired + S(5));
	assert_int_equal(x.rec.n, 2);
	const struct ralert *u = &x.rec.v[1];
	assert_true(u->update);
	assert_string_equal(u->uuid, a->uuid);
	assert_int_equal(u->total, 25);
	assert_int_equal(u->added, 5);
	assert_int_equal(u->first_us, t0);
	assert_int_equal(u->ts_us, fired + S(5));
	assert_int_equal(u->pub_sum, 25);
	assert_string_equal(u->src, "172.16.2.82");
	assert_string_equal(u->src_ip, "172.16.2.82"); /* the last publish */
	assert_int_equal(u->dest_port, 1883);
	/* Counting starts again: 19 more publishes raise nothing. */
	for (int i = 0; i < 19; i++) {
		struct mqtt_msg m = msg_publish(topics[0], 0);
		send_msg(&x, &c, false, &m, fired + S(6) + MS(10) * (uint64_t)i);
	}
	detect_finish(x.d, 0);
	assert_int_equal(x.rec.n, 2);
	assert_int_equal(st_of(&x)->alerts, 1);
	assert_int_equal(st_of(&x)->updates, 1);
	fx_free(&x);
}

/* The next matching event after the cooldown end also sends the update. */
static void test_update_on_next_event(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_PUBLISH);
	struct conn c;
	conn_init(&c, 7, "172.16.2.82", 50123, "ESP32_99C490", NULL);
	struct mqtt_msg m = msg_publish("a/b", 1);
	for (int i = 0; i < 22; i++)
		send_msg(&x, &c, false, &m, S(100) + MS(100) * (uint64_t)i);
	assert_int_equal(x.rec.n, 1);
	/* 100 s later, no tick in between. */
	send_msg(&x, &c, false, &m, S(200));
	assert_int_equal(x.rec.n, 2);
	assert_true(x.rec.v[1].update);
	assert_int_equal(x.rec.v[1].total, 22);
	assert_int_equal(x.rec.v[1].ts_us, S(100) + MS(1900) + S(5));
	detect_finish(x.d, 0);
	assert_int_equal(x.rec.n, 2);
	fx_free(&x);
}

/* Fig. 6-7: cooldown 0 and no threshold: one alert per matching SUBSCRIBE. */
static void test_protected_topic_every_match(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_PROTECTED);
	struct conn c;
	conn_init(&c, 3, "203.0.113.205", 50333, "mqtt-explorer-ddf55658",
		  "mqtt-user");
	struct mqtt_topic tv[2];
	static const char *const sys[1] = { "$SYS/#" };
	static const char *const other[1] = { "sensors/+/temp" };
	for (int i = 0; i < 3; i++) {
		struct mqtt_msg m = msg_subscribe(MQTT_SUBSCRIBE, tv, sys, 1, 0);
		send_msg(&x, &c, false, &m, S(1661938275) + MS(639) + MS(10) * (uint64_t)i);
		struct mqtt_msg o = msg_subscribe(MQTT_SUBSCRIBE, tv, other, 1, 0);
		send_msg(&x, &c, false, &o, S(1661938275) + MS(640) + MS(10) * (uint64_t)i);
	}
	detect_finish(x.d, 0);
	assert_int_equal(x.rec.n, 3);
	for (int i = 0; i < 3; i++) {
		const struct ralert *a = &x.rec.v[i];
		assert_false(a->update);
		assert_int_equal(a->total, 1);
		assert_int_equal(a->first_us, a->ts_us);
		assert_string_equal(a->src, "203.0.113.205");
		assert_int_equal(a->priority, 4);
		assert_string_equal(a->meta,
				    "ids=[mqtt-explorer-ddf55658] users=[mqtt-user] "
				    "pass=[] pub={} sub={\"$SYS/# (QOS: 0)\":1} unsub={}");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(a->uuid, x.rec.v[j].uuid);
	}
	assert_int_equal(st_of(&x)->updates, 0);
	fx_free(&x);
}

/*
 * The alert output bound: a rule that alerts on every match raises at
 * most rule_alert_rate alerts per window; the rest are folded into one
 * alert per window that counts them, so nothing is hidden. Every match
 * is accounted for: written alerts' totals plus the folds' totals.
 */
static void test_rule_alert_rate_folds(void **state)
{
	(void)state;
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	cfg.rule_alert_rate = 5;
	cfg.rule_alert_interval_s = 60;
	struct fx x;
	fx_init_cfg(&x, RULE_PROTECTED, &cfg);
	struct conn c;
	conn_init(&c, 3, "203.0.113.205", 50333, "explorer", "u");
	struct mqtt_topic tv[1];
	static const char *const sys[1] = { "$SYS/#" };
	/* 20 matches in the first 10 s, 3 in the next window. */
	for (int i = 0; i < 20; i++) {
		struct mqtt_msg m = msg_subscribe(MQTT_SUBSCRIBE, tv, sys, 1, 0);
		send_msg(&x, &c, false, &m, S(1000) + MS(500) * (uint64_t)i);
	}
	assert_int_equal(x.rec.n, 5);
	/* The window ends: its fold is written at its end, dated there. */
	detect_tick(x.d, S(1061));
	assert_int_equal(x.rec.n, 6);
	const struct ralert *f = &x.rec.v[5];
	assert_false(f->update);
	assert_int_equal(f->folded, 15);
	assert_int_equal(f->total, 15);
	assert_int_equal(f->ts_us, S(1060));
	assert_int_equal(f->first_us, S(1000) + MS(500) * 5);
	assert_string_equal(f->src, "203.0.113.205");
	assert_int_equal(f->sid, 1000001);
	for (int i = 0; i < 3; i++) {
		struct mqtt_msg m = msg_subscribe(MQTT_SUBSCRIBE, tv, sys, 1, 0);
		send_msg(&x, &c, false, &m, S(1100) + (uint64_t)i);
	}
	detect_finish(x.d, S(1200));
	assert_int_equal(x.rec.n, 9);
	uint64_t total = 0;
	for (unsigned i = 0; i < x.rec.n; i++) {
		assert_int_equal(x.rec.v[i].folded, i == 5 ? 15 : 0);
		total += x.rec.v[i].total;
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(x.rec.v[i].uuid, x.rec.v[j].uuid);
	}
	assert_int_equal(total, 23);
	assert_int_equal(st_of(&x)->alerts, 8);
	assert_int_equal(st_of(&x)->alerts_folded, 15);
	assert_int_equal(st_of(&x)->folds, 1);
	fx_free(&x);
}

/*
 * The bound on all rules together: two rules that each alert on every
 * match share detect.alert-rate; what is over it is folded per rule.
 */
static void test_alert_rate_all_rules(void **state)
{
	(void)state;
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	cfg.rule_alert_rate = 0;
	cfg.alert_rate = 4;
	struct fx x;
	fx_init_cfg(&x, RULE_PROTECTED
			"mqtt any -> $SELF src; name: Any sub; priority: 1; "
			"cooldown: 0; msg_type: subscribe; sid: 8\n", &cfg);
	struct conn c;
	conn_init(&c, 3, "203.0.113.205", 50333, "explorer", "u");
	struct mqtt_topic tv[1];
	static const char *const sys[1] = { "$SYS/#" };
	for (int i = 0; i < 5; i++) {
		struct mqtt_msg m = msg_subscribe(MQTT_SUBSCRIBE, tv, sys, 1, 0);
		send_msg(&x, &c, false, &m, S(10) + (uint64_t)i);
	}
	detect_finish(x.d, S(20));
	/* 10 alerts due: 4 written, 6 folded into one fold per rule. */
	uint64_t folded = 0, written = 0, total = 0;
	for (unsigned i = 0; i < x.rec.n; i++) {
		folded += x.rec.v[i].folded;
		written += !x.rec.v[i].folded;
		total += x.rec.v[i].total;
	}
	assert_int_equal(written, 4);
	assert_int_equal(folded, 6);
	assert_int_equal(x.rec.n, 6);
	assert_int_equal(total, 10);
	assert_int_equal(st_of(&x)->folds, 2);
	fx_free(&x);
}

/*
 * One alert per rule per window (rule_alert_rate 1), a rule on SUBSCRIBE
 * to $SYS/# with the given cooldown, and two clients a and b.
 */
static void fold_fixture(struct fx *x, const char *cooldown, struct conn *a,
			 struct conn *b)
{
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	cfg.rule_alert_rate = 1;
	char rule[256];
	snprintf(rule, sizeof(rule), "mqtt any -> $SELF src; name: Sys; "
		 "priority: 2; cooldown: %s; msg_type: subscribe; "
		 "topics: $SYS/#; sid: 7\n", cooldown);
	fx_init_cfg(x, rule, &cfg);
	conn_init(a, 1, "198.51.100.1", 40001, "a", "u");
	conn_init(b, 2, "198.51.100.2", 40002, "b", "u");
}

/*
 * A folded alert of a rule with a cooldown: its later matches join the
 * fold (no update for an alert never written), and the fold is written
 * at the end of input.
 */
static void test_rule_alert_rate_folds_updates(void **state)
{
	(void)state;
	struct fx x;
	struct conn a, b;
	fold_fixture(&x, "600", &a, &b);
	struct mqtt_topic tv[1];
	static const char *const sys[1] = { "$SYS/#" };
	for (int i = 0; i < 4; i++) {
		struct mqtt_msg m = msg_subscribe(MQTT_SUBSCRIBE, tv, sys, 1, 0);
		send_msg(&x, &a, false, &m, S(10) + (uint64_t)i);
		send_msg(&x, &b, false, &m, S(10) + MS(1) + (uint64_t)i);
	}
	detect_finish(x.d, S(20));
	/* a's alert and its update; b's alert folded with its 3 more. */
	assert_int_equal(x.rec.n, 3);
	assert_false(x.rec.v[0].update);
	assert_string_equal(x.rec.v[0].src, "198.51.100.1");
	assert_true(x.rec.v[1].update);
	assert_int_equal(x.rec.v[1].total, 4);
	assert_int_equal(x.rec.v[2].folded, 1);
	assert_int_equal(x.rec.v[2].total, 4);
	assert_string_equal(x.rec.v[2].src, "198.51.100.2");
	assert_int_equal(st_of(&x)->updates, 1);
	fx_free(&x);
}

/*
 * A folded alert whose cooldown ends after its fold was written: its
 * later matches make a fold of their own (folded_alerts 0), one per
 * window, never an ordinary alert.
 */
static void test_fold_of_late_matches(void **state)
{
	(void)state;
	struct fx x;
	struct conn a, b;
	fold_fixture(&x, "120", &a, &b);
	struct mqtt_topic tv[1];
	static const char *const sys[1] = { "$SYS/#" };
	struct mqtt_msg m = msg_subscribe(MQTT_SUBSCRIBE, tv, sys, 1, 0);
	send_msg(&x, &a, false, &m, S(10));
	send_msg(&x, &b, false, &m, S(11)); /* over the rate: folded */
	detect_tick(x.d, S(71));             /* its window ends: the fold */
	assert_int_equal(x.rec.n, 2);
	assert_true(x.rec.v[1].fold);
	assert_int_equal(x.rec.v[1].folded, 1);
	send_msg(&x, &b, false, &m, S(80)); /* added to b's folded alert */
	for (uint64_t t = 100; t <= 400; t += 10)
		detect_tick(x.d, S(t));
	detect_finish(x.d, S(400));
	/* a's update is not there (a added nothing); b's late match is one
	 * fold with no alert of its own, written once. */
	assert_int_equal(x.rec.n, 3);
	const struct ralert *f = &x.rec.v[2];
	assert_true(f->fold);
	assert_int_equal(f->folded, 0);
	assert_int_equal(f->total, 1);
	assert_false(f->update);
	fx_free(&x);
}

/* ---- takeover ---- */

/*
 * The testbed's takeover: the victim 10.77.0.10 is connected; the attacker
 * 10.77.99.66 connects with its client id (one alert); the broker drops the
 * victim, which reconnects from its own address (no alert).
 */
static void test_takeover_fires_once(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_TAKEOVER);
	struct mqtt_msg ok = msg_connack(0);
	struct mqtt_msg con = msg_connect("dht22-kitchen", "sensor", "pw");
	struct conn victim, attacker, victim2;
	conn_init(&victim, 1, "10.77.0.10", 40001, "dht22-kitchen", "sensor");
	conn_init(&attacker, 2, "10.77.99.66", 50001, "dht22-kitchen", "sensor");
	conn_init(&victim2, 3, "10.77.0.10", 40002, "dht22-kitchen", "sensor");

	send_msg(&x, &victim, false, &con, S(10));
	send_msg(&x, &victim, true, &ok, S(10) + 500);
	assert_int_equal(x.rec.n, 0);

	send_msg(&x, &attacker, false, &con, S(63));
	assert_int_equal(x.rec.n, 1);
	send_msg(&x, &attacker, true, &ok, S(63) + 400);
	/* The broker closes the victim's connection; it comes back. */
	detect_flow_end(x.d, &victim.f);
	send_msg(&x, &victim2, false, &con, S(64));
	send_msg(&x, &victim2, true, &ok, S(64) + 300);
	/* The attacker's publish loop ends: its connection closes. */
	detect_flow_end(x.d, &attacker.f);
	detect_finish(x.d, 0);

	assert_int_equal(x.rec.n, 1);
	const struct ralert *a = &x.rec.v[0];
	assert_string_equal(a->src, "10.77.99.66");
	assert_int_equal(a->sid, 1000017);
	assert_int_equal(a->total, 1);
	assert_int_equal(a->flow_id, 2);
	assert_string_equal(a->meta, "ids=[dht22-kitchen] users=[sensor] pass=[] "
				     "pub={} sub={} unsub={}");
	assert_int_equal(st_of(&x)->takeovers, 1);
	fx_free(&x);
}

/*
 * The victim had not been dropped yet when it reconnected (the testbed's
 * live broker): still one alert, and the victim keeps its id.
 */
static void test_takeover_victim_reconnects_while_open(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_TAKEOVER);
	struct mqtt_msg ok = msg_connack(0);
	struct mqtt_msg con = msg_connect("dht22-kitchen", NULL, NULL);
	struct conn victim, attacker, victim2;
	conn_init(&victim, 1, "10.77.0.10", 40001, "dht22-kitchen", NULL);
	conn_init(&attacker, 2, "10.77.99.66", 50001, "dht22-kitchen", NULL);
	conn_init(&victim2, 3, "10.77.0.10", 40002, "dht22-kitchen", NULL);
	send_msg(&x, &victim, false, &con, S(10));
	send_msg(&x, &victim, true, &ok, S(10));
	send_msg(&x, &attacker, false, &con, S(20));
	send_msg(&x, &attacker, true, &ok, S(20));
	send_msg(&x, &victim2, false, &con, S(21));
	send_msg(&x, &victim2, true, &ok, S(21));
	assert_int_equal(st_of(&x)->takeovers, 1);
	/* The old flow ends after the new one took the id over. */
	detect_flow_end(x.d, &victim.f);
	/* The attacker tries again from another host: the victim still holds it. */
	struct conn attacker2;
	conn_init(&attacker2, 4, "10.77.99.67", 50002, "dht22-kitchen", NULL);
	send_msg(&x, &attacker2, false, &con, S(30));
	assert_int_equal(st_of(&x)->takeovers, 2);
	assert_int_equal(x.rec.n, 2);
	assert_string_equal(x.rec.v[1].src, "10.77.99.67");
	fx_free(&x);
}

/*
 * A device reconnects from the same address after a Wi-Fi drop while the
 * broker still has its old connection open: no alert, and the new
 * connection becomes the holder.
 */
static void test_takeover_same_ip_reconnect(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_TAKEOVER);
	struct mqtt_msg ok = msg_connack(0);
	struct mqtt_msg con = msg_connect("esp-livingroom", NULL, NULL);
	struct conn c1, c2, other;
	conn_init(&c1, 1, "10.77.0.20", 40001, "esp-livingroom", NULL);
	conn_init(&c2, 2, "10.77.0.20", 40002, "esp-livingroom", NULL);
	send_msg(&x, &c1, false, &con, S(10));
	send_msg(&x, &c1, true, &ok, S(10));
	send_msg(&x, &c2, false, &con, S(100));
	send_msg(&x, &c2, true, &ok, S(100));
	assert_int_equal(x.rec.n, 0);
	/* The broker times the old connection out: c2 still holds the id. */
	detect_flow_end(x.d, &c1.f);
	conn_init(&other, 3, "10.77.99.66", 50001, "esp-livingroom", NULL);
	send_msg(&x, &other, false, &con, S(200));
	assert_int_equal(x.rec.n, 1);
	assert_string_equal(x.rec.v[0].src, "10.77.99.66");
	/* Once c2 ends, nobody holds it: a new connection is no takeover. */
	detect_flow_end(x.d, &c2.f);
	struct conn other2;
	conn_init(&other2, 4, "10.77.99.68", 50002, "esp-livingroom", NULL);
	send_msg(&x, &other2, false, &con, S(300));
	assert_int_equal(x.rec.n, 1);
	assert_int_equal(st_of(&x)->takeovers, 1);
	fx_free(&x);
}

/* DISCONNECT releases the id; refused and empty ids never hold. */
static void test_takeover_release_and_ignore(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_TAKEOVER);
	struct mqtt_msg ok = msg_connack(0), refused = msg_connack(5);
	struct mqtt_msg disc = msg_disconnect();
	struct mqtt_msg con = msg_connect("dev-a", NULL, NULL);
	struct mqtt_msg empty = msg_connect("", NULL, NULL);
	struct conn a, b, e1, e2, r1, r2;
	conn_init(&a, 1, "10.77.0.30", 40001, "dev-a", NULL);
	conn_init(&b, 2, "10.77.99.66", 50001, "dev-a", NULL);
	send_msg(&x, &a, false, &con, S(1));
	send_msg(&x, &a, true, &ok, S(1));
	send_msg(&x, &a, false, &disc, S(2)); /* a leaves cleanly */
	send_msg(&x, &b, false, &con, S(3));
	assert_int_equal(x.rec.n, 0);
	/* Empty client ids (server-assigned) are not tracked. */
	conn_init(&e1, 3, "10.77.0.31", 40002, "", NULL);
	conn_init(&e2, 4, "10.77.99.66", 50002, "", NULL);
	send_msg(&x, &e1, false, &empty, S(4));
	send_msg(&x, &e1, true, &ok, S(4));
	send_msg(&x, &e2, false, &empty, S(5));
	assert_int_equal(x.rec.n, 0);
	/* A refused CONNECT does not make its connection the holder. */
	struct mqtt_msg con_r = msg_connect("dev-r", NULL, NULL);
	conn_init(&r1, 5, "10.77.99.70", 50003, "dev-r", NULL);
	conn_init(&r2, 6, "10.77.0.32", 40003, "dev-r", NULL);
	send_msg(&x, &r1, false, &con_r, S(6));
	send_msg(&x, &r1, true, &refused, S(6));
	send_msg(&x, &r2, false, &con_r, S(7));
	assert_int_equal(x.rec.n, 0);
	assert_int_equal(st_of(&x)->takeovers, 0);
	fx_free(&x);
}

/* ---- uuids ---- */

static void run_uuid_scenario(struct fx *x)
{
	struct conn c;
	conn_init(&c, 9, "203.0.113.9", 50999, "probe", NULL);
	struct mqtt_topic tv[1];
	static const char *const sys[1] = { "$SYS/broker/version" };
	for (int i = 0; i < 4; i++) {
		struct mqtt_msg m = msg_subscribe(MQTT_SUBSCRIBE, tv, sys, 1, 1);
		send_msg(x, &c, false, &m, S(50) + MS(3) * (uint64_t)i);
	}
	for (int i = 0; i < 21; i++) {
		struct mqtt_msg m = msg_publish("x/y", 0);
		send_msg(x, &c, false, &m, S(60) + MS(3) * (uint64_t)i);
	}
	detect_finish(x->d, 0);
}

static void test_uuid_deterministic(void **state)
{
	(void)state;
	struct fx x1, x2, x3;
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	fx_init_cfg(&x1, RULE_PROTECTED RULE_PUBLISH, &cfg);
	fx_init_cfg(&x2, RULE_PROTECTED RULE_PUBLISH, &cfg);
	cfg.uuid_seed = 0x5eed1234abcdull;
	fx_init_cfg(&x3, RULE_PROTECTED RULE_PUBLISH, &cfg);
	run_uuid_scenario(&x1);
	run_uuid_scenario(&x2);
	run_uuid_scenario(&x3);
	assert_int_equal(x1.rec.n, 6); /* 4 protected, 1 publish, 1 update */
	assert_int_equal(x2.rec.n, x1.rec.n);
	assert_int_equal(x3.rec.n, x1.rec.n);
	for (unsigned i = 0; i < x1.rec.n; i++) {
		assert_true(is_uuid(x1.rec.v[i].uuid));
		assert_true(is_uuid(x3.rec.v[i].uuid));
		assert_string_equal(x1.rec.v[i].uuid, x2.rec.v[i].uuid);
		assert_string_not_equal(x1.rec.v[i].uuid, x3.rec.v[i].uuid);
		/* Alerts of one run differ, even for identical content. */
		for (unsigned j = 0; j < i; j++)
			if (!x1.rec.v[i].update)
				assert_string_not_equal(x1.rec.v[i].uuid,
							x1.rec.v[j].uuid);
	}
	assert_true(x1.rec.v[5].update);
	assert_string_equal(x1.rec.v[5].uuid, x1.rec.v[4].uuid);
	fx_free(&x1);
	fx_free(&x2);
	fx_free(&x3);
}

/* ---- metadata ---- */

static void test_metadata_caps(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, "mqtt any -> $SELF src; name: Flood; priority: 1; "
		    "threshold: 60; interval: 60; msg_type: publish\n");
	struct conn c[20];
	char topic[64], id[32];
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "client-%02d", i);
		conn_init(&c[i], 1 + (uint64_t)i, "203.0.113.50", (uint16_t)(40000 + i),
			  id, i < 2 ? "u" : NULL);
	}
	/* 40 topics from 20 client ids, then one 1000-byte topic. */
	for (int i = 0; i < 59; i++) {
		snprintf(topic, sizeof(topic), "flood/%02d", i % 40);
		struct mqtt_msg m = msg_publish(topic, (uint8_t)(i % 2));
		send_msg(&x, &c[i % 20], false, &m, S(10) + MS(i));
	}
	assert_int_equal(x.rec.n, 0);
	char *big = malloc(1001);
	memset(big, 'L', 1000);
	big[1000] = 0;
	struct mqtt_msg m = msg_publish(big, 1);
	send_msg(&x, &c[0], false, &m, S(11));
	free(big);
	assert_int_equal(x.rec.n, 1);
	const struct ralert *a = &x.rec.v[0];
	assert_int_equal(a->total, 60);
	assert_int_equal(a->n_ids, 16);
	assert_int_equal(a->n_pub, 32);
	assert_true(a->truncated);
	assert_non_null(strstr(a->meta, "users=[u] "));
	assert_true(st_of(&x)->metadata_dropped > 0);
	fx_free(&x);
}

/* A long topic is cut to 256 bytes (whole UTF-8 characters) plus the QoS. */
static void test_metadata_long_topic(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, "mqtt any -> $SELF src; name: Any publish; priority: 1; "
		    "cooldown: 0; msg_type: publish\n");
	struct conn c;
	conn_init(&c, 1, "203.0.113.51", 40000, "c", NULL);
	char big[400];
	memset(big, 'a', 255);
	strcpy(big + 255, "\xc3\xa9tail"); /* é straddles byte 256 */
	struct mqtt_msg m = msg_publish(big, 1);
	send_msg(&x, &c, false, &m, S(1));
	assert_int_equal(x.rec.n, 1);
	char want[400];
	memset(want, 0, sizeof(want));
	strcpy(want, "pub={\"");
	memset(want + 6, 'a', 255);
	strcat(want, " (QOS: 1)\":1}");
	assert_non_null(strstr(x.rec.v[0].meta, want));
	assert_true(x.rec.v[0].truncated);
	fx_free(&x);
}

/* Passwords only when configured, only from CONNECT. */
static void test_metadata_passwords(void **state)
{
	(void)state;
	static const char *const rule =
		"mqtt any -> $SELF src; name: Connects; priority: 1; "
		"threshold: 2; interval: 60; msg_type: connect\n";
	struct detect_cfg cfg;
	for (int logp = 0; logp < 2; logp++) {
		struct fx x;
		detect_cfg_default(&cfg);
		cfg.log_passwords = logp;
		fx_init_cfg(&x, rule, &cfg);
		struct conn c1, c2;
		conn_init(&c1, 1, "203.0.113.52", 40001, "old-id", "old-user");
		conn_init(&c2, 2, "203.0.113.52", 40002, "old-id", "old-user");
		struct mqtt_msg m1 = msg_connect("cid-1", "admin", "hunter2");
		struct mqtt_msg m2 = msg_connect("cid-2", "admin", "123456");
		send_msg(&x, &c1, false, &m1, S(1));
		send_msg(&x, &c2, false, &m2, S(2));
		assert_int_equal(x.rec.n, 1);
		assert_string_equal(x.rec.v[0].meta,
				    logp ? "ids=[cid-1,cid-2] users=[admin] "
					   "pass=[hunter2,123456] pub={} sub={} unsub={}"
					 : "ids=[cid-1,cid-2] users=[admin] pass=[] "
					   "pub={} sub={} unsub={}");
		fx_free(&x);
	}
}

/* SUBSCRIBE counts each filter with its QoS; UNSUBSCRIBE without. */
static void test_metadata_sub_unsub(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, "mqtt any -> $SELF src; name: Sub; priority: 1; "
		    "threshold: 3; interval: 60; msg_type: subscribe, unsubscribe\n");
	struct conn c;
	conn_init(&c, 1, "203.0.113.53", 40000, "sub", NULL);
	struct mqtt_topic tv[2];
	static const char *const f2[2] = { "a/#", "b/+" };
	struct mqtt_msg s1 = msg_subscribe(MQTT_SUBSCRIBE, tv, f2, 2, 1);
	send_msg(&x, &c, false, &s1, S(1));
	struct mqtt_msg u1 = msg_subscribe(MQTT_UNSUBSCRIBE, tv, f2, 2, 0);
	send_msg(&x, &c, false, &u1, S(2));
	struct mqtt_msg s2 = msg_subscribe(MQTT_SUBSCRIBE, tv, f2, 1, 2);
	send_msg(&x, &c, false, &s2, S(3));
	assert_int_equal(x.rec.n, 1);
	assert_string_equal(x.rec.v[0].meta,
			    "ids=[sub] users=[] pass=[] pub={} "
			    "sub={\"a/# (QOS: 1)\":1,\"b/+ (QOS: 1)\":1,\"a/# (QOS: 2)\":1} "
			    "unsub={\"a/#\":1,\"b/+\":1}");
	fx_free(&x);
}

/* Events that left the window before the alert leave no metadata. */
static void test_metadata_window_restart(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_BRUTE);
	struct mqtt_msg refused = msg_connack(5);
	struct conn old, c[5];
	conn_init(&old, 1, "198.51.100.1", 40000, "long-ago", NULL);
	send_msg(&x, &old, true, &refused, S(100));
	for (int i = 0; i < 5; i++) {
		conn_init(&c[i], 2 + (uint64_t)i, "198.51.100.1",
			  (uint16_t)(40001 + i), "now", NULL);
		send_msg(&x, &c[i], true, &refused, S(1000) + S(i));
	}
	assert_int_equal(x.rec.n, 1);
	assert_int_equal(x.rec.v[0].total, 5);
	assert_int_equal(x.rec.v[0].first_us, S(1000));
	assert_non_null(strstr(x.rec.v[0].meta, "ids=[now] "));
	fx_free(&x);
}

/* ---- bounded state ---- */

/*
 * Two aggregate slots, three counting targets: the least recently used
 * counting tracker loses its slot, and its alert says so.
 */
static void test_aggregate_eviction(void **state)
{
	(void)state;
	struct fx x;
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	cfg.max_aggregates = 2;
	fx_init_cfg(&x, RULE_BRUTE, &cfg);
	struct mqtt_msg refused = msg_connack(5);
	struct conn c[3];
	conn_init(&c[0], 1, "198.51.100.1", 40000, "one", NULL);
	conn_init(&c[1], 2, "198.51.100.2", 40000, "two", NULL);
	conn_init(&c[2], 3, "198.51.100.3", 40000, "three", NULL);
	send_msg(&x, &c[0], true, &refused, S(1));
	send_msg(&x, &c[1], true, &refused, S(2));
	send_msg(&x, &c[2], true, &refused, S(3)); /* takes one's slot */
	assert_int_equal(st_of(&x)->aggregates_evicted, 1);
	for (int i = 0; i < 4; i++)
		send_msg(&x, &c[1], true, &refused, S(4 + i));
	assert_int_equal(x.rec.n, 1);
	assert_false(x.rec.v[0].truncated); /* two kept its slot */
	assert_string_equal(x.rec.v[0].src, "198.51.100.2");
	/* two is cooling now: its slot is pinned. one comes back and takes three's. */
	for (int i = 0; i < 4; i++)
		send_msg(&x, &c[0], true, &refused, S(10 + i));
	assert_int_equal(st_of(&x)->aggregates_evicted, 2);
	assert_int_equal(x.rec.n, 2);
	assert_string_equal(x.rec.v[1].src, "198.51.100.1");
	assert_true(x.rec.v[1].truncated);
	assert_string_equal(x.rec.v[1].meta,
			    "ids=[one] users=[] pass=[] pub={} sub={} unsub={}");
	/* Both slots are cooling: three's matches lose their metadata. */
	uint64_t dropped = st_of(&x)->metadata_dropped;
	for (int i = 0; i < 4; i++)
		send_msg(&x, &c[2], true, &refused, S(20 + i));
	assert_int_equal(x.rec.n, 3);
	assert_true(x.rec.v[2].truncated);
	assert_int_equal(x.rec.v[2].n_ids, 0);
	assert_int_equal(st_of(&x)->metadata_dropped, dropped + 4);
	/* Cooldowns end; the updates-to-be (none added) free the slots. */
	detect_tick(x.d, S(200));
	assert_int_equal(x.rec.n, 3);
	send_msg(&x, &c[2], true, &refused, S(300));
	for (int i = 0; i < 4; i++)
		send_msg(&x, &c[2], true, &refused, S(301 + i));
	assert_int_equal(x.rec.n, 4);
	assert_false(x.rec.v[3].truncated);
	assert_string_equal(x.rec.v[3].meta,
			    "ids=[three] users=[] pass=[] pub={} sub={} unsub={}");
	fx_free(&x);
}

/* A flood of distinct targets: bounded trackers; a cooling one reports first. */
static void test_tracker_eviction_flushes(void **state)
{
	(void)state;
	struct fx x;
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	cfg.max_trackers = 8;
	cfg.max_aggregates = 4;
	fx_init_cfg(&x, "mqtt any -> $SELF src; name: Sensors; priority: 3; "
			"interval: 60; msg_type: publish; topics: sensors/#\n", &cfg);
	struct mqtt_msg m = msg_publish("sensors/kitchen/temp", 1);
	struct conn a;
	conn_init(&a, 1, "203.0.113.1", 40000, "intruder", NULL);
	send_msg(&x, &a, false, &m, S(1));
	send_msg(&x, &a, false, &m, S(2));
	send_msg(&x, &a, false, &m, S(3));
	assert_int_equal(x.rec.n, 1);
	char ip[32];
	for (int i = 0; i < 2000; i++) {
		struct conn c;
		snprintf(ip, sizeof(ip), "198.18.%d.%d", i / 250, i % 250 + 1);
		conn_init(&c, 100 + (uint64_t)i, ip, 40000, NULL, NULL);
		struct mqtt_msg q = msg_publish("other/x", 0);
		send_msg(&x, &c, false, &q, S(4) + (uint64_t)i);
		if (i < 10)
			send_msg(&x, &c, false, &m, S(4) + (uint64_t)i);
	}
	/* a was evicted by the 8th new target: its update came first. */
	assert_int_equal(x.rec.n, 1 + 1 + 10);
	const struct ralert *u = &x.rec.v[8];
	assert_true(u->update);
	assert_string_equal(u->uuid, x.rec.v[0].uuid);
	assert_int_equal(u->total, 3);
	assert_int_equal(u->added, 2);
	assert_int_equal(u->ts_us, S(4) + 7);
	assert_string_equal(u->src, "203.0.113.1");
	assert_string_equal(u->meta, "ids=[intruder] users=[] pass=[] "
				     "pub={\"sensors/kitchen/temp (QOS: 1)\":3} sub={} unsub={}");
	assert_int_equal(st_of(&x)->trackers_evicted, 10 - 8 + 1);
	detect_finish(x.d, 0);
	fx_free(&x);
}

/* A TCP segment of c, client -> broker. */
static void send_tcp(struct fx *x, struct conn *c, uint8_t flags, uint64_t ts)
{
	struct det_event ev = ev_of(c, false, NULL, ts);
	ev.kind = DET_TCP;
	ev.st = NULL; /* the engine sets no session on TCP events */
	ev.tcp_flags = flags;
	detect_event(x->d, &ev);
}

/*
 * Fig. 10-11 with the default rule's SYN count: each source's 100th SYN
 * within 10 s raises. SYNs carry no metadata, so they take no slot and a
 * spoofed flood does not churn the slots; a segment of an MQTT connection
 * brings its session's client id and user, as in Fig. 11.
 */
static void test_dos_syn_flood(void **state)
{
	(void)state;
	struct fx x;
	struct detect_cfg cfg;
	detect_cfg_default(&cfg);
	cfg.max_aggregates = 1;
	fx_init_cfg(&x, "tcp any -> $SELF src; name: Denial of Service; "
			"priority: 3; threshold: 100; interval: 10; cooldown: 10; "
			"flags: S\n", &cfg);
	struct conn syn[3];
	for (int i = 0; i < 3; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "172.27.67.%d", 201 + i);
		conn_init(&syn[i], 10 + (uint64_t)i, ip, 40000, NULL, NULL);
		syn[i].f.mqtt = NULL;
	}
	uint64_t t0 = S(1662362657) + 271353;
	for (int n = 0; n < 150; n++)
		for (int i = 0; i < 3; i++)
			send_tcp(&x, &syn[i], TCP_SYN, t0 + MS(20) * (uint64_t)n);
	assert_int_equal(x.rec.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(x.rec.v[i].total, 100);
		assert_int_equal(x.rec.v[i].first_us, t0);
		assert_false(x.rec.v[i].truncated);
	}
	assert_int_equal(st_of(&x)->aggregates_evicted, 0);
	assert_int_equal(st_of(&x)->metadata_dropped, 0);
	/* ACKs do not match; the MQTT connection's own SYN brings metadata. */
	struct conn m;
	conn_init(&m, 20, "172.27.67.210", 50407, "mqtt-explorer-ddf55658",
		  "mqtt-user");
	for (int n = 0; n < 100; n++) {
		send_tcp(&x, &m, TCP_ACK, t0 + MS(5) * (uint64_t)n);
		send_tcp(&x, &m, TCP_SYN, t0 + MS(5) * (uint64_t)n);
	}
	assert_int_equal(x.rec.n, 4);
	assert_int_equal(x.rec.v[3].total, 100);
	assert_string_equal(x.rec.v[3].meta,
			    "ids=[mqtt-explorer-ddf55658] users=[mqtt-user] pass=[] "
			    "pub={} sub={} unsub={}");
	detect_finish(x.d, 0);
	/* The three flooders went on during their cooldown: 50 more each. */
	assert_int_equal(x.rec.n, 7);
	for (int i = 4; i < 7; i++) {
		assert_true(x.rec.v[i].update);
		assert_int_equal(x.rec.v[i].total, 150);
	}
	fx_free(&x);
}

/* Rules that cannot match cost nothing and raise nothing. */
static void test_no_candidates(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, RULE_BRUTE);
	struct conn c;
	conn_init(&c, 1, "203.0.113.1", 40000, "x", NULL);
	for (int i = 0; i < 1000; i++) {
		struct mqtt_msg m = msg_publish("a", 0);
		send_msg(&x, &c, false, &m, S(1) + (uint64_t)i);
	}
	struct det_event tcp;
	memset(&tcp, 0, sizeof(tcp));
	tcp.kind = DET_TCP;
	tcp.ts_us = S(5);
	tcp.src_str = tcp.dst_str = "";
	detect_event(x.d, &tcp);
	detect_tick(x.d, S(10));
	detect_finish(x.d, 0);
	assert_int_equal(x.rec.n, 0);
	assert_int_equal(st_of(&x)->events, 1001);
	assert_int_equal(st_of(&x)->rule_checks, 0);
	fx_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_brute_force_seed),
		cmocka_unit_test(test_brute_force_update_at_finish),
		cmocka_unit_test(test_category_from_classtype),
		cmocka_unit_test(test_excessive_publish_seed),
		cmocka_unit_test(test_update_on_next_event),
		cmocka_unit_test(test_protected_topic_every_match),
		cmocka_unit_test(test_rule_alert_rate_folds),
		cmocka_unit_test(test_rule_alert_rate_folds_updates),
		cmocka_unit_test(test_alert_rate_all_rules),
		cmocka_unit_test(test_fold_of_late_matches),
		cmocka_unit_test(test_takeover_fires_once),
		cmocka_unit_test(test_takeover_victim_reconnects_while_open),
		cmocka_unit_test(test_takeover_same_ip_reconnect),
		cmocka_unit_test(test_takeover_release_and_ignore),
		cmocka_unit_test(test_uuid_deterministic),
		cmocka_unit_test(test_metadata_caps),
		cmocka_unit_test(test_metadata_long_topic),
		cmocka_unit_test(test_metadata_passwords),
		cmocka_unit_test(test_metadata_sub_unsub),
		cmocka_unit_test(test_metadata_window_restart),
		cmocka_unit_test(test_aggregate_eviction),
		cmocka_unit_test(test_tracker_eviction_flushes),
		cmocka_unit_test(test_dos_syn_flood),
		cmocka_unit_test(test_no_candidates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
