/* test_sink.h - a recording mqtt_sink and a one-flow session harness for tests. */
#ifndef MQTTIDS_TEST_SINK_H
#define MQTTIDS_TEST_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "mqtt/mqtt_session.h"
#include "output/eve.h"

/*
 * Everything a flow's MQTT layer emitted, one line per callback:
 *   tx DIR {frag} session={...}
 *   anomaly DIR LAYER EVENT (DETAIL)
 *   msg DIR TYPE anomalies=0xNN     (only when messages are recorded)
 * DIR is "toserver" or "toclient". Comparing two recordings compares the
 * complete output of the session layer, in order.
 */
struct rec {
	char *buf;
	size_t len;
	size_t cap;
	unsigned n_tx;
	unsigned n_anomaly;
	unsigned n_msg;
	struct eve_cfg eve; /* how transactions are written (rec_init: unlimited) */
};

void rec_init(struct rec *r);
void rec_free(struct rec *r);
void rec_reset(struct rec *r);
/* A sink appending to r; with_msg also records every decoded message. */
struct mqtt_sink rec_sink(struct rec *r, bool with_msg);
/* How many times needle occurs in the recording. */
unsigned rec_count(const struct rec *r, const char *needle);
/* The text of the recording (never NULL). */
const char *rec_text(const struct rec *r);

/* One flow's MQTT layer with its own context, state and recording. */
struct sess {
	struct mqtt_ctx ctx;
	struct mqtt_state *st;
	struct rec rec;
	struct mqtt_sink sink;
};

/* cfg NULL: mqtt_cfg_default. Fails the test on allocation failure. */
void sess_init(struct sess *s, const struct mqtt_cfg *cfg, bool with_msg);
void sess_feed(struct sess *s, bool toclient, const void *p, size_t n);
/* Frees the flow state (logging what is pending) and the context. */
void sess_finish(struct sess *s, bool closed);
void sess_deinit(struct sess *s);

/*
 * Fails the running cmocka test when got != want, printing what the
 * comparison was and the first line that differs (both sides).
 */
void assert_text_equal(const char *got, const char *want, const char *what);

#endif
