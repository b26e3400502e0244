/*
 * outputs.h - the alert outputs' own functions: one console line per
 * alert, and the SQLite alert store that `mqttids alerts` reads
 * (docs/OUTPUTS.md). Both are also sinks (output.h).
 */
#ifndef MQTTIDS_OUTPUTS_H
#define MQTTIDS_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "event/alert.h"
#include "util/jw.h"
#include "util/timefmt.h"

/* "Critical", "High", "Medium", "Low" or "Informational" (seed 004 §3.3);
 * priorities above 4 count as 4. */
const char *alert_priority_name(unsigned priority);

/*
 * One human-readable line per alert, like seed 000's serial monitor:
 *   2024-05-01 12:00:03.120  [High] Brute Force (Auth)  src 10.77.99.66
 *       total 5 since 12:00:01.004  client_id mqtt-pwn-1,...  user admin
 * Updates print as "  ... +N (total T)". color: ANSI colours by priority.
 */
void console_alert(FILE *fp, struct timefmt *tf, const struct alert *a,
		   bool color);

/*
 * Copies s[0..n) into out as text safe for a terminal: ASCII controls, DEL,
 * C1 controls, bidi overrides and bytes that are not UTF-8 become \xNN;
 * other UTF-8 is kept. At most max bytes of s are taken (more: "..." is
 * appended). out is always NUL-terminated (outsz > 0); returns its length.
 */
size_t console_escape(char *out, size_t outsz, const char *s, size_t n,
		      size_t max);

/* ---- SQLite alert store ---- */

struct store;

struct store_cfg {
	uint32_t retention_days; /* 0: keep forever */
	uint64_t max_alerts;     /* 0: no limit; oldest deleted first */
	uint32_t commit_ms;      /* batch inserts for at most this long */
	unsigned file_mode;      /* of a new store file; 0: FILE_OUTPUT_MODE */
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
/*
 * Commits the pending batch if it began commit_ms ago or more (live mode
 * calls this from its clock tick, so a quiet period still commits).
 */
int store_tick(struct store *s, uint64_t now_us);
/* Commits what is pending and applies retention (at most once a minute of
 * now_us). */
int store_flush(struct store *s, uint64_t now_us);
void store_close(struct store *s);

/* `mqttids alerts list|show|ack|unack ...`; argv[0] is "alerts". Returns
 * the exit status: 0 ok, 1 error, 2 usage. */
int alerts_main(int argc, char **argv);
/* alerts_main writing to out and err instead of stdout and stderr. */
int alerts_run(int argc, char **argv, FILE *out, FILE *err);

#endif
