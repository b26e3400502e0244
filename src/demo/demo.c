/*
 * demo.c - `mqttids demo`: runs mqttids-testbed on the demo scenario
 * (tools/testbed/scenarios/demo.scn: sensors, a Zigbee2MQTT bridge, a
 * dashboard and every attack kind) with this executable as the IDS under
 * test, so its alert lines print as they happen, then prints a table of
 * each attack: the alerts expected for it (tools/testbed/expected-alerts.json,
 * docs/detection-tests.md), whether they came, how soon, how many, and the
 * alerts no attack explains (false positives). docs/CLI.md has the usage.
 */
#define _GNU_SOURCE /* mkdtemp, nftw, realpath */
#include "demo/demo.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h> /* NAN, INFINITY, isnan, isinf: macros, no libm */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "mqtt/mqtt_topic.h"
#include "rules/rules.h"
#include "util/file.h"

#define DEMO_PATH 4096
#define DEMO_MAX_LABELS 256
#define DEMO_MAX_ENTRIES 16

/* ------------------------------------------------------------------ files */

static bool demo_executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* mqttids-testbed: beside this executable's build tree (tools/testbed/), then PATH. */
static int demo_find_testbed(const char *exe_dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/tools/testbed/mqttids-testbed", exe_dir);
	if (n > 0 && (size_t)n < cap && demo_executable(out))
		return 0;
	n = snprintf(out, cap, "%s/mqttids-testbed", exe_dir);
	if (n > 0 && (size_t)n < cap && demo_executable(out))
		return 0;
	const char *path = getenv("PATH");
	if (!path)
		return -1;
	char *dirs = strdup(path), *save = NULL;
	if (!dirs)
		return -1;
	int rc = -1;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		n = snprintf(out, cap, "%s/mqttids-testbed", d[0] ? d : ".");
		if (n > 0 && (size_t)n < cap && demo_executable(out)) {
			rc = 0;
			break;
		}
	}
	free(dirs);
	return rc;
}

static int demo_rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(p) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(p) == 0 || errno == ENOENT ? 0 : -1;
}

/* ------------------------------------------------------------------ time */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t demo_days(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* EVE "2022-09-05T15:24:27.194538+0800" (or +08:00, or Z) to epoch seconds; NAN when malformed. */
static double demo_eve_time(const char *s)
{
	int y, mo, d, h, mi, se, k = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &k) != 6)
		return NAN;
	const char *p = s + k;
	double frac = 0, scale = 0.1;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	long off = 0;
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh = 0, om = 0;
		if (sscanf(p + 1, "%2d", &oh) != 1)
			return NAN;
		const char *q = p + 3;
		if (*q == ':')
			q++;
		if (sscanf(q, "%2d", &om) != 1)
			return NAN;
		off = sign * (oh * 3600L + om * 60L);
	}
	int64_t days = demo_days(y, (unsigned)mo, (unsigned)d);
	return (double)(days * 86400 + h * 3600 + mi * 60 + se - off) + frac;
}

/* ------------------------------------------------------------------ expectations */

/* A label's field by dotted path as a number; "duration_s" is derived. */
static bool demo_label_num(const cJSON *lab, const char *path, size_t len, double *out)
{
	if (len == 10 && !strncmp(path, "duration_s", 10)) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(lab, "start_us");
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(lab, "end_us");
		if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b))
			return false;
		*out = (b->valuedouble - a->valuedouble) / 1e6;
		return true;
	}
	const cJSON *v = lab;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && path[j] != '.')
			j++;
		char key[64];
		if (j - i >= sizeof(key) || !cJSON_IsObject(v))
			return false;
		memcpy(key, path + i, j - i);
		key[j - i] = 0;
		v = cJSON_GetObjectItemCaseSensitive(v, key);
		if (!v)
			return false;
		i = j + 1;
	}
	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

static const cJSON *demo_label_item(const cJSON *lab, const char *path)
{
	const cJSON *v = lab;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, k) : NULL;
	return v;
}

/* floor() without libm (the core library does not link it); |x| < 2^63. */
static double demo_floor(double x)
{
	double t = (double)(long long)x;
	return t > x ? t - 1 : t;
}

/* Arithmetic over numbers and label paths: + - * / // and parentheses (as alerts_check.py). */
struct demo_ex {
	const char *s;
	const cJSON *lab;
	bool bad;
	bool lenient; /* a field the label lacks is 0 */
};

static double demo_ex_sum(struct demo_ex *x);

static void demo_ex_ws(struct demo_ex *x)
{
	while (*x->s == ' ')
		x->s++;
}

static double demo_ex_factor(struct demo_ex *x)
{
	demo_ex_ws(x);
	if (*x->s == '-') {
		x->s++;
		return -demo_ex_factor(x);
	}
	if (*x->s == '(') {
		x->s++;
		double v = demo_ex_sum(x);
		demo_ex_ws(x);
		if (*x->s != ')')
			x->bad = true;
		else
			x->s++;
		return v;
	}
	if (isdigit((unsigned char)*x->s) || *x->s == '.') {
		char *end;
		double v = strtod(x->s, &end);
		x->s = end;
		return v;
	}
	if (isalpha((unsigned char)*x->s) || *x->s == '_') {
		const char *p = x->s;
		while (isalnum((unsigned char)*x->s) || *x->s == '_' || *x->s == '.')
			x->s++;
		double v = 0;
		if (!demo_label_num(x->lab, p, (size_t)(x->s - p), &v) && !x->lenient)
			x->bad = true;
		return v;
	}
	x->bad = true;
	return 0;
}

static double demo_ex_term(struct demo_ex *x)
{
	double v = demo_ex_factor(x);
	for (;;) {
		demo_ex_ws(x);
		if (x->s[0] == '*') {
			x->s++;
			v *= demo_ex_factor(x);
		} else if (x->s[0] == '/' && x->s[1] == '/') {
			x->s += 2;
			double d = demo_ex_factor(x);
			if (d == 0)
				x->bad = true;
			else
				v = demo_floor(v / d);
		} else if (x->s[0] == '/') {
			x->s++;
			double d = demo_ex_factor(x);
			if (d == 0)
				x->bad = true;
			else
				v /= d;
		} else {
			return v;
		}
	}
}

static double demo_ex_sum(struct demo_ex *x)
{
	double v = demo_ex_term(x);
	for (;;) {
		demo_ex_ws(x);
		if (*x->s == '+') {
			x->s++;
			v += demo_ex_term(x);
		} else if (*x->s == '-') {
			x->s++;
			v -= demo_ex_term(x);
		} else {
			return v;
		}
	}
}

/* A number or an expression string; false when it cannot be evaluated for this label. */
static bool demo_eval_x(const cJSON *e, const cJSON *lab, bool lenient, double *out)
{
	if (cJSON_IsNumber(e)) {
		*out = e->valuedouble;
		return true;
	}
	if (!cJSON_IsString(e))
		return false;
	struct demo_ex x = { e->valuestring, lab, false, lenient };
	*out = demo_ex_sum(&x);
	demo_ex_ws(&x);
	return !x.bad && *x.s == 0;
}

static bool demo_eval(const cJSON *e, const cJSON *lab, double *out)
{
	return demo_eval_x(e, lab, false, out);
}

/* The [lo, hi] a count spec allows (N, "expr", {expr, below, above, pct} or {min, max}). */
static bool demo_range(const cJSON *spec, const cJSON *lab, double *lo, double *hi)
{
	if (!cJSON_IsObject(spec)) {
		if (!demo_eval(spec, lab, lo))
			return false;
		*hi = *lo;
		return true;
	}
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(spec, "expr");
	if (ex) {
		double v, below = 0, above = 0, pct = 0;
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(spec, "below");
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(spec, "above");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(spec, "pct");
		if (!demo_eval(ex, lab, &v) || (b && !demo_eval(b, lab, &below)) ||
		    (a && !demo_eval(a, lab, &above)) || (p && !demo_eval(p, lab, &pct)))
			return false;
		double slack = (v < 0 ? -v : v) * pct / 100;
		*lo = v - below - slack;
		*hi = v + above + slack;
		return true;
	}
	const cJSON *mn = cJSON_GetObjectItemCaseSensitive(spec, "min");
	const cJSON *mx = cJSON_GetObjectItemCaseSensitive(spec, "max");
	*lo = 0;
	*hi = INFINITY;
	return (!mn || demo_eval(mn, lab, lo)) && (!mx || demo_eval(mx, lab, hi));
}

/* A "when" condition (docs/detection-tests.md); a field the label lacks makes it false. */
static bool demo_cond(const cJSON *c, const cJSON *lab)
{
	if (!c)
		return true;
	const cJSON *l;
	if ((l = cJSON_GetObjectItemCaseSensitive(c, "any")) != NULL) {
		const cJSON *x;
		cJSON_ArrayForEach(x, l)
			if (demo_cond(x, lab))
				return true;
		return false;
	}
	if ((l = cJSON_GetObjectItemCaseSensitive(c, "all")) != NULL) {
		const cJSON *x;
		cJSON_ArrayForEach(x, l)
			if (!demo_cond(x, lab))
				return false;
		return true;
	}
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(c, "path");
	if (!cJSON_IsString(path))
		return false;
	const cJSON *v = demo_label_item(lab, path->valuestring);
	double num = 0;
	bool is_num = false;
	if (!strcmp(path->valuestring, "duration_s") ||
	    (v && cJSON_IsNumber(v)))
		is_num = demo_label_num(lab, path->valuestring, strlen(path->valuestring), &num);
	if (!v && !is_num)
		return false;
	const cJSON *op;
	cJSON_ArrayForEach(op, c) {
		const char *k = op->string;
		if (!strcmp(k, "path"))
			continue;
		if (!strcmp(k, "ge") || !strcmp(k, "gt") || !strcmp(k, "le") || !strcmp(k, "lt")) {
			if (!is_num || !cJSON_IsNumber(op))
				return false;
			double w = op->valuedouble;
			bool ok = k[0] == 'g' ? (k[1] == 'e' ? num >= w : num > w)
					      : (k[1] == 'e' ? num <= w : num < w);
			if (!ok)
				return false;
		} else if (!strcmp(k, "eq")) {
			if (cJSON_IsNumber(op) ? !(is_num && num == op->valuedouble)
					       : !(cJSON_IsString(op) && cJSON_IsString(v) &&
						   !strcmp(op->valuestring, v->valuestring)))
				return false;
		} else if (!strcmp(k, "in")) {
			bool hit = false;
			const cJSON *x;
			cJSON_ArrayForEach(x, op) {
				if (cJSON_IsString(x) && cJSON_IsString(v) && !strcmp(x->valuestring, v->valuestring))
					hit = true;
				if (cJSON_IsNumber(x) && is_num && x->valuedouble == num)
					hit = true;
			}
			if (!hit)
				return false;
		} else if (!strcmp(k, "prefix")) {
			if (!cJSON_IsString(op) || !cJSON_IsString(v) ||
			    strncmp(v->valuestring, op->valuestring, strlen(op->valuestring)) != 0)
				return false;
		} else if (!strcmp(k, "overlaps")) {
			if (!cJSON_IsString(op) || !cJSON_IsString(v) ||
			    !mqtt_topic_overlap(op->valuestring, v->valuestring, strlen(v->valuestring)))
				return false;
		} else if (!strcmp(k, "eq_path")) {
			const cJSON *w = cJSON_IsString(op) ? demo_label_item(lab, op->valuestring) : NULL;
			if (!w || !cJSON_IsString(w) || !cJSON_IsString(v) ||
			    strcmp(w->valuestring, v->valuestring) != 0)
				return false;
		} else {
			return false; /* unknown operator: not this expectation */
		}
	}
	return true;
}

/*
 * The most matches of a classification (its entry in "classifications")
 * another attack's label can have added to an alert's count: its
 * "contributed_by" expression, missing fields 0; 0 when its condition fails.
 */
static double demo_contribution(const cJSON *cls_meta, const cJSON *lab)
{
	const cJSON *cb = cJSON_GetObjectItemCaseSensitive(cls_meta, "contributed_by");
	double v = 0;
	if (!cb || !demo_cond(cJSON_GetObjectItemCaseSensitive(cb, "when"), lab) ||
	    !demo_eval_x(cJSON_GetObjectItemCaseSensitive(cb, "expr"), lab, true, &v))
		return 0;
	return v;
}

/* ------------------------------------------------------------------ the run's records */

struct demo_alert {
	char cls[160];
	char src[64];
	char uuid[48];
	char prio[24];
	char *client_ids;  /* "\n"-joined, malloc'd */
	char device[128];  /* metadata.detector.device of a data detector's finding */
	double sid;
	double t;
	double first;      /* metadata.first_violation: the first event counted */
	double total;
	int label;         /* index of the label that explains it, -1: none */
	bool victim;
	bool counted;
};

struct demo_entry {
	const cJSON *e;
	const char *cls;
	const cJSON *meta;  /* its "classifications" entry */
	double cooldown;
	bool from_device;   /* raised by the label's device itself ("from": "device") */
	bool optional;      /* no alert is fine (an MQTT 5 only answer) */
};

struct demo_label {
	const cJSON *j;
	const char *kind, *attacker, *device;
	double start, end, w0, w1;
	struct demo_entry ent[DEMO_MAX_ENTRIES];
	unsigned n_ent;
	bool known;          /* its kind is in the expectation file */
	const cJSON *victim; /* victim_may_raise, or NULL */
	const char *why;     /* for kinds that expect nothing */
};

struct demo_data {
	cJSON *exp;
	cJSON *labels_json[DEMO_MAX_LABELS];
	struct demo_label lab[DEMO_MAX_LABELS];
	unsigned n_lab;
	struct demo_alert *al;
	size_t n_al, cap_al;
	size_t n_updates, n_orphans;
	double before, after;
	double t0;
};

static const char *demo_str(const cJSON *o, const char *k, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double demo_num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int demo_load_labels(struct demo_data *D, const char *path)
{
	char *text = file_read_all(path, 64u << 20, NULL);
	if (!text)
		return -1;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (D->n_lab == DEMO_MAX_LABELS)
			break;
		cJSON *j = cJSON_Parse(line);
		if (!j)
			continue;
		D->labels_json[D->n_lab] = j;
		struct demo_label *L = &D->lab[D->n_lab++];
		memset(L, 0, sizeof(*L));
		L->j = j;
		L->kind = demo_str(j, "kind", "?");
		L->attacker = demo_str(j, "attacker", "");
		L->device = demo_str(j, "device", NULL);
		L->start = demo_num(j, "start_us", 0) / 1e6;
		L->end = demo_num(j, "end_us", 0) / 1e6;
	}
	free(text);
	/* By start (the runner sorts them; keep it robust). */
	for (unsigned i = 1; i < D->n_lab; i++) {
		struct demo_label x = D->lab[i];
		cJSON *xj = D->labels_json[i];
		unsigned k = i;
		while (k > 0 && D->lab[k - 1].start > x.start) {
			D->lab[k] = D->lab[k - 1];
			D->labels_json[k] = D->labels_json[k - 1];
			k--;
		}
		D->lab[k] = x;
		D->labels_json[k] = xj;
	}
	return 0;
}

static void demo_plan(struct demo_data *D)
{
	const cJSON *win = cJSON_GetObjectItemCaseSensitive(D->exp, "window");
	D->before = demo_num(win, "before_s", 1);
	D->after = demo_num(win, "after_s", 5);
	const cJSON *kinds = cJSON_GetObjectItemCaseSensitive(D->exp, "kinds");
	const cJSON *classes = cJSON_GetObjectItemCaseSensitive(D->exp, "classifications");
	for (unsigned i = 0; i < D->n_lab; i++) {
		struct demo_label *L = &D->lab[i];
		L->w0 = L->start - D->before;
		L->w1 = L->end + D->after;
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(kinds, L->kind);
		if (!k)
			continue;
		L->known = true;
		L->victim = cJSON_GetObjectItemCaseSensitive(k, "victim_may_raise");
		L->why = demo_str(k, "why", NULL);
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(k, "expect")) {
			if (L->n_ent == DEMO_MAX_ENTRIES)
				break;
			if (!demo_cond(cJSON_GetObjectItemCaseSensitive(e, "when"), L->j))
				continue;
			struct demo_entry *en = &L->ent[L->n_ent++];
			en->e = e;
			en->cls = demo_str(e, "classification", "?");
			en->meta = cJSON_GetObjectItemCaseSensitive(classes, en->cls);
			en->cooldown = demo_num(en->meta, "cooldown_s", 0);
			en->from_device = !strcmp(demo_str(e, "from", ""), "device");
			en->optional = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "optional"));
			/* A device back from a silence is seen at its next reading. */
			double after = demo_num(e, "after_s", 0);
			if (L->end + after > L->w1)
				L->w1 = L->end + after;
		}
	}
}

static struct demo_alert *demo_find_uuid(struct demo_data *D, const char *uuid)
{
	for (size_t i = D->n_al; i-- > 0;)
		if (!strcmp(D->al[i].uuid, uuid))
			return &D->al[i];
	return NULL;
}

static int demo_load_eve(struct demo_data *D, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		bool upd = strstr(line, "\"event_type\":\"alert_update\"") != NULL;
		if (!upd && !strstr(line, "\"event_type\":\"alert\""))
			continue;
		cJSON *j = cJSON_Parse(line);
		if (!j)
			continue;
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mqttids");
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(m, "metadata");
		double total = demo_num(md, "total_violation", 0);
		const char *uuid = demo_str(m, "uuid", "");
		if (upd) {
			struct demo_alert *a = demo_find_uuid(D, uuid);
			if (a) {
				if (total > a->total)
					a->total = total;
				D->n_updates++;
			} else {
				D->n_orphans++;
			}
			cJSON_Delete(j);
			continue;
		}
		if (D->n_al == D->cap_al) {
			size_t nc = D->cap_al ? D->cap_al * 2 : 256;
			struct demo_alert *na = realloc(D->al, nc * sizeof(*na));
			if (!na) {
				cJSON_Delete(j);
				break;
			}
			D->al = na;
			D->cap_al = nc;
		}
		struct demo_alert *a = &D->al[D->n_al++];
		memset(a, 0, sizeof(*a));
		const cJSON *al = cJSON_GetObjectItemCaseSensitive(j, "alert");
		snprintf(a->cls, sizeof(a->cls), "%s", demo_str(m, "classification", demo_str(al, "signature", "?")));
		snprintf(a->src, sizeof(a->src), "%s", demo_str(m, "src", "?"));
		snprintf(a->uuid, sizeof(a->uuid), "%s", uuid);
		snprintf(a->prio, sizeof(a->prio), "%s", demo_str(m, "priority", "?"));
		a->sid = demo_num(al, "signature_id", 0);
		a->t = demo_eve_time(demo_str(j, "timestamp", NULL));
		a->first = demo_eve_time(demo_str(md, "first_violation", NULL));
		if (isnan(a->first) || a->first > a->t)
			a->first = a->t;
		a->total = total;
		a->label = -1;
		const cJSON *dt = cJSON_GetObjectItemCaseSensitive(md, "detector");
		snprintf(a->device, sizeof(a->device), "%s", demo_str(dt, "device", ""));
		/* Client ids, for a victim device's own alerts. */
		const cJSON *mq = cJSON_GetObjectItemCaseSensitive(md, "mqtt");
		const cJSON *ids = cJSON_GetObjectItemCaseSensitive(mq, "client_id");
		size_t n = 1;
		const cJSON *x;
		cJSON_ArrayForEach(x, ids)
			if (cJSON_IsString(x))
				n += strlen(x->valuestring) + 1;
		a->client_ids = calloc(1, n + 1);
		if (a->client_ids) {
			a->client_ids[0] = '\n';
			cJSON_ArrayForEach(x, ids)
				if (cJSON_IsString(x)) {
					strcat(a->client_ids, x->valuestring);
					strcat(a->client_ids, "\n");
				}
		}
		cJSON_Delete(j);
	}
	free(line);
	fclose(f);
	return 0;
}

static bool demo_has_cid(const struct demo_alert *a, const char *cid)
{
	if (!a->client_ids || !cid)
		return false;
	char want[128];
	snprintf(want, sizeof(want), "\n%s\n", cid);
	return strstr(a->client_ids, want) != NULL;
}

static bool demo_label_expects(const struct demo_label *L, const char *cls)
{
	for (unsigned e = 0; e < L->n_ent; e++)
		if (!strcmp(L->ent[e].cls, cls))
			return true;
	return false;
}

/* cls is expected from the label's device itself, and a's finding names it. */
static bool demo_from_device(const struct demo_label *L, const struct demo_alert *a)
{
	for (unsigned e = 0; e < L->n_ent; e++)
		if (L->ent[e].from_device && !strcmp(L->ent[e].cls, a->cls) && L->device &&
		    a->device[0] && !strcmp(L->device, a->device))
			return true;
	return false;
}

static bool demo_victim_may(const struct demo_label *L, const char *cls)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, L->victim)
		if (cJSON_IsString(x) && !strcmp(x->valuestring, cls))
			return true;
	return false;
}

/* Each alert to the most recent label whose window holds it and that expects it (alerts_check.py does the same). */
static void demo_attribute(struct demo_data *D)
{
	for (size_t i = 0; i < D->n_al; i++) {
		struct demo_alert *a = &D->al[i];
		int best = -1;
		bool best_victim = false, best_holds = false;
		for (unsigned l = 0; l < D->n_lab; l++) {
			const struct demo_label *L = &D->lab[l];
			/* Its window meets the alert's evidence (first_violation to the alert)... */
			if (!(a->t >= L->w0 && a->first <= L->w1))
				continue;
			bool own = (!strcmp(a->src, L->attacker) && demo_label_expects(L, a->cls)) ||
				   demo_from_device(L, a);
			bool vic = !own && strcmp(a->src, L->attacker) != 0 && demo_victim_may(L, a->cls) &&
				   demo_has_cid(a, L->device);
			if (!own && !vic)
				continue;
			/* ...preferably holds the alert itself; then the most recent. */
			bool holds = a->t <= L->w1;
			if (best < 0 || (holds && !best_holds) ||
			    (holds == best_holds && L->start > D->lab[best].start)) {
				best = (int)l;
				best_victim = vic;
				best_holds = holds;
			}
		}
		a->label = best;
		a->victim = best_victim;
	}
}

/* ------------------------------------------------------------------ the summary */

static void demo_fmt_range(char *out, size_t cap, double lo, double hi)
{
	if (isinf(hi))
		snprintf(out, cap, ">=%g", -demo_floor(-lo));
	else if (-demo_floor(-lo) == demo_floor(hi))
		snprintf(out, cap, "%g", demo_floor(hi));
	else
		snprintf(out, cap, "%g-%g", -demo_floor(-(lo < 0 ? 0 : lo)), demo_floor(hi));
}

struct demo_result {
	unsigned attacks, detected, aggregated_only, missed, device_events, device_detected;
	size_t fp;
	bool counts_off, shared;
};

static void demo_summary(struct demo_data *D, const char *mode, double duration,
			 struct demo_result *res)
{
	memset(res, 0, sizeof(*res));
	printf("\n==== mqttids demo: what was detected (%s mode, %.0f s run; %zu alerts, %zu updates) ====\n\n",
	       mode, duration, D->n_al, D->n_updates);
	printf("%6s  %-16s %-50s %-9s %9s %7s %15s\n", "at s", "attack", "expected alert", "detected",
	       "delay", "alerts", "total (alone)");
	for (unsigned l = 0; l < D->n_lab; l++) {
		struct demo_label *L = &D->lab[l];
		double at = L->start - D->t0;
		if (!L->known) {
			printf("%6.1f  %-16s %-50s %-9s\n", at, L->kind, "(not in the expectation file)", "?");
			res->missed++;
			res->attacks++;
			continue;
		}
		if (L->n_ent == 0) {
			char why[64];
			snprintf(why, sizeof(why), "none from the rules%s", L->why ? " (issue 5)" : "");
			printf("%6.1f  %-16s %-50s %-9s\n", at, L->kind, why, "-");
			res->device_events++;
			continue;
		}
		/* Tampering, a silence, a Zigbee device going away: no attacker on
		 * the wire, the data detectors see it in what the device says. */
		bool device = !strcmp(L->attacker ? L->attacker : "", "physical");
		if (device)
			res->device_events++;
		else
			res->attacks++;
		bool all = true, any_own = false;
		for (unsigned e = 0; e < L->n_ent; e++) {
			struct demo_entry *en = &L->ent[e];
			size_t owned = 0;
			double total = 0, first = NAN, ev0 = INFINITY, ev1 = -INFINITY;
			for (size_t i = 0; i < D->n_al; i++) {
				struct demo_alert *a = &D->al[i];
				if (a->label != (int)l || a->victim || strcmp(a->cls, en->cls) != 0)
					continue;
				owned++;
				total += a->total;
				if (isnan(first))
					first = a->t;
				if (a->first < ev0)
					ev0 = a->first;
				if (a->t + en->cooldown > ev1)
					ev1 = a->t + en->cooldown;
			}
			/* Other attacks of this attacker that can have added matches to its count. */
			bool shared = false;
			for (unsigned m = 0; owned && m < D->n_lab; m++) {
				const struct demo_label *M = &D->lab[m];
				if (m != l && !strcmp(M->attacker, L->attacker) && M->w0 <= ev1 && ev0 <= M->w1 &&
				    demo_contribution(en->meta, M->j) > 0)
					shared = true;
			}
			/* Added to an alert an earlier attack raised, still in its cooldown? */
			const struct demo_alert *earlier = NULL;
			for (size_t i = 0; i < D->n_al; i++) {
				const struct demo_alert *a = &D->al[i];
				if (!en->from_device && a->label != (int)l && !strcmp(a->cls, en->cls) &&
				    !strcmp(a->src, L->attacker) && a->t < L->start && a->t + en->cooldown >= L->start)
					earlier = a;
			}
			double alo = 1, ahi = 1, tlo = 0, thi = INFINITY;
			const cJSON *ca = cJSON_GetObjectItemCaseSensitive(en->e, "alerts");
			const cJSON *ct = cJSON_GetObjectItemCaseSensitive(en->e, "total");
			if (ca && !demo_range(ca, L->j, &alo, &ahi))
				alo = 0, ahi = INFINITY;
			if (!demo_range(ct ? ct : ca, L->j, &tlo, &thi))
				tlo = 0, thi = INFINITY;
			char det[16], delay[24], alerts[96], tot[128], want_a[48], want_t[48];
			demo_fmt_range(want_a, sizeof(want_a), alo, ahi);
			demo_fmt_range(want_t, sizeof(want_t), tlo, thi);
			if (owned) {
				snprintf(det, sizeof(det), "yes");
				snprintf(delay, sizeof(delay), "%.0f ms", (first - L->start) * 1000);
				/* Exact only when no other attack shares the count (alerts_check.py bounds the rest). */
				bool off = !earlier && !shared &&
					   (owned < alo || owned > ahi || total < tlo || total > thi);
				snprintf(alerts, sizeof(alerts), "%zu", owned);
				snprintf(tot, sizeof(tot), "%g (%s)%s", total, want_t, off ? " !" : shared ? " +" : "  ");
				if (shared)
					res->shared = true;
				if (off)
					res->counts_off = true;
				any_own = true;
			} else if (earlier) {
				snprintf(det, sizeof(det), "added");
				snprintf(delay, sizeof(delay), "-");
				snprintf(alerts, sizeof(alerts), "0");
				snprintf(tot, sizeof(tot), "- (%s)  ", want_t);
			} else if (en->optional) {
				snprintf(det, sizeof(det), "-");
				snprintf(delay, sizeof(delay), "-");
				snprintf(alerts, sizeof(alerts), "0");
				snprintf(tot, sizeof(tot), "(optional)  ");
			} else {
				snprintf(det, sizeof(det), "NO");
				snprintf(delay, sizeof(delay), "-");
				snprintf(alerts, sizeof(alerts), "0 (%s)", want_a);
				snprintf(tot, sizeof(tot), "- (%s)  ", want_t);
				all = false;
			}
			char at_s[16] = "";
			if (e == 0)
				snprintf(at_s, sizeof(at_s), "%.1f", at);
			printf("%6s  %-16s %-50.50s %-9s %9s %7s %15s\n", at_s, e == 0 ? L->kind : "",
			       en->cls, det, delay, alerts, tot);
			if (!owned && earlier) {
				const struct demo_label *O = earlier->label >= 0 ? &D->lab[earlier->label] : NULL;
				printf("%6s  %-16s   -> its matches were added to the alert raised at %.1f s%s%s%s\n", "",
				       "", earlier->t - D->t0, O ? " (" : "", O ? O->kind : "", O ? ")" : "");
			}
		}
		size_t victims = 0;
		for (size_t i = 0; i < D->n_al; i++)
			if (D->al[i].label == (int)l && D->al[i].victim)
				victims++;
		if (victims)
			printf("%6s  %-16s   + %zu alert%s from the victim %s itself (its reconnect takes the id back)\n",
			       "", "", victims, victims == 1 ? "" : "s", L->device ? L->device : "device");
		if (all && device) {
			res->device_detected++;
		} else if (all) {
			res->detected++;
			if (!any_own)
				res->aggregated_only++;
		} else {
			res->missed++;
		}
	}
	for (size_t i = 0; i < D->n_al; i++)
		if (D->al[i].label < 0)
			res->fp++;
	printf("\nattacks: %u, detected %u", res->attacks, res->detected);
	if (res->aggregated_only)
		printf(" (%u only within an earlier attack's alert, during its cooldown)", res->aggregated_only);
	printf(", missed %u; device events (tampering, silence, Zigbee offline): %u, detected %u\n",
	       res->missed, res->device_events, res->device_detected);
	if (res->shared)
		printf("totals marked + include matches of neighbouring attacks of the same attacker, counted\n"
		       "  in the same window or cooldown (docs/detection-tests.md)\n");
	if (res->counts_off)
		printf("counts marked ! differ from what the attack alone should give (docs/detection-tests.md)\n");
	if (!res->fp) {
		printf("false positives: none (every alert is explained by an attack)\n");
	} else {
		printf("false positives: %zu alert%s not explained by any attack:\n", res->fp,
		       res->fp == 1 ? "" : "s");
		size_t shown = 0;
		for (size_t i = 0; i < D->n_al && shown < 10; i++) {
			const struct demo_alert *a = &D->al[i];
			if (a->label >= 0)
				continue;
			printf("  %.1f s  %s  src=%s  sid=%.0f  total=%.0f\n", a->t - D->t0, a->cls, a->src,
			       a->sid, a->total);
			shown++;
		}
		if (res->fp > shown)
			printf("  ... and %zu more\n", res->fp - shown);
	}
}

static void demo_free(struct demo_data *D)
{
	for (size_t i = 0; i < D->n_al; i++)
		free(D->al[i].client_ids);
	free(D->al);
	for (unsigned i = 0; i < D->n_lab; i++)
		cJSON_Delete(D->labels_json[i]);
	cJSON_Delete(D->exp);
}

/* ------------------------------------------------------------------ running it */

static volatile sig_atomic_t demo_child;
static volatile sig_atomic_t demo_signalled;

/*
 * ^C reaches the whole foreground process group, the runner included,
 * which stops the run in order: only count it. SIGTERM and SIGHUP come to
 * us alone: pass them on.
 */
static void demo_on_signal(int sig)
{
	demo_signalled = sig;
	if (sig != SIGINT && demo_child > 0)
		kill(demo_child, sig);
}

static void demo_usage(FILE *f)
{
	fprintf(f,
"usage: mqttids demo [-o DIR] [--keep] [--loopback] [--scenario FILE] [--expect FILE]\n"
"       mqttids demo --report DIR [--expect FILE]\n"
"\n"
"Runs the testbed (mqttids-testbed) on the demo scenario: a mosquitto broker,\n"
"sensor boards, a Zigbee2MQTT bridge, a dashboard and an attacker running every\n"
"attack kind, with `mqttids live` watching; alerts print as they happen. Then\n"
"a table of each attack: the alerts expected, detected or not, the delay from\n"
"the attack's first packet to its first alert, the counts; and the alerts no\n"
"attack explains. About 100 s. Network namespaces need root; without them the\n"
"testbed uses loopback addresses (capturing still needs root or CAP_NET_RAW).\n"
"\n"
"  -o, --output DIR   keep the run's files in DIR (capture.pcap, labels.jsonl,\n"
"                     eve.json, alerts.db, run.json, ...); default: a temporary\n"
"                     directory, removed at the end\n"
"  --keep             keep the temporary directory too\n"
"  --loopback         127.77.0.0/16 on lo instead of network namespaces\n"
"  --scenario FILE    another scenario (default tools/testbed/scenarios/demo.scn)\n"
"  --expect FILE      another expectation file (default tools/testbed/expected-alerts.json)\n"
"  --report DIR       run nothing: print the summary of the run in DIR again\n"
"\n"
"Exit status: 0 every attack detected and no false positive, 1 otherwise or\n"
"when the run failed, 2 usage, 130 interrupted.\n");
}

int demo_main(int argc, char **argv)
{
	const char *outdir = NULL, *scenario = NULL, *expect = NULL, *report = NULL;
	bool keep = false, loopback = false;
	enum { O_KEEP = 256, O_LOOP, O_SCN, O_EXP, O_REPORT };
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' }, { "keep", no_argument, NULL, O_KEEP },
		{ "loopback", no_argument, NULL, O_LOOP },  { "scenario", required_argument, NULL, O_SCN },
		{ "expect", required_argument, NULL, O_EXP }, { "help", no_argument, NULL, 'h' },
		{ "report", required_argument, NULL, O_REPORT },
		{ NULL, 0, NULL, 0 },
	};
	optind = 0; /* glibc: a fresh scan, whatever parsed argv before */
	int ch;
	while ((ch = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'o': outdir = optarg; break;
		case O_KEEP: keep = true; break;
		case O_LOOP: loopback = true; break;
		case O_SCN: scenario = optarg; break;
		case O_EXP: expect = optarg; break;
		case O_REPORT: report = optarg; break;
		case 'h': demo_usage(stdout); return 0;
		default: demo_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mqttids demo: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}

	/* Where things are: this executable, the runner, the source tree's scenario and expectations. */
	char exe[DEMO_PATH], exe_dir[DEMO_PATH], testbed[DEMO_PATH], src[DEMO_PATH];
	char scn[DEMO_PATH + 64], exp_path[DEMO_PATH + 64];
	if (!realpath("/proc/self/exe", exe)) {
		fprintf(stderr, "mqttids demo: cannot resolve /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	snprintf(exe_dir, sizeof(exe_dir), "%s", exe);
	char *slash = strrchr(exe_dir, '/');
	if (slash)
		*slash = 0;
	if (!report && demo_find_testbed(exe_dir, testbed, sizeof(testbed)) != 0) {
		fprintf(stderr, "mqttids demo: mqttids-testbed not found in %s/tools/testbed or PATH "
				"(build the tools: cmake --build BUILD)\n", exe_dir);
		return 1;
	}
	snprintf(src, sizeof(src), "%s", MQTTIDS_SOURCE_RULES_DIR);
	size_t sl = strlen(src);
	if (sl > 6 && !strcmp(src + sl - 6, "/rules"))
		src[sl - 6] = 0;
	snprintf(scn, sizeof(scn), "%s", scenario ? scenario : "");
	if (!scenario)
		snprintf(scn, sizeof(scn), "%s/tools/testbed/scenarios/demo.scn", src);
	snprintf(exp_path, sizeof(exp_path), "%s", expect ? expect : "");
	if (!expect)
		snprintf(exp_path, sizeof(exp_path), "%s/tools/testbed/expected-alerts.json", src);
	if (!report && access(scn, R_OK) != 0) {
		fprintf(stderr, "mqttids demo: scenario %s: %s (give --scenario)\n", scn, strerror(errno));
		return 1;
	}
	struct demo_data D;
	memset(&D, 0, sizeof(D));
	char *etext = file_read_all(exp_path, 4u << 20, NULL);
	D.exp = etext ? cJSON_Parse(etext) : NULL;
	free(etext);
	if (!D.exp || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(D.exp, "kinds"))) {
		fprintf(stderr, "mqttids demo: %s: %s (give --expect)\n", exp_path,
			D.exp ? "no \"kinds\" object" : "cannot read it as JSON");
		cJSON_Delete(D.exp);
		return 1;
	}

	/* The output directory. */
	char dir[DEMO_PATH];
	bool temp = !outdir && !report;
	int st = 0, run_rc = -1;
	if (report) {
		snprintf(dir, sizeof(dir), "%s", report);
		run_rc = 0;
		goto summary;
	}
	if (outdir) {
		snprintf(dir, sizeof(dir), "%s", outdir);
	} else {
		snprintf(dir, sizeof(dir), "/tmp/mqttids-demo.XXXXXX");
		if (!mkdtemp(dir)) {
			fprintf(stderr, "mqttids demo: mkdtemp: %s\n", strerror(errno));
			cJSON_Delete(D.exp);
			return 1;
		}
	}

	printf("mqttids demo: %s on %s, IDS %s live; alerts print as they happen (about %s)\n",
	       testbed, scn, exe, "100 s");
	fflush(stdout);
	const char *args[16];
	int n = 0;
	args[n++] = testbed;
	args[n++] = "run";
	args[n++] = scn;
	args[n++] = "-o";
	args[n++] = dir;
	args[n++] = "--ids";
	args[n++] = exe;
	args[n++] = "--ids-console";
	if (loopback)
		args[n++] = "--loopback";
	args[n] = NULL;

	struct sigaction sa, old_int, old_term, old_hup;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = demo_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execv(testbed, (char *const *)args);
		fprintf(stderr, "mqttids demo: cannot run %s: %s\n", testbed, strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		fprintf(stderr, "mqttids demo: fork: %s\n", strerror(errno));
	} else {
		demo_child = pid;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		demo_child = 0;
		run_rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);

	/* The summary, from whatever the run left. */
summary:;
	int rc = 1;
	char path[DEMO_PATH + 32];
	snprintf(path, sizeof(path), "%s/run.json", dir);
	char *rtext = file_read_all(path, 16u << 20, NULL);
	cJSON *run = rtext ? cJSON_Parse(rtext) : NULL;
	free(rtext);
	snprintf(path, sizeof(path), "%s/labels.jsonl", dir);
	int lrc = demo_load_labels(&D, path);
	snprintf(path, sizeof(path), "%s/eve.json", dir);
	int erc = demo_load_eve(&D, path);
	if (!run || lrc != 0 || erc != 0) {
		fprintf(stderr, "mqttids demo: the run left no %s (testbed exit %d); see %s\n",
			!run ? "run.json" : lrc ? "labels.jsonl" : "eve.json", run_rc, dir);
		temp = false; /* keep what is there to look at */
	} else {
		D.t0 = demo_num(run, "start_us", 0) / 1e6;
		demo_plan(&D);
		demo_attribute(&D);
		struct demo_result res;
		demo_summary(&D, demo_str(run, "mode", "?"), demo_num(run, "duration", 0), &res);
		if (report) {
			const cJSON *ok = cJSON_GetObjectItemCaseSensitive(run, "ok");
			run_rc = cJSON_IsTrue(ok) ? 0 : 1;
		}
		bool good = run_rc == 0 && res.missed == 0 && res.fp == 0 && res.attacks > 0;
		if (run_rc == 130)
			printf("result: interrupted; the table covers the attacks up to then\n");
		else if (run_rc != 0)
			printf("result: the testbed run failed (exit %d); its summary is above\n", run_rc);
		else
			printf("result: %s\n", good ? "every attack detected, no false positives"
						    : "NOT every attack detected, or false positives");
		rc = good ? 0 : 1;
	}
	cJSON_Delete(run);
	demo_free(&D);
	if (demo_signalled == SIGINT || run_rc == 130)
		rc = 130;
	if (report) {
		/* nothing to clean up or point at */
	} else if (temp && !keep) {
		nftw(dir, demo_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	} else {
		printf("the run's files are in %s (capture.pcap, labels.jsonl, eve.json, alerts.db, run.json)\n",
		       dir);
	}
	fflush(stdout);
	return rc;
}
