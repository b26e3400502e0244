/*
 * sensor_z2m.c - a Zigbee2MQTT 1.x bridge for mqttids-sensor: bridge state
 * with its will, retained bridge/info, bridge/devices and bridge/groups,
 * device states with last_seen, and device availability (legacy strings,
 * JSON objects, or both across devices), with a device dropping off the
 * Zigbee network on request (docs/TESTBED.md, "Zigbee2MQTT bridge mode").
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SN_Z2M_VERSION "1.35.1"
#define SN_Z2M_COMMIT "9ab3e2b"
/* Zigbee2MQTT's availability timeouts are 10 min (active: mains devices)
 * and 25 h (passive: battery devices); scaled down so runs stay short. */
#define SN_Z2M_TIMEOUT_ACTIVE_S 10.0
#define SN_Z2M_TIMEOUT_PASSIVE_S 30.0
#define SN_Z2M_BATTERY_FACTOR 3.0   /* battery devices report less often */

enum sn_z2m_kind { Z_BULB, Z_LOCK, Z_MOTION, Z_AIR, Z_CLIMATE, Z_PLUG };

/* Real Zigbee2MQTT definitions (model, vendor, description) and the
 * Basic cluster's modelID/manufacturerName these devices report. */
static const struct sn_z2m_type {
	enum sn_z2m_kind kind;
	const char *first_name;  /* the fixed four */
	const char *stem;        /* further ones: stem_N */
	bool mains;
	const char *model_id, *manufacturer, *model, *vendor, *description;
	const char *sw_build, *date_code;
} sn_z2m_types[] = {
	{ Z_BULB, "living_room_lamp", "lamp", true, "TRADFRI bulb E27 WS opal 980lm",
	  "IKEA of Sweden", "LED1545G12", "IKEA",
	  "TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm", "2.3.093",
	  "20200131" },
	{ Z_LOCK, "front_door_lock", "door_lock", false, "YRD226 TSDB", "Yale",
	  "YRD226HA2619", "Yale", "Assure lock", "0.35", "20190125" },
	{ Z_MOTION, "hallway_motion", "motion_sensor", false, "lumi.sensor_motion.aq2",
	  "LUMI", "RTCGQ11LM", "Aqara",
	  "Motion sensor", "3000-0001", "20170627" },
	{ Z_AIR, "kitchen_air", "air_monitor", true, "VINDSTYRKA", "IKEA of Sweden",
	  "E2112", "IKEA", "Air quality sensor", "1.0.11", "20230306" },
	{ Z_CLIMATE, NULL, "climate_sensor", false, "lumi.weather", "LUMI",
	  "WSDCGQ11LM", "Aqara", "Temperature, humidity and pressure sensor",
	  "3000-0001", "20161129" },
	{ Z_PLUG, NULL, "smart_plug", true, "TRADFRI control outlet",
	  "IKEA of Sweden", "E1603/E1702/E1708", "IKEA", "Control outlet",
	  "2.3.089", "20211007" },
};

/* Devices past the fixed four cycle through these types. */
static const enum sn_z2m_kind sn_z2m_more[] = { Z_CLIMATE, Z_PLUG, Z_BULB,
						Z_MOTION, Z_LOCK, Z_AIR };

struct sn_z2m_dev {
	const struct sn_z2m_type *t;
	char name[48];
	char topic[128];
	char avail_topic[160];
	char ieee[20];
	unsigned nwk;
	bool json_avail;
	double period, timeout;
	double next_pub, last_seen;
	bool present;       /* on the Zigbee network */
	bool avail_online;  /* what availability last said */
	/* state */
	int lqi, lqi_base, battery, voltage, brightness, color_temp;
	bool on, occupancy, locked;
	double temp, hum, pressure, illum;
	int pm25, voc;
};

struct sn_z2m {
	struct sn_client *c;
	const struct sn_opts *o;
	struct tb_rng rng;
	unsigned n;
	struct sn_z2m_dev dev[SN_Z2M_MAX_DEVICES];
	char coord_ieee[20];
	char topic_state[96], topic_info[96], topic_devices[96], topic_groups[96];
	char sub_filter[80];
	char buf[16384];      /* bridge/devices and friends */
	char msg[512];        /* one device state */
	/* devices dropping off (--z2m-offline), sorted by device and time */
	struct sn_z2m_off {
		struct sn_z2m_dev *dev;
		double at, until;
		bool gone, done;
	} off[SN_MAX_WINDOWS];
	unsigned n_off;
	unsigned long states, avail_msgs;
};

static const struct sn_z2m_type *sn_z2m_type_of(enum sn_z2m_kind k)
{
	for (size_t i = 0; i < sizeof(sn_z2m_types) / sizeof(sn_z2m_types[0]); i++)
		if (sn_z2m_types[i].kind == k)
			return &sn_z2m_types[i];
	return &sn_z2m_types[0];
}

static const struct sn_z2m_type *sn_z2m_type_at(unsigned i)
{
	if (i < 4)
		return &sn_z2m_types[i];
	return sn_z2m_type_of(sn_z2m_more[(i - 4) % (sizeof(sn_z2m_more) /
						     sizeof(sn_z2m_more[0]))]);
}

const char *sn_z2m_device_name(unsigned i, unsigned n, char *out, size_t cap)
{
	(void)n;
	const struct sn_z2m_type *t = sn_z2m_type_at(i);
	if (i < 4)
		snprintf(out, cap, "%s", t->first_name);
	else
		snprintf(out, cap, "%s_%u", t->stem, i + 1);
	return out;
}

static double sn_clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static bool sn_chance(struct tb_rng *r, double p)
{
	return tb_rng_unit(r) < p;
}

static void sn_z2m_dev_setup(struct sn_z2m *z, unsigned i)
{
	struct sn_z2m_dev *v = &z->dev[i];
	const struct sn_opts *o = z->o;
	v->t = sn_z2m_type_at(i);
	/* Via locals: GCC's -Wrestrict cannot tell sibling members apart. */
	char name[sizeof(v->name)], topic[sizeof(v->topic)];
	sn_z2m_device_name(i, z->n, name, sizeof(name));
	snprintf(topic, sizeof(topic), "%s/%s", o->z2m_base, name);
	memcpy(v->name, name, sizeof(name));
	memcpy(v->topic, topic, sizeof(topic));
	snprintf(v->avail_topic, sizeof(v->avail_topic), "%s/availability", topic);
	snprintf(v->ieee, sizeof(v->ieee), "0x00158d000%07llx",
		 (unsigned long long)(tb_rng_next(&z->rng) & 0xfffffffull));
	v->nwk = 1 + (unsigned)(tb_rng_next(&z->rng) % 65000);
	v->json_avail = o->avail == SN_AVAIL_JSON ||
			(o->avail == SN_AVAIL_BOTH && i % 2 == 0);
	v->period = o->interval * (v->t->mains ? 1.0 : SN_Z2M_BATTERY_FACTOR);
	v->timeout = v->t->mains ? SN_Z2M_TIMEOUT_ACTIVE_S : SN_Z2M_TIMEOUT_PASSIVE_S;
	v->present = true;
	v->avail_online = true;
	v->lqi_base = 60 + (int)(tb_rng_next(&z->rng) % 140);
	v->lqi = v->lqi_base;
	v->battery = 60 + (int)(tb_rng_next(&z->rng) % 41);
	v->voltage = 2900 + (int)(tb_rng_next(&z->rng) % 200);
	v->brightness = 254;
	v->color_temp = 250 + (int)(tb_rng_next(&z->rng) % 200);
	v->on = sn_chance(&z->rng, 0.6);
	v->locked = true;
	v->temp = 19 + tb_rng_unit(&z->rng) * 4;
	v->hum = 40 + tb_rng_unit(&z->rng) * 15;
	v->pressure = 1005 + tb_rng_unit(&z->rng) * 20;
	v->illum = 5 + tb_rng_unit(&z->rng) * 300;
	v->pm25 = 3 + (int)(tb_rng_next(&z->rng) % 10);
	v->voc = 80 + (int)(tb_rng_next(&z->rng) % 60);
}

/* Random walk of a device between two reports. */
static void sn_z2m_dev_step(struct sn_z2m *z, struct sn_z2m_dev *v)
{
	struct tb_rng *r = &z->rng;
	v->lqi = (int)sn_clampd(v->lqi_base + tb_rng_normal(r) * 12, 0, 255);
	v->temp = sn_clampd(v->temp + tb_rng_normal(r) * 0.08, -10, 45);
	v->hum = sn_clampd(v->hum + tb_rng_normal(r) * 0.3, 5, 99);
	v->pressure = sn_clampd(v->pressure + tb_rng_normal(r) * 0.1, 950, 1050);
	switch (v->t->kind) {
	case Z_BULB:
		if (sn_chance(r, 0.05))
			v->on = !v->on;
		if (sn_chance(r, 0.1))
			v->brightness = 30 + (int)(tb_rng_next(r) % 225);
		break;
	case Z_PLUG:
		if (sn_chance(r, 0.03))
			v->on = !v->on;
		break;
	case Z_LOCK:
		if (sn_chance(r, 0.05))
			v->locked = !v->locked;
		break;
	case Z_MOTION:
		v->occupancy = sn_chance(r, 0.3);
		v->illum = sn_clampd(v->illum * exp(tb_rng_normal(r) * 0.1), 0, 1500);
		break;
	case Z_AIR:
		v->pm25 = (int)sn_clampd(v->pm25 + tb_rng_normal(r) * 1.5, 0, 500);
		v->voc = (int)sn_clampd(v->voc + tb_rng_normal(r) * 4, 1, 500);
		break;
	case Z_CLIMATE:
		break;
	}
}

/* The state JSON Zigbee2MQTT publishes for a device (last_seen ISO_8601). */
static size_t sn_z2m_state_json(struct sn_z2m *z, struct sn_z2m_dev *v, double now)
{
	char ls[40];
	sn_iso8601(ls, sizeof(ls), now);
	struct sn_buf b;
	sn_buf_init(&b, z->msg, sizeof(z->msg));
	switch (v->t->kind) {
	case Z_BULB:
		sn_buf_printf(&b, "{\"brightness\":%d,\"color_mode\":\"color_temp\","
			      "\"color_temp\":%d,\"linkquality\":%d,\"state\":\"%s\"",
			      v->brightness, v->color_temp, v->lqi, v->on ? "ON" : "OFF");
		break;
	case Z_PLUG:
		sn_buf_printf(&b, "{\"linkquality\":%d,\"state\":\"%s\"", v->lqi,
			      v->on ? "ON" : "OFF");
		break;
	case Z_LOCK:
		sn_buf_printf(&b, "{\"battery\":%d,\"linkquality\":%d,\"lock_state\":\"%s\","
			      "\"state\":\"%s\"", v->battery, v->lqi,
			      v->locked ? "locked" : "unlocked",
			      v->locked ? "LOCK" : "UNLOCK");
		break;
	case Z_MOTION:
		sn_buf_printf(&b, "{\"battery\":%d,\"device_temperature\":%d,"
			      "\"illuminance\":%d,\"illuminance_lux\":%d,\"linkquality\":%d,"
			      "\"occupancy\":%s,\"power_outage_count\":0,\"voltage\":%d",
			      v->battery, (int)lround(v->temp + 2), (int)lround(v->illum),
			      (int)lround(v->illum), v->lqi, v->occupancy ? "true" : "false",
			      v->voltage);
		break;
	case Z_AIR:
		sn_buf_printf(&b, "{\"humidity\":%d,\"linkquality\":%d,\"pm25\":%d,"
			      "\"temperature\":%.1f,\"voc_index\":%d", (int)lround(v->hum),
			      v->lqi, v->pm25, v->temp, v->voc);
		break;
	case Z_CLIMATE:
		sn_buf_printf(&b, "{\"battery\":%d,\"humidity\":%.2f,\"linkquality\":%d,"
			      "\"power_outage_count\":0,\"pressure\":%.1f,"
			      "\"temperature\":%.2f,\"voltage\":%d", v->battery, v->hum,
			      v->lqi, v->pressure, v->temp, v->voltage);
		break;
	}
	sn_buf_printf(&b, ",\"last_seen\":\"%s\"}", ls);
	return b.overflow ? 0 : b.len;
}

static void sn_z2m_pub_avail(struct sn_z2m *z, struct sn_z2m_dev *v, bool online)
{
	const char *p = v->json_avail ? (online ? "{\"state\":\"online\"}"
						: "{\"state\":\"offline\"}")
				      : (online ? "online" : "offline");
	if (sn_publish(z->c, v->avail_topic, p, strlen(p), 1, true) == 0)
		z->avail_msgs++;
}

static size_t sn_z2m_info_json(struct sn_z2m *z)
{
	const struct sn_opts *o = z->o;
	struct sn_buf b;
	sn_buf_init(&b, z->buf, sizeof(z->buf));
	sn_buf_printf(&b,
		"{\"commit\":\"" SN_Z2M_COMMIT "\",\"config\":{\"advanced\":{"
		"\"last_seen\":\"ISO_8601\",\"legacy_availability_payload\":%s,"
		"\"log_level\":\"info\"},\"availability\":{\"active\":{\"timeout\":%g},"
		"\"passive\":{\"timeout\":%g}},\"homeassistant\":false,"
		"\"mqtt\":{\"base_topic\":\"%s\",\"client_id\":\"%s\","
		"\"force_disable_retain\":false,\"include_device_information\":false,"
		"\"keepalive\":%d,\"server\":\"mqtt://%s\",\"version\":%d},"
		"\"permit_join\":false,\"serial\":{\"adapter\":\"zstack\","
		"\"port\":\"/dev/ttyUSB0\"}},"
		"\"coordinator\":{\"ieee_address\":\"%s\",\"meta\":{\"maintrel\":1,"
		"\"majorrel\":2,\"minorrel\":7,\"product\":1,\"revision\":20230507,"
		"\"transportrev\":2},\"type\":\"zStack3x0\"},"
		"\"log_level\":\"info\",\"network\":{\"channel\":11,"
		"\"extended_pan_id\":\"0xdddddddddddddddd\",\"pan_id\":6754},"
		"\"permit_join\":false,\"restart_required\":false,"
		"\"version\":\"" SN_Z2M_VERSION "\"}",
		o->avail == SN_AVAIL_LEGACY ? "true" : "false",
		SN_Z2M_TIMEOUT_ACTIVE_S / 60.0, SN_Z2M_TIMEOUT_PASSIVE_S / 60.0,
		o->z2m_base, z->c->id, o->keepalive, z->c->target, o->version,
		z->coord_ieee);
	return b.overflow ? 0 : b.len;
}

static size_t sn_z2m_devices_json(struct sn_z2m *z)
{
	struct sn_buf b;
	sn_buf_init(&b, z->buf, sizeof(z->buf));
	sn_buf_printf(&b, "[{\"definition\":null,\"disabled\":false,"
		      "\"endpoints\":{\"1\":{\"bindings\":[],\"clusters\":{\"input\":[],"
		      "\"output\":[]},\"configured_reportings\":[],\"scenes\":[]}},"
		      "\"friendly_name\":\"Coordinator\",\"ieee_address\":\"%s\","
		      "\"interview_completed\":true,\"interviewing\":false,"
		      "\"network_address\":0,\"supported\":true,\"type\":\"Coordinator\"}",
		      z->coord_ieee);
	for (unsigned i = 0; i < z->n; i++) {
		const struct sn_z2m_dev *v = &z->dev[i];
		const struct sn_z2m_type *t = v->t;
		sn_buf_printf(&b, ",{\"date_code\":\"%s\",\"definition\":{"
			      "\"description\":\"%s\",\"model\":\"%s\",\"supports_ota\":%s,"
			      "\"vendor\":\"%s\"},\"disabled\":false,\"friendly_name\":\"%s\","
			      "\"ieee_address\":\"%s\",\"interview_completed\":true,"
			      "\"interviewing\":false,\"manufacturer\":\"%s\","
			      "\"model_id\":\"%s\",\"network_address\":%u,"
			      "\"power_source\":\"%s\",\"software_build_id\":\"%s\","
			      "\"supported\":true,\"type\":\"%s\"}",
			      t->date_code, t->description, t->model,
			      t->mains ? "true" : "false", t->vendor, v->name, v->ieee,
			      t->manufacturer, t->model_id, v->nwk,
			      t->mains ? "Mains (single phase)" : "Battery", t->sw_build,
			      t->mains ? "Router" : "EndDevice");
	}
	sn_buf_printf(&b, "]");
	return b.overflow ? 0 : b.len;
}

/*
 * On (re)connect, as Zigbee2MQTT's controller does: subscribe to its base
 * topic, bridge state online, the retained bridge description, then every
 * device's availability.
 */
static void sn_z2m_on_connect(void *ud)
{
	struct sn_z2m *z = ud;
	const struct sn_opts *o = z->o;
	sn_subscribe(z->c, z->sub_filter, 0);
	const char *st = o->avail == SN_AVAIL_LEGACY ? "online" : "{\"state\":\"online\"}";
	sn_publish(z->c, z->topic_state, st, strlen(st), 0, true);
	size_t n = sn_z2m_info_json(z);
	if (n)
		sn_publish(z->c, z->topic_info, z->buf, n, 0, true);
	else
		fprintf(stderr, "%s: bridge/info does not fit\n", z->c->id);
	n = sn_z2m_devices_json(z);
	if (n)
		sn_publish(z->c, z->topic_devices, z->buf, n, 0, true);
	else
		fprintf(stderr, "%s: bridge/devices does not fit\n", z->c->id);
	sn_publish(z->c, z->topic_groups, "[]", 2, 0, true);
	for (unsigned i = 0; i < z->n; i++)
		sn_z2m_pub_avail(z, &z->dev[i], z->dev[i].avail_online);
}

int sn_z2m_init(struct sn_z2m **out, struct sn_client *c, double now)
{
	const struct sn_opts *o = c->o;
	struct sn_z2m *z = calloc(1, sizeof(*z));
	if (!z) {
		fprintf(stderr, "%s: out of memory\n", c->id);
		return -1;
	}
	z->c = c;
	z->o = o;
	z->n = o->z2m_devices;
	z->rng.s = o->seed ^ 0x7a32u;
	snprintf(z->coord_ieee, sizeof(z->coord_ieee), "0x00124b00%08llx",
		 (unsigned long long)(tb_rng_next(&z->rng) & 0xffffffffull));
	snprintf(z->topic_state, sizeof(z->topic_state), "%s/bridge/state", o->z2m_base);
	snprintf(z->topic_info, sizeof(z->topic_info), "%s/bridge/info", o->z2m_base);
	snprintf(z->topic_devices, sizeof(z->topic_devices), "%s/bridge/devices",
		 o->z2m_base);
	snprintf(z->topic_groups, sizeof(z->topic_groups), "%s/bridge/groups",
		 o->z2m_base);
	snprintf(z->sub_filter, sizeof(z->sub_filter), "%s/#", o->z2m_base);
	for (unsigned i = 0; i < z->n; i++) {
		sn_z2m_dev_setup(z, i);
		/* Reports spread over the first period, as after a restart. */
		z->dev[i].next_pub = now + 0.5 + tb_rng_unit(&z->rng) * z->dev[i].period;
		z->dev[i].last_seen = now;
	}
	for (unsigned k = 0; k < o->n_z2m_off; k++) {
		const struct sn_window *w = &o->z2m_off[k];
		struct sn_z2m_off *f = &z->off[z->n_off];
		for (unsigned i = 0; i < z->n && !f->dev; i++)
			if (strcmp(w->name, z->dev[i].name) == 0)
				f->dev = &z->dev[i];
		if (!f->dev) {
			fprintf(stderr, "--z2m-offline: no device %s\n", w->name);
			free(z);
			return -1;
		}
		f->at = now + w->at;
		f->until = w->for_s > 0 ? f->at + w->for_s : INFINITY;
		z->n_off++;
	}
	c->on_connect = sn_z2m_on_connect;
	c->ud = z;
	*out = z;
	return 0;
}

static void sn_z2m_label(struct sn_z2m *z, struct sn_z2m_off *f, double end)
{
	sn_label_event(z->c, "z2m-offline", f->at, end, f->dev->name, f->dev->topic,
		       NULL);
	f->done = true;
}

/*
 * Devices leaving and coming back: gone at f->at (reports stop), back at
 * f->until (it announces itself at once). Windows of one device do not
 * overlap (checked with the options).
 */
static void sn_z2m_offline_tick(struct sn_z2m *z, double now)
{
	for (unsigned k = 0; k < z->n_off; k++) {
		struct sn_z2m_off *f = &z->off[k];
		if (f->done)
			continue;
		if (!f->gone && now >= f->until) {
			/* A window shorter than the scheduler's step: over already. */
			sn_z2m_label(z, f, f->until);
			continue;
		}
		if (!f->gone && now >= f->at) {
			f->gone = true;
			f->dev->present = false;
			if (z->o->verbose)
				printf("%s: %s left the Zigbee network\n", z->c->id, f->dev->name);
		}
		if (f->gone && now >= f->until) {
			f->gone = false;
			f->dev->present = true;
			f->dev->next_pub = now;
			sn_z2m_label(z, f, f->until);
		}
	}
}

double sn_z2m_tick(struct sn_z2m *z, double now)
{
	sn_z2m_offline_tick(z, now);
	double next = INFINITY;
	for (unsigned i = 0; i < z->n; i++) {
		struct sn_z2m_dev *v = &z->dev[i];
		if (v->present && now >= v->next_pub) {
			v->last_seen = now;
			if (!v->avail_online) {
				v->avail_online = true;
				sn_z2m_pub_avail(z, v, true);
			}
			sn_z2m_dev_step(z, v);
			size_t n = sn_z2m_state_json(z, v, now);
			if (n && sn_publish(z->c, v->topic, z->msg, n, z->o->qos, false) == 0)
				z->states++;
			v->next_pub = now + v->period * (0.9 + 0.2 * tb_rng_unit(&z->rng));
		}
		/* Not seen for the availability timeout: offline (retained). */
		if (!v->present && v->avail_online && now >= v->last_seen + v->timeout) {
			v->avail_online = false;
			sn_z2m_pub_avail(z, v, false);
		}
		if (v->present && v->next_pub < next)
			next = v->next_pub;
		if (!v->present && v->avail_online && v->last_seen + v->timeout < next)
			next = v->last_seen + v->timeout;
	}
	for (unsigned k = 0; k < z->n_off; k++) {
		const struct sn_z2m_off *f = &z->off[k];
		if (f->done)
			continue;
		double t = f->gone ? f->until : f->at;
		if (t < next)
			next = t;
	}
	return next;
}

void sn_z2m_stop(struct sn_z2m *z)
{
	const char *st = z->o->avail == SN_AVAIL_LEGACY ? "offline" : "{\"state\":\"offline\"}";
	sn_publish(z->c, z->topic_state, st, strlen(st), 0, true);
}

void sn_z2m_finish(struct sn_z2m *z, double now)
{
	for (unsigned k = 0; k < z->n_off; k++)
		if (!z->off[k].done && z->off[k].gone)
			sn_z2m_label(z, &z->off[k], now);
	printf("mqttids-sensor: %s: devices=%u states=%lu availability=%lu "
	       "published=%lu received=%lu connects=%lu drops=%lu\n",
	       z->c->id, z->n, z->states, z->avail_msgs, atomic_load(&z->c->published),
	       atomic_load(&z->c->received), atomic_load(&z->c->connects),
	       atomic_load(&z->c->drops));
}

void sn_z2m_free(struct sn_z2m *z)
{
	free(z);
}
