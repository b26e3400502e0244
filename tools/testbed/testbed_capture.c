/*
 * testbed_capture.c - mqttids-testbed's capture: a child process that
 * joins the switch namespace and writes everything the bridge sees (or,
 * in loopback mode, what lo carries for the run) to OUTDIR/capture.pcap.
 *
 * The child reports over a pipe: "ready" once libpcap is active, then,
 * after SIGTERM and a final drain, "stats PACKETS RECV DROP IFDROP"; or
 * "error TEXT" when it cannot capture.
 */
#define _GNU_SOURCE /* setns, unshare */
#include "testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP_SNAPLEN 262144
#define CAP_BUFFER (64 << 20)
#define CAP_TIMEOUT_MS 100
/* After SIGTERM: long enough for the kernel to hand over its last block. */
#define CAP_DRAIN_S 0.5

static volatile sig_atomic_t cap_stop;

static void cap_on_term(int sig)
{
	(void)sig;
	cap_stop = 1;
}

struct cap_ctx {
	pcap_dumper_t *d;
	uint64_t n;
};

static void cap_packet(u_char *u, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct cap_ctx *c = (struct cap_ctx *)u;
	pcap_dump((u_char *)c->d, h, bytes);
	c->n++;
}

/*
 * The child's /sys still shows the runner's namespace; libpcap reads
 * interface statistics there, so mount the switch namespace's own, as
 * `ip netns exec` does. Failures only cost ps_ifdrop's accuracy.
 */
void tbr_own_sysfs(void)
{
	if (unshare(CLONE_NEWNS) != 0)
		return;
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) != 0)
		return;
	if (umount2("/sys", MNT_DETACH) != 0)
		return;
	mount("sysfs", "/sys", "sysfs", 0, NULL);
}

__attribute__((noreturn))
static void cap_child(const struct tbr *r, int wfd, pid_t runner)
{
	setpgid(0, 0);
	tbr_child_signals(runner); /* the runner's death stops the capture cleanly */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cap_on_term;
	sigaction(SIGTERM, &sa, NULL);
	/* ^C reaches the runner, which stops the capture last, on purpose. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (r->netns) {
		char path[128];
		snprintf(path, sizeof(path), "/run/netns/%ssw", r->prefix);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
			dprintf(wfd, "error cannot enter %s: %s\n", path, strerror(errno));
			_exit(1);
		}
		close(fd);
		tbr_own_sysfs();
	}
	char eb[PCAP_ERRBUF_SIZE] = "";
	char out[TBR_PATH];
	if (tbr_path(r, "capture.pcap", out, sizeof(out)) != 0) {
		dprintf(wfd, "error output path too long\n");
		_exit(1);
	}
	pcap_t *p = pcap_create(r->cap_iface, eb);
	if (!p) {
		dprintf(wfd, "error pcap_create %s: %s\n", r->cap_iface, eb);
		_exit(1);
	}
	pcap_set_snaplen(p, CAP_SNAPLEN);
	pcap_set_promisc(p, 1); /* a bridge passes others' frames up only when promiscuous */
	/*
	 * Not immediate mode: there every packet takes a ring frame of the
	 * snap length, and 64 MiB holds only 256 of them, which a flood
	 * overflows whenever this process waits for a CPU on a loaded
	 * machine. Without it the kernel packs packets into blocks
	 * (TPACKET_V3), and the same buffer holds hundreds of thousands.
	 */
	pcap_set_buffer_size(p, CAP_BUFFER);
	pcap_set_timeout(p, CAP_TIMEOUT_MS);
	int rc = pcap_activate(p);
	if (rc < 0) {
		dprintf(wfd, "error pcap_activate %s: %s\n", r->cap_iface, pcap_geterr(p));
		_exit(1);
	}
	if (r->cap_filter[0]) {
		struct bpf_program prog;
		if (pcap_compile(p, &prog, r->cap_filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
		    pcap_setfilter(p, &prog) != 0) {
			dprintf(wfd, "error filter '%s': %s\n", r->cap_filter, pcap_geterr(p));
			_exit(1);
		}
		pcap_freecode(&prog);
	}
	if (pcap_setnonblock(p, 1, eb) != 0) {
		dprintf(wfd, "error pcap_setnonblock: %s\n", eb);
		_exit(1);
	}
	struct cap_ctx c = { .d = pcap_dump_open(p, out) };
	if (!c.d) {
		dprintf(wfd, "error %s: %s\n", out, pcap_geterr(p));
		_exit(1);
	}
	int fd = pcap_get_selectable_fd(p);
	dprintf(wfd, "ready\n");
	while (!cap_stop) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (fd >= 0)
			poll(&pf, 1, CAP_TIMEOUT_MS);
		else
			usleep(10000);
		if (pcap_dispatch(p, -1, cap_packet, (u_char *)&c) == PCAP_ERROR) {
			dprintf(wfd, "error capture: %s\n", pcap_geterr(p));
			pcap_dump_close(c.d);
			_exit(1);
		}
	}
	/*
	 * What the kernel still holds: a partly filled block is handed over
	 * when its timeout retires it, so keep reading for CAP_DRAIN_S.
	 */
	for (double end = tbr_mono() + CAP_DRAIN_S; tbr_mono() < end;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (fd >= 0)
			poll(&pf, 1, CAP_TIMEOUT_MS);
		else
			usleep(CAP_TIMEOUT_MS * 1000);
		if (pcap_dispatch(p, -1, cap_packet, (u_char *)&c) == PCAP_ERROR)
			break;
	}
	struct pcap_stat st;
	memset(&st, 0, sizeof(st));
	pcap_stats(p, &st);
	pcap_dump_flush(c.d);
	pcap_dump_close(c.d);
	pcap_close(p);
	dprintf(wfd, "stats %llu %u %u %u\n", (unsigned long long)c.n, st.ps_recv, st.ps_drop,
		st.ps_ifdrop);
	_exit(0);
}

/* Reads one line from the child within timeout seconds; 0 or -1 (EOF, timeout). */
static int cap_read_line(int fd, char *buf, size_t cap, double timeout)
{
	size_t n = 0;
	double end = tbr_mono() + timeout;
	while (n + 1 < cap) {
		double left = end - tbr_mono();
		if (left <= 0)
			return -1;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int pr = poll(&pf, 1, (int)(left * 1000) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		ssize_t k = read(fd, buf + n, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = 0;
			return 0;
		}
		n++;
	}
	buf[n] = 0;
	return 0;
}

int tbr_capture_start(struct tbr *r)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		tbr_err("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t runner = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		tbr_err("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		cap_child(r, p[1], runner);
	}
	setpgid(pid, pid);
	close(p[1]);
	r->cap_pid = pid;
	r->cap_fd = p[0];
	char line[512];
	if (cap_read_line(r->cap_fd, line, sizeof(line), 10) != 0) {
		tbr_err("capture on %s did not start", r->cap_iface);
		return -1;
	}
	if (strncmp(line, "ready", 5) != 0) {
		tbr_err("capture on %s: %s%s", r->cap_iface,
			strncmp(line, "error ", 6) == 0 ? line + 6 : line,
			strstr(line, "not permitted") ? " (capturing needs root or CAP_NET_RAW)" : "");
		return -1;
	}
	r->cap_ok = true;
	return 0;
}

int tbr_capture_stop(struct tbr *r)
{
	if (r->cap_pid <= 0)
		return -1;
	int rc = -1;
	if (!r->cap_exited)
		kill(r->cap_pid, SIGTERM);
	char line[512];
	if (cap_read_line(r->cap_fd, line, sizeof(line), 15) == 0) {
		unsigned long long n = 0;
		unsigned recv = 0, drop = 0, ifdrop = 0;
		if (sscanf(line, "stats %llu %u %u %u", &n, &recv, &drop, &ifdrop) == 4) {
			r->pcap_packets = n;
			r->pcap_recv = recv;
			r->pcap_drop = drop;
			r->pcap_ifdrop = ifdrop;
			rc = 0;
		} else {
			tbr_err("capture: %s", strncmp(line, "error ", 6) == 0 ? line + 6 : line);
		}
	} else {
		tbr_err("capture did not report its counters");
	}
	if (!r->cap_exited) {
		int st = 0;
		double end = tbr_mono() + 5;
		while (waitpid(r->cap_pid, &st, WNOHANG) == 0) {
			if (tbr_mono() > end) {
				kill(r->cap_pid, SIGKILL);
				waitpid(r->cap_pid, &st, 0);
				break;
			}
			struct timespec ts = { 0, 20000000 };
			nanosleep(&ts, NULL);
		}
		r->cap_status = st;
		r->cap_exited = true;
	}
	close(r->cap_fd);
	r->cap_fd = -1;
	r->cap_pid = 0;
	if (rc == 0 && !(WIFEXITED(r->cap_status) && WEXITSTATUS(r->cap_status) == 0))
		rc = -1;
	return rc;
}
