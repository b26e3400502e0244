/* console.c - one readable, bounded, terminal-safe line per alert (seed 000's serial monitor). */
#include "output/output.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Longest console line; the per-field caps below keep real lines far shorter. */
#define CONSOLE_LINE_MAX 2560
#define CONSOLE_MAX_ITEMS 3     /* client ids, users, topics shown */
#define CONSOLE_MAX_CLASS 96    /* bytes of each field taken from the alert */
#define CONSOLE_MAX_DETAIL 200 /* bytes of a detector's detail shown */
#define CONSOLE_MAX_SRC 64
#define CONSOLE_MAX_ITEM 40
#define CONSOLE_MAX_TOPIC 64

static const char hexu[] = "0123456789ABCDEF";

/*
 * Length of the well-formed UTF-8 sequence at p[0..n) (RFC 3629: no
 * overlongs, surrogates or code points over U+10FFFF), its code point in
 * *cp; 0 when p does not start one.
 */
static size_t utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t v;
	uint8_t lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	v = (v << 6) | (p[1] & 0x3f);
	for (size_t i = 2; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return len;
}

/* Code points a terminal may act on: C1 controls (0x9b is CSI on some
 * terminals), line separators and the bidi controls of "Trojan Source". */
static bool console_cp_unsafe(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t console_escape(char *out, size_t outsz, const char *s, size_t n,
		      size_t max)
{
	if (!outsz)
		return 0;
	const uint8_t *p = (const uint8_t *)s;
	/* Room for "..." and the NUL is kept back from the start. */
	size_t room = outsz > 4 ? outsz - 4 : outsz - 1;
	size_t take = n < max ? n : max;
	bool cut = take < n;
	size_t o = 0, i = 0;
	while (i < take) {
		uint32_t cp = 0;
		size_t len = 1;
		bool esc;
		if (p[i] < 0x20 || p[i] == 0x7f) {
			esc = true;
		} else if (p[i] < 0x80) {
			esc = false;
		} else {
			len = utf8_seq(p + i, take - i, &cp);
			if (!len && take < n && utf8_seq(p + i, n - i, &cp)) {
				/* A character cut by max: stop before it. */
				break;
			}
			esc = !len || console_cp_unsafe(cp);
			if (!len)
				len = 1;
		}
		size_t need = esc ? 4 * len : len;
		if (room - o < need) {
			cut = true;
			break;
		}
		for (size_t k = 0; k < len; k++) {
			uint8_t c = p[i + k];
			if (esc) {
				out[o++] = '\\';
				out[o++] = 'x';
				out[o++] = hexu[c >> 4];
				out[o++] = hexu[c & 15];
			} else {
				out[o++] = (char)c;
			}
		}
		i += len;
	}
	if (i < n)
		cut = true;
	if (cut && outsz > 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
	return o;
}

/* The line being built; one byte is always kept for the newline. */
struct cline {
	char buf[CONSOLE_LINE_MAX];
	size_t len;
};

static void cline_put(struct cline *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 2 - l->len;
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void cline_puts(struct cline *l, const char *s)
{
	cline_put(l, s, strlen(s));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void cline_fmt(struct cline *l, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		cline_put(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
							  : sizeof(tmp) - 1);
}

/* Text from the alert (and so maybe from the wire), escaped and capped. */
static void cline_text(struct cline *l, const char *s, size_t max)
{
	if (!s)
		return;
	size_t room = sizeof(l->buf) - 1 - l->len;
	l->len += console_escape(l->buf + l->len, room, s, strlen(s), max);
}

/* " key=a,b,c +N more", nothing when the list is empty. */
static void cline_list(struct cline *l, const char *key,
		       const struct alert_strs *v)
{
	uint32_t shown = 0;
	if (!v->v || !v->n)
		return;
	cline_fmt(l, "  %s=", key);
	for (uint32_t i = 0; i < v->n && shown < CONSOLE_MAX_ITEMS; i++) {
		if (shown++)
			cline_put(l, ",", 1);
		cline_text(l, v->v[i] ? v->v[i] : "", CONSOLE_MAX_ITEM);
	}
	if (v->n > shown)
		cline_fmt(l, " +%u more", v->n - shown);
}

/* " topics=..." over publish, subscribe, unsubscribe keys in that order. */
static void cline_topics(struct cline *l, const struct alert *a)
{
	const struct alert_counts *maps[3] = {
		&a->publish, &a->subscribe, &a->unsubscribe,
	};
	uint64_t total = 0, shown = 0;
	for (int m = 0; m < 3; m++)
		total += maps[m]->v ? maps[m]->n : 0;
	if (!total)
		return;
	cline_puts(l, "  topics=");
	for (int m = 0; m < 3; m++) {
		const struct alert_counts *c = maps[m];
		for (uint32_t i = 0; c->v && i < c->n; i++) {
			if (shown == CONSOLE_MAX_ITEMS)
				break;
			if (shown++)
				cline_put(l, ",", 1);
			cline_text(l, c->v[i].key ? c->v[i].key : "",
				   CONSOLE_MAX_TOPIC);
		}
	}
	if (total > shown)
		cline_fmt(l, " +%llu more", (unsigned long long)(total - shown));
}

static const char *const prio_color[] = {
	"", "\033[36m", "\033[33m", "\033[31m", "\033[1;31m",
};

/*
 * Splits timefmt_format's "2022-09-05T15:24:27.194538+0800" (length n)
 * into its date, time-of-day-with-milliseconds and zone parts.
 */
struct ctime {
	char date[16], clock[16], zone[8];
};

static void console_time(struct timefmt *tf, uint64_t ts_us, struct ctime *t)
{
	char b[48];
	size_t n = timefmt_format(tf, ts_us, b, sizeof(b));
	memset(t, 0, sizeof(*t));
	if (n < 12 + 9)
		return;
	size_t pl = n - 12; /* end of "...THH:MM:SS" */
	size_t dl = pl - 9;
	if (dl >= sizeof(t->date))
		dl = sizeof(t->date) - 1;
	memcpy(t->date, b, dl);
	memcpy(t->clock, b + pl - 8, 12); /* HH:MM:SS.mmm */
	memcpy(t->zone, b + pl + 7, 5);
}

void console_alert(FILE *fp, struct timefmt *tf, const struct alert *a,
		   bool color)
{
	struct cline l;
	struct ctime t, ft;
	unsigned prio = a->priority > 4 ? 4 : a->priority;
	l.len = 0;

	console_time(tf, a->ts_us, &t);
	cline_fmt(&l, "%s %s %s  ", t.date, t.clock, t.zone);
	if (color && prio_color[prio][0])
		cline_fmt(&l, "%s[%s]\033[0m", prio_color[prio],
			  alert_priority_name(prio));
	else
		cline_fmt(&l, "[%s]", alert_priority_name(prio));
	cline_puts(&l, "  ");
	cline_text(&l, a->classification ? a->classification : "-",
		   CONSOLE_MAX_CLASS);
	if (a->src) {
		cline_puts(&l, "  src=");
		cline_text(&l, a->src, CONSOLE_MAX_SRC);
	}

	if (a->update) {
		if (a->update_added)
			cline_fmt(&l, "  +%llu more during cooldown (total=%llu)",
				  (unsigned long long)a->update_added,
				  (unsigned long long)a->total);
		else
			cline_fmt(&l, "  more during cooldown (total=%llu)",
				  (unsigned long long)a->total);
	} else {
		console_time(tf, a->first_us ? a->first_us : a->ts_us, &ft);
		cline_fmt(&l, "  total=%llu first=", (unsigned long long)a->total);
		if (strcmp(ft.date, t.date) != 0)
			cline_fmt(&l, "%s ", ft.date);
		cline_puts(&l, ft.clock);
		if (a->fold)
			cline_fmt(&l, "  %llu alerts folded (over the alert rates)",
				  (unsigned long long)a->folded);
		cline_list(&l, "client_id", &a->client_ids);
		cline_list(&l, "user", &a->usernames);
		cline_topics(&l, a);
		if (a->detail) {
			/* A data detector's finding: what it saw, in one line. */
			cline_puts(&l, "  \"");
			cline_text(&l, a->detail, CONSOLE_MAX_DETAIL);
			cline_puts(&l, "\"");
		}
		cline_fmt(&l, "  sid=%u", a->sid);
	}
	l.buf[l.len++] = '\n';
	fwrite(l.buf, 1, l.len, fp);
}

/* ---- the console sink ---- */

struct console_sink {
	FILE *fp;
	bool color;
	bool live;
	struct timefmt tf;
	struct out_sink_stats st;
};

static int console_open(const struct output_cfg *cfg, void **self,
			unsigned *kinds, char *err, size_t errsz)
{
	if (!cfg->console)
		return 1;
	struct console_sink *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errsz, "out of memory opening the console output");
		return -1;
	}
	c->fp = cfg->console;
	c->color = cfg->console_color;
	c->live = cfg->live;
	timefmt_init(&c->tf);
	*self = c;
	*kinds = OUT_BIT(OUT_ALERT);
	return 0;
}

static int console_emit(void *self, struct output *o, const struct out_record *r)
{
	struct console_sink *c = self;
	(void)o;
	console_alert(c->fp, &c->tf, r->alert, c->color);
	if (c->live)
		fflush(c->fp);
	c->st.records++;
	return ferror(c->fp) ? -1 : 0;
}

static int console_flush(void *self, uint64_t now_us)
{
	(void)now_us;
	return fflush(((struct console_sink *)self)->fp) == 0 ? 0 : -1;
}

static int console_close(void *self, uint64_t now_us)
{
	struct console_sink *c = self;
	(void)now_us;
	fflush(c->fp);
	free(c);
	return 0;
}

static void console_stats(void *self, struct out_sink_stats *st)
{
	*st = ((struct console_sink *)self)->st;
}

const struct out_sink_ops out_sink_console = {
	.name = "console",
	.open = console_open,
	.emit = console_emit,
	.flush = console_flush,
	.close = console_close,
	.stats = console_stats,
};
