/*
 * fuzz_pcap_frames.c - libFuzzer target for the pipeline without libpcap:
 * the input is a sequence of captured frames of one link type, fed to
 * engine_packet directly (decode, defragmentation, flows, reassembly, MQTT,
 * EVE), then engine_finish and the stats record. Each frame is copied into
 * a buffer of exactly its caplen, so ASan sees any read past the capture.
 *
 * Input layout:
 *   byte 0    link type: index into the supported DLTs below (mod 11;
 *             index 10 is an unsupported one)
 *   then per frame:
 *     [0]     time step: 0-127 in 10 ms units, 128-255: (b-128) seconds
 *     [1-2]   caplen, big endian (cut to what is left)
 *     [...]   the frame
 * Oracle: every line the engine writes is valid JSON (with well-formed
 * UTF-8), checked on an in-memory stream.
 */
#define _POSIX_C_SOURCE 200809L
#include <pcap/dlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "fuzz_util.h"

static const int dlts[] = {
	DLT_EN10MB, DLT_LINUX_SLL, 276 /* LINUX_SLL2 */, DLT_RAW,
	228 /* IPV4 */, 229 /* IPV6 */, DLT_NULL, DLT_LOOP,
	14 /* OpenBSD RAW */, 101 /* LINKTYPE_RAW */, 147 /* USER0: unsupported */,
};

static void check_lines(const char *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		FUZZ_CHECK(nl != NULL); /* every record ends with a newline */
		size_t n = (size_t)(nl - (buf + off));
		FUZZ_CHECK(fuzz_json_check(buf + off, n) == 0);
		off += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct engine_cfg cfg;
	char *obuf = NULL;
	size_t olen = 0;
	int dlt = dlts[fuzz_u8(&in) % (sizeof(dlts) / sizeof(dlts[0]))];
	FILE *out = open_memstream(&obuf, &olen);
	if (!out)
		return 0;
	fuzz_engine_cfg(&cfg);
	struct eve_cfg ec = { cfg.mqtt.string_log_limit, cfg.mqtt.log_passwords };
	struct output *o = output_open_stream(out, &ec);
	struct engine *e = o ? engine_new(&cfg, o) : NULL;
	if (!e) {
		output_close(o, 0);
		fclose(out);
		free(obuf);
		return 0;
	}
	uint64_t ts = 1662362667ull * 1000000u; /* 2022-09-05 */
	while (in.n > 0) {
		uint8_t step = fuzz_u8(&in);
		ts += step < 128 ? (uint64_t)step * 10000u
				 : (uint64_t)(step - 128) * 1000000u;
		size_t got;
		const uint8_t *p = fuzz_take(&in, fuzz_be16(&in), &got);
		uint8_t *frame = fuzz_dup(p, got);
		if (!frame)
			break;
		engine_packet(e, dlt, ts, frame, (uint32_t)got);
		free(frame);
	}
	engine_finish(e);
	engine_write_eve_stats(e);
	FUZZ_CHECK(engine_packets(e) <= size);
	engine_free(e);
	FUZZ_CHECK(output_close(o, 0) == 0);
	fclose(out);
	check_lines(obuf, olen);
	free(obuf);
	return 0;
}
