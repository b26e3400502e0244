/*
 * kt_collide.c - lookup cost of an adversarial key set against random
 * keys, in the same run.
 *
 * The adversarial set is a multicollision of unseeded 32-bit FNV-1a (the
 * hash every state table used before the keyed table): from the FNV
 * offset basis, find two 4-byte blocks that reach the same state, then
 * two more from there, and so on; ROUNDS rounds give 2^ROUNDS keys of
 * 4 * ROUNDS bytes that all hash alike. Random keys have the same length.
 *
 * It reports, for each key set, the time per lookup (best of REPEAT
 * runs) in:
 * - a chained table indexed by unseeded FNV-1a, as before: the colliding
 *   keys all land in one chain, so lookups cost O(n);
 * - util/ktable.c, indexed by SipHash-1-3 under a random key: the
 *   colliding keys spread like random ones. The target is a ratio of at
 *   most 1.2.
 *
 * usage: kt_collide [ROUNDS]   (default 16: 65,536 keys)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/ktable.h"

#define BLOCK 4
#define MAX_ROUNDS 20
#define KEY_MAX (BLOCK * MAX_ROUNDS)
#define TRIES (1u << 18)      /* blocks tried per round: ~8 collisions expected */
#define REPEAT 7
#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u
/* The old tables' chain heads for the unseeded table (O(n) per lookup on
 * the colliding set: keep it small enough to finish). */
#define OLD_KEYS_MAX 8192u

static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Two distinct blocks that take FNV-1a from state s to the same state. */
static int find_pair(uint32_t s, uint8_t a[BLOCK], uint8_t b[BLOCK],
		     uint32_t *next)
{
	uint32_t mask = 2 * TRIES - 1;
	uint32_t *slot_h = calloc(2 * TRIES, sizeof(uint32_t));
	uint32_t *slot_v = calloc(2 * TRIES, sizeof(uint32_t));
	uint8_t *used = calloc(2 * TRIES, 1);
	int found = -1;
	for (uint32_t t = 0; t < TRIES && found < 0; t++) {
		uint32_t v = (uint32_t)rnd();
		uint32_t h = fnv1a(s, (const uint8_t *)&v, BLOCK);
		for (uint32_t i = (h * 2654435761u) & mask;; i = (i + 1) & mask) {
			if (!used[i]) {
				used[i] = 1;
				slot_h[i] = h;
				slot_v[i] = v;
				break;
			}
			if (slot_h[i] == h && slot_v[i] != v) {
				memcpy(a, &slot_v[i], BLOCK);
				memcpy(b, &v, BLOCK);
				*next = h;
				found = 0;
				break;
			}
		}
	}
	free(slot_h);
	free(slot_v);
	free(used);
	return found;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the old way: a chained table under unseeded FNV-1a ---- */

struct old_ent {
	struct old_ent *next;
	uint32_t hash;
	const uint8_t *key;
};

/* One lookup of key k in a table; returns whether it was found. */
typedef int (*lookup_fn)(const void *table, const uint8_t *k, size_t len);

/* Best of REPEAT passes over all n keys: nanoseconds per lookup. */
static double time_lookups(lookup_fn fn, const void *table,
			   const uint8_t *keys, size_t len, uint32_t n)
{
	double best = 1e30;
	volatile uint32_t hits = 0;
	for (int r = 0; r < REPEAT; r++) {
		double t0 = now_s();
		for (uint32_t i = 0; i < n; i++)
			hits += (uint32_t)fn(table, keys + (size_t)i * len, len);
		double t = (now_s() - t0) / n * 1e9;
		if (t < best)
			best = t;
	}
	return best;
}

struct old_table {
	struct old_ent **b;
	uint32_t mask;
};

static int old_lookup(const void *table, const uint8_t *k, size_t len)
{
	const struct old_table *t = table;
	uint32_t h = fnv1a(FNV_BASIS, k, len);
	for (struct old_ent *x = t->b[h & t->mask]; x; x = x->next)
		if (x->hash == h && !memcmp(x->key, k, len))
			return 1;
	return 0;
}

static double old_lookup_ns(const uint8_t *keys, size_t len, uint32_t n)
{
	uint32_t nb = 1;
	while (nb < n)
		nb <<= 1;
	struct old_ent **b = calloc(nb, sizeof(*b));
	struct old_ent *e = calloc(n, sizeof(*e));
	for (uint32_t i = 0; i < n; i++) {
		e[i].key = keys + (size_t)i * len;
		e[i].hash = fnv1a(FNV_BASIS, e[i].key, len);
		e[i].next = b[e[i].hash & (nb - 1)];
		b[e[i].hash & (nb - 1)] = &e[i];
	}
	struct old_table t = { b, nb - 1 };
	double best = time_lookups(old_lookup, &t, keys, len, n);
	free(b);
	free(e);
	return best;
}

/* ---- the keyed table ---- */

struct kent {
	struct kt_node node;
	const uint8_t *key;
};

static int kt_lookup(const void *table, const uint8_t *k, size_t len)
{
	const struct ktable *kt = table;
	uint32_t h = kt_hash(kt, k, len);
	for (struct kent *x = kt_first(kt, h); x; x = kt_next(kt, x))
		if (kt_hash_of(x) == h && !memcmp(x->key, k, len))
			return 1;
	return 0;
}

static double kt_lookup_ns(const uint8_t *keys, size_t len, uint32_t n)
{
	struct kt_opts o = {
		.name = "bench", .capacity = n, .entry_size = sizeof(struct kent),
		.n_lists = 1, .list = { { 0, KT_EVICT, 0 } },
		.n_evict = 1, .evict = { 0 },
	};
	struct ktable *kt = kt_new(&o);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *k = keys + (size_t)i * len;
		struct kent *e = kt_insert(kt, kt_hash(kt, k, len), 0, 0);
		e->key = k;
	}
	double best = time_lookups(kt_lookup, kt, keys, len, n);
	kt_free(kt);
	return best;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 16;
	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: kt_collide [ROUNDS 1..%d]\n", MAX_ROUNDS);
		return 2;
	}
	size_t len = (size_t)BLOCK * rounds;
	uint32_t n = 1u << rounds;
	uint8_t pair[MAX_ROUNDS][2][BLOCK];
	uint32_t s = FNV_BASIS;
	for (int r = 0; r < rounds; r++)
		if (find_pair(s, pair[r][0], pair[r][1], &s) != 0) {
			fprintf(stderr, "kt_collide: no collision in round %d\n", r);
			return 1;
		}
	uint8_t *bad = malloc((size_t)n * len), *good = malloc((size_t)n * len);
	for (uint32_t i = 0; i < n; i++)
		for (int r = 0; r < rounds; r++)
			memcpy(bad + (size_t)i * len + (size_t)r * BLOCK,
			       pair[r][(i >> r) & 1], BLOCK);
	for (size_t i = 0; i < (size_t)n * len; i++)
		good[i] = (uint8_t)rnd();
	uint32_t h0 = fnv1a(FNV_BASIS, bad, len);
	for (uint32_t i = 1; i < n; i++)
		if (fnv1a(FNV_BASIS, bad + (size_t)i * len, len) != h0) {
			fprintf(stderr, "kt_collide: key %u does not collide\n", i);
			return 1;
		}
	uint32_t on = n < OLD_KEYS_MAX ? n : OLD_KEYS_MAX;
	double og = old_lookup_ns(good, len, on), ob = old_lookup_ns(bad, len, on);
	double kg = kt_lookup_ns(good, len, n), kb = kt_lookup_ns(bad, len, n);
	printf("keys: %u of %zu bytes, all one unseeded FNV-1a hash (0x%08x)\n",
	       n, len, h0);
	printf("unseeded FNV-1a chained table (%u keys): random %.1f ns, colliding %.1f ns per lookup: %.1fx\n",
	       on, og, ob, ob / og);
	printf("ktable, seeded SipHash-1-3 (%u keys): random %.1f ns, colliding %.1f ns per lookup: %.2fx (target <= 1.2)\n",
	       n, kg, kb, kb / kg);
	free(bad);
	free(good);
	return 0;
}
