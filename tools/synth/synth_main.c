/*
 * synth_main.c - mqttids-synth: writes a synthetic capture of an MQTT IoT
 * network (ESP32/NodeMCU boards with DHT11/DHT22 sensors, a broker, a
 * dashboard subscriber) with simulated timestamps, deterministic per seed.
 * Nothing is sent anywhere: all addresses only appear in the output file.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <sys/stat.h>

#include "mqtt/mqtt_encode.h"
#include "synth_attack.h"
#include "tb_broker.h"
#include "synth_net.h"
#include "tb_label.h"
#include "tb_payload.h"
#include "tb_scenario.h"
#include "tb_sensor.h"

#define MAX_SENSORS 200
#define US 1000000ull

struct opts {
	unsigned sensors;
	double hours;
	unsigned interval;
	uint64_t seed;
	uint8_t version;
	unsigned keepalive;
	int qos;             /* 0, 1, or -1: per device at random */
	double reconnect_h;  /* mean hours between reconnects of a device */
	uint64_t start;      /* simulated epoch seconds */
	const char *out;
	const char *scenario; /* attacks, tampering, silences (tb_scenario.h) */
	const char *labels;   /* ground truth out (JSON lines) */
	const char *keys;     /* device HMAC keys out (security hmac) */
	const char *acl;      /* the modelled broker's mosquitto acl_file out */
	const char *inventory; /* the clients as mqttids known devices out */
	enum tb_sec security;
	bool hours_set;
};

struct client {
	char id[32];
	char room[24];
	char topic[64];
	char status_topic[80];
	char info[320];     /* retained device description, JSON */
	size_t info_len;
	const char *board;
	bool is_dash;
	struct synth_host host;
	struct tb_dht_model dht;
	uint8_t qos;
	uint16_t keepalive;
	struct synth_conn conn;
	bool connected;
	bool announced;      /* birth/info are retained at the broker */
	uint64_t t_connect;  /* while disconnected: when to connect */
	uint64_t next_pub;
	uint64_t last_tx;    /* last control packet the client sent */
	uint64_t t_drop;     /* planned reconnect */
	uint64_t t_will;     /* after a Wi-Fi drop: when the broker gives up on it */
	uint16_t mid;        /* client's next packet identifier */
	uint16_t peer_mid;   /* broker's next packet identifier on this link */
	uint16_t port;
	struct tb_sec_cfg sec;
	uint64_t ctr;        /* HMAC message counter */
	double silent_from, silent_to; /* epoch seconds: no readings */
	int feed;            /* index in sim.feeds, or -1 */
};

struct sim {
	struct opts o;
	struct synth_pcap pc;
	struct tb_rng rng;
	struct synth_host broker;
	struct client cl[MAX_SENSORS + 1]; /* [0] is the dashboard */
	unsigned n;
	uint64_t end;
	struct tb_scenario sc;
	bool have_sc;
	struct synth_feed feeds[8];
	size_t n_feeds;
	struct tb_label labels[TB_SC_MAX_EVENTS];
	unsigned n_labels;
	unsigned attacks;
	/* summary */
	uint64_t pub_dev, pub_fwd, readings, failed, connects, pingreq,
		 disconnects, retained_sent, wifi_drops;
};

static uint8_t scratch[1 << 16];

/* Encodes m into scratch; the messages here are all well-formed and small. */
static size_t enc(const struct mqtt_msg *m)
{
	size_t n = 0;
	if (mqtt_encode(m, NULL, scratch, sizeof(scratch), &n) != 0) {
		fprintf(stderr, "mqttids-synth: encoder failed (type %u)\n", m->type);
		exit(1);
	}
	return n;
}

static uint16_t next_mid(uint16_t *mid)
{
	uint16_t v = *mid;
	*mid = (uint16_t)(v == 65535 ? 1 : v + 1);
	return v;
}

/* WiFi round trip of a battery-less ESP board: 2-6 ms; the dashboard is wired. */
static uint32_t rtt(struct sim *s, const struct client *c)
{
	if (c->is_dash)
		return 300 + (uint32_t)(tb_rng_unit(&s->rng) * 200);
	return 2000 + (uint32_t)tb_rng_exp(&s->rng, 1500);
}

static uint64_t send_msg(struct sim *s, struct client *c, int dir, uint64_t t,
			 const struct mqtt_msg *m)
{
	size_t n = enc(m);
	return synth_tcp_send(&s->pc, &c->conn, dir, t, scratch, n, 120);
}

static struct mqtt_msg msg(uint8_t type, uint8_t version)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.version = version;
	return m;
}

/*
 * The broker forwards a PUBLISH to the dashboard at t (if it is connected):
 * QoS min(qos, 1) as the dashboard subscribed with QoS 1, retain cleared
 * as MQTT 3.1.1 §3.3.1.3 says for live forwards, PUBACK from the dashboard.
 */
static void forward(struct sim *s, uint64_t t, const char *topic,
		    const char *payload, size_t plen, uint8_t qos)
{
	struct client *d = &s->cl[0];
	if (!d->connected)
		return;
	struct mqtt_msg p = msg(MQTT_PUBLISH, s->o.version);
	p.qos = qos;
	p.topic = mqtt_str(topic);
	p.payload.p = (const uint8_t *)payload;
	p.payload.len = plen;
	if (qos)
		p.msg_id = next_mid(&d->peer_mid);
	uint32_t r = rtt(s, d);
	uint64_t te = send_msg(s, d, SYNTH_S2C, t, &p);
	s->pub_fwd++;
	if (qos) {
		struct mqtt_msg a = msg(MQTT_PUBACK, s->o.version);
		a.msg_id = p.msg_id;
		te += r / 2 + 80;
		send_msg(s, d, SYNTH_C2S, te, &a);
		d->last_tx = te;
	}
}

/*
 * A client PUBLISH at t with the broker's PUBACK (QoS 1) and the forward
 * to the dashboard. Returns the time the exchange ends at the device.
 */
static uint64_t publish(struct sim *s, struct client *c, uint64_t t,
			const char *topic, const char *payload, uint8_t qos,
			bool retain)
{
	struct mqtt_msg p = msg(MQTT_PUBLISH, s->o.version);
	p.qos = qos;
	p.retain = retain;
	p.topic = mqtt_str(topic);
	p.payload = mqtt_str(payload);
	if (qos)
		p.msg_id = next_mid(&c->mid);
	uint32_t r = rtt(s, c);
	uint64_t te = send_msg(s, c, SYNTH_C2S, t, &p);
	c->last_tx = t;
	s->pub_dev++;
	uint64_t tb = te + r / 2 + 150; /* arrival plus broker work */
	if (qos) {
		struct mqtt_msg a = msg(MQTT_PUBACK, s->o.version);
		a.msg_id = p.msg_id;
		send_msg(s, c, SYNTH_S2C, tb, &a);
	}
	forward(s, tb + 60, topic, payload, strlen(payload), qos);
	return tb + r / 2;
}

/* Retained messages of every announced device, sent in one burst (one write). */
static uint64_t retained_burst(struct sim *s, uint64_t t)
{
	struct client *d = &s->cl[0];
	static uint8_t burst[MAX_SENSORS * 512];
	size_t len = 0;
	uint16_t first_mid = d->peer_mid;
	unsigned count = 0;
	for (unsigned i = 1; i <= s->n; i++) {
		struct client *c = &s->cl[i];
		if (!c->announced)
			continue;
		for (int k = 0; k < 2; k++) {
			struct mqtt_msg p = msg(MQTT_PUBLISH, s->o.version);
			char it[96]; /* must outlive the encode below */
			p.qos = 1;
			p.retain = true;
			p.msg_id = next_mid(&d->peer_mid);
			if (k == 0) {
				p.topic = mqtt_str(c->status_topic);
				p.payload = mqtt_str("online");
			} else {
				snprintf(it, sizeof(it), "%s/info", c->topic);
				p.topic = mqtt_str(it);
				p.payload.p = (const uint8_t *)c->info;
				p.payload.len = c->info_len;
			}
			size_t n = 0;
			if (mqtt_encode(&p, NULL, burst + len, sizeof(burst) - len, &n) != 0)
				exit(1);
			len += n;
			count++;
		}
	}
	if (!count)
		return t;
	uint64_t te = synth_tcp_send(&s->pc, &d->conn, SYNTH_S2C, t, burst, len, 15);
	s->pub_fwd += count;
	s->retained_sent += count;
	/* The dashboard acknowledges them all in one write. */
	len = 0;
	for (unsigned i = 0; i < count; i++) {
		struct mqtt_msg a = msg(MQTT_PUBACK, s->o.version);
		uint16_t mid = first_mid;
		for (unsigned k = 0; k < i; k++)
			next_mid(&mid);
		a.msg_id = mid;
		size_t n = 0;
		if (mqtt_encode(&a, NULL, burst + len, sizeof(burst) - len, &n) != 0)
			exit(1);
		len += n;
	}
	te += 200;
	synth_tcp_send(&s->pc, &d->conn, SYNTH_C2S, te, burst, len, 15);
	d->last_tx = te;
	return te;
}

/*
 * Connects client c at t: handshake, CONNECT (will on the status topic,
 * retained "offline") and CONNACK; a device then publishes its retained
 * birth "online" and its info; the dashboard subscribes to sensors/# and
 * receives the retained messages.
 */
static void do_connect(struct sim *s, struct client *c, uint64_t t)
{
	uint32_t r = rtt(s, c);
	c->port = (uint16_t)(c->port >= 65000 ? 49152 : c->port + 1);
	c->conn.side[SYNTH_C2S].port = c->port;
	uint32_t isn_c = (uint32_t)tb_rng_next(&s->rng);
	uint32_t isn_s = (uint32_t)tb_rng_next(&s->rng);
	t = synth_tcp_open(&s->pc, &c->conn, t, r, isn_c, isn_s);
	t += 300;
	struct mqtt_msg m = msg(MQTT_CONNECT, s->o.version);
	m.connect_flags = 0x02; /* clean session */
	m.keepalive = c->keepalive;
	m.client_id = mqtt_str(c->id);
	if (!c->is_dash) {
		m.has_will = true;
		m.connect_flags |= 0x20 | 0x08; /* will retain, will QoS 1 */
		m.will_topic = mqtt_str(c->status_topic);
		m.will_payload = mqtt_str("offline");
	}
	m.has_username = true;
	m.username = mqtt_str(c->is_dash ? "dashboard" : "sensor");
	m.has_password = true;
	m.password = mqtt_str(c->is_dash ? "dash-pass" : "sensor-pass");
	uint64_t te = send_msg(s, c, SYNTH_C2S, t, &m);
	s->connects++;
	c->last_tx = t;
	c->mid = 1;
	c->peer_mid = 1;
	struct mqtt_msg a = msg(MQTT_CONNACK, s->o.version);
	struct mqtt_prop ap = { .id = 34, .u = 10 }; /* topic_alias_maximum, as mosquitto */
	if (s->o.version == 5) {
		a.props.v = &ap;
		a.props.n = 1;
	}
	te = send_msg(s, c, SYNTH_S2C, te + r / 2 + 400, &a);
	c->connected = true;
	t = te + r / 2 + 2000;
	if (c->is_dash) {
		struct mqtt_topic tp = { mqtt_str("sensors/#"), 1 };
		struct mqtt_msg sub = msg(MQTT_SUBSCRIBE, s->o.version);
		sub.msg_id = next_mid(&c->mid);
		sub.topics = &tp;
		sub.n_topics = 1;
		te = send_msg(s, c, SYNTH_C2S, t, &sub);
		c->last_tx = t;
		static const uint8_t granted = 1;
		struct mqtt_msg sa = msg(MQTT_SUBACK, s->o.version);
		sa.msg_id = sub.msg_id;
		sa.codes.p = &granted;
		sa.codes.len = 1;
		te = send_msg(s, c, SYNTH_S2C, te + r / 2 + 150, &sa);
		retained_burst(s, te + 100);
	} else {
		te = publish(s, c, t, c->status_topic, "online", 1, true);
		char it[96];
		snprintf(it, sizeof(it), "%s/info", c->topic);
		publish(s, c, te + 1000, it, c->info, 1, true);
		c->announced = true;
		/* First reading after the DHT's 1-2 s warm-up. */
		c->next_pub = t + 1500000 + (uint64_t)(tb_rng_unit(&s->rng) * 1000000);
	}
	double hours = tb_rng_exp(&s->rng, c->is_dash ? 6.0 : s->o.reconnect_h);
	c->t_drop = t + (uint64_t)(hours * 3600 * US);
}

/* Graceful reconnect: DISCONNECT, FIN from the client, back after 2-10 s. */
/*
 * A Wi-Fi drop: the board vanishes mid-connection, sending nothing. The
 * broker notices after 1.5 keepalive periods without a packet ("exceeded
 * timeout"), closes towards nobody and publishes the will, which reaches
 * the dashboard. The board is back 30-120 s after the drop, after that.
 */
static void do_wifi_drop(struct sim *s, struct client *c, uint64_t t)
{
	s->wifi_drops++;
	c->connected = false;
	c->conn.side[SYNTH_C2S].ack_pending = false;
	c->t_will = c->last_tx + (uint64_t)c->keepalive * 1500000u;
	if (c->t_will < t)
		c->t_will = t;
	c->t_connect = t + 30 * US + (uint64_t)(tb_rng_unit(&s->rng) * 90 * US);
	if (c->t_connect < c->t_will + 2 * US) /* long keepalives: back after the will */
		c->t_connect = c->t_will + 2 * US;
}

static void do_will(struct sim *s, struct client *c, uint64_t t)
{
	c->t_will = 0;
	synth_tcp_fin_unanswered(&s->pc, &c->conn, SYNTH_S2C, t);
	/* The will: QoS 1, retained at the broker, forwarded with retain cleared. */
	forward(s, t + 200, c->status_topic, "offline", 7, 1);
}

static void do_disconnect(struct sim *s, struct client *c, uint64_t t)
{
	/* Without a keepalive the broker would never notice a drop. */
	if (!c->is_dash && c->keepalive && tb_rng_unit(&s->rng) < 0.3) {
		do_wifi_drop(s, c, t);
		return;
	}
	struct mqtt_msg d = msg(MQTT_DISCONNECT, s->o.version);
	uint64_t te = send_msg(s, c, SYNTH_C2S, t, &d);
	s->disconnects++;
	te = synth_tcp_close(&s->pc, &c->conn, SYNTH_C2S, te + 500, rtt(s, c));
	c->connected = false;
	c->t_connect = te + 2 * US + (uint64_t)(tb_rng_unit(&s->rng) * 8 * US);
}

static void do_ping(struct sim *s, struct client *c, uint64_t t)
{
	uint32_t r = rtt(s, c);
	struct mqtt_msg q = msg(MQTT_PINGREQ, s->o.version);
	uint64_t te = send_msg(s, c, SYNTH_C2S, t, &q);
	c->last_tx = t;
	s->pingreq++;
	struct mqtt_msg p = msg(MQTT_PINGRESP, s->o.version);
	send_msg(s, c, SYNTH_S2C, te + r / 2 + 100, &p);
}

static void do_reading(struct sim *s, struct client *c, uint64_t t)
{
	double temp, hum;
	double ts = (double)s->o.start + (double)t / US;
	/* Loop period: the sketch's delay plus a little work jitter. */
	c->next_pub = t + (uint64_t)s->o.interval * US +
		      (uint64_t)(tb_rng_unit(&s->rng) * 40000);
	if (!tb_dht_read(&c->dht, ts, &temp, &hum)) {
		s->failed++; /* the sketch logs "Failed to read" and skips */
		return;
	}
	if (ts >= c->silent_from && ts < c->silent_to)
		return; /* a hung sketch: no readings, the client library still pings */
	char js[256];
	struct tb_reading rd = { c->id, temp, hum, c->dht.kind == TB_DHT22, ++c->ctr,
				 (uint64_t)ts };
	if (!tb_payload_format(&rd, &c->sec, js, sizeof(js)))
		return;
	s->readings++;
	if (c->feed >= 0) {
		struct synth_feed *f = &s->feeds[c->feed];
		if (f->n == f->cap) {
			size_t nc = f->cap ? f->cap * 2 : 256;
			uint64_t *nt = realloc(f->t, nc * sizeof(*nt));
			char (*np)[256] = realloc(f->payload, nc * sizeof(*np));
			if (!nt || !np)
				exit(1);
			f->t = nt;
			f->payload = np;
			f->cap = nc;
		}
		f->t[f->n] = t;
		snprintf(f->payload[f->n], sizeof(f->payload[0]), "%s", js);
		f->n++;
	}
	publish(s, c, t, c->topic, js, c->qos, false);
}

enum ev { EV_NONE, EV_ACK_C, EV_ACK_S, EV_CONNECT, EV_DROP, EV_PING, EV_READ, EV_WILL };

static uint64_t client_next(const struct client *c, enum ev *kind)
{
	uint64_t best = UINT64_MAX;
	*kind = EV_NONE;
#define CAND(tv, k) do { if ((tv) < best) { best = (tv); *kind = (k); } } while (0)
	if (c->conn.side[SYNTH_C2S].ack_pending)
		CAND(c->conn.side[SYNTH_C2S].ack_due, EV_ACK_C);
	if (c->conn.side[SYNTH_S2C].ack_pending)
		CAND(c->conn.side[SYNTH_S2C].ack_due, EV_ACK_S);
	if (!c->connected) {
		if (c->t_will)
			CAND(c->t_will, EV_WILL);
		CAND(c->t_connect, EV_CONNECT);
		return best;
	}
	CAND(c->t_drop, EV_DROP);
	if (!c->is_dash)
		CAND(c->next_pub, EV_READ);
	if (c->keepalive)
		CAND(c->last_tx + (uint64_t)c->keepalive * US, EV_PING);
#undef CAND
	return best;
}

/* base temperature, daily amplitude, base humidity per room, in tb_sensor_name's room order */
static const double room_clim[][3] = {
	{ 22.0, 1.5, 45 }, { 21.0, 1.2, 42 }, { 19.0, 1.0, 48 }, { 23.0, 1.5, 60 },
	{ 21.5, 1.5, 40 }, { 13.0, 3.0, 65 }, { 19.5, 1.0, 44 }, { 16.0, 0.5, 70 },
	{ 18.0, 4.0, 38 }, { 21.0, 0.8, 47 }, { 20.5, 1.2, 43 }, { 20.0, 1.0, 62 },
	{ 18.5, 1.0, 46 }, { 12.0, 6.0, 72 }, { 14.0, 5.0, 68 }, { 20.0, 1.8, 41 },
};

static void host_init(struct synth_host *h, const uint8_t oui[3], uint8_t last,
		      uint8_t ttl, uint16_t win, uint16_t mss, uint32_t ack_delay,
		      struct tb_rng *rng)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->mac, oui, 3);
	uint64_t r = tb_rng_next(rng);
	h->mac[3] = (uint8_t)(r >> 8);
	h->mac[4] = (uint8_t)(r >> 16);
	h->mac[5] = last;
	/* The testbed's addressing plan (docs/TESTBED.md): 10.77.0.0/24 is HOME_NET. */
	h->ip[0] = 10;
	h->ip[1] = 77;
	h->ip[2] = 0;
	h->ip[3] = last;
	h->ip_id = (uint16_t)(r >> 32);
	h->ttl = ttl;
	h->window = win;
	h->mss = mss;
	h->ack_delay_us = ack_delay;
}

static void sim_setup(struct sim *s)
{
	static const uint8_t oui_esp32[3] = { 0x24, 0x0a, 0xc4 };   /* Espressif */
	static const uint8_t oui_esp8266[3] = { 0x5c, 0xcf, 0x7f }; /* Espressif */
	static const uint8_t oui_rpi[3] = { 0xb8, 0x27, 0xeb };     /* Raspberry Pi */
	static const uint8_t oui_pc[3] = { 0x3c, 0x52, 0x82 };
	s->rng.s = s->o.seed;
	/* Broker: Linux on a Raspberry Pi (40 ms delayed ACK); dashboard: a PC. */
	host_init(&s->broker, oui_rpi, 1, 64, 64240, 1460, 40000, &s->rng);
	struct client *d = &s->cl[0];
	snprintf(d->id, sizeof(d->id), "dashboard");
	d->is_dash = true;
	d->keepalive = 60;
	d->board = "pc";
	host_init(&d->host, oui_pc, 5, 64, 64240, 1460, 40000, &s->rng);
	d->t_connect = 500000;
	d->port = (uint16_t)(40000 + tb_rng_next(&s->rng) % 20000);
	for (unsigned i = 1; i <= s->n; i++) {
		struct client *c = &s->cl[i];
		unsigned ri = (i - 1) % 16;
		/* Named as the live runner names them (tb_sensor_name). */
		bool esp32 = i % 2 == 1;
		bool dht22 = tb_rng_unit(&s->rng) < 0.35;
		c->board = esp32 ? "esp32" : "nodemcu";
		tb_sensor_name(i, c->id, sizeof(c->id), c->room, sizeof(c->room),
			       c->topic, sizeof(c->topic));
		/* Via locals: GCC's -Wrestrict cannot tell sibling members apart. */
		char tmp[sizeof(c->info)];
		snprintf(tmp, sizeof(c->status_topic), "%s/status", c->topic);
		memcpy(c->status_topic, tmp, sizeof(c->status_topic));
		/* lwIP: ESP32 MSS 1436 / 5744 window, ESP8266 536 / 2144; TTL 255. */
		host_init(&c->host, esp32 ? oui_esp32 : oui_esp8266, (uint8_t)(10 + i),
			  255, esp32 ? 5744 : 2144, esp32 ? 1436 : 536, 100000, &s->rng);
		c->qos = s->o.qos >= 0 ? (uint8_t)s->o.qos
				       : (uint8_t)(tb_rng_unit(&s->rng) < 0.5);
		c->keepalive = (uint16_t)s->o.keepalive;
		tb_dht_init(&c->dht, dht22 ? TB_DHT22 : TB_DHT11,
			       room_clim[ri][0], room_clim[ri][1], room_clim[ri][2],
			       tb_rng_next(&s->rng));
		c->info_len = (size_t)snprintf(tmp, sizeof(tmp),
			"{\"device\":\"%s\",\"board\":\"%s\",\"sensor\":\"%s\","
			"\"firmware\":\"1.4.2\",\"ip\":\"10.77.0.%u\","
			"\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\",\"room\":\"%s\","
			"\"interval\":%u,\"keepalive\":%u,\"qos\":%u}",
			c->id, esp32 ? "ESP32-DevKitC" : "NodeMCU v3",
			dht22 ? "DHT22" : "DHT11", c->host.ip[3], c->host.mac[0],
			c->host.mac[1], c->host.mac[2], c->host.mac[3], c->host.mac[4],
			c->host.mac[5], c->room, s->o.interval, c->keepalive, c->qos);
		memcpy(c->info, tmp, sizeof(c->info));
		/* Boards power up within the first 30 s. */
		c->t_connect = 2 * US + (uint64_t)(tb_rng_unit(&s->rng) * 30 * US);
		c->port = (uint16_t)(49152 + tb_rng_next(&s->rng) % 10000);
		c->feed = -1;
		c->silent_from = c->silent_to = -1;
		c->sec.mode = s->o.security;
		if (s->o.security == TB_SEC_KEY)
			snprintf(c->sec.shared_key, sizeof(c->sec.shared_key), "%s",
				 "s3cr3t-esp-key");
		for (size_t k = 0; k < 32; k++)
			c->sec.key[k] = (uint8_t)tb_rng_next(&s->rng);
		c->sec.key_len = 32;
	}
	for (unsigned i = 0; i <= s->n; i++) {
		struct client *c = &s->cl[i];
		c->conn.side[SYNTH_C2S].h = &c->host;
		c->conn.side[SYNTH_S2C].h = &s->broker;
		c->conn.side[SYNTH_S2C].port = 1883;
	}
}

static void sim_run(struct sim *s)
{
	for (;;) {
		uint64_t best = UINT64_MAX;
		enum ev kind = EV_NONE;
		struct client *who = NULL;
		for (unsigned i = 0; i <= s->n; i++) {
			enum ev k;
			uint64_t t = client_next(&s->cl[i], &k);
			if (t < best) {
				best = t;
				kind = k;
				who = &s->cl[i];
			}
		}
		if (!who || best >= s->end)
			break;
		switch (kind) {
		case EV_ACK_C: synth_tcp_flush_ack(&s->pc, &who->conn, SYNTH_C2S); break;
		case EV_ACK_S: synth_tcp_flush_ack(&s->pc, &who->conn, SYNTH_S2C); break;
		case EV_CONNECT: do_connect(s, who, best); break;
		case EV_DROP: do_disconnect(s, who, best); break;
		case EV_WILL: do_will(s, who, best); break;
		case EV_PING: do_ping(s, who, best); break;
		case EV_READ: do_reading(s, who, best); break;
		case EV_NONE: return;
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mqttids-synth [options] -o OUT.pcap\n"
		"  --sensors N         sensor boards (1-%d, default 20)\n"
		"  --hours H           simulated hours (default 24)\n"
		"  --interval S        seconds between readings (default 60)\n"
		"  --seed X            random seed (default 1)\n"
		"  --mqtt-version V    3 (MQIsdp), 4 (3.1.1) or 5 (default 4)\n"
		"  --keepalive S       device keepalive (default 15, as PubSubClient)\n"
		"  --qos Q             0, 1 or mixed (default mixed)\n"
		"  --reconnect-hours H mean hours between device reconnects (default 8)\n"
		"  --security M        none, key or hmac (default none)\n"
		"  --start EPOCH       simulated start time (default 1735689600)\n"
		"  --scenario FILE     sensors, timing, attacks and events from a scenario\n"
		"                      file (its values win over the options above,\n"
		"                      except --hours, which replaces its duration)\n"
		"  --labels FILE       write the ground truth (JSON lines) here\n"
		"  --keys FILE         write the devices' HMAC keys here (mode 0600)\n"
		"  --acl FILE          write the modelled broker's mosquitto acl_file here\n"
		"  --inventory FILE    write the clients as mqttids known devices (JSON) here\n"
		"  -o, --output FILE   pcap to write\n", MAX_SENSORS);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "sensors", required_argument, NULL, 'n' },
		{ "hours", required_argument, NULL, 'H' },
		{ "interval", required_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 's' },
		{ "mqtt-version", required_argument, NULL, 'V' },
		{ "keepalive", required_argument, NULL, 'k' },
		{ "qos", required_argument, NULL, 'q' },
		{ "reconnect-hours", required_argument, NULL, 'r' },
		{ "security", required_argument, NULL, 'x' },
		{ "start", required_argument, NULL, 'S' },
		{ "scenario", required_argument, NULL, 'c' },
		{ "labels", required_argument, NULL, 'l' },
		{ "keys", required_argument, NULL, 'K' },
		{ "acl", required_argument, NULL, 'A' },
		{ "inventory", required_argument, NULL, 'I' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct opts){ 20, 24, 60, 1, 4, 15, -1, 8, 1735689600ull, NULL,
			    NULL, NULL, NULL, NULL, NULL, TB_SEC_NONE, false };
	int c;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o->sensors = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'H': o->hours = strtod(optarg, NULL); o->hours_set = true; break;
		case 'i': o->interval = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': o->seed = strtoull(optarg, NULL, 0); break;
		case 'V': o->version = (uint8_t)strtoul(optarg, NULL, 10); break;
		case 'k': o->keepalive = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q': o->qos = strcmp(optarg, "mixed") == 0 ? -1 : atoi(optarg); break;
		case 'r': o->reconnect_h = strtod(optarg, NULL); break;
		case 'S': o->start = strtoull(optarg, NULL, 10); break;
		case 'c': o->scenario = optarg; break;
		case 'l': o->labels = optarg; break;
		case 'K': o->keys = optarg; break;
		case 'A': o->acl = optarg; break;
		case 'I': o->inventory = optarg; break;
		case 'x':
			if (!strcmp(optarg, "none")) o->security = TB_SEC_NONE;
			else if (!strcmp(optarg, "key")) o->security = TB_SEC_KEY;
			else if (!strcmp(optarg, "hmac")) o->security = TB_SEC_HMAC;
			else return -1;
			break;
		case 'o': o->out = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (!o->out || optind != argc || o->sensors < 1 || o->sensors > MAX_SENSORS ||
	    !(o->hours > 0) || o->interval < 1 || o->version < 3 || o->version > 5 ||
	    o->keepalive < 1 || o->keepalive > 65535 || o->qos < -1 || o->qos > 1 ||
	    !(o->reconnect_h > 0))
		return -1;
	return 0;
}

/* Takes the scenario's network and timing in place of the options. */
static void apply_scenario(struct sim *s)
{
	const struct tb_scenario *sc = &s->sc;
	s->o.sensors = sc->sensors;
	s->o.interval = sc->interval;
	s->o.qos = sc->qos;
	s->o.keepalive = sc->keepalive;
	s->o.version = sc->mqtt_version;
	s->o.security = sc->security;
	s->o.seed = sc->seed;
	if (!s->o.hours_set)
		s->o.hours = sc->duration / 3600.0;
	if (sc->z2m)
		fprintf(stderr, "mqttids-synth: %s: the Zigbee2MQTT bridge is not rendered "
				"in synthetic mode (live runs only); ignored\n", s->o.scenario);
}

static struct client *find_client(struct sim *s, const char *id)
{
	for (unsigned i = 1; i <= s->n; i++)
		if (strcmp(s->cl[i].id, id) == 0)
			return &s->cl[i];
	return NULL;
}

static struct tb_label *new_label(struct sim *s, const char *kind)
{
	struct tb_label *l = &s->labels[s->n_labels++];
	tb_label_init(l, kind, "synthetic");
	snprintf(l->target, sizeof(l->target), "10.77.0.1:1883");
	return l;
}

/*
 * Sensor-side events before the run: tampering and silences change the
 * device model; replay attacks need the victim's readings recorded.
 */
static int prepare_events(struct sim *s)
{
	for (unsigned i = 0; i < s->sc.n_ev; i++) {
		const struct tb_event *e = &s->sc.ev[i];
		double t0 = (double)s->o.start + e->at;
		double t1 = e->for_s > 0 ? t0 + e->for_s : (double)s->o.start + s->o.hours * 3600;
		if (e->kind == TB_EV_Z2M_OFFLINE) {
			fprintf(stderr, "mqttids-synth: %s:%u: z2m-offline is not rendered in "
					"synthetic mode; ignored\n", s->o.scenario, e->line);
			continue;
		}
		if (e->kind == TB_EV_ATTACK) {
			s->attacks++;
			if (strcmp(e->argv[0], "replay") != 0)
				continue;
			struct tb_attack_opts o;
			char *av[TB_SC_MAX_ARGS];
			for (int k = 0; k < e->argc; k++)
				av[k] = (char *)e->argv[k];
			if (tb_attack_parse(e->argc, av, &o, stderr) != 0)
				return -1;
			for (unsigned k = 1; k <= s->n; k++)
				if (!strcmp(s->cl[k].topic, o.topic) && s->cl[k].feed < 0 &&
				    s->n_feeds < sizeof(s->feeds) / sizeof(s->feeds[0])) {
					s->cl[k].feed = (int)s->n_feeds;
					snprintf(s->feeds[s->n_feeds].topic,
						 sizeof(s->feeds[0].topic), "%s", o.topic);
					s->n_feeds++;
				}
			continue;
		}
		struct client *c = find_client(s, e->device);
		if (!c) {
			fprintf(stderr, "mqttids-synth: %s:%u: no sensor %s\n", s->o.scenario,
				e->line, e->device);
			return -1;
		}
		struct tb_label *l = new_label(s, e->kind == TB_EV_TAMPER ? "tamper" : "silence");
		snprintf(l->attacker, sizeof(l->attacker), "physical");
		/* memcpy: GCC's -Wrestrict cannot tell these strings apart. */
		size_t n = strnlen(c->id, sizeof(l->device) - 1);
		memcpy(l->device, c->id, n);
		l->device[n] = 0;
		n = strnlen(c->topic, sizeof(l->topic) - 1);
		memcpy(l->topic, c->topic, n);
		l->topic[n] = 0;
		l->start_us = (uint64_t)(t0 * 1e6);
		l->end_us = (uint64_t)(t1 * 1e6);
		if (e->kind == TB_EV_TAMPER) {
			tb_dht_tamper(&c->dht, t0, t1, e->delta);
			snprintf(l->detail, sizeof(l->detail), "\"delta\":%g", e->delta);
		} else {
			c->silent_from = t0;
			c->silent_to = t1;
		}
	}
	return 0;
}

static int label_cmp(const void *a, const void *b)
{
	const struct tb_label *x = a, *y = b;
	return x->start_us < y->start_us ? -1 : x->start_us > y->start_us;
}

/* Renders the attacks into parts, merges them with the benign part, writes labels. */
static int finish(struct sim *s, FILE *benign)
{
	FILE *parts[TB_SC_MAX_EVENTS + 1];
	size_t np = 0;
	parts[np++] = benign;
	struct synth_host atk;
	memset(&atk, 0, sizeof(atk));
	static const uint8_t mac_atk[6] = { 0x3c, 0x7c, 0x3f, 0x1e, 0x63, 0x42 };
	memcpy(atk.mac, mac_atk, 6);
	atk.ip[0] = 10; atk.ip[1] = 77; atk.ip[2] = 99; atk.ip[3] = 66;
	atk.ttl = 64;
	atk.window = 64240;
	atk.mss = 1460;
	atk.ack_delay_us = 40000;
	atk.ip_id = 0x3c11;
	for (unsigned i = 0; i < s->sc.n_ev; i++) {
		const struct tb_event *e = &s->sc.ev[i];
		if (e->kind != TB_EV_ATTACK)
			continue;
		struct tb_attack_opts o;
		char *av[TB_SC_MAX_ARGS];
		for (int k = 0; k < e->argc; k++)
			av[k] = (char *)e->argv[k];
		if (tb_attack_parse(e->argc, av, &o, stderr) != 0) {
			fprintf(stderr, "mqttids-synth: %s:%u: bad attack arguments\n",
				s->o.scenario, e->line);
			return -1;
		}
		if (o.version == 4 && s->o.version != 4)
			o.version = s->o.version; /* attackers speak the network's version */
		struct synth_pcap part;
		if (synth_pcap_open_fp(&part, tmpfile()) != 0) {
			fprintf(stderr, "mqttids-synth: cannot create a scratch file\n");
			return -1;
		}
		part.epoch_us = s->pc.epoch_us;
		struct tb_label *l = &s->labels[s->n_labels++];
		if (synth_attack_render(&o, (uint64_t)(e->at * 1e6), &atk, &s->broker,
					s->feeds, s->n_feeds, &part, l,
					s->o.seed * 1000003u + i) != 0)
			fprintf(stderr, "mqttids-synth: %s:%u: attack %s: %s\n", s->o.scenario,
				e->line, e->argv[0], l->detail);
		atk.ip_id = (uint16_t)(atk.ip_id + 7919);
		if (fflush(part.f) != 0 || part.err) {
			fprintf(stderr, "mqttids-synth: write error on a scratch file\n");
			return -1;
		}
		parts[np++] = part.f;
	}
	struct synth_pcap out;
	if (synth_pcap_open(&out, s->o.out) != 0) {
		fprintf(stderr, "mqttids-synth: cannot write %s\n", s->o.out);
		return -1;
	}
	out.epoch_us = s->pc.epoch_us;
	int rc = synth_pcap_merge(&out, parts, np);
	for (size_t i = 0; i < np; i++)
		fclose(parts[i]);
	s->pc.packets = out.packets;
	s->pc.bytes = out.bytes;
	if (synth_pcap_close(&out) != 0 || rc != 0) {
		fprintf(stderr, "mqttids-synth: write error on %s\n", s->o.out);
		return -1;
	}
	if (s->o.labels) {
		FILE *lf = fopen(s->o.labels, "w");
		if (!lf) {
			fprintf(stderr, "mqttids-synth: cannot write %s\n", s->o.labels);
			return -1;
		}
		fclose(lf);
		qsort(s->labels, s->n_labels, sizeof(s->labels[0]), label_cmp);
		for (unsigned i = 0; i < s->n_labels; i++)
			if (tb_label_write(s->o.labels, &s->labels[i]) != 0)
				return -1;
	}
	return 0;
}

/* Device keys as "<device> <hex>" lines, the format tb_key_file_lookup reads. */
static int write_keys(const struct sim *s)
{
	int fd = open(s->o.keys, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		fprintf(stderr, "mqttids-synth: cannot write %s\n", s->o.keys);
		return -1;
	}
	fchmod(fd, 0600);
	for (unsigned i = 1; i <= s->n; i++) {
		fprintf(f, "%s ", s->cl[i].id);
		for (size_t k = 0; k < s->cl[i].sec.key_len; k++)
			fprintf(f, "%02x", s->cl[i].sec.key[k]);
		fputc('\n', f);
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* The broker model's ACL (tb_broker.c), as mosquitto reads it. */
static int write_acl(const char *path)
{
	static char buf[8192];
	size_t n = tb_acl_file(buf, sizeof(buf));
	FILE *f = fopen(path, "w");
	if (!f || !n || fwrite(buf, 1, n, f) != n) {
		if (f)
			fclose(f);
		fprintf(stderr, "mqttids-synth: cannot write %s\n", path);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* The dashboard and the sensors as mqttids' device inventory file (docs/sensors.md). */
static int write_inventory(const struct sim *s)
{
	FILE *f = fopen(s->o.inventory, "w");
	if (!f) {
		fprintf(stderr, "mqttids-synth: cannot write %s\n", s->o.inventory);
		return -1;
	}
	fputs("[\n", f);
	for (unsigned i = 0; i <= s->n; i++) {
		const struct client *c = &s->cl[i];
		const uint8_t *m = c->host.mac;
		fprintf(f, "%s  {\"name\": \"%s\", \"ip\": \"10.77.0.%u\", \"mac\": \"%02x:%02x:%02x:%02x:%02x:%02x\", "
			"\"client_id\": \"%s\", \"username\": \"%s\"}",
			i ? ",\n" : "", c->id, c->host.ip[3], m[0], m[1], m[2], m[3], m[4], m[5], c->id,
			c->is_dash ? "dashboard" : "sensor");
	}
	fputs("\n]\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct sim s;
	if (parse_opts(argc, argv, &s.o) != 0) {
		usage(stderr);
		return 1;
	}
	if (s.o.scenario) {
		if (tb_scenario_load(s.o.scenario, &s.sc, stderr) != 0)
			return 1;
		s.have_sc = true;
		apply_scenario(&s);
	}
	s.n = s.o.sensors;
	s.end = (uint64_t)(s.o.hours * 3600.0 * US);
	/* The benign part goes to a scratch stream merged with the attacks at the end. */
	FILE *benign = tmpfile();
	if (!benign || synth_pcap_open_fp(&s.pc, benign) != 0) {
		fprintf(stderr, "mqttids-synth: cannot create a scratch file\n");
		return 1;
	}
	/* Simulated time 0 is the start epoch: the writer adds it. */
	s.pc.epoch_us = s.o.start * US;
	sim_setup(&s);
	if (s.have_sc && prepare_events(&s) != 0)
		return 1;
	sim_run(&s);
	if (fflush(benign) != 0 || s.pc.err) {
		fprintf(stderr, "mqttids-synth: write error on a scratch file\n");
		return 1;
	}
	if (finish(&s, benign) != 0)
		return 1; /* finish said why */
	if (s.o.keys && write_keys(&s) != 0)
		return 1;
	if (s.o.acl && write_acl(s.o.acl) != 0)
		return 1;
	if (s.o.inventory && write_inventory(&s) != 0)
		return 1;
	printf("seed=%llu sensors=%u hours=%g interval=%u mqtt_version=%u keepalive=%u\n",
	       (unsigned long long)s.o.seed, s.n, s.o.hours, s.o.interval,
	       s.o.version, s.o.keepalive);
	for (unsigned i = 0; i <= s.n; i++) {
		const struct client *c = &s.cl[i];
		printf("client %s 10.77.0.%u %s %s qos=%u\n", c->id, c->host.ip[3],
		       c->board, c->is_dash ? "-" : c->dht.kind == TB_DHT22 ? "DHT22" : "DHT11",
		       c->qos);
	}
	printf("publish_device=%llu\npublish_forwarded=%llu\npublish_total=%llu\n"
	       "readings=%llu\nfailed_reads=%llu\nconnects=%llu\ndisconnects=%llu\n"
	       "pingreq=%llu\nretained_delivered=%llu\nwifi_drops=%llu\npackets=%llu\nbytes=%llu\n",
	       (unsigned long long)s.pub_dev, (unsigned long long)s.pub_fwd,
	       (unsigned long long)(s.pub_dev + s.pub_fwd),
	       (unsigned long long)s.readings, (unsigned long long)s.failed,
	       (unsigned long long)s.connects, (unsigned long long)s.disconnects,
	       (unsigned long long)s.pingreq, (unsigned long long)s.retained_sent,
	       (unsigned long long)s.wifi_drops,
	       (unsigned long long)s.pc.packets, (unsigned long long)s.pc.bytes);
	printf("attacks=%u\nlabels=%u\n", s.attacks, s.n_labels);
	return 0;
}
