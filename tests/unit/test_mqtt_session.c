/* test_mqtt_session.c - unit tests for MQTT stream framing, sessions and transactions (mqtt/mqtt_session.c). */
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

#define TOSERVER false
#define TOCLIENT true

static void feed(struct sess *s, bool toclient, const struct mb *b)
{
	sess_feed(s, toclient, b->p, b->len);
}

/* Feeds one freshly built packet and frees it. */
#define FEED(s, dir, build_call)          \
	do {                              \
		struct mb pkt_;           \
		mb_init(&pkt_);           \
		{                         \
			struct mb *out = &pkt_; \
			build_call;       \
		}                         \
		feed((s), (dir), &pkt_);  \
		mb_free(&pkt_);           \
	} while (0)

static void assert_has(const struct sess *s, const char *needle)
{
	if (!strstr(rec_text(&s->rec), needle))
		fail_msg("output lacks %s; output:\n%s", needle, rec_text(&s->rec));
}

static void assert_lacks(const struct sess *s, const char *needle)
{
	if (strstr(rec_text(&s->rec), needle))
		fail_msg("output has %s; output:\n%s", needle, rec_text(&s->rec));
}

static void connect_v(struct sess *s, uint8_t version, const char *cid)
{
	struct connect_spec c = { .version = version, .client_id = cid,
				  .keepalive = 60, .clean = true };
	FEED(s, TOSERVER, mqtt_build_connect(out, &c));
	FEED(s, TOCLIENT, mqtt_build_connack(out, version, false, 0, NULL));
}

/* ---- transaction grouping ---- */

static void test_connect_connack_grouped(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, true);
	struct connect_spec c = { .version = 4, .client_id = "dev-1",
				  .username = "bob", .keepalive = 45 };
	FEED(&s, TOSERVER, mqtt_build_connect(out, &c));
	assert_int_equal(s.rec.n_tx, 0); /* waits for its CONNACK */
	assert_true(s.st->connect_seen);
	assert_false(s.st->connected);
	assert_int_equal(s.st->version, 4);
	assert_string_equal(s.st->client_id, "dev-1");
	assert_string_equal(s.st->username, "bob");
	assert_int_equal(s.st->keepalive, 45);
	FEED(&s, TOCLIENT, mqtt_build_connack(out, 4, false, 0, NULL));
	assert_true(s.st->connected);
	assert_int_equal(s.rec.n_tx, 1);
	assert_int_equal(s.rec.n_anomaly, 0);
	assert_has(&s, "tx toserver {\"connect\":{");
	assert_has(&s, "},\"connack\":{\"qos\":0,\"retain\":false,\"dup\":false,"
		       "\"session_present\":false,\"return_code\":0}} session="
		       "{\"client_id\":\"dev-1\",\"username\":\"bob\","
		       "\"protocol_version\":4,\"keepalive\":45}");
	assert_int_equal(s.ctx.stats.transactions, 1);
	assert_int_equal(s.ctx.stats.messages, 2);
	sess_deinit(&s);
}

/* A 5.0 CONNACK's assigned client identifier fills an empty client id. */
static void test_v5_assigned_client_id(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	struct mb props;
	mb_init(&props);
	mb_prop_str(&props, 18, "auto-9");
	struct connect_spec c = { .version = 5, .client_id = "" };
	FEED(&s, TOSERVER, mqtt_build_connect(out, &c));
	assert_string_equal(s.st->client_id, "");
	FEED(&s, TOCLIENT, mqtt_build_connack(out, 5, false, 0, &props));
	assert_string_equal(s.st->client_id, "auto-9");
	assert_int_equal(s.st->version, 5);
	assert_false(s.st->version_inferred);
	mb_free(&props);
	sess_deinit(&s);
}

static void test_publish_qos0_standalone(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 0, false, false, "a/b", 0,
					      NULL, "v", 1));
	assert_int_equal(s.rec.n_tx, 1);
	assert_has(&s, "tx toserver {\"publish\":{\"qos\":0,\"retain\":false,"
		       "\"dup\":false,\"topic\":\"a/b\",\"message\":\"v\"}}");
	assert_int_equal(s.st->n_pending, 0);
	sess_deinit(&s);
}

static void test_publish_qos1_chain(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "q1", 5,
					      NULL, "x", 1));
	assert_int_equal(s.rec.n_tx, 0);
	assert_int_equal(s.st->n_pending, 1);
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 5, -1, NULL));
	assert_int_equal(s.rec.n_tx, 1);
	assert_int_equal(s.rec.n_anomaly, 0);
	assert_has(&s, "tx toserver {\"publish\":{\"qos\":1,\"retain\":false,"
		       "\"dup\":false,\"topic\":\"q1\",\"message_id\":5,"
		       "\"message\":\"x\"},\"puback\":{\"qos\":0,\"retain\":false,"
		       "\"dup\":false,\"message_id\":5}}");
	assert_int_equal(s.st->n_pending, 0);
	sess_deinit(&s);
}

static void test_publish_qos2_chain(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 2, false, false, "q2", 6,
					      NULL, "y", 1));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREC, 4, 6, -1, NULL));
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBREL, 4, 6, -1, NULL));
	assert_int_equal(s.rec.n_tx, 0);
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBCOMP, 4, 6, -1, NULL));
	assert_int_equal(s.rec.n_tx, 1);
	assert_int_equal(s.rec.n_anomaly, 0);
	assert_has(&s, "tx toserver {\"publish\":{\"qos\":2,");
	assert_has(&s, "\"message\":\"y\"},\"pubrec\":{\"qos\":0,\"retain\":false,"
		       "\"dup\":false,\"message_id\":6},\"pubrel\":{\"qos\":1,"
		       "\"retain\":false,\"dup\":false,\"message_id\":6},"
		       "\"pubcomp\":{\"qos\":0,\"retain\":false,\"dup\":false,"
		       "\"message_id\":6}}");
	sess_deinit(&s);
}

/* The server publishes: the acks flow the other way round. */
static void test_server_publish_qos2_chain(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 5, "c");
	rec_reset(&s.rec);
	FEED(&s, TOCLIENT, mqtt_build_publish(out, 5, 2, false, false, "down", 1,
					      NULL, "z", 1));
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBREC, 5, 1, 0x10, NULL));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREL, 5, 1, -1, NULL));
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBCOMP, 5, 1, -1, NULL));
	assert_int_equal(s.rec.n_tx, 1);
	assert_int_equal(s.rec.n_anomaly, 0);
	assert_has(&s, "tx toclient {\"publish\":{\"qos\":2,");
	assert_has(&s, "\"pubrec\":{\"qos\":0,\"retain\":false,\"dup\":false,"
		       "\"message_id\":1,\"reason_code\":16}");
	assert_has(&s, "\"pubcomp\":{");
	sess_deinit(&s);
}

static void test_subscribe_suback(void **state)
{
	(void)state;
	static const char *const topics[] = { "a/#", "b" };
	static const uint8_t opts[] = { 1, 0 };
	static const uint8_t codes[] = { 1, 0x80 };
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_subscribe(out, 4, 11, NULL, topics, opts, 2));
	assert_int_equal(s.rec.n_tx, 0);
	FEED(&s, TOCLIENT, mqtt_build_suback(out, MQTT_SUBACK, 4, 11, NULL, codes, 2));
	assert_int_equal(s.rec.n_tx, 1);
	assert_int_equal(s.rec.n_anomaly, 0);
	assert_has(&s, "tx toserver {\"subscribe\":{\"qos\":1,\"retain\":false,"
		       "\"dup\":false,\"message_id\":11,\"topics\":[{\"topic\":"
		       "\"a/#\",\"qos\":1},{\"topic\":\"b\",\"qos\":0}]},\"suback\":"
		       "{\"qos\":0,\"retain\":false,\"dup\":false,\"message_id\":11,"
		       "\"qos_granted\":[1,128]}}");
	sess_deinit(&s);
}

static void test_unsubscribe_unsuback(void **state)
{
	(void)state;
	static const char *const topics[] = { "a/#" };
	static const uint8_t codes[] = { 0x11 };
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 5, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_unsubscribe(out, 5, 12, NULL, topics, 1));
	assert_int_equal(s.rec.n_tx, 0);
	FEED(&s, TOCLIENT, mqtt_build_suback(out, MQTT_UNSUBACK, 5, 12, NULL, codes, 1));
	assert_int_equal(s.rec.n_tx, 1);
	assert_int_equal(s.rec.n_anomaly, 0);
	assert_has(&s, "tx toserver {\"unsubscribe\":{\"qos\":1,\"retain\":false,"
		       "\"dup\":false,\"message_id\":12,\"topics\":[\"a/#\"]},"
		       "\"unsuback\":{\"qos\":0,\"retain\":false,\"dup\":false,"
		       "\"message_id\":12,\"reason_codes\":[17]}}");
	sess_deinit(&s);
}

/* Several transactions open at once complete in any order. */
static void test_interleaved_transactions(void **state)
{
	(void)state;
	static const char *const topics[] = { "s" };
	static const uint8_t opts[] = { 0 };
	static const uint8_t codes[] = { 0 };
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "p1", 1, NULL, "", 0));
	FEED(&s, TOSERVER, mqtt_build_subscribe(out, 4, 2, NULL, topics, opts, 1));
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "p3", 3, NULL, "", 0));
	assert_int_equal(s.st->n_pending, 3);
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 3, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_suback(out, MQTT_SUBACK, 4, 2, NULL, codes, 1));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 1, -1, NULL));
	assert_int_equal(s.rec.n_tx, 3);
	assert_int_equal(s.rec.n_anomaly, 0);
	const char *t = rec_text(&s.rec);
	const char *a = strstr(t, "\"topic\":\"p3\"");
	const char *b = strstr(t, "\"subscribe\"");
	const char *c = strstr(t, "\"topic\":\"p1\"");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c); /* logged as they complete */
	sess_deinit(&s);
}

/*
 * Each side has its own packet identifier space (MQTT 5.0 §2.2.1): a
 * PUBACK from the server answers the client's PUBLISH with that id, never
 * the server's own.
 */
static void test_ack_matching_by_direction(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "from/client",
					      9, NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_publish(out, 4, 1, false, false, "from/server",
					      9, NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 9, -1, NULL));
	assert_int_equal(s.rec.n_tx, 1);
	assert_has(&s, "tx toserver {\"publish\":{\"qos\":1,\"retain\":false,"
		       "\"dup\":false,\"topic\":\"from/client\"");
	assert_lacks(&s, "from/server");
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBACK, 4, 9, -1, NULL));
	assert_int_equal(s.rec.n_tx, 2);
	assert_has(&s, "tx toclient {\"publish\":{\"qos\":1,\"retain\":false,"
		       "\"dup\":false,\"topic\":\"from/server\"");
	assert_int_equal(s.rec.n_anomaly, 0);
	sess_deinit(&s);
}

/* An ack sent by the publisher itself answers nothing. */
static void test_ack_from_wrong_side(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "t", 4,
					      NULL, "", 0));
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBACK, 4, 4, -1, NULL));
	assert_has(&s, "anomaly toserver proto_parser missing_publish (puback for packet id 4)");
	assert_int_equal(s.st->n_pending, 1); /* still waiting */
	/* A PUBREL comes from the publisher: from the server it answers nothing. */
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 2, false, false, "t2", 5,
					      NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREL, 4, 5, -1, NULL));
	assert_has(&s, "anomaly toclient proto_parser missing_publish (pubrel for packet id 5)");
	/* A SUBACK from the client. */
	static const char *const topics[] = { "s" };
	static const uint8_t opts[] = { 0 };
	FEED(&s, TOSERVER, mqtt_build_subscribe(out, 4, 6, NULL, topics, opts, 1));
	FEED(&s, TOSERVER, mqtt_build_suback(out, MQTT_SUBACK, 4, 6, NULL, opts, 1));
	assert_has(&s, "anomaly toserver proto_parser missing_subscribe (suback for packet id 6)");
	sess_deinit(&s);
}

static void test_unmatched_answers(void **state)
{
	(void)state;
	static const uint8_t code[] = { 0 };
	struct sess s;
	sess_init(&s, NULL, false);
	FEED(&s, TOCLIENT, mqtt_build_connack(out, 4, false, 0, NULL));
	assert_has(&s, "anomaly toclient proto_parser missing_connect (CONNACK without CONNECT)");
	assert_has(&s, "tx toclient {\"connack\":{");
	assert_false(s.st->connected);
	rec_reset(&s.rec);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 20, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREC, 4, 21, -1, NULL));
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBREL, 4, 22, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBCOMP, 4, 23, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_suback(out, MQTT_SUBACK, 4, 24, NULL, code, 1));
	FEED(&s, TOCLIENT, mqtt_build_suback(out, MQTT_UNSUBACK, 4, 25, NULL, NULL, 0));
	assert_has(&s, "missing_publish (puback for packet id 20)");
	assert_has(&s, "missing_publish (pubrec for packet id 21)");
	assert_has(&s, "missing_publish (pubrel for packet id 22)");
	assert_has(&s, "missing_publish (pubcomp for packet id 23)");
	assert_has(&s, "missing_subscribe (suback for packet id 24)");
	assert_has(&s, "missing_unsubscribe (unsuback for packet id 25)");
	/* Each is still logged, on its own. */
	assert_int_equal(s.rec.n_tx, 6);
	assert_int_equal(s.rec.n_anomaly, 6);
	sess_deinit(&s);
}

static void test_duplicate_acks(void **state)
{
	(void)state;
	static const char *const topics[] = { "s" };
	static const uint8_t opts[] = { 0 };
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "t", 3, NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 3, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 3, -1, NULL));
	assert_has(&s, "anomaly toclient proto_parser duplicate_ack (puback for packet id 3)");
	assert_lacks(&s, "missing_publish");
	FEED(&s, TOSERVER, mqtt_build_subscribe(out, 4, 4, NULL, topics, opts, 1));
	FEED(&s, TOCLIENT, mqtt_build_suback(out, MQTT_SUBACK, 4, 4, NULL, opts, 1));
	FEED(&s, TOCLIENT, mqtt_build_suback(out, MQTT_SUBACK, 4, 4, NULL, opts, 1));
	assert_has(&s, "duplicate_ack (suback for packet id 4)");
	assert_lacks(&s, "missing_subscribe");
	/* A QoS 2 exchange whose PUBCOMP is repeated after completion. */
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 2, false, false, "t", 7, NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREC, 4, 7, -1, NULL));
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBREL, 4, 7, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBCOMP, 4, 7, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBCOMP, 4, 7, -1, NULL));
	assert_has(&s, "duplicate_ack (pubcomp for packet id 7)");
	assert_lacks(&s, "missing_publish");
	sess_deinit(&s);
}

/*
 * Regression (found by this test, fixed in src/mqtt/mqtt_session.c
 * session_handle): a repeated PUBREC for a QoS 2 PUBLISH that is still
 * pending was reported as "missing_publish", although the PUBLISH was
 * seen. It is a duplicate ack.
 */
static void test_repeated_pubrec_is_duplicate(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 2, false, false, "t", 8, NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREC, 4, 8, -1, NULL));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREC, 4, 8, -1, NULL));
	assert_lacks(&s, "missing_publish");
	assert_has(&s, "duplicate_ack (pubrec for packet id 8)");
	/* The same for a repeated PUBREL; the exchange still completes. */
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBREL, 4, 8, -1, NULL));
	FEED(&s, TOSERVER, mqtt_build_ack(out, MQTT_PUBREL, 4, 8, -1, NULL));
	assert_has(&s, "duplicate_ack (pubrel for packet id 8)");
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBCOMP, 4, 8, -1, NULL));
	assert_lacks(&s, "missing_publish");
	assert_has(&s, "\"pubrec\":{\"qos\":0,\"retain\":false,\"dup\":false,"
		       "\"message_id\":8},\"pubrel\":{\"qos\":1,\"retain\":false,"
		       "\"dup\":false,\"message_id\":8},\"pubcomp\":{");
	assert_int_equal(s.st->n_pending, 0);
	sess_deinit(&s);
}

/*
 * Regression (found by the split-replay tests, fixed in
 * src/mqtt/mqtt_session.c mqtt_stream_feed): a message whose last byte
 * completes its fixed header (an empty body: PINGREQ, PINGRESP, a 3.1.1
 * DISCONNECT) was held back until more data came in that direction, or
 * lost when none did. Likewise the record of an oversize message whose
 * header ends a segment.
 */
static void test_header_completed_by_last_byte(void **state)
{
	(void)state;
	static const uint8_t ping[] = { 0xc0, 0x00 };
	static const uint8_t disc[] = { 0xe0, 0x00 };
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	sess_feed(&s, TOSERVER, ping, 1);
	assert_int_equal(s.rec.n_tx, 0);
	sess_feed(&s, TOSERVER, ping + 1, 1);
	assert_int_equal(s.rec.n_tx, 1); /* at once, not with the next data */
	assert_has(&s, "tx toserver {\"pingreq\":{");
	assert_int_equal(s.st->dir[0].len, 0);
	sess_feed(&s, TOSERVER, disc, 1);
	sess_feed(&s, TOSERVER, disc + 1, 1);
	assert_int_equal(s.rec.n_tx, 2);
	assert_has(&s, "tx toserver {\"disconnect\":{");
	sess_deinit(&s);
	/* An oversize message whose header ends the segment. */
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.max_msg_len = 100;
	struct mb big;
	mb_init(&big);
	char payload[300];
	memset(payload, 'x', sizeof(payload));
	mqtt_build_publish(&big, 4, 0, false, false, "t", 0, NULL, payload, sizeof(payload));
	assert_int_equal(big.p[2] & 0x80, 0); /* a 3-byte fixed header */
	sess_init(&s, &cfg, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	sess_feed(&s, TOSERVER, big.p, 2);
	assert_int_equal(s.rec.n_tx, 0);
	sess_feed(&s, TOSERVER, big.p + 2, 1);
	assert_int_equal(s.rec.n_tx, 1);
	assert_has(&s, "\"truncated\":true");
	sess_feed(&s, TOSERVER, big.p + 3, big.len - 3);
	sess_feed(&s, TOSERVER, ping, 2);
	assert_int_equal(s.rec.n_tx, 2);
	assert_has(&s, "\"pingreq\"");
	mb_free(&big);
	sess_deinit(&s);
}

static void test_missing_ack_at_close(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 2, false, false, "t", 1, NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBREC, 4, 1, -1, NULL));
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "u", 2, NULL, "", 0));
	assert_int_equal(s.rec.n_tx, 0);
	sess_finish(&s, true);
	assert_has(&s, "anomaly toserver proto_parser missing_ack (publish (QoS 2) never acknowledged before the connection closed)");
	assert_has(&s, "anomaly toserver proto_parser missing_ack (publish (QoS 1) never acknowledged before the connection closed)");
	/* Pending transactions are still logged, with what they have. */
	assert_int_equal(s.rec.n_tx, 2);
	assert_has(&s, "\"topic\":\"t\",\"message_id\":1,\"message\":\"\"},\"pubrec\":{");
	sess_deinit(&s);
}

/* A flow that merely times out logs pending transactions without blame. */
static void test_pending_at_timeout(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	struct connect_spec c = { .version = 4, .client_id = "c" };
	FEED(&s, TOSERVER, mqtt_build_connect(out, &c));
	sess_finish(&s, false);
	assert_int_equal(s.rec.n_tx, 1);
	assert_int_equal(s.rec.n_anomaly, 0);
	assert_has(&s, "tx toserver {\"connect\":{");
	sess_deinit(&s);
}

static void test_unintroduced_once_per_direction(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	for (int i = 0; i < 3; i++) {
		FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 0, false, false, "t",
						      0, NULL, "", 0));
		FEED(&s, TOCLIENT, mqtt_build_publish(out, 4, 0, false, false, "t",
						      0, NULL, "", 0));
		FEED(&s, TOSERVER, mqtt_build_empty(out, MQTT_PINGREQ));
	}
	assert_int_equal(rec_count(&s.rec, "unintroduced_message"), 2);
	assert_has(&s, "anomaly toserver proto_parser unintroduced_message (publish before CONNECT/CONNACK)");
	assert_has(&s, "anomaly toclient proto_parser unintroduced_message (publish before CONNECT/CONNACK)");
	assert_int_equal(s.rec.n_tx, 9); /* all still logged */
	sess_deinit(&s);
	/* After CONNECT/CONNACK nothing is unintroduced. */
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 0, false, false, "t", 0, NULL, "", 0));
	FEED(&s, TOCLIENT, mqtt_build_empty(out, MQTT_PINGRESP));
	assert_int_equal(rec_count(&s.rec, "unintroduced"), 0);
	sess_deinit(&s);
}

static void test_double_connect(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "one");
	struct connect_spec c = { .version = 4, .client_id = "two" };
	FEED(&s, TOSERVER, mqtt_build_connect(out, &c));
	assert_has(&s, "anomaly toserver proto_parser double_connect (second CONNECT on one connection)");
	assert_string_equal(s.st->client_id, "two");
	sess_deinit(&s);
}

/* Odd CONNECT client ids, as fuzzers (MQTTSA) send them. */
static void one_connect(const struct mqtt_cfg *cfg, struct connect_spec c,
			const char *want, const char *lacks)
{
	struct sess s;
	sess_init(&s, cfg, false);
	FEED(&s, TOSERVER, mqtt_build_connect(out, &c));
	if (want)
		assert_has(&s, want);
	if (lacks)
		assert_lacks(&s, lacks);
	sess_deinit(&s);
}

static void test_client_id_anomalies(void **state)
{
	(void)state;
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = "$" },
		    "anomaly toserver proto_parser client_id_dollar (client id "
		    "begins with '$', the broker's reserved prefix)", NULL);
	one_connect(NULL, (struct connect_spec){ .version = 5, .client_id = "$topic" },
		    "client_id_dollar", NULL);
	/* empty: 3.1 always, 3.1.1 without clean session, never 5.0 */
	one_connect(NULL, (struct connect_spec){ .version = 3, .clean = true },
		    "client_id_empty (empty client id: MQTT 3.1 requires 1 to "
		    "23 characters)", NULL);
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = false },
		    "client_id_empty (empty client id without clean session",
		    NULL);
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = true },
		    NULL, "client_id");
	one_connect(NULL, (struct connect_spec){ .version = 5, .clean = false },
		    NULL, "client_id");
	/* long: over mqtt.client-id-limit, and over 23 in 3.1 */
	char id[300];
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = id },
		    "client_id_too_long (client id of 299 bytes, over the limit "
		    "of 128 (mqtt.client-id-limit))", NULL);
	id[128] = 0;
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = id },
		    NULL, "client_id");
	id[24] = 0;
	one_connect(NULL, (struct connect_spec){ .version = 3, .client_id = id },
		    "client_id_too_long (client id of 24 bytes, over the limit "
		    "of 23 (MQTT 3.1))", NULL);
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.client_id_limit = 0; /* off, in 3.1 too */
	id[24] = 'a';
	one_connect(&cfg, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = id },
		    NULL, "client_id");
	one_connect(&cfg, (struct connect_spec){ .version = 3, .client_id = id },
		    NULL, "client_id");
	cfg.client_id_limit = 10;
	one_connect(&cfg, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = "abcdefghijk" },
		    "client_id_too_long (client id of 11 bytes, over the limit "
		    "of 10 (mqtt.client-id-limit))", NULL);
	/* control characters: C0, DEL, C1 (U+0085 as UTF-8 C2 85) */
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = "dev\x01" "ce" },
		    "client_id_nonprintable (client id holds control character "
		    "U+0001 at byte 3)", NULL);
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = "x\x7f" },
		    "U+007F at byte 1", NULL);
	one_connect(NULL, (struct connect_spec){ .version = 5,
						  .client_id = "ab\xc2\x85" },
		    "U+0085 at byte 2", NULL);
	/* ordinary device ids raise nothing */
	one_connect(NULL, (struct connect_spec){ .version = 4, .clean = true,
						  .client_id = "ESP32-a4cf12b3c8d0" },
		    NULL, "client_id");
	one_connect(NULL, (struct connect_spec){ .version = 5,
						  .client_id = "zigbee2mqtt_\xc3\xa9t\xc3\xa9" },
		    NULL, "client_id");
}

/* Every anomaly bit of a message becomes one anomaly record, in bit order. */
static void test_message_anomalies_emitted(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, true);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	struct mb b;
	mb_init(&b);
	mqtt_build_publish(&b, 4, 3, false, false, "a/+", 1, NULL, "", 0);
	feed(&s, TOSERVER, &b);
	mb_free(&b);
	assert_has(&s, "anomaly toserver proto_parser invalid_qos_level (in publish)\n"
		       "anomaly toserver proto_parser wildcard_in_publish_topic (in publish)\n"
		       "msg toserver publish anomalies=0x22\n");
	assert_int_equal(s.rec.n_msg, 1);
	/* QoS 3 is not 1 or 2: no transaction is kept open for it. */
	assert_int_equal(s.rec.n_tx, 1);
	/* Type 0 is reserved. */
	static const uint8_t z[] = { 0x00, 0x00 };
	sess_feed(&s, TOSERVER, z, 2);
	assert_has(&s, "anomaly toserver proto_parser unassigned_msg_type (control packet type 0)");
	assert_has(&s, "tx toserver {\"unassigned\":{");
	sess_deinit(&s);
}

/* ---- framing ---- */

static void test_many_messages_one_feed(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	struct mb all;
	mb_init(&all);
	for (int i = 0; i < 50; i++) {
		char topic[16];
		snprintf(topic, sizeof(topic), "t/%d", i);
		mqtt_build_publish(&all, 4, 0, false, false, topic, 0, NULL, "p", 1);
	}
	mqtt_build_empty(&all, MQTT_PINGREQ);
	feed(&s, TOSERVER, &all);
	assert_int_equal(s.rec.n_tx, 51);
	assert_int_equal(s.rec.n_anomaly, 0);
	const char *p = rec_text(&s.rec);
	for (int i = 0; i < 50; i++) {
		char needle[32];
		snprintf(needle, sizeof(needle), "\"topic\":\"t/%d\"", i);
		const char *q = strstr(p, needle);
		if (!q)
			fail_msg("message %d missing or out of order", i);
		p = q + 1;
	}
	assert_non_null(strstr(p, "\"pingreq\""));
	assert_int_equal(s.st->dir[0].len, 0); /* nothing left buffered */
	mb_free(&all);
	sess_deinit(&s);
}

/* A large message fed in small pieces equals the message fed at once. */
static void test_message_split_across_many_feeds(void **state)
{
	(void)state;
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 1000 };
	struct mb msg;
	mb_init(&msg);
	char *payload = malloc(3000);
	assert_non_null(payload);
	for (int i = 0; i < 3000; i++)
		payload[i] = (char)('a' + i % 26);
	mqtt_build_publish(&msg, 4, 1, false, false, "big/one", 77, NULL, payload, 3000);
	mqtt_build_ack(&msg, MQTT_PUBACK, 4, 77, -1, NULL); /* wrong side: an anomaly too */
	mqtt_build_empty(&msg, MQTT_PINGREQ);
	struct sess whole;
	sess_init(&whole, NULL, true);
	connect_v(&whole, 4, "c");
	feed(&whole, TOSERVER, &msg);
	sess_finish(&whole, true);
	assert_int_equal(whole.rec.n_msg, 5);
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct sess s;
		sess_init(&s, NULL, true);
		connect_v(&s, 4, "c");
		for (size_t off = 0; off < msg.len; off += chunks[k]) {
			size_t n = msg.len - off < chunks[k] ? msg.len - off : chunks[k];
			sess_feed(&s, TOSERVER, msg.p + off, n);
		}
		sess_finish(&s, true);
		char what[64];
		snprintf(what, sizeof(what), "chunks of %zu bytes", chunks[k]);
		assert_text_equal(rec_text(&s.rec), rec_text(&whole.rec), what);
		sess_deinit(&s);
	}
	free(payload);
	mb_free(&msg);
	sess_deinit(&whole);
}

static void test_max_msg_length_truncation(void **state)
{
	(void)state;
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.max_msg_len = 32;
	char payload[100];
	memset(payload, 'p', sizeof(payload));
	struct mb msg;
	mb_init(&msg);
	mqtt_build_publish(&msg, 4, 1, true, true, "over/size", 3, NULL, payload,
			   sizeof(payload));
	size_t big_len = msg.len;
	mqtt_build_publish(&msg, 4, 0, false, false, "small", 0, NULL, "ok", 2);
	/* Whole, byte by byte, and split inside the header. */
	static const size_t steps[] = { 0, 1, 2, 5 };
	char *first = NULL;
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct sess s;
		sess_init(&s, &cfg, false);
		connect_v(&s, 4, "c");
		rec_reset(&s.rec);
		size_t step = steps[k] ? steps[k] : msg.len;
		for (size_t off = 0; off < msg.len; off += step)
			sess_feed(&s, TOSERVER, msg.p + off,
				  msg.len - off < step ? msg.len - off : step);
		char want[160];
		snprintf(want, sizeof(want),
			 "tx toserver {\"publish\":{\"qos\":1,\"retain\":true,"
			 "\"dup\":true,\"truncated\":true,\"skipped_length\":%zu}}",
			 big_len);
		assert_has(&s, want);
		assert_has(&s, "\"topic\":\"small\",\"message\":\"ok\"");
		assert_lacks(&s, "over/size");
		assert_int_equal(s.rec.n_tx, 2);
		assert_int_equal(s.ctx.stats.truncated, 1);
		assert_true(s.st->dir[0].buf == NULL || s.st->dir[0].cap < 64 + 32);
		if (!first)
			first = strdup(rec_text(&s.rec));
		else
			assert_string_equal(rec_text(&s.rec), first);
		sess_deinit(&s);
	}
	free(first);
	mb_free(&msg);
}

/* A gap inside a message being skipped anyway changes nothing. */
static void test_gap_inside_truncated_message(void **state)
{
	(void)state;
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.max_msg_len = 16;
	char payload[64];
	memset(payload, 'q', sizeof(payload));
	struct mb msg;
	mb_init(&msg);
	mqtt_build_publish(&msg, 4, 0, false, false, "t", 0, NULL, payload, sizeof(payload));
	mqtt_build_empty(&msg, MQTT_PINGREQ);
	struct sess s;
	sess_init(&s, &cfg, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	sess_feed(&s, TOSERVER, msg.p, 10);
	mqtt_stream_gap(&s.ctx, s.st, TOSERVER, 20, &s.sink);
	sess_feed(&s, TOSERVER, msg.p + 30, msg.len - 30);
	assert_lacks(&s, "reassembly_seq_gap");
	assert_has(&s, "\"truncated\":true");
	assert_has(&s, "\"pingreq\"");
	assert_int_equal(s.rec.n_tx, 2);
	mb_free(&msg);
	sess_deinit(&s);
}

static void test_gap_then_resync(void **state)
{
	(void)state;
	char payload[40];
	memset(payload, 'z', sizeof(payload));
	struct mb cut, after;
	mb_init(&cut);
	mb_init(&after);
	mqtt_build_publish(&cut, 4, 0, false, false, "lost", 0, NULL, payload, sizeof(payload));
	mqtt_build_publish(&after, 4, 0, false, false, "after/gap", 0, NULL, "ok", 2);
	mqtt_build_empty(&after, MQTT_PINGREQ);
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	sess_feed(&s, TOSERVER, cut.p, 15);
	assert_true(s.st->dir[0].len > 0);
	mqtt_stream_gap(&s.ctx, s.st, TOSERVER, 10, &s.sink);
	assert_has(&s, "anomaly toserver stream reassembly_seq_gap (10 bytes missing; 15 buffered bytes dropped)");
	assert_true(s.st->dir[0].resync);
	assert_int_equal(s.st->dir[0].len, 0);
	/* The rest of the cut message, then whole messages. */
	sess_feed(&s, TOSERVER, cut.p + 25, cut.len - 25);
	feed(&s, TOSERVER, &after);
	assert_false(s.st->dir[0].resync);
	assert_lacks(&s, "\"lost\"");
	assert_has(&s, "\"topic\":\"after/gap\",\"message\":\"ok\"");
	assert_has(&s, "\"pingreq\"");
	assert_int_equal(s.rec.n_tx, 2);
	assert_int_equal(s.ctx.stats.gaps, 1);
	assert_int_equal(s.ctx.stats.resyncs, 1);
	/* The other direction was not affected. */
	assert_false(s.st->dir[1].resync);
	mb_free(&cut);
	mb_free(&after);
	sess_deinit(&s);
}

static void test_resync_gives_up(void **state)
{
	(void)state;
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.resync_max = 100;
	struct sess s;
	sess_init(&s, &cfg, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	mqtt_stream_gap(&s.ctx, s.st, TOSERVER, 5, &s.sink);
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk)); /* never a plausible first byte */
	sess_feed(&s, TOSERVER, junk, sizeof(junk));
	assert_false(s.st->dir[0].dead);
	sess_feed(&s, TOSERVER, junk, sizeof(junk));
	assert_true(s.st->dir[0].dead);
	assert_has(&s, "anomaly toserver stream mqtt_resync_failed");
	/* A dead direction stays silent; the other one still works. */
	FEED(&s, TOSERVER, mqtt_build_empty(out, MQTT_PINGREQ));
	FEED(&s, TOCLIENT, mqtt_build_empty(out, MQTT_PINGRESP));
	assert_lacks(&s, "pingreq");
	assert_has(&s, "pingresp");
	assert_int_equal(s.ctx.stats.giveups, 1);
	sess_deinit(&s);
}

/* A stream picked up midway finds the first message boundary. */
static void test_midstream_start(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	mqtt_stream_midstream(s.st, TOSERVER);
	struct mb b;
	mb_init(&b);
	mb_raw(&b, "zzzz", 4); /* tail of a message before the capture */
	mqtt_build_publish(&b, 4, 0, false, false, "mid", 0, NULL, "m", 1);
	mqtt_build_empty(&b, MQTT_PINGREQ);
	feed(&s, TOSERVER, &b);
	assert_has(&s, "\"topic\":\"mid\",\"message\":\"m\"");
	assert_has(&s, "\"pingreq\"");
	assert_int_equal(s.ctx.stats.resyncs, 1);
	mb_free(&b);
	sess_deinit(&s);
}

/* Without a CONNECT, a message that only decodes as 5.0 sets the version. */
static void test_version_inferred(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	struct mb props;
	mb_init(&props);
	mb_prop_str(&props, 31, "fine");
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 5, 3, 0x10, &props));
	assert_int_equal(s.st->version, 5);
	assert_true(s.st->version_inferred);
	assert_has(&s, "\"reason_code\":16,\"properties\":{\"reason_string\":\"fine\"}");
	assert_lacks(&s, "trailing_bytes");
	mb_free(&props);
	sess_deinit(&s);
	/* A clean 3.1.1 message leaves it unknown. */
	sess_init(&s, NULL, false);
	FEED(&s, TOCLIENT, mqtt_build_ack(out, MQTT_PUBACK, 4, 3, -1, NULL));
	assert_int_equal(s.st->version, 0);
	sess_deinit(&s);
}

static void test_malformed_message_then_next(void **state)
{
	(void)state;
	struct sess s;
	sess_init(&s, NULL, false);
	connect_v(&s, 5, "c");
	rec_reset(&s.rec);
	struct mb b, body;
	mb_init(&b);
	mb_init(&body);
	mb_u8(&body, 0);
	mb_varint(&body, 100); /* property length past the message */
	mb_packet(&b, 0xe0, &body);
	mqtt_build_empty(&b, MQTT_PINGREQ);
	feed(&s, TOSERVER, &b);
	assert_has(&s, "anomaly toserver proto_parser malformed_traffic (disconnect: property length exceeds the message)");
	assert_has(&s, "\"pingreq\"");
	assert_int_equal(s.ctx.stats.malformed, 1);
	/* A remaining length of five bytes cannot be framed: resync. */
	rec_reset(&s.rec);
	mb_reset(&b);
	static const uint8_t five[] = { 0x30, 0xff, 0xff, 0xff, 0xff, 0x7f };
	mb_raw(&b, five, sizeof(five));
	mqtt_build_empty(&b, MQTT_PINGREQ);
	feed(&s, TOSERVER, &b);
	assert_has(&s, "malformed_traffic (remaining length longer than 4 bytes)");
	assert_has(&s, "\"pingreq\"");
	mb_free(&b);
	mb_free(&body);
	sess_deinit(&s);
}

static void test_max_tx_per_flow(void **state)
{
	(void)state;
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.max_tx = 2;
	struct sess s;
	sess_init(&s, &cfg, false);
	connect_v(&s, 4, "c");
	rec_reset(&s.rec);
	for (uint16_t id = 1; id <= 3; id++)
		FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 1, false, false, "t",
						      id, NULL, "", 0));
	assert_has(&s, "too_many_transactions");
	assert_int_equal(s.rec.n_tx, 1);
	assert_has(&s, "\"message_id\":1,");
	assert_int_equal(s.st->n_pending, 2);
	assert_int_equal(s.ctx.stats.tx_dropped, 1);
	sess_deinit(&s);
}

/*
 * One stream with QoS 1 and 2 exchanges (a v5 PUBLISH with properties),
 * a duplicate, an unmatched ack, a subscription, more requests than
 * mqtt.max-tx and a tight tx-memcap, fed in 7-byte pieces so kept
 * messages must outlive the buffer they were framed in.
 */
static void feed_tx_mix(struct sess *s)
{
	struct mb props;
	mb_init(&props);
	mb_prop_str(&props, 3, "application/json");
	mb_prop_pair(&props, "site", "kitchen");
	struct mb all;
	mb_init(&all);
	struct connect_spec c = { .version = 5, .client_id = "mix",
				  .keepalive = 60, .clean = true };
	struct mb one;
	mb_init(&one);
	mqtt_build_connect(&one, &c);
	sess_feed(s, TOSERVER, one.p, one.len);
	mb_reset(&one);
	mqtt_build_connack(&one, 5, false, 0, NULL);
	sess_feed(s, TOCLIENT, one.p, one.len);
	for (uint16_t id = 1; id <= 6; id++) {
		mb_reset(&all);
		mqtt_build_publish(&all, 5, (uint8_t)(1 + (id & 1)), false, false,
				   "sensors/kitchen/t", id, &props, "{\"t\":21.5}", 10);
		for (size_t o = 0; o < all.len; o += 7)
			sess_feed(s, TOSERVER, all.p + o, all.len - o < 7 ? all.len - o : 7);
	}
	mb_reset(&one);
	mqtt_build_ack(&one, MQTT_PUBREC, 5, 5, 0, NULL);
	sess_feed(s, TOCLIENT, one.p, one.len);
	mb_reset(&one);
	mqtt_build_ack(&one, MQTT_PUBREL, 5, 5, 0, NULL);
	sess_feed(s, TOSERVER, one.p, one.len);
	mb_reset(&one);
	mqtt_build_ack(&one, MQTT_PUBCOMP, 5, 5, 0, NULL);
	sess_feed(s, TOCLIENT, one.p, one.len);
	mb_reset(&one);
	mqtt_build_ack(&one, MQTT_PUBACK, 5, 4, 0, NULL);
	sess_feed(s, TOCLIENT, one.p, one.len);
	sess_feed(s, TOCLIENT, one.p, one.len); /* duplicate */
	mb_reset(&one);
	mqtt_build_ack(&one, MQTT_PUBACK, 5, 2, 0, NULL);
	sess_feed(s, TOCLIENT, one.p, one.len); /* its PUBLISH was logged early */
	mb_reset(&one);
	mqtt_build_ack(&one, MQTT_PUBACK, 5, 99, 0, NULL);
	sess_feed(s, TOCLIENT, one.p, one.len); /* never asked */
	static const char *const topics[] = { "sensors/#" };
	static const uint8_t opts[] = { 1 };
	mb_reset(&one);
	mqtt_build_subscribe(&one, 5, 7, NULL, topics, opts, 1);
	sess_feed(s, TOSERVER, one.p, one.len);
	mb_free(&one);
	mb_free(&all);
	mb_free(&props);
}

/* The recording without its "tx" lines. */
static char *without_tx(const char *text)
{
	size_t n = strlen(text);
	char *out = calloc(1, n + 1);
	assert_non_null(out);
	size_t o = 0;
	for (const char *p = text; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
		if (strncmp(p, "tx ", 3)) {
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
	}
	return out;
}

/*
 * Pairing, caps and anomalies do not depend on whether transactions are
 * logged: with no tx sink (read --alerts-only) nothing is kept, yet every
 * anomaly and counter is the same.
 */
static void test_tx_logging_off_same_pairing(void **state)
{
	(void)state;
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.max_tx = 3;
	cfg.tx_memcap = 3000;
	struct sess on, off;
	sess_init(&on, &cfg, true);
	sess_init(&off, &cfg, true);
	off.sink.tx = NULL;
	feed_tx_mix(&on);
	feed_tx_mix(&off);
	sess_finish(&on, true);
	sess_finish(&off, true);
	assert_true(on.rec.n_tx > 0);
	assert_int_equal(off.rec.n_tx, 0);
	assert_has(&on, "too_many_transactions");
	assert_has(&on, "duplicate_ack");
	assert_has(&on, "missing_publish");
	/* The kept PUBLISH, PUBREC and PUBREL come out whole after the
	 * pieces they were framed from are gone. */
	assert_has(&on, "\"publish\":{\"qos\":2,\"retain\":false,\"dup\":false,"
			"\"topic\":\"sensors/kitchen/t\",\"message_id\":5,"
			"\"message\":\"{\\\"t\\\":21.5}\",\"properties\":{"
			"\"content_type\":\"application/json\",\"site\":\"kitchen\"}},"
			"\"pubrec\":");
	char *a = without_tx(rec_text(&on.rec));
	char *b = without_tx(rec_text(&off.rec));
	assert_text_equal(b, a, "anomalies without transaction logging");
	assert_int_equal(on.ctx.stats.transactions, off.ctx.stats.transactions);
	assert_int_equal(on.ctx.stats.tx_dropped, off.ctx.stats.tx_dropped);
	assert_int_equal(on.ctx.stats.anomalies, off.ctx.stats.anomalies);
	assert_int_equal(off.ctx.pending_bytes, 0);
	free(a);
	free(b);
	sess_deinit(&on);
	sess_deinit(&off);
}

/*
 * The partial-message flood: many connections each send 32 KiB of a
 * CONNECT that declares 1 MB and never finish it. All their buffers stay
 * under mqtt.buffer-memcap: the messages that would pass it are dropped
 * with an anomaly and a counter, and their connections go on parsing
 * what follows the dropped message.
 */
static void test_buffer_memcap_flood(void **state)
{
	(void)state;
	enum { FLOWS = 64, SENT = 32 * 1024, DECLARED = 1000000, SEG = 1400 };
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.buf_memcap = 512 * 1024;
	struct mqtt_ctx ctx;
	assert_int_equal(mqtt_ctx_init(&ctx, &cfg), 0);
	struct rec rec;
	rec_init(&rec);
	struct mqtt_sink sink = rec_sink(&rec, false);
	struct mqtt_state *st[FLOWS];
	uint8_t *msg = calloc(1, SENT);
	assert_non_null(msg);
	msg[0] = 0x10; /* CONNECT, remaining length 1,000,000 */
	msg[1] = (uint8_t)(0x80 | (DECLARED & 0x7f));
	msg[2] = (uint8_t)(0x80 | ((DECLARED >> 7) & 0x7f));
	msg[3] = (uint8_t)(DECLARED >> 14);
	for (int f = 0; f < FLOWS; f++) {
		st[f] = mqtt_state_new(&ctx);
		assert_non_null(st[f]);
		for (size_t o = 0; o < SENT; o += SEG) {
			mqtt_stream_feed(&ctx, st[f], false, msg + o,
					 SENT - o < SEG ? SENT - o : SEG, &sink);
			assert_true(ctx.buf_bytes <= cfg.buf_memcap);
		}
	}
	/* 512 KiB hold at most 16 of the 32 KiB buffers. */
	assert_true(ctx.stats.buf_drops >= FLOWS - 16);
	assert_true(ctx.stats.buf_peak <= cfg.buf_memcap);
	assert_int_equal(rec_count(&rec, "buffer_memcap_reached"), ctx.stats.buf_drops);
	/* A dropped message is skipped to its end; what follows is parsed. */
	size_t rest = (size_t)DECLARED + 4 - SENT;
	uint8_t *fill = calloc(1, rest);
	assert_non_null(fill);
	mqtt_stream_feed(&ctx, st[FLOWS - 1], false, fill, rest, &sink);
	struct mb ping;
	mb_init(&ping);
	mqtt_build_empty(&ping, MQTT_PINGREQ);
	rec_reset(&rec);
	mqtt_stream_feed(&ctx, st[FLOWS - 1], false, ping.p, ping.len, &sink);
	assert_true(strstr(rec_text(&rec), "\"pingreq\"") != NULL);
	for (int f = 0; f < FLOWS; f++)
		mqtt_state_free(&ctx, st[f], &sink, false);
	assert_int_equal(ctx.buf_bytes, 0);
	mb_free(&ping);
	free(fill);
	free(msg);
	rec_free(&rec);
	mqtt_ctx_deinit(&ctx);
}

static void test_string_limits(void **state)
{
	(void)state;
	struct mqtt_cfg cfg;
	mqtt_cfg_default(&cfg);
	cfg.string_log_limit = 4;
	cfg.session_str_max = 3;
	struct sess s;
	sess_init(&s, &cfg, false);
	struct connect_spec c = { .version = 4, .client_id = "abcdef", .username = "uvwxyz" };
	FEED(&s, TOSERVER, mqtt_build_connect(out, &c));
	FEED(&s, TOCLIENT, mqtt_build_connack(out, 4, false, 0, NULL));
	assert_string_equal(s.st->client_id, "abc");
	assert_string_equal(s.st->username, "uvw");
	assert_has(&s, "session={\"client_id\":\"abc[truncated 3 additional bytes]\"");
	FEED(&s, TOSERVER, mqtt_build_publish(out, 4, 0, false, false, "topic/x", 0,
					      NULL, "payload", 7));
	assert_has(&s, "\"topic\":\"topi[truncated 3 additional bytes]\","
		       "\"message\":\"payl[truncated 3 additional bytes]\"");
	sess_deinit(&s);
}

static void test_probe_connect(void **state)
{
	(void)state;
	struct mb b;
	mb_init(&b);
	struct connect_spec c = { .version = 4, .client_id = "probe" };
	mqtt_build_connect(&b, &c);
	/* 0x10, length, 0x00 0x04 "MQTT": decided after 8 bytes. */
	for (size_t n = 0; n < 8; n++)
		assert_int_equal(mqtt_probe_connect(b.p, n), 0);
	for (size_t n = 8; n <= b.len; n++)
		assert_int_equal(mqtt_probe_connect(b.p, n), 1);
	mb_reset(&b);
	struct connect_spec i = { .version = 3, .client_id = "old" };
	mqtt_build_connect(&b, &i);
	assert_int_equal(mqtt_probe_connect(b.p, b.len), 1);
	static const char http[] = "GET / HTTP/1.1\r\n";
	assert_int_equal(mqtt_probe_connect((const uint8_t *)http, sizeof(http) - 1), -1);
	mb_reset(&b);
	struct connect_spec x = { .version = 4, .proto = "MQTX", .client_id = "c" };
	mqtt_build_connect(&b, &x);
	assert_int_equal(mqtt_probe_connect(b.p, b.len), -1);
	mb_reset(&b);
	mqtt_build_empty(&b, MQTT_PINGREQ);
	assert_int_equal(mqtt_probe_connect(b.p, b.len), -1);
	mb_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_connack_grouped),
		cmocka_unit_test(test_v5_assigned_client_id),
		cmocka_unit_test(test_publish_qos0_standalone),
		cmocka_unit_test(test_publish_qos1_chain),
		cmocka_unit_test(test_publish_qos2_chain),
		cmocka_unit_test(test_server_publish_qos2_chain),
		cmocka_unit_test(test_subscribe_suback),
		cmocka_unit_test(test_unsubscribe_unsuback),
		cmocka_unit_test(test_interleaved_transactions),
		cmocka_unit_test(test_ack_matching_by_direction),
		cmocka_unit_test(test_ack_from_wrong_side),
		cmocka_unit_test(test_unmatched_answers),
		cmocka_unit_test(test_duplicate_acks),
		cmocka_unit_test(test_repeated_pubrec_is_duplicate),
		cmocka_unit_test(test_header_completed_by_last_byte),
		cmocka_unit_test(test_missing_ack_at_close),
		cmocka_unit_test(test_pending_at_timeout),
		cmocka_unit_test(test_unintroduced_once_per_direction),
		cmocka_unit_test(test_double_connect),
		cmocka_unit_test(test_client_id_anomalies),
		cmocka_unit_test(test_message_anomalies_emitted),
		cmocka_unit_test(test_many_messages_one_feed),
		cmocka_unit_test(test_message_split_across_many_feeds),
		cmocka_unit_test(test_max_msg_length_truncation),
		cmocka_unit_test(test_gap_inside_truncated_message),
		cmocka_unit_test(test_gap_then_resync),
		cmocka_unit_test(test_resync_gives_up),
		cmocka_unit_test(test_midstream_start),
		cmocka_unit_test(test_version_inferred),
		cmocka_unit_test(test_malformed_message_then_next),
		cmocka_unit_test(test_max_tx_per_flow),
		cmocka_unit_test(test_tx_logging_off_same_pairing),
		cmocka_unit_test(test_buffer_memcap_flood),
		cmocka_unit_test(test_string_limits),
		cmocka_unit_test(test_probe_connect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
