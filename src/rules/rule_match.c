/*
 * rule_match.c - whether one compiled rule matches one event
 * (docs/rules.md). Checks run cheapest first: event kind, message type,
 * QoS, TCP flags and numbers, then ports and addresses, then strings
 * (topics, client ids, usernames, anomaly names). Nothing is allocated:
 * the detector calls this for every candidate rule of every packet.
 * Also the candidate index that keeps that number small: rules by event
 * kind and MQTT type, TCP rules by flags, and PUBLISH rules in a tree of
 * literal topic levels.
 */
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"

/* ---- addresses and ports ---- */

static inline uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t be64(const uint8_t *p)
{
	return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* An address as machine words, loaded once per set. */
struct aw {
	uint8_t family;
	uint32_t v4;
	uint64_t hi, lo;
};

/* Prefix compare in machine words: the hot path of address rules. The
 * masks are computed with shifts that stay defined for every length. */
static inline bool cidr_has(const struct rule_cidr *c, const struct aw *a)
{
	unsigned bits = c->bits;
	if (c->family != a->family)
		return false;
	if (a->family == 4) {
		uint32_t m = (uint32_t)(~0ull << (32 - (bits & 63)));
		return ((be32(c->addr) ^ a->v4) & m) == 0;
	}
	uint64_t hm = bits >= 64 ? ~0ull : bits ? ~0ull << (64 - bits) : 0;
	uint64_t lm = bits <= 64 ? 0 : ~0ull << (128 - bits);
	return ((be64(c->addr) ^ a->hi) & hm) == 0 &&
	       ((be64(c->addr + 8) ^ a->lo) & lm) == 0;
}

/* is_server: this end of the packet is the broker (for "broker"). */
static bool addr_match(const struct rule_addr *ra, uint8_t family,
		       const uint8_t *a, bool is_server)
{
	if (ra->any)
		return true;
	if ((family != 4 && family != 6) || !a)
		return false; /* no address: only "any" matches */
	struct aw w = { family, 0, 0, 0 };
	if (family == 4) {
		w.v4 = be32(a);
	} else {
		w.hi = be64(a);
		w.lo = be64(a + 8);
	}
	bool in = ra->n_pos == 0 && !ra->broker;
	if (!in && ra->broker && is_server)
		in = true;
	for (uint32_t i = 0; !in && i < ra->n_pos; i++)
		in = cidr_has(&ra->pos[i], &w);
	if (!in || (ra->not_broker && is_server))
		return false;
	for (uint32_t i = 0; i < ra->n_neg; i++)
		if (cidr_has(&ra->neg[i], &w))
			return false;
	return true;
}

static bool ports_match(const struct rule_ports *rp, uint16_t port)
{
	if (rp->any)
		return true;
	bool has_pos = false, in = false;
	for (uint32_t i = 0; i < rp->n; i++) {
		bool hit = port >= rp->r[i].lo && port <= rp->r[i].hi;
		if (rp->r[i].neg) {
			if (hit)
				return false;
		} else {
			has_pos = true;
			in |= hit;
		}
	}
	return !has_pos || in;
}

/* The common sets ("any", "broker" alone as $SELF) without a call. */
static inline bool addr_ok(const struct rule_addr *ra, uint8_t family,
			   const uint8_t *a, bool is_server)
{
	if (ra->any)
		return true;
	if (ra->broker && !ra->n_pos && !ra->n_neg && !ra->not_broker)
		return is_server;
	return addr_match(ra, family, a, is_server);
}

/* The header with the rule's source as the packet's sender (fwd) or as
 * its receiver (the other orientation of "<>"). Ports first: cheaper. */
static inline bool header_match(const struct rule *r,
				const struct det_event *ev, bool fwd)
{
	uint16_t sp = fwd ? ev->sport : ev->dport;
	uint16_t dp = fwd ? ev->dport : ev->sport;
	if ((!r->sport.any && !ports_match(&r->sport, sp)) ||
	    (!r->dport.any && !ports_match(&r->dport, dp)))
		return false;
	const uint8_t *sa = fwd ? ev->src : ev->dst;
	const uint8_t *da = fwd ? ev->dst : ev->src;
	bool s_srv = ev->server == (fwd ? DET_SERVER_SRC : DET_SERVER_DST);
	bool d_srv = ev->server == (fwd ? DET_SERVER_DST : DET_SERVER_SRC);
	return addr_ok(&r->src, ev->family, sa, s_srv) &&
	       addr_ok(&r->dst, ev->family, da, d_srv);
}

/* ---- globs ---- */

/*
 * A bracket expression after its '[' (fnmatch(3): "!" or "^" negates, a
 * ']' first is literal, a-z ranges, backslash escapes). Returns whether
 * it is closed, and then sets *hit and *after. An unclosed '[' is an
 * ordinary byte (glibc's fnmatch, whose handling of unclosed brackets
 * depends on what precedes the end, mostly agrees).
 */
static bool bracket(const char *p, unsigned char c, bool *hit,
		    const char **after)
{
	bool neg = *p == '!' || *p == '^', in = false;
	if (neg)
		p++;
	const char *first = p;
	while (*p && (*p != ']' || p == first)) {
		if (*p == '\\' && !*++p)
			return false;
		unsigned char lo = (unsigned char)*p++, hi = lo;
		if (p[0] == '-' && p[1] && p[1] != ']') {
			p++;
			if (*p == '\\' && !*++p)
				return false;
			hi = (unsigned char)*p++;
		}
		in |= c >= lo && c <= hi;
	}
	if (*p != ']')
		return false;
	*hit = in != neg;
	*after = p + 1;
	return true;
}

/*
 * fnmatch(3) with flags 0 over s[0..n) (a slice, not NUL-terminated):
 * '*', '?', brackets, backslash escapes, byte by byte. One backtrack
 * point (the last '*') keeps it O(len(pat) * n) whatever the pattern.
 */
bool rule_glob_match(const char *pat, const char *s, size_t n)
{
	const char *p = pat, *star = NULL;
	size_t i = 0, star_i = 0;
	/* Most globs start or end with a literal byte that rejects at once
	 * ("plc-*", "*-rogue"): the first and last pattern elements are
	 * then those bytes (a last byte other than '*', '?' or ']' is a
	 * literal, escaped or not; an unclosed '[' is literal too). */
	char c0 = pat[0];
	if (c0 && c0 != '*' && c0 != '?' && c0 != '[' && c0 != '\\' &&
	    (n == 0 || s[0] != c0))
		return false;
	size_t pl = strlen(pat);
	char cl = pl ? pat[pl - 1] : 0;
	if (cl && cl != '*' && cl != '?' && cl != ']' &&
	    (n == 0 || s[n - 1] != cl))
		return false;
	while (i < n) {
		const char *np = NULL;
		bool ok = false;
		unsigned char c = (unsigned char)s[i];
		if (*p == '*') {
			star = ++p;
			star_i = i;
			continue;
		}
		if (*p == '?') {
			ok = true;
			np = p + 1;
		} else if (*p == '[') {
			if (!bracket(p + 1, c, &ok, &np)) {
				ok = c == '[';
				np = p + 1;
			}
		} else if (*p == '\\') {
			if (!p[1])
				return false; /* a trailing '\' matches nothing */
			ok = c == (unsigned char)p[1];
			np = p + 2;
		} else if (*p) {
			ok = c == (unsigned char)*p;
			np = p + 1;
		}
		if (ok) {
			p = np;
			i++;
			continue;
		}
		if (!star)
			return false;
		p = star;
		i = ++star_i;
	}
	while (*p == '*')
		p++;
	return *p == 0;
}

/* Some plain glob matches (or there is none) and no "!glob" does. */
static bool globs_match(char *const *g, uint32_t n, const char *s, size_t len)
{
	bool has_pos = false, pos = false;
	for (uint32_t i = 0; i < n; i++) {
		if (g[i][0] == '!') {
			if (rule_glob_match(g[i] + 1, s, len))
				return false;
		} else {
			has_pos = true;
			pos = pos || rule_glob_match(g[i], s, len);
		}
	}
	return !has_pos || pos;
}

/* ---- MQTT options ---- */

static bool num_match(const struct rule_num *c, uint64_t x)
{
	switch (c->op) {
	case CMP_EQ: return x == c->v;
	case CMP_NE: return x != c->v;
	case CMP_LT: return x < c->v;
	case CMP_LE: return x <= c->v;
	case CMP_GT: return x > c->v;
	case CMP_GE: return x >= c->v;
	default: return true;
	}
}

static bool qos_match(const struct rule *r, const struct mqtt_msg *m)
{
	switch (m->type) {
	case MQTT_PUBLISH:
		return r->qos_mask & (1u << (m->qos & 3));
	case MQTT_SUBSCRIBE:
		for (uint32_t i = 0; i < m->n_topics; i++)
			if (r->qos_mask & (1u << (m->topics[i].opts & 3)))
				return true;
		return false;
	case MQTT_CONNECT:
		return m->has_will &&
		       (r->qos_mask & (1u << ((m->connect_flags >> 3) & 3)));
	default:
		return false;
	}
}

static bool code_in(const struct rule *r, uint8_t c)
{
	return (r->retcodes[c >> 6] >> (c & 63)) & 1;
}

/* CONNACK return code (3.1.1) or reason code (5.0), the reason code of
 * v5 acks, DISCONNECT and AUTH, and every code of SUBACK/UNSUBACK. */
static bool retcode_match(const struct rule *r, const struct mqtt_msg *m)
{
	/* the types that carry a code (as the index assumes) */
	static const uint16_t with_code = (1u << MQTT_CONNACK) |
		(1u << MQTT_PUBACK) | (1u << MQTT_PUBREC) | (1u << MQTT_PUBREL) |
		(1u << MQTT_PUBCOMP) | (1u << MQTT_SUBACK) |
		(1u << MQTT_UNSUBACK) | (1u << MQTT_DISCONNECT) |
		(1u << MQTT_AUTH);
	if (!(with_code & (1u << (m->type & 15))))
		return false;
	if (m->has_reason_code) {
		uint8_t c = m->reason_code;
		if (code_in(r, c))
			return true;
		if (m->type == MQTT_CONNACK && m->version < 5 && c <= 5 &&
		    ((r->retcodes_v3 >> c) & 1))
			return true;
	}
	if (m->type == MQTT_SUBACK || m->type == MQTT_UNSUBACK)
		for (size_t i = 0; i < m->codes.len; i++)
			if (code_in(r, m->codes.p[i]))
				return true;
	return false;
}

static unsigned msg_version(const struct mqtt_msg *m,
			    const struct mqtt_state *st)
{
	if (m->type == MQTT_CONNECT)
		return m->protocol_version;
	if (m->version)
		return m->version;
	return st ? st->version : 0;
}

static bool version_in(const struct rule *r, unsigned v)
{
	return v < 8 && (r->version_mask & (1u << v));
}

/* The payload a size applies to; false when the message has none. An
 * oversize PUBLISH (body not decoded) counts its remaining length. */
static bool payload_len(const struct mqtt_msg *m, uint64_t *len)
{
	if (m->type == MQTT_PUBLISH) {
		*len = m->truncated ? m->remaining_length : m->payload.len;
		return true;
	}
	if (m->type == MQTT_CONNECT && m->has_will) {
		*len = m->will_payload.len;
		return true;
	}
	return false;
}

/* Everything about the message but strings. */
static bool mqtt_fields(const struct rule *r, const struct det_event *ev)
{
	const struct mqtt_msg *m = ev->msg;
	uint16_t tm = r->match_types ? r->match_types
		      : r->msg_types ? r->msg_types : 0xffffu;
	uint64_t len;
	if (!(tm & (1u << (m->type & 15))))
		return false;
	if (r->qos_mask && !qos_match(r, m))
		return false;
	if (r->version_mask && !version_in(r, msg_version(m, ev->st)))
		return false;
	if (r->has_retcode && !retcode_match(r, m))
		return false;
	if (r->payload_size.op &&
	    (!payload_len(m, &len) || !num_match(&r->payload_size, len)))
		return false;
	if (r->keepalive.op && (m->type != MQTT_CONNECT ||
				!num_match(&r->keepalive, m->keepalive)))
		return false;
	return true;
}

static bool topics_match(const struct rule *r, const struct mqtt_msg *m)
{
	const char *t;
	size_t tn;
	switch (m->type) {
	case MQTT_PUBLISH:
		t = (const char *)m->topic.p;
		tn = m->topic.len;
		break;
	case MQTT_CONNECT:
		if (!m->has_will)
			return false;
		t = (const char *)m->will_topic.p;
		tn = m->will_topic.len;
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		for (uint32_t i = 0; i < m->n_topics; i++) {
			const char *s = (const char *)m->topics[i].name.p;
			size_t sn = m->topics[i].name.len;
			for (uint32_t k = 0; k < r->n_topics; k++)
				if (topic_filters_overlap(r->topics[k],
							  s ? s : "", sn))
					return true;
		}
		return false;
	default:
		return false;
	}
	if (!t)
		t = "";
	for (uint32_t k = 0; k < r->n_topics; k++)
		if (topic_matches(r->topics[k], t, tn))
			return true;
	return false;
}

/*
 * filter: the (UN)SUBSCRIBE's filters as text, each tried as sent and,
 * for a shared subscription "$share/GROUP/F" (MQTT 5.0 §4.8.2), as F.
 */
static bool filters_match(const struct rule *r, const struct mqtt_msg *m)
{
	static const char pre[] = "$share/";
	if (m->type != MQTT_SUBSCRIBE && m->type != MQTT_UNSUBSCRIBE)
		return false;
	for (uint32_t i = 0; i < m->n_topics; i++) {
		const char *s = (const char *)m->topics[i].name.p;
		size_t n = m->topics[i].name.len;
		if (!s)
			s = "";
		if (globs_match(r->filters, r->n_filters, s, n))
			return true;
		if (n <= sizeof(pre) - 1 || memcmp(s, pre, sizeof(pre) - 1))
			continue;
		const char *g = s + sizeof(pre) - 1;
		const char *slash = memchr(g, '/', n - (size_t)(g - s));
		if (slash && globs_match(r->filters, r->n_filters, slash + 1,
					 n - (size_t)(slash + 1 - s)))
			return true;
	}
	return false;
}

/* client_id and username: a CONNECT's own fields, else the session's. */
static bool session_strings(const struct rule *r, const struct det_event *ev)
{
	const struct mqtt_msg *m = ev->kind == DET_MQTT ? ev->msg : NULL;
	const struct mqtt_state *st = ev->st;
	if (r->n_client_ids) {
		const char *s = "";
		size_t n = 0;
		if (m && m->type == MQTT_CONNECT) {
			s = m->client_id.p ? (const char *)m->client_id.p : "";
			n = m->client_id.len;
		} else if (st && st->client_id) {
			s = st->client_id;
			n = strlen(s);
		}
		if (!globs_match(r->client_ids, r->n_client_ids, s, n))
			return false;
	}
	if (r->n_usernames) {
		const char *s = "";
		size_t n = 0;
		if (m && m->type == MQTT_CONNECT) {
			if (m->has_username && m->username.p) {
				s = (const char *)m->username.p;
				n = m->username.len;
			}
		} else if (st && st->username) {
			s = st->username;
			n = strlen(s);
		}
		if (!globs_match(r->usernames, r->n_usernames, s, n))
			return false;
	}
	return true;
}

/* ---- the rule ---- */

bool rule_match(const struct rule *r, const struct det_event *ev,
		bool *target_src)
{
	switch (ev->kind) {
	case DET_TCP:
		if (r->proto != RULE_TCP || r->n_anomalies)
			return false;
		if (r->has_flags) {
			uint8_t f = ev->tcp_flags & r->flags_mask;
			if (r->flags_any ? f == 0 : f != r->flags_value)
				return false;
		}
		break;
	case DET_MQTT:
		if (r->proto != RULE_MQTT || r->n_anomalies || !ev->msg ||
		    !mqtt_fields(r, ev))
			return false;
		break;
	case DET_ANOMALY:
		if (!r->n_anomalies || !ev->anomaly)
			return false;
		/* session options need a session (none for decoder events) */
		if ((r->n_client_ids || r->n_usernames || r->version_mask) &&
		    !ev->st)
			return false;
		if (r->version_mask && !version_in(r, ev->st->version))
			return false;
		break;
	default:
		return false;
	}
	bool fwd = header_match(r, ev, true);
	if (!fwd && !(r->bidir && header_match(r, ev, false)))
		return false;
	if (ev->kind == DET_MQTT && r->n_topics && !topics_match(r, ev->msg))
		return false;
	if (ev->kind == DET_MQTT && r->n_filters && !filters_match(r, ev->msg))
		return false;
	if ((r->n_client_ids || r->n_usernames) && !session_strings(r, ev))
		return false;
	if (ev->kind == DET_ANOMALY &&
	    !globs_match(r->anomalies, r->n_anomalies, ev->anomaly,
			 strlen(ev->anomaly)))
		return false;
	if (target_src)
		*target_src = fwd ? !r->target_dst : r->target_dst;
	return true;
}

/* ---- the candidate index ---- */

#define TOPIC_INDEX_DEPTH 8u         /* literal topic levels indexed */
#define TOPIC_INDEX_MAX (4u << 20)   /* list entries over all nodes */
#define TOPIC_MARK_BUDGET (16u << 20) /* node visits while building */
#define MARK_END 1u
#define MARK_MORE 2u

static size_t lvl_len(const char *s, size_t n)
{
	const char *e = memchr(s, '/', n);
	return e ? (size_t)(e - s) : n;
}

static uint32_t lvl_hash(uint32_t parent, const char *s, size_t n)
{
	uint32_t h = 2166136261u ^ (parent * 0x9e3779b1u);
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

/* The child of parent for the level s[0..n), or 0 (the root is no child). */
static uint32_t child_find(const struct ruleset *rs, uint32_t parent,
			   const char *s, size_t n)
{
	uint32_t m = rs->child_cap - 1;
	for (uint32_t i = lvl_hash(parent, s, n) & m;; i = (i + 1) & m) {
		uint32_t c = rs->child[i];
		if (!c)
			return 0;
		const struct tnode *t = &rs->nodes[c];
		if (t->parent == parent && t->len == n && !memcmp(t->lvl, s, n))
			return c;
	}
}

/* A rule without topics, or with a filter starting with a wildcard, may
 * match any topic: it goes into every list. */
static bool topic_generic(const struct rule *r)
{
	if (!r->n_topics)
		return true;
	for (uint32_t k = 0; k < r->n_topics; k++) {
		const char *f = r->topics[k];
		if ((f[0] == '+' || f[0] == '#') && (f[1] == '/' || !f[1]))
			return true;
	}
	return false;
}

static uint32_t node_add(struct ruleset *rs, uint32_t parent, const char *s,
			 size_t n)
{
	uint32_t c = child_find(rs, parent, s, n);
	if (c)
		return c;
	c = rs->n_nodes++;
	struct tnode *t = &rs->nodes[c], *p = &rs->nodes[parent];
	memset(t, 0, sizeof(*t));
	t->parent = parent;
	t->depth = p->depth + 1;
	t->lvl = s;
	t->len = n;
	t->next_sibling = p->first_child;
	p->first_child = c;
	uint32_t m = rs->child_cap - 1, i = lvl_hash(parent, s, n) & m;
	while (rs->child[i])
		i = (i + 1) & m;
	rs->child[i] = c;
	return c;
}

/* Nodes for the literal levels each filter starts with (up to depth). */
static int build_nodes(struct ruleset *rs, const struct rlist *pub,
		       unsigned depth)
{
	size_t bound = 1;
	for (size_t i = 0; i < pub->n; i++)
		if (!topic_generic(pub->v[i]))
			bound += (size_t)pub->v[i]->n_topics * depth;
	if (bound == 1 || bound > TOPIC_INDEX_MAX)
		return bound == 1 ? 0 : 1;
	uint32_t cap = 16;
	while (cap < bound * 2)
		cap *= 2;
	rs->nodes = calloc(bound, sizeof(*rs->nodes));
	rs->child = calloc(cap, sizeof(*rs->child));
	if (!rs->nodes || !rs->child)
		return -1;
	rs->child_cap = cap;
	rs->n_nodes = 1;
	for (size_t i = 0; i < pub->n; i++) {
		const struct rule *r = pub->v[i];
		if (topic_generic(r))
			continue;
		for (uint32_t k = 0; k < r->n_topics; k++) {
			const char *f = r->topics[k];
			size_t fn = strlen(f), at = 0;
			uint32_t node = 0;
			for (unsigned d = 0; d < depth && at <= fn; d++) {
				size_t l = lvl_len(f + at, fn - at);
				if (l == 1 && (f[at] == '+' || f[at] == '#'))
					break;
				node = node_add(rs, node, f + at, l);
				at += l + 1;
			}
		}
	}
	return 0;
}

struct marker {
	struct ruleset *rs;
	uint8_t *marks;
	uint32_t *touched;
	uint32_t n_touched;
	size_t visits;
};

static void mark(struct marker *mk, uint32_t node, uint8_t how)
{
	if (!mk->marks[node])
		mk->touched[mk->n_touched++] = node;
	mk->marks[node] |= how;
}

static void mark_subtree(struct marker *mk, uint32_t node)
{
	mk->visits++;
	mark(mk, node, MARK_END | MARK_MORE);
	for (uint32_t c = mk->rs->nodes[node].first_child; c;
	     c = mk->rs->nodes[c].next_sibling)
		mark_subtree(mk, c);
}

/*
 * Marks where filter f (from the level after node's, NULL when used up)
 * may match: END on a node whose exact prefix it matches, MORE on a node
 * when it matches longer topics whose next level is no child node.
 */
static void mark_filter(struct marker *mk, uint32_t node, const char *f)
{
	struct ruleset *rs = mk->rs;
	mk->visits++;
	if (!f) {
		mark(mk, node, MARK_END);
		return;
	}
	size_t n = lvl_len(f, strlen(f));
	const char *next = f[n] ? f + n + 1 : NULL;
	if (n == 1 && f[0] == '#') { /* also the parent level: "a/#" is "a" */
		mark_subtree(mk, node);
		return;
	}
	if (n == 1 && f[0] == '+') {
		mark(mk, node, MARK_MORE);
		for (uint32_t c = rs->nodes[node].first_child; c;
		     c = rs->nodes[c].next_sibling)
			mark_filter(mk, c, next);
		return;
	}
	uint32_t c = child_find(rs, node, f, n);
	if (c)
		mark_filter(mk, c, next);
	else
		mark(mk, node, MARK_MORE);
}

/*
 * Fills the node lists in rule order. Returns 1 when the entries or the
 * work would pass their caps (the caller retries shallower), -1 when out
 * of memory.
 */
static int fill_nodes(struct ruleset *rs, const struct rlist *pub)
{
	struct marker mk = { rs, calloc(rs->n_nodes, 1),
			     calloc(rs->n_nodes, sizeof(uint32_t)), 0, 0 };
	size_t entries = 0;
	int rc = -1;
	if (!mk.marks || !mk.touched)
		goto out;
	for (size_t i = 0; i < pub->n; i++) {
		const struct rule *r = pub->v[i];
		if (topic_generic(r)) {
			entries += 2u * rs->n_nodes;
			if (entries > TOPIC_INDEX_MAX) {
				rc = 1;
				goto out;
			}
			if (rlist_push(&rs->nodes[0].end, r))
				goto out;
			for (uint32_t k = 1; k < rs->n_nodes; k++)
				if (rlist_push(&rs->nodes[k].end, r) ||
				    rlist_push(&rs->nodes[k].more, r))
					goto out;
			continue;
		}
		for (uint32_t k = 0; k < r->n_topics; k++)
			mark_filter(&mk, 0, r->topics[k]);
		entries += 2u * mk.n_touched;
		if (entries > TOPIC_INDEX_MAX || mk.visits > TOPIC_MARK_BUDGET) {
			rc = 1;
			goto out;
		}
		for (uint32_t k = 0; k < mk.n_touched; k++) {
			uint32_t nd = mk.touched[k];
			if (((mk.marks[nd] & MARK_END) &&
			     rlist_push(&rs->nodes[nd].end, r)) ||
			    ((mk.marks[nd] & MARK_MORE) &&
			     rlist_push(&rs->nodes[nd].more, r)))
				goto out;
			mk.marks[nd] = 0;
		}
		mk.n_touched = 0;
	}
	rc = 0;
out:
	free(mk.marks);
	free(mk.touched);
	return rc;
}

static void topics_free(struct ruleset *rs)
{
	for (uint32_t i = 0; rs->nodes && i < rs->n_nodes; i++) {
		free(rs->nodes[i].end.v);
		free(rs->nodes[i].more.v);
	}
	free(rs->nodes);
	free(rs->child);
	rs->nodes = NULL;
	rs->child = NULL;
	rs->n_nodes = rs->child_cap = 0;
}

/*
 * The PUBLISH topic index: a tree of the literal levels rule filters
 * start with (TOPIC_INDEX_DEPTH deep). A topic walks down it as far as
 * its levels are nodes and takes that node's list. Lists hold the
 * generic rules at every node, so when the entries would pass
 * TOPIC_INDEX_MAX the tree is built one level deep, and without it
 * every PUBLISH gets mqtt[PUBLISH]; the result is the same either way.
 */
static int index_topics(struct ruleset *rs)
{
	const struct rlist *pub = &rs->mqtt[MQTT_PUBLISH];
	static const unsigned depths[] = { TOPIC_INDEX_DEPTH, 2, 1 };
	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		int rc = build_nodes(rs, pub, depths[d]);
		if (rc == 0 && rs->nodes)
			rc = fill_nodes(rs, pub);
		if (rc <= 0) {
			if (rc < 0 || !rs->nodes || rs->n_nodes == 1)
				topics_free(rs);
			return rc;
		}
		topics_free(rs);
	}
	return 0;
}

/*
 * Whether rule r's flags option can pass for a segment whose low six flag
 * bits are f. A mask with ECE/CWR bits depends on bits the index does not
 * see: such a rule goes into every list and rule_match decides.
 */
static bool tcp_flags_may_pass(const struct rule *r, unsigned f)
{
	if (!r->has_flags || (r->flags_mask & 0xc0))
		return true;
	unsigned m = f & r->flags_mask;
	return r->flags_any ? m != 0 : m == r->flags_value;
}

static int index_tcp_flags(struct ruleset *rs)
{
	if (rs->tcp.n == 0 || rs->tcp.n > RULES_TCPF_MAX)
		return 0;
	for (unsigned f = 0; f < 64; f++)
		for (size_t i = 0; i < rs->tcp.n; i++)
			if (tcp_flags_may_pass(rs->tcp.v[i], f) &&
			    rlist_push(&rs->tcpf[f], rs->tcp.v[i]))
				return -1;
	rs->tcpf_on = true;
	return 0;
}

void rules_index_free(struct ruleset *rs)
{
	free(rs->tcp.v);
	for (int i = 0; i < 64; i++)
		free(rs->tcpf[i].v);
	memset(rs->tcpf, 0, sizeof(rs->tcpf));
	rs->tcpf_on = false;
	free(rs->anomaly.v);
	for (int i = 0; i < 16; i++)
		free(rs->mqtt[i].v);
	memset(&rs->tcp, 0, sizeof(rs->tcp));
	memset(&rs->anomaly, 0, sizeof(rs->anomaly));
	memset(rs->mqtt, 0, sizeof(rs->mqtt));
	topics_free(rs);
}

int rules_index_build(struct ruleset *rs)
{
	rules_index_free(rs);
	for (size_t i = 0; i < rs->n; i++) {
		const struct rule *r = rs->rules[i];
		if (r->n_anomalies) {
			if (rlist_push(&rs->anomaly, r))
				return -1;
		} else if (r->proto == RULE_TCP) {
			if (rlist_push(&rs->tcp, r))
				return -1;
		} else {
			for (int t = 0; t < 16; t++)
				if ((r->match_types & (1u << t)) &&
				    rlist_push(&rs->mqtt[t], r))
					return -1;
		}
	}
	if (index_tcp_flags(rs))
		return -1;
	return index_topics(rs);
}

/* Walks the topic down the tree as far as its levels are nodes. */
static const struct rlist *topic_list(const struct ruleset *rs,
				      const char *t, size_t n)
{
	uint32_t node = 0;
	size_t i = 0;
	for (;;) {
		size_t l = lvl_len(t + i, n - i);
		uint32_t c = child_find(rs, node, t + i, l);
		if (!c)
			return node ? &rs->nodes[node].more : &rs->nodes[0].end;
		node = c;
		i += l;
		if (i >= n)
			return &rs->nodes[node].end;
		i++; /* the '/' */
	}
}

const struct rule *const *ruleset_candidates(const struct ruleset *rs,
					      const struct det_event *ev,
					      size_t *n)
{
	static const struct rule *const none[1] = { NULL };
	const struct rlist *l;
	*n = 0;
	if (!rs || !ev)
		return none;
	switch (ev->kind) {
	case DET_TCP:
		l = rs->tcpf_on ? &rs->tcpf[ev->tcp_flags & 0x3f] : &rs->tcp;
		break;
	case DET_ANOMALY:
		l = &rs->anomaly;
		break;
	case DET_MQTT:
		if (!ev->msg)
			return none;
		l = &rs->mqtt[ev->msg->type & 15];
		if (ev->msg->type == MQTT_PUBLISH && rs->nodes)
			l = topic_list(rs, ev->msg->topic.p ?
					   (const char *)ev->msg->topic.p : "",
				       ev->msg->topic.len);
		break;
	default:
		return none;
	}
	if (!l->n)
		return none;
	*n = l->n;
	return l->v;
}
