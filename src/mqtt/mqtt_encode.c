/*
 * mqtt_encode.c - MQTT control packet encoder for 3.1 ("MQIsdp"), 3.1.1 and
 * 5.0, the mirror of mqtt_parse.c. References: MQTT 3.1.1 §2-3 (OASIS
 * 2014), MQTT 5.0 §2-3 (OASIS 2019). All writes go through struct wr.
 */
#include "mqtt/mqtt_encode.h"

#include "mqtt/mqtt_parse.h"

#include <string.h>

struct slice mqtt_str(const char *s)
{
	struct slice r = { (const uint8_t *)s, s ? strlen(s) : 0 };
	return r;
}

/* Value kind per property identifier (MQTT 5.0 §2.2.2.2); 0xff: undefined. */
static uint8_t prop_kind(uint8_t id)
{
	switch (id) {
	case 1: case 23: case 25: case 36: case 37: case 40: case 41: case 42:
		return MQTT_PROP_BYTE;
	case 19: case 33: case 34: case 35:
		return MQTT_PROP_U16;
	case 2: case 17: case 24: case 39:
		return MQTT_PROP_U32;
	case 11:
		return MQTT_PROP_VARINT;
	case 3: case 8: case 18: case 21: case 26: case 28: case 31:
		return MQTT_PROP_UTF8;
	case 9: case 22:
		return MQTT_PROP_BINARY;
	case 38:
		return MQTT_PROP_PAIR;
	default:
		return 0xff;
	}
}

static void put_prop(struct wr *w, const struct mqtt_prop *pr)
{
	wr_varint(w, pr->id);
	switch (prop_kind(pr->id)) {
	case MQTT_PROP_BYTE: wr_u8(w, (uint8_t)pr->u); break;
	case MQTT_PROP_U16: wr_be16(w, (uint16_t)pr->u); break;
	case MQTT_PROP_U32: wr_be32(w, pr->u); break;
	case MQTT_PROP_VARINT: wr_varint(w, pr->u); break;
	case MQTT_PROP_UTF8:
	case MQTT_PROP_BINARY: wr_lenstr(w, pr->s); break;
	case MQTT_PROP_PAIR:
		wr_lenstr(w, pr->s);
		wr_lenstr(w, pr->v);
		break;
	default: wr_bytes(w, pr->s.p, pr->s.len); break;
	}
}

void mqtt_encode_props(struct wr *w, const struct mqtt_prop *v, size_t n)
{
	/* Measure first so the length prefix needs no buffer of its own. */
	struct wr m = wr_make(NULL, 0);
	for (size_t i = 0; i < n; i++)
		put_prop(&m, &v[i]);
	if (m.n > 268435455u || m.bad) {
		w->bad = true;
		return;
	}
	wr_varint(w, (uint32_t)m.n);
	for (size_t i = 0; i < n; i++)
		put_prop(w, &v[i]);
}

static void put_mprops(struct wr *w, const struct mqtt_props *p)
{
	mqtt_encode_props(w, p->v, p->n);
}

static void put_connect(struct wr *w, const struct mqtt_msg *m, uint8_t ver)
{
	struct slice name = m->protocol_name;
	if (!name.len)
		name = mqtt_str(ver == 3 ? "MQIsdp" : "MQTT");
	uint8_t level = m->protocol_version ? m->protocol_version : ver;
	uint8_t f = m->connect_flags;
	if (m->has_will)
		f |= 0x04;
	if (m->has_password)
		f |= 0x40;
	if (m->has_username)
		f |= 0x80;
	wr_lenstr(w, name);
	wr_u8(w, level);
	wr_u8(w, f);
	wr_be16(w, m->keepalive);
	if (ver == 5)
		put_mprops(w, &m->props);
	wr_lenstr(w, m->client_id);
	if (m->has_will) {
		if (ver == 5)
			put_mprops(w, &m->will_props);
		wr_lenstr(w, m->will_topic);
		wr_lenstr(w, m->will_payload);
	}
	if (m->has_username)
		wr_lenstr(w, m->username);
	if (m->has_password)
		wr_lenstr(w, m->password);
}

/* v5 reason code and properties of the acks, DISCONNECT and AUTH. */
static void put_reason_props(struct wr *w, const struct mqtt_msg *m)
{
	bool props = m->props.present || m->props.n > 0;
	if (m->has_reason_code || props)
		wr_u8(w, m->reason_code);
	if (props)
		put_mprops(w, &m->props);
}

static void put_body(struct wr *w, const struct mqtt_msg *m, uint8_t ver)
{
	switch (m->type) {
	case MQTT_CONNECT:
		put_connect(w, m, ver);
		break;
	case MQTT_CONNACK:
		wr_u8(w, m->session_present ? 1 : 0);
		wr_u8(w, m->return_code);
		if (ver == 5)
			put_mprops(w, &m->props);
		break;
	case MQTT_PUBLISH:
		wr_lenstr(w, m->topic);
		if (m->qos > 0)
			wr_be16(w, m->msg_id);
		if (ver == 5)
			put_mprops(w, &m->props);
		wr_bytes(w, m->payload.p, m->payload.len);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		wr_be16(w, m->msg_id);
		if (ver == 5)
			put_reason_props(w, m);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		wr_be16(w, m->msg_id);
		if (ver == 5)
			put_mprops(w, &m->props);
		for (uint32_t i = 0; i < m->n_topics; i++) {
			wr_lenstr(w, m->topics[i].name);
			if (m->type == MQTT_SUBSCRIBE)
				wr_u8(w, m->topics[i].opts);
		}
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		wr_be16(w, m->msg_id);
		if (ver == 5)
			put_mprops(w, &m->props);
		wr_bytes(w, m->codes.p, m->codes.len);
		break;
	case MQTT_DISCONNECT:
		if (ver == 5)
			put_reason_props(w, m);
		break;
	case MQTT_AUTH:
		put_reason_props(w, m);
		break;
	default: /* PINGREQ, PINGRESP: no body */
		break;
	}
}

int mqtt_encode(const struct mqtt_msg *m, const struct mqtt_enc_hdr *hdr,
		uint8_t *buf, size_t cap, size_t *len)
{
	if (m->type == MQTT_RESERVED || m->type > 15)
		return MQTT_EENC_TYPE;
	uint8_t ver = m->version ? m->version : 4;

	/* Pass 1 measures the body, pass 2 writes header and body in place. */
	struct wr meas = wr_make(NULL, 0);
	put_body(&meas, m, ver);
	if (meas.n > 268435455u)
		return MQTT_EENC_TOO_BIG;
	if (meas.bad)
		return MQTT_EENC_TOO_BIG;

	uint8_t first;
	if (hdr && hdr->first_byte >= 0) {
		first = (uint8_t)hdr->first_byte;
	} else if (m->type == MQTT_PUBLISH) {
		first = (uint8_t)((MQTT_PUBLISH << 4) | (m->dup ? 8 : 0) |
				  ((m->qos & 3) << 1) | (m->retain ? 1 : 0));
	} else {
		first = (uint8_t)((m->type << 4) | mqtt_required_flags(m->type));
	}
	uint32_t rl = (uint32_t)meas.n;
	unsigned width = 0;
	if (hdr && hdr->remaining_length >= 0)
		rl = (uint32_t)hdr->remaining_length;
	if (hdr)
		width = hdr->rl_width;
	if (width > 5)
		return MQTT_EENC_TOO_BIG;

	struct wr w = wr_make(buf, cap);
	wr_u8(&w, first);
	wr_varint_w(&w, rl, width);
	put_body(&w, m, ver);
	*len = w.n;
	return w.overflow ? MQTT_EENC_SPACE : 0;
}
