/* test_sink.c - a recording mqtt_sink and a one-flow session harness for tests. */
#include "test_sink.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

static void rec_reserve(struct rec *r, size_t n)
{
	if (r->cap - r->len > n)
		return;
	size_t cap = r->cap ? r->cap : 1024;
	while (cap - r->len <= n)
		cap *= 2;
	char *nb = realloc(r->buf, cap);
	if (!nb) {
		fputs("test_sink: out of memory\n", stderr);
		abort();
	}
	r->buf = nb;
	r->cap = cap;
}

static void rec_add(struct rec *r, const char *s, size_t n)
{
	rec_reserve(r, n);
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = 0;
}

static void rec_addf(struct rec *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void rec_addf(struct rec *r, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	rec_add(r, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->eve.string_log_limit = SIZE_MAX;
}

void rec_free(struct rec *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

void rec_reset(struct rec *r)
{
	r->len = 0;
	if (r->buf)
		r->buf[0] = 0;
	r->n_tx = r->n_anomaly = r->n_msg = 0;
}

const char *rec_text(const struct rec *r)
{
	return r->buf ? r->buf : "";
}

unsigned rec_count(const struct rec *r, const char *needle)
{
	unsigned n = 0;
	size_t nl = strlen(needle);
	const char *p = rec_text(r);
	while (nl && (p = strstr(p, needle)) != NULL) {
		n++;
		p += nl;
	}
	return n;
}

static const char *dir_name(bool toclient)
{
	return toclient ? "toclient" : "toserver";
}

static void on_tx(void *ud, const struct mqtt_state *st,
		  const struct mqtt_tx *tx)
{
	struct rec *r = ud;
	struct jw w;
	jw_init(&w);
	eve_mqtt_tx(&w, tx, &r->eve);
	r->n_tx++;
	rec_addf(r, "tx %s {", dir_name(tx->toclient));
	rec_add(r, w.buf ? w.buf : "", w.len);
	rec_add(r, "} session=", 10);
	if (st->rec.present) {
		jw_reset(&w);
		eve_mqtt_session(&w, NULL, &st->rec);
		rec_add(r, w.buf, w.len);
	}
	rec_add(r, "\n", 1);
	jw_deinit(&w);
}

static void on_anomaly(void *ud, const struct mqtt_state *st, bool toclient,
		       const char *layer, const char *event,
		       const char *detail)
{
	struct rec *r = ud;
	(void)st;
	r->n_anomaly++;
	rec_addf(r, "anomaly %s %s %s (%s)\n", dir_name(toclient), layer,
		 event, detail ? detail : "");
}

static void on_msg(void *ud, const struct mqtt_state *st, bool toclient,
		   const struct mqtt_msg *m)
{
	struct rec *r = ud;
	(void)st;
	r->n_msg++;
	rec_addf(r, "msg %s %s anomalies=0x%x\n", dir_name(toclient),
		 mqtt_type_name(m->type), (unsigned)m->anomalies);
}

struct mqtt_sink rec_sink(struct rec *r, bool with_msg)
{
	struct mqtt_sink s = { on_tx, on_anomaly, with_msg ? on_msg : NULL, r };
	return s;
}

void sess_init(struct sess *s, const struct mqtt_cfg *cfg, bool with_msg)
{
	struct mqtt_cfg def;
	memset(s, 0, sizeof(*s));
	if (!cfg) {
		mqtt_cfg_default(&def);
		cfg = &def;
	}
	if (mqtt_ctx_init(&s->ctx, cfg) != 0 ||
	    !(s->st = mqtt_state_new(&s->ctx))) {
		fputs("test_sink: cannot create a session\n", stderr);
		abort();
	}
	rec_init(&s->rec);
	s->rec.eve.string_log_limit = cfg->string_log_limit;
	s->rec.eve.log_passwords = cfg->log_passwords;
	s->sink = rec_sink(&s->rec, with_msg);
}

void sess_feed(struct sess *s, bool toclient, const void *p, size_t n)
{
	mqtt_stream_feed(&s->ctx, s->st, toclient, p, n, &s->sink);
}

void sess_finish(struct sess *s, bool closed)
{
	if (s->st) {
		mqtt_state_free(&s->ctx, s->st, &s->sink, closed);
		s->st = NULL;
	}
}

void sess_deinit(struct sess *s)
{
	sess_finish(s, false);
	mqtt_ctx_deinit(&s->ctx);
	rec_free(&s->rec);
}

/* Prints one line of s starting at p (up to 400 characters). */
static void print_line(const char *tag, const char *p)
{
	const char *e = strchr(p, '\n');
	size_t n = e ? (size_t)(e - p) : strlen(p);
	fprintf(stderr, "  %s: %.*s%s\n", tag, (int)(n > 400 ? 400 : n), p,
		n > 400 ? "..." : "");
}

void assert_text_equal(const char *got, const char *want, const char *what)
{
	if (strcmp(got, want) == 0)
		return;
	const char *g = got, *w = want;
	unsigned line = 1;
	const char *gl = g, *wl = w;
	while (*g && *g == *w) {
		if (*g == '\n') {
			line++;
			gl = g + 1;
			wl = w + 1;
		}
		g++;
		w++;
	}
	fprintf(stderr, "%s: output differs at line %u (column %zu)\n", what,
		line, (size_t)(g - gl) + 1);
	print_line("got ", gl);
	print_line("want", wl);
	fail_msg("%s: output differs", what);
}
