/* sv_check.c - check EVE JSON lines against the filters of a suricata-verify test.yaml. */

/*
 * Usage: sv_check TEST_YAML EVE_JSONL
 *
 * Every `checks:` entry of TEST_YAML is reported on one stdout line:
 *   PASS check N (line L): ...     the filter matched the expected count
 *   FAIL check N (line L): ...     it did not; says why (closest record)
 *   SKIP check N (line L): ...     not something mqttids logs (alerts,
 *                                  frames, shell checks, other files)
 * Exit status: 0 when no check failed, 1 when one did, 2 when an input is
 * unreadable or malformed (the message names file and line) or on bad usage.
 *
 * Match semantics follow suricata-verify's FilterCheck (run.py): a match key
 * is a dotted path into the record (`a.b[2].c`, `x.__len`), `has-key` and
 * `not-has-key` test that a path exists, and any other key compares the
 * value found with the YAML value, which PyYAML would load as a Python object
 * compared with `==` against the json.loads() record. We deviate on purpose
 * in two places: booleans never equal numbers (Python has True == 1), and an
 * unquoted YAML scalar also matches a JSON string with the same text (so an
 * unquoted 1234567 matches "1234567").
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <yaml.h>

enum sv_err {
	SV_OK = 0,
	SV_ERR_NOMEM = -1,
	SV_ERR_IO = -2,
	SV_ERR_SYNTAX = -3, /* the file is not valid YAML or JSON */
	SV_ERR_SCHEMA = -4, /* valid YAML, but not a test.yaml we understand */
};

enum sv_exit {
	SV_EXIT_PASS = 0,
	SV_EXIT_FAIL = 1,
	SV_EXIT_ERROR = 2,
};

/* Deeper YAML values are refused: guards against alias cycles. */
#define SV_MAX_DEPTH 64
/* Value nodes one test.yaml may expand to: guards against alias bombs. */
#define SV_MAX_NODES 1000000
/* How much of a long value a diagnostic shows. */
#define SV_SHOW_MAX 120
/* How many matching record lines a FAIL with too many matches lists. */
#define SV_LIST_MAX 8

enum sv_vtype {
	SV_V_NULL,
	SV_V_BOOL,
	SV_V_INT,
	SV_V_FLOAT,
	SV_V_STR,
	SV_V_SEQ,
	SV_V_MAP,
};

/* An expected value from test.yaml, typed the way PyYAML would type it. */
struct sv_value {
	enum sv_vtype type;
	unsigned long line; /* where it starts in test.yaml, 1-based */
	bool plain;        /* an unquoted scalar */
	char *text;        /* scalar text as written, NUL-terminated */
	size_t text_len;
	bool b;
	long long i;
	double f;
	struct sv_value *items; /* SEQ items or MAP values */
	char **keys;            /* MAP keys, parallel to items */
	size_t n;
};

enum sv_mkind {
	SV_M_EQ,          /* path: value */
	SV_M_HAS_KEY,     /* has-key: path */
	SV_M_NOT_HAS_KEY, /* not-has-key: path */
};

/* One `match:` entry. */
struct sv_match {
	enum sv_mkind kind;
	char *path;
	struct sv_value want; /* SV_M_EQ only */
};

/* One `checks:` entry, converted from YAML. */
struct sv_check {
	unsigned long line;
	const char *skip;   /* static reason when not ours, else NULL */
	char *skip_detail;  /* owned text completing skip, may be NULL */
	bool has_count;
	long long count;
	struct sv_match *matches;
	size_t n_matches;
};

struct sv_checks {
	struct sv_check *v;
	size_t n;
};

/* EVE records, one per non-blank input line. */
struct sv_records {
	cJSON **v;
	unsigned long *line;
	size_t n, cap;
};

/* What a path lookup found: a node, or a synthesized __len number. */
struct sv_found {
	const cJSON *node;
	size_t depth;   /* path parts resolved */
	cJSON len_item; /* used when node points at it */
};

/* State shared while converting one YAML document. */
struct sv_yaml_ctx {
	yaml_document_t *doc;
	const char *file;
	size_t nodes_left;
};

static const char *sv_prog = "sv_check";

/*
 * sv_value_free - release what @v owns (not @v itself). NULL-safe; leaves
 * @v zeroed so a second call is harmless.
 */
static void sv_value_free(struct sv_value *v)
{
	if (!v)
		return;
	free(v->text);
	for (size_t k = 0; k < v->n; k++) {
		sv_value_free(&v->items[k]);
		if (v->keys)
			free(v->keys[k]);
	}
	free(v->items);
	free(v->keys);
	memset(v, 0, sizeof(*v));
}

/* sv_strndup - copy @len bytes of @s into a new NUL-terminated string. */
static char *sv_strndup(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * sv_resolve_int - parse YAML 1.1 int syntax (decimal, 0x hex, 0b binary,
 * leading-0 octal, `_` separators) the way PyYAML's resolver does. Returns
 * 1 and sets @out when @s is such an int that fits a long long, -1 and sets
 * @big (approximately) when it is an int that does not, else 0.
 */
static int sv_resolve_int(const char *s, long long *out, double *big)
{
	char buf[80];
	size_t n = 0;
	const char *p = s;
	int base = 10;
	bool neg = false;
	double approx = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1] != '\0') {
		base = 8;
		p += 1;
	} else if (p[0] == '_') {
		return 0; /* decimal must start with a digit */
	}
	if (*p == '\0')
		return 0;
	for (; *p; p++) {
		int d;

		if (*p == '_')
			continue;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return 0;
		if (d >= base)
			return 0;
		approx = approx * base + d;
		if (n + 1 < sizeof(buf))
			buf[n] = *p;
		n++;
	}
	if (n == 0)
		return 0;
	errno = 0;
	unsigned long long u = 0;
	if (n < sizeof(buf)) {
		buf[n] = '\0';
		u = strtoull(buf, NULL, base);
	}
	if (n >= sizeof(buf) || errno == ERANGE ||
	    u > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u)) {
		if (base == 10 && n < sizeof(buf))
			approx = strtod(buf, NULL); /* correctly rounded */
		*big = neg ? -approx : approx;
		return -1;
	}
	if (neg)
		*out = u == (unsigned long long)LLONG_MAX + 1u ? LLONG_MIN : -(long long)u;
	else
		*out = (long long)u;
	return 1;
}

/*
 * sv_resolve_float - parse YAML 1.1 float syntax (a '.' is required, as in
 * PyYAML: "1e5" stays a string) plus .inf/.nan. Returns true and sets @out.
 */
static bool sv_resolve_float(const char *s, double *out)
{
	static const char *const inf[] = { ".inf", ".Inf", ".INF" };
	static const char *const nan_[] = { ".nan", ".NaN", ".NAN" };
	const char *p = s;
	bool neg = false, dot = false, digit = false;
	char buf[128];
	size_t n = 0;

	for (size_t k = 0; k < 3; k++)
		if (strcmp(s, nan_[k]) == 0) {
			*out = NAN;
			return true;
		}
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	for (size_t k = 0; k < 3; k++)
		if (strcmp(p, inf[k]) == 0) {
			*out = neg ? -INFINITY : INFINITY;
			return true;
		}
	if (neg)
		buf[n++] = '-';
	for (; *p && *p != 'e' && *p != 'E'; p++) {
		if (*p == '_')
			continue;
		if (*p == '.') {
			if (dot)
				return false;
			dot = true;
		} else if (*p >= '0' && *p <= '9') {
			digit = true;
		} else {
			return false;
		}
		if (n + 1 >= sizeof(buf))
			return false;
		buf[n++] = *p;
	}
	if (!dot || !digit)
		return false;
	if (*p) { /* exponent: [eE][-+][0-9]+ */
		if ((p[1] != '-' && p[1] != '+') || p[2] == '\0')
			return false;
		for (const char *q = p + 2; *q; q++)
			if (*q < '0' || *q > '9')
				return false;
		if (n + strlen(p) + 1 >= sizeof(buf))
			return false;
		memcpy(buf + n, p, strlen(p));
		n += strlen(p);
	}
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return true;
}

/*
 * sv_scalar_resolve - type the scalar text in @v (already copied) the way
 * PyYAML's YAML 1.1 resolver types an unquoted scalar: null, bool
 * (true/yes/on...), int, float, else string. Quoted scalars stay strings.
 */
static void sv_scalar_resolve(struct sv_value *v)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const trues[] = { "true", "True", "TRUE", "yes", "Yes",
					     "YES", "on", "On", "ON" };
	static const char *const falses[] = { "false", "False", "FALSE", "no", "No",
					      "NO", "off", "Off", "OFF" };
	const char *s = v->text;

	v->type = SV_V_STR;
	if (!v->plain || strlen(s) != v->text_len)
		return;
	for (size_t k = 0; k < sizeof(nulls) / sizeof(nulls[0]); k++)
		if (strcmp(s, nulls[k]) == 0) {
			v->type = SV_V_NULL;
			return;
		}
	for (size_t k = 0; k < sizeof(trues) / sizeof(trues[0]); k++) {
		if (strcmp(s, trues[k]) == 0) {
			v->type = SV_V_BOOL;
			v->b = true;
			return;
		}
		if (strcmp(s, falses[k]) == 0) {
			v->type = SV_V_BOOL;
			v->b = false;
			return;
		}
	}
	switch (sv_resolve_int(s, &v->i, &v->f)) {
	case 1:
		v->type = SV_V_INT;
		return;
	case -1: /* Python ints are unbounded; a double is close enough here */
		v->type = SV_V_FLOAT;
		return;
	default:
		break;
	}
	if (sv_resolve_float(s, &v->f))
		v->type = SV_V_FLOAT;
}

/*
 * sv_value_from_yaml - convert YAML node @node into @out (zeroed by the
 * caller). @out owns everything it points to afterwards, also on failure,
 * so the caller always runs sv_value_free(). Duplicate map keys keep the
 * last value, as PyYAML does. Returns 0 or a negative sv_err; schema errors
 * are reported on stderr with file and line.
 */
static int sv_value_from_yaml(struct sv_yaml_ctx *ctx, yaml_node_t *node, int depth,
			      struct sv_value *out)
{
	int rc = SV_OK;

	if (!node) {
		fprintf(stderr, "%s: %s: dangling YAML alias\n", sv_prog, ctx->file);
		return SV_ERR_SCHEMA;
	}
	if (depth > SV_MAX_DEPTH || ctx->nodes_left == 0) {
		fprintf(stderr, "%s: %s:%lu: YAML value nested too deeply or too large\n",
			sv_prog, ctx->file, (unsigned long)node->start_mark.line + 1);
		return SV_ERR_SCHEMA;
	}
	ctx->nodes_left--;
	out->line = (unsigned long)node->start_mark.line + 1;

	switch (node->type) {
	case YAML_SCALAR_NODE:
		out->text_len = node->data.scalar.length;
		out->text = sv_strndup((const char *)node->data.scalar.value, out->text_len);
		if (!out->text) {
			rc = SV_ERR_NOMEM;
			goto out;
		}
		out->plain = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		sv_scalar_resolve(out);
		break;

	case YAML_SEQUENCE_NODE: {
		size_t n = (size_t)(node->data.sequence.items.top -
				    node->data.sequence.items.start);

		out->type = SV_V_SEQ;
		if (n) {
			out->items = calloc(n, sizeof(*out->items));
			if (!out->items) {
				rc = SV_ERR_NOMEM;
				goto out;
			}
		}
		for (size_t k = 0; k < n; k++) {
			yaml_node_t *item = yaml_document_get_node(
				ctx->doc, node->data.sequence.items.start[k]);

			out->n = k + 1;
			rc = sv_value_from_yaml(ctx, item, depth + 1, &out->items[k]);
			if (rc)
				goto out;
		}
		break;
	}

	case YAML_MAPPING_NODE: {
		size_t n = (size_t)(node->data.mapping.pairs.top -
				    node->data.mapping.pairs.start);

		out->type = SV_V_MAP;
		if (n) {
			out->items = calloc(n, sizeof(*out->items));
			out->keys = calloc(n, sizeof(*out->keys));
			if (!out->items || !out->keys) {
				rc = SV_ERR_NOMEM;
				goto out;
			}
		}
		for (size_t k = 0; k < n; k++) {
			yaml_node_pair_t *pair = &node->data.mapping.pairs.start[k];
			yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
			yaml_node_t *val = yaml_document_get_node(ctx->doc, pair->value);
			struct sv_value tmp = { 0 };
			size_t slot = out->n;

			if (!key || key->type != YAML_SCALAR_NODE) {
				fprintf(stderr, "%s: %s:%lu: only scalar map keys are supported\n",
					sv_prog, ctx->file,
					(unsigned long)(key ? key->start_mark.line : node->start_mark.line) + 1);
				rc = SV_ERR_SCHEMA;
				goto out;
			}
			rc = sv_value_from_yaml(ctx, val, depth + 1, &tmp);
			if (rc) {
				sv_value_free(&tmp);
				goto out;
			}
			for (size_t j = 0; j < out->n; j++)
				if (strcmp(out->keys[j], (const char *)key->data.scalar.value) == 0)
					slot = j;
			if (slot == out->n) {
				out->keys[slot] = sv_strndup((const char *)key->data.scalar.value,
							     key->data.scalar.length);
				if (!out->keys[slot]) {
					sv_value_free(&tmp);
					rc = SV_ERR_NOMEM;
					goto out;
				}
				out->n++;
			} else {
				sv_value_free(&out->items[slot]);
			}
			out->items[slot] = tmp;
		}
		break;
	}

	default:
		fprintf(stderr, "%s: %s:%lu: empty YAML node\n", sv_prog, ctx->file,
			(unsigned long)node->start_mark.line + 1);
		rc = SV_ERR_SCHEMA;
		break;
	}
out:
	return rc;
}

/* sv_map_get - the value of @key in map @v, or NULL. */
static const struct sv_value *sv_map_get(const struct sv_value *v, const char *key)
{
	if (!v || v->type != SV_V_MAP)
		return NULL;
	for (size_t k = 0; k < v->n; k++)
		if (strcmp(v->keys[k], key) == 0)
			return &v->items[k];
	return NULL;
}

/* sv_path_under - whether dotted @path is @top itself or lies below it. */
static bool sv_path_under(const char *path, const char *top)
{
	size_t n = strlen(top);

	return strncmp(path, top, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '[');
}

/*
 * sv_check_classify - decide whether mqttids is expected to satisfy filter
 * @c: ours when event_type is mqtt or anomaly, or when there is no
 * event_type and no key (or has-key path) under alert. or frame.; sets
 * c->skip (and maybe c->skip_detail) otherwise. Returns 0 or SV_ERR_NOMEM.
 */
static int sv_check_classify(struct sv_check *c)
{
	for (size_t k = 0; k < c->n_matches; k++) {
		const struct sv_match *m = &c->matches[k];

		if (m->kind == SV_M_EQ && strcmp(m->path, "event_type") == 0) {
			const struct sv_value *w = &m->want;

			if (w->type == SV_V_STR && (strcmp(w->text, "mqtt") == 0 ||
						    strcmp(w->text, "anomaly") == 0))
				return SV_OK;
			c->skip = "mqttids does not log event_type ";
			c->skip_detail = sv_strndup(w->text ? w->text : "(non-scalar)",
						    strlen(w->text ? w->text : "(non-scalar)"));
			return c->skip_detail ? SV_OK : SV_ERR_NOMEM;
		}
	}
	for (size_t k = 0; k < c->n_matches; k++) {
		const char *p = c->matches[k].path;

		if (sv_path_under(p, "alert") || sv_path_under(p, "frame")) {
			c->skip = "needs Suricata alert/frame records, key ";
			c->skip_detail = sv_strndup(p, strlen(p));
			return c->skip_detail ? SV_OK : SV_ERR_NOMEM;
		}
	}
	return SV_OK;
}

/*
 * sv_filter_convert - fill @c from the `filter:` map @f of check @c->line.
 * Moves the expected values out of @f (which keeps zeroed husks). Returns 0
 * or a negative sv_err after reporting schema problems with @file:line.
 */
static int sv_filter_convert(const char *file, struct sv_value *f, struct sv_check *c)
{
	const struct sv_value *count = sv_map_get(f, "count");
	const struct sv_value *filename = sv_map_get(f, "filename");
	struct sv_value *match = NULL;
	int rc = SV_OK;

	if (f->type != SV_V_MAP) {
		fprintf(stderr, "%s: %s:%lu: `filter:` must be a map\n", sv_prog, file, f->line);
		return SV_ERR_SCHEMA;
	}
	if (count) {
		if (count->type != SV_V_INT || count->i < 0) {
			fprintf(stderr, "%s: %s:%lu: `count:` must be a non-negative integer\n",
				sv_prog, file, count->line);
			return SV_ERR_SCHEMA;
		}
		c->has_count = true;
		c->count = count->i;
	}
	for (size_t k = 0; k < f->n; k++)
		if (strcmp(f->keys[k], "match") == 0)
			match = &f->items[k];
	if (!match || match->type != SV_V_MAP) {
		fprintf(stderr, "%s: %s:%lu: filter needs a `match:` map\n", sv_prog, file,
			match ? match->line : f->line);
		return SV_ERR_SCHEMA;
	}
	if (match->n) {
		c->matches = calloc(match->n, sizeof(*c->matches));
		if (!c->matches)
			return SV_ERR_NOMEM;
	}
	for (size_t k = 0; k < match->n; k++) {
		struct sv_match *m = &c->matches[k];
		const char *key = match->keys[k];
		struct sv_value *val = &match->items[k];

		c->n_matches = k + 1;
		if (strcmp(key, "has-key") == 0 || strcmp(key, "not-has-key") == 0) {
			if (val->type == SV_V_SEQ || val->type == SV_V_MAP) {
				fprintf(stderr, "%s: %s:%lu: `%s:` takes one dotted path\n",
					sv_prog, file, val->line, key);
				rc = SV_ERR_SCHEMA;
				goto out;
			}
			m->kind = key[0] == 'h' ? SV_M_HAS_KEY : SV_M_NOT_HAS_KEY;
			m->path = val->text;
			val->text = NULL;
		} else {
			m->kind = SV_M_EQ;
			m->path = match->keys[k];
			match->keys[k] = NULL;
			m->want = *val;
			memset(val, 0, sizeof(*val));
		}
	}
	if (filename && !(filename->type == SV_V_STR && strcmp(filename->text, "eve.json") == 0)) {
		c->skip = "reads another output file: ";
		c->skip_detail = sv_strndup(filename->text ? filename->text : "?",
					    strlen(filename->text ? filename->text : "?"));
		rc = c->skip_detail ? SV_OK : SV_ERR_NOMEM;
		goto out;
	}
	rc = sv_check_classify(c);
out:
	return rc;
}

/* sv_checks_free - release every check in @cs. NULL-safe. */
static void sv_checks_free(struct sv_checks *cs)
{
	if (!cs)
		return;
	for (size_t k = 0; k < cs->n; k++) {
		struct sv_check *c = &cs->v[k];

		for (size_t j = 0; j < c->n_matches; j++) {
			free(c->matches[j].path);
			sv_value_free(&c->matches[j].want);
		}
		free(c->matches);
		free(c->skip_detail);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

/*
 * sv_checks_load - parse test.yaml @file into @cs (zeroed by the caller,
 * freed by the caller with sv_checks_free() whatever the result). Returns 0
 * or a negative sv_err after printing a message with file:line:column.
 */
static int sv_checks_load(const char *file, struct sv_checks *cs)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	bool parser_ok = false, doc_ok = false;
	struct sv_yaml_ctx ctx = { .doc = &doc, .file = file, .nodes_left = SV_MAX_NODES };
	struct sv_value checks_val = { 0 };
	struct sv_value *checks = &checks_val;
	yaml_node_t *root_node, *checks_node = NULL;
	FILE *fp;
	int rc = SV_OK;

	fp = fopen(file, "rb");
	if (!fp) {
		fprintf(stderr, "%s: %s: %s\n", sv_prog, file, strerror(errno));
		return SV_ERR_IO;
	}
	if (!yaml_parser_initialize(&parser)) {
		rc = SV_ERR_NOMEM;
		goto out;
	}
	parser_ok = true;
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &doc)) {
		fprintf(stderr, "%s: %s:%lu:%lu: invalid YAML: %s", sv_prog, file,
			(unsigned long)parser.problem_mark.line + 1,
			(unsigned long)parser.problem_mark.column + 1,
			parser.problem ? parser.problem : "parse error");
		if (parser.context)
			fprintf(stderr, " %s started on line %lu", parser.context,
				(unsigned long)parser.context_mark.line + 1);
		fputc('\n', stderr);
		rc = SV_ERR_SYNTAX;
		goto out;
	}
	doc_ok = true;
	root_node = yaml_document_get_root_node(&doc);
	if (!root_node) {
		fprintf(stderr, "%s: %s:1: empty YAML document\n", sv_prog, file);
		rc = SV_ERR_SCHEMA;
		goto out;
	}
	if (root_node->type != YAML_MAPPING_NODE) {
		fprintf(stderr, "%s: %s:%lu: top level must be a map\n", sv_prog, file,
			(unsigned long)root_node->start_mark.line + 1);
		rc = SV_ERR_SCHEMA;
		goto out;
	}
	/* Only `checks:` matters; other keys (args, requires...) are not read. */
	for (yaml_node_pair_t *p = root_node->data.mapping.pairs.start;
	     p < root_node->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, "checks") == 0)
			checks_node = yaml_document_get_node(&doc, p->value);
	}
	if (!checks_node)
		goto out; /* no checks: nothing to do */
	rc = sv_value_from_yaml(&ctx, checks_node, 0, checks);
	if (rc)
		goto out;
	if (checks->type == SV_V_NULL)
		goto out;
	if (checks->type != SV_V_SEQ) {
		fprintf(stderr, "%s: %s:%lu: `checks:` must be a list\n", sv_prog, file,
			checks->line);
		rc = SV_ERR_SCHEMA;
		goto out;
	}

	if (checks->n) {
		cs->v = calloc(checks->n, sizeof(*cs->v));
		if (!cs->v) {
			rc = SV_ERR_NOMEM;
			goto out;
		}
	}
	for (size_t k = 0; k < checks->n; k++) {
		struct sv_value *entry = &checks->items[k];
		struct sv_check *c = &cs->v[k];

		cs->n = k + 1;
		c->line = entry->line;
		if (entry->type != SV_V_MAP || entry->n == 0) {
			fprintf(stderr, "%s: %s:%lu: a check must be a map such as `filter:`\n",
				sv_prog, file, c->line);
			rc = SV_ERR_SCHEMA;
			goto out;
		}
		struct sv_value *filter = NULL;

		for (size_t j = 0; j < entry->n; j++)
			if (strcmp(entry->keys[j], "filter") == 0)
				filter = &entry->items[j];
		if (!filter) {
			c->skip = "unsupported check kind: ";
			c->skip_detail = sv_strndup(entry->keys[0], strlen(entry->keys[0]));
			if (!c->skip_detail) {
				rc = SV_ERR_NOMEM;
				goto out;
			}
			continue;
		}
		rc = sv_filter_convert(file, filter, c);
		if (rc)
			goto out;
	}
out:
	sv_value_free(&checks_val);
	if (doc_ok)
		yaml_document_delete(&doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	fclose(fp);
	return rc;
}

/* sv_records_free - release every record in @rs. NULL-safe. */
static void sv_records_free(struct sv_records *rs)
{
	if (!rs)
		return;
	for (size_t k = 0; k < rs->n; k++)
		cJSON_Delete(rs->v[k]);
	free(rs->v);
	free(rs->line);
	memset(rs, 0, sizeof(*rs));
}

/*
 * sv_records_push - append @rec (ownership moves to @rs) read at @line.
 * On failure @rec is freed. Returns 0 or SV_ERR_NOMEM.
 */
static int sv_records_push(struct sv_records *rs, cJSON *rec, unsigned long line)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		cJSON **v = realloc(rs->v, cap * sizeof(*v));

		if (!v)
			goto fail;
		rs->v = v;
		unsigned long *l = realloc(rs->line, cap * sizeof(*l));
		if (!l)
			goto fail;
		rs->line = l;
		rs->cap = cap;
	}
	rs->v[rs->n] = rec;
	rs->line[rs->n] = line;
	rs->n++;
	return SV_OK;
fail:
	cJSON_Delete(rec);
	return SV_ERR_NOMEM;
}

/* sv_is_blank - whether @s[0..len) holds only whitespace. */
static bool sv_is_blank(const char *s, size_t len)
{
	for (size_t k = 0; k < len; k++)
		if (s[k] != ' ' && s[k] != '\t' && s[k] != '\r' && s[k] != '\n')
			return false;
	return true;
}

/*
 * sv_records_load - read EVE JSON lines from @file into @rs (zeroed by the
 * caller, freed by the caller with sv_records_free() whatever the result).
 * Blank lines are ignored; every other line must hold one JSON object.
 * Returns 0 or a negative sv_err after printing file:line:column.
 */
static int sv_records_load(const char *file, struct sv_records *rs)
{
	FILE *fp;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long line = 0;
	int rc = SV_OK;

	fp = fopen(file, "rb");
	if (!fp) {
		fprintf(stderr, "%s: %s: %s\n", sv_prog, file, strerror(errno));
		return SV_ERR_IO;
	}
	while ((len = getline(&buf, &cap, fp)) != -1) {
		const char *end = NULL;
		cJSON *rec;

		line++;
		if (sv_is_blank(buf, (size_t)len))
			continue;
		rec = cJSON_ParseWithLengthOpts(buf, (size_t)len, &end, false);
		if (!rec || !sv_is_blank(end, (size_t)len - (size_t)(end - buf))) {
			const char *at = rec ? end : cJSON_GetErrorPtr();
			size_t col = at && at >= buf && at <= buf + len ? (size_t)(at - buf) + 1 : 1;

			fprintf(stderr, "%s: %s:%lu:%zu: invalid JSON%s\n", sv_prog, file, line, col,
				rec ? " (trailing data after the object)" : "");
			cJSON_Delete(rec);
			rc = SV_ERR_SYNTAX;
			goto out;
		}
		if (!cJSON_IsObject(rec)) {
			fprintf(stderr, "%s: %s:%lu: an EVE record must be a JSON object\n", sv_prog,
				file, line);
			cJSON_Delete(rec);
			rc = SV_ERR_SYNTAX;
			goto out;
		}
		rc = sv_records_push(rs, rec, line);
		if (rc)
			goto out;
	}
	if (ferror(fp)) {
		fprintf(stderr, "%s: %s: read error\n", sv_prog, file);
		rc = SV_ERR_IO;
	}
out:
	free(buf);
	fclose(fp);
	return rc;
}

/*
 * sv_json_member - the member @name (@len bytes) of object @obj, or NULL.
 * With duplicate keys the last one wins, as with Python's json.loads().
 */
static const cJSON *sv_json_member(const cJSON *obj, const char *name, size_t len)
{
	const cJSON *found = NULL;
	const cJSON *it;

	if (!cJSON_IsObject(obj))
		return NULL;
	cJSON_ArrayForEach(it, obj)
		if (it->string && strlen(it->string) == len && memcmp(it->string, name, len) == 0)
			found = it;
	return found;
}

/* sv_utf8_len - code points in @s, like Python's len() of a str. */
static size_t sv_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * sv_json_find - look up dotted @path in @rec like suricata-verify's
 * find_value(): parts split on '.', a part `name[N]` indexes an array, and
 * `__len` yields the length of what was found so far (-1 for a number).
 * Returns false when the path does not exist or leads to JSON null (Python's
 * None); else true with @f->node set (possibly to @f->len_item). @f->depth
 * counts the parts that resolved, also on failure.
 */
static bool sv_json_find(const cJSON *rec, const char *path, struct sv_found *f)
{
	const cJSON *obj = rec;
	const char *part = path;

	memset(f, 0, sizeof(*f));
	for (;;) {
		const char *dot = strchr(part, '.');
		size_t plen = dot ? (size_t)(dot - part) : strlen(part);
		size_t nlen = plen;
		long index = -1;

		if (plen == 5 && memcmp(part, "__len", 5) == 0) {
			double len = -1;

			if (cJSON_IsArray(obj) || cJSON_IsObject(obj))
				len = cJSON_GetArraySize(obj);
			else if (cJSON_IsString(obj))
				len = (double)sv_utf8_len(obj->valuestring);
			f->len_item.type = cJSON_Number;
			f->len_item.valuedouble = len;
			f->len_item.valueint = (int)len;
			f->node = &f->len_item;
			return true;
		}
		if (plen >= 3 && part[plen - 1] == ']') {
			size_t open = plen - 1;

			while (open > 0 && part[open - 1] >= '0' && part[open - 1] <= '9')
				open--;
			if (open > 0 && open < plen - 1 && part[open - 1] == '[') {
				index = strtol(part + open, NULL, 10);
				nlen = open - 1;
			}
		}
		obj = sv_json_member(obj, part, nlen);
		if (!obj)
			return false;
		if (index >= 0) {
			if (!cJSON_IsArray(obj) || index >= cJSON_GetArraySize(obj))
				return false;
			obj = cJSON_GetArrayItem(obj, (int)index);
		}
		f->depth++;
		if (!dot)
			break;
		part = dot + 1;
	}
	if (!obj || cJSON_IsNull(obj))
		return false;
	f->node = obj;
	return true;
}

/*
 * sv_value_equal - whether JSON @got equals expected @want (see the file
 * comment for the rules). Maps compare exactly: same key set, equal values.
 */
static bool sv_value_equal(const struct sv_value *want, const cJSON *got)
{
	if (want->plain && cJSON_IsString(got) && strcmp(got->valuestring, want->text) == 0)
		return true;
	switch (want->type) {
	case SV_V_NULL:
		return cJSON_IsNull(got);
	case SV_V_BOOL:
		return cJSON_IsBool(got) && !!cJSON_IsTrue(got) == want->b;
	case SV_V_INT:
		return cJSON_IsNumber(got) && got->valuedouble == (double)want->i;
	case SV_V_FLOAT:
		return cJSON_IsNumber(got) && got->valuedouble == want->f;
	case SV_V_STR:
		return cJSON_IsString(got) && strlen(got->valuestring) == want->text_len &&
		       memcmp(got->valuestring, want->text, want->text_len) == 0;
	case SV_V_SEQ: {
		const cJSON *it;
		size_t k = 0;

		if (!cJSON_IsArray(got) || (size_t)cJSON_GetArraySize(got) != want->n)
			return false;
		cJSON_ArrayForEach(it, got)
			if (!sv_value_equal(&want->items[k++], it))
				return false;
		return true;
	}
	case SV_V_MAP: {
		const cJSON *it;

		if (!cJSON_IsObject(got))
			return false;
		cJSON_ArrayForEach(it, got)
			if (!it->string || !sv_map_get(want, it->string))
				return false; /* a key the test does not expect */
		for (size_t k = 0; k < want->n; k++) {
			const cJSON *v = sv_json_member(got, want->keys[k], strlen(want->keys[k]));

			if (!v || !sv_value_equal(&want->items[k], v))
				return false;
		}
		return true;
	}
	}
	return false;
}

/*
 * sv_match_eval_found - whether record @rec satisfies match entry @m, with
 * the lookup result left in @f. Like suricata-verify, a missing path equals
 * an expected null.
 */
static bool sv_match_eval_found(const struct sv_match *m, const cJSON *rec, struct sv_found *f)
{
	bool found = sv_json_find(rec, m->path, f);

	switch (m->kind) {
	case SV_M_HAS_KEY:
		return found;
	case SV_M_NOT_HAS_KEY:
		return !found;
	case SV_M_EQ:
		if (!found)
			return m->want.type == SV_V_NULL;
		return sv_value_equal(&m->want, f->node);
	}
	return false;
}

/* sv_match_eval - whether record @rec satisfies match entry @m. */
static bool sv_match_eval(const struct sv_match *m, const cJSON *rec)
{
	struct sv_found f;

	return sv_match_eval_found(m, rec, &f);
}

/*
 * sv_record_score - how close @rec comes to satisfying all of @c: scores
 * compare first by entries satisfied, then by how deep the paths of the
 * other entries reach into @rec. Sets @all when every entry is satisfied.
 */
static unsigned long long sv_record_score(const struct sv_check *c, const cJSON *rec, bool *all)
{
	unsigned long long met = 0, reach = 0;
	struct sv_found f;

	for (size_t k = 0; k < c->n_matches; k++) {
		if (sv_match_eval_found(&c->matches[k], rec, &f))
			met++;
		else
			reach += f.depth;
	}
	*all = met == c->n_matches;
	return met << 32 | (reach & 0xffffffffu);
}

/*
 * sv_value_to_json - build a cJSON tree for @v (typed as resolved), for
 * printing. Returns a new tree the caller deletes, or NULL on no memory.
 */
static cJSON *sv_value_to_json(const struct sv_value *v)
{
	cJSON *j = NULL;

	switch (v->type) {
	case SV_V_NULL:
		return cJSON_CreateNull();
	case SV_V_BOOL:
		return cJSON_CreateBool(v->b);
	case SV_V_INT:
		return cJSON_CreateNumber((double)v->i);
	case SV_V_FLOAT:
		return cJSON_CreateNumber(v->f);
	case SV_V_STR:
		return cJSON_CreateString(v->text);
	case SV_V_SEQ:
		j = cJSON_CreateArray();
		break;
	case SV_V_MAP:
		j = cJSON_CreateObject();
		break;
	}
	if (!j)
		return NULL;
	for (size_t k = 0; k < v->n; k++) {
		cJSON *item = sv_value_to_json(&v->items[k]);

		if (!item) {
			cJSON_Delete(j);
			return NULL;
		}
		if (v->type == SV_V_SEQ)
			cJSON_AddItemToArray(j, item);
		else
			cJSON_AddItemToObject(j, v->keys[k], item);
	}
	return j;
}

/*
 * sv_print_json_short - print @j compactly to @out, cut after SV_SHOW_MAX
 * characters with a note of the full size.
 */
static void sv_print_json_short(FILE *out, const cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	size_t len;

	if (!s) {
		fputs("(?)", out);
		return;
	}
	len = strlen(s);
	if (len > SV_SHOW_MAX)
		fprintf(out, "%.*s...(%zu chars)", SV_SHOW_MAX, s, len);
	else
		fputs(s, out);
	free(s);
}

/* sv_print_want - print expected value @v the way sv_print_json_short does. */
static void sv_print_want(FILE *out, const struct sv_value *v)
{
	cJSON *j = sv_value_to_json(v);

	sv_print_json_short(out, j);
	cJSON_Delete(j);
}

/*
 * sv_print_mismatch - explain on @out why @m fails on @rec: what was found
 * at the path and what was wanted, plus where two strings first differ.
 */
static void sv_print_mismatch(FILE *out, const struct sv_match *m, const cJSON *rec)
{
	struct sv_found f;
	bool found = sv_json_find(rec, m->path, &f);

	switch (m->kind) {
	case SV_M_HAS_KEY:
		fprintf(out, "%s is missing (has-key)", m->path);
		return;
	case SV_M_NOT_HAS_KEY:
		fprintf(out, "%s is present (not-has-key)", m->path);
		return;
	case SV_M_EQ:
		break;
	}
	if (!found) {
		fprintf(out, "%s is missing, want ", m->path);
		sv_print_want(out, &m->want);
		return;
	}
	fprintf(out, "%s is ", m->path);
	sv_print_json_short(out, f.node);
	fputs(", want ", out);
	sv_print_want(out, &m->want);
	if (m->want.type == SV_V_STR && cJSON_IsString(f.node)) {
		const char *a = f.node->valuestring, *b = m->want.text;
		size_t k = 0;

		while (a[k] && k < m->want.text_len && a[k] == b[k])
			k++;
		fprintf(out, " (%zu vs %zu bytes, first difference at byte %zu)", strlen(a),
			m->want.text_len, k);
	}
}

/*
 * sv_check_run - evaluate check number @num (1-based) against @rs and print
 * its PASS/FAIL/SKIP line on stdout. Returns 1 for FAIL, else 0.
 */
static int sv_check_run(const struct sv_check *c, size_t num, const struct sv_records *rs,
			const char *eve_file)
{
	unsigned long long best_score = 0;
	size_t matched = 0, best = SIZE_MAX;
	bool ok;

	if (c->skip) {
		printf("SKIP check %zu (line %lu): %s%s\n", num, c->line, c->skip,
		       c->skip_detail ? c->skip_detail : "");
		return 0;
	}
	for (size_t r = 0; r < rs->n; r++) {
		bool all;
		unsigned long long score = sv_record_score(c, rs->v[r], &all);

		if (all)
			matched++;
		else if (best == SIZE_MAX || score > best_score) {
			best = r;
			best_score = score;
		}
	}
	ok = c->has_count ? (long long)matched == c->count : matched >= 1;
	if (ok) {
		printf("PASS check %zu (line %lu): %zu matching record%s\n", num, c->line, matched,
		       matched == 1 ? "" : "s");
		return 0;
	}
	if (c->has_count)
		printf("FAIL check %zu (line %lu): expected %lld matching record%s, got %zu", num,
		       c->line, c->count, c->count == 1 ? "" : "s", matched);
	else
		printf("FAIL check %zu (line %lu): expected at least 1 matching record, got 0",
		       num, c->line);

	if (c->has_count && (long long)matched > c->count) {
		size_t listed = 0;

		printf("; matching %s lines:", eve_file);
		for (size_t r = 0; r < rs->n && listed < SV_LIST_MAX; r++) {
			size_t k = 0;

			while (k < c->n_matches && sv_match_eval(&c->matches[k], rs->v[r]))
				k++;
			if (k == c->n_matches) {
				printf(" %lu", rs->line[r]);
				listed++;
			}
		}
		if (matched > listed)
			printf(" ...");
	} else if (best == SIZE_MAX) {
		printf("; %s has no %srecords", eve_file, rs->n ? "other " : "");
	} else {
		size_t misses = 0;

		printf("; closest is %s line %lu: ", eve_file, rs->line[best]);
		for (size_t k = 0; k < c->n_matches; k++) {
			if (sv_match_eval(&c->matches[k], rs->v[best]))
				continue;
			if (misses == 0)
				sv_print_mismatch(stdout, &c->matches[k], rs->v[best]);
			else if (misses <= SV_LIST_MAX)
				printf("%s%s", misses == 1 ? "; also differs: " : ", ",
				       c->matches[k].path);
			else if (misses == SV_LIST_MAX + 1)
				fputs(", ...", stdout);
			misses++;
		}
	}
	putchar('\n');
	return 1;
}

int main(int argc, char **argv)
{
	struct sv_checks cs = { 0 };
	struct sv_records rs = { 0 };
	int status = SV_EXIT_ERROR;
	size_t failed = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s TEST_YAML EVE_JSONL\n", sv_prog);
		return SV_EXIT_ERROR;
	}
	if (sv_checks_load(argv[1], &cs) != SV_OK)
		goto out;
	if (sv_records_load(argv[2], &rs) != SV_OK)
		goto out;
	if (cs.n == 0)
		fprintf(stderr, "%s: %s: no checks\n", sv_prog, argv[1]);
	for (size_t k = 0; k < cs.n; k++)
		failed += (size_t)sv_check_run(&cs.v[k], k + 1, &rs, argv[2]);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the report\n", sv_prog);
		goto out;
	}
	status = failed ? SV_EXIT_FAIL : SV_EXIT_PASS;
out:
	sv_records_free(&rs);
	sv_checks_free(&cs);
	return status;
}
