/* capture.c - libpcap file and live sources feeding the engine. */
#define _DEFAULT_SOURCE
#include "capture/capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "net/pkt_decode.h"
#include "util/file.h"

static uint64_t ts_us_of(const struct pcap_pkthdr *h)
{
	return (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
}

int capture_file(const char *path, struct engine *e, char *err, size_t errsz)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p = pcap_open_offline_with_tstamp_precision(
		path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!p) {
		snprintf(err, errsz, "%s: cannot read capture: %s", path, ebuf);
		return -1;
	}
	int rc = 0;
	int dlt = pcap_datalink(p);
	if (!pkt_dlt_supported(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);
		snprintf(err, errsz,
			 "%s: unknown link type %d (%s); supported: Ethernet, "
			 "Linux cooked v1/v2, raw IP, BSD loopback/null",
			 path, dlt, name ? name : "unnamed");
		rc = -1;
		goto out;
	}
	uint64_t n = 0;
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int r = pcap_next_ex(p, &h, &data);
		if (r == 1) {
			n++;
			uint32_t cap = h->caplen;
			engine_packet(e, dlt, ts_us_of(h), data, cap);
			continue;
		}
		if (r == PCAP_ERROR_BREAK)
			break;
		snprintf(err, errsz, "%s: capture damaged after packet %llu: %s",
			 path, (unsigned long long)n, pcap_geterr(p));
		rc = -1;
		break;
	}
out:
	pcap_close(p);
	return rc;
}

static volatile sig_atomic_t live_stop;

struct live_loop {
	struct engine *e;
	pcap_dumper_t *dump;
	int dlt;
	uint64_t n;
};

static void live_packet(u_char *ud, const struct pcap_pkthdr *h,
			const u_char *data)
{
	struct live_loop *lp = (struct live_loop *)ud;
	lp->n++;
	if (lp->dump)
		pcap_dump((u_char *)lp->dump, h, data);
	engine_packet(lp->e, lp->dlt, ts_us_of(h), data, h->caplen);
}

static void on_signal(int sig)
{
	(void)sig;
	live_stop = 1;
}

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int capture_live(const struct live_opts *o, struct engine *e, char *err,
		 size_t errsz)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	pcap_dumper_t *dump = NULL;
	struct bpf_program prog;
	bool have_prog = false;
	int rc = -1;
	pcap_t *p = pcap_create(o->iface, ebuf);
	if (!p) {
		snprintf(err, errsz, "%s: %s", o->iface, ebuf);
		return -1;
	}
	/*
	 * In immediate mode every packet takes a whole ring frame sized from
	 * the snap length, so the default is the largest IP packet plus link
	 * headers, not 256 KiB: the 64 MiB ring then holds about a thousand
	 * packets instead of 64, and a burst (a flood, a SYN scan) no longer
	 * overflows it while detection runs.
	 */
	pcap_set_snaplen(p, o->snaplen > 0 ? o->snaplen : 65535 + 64);
	pcap_set_promisc(p, 1);
	pcap_set_timeout(p, 100);
	pcap_set_immediate_mode(p, 1);
	pcap_set_buffer_size(p, 64 * 1024 * 1024);
	int a = pcap_activate(p);
	if (a < 0) {
		snprintf(err, errsz, "%s: cannot capture: %s", o->iface,
			 pcap_geterr(p));
		goto out;
	}
	int dlt = pcap_datalink(p);
	if (!pkt_dlt_supported(dlt)) {
		snprintf(err, errsz, "%s: unsupported link type %d", o->iface, dlt);
		goto out;
	}
	const char *filter = o->filter ? o->filter : "tcp";
	if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errsz, "filter '%s': %s", filter, pcap_geterr(p));
		goto out;
	}
	have_prog = true;
	if (pcap_setfilter(p, &prog) != 0) {
		snprintf(err, errsz, "filter '%s': %s", filter, pcap_geterr(p));
		goto out;
	}
	if (o->write_pcap) {
		/* Created with the outputs' mode: it holds CONNECT passwords. */
		FILE *fp = file_fopen_output(o->write_pcap, 0, o->write_mode
						     ? o->write_mode : FILE_OUTPUT_MODE);
		if (!fp) {
			snprintf(err, errsz, "%s: %s", o->write_pcap, strerror(errno));
			goto out;
		}
		dump = pcap_dump_fopen(p, fp);
		if (!dump) {
			snprintf(err, errsz, "%s: %s", o->write_pcap, pcap_geterr(p));
			fclose(fp);
			goto out;
		}
	}
	if (o->opened && o->opened(o->ud, err, errsz) != 0)
		goto out;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	live_stop = 0;
	/*
	 * Non-blocking reads and poll() with a 100 ms timeout: immediate mode
	 * makes libpcap ignore its own timeout, and the loop must still tick
	 * the engine clock and see SIGINT while the interface is idle.
	 */
	if (pcap_setnonblock(p, 1, ebuf) != 0) {
		snprintf(err, errsz, "%s: %s", o->iface, ebuf);
		goto out;
	}
	int fd = pcap_get_selectable_fd(p);
	fprintf(stderr, "mqttids: capturing on %s\n", o->iface);
	fflush(stderr);
	struct live_loop lp = { e, dump, dlt, 0 };
	uint64_t start = wall_us(), last_tick = 0;
	while (!live_stop) {
		int want = o->count ? (int)(o->count - lp.n < 1000 ? o->count - lp.n : 1000) : 1000;
		int r = pcap_dispatch(p, want, live_packet, (u_char *)&lp);
		if (r < 0) {
			snprintf(err, errsz, "%s: %s", o->iface, pcap_geterr(p));
			goto out;
		}
		if (o->count && lp.n >= o->count)
			break;
		if (r == 0) {
			if (o->flush)
				o->flush(o->ud);
			if (dump)
				pcap_dump_flush(dump);
			struct pollfd pfd = { fd, POLLIN, 0 };
			if (fd >= 0)
				poll(&pfd, 1, 100);
		}
		uint64_t now = wall_us();
		if (now - last_tick >= 1000000u) {
			/*
			 * Live mode adds a clock tick to event time (GUIDE §1),
			 * but only when the capture is drained: while packets
			 * wait in the buffer, wall time is ahead of theirs, and
			 * a tick would end timeouts and cooldowns before the
			 * packets that still fall inside them (read would count
			 * those; live must agree). Packets move time on then.
			 */
			if (r == 0)
				engine_tick(e, now);
			if (o->tick)
				o->tick(o->ud, now);
			last_tick = now;
		}
		if (o->duration_s && now - start >= (uint64_t)o->duration_s * 1000000u)
			break;
	}
	struct pcap_stat ps;
	if (pcap_stats(p, &ps) == 0)
		fprintf(stderr, "mqttids: capture on %s: %u packets received, "
			"%u dropped by the kernel, %u by the interface\n",
			o->iface, ps.ps_recv, ps.ps_drop, ps.ps_ifdrop);
	rc = 0;
out:
	if (dump)
		pcap_dump_close(dump);
	if (have_prog)
		pcap_freecode(&prog);
	pcap_close(p);
	return rc;
}
