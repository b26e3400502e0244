/*
 * pcap_lat.c - the capture latency floor for bench/latency.py: how long after its
 * kernel timestamp a packet reaches a libpcap reader that does nothing with it.
 *
 * usage: pcap_lat IFACE FILTER PORT
 *
 * Opens IFACE as `mqttids live` does (immediate mode, 16 MB buffer, non-blocking
 * reads after poll() with a 100 ms timeout), applies FILTER, and for every IPv4 TCP
 * packet with payload sent to PORT (on loopback: the publishes to the broker) prints
 * the microseconds from its capture timestamp to CLOCK_REALTIME right after the
 * pcap_dispatch() that delivered it. Prints "capturing on IFACE" to stderr when
 * ready, like mqttids, and stops on SIGINT or SIGTERM; output is flushed at the end.
 * Needs root (or CAP_NET_RAW).
 */
#define _GNU_SOURCE
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct ctx {
	int link;
	uint16_t port;
	uint64_t now_us;
	uint64_t *lat;
	size_t n, cap;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The IPv4 TCP header of a packet: payload length and destination port, or -1. */
static int tcp_info(int link, const uint8_t *p, uint32_t len, uint16_t *dport)
{
	uint32_t off;
	if (link == DLT_EN10MB) {
		if (len < 14 || p[12] != 0x08 || p[13] != 0x00)
			return -1;
		off = 14;
	} else if (link == DLT_LINUX_SLL) {
		if (len < 16 || p[14] != 0x08 || p[15] != 0x00)
			return -1;
		off = 16;
	} else if (link == DLT_RAW) {
		off = 0;
	} else {
		return -1;
	}
	if (len - off < 20 || (p[off] >> 4) != 4 || p[off + 9] != 6)
		return -1;
	uint32_t ihl = (uint32_t)(p[off] & 15) * 4;
	uint32_t tot = (uint32_t)p[off + 2] << 8 | p[off + 3];
	if (ihl < 20 || len - off < ihl + 20 || tot < ihl + 20)
		return -1;
	const uint8_t *t = p + off + ihl;
	uint32_t thl = (uint32_t)(t[12] >> 4) * 4;
	*dport = (uint16_t)(t[2] << 8 | t[3]);
	return tot < ihl + thl ? 0 : (int)(tot - ihl - thl);
}

static void on_packet(u_char *u, const struct pcap_pkthdr *h, const u_char *p)
{
	struct ctx *c = (struct ctx *)u;
	uint16_t dport;
	if (tcp_info(c->link, p, h->caplen, &dport) <= 0 || dport != c->port)
		return;
	if (c->n == c->cap) {
		size_t nc = c->cap ? 2 * c->cap : 65536;
		uint64_t *nl = realloc(c->lat, nc * sizeof(*nl));
		if (!nl)
			return;
		c->lat = nl;
		c->cap = nc;
	}
	/* The stamp is taken per packet here, so a batch costs its later packets too. */
	uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
	uint64_t now = now_us();
	c->lat[c->n++] = now > ts ? now - ts : 0;
}

int main(int argc, char **argv)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct bpf_program prog;
	struct ctx c = { 0 };
	if (argc != 4) {
		fprintf(stderr, "usage: %s IFACE FILTER PORT\n", argv[0]);
		return 2;
	}
	c.port = (uint16_t)atoi(argv[3]);
	pcap_t *p = pcap_create(argv[1], ebuf);
	if (!p) {
		fprintf(stderr, "pcap_lat: %s\n", ebuf);
		return 1;
	}
	pcap_set_snaplen(p, 262144);
	pcap_set_timeout(p, 100);
	pcap_set_immediate_mode(p, 1);
	pcap_set_buffer_size(p, 16 * 1024 * 1024);
	if (pcap_activate(p) < 0 || pcap_compile(p, &prog, argv[2], 1, PCAP_NETMASK_UNKNOWN) < 0 ||
	    pcap_setfilter(p, &prog) < 0 || pcap_setnonblock(p, 1, ebuf) < 0) {
		fprintf(stderr, "pcap_lat: %s\n", pcap_geterr(p));
		return 1;
	}
	c.link = pcap_datalink(p);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "pcap_lat: capturing on %s\n", argv[1]);
	int fd = pcap_get_selectable_fd(p);
	while (!stop) {
		int n = pcap_dispatch(p, -1, on_packet, (u_char *)&c);
		if (n < 0)
			break;
		if (n == 0) {
			struct pollfd pfd = { fd, POLLIN, 0 };
			poll(&pfd, 1, 100);
		}
	}
	for (size_t i = 0; i < c.n; i++)
		printf("%llu\n", (unsigned long long)c.lat[i]);
	pcap_close(p);
	return fflush(stdout) == 0 ? 0 : 1;
}
