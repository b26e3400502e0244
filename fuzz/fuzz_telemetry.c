/*
 * fuzz_telemetry.c - libFuzzer target for the telemetry extractor's two
 * JSON paths (sensor/sensor_telemetry.c): the input is one PUBLISH
 * payload, read by every entry of a fixed configuration (flat fields,
 * nested and array paths, a device named by a field, format json and
 * auto, a small max-payload).
 *
 * Oracles: whenever the fast path (jsmn tokens) answers, its result equals
 * cJSON's field for field and bit for bit; when the fast path answers for
 * a JSON entry, cJSON parsed the payload too (the fast path's grammar is
 * no wider); a second fast run on the same buffers gives the same result.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "sensor/sensor_cfg.h"
#include "sensor/sensor_telemetry.h"

static struct tm_cfg cfg;
static struct tm_arena *arena;
static struct tm_scan *scan;

static const char *const topics[] = { "a/dev1", "b/x", "c/x", "d/x", "e/x" };

static void setup(void)
{
	cJSON *sec = cJSON_Parse(
		"{\"max-payload\":\"4096\",\"topics\":["
		"{\"filter\":\"a/+\",\"device\":\"topic-level 2\",\"fields\":["
		"  {\"name\":\"temperature\",\"required\":\"no\"},\"humidity\",\"battery\"]},"
		"{\"filter\":\"b/+\",\"device\":\"field meta.id\",\"format\":\"json\",\"fields\":["
		"  {\"name\":\"co2\",\"path\":\"data.1\"},{\"name\":\"p\",\"path\":\"a.b.c\"},"
		"  {\"name\":\"all\",\"path\":\".\"}]},"
		"{\"filter\":\"c/+\",\"device\":\"field id\",\"fields\":[\"v\",{\"name\":\"w\",\"path\":\"0\"}]},"
		"{\"filter\":\"d/+\",\"device\":\"client-id\",\"fields\":["
		"  {\"name\":\"x\",\"path\":\"l.0.m\"},{\"name\":\"y\",\"path\":\"l.2\"}]},"
		"{\"filter\":\"e/+\",\"device\":\"field d.0\",\"format\":\"auto\",\"fields\":[\"t\"]}"
		"]}");
	FUZZ_CHECK(sec != NULL);
	FUZZ_CHECK(tm_cfg_parse(fuzz_devnull(), sec, &cfg) == 0);
	FUZZ_CHECK(cfg.n == 5);
	cJSON_Delete(sec);
	arena = tm_arena_new((size_t)cfg.max_payload * 16 + 65536);
	scan = tm_scan_new(cfg.max_payload);
	FUZZ_CHECK(arena && scan);
}

static void same(const struct tm_result *a, const struct tm_result *b)
{
	FUZZ_CHECK(a->entry == b->entry);
	FUZZ_CHECK(!strcmp(a->device, b->device));
	FUZZ_CHECK(a->bad == b->bad);
	FUZZ_CHECK(!a->bad || !strcmp(a->error, b->error));
	FUZZ_CHECK(a->n == b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		FUZZ_CHECK(a->v[i].field == b->v[i].field);
		FUZZ_CHECK(a->v[i].name == b->v[i].name);
		FUZZ_CHECK(!memcmp(&a->v[i].v, &b->v[i].v, sizeof(double)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	static struct tm_result slow, fast, again;
	const cJSON *json = size && size <= cfg.max_payload ? tm_json_parse(arena, data, size) : NULL;
	for (int e = 0; e < (int)cfg.n; e++) {
		const uint8_t *t = (const uint8_t *)topics[e];
		size_t tl = strlen(topics[e]);
		FUZZ_CHECK(tm_match(&cfg, t, tl) == e);
		tm_extract(&cfg, e, "client-9", t, tl, data, size, json, &slow);
		if (!tm_extract_fast(&cfg, e, "client-9", t, tl, data, size, scan, &fast))
			continue;
		same(&slow, &fast);
		if (tm_wants_json(&cfg.e[e], data, size) && size <= cfg.max_payload)
			FUZZ_CHECK(json != NULL);
		FUZZ_CHECK(tm_extract_fast(&cfg, e, "client-9", t, tl, data, size, scan, &again));
		same(&fast, &again);
	}
	return 0;
}
