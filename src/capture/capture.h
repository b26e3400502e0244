/* capture.h - packet sources: pcap/pcapng files and live interfaces. */
#ifndef MQTTIDS_CAPTURE_H
#define MQTTIDS_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct engine;

/*
 * Feeds every packet of a pcap or pcapng file to e. Returns 0 when the whole
 * file was read, or -1 with a one-line message in err (missing file, unknown
 * link type, truncated capture); packets before the error were processed.
 */
int capture_file(const char *path, struct engine *e, char *err, size_t errsz);

struct live_opts {
	const char *iface;
	const char *filter;     /* BPF; NULL: "tcp" */
	const char *write_pcap; /* NULL: none */
	unsigned write_mode;    /* of a new write_pcap file; 0: 0640 */
	uint64_t count;         /* 0: unlimited */
	uint32_t duration_s;    /* 0: unlimited */
	int snaplen;
	void (*flush)(void *ud); /* called when the capture is idle */
	void (*tick)(void *ud, uint64_t now_us); /* about once a second */
	/* Once the interface and the -w file are open, before the first
	 * packet (dropping root); non-zero stops the capture. */
	int (*opened)(void *ud, char *err, size_t errsz);
	void *ud;
};

/*
 * Captures from an interface until SIGINT/SIGTERM, count or duration.
 * Returns 0, or -1 with a message in err.
 */
int capture_live(const struct live_opts *o, struct engine *e, char *err,
		 size_t errsz);

#endif
