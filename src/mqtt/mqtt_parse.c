/*
 * mqtt_parse.c - MQTT control packet decoder for 3.1 ("MQIsdp"), 3.1.1 and
 * 5.0. References: MQTT 3.1.1 §2-3 (OASIS 2014), MQTT 5.0 §2-3 (OASIS 2019).
 * All reads go through struct rd; slices point into the caller's buffer.
 */
#include "mqtt/mqtt_parse.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[16] = {
	"reserved", "connect", "connack", "publish", "puback", "pubrec",
	"pubrel", "pubcomp", "subscribe", "suback", "unsubscribe",
	"unsuback", "pingreq", "pingresp", "disconnect", "auth",
};

const char *mqtt_type_name(unsigned type)
{
	return type < 16 ? type_names[type] : "unknown";
}

static const char *const anom_names[MQTT_ANOM__COUNT] = {
	"reserved_flags", "invalid_qos_level", "connect_reserved_flag",
	"invalid_utf8", "utf8_null_character", "wildcard_in_publish_topic",
	"duplicate_property", "misplaced_property", "unknown_property",
	"topic_alias_zero", "invalid_protocol_name",
	"invalid_protocol_version", "trailing_bytes", "empty_topic",
	"no_topics", "invalid_connect_flags", "invalid_reason_code",
	"overlong_length_encoding", "too_many_properties",
	"too_many_topics", "invalid_subscription_options",
	"invalid_topic_filter", "zero_packet_id",
};

const char *mqtt_anom_name(unsigned bit_index)
{
	return bit_index < MQTT_ANOM__COUNT ? anom_names[bit_index] : "unknown";
}

const char *mqtt_parse_strerror(int err)
{
	switch (err) {
	case MQTT_PERR_SHORT: return "field runs past the remaining length";
	case MQTT_PERR_PROPLEN: return "property length exceeds the message";
	case MQTT_PERR_PROPERTY: return "property value runs past its block";
	case MQTT_PERR_FRAMING: return "invalid remaining length";
	case MQTT_PERR_VERSION: return "undecodable protocol level";
	default: return "ok";
	}
}

int mqtt_parser_init(struct mqtt_parser *ps, uint32_t max_props,
		     uint32_t max_topics)
{
	memset(ps, 0, sizeof(*ps));
	if (max_props < 2)
		max_props = 2;
	if (max_topics < 1)
		max_topics = 1;
	ps->props = calloc(max_props, sizeof(*ps->props));
	ps->topics = calloc(max_topics, sizeof(*ps->topics));
	if (!ps->props || !ps->topics) {
		mqtt_parser_deinit(ps);
		return -1;
	}
	ps->max_props = max_props;
	ps->max_topics = max_topics;
	return 0;
}

void mqtt_parser_deinit(struct mqtt_parser *ps)
{
	if (!ps)
		return;
	free(ps->props);
	free(ps->topics);
	memset(ps, 0, sizeof(*ps));
}

int mqtt_frame_peek(const uint8_t *p, size_t n, uint32_t *hdr_len,
		    uint32_t *rem_len, bool *overlong)
{
	struct rd r = rd_make(p, n);
	uint8_t b0;
	uint32_t len;
	if (!rd_u8(&r, &b0))
		return 0;
	int v = rd_varint(&r, &len);
	if (v == RD_VARINT_MORE)
		return 0;
	if (v == RD_VARINT_BAD)
		return -1;
	*overlong = v == RD_VARINT_OVERLONG;
	*hdr_len = (uint32_t)(r.p - p);
	*rem_len = len;
	return 1;
}

/* ---- properties (MQTT 5.0 §2.2.2) ---- */

/* Packet-type bits for the "where allowed" column; bit 16 = will props. */
#define P(t) (1u << (t))
#define PWILL (1u << 16)
#define PACKS (P(MQTT_PUBACK) | P(MQTT_PUBREC) | P(MQTT_PUBREL) | P(MQTT_PUBCOMP))

struct prop_def {
	const char *name;
	uint8_t kind;
	uint32_t where;
};

static const struct prop_def prop_defs[43] = {
	[1] = { "payload_format_indicator", MQTT_PROP_BYTE, P(MQTT_PUBLISH) | PWILL },
	[2] = { "message_expiry_interval", MQTT_PROP_U32, P(MQTT_PUBLISH) | PWILL },
	[3] = { "content_type", MQTT_PROP_UTF8, P(MQTT_PUBLISH) | PWILL },
	[8] = { "response_topic", MQTT_PROP_UTF8, P(MQTT_PUBLISH) | PWILL },
	[9] = { "correlation_data", MQTT_PROP_BINARY, P(MQTT_PUBLISH) | PWILL },
	[11] = { "subscription_identifier", MQTT_PROP_VARINT, P(MQTT_PUBLISH) | P(MQTT_SUBSCRIBE) },
	[17] = { "session_expiry_interval", MQTT_PROP_U32, P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	[18] = { "assigned_client_identifier", MQTT_PROP_UTF8, P(MQTT_CONNACK) },
	[19] = { "server_keep_alive", MQTT_PROP_U16, P(MQTT_CONNACK) },
	[21] = { "authentication_method", MQTT_PROP_UTF8, P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_AUTH) },
	[22] = { "authentication_data", MQTT_PROP_BINARY, P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_AUTH) },
	[23] = { "request_problem_information", MQTT_PROP_BYTE, P(MQTT_CONNECT) },
	[24] = { "will_delay_interval", MQTT_PROP_U32, PWILL },
	[25] = { "request_response_information", MQTT_PROP_BYTE, P(MQTT_CONNECT) },
	[26] = { "response_information", MQTT_PROP_UTF8, P(MQTT_CONNACK) },
	[28] = { "server_reference", MQTT_PROP_UTF8, P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	[31] = { "reason_string", MQTT_PROP_UTF8, P(MQTT_CONNACK) | PACKS | P(MQTT_SUBACK) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) | P(MQTT_AUTH) },
	[33] = { "receive_maximum", MQTT_PROP_U16, P(MQTT_CONNECT) | P(MQTT_CONNACK) },
	[34] = { "topic_alias_maximum", MQTT_PROP_U16, P(MQTT_CONNECT) | P(MQTT_CONNACK) },
	[35] = { "topic_alias", MQTT_PROP_U16, P(MQTT_PUBLISH) },
	[36] = { "maximum_qos", MQTT_PROP_BYTE, P(MQTT_CONNACK) },
	[37] = { "retain_available", MQTT_PROP_BYTE, P(MQTT_CONNACK) },
	[38] = { "user_property", MQTT_PROP_PAIR, 0x1ffffu },
	[39] = { "maximum_packet_size", MQTT_PROP_U32, P(MQTT_CONNECT) | P(MQTT_CONNACK) },
	[40] = { "wildcard_subscription_available", MQTT_PROP_BYTE, P(MQTT_CONNACK) },
	[41] = { "subscription_identifier_available", MQTT_PROP_BYTE, P(MQTT_CONNACK) },
	[42] = { "shared_subscription_available", MQTT_PROP_BYTE, P(MQTT_CONNACK) },
};

const char *mqtt_prop_name(uint8_t id)
{
	return id < 43 ? prop_defs[id].name : NULL;
}

static void check_utf8(struct mqtt_msg *m, struct slice s)
{
	enum utf8_check c = utf8_check(s.p, s.len);
	if (c == UTF8_INVALID)
		m->anomalies |= MQTT_ANOM_INVALID_UTF8;
	else if (c == UTF8_NULL)
		m->anomalies |= MQTT_ANOM_UTF8_NULL;
}

/*
 * Decodes a property block at r into scratch slots starting at *used.
 * where is the packet-type bit used for placement checks. Returns 0, or a
 * negative enum mqtt_parse_err. An unknown identifier ends the block (its
 * length is unknowable) but not the message.
 */
static int parse_props(struct mqtt_parser *ps, uint32_t *used, struct rd *r,
		       uint32_t where, struct mqtt_msg *m,
		       struct mqtt_props *out)
{
	uint32_t plen;
	int v = rd_varint(r, &plen);
	if (v == RD_VARINT_MORE)
		return MQTT_PERR_SHORT;
	if (v == RD_VARINT_BAD)
		return MQTT_PERR_PROPLEN;
	if (v == RD_VARINT_OVERLONG)
		m->anomalies |= MQTT_ANOM_OVERLONG_VARINT;
	struct slice blk;
	if (!rd_bytes(r, plen, &blk))
		return MQTT_PERR_PROPLEN;
	out->present = true;
	out->v = ps->props + *used;
	out->n = 0;
	out->dropped = 0;
	uint64_t seen = 0;
	struct rd b = rd_make(blk.p, blk.len);
	while (rd_left(&b)) {
		uint32_t id;
		v = rd_varint(&b, &id);
		if (v < 0 && v != RD_VARINT_OVERLONG)
			return MQTT_PERR_PROPERTY;
		if (v == RD_VARINT_MORE)
			return MQTT_PERR_PROPERTY;
		if (id >= 43 || !prop_defs[id].name) {
			m->anomalies |= MQTT_ANOM_UNKNOWN_PROPERTY;
			return 0;
		}
		struct mqtt_prop pr = { .id = (uint8_t)id };
		bool ok = true;
		uint8_t u8;
		uint16_t u16;
		switch (prop_defs[id].kind) {
		case MQTT_PROP_BYTE:
			ok = rd_u8(&b, &u8);
			pr.u = u8;
			break;
		case MQTT_PROP_U16:
			ok = rd_be16(&b, &u16);
			pr.u = u16;
			break;
		case MQTT_PROP_U32:
			ok = rd_be32(&b, &pr.u);
			break;
		case MQTT_PROP_VARINT:
			v = rd_varint(&b, &pr.u);
			ok = v == RD_VARINT_OK || v == RD_VARINT_OVERLONG;
			break;
		case MQTT_PROP_UTF8:
			ok = rd_lenstr(&b, &pr.s);
			if (ok)
				check_utf8(m, pr.s);
			break;
		case MQTT_PROP_BINARY:
			ok = rd_lenstr(&b, &pr.s);
			break;
		case MQTT_PROP_PAIR:
			ok = rd_lenstr(&b, &pr.s) && rd_lenstr(&b, &pr.v);
			if (ok) {
				check_utf8(m, pr.s);
				check_utf8(m, pr.v);
			}
			break;
		}
		if (!ok)
			return MQTT_PERR_PROPERTY;
		if (!(prop_defs[id].where & where))
			m->anomalies |= MQTT_ANOM_MISPLACED_PROPERTY;
		bool multi = id == 38 || (id == 11 && where == P(MQTT_PUBLISH));
		if ((seen & (1ull << id)) && !multi)
			m->anomalies |= MQTT_ANOM_DUP_PROPERTY;
		seen |= 1ull << id;
		if (id == 35 && pr.u == 0)
			m->anomalies |= MQTT_ANOM_TOPIC_ALIAS_ZERO;
		if (*used < ps->max_props) {
			ps->props[(*used)++] = pr;
			out->n++;
		} else {
			out->dropped++;
			m->anomalies |= MQTT_ANOM_TOO_MANY_PROPS;
		}
	}
	return 0;
}

/* ---- reason codes (MQTT 5.0 §2.4) ---- */

struct reason {
	uint8_t code;
	const char *name;
	uint16_t where; /* packet-type bits */
};

#define RC_ACK1 (P(MQTT_PUBACK) | P(MQTT_PUBREC))
#define RC_ACK2 (P(MQTT_PUBREL) | P(MQTT_PUBCOMP))
static const struct reason reasons[] = {
	{ 0x00, "success", P(MQTT_CONNACK) | RC_ACK1 | RC_ACK2 | P(MQTT_UNSUBACK) | P(MQTT_AUTH) | P(MQTT_SUBACK) | P(MQTT_DISCONNECT) },
	{ 0x01, "granted_qos_1", P(MQTT_SUBACK) },
	{ 0x02, "granted_qos_2", P(MQTT_SUBACK) },
	{ 0x04, "disconnect_with_will_message", P(MQTT_DISCONNECT) },
	{ 0x10, "no_matching_subscribers", RC_ACK1 },
	{ 0x11, "no_subscription_existed", P(MQTT_UNSUBACK) },
	{ 0x18, "continue_authentication", P(MQTT_AUTH) },
	{ 0x19, "re_authenticate", P(MQTT_AUTH) },
	{ 0x80, "unspecified_error", P(MQTT_CONNACK) | RC_ACK1 | P(MQTT_SUBACK) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) },
	{ 0x81, "malformed_packet", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x82, "protocol_error", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x83, "implementation_specific_error", P(MQTT_CONNACK) | RC_ACK1 | P(MQTT_SUBACK) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) },
	{ 0x84, "unsupported_protocol_version", P(MQTT_CONNACK) },
	{ 0x85, "client_identifier_not_valid", P(MQTT_CONNACK) },
	{ 0x86, "bad_user_name_or_password", P(MQTT_CONNACK) },
	{ 0x87, "not_authorized", P(MQTT_CONNACK) | RC_ACK1 | P(MQTT_SUBACK) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) },
	{ 0x88, "server_unavailable", P(MQTT_CONNACK) },
	{ 0x89, "server_busy", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x8A, "banned", P(MQTT_CONNACK) },
	{ 0x8B, "server_shutting_down", P(MQTT_DISCONNECT) },
	{ 0x8C, "bad_authentication_method", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x8D, "keep_alive_timeout", P(MQTT_DISCONNECT) },
	{ 0x8E, "session_taken_over", P(MQTT_DISCONNECT) },
	{ 0x8F, "topic_filter_invalid", P(MQTT_SUBACK) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) },
	{ 0x90, "topic_name_invalid", P(MQTT_CONNACK) | RC_ACK1 | P(MQTT_DISCONNECT) },
	{ 0x91, "packet_identifier_in_use", RC_ACK1 | P(MQTT_SUBACK) | P(MQTT_UNSUBACK) },
	{ 0x92, "packet_identifier_not_found", RC_ACK2 },
	{ 0x93, "receive_maximum_exceeded", P(MQTT_DISCONNECT) },
	{ 0x94, "topic_alias_invalid", P(MQTT_DISCONNECT) },
	{ 0x95, "packet_too_large", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x96, "message_rate_too_high", P(MQTT_DISCONNECT) },
	{ 0x97, "quota_exceeded", P(MQTT_CONNACK) | RC_ACK1 | P(MQTT_SUBACK) | P(MQTT_DISCONNECT) },
	{ 0x98, "administrative_action", P(MQTT_DISCONNECT) },
	{ 0x99, "payload_format_invalid", P(MQTT_CONNACK) | RC_ACK1 | P(MQTT_DISCONNECT) },
	{ 0x9A, "retain_not_supported", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x9B, "qos_not_supported", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x9C, "use_another_server", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x9D, "server_moved", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0x9E, "shared_subscriptions_not_supported", P(MQTT_SUBACK) | P(MQTT_DISCONNECT) },
	{ 0x9F, "connection_rate_exceeded", P(MQTT_CONNACK) | P(MQTT_DISCONNECT) },
	{ 0xA0, "maximum_connect_time", P(MQTT_DISCONNECT) },
	{ 0xA1, "subscription_identifiers_not_supported", P(MQTT_SUBACK) | P(MQTT_DISCONNECT) },
	{ 0xA2, "wildcard_subscriptions_not_supported", P(MQTT_SUBACK) | P(MQTT_DISCONNECT) },
};

static const char *const connack_v3[6] = {
	"connection_accepted", "unacceptable_protocol_version",
	"identifier_rejected", "server_unavailable",
	"bad_user_name_or_password", "not_authorized",
};

bool mqtt_reason_valid(uint8_t type, uint8_t code, uint8_t version)
{
	if (version < 5) {
		if (type == MQTT_CONNACK)
			return code <= 5;
		if (type == MQTT_SUBACK)
			return code <= 2 || code == 0x80;
		return true;
	}
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return type < 16 && (reasons[i].where & P(type));
	return false;
}

const char *mqtt_reason_name(uint8_t type, uint8_t code, uint8_t version)
{
	if (version < 5 && type == MQTT_CONNACK)
		return code <= 5 ? connack_v3[code] : "unknown";
	if (version < 5 && type == MQTT_SUBACK)
		return code == 0x80 ? "failure" : code == 0 ? "granted_qos_0"
					   : code <= 2 ? reasons[code].name : "unknown";
	if (type == MQTT_DISCONNECT && code == 0)
		return "normal_disconnection";
	if (type == MQTT_SUBACK && code == 0)
		return "granted_qos_0";
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return "unknown";
}

/* ---- topic names and filters (MQTT 5.0 §4.7) ---- */

static void check_topic_name(struct mqtt_msg *m, struct slice t)
{
	check_utf8(m, t);
	for (size_t i = 0; i < t.len; i++) {
		if (t.p[i] == '+' || t.p[i] == '#') {
			m->anomalies |= MQTT_ANOM_WILDCARD_PUBLISH;
			break;
		}
	}
}

static void check_topic_filter(struct mqtt_msg *m, struct slice t)
{
	check_utf8(m, t);
	if (t.len == 0) {
		m->anomalies |= MQTT_ANOM_INVALID_FILTER;
		return;
	}
	for (size_t i = 0; i < t.len; i++) {
		uint8_t c = t.p[i];
		if (c != '+' && c != '#')
			continue;
		bool level_start = i == 0 || t.p[i - 1] == '/';
		bool level_end = i + 1 == t.len || t.p[i + 1] == '/';
		if (!level_start || !level_end || (c == '#' && i + 1 != t.len)) {
			m->anomalies |= MQTT_ANOM_INVALID_FILTER;
			return;
		}
	}
}

/* ---- packets ---- */

static int parse_connect(struct mqtt_parser *ps, struct rd *r,
			 struct mqtt_msg *m)
{
	uint32_t used = 0;
	int err;
	if (!rd_lenstr(r, &m->protocol_name) ||
	    !rd_u8(r, &m->protocol_version) ||
	    !rd_u8(r, &m->connect_flags) || !rd_be16(r, &m->keepalive))
		return MQTT_PERR_SHORT;
	struct slice pn = m->protocol_name;
	bool is_mqtt = pn.len == 4 && memcmp(pn.p, "MQTT", 4) == 0;
	bool is_isdp = pn.len == 6 && memcmp(pn.p, "MQIsdp", 6) == 0;
	if (!is_mqtt && !is_isdp)
		m->anomalies |= MQTT_ANOM_PROTOCOL_NAME;
	uint8_t lv = m->protocol_version;
	if (lv < 3 || lv > 5 || (is_isdp && lv != 3) || (is_mqtt && lv == 3))
		m->anomalies |= MQTT_ANOM_PROTOCOL_VERSION;
	m->version = lv == 5 ? 5 : (lv == 3 ? 3 : 4);
	uint8_t f = m->connect_flags;
	m->has_username = f & 0x80;
	m->has_password = f & 0x40;
	m->has_will = f & 0x04;
	if (f & 0x01)
		m->anomalies |= MQTT_ANOM_CONNECT_RESERVED;
	uint8_t wqos = (f >> 3) & 3;
	if ((!m->has_will && (wqos || (f & 0x20))) || wqos == 3 ||
	    (m->version < 5 && m->has_password && !m->has_username))
		m->anomalies |= MQTT_ANOM_CONNECT_FLAGS;
	if (m->version == 5) {
		err = parse_props(ps, &used, r, P(MQTT_CONNECT), m, &m->props);
		if (err)
			return err;
	}
	if (!rd_lenstr(r, &m->client_id))
		return MQTT_PERR_SHORT;
	check_utf8(m, m->client_id);
	if (m->has_will) {
		if (m->version == 5) {
			err = parse_props(ps, &used, r, PWILL, m, &m->will_props);
			if (err)
				return err;
		}
		if (!rd_lenstr(r, &m->will_topic) ||
		    !rd_lenstr(r, &m->will_payload))
			return MQTT_PERR_SHORT;
		check_topic_name(m, m->will_topic);
	}
	if (m->has_username) {
		if (!rd_lenstr(r, &m->username))
			return MQTT_PERR_SHORT;
		check_utf8(m, m->username);
	}
	if (m->has_password && !rd_lenstr(r, &m->password))
		return MQTT_PERR_SHORT;
	return 0;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP (MQTT 5.0 §3.4-3.7). */
static int parse_ack(struct mqtt_parser *ps, struct rd *r, struct mqtt_msg *m)
{
	uint32_t used = 0;
	if (!rd_be16(r, &m->msg_id))
		return MQTT_PERR_SHORT;
	m->has_msg_id = true;
	if (m->version < 5)
		return 0;
	m->has_reason_code = true;
	if (rd_left(r) == 0)
		return 0; /* Remaining Length 2: success, no properties */
	rd_u8(r, &m->reason_code);
	if (rd_left(r) == 0)
		return 0;
	return parse_props(ps, &used, r, P(m->type), m, &m->props);
}

/* Packet identifier, then v5 properties: the start of (UN)SUBSCRIBE/(UN)SUBACK. */
static int parse_id_props(struct mqtt_parser *ps, struct rd *r,
			  struct mqtt_msg *m)
{
	uint32_t used = 0;
	if (!rd_be16(r, &m->msg_id))
		return MQTT_PERR_SHORT;
	m->has_msg_id = true;
	if (m->version == 5)
		return parse_props(ps, &used, r, P(m->type), m, &m->props);
	return 0;
}

static int parse_subscribe(struct mqtt_parser *ps, struct rd *r,
			   struct mqtt_msg *m, bool unsub)
{
	int err = parse_id_props(ps, r, m);
	if (err)
		return err;
	m->topics = ps->topics;
	while (rd_left(r)) {
		struct mqtt_topic t = { { NULL, 0 }, 0 };
		struct rd save = *r;
		if (!rd_lenstr(r, &t.name) || (!unsub && !rd_u8(r, &t.opts))) {
			*r = save;
			break; /* trailing bytes, reported below */
		}
		check_topic_filter(m, t.name);
		if (!unsub) {
			uint8_t reserved = m->version == 5 ? 0xc0 : 0xfc;
			if ((t.opts & reserved) || (t.opts & 3) == 3 ||
			    (m->version == 5 && ((t.opts >> 4) & 3) == 3))
				m->anomalies |= MQTT_ANOM_SUB_OPTIONS;
		}
		if (m->n_topics < ps->max_topics) {
			ps->topics[m->n_topics++] = t;
		} else {
			m->topics_dropped++;
			m->anomalies |= MQTT_ANOM_TOO_MANY_TOPICS;
		}
	}
	if (m->n_topics + m->topics_dropped == 0)
		m->anomalies |= MQTT_ANOM_NO_TOPICS;
	return 0;
}

/* SUBACK / UNSUBACK: packet id, v5 properties, then one code per topic. */
static int parse_suback(struct mqtt_parser *ps, struct rd *r,
			struct mqtt_msg *m)
{
	int err = parse_id_props(ps, r, m);
	if (err)
		return err;
	rd_bytes(r, rd_left(r), &m->codes);
	for (size_t i = 0; i < m->codes.len; i++) {
		if (m->type == MQTT_UNSUBACK && m->version < 5)
			break;
		if (!mqtt_reason_valid(m->type, m->codes.p[i], m->version))
			m->anomalies |= MQTT_ANOM_INVALID_REASON;
	}
	return 0;
}

static int parse_body(struct mqtt_parser *ps, struct rd *r, struct mqtt_msg *m)
{
	uint32_t used = 0;
	int err = 0;
	switch (m->type) {
	case MQTT_CONNECT:
		return parse_connect(ps, r, m);
	case MQTT_CONNACK: {
		uint8_t ack;
		if (!rd_u8(r, &ack) || !rd_u8(r, &m->return_code))
			return MQTT_PERR_SHORT;
		m->session_present = ack & 1;
		if (ack & 0xfe)
			m->anomalies |= MQTT_ANOM_RESERVED_FLAGS;
		m->has_reason_code = true;
		m->reason_code = m->return_code;
		if (!mqtt_reason_valid(MQTT_CONNACK, m->return_code, m->version))
			m->anomalies |= MQTT_ANOM_INVALID_REASON;
		if (m->version == 5 && rd_left(r))
			err = parse_props(ps, &used, r, P(MQTT_CONNACK), m, &m->props);
		return err;
	}
	case MQTT_PUBLISH:
		if (!rd_lenstr(r, &m->topic))
			return MQTT_PERR_SHORT;
		check_topic_name(m, m->topic);
		if (m->qos > 0) {
			if (!rd_be16(r, &m->msg_id))
				return MQTT_PERR_SHORT;
			m->has_msg_id = true;
		}
		if (m->version == 5) {
			err = parse_props(ps, &used, r, P(MQTT_PUBLISH), m, &m->props);
			if (err)
				return err;
		}
		if (m->topic.len == 0) {
			bool alias = false;
			for (uint16_t i = 0; i < m->props.n; i++)
				alias |= m->props.v[i].id == 35;
			if (!alias)
				m->anomalies |= MQTT_ANOM_EMPTY_TOPIC;
		}
		rd_bytes(r, rd_left(r), &m->payload);
		return 0;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		err = parse_ack(ps, r, m);
		if (!err && m->has_reason_code &&
		    !mqtt_reason_valid(m->type, m->reason_code, 5))
			m->anomalies |= MQTT_ANOM_INVALID_REASON;
		return err;
	case MQTT_SUBSCRIBE:
		return parse_subscribe(ps, r, m, false);
	case MQTT_UNSUBSCRIBE:
		return parse_subscribe(ps, r, m, true);
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		return parse_suback(ps, r, m);
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		return 0;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (m->version < 5 && m->type == MQTT_DISCONNECT)
			return 0;
		m->has_reason_code = true;
		if (rd_left(r) == 0)
			return 0; /* success, no properties */
		rd_u8(r, &m->reason_code);
		if (!mqtt_reason_valid(m->type, m->reason_code, 5))
			m->anomalies |= MQTT_ANOM_INVALID_REASON;
		if (rd_left(r) == 0)
			return 0;
		return parse_props(ps, &used, r, P(m->type), m, &m->props);
	default:
		/* Reserved type 0: the body has no defined layout. */
		rd_skip(r, rd_left(r));
		return 0;
	}
}

/* Required fixed-header flags per type (MQTT 3.1.1 §2.2.2); 0xff: any. */
static const uint8_t required_flags[16] = {
	0, 0, 0, 0xff, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0,
};

uint8_t mqtt_required_flags(uint8_t type)
{
	return required_flags[type & 15];
}

int mqtt_parse_msg(struct mqtt_parser *ps, const uint8_t *p, size_t n,
		   uint8_t version, struct mqtt_msg *m)
{
	uint32_t hdr_len, rem;
	bool overlong;
	memset(m, 0, sizeof(*m));
	if (mqtt_frame_peek(p, n, &hdr_len, &rem, &overlong) != 1 ||
	    (size_t)hdr_len + rem != n)
		return MQTT_PERR_FRAMING;
	m->type = p[0] >> 4;
	m->flags = p[0] & 0x0f;
	m->qos = (m->flags >> 1) & 3;
	m->dup = m->flags & 0x08;
	m->retain = m->flags & 0x01;
	m->hdr_len = hdr_len;
	m->remaining_length = rem;
	m->version = version ? version : 4;
	if (overlong)
		m->anomalies |= MQTT_ANOM_OVERLONG_VARINT;
	if (required_flags[m->type] != 0xff && m->flags != required_flags[m->type])
		m->anomalies |= MQTT_ANOM_RESERVED_FLAGS;
	if (m->qos == 3 && (m->type == MQTT_PUBLISH || m->type == MQTT_SUBSCRIBE ||
			    m->type == MQTT_UNSUBSCRIBE))
		m->anomalies |= MQTT_ANOM_INVALID_QOS;
	struct rd r = rd_make(p + hdr_len, rem);
	int err = parse_body(ps, &r, m);
	if (err)
		return err;
	if (m->has_msg_id && m->msg_id == 0)
		m->anomalies |= MQTT_ANOM_MISSING_MSG_ID;
	if (rd_left(&r))
		m->anomalies |= MQTT_ANOM_TRAILING_BYTES;
	return 0;
}
