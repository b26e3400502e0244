/* pkt_decode.h - link, VLAN, IPv4/IPv6 and TCP header decoding. */
#ifndef MQTTIDS_PKT_DECODE_H
#define MQTTIDS_PKT_DECODE_H

#include <stdbool.h>
#include <stdint.h>

struct ip_defrag;

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* What one captured frame turned out to be; views point into the frame. */
struct pkt {
	uint64_t ts_us;
	uint64_t pcap_cnt;
	uint8_t family; /* 4 or 6 */
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t tcp_flags;
	uint32_t seq;
	uint32_t ack;
	const uint8_t *payload;
	uint32_t payload_len;      /* bytes captured */
	uint32_t payload_wire_len; /* bytes the IP header says were sent */
	uint16_t vlan[3];
	uint8_t vlan_n;
	bool has_mac;
	uint8_t smac[6];
	uint8_t dmac[6];
	bool reassembled; /* from IP fragments */
};

enum pkt_result {
	PKT_TCP = 0,      /* *pkt holds a TCP segment */
	PKT_OTHER = 1,    /* not TCP, or not IP: nothing to do */
	PKT_HELD = 2,     /* an IP fragment kept for reassembly */
	PKT_INVALID = -1, /* malformed; *event names why */
};

/*
 * Decodes frame[0..caplen) of the given DLT link type down to TCP. IP
 * fragments go to df (may be NULL: fragments are then PKT_OTHER) and a
 * completed datagram is decoded in the same call. On PKT_INVALID, *event is
 * a static decoder event name such as "ipv4.trunc_pkt".
 */
enum pkt_result pkt_decode(int dlt, const uint8_t *frame, uint32_t caplen,
			   struct ip_defrag *df, struct pkt *pkt,
			   const char **event);

/* Whether the link type is one pkt_decode understands. */
bool pkt_dlt_supported(int dlt);

#endif
