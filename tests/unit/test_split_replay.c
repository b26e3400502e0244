/* test_split_replay.c - every MQTT decoder case replayed at every split point (GUIDE §6). */

/*
 * The session layer's output must not depend on where segment boundaries
 * fall: each case is fed whole, split in two at every byte of every step,
 * and byte by byte, and the recorded output must be identical.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_session.h"
#include "mqtt_build.h"
#include "test_sink.h"

#define MAX_STEPS 48

/*
 * A decoder case: a conversation as an ordered list of steps, each the
 * bytes one side sends before the other answers (one or more messages).
 * The steps of one direction, concatenated, are that direction's stream.
 */
struct step {
	bool toclient;
	struct mb bytes;
};

struct conv {
	const char *name;
	struct step steps[MAX_STEPS];
	size_t n;
	struct mqtt_cfg cfg;
	/* Only every sample-th split point (1: all of them). */
	size_t sample;
	/* Strings the baseline must contain, so a silent decoder fails. */
	const char *must[24];
};

static struct mb *add_step(struct conv *c, bool toclient)
{
	if (c->n && c->steps[c->n - 1].toclient == toclient)
		return &c->steps[c->n - 1].bytes;
	assert_true(c->n < MAX_STEPS);
	struct step *s = &c->steps[c->n++];
	s->toclient = toclient;
	mb_init(&s->bytes);
	return &s->bytes;
}

/* Starts a new step even when the direction does not change. */
static struct mb *new_step(struct conv *c, bool toclient)
{
	assert_true(c->n < MAX_STEPS);
	struct step *s = &c->steps[c->n++];
	s->toclient = toclient;
	mb_init(&s->bytes);
	return &s->bytes;
}

#define C2S(c) add_step((c), false)
#define S2C(c) add_step((c), true)

static void conv_init(struct conv *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->sample = 1;
	mqtt_cfg_default(&c->cfg);
}

static void conv_free(struct conv *c)
{
	for (size_t i = 0; i < c->n; i++)
		mb_free(&c->steps[i].bytes);
}

enum mode { WHOLE, SPLIT, BYTEWISE };

/*
 * Replays c through a fresh session: WHOLE feeds each step in one call,
 * SPLIT feeds step split_step as [0, at) and [at, len), BYTEWISE feeds
 * every step one byte per call. The flow then closes. Returns the
 * recording (caller frees).
 */
static char *replay(const struct conv *c, enum mode mode, size_t split_step,
		    size_t at)
{
	struct sess s;
	sess_init(&s, &c->cfg, true);
	for (size_t i = 0; i < c->n; i++) {
		const struct step *st = &c->steps[i];
		const uint8_t *p = st->bytes.p;
		size_t n = st->bytes.len;
		if (mode == BYTEWISE) {
			for (size_t k = 0; k < n; k++)
				sess_feed(&s, st->toclient, p + k, 1);
		} else if (mode == SPLIT && i == split_step) {
			sess_feed(&s, st->toclient, p, at);
			sess_feed(&s, st->toclient, p + at, n - at);
		} else {
			sess_feed(&s, st->toclient, p, n);
		}
	}
	sess_finish(&s, true);
	char *out = strdup(rec_text(&s.rec));
	assert_non_null(out);
	sess_deinit(&s);
	return out;
}

static void check_conv(const struct conv *c)
{
	char *base = replay(c, WHOLE, 0, 0);
	assert_true(strlen(base) > 0);
	for (size_t i = 0; c->must[i]; i++)
		if (!strstr(base, c->must[i]))
			fail_msg("%s: baseline lacks %s:\n%s", c->name, c->must[i], base);
	char what[160];
	size_t total = 0, runs = 0;
	for (size_t i = 0; i < c->n; i++) {
		size_t len = c->steps[i].bytes.len;
		for (size_t at = 1; at < len; at++) {
			if (c->sample > 1 && at % c->sample != 0 && at > 8 &&
			    len - at > 8)
				continue;
			char *got = replay(c, SPLIT, i, at);
			snprintf(what, sizeof(what), "%s: step %zu (%s, %zu bytes) "
				 "split at %zu (stream offset %zu)", c->name, i,
				 c->steps[i].toclient ? "toclient" : "toserver",
				 len, at, total + at);
			assert_text_equal(got, base, what);
			free(got);
			runs++;
		}
		total += len;
	}
	assert_true(runs > 0);
	char *bw = replay(c, BYTEWISE, 0, 0);
	snprintf(what, sizeof(what), "%s: byte by byte", c->name);
	assert_text_equal(bw, base, what);
	free(bw);
	free(base);
}

/* ---- the cases ---- */

static const char *const sub_topics[] = { "sensors/+/temp", "alerts/#" };
static const uint8_t sub_opts[] = { 1, 2 };
static const uint8_t sub_codes[] = { 1, 2 };
static const char *const unsub_topics[] = { "alerts/#" };

/* Every 3.1 or 3.1.1 packet type, each in its own step. */
static void build_v3(struct conv *c, uint8_t ver)
{
	struct connect_spec cs = {
		.version = ver, .clean = true, .keepalive = 30,
		.client_id = "split-client", .will_topic = "dev/status",
		.will_msg = "offline", .will_qos = 1, .will_retain = true,
		.username = "user", .password = "pass",
	};
	mqtt_build_connect(C2S(c), &cs);
	mqtt_build_connack(S2C(c), ver, false, 0, NULL);
	mqtt_build_subscribe(C2S(c), ver, 1, NULL, sub_topics, sub_opts, 2);
	mqtt_build_suback(S2C(c), MQTT_SUBACK, ver, 1, NULL, sub_codes, 2);
	mqtt_build_publish(C2S(c), ver, 0, false, true, "sensors/a/temp", 0, NULL, "20.5", 4);
	mqtt_build_publish(new_step(c, false), ver, 1, false, false, "sensors/b/temp", 2, NULL, "21", 2);
	mqtt_build_ack(S2C(c), MQTT_PUBACK, ver, 2, -1, NULL);
	mqtt_build_publish(C2S(c), ver, 2, true, false, "sensors/c/temp", 3, NULL, "\x00\xff", 2);
	mqtt_build_ack(S2C(c), MQTT_PUBREC, ver, 3, -1, NULL);
	mqtt_build_ack(C2S(c), MQTT_PUBREL, ver, 3, -1, NULL);
	mqtt_build_ack(S2C(c), MQTT_PUBCOMP, ver, 3, -1, NULL);
	mqtt_build_publish(S2C(c), ver, 1, false, false, "alerts/fire", 7, NULL, "now", 3);
	mqtt_build_ack(C2S(c), MQTT_PUBACK, ver, 7, -1, NULL);
	mqtt_build_unsubscribe(new_step(c, false), ver, 4, NULL, unsub_topics, 1);
	mqtt_build_suback(S2C(c), MQTT_UNSUBACK, ver, 4, NULL, NULL, 0);
	mqtt_build_empty(C2S(c), MQTT_PINGREQ);
	mqtt_build_empty(S2C(c), MQTT_PINGRESP);
	mqtt_build_empty(C2S(c), MQTT_DISCONNECT);
	static const char *const must[] = {
		"\"connect\":{", "\"connack\":{", "\"subscribe\":{", "\"suback\":{",
		"\"publish\":{", "\"puback\":{", "\"pubrec\":{", "\"pubrel\":{",
		"\"pubcomp\":{", "\"unsubscribe\":{", "\"unsuback\":{",
		"\"pingreq\":{", "\"pingresp\":{", "\"disconnect\":{", NULL,
	};
	memcpy(c->must, must, sizeof(must));
}

static void test_split_v311(void **state)
{
	(void)state;
	struct conv c;
	conv_init(&c, "v3.1.1 every packet type");
	build_v3(&c, 4);
	check_conv(&c);
	conv_free(&c);
}

static void test_split_v31(void **state)
{
	(void)state;
	struct conv c;
	conv_init(&c, "v3.1 (MQIsdp) every packet type");
	build_v3(&c, 3);
	c.must[14] = "\"protocol_string\":\"MQIsdp\"";
	check_conv(&c);
	conv_free(&c);
}

/* Every 5.0 packet type, with properties and reason codes, AUTH included. */
static void test_split_v5(void **state)
{
	(void)state;
	struct conv c;
	conv_init(&c, "v5 every packet type");
	struct mb p, wp;
	mb_init(&p);
	mb_init(&wp);
	mb_prop_u32(&p, 17, 120);
	mb_prop_u16(&p, 33, 10);
	mb_prop_u32(&p, 39, 65536);
	mb_prop_str(&p, 21, "SCRAM-SHA-256");
	mb_prop_bin(&p, 22, "client-first", 12);
	mb_prop_pair(&p, "fw", "1.2.3");
	mb_prop_u32(&wp, 24, 5);
	mb_prop_u8(&wp, 1, 1);
	struct connect_spec cs = {
		.version = 5, .clean = true, .keepalive = 20, .props = &p,
		.client_id = "v5-client", .will_topic = "dev/gone",
		.will_msg = "bye", .will_props = &wp, .username = "u5",
		.password = "p5",
	};
	mqtt_build_connect(C2S(&c), &cs);
	/* Enhanced authentication (MQTT 5.0 §4.12). */
	mb_reset(&p);
	mb_prop_str(&p, 21, "SCRAM-SHA-256");
	mb_prop_bin(&p, 22, "server-first", 12);
	mqtt_build_reason(S2C(&c), MQTT_AUTH, 0x18, &p);
	mb_reset(&p);
	mb_prop_str(&p, 21, "SCRAM-SHA-256");
	mb_prop_bin(&p, 22, "client-final", 12);
	mqtt_build_reason(C2S(&c), MQTT_AUTH, 0x18, &p);
	mb_reset(&p);
	mb_prop_str(&p, 18, "assigned-1");
	mb_prop_u16(&p, 19, 60);
	mb_prop_u16(&p, 34, 5);
	mb_prop_u8(&p, 36, 1);
	mb_prop_u8(&p, 37, 1);
	mb_prop_u8(&p, 40, 1);
	mb_prop_u8(&p, 41, 1);
	mb_prop_u8(&p, 42, 0);
	mb_prop_str(&p, 26, "resp/");
	mb_prop_str(&p, 21, "SCRAM-SHA-256");
	mb_prop_bin(&p, 22, "server-final", 12);
	mqtt_build_connack(S2C(&c), 5, false, 0, &p);
	mb_reset(&p);
	mb_prop_varint(&p, 11, 42);
	mb_prop_pair(&p, "sub", "yes");
	static const uint8_t opts5[] = { 0x05, 0x2a };
	mqtt_build_subscribe(C2S(&c), 5, 1, &p, sub_topics, opts5, 2);
	mb_reset(&p);
	mb_prop_str(&p, 31, "granted");
	static const uint8_t codes5[] = { 0x01, 0x9e };
	mqtt_build_suback(S2C(&c), MQTT_SUBACK, 5, 1, &p, codes5, 2);
	mb_reset(&p);
	mb_prop_u8(&p, 1, 1);
	mb_prop_u32(&p, 2, 3600);
	mb_prop_str(&p, 3, "text/plain");
	mb_prop_str(&p, 8, "reply/to");
	mb_prop_bin(&p, 9, "corr", 4);
	mb_prop_u16(&p, 35, 1);
	mb_prop_pair(&p, "k", "v");
	mqtt_build_publish(C2S(&c), 5, 1, false, false, "sensors/x/temp", 10, &p, "19", 2);
	mb_reset(&p);
	mb_prop_str(&p, 31, "no subscribers");
	mqtt_build_ack(S2C(&c), MQTT_PUBACK, 5, 10, 0x10, &p);
	/* Topic alias only: empty topic name. */
	mb_reset(&p);
	mb_prop_u16(&p, 35, 1);
	mqtt_build_publish(C2S(&c), 5, 2, false, false, "", 11, &p, "20", 2);
	mqtt_build_ack(S2C(&c), MQTT_PUBREC, 5, 11, -1, NULL);
	mqtt_build_ack(C2S(&c), MQTT_PUBREL, 5, 11, 0, NULL);
	mb_reset(&p);
	mb_prop_pair(&p, "done", "1");
	mqtt_build_ack(S2C(&c), MQTT_PUBCOMP, 5, 11, 0, &p);
	/* The server publishes with several subscription identifiers. */
	mb_reset(&p);
	mb_prop_varint(&p, 11, 42);
	mb_prop_varint(&p, 11, 268435455);
	mqtt_build_publish(S2C(&c), 5, 2, false, true, "alerts/x", 1, &p, "A", 1);
	mqtt_build_ack(C2S(&c), MQTT_PUBREC, 5, 1, 0, NULL);
	mqtt_build_ack(S2C(&c), MQTT_PUBREL, 5, 1, -1, NULL);
	mqtt_build_ack(C2S(&c), MQTT_PUBCOMP, 5, 1, -1, NULL);
	mb_reset(&p);
	mb_prop_pair(&p, "why", "cleanup");
	mqtt_build_unsubscribe(C2S(&c), 5, 2, &p, unsub_topics, 1);
	static const uint8_t ucodes5[] = { 0x11 };
	mqtt_build_suback(S2C(&c), MQTT_UNSUBACK, 5, 2, NULL, ucodes5, 1);
	/* Re-authentication. */
	mb_reset(&p);
	mb_prop_str(&p, 21, "SCRAM-SHA-256");
	mqtt_build_reason(C2S(&c), MQTT_AUTH, 0x19, &p);
	mqtt_build_reason(S2C(&c), MQTT_AUTH, -1, NULL);
	mqtt_build_empty(C2S(&c), MQTT_PINGREQ);
	mqtt_build_empty(S2C(&c), MQTT_PINGRESP);
	mb_reset(&p);
	mb_prop_u32(&p, 17, 0);
	mb_prop_str(&p, 31, "bye");
	mqtt_build_reason(C2S(&c), MQTT_DISCONNECT, 0x04, &p);
	mb_reset(&p);
	mb_prop_str(&p, 28, "other:1883");
	mqtt_build_reason(S2C(&c), MQTT_DISCONNECT, 0x9c, &p);
	static const char *const must[] = {
		"\"connect\":{", "\"connack\":{", "\"auth\":{", "\"subscribe\":{",
		"\"suback\":{", "\"publish\":{", "\"puback\":{", "\"pubrec\":{",
		"\"pubrel\":{", "\"pubcomp\":{", "\"unsubscribe\":{",
		"\"unsuback\":{", "\"pingreq\":{", "\"pingresp\":{",
		"\"disconnect\":{", "\"authentication_data\":\"server-final\"",
		"\"subscription_identifier\":268435455", "\"reason_code\":156",
		NULL,
	};
	memcpy(c.must, must, sizeof(must));
	check_conv(&c);
	mb_free(&p);
	mb_free(&wp);
	conv_free(&c);
}

/* Pipelined traffic: several messages in each step. */
static void test_split_batched(void **state)
{
	(void)state;
	struct conv c;
	conv_init(&c, "batched messages per step");
	struct connect_spec cs = { .version = 4, .client_id = "batch", .keepalive = 5 };
	struct mb *m = C2S(&c);
	mqtt_build_connect(m, &cs);
	mqtt_build_subscribe(m, 4, 1, NULL, sub_topics, sub_opts, 2);
	mqtt_build_publish(m, 4, 1, false, false, "a", 2, NULL, "one", 3);
	mqtt_build_publish(m, 4, 2, false, false, "b", 3, NULL, "two", 3);
	mqtt_build_publish(m, 4, 0, false, false, "c", 0, NULL, "three", 5);
	mqtt_build_empty(m, MQTT_PINGREQ);
	m = S2C(&c);
	mqtt_build_connack(m, 4, true, 0, NULL);
	mqtt_build_suback(m, MQTT_SUBACK, 4, 1, NULL, sub_codes, 2);
	mqtt_build_ack(m, MQTT_PUBACK, 4, 2, -1, NULL);
	mqtt_build_ack(m, MQTT_PUBREC, 4, 3, -1, NULL);
	mqtt_build_empty(m, MQTT_PINGRESP);
	mqtt_build_publish(m, 4, 1, false, false, "a", 9, NULL, "down", 4);
	m = C2S(&c);
	mqtt_build_ack(m, MQTT_PUBREL, 4, 3, -1, NULL);
	mqtt_build_ack(m, MQTT_PUBACK, 4, 9, -1, NULL);
	mqtt_build_empty(m, MQTT_DISCONNECT);
	mqtt_build_ack(S2C(&c), MQTT_PUBCOMP, 4, 3, -1, NULL);
	static const char *const must[] = {
		"\"pubcomp\":{", "\"message\":\"three\"", "\"message\":\"down\"",
		"\"disconnect\":{", NULL,
	};
	memcpy(c.must, must, sizeof(must));
	check_conv(&c);
	conv_free(&c);
}

/* Messages whose anomalies become records, and answers nothing asked for. */
static void test_split_anomalies(void **state)
{
	(void)state;
	struct conv c;
	conv_init(&c, "anomalies");
	struct mb p, body;
	mb_init(&p);
	mb_init(&body);
	struct mb *m = C2S(&c);
	/* Unintroduced, before any CONNECT. */
	mqtt_build_publish(m, 5, 0, false, false, "early", 0, NULL, "", 0);
	struct connect_spec cs = { .version = 5, .client_id = "an\xff",
				   .extra_flags = 0x01 };
	mqtt_build_connect(m, &cs);
	mqtt_build_connack(S2C(&c), 5, false, 0, NULL);
	m = C2S(&c);
	mqtt_build_publish(m, 5, 3, false, false, "qos/3", 1, NULL, "", 0);
	mqtt_build_publish(m, 5, 0, false, false, "wild/#", 0, NULL, "", 0);
	mb_lenbytes(&body, "a\0b", 3); /* U+0000 in the topic */
	mb_props(&body, NULL);
	mb_packet(m, 0x30, &body);
	mb_reset(&body);
	mb_prop_u16(&p, 35, 0);
	mb_prop_u16(&p, 35, 0);
	mqtt_build_publish(m, 5, 0, false, false, "t", 0, &p, "", 0);
	static const char *const bad_filters[] = { "a/#/b", "c+" };
	static const uint8_t bad_opts[] = { 0xc0, 0x03 };
	mqtt_build_subscribe(m, 5, 5, NULL, bad_filters, bad_opts, 2);
	mb_reset(&p);
	mb_prop_u16(&p, 19, 1); /* server keep alive from a client */
	mqtt_build_reason(m, MQTT_DISCONNECT, 0x04, &p);
	mb_u8(&body, 0);
	mb_varint(&body, 50); /* property length past the message */
	mb_packet(m, 0xe0, &body);
	mb_raw(m, "\xc1\x00", 2);             /* PINGREQ with a flag */
	mb_raw(m, "\xc0\x80\x00", 3);         /* overlong remaining length */
	mb_raw(m, "\x00\x01\x55", 3);         /* reserved type 0 */
	m = S2C(&c);
	mqtt_build_ack(m, MQTT_PUBACK, 5, 99, 0x92, NULL); /* unmatched, bad code */
	mqtt_build_suback(m, MQTT_SUBACK, 5, 5, NULL, (const uint8_t *)"\x80\x11", 2);
	mqtt_build_suback(m, MQTT_SUBACK, 5, 5, NULL, (const uint8_t *)"\x80", 1);
	mqtt_build_connack(m, 5, false, 0x04, NULL);
	static const char *const must[] = {
		"unintroduced_message", "invalid_utf8", "connect_reserved_flag",
		"invalid_qos_level", "wildcard_in_publish_topic",
		"utf8_null_character", "duplicate_property", "topic_alias_zero",
		"invalid_topic_filter", "invalid_subscription_options",
		"misplaced_property", "malformed_traffic", "reserved_flags",
		"overlong_length_encoding", "unassigned_msg_type",
		"missing_publish", "invalid_reason_code", "duplicate_ack",
		"missing_connect", NULL,
	};
	memcpy(c.must, must, sizeof(must));
	check_conv(&c);
	mb_free(&p);
	mb_free(&body);
	conv_free(&c);
}

/* Oversize messages are skipped, wherever their header is cut. */
static void test_split_truncation(void **state)
{
	(void)state;
	struct conv c;
	conv_init(&c, "max-msg-length truncation");
	c.cfg.max_msg_len = 40;
	char big[200];
	memset(big, 'B', sizeof(big));
	struct connect_spec cs = { .version = 4, .client_id = "t" };
	mqtt_build_connect(C2S(&c), &cs);
	mqtt_build_connack(S2C(&c), 4, false, 0, NULL);
	struct mb *m = C2S(&c);
	mqtt_build_publish(m, 4, 0, false, false, "small/1", 0, NULL, "s", 1);
	mqtt_build_publish(m, 4, 1, false, false, "big", 5, NULL, big, sizeof(big));
	mqtt_build_publish(m, 4, 0, false, false, "small/2", 0, NULL, "s", 1);
	mqtt_build_publish(m, 4, 0, false, false, "big", 0, NULL, big, 41);
	mqtt_build_empty(m, MQTT_PINGREQ);
	mqtt_build_publish(S2C(&c), 4, 0, false, false, "big/down", 0, NULL, big, 150);
	mqtt_build_empty(C2S(&c), MQTT_DISCONNECT);
	static const char *const must[] = {
		"\"truncated\":true", "\"topic\":\"small/2\"", "\"pingreq\"",
		"\"disconnect\"", NULL,
	};
	memcpy(c.must, must, sizeof(must));
	check_conv(&c);
	conv_free(&c);
}

/* A message larger than the buffer kept between messages (64 KiB). */
static void test_split_large_message(void **state)
{
	(void)state;
	struct conv c;
	conv_init(&c, "70 KiB publish");
	c.sample = 997; /* every split point would be 70 000 replays */
	size_t n = 70 * 1024;
	char *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	struct connect_spec cs = { .version = 4, .client_id = "L" };
	mqtt_build_connect(C2S(&c), &cs);
	mqtt_build_connack(S2C(&c), 4, false, 0, NULL);
	struct mb *m = C2S(&c);
	mqtt_build_publish(m, 4, 1, false, false, "large", 1, NULL, big, n);
	mqtt_build_publish(m, 4, 0, false, false, "after", 0, NULL, "x", 1);
	mqtt_build_ack(S2C(&c), MQTT_PUBACK, 4, 1, -1, NULL);
	static const char *const must[] = { "\"topic\":\"large\"", "\"puback\"",
					    "\"topic\":\"after\"", NULL };
	memcpy(c.must, must, sizeof(must));
	check_conv(&c);
	free(big);
	conv_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_v311),
		cmocka_unit_test(test_split_v31),
		cmocka_unit_test(test_split_v5),
		cmocka_unit_test(test_split_batched),
		cmocka_unit_test(test_split_anomalies),
		cmocka_unit_test(test_split_truncation),
		cmocka_unit_test(test_split_large_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
