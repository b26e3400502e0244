/* testbed_proc.c - mqttids-testbed's processes: start inside a network namespace, run to completion, reap, signal whole groups. */
#define _GNU_SOURCE /* setns, pipe2 */
#include "testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Child side: joins /run/netns/ns; on failure says why on fd 2 and exits 126. */
static void child_enter_ns(const char *ns)
{
	if (!ns)
		return;
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		dprintf(2, "mqttids-testbed: cannot enter network namespace %s: %s\n", ns,
			strerror(errno));
		_exit(126);
	}
	close(fd);
}

/*
 * Child side: SIGTERM when the runner dies, even by SIGKILL, so no broker,
 * host or capture outlives it (PR_SET_PDEATHSIG survives execve); default
 * signal dispositions (the runner ignores SIGPIPE) and mask.
 */
void tbr_child_signals(pid_t runner)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != runner)
		_exit(1); /* the runner died before the line above */
	static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t tbr_spawn_fds(const char *ns, char *const argv[], int out_fd, int err_fd, bool own_sysfs)
{
	fflush(NULL);
	pid_t runner = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		tbr_err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		tbr_child_signals(runner);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		/* err first: out may be fd 2's old number only if the caller passed 2 itself */
		int e = dup(err_fd);
		dup2(out_fd, 1);
		dup2(e >= 0 ? e : err_fd, 2);
		if (e > 2)
			close(e);
		child_enter_ns(ns);
		if (ns && own_sysfs)
			tbr_own_sysfs();
		execv(argv[0], argv);
		dprintf(2, "mqttids-testbed: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* Both sides set the group, so a signal sent right away reaches it. */
	setpgid(pid, pid);
	return pid;
}

pid_t tbr_spawn(const char *ns, char *const argv[], const char *log_path)
{
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		tbr_err("%s: %s", log_path, strerror(errno));
		return -1;
	}
	pid_t pid = tbr_spawn_fds(ns, argv, logfd, logfd, false);
	close(logfd);
	return pid;
}

int tbr_run(const char *ns, char *const argv[], const char *input, char *out, size_t cap)
{
	int in[2] = { -1, -1 }, res[2] = { -1, -1 };
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(res, O_CLOEXEC) != 0) {
		tbr_err("pipe: %s", strerror(errno));
		goto fail;
	}
	fflush(NULL);
	pid_t runner = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		tbr_err("fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		tbr_child_signals(runner);
		dup2(in[0], 0);
		dup2(res[1], 1);
		dup2(res[1], 2);
		child_enter_ns(ns);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(res[1]);
	in[0] = res[1] = -1;
	/* Write the input and read the output together, so neither pipe can fill up and stall both sides. */
	size_t ilen = input ? strlen(input) : 0, ioff = 0, olen = 0;
	if (ilen == 0) {
		close(in[1]);
		in[1] = -1;
	} else {
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	}
	for (;;) {
		struct pollfd pf[2] = { { .fd = res[0], .events = POLLIN },
					{ .fd = in[1], .events = POLLOUT } };
		int np = in[1] >= 0 ? 2 : 1;
		if (poll(pf, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (np == 2 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in[1], input + ioff, ilen - ioff);
			if (w > 0)
				ioff += (size_t)w;
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				ioff = ilen;
			if (ioff == ilen) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[1024];
			ssize_t n = read(res[0], buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (out && cap && olen + 1 < cap) {
				size_t k = (size_t)n < cap - 1 - olen ? (size_t)n : cap - 1 - olen;
				memcpy(out + olen, buf, k);
				olen += k;
			}
		}
	}
	if (out && cap)
		out[olen] = 0;
	if (in[1] >= 0)
		close(in[1]);
	close(res[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (res[i] >= 0)
			close(res[i]);
	}
	if (out && cap)
		out[0] = 0;
	return -1;
}

int tbr_in_ns(const char *ns, int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t runner = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		tbr_child_signals(runner);
		child_enter_ns(ns);
		_exit(fn(arg) & 0xff);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tbr_proc_add(struct tbr *r, const char *name, int host, int ev, pid_t pid)
{
	if (r->n_procs == TBR_MAX_PROCS)
		return -1;
	struct tbr_proc *p = &r->procs[r->n_procs];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->host = host;
	p->ev = ev;
	p->m_start = tbr_mono();
	/* The pid last: the signal handler reads running entries. */
	p->pid = pid;
	p->running = true;
	return (int)r->n_procs++;
}

const char *tbr_status_str(const struct tbr_proc *p, char *buf, size_t cap)
{
	if (p->running)
		snprintf(buf, cap, "running");
	else if (WIFEXITED(p->status))
		snprintf(buf, cap, "exit %d", WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		snprintf(buf, cap, "signal %d%s", WTERMSIG(p->status),
			 p->stopped ? " (stopped by the runner)" : "");
	else
		snprintf(buf, cap, "status %d", p->status);
	return buf;
}

bool tbr_proc_failed(const struct tbr_proc *p)
{
	if (p->running)
		return false;
	if (WIFEXITED(p->status))
		return WEXITSTATUS(p->status) != 0;
	if (WIFSIGNALED(p->status))
		return !(p->stopped && (WTERMSIG(p->status) == SIGTERM ||
					WTERMSIG(p->status) == SIGKILL));
	return true;
}

unsigned tbr_reap(struct tbr *r)
{
	unsigned n = 0;
	for (;;) {
		int st = 0;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			break;
		if (r->ids_pid > 0 && pid == r->ids_pid && !r->ids_exited) {
			r->ids_exited = true;
			r->ids_status = st;
			r->ids_m_end = tbr_mono();
			if (!r->ids_stopped) {
				char s[64];
				tbr_log(r, "the IDS ended early (%s); see %s/ids.log", tbr_ids_status_str(r, s, sizeof(s)),
					r->outdir);
			}
			continue;
		}
		if (pid == r->cap_pid) {
			r->cap_exited = true;
			r->cap_status = st;
			tbr_log(r, "capture ended early (status %d)", st);
			continue;
		}
		for (unsigned i = 0; i < r->n_procs; i++) {
			struct tbr_proc *p = &r->procs[i];
			if (p->pid != pid || !p->running)
				continue;
			p->running = false;
			p->status = st;
			p->m_end = tbr_mono();
			char s[64];
			tbr_status_str(p, s, sizeof(s));
			if (p->ev >= 0)
				tbr_log(r, "attack %s finished (%s)", r->sc->ev[p->ev].argv[0], s);
			else
				tbr_log(r, "%s %s (%s)", p->name,
					tbr_proc_failed(p) ? "FAILED" : "ended", s);
			n++;
		}
		/* Anything else (a helper of tbr_run or tbr_in_ns waits for its own). */
	}
	return n;
}

void tbr_proc_signal(struct tbr *r, int i, int sig)
{
	struct tbr_proc *p = &r->procs[i];
	if (!p->running || p->pid <= 0)
		return;
	p->stopped = true;
	if (kill(-p->pid, sig) != 0)
		kill(p->pid, sig);
}

unsigned tbr_wait_procs(struct tbr *r, bool (*want)(const struct tbr *, int), double timeout)
{
	double end = tbr_mono() + timeout;
	for (;;) {
		tbr_reap(r);
		unsigned left = 0;
		for (unsigned i = 0; i < r->n_procs; i++)
			left += r->procs[i].running && want(r, (int)i);
		if (!left || tbr_mono() >= end)
			return left;
		/* Not tbr_sleep: after a first signal the runner still waits, without spinning. */
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
}

void tbr_kill_all(struct tbr *r)
{
	for (unsigned i = 0; i < r->n_procs; i++) {
		struct tbr_proc *p = &r->procs[i];
		if (p->running && p->pid > 0) {
			p->stopped = true;
			kill(-p->pid, SIGKILL);
		}
	}
	/* The IDS flushes its EVE file on SIGTERM. */
	if (r->ids_pid > 0 && !r->ids_exited)
		kill(-r->ids_pid, SIGTERM);
	/* The capture ends on SIGTERM within a moment and leaves a complete file. */
	if (r->cap_pid > 0 && !r->cap_exited)
		kill(r->cap_pid, SIGTERM);
}
