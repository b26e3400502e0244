/* timefmt.c - Suricata-style EVE timestamps, time-zone work once an hour. */
#define _DEFAULT_SOURCE
#include "util/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void timefmt_init(struct timefmt *tf)
{
	memset(tf, 0, sizeof(*tf));
	tf->hour = INT64_MIN;
	tf->sec = INT64_MIN;
	tzset();
}

/* Days since 1970-01-01 to civil date (H. Hinnant's algorithm). */
static void civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

size_t timefmt_format(struct timefmt *tf, uint64_t ts_us, char *out,
		      size_t outsz)
{
	int64_t sec = (int64_t)(ts_us / 1000000u);
	unsigned usec = (unsigned)(ts_us % 1000000u);
	if (sec / 3600 != tf->hour) {
		struct tm lt;
		time_t t = (time_t)sec;
		tf->hour = sec / 3600;
		tf->offset_s = localtime_r(&t, &lt) ? lt.tm_gmtoff : 0;
		long o = tf->offset_s < 0 ? -tf->offset_s : tf->offset_s;
		o %= 100 * 3600;
		snprintf(tf->zone, sizeof(tf->zone), "%c%02u%02u",
			 tf->offset_s < 0 ? '-' : '+', (unsigned)(o / 3600) % 100,
			 (unsigned)((o / 60) % 60));
		tf->sec = INT64_MIN;
	}
	if (sec != tf->sec) {
		int64_t local = sec + tf->offset_s;
		int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
		int64_t rem = local - days * 86400;
		int y;
		unsigned mo, d;
		civil(days, &y, &mo, &d);
		snprintf(tf->prefix, sizeof(tf->prefix),
			 "%04d-%02u-%02uT%02u:%02u:%02u", y, mo, d,
			 (unsigned)(rem / 3600), (unsigned)((rem / 60) % 60),
			 (unsigned)(rem % 60));
		tf->sec = sec;
	}
	size_t pl = strlen(tf->prefix), zl = strlen(tf->zone);
	if (outsz < pl + zl + 8)
		return 0;
	memcpy(out, tf->prefix, pl);
	out[pl] = '.';
	for (int i = 6; i >= 1; i--) {
		out[pl + (size_t)i] = (char)('0' + usec % 10);
		usec /= 10;
	}
	memcpy(out + pl + 7, tf->zone, zl + 1);
	return pl + 7 + zl;
}

size_t timefmt_format_iso(struct timefmt *tf, uint64_t ts_us, char *out,
			  size_t outsz)
{
	char tmp[48];
	size_t n = timefmt_format(tf, ts_us, tmp, sizeof(tmp));
	/* "...+0800": the zone's last two digits move one place right. */
	if (n < 5 || outsz < n + 2)
		return 0;
	memcpy(out, tmp, n - 2);
	out[n - 2] = ':';
	memcpy(out + n - 1, tmp + n - 2, 3);
	return n + 1;
}

int64_t timefmt_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void timefmt_utc(uint64_t us, char *out, size_t cap)
{
	/* The inverse of timefmt_days_from_civil (Hinnant's civil_from_days). */
	int64_t z = (int64_t)(us / 86400000000ull) + 719468;
	uint64_t rem = us % 86400000000ull;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	unsigned sec = (unsigned)(rem / 1000000u);
	snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ", (long long)y, m, d,
		 sec / 3600, sec / 60 % 60, sec % 60, (unsigned)(rem % 1000000u));
}
