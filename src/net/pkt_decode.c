/*
 * pkt_decode.c - frame decoding down to TCP: Ethernet (IEEE 802.3) with
 * 802.1Q/802.1ad tags, Linux cooked v1/v2, raw IP, BSD null/loopback;
 * IPv4 (RFC 791) with fragments, IPv6 (RFC 8200) with extension headers;
 * TCP (RFC 9293 §3.1). All reads go through struct rd.
 */
#include "net/pkt_decode.h"

#include <pcap/dlt.h>
#include <string.h>

#include "net/ip_defrag.h"
#include "util/rd.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

bool pkt_dlt_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
#if defined(DLT_RAW) && DLT_RAW != 12
	case 12:
#endif
	case 14: /* DLT_RAW on OpenBSD */
	case 101: /* LINKTYPE_RAW as stored in files */
		return true;
	default:
		return false;
	}
}

static enum pkt_result decode_tcp(struct rd r, uint32_t wire_len,
				  struct pkt *pkt, const char **event)
{
	uint16_t sport, dport, win, sum, urg;
	uint32_t seq, ack;
	uint8_t off, flags;
	const uint8_t *start = r.p;
	if (!rd_be16(&r, &sport) || !rd_be16(&r, &dport) || !rd_be32(&r, &seq) ||
	    !rd_be32(&r, &ack) || !rd_u8(&r, &off) || !rd_u8(&r, &flags) ||
	    !rd_be16(&r, &win) || !rd_be16(&r, &sum) || !rd_be16(&r, &urg)) {
		*event = "tcp.pkt_too_small";
		return PKT_INVALID;
	}
	uint32_t hlen = (uint32_t)(off >> 4) * 4;
	if (hlen < 20 || hlen > wire_len) {
		*event = "tcp.hlen_invalid";
		return PKT_INVALID;
	}
	r.p = start;
	if (!rd_skip(&r, hlen)) {
		*event = "tcp.hlen_too_small";
		return PKT_INVALID;
	}
	pkt->sport = sport;
	pkt->dport = dport;
	pkt->seq = seq;
	pkt->ack = ack;
	pkt->tcp_flags = flags;
	pkt->payload = r.p;
	pkt->payload_wire_len = wire_len - hlen;
	size_t have = rd_left(&r);
	pkt->payload_len = (uint32_t)(have < pkt->payload_wire_len ? have : pkt->payload_wire_len);
	return PKT_TCP;
}

static enum pkt_result decode_l4(uint8_t proto, struct rd r, uint32_t wire_len,
				 struct pkt *pkt, const char **event)
{
	if (proto != 6)
		return PKT_OTHER;
	return decode_tcp(r, wire_len, pkt, event);
}

static enum pkt_result decode_ipv4(struct rd r, struct ip_defrag *df,
				   struct pkt *pkt, const char **event)
{
	const uint8_t *start = r.p;
	uint8_t vihl, tos, ttl, proto;
	uint16_t tot, id, frag, sum;
	if (!rd_u8(&r, &vihl) || !rd_u8(&r, &tos) || !rd_be16(&r, &tot) ||
	    !rd_be16(&r, &id) || !rd_be16(&r, &frag) || !rd_u8(&r, &ttl) ||
	    !rd_u8(&r, &proto) || !rd_be16(&r, &sum) ||
	    !rd_copy(&r, pkt->src, 4) || !rd_copy(&r, pkt->dst, 4)) {
		*event = "ipv4.pkt_too_small";
		return PKT_INVALID;
	}
	(void)tos; (void)ttl; (void)sum;
	uint32_t hlen = (uint32_t)(vihl & 15) * 4;
	if ((vihl >> 4) != 4) {
		*event = "ipv4.wrong_ip_version";
		return PKT_INVALID;
	}
	if (hlen < 20 || tot < hlen) {
		*event = "ipv4.hlen_too_small";
		return PKT_INVALID;
	}
	r.p = start;
	if (!rd_skip(&r, hlen)) {
		*event = "ipv4.trunc_pkt";
		return PKT_INVALID;
	}
	pkt->family = 4;
	uint32_t plen = tot - hlen;
	/* Ethernet padding beyond tot is ignored; a short capture is not. */
	if (rd_left(&r) > plen)
		r.end = r.p + plen;
	uint32_t off = (uint32_t)(frag & 0x1fff) * 8;
	bool more = frag & 0x2000;
	if (off || more) {
		if (!df)
			return PKT_OTHER;
		if (rd_left(&r) < plen) {
			*event = "ipv4.frag_trunc";
			return PKT_INVALID;
		}
		const uint8_t *out;
		uint32_t out_len;
		int res = ip_defrag_add(df, pkt->ts_us, 4, pkt->src, pkt->dst, id,
					proto, off, more, r.p, plen, &out, &out_len);
		if (res < 0) {
			*event = "ipv4.frag_invalid";
			return PKT_INVALID;
		}
		if (res == 0)
			return PKT_HELD;
		pkt->reassembled = true;
		return decode_l4(proto, rd_make(out, out_len), out_len, pkt, event);
	}
	return decode_l4(proto, r, plen, pkt, event);
}

static enum pkt_result decode_ipv6(struct rd r, struct ip_defrag *df,
				   struct pkt *pkt, const char **event)
{
	uint32_t vtf;
	uint16_t plen;
	uint8_t nh, hop;
	if (!rd_be32(&r, &vtf) || !rd_be16(&r, &plen) || !rd_u8(&r, &nh) ||
	    !rd_u8(&r, &hop) || !rd_copy(&r, pkt->src, 16) ||
	    !rd_copy(&r, pkt->dst, 16)) {
		*event = "ipv6.pkt_too_small";
		return PKT_INVALID;
	}
	if ((vtf >> 28) != 6) {
		*event = "ipv6.wrong_ip_version";
		return PKT_INVALID;
	}
	pkt->family = 6;
	if (rd_left(&r) > plen)
		r.end = r.p + plen;
	uint32_t left = plen;
	/* Walk extension headers (RFC 8200 §4), at most a handful. */
	for (int i = 0; i < 16; i++) {
		uint8_t next, elen;
		switch (nh) {
		case 0:   /* hop-by-hop */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
		case 51:  /* AH: its length counts 4-byte units, the others 8 */
		{
			size_t unit = nh == 51 ? 4 : 8;
			if (!rd_u8(&r, &next) || !rd_u8(&r, &elen) ||
			    !rd_skip(&r, (size_t)elen * unit + 6)) {
				*event = "ipv6.exthdr_trunc";
				return PKT_INVALID;
			}
			uint32_t used = (uint32_t)(elen * unit + 8);
			if (used > left) {
				*event = "ipv6.exthdr_invalid_len";
				return PKT_INVALID;
			}
			left -= used;
			nh = next;
			continue;
		}
		case 44: /* fragment */
		{
			uint8_t res;
			uint16_t offm;
			uint32_t id;
			if (!rd_u8(&r, &next) || !rd_u8(&r, &res) ||
			    !rd_be16(&r, &offm) || !rd_be32(&r, &id) || left < 8) {
				*event = "ipv6.frag_hdr_trunc";
				return PKT_INVALID;
			}
			left -= 8;
			uint32_t off = offm & 0xfff8;
			bool more = offm & 1;
			if (!off && !more) { /* atomic fragment */
				nh = next;
				continue;
			}
			if (!df)
				return PKT_OTHER;
			if (rd_left(&r) < left) {
				*event = "ipv6.frag_trunc";
				return PKT_INVALID;
			}
			const uint8_t *out;
			uint32_t out_len;
			int rr = ip_defrag_add(df, pkt->ts_us, 6, pkt->src, pkt->dst,
					       id, next, off, more, r.p, left,
					       &out, &out_len);
			if (rr < 0) {
				*event = "ipv6.frag_invalid";
				return PKT_INVALID;
			}
			if (rr == 0)
				return PKT_HELD;
			pkt->reassembled = true;
			return decode_l4(next, rd_make(out, out_len), out_len, pkt, event);
		}
		default:
			return decode_l4(nh, r, left, pkt, event);
		}
	}
	*event = "ipv6.exthdr_too_many";
	return PKT_INVALID;
}

static enum pkt_result decode_ethertype(uint16_t et, struct rd r,
					struct ip_defrag *df, struct pkt *pkt,
					const char **event)
{
	while (et == ETH_VLAN || et == ETH_QINQ || et == ETH_QINQ_OLD) {
		uint16_t tci;
		if (!rd_be16(&r, &tci) || !rd_be16(&r, &et)) {
			*event = "vlan.header_too_small";
			return PKT_INVALID;
		}
		if (pkt->vlan_n >= 3) {
			*event = "vlan.too_many_layers";
			return PKT_INVALID;
		}
		pkt->vlan[pkt->vlan_n++] = tci & 0x0fff;
	}
	if (et == ETH_IPV4)
		return decode_ipv4(r, df, pkt, event);
	if (et == ETH_IPV6)
		return decode_ipv6(r, df, pkt, event);
	return PKT_OTHER;
}

static enum pkt_result decode_rawip(struct rd r, struct ip_defrag *df,
				    struct pkt *pkt, const char **event)
{
	if (rd_left(&r) < 1) {
		*event = "ipraw.pkt_too_small";
		return PKT_INVALID;
	}
	uint8_t v = r.p[0] >> 4;
	if (v == 4)
		return decode_ipv4(r, df, pkt, event);
	if (v == 6)
		return decode_ipv6(r, df, pkt, event);
	*event = "ipraw.invalid_ip_version";
	return PKT_INVALID;
}

/* BSD address families for IPv6 differ by OS (RFC-less, see pcap-linktype). */
static enum pkt_result decode_af(uint32_t af, struct rd r, struct ip_defrag *df,
				 struct pkt *pkt, const char **event)
{
	if (af == 2)
		return decode_ipv4(r, df, pkt, event);
	if (af == 10 || af == 24 || af == 28 || af == 30)
		return decode_ipv6(r, df, pkt, event);
	return PKT_OTHER;
}

enum pkt_result pkt_decode(int dlt, const uint8_t *frame, uint32_t caplen,
			   struct ip_defrag *df, struct pkt *pkt,
			   const char **event)
{
	struct rd r = rd_make(frame, caplen);
	uint16_t et, u16;
	uint32_t u32;
	*event = NULL;
	pkt->vlan_n = 0;
	pkt->has_mac = false;
	pkt->reassembled = false;
	switch (dlt) {
	case DLT_EN10MB:
		if (!rd_copy(&r, pkt->dmac, 6) || !rd_copy(&r, pkt->smac, 6) ||
		    !rd_be16(&r, &et)) {
			*event = "ethernet.pkt_too_small";
			return PKT_INVALID;
		}
		pkt->has_mac = true;
		return decode_ethertype(et, r, df, pkt, event);
	case DLT_LINUX_SLL:
		/* packet type, ARPHRD, address length, 8-byte address, protocol */
		if (!rd_skip(&r, 14) || !rd_be16(&r, &et)) {
			*event = "sll.pkt_too_small";
			return PKT_INVALID;
		}
		return decode_ethertype(et, r, df, pkt, event);
	case DLT_LINUX_SLL2:
		/* protocol, reserved, ifindex, ARPHRD, type, addr len, address */
		if (!rd_be16(&r, &et) || !rd_skip(&r, 18)) {
			*event = "sll2.pkt_too_small";
			return PKT_INVALID;
		}
		return decode_ethertype(et, r, df, pkt, event);
	case DLT_NULL:
		if (!rd_le32(&r, &u32)) {
			*event = "null.pkt_too_small";
			return PKT_INVALID;
		}
		/* Host byte order of the writer: accept either. */
		if (u32 > 0xffff)
			u32 = ((u32 >> 24) & 0xff) | ((u32 >> 8) & 0xff00);
		return decode_af(u32, r, df, pkt, event);
	case DLT_LOOP:
		if (!rd_be32(&r, &u32)) {
			*event = "null.pkt_too_small";
			return PKT_INVALID;
		}
		return decode_af(u32, r, df, pkt, event);
	case DLT_IPV4:
		return decode_ipv4(r, df, pkt, event);
	case DLT_IPV6:
		return decode_ipv6(r, df, pkt, event);
	default:
		if (pkt_dlt_supported(dlt))
			return decode_rawip(r, df, pkt, event);
		(void)u16;
		*event = "link.unsupported";
		return PKT_INVALID;
	}
}
