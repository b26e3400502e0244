/*
 * tcp_reasm.c - TCP reassembly per direction (RFC 9293 §3.4 sequence
 * numbers). In-order data is handed straight to the consumer from the
 * packet buffer (zero copy); only out-of-order data is copied, into
 * segments bounded per direction and by a global memcap. Holes become
 * gaps when the queue overflows, when the peer acknowledges data that was
 * never seen (after a grace period, because loopback captures often hold
 * an ACK before the data it acknowledges), or when the flow ends.
 */
#include "net/tcp_reasm.h"

#include <stdlib.h>
#include <string.h>

struct tcp_seg {
	struct tcp_seg *next;
	uint32_t seq;
	uint32_t len;
	uint8_t data[];
};

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((a) - (b)) > 0)

void tcp_reasm_init(struct reasm_ctx *rc, const struct reasm_cfg *cfg)
{
	memset(rc, 0, sizeof(*rc));
	rc->cfg = *cfg;
}

static void seg_free(struct reasm_ctx *rc, struct tcp_dir *d,
		     struct tcp_seg *s)
{
	d->ooo_bytes -= s->len;
	d->ooo_n--;
	rc->mem_used -= sizeof(*s) + s->len;
	free(s);
}

static void deliver(struct tcp_dir *d, struct flow *f, int dir,
		    const uint8_t *p, uint32_t n, const struct reasm_out *out)
{
	d->next_seq += n;
	if (n && out->data)
		out->data(out->ud, f, dir, p, n);
}

/* Hands over queued segments that are now in order. */
static void drain(struct reasm_ctx *rc, struct tcp_dir *d, struct flow *f,
		  int dir, const struct reasm_out *out)
{
	while (d->ooo && SEQ_LEQ(d->ooo->seq, d->next_seq)) {
		struct tcp_seg *s = d->ooo;
		d->ooo = s->next;
		uint32_t skip = d->next_seq - s->seq;
		if (skip < s->len)
			deliver(d, f, dir, s->data + skip, s->len - skip, out);
		seg_free(rc, d, s);
	}
	if (!d->ooo)
		d->hole_acked = false;
}

/* Declares the hole before the first queued segment lost. */
static void force_gap(struct reasm_ctx *rc, struct tcp_dir *d, struct flow *f,
		      int dir, const struct reasm_out *out)
{
	if (!d->ooo)
		return;
	uint32_t len = d->ooo->seq - d->next_seq;
	rc->st.gaps++;
	rc->st.gap_bytes += len;
	if (out->gap)
		out->gap(out->ud, f, dir, len);
	d->next_seq = d->ooo->seq;
	d->hole_acked = false;
	drain(rc, d, f, dir, out);
}

/* Queues [seq, seq+n) filling only holes: queued data wins. */
static void queue_ooo(struct reasm_ctx *rc, struct tcp_dir *d, uint32_t seq,
		      const uint8_t *p, uint32_t n)
{
	struct tcp_seg **pp = &d->ooo;
	uint32_t cur = seq, end = seq + n;
	while (SEQ_LT(cur, end)) {
		while (*pp && SEQ_LEQ((*pp)->seq + (*pp)->len, cur))
			pp = &(*pp)->next;
		uint32_t piece_end = end;
		if (*pp && SEQ_LEQ((*pp)->seq, cur)) {
			/* cur lies inside an existing segment: skip it. */
			rc->st.overlaps++;
			cur = (*pp)->seq + (*pp)->len;
			continue;
		}
		if (*pp && SEQ_LT((*pp)->seq, end)) {
			piece_end = (*pp)->seq;
			rc->st.overlaps++;
		}
		uint32_t len = piece_end - cur;
		if (rc->mem_used + sizeof(struct tcp_seg) + len > rc->cfg.memcap) {
			rc->st.memcap_drops++;
			return;
		}
		struct tcp_seg *s = malloc(sizeof(*s) + len);
		if (!s) {
			rc->st.memcap_drops++;
			return;
		}
		s->seq = cur;
		s->len = len;
		memcpy(s->data, p + (cur - seq), len);
		s->next = *pp;
		*pp = s;
		pp = &s->next;
		d->ooo_bytes += len;
		d->ooo_n++;
		rc->mem_used += sizeof(*s) + len;
		if (rc->mem_used > rc->mem_peak)
			rc->mem_peak = rc->mem_used;
		cur = piece_end;
	}
}

static void data_segment(struct reasm_ctx *rc, struct flow *f, int dir,
			 uint32_t seq, const uint8_t *p, uint32_t caplen,
			 uint32_t wirelen, const struct reasm_out *out)
{
	struct tcp_dir *d = &f->d[dir];
	int32_t off = (int32_t)(seq - d->next_seq);
	rc->st.segments++;
	if (off < 0 && 0u - (uint32_t)off >= wirelen) {
		rc->st.retransmissions++;
		return;
	}
	if (off < 0) {
		uint32_t trim = 0u - (uint32_t)off;
		rc->st.overlaps++;
		seq += trim;
		wirelen -= trim;
		if (trim >= caplen) {
			caplen = 0;
		} else {
			p += trim;
			caplen -= trim;
		}
		off = 0;
	}
	if (off == 0) {
		rc->st.in_order++;
		/* Bytes queued earlier came first: they win over this copy. */
		while (caplen > 0 && d->ooo && SEQ_LEQ(seq, d->ooo->seq) &&
		       SEQ_LT(d->ooo->seq, seq + caplen)) {
			deliver(d, f, dir, p, d->ooo->seq - seq, out);
			drain(rc, d, f, dir, out);
			uint32_t used = d->next_seq - seq;
			rc->st.overlaps++;
			if (used >= wirelen)
				return;
			uint32_t skip = used < caplen ? used : caplen;
			p += skip;
			caplen -= skip;
			wirelen -= used;
			seq = d->next_seq;
		}
		deliver(d, f, dir, p, caplen, out);
		if (caplen < wirelen) {
			/* Snapped capture: the rest of the segment is lost. */
			rc->st.gaps++;
			rc->st.gap_bytes += wirelen - caplen;
			if (out->gap)
				out->gap(out->ud, f, dir, wirelen - caplen);
			d->next_seq += wirelen - caplen;
		}
		drain(rc, d, f, dir, out);
		return;
	}
	rc->st.ooo_queued++;
	queue_ooo(rc, d, seq, p, caplen);
	while (d->ooo && (d->ooo_bytes > rc->cfg.max_ooo_bytes ||
			  d->ooo_n > rc->cfg.max_ooo_segs))
		force_gap(rc, d, f, dir, out);
}

void tcp_reasm_packet(struct reasm_ctx *rc, struct flow *f, int dir,
		      const struct pkt *pkt, const struct reasm_out *out)
{
	struct tcp_dir *d = &f->d[dir];
	struct tcp_dir *o = &f->d[!dir];
	uint8_t fl = pkt->tcp_flags;
	uint64_t now = pkt->ts_us;

	if (fl & TCP_RST)
		f->rst = true;
	if (fl & TCP_SYN) {
		if (!d->init || !d->syn) {
			/* A SYN restarts the sequence space: queued data is stale. */
			while (d->ooo) {
				struct tcp_seg *s = d->ooo;
				d->ooo = s->next;
				seg_free(rc, d, s);
			}
			d->hole_acked = false;
			d->init = true;
			d->syn = true;
			d->next_seq = pkt->seq + 1;
		}
		return; /* data on SYN is not delivered (TFO is not MQTT) */
	}
	if ((fl & TCP_ACK) && o->init && o->ooo && SEQ_GT(pkt->ack, o->next_seq) &&
	    !o->hole_acked) {
		o->hole_acked = true;
		o->hole_acked_us = now;
	}
	if (pkt->payload_wire_len > 0) {
		if (!d->init) {
			if (!rc->cfg.midstream) {
				rc->st.midstream_ignored++;
				return;
			}
			rc->st.midstream++;
			d->init = true;
			d->next_seq = pkt->seq;
		}
		data_segment(rc, f, dir, pkt->seq, pkt->payload,
			     pkt->payload_len, pkt->payload_wire_len, out);
	}
	if (fl & TCP_FIN) {
		if (!d->init) {
			d->init = true;
			d->next_seq = pkt->seq + pkt->payload_wire_len;
		}
		d->fin = true;
		d->fin_seq = pkt->seq + pkt->payload_wire_len;
	}
	if (d->fin && SEQ_LEQ(d->fin_seq, d->next_seq))
		d->done = true;
	uint64_t grace = (uint64_t)rc->cfg.gap_ack_timeout_ms * 1000u;
	for (int i = 0; i < 2; i++) {
		struct tcp_dir *x = &f->d[i];
		if (x->hole_acked && now >= x->hole_acked_us &&
		    now - x->hole_acked_us >= grace)
			force_gap(rc, x, f, i, out);
	}
}

void tcp_reasm_flush(struct reasm_ctx *rc, struct flow *f,
		     const struct reasm_out *out)
{
	for (int i = 0; i < 2; i++)
		while (f->d[i].ooo)
			force_gap(rc, &f->d[i], f, i, out);
}

void tcp_reasm_release(struct reasm_ctx *rc, struct flow *f)
{
	for (int i = 0; i < 2; i++) {
		struct tcp_dir *d = &f->d[i];
		while (d->ooo) {
			struct tcp_seg *s = d->ooo;
			d->ooo = s->next;
			seg_free(rc, d, s);
		}
	}
}
