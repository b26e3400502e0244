/*
 * sensor_cfg.c - typed reads of the data detectors' configuration: a cJSON
 * tree built from the YAML file (engine/config.c, scalars as strings) or
 * from --set, with where each node came from for messages.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sensor/sensor.h"
#include "sensor/sensor_cfg.h"

/*
 * Node origins: a small table keyed by node address. It is filled while a
 * configuration is built and only read to word messages, so a linear scan
 * is fine; it holds at most SCFG_MAX_ORIGINS entries (the YAML walker
 * stops at 10000 nodes).
 */
#define SCFG_MAX_ORIGINS 16384
#define SCFG_WHERE_MAX 600

struct origin {
	const cJSON *node;
	char *where;
};

static struct origin origins[SCFG_MAX_ORIGINS];
static size_t n_origins;

void scfg_set_origin(const cJSON *node, const char *where)
{
	if (!node || !where)
		return;
	for (size_t i = 0; i < n_origins; i++) {
		if (origins[i].node == node) {
			char *w = strdup(where);
			if (w) {
				free(origins[i].where);
				origins[i].where = w;
			}
			return;
		}
	}
	if (n_origins >= SCFG_MAX_ORIGINS)
		return;
	char *w = strdup(where);
	if (!w)
		return;
	origins[n_origins].node = node;
	origins[n_origins].where = w;
	n_origins++;
}

void scfg_forget_origins(void)
{
	for (size_t i = 0; i < n_origins; i++)
		free(origins[i].where);
	n_origins = 0;
}

const char *scfg_where(const cJSON *node)
{
	for (size_t i = 0; i < n_origins; i++)
		if (origins[i].node == node)
			return origins[i].where;
	return "configuration";
}

void scfg_err(FILE *log, const cJSON *node, const char *fmt, ...)
{
	if (!log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (node && node->string)
		fprintf(log, "%s: %s: %s\n", scfg_where(node), node->string, msg);
	else
		fprintf(log, "%s: %s\n", scfg_where(node), msg);
}

static const cJSON *member(const cJSON *obj, const char *key)
{
	if (!obj || !cJSON_IsObject(obj))
		return NULL;
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNull(n) ? NULL : n; /* "key:" with nothing: the default */
}

/* The text of a scalar node (YAML scalars are strings; JSON may have numbers). */
static const char *scalar_text(const cJSON *n, char *buf, size_t cap)
{
	if (cJSON_IsString(n))
		return n->valuestring;
	if (cJSON_IsNumber(n)) {
		snprintf(buf, cap, "%.17g", n->valuedouble);
		return buf;
	}
	if (cJSON_IsBool(n))
		return cJSON_IsTrue(n) ? "yes" : "no";
	return NULL;
}

static void mark(bool *bad)
{
	if (bad)
		*bad = true;
}

double scfg_num(FILE *log, const cJSON *obj, const char *key, double def, bool *bad)
{
	const cJSON *n = member(obj, key);
	if (!n)
		return def;
	if (cJSON_IsNumber(n) && isfinite(n->valuedouble))
		return n->valuedouble;
	char buf[32];
	const char *s = scalar_text(n, buf, sizeof(buf));
	if (s) {
		while (isspace((unsigned char)*s))
			s++;
		char *end;
		errno = 0;
		double v = strtod(s, &end);
		while (end && isspace((unsigned char)*end))
			end++;
		if (end != s && !*end && !errno && isfinite(v))
			return v;
	}
	scfg_err(log, n, "expected a number, got '%.64s'; using %g", s ? s : "(not a scalar)", def);
	mark(bad);
	return def;
}

bool scfg_bool(FILE *log, const cJSON *obj, const char *key, bool def, bool *bad)
{
	const cJSON *n = member(obj, key);
	if (!n)
		return def;
	if (cJSON_IsBool(n))
		return cJSON_IsTrue(n);
	char buf[32];
	const char *s = scalar_text(n, buf, sizeof(buf));
	if (s) {
		if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1") ||
		    !strcasecmp(s, "on"))
			return true;
		if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcmp(s, "0") ||
		    !strcasecmp(s, "off"))
			return false;
	}
	scfg_err(log, n, "expected yes or no, got '%.64s'; using %s", s ? s : "(not a scalar)",
		 def ? "yes" : "no");
	mark(bad);
	return def;
}

const char *scfg_str(FILE *log, const cJSON *obj, const char *key, const char *def, bool *bad)
{
	const cJSON *n = member(obj, key);
	if (!n)
		return def;
	if (cJSON_IsString(n))
		return n->valuestring;
	if (cJSON_IsNumber(n) || cJSON_IsBool(n)) {
		/* A JSON state or config file may say 3 where YAML says "3". */
		static char buf[8][32];
		static unsigned k;
		char *b = buf[k++ % 8];
		return scalar_text(n, b, sizeof(buf[0]));
	}
	scfg_err(log, n, "expected a text value; using '%s'", def ? def : "");
	mark(bad);
	return def;
}

int scfg_parse_dur(const char *s, double *out)
{
	if (!s)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	double mul = 1;
	if (!*end || !strcasecmp(end, "s"))
		mul = 1;
	else if (!strcasecmp(end, "ms"))
		mul = 0.001;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "min"))
		mul = 60;
	else if (!strcasecmp(end, "h"))
		mul = 3600;
	else if (!strcasecmp(end, "d"))
		mul = 86400;
	else
		return -1;
	*out = v * mul;
	return 0;
}

double scfg_dur(FILE *log, const cJSON *obj, const char *key, double def, bool *bad)
{
	const cJSON *n = member(obj, key);
	if (!n)
		return def;
	char buf[32];
	const char *s = scalar_text(n, buf, sizeof(buf));
	double v;
	if (s && scfg_parse_dur(s, &v) == 0)
		return v;
	scfg_err(log, n, "expected a duration such as 600, 90s, 10m, 2h or 1d, got '%.64s'; using %gs",
		 s ? s : "(not a scalar)", def);
	mark(bad);
	return def;
}

const cJSON *scfg_list(const cJSON *obj, const char *key)
{
	return member(obj, key);
}

bool scfg_known_keys(FILE *log, const cJSON *obj, const char *const *keys)
{
	bool ok = true;
	const cJSON *c;
	if (!cJSON_IsObject(obj))
		return true;
	cJSON_ArrayForEach(c, obj)
	{
		bool found = false;
		for (size_t k = 0; keys[k]; k++)
			if (c->string && !strcmp(c->string, keys[k]))
				found = true;
		if (!found) {
			scfg_err(log, c, "unknown key");
			ok = false;
		}
	}
	return ok;
}

/* ---- building the tree (engine/config.c and --set) ---- */

/*
 * Sets a dotted key ("inactivity.timeout") below root to a string value,
 * creating objects on the way; an existing scalar is replaced. Returns 0,
 * or -1 when the path goes through something that is not an object.
 */
int scfg_set_path(cJSON *root, const char *key, const char *val, const char *where)
{
	char part[128];
	cJSON *cur = root;
	const char *p = key;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n >= sizeof(part))
			return -1;
		memcpy(part, p, n);
		part[n] = 0;
		cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, part);
		if (!dot) {
			cJSON *v = cJSON_CreateString(val);
			if (!v)
				return -1;
			if (next)
				cJSON_ReplaceItemInObjectCaseSensitive(cur, part, v);
			else
				cJSON_AddItemToObject(cur, part, v);
			scfg_set_origin(v, where);
			return 0;
		}
		if (!next) {
			next = cJSON_AddObjectToObject(cur, part);
			if (!next)
				return -1;
			scfg_set_origin(next, where);
		} else if (!cJSON_IsObject(next)) {
			return -1;
		}
		cur = next;
		p = dot + 1;
	}
}
