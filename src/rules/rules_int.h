/*
 * rules_int.h - internals shared by rule_parse.c (loading) and
 * rule_index.c (the candidate index): the rule set itself.
 * Not for use outside src/rules/.
 */
#ifndef MQTTIDS_RULES_INT_H
#define MQTTIDS_RULES_INT_H

#include "rules/rules.h"

/* Rules in load order (candidate lists keep it). */
struct rlist {
	const struct rule **v;
	size_t n, cap;
};

/*
 * A node of the PUBLISH topic index: a literal topic prefix (its last
 * level is lvl, its parent the prefix one level shorter). end holds the
 * rules that may match a topic of exactly this prefix, more the rules
 * that may match a longer topic whose next level is no child node.
 * Node 0 is the root: end holds the rules for a topic whose first level
 * is no node (no topics, or a filter starting with a wildcard).
 */
struct tnode {
	uint32_t parent;
	uint32_t depth;
	uint32_t first_child, next_sibling; /* 0: none */
	const char *lvl; /* into a rule's filter */
	size_t len;
	struct rlist end, more;
};

/*
 * Rules live in chunks, in load order, and never move: consecutive rules
 * are neighbours in memory, so walking a candidate list (rule order)
 * reads memory forwards, which the hardware prefetches, instead of one
 * scattered allocation per rule.
 */
struct rule_chunk {
	struct rule_chunk *next; /* older chunk */
	uint32_t used, cap;
	struct rule r[];
};

struct ruleset {
	struct rule_vars vars;
	struct rule_chunk *chunks; /* newest first */
	struct rule **rules;
	size_t n, cap;
	char **files; /* names the rules point to */
	size_t n_files;
	bool full_reported;
	/* sid -> index + 1, open addressing (duplicate warnings) */
	uint32_t *sid_keys, *sid_vals;
	size_t sid_cap, sid_n;
	/* candidate index, rebuilt after each load (rule_index.c) */
	struct rlist tcp, anomaly, mqtt[16];
	/*
	 * tcp rules by the segment's FIN..URG bits (tcp_flags & 0x3f): the
	 * rules whose flags option can pass with those bits. Most rules
	 * count SYNs, and most segments are ACKs. Off (tcp used alone) above
	 * RULES_TCPF_MAX tcp rules, where 64 lists would cost too much.
	 */
	struct rlist tcpf[64];
	bool tcpf_on;
	/* the classification file's classtypes (classification.c) */
	struct rule_class **classes;
	size_t n_classes, cap_classes;
	bool classes_loaded;
	char *class_file; /* the first classification file's name */
	struct tnode *nodes;  /* NULL: no topic index, mqtt[PUBLISH] it is */
	uint32_t n_nodes;
	uint32_t *child;      /* (parent, level) -> node, open addressing */
	uint32_t child_cap;   /* power of two */
};

#define RULES_TCPF_MAX 4096

void ruleset_classes_free(struct ruleset *rs);

/* Some plain glob of g[0..n) matches s[0..len) (or there is none) and no
 * "!glob" does: how a list option matches (rule_match.c). */
bool globs_match(char *const *g, uint32_t n, const char *s, size_t len);

/* A priority name ("informational" .. "critical", any case) as 0..4; -1. */
int rule_priority_by_name(const char *s, size_t n);

int rlist_push(struct rlist *l, const struct rule *r);
/* (Re)builds the candidate index; -1 when out of memory. */
int rules_index_build(struct ruleset *rs);
void rules_index_free(struct ruleset *rs);

#endif
