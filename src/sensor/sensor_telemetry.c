/*
 * sensor_telemetry.c - the telemetry extractor: which topics carry readings
 * (MQTT topic filters, MQTT 5.0 §4.7), the device each reading belongs to,
 * and its numeric fields, from JSON payloads or plain numeric payloads.
 *
 * JSON is read two ways that give the same result. The fast path (the
 * "scan") tokenizes the payload with jsmn into a preallocated token array,
 * checks the grammar jsmn leaves lax (RFC 8259 §2-§6: separators, literals,
 * number syntax, one value with only white space around it) and reads the
 * configured paths off the tokens. Whatever it does not accept, and any
 * payload with a backslash escape, goes to the slow path: cJSON, parsed
 * into an arena so that nothing is allocated per message either.
 * fuzz_telemetry checks that the two agree whenever the fast path answers.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor_telemetry.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqtt/mqtt_topic.h"

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

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
		if (mqtt_topic_match(c->e[i].filter, (const char *)topic, len))
			return (int)i;
	return -1;
}

/* ---- the fast path: jsmn tokens and the grammar jsmn does not check ---- */

#define SCAN_DEPTH 64          /* deeper documents go to cJSON (nesting limit 1000) */
#define SCAN_NUM_MAX 63        /* cJSON reads at most 63 bytes of a number */

struct tm_scan {
	uint32_t cap;              /* tokens */
	jsmntok_t *tok;
	int32_t *next;             /* the token after token i and everything under it */
	int n;
	const char *js;
	size_t len;
};

struct tm_scan *tm_scan_new(uint32_t max_payload)
{
	struct tm_scan *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	/* A token takes two bytes at least ("1," or "[]"): half the payload plus the root. */
	s->cap = max_payload / 2 + 2;
	s->tok = calloc(s->cap, sizeof(*s->tok));
	s->next = calloc(s->cap, sizeof(*s->next));
	if (!s->tok || !s->next) {
		tm_scan_free(s);
		return NULL;
	}
	return s;
}

void tm_scan_free(struct tm_scan *s)
{
	if (!s)
		return;
	free(s->tok);
	free(s->next);
	free(s);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The bytes of a token as written: a string with its quotes. */
static size_t raw_start(const jsmntok_t *t)
{
	return (size_t)t->start - (t->type == JSMN_STRING);
}

static size_t raw_end(const jsmntok_t *t)
{
	return (size_t)t->end + (t->type == JSMN_STRING);
}

/* js[a..b) is white space around exactly one sep (none when sep is 0). */
static bool gap_ok(const char *js, size_t a, size_t b, char sep)
{
	if (a > b)
		return false;
	bool seen = sep == 0;
	for (size_t i = a; i < b; i++) {
		if (is_ws(js[i]))
			continue;
		if (!seen && js[i] == sep) {
			seen = true;
			continue;
		}
		return false;
	}
	return seen;
}

static bool digits(const char *p, size_t n, size_t *i)
{
	size_t s = *i;
	while (*i < n && p[*i] >= '0' && p[*i] <= '9')
		(*i)++;
	return *i > s;
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number_ok(const char *p, size_t n)
{
	size_t i = 0;
	if (n > SCAN_NUM_MAX)
		return false;
	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (!digits(p, n, &i))
		return false;
	if (i < n && p[i] == '.') {
		i++;
		if (!digits(p, n, &i))
			return false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (!digits(p, n, &i))
			return false;
	}
	return i == n;
}

static bool primitive_ok(const char *p, size_t n)
{
	if (p[0] == 't')
		return n == 4 && !memcmp(p, "true", 4);
	if (p[0] == 'f')
		return n == 5 && !memcmp(p, "false", 5);
	if (p[0] == 'n')
		return n == 4 && !memcmp(p, "null", 4);
	return number_ok(p, n);
}

/* Token t lies inside the payload, a string with room for its quotes. */
static bool tok_in_bounds(const struct tm_scan *s, const jsmntok_t *t)
{
	return t->start >= 0 && t->end >= t->start && (size_t)t->end <= s->len && t->size >= 0 &&
	       (t->type != JSMN_STRING || (t->start >= 1 && (size_t)t->end < s->len));
}

/*
 * Checks token i and its children against the grammar; returns the index
 * after them, or -1. Offsets are checked too: the tokens come from jsmn
 * run on untrusted bytes.
 */
static int scan_check(struct tm_scan *s, int i, int depth)
{
	if (i < 0 || i >= s->n || depth > SCAN_DEPTH)
		return -1;
	const jsmntok_t *t = &s->tok[i];
	if (!tok_in_bounds(s, t))
		return -1;
	const char *p = s->js + t->start;
	size_t n = (size_t)(t->end - t->start);
	int j = i + 1;
	switch (t->type) {
	case JSMN_STRING:
		if (t->size != 0)
			return -1;
		break;
	case JSMN_PRIMITIVE:
		if (n == 0 || t->size != 0 || !primitive_ok(p, n))
			return -1;
		break;
	case JSMN_OBJECT:
	case JSMN_ARRAY: {
		bool obj = t->type == JSMN_OBJECT;
		if (n < 2 || p[n - 1] != (obj ? '}' : ']'))
			return -1;
		size_t pos = (size_t)t->start + 1;
		for (int k = 0; k < t->size; k++) {
			if (j >= s->n)
				return -1;
			if (obj) {
				const jsmntok_t *key = &s->tok[j];
				if (key->type != JSMN_STRING || key->size != 1 || !tok_in_bounds(s, key) ||
				    !gap_ok(s->js, pos, raw_start(key), k ? ',' : 0) || j + 1 >= s->n ||
				    !gap_ok(s->js, raw_end(key), raw_start(&s->tok[j + 1]), ':'))
					return -1;
				s->next[j] = -1; /* keys are walked through their values */
				j++;
			} else if (!gap_ok(s->js, pos, raw_start(&s->tok[j]), k ? ',' : 0)) {
				return -1;
			}
			int v = j;
			j = scan_check(s, v, depth + 1);
			if (j < 0)
				return -1;
			pos = raw_end(&s->tok[v]);
		}
		if (!gap_ok(s->js, pos, (size_t)t->end - 1, 0))
			return -1;
		break;
	}
	default:
		return -1;
	}
	s->next[i] = j;
	return j;
}

/* Tokenizes and checks p[0..n); false: not for the fast path. */
static bool scan_parse(struct tm_scan *s, const uint8_t *p, size_t n)
{
	s->n = 0;
	s->js = (const char *)p;
	s->len = n;
	if (!s->tok || n == 0 || n > (size_t)INT32_MAX)
		return false;
	/*
	 * A payload with an escape anywhere goes to cJSON: it decodes keys
	 * and strings, and refuses unpaired UTF-16 surrogates (\uD800-\uDFFF),
	 * which jsmn takes. Raw control bytes in strings need no check: cJSON
	 * keeps them as they are, and so does this path.
	 */
	if (memchr(p, '\\', n))
		return false;
	jsmn_parser jp;
	jsmn_init(&jp);
	int r = jsmn_parse(&jp, s->js, n, s->tok, s->cap);
	if (r < 1 || (unsigned)r > s->cap || jp.pos != n)
		return false; /* an error, too many tokens, or a NUL byte stopped it */
	s->n = r;
	return gap_ok(s->js, 0, raw_start(&s->tok[0]), 0) && scan_check(s, 0, 0) == r &&
	       gap_ok(s->js, raw_end(&s->tok[0]), n, 0);
}

/* A number token's value, as strtod (and so cJSON) reads it. */
static double scan_number(const char *p, size_t n)
{
	/*
	 * Up to 15 digits and no exponent: the integer of the digits and a
	 * power of ten are exact doubles and one IEEE division rounds their
	 * quotient correctly, which is what strtod returns.
	 */
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
					1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
	size_t i = 0;
	bool neg = p[0] == '-';
	i += neg;
	uint64_t m = 0;
	unsigned nd = 0, frac = 0;
	bool dot = false;
	for (; i < n; i++) {
		char c = p[i];
		if (c == '.' && !dot) {
			dot = true;
			continue;
		}
		if (c < '0' || c > '9' || ++nd > 15)
			break;
		m = m * 10 + (uint64_t)(c - '0');
		frac += dot;
	}
	if (i == n) {
		double v = (double)m / pow10[frac];
		return neg ? -v : v;
	}
	char buf[SCAN_NUM_MAX + 1];
	memcpy(buf, p, n); /* n <= SCAN_NUM_MAX: number_ok */
	buf[n] = 0;
	return strtod(buf, NULL);
}

/* ---- extraction over either tree ---- */

/* A node of the parsed payload: a cJSON item or a token of the scan. */
struct tm_doc {
	const cJSON *json;         /* the slow path, or ... */
	const struct tm_scan *sc;  /* ... the fast path */
};

struct tm_node {
	const cJSON *j;
	int t;                     /* token index; -1: none */
};

static bool node_none(const struct tm_doc *d, const struct tm_node *x)
{
	return d->sc ? x->t < 0 : x->j == NULL;
}

/*
 * An object's member by key on the tokens: the first one, as cJSON's
 * lookup. The keys hold no escapes (scan_parse), so bytes compare.
 */
static int scan_member(const struct tm_scan *s, int obj, const char *key, size_t kn)
{
	int j = obj + 1;
	for (int k = 0; k < s->tok[obj].size; k++) {
		const jsmntok_t *kt = &s->tok[j];
		if ((size_t)(kt->end - kt->start) == kn && !memcmp(s->js + kt->start, key, kn))
			return j + 1;
		j = s->next[j + 1];
	}
	return -1;
}

/* The member at a dotted path ("a.b.0"; "" is the whole payload); false: none. */
static bool doc_path(const struct tm_doc *d, const char *path, struct tm_node *out)
{
	struct tm_node cur = { d->json, d->sc ? 0 : -1 };
	const char *p = path;
	char part[TM_PATH_MAX];
	while (!node_none(d, &cur) && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n >= sizeof(part))
			return false;
		const jsmntok_t *t = d->sc ? &d->sc->tok[cur.t] : NULL;
		if (!t || t->type == JSMN_ARRAY) { /* object keys are compared in place */
			memcpy(part, p, n);
			part[n] = 0;
		}
		if (!d->sc) {
			if (cJSON_IsArray(cur.j)) {
				char *end;
				long idx = strtol(part, &end, 10);
				cur.j = (*end || idx < 0) ? NULL : cJSON_GetArrayItem(cur.j, (int)idx);
			} else if (cJSON_IsObject(cur.j)) {
				cur.j = cJSON_GetObjectItemCaseSensitive(cur.j, part);
			} else {
				cur.j = NULL;
			}
		} else {
			if (t->type == JSMN_ARRAY) {
				char *end;
				long idx = strtol(part, &end, 10);
				int ii = (int)idx; /* as the slow path hands it to cJSON */
				if (*end || idx < 0 || ii < 0 || ii >= t->size) {
					cur.t = -1;
				} else {
					int j = cur.t + 1;
					for (int k = 0; k < ii; k++)
						j = d->sc->next[j];
					cur.t = j;
				}
			} else if (t->type == JSMN_OBJECT) {
				cur.t = scan_member(d->sc, cur.t, p, n);
			} else {
				cur.t = -1;
			}
		}
		p = dot ? dot + 1 : p + n;
	}
	*out = cur;
	return !node_none(d, &cur);
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

static enum num_result double_result(double v, double *out)
{
	if (isnan(v))
		return NUM_FAILED_READ;
	if (!isfinite(v))
		return NUM_BAD;
	*out = v;
	return NUM_OK;
}

static enum num_result node_number(const struct tm_doc *d, const struct tm_node *x, double *out)
{
	if (!d->sc) {
		const cJSON *v = x->j;
		if (cJSON_IsNumber(v))
			return double_result(v->valuedouble, out);
		if (cJSON_IsNull(v))
			return NUM_FAILED_READ;
		if (cJSON_IsString(v))
			return text_number(v->valuestring, strlen(v->valuestring), out);
		return NUM_BAD;
	}
	const jsmntok_t *t = &d->sc->tok[x->t];
	const char *p = d->sc->js + t->start;
	size_t n = (size_t)(t->end - t->start);
	if (t->type == JSMN_PRIMITIVE) {
		if (p[0] == 'n')
			return NUM_FAILED_READ;
		if (p[0] == 't' || p[0] == 'f')
			return NUM_BAD;
		return double_result(scan_number(p, n), out);
	}
	if (t->type == JSMN_STRING)
		return text_number(p, n, out);
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

static void device_from_topic(const uint8_t *topic, size_t len, uint32_t level,
			      char *out)
{
	size_t start = 0;
	for (uint32_t cur = 1;; cur++) {
		const uint8_t *sl = start < len ? memchr(topic + start, '/', len - start) : NULL;
		size_t end = sl ? (size_t)(sl - topic) : len;
		if (cur == level) {
			sensor_copy_bytes(out, SENSOR_ID_MAX + 1, topic + start, end - start);
			return;
		}
		if (!sl)
			break;
		start = end + 1;
	}
	out[0] = 0;
}

/* The device named by a payload field; false: the field is not usable. */
static bool doc_device(const struct tm_doc *d, const char *path, char *out)
{
	struct tm_node x;
	if (!doc_path(d, path, &x))
		return false;
	if (!d->sc) {
		if (cJSON_IsString(x.j)) {
			sensor_copy_str(out, SENSOR_ID_MAX + 1, x.j->valuestring);
			return true;
		}
		if (cJSON_IsNumber(x.j)) {
			snprintf(out, SENSOR_ID_MAX + 1, "%.17g", x.j->valuedouble);
			return true;
		}
		return false;
	}
	const jsmntok_t *t = &d->sc->tok[x.t];
	const char *p = d->sc->js + t->start;
	size_t n = (size_t)(t->end - t->start);
	if (t->type == JSMN_STRING) {
		sensor_copy_bytes(out, SENSOR_ID_MAX + 1, p, n);
		return true;
	}
	if (t->type == JSMN_PRIMITIVE && p[0] != 't' && p[0] != 'f' && p[0] != 'n') {
		snprintf(out, SENSOR_ID_MAX + 1, "%.17g", scan_number(p, n));
		return true;
	}
	return false;
}

/* The extraction itself, on either tree; d is NULL when the payload is not JSON. */
static void extract(const struct tm_cfg *c, int entry, const char *client_id,
		    const uint8_t *topic, size_t topic_len, const uint8_t *payload,
		    size_t payload_len, const struct tm_doc *d, struct tm_result *r)
{
	/* All but the values array: its used slots are written below. */
	memset(r, 0, offsetof(struct tm_result, v));
	r->bad = false;
	r->error[0] = 0;
	r->entry = entry;
	if (entry < 0 || (uint32_t)entry >= c->n)
		return;
	const struct tm_entry *e = &c->e[entry];

	switch (e->dev_from) {
	case TM_DEV_CLIENT_ID:
		sensor_copy_str(r->device, sizeof(r->device), client_id);
		break;
	case TM_DEV_TOPIC_LEVEL:
		device_from_topic(topic, topic_len, e->dev_level, r->device);
		break;
	case TM_DEV_FIELD: {
		if (!d || !doc_device(d, e->dev_path, r->device)) {
			/* Fall back on the sender: a reading is never unowned. */
			sensor_copy_str(r->device, sizeof(r->device), client_id);
			set_error(r, "device field", e->dev_path, "missing");
		}
		break;
	}
	}

	if (payload_len > c->max_payload) {
		set_error(r, "payload larger than telemetry.max-payload", NULL, NULL);
		return;
	}
	if (!tm_wants_json(e, payload, payload_len)) {
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
	if (!d) {
		set_error(r, "payload is not JSON (or too complex)", NULL, NULL);
		return;
	}
	for (uint32_t i = 0; i < e->n_fields && r->n < SENSOR_MAX_VALUES; i++) {
		const struct tm_field *f = &e->fields[i];
		struct tm_node x;
		if (!doc_path(d, f->path, &x)) {
			if (f->required)
				set_error(r, "field", f->name, "missing");
			continue;
		}
		double v;
		enum num_result nr = node_number(d, &x, &v);
		if (nr == NUM_BAD) {
			set_error(r, "field", f->name, "is not a number");
			continue;
		}
		if (nr == NUM_FAILED_READ)
			continue; /* a failed read: no sample, no alert */
		r->v[r->n].field = i;
		r->v[r->n].name = f->name;
		r->v[r->n].v = v;
		r->n++;
	}
}

bool tm_wants_json(const struct tm_entry *e, const uint8_t *payload, size_t len)
{
	return e->format == TM_FMT_JSON ||
	       (e->format == TM_FMT_AUTO && len && (payload[0] == '{' || payload[0] == '['));
}

const cJSON *tm_json_path(const cJSON *json, const char *path)
{
	struct tm_doc d = { json, NULL };
	struct tm_node x = { NULL, -1 };
	return json && doc_path(&d, path, &x) ? x.j : NULL;
}

void tm_extract(const struct tm_cfg *c, int entry, const char *client_id,
		const uint8_t *topic, size_t topic_len, const uint8_t *payload,
		size_t payload_len, const cJSON *json, struct tm_result *r)
{
	struct tm_doc d = { json, NULL };
	extract(c, entry, client_id, topic, topic_len, payload, payload_len,
		json ? &d : NULL, r);
}

bool tm_extract_fast(const struct tm_cfg *c, int entry, const char *client_id,
		     const uint8_t *topic, size_t topic_len, const uint8_t *payload,
		     size_t payload_len, struct tm_scan *sc, struct tm_result *r)
{
	if (entry < 0 || (uint32_t)entry >= c->n || !sc)
		return false;
	const struct tm_entry *e = &c->e[entry];
	if (e->format == TM_FMT_NUMBER)
		return false;
	/* A plain number or an oversized payload: nothing to parse either way. */
	bool json = payload_len <= c->max_payload &&
		    (tm_wants_json(e, payload, payload_len) || e->dev_from == TM_DEV_FIELD);
	if (json && !scan_parse(sc, payload, payload_len))
		return false;
	struct tm_doc d = { NULL, sc };
	extract(c, entry, client_id, topic, topic_len, payload, payload_len, json ? &d : NULL, r);
	return true;
}
