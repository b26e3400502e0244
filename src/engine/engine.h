/* engine.h - the packet pipeline: decode, flows, reassembly, MQTT, EVE. */
#ifndef MQTTIDS_ENGINE_H
#define MQTTIDS_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mqtt/mqtt_session.h"
#include "net/flow_table.h"
#include "net/ip_defrag.h"
#include "net/tcp_reasm.h"

#define ENGINE_MAX_PORTS 32

struct engine_cfg {
	struct mqtt_cfg mqtt;
	struct flow_cfg flow;
	struct reasm_cfg reasm;
	struct ip_defrag_cfg defrag;
	uint16_t ports[ENGINE_MAX_PORTS];
	uint32_t n_ports;
	bool probe_other_ports; /* recognise MQTT by its CONNECT elsewhere */
};

void engine_cfg_default(struct engine_cfg *c);

struct engine;

/* Creates a pipeline writing EVE lines to out (not owned). */
struct engine *engine_new(const struct engine_cfg *cfg, FILE *out);
void engine_free(struct engine *e);

/*
 * Processes one captured frame of link type dlt. ts_us is the capture time,
 * caplen the bytes in data. Never fails: bad input becomes counters and
 * anomaly records.
 */
void engine_packet(struct engine *e, int dlt, uint64_t ts_us,
		   const uint8_t *data, uint32_t caplen);

/* Advances event time without a packet (live capture idle tick). */
void engine_tick(struct engine *e, uint64_t now_us);

/* Ends all flows, logging everything still pending. */
void engine_finish(struct engine *e);

/* Human-readable counters (stderr) or one EVE stats record. */
void engine_print_stats(struct engine *e, FILE *fp);
void engine_write_eve_stats(struct engine *e);

uint64_t engine_packets(const struct engine *e);

#endif
