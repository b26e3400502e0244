/* tb_sensor.h - DHT11/DHT22 temperature and humidity sensor model shared by the live sensor and the synthetic writer. */
#ifndef MQTTIDS_TB_SENSOR_H
#define MQTTIDS_TB_SENSOR_H

#include <stdbool.h>
#include <stdint.h>

/* splitmix64: small, fast and identical on every platform (determinism). */
struct tb_rng {
	uint64_t s;
};

uint64_t tb_rng_next(struct tb_rng *r);
/* Uniform in [0, 1). */
double tb_rng_unit(struct tb_rng *r);
/* Standard normal (Box-Muller). */
double tb_rng_normal(struct tb_rng *r);
/* Exponential with the given mean. */
double tb_rng_exp(struct tb_rng *r, double mean);

enum tb_dht { TB_DHT11 = 11, TB_DHT22 = 22 };

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
struct tb_dht_model {
	enum tb_dht kind;
	double base_t, amp_t, drift_sd;
	double base_h;
	double off_t, off_h;   /* calibration error of this part */
	double drift_t, drift_h;
	double last_s;         /* time of the previous read (drift step) */
	double fail_p;
	/* Physical tampering (a hair dryer or ice pack on the part): the true
	 * temperature moves towards +tamper_delta with a first-order response
	 * (time constant TB_TAMPER_TAU_S) from tamper_start, and back after
	 * tamper_end. */
	double tamper_delta, tamper_start, tamper_end;
	struct tb_rng rng;
};

#define TB_TAMPER_TAU_S 8.0

/* Sets up a part of the given kind for a room; rng seeds the part's own stream. */
void tb_dht_init(struct tb_dht_model *d, enum tb_dht kind,
		    double base_t, double amp_t, double base_h, uint64_t seed);

/*
 * Reads the sensor at simulated time t_s (seconds since the epoch, UTC).
 * Returns false for a failed read; otherwise sets *t (degC) and *h (%RH),
 * already quantised to the part's resolution (DHT11 1, DHT22 0.1).
 */
/* Schedules tampering: delta degC between t_start and t_end (epoch seconds). */
void tb_dht_tamper(struct tb_dht_model *d, double t_start, double t_end,
		   double delta);

/* The tampering offset at t_s (0 outside and long after the window). */
double tb_dht_tamper_offset(const struct tb_dht_model *d, double t_s);

bool tb_dht_read(struct tb_dht_model *d, double t_s, double *t, double *h);

#endif
