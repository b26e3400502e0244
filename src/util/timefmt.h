/* timefmt.h - EVE timestamps with a cached local-time offset. */
#ifndef MQTTIDS_TIMEFMT_H
#define MQTTIDS_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Caches the UTC offset per hour of event time, so formatting does no
 * time-zone work per packet (glibc would stat /etc/localtime each call).
 */
struct timefmt {
	int64_t hour;    /* hour (since the epoch) the offset was taken for */
	long offset_s;
	int64_t sec;     /* second the prefix below was built for */
	char prefix[32]; /* "2022-09-05T15:24:27" */
	char zone[16];    /* "+0800" */
};

void timefmt_init(struct timefmt *tf);
/* Writes "2022-09-05T15:24:27.194538+0800" (31 chars + NUL) into out. */
size_t timefmt_format(struct timefmt *tf, uint64_t ts_us, char *out,
		      size_t outsz);
/*
 * The same instant as ISO 8601 with a colon in the offset, as seed 004's
 * alert objects write it: "2022-09-05T15:24:27.194538+08:00" (32 chars +
 * NUL). Returns the length, or 0 when outsz is too small.
 */
size_t timefmt_format_iso(struct timefmt *tf, uint64_t ts_us, char *out,
			  size_t outsz);

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
int64_t timefmt_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * Event time as ISO 8601 UTC with microseconds, with no time-zone work:
 * "2025-01-01T00:00:00.000000Z" (27 chars + NUL; cut to fit cap). For the
 * data detectors' metadata and the inventory's files.
 */
void timefmt_utc(uint64_t ts_us, char *out, size_t cap);

#endif
