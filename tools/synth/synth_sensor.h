/* synth_sensor.h - DHT11/DHT22 temperature and humidity sensor model for the synthetic testbed. */
#ifndef MQTTIDS_SYNTH_SENSOR_H
#define MQTTIDS_SYNTH_SENSOR_H

#include <stdbool.h>
#include <stdint.h>

/* splitmix64: small, fast and identical on every platform (determinism). */
struct synth_rng {
	uint64_t s;
};

uint64_t synth_rng_next(struct synth_rng *r);
/* Uniform in [0, 1). */
double synth_rng_unit(struct synth_rng *r);
/* Standard normal (Box-Muller). */
double synth_rng_normal(struct synth_rng *r);
/* Exponential with the given mean. */
double synth_rng_exp(struct synth_rng *r, double mean);

enum synth_dht { SYNTH_DHT11 = 11, SYNTH_DHT22 = 22 };

/*
 * One sensor in one room. The true temperature is
 *   base + amp * cos(2*pi*(hour - 15)/24) + drift
 * (warmest at 15:00), where drift is an Ornstein-Uhlenbeck process (time
 * constant 6 h, stationary sd drift_sd). Relative humidity falls 1.5 %RH per
 * degree above base, plus its own drift. A read adds white noise and the
 * part's fixed calibration offset, clamps to the part's range and rounds to
 * its resolution; it fails (checksum/timeout, as DHT libraries report NaN)
 * with probability fail_p.
 */
struct synth_dht_model {
	enum synth_dht kind;
	double base_t, amp_t, drift_sd;
	double base_h;
	double off_t, off_h;   /* calibration error of this part */
	double drift_t, drift_h;
	double last_s;         /* time of the previous read (drift step) */
	double fail_p;
	struct synth_rng rng;
};

/* Sets up a part of the given kind for a room; rng seeds the part's own stream. */
void synth_dht_init(struct synth_dht_model *d, enum synth_dht kind,
		    double base_t, double amp_t, double base_h, uint64_t seed);

/*
 * Reads the sensor at simulated time t_s (seconds since the epoch, UTC).
 * Returns false for a failed read; otherwise sets *t (degC) and *h (%RH),
 * already quantised to the part's resolution (DHT11 1, DHT22 0.1).
 */
bool synth_dht_read(struct synth_dht_model *d, double t_s, double *t, double *h);

#endif
