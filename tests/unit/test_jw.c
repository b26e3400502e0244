/* test_jw.c - unit tests for the streaming JSON writer (util/jw.c): framing, escaping, budgets. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "util/jw.h"
#include "jw_text.h"

/* Compares without allocating, so a failure leaks nothing. */
static void assert_jw_equal(const struct jw *w, const char *want)
{
	assert_false(w->oom);
	size_t n = strlen(want);
	if (w->len != n || memcmp(w->buf, want, n) != 0)
		fail_msg("\"%.*s\" != \"%s\"", (int)w->len, w->buf, want);
}

/* A writer released by the test's teardown, even when the test fails. */
static struct jw shared_w;

static int teardown_shared_w(void **state)
{
	(void)state;
	jw_deinit(&shared_w);
	return 0;
}

/* Writes one string member {"k":<bytes>} and returns the JSON text. */
static char *one_string(const void *p, size_t n)
{
	struct jw w;
	jw_init(&w);
	jw_open_obj(&w, NULL);
	jw_str(&w, "k", p, n);
	jw_close_obj(&w);
	char *s = jw_text(&w);
	jw_deinit(&w);
	return s;
}

/* Parses {"k":"..."} with cJSON and returns the decoded value (owned). */
static char *decoded_value(const char *json)
{
	cJSON *o = cJSON_Parse(json);
	if (!o)
		fail_msg("not valid JSON: %s", json);
	cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "k");
	assert_true(cJSON_IsString(k));
	char *v = strdup(k->valuestring);
	cJSON_Delete(o);
	return v;
}

static void test_jw_structure_and_commas(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	jw_open_obj(&w, NULL);
	jw_uint(&w, "a", 1);
	jw_open_arr(&w, "b");
	jw_uint(&w, NULL, 2);
	jw_uint(&w, NULL, 3);
	jw_open_obj(&w, NULL);
	jw_close_obj(&w);
	jw_open_arr(&w, NULL);
	jw_close_arr(&w);
	jw_close_arr(&w);
	jw_open_obj(&w, "c");
	jw_bool(&w, "t", true);
	jw_bool(&w, "f", false);
	jw_close_obj(&w);
	jw_int(&w, "d", -42);
	jw_int(&w, "e", 42);
	jw_cstr(&w, "s", "x");
	jw_raw(&w, "r", "{\"z\":[1]}", 9);
	jw_close_obj(&w);
	assert_jw_equal(&w, "{\"a\":1,\"b\":[2,3,{},[]],\"c\":{\"t\":true,"
			    "\"f\":false},\"d\":-42,\"e\":42,\"s\":\"x\","
			    "\"r\":{\"z\":[1]}}");
	jw_deinit(&w);
}

static void test_jw_numbers(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	jw_open_arr(&w, NULL);
	jw_uint(&w, NULL, 0);
	jw_uint(&w, NULL, UINT64_MAX);
	jw_int(&w, NULL, INT64_MIN);
	jw_int(&w, NULL, INT64_MAX);
	jw_int(&w, NULL, -1);
	jw_close_arr(&w);
	assert_jw_equal(&w, "[0,18446744073709551615,-9223372036854775808,"
			    "9223372036854775807,-1]");
	jw_deinit(&w);
}

/* jw_reset keeps the buffer: a warmed-up writer does not allocate. */
static void test_jw_reset_reuses_buffer(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	jw_open_obj(&w, NULL);
	jw_cstr(&w, "k", "a fairly long value to make the buffer grow once");
	jw_close_obj(&w);
	char *buf = w.buf;
	size_t cap = w.cap;
	jw_reset(&w);
	assert_int_equal(w.len, 0);
	jw_open_obj(&w, NULL);
	jw_uint(&w, "n", 1);
	jw_close_obj(&w);
	assert_ptr_equal(w.buf, buf);
	assert_int_equal(w.cap, cap);
	/* No stale comma state survives the reset. */
	assert_jw_equal(&w, "{\"n\":1}");
	jw_deinit(&w);
	assert_null(w.buf);
	jw_deinit(NULL); /* NULL-safe */
}

static void test_jw_growth(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	jw_open_arr(&w, NULL);
	for (unsigned i = 0; i < 10000; i++)
		jw_uint(&w, NULL, i);
	jw_close_arr(&w);
	char *s = jw_text(&w);
	cJSON *a = cJSON_Parse(s);
	assert_non_null(a);
	assert_int_equal(cJSON_GetArraySize(a), 10000);
	assert_int_equal(cJSON_GetArrayItem(a, 9999)->valueint, 9999);
	cJSON_Delete(a);
	free(s);
	jw_deinit(&w);
}

static void test_jw_escape_ascii(void **state)
{
	(void)state;
	static const char in[] = "q\"b\\n\nr\rt\tz\x01\x1f\x7f/";
	char *s = one_string(in, sizeof(in) - 1);
	assert_string_equal(s, "{\"k\":\"q\\\"b\\\\n\\nr\\rt\\tz\\u0001\\u001f"
			       "\\u007f/\"}");
	char *v = decoded_value(s);
	assert_string_equal(v, in);
	free(v);
	free(s);
}

/* Well-formed UTF-8 goes out as is and decodes to the same text. */
static void test_jw_utf8_passthrough(void **state)
{
	(void)state;
	static const char in[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
	char *s = one_string(in, sizeof(in) - 1);
	assert_string_equal(s, "{\"k\":\"caf\xc3\xa9 \xe2\x82\xac "
			       "\xf0\x9f\x98\x80\"}");
	char *v = decoded_value(s);
	assert_string_equal(v, in);
	free(v);
	free(s);
}

/* U+0000 is well-formed UTF-8: escaped as \u0000, not as \\x00. */
static void test_jw_nul_in_valid_utf8(void **state)
{
	(void)state;
	char *s = one_string("a\0b", 3);
	assert_string_equal(s, "{\"k\":\"a\\u0000b\"}");
	free(s);
}

/*
 * Bytes that are not UTF-8 are shown as the four characters \xNN (upper
 * case hex) in the decoded string, i.e. "\\xNN" in the JSON text, and the
 * whole value switches to that mode, as Suricata does.
 */
static void test_jw_invalid_bytes(void **state)
{
	(void)state;
	static const uint8_t in[] = { 'a', 0xff, 'b', 0xc3, 0xa9, '"', '\n',
				      0x01, 0x7f };
	char *s = one_string(in, sizeof(in));
	assert_string_equal(s, "{\"k\":\"a\\\\xFFb\\\\xC3\\\\xA9\\\"\\n"
			       "\\\\x01\\\\x7F\"}");
	char *v = decoded_value(s);
	assert_string_equal(v, "a\\xFFb\\xC3\\xA9\"\n\\x01\\x7F");
	free(v);
	free(s);
	/* A surrogate and an overlong form are not UTF-8 either. */
	static const uint8_t sur[] = { 0xed, 0xa0, 0x80 };
	s = one_string(sur, sizeof(sur));
	assert_string_equal(s, "{\"k\":\"\\\\xED\\\\xA0\\\\x80\"}");
	free(s);
	static const uint8_t ovl[] = { 0xc0, 0x80 };
	s = one_string(ovl, sizeof(ovl));
	assert_string_equal(s, "{\"k\":\"\\\\xC0\\\\x80\"}");
	free(s);
}

/* Every byte value, alone, yields valid JSON. */
static void test_jw_every_byte_is_valid_json(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		uint8_t b = (uint8_t)c;
		char *s = one_string(&b, 1);
		cJSON *o = cJSON_Parse(s);
		if (!o)
			fail_msg("byte 0x%02x: not JSON: %s", c, s);
		cJSON_Delete(o);
		free(s);
	}
}

static void test_jw_wire_keys(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	jw_open_obj(&w, NULL);
	static const uint8_t k1[] = { 'k', '"', 'y' };
	static const uint8_t k2[] = { 'b', 0xff };
	jw_str_kv_bytes(&w, k1, sizeof(k1), (const uint8_t *)"v", 1, SIZE_MAX);
	jw_str_kv_bytes(&w, k2, sizeof(k2), (const uint8_t *)"longvalue", 9, 4);
	jw_open_obj_bytes(&w, (const uint8_t *)"sub", 3);
	jw_close_obj(&w);
	jw_close_obj(&w);
	assert_jw_equal(&w, "{\"k\\\"y\":\"v\",\"b\\\\xFF\":\"long[truncated 5 "
			    "additional bytes]\",\"sub\":{}}");
	char *s = jw_text(&w);
	cJSON *o = cJSON_Parse(s);
	assert_non_null(o);
	cJSON_Delete(o);
	free(s);
	jw_deinit(&w);
}

static void test_jw_budget_truncates(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	size_t budget = 5;
	jw_open_obj(&w, NULL);
	jw_str_budget(&w, "m", (const uint8_t *)"hello world!", 12, &budget);
	jw_close_obj(&w);
	assert_jw_equal(&w, "{\"m\":\"hello[truncated 7 additional bytes]\"}");
	assert_int_equal(budget, 0);
	jw_deinit(&w);
}

/* A budget is shared: what one value used is gone for the next one. */
static void test_jw_budget_shared(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	size_t budget = 8;
	jw_open_arr(&w, NULL);
	jw_str_budget(&w, NULL, (const uint8_t *)"abcde", 5, &budget);
	assert_int_equal(budget, 3);
	jw_str_budget(&w, NULL, (const uint8_t *)"abc", 3, &budget);
	assert_int_equal(budget, 0);
	jw_str_budget(&w, NULL, (const uint8_t *)"xy", 2, &budget);
	jw_str_budget(&w, NULL, (const uint8_t *)"", 0, &budget);
	jw_close_arr(&w);
	assert_jw_equal(&w, "[\"abcde\",\"abc\",\"[truncated 2 additional "
			    "bytes]\",\"\"]");
	jw_deinit(&w);
}

static void test_jw_budget_unlimited_and_null(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	size_t budget = SIZE_MAX;
	jw_open_arr(&w, NULL);
	jw_str_budget(&w, NULL, (const uint8_t *)"unlimited", 9, &budget);
	assert_true(budget == SIZE_MAX);
	jw_str_budget(&w, NULL, (const uint8_t *)"no budget", 9, NULL);
	size_t exact = 4;
	jw_str_budget(&w, NULL, (const uint8_t *)"four", 4, &exact);
	assert_int_equal(exact, 0);
	jw_close_arr(&w);
	assert_jw_equal(&w, "[\"unlimited\",\"no budget\",\"four\"]");
	jw_deinit(&w);
}

/* The budget counts input bytes, not escaped output characters. */
static void test_jw_budget_counts_input_bytes(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	size_t budget = 3;
	static const uint8_t in[] = { '"', '"', 0xff, 'x', 'y' };
	jw_open_obj(&w, NULL);
	jw_str_budget(&w, "m", in, sizeof(in), &budget);
	jw_close_obj(&w);
	assert_jw_equal(&w, "{\"m\":\"\\\"\\\"\\\\xFF[truncated 2 additional "
			    "bytes]\"}");
	jw_deinit(&w);
}

/* Cutting inside a multi-byte character still yields valid JSON. */
static void test_jw_budget_cut_in_character_is_json(void **state)
{
	(void)state;
	static const char in[] = "ab\xe2\x82\xac";
	for (size_t b = 0; b <= 5; b++) {
		struct jw w;
		jw_init(&w);
		size_t budget = b;
		jw_open_obj(&w, NULL);
		jw_str_budget(&w, "k", (const uint8_t *)in, 5, &budget);
		jw_close_obj(&w);
		char *s = jw_text(&w);
		char *v = decoded_value(s);
		assert_int_equal(strncmp(v, "ab", b < 2 ? b : 2), 0);
		free(v);
		free(s);
		jw_deinit(&w);
	}
}

/*
 * BUG (src/util/jw.c jw_strval): a budget that ends inside a multi-byte
 * character makes the kept prefix ill-formed, so the whole prefix of a
 * well-formed UTF-8 value is written as \\xNN escapes ("ab\\xE2\\x82..."
 * here; a long Cyrillic payload cut at the string-log-limit becomes all
 * escapes). Well-formed values should be cut at a character boundary.
 */
static void test_jw_budget_cut_keeps_utf8(void **state)
{
	(void)state;
	struct jw *w = &shared_w;
	jw_init(w);
	size_t budget = 4;
	static const char in[] = "ab\xe2\x82\xac"; /* "ab" U+20AC */
	jw_open_obj(w, NULL);
	jw_str_budget(w, "k", (const uint8_t *)in, 5, &budget);
	jw_close_obj(w);
	assert_jw_equal(w, "{\"k\":\"ab[truncated 3 additional bytes]\"}");
	jw_reset(w);
	/* Cyrillic: two bytes a character, cut after 5 bytes. */
	static const char cyr[] = "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2";
	budget = 5;
	jw_open_obj(w, NULL);
	jw_str_budget(w, "k", (const uint8_t *)cyr, 8, &budget);
	jw_close_obj(w);
	assert_jw_equal(w, "{\"k\":\"\xd0\x9f\xd1\x80[truncated 4 additional bytes]\"}");
}

static void test_jw_append_framing(void **state)
{
	(void)state;
	struct jw w;
	jw_init(&w);
	jw_open_obj(&w, NULL);
	jw_uint(&w, "a", 1);
	jw_append(&w, ",\"b\":2", 6);
	jw_close_obj(&w);
	jw_append(&w, "\n", 1);
	assert_jw_equal(&w, "{\"a\":1,\"b\":2}\n");
	jw_deinit(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jw_structure_and_commas),
		cmocka_unit_test(test_jw_numbers),
		cmocka_unit_test(test_jw_reset_reuses_buffer),
		cmocka_unit_test(test_jw_growth),
		cmocka_unit_test(test_jw_escape_ascii),
		cmocka_unit_test(test_jw_utf8_passthrough),
		cmocka_unit_test(test_jw_nul_in_valid_utf8),
		cmocka_unit_test(test_jw_invalid_bytes),
		cmocka_unit_test(test_jw_every_byte_is_valid_json),
		cmocka_unit_test(test_jw_wire_keys),
		cmocka_unit_test(test_jw_budget_truncates),
		cmocka_unit_test(test_jw_budget_shared),
		cmocka_unit_test(test_jw_budget_unlimited_and_null),
		cmocka_unit_test(test_jw_budget_counts_input_bytes),
		cmocka_unit_test(test_jw_budget_cut_in_character_is_json),
		cmocka_unit_test_teardown(test_jw_budget_cut_keeps_utf8,
					  teardown_shared_w),
		cmocka_unit_test(test_jw_append_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
