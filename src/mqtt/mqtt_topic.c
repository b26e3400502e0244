/*
 * mqtt_topic.c - MQTT topic filter semantics (MQTT 5.0 §4.7, 3.1.1
 * §4.7): whether a filter matches a topic name, and whether two filters
 * can match a common topic name. Both walk the strings once, level by
 * level, without allocating; the topic and subscription sides are slices
 * from the wire and may hold any bytes.
 */
#include "mqtt/mqtt_topic.h"

#include <string.h>

/* A cursor over one side: a filter or topic as (p, len). */
struct lv {
	const char *p;
	size_t len;
	size_t i; /* start of the current level */
};

/* Length of the level starting at c->i. */
static size_t lv_len(const struct lv *c)
{
	const char *s = c->p + c->i;
	const char *slash = memchr(s, '/', c->len - c->i);
	return slash ? (size_t)(slash - s) : c->len - c->i;
}

/* Whether the current level is exactly the one-byte wildcard w. */
static bool lv_is(const struct lv *c, size_t n, char w)
{
	return n == 1 && c->p[c->i] == w;
}

static bool is_wild(const struct lv *c, size_t n)
{
	return lv_is(c, n, '+') || lv_is(c, n, '#');
}

/*
 * Moves past the current level (n bytes). Returns false when it was the
 * last level, true when a '/' followed (so there is a next, maybe empty,
 * level).
 */
static bool lv_next(struct lv *c, size_t n)
{
	c->i += n;
	if (c->i >= c->len)
		return false;
	c->i++; /* the '/' */
	return true;
}

/*
 * MQTT 5.0 §4.7.1: '#' matches the parent level and any number of child
 * levels ("a/#" matches "a"), '+' exactly one level (which may be empty).
 * §4.7.2: a filter starting with a wildcard does not match a topic name
 * starting with '$'. A '+' or '#' that is not a whole level is compared
 * as a literal byte (rule filters are validated when loaded). One pass
 * over both strings: this runs for every PUBLISH against topic rules.
 */
bool mqtt_topic_match(const char *f, const char *t, size_t n)
{
	size_t i = 0;
	bool wild_first = (f[0] == '+' || f[0] == '#') &&
			  (f[1] == '/' || f[1] == 0);
	if (n > 0 && t[0] == '$' && wild_first)
		return false;
	for (;;) {
		/* at the start of a level on both sides */
		if (f[0] == '#' && f[1] == 0)
			return true;
		if (f[0] == '+' && (f[1] == '/' || f[1] == 0)) {
			while (i < n && t[i] != '/')
				i++;
			f++;
		} else {
			for (; *f && *f != '/'; f++, i++)
				if (i >= n || t[i] != *f)
					return false;
			if (i < n && t[i] != '/')
				return false;
		}
		if (!*f)
			return i == n;
		if (i == n) /* "a/#" matches "a": only a final "/#" is left */
			return f[1] == '#' && f[2] == 0;
		f++; /* both at a '/' */
		i++;
	}
}

/* A shared subscription "$share/GROUP/FILTER" receives what FILTER matches
 * (MQTT 5.0 §4.8.2); brokers accept it from 3.1.1 clients too. */
static void strip_share(const char **s, size_t *len)
{
	static const char pre[] = "$share/";
	size_t n = sizeof(pre) - 1;
	if (*len <= n || memcmp(*s, pre, n) != 0)
		return;
	const char *slash = memchr(*s + n, '/', *len - n);
	if (!slash)
		return;
	*len -= (size_t)(slash + 1 - *s);
	*s = slash + 1;
}

/*
 * Whether some topic name matches both filters. Level by level: a '#'
 * on either side absorbs whatever the other side has left (or nothing),
 * a '+' agrees with any level, two literal levels must be equal. The
 * first level decides about '$' topics (§4.7.2): a side starting with a
 * wildcard cannot meet a side whose first level is a literal starting
 * with '$'. Needs no backtracking: every filter suffix matches some topic.
 */
bool mqtt_topic_overlap(const char *rule, const char *sub, size_t sub_len)
{
	strip_share(&sub, &sub_len);
	struct lv a = { rule, strlen(rule), 0 };
	struct lv b = { sub, sub_len, 0 };
	size_t an = lv_len(&a), bn = lv_len(&b);
	bool aw = is_wild(&a, an), bw = is_wild(&b, bn);
	if (aw != bw) {
		const struct lv *lit = aw ? &b : &a;
		if (lit->len > 0 && lit->p[0] == '$')
			return false;
	}
	for (;;) {
		an = lv_len(&a);
		bn = lv_len(&b);
		if ((lv_is(&a, an, '#') && a.i + 1 == a.len) ||
		    (lv_is(&b, bn, '#') && b.i + 1 == b.len))
			return true;
		if (!lv_is(&a, an, '+') && !lv_is(&b, bn, '+') &&
		    (an != bn || memcmp(a.p + a.i, b.p + b.i, an) != 0))
			return false;
		bool amore = lv_next(&a, an), bmore = lv_next(&b, bn);
		if (!amore && !bmore)
			return true;
		if (amore && !bmore)
			return a.len - a.i == 1 && a.p[a.i] == '#';
		if (!amore)
			return b.len - b.i == 1 && b.p[b.i] == '#';
	}
}
