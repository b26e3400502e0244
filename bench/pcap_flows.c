/* pcap_flows.c - count packets and distinct TCP flows in a capture (bench helper).
 *
 * Usage: pcap_flows FILE [PORT]
 *
 * A flow is an unordered {addr:port, addr:port} pair of a TCP segment over IPv4 or
 * IPv6 (Ethernet, Linux cooked v1/v2, raw IP or BSD loopback link types). With PORT,
 * only segments to or from PORT count. Prints one line:
 *
 *   packets=N tcp_packets=T flows=F connections=C
 *
 * flows counts distinct address/port pairs. connections counts TCP connections: a
 * client SYN (SYN without ACK) with a new initial sequence number for its pair (a
 * retransmitted SYN is not a new connection). On loopback Linux reuses client ports
 * quickly (net.ipv4.tcp_tw_reuse=2 allows it for loopback), so a busy capture holds
 * more connections than pairs. The
 * capture's own bytes are read with explicit bounds checks; this is a measuring tool,
 * not part of mqttids. Exit status 1 when the file cannot be read or the flow set
 * outgrows its table (2^22 flows).
 */
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TBL_BITS 22
#define TBL_SIZE (1u << TBL_BITS)

struct key {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t used, syn;
	uint32_t isn;
};

static struct key *tbl;
static uint64_t nflows, nconns;

static uint64_t hash_key(const struct key *k)
{
	uint64_t h = 1469598103934665603ull;
	const uint8_t *p = (const uint8_t *)k;
	for (size_t i = 0; i < offsetof(struct key, used); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static int flow_add(const uint8_t *sa, const uint8_t *da, size_t alen, uint16_t sp, uint16_t dp,
		    int client_syn, uint32_t seq)
{
	struct key k;
	memset(&k, 0, sizeof(k));
	int swap = memcmp(sa, da, alen) > 0 || (memcmp(sa, da, alen) == 0 && sp > dp);
	memcpy(k.a, swap ? da : sa, alen);
	memcpy(k.b, swap ? sa : da, alen);
	k.pa = swap ? dp : sp;
	k.pb = swap ? sp : dp;
	uint64_t i = hash_key(&k) & (TBL_SIZE - 1);
	for (uint64_t n = 0; n < TBL_SIZE; n++, i = (i + 1) & (TBL_SIZE - 1)) {
		struct key *e = &tbl[i];
		if (!e->used) {
			if (nflows + 1 >= TBL_SIZE / 2)
				return -1;
			k.used = 1;
			*e = k;
			nflows++;
			e->syn = 0;
		}
		if (memcmp(e, &k, offsetof(struct key, used)) == 0) {
			if (client_syn && (!e->syn || e->isn != seq)) {
				e->syn = 1;
				e->isn = seq;
				nconns++;
			}
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t packets = 0, tcp = 0;
	int rc, port = argc > 2 ? atoi(argv[2]) : -1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: pcap_flows FILE [PORT]\n");
		return 1;
	}
	tbl = calloc(TBL_SIZE, sizeof(*tbl));
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!tbl || !p) {
		fprintf(stderr, "pcap_flows: %s\n", tbl ? err : "out of memory");
		return 1;
	}
	int dlt = pcap_datalink(p);
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		size_t n = h->caplen, off, ethertype = 0;
		packets++;
		switch (dlt) {
		case DLT_EN10MB:
			if (n < 14)
				continue;
			ethertype = (size_t)d[12] << 8 | d[13];
			off = 14;
			while ((ethertype == 0x8100 || ethertype == 0x88a8) && n >= off + 4) {
				ethertype = (size_t)d[off + 2] << 8 | d[off + 3];
				off += 4;
			}
			break;
		case DLT_LINUX_SLL:
			if (n < 16)
				continue;
			ethertype = (size_t)d[14] << 8 | d[15];
			off = 16;
			break;
		case DLT_LINUX_SLL2:
			if (n < 20)
				continue;
			ethertype = (size_t)d[0] << 8 | d[1];
			off = 20;
			break;
		case DLT_RAW:
		case DLT_IPV4:
		case DLT_IPV6:
			off = 0;
			if (n < 1)
				continue;
			ethertype = (d[0] >> 4) == 6 ? 0x86dd : 0x0800;
			break;
		case DLT_NULL:
			if (n < 4)
				continue;
			off = 4;
			ethertype = n > 4 && (d[4] >> 4) == 6 ? 0x86dd : 0x0800;
			break;
		default:
			fprintf(stderr, "pcap_flows: unsupported link type %d\n", dlt);
			return 1;
		}
		const uint8_t *sa, *da;
		size_t alen, l4;
		if (ethertype == 0x0800) {
			if (n < off + 20 || d[off + 9] != 6)
				continue;
			size_t ihl = (size_t)(d[off] & 15) * 4;
			if (((size_t)d[off + 6] << 8 | d[off + 7]) & 0x1fff)
				continue; /* a non-first fragment has no TCP header */
			sa = d + off + 12, da = d + off + 16, alen = 4, l4 = off + ihl;
		} else if (ethertype == 0x86dd) {
			if (n < off + 40 || d[off + 6] != 6)
				continue; /* extension headers are not followed: a bench helper */
			sa = d + off + 8, da = d + off + 24, alen = 16, l4 = off + 40;
		} else {
			continue;
		}
		if (n < l4 + 14)
			continue;
		uint16_t sp = (uint16_t)(d[l4] << 8 | d[l4 + 1]), dp = (uint16_t)(d[l4 + 2] << 8 | d[l4 + 3]);
		if (port >= 0 && sp != port && dp != port)
			continue;
		tcp++;
		int client_syn = (d[l4 + 13] & 0x12) == 0x02;
		uint32_t seq = (uint32_t)d[l4 + 4] << 24 | (uint32_t)d[l4 + 5] << 16 | (uint32_t)d[l4 + 6] << 8 | d[l4 + 7];
		if (flow_add(sa, da, alen, sp, dp, client_syn, seq) < 0) {
			fprintf(stderr, "pcap_flows: flow table full\n");
			return 1;
		}
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "pcap_flows: %s: %s\n", argv[1], pcap_geterr(p));
	pcap_close(p);
	printf("packets=%llu tcp_packets=%llu flows=%llu connections=%llu\n", (unsigned long long)packets,
	       (unsigned long long)tcp, (unsigned long long)nflows, (unsigned long long)nconns);
	free(tbl);
	return rc == PCAP_ERROR ? 1 : 0;
}
