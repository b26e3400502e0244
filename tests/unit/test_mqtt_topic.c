/* test_topic.c - unit tests for MQTT topic filter matching and filter overlap (rules/topic.c, MQTT 5.0 §4.7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_topic.h"

static bool tm(const char *filter, const char *topic)
{
	return mqtt_topic_match(filter, topic, strlen(topic));
}

static bool ov(const char *rule, const char *sub)
{
	return mqtt_topic_overlap(rule, sub, strlen(sub));
}

#define MATCH(f, t) \
	do { if (!tm(f, t)) fail_msg("'%s' should match '%s'", f, t); } while (0)
#define NOMATCH(f, t) \
	do { if (tm(f, t)) fail_msg("'%s' should not match '%s'", f, t); } while (0)
#define OVERLAP(a, b) \
	do { if (!ov(a, b)) fail_msg("'%s' should overlap '%s'", a, b); } while (0)
#define DISJOINT(a, b) \
	do { if (ov(a, b)) fail_msg("'%s' should not overlap '%s'", a, b); } while (0)

/* ---- mqtt_topic_match ---- */

static void test_literal(void **state)
{
	(void)state;
	MATCH("a/b/c", "a/b/c");
	NOMATCH("a/b/c", "a/b");
	NOMATCH("a/b", "a/b/c");
	NOMATCH("a/b/c", "a/b/cd");
	NOMATCH("a/b/cd", "a/b/c");
	NOMATCH("A/b", "a/b"); /* case sensitive */
	MATCH("sensors", "sensors");
	NOMATCH("sensors", "sensors/");
}

static void test_multi_level(void **state)
{
	(void)state;
	MATCH("#", "a");
	MATCH("#", "a/b/c");
	MATCH("#", "/");
	MATCH("a/#", "a");     /* '#' also matches the parent level */
	MATCH("a/#", "a/");    /* and an empty child level */
	MATCH("a/#", "a/b/c/d");
	NOMATCH("a/#", "ab");
	NOMATCH("a/#", "b/a");
	MATCH("a/b/#", "a/b");
	NOMATCH("a/b/#", "a");
	MATCH("sport/tennis/player1/#", "sport/tennis/player1/ranking/wimbledon");
}

static void test_single_level(void **state)
{
	(void)state;
	MATCH("+", "a");
	NOMATCH("+", "a/b");
	MATCH("+/+", "/finance"); /* '/finance' has an empty first level */
	MATCH("/+", "/finance");
	NOMATCH("+", "/finance");
	MATCH("a/+/c", "a/b/c");
	MATCH("a/+/c", "a//c");  /* '+' matches an empty level */
	NOMATCH("a/+/c", "a/c");
	MATCH("a/+", "a/");
	NOMATCH("a/+", "a");     /* but not a missing level */
	MATCH("+/+/#", "a/b");
	MATCH("+/#", "a");
	MATCH("sport/+/player1", "sport/tennis/player1");
}

static void test_empty_levels(void **state)
{
	(void)state;
	MATCH("/", "/");
	NOMATCH("/", "//");
	MATCH("//", "//");
	MATCH("a//b", "a//b");
	NOMATCH("a//b", "a/b");
	MATCH("+//+", "x//y");
	MATCH("", "");
	NOMATCH("", "a");
	MATCH("+", "");
	MATCH("#", "");
}

/* MQTT 5.0 §4.7.2: wildcard-first filters do not match '$' topics. */
static void test_dollar_topics(void **state)
{
	(void)state;
	NOMATCH("#", "$SYS/broker/clients");
	NOMATCH("+/broker/clients", "$SYS/broker/clients");
	NOMATCH("+", "$SYS");
	MATCH("$SYS/#", "$SYS/broker/clients");
	MATCH("$SYS/#", "$SYS");
	MATCH("$SYS/+/clients", "$SYS/broker/clients");
	MATCH("$SYS/broker/+", "$SYS/broker/x");
	/* only the first byte of the topic counts */
	MATCH("#", "a/$SYS");
	MATCH("a/+", "a/$x");
	NOMATCH("$SYS/#", "SYS/x");
}

static void test_wildcards_in_topic(void **state)
{
	(void)state;
	/* a PUBLISH topic with wildcards (an anomaly) is compared literally */
	MATCH("a/+", "a/+");
	MATCH("a/+", "a/#");
	NOMATCH("a/b", "a/+");
	MATCH("a/#", "a/#/+");
}

static void test_topic_not_nul_terminated(void **state)
{
	(void)state;
	const char buf[] = "a/b/cXYZ";
	assert_true(mqtt_topic_match("a/b/c", buf, 5));
	assert_false(mqtt_topic_match("a/b/cX", buf, 5));
	assert_true(mqtt_topic_match("a/+/c", buf, 5));
	assert_true(mqtt_topic_match("a/#", buf, 1));
	assert_false(mqtt_topic_match("a/b", buf, 2)); /* "a/" */
	/* bytes after the slice never count, NUL inside it is a byte */
	const char nul[] = { 'a', '/', 0, 'b' };
	assert_true(mqtt_topic_match("a/+", nul, 4));
	assert_false(mqtt_topic_match("a/", nul, 4));
}

static void test_long_topics(void **state)
{
	(void)state;
	size_t n = 65535;
	char *t = malloc(n + 1), *f = malloc(n + 1);
	assert_non_null(t);
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		t[i] = (i % 2) ? '/' : 'x';
	t[n] = 0; /* x/x/x/.../x : 32768 levels */
	assert_true(tm("#", t));
	assert_true(tm("x/#", t));
	assert_false(tm("y/#", t));
	memcpy(f, t, n + 1);
	assert_true(tm(f, t));
	f[n - 1] = '+';
	assert_true(tm(f, t));
	f[n - 1] = '#';
	assert_true(tm(f, t));
	f[n - 1] = 'y';
	assert_false(tm(f, t));
	assert_true(ov(f, "#"));
	assert_false(ov(f, t));
	f[n - 1] = '#';
	assert_true(ov(f, t));
	free(t);
	free(f);
}

/* ---- mqtt_topic_overlap ---- */

static void test_overlap_basic(void **state)
{
	(void)state;
	OVERLAP("#", "zigbee2mqtt/#");
	OVERLAP("zigbee2mqtt/#", "#");
	OVERLAP("#", "is2/x");
	OVERLAP("zigbee2mqtt/#", "zigbee2mqtt/bridge/state");
	OVERLAP("zigbee2mqtt/#", "zigbee2mqtt");
	OVERLAP("zigbee2mqtt/#", "+/bridge/+");
	OVERLAP("+/b", "a/+");
	OVERLAP("a/+", "+/b");
	OVERLAP("a/b", "a/b");
	OVERLAP("+", "+");
	OVERLAP("a/#", "a/b/#");
	OVERLAP("a/b/#", "a/#");
	OVERLAP("a/b/#", "a/b");
	DISJOINT("zigbee2mqtt/#", "zigbee/#");
	DISJOINT("a/b", "a/c");
	DISJOINT("a/+", "a/b/c");
	DISJOINT("a/+/c", "a/b");
	DISJOINT("+", "a/b");
	DISJOINT("a/b/#", "a");   /* a/b/# matches a/b and below, not a */
	OVERLAP("a/b/#", "a/+/c/d/e/f");
	DISJOINT("a/b/+", "a/b");
	OVERLAP("a/b/+", "a/b/");
	OVERLAP("a//+", "a/+/x");
	DISJOINT("a//b", "a/b");
}

/* MQTT 5.0 §4.7.2: a '$' topic is reachable only by literal first levels. */
static void test_overlap_dollar(void **state)
{
	(void)state;
	DISJOINT("$SYS/#", "#");
	DISJOINT("#", "$SYS/#");
	DISJOINT("$SYS/#", "+/broker/#");
	DISJOINT("$SYS/#", "+");
	OVERLAP("$SYS/#", "$SYS/broker/+");
	OVERLAP("$SYS/broker/+", "$SYS/#");
	OVERLAP("$SYS/#", "$SYS");
	OVERLAP("$SYS/+/clients", "$SYS/broker/#");
	DISJOINT("$SYS/#", "$SYSX/#");
	/* wildcards on both sides: some non-'$' topic matches both */
	OVERLAP("#", "+");
	OVERLAP("+/#", "#");
	/* '$' later than the first byte is an ordinary byte */
	OVERLAP("a/$x", "a/+");
	OVERLAP("#", "a/$SYS");
}

/* A shared subscription receives what its filter matches (§4.8.2). */
static void test_overlap_shared(void **state)
{
	(void)state;
	OVERLAP("zigbee2mqtt/#", "$share/g1/zigbee2mqtt/bridge/#");
	OVERLAP("$SYS/#", "$share/g/$SYS/broker/+");
	DISJOINT("$SYS/#", "$share/g/#");
	OVERLAP("is2/x", "$share/g/#");
	DISJOINT("a/b", "$share/g/a/c");
	/* "$share/g" without a filter is an ordinary (invalid) filter */
	DISJOINT("a/#", "$share/g");
	OVERLAP("$share/#", "$share/g");
}

static void test_overlap_slices(void **state)
{
	(void)state;
	const char buf[] = "a/bZZZ";
	assert_true(mqtt_topic_overlap("a/b", buf, 3));
	assert_false(mqtt_topic_overlap("a/bZ", buf, 3));
	assert_true(mqtt_topic_overlap("a/#", buf, 1));
	assert_true(mqtt_topic_overlap("#", buf, 0)); /* "" */
	assert_false(mqtt_topic_overlap("a", buf, 0));
}

/* A topic without wildcards overlaps a filter exactly when it matches. */
static void test_overlap_agrees_with_match(void **state)
{
	(void)state;
	static const char *const filters[] = {
		"#", "+", "a/#", "a/+", "+/b", "a/b", "$SYS/#", "+/+/#",
		"/", "a//+", "", "a/+/c", "$SYS/+",
	};
	static const char *const topics[] = {
		"a", "a/b", "a/b/c", "$SYS", "$SYS/x", "/", "", "a//c",
		"b", "a/", "x/y/z",
	};
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		for (size_t k = 0; k < sizeof(topics) / sizeof(topics[0]); k++)
			if (tm(filters[i], topics[k]) != ov(filters[i], topics[k]))
				fail_msg("'%s' vs '%s': match %d, overlap %d",
					 filters[i], topics[k],
					 tm(filters[i], topics[k]),
					 ov(filters[i], topics[k]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_multi_level),
		cmocka_unit_test(test_single_level),
		cmocka_unit_test(test_empty_levels),
		cmocka_unit_test(test_dollar_topics),
		cmocka_unit_test(test_wildcards_in_topic),
		cmocka_unit_test(test_topic_not_nul_terminated),
		cmocka_unit_test(test_long_topics),
		cmocka_unit_test(test_overlap_basic),
		cmocka_unit_test(test_overlap_dollar),
		cmocka_unit_test(test_overlap_shared),
		cmocka_unit_test(test_overlap_slices),
		cmocka_unit_test(test_overlap_agrees_with_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
