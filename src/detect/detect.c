/*
 * detect.c - detection's one entry point: each event goes to its candidate
 * rules and, for MQTT messages, to the detectors of src/sensor (client-id
 * takeover and the data detectors), whose findings come back here, are
 * handed on to be logged, and run through the rules like any event. Each
 * rule match counts in the (rule, target) tracker of threshold.c; at the
 * threshold an alert is built with the metadata aggregated for that
 * tracker, and matches during the cooldown are added to it and reported
 * as one update when the cooldown ends.
 *
 * Semantics: docs/detection.md. Memory: trackers and aggregate slots are
 * pools sized in detect_new; nothing is allocated per event.
 */
#define _POSIX_C_SOURCE 200809L /* inet_ntop */
#include "detect/detect.h"
#include "event/anomalies.h"

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
#include "util/jw.h"
#include "util/rd.h"

/* Metadata caps per alert (docs/detection.md). */
#define META_STR_MAX 256     /* bytes of one client id, user, password, topic */
#define META_MAX_IDS 16
#define META_MAX_USERS 16
#define META_MAX_PASSWORDS 16
#define META_MAX_TOPICS 32   /* keys per topic map */
#define META_ARENA 8192      /* bytes of strings per aggregate */
#define META_DETECTOR 2048   /* bytes of a data detector's own members */
#define META_DETAIL 256      /* bytes of its one-line detail (with NUL) */
#define META_NAME 64         /* bytes of a finding's layer and event (with NUL) */

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
	uint16_t ids_len[META_MAX_IDS];
	uint16_t users_len[META_MAX_USERS];
	uint16_t pass_len[META_MAX_PASSWORDS];
	struct alert_count topics[3][META_MAX_TOPICS];
	/* Each topic key's length and hash: a match is tested on these first. */
	uint16_t topic_len[3][META_MAX_TOPICS];
	uint32_t topic_hash[3][META_MAX_TOPICS];
	uint32_t used;
	char arena[META_ARENA];
	/* The latest detector finding (src/sensor): metadata.detector. */
	bool has_finding;
	struct alert_finding finding; /* points into the arrays below */
	char layer[META_NAME], event[META_NAME];
	char detail[META_DETAIL];
	char det[META_DETECTOR];
};

/* detect.c's part of each tracker (thr_user). */
struct trk {
	struct agg *agg;         /* NULL: none (yet, or taken away) */
	bool meta_lost;          /* some metadata of this cycle was dropped */
	bool folded;             /* this cycle's alert was folded (over rate) */
	char uuid[33];           /* of the alert of the current cycle */
	/* The latest matching event, for update records. */
	uint8_t family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint64_t flow_id;
	uint64_t pcap_cnt;
};

/*
 * A rule's alert rate: new alerts in the current window, and the fold of
 * the alerts over the rate (and of their later matches) not written yet.
 */
struct rule_rate {
	uint64_t win_start_us;
	uint32_t n;
	bool open;               /* a window started at win_start_us */
	bool pending;            /* on d->pending: a fold to write */
	uint8_t fold_family;     /* the first folded target */
	uint8_t fold_addr[16];
	uint64_t fold_alerts, fold_matches;
	uint64_t fold_first_us, fold_last_us;
};

struct detect {
	struct detect_cfg cfg;
	const struct ruleset *rs;
	struct detect_emit emit;
	struct detect_stats st;
	struct sensors *sn;      /* the detectors; NULL: none */
	void *takeover;          /* the takeover detector's state, for its counter */
	struct thr_table *thr;
	/* Pressure reports of detect_tables() (the trackers first). */
	struct kt_pressure pressure[DETECT_TABLES_MAX];
	struct jw pressure_meta;
	uint64_t seq;            /* alerts raised: part of each uuid */

	struct agg *aggs;        /* max_aggregates slots */
	uint32_t aggs_used;      /* handed out at least once */
	struct agg *agg_free;
	struct agg *idle_head, *idle_tail; /* LRU of AGG_IDLE slots */
	struct agg scratch;      /* one-shot alerts that need no slot */

	/* The alert output bound, by rule index; rules with a fold to write. */
	struct rule_rate *rates;
	uint32_t *pending;
	uint32_t n_pending;
	/* The window of all rules' new alerts (detect.alert-rate). */
	bool all_open;
	uint64_t all_start_us;
	uint32_t all_n;
};

void detect_cfg_default(struct detect_cfg *c)
{
	c->max_trackers = 65536;
	c->max_aggregates = 4096;
	c->max_client_ids = 65536;
	c->rule_alert_rate = DETECT_RULE_ALERT_RATE;
	c->alert_rate = DETECT_ALERT_RATE;
	c->rule_alert_interval_s = DETECT_RULE_ALERT_INTERVAL_S;
	c->log_passwords = false;
	c->uuid_seed = 0;
}

const struct detect_stats *detect_stats(struct detect *d)
{
	d->st.takeovers = sensor_takeover_count(d->takeover);
	return &d->st;
}

struct sensors *detect_sensors(struct detect *d)
{
	return d ? d->sn : NULL;
}

/* ---- hashing ---- */

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
	h->a = hash_mix64(seed ^ 0x243f6a8885a308d3ull);
	h->b = hash_mix64(seed + 0x13198a2e03707344ull) ^ 0xa4093822299f31d0ull;
	h->n = 0;
}

static void h128_word(struct h128 *h, uint64_t w)
{
	h->a = hash_mix64(h->a ^ w) + 0x9e3779b97f4a7c15ull;
	h->b = hash_mix64((h->b + w) * 0xff51afd7ed558ccdull ^ (h->b >> 29));
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
	uint64_t x = hash_mix64(h.a ^ h.n), y = hash_mix64(h.b ^ ~h.n);
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
	a->has_finding = false;
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
			 uint16_t *lens, uint32_t *n, uint32_t cap,
			 const void *s, size_t len)
{
	bool cut;
	size_t keep = str_keep(s, len, META_STR_MAX, &cut);
	if (cut)
		a->truncated = true;
	if (!keep)
		return;
	for (uint32_t i = 0; i < *n; i++)
		if (lens[i] == keep && !memcmp(v[i], s, keep))
			return;
	const char *c = *n < cap ? agg_strdup(a, s, keep) : NULL;
	if (!c) {
		meta_drop(d, a);
		return;
	}
	lens[*n] = (uint16_t)keep;
	v[(*n)++] = c;
}

/* Counts one "key" of a topic map: "<topic> (QOS: n)" or "<filter>". */
static void meta_add_topic(struct detect *d, struct agg *a, int map,
			   struct slice topic, int qos)
{
	static const char qos_tag[] = " (QOS: 0)";
	char key[META_STR_MAX + sizeof(qos_tag)];
	bool cut;
	size_t n = str_keep(topic.p, topic.len, META_STR_MAX, &cut);
	if (cut)
		a->truncated = true;
	if (n)
		memcpy(key, topic.p, n);
	if (qos >= 0) {
		/* QoS is 0..3 here: one digit, no printf per match. */
		memcpy(key + n, qos_tag, sizeof(qos_tag) - 1);
		key[n + sizeof(qos_tag) - 3] = (char)('0' + (qos & 3));
		n += sizeof(qos_tag) - 1;
	}
	key[n] = 0;
	uint32_t h = hash_fnv1a(HASH_FNV1A_INIT, key, n);
	struct alert_count *v = a->topics[map];
	uint16_t *lens = a->topic_len[map];
	uint32_t *hashes = a->topic_hash[map];
	uint32_t *cnt = &a->n_topics[map];
	for (uint32_t i = 0; i < *cnt; i++) {
		if (hashes[i] == h && lens[i] == n && !memcmp(v[i].key, key, n)) {
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
	lens[*cnt] = (uint16_t)n;
	hashes[*cnt] = h;
	(*cnt)++;
}

/* s (NULL: "") cut to fit dst[cap], not inside a UTF-8 character. */
static void copy_cut(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	n = utf8_keep((const uint8_t *)s, n, cap - 1);
	if (n)
		memcpy(dst, s, n);
	dst[n] = 0;
}

/*
 * A detector's finding replaces the previous one of this alert: the
 * latest is what an update should show (metadata.detector). Its own
 * members are kept whole or not at all (truncated).
 */
static void meta_add_detector(struct detect *d, struct agg *a,
			      const struct det_event *ev)
{
	struct alert_finding *f = &a->finding;
	copy_cut(a->layer, sizeof(a->layer), ev->layer);
	copy_cut(a->event, sizeof(a->event), ev->anomaly);
	copy_cut(a->detail, sizeof(a->detail), ev->detail);
	f->layer = a->layer;
	f->event = a->event;
	f->detail = a->detail[0] ? a->detail : NULL;
	f->meta = a->det;
	f->meta_len = 0;
	if (ev->meta_len <= sizeof(a->det)) {
		memcpy(a->det, ev->meta, ev->meta_len);
		f->meta_len = ev->meta_len;
	} else {
		meta_drop(d, a);
	}
	a->has_finding = true;
}

/*
 * Adds what ev says about the actor: client id and user (from the CONNECT
 * itself, else from the session), the password of a CONNECT when
 * configured, and the topics of PUBLISH, SUBSCRIBE and UNSUBSCRIBE; and a
 * detector's finding.
 */
static void meta_add(struct detect *d, struct agg *a, const struct det_event *ev)
{
	const struct mqtt_msg *m = ev->msg;
	if (ev->kind == DET_ANOMALY && ev->meta)
		meta_add_detector(d, a, ev);
	const struct mqtt_state *st = ev->st;
	if (!st && ev->flow)
		st = ev->flow->mqtt; /* TCP segments of an MQTT connection */
	if (m && m->type == MQTT_CONNECT) {
		meta_add_str(d, a, a->ids, a->ids_len, &a->n_ids, META_MAX_IDS,
			     m->client_id.p, m->client_id.len);
		if (m->has_username)
			meta_add_str(d, a, a->users, a->users_len, &a->n_users, META_MAX_USERS,
				     m->username.p, m->username.len);
		if (m->has_password && d->cfg.log_passwords)
			meta_add_str(d, a, a->pass, a->pass_len, &a->n_pass,
				     META_MAX_PASSWORDS, m->password.p,
				     m->password.len);
	} else if (st) {
		if (st->client_id)
			meta_add_str(d, a, a->ids, a->ids_len, &a->n_ids, META_MAX_IDS,
				     st->client_id, strlen(st->client_id));
		if (st->username)
			meta_add_str(d, a, a->users, a->users_len, &a->n_users, META_MAX_USERS,
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
	/* As Suricata: the classtype's description; else the rule's name. */
	al->category = r->class ? r->class->description : al->classification;
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
	if (a->has_finding) {
		al->finding = &a->finding;
		al->detail = a->finding.detail;
	}
}

/* A new alert from the event that reached the threshold. */
/* ---- the alert output bound ---- */

static uint64_t rate_window_us(const struct detect *d)
{
	uint64_t s = d->cfg.rule_alert_interval_s ? d->cfg.rule_alert_interval_s : 1;
	return s * 1000000u;
}

static const char *addr_text(uint8_t family, const uint8_t *a, char *buf);

/*
 * Writes rule r's fold: one alert that stands for the alerts over its
 * rate (metadata.folded_alerts) and their matches (total_violation),
 * dated at ts_us, with the first folded target as its source.
 */
static void fold_flush(struct detect *d, const struct rule *r,
		       struct rule_rate *rr, uint64_t ts_us)
{
	if (!rr->fold_alerts && !rr->fold_matches)
		return;
	struct thr_key key;
	memset(&key, 0, sizeof(key));
	key.owner = r;
	key.family = rr->fold_family;
	memcpy(key.addr, rr->fold_addr, sizeof(key.addr));
	char tbuf[ADDR_STR];
	struct alert al;
	memset(&al, 0, sizeof(al));
	uuid_make(d, r, &key, rr->fold_first_us, ts_us, al.uuid);
	al.ts_us = ts_us;
	al.first_us = rr->fold_first_us;
	al.total = rr->fold_matches;
	al.fold = true;
	al.folded = rr->fold_alerts;
	alert_rule(&al, r);
	const char *t = addr_text(rr->fold_family, rr->fold_addr, tbuf);
	al.src = t ? t : "unknown";
	d->st.folds++;
	rr->fold_alerts = rr->fold_matches = 0;
	rr->fold_first_us = rr->fold_last_us = 0;
	if (d->emit.alert)
		d->emit.alert(d->emit.ud, &al);
}

/*
 * Starts rule r's window at ts_us when none is open or it has ended; the
 * ended window's fold is written first, dated at that window's end.
 */
static void rate_roll(struct detect *d, const struct rule *r,
		      struct rule_rate *rr, uint64_t ts_us)
{
	uint64_t w = rate_window_us(d);
	if (rr->open && ts_us < rr->win_start_us + w)
		return;
	fold_flush(d, r, rr, rr->open ? rr->win_start_us + w : ts_us);
	rr->open = true;
	rr->win_start_us = ts_us;
	rr->n = 0;
}

/*
 * Adds to rule r's fold of the window that ts_us falls in (a folded
 * alert's later matches may come after its own window ended); the first
 * target named becomes its source.
 */
static void fold_add(struct detect *d, const struct rule *r,
		     const struct thr_key *target, uint64_t alerts,
		     uint64_t matches, uint64_t first_us, uint64_t ts_us)
{
	struct rule_rate *rr = &d->rates[r->index];
	rate_roll(d, r, rr, ts_us);
	if (!rr->fold_alerts && !rr->fold_matches) {
		rr->fold_family = target->family;
		memcpy(rr->fold_addr, target->addr, sizeof(rr->fold_addr));
		rr->fold_first_us = first_us;
	}
	if (first_us < rr->fold_first_us)
		rr->fold_first_us = first_us;
	if (ts_us > rr->fold_last_us)
		rr->fold_last_us = ts_us;
	rr->fold_alerts += alerts;
	rr->fold_matches += matches;
	d->st.alerts_folded += alerts;
	if (!rr->pending) {
		rr->pending = true;
		d->pending[d->n_pending++] = r->index;
	}
}

/*
 * Whether a new alert of rule r at ts_us is over the rule's rate. A new
 * window starts at the first alert after the last one ended; the fold of
 * the ended window is written first, at that window's end.
 */
static bool rate_exceeded(struct detect *d, const struct rule *r,
			  uint64_t ts_us)
{
	if ((!d->cfg.rule_alert_rate && !d->cfg.alert_rate) || !d->rates)
		return false;
	struct rule_rate *rr = &d->rates[r->index];
	uint64_t w = rate_window_us(d);
	rate_roll(d, r, rr, ts_us);
	if (!d->all_open || ts_us >= d->all_start_us + w) {
		d->all_open = true;
		d->all_start_us = ts_us;
		d->all_n = 0;
	}
	if ((d->cfg.rule_alert_rate && rr->n >= d->cfg.rule_alert_rate) ||
	    (d->cfg.alert_rate && d->all_n >= d->cfg.alert_rate))
		return true;
	rr->n++;
	d->all_n++;
	return false;
}

/* Writes the folds of windows that ended by now_us (flush: every fold). */
static void folds_due(struct detect *d, uint64_t now_us, bool flush)
{
	uint64_t w = rate_window_us(d);
	uint32_t keep = 0;
	for (uint32_t i = 0; i < d->n_pending; i++) {
		uint32_t ri = d->pending[i];
		struct rule_rate *rr = &d->rates[ri];
		uint64_t end = rr->win_start_us + w;
		if (!flush && now_us < end) {
			d->pending[keep++] = ri;
			continue;
		}
		rr->pending = false;
		const struct rule *r = ruleset_get(d->rs, ri);
		uint64_t at = end < now_us ? end : now_us;
		fold_flush(d, r, rr, at > rr->fold_last_us ? at : rr->fold_last_us);
	}
	d->n_pending = keep;
}

/*
 * A new alert (the threshold was reached): written, or folded when the
 * rule is over its rate. Returns whether it was written.
 */
static bool alert_new(struct detect *d, const struct rule *r,
		      struct thr_entry *e, struct trk *k, const struct agg *a,
		      const struct det_event *ev, bool target_src)
{
	if (rate_exceeded(d, r, ev->ts_us)) {
		k->folded = true;
		fold_add(d, r, &e->key, 1, e->total, e->first_us, ev->ts_us);
		return false;
	}
	k->folded = false;
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
	if (d->emit.alert)
		d->emit.alert(d->emit.ud, &al);
	return true;
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
	if (d->emit.alert)
		d->emit.alert(d->emit.ud, &al);
}

/* threshold.c: a tracker's cycle ended (cooldown over, input over, evicted). */
static void on_cycle_end(void *ud, struct thr_entry *e, enum thr_end why,
			 uint64_t ts_us)
{
	struct detect *d = ud;
	struct trk *k = thr_user(e);
	if (e->cooling && e->added) {
		if (k->folded) /* its alert was folded: so are its updates */
			fold_add(d, e->key.owner, &e->key, 0, e->added,
				 e->first_us, ts_us);
		else
			alert_update(d, e, k, ts_us);
	}
	k->folded = false;
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
	struct thr_params p = { r->threshold, r->interval, r->cooldown, r->index };
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
	if (k->folded && v == THR_ADDED) {
		/* Its alert was folded: no update will carry metadata. */
		a = NULL;
	} else if (!ev->msg && !ev->st && !(ev->flow && ev->flow->mqtt) && !ev->meta) {
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
	if (alert_new(d, r, e, k, a, ev, target_src) && e->cooling) {
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

/* ---- the detectors' findings ---- */

/* Runs ev through the rules (thresholds first catch up with its time). */
static void rules_event(struct detect *d, const struct det_event *ev)
{
	d->st.events++;
	if (ev->ts_us >= thr_next_deadline(d->thr))
		thr_expire(d->thr, ev->ts_us);
	if (d->rs)
		run_rules(d, ev);
}

/*
 * A detector's finding: an anomaly event with its layer, name, detail and
 * metadata. One raised by a message keeps that message's flow, session
 * and topics; one raised by a timer (a silent device) carries the
 * device's last address as its source. It is handed on to be logged,
 * then the rules see it.
 */
static void on_report(void *ud, const struct sensor_report *r)
{
	struct detect *d = ud;
	struct det_event ev;
	if (r->base) {
		ev = *r->base;
	} else {
		memset(&ev, 0, sizeof(ev));
		ev.ts_us = r->ts_us;
		ev.src_str = ev.dst_str = "";
		if (r->addr && (r->addr->family == 4 || r->addr->family == 6)) {
			ev.family = r->addr->family;
			ev.src = r->addr->a;
			ev.src_str = r->addr->str;
			ev.server = DET_SERVER_DST;
			ev.cli_mac = r->addr->has_mac ? r->addr->mac : NULL;
		}
	}
	ev.kind = DET_ANOMALY;
	ev.anomaly = r->event ? r->event : "";
	ANOMALY_CHECK(ev.anomaly);
	ev.layer = r->layer ? r->layer : "";
	ev.detail = r->detail;
	ev.meta = r->meta;
	ev.meta_len = r->meta ? r->meta_len : 0;
	d->st.findings++;
	if (d->emit.finding)
		d->emit.finding(d->emit.ud, &ev);
	rules_event(d, &ev);
}

/* ---- the API ---- */

struct detect *detect_new(const struct detect_cfg *cfg,
			  const struct ruleset *rs,
			  const struct detect_detectors *dd,
			  struct detect_emit emit, int *err)
{
	*err = -1;
	struct detect *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (!d->cfg.max_trackers)
		d->cfg.max_trackers = 1;
	if (!d->cfg.max_aggregates)
		d->cfg.max_aggregates = 1;
	d->rs = rs;
	d->emit = emit;
	jw_init(&d->pressure_meta);
	size_t n_rules = ruleset_count(rs);
	d->thr = thr_new(d->cfg.max_trackers,
			 n_rules > UINT32_MAX ? UINT32_MAX : (uint32_t)n_rules,
			 sizeof(struct trk), on_cycle_end, d);
	/* Slots and entries are taken in pool order: untouched ones cost no RSS. */
	d->aggs = calloc(d->cfg.max_aggregates, sizeof(*d->aggs));
	if (n_rules) {
		d->rates = calloc(n_rules, sizeof(*d->rates));
		d->pending = calloc(n_rules, sizeof(*d->pending));
	}
	if (!d->thr || !d->aggs || (n_rules && (!d->rates || !d->pending))) {
		detect_free(d);
		return NULL;
	}
	if (dd) {
		struct sensors_opts o = {
			.cfg = dd->cfg,
			.report = on_report,
			.ud = d,
			.live = dd->live,
			.log = dd->log ? dd->log : stderr,
			.core_only = dd->data_off,
			.max_client_ids = d->cfg.max_client_ids,
		};
		d->sn = sensors_open(&o);
		if (!d->sn) {
			*err = -2;
			detect_free(d);
			return NULL;
		}
		d->takeover = sensors_state(d->sn, "takeover");
	}
	*err = 0;
	return d;
}

void detect_free(struct detect *d)
{
	if (!d)
		return;
	sensors_free(d->sn);
	thr_free(d->thr);
	jw_deinit(&d->pressure_meta);
	free(d->rates);
	free(d->pending);
	free(d->aggs);
	free(d);
}

void detect_event(struct detect *d, const struct det_event *ev)
{
	rules_event(d, ev);
	if (ev->kind == DET_MQTT && ev->msg && d->sn)
		sensors_event(d->sn, ev);
	else if (ev->kind == DET_ANOMALY && d->sn)
		sensors_anomaly(d->sn, ev); /* engine anomalies: findings never come here */
}

/* The detail line of an eviction_pressure finding. */
#define DETAIL_MAX 192

void detect_table_pressure(struct detect *d, const struct ktable *kt,
			   struct kt_pressure *p, uint64_t now_us, bool flush)
{
	uint64_t ev, prot;
	uint64_t iv = flush ? 0 : (uint64_t)DETECT_PRESSURE_INTERVAL_S * 1000000u;
	if (!kt_pressure_due(kt, p, now_us, iv, &ev, &prot))
		return;
	const struct kt_stats *ks = kt_stats(kt);
	char detail[DETAIL_MAX];
	snprintf(detail, sizeof(detail),
		 "%s table full: %llu entries evicted since the last report "
		 "(%llu of them protected); %u of %u in use",
		 kt_name(kt), (unsigned long long)ev, (unsigned long long)prot,
		 ks->active, kt_capacity(kt));
	struct jw *w = &d->pressure_meta;
	jw_reset(w);
	jw_cstr(w, "table", kt_name(kt));
	jw_uint(w, "evicted", ev);
	jw_uint(w, "evicted_protected", prot);
	jw_uint(w, "active", ks->active);
	jw_uint(w, "capacity", kt_capacity(kt));
	struct sensor_report r = {
		.ts_us = now_us,
		.layer = "state",
		.event = "eviction_pressure",
		.detail = detail,
		.meta = w->oom ? NULL : w->buf,
		.meta_len = w->oom ? 0 : w->len,
	};
	on_report(d, &r);
}

uint64_t detect_tracker_bytes(void)
{
	return thr_entry_bytes(sizeof(struct trk));
}

uint64_t detect_aggregate_bytes(void)
{
	return sizeof(struct agg);
}

uint64_t detect_client_id_bytes(void)
{
	return sensor_takeover_entry_bytes();
}

size_t detect_tables(const struct detect *d, const struct ktable **out,
		     size_t max)
{
	if (!max)
		return 0;
	out[0] = thr_ktable(d->thr);
	return 1 + sensors_tables(d->sn, out + 1, max - 1);
}

/* Eviction pressure of every table of detection and its detectors. */
static void tables_pressure(struct detect *d, uint64_t now_us, bool flush)
{
	const struct ktable *kts[DETECT_TABLES_MAX];
	size_t n = detect_tables(d, kts, DETECT_TABLES_MAX);
	for (size_t i = 0; i < n; i++)
		detect_table_pressure(d, kts[i], &d->pressure[i], now_us, flush);
}

void detect_tick(struct detect *d, uint64_t now_us)
{
	thr_expire(d->thr, now_us);
	folds_due(d, now_us, false);
	tables_pressure(d, now_us, false);
	sensors_tick(d->sn, now_us);
}

void detect_flow_end(struct detect *d, const struct flow *f)
{
	if (f)
		sensors_flow_end(d->sn, f);
}

void detect_finish(struct detect *d, uint64_t now_us)
{
	sensors_tick(d->sn, now_us);
	/* Pressure first: its findings go through the rules, whose pending
	 * updates and folds are written after. */
	tables_pressure(d, now_us, true);
	thr_flush(d->thr);
	folds_due(d, now_us, true);
}
