/*
 * alert.h - one alert as the outputs see it: Suricata's alert fields, the
 * seed-004 alert object and its metadata. The detector builds it; EVE, the
 * console and the SQLite store write it (src/output). Strings are owned by the producer
 * and valid only during the call that receives the alert.
 */
#ifndef MQTTIDS_ALERT_H
#define MQTTIDS_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A "key": count pair of the metadata's topic maps. */
struct alert_count {
	const char *key;   /* "sensors/kitchen/esp32 (QOS: 1)" */
	uint64_t count;
};

struct alert_strs {
	const char *const *v;
	uint32_t n;
};

struct alert_counts {
	const struct alert_count *v;
	uint32_t n;
};

/* A data detector's finding, as an alert's metadata.detector shows it. */
struct alert_finding {
	const char *layer;
	const char *event;
	const char *detail;      /* may be NULL */
	/* The detector's own members: JSON text without braces
	 * ("\"device\":\"esp32\",\"field\":..."); meta_len 0: none. */
	const char *meta;
	size_t meta_len;
};

struct alert {
	char uuid[33];          /* 32 lower-case hex digits, as the seed */
	uint64_t ts_us;         /* "datetime": when it was raised (event time) */
	uint64_t first_us;      /* metadata.first_violation */
	uint64_t total;         /* metadata.total_violation */
	/*
	 * false: a new alert. true: the cooldown of alert uuid ended and more
	 * matching events were added to it; total is the new total.
	 */
	bool update;

	/* the rule (or detector) */
	uint32_t sid, rev;
	const char *classification; /* rule name */
	const char *category;       /* Suricata alert.category (classtype) */
	uint8_t priority;           /* 0..4 */
	const char *rule_raw;

	const char *src;        /* the threat actor: an address or a device */

	/* The event that raised it: the flow tuple for EVE (absent: NULL). */
	const char *src_ip, *dest_ip;
	uint16_t src_port, dest_port;
	uint64_t flow_id;       /* 0: none */
	uint64_t pcap_cnt;      /* 0: none */

	/* metadata.mqtt */
	struct alert_strs client_ids;
	struct alert_strs usernames;
	struct alert_strs passwords; /* empty unless passwords are logged */
	struct alert_counts publish, subscribe, unsubscribe;
	bool metadata_truncated; /* some values were dropped at a cap */

	/* The latest data-detector finding (metadata.detector), or NULL. */
	const struct alert_finding *finding;

	/*
	 * Updates: how many matching events were added since the previous
	 * record of this uuid (the console prints "+N more"); 0 when unknown.
	 * Added after the interface was fixed, so producers that do not set
	 * it leave it 0 (designated initialisers or memset).
	 */
	uint64_t update_added;

	/* A data detector's one-line finding ("temperature of esp32-kitchen
	 * 33.5 vs baseline 22.8"), for the console; NULL for rules alone. */
	const char *detail;

	/*
	 * A fold (docs/detection.md §6, "Alert output"): how many alerts of
	 * this rule were over its rate and not written one by one (0 when it
	 * only carries later matches of alerts folded before); total is
	 * their matches, src the first of their targets.
	 */
	bool fold;
	uint64_t folded;
};

#endif
