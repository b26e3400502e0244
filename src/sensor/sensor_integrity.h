/*
 * sensor_integrity.h - the integrity detector's key file parser and check
 * entry point, exposed for the fuzz target (fuzz/fuzz_keys.c) and the unit
 * tests. The detector itself is sensor_integrity_detector (sensor.h).
 *
 * Key file (docs/sensors.md, "integrity"): one "<name> <token>" per line,
 * blanks between, '#' comment lines, blank lines ignored, CRLF accepted.
 * Name "*" is the shared secret of mode key (seed 000, case 2); any other
 * name is a device id whose token is its HMAC key as hex
 * (tb_key_file_lookup's format) and, in mode key, its own secret, which
 * overrides the shared one.
 */
#ifndef MQTTIDS_SENSOR_INTEGRITY_H
#define MQTTIDS_SENSOR_INTEGRITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sensor/sensor.h"

#define INTEG_SECRET_MAX 128   /* bytes of a token (128 hex digits = 64-byte key) */
#define INTEG_HMAC_KEY_MAX 64  /* bytes of an HMAC key (TB_HMAC_KEY_MAX) */
#define INTEG_MSG_SHOWN 50     /* key file problems printed; the rest counted */

struct integ_key {
	char name[SENSOR_ID_MAX + 1];     /* device id; "*" for the shared secret */
	uint32_t line;                    /* where it was defined */
	uint32_t secret_len;
	uint8_t secret[INTEG_SECRET_MAX]; /* the token as written, zero padded */
	bool has_hmac;                    /* the token is an even run of hex digits */
	uint32_t hmac_len;
	uint8_t hmac[INTEG_HMAC_KEY_MAX];
};

/*
 * The keys of one file: device entries sorted by name (unique), and the
 * shared secret. cap entries are allocated by integ_keys_init; parsing
 * allocates nothing. integ_keys_deinit wipes the key material.
 */
struct integ_keys {
	struct integ_key *v;
	uint32_t n, cap;
	bool has_shared;
	struct integ_key shared;
	uint32_t problems;                /* bad lines, duplicates, over the cap */
};

int integ_keys_init(struct integ_keys *k, uint32_t cap);
void integ_keys_deinit(struct integ_keys *k);

/*
 * Parses the key file text buf[0..n) (any bytes) into k, adding to what k
 * holds. fname names the file in messages, "FNAME:LINE: text" on log (the
 * first INTEG_MSG_SHOWN, then one "FNAME: N more problems not shown").
 * Messages never quote the line: it may hold a key. hex_required: a
 * device token that is not a hex key is a problem (no topic uses mode key).
 * Returns the number of problems found; bad lines are skipped.
 */
uint32_t integ_keys_parse(struct integ_keys *k, const char *buf, size_t n,
			  const char *fname, bool hex_required, FILE *log);

/* The entry of device (exact bytes), or NULL. */
const struct integ_key *integ_keys_find(const struct integ_keys *k, const char *device);

/*
 * Reads and parses the key file at path into k. Refuses (-1, with how to
 * fix it on log) a file that is not a regular file, is larger than 4 MiB,
 * or that group or others may read or write (mode & 077), as ssh does.
 * Returns 0 otherwise, bad lines reported and skipped.
 */
int integ_keys_load(struct integ_keys *k, const char *path, bool hex_required, FILE *log);

/* Counters of one detector instance, for tests and statistics. */
struct integ_stats {
	uint64_t checked;      /* messages on key or hmac topics */
	uint64_t accepted;     /* passed every check */
	uint64_t reports;
	uint64_t evictions;    /* replay entries dropped for room (LRU) */
	uint32_t devices;      /* replay entries in use */
	uint32_t keys;         /* device keys loaded */
	uint64_t load_skipped; /* saved entries ignored by load */
};

void integ_get_stats(const void *state, struct integ_stats *out);

/*
 * The check behind on_msg: m as the host hands it, json its payload parsed
 * (NULL: not JSON). on_msg is integ_check(state, m, sensor_msg_json(m)).
 */
void integ_check(void *state, const struct sensor_msg *m, const cJSON *json);

#endif
