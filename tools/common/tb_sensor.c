/* tb_sensor.c - DHT11/DHT22 model: daily cycle, slow drift, quantised noise, failed reads (datasheet resolutions and ranges). */
#include "tb_sensor.h"

#include <math.h>

#define TB_PI 3.14159265358979323846

uint64_t tb_rng_next(struct tb_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double tb_rng_unit(struct tb_rng *r)
{
	return (double)(tb_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double tb_rng_normal(struct tb_rng *r)
{
	double u = tb_rng_unit(r), v = tb_rng_unit(r);
	return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * TB_PI * v);
}

double tb_rng_exp(struct tb_rng *r, double mean)
{
	return -mean * log(1.0 - tb_rng_unit(r));
}

void tb_dht_init(struct tb_dht_model *d, enum tb_dht kind,
		    double base_t, double amp_t, double base_h, uint64_t seed)
{
	d->kind = kind;
	d->rng.s = seed;
	d->base_t = base_t;
	d->amp_t = amp_t;
	d->base_h = base_h;
	d->drift_sd = 0.6;
	/* Datasheet accuracy: DHT11 +-2 degC / +-5 %RH, DHT22 +-0.5 / +-2. */
	double at = kind == TB_DHT11 ? 2.0 : 0.5;
	double ah = kind == TB_DHT11 ? 5.0 : 2.0;
	d->off_t = (tb_rng_unit(&d->rng) * 2 - 1) * at * 0.5;
	d->off_h = (tb_rng_unit(&d->rng) * 2 - 1) * ah * 0.5;
	d->drift_t = tb_rng_normal(&d->rng) * d->drift_sd;
	d->drift_h = tb_rng_normal(&d->rng) * 2.0;
	d->last_s = -1;
	d->fail_p = kind == TB_DHT11 ? 0.02 : 0.01;
	d->tamper_delta = 0;
	d->tamper_start = d->tamper_end = -1;
}

void tb_dht_tamper(struct tb_dht_model *d, double t_start, double t_end,
		   double delta)
{
	d->tamper_delta = delta;
	d->tamper_start = t_start;
	d->tamper_end = t_end;
}

double tb_dht_tamper_offset(const struct tb_dht_model *d, double t_s)
{
	if (d->tamper_delta == 0 || t_s < d->tamper_start)
		return 0;
	double on = (t_s < d->tamper_end ? t_s : d->tamper_end) - d->tamper_start;
	double x = d->tamper_delta * (1 - exp(-on / TB_TAMPER_TAU_S));
	if (t_s > d->tamper_end)
		x *= exp(-(t_s - d->tamper_end) / TB_TAMPER_TAU_S);
	return x;
}

static double quantise(double x, double res)
{
	double q = round(x / res) * res;
	return q == 0 ? 0 : q; /* no "-0.0" in the JSON */
}

static double clamp(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

bool tb_dht_read(struct tb_dht_model *d, double t_s, double *t, double *h)
{
	/* Drift: exact Ornstein-Uhlenbeck step over the time since last read. */
	const double tau = 6 * 3600.0;
	double dt = d->last_s < 0 ? 0 : t_s - d->last_s;
	d->last_s = t_s;
	double a = exp(-dt / tau), s = sqrt(1 - a * a);
	d->drift_t = d->drift_t * a + d->drift_sd * s * tb_rng_normal(&d->rng);
	d->drift_h = d->drift_h * a + 2.0 * s * tb_rng_normal(&d->rng);
	/* Draw the noise before deciding failure so the stream stays aligned. */
	double nt = tb_rng_normal(&d->rng), nh = tb_rng_normal(&d->rng);
	if (tb_rng_unit(&d->rng) < d->fail_p)
		return false;
	double hour = fmod(t_s, 86400.0) / 3600.0;
	double tt = d->base_t + d->amp_t * cos(2 * TB_PI * (hour - 15) / 24) +
		    d->drift_t + tb_dht_tamper_offset(d, t_s);
	double hh = d->base_h - 1.5 * (tt - d->base_t) + d->drift_h;
	if (d->kind == TB_DHT11) {
		*t = quantise(clamp(tt + d->off_t + 0.4 * nt, 0, 50), 1.0);
		*h = quantise(clamp(hh + d->off_h + 1.0 * nh, 20, 90), 1.0);
	} else {
		*t = quantise(clamp(tt + d->off_t + 0.1 * nt, -40, 80), 0.1);
		*h = quantise(clamp(hh + d->off_h + 0.3 * nh, 0, 100), 0.1);
	}
	return true;
}
