/* mqtt_types.h - decoded MQTT control packets (MQTT 3.1, 3.1.1 and 5.0). */
#ifndef MQTTIDS_MQTT_TYPES_H
#define MQTTIDS_MQTT_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "util/rd.h"

/* Control packet types (MQTT 5.0 §2.1.2). 0 is reserved. */
enum mqtt_type {
	MQTT_RESERVED = 0,
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
	MQTT_AUTH = 15,
};

/* Lower-case names as used in EVE ("connect", "puback", ...). */
const char *mqtt_type_name(unsigned type);

/* Value kinds of v5 properties (MQTT 5.0 §2.2.2.2). */
enum mqtt_prop_kind {
	MQTT_PROP_BYTE,
	MQTT_PROP_U16,
	MQTT_PROP_U32,
	MQTT_PROP_VARINT,
	MQTT_PROP_UTF8,
	MQTT_PROP_BINARY,
	MQTT_PROP_PAIR,
};

struct mqtt_prop {
	uint8_t id;
	uint32_t u;       /* numeric value */
	struct slice s;   /* string/binary value, or user property name */
	struct slice v;   /* user property value */
};

/* A run of properties inside the parser's scratch array. */
struct mqtt_props {
	struct mqtt_prop *v;
	uint16_t n;
	uint16_t dropped; /* beyond the configured cap, not kept */
	bool present;     /* a property length field was on the wire */
};

struct mqtt_topic {
	struct slice name;
	uint8_t opts; /* requested QoS and v5 subscription options */
};

/* CONNECT flags: clean session (3.1/3.1.1) or clean start (5.0). */
#define MQTT_CONNECT_CLEAN 0x02
/* MQTT 3.1 allows client ids of 1 to 23 characters. */
#define MQTT_V31_CLIENT_ID_MAX 23
/* mqtt.client-id-limit: longer ids raise client_id_too_long. 128 bytes:
 * AWS IoT's and Azure IoT Hub's own limit; ESP32 MAC-based ids, UUIDs and
 * Zigbee2MQTT's ids are far shorter. */
#define MQTT_CLIENT_ID_LIMIT_DEFAULT 128

/* Per-message protocol findings that do not stop decoding (GUIDE §3). */
enum mqtt_anom {
	MQTT_ANOM_RESERVED_FLAGS = 1u << 0,     /* fixed-header flags */
	MQTT_ANOM_INVALID_QOS = 1u << 1,        /* QoS 3 */
	MQTT_ANOM_CONNECT_RESERVED = 1u << 2,   /* CONNECT flags bit 0 */
	MQTT_ANOM_INVALID_UTF8 = 1u << 3,
	MQTT_ANOM_UTF8_NULL = 1u << 4,
	MQTT_ANOM_WILDCARD_PUBLISH = 1u << 5,
	MQTT_ANOM_DUP_PROPERTY = 1u << 6,
	MQTT_ANOM_MISPLACED_PROPERTY = 1u << 7,
	MQTT_ANOM_UNKNOWN_PROPERTY = 1u << 8,
	MQTT_ANOM_TOPIC_ALIAS_ZERO = 1u << 9,
	MQTT_ANOM_PROTOCOL_NAME = 1u << 10,     /* not MQTT / MQIsdp */
	MQTT_ANOM_PROTOCOL_VERSION = 1u << 11,  /* not 3, 4 or 5 */
	MQTT_ANOM_TRAILING_BYTES = 1u << 12,
	MQTT_ANOM_EMPTY_TOPIC = 1u << 13,       /* PUBLISH without topic or alias */
	MQTT_ANOM_NO_TOPICS = 1u << 14,         /* (UN)SUBSCRIBE without topics */
	MQTT_ANOM_CONNECT_FLAGS = 1u << 15,     /* will/password flag rules */
	MQTT_ANOM_INVALID_REASON = 1u << 16,    /* not a defined reason code */
	MQTT_ANOM_OVERLONG_VARINT = 1u << 17,
	MQTT_ANOM_TOO_MANY_PROPS = 1u << 18,
	MQTT_ANOM_TOO_MANY_TOPICS = 1u << 19,
	MQTT_ANOM_SUB_OPTIONS = 1u << 20,       /* reserved subscription bits */
	MQTT_ANOM_INVALID_FILTER = 1u << 21,    /* misplaced # or + */
	MQTT_ANOM_MISSING_MSG_ID = 1u << 22,    /* packet id 0 */
	MQTT_ANOM__COUNT = 23
};

/* Event names for the bits above, as they appear in anomaly.event. */
const char *mqtt_anom_name(unsigned bit_index);

/*
 * One decoded control packet. Slices point into the buffer handed to the
 * parser and are valid only during the callback that receives the message.
 */
struct mqtt_msg {
	uint8_t type;
	uint8_t flags;      /* low nibble of the first byte */
	uint8_t qos;        /* bits 1-2 of flags, as on the wire (may be 3) */
	bool dup;
	bool retain;
	uint8_t version;    /* protocol version the body was decoded with */
	uint32_t hdr_len;   /* fixed header length: 2 to 5 */
	uint32_t remaining_length;
	uint32_t anomalies; /* enum mqtt_anom bits */

	/* Oversize message: only the header was decoded. */
	bool truncated;
	uint64_t skipped_length; /* fixed header plus remaining length */

	/* CONNECT */
	struct slice protocol_name;
	uint8_t protocol_version;
	uint8_t connect_flags;
	uint16_t keepalive;
	struct slice client_id;
	struct slice will_topic;
	struct slice will_payload;
	struct slice username;
	struct slice password;
	bool has_username, has_password, has_will;
	struct mqtt_props will_props;

	/* CONNACK */
	bool session_present;
	uint8_t return_code;

	/* PUBLISH */
	struct slice topic;
	struct slice payload;

	/* all packets with a packet identifier */
	uint16_t msg_id;
	bool has_msg_id;

	/* reason code of v5 acks, DISCONNECT and AUTH */
	uint8_t reason_code;
	bool has_reason_code;

	/* SUBSCRIBE / UNSUBSCRIBE */
	struct mqtt_topic *topics;
	uint32_t n_topics;
	uint32_t topics_dropped;

	/* SUBACK / UNSUBACK reason codes (granted QoS in 3.1.1 SUBACK) */
	struct slice codes;

	struct mqtt_props props;
};

static inline bool mqtt_flag(const struct mqtt_msg *m, enum mqtt_anom a)
{
	return (m->anomalies & (uint32_t)a) != 0;
}

#endif
