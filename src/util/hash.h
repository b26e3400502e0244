/* hash.h - FNV-1a over bytes and a 64-bit mixer, for the small hash tables. */
#ifndef MQTTIDS_HASH_H
#define MQTTIDS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_INIT 0xcbf29ce484222325ull

/* Continues FNV-1a (64 bit) hash h over p[0..n): chain calls for several fields. */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A bijective 64-bit finaliser (splitmix64): every input bit reaches every output bit. */
static inline uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

#endif
