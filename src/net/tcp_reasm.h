/* tcp_reasm.h - per-direction TCP stream reassembly. */
#ifndef MQTTIDS_TCP_REASM_H
#define MQTTIDS_TCP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/flow_table.h"

struct reasm_cfg {
	bool midstream;            /* pick up streams whose SYN was not seen */
	uint32_t max_ooo_bytes;    /* per direction */
	uint32_t max_ooo_segs;     /* per direction */
	size_t memcap;             /* all out-of-order data */
	uint32_t gap_ack_timeout_ms; /* how long an acked hole may stay open */
};

struct reasm_stats {
	uint64_t segments;
	uint64_t in_order;
	uint64_t retransmissions;
	uint64_t overlaps;
	uint64_t ooo_queued;
	uint64_t gaps;
	uint64_t gap_bytes;
	uint64_t memcap_drops;
	uint64_t midstream;
	uint64_t midstream_ignored;
};

struct reasm_ctx {
	struct reasm_cfg cfg;
	size_t mem_used;
	size_t mem_peak;
	struct reasm_stats st;
};

/* Receives in-order data and gaps; dir 0 is client -> server. */
struct reasm_out {
	void (*data)(void *ud, struct flow *f, int dir, const uint8_t *p,
		     size_t n);
	void (*gap)(void *ud, struct flow *f, int dir, uint64_t len);
	void *ud;
};

void tcp_reasm_init(struct reasm_ctx *rc, const struct reasm_cfg *cfg);

/*
 * Processes one segment of flow f in direction dir: SYN/FIN/RST state,
 * acknowledgements (an acknowledged hole becomes a gap after
 * gap_ack_timeout_ms of event time) and payload, which is delivered in
 * sequence order. Policy: the first copy of any byte wins; later
 * retransmissions and overlaps never change delivered or queued data.
 */
void tcp_reasm_packet(struct reasm_ctx *rc, struct flow *f, int dir,
		      const struct pkt *pkt, const struct reasm_out *out);

/* Delivers what is queued in both directions, with gaps for holes. */
void tcp_reasm_flush(struct reasm_ctx *rc, struct flow *f,
		     const struct reasm_out *out);

/* Frees queued segments without delivering them. */
void tcp_reasm_release(struct reasm_ctx *rc, struct flow *f);

#endif
