/* mqtt_build.c - test-side encoder for MQTT control packets (MQTT 5.0 §2-3). */
#include "mqtt_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mb_init(struct mb *b)
{
	memset(b, 0, sizeof(*b));
}

void mb_free(struct mb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void mb_reset(struct mb *b)
{
	b->len = 0;
}

static void mb_reserve(struct mb *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *np = realloc(b->p, cap);
	if (!np) {
		fputs("mqtt_build: out of memory\n", stderr);
		abort();
	}
	b->p = np;
	b->cap = cap;
}

void mb_raw(struct mb *b, const void *p, size_t n)
{
	mb_reserve(b, n ? n : 1);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void mb_cat(struct mb *b, const struct mb *src)
{
	mb_raw(b, src->p, src->len);
}

void mb_u8(struct mb *b, uint8_t v)
{
	mb_raw(b, &v, 1);
}

void mb_be16(struct mb *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	mb_raw(b, x, 2);
}

void mb_be32(struct mb *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };
	mb_raw(b, x, 4);
}

void mb_le32(struct mb *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };
	mb_raw(b, x, 4);
}

void mb_varint(struct mb *b, uint32_t v)
{
	do {
		uint8_t d = v & 0x7f;
		v >>= 7;
		if (v)
			d |= 0x80;
		mb_u8(b, d);
	} while (v);
}

void mb_lenbytes(struct mb *b, const void *p, size_t n)
{
	mb_be16(b, (uint16_t)n);
	mb_raw(b, p, n);
}

void mb_str(struct mb *b, const char *s)
{
	mb_lenbytes(b, s, strlen(s));
}

void mb_prop_u8(struct mb *props, uint8_t id, uint8_t v)
{
	mb_varint(props, id);
	mb_u8(props, v);
}

void mb_prop_u16(struct mb *props, uint8_t id, uint16_t v)
{
	mb_varint(props, id);
	mb_be16(props, v);
}

void mb_prop_u32(struct mb *props, uint8_t id, uint32_t v)
{
	mb_varint(props, id);
	mb_be32(props, v);
}

void mb_prop_varint(struct mb *props, uint8_t id, uint32_t v)
{
	mb_varint(props, id);
	mb_varint(props, v);
}

void mb_prop_str(struct mb *props, uint8_t id, const char *s)
{
	mb_varint(props, id);
	mb_str(props, s);
}

void mb_prop_bin(struct mb *props, uint8_t id, const void *p, size_t n)
{
	mb_varint(props, id);
	mb_lenbytes(props, p, n);
}

void mb_prop_pair(struct mb *props, const char *k, const char *v)
{
	mb_varint(props, 38);
	mb_str(props, k);
	mb_str(props, v);
}

void mb_props(struct mb *b, const struct mb *props)
{
	size_t n = props ? props->len : 0;
	mb_varint(b, (uint32_t)n);
	if (n)
		mb_raw(b, props->p, n);
}

void mb_packet(struct mb *out, uint8_t first_byte, const struct mb *body)
{
	mb_u8(out, first_byte);
	mb_varint(out, (uint32_t)body->len);
	mb_cat(out, body);
}

void mqtt_build_connect(struct mb *out, const struct connect_spec *c)
{
	struct mb b;
	mb_init(&b);
	const char *proto = c->proto ? c->proto
			    : c->version == 3 ? "MQIsdp" : "MQTT";
	uint8_t flags = c->extra_flags;
	if (c->clean)
		flags |= 0x02;
	if (c->will_topic) {
		flags |= 0x04 | (uint8_t)((c->will_qos & 3) << 3);
		if (c->will_retain)
			flags |= 0x20;
	}
	if (c->password)
		flags |= 0x40;
	if (c->username)
		flags |= 0x80;
	mb_str(&b, proto);
	mb_u8(&b, c->version);
	mb_u8(&b, flags);
	mb_be16(&b, c->keepalive);
	if (c->version == 5)
		mb_props(&b, c->props);
	mb_str(&b, c->client_id ? c->client_id : "");
	if (c->will_topic) {
		if (c->version == 5)
			mb_props(&b, c->will_props);
		mb_str(&b, c->will_topic);
		mb_str(&b, c->will_msg ? c->will_msg : "");
	}
	if (c->username)
		mb_str(&b, c->username);
	if (c->password)
		mb_str(&b, c->password);
	mb_packet(out, 0x10, &b);
	mb_free(&b);
}

void mqtt_build_connack(struct mb *out, uint8_t version, bool session_present,
			uint8_t code, const struct mb *props)
{
	struct mb b;
	mb_init(&b);
	mb_u8(&b, session_present ? 1 : 0);
	mb_u8(&b, code);
	if (version == 5)
		mb_props(&b, props);
	mb_packet(out, 0x20, &b);
	mb_free(&b);
}

void mqtt_build_publish(struct mb *out, uint8_t version, uint8_t qos,
			bool dup, bool retain, const char *topic,
			uint16_t msg_id, const struct mb *props,
			const void *payload, size_t payload_len)
{
	struct mb b;
	mb_init(&b);
	mb_str(&b, topic);
	if (qos)
		mb_be16(&b, msg_id);
	if (version == 5)
		mb_props(&b, props);
	mb_raw(&b, payload, payload_len);
	uint8_t fb = (uint8_t)(0x30 | ((qos & 3) << 1) | (dup ? 8 : 0) |
			       (retain ? 1 : 0));
	mb_packet(out, fb, &b);
	mb_free(&b);
}

void mqtt_build_ack(struct mb *out, uint8_t type, uint8_t version,
		    uint16_t msg_id, int reason, const struct mb *props)
{
	struct mb b;
	mb_init(&b);
	mb_be16(&b, msg_id);
	if (version == 5 && reason >= 0) {
		mb_u8(&b, (uint8_t)reason);
		if (props)
			mb_props(&b, props);
	}
	mb_packet(out, (uint8_t)((type << 4) | (type == 6 ? 2 : 0)), &b);
	mb_free(&b);
}

void mqtt_build_subscribe(struct mb *out, uint8_t version, uint16_t msg_id,
			  const struct mb *props, const char *const *topics,
			  const uint8_t *opts, size_t n)
{
	struct mb b;
	mb_init(&b);
	mb_be16(&b, msg_id);
	if (version == 5)
		mb_props(&b, props);
	for (size_t i = 0; i < n; i++) {
		mb_str(&b, topics[i]);
		mb_u8(&b, opts[i]);
	}
	mb_packet(out, 0x82, &b);
	mb_free(&b);
}

void mqtt_build_unsubscribe(struct mb *out, uint8_t version, uint16_t msg_id,
			    const struct mb *props, const char *const *topics,
			    size_t n)
{
	struct mb b;
	mb_init(&b);
	mb_be16(&b, msg_id);
	if (version == 5)
		mb_props(&b, props);
	for (size_t i = 0; i < n; i++)
		mb_str(&b, topics[i]);
	mb_packet(out, 0xa2, &b);
	mb_free(&b);
}

void mqtt_build_suback(struct mb *out, uint8_t type, uint8_t version,
		       uint16_t msg_id, const struct mb *props,
		       const uint8_t *codes, size_t n)
{
	struct mb b;
	mb_init(&b);
	mb_be16(&b, msg_id);
	if (version == 5)
		mb_props(&b, props);
	mb_raw(&b, codes, n);
	mb_packet(out, (uint8_t)(type << 4), &b);
	mb_free(&b);
}

void mqtt_build_reason(struct mb *out, uint8_t type, int reason,
		       const struct mb *props)
{
	struct mb b;
	mb_init(&b);
	if (reason >= 0) {
		mb_u8(&b, (uint8_t)reason);
		if (props)
			mb_props(&b, props);
	}
	mb_packet(out, (uint8_t)(type << 4), &b);
	mb_free(&b);
}

void mqtt_build_empty(struct mb *out, uint8_t type)
{
	mb_u8(out, (uint8_t)(type << 4));
	mb_u8(out, 0);
}
