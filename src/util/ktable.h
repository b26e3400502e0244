/*
 * ktable.h - the one bounded, keyed table every piece of per-key state
 * lives in: a preallocated pool of fixed-size entries, a chained hash
 * index under the process's secret SipHash key, and up to KT_LISTS
 * recency lists that give the eviction policy.
 *
 * The table never allocates after kt_new and never holds more than its
 * capacity. Which entry makes room for a new one is the caller's policy,
 * given as lists:
 * - every entry is on exactly one list, most recently used at the head;
 * - a new entry may only push out the tail of a list named in evict
 *   order, first non-empty list first (a table whose evictable lists are
 *   all empty refuses new keys: kt_victim returns NULL);
 * - a list may have a cap: moving an entry onto a full list overflows
 *   that list's tail onto another list (segmented LRU: a protected entry
 *   is demoted, not dropped), or hands it back to be ended.
 * - a list may be fair: entries carry a partition (a rule, say) and the
 *   list's victim is the oldest entry of the partition that holds the
 *   most entries on it, so one partition's flood displaces its own
 *   entries, not another's (max-min fairness, O(1) per operation). A
 *   fair list keeps its whole recency order too: kt_tail and kt_newer
 *   walk all of it, oldest first, whatever the partitions.
 * So entries on lists outside evict order are displaced only by each
 * other, never by a flood of new keys. docs/detection.md §9 lists what
 * each table puts on which list.
 *
 * Lookups walk the chain of a hash; the caller compares its own keys:
 *
 *	uint32_t h = kt_hash(kt, &key, sizeof(key));
 *	for (struct x *e = kt_first(kt, h); e; e = kt_next(kt, e))
 *		if (kt_hash_of(e) == h && key_eq(e, &key)) ...
 *
 * Nothing iterates the index, so no output depends on the key.
 */
#ifndef MQTTIDS_KTABLE_H
#define MQTTIDS_KTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/siphash.h"

#define KT_LISTS 4
#define KT_EVICT 0xffu /* list overflow: hand the tail back to be ended */

/* The first member of every entry. Private to ktable.c. */
struct kt_node {
	uint32_t hnext, prev, next;
	uint32_t hash;
	uint32_t self;
	uint32_t part;
	uint32_t gprev, gnext; /* a fair list's whole order */
	uint8_t list;
};

struct kt_list_opts {
	uint32_t cap;     /* most entries on the list; 0: the table's capacity */
	uint8_t overflow; /* where the tail goes past cap: a list or KT_EVICT */
	uint8_t fair;     /* one recency list per partition (see above) */
};

struct kt_opts {
	const char *name;     /* for counters and messages */
	uint32_t capacity;    /* entries (0 acts as 1) */
	size_t entry_size;    /* bytes, struct kt_node first */
	uint32_t n_parts;     /* partitions of fair lists (0 acts as 1) */
	uint8_t n_lists;      /* 1..KT_LISTS */
	struct kt_list_opts list[KT_LISTS];
	uint8_t n_evict;      /* lists a new entry may displace ... */
	uint8_t evict[KT_LISTS]; /* ... tail first, in this order */
	/* Lists whose evictions count as protected (besides those outside
	 * evict order): bit per list. */
	uint8_t protected_lists;
};

struct kt_stats {
	uint64_t inserted;
	uint64_t removed;            /* by the caller (timeouts, ends) */
	uint64_t evicted;            /* displaced for a new entry */
	uint64_t evicted_list[KT_LISTS];
	uint64_t evicted_protected;  /* from lists outside evict order */
	uint64_t overflowed;         /* moved off a full list (demoted) */
	uint64_t refused;            /* full, with nothing evictable */
	uint32_t active;
	uint32_t peak;
};

/* NULL when out of memory. The pool is zeroed and touched only as used. */
struct ktable *kt_new(const struct kt_opts *o);
void kt_free(struct ktable *kt);

/*
 * One recency list. A fair list has a sublist per partition and keeps its
 * partitions sorted by their entry count, largest first: order[] holds
 * partitions, pos[] where each one is, and start[c] how many have more
 * than c entries, so the partitions with c entries sit at
 * [start[c], start[c - 1]) and a count moves by one with one swap.
 */
struct kt_lst {
	uint32_t head, tail, n, cap; /* of a fair list: its whole order */
	uint8_t overflow;
	uint8_t fair;
	uint32_t *phead, *ptail, *pcnt, *order, *pos, *start;
};

/*
 * The table. Its fields are private to ktable.c: the struct is here only
 * so that the lookup functions below inline into the packet path.
 */
struct ktable {
	uint8_t *pool;
	size_t stride;
	uint32_t cap;
	uint32_t used;      /* pool entries handed out at least once */
	uint32_t free_head; /* chain through hnext */
	uint32_t *buckets;
	uint32_t mask;
	struct sip_key key;
	struct kt_lst l[KT_LISTS];
	uint8_t n_lists;
	uint32_t n_parts;
	uint8_t evict[KT_LISTS];
	uint8_t n_evict;
	uint8_t evictable; /* bit per list in evict order */
	uint8_t protect;   /* bit per list whose evictions are protected */
	const char *name;
	struct kt_stats st;
};

#define KT_NIL UINT32_MAX

static inline struct kt_node *kt_node_at(const struct ktable *kt, uint32_t i)
{
	return (struct kt_node *)(kt->pool + (size_t)i * kt->stride);
}

/* The seeded hash of a key's bytes (SipHash-1-3, folded to 32 bits). */
static inline uint32_t kt_hash(const struct ktable *kt, const void *key,
			       size_t n)
{
	uint64_t h = siphash13(&kt->key, key, n);
	return (uint32_t)(h ^ (h >> 32));
}

/* The chain that entries of hash h are on: first entry, next entry. */
static inline void *kt_first(const struct ktable *kt, uint32_t h)
{
	uint32_t i = kt->buckets[h & kt->mask];
	return i == KT_NIL ? NULL : kt_node_at(kt, i);
}

static inline void *kt_next(const struct ktable *kt, const void *e)
{
	uint32_t i = ((const struct kt_node *)e)->hnext;
	return i == KT_NIL ? NULL : kt_node_at(kt, i);
}

static inline uint32_t kt_hash_of(const void *e)
{
	return ((const struct kt_node *)e)->hash;
}
static inline unsigned kt_list_of(const void *e)
{
	return ((const struct kt_node *)e)->list;
}

/*
 * The entry a new key would displace: NULL while a slot is free, or when
 * no evictable list has an entry (then kt_insert returns NULL and the
 * caller counts the refusal with kt_refused).
 */
void *kt_victim(const struct ktable *kt);

/*
 * A free slot for hash h in partition part (< n_parts) at the head of
 * list, zeroed beyond the node; NULL when none is free (end and
 * kt_remove the victim first). Counted.
 */
void *kt_insert(struct ktable *kt, uint32_t h, unsigned list, uint32_t part);

/* Unlinks e and frees its slot. evicted: it made room for a new key. */
void kt_remove(struct ktable *kt, void *e, int evicted);

/* Counts a key that found no room. */
void kt_refused(struct ktable *kt);

/* Moves e to the head of its list. */
void kt_touch_slow(struct ktable *kt, void *e);
static inline void kt_touch(struct ktable *kt, void *e)
{
	const struct kt_node *n = e;
	const struct kt_lst *l = &kt->l[n->list];
	if (l->head != n->self || (l->fair && l->phead[n->part] != n->self))
		kt_touch_slow(kt, e);
}

/*
 * Moves e to the head of list. When that takes the list past its cap,
 * its tail goes to the overflow list's head (returns NULL), or with
 * KT_EVICT is returned for the caller to end and kt_remove.
 */
void *kt_move(struct ktable *kt, void *e, unsigned list);

/* kt_move, also setting e's partition (for a fair target list). */
void *kt_move_part(struct ktable *kt, void *e, unsigned list, uint32_t part);

/* Oldest entry of list, and the next newer one (NULL at the head); for
 * a fair list, across all its partitions. */
void *kt_tail(const struct ktable *kt, unsigned list);
void *kt_newer(const struct ktable *kt, const void *e);

uint32_t kt_count(const struct ktable *kt, unsigned list);
uint32_t kt_capacity(const struct ktable *kt);
const struct kt_stats *kt_stats(const struct ktable *kt);
const char *kt_name(const struct ktable *kt);
/* Bytes the table may use at most: pool and index. */
size_t kt_bytes(const struct ktable *kt);

/*
 * Eviction pressure, for a report at most once per interval of event
 * time: the first eviction after a quiet interval is due at once, later
 * ones when interval_us has passed since the last report. When due, sets
 * *evicted and *protected_ev to what was evicted since the last report.
 */
struct kt_pressure {
	uint64_t evicted, evicted_protected; /* at the last report */
	uint64_t last_us;
	int reported;
};
int kt_pressure_due(const struct ktable *kt, struct kt_pressure *p,
		    uint64_t now_us, uint64_t interval_us, uint64_t *evicted,
		    uint64_t *protected_ev);

#endif
