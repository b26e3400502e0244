/*
 * detect.h - the rule engine: runs every event through the candidate rules,
 * counts matches per rule and target in a sliding window of event time,
 * raises alerts at the threshold, aggregates what matches during the
 * cooldown, and keeps its state bounded (LRU eviction with counters).
 *
 * Single-threaded, like the engine that feeds it. Nothing is allocated per
 * event: the state tables are sized once from detect_cfg.
 */
#ifndef MQTTIDS_DETECT_H
#define MQTTIDS_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "event/event.h"
#include "event/alert.h"
#include "rules/rules.h"

struct detect_cfg {
	uint32_t max_trackers;   /* (rule, target) window states; LRU beyond */
	uint32_t max_aggregates; /* alerts collecting metadata at once */
	uint32_t max_client_ids; /* client ids tracked for takeover */
	bool log_passwords;      /* metadata.mqtt.auth.password[] filled */
	/*
	 * Seed of alert uuids. 0 (offline reads): uuids are a hash of the
	 * rule, target, time and sequence, so reading the same capture twice
	 * gives the same uuids. Live: random.
	 */
	uint64_t uuid_seed;
};

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
	uint64_t takeovers;
};

struct detect;

/* rs is not owned and must outlive d. Returns NULL when out of memory. */
struct detect *detect_new(const struct detect_cfg *cfg,
			  const struct ruleset *rs, struct alert_sink sink);
void detect_free(struct detect *d);

/* One event; alerts it raises go to the sink before this returns. */
void detect_event(struct detect *d, const struct det_event *ev);

/*
 * Event time moved on (live idle tick, or each packet offline): cooldowns
 * that ended send their updates.
 */
void detect_tick(struct detect *d, uint64_t now_us);

/* A flow ended: its client id is no longer held (takeover tracking). */
void detect_flow_end(struct detect *d, const struct flow *f);

/* End of input: every pending update is sent. */
void detect_finish(struct detect *d);

const struct detect_stats *detect_stats(const struct detect *d);

#endif
