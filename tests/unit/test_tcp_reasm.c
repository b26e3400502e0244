/* test_tcp_reasm.c - unit tests for per-direction TCP stream reassembly (net/tcp_reasm.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "net/tcp_reasm.h"

#define MS 1000u

/* What the consumer saw, in order: "[dir]data(...)" and "[dir]gap(N)". */
struct seen {
	char log[8192];
	size_t len;
	char data[2][4096]; /* concatenated in-order bytes per direction */
	size_t dlen[2];
};

static void log_add(struct seen *s, const char *txt, size_t n)
{
	assert_true(s->len + n < sizeof(s->log));
	memcpy(s->log + s->len, txt, n);
	s->len += n;
	s->log[s->len] = 0;
}

static void on_data(void *ud, struct flow *f, int dir, const uint8_t *p,
		    size_t n)
{
	struct seen *s = ud;
	char hdr[16];
	(void)f;
	int hn = snprintf(hdr, sizeof(hdr), "%ddata(", dir);
	log_add(s, hdr, (size_t)hn);
	log_add(s, (const char *)p, n);
	log_add(s, ")", 1);
	assert_true(s->dlen[dir] + n <= sizeof(s->data[dir]));
	memcpy(s->data[dir] + s->dlen[dir], p, n);
	s->dlen[dir] += n;
}

static void on_gap(void *ud, struct flow *f, int dir, uint64_t len)
{
	struct seen *s = ud;
	char tmp[40];
	(void)f;
	int n = snprintf(tmp, sizeof(tmp), "%dgap(%llu)", dir, (unsigned long long)len);
	log_add(s, tmp, (size_t)n);
}

struct fx {
	struct reasm_ctx rc;
	struct flow f;
	struct seen seen;
	struct reasm_out out;
};

static void fx_init(struct fx *x, const struct reasm_cfg *cfg)
{
	struct reasm_cfg def = {
		.midstream = true, .max_ooo_bytes = 1 << 20, .max_ooo_segs = 1024,
		.memcap = 1 << 24, .gap_ack_timeout_ms = 1000,
	};
	memset(x, 0, sizeof(*x));
	tcp_reasm_init(&x->rc, cfg ? cfg : &def);
	x->out.data = on_data;
	x->out.gap = on_gap;
	x->out.ud = &x->seen;
}

static void fx_done(struct fx *x)
{
	tcp_reasm_release(&x->rc, &x->f);
	assert_int_equal(x->rc.mem_used, 0);
}

/* One segment; s is its payload (NUL-terminated text). */
static void seg(struct fx *x, int dir, uint64_t ts, uint8_t flags, uint32_t seq,
		uint32_t ack, const char *s)
{
	struct pkt p;
	memset(&p, 0, sizeof(p));
	p.ts_us = ts;
	p.tcp_flags = flags;
	p.seq = seq;
	p.ack = ack;
	p.payload = (const uint8_t *)s;
	p.payload_len = s ? (uint32_t)strlen(s) : 0;
	p.payload_wire_len = p.payload_len;
	tcp_reasm_packet(&x->rc, &x->f, dir, &p, &x->out);
}

static void data(struct fx *x, uint32_t seq, const char *s)
{
	seg(x, 0, 0, TCP_ACK | TCP_PSH, seq, 1, s);
}

static void syn(struct fx *x, uint32_t isn)
{
	seg(x, 0, 0, TCP_SYN, isn, 0, NULL);
}

static void assert_log(const struct fx *x, const char *want)
{
	assert_string_equal(x->seen.log, want);
}

static void test_reasm_in_order(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	assert_true(x.f.d[0].syn);
	assert_int_equal(x.f.d[0].next_seq, 1001);
	data(&x, 1001, "hello");
	data(&x, 1006, " world");
	assert_log(&x, "0data(hello)0data( world)");
	assert_int_equal(x.f.d[0].next_seq, 1012);
	assert_int_equal(x.rc.st.in_order, 2);
	assert_int_equal(x.rc.st.ooo_queued, 0);
	assert_int_equal(x.rc.mem_used, 0); /* zero copy */
	/* A pure ACK carries nothing. */
	seg(&x, 0, 0, TCP_ACK, 1012, 1, NULL);
	assert_log(&x, "0data(hello)0data( world)");
	fx_done(&x);
}

static void test_reasm_out_of_order(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	data(&x, 1011, "ccccc");
	data(&x, 1006, "bbbbb");
	assert_log(&x, "");
	assert_int_equal(x.f.d[0].ooo_n, 2);
	assert_true(x.rc.mem_used > 0);
	data(&x, 1001, "aaaaa");
	assert_log(&x, "0data(aaaaa)0data(bbbbb)0data(ccccc)");
	assert_int_equal(x.f.d[0].ooo_n, 0);
	assert_int_equal(x.f.d[0].ooo_bytes, 0);
	assert_int_equal(x.rc.mem_used, 0);
	assert_int_equal(x.rc.st.ooo_queued, 2);
	fx_done(&x);
}

static void test_reasm_retransmission(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	data(&x, 1001, "hello");
	data(&x, 1001, "hello");
	assert_int_equal(x.rc.st.retransmissions, 1);
	/* Partly old, partly new: only the new part is delivered. */
	data(&x, 1004, "lo wor");
	data(&x, 1010, "ld");
	assert_log(&x, "0data(hello)0data( wor)0data(ld)");
	/* A SYN retransmission does not move the stream. */
	syn(&x, 1000);
	assert_int_equal(x.f.d[0].next_seq, 1012);
	fx_done(&x);
}

/* Data already delivered is never replaced by a later copy. */
static void test_reasm_overlap_delivered_first_wins(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	data(&x, 1001, "hello");
	data(&x, 1001, "HELLO WORLD");
	assert_log(&x, "0data(hello)0data( WORLD)");
	assert_true(x.rc.st.overlaps >= 1);
	fx_done(&x);
}

/* Queued out-of-order copies: the first one queued wins. */
static void test_reasm_overlap_queued_first_wins(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	data(&x, 1011, "AAAAAAAA");     /* [1011, 1019) */
	data(&x, 1007, "BBBBBBBBBBBB"); /* [1007, 1019): only [1007, 1011) new */
	data(&x, 1009, "CCCCCCCCCCCCCC"); /* [1009, 1023): only [1019, 1023) new */
	data(&x, 1001, "xxxxxx");       /* [1001, 1007) */
	assert_string_equal(x.seen.data[0], "xxxxxxBBBBAAAAAAAACCCC");
	assert_int_equal(x.seen.dlen[0], 22);
	assert_int_equal(x.f.d[0].next_seq, 1023);
	fx_done(&x);
}

/*
 * BUG (src/net/tcp_reasm.c data_segment): an in-order segment that
 * overlaps data already queued out of order is delivered whole, so its
 * later copy of the queued bytes wins, against the documented policy
 * "the first copy of any byte wins" (tcp_reasm.h).
 */
static void test_reasm_overlap_in_order_over_queued(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	data(&x, 1006, "QQQQ");         /* [1006, 1010), queued first */
	data(&x, 1001, "aaaaabbbbbcc"); /* [1001, 1013) */
	assert_int_equal(x.f.d[0].next_seq, 1013);
	assert_int_equal(x.seen.dlen[0], 12);
	assert_memory_equal(x.seen.data[0], "aaaaaQQQQbcc", 12);
	fx_done(&x);
}

static void test_reasm_gap_on_segment_overflow(void **state)
{
	(void)state;
	struct reasm_cfg cfg = {
		.midstream = true, .max_ooo_bytes = 1 << 20, .max_ooo_segs = 2,
		.memcap = 1 << 24, .gap_ack_timeout_ms = 1000,
	};
	struct fx x;
	fx_init(&x, &cfg);
	syn(&x, 1000);
	data(&x, 1001, "ok");
	data(&x, 1013, "one");   /* hole [1003, 1013) */
	data(&x, 1021, "two");   /* hole [1016, 1021) */
	assert_log(&x, "0data(ok)");
	data(&x, 1031, "three"); /* third queued segment: over the limit */
	assert_log(&x, "0data(ok)0gap(10)0data(one)");
	assert_int_equal(x.f.d[0].ooo_n, 2);
	assert_int_equal(x.rc.st.gaps, 1);
	assert_int_equal(x.rc.st.gap_bytes, 10);
	/* Filling the second hole delivers the rest. */
	data(&x, 1016, "fill!");
	assert_log(&x, "0data(ok)0gap(10)0data(one)0data(fill!)0data(two)");
	fx_done(&x);
}

static void test_reasm_gap_on_byte_overflow(void **state)
{
	(void)state;
	struct reasm_cfg cfg = {
		.midstream = true, .max_ooo_bytes = 8, .max_ooo_segs = 100,
		.memcap = 1 << 24, .gap_ack_timeout_ms = 1000,
	};
	struct fx x;
	fx_init(&x, &cfg);
	syn(&x, 1000);
	data(&x, 1005, "12345");
	data(&x, 1010, "6789");  /* 9 bytes queued > 8 */
	assert_log(&x, "0gap(4)0data(12345)0data(6789)");
	assert_int_equal(x.f.d[0].next_seq, 1014);
	fx_done(&x);
}

static void test_reasm_memcap(void **state)
{
	(void)state;
	struct reasm_cfg cfg = {
		.midstream = true, .max_ooo_bytes = 1 << 20, .max_ooo_segs = 100,
		.memcap = 64, .gap_ack_timeout_ms = 1000,
	};
	struct fx x;
	fx_init(&x, &cfg);
	syn(&x, 1000);
	data(&x, 1101, "this segment does not fit into a 64-byte memcap at all");
	assert_int_equal(x.rc.st.memcap_drops, 1);
	assert_int_equal(x.f.d[0].ooo_n, 0);
	assert_int_equal(x.rc.mem_used, 0);
	fx_done(&x);
}

static void test_reasm_midstream(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	data(&x, 5000, "mid");
	data(&x, 5003, "stream");
	assert_log(&x, "0data(mid)0data(stream)");
	assert_false(x.f.d[0].syn);
	assert_int_equal(x.rc.st.midstream, 1);
	fx_done(&x);
	struct reasm_cfg off = {
		.midstream = false, .max_ooo_bytes = 1 << 20, .max_ooo_segs = 1024,
		.memcap = 1 << 24, .gap_ack_timeout_ms = 1000,
	};
	fx_init(&x, &off);
	data(&x, 5000, "mid");
	assert_log(&x, "");
	assert_int_equal(x.rc.st.midstream_ignored, 1);
	/* A SYN starts the stream properly. */
	syn(&x, 6000);
	data(&x, 6001, "ok");
	assert_log(&x, "0data(ok)");
	fx_done(&x);
}

/*
 * The peer acknowledged bytes never seen: after the grace period the hole
 * becomes a gap (a loopback capture may hold an ACK before its data).
 */
static void test_reasm_acked_hole_becomes_gap(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	seg(&x, 1, 0, TCP_SYN | TCP_ACK, 5000, 1001, NULL);
	data(&x, 1001, "abc");
	seg(&x, 0, 0, TCP_ACK, 1009, 5001, "late"); /* hole [1004, 1009) */
	seg(&x, 1, 10 * MS, TCP_ACK, 5001, 1013, NULL);
	assert_true(x.f.d[0].hole_acked);
	seg(&x, 1, 500 * MS, TCP_ACK, 5001, 1013, NULL);
	assert_log(&x, "0data(abc)");
	/* The hole is filled in time: no gap. */
	data(&x, 1004, "12345");
	assert_log(&x, "0data(abc)0data(12345)0data(late)");
	assert_false(x.f.d[0].hole_acked);
	/* A second hole that is not filled. */
	data(&x, 1020, "tail");
	seg(&x, 1, 2000 * MS, TCP_ACK, 5001, 1024, NULL);
	seg(&x, 1, 2999 * MS, TCP_ACK, 5001, 1024, NULL);
	assert_log(&x, "0data(abc)0data(12345)0data(late)");
	seg(&x, 1, 3000 * MS, TCP_ACK, 5001, 1024, NULL);
	assert_log(&x, "0data(abc)0data(12345)0data(late)0gap(7)0data(tail)");
	fx_done(&x);
}

static void test_reasm_flush_and_release(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	seg(&x, 1, 0, TCP_SYN | TCP_ACK, 7000, 1001, NULL);
	data(&x, 1005, "x");
	seg(&x, 1, 0, TCP_ACK, 7003, 1001, "yy");
	tcp_reasm_flush(&x.rc, &x.f, &x.out);
	assert_log(&x, "0gap(4)0data(x)1gap(2)1data(yy)");
	assert_int_equal(x.rc.mem_used, 0);
	/* Release drops without delivering. */
	data(&x, 1010, "never");
	assert_true(x.rc.mem_used > 0);
	tcp_reasm_release(&x.rc, &x.f);
	assert_int_equal(x.rc.mem_used, 0);
	assert_log(&x, "0gap(4)0data(x)1gap(2)1data(yy)");
	fx_done(&x);
}

static void test_reasm_fin_and_rst(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	seg(&x, 0, 0, TCP_ACK | TCP_FIN, 1004, 1, NULL); /* FIN before data */
	assert_true(x.f.d[0].fin);
	assert_false(x.f.d[0].done);
	data(&x, 1001, "end");
	seg(&x, 0, 0, TCP_ACK, 1004, 1, NULL);
	assert_true(x.f.d[0].done);
	assert_log(&x, "0data(end)");
	seg(&x, 1, 0, TCP_RST, 0, 0, NULL);
	assert_true(x.f.rst);
	fx_done(&x);
}

/* A snapped capture: bytes on the wire but not in the file become a gap. */
static void test_reasm_snapped_segment(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 1000);
	struct pkt p;
	memset(&p, 0, sizeof(p));
	p.tcp_flags = TCP_ACK;
	p.seq = 1001;
	p.payload = (const uint8_t *)"head";
	p.payload_len = 4;
	p.payload_wire_len = 10;
	tcp_reasm_packet(&x.rc, &x.f, 0, &p, &x.out);
	data(&x, 1011, "next");
	assert_log(&x, "0data(head)0gap(6)0data(next)");
	fx_done(&x);
}

static void test_reasm_sequence_wrap(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 0xfffffff9u);
	data(&x, 0xfffffffau, "012345");
	data(&x, 0x00000004u, "cd");     /* queued across the wrap */
	data(&x, 0x00000000u, "6789");
	assert_log(&x, "0data(012345)0data(6789)0data(cd)");
	data(&x, 0xfffffffeu, "old!"); /* a retransmission before the wrap */
	assert_int_equal(x.rc.st.retransmissions, 1);
	assert_int_equal(x.f.d[0].next_seq, 6);
	fx_done(&x);
}

/* The two directions are independent. */
static void test_reasm_directions(void **state)
{
	(void)state;
	struct fx x;
	fx_init(&x, NULL);
	syn(&x, 100);
	seg(&x, 1, 0, TCP_SYN | TCP_ACK, 900, 101, NULL);
	seg(&x, 1, 0, TCP_ACK, 906, 101, "later");
	data(&x, 101, "req");
	seg(&x, 1, 0, TCP_ACK, 901, 104, "first");
	assert_log(&x, "0data(req)1data(first)1data(later)");
	fx_done(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reasm_in_order),
		cmocka_unit_test(test_reasm_out_of_order),
		cmocka_unit_test(test_reasm_retransmission),
		cmocka_unit_test(test_reasm_overlap_delivered_first_wins),
		cmocka_unit_test(test_reasm_overlap_queued_first_wins),
		cmocka_unit_test(test_reasm_overlap_in_order_over_queued),
		cmocka_unit_test(test_reasm_gap_on_segment_overflow),
		cmocka_unit_test(test_reasm_gap_on_byte_overflow),
		cmocka_unit_test(test_reasm_memcap),
		cmocka_unit_test(test_reasm_midstream),
		cmocka_unit_test(test_reasm_acked_hole_becomes_gap),
		cmocka_unit_test(test_reasm_flush_and_release),
		cmocka_unit_test(test_reasm_fin_and_rst),
		cmocka_unit_test(test_reasm_snapped_segment),
		cmocka_unit_test(test_reasm_sequence_wrap),
		cmocka_unit_test(test_reasm_directions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
