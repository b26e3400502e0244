/*
 * test_eve.c - the EVE writer (output/eve.c): every record type (mqtt,
 * anomaly, alert, alert_update, stats) from its structs, and one escaper
 * for all of them: hostile strings come out the same way whichever record
 * carries them.
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/eve.h"

/* Strings a peer or a detector may hand us, and what EVE must show. */
struct hostile {
	const char *in;
	const char *shown; /* the JSON string's value once parsed */
};

static const struct hostile hostile[] = {
	{ "caf\xc3\xa9", "caf\xc3\xa9" },                  /* UTF-8 kept */
	{ "q\"uote\\back", "q\"uote\\back" },
	{ "ctl\x01\x1b[31m\n\r\t\x7f", "ctl\x01\x1b[31m\n\r\t\x7f" },
	{ "\"},\"x\":{\"", "\"},\"x\":{\"" },              /* no injection */
	{ "line\xe2\x80\xa8sep", "line\xe2\x80\xa8sep" },  /* U+2028 */
	{ "bad\xff\xfe", "bad\\xFF\\xFE" },                /* not UTF-8: \xNN text */
};
#define N_HOSTILE (sizeof(hostile) / sizeof(hostile[0]))

#define TS 1735689600000000ull /* 2025-01-01T00:00:00Z */

/* Formats r, checks it is one JSON line, returns it parsed. */
static cJSON *format(const struct out_record *r)
{
	struct eve_writer ew;
	struct eve_cfg cfg = { SIZE_MAX, false };
	eve_writer_init(&ew, &cfg);
	assert_true(eve_format(&ew, r));
	const char *s = ew.w.buf;
	size_t n = ew.w.len;
	assert_true(n > 2);
	assert_int_equal(s[n - 1], '\n');
	for (size_t i = 0; i + 1 < n; i++)
		if ((unsigned char)s[i] < 0x20)
			fail_msg("raw control byte 0x%02x at %zu: %.*s",
				 (unsigned char)s[i], i, (int)n, s);
	cJSON *j = cJSON_ParseWithLength(s, n);
	if (!j)
		fail_msg("not JSON: %.*s", (int)n, s);
	eve_writer_deinit(&ew);
	return j;
}

static const char *str_at(const cJSON *j, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	const cJSON *o = j;
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k;
	     k = strtok_r(NULL, ".", &save)) {
		if (cJSON_IsArray(o))
			o = cJSON_GetArrayItem(o, atoi(k));
		else
			o = cJSON_GetObjectItemCaseSensitive(o, k);
		if (!o)
			fail_msg("no %s", path);
	}
	assert_true(cJSON_IsString(o));
	return o->valuestring;
}

static const struct out_tuple tuple = {
	.flow_id = 7, .src_ip = "10.77.0.11", .dest_ip = "10.77.0.1",
	.src_port = 50000, .dest_port = 1883,
};

static void test_mqtt_record(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_HOSTILE; i++) {
		const uint8_t *p = (const uint8_t *)hostile[i].in;
		size_t n = strlen(hostile[i].in);
		struct mqtt_msg m;
		memset(&m, 0, sizeof(m));
		m.type = MQTT_PUBLISH;
		m.topic = (struct slice){ p, n };
		m.payload = (struct slice){ p, n };
		struct mqtt_tx tx = { .n = 1, .msg = { &m } };
		struct mqtt_state st;
		memset(&st, 0, sizeof(st));
		st.rec.present = true;
		st.rec.protocol_version = 4;
		st.rec.client_id = (struct mqtt_kept){ (uint8_t *)p, (uint32_t)n, 0 };
		struct out_record r = {
			.kind = OUT_MQTT, .ts_us = TS, .pcap_cnt = 1,
			.tuple = &tuple, .st = &st, .tx = &tx,
		};
		cJSON *j = format(&r);
		assert_string_equal(str_at(j, "event_type"), "mqtt");
		assert_string_equal(str_at(j, "mqtt.publish.topic"), hostile[i].shown);
		assert_string_equal(str_at(j, "mqtt.publish.message"), hostile[i].shown);
		assert_string_equal(str_at(j, "mqtt_session.client_id"), hostile[i].shown);
		cJSON_Delete(j);
	}
}

static void test_anomaly_record(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_HOSTILE; i++) {
		struct out_anomaly an = {
			.type = "detector", .event = "value_jump",
			.layer = "telemetry", .detail = hostile[i].in,
			.meta = "\"device\":\"d\"", .meta_len = 12,
			.app_proto = true,
		};
		struct out_record r = {
			.kind = OUT_ANOMALY, .ts_us = TS, .src_ip = "10.77.0.11",
			.an = &an,
		};
		cJSON *j = format(&r);
		assert_string_equal(str_at(j, "anomaly.detail"), hostile[i].shown);
		assert_string_equal(str_at(j, "anomaly.detector.device"), "d");
		assert_string_equal(str_at(j, "src_ip"), "10.77.0.11");
		cJSON_Delete(j);
	}
}

/*
 * Alerts and updates: the rule's name, a client id and the detector's
 * finding all go through the same escaper as the anomaly record (before,
 * metadata.detector was written by hand, "café" as "caf\u00c3\u00a9").
 */
static void test_alert_records(void **state)
{
	(void)state;
	for (int update = 0; update < 2; update++) {
		for (size_t i = 0; i < N_HOSTILE; i++) {
			const char *ids[] = { hostile[i].in };
			struct alert_finding f = {
				.layer = "telemetry", .event = "value_jump",
				.detail = hostile[i].in,
				.meta = "\"field\":\"t\"", .meta_len = 11,
			};
			struct alert a;
			memset(&a, 0, sizeof(a));
			memcpy(a.uuid, "1572b51303214dd4bf30d3b2499a366c", 33);
			a.ts_us = a.first_us = TS;
			a.total = 3;
			a.update = update;
			a.sid = 1000001;
			a.rev = 1;
			a.classification = hostile[i].in;
			a.priority = 3;
			a.src = "10.77.0.11";
			a.client_ids = (struct alert_strs){ ids, 1 };
			a.finding = &f;
			struct out_record r = { .kind = OUT_ALERT, .ts_us = TS, .alert = &a };
			cJSON *j = format(&r);
			assert_string_equal(str_at(j, "event_type"),
					    update ? "alert_update" : "alert");
			assert_string_equal(str_at(j, "alert.signature"), hostile[i].shown);
			assert_string_equal(str_at(j, "mqttids.classification"), hostile[i].shown);
			assert_string_equal(str_at(j, "mqttids.metadata.mqtt.client_id.0"),
					    hostile[i].shown);
			assert_string_equal(str_at(j, "mqttids.metadata.detector.detail"),
					    hostile[i].shown);
			assert_string_equal(str_at(j, "mqttids.metadata.detector.field"), "t");
			cJSON_Delete(j);
		}
	}
}

static void test_stats_record(void **state)
{
	(void)state;
	const struct out_counter c[] = { { "pkts", 12 }, { "bytes", 3456 } };
	const struct out_group g[] = { { "decoder", c, 2, NULL } };
	struct out_stats s = { g, 1 };
	struct out_record r = { .kind = OUT_STATS, .ts_us = TS, .stats = &s };
	cJSON *j = format(&r);
	assert_string_equal(str_at(j, "event_type"), "stats");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "stats"), "decoder");
	assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(d, "bytes")->valuedouble, 3456);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "flow_id"));
	cJSON_Delete(j);
}

/* A session string cut at session-str-max is written as a budget cuts it. */
static void test_session_cut(void **state)
{
	(void)state;
	struct mqtt_state st;
	memset(&st, 0, sizeof(st));
	st.rec.present = true;
	st.rec.client_id = (struct mqtt_kept){ (uint8_t *)"abc", 3, 5 };
	struct jw w;
	jw_init(&w);
	eve_mqtt_session(&w, NULL, &st.rec);
	jw_append(&w, "", 1);
	assert_string_equal(w.buf, "{\"client_id\":\"abc[truncated 5 additional bytes]\","
				   "\"protocol_version\":0,\"keepalive\":0}");
	jw_deinit(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mqtt_record),
		cmocka_unit_test(test_anomaly_record),
		cmocka_unit_test(test_alert_records),
		cmocka_unit_test(test_stats_record),
		cmocka_unit_test(test_session_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
