/*
 * ip_defrag.c - IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5).
 * A fixed array of trackers, each with a lazily allocated 64 KiB buffer and
 * a bitmap of the 8-byte units received. When all trackers are busy the
 * oldest is evicted and counted. Overlaps: first data wins.
 */
#include "net/ip_defrag.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DG_MAX 65535u
#define UNITS ((DG_MAX + 7) / 8)

struct frag_tracker {
	bool used;
	uint8_t family;
	uint8_t proto;
	uint8_t src[16];
	uint8_t dst[16];
	uint32_t id;
	uint64_t first_us;
	uint32_t total;  /* payload length once the last fragment is seen */
	uint8_t *buf;
	uint8_t bits[(UNITS + 7) / 8];
};

struct ip_defrag {
	struct ip_defrag_cfg cfg;
	struct frag_tracker *t;
	struct ip_defrag_stats st;
	struct frag_tracker *last_done;
};

struct ip_defrag *ip_defrag_new(const struct ip_defrag_cfg *cfg)
{
	struct ip_defrag *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (d->cfg.max_trackers == 0)
		d->cfg.max_trackers = 1;
	d->t = calloc(d->cfg.max_trackers, sizeof(*d->t));
	if (!d->t) {
		free(d);
		return NULL;
	}
	return d;
}

void ip_defrag_free(struct ip_defrag *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->cfg.max_trackers; i++)
		free(d->t[i].buf);
	free(d->t);
	free(d);
}

const struct ip_defrag_stats *ip_defrag_stats(const struct ip_defrag *d)
{
	return &d->st;
}

static void tracker_reset(struct frag_tracker *t)
{
	t->used = false;
	t->total = 0;
	memset(t->bits, 0, sizeof(t->bits));
}

static bool unit_has(const struct frag_tracker *t, uint32_t u)
{
	return t->bits[u >> 3] & (1u << (u & 7));
}

static bool tracker_complete(const struct frag_tracker *t)
{
	if (!t->total)
		return false;
	uint32_t units = (t->total + 7) / 8;
	for (uint32_t u = 0; u < units; u++)
		if (!unit_has(t, u))
			return false;
	return true;
}

int ip_defrag_add(struct ip_defrag *d, uint64_t now_us, uint8_t family,
		  const uint8_t *src, const uint8_t *dst, uint32_t id,
		  uint8_t proto, uint32_t offset, int more,
		  const uint8_t *data, uint32_t len, const uint8_t **out,
		  uint32_t *out_len)
{
	size_t alen = family == 4 ? 4 : 16;
	uint64_t tmo = (uint64_t)d->cfg.timeout_s * 1000000u;
	struct frag_tracker *t = NULL, *free_t = NULL, *oldest = NULL;
	d->st.fragments++;
	if (d->last_done) {
		tracker_reset(d->last_done);
		d->last_done = NULL;
	}
	if ((uint64_t)offset + len > DG_MAX || (more && (len % 8 || len == 0))) {
		d->st.invalid++;
		return -1;
	}
	for (uint32_t i = 0; i < d->cfg.max_trackers; i++) {
		struct frag_tracker *c = &d->t[i];
		if (c->used && now_us > c->first_us && now_us - c->first_us > tmo) {
			d->st.timeouts++;
			tracker_reset(c);
		}
		if (!c->used) {
			if (!free_t)
				free_t = c;
			continue;
		}
		if (c->family == family && c->id == id && c->proto == proto &&
		    memcmp(c->src, src, alen) == 0 &&
		    memcmp(c->dst, dst, alen) == 0) {
			t = c;
			break;
		}
		if (!oldest || c->first_us < oldest->first_us)
			oldest = c;
	}
	if (!t) {
		t = free_t;
		if (!t) {
			t = oldest;
			d->st.evicted++;
			tracker_reset(t);
		}
		if (!t->buf && !(t->buf = malloc(DG_MAX))) {
			d->st.invalid++;
			return -1;
		}
		t->used = true;
		t->family = family;
		t->id = id;
		t->proto = proto;
		memset(t->src, 0, 16);
		memset(t->dst, 0, 16);
		memcpy(t->src, src, alen);
		memcpy(t->dst, dst, alen);
		t->first_us = now_us;
	}
	if (!more) {
		uint32_t end = offset + len;
		if (t->total && t->total != end) {
			d->st.invalid++;
			return -1;
		}
		t->total = end;
	}
	/* Copy the 8-byte units not yet filled: the first copy wins. */
	for (uint32_t o = 0; o < len; o += 8) {
		uint32_t u = (offset + o) / 8;
		if (unit_has(t, u))
			continue;
		uint32_t n = len - o < 8 ? len - o : 8;
		memcpy(t->buf + offset + o, data + o, n);
		t->bits[u >> 3] |= (uint8_t)(1u << (u & 7));
	}
	if (!tracker_complete(t))
		return 0;
	d->st.reassembled++;
	*out = t->buf;
	*out_len = t->total;
	d->last_done = t; /* released on the next call */
	return 1;
}
