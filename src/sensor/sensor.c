/*
 * sensor.c - the host of the data detectors: the explicit registry, one
 * digest per MQTT message (session strings, client address, telemetry
 * extracted once, through jsmn tokens or else cJSON, the payload parsed
 * by cJSON at most once), the clock, and
 * the state file that carries baselines, inventory and learned intervals
 * across restarts (docs/sensors.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mqtt/mqtt_session.h"
#include "net/flow_table.h"
#include "sensor/sensor_cfg.h"
#include "sensor/sensor_telemetry.h"
#include "util/file.h"

#define STATE_VERSION 1
#define STATE_MAX_BYTES (256u << 20) /* a state file larger than this is refused */
#define STATE_PATH_MAX 4096          /* the damaged copy's name */
#define STATE_ASIDE_TRIES 100        /* names tried for the damaged copy */

/* The registry: every detector, in the order they see each message. */
static const struct sensor_detector *const registry[] = {
	&sensor_takeover_detector,
	&sensor_value_detector,
	&sensor_integrity_detector,
	&sensor_authz_detector,
	&sensor_inventory_detector,
	&sensor_inactivity_detector,
	&sensor_fuzz_detector,
};
#define N_DETECTORS (sizeof(registry) / sizeof(registry[0]))

struct sensors {
	struct sensor_env env;
	struct tm_cfg tm;
	struct tm_arena *arena;
	struct tm_scan *scan;
	void *state[N_DETECTORS];
	bool on[N_DETECTORS];
	uint64_t last_tick_us;
	/* The message being dispatched: its lazily parsed payload. */
	const struct sensor_msg *cur;
	const cJSON *cur_json;
	bool cur_parsed;
	/* Periodic saving of the state file (live). */
	char state_path[512];
	uint64_t save_every_us, next_save_us;
	struct tm_result tmr;
	bool core_only;
	uint64_t n_msgs, n_telemetry, n_bad_payloads;
};

const struct sensor_detector *const *sensors_registry(size_t *n)
{
	*n = N_DETECTORS;
	return registry;
}

void *sensors_state(struct sensors *s, const char *name)
{
	for (size_t i = 0; i < N_DETECTORS; i++)
		if (s->on[i] && !strcmp(registry[i]->name, name))
			return s->state[i];
	return NULL;
}

void sensor_addr_copy(struct sensor_addr *dst, const struct sensor_addr *src)
{
	memcpy(dst, src, sizeof(*dst));
}

void sensor_copy_bytes(char *dst, size_t cap, const void *p, size_t n)
{
	size_t k = p ? (n < cap - 1 ? n : cap - 1) : 0;
	const char *z = k ? memchr(p, 0, k) : NULL;
	if (z)
		k = (size_t)(z - (const char *)p);
	if (k)
		memcpy(dst, p, k);
	dst[k] = 0;
}

void sensor_copy_str(char *dst, size_t cap, const char *s)
{
	size_t k = s ? strnlen(s, cap - 1) : 0;
	if (k)
		memcpy(dst, s, k);
	dst[k] = 0;
}

const cJSON *sensor_msg_json(const struct sensor_msg *m)
{
	struct sensors *s = m ? m->host : NULL;
	if (!s || s->cur != m || !m->m || m->m->type != MQTT_PUBLISH)
		return NULL;
	if (!s->cur_parsed) {
		s->cur_parsed = true;
		s->cur_json = NULL;
		if (m->payload.len && m->payload.len <= s->tm.max_payload)
			s->cur_json = tm_json_parse(s->arena, m->payload.p, m->payload.len);
	}
	return s->cur_json;
}

/* ---- lifetime ---- */

struct sensors *sensors_new(const cJSON *cfg, void (*report)(void *, const struct sensor_report *),
			    void *ud, bool live, FILE *log)
{
	struct sensors_opts o = {
		.cfg = cfg, .report = report, .ud = ud, .live = live, .log = log,
	};
	return sensors_open(&o);
}

struct sensors *sensors_open(const struct sensors_opts *o)
{
	const cJSON *cfg = o->cfg;
	FILE *log = o->log;
	struct sensors *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->env.report = o->report;
	s->env.ud = o->ud;
	s->env.log = log;
	s->env.live = o->live;
	s->env.tm = &s->tm;
	s->env.max_client_ids = o->max_client_ids;
	s->core_only = o->core_only;
	/* --no-detectors: the data detectors' sections are not even read. */
	const cJSON *tsec = o->core_only ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "telemetry");
	if (tm_cfg_parse(log, cJSON_IsNull(tsec) ? NULL : tsec, &s->tm) != 0)
		goto fail;
	/* cJSON nodes are ~64 bytes: 16 per payload byte covers any document that fits max-payload. */
	s->arena = tm_arena_new((size_t)s->tm.max_payload * 16 + 65536);
	s->scan = tm_scan_new(s->tm.max_payload);
	if (!s->arena || !s->scan)
		goto fail;
	for (size_t i = 0; i < N_DETECTORS; i++) {
		if (o->core_only && !registry[i]->core)
			continue;
		const cJSON *sec = cJSON_GetObjectItemCaseSensitive(cfg, registry[i]->name);
		if (cJSON_IsNull(sec))
			sec = NULL; /* "value:" with only comments under it */
		bool bad = false;
		if (!scfg_bool(log, sec, "enabled", true, &bad))
			continue;
		if (registry[i]->init(&s->env, sec, &s->state[i]) != 0) {
			if (log)
				fprintf(log, "mqttids: the %s detector could not start (see above)\n",
					registry[i]->name);
			goto fail;
		}
		s->on[i] = true;
	}
	if (o->core_only)
		return s; /* the core detectors keep no state */
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(cfg, "state");
	if (cJSON_IsNull(st))
		st = NULL;
	bool bad = false;
	const char *path = scfg_str(log, st, "file", "", &bad);
	if (path && strlen(path) < sizeof(s->state_path))
		snprintf(s->state_path, sizeof(s->state_path), "%s", path);
	else if (path)
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(st, "file"), "path too long; no state file");
	double every = scfg_dur(log, st, "save-interval", 300, &bad);
	s->save_every_us = (uint64_t)(every * 1e6);
	return s;
fail:
	sensors_free(s);
	return NULL;
}

void sensors_free(struct sensors *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < N_DETECTORS; i++)
		if (s->on[i] && registry[i]->free)
			registry[i]->free(s->state[i]);
	tm_arena_free(s->arena);
	tm_scan_free(s->scan);
	free(s);
}

/* ---- the message digest ---- */

/* The client end of ev; runs for every message, so no printf. */
static void addr_of(struct sensor_addr *a, const struct det_event *ev, bool client_is_src)
{
	const uint8_t *ip = client_is_src ? ev->src : ev->dst;
	const char *str = client_is_src ? ev->src_str : ev->dst_str;
	a->family = 0;
	memset(a->a, 0, sizeof(a->a));
	if ((ev->family == 4 || ev->family == 6) && ip) {
		a->family = ev->family;
		memcpy(a->a, ip, ev->family == 4 ? 4 : 16);
	}
	size_t n = str ? strnlen(str, sizeof(a->str) - 1) : 0;
	if (n)
		memcpy(a->str, str, n);
	a->str[n] = 0;
	a->has_mac = ev->cli_mac != NULL;
	if (a->has_mac)
		memcpy(a->mac, ev->cli_mac, 6);
	else
		memset(a->mac, 0, sizeof(a->mac));
}

static void run_ticks(struct sensors *s, uint64_t now_us)
{
	if (now_us <= s->last_tick_us)
		return;
	s->last_tick_us = now_us;
	for (size_t i = 0; i < N_DETECTORS; i++)
		if (s->on[i] && registry[i]->on_tick)
			registry[i]->on_tick(s->state[i], now_us);
}

void sensors_event(struct sensors *s, const struct det_event *ev)
{
	if (!s || ev->kind != DET_MQTT || !ev->msg)
		return;
	/* Timers that fell due before this message come first, so a silence
	 * that ended with this very message is still reported. */
	run_ticks(s, ev->ts_us);
	const struct mqtt_msg *mm = ev->msg;
	struct sensor_msg m;
	memset(&m, 0, sizeof(m));
	m.ev = ev;
	m.m = mm;
	m.ts_us = ev->ts_us;
	m.from_client = !ev->toclient;
	m.host = s;
	const struct mqtt_state *st = ev->st;
	m.client_id = st && st->client_id ? st->client_id : "";
	m.username = st && st->username ? st->username : "";
	addr_of(&m.client, ev, m.from_client);
	if (mm->type == MQTT_PUBLISH) {
		m.topic = mm->topic;
		m.payload = mm->payload;
	}
	s->cur = &m;
	s->cur_parsed = false;
	s->cur_json = NULL;
	s->n_msgs++;
	if (mm->type == MQTT_PUBLISH && m.from_client && s->tm.n && !s->core_only) {
		int ent = tm_match(&s->tm, m.topic.p, m.topic.len);
		if (ent >= 0) {
			const struct tm_entry *e = &s->tm.e[ent];
			if (!tm_extract_fast(&s->tm, ent, m.client_id, m.topic.p, m.topic.len,
					     m.payload.p, m.payload.len, s->scan, &s->tmr)) {
				const cJSON *json = NULL;
				if (e->format != TM_FMT_NUMBER)
					json = sensor_msg_json(&m);
				tm_extract(&s->tm, ent, m.client_id, m.topic.p, m.topic.len,
					   m.payload.p, m.payload.len, json, &s->tmr);
			}
			m.tm = &s->tmr;
			s->n_telemetry++;
			if (s->tmr.bad)
				s->n_bad_payloads++;
		}
	}
	for (size_t i = 0; i < N_DETECTORS; i++)
		if (s->on[i] && registry[i]->on_msg)
			registry[i]->on_msg(s->state[i], &m);
	s->cur = NULL;
}

size_t sensors_stats(struct sensors *s, const char **names,
		     struct sensor_stats *out, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; s && i < N_DETECTORS && k < max; i++) {
		if (!s->on[i] || !registry[i]->stats)
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		registry[i]->stats(s->state[i], &out[k]);
		names[k++] = registry[i]->name;
	}
	return k;
}

size_t sensors_tables(struct sensors *s, const struct ktable **out, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; s && i < N_DETECTORS && k < max; i++)
		if (s->on[i] && registry[i]->tables)
			k += registry[i]->tables(s->state[i], out + k, max - k);
	return k;
}

void sensors_anomaly(struct sensors *s, const struct det_event *ev)
{
	if (!s || ev->kind != DET_ANOMALY)
		return;
	run_ticks(s, ev->ts_us);
	for (size_t i = 0; i < N_DETECTORS; i++)
		if (s->on[i] && registry[i]->on_anomaly)
			registry[i]->on_anomaly(s->state[i], ev);
}

void sensors_flow_end(struct sensors *s, const struct flow *f)
{
	if (!s)
		return;
	for (size_t i = 0; i < N_DETECTORS; i++)
		if (s->on[i] && registry[i]->on_flow_end)
			registry[i]->on_flow_end(s->state[i], f);
}

void sensors_tick(struct sensors *s, uint64_t now_us)
{
	if (!s)
		return;
	run_ticks(s, now_us);
	if (s->env.live && s->state_path[0] && s->save_every_us) {
		if (!s->next_save_us)
			s->next_save_us = now_us + s->save_every_us;
		else if (now_us >= s->next_save_us) {
			s->next_save_us = now_us + s->save_every_us;
			sensors_save_state(s, s->state_path);
		}
	}
}

const char *sensors_state_path(const struct sensors *s)
{
	return s->state_path[0] ? s->state_path : NULL;
}

/* ---- state ---- */

#define STATE_FILE_MODE 0600

/*
 * A state file that cannot be used is moved aside, to PATH.damaged-TIME,
 * before the run starts without it: the save at exit would otherwise
 * replace what may be the only copy of months of learning. Says where
 * it went (or why it could not be moved).
 */
static void state_set_aside(struct sensors *s, const char *path, const char *why,
			    bool aside_ok)
{
	if (!aside_ok) {
		fprintf(s->env.log, "mqttids: state %s: %s; not used\n", path, why);
		return;
	}
	char aside[STATE_PATH_MAX];
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32] = "";
	if (gmtime_r(&now, &tm))
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	int err = ENAMETOOLONG;
	/* link then unlink: never replaces a file already at the new name */
	for (unsigned i = 0; i < STATE_ASIDE_TRIES; i++) {
		int k = i ? snprintf(aside, sizeof(aside), "%s.damaged-%s-%u", path, stamp, i)
			  : snprintf(aside, sizeof(aside), "%s.damaged-%s", path, stamp);
		if (k < 0 || (size_t)k >= sizeof(aside))
			break;
		if (link(path, aside) == 0) {
			err = unlink(path) == 0 ? 0 : errno;
			break;
		}
		err = errno;
		if (err != EEXIST)
			break;
	}
	if (!err) {
		fprintf(s->env.log, "mqttids: state %s: %s; kept as %s, starting without it\n",
			path, why, aside);
		return;
	}
	fprintf(s->env.log, "mqttids: state %s: %s; starting without it, and it could not be "
		"set aside (%s): the save replaces it\n", path, why, strerror(err));
}

/* Loads path; a file that cannot be used is set aside when aside_ok. */
static int load_state(struct sensors *s, const char *path, bool aside_ok)
{
	size_t len = 0;
	errno = 0;
	char *buf = file_read_all(path, STATE_MAX_BYTES, &len);
	if (!buf) {
		int e = errno;
		if (e == ENOENT)
			return 0; /* first run: nothing learned yet */
		char why[128];
		snprintf(why, sizeof(why), "%s", e == EFBIG ? "larger than the state limit"
							    : strerror(e));
		state_set_aside(s, path, why, aside_ok);
		return -1;
	}
	cJSON *root = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (!cJSON_IsObject(root)) {
		state_set_aside(s, path, "not a JSON object (damaged?)", aside_ok);
		cJSON_Delete(root);
		return -1;
	}
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(ver) || ver->valuedouble != STATE_VERSION) {
		char why[96];
		snprintf(why, sizeof(why), "version %s not understood (this is %d)",
			 cJSON_IsNumber(ver) ? "other" : "missing", STATE_VERSION);
		state_set_aside(s, path, why, aside_ok);
		cJSON_Delete(root);
		return -1;
	}
	for (size_t i = 0; i < N_DETECTORS; i++) {
		const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, registry[i]->name);
		if (s->on[i] && registry[i]->load && cJSON_IsObject(sec))
			registry[i]->load(s->state[i], sec);
	}
	cJSON_Delete(root);
	return 0;
}

int sensors_load_state(struct sensors *s, const char *path)
{
	return load_state(s, path, true);
}

int sensors_peek_state(struct sensors *s, const char *path)
{
	return load_state(s, path, false);
}

int sensors_save_state(struct sensors *s, const char *path)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return -1;
	cJSON_AddNumberToObject(root, "version", STATE_VERSION);
	cJSON_AddNumberToObject(root, "event_time_us", (double)s->last_tick_us);
	for (size_t i = 0; i < N_DETECTORS; i++) {
		if (!s->on[i] || !registry[i]->save)
			continue;
		cJSON *sec = registry[i]->save(s->state[i]);
		if (sec)
			cJSON_AddItemToObject(root, registry[i]->name, sec);
	}
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text) {
		fprintf(s->env.log, "mqttids: state %s: out of memory\n", path);
		return -1;
	}
	int rc = -1;
	/* A fresh temporary file (never one planted beside path), 0600: the
	 * state names devices, addresses and counters. */
	char err[700];
	size_t n = strlen(text);
	text[n] = '\n'; /* over the NUL: the buffer is ours, written whole */
	if (file_write_atomic(path, text, n + 1, STATE_FILE_MODE, err, sizeof(err)) != 0) {
		text[n] = 0;
		fprintf(s->env.log, "mqttids: state %s; the previous state is kept\n", err);
		goto out;
	}
	rc = 0;
out:
	cJSON_free(text);
	return rc;
}
