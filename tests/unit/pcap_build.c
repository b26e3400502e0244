/* pcap_build.c - test-side writer for pcap files and link/IP/TCP frames. */

/*
 * Formats: the classic pcap file (tcpdump.org), Ethernet with 802.1Q and
 * 802.1ad tags, Linux cooked v1/v2, BSD null and OpenBSD loop, IPv4
 * (RFC 791), IPv6 (RFC 8200) with fragment headers, TCP (RFC 9293 §3.1).
 */
#include "pcap_build.h"

#include <stdio.h>

void pcapw_init(struct mb *file, uint32_t linktype)
{
	mb_le32(file, 0xa1b2c3d4u); /* microsecond timestamps */
	mb_u8(file, 2);             /* version 2.4, little-endian */
	mb_u8(file, 0);
	mb_u8(file, 4);
	mb_u8(file, 0);
	mb_le32(file, 0);           /* thiszone */
	mb_le32(file, 0);           /* sigfigs */
	mb_le32(file, 262144);      /* snaplen */
	mb_le32(file, linktype);
}

void pcapw_add(struct mb *file, uint64_t ts_us, const uint8_t *frame, size_t n)
{
	mb_le32(file, (uint32_t)(ts_us / 1000000u));
	mb_le32(file, (uint32_t)(ts_us % 1000000u));
	mb_le32(file, (uint32_t)n);
	mb_le32(file, (uint32_t)n);
	mb_raw(file, frame, n);
}

int pcapw_save(const struct mb *file, const char *path)
{
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return -1;
	size_t w = fwrite(file->p, 1, file->len, fp);
	if (fclose(fp) != 0 || w != file->len)
		return -1;
	return 0;
}

void frame_tcp(struct mb *out, const struct ep *src, const struct ep *dst,
	       uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *payload,
	       size_t n)
{
	mb_be16(out, src->port);
	mb_be16(out, dst->port);
	mb_be32(out, seq);
	mb_be32(out, ack);
	mb_u8(out, 5 << 4); /* data offset: 20 bytes */
	mb_u8(out, flags);
	mb_be16(out, 65535); /* window */
	mb_be16(out, 0);     /* checksum (not verified) */
	mb_be16(out, 0);     /* urgent pointer */
	mb_raw(out, payload, n);
}

void frame_ipv4(struct mb *out, const uint8_t *src, const uint8_t *dst,
		uint16_t id, uint16_t frag, uint8_t proto, const uint8_t *l4,
		size_t n)
{
	mb_u8(out, 0x45);
	mb_u8(out, 0);
	mb_be16(out, (uint16_t)(20 + n));
	mb_be16(out, id);
	mb_be16(out, frag);
	mb_u8(out, 64);
	mb_u8(out, proto);
	mb_be16(out, 0);
	mb_raw(out, src, 4);
	mb_raw(out, dst, 4);
	mb_raw(out, l4, n);
}

void frame_ipv6(struct mb *out, const uint8_t *src, const uint8_t *dst,
		uint8_t next, const uint8_t *l4, size_t n)
{
	mb_be32(out, 0x60000000u);
	mb_be16(out, (uint16_t)n);
	mb_u8(out, next);
	mb_u8(out, 64);
	mb_raw(out, src, 16);
	mb_raw(out, dst, 16);
	mb_raw(out, l4, n);
}

void frame_ipv6_frag(struct mb *out, const uint8_t *src, const uint8_t *dst,
		     uint32_t id, uint32_t offset, bool more, uint8_t next,
		     const uint8_t *data, size_t n)
{
	mb_be32(out, 0x60000000u);
	mb_be16(out, (uint16_t)(8 + n));
	mb_u8(out, 44); /* fragment header */
	mb_u8(out, 64);
	mb_raw(out, src, 16);
	mb_raw(out, dst, 16);
	mb_u8(out, next);
	mb_u8(out, 0);
	mb_be16(out, (uint16_t)((offset & 0xfff8u) | (more ? 1 : 0)));
	mb_be32(out, id);
	mb_raw(out, data, n);
}

void frame_eth(struct mb *out, uint16_t ethertype, const uint16_t *tpids,
	       const uint16_t *vids, size_t ntags, const uint8_t *l3, size_t n)
{
	static const uint8_t dmac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const uint8_t smac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	mb_raw(out, dmac, 6);
	mb_raw(out, smac, 6);
	for (size_t i = 0; i < ntags; i++) {
		mb_be16(out, tpids[i]);
		mb_be16(out, vids[i]);
	}
	mb_be16(out, ethertype);
	mb_raw(out, l3, n);
}

void frame_sll(struct mb *out, uint16_t ethertype, const uint8_t *l3, size_t n)
{
	static const uint8_t addr[8] = { 0x02, 0, 0, 0, 0, 0x01, 0, 0 };
	mb_be16(out, 0);     /* packet type: to us */
	mb_be16(out, 1);     /* ARPHRD_ETHER */
	mb_be16(out, 6);     /* address length */
	mb_raw(out, addr, 8);
	mb_be16(out, ethertype);
	mb_raw(out, l3, n);
}

void frame_sll2(struct mb *out, uint16_t ethertype, const uint8_t *l3, size_t n)
{
	static const uint8_t addr[8] = { 0x02, 0, 0, 0, 0, 0x01, 0, 0 };
	mb_be16(out, ethertype);
	mb_be16(out, 0);     /* reserved */
	mb_be32(out, 1);     /* interface index */
	mb_be16(out, 1);     /* ARPHRD_ETHER */
	mb_u8(out, 0);       /* packet type */
	mb_u8(out, 6);       /* address length */
	mb_raw(out, addr, 8);
	mb_raw(out, l3, n);
}

void frame_null(struct mb *out, uint32_t af, bool big_endian,
		const uint8_t *l3, size_t n)
{
	if (big_endian)
		mb_be32(out, af);
	else
		mb_le32(out, af);
	mb_raw(out, l3, n);
}
