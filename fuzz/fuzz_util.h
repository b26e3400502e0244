/* fuzz_util.h - helpers shared by the libFuzzer targets and the replay main. */
#ifndef MQTTIDS_FUZZ_UTIL_H
#define MQTTIDS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The libFuzzer entry point every target defines (declared for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Oracle failure: prints what broke and aborts, so libFuzzer saves the
 * input and the replay test fails. Used for invariants the code documents,
 * never for conditions the input may legitimately cause.
 */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fuzz_fail(#cond, __FILE__, __LINE__);                  \
	} while (0)

void fuzz_fail(const char *what, const char *file, int line);

/*
 * Returns 0 when s[0..n) is exactly one JSON value (RFC 8259) whose strings
 * hold well-formed UTF-8, -1 otherwise. Recursion is bounded.
 */
int fuzz_json_check(const char *s, size_t n);

/*
 * Writes data to a per-process scratch file and returns a path that opens
 * it (valid until the next call). The file is unlinked at once where
 * /proc/self/fd exists, so crashes leave nothing behind. NULL on failure.
 */
const char *fuzz_scratch_file(const uint8_t *data, size_t size);

/* A FILE writing to /dev/null, opened once per process (never closed). */
FILE *fuzz_devnull(void);

/* A malloc'd copy of p[0..n) of exactly n bytes (1 if n is 0), so ASan sees over-reads. */
uint8_t *fuzz_dup(const uint8_t *p, size_t n);
/* Whether [p, end) is one or more decimal digits (message oracles). */
bool fuzz_is_digits(const char *p, const char *end);

struct engine_cfg;

/*
 * The engine configuration of the pipeline targets: defaults with small
 * flow, reassembly, defragmentation and MQTT caps, ports 1883 and 8883.
 */
void fuzz_engine_cfg(struct engine_cfg *c);

/* A bounds-checked cursor over the fuzzer input (not the wire reader). */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_be16(struct fuzz_in *in);
uint32_t fuzz_be32(struct fuzz_in *in);
/* Takes up to want bytes; *got says how many there were. */
const uint8_t *fuzz_take(struct fuzz_in *in, size_t want, size_t *got);

#endif
