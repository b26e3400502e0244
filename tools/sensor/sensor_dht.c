/*
 * sensor_dht.c - the DHT11/DHT22 sensor board of mqttids-sensor: an
 * ESP32/NodeMCU sketch with PubSubClient (seeds 000/001) that reads the
 * shared tb_dht model on the wall clock and publishes the tb_payload
 * reading, with birth/info messages, tampering and silence windows.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rooms of mqttids-synth (tools/synth/synth_main.c) and their climate:
 * base temperature, daily amplitude (degC), base relative humidity. */
static const struct {
	const char *room;
	double base_t, amp_t, base_h;
} sn_rooms[] = {
	{ "kitchen", 22.0, 1.5, 45 },   { "livingroom", 21.0, 1.2, 42 },
	{ "bedroom", 19.0, 1.0, 48 },   { "bathroom", 23.0, 1.5, 60 },
	{ "office", 21.5, 1.5, 40 },    { "garage", 13.0, 3.0, 65 },
	{ "hallway", 19.5, 1.0, 44 },   { "basement", 16.0, 0.5, 70 },
	{ "attic", 18.0, 4.0, 38 },     { "nursery", 21.0, 0.8, 47 },
	{ "diningroom", 20.5, 1.2, 43 }, { "laundry", 20.0, 1.0, 62 },
	{ "guestroom", 18.5, 1.0, 46 }, { "garden", 12.0, 6.0, 72 },
	{ "porch", 14.0, 5.0, 68 },     { "studio", 20.0, 1.8, 41 },
};

#define SN_FIRMWARE "1.4.2"
#define SN_LOOP_JITTER_S 0.040  /* the sketch's loop() granularity */

struct sn_dht {
	struct sn_client *c;
	const struct sn_opts *o;
	struct tb_dht_model dht;
	struct tb_rng rng;          /* loop jitter */
	bool nodemcu;
	uint8_t mac[6];
	char status_topic[SN_TOPIC_MAX + 16];
	char info_topic[SN_TOPIC_MAX + 16];
	char payload[512];
	double start, next_base, next_read;
	uint64_t ctr;
	/* the windows of o->tamper / o->silence in epoch seconds */
	struct sn_dht_win {
		double start, end;
		bool done;            /* labelled */
	} tw[SN_MAX_WINDOWS], sw[SN_MAX_WINDOWS];
	unsigned armed;               /* tamper windows handed to the model */
	unsigned long readings, failed, silenced, offline;
};

/* Birth: retained "online" on the status topic and the retained info. */
static void sn_dht_on_connect(void *ud)
{
	struct sn_dht *d = ud;
	const struct sn_opts *o = d->o;
	char info[512];
	int n = snprintf(info, sizeof(info),
		"{\"device\":\"%s\",\"board\":\"%s\",\"sensor\":\"%s\","
		"\"firmware\":\"" SN_FIRMWARE "\",\"ip\":\"%s\","
		"\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\",\"room\":\"%s\","
		"\"interval\":%g,\"keepalive\":%d,\"qos\":%d}",
		o->client_id, d->nodemcu ? "NodeMCU v3" : "ESP32-DevKitC",
		o->model == TB_DHT22 ? "DHT22" : "DHT11", d->c->local_ip,
		d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5],
		o->room, o->interval, o->keepalive, o->qos);
	sn_publish(d->c, d->status_topic, "online", 6, 1, true);
	if (n > 0 && (size_t)n < sizeof(info))
		sn_publish(d->c, d->info_topic, info, (size_t)n, 1, true);
}

/*
 * The model holds one tampering (tb_dht_tamper). The windows are sorted and
 * disjoint; each is handed over when it begins (the first at once), so the
 * previous one's decay runs on until then.
 */
static void sn_dht_arm(struct sn_dht *d, double now)
{
	const struct sn_opts *o = d->o;
	while (d->armed < o->n_tamper && (d->armed == 0 || now >= d->tw[d->armed].start)) {
		unsigned i = d->armed++;
		tb_dht_tamper(&d->dht, d->tw[i].start,
			      o->tamper[i].for_s > 0 ? d->tw[i].end : 1e18, o->tamper[i].delta);
	}
}

static void sn_room_climate(const char *room, double *t, double *a, double *h)
{
	*t = 21.0;
	*a = 1.5;
	*h = 45;
	for (size_t i = 0; i < sizeof(sn_rooms) / sizeof(sn_rooms[0]); i++) {
		if (strcmp(sn_rooms[i].room, room) == 0) {
			*t = sn_rooms[i].base_t;
			*a = sn_rooms[i].amp_t;
			*h = sn_rooms[i].base_h;
			return;
		}
	}
}

int sn_dht_init(struct sn_dht **out, struct sn_client *c, double now)
{
	const struct sn_opts *o = c->o;
	struct sn_dht *d = calloc(1, sizeof(*d));
	if (!d) {
		fprintf(stderr, "%s: out of memory\n", o->client_id);
		return -1;
	}
	d->c = c;
	d->o = o;
	d->start = now;
	d->rng.s = o->seed ^ 0x5bd1e995u;
	double bt, ba, bh;
	sn_room_climate(o->room, &bt, &ba, &bh);
	tb_dht_init(&d->dht, o->model, bt, ba, bh, o->seed);
	/* Boards are named esp32-... or nodemcu-...: the info message and MAC
	 * (Espressif prefixes) follow the name, as in mqttids-synth. */
	d->nodemcu = strncmp(o->client_id, "nodemcu", 7) == 0;
	static const uint8_t oui_esp32[3] = { 0x24, 0x0a, 0xc4 };
	static const uint8_t oui_esp8266[3] = { 0x5c, 0xcf, 0x7f };
	memcpy(d->mac, d->nodemcu ? oui_esp8266 : oui_esp32, 3);
	uint64_t r = tb_rng_next(&d->rng);
	d->mac[3] = (uint8_t)r;
	d->mac[4] = (uint8_t)(r >> 8);
	d->mac[5] = (uint8_t)(r >> 16);
	snprintf(d->status_topic, sizeof(d->status_topic), "%s/status", o->topic);
	snprintf(d->info_topic, sizeof(d->info_topic), "%s/info", o->topic);
	for (unsigned i = 0; i < o->n_tamper; i++) {
		d->tw[i].start = now + o->tamper[i].at;
		d->tw[i].end = o->tamper[i].for_s > 0 ? d->tw[i].start + o->tamper[i].for_s
						      : INFINITY;
	}
	for (unsigned i = 0; i < o->n_silence; i++) {
		d->sw[i].start = now + o->silence[i].at;
		d->sw[i].end = o->silence[i].for_s > 0 ? d->sw[i].start + o->silence[i].for_s
						       : INFINITY;
	}
	sn_dht_arm(d, now);
	/* As the sketch: the first reading one interval after power-up. */
	d->next_base = now + o->interval;
	d->next_read = d->next_base + tb_rng_unit(&d->rng) * SN_LOOP_JITTER_S;
	c->on_connect = sn_dht_on_connect;
	c->ud = d;
	*out = d;
	return 0;
}

static void sn_dht_label_tamper(struct sn_dht *d, unsigned i, double end)
{
	char detail[64];
	snprintf(detail, sizeof(detail), "\"delta\":%g", d->o->tamper[i].delta);
	sn_label_event(d->c, "tamper", d->tw[i].start, end, d->o->client_id,
		       d->o->topic, detail);
	d->tw[i].done = true;
}

static void sn_dht_label_silence(struct sn_dht *d, unsigned i, double end)
{
	sn_label_event(d->c, "silence", d->sw[i].start, end, d->o->client_id,
		       d->o->topic, NULL);
	d->sw[i].done = true;
}

/* A silence window holds now. */
static bool sn_dht_silent(const struct sn_dht *d, double now)
{
	for (unsigned i = 0; i < d->o->n_silence; i++)
		if (now >= d->sw[i].start && now < d->sw[i].end)
			return true;
	return false;
}

/* One pass of the sketch's loop body when the interval is up. */
static void sn_dht_reading(struct sn_dht *d, double now)
{
	const struct sn_opts *o = d->o;
	if (sn_dht_silent(d, now)) {
		d->silenced++;
		return;
	}
	double t, h;
	if (!tb_dht_read(&d->dht, now, &t, &h)) {
		/* The stock DHT example: print and return, nothing published. */
		fprintf(stderr, "%s: Failed to read from DHT sensor!\n", o->client_id);
		d->failed++;
		return;
	}
	d->readings++;
	if (!atomic_load(&d->c->connected)) {
		d->offline++;
		return;
	}
	struct tb_reading r = {
		.device = o->client_id,
		.temperature = t,
		.humidity = h,
		.dht22 = o->model == TB_DHT22,
		.ctr = d->ctr + 1,
		.ts = (uint64_t)now,
	};
	size_t n = tb_payload_format(&r, &o->sec, d->payload, sizeof(d->payload));
	if (n == 0) {
		fprintf(stderr, "%s: reading does not fit the payload buffer\n",
			o->client_id);
		return;
	}
	if (sn_publish(d->c, o->topic, d->payload, n, o->qos, false) == 0)
		d->ctr++;
	else
		d->offline++;
}

double sn_dht_tick(struct sn_dht *d, double now)
{
	const struct sn_opts *o = d->o;
	sn_dht_arm(d, now);
	for (unsigned i = 0; i < o->n_tamper; i++)
		if (!d->tw[i].done && now >= d->tw[i].end)
			sn_dht_label_tamper(d, i, d->tw[i].end);
	for (unsigned i = 0; i < o->n_silence; i++)
		if (!d->sw[i].done && now >= d->sw[i].end)
			sn_dht_label_silence(d, i, d->sw[i].end);
	if (now >= d->next_read) {
		sn_dht_reading(d, now);
		d->next_base += o->interval;
		if (d->next_base <= now) /* suspended for a while: no burst */
			d->next_base = now + o->interval;
		d->next_read = d->next_base + tb_rng_unit(&d->rng) * SN_LOOP_JITTER_S;
	}
	double next = d->next_read;
	if (d->armed < o->n_tamper && d->tw[d->armed].start < next)
		next = d->tw[d->armed].start;
	for (unsigned i = 0; i < o->n_tamper; i++)
		if (!d->tw[i].done && d->tw[i].end < next)
			next = d->tw[i].end;
	for (unsigned i = 0; i < o->n_silence; i++)
		if (!d->sw[i].done && d->sw[i].end < next)
			next = d->sw[i].end;
	return next;
}

void sn_dht_finish(struct sn_dht *d, double now)
{
	const struct sn_opts *o = d->o;
	/* Windows still open end with the run; ones not begun never happened. */
	for (unsigned i = 0; i < o->n_tamper; i++)
		if (!d->tw[i].done && now >= d->tw[i].start)
			sn_dht_label_tamper(d, i, now < d->tw[i].end ? now : d->tw[i].end);
	for (unsigned i = 0; i < o->n_silence; i++)
		if (!d->sw[i].done && now >= d->sw[i].start)
			sn_dht_label_silence(d, i, now < d->sw[i].end ? now : d->sw[i].end);
	printf("mqttids-sensor: %s: readings=%lu failed_reads=%lu silenced=%lu "
	       "offline=%lu published=%lu connects=%lu drops=%lu\n",
	       o->client_id, d->readings, d->failed, d->silenced, d->offline,
	       atomic_load(&d->c->published), atomic_load(&d->c->connects),
	       atomic_load(&d->c->drops));
}

void sn_dht_free(struct sn_dht *d)
{
	free(d);
}

void sn_dht_banner(const struct sn_opts *o)
{
	static const char *const sec[] = { "none", "key", "hmac" };
	printf("mqttids-sensor: %s (%s) -> %s:%d%s%s on %s every %g s, qos %d, "
	       "keepalive %d, MQTT %s, security %s\n",
	       o->client_id, o->model == TB_DHT22 ? "DHT22" : "DHT11", o->broker,
	       o->port, o->bind ? " from " : "", o->bind ? o->bind : "", o->topic,
	       o->interval, o->qos, o->keepalive,
	       o->version == 3 ? "3.1" : o->version == 5 ? "5.0" : "3.1.1",
	       sec[o->sec.mode]);
}
