/*
 * testbed_net.c - mqttids-testbed's network: one namespace per host joined
 * by veth pairs to a Linux bridge in a switch namespace, built with
 * iproute2 batches (no shell), torn down with `ip netns del`.
 */
#define _GNU_SOURCE
#include "testbed.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* A growing text buffer for iproute2 batches. */
struct batch {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void bprintf(struct batch *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = b->cap ? vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap) : -2;
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

/* Appends what was run and what it said to OUTDIR/netns.log. */
static void netlog(const struct tbr *r, const char *ns, const char *batch, const char *out, int rc)
{
	char path[TBR_PATH];
	if (tbr_path(r, "netns.log", path, sizeof(path)) != 0)
		return;
	FILE *f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "# ip%s%s -batch - (exit %d)\n%s", ns ? " -n " : "", ns ? ns : "", rc, batch);
	if (out[0])
		fprintf(f, "# output:\n%s", out);
	fclose(f);
}

/*
 * Runs an iproute2 batch (in namespace ns with -n, NULL: the runner's),
 * with -force when errors should not stop it. Returns 0, or -1 after
 * printing what ip said.
 */
static int ip_batch(const struct tbr *r, const char *ns, struct batch *b, bool force, bool quiet)
{
	if (b->oom || !b->len) {
		free(b->p);
		memset(b, 0, sizeof(*b));
		return b->oom ? -1 : 0;
	}
	char *argv[8];
	int k = 0;
	argv[k++] = (char *)r->ip_cmd;
	if (ns) {
		argv[k++] = (char *)"-n";
		argv[k++] = (char *)ns;
	}
	if (force)
		argv[k++] = (char *)"-force";
	argv[k++] = (char *)"-batch";
	argv[k++] = (char *)"-";
	argv[k] = NULL;
	char out[4096];
	int rc = tbr_run(NULL, argv, b->p, out, sizeof(out));
	netlog(r, ns, b->p, out, rc);
	if (rc != 0 && !quiet) {
		tbr_err("ip%s%s -batch failed (exit %d)%s%s", ns ? " -n " : "", ns ? ns : "", rc,
			out[0] ? ":\n" : "", out);
	}
	free(b->p);
	memset(b, 0, sizeof(*b));
	return rc == 0 ? 0 : -1;
}

const char *tbr_host_ns(const struct tbr *r, int h, char *out, size_t cap)
{
	if (!r->netns)
		return NULL;
	snprintf(out, cap, "%s%s", r->prefix, r->hosts[h].sfx);
	return out;
}

/* Host h's namespace name, whatever the mode (setup and teardown are netns only). */
static const char *ns_of(const struct tbr *r, unsigned h, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", r->prefix, r->hosts[h].sfx);
	return out;
}

void tbr_net_sweep(struct tbr *r)
{
	DIR *d = opendir("/run/netns");
	if (!d)
		return;
	struct batch b = { 0 };
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *s = e->d_name;
		if (strncmp(s, "mqtb", 4) != 0)
			continue;
		char *end = NULL;
		errno = 0;
		unsigned long pid = strtoul(s + 4, &end, 10);
		if (end == s + 4 || *end != '-' || errno || pid == 0 || pid > 0x7fffffff)
			continue;
		if ((pid_t)pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		bprintf(&b, "netns del %s\n", s);
		n++;
	}
	closedir(d);
	if (n) {
		tbr_log(r, "removing %u stale namespace%s of runs that are gone", n, n == 1 ? "" : "s");
		ip_batch(r, NULL, &b, true, false);
	}
	free(b.p);
}

/* In a namespace: no IPv6 (no router solicitations, DAD or MLD in the capture). */
static int ns_no_ipv6(void *arg)
{
	(void)arg;
	static const char *const f[] = { "/proc/sys/net/ipv6/conf/default/disable_ipv6",
					 "/proc/sys/net/ipv6/conf/all/disable_ipv6" };
	for (size_t i = 0; i < 2; i++) {
		int fd = open(f[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* a kernel without IPv6 */
		if (write(fd, "1\n", 2) != 2) {
			close(fd);
			return 1;
		}
		close(fd);
	}
	return 0;
}

/*
 * In a namespace: no checksum, segmentation or receive offloads on the
 * interfaces named in arg (space separated), so the capture holds frames
 * as a real wire would: checksummed, at most MTU-sized.
 */
static int ns_offloads_off(void *arg)
{
	static const uint32_t cmds[] = { ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO,
					 ETHTOOL_SGSO, ETHTOOL_SGRO };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 1;
	char names[2048];
	snprintf(names, sizeof(names), "%s", (const char *)arg);
	int bad = 0;
	char *save = NULL;
	for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			struct ethtool_value ev = { .cmd = cmds[i], .data = 0 };
			struct ifreq ifr;
			memset(&ifr, 0, sizeof(ifr));
			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", n);
			ifr.ifr_data = (char *)&ev;
			/* GRO and friends may be fixed on some kernels: only TX checksums must go. */
			if (ioctl(s, SIOCETHTOOL, &ifr) != 0 && cmds[i] == ETHTOOL_STXCSUM)
				bad = 1;
		}
	}
	close(s);
	return bad;
}

int tbr_net_setup(struct tbr *r)
{
	char sw[64], ns[64];
	snprintf(sw, sizeof(sw), "%ssw", r->prefix);
	struct batch b = { 0 };
	bprintf(&b, "netns add %s\n", sw);
	for (unsigned h = 0; h < r->n_hosts; h++)
		bprintf(&b, "netns add %s\n", ns_of(r, h, ns, sizeof(ns)));
	r->ns_up = true;
	if (ip_batch(r, NULL, &b, false, false) != 0)
		goto fail;

	if (tbr_in_ns(sw, ns_no_ipv6, NULL) != 0)
		goto fail;
	for (unsigned h = 0; h < r->n_hosts; h++) {
		if (tbr_in_ns(tbr_host_ns(r, (int)h, ns, sizeof(ns)), ns_no_ipv6, NULL) != 0)
			goto fail;
	}

	/* The switch: a bridge and one port per host; each peer goes straight into its host's namespace. */
	bprintf(&b, "link set lo up\n");
	bprintf(&b, "link add br0 type bridge stp_state 0 forward_delay 0\n");
	char ports[1024] = "";
	size_t pl = 0;
	for (unsigned h = 0; h < r->n_hosts; h++) {
		const struct tbr_host *x = &r->hosts[h];
		bprintf(&b, "link add p-%s type veth peer name eth0 netns %s\n", x->sfx,
			tbr_host_ns(r, (int)h, ns, sizeof(ns)));
		bprintf(&b, "link set p-%s master br0\n", x->sfx);
		bprintf(&b, "link set p-%s up\n", x->sfx);
		int k = snprintf(ports + pl, sizeof(ports) - pl, "%sp-%s", pl ? " " : "", x->sfx);
		if (k > 0 && (size_t)k < sizeof(ports) - pl)
			pl += (size_t)k;
	}
	bprintf(&b, "link set br0 up\n");
	if (ip_batch(r, sw, &b, false, false) != 0)
		goto fail;
	if (tbr_in_ns(sw, ns_offloads_off, ports) != 0)
		tbr_log(r, "note: could not turn off offloads on the switch ports");

	for (unsigned h = 0; h < r->n_hosts; h++) {
		const struct tbr_host *x = &r->hosts[h];
		tbr_host_ns(r, (int)h, ns, sizeof(ns));
		bprintf(&b, "link set lo up\n");
		bprintf(&b, "link set eth0 address %s\n", x->mac);
		bprintf(&b, "addr add %s/16 dev eth0\n", x->ip_s);
		if (tbr_in_ns(ns, ns_offloads_off, (void *)"eth0") != 0)
			tbr_log(r, "note: could not turn off offloads on %s's eth0", x->name);
		bprintf(&b, "link set eth0 up\n");
		if (ip_batch(r, ns, &b, false, false) != 0)
			goto fail;
	}
	return 0;
fail:
	free(b.p);
	tbr_net_teardown(r);
	return -1;
}

void tbr_net_teardown(struct tbr *r)
{
	if (!r->ns_up)
		return;
	char ns[64];
	struct batch b = { 0 };
	for (unsigned h = 0; h < r->n_hosts; h++)
		bprintf(&b, "netns del %s\n", ns_of(r, h, ns, sizeof(ns)));
	bprintf(&b, "netns del %ssw\n", r->prefix);
	/* -force: a namespace that was never made is no reason to keep the others. */
	ip_batch(r, NULL, &b, true, true);
	r->ns_up = false;
}

struct listen_q {
	uint32_t addr; /* network order, as /proc/net/tcp prints it in host order */
	int port;
};

/* 0 when /proc/net/tcp of the current namespace has a LISTEN socket on q. */
static int find_listen(void *arg)
{
	const struct listen_q *q = arg;
	FILE *f = fopen("/proc/net/tcp", "re");
	if (!f)
		return 1;
	char line[512];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long a = 0;
		unsigned port = 0, state = 0;
		if (sscanf(line, " %*u: %lx:%x %*x:%*x %x", &a, &port, &state) != 3)
			continue;
		if (state == 0x0a && (int)port == q->port &&
		    ((uint32_t)a == q->addr || a == 0))
			found = 1;
	}
	fclose(f);
	return found ? 0 : 1;
}

int tbr_wait_listen(const char *ns, const char *ip, int port, double timeout, struct tbr *r)
{
	struct listen_q q = { .port = port };
	struct in_addr ia;
	if (inet_pton(AF_INET, ip, &ia) != 1)
		return -1;
	q.addr = ia.s_addr;
	double end = tbr_mono() + timeout;
	for (;;) {
		int rc = ns ? tbr_in_ns(ns, find_listen, &q) : find_listen(&q);
		if (rc == 0)
			return 0;
		if (tbr_mono() >= end || tbr_signals)
			return -1;
		tbr_reap(r);
		if (r->p_broker >= 0 && !r->procs[r->p_broker].running)
			return -1;
		tbr_sleep(0.05);
	}
}

int tbr_port_free(const char *ip, int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a.sin_addr);
	int ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

int tbr_free_port(const char *ip)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &a.sin_addr);
	socklen_t al = sizeof(a);
	int port = 0;
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	close(s);
	return port;
}
