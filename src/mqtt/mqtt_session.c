/*
 * mqtt_session.c - MQTT stream framing, per-session state and transaction
 * grouping (connect+connack, publish+acks, (un)subscribe+ack), following
 * Suricata's grouping but matching acks by direction, as MQTT 5.0 §2.2.1
 * gives each side its own packet identifier space.
 */
#include "mqtt/mqtt_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rd.h"

#define CONNECT_PKT_ID 0x10000u /* outside the 16-bit packet id space */
#define KEEP_BUF_MAX (64u * 1024u)
#define KEEP_ACK_MAX 1024u
#define BUF_MIN_GROW 4096u /* first allocation of a message that spans segments */
#define PENDING_MSGS (MQTT_TX_MSGS - 1) /* the last answer is never kept */
#define KEPT_ALIGN 8u

/*
 * A message kept while its transaction waits: the decoded message with
 * every slice pointing into buf, which holds a copy of its frame followed
 * by copies of its property and topic arrays.
 */
struct mqtt_kept_msg {
	struct mqtt_msg m;
	uint8_t *buf;
	size_t cap;
};

/* A transaction waiting for its acknowledgement(s). */
struct mqtt_pending {
	struct mqtt_pending *next;
	uint32_t pkt_id;
	uint8_t kind;   /* initiating type */
	uint8_t qos;
	uint8_t stage;  /* QoS 2: 0 sent, 1 PUBREC seen, 2 PUBREL seen */
	bool toclient;  /* direction of the initiating message */
	uint8_t n;      /* messages kept (none when no sink logs them) */
	struct mqtt_kept_msg km[PENDING_MSGS];
	size_t charged; /* bytes counted against tx-memcap */
};

void mqtt_cfg_default(struct mqtt_cfg *c)
{
	c->max_msg_len = 1024 * 1024;
	c->string_log_limit = SIZE_MAX;
	c->log_passwords = false;
	c->max_tx = 256;
	c->max_pending_total = 65536;
	c->tx_memcap = 32u * 1024 * 1024;
	c->max_props = 256;
	c->max_topics = 1024;
	c->session_str_max = 256;
	c->buf_memcap = 16u * 1024 * 1024;
	c->resync_max = 64 * 1024;
	c->client_id_limit = MQTT_CLIENT_ID_LIMIT_DEFAULT;
}

int mqtt_ctx_init(struct mqtt_ctx *c, const struct mqtt_cfg *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	return mqtt_parser_init(&c->parser, cfg->max_props, cfg->max_topics);
}

void mqtt_ctx_deinit(struct mqtt_ctx *c)
{
	struct mqtt_pending *p = c->free_list;
	while (p) {
		struct mqtt_pending *n = p->next;
		for (unsigned i = 0; i < PENDING_MSGS; i++)
			free(p->km[i].buf);
		free(p);
		p = n;
	}
	mqtt_parser_deinit(&c->parser);
}

struct mqtt_state *mqtt_state_new(struct mqtt_ctx *c)
{
	struct mqtt_state *st = calloc(1, sizeof(*st));
	(void)c;
	return st;
}

/* ---- output helpers ---- */

static void emit_anomaly(struct mqtt_ctx *c, const struct mqtt_state *st,
			 bool toclient, const char *event, const char *detail,
			 const struct mqtt_sink *sink)
{
	c->stats.anomalies++;
	if (sink->anomaly)
		sink->anomaly(sink->ud, st, toclient, "proto_parser", event,
			      detail);
}

static void emit_msg_anomalies(struct mqtt_ctx *c, const struct mqtt_state *st,
			       bool toclient, const struct mqtt_msg *m,
			       const struct mqtt_sink *sink)
{
	for (unsigned i = 0; i < MQTT_ANOM__COUNT; i++) {
		if (!(m->anomalies & (1u << i)))
			continue;
		char detail[96];
		snprintf(detail, sizeof(detail), "in %s",
			 m->type ? mqtt_type_name(m->type) : "reserved type 0");
		emit_anomaly(c, st, toclient, mqtt_anom_name(i), detail, sink);
	}
}

static void emit_tx(struct mqtt_ctx *c, const struct mqtt_state *st,
		    const struct mqtt_tx *tx, const struct mqtt_sink *sink)
{
	c->stats.transactions++;
	if (sink->tx)
		sink->tx(sink->ud, st, tx);
}

/* A transaction of one message: m alone, or the last answer of p. */
static void emit_msgs(struct mqtt_ctx *c, const struct mqtt_state *st,
		      bool toclient, const struct mqtt_pending *p,
		      const struct mqtt_msg *m, const struct mqtt_sink *sink)
{
	struct mqtt_tx tx;
	memset(&tx, 0, sizeof(tx));
	tx.toclient = toclient;
	if (sink->tx) {
		for (uint8_t i = 0; p && i < p->n; i++)
			tx.msg[tx.n++] = &p->km[i].m;
		if (m)
			tx.msg[tx.n++] = m;
	}
	emit_tx(c, st, &tx, sink);
}

/* ---- kept messages ---- */

/* The frame's part of a kept copy: n bytes, rounded up for the arrays after it. */
static size_t kept_frame_size(size_t n)
{
	return (n + KEPT_ALIGN - 1) & ~(size_t)(KEPT_ALIGN - 1);
}

/* Bytes a kept copy of m (frame of n bytes) takes, charged to tx-memcap. */
static size_t kept_size(const struct mqtt_msg *m, size_t n)
{
	return kept_frame_size(n) + ((size_t)m->props.n + m->will_props.n) * sizeof(struct mqtt_prop) +
	       (size_t)m->n_topics * sizeof(struct mqtt_topic);
}

/* Points s, a slice into frame[0..n), into the copy of the frame at to. */
static void kept_slice(struct slice *s, const uint8_t *frame, size_t n,
		       uint8_t *to)
{
	uintptr_t a = (uintptr_t)s->p, b = (uintptr_t)frame;
	if (s->p && a >= b && a - b <= n && s->len <= n - (a - b)) {
		s->p = to + (a - b);
	} else {
		/* Only empty slices lie outside the frame. */
		s->p = NULL;
		s->len = 0;
	}
}

static void *kept_props(struct mqtt_props *ps, const uint8_t *frame, size_t n,
			uint8_t *to, uint8_t *at)
{
	if (!ps->n) {
		ps->v = NULL;
		return at;
	}
	struct mqtt_prop *v = (struct mqtt_prop *)(void *)at;
	memcpy(v, ps->v, ps->n * sizeof(*v));
	for (uint16_t i = 0; i < ps->n; i++) {
		kept_slice(&v[i].s, frame, n, to);
		kept_slice(&v[i].v, frame, n, to);
	}
	ps->v = v;
	return at + ps->n * sizeof(*v);
}

/*
 * Copies m, decoded from frame[0..n), into k: the frame and the parser's
 * property and topic arrays go into k's buffer and every slice is pointed
 * at the copies, so the message outlives the parser's scratch and the
 * reassembly buffer. Returns false when out of memory.
 */
static bool kept_copy(struct mqtt_kept_msg *k, const struct mqtt_msg *m,
		      const uint8_t *frame, size_t n)
{
	size_t need = kept_size(m, n);
	if (k->cap < need) {
		size_t cap = need < 256 ? 256 : need;
		uint8_t *nb = realloc(k->buf, cap);
		if (!nb)
			return false;
		k->buf = nb;
		k->cap = cap;
	}
	uint8_t *to = k->buf;
	memcpy(to, frame, n);
	k->m = *m;
	struct mqtt_msg *c = &k->m;
	struct slice *sl[] = { &c->protocol_name, &c->client_id, &c->will_topic,
			       &c->will_payload, &c->username, &c->password,
			       &c->topic, &c->payload, &c->codes };
	for (size_t i = 0; i < sizeof(sl) / sizeof(sl[0]); i++)
		kept_slice(sl[i], frame, n, to);
	uint8_t *at = to + kept_frame_size(n);
	at = kept_props(&c->will_props, frame, n, to, at);
	at = kept_props(&c->props, frame, n, to, at);
	if (c->n_topics) {
		struct mqtt_topic *t = (struct mqtt_topic *)(void *)at;
		memcpy(t, m->topics, c->n_topics * sizeof(*t));
		for (uint32_t i = 0; i < c->n_topics; i++)
			kept_slice(&t[i].name, frame, n, to);
		c->topics = t;
	} else {
		c->topics = NULL;
	}
	return true;
}

/* ---- pending transactions ---- */

static void pending_release(struct mqtt_ctx *c, struct mqtt_pending *p)
{
	c->pending_total--;
	c->pending_bytes -= p->charged;
	for (unsigned i = 0; i < PENDING_MSGS; i++) {
		/* Reused buffers stay small: a request's up to 64 KiB, an
		 * intermediate ack's (PUBREC, PUBREL) up to 1 KiB. */
		if (p->km[i].cap > (i ? KEEP_ACK_MAX : KEEP_BUF_MAX)) {
			free(p->km[i].buf);
			p->km[i].buf = NULL;
			p->km[i].cap = 0;
		}
	}
	p->n = 0;
	p->charged = 0;
	p->next = c->free_list;
	c->free_list = p;
}

/* Unlinks p (whose predecessor is prev, or NULL for the head). */
static void pending_unlink(struct mqtt_state *st, struct mqtt_pending *prev,
			   struct mqtt_pending *p)
{
	if (prev)
		prev->next = p->next;
	else
		st->pend_head = p->next;
	if (st->pend_tail == p)
		st->pend_tail = prev;
	p->next = NULL;
	st->n_pending--;
}

#define EARLY_BYTES (65536 / 8)

/* Remembers that the transaction with this id was logged unanswered. */
static void early_mark(struct mqtt_ctx *c, struct mqtt_state *st,
		       bool toclient, uint16_t id)
{
	uint8_t **bm = &st->early[toclient];
	if (!*bm) {
		if (c->pending_bytes + EARLY_BYTES > c->cfg.tx_memcap ||
		    !(*bm = calloc(1, EARLY_BYTES)))
			return; /* the late answer will be reported as missing */
		c->pending_bytes += EARLY_BYTES;
	}
	(*bm)[id >> 3] |= (uint8_t)(1u << (id & 7));
}

/* Tests (and, when final, clears) the early mark of an answered id. */
static bool early_take(struct mqtt_state *st, bool toclient, uint16_t id,
		       bool final)
{
	uint8_t *bm = st->early[toclient];
	if (!bm || !(bm[id >> 3] & (1u << (id & 7))))
		return false;
	if (final)
		bm[id >> 3] &= (uint8_t)~(1u << (id & 7));
	return true;
}

/*
 * Ends p: its transaction, with last (the final answer, NULL when it has
 * none) after the kept messages, goes to the sink.
 */
static void pending_finish(struct mqtt_ctx *c, struct mqtt_state *st,
			   struct mqtt_pending *prev, struct mqtt_pending *p,
			   const struct mqtt_msg *last,
			   const struct mqtt_sink *sink)
{
	pending_unlink(st, prev, p);
	emit_msgs(c, st, p->toclient, p, last, sink);
	if (p->kind != MQTT_CONNECT) {
		unsigned d = p->toclient;
		st->recent_done[d][st->recent_pos[d]] = (uint16_t)p->pkt_id;
		st->recent_pos[d] = (uint8_t)((st->recent_pos[d] + 1) % 8);
		if (st->recent_n[d] < 8)
			st->recent_n[d]++;
	}
	pending_release(c, p);
}

/*
 * Starts a pending transaction with the message m. When a cap is hit the
 * oldest pending transaction of the flow is logged as it is (Suricata's
 * too_many_transactions) or, if the global pool is exhausted, m is logged
 * at once, so nothing is lost and memory stays bounded.
 */
static void pending_start(struct mqtt_ctx *c, struct mqtt_state *st,
			  bool toclient, const struct mqtt_msg *m,
			  const uint8_t *frame, size_t n, uint32_t pkt_id,
			  const struct mqtt_sink *sink)
{
	if (st->n_pending >= c->cfg.max_tx && st->pend_head) {
		struct mqtt_pending *old = st->pend_head;
		if (!st->overflow_reported) {
			/* Once per flow: the cap is ours, not a protocol error. */
			st->overflow_reported = true;
			emit_anomaly(c, st, old->toclient, "too_many_transactions",
				     "unanswered transactions over mqtt.max-tx: the oldest are logged before their answers",
				     sink);
		}
		c->stats.tx_dropped++;
		bool mark = old->kind != MQTT_CONNECT;
		bool dir = old->toclient;
		uint16_t id = (uint16_t)old->pkt_id;
		pending_finish(c, st, NULL, old, NULL, sink);
		if (mark)
			early_mark(c, st, dir, id);
	}
	struct mqtt_pending *p = NULL;
	if (c->pending_total < c->cfg.max_pending_total &&
	    c->pending_bytes < c->cfg.tx_memcap) {
		p = c->free_list;
		if (p)
			c->free_list = p->next;
		else
			p = calloc(1, sizeof(*p));
		if (p && sink->tx && !kept_copy(&p->km[0], m, frame, n)) {
			p->next = c->free_list;
			c->free_list = p;
			p = NULL;
		}
	}
	if (!p) {
		c->stats.tx_dropped++;
		if (!st->overflow_reported) {
			st->overflow_reported = true;
			emit_anomaly(c, st, toclient, "tx_memcap_reached",
				     "transactions logged before their answers: mqtt.max-pending-total or mqtt.tx-memcap reached",
				     sink);
		}
		emit_msgs(c, st, toclient, NULL, m, sink);
		if (pkt_id <= 0xffff)
			early_mark(c, st, toclient, (uint16_t)pkt_id);
		return;
	}
	c->pending_total++;
	p->next = NULL;
	p->pkt_id = pkt_id;
	p->kind = m->type;
	p->qos = m->qos;
	p->stage = 0;
	p->toclient = toclient;
	p->n = sink->tx ? 1 : 0;
	/* Charged whether or not the message is kept, so the caps act the
	 * same with and without transaction logging. */
	p->charged = sizeof(*p) + kept_size(m, n);
	c->pending_bytes += p->charged;
	if (st->pend_tail)
		st->pend_tail->next = p;
	else
		st->pend_head = p;
	st->pend_tail = p;
	st->n_pending++;
}

/* Finds the pending transaction an answer belongs to; sets *prev. */
static struct mqtt_pending *pending_find(struct mqtt_state *st, uint8_t kind,
					 uint32_t pkt_id, bool from_toclient,
					 int qos, struct mqtt_pending **prev)
{
	struct mqtt_pending *pv = NULL;
	for (struct mqtt_pending *p = st->pend_head; p; pv = p, p = p->next) {
		if (p->kind == kind && p->pkt_id == pkt_id &&
		    p->toclient == from_toclient && (qos < 0 || p->qos == qos)) {
			*prev = pv;
			return p;
		}
	}
	return NULL;
}

/*
 * Adds an intermediate answer (PUBREC, PUBREL) to p. A copy that fails
 * for memory leaves the message out of the record; pairing goes on.
 */
static void pending_append(struct mqtt_ctx *c, struct mqtt_pending *p,
			   const struct mqtt_msg *m, const uint8_t *frame,
			   size_t n, const struct mqtt_sink *sink)
{
	size_t add = kept_size(m, n);
	p->charged += add;
	c->pending_bytes += add;
	if (sink->tx && p->n < PENDING_MSGS &&
	    kept_copy(&p->km[p->n], m, frame, n))
		p->n++;
}

static bool recently_done(const struct mqtt_state *st, bool initiator_toclient,
			  uint16_t id)
{
	unsigned d = initiator_toclient;
	for (unsigned i = 0; i < st->recent_n[d]; i++)
		if (st->recent_done[d][i] == id)
			return true;
	return false;
}

static void emit_standalone(struct mqtt_ctx *c, struct mqtt_state *st,
			    bool toclient, const struct mqtt_msg *m,
			    const struct mqtt_sink *sink)
{
	emit_msgs(c, st, toclient, NULL, m, sink);
}

static void check_unintroduced(struct mqtt_ctx *c, struct mqtt_state *st,
			       bool toclient, const struct mqtt_msg *m,
			       const struct mqtt_sink *sink)
{
	struct mqtt_dir *d = &st->dir[toclient];
	if (st->connected || d->unintroduced_reported)
		return;
	/* Once per direction: a stream picked up midway would repeat it. */
	d->unintroduced_reported = true;
	char detail[64];
	snprintf(detail, sizeof(detail), "%s before CONNECT/CONNACK",
		 mqtt_type_name(m->type));
	emit_anomaly(c, st, toclient, "unintroduced_message", detail, sink);
}

/* An answer with no matching request: missing or duplicate. */
static void unmatched_answer(struct mqtt_ctx *c, struct mqtt_state *st,
			     bool toclient, const struct mqtt_msg *m,
			     bool initiator_toclient, const char *missing,
			     const struct mqtt_sink *sink)
{
	char detail[80];
	bool final = m->type != MQTT_PUBREC && m->type != MQTT_PUBREL;
	if (m->has_msg_id && early_take(st, initiator_toclient, m->msg_id, final)) {
		/* Its request was logged early because a cap was hit. */
		c->stats.late_answers++;
		emit_standalone(c, st, toclient, m, sink);
		return;
	}
	bool dup = m->has_msg_id && recently_done(st, initiator_toclient,
						  m->msg_id);
	snprintf(detail, sizeof(detail), "%s for packet id %u",
		 mqtt_type_name(m->type), (unsigned)m->msg_id);
	emit_anomaly(c, st, toclient, dup ? "duplicate_ack" : missing, detail,
		     sink);
	check_unintroduced(c, st, toclient, m, sink);
	emit_standalone(c, st, toclient, m, sink);
}

static void copy_bounded(char **dst, struct slice s, uint32_t max)
{
	size_t n = s.len < max ? s.len : max;
	char *p = realloc(*dst, n + 1);
	if (!p)
		return;
	memcpy(p, s.p, n);
	p[n] = 0;
	*dst = p;
}

/* Keeps of s what the EVE writer's string budget of max bytes keeps. */
static void kept_str(struct mqtt_kept *k, struct slice s, uint32_t max)
{
	size_t keep = utf8_keep(s.p, s.len, max);
	uint8_t *np = realloc(k->p, keep ? keep : 1);
	if (!np) {
		k->len = 0;
		k->cut = (uint32_t)s.len;
		return;
	}
	if (keep)
		memcpy(np, s.p, keep);
	k->p = np;
	k->len = (uint32_t)keep;
	k->cut = (uint32_t)(s.len - keep);
}

static void kept_str_free(struct mqtt_kept *k)
{
	free(k->p);
	memset(k, 0, sizeof(*k));
}

/* The session record of the mqtt_session object, from a CONNECT. */
static void session_rec_set(struct mqtt_ctx *c, struct mqtt_session_rec *r,
			    const struct mqtt_msg *m)
{
	uint32_t max = c->cfg.session_str_max;
	r->gen = ++c->session_gen;
	r->present = true;
	r->protocol_version = m->protocol_version;
	r->keepalive = m->keepalive;
	kept_str(&r->client_id, m->client_id, max);
	r->has_username = m->has_username;
	if (m->has_username)
		kept_str(&r->username, m->username, max);
	r->has_will = m->has_will;
	if (m->has_will) {
		kept_str(&r->will_topic, m->will_topic, max);
		r->will_qos = (m->connect_flags >> 3) & 3;
		r->will_retain = (m->connect_flags & 0x20) != 0;
		r->will_message_length = (uint32_t)m->will_payload.len;
	}
}

/*
 * A CONNECT's client id that a device does not send but a fuzzer (MQTTSA
 * and the like) does: one beginning with '$' (the broker's reserved
 * prefix), one longer than mqtt.client-id-limit (MQTT 3.1: 23 bytes),
 * one holding C0 or C1 control characters (U+0000 is already
 * utf8_null_character), and an empty one where the version forbids it
 * (3.1 always; 3.1.1 without clean session, which the broker must refuse).
 */
static void check_client_id(struct mqtt_ctx *c, const struct mqtt_state *st,
			    bool toclient, const struct mqtt_msg *m,
			    const struct mqtt_sink *sink)
{
	const uint8_t *id = m->client_id.p;
	size_t n = m->client_id.len;
	char d[128];
	if (n == 0) {
		if (m->version == 3)
			emit_anomaly(c, st, toclient, "client_id_empty",
				     "empty client id: MQTT 3.1 requires 1 to 23 "
				     "characters", sink);
		else if (m->version == 4 && !(m->connect_flags & MQTT_CONNECT_CLEAN))
			emit_anomaly(c, st, toclient, "client_id_empty",
				     "empty client id without clean session: "
				     "MQTT 3.1.1 §3.1.3.1 has the server refuse it",
				     sink);
		return;
	}
	if (id[0] == '$')
		emit_anomaly(c, st, toclient, "client_id_dollar",
			     "client id begins with '$', the broker's "
			     "reserved prefix", sink);
	/* 0 turns the check off; MQTT 3.1's own 23 applies below a larger limit */
	uint32_t limit = c->cfg.client_id_limit;
	bool v31 = m->version == 3 && limit > MQTT_V31_CLIENT_ID_MAX;
	if (v31)
		limit = MQTT_V31_CLIENT_ID_MAX;
	if (limit && n > limit) {
		snprintf(d, sizeof(d), "client id of %zu bytes, over the limit "
			 "of %u%s", n, limit, v31 ? " (MQTT 3.1)"
						  : " (mqtt.client-id-limit)");
		emit_anomaly(c, st, toclient, "client_id_too_long", d, sink);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned cp = id[i];
		bool c1 = cp == 0xc2 && i + 1 < n && id[i + 1] >= 0x80 &&
			  id[i + 1] <= 0x9f;
		if (c1)
			cp = id[i + 1];
		if ((cp > 0 && cp < 0x20) || cp == 0x7f || c1) {
			snprintf(d, sizeof(d), "client id holds control "
				 "character U+%04X at byte %zu", cp, i);
			emit_anomaly(c, st, toclient, "client_id_nonprintable",
				     d, sink);
			break;
		}
	}
}

/*
 * Applies one decoded message, from frame[0..fn), to the session and
 * transaction state.
 */
static void session_handle(struct mqtt_ctx *c, struct mqtt_state *st,
			   bool toclient, const struct mqtt_msg *m,
			   const uint8_t *frame, size_t fn,
			   const struct mqtt_sink *sink)
{
	struct mqtt_pending *p, *prev = NULL;
	c->stats.messages++;
	emit_msg_anomalies(c, st, toclient, m, sink);
	switch (m->type) {
	case MQTT_CONNECT:
		if (st->connect_seen || st->connected)
			emit_anomaly(c, st, toclient, "double_connect",
				     "second CONNECT on one connection", sink);
		check_client_id(c, st, toclient, m, sink);
		st->connect_seen = true;
		st->version = m->version;
		st->version_inferred = false;
		st->keepalive = m->keepalive;
		copy_bounded(&st->client_id, m->client_id, c->cfg.session_str_max);
		if (m->has_username)
			copy_bounded(&st->username, m->username,
				     c->cfg.session_str_max);
		session_rec_set(c, &st->rec, m);
		if (sink->msg)
			sink->msg(sink->ud, st, toclient, m);
		pending_start(c, st, toclient, m, frame, fn, CONNECT_PKT_ID, sink);
		return;
	case MQTT_CONNACK:
		if (sink->msg)
			sink->msg(sink->ud, st, toclient, m);
		p = pending_find(st, MQTT_CONNECT, CONNECT_PKT_ID, !toclient,
				 -1, &prev);
		if (!p) {
			emit_anomaly(c, st, toclient, "missing_connect",
				     "CONNACK without CONNECT", sink);
			emit_standalone(c, st, toclient, m, sink);
			return;
		}
		st->connected = true;
		for (uint16_t i = 0; i < m->props.n; i++) {
			const struct mqtt_prop *pr = &m->props.v[i];
			if (pr->id == 18 && st->client_id && !st->client_id[0])
				copy_bounded(&st->client_id, pr->s,
					     c->cfg.session_str_max);
		}
		pending_finish(c, st, prev, p, m, sink);
		return;
	default:
		break;
	}

	if (sink->msg)
		sink->msg(sink->ud, st, toclient, m);
	switch (m->type) {
	case MQTT_PUBLISH:
		check_unintroduced(c, st, toclient, m, sink);
		if (m->qos == 1 || m->qos == 2)
			pending_start(c, st, toclient, m, frame, fn, m->msg_id,
				      sink);
		else
			emit_standalone(c, st, toclient, m, sink);
		return;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		check_unintroduced(c, st, toclient, m, sink);
		pending_start(c, st, toclient, m, frame, fn, m->msg_id, sink);
		return;
	case MQTT_PUBACK:
		p = pending_find(st, MQTT_PUBLISH, m->msg_id, !toclient, 1, &prev);
		if (!p)
			break;
		pending_finish(c, st, prev, p, m, sink);
		return;
	case MQTT_PUBREC:
	case MQTT_PUBREL: {
		/* PUBREC answers from the other side, PUBREL from the sender. */
		bool from = m->type == MQTT_PUBREC ? !toclient : toclient;
		uint8_t stage = m->type == MQTT_PUBREC ? 1 : 2;
		p = pending_find(st, MQTT_PUBLISH, m->msg_id, from, 2, &prev);
		if (!p)
			break;
		if (p->stage >= stage) {
			/* A repeated step of a QoS 2 exchange still under way. */
			char detail[80];
			snprintf(detail, sizeof(detail), "%s for packet id %u",
				 mqtt_type_name(m->type), (unsigned)m->msg_id);
			emit_anomaly(c, st, toclient, "duplicate_ack", detail, sink);
			emit_standalone(c, st, toclient, m, sink);
			return;
		}
		p->stage = stage;
		pending_append(c, p, m, frame, fn, sink);
		return;
	}
	case MQTT_PUBCOMP:
		p = pending_find(st, MQTT_PUBLISH, m->msg_id, !toclient, 2, &prev);
		if (!p)
			break;
		pending_finish(c, st, prev, p, m, sink);
		return;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK: {
		uint8_t kind = m->type == MQTT_SUBACK ? MQTT_SUBSCRIBE
						      : MQTT_UNSUBSCRIBE;
		p = pending_find(st, kind, m->msg_id, !toclient, -1, &prev);
		if (!p) {
			unmatched_answer(c, st, toclient, m, !toclient,
					 m->type == MQTT_SUBACK
						 ? "missing_subscribe"
						 : "missing_unsubscribe",
					 sink);
			return;
		}
		pending_finish(c, st, prev, p, m, sink);
		return;
	}
	case MQTT_RESERVED:
		emit_anomaly(c, st, toclient, "unassigned_msg_type",
			     "control packet type 0", sink);
		emit_standalone(c, st, toclient, m, sink);
		return;
	default: /* PINGREQ, PINGRESP, DISCONNECT, AUTH */
		check_unintroduced(c, st, toclient, m, sink);
		emit_standalone(c, st, toclient, m, sink);
		return;
	}
	/* An unmatched PUBACK/PUBREC/PUBREL/PUBCOMP. */
	unmatched_answer(c, st, toclient, m,
			 m->type == MQTT_PUBREL ? toclient : !toclient,
			 "missing_publish", sink);
}

/* ---- framing ---- */

/*
 * Decodes one complete frame. When the session's version is not known yet
 * (stream picked up midway) a message that does not decode cleanly as 3.1.1
 * is tried as 5.0, and a clean 5.0 decode fixes the session's version.
 */
static void frame_handle(struct mqtt_ctx *c, struct mqtt_state *st,
			 bool toclient, const uint8_t *p, size_t n,
			 const struct mqtt_sink *sink)
{
	struct mqtt_msg m;
	uint8_t type = p[0] >> 4;
	int err = mqtt_parse_msg(&c->parser, p, n, st->version, &m);
	if (st->version == 0 && type != MQTT_CONNECT &&
	    (err || (m.anomalies & (MQTT_ANOM_TRAILING_BYTES |
				    MQTT_ANOM_INVALID_REASON)))) {
		struct mqtt_msg m5;
		int err5 = mqtt_parse_msg(&c->parser, p, n, 5, &m5);
		if (!err5 && !(m5.anomalies & MQTT_ANOM_TRAILING_BYTES)) {
			st->version = 5;
			st->version_inferred = true;
			m = m5;
			err = 0;
		} else if (!err) {
			/* Keep the 3.1.1 decode, whose scratch was reused. */
			err = mqtt_parse_msg(&c->parser, p, n, 0, &m);
		}
	}
	if (err) {
		char detail[96];
		c->stats.malformed++;
		snprintf(detail, sizeof(detail), "%s: %s",
			 type ? mqtt_type_name(type) : "type 0",
			 mqtt_parse_strerror(err));
		emit_anomaly(c, st, toclient, "malformed_traffic", detail, sink);
		return;
	}
	session_handle(c, st, toclient, &m, p, n, sink);
}

static void frame_truncated(struct mqtt_ctx *c, struct mqtt_state *st,
			    bool toclient, uint8_t b0, uint64_t total,
			    const struct mqtt_sink *sink)
{
	struct mqtt_tx tx;
	c->stats.truncated++;
	memset(&tx, 0, sizeof(tx));
	tx.toclient = toclient;
	tx.truncated = true;
	tx.first_byte = b0;
	tx.skipped_length = total;
	emit_tx(c, st, &tx, sink);
}

/*
 * Appends p[0..n) to the direction's buffer of a message of want bytes.
 * The buffer grows with what arrives (doubling, from BUF_MIN_GROW), not
 * to the length a header declares, and every buffer of the context
 * counts against mqtt.buffer-memcap. Returns 1, 0 when out of memory, or
 * -1 when the growth would pass the memcap (nothing appended).
 */
static int dir_grow(struct mqtt_ctx *c, struct mqtt_dir *d,
		    const uint8_t *p, size_t n, size_t want)
{
	if (d->cap - d->len < n) {
		size_t need = (size_t)d->len + n;
		size_t cap = d->cap * 2 > BUF_MIN_GROW ? (size_t)d->cap * 2 : BUF_MIN_GROW;
		if (cap > want)
			cap = want;
		if (cap < need)
			cap = need;
		if (c->buf_bytes - d->cap + cap > c->cfg.buf_memcap)
			return -1;
		uint8_t *nb = realloc(d->buf, cap);
		if (!nb)
			return 0;
		c->buf_bytes = c->buf_bytes - d->cap + cap;
		if (c->buf_bytes > c->stats.buf_peak)
			c->stats.buf_peak = c->buf_bytes;
		d->buf = nb;
		d->cap = (uint32_t)cap;
	}
	memcpy(d->buf + d->len, p, n);
	d->len += (uint32_t)n;
	return 1;
}

static void dir_release(struct mqtt_ctx *c, struct mqtt_dir *d)
{
	c->buf_bytes -= d->cap;
	free(d->buf);
	d->buf = NULL;
	d->cap = 0;
	d->len = 0;
}

static void dir_drop(struct mqtt_ctx *c, struct mqtt_dir *d)
{
	d->len = 0;
	if (d->cap > KEEP_BUF_MAX)
		dir_release(c, d);
}

/*
 * mqtt.buffer-memcap is reached: the message being framed (total bytes,
 * 0 when its header is not complete yet) is dropped, with an anomaly; the
 * rest of it is skipped, or, without a known length, the direction looks
 * for the next message boundary.
 */
static void dir_over_memcap(struct mqtt_ctx *c, struct mqtt_state *st,
			    bool toclient, uint64_t total,
			    const struct mqtt_sink *sink)
{
	struct mqtt_dir *d = &st->dir[toclient];
	char detail[128];
	c->stats.buf_drops++;
	snprintf(detail, sizeof(detail),
		 "message of %llu bytes dropped: mqtt.buffer-memcap (%zu bytes) reached",
		 (unsigned long long)total, c->cfg.buf_memcap);
	emit_anomaly(c, st, toclient, "buffer_memcap_reached", detail, sink);
	if (total) {
		d->skip = total - d->len;
	} else {
		d->resync = true;
		d->resync_scanned = 0;
	}
	dir_release(c, d);
}

enum { DIR_OOM = 0, DIR_OK = 1, DIR_DROPPED = 2 };

/*
 * dir_grow for the message being framed (total bytes, 0 while its header
 * is incomplete): over the memcap the message is dropped here
 * (dir_over_memcap) and DIR_DROPPED tells the caller to go on after it.
 */
static int dir_append(struct mqtt_ctx *c, struct mqtt_state *st,
		      bool toclient, const uint8_t *p, size_t n, size_t want,
		      uint64_t total, const struct mqtt_sink *sink)
{
	int r = dir_grow(c, &st->dir[toclient], p, n, want);
	if (r >= 0)
		return r ? DIR_OK : DIR_OOM;
	dir_over_memcap(c, st, toclient, total, sink);
	return DIR_DROPPED;
}

/* Whether b0 is a first byte some conforming peer could send. */
static bool plausible_first_byte(uint8_t b0)
{
	uint8_t type = b0 >> 4, flags = b0 & 15;
	if (type == MQTT_RESERVED)
		return false;
	if (type == MQTT_PUBLISH)
		return ((flags >> 1) & 3) != 3;
	return flags == mqtt_required_flags(type);
}

int mqtt_probe_connect(const uint8_t *p, size_t n)
{
	uint32_t hl, rl;
	bool ol;
	if (n < 1)
		return 0;
	if (p[0] != 0x10)
		return -1;
	int r = mqtt_frame_peek(p, n, &hl, &rl, &ol);
	if (r <= 0)
		return r;
	struct rd rd = rd_make(p + hl, n - hl);
	uint16_t len;
	if (!rd_be16(&rd, &len))
		return rl < 2 ? -1 : 0;
	if (len != 4 && len != 6)
		return -1;
	if (rd_left(&rd) < len)
		return 0;
	if ((len == 4 && memcmp(rd.p, "MQTT", 4) == 0) ||
	    (len == 6 && memcmp(rd.p, "MQIsdp", 6) == 0))
		return 1;
	return -1;
}

/*
 * Looks for a message boundary in p[0..n) after a gap or a midstream start.
 * A candidate must have a plausible first byte and a minimal length; at
 * offset 0 (a segment boundary, where messages usually start) that is
 * enough, elsewhere the message must fit, decode without any anomaly and be
 * followed by the end of data or another plausible header. Returns the
 * offset, or -1.
 */
static long resync_scan(struct mqtt_ctx *c, struct mqtt_state *st,
			const uint8_t *p, size_t n)
{
	for (size_t off = 0; off < n; off++) {
		uint32_t hl = 0, rl = 0; /* peek sets them only when it returns 1 */
		bool ol = false;
		if (!plausible_first_byte(p[off]))
			continue;
		int r = mqtt_frame_peek(p + off, n - off, &hl, &rl, &ol);
		if (r < 0 || ol || rl > c->cfg.max_msg_len)
			continue;
		if (off == 0 && r == 0)
			return 0;
		if (r == 0)
			continue;
		size_t total = (size_t)hl + rl;
		if (total > n - off) {
			if (off == 0)
				return 0;
			continue;
		}
		struct mqtt_msg m;
		if (mqtt_parse_msg(&c->parser, p + off, total, st->version, &m) != 0 ||
		    (m.anomalies && off != 0))
			continue;
		if (off + total == n || plausible_first_byte(p[off + total]))
			return (long)off;
	}
	return -1;
}

void mqtt_stream_midstream(struct mqtt_state *st, bool toclient)
{
	st->dir[toclient].resync = true;
}

void mqtt_stream_gap(struct mqtt_ctx *c, struct mqtt_state *st, bool toclient,
		     uint64_t len, const struct mqtt_sink *sink)
{
	struct mqtt_dir *d = &st->dir[toclient];
	if (d->dead)
		return;
	c->stats.gaps++;
	if (d->skip >= len) {
		/* The gap fell inside a message we were skipping anyway. */
		d->skip -= len;
		return;
	}
	char detail[96];
	snprintf(detail, sizeof(detail), "%llu bytes missing; %u buffered bytes dropped",
		 (unsigned long long)len, d->len);
	if (sink->anomaly)
		sink->anomaly(sink->ud, st, toclient, "stream",
			      "reassembly_seq_gap", detail);
	c->stats.anomalies++;
	d->skip = 0;
	dir_drop(c, d);
	d->resync = true;
	d->resync_scanned = 0;
}

void mqtt_stream_feed(struct mqtt_ctx *c, struct mqtt_state *st, bool toclient,
		      const uint8_t *p, size_t n, const struct mqtt_sink *sink)
{
	struct mqtt_dir *d = &st->dir[toclient];
	while (!d->dead) {
		if (n == 0) {
			/*
			 * No input left: go on only if the buffer holds a
			 * finished message (its last byte may have completed
			 * the fixed header) or an oversize header.
			 */
			uint32_t bh, br;
			bool bo;
			if (!d->len || mqtt_frame_peek(d->buf, d->len, &bh, &br, &bo) != 1 ||
			    (br <= c->cfg.max_msg_len && (uint64_t)bh + br != d->len))
				break;
		}
		if (d->skip) {
			size_t take = d->skip < n ? (size_t)d->skip : n;
			d->skip -= take;
			p += take;
			n -= take;
			continue;
		}
		if (d->resync) {
			long off = resync_scan(c, st, p, n);
			if (off < 0) {
				d->resync_scanned += (uint32_t)(n < UINT32_MAX ? n : UINT32_MAX);
				if (d->resync_scanned > c->cfg.resync_max) {
					d->dead = true;
					c->stats.giveups++;
					if (sink->anomaly)
						sink->anomaly(sink->ud, st, toclient, "stream",
							      "mqtt_resync_failed",
							      "no message boundary found; direction no longer parsed");
					c->stats.anomalies++;
				}
				return;
			}
			c->stats.resyncs++;
			d->resync = false;
			p += off;
			n -= (size_t)off;
			continue;
		}
		uint32_t hl, rl;
		bool ol;
		const uint8_t *h = d->len ? d->buf : p;
		size_t hn = d->len ? d->len : n;
		int r = mqtt_frame_peek(h, hn, &hl, &rl, &ol);
		if (r == 0 && d->len) {
			/* Header still incomplete: move one more byte over. */
			int ar = dir_append(c, st, toclient, p, 1, 5, 0, sink);
			if (ar == DIR_DROPPED)
				continue;
			if (ar == DIR_OOM)
				goto oom;
			p++;
			n--;
			continue;
		}
		if (r < 0) {
			c->stats.malformed++;
			emit_anomaly(c, st, toclient, "malformed_traffic",
				     "remaining length longer than 4 bytes", sink);
			dir_drop(c, d);
			d->resync = true;
			d->resync_scanned = 0;
			if (h == p) {
				p++;
				n--;
			}
			continue;
		}
		if (r == 0) {
			int ar = dir_append(c, st, toclient, p, n, 5, 0, sink);
			if (ar == DIR_DROPPED)
				continue;
			if (ar == DIR_OOM)
				goto oom;
			return;
		}
		uint64_t total = (uint64_t)hl + rl;
		if (rl > c->cfg.max_msg_len) {
			frame_truncated(c, st, toclient, h[0], total, sink);
			d->skip = total - d->len;
			dir_drop(c, d);
			continue;
		}
		if (d->len == 0) {
			if (total <= n) {
				frame_handle(c, st, toclient, p, (size_t)total, sink);
				p += total;
				n -= (size_t)total;
				continue;
			}
			int ar = dir_append(c, st, toclient, p, n, (size_t)total,
					    total, sink);
			if (ar == DIR_DROPPED)
				continue;
			if (ar == DIR_OOM)
				goto oom;
			return;
		}
		size_t need = (size_t)total - d->len;
		size_t take = need < n ? need : n;
		int ar = dir_append(c, st, toclient, p, take, (size_t)total,
				    total, sink);
		if (ar == DIR_DROPPED)
			continue;
		if (ar == DIR_OOM)
			goto oom;
		p += take;
		n -= take;
		if (d->len == total) {
			frame_handle(c, st, toclient, d->buf, d->len, sink);
			dir_drop(c, d);
		}
	}
	return;
oom:
	/* Out of memory: treat the rest as lost rather than crash. */
	mqtt_stream_gap(c, st, toclient, n, sink);
}

void mqtt_state_free(struct mqtt_ctx *c, struct mqtt_state *st,
		     const struct mqtt_sink *sink, bool closed)
{
	if (!st)
		return;
	while (st->pend_head) {
		struct mqtt_pending *p = st->pend_head;
		if (closed) {
			char detail[80];
			snprintf(detail, sizeof(detail),
				 "%s%s never acknowledged before the connection closed",
				 mqtt_type_name(p->kind),
				 p->kind == MQTT_PUBLISH ? (p->qos == 2 ? " (QoS 2)" : " (QoS 1)") : "");
			emit_anomaly(c, st, p->toclient, "missing_ack", detail, sink);
		}
		pending_finish(c, st, NULL, p, NULL, sink);
	}
	for (int i = 0; i < 2; i++) {
		dir_release(c, &st->dir[i]);
		if (st->early[i]) {
			free(st->early[i]);
			c->pending_bytes -= EARLY_BYTES;
		}
	}
	kept_str_free(&st->rec.client_id);
	kept_str_free(&st->rec.username);
	kept_str_free(&st->rec.will_topic);
	free(st->client_id);
	free(st->username);
	free(st);
}
