/*
 * threshold.h - per (owner, target) match counters for the rule engine: a
 * sliding window of event time, the threshold that raises an alert, and the
 * cooldown during which further matches are added to that alert. Knows
 * nothing about rules: the owner is an opaque pointer (detect.c passes the
 * rule). Bounded: entries of one keyed table (util/ktable.h), and a
 * min-heap of cooldown deadlines so expiry only looks at the top.
 *
 * Eviction is segmented: a tracker with one match is on the "new" list,
 * one with two or more matches in its window (or in cooldown) on the
 * "kept" list, which holds at most THR_KEPT_SHARE of the table. A new
 * key displaces the oldest "new" tracker, and a "kept" one only when no
 * "new" one is left; a full "kept" list demotes its oldest to "new". So a
 * flood of keys that each match once (spoofed SYNs, one failed login per
 * source) never pushes out a tracker that has counted twice.
 *
 * Both lists are fair between owners (partitions): the tracker that makes
 * room is the oldest of the owner with the most trackers on the list. A
 * flood that matches one rule (a SYN flood) displaces that rule's own
 * trackers, never another rule's, while it holds the most.
 *
 * Semantics are documented in docs/detection.md.
 */
#ifndef MQTTIDS_THRESHOLD_H
#define MQTTIDS_THRESHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/ktable.h"

/* The window is THR_BUCKETS buckets of interval/THR_BUCKETS each, plus the
 * bucket the newest event is in (so an event exactly one interval old is
 * still counted). */
#define THR_BUCKETS 16
#define THR_RING (THR_BUCKETS + 1)

/* What is counted: owner (a rule) and target address. */
struct thr_key {
	const void *owner;
	uint8_t family;    /* 4, 6, or 0: no address (addr all zero) */
	uint8_t addr[16];
};

struct thr_params {
	uint32_t threshold;  /* matches in the window that raise; 0 acts as 1 */
	uint32_t interval_s; /* window length; 0 acts as 1 µs buckets */
	uint32_t cooldown_s; /* 0: the window restarts right after firing */
	uint32_t part;       /* the owner's partition, below thr_new's n_parts */
};

enum thr_verdict {
	THR_COUNTED = 0, /* counted, below the threshold */
	THR_FIRED = 1,   /* the threshold was reached: a new alert */
	THR_ADDED = 2,   /* in cooldown: added to the alert (total++) */
};

/* Why an entry's alert cycle ends (see thr_end_fn). */
enum thr_end {
	THR_END_COOLDOWN = 0, /* event time reached the cooldown end */
	THR_END_FLUSH = 1,    /* thr_flush: end of input */
	THR_END_EVICT = 2,    /* the entry is evicted to make room */
};

/*
 * One tracker. The public fields are read-only for the caller; the
 * caller's own per-entry data lives in thr_user(e).
 */
struct thr_entry {
	struct kt_node node; /* private: the table's */
	struct thr_key key;
	/* The alert of the current cycle; valid from THR_FIRED on. */
	uint64_t total;       /* matches: count at firing + added */
	uint64_t first_us;    /* earliest event in the window at firing */
	uint64_t fired_us;    /* time of the event that fired */
	uint64_t cool_end_us; /* fired_us + cooldown */
	uint64_t added;       /* matches added during the cooldown */
	uint64_t last_us;     /* time of the latest match */
	uint32_t window;      /* matches in the window (not cooling) */
	bool cooling;
	bool fresh;           /* the last hit found the window empty */

	/* private */
	uint32_t heap_idx;    /* UINT32_MAX: not in the heap */
	uint64_t width_us;    /* bucket width */
	uint64_t head;        /* bucket number (ts / width) of the newest */
	uint32_t count[THR_RING];
	uint64_t first[THR_RING]; /* earliest ts in each bucket */
};

/*
 * Called when an entry's alert cycle ends: its cooldown passed (ts_us is
 * the cooldown end), the input ended (ts_us is the latest event time seen,
 * at most the cooldown end), or it is evicted (ts_us likewise; the entry
 * may or may not be cooling). When e->cooling and e->added > 0 the caller
 * owes its sink an update with e->total. After the call the entry's window
 * and cooldown are reset (or the entry is reused for another key).
 */
typedef void (*thr_end_fn)(void *ud, struct thr_entry *e, enum thr_end why,
			   uint64_t ts_us);

/* The "kept" list's share of the table, in percent. */
#define THR_KEPT_SHARE_PCT 75u

struct thr_stats {
	uint64_t created;
	uint64_t evicted;
	uint64_t evicted_kept;    /* of which had counted two or more */
	uint64_t evicted_cooling; /* of which were in cooldown */
	uint64_t demoted;         /* "kept" trackers moved back to "new" */
	uint32_t active;
	uint32_t kept;            /* now on the "kept" list */
};

struct thr_table;

/*
 * A table of at most max_entries trackers (0 acts as 1) of n_parts owner
 * partitions (0 acts as 1; thr_params.part), each with
 * user_size zeroed bytes for the caller. end is called as described above
 * (may be NULL). Everything is allocated here; NULL when out of memory.
 */
struct thr_table *thr_new(uint32_t max_entries, uint32_t n_parts,
			  size_t user_size, thr_end_fn end, void *ud);
void thr_free(struct thr_table *t);

/* Bytes one tracker with user_size caller bytes takes in the table. */
uint64_t thr_entry_bytes(size_t user_size);

/* The caller's bytes of e (user_size long, 8-byte aligned). */
void *thr_user(struct thr_entry *e);

/*
 * Records one match of key at event time ts_us with params p (an owner
 * must always pass the same params). Finds or creates the entry, evicting
 * the least recently used one when the pool is full; ends the entry's
 * cooldown first when ts_us has reached it. *out is set to the entry,
 * valid until the next call that may evict. Returns the verdict.
 */
enum thr_verdict thr_hit(struct thr_table *t, const struct thr_key *key,
			 const struct thr_params *p, uint64_t ts_us,
			 struct thr_entry **out);

/* The entry of key, or NULL. Does not touch the LRU order. */
struct thr_entry *thr_find(struct thr_table *t, const struct thr_key *key);

/* Ends every cooldown whose end is <= now_us, earliest first. O(1) when
 * none is due. */
void thr_expire(struct thr_table *t, uint64_t now_us);

/* The earliest pending cooldown end, or UINT64_MAX when none. */
uint64_t thr_next_deadline(const struct thr_table *t);

/* Ends every pending cooldown (THR_END_FLUSH), earliest deadline first. */
void thr_flush(struct thr_table *t);

const struct thr_stats *thr_stats(struct thr_table *t);

/* The table underneath, for its counters and pressure reports. */
const struct ktable *thr_ktable(const struct thr_table *t);

#endif
