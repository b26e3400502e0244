/*
 * sensor_acl.c - Mosquitto acl_file parsing and access checks
 * (mosquitto.conf(5) "acl_file"; the semantics of mosquitto 2.0's
 * src/security_default.c), for the authz detector and on its own.
 *
 * The parsed file is one array of lines sorted into groups: the anonymous
 * lines, each user's lines (users sorted by name, for bsearch), the
 * pattern lines; inside a group the deny lines come first, as mosquitto
 * puts them at the front of its lists. Checks allocate nothing: pattern
 * expansion and the subscription coverage use scratch sized when parsing.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor_acl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_topic.h"
#include "util/file.h"

#define SACL_FILTER_MAX 65535      /* MQTT string limit */
#define SACL_MSG_MAX 100           /* messages printed per file */

enum { OWNER_ANON = 0, OWNER_USER = 1, OWNER_PATTERN = 2 };

struct sacl_entry {
	uint32_t off, len;         /* filter text in the pool, NUL-terminated */
	uint32_t uoff;             /* OWNER_USER: the user name in the pool */
	uint32_t line;
	uint16_t cc, uc;           /* %c and %u in a pattern */
	uint8_t access;            /* SACL_READ | SACL_WRITE; 0: deny */
	uint8_t owner;
	const char *uname;         /* set once the pool no longer moves */
};

struct sacl_group {
	const char *name;
	uint32_t first, n;
};

struct sacl {
	char *name;
	char *pool;
	size_t pool_len, pool_cap;
	struct sacl_entry *e;
	size_t n, cap;
	struct sacl_group *users;
	size_t n_users;
	struct sacl_group anon, pat;
	bool pat_c, pat_u;         /* some pattern uses %c / %u */
	/* scratch for checks */
	const char **g;
	size_t *gl;
	size_t *pos;
	char *sub;                 /* expanded patterns, one slot each */
	size_t *sub_off;
	char *ix;                  /* an intersection of two filters */
	size_t ix_cap;
};

/* ---- small helpers ---- */

const char *sacl_access_name(enum sacl_access a)
{
	switch (a) {
	case SACL_READ: return "read";
	case SACL_WRITE: return "write";
	case SACL_SUBSCRIBE: return "subscribe";
	}
	return "?";
}

const char *sacl_why_name(enum sacl_why w)
{
	switch (w) {
	case SACL_WHY_GRANT: return "granted";
	case SACL_WHY_DENY_LINE: return "deny line";
	case SACL_WHY_NO_GRANT: return "no grant";
	case SACL_WHY_DANGEROUS_ID: return "wildcard in client id or username";
	case SACL_WHY_TOO_LONG: return "client id or username too long for a pattern";
	}
	return "?";
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/*
 * mosquitto_sub_topic_check: '+' a whole level, '#' a whole last level,
 * at most 65535 bytes. An empty filter is not one, nor one with a NUL.
 */
bool sacl_filter_valid(const char *f, size_t n)
{
	if (!f || n == 0 || n > SACL_FILTER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (f[i] == 0)
			return false;
		if (f[i] != '+' && f[i] != '#')
			continue;
		if (i > 0 && f[i - 1] != '/')
			return false;
		if (f[i] == '+' && i + 1 < n && f[i + 1] != '/')
			return false;
		if (f[i] == '#' && i + 1 != n)
			return false;
	}
	return true;
}

/* A printable excerpt of p[0..n) for messages (never the whole line). */
static const char *excerpt(char *buf, size_t cap, const char *p, size_t n)
{
	size_t o = 0, lim = cap - 4, i;
	for (i = 0; i < n && o < lim; i++) {
		unsigned char c = (unsigned char)p[i];
		buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = 0;
	return buf;
}

/* ---- parsing ---- */

struct parse {
	struct sacl *a;
	FILE *log;
	unsigned errors, shown;
	const char *name;
};

static void perr(struct parse *ps, unsigned line, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One message "NAME:LINE: KIND: TEXT"; only the first SACL_MSG_MAX are printed. */
static void perr(struct parse *ps, unsigned line, const char *kind, const char *fmt, ...)
{
	if (!strcmp(kind, "error"))
		ps->errors++;
	if (!ps->log)
		return;
	if (ps->shown++ >= SACL_MSG_MAX)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char nm[128];
	fprintf(ps->log, "%s:%u: %s: %s\n",
		excerpt(nm, sizeof(nm), ps->name, strlen(ps->name)), line, kind, msg);
}

/* Appends p[0..n) and a NUL to the pool; its offset, or -1 (no memory). */
static int64_t pool_add(struct sacl *a, const char *p, size_t n)
{
	if (a->pool_len + n + 1 > a->pool_cap) {
		size_t cap = a->pool_cap ? a->pool_cap : 4096;
		while (cap < a->pool_len + n + 1)
			cap *= 2;
		char *np = realloc(a->pool, cap);
		if (!np)
			return -1;
		a->pool = np;
		a->pool_cap = cap;
	}
	size_t off = a->pool_len;
	memcpy(a->pool + off, p, n);
	a->pool[off + n] = 0;
	a->pool_len += n + 1;
	return (int64_t)off;
}

/* mosquitto counts "%c" with strstr, non-overlapping. */
static uint16_t count_subst(const char *p, size_t n, char which)
{
	unsigned c = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '%' && p[i + 1] == which) {
			c++;
			i++;
		}
	return (uint16_t)(c > 65535 ? 65535 : c);
}

/*
 * One topic/pattern line: "KEYWORD [ACCESS] TOPIC" with rest = what
 * follows the keyword (leading blanks skipped, trailing space trimmed).
 * Mosquitto: with one word it is the topic (readwrite); with more, the
 * first is the access and the rest of the line the topic. Returns -1 only
 * when out of memory.
 */
static int parse_topic(struct parse *ps, unsigned line, bool pattern, const char *rest,
		       size_t n, int64_t user_off)
{
	struct sacl *a = ps->a;
	char ex[64];
	if (n == 0) {
		perr(ps, line, "error", "%s without a topic; line skipped",
		     pattern ? "pattern" : "topic");
		return 0;
	}
	size_t w = 0;
	while (w < n && !is_blank(rest[w]))
		w++;
	size_t t = w;
	while (t < n && is_blank(rest[t]))
		t++;
	uint8_t access = SACL_READ | SACL_WRITE;
	const char *topic = rest;
	size_t tn = n;
	if (t < n) {
		if (w == 4 && !memcmp(rest, "read", 4))
			access = SACL_READ;
		else if (w == 5 && !memcmp(rest, "write", 5))
			access = SACL_WRITE;
		else if (w == 9 && !memcmp(rest, "readwrite", 9))
			access = SACL_READ | SACL_WRITE;
		else if (w == 4 && !memcmp(rest, "deny", 4))
			access = 0;
		else {
			perr(ps, line, "error",
			     "unknown access '%s' (read, write, readwrite or deny); line skipped",
			     excerpt(ex, sizeof(ex), rest, w));
			return 0;
		}
		topic = rest + t;
		tn = n - t;
	}
	if (!sacl_filter_valid(topic, tn)) {
		perr(ps, line, "error", "invalid topic filter '%s'; line skipped",
		     excerpt(ex, sizeof(ex), topic, tn));
		return 0;
	}
	if (a->n >= SACL_MAX_ENTRIES) {
		if (a->n == SACL_MAX_ENTRIES)
			perr(ps, line, "error",
			     "more than %u topic and pattern lines; this and later ones skipped",
			     (unsigned)SACL_MAX_ENTRIES);
		a->n = SACL_MAX_ENTRIES + 1; /* reported once; set back in finish */
		return 0;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct sacl_entry *ne = realloc(a->e, cap * sizeof(*ne));
		if (!ne)
			return -1;
		a->e = ne;
		a->cap = cap;
	}
	int64_t off = pool_add(a, topic, tn);
	if (off < 0)
		return -1;
	struct sacl_entry *e = &a->e[a->n++];
	memset(e, 0, sizeof(*e));
	e->off = (uint32_t)off;
	e->len = (uint32_t)tn;
	e->line = line;
	e->access = access;
	if (pattern) {
		e->owner = OWNER_PATTERN;
		e->cc = count_subst(topic, tn, 'c');
		e->uc = count_subst(topic, tn, 'u');
		if (!e->cc && !e->uc)
			perr(ps, line, "warning",
			     "pattern without %%c or %%u applies to every client alike");
	} else if (user_off >= 0) {
		e->owner = OWNER_USER;
		e->uoff = (uint32_t)user_off;
	} else {
		e->owner = OWNER_ANON;
	}
	return 0;
}

/*
 * Parses one line (without its '\n'). Lenient where mosquitto refuses to
 * start (a tab between words, a comment after blanks), strict where a
 * wrong guess would grant access: after a bad "user" line its topic
 * lines are skipped rather than given to the previous user. Returns -1
 * only when out of memory.
 */
static int parse_line(struct parse *ps, unsigned line, const char *p, size_t n,
		      int64_t *user_off, bool *bad_user)
{
	char ex[64];
	if (n > SACL_LINE_MAX) {
		perr(ps, line, "error", "line longer than %u bytes; skipped",
		     (unsigned)SACL_LINE_MAX);
		return 0;
	}
	if (memchr(p, 0, n)) {
		perr(ps, line, "error", "NUL byte in line; skipped");
		return 0;
	}
	while (n > 0 && is_space(p[n - 1]))
		n--;
	while (n > 0 && is_blank(*p))
		p++, n--;
	if (n == 0 || p[0] == '#')
		return 0;
	size_t k = 0;
	while (k < n && !is_blank(p[k]))
		k++;
	const char *rest = p + k;
	size_t rn = n - k;
	while (rn > 0 && is_blank(*rest))
		rest++, rn--;
	if (k == 4 && !memcmp(p, "user", 4)) {
		if (rn == 0) {
			perr(ps, line, "error",
			     "user without a name; its topic lines are skipped");
			*bad_user = true;
			return 0;
		}
		int64_t off = pool_add(ps->a, rest, rn);
		if (off < 0)
			return -1;
		*user_off = off;
		*bad_user = false;
		return 0;
	}
	if (k == 5 && !memcmp(p, "topic", 5)) {
		if (*bad_user) {
			perr(ps, line, "error", "topic line of a bad user line; skipped");
			return 0;
		}
		return parse_topic(ps, line, false, rest, rn, *user_off);
	}
	if (k == 7 && !memcmp(p, "pattern", 7))
		return parse_topic(ps, line, true, rest, rn, -1);
	perr(ps, line, "error", "unknown keyword '%s' (topic, pattern or user); line skipped",
	     excerpt(ex, sizeof(ex), p, k));
	return 0;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct sacl_entry *a = x, *b = y;
	if (a->owner != b->owner)
		return a->owner < b->owner ? -1 : 1;
	if (a->owner == OWNER_USER) {
		int c = strcmp(a->uname, b->uname);
		if (c)
			return c;
	}
	bool ad = a->access == 0, bd = b->access == 0;
	if (ad != bd)
		return ad ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* Sorts the lines into groups and sizes the scratch; -1: no memory. */
static int finish(struct sacl *a)
{
	if (a->n > SACL_MAX_ENTRIES)
		a->n = SACL_MAX_ENTRIES;
	for (size_t i = 0; i < a->n; i++)
		a->e[i].uname = a->e[i].owner == OWNER_USER ? a->pool + a->e[i].uoff : NULL;
	if (a->n)
		qsort(a->e, a->n, sizeof(a->e[0]), entry_cmp);
	size_t nu = 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->e[i].owner == OWNER_USER &&
		    (i == 0 || a->e[i - 1].owner != OWNER_USER ||
		     strcmp(a->e[i - 1].uname, a->e[i].uname)))
			nu++;
	size_t cap = a->n ? a->n : 1;
	a->users = calloc(nu ? nu : 1, sizeof(*a->users));
	a->g = calloc(cap, sizeof(*a->g));
	a->gl = calloc(cap, sizeof(*a->gl));
	a->pos = calloc(cap, sizeof(*a->pos));
	a->sub_off = calloc(cap, sizeof(*a->sub_off));
	if (!a->users || !a->g || !a->gl || !a->pos || !a->sub_off)
		return -1;
	size_t sub_len = 0, max_pat = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct sacl_entry *e = &a->e[i];
		struct sacl_group *g;
		if (e->owner == OWNER_ANON) {
			g = &a->anon;
		} else if (e->owner == OWNER_PATTERN) {
			g = &a->pat;
		} else {
			if (!a->n_users || strcmp(a->users[a->n_users - 1].name, e->uname)) {
				a->users[a->n_users].name = e->uname;
				a->n_users++;
			}
			g = &a->users[a->n_users - 1];
		}
		if (g->n == 0)
			g->first = (uint32_t)i;
		g->n++;
		if (e->owner == OWNER_PATTERN) {
			size_t want = e->len + 1 + ((size_t)e->cc + e->uc) * SACL_SUBST_MAX;
			a->sub_off[i] = sub_len;
			sub_len += want;
			if (want > max_pat)
				max_pat = want;
			a->pat_c |= e->cc > 0;
			a->pat_u |= e->uc > 0;
		}
	}
	a->sub = malloc(sub_len ? sub_len : 1);
	a->ix_cap = SACL_FILTER_MAX + (max_pat > SACL_LINE_MAX ? max_pat : SACL_LINE_MAX) + 2;
	a->ix = malloc(a->ix_cap);
	if (!a->sub || !a->ix)
		return -1;
	return 0;
}

struct sacl *sacl_parse(const char *name, const char *text, size_t len, FILE *log,
			unsigned *errors)
{
	struct sacl *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->name = strdup(name ? name : "acl");
	if (!a->name)
		goto fail;
	struct parse ps = { .a = a, .log = log, .name = a->name };
	int64_t user_off = -1;
	bool bad_user = false;
	unsigned line = 0;
	size_t i = 0;
	while (i < len) {
		const char *p = text + i;
		const char *nl = memchr(p, '\n', len - i);
		size_t n = nl ? (size_t)(nl - p) : len - i;
		line++;
		if (parse_line(&ps, line, p, n, &user_off, &bad_user) < 0)
			goto fail;
		i += n + (nl ? 1 : 0);
	}
	if (ps.shown > SACL_MSG_MAX && log) {
		char nm[128];
		fprintf(log, "%s: %u more messages not shown\n",
			excerpt(nm, sizeof(nm), a->name, strlen(a->name)),
			ps.shown - SACL_MSG_MAX);
	}
	if (finish(a) < 0)
		goto fail;
	if (errors)
		*errors = ps.errors;
	return a;
fail:
	sacl_free(a);
	return NULL;
}

struct sacl *sacl_load(const char *path, FILE *log, unsigned *errors)
{
	struct sacl *a = NULL;
	char *buf = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (log)
			fprintf(log, "%s: cannot open the ACL file: %s\n", path, strerror(errno));
		return NULL;
	}
	if (log)
		file_warn_unsafe(fileno(f), path, "ACL file", log);
	size_t cap = 65536, len = 0;
	buf = malloc(cap);
	if (!buf)
		goto out;
	for (;;) {
		if (len == cap) {
			if (cap >= SACL_FILE_MAX) {
				if (log)
					fprintf(log, "%s: ACL file larger than %u bytes; not read\n",
						path, (unsigned)SACL_FILE_MAX);
				goto out;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				goto out;
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				if (log)
					fprintf(log, "%s: cannot read the ACL file: %s\n", path,
						strerror(errno));
				goto out;
			}
			break;
		}
	}
	a = sacl_parse(path, buf, len, log, errors);
	if (!a && log)
		fprintf(log, "%s: out of memory\n", path);
out:
	free(buf);
	fclose(f);
	return a;
}

void sacl_free(struct sacl *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->pool);
	free(a->e);
	free(a->users);
	free((void *)a->g);
	free(a->gl);
	free(a->pos);
	free(a->sub);
	free(a->sub_off);
	free(a->ix);
	free(a);
}

const char *sacl_name(const struct sacl *a)
{
	return a->name;
}

size_t sacl_count(const struct sacl *a)
{
	return a->n;
}

/* The lines of a user (NULL: the anonymous ones), or NULL when it has none. */
static const struct sacl_group *find_user(const struct sacl *a, const char *user)
{
	if (!user)
		return a->anon.n ? &a->anon : NULL;
	size_t lo = 0, hi = a->n_users;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(user, a->users[mid].name);
		if (c == 0)
			return &a->users[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool sacl_has_user(const struct sacl *a, const char *username)
{
	return find_user(a, username) != NULL;
}

/* ---- filter algebra ---- */

/* The length of the level of f[0..n) that starts at i (i <= n). */
static size_t level_len(const char *f, size_t n, size_t i)
{
	const char *s = memchr(f + i, '/', n - i);
	return s ? (size_t)(s - (f + i)) : n - i;
}

/*
 * Coverage, level by level over s. Each grant has a cursor at the level
 * that lines up with s's current level (SIZE_MAX: it cannot cover what
 * is left; past its end: it ended). A grant reaching '#' covers every
 * continuation, so s is covered. A literal level of s keeps the grants
 * with that literal or '+'; a '+' of s keeps only '+' grants, because a
 * literal grant covers one value of infinitely many and whatever wildcard
 * grants cover the other values covers it too. s's final '#' is the topic
 * ending here (a grant that ended too) plus "+/#" again; the loop ends as
 * every step moves all grants one level and they are finite. The first
 * level follows MQTT 5.0 §4.7.2: a wildcard there does not cover a level
 * starting with '$'.
 */
bool sacl_filter_covered(const char *s, size_t sn, const char *const *g, const size_t *gl,
			 size_t n, size_t *pos)
{
	if (!sacl_filter_valid(s, sn))
		return false;
	size_t alive = 0;
	for (size_t k = 0; k < n; k++) {
		pos[k] = SIZE_MAX;
		if (g[k] && sacl_filter_valid(g[k], gl[k])) {
			pos[k] = 0;
			alive++;
		}
	}
	size_t si = 0;
	bool first = true;
	bool hash = false;       /* at s's final '#' */
	for (;;) {
		if (alive == 0)
			return false;
		size_t sl = hash ? 1 : level_len(s, sn, si);
		bool s_hash = hash || (sl == 1 && s[si] == '#');
		bool s_plus = !s_hash && sl == 1 && s[si] == '+';
		if (s_hash) {
			bool ended = false;
			for (size_t k = 0; k < n; k++) {
				if (pos[k] == SIZE_MAX)
					continue;
				if (pos[k] > gl[k]) {
					ended = true;
					continue;
				}
				size_t l = level_len(g[k], gl[k], pos[k]);
				if (l == 1 && g[k][pos[k]] == '#')
					return true;
			}
			/* the topic may end at the parent level (not at level 0) */
			if (!first && !ended)
				return false;
			hash = true;
			s_plus = true;
		}
		alive = 0;
		for (size_t k = 0; k < n; k++) {
			if (pos[k] == SIZE_MAX)
				continue;
			if (pos[k] > gl[k]) {
				pos[k] = SIZE_MAX;
				continue;
			}
			size_t p = pos[k], l = level_len(g[k], gl[k], p);
			const char *gv = g[k] + p;
			bool g_hash = l == 1 && gv[0] == '#', g_plus = l == 1 && gv[0] == '+';
			bool dollar = first && !s_plus && sl > 0 && s[si] == '$';
			if (g_hash && !dollar)
				return true;
			bool keep;
			if (s_plus)
				keep = g_plus;
			else if (g_plus || g_hash)
				keep = !dollar && g_plus;
			else
				keep = l == sl && !memcmp(gv, s + si, sl);
			if (!keep) {
				pos[k] = SIZE_MAX;
				continue;
			}
			pos[k] = p + l + 1; /* past the '/', or past the end: ended */
			alive++;
		}
		first = false;
		if (hash)
			continue;
		si += sl;
		if (si >= sn) {
			/* s ends: some grant ends here too, or goes on with "/#" */
			for (size_t k = 0; k < n; k++) {
				if (pos[k] == SIZE_MAX)
					continue;
				if (pos[k] > gl[k])
					return true;
				if (gl[k] - pos[k] == 1 && g[k][pos[k]] == '#')
					return true;
			}
			return false;
		}
		si++; /* the '/' */
	}
}

/*
 * The filter matching exactly the topics both valid filters a and b
 * match, into out[0..cap); its length, 0 when they share no topic or it
 * does not fit (callers check overlap first and size out for both).
 */
static size_t filter_intersect(const char *a, size_t an, const char *b, size_t bn, char *out,
			       size_t cap)
{
	size_t o = 0, ai = 0, bi = 0;
	bool first = true;
#define PUT(p, n)                                                                      \
	do {                                                                           \
		if (o + (n) >= cap)                                                    \
			return 0;                                                      \
		memcpy(out + o, (p), (n));                                             \
		o += (n);                                                              \
	} while (0)
	for (;;) {
		size_t al = level_len(a, an, ai), bl = level_len(b, bn, bi);
		bool ah = al == 1 && a[ai] == '#', bh = bl == 1 && b[bi] == '#';
		bool ap = al == 1 && a[ai] == '+', bp = bl == 1 && b[bi] == '+';
		if (first && ((ah || ap) != (bh || bp))) {
			const char *lit = (ah || ap) ? b + bi : a + ai;
			size_t ll = (ah || ap) ? bl : al;
			if (ll > 0 && lit[0] == '$')
				return 0;
		}
		if (ah) {
			PUT(b + bi, bn - bi);
			break;
		}
		if (bh) {
			PUT(a + ai, an - ai);
			break;
		}
		if (ap)
			PUT(b + bi, bl);
		else if (bp || (al == bl && !memcmp(a + ai, b + bi, al)))
			PUT(a + ai, al);
		else
			return 0;
		first = false;
		ai += al;
		bi += bl;
		bool amore = ai < an, bmore = bi < bn;
		if (!amore && !bmore)
			break;
		if (amore && !bmore) {
			if (an - ai == 2 && a[ai + 1] == '#')
				break;
			return 0;
		}
		if (!amore) {
			if (bn - bi == 2 && b[bi + 1] == '#')
				break;
			return 0;
		}
		ai++;
		bi++;
		PUT("/", 1);
	}
#undef PUT
	out[o] = 0;
	return o;
}

/* ---- checks ---- */

/*
 * Pattern line i expanded for this client into its scratch slot, as
 * mosquitto does it (only "%c", and "%u" when there is a username; the
 * caller has checked the lengths). Returns the filter, *len its length.
 */
static const char *expand(struct sacl *a, size_t i, const char *cid, size_t cl, const char *user,
			  size_t ul, size_t *len)
{
	const struct sacl_entry *e = &a->e[i];
	const char *t = a->pool + e->off;
	if (!e->cc && !(e->uc && user)) {
		*len = e->len;
		return t;
	}
	char *o = a->sub + a->sub_off[i], *s = o;
	for (size_t k = 0; k < e->len; k++) {
		if (k + 1 < e->len && t[k] == '%') {
			if (t[k + 1] == 'c') {
				memcpy(s, cid, cl);
				s += cl;
				k++;
				continue;
			}
			if (user && t[k + 1] == 'u') {
				memcpy(s, user, ul);
				s += ul;
				k++;
				continue;
			}
		}
		*s++ = t[k];
	}
	*s = 0;
	*len = (size_t)(s - o);
	return o;
}

static bool verdict(struct sacl_verdict *v, bool ok, enum sacl_why why, uint32_t line)
{
	v->allowed = ok;
	v->why = why;
	v->line = line;
	return ok;
}

/* Whether the pattern lines may be used for this client; else *why. */
static bool patterns_usable(const struct sacl *a, const char *user, size_t ul, const char *cid,
			    size_t cl, enum sacl_why *why)
{
	if ((user && strpbrk(user, "+#")) || strpbrk(cid, "+#")) {
		*why = SACL_WHY_DANGEROUS_ID;
		return false;
	}
	if ((a->pat_c && cl > SACL_SUBST_MAX) || (a->pat_u && user && ul > SACL_SUBST_MAX)) {
		*why = SACL_WHY_TOO_LONG;
		return false;
	}
	return true;
}

/* First-match walk over a topic name (mosquitto_acl_check_default). */
static bool check_topic(struct sacl *a, const struct sacl_group *ug, const char *user, size_t ul,
			const char *cid, size_t cl, uint8_t want, const char *t, size_t n,
			struct sacl_verdict *v)
{
	for (uint32_t k = 0; ug && k < ug->n; k++) {
		const struct sacl_entry *e = &a->e[ug->first + k];
		if (!mqtt_topic_match(a->pool + e->off, t, n))
			continue;
		if (e->access == 0)
			return verdict(v, false, SACL_WHY_DENY_LINE, e->line);
		if (e->access & want)
			return verdict(v, true, SACL_WHY_GRANT, e->line);
	}
	if (!a->pat.n)
		return verdict(v, false, SACL_WHY_NO_GRANT, 0);
	enum sacl_why why;
	if (!patterns_usable(a, user, ul, cid, cl, &why))
		return verdict(v, false, why, 0);
	for (uint32_t k = 0; k < a->pat.n; k++) {
		size_t i = a->pat.first + k;
		const struct sacl_entry *e = &a->e[i];
		if (e->uc && !user)
			continue;
		size_t fl;
		const char *f = expand(a, i, cid, cl, user, ul, &fl);
		if (!mqtt_topic_match(f, t, n))
			continue;
		if (e->access == 0)
			return verdict(v, false, SACL_WHY_DENY_LINE, e->line);
		if (e->access & want)
			return verdict(v, true, SACL_WHY_GRANT, e->line);
	}
	return verdict(v, false, SACL_WHY_NO_GRANT, 0);
}

/* Collects the read grants of ug (and of the patterns when pat) into a->g. */
static size_t collect_reads(struct sacl *a, const struct sacl_group *ug, bool pat,
			    const char *user, size_t ul, const char *cid, size_t cl)
{
	size_t n = 0;
	for (uint32_t k = 0; ug && k < ug->n; k++) {
		const struct sacl_entry *e = &a->e[ug->first + k];
		if (!(e->access & SACL_READ))
			continue;
		a->g[n] = a->pool + e->off;
		a->gl[n++] = e->len;
	}
	for (uint32_t k = 0; pat && k < a->pat.n; k++) {
		size_t i = a->pat.first + k;
		const struct sacl_entry *e = &a->e[i];
		if (!(e->access & SACL_READ) || (e->uc && !user))
			continue;
		a->g[n] = expand(a, i, cid, cl, user, ul, &a->gl[n]);
		n++;
	}
	return n;
}

/*
 * Subscription coverage (see sacl_check): allowed(T) is
 * T not in UD and (T in UG or (T not in PD and T in PG)), with U the
 * user's lines, P the patterns, D deny and G read grants. So s is covered
 * when it meets no UD, is covered by UG and PG together, and each part of
 * it inside some PD is covered by UG alone.
 */
static bool check_sub(struct sacl *a, const struct sacl_group *ug, const char *user, size_t ul,
		      const char *cid, size_t cl, const char *s, size_t sn, struct sacl_verdict *v)
{
	/* a shared subscription receives what its filter matches (MQTT 5.0 §4.8.2) */
	if (sn > 7 && !memcmp(s, "$share/", 7)) {
		const char *sl = memchr(s + 7, '/', sn - 7);
		if (sl) {
			sn -= (size_t)(sl + 1 - s);
			s = sl + 1;
		}
	}
	if (!sacl_filter_valid(s, sn))
		return verdict(v, false, SACL_WHY_NO_GRANT, 0);
	for (uint32_t k = 0; ug && k < ug->n; k++) {
		const struct sacl_entry *e = &a->e[ug->first + k];
		if (e->access == 0 && mqtt_topic_overlap(a->pool + e->off, s, sn))
			return verdict(v, false, SACL_WHY_DENY_LINE, e->line);
	}
	enum sacl_why why = SACL_WHY_NO_GRANT;
	bool pat = a->pat.n && patterns_usable(a, user, ul, cid, cl, &why);
	size_t n = collect_reads(a, ug, pat, user, ul, cid, cl);
	if (!sacl_filter_covered(s, sn, a->g, a->gl, n, a->pos))
		return verdict(v, false, why, 0);
	for (uint32_t k = 0; pat && k < a->pat.n; k++) {
		size_t i = a->pat.first + k;
		const struct sacl_entry *e = &a->e[i];
		if (e->access != 0 || (e->uc && !user))
			continue;
		size_t dl;
		const char *d = expand(a, i, cid, cl, user, ul, &dl);
		if (!mqtt_topic_overlap(d, s, sn))
			continue;
		size_t xl = filter_intersect(s, sn, d, dl, a->ix, a->ix_cap);
		size_t un = collect_reads(a, ug, false, user, ul, cid, cl);
		if (!xl || !sacl_filter_covered(a->ix, xl, a->g, a->gl, un, a->pos))
			return verdict(v, false, SACL_WHY_DENY_LINE, e->line);
	}
	return verdict(v, true, SACL_WHY_GRANT, 0);
}

bool sacl_check(struct sacl *a, const char *username, const char *client_id,
		enum sacl_access access, const char *t, size_t n, struct sacl_verdict *v)
{
	const char *cid = client_id ? client_id : "";
	size_t cl = strlen(cid), ul = username ? strlen(username) : 0;
	const struct sacl_group *ug = find_user(a, username);
	if (!ug && !a->pat.n)
		return verdict(v, false, SACL_WHY_NO_GRANT, 0);
	if (access == SACL_SUBSCRIBE)
		return check_sub(a, ug, username, ul, cid, cl, t, n, v);
	return check_topic(a, ug, username, ul, cid, cl, (uint8_t)(access & 3), t, n, v);
}
