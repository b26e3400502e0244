/*
 * rule_parse.c - the seed-004 rule language (docs/rules.md): variables,
 * the line reader (comments, continuations), the header and option parser
 * with NAME:LINE:COL messages, and the rule set with its candidate index
 * (by event kind, MQTT packet type and, for PUBLISH, the topic's first
 * level). Rule text is untrusted: lines, lists, nesting and the number
 * of rules are capped, and a broken rule is reported and skipped.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, strncasecmp */
#include "rules/rules.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "event/anomalies.h"
#include "mqtt/mqtt_parse.h"
#include "rules/rules_int.h"

#define RULE_LINE_MAX (64u * 1024u) /* bytes of one rule, continuations joined */
#define RULES_MAX 100000u           /* rules in one set */
#define RULE_LIST_MAX 4096u         /* entries of an address/port set or option list */
#define RULE_VAR_DEPTH 16u          /* nested $VAR expansions */
#define RULE_NEST_MAX 64u           /* brackets and '!' in one expression */
#define RULE_EXPAND_BUDGET 100000u  /* elements visited expanding one header field */
#define ECHO_MAX 40u                /* bytes of a bad token quoted in a message */
#define AUTO_SID_BIT 0x80000000u
#define ANOMALY_SUGGEST_MAX 256u     /* registered names tried for "did you mean" */
#define ANOMALY_GLOB_MAX 256u        /* bytes of an anomaly glob (names are short) */

/* ---- variables ---- */

int rule_vars_set(struct rule_vars *vs, const char *name, const char *value,
		  bool port)
{
	size_t nl = strlen(name), vl = strlen(value);
	if (nl == 0 || nl >= sizeof(vs->v[0].name) ||
	    vl >= sizeof(vs->v[0].value))
		return -1;
	unsigned i;
	for (i = 0; i < vs->n; i++)
		if (vs->v[i].port == port && !strcmp(vs->v[i].name, name))
			break;
	if (i == vs->n) {
		if (vs->n >= RULE_VARS_MAX)
			return -1;
		vs->n++;
	}
	memcpy(vs->v[i].name, name, nl + 1);
	memcpy(vs->v[i].value, value, vl + 1);
	vs->v[i].port = port;
	return 0;
}

void rule_vars_default(struct rule_vars *vs)
{
	memset(vs, 0, sizeof(*vs));
	rule_vars_set(vs, "HOME_NET",
		      "[10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,"
		      "fc00::/7,::1]", false);
	rule_vars_set(vs, "EXTERNAL_NET", "!$HOME_NET", false);
	rule_vars_set(vs, "SELF", "broker", false);
	rule_vars_set(vs, "ADMIN_HOSTS", "[]", false); /* matches nothing */
	rule_vars_set(vs, "MQTT_PORTS", "[1883,8883]", true);
}

static const char *vars_find(const struct rule_vars *vs, const char *name,
			     size_t n, bool port)
{
	for (unsigned i = 0; i < vs->n; i++)
		if (vs->v[i].port == port && strlen(vs->v[i].name) == n &&
		    !memcmp(vs->v[i].name, name, n))
			return vs->v[i].value;
	return NULL;
}

/* ---- the rule set ---- */

/* Frees what r owns (not r: rules live in chunks or on the stack). */
static void rule_free(struct rule *r)
{
	free(r->name);
	free(r->classtype);
	free(r->raw);
	free(r->src.pos);
	free(r->src.neg);
	free(r->dst.pos);
	free(r->dst.neg);
	free(r->sport.r);
	free(r->dport.r);
	for (uint32_t i = 0; i < r->n_topics; i++)
		free(r->topics[i]);
	free(r->topics);
	for (uint32_t i = 0; i < r->n_filters; i++)
		free(r->filters[i]);
	free(r->filters);
	for (uint32_t i = 0; i < r->n_client_ids; i++)
		free(r->client_ids[i]);
	free(r->client_ids);
	for (uint32_t i = 0; i < r->n_usernames; i++)
		free(r->usernames[i]);
	free(r->usernames);
	for (uint32_t i = 0; i < r->n_anomalies; i++)
		free(r->anomalies[i]);
	free(r->anomalies);
}

/* A slot for one more rule: chunks grow from 16 to 1024 rules. */
static struct rule *rule_slot(struct ruleset *rs)
{
	struct rule_chunk *c = rs->chunks;
	if (!c || c->used == c->cap) {
		uint32_t cap = c ? (c->cap < 1024 ? c->cap * 2 : 1024) : 16;
		struct rule_chunk *nc =
			calloc(1, sizeof(*nc) + cap * sizeof(struct rule));
		if (!nc)
			return NULL;
		nc->cap = cap;
		nc->next = c;
		rs->chunks = c = nc;
	}
	return &c->r[c->used++];
}

struct ruleset *ruleset_new(const struct rule_vars *vars)
{
	struct ruleset *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	if (vars)
		rs->vars = *vars;
	else
		rule_vars_default(&rs->vars);
	return rs;
}

void ruleset_free(struct ruleset *rs)
{
	if (!rs)
		return;
	rules_index_free(rs);
	for (size_t i = 0; i < rs->n; i++)
		rule_free(rs->rules[i]);
	free(rs->rules);
	while (rs->chunks) {
		struct rule_chunk *next = rs->chunks->next;
		free(rs->chunks);
		rs->chunks = next;
	}
	for (size_t i = 0; i < rs->n_files; i++)
		free(rs->files[i]);
	free(rs->files);
	free(rs->sid_keys);
	free(rs->sid_vals);
	ruleset_classes_free(rs);
	free(rs->class_file);
	free(rs);
}

size_t ruleset_count(const struct ruleset *rs)
{
	return rs ? rs->n : 0;
}

const struct rule *ruleset_get(const struct ruleset *rs, size_t i)
{
	return rs && i < rs->n ? rs->rules[i] : NULL;
}

static uint32_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

/* Looks sid up; returns the index + 1 of the first rule with it, or 0. */
static uint32_t sid_lookup(const struct ruleset *rs, uint32_t sid)
{
	if (!rs->sid_cap)
		return 0;
	size_t m = rs->sid_cap - 1;
	for (size_t i = fnv1a(&sid, sizeof(sid)) & m;; i = (i + 1) & m) {
		if (!rs->sid_vals[i])
			return 0;
		if (rs->sid_keys[i] == sid)
			return rs->sid_vals[i];
	}
}

static void sid_put(uint32_t *keys, uint32_t *vals, size_t cap, uint32_t sid,
		    uint32_t val)
{
	size_t m = cap - 1;
	size_t i = fnv1a(&sid, sizeof(sid)) & m;
	while (vals[i])
		i = (i + 1) & m;
	keys[i] = sid;
	vals[i] = val;
}

/* Records the first rule with each sid (kept at most half full). */
static int sid_insert(struct ruleset *rs, uint32_t sid, uint32_t val)
{
	if ((rs->sid_n + 1) * 2 > rs->sid_cap) {
		size_t nc = rs->sid_cap ? rs->sid_cap * 2 : 256;
		uint32_t *nk = calloc(nc, sizeof(*nk));
		uint32_t *nv = calloc(nc, sizeof(*nv));
		if (!nk || !nv) {
			free(nk);
			free(nv);
			return -1;
		}
		for (size_t i = 0; i < rs->sid_cap; i++)
			if (rs->sid_vals[i])
				sid_put(nk, nv, nc, rs->sid_keys[i],
					rs->sid_vals[i]);
		free(rs->sid_keys);
		free(rs->sid_vals);
		rs->sid_keys = nk;
		rs->sid_vals = nv;
		rs->sid_cap = nc;
	}
	sid_put(rs->sid_keys, rs->sid_vals, rs->sid_cap, sid, val);
	rs->sid_n++;
	return 0;
}

/* ---- priorities ---- */

static const char *const prio_names[5] = {
	"Informational", "Low", "Medium", "High", "Critical",
};

const char *rule_priority_name(unsigned priority)
{
	return priority < 5 ? prio_names[priority] : "Unknown";
}

/* Seed priority 4 (Critical) is Suricata severity 1 (highest); Low and
 * Informational share severity 4, Suricata's lowest. */
unsigned rule_severity(unsigned priority)
{
	if (priority >= 4)
		return 1;
	if (priority == 3)
		return 2;
	if (priority == 2)
		return 3;
	return 4;
}

/* ---- the loader: one rule text at a time ---- */

struct seg {
	size_t off;    /* where the physical line starts in buf */
	unsigned line;
};

struct loader {
	struct ruleset *rs;
	const char *name; /* as printed in messages; owned by rs->files */
	FILE *errs;
	int errors;
	char *buf; /* the joined rule, RULE_LINE_MAX + 1 bytes */
	size_t len;
	bool too_long;
	struct seg *segs;
	size_t n_segs, seg_cap;
};

/* The parse of one rule. */
struct pctx {
	struct loader *L;
	const char *s; /* L->buf */
	size_t n;
	struct rule *r;
	bool failed; /* its one error was printed */
	char echo[2][ECHO_MAX * 4 + 16];
};

static void off_pos(const struct loader *L, size_t off, unsigned *line,
		    unsigned *col)
{
	size_t k = 0;
	for (size_t i = 1; i < L->n_segs; i++)
		if (L->segs[i].off <= off)
			k = i;
	*line = L->segs[k].line;
	*col = (unsigned)(off - L->segs[k].off) + 1;
}

__attribute__((format(printf, 4, 0)))
static void vmsg(struct loader *L, size_t off, const char *kind,
		 const char *fmt, va_list ap)
{
	unsigned line, col;
	if (!L->errs)
		return;
	off_pos(L, off, &line, &col);
	fprintf(L->errs, "%s:%u:%u: %s: ", L->name, line, col, kind);
	vfprintf(L->errs, fmt, ap);
	fputc('\n', L->errs);
}

/* Reports the rule's (first) error at byte offset off; returns -1. */
__attribute__((format(printf, 3, 4)))
static int perr(struct pctx *P, size_t off, const char *fmt, ...)
{
	if (P->failed)
		return -1;
	P->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vmsg(P->L, off, "error", fmt, ap);
	va_end(ap);
	return -1;
}

__attribute__((format(printf, 3, 4)))
static void pwarn(struct pctx *P, size_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(P->L, off, "warning", fmt, ap);
	va_end(ap);
}

/*
 * Quotes p[0..n) for a message into echo buffer k: at most ECHO_MAX bytes
 * (cut at a UTF-8 character boundary, then "..."), control bytes and DEL
 * as \xNN, so a message is always one printable line.
 */
static const char *echo(struct pctx *P, int k, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o = P->echo[k];
	bool cut = n > ECHO_MAX;
	if (cut) {
		n = ECHO_MAX;
		while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
			n--;
	}
	*o++ = '\'';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	if (cut) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '\'';
	*o = 0;
	return P->echo[k];
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && is_ws(s[i]))
		i++;
	return i;
}

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* The token at s[i..): a word, or the one punctuation byte there. */
static const char *got_at(struct pctx *P, int k, const char *s, size_t n,
			  size_t i)
{
	if (i >= n)
		return "end of rule";
	size_t j = i;
	while (j < n && !is_ws(s[j]) && s[j] != ';' && s[j] != ',' &&
	       s[j] != ']' && s[j] != '[')
		j++;
	if (j == i)
		j = i + 1;
	return echo(P, k, s + i, j - i);
}

/* Edit distance (Levenshtein, up to 32 bytes), for "did you mean". */
static unsigned edit_dist(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	unsigned row[33];
	if (an > 32 || bn > 32)
		return 99;
	for (size_t j = 0; j <= bn; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= an; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= bn; j++) {
			unsigned up = row[j];
			char ca = a[i - 1], cb = b[j - 1];
			if (ca >= 'A' && ca <= 'Z')
				ca = (char)(ca - 'A' + 'a');
			unsigned best = diag + (ca != cb);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[bn];
}

/* The candidate closest to w (within about a third of its length), or
 * NULL. */
static const char *suggest(const char *w, size_t n, const char *const *cands,
			   size_t nc)
{
	const char *best = NULL;
	unsigned bd = (n < 6 ? 1 : n < 9 ? 2 : 3) + 1;
	for (size_t i = 0; i < nc; i++) {
		unsigned d = edit_dist(w, n, cands[i]);
		if (d > 0 && d < bd) {
			bd = d;
			best = cands[i];
		}
	}
	return best;
}

/* Formats " (did you mean 'x'?)" or "" into buf. */
static const char *mean(char *buf, size_t sz, const char *s)
{
	if (!s)
		return "";
	snprintf(buf, sz, " (did you mean '%s'?)", s);
	return buf;
}

static char *dupn(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

static int oom(struct pctx *P)
{
	return perr(P, 0, "out of memory");
}

/* ---- address and port sets ---- */

/*
 * A set under construction. Its value is its positive part (the whole
 * space when pos_all or when it has no explicit positive part) minus its
 * negative part. Lists are flattened as Suricata does: [a, !b] is a
 * minus b; negating a set swaps its parts, which works when one is empty.
 */
struct eset {
	bool has_pos, pos_all;
	bool pb, nb; /* "broker" in the positive / negative part */
	uint8_t *pos, *neg; /* struct rule_cidr or struct prange */
	uint32_t npos, nneg, cpos, cneg;
};

struct prange {
	uint16_t lo, hi;
};

/* Expanding one header field. */
struct xctx {
	struct pctx *P;
	bool port;
	size_t esz;
	uint32_t budget;
	const char *stack[RULE_VAR_DEPTH + 1]; /* $VARs being expanded */
	size_t stack_len[RULE_VAR_DEPTH + 1];
	unsigned depth;
	size_t ref_off; /* the outermost $VAR in the rule */
};

struct xlex {
	const char *p;
	size_t n, i;
	size_t base; /* offset of p[0] in the rule (rule text only) */
};

static void eset_free(struct eset *e)
{
	free(e->pos);
	free(e->neg);
	memset(e, 0, sizeof(*e));
}

static bool eset_nothing(const struct eset *e)
{
	return e->has_pos && !e->pos_all && e->npos == 0 && !e->pb;
}

/* Reports an error at the current spot: in the rule, or at the $VAR
 * reference when inside a variable's value. */
__attribute__((format(printf, 3, 4)))
static int xerr(struct xctx *X, const struct xlex *lx, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (X->depth == 0)
		return perr(X->P, lx->base + lx->i, "%s", msg);
	return perr(X->P, X->ref_off, "in $%.*s: %s",
		    (int)X->stack_len[X->depth - 1], X->stack[X->depth - 1],
		    msg);
}

/* What stands at lx->i, for "got ...": in the rule, the rule's own
 * text (so the end of a field shows as the ';' or token after it). */
static const char *xgot(struct xctx *X, const struct xlex *lx)
{
	if (X->depth == 0)
		return got_at(X->P, 0, X->P->s, X->P->n, lx->base + lx->i);
	if (lx->i >= lx->n)
		return "end of variable";
	return got_at(X->P, 0, lx->p, lx->n, lx->i);
}

static int add_entry(struct xctx *X, const struct xlex *lx, uint8_t **v,
		     uint32_t *n, uint32_t *cap, const void *e)
{
	if (*n >= RULE_LIST_MAX)
		return xerr(X, lx, "%s list longer than %u entries",
			    X->port ? "port" : "address", RULE_LIST_MAX);
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 4;
		uint8_t *nv = realloc(*v, (size_t)nc * X->esz);
		if (!nv)
			return oom(X->P);
		*v = nv;
		*cap = nc;
	}
	memcpy(*v + (size_t)*n * X->esz, e, X->esz);
	(*n)++;
	return 0;
}

/* Adds element e (consumed) to list out; a set matching nothing adds
 * nothing. */
static int eset_merge(struct xctx *X, const struct xlex *lx, struct eset *out,
		      struct eset *e)
{
	int rc = 0;
	if (eset_nothing(e))
		goto out;
	out->has_pos |= e->has_pos;
	out->pos_all |= e->pos_all;
	out->pb |= e->pb;
	out->nb |= e->nb;
	for (uint32_t i = 0; i < e->npos && !rc; i++)
		rc = add_entry(X, lx, &out->pos, &out->npos, &out->cpos,
			       e->pos + (size_t)i * X->esz);
	for (uint32_t i = 0; i < e->nneg && !rc; i++)
		rc = add_entry(X, lx, &out->neg, &out->nneg, &out->cneg,
			       e->neg + (size_t)i * X->esz);
out:
	eset_free(e);
	return rc;
}

static void eset_swap_parts(struct eset *e)
{
	uint8_t *tp = e->pos;
	uint32_t tn = e->npos, tc = e->cpos;
	bool tb = e->pb;
	e->pos = e->neg;
	e->npos = e->nneg;
	e->cpos = e->cneg;
	e->pb = e->nb;
	e->neg = tp;
	e->nneg = tn;
	e->cneg = tc;
	e->nb = tb;
}

/* !e. The complement of "P minus N" is a set of our shape only when P or
 * N is empty (or P is everything). */
static int eset_negate(struct xctx *X, const struct xlex *lx, struct eset *e)
{
	bool neg_empty = e->nneg == 0 && !e->nb;
	if (eset_nothing(e)) {
		eset_free(e); /* everything */
		return 0;
	}
	if (!e->has_pos || e->pos_all) {
		/* everything minus N: complement is N */
		free(e->pos);
		e->pos = NULL;
		e->npos = e->cpos = 0;
		e->pb = false;
		eset_swap_parts(e);
		e->has_pos = true;
		e->pos_all = false;
		return 0;
	}
	if (!neg_empty)
		return xerr(X, lx, "cannot negate a list with both plain and "
			    "negated entries");
	eset_swap_parts(e);
	e->has_pos = false;
	return 0;
}

static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

static bool word_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && !strncasecmp(w, kw, n);
}

/* An address word: broker, IPv4 or IPv6, optionally /bits. */
static int addr_word(struct xctx *X, struct xlex *lx, const char *w, size_t n,
		     struct eset *e)
{
	struct pctx *P = X->P;
	if (word_is(w, n, "broker")) {
		e->has_pos = e->pb = true;
		return 0;
	}
	char ip[64];
	const char *slash = memchr(w, '/', n);
	size_t al = slash ? (size_t)(slash - w) : n;
	struct rule_cidr c;
	memset(&c, 0, sizeof(c));
	if (al == 0 || al >= sizeof(ip))
		return xerr(X, lx, "expected address, got %s",
			    echo(P, 0, w, n));
	memcpy(ip, w, al);
	ip[al] = 0;
	if (inet_pton(AF_INET, ip, c.addr) == 1)
		c.family = 4;
	else if (inet_pton(AF_INET6, ip, c.addr) == 1)
		c.family = 6;
	else
		return xerr(X, lx, "expected address, got %s",
			    echo(P, 0, w, n));
	unsigned maxb = c.family == 4 ? 32 : 128;
	uint64_t bits = maxb;
	if (slash && !parse_uint(slash + 1, n - al - 1, maxb, &bits))
		return xerr(X, lx, "expected prefix length 0-%u, got %s", maxb,
			    echo(P, 0, w, n));
	c.bits = (uint8_t)bits;
	e->has_pos = true;
	return add_entry(X, lx, &e->pos, &e->npos, &e->cpos, &c);
}

/* A port word: N, lo:hi, :hi or lo:. */
static int port_word(struct xctx *X, struct xlex *lx, const char *w, size_t n,
		     struct eset *e)
{
	const char *colon = memchr(w, ':', n);
	uint64_t lo = 0, hi = 65535;
	bool ok;
	if (!colon) {
		ok = parse_uint(w, n, 65535, &lo);
		hi = lo;
	} else {
		size_t ln = (size_t)(colon - w), hn = n - ln - 1;
		ok = (ln || hn) && (!ln || parse_uint(w, ln, 65535, &lo)) &&
		     (!hn || parse_uint(colon + 1, hn, 65535, &hi));
	}
	if (!ok)
		return xerr(X, lx, "expected port 0-65535 or range lo:hi, got %s",
			    echo(X->P, 0, w, n));
	if (lo > hi)
		return xerr(X, lx, "empty port range %s (low > high)",
			    echo(X->P, 0, w, n));
	struct prange r = { (uint16_t)lo, (uint16_t)hi };
	e->has_pos = true;
	return add_entry(X, lx, &e->pos, &e->npos, &e->cpos, &r);
}

static int set_expr(struct xctx *X, struct xlex *lx, unsigned nest,
		    struct eset *out);

/* $NAME: the variable's value parsed as a whole expression. */
static int set_var(struct xctx *X, struct xlex *lx, unsigned nest,
		   struct eset *out)
{
	struct pctx *P = X->P;
	const char *what = X->port ? "port" : "address";
	size_t s = ++lx->i;
	while (lx->i < lx->n && is_word(lx->p[lx->i]))
		lx->i++;
	const char *name = lx->p + s;
	size_t nl = lx->i - s;
	if (nl == 0) {
		lx->i = s;
		return xerr(X, lx, "expected variable name after '$', got %s",
			    xgot(X, lx));
	}
	lx->i = s - 1; /* errors about the variable point at its '$' */
	const char *val = vars_find(&P->L->rs->vars, name, nl, X->port);
	if (!val) {
		if (vars_find(&P->L->rs->vars, name, nl, !X->port))
			return xerr(X, lx, "$%.*s is a%s variable, not a%s "
				    "variable", (int)nl, name,
				    X->port ? "n address" : " port",
				    X->port ? " port" : "n address");
		return xerr(X, lx, "unknown %s variable $%.*s", what, (int)nl,
			    name);
	}
	for (unsigned k = 0; k < X->depth; k++) {
		if (X->stack_len[k] == nl && !memcmp(X->stack[k], name, nl))
			return xerr(X, lx, "variable $%.*s refers to itself",
				    (int)nl, name);
	}
	if (X->depth >= RULE_VAR_DEPTH)
		return xerr(X, lx, "variables nested deeper than %u at $%.*s",
			    RULE_VAR_DEPTH, (int)nl, name);
	if (X->depth == 0)
		X->ref_off = lx->base + lx->i;
	X->stack[X->depth] = name;
	X->stack_len[X->depth] = nl;
	X->depth++;
	struct xlex sub = { val, strlen(val), 0, 0 };
	int rc = set_expr(X, &sub, nest, out);
	if (!rc) {
		sub.i = skip_ws(sub.p, sub.n, sub.i);
		if (sub.i < sub.n)
			rc = xerr(X, &sub, "unexpected %s after the %s",
				  got_at(P, 0, sub.p, sub.n, sub.i), what);
	}
	X->depth--;
	lx->i = s + nl;
	return rc;
}

static int set_list(struct xctx *X, struct xlex *lx, unsigned nest,
		    struct eset *out)
{
	bool any_elem = false;
	lx->i++; /* '[' */
	for (bool first = true;; first = false) {
		lx->i = skip_ws(lx->p, lx->n, lx->i);
		if (first && lx->i < lx->n && lx->p[lx->i] == ']') {
			lx->i++;
			break;
		}
		struct eset e;
		memset(&e, 0, sizeof(e));
		if (set_expr(X, lx, nest + 1, &e)) {
			eset_free(&e);
			return -1;
		}
		any_elem |= !eset_nothing(&e);
		if (eset_merge(X, lx, out, &e))
			return -1;
		lx->i = skip_ws(lx->p, lx->n, lx->i);
		if (lx->i < lx->n && lx->p[lx->i] == ',') {
			lx->i++;
			continue;
		}
		if (lx->i < lx->n && lx->p[lx->i] == ']') {
			lx->i++;
			break;
		}
		return xerr(X, lx, "expected ',' or ']' in %s list, got %s",
			    X->port ? "port" : "address", xgot(X, lx));
	}
	if (!any_elem) { /* [] and lists of such: nothing */
		eset_free(out);
		out->has_pos = true;
	}
	return 0;
}

/*
 * One element of an address or port expression at lx->i: any, a word,
 * $VAR, !element or [list]. nest counts brackets and '!' so a hostile
 * line cannot recurse deeply; budget bounds the work of expanding
 * variables that refer to others many times over.
 */
static int set_expr(struct xctx *X, struct xlex *lx, unsigned nest,
		    struct eset *out)
{
	const char *what = X->port ? "port" : "address";
	lx->i = skip_ws(lx->p, lx->n, lx->i);
	if (nest > RULE_NEST_MAX)
		return xerr(X, lx, "%s nested deeper than %u", what,
			    RULE_NEST_MAX);
	if (X->budget == 0)
		return xerr(X, lx, "%s expands to too many elements", what);
	X->budget--;
	if (lx->i >= lx->n)
		return xerr(X, lx, "expected %s, got %s", what, xgot(X, lx));
	char c = lx->p[lx->i];
	if (c == '!') {
		lx->i++;
		size_t at = lx->i;
		if (set_expr(X, lx, nest + 1, out))
			return -1;
		struct xlex here = *lx;
		here.i = at - 1; /* at the '!' */
		return eset_negate(X, &here, out);
	}
	if (c == '[')
		return set_list(X, lx, nest, out);
	if (c == '$')
		return set_var(X, lx, nest, out);
	size_t s = lx->i;
	while (lx->i < lx->n && !is_ws(lx->p[lx->i]) &&
	       !strchr(",[]!;$", lx->p[lx->i]))
		lx->i++;
	if (lx->i == s)
		return xerr(X, lx, "expected %s, got %s", what, xgot(X, lx));
	struct xlex at = *lx;
	at.i = s;
	if (word_is(lx->p + s, lx->i - s, "any")) {
		out->has_pos = out->pos_all = true;
		return 0;
	}
	if (X->port)
		return port_word(X, &at, lx->p + s, lx->i - s, out);
	return addr_word(X, &at, lx->p + s, lx->i - s, out);
}

/* Parses a whole header field s[off..off+n) into out. */
static int parse_set(struct pctx *P, size_t off, size_t n, bool port,
		     struct eset *out)
{
	struct xctx X;
	memset(&X, 0, sizeof(X));
	X.P = P;
	X.port = port;
	X.esz = port ? sizeof(struct prange) : sizeof(struct rule_cidr);
	X.budget = RULE_EXPAND_BUDGET;
	struct xlex lx = { P->s + off, n, 0, off };
	memset(out, 0, sizeof(*out));
	if (set_expr(&X, &lx, 0, out))
		return -1;
	if (lx.i < lx.n)
		return xerr(&X, &lx, "unexpected %s after the %s",
			    got_at(P, 0, lx.p, lx.n, lx.i),
			    port ? "port" : "address");
	return 0;
}

static int compile_addr(struct pctx *P, size_t off, size_t n,
			struct rule_addr *a)
{
	struct eset e;
	int rc = parse_set(P, off, n, false, &e);
	memset(a, 0, sizeof(*a));
	if (rc)
		goto out;
	if (eset_nothing(&e)) {
		/* nothing: every IPv4 and IPv6 address is excluded */
		a->neg = calloc(2, sizeof(*a->neg));
		if (!a->neg) {
			rc = oom(P);
			goto out;
		}
		a->neg[0].family = 4;
		a->neg[1].family = 6;
		a->n_neg = 2;
		goto out;
	}
	if (e.has_pos && !e.pos_all) {
		a->pos = (struct rule_cidr *)(void *)e.pos;
		a->n_pos = e.npos;
		a->broker = e.pb;
		e.pos = NULL;
	}
	a->neg = (struct rule_cidr *)(void *)e.neg;
	a->n_neg = e.nneg;
	a->not_broker = e.nb;
	e.neg = NULL;
	a->any = !a->n_pos && !a->n_neg && !a->broker && !a->not_broker;
out:
	eset_free(&e);
	return rc;
}

static int compile_ports(struct pctx *P, size_t off, size_t n,
			 struct rule_ports *rp)
{
	struct eset e;
	int rc = parse_set(P, off, n, true, &e);
	memset(rp, 0, sizeof(*rp));
	if (rc)
		goto out;
	uint32_t npos = e.has_pos && !e.pos_all ? e.npos : 0;
	bool nothing = eset_nothing(&e);
	uint32_t total = nothing ? 1 : npos + e.nneg;
	if (total) {
		rp->r = calloc(total, sizeof(*rp->r));
		if (!rp->r) {
			rc = oom(P);
			goto out;
		}
	}
	if (nothing) {
		rp->r[0].lo = 0;
		rp->r[0].hi = 65535;
		rp->r[0].neg = true;
		rp->n = 1;
		goto out;
	}
	const struct prange *pr = (const struct prange *)(void *)e.pos;
	const struct prange *nr = (const struct prange *)(void *)e.neg;
	for (uint32_t i = 0; i < npos; i++) {
		rp->r[rp->n].lo = pr[i].lo;
		rp->r[rp->n++].hi = pr[i].hi;
	}
	for (uint32_t i = 0; i < e.nneg; i++) {
		rp->r[rp->n].lo = nr[i].lo;
		rp->r[rp->n].hi = nr[i].hi;
		rp->r[rp->n++].neg = true;
	}
	rp->any = rp->n == 0;
out:
	eset_free(&e);
	return rc;
}

/* ---- option values ---- */

struct val {
	const char *s; /* unescaped, NUL-terminated (scratch) */
	size_t n;
	size_t off;    /* where the value starts in the rule */
	bool quoted;
};

/* Offset in the rule of byte k of the value (escapes skipped over). */
static size_t val_off(const struct pctx *P, const struct val *v, size_t k)
{
	if (!v->quoted)
		return v->off + k;
	size_t o = v->off + 1;
	for (size_t i = 0; i < k && o < P->n; i++)
		o += P->s[o] == '\\' ? 2 : 1;
	return o;
}

struct item {
	const char *p;
	size_t n;
	size_t at; /* offset in the value */
};

struct iter {
	const struct val *v;
	size_t i;
	unsigned count;
	bool done;
};

/* The next comma-separated, trimmed item: 1, 0 at the end, -1 error. */
static int next_item(struct pctx *P, struct iter *it, const char *what,
		     struct item *out)
{
	const struct val *v = it->v;
	if (it->done)
		return 0;
	if (++it->count > RULE_LIST_MAX)
		return perr(P, val_off(P, v, it->i),
			    "list longer than %u items", RULE_LIST_MAX);
	size_t s = skip_ws(v->s, v->n, it->i);
	const char *comma = memchr(v->s + s, ',', v->n - s);
	size_t e = comma ? (size_t)(comma - v->s) : v->n;
	it->i = comma ? e + 1 : v->n;
	it->done = !comma;
	size_t t = e;
	while (t > s && is_ws(v->s[t - 1]))
		t--;
	if (t == s)
		return perr(P, val_off(P, v, s), "expected %s, got %s", what,
			    comma ? "','" : "end of value");
	out->p = v->s + s;
	out->n = t - s;
	out->at = s;
	return 1;
}

static int item_err(struct pctx *P, const struct val *v, const struct item *it,
		    const char *what, const char *hint)
{
	return perr(P, val_off(P, v, it->at), "expected %s, got %s%s", what,
		    echo(P, 0, it->p, it->n), hint ? hint : "");
}

/* Appends a copy of the item to a string list. */
static int strlist_add(struct pctx *P, char ***list, uint32_t *n,
		       const struct item *it)
{
	char **nl = realloc(*list, (*n + 1) * sizeof(*nl));
	if (!nl)
		return oom(P);
	*list = nl;
	if (!(nl[*n] = dupn(it->p, it->n)))
		return oom(P);
	(*n)++;
	return 0;
}

static int val_u32(struct pctx *P, const struct val *v, uint64_t lo,
		   uint64_t hi, const char *what, uint32_t *out)
{
	uint64_t x;
	if (!parse_uint(v->s, v->n, hi, &x) || x < lo)
		return perr(P, v->off, "expected %s, got %s", what,
			    echo(P, 0, v->s, v->n));
	*out = (uint32_t)x;
	return 0;
}

static int o_name(struct pctx *P, struct rule *r, const struct val *v)
{
	return (r->name = dupn(v->s, v->n)) ? 0 : oom(P);
}

int rule_priority_by_name(const char *s, size_t n)
{
	for (unsigned i = 0; i < 5; i++)
		if (word_is(s, n, prio_names[i]))
			return (int)i;
	return -1;
}

static int o_priority(struct pctx *P, struct rule *r, const struct val *v)
{
	int p = rule_priority_by_name(v->s, v->n);
	if (p >= 0) {
		r->priority = (uint8_t)p;
		return 0;
	}
	uint32_t x;
	if (val_u32(P, v, 0, 4, "priority 0-4 or a priority name", &x))
		return -1;
	r->priority = (uint8_t)x;
	return 0;
}

static int o_sid(struct pctx *P, struct rule *r, const struct val *v)
{
	/* User sids stay below 2^31: above are the automatic ones. */
	return val_u32(P, v, 1, AUTO_SID_BIT - 1, "sid 1-2147483647", &r->sid);
}

static int o_rev(struct pctx *P, struct rule *r, const struct val *v)
{
	return val_u32(P, v, 0, UINT32_MAX, "rev 0-4294967295", &r->rev);
}

static int o_classtype(struct pctx *P, struct rule *r, const struct val *v)
{
	for (size_t i = 0; i < v->n; i++) {
		char c = v->s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return perr(P, val_off(P, v, i), "expected classtype of "
				    "[a-z0-9_-], got %s",
				    echo(P, 0, v->s, v->n));
	}
	const struct ruleset *rs = P->L->rs;
	r->class = ruleset_class_find(rs, v->s, v->n);
	if (!r->class) {
		if (!rs->classes_loaded)
			return perr(P, val_off(P, v, 0), "unknown classtype %s: "
				    "no classification file is loaded "
				    "(rules.classification-file)",
				    echo(P, 0, v->s, v->n));
		const char *cands[RULES_CLASSES_MAX];
		size_t nc = rs->n_classes;
		for (size_t i = 0; i < nc; i++)
			cands[i] = rs->classes[i]->name;
		char m[96];
		return perr(P, val_off(P, v, 0), "unknown classtype %s: %s "
			    "does not define it%s", echo(P, 0, v->s, v->n),
			    rs->class_file ? rs->class_file : "the "
			    "classification file",
			    mean(m, sizeof(m), suggest(v->s, v->n, cands,
						       nc)));
	}
	return (r->classtype = dupn(v->s, v->n)) ? 0 : oom(P);
}

static int o_threshold(struct pctx *P, struct rule *r, const struct val *v)
{
	return val_u32(P, v, 1, UINT32_MAX, "threshold 1-4294967295",
		       &r->threshold);
}

static int o_interval(struct pctx *P, struct rule *r, const struct val *v)
{
	return val_u32(P, v, 1, UINT32_MAX, "interval 1-4294967295 (seconds)",
		       &r->interval);
}

static int o_cooldown(struct pctx *P, struct rule *r, const struct val *v)
{
	r->cooldown_set = true;
	return val_u32(P, v, 0, UINT32_MAX, "cooldown 0-4294967295 (seconds)",
		       &r->cooldown);
}

static const char *const type_names[16] = {
	"reserved", "connect", "connack", "publish", "puback", "pubrec",
	"pubrel", "pubcomp", "subscribe", "suback", "unsubscribe",
	"unsuback", "pingreq", "pingresp", "disconnect", "auth",
};

static int o_msg_type(struct pctx *P, struct rule *r, const struct val *v)
{
	struct iter it = { v, 0, 0, false };
	struct item x;
	int rc;
	while ((rc = next_item(P, &it, "a message type", &x)) == 1) {
		unsigned t;
		for (t = 1; t < 16; t++)
			if (word_is(x.p, x.n, type_names[t]))
				break;
		if (t == 16) {
			char hint[64];
			return item_err(P, v, &x, "a message type",
					mean(hint, sizeof(hint),
					     suggest(x.p, x.n, type_names + 1,
						     15)));
		}
		r->msg_types |= (uint16_t)(1u << t);
	}
	return rc;
}

static int o_qos(struct pctx *P, struct rule *r, const struct val *v)
{
	struct iter it = { v, 0, 0, false };
	struct item x;
	int rc;
	while ((rc = next_item(P, &it, "QoS 0-3", &x)) == 1) {
		uint64_t q;
		if (!parse_uint(x.p, x.n, 3, &q))
			return item_err(P, v, &x, "QoS 0-3", NULL);
		r->qos_mask |= (uint8_t)(1u << q);
	}
	return rc;
}

/* A number: decimal or 0x hex, at most max. */
static bool parse_num(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		uint64_t x = 0;
		if (n > 18)
			return false;
		for (size_t i = 2; i < n; i++) {
			char c = s[i];
			int d = c >= '0' && c <= '9' ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				return false;
			x = x * 16 + (uint64_t)d;
		}
		if (x > max)
			return false;
		*v = x;
		return true;
	}
	return parse_uint(s, n, max, v);
}

/*
 * A reason name: the v5 table of mqtt_parse.c (a code for any packet
 * type that defines it), the per-type aliases for 0, and the 3.1.1
 * CONNACK names, which set retcodes_v3 (so not_authorized is 0x87 in
 * v5 and 5 in a 3.1.1 CONNACK). Returns whether the name is known.
 */
static bool retcode_name(struct rule *r, const char *w, size_t n)
{
	bool found = false;
	for (unsigned c = 0; c < 256; c++) {
		if (word_is(w, n, mqtt_reason_name(MQTT_PUBACK, (uint8_t)c, 5)) &&
		    !word_is(w, n, "unknown")) {
			r->retcodes[c >> 6] |= 1ull << (c & 63);
			found = true;
		}
	}
	if (word_is(w, n, "normal_disconnection") ||
	    word_is(w, n, "granted_qos_0")) {
		r->retcodes[0] |= 1;
		found = true;
	}
	if (word_is(w, n, "failure")) { /* 3.1.1 SUBACK */
		r->retcodes[2] |= 1;
		found = true;
	}
	for (uint8_t c = 0; c <= 5; c++) {
		if (word_is(w, n, mqtt_reason_name(MQTT_CONNACK, c, 4))) {
			r->retcodes_v3 |= (uint8_t)(1u << c);
			found = true;
		}
	}
	return found;
}

static const char *retcode_suggest(const char *w, size_t n)
{
	static const char *const v3[] = {
		"connection_accepted", "unacceptable_protocol_version",
		"identifier_rejected", "normal_disconnection",
		"granted_qos_0", "failure",
	};
	const char *best = suggest(w, n, v3, sizeof(v3) / sizeof(v3[0]));
	unsigned bd = best ? edit_dist(w, n, best) : 99;
	for (unsigned c = 0; c < 256; c++) {
		const char *name = mqtt_reason_name(MQTT_PUBACK, (uint8_t)c, 5);
		const char *s = strcmp(name, "unknown") ?
					suggest(w, n, &name, 1) : NULL;
		if (s && edit_dist(w, n, s) < bd) {
			best = s;
			bd = edit_dist(w, n, s);
		}
	}
	return best;
}

static int o_retcode(struct pctx *P, struct rule *r, const struct val *v)
{
	static const char what[] = "a return code 0-255 or reason name";
	struct iter it = { v, 0, 0, false };
	struct item x;
	int rc;
	while ((rc = next_item(P, &it, what, &x)) == 1) {
		uint64_t c;
		if (x.p[0] >= '0' && x.p[0] <= '9') {
			if (!parse_num(x.p, x.n, 255, &c))
				return item_err(P, v, &x, what, NULL);
			r->retcodes[c >> 6] |= 1ull << (c & 63);
		} else if (!retcode_name(r, x.p, x.n)) {
			char hint[96];
			return item_err(P, v, &x, what,
					mean(hint, sizeof(hint),
					     retcode_suggest(x.p, x.n)));
		}
	}
	r->has_retcode = true;
	return rc;
}

/* MQTT 5.0 §4.7.1: '#' alone in the last level, '+' alone in a level. */
static int check_filter(struct pctx *P, const struct val *v,
			const struct item *x)
{
	for (size_t i = 0; i < x->n; i++) {
		char c = x->p[i];
		if (c != '+' && c != '#')
			continue;
		bool start = i == 0 || x->p[i - 1] == '/';
		bool end = i + 1 == x->n || x->p[i + 1] == '/';
		const char *why = NULL;
		if (!start || !end)
			why = c == '#' ? "'#' must be a whole level"
				       : "'+' must be a whole level";
		else if (c == '#' && i + 1 != x->n)
			why = "'#' must be the last level";
		if (why)
			return perr(P, val_off(P, v, x->at + i),
				    "invalid topic filter %s: %s",
				    echo(P, 0, x->p, x->n), why);
	}
	return 0;
}

static int o_topics(struct pctx *P, struct rule *r, const struct val *v)
{
	struct iter it = { v, 0, 0, false };
	struct item x;
	int rc;
	while ((rc = next_item(P, &it, "a topic filter", &x)) == 1) {
		if (check_filter(P, v, &x) ||
		    strlist_add(P, &r->topics, &r->n_topics, &x))
			return -1;
	}
	return rc;
}

static int globs(struct pctx *P, const struct val *v, char ***list,
		 uint32_t *n)
{
	struct iter it = { v, 0, 0, false };
	struct item x;
	int rc;
	while ((rc = next_item(P, &it, "a glob", &x)) == 1)
		if (strlist_add(P, list, n, &x))
			return -1;
	return rc;
}

static int o_filter(struct pctx *P, struct rule *r, const struct val *v)
{
	return globs(P, v, &r->filters, &r->n_filters);
}

static int o_client_id(struct pctx *P, struct rule *r, const struct val *v)
{
	return globs(P, v, &r->client_ids, &r->n_client_ids);
}

static int o_username(struct pctx *P, struct rule *r, const struct val *v)
{
	return globs(P, v, &r->usernames, &r->n_usernames);
}

static int o_protocol_version(struct pctx *P, struct rule *r,
			      const struct val *v)
{
	static const char what[] = "protocol version 3, 4, 5, 3.1, 3.1.1 or 5.0";
	static const struct { const char *s; uint8_t v; } names[] = {
		{ "3", 3 }, { "4", 4 }, { "5", 5 }, { "3.1", 3 },
		{ "3.1.1", 4 }, { "5.0", 5 },
	};
	struct iter it = { v, 0, 0, false };
	struct item x;
	int rc;
	while ((rc = next_item(P, &it, what, &x)) == 1) {
		size_t k;
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (word_is(x.p, x.n, names[k].s))
				break;
		if (k == sizeof(names) / sizeof(names[0]))
			return item_err(P, v, &x, what, NULL);
		r->version_mask |= (uint8_t)(1u << names[k].v);
	}
	return rc;
}

/* A comparison: [op] N [unit]; sizes take b, kb/k/kib, mb/m/mib (1024). */
static int val_cmp(struct pctx *P, const struct val *v, bool size,
		   uint64_t max, const char *what, struct rule_num *out)
{
	static const struct { const char *s; enum rule_cmp op; } ops[] = {
		{ "!=", CMP_NE }, { "<=", CMP_LE }, { ">=", CMP_GE },
		{ "==", CMP_EQ }, { "=", CMP_EQ }, { "<", CMP_LT },
		{ ">", CMP_GT },
	};
	size_t i = 0;
	out->op = CMP_EQ;
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		size_t l = strlen(ops[k].s);
		if (v->n >= l && !memcmp(v->s, ops[k].s, l)) {
			out->op = ops[k].op;
			i = l;
			break;
		}
	}
	i = skip_ws(v->s, v->n, i);
	size_t d = i;
	while (i < v->n && v->s[i] >= '0' && v->s[i] <= '9')
		i++;
	size_t de = i;
	i = skip_ws(v->s, v->n, i);
	const char *u = v->s + i;
	size_t un = v->n - i;
	uint64_t mul = 1, x;
	bool ok = true;
	if (un && !size)
		ok = false;
	else if (un && (word_is(u, un, "k") || word_is(u, un, "kb") ||
			word_is(u, un, "kib")))
		mul = 1024;
	else if (un && (word_is(u, un, "m") || word_is(u, un, "mb") ||
			word_is(u, un, "mib")))
		mul = 1024 * 1024;
	else if (un && !word_is(u, un, "b"))
		ok = false;
	if (!ok || !parse_uint(v->s + d, de - d, max, &x) || x > max / mul)
		return perr(P, v->off, "expected %s, got %s", what,
			    echo(P, 0, v->s, v->n));
	out->v = x * mul;
	return 0;
}

static int o_payload_size(struct pctx *P, struct rule *r, const struct val *v)
{
	return val_cmp(P, v, true, UINT32_MAX,
		       "a size comparison like '>1024' or '>=64kb'",
		       &r->payload_size);
}

static int o_keepalive(struct pctx *P, struct rule *r, const struct val *v)
{
	return val_cmp(P, v, false, 65535,
		       "a comparison like '<5' or '=0' (0-65535 seconds)",
		       &r->keepalive);
}

/*
 * An anomaly item names what the engine or a detector emits
 * (event/anomalies.c): a name must be registered, and a glob (after an
 * optional '!') must match some registered name. Otherwise the rule
 * could never fire, and a typo would go unnoticed.
 */
static int anomaly_known(struct pctx *P, const struct val *v,
			 const struct item *x)
{
	const char *p = x->p;
	size_t n = x->n, lead = 0;
	if (n && p[0] == '!')
		lead = 1;
	p += lead;
	n -= lead;
	if (!memchr(p, '*', n) && !memchr(p, '?', n) && !memchr(p, '[', n)) {
		if (anomaly_find(p, n))
			return 0;
		const char *cands[ANOMALY_SUGGEST_MAX];
		size_t nc = anomaly_count();
		if (nc > ANOMALY_SUGGEST_MAX)
			nc = ANOMALY_SUGGEST_MAX;
		for (size_t i = 0; i < nc; i++)
			cands[i] = anomaly_get(i)->name;
		char m[96];
		return perr(P, val_off(P, v, x->at + lead), "unknown anomaly "
			    "event %s%s; 'mqttids rules check --list "
			    "anomalies' lists them", echo(P, 0, p, n),
			    mean(m, sizeof(m), suggest(p, n, cands, nc)));
	}
	/* registered names are far shorter than ANOMALY_GLOB_MAX: a glob
	 * that long is refused rather than matched */
	char pat[ANOMALY_GLOB_MAX];
	size_t k = n < sizeof(pat) ? n : sizeof(pat) - 1;
	memcpy(pat, p, k);
	pat[k] = 0;
	if (k == n && anomaly_glob_known(pat))
		return 0;
	return perr(P, val_off(P, v, x->at + lead), "glob %s matches no "
		    "anomaly event; 'mqttids rules check --list anomalies' "
		    "lists them", echo(P, 0, p, n));
}

/* Whether the rule's whole anomaly list (negations too) lets some
 * registered name through. */
static bool anomalies_reachable(const struct rule *r)
{
	for (size_t i = 0; i < anomaly_count(); i++) {
		const char *name = anomaly_get(i)->name;
		if (globs_match(r->anomalies, r->n_anomalies, name, strlen(name)))
			return true;
	}
	return false;
}

static int o_anomaly(struct pctx *P, struct rule *r, const struct val *v)
{
	struct iter it = { v, 0, 0, false };
	struct item x;
	int rc;
	while ((rc = next_item(P, &it, "an anomaly event name", &x)) == 1) {
		for (size_t i = 0; i < x.n; i++) {
			char c = x.p[i];
			if (!is_word(c) && !strchr(".-*?[]!^", c))
				return perr(P, val_off(P, v, x.at + i),
					    "expected an anomaly event name "
					    "or glob, got %s",
					    echo(P, 0, x.p, x.n));
		}
		if (anomaly_known(P, v, &x))
			return -1;
		if (strlist_add(P, &r->anomalies, &r->n_anomalies, &x))
			return -1;
	}
	if (rc == 0 && !anomalies_reachable(r))
		return perr(P, val_off(P, v, 0), "the anomaly list excludes "
			    "every anomaly event: the rule could never match");
	return rc;
}

/*
 * Snort's flags: letters F S R P A U (and E, C for ECE and CWR), or 0
 * for none, then '+' (at least these) or '*' (any of these). Without a
 * modifier the six classic flags must be exactly these; ECE and CWR are
 * compared only when listed, so "S" matches ECN-setup SYNs too.
 */
static int o_flags(struct pctx *P, struct rule *r, const struct val *v)
{
	static const char letters[] = "FSRPAUEC";
	uint8_t set = 0;
	bool zero = false;
	size_t n = v->n;
	char mod = n && (v->s[n - 1] == '+' || v->s[n - 1] == '*') ?
			   v->s[--n] : 0;
	for (size_t i = 0; i < n; i++) {
		char up = (char)(v->s[i] & ~0x20);
		const char *l = up ? strchr(letters, up) : NULL;
		if (v->s[i] == '0' && n == 1) {
			zero = true;
			continue;
		}
		if (!l)
			return perr(P, val_off(P, v, i), "expected TCP flags "
				    "(FSRPAUEC or 0, then + or *), got %s",
				    echo(P, 0, v->s, v->n));
		set |= (uint8_t)(1u << (l - letters));
	}
	if (n == 0 || (zero && mod))
		return perr(P, v->off, "expected TCP flags (FSRPAUEC or 0, "
			    "then + or *), got %s", echo(P, 0, v->s, v->n));
	r->has_flags = true;
	r->flags_value = set;
	if (mod == '+') {
		r->flags_mask = set;
	} else if (mod == '*') {
		r->flags_mask = set;
		r->flags_any = true;
	} else {
		r->flags_mask = (uint8_t)(0x3f | (set & 0xc0));
	}
	return 0;
}

enum scope { S_BOTH, S_MQTT, S_TCP };

/* Message types each MQTT option can match at all. */
#define TM(t) (1u << MQTT_##t)
#define TM_ALL 0xfffeu
#define TM_CODES (TM(CONNACK) | TM(PUBACK) | TM(PUBREC) | TM(PUBREL) | \
		  TM(PUBCOMP) | TM(SUBACK) | TM(UNSUBACK) | TM(DISCONNECT) | \
		  TM(AUTH))

struct optdef {
	const char *name;
	enum scope scope;
	uint16_t types;  /* for the never-matches warning and the index */
	bool per_msg;    /* looks at the message: not with anomaly */
	int (*parse)(struct pctx *, struct rule *, const struct val *);
};

enum {
	O_NAME, O_PRIORITY, O_SID, O_REV, O_CLASSTYPE, O_THRESHOLD,
	O_INTERVAL, O_COOLDOWN, O_MSG_TYPE, O_QOS, O_RETCODE, O_TOPICS,
	O_FILTER, O_CLIENT_ID, O_USERNAME, O_PROTOCOL_VERSION, O_PAYLOAD_SIZE,
	O_KEEPALIVE, O_ANOMALY, O_FLAGS, O__COUNT
};

static const struct optdef optdefs[O__COUNT] = {
	[O_NAME] = { "name", S_BOTH, TM_ALL, false, o_name },
	[O_PRIORITY] = { "priority", S_BOTH, TM_ALL, false, o_priority },
	[O_SID] = { "sid", S_BOTH, TM_ALL, false, o_sid },
	[O_REV] = { "rev", S_BOTH, TM_ALL, false, o_rev },
	[O_CLASSTYPE] = { "classtype", S_BOTH, TM_ALL, false, o_classtype },
	[O_THRESHOLD] = { "threshold", S_BOTH, TM_ALL, false, o_threshold },
	[O_INTERVAL] = { "interval", S_BOTH, TM_ALL, false, o_interval },
	[O_COOLDOWN] = { "cooldown", S_BOTH, TM_ALL, false, o_cooldown },
	[O_MSG_TYPE] = { "msg_type", S_MQTT, TM_ALL, true, o_msg_type },
	[O_QOS] = { "qos", S_MQTT, TM(PUBLISH) | TM(SUBSCRIBE) | TM(CONNECT),
		    true, o_qos },
	[O_RETCODE] = { "retcode", S_MQTT, TM_CODES, true, o_retcode },
	[O_TOPICS] = { "topics", S_MQTT, TM(PUBLISH) | TM(SUBSCRIBE) |
		       TM(UNSUBSCRIBE) | TM(CONNECT), true, o_topics },
	[O_FILTER] = { "filter", S_MQTT, TM(SUBSCRIBE) | TM(UNSUBSCRIBE), true,
		       o_filter },
	[O_CLIENT_ID] = { "client_id", S_MQTT, TM_ALL, false, o_client_id },
	[O_USERNAME] = { "username", S_MQTT, TM_ALL, false, o_username },
	[O_PROTOCOL_VERSION] = { "protocol_version", S_MQTT, TM_ALL, false,
				 o_protocol_version },
	[O_PAYLOAD_SIZE] = { "payload_size", S_MQTT, TM(PUBLISH) | TM(CONNECT),
			     true, o_payload_size },
	[O_KEEPALIVE] = { "keepalive", S_MQTT, TM(CONNECT), true, o_keepalive },
	[O_ANOMALY] = { "anomaly", S_BOTH, TM_ALL, false, o_anomaly },
	[O_FLAGS] = { "flags", S_TCP, TM_ALL, true, o_flags },
};

/* Reads a value at s[i..): quoted (unescaped into scratch) or up to ';'
 * and trimmed. Sets *end to the ';' or the end of the rule. */
static int read_value(struct pctx *P, char *scratch, size_t i,
		      const char *key, struct val *v, size_t *end)
{
	const char *s = P->s;
	size_t n = P->n;
	i = skip_ws(s, n, i);
	v->off = i;
	v->quoted = i < n && s[i] == '"';
	if (v->quoted) {
		size_t o = 0, j = i + 1;
		for (;; j++) {
			if (j >= n)
				return perr(P, i, "unterminated quoted value "
					    "of '%s'", key);
			if (s[j] == '"')
				break;
			if (s[j] == '\\') {
				if (j + 1 >= n || (s[j + 1] != '"' &&
						   s[j + 1] != '\\'))
					return perr(P, j, "invalid escape %s in "
						    "quoted value (use \\\" or "
						    "\\\\)",
						    echo(P, 0, s + j,
							 j + 1 < n ? 2 : 1));
				j++;
			}
			scratch[o++] = s[j];
		}
		scratch[o] = 0;
		v->s = scratch;
		v->n = o;
		j = skip_ws(s, n, j + 1);
		if (j < n && s[j] != ';')
			return perr(P, j, "expected ';' after the quoted value "
				    "of '%s', got %s", key,
				    got_at(P, 0, s, n, j));
		if (o == 0)
			return perr(P, i, "expected a value for '%s', got "
				    "'\"\"'", key);
		*end = j;
		return 0;
	}
	const char *semi = memchr(s + i, ';', n - i);
	size_t e = semi ? (size_t)(semi - s) : n, t = e;
	while (t > i && is_ws(s[t - 1]))
		t--;
	if (t == i)
		return perr(P, i, "expected a value for '%s', got %s", key,
			    semi ? "';'" : "end of rule");
	memcpy(scratch, s + i, t - i);
	scratch[t - i] = 0;
	v->s = scratch;
	v->n = t - i;
	*end = e;
	return 0;
}

static const char *const opt_names[O__COUNT] = {
	"name", "priority", "sid", "rev", "classtype", "threshold",
	"interval", "cooldown", "msg_type", "qos", "retcode", "topics",
	"filter", "client_id", "username", "protocol_version", "payload_size",
	"keepalive", "anomaly", "flags",
};

/* The options after the header; seen[] gets each option's offset + 1. */
static int parse_options(struct pctx *P, size_t i, size_t *seen)
{
	const char *s = P->s;
	size_t n = P->n;
	char *scratch = malloc(n + 1);
	int rc = -1;
	if (!scratch)
		return oom(P);
	for (;;) {
		i = skip_ws(s, n, i);
		if (i >= n)
			break;
		size_t k = i;
		while (k < n && (is_word(s[k]) || s[k] == '-'))
			k++;
		if (k == i) {
			perr(P, i, "expected an option name, got %s",
			     got_at(P, 0, s, n, i));
			goto out;
		}
		size_t c = skip_ws(s, n, k);
		if (c >= n || s[c] != ':') {
			perr(P, c, "expected ':' after option name %s, got %s",
			     echo(P, 1, s + i, k - i), got_at(P, 0, s, n, c));
			goto out;
		}
		unsigned o;
		for (o = 0; o < O__COUNT; o++)
			if (word_is(s + i, k - i, optdefs[o].name))
				break;
		if (o == O__COUNT) {
			char hint[64];
			perr(P, i, "unknown option %s%s",
			     echo(P, 0, s + i, k - i),
			     mean(hint, sizeof(hint),
				  suggest(s + i, k - i, opt_names, O__COUNT)));
			goto out;
		}
		const struct optdef *d = &optdefs[o];
		if (seen[o]) {
			unsigned line, col;
			off_pos(P->L, seen[o] - 1, &line, &col);
			perr(P, i, "duplicate option '%s' (first at %u:%u)",
			     d->name, line, col);
			goto out;
		}
		seen[o] = i + 1;
		if ((d->scope == S_MQTT && P->r->proto != RULE_MQTT) ||
		    (d->scope == S_TCP && P->r->proto != RULE_TCP)) {
			perr(P, i, "option '%s' is only for %s rules", d->name,
			     d->scope == S_MQTT ? "mqtt" : "tcp");
			goto out;
		}
		struct val v;
		size_t end = 0;
		if (read_value(P, scratch, c + 1, d->name, &v, &end) ||
		    d->parse(P, P->r, &v))
			goto out;
		i = end + 1;
	}
	rc = 0;
out:
	free(scratch);
	return rc;
}

/* ---- one rule ---- */

/* A header token at s[i..): up to whitespace outside brackets or ';'. */
static size_t htok(const char *s, size_t n, size_t i)
{
	int depth = 0;
	size_t j = i;
	while (j < n && s[j] != ';' && (depth > 0 || !is_ws(s[j]))) {
		if (s[j] == '[')
			depth++;
		else if (s[j] == ']')
			depth--;
		j++;
	}
	return j - i;
}

/* Whether a header token looks like a port field (else it is a keyword). */
static bool port_like(const char *t, size_t n)
{
	char c = t[0];
	return (c >= '0' && c <= '9') || c == ':' || c == '[' || c == '!' ||
	       c == '$' || word_is(t, n, "any");
}

/* PROTO SRC [SPORT] DIR DST [DPORT] [TARGET]; returns the offset after it. */
static int parse_header(struct pctx *P, size_t *pos)
{
	const char *s = P->s;
	size_t n = P->n;
	struct rule *r = P->r;
	size_t i = skip_ws(s, n, 0);
	size_t tl = htok(s, n, i);
	if (word_is(s + i, tl, "tcp"))
		r->proto = RULE_TCP;
	else if (word_is(s + i, tl, "mqtt"))
		r->proto = RULE_MQTT;
	else
		return perr(P, i, "expected protocol 'tcp' or 'mqtt', got %s",
			    got_at(P, 0, s, n, i));
	i = skip_ws(s, n, i + tl);
	tl = htok(s, n, i);
	if (!tl)
		return perr(P, i, "expected source address, got %s",
			    got_at(P, 0, s, n, i));
	if (compile_addr(P, i, tl, &r->src))
		return -1;
	i = skip_ws(s, n, i + tl);
	tl = htok(s, n, i);
	bool dir = word_is(s + i, tl, "->") || word_is(s + i, tl, "<>");
	if (tl && !dir && port_like(s + i, tl)) {
		if (compile_ports(P, i, tl, &r->sport))
			return -1;
		i = skip_ws(s, n, i + tl);
		tl = htok(s, n, i);
		dir = word_is(s + i, tl, "->") || word_is(s + i, tl, "<>");
	} else {
		r->sport.any = true;
	}
	if (!dir)
		return perr(P, i, "expected direction '->' or '<>', got %s",
			    tl ? echo(P, 0, s + i, tl) : got_at(P, 0, s, n, i));
	r->bidir = s[i] == '<';
	i = skip_ws(s, n, i + tl);
	tl = htok(s, n, i);
	if (!tl)
		return perr(P, i, "expected destination address, got %s",
			    got_at(P, 0, s, n, i));
	if (compile_addr(P, i, tl, &r->dst))
		return -1;
	i = skip_ws(s, n, i + tl);
	tl = htok(s, n, i);
	r->dport.any = true;
	if (tl && !word_is(s + i, tl, "src") && !word_is(s + i, tl, "dst")) {
		if (!port_like(s + i, tl))
			return perr(P, i, "expected port, target 'src'/'dst' "
				    "or ';', got %s", echo(P, 0, s + i, tl));
		r->dport.any = false;
		if (compile_ports(P, i, tl, &r->dport))
			return -1;
		i = skip_ws(s, n, i + tl);
		tl = htok(s, n, i);
	}
	if (tl) {
		if (word_is(s + i, tl, "dst"))
			r->target_dst = true;
		else if (!word_is(s + i, tl, "src"))
			return perr(P, i, "expected target 'src'/'dst' or ';', "
				    "got %s", echo(P, 0, s + i, tl));
		i = skip_ws(s, n, i + tl);
	}
	if (i < n && s[i] != ';')
		return perr(P, i, "expected ';' after the header, got %s",
			    got_at(P, 0, s, n, i));
	*pos = i < n ? i + 1 : n;
	return 0;
}

/* Control bytes (other than tab) and ill-formed UTF-8 are refused. */
static int check_text(struct pctx *P)
{
	const unsigned char *u = (const unsigned char *)P->s;
	for (size_t i = 0; i < P->n;) {
		unsigned char c = u[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return perr(P, i, "control character 0x%02x in rule", c);
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (len > P->n - i || utf8_check(u + i, len) != UTF8_OK)
			return perr(P, i, "invalid UTF-8 (byte 0x%02x)", c);
		i += len;
	}
	return 0;
}

/* The rule text with whitespace runs collapsed, trimmed. */
static char *collapse(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t k = 0;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (is_ws(s[i])) {
			if (k && o[k - 1] != ' ')
				o[k++] = ' ';
		} else {
			o[k++] = s[i];
		}
	}
	while (k && o[k - 1] == ' ')
		k--;
	o[k] = 0;
	return o;
}

/*
 * Warns about options that can never meet a message the rest of the rule
 * allows (e.g. keepalive on msg_type: publish), and computes match_types,
 * which the index and rule_match use.
 */
static void derive_types(struct pctx *P, const size_t *seen)
{
	struct rule *r = P->r;
	uint16_t m = r->msg_types ? r->msg_types : TM_ALL;
	for (unsigned o = 0; o < O__COUNT; o++) {
		if (!seen[o] || optdefs[o].types == TM_ALL)
			continue;
		if (!(m & optdefs[o].types)) {
			char names[128] = "";
			size_t k = 0;
			for (unsigned t = 1; t < 16 && k < sizeof(names); t++)
				if (optdefs[o].types & (1u << t))
					k += (size_t)snprintf(names + k,
						sizeof(names) - k, "%s%s",
						k ? ", " : "", type_names[t]);
			pwarn(P, seen[o] - 1, "option '%s' only matches %s, "
			      "which the rule's other options exclude: the "
			      "rule never matches", optdefs[o].name, names);
		}
		m &= optdefs[o].types;
	}
	r->match_types = r->proto == RULE_MQTT ? m : 0;
}

/* Checks what needs the whole rule; fills defaults. */
static int finish_rule(struct pctx *P, const size_t *seen)
{
	struct rule *r = P->r;
	if (!r->name)
		return perr(P, skip_ws(P->s, P->n, 0),
			    "missing required option 'name'");
	if (seen[O_ANOMALY]) {
		for (unsigned o = 0; o < O__COUNT; o++)
			if (seen[o] && optdefs[o].per_msg)
				return perr(P, seen[o] - 1, "option '%s' cannot "
					    "be combined with 'anomaly' (anomaly "
					    "events carry no message)",
					    optdefs[o].name);
	}
	if (!seen[O_PRIORITY])
		r->priority = r->class ? r->class->priority : RULE_PRIORITY_DEFAULT;
	if (!seen[O_REV])
		r->rev = 1;
	if (!seen[O_THRESHOLD])
		r->threshold = 1;
	if (!seen[O_INTERVAL])
		r->interval = 60;
	if (!seen[O_COOLDOWN])
		r->cooldown = r->interval;
	derive_types(P, seen);
	if (!(r->raw = collapse(P->s, P->n)))
		return oom(P);
	if (!seen[O_SID]) {
		r->sid_auto = true;
		r->sid = fnv1a(r->raw, strlen(r->raw)) | AUTO_SID_BIT;
	}
	return 0;
}

static int add_rule(struct pctx *P)
{
	struct ruleset *rs = P->L->rs;
	struct rule *r = P->r;
	uint32_t first = sid_lookup(rs, r->sid);
	if (first) {
		const struct rule *o = rs->rules[first - 1];
		pwarn(P, skip_ws(P->s, P->n, 0), "duplicate sid %u%s (first "
		      "at %s:%u); both rules are kept", r->sid,
		      r->sid_auto ? " (automatic: same rule text)" : "",
		      o->file, o->line);
	}
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 64;
		struct rule **nv = realloc(rs->rules, nc * sizeof(*nv));
		if (!nv)
			return oom(P);
		rs->rules = nv;
		rs->cap = nc;
	}
	struct rule *slot = rule_slot(rs); /* unused (zero) if what follows fails */
	if (!slot || (!first && sid_insert(rs, r->sid, (uint32_t)rs->n + 1)))
		return oom(P);
	*slot = *r; /* the slot owns what r pointed to now */
	memset(r, 0, sizeof(*r));
	slot->index = (uint32_t)rs->n;
	rs->rules[rs->n++] = slot;
	return 0;
}

/* Parses L->buf as one rule; a broken rule is reported and dropped. */
static void parse_rule(struct loader *L, unsigned line)
{
	struct pctx P;
	struct rule r;
	size_t seen[O__COUNT] = { 0 };
	size_t pos = 0;
	memset(&P, 0, sizeof(P));
	memset(&r, 0, sizeof(r));
	P.L = L;
	P.s = L->buf;
	P.n = L->len;
	if (L->too_long) {
		perr(&P, 0, "rule longer than %u bytes", RULE_LINE_MAX);
		goto out;
	}
	if (L->rs->n >= RULES_MAX) {
		if (!L->rs->full_reported)
			perr(&P, 0, "more than %u rules: this and later rules "
			     "are skipped", RULES_MAX);
		L->rs->full_reported = true;
		P.failed = true;
		goto out;
	}
	P.r = &r;
	P.r->file = (char *)L->name;
	P.r->line = line;
	if (check_text(&P) || parse_header(&P, &pos) ||
	    parse_options(&P, pos, seen) || finish_rule(&P, seen))
		goto out;
	add_rule(&P);
out:
	if (P.failed)
		L->errors++;
	rule_free(&r);
}

/* ---- reading lines ---- */

struct src {
	FILE *f;
	const char *s;
};

static int src_getc(struct src *S)
{
	if (S->f)
		return getc(S->f);
	if (!*S->s)
		return EOF;
	return (unsigned char)*S->s++;
}

static int seg_add(struct loader *L, size_t off, unsigned line)
{
	if (L->too_long && L->n_segs)
		return 0; /* reported at the first line; bounds the array */
	if (L->n_segs == L->seg_cap) {
		size_t nc = L->seg_cap ? L->seg_cap * 2 : 8;
		struct seg *ns = realloc(L->segs, nc * sizeof(*ns));
		if (!ns)
			return -1;
		L->segs = ns;
		L->seg_cap = nc;
	}
	L->segs[L->n_segs].off = off;
	L->segs[L->n_segs++].line = line;
	return 0;
}

/*
 * Appends one physical line to buf (without its "\n" or "\r\n").
 * Returns -1 at the end of input, else 0 and sets *cont when its last
 * non-blank byte is a '\' (then replaced by a space in buf). Bytes past
 * RULE_LINE_MAX are read but dropped (too_long).
 */
static int read_line(struct loader *L, struct src *S, bool *cont)
{
	int c, last = -1;
	size_t last_at = SIZE_MAX;
	bool any = false;
	while ((c = src_getc(S)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (c != ' ' && c != '\t' && c != '\r') {
			last = c;
			last_at = SIZE_MAX;
		}
		if (L->len < RULE_LINE_MAX) {
			if (c == last)
				last_at = L->len;
			L->buf[L->len++] = (char)c;
		} else {
			L->too_long = true;
		}
	}
	if (!any)
		return -1;
	if (!L->too_long && L->len && L->buf[L->len - 1] == '\r')
		L->len--;
	*cont = last == '\\';
	if (*cont && last_at != SIZE_MAX)
		L->buf[last_at] = ' ';
	return 0;
}

static int load_src(struct ruleset *rs, const char *name, struct src *S,
		    FILE *errs)
{
	struct loader L;
	unsigned line = 0;
	memset(&L, 0, sizeof(L));
	L.rs = rs;
	L.errs = errs;
	char **nf = realloc(rs->files, (rs->n_files + 1) * sizeof(*nf));
	if (nf)
		rs->files = nf;
	L.buf = malloc(RULE_LINE_MAX + 1);
	if (!nf || !L.buf || !(rs->files[rs->n_files] = strdup(name))) {
		free(L.buf);
		if (errs)
			fprintf(errs, "%s: error: out of memory\n", name);
		return 1;
	}
	L.name = rs->files[rs->n_files++];
	for (;;) {
		bool cont;
		L.len = 0;
		L.n_segs = 0;
		L.too_long = false;
		if (read_line(&L, S, &cont) < 0)
			break;
		unsigned first = ++line;
		if (seg_add(&L, 0, first))
			goto oom;
		size_t i = skip_ws(L.buf, L.len, 0);
		if (i == L.len || L.buf[i] == '#')
			continue; /* blank, or a comment (no continuation) */
		while (cont) {
			size_t at = L.len;
			if (read_line(&L, S, &cont) < 0)
				break;
			if (seg_add(&L, at, ++line))
				goto oom;
		}
		parse_rule(&L, first);
	}
	if (S->f && ferror(S->f)) {
		if (errs)
			fprintf(errs, "%s: error: read error: %s\n", name,
				strerror(errno));
		L.errors++;
	}
	goto out;
oom:
	if (errs)
		fprintf(errs, "%s: error: out of memory\n", name);
	L.errors++;
out:
	free(L.buf);
	free(L.segs);
	return L.errors;
}

static int reindex(struct ruleset *rs, int errors, FILE *errs)
{
	if (rules_index_build(rs)) {
		if (errs)
			fprintf(errs, "error: out of memory indexing rules\n");
		return errors < 0 ? errors : errors + 1;
	}
	return errors;
}

static int load_file(struct ruleset *rs, const char *path, FILE *errs)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errs)
			fprintf(errs, "%s: error: cannot open: %s\n", path,
				strerror(errno));
		return -1;
	}
	struct src S = { f, NULL };
	int e = load_src(rs, path, &S, errs);
	fclose(f);
	return e;
}

int ruleset_load_file(struct ruleset *rs, const char *path, FILE *errs)
{
	return reindex(rs, load_file(rs, path, errs), errs);
}

int ruleset_load_string(struct ruleset *rs, const char *name,
			const char *text, FILE *errs)
{
	struct src S = { NULL, text };
	return reindex(rs, load_src(rs, name, &S, errs), errs);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void rules_paths_free(char **paths, int n)
{
	for (int i = 0; i < n && paths; i++)
		free(paths[i]);
	free(paths);
}

int rules_dir_list(const char *dir, char ***paths)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	int n = 0;
	struct dirent *de;
	*paths = NULL;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 7 ||
		    strcmp(de->d_name + l - 6, ".rules"))
			continue;
		size_t pl = strlen(dir) + l + 2;
		char *p = malloc(pl);
		char **nv = realloc(v, (size_t)(n + 1) * sizeof(*nv));
		if (nv)
			v = nv;
		if (!p || !nv) {
			free(p);
			goto fail;
		}
		size_t dl = strlen(dir);
		snprintf(p, pl, "%s%s%s", dir,
			 dl && dir[dl - 1] == '/' ? "" : "/", de->d_name);
		struct stat st;
		if (stat(p, &st) || !S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		v[n++] = p;
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), cmp_str);
	*paths = v;
	return n;
fail:
	closedir(d);
	rules_paths_free(v, n);
	errno = ENOMEM;
	return -1;
}

int ruleset_load_dir(struct ruleset *rs, const char *dir, FILE *errs)
{
	char **paths;
	int n = rules_dir_list(dir, &paths), errors = 0;
	if (n < 0) {
		if (errs)
			fprintf(errs, "%s: error: cannot read directory: %s\n",
				dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int e = load_file(rs, paths[i], errs);
		errors += e < 0 ? 1 : e;
	}
	rules_paths_free(paths, n);
	return reindex(rs, errors, errs);
}
