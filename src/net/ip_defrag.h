/* ip_defrag.h - IPv4 and IPv6 fragment reassembly with bounded memory. */
#ifndef MQTTIDS_IP_DEFRAG_H
#define MQTTIDS_IP_DEFRAG_H

#include <stdint.h>

struct ip_defrag_cfg {
	uint32_t max_trackers; /* datagrams under reassembly at once */
	uint32_t timeout_s;    /* event time a datagram may take */
};

struct ip_defrag;

struct ip_defrag *ip_defrag_new(const struct ip_defrag_cfg *cfg);
void ip_defrag_free(struct ip_defrag *d);

/*
 * Adds one fragment: family 4 or 6, addresses, identification, upper
 * protocol, byte offset, whether more fragments follow, and the fragment's
 * data. Returns 1 and sets *out and *out_len to the reassembled upper-layer
 * payload (valid until the next call) when the datagram is complete, 0 when
 * more fragments are needed, -1 when the fragment was invalid or dropped.
 * Overlapping data: the first copy received wins (documented policy).
 */
int ip_defrag_add(struct ip_defrag *d, uint64_t now_us, uint8_t family,
		  const uint8_t *src, const uint8_t *dst, uint32_t id,
		  uint8_t proto, uint32_t offset, int more,
		  const uint8_t *data, uint32_t len, const uint8_t **out,
		  uint32_t *out_len);

struct ip_defrag_stats {
	uint64_t fragments;
	uint64_t reassembled;
	uint64_t timeouts;
	uint64_t evicted;
	uint64_t invalid;
};

const struct ip_defrag_stats *ip_defrag_stats(const struct ip_defrag *d);

#endif
