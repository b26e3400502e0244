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
	uint32_t commit_ms;      /* read: batch inserts this long; live: 0 */
	unsigned file_mode;      /* of a new store file; 0: FILE_OUTPUT_MODE */
	uint32_t queue_max;      /* alerts waiting for a locked/failing store */
	uint64_t queue_bytes;    /* ... and their bytes */
	uint32_t lock_wait_s;    /* at close: how long to wait for a lock */
	bool live;               /* short lock waits: writes are on the packet path */
};

#define STORE_QUEUE_MAX_DEFAULT 10000
#define STORE_QUEUE_BYTES_DEFAULT (16ull * 1024 * 1024)
#define STORE_LOCK_WAIT_DEFAULT_S 60

void store_cfg_default(struct store_cfg *c);

/* Opens or creates the store (WAL mode, schema in docs/OUTPUTS.md). */
struct store *store_open(const char *path, const struct store_cfg *cfg,
			 char *err, size_t errsz);
/*
 * Records an alert (or applies an update to it by uuid). eve is its EVE
 * line (without the newline). The alert is queued, and the queue is
 * written in one transaction when commit_ms passed since its oldest put
 * (0: at once), at 1000 alerts, or by store_flush. A write that fails (a
 * lock held past 100 ms live or 5 s offline, a full disk) keeps the queue
 * and is retried a second later. Returns 0, or -1 when the alert is lost (the queue is
 * full), after printing why to stderr once.
 */
int store_put(struct store *s, const struct alert *a, const char *eve,
	      size_t eve_len, uint64_t now_us);
/*
 * Commits the pending batch if it began commit_ms ago or more (live mode
 * calls this from its clock tick, so a quiet period still commits).
 */
int store_tick(struct store *s, uint64_t now_us);
/* Writes what is queued (when no failure is waiting for its retry) and
 * applies retention (at most once a minute of now_us). */
int store_flush(struct store *s, uint64_t now_us);
/* Alerts committed, queued now, and lost (refused by the full queue). */
void store_counts(const struct store *s, uint64_t *stored, uint64_t *pending,
		  uint64_t *lost);
/*
 * Writes what is queued, waiting up to lock_wait_s for another process's
 * lock, and closes. -1 when any alert was not stored: the count, the
 * time range and the reason are printed to stderr.
 */
int store_close(struct store *s);

/* `mqttids alerts list|show|ack|unack ...`; argv[0] is "alerts". Returns
 * the exit status: 0 ok, 1 error, 2 usage. */
int alerts_main(int argc, char **argv);
/* alerts_main writing to out and err instead of stdout and stderr. */
int alerts_run(int argc, char **argv, FILE *out, FILE *err);

#endif
