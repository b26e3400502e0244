/*
 * sensor.h - the detectors beside the rules: client-id takeover, and the
 * data detectors of issue 5 (telemetry values, payload integrity, topic
 * authorisation, device inventory and inactivity). They look at what the
 * MQTT messages say rather than how they are framed, and report what they
 * find as anomaly events that run through the same rules, thresholds,
 * cooldowns and outputs as everything else (docs/sensors.md).
 *
 * Each detector is a table of functions (struct sensor_detector) listed
 * explicitly in sensor.c. The host (struct sensors) extracts the telemetry
 * of each PUBLISH once (sensor_telemetry.c) and hands every detector the
 * same digest (struct sensor_msg). A detector reports through
 * sensor_env.report, which goes to the rule engine (detect/detect.c): it
 * turns the report into a DET_ANOMALY event with layer, event name and
 * detector metadata, has it logged, and gives it to the rules.
 *
 * Time is event time: timers (inactivity) run on on_tick, which the rule
 * engine calls once per second of event time offline and from a clock
 * tick live.
 *
 * Single-threaded like the engine. Nothing is allocated per message on the
 * hot path: per-device state lives in tables sized from the configuration.
 */
#ifndef MQTTIDS_SENSOR_H
#define MQTTIDS_SENSOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "event/event.h"
#include "mqtt/mqtt_types.h"

struct flow;

#define SENSOR_ID_MAX 128     /* bytes of a device id, client id or username */
#define SENSOR_FIELD_MAX 64   /* bytes of a field name */
#define SENSOR_MAX_VALUES 16  /* values extracted from one PUBLISH */
#define SENSOR_ADDR_STR 46

/* An address as a detector keeps it (for reports raised by timers). */
struct sensor_addr {
	uint8_t family;           /* 4, 6; 0: none */
	uint8_t a[16];
	bool has_mac;
	uint8_t mac[6];
	char str[SENSOR_ADDR_STR];
};

struct tm_result; /* sensor_telemetry.h */

/* The digest of one MQTT message that every detector sees. */
struct sensor_msg {
	const struct det_event *ev;  /* kind DET_MQTT; ev->msg is the message */
	const struct mqtt_msg *m;
	uint64_t ts_us;
	bool from_client;            /* sent by the client (not the broker) */
	/* The session: "" when not known. Bounded copies, NUL-terminated. */
	const char *client_id;
	const char *username;
	/* The client end of the connection (ev->src when from_client). */
	struct sensor_addr client;
	/* PUBLISH: the topic and payload as sent (slices into the message). */
	struct slice topic, payload;
	/* PUBLISH sent by a client to a configured telemetry topic, else NULL. */
	const struct tm_result *tm;
	struct sensors *host;        /* for sensor_msg_json */
};

/*
 * The PUBLISH payload of m parsed as JSON (once per message, shared by the
 * detectors, in the host's arena: no allocation per message), or NULL when
 * it is not JSON, too large, or m is not a PUBLISH. Valid during on_msg.
 */
const cJSON *sensor_msg_json(const struct sensor_msg *m);

/* A detector's counters, for the stats record. */
#define SENSOR_STATS_MAX 12
struct sensor_stats {
	uint32_t n;
	struct {
		const char *name;
		uint64_t v;
	} c[SENSOR_STATS_MAX];
};

/* Adds one counter (names are program constants); beyond the max: none. */
static inline void sensor_stats_add(struct sensor_stats *s, const char *name,
				    uint64_t v)
{
	if (s->n >= SENSOR_STATS_MAX)
		return;
	s->c[s->n].name = name;
	s->c[s->n].v = v;
	s->n++;
}

/* A finding, as a detector reports it. */
struct sensor_report {
	/* The event it arose from (a PUBLISH, SUBSCRIBE, ...); NULL for timers. */
	const struct det_event *base;
	uint64_t ts_us;              /* used when base is NULL */
	/* When base is NULL: the device's last address (the alert's target). */
	const struct sensor_addr *addr;
	const char *layer;           /* "telemetry", "integrity", "authz", "inventory", "inactivity" */
	const char *event;           /* anomaly name, e.g. "value_jump" (docs/sensors.md) */
	const char *detail;          /* one line for people; may be NULL */
	/*
	 * Members of the alert's metadata.detector object, as JSON text
	 * without braces ("\"device\":\"esp32\",\"field\":\"temperature\",...");
	 * NULL for none. Never a key, a signature or a password.
	 */
	const char *meta;
	size_t meta_len;
};

struct tm_cfg;
struct ktable;

struct sensor_env {
	void (*report)(void *ud, const struct sensor_report *r);
	void *ud;
	/* The telemetry topics and fields (sensor_telemetry.h). */
	const struct tm_cfg *tm;
	/* Where configuration problems are reported (stderr). */
	FILE *log;
	bool live;
	/* detect.max-client-ids: entries of the takeover table. */
	uint32_t max_client_ids;
};

/*
 * A detector. init gets its configuration section (a cJSON object built
 * from the YAML, scalars as strings; NULL when the section is absent: use
 * the defaults) and returns 0 with *state set, or -1 after printing why to
 * env->log (the run stops: a broken security policy must not be ignored).
 * A bad single item (one ACL line, one key) is reported and skipped
 * instead. on_msg sees every decoded MQTT message; on_tick advances event
 * time. save returns a new cJSON object with what should survive a restart
 * (NULL: nothing); load takes what save wrote earlier, which it must treat
 * as untrusted. Any function but init and free may be NULL.
 */
struct sensor_detector {
	const char *name;            /* configuration section and state key */
	int (*init)(const struct sensor_env *env, const cJSON *cfg, void **state);
	void (*on_msg)(void *state, const struct sensor_msg *m);
	void (*on_tick)(void *state, uint64_t now_us);
	cJSON *(*save)(void *state);
	void (*load)(void *state, const cJSON *saved);
	void (*free)(void *state);
	/* A connection ended (the flow is about to be reused). */
	void (*on_flow_end)(void *state, const struct flow *f);
	/* An anomaly the engine raised (the decoder, the stream, the MQTT
	 * parser: ev->layer "decode", "stream", "proto_parser"); never a
	 * detector's own finding. */
	void (*on_anomaly)(void *state, const struct det_event *ev);
	/* Its counters for the stats record: every eviction, refusal and
	 * cap of its tables (sensor_stats_add). */
	void (*stats)(void *state, struct sensor_stats *out);
	/* Its bounded keyed tables (util/ktable.h), up to max into out:
	 * the stats record's "tables" and the eviction_pressure findings
	 * cover them. Returns how many. NULL: none. */
	size_t (*tables)(void *state, const struct ktable **out, size_t max);
	/* A protocol-level detector, kept by --no-detectors. */
	bool core;
};

/* ---- configuration helpers (sensor_cfg.c) ---- */

/*
 * Where a configuration node came from, as "FILE:LINE:COL" (or the key
 * path it was set with, for --set). Valid until the configuration is freed.
 */
const char *scfg_where(const cJSON *node);

/* Reports a problem with node on log: "WHERE: KEY: MESSAGE". */
void scfg_err(FILE *log, const cJSON *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Typed reads of a member of obj (NULL obj or a missing member: def).
 * A present member of the wrong form is reported on log and def is used;
 * *bad (when not NULL) is then set.
 */
double scfg_num(FILE *log, const cJSON *obj, const char *key, double def, bool *bad);
bool scfg_bool(FILE *log, const cJSON *obj, const char *key, bool def, bool *bad);
const char *scfg_str(FILE *log, const cJSON *obj, const char *key, const char *def, bool *bad);
/* Durations: "600", "600s", "10m", "2h", "1d". Seconds. */
double scfg_dur(FILE *log, const cJSON *obj, const char *key, double def, bool *bad);
/* A sequence member (a lone scalar counts as a one-item list); NULL: none. */
const cJSON *scfg_list(const cJSON *obj, const char *key);
/* Reports each member of obj not named in keys (NULL-terminated) as an
 * unknown key on log; false when there was one. */
bool scfg_known_keys(FILE *log, const cJSON *obj, const char *const *keys);

/* ---- helpers for detectors ---- */

/* A device's address for later reports: the client end of m. */
void sensor_addr_copy(struct sensor_addr *dst, const struct sensor_addr *src);

/*
 * Bounded copies for ids from the wire, NUL-terminated in dst[cap] (cap >= 1),
 * without printf: p[0..n) up to its first NUL byte (p NULL: ""), and a C
 * string s (NULL: "").
 */
void sensor_copy_bytes(char *dst, size_t cap, const void *p, size_t n);
void sensor_copy_str(char *dst, size_t cap, const char *s);

/* ---- the host ---- */

struct sensors;

/* How the host is started (sensors_open). */
struct sensors_opts {
	/* The configuration's "detectors" section as one cJSON object
	 * ("telemetry", "integrity", ...; NULL: all defaults). */
	const cJSON *cfg;
	void (*report)(void *ud, const struct sensor_report *r);
	void *ud;
	bool live;
	FILE *log;
	/* --no-detectors: only the protocol-level (core) detectors. */
	bool core_only;
	uint32_t max_client_ids;     /* 0: the takeover detector's default */
};

/*
 * Creates the detectors o asks for. Returns NULL after printing why on
 * o->log.
 */
struct sensors *sensors_open(const struct sensors_opts *o);
/* sensors_open with every detector and the default sizes. */
struct sensors *sensors_new(const cJSON *cfg, void (*report)(void *, const struct sensor_report *),
			    void *ud, bool live, FILE *log);
void sensors_free(struct sensors *s);

/* One MQTT event (DET_MQTT); other kinds are ignored. */
void sensors_event(struct sensors *s, const struct det_event *ev);
void sensors_tick(struct sensors *s, uint64_t now_us);
/* A connection ended. */
void sensors_flow_end(struct sensors *s, const struct flow *f);
/* An engine anomaly (see sensor_detector.on_anomaly), to every detector. */
void sensors_anomaly(struct sensors *s, const struct det_event *ev);
/* The running detectors' keyed tables, in registry order (up to max). */
size_t sensors_tables(struct sensors *s, const struct ktable **out, size_t max);

/*
 * The counters of the running detectors that keep any, in registry
 * order: up to max of them into names[] and out[]; returns how many.
 */
size_t sensors_stats(struct sensors *s, const char **names,
		     struct sensor_stats *out, size_t max);

/*
 * State (docs/sensors.md, "State"): a JSON file with one member per
 * detector. Load ignores what it cannot use, with a message, and moves a
 * file it cannot use at all to PATH.damaged-TIME (the save would replace
 * it); peek does the same for a reader that never saves (the inventory
 * command) without moving anything. Save writes a temporary file and
 * renames it. All return 0 or -1 (message on log).
 */
int sensors_load_state(struct sensors *s, const char *path);
int sensors_peek_state(struct sensors *s, const char *path);
int sensors_save_state(struct sensors *s, const char *path);

/* The configured state file (state.file), or NULL. */
const char *sensors_state_path(const struct sensors *s);

/* The detectors, for listings (name, count). */
const struct sensor_detector *const *sensors_registry(size_t *n);

/* A detector's state by name, for the inventory CLI; NULL when absent. */
void *sensors_state(struct sensors *s, const char *name);

extern const struct sensor_detector sensor_takeover_detector;
extern const struct sensor_detector sensor_value_detector;
extern const struct sensor_detector sensor_integrity_detector;
extern const struct sensor_detector sensor_authz_detector;
extern const struct sensor_detector sensor_inventory_detector;
extern const struct sensor_detector sensor_inactivity_detector;
extern const struct sensor_detector sensor_fuzz_detector;

/* Takeovers the takeover detector reported (its state), for counters. */
uint64_t sensor_takeover_count(const void *state);
/* Bytes one client id takes in the takeover table (entry and index). */
uint64_t sensor_takeover_entry_bytes(void);


#endif
