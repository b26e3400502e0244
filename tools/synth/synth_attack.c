/*
 * synth_attack.c - the synthetic transport for the attack models, and a
 * model of the testbed's mosquitto 2.0 (its users, ACL and strictness) that
 * answers them. Every operation advances simulated time to its last frame,
 * and broker answers are written when the clock reaches them, so frames
 * leave in time order. What the model leaves out is listed in
 * docs/TESTBED.md ("Synthetic attacks").
 */
#define _POSIX_C_SOURCE 200809L
#include "synth_attack.h"

#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_encode.h"
#include "mqtt/mqtt_parse.h"
#include "tb_broker.h"
#include "tb_sensor.h"

#define MAX_CONNS 4096
#define MAX_SUBS 16

struct sub {
	char filter[128];
	uint8_t qos;
};

struct sconn {
	struct synth_conn conn;
	bool used;
	bool closed;          /* the broker's close has been written */
	bool close_queued;
	bool connected;       /* CONNACK 0 sent */
	uint8_t version;
	char user[64];
	char cid[128];
	uint16_t keepalive;
	uint64_t last_rx;
	uint8_t *rx;          /* client bytes not yet framed */
	size_t rx_len, rx_cap;
	struct sub subs[MAX_SUBS];
	unsigned n_subs;
	uint16_t peer_mid;
	uint32_t rtt;
};

/* A broker write (or close) at time t on connection c. */
struct ev {
	uint64_t t;
	int c;
	bool close;
	bool rendered, consumed;
	uint8_t *data;
	size_t len;
};

struct sio {
	struct tb_io io;
	struct synth_pcap *pc;
	struct synth_host atk, broker;
	uint64_t now;          /* simulated µs since the capture start */
	struct sconn *c;
	struct ev *ev;
	size_t n_ev, cap_ev;
	struct tb_rng rng;
	const struct synth_feed *feeds;
	size_t n_feeds;
	struct mqtt_parser ps;
	uint16_t next_port;
	int hi;                /* handles in use are below this */
	uint8_t out[1 << 16];  /* the message recv last returned */
	uint8_t enc[1 << 17];
	char attacker[48], target[64];
};

/* mosquitto's acl_file as tools/testbed writes it (tb_broker.c). */
static bool acl_allows(const struct sconn *s, const char *topic, bool write)
{
	return tb_acl_allows(s->user, s->cid, topic, write);
}

/* ---- time and frames ---- */

static void push_ev(struct sio *x, uint64_t t, int c, bool close,
		    const uint8_t *d, size_t n)
{
	if (x->n_ev == x->cap_ev) {
		size_t nc = x->cap_ev ? x->cap_ev * 2 : 256;
		struct ev *ne = realloc(x->ev, nc * sizeof(*ne));
		if (!ne)
			abort();
		x->ev = ne;
		x->cap_ev = nc;
	}
	struct ev *e = &x->ev[x->n_ev++];
	memset(e, 0, sizeof(*e));
	e->t = t;
	e->c = c;
	e->close = close;
	if (n) {
		e->data = malloc(n);
		if (!e->data)
			abort();
		memcpy(e->data, d, n);
		e->len = n;
	}
}

static void compact(struct sio *x)
{
	size_t k = 0;
	for (size_t i = 0; i < x->n_ev; i++) {
		if (x->ev[i].rendered && x->ev[i].consumed) {
			free(x->ev[i].data);
			continue;
		}
		x->ev[k++] = x->ev[i];
	}
	x->n_ev = k;
}

/* Writes every broker event, delayed ACK and keepalive expiry up to t. */
static void advance(struct sio *x, uint64_t t)
{
	for (int i = 0; i < x->hi; i++) {
		struct sconn *s = &x->c[i];
		if (!s->used || s->closed || s->close_queued || !s->connected || !s->keepalive)
			continue;
		/* mosquitto drops a client silent for 1.5 keepalive periods. */
		uint64_t exp = s->last_rx + (uint64_t)s->keepalive * 1500000u;
		if (exp <= t) {
			push_ev(x, exp, i, true, NULL, 0);
			s->close_queued = true;
		}
	}
	for (;;) {
		uint64_t best = UINT64_MAX;
		int kind = 0, who = -1, dir = 0;
		size_t bi = 0;
		for (size_t i = 0; i < x->n_ev; i++)
			if (!x->ev[i].rendered && x->ev[i].t < best) {
				best = x->ev[i].t;
				kind = 1;
				bi = i;
			}
		for (int i = 0; i < x->hi; i++) {
			struct sconn *s = &x->c[i];
			if (!s->used || !s->conn.open)
				continue;
			for (int d = 0; d < 2; d++)
				if (s->conn.side[d].ack_pending && s->conn.side[d].ack_due < best) {
					best = s->conn.side[d].ack_due;
					kind = 2;
					who = i;
					dir = d;
				}
		}
		if (!kind || best > t)
			break;
		if (kind == 2) {
			synth_tcp_flush_ack(x->pc, &x->c[who].conn, dir);
			continue;
		}
		struct ev *e = &x->ev[bi];
		struct sconn *s = &x->c[e->c];
		e->rendered = true;
		if (s->closed || !s->conn.open) {
			e->consumed = true;
			continue;
		}
		if (e->close) {
			synth_tcp_close(x->pc, &s->conn, SYNTH_S2C, e->t, s->rtt);
			s->closed = true;
		} else {
			synth_tcp_send(x->pc, &s->conn, SYNTH_S2C, e->t, e->data, e->len, 15);
		}
	}
	if (t > x->now)
		x->now = t;
}

static uint64_t s_now(void *ud)
{
	struct sio *x = ud;
	return x->pc->epoch_us + x->now;
}

static void s_sleep_until(void *ud, uint64_t t)
{
	struct sio *x = ud;
	uint64_t rel = t > x->pc->epoch_us ? t - x->pc->epoch_us : 0;
	advance(x, rel);
}

static int s_open(void *ud, uint16_t *local_port)
{
	struct sio *x = ud;
	int h = 0;
	while (h < MAX_CONNS && x->c[h].used)
		h++;
	if (h == MAX_CONNS)
		return -1;
	if (h >= x->hi)
		x->hi = h + 1;
	advance(x, x->now);
	struct sconn *s = &x->c[h];
	uint8_t *rx = s->rx;
	size_t rx_cap = s->rx_cap;
	memset(s, 0, sizeof(*s));
	s->rx = rx;
	s->rx_cap = rx_cap;
	s->used = true;
	s->rtt = 400 + (uint32_t)(tb_rng_unit(&x->rng) * 600);
	x->next_port = (uint16_t)(x->next_port >= 60999 ? 32768 : x->next_port + 1);
	s->conn.side[SYNTH_C2S].h = &x->atk;
	s->conn.side[SYNTH_C2S].port = x->next_port;
	s->conn.side[SYNTH_S2C].h = &x->broker;
	s->conn.side[SYNTH_S2C].port = 1883;
	s->peer_mid = 1;
	x->now = synth_tcp_open(x->pc, &s->conn, x->now + 50, s->rtt,
				(uint32_t)tb_rng_next(&x->rng), (uint32_t)tb_rng_next(&x->rng));
	s->last_rx = x->now;
	*local_port = x->next_port;
	return h;
}

/* Encodes m and queues it on connection h after the broker's work time. */
static uint64_t reply(struct sio *x, int h, uint64_t t, const struct mqtt_msg *m)
{
	size_t n = 0;
	if (mqtt_encode(m, NULL, x->enc, sizeof(x->enc), &n) != 0)
		return t;
	t += 60 + (uint64_t)(tb_rng_unit(&x->rng) * 150);
	push_ev(x, t, h, false, x->enc, n);
	return t;
}

static void broker_close(struct sio *x, int h, uint64_t t)
{
	struct sconn *s = &x->c[h];
	if (s->close_queued)
		return;
	push_ev(x, t + 100, h, true, NULL, 0);
	s->close_queued = true;
}

static struct mqtt_msg bmsg(const struct sconn *s, uint8_t type)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.version = s->version;
	return m;
}

static void copy_slice(char *dst, size_t cap, struct slice v)
{
	size_t n = v.len < cap - 1 ? v.len : cap - 1;
	memcpy(dst, v.p, n);
	dst[n] = '\0';
}

/* Delivers the readings of matching feeds to a new subscription, for two minutes. */
static void deliver_feeds(struct sio *x, int h, uint64_t t, const char *filter, uint8_t qos)
{
	struct sconn *s = &x->c[h];
	for (size_t f = 0; f < x->n_feeds; f++) {
		const struct synth_feed *fd = &x->feeds[f];
		if (!tb_topic_match(filter, fd->topic) || !acl_allows(s, fd->topic, false))
			continue;
		unsigned sent = 0;
		for (size_t i = 0; i < fd->n && sent < 20; i++) {
			if (fd->t[i] <= t || fd->t[i] > t + 120000000u)
				continue;
			struct mqtt_msg p = bmsg(s, MQTT_PUBLISH);
			p.qos = qos > 1 ? 1 : qos;
			p.topic = mqtt_str(fd->topic);
			p.payload = mqtt_str(fd->payload[i]);
			if (p.qos)
				p.msg_id = s->peer_mid++;
			reply(x, h, fd->t[i] + 300, &p);
			sent++;
		}
	}
}

/* The broker's answer to one client message at time t (mosquitto 2.0's strictness). */
static void handle(struct sio *x, int h, uint64_t t, struct mqtt_msg *m, int perr)
{
	struct sconn *s = &x->c[h];
	s->last_rx = t;
	t += s->rtt / 2;
	const uint32_t fatal = MQTT_ANOM_RESERVED_FLAGS | MQTT_ANOM_INVALID_QOS |
			       MQTT_ANOM_CONNECT_RESERVED | MQTT_ANOM_INVALID_UTF8 |
			       MQTT_ANOM_UTF8_NULL | MQTT_ANOM_WILDCARD_PUBLISH |
			       MQTT_ANOM_PROTOCOL_NAME | MQTT_ANOM_EMPTY_TOPIC |
			       MQTT_ANOM_NO_TOPICS | MQTT_ANOM_CONNECT_FLAGS |
			       MQTT_ANOM_MISSING_MSG_ID | MQTT_ANOM_TRAILING_BYTES;
	if (perr != 0 || (m->anomalies & fatal) || m->type == 0 ||
	    (m->type == MQTT_AUTH && s->version < 5) ||
	    (!s->connected && m->type != MQTT_CONNECT) ||
	    (s->connected && m->type == MQTT_CONNECT)) {
		broker_close(x, h, t);
		return;
	}
	switch (m->type) {
	case MQTT_CONNECT: {
		s->version = m->protocol_version >= 3 && m->protocol_version <= 5
				     ? m->protocol_version : 4;
		struct mqtt_msg a = bmsg(s, MQTT_CONNACK);
		copy_slice(s->cid, sizeof(s->cid), m->client_id);
		copy_slice(s->user, sizeof(s->user), m->username);
		char pass[128];
		copy_slice(pass, sizeof(pass), m->password);
		int code = 0;
		if (m->protocol_version < 3 || m->protocol_version > 5)
			code = s->version == 5 ? 0x84 : 1;
		else if (!m->client_id.len && (s->version == 3 || !(m->connect_flags & 0x02)))
			code = s->version == 5 ? 0x85 : 2;
		else if (!m->has_username)
			code = s->version == 5 ? 0x87 : 5;
		else {
			bool ok = false;
			for (size_t i = 0; i < tb_n_users; i++)
				if (!strcmp(tb_users[i].name, s->user) && m->has_password &&
				    !strcmp(tb_users[i].password, pass))
					ok = true;
			if (!ok)
				code = s->version == 5 ? 0x86 : 5;
		}
		struct mqtt_prop pr[2];
		size_t np = 0;
		if (s->version == 5 && code == 0) {
			pr[np++] = (struct mqtt_prop){ .id = 34, .u = 10 };
			if (!m->client_id.len) {
				snprintf(s->cid, sizeof(s->cid), "auto-%08X",
					 (unsigned)tb_rng_next(&x->rng));
				pr[np++] = (struct mqtt_prop){ .id = 18, .s = mqtt_str(s->cid) };
			}
		}
		a.props.v = pr;
		a.props.n = np;
		a.return_code = (uint8_t)code;
		t = reply(x, h, t + 300, &a); /* password hashing */
		if (code) {
			broker_close(x, h, t);
			return;
		}
		s->connected = true;
		s->keepalive = m->keepalive;
		return;
	}
	case MQTT_PUBLISH: {
		char topic[512];
		copy_slice(topic, sizeof(topic), m->topic);
		bool ok = acl_allows(s, topic, true);
		if (m->qos) {
			struct mqtt_msg a = bmsg(s, m->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC);
			a.msg_id = m->msg_id;
			if (!ok && s->version == 5) {
				a.reason_code = 0x87;
				a.has_reason_code = true;
			}
			reply(x, h, t, &a);
		}
		if (!ok)
			return;
		/* Forward to the attacker's own matching subscriptions. */
		for (int i = 0; i < x->hi; i++) {
			struct sconn *d = &x->c[i];
			if (!d->used || !d->connected || d->close_queued)
				continue;
			for (unsigned k = 0; k < d->n_subs; k++) {
				if (!tb_topic_match(d->subs[k].filter, topic) ||
				    !acl_allows(d, topic, false))
					continue;
				struct mqtt_msg p = bmsg(d, MQTT_PUBLISH);
				p.qos = m->qos < d->subs[k].qos ? m->qos : d->subs[k].qos;
				p.topic = m->topic;
				p.payload = m->payload;
				if (p.qos)
					p.msg_id = d->peer_mid++;
				reply(x, i, t + 200, &p);
				break;
			}
		}
		return;
	}
	case MQTT_PUBREL: {
		struct mqtt_msg a = bmsg(s, MQTT_PUBCOMP);
		a.msg_id = m->msg_id;
		reply(x, h, t, &a);
		return;
	}
	case MQTT_SUBSCRIBE: {
		uint8_t codes[64];
		size_t n = m->n_topics < 64 ? m->n_topics : 64;
		for (size_t i = 0; i < n; i++) {
			/* mosquitto 2.0 grants what the ACL denies and filters delivery. */
			uint8_t q = m->topics[i].opts & 3;
			codes[i] = q > 2 ? 0x80 : q;
		}
		struct mqtt_msg a = bmsg(s, MQTT_SUBACK);
		a.msg_id = m->msg_id;
		a.codes.p = codes;
		a.codes.len = n;
		t = reply(x, h, t, &a);
		for (size_t i = 0; i < n; i++) {
			if (codes[i] >= 0x80 || s->n_subs == MAX_SUBS)
				continue;
			struct sub *sb = &s->subs[s->n_subs++];
			copy_slice(sb->filter, sizeof(sb->filter), m->topics[i].name);
			sb->qos = codes[i];
			deliver_feeds(x, h, t, sb->filter, sb->qos);
		}
		return;
	}
	case MQTT_UNSUBSCRIBE: {
		uint8_t codes[64];
		size_t n = m->n_topics < 64 ? m->n_topics : 64;
		memset(codes, 0, sizeof(codes));
		struct mqtt_msg a = bmsg(s, MQTT_UNSUBACK);
		a.msg_id = m->msg_id;
		if (s->version == 5) {
			a.codes.p = codes;
			a.codes.len = n;
		}
		reply(x, h, t, &a);
		return;
	}
	case MQTT_PINGREQ: {
		struct mqtt_msg a = bmsg(s, MQTT_PINGRESP);
		reply(x, h, t, &a);
		return;
	}
	default:
		return; /* acks of broker PUBLISHes, DISCONNECT */
	}
}

static int s_send(void *ud, int h, const uint8_t *p, size_t n)
{
	struct sio *x = ud;
	if (h < 0 || h >= MAX_CONNS || !x->c[h].used)
		return -1;
	struct sconn *s = &x->c[h];
	advance(x, x->now);
	if (s->closed)
		return -1;
	x->now = synth_tcp_send(x->pc, &s->conn, SYNTH_C2S, x->now + 20, p, n, 40);
	if (s->close_queued)
		return 0; /* the broker reads nothing more */
	if (s->rx_cap - s->rx_len < n) {
		size_t nc = s->rx_len + n + 4096;
		uint8_t *nb = realloc(s->rx, nc);
		if (!nb)
			return -1;
		s->rx = nb;
		s->rx_cap = nc;
	}
	memcpy(s->rx + s->rx_len, p, n);
	s->rx_len += n;
	size_t off = 0;
	while (off < s->rx_len && !s->close_queued) {
		uint32_t hl, rl;
		bool overlong;
		int fr = mqtt_frame_peek(s->rx + off, s->rx_len - off, &hl, &rl, &overlong);
		if (fr < 0) {
			broker_close(x, h, x->now + s->rtt / 2);
			break;
		}
		if (fr == 0 || s->rx_len - off < (size_t)hl + rl)
			break;
		struct mqtt_msg m;
		int perr = mqtt_parse_msg(&x->ps, s->rx + off, (size_t)hl + rl,
					  s->version, &m);
		if (overlong)
			perr = -1;
		handle(x, h, x->now, &m, perr);
		off += (size_t)hl + rl;
	}
	memmove(s->rx, s->rx + off, s->rx_len - off);
	s->rx_len -= off;
	return 0;
}

static int s_recv(void *ud, int h, uint64_t timeout_us, struct mqtt_msg *m)
{
	struct sio *x = ud;
	if (h < 0 || h >= MAX_CONNS || !x->c[h].used)
		return -1;
	uint64_t until = x->now + timeout_us;
	size_t bi = SIZE_MAX;
	for (size_t i = 0; i < x->n_ev; i++)
		if (x->ev[i].c == h && !x->ev[i].consumed &&
		    (bi == SIZE_MAX || x->ev[i].t < x->ev[bi].t))
			bi = i;
	if (bi == SIZE_MAX || x->ev[bi].t > until) {
		advance(x, until);
		return x->c[h].closed ? -1 : 0;
	}
	uint64_t t = x->ev[bi].t;
	advance(x, t + 1);
	struct ev *e = &x->ev[bi];
	e->consumed = true;
	if (e->close || x->c[h].closed)
		return -1;
	size_t n = e->len < sizeof(x->out) ? e->len : sizeof(x->out);
	memcpy(x->out, e->data, n);
	int rc = mqtt_parse_msg(&x->ps, x->out, n, x->c[h].version, m);
	if (x->n_ev > 512)
		compact(x);
	return rc == 0 ? 1 : -1;
}

static void s_close(void *ud, int h)
{
	struct sio *x = ud;
	if (h < 0 || h >= MAX_CONNS || !x->c[h].used)
		return;
	struct sconn *s = &x->c[h];
	advance(x, x->now);
	if (!s->closed && s->conn.open)
		x->now = synth_tcp_close(x->pc, &s->conn, SYNTH_C2S, x->now + 30, s->rtt);
	s->closed = true;
	for (size_t i = 0; i < x->n_ev; i++)
		if (x->ev[i].c == h && !x->ev[i].rendered)
			x->ev[i].rendered = x->ev[i].consumed = true;
		else if (x->ev[i].c == h)
			x->ev[i].consumed = true;
	s->used = false;
}

static int s_syn(void *ud, uint16_t src_port, uint32_t seq)
{
	struct sio *x = ud;
	advance(x, x->now);
	struct synth_conn c;
	memset(&c, 0, sizeof(c));
	c.side[SYNTH_C2S].h = &x->atk;
	c.side[SYNTH_C2S].port = src_port;
	c.side[SYNTH_S2C].h = &x->broker;
	c.side[SYNTH_S2C].port = 1883;
	/* Each SYN's answers are written before the next SYN (frames stay in time order). */
	x->now = synth_tcp_syn_reset(x->pc, &c, x->now + 10, 500, seq,
				     (uint32_t)tb_rng_next(&x->rng));
	return 0;
}

int synth_attack_render(const struct tb_attack_opts *o, uint64_t start,
			const struct synth_host *atk, const struct synth_host *broker,
			const struct synth_feed *feeds, size_t n_feeds,
			struct synth_pcap *out, struct tb_label *label, uint64_t seed)
{
	struct sio *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	x->c = calloc(MAX_CONNS, sizeof(*x->c));
	if (!x->c || mqtt_parser_init(&x->ps, 256, 256) != 0) {
		free(x->c);
		free(x);
		return -1;
	}
	x->pc = out;
	x->atk = *atk;
	x->broker = *broker;
	x->now = start;
	x->rng.s = seed;
	x->feeds = feeds;
	x->n_feeds = n_feeds;
	x->next_port = (uint16_t)(32768 + tb_rng_next(&x->rng) % 20000);
	snprintf(x->attacker, sizeof(x->attacker), "%u.%u.%u.%u", atk->ip[0], atk->ip[1],
		 atk->ip[2], atk->ip[3]);
	snprintf(x->target, sizeof(x->target), "%u.%u.%u.%u:1883", broker->ip[0],
		 broker->ip[1], broker->ip[2], broker->ip[3]);
	x->io = (struct tb_io){
		.ud = x, .now = s_now, .sleep_until = s_sleep_until, .open = s_open,
		.send = s_send, .recv = s_recv, .close = s_close, .syn = s_syn,
		.attacker = x->attacker, .target = x->target, .mode = "synthetic",
	};
	int rc = tb_attack_run(o, &x->io, label, NULL);
	/* Connections the model left open end with the attacker's exit. */
	for (int i = 0; i < MAX_CONNS; i++)
		if (x->c[i].used)
			s_close(x, i);
	advance(x, x->now + 1000000);
	for (int i = 0; i < MAX_CONNS; i++)
		free(x->c[i].rx);
	for (size_t i = 0; i < x->n_ev; i++)
		free(x->ev[i].data);
	free(x->ev);
	free(x->c);
	mqtt_parser_deinit(&x->ps);
	free(x);
	return rc;
}
