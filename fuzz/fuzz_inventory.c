/*
 * fuzz_inventory.c - libFuzzer target for the device inventory's loaders
 * (sensor/sensor_inventory.c): inventory_load_buffer on the input as a
 * known-devices file, the detector's state loader on the input parsed as
 * JSON, then the exports, a few client messages against what was loaded,
 * and two round trips.
 *
 * Oracles: the loader returns -1 or the number of entries it took, never
 * more rows than max-devices; the json export is one valid JSON value with
 * well-formed UTF-8; loading the json export into a fresh inventory, or
 * saving and loading the state, gives the same json export; every report
 * is of layer "inventory" and its meta, in braces, is valid JSON.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "sensor/sensor.h"
#include "sensor/sensor_inventory.h"

#define FUZZ_MAX_DEVICES 64

static void on_report(void *ud, const struct sensor_report *r)
{
	(void)ud;
	FUZZ_CHECK(r->layer && !strcmp(r->layer, "inventory"));
	FUZZ_CHECK(r->event && r->event[0]);
	FUZZ_CHECK(r->detail);
	for (const char *p = r->detail; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
	char *j = malloc(r->meta_len + 3);
	if (!j)
		return;
	j[0] = '{';
	if (r->meta_len)
		memcpy(j + 1, r->meta, r->meta_len);
	j[r->meta_len + 1] = '}';
	FUZZ_CHECK(fuzz_json_check(j, r->meta_len + 2) == 0);
	free(j);
}

static void *inv_new(void)
{
	struct sensor_env env = { .report = on_report, .log = fuzz_devnull() };
	cJSON *cfg = cJSON_CreateObject();
	cJSON_AddStringToObject(cfg, "learn", "0");
	cJSON_AddStringToObject(cfg, "max-devices", "64");
	void *st = NULL;
	int rc = sensor_inventory_detector.init(&env, cfg, &st);
	cJSON_Delete(cfg);
	FUZZ_CHECK(rc == 0 && st);
	return st;
}

/* The inventory in format as a malloc'd string (*n bytes). */
static char *inv_text(void *st, const char *format, size_t *n)
{
	char *buf = NULL;
	*n = 0;
	FILE *fp = open_memstream(&buf, n);
	if (!fp)
		return NULL;
	int rc = inventory_write(st, fp, format);
	fclose(fp);
	FUZZ_CHECK(rc == 0 || rc == -2);
	if (rc) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* A few client messages: known addresses of the loaded rows and strangers. */
static void feed(void *st)
{
	static const char *const cids[] = { "esp32-kitchen", "", "dashboard", "x" };
	for (unsigned i = 0; i < 8; i++) {
		struct det_event ev = { .kind = DET_MQTT, .ts_us = 1000000u * (i + 1) };
		struct mqtt_msg mm = { .type = (i & 1) ? MQTT_PUBLISH : MQTT_CONNECT };
		struct sensor_msg m = { .ev = &ev, .m = &mm, .ts_us = ev.ts_us, .from_client = true };
		const char *cid = cids[i % 4];
		mm.client_id.p = (const uint8_t *)cid;
		mm.client_id.len = strlen(cid);
		m.client_id = cid;
		m.username = "";
		m.client.family = 4;
		m.client.a[0] = 10;
		m.client.a[1] = 77;
		m.client.a[3] = (uint8_t)(11 + (i % 3));
		m.client.has_mac = i & 2;
		m.client.mac[0] = 0x24;
		m.client.mac[5] = (uint8_t)i;
		sensor_inventory_detector.on_msg(st, &m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *log = fuzz_devnull();
	void *a = inv_new();
	int rc = inventory_load_buffer(a, "fuzz.json", (const char *)data, size, log);
	FUZZ_CHECK(rc >= -1);
	struct inventory_stats st;
	inventory_get_stats(a, &st);
	FUZZ_CHECK(st.devices <= FUZZ_MAX_DEVICES && st.max_devices == FUZZ_MAX_DEVICES);
	if (rc >= 0)
		FUZZ_CHECK(st.devices <= (uint32_t)rc);

	size_t n1 = 0, n2 = 0, n3 = 0, nt = 0;
	char *j1 = inv_text(a, "json", &n1);
	if (j1) {
		FUZZ_CHECK(fuzz_json_check(j1, n1) == 0);
		/* The export loads back into the same inventory. */
		void *b = inv_new();
		int rb = inventory_load_buffer(b, "export.json", j1, n1, log);
		FUZZ_CHECK(rb >= 0 && (uint32_t)rb == st.devices);
		char *j2 = inv_text(b, "json", &n2);
		if (j2)
			FUZZ_CHECK(n2 == n1 && !memcmp(j1, j2, n1));
		free(j2);
		sensor_inventory_detector.free(b);

		/* So does the state. */
		cJSON *saved = sensor_inventory_detector.save(a);
		char *txt = saved ? cJSON_PrintUnformatted(saved) : NULL;
		cJSON_Delete(saved);
		if (txt) {
			cJSON *back = cJSON_Parse(txt);
			void *c = inv_new();
			sensor_inventory_detector.load(c, back);
			cJSON_Delete(back);
			char *j3 = inv_text(c, "json", &n3);
			if (j3)
				FUZZ_CHECK(n3 == n1 && !memcmp(j1, j3, n1));
			free(j3);
			sensor_inventory_detector.free(c);
			free(txt);
		}
	}
	free(j1);
	free(inv_text(a, "table", &nt));
	free(inv_text(a, "csv", &nt));
	feed(a);
	inventory_get_stats(a, &st);
	FUZZ_CHECK(st.devices <= FUZZ_MAX_DEVICES);
	sensor_inventory_detector.free(a);

	/* The input as a saved state (untrusted as well). */
	cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
	if (doc) {
		void *d = inv_new();
		sensor_inventory_detector.load(d, doc);
		cJSON_Delete(doc);
		char *j4 = inv_text(d, "json", &n1);
		if (j4)
			FUZZ_CHECK(fuzz_json_check(j4, n1) == 0);
		free(j4);
		feed(d);
		sensor_inventory_detector.free(d);
	}
	return 0;
}
