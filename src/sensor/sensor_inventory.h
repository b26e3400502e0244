/*
 * sensor_inventory.h - the device inventory's interface for the CLI
 * (`mqttids inventory list|export`), the fuzz target and the tests: writing
 * the inventory as a table, JSON or CSV, loading a known-devices file from
 * memory, and counters. The detector itself is sensor_inventory_detector
 * (sensor.h); docs/sensors.md, "Device inventory", describes it.
 */
#ifndef MQTTIDS_SENSOR_INVENTORY_H
#define MQTTIDS_SENSOR_INVENTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sensor/sensor.h"

/* Largest known-devices file read by the `file:` key. */
#define INVENTORY_FILE_MAX (64u << 20)

/*
 * Writes the inventory held by state (from sensor_inventory_detector.init)
 * to out. format: "table" (aligned columns for people, with a summary
 * line), "json" (an array of device objects, the format the `file:` key
 * loads) or "csv" (a header line, RFC 4180 quoting). Rows are sorted by
 * address, MAC and client id, so the same inventory writes the same text.
 * Returns 0, -1 for an unknown format (nothing written), or -2 when
 * writing failed or memory ran out.
 */
int inventory_write(void *state, FILE *out, const char *format);

/*
 * Loads a known-devices document (the `file:` format) from buf[0..len)
 * into state; name is what messages call it (a path). The buffer need not
 * be NUL-terminated and is untrusted: bad entries are reported on log as
 * "NAME:LINE: entry N: why" and skipped. Returns the number of entries
 * loaded, or -1 when the document is not a JSON array of entries (the
 * message names NAME:LINE:COL).
 */
int inventory_load_buffer(void *state, const char *name, const char *buf, size_t len,
			  FILE *log);

/* Counters, for the CLI summary and the tests. */
struct inventory_stats {
	uint64_t msgs;      /* client messages looked at */
	uint64_t fast;      /* ... that matched a known device (no table change) */
	uint64_t slow;      /* ... that brought something not in the table */
	uint64_t reports;   /* events reported */
	uint64_t evicted;   /* new (not learned) devices dropped for room, LRU */
	uint64_t refused;   /* devices not stored: the table was full of learned ones */
	uint32_t devices;   /* rows in the table */
	uint32_t max_devices;
	uint32_t gateways;  /* MACs treated as gateways (mac: auto) */
	bool learning_started;
	uint64_t learn_start_us, learn_end_us;
};

void inventory_get_stats(const void *state, struct inventory_stats *st);

#endif
