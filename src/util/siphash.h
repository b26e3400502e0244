/*
 * siphash.h - SipHash-1-3 (Aumasson and Bernstein), the keyed hash that
 * indexes every state table, and the process's secret key for it.
 *
 * A key nobody outside the process knows makes colliding table keys
 * impossible to precompute (the attack unseeded FNV-1a allows). Rust and
 * Python index their hash maps with SipHash-1-3 for the same reason.
 */
#ifndef MQTTIDS_SIPHASH_H
#define MQTTIDS_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The 128-bit key. */
struct sip_key {
	uint64_t k0, k1;
};

/* The algorithm after the reference implementation
 * (https://github.com/veorq/SipHash, CC0). */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = ROTL(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = ROTL(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = ROTL(v2, 32);                                             \
	} while (0)

/* The initialisation constants: "somepseudorandomlygeneratedbytes". */
#define SIP_C0 0x736f6d6570736575ull
#define SIP_C1 0x646f72616e646f6dull
#define SIP_C2 0x6c7967656e657261ull
#define SIP_C3 0x7465646279746573ull
#define SIP_FINAL_XOR 0xffu

static inline uint64_t sip_load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	       (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

/* SipHash-c-d: c compression rounds per word, d finalisation rounds.
 * Inline, so a table's lookup unrolls the rounds. */
static inline __attribute__((always_inline)) uint64_t siphash_cd(const struct sip_key *k, const void *in, size_t n,
			   unsigned c, unsigned d)
{
	const uint8_t *p = in;
	uint64_t v0 = SIP_C0 ^ k->k0, v1 = SIP_C1 ^ k->k1;
	uint64_t v2 = SIP_C2 ^ k->k0, v3 = SIP_C3 ^ k->k1;
	const uint8_t *end = p + (n & ~(size_t)7);
	for (; p != end; p += 8) {
		uint64_t m = sip_load_le64(p);
		v3 ^= m;
		for (unsigned i = 0; i < c; i++)
			SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)n << 56;
	switch (n & 7) {
	case 7: b |= (uint64_t)p[6] << 48; /* fall through */
	case 6: b |= (uint64_t)p[5] << 40; /* fall through */
	case 5: b |= (uint64_t)p[4] << 32; /* fall through */
	case 4: b |= (uint64_t)p[3] << 24; /* fall through */
	case 3: b |= (uint64_t)p[2] << 16; /* fall through */
	case 2: b |= (uint64_t)p[1] << 8;  /* fall through */
	case 1: b |= (uint64_t)p[0];       /* fall through */
	default: break;
	}
	v3 ^= b;
	for (unsigned i = 0; i < c; i++)
		SIPROUND;
	v0 ^= b;
	v2 ^= SIP_FINAL_XOR;
	for (unsigned i = 0; i < d; i++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* SipHash-1-3 of p[0..n) under key k. */
static inline uint64_t siphash13(const struct sip_key *k, const void *p,
				 size_t n)
{
	return siphash_cd(k, p, n, 1, 3);
}

/* SipHash-2-4, the same code with the paper's rounds: its published test
 * vectors check the implementation. */
uint64_t siphash24(const struct sip_key *k, const void *p, size_t n);

/*
 * The process's table key: drawn from getrandom() on first use, or taken
 * from MQTTIDS_HASH_SEED (a number, for tests that compare two seeds).
 * What mqttids writes never depends on it.
 */
const struct sip_key *hash_seed(void);

/* Sets the process's key from seed (tests; call before any table exists). */
void hash_seed_set(uint64_t seed);

#endif
