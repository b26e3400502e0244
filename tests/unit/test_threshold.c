/* test_threshold.c - unit tests for the (owner, target) window, threshold and cooldown trackers (detect/threshold.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "detect/threshold.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define MS(x) ((uint64_t)(x) * 1000u)

/* ---- a recording end callback ---- */

#define ENDS_MAX 64

struct end_rec {
	uint32_t target;  /* first 4 address bytes, big-endian */
	enum thr_end why;
	uint64_t ts_us;
	uint64_t total;
	uint64_t added;
	uint64_t first_us;
	bool cooling;
};

struct ends {
	struct end_rec v[ENDS_MAX];
	unsigned n;
	unsigned n_all; /* also counts beyond ENDS_MAX */
};

static void on_end(void *ud, struct thr_entry *e, enum thr_end why,
		   uint64_t ts_us)
{
	struct ends *r = ud;
	r->n_all++;
	if (r->n >= ENDS_MAX)
		return;
	struct end_rec *x = &r->v[r->n++];
	x->target = (uint32_t)e->key.addr[0] << 24 | (uint32_t)e->key.addr[1] << 16 |
		    (uint32_t)e->key.addr[2] << 8 | e->key.addr[3];
	x->why = why;
	x->ts_us = ts_us;
	x->total = e->total;
	x->added = e->added;
	x->first_us = e->first_us;
	x->cooling = e->cooling;
}

static const int owner_a = 1, owner_b = 2;

static struct thr_key key_of(const void *owner, uint32_t v4)
{
	struct thr_key k;
	memset(&k, 0, sizeof(k));
	k.owner = owner;
	k.family = 4;
	k.addr[0] = (uint8_t)(v4 >> 24);
	k.addr[1] = (uint8_t)(v4 >> 16);
	k.addr[2] = (uint8_t)(v4 >> 8);
	k.addr[3] = (uint8_t)v4;
	return k;
}

static const uint32_t IP1 = 0xac1b43c9; /* 172.27.67.201 */
static const uint32_t IP2 = 0xac1002a8; /* 172.16.2.168 */

static enum thr_verdict hit(struct thr_table *t, const void *owner,
			    uint32_t ip, const struct thr_params *p,
			    uint64_t ts, struct thr_entry **e)
{
	struct thr_key k = key_of(owner, ip);
	struct thr_entry *dummy;
	struct thr_params q = *p;
	q.part = owner == &owner_b; /* each owner its partition */
	return thr_hit(t, &k, &q, ts, e ? e : &dummy);
}

/* ---- threshold ---- */

/* Seed Fig. 16: threshold 5, interval 60: the 5th failure fires, total 5. */
static void test_brute_force_fires_at_fifth(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(16, 2, 0, on_end, &r);
	assert_non_null(t);
	struct thr_params p = { 5, 60, 60, 0 };
	uint64_t t0 = S(1662363001) + 958344;
	struct thr_entry *e;
	uint64_t ts[5] = { t0, t0 + S(3), t0 + S(3) + 1, t0 + S(4), t0 + S(5) };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(hit(t, &owner_a, IP1, &p, ts[i], &e), THR_COUNTED);
		assert_int_equal(e->window, (uint32_t)i + 1);
		assert_false(e->cooling);
	}
	assert_int_equal(hit(t, &owner_a, IP1, &p, ts[4], &e), THR_FIRED);
	assert_int_equal(e->total, 5);
	assert_int_equal(e->first_us, t0);
	assert_int_equal(e->fired_us, ts[4]);
	assert_true(e->cooling);
	assert_int_equal(e->cool_end_us, ts[4] + S(60));
	assert_int_equal(thr_next_deadline(t), ts[4] + S(60));
	/* Another target and another owner count on their own. */
	assert_int_equal(hit(t, &owner_a, IP2, &p, ts[4], &e), THR_COUNTED);
	assert_int_equal(e->window, 1);
	assert_int_equal(hit(t, &owner_b, IP1, &p, ts[4], &e), THR_COUNTED);
	assert_int_equal(e->window, 1);
	assert_int_equal(thr_stats(t)->active, 3);
	assert_int_equal(r.n, 0);
	thr_free(t);
}

/* threshold 1 and 0 both fire on every match. */
static void test_threshold_one_and_zero(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p1 = { 1, 60, 0, 0 }, p0 = { 0, 60, 0, 0 };
	struct thr_entry *e;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(hit(t, &owner_a, IP1, &p1, S(10 + i), &e), THR_FIRED);
		assert_int_equal(e->total, 1);
		assert_int_equal(e->first_us, S(10 + i));
		assert_int_equal(hit(t, &owner_b, IP1, &p0, S(10 + i), &e), THR_FIRED);
		assert_int_equal(e->total, 1);
	}
	thr_free(t);
}

/* ---- window edges and tolerance ---- */

/* interval 16 s: buckets are exactly 1 s wide. */
static void test_window_exact_interval_counted(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 2, 16, 0, 0 };
	struct thr_entry *e;
	/* Exactly one interval apart, on bucket boundaries: counted. */
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(100), &e), THR_COUNTED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(116), &e), THR_FIRED);
	assert_int_equal(e->total, 2);
	assert_int_equal(e->first_us, S(100));
	/* Exactly one interval apart, inside buckets: counted. */
	assert_int_equal(hit(t, &owner_b, IP1, &p, S(200) + 999999, &e), THR_COUNTED);
	assert_int_equal(hit(t, &owner_b, IP1, &p, S(216) + 999999, &e), THR_FIRED);
	thr_free(t);
}

static void test_window_tolerance(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 2, 16, 0, 0 };
	struct thr_entry *e;
	/* 16.99 s apart, first at a bucket start: still counted (tolerance). */
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(100), &e), THR_COUNTED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(116) + 990000, &e), THR_FIRED);
	/* 16.01 s apart but 17 buckets: no longer counted. */
	assert_int_equal(hit(t, &owner_b, IP1, &p, S(300) + 990000, &e), THR_COUNTED);
	assert_int_equal(hit(t, &owner_b, IP1, &p, S(317), &e), THR_COUNTED);
	assert_int_equal(e->window, 1);
	/* Exactly interval * 17/16 apart: never counted. */
	assert_int_equal(hit(t, &owner_a, IP2, &p, S(400), &e), THR_COUNTED);
	assert_int_equal(hit(t, &owner_a, IP2, &p, S(417), &e), THR_COUNTED);
	assert_int_equal(e->window, 1);
	assert_int_equal(e->first_us, 0); /* never fired */
	thr_free(t);
}

/*
 * The documented guarantee, for random intervals and phases: two matches
 * at most one interval apart always fire a threshold of 2; two matches at
 * least interval * (1 + 1/16) apart never do.
 */
static void test_window_tolerance_random(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(2, 2, 0, NULL, NULL);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint32_t iv = 1 + (uint32_t)(x % 300);
		struct thr_params p = { 2, iv, 0, 0 };
		uint64_t win = S(iv), tol = win + win / 16;
		uint64_t t0 = S(1000000) + (x >> 20) % S(1000);
		uint64_t d_in = (x >> 8) % (win + 1);
		uint64_t d_out = tol + (x >> 12) % S(5);
		/* owner_a/IP1 inside, owner_b/IP1 outside; fresh keys each round */
		struct thr_key ka = key_of(&owner_a, (uint32_t)i);
		struct thr_key kb = key_of(&owner_b, (uint32_t)i);
		struct thr_entry *e;
		assert_int_equal(thr_hit(t, &ka, &p, t0, &e), THR_COUNTED);
		assert_int_equal(thr_hit(t, &ka, &p, t0 + d_in, &e), THR_FIRED);
		assert_int_equal(thr_hit(t, &kb, &p, t0, &e), THR_COUNTED);
		assert_int_equal(thr_hit(t, &kb, &p, t0 + d_out, &e), THR_COUNTED);
	}
	thr_free(t);
}

/* A sliding window: old buckets leave one by one. */
static void test_window_slides(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 4, 16, 0, 0 };
	struct thr_entry *e;
	hit(t, &owner_a, IP1, &p, S(0) + 1, &e);
	hit(t, &owner_a, IP1, &p, S(5), &e);
	hit(t, &owner_a, IP1, &p, S(10), &e);
	assert_int_equal(e->window, 3);
	/* At 17 s the event of bucket 0 has left; 5 and 10 remain. */
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(17), &e), THR_COUNTED);
	assert_int_equal(e->window, 3);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(20), &e), THR_FIRED);
	assert_int_equal(e->total, 4);
	assert_int_equal(e->first_us, S(5));
	thr_free(t);
}

/* Seed Fig. 13: 20 publishes in 5 s fire with total 20, the first one first. */
static void test_excessive_publish_twenty(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 20, 5, 5, 0 };
	struct thr_entry *e;
	uint64_t t0 = S(1660157050) + 176617;
	for (int i = 0; i < 19; i++)
		assert_int_equal(hit(t, &owner_a, IP1, &p, t0 + MS(200) * i, &e),
				 THR_COUNTED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, t0 + MS(3860), &e), THR_FIRED);
	assert_int_equal(e->total, 20);
	assert_int_equal(e->first_us, t0);
	thr_free(t);
}

/* ---- cooldown ---- */

/* Matches during the cooldown are added; its end reports the new total. */
static void test_cooldown_aggregates_and_updates(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(4, 2, 0, on_end, &r);
	struct thr_params p = { 20, 5, 5, 0 };
	struct thr_entry *e;
	uint64_t t0 = S(1000);
	for (int i = 0; i < 25; i++) {
		enum thr_verdict v = hit(t, &owner_a, IP1, &p, t0 + MS(150) * i, &e);
		assert_int_equal(v, i < 19 ? THR_COUNTED : i == 19 ? THR_FIRED : THR_ADDED);
	}
	assert_int_equal(e->total, 25);
	assert_int_equal(e->added, 5);
	uint64_t fired = t0 + MS(150) * 19;
	assert_int_equal(e->cool_end_us, fired + S(5));
	/* Not due yet. */
	thr_expire(t, fired + S(5) - 1);
	assert_int_equal(r.n, 0);
	thr_expire(t, fired + S(5));
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].why, THR_END_COOLDOWN);
	assert_int_equal(r.v[0].ts_us, fired + S(5));
	assert_int_equal(r.v[0].total, 25);
	assert_int_equal(r.v[0].added, 5);
	assert_int_equal(r.v[0].first_us, t0);
	assert_true(r.v[0].cooling);
	assert_false(e->cooling);
	assert_int_equal(e->window, 0);
	assert_int_equal(thr_next_deadline(t), UINT64_MAX);
	/* Counting starts again from zero. */
	assert_int_equal(hit(t, &owner_a, IP1, &p, fired + S(6), &e), THR_COUNTED);
	assert_int_equal(e->window, 1);
	assert_true(e->fresh);
	thr_free(t);
}

/* A cooldown without added matches ends too (the caller emits nothing). */
static void test_cooldown_without_additions(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(4, 2, 0, on_end, &r);
	struct thr_params p = { 1, 10, 10, 0 };
	struct thr_entry *e;
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(50), &e), THR_FIRED);
	thr_expire(t, S(70));
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].added, 0);
	assert_int_equal(r.v[0].total, 1);
	assert_int_equal(r.v[0].ts_us, S(60));
	thr_free(t);
}

/* The next match after the cooldown end closes the cycle itself, re-arms. */
static void test_rearm_on_next_event(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(4, 2, 0, on_end, &r);
	struct thr_params p = { 2, 10, 30, 0 };
	struct thr_entry *e;
	hit(t, &owner_a, IP1, &p, S(100), &e);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(101), &e), THR_FIRED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(120), &e), THR_ADDED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(131) - 1, &e), THR_ADDED);
	assert_int_equal(e->total, 4);
	/* Exactly at the cooldown end: no longer cooling. */
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(131), &e), THR_COUNTED);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].why, THR_END_COOLDOWN);
	assert_int_equal(r.v[0].ts_us, S(131));
	assert_int_equal(r.v[0].total, 4);
	assert_int_equal(r.v[0].added, 2);
	assert_true(e->fresh);
	assert_int_equal(e->window, 1);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(132), &e), THR_FIRED);
	assert_int_equal(e->total, 2);
	assert_int_equal(e->first_us, S(131));
	thr_free(t);
}

/* cooldown 0: the window restarts right after firing. */
static void test_cooldown_zero(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(4, 2, 0, on_end, &r);
	struct thr_params p = { 3, 60, 0, 0 };
	struct thr_entry *e;
	enum thr_verdict want[7] = { THR_COUNTED, THR_COUNTED, THR_FIRED,
				     THR_COUNTED, THR_COUNTED, THR_FIRED,
				     THR_COUNTED };
	for (int i = 0; i < 7; i++) {
		assert_int_equal(hit(t, &owner_a, IP1, &p, S(10) + MS(i), &e), want[i]);
		assert_false(e->cooling);
		if (want[i] == THR_FIRED) {
			assert_int_equal(e->total, 3);
			assert_int_equal(e->first_us, S(10) + MS(i - 2));
		}
	}
	assert_int_equal(thr_next_deadline(t), UINT64_MAX);
	thr_flush(t);
	assert_int_equal(r.n, 0);
	thr_free(t);
}

/* Deadlines end in order, whatever order the trackers fired in. */
static void test_expire_in_deadline_order(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(16, 2, 0, on_end, &r);
	static const uint32_t cd[6] = { 50, 10, 40, 20, 60, 30 };
	struct thr_entry *e;
	for (uint32_t i = 0; i < 6; i++) {
		struct thr_params p = { 1, 10, cd[i], 0 };
		assert_int_equal(hit(t, &owner_a, 100 + i, &p, S(1000), &e), THR_FIRED);
	}
	assert_int_equal(thr_next_deadline(t), S(1010));
	thr_expire(t, S(1035));
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].target, 101);
	assert_int_equal(r.v[1].target, 103);
	assert_int_equal(r.v[2].target, 105);
	assert_int_equal(thr_next_deadline(t), S(1040));
	/* End of input at 1045: the rest are cut at the last event time. */
	struct thr_params p = { 5, 10, 10, 0 };
	hit(t, &owner_b, IP1, &p, S(1045), &e);
	thr_flush(t);
	assert_int_equal(r.n, 6);
	assert_int_equal(r.v[3].target, 102);
	assert_int_equal(r.v[3].why, THR_END_FLUSH);
	assert_int_equal(r.v[3].ts_us, S(1040)); /* its end was earlier */
	assert_int_equal(r.v[4].target, 100);
	assert_int_equal(r.v[4].ts_us, S(1045));
	assert_int_equal(r.v[5].target, 104);
	assert_int_equal(r.v[5].ts_us, S(1045));
	assert_int_equal(thr_next_deadline(t), UINT64_MAX);
	/* A second flush has nothing left to end. */
	thr_flush(t);
	assert_int_equal(r.n, 6);
	thr_free(t);
}

/* ---- bounded memory ---- */

static void test_lru_flood_bounded(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(64, 2, 24, on_end, &r);
	struct thr_params p = { 3, 60, 60, 0 };
	struct thr_entry *e;
	/* A tracker in cooldown with added matches. */
	hit(t, &owner_a, IP1, &p, S(10), &e);
	hit(t, &owner_a, IP1, &p, S(11), &e);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(12), &e), THR_FIRED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(13), &e), THR_ADDED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(14), &e), THR_ADDED);
	/* The caller's bytes are zeroed and stay with the entry. */
	uint8_t *u = thr_user(e);
	for (int i = 0; i < 24; i++)
		assert_int_equal(u[i], 0);
	memset(u, 0xab, 24);
	/* One below the threshold: two matches. */
	hit(t, &owner_a, IP2, &p, S(14), &e);
	hit(t, &owner_a, IP2, &p, S(14), &e);
	/* A flood of distinct targets, each matching once. */
	for (uint32_t i = 0; i < 100000; i++) {
		hit(t, &owner_b, 0x0a000000 + i, &p, S(15) + i % 40, &e);
		assert_true(thr_stats(t)->active <= 64);
	}
	const struct thr_stats *st = thr_stats(t);
	assert_int_equal(st->active, 64);
	assert_int_equal(st->created, 100002);
	assert_int_equal(st->evicted, 100002 - 64);
	/* Only one-match trackers were pushed out. */
	assert_int_equal(st->evicted_kept, 0);
	assert_int_equal(st->evicted_cooling, 0);
	assert_int_equal(st->kept, 2);
	assert_int_equal(r.n_all, 100002 - 64);
	struct thr_key k = key_of(&owner_a, IP1);
	e = thr_find(t, &k);
	assert_non_null(e);
	assert_true(e->cooling);
	assert_int_equal(e->total, 5);
	u = thr_user(e);
	assert_int_equal(u[0], 0xab);
	/* The near-threshold one fires on its next match. */
	assert_int_equal(hit(t, &owner_a, IP2, &p, S(50), &e), THR_FIRED);
	/* The newest ones are still there, with zeroed user bytes. */
	k = key_of(&owner_b, 0x0a000000 + 99999);
	e = thr_find(t, &k);
	assert_non_null(e);
	assert_int_equal(e->window, 1);
	u = thr_user(e);
	for (int i = 0; i < 24; i++)
		assert_int_equal(u[i], 0);
	k = key_of(&owner_b, 0x0a000000);
	assert_null(thr_find(t, &k));
	thr_free(t);
}

/*
 * Trackers that count twice displace each other: the "kept" list is
 * bounded, its oldest go back to "new" and are evicted from there, a
 * cooling one with its update.
 */
static void test_kept_flood_demotes(void **state)
{
	(void)state;
	struct ends r = { 0 };
	struct thr_table *t = thr_new(64, 2, 0, on_end, &r);
	struct thr_params p = { 3, 60, 60, 0 };
	struct thr_entry *e;
	for (int i = 0; i < 3; i++)
		hit(t, &owner_a, IP1, &p, S(10), &e);
	assert_true(e->cooling);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(11), &e), THR_ADDED);
	/* The same owner's keys: the flood is its own largest partition. */
	for (uint32_t i = 0; i < 1000; i++) {
		hit(t, &owner_a, 0x0a000000 + i, &p, S(12), &e);
		hit(t, &owner_a, 0x0a000000 + i, &p, S(12), &e);
	}
	const struct thr_stats *st = thr_stats(t);
	assert_int_equal(st->active, 64);
	assert_int_equal(st->kept, 64 * THR_KEPT_SHARE_PCT / 100);
	assert_true(st->demoted > 0);
	assert_int_equal(st->evicted_cooling, 1);
	assert_true(r.n_all >= 1);
	assert_int_equal(r.v[0].target, IP1);
	assert_int_equal(r.v[0].why, THR_END_EVICT);
	assert_true(r.v[0].cooling);
	assert_int_equal(r.v[0].total, 4);
	assert_int_equal(r.v[0].added, 1);
	assert_int_equal(r.v[0].ts_us, S(12));
	struct thr_key k = key_of(&owner_a, IP1);
	assert_null(thr_find(t, &k));
	assert_int_equal(thr_next_deadline(t), UINT64_MAX);
	thr_free(t);
}

/*
 * Fair between owners: a flood of one owner's keys (a SYN flood rule)
 * displaces that owner's trackers, not another's one-match tracker, and
 * not another's kept trackers by demotion either.
 */
static void test_flood_is_fair_between_owners(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(64, 2, 0, NULL, NULL);
	struct thr_params p = { 5, 60, 60, 0 };
	struct thr_entry *e;
	hit(t, &owner_a, IP1, &p, S(1), &e);
	hit(t, &owner_a, IP2, &p, S(1), &e);
	hit(t, &owner_a, IP2, &p, S(1), &e);
	for (uint32_t i = 0; i < 70000; i++) {
		/* Every tenth key matches twice: owner_b fills "kept" too. */
		hit(t, &owner_b, 0x0a000000 + i, &p, S(2), &e);
		if (i % 10 == 0)
			hit(t, &owner_b, 0x0a000000 + i, &p, S(2), &e);
	}
	const struct thr_stats *st = thr_stats(t);
	assert_int_equal(st->active, 64);
	assert_true(st->demoted > 0);
	struct thr_key k = key_of(&owner_a, IP1);
	e = thr_find(t, &k);
	assert_non_null(e);
	assert_int_equal(e->window, 1);
	k = key_of(&owner_a, IP2);
	e = thr_find(t, &k);
	assert_non_null(e);
	assert_int_equal(e->window, 2);
	/* Three more matches raise the alert the flood could not hide. */
	hit(t, &owner_a, IP1, &p, S(3), &e);
	hit(t, &owner_a, IP1, &p, S(4), &e);
	hit(t, &owner_a, IP1, &p, S(5), &e);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(6), &e), THR_FIRED);
	assert_int_equal(e->total, 5);
	assert_int_equal(e->first_us, S(1));
	thr_free(t);
}

/* Recently used trackers survive; the least recently used go first. */
static void test_lru_keeps_recent(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 100, 60, 0, 0 };
	struct thr_entry *e;
	for (uint32_t i = 0; i < 4; i++)
		hit(t, &owner_a, i, &p, S(1), &e);
	hit(t, &owner_a, 0, &p, S(2), &e); /* touch 0 */
	hit(t, &owner_a, 9, &p, S(3), &e); /* evicts 1 */
	struct thr_key k = key_of(&owner_a, 0);
	assert_non_null(thr_find(t, &k));
	assert_int_equal(thr_find(t, &k)->window, 2);
	k = key_of(&owner_a, 1);
	assert_null(thr_find(t, &k));
	assert_int_equal(thr_stats(t)->evicted, 1);
	thr_free(t);
}

/* ---- out-of-order time ---- */

static void test_small_backwards_jumps(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 4, 10, 10, 0 };
	struct thr_entry *e;
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(100), &e), THR_COUNTED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(99) + MS(500), &e), THR_COUNTED);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(100) + MS(200), &e), THR_COUNTED);
	assert_int_equal(e->window, 3);
	assert_false(e->fresh);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(99) + MS(900), &e), THR_FIRED);
	assert_int_equal(e->total, 4);
	assert_int_equal(e->first_us, S(99) + MS(500)); /* earliest, not first seen */
	/* Backwards inside the cooldown: added, and the deadline stays. */
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(98), &e), THR_ADDED);
	assert_int_equal(e->total, 5);
	assert_int_equal(e->cool_end_us, S(99) + MS(900) + S(10));
	thr_free(t);
}

/* Back by more than the window: counting restarts there, nothing breaks. */
static void test_large_backwards_jump(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 3, 10, 0, 0 };
	struct thr_entry *e;
	hit(t, &owner_a, IP1, &p, S(5000), &e);
	hit(t, &owner_a, IP1, &p, S(5001), &e);
	assert_int_equal(e->window, 2);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(100), &e), THR_COUNTED);
	assert_int_equal(e->window, 1);
	assert_true(e->fresh);
	hit(t, &owner_a, IP1, &p, S(101), &e);
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(102), &e), THR_FIRED);
	assert_int_equal(e->first_us, S(100));
	/* And forward again, far: the old window is gone. */
	assert_int_equal(hit(t, &owner_a, IP1, &p, S(9000), &e), THR_COUNTED);
	assert_int_equal(e->window, 1);
	thr_free(t);
}

/* Events without an address share one (owner, empty) tracker. */
static void test_empty_key(void **state)
{
	(void)state;
	struct thr_table *t = thr_new(4, 2, 0, NULL, NULL);
	struct thr_params p = { 2, 10, 0, 0 };
	struct thr_key k;
	memset(&k, 0, sizeof(k));
	k.owner = &owner_a;
	struct thr_entry *e;
	assert_int_equal(thr_hit(t, &k, &p, S(1), &e), THR_COUNTED);
	assert_int_equal(thr_hit(t, &k, &p, S(2), &e), THR_FIRED);
	assert_ptr_equal(thr_find(t, &k), e);
	thr_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_brute_force_fires_at_fifth),
		cmocka_unit_test(test_threshold_one_and_zero),
		cmocka_unit_test(test_window_exact_interval_counted),
		cmocka_unit_test(test_window_tolerance),
		cmocka_unit_test(test_window_tolerance_random),
		cmocka_unit_test(test_window_slides),
		cmocka_unit_test(test_excessive_publish_twenty),
		cmocka_unit_test(test_cooldown_aggregates_and_updates),
		cmocka_unit_test(test_cooldown_without_additions),
		cmocka_unit_test(test_rearm_on_next_event),
		cmocka_unit_test(test_cooldown_zero),
		cmocka_unit_test(test_expire_in_deadline_order),
		cmocka_unit_test(test_lru_flood_bounded),
		cmocka_unit_test(test_kept_flood_demotes),
		cmocka_unit_test(test_flood_is_fair_between_owners),
		cmocka_unit_test(test_lru_keeps_recent),
		cmocka_unit_test(test_small_backwards_jumps),
		cmocka_unit_test(test_large_backwards_jump),
		cmocka_unit_test(test_empty_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
