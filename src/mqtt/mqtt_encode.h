/* mqtt_encode.h - encoding MQTT 3.1/3.1.1/5.0 control packets into a bounded buffer (the mirror of mqtt_parse). */
#ifndef MQTTIDS_MQTT_ENCODE_H
#define MQTTIDS_MQTT_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt_types.h"

/*
 * A bounded writer over [p, end): the mirror of struct rd. A write that does
 * not fit sets overflow and writes nothing, and every later write is refused
 * too, so a caller checks once at the end. n counts the bytes every write
 * asked for, fitting or not, so a writer over an empty buffer measures. bad
 * is set by a value the wire format cannot express (a string over 65535
 * bytes), which no buffer size cures.
 */
struct wr {
	uint8_t *p;
	uint8_t *end;
	bool overflow;
	bool bad;
	size_t n;
};

static inline struct wr wr_make(uint8_t *p, size_t len)
{
	struct wr w = { p, p ? p + len : NULL, false, false, 0 };
	return w;
}

static inline size_t wr_left(const struct wr *w)
{
	return (size_t)(w->end - w->p);
}

/* Reserves n bytes: returns where to write them, or NULL (overflow set). */
static inline uint8_t *wr_take(struct wr *w, size_t n)
{
	w->n += n;
	if (w->overflow || wr_left(w) < n) {
		w->overflow = true;
		return NULL;
	}
	uint8_t *at = w->p;
	w->p += n;
	return at;
}

static inline void wr_u8(struct wr *w, uint8_t v)
{
	uint8_t *q = wr_take(w, 1);
	if (q)
		q[0] = v;
}

static inline void wr_be16(struct wr *w, uint16_t v)
{
	uint8_t *q = wr_take(w, 2);
	if (q) {
		q[0] = (uint8_t)(v >> 8);
		q[1] = (uint8_t)v;
	}
}

static inline void wr_be32(struct wr *w, uint32_t v)
{
	uint8_t *q = wr_take(w, 4);
	if (q) {
		q[0] = (uint8_t)(v >> 24);
		q[1] = (uint8_t)(v >> 16);
		q[2] = (uint8_t)(v >> 8);
		q[3] = (uint8_t)v;
	}
}

static inline void wr_bytes(struct wr *w, const void *src, size_t n)
{
	uint8_t *q = wr_take(w, n);
	if (q)
		for (size_t i = 0; i < n; i++)
			q[i] = ((const uint8_t *)src)[i];
}

/* Bytes a minimal MQTT variable byte integer for v needs (1-4; 5 above the 28-bit maximum). */
static inline size_t wr_varint_size(uint32_t v)
{
	return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : v < 268435456u ? 4 : 5;
}

/*
 * MQTT variable byte integer (MQTT 5.0 §1.5.5) written in exactly width
 * bytes (0: minimal). A width above the minimum gives the overlong encoding
 * that the parser flags; width 5 gives the invalid five-byte form (attack
 * generator). Values above 2^28-1 only fit in width 5.
 */
static inline void wr_varint_w(struct wr *w, uint32_t v, unsigned width)
{
	if (width == 0)
		width = (unsigned)wr_varint_size(v);
	for (unsigned i = 0; i < width; i++) {
		uint8_t b = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (i + 1 < width)
			b |= 0x80;
		wr_u8(w, b);
	}
}

static inline void wr_varint(struct wr *w, uint32_t v)
{
	wr_varint_w(w, v, 0);
}

/*
 * Two-byte length then the bytes (MQTT 5.0 §1.5.4, §1.5.6). Longer than
 * 65535 bytes cannot be said on the wire: sets bad.
 */
static inline void wr_lenstr(struct wr *w, struct slice s)
{
	if (s.len > 0xffff) {
		w->bad = true;
		return;
	}
	wr_be16(w, (uint16_t)s.len);
	wr_bytes(w, s.p, s.len);
}

/* A slice over a C string (NULL: empty). */
struct slice mqtt_str(const char *s);

/*
 * Deliberate lies in the fixed header, for the attack generator and tests.
 * first_byte >= 0 replaces the computed type/flags byte; remaining_length
 * >= 0 replaces the true body length (the body is still written as is);
 * rl_width 1-5 forces that many remaining-length bytes (overlong or the
 * invalid 5-byte form), 0 means minimal.
 */
struct mqtt_enc_hdr {
	int first_byte;
	int64_t remaining_length;
	unsigned rl_width;
};

enum mqtt_enc_err {
	MQTT_EENC_NONE = 0,
	MQTT_EENC_SPACE = -1,  /* the buffer is too small; *len says how much is needed */
	MQTT_EENC_TOO_BIG = -2, /* body over 268,435,455 bytes, or a string over 65,535 */
	MQTT_EENC_TYPE = -3,   /* type 0 or above 15 */
};

/*
 * Encodes the control packet m describes into buf[0..cap) and sets *len to
 * its size. Returns 0, or a negative enum mqtt_enc_err; on MQTT_EENC_SPACE
 * *len is the size needed and buf holds garbage. hdr may be NULL (an honest
 * header). Nothing is allocated and m is not changed.
 *
 * Which fields of struct mqtt_msg are read:
 *  - all: type, version (3, 4 or 5; 0 means 4). The fixed-header flags are
 *    the ones the type requires; PUBLISH takes qos (3 allowed), dup, retain.
 *  - CONNECT: protocol_name (empty: "MQIsdp" for 3, else "MQTT"),
 *    protocol_version (0: version), connect_flags (clean session, will QoS,
 *    will retain and any deliberately wrong bit), to which has_will,
 *    has_username and has_password add their flags and fields; keepalive,
 *    client_id, v5 props and will_props, will_topic, will_payload, username,
 *    password.
 *  - CONNACK: session_present, return_code (v3/v4 return code or v5 reason),
 *    v5 props (the property length is always written in v5).
 *  - PUBLISH: topic, msg_id (when qos > 0), v5 props, payload.
 *  - PUBACK/PUBREC/PUBREL/PUBCOMP: msg_id; in v5 the reason code is written
 *    when has_reason_code or properties are present, the property block when
 *    props.present or props.n > 0 (MQTT 5.0 §3.4.2.1: both may be omitted).
 *  - SUBSCRIBE/UNSUBSCRIBE: msg_id, v5 props, topics[0..n_topics) with opts
 *    (SUBSCRIBE only).
 *  - SUBACK/UNSUBACK: msg_id, v5 props, codes (written as given, so a
 *    3.1.1 UNSUBACK passes an empty slice).
 *  - PINGREQ/PINGRESP: nothing. DISCONNECT: nothing before v5. v5
 *    DISCONNECT and AUTH: like the v5 acks, reason code and properties.
 * Property values come from struct mqtt_prop by the kind MQTT 5.0 §2.2.2.2
 * gives the identifier; an unknown identifier is written followed by the
 * raw bytes of s (for malformed traffic).
 */
int mqtt_encode(const struct mqtt_msg *m, const struct mqtt_enc_hdr *hdr,
		uint8_t *buf, size_t cap, size_t *len);

/* Writes a v5 property block (length then properties) to w. */
void mqtt_encode_props(struct wr *w, const struct mqtt_prop *v, size_t n);

#endif
