/* test_scenario.c - unit tests for the scenario parser and device naming (tools/common/tb_scenario.c). */
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tb_scenario.h"

/* Parses text (n bytes) and returns the messages as one malloc'd string. */
static char *parse_n(const char *text, size_t n, struct tb_scenario *sc, int *problems)
{
	char *out = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&out, &len);
	assert_non_null(err);
	*problems = tb_scenario_parse("t.scn", text, n, sc, err);
	fclose(err);
	return out;
}

static char *parse(const char *text, struct tb_scenario *sc, int *problems)
{
	return parse_n(text, strlen(text), sc, problems);
}

static struct tb_scenario *sc_new(void)
{
	struct tb_scenario *sc = malloc(sizeof(*sc));
	assert_non_null(sc);
	memset(sc, 0x5a, sizeof(*sc)); /* parse must not rely on a clean struct */
	return sc;
}

/* text must give exactly one problem with exactly this message. */
static void expect_one(const char *text, const char *msg)
{
	struct tb_scenario *sc = sc_new();
	int p = 0;
	char *out = parse(text, sc, &p);
	char want[1024];
	snprintf(want, sizeof(want), "%s\n", msg);
	if (p != 1 || strcmp(out, want) != 0)
		fail_msg("input:\n%s\ngot %d problem(s):\n%swant:\n%s", text, p, out, want);
	free(out);
	free(sc);
}

static void test_defaults(void **state)
{
	(void)state;
	struct tb_scenario *sc = sc_new();
	int p = 0;
	char *out = parse("", sc, &p);
	assert_int_equal(p, 0);
	assert_string_equal(out, "");
	assert_string_equal(sc->name, "scenario");
	assert_true(sc->duration == 60);
	assert_int_equal(sc->sensors, 3);
	assert_int_equal(sc->interval, 5);
	assert_int_equal(sc->qos, -1);
	assert_int_equal(sc->keepalive, 15);
	assert_int_equal(sc->mqtt_version, 4);
	assert_int_equal(sc->security, TB_SEC_NONE);
	assert_false(sc->z2m);
	assert_int_equal(sc->seed, 1);
	assert_int_equal(sc->n_ev, 0);
	free(out);
	/* NULL text: defaults, no problem. */
	assert_int_equal(tb_scenario_parse("t", NULL, 10, sc, NULL), 0);
	assert_int_equal(sc->sensors, 3);
	free(sc);
}

static void test_good_file(void **state)
{
	(void)state;
	static const char text[] =
		"# a demo\r\n"
		"name demo-1.run_x   # trailing comment\r\n"
		"\tduration 90.5\n"
		"sensors 4\n"
		"interval 2\n"
		"qos 1\n"
		"keepalive 0\n"
		"mqtt-version 5\n"
		"security hmac\n"
		"z2m on\n"
		"z2m-devices 16\n"
		"seed 18446744073709551615\n"
		"\n"
		"   \t  \n"
		"at 30 tamper nodemcu-livingroom -8.5 for 20\n"
		"at 12 attack brute-force --count 50 --wordlist \"/tmp/my words\" --topic \"#\"\n"
		"at 40 silence esp32-bedroom for 10.25\n"
		"at 50 z2m-offline bulb_kitchen.1\n"
		"at 50 z2m-offline plug-2 for 5\n"
		"at 0 attack discovery --topic sensors/#  # '#' inside a word is kept\n"
		"at 12 attack syn-flood\n"
		"at 30 tamper esp32-kitchen +3 for 1\n"
		"at 89.9 attack takeover\n";
	struct tb_scenario *sc = sc_new();
	int p = 0;
	char *out = parse(text, sc, &p);
	assert_string_equal(out, "");
	assert_int_equal(p, 0);
	assert_string_equal(sc->name, "demo-1.run_x");
	assert_true(sc->duration == 90.5);
	assert_int_equal(sc->sensors, 4);
	assert_int_equal(sc->interval, 2);
	assert_int_equal(sc->qos, 1);
	assert_int_equal(sc->keepalive, 0);
	assert_int_equal(sc->mqtt_version, 5);
	assert_int_equal(sc->security, TB_SEC_HMAC);
	assert_true(sc->z2m);
	assert_int_equal(sc->z2m_devices, 16);
	assert_true(sc->seed == UINT64_MAX);
	assert_int_equal(sc->n_ev, 9);

	/* Sorted by time; equal times keep the file's order. */
	static const struct { double at; unsigned line; } order[] = {
		{ 0, 20 }, { 12, 16 }, { 12, 21 }, { 30, 15 }, { 30, 22 },
		{ 40, 17 }, { 50, 18 }, { 50, 19 }, { 89.9, 23 },
	};
	for (unsigned i = 0; i < 9; i++) {
		assert_true(sc->ev[i].at == order[i].at);
		assert_int_equal(sc->ev[i].line, order[i].line);
	}
	const struct tb_event *e = &sc->ev[0];
	assert_int_equal(e->kind, TB_EV_ATTACK);
	assert_int_equal(e->argc, 3);
	assert_string_equal(e->argv[0], "discovery");
	assert_string_equal(e->argv[1], "--topic");
	assert_string_equal(e->argv[2], "sensors/#");
	e = &sc->ev[1];
	assert_int_equal(e->argc, 7);
	assert_string_equal(e->argv[0], "brute-force");
	assert_string_equal(e->argv[2], "50");
	assert_string_equal(e->argv[4], "/tmp/my words");
	assert_string_equal(e->argv[6], "#");
	e = &sc->ev[2];
	assert_int_equal(e->argc, 1);
	assert_string_equal(e->argv[0], "syn-flood");
	e = &sc->ev[3];
	assert_int_equal(e->kind, TB_EV_TAMPER);
	assert_string_equal(e->device, "nodemcu-livingroom");
	assert_true(e->delta == -8.5);
	assert_true(e->for_s == 20);
	e = &sc->ev[4];
	assert_true(e->delta == 3);
	assert_true(e->for_s == 1);
	e = &sc->ev[5];
	assert_int_equal(e->kind, TB_EV_SILENCE);
	assert_string_equal(e->device, "esp32-bedroom");
	assert_true(e->for_s == 10.25);
	e = &sc->ev[6];
	assert_int_equal(e->kind, TB_EV_Z2M_OFFLINE);
	assert_string_equal(e->device, "bulb_kitchen.1");
	assert_true(e->for_s == 0);
	e = &sc->ev[7];
	assert_string_equal(e->device, "plug-2");
	assert_true(e->for_s == 5);
	free(out);
	free(sc);
}

static void test_choices(void **state)
{
	(void)state;
	struct tb_scenario *sc = sc_new();
	int p = 0;
	char *out = parse("qos 0\nmqtt-version 3\nsecurity key\nz2m off\n", sc, &p);
	assert_int_equal(p, 0);
	assert_int_equal(sc->qos, 0);
	assert_int_equal(sc->mqtt_version, 3);
	assert_int_equal(sc->security, TB_SEC_KEY);
	assert_false(sc->z2m);
	free(out);
	out = parse("qos mixed\nmqtt-version 4\nsecurity none\nseed 0", sc, &p);
	assert_int_equal(p, 0);
	assert_int_equal(sc->qos, -1);
	assert_int_equal(sc->security, TB_SEC_NONE);
	assert_int_equal(sc->seed, 0);
	free(out);
	free(sc);
}

/* Each error path: its message, line and column. */
static void test_errors(void **state)
{
	(void)state;
	static const struct { const char *in, *msg; } cases[] = {
		/* directives */
		{ "bogus 1", "t.scn:1:1: expected a directive (name, duration, sensors, interval, qos, keepalive, mqtt-version, security, z2m, z2m-devices, seed or at), got 'bogus'" },
		{ "\n  Sensors 3", "t.scn:2:3: expected a directive (name, duration, sensors, interval, qos, keepalive, mqtt-version, security, z2m, z2m-devices, seed or at), got 'Sensors'" },
		{ "sensors", "t.scn:1:8: expected a sensor count after 'sensors'" },
		{ "sensors   # none", "t.scn:1:8: expected a sensor count after 'sensors'" },
		{ "sensors 3 4", "t.scn:1:11: unexpected '4' after '3'" },
		{ "sensors 0", "t.scn:1:9: expected a sensor count (an integer from 1 to 32), got '0'" },
		{ "sensors 33", "t.scn:1:9: expected a sensor count (an integer from 1 to 32), got '33'" },
		{ "sensors -1", "t.scn:1:9: expected a sensor count (an integer from 1 to 32), got '-1'" },
		{ "sensors 3.0", "t.scn:1:9: expected a sensor count (an integer from 1 to 32), got '3.0'" },
		{ "sensors 99999999999999999999999999", "t.scn:1:9: expected a sensor count (an integer from 1 to 32), got '99999999999999999999999999'" },
		{ "interval 0", "t.scn:1:10: expected an interval in seconds (an integer from 1 to 3600), got '0'" },
		{ "interval 3601", "t.scn:1:10: expected an interval in seconds (an integer from 1 to 3600), got '3601'" },
		{ "keepalive 65536", "t.scn:1:11: expected a keepalive in seconds (an integer from 0 to 65535), got '65536'" },
		{ "z2m-devices 17", "t.scn:1:13: expected a device count (an integer from 1 to 16), got '17'" },
		{ "z2m-devices", "t.scn:1:12: expected a device count after 'z2m-devices'" },
		{ "name", "t.scn:1:5: expected a name after 'name'" },
		{ "name a/b", "t.scn:1:6: expected a name (1 to 63 letters, digits, '-', '_' or '.'), got 'a/b'" },
		{ "name \"\"", "t.scn:1:6: expected a name (1 to 63 letters, digits, '-', '_' or '.'), got ''" },
		{ "name 1234567890123456789012345678901234567890123456789012345678901234",
		  "t.scn:1:6: expected a name (1 to 63 letters, digits, '-', '_' or '.'), got '1234567890123456789012345678901234567890...'" },
		{ "name caf\xc3\xa9", "t.scn:1:6: expected a name (1 to 63 letters, digits, '-', '_' or '.'), got 'caf\\xc3\\xa9'" },
		{ "name it's", "t.scn:1:6: expected a name (1 to 63 letters, digits, '-', '_' or '.'), got 'it\\x27s'" },
		{ "duration 0", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '0'" },
		{ "duration 86400.5", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '86400.5'" },
		{ "duration -5", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '-5'" },
		{ "duration 1e3", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '1e3'" },
		{ "duration inf", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got 'inf'" },
		{ "duration nan", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got 'nan'" },
		{ "duration 0x10", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '0x10'" },
		{ "duration 5.", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '5.'" },
		{ "duration .5", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '.5'" },
		{ "duration 000000000000000000000000000000001", "t.scn:1:10: expected a duration (seconds, more than 0 to 86400), got '000000000000000000000000000000001'" },
		{ "qos 2", "t.scn:1:5: expected a QoS (0, 1 or mixed), got '2'" },
		{ "mqtt-version 3.1", "t.scn:1:14: expected an MQTT version (3, 4 or 5), got '3.1'" },
		{ "security tls", "t.scn:1:10: expected a security mode (none, key or hmac), got 'tls'" },
		{ "z2m yes", "t.scn:1:5: expected 'on' or 'off', got 'yes'" },
		{ "seed 18446744073709551616", "t.scn:1:6: expected a seed (an integer from 0 to 18446744073709551615), got '18446744073709551616'" },
		{ "seed x", "t.scn:1:6: expected a seed (an integer from 0 to 18446744073709551615), got 'x'" },
		{ "sensors 2\nsensors 3", "t.scn:2:1: 'sensors' is already set on line 1" },
		/* characters and quoting */
		{ "sensors 2\x01", "t.scn:1:10: unexpected control character 0x01" },
		{ "sensors\r2", "t.scn:1:8: unexpected control character 0x0d" },
		{ "sensors 2 #\x7f", "t.scn:1:12: unexpected control character 0x7f" },
		{ "name \"abc", "t.scn:1:6: expected a closing '\"' before the end of the line" },
		{ "name \"abc\"def", "t.scn:1:11: expected a blank after the closing '\"'" },
		/* at */
		{ "at", "t.scn:1:3: expected a time in seconds after 'at'" },
		{ "at x attack discovery", "t.scn:1:4: expected the event time (seconds, from 0 to 86400), got 'x'" },
		{ "at -1 attack discovery", "t.scn:1:4: expected the event time (seconds, from 0 to 86400), got '-1'" },
		{ "at 5", "t.scn:1:5: expected an event (attack, tamper, silence or z2m-offline) after '5'" },
		{ "at 5 explode", "t.scn:1:6: expected an event (attack, tamper, silence or z2m-offline), got 'explode'" },
		{ "at 5 attack", "t.scn:1:12: expected an attack kind after 'attack'" },
		{ "at 5 attack  \t", "t.scn:1:12: expected an attack kind after 'attack'" },
		{ "at 5 attack nuke --count 3", "t.scn:1:13: expected an attack kind (see mqttids-attack --help), got 'nuke'" },
		{ "at 5 attack spoof --broker 8.8.8.8", "t.scn:1:19: expected attack options: '--broker' is set by the runner" },
		{ "at 5 attack spoof --port=80", "t.scn:1:19: expected attack options: '--port=80' is set by the runner" },
		{ "at 5 attack spoof --bind x", "t.scn:1:19: expected attack options: '--bind' is set by the runner" },
		{ "at 5 attack spoof --label x", "t.scn:1:19: expected attack options: '--label' is set by the runner" },
		{ "at 60 attack spoof", "t.scn:1:4: expected an event time before the end of the run (duration 60 s), got 60" },
		{ "at 30 attack spoof\nduration 20", "t.scn:1:4: expected an event time before the end of the run (duration 20 s), got 30" },
		/* tamper */
		{ "at 5 tamper", "t.scn:1:12: expected a device after 'tamper'" },
		{ "at 5 tamper esp32/kitchen 3 for 2", "t.scn:1:13: expected a device (1 to 95 letters, digits, '-', '_' or '.'), got 'esp32/kitchen'" },
		{ "at 5 tamper esp32-kitchen", "t.scn:1:26: expected a temperature change (degC) after 'esp32-kitchen'" },
		{ "at 5 tamper esp32-kitchen 0 for 2", "t.scn:1:27: expected a temperature change (degC, -60 to +60, not 0), got '0'" },
		{ "at 5 tamper esp32-kitchen -0.0 for 2", "t.scn:1:27: expected a temperature change (degC, -60 to +60, not 0), got '-0.0'" },
		{ "at 5 tamper esp32-kitchen 60.5 for 2", "t.scn:1:27: expected a temperature change (degC, -60 to +60, not 0), got '60.5'" },
		{ "at 5 tamper esp32-kitchen hot for 2", "t.scn:1:27: expected a temperature change (degC, -60 to +60, not 0), got 'hot'" },
		{ "at 5 tamper esp32-kitchen 3", "t.scn:1:28: expected 'for' after '3'" },
		{ "at 5 tamper esp32-kitchen 3 during 2", "t.scn:1:29: expected 'for', got 'during'" },
		{ "at 5 tamper esp32-kitchen 3 for", "t.scn:1:32: expected a time in seconds after 'for'" },
		{ "at 5 tamper esp32-kitchen 3 for 0", "t.scn:1:33: expected a time (seconds, more than 0 to 86400), got '0'" },
		{ "at 5 tamper esp32-kitchen 3 for 2 more", "t.scn:1:35: unexpected 'more' after '2'" },
		{ "at 5 tamper esp32-attic 3 for 2", "t.scn:1:13: expected one of the 3 sensors' client ids (esp32-kitchen ... esp32-bedroom), got 'esp32-attic'" },
		{ "sensors 1\nat 5 tamper nodemcu-livingroom 3 for 2", "t.scn:2:13: expected one of the 1 sensors' client ids (esp32-kitchen ... esp32-kitchen), got 'nodemcu-livingroom'" },
		/* silence */
		{ "at 5 silence", "t.scn:1:13: expected a device after 'silence'" },
		{ "at 5 silence esp32-kitchen", "t.scn:1:27: expected 'for' after 'esp32-kitchen'" },
		{ "at 5 silence esp32-kitchen 10", "t.scn:1:28: expected 'for', got '10'" },
		{ "at 5 silence esp32-kitchen for", "t.scn:1:31: expected a time in seconds after 'for'" },
		{ "at 5 silence esp32-kitchen for 1 2", "t.scn:1:34: unexpected '2' after '1'" },
		{ "at 5 silence nobody for 1", "t.scn:1:14: expected one of the 3 sensors' client ids (esp32-kitchen ... esp32-bedroom), got 'nobody'" },
		/* z2m-offline */
		{ "at 5 z2m-offline bulb", "t.scn:1:18: expected 'z2m on' for a z2m-offline event" },
		{ "z2m on\nat 5 z2m-offline", "t.scn:2:17: expected a device after 'z2m-offline'" },
		{ "z2m on\nat 5 z2m-offline bulb later", "t.scn:2:23: expected 'for', got 'later'" },
		{ "z2m on\nat 5 z2m-offline bulb for", "t.scn:2:26: expected a time in seconds after 'for'" },
		{ "z2m on\nat 5 z2m-offline bulb for x", "t.scn:2:27: expected a time (seconds, more than 0 to 86400), got 'x'" },
		{ "z2m on\nat 5 z2m-offline bulb for 1 x", "t.scn:2:29: unexpected 'x' after '1'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_one(cases[i].in, cases[i].msg);
}

/* A bad line is skipped and parsing goes on; messages come in line order. */
static void test_recovery(void **state)
{
	(void)state;
	struct tb_scenario *sc = sc_new();
	int p = 0;
	char *out = parse("sensors 40\n"
			  "interval 7\n"
			  "at 1 attack nuke\n"
			  "at 2 attack discovery\n"
			  "qos 9\n"
			  "seed 5\n",
			  sc, &p);
	assert_int_equal(p, 3);
	assert_string_equal(out,
			    "t.scn:1:9: expected a sensor count (an integer from 1 to 32), got '40'\n"
			    "t.scn:3:13: expected an attack kind (see mqttids-attack --help), got 'nuke'\n"
			    "t.scn:5:5: expected a QoS (0, 1 or mixed), got '9'\n");
	assert_int_equal(sc->sensors, 3); /* the default stays */
	assert_int_equal(sc->interval, 7);
	assert_int_equal(sc->qos, -1);
	assert_int_equal(sc->seed, 5);
	assert_int_equal(sc->n_ev, 1);
	assert_string_equal(sc->ev[0].argv[0], "discovery");
	assert_int_equal(sc->ev[0].line, 4);
	free(out);
	free(sc);
}

static void test_sorting(void **state)
{
	(void)state;
	char text[8192];
	size_t o = 0;
	/* 40 events, times descending in groups of equal times. */
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "at %d attack spoof --seed %d\n", (39 - i) / 4, i);
	struct tb_scenario *sc = sc_new();
	int p = 0;
	char *out = parse(text, sc, &p);
	assert_int_equal(p, 0);
	assert_int_equal(sc->n_ev, 40);
	for (unsigned i = 1; i < 40; i++) {
		assert_true(sc->ev[i - 1].at <= sc->ev[i].at);
		if (sc->ev[i - 1].at == sc->ev[i].at)
			assert_true(sc->ev[i - 1].line < sc->ev[i].line);
	}
	assert_string_equal(sc->ev[0].argv[2], "36");
	assert_string_equal(sc->ev[39].argv[2], "3");
	free(out);
	free(sc);
}

static void test_limits(void **state)
{
	(void)state;
	struct tb_scenario *sc = sc_new();
	int p = 0;
	char *out;

	/* 64 events fit, the 65th does not. */
	char *text = malloc(65 * 32);
	assert_non_null(text);
	size_t o = 0;
	for (int i = 0; i < 65; i++)
		o += (size_t)sprintf(text + o, "at %d attack discovery\n", i % 50);
	out = parse(text, sc, &p);
	assert_int_equal(p, 1);
	assert_string_equal(out, "t.scn:65:1: too many events (at most 64)\n");
	assert_int_equal(sc->n_ev, 64);
	free(out);
	free(text);

	/* Arguments: 23 after the kind fit (argc 24), 24 do not. */
	char line[1024];
	o = (size_t)sprintf(line, "at 1 attack malformed");
	for (int i = 0; i < 23; i++)
		o += (size_t)sprintf(line + o, " a%d", i);
	out = parse(line, sc, &p);
	assert_int_equal(p, 0);
	assert_int_equal(sc->ev[0].argc, TB_SC_MAX_ARGS);
	assert_string_equal(sc->ev[0].argv[23], "a22");
	free(out);
	sprintf(line + o, " extra");
	out = parse(line, sc, &p);
	assert_int_equal(p, 1);
	char want[256];
	snprintf(want, sizeof(want),
		 "t.scn:1:%zu: too many words (at most 23 arguments after the attack kind)\n", o + 1);
	assert_string_equal(out, want);
	free(out);

	/* An argument of 255 bytes fits, 256 do not. */
	char arg[300];
	memset(arg, 'x', sizeof(arg));
	snprintf(line, sizeof(line), "at 1 attack spoof --topic %.255s", arg);
	out = parse(line, sc, &p);
	assert_int_equal(p, 0);
	assert_int_equal(strlen(sc->ev[0].argv[2]), 255);
	free(out);
	snprintf(line, sizeof(line), "at 1 attack spoof --topic %.256s", arg);
	out = parse(line, sc, &p);
	assert_int_equal(p, 1);
	assert_string_equal(out, "t.scn:1:27: argument too long (256 bytes, at most 255)\n");
	free(out);
	/* The kind itself is an argument too. */
	snprintf(line, sizeof(line), "at 1 attack %.300s", arg);
	out = parse(line, sc, &p);
	assert_int_equal(p, 1);
	assert_string_equal(out, "t.scn:1:13: argument too long (300 bytes, at most 255)\n");
	free(out);

	/* Device names: 95 bytes are syntactically fine (then unknown), 96 are not. */
	snprintf(line, sizeof(line), "at 1 silence %.95s for 1", arg);
	out = parse(line, sc, &p);
	assert_int_equal(p, 1);
	assert_non_null(strstr(out, "expected one of the 3 sensors"));
	free(out);
	snprintf(line, sizeof(line), "at 1 silence %.96s for 1", arg);
	out = parse(line, sc, &p);
	assert_int_equal(p, 1);
	assert_non_null(strstr(out, "t.scn:1:14: expected a device (1 to 95 letters"));
	free(out);

	/* A 4 MiB line, with and without a final newline, and a NUL in it. */
	size_t big = 4u << 20;
	text = malloc(big + 16);
	assert_non_null(text);
	memcpy(text, "name ", 5);
	memset(text + 5, 'n', big);
	text[5 + big] = '\n';
	memcpy(text + 6 + big, "sensors 2", 9);
	out = parse_n(text, big + 15, sc, &p);
	assert_int_equal(p, 1);
	assert_non_null(strstr(out, "t.scn:1:6: expected a name"));
	assert_int_equal(sc->sensors, 2);
	free(out);
	text[big / 2] = 0;
	out = parse_n(text, big + 5, sc, &p);
	assert_int_equal(p, 1);
	snprintf(want, sizeof(want), "t.scn:1:%zu: unexpected NUL byte\n", big / 2 + 1);
	assert_string_equal(out, want);
	free(out);
	free(text);

	/* NUL bytes: the line is skipped, the rest parsed; the parse never reads past n. */
	static const char nul[] = "sensors 5\0\nseed 9\nz2m on";
	out = parse_n(nul, sizeof(nul) - 1, sc, &p);
	assert_int_equal(p, 1);
	assert_string_equal(out, "t.scn:1:10: unexpected NUL byte\n");
	assert_int_equal(sc->sensors, 3);
	assert_int_equal(sc->seed, 9);
	assert_true(sc->z2m);
	free(out);
	/* Exactly n bytes: "sensors 12" cut to "sensors 1". */
	char *cut = malloc(9);
	assert_non_null(cut);
	memcpy(cut, "sensors 1", 9);
	out = parse_n(cut, 9, sc, &p);
	assert_int_equal(p, 0);
	assert_int_equal(sc->sensors, 1);
	free(out);
	free(cut);

	/* Many problems: every one counted, the first 50 shown, then one note. */
	text = malloc(100 * 8);
	assert_non_null(text);
	o = 0;
	for (int i = 0; i < 100; i++)
		o += (size_t)sprintf(text + o, "bad\n");
	out = parse(text, sc, &p);
	assert_int_equal(p, 100);
	size_t lines = 0;
	for (char *q = out; *q; q++)
		lines += *q == '\n';
	assert_int_equal(lines, 51);
	assert_non_null(strstr(out, "t.scn:51:1: too many problems, the rest are not shown\n"));
	free(out);
	free(text);

	/* A NULL err stream is allowed. */
	assert_int_equal(tb_scenario_parse("x", "bad", 3, sc, NULL), 1);
	free(sc);
}

static void test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/tb-scenario-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], *out = NULL;
	size_t len = 0;
	struct tb_scenario *sc = sc_new();

	snprintf(path, sizeof(path), "%s/good.scn", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("name loaded\nsensors 7\nat 3 attack replay\n", f);
	fclose(f);
	FILE *err = open_memstream(&out, &len);
	assert_int_equal(tb_scenario_load(path, sc, err), 0);
	fclose(err);
	assert_string_equal(out, "");
	free(out);
	assert_string_equal(sc->name, "loaded");
	assert_int_equal(sc->sensors, 7);
	assert_int_equal(sc->n_ev, 1);

	/* Messages name the file. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("sensors 70\n", f);
	fclose(f);
	err = open_memstream(&out, &len);
	assert_int_equal(tb_scenario_load(path, sc, err), 1);
	fclose(err);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:1:9: expected a sensor count (an integer from 1 to 32), got '70'\n", path);
	assert_string_equal(out, want);
	free(out);

	/* Missing file, a directory, a file over 1 MiB: one problem each, defaults. */
	snprintf(path, sizeof(path), "%s/missing.scn", dir);
	err = open_memstream(&out, &len);
	assert_int_equal(tb_scenario_load(path, sc, err), 1);
	fclose(err);
	snprintf(want, sizeof(want), "%s:0:0: cannot open: No such file or directory\n", path);
	assert_string_equal(out, want);
	assert_int_equal(sc->sensors, 3);
	free(out);

	err = open_memstream(&out, &len);
	assert_int_equal(tb_scenario_load(dir, sc, err), 1);
	fclose(err);
	snprintf(want, sizeof(want), "%s:0:0: expected a regular file\n", dir);
	assert_string_equal(out, want);
	free(out);

	snprintf(path, sizeof(path), "%s/big.scn", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < (1 << 20) / 10 + 1; i++)
		fputs("#########\n", f);
	fclose(f);
	err = open_memstream(&out, &len);
	assert_int_equal(tb_scenario_load(path, sc, err), 1);
	fclose(err);
	snprintf(want, sizeof(want), "%s:0:0: expected a file of at most 1048576 bytes\n", path);
	assert_string_equal(out, want);
	free(out);
	unlink(path);

	/* Exactly 1 MiB is fine. */
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < (1 << 20) / 8; i++)
		fputs("#######\n", f);
	fclose(f);
	assert_int_equal(tb_scenario_load(path, sc, NULL), 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/good.scn", dir);
	unlink(path);
	rmdir(dir);
	free(sc);
}

static void test_sensor_name(void **state)
{
	(void)state;
	static const struct { unsigned i; const char *id, *room; } cases[] = {
		{ 1, "esp32-kitchen", "kitchen" },
		{ 2, "nodemcu-livingroom", "livingroom" },
		{ 3, "esp32-bedroom", "bedroom" },
		{ 15, "esp32-porch", "porch" },
		{ 16, "nodemcu-studio", "studio" },
		{ 17, "esp32-kitchen-2", "kitchen" },
		{ 18, "nodemcu-livingroom-2", "livingroom" },
		{ 32, "nodemcu-studio-2", "studio" },
		{ 33, "esp32-kitchen-3", "kitchen" },
		{ 0, "esp32-kitchen", "kitchen" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char id[96], room[32], topic[160], want[160];
		tb_sensor_name(cases[k].i, id, sizeof(id), room, sizeof(room), topic,
			       sizeof(topic));
		assert_string_equal(id, cases[k].id);
		assert_string_equal(room, cases[k].room);
		snprintf(want, sizeof(want), "sensors/%s/%s", cases[k].room, cases[k].id);
		assert_string_equal(topic, want);
	}
	/* Small buffers are cut, never overrun; NULL outputs are skipped. */
	char id[6] = "zzzzz", topic[9];
	tb_sensor_name(2, id, sizeof(id), NULL, 0, topic, sizeof(topic));
	assert_string_equal(id, "nodem");
	assert_string_equal(topic, "sensors/");
	tb_sensor_name(0xffffffffu, NULL, 0, NULL, 0, NULL, 0);
	char big[96];
	tb_sensor_name(0xffffffffu, big, sizeof(big), NULL, 0, NULL, 0);
	assert_string_equal(big, "esp32-porch-268435456"); /* room 14, (2^32-2)/16+1 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_choices),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_sorting),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_sensor_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
