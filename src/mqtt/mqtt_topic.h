/* mqtt_topic.h - MQTT topic names and filters (MQTT 5.0 §4.7). */
#ifndef MQTTIDS_MQTT_TOPIC_H
#define MQTTIDS_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * MQTT topic filter semantics (MQTT 5.0 §4.7): whether filter matches the
 * topic name, and whether a subscription filter sub can receive some topic
 * that filter rule covers (used for SUBSCRIBE and UNSUBSCRIBE).
 */
bool mqtt_topic_match(const char *filter, const char *topic, size_t topic_len);
bool mqtt_topic_overlap(const char *rule, const char *sub, size_t sub_len);

#endif
