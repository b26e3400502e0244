/*
 * rule_index.c - the candidate index that keeps the rules tried per event
 * few: rules by event kind and MQTT type, TCP rules by flags, and PUBLISH
 * rules in a tree of literal topic levels. Built by the loader after each
 * load (rules_index_build); read by the detector for every event
 * (ruleset_candidates).
 */
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_types.h"
#include "rules/rules_int.h"

/* ---- the candidate index ---- */

int rlist_push(struct rlist *l, const struct rule *r)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		const struct rule **nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = r;
	return 0;
}


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
