/*
 * sensor_inactivity.c - device inactivity (issue 5 §6, seed 004): Zigbee2MQTT
 * devices that the bridge reports offline or that stop reporting for their
 * timeout, and any publishing device (telemetry device or client id) silent
 * for longer than its learned publish interval allows (docs/sensors.md,
 * "Inactivity").
 *
 * Signs of life are PUBLISH messages only (a silent sensor still sends
 * PINGREQ). Timers run on event time: a deadline min-heap over a keyed
 * table (util/ktable.h) of max-devices preallocated entries; on_msg and
 * on_tick fire every deadline that passed, with the deadline itself as the
 * report's time, so an offline run gives the same reports at the same times
 * as the live one.
 *
 * The table has two recency lists: IN_L_WATCHED (devices whose episode has
 * not been reported; never displaced) and IN_L_REPORTED (silent or offline
 * and reported: nothing more to say about them until they recover). Only
 * the second is in evict order, so a full table gives a new device the
 * place of the device reported longest ago, or refuses it.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/glob.h"
#include "sensor/sensor.h"
#include "sensor/sensor_telemetry.h"
#include "util/ktable.h"
#include "util/timefmt.h"
#include "util/jw.h"

#define IN_SAMPLES_MAX 16            /* gaps kept while learning (min-samples cap) */
#define IN_MAX_OVERRIDES 64          /* per-device entries */
#define IN_MAX_DEVICES_CAP 1000000u
#define IN_TIMEOUT_CAP_S (366.0 * 86400.0) /* no timeout beyond a year */
#define IN_IEEE_MAX 24
#define IN_BASE_MAX 128
#define IN_NONE UINT32_MAX
/* The table's recency lists (most recently moved at the head). */
#define IN_L_WATCHED 0               /* episode not reported: never displaced */
#define IN_L_REPORTED 1              /* silent or offline, reported: evictable */
#define IN_LOG_LIMIT 20              /* messages about bad input per run */
#define IN_FORGED_WINDOW_US 2000000u /* a forged bridge/state's forwarded copies */
#define IN_EWMA_WEIGHT 0.125         /* of a new gap in the learned interval */

enum in_kind { IN_GENERIC = 0, IN_Z2M = 1 };
enum in_avail { IN_AV_UNKNOWN = 0, IN_AV_ONLINE, IN_AV_OFFLINE };
enum in_bridge { IN_BR_UNKNOWN = 0, IN_BR_ONLINE, IN_BR_OFFLINE };

/*
 * A device: an entry of the keyed table, keyed by (kind, name). The flags
 * come first so that they fill the room after the table's node.
 */
struct in_dev {
	struct kt_node node;
	uint8_t kind;
	bool seen;
	bool skip_gap;                /* the next gap spans a restart: not a sample */
	bool silent_reported;         /* device_silent for this episode */
	bool offline_reported;        /* z2m_device_offline for this episode */
	/* generic: the learned publish interval */
	bool scheduled;               /* two signs of life min-interval apart seen */
	bool learned;
	bool has_override;
	uint8_t n_samples;
	/* z2m */
	bool listed, stale, battery, disabled;
	uint8_t avail;
	char name[SENSOR_ID_MAX + 1];
	uint32_t heap_pos;            /* IN_NONE: no deadline */
	uint64_t deadline_us;
	uint64_t last_seen_us;        /* last sign of life; valid when seen */
	uint64_t anchor_us;           /* the timer runs from here */
	/* generic */
	float samples[IN_SAMPLES_MAX];
	double interval_s, max_gap_s;
	double override_s;
	/* z2m */
	char ieee[IN_IEEE_MAX];
	uint64_t bridge_last_seen_us; /* the payload's last_seen; 0: none */
	struct sensor_addr addr;
};

struct in_override {
	char glob[SENSOR_ID_MAX + 1];
	double timeout_s;             /* 0: the device is not tracked */
};

struct inact {
	const struct sensor_env *env;
	FILE *log;
	bool report_recovery;
	uint32_t max_devices;
	/* zigbee2mqtt */
	bool z_on;
	char z_base[IN_BASE_MAX];
	size_t z_base_len;
	double z_timeout_s, z_battery_s;
	char z_bridge_id[SENSOR_ID_MAX + 1]; /* "" unknown */
	bool z_bridge_pinned;         /* from the configuration */
	uint8_t bridge;
	bool have_list;
	uint64_t forged_state_us;     /* a non-bridge client published bridge/state */
	/* generic */
	bool g_on, g_learn;
	double g_timeout_s, g_factor, g_min_timeout_s, g_min_interval_s;
	uint32_t g_min_samples;
	struct in_override ov[IN_MAX_OVERRIDES];
	uint32_t n_ov;
	/* the table */
	struct ktable *kt;
	struct in_dev **heap;
	uint32_t n_heap;
	uint64_t now_us;
	bool restart_pending;         /* after load: restart timers at the next event */
	uint64_t n_logged;
	bool full_logged;
	/* report scratch */
	struct jw w;
	char detail[512];
};

/* ---- small helpers ---- */

/* The table's seeded hash of a key: the kind byte, then the name. */
static uint32_t in_hash(const struct inact *st, uint8_t kind, const char *s, size_t n)
{
	uint8_t key[1 + SENSOR_ID_MAX];
	if (n > SENSOR_ID_MAX)
		n = SENSOR_ID_MAX;
	key[0] = kind;
	memcpy(key + 1, s, n);
	return kt_hash(st->kt, key, 1 + n);
}

static void in_copy(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* A name for a human line: printable ASCII, the rest as '?'. */
static void in_printable(char *dst, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 1 < cap; s++)
		dst[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	dst[o] = 0;
}

static void in_logf(struct inact *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Messages about bad input (state, bridge/devices), at most IN_LOG_LIMIT per run. */
static void in_logf(struct inact *st, const char *fmt, ...)
{
	if (!st->log || st->n_logged >= IN_LOG_LIMIT)
		return;
	st->n_logged++;
	va_list ap;
	va_start(ap, fmt);
	fputs("mqttids: inactivity: ", st->log);
	vfprintf(st->log, fmt, ap);
	fputc('\n', st->log);
	va_end(ap);
	if (st->n_logged == IN_LOG_LIMIT)
		fputs("mqttids: inactivity: further such messages suppressed\n", st->log);
}

static bool in_digits(const char *s, unsigned n, unsigned *out)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * Parses Zigbee2MQTT's last_seen "ISO_8601" form: YYYY-MM-DDTHH:MM:SS, an
 * optional fraction, then Z or +HH:MM / +HHMM. Forms without a zone
 * (ISO_8601_local) cannot be placed in time and are refused. Returns true
 * with *us (UTC microseconds since 1970) set.
 */
static bool in_parse_iso(const char *s, uint64_t *us)
{
	unsigned y, mo, d, h, mi, se;
	size_t n = strlen(s);
	if (n < 20 || n > 40 || !in_digits(s, 4, &y) || s[4] != '-' || !in_digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !in_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') ||
	    !in_digits(s + 11, 2, &h) || s[13] != ':' || !in_digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !in_digits(s + 17, 2, &se))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	const char *p = s + 19;
	uint64_t frac = 0;
	if (*p == '.') {
		p++;
		unsigned k = 0;
		while (*p >= '0' && *p <= '9') {
			if (k < 6) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				k++;
			}
			p++;
		}
		if (k == 0)
			return false;
		while (k++ < 6)
			frac *= 10;
	}
	int64_t off_s = 0;
	if (*p == 'Z' && !p[1]) {
		off_s = 0;
	} else if (*p == '+' || *p == '-') {
		unsigned oh, om;
		const char *q = p + 1;
		if (!in_digits(q, 2, &oh))
			return false;
		q += 2;
		if (*q == ':')
			q++;
		if (!in_digits(q, 2, &om) || q[2] || oh > 23 || om > 59)
			return false;
		off_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
	} else {
		return false;
	}
	int64_t t = timefmt_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_s;
	if (t < 0)
		return false;
	*us = (uint64_t)t * 1000000u + frac;
	return true;
}

/* last_seen as Zigbee2MQTT writes it: an ISO 8601 string or epoch milliseconds. */
static bool in_last_seen(const cJSON *v, uint64_t *us)
{
	if (cJSON_IsString(v) && v->valuestring)
		return in_parse_iso(v->valuestring, us);
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble > 0 &&
	    v->valuedouble < 1e14) {
		*us = (uint64_t)(v->valuedouble * 1000.0);
		return true;
	}
	return false;
}

static bool in_slice_eq(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	return n == k && memcmp(p, s, k) == 0;
}

/* ---- the deadline heap (min on deadline_us) ---- */

static void in_heap_swap(struct inact *st, uint32_t i, uint32_t j)
{
	struct in_dev *a = st->heap[i], *b = st->heap[j];
	st->heap[i] = b;
	st->heap[j] = a;
	b->heap_pos = i;
	a->heap_pos = j;
}

static void in_heap_up(struct inact *st, uint32_t i)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (st->heap[p]->deadline_us <= st->heap[i]->deadline_us)
			break;
		in_heap_swap(st, i, p);
		i = p;
	}
}

static void in_heap_down(struct inact *st, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < st->n_heap && st->heap[l]->deadline_us < st->heap[m]->deadline_us)
			m = l;
		if (r < st->n_heap && st->heap[r]->deadline_us < st->heap[m]->deadline_us)
			m = r;
		if (m == i)
			return;
		in_heap_swap(st, i, m);
		i = m;
	}
}

static void in_heap_remove(struct inact *st, struct in_dev *d)
{
	uint32_t i = d->heap_pos;
	if (i == IN_NONE)
		return;
	d->heap_pos = IN_NONE;
	st->n_heap--;
	if (i == st->n_heap)
		return;
	struct in_dev *moved = st->heap[st->n_heap];
	st->heap[i] = moved;
	moved->heap_pos = i;
	in_heap_up(st, i);
	in_heap_down(st, moved->heap_pos);
}

static void in_heap_set(struct inact *st, struct in_dev *d, uint64_t deadline)
{
	d->deadline_us = deadline;
	if (d->heap_pos == IN_NONE) {
		d->heap_pos = st->n_heap;
		st->heap[st->n_heap++] = d;
		in_heap_up(st, d->heap_pos);
	} else {
		in_heap_up(st, d->heap_pos);
		in_heap_down(st, d->heap_pos);
	}
}

/* ---- the device table ---- */

/*
 * Every device (d; nx: the next, so d may be removed), each list oldest
 * first: the reported devices, then the watched ones. Never by the hash
 * index, so the order does not depend on the hash key.
 */
static const unsigned in_lists[] = { IN_L_REPORTED, IN_L_WATCHED };
#define IN_EACH(st, d, nx)                                                                 \
	for (unsigned in_l_ = 0; in_l_ < 2; in_l_++)                                       \
		for (struct in_dev *d = kt_tail((st)->kt, in_lists[in_l_]),                \
				   *nx = d ? kt_newer((st)->kt, d) : NULL;                 \
		     d; d = nx, nx = d ? kt_newer((st)->kt, d) : NULL)

static struct in_dev *in_find(const struct inact *st, uint8_t kind, const char *name, size_t n)
{
	uint32_t h = in_hash(st, kind, name, n);
	for (struct in_dev *d = kt_first(st->kt, h); d; d = kt_next(st->kt, d)) {
		if (kt_hash_of(d) == h && d->kind == kind && strlen(d->name) == n &&
		    memcmp(d->name, name, n) == 0)
			return d;
	}
	return NULL;
}

/* Ends d: no deadline, its entry freed. evicted: it made room for a new device. */
static void in_remove(struct inact *st, struct in_dev *d, bool evicted)
{
	in_heap_remove(st, d);
	kt_remove(st->kt, d, evicted);
}

/* d's episode was reported (or recovered): to the list that says so. */
static void in_relist(struct inact *st, struct in_dev *d)
{
	bool rep = d->silent_reported || d->offline_reported;
	unsigned l = rep ? IN_L_REPORTED : IN_L_WATCHED;
	if (kt_list_of(d) != l)
		kt_move(st->kt, d, l); /* lists without caps: nothing overflows */
}

static double in_override_of(const struct inact *st, const char *name, bool *has)
{
	for (uint32_t k = 0; k < st->n_ov; k++) {
		if (glob_match(st->ov[k].glob, name, strlen(name))) {
			*has = true;
			return st->ov[k].timeout_s;
		}
	}
	*has = false;
	return 0;
}

/*
 * A new entry for (kind, name[0..n)), n <= SENSOR_ID_MAX, at the head of
 * the watched list. When the table is full the device whose episode was
 * reported longest ago is evicted (nothing more to say about it); when no
 * device has been reported the new device is refused (counted, logged
 * once) so a flood of new names cannot push out devices that are being
 * watched. Returns the entry or NULL.
 */
static struct in_dev *in_create(struct inact *st, uint8_t kind, const char *name, size_t n)
{
	struct in_dev *v = kt_victim(st->kt);
	if (v)
		in_remove(st, v, true);
	uint32_t h = in_hash(st, kind, name, strnlen(name, n));
	struct in_dev *d = kt_insert(st->kt, h, IN_L_WATCHED, 0);
	if (!d) {
		kt_refused(st->kt);
		if (!st->full_logged && st->log) {
			st->full_logged = true;
			fprintf(st->log, "mqttids: inactivity: device table full (max-devices %u); "
				"new devices are not tracked\n", st->max_devices);
		}
		return NULL;
	}
	d->kind = kind;
	in_copy(d->name, sizeof(d->name), name, n);
	d->heap_pos = IN_NONE;
	if (kind == IN_GENERIC)
		d->override_s = in_override_of(st, d->name, &d->has_override);
	return d;
}

/* ---- timeouts and timers ---- */

static const char *in_timeout_source(const struct inact *st, const struct in_dev *d)
{
	if (d->kind == IN_Z2M)
		return d->battery ? "battery-timeout" : "timeout";
	if (d->has_override)
		return "per-device";
	if (st->g_learn && d->learned)
		return "learned";
	return "default";
}

/*
 * The device's timeout in seconds. Learned (generic, after min-samples
 * gaps): max(min-timeout, factor x interval, largest normal gap + interval).
 */
static double in_timeout(const struct inact *st, const struct in_dev *d)
{
	if (d->kind == IN_Z2M)
		return d->battery ? st->z_battery_s : st->z_timeout_s;
	if (d->has_override)
		return d->override_s;
	if (!st->g_learn || !d->learned)
		return st->g_timeout_s;
	double t = st->g_factor * d->interval_s;
	if (t < st->g_min_timeout_s)
		t = st->g_min_timeout_s;
	if (d->max_gap_s + d->interval_s > t)
		t = d->max_gap_s + d->interval_s;
	return t > IN_TIMEOUT_CAP_S ? IN_TIMEOUT_CAP_S : t;
}

/* Arms (or disarms) d's deadline from its anchor, as its state allows. */
static void in_arm(struct inact *st, struct in_dev *d)
{
	bool timed;
	if (d->kind == IN_Z2M)
		timed = st->z_on && d->listed && !d->disabled && st->bridge != IN_BR_OFFLINE &&
			!d->silent_reported && !d->offline_reported;
	else
		timed = d->seen && d->scheduled && !d->silent_reported;
	double t = in_timeout(st, d);
	if (!timed || !(t > 0)) {
		in_heap_remove(st, d);
		return;
	}
	in_heap_set(st, d, d->anchor_us + (uint64_t)(t * 1e6));
}

/* ---- reports ---- */

static void in_num(struct jw *w, const char *key, double v)
{
	char b[48];
	if (!isfinite(v))
		v = 0;
	int n = snprintf(b, sizeof(b), "%.3f", v);
	jw_raw(w, key, b, (size_t)n); /* a JSON number (jw_ascii would quote it) */
}

/* The detector members of a report about d (docs: "Inactivity"). */
static void in_meta(struct inact *st, const struct in_dev *d, double silent_s)
{
	struct jw *w = &st->w;
	jw_reset(w);
	jw_cstr(w, "device", d->name);
	jw_cstr(w, "kind", d->kind == IN_Z2M ? "z2m" : "generic");
	if (d->seen) {
		char iso[40];
		timefmt_utc(d->last_seen_us, iso, sizeof(iso));
		jw_cstr(w, "last_seen", iso);
	} else {
		jw_raw(w, "last_seen", "null", 4);
	}
	in_num(w, "silent_s", silent_s);
	in_num(w, "timeout_s", in_timeout(st, d));
	jw_cstr(w, "timeout_source", in_timeout_source(st, d));
	if (d->kind == IN_GENERIC) {
		if (d->learned)
			in_num(w, "learned_interval_s", d->interval_s);
	} else {
		if (d->listed)
			jw_cstr(w, "power_source", d->battery ? "battery" : "mains");
		jw_cstr(w, "availability", d->avail == IN_AV_ONLINE    ? "online"
					   : d->avail == IN_AV_OFFLINE ? "offline"
								       : "unknown");
		if (d->ieee[0])
			jw_cstr(w, "ieee_address", d->ieee);
		if (d->bridge_last_seen_us) {
			char iso[40];
			timefmt_utc(d->bridge_last_seen_us, iso, sizeof(iso));
			jw_cstr(w, "bridge_last_seen", iso);
		}
	}
}

static void in_emit(struct inact *st, const struct in_dev *d, const char *event,
		    const struct det_event *base, uint64_t ts_us)
{
	struct sensor_report r;
	memset(&r, 0, sizeof(r));
	r.base = base;
	r.ts_us = ts_us;
	r.addr = &d->addr;
	r.layer = "inactivity";
	r.event = event;
	r.detail = st->detail;
	r.meta = st->w.oom ? NULL : st->w.buf;
	r.meta_len = st->w.oom ? 0 : st->w.len;
	if (st->env && st->env->report)
		st->env->report(st->env->ud, &r);
}

/* Fires d's deadline: device_silent at the moment the timeout passed. */
static void in_fire(struct inact *st, struct in_dev *d)
{
	uint64_t ts = d->deadline_us;
	in_heap_remove(st, d);
	d->silent_reported = true;
	in_relist(st, d);
	uint64_t from = d->seen ? d->last_seen_us : d->anchor_us;
	double silent = (double)(ts - (ts > from ? from : ts)) / 1e6;
	char name[SENSOR_ID_MAX + 1];
	in_printable(name, sizeof(name), d->name);
	double t = in_timeout(st, d);
	if (d->kind == IN_GENERIC && d->learned)
		snprintf(st->detail, sizeof(st->detail),
			 "%s published nothing for %.1f s (timeout %.1f s, learned interval %.2f s)",
			 name, silent, t, d->interval_s);
	else if (d->kind == IN_GENERIC)
		snprintf(st->detail, sizeof(st->detail), "%s published nothing for %.1f s (timeout %.1f s, %s)",
			 name, silent, t, in_timeout_source(st, d));
	else
		snprintf(st->detail, sizeof(st->detail),
			 "Zigbee2MQTT device %s (%s) not seen for %.1f s (timeout %.1f s)", name,
			 d->battery ? "battery" : "mains", silent, t);
	in_meta(st, d, silent);
	in_emit(st, d, "device_silent", NULL, ts);
}

/* After a restart (state loaded), timers run from the first event: a gap in
 * our own observation is not the devices' silence. */
static void in_restart_all(struct inact *st, uint64_t now)
{
	st->restart_pending = false;
	IN_EACH(st, d, nx) {
		if (d->anchor_us < now)
			d->anchor_us = now;
		d->skip_gap = true;
		in_arm(st, d);
	}
}

static void in_advance(struct inact *st, uint64_t now)
{
	if (st->restart_pending)
		in_restart_all(st, now);
	if (now > st->now_us)
		st->now_us = now;
	while (st->n_heap && st->heap[0]->deadline_us < now)
		in_fire(st, st->heap[0]);
}

/* Recovery of d, seen again at the message ev after a reported episode. */
static void in_recover(struct inact *st, struct in_dev *d, const struct sensor_msg *m)
{
	if (!d->silent_reported && !d->offline_reported)
		return;
	bool was_offline = d->offline_reported;
	d->silent_reported = d->offline_reported = false;
	in_relist(st, d);
	if (!st->report_recovery)
		return;
	uint64_t from = d->seen ? d->last_seen_us : d->anchor_us;
	double gap = m->ts_us > from ? (double)(m->ts_us - from) / 1e6 : 0;
	char name[SENSOR_ID_MAX + 1];
	in_printable(name, sizeof(name), d->name);
	snprintf(st->detail, sizeof(st->detail), "%s%s is back after %.1f s %s",
		 d->kind == IN_Z2M ? "Zigbee2MQTT device " : "", name, gap,
		 was_offline ? "offline" : "of silence");
	in_meta(st, d, gap);
	in_emit(st, d, "device_recovered", m->ev, m->ts_us);
}

/* ---- generic devices ---- */

static int in_cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

/*
 * Learns from one gap between signs of life (seconds). Gaps shorter than
 * min-interval are bursts (a birth message right after the info, a flood):
 * not a schedule. While learning the gaps are kept; after min-samples the
 * interval is their upper quartile and the largest normal gap the largest of them
 * within the first timeout. Afterwards an EWMA (weight 1/8) of gaps clipped
 * to [interval/2 skipped, 2 x interval], and the largest gap that did not
 * exceed the timeout.
 */
static void in_learn(struct inact *st, struct in_dev *d, double gap, bool was_silent)
{
	if (!st->g_learn || !(gap >= st->g_min_interval_s) || !isfinite(gap))
		return;
	if (!d->learned) {
		if (d->n_samples < IN_SAMPLES_MAX)
			d->samples[d->n_samples++] = (float)gap;
		if (d->n_samples < st->g_min_samples)
			return;
		float s[IN_SAMPLES_MAX];
		memcpy(s, d->samples, sizeof(float) * d->n_samples);
		qsort(s, d->n_samples, sizeof(float), in_cmp_float);
		unsigned n = d->n_samples;
		/*
		 * The upper quartile, not the median: right after a (re)connect
		 * the first reading comes early (the birth and info messages go
		 * first), and a device that reconnected while learning would
		 * otherwise get an interval far too short. A failed read or a
		 * drop among the samples is above it.
		 */
		d->interval_s = s[(n - 1) * 3 / 4];
		double t0 = st->g_factor * d->interval_s;
		if (t0 < st->g_min_timeout_s)
			t0 = st->g_min_timeout_s;
		d->max_gap_s = 0;
		for (unsigned k = 0; k < n; k++)
			if (s[k] <= t0 && s[k] > d->max_gap_s)
				d->max_gap_s = s[k];
		d->learned = true;
		d->n_samples = 0;
		return;
	}
	if (!was_silent && gap > d->max_gap_s)
		d->max_gap_s = gap;
	if (gap < d->interval_s / 2)
		return;
	double g = gap > 2 * d->interval_s ? 2 * d->interval_s : gap;
	d->interval_s += (g - d->interval_s) * IN_EWMA_WEIGHT;
}

static void in_generic(struct inact *st, const struct sensor_msg *m)
{
	const char *name = m->tm && m->tm->device[0] ? m->tm->device : m->client_id;
	if (!name || !name[0])
		return;
	size_t n = strnlen(name, SENSOR_ID_MAX + 1);
	if (n > SENSOR_ID_MAX)
		n = SENSOR_ID_MAX;
	struct in_dev *d = in_find(st, IN_GENERIC, name, n);
	if (!d) {
		char tmp[SENSOR_ID_MAX + 1];
		in_copy(tmp, sizeof(tmp), name, n);
		bool has;
		double ov = in_override_of(st, tmp, &has);
		if (has && !(ov > 0))
			return; /* per-device timeout 0: not tracked */
		d = in_create(st, IN_GENERIC, name, n);
		if (!d)
			return;
	}
	bool was_silent = d->silent_reported;
	if (d->seen && !d->skip_gap && m->ts_us >= d->last_seen_us) {
		double gap = (double)(m->ts_us - d->last_seen_us) / 1e6;
		/* A one-off publisher or a burst (a flood, an attack tool) is no
		 * device with a schedule: it is timed from its second sign of life
		 * at least min-interval after the one before. */
		if (gap >= st->g_min_interval_s)
			d->scheduled = true;
		in_learn(st, d, gap, was_silent);
	}
	d->skip_gap = false;
	in_recover(st, d, m);
	d->seen = true;
	d->last_seen_us = m->ts_us;
	d->anchor_us = m->ts_us;
	sensor_addr_copy(&d->addr, &m->client);
	kt_touch(st->kt, d);
	in_arm(st, d);
}

/* ---- Zigbee2MQTT ---- */

/* Every z2m device's timer starts again at now (bridge back online). */
static void in_z2m_restart(struct inact *st, uint64_t now)
{
	IN_EACH(st, d, nx) {
		if (d->kind != IN_Z2M)
			continue;
		if (d->anchor_us < now)
			d->anchor_us = now;
		in_arm(st, d);
	}
}

static void in_bridge_state(struct inact *st, const struct sensor_msg *m, const cJSON *json)
{
	const char *s = NULL;
	char buf[16];
	if (cJSON_IsObject(json)) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "state");
		if (cJSON_IsString(v))
			s = v->valuestring;
	} else if (m->payload.len < sizeof(buf)) {
		in_copy(buf, sizeof(buf), (const char *)m->payload.p, m->payload.len);
		s = buf;
	}
	if (!s)
		return;
	if (!strcmp(s, "online")) {
		uint8_t was = st->bridge;
		st->bridge = IN_BR_ONLINE;
		if (was != IN_BR_ONLINE)
			in_z2m_restart(st, m->ts_us);
	} else if (!strcmp(s, "offline")) {
		st->bridge = IN_BR_OFFLINE;
		/* Timers are suspended: nothing is reported while the bridge is away. */
		IN_EACH(st, d, nx)
			if (d->kind == IN_Z2M)
				in_heap_remove(st, d);
	}
}

/*
 * The retained <base>/bridge/devices array: every device but the
 * coordinator becomes (or stays) a listed z2m device; listed devices that
 * are no longer in the list are dropped. Anything malformed is skipped
 * with a (limited) message.
 */
static void in_bridge_devices(struct inact *st, const struct sensor_msg *m, const cJSON *json)
{
	if (!cJSON_IsArray(json)) {
		in_logf(st, "%s/bridge/devices is not a JSON array; ignored", st->z_base);
		return;
	}
	IN_EACH(st, d, nx)
		if (d->kind == IN_Z2M)
			d->stale = d->listed;
	unsigned k = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, json)
	{
		k++;
		if (!cJSON_IsObject(e)) {
			in_logf(st, "bridge/devices[%u]: not an object; skipped", k - 1);
			continue;
		}
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
		if (cJSON_IsString(type) && !strcmp(type->valuestring, "Coordinator"))
			continue;
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(e, "friendly_name");
		if (!cJSON_IsString(fn) || !fn->valuestring[0]) {
			in_logf(st, "bridge/devices[%u]: no friendly_name; skipped", k - 1);
			continue;
		}
		size_t n = strlen(fn->valuestring);
		if (n > SENSOR_ID_MAX) {
			in_logf(st, "bridge/devices[%u]: friendly_name of %zu bytes (limit %d); skipped",
				k - 1, n, SENSOR_ID_MAX);
			continue;
		}
		struct in_dev *d = in_find(st, IN_Z2M, fn->valuestring, n);
		bool fresh = !d;
		if (fresh) {
			d = in_create(st, IN_Z2M, fn->valuestring, n);
			if (!d)
				continue;
		}
		if (fresh || !d->listed)
			d->anchor_us = m->ts_us; /* its timer starts when it becomes known */
		if (!d->seen && m->from_client)
			sensor_addr_copy(&d->addr, &m->client); /* the bridge: the target until seen */
		d->listed = true;
		d->stale = false;
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(e, "power_source");
		d->battery = cJSON_IsString(ps) && !strcmp(ps->valuestring, "Battery");
		d->disabled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "disabled"));
		const cJSON *ieee = cJSON_GetObjectItemCaseSensitive(e, "ieee_address");
		if (cJSON_IsString(ieee))
			in_copy(d->ieee, sizeof(d->ieee), ieee->valuestring, strlen(ieee->valuestring));
		in_arm(st, d);
	}
	IN_EACH(st, d, nx)
		if (d->kind == IN_Z2M && d->stale)
			in_remove(st, d, false);
	st->have_list = true;
}

/* A sign of life of z2m device i (a state message or availability online). */
static void in_z2m_seen(struct inact *st, struct in_dev *d, const struct sensor_msg *m)
{
	in_recover(st, d, m);
	d->seen = true;
	d->last_seen_us = m->ts_us;
	d->anchor_us = m->ts_us;
	sensor_addr_copy(&d->addr, &m->client);
	kt_touch(st->kt, d);
	in_arm(st, d);
}

static void in_availability(struct inact *st, const struct sensor_msg *m, const char *name,
			    size_t n, const cJSON *json)
{
	const char *s = NULL;
	char buf[16];
	if (cJSON_IsObject(json)) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "state");
		if (cJSON_IsString(v))
			s = v->valuestring;
	} else if (m->payload.len < sizeof(buf)) {
		in_copy(buf, sizeof(buf), (const char *)m->payload.p, m->payload.len);
		s = buf;
	}
	bool online = s && !strcmp(s, "online"), offline = s && !strcmp(s, "offline");
	if (!online && !offline)
		return;
	struct in_dev *d = in_find(st, IN_Z2M, name, n);
	if (!d) {
		/* Not (yet) in bridge/devices: still worth its offline report. */
		d = in_create(st, IN_Z2M, name, n);
		if (!d)
			return;
		d->anchor_us = m->ts_us;
		sensor_addr_copy(&d->addr, &m->client);
	}
	d->avail = online ? IN_AV_ONLINE : IN_AV_OFFLINE;
	if (online) {
		in_z2m_seen(st, d, m);
		return;
	}
	if (st->bridge == IN_BR_OFFLINE || d->offline_reported)
		return;
	d->offline_reported = true;
	in_relist(st, d);
	in_heap_remove(st, d);
	char pname[SENSOR_ID_MAX + 1];
	in_printable(pname, sizeof(pname), d->name);
	snprintf(st->detail, sizeof(st->detail), "Zigbee2MQTT reports device %s offline", pname);
	uint64_t from = d->seen ? d->last_seen_us : d->anchor_us;
	in_meta(st, d, m->ts_us > from ? (double)(m->ts_us - from) / 1e6 : 0);
	in_emit(st, d, "z2m_device_offline", m->ev, m->ts_us);
}

enum in_ztopic { IN_ZT_NONE = 0, IN_ZT_STATE, IN_ZT_DEVICES, IN_ZT_BRIDGE_OTHER, IN_ZT_AVAIL, IN_ZT_DEVICE };

/* What a topic below the base is; name and n: its device part. */
static enum in_ztopic in_ztopic(const struct inact *st, const struct slice *t, const char **name,
				size_t *n)
{
	size_t b = st->z_base_len;
	if (t->len <= b + 1 || memcmp(t->p, st->z_base, b) != 0 || t->p[b] != '/')
		return IN_ZT_NONE;
	const uint8_t *r = t->p + b + 1;
	size_t rn = t->len - b - 1;
	if (in_slice_eq(r, rn, "bridge/state"))
		return IN_ZT_STATE;
	if (in_slice_eq(r, rn, "bridge/devices"))
		return IN_ZT_DEVICES;
	if (rn >= 7 && !memcmp(r, "bridge/", 7))
		return IN_ZT_BRIDGE_OTHER;
	static const char av[] = "/availability";
	size_t an = sizeof(av) - 1;
	if (rn > an && !memcmp(r + rn - an, av, an)) {
		*name = (const char *)r;
		*n = rn - an;
		return *n <= SENSOR_ID_MAX ? IN_ZT_AVAIL : IN_ZT_BRIDGE_OTHER;
	}
	*name = (const char *)r;
	*n = rn;
	return rn <= SENSOR_ID_MAX ? IN_ZT_DEVICE : IN_ZT_BRIDGE_OTHER;
}

static bool in_needs_json(const struct inact *st, const struct sensor_msg *m)
{
	if (!st->z_on || !m->m || m->m->type != MQTT_PUBLISH)
		return false;
	const char *name;
	size_t n;
	enum in_ztopic k = in_ztopic(st, &m->topic, &name, &n);
	return k == IN_ZT_STATE || k == IN_ZT_DEVICES || k == IN_ZT_AVAIL || k == IN_ZT_DEVICE;
}

/* Whether the message comes from the bridge (learning its client id). */
static bool in_from_bridge(struct inact *st, const struct sensor_msg *m, enum in_ztopic k)
{
	const char *cid = m->client_id ? m->client_id : "";
	if (st->z_bridge_id[0])
		return !strcmp(cid, st->z_bridge_id);
	if ((k == IN_ZT_STATE || k == IN_ZT_DEVICES) && cid[0])
		in_copy(st->z_bridge_id, sizeof(st->z_bridge_id), cid, strlen(cid));
	return true;
}

static void in_z2m(struct inact *st, const struct sensor_msg *m, enum in_ztopic k, const char *name,
		   size_t n, const cJSON *json)
{
	if (!m->from_client) {
		/*
		 * Broker deliveries: only bridge/state (the bridge's will exists
		 * only as a delivery) unless a non-bridge client just published it,
		 * and bridge/devices while no list is known (a late start).
		 */
		if (k == IN_ZT_STATE && !(st->forged_state_us &&
					  m->ts_us - st->forged_state_us < IN_FORGED_WINDOW_US))
			in_bridge_state(st, m, json);
		else if (k == IN_ZT_DEVICES && !st->have_list)
			in_bridge_devices(st, m, json);
		return;
	}
	if (!in_from_bridge(st, m, k)) {
		if (k == IN_ZT_STATE)
			st->forged_state_us = m->ts_us ? m->ts_us : 1;
		return;
	}
	switch (k) {
	case IN_ZT_STATE:
		in_bridge_state(st, m, json);
		break;
	case IN_ZT_DEVICES:
		in_bridge_devices(st, m, json);
		break;
	case IN_ZT_AVAIL:
		in_availability(st, m, name, n, json);
		break;
	case IN_ZT_DEVICE: {
		struct in_dev *d = in_find(st, IN_Z2M, name, n);
		if (!d || !d->listed)
			break; /* a group, or a name the bridge has not listed */
		uint64_t ls;
		if (cJSON_IsObject(json) &&
		    in_last_seen(cJSON_GetObjectItemCaseSensitive(json, "last_seen"), &ls))
			d->bridge_last_seen_us = ls;
		in_z2m_seen(st, d, m);
		break;
	}
	default:
		break;
	}
}

/* ---- the detector ---- */

/*
 * One message with its payload already parsed (json: NULL when not JSON or
 * not needed). on_msg obtains json through sensor_msg_json; the unit tests
 * call this directly with their own parse.
 */
void sensor_inactivity_msg(void *state, const struct sensor_msg *m, const cJSON *json);

void sensor_inactivity_msg(void *state, const struct sensor_msg *m, const cJSON *json)
{
	struct inact *st = state;
	if (!st || !m || !m->m)
		return;
	in_advance(st, m->ts_us);
	const struct mqtt_msg *mm = m->m;
	if (mm->type == MQTT_CONNECT && st->z_on && !st->z_bridge_pinned && mm->has_will) {
		/* Zigbee2MQTT's will is <base>/bridge/state: this client is the bridge. */
		const char *name;
		size_t n;
		if (in_ztopic(st, &mm->will_topic, &name, &n) == IN_ZT_STATE && mm->client_id.len &&
		    mm->client_id.len <= SENSOR_ID_MAX)
			in_copy(st->z_bridge_id, sizeof(st->z_bridge_id),
				(const char *)mm->client_id.p, mm->client_id.len);
		return;
	}
	if (mm->type != MQTT_PUBLISH)
		return;
	if (st->z_on) {
		const char *name = NULL;
		size_t n = 0;
		enum in_ztopic k = in_ztopic(st, &m->topic, &name, &n);
		if (k != IN_ZT_NONE || (m->topic.len == st->z_base_len &&
					!memcmp(m->topic.p, st->z_base, st->z_base_len))) {
			/* Below the base: the z2m part's, never a generic device. */
			in_z2m(st, m, k, name, n, json);
			return;
		}
	}
	if (st->g_on && m->from_client)
		in_generic(st, m);
}

static void in_on_msg(void *state, const struct sensor_msg *m)
{
	struct inact *st = state;
	const cJSON *json = in_needs_json(st, m) ? sensor_msg_json(m) : NULL;
	sensor_inactivity_msg(state, m, json);
}

static void in_on_tick(void *state, uint64_t now_us)
{
	in_advance(state, now_us);
}

static void in_free(void *state)
{
	struct inact *st = state;
	if (!st)
		return;
	jw_deinit(&st->w);
	kt_free(st->kt);
	free(st->heap);
	free(st);
}

static int in_cfg_overrides(struct inact *st, FILE *log, const cJSON *list)
{
	if (!list)
		return 0;
	if (!cJSON_IsArray(list) && !cJSON_IsObject(list)) {
		scfg_err(log, list, "expected a list of {device, timeout}");
		return -1;
	}
	/* A lone {device, timeout} counts as a one-item list. */
	const cJSON *e = cJSON_IsObject(list) ? list : list->child;
	for (; e; e = cJSON_IsObject(list) ? NULL : e->next) {
		static const char *const keys[] = { "device", "timeout", NULL };
		bool bad = false;
		if (!cJSON_IsObject(e)) {
			scfg_err(log, e, "expected {device: NAME-OR-GLOB, timeout: DURATION}; skipped");
			continue;
		}
		scfg_known_keys(log, e, keys);
		const char *dev = scfg_str(log, e, "device", NULL, &bad);
		double t = scfg_dur(log, e, "timeout", -1, &bad);
		if (bad || !dev || !dev[0] || strlen(dev) > SENSOR_ID_MAX || t < 0) {
			scfg_err(log, e, "needs device (1-%d bytes) and timeout (a duration; 0: not tracked); skipped",
				 SENSOR_ID_MAX);
			continue;
		}
		if (st->n_ov >= IN_MAX_OVERRIDES) {
			scfg_err(log, e, "more than %d per-device entries; skipped", IN_MAX_OVERRIDES);
			continue;
		}
		snprintf(st->ov[st->n_ov].glob, sizeof(st->ov[0].glob), "%s", dev);
		st->ov[st->n_ov].timeout_s = t > IN_TIMEOUT_CAP_S ? IN_TIMEOUT_CAP_S : t;
		st->n_ov++;
	}
	return 0;
}

/*
 * Reads the section (NULL: defaults) and preallocates the table. Values out
 * of range or of the wrong form stop the run (returns -1 after saying why).
 */
static int in_init(const struct sensor_env *env, const cJSON *cfg, void **state)
{
	FILE *log = env ? env->log : NULL;
	struct inact *st = calloc(1, sizeof(*st));
	bool bad = false;
	if (!st)
		goto fail;
	st->env = env;
	st->log = log;
	static const char *const top_keys[] = { "enabled", "max-devices", "report-recovery",
						"zigbee2mqtt", "devices", NULL };
	static const char *const z_keys[] = { "enabled", "base-topic", "timeout", "battery-timeout",
					      "client-id", NULL };
	static const char *const g_keys[] = { "enabled", "timeout", "learn", "factor", "min-timeout",
					      "min-samples", "min-interval", "per-device", NULL };
	scfg_known_keys(log, cfg, top_keys);
	double maxd = scfg_num(log, cfg, "max-devices", 4096, &bad);
	st->report_recovery = scfg_bool(log, cfg, "report-recovery", true, &bad);
	const cJSON *z = cJSON_IsObject(cfg) ? cJSON_GetObjectItemCaseSensitive(cfg, "zigbee2mqtt") : NULL;
	const cJSON *g = cJSON_IsObject(cfg) ? cJSON_GetObjectItemCaseSensitive(cfg, "devices") : NULL;
	if (z && !cJSON_IsObject(z)) {
		scfg_err(log, z, "expected a section (enabled, base-topic, timeout, battery-timeout)");
		goto fail;
	}
	if (g && !cJSON_IsObject(g)) {
		scfg_err(log, g, "expected a section (enabled, timeout, learn, factor, ...)");
		goto fail;
	}
	scfg_known_keys(log, z, z_keys);
	scfg_known_keys(log, g, g_keys);
	st->z_on = scfg_bool(log, z, "enabled", true, &bad);
	const char *base = scfg_str(log, z, "base-topic", "zigbee2mqtt", &bad);
	st->z_timeout_s = scfg_dur(log, z, "timeout", 600, &bad);
	st->z_battery_s = scfg_dur(log, z, "battery-timeout", 25 * 3600, &bad);
	const char *bid = scfg_str(log, z, "client-id", "", &bad);
	st->g_on = scfg_bool(log, g, "enabled", true, &bad);
	st->g_timeout_s = scfg_dur(log, g, "timeout", 600, &bad);
	st->g_learn = scfg_bool(log, g, "learn", true, &bad);
	st->g_factor = scfg_num(log, g, "factor", 5, &bad);
	st->g_min_timeout_s = scfg_dur(log, g, "min-timeout", 180, &bad);
	double ms = scfg_num(log, g, "min-samples", 5, &bad);
	st->g_min_interval_s = scfg_dur(log, g, "min-interval", 0.5, &bad);
	if (bad)
		goto fail;
	if (!(maxd >= 1 && maxd <= IN_MAX_DEVICES_CAP && maxd == floor(maxd))) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "max-devices"),
			 "expected a whole number from 1 to %u", IN_MAX_DEVICES_CAP);
		goto fail;
	}
	if (!base || !base[0] || strlen(base) >= IN_BASE_MAX || strpbrk(base, "+#")) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(z, "base-topic"),
			 "expected a topic of 1-%d bytes without wildcards", IN_BASE_MAX - 1);
		goto fail;
	}
	if (strlen(bid) > SENSOR_ID_MAX) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(z, "client-id"), "longer than %d bytes",
			 SENSOR_ID_MAX);
		goto fail;
	}
	if (!(st->z_timeout_s > 0) || !(st->z_battery_s > 0) || !(st->g_timeout_s > 0) ||
	    st->z_timeout_s > IN_TIMEOUT_CAP_S || st->z_battery_s > IN_TIMEOUT_CAP_S ||
	    st->g_timeout_s > IN_TIMEOUT_CAP_S) {
		scfg_err(log, cfg, "timeouts must be above 0 and at most 366 days");
		goto fail;
	}
	if (!(st->g_factor >= 1 && st->g_factor <= 1000)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(g, "factor"), "expected 1 to 1000");
		goto fail;
	}
	if (!(ms >= 1 && ms <= IN_SAMPLES_MAX && ms == floor(ms))) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(g, "min-samples"),
			 "expected a whole number from 1 to %d", IN_SAMPLES_MAX);
		goto fail;
	}
	if (st->g_min_timeout_s > IN_TIMEOUT_CAP_S || st->g_min_interval_s > 3600) {
		scfg_err(log, g, "min-timeout at most 366 days, min-interval at most 1 h");
		goto fail;
	}
	st->g_min_samples = (uint32_t)ms;
	snprintf(st->z_base, sizeof(st->z_base), "%s", base);
	st->z_base_len = strlen(st->z_base);
	snprintf(st->z_bridge_id, sizeof(st->z_bridge_id), "%s", bid);
	st->z_bridge_pinned = bid[0] != 0;
	if (in_cfg_overrides(st, log, g ? scfg_list(g, "per-device") : NULL) != 0)
		goto fail;
	st->max_devices = (uint32_t)maxd;
	struct kt_opts ko = {
		.name = "inactivity_devices",
		.capacity = st->max_devices,
		.entry_size = sizeof(struct in_dev),
		.n_parts = 1,
		.n_lists = 2,
		.list = { { 0, KT_EVICT, 0 }, { 0, KT_EVICT, 0 } },
		.n_evict = 1,
		.evict = { IN_L_REPORTED },
	};
	st->kt = kt_new(&ko);
	st->heap = malloc(sizeof(*st->heap) * st->max_devices);
	if (!st->kt || !st->heap) {
		if (log)
			fprintf(log, "mqttids: inactivity: out of memory for %u devices\n", st->max_devices);
		goto fail;
	}
	jw_init(&st->w);
	*state = st;
	return 0;
fail:
	if (log)
		fprintf(log, "mqttids: inactivity: configuration not usable\n");
	in_free(st);
	return -1;
}

/* ---- state ---- */

static const char *in_bridge_name(uint8_t b)
{
	return b == IN_BR_ONLINE ? "online" : b == IN_BR_OFFLINE ? "offline" : "unknown";
}

static cJSON *in_save(void *state)
{
	struct inact *st = state;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON *br = cJSON_AddObjectToObject(root, "bridge");
	if (br) {
		cJSON_AddStringToObject(br, "state", in_bridge_name(st->bridge));
		cJSON_AddStringToObject(br, "client_id", st->z_bridge_pinned ? "" : st->z_bridge_id);
		cJSON_AddBoolToObject(br, "have_list", st->have_list);
	}
	cJSON *stats = cJSON_AddObjectToObject(root, "stats");
	if (stats) {
		const struct kt_stats *ks = kt_stats(st->kt);
		cJSON_AddNumberToObject(stats, "refused", (double)ks->refused);
		cJSON_AddNumberToObject(stats, "evicted", (double)ks->evicted);
	}
	cJSON *arr = cJSON_AddArrayToObject(root, "devices");
	if (!arr)
		goto out;
	/*
	 * Each list oldest first, the reported devices before the watched
	 * ones: a load rebuilds both lists in the same order, and into a
	 * smaller table it keeps the watched devices before the reported.
	 */
	IN_EACH(st, d, nx) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "kind", d->kind == IN_Z2M ? "z2m" : "generic");
		cJSON_AddStringToObject(o, "device", d->name);
		if (d->seen)
			cJSON_AddNumberToObject(o, "last_seen_us", (double)d->last_seen_us);
		cJSON_AddNumberToObject(o, "anchor_us", (double)d->anchor_us);
		if (d->silent_reported)
			cJSON_AddBoolToObject(o, "silent", true);
		if (d->offline_reported)
			cJSON_AddBoolToObject(o, "offline", true);
		if (d->addr.family && d->addr.str[0])
			cJSON_AddStringToObject(o, "addr", d->addr.str);
		if (d->addr.has_mac) {
			char mac[18];
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", d->addr.mac[0],
				 d->addr.mac[1], d->addr.mac[2], d->addr.mac[3], d->addr.mac[4],
				 d->addr.mac[5]);
			cJSON_AddStringToObject(o, "mac", mac);
		}
		if (d->kind == IN_GENERIC) {
			if (d->scheduled)
				cJSON_AddBoolToObject(o, "scheduled", true);
			if (d->learned) {
				cJSON_AddNumberToObject(o, "interval_s", d->interval_s);
				cJSON_AddNumberToObject(o, "max_gap_s", d->max_gap_s);
			} else if (d->n_samples) {
				cJSON *s = cJSON_AddArrayToObject(o, "samples");
				for (unsigned k = 0; s && k < d->n_samples; k++)
					cJSON_AddItemToArray(s, cJSON_CreateNumber(d->samples[k]));
			}
		} else {
			cJSON_AddBoolToObject(o, "listed", d->listed);
			cJSON_AddBoolToObject(o, "battery", d->battery);
			cJSON_AddBoolToObject(o, "disabled", d->disabled);
			cJSON_AddStringToObject(o, "availability", d->avail == IN_AV_ONLINE ? "online"
								   : d->avail == IN_AV_OFFLINE ? "offline"
											       : "unknown");
			if (d->ieee[0])
				cJSON_AddStringToObject(o, "ieee", d->ieee);
			if (d->bridge_last_seen_us)
				cJSON_AddNumberToObject(o, "bridge_last_seen_us",
							(double)d->bridge_last_seen_us);
		}
	}
out:
	return root;
}

/* A saved time: a whole number of microseconds within 2^53, else false. */
static bool in_load_us(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > 9007199254740992.0)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static bool in_load_secs(const cJSON *o, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > IN_TIMEOUT_CAP_S)
		return false;
	*out = v->valuedouble;
	return true;
}

static bool in_load_bool(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void in_load_addr(struct in_dev *d, const cJSON *o)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "addr");
	if (cJSON_IsString(a) && strlen(a->valuestring) < SENSOR_ADDR_STR) {
		uint8_t b[16] = { 0 };
		if (inet_pton(AF_INET, a->valuestring, b) == 1)
			d->addr.family = 4;
		else if (inet_pton(AF_INET6, a->valuestring, b) == 1)
			d->addr.family = 6;
		if (d->addr.family) {
			memcpy(d->addr.a, b, 16);
			snprintf(d->addr.str, sizeof(d->addr.str), "%s", a->valuestring);
		}
	}
	const cJSON *mac = cJSON_GetObjectItemCaseSensitive(o, "mac");
	unsigned m[6];
	char tail;
	if (cJSON_IsString(mac) && strlen(mac->valuestring) == 17 &&
	    sscanf(mac->valuestring, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4],
		   &m[5], &tail) == 6) {
		d->addr.has_mac = true;
		for (int k = 0; k < 6; k++)
			d->addr.mac[k] = (uint8_t)m[k];
	}
}

/* One saved device; false (with a message) when it cannot be used. */
static bool in_load_dev(struct inact *st, const cJSON *o, unsigned idx)
{
	if (!cJSON_IsObject(o)) {
		in_logf(st, "state: devices[%u]: not an object; skipped", idx);
		return false;
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "device");
	uint8_t k;
	if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "generic"))
		k = IN_GENERIC;
	else if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "z2m"))
		k = IN_Z2M;
	else {
		in_logf(st, "state: devices[%u]: kind is not generic or z2m; skipped", idx);
		return false;
	}
	size_t n = cJSON_IsString(name) ? strlen(name->valuestring) : 0;
	if (!n || n > SENSOR_ID_MAX) {
		in_logf(st, "state: devices[%u]: device name missing or longer than %d bytes; skipped",
			idx, SENSOR_ID_MAX);
		return false;
	}
	if (in_find(st, k, name->valuestring, n)) {
		in_logf(st, "state: devices[%u]: %s device listed twice; skipped", idx,
			k == IN_Z2M ? "z2m" : "generic");
		return false;
	}
	struct in_dev *d = in_create(st, k, name->valuestring, n);
	if (!d)
		return false;
	if (in_load_us(o, "last_seen_us", &d->last_seen_us))
		d->seen = true;
	if (!in_load_us(o, "anchor_us", &d->anchor_us))
		d->anchor_us = d->last_seen_us;
	d->silent_reported = in_load_bool(o, "silent");
	d->offline_reported = in_load_bool(o, "offline");
	in_relist(st, d);
	in_load_addr(d, o);
	if (k == IN_GENERIC) {
		double iv, mg;
		if (in_load_secs(o, "interval_s", &iv) && iv > 0 &&
		    in_load_secs(o, "max_gap_s", &mg)) {
			d->learned = true;
			d->scheduled = true;
			d->interval_s = iv;
			d->max_gap_s = mg;
		}
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "samples"), *e;
		if (in_load_bool(o, "scheduled"))
			d->scheduled = true;
		if (!d->learned && cJSON_IsArray(s)) {
			cJSON_ArrayForEach(e, s)
			{
				if (d->n_samples >= IN_SAMPLES_MAX || (uint32_t)d->n_samples + 1 >= st->g_min_samples)
					break;
				if (cJSON_IsNumber(e) && isfinite(e->valuedouble) && e->valuedouble > 0 &&
				    e->valuedouble <= IN_TIMEOUT_CAP_S)
					d->samples[d->n_samples++] = (float)e->valuedouble;
			}
		}
		if (d->has_override && !(d->override_s > 0)) {
			in_remove(st, d, false); /* configured as not tracked since */
			return true;
		}
	} else {
		d->listed = in_load_bool(o, "listed");
		d->battery = in_load_bool(o, "battery");
		d->disabled = in_load_bool(o, "disabled");
		const cJSON *av = cJSON_GetObjectItemCaseSensitive(o, "availability");
		if (cJSON_IsString(av))
			d->avail = !strcmp(av->valuestring, "online")    ? IN_AV_ONLINE
				   : !strcmp(av->valuestring, "offline") ? IN_AV_OFFLINE
									 : IN_AV_UNKNOWN;
		const cJSON *ieee = cJSON_GetObjectItemCaseSensitive(o, "ieee");
		if (cJSON_IsString(ieee))
			in_copy(d->ieee, sizeof(d->ieee), ieee->valuestring, strlen(ieee->valuestring));
		in_load_us(o, "bridge_last_seen_us", &d->bridge_last_seen_us);
	}
	return true;
}

/*
 * Takes what in_save wrote (untrusted): devices that cannot be used are
 * skipped with a message; the table's limit holds. Timers restart at the
 * first event after the load.
 */
static void in_load(void *state, const cJSON *saved)
{
	struct inact *st = state;
	if (!st || !cJSON_IsObject(saved)) {
		if (st)
			in_logf(st, "state: not an object; ignored");
		return;
	}
	const cJSON *br = cJSON_GetObjectItemCaseSensitive(saved, "bridge");
	if (cJSON_IsObject(br)) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(br, "state");
		if (cJSON_IsString(s))
			st->bridge = !strcmp(s->valuestring, "online")    ? IN_BR_ONLINE
				     : !strcmp(s->valuestring, "offline") ? IN_BR_OFFLINE
									  : IN_BR_UNKNOWN;
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(br, "client_id");
		if (!st->z_bridge_pinned && cJSON_IsString(id) && strlen(id->valuestring) <= SENSOR_ID_MAX)
			snprintf(st->z_bridge_id, sizeof(st->z_bridge_id), "%s", id->valuestring);
		st->have_list = in_load_bool(br, "have_list");
	}
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(saved, "devices"), *e;
	if (arr && !cJSON_IsArray(arr))
		in_logf(st, "state: devices is not a list; ignored");
	unsigned idx = 0;
	if (cJSON_IsArray(arr)) {
		cJSON_ArrayForEach(e, arr)
			in_load_dev(st, e, idx++);
	}
	st->restart_pending = true;
}

static void in_stats(void *state, struct sensor_stats *out)
{
	struct inact *st = state;
	const struct kt_stats *ks = kt_stats(st->kt);
	sensor_stats_add(out, "devices_max", kt_capacity(st->kt));
	sensor_stats_add(out, "evicted", ks->evicted);
	sensor_stats_add(out, "refused", ks->refused);
}

static size_t in_tables(void *state, const struct ktable **out, size_t max)
{
	if (!max)
		return 0;
	out[0] = ((const struct inact *)state)->kt;
	return 1;
}

const struct sensor_detector sensor_inactivity_detector = {
	.name = "inactivity",
	.init = in_init,
	.on_msg = in_on_msg,
	.on_tick = in_on_tick,
	.save = in_save,
	.load = in_load,
	.stats = in_stats,
	.tables = in_tables,
	.free = in_free,
};
