/*
 * sensor_main.c - mqttids-sensor: the testbed's live MQTT devices on a real
 * broker. One process is one device: a DHT11/DHT22 sensor board (default),
 * a Zigbee2MQTT bridge (--z2m) or a dashboard (--dashboard). This file
 * holds the options, the clock and the main thread's scheduler.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PROG "mqttids-sensor"

/* ------------------------------------------------------------------ clock */

static double sn_clock_base; /* epoch seconds at monotonic zero */

static double sn_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The wall clock at start, advanced by the monotonic clock: schedules and
 * label times do not jump when the system time is stepped. */
static void sn_clock_init(void)
{
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	sn_clock_base = (double)rt.tv_sec + rt.tv_nsec / 1e9 - sn_mono();
}

double sn_now(void)
{
	return sn_clock_base + sn_mono();
}

void sn_iso8601(char *out, size_t cap, double epoch_s)
{
	double fl = floor(epoch_s);
	time_t s = (time_t)fl;
	unsigned ms = (unsigned)((epoch_s - fl) * 1000.0);
	if (ms > 999)
		ms = 999;
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%03uZ", ms);
}

/* ------------------------------------------------------------------ text */

void sn_buf_init(struct sn_buf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	b->overflow = false;
	if (cap)
		p[0] = '\0';
}

void sn_buf_printf(struct sn_buf *b, const char *fmt, ...)
{
	if (b->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = true;
		b->p[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

/* ------------------------------------------------------------------ options */

enum {
	OPT_BROKER = 256, OPT_PORT, OPT_BIND, OPT_DEVICE, OPT_ROOM, OPT_TOPIC,
	OPT_INTERVAL, OPT_MODEL, OPT_QOS, OPT_KEEPALIVE, OPT_VERSION, OPT_USERNAME,
	OPT_PASSWORD, OPT_SECURITY, OPT_SHARED_KEY, OPT_KEY_FILE, OPT_SEED,
	OPT_DURATION, OPT_LABEL, OPT_TAMPER_AT, OPT_TAMPER_FOR, OPT_TAMPER_DELTA,
	OPT_SILENCE_AT, OPT_SILENCE_FOR, OPT_DROP_EVERY, OPT_Z2M, OPT_Z2M_DEVICES,
	OPT_Z2M_BASE, OPT_AVAILABILITY, OPT_Z2M_OFFLINE, OPT_Z2M_OFFLINE_AT,
	OPT_Z2M_OFFLINE_FOR, OPT_DASHBOARD, OPT_SUBSCRIBE, OPT_VERBOSE, OPT_END
};

#define M_DHT (1u << SN_MODE_DHT)
#define M_Z2M (1u << SN_MODE_Z2M)
#define M_DASH (1u << SN_MODE_DASH)
#define M_ALL (M_DHT | M_Z2M | M_DASH)

static const struct option sn_long_opts[] = {
	{ "broker", required_argument, NULL, OPT_BROKER },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "room", required_argument, NULL, OPT_ROOM },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "qos", required_argument, NULL, OPT_QOS },
	{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
	{ "mqtt-version", required_argument, NULL, OPT_VERSION },
	{ "username", required_argument, NULL, OPT_USERNAME },
	{ "password", required_argument, NULL, OPT_PASSWORD },
	{ "security", required_argument, NULL, OPT_SECURITY },
	{ "shared-key", required_argument, NULL, OPT_SHARED_KEY },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "tamper-at", required_argument, NULL, OPT_TAMPER_AT },
	{ "tamper-for", required_argument, NULL, OPT_TAMPER_FOR },
	{ "tamper-delta", required_argument, NULL, OPT_TAMPER_DELTA },
	{ "silence-at", required_argument, NULL, OPT_SILENCE_AT },
	{ "silence-for", required_argument, NULL, OPT_SILENCE_FOR },
	{ "drop-every", required_argument, NULL, OPT_DROP_EVERY },
	{ "z2m", no_argument, NULL, OPT_Z2M },
	{ "z2m-devices", required_argument, NULL, OPT_Z2M_DEVICES },
	{ "z2m-base", required_argument, NULL, OPT_Z2M_BASE },
	{ "availability", required_argument, NULL, OPT_AVAILABILITY },
	{ "z2m-offline", required_argument, NULL, OPT_Z2M_OFFLINE },
	{ "z2m-offline-at", required_argument, NULL, OPT_Z2M_OFFLINE_AT },
	{ "z2m-offline-for", required_argument, NULL, OPT_Z2M_OFFLINE_FOR },
	{ "dashboard", no_argument, NULL, OPT_DASHBOARD },
	{ "subscribe", required_argument, NULL, OPT_SUBSCRIBE },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Which modes each option belongs to. */
static unsigned sn_opt_modes(int id)
{
	switch (id) {
	case OPT_ROOM: case OPT_TOPIC: case OPT_MODEL: case OPT_SECURITY:
	case OPT_SHARED_KEY: case OPT_KEY_FILE: case OPT_TAMPER_AT:
	case OPT_TAMPER_FOR: case OPT_TAMPER_DELTA: case OPT_SILENCE_AT:
	case OPT_SILENCE_FOR:
		return M_DHT;
	case OPT_INTERVAL: case OPT_LABEL:
		return M_DHT | M_Z2M;
	case OPT_Z2M: case OPT_Z2M_DEVICES: case OPT_Z2M_BASE: case OPT_AVAILABILITY:
	case OPT_Z2M_OFFLINE: case OPT_Z2M_OFFLINE_AT: case OPT_Z2M_OFFLINE_FOR:
		return M_Z2M;
	case OPT_DASHBOARD: case OPT_SUBSCRIBE:
		return M_DASH;
	default:
		return M_ALL;
	}
}

static const char *sn_opt_name(int id)
{
	for (const struct option *p = sn_long_opts; p->name; p++)
		if (p->val == id)
			return p->name;
	return "?";
}

static void sn_usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " --broker IP --device ID --room ROOM [options]     a DHT sensor board\n"
"       " PROG " --z2m --broker IP [options]                       a Zigbee2MQTT bridge\n"
"       " PROG " --dashboard --broker IP [options]                 a dashboard\n"
"\n"
"Every mode:\n"
"  --broker HOST          broker address (required)\n"
"  --port N               broker port (default 1883)\n"
"  --bind IP              source address (e.g. 127.77.0.11 on loopback)\n"
"  --device ID            client id (sensor: required; z2m: zigbee2mqtt;\n"
"                         dashboard: dashboard); letters, digits, . _ -\n"
"  --username U --password P\n"
"  --mqtt-version 3|4|5   MQTT 3.1, 3.1.1 or 5.0 (default 4)\n"
"  --keepalive S          0 or 5-65535 (default: sensor 15, as PubSubClient;\n"
"                         z2m and dashboard 60)\n"
"  --qos 0|1              readings / z2m device states (default 0);\n"
"                         dashboard subscriptions (default 1)\n"
"  --seed X               random seed (default: from the client id)\n"
"  --duration S           run S seconds (default 0: until SIGTERM/SIGINT);\n"
"                         either way it ends with DISCONNECT and exit 0\n"
"  --drop-every S         mean seconds between simulated Wi-Fi drops: the\n"
"                         socket is shut down without DISCONNECT, the broker\n"
"                         publishes the will, the client reconnects after\n"
"                         1-30 s (exponential back-off); 0 = never (default)\n"
"  -v, --verbose          print every publish, subscription and connection\n"
"\n"
"Sensor board (ESP32/NodeMCU + DHT, PubSubClient):\n"
"  --room ROOM            room (climate from mqttids-synth's table; others\n"
"                         21 degC +-1.5, 45 %%RH)\n"
"  --topic T              readings topic (default sensors/ROOM/ID); will and\n"
"                         birth on T/status (offline/online, retained, QoS 1),\n"
"                         retained JSON description on T/info\n"
"  --interval S           seconds between readings (default 5)\n"
"  --model dht11|dht22    the part (default dht11)\n"
"  --security none|key|hmac\n"
"                         payload protection (default none): key adds\n"
"                         \"key\":K (--shared-key K); hmac adds ctr, ts and\n"
"                         the HMAC-SHA256 tail signature with the device's key\n"
"                         from --key-file F (lines \"<device> <hex key>\")\n"
"  --label FILE           append ground-truth labels (JSON lines)\n"
"  --tamper-at S --tamper-delta D [--tamper-for S]\n"
"                         heat (+) or cool (-) the part by D degC from S\n"
"                         seconds after start, for S seconds (0: to the end)\n"
"  --silence-at S [--silence-for S]\n"
"                         stop publishing readings (the connection stays up)\n"
"  Times are seconds from the sensor's own start. Windows repeat (up to %d\n"
"  each, not overlapping): the options after an --*-at belong to it.\n"
"\n"
"Zigbee2MQTT bridge (--z2m), as Zigbee2MQTT 1.35:\n"
"  --z2m-devices N        devices behind the bridge, 1-%d (default 4):\n"
"                         living_room_lamp, front_door_lock, hallway_motion,\n"
"                         kitchen_air, then climate_sensor_5, smart_plug_6, ...\n"
"  --z2m-base T           base topic (default zigbee2mqtt)\n"
"  --interval S           seconds between state reports of mains devices\n"
"                         (default 5, +-10 %% jitter); battery devices 3x\n"
"  --availability legacy|json|both\n"
"                         availability payloads (default both): legacy =\n"
"                         online/offline strings; json = {\"state\":\"online\"};\n"
"                         both = devices alternate, the 1st, 3rd, ... JSON and\n"
"                         the others legacy, so one capture has both forms.\n"
"                         bridge/state (online on connect, offline before a\n"
"                         graceful DISCONNECT, offline as the will) is JSON\n"
"                         unless legacy.\n"
"  --z2m-offline NAME --z2m-offline-at S [--z2m-offline-for S]\n"
"                         the device leaves the Zigbee network at S: its\n"
"                         reports stop and its availability turns offline\n"
"                         (retained) after the availability timeout, 10 s for\n"
"                         mains devices and 30 s for battery ones (Zigbee2MQTT:\n"
"                         10 min / 25 h); back after --z2m-offline-for.\n"
"                         Repeatable, as the sensor's windows\n"
"  --label FILE           label kind z2m-offline\n"
"\n"
"Dashboard (--dashboard):\n"
"  --subscribe FILTER     repeatable; replaces the default sensors/# and\n"
"                         zigbee2mqtt/#; prints the message count at exit\n",
		SN_MAX_WINDOWS, SN_Z2M_MAX_DEVICES);
}

static int sn_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sn_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

static int sn_parse_double(int id, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi)
		return sn_err("--%s: expected a number from %g to %g, got '%s'",
			      sn_opt_name(id), lo, hi, s);
	*out = v;
	return 0;
}

static int sn_parse_int(int id, const char *s, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < lo || v > hi)
		return sn_err("--%s: expected an integer from %ld to %ld, got '%s'",
			      sn_opt_name(id), lo, hi, s);
	*out = (int)v;
	return 0;
}

/* Letters, digits and the given extra characters; length 1..max. */
static bool sn_name_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
			return false;
	return true;
}

/* Printable ASCII without the JSON specials: these go into payloads as is. */
static bool sn_json_safe(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
			return false;
	return true;
}

static uint64_t sn_fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * The repeatable window options, in command-line order: --tamper-at,
 * --silence-at and --z2m-offline NAME each open a window, and the
 * --*-for / --tamper-delta / --z2m-offline-at after them fill it in.
 * Returns 0, 1 when ch is not one of them, or -1 after a message.
 */
static int sn_window_opt(struct sn_opts *o, int ch, const char *v)
{
	struct sn_window *arr;
	unsigned *n;
	const char *opener;
	switch (ch) {
	case OPT_TAMPER_AT: case OPT_TAMPER_FOR: case OPT_TAMPER_DELTA:
		arr = o->tamper, n = &o->n_tamper, opener = "--tamper-at S";
		break;
	case OPT_SILENCE_AT: case OPT_SILENCE_FOR:
		arr = o->silence, n = &o->n_silence, opener = "--silence-at S";
		break;
	case OPT_Z2M_OFFLINE: case OPT_Z2M_OFFLINE_AT: case OPT_Z2M_OFFLINE_FOR:
		arr = o->z2m_off, n = &o->n_z2m_off, opener = "--z2m-offline NAME";
		break;
	default:
		return 1;
	}
	if (ch == OPT_TAMPER_AT || ch == OPT_SILENCE_AT || ch == OPT_Z2M_OFFLINE) {
		if (*n == SN_MAX_WINDOWS)
			return sn_err("--%s: at most %d of them", sn_opt_name(ch), SN_MAX_WINDOWS);
		struct sn_window *w = &arr[(*n)++];
		memset(w, 0, sizeof(*w));
		if (ch != OPT_Z2M_OFFLINE)
			return sn_parse_double(ch, v, 0, 1e9, &w->at);
		if (strlen(v) >= sizeof(w->name))
			return sn_err("--z2m-offline: '%s' is too long", v);
		snprintf(w->name, sizeof(w->name), "%s", v);
		w->at = -1; /* until --z2m-offline-at */
		return 0;
	}
	if (*n == 0)
		return sn_err("--%s must follow %s", sn_opt_name(ch), opener);
	struct sn_window *w = &arr[*n - 1];
	switch (ch) {
	case OPT_TAMPER_DELTA:
		if (sn_parse_double(ch, v, -60, 60, &w->delta))
			return -1;
		if (w->delta == 0)
			return sn_err("--tamper-delta: must not be 0");
		w->has_delta = true;
		return 0;
	case OPT_Z2M_OFFLINE_AT:
		return sn_parse_double(ch, v, 0, 1e9, &w->at);
	default: /* the --*-for options */
		return sn_parse_double(ch, v, 0, 1e9, &w->for_s);
	}
}

static double sn_window_end(const struct sn_window *w)
{
	return w->for_s > 0 ? w->at + w->for_s : INFINITY;
}

static int sn_window_cmp(const void *a, const void *b)
{
	const struct sn_window *x = a, *y = b;
	int names = strcmp(x->name, y->name);
	if (names)
		return names;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * Sorts windows (by name, then start) and rejects ones that start after the
 * run or overlap another of the same name.
 */
static int sn_windows_check(struct sn_window *w, unsigned n, const char *what,
			    double duration)
{
	qsort(w, n, sizeof(*w), sn_window_cmp);
	for (unsigned i = 0; i < n; i++) {
		if (duration > 0 && w[i].at >= duration)
			return sn_err("%s at %g s: not before the end of the run (--duration %g)",
				      what, w[i].at, duration);
		if (i > 0 && strcmp(w[i - 1].name, w[i].name) == 0 &&
		    sn_window_end(&w[i - 1]) > w[i].at)
			return sn_err("%s%s%s: the windows at %g s and %g s overlap", what,
				      w[i].name[0] ? " " : "", w[i].name, w[i - 1].at, w[i].at);
	}
	return 0;
}

/*
 * Parses and validates argv into o. Returns 0, 1 after --help, or -1 after
 * a message on stderr.
 */
static int sn_parse_opts(int argc, char **argv, struct sn_opts *o)
{
	const char *arg[OPT_END - OPT_BROKER];
	bool given[OPT_END - OPT_BROKER];
	memset(arg, 0, sizeof(arg));
	memset(given, 0, sizeof(given));
	memset(o, 0, sizeof(*o));
	int ch;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":vh", sn_long_opts, NULL)) != -1) {
		if (ch == 'h') {
			sn_usage(stdout);
			return 1;
		}
		if (ch == 'v')
			ch = OPT_VERBOSE;
		if (ch == '?') {
			if (optopt)
				return sn_err("unknown option -%c (see --help)", optopt);
			return sn_err("unknown option %s (see --help)", argv[optind - 1]);
		}
		if (ch == ':')
			return sn_err("%s needs a value", argv[optind - 1]);
		if (ch < OPT_BROKER || ch >= OPT_END)
			return sn_err("unexpected option (see --help)");
		if (ch == OPT_SUBSCRIBE) {
			if (o->n_filters == SN_MAX_FILTERS)
				return sn_err("--subscribe: at most %d filters", SN_MAX_FILTERS);
			o->filters[o->n_filters++] = optarg;
		}
		if (sn_window_opt(o, ch, optarg) < 0)
			return -1;
		given[ch - OPT_BROKER] = true;
		arg[ch - OPT_BROKER] = optarg;
	}
	if (optind < argc)
		return sn_err("unexpected argument '%s' (see --help)", argv[optind]);
#define GIVEN(id) given[(id) - OPT_BROKER]
#define ARG(id) arg[(id) - OPT_BROKER]
	if (GIVEN(OPT_Z2M) && GIVEN(OPT_DASHBOARD))
		return sn_err("--z2m and --dashboard are different devices: run two");
	o->mode = GIVEN(OPT_Z2M) ? SN_MODE_Z2M
		  : GIVEN(OPT_DASHBOARD) ? SN_MODE_DASH : SN_MODE_DHT;
	static const char *const mode_name[] = { "a sensor board",
						 "the Zigbee2MQTT bridge (--z2m)",
						 "the dashboard (--dashboard)" };
	for (int id = OPT_BROKER; id < OPT_END; id++)
		if (GIVEN(id) && !(sn_opt_modes(id) & (1u << o->mode)))
			return sn_err("--%s does not apply to %s", sn_opt_name(id),
				      mode_name[o->mode]);

	/* Connection. */
	if (!GIVEN(OPT_BROKER) || !ARG(OPT_BROKER)[0])
		return sn_err("--broker is required (see --help)");
	o->broker = ARG(OPT_BROKER);
	if (strlen(o->broker) > 253 || strpbrk(o->broker, " /\t"))
		return sn_err("--broker: '%s' is not an address or host name", o->broker);
	o->port = 1883;
	if (GIVEN(OPT_PORT) && sn_parse_int(OPT_PORT, ARG(OPT_PORT), 1, 65535, &o->port))
		return -1;
	if (GIVEN(OPT_BIND)) {
		unsigned char a[16];
		o->bind = ARG(OPT_BIND);
		if (inet_pton(AF_INET, o->bind, a) != 1 && inet_pton(AF_INET6, o->bind, a) != 1)
			return sn_err("--bind: '%s' is not an IPv4 or IPv6 address", o->bind);
	}
	o->version = 4;
	if (GIVEN(OPT_VERSION) &&
	    (sn_parse_int(OPT_VERSION, ARG(OPT_VERSION), 3, 5, &o->version)))
		return -1;
	o->keepalive = o->mode == SN_MODE_DHT ? 15 : 60;
	if (GIVEN(OPT_KEEPALIVE)) {
		if (sn_parse_int(OPT_KEEPALIVE, ARG(OPT_KEEPALIVE), 0, 65535, &o->keepalive))
			return -1;
		if (o->keepalive > 0 && o->keepalive < 5)
			return sn_err("--keepalive: 0 (off) or 5-65535 seconds (libmosquitto's minimum), got %d",
				      o->keepalive);
	}
	o->qos = o->mode == SN_MODE_DASH ? 1 : 0;
	if (GIVEN(OPT_QOS) && sn_parse_int(OPT_QOS, ARG(OPT_QOS), 0, 1, &o->qos))
		return -1;
	if (GIVEN(OPT_PASSWORD) && !GIVEN(OPT_USERNAME))
		return sn_err("--password needs --username (MQTT has no password without a user name)");
	if (GIVEN(OPT_USERNAME)) {
		o->username = ARG(OPT_USERNAME);
		if (!o->username[0] || strlen(o->username) > 255)
			return sn_err("--username: 1-255 characters");
	}
	if (GIVEN(OPT_PASSWORD)) {
		o->password = ARG(OPT_PASSWORD);
		if (strlen(o->password) > 255)
			return sn_err("--password: at most 255 characters");
	}

	/* Identity. */
	const char *id = GIVEN(OPT_DEVICE) ? ARG(OPT_DEVICE)
			 : o->mode == SN_MODE_Z2M ? "zigbee2mqtt"
			 : o->mode == SN_MODE_DASH ? "dashboard" : NULL;
	if (!id)
		return sn_err("--device is required for a sensor board (see --help)");
	if (!sn_name_ok(id, SN_ID_MAX - 1, "_.-"))
		return sn_err("--device: '%s': 1-%d letters, digits, '.', '_' or '-'", id,
			      SN_ID_MAX - 1);
	if (o->version == 3 && strlen(id) > 23)
		return sn_err("--device: '%s' is longer than MQTT 3.1's 23 characters", id);
	snprintf(o->client_id, sizeof(o->client_id), "%s", id);

	o->seed = sn_fnv1a(o->client_id);
	if (GIVEN(OPT_SEED)) {
		char *end;
		errno = 0;
		unsigned long long s = strtoull(ARG(OPT_SEED), &end, 0);
		if (end == ARG(OPT_SEED) || *end || errno || ARG(OPT_SEED)[0] == '-')
			return sn_err("--seed: expected an unsigned integer, got '%s'",
				      ARG(OPT_SEED));
		o->seed = s;
	}
	if (GIVEN(OPT_DURATION) &&
	    sn_parse_double(OPT_DURATION, ARG(OPT_DURATION), 0, 1e9, &o->duration))
		return -1;
	if (GIVEN(OPT_DROP_EVERY) &&
	    sn_parse_double(OPT_DROP_EVERY, ARG(OPT_DROP_EVERY), 0, 1e9, &o->drop_every))
		return -1;
	if (o->drop_every > 0 && o->drop_every < 0.5)
		return sn_err("--drop-every: 0 or at least 0.5 seconds");
	if (GIVEN(OPT_LABEL)) {
		o->label = ARG(OPT_LABEL);
		if (!o->label[0])
			return sn_err("--label: empty file name");
	}
	o->interval = 5;
	if (GIVEN(OPT_INTERVAL) &&
	    sn_parse_double(OPT_INTERVAL, ARG(OPT_INTERVAL), 0.1, 86400, &o->interval))
		return -1;
	o->verbose = GIVEN(OPT_VERBOSE);

	if (o->mode == SN_MODE_DHT) {
		if (!GIVEN(OPT_ROOM))
			return sn_err("--room is required for a sensor board (see --help)");
		if (!sn_name_ok(ARG(OPT_ROOM), sizeof(o->room) - 1, "_-"))
			return sn_err("--room: '%s': 1-%zu letters, digits, '_' or '-'",
				      ARG(OPT_ROOM), sizeof(o->room) - 1);
		snprintf(o->room, sizeof(o->room), "%s", ARG(OPT_ROOM));
		if (GIVEN(OPT_TOPIC)) {
			const char *t = ARG(OPT_TOPIC);
			if (strlen(t) >= sizeof(o->topic) || !sn_json_safe(t, sizeof(o->topic) - 1) ||
			    mosquitto_pub_topic_check(t) != MOSQ_ERR_SUCCESS || t[0] == '$')
				return sn_err("--topic: '%s' is not a publish topic (1-%zu printable characters, no + or #, not $...)",
					      t, sizeof(o->topic) - 1);
			snprintf(o->topic, sizeof(o->topic), "%s", t);
		} else {
			snprintf(o->topic, sizeof(o->topic), "sensors/%s/%s", o->room,
				 o->client_id);
		}
		o->model = TB_DHT11;
		if (GIVEN(OPT_MODEL)) {
			if (strcmp(ARG(OPT_MODEL), "dht11") == 0)
				o->model = TB_DHT11;
			else if (strcmp(ARG(OPT_MODEL), "dht22") == 0)
				o->model = TB_DHT22;
			else
				return sn_err("--model: dht11 or dht22, got '%s'", ARG(OPT_MODEL));
		}
		o->sec.mode = TB_SEC_NONE;
		if (GIVEN(OPT_SECURITY)) {
			const char *s = ARG(OPT_SECURITY);
			if (strcmp(s, "none") == 0)
				o->sec.mode = TB_SEC_NONE;
			else if (strcmp(s, "key") == 0)
				o->sec.mode = TB_SEC_KEY;
			else if (strcmp(s, "hmac") == 0)
				o->sec.mode = TB_SEC_HMAC;
			else
				return sn_err("--security: none, key or hmac, got '%s'", s);
		}
		if (GIVEN(OPT_SHARED_KEY) && o->sec.mode != TB_SEC_KEY)
			return sn_err("--shared-key goes with --security key");
		if (GIVEN(OPT_KEY_FILE) && o->sec.mode != TB_SEC_HMAC)
			return sn_err("--key-file goes with --security hmac");
		if (o->sec.mode == TB_SEC_KEY) {
			if (!GIVEN(OPT_SHARED_KEY))
				return sn_err("--security key needs --shared-key K");
			if (!sn_json_safe(ARG(OPT_SHARED_KEY), sizeof(o->sec.shared_key) - 1))
				return sn_err("--shared-key: 1-%zu printable characters without '\"' or '\\'",
					      sizeof(o->sec.shared_key) - 1);
			snprintf(o->sec.shared_key, sizeof(o->sec.shared_key), "%s",
				 ARG(OPT_SHARED_KEY));
		}
		if (o->sec.mode == TB_SEC_HMAC) {
			if (!GIVEN(OPT_KEY_FILE))
				return sn_err("--security hmac needs --key-file F");
			struct stat st;
			const char *kf = ARG(OPT_KEY_FILE);
			if (stat(kf, &st) != 0)
				return sn_err("--key-file %s: %s", kf, strerror(errno));
			if (!S_ISREG(st.st_mode))
				return sn_err("--key-file %s: not a regular file", kf);
			if (st.st_mode & 077)
				fprintf(stderr, PROG ": warning: key file %s is accessible by group or others (chmod 600)\n",
					kf);
			if (tb_key_file_lookup(kf, o->client_id, o->sec.key, &o->sec.key_len) != 0)
				return -1;
		}
		for (unsigned i = 0; i < o->n_tamper; i++)
			if (!o->tamper[i].has_delta)
				return sn_err("--tamper-at %g needs --tamper-delta D after it",
					      o->tamper[i].at);
		/* The model holds one tampering at a time: no overlaps at all. */
		if (sn_windows_check(o->tamper, o->n_tamper, "tampering", o->duration) ||
		    sn_windows_check(o->silence, o->n_silence, "silence", o->duration))
			return -1;
	}

	if (o->mode == SN_MODE_Z2M) {
		int n = 4;
		if (GIVEN(OPT_Z2M_DEVICES) &&
		    sn_parse_int(OPT_Z2M_DEVICES, ARG(OPT_Z2M_DEVICES), 1, SN_Z2M_MAX_DEVICES, &n))
			return -1;
		o->z2m_devices = (unsigned)n;
		const char *base = GIVEN(OPT_Z2M_BASE) ? ARG(OPT_Z2M_BASE) : "zigbee2mqtt";
		if (!sn_name_ok(base, sizeof(o->z2m_base) - 1, "_-/") || base[0] == '/' ||
		    base[strlen(base) - 1] == '/' || strstr(base, "//"))
			return sn_err("--z2m-base: '%s': 1-%zu letters, digits, '_', '-' and inner '/'",
				      base, sizeof(o->z2m_base) - 1);
		snprintf(o->z2m_base, sizeof(o->z2m_base), "%s", base);
		o->avail = SN_AVAIL_BOTH;
		if (GIVEN(OPT_AVAILABILITY)) {
			const char *a = ARG(OPT_AVAILABILITY);
			if (strcmp(a, "legacy") == 0)
				o->avail = SN_AVAIL_LEGACY;
			else if (strcmp(a, "json") == 0)
				o->avail = SN_AVAIL_JSON;
			else if (strcmp(a, "both") == 0)
				o->avail = SN_AVAIL_BOTH;
			else
				return sn_err("--availability: legacy, json or both, got '%s'", a);
		}
		for (unsigned k = 0; k < o->n_z2m_off; k++) {
			const struct sn_window *w = &o->z2m_off[k];
			bool found = false;
			char nm[48];
			for (unsigned i = 0; i < o->z2m_devices && !found; i++)
				found = strcmp(sn_z2m_device_name(i, o->z2m_devices, nm, sizeof(nm)),
					       w->name) == 0;
			if (!found) {
				fprintf(stderr, PROG ": --z2m-offline: no device '%s'; with %u devices they are:",
					w->name, o->z2m_devices);
				for (unsigned i = 0; i < o->z2m_devices; i++)
					fprintf(stderr, " %s", sn_z2m_device_name(i, o->z2m_devices,
										  nm, sizeof(nm)));
				fputc('\n', stderr);
				return -1;
			}
			if (w->at < 0)
				return sn_err("--z2m-offline %s needs --z2m-offline-at S after it",
					      w->name);
		}
		if (sn_windows_check(o->z2m_off, o->n_z2m_off, "--z2m-offline", o->duration))
			return -1;
	}

	if (o->mode == SN_MODE_DASH) {
		if (o->n_filters == 0) {
			o->filters[o->n_filters++] = "sensors/#";
			o->filters[o->n_filters++] = "zigbee2mqtt/#";
		}
		for (unsigned i = 0; i < o->n_filters; i++) {
			const char *f = o->filters[i];
			if (!f[0] || strlen(f) > 255 ||
			    mosquitto_sub_topic_check(f) != MOSQ_ERR_SUCCESS)
				return sn_err("--subscribe: '%s' is not a topic filter", f);
		}
	}
#undef GIVEN
#undef ARG
	return 0;
}

/* ------------------------------------------------------------------ main */

static void sn_on_signal(int sig)
{
	(void)sig; /* taken by sigtimedwait; the handler only un-ignores it */
}

/* Static: a client whose network thread had to be cancelled stays allocated. */
static struct sn_client sn_client;

int main(int argc, char **argv)
{
	static struct sn_opts o;
	int prc = sn_parse_opts(argc, argv, &o);
	if (prc > 0)
		return 0;
	if (prc < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);

	/*
	 * SIGINT/SIGTERM end the run and SIGUSR1 says the network thread gave
	 * up; all three are blocked in every thread and taken by sigtimedwait.
	 * Handlers (not SIG_IGN) so that a background job's ignored SIGINT
	 * works too.
	 */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sn_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	sn_clock_init();
	mosquitto_lib_init();
	struct sn_client *c = &sn_client;
	struct sn_dht *dht = NULL;
	struct sn_z2m *z2m = NULL;
	int rc = 1;
	double start = sn_now();

	char will_topic[SN_TOPIC_MAX + 80];
	const char *will_payload = NULL;
	if (o.mode == SN_MODE_DHT) {
		snprintf(will_topic, sizeof(will_topic), "%s/status", o.topic);
		will_payload = "offline";
	} else if (o.mode == SN_MODE_Z2M) {
		snprintf(will_topic, sizeof(will_topic), "%s/bridge/state", o.z2m_base);
		will_payload = o.avail == SN_AVAIL_LEGACY ? "offline" : "{\"state\":\"offline\"}";
	}
	if (sn_client_init(c, &o, o.client_id, will_payload ? will_topic : NULL,
			   will_payload, 1, true) != 0)
		goto out;
	if (o.mode == SN_MODE_DHT) {
		if (sn_dht_init(&dht, c, start) != 0)
			goto out;
		sn_dht_banner(&o);
	} else if (o.mode == SN_MODE_Z2M) {
		if (sn_z2m_init(&z2m, c, start) != 0)
			goto out;
		printf(PROG ": %s: Zigbee2MQTT bridge, %u devices under %s/, availability %s, "
		       "-> %s\n", o.client_id, o.z2m_devices, o.z2m_base,
		       o.avail == SN_AVAIL_LEGACY ? "legacy"
		       : o.avail == SN_AVAIL_JSON ? "json" : "both", c->target);
	} else {
		sn_dash_hook(c);
		printf(PROG ": %s: dashboard, %u filters -> %s\n", o.client_id,
		       o.n_filters, c->target);
	}
	if (sn_client_start(c) != 0)
		goto out;

	struct tb_rng rng = { o.seed ^ 0xd0d0d0d0ull };
	double end = o.duration > 0 ? start + o.duration : INFINITY;
	double next_drop = o.drop_every > 0 ? start + tb_rng_exp(&rng, o.drop_every)
					    : INFINITY;
	rc = 0;
	for (;;) {
		double now = sn_now();
		if (now >= end)
			break;
		double next = INFINITY;
		pthread_mutex_lock(&c->lock);
		if (dht)
			next = sn_dht_tick(dht, now);
		else if (z2m)
			next = sn_z2m_tick(z2m, now);
		pthread_mutex_unlock(&c->lock);
		if (now >= next_drop) {
			/* Not connected at the time: this drop is simply lost. */
			sn_client_drop(c);
			next_drop = now + tb_rng_exp(&rng, o.drop_every);
		}
		next = fmin(fmin(next, next_drop), end);
		double wait = next - sn_now();
		wait = wait < 0 ? 0 : wait > 3600 ? 3600 : wait;
		struct timespec ts;
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGUSR1 && atomic_load(&c->net_done)) {
			rc = 1;
			break;
		}
	}
	double stop_at = sn_now();
	if (z2m && rc == 0) {
		pthread_mutex_lock(&c->lock);
		sn_z2m_stop(z2m);
		pthread_mutex_unlock(&c->lock);
	}
	if (sn_client_stop(c) != 0)
		rc = 1;
	pthread_mutex_lock(&c->lock);
	if (dht)
		sn_dht_finish(dht, stop_at);
	else if (z2m)
		sn_z2m_finish(z2m, stop_at);
	else
		sn_dash_finish(c);
	pthread_mutex_unlock(&c->lock);
out:
	sn_client_stop(c);
	sn_dht_free(dht);
	sn_z2m_free(z2m);
	bool abandoned = c->abandoned;
	sn_client_deinit(c);
	if (!abandoned)
		mosquitto_lib_cleanup();
	return rc;
}
