/* test_sensor_telemetry.c - the telemetry extractor, its configuration, the cJSON arena and the host's helpers. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/config.h"
#include "sensor/sensor.h"
#include "sensor/sensor_cfg.h"
#include "sensor/sensor_telemetry.h"

struct fx {
	struct tm_cfg cfg;
	struct tm_arena *arena;
	struct tm_scan *scan;
	struct tm_result r, fast_r;
	bool fast;                /* the last run was answered by the fast path */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(tm_cfg_parse(stderr, NULL, &f->cfg), 0);
	f->arena = tm_arena_new(256 * 1024);
	assert_non_null(f->arena);
	f->scan = tm_scan_new(f->cfg.max_payload);
	assert_non_null(f->scan);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tm_arena_free(f->arena);
	tm_scan_free(f->scan);
	free(f);
	scfg_forget_origins();
	return 0;
}

/* The two paths gave the same result: every member a detector reads. */
static void assert_same_result(const struct tm_result *a, const struct tm_result *b)
{
	assert_int_equal(a->entry, b->entry);
	assert_string_equal(a->device, b->device);
	assert_int_equal(a->bad, b->bad);
	if (a->bad)
		assert_string_equal(a->error, b->error);
	assert_int_equal(a->n, b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		assert_int_equal(a->v[i].field, b->v[i].field);
		assert_ptr_equal(a->v[i].name, b->v[i].name);
		assert_memory_equal(&a->v[i].v, &b->v[i].v, sizeof(double)); /* bit for bit */
	}
}

/*
 * Runs one PUBLISH through match and extract on both paths: cJSON's
 * (returned) and the jsmn tokens' (f->fast says it answered), which must
 * then agree.
 */
static const struct tm_result *run_n(struct fx *f, const char *cid, const char *topic,
				     const char *payload, size_t plen)
{
	int ent = tm_match(&f->cfg, (const uint8_t *)topic, strlen(topic));
	const cJSON *j = tm_json_parse(f->arena, (const uint8_t *)payload, plen);
	tm_extract(&f->cfg, ent, cid, (const uint8_t *)topic, strlen(topic),
		   (const uint8_t *)payload, plen, j, &f->r);
	f->fast = tm_extract_fast(&f->cfg, ent, cid, (const uint8_t *)topic, strlen(topic),
				  (const uint8_t *)payload, plen, f->scan, &f->fast_r);
	if (f->fast)
		assert_same_result(&f->r, &f->fast_r);
	return &f->r;
}

static const struct tm_result *run(struct fx *f, const char *cid, const char *topic,
				   const char *payload)
{
	return run_n(f, cid, topic, payload, strlen(payload));
}

/* A configuration from JSON text, as the YAML walk would hand it over. */
static char *parse_cfg(struct fx *f, const char *json)
{
	cJSON *root = cJSON_Parse(json);
	assert_non_null(root);
	char *msgs = NULL;
	size_t n = 0;
	FILE *log = open_memstream(&msgs, &n);
	assert_non_null(log);
	assert_int_equal(tm_cfg_parse(log, root, &f->cfg), 0);
	fclose(log);
	cJSON_Delete(root);
	return msgs;
}

static void test_default_dht_json(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->cfg.n, 1);
	assert_string_equal(f->cfg.e[0].filter, "sensors/+/+");
	const struct tm_result *r = run(f, "esp32-kitchen", "sensors/kitchen/esp32-kitchen",
		"{\"device\":\"esp32-kitchen\",\"temperature\":22.8,\"humidity\":41}");
	assert_int_equal(r->entry, 0);
	assert_false(r->bad);
	assert_string_equal(r->device, "esp32-kitchen");
	assert_int_equal(r->n, 2);
	assert_string_equal(r->v[0].name, "temperature");
	assert_true(fabs(r->v[0].v - 22.8) < 1e-9);
	assert_string_equal(r->v[1].name, "humidity");
	assert_true(fabs(r->v[1].v - 41) < 1e-9);
	assert_int_equal(r->v[1].field, 1);
	/* the physical limits come with the default fields */
	assert_true(f->cfg.e[0].fields[0].has_min && f->cfg.e[0].fields[0].min == -40);
	assert_true(f->cfg.e[0].fields[1].has_max && f->cfg.e[0].fields[1].max == 100);
}

static void test_no_match(void **state)
{
	struct fx *f = *state;
	/* one level too deep (the status topic) and another tree */
	assert_int_equal(tm_match(&f->cfg, (const uint8_t *)"sensors/k/esp/status", 20), -1);
	assert_int_equal(tm_match(&f->cfg, (const uint8_t *)"zigbee2mqtt/bridge/state", 24), -1);
	tm_extract(&f->cfg, -1, "x", (const uint8_t *)"a", 1, (const uint8_t *)"1", 1, NULL, &f->r);
	assert_int_equal(f->r.entry, -1);
	assert_int_equal(f->r.n, 0);
	assert_false(f->r.bad);
}

static void test_failed_reads_are_not_bad(void **state)
{
	struct fx *f = *state;
	const struct tm_result *r = run(f, "c", "sensors/a/b",
					"{\"temperature\":null,\"humidity\":\"nan\"}");
	assert_false(r->bad);
	assert_int_equal(r->n, 0);
	r = run(f, "c", "sensors/a/b", "{\"temperature\":\"21.5\",\"humidity\":\" NaN \"}");
	assert_false(r->bad);
	assert_int_equal(r->n, 1);
	assert_true(fabs(r->v[0].v - 21.5) < 1e-9);
}

static void test_bad_payloads(void **state)
{
	struct fx *f = *state;
	const struct tm_result *r = run(f, "c", "sensors/a/b", "{\"temperature\":22}");
	assert_true(r->bad);
	assert_string_equal(r->error, "field 'humidity' missing");
	assert_int_equal(r->n, 1); /* what was there is still reported */

	r = run(f, "c", "sensors/a/b", "{\"temperature\":true,\"humidity\":40}");
	assert_true(r->bad);
	assert_string_equal(r->error, "field 'temperature' is not a number");

	r = run(f, "c", "sensors/a/b", "{\"temperature\":22,");
	assert_true(r->bad);
	assert_non_null(strstr(r->error, "not JSON"));

	/* auto format: not starting with '{' means a plain number */
	r = run(f, "c", "sensors/a/b", "hot");
	assert_true(r->bad);
	assert_string_equal(r->error, "payload is not a number");
	r = run(f, "c", "sensors/a/b", "1e999");
	assert_true(r->bad);
	r = run(f, "c", "sensors/a/b", "  23.25 \r\n");
	assert_false(r->bad);
	assert_int_equal(r->n, 1);
	assert_true(fabs(r->v[0].v - 23.25) < 1e-9);
}

static void test_config_entries(void **state)
{
	struct fx *f = *state;
	char *msgs = parse_cfg(f,
		"{\"max-payload\":\"4096\",\"topics\":["
		"{\"filter\":\"home/+/temp\",\"device\":\"topic-level 2\",\"format\":\"number\"},"
		"{\"filter\":\"bms/#\",\"device\":\"field meta.id\",\"fields\":["
		"  {\"name\":\"co2\",\"path\":\"data.1\",\"min\":\"0\",\"max\":\"5000\",\"max-rate\":\"50\"},"
		"  \"pressure\"]},"
		"{\"filter\":\"x/y\",\"device\":\"client-id\",\"fields\":[{\"name\":\"v\",\"min\":\"9\",\"max\":\"1\"}]},"
		"{\"device\":\"client-id\"},"
		"{\"filter\":\"z\",\"device\":\"topic-level zero\",\"fields\":[{\"path\":\"a\"}]}"
		"]}");
	assert_int_equal(f->cfg.max_payload, 4096);
	/* the entry without a filter and the one without a usable field are skipped */
	assert_int_equal(f->cfg.n, 3);
	assert_non_null(strstr(msgs, "needs a filter"));
	assert_non_null(strstr(msgs, "min 9 is above max 1"));
	assert_non_null(strstr(msgs, "expected client-id, topic-level N or field PATH"));
	free(msgs);

	const struct tm_result *r = run(f, "bedroom-esp", "home/bedroom/temp", "19.5");
	assert_int_equal(r->entry, 0);
	assert_string_equal(r->device, "bedroom");
	assert_int_equal(r->n, 1);
	assert_string_equal(r->v[0].name, "value");

	r = run(f, "ahu-1", "bms/floor2/ahu",
		"{\"meta\":{\"id\":\"AHU-2\"},\"data\":[400,812.5],\"pressure\":1013}");
	assert_int_equal(r->entry, 1);
	assert_false(r->bad);
	assert_string_equal(r->device, "AHU-2");
	assert_int_equal(r->n, 2);
	assert_string_equal(r->v[0].name, "co2");
	assert_true(fabs(r->v[0].v - 812.5) < 1e-9);
	assert_true(f->cfg.e[1].fields[0].max_rate == 50);

	/* a missing device field falls back on the client id, and says so */
	r = run(f, "ahu-1", "bms/floor2/ahu", "{\"data\":[1,2],\"pressure\":3}");
	assert_string_equal(r->device, "ahu-1");
	assert_true(r->bad);
	assert_string_equal(r->error, "device field 'meta.id' missing");

	r = run(f, "client-7", "x/y", "{\"v\":3}");
	assert_string_equal(r->device, "client-7");
	assert_false(f->cfg.e[2].fields[0].has_min); /* inverted range dropped */
}

static void test_hostile_ids_and_sizes(void **state)
{
	struct fx *f = *state;
	/* a 300-byte device level is cut to SENSOR_ID_MAX */
	char topic[400];
	int n = snprintf(topic, sizeof(topic), "sensors/r/");
	memset(topic + n, 'A', 300);
	topic[n + 300] = 0;
	const struct tm_result *r = run(f, "c", topic, "{\"temperature\":1,\"humidity\":2}");
	assert_int_equal(strlen(r->device), SENSOR_ID_MAX);

	/* a NUL inside the topic ends the device id there */
	const uint8_t t2[] = { 's', 'e', 'n', 's', 'o', 'r', 's', '/', 'r', '/', 'a', 0, 'b' };
	tm_extract(&f->cfg, 0, "c", t2, sizeof(t2), (const uint8_t *)"5", 1, NULL, &f->r);
	assert_string_equal(f->r.device, "a");

	/* over max-payload: not parsed, reported */
	size_t big = f->cfg.max_payload + 1;
	char *p = malloc(big + 1);
	assert_non_null(p);
	memset(p, ' ', big);
	p[0] = '{';
	p[big - 1] = '}';
	p[big] = 0;
	r = run(f, "c", "sensors/a/b", p);
	assert_true(r->bad);
	assert_non_null(strstr(r->error, "max-payload"));
	free(p);
}

static void test_arena_bounds_and_hooks(void **state)
{
	struct fx *f = *state;
	struct tm_arena *small = tm_arena_new(512);
	assert_non_null(small);
	const char *doc = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]";
	/* does not fit: no tree, no crash */
	assert_null(tm_json_parse(small, (const uint8_t *)doc, strlen(doc)));
	/* fits the large one, repeatedly (the arena is reset each time) */
	for (int i = 0; i < 1000; i++)
		assert_non_null(tm_json_parse(f->arena, (const uint8_t *)doc, strlen(doc)));
	/* ordinary cJSON use afterwards allocates and frees with malloc again */
	cJSON *o = cJSON_CreateObject();
	assert_non_null(o);
	cJSON_AddStringToObject(o, "k", "v");
	char *txt = cJSON_PrintUnformatted(o);
	assert_string_equal(txt, "{\"k\":\"v\"}");
	cJSON_free(txt);
	cJSON_Delete(o);
	tm_arena_free(small);
	assert_null(tm_json_parse(f->arena, NULL, 0));
}

/* What the fast path answers itself, and what it leaves to cJSON. */
static void test_fast_path(void **state)
{
	struct fx *f = *state;
	static const char *const fast[] = {
		"{\"temperature\":22.8,\"humidity\":41}",
		" {\"device\":\"esp\", \"temperature\" : -0.0 ,\"humidity\":1e2}\r\n",
		"{\"temperature\":\"21.5\",\"humidity\":null,\"x\":[true,false,{}]}",
		"{\"temperature\":123456789012345678901234567890,\"humidity\":4.9E-324}",
		"{\"temperature\":0.1234567890123456789,\"humidity\":-12345678901234.5}",
		"{\"temperature\":{\"v\":1},\"humidity\":[]}",
		"{\"temperature\":1e999,\"humidity\":2}",
		"{\"t\":\"a\tb\",\"temperature\":1}",      /* a raw control byte: cJSON keeps it too */
		"{\"temperature\":5}",
		"[1,2]",
	};
	for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++) {
		run(f, "c", "sensors/a/b", fast[i]);
		if (!f->fast)
			fail_msg("fast path declined %s", fast[i]);
	}
	/* jsmn alone accepts most of these; the grammar check sends them to cJSON */
	static const char *const slow[] = {
		"{\"temperature\":22.8 \"humidity\":41}",   /* no comma */
		"{\"temperature\" 22.8,\"humidity\":41}",   /* no colon */
		"{\"temperature\":22.8,\"humidity\":41,}",  /* trailing comma */
		"{\"temperature\":tru,\"humidity\":41}",    /* a bad literal */
		"{\"temperature\":+1,\"humidity\":41}",     /* cJSON takes it, RFC 8259 does not */
		"{\"temperature\":01,\"humidity\":41}",
		"{\"temperature\":1.,\"humidity\":41}",
		"{\"temperature\":-,\"humidity\":41}",
		"{\"temperature\":1,\"humidity\":41} x",    /* cJSON ignores what follows */
		"{\"temperature\":1,\"humidity\":41}{}",
		"{\"temp\\u0065rature\":1,\"humidity\":41}", /* an escaped key on the path */
		"{\"h\\u0065llo\":1,\"temperature\":5,\"humidity\":6}", /* any escape at all */
		"{\"temperature\":5,\"humidity\":6,\"x\":\"\\uD931\"}", /* cJSON refuses it */
		"{\"temperature\":\"2\\u0031\",\"humidity\":41}",
		"{\"temperature\":1,\"humidity\":41",
		"{\"temperature\":22,",
		"{]",
		"{\"temperature\":1,\"temperature\":2,:}",
	};
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++) {
		run(f, "c", "sensors/a/b", slow[i]);
		if (f->fast)
			fail_msg("fast path answered %s", slow[i]);
	}
	/* a NUL byte ends jsmn's input early: cJSON decides */
	static const char nul[] = "{\"temperature\":1,\"humidity\":2}\0 junk";
	run_n(f, "c", "sensors/a/b", nul, sizeof(nul) - 1);
	assert_false(f->fast);
	/* the first of two equal keys, as cJSON */
	const struct tm_result *r = run(f, "c", "sensors/a/b",
					"{\"temperature\":1,\"temperature\":2,\"humidity\":3}");
	assert_true(f->fast);
	assert_true(r->v[0].v == 1);
	/* nesting past the fast path's depth goes to cJSON, which still reads it */
	char deep[300];
	size_t o = 0;
	o += (size_t)snprintf(deep, sizeof(deep), "{\"temperature\":1,\"humidity\":2,\"d\":");
	for (int i = 0; i < 80; i++)
		deep[o++] = '[';
	for (int i = 0; i < 80; i++)
		deep[o++] = ']';
	deep[o++] = '}';
	deep[o] = 0;
	r = run(f, "c", "sensors/a/b", deep);
	assert_false(f->fast);
	assert_false(r->bad);
	assert_int_equal(r->n, 2);
}

/* More tokens than the scan holds: declined, not overrun. */
static void test_fast_path_tokens(void **state)
{
	struct fx *f = *state;
	struct tm_scan *small = tm_scan_new(16); /* 10 tokens */
	assert_non_null(small);
	const char *doc = "{\"temperature\":1,\"humidity\":2,\"a\":[1,2,3,4,5,6,7,8]}";
	const uint8_t *t = (const uint8_t *)"sensors/a/b";
	assert_false(tm_extract_fast(&f->cfg, 0, "c", t, 11, (const uint8_t *)doc, strlen(doc),
				     small, &f->fast_r));
	assert_true(tm_extract_fast(&f->cfg, 0, "c", t, 11, (const uint8_t *)doc, strlen(doc),
				    f->scan, &f->fast_r));
	assert_int_equal(f->fast_r.n, 2);
	tm_scan_free(small);
	/* the densest document the default size allows still fits */
	size_t len = f->cfg.max_payload;
	char *p = malloc(len + 1);
	assert_non_null(p);
	p[0] = '[';
	for (size_t i = 1; i + 1 < len; i += 2) {
		p[i] = '1';
		p[i + 1] = ',';
	}
	p[len - 2] = '1';
	p[len - 1] = ']';
	p[len] = 0;
	assert_true(tm_extract_fast(&f->cfg, 0, "c", t, 11, (const uint8_t *)p, len, f->scan,
				    &f->fast_r));
	assert_true(f->fast_r.bad); /* an array has no temperature */
	free(p);
}

/* The fast number conversion returns what strtod returns, bit for bit. */
static void test_fast_numbers(void **state)
{
	struct fx *f = *state;
	char *msgs = parse_cfg(f, "{\"topics\":[{\"filter\":\"n\",\"fields\":[\"v\"]}]}");
	free(msgs);
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	char doc[96], num[64];
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int digits = 1 + (int)(x % 17), point = (int)((x >> 8) % (unsigned)(digits + 1));
		size_t o = 0;
		if (x >> 63)
			num[o++] = '-';
		uint64_t y = x;
		for (int d = 0; d < digits; d++) {
			if (d == point && d > 0)
				num[o++] = '.';
			num[o++] = (char)('0' + (d == 0 && digits > 1 && point != 1 ? 1 + y % 9 : y % 10));
			y /= 10;
			if (!y)
				y = x * 2654435761u;
		}
		num[o] = 0;
		snprintf(doc, sizeof(doc), "{\"v\":%s}", num);
		const struct tm_result *r = run(f, "c", "n", doc);
		if (!f->fast)
			fail_msg("fast path declined %s", doc);
		assert_int_equal(r->n, 1);
		double want = strtod(num, NULL);
		assert_memory_equal(&f->fast_r.v[0].v, &want, sizeof(double));
	}
}

static void test_json_path(void **state)
{
	(void)state;
	cJSON *j = cJSON_Parse("{\"a\":{\"b\":[10,{\"c\":7}]},\"x\":1}");
	assert_non_null(j);
	assert_int_equal(tm_json_path(j, "a.b.0")->valueint, 10);
	assert_int_equal(tm_json_path(j, "a.b.1.c")->valueint, 7);
	assert_ptr_equal(tm_json_path(j, ""), j);
	assert_null(tm_json_path(j, "a.b.2"));
	assert_null(tm_json_path(j, "a.b.-1"));
	assert_null(tm_json_path(j, "a..b"));
	assert_null(tm_json_path(j, "x.y"));
	cJSON_Delete(j);
}

static void test_cfg_helpers(void **state)
{
	(void)state;
	cJSON *o = cJSON_Parse("{\"n\":\"2.5\",\"j\":7,\"b\":\"off\",\"d\":\"10m\",\"bad\":\"x\",\"dur\":\"3 fortnights\"}");
	assert_non_null(o);
	scfg_set_origin(cJSON_GetObjectItem(o, "bad"), "test.yaml:4:9");
	char *msgs = NULL;
	size_t mn = 0;
	FILE *log = open_memstream(&msgs, &mn);
	bool bad = false;
	assert_true(scfg_num(log, o, "n", 0, &bad) == 2.5);
	assert_true(scfg_num(log, o, "j", 0, &bad) == 7);
	assert_false(scfg_bool(log, o, "b", true, &bad));
	assert_true(scfg_dur(log, o, "d", 0, &bad) == 600);
	assert_true(scfg_num(log, o, "missing", 42, &bad) == 42);
	assert_false(bad);
	assert_true(scfg_num(log, o, "bad", 3, &bad) == 3);
	assert_true(bad);
	assert_true(scfg_dur(log, o, "dur", 5, &bad) == 5);
	fclose(log);
	assert_non_null(strstr(msgs, "test.yaml:4:9: bad: expected a number, got 'x'"));
	assert_non_null(strstr(msgs, "dur: expected a duration"));
	free(msgs);
	cJSON_Delete(o);

	double v;
	assert_int_equal(scfg_parse_dur("250ms", &v), 0);
	assert_true(fabs(v - 0.25) < 1e-12);
	assert_int_equal(scfg_parse_dur("1d", &v), 0);
	assert_true(v == 86400);
	assert_int_equal(scfg_parse_dur("-1", &v), -1);
	assert_int_equal(scfg_parse_dur("", &v), -1);
}

/* --set detectors.X.Y and the YAML walk build the same tree, with origins. */
static void test_config_tree(void **state)
{
	(void)state;
	struct engine_cfg c;
	engine_cfg_default(&c);
	const char *why;
	assert_int_equal(config_set(&c, "detectors.value.sensitivity", "7", &why), 0);
	assert_int_equal(config_set(&c, "detectors.value.sensitivity", "8", &why), 0);
	assert_int_equal(config_set(&c, "detectors.value.sensitivity.x", "8", &why), -1);
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(c.ids.detectors, "value"), "sensitivity");
	assert_string_equal(v->valuestring, "8");
	assert_string_equal(scfg_where(v), "--set detectors.value.sensitivity");
	config_deinit(&c);

	char path[] = "/tmp/mqttids-test-cfg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	fputs("flow:\n  max-flows: 100\ndetectors:\n  telemetry:\n    topics:\n"
	      "      - filter: \"home/+\"\n        device: topic-level 2\n"
	      "        fields: [temp, {name: rh, max: 100}]\n", fp);
	fclose(fp);
	engine_cfg_default(&c);
	char err[256];
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.flow.max_flows, 100);
	const cJSON *t = cJSON_GetObjectItem(c.ids.detectors, "telemetry");
	const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "topics"), 0);
	assert_non_null(e0);
	char want[300];
	snprintf(want, sizeof(want), "%s:6:9", path);
	assert_string_equal(scfg_where(e0), want);
	struct tm_cfg tc;
	assert_int_equal(tm_cfg_parse(stderr, t, &tc), 0);
	assert_int_equal(tc.n, 1);
	assert_int_equal(tc.e[0].n_fields, 2);
	assert_true(tc.e[0].fields[1].has_max && tc.e[0].fields[1].max == 100);
	config_deinit(&c);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_dht_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_reads_are_not_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_payloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ids_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_bounds_and_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_path_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_numbers, setup, teardown),
		cmocka_unit_test(test_json_path),
		cmocka_unit_test(test_cfg_helpers),
		cmocka_unit_test(test_config_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
