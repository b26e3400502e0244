/*
 * detect.h - detection: the one entry point for every event. It runs the
 * event through the candidate rules and hands MQTT messages to the
 * detectors (src/sensor), whose findings come back here and go through
 * the rules too. It counts matches per rule and target in a sliding
 * window of event time, raises alerts at the threshold, aggregates what
 * matches during the cooldown, and keeps its state bounded (LRU eviction
 * with counters). Alerts and findings leave through struct detect_emit.
 *
 * Single-threaded, like the engine that feeds it. Nothing is allocated per
 * event: the state tables are sized once from detect_cfg.
 */
#ifndef MQTTIDS_DETECT_H
#define MQTTIDS_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/ktable.h"
#include <stdio.h>

#include <cjson/cJSON.h>

#include "event/event.h"
#include "event/alert.h"
#include "rules/rules.h"

struct sensors;

struct detect_cfg {
	uint32_t max_trackers;   /* (rule, target) window states; LRU beyond */
	uint32_t max_aggregates; /* alerts collecting metadata at once */
	uint32_t max_client_ids; /* client ids tracked for takeover */
	/*
	 * Alert output bound: at most rule_alert_rate new alerts per rule,
	 * and alert_rate of all rules together, per rule_alert_interval_s
	 * of event time (0: no bound). Further alerts are folded: counted,
	 * and reported as one alert per rule and window with
	 * metadata.folded_alerts.
	 */
	uint32_t rule_alert_rate;
	uint32_t rule_alert_interval_s;
	/* The same bound on all rules' new alerts together, per interval. */
	uint32_t alert_rate;
	bool log_passwords;      /* metadata.mqtt.auth.password[] filled */
	/*
	 * Seed of alert uuids. 0 (offline reads): uuids are a hash of the
	 * rule, target, time and sequence, so reading the same capture twice
	 * gives the same uuids. Live: random.
	 */
	uint64_t uuid_seed;
};

/* The default alert output bound: new alerts per rule per interval. */
#define DETECT_RULE_ALERT_RATE 100u
#define DETECT_ALERT_RATE 1000u
#define DETECT_RULE_ALERT_INTERVAL_S 60u

void detect_cfg_default(struct detect_cfg *c);

struct detect_stats {
	uint64_t events;
	uint64_t rule_checks;    /* candidate rules tried */
	uint64_t matches;
	uint64_t alerts;
	uint64_t updates;        /* cooldown ends with more events */
	uint64_t trackers_evicted;
	uint64_t aggregates_evicted;
	uint64_t metadata_dropped;
	uint64_t findings;       /* detectors' reports */
	uint64_t takeovers;      /* of which client-id takeovers */
	uint64_t alerts_folded;  /* alerts over the per-rule rate, folded */
	uint64_t folds;          /* fold records written */
};

/* Where detection's results go. */
struct detect_emit {
	/* A new alert, or the update of one (a->update). */
	void (*alert)(void *ud, const struct alert *a);
	/*
	 * A detector's finding, before the rules see it: a DET_ANOMALY event
	 * with its layer, name, detail and the detector's metadata. A
	 * finding raised by a timer has no flow (ev->flow NULL).
	 */
	void (*finding)(void *ud, const struct det_event *ev);
	void *ud;
};

/* The detectors beside the rules (src/sensor). */
struct detect_detectors {
	const cJSON *cfg;   /* the "detectors" configuration section; NULL: defaults */
	bool data_off;      /* --no-detectors: the takeover detector alone */
	bool live;
	FILE *log;          /* configuration problems (NULL: stderr) */
};

struct detect;

/*
 * rs (may be NULL) is not owned and must outlive d. dd NULL: no detectors.
 * Returns NULL with *err -1 when out of memory, -2 when a detector cannot
 * start (its reason was printed on dd->log).
 */
struct detect *detect_new(const struct detect_cfg *cfg,
			  const struct ruleset *rs,
			  const struct detect_detectors *dd,
			  struct detect_emit emit, int *err);
void detect_free(struct detect *d);

/*
 * One event; alerts and findings it raises are emitted before this
 * returns.
 */
void detect_event(struct detect *d, const struct det_event *ev);

/*
 * Event time moved on (live idle tick, or once a second of event time
 * offline): cooldowns that ended send their updates, detectors' timers
 * run.
 */
void detect_tick(struct detect *d, uint64_t now_us);

/*
 * Eviction pressure on a state table (the engine's flow table; detect
 * checks its own trackers in detect_tick): when kt evicted entries and
 * the last report is DETECT_PRESSURE_INTERVAL_S of event time old, a
 * finding "eviction_pressure" (layer "state") says how many, and how
 * many of them were protected. flush (end of input): whatever is left
 * is reported now.
 */
#define DETECT_PRESSURE_INTERVAL_S 60u
void detect_table_pressure(struct detect *d, const struct ktable *kt,
			   struct kt_pressure *p, uint64_t now_us, bool flush);

/* Bytes one tracker, one alert aggregate, one client id take at most:
 * what the memory budget divides by. */
uint64_t detect_tracker_bytes(void);
uint64_t detect_aggregate_bytes(void);
uint64_t detect_client_id_bytes(void);

/* Detection's bounded tables (the trackers, then each detector's), for
 * the stats record: up to max of them into out; returns how many. */
#define DETECT_TABLES_MAX 16
size_t detect_tables(const struct detect *d, const struct ktable **out,
		     size_t max);

/* A flow ended (its client id is no longer held, for example). */
void detect_flow_end(struct detect *d, const struct flow *f);

/* End of input at now_us: timers run and every pending update is sent. */
void detect_finish(struct detect *d, uint64_t now_us);

const struct detect_stats *detect_stats(struct detect *d);
/* The detectors' host (state file, inventory), or NULL. */
struct sensors *detect_sensors(struct detect *d);

#endif
