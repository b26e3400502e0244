/* mqtt_build.h - test-side encoder for MQTT 3.1/3.1.1/5.0 control packets. */
#ifndef MQTTIDS_TEST_MQTT_BUILD_H
#define MQTTIDS_TEST_MQTT_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A growable byte buffer. Tests build packets field by field with it, so a
 * test reads like the spec's field list instead of an opaque hex blob.
 * Allocation failure aborts the test program (tests only).
 */
struct mb {
	uint8_t *p;
	size_t len;
	size_t cap;
};

void mb_init(struct mb *b);
void mb_free(struct mb *b);
void mb_reset(struct mb *b);
void mb_u8(struct mb *b, uint8_t v);
void mb_be16(struct mb *b, uint16_t v);
void mb_be32(struct mb *b, uint32_t v);
void mb_le32(struct mb *b, uint32_t v);
/* MQTT variable byte integer, minimally encoded (MQTT 5.0 §1.5.5). */
void mb_varint(struct mb *b, uint32_t v);
void mb_raw(struct mb *b, const void *p, size_t n);
void mb_cat(struct mb *b, const struct mb *src);
/* Two-byte length then the bytes (MQTT 5.0 §1.5.4, §1.5.6). */
void mb_lenbytes(struct mb *b, const void *p, size_t n);
void mb_str(struct mb *b, const char *s);

/* v5 properties (MQTT 5.0 §2.2.2.2): identifier then value. */
void mb_prop_u8(struct mb *props, uint8_t id, uint8_t v);
void mb_prop_u16(struct mb *props, uint8_t id, uint16_t v);
void mb_prop_u32(struct mb *props, uint8_t id, uint32_t v);
void mb_prop_varint(struct mb *props, uint8_t id, uint32_t v);
void mb_prop_str(struct mb *props, uint8_t id, const char *s);
void mb_prop_bin(struct mb *props, uint8_t id, const void *p, size_t n);
void mb_prop_pair(struct mb *props, const char *k, const char *v);
/* Writes the property length and the block (NULL: an empty block). */
void mb_props(struct mb *b, const struct mb *props);

/* Appends first byte, remaining length and body: one framed packet. */
void mb_packet(struct mb *out, uint8_t first_byte, const struct mb *body);

/* CONNECT fields; unset pointers mean "absent". */
struct connect_spec {
	uint8_t version;          /* 3 (MQIsdp), 4 or 5 */
	const char *proto;        /* NULL: "MQIsdp" for 3, else "MQTT" */
	bool clean;
	uint8_t extra_flags;      /* OR-ed into the connect flags */
	uint16_t keepalive;
	const struct mb *props;   /* v5 only; NULL: empty block */
	const char *client_id;    /* NULL: "" */
	const char *will_topic;   /* non-NULL: will flag set */
	const char *will_msg;
	uint8_t will_qos;
	bool will_retain;
	const struct mb *will_props;
	const char *username;
	const char *password;
};

void mqtt_build_connect(struct mb *out, const struct connect_spec *c);
void mqtt_build_connack(struct mb *out, uint8_t version, bool session_present,
			uint8_t code, const struct mb *props);
/* qos/dup/retain go into the fixed header; msg_id is written for qos > 0. */
void mqtt_build_publish(struct mb *out, uint8_t version, uint8_t qos,
			bool dup, bool retain, const char *topic,
			uint16_t msg_id, const struct mb *props,
			const void *payload, size_t payload_len);
/*
 * PUBACK/PUBREC/PUBREL/PUBCOMP. For v5, reason < 0 omits the reason code
 * (and the properties); props NULL omits the properties.
 */
void mqtt_build_ack(struct mb *out, uint8_t type, uint8_t version,
		    uint16_t msg_id, int reason, const struct mb *props);
void mqtt_build_subscribe(struct mb *out, uint8_t version, uint16_t msg_id,
			  const struct mb *props, const char *const *topics,
			  const uint8_t *opts, size_t n);
void mqtt_build_unsubscribe(struct mb *out, uint8_t version, uint16_t msg_id,
			    const struct mb *props, const char *const *topics,
			    size_t n);
/* SUBACK or UNSUBACK with one code per topic (none for a 3.1.1 UNSUBACK). */
void mqtt_build_suback(struct mb *out, uint8_t type, uint8_t version,
		       uint16_t msg_id, const struct mb *props,
		       const uint8_t *codes, size_t n);
/* DISCONNECT or AUTH; reason < 0: empty body; props NULL: none. */
void mqtt_build_reason(struct mb *out, uint8_t type, int reason,
		       const struct mb *props);
/* A packet with no body: PINGREQ, PINGRESP, v3 DISCONNECT. */
void mqtt_build_empty(struct mb *out, uint8_t type);

#endif
