/*
 * detect.c - the rule engine: each event goes to its candidate rules; each
 * match counts in the (rule, target) tracker of threshold.c; at the
 * threshold an alert is built with the metadata aggregated for that
 * tracker, and matches during the cooldown are added to it and reported
 * as one update when the cooldown ends. Also watches client ids for
 * takeovers and turns them into client_id_takeover anomaly events.
 *
 * Semantics: docs/detection.md. Memory: trackers, aggregate slots and the
 * client-id table are pools sized in detect_new; nothing is allocated per
 * event.
 */
#define _POSIX_C_SOURCE 200809L /* inet_ntop */
#include "detect/detect.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "detect/threshold.h"
#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"
#include "net/flow_table.h"
#include "sensor/sensor.h"
#include "util/hash.h"

/* Metadata caps per alert (docs/detection.md). */
#define META_STR_MAX 256     /* bytes of one client id, user, password, topic */
#define META_MAX_IDS 16
#define META_MAX_USERS 16
#define META_MAX_PASSWORDS 16
#define META_MAX_TOPICS 32   /* keys per topic map */
#define META_ARENA 8192      /* bytes of strings per aggregate */
#define META_DETECTOR 2048   /* bytes of a data detector's metadata.detector */
#define META_DETAIL 256      /* bytes of its one-line detail */
#define CID_MAX 256          /* bytes of a client id in the takeover table */

#define ADDR_STR 46          /* INET6_ADDRSTRLEN */

enum { TOPICS_PUB = 0, TOPICS_SUB = 1, TOPICS_UNSUB = 2 };
enum { AGG_FREE = 0, AGG_IDLE = 1, AGG_COOL = 2 };

/*
 * The metadata of one alert being accumulated: strings in a fixed arena,
 * arrays shaped as struct alert wants them. Slots of trackers that are not
 * cooling sit on an LRU list and may be taken by another tracker; slots
 * of cooling trackers are never taken (their alert is already out).
 */
struct agg {
	struct agg *prev, *next;
	struct thr_entry *owner;
	uint8_t list;            /* AGG_* */
	bool truncated;
	uint32_t n_ids, n_users, n_pass;
	uint32_t n_topics[3];
	const char *ids[META_MAX_IDS];
	const char *users[META_MAX_USERS];
	const char *pass[META_MAX_PASSWORDS];
	struct alert_count topics[3][META_MAX_TOPICS];
	uint32_t used;
	char arena[META_ARENA];
	/* The latest data-detector finding (src/sensor): "detector":{...}. */
	uint32_t det_len;
	char det[META_DETECTOR];
	char detail[META_DETAIL];
};

/* detect.c's part of each tracker (thr_user). */
struct trk {
	struct agg *agg;         /* NULL: none (yet, or taken away) */
	bool meta_lost;          /* some metadata of this cycle was dropped */
	char uuid[33];           /* of the alert of the current cycle */
	/* The latest matching event, for update records. */
	uint8_t family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint64_t flow_id;
	uint64_t pcap_cnt;
};

/* A client id and the open connection that holds it (takeovers). */
struct cid {
	struct cid *hnext;       /* by id; the free list */
	struct cid *fnext;       /* by flow */
	struct cid *lprev, *lnext;
	uint32_t hash;
	const struct flow *flow;
	uint64_t flow_id;
	uint8_t family;
	uint8_t addr[16];
	char addr_str[ADDR_STR];
	uint16_t len;
	char id[CID_MAX + 1];
};

struct detect {
	struct detect_cfg cfg;
	const struct ruleset *rs;
	struct alert_sink sink;
	struct detect_stats st;
	struct thr_table *thr;
	uint64_t seq;            /* alerts raised: part of each uuid */

	struct agg *aggs;        /* max_aggregates slots */
	uint32_t aggs_used;      /* handed out at least once */
	struct agg *agg_free;
	struct agg *idle_head, *idle_tail; /* LRU of AGG_IDLE slots */
	struct agg scratch;      /* one-shot alerts that need no slot */

	struct cid *cids;        /* max_client_ids entries */
	uint32_t cids_max, cids_used;
	struct cid *cid_free;
	struct cid **cid_by_id, **cid_by_flow;
	uint32_t cid_mask;
	struct cid *cid_head, *cid_tail; /* LRU: head most recent */
};

void detect_cfg_default(struct detect_cfg *c)
{
	c->max_trackers = 65536;
	c->max_aggregates = 4096;
	c->max_client_ids = 65536;
	c->log_passwords = false;
	c->uuid_seed = 0;
}

const struct detect_stats *detect_stats(const struct detect *d)
{
	return &d->st;
}

/* ---- hashing ---- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/*
 * Two independent 64-bit lanes over the same input, for 128-bit uuids.
 * Each absorbs 8-byte words through a different bijective mix; not
 * cryptographic, but every input bit reaches every output bit.
 */
struct h128 {
	uint64_t a, b, n;
};

static void h128_init(struct h128 *h, uint64_t seed)
{
	h->a = mix64(seed ^ 0x243f6a8885a308d3ull);
	h->b = mix64(seed + 0x13198a2e03707344ull) ^ 0xa4093822299f31d0ull;
	h->n = 0;
}

static void h128_word(struct h128 *h, uint64_t w)
{
	h->a = mix64(h->a ^ w) + 0x9e3779b97f4a7c15ull;
	h->b = mix64((h->b + w) * 0xff51afd7ed558ccdull ^ (h->b >> 29));
	h->n++;
}

static void h128_bytes(struct h128 *h, const void *p, size_t len)
{
	const uint8_t *s = p;
	h128_word(h, len);
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h128_word(h, w);
		s += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		for (size_t i = 0; i < len; i++)
			w |= (uint64_t)s[i] << (8 * i);
		h128_word(h, w ^ ((uint64_t)0x80 << 56));
	}
}

static uint32_t hash_bytes(const void *p, size_t len)
{
	uint64_t h = mix64(hash_fnv1a(HASH_FNV1A_INIT, p, len));
	return (uint32_t)(h ^ (h >> 32));
}

static uint32_t hash_ptr(const void *p)
{
	uint64_t h = mix64((uint64_t)(uintptr_t)p);
	return (uint32_t)(h ^ (h >> 32));
}

/*
 * A uuid for a new alert: 32 lower-case hex digits, laid out as a version
 * 4 UUID like the seed's Python uuid4().hex. With seed 0 it depends only
 * on the rule, the target, the times and the alert's sequence number, so
 * two reads of one capture give the same uuids; live mode seeds it.
 */
static void uuid_make(struct detect *d, const struct rule *r,
		      const struct thr_key *key, uint64_t first_us,
		      uint64_t ts_us, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	struct h128 h;
	h128_init(&h, d->cfg.uuid_seed);
	const char *raw = r->raw ? r->raw : "";
	h128_bytes(&h, raw, strlen(raw));
	h128_word(&h, key->family);
	h128_bytes(&h, key->addr, 16);
	h128_word(&h, first_us);
	h128_word(&h, ts_us);
	h128_word(&h, ++d->seq);
	uint8_t b[16];
	uint64_t x = mix64(h.a ^ h.n), y = mix64(h.b ^ ~h.n);
	for (int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(x >> (8 * i));
		b[8 + i] = (uint8_t)(y >> (8 * i));
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = 0;
}

/* ---- bounded strings ---- */

/*
 * The part of a wire string that metadata keeps: up to the first NUL and
 * at most max bytes, not splitting a UTF-8 sequence. *cut says whether
 * anything was left off.
 */
static size_t str_keep(const uint8_t *p, size_t len, size_t max, bool *cut)
{
	const uint8_t *z = len ? memchr(p, 0, len) : NULL;
	size_t n = z ? (size_t)(z - p) : len;
	*cut = n < len;
	if (n > max) {
		n = max;
		while (n > 0 && (p[n] & 0xc0) == 0x80)
			n--;
		*cut = true;
	}
	return n;
}

/* ---- aggregate slots ---- */

static void agg_clear(struct agg *a)
{
	a->truncated = false;
	a->n_ids = a->n_users = a->n_pass = 0;
	a->n_topics[0] = a->n_topics[1] = a->n_topics[2] = 0;
	a->used = 0;
	a->det_len = 0;
	a->detail[0] = 0;
}

static void idle_unlink(struct detect *d, struct agg *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else
		d->idle_head = a->next;
	if (a->next)
		a->next->prev = a->prev;
	else
		d->idle_tail = a->prev;
	a->prev = a->next = NULL;
}

static void idle_push(struct detect *d, struct agg *a)
{
	a->list = AGG_IDLE;
	a->prev = NULL;
	a->next = d->idle_head;
	if (d->idle_head)
		d->idle_head->prev = a;
	else
		d->idle_tail = a;
	d->idle_head = a;
}

/* Returns k's slot to the free list (if it has one). */
static void agg_release(struct detect *d, struct trk *k)
{
	struct agg *a = k->agg;
	if (!a)
		return;
	if (a->list == AGG_IDLE)
		idle_unlink(d, a);
	a->list = AGG_FREE;
	a->owner = NULL;
	a->next = d->agg_free;
	d->agg_free = a;
	k->agg = NULL;
}

/* A cooling tracker's slot may no longer be taken by others. */
static void agg_pin(struct detect *d, struct trk *k)
{
	struct agg *a = k->agg;
	if (a && a->list == AGG_IDLE) {
		idle_unlink(d, a);
		a->list = AGG_COOL;
	}
}

/*
 * The slot of tracker e, getting one if it has none: a never-used or free
 * slot, else the least recently used slot of a tracker that is not
 * cooling (that tracker's alert-to-be loses its metadata). NULL when every
 * slot belongs to a cooling tracker.
 */
static struct agg *agg_get(struct detect *d, struct thr_entry *e,
			   struct trk *k)
{
	struct agg *a = k->agg;
	if (a) {
		if (a->list == AGG_IDLE && a != d->idle_head) {
			idle_unlink(d, a);
			idle_push(d, a);
		}
		return a;
	}
	if (d->agg_free) {
		a = d->agg_free;
		d->agg_free = a->next;
	} else if (d->aggs_used < d->cfg.max_aggregates) {
		a = &d->aggs[d->aggs_used++];
	} else if (d->idle_tail) {
		a = d->idle_tail;
		idle_unlink(d, a);
		struct trk *victim = thr_user(a->owner);
		victim->agg = NULL;
		victim->meta_lost = true;
		d->st.aggregates_evicted++;
	} else {
		return NULL;
	}
	agg_clear(a);
	a->owner = e;
	a->prev = a->next = NULL;
	k->agg = a;
	if (e->cooling)
		a->list = AGG_COOL;
	else
		idle_push(d, a);
	return a;
}

/* A copy of s[0..n) in a's arena, or NULL when it is full. */
static const char *agg_strdup(struct agg *a, const void *s, size_t n)
{
	if (n + 1 > sizeof(a->arena) - a->used)
		return NULL;
	char *p = a->arena + a->used;
	memcpy(p, s, n);
	p[n] = 0;
	a->used += (uint32_t)(n + 1);
	return p;
}

static void meta_drop(struct detect *d, struct agg *a)
{
	a->truncated = true;
	d->st.metadata_dropped++;
}

/* Adds a distinct non-empty string to one of a's lists. */
static void meta_add_str(struct detect *d, struct agg *a, const char **v,
			 uint32_t *n, uint32_t cap, const void *s, size_t len)
{
	bool cut;
	size_t keep = str_keep(s, len, META_STR_MAX, &cut);
	if (cut)
		a->truncated = true;
	if (!keep)
		return;
	for (uint32_t i = 0; i < *n; i++)
		if (!strncmp(v[i], s, keep) && v[i][keep] == 0)
			return;
	const char *c = *n < cap ? agg_strdup(a, s, keep) : NULL;
	if (!c) {
		meta_drop(d, a);
		return;
	}
	v[(*n)++] = c;
}

/* Counts one "key" of a topic map: "<topic> (QOS: n)" or "<filter>". */
static void meta_add_topic(struct detect *d, struct agg *a, int map,
			   struct slice topic, int qos)
{
	char key[META_STR_MAX + 16];
	bool cut;
	size_t n = str_keep(topic.p, topic.len, META_STR_MAX, &cut);
	if (cut)
		a->truncated = true;
	if (n)
		memcpy(key, topic.p, n);
	if (qos >= 0)
		n += (size_t)snprintf(key + n, sizeof(key) - n, " (QOS: %d)", qos);
	key[n] = 0;
	struct alert_count *v = a->topics[map];
	uint32_t *cnt = &a->n_topics[map];
	for (uint32_t i = 0; i < *cnt; i++) {
		if (!strcmp(v[i].key, key)) {
			v[i].count++;
			return;
		}
	}
	const char *c = *cnt < META_MAX_TOPICS ? agg_strdup(a, key, n) : NULL;
	if (!c) {
		meta_drop(d, a);
		return;
	}
	v[*cnt].key = c;
	v[*cnt].count = 1;
	(*cnt)++;
}

/*
 * Adds what ev says about the actor: client id and user (from the CONNECT
 * itself, else from the session), the password of a CONNECT when
 * configured, and the topics of PUBLISH, SUBSCRIBE and UNSUBSCRIBE.
 */
/*
 * A data detector's finding replaces the previous one of this alert: the
 * latest is what an update should show. It becomes the member
 * "detector":{"layer":..,"event":..,"detail":..,<the detector's members>}
 * of the alert's metadata; one that does not fit is left out (truncated).
 */
/* Appends text to buf[0..cap) at *o; false (nothing written) when it does not fit. */
static bool det_put(char *buf, size_t cap, size_t *o, const char *s, size_t n)
{
	if (n + 1 > cap - *o)
		return false;
	memcpy(buf + *o, s, n);
	*o += n;
	return true;
}

/* Appends s as a JSON string; false when it does not fit whole. */
static bool det_put_str(char *buf, size_t cap, size_t *o, const char *s)
{
	char tmp[META_DETAIL * 6 + 8];
	size_t len = strlen(s);
	if (len > META_DETAIL)
		len = META_DETAIL;
	size_t n = sensor_json_str(tmp, sizeof(tmp), s, len);
	return det_put(buf, cap, o, tmp, n);
}

static void meta_add_detector(struct detect *d, struct agg *a,
			      const struct det_event *ev)
{
	char *buf = a->det;
	size_t cap = sizeof(a->det), o = 0;
	const char *detail = ev->detail ? ev->detail : "";
	bool ok = det_put(buf, cap, &o, "\"detector\":{\"layer\":", 20) &&
		  det_put_str(buf, cap, &o, ev->layer ? ev->layer : "") &&
		  det_put(buf, cap, &o, ",\"event\":", 9) &&
		  det_put_str(buf, cap, &o, ev->anomaly ? ev->anomaly : "");
	if (ok && *detail)
		ok = det_put(buf, cap, &o, ",\"detail\":", 10) &&
		     det_put_str(buf, cap, &o, detail);
	if (ok && ev->meta_len) {
		size_t keep = o;
		if (!det_put(buf, cap, &o, ",", 1) ||
		    !det_put(buf, cap, &o, ev->meta, ev->meta_len)) {
			o = keep; /* the detector's members do not fit: the rest stays */
			meta_drop(d, a);
		}
	}
	if (!ok || !det_put(buf, cap, &o, "}", 1)) {
		a->det_len = 0;
		meta_drop(d, a);
		return;
	}
	a->det_len = (uint32_t)o;
	snprintf(a->detail, sizeof(a->detail), "%s", detail);
}

static void meta_add(struct detect *d, struct agg *a, const struct det_event *ev)
{
	const struct mqtt_msg *m = ev->msg;
	if (ev->kind == DET_ANOMALY && ev->meta)
		meta_add_detector(d, a, ev);
	const struct mqtt_state *st = ev->st;
	if (!st && ev->flow)
		st = ev->flow->mqtt; /* TCP segments of an MQTT connection */
	if (m && m->type == MQTT_CONNECT) {
		meta_add_str(d, a, a->ids, &a->n_ids, META_MAX_IDS,
			     m->client_id.p, m->client_id.len);
		if (m->has_username)
			meta_add_str(d, a, a->users, &a->n_users, META_MAX_USERS,
				     m->username.p, m->username.len);
		if (m->has_password && d->cfg.log_passwords)
			meta_add_str(d, a, a->pass, &a->n_pass,
				     META_MAX_PASSWORDS, m->password.p,
				     m->password.len);
	} else if (st) {
		if (st->client_id)
			meta_add_str(d, a, a->ids, &a->n_ids, META_MAX_IDS,
				     st->client_id, strlen(st->client_id));
		if (st->username)
			meta_add_str(d, a, a->users, &a->n_users, META_MAX_USERS,
				     st->username, strlen(st->username));
	}
	if (!m)
		return;
	switch (m->type) {
	case MQTT_PUBLISH:
		meta_add_topic(d, a, TOPICS_PUB, m->topic, m->qos);
		break;
	case MQTT_SUBSCRIBE:
		for (uint32_t i = 0; i < m->n_topics; i++)
			meta_add_topic(d, a, TOPICS_SUB, m->topics[i].name,
				       m->topics[i].opts & 3);
		break;
	case MQTT_UNSUBSCRIBE:
		for (uint32_t i = 0; i < m->n_topics; i++)
			meta_add_topic(d, a, TOPICS_UNSUB, m->topics[i].name, -1);
		break;
	default:
		break;
	}
}

/* ---- alerts ---- */

static void alert_rule(struct alert *al, const struct rule *r)
{
	al->sid = r->sid;
	al->rev = r->rev;
	al->classification = r->name ? r->name : "";
	al->category = r->classtype ? r->classtype : al->classification;
	al->priority = r->priority;
	al->rule_raw = r->raw ? r->raw : "";
}

static void alert_meta(struct alert *al, const struct agg *a, bool lost)
{
	al->metadata_truncated = lost;
	if (!a)
		return;
	al->client_ids = (struct alert_strs){ a->ids, a->n_ids };
	al->usernames = (struct alert_strs){ a->users, a->n_users };
	al->passwords = (struct alert_strs){ a->pass, a->n_pass };
	al->publish = (struct alert_counts){ a->topics[TOPICS_PUB],
					     a->n_topics[TOPICS_PUB] };
	al->subscribe = (struct alert_counts){ a->topics[TOPICS_SUB],
					       a->n_topics[TOPICS_SUB] };
	al->unsubscribe = (struct alert_counts){ a->topics[TOPICS_UNSUB],
						 a->n_topics[TOPICS_UNSUB] };
	al->metadata_truncated = lost || a->truncated;
	if (a->det_len) {
		al->extra_json = a->det;
		al->extra_len = a->det_len;
		al->detail = a->detail[0] ? a->detail : NULL;
	}
}

/* A new alert from the event that reached the threshold. */
static void alert_new(struct detect *d, const struct rule *r,
		      struct thr_entry *e, struct trk *k, const struct agg *a,
		      const struct det_event *ev, bool target_src)
{
	struct alert al;
	memset(&al, 0, sizeof(al));
	uuid_make(d, r, &e->key, e->first_us, ev->ts_us, k->uuid);
	memcpy(al.uuid, k->uuid, sizeof(al.uuid));
	al.ts_us = ev->ts_us;
	al.first_us = e->first_us;
	al.total = e->total;
	alert_rule(&al, r);
	const char *t = target_src ? ev->src_str : ev->dst_str;
	al.src = t && *t ? t : "unknown";
	if (ev->family) {
		al.src_ip = ev->src_str && *ev->src_str ? ev->src_str : NULL;
		al.dest_ip = ev->dst_str && *ev->dst_str ? ev->dst_str : NULL;
		al.src_port = ev->sport;
		al.dest_port = ev->dport;
	}
	al.flow_id = ev->flow ? ev->flow->id : 0;
	al.pcap_cnt = ev->pcap_cnt;
	alert_meta(&al, a, k->meta_lost);
	d->st.alerts++;
	if (d->sink.emit)
		d->sink.emit(d->sink.ud, &al);
}

static const char *addr_text(uint8_t family, const uint8_t *a, char *buf)
{
	if (family != 4 && family != 6)
		return NULL;
	if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, ADDR_STR))
		return NULL;
	return buf;
}

/* The update of a cooldown that ended with added events, at ts_us. */
static void alert_update(struct detect *d, struct thr_entry *e,
			 struct trk *k, uint64_t ts_us)
{
	const struct rule *r = e->key.owner;
	char tbuf[ADDR_STR], sbuf[ADDR_STR], dbuf[ADDR_STR];
	struct alert al;
	memset(&al, 0, sizeof(al));
	memcpy(al.uuid, k->uuid, sizeof(al.uuid));
	al.update = true;
	al.ts_us = ts_us;
	al.first_us = e->first_us;
	al.total = e->total;
	al.update_added = e->added;
	alert_rule(&al, r);
	const char *t = addr_text(e->key.family, e->key.addr, tbuf);
	al.src = t ? t : "unknown";
	al.src_ip = addr_text(k->family, k->src, sbuf);
	al.dest_ip = addr_text(k->family, k->dst, dbuf);
	if (al.src_ip) {
		al.src_port = k->sport;
		al.dest_port = k->dport;
	}
	al.flow_id = k->flow_id;
	al.pcap_cnt = k->pcap_cnt;
	alert_meta(&al, k->agg, k->meta_lost);
	d->st.updates++;
	if (d->sink.emit)
		d->sink.emit(d->sink.ud, &al);
}

/* threshold.c: a tracker's cycle ended (cooldown over, input over, evicted). */
static void on_cycle_end(void *ud, struct thr_entry *e, enum thr_end why,
			 uint64_t ts_us)
{
	struct detect *d = ud;
	struct trk *k = thr_user(e);
	if (e->cooling && e->added)
		alert_update(d, e, k, ts_us);
	agg_release(d, k);
	k->meta_lost = false;
	if (why == THR_END_EVICT)
		d->st.trackers_evicted++;
}

/* ---- rules ---- */

/*
 * One match of rule r by ev: counts it in the (r, target) tracker, adds
 * the event's metadata to the tracker's slot, remembers its flow tuple for
 * a later update, and at the threshold sends the new alert to the sink.
 */
static void on_match(struct detect *d, const struct rule *r,
		     const struct det_event *ev, bool target_src)
{
	struct thr_key key;
	memset(&key, 0, sizeof(key));
	key.owner = r;
	const uint8_t *addr = target_src ? ev->src : ev->dst;
	if ((ev->family == 4 || ev->family == 6) && addr) {
		key.family = ev->family;
		memcpy(key.addr, addr, ev->family == 4 ? 4 : 16);
	}
	struct thr_params p = { r->threshold, r->interval, r->cooldown };
	struct thr_entry *e;
	enum thr_verdict v = thr_hit(d->thr, &key, &p, ev->ts_us, &e);
	struct trk *k = thr_user(e);
	if (e->fresh) {
		/* The window was empty: what earlier events said is stale. */
		if (k->agg)
			agg_clear(k->agg);
		k->meta_lost = false;
	}

	struct agg *a;
	if (!ev->msg && !ev->st && !(ev->flow && ev->flow->mqtt) && !ev->meta) {
		/* Nothing to add (a SYN, a decoder event): no slot is taken, so
		 * a flood of such events does not churn the slots. */
		a = k->agg;
	} else if (v == THR_FIRED && !e->cooling && !k->agg) {
		/* Raised and done at once (cooldown 0): no slot needed. */
		a = &d->scratch;
		agg_clear(a);
	} else {
		a = agg_get(d, e, k);
		if (!a) {
			k->meta_lost = true;
			d->st.metadata_dropped++;
		}
	}
	if (a)
		meta_add(d, a, ev);

	k->family = (ev->family == 4 || ev->family == 6) && ev->src && ev->dst
			    ? ev->family : 0;
	if (k->family) {
		memcpy(k->src, ev->src, 16);
		memcpy(k->dst, ev->dst, 16);
	}
	k->sport = ev->sport;
	k->dport = ev->dport;
	k->flow_id = ev->flow ? ev->flow->id : 0;
	k->pcap_cnt = ev->pcap_cnt;

	if (v != THR_FIRED)
		return;
	alert_new(d, r, e, k, a, ev, target_src);
	if (e->cooling) {
		agg_pin(d, k);
	} else {
		agg_release(d, k);
		k->meta_lost = false;
	}
}

/* Offers ev to the rules that may match it. */
static void run_rules(struct detect *d, const struct det_event *ev)
{
	size_t n = 0;
	const struct rule *const *c = ruleset_candidates(d->rs, ev, &n);
	for (size_t i = 0; i < n; i++) {
		bool target_src = true;
		d->st.rule_checks++;
		if (!rule_match(c[i], ev, &target_src))
			continue;
		d->st.matches++;
		on_match(d, c[i], ev, target_src);
	}
}

/* ---- client-id takeover ---- */

static void cid_lru_unlink(struct detect *d, struct cid *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		d->cid_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		d->cid_tail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void cid_lru_push(struct detect *d, struct cid *c)
{
	c->lprev = NULL;
	c->lnext = d->cid_head;
	if (d->cid_head)
		d->cid_head->lprev = c;
	else
		d->cid_tail = c;
	d->cid_head = c;
}

static void cid_flow_link(struct detect *d, struct cid *c)
{
	struct cid **b = &d->cid_by_flow[hash_ptr(c->flow) & d->cid_mask];
	c->fnext = *b;
	*b = c;
}

static void cid_flow_unlink(struct detect *d, struct cid *c)
{
	struct cid **pp = &d->cid_by_flow[hash_ptr(c->flow) & d->cid_mask];
	while (*pp && *pp != c)
		pp = &(*pp)->fnext;
	if (*pp)
		*pp = c->fnext;
	c->fnext = NULL;
}

static void cid_release(struct detect *d, struct cid *c)
{
	struct cid **pp = &d->cid_by_id[c->hash & d->cid_mask];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	cid_flow_unlink(d, c);
	cid_lru_unlink(d, c);
	c->flow = NULL;
	c->hnext = d->cid_free;
	d->cid_free = c;
}

static struct cid *cid_find(struct detect *d, const char *id, size_t len,
			    uint32_t h)
{
	for (struct cid *c = d->cid_by_id[h & d->cid_mask]; c; c = c->hnext)
		if (c->hash == h && c->len == len && !memcmp(c->id, id, len))
			return c;
	return NULL;
}

static bool cid_same_flow(const struct cid *c, const struct flow *f)
{
	return c->flow == f && c->flow_id == f->id;
}

/* Records flow f (client address addr) as holding id. */
static void cid_hold(struct detect *d, struct cid *c, const char *id,
		     size_t len, uint32_t h, const struct flow *f,
		     uint8_t family, const uint8_t *addr, const char *addr_str)
{
	if (c) {
		cid_flow_unlink(d, c);
		cid_lru_unlink(d, c);
	} else {
		if (d->cid_free) {
			c = d->cid_free;
			d->cid_free = c->hnext;
		} else if (d->cids_used < d->cids_max) {
			c = &d->cids[d->cids_used++];
		} else {
			c = d->cid_tail; /* LRU: forget the stalest holder */
			cid_release(d, c);
			c = d->cid_free;
			d->cid_free = c->hnext;
		}
		memcpy(c->id, id, len);
		c->id[len] = 0;
		c->len = (uint16_t)len;
		c->hash = h;
		struct cid **b = &d->cid_by_id[h & d->cid_mask];
		c->hnext = *b;
		*b = c;
	}
	c->flow = f;
	c->flow_id = f->id;
	c->family = family;
	memset(c->addr, 0, sizeof(c->addr));
	memcpy(c->addr, addr, family == 4 ? 4 : 16);
	snprintf(c->addr_str, sizeof(c->addr_str), "%s",
		 addr_str && *addr_str ? addr_str : "unknown");
	cid_flow_link(d, c);
	cid_lru_push(d, c);
}

static void cid_release_flow(struct detect *d, const struct flow *f)
{
	struct cid *c = d->cid_by_flow[hash_ptr(f) & d->cid_mask];
	while (c) {
		struct cid *next = c->fnext;
		if (c->flow == f)
			cid_release(d, c);
		c = next;
	}
}

static bool addr_eq(const struct cid *c, uint8_t family, const uint8_t *a)
{
	return c->family == family && !memcmp(c->addr, a, family == 4 ? 4 : 16);
}

/*
 * Client-id ownership from the MQTT messages of ev: an accepted CONNACK
 * makes its connection the holder of the session's client id unless an
 * open connection from another address holds it already (the first holder
 * keeps it, so the victim taking its id back is no takeover); a CONNECT
 * from another address than an open holder's is a takeover, run through
 * the rules as a client_id_takeover anomaly; a DISCONNECT releases.
 */
static void takeover_watch(struct detect *d, const struct det_event *ev)
{
	const struct mqtt_msg *m = ev->msg;
	const struct flow *f = ev->flow;
	if (!f || !ev->src || !ev->dst || (ev->family != 4 && ev->family != 6))
		return;
	bool cut;
	size_t len;
	const char *id;
	switch (m->type) {
	case MQTT_CONNECT: {
		if (ev->toclient)
			return;
		id = (const char *)m->client_id.p;
		len = str_keep(m->client_id.p, m->client_id.len, CID_MAX, &cut);
		if (!len)
			return;
		uint32_t h = hash_bytes(id, len);
		struct cid *c = cid_find(d, id, len, h);
		if (!c || cid_same_flow(c, f) || addr_eq(c, ev->family, ev->src))
			return;
		char cbuf[CID_MAX + 1], detail[CID_MAX + ADDR_STR + 32];
		memcpy(cbuf, id, len);
		cbuf[len] = 0;
		snprintf(detail, sizeof(detail), "client id %s held by %s", cbuf,
			 c->addr_str);
		cid_lru_unlink(d, c);
		cid_lru_push(d, c);
		struct det_event x = *ev;
		x.kind = DET_ANOMALY;
		x.anomaly = "client_id_takeover";
		x.layer = "detect";
		x.detail = detail;
		d->st.takeovers++;
		run_rules(d, &x); /* DET_ANOMALY: never comes back here */
		return;
	}
	case MQTT_CONNACK: {
		if (!ev->toclient || m->return_code != 0 || !ev->st ||
		    !ev->st->client_id)
			return;
		id = ev->st->client_id;
		len = str_keep((const uint8_t *)id, strlen(id), CID_MAX, &cut);
		if (!len)
			return;
		uint32_t h = hash_bytes(id, len);
		struct cid *c = cid_find(d, id, len, h);
		if (c && !addr_eq(c, ev->family, ev->dst) && !cid_same_flow(c, f))
			return; /* held open from elsewhere: the first holder keeps it */
		cid_hold(d, c, id, len, h, f, ev->family, ev->dst, ev->dst_str);
		return;
	}
	case MQTT_DISCONNECT:
		cid_release_flow(d, f);
		return;
	default:
		return;
	}
}

/* ---- the API ---- */

struct detect *detect_new(const struct detect_cfg *cfg,
			  const struct ruleset *rs, struct alert_sink sink)
{
	struct detect *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (!d->cfg.max_trackers)
		d->cfg.max_trackers = 1;
	if (!d->cfg.max_aggregates)
		d->cfg.max_aggregates = 1;
	d->rs = rs;
	d->sink = sink;
	d->thr = thr_new(d->cfg.max_trackers, sizeof(struct trk), on_cycle_end, d);
	/* Slots and entries are taken in pool order: untouched ones cost no RSS. */
	d->aggs = calloc(d->cfg.max_aggregates, sizeof(*d->aggs));
	d->cids_max = d->cfg.max_client_ids ? d->cfg.max_client_ids : 1;
	uint32_t nb = 16;
	while (nb < d->cids_max && nb < (1u << 30))
		nb <<= 1;
	d->cid_mask = nb - 1;
	d->cids = calloc(d->cids_max, sizeof(*d->cids));
	d->cid_by_id = calloc(nb, sizeof(*d->cid_by_id));
	d->cid_by_flow = calloc(nb, sizeof(*d->cid_by_flow));
	if (!d->thr || !d->aggs || !d->cids || !d->cid_by_id || !d->cid_by_flow) {
		detect_free(d);
		return NULL;
	}
	return d;
}

void detect_free(struct detect *d)
{
	if (!d)
		return;
	thr_free(d->thr);
	free(d->aggs);
	free(d->cids);
	free(d->cid_by_id);
	free(d->cid_by_flow);
	free(d);
}

void detect_event(struct detect *d, const struct det_event *ev)
{
	d->st.events++;
	if (ev->ts_us >= thr_next_deadline(d->thr))
		thr_expire(d->thr, ev->ts_us);
	if (d->rs)
		run_rules(d, ev);
	if (ev->kind == DET_MQTT && ev->msg)
		takeover_watch(d, ev);
}

void detect_tick(struct detect *d, uint64_t now_us)
{
	thr_expire(d->thr, now_us);
}

void detect_flow_end(struct detect *d, const struct flow *f)
{
	if (f)
		cid_release_flow(d, f);
}

void detect_finish(struct detect *d)
{
	thr_flush(d->thr);
}
