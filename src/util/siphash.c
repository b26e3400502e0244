/*
 * siphash.c - SipHash-1-3 after the reference implementation
 * (https://github.com/veorq/SipHash, CC0): one compression round per
 * 8-byte word, three finalisation rounds.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "util/siphash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/hash.h"

uint64_t siphash24(const struct sip_key *k, const void *p, size_t n)
{
	return siphash_cd(k, p, n, 2, 4);
}

static struct sip_key g_key;
static int g_key_set;

void hash_seed_set(uint64_t seed)
{
	g_key.k0 = hash_mix64(seed);
	g_key.k1 = hash_mix64(seed ^ SIP_C0);
	g_key_set = 1;
}

const struct sip_key *hash_seed(void)
{
	if (g_key_set)
		return &g_key;
	const char *env = getenv("MQTTIDS_HASH_SEED");
	if (env && *env) {
		hash_seed_set(strtoull(env, NULL, 0));
		return &g_key;
	}
	uint8_t buf[sizeof(g_key)];
	ssize_t got = getrandom(buf, sizeof(buf), GRND_NONBLOCK);
	if (got == (ssize_t)sizeof(buf)) {
		memcpy(&g_key, buf, sizeof(g_key));
	} else {
		/* No entropy yet (early boot): the clock and pid still keep
		 * the key from being known in advance. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		hash_seed_set((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
			      (uint64_t)getpid() << 48);
	}
	g_key_set = 1;
	return &g_key;
}
