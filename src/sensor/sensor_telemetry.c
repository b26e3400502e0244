/*
 * sensor_telemetry.c - the telemetry extractor: which topics carry readings
 * (MQTT topic filters, MQTT 5.0 §4.7), the device each reading belongs to,
 * and its numeric fields, from JSON payloads (cJSON, parsed into an arena
 * so that nothing is allocated per message) or plain numeric payloads.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor_telemetry.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rules.h"

/* ---- the arena behind cJSON ---- */

struct tm_arena {
	size_t cap, used;
	unsigned char *buf;
};

struct tm_arena *tm_arena_new(size_t bytes)
{
	struct tm_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->buf = malloc(bytes);
	if (!a->buf) {
		free(a);
		return NULL;
	}
	a->cap = bytes;
	return a;
}

void tm_arena_free(struct tm_arena *a)
{
	if (!a)
		return;
	free(a->buf);
	free(a);
}

/* cJSON's hooks are global: they point here only during tm_json_parse. */
static struct tm_arena *cur_arena;

static void *arena_alloc(size_t n)
{
	struct tm_arena *a = cur_arena;
	n = (n + 15) & ~(size_t)15;
	if (!a || n > a->cap - a->used)
		return NULL;
	void *p = a->buf + a->used;
	a->used += n;
	return p;
}

static void arena_release(void *p)
{
	(void)p; /* the whole arena is reset before the next parse */
}

/*
 * Parses p[0..n) into a: the hooks are switched to the arena for the call
 * and back to malloc/free at once, so configuration and state parsing
 * elsewhere keep ordinary allocation. A document that does not fit the
 * arena fails to parse (the caller reports it as too complex).
 */
const cJSON *tm_json_parse(struct tm_arena *a, const uint8_t *p, size_t n)
{
	if (!a || !p || n == 0)
		return NULL;
	a->used = 0;
	cJSON_Hooks h = { arena_alloc, arena_release };
	cur_arena = a;
	cJSON_InitHooks(&h);
	cJSON *j = cJSON_ParseWithLength((const char *)p, n);
	cJSON_InitHooks(NULL);
	cur_arena = NULL;
	return j;
}

/* ---- configuration ---- */

static void default_field(struct tm_field *f, const char *name, double min,
			  double max, double res)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->path, sizeof(f->path), "%s", name);
	f->has_min = f->has_max = true;
	f->min = min;
	f->max = max;
	f->resolution = res;
	f->required = true;
}

/* The built-in entry: what the testbed's and most ESP32 DHT sketches send. */
static void default_entries(struct tm_cfg *c)
{
	struct tm_entry *e = &c->e[0];
	memset(e, 0, sizeof(*e));
	snprintf(e->filter, sizeof(e->filter), "sensors/+/+");
	e->dev_from = TM_DEV_TOPIC_LEVEL;
	e->dev_level = 3;
	e->format = TM_FMT_AUTO;
	default_field(&e->fields[0], "temperature", -40, 80, 0.1);
	default_field(&e->fields[1], "humidity", 0, 100, 0.1);
	e->n_fields = 2;
	c->n = 1;
}

/* "client-id", "topic-level N" (or "topic:N"), "field PATH" (or "field:PATH"). */
static int parse_device(const char *s, struct tm_entry *e)
{
	if (!strcasecmp(s, "client-id") || !strcasecmp(s, "client_id") ||
	    !strcasecmp(s, "clientid")) {
		e->dev_from = TM_DEV_CLIENT_ID;
		return 0;
	}
	const char *rest = NULL;
	if (!strncasecmp(s, "topic-level", 11))
		rest = s + 11;
	else if (!strncasecmp(s, "topic", 5))
		rest = s + 5;
	if (rest) {
		while (*rest == ' ' || *rest == ':' || *rest == '=')
			rest++;
		char *end;
		long v = strtol(rest, &end, 10);
		if (end == rest || *end || v < 1 || v > 64)
			return -1;
		e->dev_from = TM_DEV_TOPIC_LEVEL;
		e->dev_level = (uint32_t)v;
		return 0;
	}
	if (!strncasecmp(s, "field", 5)) {
		rest = s + 5;
		while (*rest == ' ' || *rest == ':' || *rest == '=')
			rest++;
		if (!*rest || strlen(rest) >= sizeof(e->dev_path))
			return -1;
		e->dev_from = TM_DEV_FIELD;
		snprintf(e->dev_path, sizeof(e->dev_path), "%s", rest);
		return 0;
	}
	return -1;
}

static bool text_fits(const char *s, size_t cap)
{
	return s && strlen(s) < cap;
}

/* One item of fields: a name, or an object with name/path/limits. */
static int parse_field(FILE *log, const cJSON *it, struct tm_field *f)
{
	memset(f, 0, sizeof(*f));
	f->required = true;
	if (cJSON_IsString(it)) {
		if (!*it->valuestring || !text_fits(it->valuestring, sizeof(f->name)) ||
		    !text_fits(it->valuestring, sizeof(f->path))) {
			scfg_err(log, it, "a field name of 1-%d bytes", SENSOR_FIELD_MAX);
			return -1;
		}
		snprintf(f->name, sizeof(f->name), "%s", it->valuestring);
		snprintf(f->path, sizeof(f->path), "%s", it->valuestring);
		return 0;
	}
	if (!cJSON_IsObject(it)) {
		scfg_err(log, it, "expected a field name or {name, path, min, max, max-rate, resolution}");
		return -1;
	}
	bool bad = false;
	const char *name = scfg_str(log, it, "name", NULL, &bad);
	const char *path = scfg_str(log, it, "path", name, &bad);
	if (!name || !*name || !text_fits(name, sizeof(f->name))) {
		scfg_err(log, it, "a field needs a name of 1-%d bytes", SENSOR_FIELD_MAX);
		return -1;
	}
	if (!path || !text_fits(path, sizeof(f->path))) {
		scfg_err(log, it, "path: at most %d bytes", TM_PATH_MAX - 1);
		return -1;
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->path, sizeof(f->path), "%s", strcmp(path, ".") ? path : "");
	if (cJSON_GetObjectItemCaseSensitive(it, "min")) {
		f->has_min = true;
		f->min = scfg_num(log, it, "min", 0, &bad);
	}
	if (cJSON_GetObjectItemCaseSensitive(it, "max")) {
		f->has_max = true;
		f->max = scfg_num(log, it, "max", 0, &bad);
	}
	if (f->has_min && f->has_max && f->min > f->max) {
		scfg_err(log, it, "min %g is above max %g; range not checked", f->min, f->max);
		f->has_min = f->has_max = false;
	}
	f->max_rate = scfg_num(log, it, "max-rate", 0, &bad);
	f->resolution = scfg_num(log, it, "resolution", 0, &bad);
	if (f->max_rate < 0 || f->resolution < 0) {
		scfg_err(log, it, "max-rate and resolution must not be negative; not used");
		f->max_rate = f->max_rate < 0 ? 0 : f->max_rate;
		f->resolution = f->resolution < 0 ? 0 : f->resolution;
	}
	f->required = scfg_bool(log, it, "required", true, &bad);
	return 0;
}

static int parse_entry(FILE *log, const cJSON *it, struct tm_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (!cJSON_IsObject(it)) {
		scfg_err(log, it, "expected {filter, device, fields}");
		return -1;
	}
	bool bad = false;
	const char *filter = scfg_str(log, it, "filter", NULL, &bad);
	if (!filter || !*filter || !text_fits(filter, sizeof(e->filter))) {
		scfg_err(log, it, "a topic entry needs a filter of 1-%d bytes", TM_FILTER_MAX - 1);
		return -1;
	}
	snprintf(e->filter, sizeof(e->filter), "%s", filter);
	const char *dev = scfg_str(log, it, "device", "client-id", &bad);
	if (!dev || parse_device(dev, e) != 0) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(it, "device"),
			 "expected client-id, topic-level N or field PATH; using client-id");
		e->dev_from = TM_DEV_CLIENT_ID;
	}
	const char *fmt = scfg_str(log, it, "format", "auto", &bad);
	if (fmt && !strcasecmp(fmt, "json"))
		e->format = TM_FMT_JSON;
	else if (fmt && (!strcasecmp(fmt, "number") || !strcasecmp(fmt, "plain")))
		e->format = TM_FMT_NUMBER;
	else if (fmt && !strcasecmp(fmt, "auto"))
		e->format = TM_FMT_AUTO;
	else
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(it, "format"),
			 "expected auto, json or number; using auto");
	const cJSON *fields = scfg_list(it, "fields");
	if (!fields) {
		/* A plain numeric topic needs no field list: the payload is the value. */
		snprintf(e->fields[0].name, sizeof(e->fields[0].name), "value");
		e->fields[0].required = true;
		e->n_fields = 1;
		return 0;
	}
	if (!cJSON_IsArray(fields)) {
		struct tm_field *f = &e->fields[0];
		if (parse_field(log, fields, f) == 0)
			e->n_fields = 1;
	} else {
		const cJSON *fi;
		cJSON_ArrayForEach(fi, fields) {
			if (e->n_fields >= SENSOR_MAX_VALUES) {
				scfg_err(log, fi, "at most %d fields per topic; the rest are ignored",
					 SENSOR_MAX_VALUES);
				break;
			}
			if (parse_field(log, fi, &e->fields[e->n_fields]) == 0)
				e->n_fields++;
		}
	}
	if (!e->n_fields) {
		scfg_err(log, it, "no usable field; entry ignored");
		return -1;
	}
	return 0;
}

int tm_cfg_parse(FILE *log, const cJSON *section, struct tm_cfg *out)
{
	memset(out, 0, sizeof(*out));
	bool bad = false;
	double mp = scfg_num(log, section, "max-payload", 16384, &bad);
	out->max_payload = mp >= 16 && mp <= 1024 * 1024 ? (uint32_t)mp : 0;
	if (!out->max_payload) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(section, "max-payload"),
			 "max-payload must be 16..1048576 bytes; using 16384");
		out->max_payload = 16384;
	}
	const cJSON *topics = scfg_list(section, "topics");
	if (!section || !topics) {
		default_entries(out);
		return 0;
	}
	if (!cJSON_IsArray(topics)) {
		if (parse_entry(log, topics, &out->e[0]) == 0)
			out->n = 1;
		return 0;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, topics) {
		if (out->n >= TM_MAX_ENTRIES) {
			scfg_err(log, it, "at most %d telemetry topics; the rest are ignored",
				 TM_MAX_ENTRIES);
			break;
		}
		if (parse_entry(log, it, &out->e[out->n]) == 0)
			out->n++;
	}
	return 0;
}

int tm_match(const struct tm_cfg *c, const uint8_t *topic, size_t len)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (topic_matches(c->e[i].filter, (const char *)topic, len))
			return (int)i;
	return -1;
}

/* ---- extraction ---- */

const cJSON *tm_json_path(const cJSON *json, const char *path)
{
	const cJSON *cur = json;
	const char *p = path;
	char part[TM_PATH_MAX];
	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = 0;
		if (cJSON_IsArray(cur)) {
			char *end;
			long idx = strtol(part, &end, 10);
			cur = (*end || idx < 0) ? NULL : cJSON_GetArrayItem(cur, (int)idx);
		} else if (cJSON_IsObject(cur)) {
			cur = cJSON_GetObjectItemCaseSensitive(cur, part);
		} else {
			cur = NULL;
		}
		p = dot ? dot + 1 : p + n;
	}
	return cur;
}

enum num_result { NUM_OK, NUM_FAILED_READ, NUM_BAD };

/*
 * A number from text: the whole of s[0..n) after trimming. "nan", "null"
 * and the empty string are a failed read (DHT libraries report NaN), not a
 * malformed payload.
 */
static enum num_result text_number(const char *s, size_t n, double *out)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0)
		return NUM_FAILED_READ;
	char buf[64];
	if (n >= sizeof(buf))
		return NUM_BAD;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (!strcasecmp(buf, "nan") || !strcasecmp(buf, "-nan") || !strcasecmp(buf, "null") ||
	    !strcasecmp(buf, "none"))
		return NUM_FAILED_READ;
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (end == buf || *end || errno == ERANGE)
		return NUM_BAD;
	if (isnan(v))
		return NUM_FAILED_READ;
	if (!isfinite(v))
		return NUM_BAD;
	*out = v;
	return NUM_OK;
}

static enum num_result json_number(const cJSON *v, double *out)
{
	if (cJSON_IsNumber(v)) {
		if (isnan(v->valuedouble))
			return NUM_FAILED_READ;
		if (!isfinite(v->valuedouble))
			return NUM_BAD;
		*out = v->valuedouble;
		return NUM_OK;
	}
	if (cJSON_IsNull(v))
		return NUM_FAILED_READ;
	if (cJSON_IsString(v))
		return text_number(v->valuestring, strlen(v->valuestring), out);
	return NUM_BAD;
}

/* Records the first problem of a payload: "WHAT NAME REST" ("field 'humidity' missing"). */
static void set_error(struct tm_result *r, const char *what, const char *name,
		      const char *rest)
{
	if (r->bad)
		return; /* the first problem is the one reported */
	r->bad = true;
	if (name)
		snprintf(r->error, sizeof(r->error), "%s '%.40s' %s", what, name, rest);
	else
		snprintf(r->error, sizeof(r->error), "%s", what);
}

/* Copies at most SENSOR_ID_MAX bytes of an id, stopping at a NUL. */
static void copy_id(char *dst, const void *src, size_t n)
{
	const char *s = src;
	const char *z = n ? memchr(s, 0, n) : NULL;
	if (z)
		n = (size_t)(z - s);
	if (n > SENSOR_ID_MAX)
		n = SENSOR_ID_MAX;
	if (n)
		memcpy(dst, s, n);
	dst[n] = 0;
}

static void device_from_topic(const uint8_t *topic, size_t len, uint32_t level,
			      char *out)
{
	uint32_t cur = 1;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || topic[i] == '/') {
			if (cur == level) {
				copy_id(out, topic + start, i - start);
				return;
			}
			cur++;
			start = i + 1;
		}
	}
	out[0] = 0;
}

void tm_extract(const struct tm_cfg *c, int entry, const char *client_id,
		const uint8_t *topic, size_t topic_len, const uint8_t *payload,
		size_t payload_len, const cJSON *json, struct tm_result *r)
{
	memset(r, 0, sizeof(*r));
	r->entry = entry;
	if (entry < 0 || (uint32_t)entry >= c->n)
		return;
	const struct tm_entry *e = &c->e[entry];
	r->json = json;

	switch (e->dev_from) {
	case TM_DEV_CLIENT_ID:
		copy_id(r->device, client_id ? client_id : "",
			client_id ? strlen(client_id) : 0);
		break;
	case TM_DEV_TOPIC_LEVEL:
		device_from_topic(topic, topic_len, e->dev_level, r->device);
		break;
	case TM_DEV_FIELD: {
		const cJSON *d = json ? tm_json_path(json, e->dev_path) : NULL;
		if (cJSON_IsString(d)) {
			copy_id(r->device, d->valuestring, strlen(d->valuestring));
		} else if (cJSON_IsNumber(d)) {
			snprintf(r->device, sizeof(r->device), "%.17g", d->valuedouble);
		} else {
			/* Fall back on the sender: a reading is never unowned. */
			copy_id(r->device, client_id ? client_id : "",
				client_id ? strlen(client_id) : 0);
			set_error(r, "device field", e->dev_path, "missing");
		}
		break;
	}
	}

	if (payload_len > c->max_payload) {
		set_error(r, "payload larger than telemetry.max-payload", NULL, NULL);
		return;
	}
	bool want_json = e->format == TM_FMT_JSON ||
			 (e->format == TM_FMT_AUTO && payload_len &&
			  (payload[0] == '{' || payload[0] == '['));
	if (!want_json) {
		double v;
		enum num_result nr = text_number((const char *)payload, payload_len, &v);
		if (nr == NUM_BAD) {
			set_error(r, "payload is not a number", NULL, NULL);
			return;
		}
		if (nr == NUM_OK) {
			r->v[0].field = 0;
			r->v[0].name = e->fields[0].name;
			r->v[0].v = v;
			r->n = 1;
		}
		return;
	}
	if (!json) {
		set_error(r, "payload is not JSON (or too complex)", NULL, NULL);
		return;
	}
	for (uint32_t i = 0; i < e->n_fields && r->n < SENSOR_MAX_VALUES; i++) {
		const struct tm_field *f = &e->fields[i];
		const cJSON *v = tm_json_path(json, f->path);
		if (!v) {
			if (f->required)
				set_error(r, "field", f->name, "missing");
			continue;
		}
		double x;
		enum num_result nr = json_number(v, &x);
		if (nr == NUM_BAD) {
			set_error(r, "field", f->name, "is not a number");
			continue;
		}
		if (nr == NUM_FAILED_READ)
			continue; /* a failed read: no sample, no alert */
		r->v[r->n].field = i;
		r->v[r->n].name = f->name;
		r->v[r->n].v = x;
		r->n++;
	}
}
