/*
 * fuzz_tcp_reasm.c - libFuzzer target for TCP reassembly (tcp_reasm.c,
 * RFC 9293 §3.4): synthetic segments of one flow, with sequence numbers,
 * acknowledgements, flags, lengths, snapped captures and event time taken
 * from the input, under small per-direction and global memcaps.
 *
 * Every payload byte is a function of its direction and sequence number, so
 * the consumer can check that each delivered byte sits at the right stream
 * offset whatever overlaps, retransmissions and wraps happened. Other
 * oracles: per call, the stream position of a direction that was already
 * started moves by exactly the bytes delivered plus the gaps declared; the
 * queue limits hold after every segment; flush leaves nothing queued; and
 * release returns all memory to the context.
 *
 * Input layout:
 *   byte 0     bit 0 midstream; bits 1-3 max_ooo_segs-1; bits 4-6 log2 of
 *              max_ooo_bytes/16; bit 7 release at the end without a flush
 *   byte 1     memcap in 64-byte units (0: 32 bytes)
 *   byte 2     gap-ack timeout in 4 ms units
 *   bytes 3-10 initial sequence numbers of both directions
 *   then 7-byte records:
 *     [0] bit 7 direction, bit 6 flush after the segment, bit 5 far
 *         (the seq offset counts 64 KiB units, so +-2^31 is reachable),
 *         bits 0-4 TCP flags (FIN SYN RST PSH ACK)
 *     [1-2] signed offset of seq from the direction's next expected byte
 *     [3] payload length on the wire
 *     [4] bit 7 set: that many bytes (low 7 bits) missing from the capture
 *     [5] signed ack offset (x4) from the peer's next expected byte
 *     [6] event time step in milliseconds
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "net/tcp_reasm.h"

struct consumer {
	uint64_t moved[2]; /* bytes delivered plus gap bytes, this call */
	uint64_t data_bytes;
	uint64_t gaps;
};

static uint8_t pattern(int dir, uint32_t seq)
{
	uint32_t x = seq * 2654435761u;
	return (uint8_t)((x >> 24) ^ (x >> 9) ^ (dir ? 0x5a : 0));
}

static void on_data(void *ud, struct flow *f, int dir, const uint8_t *p,
		    size_t n)
{
	struct consumer *c = ud;
	FUZZ_CHECK(dir == 0 || dir == 1);
	FUZZ_CHECK(n > 0 && n <= 0xffffffffu);
	/* deliver() has advanced next_seq past this data already. */
	uint32_t start = f->d[dir].next_seq - (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(p[i] == pattern(dir, start + (uint32_t)i));
	c->moved[dir] += n;
	c->data_bytes += n;
}

static void on_gap(void *ud, struct flow *f, int dir, uint64_t len)
{
	struct consumer *c = ud;
	(void)f;
	FUZZ_CHECK(dir == 0 || dir == 1);
	FUZZ_CHECK(len <= 0xffffffffu);
	c->moved[dir] += len;
	c->gaps++;
}

static void check_limits(const struct reasm_ctx *rc, const struct flow *f)
{
	FUZZ_CHECK(rc->mem_used <= rc->cfg.memcap);
	for (int i = 0; i < 2; i++) {
		const struct tcp_dir *d = &f->d[i];
		FUZZ_CHECK(d->ooo_bytes <= rc->cfg.max_ooo_bytes);
		FUZZ_CHECK(d->ooo_n <= rc->cfg.max_ooo_segs);
		FUZZ_CHECK((d->ooo == NULL) == (d->ooo_n == 0));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct reasm_cfg cfg;
	struct reasm_ctx rc;
	struct flow f;
	struct consumer c;
	uint8_t b0 = fuzz_u8(&in), b1 = fuzz_u8(&in), b2 = fuzz_u8(&in);
	uint32_t isn[2];
	isn[0] = fuzz_be32(&in);
	isn[1] = fuzz_be32(&in);

	memset(&cfg, 0, sizeof(cfg));
	cfg.midstream = b0 & 1;
	cfg.max_ooo_segs = 1u + ((b0 >> 1) & 7);
	cfg.max_ooo_bytes = 16u << ((b0 >> 4) & 7);
	cfg.memcap = b1 ? (size_t)b1 * 64u : 32u;
	cfg.gap_ack_timeout_ms = (uint32_t)b2 * 4u;
	tcp_reasm_init(&rc, &cfg);
	memset(&f, 0, sizeof(f));
	memset(&c, 0, sizeof(c));
	struct reasm_out out = { on_data, on_gap, &c };
	uint64_t now = 1600000000ull * 1000000u;

	while (in.n >= 7) {
		uint8_t fl = fuzz_u8(&in);
		int16_t soff = (int16_t)fuzz_be16(&in);
		uint8_t len = fuzz_u8(&in);
		uint8_t cut = fuzz_u8(&in);
		int8_t aoff = (int8_t)fuzz_u8(&in);
		uint8_t dt = fuzz_u8(&in);
		int dir = fl >> 7;
		struct tcp_dir *d = &f.d[dir], *o = &f.d[!dir];

		struct pkt pkt;
		memset(&pkt, 0, sizeof(pkt));
		now += (uint64_t)dt * 1000u;
		pkt.ts_us = now;
		pkt.family = 4;
		pkt.tcp_flags = fl & 0x1f;
		uint32_t base = d->init ? d->next_seq : isn[dir];
		pkt.seq = base + (uint32_t)(int32_t)soff * ((fl & 0x20) ? 65536u : 1u);
		pkt.ack = (o->init ? o->next_seq : isn[!dir]) +
			  (uint32_t)((int32_t)aoff * 4);
		pkt.payload_wire_len = len;
		uint32_t missing = (cut & 0x80) ? (cut & 0x7fu) : 0;
		pkt.payload_len = missing < len ? len - missing : 0;
		uint8_t *payload = malloc(pkt.payload_len ? pkt.payload_len : 1);
		if (!payload)
			break;
		for (uint32_t i = 0; i < pkt.payload_len; i++)
			payload[i] = pattern(dir, pkt.seq + i);
		pkt.payload = payload;

		bool was_init[2] = { f.d[0].init, f.d[1].init };
		uint32_t before[2] = { f.d[0].next_seq, f.d[1].next_seq };
		c.moved[0] = c.moved[1] = 0;
		tcp_reasm_packet(&rc, &f, dir, &pkt, &out);
		free(payload);
		for (int i = 0; i < 2; i++) {
			/* A SYN may (re)start its direction: no accounting then. */
			if (!was_init[i] || (i == dir && (fl & TCP_SYN)))
				continue;
			FUZZ_CHECK((uint32_t)(f.d[i].next_seq - before[i]) ==
				   (uint32_t)c.moved[i]);
		}
		check_limits(&rc, &f);
		if (fl & 0x40) {
			tcp_reasm_flush(&rc, &f, &out);
			FUZZ_CHECK(f.d[0].ooo == NULL && f.d[1].ooo == NULL);
		}
	}
	if (!(b0 & 0x80)) {
		tcp_reasm_flush(&rc, &f, &out);
		for (int i = 0; i < 2; i++) {
			FUZZ_CHECK(f.d[i].ooo == NULL);
			FUZZ_CHECK(f.d[i].ooo_bytes == 0 && f.d[i].ooo_n == 0);
		}
		FUZZ_CHECK(rc.mem_used == 0);
	}
	/* Without a flush, release alone must free what is queued. */
	tcp_reasm_release(&rc, &f);
	for (int i = 0; i < 2; i++)
		FUZZ_CHECK(f.d[i].ooo_bytes == 0 && f.d[i].ooo_n == 0);
	FUZZ_CHECK(rc.mem_used == 0);
	return 0;
}
