/* test_ip_defrag.c - unit tests for IPv4/IPv6 fragment reassembly (net/ip_defrag.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "net/ip_defrag.h"

#define SEC 1000000u

static const uint8_t src4[4] = { 192, 0, 2, 1 };
static const uint8_t dst4[4] = { 192, 0, 2, 2 };
static const uint8_t src6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t dst6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static struct ip_defrag *new_defrag(uint32_t trackers, uint32_t timeout_s)
{
	struct ip_defrag_cfg cfg = { trackers, timeout_s };
	struct ip_defrag *d = ip_defrag_new(&cfg);
	assert_non_null(d);
	return d;
}

/* A datagram payload of n bytes: byte i is (i * 7 + seed) & 0xff. */
static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

struct out {
	const uint8_t *p;
	uint32_t len;
};

static int add4(struct ip_defrag *d, uint64_t now, uint32_t id, uint32_t off,
		int more, const uint8_t *data, uint32_t len, struct out *o)
{
	return ip_defrag_add(d, now, 4, src4, dst4, id, 6, off, more, data + off,
			     len, &o->p, &o->len);
}

static void test_defrag_in_order(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(4, 30);
	uint8_t dg[100];
	fill(dg, sizeof(dg), 1);
	struct out o;
	assert_int_equal(add4(d, 0, 1, 0, 1, dg, 32, &o), 0);
	assert_int_equal(add4(d, 1, 1, 32, 1, dg, 32, &o), 0);
	assert_int_equal(add4(d, 2, 1, 64, 0, dg, 36, &o), 1);
	assert_int_equal(o.len, 100);
	assert_memory_equal(o.p, dg, 100);
	const struct ip_defrag_stats *st = ip_defrag_stats(d);
	assert_int_equal(st->fragments, 3);
	assert_int_equal(st->reassembled, 1);
	assert_int_equal(st->invalid, 0);
	ip_defrag_free(d);
	ip_defrag_free(NULL); /* NULL-safe */
}

static void test_defrag_out_of_order(void **state)
{
	(void)state;
	static const int orders[][4] = {
		{ 3, 2, 1, 0 }, { 3, 0, 2, 1 }, { 1, 3, 0, 2 }, { 2, 0, 3, 1 },
	};
	uint8_t dg[61];
	fill(dg, sizeof(dg), 9);
	static const uint32_t off[4] = { 0, 16, 32, 48 };
	static const uint32_t len[4] = { 16, 16, 16, 13 };
	for (size_t k = 0; k < sizeof(orders) / sizeof(orders[0]); k++) {
		struct ip_defrag *d = new_defrag(4, 30);
		struct out o;
		for (int i = 0; i < 4; i++) {
			int f = orders[k][i];
			int r = add4(d, (uint64_t)i, 7, off[f], f != 3, dg, len[f], &o);
			assert_int_equal(r, i == 3 ? 1 : 0);
		}
		assert_int_equal(o.len, sizeof(dg));
		assert_memory_equal(o.p, dg, sizeof(dg));
		ip_defrag_free(d);
	}
}

/* Overlapping data: the copy received first wins (RFC 5722 aside). */
static void test_defrag_overlap_first_wins(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(4, 30);
	uint8_t a[48], b[48];
	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	struct out o;
	/* A: [0, 24), then B: [16, 40) overlapping 8 bytes, then the tail. */
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 3, 6, 0, 1, a, 24,
				       &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 3, 6, 16, 1, b, 24,
				       &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 3, 6, 40, 0, b, 8,
				       &o.p, &o.len), 1);
	assert_int_equal(o.len, 48);
	for (uint32_t i = 0; i < 48; i++)
		assert_int_equal(o.p[i], i < 24 ? 'A' : 'B');
	ip_defrag_free(d);
	/* A complete retransmission of a fragment changes nothing either. */
	d = new_defrag(4, 30);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 4, 6, 8, 1, a, 8,
				       &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 4, 6, 8, 1, b, 8,
				       &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 4, 6, 0, 1, b, 8,
				       &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 4, 6, 16, 0, b, 3,
				       &o.p, &o.len), 1);
	assert_int_equal(o.len, 19);
	assert_memory_equal(o.p, "BBBBBBBBAAAAAAAABBB", 19);
	ip_defrag_free(d);
}

static void test_defrag_timeout(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(4, 30);
	uint8_t dg[40];
	fill(dg, sizeof(dg), 3);
	struct out o;
	assert_int_equal(add4(d, 1 * SEC, 5, 0, 1, dg, 24, &o), 0);
	/* Within the timeout the datagram completes. */
	assert_int_equal(add4(d, 30 * SEC, 5, 24, 0, dg, 16, &o), 1);
	assert_int_equal(ip_defrag_stats(d)->timeouts, 0);
	/* Past it, the first part is gone and the rest cannot complete. */
	assert_int_equal(add4(d, 100 * SEC, 6, 0, 1, dg, 24, &o), 0);
	assert_int_equal(add4(d, 131 * SEC, 6, 24, 0, dg, 16, &o), 0);
	assert_int_equal(ip_defrag_stats(d)->timeouts, 1);
	/* The late fragment started a new datagram that can still finish. */
	assert_int_equal(add4(d, 132 * SEC, 6, 0, 1, dg, 24, &o), 1);
	assert_memory_equal(o.p, dg, 40);
	ip_defrag_free(d);
}

static void test_defrag_eviction(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(2, 30);
	uint8_t dg[32];
	fill(dg, sizeof(dg), 5);
	struct out o;
	assert_int_equal(add4(d, 1, 100, 0, 1, dg, 16, &o), 0);
	assert_int_equal(add4(d, 2, 101, 0, 1, dg, 16, &o), 0);
	/* A third datagram evicts the oldest (100). */
	assert_int_equal(add4(d, 3, 102, 0, 1, dg, 16, &o), 0);
	assert_int_equal(ip_defrag_stats(d)->evicted, 1);
	assert_int_equal(add4(d, 4, 101, 16, 0, dg, 16, &o), 1);
	assert_int_equal(add4(d, 5, 102, 16, 0, dg, 16, &o), 1);
	/* 100 lost its first half. */
	assert_int_equal(add4(d, 6, 100, 16, 0, dg, 16, &o), 0);
	assert_int_equal(ip_defrag_stats(d)->reassembled, 2);
	ip_defrag_free(d);
}

/* Datagrams are told apart by addresses, id and protocol. */
static void test_defrag_keys(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(8, 30);
	uint8_t a[24], b[24];
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	struct out o;
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 9, 6, 0, 1, a, 16, &o.p, &o.len), 0);
	/* Same id, other protocol. */
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 9, 17, 0, 1, b, 16, &o.p, &o.len), 0);
	/* Same id, swapped addresses. */
	assert_int_equal(ip_defrag_add(d, 0, 4, dst4, src4, 9, 6, 0, 1, b, 16, &o.p, &o.len), 0);
	/* IPv6 with the same id. */
	assert_int_equal(ip_defrag_add(d, 0, 6, src6, dst6, 9, 6, 0, 1, b, 16, &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 9, 6, 16, 0, a, 8, &o.p, &o.len), 1);
	assert_int_equal(o.len, 24);
	assert_memory_equal(o.p, a, 24);
	assert_int_equal(ip_defrag_add(d, 0, 6, src6, dst6, 9, 6, 16, 0, b, 8, &o.p, &o.len), 1);
	assert_memory_equal(o.p, b, 24);
	ip_defrag_free(d);
}

static void test_defrag_ipv6(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(4, 60);
	uint8_t dg[1500];
	fill(dg, sizeof(dg), 11);
	struct out o;
	/* 1232-byte fragments (RFC 8200 minimum MTU), last one first. */
	assert_int_equal(ip_defrag_add(d, 0, 6, src6, dst6, 0x12345678, 6, 1232, 0,
				       dg + 1232, 268, &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 6, src6, dst6, 0x12345678, 6, 0, 1,
				       dg, 1232, &o.p, &o.len), 1);
	assert_int_equal(o.len, 1500);
	assert_memory_equal(o.p, dg, 1500);
	ip_defrag_free(d);
}

static void test_defrag_invalid(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(4, 30);
	uint8_t dg[65600];
	memset(dg, 0, sizeof(dg));
	struct out o;
	/* A non-final fragment must be a non-empty multiple of 8 bytes. */
	assert_int_equal(add4(d, 0, 1, 0, 1, dg, 12, &o), -1);
	assert_int_equal(add4(d, 0, 1, 0, 1, dg, 0, &o), -1);
	/* Past the largest datagram. */
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 2, 6, 65528, 0, dg,
				       16, &o.p, &o.len), -1);
	/* Two different ends. */
	assert_int_equal(add4(d, 0, 3, 0, 1, dg, 16, &o), 0);
	assert_int_equal(add4(d, 0, 3, 16, 0, dg, 8, &o), 1);
	assert_int_equal(add4(d, 0, 4, 32, 0, dg, 8, &o), 0);
	assert_int_equal(add4(d, 0, 4, 48, 0, dg, 8, &o), -1);
	assert_int_equal(ip_defrag_stats(d)->invalid, 4);
	/* The largest datagram still works. */
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 5, 6, 0, 1, dg, 65528,
				       &o.p, &o.len), 0);
	assert_int_equal(ip_defrag_add(d, 0, 4, src4, dst4, 5, 6, 65528, 0, dg,
				       7, &o.p, &o.len), 1);
	assert_int_equal(o.len, 65535);
	ip_defrag_free(d);
}

/* The output stays valid until the next call, which releases the tracker. */
static void test_defrag_output_lifetime(void **state)
{
	(void)state;
	struct ip_defrag *d = new_defrag(1, 30);
	uint8_t dg[24];
	fill(dg, sizeof(dg), 2);
	struct out o;
	assert_int_equal(add4(d, 0, 1, 0, 1, dg, 16, &o), 0);
	assert_int_equal(add4(d, 0, 1, 16, 0, dg, 8, &o), 1);
	assert_memory_equal(o.p, dg, 24);
	/* With one tracker, a new datagram needs no eviction: it was freed. */
	assert_int_equal(add4(d, 0, 2, 0, 1, dg, 16, &o), 0);
	assert_int_equal(ip_defrag_stats(d)->evicted, 0);
	/* A fragment of the finished datagram starts afresh. */
	ip_defrag_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defrag_in_order),
		cmocka_unit_test(test_defrag_out_of_order),
		cmocka_unit_test(test_defrag_overlap_first_wins),
		cmocka_unit_test(test_defrag_timeout),
		cmocka_unit_test(test_defrag_eviction),
		cmocka_unit_test(test_defrag_keys),
		cmocka_unit_test(test_defrag_ipv6),
		cmocka_unit_test(test_defrag_invalid),
		cmocka_unit_test(test_defrag_output_lifetime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
