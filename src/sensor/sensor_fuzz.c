/*
 * sensor_fuzz.c - malformed or fuzzing sessions (the "fuzz" detector).
 *
 * Fuzzers (MQTTSA and the like) open many short sessions from one host,
 * each with an odd client id or a protocol violation, and often publish
 * before the CONNACK. One such session can be a buggy client; several
 * from one host within a window is someone probing the broker. The
 * detector counts, per client host and per window (60 s), the distinct
 * sessions that raised a suspicious anomaly of the MQTT parser (an odd
 * client id, a malformed message: the `anomalies` list below), and the
 * sessions whose only oddity is a message before the session was set up
 * (`unintroduced_message`: MQTT 3.1.1 §3.1.4 lets a client publish right
 * after its CONNECT, and some Paho versions do). Its score is
 *
 *   suspicious sessions + unintroduced sessions / unintroduced-per-session
 *
 * and a host whose score reaches `sessions` (3), with at least one
 * suspicious session, is reported as a fuzzing_sessions finding (layer
 * "fuzz") at each new session counted; rule 1000037 turns it into an
 * alert. Sessions that only publish early never report alone.
 *
 * A protocol-level detector: it runs with --no-detectors too. Memory: a
 * keyed table of max-hosts hosts (1024), least recently used first out;
 * an entry needs a TCP session with an MQTT violation, which a spoofed
 * address cannot open. Nothing is allocated per event.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/anomalies.h"
#include "net/flow_table.h"
#include "util/glob.h"
#include "util/jw.h"
#include "util/ktable.h"

#define FZ_LAYER "fuzz"
#define FZ_EVENT "fuzzing_sessions"
#define FZ_UNINTRODUCED "unintroduced_message"
#define FZ_PARSER_LAYER "proto_parser"
#define FZ_RECENT 16            /* sessions of a host remembered per window */
#define FZ_MAX_HOSTS_CAP 1048576
#define FZ_MAX_HOSTS_DEFAULT 1024 /* fuzzers are few: 384 KiB */
#define FZ_GLOBS_MAX 64
#define FZ_GLOB_LEN 64
#define FZ_NAME_LEN 40

/* What makes a session suspicious: parser anomalies a conforming client
 * never causes (not the tracking ones: missing_*, duplicate_ack, memcaps). */
static const char *const fz_default_anomalies[] = {
	"client_id_*", "malformed_traffic", "reserved_flags",
	"connect_reserved_flag", "invalid_*", "utf8_null_character",
	"wildcard_in_publish_topic", "duplicate_property",
	"misplaced_property", "unknown_property", "topic_alias_zero",
	"trailing_bytes", "empty_topic", "no_topics",
	"overlong_length_encoding", "zero_packet_id", "double_connect",
	"unassigned_msg_type",
};

/* A session counted in the current window, and how. */
struct fz_seen {
	uint64_t flow_id;
	bool suspicious; /* else: unintroduced only */
};

struct fz_host {
	struct kt_node node;
	uint8_t family;
	uint8_t addr[16];
	uint64_t window_start_us;
	uint32_t suspicious;   /* sessions with a suspicious anomaly */
	uint32_t unintroduced; /* sessions with only unintroduced_message */
	uint32_t n_seen, seen_pos;
	struct fz_seen seen[FZ_RECENT];
	char last[FZ_NAME_LEN];  /* the latest suspicious anomaly */
};

struct fuzz {
	struct sensor_env env;
	struct ktable *kt;
	uint64_t window_us;
	uint32_t sessions;
	uint32_t per_unintroduced;
	char globs[FZ_GLOBS_MAX][FZ_GLOB_LEN];
	unsigned n_globs;
	struct jw meta;
	uint64_t reports, sessions_counted;
};

static bool suspicious_name(const struct fuzz *z, const char *name)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < z->n_globs; i++)
		if (glob_match(z->globs[i], name, n))
			return true;
	return false;
}

static size_t addr_len(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

static struct fz_host *host_get(struct fuzz *z, uint8_t family, const uint8_t *a)
{
	size_t al = addr_len(family);
	uint8_t key[17];
	key[0] = family;
	memcpy(key + 1, a, al);
	uint32_t h = kt_hash(z->kt, key, al + 1);
	for (struct fz_host *e = kt_first(z->kt, h); e; e = kt_next(z->kt, e))
		if (kt_hash_of(e) == h && e->family == family && !memcmp(e->addr, a, al)) {
			kt_touch(z->kt, e);
			return e;
		}
	struct fz_host *v = kt_victim(z->kt);
	if (v)
		kt_remove(z->kt, v, 1);
	struct fz_host *e = kt_insert(z->kt, h, 0, 0);
	if (!e)
		return NULL;
	e->family = family;
	memset(e->addr, 0, sizeof(e->addr));
	memcpy(e->addr, a, al);
	e->window_start_us = 0;
	e->suspicious = e->unintroduced = e->n_seen = e->seen_pos = 0;
	e->last[0] = 0;
	return e;
}

static struct fz_seen *seen_find(struct fz_host *e, uint64_t flow_id)
{
	for (uint32_t i = 0; i < e->n_seen; i++)
		if (e->seen[i].flow_id == flow_id)
			return &e->seen[i];
	return NULL;
}

static void seen_add(struct fz_host *e, uint64_t flow_id, bool suspicious)
{
	struct fz_seen *s = &e->seen[e->seen_pos];
	e->seen_pos = (e->seen_pos + 1) % FZ_RECENT;
	if (e->n_seen < FZ_RECENT)
		e->n_seen++;
	s->flow_id = flow_id;
	s->suspicious = suspicious;
}

static void fz_report(struct fuzz *z, const struct fz_host *e, const struct det_event *ev)
{
	char detail[192];
	snprintf(detail, sizeof(detail),
		 "%u malformed or suspicious session%s and %u publishing before CONNACK "
		 "from this host within %.0f s (latest: %s)",
		 e->suspicious, e->suspicious == 1 ? "" : "s", e->unintroduced,
		 (double)z->window_us / 1e6, e->last);
	struct jw *w = &z->meta;
	jw_reset(w);
	jw_uint(w, "suspicious_sessions", e->suspicious);
	jw_uint(w, "unintroduced_sessions", e->unintroduced);
	jw_uint(w, "window_s", z->window_us / 1000000u);
	jw_cstr(w, "latest", e->last);
	z->reports++;
	struct sensor_report r = {
		.base = ev,
		.ts_us = ev->ts_us,
		.layer = FZ_LAYER,
		.event = FZ_EVENT,
		.detail = detail,
		.meta = w->oom ? NULL : w->buf,
		.meta_len = w->oom ? 0 : w->len,
	};
	z->env.report(z->env.ud, &r);
}

static void fuzz_anomaly(void *state, const struct det_event *ev)
{
	struct fuzz *z = state;
	/* the MQTT parser's, sent by a client, in a session */
	if (!ev->anomaly || !ev->layer || strcmp(ev->layer, FZ_PARSER_LAYER) || ev->toclient ||
	    !ev->flow || !ev->src || (ev->family != 4 && ev->family != 6))
		return;
	bool early = !strcmp(ev->anomaly, FZ_UNINTRODUCED);
	bool susp = !early && suspicious_name(z, ev->anomaly);
	if (!early && !susp)
		return;
	struct fz_host *e = host_get(z, ev->family, ev->src);
	if (!e)
		return;
	if (!e->window_start_us || ev->ts_us < e->window_start_us ||
	    ev->ts_us - e->window_start_us >= z->window_us) {
		e->window_start_us = ev->ts_us;
		e->suspicious = e->unintroduced = e->n_seen = e->seen_pos = 0;
	}
	if (susp)
		sensor_copy_str(e->last, sizeof(e->last), ev->anomaly);
	uint64_t fid = ev->flow->id;
	struct fz_seen *s = seen_find(e, fid);
	bool counted = false;
	if (!s) {
		seen_add(e, fid, susp);
		if (susp)
			e->suspicious++;
		else
			e->unintroduced++;
		counted = true;
	} else if (susp && !s->suspicious) {
		/* an early publisher that turns out malformed too */
		s->suspicious = true;
		e->unintroduced--;
		e->suspicious++;
		counted = true;
	}
	if (!counted)
		return;
	z->sessions_counted++;
	uint32_t score = e->suspicious + e->unintroduced / z->per_unintroduced;
	if (e->suspicious >= 1 && score >= z->sessions)
		fz_report(z, e, ev);
}

static void fuzz_free(void *state)
{
	struct fuzz *z = state;
	if (!z)
		return;
	kt_free(z->kt);
	jw_deinit(&z->meta);
	free(z);
}

/* One item of `anomalies`: a name or glob that matches some anomaly the
 * engine emits (a typo would otherwise never count anything). */
static bool glob_add(struct fuzz *z, FILE *log, const cJSON *it)
{
	const char *g = cJSON_IsString(it) ? it->valuestring : NULL;
	if (!g || !g[0] || strlen(g) >= FZ_GLOB_LEN || z->n_globs >= FZ_GLOBS_MAX) {
		scfg_err(log, it, "expected an anomaly name or glob of 1-%d bytes (at most %d)",
			 FZ_GLOB_LEN - 1, FZ_GLOBS_MAX);
		return false;
	}
	if (!anomaly_glob_known(g)) {
		scfg_err(log, it, "'%s' matches no anomaly event ('mqttids rules check --list "
			 "anomalies' lists them)", g);
		return false;
	}
	sensor_copy_str(z->globs[z->n_globs++], FZ_GLOB_LEN, g);
	return true;
}

static bool whole(double v, double lo, double hi)
{
	return v >= lo && v <= hi && v == floor(v);
}

static int fuzz_init(const struct sensor_env *env, const cJSON *cfg, void **state)
{
	FILE *log = env->log;
	struct fuzz *z = calloc(1, sizeof(*z));
	if (!z) {
		fprintf(log, "mqttids: fuzz: out of memory\n");
		return -1;
	}
	z->env = *env;
	jw_init(&z->meta);
	bool bad = false;
	static const char *const keys[] = { "enabled", "window", "sessions",
					    "unintroduced-per-session", "max-hosts",
					    "anomalies", NULL };
	if (!scfg_known_keys(log, cfg, keys))
		bad = true;
	double win = scfg_dur(log, cfg, "window", 60, &bad);
	double ses = scfg_num(log, cfg, "sessions", 3, &bad);
	double per = scfg_num(log, cfg, "unintroduced-per-session", 5, &bad);
	double maxh = scfg_num(log, cfg, "max-hosts", FZ_MAX_HOSTS_DEFAULT, &bad);
	if (!bad && !(win >= 1 && win <= 86400)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "window"),
			 "expected a duration from 1 s to 1 d");
		bad = true;
	}
	if (!bad && !whole(ses, 1, FZ_RECENT)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "sessions"),
			 "expected a whole number from 1 to %d", FZ_RECENT);
		bad = true;
	}
	if (!bad && !whole(per, 1, 1000)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "unintroduced-per-session"),
			 "expected a whole number from 1 to 1000");
		bad = true;
	}
	if (!bad && !whole(maxh, 1, FZ_MAX_HOSTS_CAP)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "max-hosts"),
			 "expected a whole number from 1 to %d", FZ_MAX_HOSTS_CAP);
		bad = true;
	}
	const cJSON *list = scfg_list(cfg, "anomalies");
	if (!bad && list) {
		const cJSON *it;
		if (cJSON_IsString(list)) {
			bad = !glob_add(z, log, list);
		} else {
			cJSON_ArrayForEach(it, list)
			{
				if (!glob_add(z, log, it)) {
					bad = true;
					break;
				}
			}
		}
	} else if (!bad) {
		for (size_t i = 0; i < sizeof(fz_default_anomalies) / sizeof(fz_default_anomalies[0]); i++)
			sensor_copy_str(z->globs[z->n_globs++], FZ_GLOB_LEN, fz_default_anomalies[i]);
	}
	if (bad) {
		fuzz_free(z);
		return -1;
	}
	z->window_us = (uint64_t)(win * 1e6);
	z->sessions = (uint32_t)ses;
	z->per_unintroduced = (uint32_t)per;
	struct kt_opts o = {
		.name = "fuzz_hosts",
		.capacity = (uint32_t)maxh,
		.entry_size = sizeof(struct fz_host),
		.n_parts = 1,
		.n_lists = 1,
		.list = { { 0, KT_EVICT, 1 } },
		.n_evict = 1,
		.evict = { 0 },
	};
	z->kt = kt_new(&o);
	if (!z->kt) {
		fprintf(log, "mqttids: fuzz: out of memory for %.0f hosts\n", maxh);
		fuzz_free(z);
		return -1;
	}
	*state = z;
	return 0;
}

static void fuzz_stats(void *state, struct sensor_stats *out)
{
	struct fuzz *z = state;
	const struct kt_stats *ks = kt_stats(z->kt);
	sensor_stats_add(out, "sessions_counted", z->sessions_counted);
	sensor_stats_add(out, "reports", z->reports);
	sensor_stats_add(out, "hosts", ks->active);
	sensor_stats_add(out, "hosts_max", kt_capacity(z->kt));
	sensor_stats_add(out, "evicted", ks->evicted);
}

static size_t fuzz_tables(void *state, const struct ktable **out, size_t max)
{
	if (!max)
		return 0;
	out[0] = ((const struct fuzz *)state)->kt;
	return 1;
}

const struct sensor_detector sensor_fuzz_detector = {
	.name = "fuzz",
	.core = true,
	.init = fuzz_init,
	.on_anomaly = fuzz_anomaly,
	.stats = fuzz_stats,
	.tables = fuzz_tables,
	.free = fuzz_free,
};
