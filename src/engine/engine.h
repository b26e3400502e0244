/*
 * engine.h - the packet pipeline: decode, flows, reassembly and MQTT, then
 * detection, then the outputs (docs/ARCHITECTURE.md).
 */
#ifndef MQTTIDS_ENGINE_H
#define MQTTIDS_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "detect/detect.h"
#include "mqtt/mqtt_session.h"
#include "output/output.h"
#include "rules/rules.h"
#include "net/flow_table.h"
#include "net/ip_defrag.h"
#include "net/tcp_reasm.h"

#define ENGINE_MAX_PORTS 32
#define IDS_MAX_RULE_PATHS 16
#define IDS_PATH_MAX 512
#define IDS_NAME_MAX 64

/* Detection and alert outputs (read, live); decode ignores them. */
struct ids_cfg {
	struct rule_vars vars;
	char rule_paths[IDS_MAX_RULE_PATHS][IDS_PATH_MAX]; /* files or dirs */
	uint32_t n_rule_paths; /* 0: the default rules directory */
	bool allow_rule_errors; /* rules.allow-errors: run without broken rules */
	char class_path[IDS_PATH_MAX]; /* rules.classification-file; "": found */
	struct detect_cfg detect;
	struct store_cfg store;
	char eve_path[IDS_PATH_MAX];  /* "": no EVE file; "-": stdout */
	char db_path[IDS_PATH_MAX];   /* "": no alert store */
	unsigned file_mode;           /* of new EVE, store, -w pcap (0: 0640) */
	char run_as_user[IDS_NAME_MAX];  /* live: drop root to this user */
	char run_as_group[IDS_NAME_MAX]; /* ... and group ("": the user's) */
	bool eve_mqtt, eve_anomaly, eve_alert; /* record types written */
	bool console;                 /* one line per alert */
	uint32_t stats_interval_s;    /* live: a stats record this often; 0: never */
	bool console_color;
	/*
	 * The data detectors' configuration (the YAML "detectors" section as
	 * cJSON, src/sensor); NULL: every detector with its defaults. Owned
	 * by whoever loaded the configuration (config_deinit frees it).
	 */
	cJSON *detectors;
	bool detectors_off;           /* --no-detectors */
};

/*
 * The memory budget (memory.budget): the caps of the tables below are
 * shares of it, in 64ths, unless a table's own key sets it. The default
 * keeps the whole process under 100 MB RSS under any flood on a
 * Raspberry Pi-class gateway; docs/ARCHITECTURE.md "Memory budget".
 */
#define ENGINE_BUDGET_DEFAULT (64ull * 1024 * 1024)
enum engine_budget_part {
	BUDGET_STREAM = 0,   /* stream.memcap: out-of-order segments */
	BUDGET_MQTT_BUF,     /* mqtt.buffer-memcap: partial messages */
	BUDGET_MQTT_TX,      /* mqtt.tx-memcap: waiting transactions */
	BUDGET_FLOWS,        /* flow.max-flows, with their MQTT sessions */
	BUDGET_TRACKERS,     /* detect.max-trackers */
	BUDGET_AGGREGATES,   /* detect.max-aggregates */
	BUDGET_CLIENT_IDS,   /* detect.max-client-ids */
	BUDGET__COUNT
};

struct engine_cfg {
	uint64_t mem_budget;  /* bytes; see above */
	uint32_t mem_set;     /* bit per engine_budget_part set on its own */
	struct mqtt_cfg mqtt;
	struct flow_cfg flow;
	struct reasm_cfg reasm;
	struct ip_defrag_cfg defrag;
	uint16_t ports[ENGINE_MAX_PORTS];
	uint32_t n_ports;
	bool probe_other_ports; /* recognise MQTT by its CONNECT elsewhere */
	struct ids_cfg ids;
};

void engine_cfg_default(struct engine_cfg *c);

/* Sets every cap not set on its own (mem_set) from mem_budget. */
void engine_cfg_apply_budget(struct engine_cfg *c);

/* The share of part, in 64ths of the budget, and the bytes of one entry
 * it is counted in (1 for byte caps). */
uint32_t engine_budget_share(enum engine_budget_part part);
uint64_t engine_budget_entry_bytes(const struct engine_cfg *c,
				   enum engine_budget_part part);

struct engine;

/*
 * Creates a pipeline whose records go to out (not owned; must outlive
 * the engine). Records no sink wants are not built.
 */
struct engine *engine_new(const struct engine_cfg *cfg, struct output *out);
void engine_free(struct engine *e);

/*
 * Processes one captured frame of link type dlt. ts_us is the capture time,
 * caplen the bytes in data. Never fails: bad input becomes counters and
 * anomaly records.
 */
void engine_packet(struct engine *e, int dlt, uint64_t ts_us,
		   const uint8_t *data, uint32_t caplen);

/* Advances event time without a packet (live capture idle tick). */
void engine_tick(struct engine *e, uint64_t now_us);

/* Ends all flows, logging everything still pending. */
void engine_finish(struct engine *e);

/* Human-readable counters (stderr), or one stats record to the outputs. */
void engine_print_stats(struct engine *e, FILE *fp);
void engine_write_eve_stats(struct engine *e);

uint64_t engine_packets(const struct engine *e);

/*
 * Turns on detection: every TCP segment, MQTT message and anomaly goes
 * through detect (the rules of rs, not owned, must outlive e; and the
 * detectors configured in ids.detectors, only the takeover detector with
 * ids.detectors_off). Alerts and findings go to the outputs. Returns -1
 * when out of memory, -2 when a detector cannot start (its reason was
 * printed on stderr).
 */
int engine_enable_detect(struct engine *e, const struct ruleset *rs,
			 bool live);
/* The detectors (src/sensor/sensor.h), NULL when detection is off. */
struct sensors *engine_sensors(struct engine *e);
/* Detection counters, or NULL when detection is off. */
const struct detect_stats *engine_detect_stats(const struct engine *e);

#endif
