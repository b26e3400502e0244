/*
 * test_ktable.c - the bounded keyed table (util/ktable.h) and its hash:
 * SipHash against the paper's vector, the capacity bound, segmented
 * overflow, refusal, and the fair lists checked against a plain model
 * under random operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/ktable.h"
#include "util/siphash.h"

struct ent {
	struct kt_node node;
	uint32_t key;
	uint64_t stamp; /* order of the latest push onto its list */
};

/* The SipHash paper, appendix A: key 00..0f, message 00..0e. */
static void test_siphash24_vector(void **state)
{
	(void)state;
	uint8_t k[16], m[15];
	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		m[i] = (uint8_t)i;
	struct sip_key key;
	memcpy(&key.k0, k, 8); /* little-endian host: as the paper loads it */
	memcpy(&key.k1, k + 8, 8);
	assert_int_equal(siphash24(&key, m, sizeof(m)), 0xa129ca6149be45e5ull);
	/* A different key, a different hash; 1-3 differs from 2-4. */
	struct sip_key other = { key.k0 ^ 1, key.k1 };
	assert_true(siphash24(&other, m, sizeof(m)) != 0xa129ca6149be45e5ull);
	assert_true(siphash13(&key, m, sizeof(m)) != 0xa129ca6149be45e5ull);
}

static struct ent *find(struct ktable *kt, uint32_t key)
{
	uint32_t h = kt_hash(kt, &key, sizeof(key));
	for (struct ent *e = kt_first(kt, h); e; e = kt_next(kt, e))
		if (kt_hash_of(e) == h && e->key == key)
			return e;
	return NULL;
}

static struct ent *add(struct ktable *kt, uint32_t key, unsigned list,
		       uint32_t part)
{
	struct ent *v = kt_victim(kt);
	if (v)
		kt_remove(kt, v, 1);
	struct ent *e = kt_insert(kt, kt_hash(kt, &key, sizeof(key)), list, part);
	if (e)
		e->key = key;
	return e;
}

/* Never more than capacity; new keys displace only evictable lists. */
static void test_bound_and_protection(void **state)
{
	(void)state;
	struct kt_opts o = {
		.name = "t", .capacity = 100, .entry_size = sizeof(struct ent),
		.n_lists = 2,
		.list = { { 0, KT_EVICT, 0 }, { 30, 0, 0 } },
		.n_evict = 1, .evict = { 0 },
	};
	struct ktable *kt = kt_new(&o);
	assert_non_null(kt);
	/* 20 protected entries, then a flood of a million new keys. */
	for (uint32_t i = 0; i < 20; i++)
		kt_move(kt, add(kt, i, 0, 0), 1);
	for (uint32_t i = 1000; i < 1001000; i++) {
		assert_non_null(add(kt, i, 0, 0));
		assert_true(kt_stats(kt)->active <= 100);
	}
	for (uint32_t i = 0; i < 20; i++)
		assert_non_null(find(kt, i));
	assert_null(find(kt, 1000));
	assert_non_null(find(kt, 1000999));
	const struct kt_stats *st = kt_stats(kt);
	assert_int_equal(st->active, 100);
	assert_int_equal(st->evicted, 1000000 - 80);
	assert_int_equal(st->evicted_protected, 0);
	/* The protected list's cap: the 31st demotes the oldest (key 0). */
	for (uint32_t i = 2000000; i < 2000011; i++)
		kt_move(kt, add(kt, i, 0, 0), 1);
	assert_int_equal(kt_count(kt, 1), 30);
	assert_int_equal(st->overflowed, 1);
	struct ent *z = find(kt, 0);
	assert_non_null(z);
	assert_int_equal(kt_list_of(z), 0);
	kt_free(kt);
}

/* Full of entries no new key may displace: the key is refused. */
static void test_refuse(void **state)
{
	(void)state;
	struct kt_opts o = {
		.name = "t", .capacity = 4, .entry_size = sizeof(struct ent),
		.n_lists = 2, .list = { { 0, KT_EVICT, 0 }, { 0, KT_EVICT, 0 } },
		.n_evict = 1, .evict = { 0 },
	};
	struct ktable *kt = kt_new(&o);
	for (uint32_t i = 0; i < 4; i++)
		kt_move(kt, add(kt, i, 0, 0), 1);
	assert_null(kt_victim(kt));
	assert_null(add(kt, 99, 0, 0));
	kt_refused(kt);
	assert_int_equal(kt_stats(kt)->refused, 1);
	/* A removed entry frees its slot for the next key. */
	kt_remove(kt, find(kt, 2), 0);
	assert_non_null(add(kt, 99, 0, 0));
	assert_null(find(kt, 2));
	assert_non_null(find(kt, 99));
	kt_free(kt);
}

/* ---- the fair list against a model ---- */

#define PARTS 8
#define CAP 64
#define KEYS 512

struct model {
	bool in[KEYS];
	uint32_t part[KEYS];
	uint64_t stamp[KEYS];
	uint64_t clock;
};

static uint32_t model_count(const struct model *m, uint32_t p)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < KEYS; k++)
		n += m->in[k] && m->part[k] == p;
	return n;
}

/* The victim must be the oldest entry of a largest partition. */
static void check_victim(struct ktable *kt, const struct model *m)
{
	struct ent *v = kt_victim(kt);
	assert_non_null(v);
	uint32_t best = 0;
	for (uint32_t p = 0; p < PARTS; p++)
		if (model_count(m, p) > best)
			best = model_count(m, p);
	uint32_t vp = m->part[v->key];
	assert_int_equal(model_count(m, vp), best);
	for (uint32_t k = 0; k < KEYS; k++)
		if (m->in[k] && m->part[k] == vp)
			assert_true(m->stamp[k] >= m->stamp[v->key]);
}

static void test_fair_model(void **state)
{
	(void)state;
	struct kt_opts o = {
		.name = "fair", .capacity = CAP, .entry_size = sizeof(struct ent),
		.n_parts = PARTS, .n_lists = 1, .list = { { 0, KT_EVICT, 1 } },
		.n_evict = 1, .evict = { 0 },
	};
	struct ktable *kt = kt_new(&o);
	struct model m;
	memset(&m, 0, sizeof(m));
	srand(7);
	for (int step = 0; step < 200000; step++) {
		uint32_t k = (uint32_t)rand() % KEYS;
		/* Skewed partitions: partition 0 floods. */
		uint32_t p = rand() % 3 ? 0 : (uint32_t)rand() % PARTS;
		struct ent *e = find(kt, k);
		assert_true((e != NULL) == m.in[k]);
		int op = rand() % 4;
		if (e && op == 0) {
			kt_remove(kt, e, 0);
			m.in[k] = false;
		} else if (e) {
			kt_touch(kt, e);
			m.stamp[k] = ++m.clock;
		} else {
			if (kt_stats(kt)->active == CAP) {
				check_victim(kt, &m);
				struct ent *v = kt_victim(kt);
				m.in[v->key] = false;
			}
			assert_non_null(add(kt, k, 0, p));
			m.in[k] = true;
			m.part[k] = p;
			m.stamp[k] = ++m.clock;
		}
		assert_true(kt_stats(kt)->active <= CAP);
	}
	/* Every key the model holds is in the table. */
	for (uint32_t k = 0; k < KEYS; k++)
		if (m.in[k])
			assert_non_null(find(kt, k));
	/* kt_tail/kt_newer walk the whole list, oldest first, across the
	 * partitions (expiry and saving rely on it). */
	uint32_t walked = 0;
	uint64_t last = 0;
	for (const struct ent *e = kt_tail(kt, 0); e; e = kt_newer(kt, e)) {
		assert_true(m.in[e->key]);
		assert_true(m.stamp[e->key] > last);
		last = m.stamp[e->key];
		walked++;
	}
	assert_int_equal(walked, kt_stats(kt)->active);
	kt_free(kt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash24_vector),
		cmocka_unit_test(test_bound_and_protection),
		cmocka_unit_test(test_refuse),
		cmocka_unit_test(test_fair_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
