/*
 * fuzz_pcap_pipeline.c - libFuzzer target for the whole pipeline from a
 * capture file: the input is written to a scratch file and read with
 * capture_file (libpcap: pcap or pcapng), through decode, defragmentation,
 * the flow table, TCP reassembly and the MQTT session layer, with EVE
 * output to /dev/null and small flow, stream and MQTT caps. engine_finish
 * then ends every flow and the stats writers run.
 *
 * Oracles: the sanitizers, and capture_file returning 0, or -1 with a
 * message. The raw-frame variant of this target is fuzz_pcap_frames.c.
 */
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "engine/engine.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct engine_cfg cfg;
	FILE *out = fuzz_devnull();
	const char *path = fuzz_scratch_file(data, size);
	if (!out || !path)
		return 0;
	fuzz_engine_cfg(&cfg);
	struct eve_cfg ec = { cfg.mqtt.string_log_limit, cfg.mqtt.log_passwords };
	struct output *o = output_open_stream(out, &ec);
	struct engine *e = o ? engine_new(&cfg, o) : NULL;
	if (!e) {
		output_close(o, 0);
		return 0;
	}
	char err[512];
	err[0] = 0;
	int rc = capture_file(path, e, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc)
		FUZZ_CHECK(err[0] != 0 && memchr(err, 0, sizeof(err)) != NULL);
	engine_finish(e);
	engine_write_eve_stats(e);
	engine_print_stats(e, out);
	engine_free(e);
	output_close(o, 0);
	return 0;
}
