/*
 * ktable.c - the bounded keyed table: entries by index in one calloc'd
 * pool (a never-used tail handed out in order, so untouched entries cost
 * no RSS, and a free chain), a power-of-two bucket array of chain heads,
 * and doubly linked recency lists by index.
 */
#include "util/ktable.h"

#include <stdlib.h>
#include <string.h>

#include "util/siphash.h"

#define NIL KT_NIL
#define MIN_BUCKETS 16u
#define MAX_BUCKETS (1u << 30)
#define FAIR_PART_ARRAYS 5 /* phead, ptail, pcnt, order, pos */

static struct kt_node *node(const struct ktable *kt, uint32_t i)
{
	return kt_node_at(kt, i);
}

static int fair_init(struct ktable *kt, struct kt_lst *l)
{
	size_t np = kt->n_parts;
	l->fair = 1;
	l->phead = malloc(np * sizeof(uint32_t));
	l->ptail = malloc(np * sizeof(uint32_t));
	l->pcnt = calloc(np, sizeof(uint32_t));
	l->order = malloc(np * sizeof(uint32_t));
	l->pos = malloc(np * sizeof(uint32_t));
	l->start = calloc((size_t)kt->cap + 1, sizeof(uint32_t));
	if (!l->phead || !l->ptail || !l->pcnt || !l->order || !l->pos ||
	    !l->start)
		return -1;
	for (uint32_t p = 0; p < np; p++) {
		l->phead[p] = l->ptail[p] = NIL;
		l->order[p] = l->pos[p] = p;
	}
	return 0;
}

static void fair_free(struct kt_lst *l)
{
	free(l->phead);
	free(l->ptail);
	free(l->pcnt);
	free(l->order);
	free(l->pos);
	free(l->start);
}

static void fair_swap(struct kt_lst *l, uint32_t i, uint32_t j)
{
	uint32_t a = l->order[i], b = l->order[j];
	l->order[i] = b;
	l->pos[b] = i;
	l->order[j] = a;
	l->pos[a] = j;
}

/* Partition p gains an entry: to the front of its count's run, then up. */
static void fair_inc(struct kt_lst *l, uint32_t p)
{
	uint32_t c = l->pcnt[p];
	fair_swap(l, l->pos[p], l->start[c]);
	l->start[c]++;
	l->pcnt[p] = c + 1;
}

/* Partition p loses an entry: to the back of its count's run, then down. */
static void fair_dec(struct kt_lst *l, uint32_t p)
{
	uint32_t c = l->pcnt[p];
	fair_swap(l, l->pos[p], l->start[c - 1] - 1);
	l->start[c - 1]--;
	l->pcnt[p] = c - 1;
}

/* A list's head and tail fields for partition part. */
static uint32_t *head_of(struct kt_lst *l, uint32_t part)
{
	return l->fair ? &l->phead[part] : &l->head;
}

static uint32_t *tail_of(struct kt_lst *l, uint32_t part)
{
	return l->fair ? &l->ptail[part] : &l->tail;
}

/* The oldest entry of a list: of a fair one, of its largest partition. */
static uint32_t oldest(const struct kt_lst *l)
{
	if (!l->fair)
		return l->tail;
	uint32_t p = l->order[0];
	return l->pcnt[p] ? l->ptail[p] : NIL;
}

struct ktable *kt_new(const struct kt_opts *o)
{
	if (o->entry_size < sizeof(struct kt_node) || !o->n_lists ||
	    o->n_lists > KT_LISTS || o->n_evict > KT_LISTS)
		return NULL;
	struct ktable *kt = calloc(1, sizeof(*kt));
	if (!kt)
		return NULL;
	kt->name = o->name ? o->name : "table";
	kt->cap = o->capacity ? o->capacity : 1;
	if (kt->cap >= NIL)
		kt->cap = NIL - 1;
	kt->stride = (o->entry_size + 7) & ~(size_t)7;
	kt->n_lists = o->n_lists;
	for (unsigned i = 0; i < KT_LISTS; i++) {
		kt->l[i].head = kt->l[i].tail = NIL;
		kt->l[i].cap = o->list[i].cap ? o->list[i].cap : kt->cap;
		kt->l[i].overflow = o->list[i].overflow;
		if (kt->l[i].overflow != KT_EVICT && kt->l[i].overflow >= o->n_lists)
			kt->l[i].overflow = KT_EVICT;
	}
	kt->n_evict = o->n_evict;
	for (unsigned i = 0; i < o->n_evict; i++) {
		kt->evict[i] = o->evict[i] < o->n_lists ? o->evict[i] : 0;
		kt->evictable |= (uint8_t)(1u << kt->evict[i]);
	}
	/* Protected: lists no new key may displace, and those named so. */
	kt->protect = (uint8_t)(~kt->evictable | o->protected_lists);
	kt->free_head = NIL;
	kt->n_parts = o->n_parts ? o->n_parts : 1;
	for (unsigned i = 0; i < kt->n_lists; i++)
		if (o->list[i].fair && fair_init(kt, &kt->l[i]) != 0) {
			kt_free(kt);
			return NULL;
		}
	kt->key = *hash_seed();
	uint32_t nb = MIN_BUCKETS;
	while (nb < kt->cap && nb < MAX_BUCKETS)
		nb <<= 1;
	kt->mask = nb - 1;
	kt->buckets = malloc((size_t)nb * sizeof(*kt->buckets));
	kt->pool = calloc(kt->cap, kt->stride);
	if (!kt->buckets || !kt->pool) {
		kt_free(kt);
		return NULL;
	}
	memset(kt->buckets, 0xff, (size_t)nb * sizeof(*kt->buckets));
	return kt;
}

void kt_free(struct ktable *kt)
{
	if (!kt)
		return;
	for (unsigned i = 0; i < KT_LISTS; i++)
		fair_free(&kt->l[i]);
	free(kt->pool);
	free(kt->buckets);
	free(kt);
}

/* ---- lists ---- */

static void list_unlink(struct ktable *kt, struct kt_node *n)
{
	struct kt_lst *l = &kt->l[n->list];
	if (l->fair) {
		/* The whole list's recency order: head/tail, gprev/gnext. */
		if (n->gprev != NIL)
			node(kt, n->gprev)->gnext = n->gnext;
		else
			l->head = n->gnext;
		if (n->gnext != NIL)
			node(kt, n->gnext)->gprev = n->gprev;
		else
			l->tail = n->gprev;
		n->gprev = n->gnext = NIL;
	}
	if (n->prev != NIL)
		node(kt, n->prev)->next = n->next;
	else
		*head_of(l, n->part) = n->next;
	if (n->next != NIL)
		node(kt, n->next)->prev = n->prev;
	else
		*tail_of(l, n->part) = n->prev;
	n->prev = n->next = NIL;
	l->n--;
	if (l->fair)
		fair_dec(l, n->part);
}

static void list_push(struct ktable *kt, struct kt_node *n, unsigned list)
{
	struct kt_lst *l = &kt->l[list];
	uint32_t *head = head_of(l, n->part);
	n->list = (uint8_t)list;
	n->prev = NIL;
	n->next = *head;
	if (*head != NIL)
		node(kt, *head)->prev = n->self;
	else
		*tail_of(l, n->part) = n->self;
	*head = n->self;
	l->n++;
	if (l->fair) {
		fair_inc(l, n->part);
		n->gprev = NIL;
		n->gnext = l->head;
		if (l->head != NIL)
			node(kt, l->head)->gprev = n->self;
		else
			l->tail = n->self;
		l->head = n->self;
	}
}

void kt_touch_slow(struct ktable *kt, void *e)
{
	struct kt_node *n = e;
	const struct kt_lst *l = &kt->l[n->list];
	if (l->head == n->self && (!l->fair || l->phead[n->part] == n->self))
		return;
	unsigned list = n->list;
	list_unlink(kt, n);
	list_push(kt, n, list);
}

void *kt_move(struct ktable *kt, void *e, unsigned list)
{
	return kt_move_part(kt, e, list, ((struct kt_node *)e)->part);
}

void *kt_move_part(struct ktable *kt, void *e, unsigned list, uint32_t part)
{
	struct kt_node *n = e;
	if (list >= kt->n_lists)
		return NULL;
	if (part >= kt->n_parts)
		part = 0;
	if (n->list == list && n->part == part) {
		kt_touch_slow(kt, e);
		return NULL;
	}
	list_unlink(kt, n);
	n->part = part;
	list_push(kt, n, list);
	struct kt_lst *l = &kt->l[list];
	if (l->n <= l->cap)
		return NULL;
	struct kt_node *t = node(kt, oldest(l));
	if (l->overflow == KT_EVICT)
		return t;
	kt->st.overflowed++;
	list_unlink(kt, t);
	list_push(kt, t, l->overflow);
	return NULL;
}

void *kt_tail(const struct ktable *kt, unsigned list)
{
	uint32_t i = list < kt->n_lists ? kt->l[list].tail : NIL;
	return i == NIL ? NULL : node(kt, i);
}

void *kt_newer(const struct ktable *kt, const void *e)
{
	const struct kt_node *n = e;
	uint32_t i = kt->l[n->list].fair ? n->gprev : n->prev;
	return i == NIL ? NULL : node(kt, i);
}

/* ---- slots ---- */

void *kt_victim(const struct ktable *kt)
{
	if (kt->free_head != NIL || kt->used < kt->cap)
		return NULL;
	for (unsigned i = 0; i < kt->n_evict; i++) {
		uint32_t t = oldest(&kt->l[kt->evict[i]]);
		if (t != NIL)
			return node(kt, t);
	}
	return NULL;
}

void *kt_insert(struct ktable *kt, uint32_t h, unsigned list, uint32_t part)
{
	uint32_t i;
	if (kt->free_head != NIL) {
		i = kt->free_head;
		kt->free_head = node(kt, i)->hnext;
	} else if (kt->used < kt->cap) {
		i = kt->used++;
	} else {
		return NULL;
	}
	struct kt_node *n = node(kt, i);
	memset(n, 0, kt->stride);
	n->self = i;
	n->hash = h;
	n->part = part < kt->n_parts ? part : 0;
	uint32_t *b = &kt->buckets[h & kt->mask];
	n->hnext = *b;
	*b = i;
	list_push(kt, n, list < kt->n_lists ? list : 0);
	kt->st.inserted++;
	if (++kt->st.active > kt->st.peak)
		kt->st.peak = kt->st.active;
	return n;
}

void kt_remove(struct ktable *kt, void *e, int evicted)
{
	struct kt_node *n = e;
	uint32_t *pp = &kt->buckets[n->hash & kt->mask];
	while (*pp != NIL && *pp != n->self)
		pp = &node(kt, *pp)->hnext;
	if (*pp != NIL)
		*pp = n->hnext;
	if (evicted) {
		kt->st.evicted++;
		kt->st.evicted_list[n->list]++;
		if (kt->protect & (1u << n->list))
			kt->st.evicted_protected++;
	} else {
		kt->st.removed++;
	}
	list_unlink(kt, n);
	kt->st.active--;
	n->hnext = kt->free_head;
	kt->free_head = n->self;
}

void kt_refused(struct ktable *kt)
{
	kt->st.refused++;
}

uint32_t kt_count(const struct ktable *kt, unsigned list)
{
	return list < kt->n_lists ? kt->l[list].n : 0;
}

uint32_t kt_capacity(const struct ktable *kt)
{
	return kt->cap;
}

const struct kt_stats *kt_stats(const struct ktable *kt)
{
	return &kt->st;
}

const char *kt_name(const struct ktable *kt)
{
	return kt->name;
}

size_t kt_bytes(const struct ktable *kt)
{
	size_t b = (size_t)kt->cap * kt->stride +
		   (size_t)(kt->mask + 1) * sizeof(*kt->buckets) + sizeof(*kt);
	for (unsigned i = 0; i < kt->n_lists; i++)
		if (kt->l[i].fair)
			b += (size_t)kt->n_parts * FAIR_PART_ARRAYS * sizeof(uint32_t) +
			     ((size_t)kt->cap + 1) * sizeof(uint32_t);
	return b;
}

int kt_pressure_due(const struct ktable *kt, struct kt_pressure *p,
		    uint64_t now_us, uint64_t interval_us, uint64_t *evicted,
		    uint64_t *protected_ev)
{
	if (kt->st.evicted == p->evicted)
		return 0;
	if (p->reported && now_us < p->last_us + interval_us)
		return 0;
	*evicted = kt->st.evicted - p->evicted;
	*protected_ev = kt->st.evicted_protected - p->evicted_protected;
	p->evicted = kt->st.evicted;
	p->evicted_protected = kt->st.evicted_protected;
	p->last_us = now_us;
	p->reported = 1;
	return 1;
}
