/* test_sensor_value.c - unit tests for the value detector: a day of benign DHT traffic, tampering, detection limits, range/rate/stuck/spoof/unparsed, state files and eviction (sensor/sensor_value.c). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/sensor.h"
#include "sensor/sensor_telemetry.h"
#include "sensor/sensor_value.h"

#define US 1000000ull
#define PI 3.14159265358979323846
#define T0 (1700000000ull * US) /* 2023-11-14 22:13:20 UTC */

/* ---- a recording report callback ---- */

#define REP_MAX 512

struct rep {
	char event[40];
	char layer[16];
	char detail[512];
	char meta[4096];
	uint64_t ts_us;
	bool has_base;
};

struct cap {
	struct rep r[REP_MAX];
	unsigned n;     /* kept */
	unsigned total; /* seen */
};

/* Every meta must be valid JSON members: checked on arrival. */
static void cap_report(void *ud, const struct sensor_report *r)
{
	struct cap *c = ud;
	assert_non_null(r->event);
	assert_non_null(r->layer);
	assert_string_equal(r->layer, "telemetry");
	assert_non_null(r->meta);
	assert_true(r->meta_len > 0 && r->meta_len < 4000);
	char buf[4100];
	buf[0] = '{';
	memcpy(buf + 1, r->meta, r->meta_len);
	buf[1 + r->meta_len] = '}';
	buf[2 + r->meta_len] = 0;
	cJSON *j = cJSON_Parse(buf);
	if (!j)
		fail_msg("meta is not JSON: %s", buf);
	cJSON_Delete(j);
	c->total++;
	if (c->n >= REP_MAX)
		return;
	struct rep *p = &c->r[c->n++];
	snprintf(p->event, sizeof(p->event), "%s", r->event);
	snprintf(p->layer, sizeof(p->layer), "%s", r->layer);
	snprintf(p->detail, sizeof(p->detail), "%s", r->detail ? r->detail : "");
	memcpy(p->meta, r->meta, r->meta_len);
	p->meta[r->meta_len] = 0;
	p->ts_us = r->ts_us;
	p->has_base = r->base != NULL;
}

static cJSON *rep_json(const struct rep *p)
{
	char buf[4200];
	snprintf(buf, sizeof(buf), "{%s}", p->meta);
	cJSON *j = cJSON_Parse(buf);
	assert_non_null(j);
	return j;
}

static double meta_num(const struct rep *p, const char *k)
{
	cJSON *j = rep_json(p);
	cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	if (!cJSON_IsNumber(v))
		fail_msg("meta %s: no number %s", p->meta, k);
	double d = v->valuedouble;
	cJSON_Delete(j);
	return d;
}

/* The string member k (copied into buf), or NULL when absent. */
static const char *meta_str(const struct rep *p, const char *k, char *buf, size_t cap)
{
	cJSON *j = rep_json(p);
	cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	const char *out = NULL;
	if (cJSON_IsString(v)) {
		snprintf(buf, cap, "%s", v->valuestring);
		out = buf;
	}
	cJSON_Delete(j);
	return out;
}

static bool meta_has(const struct rep *p, const char *k)
{
	cJSON *j = rep_json(p);
	bool h = cJSON_GetObjectItemCaseSensitive(j, k) != NULL;
	cJSON_Delete(j);
	return h;
}

static unsigned cap_count(const struct cap *c, const char *event, const char *field)
{
	unsigned n = 0;
	char b[128];
	for (unsigned i = 0; i < c->n; i++) {
		if (strcmp(c->r[i].event, event))
			continue;
		if (field && (!meta_str(&c->r[i], "field", b, sizeof(b)) || strcmp(b, field)))
			continue;
		n++;
	}
	return n;
}

static const struct rep *cap_find(const struct cap *c, const char *event, const char *field)
{
	char b[128];
	for (unsigned i = 0; i < c->n; i++)
		if (!strcmp(c->r[i].event, event) &&
		    (!field || (meta_str(&c->r[i], "field", b, sizeof(b)) && !strcmp(b, field))))
			return &c->r[i];
	return NULL;
}

static void cap_dump(const struct cap *c, unsigned max)
{
	for (unsigned i = 0; i < c->n && i < max; i++)
		print_message("  report %u: %s at %llu: %s | %s\n", i, c->r[i].event,
			      (unsigned long long)c->r[i].ts_us, c->r[i].detail, c->r[i].meta);
}

/* ---- the detector under test ---- */

static struct tm_cfg tmc;

/* The built-in telemetry entry (sensor_telemetry.c), plus a rate-checked one. */
static void tm_setup(void)
{
	memset(&tmc, 0, sizeof(tmc));
	struct tm_entry *e = &tmc.e[0];
	snprintf(e->filter, sizeof(e->filter), "sensors/+/+");
	e->dev_from = TM_DEV_TOPIC_LEVEL;
	e->dev_level = 3;
	struct tm_field *f = &e->fields[0];
	snprintf(f->name, sizeof(f->name), "temperature");
	f->has_min = f->has_max = true;
	f->min = -40;
	f->max = 80;
	f->resolution = 0.1;
	f = &e->fields[1];
	snprintf(f->name, sizeof(f->name), "humidity");
	f->has_min = f->has_max = true;
	f->min = 0;
	f->max = 100;
	f->resolution = 0.1;
	e->n_fields = 2;
	e = &tmc.e[1];
	snprintf(e->filter, sizeof(e->filter), "plant/+/level");
	f = &e->fields[0];
	snprintf(f->name, sizeof(f->name), "level");
	f->max_rate = 0.5;
	f->resolution = 0; /* unknown: learned from the values */
	e->n_fields = 1;
	tmc.n = 2;
}

struct det {
	struct cap cap;
	struct sensor_env env;
	void *st;
	char *logbuf;
	size_t loglen;
	FILE *log;
};

static struct det *det_new_cfg(const char *cfg_json)
{
	tm_setup();
	struct det *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->log = open_memstream(&d->logbuf, &d->loglen);
	assert_non_null(d->log);
	d->env.report = cap_report;
	d->env.ud = &d->cap;
	d->env.tm = &tmc;
	d->env.log = d->log;
	cJSON *cfg = cfg_json ? cJSON_Parse(cfg_json) : NULL;
	if (cfg_json)
		assert_non_null(cfg);
	int rc = sensor_value_detector.init(&d->env, cfg, &d->st);
	cJSON_Delete(cfg);
	if (rc != 0) {
		fflush(d->log);
		fail_msg("init failed: %s", d->logbuf);
	}
	return d;
}

static struct det *det_new(void)
{
	return det_new_cfg(NULL);
}

static void det_free(struct det *d)
{
	sensor_value_detector.free(d->st);
	fclose(d->log);
	free(d->logbuf);
	free(d);
}

static const char *det_log(struct det *d)
{
	fflush(d->log);
	return d->logbuf ? d->logbuf : "";
}

/* One PUBLISH's digest: the caller fills values and flags. */
struct pub {
	struct det_event ev;
	struct tm_result r;
	struct sensor_msg m;
	char topic[256];
};

static void pub_init(struct pub *p, uint64_t ts_us, const char *dev, const char *cid,
		     const char *addr)
{
	memset(p, 0, sizeof(*p));
	p->ev.kind = DET_MQTT;
	p->ev.ts_us = ts_us;
	p->r.entry = 0;
	snprintf(p->r.device, sizeof(p->r.device), "%s", dev);
	p->m.ev = &p->ev;
	p->m.ts_us = ts_us;
	p->m.from_client = true;
	p->m.client_id = cid;
	p->m.username = "";
	if (addr && addr[0]) {
		if (inet_pton(AF_INET, addr, p->m.client.a) == 1)
			p->m.client.family = 4;
		else if (inet_pton(AF_INET6, addr, p->m.client.a) == 1)
			p->m.client.family = 6;
		snprintf(p->m.client.str, sizeof(p->m.client.str), "%s", addr);
	}
	snprintf(p->topic, sizeof(p->topic), "sensors/room/%s", dev);
	p->m.topic.p = (const uint8_t *)p->topic;
	p->m.topic.len = strlen(p->topic);
	p->m.tm = &p->r;
}

static void pub_add(struct pub *p, uint32_t field, double v)
{
	static const char *const names[] = { "temperature", "humidity" };
	struct tm_value *tv = &p->r.v[p->r.n++];
	tv->field = field;
	tv->name = field < 2 ? names[field] : "x";
	tv->v = v;
}

static void det_send(struct det *d, struct pub *p)
{
	sensor_value_detector.on_msg(d->st, &p->m);
}

/* A reading of dev (client id = dev) from addr: temperature and humidity. */
static void send_th(struct det *d, uint64_t ts, const char *dev, const char *addr, double t,
		    double h)
{
	struct pub p;
	pub_init(&p, ts, dev, dev, addr);
	pub_add(&p, 0, t);
	pub_add(&p, 1, h);
	det_send(d, &p);
}

static void send_t(struct det *d, uint64_t ts, const char *dev, const char *cid, const char *addr,
		   double t)
{
	struct pub p;
	pub_init(&p, ts, dev, cid, addr);
	pub_add(&p, 0, t);
	det_send(d, &p);
}

/* ---- a DHT11/DHT22 model (the testbed's tools/common/tb_sensor.c physics) ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(struct rng *r)
{
	double u = rng_unit(r), v = rng_unit(r);
	return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * PI * v);
}

#define TAMPER_TAU 8.0

struct dht {
	int kind; /* 11 or 22 */
	double base_t, amp_t, base_h, off_t, off_h, drift_t, drift_h, last_s, fail_p;
	double tamper_delta, tamper_start, tamper_end, step; /* step: an instant offset (sweep) */
	struct rng rng;
};

static void dht_init(struct dht *d, int kind, double base_t, double amp_t, double base_h,
		     uint64_t seed)
{
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->rng.s = seed;
	d->base_t = base_t;
	d->amp_t = amp_t;
	d->base_h = base_h;
	double at = kind == 11 ? 2.0 : 0.5, ah = kind == 11 ? 5.0 : 2.0;
	d->off_t = (rng_unit(&d->rng) * 2 - 1) * at * 0.5;
	d->off_h = (rng_unit(&d->rng) * 2 - 1) * ah * 0.5;
	d->drift_t = rng_normal(&d->rng) * 0.6;
	d->drift_h = rng_normal(&d->rng) * 2.0;
	d->last_s = -1;
	d->fail_p = 0.02;
	d->tamper_start = d->tamper_end = -1;
}

static double dht_tamper(const struct dht *d, double t)
{
	if (d->tamper_delta == 0 || t < d->tamper_start)
		return 0;
	double on = (t < d->tamper_end ? t : d->tamper_end) - d->tamper_start;
	double x = d->tamper_delta * (1 - exp(-on / TAMPER_TAU));
	if (t > d->tamper_end)
		x *= exp(-(t - d->tamper_end) / TAMPER_TAU);
	return x;
}

static double quant(double x, double res)
{
	double q = round(x / res) * res;
	return q == 0 ? 0 : q;
}

static double clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* A read at t seconds (epoch); false: failed (nothing published). */
static bool dht_read(struct dht *d, double t, double *ot, double *oh)
{
	double dt = d->last_s < 0 ? 0 : t - d->last_s;
	d->last_s = t;
	double a = exp(-dt / (6 * 3600.0)), s = sqrt(1 - a * a);
	d->drift_t = d->drift_t * a + 0.6 * s * rng_normal(&d->rng);
	d->drift_h = d->drift_h * a + 2.0 * s * rng_normal(&d->rng);
	double nt = rng_normal(&d->rng), nh = rng_normal(&d->rng);
	if (rng_unit(&d->rng) < d->fail_p)
		return false;
	double hour = fmod(t, 86400.0) / 3600.0;
	double tt = d->base_t + d->amp_t * cos(2 * PI * (hour - 15) / 24) + d->drift_t +
		    dht_tamper(d, t) + d->step;
	double hh = d->base_h - 1.5 * (tt - d->base_t) + d->drift_h;
	if (d->kind == 11) {
		*ot = quant(clampd(tt + d->off_t + 0.4 * nt, 0, 50), 1.0);
		*oh = quant(clampd(hh + d->off_h + 1.0 * nh, 20, 90), 1.0);
	} else {
		*ot = quant(clampd(tt + d->off_t + 0.1 * nt, -40, 80), 0.1);
		*oh = quant(clampd(hh + d->off_h + 0.3 * nh, 0, 100), 0.1);
	}
	return true;
}

/* ---- (1) a benign day: no reports at all ---- */

#define SIM_N 20

struct simdev {
	struct dht dht;
	char name[32], addr[20];
	double interval, next, gap_until;
	struct rng sched;
};

static void test_benign_day(void **state)
{
	(void)state;
	struct det *d = det_new();
	static const double ivals[] = { 2, 2, 3, 5, 10, 15, 20, 30, 45, 60 };
	struct simdev sd[SIM_N];
	for (int i = 0; i < SIM_N; i++) {
		struct simdev *x = &sd[i];
		uint64_t seed = 0x5eed0000u + (uint64_t)i * 7919;
		x->sched.s = seed ^ 0xabcdef;
		dht_init(&x->dht, i % 2 ? 11 : 22, 18 + (i % 5) * 2, 2 + (i % 4), 35 + (i % 6) * 5,
			 seed);
		if (i % 3 == 0)
			x->dht.amp_t = 5; /* +-5 degC over the day */
		x->interval = ivals[i % 10];
		snprintf(x->name, sizeof(x->name), "%s-room%02d", i % 2 ? "esp32" : "nodemcu", i);
		snprintf(x->addr, sizeof(x->addr), "127.0.0.%d", 10 + i);
		x->next = 1700000000.0 + rng_unit(&x->sched) * x->interval;
		x->gap_until = 0;
	}
	double end = 1700000000.0 + 25 * 3600.0;
	unsigned long sent = 0, failed = 0, gaps = 0;
	for (;;) {
		int k = 0;
		for (int i = 1; i < SIM_N; i++)
			if (sd[i].next < sd[k].next)
				k = i;
		struct simdev *x = &sd[k];
		double t = x->next;
		if (t > end)
			break;
		/* Publish times wander by up to 50 ms, as a sketch's loop does. */
		x->next = t + x->interval + (rng_unit(&x->sched) - 0.5) * 0.1;
		/* About every two hours a reconnect gap of 1 to 10 minutes. */
		if (rng_unit(&x->sched) < x->interval / 7200.0) {
			x->next = t + 60 + rng_unit(&x->sched) * 540;
			gaps++;
		}
		double tv, hv;
		if (!dht_read(&x->dht, t, &tv, &hv)) {
			failed++;
			continue;
		}
		send_th(d, (uint64_t)(t * 1e6), x->name, x->addr, tv, hv);
		sent++;
	}
	print_message("benign day: %lu readings, %lu failed reads, %lu reconnect gaps, %u reports\n",
		      sent, failed, gaps, d->cap.total);
	if (d->cap.total)
		cap_dump(&d->cap, 20);
	assert_true(sent > 150000);
	assert_true(failed > 1000);
	assert_true(gaps > 100);
	assert_int_equal(d->cap.total, 0);
	struct sensor_value_stats st;
	sensor_value_get_stats(d->st, &st);
	assert_int_equal(st.series, 2 * SIM_N);
	assert_int_equal(st.owners, SIM_N);
	assert_int_equal(st.series_evicted, 0);
	det_free(d);
}

/* ---- (2) tampering: +10 degC, 8 s first-order response, 2 s interval ---- */

/*
 * Runs one tampered sensor: 2 h of learning, then +delta from tamper_at for
 * `dur` seconds, then 10 minutes. Returns the first temperature jump's
 * delay after the tamper start in seconds (-1: none).
 */
static double run_tamper(struct det *d, int kind, uint64_t seed, double delta, double dur)
{
	struct dht m;
	dht_init(&m, kind, 22.8, 3, 45, seed);
	m.fail_p = 0;
	double t0 = 1700000000.0, at = t0 + 7200;
	m.tamper_delta = delta;
	m.tamper_start = at;
	m.tamper_end = at + dur;
	unsigned before = d->cap.n;
	for (double t = t0; t < at + dur + 600; t += 2) {
		double tv, hv;
		if (dht_read(&m, t, &tv, &hv))
			send_th(d, (uint64_t)(t * 1e6), "esp32-kitchen", "127.0.0.21", tv, hv);
		if (t < at)
			assert_int_equal(d->cap.n, before);
	}
	const struct rep *r = NULL;
	for (unsigned i = before; i < d->cap.n && !r; i++)
		if (!strcmp(d->cap.r[i].event, "value_jump")) {
			char b[64];
			if (meta_str(&d->cap.r[i], "field", b, sizeof(b)) && !strcmp(b, "temperature"))
				r = &d->cap.r[i];
		}
	return r ? (double)r->ts_us / 1e6 - at : -1;
}

static void test_tamper(void **state)
{
	(void)state;
	double worst = 0;
	unsigned hum = 0;
	for (int kind = 11; kind <= 22; kind += 11) {
		for (uint64_t seed = 1; seed <= 10; seed++) {
			struct det *d = det_new();
			double delay = run_tamper(d, kind, seed * 104729, 10, 60);
			if (delay < 0 || cap_count(&d->cap, "value_jump", "temperature") != 1)
				cap_dump(&d->cap, 20);
			assert_true(delay >= 0);
			/* One report per episode: the temperature jumps once; humidity
			 * (-1.5 %RH per degree in the model) once. */
			assert_int_equal(cap_count(&d->cap, "value_jump", "temperature"), 1);
			assert_int_equal(cap_count(&d->cap, "value_jump", "humidity"), 1);
			hum += cap_count(&d->cap, "value_jump", "humidity");
			assert_int_equal(d->cap.total, cap_count(&d->cap, "value_jump", NULL));
			/* Within 4 readings (8 s, one time constant) of the start. */
			assert_true(delay <= 8.0);
			worst = delay > worst ? delay : worst;
			const struct rep *r = cap_find(&d->cap, "value_jump", "temperature");
			char b[160];
			assert_string_equal(meta_str(r, "device", b, sizeof(b)), "esp32-kitchen");
			double base = meta_num(r, "baseline");
			assert_true(base > 15 && base < 30);
			assert_true(meta_num(r, "value") - base >= 2);
			assert_true(meta_num(r, "delta") > 0);
			assert_true(meta_num(r, "z") >= 5);
			assert_true(meta_num(r, "samples") >= 3000);
			assert_true(meta_has(r, "scale"));
			assert_true(meta_has(r, "threshold"));
			assert_non_null(strstr(r->detail, "temperature of esp32-kitchen "));
			assert_non_null(strstr(r->detail, " vs baseline "));
			assert_true(r->has_base);
			det_free(d);
		}
	}
	print_message("tamper +10 degC (tau 8 s, 2 s interval): worst detection delay %.0f s; "
		      "humidity (-15 %%RH) jumped in %u of 20 runs\n", worst, hum);
}

/* The testbed's case: 22.8 -> 33.5 degC, exact values, no noise. */
static void test_tamper_testbed_values(void **state)
{
	(void)state;
	struct det *d = det_new();
	uint64_t t = T0;
	for (int i = 0; i < 200; i++, t += 2 * US)
		send_t(d, t, "esp32-kitchen", "esp32-kitchen", "127.0.0.21", i % 3 ? 22.8 : 22.7);
	assert_int_equal(d->cap.total, 0);
	/* delta 10.7 with tau 8 s, sampled every 2 s, one decimal (DHT22) */
	for (int k = 1; k <= 30; k++, t += 2 * US)
		send_t(d, t, "esp32-kitchen", "esp32-kitchen", "127.0.0.21",
		       round((22.8 + 10.7 * (1 - exp(-2.0 * k / 8))) * 10) / 10);
	assert_int_equal(d->cap.total, 1);
	const struct rep *r = &d->cap.r[0];
	assert_string_equal(r->event, "value_jump");
	/* The first reading, +2.4 degC, is already twice the threshold. */
	assert_int_equal(r->ts_us, T0 + 200 * 2 * US);
	assert_true(fabs(meta_num(r, "value") - 25.2) < 1e-9);
	assert_true(fabs(meta_num(r, "baseline") - 22.77) < 0.05);
	assert_string_equal(r->detail + strlen(r->detail) - strlen(")"), ")");
	assert_non_null(strstr(r->detail, "temperature of esp32-kitchen 25.2 vs baseline 22.7"));
	/* Held at 33.5 for a while: still one episode until relearn. */
	for (int k = 0; k < 50; k++, t += 2 * US)
		send_t(d, t, "esp32-kitchen", "esp32-kitchen", "127.0.0.21", 33.5);
	assert_int_equal(d->cap.total, 1);
	/* Back to normal: re-armed after three normal readings. */
	for (int k = 0; k < 5; k++, t += 2 * US)
		send_t(d, t, "esp32-kitchen", "esp32-kitchen", "127.0.0.21", 22.8);
	assert_int_equal(d->cap.total, 1);
	send_t(d, t, "esp32-kitchen", "esp32-kitchen", "127.0.0.21", 30);
	t += 2 * US;
	assert_int_equal(d->cap.total, 2); /* 7.2 > 2 x threshold: at once */
	det_free(d);
}

/*
 * The demo's case (`mqttids demo`, warm-up 10): a DHT11 heated by +8 degC
 * (tau 8 s) 15 readings after it connects. The ramp climbs about a degree a
 * reading, so each reading stays just under a threshold that an unclipped
 * scale widened as fast: the temperature was never reported, and only the
 * humidity's larger swing caught it. First the readings of a real demo run,
 * then 40 seeds of the model.
 */
static void test_tamper_short_warmup(void **state)
{
	(void)state;
	static const double demo_t[] = { 20, 21, 21, 21, 20, 21, 20, 21, 21, 21, 21, 21, 20, 21,
					 21, 23, 24, 25, 26, 26, 27, 27, 28, 28, 27 };
	struct det *d = det_new_cfg("{\"warmup\":\"10\"}");
	uint64_t t = T0;
	int at = -1;
	for (unsigned i = 0; i < sizeof(demo_t) / sizeof(demo_t[0]); i++, t += 2 * US) {
		send_t(d, t, "nodemcu-livingroom", "nodemcu-livingroom", "127.0.0.12", demo_t[i]);
		if (at < 0 && d->cap.total)
			at = (int)i;
	}
	assert_int_equal(cap_count(&d->cap, "value_jump", "temperature"), 1);
	assert_int_equal(d->cap.total, 1);
	assert_true(at >= 16 && at <= 19); /* by 28 degC: within 4 readings of 24 */
	det_free(d);

	unsigned worst = 0;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		d = det_new_cfg("{\"warmup\":\"10\"}");
		struct dht m;
		dht_init(&m, 11, 20 + (double)(seed % 5), 3, 45, seed * 7877);
		m.fail_p = 0;
		double t0 = 1700000000.0 + (double)seed * 3600, ts = t0 + 30;
		m.tamper_delta = 8;
		m.tamper_start = ts;
		m.tamper_end = ts + 20;
		unsigned first = 0;
		for (double x = t0; x < ts + 40; x += 2) {
			double tv, hv;
			dht_read(&m, x, &tv, &hv);
			send_th(d, (uint64_t)(x * 1e6), "nodemcu-livingroom", "127.0.0.12", tv, hv);
			if (x < ts)
				assert_int_equal(d->cap.total, 0);
			else if (!first && cap_count(&d->cap, "value_jump", "temperature"))
				first = (unsigned)((x - ts) / 2) + 1;
		}
		if (!first)
			cap_dump(&d->cap, 10);
		assert_true(first > 0);
		assert_int_equal(cap_count(&d->cap, "value_jump", "temperature"), 1);
		worst = first > worst ? first : worst;
		det_free(d);
	}
	/*
	 * A 10-reading warm-up leaves the scale between half a degree (the
	 * floor) and about 0.75: a threshold of 3 to 4.5 degC, which the ramp
	 * (+1.8, +3.2, +4.2, +5.1, +5.7 ... degC) passes by its 3rd to 5th
	 * reading; three suspects in a row confirm it. By the 8th reading the
	 * ramp is at +7 degC, 4 s before the tamper ends.
	 */
	assert_true(worst <= 8);
	print_message("tamper +8 degC after a 10-reading warm-up (DHT11, 2 s): temperature "
		      "reported by reading %u of the ramp at worst, in 40 of 40 runs\n", worst);
}

/* ---- (3) the smallest step detected at the defaults ---- */

/*
 * Whether every one of `trials` sensors of kind, learning for 1 h at
 * `ival` s, reports a jump within 10 readings of a step of `step` degC
 * (and nothing before it).
 */
static bool step_detected(int kind, double step, double ival, int trials)
{
	for (int k = 0; k < trials; k++) {
		struct det *d = det_new();
		struct dht m;
		dht_init(&m, kind, 21, 5, 50, 0x77000u + (uint64_t)k * 31337);
		m.fail_p = 0;
		double t0 = 1700000000.0 + k * 3600.0 * 2.4, t = t0;
		bool ok = true;
		for (; t < t0 + 3600; t += ival) {
			double tv, hv;
			dht_read(&m, t, &tv, &hv);
			send_t(d, (uint64_t)(t * 1e6), "dev", "dev", "127.0.0.2", tv);
		}
		if (d->cap.total) {
			cap_dump(&d->cap, 5);
			fail_msg("report before the step (kind %d, trial %d)", kind, k);
		}
		m.step = step;
		for (int i = 0; i < 10; i++, t += ival) {
			double tv, hv;
			dht_read(&m, t, &tv, &hv);
			send_t(d, (uint64_t)(t * 1e6), "dev", "dev", "127.0.0.2", tv);
		}
		ok = cap_count(&d->cap, "value_jump", "temperature") == 1;
		det_free(d);
		if (!ok)
			return false;
	}
	return true;
}

static double smallest_step(int kind, double ival)
{
	double inc = kind == 11 ? 0.25 : 0.05;
	for (double s = inc; s <= 10; s += inc)
		if (step_detected(kind, s, ival, 20))
			return s;
	return INFINITY;
}

static void test_sweep(void **state)
{
	(void)state;
	double d11 = smallest_step(11, 2), d22 = smallest_step(22, 2);
	double d11s = smallest_step(11, 60), d22s = smallest_step(22, 60);
	print_message("smallest step detected in 20 of 20 trials within 10 readings (defaults):\n"
		      "  DHT11 (1 degC):   %.2f degC at 2 s, %.2f degC at 60 s\n"
		      "  DHT22 (0.1 degC): %.2f degC at 2 s, %.2f degC at 60 s\n",
		      d11, d11s, d22, d22s);
	assert_true(d11 >= 1.5 && d11 <= 4.0);
	assert_true(d22 >= 0.2 && d22 <= 1.0);
	assert_true(d11s <= 5.0);
	assert_true(d22s <= 2.5);
}

/* ---- (4) range, rate, stuck, spoof, unparsed ---- */

static void test_range(void **state)
{
	(void)state;
	struct det *d = det_new();
	uint64_t t = T0;
	/* No warm-up needed: the very first reading. */
	send_th(d, t, "d1", "127.0.0.2", 120, 40);
	assert_int_equal(d->cap.total, 1);
	const struct rep *r = &d->cap.r[0];
	assert_string_equal(r->event, "value_out_of_range");
	char b[64];
	assert_string_equal(meta_str(r, "device", b, sizeof(b)), "d1");
	assert_string_equal(meta_str(r, "field", b, sizeof(b)), "temperature");
	assert_true(meta_num(r, "value") == 120);
	assert_true(meta_num(r, "min") == -40);
	assert_true(meta_num(r, "max") == 80);
	assert_true(strstr(r->meta, "\"baseline\":null") != NULL);
	assert_string_equal(r->detail, "temperature of d1 120 outside its range [-40, 80]");
	/* Still out: the same episode. Back in range, then out again: a new one. */
	send_th(d, t += 2 * US, "d1", "127.0.0.2", 130, 40);
	assert_int_equal(d->cap.total, 1);
	for (int i = 0; i < 30; i++)
		send_th(d, t += 2 * US, "d1", "127.0.0.2", 21 + (i % 2) * 0.1, 40 + (i % 3) * 0.1);
	assert_int_equal(d->cap.total, 1);
	send_th(d, t += 2 * US, "d1", "127.0.0.2", 21, -5);
	assert_int_equal(d->cap.total, 2);
	assert_string_equal(meta_str(&d->cap.r[1], "field", b, sizeof(b)), "humidity");
	assert_true(fabs(meta_num(&d->cap.r[1], "baseline") - 40.1) < 0.1);
	/* An impossible value does not count as a jump nor teach the baseline. */
	send_th(d, t += 2 * US, "d1", "127.0.0.2", -41, 40);
	assert_int_equal(d->cap.total, 3);
	assert_string_equal(d->cap.r[2].event, "value_out_of_range");
	send_th(d, t += 2 * US, "d1", "127.0.0.2", 21, 40);
	assert_int_equal(d->cap.total, 3);
	det_free(d);
}

static void test_rate(void **state)
{
	(void)state;
	struct det *d = det_new();
	uint64_t t = T0;
	struct pub p;
	/* plant/+/level: max-rate 0.5 per second, no range, no resolution. */
	double v[] = { 10, 10.2, 10.4, 14.4, 14.5, 14.6, 30 };
	uint64_t dts[] = { 0, 2, 2, 2, 2, 2, 100 };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		t += dts[i] * US;
		pub_init(&p, t, "tank1", "tank1", "127.0.0.3");
		p.r.entry = 1;
		pub_add(&p, 0, v[i]);
		det_send(d, &p);
	}
	/* 10.4 -> 14.4 in 2 s is 2/s; 14.6 -> 30 in 100 s is 0.154/s. */
	assert_int_equal(d->cap.total, 1);
	const struct rep *r = &d->cap.r[0];
	assert_string_equal(r->event, "value_rate_exceeded");
	char b[64];
	assert_string_equal(meta_str(r, "field", b, sizeof(b)), "level");
	assert_true(fabs(meta_num(r, "rate") - 2.0) < 1e-9);
	assert_true(meta_num(r, "max_rate") == 0.5);
	assert_true(meta_num(r, "previous") == 10.4);
	assert_true(meta_num(r, "value") == 14.4);
	assert_true(meta_num(r, "interval") == 2);
	assert_int_equal(r->ts_us, T0 + 6 * US);
	/* Two fast changes in a row are one episode; a calm one re-arms. */
	double v2[] = { 20, 30, 30.1, 40 };
	for (size_t i = 0; i < 4; i++) {
		t += 2 * US;
		pub_init(&p, t, "tank1", "tank1", "127.0.0.3");
		p.r.entry = 1;
		pub_add(&p, 0, v2[i]);
		det_send(d, &p);
	}
	assert_int_equal(cap_count(&d->cap, "value_rate_exceeded", NULL), 3);
	/* Same timestamp twice: no rate can be measured, none reported. */
	unsigned n = d->cap.total;
	pub_init(&p, t, "tank1", "tank1", "127.0.0.3");
	p.r.entry = 1;
	pub_add(&p, 0, 99);
	det_send(d, &p);
	assert_int_equal(cap_count(&d->cap, "value_rate_exceeded", NULL), 3);
	(void)n;
	det_free(d);
}

static void test_stuck(void **state)
{
	(void)state;
	struct det *d = det_new();
	uint64_t t = T0;
	/* It varies while learning ... */
	for (int i = 0; i < 60; i++, t += 60 * US)
		send_th(d, t, "d2", "127.0.0.4", 21 + (i % 4) * 0.1, 50);
	assert_int_equal(d->cap.total, 0);
	/* ... then reads 21.3 every minute: 6 h and 100 readings. */
	uint64_t since = t - 60 * US; /* the last varied reading was 21.3 */
	for (int i = 0; i < 400; i++, t += 60 * US)
		send_th(d, t, "d2", "127.0.0.4", 21.3, 50);
	/* Humidity never varied (50 all along): not stuck, just constant. */
	assert_int_equal(d->cap.total, 1);
	const struct rep *r = &d->cap.r[0];
	assert_string_equal(r->event, "value_stuck");
	char b[64];
	assert_string_equal(meta_str(r, "field", b, sizeof(b)), "temperature");
	assert_int_equal(r->ts_us, since + 21600 * US);
	assert_true(meta_num(r, "samples") == 361);
	assert_true(meta_num(r, "seconds") == 21600);
	assert_true(meta_num(r, "value") == 21.3);
	/* A change re-arms it. */
	send_th(d, t, "d2", "127.0.0.4", 21.4, 50);
	assert_int_equal(d->cap.total, 1);
	det_free(d);

	/* DHT11 humidity at one integer for an hour at night (2 s): fine. */
	d = det_new();
	t = T0;
	for (int i = 0; i < 100; i++, t += 2 * US)
		send_th(d, t, "d3", "127.0.0.5", 20, 40 + i % 2);
	for (int i = 0; i < 1800 * 3; i++, t += 2 * US)
		send_th(d, t, "d3", "127.0.0.5", 20, 41);
	assert_int_equal(d->cap.total, 0);
	det_free(d);

	/* Both conditions: a 10-minute sensor needs 100 readings (16.5 h), not 6 h. */
	d = det_new_cfg("{\"stuck-after\":\"6h\",\"stuck-samples\":\"100\"}");
	t = T0;
	for (int i = 0; i < 30; i++, t += 600 * US)
		send_th(d, t, "d4", "127.0.0.6", 21 + (i % 2), 50);
	since = t;
	for (int i = 0; i < 99; i++, t += 600 * US)
		send_th(d, t, "d4", "127.0.0.6", 25, 50);
	assert_int_equal(d->cap.total, 0);
	send_th(d, t, "d4", "127.0.0.6", 25, 50);
	assert_int_equal(d->cap.total, 1);
	assert_string_equal(d->cap.r[0].event, "value_stuck");
	assert_true(meta_num(&d->cap.r[0], "samples") == 100);
	assert_int_equal(d->cap.r[0].ts_us, since + 99 * 600 * US);
	det_free(d);
}

static void learn_d(struct det *d, uint64_t *t, const char *dev, const char *addr, int n)
{
	for (int i = 0; i < n; i++, *t += 5 * US)
		send_t(d, *t, dev, dev, addr, 22 + (i % 3) * 0.1);
}

static void test_spoof_first(void **state)
{
	(void)state;
	struct det *d = det_new();
	uint64_t t = T0;
	learn_d(d, &t, "esp32-kitchen", "127.0.0.21", 50);
	assert_int_equal(d->cap.total, 0);
	/* The spoof attack: another client id from another address, 38 degC. */
	for (int i = 0; i < 5; i++) {
		send_t(d, t, "esp32-kitchen", "spoof-5e1f", "127.0.0.66", 38);
		t += US;
		send_t(d, t, "esp32-kitchen", "esp32-kitchen", "127.0.0.21", 22.1);
		t += US;
	}
	assert_int_equal(d->cap.total, 1);
	const struct rep *r = &d->cap.r[0];
	char b[160];
	assert_string_equal(r->event, "value_spoofed");
	assert_string_equal(meta_str(r, "device", b, sizeof(b)), "esp32-kitchen");
	assert_string_equal(meta_str(r, "client_id", b, sizeof(b)), "spoof-5e1f");
	assert_string_equal(meta_str(r, "address", b, sizeof(b)), "127.0.0.66");
	assert_string_equal(meta_str(r, "owner_client_id", b, sizeof(b)), "esp32-kitchen");
	assert_string_equal(meta_str(r, "owner_address", b, sizeof(b)), "127.0.0.21");
	assert_string_equal(r->detail, "esp32-kitchen published by spoof-5e1f from 127.0.0.66; "
				       "owner esp32-kitchen from 127.0.0.21");
	/* The forged 38 degC never reached the baseline: no jump either way. */
	assert_int_equal(cap_count(&d->cap, "value_jump", NULL), 0);
	/* Takeover: the device's own client id from the attacker's address. */
	send_t(d, t += US, "esp32-kitchen", "esp32-kitchen", "127.0.0.66", 22);
	assert_int_equal(d->cap.total, 2);
	assert_string_equal(meta_str(&d->cap.r[1], "client_id", b, sizeof(b)), "esp32-kitchen");
	assert_string_equal(meta_str(&d->cap.r[1], "address", b, sizeof(b)), "127.0.0.66");
	/* The first offender again, much later: a new episode. */
	t += 700 * US;
	send_t(d, t, "esp32-kitchen", "spoof-5e1f", "127.0.0.66", 38);
	assert_int_equal(d->cap.total, 3);
	/* An unknown session (capture started mid-way) cannot be judged by id. */
	send_t(d, t += US, "esp32-kitchen", "", "127.0.0.21", 22);
	assert_int_equal(d->cap.total, 3);
	det_free(d);

	/* A device that moved (DHCP): reported once, then adopted after relearn. */
	d = det_new_cfg("{\"relearn\":\"10\"}");
	t = T0;
	learn_d(d, &t, "d5", "127.0.0.30", 30);
	for (int i = 0; i < 30; i++, t += 5 * US)
		send_t(d, t, "d5", "d5", "127.0.0.31", 22);
	assert_int_equal(d->cap.total, 1);
	assert_string_equal(d->cap.r[0].event, "value_spoofed");
	/* Now the old address is the stranger. */
	send_t(d, t, "d5", "d5", "127.0.0.30", 22);
	assert_int_equal(d->cap.total, 2);
	det_free(d);
}

static void test_spoof_client_id(void **state)
{
	(void)state;
	struct det *d = det_new_cfg("{\"owner\":\"client-id\"}");
	uint64_t t = T0;
	/* Any address will do, as long as the client id is the device's. */
	send_t(d, t += US, "esp32-a", "esp32-a", "127.0.0.5", 22);
	send_t(d, t += US, "esp32-a", "esp32-a", "127.0.0.6", 22);
	send_t(d, t += US, "esp32-a", "esp32-a", "::1", 22);
	assert_int_equal(d->cap.total, 0);
	/* Even the very first message of a device is checked. */
	send_t(d, t += US, "esp32-b", "mallory", "127.0.0.9", 22);
	assert_int_equal(d->cap.total, 1);
	const struct rep *r = &d->cap.r[0];
	char b[160];
	assert_string_equal(r->event, "value_spoofed");
	assert_string_equal(meta_str(r, "device", b, sizeof(b)), "esp32-b");
	assert_string_equal(meta_str(r, "client_id", b, sizeof(b)), "mallory");
	assert_string_equal(meta_str(r, "owner_client_id", b, sizeof(b)), "esp32-b");
	assert_string_equal(meta_str(r, "owner_address", b, sizeof(b)), "");
	send_t(d, t += US, "esp32-a", "mallory", "127.0.0.5", 22);
	assert_int_equal(d->cap.total, 2);
	det_free(d);

	d = det_new_cfg("{\"owner\":\"off\"}");
	t = T0;
	learn_d(d, &t, "esp32-a", "127.0.0.5", 30);
	send_t(d, t += US, "esp32-a", "mallory", "127.0.0.9", 22);
	assert_int_equal(d->cap.total, 0);
	det_free(d);
}

static void test_unparsed(void **state)
{
	(void)state;
	struct det *d = det_new();
	struct pub p;
	pub_init(&p, T0, "esp32-x", "esp32-x", "127.0.0.8");
	p.r.bad = true;
	snprintf(p.r.error, sizeof(p.r.error), "field humidity missing");
	pub_add(&p, 0, 22.5); /* what was found is still used */
	det_send(d, &p);
	assert_int_equal(d->cap.total, 1);
	const struct rep *r = &d->cap.r[0];
	char b[160];
	assert_string_equal(r->event, "payload_unparsed");
	assert_string_equal(meta_str(r, "device", b, sizeof(b)), "esp32-x");
	assert_string_equal(meta_str(r, "error", b, sizeof(b)), "field humidity missing");
	assert_string_equal(meta_str(r, "topic", b, sizeof(b)), "sensors/room/esp32-x");
	assert_string_equal(r->detail, "payload of esp32-x not understood: field humidity missing");
	/* Hostile: no device, a topic that is not UTF-8, an error with control bytes. */
	pub_init(&p, T0 + US, "", "", "");
	p.r.bad = true;
	memset(p.r.error, 'E', sizeof(p.r.error)); /* not terminated */
	p.r.error[3] = '\n';
	static const uint8_t topic[] = { 's', '/', 0xff, 0xfe, '"', '\\', 0x01 };
	p.m.topic.p = topic;
	p.m.topic.len = sizeof(topic);
	det_send(d, &p);
	assert_int_equal(d->cap.total, 2);
	r = &d->cap.r[1];
	assert_string_equal(meta_str(r, "device", b, sizeof(b)), "");
	assert_null(strchr(r->detail, '\n'));
	assert_non_null(strstr(r->detail, "(unknown device)"));
	det_free(d);
}

/* Values and digests a broken or hostile extractor could hand over. */
static void test_hostile_values(void **state)
{
	(void)state;
	struct det *d = det_new();
	struct pub p;
	uint64_t t = T0;
	for (int i = 0; i < 40; i++, t += 2 * US) {
		pub_init(&p, t, "d9", "d9", "127.0.0.9");
		pub_add(&p, 0, 22);
		pub_add(&p, 0, NAN);
		pub_add(&p, 1, INFINITY);
		pub_add(&p, 1, -INFINITY);
		det_send(d, &p);
	}
	assert_int_equal(d->cap.total, 0);
	/* n beyond the array, a wild entry and field, a NULL name, a device
	 * filling its whole buffer without a terminator, time going back. */
	pub_init(&p, t, "d9", "d9", "127.0.0.9");
	p.r.entry = 999;
	for (int i = 0; i < SENSOR_MAX_VALUES; i++)
		pub_add(&p, (uint32_t)(i * 1000), 22);
	p.r.v[3].name = NULL;
	p.r.n = 1000000;
	det_send(d, &p);
	pub_init(&p, t - 3600 * US, "", "d9", "127.0.0.9");
	memset(p.r.device, 'A', sizeof(p.r.device));
	p.r.entry = -5;
	pub_add(&p, 0, 1e308);
	pub_add(&p, 1, -1e308);
	det_send(d, &p);
	det_send(d, &p);
	/* A device name with control and non-UTF-8 bytes, spoofed. */
	static const char weird[] = "d\x01\xff\"\\9";
	pub_init(&p, t, weird, weird, "127.0.0.9");
	pub_add(&p, 0, 22);
	det_send(d, &p);
	pub_init(&p, t + US, weird, "x\n\"y", "127.0.0.10");
	pub_add(&p, 0, 22);
	det_send(d, &p);
	assert_int_equal(cap_count(&d->cap, "value_spoofed", NULL), 1);
	const struct rep *r = cap_find(&d->cap, "value_spoofed", NULL);
	assert_null(strchr(r->detail, '\n'));
	assert_null(strchr(r->detail, '\x01'));
	struct sensor_value_stats st;
	sensor_value_get_stats(d->st, &st);
	assert_true(st.series >= 2);
	det_free(d);
}

/* ---- configuration ---- */

static void test_config(void **state)
{
	(void)state;
	tm_setup();
	struct sensor_env env = { .report = cap_report, .tm = &tmc };
	char *buf = NULL;
	size_t len = 0;
	env.log = open_memstream(&buf, &len);
	static const char *const bad[] = {
		"{\"sensitivity\":\"high\"}", "{\"sensitivity\":\"0\"}", "{\"warmup\":\"1.5\"}",
		"{\"warmup\":\"0\"}", "{\"owner\":\"mine\"}", "{\"max-devices\":\"0\"}",
		"{\"max-devices\":\"1e12\"}", "{\"stuck-after\":\"soon\"}", "{\"min-jump\":\"-1\"}",
		"{\"enabled\":\"maybe\"}", "{\"gap\":\"0\"}", "[1,2]", "\"value\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *c = cJSON_Parse(bad[i]);
		assert_non_null(c);
		void *st = (void *)1;
		assert_int_equal(sensor_value_detector.init(&env, c, &st), -1);
		assert_null(st);
		cJSON_Delete(c);
	}
	fflush(env.log);
	assert_non_null(strstr(buf, "expected a number, got 'high'"));
	assert_non_null(strstr(buf, "expected first, client-id or off, got 'mine'"));
	/* Numbers or strings, unknown keys reported but not fatal. */
	cJSON *c = cJSON_Parse("{\"sensitivity\":6,\"warmup\":\"10\",\"min-jump\":\"1.5\","
			       "\"stuck-after\":\"2h\",\"owner\":\"client_id\",\"max-devices\":8,"
			       "\"sensitivty\":\"3\",\"enabled\":\"yes\",\"relearn\":\"0\"}");
	void *st = NULL;
	assert_int_equal(sensor_value_detector.init(&env, c, &st), 0);
	cJSON_Delete(c);
	fflush(env.log);
	assert_non_null(strstr(buf, "sensitivty: unknown value detector setting"));
	struct sensor_value_stats s;
	sensor_value_get_stats(st, &s);
	assert_int_equal(s.series_cap, 8);
	assert_int_equal(s.owners_cap, 8);
	sensor_value_detector.free(st);
	sensor_value_detector.free(NULL);
	fclose(env.log);
	free(buf);

	/* enabled: no - nothing at all. */
	struct det *d = det_new_cfg("{\"enabled\":\"no\"}");
	send_th(d, T0, "d1", "127.0.0.2", 500, 500);
	assert_int_equal(d->cap.total, 0);
	det_free(d);

	/* min-jump raises the threshold of a DHT22 (about 0.35 from its noise) to 4. */
	d = det_new_cfg("{\"min-jump\":\"4\",\"warmup\":\"5\"}");
	uint64_t t = T0;
	for (int i = 0; i < 30; i++)
		send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 22 + (i % 3) * 0.1);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 25.5);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 25.5);
	assert_int_equal(d->cap.total, 0);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 26.5);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 26.5);
	assert_int_equal(d->cap.total, 0); /* 1.1 thresholds twice: not yet */
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 26.5);
	assert_int_equal(cap_count(&d->cap, "value_jump", NULL), 1);
	assert_true(meta_num(&d->cap.r[0], "threshold") == 4);
	det_free(d);
}

/* A flat DHT11 signal that flickers by one step is not jumping. */
static void test_flat_quantised(void **state)
{
	(void)state;
	struct det *d = det_new();
	uint64_t t = T0;
	for (int i = 0; i < 2000; i++)
		send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 22);
	for (int i = 0; i < 20; i++)
		send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", i % 5 < 3 ? 23 : 21);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 24);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 24);
	assert_int_equal(d->cap.total, 0);
	/* Four whole degrees for three readings: a jump (threshold 6 x the
	 * half-step floor of the scale = 3 degrees). */
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 26);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 26);
	assert_int_equal(d->cap.total, 0);
	send_t(d, t += 2 * US, "d1", "d1", "127.0.0.2", 26);
	assert_int_equal(d->cap.total, 1);
	assert_true(meta_num(&d->cap.r[0], "threshold") == 3);
	det_free(d);
}

/* A new level that lasts is learnt silently; a gap restarts the level. */
static void test_relearn_and_gap(void **state)
{
	(void)state;
	struct det *d = det_new_cfg("{\"relearn\":\"20\"}");
	uint64_t t = T0;
	for (int i = 0; i < 100; i++)
		send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 20 + (i % 2) * 0.1);
	for (int i = 0; i < 40; i++)
		send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 26 + (i % 2) * 0.1);
	assert_int_equal(d->cap.total, 1);
	struct sensor_value_stats st;
	sensor_value_get_stats(d->st, &st);
	assert_int_equal(st.relearned, 1);
	/* Back to 20: a sudden change from the new level. */
	send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 20);
	send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 20);
	assert_int_equal(d->cap.total, 2);
	assert_true(meta_num(&d->cap.r[1], "delta") < -5);
	for (int i = 0; i < 40; i++)
		send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 20 + (i % 2) * 0.1);
	assert_int_equal(d->cap.total, 2);
	/* Two hours away (more than gap): 24 degC is where it is now. */
	t += 7200 * US;
	for (int i = 0; i < 10; i++)
		send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 24 + (i % 2) * 0.1);
	assert_int_equal(d->cap.total, 2);
	sensor_value_get_stats(d->st, &st);
	assert_int_equal(st.reseeded, 1);
	/* A 20-minute gap widens the threshold (0.26 x sqrt(1 + 1180/300) ~ 0.58):
	 * the room warmed by 0.5 meanwhile, which passes; +1.0 is a jump. */
	t += 1200 * US;
	for (int i = 0; i < 10; i++)
		send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 24.55 + (i % 2) * 0.1);
	assert_int_equal(d->cap.total, 2);
	t += 1200 * US;
	send_t(d, t, "d1", "d1", "127.0.0.2", 25.7);
	send_t(d, t += 10 * US, "d1", "d1", "127.0.0.2", 25.7);
	assert_int_equal(d->cap.total, 3);
	det_free(d);
}

/* ---- (5) state ---- */

/* Drives one series with a mix of everything, from ts onwards. */
static void state_traffic(struct det *d, uint64_t t, int from, int to)
{
	for (int i = from; i < to; i++, t += 2 * US) {
		double v = 21 + 0.1 * (i % 3) + (i % 200 >= 180 ? 6 : 0);
		double h = i % 500 == 250 ? 140 : 45 + 0.1 * (i % 2);
		send_th(d, t, i % 2 ? "dA" : "dB", i % 2 ? "127.0.0.2" : "127.0.0.3", v, h);
		if (i % 97 == 0)
			send_t(d, t + 1, "dA", "intruder", "127.0.0.99", 30);
	}
}

static void test_state_round_trip(void **state)
{
	(void)state;
	struct det *a = det_new();
	state_traffic(a, T0, 0, 700);
	cJSON *saved = sensor_value_detector.save(a->st);
	assert_non_null(saved);
	char *txt = cJSON_PrintUnformatted(saved);
	cJSON_Delete(saved);
	assert_non_null(txt);
	cJSON *back = cJSON_Parse(txt);
	free(txt);
	assert_non_null(back);
	struct det *b = det_new();
	sensor_value_detector.load(b->st, back);
	cJSON_Delete(back);
	struct sensor_value_stats st;
	sensor_value_get_stats(b->st, &st);
	assert_int_equal(st.load_skipped, 0);
	assert_int_equal(st.loaded, 4 + 2);
	assert_int_equal(st.series, 4);
	assert_int_equal(st.owners, 2);
	/* From here on both decide the same, report for report. */
	unsigned na = a->cap.n;
	assert_true(na > 3);
	state_traffic(a, T0 + 700 * 2 * US, 700, 3000);
	state_traffic(b, T0 + 700 * 2 * US, 700, 3000);
	assert_true(a->cap.n - na > 10);
	assert_int_equal(a->cap.n - na, b->cap.n);
	for (unsigned i = 0; i < b->cap.n; i++) {
		assert_string_equal(a->cap.r[na + i].event, b->cap.r[i].event);
		assert_string_equal(a->cap.r[na + i].meta, b->cap.r[i].meta);
		assert_string_equal(a->cap.r[na + i].detail, b->cap.r[i].detail);
		assert_int_equal(a->cap.r[na + i].ts_us, b->cap.r[i].ts_us);
	}
	assert_true(cap_count(&b->cap, "value_jump", NULL) > 0);
	assert_true(cap_count(&b->cap, "value_out_of_range", NULL) > 0);
	det_free(a);
	det_free(b);
}

static void test_state_garbage(void **state)
{
	(void)state;
	struct det *d = det_new_cfg("{\"max-devices\":\"16\"}");
	static const char *const docs[] = {
		"[]", "\"x\"", "{\"series\":7,\"owners\":\"no\"}", "{\"series\":{},\"owners\":{}}",
		"{\"series\":[1,\"a\",null,[],{}],\"owners\":[1,{},{\"device\":3}]}",
		"{\"series\":[{\"device\":\"d\",\"field\":\"t\",\"n\":\"20\",\"level\":1,\"scale\":1},"
		"{\"device\":\"d\",\"field\":\"t\",\"n\":20,\"level\":1,\"scale\":-1},"
		"{\"device\":\"d\",\"field\":\"t\",\"n\":1e99,\"level\":1,\"scale\":1},"
		"{\"device\":\"d\",\"field\":\"t\",\"n\":20,\"level\":1e999,\"scale\":1},"
		"{\"device\":\"\",\"field\":\"t\",\"n\":20,\"level\":1,\"scale\":1},"
		"{\"device\":\"d\",\"field\":\"t\",\"n\":20,\"level\":1,\"scale\":1,\"in_jump\":1},"
		"{\"device\":\"d\",\"field\":\"t\",\"n\":20,\"level\":1,\"scale\":1,\"last\":5},"
		"{\"device\":\"d\",\"field\":\"t\",\"n\":20,\"level\":1,\"scale\":1,\"pend_n\":200}],"
		"\"owners\":[{\"device\":\"d\",\"client_id\":\"c\",\"address\":\"999.1.1.1\"},"
		"{\"device\":\"d\",\"client_id\":5,\"address\":\"\"}]}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		cJSON *j = cJSON_Parse(docs[i]);
		assert_non_null(j);
		sensor_value_detector.load(d->st, j);
		cJSON_Delete(j);
	}
	/* NaN (cJSON can hold one when built, not parsed) and an overlong name. */
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "series");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "device", "d");
	cJSON_AddStringToObject(o, "field", "t");
	cJSON_AddNumberToObject(o, "n", 20);
	cJSON_AddNumberToObject(o, "level", NAN);
	cJSON_AddNumberToObject(o, "scale", 1);
	cJSON_AddItemToArray(arr, o);
	char longname[300];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "device", longname);
	cJSON_AddStringToObject(o, "field", "t");
	cJSON_AddNumberToObject(o, "n", 20);
	cJSON_AddNumberToObject(o, "level", 1);
	cJSON_AddNumberToObject(o, "scale", 1);
	cJSON_AddItemToArray(arr, o);
	/* A huge list: only max-devices entries are read. */
	for (int i = 0; i < 5000; i++) {
		o = cJSON_CreateObject();
		char name[32];
		snprintf(name, sizeof(name), "dev%d", i);
		cJSON_AddStringToObject(o, "device", name);
		cJSON_AddStringToObject(o, "field", "temperature");
		cJSON_AddNumberToObject(o, "n", 100);
		cJSON_AddNumberToObject(o, "level", 22);
		cJSON_AddNumberToObject(o, "scale", 0.1);
		cJSON_AddItemToArray(arr, o);
	}
	sensor_value_detector.load(d->st, j);
	cJSON_Delete(j);
	sensor_value_detector.load(d->st, NULL);
	struct sensor_value_stats st;
	sensor_value_get_stats(d->st, &st);
	assert_int_equal(st.loaded, 14);
	assert_true(st.load_skipped >= 20);
	assert_true(st.series <= 16);
	const char *log = det_log(d);
	assert_non_null(strstr(log, "state: value: series 0: wrong or missing members; ignored"));
	assert_non_null(strstr(log, "more than max-devices"));
	/* A loaded baseline is in use at once: dev13 learned 22 +- 0.1. */
	send_t(d, T0, "dev13", "dev13", "127.0.0.2", 22.1);
	assert_int_equal(d->cap.total, 0);
	send_t(d, T0 + 2 * US, "dev13", "dev13", "127.0.0.2", 30);
	assert_int_equal(d->cap.total, 1);
	assert_string_equal(d->cap.r[0].event, "value_jump");
	/* And the detector still works for the rest. */
	for (int i = 0; i < 50; i++)
		send_th(d, T0 + (uint64_t)i * 2 * US, "fresh", "127.0.0.7", 20, 40);
	det_free(d);
}

/* ---- (6) a full table ---- */

static void test_lru(void **state)
{
	(void)state;
	struct det *d = det_new_cfg("{\"max-devices\":\"5\"}");
	uint64_t t = T0;
	/* d0 learns, then three other devices (6 series) push it out. */
	for (int i = 0; i < 40; i++)
		send_th(d, t += 2 * US, "d0", "127.0.0.2", 22 + (i % 2) * 0.1, 40);
	struct sensor_value_stats st;
	sensor_value_get_stats(d->st, &st);
	assert_int_equal(st.series, 2);
	for (int k = 1; k <= 3; k++) {
		char dev[8];
		snprintf(dev, sizeof(dev), "d%d", k);
		for (int i = 0; i < 30; i++)
			send_th(d, t += 2 * US, dev, "127.0.0.3", 22, 40);
	}
	sensor_value_get_stats(d->st, &st);
	assert_int_equal(st.series, 5);
	assert_int_equal(st.series_evicted, 3);
	assert_int_equal(st.owners, 4);
	assert_int_equal(st.owners_evicted, 0);
	/* d0's temperature was forgotten: 30 degC is a first reading, not a jump;
	 * d0's owner is still known. */
	send_th(d, t += 2 * US, "d0", "127.0.0.2", 30, 40);
	send_th(d, t += 2 * US, "d0", "127.0.0.2", 30, 40);
	assert_int_equal(d->cap.total, 0);
	/* Many devices: everything stays bounded. */
	for (int k = 0; k < 1000; k++) {
		char dev[16];
		snprintf(dev, sizeof(dev), "x%d", k);
		send_th(d, t += US, dev, "127.0.0.4", 22, 40);
	}
	sensor_value_get_stats(d->st, &st);
	assert_int_equal(st.series, 5);
	assert_int_equal(st.owners, 5);
	assert_true(st.series_evicted > 1000);
	assert_true(st.owners_evicted >= 999);
	/* Saving a full table and loading it into a small one. */
	cJSON *saved = sensor_value_detector.save(d->st);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(saved, "series")), 5);
	struct det *e = det_new_cfg("{\"max-devices\":\"2\"}");
	sensor_value_detector.load(e->st, saved);
	cJSON_Delete(saved);
	sensor_value_get_stats(e->st, &st);
	assert_int_equal(st.series, 2);
	det_free(e);
	det_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_benign_day),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_tamper_testbed_values),
		cmocka_unit_test(test_tamper_short_warmup),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_stuck),
		cmocka_unit_test(test_spoof_first),
		cmocka_unit_test(test_spoof_client_id),
		cmocka_unit_test(test_unparsed),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_flat_quantised),
		cmocka_unit_test(test_relearn_and_gap),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_garbage),
		cmocka_unit_test(test_lru),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
