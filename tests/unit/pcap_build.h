/* pcap_build.h - test-side writer for pcap files and Ethernet/SLL/null/IPv4/IPv6/TCP frames. */
#ifndef MQTTIDS_TEST_PCAP_BUILD_H
#define MQTTIDS_TEST_PCAP_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_build.h"

/* Link-layer header types as stored in pcap files (tcpdump.org/linktypes). */
enum {
	LINKTYPE_NULL = 0,
	LINKTYPE_ETHERNET = 1,
	LINKTYPE_RAW = 101,
	LINKTYPE_LOOP = 108,
	LINKTYPE_LINUX_SLL = 113,
	LINKTYPE_USER0 = 147,
	LINKTYPE_LINUX_SLL2 = 276,
};

/*
 * A classic pcap file (microsecond timestamps, little-endian) built in
 * memory: pcapw_init writes the global header, pcapw_add one record.
 */
void pcapw_init(struct mb *file, uint32_t linktype);
void pcapw_add(struct mb *file, uint64_t ts_us, const uint8_t *frame,
	       size_t n);
/* Writes the bytes to path; returns 0 or -1. */
int pcapw_save(const struct mb *file, const char *path);

/* An IP endpoint: family 4 or 6, address in network order, port. */
struct ep {
	uint8_t family;
	uint8_t addr[16];
	uint16_t port;
};

/* A 20-byte TCP header (no options, checksum 0) followed by the payload. */
void frame_tcp(struct mb *out, const struct ep *src, const struct ep *dst,
	       uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *payload,
	       size_t n);
/*
 * An IPv4 header with correct lengths (header checksum 0). frag is the
 * flags/fragment-offset field (offset in 8-byte units, 0x2000 = MF).
 */
void frame_ipv4(struct mb *out, const uint8_t *src, const uint8_t *dst,
		uint16_t id, uint16_t frag, uint8_t proto, const uint8_t *l4,
		size_t n);
/*
 * An IPv6 header with payload length n; frame_ipv6_frag adds a fragment
 * header (RFC 8200 §4.5; offset in bytes, a multiple of 8).
 */
void frame_ipv6(struct mb *out, const uint8_t *src, const uint8_t *dst,
		uint8_t next, const uint8_t *l4, size_t n);
void frame_ipv6_frag(struct mb *out, const uint8_t *src, const uint8_t *dst,
		     uint32_t id, uint32_t offset, bool more, uint8_t next,
		     const uint8_t *data, size_t n);

/* Ethernet with up to two VLAN tags: tpids[i]/vids[i], outermost first. */
void frame_eth(struct mb *out, uint16_t ethertype, const uint16_t *tpids,
	       const uint16_t *vids, size_t ntags, const uint8_t *l3, size_t n);
void frame_sll(struct mb *out, uint16_t ethertype, const uint8_t *l3, size_t n);
void frame_sll2(struct mb *out, uint16_t ethertype, const uint8_t *l3, size_t n);
/* BSD null (host byte order, here little-endian) or OpenBSD loop (big). */
void frame_null(struct mb *out, uint32_t af, bool big_endian,
		const uint8_t *l3, size_t n);

#endif
