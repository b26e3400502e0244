/*
 * outputs.h - where alerts are written: EVE JSON lines (Suricata's alert
 * plus the seed-004 object), one console line per alert, and the SQLite
 * alert store that `mqttids alerts` reads (docs/OUTPUTS.md).
 */
#ifndef MQTTIDS_OUTPUTS_H
#define MQTTIDS_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "output/alert.h"
#include "util/jw.h"
#include "util/timefmt.h"

/*
 * Writes one complete EVE record for a into w (reset first), ending in a
 * newline: event_type "alert" (a->update false) or "alert_update", the
 * flow tuple when known, Suricata's alert{action, gid, signature_id, rev,
 * signature, category, severity}, and the seed-004 object under "mqttids".
 */
void alert_eve_write(struct jw *w, struct timefmt *tf, const struct alert *a);

/*
 * Writes the seed-004 object alone ({"uuid":..., "metadata":{...}}) into w
 * (reset first), no newline: what the store keeps and `alerts show` prints.
 */
void alert_seed_json(struct jw *w, struct timefmt *tf, const struct alert *a);

/*
 * One human-readable line per alert, like seed 000's serial monitor:
 *   2024-05-01 12:00:03.120  [High] Brute Force (Auth)  src 10.77.99.66
 *       total 5 since 12:00:01.004  client_id mqtt-pwn-1,...  user admin
 * Updates print as "  ... +N (total T)". color: ANSI colours by priority.
 */
void console_alert(FILE *fp, struct timefmt *tf, const struct alert *a,
		   bool color);

/* ---- SQLite alert store ---- */

struct store;

struct store_cfg {
	uint32_t retention_days; /* 0: keep forever */
	uint64_t max_alerts;     /* 0: no limit; oldest deleted first */
	uint32_t commit_ms;      /* batch inserts for at most this long */
};

void store_cfg_default(struct store_cfg *c);

/* Opens or creates the store (WAL mode, schema in docs/OUTPUTS.md). */
struct store *store_open(const char *path, const struct store_cfg *cfg,
			 char *err, size_t errsz);
/*
 * Records an alert (or applies an update to it by uuid). eve is its EVE
 * line (without the newline). Batched: committed by store_flush or when
 * commit_ms passed. Returns 0, or -1 after printing why to stderr.
 */
int store_put(struct store *s, const struct alert *a, const char *eve,
	      size_t eve_len, uint64_t now_us);
/* Commits what is pending and applies retention. */
int store_flush(struct store *s, uint64_t now_us);
void store_close(struct store *s);

/* `mqttids alerts list|show|ack ...`; argv[0] is "alerts". */
int alerts_main(int argc, char **argv);

#endif
