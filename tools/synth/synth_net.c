/*
 * synth_net.c - frames for synthetic captures: pcap file format
 * (tcpdump.org pcap-savefile), Ethernet II, IPv4 (RFC 791, checksum RFC
 * 1071) and TCP (RFC 9293: handshake, MSS option, delayed ACK per RFC 1122
 * §4.2.3.2, FIN teardown). Everything is written to a file; nothing is sent.
 */
#include "synth_net.h"

#include "tb_net.h"

#include <string.h>

#include "mqtt/mqtt_encode.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int synth_pcap_open(struct synth_pcap *pc, const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	static char vbuf[1 << 16];
	setvbuf(f, vbuf, _IOFBF, sizeof(vbuf));
	return synth_pcap_open_fp(pc, f);
}

int synth_pcap_open_fp(struct synth_pcap *pc, FILE *f)
{
	memset(pc, 0, sizeof(*pc));
	pc->f = f;
	if (!pc->f)
		return -1;
	uint8_t h[24];
	le32(h, 0xa1b2c3d4);
	h[4] = 2; h[5] = 0; h[6] = 4; h[7] = 0; /* version 2.4 */
	le32(h + 8, 0);       /* thiszone */
	le32(h + 12, 0);      /* sigfigs */
	le32(h + 16, 262144); /* snaplen */
	le32(h + 20, 1);      /* LINKTYPE_ETHERNET */
	if (fwrite(h, 1, sizeof(h), pc->f) != sizeof(h))
		pc->err = true;
	return 0;
}

int synth_pcap_close(struct synth_pcap *pc)
{
	if (!pc->f)
		return -1;
	if (fclose(pc->f) != 0)
		pc->err = true;
	pc->f = NULL;
	return pc->err ? -1 : 0;
}

static void pcap_record(struct synth_pcap *pc, uint64_t ts, const uint8_t *frame,
			size_t n)
{
	if (ts <= pc->last_ts && pc->packets)
		ts = pc->last_ts + 1;
	pc->last_ts = ts;
	uint8_t h[16];
	ts += pc->epoch_us;
	le32(h, (uint32_t)(ts / 1000000));
	le32(h + 4, (uint32_t)(ts % 1000000));
	le32(h + 8, (uint32_t)n);
	le32(h + 12, (uint32_t)n);
	if (fwrite(h, 1, 16, pc->f) != 16 || fwrite(frame, 1, n, pc->f) != n)
		pc->err = true;
	pc->packets++;
	pc->bytes += n;
}

/* Reads one record header + frame into buf; 1, 0 at the end, -1 on error. */
static int read_rec(FILE *f, uint8_t *buf, size_t cap, uint64_t *ts, uint32_t *len)
{
	uint8_t h[16];
	size_t got = fread(h, 1, 16, f);
	if (got == 0 && feof(f))
		return 0;
	if (got != 16)
		return -1;
	uint32_t sec = (uint32_t)(h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24);
	uint32_t usec = (uint32_t)(h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24);
	*len = (uint32_t)(h[8] | h[9] << 8 | h[10] << 16 | (uint32_t)h[11] << 24);
	*ts = (uint64_t)sec * 1000000 + usec;
	if (*len > cap || fread(buf, 1, *len, f) != *len)
		return -1;
	return 1;
}

int synth_pcap_merge(struct synth_pcap *out, FILE *const *parts, size_t n)
{
	enum { MAXP = 128, FR = 2048 };
	if (n > MAXP)
		return -1;
	static uint8_t buf[MAXP][FR];
	uint64_t ts[MAXP];
	uint32_t len[MAXP];
	bool live[MAXP];
	for (size_t i = 0; i < n; i++) {
		if (fflush(parts[i]) != 0 || fseek(parts[i], 24, SEEK_SET) != 0)
			return -1;
		int rc = read_rec(parts[i], buf[i], FR, &ts[i], &len[i]);
		if (rc < 0)
			return -1;
		live[i] = rc == 1;
	}
	for (;;) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (live[i] && (best == n || ts[i] < ts[best]))
				best = i;
		if (best == n)
			break;
		pcap_record(out, ts[best] - out->epoch_us, buf[best], len[best]);
		int rc = read_rec(parts[best], buf[best], FR, &ts[best], &len[best]);
		if (rc < 0)
			return -1;
		live[best] = rc == 1;
	}
	return out->err ? -1 : 0;
}

/*
 * Writes one Ethernet/IPv4/TCP frame from side s to side d. mss_opt adds
 * the MSS option (SYN segments). The checksums are computed over the
 * finished headers, so the frame is valid for any checksum-verifying tool.
 */
static void emit(struct synth_pcap *pc, uint64_t ts, struct synth_side *s,
		 struct synth_side *d, uint32_t seq, uint32_t ack, uint8_t flags,
		 const uint8_t *data, size_t n, bool mss_opt)
{
	uint8_t fr[14 + 20 + 24 + 1500];
	size_t thl = mss_opt ? 24 : 20;
	size_t iplen = 20 + thl + n;
	struct wr w = wr_make(fr, sizeof(fr));
	/* Ethernet II */
	wr_bytes(&w, d->h->mac, 6);
	wr_bytes(&w, s->h->mac, 6);
	wr_be16(&w, 0x0800);
	/* IPv4, DF set as Linux and lwIP do for TCP */
	uint8_t *ip = w.p;
	wr_u8(&w, 0x45);
	wr_u8(&w, 0);
	wr_be16(&w, (uint16_t)iplen);
	wr_be16(&w, s->h->ip_id++);
	wr_be16(&w, 0x4000);
	wr_u8(&w, s->h->ttl);
	wr_u8(&w, 6);
	wr_be16(&w, 0);
	wr_bytes(&w, s->h->ip, 4);
	wr_bytes(&w, d->h->ip, 4);
	/* TCP */
	uint8_t *tcp = w.p;
	wr_be16(&w, s->port);
	wr_be16(&w, d->port);
	wr_be32(&w, seq);
	wr_be32(&w, ack);
	wr_u8(&w, (uint8_t)((thl / 4) << 4));
	wr_u8(&w, flags);
	wr_be16(&w, s->h->window);
	wr_be16(&w, 0);
	wr_be16(&w, 0);
	if (mss_opt) {
		wr_u8(&w, 2);
		wr_u8(&w, 4);
		wr_be16(&w, s->h->mss);
	}
	wr_bytes(&w, data, n);
	if (w.overflow)
		return; /* callers keep n within the MSS: cannot happen */
	uint16_t c = tb_inet_csum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	/* pseudo header: addresses, protocol, TCP length */
	uint32_t sum = 0;
	for (int i = 0; i < 8; i += 2)
		sum += (uint32_t)(ip[12 + i] << 8 | ip[13 + i]);
	sum += 6 + (uint32_t)(thl + n);
	c = tb_inet_csum(tcp, thl + n, sum);
	tcp[16] = (uint8_t)(c >> 8);
	tcp[17] = (uint8_t)c;
	pcap_record(pc, ts, fr, w.n);
}

uint64_t synth_tcp_open(struct synth_pcap *pc, struct synth_conn *c,
			uint64_t ts, uint32_t rtt, uint32_t isn_c, uint32_t isn_s)
{
	struct synth_side *cl = &c->side[SYNTH_C2S], *sv = &c->side[SYNTH_S2C];
	cl->nxt = isn_c;
	sv->nxt = isn_s;
	cl->ack_pending = sv->ack_pending = false;
	cl->unacked_segs = sv->unacked_segs = 0;
	emit(pc, ts, cl, sv, cl->nxt++, 0, TCP_SYN, NULL, 0, true);
	ts += rtt / 2;
	emit(pc, ts, sv, cl, sv->nxt++, cl->nxt, TCP_SYN | TCP_ACK, NULL, 0, true);
	ts += rtt / 2;
	emit(pc, ts, cl, sv, cl->nxt, sv->nxt, TCP_ACK, NULL, 0, false);
	c->open = true;
	return ts;
}

uint64_t synth_tcp_syn_reset(struct synth_pcap *pc, struct synth_conn *c,
			     uint64_t ts, uint32_t rtt, uint32_t isn_c, uint32_t isn_s)
{
	struct synth_side *cl = &c->side[SYNTH_C2S], *sv = &c->side[SYNTH_S2C];
	cl->nxt = isn_c;
	sv->nxt = isn_s;
	emit(pc, ts, cl, sv, cl->nxt++, 0, TCP_SYN, NULL, 0, false);
	ts += rtt / 2;
	emit(pc, ts, sv, cl, sv->nxt++, cl->nxt, TCP_SYN | TCP_ACK, NULL, 0, true);
	ts += rtt / 2;
	emit(pc, ts, cl, sv, cl->nxt, 0, TCP_RST, NULL, 0, false);
	c->open = false;
	return ts;
}

void synth_tcp_fin_unanswered(struct synth_pcap *pc, struct synth_conn *c, int dir,
			      uint64_t ts)
{
	struct synth_side *s = &c->side[dir], *d = &c->side[!dir];
	emit(pc, ts, s, d, s->nxt++, d->nxt, TCP_FIN | TCP_ACK, NULL, 0, false);
	s->ack_pending = d->ack_pending = false;
	c->open = false;
}

uint64_t synth_tcp_send(struct synth_pcap *pc, struct synth_conn *c, int dir,
			uint64_t ts, const uint8_t *data, size_t n,
			uint32_t gap_us)
{
	struct synth_side *s = &c->side[dir], *d = &c->side[!dir];
	size_t mss = d->h->mss;
	size_t off = 0;
	while (off < n) {
		size_t k = n - off < mss ? n - off : mss;
		bool last = off + k == n;
		emit(pc, ts, s, d, s->nxt, d->nxt,
		     (uint8_t)(TCP_ACK | (last ? TCP_PSH : 0)), data + off, k,
		     false);
		s->nxt += (uint32_t)k;
		s->ack_pending = false;
		s->unacked_segs = 0;
		off += k;
		/* Receiver: quick ACK for every second full-sized segment. */
		if (k == mss && ++d->unacked_segs >= 2) {
			emit(pc, ts + gap_us / 2, d, s, d->nxt, s->nxt, TCP_ACK,
			     NULL, 0, false);
			d->unacked_segs = 0;
			d->ack_pending = false;
		} else if (!d->ack_pending) {
			/* The timer runs from the first unacknowledged segment. */
			d->ack_pending = true;
			d->ack_due = ts + d->h->ack_delay_us;
		}
		if (!last)
			ts += gap_us;
	}
	return ts;
}

void synth_tcp_flush_ack(struct synth_pcap *pc, struct synth_conn *c, int dir)
{
	struct synth_side *s = &c->side[dir], *d = &c->side[!dir];
	if (!s->ack_pending)
		return;
	emit(pc, s->ack_due, s, d, s->nxt, d->nxt, TCP_ACK, NULL, 0, false);
	s->ack_pending = false;
	s->unacked_segs = 0;
}

uint64_t synth_tcp_close(struct synth_pcap *pc, struct synth_conn *c, int dir,
			 uint64_t ts, uint32_t rtt)
{
	struct synth_side *s = &c->side[dir], *d = &c->side[!dir];
	emit(pc, ts, s, d, s->nxt++, d->nxt, TCP_FIN | TCP_ACK, NULL, 0, false);
	s->ack_pending = false;
	ts += rtt / 2 + 100;
	emit(pc, ts, d, s, d->nxt++, s->nxt, TCP_FIN | TCP_ACK, NULL, 0, false);
	d->ack_pending = false;
	ts += rtt / 2;
	emit(pc, ts, s, d, s->nxt, d->nxt, TCP_ACK, NULL, 0, false);
	c->open = false;
	return ts;
}
