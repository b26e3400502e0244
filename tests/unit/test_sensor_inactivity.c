/* test_sensor_inactivity.c - unit tests for the inactivity detector: Zigbee2MQTT availability and timers, learned publish intervals, state, limits (sensor/sensor_inactivity.c). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensor/sensor.h"
#include "sensor/sensor_telemetry.h"

/* The detector's entry point with a parsed payload (sensor_inactivity.c). */
void sensor_inactivity_msg(void *state, const struct sensor_msg *m, const cJSON *json);

#define S(x) ((uint64_t)(x) * 1000000u)
#define T0 S(1735689600) /* 2025-01-01T00:00:00Z */
#define DET (&sensor_inactivity_detector)
#define BRIDGE "zigbee2mqtt-bridge"

/* ---- recording reports ---- */

#define REP_MAX 1024

struct rep {
	char event[40];
	char detail[512];
	cJSON *meta;      /* the members, parsed as an object */
	uint64_t ts_us;
	bool has_base;
	char addr[SENSOR_ADDR_STR];
};

static struct rep reps[REP_MAX];
static unsigned n_reps;

static void rec(void *ud, const struct sensor_report *r)
{
	(void)ud;
	assert_non_null(r->layer);
	assert_string_equal(r->layer, "inactivity");
	if (n_reps >= REP_MAX)
		return;
	struct rep *p = &reps[n_reps++];
	snprintf(p->event, sizeof(p->event), "%s", r->event);
	snprintf(p->detail, sizeof(p->detail), "%s", r->detail ? r->detail : "");
	assert_null(strchr(p->detail, '\n'));
	char buf[4096];
	assert_true(r->meta_len + 3 < sizeof(buf));
	snprintf(buf, sizeof(buf), "{%.*s}", (int)r->meta_len, r->meta ? r->meta : "");
	p->meta = cJSON_Parse(buf);
	assert_non_null(p->meta); /* the members are valid JSON */
	p->has_base = r->base != NULL;
	p->ts_us = r->base ? r->base->ts_us : r->ts_us;
	snprintf(p->addr, sizeof(p->addr), "%s", r->addr ? r->addr->str : "");
}

static void reps_clear(void)
{
	for (unsigned i = 0; i < n_reps; i++)
		cJSON_Delete(reps[i].meta);
	n_reps = 0;
}

static unsigned count(const char *event)
{
	unsigned n = 0;
	for (unsigned i = 0; i < n_reps; i++)
		n += !strcmp(reps[i].event, event);
	return n;
}

static const struct rep *find(const char *event, unsigned nth)
{
	for (unsigned i = 0; i < n_reps; i++)
		if (!strcmp(reps[i].event, event) && nth-- == 0)
			return &reps[i];
	return NULL;
}

static const char *mstr(const struct rep *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->meta, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double mnum(const struct rep *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->meta, key);
	assert_true(cJSON_IsNumber(v)); /* present, and a JSON number */
	return v->valuedouble;
}

/* ---- the detector ---- */

static char logbuf[16384];
static FILE *logf_;
static struct sensor_env env;

static void *mk(const char *cfg_json)
{
	reps_clear();
	memset(logbuf, 0, sizeof(logbuf));
	if (logf_)
		fclose(logf_);
	logf_ = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
	setvbuf(logf_, NULL, _IONBF, 0);
	memset(&env, 0, sizeof(env));
	env.report = rec;
	env.log = logf_;
	/* NULL: the defaults, but with the testbed's 10 s floor for fast sensors
	 * (the default min-timeout of 180 s is tested on its own). */
	cJSON *cfg = cJSON_Parse(cfg_json ? cfg_json : "{\"devices\":{\"min-timeout\":\"10s\"}}");
	assert_non_null(cfg);
	void *st = NULL;
	int rc = DET->init(&env, cfg, &st);
	cJSON_Delete(cfg);
	if (rc != 0)
		return NULL;
	assert_non_null(st);
	return st;
}

static int teardown(void **state)
{
	(void)state;
	reps_clear();
	if (logf_)
		fclose(logf_);
	logf_ = NULL;
	return 0;
}

/*
 * One message. topic NULL: a CONNECT (will_topic in payload). device: the
 * telemetry device (m->tm), NULL for none. from_client false: a broker
 * delivery.
 */
static void msg_full(void *st, uint64_t ts, const char *cid, const char *topic, const char *payload,
		     size_t plen, bool from_client, const char *device, const char *ip)
{
	struct det_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = DET_MQTT;
	ev.ts_us = ts;
	struct mqtt_msg mm;
	memset(&mm, 0, sizeof(mm));
	struct sensor_msg m;
	memset(&m, 0, sizeof(m));
	struct tm_result tr;
	memset(&tr, 0, sizeof(tr));
	if (topic) {
		mm.type = MQTT_PUBLISH;
		mm.topic.p = (const uint8_t *)topic;
		mm.topic.len = strlen(topic);
		mm.payload.p = (const uint8_t *)payload;
		mm.payload.len = plen;
		m.topic = mm.topic;
		m.payload = mm.payload;
	} else {
		mm.type = MQTT_CONNECT;
		mm.client_id.p = (const uint8_t *)cid;
		mm.client_id.len = strlen(cid);
		mm.has_will = true;
		mm.will_topic.p = (const uint8_t *)payload;
		mm.will_topic.len = plen;
	}
	ev.msg = &mm;
	m.ev = &ev;
	m.m = &mm;
	m.ts_us = ts;
	m.from_client = from_client;
	m.client_id = cid;
	m.username = "";
	m.client.family = 4;
	snprintf(m.client.str, sizeof(m.client.str), "%s", ip ? ip : "10.77.0.11");
	if (device) {
		tr.entry = 0;
		snprintf(tr.device, sizeof(tr.device), "%s", device);
		m.tm = &tr;
	}
	cJSON *j = topic ? cJSON_ParseWithLength(payload, plen) : NULL;
	sensor_inactivity_msg(st, &m, j);
	cJSON_Delete(j);
}

static void pub(void *st, uint64_t ts, const char *cid, const char *topic, const char *payload)
{
	/* (not strcmp: gcc -O2 warns when a caller's id array is shorter than BRIDGE) */
	bool bridge = strlen(cid) == strlen(BRIDGE) && !memcmp(cid, BRIDGE, strlen(BRIDGE));
	msg_full(st, ts, cid, topic, payload, strlen(payload), true, NULL,
		 bridge ? "10.77.0.4" : NULL);
}

static void tick_to(void *st, uint64_t from, uint64_t to)
{
	for (uint64_t t = from; t <= to; t += S(1))
		DET->on_tick(st, t);
}

static const cJSON *saved_dev(const cJSON *saved, const char *kind, const char *name)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(saved, "devices"))
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kind");
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "device");
		if (cJSON_IsString(k) && cJSON_IsString(n) && !strcmp(k->valuestring, kind) &&
		    !strcmp(n->valuestring, name))
			return e;
	}
	return NULL;
}

static unsigned saved_count(const cJSON *saved)
{
	return (unsigned)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(saved, "devices"));
}

/* ---- Zigbee2MQTT ---- */

#define DEVICES_JSON                                                                              \
	"[{\"friendly_name\":\"Coordinator\",\"ieee_address\":\"0x00124b0000000001\","            \
	"\"type\":\"Coordinator\",\"disabled\":false},"                                           \
	"{\"friendly_name\":\"living_room_lamp\",\"ieee_address\":\"0x00158d0000000002\","        \
	"\"type\":\"Router\",\"power_source\":\"Mains (single phase)\",\"disabled\":false},"      \
	"{\"friendly_name\":\"front_door_lock\",\"ieee_address\":\"0x00158d0000000003\","         \
	"\"type\":\"EndDevice\",\"power_source\":\"Battery\",\"disabled\":false},"                \
	"{\"friendly_name\":\"old/plug\",\"type\":\"Router\",\"power_source\":\"Mains\","         \
	"\"disabled\":true},"                                                                     \
	"42,{\"type\":\"Router\"},{\"friendly_name\":\"\"},{\"friendly_name\":17}]"

/* A bridge that connected (will on bridge/state), went online and listed its devices at t. */
static void bridge_up(void *st, uint64_t t)
{
	const char *will = "zigbee2mqtt/bridge/state";
	msg_full(st, t, BRIDGE, NULL, will, strlen(will), true, NULL, "10.77.0.4");
	pub(st, t, BRIDGE, "zigbee2mqtt/bridge/state", "{\"state\":\"online\"}");
	pub(st, t, BRIDGE, "zigbee2mqtt/bridge/devices", DEVICES_JSON);
}

static void z2m_devices_parsing(void **state)
{
	(void)state;
	void *st = mk(NULL);
	bridge_up(st, T0);
	/* A name longer than SENSOR_ID_MAX is skipped (it could never match a topic exactly). */
	char big[600];
	char huge[300];
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = 0;
	snprintf(big, sizeof(big), "[{\"friendly_name\":\"%s\",\"power_source\":\"Battery\"}]", huge);
	cJSON *s = DET->save(st);
	assert_null(saved_dev(s, "z2m", "Coordinator"));
	const cJSON *lamp = saved_dev(s, "z2m", "living_room_lamp");
	const cJSON *lock = saved_dev(s, "z2m", "front_door_lock");
	const cJSON *plug = saved_dev(s, "z2m", "old/plug");
	assert_non_null(lamp);
	assert_non_null(lock);
	assert_non_null(plug);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(lamp, "battery")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(lock, "battery")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(plug, "disabled")));
	assert_string_equal(cJSON_GetObjectItem(lock, "ieee")->valuestring, "0x00158d0000000003");
	assert_int_equal(saved_count(s), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "bridge"), "client_id")->valuestring,
			    BRIDGE);
	cJSON_Delete(s);
	assert_non_null(strstr(logbuf, "bridge/devices[4]: not an object"));
	assert_non_null(strstr(logbuf, "bridge/devices[5]: no friendly_name"));

	/* Garbage and a non-array leave the list alone; a huge name is refused. */
	pub(st, T0 + S(1), BRIDGE, "zigbee2mqtt/bridge/devices", "[{\"friendly_name\":\"a\",");
	pub(st, T0 + S(2), BRIDGE, "zigbee2mqtt/bridge/devices", "{\"friendly_name\":\"a\"}");
	pub(st, T0 + S(2), BRIDGE, "zigbee2mqtt/bridge/devices", "\xff\xfe\x00garbage");
	assert_non_null(strstr(logbuf, "bridge/devices is not a JSON array"));
	s = DET->save(st);
	assert_int_equal(saved_count(s), 3);
	cJSON_Delete(s);
	pub(st, T0 + S(3), BRIDGE, "zigbee2mqtt/bridge/devices", big);
	assert_non_null(strstr(logbuf, "friendly_name of 299 bytes"));
	s = DET->save(st);
	/* The new list is empty: every listed device is dropped. */
	assert_int_equal(saved_count(s), 0);
	cJSON_Delete(s);
	tick_to(st, T0, T0 + S(700));
	assert_int_equal(n_reps, 0);
	DET->free(st);
}

static void z2m_availability_formats(void **state)
{
	(void)state;
	void *st = mk(NULL);
	bridge_up(st, T0);
	/* Legacy string: once per episode. */
	pub(st, T0 + S(10), BRIDGE, "zigbee2mqtt/living_room_lamp/availability", "offline");
	pub(st, T0 + S(11), BRIDGE, "zigbee2mqtt/living_room_lamp/availability", "offline");
	assert_int_equal(count("z2m_device_offline"), 1);
	const struct rep *r = find("z2m_device_offline", 0);
	assert_true(r->has_base);
	assert_int_equal(r->ts_us, T0 + S(10));
	assert_string_equal(mstr(r, "device"), "living_room_lamp");
	assert_string_equal(mstr(r, "kind"), "z2m");
	assert_string_equal(mstr(r, "availability"), "offline");
	assert_string_equal(mstr(r, "power_source"), "mains");
	assert_string_equal(mstr(r, "ieee_address"), "0x00158d0000000002");
	assert_float_equal(mnum(r, "timeout_s"), 600, 1e-9);
	assert_non_null(strstr(r->detail, "living_room_lamp offline"));
	/* JSON form, battery device. */
	pub(st, T0 + S(12), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "{\"state\":\"offline\"}");
	assert_int_equal(count("z2m_device_offline"), 2);
	r = find("z2m_device_offline", 1);
	assert_string_equal(mstr(r, "device"), "front_door_lock");
	assert_string_equal(mstr(r, "power_source"), "battery");
	assert_float_equal(mnum(r, "timeout_s"), 25 * 3600, 1e-9);
	/* Unknown payloads mean nothing. */
	pub(st, T0 + S(13), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "{\"state\":17}");
	pub(st, T0 + S(13), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "maybe");
	assert_int_equal(n_reps, 2);
	/* Back: one recovery each, legacy and JSON. */
	pub(st, T0 + S(40), BRIDGE, "zigbee2mqtt/living_room_lamp/availability", "online");
	pub(st, T0 + S(41), BRIDGE, "zigbee2mqtt/living_room_lamp/availability", "online");
	pub(st, T0 + S(42), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "{\"state\":\"online\"}");
	assert_int_equal(count("device_recovered"), 2);
	r = find("device_recovered", 0);
	assert_string_equal(mstr(r, "device"), "living_room_lamp");
	assert_string_equal(mstr(r, "availability"), "online");
	assert_float_equal(mnum(r, "silent_s"), 40, 1e-9); /* never seen before: since listed */
	assert_string_equal(r->addr, "10.77.0.4");
	/* A new episode is reported again. */
	pub(st, T0 + S(50), BRIDGE, "zigbee2mqtt/living_room_lamp/availability", "{\"state\":\"offline\"}");
	assert_int_equal(count("z2m_device_offline"), 3);
	/* While offline no device_silent for it, even past its timeout. */
	tick_to(st, T0 + S(50), T0 + S(50 + 700));
	assert_int_equal(count("device_silent"), 0);
	DET->free(st);
}

static void z2m_bridge_offline(void **state)
{
	(void)state;
	void *st = mk(NULL);
	bridge_up(st, T0);
	pub(st, T0 + S(5), BRIDGE, "zigbee2mqtt/living_room_lamp", "{\"state\":\"ON\"}");
	/* The bridge's will, delivered by the broker to a subscriber. */
	msg_full(st, T0 + S(100), "dashboard", "zigbee2mqtt/bridge/state", "offline", 7, false, NULL,
		 "10.77.0.5");
	pub(st, T0 + S(101), BRIDGE, "zigbee2mqtt/living_room_lamp/availability", "offline");
	tick_to(st, T0 + S(100), T0 + S(4000));
	assert_int_equal(n_reps, 0);
	/* Back at 4000: every timer restarts from then. */
	pub(st, T0 + S(4000), BRIDGE, "zigbee2mqtt/bridge/state", "online");
	tick_to(st, T0 + S(4000), T0 + S(4700));
	assert_int_equal(count("device_silent"), 1); /* the lamp; the lock is battery, the plug disabled */
	const struct rep *r = find("device_silent", 0);
	assert_false(r->has_base);
	assert_int_equal(r->ts_us, T0 + S(4600));
	assert_string_equal(mstr(r, "device"), "living_room_lamp");
	assert_string_equal(mstr(r, "last_seen"), "2025-01-01T00:00:05.000000Z");
	assert_float_equal(mnum(r, "silent_s"), 4595, 1e-9);
	assert_string_equal(r->addr, "10.77.0.4");
	/* The offline availability said while the bridge was away was not an episode:
	 * once the bridge republishes it, it is reported. */
	pub(st, T0 + S(4701), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "offline");
	assert_int_equal(count("z2m_device_offline"), 1);
	/* Recovery after the silence. */
	pub(st, T0 + S(4800), BRIDGE, "zigbee2mqtt/living_room_lamp", "{\"state\":\"OFF\"}");
	assert_int_equal(count("device_recovered"), 1);
	r = find("device_recovered", 0);
	assert_true(r->has_base);
	assert_float_equal(mnum(r, "silent_s"), 4795, 1e-9);
	DET->free(st);
}

static void z2m_battery_timeout(void **state)
{
	(void)state;
	void *st = mk("{\"zigbee2mqtt\":{\"timeout\":\"10m\",\"battery-timeout\":\"2h\"}}");
	bridge_up(st, T0);
	pub(st, T0 + S(30), BRIDGE, "zigbee2mqtt/front_door_lock", "{\"battery\":90}");
	pub(st, T0 + S(30), BRIDGE, "zigbee2mqtt/living_room_lamp", "{\"state\":\"ON\"}");
	tick_to(st, T0, T0 + S(2 * 3600 + 60));
	assert_int_equal(count("device_silent"), 2);
	const struct rep *a = find("device_silent", 0), *b = find("device_silent", 1);
	assert_string_equal(mstr(a, "device"), "living_room_lamp");
	assert_int_equal(a->ts_us, T0 + S(630));
	assert_string_equal(mstr(b, "device"), "front_door_lock");
	assert_int_equal(b->ts_us, T0 + S(30 + 7200));
	assert_string_equal(mstr(b, "power_source"), "battery");
	assert_float_equal(mnum(b, "timeout_s"), 7200, 1e-9);
	assert_string_equal(mstr(b, "timeout_source"), "battery-timeout");
	/* Reported once per episode. */
	tick_to(st, T0 + S(2 * 3600 + 60), T0 + S(4 * 3600));
	assert_int_equal(count("device_silent"), 2);
	DET->free(st);
}

static void z2m_last_seen(void **state)
{
	(void)state;
	void *st = mk(NULL);
	bridge_up(st, T0);
	pub(st, T0 + S(10), BRIDGE, "zigbee2mqtt/living_room_lamp",
	    "{\"state\":\"ON\",\"last_seen\":\"2025-01-01T01:00:10.250+01:00\"}");
	/* An old last_seen does not move the timer back: arrival is a sign of life. */
	pub(st, T0 + S(500), BRIDGE, "zigbee2mqtt/front_door_lock",
	    "{\"battery\":80,\"last_seen\":1735689000000}");
	tick_to(st, T0, T0 + S(700));
	assert_int_equal(count("device_silent"), 1);
	const struct rep *r = find("device_silent", 0);
	assert_string_equal(mstr(r, "device"), "living_room_lamp");
	assert_int_equal(r->ts_us, T0 + S(610));
	assert_string_equal(mstr(r, "bridge_last_seen"), "2025-01-01T00:00:10.250000Z");
	/* Garbage last_seen values are ignored, the message still counts. */
	pub(st, T0 + S(800), BRIDGE, "zigbee2mqtt/living_room_lamp",
	    "{\"last_seen\":\"2025-13-45T99:00:00Z\"}");
	pub(st, T0 + S(801), BRIDGE, "zigbee2mqtt/living_room_lamp", "{\"last_seen\":\"yesterday\"}");
	pub(st, T0 + S(802), BRIDGE, "zigbee2mqtt/living_room_lamp", "{\"last_seen\":-5}");
	pub(st, T0 + S(803), BRIDGE, "zigbee2mqtt/living_room_lamp", "{\"last_seen\":\"2025-01-01T00:00:00\"}");
	assert_int_equal(count("device_recovered"), 1);
	tick_to(st, T0 + S(700), T0 + S(1500));
	assert_int_equal(count("device_silent"), 2);
	r = find("device_silent", 1);
	assert_int_equal(r->ts_us, T0 + S(1403));
	assert_string_equal(mstr(r, "bridge_last_seen"), "2025-01-01T00:00:10.250000Z");
	cJSON *s = DET->save(st);
	const cJSON *lock = saved_dev(s, "z2m", "front_door_lock");
	assert_float_equal(cJSON_GetObjectItem(lock, "bridge_last_seen_us")->valuedouble,
			   1735689000000000.0, 0);
	cJSON_Delete(s);
	DET->free(st);
}

static void z2m_forged_and_groups(void **state)
{
	(void)state;
	void *st = mk(NULL);
	bridge_up(st, T0);
	/* Another client on the bridge's topics: not the bridge, not a generic device. */
	for (int k = 0; k < 20; k++)
		pub(st, T0 + S(10 * k), "attacker", "zigbee2mqtt/living_room_lamp", "{\"state\":\"ON\"}");
	pub(st, T0 + S(200), "attacker", "zigbee2mqtt/living_room_lamp/availability", "offline");
	pub(st, T0 + S(200), "attacker", "zigbee2mqtt/front_door_lock/set", "{\"state\":\"UNLOCK\"}");
	/* A forged bridge/state and its forwarded copy do not suspend the timers. */
	pub(st, T0 + S(300), "attacker", "zigbee2mqtt/bridge/state", "offline");
	msg_full(st, T0 + S(300) + 500, "dashboard", "zigbee2mqtt/bridge/state", "offline", 7, false,
		 NULL, NULL);
	/* A group's state (not listed) is not a device. */
	pub(st, T0 + S(310), BRIDGE, "zigbee2mqtt/all_lights", "{\"state\":\"ON\"}");
	assert_int_equal(n_reps, 0);
	tick_to(st, T0, T0 + S(700));
	assert_int_equal(count("device_silent"), 1);
	assert_int_equal(find("device_silent", 0)->ts_us, T0 + S(600));
	cJSON *s = DET->save(st);
	assert_null(saved_dev(s, "generic", "attacker"));
	assert_null(saved_dev(s, "generic", BRIDGE));
	assert_null(saved_dev(s, "z2m", "all_lights"));
	cJSON_Delete(s);
	DET->free(st);
}

/* ---- generic devices ---- */

static void generic_learned_silence(void **state)
{
	(void)state;
	void *st = mk("{\"devices\":{\"factor\":5,\"min-timeout\":\"10s\",\"min-samples\":8}}");
	uint64_t t = T0;
	/* Birth and info right after CONNACK (a burst), then a reading every 2 s with jitter. */
	msg_full(st, t, "nodemcu-livingroom", "sensors/livingroom/nodemcu-livingroom/status", "online",
		 6, true, NULL, "10.77.0.12");
	msg_full(st, t + 3000, "nodemcu-livingroom", "sensors/livingroom/nodemcu-livingroom/info",
		 "{}", 2, true, NULL, "10.77.0.12");
	uint64_t last = 0;
	for (int k = 1; k <= 30; k++) {
		t = T0 + S(2 * k) + (uint64_t)((k * 7919) % 40) * 1000;
		if (k == 13)
			continue; /* a failed DHT read */
		msg_full(st, t, "nodemcu-livingroom", "sensors/livingroom/nodemcu-livingroom",
			 "{\"temperature\":21}", 18, true, "nodemcu-livingroom", "10.77.0.12");
		DET->on_tick(st, t);
		last = t;
	}
	/* Silent for 20 s, ticking every second. */
	tick_to(st, last + S(1), last + S(20));
	assert_int_equal(n_reps, 1);
	const struct rep *r = find("device_silent", 0);
	assert_non_null(r);
	assert_false(r->has_base);
	assert_string_equal(mstr(r, "device"), "nodemcu-livingroom");
	assert_string_equal(mstr(r, "kind"), "generic");
	assert_string_equal(mstr(r, "timeout_source"), "learned");
	/* max(min-timeout 10 s, 5 x interval): the jitter and the failed read
	 * put the interval a little above 2 s. */
	double to = mnum(r, "timeout_s");
	double iv = mnum(r, "learned_interval_s");
	assert_true(iv > 1.99 && iv < 2.1);
	assert_float_equal(to, 5 * iv, 0.005);
	assert_true(llabs((long long)(r->ts_us - last) - (long long)(to * 1e6)) <= 1000);
	assert_float_equal(mnum(r, "silent_s"), to, 1e-9);
	assert_string_equal(r->addr, "10.77.0.12");
	assert_non_null(strstr(r->detail, "nodemcu-livingroom published nothing for 10.1 s"));
	/* Readings again: one recovery; ticking on gives nothing more. */
	for (int k = 0; k < 5; k++)
		msg_full(st, last + S(20) + S(2 * k), "nodemcu-livingroom",
			 "sensors/livingroom/nodemcu-livingroom", "{}", 2, true, "nodemcu-livingroom",
			 "10.77.0.12");
	tick_to(st, last + S(20), last + S(28));
	assert_int_equal(count("device_recovered"), 1);
	assert_int_equal(count("device_silent"), 1);
	r = find("device_recovered", 0);
	assert_true(r->has_base);
	assert_int_equal(r->ts_us, last + S(20));
	assert_float_equal(mnum(r, "silent_s"), 20, 1e-9);
	DET->free(st);
}

/*
 * The default floor: a 2 s sensor whose Wi-Fi drops for 100 s (a reconnect)
 * (synthetic ones last 30-120 s) is not reported; silent for longer than
 * 180 s, it is.
 */
static void generic_default_floor(void **state)
{
	(void)state;
	void *st = mk("{}");
	uint64_t t = T0, last = 0;
	for (int k = 1; k <= 30; k++) {
		t = T0 + S(2 * k);
		msg_full(st, t, "esp32-kitchen", "sensors/kitchen/esp32-kitchen",
			 "{\"temperature\":21}", 18, true, "esp32-kitchen", "10.77.0.11");
		DET->on_tick(st, t);
		last = t;
	}
	tick_to(st, last + S(1), last + S(100));
	assert_int_equal(n_reps, 0);
	msg_full(st, last + S(100), "esp32-kitchen", "sensors/kitchen/esp32-kitchen",
		 "{\"temperature\":21}", 18, true, "esp32-kitchen", "10.77.0.11");
	last += S(100);
	tick_to(st, last + S(1), last + S(179));
	assert_int_equal(n_reps, 0);
	tick_to(st, last + S(179), last + S(300));
	assert_int_equal(count("device_silent"), 1);
	const struct rep *r = find("device_silent", 0);
	assert_true(mnum(r, "timeout_s") >= 180);
	DET->free(st);
}

static void generic_default_and_device_name(void **state)
{
	(void)state;
	void *st = mk(NULL);
	/* The telemetry device names it, not the session's client id. */
	msg_full(st, T0, "iotflock-1", "sensors/kitchen/esp32-kitchen", "{}", 2, true, "esp32-kitchen",
		 "10.77.99.66");
	msg_full(st, T0 + S(3), "esp32-kitchen", "sensors/kitchen/esp32-kitchen", "{}", 2, true,
		 "esp32-kitchen", "10.77.0.11");
	/* A client without a telemetry device: its client id. A delivery is nothing. */
	pub(st, T0 + S(4), "mosquitto_pub-1", "home/x", "1");
	pub(st, T0 + S(4), "mosquitto_pub-1", "home/x", "1");
	pub(st, T0 + S(3), "one-off", "home/y", "1");
	pub(st, T0 + S(3) + 100000, "one-off", "home/y", "1");
	msg_full(st, T0 + S(5), "dashboard", "sensors/kitchen/esp32-kitchen", "{}", 2, false, NULL, NULL);
	msg_full(st, T0 + S(5), "", "anon/x", "{}", 2, true, NULL, NULL);
	tick_to(st, T0, T0 + S(700));
	/* esp32-kitchen (two readings 3 s apart) only: one-off publishers and
	 * bursts have no schedule to miss. */
	assert_int_equal(count("device_silent"), 1);
	const struct rep *a = find("device_silent", 0);
	assert_string_equal(mstr(a, "device"), "esp32-kitchen");
	assert_int_equal(a->ts_us, T0 + S(603));
	assert_string_equal(mstr(a, "timeout_source"), "default");
	assert_null(mstr(a, "learned_interval_s"));
	assert_null(cJSON_GetObjectItemCaseSensitive(a->meta, "learned_interval_s"));
	assert_string_equal(a->addr, "10.77.0.11");
	assert_string_equal(mstr(a, "last_seen"), "2025-01-01T00:00:03.000000Z");
	/* The one-off publisher starts being timed at its second message a while later. */
	pub(st, T0 + S(800), "mosquitto_pub-1", "home/x", "1");
	tick_to(st, T0 + S(700), T0 + S(1401));
	assert_int_equal(count("device_silent"), 2);
	assert_string_equal(mstr(find("device_silent", 1), "device"), "mosquitto_pub-1");
	assert_int_equal(find("device_silent", 1)->ts_us, T0 + S(1400));
	cJSON *s = DET->save(st);
	assert_null(saved_dev(s, "generic", "dashboard"));
	assert_null(saved_dev(s, "generic", "iotflock-1"));
	assert_int_equal(saved_count(s), 3);
	cJSON_Delete(s);
	DET->free(st);
}

static void generic_burst_not_learned(void **state)
{
	(void)state;
	void *st = mk(NULL);
	/* 50 publishes in 0.1 s (a flood client): a burst, not a schedule. */
	for (int k = 0; k < 50; k++)
		pub(st, T0 + (uint64_t)k * 2000, "mqtt-malaria-attacker-1-0", "mqtt-malaria/x/data", "ab");
	tick_to(st, T0, T0 + S(100));
	assert_int_equal(n_reps, 0);
	tick_to(st, T0 + S(100), T0 + S(2000));
	assert_int_equal(n_reps, 0);
	/* Two more a second apart: now it has a schedule, still unlearned (default 600 s). */
	pub(st, T0 + S(2000), "mqtt-malaria-attacker-1-0", "mqtt-malaria/x/data", "ab");
	pub(st, T0 + S(2001), "mqtt-malaria-attacker-1-0", "mqtt-malaria/x/data", "ab");
	tick_to(st, T0 + S(2000), T0 + S(2602));
	assert_int_equal(count("device_silent"), 1);
	assert_int_equal(find("device_silent", 0)->ts_us, T0 + S(2601));
	assert_string_equal(mstr(find("device_silent", 0), "timeout_source"), "default");
	DET->free(st);
}

static void generic_per_device(void **state)
{
	(void)state;
	void *st = mk("{\"devices\":{\"per-device\":[{\"device\":\"esp32-*\",\"timeout\":\"30s\"},"
		      "{\"device\":\"dashboard*\",\"timeout\":0},{\"device\":\"bad\"},17]}}");
	assert_non_null(st);
	assert_non_null(strstr(logbuf, "skipped"));
	for (int k = 0; k < 20; k++) {
		pub(st, T0 + S(k), "esp32-garage", "sensors/garage/esp32-garage", "{}");
		pub(st, T0 + S(k), "dashboard-2", "cmd/x", "{}");
	}
	tick_to(st, T0, T0 + S(1000));
	assert_int_equal(n_reps, 1);
	const struct rep *r = find("device_silent", 0);
	assert_string_equal(mstr(r, "device"), "esp32-garage");
	assert_int_equal(r->ts_us, T0 + S(19 + 30));
	assert_string_equal(mstr(r, "timeout_source"), "per-device");
	assert_float_equal(mnum(r, "timeout_s"), 30, 1e-9);
	DET->free(st);
}

/* xorshift64*: deterministic randomness for the day-long simulation. */
static uint64_t rng_s = 0x9e3779b97f4a7c15ull;
static double rnd(void)
{
	rng_s ^= rng_s >> 12;
	rng_s ^= rng_s << 25;
	rng_s ^= rng_s >> 27;
	return (double)((rng_s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/*
 * 20 devices for 24 h at 30, 45 or 60 s with up to 40 ms jitter, 2 % failed
 * reads (nothing published), and Wi-Fi reconnects every ~2 h that leave a
 * 60-90 s gap before the birth message: nothing is reported.
 */
static void generic_day_no_false_alarms(void **state)
{
	(void)state;
	void *st = mk(NULL);
	enum { N = 20 };
	static const double ivs[3] = { 30, 45, 60 };
	double next[N], next_drop[N], iv[N];
	char name[N][32];
	for (int i = 0; i < N; i++) {
		iv[i] = ivs[i % 3];
		next[i] = rnd() * iv[i];
		next_drop[i] = 3600 + rnd() * 7200;
		snprintf(name[i], sizeof(name[i]), "esp32-room%d", i);
	}
	double now = 0;
	unsigned published = 0, drops = 0;
	while (now < 86400) {
		/* The next event of any device. */
		int who = 0;
		for (int i = 1; i < N; i++)
			if (next[i] < next[who])
				who = i;
		double t = next[who];
		for (double s = floor(now) + 1; s <= t; s += 1)
			DET->on_tick(st, T0 + (uint64_t)(s * 1e6));
		now = t;
		if (now >= next_drop[who]) {
			/* Gone 60-90 s after its last message; back with a birth message. */
			drops++;
			next_drop[who] = now + 3600 + rnd() * 7200;
			next[who] = now + 60 + rnd() * 30;
			continue;
		}
		if (rnd() >= 0.02) {
			msg_full(st, T0 + (uint64_t)(now * 1e6), name[who], "sensors/room/x", "{}", 2,
				 true, name[who], NULL);
			published++;
		}
		next[who] = now + iv[who] + rnd() * 0.04;
	}
	assert_true(published > 40000);
	assert_true(drops > 150);
	assert_int_equal(n_reps, 0);
	cJSON *s = DET->save(st);
	const cJSON *d = saved_dev(s, "generic", "esp32-room0");
	assert_non_null(d);
	assert_true(fabs(cJSON_GetObjectItem(d, "interval_s")->valuedouble - 30) < 3);
	cJSON_Delete(s);
	/* And every one of them goes quiet: 20 reports, each at last_seen + its timeout. */
	tick_to(st, T0 + S(86400), T0 + S(86400 + 400));
	assert_int_equal(count("device_silent"), N);
	DET->free(st);
}

static void generic_learn_off(void **state)
{
	(void)state;
	void *st = mk("{\"devices\":{\"learn\":\"no\",\"timeout\":\"1m\"}}");
	for (int k = 0; k < 30; k++)
		pub(st, T0 + S(2 * k), "esp32-a", "x/y", "1");
	tick_to(st, T0, T0 + S(58 + 61));
	assert_int_equal(count("device_silent"), 1);
	assert_int_equal(find("device_silent", 0)->ts_us, T0 + S(58 + 60));
	DET->free(st);
}

/* Many devices, deadlines moved around at random: each fires once, at its own time, in order. */
static void heap_order(void **state)
{
	(void)state;
	void *st = mk("{\"devices\":{\"learn\":\"no\",\"timeout\":\"600\"}}");
	enum { N = 300 };
	static uint64_t last[N];
	static bool sched[N];
	memset(last, 0, sizeof(last));
	memset(sched, 0, sizeof(sched));
	uint64_t t = T0;
	for (int k = 0; k < 4000; k++) {
		t += (uint64_t)(rnd() * 100000);
		int i = (int)(rnd() * N);
		char id[16];
		snprintf(id, sizeof(id), "d%d", i);
		pub(st, t, id, "x", "1");
		if (last[i] && t - last[i] >= 500000)
			sched[i] = true;
		last[i] = t;
	}
	tick_to(st, T0, t + S(601));
	unsigned want = 0;
	for (int i = 0; i < N; i++)
		want += sched[i];
	assert_int_equal(n_reps, want);
	for (unsigned k = 0; k < n_reps; k++) {
		const char *d = mstr(&reps[k], "device");
		int i = atoi(d + 1);
		assert_int_equal(reps[k].ts_us, last[i] + S(600));
		if (k)
			assert_true(reps[k].ts_us >= reps[k - 1].ts_us);
	}
	DET->free(st);
}

/* ---- state ---- */

static void state_round_trip(void **state)
{
	(void)state;
	void *st = mk(NULL);
	bridge_up(st, T0);
	pub(st, T0 + S(1), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "offline");
	for (int k = 0; k < 20; k++)
		msg_full(st, T0 + S(2 * k), "esp32-kitchen", "sensors/kitchen/esp32-kitchen", "{}", 2, true,
			 "esp32-kitchen", "10.77.0.11");
	pub(st, T0 + S(3), "learner", "a/b", "1");
	pub(st, T0 + S(5), "learner", "a/b", "1");
	cJSON *s1 = DET->save(st);
	char *t1 = cJSON_PrintUnformatted(s1);
	DET->free(st);

	void *st2 = mk(NULL);
	DET->load(st2, s1);
	assert_int_equal(logbuf[0], 0);
	cJSON *s2 = DET->save(st2);
	char *t2 = cJSON_PrintUnformatted(s2);
	assert_string_equal(t1, t2);
	const cJSON *k = saved_dev(s2, "generic", "esp32-kitchen");
	assert_float_equal(cJSON_GetObjectItem(k, "interval_s")->valuedouble, 2, 1e-9);
	assert_string_equal(cJSON_GetObjectItem(k, "addr")->valuestring, "10.77.0.11");
	const cJSON *l = saved_dev(s2, "generic", "learner");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l, "samples")), 1);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(saved_dev(s2, "z2m", "front_door_lock"), "offline")));
	cJSON_free(t1);
	cJSON_free(t2);
	cJSON_Delete(s1);
	cJSON_Delete(s2);
	/* Restarted a day later: timers run from the first event, not from the old last_seen. */
	uint64_t t = T0 + S(86400);
	DET->on_tick(st2, t);
	assert_int_equal(n_reps, 0);
	tick_to(st2, t, t + S(11));
	assert_int_equal(count("device_silent"), 1);
	const struct rep *r = find("device_silent", 0);
	assert_string_equal(mstr(r, "device"), "esp32-kitchen");
	assert_int_equal(r->ts_us, t + S(10));
	assert_string_equal(r->addr, "10.77.0.11");
	assert_string_equal(mstr(r, "last_seen"), "2025-01-01T00:00:38.000000Z");
	/* The lock's offline episode survived: it comes back with a recovery, no new offline. */
	pub(st2, t + S(20), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "offline");
	assert_int_equal(count("z2m_device_offline"), 0);
	pub(st2, t + S(21), BRIDGE, "zigbee2mqtt/front_door_lock/availability", "online");
	assert_int_equal(count("device_recovered"), 1);
	/* The bridge's client id was kept: others are still not the bridge. */
	pub(st2, t + S(22), "attacker", "zigbee2mqtt/living_room_lamp/availability", "offline");
	assert_int_equal(count("z2m_device_offline"), 0);
	tick_to(st2, t + S(11), t + S(700));
	assert_int_equal(count("device_silent"), 3); /* + learner (default 600) and the lamp */
	DET->free(st2);
}

static void state_garbage(void **state)
{
	(void)state;
	void *st = mk("{\"max-devices\":3,\"devices\":{\"min-timeout\":\"10s\"}}");
	DET->load(st, NULL);
	cJSON *bad = cJSON_Parse("[1,2,3]");
	DET->load(st, bad);
	cJSON_Delete(bad);
	bad = cJSON_Parse("{\"devices\":{\"a\":1},\"bridge\":7}");
	DET->load(st, bad);
	cJSON_Delete(bad);
	char huge[400];
	memset(huge, 'q', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = 0;
	char text[2048];
	snprintf(text, sizeof(text),
		 "{\"bridge\":{\"state\":\"sideways\",\"client_id\":[1]},\"devices\":["
		 "7,{},{\"kind\":\"robot\",\"device\":\"x\"},{\"kind\":\"generic\",\"device\":\"%s\"},"
		 "{\"kind\":\"generic\",\"device\":\"\"},"
		 "{\"kind\":\"generic\",\"device\":\"ok\",\"last_seen_us\":-5,\"interval_s\":\"fast\","
		 "\"samples\":[1,\"x\",null,-3,1e300,2],\"addr\":\"999.1.1.1\",\"mac\":\"zz:zz\"},"
		 "{\"kind\":\"generic\",\"device\":\"ok\"},"
		 "{\"kind\":\"z2m\",\"device\":\"lamp\",\"availability\":5,\"ieee\":\"0x%s\","
		 "\"listed\":\"yes\",\"last_seen_us\":1e300},"
		 "{\"kind\":\"generic\",\"device\":\"two\",\"interval_s\":2,\"max_gap_s\":3,\"last_seen_us\":1},"
		 "{\"kind\":\"generic\",\"device\":\"three\"}]}",
		 huge, huge);
	bad = cJSON_Parse(text);
	assert_non_null(bad);
	/* NaN and infinity cannot be written as JSON text; put them in by hand. */
	cJSON *extra = cJSON_CreateObject();
	cJSON_AddStringToObject(extra, "kind", "generic");
	cJSON_AddStringToObject(extra, "device", "nan");
	cJSON_AddNumberToObject(extra, "interval_s", NAN);
	cJSON_AddNumberToObject(extra, "max_gap_s", INFINITY);
	cJSON_AddNumberToObject(extra, "last_seen_us", NAN);
	cJSON_AddItemToArray(cJSON_GetObjectItem(bad, "devices"), extra);
	DET->load(st, bad);
	cJSON_Delete(bad);
	assert_non_null(strstr(logbuf, "state: not an object"));
	assert_non_null(strstr(logbuf, "devices is not a list"));
	assert_non_null(strstr(logbuf, "kind is not generic or z2m"));
	assert_non_null(strstr(logbuf, "longer than 128 bytes"));
	assert_non_null(strstr(logbuf, "listed twice"));
	cJSON *s = DET->save(st);
	/* ok, lamp and two fit; three and nan were refused by the table. */
	assert_int_equal(saved_count(s), 3);
	const cJSON *ok = saved_dev(s, "generic", "ok");
	assert_non_null(ok);
	assert_null(cJSON_GetObjectItem(ok, "last_seen_us"));
	assert_null(cJSON_GetObjectItem(ok, "interval_s"));
	assert_null(cJSON_GetObjectItem(ok, "addr"));
	assert_null(cJSON_GetObjectItem(ok, "mac"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ok, "samples")), 2);
	const cJSON *lamp = saved_dev(s, "z2m", "lamp");
	assert_true(strlen(cJSON_GetObjectItem(lamp, "ieee")->valuestring) < 24);
	assert_null(cJSON_GetObjectItem(lamp, "last_seen_us"));
	assert_float_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "stats"), "refused")->valuedouble,
			   2, 0);
	cJSON_Delete(s);
	/* It still works: "two" (learned, 2 s) restarts at the first event. */
	tick_to(st, T0, T0 + S(11));
	assert_int_equal(count("device_silent"), 1);
	assert_int_equal(find("device_silent", 0)->ts_us, T0 + S(10));
	DET->free(st);
}

/* ---- limits and configuration ---- */

static void table_full(void **state)
{
	(void)state;
	void *st = mk("{\"max-devices\":\"4\",\"devices\":{\"timeout\":\"100\"}}");
	for (int i = 0; i < 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "dev%d", i);
		pub(st, T0 + S(i), id, "t/x", "1");
		pub(st, T0 + S(i) + 600000, id, "t/x", "1");
	}
	pub(st, T0 + S(10), "flood-1", "t/x", "1");
	pub(st, T0 + S(11), "flood-2", "t/x", "1");
	assert_non_null(strstr(logbuf, "device table full (max-devices 4)"));
	cJSON *s = DET->save(st);
	assert_int_equal(saved_count(s), 4);
	assert_null(saved_dev(s, "generic", "flood-1"));
	assert_float_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "stats"), "refused")->valuedouble,
			   2, 0);
	cJSON_Delete(s);
	/* dev0 keeps publishing; dev1-3 fall silent and are reported. */
	for (int k = 20; k < 150; k += 20)
		pub(st, T0 + S(k), "dev0", "t/x", "1");
	assert_int_equal(count("device_silent"), 3);
	/* Now a new device may take the place of the longest silent one. */
	pub(st, T0 + S(150), "newcomer", "t/x", "1");
	s = DET->save(st);
	assert_non_null(saved_dev(s, "generic", "newcomer"));
	assert_null(saved_dev(s, "generic", "dev1"));
	assert_non_null(saved_dev(s, "generic", "dev2"));
	assert_float_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "stats"), "evicted")->valuedouble,
			   1, 0);
	cJSON_Delete(s);
	/* A silent device that was kept recovers as usual. */
	pub(st, T0 + S(151), "dev2", "t/x", "1");
	assert_int_equal(count("device_recovered"), 1);
	DET->free(st);
}

static void hostile_names(void **state)
{
	(void)state;
	void *st = mk(NULL);
	char id[300];
	memset(id, 'z', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	id[5] = '\n';
	id[6] = (char)0xff;
	id[7] = '"';
	pub(st, T0, id, "a", "1");
	pub(st, T0 + S(1), id, "a", "1");
	tick_to(st, T0, T0 + S(602));
	assert_int_equal(n_reps, 1);
	const struct rep *r = find("device_silent", 0);
	const char *dev = mstr(r, "device");
	assert_non_null(dev);
	/* Cut to SENSOR_ID_MAX bytes; the invalid byte is written as \\xFF. */
	assert_int_equal(strlen(dev), SENSOR_ID_MAX + 3);
	assert_int_equal(dev[5], '\n');
	assert_memory_equal(dev + 6, "\\xFF\"", 5);
	assert_non_null(strstr(r->detail, "zzzzz??\"zz"));
	/* A huge topic under the base: no device, no crash. */
	char topic[1000];
	memcpy(topic, "zigbee2mqtt/", 12);
	memset(topic + 12, 'y', sizeof(topic) - 13);
	topic[sizeof(topic) - 1] = 0;
	pub(st, T0 + S(700), BRIDGE, topic, "{\"state\":\"offline\"}");
	memcpy(topic + sizeof(topic) - 14, "/availability", 14);
	pub(st, T0 + S(700), BRIDGE, topic, "offline");
	pub(st, T0 + S(700), BRIDGE, "zigbee2mqtt/", "offline");
	pub(st, T0 + S(700), BRIDGE, "zigbee2mqtt", "offline");
	pub(st, T0 + S(700), BRIDGE, "zigbee2mqtt//availability", "offline");
	assert_int_equal(count("z2m_device_offline"), 0); /* no name: nothing */
	DET->free(st);
}

static void config_checks(void **state)
{
	(void)state;
	assert_null(mk("{\"devices\":{\"factor\":\"0.5\"}}"));
	assert_non_null(strstr(logbuf, "factor"));
	assert_null(mk("{\"max-devices\":\"0\"}"));
	assert_null(mk("{\"max-devices\":\"lots\"}"));
	assert_null(mk("{\"zigbee2mqtt\":{\"base-topic\":\"z/#\"}}"));
	assert_null(mk("{\"zigbee2mqtt\":{\"timeout\":\"soon\"}}"));
	assert_null(mk("{\"devices\":{\"min-samples\":\"40\"}}"));
	assert_null(mk("{\"devices\":\"yes\"}"));
	void *st = mk("{\"colour\":\"blue\",\"zigbee2mqtt\":{\"enabled\":\"no\"}}");
	assert_non_null(st);
	assert_non_null(strstr(logbuf, "unknown key"));
	/* z2m off: its topics are ordinary generic traffic. */
	pub(st, T0, BRIDGE, "zigbee2mqtt/living_room_lamp/availability", "offline");
	cJSON *s = DET->save(st);
	assert_non_null(saved_dev(s, "generic", BRIDGE));
	cJSON_Delete(s);
	assert_int_equal(n_reps, 0);
	DET->free(st);
	/* A pinned bridge client id and a custom base topic. */
	st = mk("{\"zigbee2mqtt\":{\"base-topic\":\"zb\",\"client-id\":\"z2m\"}}");
	pub(st, T0, "other", "zb/bridge/devices", DEVICES_JSON);
	pub(st, T0, "z2m", "zb/bridge/devices", DEVICES_JSON);
	pub(st, T0 + S(1), "z2m", "zb/old/plug/availability", "offline");
	assert_int_equal(count("z2m_device_offline"), 1);
	assert_string_equal(mstr(find("z2m_device_offline", 0), "device"), "old/plug");
	DET->free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(z2m_devices_parsing, teardown),
		cmocka_unit_test_teardown(z2m_availability_formats, teardown),
		cmocka_unit_test_teardown(z2m_bridge_offline, teardown),
		cmocka_unit_test_teardown(z2m_battery_timeout, teardown),
		cmocka_unit_test_teardown(z2m_last_seen, teardown),
		cmocka_unit_test_teardown(z2m_forged_and_groups, teardown),
		cmocka_unit_test_teardown(generic_learned_silence, teardown),
		cmocka_unit_test_teardown(generic_default_floor, teardown),
		cmocka_unit_test_teardown(generic_default_and_device_name, teardown),
		cmocka_unit_test_teardown(generic_burst_not_learned, teardown),
		cmocka_unit_test_teardown(generic_per_device, teardown),
		cmocka_unit_test_teardown(generic_day_no_false_alarms, teardown),
		cmocka_unit_test_teardown(generic_learn_off, teardown),
		cmocka_unit_test_teardown(heap_order, teardown),
		cmocka_unit_test_teardown(state_round_trip, teardown),
		cmocka_unit_test_teardown(state_garbage, teardown),
		cmocka_unit_test_teardown(table_full, teardown),
		cmocka_unit_test_teardown(hostile_names, teardown),
		cmocka_unit_test_teardown(config_checks, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
