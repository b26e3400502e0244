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

#endif
