/*
 * event.h - what the rules and detectors look at: one TCP segment, one
 * decoded MQTT message or one anomaly, with its addresses and the MQTT
 * session it belongs to. Everything points into engine state and is valid
 * only during the call that receives the event.
 */
#ifndef MQTTIDS_EVENT_H
#define MQTTIDS_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flow;
struct mqtt_state;
struct mqtt_msg;

enum det_kind {
	DET_TCP = 0,     /* every TCP segment, MQTT port or not */
	DET_MQTT = 1,    /* every decoded MQTT control packet */
	DET_ANOMALY = 2, /* decoder, stream, protocol and engine events */
};

/* Which end of the packet is the MQTT server (broker), when known. */
enum det_server { DET_SERVER_UNKNOWN = 0, DET_SERVER_SRC = 1, DET_SERVER_DST = 2 };

struct det_event {
	enum det_kind kind;
	uint64_t ts_us;       /* capture time: event time for every window */
	uint64_t pcap_cnt;
	/* The packet's sender and receiver (not the flow's client/server). */
	uint8_t family;       /* 4 or 6; 0 when there is no address */
	const uint8_t *src;   /* 16 bytes (IPv4 in the first 4) */
	const uint8_t *dst;
	uint16_t sport, dport;
	const char *src_str;  /* addresses as text, "" when unknown */
	const char *dst_str;
	enum det_server server;
	/* DET_TCP */
	uint8_t tcp_flags;    /* TCP_SYN, TCP_ACK, ... (net/pkt_decode.h) */
	uint32_t payload_len; /* TCP payload bytes on the wire */
	/* Flow and session; NULL when none (decoder anomalies, non-MQTT). */
	const struct flow *flow;
	const struct mqtt_state *st;
	bool toclient;        /* DET_MQTT/DET_ANOMALY: sent by the server */
	/* DET_MQTT */
	const struct mqtt_msg *msg;
	/* DET_ANOMALY: event name as in EVE anomaly.event ("invalid_qos_level",
	 * "ipv4.trunc_pkt", "client_id_takeover", ...) and its layer. */
	const char *anomaly;
	const char *layer;
	const char *detail;   /* may be NULL */
	/* DET_ANOMALY from a data detector (src/sensor): its layer's metadata,
	 * JSON members without braces, for the alert's metadata.detector. */
	const char *meta;
	size_t meta_len;
	/* The MAC address of the connection's client end, NULL when the
	 * capture has none (raw IP, cooked, loopback). */
	const uint8_t *cli_mac;
};

#endif
