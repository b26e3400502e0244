/*
 * eve.h - the one EVE JSON writer: every record type (mqtt, anomaly,
 * alert, alert_update, stats) formatted from the structs of record.h,
 * with Suricata's field names (GUIDE §5) and one string escaper (jw).
 */
#ifndef MQTTIDS_EVE_H
#define MQTTIDS_EVE_H

#include <stdbool.h>
#include <stddef.h>

#include "output/record.h"
#include "util/jw.h"
#include "util/timefmt.h"

/* How MQTT messages are logged (mqtt.string-log-limit, mqtt.passwords). */
struct eve_cfg {
	size_t string_log_limit; /* SIZE_MAX: unlimited */
	bool log_passwords;
};

/*
 * Sessions whose mqtt_session text is kept, by the record's gen: every
 * record of a connection carries it, and most connections are few at a
 * time. Each slot holds at most three session strings of
 * mqtt.session-str-max bytes, escaped.
 */
#define EVE_SESSION_SLOTS 256u

struct eve_session_slot {
	uint64_t gen;   /* 0: empty */
	struct jw text;
};

struct eve_writer {
	struct eve_cfg cfg;
	struct timefmt tf;
	struct jw w;
	struct eve_session_slot sess[EVE_SESSION_SLOTS];
};

void eve_writer_init(struct eve_writer *ew, const struct eve_cfg *cfg);
void eve_writer_deinit(struct eve_writer *ew);

/*
 * Formats r as one EVE line ending in a newline into ew->w (reset first).
 * Returns false when out of memory (nothing usable in ew->w).
 */
bool eve_format(struct eve_writer *ew, const struct out_record *r);

/*
 * The inside of the EVE "mqtt" object for one transaction: one member per
 * message, keyed by its type ("publish":{...},"puback":{...}).
 */
void eve_mqtt_tx(struct jw *w, const struct mqtt_tx *tx,
		 const struct eve_cfg *cfg);
/* One message as a member of the "mqtt" object. */
void eve_mqtt_msg(struct jw *w, const struct mqtt_msg *m,
		  const struct eve_cfg *cfg);
/* The "mqtt_session" object from the session's record, as a value. */
void eve_mqtt_session(struct jw *w, const char *key,
		      const struct mqtt_session_rec *r);

/*
 * The seed-004 alert object alone ({"uuid":..., "metadata":{...}}) into w
 * (reset first), no newline: what the store keeps and `alerts show` prints.
 */
void eve_alert_seed(struct jw *w, struct timefmt *tf, const struct alert *a);

#endif
