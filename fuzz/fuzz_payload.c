/*
 * fuzz_payload.c - libFuzzer target for the testbed's payload integrity
 * code (tools/common/tb_payload.c): tb_payload_verify on the input as a
 * received reading, under a fixed device key.
 *
 * Oracles: the result is -1, 0 or 1; 1 only when the input ends in a
 * well-formed tail signature; a payload tb_payload_format signs with the
 * key verifies, and the same payload with one signature digit changed
 * does not.
 */
#include <string.h>

#include "fuzz_util.h"
#include "tb_payload.h"

static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc = tb_payload_verify((const char *)data, size, key, sizeof(key));
	FUZZ_CHECK(rc >= -1 && rc <= 1);
	if (rc == 1)
		FUZZ_CHECK(size >= 75 && data[size - 1] == '}');
	/* Round trip: the input's first bytes as a device name. */
	char dev[33];
	size_t n = size < 32 ? size : 32;
	for (size_t i = 0; i < n; i++)
		dev[i] = (data[i] >= 'a' && data[i] <= 'z') ? (char)data[i] : 'x';
	dev[n] = '\0';
	struct tb_sec_cfg s;
	memset(&s, 0, sizeof(s));
	s.mode = TB_SEC_HMAC;
	memcpy(s.key, key, sizeof(key));
	s.key_len = sizeof(key);
	struct tb_reading r = { dev, 21.5, 40, size & 1, size, 1735689600u + size };
	char out[512];
	size_t len = tb_payload_format(&r, &s, out, sizeof(out));
	FUZZ_CHECK(len > 0);
	FUZZ_CHECK(tb_payload_verify(out, len, key, sizeof(key)) == 1);
	out[len - 3] = out[len - 3] == '0' ? '1' : '0';
	FUZZ_CHECK(tb_payload_verify(out, len, key, sizeof(key)) == 0);
	return 0;
}
