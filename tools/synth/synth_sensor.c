/* synth_sensor.c - DHT11/DHT22 model: daily cycle, slow drift, quantised noise, failed reads (datasheet resolutions and ranges). */
#include "synth_sensor.h"

#include <math.h>

#define SYNTH_PI 3.14159265358979323846

uint64_t synth_rng_next(struct synth_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double synth_rng_unit(struct synth_rng *r)
{
	return (double)(synth_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double synth_rng_normal(struct synth_rng *r)
{
	double u = synth_rng_unit(r), v = synth_rng_unit(r);
	return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * SYNTH_PI * v);
}

double synth_rng_exp(struct synth_rng *r, double mean)
{
	return -mean * log(1.0 - synth_rng_unit(r));
}

void synth_dht_init(struct synth_dht_model *d, enum synth_dht kind,
		    double base_t, double amp_t, double base_h, uint64_t seed)
{
	d->kind = kind;
	d->rng.s = seed;
	d->base_t = base_t;
	d->amp_t = amp_t;
	d->base_h = base_h;
	d->drift_sd = 0.6;
	/* Datasheet accuracy: DHT11 +-2 degC / +-5 %RH, DHT22 +-0.5 / +-2. */
	double at = kind == SYNTH_DHT11 ? 2.0 : 0.5;
	double ah = kind == SYNTH_DHT11 ? 5.0 : 2.0;
	d->off_t = (synth_rng_unit(&d->rng) * 2 - 1) * at * 0.5;
	d->off_h = (synth_rng_unit(&d->rng) * 2 - 1) * ah * 0.5;
	d->drift_t = synth_rng_normal(&d->rng) * d->drift_sd;
	d->drift_h = synth_rng_normal(&d->rng) * 2.0;
	d->last_s = -1;
	d->fail_p = kind == SYNTH_DHT11 ? 0.02 : 0.01;
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

bool synth_dht_read(struct synth_dht_model *d, double t_s, double *t, double *h)
{
	/* Drift: exact Ornstein-Uhlenbeck step over the time since last read. */
	const double tau = 6 * 3600.0;
	double dt = d->last_s < 0 ? 0 : t_s - d->last_s;
	d->last_s = t_s;
	double a = exp(-dt / tau), s = sqrt(1 - a * a);
	d->drift_t = d->drift_t * a + d->drift_sd * s * synth_rng_normal(&d->rng);
	d->drift_h = d->drift_h * a + 2.0 * s * synth_rng_normal(&d->rng);
	/* Draw the noise before deciding failure so the stream stays aligned. */
	double nt = synth_rng_normal(&d->rng), nh = synth_rng_normal(&d->rng);
	if (synth_rng_unit(&d->rng) < d->fail_p)
		return false;
	double hour = fmod(t_s, 86400.0) / 3600.0;
	double tt = d->base_t + d->amp_t * cos(2 * SYNTH_PI * (hour - 15) / 24) +
		    d->drift_t;
	double hh = d->base_h - 1.5 * (tt - d->base_t) + d->drift_h;
	if (d->kind == SYNTH_DHT11) {
		*t = quantise(clamp(tt + d->off_t + 0.4 * nt, 0, 50), 1.0);
		*h = quantise(clamp(hh + d->off_h + 1.0 * nh, 20, 90), 1.0);
	} else {
		*t = quantise(clamp(tt + d->off_t + 0.1 * nt, -40, 80), 0.1);
		*h = quantise(clamp(hh + d->off_h + 0.3 * nh, 0, 100), 0.1);
	}
	return true;
}
