/* test_mqtt_encode.c - unit tests for the MQTT encoder: round trips through mqtt_parse_msg, sizes, header overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mqtt/mqtt_encode.h"
#include "mqtt/mqtt_parse.h"
#include "mqtt_build.h"

static struct mqtt_parser ps;
static uint8_t buf[70000];

static int setup(void **state)
{
	(void)state;
	return mqtt_parser_init(&ps, 64, 16);
}

static int teardown(void **state)
{
	(void)state;
	mqtt_parser_deinit(&ps);
	return 0;
}

static void assert_slice(struct slice s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

/* Encodes m, decodes it with the same version and checks it is clean. */
static size_t roundtrip(const struct mqtt_msg *m, struct mqtt_msg *out)
{
	size_t n = 0;
	assert_int_equal(mqtt_encode(m, NULL, buf, sizeof(buf), &n), 0);
	assert_int_equal(mqtt_parse_msg(&ps, buf, n, m->version, out), 0);
	assert_int_equal(out->type, m->type);
	assert_int_equal(out->hdr_len + out->remaining_length, n);
	assert_int_equal(out->anomalies, 0);
	return n;
}

static void test_connect_all_versions(void **state)
{
	(void)state;
	for (uint8_t v = 3; v <= 5; v++) {
		for (int variant = 0; variant < 2; variant++) {
			struct mqtt_prop props[] = {
				{ .id = 17, .u = 3600 },
				{ .id = 33, .u = 20 },
				{ .id = 38, .s = mqtt_str("site"), .v = mqtt_str("lab") },
				{ .id = 38, .s = mqtt_str("fw"), .v = mqtt_str("1.4.2") },
			};
			struct mqtt_prop wprops[] = { { .id = 24, .u = 5 },
						      { .id = 1, .u = 1 } };
			struct mqtt_msg m = { .type = MQTT_CONNECT, .version = v,
					      .keepalive = 60,
					      .client_id = mqtt_str("esp32-kitchen") };
			m.connect_flags = 0x02; /* clean session */
			if (variant) {
				m.has_will = m.has_username = m.has_password = true;
				m.connect_flags |= 0x08 | 0x20; /* will QoS 1, retain */
				m.will_topic = mqtt_str("sensors/kitchen/esp32-kitchen/status");
				m.will_payload = mqtt_str("offline");
				m.username = mqtt_str("sensor");
				m.password = mqtt_str("s3cret");
				m.will_props.v = wprops;
				m.will_props.n = 2;
			}
			if (v == 5) {
				m.props.v = props;
				m.props.n = 4;
			}
			struct mqtt_msg d;
			roundtrip(&m, &d);
			assert_slice(d.protocol_name, v == 3 ? "MQIsdp" : "MQTT");
			assert_int_equal(d.protocol_version, v);
			assert_int_equal(d.version, v);
			assert_int_equal(d.keepalive, 60);
			assert_slice(d.client_id, "esp32-kitchen");
			assert_int_equal(d.has_will, variant);
			assert_int_equal(d.has_username, variant);
			assert_int_equal(d.has_password, variant);
			if (variant) {
				assert_int_equal(d.connect_flags, 0xee);
				assert_slice(d.will_topic, "sensors/kitchen/esp32-kitchen/status");
				assert_slice(d.will_payload, "offline");
				assert_slice(d.username, "sensor");
				assert_slice(d.password, "s3cret");
			} else {
				assert_int_equal(d.connect_flags, 0x02);
			}
			if (v == 5) {
				assert_int_equal(d.props.n, 4);
				assert_int_equal(d.props.v[0].u, 3600);
				assert_slice(d.props.v[3].s, "fw");
				assert_slice(d.props.v[3].v, "1.4.2");
				if (variant) {
					assert_int_equal(d.will_props.n, 2);
					assert_int_equal(d.will_props.v[0].id, 24);
					assert_int_equal(d.will_props.v[0].u, 5);
				}
			} else {
				assert_false(d.props.present);
			}
		}
	}
}

/* The encoder and the independent test-side builder agree byte for byte. */
static void test_connect_matches_test_builder(void **state)
{
	(void)state;
	struct mb b;
	mb_init(&b);
	struct connect_spec c = { .version = 4, .clean = true, .keepalive = 30,
				  .client_id = "dash", .will_topic = "w/t",
				  .will_msg = "bye", .will_qos = 1,
				  .username = "u", .password = "p" };
	mqtt_build_connect(&b, &c);
	struct mqtt_msg m = { .type = MQTT_CONNECT, .version = 4,
			      .connect_flags = 0x02 | 0x08, .keepalive = 30,
			      .client_id = mqtt_str("dash"), .has_will = true,
			      .will_topic = mqtt_str("w/t"),
			      .will_payload = mqtt_str("bye"),
			      .has_username = true, .username = mqtt_str("u"),
			      .has_password = true, .password = mqtt_str("p") };
	size_t n;
	assert_int_equal(mqtt_encode(&m, NULL, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, b.len);
	assert_memory_equal(buf, b.p, n);

	mb_reset(&b);
	mqtt_build_publish(&b, 4, 1, false, true, "a/b", 7, NULL, "xyz", 3);
	struct mqtt_msg p = { .type = MQTT_PUBLISH, .version = 4, .qos = 1,
			      .retain = true, .topic = mqtt_str("a/b"),
			      .msg_id = 7, .payload = mqtt_str("xyz") };
	assert_int_equal(mqtt_encode(&p, NULL, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, b.len);
	assert_memory_equal(buf, b.p, n);
	mb_free(&b);
}

static void test_connack(void **state)
{
	(void)state;
	for (uint8_t v = 3; v <= 5; v++) {
		struct mqtt_prop props[] = { { .id = 34, .u = 10 },
					     { .id = 18, .s = mqtt_str("auto-1") } };
		struct mqtt_msg m = { .type = MQTT_CONNACK, .version = v,
				      .session_present = true, .return_code = 0 };
		if (v == 5) {
			m.props.v = props;
			m.props.n = 2;
		}
		struct mqtt_msg d;
		size_t n = roundtrip(&m, &d);
		assert_true(d.session_present);
		assert_int_equal(d.return_code, 0);
		if (v < 5) {
			assert_int_equal(n, 4);
		} else {
			assert_int_equal(d.props.n, 2);
			assert_slice(d.props.v[1].s, "auto-1");
		}
		/* A refusal: 5 (3.1.1 not authorised) or 0x87 (v5). */
		m.session_present = false;
		m.return_code = v == 5 ? 0x87 : 5;
		m.props.n = 0;
		roundtrip(&m, &d);
		assert_int_equal(d.return_code, m.return_code);
	}
}

static void test_publish_qos_versions(void **state)
{
	(void)state;
	for (uint8_t v = 3; v <= 5; v++) {
		for (uint8_t q = 0; q <= 2; q++) {
			struct mqtt_prop props[] = {
				{ .id = 1, .u = 1 },
				{ .id = 3, .s = mqtt_str("application/json") },
				{ .id = 35, .u = 4 },
			};
			const char *json = "{\"device\":\"esp32-kitchen\",\"temperature\":22.0,\"humidity\":41}";
			struct mqtt_msg m = { .type = MQTT_PUBLISH, .version = v,
					      .qos = q, .retain = q == 1,
					      .dup = q == 2,
					      .topic = mqtt_str("sensors/kitchen/esp32-kitchen"),
					      .msg_id = (uint16_t)(100 + q),
					      .payload = mqtt_str(json) };
			if (v == 5) {
				m.props.v = props;
				m.props.n = 3;
			}
			struct mqtt_msg d;
			roundtrip(&m, &d);
			assert_int_equal(d.qos, q);
			assert_int_equal(d.retain, q == 1);
			assert_int_equal(d.dup, q == 2);
			assert_slice(d.topic, "sensors/kitchen/esp32-kitchen");
			assert_int_equal(d.has_msg_id, q > 0);
			if (q)
				assert_int_equal(d.msg_id, 100 + q);
			assert_slice(d.payload, json);
			assert_int_equal(d.props.n, v == 5 ? 3 : 0);
		}
	}
}

static void test_acks(void **state)
{
	(void)state;
	static const uint8_t types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL,
					 MQTT_PUBCOMP };
	for (uint8_t v = 3; v <= 5; v++) {
		for (size_t i = 0; i < 4; i++) {
			struct mqtt_msg m = { .type = types[i], .version = v,
					      .msg_id = 4242 };
			struct mqtt_msg d;
			size_t n = roundtrip(&m, &d);
			assert_int_equal(n, 4); /* v5 success: reason omitted */
			assert_int_equal(d.msg_id, 4242);
			if (v < 5)
				continue;
			/* Reason code alone, then with a reason string. */
			m.has_reason_code = true;
			m.reason_code = types[i] >= MQTT_PUBREL ? 0x92 : 0x10;
			n = roundtrip(&m, &d);
			assert_int_equal(n, 5);
			assert_int_equal(d.reason_code, m.reason_code);
			struct mqtt_prop rs[] = { { .id = 31, .s = mqtt_str("why") },
						  { .id = 38, .s = mqtt_str("k"), .v = mqtt_str("v") } };
			m.props.v = rs;
			m.props.n = 2;
			roundtrip(&m, &d);
			assert_int_equal(d.reason_code, m.reason_code);
			assert_int_equal(d.props.n, 2);
			assert_slice(d.props.v[0].s, "why");
		}
	}
}

static void test_subscribe_unsubscribe_and_acks(void **state)
{
	(void)state;
	for (uint8_t v = 3; v <= 5; v++) {
		struct mqtt_topic t[] = { { mqtt_str("sensors/#"), 1 },
					  { mqtt_str("$SYS/broker/+"), v == 5 ? 0x2e : 2 } };
		struct mqtt_prop sp[] = { { .id = 11, .u = 300 } };
		struct mqtt_msg m = { .type = MQTT_SUBSCRIBE, .version = v,
				      .msg_id = 1, .topics = t, .n_topics = 2 };
		if (v == 5) {
			m.props.v = sp;
			m.props.n = 1;
		}
		struct mqtt_msg d;
		roundtrip(&m, &d);
		assert_int_equal(d.flags, 2);
		assert_int_equal(d.n_topics, 2);
		assert_slice(d.topics[0].name, "sensors/#");
		assert_int_equal(d.topics[1].opts, t[1].opts);
		if (v == 5)
			assert_int_equal(d.props.v[0].u, 300);

		static const uint8_t granted[] = { 1, 0x80 };
		struct mqtt_msg a = { .type = MQTT_SUBACK, .version = v,
				      .msg_id = 1,
				      .codes = { granted, 2 } };
		roundtrip(&a, &d);
		assert_int_equal(d.codes.len, 2);
		assert_int_equal(d.codes.p[1], 0x80);

		m.type = MQTT_UNSUBSCRIBE;
		m.props.n = 0;
		m.msg_id = 2;
		roundtrip(&m, &d);
		assert_int_equal(d.flags, 2);
		assert_int_equal(d.n_topics, 2);
		assert_slice(d.topics[1].name, "$SYS/broker/+");

		static const uint8_t unsub[] = { 0, 0x11 };
		a.type = MQTT_UNSUBACK;
		a.msg_id = 2;
		a.codes.p = unsub;
		a.codes.len = v == 5 ? 2 : 0;
		size_t n = roundtrip(&a, &d);
		assert_int_equal(d.msg_id, 2);
		assert_int_equal(n, v == 5 ? 7 : 4);
	}
}

static void test_ping_disconnect_auth(void **state)
{
	(void)state;
	for (uint8_t v = 3; v <= 5; v++) {
		struct mqtt_msg m = { .type = MQTT_PINGREQ, .version = v };
		struct mqtt_msg d;
		assert_int_equal(roundtrip(&m, &d), 2);
		assert_int_equal(buf[0], 0xc0);
		m.type = MQTT_PINGRESP;
		assert_int_equal(roundtrip(&m, &d), 2);
		assert_int_equal(buf[0], 0xd0);
		m.type = MQTT_DISCONNECT;
		assert_int_equal(roundtrip(&m, &d), 2);
		assert_int_equal(buf[0], 0xe0);
	}
	struct mqtt_prop dp[] = { { .id = 17, .u = 0 },
				  { .id = 28, .s = mqtt_str("other:1883") } };
	struct mqtt_msg m = { .type = MQTT_DISCONNECT, .version = 5,
			      .has_reason_code = true, .reason_code = 0x9c,
			      .props = { dp, 2, 0, true } };
	struct mqtt_msg d;
	roundtrip(&m, &d);
	assert_int_equal(d.reason_code, 0x9c);
	assert_int_equal(d.props.n, 2);
	assert_slice(d.props.v[1].s, "other:1883");

	static const uint8_t blob[] = { 0, 1, 2, 0xff };
	struct mqtt_prop ap[] = { { .id = 21, .s = mqtt_str("SCRAM-SHA-256") },
				  { .id = 22, .s = { blob, 4 } } };
	struct mqtt_msg au = { .type = MQTT_AUTH, .version = 5,
			       .has_reason_code = true, .reason_code = 0x18,
			       .props = { ap, 2, 0, true } };
	roundtrip(&au, &d);
	assert_int_equal(d.reason_code, 0x18);
	assert_int_equal(d.props.v[1].s.len, 4);
	assert_memory_equal(d.props.v[1].s.p, blob, 4);
}

/*
 * Every property MQTT 5.0 §2.2.2.2 defines, each in a packet where it is
 * allowed, with a value at the edge of its kind.
 */
static void test_every_property(void **state)
{
	(void)state;
	static const struct { uint8_t id, type; bool will; } where[] = {
		{ 1, MQTT_PUBLISH, 0 }, { 2, MQTT_PUBLISH, 0 },
		{ 3, MQTT_PUBLISH, 0 }, { 8, MQTT_PUBLISH, 0 },
		{ 9, MQTT_PUBLISH, 0 }, { 11, MQTT_SUBSCRIBE, 0 },
		{ 17, MQTT_CONNECT, 0 }, { 18, MQTT_CONNACK, 0 },
		{ 19, MQTT_CONNACK, 0 }, { 21, MQTT_AUTH, 0 },
		{ 22, MQTT_AUTH, 0 }, { 23, MQTT_CONNECT, 0 },
		{ 24, MQTT_CONNECT, 1 }, { 25, MQTT_CONNECT, 0 },
		{ 26, MQTT_CONNACK, 0 }, { 28, MQTT_DISCONNECT, 0 },
		{ 31, MQTT_PUBACK, 0 }, { 33, MQTT_CONNECT, 0 },
		{ 34, MQTT_CONNACK, 0 }, { 35, MQTT_PUBLISH, 0 },
		{ 36, MQTT_CONNACK, 0 }, { 37, MQTT_CONNACK, 0 },
		{ 38, MQTT_UNSUBACK, 0 }, { 39, MQTT_CONNECT, 0 },
		{ 40, MQTT_CONNACK, 0 }, { 41, MQTT_CONNACK, 0 },
		{ 42, MQTT_CONNACK, 0 },
	};
	static const uint8_t bin[] = { 0x00, 0xc3, 0x28 }; /* not UTF-8: binary only */
	struct mqtt_topic t = { mqtt_str("a/+"), 1 };
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		uint8_t id = where[i].id;
		struct mqtt_prop pr = { .id = id };
		switch (id) {
		case 1: case 23: case 25: case 36: case 37: case 40: case 41: case 42:
			pr.u = 1; break;
		case 19: case 33: case 34: case 35:
			pr.u = 0xfffe; break;
		case 2: case 17: case 24: case 39:
			pr.u = 0xfedcba98; break;
		case 11:
			pr.u = 268435455; break; /* four-byte varint */
		case 9: case 22:
			pr.s.p = bin;
			pr.s.len = sizeof(bin);
			break;
		case 38:
			pr.s = mqtt_str("key");
			pr.v = mqtt_str("välue");
			break;
		default:
			pr.s = mqtt_str("text/ü");
			break;
		}
		struct mqtt_msg m = { .type = where[i].type, .version = 5,
				      .msg_id = 9, .client_id = mqtt_str("c"),
				      .topic = mqtt_str("t"), .topics = &t,
				      .n_topics = 1 };
		struct mqtt_props *pp = &m.props;
		if (where[i].will) {
			m.has_will = true;
			m.will_topic = mqtt_str("w");
			pp = &m.will_props;
		}
		pp->v = &pr;
		pp->n = 1;
		struct mqtt_msg d;
		roundtrip(&m, &d);
		const struct mqtt_props *got = where[i].will ? &d.will_props : &d.props;
		assert_int_equal(got->n, 1);
		assert_int_equal(got->v[0].id, id);
		assert_int_equal(got->v[0].u, pr.u);
		assert_int_equal(got->v[0].s.len, pr.s.len);
		if (pr.s.len)
			assert_memory_equal(got->v[0].s.p, pr.s.p, pr.s.len);
		assert_int_equal(got->v[0].v.len, pr.v.len);
		if (pr.v.len)
			assert_memory_equal(got->v[0].v.p, pr.v.p, pr.v.len);
	}
}

/* Every size below the needed one fails, says the size, and writes nothing past cap. */
static void test_buffer_too_small(void **state)
{
	(void)state;
	struct mqtt_prop pr = { .id = 38, .s = mqtt_str("k"), .v = mqtt_str("v") };
	struct mqtt_msg m = { .type = MQTT_PUBLISH, .version = 5, .qos = 1,
			      .msg_id = 1, .topic = mqtt_str("sensors/x"),
			      .payload = mqtt_str("{\"t\":1}"),
			      .props = { &pr, 1, 0, true } };
	size_t need;
	assert_int_equal(mqtt_encode(&m, NULL, buf, sizeof(buf), &need), 0);
	uint8_t ref[64];
	memcpy(ref, buf, need);
	for (size_t cap = 0; cap < need; cap++) {
		uint8_t small[64];
		memset(small, 0xa5, sizeof(small));
		size_t n = 0;
		assert_int_equal(mqtt_encode(&m, NULL, small, cap, &n), MQTT_EENC_SPACE);
		assert_int_equal(n, need);
		for (size_t j = cap; j < sizeof(small); j++)
			assert_int_equal(small[j], 0xa5);
	}
	size_t n;
	uint8_t exact[64];
	assert_int_equal(mqtt_encode(&m, NULL, exact, need, &n), 0);
	assert_memory_equal(exact, ref, need);

	/* Sizing call with no buffer at all. */
	assert_int_equal(mqtt_encode(&m, NULL, NULL, 0, &n), MQTT_EENC_SPACE);
	assert_int_equal(n, need);

	/* A string the two-byte length cannot express: no buffer size helps. */
	static uint8_t big[70000];
	struct mqtt_msg b = { .type = MQTT_PUBLISH, .version = 4,
			      .topic = { big, sizeof(big) } };
	assert_int_equal(mqtt_encode(&b, NULL, buf, sizeof(buf), &n), MQTT_EENC_TOO_BIG);
	/* ...but a payload of that size is fine, with a 3-byte remaining length. */
	b.topic = mqtt_str("t");
	b.payload.p = big;
	b.payload.len = 60000;
	struct mqtt_msg d;
	roundtrip(&b, &d);
	assert_int_equal(d.hdr_len, 4);
	assert_int_equal(d.payload.len, 60000);

	struct mqtt_msg r0 = { .type = MQTT_RESERVED };
	assert_int_equal(mqtt_encode(&r0, NULL, buf, sizeof(buf), &n), MQTT_EENC_TYPE);
}

/* The raw fixed-header override produces the malformations the parser flags. */
static void test_malformed_override(void **state)
{
	(void)state;
	struct mqtt_msg m = { .type = MQTT_PUBLISH, .version = 4,
			      .topic = mqtt_str("a"), .msg_id = 5,
			      .qos = 3, .payload = mqtt_str("x") };
	struct mqtt_msg d;
	size_t n;
	/* QoS 3 straight from the message. */
	assert_int_equal(mqtt_encode(&m, NULL, buf, sizeof(buf), &n), 0);
	assert_int_equal(buf[0], 0x36);
	assert_int_equal(mqtt_parse_msg(&ps, buf, n, 4, &d), 0);
	assert_true(mqtt_flag(&d, MQTT_ANOM_INVALID_QOS));

	/* Reserved flags on SUBSCRIBE via an explicit first byte. */
	struct mqtt_topic t = { mqtt_str("#"), 0 };
	struct mqtt_msg s = { .type = MQTT_SUBSCRIBE, .version = 4, .msg_id = 1,
			      .topics = &t, .n_topics = 1 };
	struct mqtt_enc_hdr h = { .first_byte = 0x80, .remaining_length = -1 };
	assert_int_equal(mqtt_encode(&s, &h, buf, sizeof(buf), &n), 0);
	assert_int_equal(buf[0], 0x80);
	assert_int_equal(mqtt_parse_msg(&ps, buf, n, 4, &d), 0);
	assert_true(mqtt_flag(&d, MQTT_ANOM_RESERVED_FLAGS));

	/* Overlong remaining length: 2 bytes for a value that needs 1. */
	h.first_byte = -1;
	h.rl_width = 2;
	assert_int_equal(mqtt_encode(&s, &h, buf, sizeof(buf), &n), 0);
	assert_int_equal(buf[1], 0x80 | 6);
	assert_int_equal(buf[2], 0x00);
	assert_int_equal(mqtt_parse_msg(&ps, buf, n, 4, &d), 0);
	assert_true(mqtt_flag(&d, MQTT_ANOM_OVERLONG_VARINT));

	/* Five length bytes: the stream cannot be framed. */
	uint32_t hl, rl;
	bool ol;
	h.rl_width = 5;
	assert_int_equal(mqtt_encode(&s, &h, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 1 + 5 + 6);
	assert_int_equal(mqtt_frame_peek(buf, n, &hl, &rl, &ol), -1);

	/* A remaining length that claims more than the body. */
	h.rl_width = 0;
	h.remaining_length = 100;
	assert_int_equal(mqtt_encode(&s, &h, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 2 + 6);
	assert_int_equal(mqtt_frame_peek(buf, n, &hl, &rl, &ol), 1);
	assert_int_equal(rl, 100);
	assert_int_equal(mqtt_parse_msg(&ps, buf, n, 4, &d), MQTT_PERR_FRAMING);

	/* A remaining length shorter than the CONNECT body it frames. */
	struct mqtt_msg c = { .type = MQTT_CONNECT, .version = 4,
			      .client_id = mqtt_str("x") };
	h.remaining_length = 8;
	assert_int_equal(mqtt_encode(&c, &h, buf, sizeof(buf), &n), 0);
	assert_int_equal(mqtt_parse_msg(&ps, buf, 2 + 8, 4, &d), MQTT_PERR_SHORT);

	/* Connect flags that lie: password flag, no password field. */
	c.connect_flags = 0x40 | 0x01;
	assert_int_equal(mqtt_encode(&c, NULL, buf, sizeof(buf), &n), 0);
	assert_int_equal(mqtt_parse_msg(&ps, buf, n, 4, &d), MQTT_PERR_SHORT);

	/* An unknown property identifier followed by raw bytes. */
	static const uint8_t junk[] = { 0xde, 0xad };
	struct mqtt_prop up = { .id = 0x7f, .s = { junk, 2 } };
	struct mqtt_msg p5 = { .type = MQTT_PUBLISH, .version = 5,
			       .topic = mqtt_str("t"), .props = { &up, 1, 0, true } };
	assert_int_equal(mqtt_encode(&p5, NULL, buf, sizeof(buf), &n), 0);
	assert_int_equal(buf[5], 3);    /* property length: id + 2 bytes */
	assert_int_equal(buf[6], 0x7f);
	assert_int_equal(mqtt_parse_msg(&ps, buf, n, 5, &d), 0);
	assert_true(mqtt_flag(&d, MQTT_ANOM_UNKNOWN_PROPERTY));
}

static void test_writer_primitives(void **state)
{
	(void)state;
	uint8_t b[8];
	struct wr w = wr_make(b, sizeof(b));
	wr_varint(&w, 127);
	wr_varint(&w, 16384); /* 3 bytes: 0x80 0x80 0x01 */
	wr_be16(&w, 0x0102);
	wr_u8(&w, 9);
	assert_false(w.overflow);
	static const uint8_t want[] = { 0x7f, 0x80, 0x80, 0x01, 0x01, 0x02, 9 };
	assert_memory_equal(b, want, sizeof(want));
	wr_be16(&w, 0xffff); /* one byte left: refused whole */
	assert_true(w.overflow);
	assert_int_equal(wr_left(&w), 1);
	wr_u8(&w, 1); /* refused too: overflow is sticky */
	assert_int_equal(wr_left(&w), 1);
	assert_int_equal(w.n, 10);
	for (uint32_t v = 0; v < 268435456u; v = v * 3 + 1) {
		uint8_t vb[5];
		struct wr vw = wr_make(vb, sizeof(vb));
		wr_varint(&vw, v);
		struct rd r = rd_make(vb, vw.n);
		uint32_t back;
		assert_int_equal(rd_varint(&r, &back), RD_VARINT_OK);
		assert_int_equal(back, v);
		assert_int_equal(vw.n, wr_varint_size(v));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_primitives),
		cmocka_unit_test(test_connect_all_versions),
		cmocka_unit_test(test_connect_matches_test_builder),
		cmocka_unit_test(test_connack),
		cmocka_unit_test(test_publish_qos_versions),
		cmocka_unit_test(test_acks),
		cmocka_unit_test(test_subscribe_unsubscribe_and_acks),
		cmocka_unit_test(test_ping_disconnect_auth),
		cmocka_unit_test(test_every_property),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_malformed_override),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
