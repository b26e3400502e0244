/*
 * output.c - the sinks' registry and dispatch: each record goes to the
 * sinks that asked for its kind, in registry order (the alert store
 * first, which live commits each alert to, then the EVE file: an alert is
 * on disk before anyone is told of it, and EVE never holds an alert the
 * store lacks, even after kill -9, unless the store is locked and the
 * alert waits in its queue), and its EVE text
 * is formatted at most once, on the first sink's request.
 */
#include "output/output.h"

#include <stdlib.h>
#include <string.h>

/* Every sink, in the order each record reaches them. */
static const struct out_sink_ops *const registry[] = {
	&out_sink_store,
	&out_sink_eve,
	&out_sink_console,
};
#define N_SINKS (sizeof(registry) / sizeof(registry[0]))

struct out_sink {
	const struct out_sink_ops *ops;
	void *self;
	unsigned kinds;
};

struct output {
	struct out_sink s[N_SINKS];
	unsigned n;
	unsigned kinds;              /* union of the sinks' kinds */
	struct eve_writer ew;
	/* The record being emitted and whether its EVE text is made. */
	const struct out_record *cur;
	bool cur_done, cur_ok;
	uint64_t errors;
};

struct output *output_open(const struct output_cfg *cfg, char *err,
			   size_t errsz)
{
	struct output *o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errsz, "out of memory opening the outputs");
		return NULL;
	}
	eve_writer_init(&o->ew, &cfg->eve);
	for (size_t i = 0; i < N_SINKS; i++) {
		void *self = NULL;
		unsigned kinds = 0;
		int r = registry[i]->open(cfg, &self, &kinds, err, errsz);
		if (r < 0) {
			output_close(o, 0);
			return NULL;
		}
		if (r > 0)
			continue;
		o->s[o->n++] = (struct out_sink){ registry[i], self, kinds };
		o->kinds |= kinds;
	}
	return o;
}

struct output *output_open_stream(FILE *fp, const struct eve_cfg *eve)
{
	struct output_cfg cfg;
	char err[128];
	memset(&cfg, 0, sizeof(cfg));
	cfg.eve = *eve;
	cfg.eve_fp = fp;
	cfg.eve_kinds = OUT_ALL;
	return output_open(&cfg, err, sizeof(err));
}

int output_close(struct output *o, uint64_t now_us)
{
	if (!o)
		return 0;
	int rc = o->errors ? -1 : 0;
	for (unsigned i = 0; i < o->n; i++)
		if (o->s[i].ops->close(o->s[i].self, now_us) != 0)
			rc = -1;
	eve_writer_deinit(&o->ew);
	free(o);
	return rc;
}

bool output_wants(const struct output *o, enum out_kind k)
{
	return o && (o->kinds & OUT_BIT(k));
}

void output_emit(struct output *o, const struct out_record *r)
{
	if (!output_wants(o, r->kind))
		return;
	o->cur = r;
	o->cur_done = false;
	for (unsigned i = 0; i < o->n; i++) {
		struct out_sink *s = &o->s[i];
		if ((s->kinds & OUT_BIT(r->kind)) &&
		    s->ops->emit(s->self, o, r) != 0)
			o->errors++;
	}
	o->cur = NULL;
}

const char *output_eve(struct output *o, size_t *len)
{
	*len = 0;
	if (!o->cur)
		return NULL;
	if (!o->cur_done) {
		o->cur_done = true;
		o->cur_ok = eve_format(&o->ew, o->cur);
	}
	if (!o->cur_ok)
		return NULL;
	*len = o->ew.w.len;
	return o->ew.w.buf;
}

void output_flush(struct output *o, uint64_t now_us)
{
	for (unsigned i = 0; o && i < o->n; i++)
		if (o->s[i].ops->flush && o->s[i].ops->flush(o->s[i].self, now_us) != 0)
			o->errors++;
}

void output_reopen(struct output *o)
{
	for (unsigned i = 0; o && i < o->n; i++) {
		char err[512];
		if (!o->s[i].ops->reopen)
			continue;
		if (o->s[i].ops->reopen(o->s[i].self, err, sizeof(err)) != 0)
			fprintf(stderr, "mqttids: %s\n", err);
	}
}

bool output_sink_stats(const struct output *o, const char *name,
		       struct out_sink_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; o && i < o->n; i++) {
		if (strcmp(o->s[i].ops->name, name))
			continue;
		o->s[i].ops->stats(o->s[i].self, st);
		return true;
	}
	return false;
}

uint64_t output_errors(const struct output *o)
{
	return o ? o->errors : 0;
}
