/*
 * testbed_main.c - mqttids-testbed: runs a scenario (tb_scenario.h) on a
 * network of Linux namespaces behind one bridge, or on loopback, with a
 * real mosquitto, live sensors (mqttids-sensor) and attacks
 * (mqttids-attack), captured from the switch into OUTDIR. The command
 * line, the run's timeline and its summary live here; docs/TESTBED.md,
 * "Network runner", describes it all.
 */
#define _GNU_SOURCE
#include "testbed.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tb_attack.h"
#include "tb_sensor.h"

#define PROG "mqttids-testbed"
#define NOFILE_WANT 8192
/* Hosts run this much past the end on their own (--duration), in case the runner dies. */
#define HOST_GRACE_S 30.0
/* --ids: how long it may take to say "capturing on"; after the capture ends, how long
 * it gets to drain before SIGINT, and to exit after it. */
#define IDS_READY_S 20.0
#define IDS_DRAIN_S 1.0
#define IDS_GRACE_S 15.0

volatile sig_atomic_t tbr_signals;
static struct tbr *g_run;
static pid_t g_owner;

/* ------------------------------------------------------------------ small helpers */

double tbr_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tbr_rel(const struct tbr *r)
{
	return r->t0 > 0 ? tbr_mono() - r->t0 : 0;
}

static uint64_t epoch_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void tbr_log(const struct tbr *r, const char *fmt, ...)
{
	va_list ap;
	if (r && r->t0 > 0)
		printf("[%6.1fs] ", tbr_rel(r));
	else
		printf("[ setup ] ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void tbr_err(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tbr_sleep(double s)
{
	if (s <= 0 || tbr_signals)
		return;
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL); /* a signal ends it early: no SA_RESTART */
}

/* An argv built from formatted pieces, in fixed storage. */
struct args {
	char *v[96];
	int n;
	char store[16384];
	size_t used;
	bool overflow;
};

__attribute__((format(printf, 2, 3)))
static void arg(struct args *a, const char *fmt, ...)
{
	if (a->overflow || a->n + 1 >= (int)(sizeof(a->v) / sizeof(a->v[0]))) {
		a->overflow = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(a->store + a->used, sizeof(a->store) - a->used, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(a->store) - a->used) {
		a->overflow = true;
		return;
	}
	a->v[a->n++] = a->store + a->used;
	a->v[a->n] = NULL;
	a->used += (size_t)k + 1;
}

/* ------------------------------------------------------------------ signals and cleanup */

static void on_signal(int sig)
{
	(void)sig;
	if (tbr_signals < 100)
		tbr_signals++;
	/* A second signal: no more waiting for anyone. */
	if (tbr_signals >= 2 && g_run)
		tbr_kill_all(g_run);
}

/* Whatever path the runner leaves by: no process and (unless --keep) no namespace stays. */
static void at_exit(void)
{
	if (!g_run || getpid() != g_owner)
		return;
	tbr_kill_all(g_run);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (!g_run->keep)
		tbr_net_teardown(g_run);
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------------ tools */

static bool executable(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* A system tool from PATH or the sbin directories (root's tools are there). */
static int find_system(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin",
		 path ? path : "");
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (!d[0])
			continue;
		int n = snprintf(out, cap, "%s/%s", d, name);
		if (n > 0 && (size_t)n < cap && executable(out))
			return 0;
	}
	out[0] = 0;
	return -1;
}

/*
 * One of our tools: in --bin-dir if given; else beside this executable (an
 * installed bin directory) or in the build tree's sibling directory sub.
 */
static int find_ours(const char *bin_dir, const char *sub, const char *name, char *out, size_t cap)
{
	int n;
	if (bin_dir) {
		n = snprintf(out, cap, "%s/%s", bin_dir, name);
		return n > 0 && (size_t)n < cap && executable(out) ? 0 : -1;
	}
	char self[TBR_PATH];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k <= 0)
		return -1;
	self[k] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	n = snprintf(out, cap, "%s/%s", self, name);
	if (n > 0 && (size_t)n < cap && executable(out))
		return 0;
	n = snprintf(out, cap, "%s/../%s/%s", self, sub, name);
	if (n > 0 && (size_t)n < cap && executable(out)) {
		char real[TBR_PATH];
		if (realpath(out, real) && strlen(real) < cap)
			snprintf(out, cap, "%s", real);
		return 0;
	}
	return -1;
}

static int mkdir_p(const char *path)
{
	char tmp[TBR_PATH];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ the scenario, checked for this runner */

/* mqttids-sensor takes up to this many windows of each kind per device. */
#define SENSOR_MAX_WINDOWS 16

/*
 * What the scenario format allows but the live tools do not: overlapping
 * tamper, silence or z2m-offline windows of one device, more than
 * SENSOR_MAX_WINDOWS of them, and attack options mqttids-attack would
 * refuse (checked with its own parser). Returns the number of problems,
 * reported as "PATH:LINE: text".
 */
static int preflight(const char *path, const struct tb_scenario *sc)
{
	static const char *const what[] = { "attack", "tamper", "silence", "z2m-offline" };
	int bad = 0;
	for (unsigned i = 0; i < sc->n_ev; i++) {
		const struct tb_event *e = &sc->ev[i];
		if (e->kind == TB_EV_ATTACK) {
			char *argv[TB_SC_MAX_ARGS + 1];
			for (int a = 0; a < e->argc; a++)
				argv[a] = (char *)e->argv[a];
			argv[e->argc] = NULL;
			char *msg = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&msg, &len);
			struct tb_attack_opts o;
			int rc = m ? tb_attack_parse(e->argc, argv, &o, m) : 0;
			if (m)
				fclose(m);
			if (rc != 0) {
				while (len && msg[len - 1] == '\n')
					msg[--len] = 0;
				fprintf(stderr, "%s:%u: %s\n", path, e->line,
					msg && msg[0] ? msg : "bad attack options");
				bad++;
			}
			free(msg);
			continue;
		}
		/* Events are sorted by time: the previous window of this device is the one to clash with. */
		unsigned same = 0;
		const struct tb_event *prev = NULL;
		for (unsigned j = 0; j < i; j++) {
			const struct tb_event *f = &sc->ev[j];
			if (f->kind == e->kind && strcmp(f->device, e->device) == 0) {
				same++;
				prev = f;
			}
		}
		if (prev && (prev->for_s == 0 || prev->at + prev->for_s > e->at)) {
			fprintf(stderr, "%s:%u: %s %s: overlaps the window of line %u (mqttids-sensor "
					"takes windows one after another)\n",
				path, e->line, what[e->kind], e->device, prev->line);
			bad++;
		} else if (same >= SENSOR_MAX_WINDOWS) {
			fprintf(stderr, "%s:%u: %s %s: more than %d windows for one device\n", path,
				e->line, what[e->kind], e->device, SENSOR_MAX_WINDOWS);
			bad++;
		}
	}
	return bad;
}

/* ------------------------------------------------------------------ hosts */

static void host_addr(struct tbr *r, struct tbr_host *h, uint8_t c, uint8_t d)
{
	h->ip[0] = r->netns ? 10 : 127;
	h->ip[1] = 77;
	h->ip[2] = c;
	h->ip[3] = d;
	snprintf(h->ip_s, sizeof(h->ip_s), "%u.%u.%u.%u", h->ip[0], h->ip[1], c, d);
	if (r->netns)
		snprintf(h->mac, sizeof(h->mac), "02:4d:51:00:%02x:%02x", c, d);
	else
		h->mac[0] = 0;
}

static int host_add(struct tbr *r, enum tbr_role role, const char *name, const char *sfx,
		    uint8_t c, uint8_t d, const char *client_id)
{
	struct tbr_host *h = &r->hosts[r->n_hosts];
	memset(h, 0, sizeof(*h));
	h->role = role;
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->sfx, sizeof(h->sfx), "%s", sfx);
	snprintf(h->client_id, sizeof(h->client_id), "%s", client_id ? client_id : "");
	h->proc = -1;
	host_addr(r, h, c, d);
	return (int)r->n_hosts++;
}

/* The hosts of the run, addressed for the current mode (docs/TESTBED.md, "Addresses"). */
static void hosts_build(struct tbr *r)
{
	const struct tb_scenario *sc = r->sc;
	r->n_hosts = 0;
	r->h_broker = host_add(r, TBR_BROKER, "broker", "broker", 0, 1, NULL);
	r->h_admin = host_add(r, TBR_DASHBOARD, "admin", "admin", 0, 5, "dashboard");
	r->h_z2m = sc->z2m ? host_add(r, TBR_Z2M, "z2m", "z2m", 0, 9, "zigbee2mqtt") : -1;
	struct tb_rng rng = { sc->seed ^ 0x746573746265640aull };
	for (unsigned i = 1; i <= sc->sensors; i++) {
		char id[96], sfx[8];
		tb_sensor_name(i, id, sizeof(id), NULL, 0, NULL, 0);
		snprintf(sfx, sizeof(sfx), "s%u", i);
		int k = host_add(r, TBR_SENSOR, id, sfx, 0, (uint8_t)(10 + i), id);
		struct tbr_host *h = &r->hosts[k];
		h->index = i;
		tb_sensor_name(i, NULL, 0, h->room, sizeof(h->room), h->topic, sizeof(h->topic));
		double q = tb_rng_unit(&rng);
		h->qos = sc->qos >= 0 ? sc->qos : q < 0.5;
		h->dht22 = tb_rng_unit(&rng) < 0.35;
		h->seed = tb_rng_next(&rng);
	}
	r->h_atk = host_add(r, TBR_ATTACKER, "attacker", "atk", 99, 66, NULL);
}

/* ------------------------------------------------------------------ starting things */

static const char *host_ns(const struct tbr *r, int h, char *buf, size_t cap)
{
	return tbr_host_ns(r, h, buf, cap);
}

static int host_log(const struct tbr *r, const char *name, char *out, size_t cap)
{
	char rel[160];
	snprintf(rel, sizeof(rel), "hosts/%s.log", name);
	return tbr_path(r, rel, out, cap);
}

/* The options every mqttids-sensor mode shares. */
static void common_sensor_args(const struct tbr *r, const struct tbr_host *h, struct args *a,
			       const char *user, const char *pass, double t_start)
{
	arg(a, "--broker");
	arg(a, "%s", r->hosts[r->h_broker].ip_s);
	arg(a, "--port");
	arg(a, "%d", r->port);
	if (!r->netns) {
		arg(a, "--bind");
		arg(a, "%s", h->ip_s);
	}
	arg(a, "--username");
	arg(a, "%s", user);
	arg(a, "--password");
	arg(a, "%s", pass);
	arg(a, "--duration");
	arg(a, "%.3f", r->sc->duration - t_start + HOST_GRACE_S);
}

/* An event's time and length as seen from a host started at t_start; false if it is already over. */
static bool rel_window(const struct tb_event *e, double t_start, double *at, double *for_s)
{
	*at = e->at - t_start;
	*for_s = e->for_s;
	if (*at < 0) {
		if (*for_s > 0) {
			*for_s += *at;
			if (*for_s <= 0.001)
				return false;
		}
		*at = 0;
	}
	return true;
}

static int start_host(struct tbr *r, int hi)
{
	struct tbr_host *h = &r->hosts[hi];
	const struct tb_scenario *sc = r->sc;
	struct args *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	double t = tbr_rel(r);
	char path[TBR_PATH], ns[64];
	arg(a, "%s", r->bin_sensor);
	if (h->role == TBR_DASHBOARD) {
		arg(a, "--dashboard");
		common_sensor_args(r, h, a, "dashboard", "dash-pass", t);
		arg(a, "--seed");
		arg(a, "%llu", (unsigned long long)(sc->seed ^ 0xda5b0a4dull));
	} else if (h->role == TBR_Z2M) {
		arg(a, "--z2m");
		common_sensor_args(r, h, a, "zigbee2mqtt", "z2m-pass", t);
		arg(a, "--z2m-devices");
		arg(a, "%u", sc->z2m_devices);
		arg(a, "--seed");
		arg(a, "%llu", (unsigned long long)(sc->seed ^ 0x2192b1d6ull));
		tbr_path(r, "labels.jsonl", path, sizeof(path));
		arg(a, "--label");
		arg(a, "%s", path);
		for (unsigned i = 0; i < sc->n_ev; i++) {
			const struct tb_event *e = &sc->ev[i];
			double at, for_s;
			if (e->kind != TB_EV_Z2M_OFFLINE || !rel_window(e, t, &at, &for_s))
				continue;
			arg(a, "--z2m-offline");
			arg(a, "%s", e->device);
			arg(a, "--z2m-offline-at");
			arg(a, "%.3f", at);
			if (for_s > 0) {
				arg(a, "--z2m-offline-for");
				arg(a, "%.3f", for_s);
			}
		}
	} else {
		common_sensor_args(r, h, a, "sensor", "sensor-pass", t);
		arg(a, "--device");
		arg(a, "%s", h->client_id);
		arg(a, "--room");
		arg(a, "%s", h->room);
		arg(a, "--model");
		arg(a, "%s", h->dht22 ? "dht22" : "dht11");
		arg(a, "--interval");
		arg(a, "%u", sc->interval);
		arg(a, "--qos");
		arg(a, "%d", h->qos);
		arg(a, "--keepalive");
		arg(a, "%u", sc->keepalive);
		arg(a, "--mqtt-version");
		arg(a, "%u", sc->mqtt_version);
		arg(a, "--security");
		arg(a, "%s", sc->security == TB_SEC_HMAC ? "hmac" :
			     sc->security == TB_SEC_KEY ? "key" : "none");
		if (sc->security == TB_SEC_KEY) {
			arg(a, "--shared-key");
			arg(a, "%s", r->shared_key);
		} else if (sc->security == TB_SEC_HMAC) {
			tbr_path(r, "device-keys", path, sizeof(path));
			arg(a, "--key-file");
			arg(a, "%s", path);
		}
		arg(a, "--seed");
		arg(a, "%llu", (unsigned long long)h->seed);
		tbr_path(r, "labels.jsonl", path, sizeof(path));
		arg(a, "--label");
		arg(a, "%s", path);
		for (unsigned i = 0; i < sc->n_ev; i++) {
			const struct tb_event *e = &sc->ev[i];
			double at, for_s;
			if ((e->kind != TB_EV_TAMPER && e->kind != TB_EV_SILENCE) ||
			    strcmp(e->device, h->client_id) != 0 || !rel_window(e, t, &at, &for_s))
				continue;
			bool tamper = e->kind == TB_EV_TAMPER;
			arg(a, tamper ? "--tamper-at" : "--silence-at");
			arg(a, "%.3f", at);
			if (for_s > 0) {
				arg(a, tamper ? "--tamper-for" : "--silence-for");
				arg(a, "%.3f", for_s);
			}
			if (tamper) {
				arg(a, "--tamper-delta");
				arg(a, "%g", e->delta);
			}
		}
	}
	int rc = -1;
	if (a->overflow) {
		tbr_err("%s: command line too long", h->name);
	} else if (host_log(r, h->name, path, sizeof(path)) == 0) {
		pid_t pid = tbr_spawn(host_ns(r, hi, ns, sizeof(ns)), a->v, path);
		if (pid > 0) {
			h->proc = tbr_proc_add(r, h->name, hi, -1, pid);
			tbr_log(r, "%s started on %s (pid %d)", h->name, h->ip_s, (int)pid);
			rc = 0;
		}
	}
	free(a);
	return rc;
}

static int start_attack(struct tbr *r, unsigned ev, unsigned ordinal)
{
	const struct tb_event *e = &r->sc->ev[ev];
	const struct tbr_host *atk = &r->hosts[r->h_atk];
	struct args *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	char path[TBR_PATH], ns[64], name[128];
	arg(a, "%s", r->bin_attack);
	arg(a, "%s", e->argv[0]);
	arg(a, "--broker");
	arg(a, "%s", r->hosts[r->h_broker].ip_s);
	arg(a, "--port");
	arg(a, "%d", r->port);
	arg(a, "--bind");
	arg(a, "%s", atk->ip_s);
	tbr_path(r, "labels.jsonl", path, sizeof(path));
	arg(a, "--label");
	arg(a, "%s", path);
	for (int i = 1; i < e->argc; i++)
		arg(a, "%s", e->argv[i]);
	snprintf(name, sizeof(name), "attack-%02u-%.32s", ordinal, e->argv[0]);
	int rc = -1;
	if (!a->overflow && host_log(r, name, path, sizeof(path)) == 0) {
		pid_t pid = tbr_spawn(host_ns(r, r->h_atk, ns, sizeof(ns)), a->v, path);
		if (pid > 0 && tbr_proc_add(r, name, r->h_atk, (int)ev, pid) >= 0) {
			tbr_log(r, "attack %s started (pid %d)", e->argv[0], (int)pid);
			rc = 0;
		}
	}
	if (rc)
		tbr_err("attack %s (line %u) could not be started", e->argv[0], e->line);
	free(a);
	return rc;
}

static int start_broker(struct tbr *r)
{
	char conf[TBR_PATH], log[TBR_PATH], ns[64];
	if (tbr_path(r, "mosquitto.conf", conf, sizeof(conf)) || host_log(r, "broker", log, sizeof(log)))
		return -1;
	char *argv[] = { r->mosquitto, (char *)"-c", conf, NULL };
	pid_t pid = tbr_spawn(host_ns(r, r->h_broker, ns, sizeof(ns)), argv, log);
	if (pid <= 0)
		return -1;
	r->p_broker = tbr_proc_add(r, "broker", r->h_broker, -1, pid);
	r->hosts[r->h_broker].proc = r->p_broker;
	const char *ip = r->hosts[r->h_broker].ip_s;
	if (tbr_wait_listen(host_ns(r, r->h_broker, ns, sizeof(ns)), ip, r->port, 5.0, r) != 0) {
		tbr_reap(r);
		tbr_err("mosquitto does not listen on %s:%d after 5 s; see %s and %s/broker.log", ip,
			r->port, log, r->outdir);
		return -1;
	}
	tbr_log(r, "mosquitto listens on %s:%d (pid %d)", ip, r->port, (int)pid);
	return 0;
}

/* ------------------------------------------------------------------ the timeline */

enum { IT_HOST, IT_EVENT };
struct item {
	double at;
	int kind, idx;
};

static bool not_broker(const struct tbr *r, int i)
{
	return i != r->p_broker;
}

static bool is_broker(const struct tbr *r, int i)
{
	return i == r->p_broker;
}

static void describe_event(const struct tbr *r, const struct tb_event *e)
{
	char len[48] = "";
	if (e->for_s > 0)
		snprintf(len, sizeof(len), " for %g s", e->for_s);
	switch (e->kind) {
	case TB_EV_TAMPER:
		tbr_log(r, "tamper %s %+g degC%s (the sensor does it)", e->device, e->delta, len);
		break;
	case TB_EV_SILENCE:
		tbr_log(r, "silence %s%s (the sensor does it)", e->device, len);
		break;
	case TB_EV_Z2M_OFFLINE:
		tbr_log(r, "z2m-offline %s%s (the bridge does it)", e->device, len);
		break;
	case TB_EV_ATTACK:
		break;
	}
}

/* Runs the scenario from t0 to its end; false when it had to stop early. */
static bool timeline(struct tbr *r)
{
	const struct tb_scenario *sc = r->sc;
	struct item items[TBR_MAX_HOSTS + TB_SC_MAX_EVENTS];
	unsigned n = 0;
	/* Hosts first: the dashboard, the bridge, then the sensors 100-300 ms apart. */
	struct tb_rng rng = { sc->seed ^ 0x5354414747455221ull };
	double t = 0;
	items[n++] = (struct item){ 0, IT_HOST, r->h_admin };
	t = 0.2;
	if (r->h_z2m >= 0) {
		items[n++] = (struct item){ t, IT_HOST, r->h_z2m };
		t += 0.2;
	}
	for (unsigned h = 0; h < r->n_hosts; h++) {
		if (r->hosts[h].role != TBR_SENSOR)
			continue;
		items[n++] = (struct item){ t, IT_HOST, (int)h };
		t += 0.1 + 0.2 * tb_rng_unit(&rng);
	}
	for (unsigned i = 0; i < sc->n_ev; i++)
		items[n++] = (struct item){ sc->ev[i].at, IT_EVENT, (int)i };
	/* Stable by time: hosts before events at the same second. */
	for (unsigned i = 1; i < n; i++) {
		struct item x = items[i];
		unsigned j = i;
		while (j > 0 && x.at < items[j - 1].at) {
			items[j] = items[j - 1];
			j--;
		}
		items[j] = x;
	}

	unsigned next = 0, attacks = 0;
	while (!tbr_signals) {
		double now = tbr_rel(r);
		while (next < n && items[next].at <= now) {
			const struct item *it = &items[next++];
			if (it->kind == IT_HOST) {
				if (start_host(r, it->idx) != 0)
					r->failed = true;
			} else if (sc->ev[it->idx].kind == TB_EV_ATTACK) {
				if (start_attack(r, (unsigned)it->idx, ++attacks) != 0)
					r->failed = true;
			} else {
				describe_event(r, &sc->ev[it->idx]);
			}
		}
		if (now >= sc->duration)
			return true;
		tbr_reap(r);
		if (!r->procs[r->p_broker].running) {
			tbr_err("the broker ended before the end of the run; see %s/hosts/broker.log",
				r->outdir);
			return false;
		}
		if (r->cap_exited) {
			tbr_err("the capture ended before the end of the run");
			return false;
		}
		if (r->ids_started && r->ids_exited) {
			tbr_err("the IDS ended before the end of the run; see %s/ids.log", r->outdir);
			return false;
		}
		double wait = sc->duration - now;
		if (next < n && items[next].at - now < wait)
			wait = items[next].at - now;
		if (wait > 0.05)
			wait = 0.05;
		tbr_sleep(wait > 0.001 ? wait : 0.001);
	}
	tbr_log(r, "interrupted");
	return false;
}

/* Stops hosts and attacks, then the broker, then (1 s later, for the last FINs) the capture. */
static void shutdown_all(struct tbr *r)
{
	unsigned running = 0;
	for (unsigned i = 0; i < r->n_procs; i++) {
		if ((int)i != r->p_broker && r->procs[i].running) {
			tbr_proc_signal(r, (int)i, SIGTERM);
			running++;
		}
	}
	if (running)
		tbr_log(r, "stopping %u process%s (SIGTERM)", running, running == 1 ? "" : "es");
	unsigned left = tbr_wait_procs(r, not_broker, 5.0);
	if (left) {
		tbr_log(r, "%u process%s still running after 5 s: SIGKILL", left, left == 1 ? "" : "es");
		for (unsigned i = 0; i < r->n_procs; i++) {
			if ((int)i != r->p_broker && r->procs[i].running)
				tbr_proc_signal(r, (int)i, SIGKILL);
		}
		tbr_wait_procs(r, not_broker, 2.0);
	}
	if (r->p_broker >= 0 && r->procs[r->p_broker].running) {
		tbr_proc_signal(r, r->p_broker, SIGTERM);
		if (tbr_wait_procs(r, is_broker, 5.0)) {
			tbr_proc_signal(r, r->p_broker, SIGKILL);
			tbr_wait_procs(r, is_broker, 2.0);
		}
	}
	if (r->cap_pid > 0) {
		/* Not tbr_sleep: a signal must not cut the grace short of the last FINs... unless it is the second. */
		double end = tbr_mono() + 1.0;
		while (tbr_mono() < end && tbr_signals < 2) {
			struct timespec ts = { 0, 20000000 };
			nanosleep(&ts, NULL);
		}
		if (tbr_capture_stop(r) != 0)
			r->cap_ok = false;
	}
	/* The IDS last: it has seen what the capture saw; a moment more for what it still buffers. */
	if (r->ids_started && !r->ids_exited) {
		double end = tbr_mono() + IDS_DRAIN_S;
		while (tbr_mono() < end && tbr_signals < 2 && !r->ids_exited) {
			struct timespec ts = { 0, 20000000 };
			nanosleep(&ts, NULL);
			tbr_reap(r);
		}
		tbr_ids_stop(r, IDS_GRACE_S);
	}
}

static void summary(const struct tbr *r)
{
	printf("\nsummary: run '%s' (%s mode), %.1f s\n", r->sc->name, r->netns ? "netns" : "loopback",
	       (double)(r->end_us - r->start_us) / 1e6);
	printf("  capture: %llu packets in %s/capture.pcap, %llu dropped by the kernel\n",
	       (unsigned long long)r->pcap_packets, r->outdir, (unsigned long long)r->pcap_drop);
	printf("  labels:  %u in %s/labels.jsonl\n", r->labels, r->outdir);
	printf("  processes:\n");
	for (unsigned i = 0; i < r->n_procs; i++) {
		const struct tbr_proc *p = &r->procs[i];
		char s[64];
		printf("    %-28s %-12s %s%s\n", p->name, r->hosts[p->host].ip_s,
		       tbr_status_str(p, s, sizeof(s)), tbr_proc_failed(p) ? "  FAILED" : "");
	}
	if (r->ids_started) {
		char s[96];
		printf("    %-28s %-12s %s%s\n", "ids", r->cap_iface, tbr_ids_status_str(r, s, sizeof(s)),
		       tbr_ids_failed(r) ? "  FAILED" : "");
		printf("  ids:     %s/eve.json, %s/alerts.db, log %s/ids.log\n", r->outdir, r->outdir,
		       r->outdir);
	}
	printf("result: %s\n", tbr_signals ? "interrupted" : r->failed ? "FAILED" : "ok");
	fflush(stdout);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " run SCENARIO -o OUTDIR [--bin-dir DIR] [--loopback] [--port P] [--keep]\n"
"                           [--ids MQTTIDS [--ids-arg ARG]... [--ids-console]]\n"
"       " PROG " check SCENARIO\n"
"\n"
"run     builds a network of namespaces (root; else loopback), starts mosquitto,\n"
"        the sensors, the Zigbee2MQTT bridge, the dashboard and, at their times,\n"
"        the scenario's attacks, and captures it all into OUTDIR\n"
"check   parses SCENARIO and checks it as run would, without running it\n"
"\n"
"  -o, --output OUTDIR  where capture.pcap, labels.jsonl, run.json, broker.log,\n"
"                       mosquitto.conf, passwd, acl, scenario and hosts/*.log go\n"
"  --bin-dir DIR        where mqttids-sensor and mqttids-attack are (default:\n"
"                       beside this program, or its build tree's ../sensor and ../attack)\n"
"  --loopback           use 127.77.0.0/16 on lo instead of namespaces\n"
"  --port P             broker port (default 1883 with namespaces, a free one on loopback)\n"
"  --keep               leave the namespaces in place after the run, for debugging\n"
"                       (hosts stopped; `ip netns del` them, or a later run does)\n"
"  --ids MQTTIDS        also run `MQTTIDS live` on the capture interface from just\n"
"                       before second 0 to after the capture ends, with OUTDIR/ids.yaml,\n"
"                       writing OUTDIR/eve.json and OUTDIR/alerts.db (log: OUTDIR/ids.log)\n"
"  --ids-arg ARG        one more argument for it (repeatable)\n"
"  --ids-console        its stdout (console alerts) to this program's stdout\n"
"\n"
"Exit status: 0 ok, 1 the run failed (see the summary), 2 bad usage or scenario,\n"
"130 interrupted.\n");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "check") != 0) {
		tbr_err("unknown command '%s' (run or check)", cmd);
		return 2;
	}
	static struct tbr run;
	struct tbr *r = &run;
	r->p_broker = -1;
	r->cap_fd = -1;
	const char *outdir = NULL, *bin_dir = NULL;
	enum { O_BIN = 256, O_LOOP, O_PORT, O_KEEP, O_IDS, O_IDS_ARG, O_IDS_CONSOLE };
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' }, { "bin-dir", required_argument, NULL, O_BIN },
		{ "loopback", no_argument, NULL, O_LOOP },  { "port", required_argument, NULL, O_PORT },
		{ "keep", no_argument, NULL, O_KEEP },      { "help", no_argument, NULL, 'h' },
		{ "ids", required_argument, NULL, O_IDS },  { "ids-arg", required_argument, NULL, O_IDS_ARG },
		{ "ids-console", no_argument, NULL, O_IDS_CONSOLE },
		{ NULL, 0, NULL, 0 },
	};
	optind = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'o': outdir = optarg; break;
		case O_BIN: bin_dir = optarg; break;
		case O_LOOP: r->want_loopback = true; break;
		case O_KEEP: r->keep = true; break;
		case O_IDS: r->ids_path = optarg; break;
		case O_IDS_CONSOLE: r->ids_console = true; break;
		case O_IDS_ARG:
			if (r->n_ids_args == TBR_MAX_IDS_ARGS) {
				tbr_err("--ids-arg: at most %d", TBR_MAX_IDS_ARGS);
				return 2;
			}
			r->ids_args[r->n_ids_args++] = optarg;
			break;
		case O_PORT: {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*end || end == optarg || p < 1 || p > 65535) {
				tbr_err("--port: expected 1-65535, got '%s'", optarg);
				return 2;
			}
			r->port = (int)p;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		tbr_err("expected one SCENARIO file (see --help)");
		return 2;
	}
	if ((r->n_ids_args || r->ids_console) && !r->ids_path) {
		tbr_err("--ids-arg and --ids-console need --ids");
		return 2;
	}
	r->scenario_path = argv[optind];
	static struct tb_scenario sc;
	r->sc = &sc;
	int problems = tb_scenario_load(r->scenario_path, &sc, stderr);
	problems += preflight(r->scenario_path, &sc);
	if (problems) {
		tbr_err("%s: %d problem%s", r->scenario_path, problems, problems == 1 ? "" : "s");
		return 2;
	}
	unsigned n_attacks = 0;
	for (unsigned i = 0; i < sc.n_ev; i++)
		n_attacks += sc.ev[i].kind == TB_EV_ATTACK;
	if (!strcmp(cmd, "check")) {
		printf("%s: ok: '%s', %.1f s, %u sensors%s, %u events (%u attacks)\n", r->scenario_path,
		       sc.name, sc.duration, sc.sensors, sc.z2m ? " + z2m" : "", sc.n_ev, n_attacks);
		return 0;
	}
	if (!outdir) {
		tbr_err("run needs -o OUTDIR");
		return 2;
	}

	/* Tools. */
	if (find_ours(bin_dir, "sensor", "mqttids-sensor", r->bin_sensor, sizeof(r->bin_sensor))) {
		tbr_err("mqttids-sensor not found%s%s (build it, or give --bin-dir)",
			bin_dir ? " in " : "", bin_dir ? bin_dir : "");
		return 1;
	}
	if (n_attacks &&
	    find_ours(bin_dir, "attack", "mqttids-attack", r->bin_attack, sizeof(r->bin_attack))) {
		tbr_err("mqttids-attack not found%s%s (the scenario has %u attacks)",
			bin_dir ? " in " : "", bin_dir ? bin_dir : "", n_attacks);
		return 1;
	}
	static char ids_real[PATH_MAX];
	if (r->ids_path) {
		if (!realpath(r->ids_path, ids_real) || !executable(ids_real)) {
			tbr_err("--ids %s: not an executable file", r->ids_path);
			return 1;
		}
		r->ids_path = ids_real;
	}
	if (find_system("mosquitto", r->mosquitto, sizeof(r->mosquitto)) ||
	    find_system("mosquitto_passwd", r->mosquitto_passwd, sizeof(r->mosquitto_passwd))) {
		tbr_err("mosquitto and mosquitto_passwd are needed (apt-get install mosquitto)");
		return 1;
	}

	/* OUTDIR, absolute: the broker and the hosts get paths into it. */
	char real[PATH_MAX];
	if (mkdir_p(outdir) != 0 || !realpath(outdir, real) || strlen(real) >= sizeof(r->outdir) - 64) {
		tbr_err("%s: cannot create: %s", outdir, strerror(errno));
		return 1;
	}
	memcpy(r->outdir, real, strlen(real) + 1);
	if (tbr_files_clean(r) != 0)
		return 1;

	/* Mode. */
	r->netns = !r->want_loopback;
	if (r->netns && geteuid() != 0) {
		fprintf(stderr, PROG ": not root: network namespaces need root; using loopback (127.77.0.0/16) instead\n");
		r->netns = false;
	}
	if (r->netns && find_system("ip", r->ip_cmd, sizeof(r->ip_cmd))) {
		fprintf(stderr, PROG ": iproute2 (ip) not found; using loopback (127.77.0.0/16) instead\n");
		r->netns = false;
	}
	if (r->want_loopback)
		fprintf(stderr, PROG ": --loopback: using 127.77.0.0/16 on lo\n");

	/* Descriptors for ~1000 attack connections, inherited by the broker and the attacks. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < NOFILE_WANT) {
		rl.rlim_cur = NOFILE_WANT;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NOFILE_WANT) {
			if (geteuid() == 0)
				rl.rlim_max = NOFILE_WANT;
			else
				rl.rlim_cur = rl.rlim_max;
		}
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			tbr_log(r, "note: cannot raise the descriptor limit to %d", NOFILE_WANT);
	}

	g_run = r;
	g_owner = getpid();
	install_signals();
	atexit(at_exit);
	snprintf(r->prefix, sizeof(r->prefix), "mqtb%d-", (int)getpid());
	tbr_log(r, "run '%s' from %s into %s", sc.name, r->scenario_path, r->outdir);

	if (r->netns) {
		tbr_net_sweep(r);
		hosts_build(r);
		if (tbr_net_setup(r) != 0) {
			fprintf(stderr, PROG ": cannot build the namespace network (see %s/netns.log); "
					"using loopback (127.77.0.0/16) instead\n", r->outdir);
			r->netns = false;
		} else {
			tbr_log(r, "network: %u namespaces %s*, bridge br0 in %ssw", r->n_hosts + 1,
				r->prefix, r->prefix);
		}
	}
	if (!r->netns)
		hosts_build(r);
	const char *bip = r->hosts[r->h_broker].ip_s;
	if (!r->port)
		r->port = r->netns ? 1883 : tbr_free_port(bip);
	if (!r->port) {
		tbr_err("no free port on %s", bip);
		return 1;
	}
	if (!r->netns && !tbr_port_free(bip, r->port)) {
		tbr_err("%s:%d is in use", bip, r->port);
		return 1;
	}
	if (tbr_files_write(r) != 0)
		return 1;
	if (r->netns) {
		snprintf(r->cap_iface, sizeof(r->cap_iface), "br0");
		r->cap_filter[0] = 0;
	} else {
		snprintf(r->cap_iface, sizeof(r->cap_iface), "lo");
		/* The port too: another loopback run may share 127.77/16 at the same time. */
		snprintf(r->cap_filter, sizeof(r->cap_filter), "net 127.77.0.0/16 and tcp port %d", r->port);
	}

	if (tbr_ids_config(r) != 0)
		return 1;

	int status = 1;
	if (tbr_capture_start(r) != 0)
		goto out;
	tbr_log(r, "capturing on %s%s%s%s", r->cap_iface, r->netns ? " in " : "",
		r->netns ? r->prefix : "", r->netns ? "sw" : "");
	if (start_broker(r) != 0)
		goto out;
	if (r->ids_path && tbr_ids_start(r, IDS_READY_S) != 0)
		goto out;

	r->t0 = tbr_mono();
	r->start_us = epoch_us();
	tbr_log(r, "start: %.1f s, %u sensor%s%s, %u event%s", sc.duration, sc.sensors,
		sc.sensors == 1 ? "" : "s", sc.z2m ? " + z2m" : "", sc.n_ev, sc.n_ev == 1 ? "" : "s");
	bool complete = timeline(r);
	if (!complete)
		r->failed = true;
	tbr_log(r, complete ? "end of the run" : "stopping early");
	shutdown_all(r);
	r->end_us = epoch_us();

	if (!r->cap_ok) {
		tbr_err("the capture failed");
		r->failed = true;
	}
	if (r->pcap_drop > 0) {
		tbr_err("ERROR: the kernel dropped %llu packets: capture.pcap is incomplete",
			(unsigned long long)r->pcap_drop);
		r->failed = true;
	}
	for (unsigned i = 0; i < r->n_procs; i++)
		if (tbr_proc_failed(&r->procs[i]))
			r->failed = true;
	if (tbr_ids_failed(r)) {
		char s[96];
		tbr_err("the IDS failed (%s); see %s/ids.log", tbr_ids_status_str(r, s, sizeof(s)), r->outdir);
		r->failed = true;
	}
	char blog[TBR_PATH];
	if (tbr_path(r, "broker.log", blog, sizeof(blog)) == 0)
		chmod(blog, 0644); /* mosquitto makes it private; it holds no secret */
	if (tbr_labels_sort(r) != 0)
		r->failed = true;
	if (tbr_run_json(r) != 0)
		r->failed = true;
	if (r->netns && !r->keep)
		tbr_net_teardown(r);
	else if (r->netns)
		tbr_log(r, "--keep: namespaces %s* left in place (hosts stopped); remove them with "
			   "'for n in /run/netns/%s*; do ip netns del ${n##*/}; done' (a later run "
			   "removes them too)", r->prefix, r->prefix);
	summary(r);
	status = tbr_signals ? 130 : r->failed ? 1 : 0;
out:
	if (status == 1 && r->t0 == 0) {
		/* Setup failed: everything already started goes, the capture is kept as it is. */
		tbr_kill_all(r);
		if (r->cap_pid > 0 && !r->cap_exited)
			waitpid(r->cap_pid, NULL, 0);
	}
	return status;
}
