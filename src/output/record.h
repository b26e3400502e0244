/*
 * record.h - what the engine hands the outputs: one record (an MQTT
 * transaction, an anomaly, an alert or update, or the counters) as
 * structs pointing into the engine's state. Nothing is formatted here;
 * a sink that writes text asks the output for it (output_eve), and the
 * text is then made once per record whatever the number of sinks.
 */
#ifndef MQTTIDS_RECORD_H
#define MQTTIDS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event/alert.h"
#include "mqtt/mqtt_session.h"

enum out_kind {
	OUT_MQTT = 0,    /* event_type "mqtt": one transaction */
	OUT_ANOMALY = 1, /* event_type "anomaly" */
	OUT_ALERT = 2,   /* event_type "alert" or "alert_update" */
	OUT_STATS = 3,   /* event_type "stats" */
	OUT__COUNT = 4
};

#define OUT_BIT(k) (1u << (k))
#define OUT_ALL (OUT_BIT(OUT__COUNT) - 1u)

/* The flow part of a record, oriented as the record's first packet. */
struct out_tuple {
	uint64_t flow_id;
	const uint16_t *vlan;
	uint8_t vlan_n;
	const char *src_ip, *dest_ip;
	uint16_t src_port, dest_port;
};

/* An anomaly: a decoder, stream or protocol event, or a detector's finding. */
struct out_anomaly {
	const char *type;    /* "decode", "stream", "applayer" or "detector" */
	const char *event;   /* "invalid_qos_level", "value_jump", ... */
	const char *layer;   /* NULL: none (decoder events) */
	const char *detail;  /* NULL: none */
	/* A detector's members of anomaly.detector (JSON text, no braces). */
	const char *meta;
	size_t meta_len;
	bool app_proto;      /* an MQTT-layer event: app_proto "mqtt" */
};

/* Counters of the stats record: groups of named values. */
struct out_counter {
	const char *name;
	uint64_t v;
};

struct out_group {
	const char *name;
	const struct out_counter *v;
	uint32_t n;
	/* NULL, or the object it sits in ("detectors": {"value": {...}});
	 * groups with one parent are consecutive. */
	const char *parent;
};

struct out_stats {
	const struct out_group *g;
	uint32_t n;
};

/* One record. Everything is borrowed for the duration of output_emit. */
struct out_record {
	enum out_kind kind;
	uint64_t ts_us;
	uint64_t pcap_cnt;              /* 0: none */
	const struct out_tuple *tuple;  /* NULL: no flow */
	const char *src_ip;             /* flowless anomalies: the source, or NULL */
	const struct mqtt_state *st;    /* its session (mqtt_session), or NULL */
	const struct mqtt_tx *tx;       /* OUT_MQTT */
	const struct out_anomaly *an;   /* OUT_ANOMALY */
	const struct alert *alert;      /* OUT_ALERT */
	const struct out_stats *stats;  /* OUT_STATS */
};

#endif
