/* test_config.c - unit tests for size parsing, config keys and YAML loading (engine/config.c). */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen, dup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/config.h"

static void test_parse_size(void **state)
{
	(void)state;
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "500", 500 }, { "10kb", 10240 }, { "10KB", 10240 },
		{ "10k", 10240 }, { "10KiB", 10240 }, { "1mb", 1048576 },
		{ "1MB", 1048576 }, { "1m", 1048576 }, { "2mib", 2097152 },
		{ "1gb", 1073741824ull }, { "4GB", 4294967296ull }, { "3g", 3221225472ull },
		{ "7b", 7 }, { "  64kb", 65536 }, { "64 kb", 65536 }, { "12  ", 12 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183gb", 17179869183ull * 1073741824ull },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 12345;
		if (config_parse_size(ok[i].s, &v) != 0)
			fail_msg("\"%s\" rejected", ok[i].s);
		if (v != ok[i].v)
			fail_msg("\"%s\" -> %llu, want %llu", ok[i].s,
				 (unsigned long long)v, (unsigned long long)ok[i].v);
	}
	static const char *const bad[] = {
		"XXX", "", " ", "kb", "-1", "+1", "1tb", "1 mb x", "1.5mb", "0x10",
		"10 kbb", "mb1", "18446744073709551616", "17179869184gb",
		"99999999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 777;
		if (config_parse_size(bad[i], &v) == 0)
			fail_msg("\"%s\" accepted as %llu", bad[i], (unsigned long long)v);
		assert_int_equal(v, 777); /* untouched on failure */
	}
	uint64_t v = 1;
	assert_int_equal(config_parse_size(NULL, &v), -1);
}

static void test_set_sizes(void **state)
{
	(void)state;
	struct engine_cfg c;
	const char *why = "unset";
	engine_cfg_default(&c);
	assert_int_equal(config_set(&c, "mqtt.max-msg-length", "10kb", &why), 0);
	assert_null(why);
	assert_int_equal(c.mqtt.max_msg_len, 10240);
	assert_int_equal(config_set(&c, "stream.memcap", "1mb", &why), 0);
	assert_int_equal(c.reasm.memcap, 1048576);
	assert_int_equal(config_set(&c, "mqtt.tx-memcap", "2gb", &why), 0);
	assert_true(c.mqtt.tx_memcap == 2147483648ull);
	/* A 32-bit size stops at 4gb. */
	assert_int_equal(config_set(&c, "mqtt.max-msg-length", "4gb", &why), -2);
	assert_non_null(why);
	assert_int_equal(c.mqtt.max_msg_len, 10240); /* unchanged */
	assert_int_equal(config_set(&c, "mqtt.max-msg-length", "XXX", &why), -2);
	assert_non_null(strstr(why, "size"));
	/* string-log-limit: 0 means unlimited. */
	assert_int_equal(config_set(&c, "mqtt.string-log-limit", "0", &why), 0);
	assert_true(c.mqtt.string_log_limit == SIZE_MAX);
	assert_int_equal(config_set(&c, "mqtt.string-log-limit", "1kb", &why), 0);
	assert_int_equal(c.mqtt.string_log_limit, 1024);
	/* Numbers. */
	assert_int_equal(config_set(&c, "flow.max-flows", "1000", &why), 0);
	assert_int_equal(c.flow.max_flows, 1000);
	assert_int_equal(config_set(&c, "flow.max-flows", "lots", &why), -2);
	assert_string_equal(why, "a number");
	assert_int_equal(config_set(&c, "flow.max-flows", "4294967296", &why), -2);
	assert_int_equal(c.flow.max_flows, 1000);
	assert_int_equal(config_set(&c, "defrag.timeout", "45", &why), 0);
	assert_int_equal(c.defrag.timeout_s, 45);
}

static void test_set_bools(void **state)
{
	(void)state;
	struct engine_cfg c;
	const char *why;
	engine_cfg_default(&c);
	static const char *const yes[] = { "yes", "YES", "true", "True", "on", "1" };
	static const char *const no[] = { "no", "No", "false", "FALSE", "off", "0" };
	for (size_t i = 0; i < 6; i++) {
		c.mqtt.log_passwords = false;
		assert_int_equal(config_set(&c, "mqtt.passwords", yes[i], &why), 0);
		assert_true(c.mqtt.log_passwords);
		assert_int_equal(config_set(&c, "mqtt.passwords", no[i], &why), 0);
		assert_false(c.mqtt.log_passwords);
	}
	assert_true(c.reasm.midstream);
	assert_int_equal(config_set(&c, "stream.midstream", "no", &why), 0);
	assert_false(c.reasm.midstream);
	assert_int_equal(config_set(&c, "mqtt.probe-other-ports", "off", &why), 0);
	assert_false(c.probe_other_ports);
	static const char *const bad[] = { "maybe", "", "2", "yess", "y" };
	for (size_t i = 0; i < 5; i++) {
		why = NULL;
		assert_int_equal(config_set(&c, "stream.midstream", bad[i], &why), -2);
		assert_string_equal(why, "yes or no");
		assert_false(c.reasm.midstream);
	}
}

static void test_set_unknown_key(void **state)
{
	(void)state;
	struct engine_cfg c, before;
	const char *why = NULL;
	engine_cfg_default(&c);
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(config_set(&c, "mqtt.no-such-key", "1", &why), -1);
	assert_non_null(why);
	assert_int_equal(config_set(&c, "", "1", &why), -1);
	assert_int_equal(config_set(&c, "max-msg-length", "1", &why), -1);
	assert_int_equal(config_set(&c, "MQTT.MAX-MSG-LENGTH", "1", &why), -1);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void test_set_ports(void **state)
{
	(void)state;
	struct engine_cfg c;
	const char *why;
	engine_cfg_default(&c);
	assert_int_equal(c.n_ports, 1);
	assert_int_equal(c.ports[0], 1883);
	assert_int_equal(config_set(&c, "mqtt.ports", "8883", &why), 0);
	assert_int_equal(config_set(&c, "mqtt.ports", "8883", &why), 0); /* once */
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(c.ports[1], 8883);
	static const char *const bad[] = { "0", "65536", "-1", "http", "", "12x" };
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(config_set(&c, "mqtt.ports", bad[i], &why), -2);
	for (int p = 2; p < ENGINE_MAX_PORTS; p++) {
		char buf[8];
		snprintf(buf, sizeof(buf), "%d", 10000 + p);
		assert_int_equal(config_set(&c, "mqtt.ports", buf, &why), 0);
	}
	assert_int_equal(c.n_ports, ENGINE_MAX_PORTS);
	assert_int_equal(config_set(&c, "mqtt.ports", "20000", &why), -2);
	assert_non_null(strstr(why, "32"));
}

/* Writes text to a fresh temporary file; returns its path (static). */
static const char *write_temp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/mqttids_cfg_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Runs config_load with stderr captured into diag. */
static int load_capturing(const char *path, struct engine_cfg *c, char *err,
			  size_t errsz, char *diag, size_t diagsz)
{
	fflush(stderr);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	int saved = dup(2);
	assert_true(saved >= 0);
	dup2(fileno(tmp), 2);
	int r = config_load(path, c, err, errsz);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(diag, 1, diagsz - 1, tmp);
	diag[n] = 0;
	fclose(tmp);
	return r;
}

static void test_load_yaml(void **state)
{
	(void)state;
	const char *path = write_temp(
		"# a test config\n"
		"mqtt:\n"
		"  max-msg-length: 64kb\n"
		"  passwords: yes\n"
		"  ports: [1883, 8883]\n"
		"  bogus-key: 1\n"
		"flow:\n"
		"  max-flows: lots\n"
		"  idle-timeout: 30\n"
		"stream:\n"
		"  memcap: 1mb\n");
	struct engine_cfg c;
	engine_cfg_default(&c);
	char err[256] = "", diag[2048];
	int r = load_capturing(path, &c, err, sizeof(err), diag, sizeof(diag));
	assert_int_equal(r, 0);
	assert_int_equal(c.mqtt.max_msg_len, 65536);
	assert_true(c.mqtt.log_passwords);
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(c.ports[0], 1883);
	assert_int_equal(c.ports[1], 8883);
	struct engine_cfg d;
	engine_cfg_default(&d);
	assert_int_equal(c.flow.max_flows, d.flow.max_flows); /* bad value skipped */
	assert_int_equal(c.flow.idle_timeout_s, 30);
	assert_int_equal(c.reasm.memcap, 1048576);
	/* Diagnostics name FILE:LINE:COLUMN. */
	char want[256];
	snprintf(want, sizeof(want), "%s:6:14: unknown key 'mqtt.bogus-key'", path);
	if (!strstr(diag, want))
		fail_msg("stderr lacks \"%s\":\n%s", want, diag);
	snprintf(want, sizeof(want), "%s:8:14: bad value 'lots' for flow.max-flows", path);
	if (!strstr(diag, want))
		fail_msg("stderr lacks \"%s\":\n%s", want, diag);
	unlink(path);
}

/*
 * memory.budget sizes every table not set on its own, whichever comes
 * first in the file; the default budget is 64 MB in documented shares.
 */
static void test_memory_budget(void **state)
{
	(void)state;
	struct engine_cfg d;
	engine_cfg_default(&d);
	assert_int_equal(d.mem_budget, 64u << 20);
	assert_int_equal(d.reasm.memcap, 8u << 20);
	assert_int_equal(d.mqtt.buf_memcap, 8u << 20);
	assert_int_equal(d.mqtt.tx_memcap, 8u << 20);
	uint64_t sum = 0;
	for (unsigned p = 0; p < BUDGET__COUNT; p++)
		sum += engine_budget_share(p);
	assert_true(sum <= 64);
	/* Each table's count times its entry size fits its share. */
	assert_true((uint64_t)d.flow.max_flows *
			    engine_budget_entry_bytes(&d, BUDGET_FLOWS) <=
		    (64u << 20) / 64 * engine_budget_share(BUDGET_FLOWS));
	assert_true((uint64_t)d.ids.detect.max_trackers *
			    engine_budget_entry_bytes(&d, BUDGET_TRACKERS) <=
		    (64u << 20) / 64 * engine_budget_share(BUDGET_TRACKERS));
	const char *path = write_temp("detect:\n"
				      "  max-trackers: 1000\n"
				      "memory:\n"
				      "  budget: 256mb\n"
				      "stream:\n"
				      "  memcap: 1mb\n");
	struct engine_cfg c;
	engine_cfg_default(&c);
	char err[256], diag[512];
	assert_int_equal(load_capturing(path, &c, err, sizeof(err), diag, sizeof(diag)), 0);
	assert_int_equal(c.mem_budget, 256u << 20);
	assert_int_equal(c.ids.detect.max_trackers, 1000); /* set before: kept */
	assert_int_equal(c.reasm.memcap, 1u << 20);        /* set after: kept */
	assert_int_equal(c.mqtt.buf_memcap, 32u << 20);
	assert_true(c.flow.max_flows >= 4 * d.flow.max_flows - 4);
	assert_true(c.ids.detect.max_client_ids >= 4 * d.ids.detect.max_client_ids - 4);
	unlink(path);
	/* Longer session strings make each flow cost more: fewer flows. */
	const char *why;
	uint32_t before = c.flow.max_flows;
	assert_int_equal(config_set(&c, "mqtt.session-string-limit", "4096", &why), 0);
	assert_true(c.flow.max_flows < before / 4);
	assert_true((uint64_t)c.flow.max_flows *
			    engine_budget_entry_bytes(&c, BUDGET_FLOWS) <=
		    (256u << 20) / 64 * engine_budget_share(BUDGET_FLOWS));
}

/* A config without mqtt.ports keeps the default port. */
static void test_load_keeps_default_port(void **state)
{
	(void)state;
	const char *path = write_temp("stream:\n  midstream: no\n");
	struct engine_cfg c;
	engine_cfg_default(&c);
	char err[256], diag[512];
	assert_int_equal(load_capturing(path, &c, err, sizeof(err), diag, sizeof(diag)), 0);
	assert_int_equal(c.n_ports, 1);
	assert_int_equal(c.ports[0], 1883);
	assert_false(c.reasm.midstream);
	assert_string_equal(diag, "");
	unlink(path);
}

static void test_load_errors(void **state)
{
	(void)state;
	struct engine_cfg c;
	char err[256] = "", diag[512];
	engine_cfg_default(&c);
	assert_int_equal(config_load("/nonexistent/mqttids.yaml", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/mqttids.yaml"));
	const char *path = write_temp("mqtt: [unclosed\n  - x: {\n");
	err[0] = 0;
	assert_int_equal(load_capturing(path, &c, err, sizeof(err), diag, sizeof(diag)), -1);
	assert_non_null(strstr(err, path));
	unlink(path);
	/* An empty file is a valid (empty) config. */
	path = write_temp("");
	assert_int_equal(load_capturing(path, &c, err, sizeof(err), diag, sizeof(diag)), 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_set_sizes),
		cmocka_unit_test(test_set_bools),
		cmocka_unit_test(test_set_unknown_key),
		cmocka_unit_test(test_set_ports),
		cmocka_unit_test(test_load_yaml),
		cmocka_unit_test(test_memory_budget),
		cmocka_unit_test(test_load_keeps_default_port),
		cmocka_unit_test(test_load_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
