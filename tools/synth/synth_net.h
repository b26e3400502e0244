/* synth_net.h - pcap writer with Ethernet/IPv4/TCP framing for synthetic captures (handshake, segmentation, delayed ACKs, FIN). */
#ifndef MQTTIDS_SYNTH_NET_H
#define MQTTIDS_SYNTH_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A host on the simulated LAN: addresses only written into the file. */
struct synth_host {
	uint8_t mac[6];
	uint8_t ip[4];
	uint16_t ip_id;    /* next IPv4 identification */
	uint8_t ttl;
	uint16_t window;   /* advertised receive window (no scaling) */
	uint16_t mss;      /* announced in the SYN */
	uint32_t ack_delay_us; /* delayed-ACK timer of its TCP stack */
};

/* Classic pcap (microsecond, little-endian, LINKTYPE_ETHERNET) output. */
struct synth_pcap {
	FILE *f;
	uint64_t epoch_us; /* added to every simulated timestamp */
	uint64_t last_ts;  /* timestamps never go backwards */
	uint64_t packets;
	uint64_t bytes;
	bool err;
};

int synth_pcap_open(struct synth_pcap *pc, const char *path);
/* The same over an open stream (a tmpfile() for a part merged later). */
int synth_pcap_open_fp(struct synth_pcap *pc, FILE *f);
/*
 * Merges the records of parts[0..n) (each a synth_pcap stream, rewound
 * here) in timestamp order into out (already open, header written).
 * Returns 0, or -1 on a read or write error.
 */
int synth_pcap_merge(struct synth_pcap *out, FILE *const *parts, size_t n);
/* Flushes and closes; returns 0, or -1 when any write failed. */
int synth_pcap_close(struct synth_pcap *pc);

/* One direction of a TCP connection. */
struct synth_side {
	struct synth_host *h;
	uint16_t port;
	uint32_t nxt;      /* next sequence number to send */
	bool ack_pending;  /* received data not yet acknowledged */
	uint64_t ack_due;  /* when the delayed ACK fires */
	uint32_t unacked_segs;
};

/* dir: which side sends. */
enum { SYNTH_C2S = 0, SYNTH_S2C = 1 };

struct synth_conn {
	struct synth_side side[2]; /* [SYNTH_C2S] client, [SYNTH_S2C] server */
	bool open;
};

/*
 * Writes the three-way handshake starting at ts with round-trip time rtt
 * (both in µs); isn_c/isn_s are the initial sequence numbers. Returns the
 * time of the client's final ACK.
 */
uint64_t synth_tcp_open(struct synth_pcap *pc, struct synth_conn *c,
			uint64_t ts, uint32_t rtt, uint32_t isn_c, uint32_t isn_s);

/*
 * Sends data[0..n) from side dir at ts: segments of at most the peer's MSS,
 * each with PSH on the last, each acknowledging everything the sender has
 * received (which clears its pending delayed ACK). The receiver acknowledges
 * every second full segment at once and otherwise arms its delayed ACK.
 * gap_us spaces back-to-back segments. Returns the time of the last frame.
 */
uint64_t synth_tcp_send(struct synth_pcap *pc, struct synth_conn *c, int dir,
			uint64_t ts, const uint8_t *data, size_t n,
			uint32_t gap_us);

/*
 * A SYN from the client side at ts that the server answers with SYN+ACK,
 * and which the client's kernel resets (the sender used a raw socket, as
 * hping3 -S does). Returns the time of the RST.
 */
uint64_t synth_tcp_syn_reset(struct synth_pcap *pc, struct synth_conn *c,
			     uint64_t ts, uint32_t rtt, uint32_t isn_c, uint32_t isn_s);

/*
 * Side dir closes towards a peer that has vanished (a Wi-Fi drop): one
 * FIN+ACK and nothing back. Pending delayed ACKs of both sides are dropped.
 */
void synth_tcp_fin_unanswered(struct synth_pcap *pc, struct synth_conn *c, int dir,
			      uint64_t ts);

/* Writes side dir's pending delayed ACK at its due time, if any. */
void synth_tcp_flush_ack(struct synth_pcap *pc, struct synth_conn *c, int dir);

/*
 * Active close by side dir at ts: FIN (acknowledging what it has), the
 * peer's FIN+ACK after rtt/2 + 100 µs, the last ACK after another rtt/2.
 * Returns the time of the last frame.
 */
uint64_t synth_tcp_close(struct synth_pcap *pc, struct synth_conn *c, int dir,
			 uint64_t ts, uint32_t rtt);

#endif
