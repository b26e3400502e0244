/* test_rd.c - unit tests for the bounds-checked reader (util/rd.h), incl. MQTT varints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mqtt_build.h"
#include "util/rd.h"

/* ---- fixed-size reads ---- */

static void test_rd_u8_be16_be32_le32(void **state)
{
	(void)state;
	static const uint8_t buf[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
				       0x07, 0x08, 0x09, 0x0a, 0x0b };
	struct rd r = rd_make(buf, sizeof(buf));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	assert_int_equal(rd_left(&r), 11);
	assert_true(rd_u8(&r, &u8));
	assert_int_equal(u8, 0x01);
	assert_true(rd_be16(&r, &u16));
	assert_int_equal(u16, 0x0203);
	assert_true(rd_be32(&r, &u32));
	assert_int_equal(u32, 0x04050607);
	assert_true(rd_le32(&r, &u32));
	assert_int_equal(u32, 0x0b0a0908);
	assert_int_equal(rd_left(&r), 0);
	assert_false(rd_u8(&r, &u8));
}

/* A failed read must leave the cursor where it was (GUIDE §3). */
static void test_rd_short_reads_do_not_advance(void **state)
{
	(void)state;
	static const uint8_t buf[] = { 0xaa, 0xbb, 0xcc };
	struct rd r = rd_make(buf, sizeof(buf));
	uint16_t u16 = 0x1234;
	uint32_t u32 = 0x12345678;
	struct slice s = { NULL, 0 };
	uint8_t copy[4] = { 0 };
	assert_false(rd_be32(&r, &u32));
	assert_int_equal(u32, 0x12345678);
	assert_false(rd_le32(&r, &u32));
	assert_false(rd_bytes(&r, 4, &s));
	assert_null(s.p);
	assert_false(rd_copy(&r, copy, 4));
	assert_int_equal(copy[0], 0);
	assert_false(rd_skip(&r, 4));
	assert_ptr_equal(r.p, buf);
	assert_int_equal(rd_left(&r), 3);
	assert_true(rd_skip(&r, 2));
	assert_false(rd_be16(&r, &u16));
	assert_int_equal(u16, 0x1234);
	assert_ptr_equal(r.p, buf + 2);
	/* An empty reader. */
	struct rd e = rd_make(buf, 0);
	uint8_t u8;
	assert_false(rd_u8(&e, &u8));
	assert_true(rd_skip(&e, 0));
	assert_true(rd_bytes(&e, 0, &s));
	assert_int_equal(s.len, 0);
}

static void test_rd_bytes_copy_skip(void **state)
{
	(void)state;
	static const uint8_t buf[] = { 'a', 'b', 'c', 'd', 'e', 'f' };
	struct rd r = rd_make(buf, sizeof(buf));
	struct slice s;
	uint8_t out[2];
	assert_true(rd_bytes(&r, 3, &s));
	assert_ptr_equal(s.p, buf); /* zero copy */
	assert_int_equal(s.len, 3);
	assert_true(rd_copy(&r, out, 2));
	assert_memory_equal(out, "de", 2);
	assert_true(rd_skip(&r, 1));
	assert_int_equal(rd_left(&r), 0);
	assert_true(rd_bytes(&r, 0, &s));
}

static void test_rd_lenstr(void **state)
{
	(void)state;
	struct mb b;
	mb_init(&b);
	mb_str(&b, "topic");
	mb_be16(&b, 10); /* claims 10 bytes, only 2 follow */
	mb_raw(&b, "xy", 2);
	struct rd r = rd_make(b.p, b.len);
	struct slice s;
	assert_true(rd_lenstr(&r, &s));
	assert_int_equal(s.len, 5);
	assert_memory_equal(s.p, "topic", 5);
	const uint8_t *before = r.p;
	assert_false(rd_lenstr(&r, &s));
	assert_ptr_equal(r.p, before); /* length field not consumed */
	assert_int_equal(rd_left(&r), 4);
	/* A lone length byte. */
	struct rd one = rd_make(b.p, 1);
	assert_false(rd_lenstr(&one, &s));
	assert_int_equal(rd_left(&one), 1);
	/* An empty string. */
	static const uint8_t empty[] = { 0, 0 };
	struct rd e = rd_make(empty, 2);
	assert_true(rd_lenstr(&e, &s));
	assert_int_equal(s.len, 0);
	assert_int_equal(rd_left(&e), 0);
	mb_free(&b);
}

/* ---- variable byte integers (MQTT 5.0 §1.5.5) ---- */

struct varint_case {
	uint32_t value;
	uint8_t enc[4];
	size_t n;
};

static const struct varint_case varint_cases[] = {
	{ 0, { 0x00 }, 1 },
	{ 1, { 0x01 }, 1 },
	{ 127, { 0x7f }, 1 },
	{ 128, { 0x80, 0x01 }, 2 },
	{ 321, { 0xc1, 0x02 }, 2 },
	{ 16383, { 0xff, 0x7f }, 2 },
	{ 16384, { 0x80, 0x80, 0x01 }, 3 },
	{ 2097151, { 0xff, 0xff, 0x7f }, 3 },
	{ 2097152, { 0x80, 0x80, 0x80, 0x01 }, 4 },
	{ 268435455, { 0xff, 0xff, 0xff, 0x7f }, 4 },
};

static void test_rd_varint_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(varint_cases) / sizeof(varint_cases[0]); i++) {
		const struct varint_case *c = &varint_cases[i];
		uint8_t buf[6];
		for (size_t k = 0; k < c->n; k++)
			buf[k] = c->enc[k];
		buf[c->n] = 0x55; /* a following byte is not consumed */
		struct rd r = rd_make(buf, c->n + 1);
		uint32_t v = 0xdeadbeef;
		assert_int_equal(rd_varint(&r, &v), RD_VARINT_OK);
		assert_int_equal(v, c->value);
		assert_int_equal(rd_left(&r), 1);
		/* The test encoder agrees with the table. */
		struct mb b;
		mb_init(&b);
		mb_varint(&b, c->value);
		assert_int_equal(b.len, c->n);
		assert_memory_equal(b.p, c->enc, c->n);
		mb_free(&b);
	}
}

/* Every value the encoder can produce round-trips at its length boundaries. */
static void test_rd_varint_roundtrip_boundaries(void **state)
{
	(void)state;
	static const uint32_t vals[] = { 0, 126, 127, 128, 129, 16382, 16383,
					 16384, 2097151, 2097152, 268435454,
					 268435455 };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct mb b;
		mb_init(&b);
		mb_varint(&b, vals[i]);
		struct rd r = rd_make(b.p, b.len);
		uint32_t v;
		assert_int_equal(rd_varint(&r, &v), RD_VARINT_OK);
		assert_int_equal(v, vals[i]);
		assert_int_equal(rd_left(&r), 0);
		mb_free(&b);
	}
}

static void test_rd_varint_overlong(void **state)
{
	(void)state;
	/* 0 in two bytes, 1 in two bytes, 127 in three bytes. */
	static const uint8_t zero2[] = { 0x80, 0x00 };
	static const uint8_t one2[] = { 0x81, 0x00 };
	static const uint8_t v127_3[] = { 0xff, 0x80, 0x00 };
	static const uint8_t zero4[] = { 0x80, 0x80, 0x80, 0x00 };
	uint32_t v;
	struct rd r = rd_make(zero2, sizeof(zero2));
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_OVERLONG);
	assert_int_equal(v, 0);
	assert_int_equal(rd_left(&r), 0); /* still consumed: value usable */
	r = rd_make(one2, sizeof(one2));
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_OVERLONG);
	assert_int_equal(v, 1);
	r = rd_make(v127_3, sizeof(v127_3));
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_OVERLONG);
	assert_int_equal(v, 127);
	assert_int_equal(rd_left(&r), 0);
	r = rd_make(zero4, sizeof(zero4));
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_OVERLONG);
	assert_int_equal(v, 0);
}

static void test_rd_varint_five_bytes(void **state)
{
	(void)state;
	static const uint8_t five[] = { 0xff, 0xff, 0xff, 0xff, 0x7f };
	static const uint8_t five_small[] = { 0x80, 0x80, 0x80, 0x80, 0x01 };
	static const uint8_t four_cont[] = { 0x80, 0x80, 0x80, 0x80 };
	uint32_t v = 7;
	struct rd r = rd_make(five, sizeof(five));
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_BAD);
	assert_ptr_equal(r.p, five);
	assert_int_equal(v, 7);
	r = rd_make(five_small, sizeof(five_small));
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_BAD);
	assert_ptr_equal(r.p, five_small);
	/* Four continuation bytes are already beyond the limit. */
	r = rd_make(four_cont, sizeof(four_cont));
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_BAD);
}

static void test_rd_varint_truncated(void **state)
{
	(void)state;
	static const uint8_t enc[] = { 0xff, 0xff, 0xff, 0x7f };
	uint32_t v = 7;
	/* Every proper prefix of a 4-byte varint needs more bytes. */
	for (size_t n = 0; n < sizeof(enc); n++) {
		struct rd r = rd_make(enc, n);
		assert_int_equal(rd_varint(&r, &v), RD_VARINT_MORE);
		assert_ptr_equal(r.p, enc);
		assert_int_equal(v, 7);
	}
	static const uint8_t two[] = { 0x80 };
	struct rd r = rd_make(two, 1);
	assert_int_equal(rd_varint(&r, &v), RD_VARINT_MORE);
}

static void test_rd_le32_be32_differ(void **state)
{
	(void)state;
	static const uint8_t af[] = { 0x02, 0x00, 0x00, 0x00 };
	struct rd a = rd_make(af, 4), b = rd_make(af, 4);
	uint32_t le, be;
	assert_true(rd_le32(&a, &le));
	assert_true(rd_be32(&b, &be));
	assert_int_equal(le, 2);
	assert_int_equal(be, 0x02000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rd_u8_be16_be32_le32),
		cmocka_unit_test(test_rd_short_reads_do_not_advance),
		cmocka_unit_test(test_rd_bytes_copy_skip),
		cmocka_unit_test(test_rd_lenstr),
		cmocka_unit_test(test_rd_varint_values),
		cmocka_unit_test(test_rd_varint_roundtrip_boundaries),
		cmocka_unit_test(test_rd_varint_overlong),
		cmocka_unit_test(test_rd_varint_five_bytes),
		cmocka_unit_test(test_rd_varint_truncated),
		cmocka_unit_test(test_rd_le32_be32_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
