/*
 * sensor_telemetry.h - which PUBLISH topics carry sensor readings, which
 * fields of their payloads are values, whose device they belong to, and the
 * physical limits of each field (the "telemetry" configuration section,
 * docs/sensors.md). The extractor reads plain numeric payloads and JSON
 * payloads: first through jsmn tokens (tm_extract_fast), and whatever that
 * path does not accept through cJSON (tm_extract), with the same result.
 * Neither allocates per message: the tokens and the cJSON arena are
 * preallocated per host.
 */
#ifndef MQTTIDS_SENSOR_TELEMETRY_H
#define MQTTIDS_SENSOR_TELEMETRY_H

#include "sensor/sensor.h"

#define TM_FILTER_MAX 256
#define TM_PATH_MAX 128
#define TM_MAX_ENTRIES 64

/* One value extracted from a PUBLISH payload. */
struct tm_value {
	uint32_t field;           /* index into the topic entry's fields */
	const char *name;         /* the field's configured name */
	double v;
};

/* What the telemetry extractor found in one PUBLISH (sensor_telemetry.c). */
struct tm_result {
	int entry;                /* telemetry.topics index that matched; -1: none */
	char device[SENSOR_ID_MAX + 1]; /* "" when the device could not be named */
	uint32_t n;
	struct tm_value v[SENSOR_MAX_VALUES];
	/*
	 * The payload is not what the entry expects (not JSON, not a
	 * number, a field missing or not numeric): error says what. The
	 * values that were found are still in v.
	 */
	bool bad;
	char error[96];
};

enum tm_device_from {
	TM_DEV_CLIENT_ID = 0,  /* the session's client id */
	TM_DEV_TOPIC_LEVEL,    /* level N of the topic (1-based) */
	TM_DEV_FIELD,          /* a string or number field of the JSON payload */
};

enum tm_format {
	TM_FMT_AUTO = 0,       /* JSON object when it starts with '{', else a number */
	TM_FMT_JSON,
	TM_FMT_NUMBER,
};

/* One value field of a topic entry, with what is physically possible. */
struct tm_field {
	char name[SENSOR_FIELD_MAX + 1];   /* reported name ("temperature") */
	char path[TM_PATH_MAX];            /* dotted JSON path; "" = the whole payload */
	bool has_min, has_max;
	double min, max;                   /* physical range (inclusive) */
	double max_rate;                   /* units per second; 0: not checked */
	double resolution;                 /* smallest step the sensor reports; 0: unknown */
	bool required;                     /* a payload without it is bad (default yes) */
};

struct tm_entry {
	char filter[TM_FILTER_MAX];        /* MQTT topic filter */
	enum tm_device_from dev_from;
	uint32_t dev_level;                /* TM_DEV_TOPIC_LEVEL */
	char dev_path[TM_PATH_MAX];        /* TM_DEV_FIELD */
	enum tm_format format;
	uint32_t n_fields;
	struct tm_field fields[SENSOR_MAX_VALUES];
};

struct tm_cfg {
	uint32_t n;
	struct tm_entry e[TM_MAX_ENTRIES];
	uint32_t max_payload;              /* larger payloads are not parsed (bad) */
};

/*
 * Parses the telemetry section (NULL: the built-in default, sensors/+/+
 * with temperature and humidity, device = topic level 3). Returns 0, or -1
 * after reporting on log; a bad entry or field is reported and skipped.
 */
int tm_cfg_parse(FILE *log, const cJSON *section, struct tm_cfg *out);

/* The entry whose filter matches topic first, or -1. */
int tm_match(const struct tm_cfg *c, const uint8_t *topic, size_t len);

struct tm_arena;
struct tm_arena *tm_arena_new(size_t bytes);
void tm_arena_free(struct tm_arena *a);

/*
 * Parses p[0..n) as JSON into arena a (reset first); NULL when it is not
 * JSON or does not fit. The tree is valid until the next parse on a.
 */
const cJSON *tm_json_parse(struct tm_arena *a, const uint8_t *p, size_t n);

/*
 * Extracts entry e's values and device from one PUBLISH into r. json is
 * the parsed payload or NULL. Never fails: problems set r->bad.
 */
void tm_extract(const struct tm_cfg *c, int entry, const char *client_id,
		const uint8_t *topic, size_t topic_len, const uint8_t *payload,
		size_t payload_len, const cJSON *json, struct tm_result *r);

/* Whether entry e reads this payload as JSON (format json, or auto and '{' or '['). */
bool tm_wants_json(const struct tm_entry *e, const uint8_t *payload, size_t len);

/* The fast path's token buffers, sized for payloads of up to max_payload bytes. */
struct tm_scan;
struct tm_scan *tm_scan_new(uint32_t max_payload);
void tm_scan_free(struct tm_scan *s);

/*
 * tm_extract without cJSON: the payload is tokenized into sc. Returns true
 * with r filled exactly as tm_extract would fill it from cJSON's tree, or
 * false when the payload needs cJSON (entry format number, a payload that
 * is not strict RFC 8259 JSON, more tokens or nesting than sc takes, or
 * holds a backslash escape); r is then undefined.
 */
bool tm_extract_fast(const struct tm_cfg *c, int entry, const char *client_id,
		     const uint8_t *topic, size_t topic_len, const uint8_t *payload,
		     size_t payload_len, struct tm_scan *sc, struct tm_result *r);

/* A JSON member by dotted path ("a.b.c"; "" is json itself), or NULL. */
const cJSON *tm_json_path(const cJSON *json, const char *path);

#endif
