/* mqtt_eve.h - Suricata-compatible EVE JSON for decoded MQTT messages. */
#ifndef MQTTIDS_MQTT_EVE_H
#define MQTTIDS_MQTT_EVE_H

#include "mqtt/mqtt_session.h"

/*
 * Appends one message as a member of the EVE "mqtt" object, keyed by its
 * type ("connect": {...}), following Suricata's field names (GUIDE §5).
 */
void mqtt_eve_msg(struct jw *w, const struct mqtt_msg *m,
		  const struct mqtt_cfg *cfg);

/* The member for a message whose body was skipped because of its size. */
void mqtt_eve_truncated(struct jw *w, uint8_t first_byte,
			uint64_t skipped_length);

/* Rebuilds st->session (the "mqtt_session" object) from a CONNECT. */
void mqtt_eve_session(struct jw *w, const struct mqtt_msg *connect,
		      const struct mqtt_cfg *cfg);

#endif
