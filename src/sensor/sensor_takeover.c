/*
 * sensor_takeover.c - client-id takeover (the "takeover" detector): an
 * accepted CONNACK makes its connection the holder of the session's
 * client id, unless an open connection from another address holds it
 * already (the first holder keeps it, so the victim taking its id back
 * is no takeover); a CONNECT from another address than an open holder's
 * is a takeover, reported as a client_id_takeover finding (layer
 * "detect") that the rules turn into alerts; a DISCONNECT or the end of
 * the connection releases the id.
 *
 * A protocol-level detector: it runs with --no-detectors too. Memory: a
 * pool of detect.max-client-ids entries allocated at start, recycled
 * least recently used; nothing is allocated per message.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_session.h"
#include "net/flow_table.h"
#include "util/hash.h"
#include "util/ktable.h"

#define CID_MAX 256          /* bytes of a client id in the table */
#define CID_DEFAULT 65536    /* entries when the host gives no size */
#define CID_BUCKETS_MAX (1u << 30)
/*
 * The table is fair between CID_PARTS groups of client addresses (by the
 * table's seeded hash): a host that opens connections with ever new
 * client ids pushes out its own entries first, not other hosts' ids.
 */
#define CID_PARTS 64u

/* A client id and the open connection that holds it. */
struct cid {
	struct kt_node node;     /* by id, in the keyed table */
	struct cid *fnext;       /* by flow */
	const struct flow *flow;
	uint64_t flow_id;
	uint8_t family;
	uint8_t addr[16];
	char addr_str[SENSOR_ADDR_STR];
	uint16_t len;
	char id[CID_MAX + 1];
};

struct takeover {
	struct sensor_env env;
	struct ktable *kt;
	struct cid **by_flow;
	uint32_t mask;
	uint64_t takeovers;
};

static uint32_t hash_ptr(const void *p)
{
	uint64_t h = hash_mix64((uint64_t)(uintptr_t)p);
	return (uint32_t)(h ^ (h >> 32));
}

/*
 * The part of a client id the table keeps: up to its first NUL and at
 * most CID_MAX bytes, not splitting a UTF-8 sequence.
 */
static size_t id_keep(const uint8_t *p, size_t len)
{
	const uint8_t *z = len ? memchr(p, 0, len) : NULL;
	size_t n = z ? (size_t)(z - p) : len;
	if (n > CID_MAX) {
		n = CID_MAX;
		while (n > 0 && (p[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

static void flow_link(struct takeover *t, struct cid *c)
{
	struct cid **b = &t->by_flow[hash_ptr(c->flow) & t->mask];
	c->fnext = *b;
	*b = c;
}

static void flow_unlink(struct takeover *t, struct cid *c)
{
	struct cid **pp = &t->by_flow[hash_ptr(c->flow) & t->mask];
	while (*pp && *pp != c)
		pp = &(*pp)->fnext;
	if (*pp)
		*pp = c->fnext;
	c->fnext = NULL;
}

static void cid_release(struct takeover *t, struct cid *c, int evicted)
{
	flow_unlink(t, c);
	kt_remove(t->kt, c, evicted);
}

static struct cid *cid_find(struct takeover *t, const char *id, size_t len,
			    uint32_t h)
{
	for (struct cid *c = kt_first(t->kt, h); c; c = kt_next(t->kt, c))
		if (kt_hash_of(c) == h && c->len == len && !memcmp(c->id, id, len))
			return c;
	return NULL;
}

static bool same_flow(const struct cid *c, const struct flow *f)
{
	return c->flow == f && c->flow_id == f->id;
}

static bool addr_eq(const struct cid *c, uint8_t family, const uint8_t *a)
{
	return c->family == family && !memcmp(c->addr, a, family == 4 ? 4 : 16);
}

/* The address group a holder's entry is counted in (see CID_PARTS). */
static uint32_t addr_part(const struct takeover *t, uint8_t family,
			  const uint8_t *a)
{
	return kt_hash(t->kt, a, family == 4 ? 4 : 16) % CID_PARTS;
}

/* Records flow f (client address addr) as holding id. */
static void cid_hold(struct takeover *t, struct cid *c, const char *id,
		     size_t len, uint32_t h, const struct flow *f,
		     uint8_t family, const uint8_t *addr, const char *addr_str)
{
	if (c) {
		flow_unlink(t, c);
		kt_touch(t->kt, c);
	} else {
		struct cid *v = kt_victim(t->kt);
		if (v) /* forget the stalest holder of the largest group */
			cid_release(t, v, 1);
		c = kt_insert(t->kt, h, 0, addr_part(t, family, addr));
		memcpy(c->id, id, len);
		c->id[len] = 0;
		c->len = (uint16_t)len;
	}
	c->flow = f;
	c->flow_id = f->id;
	c->family = family;
	memset(c->addr, 0, sizeof(c->addr));
	memcpy(c->addr, addr, family == 4 ? 4 : 16);
	sensor_copy_str(c->addr_str, sizeof(c->addr_str),
			addr_str && *addr_str ? addr_str : "unknown");
	flow_link(t, c);
}

static void release_flow(struct takeover *t, const struct flow *f)
{
	struct cid *c = t->by_flow[hash_ptr(f) & t->mask];
	while (c) {
		struct cid *next = c->fnext;
		if (c->flow == f)
			cid_release(t, c, 0);
		c = next;
	}
}

/* A CONNECT from another address than the open holder's: a takeover. */
static void on_connect(struct takeover *t, const struct det_event *ev,
		       const struct mqtt_msg *m)
{
	if (ev->toclient)
		return;
	const char *id = (const char *)m->client_id.p;
	size_t len = id_keep(m->client_id.p, m->client_id.len);
	if (!len)
		return;
	uint32_t h = kt_hash(t->kt, id, len);
	struct cid *c = cid_find(t, id, len, h);
	if (!c || same_flow(c, ev->flow) || addr_eq(c, ev->family, ev->src))
		return;
	char cbuf[CID_MAX + 1], detail[CID_MAX + SENSOR_ADDR_STR + 32];
	memcpy(cbuf, id, len);
	cbuf[len] = 0;
	snprintf(detail, sizeof(detail), "client id %s held by %s", cbuf,
		 c->addr_str);
	kt_touch(t->kt, c);
	t->takeovers++;
	struct sensor_report r = {
		.base = ev,
		.ts_us = ev->ts_us,
		.layer = "detect",
		.event = "client_id_takeover",
		.detail = detail,
	};
	t->env.report(t->env.ud, &r);
}

/* An accepted CONNACK: its connection holds the session's client id. */
static void on_connack(struct takeover *t, const struct det_event *ev,
		       const struct mqtt_msg *m)
{
	if (!ev->toclient || m->return_code != 0 || !ev->st ||
	    !ev->st->client_id)
		return;
	const char *id = ev->st->client_id;
	size_t len = id_keep((const uint8_t *)id, strlen(id));
	if (!len)
		return;
	uint32_t h = kt_hash(t->kt, id, len);
	struct cid *c = cid_find(t, id, len, h);
	if (c && !addr_eq(c, ev->family, ev->dst) && !same_flow(c, ev->flow))
		return; /* held open from elsewhere: the first holder keeps it */
	cid_hold(t, c, id, len, h, ev->flow, ev->family, ev->dst, ev->dst_str);
}

static void takeover_msg(void *state, const struct sensor_msg *sm)
{
	struct takeover *t = state;
	const struct det_event *ev = sm->ev;
	const struct mqtt_msg *m = sm->m;
	if (!ev || !m || !ev->flow || !ev->src || !ev->dst ||
	    (ev->family != 4 && ev->family != 6))
		return;
	switch (m->type) {
	case MQTT_CONNECT:
		on_connect(t, ev, m);
		break;
	case MQTT_CONNACK:
		on_connack(t, ev, m);
		break;
	case MQTT_DISCONNECT:
		release_flow(t, ev->flow);
		break;
	default:
		break;
	}
}

static void takeover_flow_end(void *state, const struct flow *f)
{
	if (f)
		release_flow(state, f);
}

static void takeover_free(void *state)
{
	struct takeover *t = state;
	if (!t)
		return;
	kt_free(t->kt);
	free(t->by_flow);
	free(t);
}

static int takeover_init(const struct sensor_env *env, const cJSON *cfg,
			 void **state)
{
	(void)cfg;
	struct takeover *t = calloc(1, sizeof(*t));
	if (!t) {
		fprintf(env->log, "mqttids: takeover: out of memory\n");
		return -1;
	}
	t->env = *env;
	uint32_t max = env->max_client_ids ? env->max_client_ids : CID_DEFAULT;
	uint32_t nb = 16;
	while (nb < max && nb < CID_BUCKETS_MAX)
		nb <<= 1;
	t->mask = nb - 1;
	struct kt_opts o = {
		.name = "client_ids",
		.capacity = max,
		.entry_size = sizeof(struct cid),
		.n_parts = CID_PARTS,
		.n_lists = 1,
		.list = { { 0, KT_EVICT, 1 } },
		.n_evict = 1,
		.evict = { 0 },
	};
	t->kt = kt_new(&o);
	t->by_flow = calloc(nb, sizeof(*t->by_flow));
	if (!t->kt || !t->by_flow) {
		fprintf(env->log, "mqttids: takeover: out of memory for %u client ids\n",
			max);
		takeover_free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static void takeover_stats(void *state, struct sensor_stats *out)
{
	struct takeover *t = state;
	const struct kt_stats *ks = kt_stats(t->kt);
	sensor_stats_add(out, "takeovers", t->takeovers);
	sensor_stats_add(out, "pool_used", ks->peak);
	sensor_stats_add(out, "client_ids_max", kt_capacity(t->kt));
	sensor_stats_add(out, "evicted", ks->evicted);
}

uint64_t sensor_takeover_entry_bytes(void)
{
	/* The entry, its slots in the id index and the flow index. */
	return sizeof(struct cid) + sizeof(uint32_t) + sizeof(struct cid *);
}

static size_t takeover_tables(void *state, const struct ktable **out,
			      size_t max)
{
	if (!max)
		return 0;
	out[0] = ((const struct takeover *)state)->kt;
	return 1;
}

uint64_t sensor_takeover_count(const void *state)
{
	return state ? ((const struct takeover *)state)->takeovers : 0;
}

const struct sensor_detector sensor_takeover_detector = {
	.name = "takeover",
	.core = true,
	.init = takeover_init,
	.on_msg = takeover_msg,
	.on_flow_end = takeover_flow_end,
	.stats = takeover_stats,
	.tables = takeover_tables,
	.free = takeover_free,
};
