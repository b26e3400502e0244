/* test_utf8.c - unit tests for MQTT UTF-8 validation (util/utf8.c, MQTT 5.0 §1.5.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/rd.h"

struct utf8_case {
	const char *name;
	const char *bytes;
	size_t n;
	enum utf8_check want;
};

#define S(lit) lit, sizeof(lit) - 1

static const struct utf8_case cases[] = {
	{ "empty", S(""), UTF8_OK },
	{ "ascii", S("sensors/temp"), UTF8_OK },
	{ "two-byte U+00E9", S("caf\xc3\xa9"), UTF8_OK },
	{ "smallest two-byte U+0080", S("\xc2\x80"), UTF8_OK },
	{ "three-byte U+20AC", S("\xe2\x82\xac"), UTF8_OK },
	{ "smallest three-byte U+0800", S("\xe0\xa0\x80"), UTF8_OK },
	{ "U+FFFF (noncharacter, allowed)", S("\xef\xbf\xbf"), UTF8_OK },
	{ "U+D7FF below the surrogates", S("\xed\x9f\xbf"), UTF8_OK },
	{ "U+E000 above the surrogates", S("\xee\x80\x80"), UTF8_OK },
	{ "four-byte U+1F600", S("\xf0\x9f\x98\x80"), UTF8_OK },
	{ "smallest four-byte U+10000", S("\xf0\x90\x80\x80"), UTF8_OK },
	{ "largest U+10FFFF", S("\xf4\x8f\xbf\xbf"), UTF8_OK },
	{ "control U+0001 is well-formed", S("a\x01z"), UTF8_OK },
	{ "U+0000 alone", "\0", 1, UTF8_NULL },
	{ "U+0000 inside", "ab\0cd", 5, UTF8_NULL },
	{ "U+0000 at the end", "abc\0", 4, UTF8_NULL },
	{ "overlong U+0000 (C0 80)", S("\xc0\x80"), UTF8_INVALID },
	{ "overlong two-byte (C1 BF)", S("\xc1\xbf"), UTF8_INVALID },
	{ "overlong three-byte (E0 80 80)", S("\xe0\x80\x80"), UTF8_INVALID },
	{ "overlong three-byte (E0 9F BF)", S("\xe0\x9f\xbf"), UTF8_INVALID },
	{ "overlong four-byte (F0 80 80 80)", S("\xf0\x80\x80\x80"), UTF8_INVALID },
	{ "overlong four-byte (F0 8F BF BF)", S("\xf0\x8f\xbf\xbf"), UTF8_INVALID },
	{ "high surrogate U+D800", S("\xed\xa0\x80"), UTF8_INVALID },
	{ "low surrogate U+DFFF", S("\xed\xbf\xbf"), UTF8_INVALID },
	{ "above U+10FFFF (F4 90 80 80)", S("\xf4\x90\x80\x80"), UTF8_INVALID },
	{ "F5 lead byte", S("\xf5\x80\x80\x80"), UTF8_INVALID },
	{ "FF byte", S("a\xff"), UTF8_INVALID },
	{ "FE byte", S("\xfe"), UTF8_INVALID },
	{ "lone continuation", S("\x80"), UTF8_INVALID },
	{ "continuation after ascii", S("ab\xbf"), UTF8_INVALID },
	{ "truncated two-byte", S("ab\xc3"), UTF8_INVALID },
	{ "truncated three-byte", S("\xe2\x82"), UTF8_INVALID },
	{ "truncated four-byte", S("\xf0\x9f\x98"), UTF8_INVALID },
	{ "bad continuation", S("\xe2\x28\xa1"), UTF8_INVALID },
	{ "ascii instead of continuation", S("\xc3" "a"), UTF8_INVALID },
	{ "five-byte form", S("\xf8\x88\x80\x80\x80"), UTF8_INVALID },
	/* Ill-formed wins over U+0000 wherever the two meet. */
	{ "U+0000 then invalid", "\0\xff", 2, UTF8_INVALID },
	{ "invalid then U+0000", "\xff\0", 2, UTF8_INVALID },
};

static void test_utf8_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct utf8_case *c = &cases[i];
		enum utf8_check got = utf8_check((const uint8_t *)c->bytes, c->n);
		if (got != c->want)
			fail_msg("%s: got %d, want %d", c->name, (int)got,
				 (int)c->want);
	}
}

/* Every code point encodes to well-formed UTF-8 except the surrogates. */
static void test_utf8_all_code_points(void **state)
{
	(void)state;
	for (uint32_t cp = 1; cp <= 0x10ffff; cp++) {
		uint8_t b[4];
		size_t n;
		if (cp < 0x80) {
			b[0] = (uint8_t)cp;
			n = 1;
		} else if (cp < 0x800) {
			b[0] = (uint8_t)(0xc0 | (cp >> 6));
			b[1] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (uint8_t)(0xe0 | (cp >> 12));
			b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			b[0] = (uint8_t)(0xf0 | (cp >> 18));
			b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
			b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			b[3] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 4;
		}
		enum utf8_check want = (cp >= 0xd800 && cp <= 0xdfff)
					       ? UTF8_INVALID : UTF8_OK;
		enum utf8_check got = utf8_check(b, n);
		if (got != want)
			fail_msg("U+%04X: got %d, want %d", (unsigned)cp,
				 (int)got, (int)want);
	}
}

/* The check never reads past n: a valid prefix of a longer buffer. */
static void test_utf8_respects_length(void **state)
{
	(void)state;
	static const uint8_t buf[] = { 'o', 'k', 0xff, 0x00 };
	assert_int_equal(utf8_check(buf, 2), UTF8_OK);
	assert_int_equal(utf8_check(buf, 3), UTF8_INVALID);
	static const uint8_t euro[] = { 0xe2, 0x82, 0xac };
	for (size_t n = 1; n < 3; n++)
		assert_int_equal(utf8_check(euro, n), UTF8_INVALID);
	assert_int_equal(utf8_check(euro, 3), UTF8_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_table),
		cmocka_unit_test(test_utf8_all_code_points),
		cmocka_unit_test(test_utf8_respects_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
