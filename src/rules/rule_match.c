/*
 * rule_match.c - whether one compiled rule matches one event
 * (docs/rules.md). Checks run cheapest first: event kind, message type,
 * QoS, TCP flags and numbers, then ports and addresses, then strings
 * (topics, client ids, usernames, anomaly names). Nothing is allocated:
 * the detector calls this for every candidate rule of every packet.
 */
#include "rules/rules.h"

#include <string.h>

#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"

/* ---- addresses and ports ---- */

static bool cidr_has(const struct rule_cidr *c, uint8_t family,
		     const uint8_t *a)
{
	if (c->family != family)
		return false;
	unsigned full = c->bits / 8u, rem = c->bits % 8u;
	if (memcmp(c->addr, a, full) != 0)
		return false;
	if (!rem)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rem));
	return ((c->addr[full] ^ a[full]) & mask) == 0;
}

/* is_server: this end of the packet is the broker (for "broker"). */
static bool addr_match(const struct rule_addr *ra, uint8_t family,
		       const uint8_t *a, bool is_server)
{
	if (ra->any)
		return true;
	if ((family != 4 && family != 6) || !a)
		return false; /* no address: only "any" matches */
	bool in = ra->n_pos == 0 && !ra->broker;
	if (!in && ra->broker && is_server)
		in = true;
	for (uint32_t i = 0; !in && i < ra->n_pos; i++)
		in = cidr_has(&ra->pos[i], family, a);
	if (!in || (ra->not_broker && is_server))
		return false;
	for (uint32_t i = 0; i < ra->n_neg; i++)
		if (cidr_has(&ra->neg[i], family, a))
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

/* The header with the rule's source as the packet's sender (fwd) or as
 * its receiver (the other orientation of "<>"). */
static bool header_match(const struct rule *r, const struct det_event *ev,
			 bool fwd)
{
	uint16_t sp = fwd ? ev->sport : ev->dport;
	uint16_t dp = fwd ? ev->dport : ev->sport;
	if (!ports_match(&r->sport, sp) || !ports_match(&r->dport, dp))
		return false;
	const uint8_t *sa = fwd ? ev->src : ev->dst;
	const uint8_t *da = fwd ? ev->dst : ev->src;
	bool s_srv = ev->server == (fwd ? DET_SERVER_SRC : DET_SERVER_DST);
	bool d_srv = ev->server == (fwd ? DET_SERVER_DST : DET_SERVER_SRC);
	return addr_match(&r->src, ev->family, sa, s_srv) &&
	       addr_match(&r->dst, ev->family, da, d_srv);
}

/* ---- globs ---- */

/*
 * A bracket expression after its '[' (fnmatch(3): "!" or "^" negates, a
 * ']' first is literal, a-z ranges, backslash escapes). Returns the
 * pattern after the closing ']', or NULL when there is none (the '[' is
 * then an ordinary byte).
 */
static const char *bracket(const char *p, unsigned char c, bool *hit)
{
	bool neg = *p == '!' || *p == '^', in = false;
	if (neg)
		p++;
	const char *first = p;
	while (*p && (*p != ']' || p == first)) {
		if (*p == '\\' && p[1])
			p++;
		unsigned char lo = (unsigned char)*p++, hi = lo;
		if (p[0] == '-' && p[1] && p[1] != ']') {
			p++;
			if (*p == '\\' && p[1])
				p++;
			hi = (unsigned char)*p++;
		}
		in |= c >= lo && c <= hi;
	}
	if (*p != ']')
		return NULL;
	*hit = in != neg;
	return p + 1;
}

/*
 * fnmatch(3) with flags 0 over s[0..n) (a slice, not NUL-terminated):
 * '*', '?', brackets, backslash escapes, byte by byte. One backtrack
 * point (the last '*') keeps it O(len(pat) * n) whatever the pattern.
 */
static bool glob_match(const char *pat, const char *s, size_t n)
{
	const char *p = pat, *star = NULL;
	size_t i = 0, star_i = 0;
	while (i < n) {
		const char *np = NULL;
		bool ok = false;
		unsigned char c = (unsigned char)s[i];
		if (*p == '*') {
			star = ++p;
			star_i = i;
			continue;
		}
		if (*p == '?') {
			ok = true;
			np = p + 1;
		} else if (*p == '[') {
			np = bracket(p + 1, c, &ok);
			if (!np) {
				ok = c == '[';
				np = p + 1;
			}
		} else if (*p == '\\' && p[1]) {
			ok = c == (unsigned char)p[1];
			np = p + 2;
		} else if (*p) {
			ok = c == (unsigned char)*p;
			np = p + 1;
		}
		if (ok) {
			p = np;
			i++;
			continue;
		}
		if (!star)
			return false;
		p = star;
		i = ++star_i;
	}
	while (*p == '*')
		p++;
	return *p == 0;
}

/* Some plain glob matches (or there is none) and no "!glob" does. */
static bool globs_match(char *const *g, uint32_t n, const char *s, size_t len)
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
				if (topic_filters_overlap(r->topics[k],
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
		if (topic_matches(r->topics[k], t, tn))
			return true;
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
	bool session = r->n_client_ids || r->n_usernames;
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
		if ((session || r->version_mask) && !ev->st)
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
	if (session && !session_strings(r, ev))
		return false;
	if (ev->kind == DET_ANOMALY &&
	    !globs_match(r->anomalies, r->n_anomalies, ev->anomaly,
			 strlen(ev->anomaly)))
		return false;
	if (target_src)
		*target_src = fwd ? !r->target_dst : r->target_dst;
	return true;
}
