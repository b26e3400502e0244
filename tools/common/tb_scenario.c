/* tb_scenario.c - parses the testbed's scenario files (format in tb_scenario.h and docs/TESTBED.md, "Scenario files"). */
#define _POSIX_C_SOURCE 200809L
#include "tb_scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tb_attack.h"

/*
 * Limits. A scenario is small and written by hand; anything past these is a
 * mistake, so it is reported rather than silently cut.
 */
#define SC_MAX_DURATION 86400.0   /* one day */
#define SC_MAX_SENSORS 32
#define SC_MAX_INTERVAL 3600
#define SC_MAX_KEEPALIVE 65535
#define SC_MAX_Z2M_DEVICES 16
#define SC_MAX_DELTA 60.0         /* degC of tampering (mqttids-sensor's limit) */
#define SC_MAX_FILE (1u << 20)    /* tb_scenario_load reads at most 1 MiB */
#define SC_MAX_SHOWN 50           /* messages printed; later ones only counted */
#define SC_NUM_LEN 32             /* longest number accepted, in characters */
/* "at T attack KIND" plus up to TB_SC_MAX_ARGS - 1 arguments after the kind. */
#define SC_MAX_WORDS (3 + TB_SC_MAX_ARGS)

static const char *const sc_rooms[] = {
	"kitchen", "livingroom", "bedroom", "bathroom", "office", "garage",
	"hallway", "basement", "attic", "nursery", "diningroom", "laundry",
	"guestroom", "garden", "porch", "studio",
};
#define SC_N_ROOMS (sizeof(sc_rooms) / sizeof(sc_rooms[0]))

void tb_sensor_name(unsigned i, char *id, size_t id_cap, char *room,
		    size_t room_cap, char *topic, size_t topic_cap)
{
	if (i == 0)
		i = 1;
	const char *board = (i % 2) ? "esp32" : "nodemcu";
	const char *r = sc_rooms[(i - 1) % SC_N_ROOMS];
	unsigned dup = (i - 1) / (unsigned)SC_N_ROOMS;
	char idb[96];
	if (dup)
		snprintf(idb, sizeof(idb), "%s-%s-%u", board, r, dup + 1);
	else
		snprintf(idb, sizeof(idb), "%s-%s", board, r);
	if (id && id_cap)
		snprintf(id, id_cap, "%s", idb);
	if (room && room_cap)
		snprintf(room, room_cap, "%s", r);
	if (topic && topic_cap)
		snprintf(topic, topic_cap, "sensors/%s/%s", r, idb);
}

void tb_scenario_defaults(struct tb_scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->name, sizeof(sc->name), "scenario");
	sc->duration = 60;
	sc->sensors = 3;
	sc->interval = 5;
	sc->qos = -1;
	sc->keepalive = 15;
	sc->mqtt_version = 4;
	sc->security = TB_SEC_NONE;
	sc->z2m = false;
	sc->z2m_devices = 4;
	sc->seed = 1;
}

/* One word of a line: a slice of the input (never NUL-terminated). */
struct word {
	const char *p;
	size_t len;
	size_t col;     /* 1-based byte column of its first character */
	size_t end_col; /* column just after it (a closing quote included) */
};

enum directive {
	D_NAME, D_DURATION, D_SENSORS, D_INTERVAL, D_QOS, D_KEEPALIVE,
	D_VERSION, D_SECURITY, D_Z2M, D_Z2M_DEVICES, D_SEED, D_AT, D_COUNT
};

static const char *const directive_names[D_COUNT] = {
	"name", "duration", "sensors", "interval", "qos", "keepalive",
	"mqtt-version", "security", "z2m", "z2m-devices", "seed", "at",
};

struct pctx {
	const char *name;
	FILE *err;
	int problems;
	struct tb_scenario *sc;
	size_t line;
	size_t set_on[D_COUNT];                /* line a directive was set on */
	size_t at_col[TB_SC_MAX_EVENTS];       /* where each event's time is */
	size_t dev_col[TB_SC_MAX_EVENTS];      /* ... and its device */
};

__attribute__((format(printf, 4, 5)))
static void problem(struct pctx *c, size_t line, size_t col, const char *fmt, ...)
{
	if (c->problems < INT_MAX)
		c->problems++;
	if (!c->err || c->problems > SC_MAX_SHOWN + 1)
		return;
	if (c->problems == SC_MAX_SHOWN + 1) {
		fprintf(c->err, "%s:%zu:%zu: too many problems, the rest are not shown\n",
			c->name, line, col);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	fprintf(c->err, "%s:%zu:%zu: ", c->name, line, col);
	vfprintf(c->err, fmt, ap);
	fputc('\n', c->err);
	va_end(ap);
}

/*
 * Renders a word for a message into buf[cap]: quoted, printable ASCII as
 * is, other bytes as \xNN, cut after 40 input bytes with "...".
 */
static const char *show(const struct word *w, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	buf[o++] = '\'';
	for (size_t i = 0; i < w->len && o + 8 < cap; i++) {
		unsigned char ch = (unsigned char)w->p[i];
		if (i == 40) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\') {
			buf[o++] = (char)ch;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		}
	}
	buf[o++] = '\'';
	buf[o] = 0;
	return buf;
}

#define SHOW_CAP 200
#define SHOW(w) show((w), shbuf, sizeof(shbuf))

static bool word_is(const struct word *w, const char *s)
{
	size_t n = strlen(s);
	return w->len == n && memcmp(w->p, s, n) == 0;
}

/*
 * Parses a decimal number: optional sign (when signed_ok), digits, optional
 * fraction. No exponents, hex, inf or nan: a scenario is written by hand.
 * Returns 0 and sets *v, or -1 (not a number or too long).
 */
static int parse_num(const struct word *w, bool signed_ok, double *v)
{
	char buf[SC_NUM_LEN + 1];
	if (w->len == 0 || w->len > SC_NUM_LEN)
		return -1;
	size_t i = 0;
	if (signed_ok && (w->p[0] == '+' || w->p[0] == '-'))
		i++;
	size_t d0 = i;
	while (i < w->len && w->p[i] >= '0' && w->p[i] <= '9')
		i++;
	if (i == d0)
		return -1;
	if (i < w->len && w->p[i] == '.') {
		size_t f0 = ++i;
		while (i < w->len && w->p[i] >= '0' && w->p[i] <= '9')
			i++;
		if (i == f0)
			return -1;
	}
	if (i != w->len)
		return -1;
	memcpy(buf, w->p, w->len);
	buf[w->len] = 0;
	errno = 0;
	char *end = NULL;
	*v = strtod(buf, &end);
	if (end != buf + w->len || errno == ERANGE)
		return -1;
	return 0;
}

/* Parses an unsigned decimal integer into *v; -1: not digits, 1: overflow. */
static int parse_u64(const struct word *w, uint64_t *v)
{
	uint64_t x = 0;
	if (w->len == 0)
		return -1;
	for (size_t i = 0; i < w->len; i++) {
		if (w->p[i] < '0' || w->p[i] > '9')
			return -1;
	}
	for (size_t i = 0; i < w->len; i++) {
		uint64_t d = (uint64_t)(w->p[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return 1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

/* An integer in [lo, hi], reported as "WHAT" when it is not. */
static int want_uint(struct pctx *c, const struct word *w, const char *what,
		     uint64_t lo, uint64_t hi, uint64_t *v)
{
	char shbuf[SHOW_CAP];
	uint64_t x = 0;
	int r = parse_u64(w, &x);
	if (r != 0 || x < lo || x > hi) {
		problem(c, c->line, w->col,
			"expected %s (an integer from %llu to %llu), got %s", what,
			(unsigned long long)lo, (unsigned long long)hi, SHOW(w));
		return -1;
	}
	*v = x;
	return 0;
}

/* Seconds: a decimal number in [lo, hi] (lo exclusive when lo_open). */
static int want_secs(struct pctx *c, const struct word *w, const char *what,
		     double lo, bool lo_open, double hi, double *v)
{
	char shbuf[SHOW_CAP];
	double x = 0;
	if (parse_num(w, false, &x) != 0 || x > hi || x < lo || (lo_open && x == lo)) {
		problem(c, c->line, w->col,
			"expected %s (seconds, %s %g to %g), got %s", what,
			lo_open ? "more than" : "from", lo, hi, SHOW(w));
		return -1;
	}
	*v = x;
	return 0;
}

/* One of the words in the NULL-terminated list; returns its index or -1. */
static int want_choice(struct pctx *c, const struct word *w, const char *what,
		       const char *const *choices)
{
	char shbuf[SHOW_CAP];
	for (int i = 0; choices[i]; i++) {
		if (word_is(w, choices[i]))
			return i;
	}
	problem(c, c->line, w->col, "expected %s, got %s", what, SHOW(w));
	return -1;
}

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
}

/* A name of [A-Za-z0-9_.-], 1 to cap-1 bytes, copied into out[cap]. */
static int want_name(struct pctx *c, const struct word *w, const char *what,
		     char *out, size_t cap)
{
	char shbuf[SHOW_CAP];
	bool ok = w->len > 0 && w->len < cap;
	for (size_t i = 0; ok && i < w->len; i++)
		ok = name_char(w->p[i]);
	if (!ok) {
		problem(c, c->line, w->col,
			"expected %s (1 to %zu letters, digits, '-', '_' or '.'), got %s",
			what, cap - 1, SHOW(w));
		return -1;
	}
	memcpy(out, w->p, w->len);
	out[w->len] = 0;
	return 0;
}

/*
 * Checks the word count of a line: at least min words, at most max. Reports
 * the first missing one ("expected WHAT after 'x'") at the column after the
 * last word, or the first extra one. Returns 0 or -1.
 */
static int want_count(struct pctx *c, const struct word *w, size_t n,
		      size_t min, size_t max, const char *what)
{
	char shbuf[SHOW_CAP];
	if (n < min) {
		problem(c, c->line, w[n - 1].end_col, "expected %s after %s", what,
			SHOW(&w[n - 1]));
		return -1;
	}
	if (n > max) {
		char prev[SHOW_CAP];
		problem(c, c->line, w[max].col, "unexpected %s after %s", SHOW(&w[max]),
			show(&w[max - 1], prev, sizeof(prev)));
		return -1;
	}
	return 0;
}

/*
 * Splits line[0..n) into words: blanks (space, tab) separate them, '#' at
 * the start of a word begins a comment, and a word in double quotes may
 * hold blanks and start with '#' (no escapes). Control characters and NUL
 * bytes are refused anywhere on the line. Returns the word count (at most
 * cap; *more is set when there were more), or -1 after reporting.
 */
static int split_words(struct pctx *c, const char *line, size_t n,
		       struct word *w, size_t cap, bool *more)
{
	*more = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch == 0) {
			problem(c, c->line, i + 1, "unexpected NUL byte");
			return -1;
		}
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			problem(c, c->line, i + 1,
				"unexpected control character 0x%02x", ch);
			return -1;
		}
	}
	size_t k = 0, i = 0;
	while (i < n) {
		if (line[i] == ' ' || line[i] == '\t') {
			i++;
			continue;
		}
		if (line[i] == '#')
			break;
		struct word cur = { .col = i + 1 };
		if (line[i] == '"') {
			const char *q = memchr(line + i + 1, '"', n - i - 1);
			if (!q) {
				problem(c, c->line, i + 1,
					"expected a closing '\"' before the end of the line");
				return -1;
			}
			cur.p = line + i + 1;
			cur.len = (size_t)(q - cur.p);
			i = (size_t)(q - line) + 1;
			if (i < n && line[i] != ' ' && line[i] != '\t') {
				problem(c, c->line, i + 1,
					"expected a blank after the closing '\"'");
				return -1;
			}
		} else {
			cur.p = line + i;
			while (i < n && line[i] != ' ' && line[i] != '\t')
				i++;
			cur.len = (size_t)(line + i - cur.p);
		}
		cur.end_col = i + 1;
		if (k == cap) {
			*more = true;
			return (int)k;
		}
		w[k++] = cur;
	}
	return (int)k;
}

/* Records that directive d is set on this line; reports a second setting. */
static int set_once(struct pctx *c, enum directive d, const struct word *w)
{
	if (c->set_on[d]) {
		problem(c, c->line, w->col, "'%s' is already set on line %zu",
			directive_names[d], c->set_on[d]);
		return -1;
	}
	c->set_on[d] = c->line;
	return 0;
}

/* The options the runner gives every attack itself (tb_attack.h: transport options). */
static bool runner_option(const struct word *w)
{
	static const char *const opts[] = { "--broker", "--port", "--bind", "--label" };
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		size_t n = strlen(opts[i]);
		if (w->len >= n && memcmp(w->p, opts[i], n) == 0 &&
		    (w->len == n || w->p[n] == '='))
			return true;
	}
	return false;
}

/* "at T KIND ...": one event, appended to sc->ev unless the line is bad. */
static void parse_at(struct pctx *c, const struct word *w, size_t n)
{
	static const char *const kinds[] = { "attack", "tamper", "silence",
					     "z2m-offline", NULL };
	char shbuf[SHOW_CAP];
	struct tb_scenario *sc = c->sc;
	double at = 0;
	if (want_count(c, w, n, 2, SIZE_MAX, "a time in seconds") ||
	    want_secs(c, &w[1], "the event time", 0, false, SC_MAX_DURATION, &at))
		return;
	if (want_count(c, w, n, 3, SIZE_MAX,
		       "an event (attack, tamper, silence or z2m-offline)"))
		return;
	int k = want_choice(c, &w[2], "an event (attack, tamper, silence or z2m-offline)",
			    kinds);
	if (k < 0)
		return;
	if (sc->n_ev == TB_SC_MAX_EVENTS) {
		problem(c, c->line, w[0].col, "too many events (at most %d)",
			TB_SC_MAX_EVENTS);
		return;
	}
	struct tb_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.at = at;
	ev.line = c->line > UINT_MAX ? UINT_MAX : (unsigned)c->line;
	size_t dev_col = 0;

	if (k == 0) {
		ev.kind = TB_EV_ATTACK;
		if (want_count(c, w, n, 4, SIZE_MAX, "an attack kind"))
			return;
		for (size_t i = 3; i < n; i++) {
			if (w[i].len >= TB_SC_ARG_LEN) {
				problem(c, c->line, w[i].col,
					"argument too long (%zu bytes, at most %d)",
					w[i].len, TB_SC_ARG_LEN - 1);
				return;
			}
		}
		memcpy(ev.argv[0], w[3].p, w[3].len);
		if (!tb_attack_kind_known(ev.argv[0])) {
			problem(c, c->line, w[3].col,
				"expected an attack kind (see mqttids-attack --help), got %s",
				SHOW(&w[3]));
			return;
		}
		for (size_t i = 4; i < n; i++) {
			if (runner_option(&w[i])) {
				problem(c, c->line, w[i].col,
					"expected attack options: %s is set by the runner",
					SHOW(&w[i]));
				return;
			}
			memcpy(ev.argv[i - 3], w[i].p, w[i].len);
		}
		ev.argc = (int)(n - 3);
	} else if (k == 1) {
		/* at T tamper DEVICE DELTA for SECONDS */
		ev.kind = TB_EV_TAMPER;
		if (want_count(c, w, n, 4, 7, "a device") ||
		    want_name(c, &w[3], "a device", ev.device, sizeof(ev.device)) ||
		    want_count(c, w, n, 5, 7, "a temperature change (degC)"))
			return;
		double d = 0;
		if (parse_num(&w[4], true, &d) != 0 || d == 0 || d > SC_MAX_DELTA ||
		    d < -SC_MAX_DELTA) {
			problem(c, c->line, w[4].col,
				"expected a temperature change (degC, -%g to +%g, not 0), got %s",
				SC_MAX_DELTA, SC_MAX_DELTA, SHOW(&w[4]));
			return;
		}
		ev.delta = d;
		if (want_count(c, w, n, 6, 7, "'for'"))
			return;
		if (!word_is(&w[5], "for")) {
			problem(c, c->line, w[5].col, "expected 'for', got %s", SHOW(&w[5]));
			return;
		}
		if (want_count(c, w, n, 7, 7, "a time in seconds") ||
		    want_secs(c, &w[6], "a time", 0, true, SC_MAX_DURATION, &ev.for_s))
			return;
		dev_col = w[3].col;
	} else {
		/* at T silence DEVICE for SECONDS; at T z2m-offline DEVICE [for SECONDS] */
		bool z = k == 3;
		ev.kind = z ? TB_EV_Z2M_OFFLINE : TB_EV_SILENCE;
		if (want_count(c, w, n, 4, 6, "a device") ||
		    want_name(c, &w[3], "a device", ev.device, sizeof(ev.device)))
			return;
		if (!z || n > 4) {
			if (want_count(c, w, n, 5, 6, "'for'"))
				return;
			if (!word_is(&w[4], "for")) {
				problem(c, c->line, w[4].col, "expected 'for', got %s",
					SHOW(&w[4]));
				return;
			}
			if (want_count(c, w, n, 6, 6, "a time in seconds") ||
			    want_secs(c, &w[5], "a time", 0, true, SC_MAX_DURATION,
				      &ev.for_s))
				return;
		}
		dev_col = w[3].col;
	}
	c->at_col[sc->n_ev] = w[1].col;
	c->dev_col[sc->n_ev] = dev_col;
	sc->ev[sc->n_ev++] = ev;
}

static void parse_line(struct pctx *c, const char *line, size_t n)
{
	static const char *const qos_w[] = { "0", "1", "mixed", NULL };
	static const char *const ver_w[] = { "3", "4", "5", NULL };
	static const char *const sec_w[] = { "none", "key", "hmac", NULL };
	static const char *const z2m_w[] = { "off", "on", NULL };
	char shbuf[SHOW_CAP];
	struct word w[SC_MAX_WORDS];
	bool more = false;
	int nw = split_words(c, line, n, w, SC_MAX_WORDS, &more);
	if (nw <= 0)
		return;
	size_t nn = (size_t)nw;
	int d = -1;
	for (int i = 0; i < D_COUNT; i++) {
		if (word_is(&w[0], directive_names[i]))
			d = i;
	}
	if (d < 0) {
		problem(c, c->line, w[0].col,
			"expected a directive (name, duration, sensors, interval, qos, "
			"keepalive, mqtt-version, security, z2m, z2m-devices, seed or at), got %s",
			SHOW(&w[0]));
		return;
	}
	if (more && d == D_AT) {
		problem(c, c->line, w[SC_MAX_WORDS - 1].end_col,
			"too many words (at most %d arguments after the attack kind)",
			TB_SC_MAX_ARGS - 1);
		return;
	}
	if (d == D_AT) {
		parse_at(c, w, nn);
		return;
	}
	static const char *const what[D_COUNT] = {
		"a name", "a duration in seconds", "a sensor count",
		"an interval in seconds", "a QoS (0, 1 or mixed)",
		"a keepalive in seconds", "an MQTT version (3, 4 or 5)",
		"a security mode (none, key or hmac)", "'on' or 'off'",
		"a device count", "a seed", NULL,
	};
	if (want_count(c, w, nn, 2, 2, what[d]))
		return;
	struct tb_scenario *sc = c->sc;
	const struct word *a = &w[1];
	uint64_t u = 0;
	double x = 0;
	int ch = 0;
	char tmp[sizeof(sc->name)];
	switch ((enum directive)d) {
	case D_NAME:
		if (want_name(c, a, "a name", tmp, sizeof(tmp)) || set_once(c, D_NAME, &w[0]))
			return;
		memcpy(sc->name, tmp, sizeof(tmp));
		break;
	case D_DURATION:
		if (want_secs(c, a, "a duration", 0, true, SC_MAX_DURATION, &x) ||
		    set_once(c, D_DURATION, &w[0]))
			return;
		sc->duration = x;
		break;
	case D_SENSORS:
		if (want_uint(c, a, "a sensor count", 1, SC_MAX_SENSORS, &u) ||
		    set_once(c, D_SENSORS, &w[0]))
			return;
		sc->sensors = (unsigned)u;
		break;
	case D_INTERVAL:
		if (want_uint(c, a, "an interval in seconds", 1, SC_MAX_INTERVAL, &u) ||
		    set_once(c, D_INTERVAL, &w[0]))
			return;
		sc->interval = (unsigned)u;
		break;
	case D_QOS:
		if ((ch = want_choice(c, a, "a QoS (0, 1 or mixed)", qos_w)) < 0 ||
		    set_once(c, D_QOS, &w[0]))
			return;
		sc->qos = ch == 2 ? -1 : ch;
		break;
	case D_KEEPALIVE:
		if (want_uint(c, a, "a keepalive in seconds", 0, SC_MAX_KEEPALIVE, &u) ||
		    set_once(c, D_KEEPALIVE, &w[0]))
			return;
		if (u > 0 && u < 5) {
			/* libmosquitto refuses 1-4; the live sensors could not start. */
			problem(c, c->line, a->col,
				"expected a keepalive of 0 (off) or 5-65535 seconds, got %llu",
				(unsigned long long)u);
			return;
		}
		sc->keepalive = (unsigned)u;
		break;
	case D_VERSION:
		if ((ch = want_choice(c, a, "an MQTT version (3, 4 or 5)", ver_w)) < 0 ||
		    set_once(c, D_VERSION, &w[0]))
			return;
		sc->mqtt_version = (uint8_t)(3 + ch);
		break;
	case D_SECURITY:
		if ((ch = want_choice(c, a, "a security mode (none, key or hmac)", sec_w)) < 0 ||
		    set_once(c, D_SECURITY, &w[0]))
			return;
		sc->security = ch == 0 ? TB_SEC_NONE : ch == 1 ? TB_SEC_KEY : TB_SEC_HMAC;
		break;
	case D_Z2M:
		if ((ch = want_choice(c, a, "'on' or 'off'", z2m_w)) < 0 ||
		    set_once(c, D_Z2M, &w[0]))
			return;
		sc->z2m = ch == 1;
		break;
	case D_Z2M_DEVICES:
		if (want_uint(c, a, "a device count", 1, SC_MAX_Z2M_DEVICES, &u) ||
		    set_once(c, D_Z2M_DEVICES, &w[0]))
			return;
		sc->z2m_devices = (unsigned)u;
		break;
	case D_SEED: {
		int r = parse_u64(a, &u);
		if (r != 0) {
			problem(c, c->line, a->col, "expected a seed (an integer from 0 to %llu), got %s",
				(unsigned long long)UINT64_MAX, SHOW(a));
			return;
		}
		if (set_once(c, D_SEED, &w[0]))
			return;
		sc->seed = u;
		break;
	}
	case D_AT:
	case D_COUNT:
		break;
	}
}

static bool sensor_exists(const struct tb_scenario *sc, const char *dev)
{
	char id[96];
	for (unsigned i = 1; i <= sc->sensors; i++) {
		tb_sensor_name(i, id, sizeof(id), NULL, 0, NULL, 0);
		if (strcmp(id, dev) == 0)
			return true;
	}
	return false;
}

/*
 * The checks that need the whole file (duration, sensors and z2m may come
 * after the events): a failing event is reported at its line and dropped.
 * Then the events are sorted by time, keeping file order for equal times.
 */
static void finish(struct pctx *c)
{
	struct tb_scenario *sc = c->sc;
	unsigned kept = 0;
	for (unsigned i = 0; i < sc->n_ev; i++) {
		struct tb_event *e = &sc->ev[i];
		bool ok = true;
		if (!(e->at < sc->duration)) {
			problem(c, e->line, c->at_col[i],
				"expected an event time before the end of the run "
				"(duration %g s), got %g", sc->duration, e->at);
			ok = false;
		} else if ((e->kind == TB_EV_TAMPER || e->kind == TB_EV_SILENCE) &&
			   !sensor_exists(sc, e->device)) {
			char first[96], last[96];
			tb_sensor_name(1, first, sizeof(first), NULL, 0, NULL, 0);
			tb_sensor_name(sc->sensors, last, sizeof(last), NULL, 0, NULL, 0);
			problem(c, e->line, c->dev_col[i],
				"expected one of the %u sensors' client ids (%s ... %s), got '%s'",
				sc->sensors, first, last, e->device);
			ok = false;
		} else if (e->kind == TB_EV_Z2M_OFFLINE && !sc->z2m) {
			problem(c, e->line, c->dev_col[i],
				"expected 'z2m on' for a z2m-offline event");
			ok = false;
		}
		if (!ok)
			continue;
		if (kept != i) {
			sc->ev[kept] = *e;
			c->at_col[kept] = c->at_col[i];
			c->dev_col[kept] = c->dev_col[i];
		}
		kept++;
	}
	sc->n_ev = kept;
	/* Insertion sort: stable, and n is at most TB_SC_MAX_EVENTS. */
	for (unsigned i = 1; i < sc->n_ev; i++) {
		struct tb_event tmp = sc->ev[i];
		unsigned j = i;
		while (j > 0 && tmp.at < sc->ev[j - 1].at) {
			sc->ev[j] = sc->ev[j - 1];
			j--;
		}
		if (j != i)
			sc->ev[j] = tmp;
	}
}

/*
 * Parses text[0..n) into sc, starting from tb_scenario_defaults. Lines end
 * at '\n' (a '\r' before it is dropped); the last line needs none.
 */
int tb_scenario_parse(const char *name, const char *text, size_t n,
		      struct tb_scenario *sc, FILE *err)
{
	struct pctx *c = calloc(1, sizeof(*c));
	if (!c) {
		if (err)
			fprintf(err, "%s:0:0: out of memory\n", name ? name : "scenario");
		tb_scenario_defaults(sc);
		return 1;
	}
	tb_scenario_defaults(sc);
	c->name = name ? name : "scenario";
	c->err = err;
	c->sc = sc;
	size_t pos = 0;
	if (!text)
		n = 0;
	while (pos < n) {
		const char *ls = text + pos;
		const char *nl = memchr(ls, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - ls) : n - pos;
		pos += len + (nl ? 1 : 0);
		c->line++;
		if (len && ls[len - 1] == '\r')
			len--;
		parse_line(c, ls, len);
	}
	finish(c);
	int problems = c->problems;
	free(c);
	return problems;
}

int tb_scenario_load(const char *path, struct tb_scenario *sc, FILE *err)
{
	int problems = 1;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (err)
			fprintf(err, "%s:0:0: cannot open: %s\n", path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (err)
			fprintf(err, "%s:0:0: expected a regular file\n", path);
		goto out;
	}
	/* Sized by fstat, grown if the file grows meanwhile, never past the cap. */
	size_t cap = st.st_size < (off_t)SC_MAX_FILE ? (size_t)st.st_size + 1 : SC_MAX_FILE + 1;
	buf = malloc(cap);
	if (!buf) {
		if (err)
			fprintf(err, "%s:0:0: out of memory\n", path);
		goto out;
	}
	size_t n = 0;
	for (;;) {
		if (n == cap) {
			if (cap > SC_MAX_FILE)
				break;
			size_t ncap = cap * 2 > SC_MAX_FILE + 1 ? SC_MAX_FILE + 1 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				if (err)
					fprintf(err, "%s:0:0: out of memory\n", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (err)
				fprintf(err, "%s:0:0: cannot read: %s\n", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > SC_MAX_FILE) {
		if (err)
			fprintf(err, "%s:0:0: expected a file of at most %u bytes\n", path,
				SC_MAX_FILE);
		goto out;
	}
	problems = tb_scenario_parse(path, buf, n, sc, err);
	free(buf);
	close(fd);
	return problems;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	tb_scenario_defaults(sc);
	return problems;
}
