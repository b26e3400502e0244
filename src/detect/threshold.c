/*
 * threshold.c - (owner, target) trackers: a ring of time buckets per
 * tracker for the sliding window, entries of a keyed table with two
 * lists (one match, more), and a binary min-heap of cooldown deadlines.
 * Nothing is allocated after thr_new; nothing scans the pool per event.
 */
#include "detect/threshold.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>


#define US_PER_BUCKET_S (1000000u / THR_BUCKETS) /* 62500: exact */
#define NO_HEAP UINT32_MAX

enum { LIST_NEW = 0, LIST_KEPT = 1 };

struct thr_table {
	struct ktable *kt;
	struct thr_entry **heap; /* by cool_end_us */
	uint32_t n_heap;
	uint32_t max;
	uint64_t now_us;         /* latest event time seen */
	thr_end_fn end;
	void *ud;
	struct thr_stats st;
};

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

struct thr_table *thr_new(uint32_t max_entries, uint32_t n_parts,
			  size_t user_size, thr_end_fn end, void *ud)
{
	struct thr_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = max_entries ? max_entries : 1;
	t->end = end;
	t->ud = ud;
	uint32_t kept = (uint32_t)((uint64_t)t->max * THR_KEPT_SHARE_PCT / 100u);
	struct kt_opts o = {
		.name = "threshold",
		.capacity = t->max,
		.entry_size = align8(sizeof(struct thr_entry)) + align8(user_size),
		.n_parts = n_parts,
		.n_lists = 2,
		.list = { [LIST_NEW] = { 0, KT_EVICT, 1 },
			  [LIST_KEPT] = { kept ? kept : 1, LIST_NEW, 1 } },
		.n_evict = 2,
		.evict = { LIST_NEW, LIST_KEPT },
		.protected_lists = 1u << LIST_KEPT,
	};
	t->kt = kt_new(&o);
	t->heap = calloc(t->max, sizeof(*t->heap));
	if (!t->kt || !t->heap) {
		thr_free(t);
		return NULL;
	}
	return t;
}

void thr_free(struct thr_table *t)
{
	if (!t)
		return;
	kt_free(t->kt);
	free(t->heap);
	free(t);
}

uint64_t thr_entry_bytes(size_t user_size)
{
	/* The entry, its index slot, its heap slot and the fair lists'
	 * per-entry count array. */
	return align8(sizeof(struct thr_entry)) + align8(user_size) +
	       sizeof(uint32_t) + sizeof(struct thr_entry *) + 2 * sizeof(uint32_t);
}

void *thr_user(struct thr_entry *e)
{
	return (uint8_t *)e + align8(sizeof(struct thr_entry));
}

const struct thr_stats *thr_stats(struct thr_table *t)
{
	struct thr_stats *st = &t->st;
	const struct kt_stats *ks = kt_stats(t->kt);
	st->created = ks->inserted;
	st->active = ks->active;
	st->kept = kt_count(t->kt, LIST_KEPT);
	st->demoted = ks->overflowed;
	return st;
}

const struct ktable *thr_ktable(const struct thr_table *t)
{
	return t->kt;
}

/* ---- keys ---- */

/* The key's bytes that are hashed: owner, family, address (no padding). */
#define KEY_BYTES (offsetof(struct thr_key, addr) + sizeof(((struct thr_key *)0)->addr))

/*
 * The seeded hash of a key. An IPv4 or address-less key is hashed as two
 * words (owner; family and address), an IPv6 one as all its bytes: the
 * lengths differ, so the two never collide by construction.
 */
static uint32_t key_hash(const struct thr_table *t, const struct thr_key *k)
{
	if (k->family == 6)
		return kt_hash(t->kt, k, KEY_BYTES);
	uint64_t w[2];
	w[0] = (uint64_t)(uintptr_t)k->owner;
	w[1] = (uint64_t)k->family << 32 | (uint64_t)k->addr[0] << 24 |
	       (uint64_t)k->addr[1] << 16 | (uint64_t)k->addr[2] << 8 |
	       k->addr[3];
	return kt_hash(t->kt, w, sizeof(w));
}

static bool key_eq(const struct thr_key *a, const struct thr_key *b)
{
	return a->owner == b->owner && a->family == b->family &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* ---- deadline heap ---- */

static void heap_set(struct thr_table *t, uint32_t i, struct thr_entry *e)
{
	t->heap[i] = e;
	e->heap_idx = i;
}

static void heap_up(struct thr_table *t, uint32_t i)
{
	struct thr_entry *e = t->heap[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (t->heap[p]->cool_end_us <= e->cool_end_us)
			break;
		heap_set(t, i, t->heap[p]);
		i = p;
	}
	heap_set(t, i, e);
}

static void heap_down(struct thr_table *t, uint32_t i)
{
	struct thr_entry *e = t->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= t->n_heap)
			break;
		if (c + 1 < t->n_heap &&
		    t->heap[c + 1]->cool_end_us < t->heap[c]->cool_end_us)
			c++;
		if (t->heap[c]->cool_end_us >= e->cool_end_us)
			break;
		heap_set(t, i, t->heap[c]);
		i = c;
	}
	heap_set(t, i, e);
}

static void heap_push(struct thr_table *t, struct thr_entry *e)
{
	/* At most one heap slot per pool entry: n_heap < max holds. */
	heap_set(t, t->n_heap++, e);
	heap_up(t, e->heap_idx);
}

static void heap_remove(struct thr_table *t, struct thr_entry *e)
{
	uint32_t i = e->heap_idx;
	if (i == NO_HEAP)
		return;
	e->heap_idx = NO_HEAP;
	struct thr_entry *last = t->heap[--t->n_heap];
	if (last == e)
		return;
	heap_set(t, i, last);
	heap_up(t, i);
	heap_down(t, last->heap_idx);
}

/* ---- window ---- */

static void win_clear(struct thr_entry *e)
{
	memset(e->count, 0, sizeof(e->count));
	e->window = 0;
}

/* Moves the newest bucket to slot, emptying the buckets that fall out. */
static void win_advance(struct thr_entry *e, uint64_t slot)
{
	if (slot - e->head >= THR_RING) {
		win_clear(e);
	} else {
		for (uint64_t s = e->head + 1; s <= slot; s++) {
			uint32_t i = (uint32_t)(s % THR_RING);
			e->window -= e->count[i];
			e->count[i] = 0;
		}
	}
	e->head = slot;
}

static uint64_t win_first(const struct thr_entry *e)
{
	uint64_t f = UINT64_MAX;
	for (uint32_t i = 0; i < THR_RING; i++)
		if (e->count[i] && e->first[i] < f)
			f = e->first[i];
	return f;
}

/*
 * Ends e's alert cycle: tells the caller (who may emit an update), then
 * clears cooldown and window so counting starts again from zero.
 */
static void cycle_end(struct thr_table *t, struct thr_entry *e,
		      enum thr_end why, uint64_t ts_us)
{
	heap_remove(t, e);
	if (t->end)
		t->end(t->ud, e, why, ts_us);
	e->cooling = false;
	e->added = 0;
	e->total = 0;
	win_clear(e);
}

/* Time an entry's cycle is cut short at: now, but never past its end. */
static uint64_t cut_time(const struct thr_table *t, const struct thr_entry *e)
{
	if (e->cooling && e->cool_end_us < t->now_us)
		return e->cool_end_us;
	return t->now_us;
}

/* ---- lookup and allocation ---- */

static struct thr_entry *lookup(const struct thr_table *t,
				const struct thr_key *key, uint32_t h)
{
	for (struct thr_entry *e = kt_first(t->kt, h); e; e = kt_next(t->kt, e))
		if (kt_hash_of(e) == h && key_eq(&e->key, key))
			return e;
	return NULL;
}

struct thr_entry *thr_find(struct thr_table *t, const struct thr_key *key)
{
	return lookup(t, key, key_hash(t, key));
}

/* A clean entry for key on the "new" list, evicting one when full. */
static struct thr_entry *entry_new(struct thr_table *t,
				   const struct thr_key *key, uint32_t h,
				   uint32_t part)
{
	struct thr_entry *v = kt_victim(t->kt);
	if (v) {
		t->st.evicted++;
		if (kt_list_of(v) == LIST_KEPT)
			t->st.evicted_kept++;
		if (v->cooling)
			t->st.evicted_cooling++;
		cycle_end(t, v, THR_END_EVICT, cut_time(t, v));
		kt_remove(t->kt, v, 1);
	}
	/* Both lists are evictable, so a slot is free now. */
	struct thr_entry *e = kt_insert(t->kt, h, LIST_NEW, part);
	e->key = *key;
	e->heap_idx = NO_HEAP;
	return e;
}

/* ---- the API ---- */

/* Matches in the window that protect a tracker from new keys. */
#define KEEP_AT 2u

/* Protects e: onto the "kept" list (demoting its oldest when full). */
static void keep(struct thr_table *t, struct thr_entry *e)
{
	if (kt_list_of(e) != LIST_KEPT)
		kt_move(t->kt, e, LIST_KEPT);
}

enum thr_verdict thr_hit(struct thr_table *t, const struct thr_key *key,
			 const struct thr_params *p, uint64_t ts_us,
			 struct thr_entry **out)
{
	if (ts_us > t->now_us)
		t->now_us = ts_us;
	uint32_t h = key_hash(t, key);
	struct thr_entry *e = lookup(t, key, h);
	if (e)
		kt_touch(t->kt, e);
	else
		e = entry_new(t, key, h, p->part);
	*out = e;

	if (e->cooling) {
		if (ts_us < e->cool_end_us) {
			e->total++;
			e->added++;
			e->fresh = false;
			if (ts_us > e->last_us)
				e->last_us = ts_us;
			keep(t, e);
			return THR_ADDED;
		}
		cycle_end(t, e, THR_END_COOLDOWN, e->cool_end_us);
	}

	uint64_t width = (uint64_t)p->interval_s * US_PER_BUCKET_S;
	if (!width)
		width = 1;
	e->width_us = width;
	uint64_t slot = ts_us / width;
	if (e->window == 0)
		e->head = slot; /* every bucket is empty: any base will do */
	else if (slot > e->head)
		win_advance(e, slot);
	else if (e->head - slot >= THR_RING) {
		/*
		 * Older than the whole window: time went back further than
		 * one interval (clock step, merged captures). Start again
		 * from here rather than count it forever in the oldest bucket.
		 */
		win_clear(e);
		e->head = slot;
	}
	e->fresh = e->window == 0;
	uint32_t i = (uint32_t)(slot % THR_RING);
	if (!e->count[i] || ts_us < e->first[i])
		e->first[i] = ts_us;
	e->count[i]++;
	e->window++;
	if (e->fresh || ts_us > e->last_us)
		e->last_us = ts_us;

	if (e->window >= KEEP_AT)
		keep(t, e);
	uint32_t thr = p->threshold ? p->threshold : 1;
	if (e->window < thr)
		return THR_COUNTED;

	e->total = e->window;
	e->first_us = win_first(e);
	e->fired_us = ts_us;
	e->added = 0;
	win_clear(e);
	if (p->cooldown_s) {
		e->cooling = true;
		e->cool_end_us = ts_us + (uint64_t)p->cooldown_s * 1000000u;
		heap_push(t, e);
		keep(t, e);
	}
	return THR_FIRED;
}

void thr_expire(struct thr_table *t, uint64_t now_us)
{
	if (now_us > t->now_us)
		t->now_us = now_us;
	while (t->n_heap && t->heap[0]->cool_end_us <= now_us) {
		struct thr_entry *e = t->heap[0];
		cycle_end(t, e, THR_END_COOLDOWN, e->cool_end_us);
	}
}

uint64_t thr_next_deadline(const struct thr_table *t)
{
	return t->n_heap ? t->heap[0]->cool_end_us : UINT64_MAX;
}

void thr_flush(struct thr_table *t)
{
	while (t->n_heap) {
		struct thr_entry *e = t->heap[0];
		cycle_end(t, e, THR_END_FLUSH, cut_time(t, e));
	}
}
