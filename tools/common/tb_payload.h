/* tb_payload.h - the sensor's JSON reading, with the seed-000 shared key field or an HMAC-SHA256 tail signature. */
#ifndef MQTTIDS_TB_PAYLOAD_H
#define MQTTIDS_TB_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * How a reading is protected (docs/TESTBED.md, "Payload integrity"):
 *  - TB_SEC_NONE:  {"device":"d","temperature":22.0,"humidity":41}
 *  - TB_SEC_KEY:   the same plus "key":"<shared secret>" (seed 000, case 2)
 *  - TB_SEC_HMAC:  the same plus "ctr":<n>,"ts":<epoch s>, then
 *                  ,"hmac":"<64 lowercase hex>"} where the MAC is
 *                  HMAC-SHA256(device key, B) and B is the payload up to
 *                  (not including) ,"hmac": followed by "}" -- the object
 *                  exactly as sent, minus its last member.
 */
enum tb_sec { TB_SEC_NONE, TB_SEC_KEY, TB_SEC_HMAC };

#define TB_HMAC_KEY_MAX 64

struct tb_sec_cfg {
	enum tb_sec mode;
	char shared_key[64];          /* TB_SEC_KEY */
	uint8_t key[TB_HMAC_KEY_MAX]; /* TB_SEC_HMAC */
	size_t key_len;
};

/* A reading: one decimal for DHT22, none for DHT11 humidity. */
struct tb_reading {
	const char *device;
	double temperature, humidity;
	bool dht22;
	uint64_t ctr;     /* message counter (HMAC mode) */
	uint64_t ts;      /* epoch seconds (HMAC mode) */
};

/*
 * Writes the payload into out[0..cap) with a terminating NUL and returns
 * its length, or 0 when it does not fit.
 */
size_t tb_payload_format(const struct tb_reading *r, const struct tb_sec_cfg *s,
			 char *out, size_t cap);

/* HMAC-SHA256 of p[0..n) as 64 lowercase hex digits plus NUL into hex[65]. */
void tb_hmac_hex(const uint8_t *key, size_t key_len, const void *p, size_t n,
		 char hex[65]);

/*
 * Checks a TB_SEC_HMAC payload against key. Returns 1 when the tail
 * signature is present and right, 0 when present and wrong, -1 when the
 * payload carries no well-formed tail signature.
 */
int tb_payload_verify(const char *p, size_t n, const uint8_t *key, size_t key_len);

/*
 * Looks up device in a key file: lines "<device> <hex key>", '#' comments
 * and blank lines ignored. Returns 0 and fills key/key_len, or -1 with a
 * message (file:line) on stderr.
 */
int tb_key_file_lookup(const char *path, const char *device, uint8_t *key,
		       size_t *key_len);

#endif
