/*
 * rule_match.c - whether one compiled rule matches one event
 * (docs/rules.md). Checks run cheapest first: event kind, message type,
 * QoS, TCP flags and numbers, then ports and addresses, then strings
 * (topics, client ids, usernames, anomaly names). Nothing is allocated:
 * the detector calls this for every candidate rule of every packet.
 */
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"
#include "mqtt/mqtt_topic.h"
#include "util/glob.h"

#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"

/* ---- addresses and ports ---- */

static inline uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t be64(const uint8_t *p)
{
	return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* An address as machine words, loaded once per set. */
struct aw {
	uint8_t family;
	uint32_t v4;
	uint64_t hi, lo;
};

/* Prefix compare in machine words: the hot path of address rules. The
 * masks are computed with shifts that stay defined for every length. */
static inline bool cidr_has(const struct rule_cidr *c, const struct aw *a)
{
	unsigned bits = c->bits;
	if (c->family != a->family)
		return false;
	if (a->family == 4) {
		uint32_t m = (uint32_t)(~0ull << (32 - (bits & 63)));
		return ((be32(c->addr) ^ a->v4) & m) == 0;
	}
	uint64_t hm = bits >= 64 ? ~0ull : bits ? ~0ull << (64 - bits) : 0;
	uint64_t lm = bits <= 64 ? 0 : ~0ull << (128 - bits);
	return ((be64(c->addr) ^ a->hi) & hm) == 0 &&
	       ((be64(c->addr + 8) ^ a->lo) & lm) == 0;
}

/* is_server: this end of the packet is the broker (for "broker"). */
static bool addr_match(const struct rule_addr *ra, uint8_t family,
		       const uint8_t *a, bool is_server)
{
	if (ra->any)
		return true;
	if ((family != 4 && family != 6) || !a)
		return false; /* no address: only "any" matches */
	struct aw w = { family, 0, 0, 0 };
	if (family == 4) {
		w.v4 = be32(a);
	} else {
		w.hi = be64(a);
		w.lo = be64(a + 8);
	}
	bool in = ra->n_pos == 0 && !ra->broker;
	if (!in && ra->broker && is_server)
		in = true;
	for (uint32_t i = 0; !in && i < ra->n_pos; i++)
		in = cidr_has(&ra->pos[i], &w);
	if (!in || (ra->not_broker && is_server))
		return false;
	for (uint32_t i = 0; i < ra->n_neg; i++)
		if (cidr_has(&ra->neg[i], &w))
			return false;
	return true;
}

static bool ports_match(const struct rule_ports *rp, uint16_t port)
{
	if (rp->any)
		return true;
	bool has_pos = false, in = false;
	for (uint32_t i = 0; i < rp->n; i++) {
		bool hit = port >= rp->r[i].lo && port <= rp->r[i].hi;
		if (rp->r[i].neg) {
			if (hit)
				return false;
		} else {
			has_pos = true;
			in |= hit;
		}
	}
	return !has_pos || in;
}

/* The common sets ("any", "broker" alone as $SELF) without a call. */
static inline bool addr_ok(const struct rule_addr *ra, uint8_t family,
			   const uint8_t *a, bool is_server)
{
	if (ra->any)
		return true;
	if (ra->broker && !ra->n_pos && !ra->n_neg && !ra->not_broker)
		return is_server;
	return addr_match(ra, family, a, is_server);
}

/* The header with the rule's source as the packet's sender (fwd) or as
 * its receiver (the other orientation of "<>"). Ports first: cheaper. */
static inline bool header_match(const struct rule *r,
				const struct det_event *ev, bool fwd)
{
	uint16_t sp = fwd ? ev->sport : ev->dport;
	uint16_t dp = fwd ? ev->dport : ev->sport;
	if ((!r->sport.any && !ports_match(&r->sport, sp)) ||
	    (!r->dport.any && !ports_match(&r->dport, dp)))
		return false;
	const uint8_t *sa = fwd ? ev->src : ev->dst;
	const uint8_t *da = fwd ? ev->dst : ev->src;
	bool s_srv = ev->server == (fwd ? DET_SERVER_SRC : DET_SERVER_DST);
	bool d_srv = ev->server == (fwd ? DET_SERVER_DST : DET_SERVER_SRC);
	return addr_ok(&r->src, ev->family, sa, s_srv) &&
	       addr_ok(&r->dst, ev->family, da, d_srv);
}

/* ---- globs ---- */

/* Some plain glob matches (or there is none) and no "!glob" does. */
bool globs_match(char *const *g, uint32_t n, const char *s, size_t len)
{
	bool has_pos = false, pos = false;
	for (uint32_t i = 0; i < n; i++) {
		if (g[i][0] == '!') {
			if (glob_match(g[i] + 1, s, len))
				return false;
		} else {
			has_pos = true;
			pos = pos || glob_match(g[i], s, len);
		}
	}
	return !has_pos || pos;
}

/* ---- MQTT options ---- */

static bool num_match(const struct rule_num *c, uint64_t x)
{
	switch (c->op) {
	case CMP_EQ: return x == c->v;
	case CMP_NE: return x != c->v;
	case CMP_LT: return x < c->v;
	case CMP_LE: return x <= c->v;
	case CMP_GT: return x > c->v;
	case CMP_GE: return x >= c->v;
	default: return true;
	}
}

static bool qos_match(const struct rule *r, const struct mqtt_msg *m)
{
	switch (m->type) {
	case MQTT_PUBLISH:
		return r->qos_mask & (1u << (m->qos & 3));
	case MQTT_SUBSCRIBE:
		for (uint32_t i = 0; i < m->n_topics; i++)
			if (r->qos_mask & (1u << (m->topics[i].opts & 3)))
				return true;
		return false;
	case MQTT_CONNECT:
		return m->has_will &&
		       (r->qos_mask & (1u << ((m->connect_flags >> 3) & 3)));
	default:
		return false;
	}
}

static bool code_in(const struct rule *r, uint8_t c)
{
	return (r->retcodes[c >> 6] >> (c & 63)) & 1;
}

/* CONNACK return code (3.1.1) or reason code (5.0), the reason code of
 * v5 acks, DISCONNECT and AUTH, and every code of SUBACK/UNSUBACK. */
static bool retcode_match(const struct rule *r, const struct mqtt_msg *m)
{
	/* the types that carry a code (as the index assumes) */
	static const uint16_t with_code = (1u << MQTT_CONNACK) |
		(1u << MQTT_PUBACK) | (1u << MQTT_PUBREC) | (1u << MQTT_PUBREL) |
		(1u << MQTT_PUBCOMP) | (1u << MQTT_SUBACK) |
		(1u << MQTT_UNSUBACK) | (1u << MQTT_DISCONNECT) |
		(1u << MQTT_AUTH);
	if (!(with_code & (1u << (m->type & 15))))
		return false;
	if (m->has_reason_code) {
		uint8_t c = m->reason_code;
		if (code_in(r, c))
			return true;
		if (m->type == MQTT_CONNACK && m->version < 5 && c <= 5 &&
		    ((r->retcodes_v3 >> c) & 1))
			return true;
	}
	if (m->type == MQTT_SUBACK || m->type == MQTT_UNSUBACK)
		for (size_t i = 0; i < m->codes.len; i++)
			if (code_in(r, m->codes.p[i]))
				return true;
	return false;
}

static unsigned msg_version(const struct mqtt_msg *m,
			    const struct mqtt_state *st)
{
	if (m->type == MQTT_CONNECT)
		return m->protocol_version;
	if (m->version)
		return m->version;
	return st ? st->version : 0;
}

static bool version_in(const struct rule *r, unsigned v)
{
	return v < 8 && (r->version_mask & (1u << v));
}

/* The payload a size applies to; false when the message has none. An
 * oversize PUBLISH (body not decoded) counts its remaining length. */
static bool payload_len(const struct mqtt_msg *m, uint64_t *len)
{
	if (m->type == MQTT_PUBLISH) {
		*len = m->truncated ? m->remaining_length : m->payload.len;
		return true;
	}
	if (m->type == MQTT_CONNECT && m->has_will) {
		*len = m->will_payload.len;
		return true;
	}
	return false;
}

/* Everything about the message but strings. */
static bool mqtt_fields(const struct rule *r, const struct det_event *ev)
{
	const struct mqtt_msg *m = ev->msg;
	uint16_t tm = r->match_types ? r->match_types
		      : r->msg_types ? r->msg_types : 0xffffu;
	uint64_t len;
	if (!(tm & (1u << (m->type & 15))))
		return false;
	if (r->qos_mask && !qos_match(r, m))
		return false;
	if (r->version_mask && !version_in(r, msg_version(m, ev->st)))
		return false;
	if (r->has_retcode && !retcode_match(r, m))
		return false;
	if (r->payload_size.op &&
	    (!payload_len(m, &len) || !num_match(&r->payload_size, len)))
		return false;
	if (r->keepalive.op && (m->type != MQTT_CONNECT ||
				!num_match(&r->keepalive, m->keepalive)))
		return false;
	return true;
}

static bool topics_match(const struct rule *r, const struct mqtt_msg *m)
{
	const char *t;
	size_t tn;
	switch (m->type) {
	case MQTT_PUBLISH:
		t = (const char *)m->topic.p;
		tn = m->topic.len;
		break;
	case MQTT_CONNECT:
		if (!m->has_will)
			return false;
		t = (const char *)m->will_topic.p;
		tn = m->will_topic.len;
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		for (uint32_t i = 0; i < m->n_topics; i++) {
			const char *s = (const char *)m->topics[i].name.p;
			size_t sn = m->topics[i].name.len;
			for (uint32_t k = 0; k < r->n_topics; k++)
				if (mqtt_topic_overlap(r->topics[k],
							  s ? s : "", sn))
					return true;
		}
		return false;
	default:
		return false;
	}
	if (!t)
		t = "";
	for (uint32_t k = 0; k < r->n_topics; k++)
		if (mqtt_topic_match(r->topics[k], t, tn))
			return true;
	return false;
}

/*
 * filter: the (UN)SUBSCRIBE's filters as text, each tried as sent and,
 * for a shared subscription "$share/GROUP/F" (MQTT 5.0 §4.8.2), as F.
 */
static bool filters_match(const struct rule *r, const struct mqtt_msg *m)
{
	static const char pre[] = "$share/";
	if (m->type != MQTT_SUBSCRIBE && m->type != MQTT_UNSUBSCRIBE)
		return false;
	for (uint32_t i = 0; i < m->n_topics; i++) {
		const char *s = (const char *)m->topics[i].name.p;
		size_t n = m->topics[i].name.len;
		if (!s)
			s = "";
		if (globs_match(r->filters, r->n_filters, s, n))
			return true;
		if (n <= sizeof(pre) - 1 || memcmp(s, pre, sizeof(pre) - 1))
			continue;
		const char *g = s + sizeof(pre) - 1;
		const char *slash = memchr(g, '/', n - (size_t)(g - s));
		if (slash && globs_match(r->filters, r->n_filters, slash + 1,
					 n - (size_t)(slash + 1 - s)))
			return true;
	}
	return false;
}

/* client_id and username: a CONNECT's own fields, else the session's. */
static bool session_strings(const struct rule *r, const struct det_event *ev)
{
	const struct mqtt_msg *m = ev->kind == DET_MQTT ? ev->msg : NULL;
	const struct mqtt_state *st = ev->st;
	if (r->n_client_ids) {
		const char *s = "";
		size_t n = 0;
		if (m && m->type == MQTT_CONNECT) {
			s = m->client_id.p ? (const char *)m->client_id.p : "";
			n = m->client_id.len;
		} else if (st && st->client_id) {
			s = st->client_id;
			n = strlen(s);
		}
		if (!globs_match(r->client_ids, r->n_client_ids, s, n))
			return false;
	}
	if (r->n_usernames) {
		const char *s = "";
		size_t n = 0;
		if (m && m->type == MQTT_CONNECT) {
			if (m->has_username && m->username.p) {
				s = (const char *)m->username.p;
				n = m->username.len;
			}
		} else if (st && st->username) {
			s = st->username;
			n = strlen(s);
		}
		if (!globs_match(r->usernames, r->n_usernames, s, n))
			return false;
	}
	return true;
}

/* ---- the rule ---- */

bool rule_match(const struct rule *r, const struct det_event *ev,
		bool *target_src)
{
	switch (ev->kind) {
	case DET_TCP:
		if (r->proto != RULE_TCP || r->n_anomalies)
			return false;
		if (r->has_flags) {
			uint8_t f = ev->tcp_flags & r->flags_mask;
			if (r->flags_any ? f == 0 : f != r->flags_value)
				return false;
		}
		break;
	case DET_MQTT:
		if (r->proto != RULE_MQTT || r->n_anomalies || !ev->msg ||
		    !mqtt_fields(r, ev))
			return false;
		break;
	case DET_ANOMALY:
		if (!r->n_anomalies || !ev->anomaly)
			return false;
		/* session options need a session (none for decoder events) */
		if ((r->n_client_ids || r->n_usernames || r->version_mask) &&
		    !ev->st)
			return false;
		if (r->version_mask && !version_in(r, ev->st->version))
			return false;
		break;
	default:
		return false;
	}
	bool fwd = header_match(r, ev, true);
	if (!fwd && !(r->bidir && header_match(r, ev, false)))
		return false;
	if (ev->kind == DET_MQTT && r->n_topics && !topics_match(r, ev->msg))
		return false;
	if (ev->kind == DET_MQTT && r->n_filters && !filters_match(r, ev->msg))
		return false;
	if ((r->n_client_ids || r->n_usernames) && !session_strings(r, ev))
		return false;
	if (ev->kind == DET_ANOMALY &&
	    !globs_match(r->anomalies, r->n_anomalies, ev->anomaly,
			 strlen(ev->anomaly)))
		return false;
	if (target_src)
		*target_src = fwd ? !r->target_dst : r->target_dst;
	return true;
}
