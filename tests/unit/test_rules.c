/* test_rules.c - unit tests for the rule language: parsing, messages, matching and the candidate index (rules/rule_parse.c, rule_match.c, rules_cli.c). */
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"
#include "event/anomalies.h"
#include "net/pkt_decode.h"
#include "rules/rules.h"
#include "util/glob.h"
#include "glob_oracle.h"

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must name tests/unit/data"
#endif

#define CLASS_FILE MQTTIDS_SOURCE_RULES_DIR "/classification.config"

/* ---- loading ---- */

/* Loads text into a new rule set (vars NULL: defaults); *msgs gets what
 * the loader printed (free it), *errors its return value. */
static struct ruleset *load_vars(const struct rule_vars *vars,
				 const char *text, int *errors, char **msgs)
{
	struct ruleset *rs = ruleset_new(vars);
	char *buf = NULL;
	size_t len = 0;
	assert_non_null(rs);
	/* the shipped classtypes, which must load cleanly */
	assert_int_equal(ruleset_load_classification(rs, CLASS_FILE, stderr), 0);
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	int e = ruleset_load_string(rs, "t.rules", text, f);
	fclose(f);
	if (errors)
		*errors = e;
	if (msgs)
		*msgs = buf;
	else
		free(buf);
	return rs;
}

static struct ruleset *load(const char *text, int *errors, char **msgs)
{
	return load_vars(NULL, text, errors, msgs);
}

/* A set of exactly one rule that must load without any message. */
static struct ruleset *one_vars(const struct rule_vars *vars, const char *text)
{
	int e;
	char *msgs;
	struct ruleset *rs = load_vars(vars, text, &e, &msgs);
	if (e != 0 || ruleset_count(rs) != 1 || msgs[0])
		fail_msg("rule did not load cleanly: %s\n%s", text, msgs);
	free(msgs);
	return rs;
}

static struct ruleset *one(const char *text)
{
	return one_vars(NULL, text);
}

/* The one message loading text gives (which must fail). */
static char *load_error(const char *text)
{
	int e;
	char *msgs;
	struct ruleset *rs = load(text, &e, &msgs);
	assert_int_equal(e, 1);
	assert_int_equal(ruleset_count(rs), 0);
	ruleset_free(rs);
	return msgs;
}

#define ASSERT_ERROR(text, expect)                                          \
	do {                                                                \
		char *m_ = load_error(text);                                \
		if (strcmp(m_, expect))                                     \
			fail_msg("rule: %s\nwant: %sgot:  %s", text, expect, m_); \
		free(m_);                                                   \
	} while (0)

/* ---- events ---- */

struct evt {
	struct det_event ev;
	struct mqtt_msg m;
	struct mqtt_state st;
	struct mqtt_topic topics[4];
	uint8_t src[16], dst[16];
	uint8_t codes[4];
};

static uint8_t put_addr(uint8_t *out, const char *s)
{
	memset(out, 0, 16);
	if (strchr(s, ':')) {
		assert_int_equal(inet_pton(AF_INET6, s, out), 1);
		return 6;
	}
	assert_int_equal(inet_pton(AF_INET, s, out), 1);
	return 4;
}

static struct slice sl(const char *s)
{
	struct slice x = { (const uint8_t *)s, strlen(s) };
	return x;
}

#define BROKER "10.0.0.1"
#define OUTSIDER "192.0.2.7"
#define INSIDER "192.168.1.20"

/* An event from src:sport to dst:dport; an end on port 1883 is the broker. */
static void ev_init(struct evt *e, enum det_kind kind, const char *src,
		    uint16_t sport, const char *dst, uint16_t dport)
{
	memset(e, 0, sizeof(*e));
	e->ev.kind = kind;
	e->ev.family = put_addr(e->src, src);
	assert_int_equal(put_addr(e->dst, dst), e->ev.family);
	e->ev.src = e->src;
	e->ev.dst = e->dst;
	e->ev.src_str = src;
	e->ev.dst_str = dst;
	e->ev.sport = sport;
	e->ev.dport = dport;
	e->ev.server = dport == 1883 ? DET_SERVER_DST
		       : sport == 1883 ? DET_SERVER_SRC : DET_SERVER_UNKNOWN;
	e->ev.st = &e->st;
	e->ev.toclient = sport == 1883;
	if (kind == DET_MQTT)
		e->ev.msg = &e->m;
	e->m.version = 4;
	e->st.version = 4;
}

/* A message from client (toserver) or broker (toclient). */
static void ev_mqtt(struct evt *e, uint8_t type, bool toclient,
		    const char *client)
{
	if (toclient)
		ev_init(e, DET_MQTT, BROKER, 1883, client, 40000);
	else
		ev_init(e, DET_MQTT, client, 40000, BROKER, 1883);
	e->m.type = type;
}

static void ev_publish(struct evt *e, const char *client, const char *topic,
		       uint8_t qos, size_t payload_len)
{
	ev_mqtt(e, MQTT_PUBLISH, false, client);
	e->m.qos = qos;
	e->m.topic = sl(topic);
	e->m.payload.p = (const uint8_t *)"";
	e->m.payload.len = payload_len;
	e->m.remaining_length = (uint32_t)(2 + strlen(topic) + payload_len);
}

static void ev_subscribe(struct evt *e, const char *client, uint8_t type,
			 const char *f1, const char *f2, uint8_t qos)
{
	ev_mqtt(e, type, false, client);
	e->m.topics = e->topics;
	e->topics[0].name = sl(f1);
	e->topics[0].opts = qos;
	e->m.n_topics = 1;
	if (f2) {
		e->topics[1].name = sl(f2);
		e->topics[1].opts = qos;
		e->m.n_topics = 2;
	}
}

static void ev_connack(struct evt *e, uint8_t version, uint8_t code)
{
	ev_mqtt(e, MQTT_CONNACK, true, OUTSIDER);
	e->m.version = version;
	e->m.return_code = code;
	e->m.reason_code = code;
	e->m.has_reason_code = true;
}

static void ev_tcp(struct evt *e, const char *src, uint16_t sport,
		   const char *dst, uint16_t dport, uint8_t flags)
{
	ev_init(e, DET_TCP, src, sport, dst, dport);
	e->ev.tcp_flags = flags;
	e->ev.st = NULL;
}

static void ev_anomaly(struct evt *e, const char *name)
{
	ev_init(e, DET_ANOMALY, OUTSIDER, 40000, BROKER, 1883);
	e->ev.anomaly = name;
	e->ev.layer = "proto_parser";
}

static bool match(const struct ruleset *rs, const struct evt *e)
{
	bool t;
	return rule_match(ruleset_get(rs, 0), &e->ev, &t);
}

/* Matches, and the threat actor is the sender (want_src) or receiver. */
static void assert_match_target(const struct ruleset *rs, const struct evt *e,
				bool want_src)
{
	bool t = !want_src;
	assert_true(rule_match(ruleset_get(rs, 0), &e->ev, &t));
	assert_int_equal(t, want_src);
}

/* ---- the seed's rules (seed 004 §4) ---- */

static const char seed_protected[] =
	"mqtt $EXTERNAL_NET -> $SELF src; name: Access to protected topic; "
	"priority: 4; cooldown: 0; msg_type: publish, subscribe; topics: "
	"$SYS/#, is2/mqtt_attack_notifications";
static const char seed_zigbee[] =
	"mqtt $EXTERNAL_NET -> $SELF src; name: External access to local-only "
	"topic (Zigbee2MQTT); priority: 3; cooldown: 0; msg_type: publish, "
	"subscribe; topics: zigbee2mqtt/#";
static const char seed_dos[] =
	"tcp any -> $SELF src; name: Denial of Service; priority: 3; "
	"threshold: 100; interval: 10; cooldown: 10";
static const char seed_publish[] =
	"mqtt any -> $SELF src; name: Excessive MQTT PUBLISH activity; "
	"priority: 2; threshold: 20; interval: 5; msg_type: publish";
static const char seed_brute[] =
	"mqtt $SELF -> any dst; name: Brute Force (Auth); priority: 3; "
	"threshold: 5; interval: 60; msg_type: connack; retcode: 5";

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

static void test_seed_protected_topic(void **state)
{
	(void)state;
	struct ruleset *rs = one(seed_protected);
	const struct rule *r = ruleset_get(rs, 0);
	struct evt e;
	assert_int_equal(r->proto, RULE_MQTT);
	assert_string_equal(r->name, "Access to protected topic");
	assert_int_equal(r->priority, 4);
	assert_int_equal(r->cooldown, 0);
	assert_true(r->cooldown_set);
	assert_int_equal(r->threshold, 1);
	assert_int_equal(r->interval, 60);
	assert_int_equal(r->msg_types,
			 (1u << MQTT_PUBLISH) | (1u << MQTT_SUBSCRIBE));
	assert_int_equal(r->n_topics, 2);
	assert_string_equal(r->topics[0], "$SYS/#");
	assert_string_equal(r->topics[1], "is2/mqtt_attack_notifications");
	assert_false(r->target_dst);
	assert_false(r->bidir);
	/* $EXTERNAL_NET = !$HOME_NET: six negated networks */
	assert_int_equal(r->src.n_pos, 0);
	assert_int_equal(r->src.n_neg, 6);
	assert_true(r->dst.broker);
	assert_string_equal(r->raw, seed_protected);
	assert_true(r->sid_auto);
	assert_int_equal(r->sid, fnv1a(seed_protected) | 0x80000000u);
	assert_int_equal(r->rev, 1);
	assert_null(r->classtype);

	/* Fig. 7: a subscription to '#' from outside can receive
	 * is2/mqtt_attack_notifications (not $SYS, MQTT 5.0 §4.7.2) */
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "#", NULL, 0);
	assert_match_target(rs, &e, true);
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "$SYS/broker/+", NULL, 0);
	assert_true(match(rs, &e));
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "home/+", NULL, 0);
	assert_false(match(rs, &e));
	ev_subscribe(&e, INSIDER, MQTT_SUBSCRIBE, "#", NULL, 0);
	assert_false(match(rs, &e)); /* from the home network */
	ev_publish(&e, OUTSIDER, "$SYS/broker/uptime", 0, 3);
	assert_true(match(rs, &e));
	ev_publish(&e, OUTSIDER, "is2/mqtt_attack_notifications/x", 0, 3);
	assert_false(match(rs, &e));
	ev_subscribe(&e, OUTSIDER, MQTT_UNSUBSCRIBE, "#", NULL, 0);
	assert_false(match(rs, &e)); /* msg_type */
	ruleset_free(rs);
}

static void test_seed_zigbee(void **state)
{
	(void)state;
	struct ruleset *rs = one(seed_zigbee);
	const struct rule *r = ruleset_get(rs, 0);
	struct evt e;
	assert_string_equal(r->name,
			    "External access to local-only topic (Zigbee2MQTT)");
	assert_int_equal(r->priority, 3);
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "#", NULL, 0);
	assert_true(match(rs, &e)); /* Fig. 8 */
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "zigbee2mqtt/+/set", NULL, 1);
	assert_true(match(rs, &e));
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "sensors/#", "$SYS/#", 1);
	assert_false(match(rs, &e));
	ev_publish(&e, OUTSIDER, "zigbee2mqtt/lock/set", 1, 10);
	assert_true(match(rs, &e));
	ruleset_free(rs);
}

static void test_seed_dos(void **state)
{
	(void)state;
	struct ruleset *rs = one(seed_dos);
	const struct rule *r = ruleset_get(rs, 0);
	struct evt e;
	assert_int_equal(r->proto, RULE_TCP);
	assert_int_equal(r->threshold, 100);
	assert_int_equal(r->interval, 10);
	assert_int_equal(r->cooldown, 10);
	assert_true(r->src.any);
	assert_false(r->has_flags);
	ev_tcp(&e, "172.27.67.201", 54772, BROKER, 1883, TCP_SYN);
	assert_match_target(rs, &e, true);
	/* the broker's answer goes to the client, not to $SELF */
	ev_tcp(&e, BROKER, 1883, "172.27.67.201", 54772, TCP_SYN | TCP_ACK);
	assert_false(match(rs, &e));
	/* unknown server end: "broker" matches neither */
	ev_tcp(&e, "172.27.67.201", 5000, BROKER, 6000, TCP_SYN);
	assert_false(match(rs, &e));
	/* tcp rules see only TCP segments */
	ev_publish(&e, OUTSIDER, "a", 0, 1);
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

static void test_seed_publish(void **state)
{
	(void)state;
	struct ruleset *rs = one(seed_publish);
	const struct rule *r = ruleset_get(rs, 0);
	struct evt e;
	assert_int_equal(r->threshold, 20);
	assert_int_equal(r->interval, 5);
	assert_false(r->cooldown_set);
	assert_int_equal(r->cooldown, 5); /* defaults to the interval */
	assert_int_equal(r->priority, 2);
	ev_publish(&e, "172.16.2.82", "smx/device/051001006/position", 2, 40);
	assert_match_target(rs, &e, true);
	ev_mqtt(&e, MQTT_PUBLISH, true, "172.16.2.82"); /* broker to client */
	e.m.topic = sl("smx/x");
	assert_false(match(rs, &e));
	ev_mqtt(&e, MQTT_PINGREQ, false, "172.16.2.82");
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

static void test_seed_brute_force(void **state)
{
	(void)state;
	struct ruleset *rs = one(seed_brute);
	const struct rule *r = ruleset_get(rs, 0);
	struct evt e;
	assert_true(r->target_dst);
	assert_true(r->src.broker);
	assert_true(r->dst.any);
	assert_true(r->has_retcode);
	assert_int_equal(r->msg_types, 1u << MQTT_CONNACK);
	/* 3.1.1 CONNACK "not authorized" (5): the client is the actor */
	ev_connack(&e, 4, 5);
	assert_match_target(rs, &e, false);
	ev_connack(&e, 4, 0);
	assert_false(match(rs, &e));
	/* numbers are raw codes: 5.0's not_authorized is 0x87 */
	ev_connack(&e, 5, 0x87);
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

/* The seed prints its rules over several lines: continuations join them. */
static void test_continuation_and_raw(void **state)
{
	(void)state;
	struct ruleset *rs = one(
		"mqtt $SELF -> any dst; name: Brute Force (Auth); \\\n"
		"  priority: 3; threshold: 5;\t\\   \r\n"
		"\tinterval: 60; msg_type: connack; retcode: 5   \n");
	const struct rule *r = ruleset_get(rs, 0);
	assert_string_equal(r->raw, seed_brute);
	assert_int_equal(r->line, 1);
	/* whitespace does not change the automatic sid */
	assert_int_equal(r->sid, fnv1a(seed_brute) | 0x80000000u);
	assert_int_equal(r->interval, 60);
	ruleset_free(rs);

	/* a comment line is skipped whole, its '\' joins nothing */
	rs = one("# comment \\\n  # another\n\n   \t\n"
		 "tcp any -> any; name: a # not a comment; sid: 7;\n");
	r = ruleset_get(rs, 0);
	assert_string_equal(r->name, "a # not a comment");
	assert_int_equal(r->line, 5);
	assert_int_equal(r->sid, 7);
	assert_false(r->sid_auto);
	ruleset_free(rs);

	/* '#' in a continuation line is a topic wildcard */
	rs = one("mqtt any -> any; name: t; topics: \\\n#\n");
	assert_string_equal(ruleset_get(rs, 0)->topics[0], "#");
	ruleset_free(rs);
}

/* Anomaly names are checked against the registry of what is emitted. */
static void test_anomaly_registry(void **state)
{
	(void)state;
	/* sorted, unique, each found, with a layer and a meaning */
	for (size_t i = 0; i < anomaly_count(); i++) {
		const struct anomaly_name *a = anomaly_get(i);
		if (i)
			assert_true(strcmp(anomaly_get(i - 1)->name, a->name) < 0);
		assert_ptr_equal(anomaly_find(a->name, strlen(a->name)), a);
		assert_true(a->layer[0] && a->meaning[0]);
	}
	assert_null(anomaly_get(anomaly_count()));
	assert_null(anomaly_find("double_connec", 13));
	assert_null(anomaly_find("double_connectx", 15));
	assert_non_null(anomaly_find("double_connectx", 14));

	ASSERT_ERROR("mqtt any -> any; name: x; anomaly: dobule_connect",
		     "t.rules:1:36: error: unknown anomaly event "
		     "'dobule_connect' (did you mean 'double_connect'?); "
		     "'mqttids rules check --list anomalies' lists them\n");
	ASSERT_ERROR("mqtt any -> any; name: x; anomaly: replay, !bogus",
		     "t.rules:1:45: error: unknown anomaly event 'bogus'; "
		     "'mqttids rules check --list anomalies' lists them\n");
	ASSERT_ERROR("tcp any -> any; name: x; anomaly: ipv5.*",
		     "t.rules:1:35: error: glob 'ipv5.*' matches no anomaly "
		     "event; 'mqttids rules check --list anomalies' lists "
		     "them\n");
	/* a list whose negations exclude everything could never match */
	ASSERT_ERROR("mqtt any -> any; name: x; anomaly: !*",
		     "t.rules:1:36: error: the anomaly list excludes every "
		     "anomaly event: the rule could never match\n");
	ASSERT_ERROR("mqtt any -> any; name: x; anomaly: double_conn*, !*",
		     "t.rules:1:36: error: the anomaly list excludes every "
		     "anomaly event: the rule could never match\n");
	/* globs that match something, negated names, bracket sets */
	struct ruleset *rs = one("mqtt any -> any; name: x; anomaly: "
				 "value_*, !value_stuck, [hk]*_wrong, *");
	assert_int_equal(ruleset_get(rs, 0)->n_anomalies, 4);
	ruleset_free(rs);
	/* every default rule still loads (checked with the shipped files) */
	int e;
	char *msgs;
	rs = ruleset_new(NULL);
	assert_int_equal(ruleset_load_classification(rs, CLASS_FILE, stderr), 0);
	FILE *f = open_memstream(&msgs, &(size_t){ 0 });
	e = ruleset_load_dir(rs, MQTTIDS_SOURCE_RULES_DIR, f);
	fclose(f);
	assert_string_equal(msgs, "");
	assert_int_equal(e, 0);
	free(msgs);
	ruleset_free(rs);
}

/* Loads a classification text; returns the rule set, *errors and *msgs. */
static struct ruleset *classes(const char *text, int *errors, char **msgs)
{
	struct ruleset *rs = ruleset_new(NULL);
	size_t len;
	FILE *f = open_memstream(msgs, &len);
	*errors = ruleset_load_classification_string(rs, "c.config", text,
						     strlen(text), f);
	fclose(f);
	return rs;
}

static void test_classification(void **state)
{
	(void)state;
	int e;
	char *msgs;
	struct ruleset *rs = classes(
		"# comment\n"
		"\n"
		"config classification: not-suspicious,Not Suspicious Traffic,3\n"
		"  config  classification :  x_1 , A, b, and c , critical \r\n"
		"config classification: y,Y,1\n"
		"config classification: z,Z,7\n"
		"config classification: bad name,D,1\n"
		"config classification: w,,1\n"
		"config classification: w,W\n"
		"config classification: w,W,0\n"
		"config classification: w,W,urgent\n"
		"config classification: y,again,1\n"
		"classification: v,V,1\n"
		"config classification: u,U\x01,1\n",
		&e, &msgs);
	assert_string_equal(msgs,
		"c.config:7:28: error: expected a classtype name of [a-z0-9_-] "
		"followed by ','\n"
		"c.config:8:26: error: empty description\n"
		"c.config:9:27: error: expected ',PRIORITY' after the "
		"description\n"
		"c.config:10:28: error: expected a priority: informational, "
		"low, medium, high, critical, or a number from 1 (highest)\n"
		"c.config:11:28: error: expected a priority: informational, "
		"low, medium, high, critical, or a number from 1 (highest)\n"
		"c.config:12:24: error: classtype 'y' is defined twice (the "
		"first definition is kept)\n"
		"c.config:13:1: error: expected 'config classification: "
		"NAME,DESCRIPTION,PRIORITY' or a # comment\n"
		"c.config:14:27: error: control character in the "
		"description\n");
	assert_int_equal(e, 8);
	free(msgs);
	assert_int_equal(ruleset_class_count(rs), 4);
	const struct rule_class *c = ruleset_class_find(rs, "x_1", 3);
	assert_non_null(c);
	assert_string_equal(c->description, "A, b, and c");
	assert_int_equal(c->priority, 4);
	assert_int_equal(ruleset_class_find(rs, "not-suspicious", 14)->priority, 2);
	assert_int_equal(ruleset_class_find(rs, "y", 1)->priority, 4);
	assert_string_equal(ruleset_class_find(rs, "y", 1)->description, "Y");
	assert_int_equal(ruleset_class_find(rs, "z", 1)->priority, 1);

	/* a rule takes its classtype's priority unless it sets one */
	assert_int_equal(ruleset_load_string(rs, "t.rules",
		"mqtt any -> any; name: a; classtype: x_1\n"
		"mqtt any -> any; name: b; classtype: x_1; priority: low\n"
		"mqtt any -> any; name: c\n", NULL), 0);
	assert_int_equal(ruleset_get(rs, 0)->priority, 4);
	assert_ptr_equal(ruleset_get(rs, 0)->class, c);
	assert_int_equal(ruleset_get(rs, 1)->priority, 1);
	assert_int_equal(ruleset_get(rs, 2)->priority, RULE_PRIORITY_DEFAULT);
	assert_null(ruleset_get(rs, 2)->class);
	ruleset_free(rs);

	/* unknown classtypes: with and without a classification file */
	ASSERT_ERROR("mqtt any -> any; name: x; classtype: atempted-dos",
		     "t.rules:1:38: error: unknown classtype 'atempted-dos': "
		     CLASS_FILE " does not define it (did you mean "
		     "'attempted-dos'?)\n");
	rs = ruleset_new(NULL);
	FILE *f = open_memstream(&msgs, &(size_t){ 0 });
	e = ruleset_load_string(rs, "t.rules",
				"mqtt any -> any; name: x; classtype: "
				"attempted-dos\n", f);
	fclose(f);
	assert_int_equal(e, 1);
	assert_string_equal(msgs, "t.rules:1:38: error: unknown classtype "
			    "'attempted-dos': no classification file is "
			    "loaded (rules.classification-file)\n");
	free(msgs);
	assert_int_equal(ruleset_load_classification(rs, "/nonexistent/c", NULL), -1);
	ruleset_free(rs);
}

static void test_defaults_and_identity(void **state)
{
	(void)state;
	struct ruleset *rs = one("MQTT any -> any; NAME: n; SID: 42; Rev: 3; "
				 "classtype: attempted-recon; priority: "
				 "critical;");
	const struct rule *r = ruleset_get(rs, 0);
	assert_int_equal(r->sid, 42);
	assert_int_equal(r->rev, 3);
	assert_int_equal(r->priority, 4);
	assert_string_equal(r->classtype, "attempted-recon");
	assert_true(r->sport.any);
	assert_true(r->dport.any);
	assert_int_equal(r->msg_types, 0);
	assert_int_equal(r->match_types, 0xfffe);
	assert_string_equal(r->file, "t.rules");
	ruleset_free(rs);

	rs = one("mqtt any -> any; name: \"quoted; \\\"x\\\" \\\\ \"; interval: 30");
	r = ruleset_get(rs, 0);
	assert_string_equal(r->name, "quoted; \"x\" \\ ");
	assert_int_equal(r->cooldown, 30);
	assert_int_equal(r->priority, 2);
	ruleset_free(rs);
}

/* ---- options ---- */

static void test_msg_type_and_qos(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt any -> any; name: q; msg_type: "
				 "Publish, subscribe, connect; qos: 2, 3");
	struct evt e;
	ev_publish(&e, OUTSIDER, "a", 2, 1);
	assert_true(match(rs, &e));
	ev_publish(&e, OUTSIDER, "a", 3, 1); /* invalid QoS 3 still matches */
	assert_true(match(rs, &e));
	ev_publish(&e, OUTSIDER, "a", 1, 1);
	assert_false(match(rs, &e));
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "a", "b", 0);
	assert_false(match(rs, &e));
	e.topics[1].opts = 0x02 | 0x04; /* QoS 2 with no-local */
	assert_true(match(rs, &e));
	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	e.m.protocol_version = 4;
	e.m.connect_flags = 0x04 | (2 << 3); /* will, will QoS 2 */
	assert_false(match(rs, &e)); /* has_will not set */
	e.m.has_will = true;
	assert_true(match(rs, &e));
	ev_mqtt(&e, MQTT_PUBACK, false, OUTSIDER);
	assert_false(match(rs, &e));
	ruleset_free(rs);

	/* qos alone: only the three types that carry one */
	rs = one("mqtt any -> any; name: q; qos: 0");
	assert_int_equal(ruleset_get(rs, 0)->match_types,
			 (1u << MQTT_PUBLISH) | (1u << MQTT_SUBSCRIBE) |
			 (1u << MQTT_CONNECT));
	ev_mqtt(&e, MQTT_PINGREQ, false, OUTSIDER);
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

static void test_retcode(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt any -> any; name: r; retcode: "
				 "not_authorized, bad_user_name_or_password");
	const struct rule *r = ruleset_get(rs, 0);
	struct evt e;
	assert_true((r->retcodes[2] >> (0x87 - 128)) & 1);
	assert_true((r->retcodes[2] >> (0x86 - 128)) & 1);
	assert_int_equal(r->retcodes_v3, (1u << 5) | (1u << 4));
	ev_connack(&e, 4, 5);
	assert_true(match(rs, &e));
	ev_connack(&e, 3, 4);
	assert_true(match(rs, &e));
	ev_connack(&e, 5, 0x87);
	assert_true(match(rs, &e));
	ev_connack(&e, 5, 0x86);
	assert_true(match(rs, &e));
	ev_connack(&e, 5, 5); /* 5 is not a 5.0 code */
	assert_false(match(rs, &e));
	ev_connack(&e, 4, 0);
	assert_false(match(rs, &e));
	/* v5 acks and DISCONNECT */
	ev_mqtt(&e, MQTT_PUBACK, true, OUTSIDER);
	e.m.version = 5;
	e.m.has_reason_code = true;
	e.m.reason_code = 0x87;
	assert_true(match(rs, &e));
	ev_mqtt(&e, MQTT_DISCONNECT, true, OUTSIDER);
	e.m.version = 5;
	assert_false(match(rs, &e)); /* no reason code */
	/* SUBACK: any of its codes */
	ev_mqtt(&e, MQTT_SUBACK, true, OUTSIDER);
	e.m.version = 5;
	e.codes[0] = 0;
	e.codes[1] = 0x87;
	e.m.codes.p = e.codes;
	e.m.codes.len = 2;
	assert_true(match(rs, &e));
	e.m.codes.len = 1;
	assert_false(match(rs, &e));
	ev_mqtt(&e, MQTT_PINGRESP, true, OUTSIDER);
	assert_false(match(rs, &e));
	ruleset_free(rs);

	/* numbers (decimal, hex), the 3.1.1 names, SUBACK failure */
	rs = one("mqtt any -> any; name: r; msg_type: suback, connack, "
		 "unsuback, disconnect; retcode: 0x80, 17, connection_accepted,"
		 " session_taken_over");
	ev_connack(&e, 4, 0);
	assert_true(match(rs, &e));
	ev_connack(&e, 5, 0); /* connection_accepted is 3.1.1 only */
	assert_false(match(rs, &e));
	ev_mqtt(&e, MQTT_SUBACK, true, OUTSIDER);
	e.codes[0] = 1;
	e.codes[1] = 0x80;
	e.m.codes.p = e.codes;
	e.m.codes.len = 2;
	assert_true(match(rs, &e));
	ev_mqtt(&e, MQTT_UNSUBACK, true, OUTSIDER);
	e.m.version = 5;
	e.codes[0] = 0x11;
	e.m.codes.p = e.codes;
	e.m.codes.len = 1;
	assert_true(match(rs, &e));
	ev_mqtt(&e, MQTT_DISCONNECT, false, OUTSIDER);
	e.m.version = 5;
	e.m.has_reason_code = true;
	e.m.reason_code = 0x8e;
	assert_true(match(rs, &e));
	ruleset_free(rs);
}

static void test_topics(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt any -> any; name: t; topics: "
				 "home/+/set, $SYS/#");
	struct evt e;
	ev_publish(&e, OUTSIDER, "home/door/set", 0, 1);
	assert_true(match(rs, &e));
	ev_publish(&e, OUTSIDER, "home/door/get", 0, 1);
	assert_false(match(rs, &e));
	ev_publish(&e, OUTSIDER, "$SYS", 0, 1);
	assert_true(match(rs, &e));
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "x/y", "+/+/set", 0);
	assert_true(match(rs, &e));
	ev_subscribe(&e, OUTSIDER, MQTT_UNSUBSCRIBE, "#", NULL, 0);
	assert_true(match(rs, &e)); /* '#' reaches home/x/set */
	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "home/+", NULL, 0);
	assert_false(match(rs, &e));
	/* CONNECT: its will topic */
	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	e.m.protocol_version = 4;
	e.m.will_topic = sl("$SYS/x");
	assert_false(match(rs, &e));
	e.m.has_will = true;
	assert_true(match(rs, &e));
	/* other messages never match a topics rule */
	ev_mqtt(&e, MQTT_PUBACK, false, OUTSIDER);
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

/* filter: globs on the subscription filters as written (rules/mqttids.rules
 * 1000008 finds wildcard and $SYS subscriptions with it). */
static void test_filter(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt !$ADMIN_HOSTS -> $SELF src; name: w; "
				 "msg_type: subscribe; filter: #, +/#, $SYS, "
				 "$SYS/*");
	struct evt e;
	assert_int_equal(ruleset_get(rs, 0)->match_types, 1u << MQTT_SUBSCRIBE);
	ev_subscribe(&e, INSIDER, MQTT_SUBSCRIBE, "a/b", "#", 0);
	assert_match_target(rs, &e, true);
	ev_subscribe(&e, INSIDER, MQTT_SUBSCRIBE, "+/#", NULL, 0);
	assert_true(match(rs, &e));
	ev_subscribe(&e, INSIDER, MQTT_SUBSCRIBE, "$SYS/broker/clients/+", NULL, 0);
	assert_true(match(rs, &e));
	ev_subscribe(&e, INSIDER, MQTT_SUBSCRIBE, "$share/g/#", NULL, 0);
	assert_true(match(rs, &e)); /* the filter a shared subscription names */
	ev_subscribe(&e, INSIDER, MQTT_SUBSCRIBE, "a/#", "sensors/+", 0);
	assert_false(match(rs, &e)); /* '#' is literal here, not a wildcard */
	ev_subscribe(&e, INSIDER, MQTT_UNSUBSCRIBE, "#", NULL, 0);
	assert_false(match(rs, &e));
	ev_publish(&e, INSIDER, "#", 0, 1);
	assert_false(match(rs, &e));
	ruleset_free(rs);

	rs = one("mqtt any -> any; name: n; filter: !sensors/*");
	assert_int_equal(ruleset_get(rs, 0)->match_types,
			 (1u << MQTT_SUBSCRIBE) | (1u << MQTT_UNSUBSCRIBE));
	ev_subscribe(&e, INSIDER, MQTT_UNSUBSCRIBE, "sensors/x", NULL, 0);
	assert_false(match(rs, &e));
	ev_subscribe(&e, INSIDER, MQTT_UNSUBSCRIBE, "sensors/x", "other", 0);
	assert_true(match(rs, &e));
	ruleset_free(rs);
}

static void test_client_id_and_username(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt any -> any; name: c; client_id: "
				 "mqtt-explorer-*, mqttx_[0-9a-f]*, !*-admin");
	struct evt e;
	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	e.m.client_id = sl("mqtt-explorer-ddf55658");
	assert_true(match(rs, &e));
	e.m.client_id = sl("mqttx_88f6220f");
	assert_true(match(rs, &e));
	e.m.client_id = sl("mqtt-explorer-admin");
	assert_false(match(rs, &e)); /* negated */
	e.m.client_id = sl("ESP32_99C490");
	assert_false(match(rs, &e));
	/* not NUL-terminated: only the slice counts */
	e.m.client_id.p = (const uint8_t *)"mqttx_1ZZZ";
	e.m.client_id.len = 7;
	assert_true(match(rs, &e));
	e.m.client_id.len = 6;
	assert_false(match(rs, &e)); /* "mqttx_": the bracket needs a byte */
	e.m.client_id.p = (const uint8_t *)"mqttx_Z1";
	e.m.client_id.len = 8;
	assert_false(match(rs, &e)); /* Z is not in [0-9a-f] */
	/* other messages: the session's client id */
	ev_publish(&e, OUTSIDER, "a", 0, 1);
	e.st.client_id = (char *)"mqtt-explorer-1";
	assert_true(match(rs, &e));
	e.st.client_id = NULL;
	assert_false(match(rs, &e));
	ruleset_free(rs);

	rs = one("mqtt any -> any; name: u; username: !?*");
	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	assert_true(match(rs, &e)); /* no username */
	e.m.has_username = true;
	e.m.username = sl("mqtt-user");
	assert_false(match(rs, &e));
	ev_mqtt(&e, MQTT_SUBSCRIBE, false, OUTSIDER);
	e.st.username = (char *)"u";
	assert_false(match(rs, &e));
	ruleset_free(rs);

	rs = one("mqtt any -> any; name: u; username: \\*, [!a-c]x");
	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	e.m.has_username = true;
	e.m.username = sl("*");
	assert_true(match(rs, &e));
	e.m.username = sl("dx");
	assert_true(match(rs, &e));
	e.m.username = sl("bx");
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

/* The glob matcher agrees with fnmatch(3), flags 0, on every pair (with
 * closed brackets); an unclosed '[' is an ordinary byte. */
static void test_glob_vs_fnmatch(void **state)
{
	(void)state;
	static const char *const pats[] = {
		"", "*", "**", "?", "a", "a*", "*a", "a*b", "*a*", "a?c",
		"[abc]", "[!abc]", "[^abc]", "[a-c]x", "[]a]", "[!]a]", "[a-]",
		"[z-a]", "\\*", "a\\", "\\a", "[", "[a", "a[", "a[b",
		"*-rogue", "plc-*", "ikea-*-?", "mqtt-explorer-*", "*[0-9]",
		"*/*", "a*a*a*a*b", "[\\]]x", "[a\\-z]", "*?", "?*?",
		"[*]", "[?]", "x]", "]", "x[a-", "[a-b", "[\\", "[a\\",
		"[a-\\", "[!", "[^a", "[]", "[!]",
	};
	static const char *const strs[] = {
		"", "a", "b", "ab", "abc", "acb", "aab", "aaaaaaab", "aaaaaaaa",
		"*", "?", "[", "]", "a[b", "-", "x", "1", "a1", "z", "ax",
		"cx", "dx", "bx", "]x", "\\", "a\\", "\\a", "plc-7",
		"esp-rogue", "ikea-lamp-1", "ikea-lamp-12", "a/b", "-x", "q]",
		"mqtt-explorer-ddf55658", "x[a-", "[a-b", "[!", "[]", "[!]",
		"[^a",
	};
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		if (!brackets_closed(pats[i]))
			continue;
		for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
			bool want = fnmatch(pats[i], strs[k], 0) == 0;
			bool got = glob_match(pats[i], strs[k],
						   strlen(strs[k]));
			if (want != got)
				fail_msg("glob '%s' on '%s': %d, fnmatch %d",
					 pats[i], strs[k], got, want);
		}
	}
	/* unclosed brackets */
	assert_true(glob_match("x[a-", "x[a-", 4));
	assert_true(glob_match("[[-", "[[-", 3));
	assert_true(glob_match("[a", "[a", 2));
	assert_false(glob_match("[a", "a", 1));
	assert_false(glob_match("[\\", "[", 1)); /* then a lone '\\' */
	/* many stars against a long string stay linear per position */
	char big[4001];
	memset(big, 'a', 4000);
	big[4000] = 0;
	assert_false(glob_match("*a*a*a*a*a*a*a*a*a*a*b", big, 4000));
	assert_true(glob_match("*a*a*a*a*a*a*a*a*a*a*", big, 4000));
}

static void test_protocol_version(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt any -> any; name: v; protocol_version: "
				 "3.1, 5.0");
	struct evt e;
	assert_int_equal(ruleset_get(rs, 0)->version_mask, (1u << 3) | (1u << 5));
	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	e.m.protocol_version = 5;
	assert_true(match(rs, &e));
	e.m.protocol_version = 4;
	e.m.version = 4;
	assert_false(match(rs, &e));
	e.m.protocol_version = 200; /* invalid level */
	assert_false(match(rs, &e));
	ev_publish(&e, OUTSIDER, "a", 0, 1);
	e.m.version = 3;
	assert_true(match(rs, &e));
	ruleset_free(rs);
}

static void test_payload_size_and_keepalive(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt any -> any; name: p; payload_size: >= 64kb");
	struct evt e;
	assert_int_equal(ruleset_get(rs, 0)->payload_size.op, CMP_GE);
	assert_int_equal(ruleset_get(rs, 0)->payload_size.v, 65536);
	ev_publish(&e, OUTSIDER, "a", 0, 65536);
	assert_true(match(rs, &e));
	ev_publish(&e, OUTSIDER, "a", 0, 65535);
	assert_false(match(rs, &e));
	/* an oversize PUBLISH, body not decoded: its remaining length */
	ev_publish(&e, OUTSIDER, "", 0, 0);
	e.m.truncated = true;
	e.m.remaining_length = 2000000;
	assert_true(match(rs, &e));
	/* CONNECT: the will payload; without a will, no match */
	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	e.m.will_payload.len = 100000;
	assert_false(match(rs, &e));
	e.m.has_will = true;
	assert_true(match(rs, &e));
	ruleset_free(rs);

	static const struct { const char *op; uint16_t ka; bool want; } ka[] = {
		{ "<5", 4, true }, { "<5", 5, false }, { "<=5", 5, true },
		{ "=0", 0, true }, { "0", 1, false }, { "!=60", 60, false },
		{ "!=60", 61, true }, { ">600", 601, true }, { ">=600", 599, false },
		{ "== 7", 7, true },
	};
	for (size_t i = 0; i < sizeof(ka) / sizeof(ka[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "mqtt any -> any; name: k; "
			 "keepalive: %s", ka[i].op);
		rs = one(text);
		ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
		e.m.keepalive = ka[i].ka;
		if (match(rs, &e) != ka[i].want)
			fail_msg("keepalive %s vs %u", ka[i].op, ka[i].ka);
		ev_publish(&e, OUTSIDER, "a", 0, 1);
		assert_false(match(rs, &e));
		ruleset_free(rs);
	}
}

static void test_anomaly(void **state)
{
	(void)state;
	struct ruleset *rs = one("mqtt any -> $SELF; name: a; anomaly: "
				 "invalid_qos_level, client_id_*, !*_takeover");
	struct evt e;
	ev_anomaly(&e, "invalid_qos_level");
	assert_match_target(rs, &e, true);
	ev_anomaly(&e, "client_id_new_address");
	assert_true(match(rs, &e));
	ev_anomaly(&e, "client_id_takeover");
	assert_false(match(rs, &e));
	ev_anomaly(&e, "reserved_flags");
	assert_false(match(rs, &e));
	ev_publish(&e, OUTSIDER, "a", 3, 1);
	assert_false(match(rs, &e)); /* only anomaly events */
	ruleset_free(rs);

	/* a rule without anomaly never matches anomaly events */
	rs = one("mqtt any -> any; name: n");
	ev_anomaly(&e, "invalid_qos_level");
	assert_false(match(rs, &e));
	ruleset_free(rs);

	/* tcp anomaly rules; decoder events without addresses match any */
	rs = one("tcp any -> any; name: d; anomaly: ipv4.*");
	ev_anomaly(&e, "ipv4.trunc_pkt");
	e.ev.family = 0;
	e.ev.src = e.ev.dst = NULL;
	e.ev.st = NULL;
	assert_true(match(rs, &e));
	ev_anomaly(&e, "ipv6.pkt_too_small");
	assert_false(match(rs, &e));
	ruleset_free(rs);
	rs = one("tcp 10.0.0.0/8 -> any; name: d; anomaly: *");
	ev_anomaly(&e, "ipv4.trunc_pkt");
	e.ev.family = 0;
	assert_false(match(rs, &e)); /* no address: only "any" matches */
	ruleset_free(rs);

	/* session options need a session */
	rs = one("mqtt any -> any; name: s; anomaly: *; client_id: dev-*");
	ev_anomaly(&e, "malformed_traffic");
	e.st.client_id = (char *)"dev-1";
	assert_true(match(rs, &e));
	e.ev.st = NULL;
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

static void test_tcp_flags(void **state)
{
	(void)state;
	static const struct {
		const char *flags;
		uint8_t pkt;
		bool want;
	} t[] = {
		{ "S", TCP_SYN, true },
		{ "S", TCP_SYN | 0x40 | 0x80, true }, /* ECN setup SYN */
		{ "S", TCP_SYN | TCP_ACK, false },
		{ "SA", TCP_SYN | TCP_ACK, true },
		{ "sa+", TCP_SYN | TCP_ACK | TCP_PSH, true },
		{ "SA+", TCP_SYN, false },
		{ "FRU*", TCP_RST | TCP_ACK, true },
		{ "FRU*", TCP_ACK, false },
		{ "0", 0, true },
		{ "0", TCP_ACK, false },
		{ "0", 0x80, true },
		{ "SE", TCP_SYN, false },
		{ "SE", TCP_SYN | 0x40, true },
		{ "A", TCP_ACK | 0x20, false }, /* URG */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[96];
		struct evt e;
		snprintf(text, sizeof(text), "tcp any -> any; name: f; flags: %s",
			 t[i].flags);
		struct ruleset *rs = one(text);
		ev_tcp(&e, OUTSIDER, 40000, BROKER, 1883, t[i].pkt);
		if (match(rs, &e) != t[i].want)
			fail_msg("flags %s vs 0x%02x", t[i].flags, t[i].pkt);
		ruleset_free(rs);
	}
}

/* ---- header ---- */

static void test_bidir_and_target(void **state)
{
	(void)state;
	struct evt e;
	struct ruleset *rs = one("tcp 192.0.2.0/24 any <> $SELF 1883 dst; name: b");
	ev_tcp(&e, OUTSIDER, 40000, BROKER, 1883, TCP_ACK);
	assert_match_target(rs, &e, false); /* dst (broker) = receiver */
	ev_tcp(&e, BROKER, 1883, OUTSIDER, 40000, TCP_ACK);
	assert_match_target(rs, &e, true);  /* dst (broker) = sender */
	ev_tcp(&e, INSIDER, 40000, BROKER, 1883, TCP_ACK);
	assert_false(match(rs, &e));
	ruleset_free(rs);

	rs = one("tcp 192.0.2.0/24 <> $SELF; name: b");
	ev_tcp(&e, OUTSIDER, 40000, BROKER, 1883, TCP_ACK);
	assert_match_target(rs, &e, true);
	ev_tcp(&e, BROKER, 1883, OUTSIDER, 40000, TCP_ACK);
	assert_match_target(rs, &e, false);
	ruleset_free(rs);

	/* -> is one way only */
	rs = one("tcp 192.0.2.0/24 -> $SELF src; name: o");
	ev_tcp(&e, BROKER, 1883, OUTSIDER, 40000, TCP_ACK);
	assert_false(match(rs, &e));
	ruleset_free(rs);
}

static void test_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		const char *addr;
		bool want;
	} t[] = {
		{ "10.0.0.0/8", "10.255.255.255", true },
		{ "10.0.0.0/8", "11.0.0.0", false },
		{ "172.16.0.0/12", "172.31.255.255", true },
		{ "172.16.0.0/12", "172.32.0.0", false },
		{ "10.1.2.3", "10.1.2.3", true },
		{ "10.1.2.3", "10.1.2.4", false },
		{ "10.1.2.3/0", "1.2.3.4", true },
		{ "10.1.2.3/0", "::1", false },     /* families differ */
		{ "fc00::/7", "fd12::1", true },
		{ "fc00::/7", "fe80::1", false },
		{ "2001:db8::/32", "2001:db8:ffff::1", true },
		{ "2001:db8::/33", "2001:db8:8000::1", false },
		{ "::1", "::1", true },
		{ "::1", "127.0.0.1", false },
		{ "$HOME_NET", "127.0.0.1", true },
		{ "$HOME_NET", "fd00::5", true },
		{ "$HOME_NET", "192.0.2.1", false },
		{ "$EXTERNAL_NET", "192.0.2.1", true },
		{ "$EXTERNAL_NET", "2001:db8::1", true },
		{ "$EXTERNAL_NET", "192.168.0.1", false },
		{ "!$EXTERNAL_NET", "192.168.0.1", true },
		{ "!10.0.0.0/8", "10.2.3.4", false },
		{ "!10.0.0.0/8", "11.2.3.4", true },
		{ "[10.0.0.0/8,!10.1.0.0/16]", "10.2.0.1", true },
		{ "[10.0.0.0/8,!10.1.0.0/16]", "10.1.0.1", false },
		{ "[10.0.0.0/8, !10.1.0.0/16, 192.0.2.0/24]", "192.0.2.9", true },
		{ "![10.0.0.0/8,192.0.2.0/24]", "192.0.2.9", false },
		{ "![10.0.0.0/8,192.0.2.0/24]", "8.8.8.8", true },
		{ "[[10.0.0.0/8],[[192.0.2.1]]]", "192.0.2.1", true },
		{ "[!10.0.0.0/8]", "8.8.8.8", true },
		{ "[any,!8.8.8.8]", "8.8.8.8", false },
		{ "[any,!8.8.8.8]", "8.8.4.4", true },
		{ "[]", "8.8.8.8", false },
		{ "[]", "::1", false },
		{ "$ADMIN_HOSTS", "10.0.0.1", false },
		{ "![]", "8.8.8.8", true },
		{ "!$ADMIN_HOSTS", "::1", true },
		{ "[[],10.0.0.0/8]", "10.0.0.1", true },
		{ "[[],!10.0.0.0/8]", "8.8.8.8", true },
		{ "!any", "8.8.8.8", false },
		{ "!!10.0.0.0/8", "10.0.0.1", true },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[160];
		struct evt e;
		snprintf(text, sizeof(text), "tcp %s -> any; name: a", t[i].spec);
		struct ruleset *rs = one(text);
		if (strchr(t[i].addr, ':'))
			ev_tcp(&e, t[i].addr, 1, "2001:db8::99", 2, 0);
		else
			ev_tcp(&e, t[i].addr, 1, "203.0.113.1", 2, 0);
		if (match(rs, &e) != t[i].want)
			fail_msg("%s vs %s: want %d", t[i].spec, t[i].addr,
				 t[i].want);
		ruleset_free(rs);
	}
}

static void test_broker_keyword(void **state)
{
	(void)state;
	struct evt e;
	struct ruleset *rs = one("mqtt !broker -> broker; name: k");
	ev_publish(&e, OUTSIDER, "a", 0, 1);
	assert_true(match(rs, &e));
	ev_mqtt(&e, MQTT_PUBLISH, true, OUTSIDER); /* broker to client */
	assert_false(match(rs, &e));
	e.ev.server = DET_SERVER_UNKNOWN;
	assert_false(match(rs, &e)); /* dst "broker" needs the server end */
	ruleset_free(rs);

	/* broker in lists and negated lists; SELF redefined */
	struct rule_vars v;
	rule_vars_default(&v);
	assert_int_equal(rule_vars_set(&v, "SELF", "[broker, 10.9.9.9]", false), 0);
	rs = one_vars(&v, "tcp any -> $SELF; name: s");
	ev_tcp(&e, OUTSIDER, 1, "10.9.9.9", 2, 0);
	assert_true(match(rs, &e));
	ev_tcp(&e, OUTSIDER, 1, "10.9.9.8", 2, 0);
	assert_false(match(rs, &e));
	ev_tcp(&e, OUTSIDER, 1, "10.9.9.8", 1883, 0);
	assert_true(match(rs, &e));
	ruleset_free(rs);
	rs = one_vars(&v, "tcp any -> ![$SELF, 10.0.0.0/8]; name: s");
	ev_tcp(&e, OUTSIDER, 1, "10.9.9.9", 2, 0);
	assert_false(match(rs, &e));
	ev_tcp(&e, OUTSIDER, 1, "192.0.2.99", 1883, 0);
	assert_false(match(rs, &e)); /* the broker */
	ev_tcp(&e, OUTSIDER, 1, "192.0.2.99", 2, 0);
	assert_true(match(rs, &e));
	ruleset_free(rs);
}

static void test_ports(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		uint16_t port;
		bool want;
	} t[] = {
		{ "1883", 1883, true }, { "1883", 1884, false },
		{ "1000:2000", 1000, true }, { "1000:2000", 2000, true },
		{ "1000:2000", 2001, false }, { ":1024", 0, true },
		{ ":1024", 1025, false }, { "1024:", 65535, true },
		{ "1024:", 1023, false }, { "!1883", 1883, false },
		{ "!1883", 1, true }, { "[1883,8883]", 8883, true },
		{ "[1883,8883]", 8884, false }, { "$MQTT_PORTS", 1883, true },
		{ "!$MQTT_PORTS", 1883, false }, { "!$MQTT_PORTS", 80, true },
		{ "[1:100,!50]", 50, false }, { "[1:100,!50]", 51, true },
		{ "[]", 1883, false }, { "![]", 1883, true }, { "any", 7, true },
		{ "[any, !22]", 22, false }, { "[ 80 , 443 ]", 443, true },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[160];
		struct evt e;
		snprintf(text, sizeof(text), "tcp any any -> any %s; name: p",
			 t[i].spec);
		struct ruleset *rs = one(text);
		ev_tcp(&e, OUTSIDER, 12345, BROKER, t[i].port, 0);
		if (match(rs, &e) != t[i].want)
			fail_msg("dport %s vs %u: want %d", t[i].spec,
				 t[i].port, t[i].want);
		ruleset_free(rs);
		snprintf(text, sizeof(text), "tcp any %s -> any; name: p",
			 t[i].spec);
		rs = one(text);
		ev_tcp(&e, OUTSIDER, t[i].port, BROKER, 12345, 0);
		if (match(rs, &e) != t[i].want)
			fail_msg("sport %s vs %u: want %d", t[i].spec,
				 t[i].port, t[i].want);
		ruleset_free(rs);
	}
}

static void test_variables(void **state)
{
	(void)state;
	struct rule_vars v;
	struct evt e;
	rule_vars_default(&v);
	assert_int_equal(rule_vars_set(&v, "SENSORS", "[10.5.0.0/16, $LAB]", false), 0);
	assert_int_equal(rule_vars_set(&v, "LAB", "192.0.2.0/28", false), 0);
	assert_int_equal(rule_vars_set(&v, "LAB", "192.0.2.0/24", false), 0); /* replaces */
	assert_int_equal(rule_vars_set(&v, "WEB", "[80,443]", true), 0);
	struct ruleset *rs = one_vars(&v, "tcp $SENSORS any -> any $WEB; name: v");
	ev_tcp(&e, "192.0.2.200", 1, BROKER, 443, 0);
	assert_true(match(rs, &e));
	ev_tcp(&e, "10.5.3.3", 1, BROKER, 8080, 0);
	assert_false(match(rs, &e));
	ruleset_free(rs);

	/* an address and a port variable may share a name */
	assert_int_equal(rule_vars_set(&v, "LAB", "22", true), 0);
	rs = one_vars(&v, "tcp $LAB -> any $LAB; name: v");
	ev_tcp(&e, "192.0.2.1", 1, BROKER, 22, 0);
	assert_true(match(rs, &e));
	ruleset_free(rs);

	/* errors inside a variable point at its use in the rule */
	assert_int_equal(rule_vars_set(&v, "BAD", "[10.0.0.0/8, oops]", false), 0);
	char *m;
	int err;
	rs = load_vars(&v, "tcp any -> $BAD; name: v\n", &err, &m);
	assert_int_equal(err, 1);
	assert_string_equal(m, "t.rules:1:12: error: in $BAD: expected address, "
			    "got 'oops'\n");
	free(m);
	ruleset_free(rs);

	/* a broken rule does not stop the next */
	rs = load_vars(&v, "tcp $NOPE -> any; name: a\ntcp any -> any; name: b\n",
		       &err, &m);
	assert_int_equal(err, 1);
	assert_int_equal(ruleset_count(rs), 1);
	assert_string_equal(m, "t.rules:1:5: error: unknown address variable $NOPE\n");
	free(m);
	ruleset_free(rs);
}

static void test_vars_api(void **state)
{
	(void)state;
	struct rule_vars v;
	char big[1100];
	rule_vars_default(&v);
	assert_int_equal(v.n, 5);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(rule_vars_set(&v, "X", big, false), -1);
	big[1023] = 0;
	assert_int_equal(rule_vars_set(&v, "X", big, false), 0);
	assert_int_equal(rule_vars_set(&v, "", "1", false), -1);
	big[48] = 0;
	assert_int_equal(rule_vars_set(&v, big, "1", false), -1);
	for (unsigned i = v.n; i < RULE_VARS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "V%u", i);
		assert_int_equal(rule_vars_set(&v, name, "1", true), 0);
	}
	assert_int_equal(rule_vars_set(&v, "ONE_MORE", "1", true), -1);
	assert_int_equal(rule_vars_set(&v, "HOME_NET", "[]", false), 0);
}

/* ---- messages ---- */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Every broken rule gives exactly its message; the good ones load. */
static void test_broken_file(void **state)
{
	(void)state;
	char *text = read_all(TEST_DATA_DIR "/broken.rules");
	char *want = read_all(TEST_DATA_DIR "/broken.expected");
	struct ruleset *rs = ruleset_new(NULL);
	char *got = NULL;
	size_t len;
	FILE *f = open_memstream(&got, &len);
	int errors = ruleset_load_string(rs, "broken.rules", text, f);
	fclose(f);
	if (strcmp(got, want)) {
		/* the first differing line, for a readable failure */
		const char *g = got, *w = want;
		while (*g && *g == *w) {
			g++;
			w++;
		}
		while (g > got && g[-1] != '\n') {
			g--;
			w--;
		}
		fail_msg("messages differ:\nwant: %.*s\ngot:  %.*s",
			 (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
	}
	size_t lines = 0, errs = 0;
	for (const char *p = want; *p; p++)
		lines += *p == '\n';
	for (const char *p = want; (p = strstr(p, ": error: ")); p++)
		errs++;
	assert_int_equal(errors, (int)errs);
	assert_true(lines > 50);
	static const char *const good[] = {
		"good one", "good two", "good three", "never", "same sid",
	};
	assert_int_equal(ruleset_count(rs), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(ruleset_get(rs, i)->name, good[i]);
	assert_int_equal(ruleset_get(rs, 2)->line, 57);
	assert_int_equal(ruleset_get(rs, 2)->msg_types, 1u << MQTT_PUBLISH);
	ruleset_free(rs);
	free(text);
	free(want);
	free(got);
}

static void test_messages(void **state)
{
	(void)state;
	/* columns count bytes of the physical line, after continuations */
	ASSERT_ERROR("mqtt any -> any; \\\n  name: x; \\\n\tqos: 9\n",
		     "t.rules:3:7: error: expected QoS 0-3, got '9'\n");
	/* control bytes in a quoted token are escaped */
	ASSERT_ERROR("mqtt any -> any; name: x; msg_type: \"a\\\\b\xc3\xa9\"\n",
		     "t.rules:1:38: error: expected a message type, got "
		     "'a\\b\xc3\xa9'\n");
	/* a long token is cut at 40 bytes, on a character boundary */
	ASSERT_ERROR("mqtt any -> any; name: x; qos: "
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9zzz\n",
		     "t.rules:1:32: error: expected QoS 0-3, got "
		     "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'\n");
	ASSERT_ERROR("mqtt any -> any; name: x; priorty: 1",
		     "t.rules:1:27: error: unknown option 'priorty' (did you "
		     "mean 'priority'?)\n");
	ASSERT_ERROR("mqtt any -> any; name: x; clientid: a",
		     "t.rules:1:27: error: unknown option 'clientid' (did you "
		     "mean 'client_id'?)\n");
	ASSERT_ERROR("mqtt any -> any; name: x; msg_type: conack",
		     "t.rules:1:37: error: expected a message type, got "
		     "'conack' (did you mean 'connack'?)\n");
	ASSERT_ERROR("tcp any -> any; name: x; anomaly: replay; flags: S",
		     "t.rules:1:43: error: option 'flags' cannot be combined "
		     "with 'anomaly' (anomaly events carry no message)\n");
	ASSERT_ERROR("mqtt [10.0.0.1 -> any; name: x",
		     "t.rules:1:16: error: expected ',' or ']' in address list, "
		     "got '->'\n");
	ASSERT_ERROR("mqtt [10.0.0.1; name: x",
		     "t.rules:1:15: error: expected ',' or ']' in address list, "
		     "got ';'\n");
	ASSERT_ERROR("mqtt any -> !; name: x",
		     "t.rules:1:14: error: expected address, got ';'\n");
	ASSERT_ERROR("mqtt any -> [1.2.3.4,]",
		     "t.rules:1:22: error: expected address, got ']'\n");
	ASSERT_ERROR("mqtt any -> any; name: x; payload_size: >10gb",
		     "t.rules:1:41: error: expected a size comparison like "
		     "'>1024' or '>=64kb', got '>10gb'\n");
	ASSERT_ERROR("tcp any -> any; name: x; filter: #",
		     "t.rules:1:26: error: option 'filter' is only for mqtt "
		     "rules\n");
	ASSERT_ERROR("mqtt any -> any; name: x; topics: a, , b",
		     "t.rules:1:38: error: expected a topic filter, got ','\n");

	/* warnings do not count as errors */
	int e;
	char *m;
	struct ruleset *rs = load("mqtt any -> any; name: w; msg_type: "
				  "pingreq; topics: a\n", &e, &m);
	assert_int_equal(e, 0);
	assert_int_equal(ruleset_count(rs), 1);
	assert_non_null(strstr(m, "t.rules:1:46: warning: option 'topics' only "
			       "matches connect, publish, subscribe, unsubscribe"));
	free(m);
	ruleset_free(rs);
}

/* ---- candidates ---- */

static bool has(const struct rule *const *c, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i]->name, name))
			return true;
	return false;
}

static const char index_rules[] =
	"mqtt any -> any; name: sensors; msg_type: publish; topics: sensors/#\n"
	"mqtt any -> any; name: zigbee; topics: zigbee2mqtt/#\n"
	"mqtt any -> any; name: generic\n"
	"mqtt any -> any; name: wild; topics: +/x, sensors/y\n"
	"mqtt any -> any; name: two; topics: sensors/a, zigbee2mqtt/b, sensors/c\n"
	"mqtt any -> any; name: sys; topics: $SYS/#\n"
	"mqtt any -> any; name: sub; msg_type: subscribe\n"
	"mqtt any -> any; name: ka; keepalive: 0\n"
	"mqtt any -> any; name: empty-level; topics: /x\n"
	"tcp any -> any; name: tcp\n"
	"tcp any -> any; name: tcp-anomaly; anomaly: *\n"
	"mqtt any -> any; name: mqtt-anomaly; anomaly: replay\n"
	"mqtt any -> any; name: deep; topics: home/+/kitchen/set, home/garage/door\n"
	"mqtt any -> any; name: level2; topics: home/garage/#\n";

/* The names of the candidates for a PUBLISH on topic, in order. */
static void assert_publish_candidates(const struct ruleset *rs,
				      const char *topic, const char *want)
{
	struct evt e;
	size_t n;
	char got[256] = "";
	ev_publish(&e, OUTSIDER, topic, 0, 1);
	const struct rule *const *c = ruleset_candidates(rs, &e.ev, &n);
	for (size_t i = 0; i < n; i++) {
		strcat(got, i ? " " : "");
		strcat(got, c[i]->name);
	}
	if (strcmp(got, want))
		fail_msg("PUBLISH %s: candidates '%s', want '%s'", topic, got,
			 want);
}

static void test_candidates(void **state)
{
	(void)state;
	struct ruleset *rs = load(index_rules, NULL, NULL);
	assert_int_equal(ruleset_count(rs), 14);
	struct evt e;
	size_t n;
	const struct rule *const *c;

	/* by topic level; rule order kept */
	assert_publish_candidates(rs, "sensors/x", "sensors generic wild");
	assert_publish_candidates(rs, "sensors/a", "sensors generic wild two");
	assert_publish_candidates(rs, "sensors/a/b", "sensors generic wild");
	assert_publish_candidates(rs, "sensors", "sensors generic wild");
	assert_publish_candidates(rs, "zigbee2mqtt", "zigbee generic wild");
	assert_publish_candidates(rs, "zigbee2mqtt/b", "zigbee generic wild two");
	assert_publish_candidates(rs, "other/level", "generic wild");
	assert_publish_candidates(rs, "$SYS/broker", "generic wild sys");
	assert_publish_candidates(rs, "/x", "generic wild empty-level");
	assert_publish_candidates(rs, "", "generic wild"); /* alias only */
	assert_publish_candidates(rs, "home/garage/door",
				  "generic wild deep level2");
	assert_publish_candidates(rs, "home/garage", "generic wild level2");
	assert_publish_candidates(rs, "home/cellar/kitchen/set",
				  "generic wild deep");
	assert_publish_candidates(rs, "home/garage/kitchen/set",
				  "generic wild deep level2");
	assert_publish_candidates(rs, "home", "generic wild");

	ev_subscribe(&e, OUTSIDER, MQTT_SUBSCRIBE, "#", NULL, 0);
	c = ruleset_candidates(rs, &e.ev, &n);
	assert_int_equal(n, 9); /* all mqtt ones but sensors and ka */
	assert_false(has(c, n, "sensors"));
	assert_false(has(c, n, "ka"));

	ev_mqtt(&e, MQTT_CONNECT, false, OUTSIDER);
	c = ruleset_candidates(rs, &e.ev, &n);
	assert_true(has(c, n, "ka"));
	assert_false(has(c, n, "sub"));
	assert_int_equal(n, 9);

	ev_mqtt(&e, MQTT_PINGREQ, false, OUTSIDER);
	c = ruleset_candidates(rs, &e.ev, &n);
	assert_int_equal(n, 1);
	assert_string_equal(c[0]->name, "generic");

	ev_tcp(&e, OUTSIDER, 1, BROKER, 1883, TCP_SYN);
	c = ruleset_candidates(rs, &e.ev, &n);
	assert_int_equal(n, 1);
	assert_string_equal(c[0]->name, "tcp");

	ev_anomaly(&e, "x");
	c = ruleset_candidates(rs, &e.ev, &n);
	assert_int_equal(n, 2);
	assert_true(has(c, n, "tcp-anomaly") && has(c, n, "mqtt-anomaly"));

	/* every matching rule is a candidate */
	static const char *const topics[] = {
		"sensors/y", "zigbee2mqtt/b", "a/x", "$SYS/x", "/x", "sensors",
		"home/a/kitchen/set", "home/garage/door", "home/garage",
		"sensors/a", "sensors/c/d", "", "/", "home//kitchen/set",
	};
	for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
		ev_publish(&e, OUTSIDER, topics[t], 0, 1);
		c = ruleset_candidates(rs, &e.ev, &n);
		for (size_t i = 0; i < ruleset_count(rs); i++) {
			bool tgt;
			const struct rule *r = ruleset_get(rs, i);
			if (rule_match(r, &e.ev, &tgt) && !has(c, n, r->name))
				fail_msg("%s matches %s but is no candidate",
					 r->name, topics[t]);
		}
	}
	ruleset_free(rs);

	/* an empty set */
	rs = ruleset_new(NULL);
	ev_publish(&e, OUTSIDER, "a", 0, 1);
	c = ruleset_candidates(rs, &e.ev, &n);
	assert_int_equal(n, 0);
	assert_non_null(c);
	ruleset_free(rs);
}

/* The candidates of a PUBLISH on topic among ng generic rules and nk
 * rules on "tI/x/y": how many, and whether k7 and k8 are among them. */
static size_t bounded_case(size_t ng, size_t nk, const char *topic,
			   bool *k7, bool *k8)
{
	char *text = malloc((ng + nk) * 80), *p = text;
	assert_non_null(text);
	for (size_t i = 0; i < ng; i++)
		p += sprintf(p, "mqtt any -> any; name: g%zu; sid: %zu\n", i,
			     i + 1);
	for (size_t i = 0; i < nk; i++)
		p += sprintf(p, "mqtt any -> any; name: k%zu; topics: t%zu/x/y;"
			     " sid: %zu\n", i, i, ng + i + 1);
	int e;
	struct ruleset *rs = load(text, &e, NULL);
	assert_int_equal(e, 0);
	struct evt ev;
	size_t n;
	ev_publish(&ev, OUTSIDER, topic, 0, 1);
	const struct rule *const *c = ruleset_candidates(rs, &ev.ev, &n);
	*k7 = has(c, n, "k7");
	*k8 = has(c, n, "k8");
	ruleset_free(rs);
	free(text);
	return n;
}

/* Generic rules sit in every list: when that would pass 4 M entries the
 * tree is built shallower, then not at all; candidates stay right. */
static void test_candidates_bounded(void **state)
{
	(void)state;
	bool k7, k8;
	assert_int_equal(bounded_case(10, 3000, "t7/x/y", &k7, &k8), 11);
	assert_true(k7 && !k8);
	assert_int_equal(bounded_case(10, 3000, "t7/q", &k7, &k8), 10);
	assert_false(k7);
	/* 600 x 9001 nodes x 2 is too much: one level deep */
	assert_int_equal(bounded_case(600, 3000, "t7/x/y", &k7, &k8), 601);
	assert_true(k7 && !k8);
	/* 3000 generic rules x 3001 first levels x 2: no topic index */
	assert_int_equal(bounded_case(3000, 3000, "t7/x/y", &k7, &k8), 6000);
	assert_true(k7 && k8);
}

/* Rules loaded by a later call join the index. */
static void test_candidates_two_loads(void **state)
{
	(void)state;
	struct ruleset *rs = ruleset_new(NULL);
	struct evt e;
	size_t n;
	assert_int_equal(ruleset_load_string(rs, "a", "mqtt any -> any; name: "
					     "a; topics: a/#\n", NULL), 0);
	assert_int_equal(ruleset_load_string(rs, "b", "mqtt any -> any; name: "
					     "b; topics: a/b\n", NULL), 0);
	ev_publish(&e, OUTSIDER, "a/b", 0, 1);
	const struct rule *const *c = ruleset_candidates(rs, &e.ev, &n);
	assert_int_equal(n, 2);
	assert_string_equal(c[0]->file, "a");
	assert_string_equal(c[1]->file, "b");
	ruleset_free(rs);
}

/* ---- limits ---- */

static void test_limits(void **state)
{
	(void)state;
	int e;
	char *m;
	/* a rule over 64 KiB is refused; the next line still loads */
	size_t big = 70000;
	char *text = malloc(big + 100);
	assert_non_null(text);
	strcpy(text, "mqtt any -> any; name: ");
	size_t k = strlen(text);
	memset(text + k, 'n', big);
	strcpy(text + k + big, "\ntcp any -> any; name: ok\n");
	struct ruleset *rs = load(text, &e, &m);
	assert_int_equal(e, 1);
	assert_int_equal(ruleset_count(rs), 1);
	assert_string_equal(m, "t.rules:1:1: error: rule longer than 65536 bytes\n");
	free(m);
	ruleset_free(rs);
	/* continuations count too */
	free(text);
	text = malloc(20 * 5000 + 100);
	assert_non_null(text);
	text[0] = 0;
	char *p = text;
	for (int i = 0; i < 5000; i++)
		p += sprintf(p, "name%04d: x; \\\n", i);
	strcpy(p, "\ntcp any -> any; name: ok\n");
	rs = load(text, &e, &m);
	assert_int_equal(e, 1);
	assert_string_equal(m, "t.rules:1:1: error: rule longer than 65536 bytes\n");
	assert_int_equal(ruleset_count(rs), 1);
	free(m);
	ruleset_free(rs);
	free(text);

	/* variable chains: 16 deep is fine, 17 is not; cycles are named */
	struct rule_vars v;
	rule_vars_default(&v);
	for (int i = 0; i < 20; i++) {
		char name[8], val[16];
		snprintf(name, sizeof(name), "V%d", i);
		if (i == 19)
			snprintf(val, sizeof(val), "10.0.0.0/8");
		else
			snprintf(val, sizeof(val), "[$V%d]", i + 1);
		assert_int_equal(rule_vars_set(&v, name, val, false), 0);
	}
	ruleset_free(one_vars(&v, "tcp $V4 -> any; name: deep"));
	rs = load_vars(&v, "tcp any -> $V3; name: deep", &e, &m);
	assert_int_equal(e, 1);
	assert_string_equal(m, "t.rules:1:12: error: in $V18: variables nested "
			    "deeper than 16 at $V19\n");
	free(m);
	ruleset_free(rs);
	assert_int_equal(rule_vars_set(&v, "A", "[10.0.0.1, $B]", false), 0);
	assert_int_equal(rule_vars_set(&v, "B", "[$C]", false), 0);
	assert_int_equal(rule_vars_set(&v, "C", "!$A", false), 0);
	rs = load_vars(&v, "tcp $A -> any; name: cycle", &e, &m);
	assert_int_equal(e, 1);
	assert_string_equal(m, "t.rules:1:5: error: in $C: variable $A refers "
			    "to itself\n");
	free(m);
	ruleset_free(rs);
	assert_int_equal(rule_vars_set(&v, "SELFREF", "$SELFREF", false), 0);
	rs = load_vars(&v, "tcp $SELFREF -> any; name: cycle", &e, &m);
	assert_string_equal(m, "t.rules:1:5: error: in $SELFREF: variable "
			    "$SELFREF refers to itself\n");
	free(m);
	ruleset_free(rs);

	/* exponential expansion is cut off by the element budget */
	rule_vars_default(&v);
	assert_int_equal(rule_vars_set(&v, "L0", "[[],[],[],[],[],[],[],[],[],[]]", false), 0);
	for (int i = 1; i < 10; i++) {
		char name[8], val[128];
		snprintf(name, sizeof(name), "L%d", i);
		snprintf(val, sizeof(val), "[$L%d,$L%d,$L%d,$L%d,$L%d,$L%d,"
			 "$L%d,$L%d,$L%d,$L%d]", i - 1, i - 1, i - 1, i - 1,
			 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
		assert_int_equal(rule_vars_set(&v, name, val, false), 0);
	}
	rs = load_vars(&v, "tcp $L9 -> any; name: bomb", &e, &m);
	assert_int_equal(e, 1);
	assert_non_null(strstr(m, "address expands to too many elements"));
	free(m);
	ruleset_free(rs);

	/* nesting */
	char deep[400];
	memset(deep, 0, sizeof(deep));
	strcpy(deep, "tcp ");
	for (int i = 0; i < 100; i++)
		strcat(deep, "[");
	strcat(deep, " -> any; name: n");
	rs = load(deep, &e, &m);
	assert_int_equal(e, 1);
	assert_non_null(strstr(m, "address nested deeper than 64"));
	free(m);
	ruleset_free(rs);
	memset(deep, 0, sizeof(deep));
	strcpy(deep, "tcp ");
	memset(deep + 4, '!', 200);
	strcat(deep, "any -> any; name: n");
	rs = load(deep, &e, &m);
	assert_int_equal(e, 1);
	assert_non_null(strstr(m, "address nested deeper than 64"));
	free(m);
	ruleset_free(rs);

	/* lists longer than 4096 entries */
	text = malloc(5000 * 8 + 100);
	assert_non_null(text);
	p = text + sprintf(text, "tcp any -> any [");
	for (int i = 0; i < 4097; i++)
		p += sprintf(p, "%s%d", i ? "," : "", i + 1);
	strcpy(p, "]; name: l");
	rs = load(text, &e, &m);
	assert_int_equal(e, 1);
	assert_non_null(strstr(m, "port list longer than 4096 entries"));
	free(m);
	ruleset_free(rs);
	p = text + sprintf(text, "mqtt any -> any; name: l; qos: ");
	for (int i = 0; i < 4097; i++)
		p += sprintf(p, "%s1", i ? "," : "");
	rs = load(text, &e, &m);
	assert_int_equal(e, 1);
	assert_non_null(strstr(m, "list longer than 4096 items"));
	free(m);
	ruleset_free(rs);
	free(text);
}

static void test_rule_count_limit(void **state)
{
	(void)state;
	size_t n = 100002;
	char *text = malloc(n * 40 + 1), *p = text;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "tcp any -> any; name: r; sid: %zu\n", i + 1);
	int e;
	char *m;
	struct ruleset *rs = load(text, &e, &m);
	assert_int_equal(ruleset_count(rs), 100000);
	assert_int_equal(e, 2);
	assert_string_equal(m, "t.rules:100001:1: error: more than 100000 rules: "
			    "this and later rules are skipped\n");
	free(m);
	ruleset_free(rs);
	free(text);
}

/* ---- files, directories, rules check ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_files_and_check(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_rules_XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_file(dir, "b.rules", "tcp any -> any; name: b1; sid: 10\n"
		   "tcp any -> any; name: b2; sid: 11; priority: 4\n");
	write_file(dir, "a.rules", "tcp any -> any; name: a1; sid: 10\r\n"
		   "tcp any -> any; name: a2; bogus: 1\r\n");
	write_file(dir, "c.txt", "not rules\n");
	write_file(dir, ".hidden.rules", "garbage\n");

	struct ruleset *rs = ruleset_new(NULL);
	assert_int_equal(ruleset_load_dir(rs, dir, NULL), 1);
	assert_int_equal(ruleset_count(rs), 3);
	assert_string_equal(ruleset_get(rs, 0)->name, "a1"); /* name order */
	assert_string_equal(ruleset_get(rs, 1)->name, "b1");
	ruleset_free(rs);

	rs = ruleset_new(NULL);
	char *m = NULL;
	size_t len;
	FILE *f = open_memstream(&m, &len);
	assert_int_equal(ruleset_load_file(rs, "/nonexistent/x.rules", f), -1);
	assert_int_equal(ruleset_load_dir(rs, "/nonexistent", f), -1);
	fclose(f);
	assert_string_equal(m, "/nonexistent/x.rules: error: cannot open: No "
			    "such file or directory\n/nonexistent: error: "
			    "cannot read directory: No such file or directory\n");
	free(m);
	ruleset_free(rs);

	char *out = NULL, *err = NULL;
	size_t ol, el;
	FILE *fo = open_memstream(&out, &ol), *fe = open_memstream(&err, &el);
	char *paths[] = { dir };
	assert_int_equal(rules_check(NULL, NULL, 1, paths, true, fo, fe), 1);
	fclose(fo);
	fclose(fe);
	char want_out[2048], want_err[2048];
	snprintf(want_out, sizeof(want_out),
		 "  %s/a.rules:1: sid 10, Medium: a1\n"
		 "%s/a.rules: 1 rule, 1 error\n"
		 "  %s/b.rules:1: sid 10, Medium: b1\n"
		 "  %s/b.rules:2: sid 11, Critical: b2\n"
		 "%s/b.rules: 2 rules, 0 errors\n"
		 "total: 3 rules, 1 error\n", dir, dir, dir, dir, dir);
	snprintf(want_err, sizeof(want_err),
		 "%s/a.rules:2:27: error: unknown option 'bogus'\n"
		 "%s/b.rules:1:1: warning: duplicate sid 10 (first at "
		 "%s/a.rules:1); both rules are kept\n", dir, dir, dir);
	assert_string_equal(out, want_out);
	assert_string_equal(err, want_err);
	free(out);
	free(err);

	/* a clean file returns 0 */
	char good[600];
	snprintf(good, sizeof(good), "%s/b.rules", dir);
	char *gp[] = { good };
	fo = open_memstream(&out, &ol);
	fe = open_memstream(&err, &el);
	assert_int_equal(rules_check(NULL, NULL, 1, gp, false, fo, fe), 0);
	fclose(fo);
	fclose(fe);
	snprintf(want_out, sizeof(want_out), "%s: 2 rules, 0 errors\n", good);
	assert_string_equal(out, want_out);
	assert_string_equal(err, "");
	free(out);
	free(err);

	static const char *const names[] = {
		"a.rules", "b.rules", "c.txt", ".hidden.rules",
	};
	for (size_t i = 0; i < 4; i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void test_priority_severity(void **state)
{
	(void)state;
	static const char *const names[] = {
		"Informational", "Low", "Medium", "High", "Critical",
	};
	static const unsigned sev[] = { 4, 4, 3, 2, 1 };
	for (unsigned p = 0; p < 5; p++) {
		assert_string_equal(rule_priority_name(p), names[p]);
		assert_int_equal(rule_severity(p), sev[p]);
	}
	assert_string_equal(rule_priority_name(5), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_protected_topic),
		cmocka_unit_test(test_seed_zigbee),
		cmocka_unit_test(test_seed_dos),
		cmocka_unit_test(test_seed_publish),
		cmocka_unit_test(test_seed_brute_force),
		cmocka_unit_test(test_continuation_and_raw),
		cmocka_unit_test(test_defaults_and_identity),
		cmocka_unit_test(test_msg_type_and_qos),
		cmocka_unit_test(test_retcode),
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_client_id_and_username),
		cmocka_unit_test(test_glob_vs_fnmatch),
		cmocka_unit_test(test_protocol_version),
		cmocka_unit_test(test_payload_size_and_keepalive),
		cmocka_unit_test(test_anomaly),
		cmocka_unit_test(test_anomaly_registry),
		cmocka_unit_test(test_classification),
		cmocka_unit_test(test_tcp_flags),
		cmocka_unit_test(test_bidir_and_target),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_broker_keyword),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_vars_api),
		cmocka_unit_test(test_broken_file),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_candidates_bounded),
		cmocka_unit_test(test_candidates_two_loads),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_rule_count_limit),
		cmocka_unit_test(test_files_and_check),
		cmocka_unit_test(test_priority_severity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
