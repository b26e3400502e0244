/*
 * testbed_ids.c - mqttids-testbed --ids: runs the IDS under test live on
 * the run's capture interface (br0 in the switch namespace, or lo), with a
 * configuration that names the run's networks (OUTDIR/ids.yaml), from just
 * before second 0 until after the capture has ended; docs/TESTBED.md,
 * "The IDS under test".
 */
#define _GNU_SOURCE
#include "testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The address groups the default rules use, for this run's mode. The
 * attacker (10.77.99.66, or 127.77.99.66 on loopback) is outside HOME_NET
 * on purpose; ADMIN_HOSTS is the dashboard, the one benign host that
 * subscribes to $SYS. The broker's port is given too: on loopback it is a
 * free port, not 1883.
 */
/* The MQTT user each benign host logs in as (testbed_main.c's arguments). */
static const char *host_user(const struct tbr_host *h)
{
	switch (h->role) {
	case TBR_DASHBOARD: return "dashboard";
	case TBR_Z2M: return "zigbee2mqtt";
	case TBR_SENSOR: return "sensor";
	default: return "";
	}
}

/*
 * OUTDIR/ids-inventory.json: the benign hosts as the device inventory's
 * known devices (docs/sensors.md, "Device inventory"): every client's
 * address, MAC (netns mode) and client id. The attacker is not in it, so
 * its first connection is an unknown device.
 */
static int write_inventory(const struct tbr *r, char *path, size_t cap)
{
	if (tbr_path(r, "ids-inventory.json", path, cap) != 0)
		return -1;
	FILE *f = fopen(path, "we");
	if (!f) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	fputs("[\n", f);
	bool first = true;
	for (unsigned i = 0; i < r->n_hosts; i++) {
		const struct tbr_host *h = &r->hosts[i];
		if (h->role == TBR_BROKER || h->role == TBR_ATTACKER || !h->client_id[0])
			continue;
		/* Names, ids and addresses are the runner's own: no JSON escaping needed. */
		fprintf(f, "%s  {\"name\": \"%s\", \"ip\": \"%s\", \"client_id\": \"%s\", \"username\": \"%s\"",
			first ? "" : ",\n", h->name, h->ip_s, h->client_id, host_user(h));
		if (h->mac[0])
			fprintf(f, ", \"mac\": \"%s\"", h->mac);
		fputs("}", f);
		first = false;
	}
	fputs("\n]\n", f);
	if (fclose(f) != 0) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* OUTDIR/ids-keys (mode 0600): the shared secret of security key, as "* SECRET". */
static int write_shared_key(const struct tbr *r, char *path, size_t cap)
{
	if (tbr_path(r, "ids-keys", path, cap) != 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# ids-keys - the shared secret of run '%s' (mqttids-testbed)\n* %s\n",
		r->sc->name, r->shared_key);
	if (fclose(f) != 0) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int tbr_ids_config(const struct tbr *r)
{
	char path[TBR_PATH], inv[TBR_PATH], acl[TBR_PATH], keys[TBR_PATH] = "";
	if (tbr_path(r, "ids.yaml", path, sizeof(path)) != 0 ||
	    tbr_path(r, "acl", acl, sizeof(acl)) != 0 ||
	    write_inventory(r, inv, sizeof(inv)) != 0)
		return -1;
	if (r->sc->security == TB_SEC_HMAC && tbr_path(r, "device-keys", keys, sizeof(keys)) != 0)
		return -1;
	if (r->sc->security == TB_SEC_KEY && write_shared_key(r, keys, sizeof(keys)) != 0)
		return -1;
	FILE *f = fopen(path, "we");
	if (!f) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	const char *net = r->netns ? "10.77" : "127.77";
	fprintf(f,
		"# ids.yaml - mqttids configuration for testbed run '%s' (%s mode), written by\n"
		"# mqttids-testbed: the run's address groups, the broker's port, and the data\n"
		"# detectors' policies: the broker's ACL, the devices' keys, the known devices.\n"
		"vars:\n"
		"  address-groups:\n"
		"    HOME_NET: \"[%s.0.0/24]\"\n"
		"    EXTERNAL_NET: \"!$HOME_NET\"\n"
		"    SELF: \"[%s]\"\n"
		"    ADMIN_HOSTS: \"[%s]\"\n"
		"mqtt:\n"
		"  ports: [%d]\n"
		"detectors:\n"
		"  authz:\n"
		"    acl-file: \"%s\"\n"
		"  inventory:\n"
		"    file: \"%s\"\n"
		"  value:\n"
		"    warmup: 10                  # short runs: judge jumps after 10 readings\n"
		"  inactivity:\n"
		"    devices:\n"
		"      min-timeout: 10s          # the testbed's sensors publish every few seconds\n",
		r->sc->name, r->netns ? "netns" : "loopback", net, r->hosts[r->h_broker].ip_s,
		r->hosts[r->h_admin].ip_s, r->port, acl, inv);
	if (keys[0])
		fprintf(f,
			"  integrity:\n"
			"    keys-file: \"%s\"\n"
			"    topics:\n"
			"      - filter: \"sensors/+/+\"\n"
			"        mode: %s\n",
			keys, r->sc->security == TB_SEC_HMAC ? "hmac" : "key");
	if (fclose(f) != 0) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* True when OUTDIR/ids.log has a line with "capturing on". */
static bool ids_log_ready(const char *log)
{
	FILE *f = fopen(log, "re");
	if (!f)
		return false;
	char line[1024];
	bool ok = false;
	while (!ok && fgets(line, sizeof(line), f))
		ok = strstr(line, "capturing on") != NULL;
	fclose(f);
	return ok;
}

/* The last lines of the log on stderr, indented, so a failure says why without opening files. */
static void ids_log_tail(const char *log)
{
	FILE *f = fopen(log, "re");
	if (!f)
		return;
	char ring[8][256];
	unsigned n = 0;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		snprintf(ring[n % 8], sizeof(ring[0]), "%s", line);
		n++;
	}
	fclose(f);
	for (unsigned i = n > 8 ? n - 8 : 0; i < n; i++)
		fprintf(stderr, "    | %s%s", ring[i % 8], strchr(ring[i % 8], '\n') ? "" : "\n");
}

int tbr_ids_start(struct tbr *r, double timeout)
{
	char cfg[TBR_PATH], eve[TBR_PATH], db[TBR_PATH], log[TBR_PATH], ns[64];
	if (tbr_path(r, "ids.yaml", cfg, sizeof(cfg)) || tbr_path(r, "eve.json", eve, sizeof(eve)) ||
	    tbr_path(r, "alerts.db", db, sizeof(db)) || tbr_path(r, "ids.log", log, sizeof(log)))
		return -1;
	const char *argv[16 + TBR_MAX_IDS_ARGS];
	unsigned n = 0;
	argv[n++] = r->ids_path;
	argv[n++] = "live";
	argv[n++] = "-i";
	argv[n++] = r->cap_iface;
	if (r->cap_filter[0]) {
		argv[n++] = "--filter";
		argv[n++] = r->cap_filter;
	}
	argv[n++] = "-c";
	argv[n++] = cfg;
	argv[n++] = "--eve";
	argv[n++] = eve;
	argv[n++] = "--db";
	argv[n++] = db;
	for (unsigned i = 0; i < r->n_ids_args; i++)
		argv[n++] = r->ids_args[i];
	argv[n] = NULL;

	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		tbr_err("%s: %s", log, strerror(errno));
		return -1;
	}
	/* The IDS captures where the capture does: the switch namespace, or here on lo. */
	const char *where = NULL;
	if (r->netns) {
		snprintf(ns, sizeof(ns), "%ssw", r->prefix);
		where = ns;
	}
	pid_t pid = tbr_spawn_fds(where, (char *const *)argv, r->ids_console ? STDOUT_FILENO : logfd,
				  logfd, true);
	close(logfd);
	if (pid <= 0)
		return -1;
	r->ids_pid = pid;
	r->ids_started = true;
	r->ids_m_start = tbr_mono();
	tbr_log(r, "IDS %s live -i %s%s (pid %d), log %s/ids.log", r->ids_path, r->cap_iface,
		r->netns ? " in the switch namespace" : "", (int)pid, r->outdir);
	double end = tbr_mono() + timeout;
	for (;;) {
		if (ids_log_ready(log)) {
			tbr_log(r, "IDS is capturing");
			return 0;
		}
		tbr_reap(r);
		if (r->ids_exited) {
			char s[64];
			tbr_err("the IDS (%s) ended before it captured (%s); %s says:", r->ids_path,
				tbr_ids_status_str(r, s, sizeof(s)), log);
			ids_log_tail(log);
			return -1;
		}
		if (tbr_mono() >= end || tbr_signals) {
			tbr_err("the IDS (%s) did not say 'capturing on' within %.0f s; %s says:", r->ids_path,
				timeout, log);
			ids_log_tail(log);
			kill(-pid, SIGKILL);
			r->ids_stopped = r->ids_killed = true;
			waitpid(pid, &r->ids_status, 0);
			r->ids_exited = true;
			r->ids_m_end = tbr_mono();
			return -1;
		}
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
	}
}

void tbr_ids_stop(struct tbr *r, double grace)
{
	if (!r->ids_started || r->ids_exited)
		return;
	r->ids_stopped = true;
	kill(-r->ids_pid, SIGINT);
	double end = tbr_mono() + grace;
	while (!r->ids_exited) {
		int st = 0;
		pid_t p = waitpid(r->ids_pid, &st, WNOHANG);
		if (p == r->ids_pid) {
			r->ids_status = st;
			r->ids_exited = true;
			r->ids_m_end = tbr_mono();
			break;
		}
		if (p < 0 && errno != EINTR) {
			/* Reaped elsewhere (tbr_reap sets ids_exited); nothing to wait for. */
			break;
		}
		if (tbr_mono() >= end || tbr_signals >= 2) {
			tbr_log(r, "the IDS did not stop within %.0f s of SIGINT: SIGKILL", grace);
			r->ids_killed = true;
			kill(-r->ids_pid, SIGKILL);
			waitpid(r->ids_pid, &r->ids_status, 0);
			r->ids_exited = true;
			r->ids_m_end = tbr_mono();
			break;
		}
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	char s[64];
	tbr_log(r, "IDS stopped (%s)", tbr_ids_status_str(r, s, sizeof(s)));
}

bool tbr_ids_failed(const struct tbr *r)
{
	if (!r->ids_started)
		return false;
	if (!r->ids_exited || r->ids_killed)
		return true;
	return !(WIFEXITED(r->ids_status) && WEXITSTATUS(r->ids_status) == 0);
}

const char *tbr_ids_status_str(const struct tbr *r, char *buf, size_t cap)
{
	if (!r->ids_exited)
		snprintf(buf, cap, "running");
	else if (WIFEXITED(r->ids_status))
		snprintf(buf, cap, "exit %d", WEXITSTATUS(r->ids_status));
	else if (WIFSIGNALED(r->ids_status))
		snprintf(buf, cap, "signal %d%s", WTERMSIG(r->ids_status),
			 r->ids_killed ? " (killed: it did not stop on SIGINT)" : "");
	else
		snprintf(buf, cap, "status %d", r->ids_status);
	return buf;
}
