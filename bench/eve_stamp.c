/*
 * eve_stamp.c - stamp EVE alert lines with the time they are read (bench/latency.py).
 *
 * usage: mqttids live ... --eve - | bench/out/eve_stamp > STAMPS
 *
 * Reads EVE JSON lines from stdin. Right after each read() returns it takes
 * CLOCK_REALTIME, and every complete line in what has been read so far that
 * is an alert record ("event_type":"alert") is written to stdout as
 * "SECONDS.NANOSECONDS LINE\n", stamped with the time of the read that
 * completed it. stdout is flushed after each read that produced output. Other
 * lines are dropped. A line longer than the buffer (4 MiB: a huge mqtt record)
 * is skipped. Exits at end of input.
 *
 * It exists so that the reader on the timed path is a plain read() loop, not
 * the Python interpreter: latency.py reads the stamps from this process's
 * stdout at leisure.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP (4u << 20)

static const char ALERT[] = "\"event_type\":\"alert\"";

int main(void)
{
	char *buf = malloc(BUF_CAP);
	size_t len = 0;     /* bytes held, from the start of an incomplete line */
	int skipping = 0;   /* inside a line too long to hold */
	if (!buf)
		return 1;
	for (;;) {
		ssize_t n = read(0, buf + len, BUF_CAP - len);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t start = 0, end = len + (size_t)n, i = len;
		int wrote = 0;
		len = end;
		for (;;) {
			char *nl = memchr(buf + i, '\n', end - i);
			if (!nl)
				break;
			size_t e = (size_t)(nl - buf);
			if (!skipping && memmem(buf + start, e - start, ALERT, sizeof(ALERT) - 1)) {
				printf("%lld.%09ld ", (long long)ts.tv_sec, ts.tv_nsec);
				fwrite(buf + start, 1, e - start + 1, stdout);
				wrote = 1;
			}
			skipping = 0;
			start = i = e + 1;
		}
		if (start > 0) {
			memmove(buf, buf + start, end - start);
			len = end - start;
		} else if (len == BUF_CAP) {
			len = 0; /* an overlong line: drop what we have of it */
			skipping = 1;
		}
		if (wrote && fflush(stdout) != 0)
			return 1;
	}
	free(buf);
	return 0;
}
