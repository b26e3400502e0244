/*
 * output.h - the last stage of the pipeline: records (record.h) go to the
 * sinks that asked for their kind. A sink is one file against one small
 * interface (struct out_sink_ops: open, emit, flush, close, stats, and
 * reopen for files). The EVE file, the console and the SQLite alert store
 * are sinks; notifications and the web panel will be. The registry in
 * output.c lists them explicitly.
 *
 * Nothing is formatted that no sink asks for: a sink that writes EVE text
 * calls output_eve, which formats the record being emitted once, whatever
 * the number of sinks that want it, and the engine asks output_wants
 * before building a record at all.
 */
#ifndef MQTTIDS_OUTPUT_H
#define MQTTIDS_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "output/eve.h"
#include "output/outputs.h"
#include "output/record.h"

/* What the sinks are given at open; a sink takes its part. */
struct output_cfg {
	struct eve_cfg eve;     /* how records are formatted */
	/* EVE file: NULL no EVE; "-" standard output. */
	const char *eve_path;
	/* Or an open stream (tests, fuzzing), flushed but never closed. */
	FILE *eve_fp;
	bool eve_append;        /* append (live) rather than rewrite */
	unsigned eve_kinds;     /* OUT_BIT() of the record kinds written */
	/* Console: one line per alert on this stream; NULL: none. */
	FILE *console;
	bool console_color;
	/* Alert store: NULL or "": none. */
	const char *db_path;
	struct store_cfg store;
	/* live: flush after each alert, and the store's clock is the wall
	 * clock rather than the alert's time. */
	bool live;
	/* Mode of the EVE file and the store when they are created
	 * (outputs.file-mode); 0: FILE_OUTPUT_MODE (0640). */
	unsigned file_mode;
};

struct out_sink_stats {
	uint64_t records;  /* records written */
	uint64_t errors;   /* records or flushes that failed */
	uint64_t pending;  /* records accepted, not written yet (the store) */
};

struct output;

struct out_sink_ops {
	const char *name;
	/*
	 * Returns 0 with *self and *kinds (OUT_BIT() of the kinds it wants)
	 * set, 1 when cfg does not ask for this sink, or -1 with a message
	 * in err.
	 */
	int (*open)(const struct output_cfg *cfg, void **self, unsigned *kinds,
		    char *err, size_t errsz);
	/* One record of a kind it wants; 0, or -1 when it was not written. */
	int (*emit)(void *self, struct output *o, const struct out_record *r);
	/*
	 * Hands on what is buffered. now_us: the clock tick's time (live,
	 * about once a second), or 0 when the capture is merely idle.
	 */
	int (*flush)(void *self, uint64_t now_us);
	/* After SIGHUP (logrotate): reopen files; may be NULL. */
	int (*reopen)(void *self, char *err, size_t errsz);
	/* Flushes and frees; -1 when something could not be written. */
	int (*close)(void *self, uint64_t now_us);
	void (*stats)(void *self, struct out_sink_stats *st);
};

extern const struct out_sink_ops out_sink_eve;
extern const struct out_sink_ops out_sink_console;
extern const struct out_sink_ops out_sink_store;

/*
 * Opens every sink cfg asks for. NULL when one cannot be opened (its
 * message in err; the ones opened before are closed) or out of memory.
 */
struct output *output_open(const struct output_cfg *cfg, char *err,
			   size_t errsz);
/*
 * One EVE sink on the open stream fp (flushed, never closed) taking every
 * record kind: for tests and fuzzing. NULL when out of memory.
 */
struct output *output_open_stream(FILE *fp, const struct eve_cfg *eve);
/* Closes every sink; -1 when one reported a failure (printed on stderr). */
int output_close(struct output *o, uint64_t now_us);

/* Whether some sink wants records of kind k. */
bool output_wants(const struct output *o, enum out_kind k);
/* Hands r to every sink that wants its kind. */
void output_emit(struct output *o, const struct out_record *r);
/*
 * During a sink's emit: the record's EVE line (with its newline; *len
 * counts it), formatted on the first call for this record. NULL when out
 * of memory.
 */
const char *output_eve(struct output *o, size_t *len);

void output_flush(struct output *o, uint64_t now_us);
/* Reopens the sinks' files (SIGHUP); messages on stderr. */
void output_reopen(struct output *o);
/* Counters of the sink called name ("eve", "console", "store"); false: no such sink. */
bool output_sink_stats(const struct output *o, const char *name,
		       struct out_sink_stats *st);
/* Failures of all sinks so far. */
uint64_t output_errors(const struct output *o);

#endif
