/* mqtt_parse.h - decoding one MQTT control packet from contiguous bytes. */
#ifndef MQTTIDS_MQTT_PARSE_H
#define MQTTIDS_MQTT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt_types.h"

/*
 * Per-thread scratch storage for the variable-length parts of a message
 * (properties, topic lists). Sized once from the configured caps, so parsing
 * never allocates.
 */
struct mqtt_parser {
	struct mqtt_prop *props;
	uint32_t max_props;
	struct mqtt_topic *topics;
	uint32_t max_topics;
};

int mqtt_parser_init(struct mqtt_parser *ps, uint32_t max_props,
		     uint32_t max_topics);
void mqtt_parser_deinit(struct mqtt_parser *ps);

/*
 * Reads the fixed header at p[0..n). Returns 1 and sets *hdr_len (2-5) and
 * *rem_len, 0 when more bytes are needed, or -1 when the remaining-length
 * field is longer than four bytes (the stream cannot be framed). *overlong
 * tells whether the length was not minimally encoded.
 */
int mqtt_frame_peek(const uint8_t *p, size_t n, uint32_t *hdr_len,
		    uint32_t *rem_len, bool *overlong);

/* Why a message could not be decoded (for the anomaly detail). */
enum mqtt_parse_err {
	MQTT_PERR_NONE = 0,
	MQTT_PERR_SHORT = -1,       /* a field runs past the remaining length */
	MQTT_PERR_PROPLEN = -2,     /* property length past the message */
	MQTT_PERR_PROPERTY = -3,    /* a property value runs past its block */
	MQTT_PERR_FRAMING = -4,     /* bad remaining length */
	MQTT_PERR_VERSION = -5,     /* CONNECT protocol level not decodable */
};

const char *mqtt_parse_strerror(int err);

/*
 * Decodes the complete message p[0..n), where n is the fixed header plus the
 * remaining length found by mqtt_frame_peek. version is the session's
 * protocol level (3, 4 or 5; 0 when unknown, decoded as 3.1.1), except that
 * CONNECT is always decoded with its own level. On success returns 0 and
 * fills *m with slices into p and into the parser scratch; spec violations
 * that still allow decoding are set in m->anomalies. Returns a negative
 * enum mqtt_parse_err when the message is malformed.
 */
int mqtt_parse_msg(struct mqtt_parser *ps, const uint8_t *p, size_t n,
		   uint8_t version, struct mqtt_msg *m);

/* Fixed-header flags a type requires (MQTT 3.1.1 §2.2.2); 0xff: PUBLISH. */
uint8_t mqtt_required_flags(uint8_t type);

/* Name of a v5 property identifier ("receive_maximum"), or NULL. */
const char *mqtt_prop_name(uint8_t id);
/* Whether code is a reason code MQTT 5.0 defines for this packet type. */
bool mqtt_reason_valid(uint8_t type, uint8_t code, uint8_t version);
/* Human name of a v5 reason code or v3 CONNACK return code. */
const char *mqtt_reason_name(uint8_t type, uint8_t code, uint8_t version);

#endif
