/*
 * testbed_files.c - mqttids-testbed's files in OUTDIR: the broker's
 * configuration (mosquitto.conf, passwd, acl), device keys, the scenario
 * copy, the sorted labels and run.json.
 */
#define _GNU_SOURCE /* memmem */
#include "testbed.h"
#include "tb_broker.h"
#include "tb_label.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"
#include "util/jw.h"

int tbr_path(const struct tbr *r, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", r->outdir, name);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Writes text to OUTDIR/name with the given mode; 0 or -1. */
static int write_file(const struct tbr *r, const char *name, const char *text, size_t n, mode_t mode)
{
	char path[TBR_PATH];
	if (tbr_path(r, name, path, sizeof(path)) != 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	fchmod(fd, mode);
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, text + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			tbr_err("%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (close(fd) != 0) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int random_bytes(uint8_t *p, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < n) {
		ssize_t k = read(fd, p + off, n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	close(fd);
	return off == n ? 0 : -1;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int write_conf(const struct tbr *r)
{
	char path[TBR_PATH], buf[8192];
	size_t o = 0;
#define OUT(...)                                                                        \
	do {                                                                            \
		int n_ = snprintf(buf + o, sizeof(buf) - o, __VA_ARGS__);               \
		if (n_ < 0 || (size_t)n_ >= sizeof(buf) - o)                            \
			return -1;                                                      \
		o += (size_t)n_;                                                        \
	} while (0)
	OUT("# mosquitto.conf - the broker of testbed run '%s' (written by mqttids-testbed).\n",
	    r->sc->name);
	if (r->netns)
		OUT("listener %d 0.0.0.0\n", r->port);
	else
		OUT("listener %d %s\n", r->port, r->hosts[r->h_broker].ip_s);
	OUT("allow_anonymous false\n");
	if (tbr_path(r, "passwd", path, sizeof(path)))
		return -1;
	OUT("password_file %s\n", path);
	if (tbr_path(r, "acl", path, sizeof(path)))
		return -1;
	OUT("acl_file %s\n", path);
	if (tbr_path(r, "broker.log", path, sizeof(path)))
		return -1;
	OUT("log_dest file %s\n", path);
	OUT("log_dest topic\n");
	OUT("log_type all\n");
	OUT("connection_messages true\n");
	OUT("log_timestamp true\n");
	OUT("log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S\n");
	OUT("max_keepalive 65535\n");
	OUT("persistence false\n");
	if (geteuid() == 0)
		OUT("user root\n");
#undef OUT
	return write_file(r, "mosquitto.conf", buf, o, 0644);
}

static int write_passwd(const struct tbr *r)
{
	char path[TBR_PATH], out[2048];
	if (tbr_path(r, "passwd", path, sizeof(path)))
		return -1;
	unlink(path);
	for (size_t i = 0; i < tb_n_users; i++) {
		/* The first user creates the file: mosquitto_passwd -c -b FILE USER PASS. */
		char *argv[8];
		int k = 0;
		argv[k++] = (char *)r->mosquitto_passwd;
		if (i == 0)
			argv[k++] = (char *)"-c";
		argv[k++] = (char *)"-b";
		argv[k++] = path;
		argv[k++] = (char *)tb_users[i].name;
		argv[k++] = (char *)tb_users[i].password;
		argv[k] = NULL;
		int rc = tbr_run(NULL, argv, NULL, out, sizeof(out));
		if (rc != 0) {
			tbr_err("mosquitto_passwd for %s failed (exit %d): %s", tb_users[i].name, rc, out);
			return -1;
		}
	}
	chmod(path, 0600);
	return 0;
}

/* OUTDIR/device-keys: one random 32-byte key per sensor (tb_key_file_lookup's format). */
static int write_keys(const struct tbr *r)
{
	size_t cap = 128 + (size_t)r->n_hosts * 200, o = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -1;
	o += (size_t)snprintf(buf, cap,
			      "# device-keys - HMAC-SHA256 keys of run '%s' (mqttids-testbed): <client id> <hex key>\n",
			      r->sc->name);
	for (unsigned h = 0; h < r->n_hosts; h++) {
		if (r->hosts[h].role != TBR_SENSOR)
			continue;
		uint8_t k[32];
		char kh[65];
		if (random_bytes(k, sizeof(k)) != 0) {
			tbr_err("/dev/urandom: cannot read");
			free(buf);
			return -1;
		}
		hex(k, sizeof(k), kh);
		o += (size_t)snprintf(buf + o, cap - o, "%s %s\n", r->hosts[h].client_id, kh);
	}
	int rc = write_file(r, "device-keys", buf, o, 0600);
	free(buf);
	return rc;
}

int tbr_files_clean(struct tbr *r)
{
	char path[TBR_PATH];
	static const char *const stale[] = { "broker.log", "netns.log", "capture.pcap", "run.json",
					     "labels.jsonl", "labels.jsonl.tmp", "device-keys", "ids.yaml",
					     "ids.log", "eve.json", "alerts.db", "alerts.db-journal",
					     "alerts.db-wal", "alerts.db-shm" };
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		if (tbr_path(r, stale[i], path, sizeof(path)) == 0)
			unlink(path);
	}
	if (tbr_path(r, "hosts", path, sizeof(path)) || (mkdir(path, 0755) != 0 && errno != EEXIST)) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	DIR *d = opendir(path);
	if (!d) {
		tbr_err("%s: %s", path, strerror(errno));
		return -1;
	}
	int dfd = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0)
			unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
	return 0;
}

int tbr_files_write(struct tbr *r)
{
	size_t n = 0;
	char *sc = file_read_all(r->scenario_path, 1u << 20, &n);
	if (!sc) {
		tbr_err("%s: cannot read: %s", r->scenario_path, strerror(errno));
		return -1;
	}
	int rc = write_file(r, "scenario", sc, n, 0644);
	free(sc);
	char acl[4096];
	size_t acl_len = tb_acl_file(acl, sizeof(acl));
	if (rc || !acl_len || write_file(r, "labels.jsonl", "", 0, 0644) ||
	    write_file(r, "acl", acl, acl_len, 0644) || write_conf(r) || write_passwd(r))
		return -1;
	if (r->sc->security == TB_SEC_HMAC && write_keys(r))
		return -1;
	if (r->sc->security == TB_SEC_KEY) {
		uint8_t k[16];
		if (random_bytes(k, sizeof(k)) != 0) {
			tbr_err("/dev/urandom: cannot read");
			return -1;
		}
		hex(k, sizeof(k), r->shared_key);
	}
	return 0;
}

struct label_line {
	const char *p;
	size_t n;
	uint64_t start;
	size_t idx;
};

static int label_cmp(const void *a, const void *b)
{
	const struct label_line *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int tbr_labels_sort(struct tbr *r)
{
	char path[TBR_PATH], tmp[TBR_PATH];
	if (tbr_path(r, "labels.jsonl", path, sizeof(path)) ||
	    tbr_path(r, "labels.jsonl.tmp", tmp, sizeof(tmp)))
		return -1;
	size_t n = 0;
	char *text = file_read_all(path, 256u << 20, &n);
	if (!text) {
		tbr_err("%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 16, count = 0;
	struct label_line *v = malloc(cap * sizeof(*v));
	for (size_t pos = 0; v && pos < n;) {
		const char *nl = memchr(text + pos, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - (text + pos)) : n - pos;
		if (len) {
			if (count == cap) {
				struct label_line *nv = realloc(v, cap * 2 * sizeof(*v));
				if (!nv) {
					free(v);
					v = NULL;
					break;
				}
				v = nv;
				cap *= 2;
			}
			struct label_line *l = &v[count];
			l->p = text + pos;
			l->n = len;
			l->idx = count;
			/* Lines without start_us (not ours) go last, in their order. */
			l->start = UINT64_MAX;
			const char *k = memmem(l->p, len, "\"start_us\":", 11);
			if (k) {
				uint64_t x = 0;
				const char *d = k + 11;
				while (d < l->p + len && *d >= '0' && *d <= '9' && x < UINT64_MAX / 10)
					x = x * 10 + (uint64_t)(*d++ - '0');
				l->start = x;
			}
			count++;
		}
		pos += len + (nl ? 1 : 0);
	}
	if (!v) {
		free(text);
		return -1;
	}
	qsort(v, count, sizeof(*v), label_cmp);
	FILE *f = fopen(tmp, "we");
	int rc = -1;
	if (f) {
		for (size_t i = 0; i < count; i++) {
			fwrite(v[i].p, 1, v[i].n, f);
			fputc('\n', f);
		}
		if (fclose(f) == 0 && rename(tmp, path) == 0)
			rc = 0;
	}
	if (rc)
		tbr_err("%s: cannot rewrite: %s", path, strerror(errno));
	r->labels = (unsigned)count;
	free(v);
	free(text);
	return rc;
}


static const char *role_name(enum tbr_role ro)
{
	switch (ro) {
	case TBR_BROKER: return "broker";
	case TBR_DASHBOARD: return "dashboard";
	case TBR_Z2M: return "zigbee2mqtt";
	case TBR_SENSOR: return "sensor";
	case TBR_ATTACKER: return "attacker";
	}
	return "?";
}

/* Its exit and its times in seconds from the run's start (the broker's are negative). */
static void json_exit(struct jw *w, const struct tbr *r, const struct tbr_proc *p)
{
	char s[64];
	jw_cstr(w, "status", tbr_status_str(p, s, sizeof(s)));
	jw_bool(w, "failed", tbr_proc_failed(p));
	snprintf(s, sizeof(s), "%.3f", p->m_start - r->t0);
	jw_raw(w, "started", s, strlen(s));
	if (p->running) {
		jw_raw(w, "ended", "null", 4);
	} else {
		snprintf(s, sizeof(s), "%.3f", p->m_end - r->t0);
		jw_raw(w, "ended", s, strlen(s));
	}
}

static void json_num(struct jw *w, const char *key, double v)
{
	char s[40];
	snprintf(s, sizeof(s), "%.3f", v);
	jw_raw(w, key, s, strlen(s));
}

int tbr_run_json(const struct tbr *r)
{
	const struct tb_scenario *sc = r->sc;
	struct jw w;
	jw_init(&w);
	char s[256];
	jw_open_obj(&w, NULL);
	jw_cstr(&w, "scenario", sc->name);
	jw_cstr(&w, "scenario_file", r->scenario_path);
	jw_cstr(&w, "mode", r->netns ? "netns" : "loopback");
	if (r->netns)
		jw_cstr(&w, "netns_prefix", r->prefix);
	else
		jw_raw(&w, "netns_prefix", "null", 4);
	jw_open_obj(&w, "broker");
	jw_cstr(&w, "ip", r->hosts[r->h_broker].ip_s);
	jw_uint(&w, "port", (uint64_t)r->port);
	jw_close_obj(&w);
	jw_cstr(&w, "home_net", r->netns ? "10.77.0.0/24" : "127.77.0.0/24");
	jw_cstr(&w, "network", r->netns ? "10.77.0.0/16" : "127.77.0.0/16");
	jw_cstr(&w, "capture_interface", r->cap_iface);
	jw_cstr(&w, "capture_filter", r->cap_filter);
	tb_iso_utc(s, sizeof(s), r->start_us);
	jw_cstr(&w, "start", s);
	jw_uint(&w, "start_us", r->start_us);
	tb_iso_utc(s, sizeof(s), r->end_us);
	jw_cstr(&w, "end", s);
	jw_uint(&w, "end_us", r->end_us);
	json_num(&w, "duration", sc->duration);
	jw_uint(&w, "seed", sc->seed);
	jw_uint(&w, "mqtt_version", sc->mqtt_version);
	jw_open_obj(&w, "security");
	jw_cstr(&w, "mode", sc->security == TB_SEC_HMAC ? "hmac" :
			    sc->security == TB_SEC_KEY ? "key" : "none");
	if (sc->security == TB_SEC_KEY)
		jw_cstr(&w, "shared_key", r->shared_key);
	if (sc->security == TB_SEC_HMAC)
		jw_cstr(&w, "key_file", "device-keys");
	jw_close_obj(&w);
	jw_open_arr(&w, "users");
	for (size_t i = 0; i < tb_n_users; i++) {
		jw_open_obj(&w, NULL);
		jw_cstr(&w, "username", tb_users[i].name);
		jw_cstr(&w, "password", tb_users[i].password);
		jw_close_obj(&w);
	}
	jw_close_arr(&w);

	jw_open_arr(&w, "hosts");
	for (unsigned h = 0; h < r->n_hosts; h++) {
		const struct tbr_host *x = &r->hosts[h];
		jw_open_obj(&w, NULL);
		jw_cstr(&w, "name", x->name);
		jw_cstr(&w, "role", role_name(x->role));
		jw_cstr(&w, "ip", x->ip_s);
		if (x->mac[0])
			jw_cstr(&w, "mac", x->mac);
		else
			jw_raw(&w, "mac", "null", 4);
		if (x->client_id[0])
			jw_cstr(&w, "client_id", x->client_id);
		else
			jw_raw(&w, "client_id", "null", 4);
		if (r->netns) {
			snprintf(s, sizeof(s), "%s%s", r->prefix, x->sfx);
			jw_cstr(&w, "netns", s);
		}
		if (x->role == TBR_SENSOR) {
			jw_cstr(&w, "room", x->room);
			jw_cstr(&w, "topic", x->topic);
			jw_uint(&w, "qos", (uint64_t)x->qos);
			jw_cstr(&w, "model", x->dht22 ? "dht22" : "dht11");
			jw_uint(&w, "seed", x->seed);
		}
		if (x->role != TBR_ATTACKER) {
			snprintf(s, sizeof(s), "hosts/%s.log", x->name);
			jw_cstr(&w, "log", s);
		}
		if (x->proc >= 0) {
			const struct tbr_proc *p = &r->procs[x->proc];
			jw_uint(&w, "pid", (uint64_t)p->pid);
			json_exit(&w, r, p);
		}
		jw_close_obj(&w);
	}
	jw_close_arr(&w);

	jw_open_arr(&w, "events");
	for (unsigned i = 0; i < sc->n_ev; i++) {
		const struct tb_event *e = &sc->ev[i];
		jw_open_obj(&w, NULL);
		json_num(&w, "at", e->at);
		jw_uint(&w, "line", e->line);
		static const char *const kn[] = { "attack", "tamper", "silence", "z2m-offline" };
		jw_cstr(&w, "event", kn[e->kind]);
		if (e->kind == TB_EV_ATTACK) {
			jw_cstr(&w, "kind", e->argv[0]);
			jw_open_arr(&w, "args");
			for (int a = 1; a < e->argc; a++)
				jw_cstr(&w, NULL, e->argv[a]);
			jw_close_arr(&w);
			for (unsigned p = 0; p < r->n_procs; p++) {
				if (r->procs[p].ev != (int)i)
					continue;
				snprintf(s, sizeof(s), "hosts/%s.log", r->procs[p].name);
				jw_cstr(&w, "log", s);
				jw_uint(&w, "pid", (uint64_t)r->procs[p].pid);
				json_exit(&w, r, &r->procs[p]);
			}
		} else {
			jw_cstr(&w, "device", e->device);
			if (e->kind == TB_EV_TAMPER)
				json_num(&w, "delta", e->delta);
			json_num(&w, "for", e->for_s);
		}
		jw_close_obj(&w);
	}
	jw_close_arr(&w);

	jw_open_obj(&w, "pcap");
	jw_cstr(&w, "file", "capture.pcap");
	jw_uint(&w, "packets", r->pcap_packets);
	jw_uint(&w, "received", r->pcap_recv);
	jw_uint(&w, "dropped", r->pcap_drop);
	jw_uint(&w, "if_dropped", r->pcap_ifdrop);
	jw_close_obj(&w);
	jw_uint(&w, "labels", r->labels);
	if (r->ids_path) {
		jw_open_obj(&w, "ids");
		jw_cstr(&w, "path", r->ids_path);
		jw_open_arr(&w, "args");
		for (unsigned i = 0; i < r->n_ids_args; i++)
			jw_cstr(&w, NULL, r->ids_args[i]);
		jw_close_arr(&w);
		jw_cstr(&w, "config", "ids.yaml");
		jw_cstr(&w, "eve", "eve.json");
		jw_cstr(&w, "db", "alerts.db");
		jw_cstr(&w, "log", "ids.log");
		jw_bool(&w, "console", r->ids_console);
		if (r->ids_started) {
			jw_uint(&w, "pid", (uint64_t)r->ids_pid);
			jw_cstr(&w, "status", tbr_ids_status_str(r, s, sizeof(s)));
			if (r->ids_exited && WIFEXITED(r->ids_status))
				jw_uint(&w, "exit", (uint64_t)WEXITSTATUS(r->ids_status));
			else
				jw_raw(&w, "exit", "null", 4);
			jw_bool(&w, "killed", r->ids_killed);
			json_num(&w, "started", r->ids_m_start - r->t0);
			if (r->ids_exited)
				json_num(&w, "ended", r->ids_m_end - r->t0);
			else
				jw_raw(&w, "ended", "null", 4);
		}
		jw_bool(&w, "failed", tbr_ids_failed(r) || !r->ids_started);
		jw_close_obj(&w);
	}
	jw_bool(&w, "ok", !r->failed);
	jw_close_obj(&w);
	jw_append(&w, "\n", 1);
	int rc = w.oom ? -1 : write_file(r, "run.json", w.buf, w.len, 0644);
	jw_deinit(&w);
	return rc;
}
