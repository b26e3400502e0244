/* tb_scenario.h - the testbed's scenario file: what runs when (line format, docs/TESTBED.md). */
#ifndef MQTTIDS_TB_SCENARIO_H
#define MQTTIDS_TB_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tb_payload.h"

#define TB_SC_MAX_EVENTS 64
#define TB_SC_MAX_ARGS 24
#define TB_SC_ARG_LEN 256

/*
 * Scenario file, one directive per line, '#' starts a comment:
 *
 *   name demo                 label of the run (letters, digits, -_.)
 *   duration 90               seconds from the start to the end of the run
 *   sensors 4                 sensor boards (1-32)
 *   interval 5                seconds between readings
 *   qos 0|1|mixed             QoS of the readings
 *   keepalive 15              sensor keepalive, seconds
 *   mqtt-version 3|4|5
 *   security none|key|hmac    payload protection of the readings
 *   z2m on|off                add a Zigbee2MQTT bridge host
 *   z2m-devices 4             devices behind the bridge (1-16)
 *   seed 7
 *   at 12 attack KIND [ARGS]  run mqttids-attack KIND ARGS at second 12
 *   at 30 tamper DEVICE DELTA for SECONDS
 *                             heat (+) or cool (-) a sensor by DELTA degC
 *   at 40 silence DEVICE for SECONDS
 *                             the device stops publishing (stays connected)
 *   at 50 z2m-offline DEVICE [for SECONDS]
 *                             a Zigbee device behind the bridge drops off
 *
 * DEVICE is a sensor's client id (as the runner names them: see
 * tb_sensor_name) or, for z2m-offline, a Zigbee friendly name.
 */
enum tb_ev_kind { TB_EV_ATTACK, TB_EV_TAMPER, TB_EV_SILENCE, TB_EV_Z2M_OFFLINE };

struct tb_event {
	double at;               /* seconds from the start of the run */
	enum tb_ev_kind kind;
	unsigned line;           /* where it was written */
	/* TB_EV_ATTACK: argv[0] is the kind, then its arguments. */
	int argc;
	char argv[TB_SC_MAX_ARGS][TB_SC_ARG_LEN];
	/* TB_EV_TAMPER / SILENCE / Z2M_OFFLINE */
	char device[96];
	double delta;            /* TAMPER: degC */
	double for_s;            /* 0: until the end of the run */
};

struct tb_scenario {
	char name[64];
	double duration;
	unsigned sensors;
	unsigned interval;
	int qos;                 /* 0, 1, or -1: mixed */
	unsigned keepalive;
	uint8_t mqtt_version;
	enum tb_sec security;
	bool z2m;
	unsigned z2m_devices;
	uint64_t seed;
	struct tb_event ev[TB_SC_MAX_EVENTS];
	unsigned n_ev;           /* sorted by at, stable */
};

/* Defaults: duration 60, sensors 3, interval 5, qos mixed, keepalive 15, v4, none, no z2m, seed 1. */
void tb_scenario_defaults(struct tb_scenario *sc);

/*
 * Parses text[0..n) (name is used in messages). Every problem is reported
 * on err as "NAME:LINE:COL: message" and the line skipped; returns the
 * number of problems (0: clean). Semantic checks: at within [0, duration),
 * event count, known attack kinds (tb_attack_kind_known), tamper/silence
 * devices that exist among the sensors.
 */
int tb_scenario_parse(const char *name, const char *text, size_t n,
		      struct tb_scenario *sc, FILE *err);
/* Reads and parses a file; a read error counts as one problem. */
int tb_scenario_load(const char *path, struct tb_scenario *sc, FILE *err);

/*
 * The i-th sensor's client id, room and topic (i from 1): boards alternate
 * esp32/nodemcu, rooms follow a fixed list, so live runs and synthetic
 * runs name devices alike: "esp32-kitchen" on "sensors/kitchen/esp32-kitchen".
 */
void tb_sensor_name(unsigned i, char *id, size_t id_cap, char *room,
		    size_t room_cap, char *topic, size_t topic_cap);

#endif
