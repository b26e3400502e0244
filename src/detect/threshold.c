/*
 * threshold.c - (owner, target) trackers: a ring of time buckets per
 * tracker for the sliding window, a chained hash table over a preallocated
 * pool with one LRU list, and a binary min-heap of cooldown deadlines.
 * Nothing is allocated after thr_new; nothing scans the pool per event.
 */
#include "detect/threshold.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

#define US_PER_BUCKET_S (1000000u / THR_BUCKETS) /* 62500: exact */
#define NO_HEAP UINT32_MAX

struct thr_table {
	uint8_t *pool;           /* max entries of stride bytes */
	size_t stride;
	size_t user_off;
	uint32_t max;
	uint32_t used;           /* pool entries handed out at least once */
	struct thr_entry **buckets;
	uint32_t mask;
	struct thr_entry *head, *tail; /* LRU: head is the most recent */
	struct thr_entry **heap; /* by cool_end_us */
	uint32_t n_heap;
	uint64_t now_us;         /* latest event time seen */
	thr_end_fn end;
	void *ud;
	struct thr_stats st;
};

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

struct thr_table *thr_new(uint32_t max_entries, size_t user_size,
			  thr_end_fn end, void *ud)
{
	struct thr_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = max_entries ? max_entries : 1;
	t->user_off = align8(sizeof(struct thr_entry));
	t->stride = t->user_off + align8(user_size);
	t->end = end;
	t->ud = ud;
	uint32_t nb = 16;
	while (nb < t->max && nb < (1u << 30))
		nb <<= 1;
	t->mask = nb - 1;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	t->heap = calloc(t->max, sizeof(*t->heap));
	/* Entries are taken in pool order, so untouched ones cost no RSS. */
	t->pool = calloc(t->max, t->stride);
	if (!t->buckets || !t->heap || !t->pool) {
		thr_free(t);
		return NULL;
	}
	return t;
}

void thr_free(struct thr_table *t)
{
	if (!t)
		return;
	free(t->pool);
	free(t->heap);
	free(t->buckets);
	free(t);
}

void *thr_user(struct thr_entry *e)
{
	return (uint8_t *)e + align8(sizeof(struct thr_entry));
}

const struct thr_stats *thr_stats(const struct thr_table *t)
{
	return &t->st;
}

/* ---- key hashing ---- */

static uint32_t key_hash(const struct thr_key *k)
{
	uint64_t a, b;
	memcpy(&a, k->addr, 8);
	memcpy(&b, k->addr + 8, 8);
	uint64_t h = hash_mix64((uint64_t)(uintptr_t)k->owner ^ k->family);
	h = hash_mix64(h ^ a);
	h = hash_mix64(h ^ b);
	return (uint32_t)(h ^ (h >> 32));
}

static bool key_eq(const struct thr_key *a, const struct thr_key *b)
{
	return a->owner == b->owner && a->family == b->family &&
	       !memcmp(a->addr, b->addr, 16);
}

/* ---- LRU list ---- */

static void lru_unlink(struct thr_table *t, struct thr_entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		t->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		t->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_push(struct thr_table *t, struct thr_entry *e)
{
	e->lprev = NULL;
	e->lnext = t->head;
	if (t->head)
		t->head->lprev = e;
	else
		t->tail = e;
	t->head = e;
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

struct thr_entry *thr_find(struct thr_table *t, const struct thr_key *key)
{
	uint32_t h = key_hash(key);
	for (struct thr_entry *e = t->buckets[h & t->mask]; e; e = e->hnext)
		if (e->hash == h && key_eq(&e->key, key))
			return e;
	return NULL;
}

static void hash_unlink(struct thr_table *t, struct thr_entry *e)
{
	struct thr_entry **pp = &t->buckets[e->hash & t->mask];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
}

/* A clean entry for key: a never-used pool entry, or the LRU one evicted. */
static struct thr_entry *entry_new(struct thr_table *t,
				   const struct thr_key *key, uint32_t h)
{
	struct thr_entry *e;
	if (t->used < t->max) {
		e = (struct thr_entry *)(t->pool + (size_t)t->used++ * t->stride);
		t->st.active++;
	} else {
		e = t->tail;
		t->st.evicted++;
		if (e->cooling)
			t->st.evicted_cooling++;
		cycle_end(t, e, THR_END_EVICT, cut_time(t, e));
		lru_unlink(t, e);
		hash_unlink(t, e);
	}
	memset(e, 0, t->stride);
	e->key = *key;
	e->hash = h;
	e->heap_idx = NO_HEAP;
	struct thr_entry **b = &t->buckets[h & t->mask];
	e->hnext = *b;
	*b = e;
	lru_push(t, e);
	t->st.created++;
	return e;
}

/* ---- the API ---- */

enum thr_verdict thr_hit(struct thr_table *t, const struct thr_key *key,
			 const struct thr_params *p, uint64_t ts_us,
			 struct thr_entry **out)
{
	if (ts_us > t->now_us)
		t->now_us = ts_us;
	uint32_t h = key_hash(key);
	struct thr_entry *e = NULL;
	for (e = t->buckets[h & t->mask]; e; e = e->hnext)
		if (e->hash == h && key_eq(&e->key, key))
			break;
	if (e) {
		lru_unlink(t, e);
		lru_push(t, e);
	} else {
		e = entry_new(t, key, h);
	}
	*out = e;

	if (e->cooling) {
		if (ts_us < e->cool_end_us) {
			e->total++;
			e->added++;
			e->fresh = false;
			if (ts_us > e->last_us)
				e->last_us = ts_us;
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
