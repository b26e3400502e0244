/* sensor_value.h - the value detector's defaults and counters (sensor_value.c), for tests and listings. */
#ifndef MQTTIDS_SENSOR_VALUE_H
#define MQTTIDS_SENSOR_VALUE_H

#include <stdint.h>

/* Configuration defaults (docs/sensors.md, "value"). */
#define SENSOR_VALUE_DEF_WARMUP 20          /* samples before jumps are judged */
#define SENSOR_VALUE_DEF_SENSITIVITY 6.0    /* robust z: |x - level| / mean abs deviation */
#define SENSOR_VALUE_DEF_STUCK_AFTER 21600.0 /* s (6 h) */
#define SENSOR_VALUE_DEF_STUCK_SAMPLES 100
#define SENSOR_VALUE_DEF_RELEARN 100        /* samples at a new level before it is the baseline */
#define SENSOR_VALUE_DEF_GAP 3600.0         /* s of silence after which the level restarts */
#define SENSOR_VALUE_DEF_MAX_DEVICES 4096   /* device/field series (and as many owners) */

/* What the detector holds and has dropped, since init. */
struct sensor_value_stats {
	uint32_t series, series_cap;
	uint32_t owners, owners_cap;
	uint64_t series_evicted, owners_evicted;
	uint64_t relearned;     /* new levels accepted after `relearn` samples */
	uint64_t reseeded;      /* levels restarted after a gap */
	uint64_t loaded;        /* series and owners taken from a state file */
	uint64_t load_skipped;  /* state items ignored as unusable */
};

/* Copies the counters of a value detector state (from init) into *out. */
void sensor_value_get_stats(const void *state, struct sensor_value_stats *out);

#endif
