/* test_sensor_fuzz.c - unit tests for the fuzz detector: malformed or odd sessions per host, early publishers, windows, configuration (sensor/sensor_fuzz.c). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/flow_table.h"
#include "sensor/sensor.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define T0 S(1735689600) /* 2025-01-01T00:00:00Z */
#define DET (&sensor_fuzz_detector)
#define REP_MAX 64

struct rep {
	char detail[256];
	char meta[256];
	uint64_t ts_us;
	char src[16];
};

static struct rep reps[REP_MAX];
static unsigned n_reps;
static char logbuf[4096];
static FILE *logf_;

static void rec(void *ud, const struct sensor_report *r)
{
	(void)ud;
	assert_string_equal(r->layer, "fuzz");
	assert_string_equal(r->event, "fuzzing_sessions");
	assert_non_null(r->base);
	if (n_reps >= REP_MAX)
		return;
	struct rep *p = &reps[n_reps++];
	snprintf(p->detail, sizeof(p->detail), "%s", r->detail);
	snprintf(p->meta, sizeof(p->meta), "%.*s", (int)r->meta_len, r->meta);
	p->ts_us = r->base->ts_us;
	memcpy(p->src, r->base->src, sizeof(p->src));
}

static void *mk(const char *cfg_json)
{
	n_reps = 0;
	memset(logbuf, 0, sizeof(logbuf));
	if (logf_)
		fclose(logf_);
	logf_ = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
	setvbuf(logf_, NULL, _IONBF, 0);
	struct sensor_env env;
	memset(&env, 0, sizeof(env));
	env.report = rec;
	env.log = logf_;
	cJSON *cfg = cfg_json ? cJSON_Parse(cfg_json) : NULL;
	void *st = NULL;
	int rc = DET->init(&env, cfg, &st);
	cJSON_Delete(cfg);
	return rc == 0 ? st : NULL;
}

static int teardown(void **state)
{
	(void)state;
	if (logf_)
		fclose(logf_);
	logf_ = NULL;
	return 0;
}

static struct flow flows[64];

/* An anomaly of the MQTT parser in session fid from host (10.0.0.host). */
static void anomaly(void *st, unsigned host, unsigned fid, const char *name, uint64_t ts,
		    const char *layer, bool toclient)
{
	uint8_t src[16] = { 10, 0, 0, (uint8_t)host }, dst[16] = { 10, 0, 0, 1 };
	struct flow *f = &flows[fid % 64];
	memset(f, 0, sizeof(*f));
	f->id = 1000 + fid;
	struct det_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = DET_ANOMALY;
	ev.ts_us = ts;
	ev.family = 4;
	ev.src = toclient ? dst : src;
	ev.dst = toclient ? src : dst;
	ev.flow = f;
	ev.toclient = toclient;
	ev.anomaly = name;
	ev.layer = layer;
	DET->on_anomaly(st, &ev);
}

static void susp(void *st, unsigned host, unsigned fid, const char *name, uint64_t ts)
{
	anomaly(st, host, fid, name, ts, "proto_parser", false);
}

/* Three odd sessions from one host within the window: reported at the third,
 * and at each later one; another host is counted apart. */
static void test_three_sessions(void **state)
{
	(void)state;
	void *st = mk(NULL);
	assert_non_null(st);
	susp(st, 66, 1, "client_id_empty", T0);
	susp(st, 66, 1, "client_id_too_long", T0 + 1); /* the same session */
	susp(st, 66, 2, "client_id_dollar", T0 + S(1));
	susp(st, 77, 3, "malformed_traffic", T0 + S(1)); /* another host */
	assert_int_equal(n_reps, 0);
	susp(st, 66, 4, "wildcard_in_publish_topic", T0 + S(2));
	assert_int_equal(n_reps, 1);
	assert_string_equal(reps[0].detail, "3 malformed or suspicious sessions and 0 publishing "
			    "before CONNACK from this host within 60 s (latest: "
			    "wildcard_in_publish_topic)");
	assert_string_equal(reps[0].meta, "\"suspicious_sessions\":3,\"unintroduced_sessions\":0,"
			    "\"window_s\":60,\"latest\":\"wildcard_in_publish_topic\"");
	assert_int_equal(reps[0].src[3], 66);
	susp(st, 66, 5, "invalid_qos_level", T0 + S(3));
	assert_int_equal(n_reps, 2);
	susp(st, 66, 5, "reserved_flags", T0 + S(3)); /* same session: nothing new */
	assert_int_equal(n_reps, 2);
	DET->free(st);
}

/* What does not count: tracking anomalies, the broker's side, other layers. */
static void test_not_counted(void **state)
{
	(void)state;
	void *st = mk(NULL);
	for (unsigned i = 0; i < 10; i++) {
		susp(st, 66, i, "missing_ack", T0 + i);
		susp(st, 66, 20 + i, "duplicate_ack", T0 + i);
		anomaly(st, 66, 40 + i, "malformed_traffic", T0 + i, "proto_parser", true);
		anomaly(st, 66, 50 + i, "reassembly_seq_gap", T0 + i, "stream", false);
	}
	assert_int_equal(n_reps, 0);
	DET->free(st);
}

/* Publishing before CONNACK (MQTT 3.1.1 §3.1.4, some Paho versions): never
 * reported alone, however often; five such sessions count as one odd one. */
static void test_early_publishers(void **state)
{
	(void)state;
	void *st = mk(NULL);
	for (unsigned i = 0; i < 40; i++)
		susp(st, 66, i, "unintroduced_message", T0 + S(1) * i / 2);
	assert_int_equal(n_reps, 0);
	DET->free(st);

	st = mk(NULL);
	for (unsigned i = 0; i < 5; i++)
		susp(st, 66, i, "unintroduced_message", T0 + i);
	susp(st, 66, 10, "client_id_dollar", T0 + S(1));
	assert_int_equal(n_reps, 0); /* 1 + 5 / 5 = 2 */
	susp(st, 66, 11, "unintroduced_message", T0 + S(2));
	susp(st, 66, 12, "unintroduced_message", T0 + S(2));
	susp(st, 66, 13, "unintroduced_message", T0 + S(2));
	susp(st, 66, 14, "unintroduced_message", T0 + S(2));
	assert_int_equal(n_reps, 0); /* 1 + 9 / 5 = 2 */
	susp(st, 66, 15, "unintroduced_message", T0 + S(2));
	assert_int_equal(n_reps, 1); /* 1 + 10 / 5 = 3 */
	assert_string_equal(reps[0].detail, "1 malformed or suspicious session and 10 publishing "
			    "before CONNACK from this host within 60 s (latest: client_id_dollar)");
	/* an early publisher that turns out malformed moves to the odd ones */
	susp(st, 66, 15, "malformed_traffic", T0 + S(3));
	assert_int_equal(n_reps, 2);
	assert_string_equal(reps[1].meta, "\"suspicious_sessions\":2,\"unintroduced_sessions\":9,"
			    "\"window_s\":60,\"latest\":\"malformed_traffic\"");
	DET->free(st);
}

/* The window: sessions further apart than it never add up. */
static void test_window(void **state)
{
	(void)state;
	void *st = mk(NULL);
	for (unsigned i = 0; i < 10; i++)
		susp(st, 66, i, "client_id_dollar", T0 + S(40) * i);
	assert_int_equal(n_reps, 0);
	DET->free(st);
	st = mk("{\"window\": \"10m\", \"sessions\": \"2\"}");
	assert_non_null(st);
	susp(st, 66, 1, "client_id_dollar", T0);
	susp(st, 66, 2, "client_id_dollar", T0 + S(300));
	assert_int_equal(n_reps, 1);
	assert_true(strstr(reps[0].detail, "within 600 s") != NULL);
	DET->free(st);
}

/* Configuration: the anomalies list, bounds, unknown keys. */
static void test_config(void **state)
{
	(void)state;
	void *st = mk("{\"anomalies\": [\"double_connect\"], \"sessions\": \"1\"}");
	assert_non_null(st);
	susp(st, 66, 1, "client_id_dollar", T0);
	assert_int_equal(n_reps, 0);
	susp(st, 66, 2, "double_connect", T0);
	assert_int_equal(n_reps, 1);
	DET->free(st);
	assert_null(mk("{\"sessions\": \"0\"}"));
	assert_true(strstr(logbuf, "expected a whole number from 1 to 16") != NULL);
	assert_null(mk("{\"max-hosts\": \"0\"}"));
	assert_null(mk("{\"window\": \"0s\"}"));
	assert_null(mk("{\"sesions\": \"3\"}"));
	assert_true(strstr(logbuf, "unknown key") != NULL);
	assert_null(mk("{\"anomalies\": [\"\"]}"));
	assert_null(mk("{\"anomalies\": [\"dobule_connect\"]}"));
	assert_true(strstr(logbuf, "'dobule_connect' matches no anomaly event") != NULL);
	st = mk("{\"anomalies\": \"client_id_*\"}"); /* a lone name */
	assert_non_null(st);
	DET->free(st);
}

/* A bounded table: hosts beyond max-hosts push out the least recent. */
static void test_bounded(void **state)
{
	(void)state;
	void *st = mk("{\"max-hosts\": \"2\"}");
	assert_non_null(st);
	susp(st, 66, 1, "client_id_dollar", T0);
	susp(st, 66, 2, "client_id_dollar", T0);
	for (unsigned h = 100; h < 110; h++)
		susp(st, h, h, "client_id_dollar", T0);
	susp(st, 66, 3, "client_id_dollar", T0); /* 66 was pushed out: a new count */
	assert_int_equal(n_reps, 0);
	struct sensor_stats ss;
	memset(&ss, 0, sizeof(ss));
	DET->stats(st, &ss);
	bool seen = false;
	for (uint32_t i = 0; i < ss.n; i++)
		if (!strcmp(ss.c[i].name, "evicted")) {
			assert_int_equal(ss.c[i].v, 10); /* 101..109 and 66 again */
			seen = true;
		}
	assert_true(seen);
	DET->free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_three_sessions, teardown),
		cmocka_unit_test_teardown(test_not_counted, teardown),
		cmocka_unit_test_teardown(test_early_publishers, teardown),
		cmocka_unit_test_teardown(test_window, teardown),
		cmocka_unit_test_teardown(test_config, teardown),
		cmocka_unit_test_teardown(test_bounded, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
