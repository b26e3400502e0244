/*
 * sensor_value.c - the value detector (issue 5 §2, docs/sensors.md "value"):
 * a robust per-device, per-field baseline of telemetry readings that reports
 * sudden jumps, physically impossible values and rates, stuck sensors, and
 * readings published on a device's topic by someone who does not own it.
 *
 * The baseline of a series (one device, one field) is an exponentially
 * weighted level and an exponentially weighted mean absolute deviation from
 * it (the scale, MAD-like). A sample is suspect when it is further from the
 * level than max(sensitivity * scale, min-jump), widened after a gap in the
 * readings; suspect samples never update the baseline, so an intruder's hair
 * dryer does not teach the detector that 33 °C is normal. Suspect samples
 * in a row on one side make a value_jump once they add up (one reading 2.5
 * thresholds away, two at 1.25 each, or any three). Quantisation (DHT11: whole degrees) is handled by the field's
 * configured resolution or the grid the values are seen to sit on, whichever
 * is coarser: the scale never drops below half a step and min-jump defaults
 * to 2.5 steps, so a flat signal that flickers by one step is not a jump.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/hash.h"
#include "sensor/sensor.h"
#include "sensor/sensor_telemetry.h"
#include "sensor/sensor_value.h"
#include "util/jw.h"
#include "util/ktable.h"

/* Fixed tuning (docs/sensors.md explains each). */
/*
 * Suspect samples in a row on one side make a jump when there are
 * VAL_CONFIRM of them or their distances, in thresholds, add up to
 * VAL_SCORE: one reading 2.5 thresholds away, two at 1.25, or three.
 */
#define VAL_CONFIRM 3
#define VAL_SCORE 2.5
#define VAL_REARM 3            /* normal samples in a row that end an episode */
#define VAL_LEVEL_N 20         /* level: EWMA over about this many samples ... */
#define VAL_LEVEL_TAU 600.0    /* ... or this many seconds, whichever is shorter */
#define VAL_SCALE_N 50         /* scale: EWMA over about this many samples ... */
#define VAL_SCALE_CLIP 2.0     /* ... of deviations clipped at this many scales (Huber) ... */
#define VAL_SCALE_CLIP_N 4     /* ... once this many samples are learned */
#define VAL_GAP_TAU 300.0      /* threshold grows by sqrt(1 + late/this) after a gap */
#define VAL_JUMP_STEPS 2.5     /* default min-jump, in resolution steps */
#define VAL_FLOOR_STEPS 0.5    /* scale floor, in resolution steps */
#define VAL_SPOOF_REARM_US (600ull * 1000000u) /* a quiet offender's next message is a new episode */
#define VAL_META_RESERVE 16384 /* jw buffer warmed at init: no allocation per message */

/* The grids a quantised sensor's values may sit on, coarsest first. */
static const double val_grids[] = { 1.0, 0.5, 0.1, 0.05, 0.01, 0.001 };
#define VAL_N_GRIDS (sizeof(val_grids) / sizeof(val_grids[0]))

enum val_owner_mode { VAL_OWNER_FIRST = 0, VAL_OWNER_CLIENT_ID, VAL_OWNER_OFF };

struct val_cfg {
	bool enabled;
	uint32_t warmup;
	double sensitivity;
	bool has_min_jump;
	double min_jump;
	double stuck_after;    /* s; 0: stuck not checked */
	uint32_t stuck_samples;
	uint32_t relearn;      /* 0: never */
	double gap;            /* s */
	enum val_owner_mode owner;
	uint32_t max_devices;
};

/* One device/field series. */
struct val_series {
	struct kt_node node;   /* in the value_series table */
	char device[SENSOR_ID_MAX + 1];
	char field[SENSOR_FIELD_MAX + 1];
	uint32_t n;            /* samples learned */
	double level, scale;
	uint8_t grid;          /* index into val_grids; VAL_N_GRIDS: not quantised */
	double ival;           /* typical interval between readings, s; 0: unknown */
	bool has_last;
	double last_v;
	uint64_t last_us;
	/* jump episode */
	uint8_t pend_n;        /* unconfirmed suspects in a row */
	int8_t pend_sign;
	double pend_score;     /* their distances in thresholds, summed */
	bool in_jump;
	uint32_t ep_n;         /* suspects in this episode (for relearn) */
	double ep_level;       /* where the suspects sit */
	uint8_t calm_n;        /* normal samples in a row during an episode */
	bool in_range, in_rate, in_stuck;
	/* stuck: the current run of one exact value */
	bool varied;
	uint32_t run_n;
	double run_v;
	uint64_t run_since;
};

/* Who publishes a device's readings. */
struct val_owner {
	struct kt_node node;   /* in the value_owners table */
	char device[SENSOR_ID_MAX + 1];
	char client_id[SENSOR_ID_MAX + 1];
	struct sensor_addr addr;
	bool spoof_active;     /* an offender was reported ... */
	uint64_t spoof_hash;   /* ... this one ... */
	uint64_t spoof_last_us; /* ... and last seen then */
	uint64_t move_hash;    /* the owner's client id from a new address ... */
	uint32_t move_n;       /* ... this many messages in a row */
};

/*
 * The two tables are ktables (util/ktable.h) of max-devices entries each,
 * under the process's seeded hash: value_series keyed by device and field,
 * value_owners by device. Each has one recency list in evict order, so a
 * new key displaces the least recently used entry when the table is full.
 */
#define VAL_LRU 0
#define VAL_KEY_MAX (SENSOR_ID_MAX + 1 + SENSOR_FIELD_MAX + 1)

struct val {
	struct sensor_env env;
	struct val_cfg cfg;
	struct ktable *ser, *own;
	struct jw w;
	char detail[512];
	uint64_t relearned, reseeded, loaded, load_skipped;
};

/* ---- the tables ---- */

/* A series' key: the device and the field, each with its NUL. */
static size_t val_series_key(char *key, const char *dev, const char *field)
{
	size_t dn = strlen(dev) + 1, fn = strlen(field) + 1;
	memcpy(key, dev, dn);
	memcpy(key + dn, field, fn);
	return dn + fn;
}

static struct ktable *val_table(const char *name, uint32_t cap, size_t entry)
{
	struct kt_opts o = {
		.name = name,
		.capacity = cap,
		.entry_size = entry,
		.n_parts = 1,
		.n_lists = 1,
		.list = { { 0, KT_EVICT, 0 } },
		.n_evict = 1,
		.evict = { VAL_LRU },
	};
	return kt_new(&o);
}

/*
 * A slot for a new key of hash h at the head of the LRU list; when the
 * table is full its least recently used entry is evicted first. NULL
 * (counted as refused) only if nothing could be evicted, which a table
 * of at least one entry on one evictable list never does.
 */
static void *val_take(struct ktable *kt, uint32_t h)
{
	void *v = kt_victim(kt);
	if (v)
		kt_remove(kt, v, 1);
	void *e = kt_insert(kt, h, VAL_LRU, 0);
	if (!e)
		kt_refused(kt);
	return e;
}

/*
 * The series of dev/field (both at most their *_MAX bytes), created empty
 * when new; NULL only when the table refuses it.
 */
static struct val_series *val_series_get(struct val *s, const char *dev, const char *field)
{
	char key[VAL_KEY_MAX];
	size_t kn = val_series_key(key, dev, field);
	uint32_t h = kt_hash(s->ser, key, kn);
	for (struct val_series *x = kt_first(s->ser, h); x; x = kt_next(s->ser, x))
		if (kt_hash_of(x) == h && !strcmp(x->device, dev) && !strcmp(x->field, field)) {
			kt_touch(s->ser, x);
			return x;
		}
	struct val_series *x = val_take(s->ser, h);
	if (!x)
		return NULL;
	snprintf(x->device, sizeof(x->device), "%s", dev);
	snprintf(x->field, sizeof(x->field), "%s", field);
	return x;
}

/* The owner record of dev; *fresh says it was just created (empty). */
static struct val_owner *val_owner_get(struct val *s, const char *dev, bool *fresh)
{
	uint32_t h = kt_hash(s->own, dev, strlen(dev));
	*fresh = false;
	for (struct val_owner *o = kt_first(s->own, h); o; o = kt_next(s->own, o))
		if (kt_hash_of(o) == h && !strcmp(o->device, dev)) {
			kt_touch(s->own, o);
			return o;
		}
	struct val_owner *o = val_take(s->own, h);
	if (!o)
		return NULL;
	*fresh = true;
	snprintf(o->device, sizeof(o->device), "%s", dev);
	return o;
}

/* ---- reports ---- */

/* A finite number as JSON (null otherwise: meta must stay valid JSON). */
static void val_jnum(struct jw *w, const char *key, double v, int prec)
{
	char b[40];
	int n = isfinite(v) ? snprintf(b, sizeof(b), "%.*g", prec, v) : snprintf(b, sizeof(b), "null");
	jw_raw(w, key, b, (size_t)n);
}

/* A copy of s for the one-line detail: control bytes become '?'. */
static const char *val_plain(char *buf, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = 0;
	return buf;
}

static void val_emit(struct val *s, const struct sensor_msg *m, const char *event)
{
	struct sensor_report r;
	memset(&r, 0, sizeof(r));
	r.base = m->ev;
	r.ts_us = m->ts_us;
	r.addr = &m->client;
	r.layer = "telemetry";
	r.event = event;
	r.detail = s->detail;
	if (!s->w.oom && s->w.len) {
		r.meta = s->w.buf;
		r.meta_len = s->w.len;
	}
	s->env.report(s->env.ud, &r);
}

/* Starts a value event's meta: device, field, value and (when learned) baseline. */
static void val_meta_head(struct val *s, const struct val_series *x, double v)
{
	jw_reset(&s->w);
	jw_cstr(&s->w, "device", x->device);
	jw_cstr(&s->w, "field", x->field);
	val_jnum(&s->w, "value", v, 10);
	if (x->n)
		val_jnum(&s->w, "baseline", x->level, 6);
	else
		jw_raw(&s->w, "baseline", "null", 4);
}

/* Decimals that show a level at the field's resolution plus one. */
static int val_decimals(double res)
{
	if (!(res > 0))
		return 2;
	int d = (int)ceil(-log10(res) - 1e-9) + 1;
	return d < 1 ? 1 : d > 6 ? 6 : d;
}

/* ---- the baseline ---- */

static double val_grid(const struct val_series *x)
{
	return x->grid < VAL_N_GRIDS ? val_grids[x->grid] : 0;
}

/* Moves the series' grid down until v sits on it (or nothing fits). */
static void val_grid_update(struct val_series *x, double v)
{
	while (x->grid < VAL_N_GRIDS) {
		double q = v / val_grids[x->grid];
		if (fabs(q - nearbyint(q)) <= 1e-6 * (fabs(q) > 1 ? fabs(q) : 1))
			return;
		x->grid++;
	}
}

/*
 * Learns v (a normal sample dt seconds after the previous one; dt < 0:
 * none before) into the level, the scale and the typical interval.
 */
static void val_learn(struct val_series *x, double v, double dt)
{
	val_grid_update(x, v);
	if (x->n == 0) {
		x->level = v;
		x->scale = 0;
		x->n = 1;
		return;
	}
	double dev = v - x->level;
	double al = 1.0 / (x->n + 1 < VAL_LEVEL_N ? x->n + 1 : VAL_LEVEL_N);
	double as = 1.0 / (x->n < VAL_SCALE_N ? x->n : VAL_SCALE_N);
	/*
	 * The noise does not grow with time, but what a late sample differs
	 * by does (the room moved on): a late sample moves the stale level
	 * more and does not teach the scale.
	 */
	bool late = x->ival > 0 && dt > 2 * x->ival;
	if (dt > 0) {
		double at = 1 - exp(-dt / VAL_LEVEL_TAU);
		al = at > al ? at : al;
		if (x->ival <= 0)
			x->ival = dt;
		else
			x->ival += 0.1 * ((dt < 3 * x->ival ? dt : 3 * x->ival) - x->ival);
	}
	x->level += al * dev;
	/*
	 * Deviations teach the scale clipped at VAL_SCALE_CLIP scales (never
	 * less than half a grid step), so a ramp that stays just under the
	 * threshold (a sensor being heated) cannot widen the scale, and the
	 * threshold with it, as fast as the ramp climbs: a reading grows the
	 * scale by at most its learning rate (2 % at full length). For
	 * Gaussian noise the clipped scale is about 0.73 sigma instead of 0.8.
	 */
	double ad = fabs(dev);
	double cs = x->scale > VAL_FLOOR_STEPS * val_grid(x) ? x->scale : VAL_FLOOR_STEPS * val_grid(x);
	if (x->n >= VAL_SCALE_CLIP_N && cs > 0 && ad > VAL_SCALE_CLIP * cs)
		ad = VAL_SCALE_CLIP * cs;
	if (!late)
		x->scale += as * (ad - x->scale);
	if (x->n < 1000000000u)
		x->n++;
}

struct val_judge {
	double res, scale, thr, dev, z;
};

/* How far v is from the level, in the units the reports use. */
static void val_judge(const struct val *s, const struct val_series *x, const struct tm_field *f,
		      double v, double dt, struct val_judge *j)
{
	double fres = f ? f->resolution : 0;
	double g = val_grid(x);
	j->res = fres > g ? fres : g;
	double floor = j->res > 0 ? VAL_FLOOR_STEPS * j->res
				  : 1e-9 * (fabs(x->level) > 1 ? fabs(x->level) : 1);
	j->scale = x->scale > floor ? x->scale : floor;
	double mj = s->cfg.has_min_jump ? s->cfg.min_jump : VAL_JUMP_STEPS * j->res;
	j->thr = s->cfg.sensitivity * j->scale;
	if (mj > j->thr)
		j->thr = mj;
	/* After a gap the value may honestly have moved further. */
	double late = dt - 2 * x->ival;
	if (x->ival > 0 && late > 0)
		j->thr *= sqrt(1 + late / VAL_GAP_TAU);
	j->dev = v - x->level;
	j->z = fabs(j->dev) / j->scale;
}

static void val_report_jump(struct val *s, const struct sensor_msg *m, const struct val_series *x,
			    double v, const struct val_judge *j)
{
	val_meta_head(s, x, v);
	val_jnum(&s->w, "delta", j->dev, 6);
	val_jnum(&s->w, "scale", j->scale, 6);
	val_jnum(&s->w, "z", j->z, 4);
	val_jnum(&s->w, "threshold", j->thr, 6);
	jw_uint(&s->w, "samples", x->n);
	char d[SENSOR_ID_MAX + 1];
	snprintf(s->detail, sizeof(s->detail), "%s of %s %g vs baseline %.*f (z %.1f)", x->field,
		 val_plain(d, sizeof(d), x->device), v, val_decimals(j->res), x->level, j->z);
	val_emit(s, m, "value_jump");
}

/*
 * The jump logic for one in-range sample of the owner after warm-up.
 * Returns true when v is normal (and may be learned).
 */
static bool val_check_jump(struct val *s, const struct sensor_msg *m, struct val_series *x,
			   const struct tm_field *f, double v, double dt)
{
	struct val_judge j;
	val_judge(s, x, f, v, dt, &j);
	if (fabs(j.dev) <= j.thr) {
		x->pend_n = 0;
		x->pend_score = 0;
		if (x->in_jump && ++x->calm_n >= VAL_REARM) {
			x->in_jump = false;
			x->ep_n = 0;
			x->calm_n = 0;
		}
		return true;
	}
	int8_t sign = j.dev > 0 ? 1 : -1;
	x->calm_n = 0;
	if (!x->in_jump) {
		if (x->pend_n && x->pend_sign == sign) {
			x->pend_n++;
			x->pend_score += fabs(j.dev) / j.thr;
		} else {
			x->pend_n = 1;
			x->pend_sign = sign;
			x->pend_score = fabs(j.dev) / j.thr;
			x->ep_level = v;
		}
		if (x->pend_n >= VAL_CONFIRM || x->pend_score >= VAL_SCORE) {
			x->in_jump = true;
			x->ep_n = x->pend_n;
			x->pend_n = 0;
			x->pend_score = 0;
			val_report_jump(s, m, x, v, &j);
		}
	} else if (x->ep_n < UINT32_MAX) {
		x->ep_n++;
	}
	x->ep_level += 0.2 * (v - x->ep_level);
	/* A new level that lasts is the new normal (silently: docs/sensors.md). */
	if (x->in_jump && s->cfg.relearn && x->ep_n >= s->cfg.relearn) {
		x->level = x->ep_level;
		x->in_jump = false;
		x->ep_n = 0;
		x->calm_n = 0;
		s->relearned++;
	}
	return false;
}

static void val_check_rate(struct val *s, const struct sensor_msg *m, struct val_series *x,
			   const struct tm_field *f, double v, double dt)
{
	if (!f || !(f->max_rate > 0) || !x->has_last || dt < 0.001)
		return;
	double rate = fabs(v - x->last_v) / dt;
	if (rate <= f->max_rate) {
		x->in_rate = false;
		return;
	}
	if (x->in_rate)
		return;
	x->in_rate = true;
	val_meta_head(s, x, v);
	val_jnum(&s->w, "previous", x->last_v, 10);
	val_jnum(&s->w, "rate", rate, 6);
	val_jnum(&s->w, "max_rate", f->max_rate, 6);
	val_jnum(&s->w, "interval", dt, 6);
	char d[SENSOR_ID_MAX + 1];
	snprintf(s->detail, sizeof(s->detail), "%s of %s changed %g -> %g in %.3g s (%.3g/s, max %g/s)",
		 x->field, val_plain(d, sizeof(d), x->device), x->last_v, v, dt, rate, f->max_rate);
	val_emit(s, m, "value_rate_exceeded");
}

static void val_check_stuck(struct val *s, const struct sensor_msg *m, struct val_series *x,
			    double v)
{
	if (x->run_n == 0 || v != x->run_v) {
		if (x->run_n)
			x->varied = true;
		x->run_v = v;
		x->run_since = m->ts_us;
		x->run_n = 1;
		x->in_stuck = false;
		return;
	}
	if (x->run_n < UINT32_MAX)
		x->run_n++;
	if (!(s->cfg.stuck_after > 0) || !x->varied || x->in_stuck)
		return;
	double for_s = m->ts_us >= x->run_since ? (double)(m->ts_us - x->run_since) / 1e6 : 0;
	if (x->run_n < s->cfg.stuck_samples || for_s < s->cfg.stuck_after)
		return;
	x->in_stuck = true;
	val_meta_head(s, x, v);
	jw_uint(&s->w, "samples", x->run_n);
	val_jnum(&s->w, "seconds", for_s, 10);
	char d[SENSOR_ID_MAX + 1];
	snprintf(s->detail, sizeof(s->detail), "%s of %s stuck at %g for %.0f s (%u samples)",
		 x->field, val_plain(d, sizeof(d), x->device), v, for_s, (unsigned)x->run_n);
	val_emit(s, m, "value_stuck");
}

/* Out of the field's physical range: reported once until back in range. */
static bool val_check_range(struct val *s, const struct sensor_msg *m, struct val_series *x,
			    const struct tm_field *f, double v)
{
	bool out = f && ((f->has_min && v < f->min) || (f->has_max && v > f->max));
	if (!out) {
		x->in_range = false;
		return false;
	}
	if (x->in_range)
		return true;
	x->in_range = true;
	val_meta_head(s, x, v);
	if (f->has_min)
		val_jnum(&s->w, "min", f->min, 10);
	if (f->has_max)
		val_jnum(&s->w, "max", f->max, 10);
	char d[SENSOR_ID_MAX + 1];
	char lo[32] = "-inf", hi[32] = "inf";
	if (f->has_min)
		snprintf(lo, sizeof(lo), "%g", f->min);
	if (f->has_max)
		snprintf(hi, sizeof(hi), "%g", f->max);
	snprintf(s->detail, sizeof(s->detail), "%s of %s %g outside its range [%s, %s]", x->field,
		 val_plain(d, sizeof(d), x->device), v, lo, hi);
	val_emit(s, m, "value_out_of_range");
	return true;
}

/*
 * One in-range reading of a device's owner: rate, then the baseline (learn
 * during warm-up, judge after), then stuck; the sample then becomes the
 * series' previous one.
 */
static void val_sample(struct val *s, const struct sensor_msg *m, struct val_series *x,
		       const struct tm_field *f, double v)
{
	double dt = -1;
	if (x->has_last)
		dt = m->ts_us >= x->last_us ? (double)(m->ts_us - x->last_us) / 1e6 : 0;
	val_check_rate(s, m, x, f, v, dt);
	if (x->n > 0 && dt > s->cfg.gap) {
		/* Too long gone to compare: restart the level, keep the scale. */
		x->level = v;
		x->pend_n = 0;
		x->pend_score = 0;
		x->in_jump = false;
		x->ep_n = 0;
		x->calm_n = 0;
		s->reseeded++;
	} else if (x->n < s->cfg.warmup || val_check_jump(s, m, x, f, v, dt)) {
		val_learn(x, v, dt);
	}
	val_check_stuck(s, m, x, v);
	x->has_last = true;
	x->last_v = v;
	x->last_us = m->ts_us;
}

/* ---- ownership ---- */

static bool val_addr_same(const struct sensor_addr *a, const struct sensor_addr *b)
{
	if (a->family != b->family)
		return false;
	return !memcmp(a->a, b->a, a->family == 4 ? 4 : 16);
}

/*
 * An offender's fingerprint (client id and address), compared with the
 * episode's and saved in the state file as hex. It indexes no table, and
 * the state file must not depend on the process's hash key: unseeded.
 */
static uint64_t val_offender_hash(const char *cid, const struct sensor_addr *a)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, cid, strlen(cid) + 1);
	h = hash_fnv1a(h, &a->family, 1);
	return hash_fnv1a(h, a->a, a->family == 4 ? 4 : a->family == 6 ? 16 : 0);
}

static void val_copy_addr(struct sensor_addr *dst, const struct sensor_addr *src)
{
	*dst = *src;
	dst->str[sizeof(dst->str) - 1] = 0;
}

static void val_report_spoof(struct val *s, const struct sensor_msg *m, const struct val_owner *o,
			     const char *dev, const char *cid)
{
	char addr[SENSOR_ADDR_STR];
	snprintf(addr, sizeof(addr), "%s", m->client.str);
	jw_reset(&s->w);
	jw_cstr(&s->w, "device", dev);
	jw_cstr(&s->w, "client_id", cid);
	jw_cstr(&s->w, "address", addr);
	jw_cstr(&s->w, "owner_client_id", o->client_id);
	jw_cstr(&s->w, "owner_address", o->addr.family ? o->addr.str : "");
	char d[SENSOR_ID_MAX + 1], c[SENSOR_ID_MAX + 1], oc[SENSOR_ID_MAX + 1];
	snprintf(s->detail, sizeof(s->detail), "%s published by %s from %s; owner %s from %s",
		 val_plain(d, sizeof(d), dev), val_plain(c, sizeof(c), cid[0] ? cid : "(unknown)"),
		 addr[0] ? addr : "(unknown)", val_plain(oc, sizeof(oc), o->client_id),
		 o->addr.family ? o->addr.str : "(any)");
	val_emit(s, m, "value_spoofed");
}

/*
 * Checks who published dev's reading against its owner (learning the owner
 * from the first publisher in mode first). Returns true when the message
 * is not the owner's; the first message of each offender's episode is
 * reported as value_spoofed.
 */
static bool val_check_owner(struct val *s, const struct sensor_msg *m, const char *dev)
{
	if (s->cfg.owner == VAL_OWNER_OFF)
		return false;
	char cid[SENSOR_ID_MAX + 1];
	sensor_copy_str(cid, sizeof(cid), m->client_id);
	bool fresh;
	struct val_owner *o = val_owner_get(s, dev, &fresh);
	if (!o)
		return false;
	bool cid_diff = false, addr_diff = false;
	if (s->cfg.owner == VAL_OWNER_CLIENT_ID) {
		if (fresh)
			sensor_copy_str(o->client_id, sizeof(o->client_id), dev);
		cid_diff = cid[0] && strcmp(cid, dev) != 0;
	} else {
		if (fresh) {
			sensor_copy_str(o->client_id, sizeof(o->client_id), cid);
			val_copy_addr(&o->addr, &m->client);
			return false;
		}
		cid_diff = cid[0] && o->client_id[0] && strcmp(cid, o->client_id) != 0;
		addr_diff = m->client.family && o->addr.family && !val_addr_same(&m->client, &o->addr);
		/* Fill in what the first message did not tell (a capture started mid-session). */
		if (!cid_diff && !addr_diff) {
			if (!o->client_id[0] && cid[0])
				sensor_copy_str(o->client_id, sizeof(o->client_id), cid);
			if (!o->addr.family && m->client.family)
				val_copy_addr(&o->addr, &m->client);
		}
	}
	if (!cid_diff && !addr_diff) {
		o->move_n = 0;
		return false;
	}
	uint64_t h = val_offender_hash(cid, &m->client);
	/*
	 * The owner's client id alone from a new address, message after
	 * message with nothing from the old one, is a device that moved
	 * (DHCP), not a takeover: a takeover's victim comes back and kicks
	 * the intruder off. After `relearn` such messages the new address is
	 * the owner's.
	 */
	if (!cid_diff && s->cfg.relearn) {
		if (o->move_n && o->move_hash == h) {
			if (++o->move_n >= s->cfg.relearn) {
				val_copy_addr(&o->addr, &m->client);
				o->move_n = 0;
				o->spoof_active = false;
				return false;
			}
		} else {
			o->move_hash = h;
			o->move_n = 1;
		}
	}
	bool again = o->spoof_active && o->spoof_hash == h &&
		     m->ts_us - o->spoof_last_us <= VAL_SPOOF_REARM_US && m->ts_us >= o->spoof_last_us;
	o->spoof_active = true;
	o->spoof_hash = h;
	o->spoof_last_us = m->ts_us;
	if (!again)
		val_report_spoof(s, m, o, dev, cid);
	return true;
}

/* ---- messages ---- */

static void val_report_unparsed(struct val *s, const struct sensor_msg *m, const char *dev)
{
	char err[sizeof(m->tm->error)];
	size_t en = strnlen(m->tm->error, sizeof(err) - 1);
	memcpy(err, m->tm->error, en);
	err[en] = 0;
	jw_reset(&s->w);
	jw_cstr(&s->w, "device", dev);
	size_t budget = 256;
	jw_str_budget(&s->w, "topic", m->topic.p ? m->topic.p : (const uint8_t *)"",
		      m->topic.p ? m->topic.len : 0, &budget);
	jw_cstr(&s->w, "error", err);
	char d[SENSOR_ID_MAX + 1], e[sizeof(err)];
	snprintf(s->detail, sizeof(s->detail), "payload of %s not understood: %s",
		 dev[0] ? val_plain(d, sizeof(d), dev) : "(unknown device)",
		 val_plain(e, sizeof(e), err[0] ? err : "unparsed"));
	val_emit(s, m, "payload_unparsed");
}

/*
 * One message: payload_unparsed for a bad payload, the owner check, then
 * each value: out of range for anyone's, the baseline only for the owner's
 * (a forged reading must not teach the baseline, nor be judged against a
 * device it did not come from).
 */
static void val_on_msg(void *state, const struct sensor_msg *m)
{
	struct val *s = state;
	if (!s || !s->cfg.enabled || !m || !m->tm)
		return;
	const struct tm_result *tm = m->tm;
	char dev[SENSOR_ID_MAX + 1];
	size_t dn = strnlen(tm->device, SENSOR_ID_MAX);
	memcpy(dev, tm->device, dn);
	dev[dn] = 0;
	if (tm->bad)
		val_report_unparsed(s, m, dev);
	if (!dev[0])
		return;
	const struct tm_entry *e = NULL;
	if (s->env.tm && tm->entry >= 0 && (uint32_t)tm->entry < s->env.tm->n &&
	    (uint32_t)tm->entry < TM_MAX_ENTRIES)
		e = &s->env.tm->e[tm->entry];
	bool spoofed = val_check_owner(s, m, dev);
	uint32_t n = tm->n < SENSOR_MAX_VALUES ? tm->n : SENSOR_MAX_VALUES;
	for (uint32_t i = 0; i < n; i++) {
		const struct tm_value *tv = &tm->v[i];
		const struct tm_field *f = NULL;
		if (e && tv->field < e->n_fields && tv->field < SENSOR_MAX_VALUES)
			f = &e->fields[tv->field];
		char field[SENSOR_FIELD_MAX + 1];
		const char *name = f ? f->name : tv->name;
		if (!name)
			continue;
		size_t fn = strnlen(name, SENSOR_FIELD_MAX);
		memcpy(field, name, fn);
		field[fn] = 0;
		if (!field[0] || !isfinite(tv->v))
			continue;
		struct val_series *x = val_series_get(s, dev, field);
		if (!x)
			continue;
		if (val_check_range(s, m, x, f, tv->v) || spoofed)
			continue;
		val_sample(s, m, x, f, tv->v);
	}
}

/* ---- configuration ---- */

static const char *const val_keys[] = {
	"enabled", "warmup", "sensitivity", "min-jump", "stuck-after", "stuck-samples",
	"relearn", "gap", "owner", "max-devices",
};

/* A whole number member in [lo, hi]; reports and sets *bad otherwise. */
static uint32_t val_cfg_uint(FILE *log, const cJSON *c, const char *key, uint32_t def,
			     uint32_t lo, uint32_t hi, bool *bad)
{
	bool b = false;
	double v = scfg_num(log, c, key, def, &b);
	if (b) {
		*bad = true;
		return def;
	}
	if (v != floor(v) || v < lo || v > hi) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(c, key),
			 "expected a whole number from %u to %u, got %g", (unsigned)lo, (unsigned)hi, v);
		*bad = true;
		return def;
	}
	return (uint32_t)v;
}

/*
 * Reads the "value" section (NULL: defaults) into *o. Returns 0, or -1
 * after reporting every problem on log (a wrong value is a wrong policy).
 * Unknown keys are reported and ignored.
 */
static int val_cfg_parse(FILE *log, const cJSON *c, struct val_cfg *o)
{
	bool bad = false;
	if (c && !cJSON_IsObject(c)) {
		scfg_err(log, c, "expected a mapping of value detector settings");
		return -1;
	}
	for (const cJSON *it = c ? c->child : NULL; it; it = it->next) {
		bool known = false;
		for (size_t k = 0; k < sizeof(val_keys) / sizeof(val_keys[0]); k++)
			known = known || (it->string && !strcmp(it->string, val_keys[k]));
		if (!known)
			scfg_err(log, it, "unknown value detector setting; ignored");
	}
	o->enabled = scfg_bool(log, c, "enabled", true, &bad);
	o->warmup = val_cfg_uint(log, c, "warmup", SENSOR_VALUE_DEF_WARMUP, 2, 1000000, &bad);
	o->sensitivity = scfg_num(log, c, "sensitivity", SENSOR_VALUE_DEF_SENSITIVITY, &bad);
	if (!(o->sensitivity > 0 && o->sensitivity <= 1000)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(c, "sensitivity"),
			 "must be above 0 and at most 1000");
		bad = true;
	}
	o->has_min_jump = c && cJSON_GetObjectItemCaseSensitive(c, "min-jump");
	o->min_jump = scfg_num(log, c, "min-jump", 0, &bad);
	if (o->min_jump < 0) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(c, "min-jump"), "must not be negative");
		bad = true;
	}
	o->stuck_after = scfg_dur(log, c, "stuck-after", SENSOR_VALUE_DEF_STUCK_AFTER, &bad);
	o->stuck_samples = val_cfg_uint(log, c, "stuck-samples", SENSOR_VALUE_DEF_STUCK_SAMPLES, 1,
					1000000000u, &bad);
	o->relearn = val_cfg_uint(log, c, "relearn", SENSOR_VALUE_DEF_RELEARN, 0, 1000000000u, &bad);
	o->gap = scfg_dur(log, c, "gap", SENSOR_VALUE_DEF_GAP, &bad);
	if (!(o->gap > 0)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(c, "gap"), "must be above 0");
		bad = true;
	}
	const char *ow = scfg_str(log, c, "owner", "first", &bad);
	if (ow && !strcasecmp(ow, "first"))
		o->owner = VAL_OWNER_FIRST;
	else if (ow && (!strcasecmp(ow, "client-id") || !strcasecmp(ow, "client_id")))
		o->owner = VAL_OWNER_CLIENT_ID;
	else if (ow && (!strcasecmp(ow, "off") || !strcasecmp(ow, "no") || !strcasecmp(ow, "false")))
		o->owner = VAL_OWNER_OFF;
	else {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(c, "owner"),
			 "expected first, client-id or off, got '%.64s'", ow ? ow : "");
		bad = true;
	}
	o->max_devices = val_cfg_uint(log, c, "max-devices", SENSOR_VALUE_DEF_MAX_DEVICES, 1,
				      1000000, &bad);
	return bad ? -1 : 0;
}

/* ---- lifecycle ---- */

static void val_free(void *state)
{
	struct val *s = state;
	if (!s)
		return;
	kt_free(s->ser);
	kt_free(s->own);
	jw_deinit(&s->w);
	free(s);
}

/*
 * Reads the configuration and preallocates everything on_msg uses: the
 * series and owner tables (max-devices each) and the meta buffer.
 */
static int val_init(const struct sensor_env *env, const cJSON *cfg, void **state)
{
	*state = NULL;
	struct val *s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->env = *env;
	if (val_cfg_parse(env->log, cfg, &s->cfg) < 0) {
		val_free(s);
		return -1;
	}
	uint32_t cap = s->cfg.max_devices;
	s->ser = val_table("value_series", cap, sizeof(struct val_series));
	s->own = val_table("value_owners", cap, sizeof(struct val_owner));
	if (!s->ser || !s->own)
		goto oom;
	jw_init(&s->w);
	static const char pad[256];
	for (size_t i = 0; i < VAL_META_RESERVE / sizeof(pad); i++)
		jw_append(&s->w, pad, sizeof(pad));
	if (s->w.oom)
		goto oom;
	jw_reset(&s->w);
	*state = s;
	return 0;
oom:
	if (env->log)
		fprintf(env->log, "value: out of memory for %u series\n",
			s ? (unsigned)s->cfg.max_devices : 0u);
	val_free(s);
	return -1;
}

void sensor_value_get_stats(const void *state, struct sensor_value_stats *out)
{
	memset(out, 0, sizeof(*out));
	const struct val *s = state;
	if (!s)
		return;
	const struct kt_stats *ss = kt_stats(s->ser), *os = kt_stats(s->own);
	out->series = ss->active;
	out->series_cap = kt_capacity(s->ser);
	out->owners = os->active;
	out->owners_cap = kt_capacity(s->own);
	out->series_evicted = ss->evicted;
	out->owners_evicted = os->evicted;
	out->relearned = s->relearned;
	out->reseeded = s->reseeded;
	out->loaded = s->loaded;
	out->load_skipped = s->load_skipped;
}

/* ---- state ---- */

static void val_put_num(cJSON *o, const char *k, double v)
{
	cJSON_AddNumberToObject(o, k, v);
}

static cJSON *val_save_series(const struct val_series *x)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "device", x->device);
	cJSON_AddStringToObject(o, "field", x->field);
	val_put_num(o, "n", x->n);
	val_put_num(o, "level", x->level);
	val_put_num(o, "scale", x->scale);
	val_put_num(o, "grid", val_grid(x));
	val_put_num(o, "ival", x->ival);
	if (x->has_last) {
		val_put_num(o, "last", x->last_v);
		val_put_num(o, "last_us", (double)x->last_us);
	}
	val_put_num(o, "pend_n", x->pend_n);
	val_put_num(o, "pend_sign", x->pend_sign);
	val_put_num(o, "pend_score", x->pend_score);
	cJSON_AddBoolToObject(o, "in_jump", x->in_jump);
	val_put_num(o, "ep_n", x->ep_n);
	val_put_num(o, "ep_level", x->ep_level);
	val_put_num(o, "calm_n", x->calm_n);
	cJSON_AddBoolToObject(o, "in_range", x->in_range);
	cJSON_AddBoolToObject(o, "in_rate", x->in_rate);
	cJSON_AddBoolToObject(o, "in_stuck", x->in_stuck);
	cJSON_AddBoolToObject(o, "varied", x->varied);
	if (x->run_n) {
		val_put_num(o, "run_n", x->run_n);
		val_put_num(o, "run_v", x->run_v);
		val_put_num(o, "run_since", (double)x->run_since);
	}
	return o;
}

/*
 * The baselines and owners, least recently used first so that a load
 * rebuilds the same LRU order: {"version":1,"series":[...],"owners":[...]}.
 */
static cJSON *val_save(void *state)
{
	struct val *s = state;
	if (!s)
		return NULL;
	cJSON *root = cJSON_CreateObject();
	cJSON *ser = cJSON_AddArrayToObject(root, "series");
	cJSON *own = cJSON_AddArrayToObject(root, "owners");
	if (!root || !ser || !own)
		goto fail;
	cJSON_AddNumberToObject(root, "version", 1);
	for (const struct val_series *x = kt_tail(s->ser, VAL_LRU); x; x = kt_newer(s->ser, x)) {
		cJSON *o = val_save_series(x);
		if (!o)
			goto fail;
		cJSON_AddItemToArray(ser, o);
	}
	for (const struct val_owner *w = kt_tail(s->own, VAL_LRU); w; w = kt_newer(s->own, w)) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			goto fail;
		cJSON_AddItemToArray(own, o);
		cJSON_AddStringToObject(o, "device", w->device);
		cJSON_AddStringToObject(o, "client_id", w->client_id);
		cJSON_AddStringToObject(o, "address", w->addr.family ? w->addr.str : "");
		/* The episodes in progress, so a restart does not repeat a report. */
		char hx[17];
		if (w->spoof_active) {
			snprintf(hx, sizeof(hx), "%016llx", (unsigned long long)w->spoof_hash);
			cJSON_AddStringToObject(o, "spoof", hx);
			val_put_num(o, "spoof_last_us", (double)w->spoof_last_us);
		}
		if (w->move_n) {
			snprintf(hx, sizeof(hx), "%016llx", (unsigned long long)w->move_hash);
			cJSON_AddStringToObject(o, "move", hx);
			val_put_num(o, "move_n", w->move_n);
		}
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

/* A string member of at most max bytes, non-empty; NULL otherwise. */
static const char *val_ld_str(const cJSON *o, const char *k, size_t max, bool empty_ok)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsString(v) || !v->valuestring)
		return NULL;
	size_t n = strnlen(v->valuestring, max + 1);
	if (n > max || (!n && !empty_ok))
		return NULL;
	return v->valuestring;
}

/*
 * A finite number member within [lo, hi] into *out; a missing member
 * leaves *out as it is when optional. Returns false when unusable.
 */
static bool val_ld_num(const cJSON *o, const char *k, double lo, double hi, bool optional,
		       double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		return optional;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
	    v->valuedouble > hi)
		return false;
	*out = v->valuedouble;
	return true;
}

static bool val_ld_bool(const cJSON *o, const char *k, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		return true;
	if (!cJSON_IsBool(v))
		return false;
	*out = cJSON_IsTrue(v);
	return true;
}

#define VAL_BIG 1e300
#define VAL_US_MAX 9007199254740992.0 /* 2^53: exact in a double */

/* One saved series into a scratch copy; false when anything is unusable. */
static bool val_load_series(const cJSON *o, struct val_series *x)
{
	memset(x, 0, sizeof(*x));
	const char *dev = val_ld_str(o, "device", SENSOR_ID_MAX, false);
	const char *field = val_ld_str(o, "field", SENSOR_FIELD_MAX, false);
	if (!cJSON_IsObject(o) || !dev || !field)
		return false;
	snprintf(x->device, sizeof(x->device), "%s", dev);
	snprintf(x->field, sizeof(x->field), "%s", field);
	double n = 0, grid = 0, last = NAN, last_us = NAN, pend_n = 0, pend_sign = 0, ep_n = 0;
	double calm_n = 0, run_n = 0, run_v = 0, run_since = 0;
	bool ok = val_ld_num(o, "n", 0, 1e9, false, &n) &&
		  val_ld_num(o, "level", -VAL_BIG, VAL_BIG, false, &x->level) &&
		  val_ld_num(o, "scale", 0, VAL_BIG, false, &x->scale) &&
		  val_ld_num(o, "grid", 0, 1, true, &grid) &&
		  val_ld_num(o, "ival", 0, 1e9, true, &x->ival) &&
		  val_ld_num(o, "last", -VAL_BIG, VAL_BIG, true, &last) &&
		  val_ld_num(o, "last_us", 0, VAL_US_MAX, true, &last_us) &&
		  val_ld_num(o, "pend_n", 0, VAL_CONFIRM, true, &pend_n) &&
		  val_ld_num(o, "pend_sign", -1, 1, true, &pend_sign) &&
		  val_ld_num(o, "pend_score", 0, 1e9, true, &x->pend_score) &&
		  val_ld_num(o, "ep_n", 0, 4e9, true, &ep_n) &&
		  val_ld_num(o, "ep_level", -VAL_BIG, VAL_BIG, true, &x->ep_level) &&
		  val_ld_num(o, "calm_n", 0, VAL_REARM, true, &calm_n) &&
		  val_ld_bool(o, "in_jump", &x->in_jump) && val_ld_bool(o, "in_range", &x->in_range) &&
		  val_ld_bool(o, "in_rate", &x->in_rate) && val_ld_bool(o, "in_stuck", &x->in_stuck) &&
		  val_ld_bool(o, "varied", &x->varied) &&
		  val_ld_num(o, "run_n", 0, 4e9, true, &run_n) &&
		  val_ld_num(o, "run_v", -VAL_BIG, VAL_BIG, true, &run_v) &&
		  val_ld_num(o, "run_since", 0, VAL_US_MAX, true, &run_since);
	if (!ok)
		return false;
	x->n = (uint32_t)n;
	x->grid = VAL_N_GRIDS;
	for (uint8_t g = 0; g < VAL_N_GRIDS; g++)
		if (fabs(grid - val_grids[g]) < 1e-12)
			x->grid = g;
	if (isfinite(last) != isfinite(last_us))
		return false;
	if (isfinite(last)) {
		x->has_last = true;
		x->last_v = last;
		x->last_us = (uint64_t)last_us;
	}
	x->pend_n = (uint8_t)pend_n;
	x->pend_sign = (int8_t)(pend_sign < 0 ? -1 : pend_sign > 0 ? 1 : 0);
	x->ep_n = (uint32_t)ep_n;
	x->calm_n = (uint8_t)calm_n;
	x->run_n = (uint32_t)run_n;
	x->run_v = run_v;
	x->run_since = (uint64_t)run_since;
	return true;
}

/* Exactly 16 hex digits into *out. */
static bool val_ld_hex(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; s[i]; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0 || i >= 16)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return i == 16;
}

static bool val_parse_addr(const char *txt, struct sensor_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!txt[0])
		return true;
	if (inet_pton(AF_INET, txt, a->a) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, txt, a->a) == 1)
		a->family = 6;
	else
		return false;
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, a->str, sizeof(a->str)))
		return false;
	return true;
}

static void val_load_skip(struct val *s, const char *what, int idx, const char *why)
{
	s->load_skipped++;
	if (s->env.log)
		fprintf(s->env.log, "state: value: %s %d: %s; ignored\n", what, idx, why);
}

/*
 * Takes what val_save wrote (untrusted: a hand-edited or corrupted file).
 * Each unusable item is reported and skipped; at most max-devices items of
 * each kind are read.
 */
static void val_load(void *state, const cJSON *saved)
{
	struct val *s = state;
	if (!s || !saved)
		return;
	if (!cJSON_IsObject(saved)) {
		val_load_skip(s, "state", 0, "not an object");
		return;
	}
	const cJSON *ser = cJSON_GetObjectItemCaseSensitive(saved, "series");
	const cJSON *own = cJSON_GetObjectItemCaseSensitive(saved, "owners");
	int i = 0;
	if (ser && !cJSON_IsArray(ser))
		val_load_skip(s, "series", 0, "not a list");
	else if (ser) {
		for (const cJSON *it = ser->child; it; it = it->next, i++) {
			if ((uint32_t)i >= s->cfg.max_devices) {
				val_load_skip(s, "series", i, "more than max-devices; the rest is ignored too");
				break;
			}
			struct val_series tmp;
			if (!val_load_series(it, &tmp)) {
				val_load_skip(s, "series", i, "wrong or missing members");
				continue;
			}
			struct val_series *x = val_series_get(s, tmp.device, tmp.field);
			if (!x)
				continue;
			tmp.node = x->node;
			*x = tmp;
			s->loaded++;
		}
	}
	i = 0;
	if (own && !cJSON_IsArray(own))
		val_load_skip(s, "owners", 0, "not a list");
	else if (own) {
		for (const cJSON *it = own->child; it; it = it->next, i++) {
			if ((uint32_t)i >= s->cfg.max_devices) {
				val_load_skip(s, "owners", i, "more than max-devices; the rest is ignored too");
				break;
			}
			const char *dev = val_ld_str(it, "device", SENSOR_ID_MAX, false);
			const char *cid = val_ld_str(it, "client_id", SENSOR_ID_MAX, true);
			const char *ad = val_ld_str(it, "address", SENSOR_ADDR_STR - 1, true);
			struct sensor_addr a;
			if (!cJSON_IsObject(it) || !dev || !cid || !ad || !val_parse_addr(ad, &a)) {
				val_load_skip(s, "owners", i, "wrong or missing members");
				continue;
			}
			struct val_owner tmp;
			memset(&tmp, 0, sizeof(tmp));
			double sl = 0, mn = 0;
			const char *sp = val_ld_str(it, "spoof", 16, false);
			const char *mv = val_ld_str(it, "move", 16, false);
			if ((cJSON_GetObjectItemCaseSensitive(it, "spoof") &&
			     (!sp || !val_ld_hex(sp, &tmp.spoof_hash) ||
			      !val_ld_num(it, "spoof_last_us", 0, VAL_US_MAX, false, &sl))) ||
			    (cJSON_GetObjectItemCaseSensitive(it, "move") &&
			     (!mv || !val_ld_hex(mv, &tmp.move_hash) ||
			      !val_ld_num(it, "move_n", 1, 1e9, false, &mn)))) {
				val_load_skip(s, "owners", i, "wrong episode members");
				continue;
			}
			tmp.spoof_active = sp != NULL;
			tmp.spoof_last_us = (uint64_t)sl;
			tmp.move_n = (uint32_t)mn;
			snprintf(tmp.device, sizeof(tmp.device), "%s", dev);
			snprintf(tmp.client_id, sizeof(tmp.client_id), "%s", cid);
			tmp.addr = a;
			bool fresh;
			struct val_owner *o = val_owner_get(s, dev, &fresh);
			if (!o)
				continue;
			tmp.node = o->node;
			*o = tmp;
			s->loaded++;
		}
	}
}

static void val_stats(void *state, struct sensor_stats *out)
{
	struct sensor_value_stats v;
	sensor_value_get_stats(state, &v);
	sensor_stats_add(out, "series", v.series);
	sensor_stats_add(out, "series_max", v.series_cap);
	sensor_stats_add(out, "series_evicted", v.series_evicted);
	sensor_stats_add(out, "owners", v.owners);
	sensor_stats_add(out, "owners_max", v.owners_cap);
	sensor_stats_add(out, "owners_evicted", v.owners_evicted);
	sensor_stats_add(out, "load_skipped", v.load_skipped);
}

static size_t val_tables(void *state, const struct ktable **out, size_t max)
{
	const struct val *s = state;
	size_t k = 0;
	if (s && k < max)
		out[k++] = s->ser;
	if (s && k < max)
		out[k++] = s->own;
	return k;
}

const struct sensor_detector sensor_value_detector = {
	.name = "value",
	.init = val_init,
	.on_msg = val_on_msg,
	.save = val_save,
	.load = val_load,
	.stats = val_stats,
	.tables = val_tables,
	.free = val_free,
};
