/*
 * eve_file.c - the EVE sink: one JSON line per record in a file or on
 * standard output. Live runs append (a restart must not clobber the log),
 * flush after each alert, and reopen the file after SIGHUP for logrotate;
 * offline runs rewrite the file.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "output/output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"

#define EVE_FILE_BUF (1u << 16)

/* Standard output's buffer: stdout outlives the sink, so not malloc'd. */
static char stdout_buf[EVE_FILE_BUF];

struct eve_file {
	FILE *fp;
	char *path;          /* NULL: standard output */
	char *buf;           /* stdio buffer of fp */
	bool borrowed;       /* cfg->eve_fp: not ours to close */
	bool live;
	unsigned mode;       /* of a file it creates */
	struct out_sink_stats st;
};

static int eve_file_open(const struct output_cfg *cfg, void **self,
			 unsigned *kinds, char *err, size_t errsz)
{
	if ((!cfg->eve_path && !cfg->eve_fp) || !cfg->eve_kinds)
		return 1;
	bool to_stdout = !cfg->eve_fp && !strcmp(cfg->eve_path, "-");
	struct eve_file *f = calloc(1, sizeof(*f));
	char *buf = to_stdout || cfg->eve_fp ? stdout_buf : malloc(EVE_FILE_BUF);
	if (!f || !buf) {
		free(f);
		if (buf != stdout_buf)
			free(buf);
		snprintf(err, errsz, "out of memory opening the EVE output");
		return -1;
	}
	f->buf = buf;
	f->live = cfg->live;
	if (cfg->eve_fp) {
		f->fp = cfg->eve_fp;
		f->borrowed = true;
		*self = f;
		*kinds = cfg->eve_kinds;
		return 0; /* its buffering is the owner's */
	}
	if (to_stdout) {
		f->fp = stdout;
	} else {
		f->path = strdup(cfg->eve_path);
		f->mode = cfg->file_mode ? cfg->file_mode : FILE_OUTPUT_MODE;
		f->fp = f->path ? file_fopen_output(f->path, cfg->eve_append, f->mode) : NULL;
		if (!f->fp) {
			snprintf(err, errsz, "%s: %s", cfg->eve_path,
				 f->path ? strerror(errno) : "out of memory");
			free(f->path);
			free(buf);
			free(f);
			return -1;
		}
	}
	setvbuf(f->fp, f->buf, _IOFBF, EVE_FILE_BUF);
	*self = f;
	*kinds = cfg->eve_kinds;
	return 0;
}

static int eve_file_emit(void *self, struct output *o,
			 const struct out_record *r)
{
	struct eve_file *f = self;
	size_t n;
	const char *line = output_eve(o, &n);
	if (!line)
		return -1;
	if (fwrite(line, 1, n, f->fp) != n)
		return -1;
	f->st.records++;
	if (f->live && r->kind == OUT_ALERT)
		fflush(f->fp);
	return 0;
}

static int eve_file_flush(void *self, uint64_t now_us)
{
	struct eve_file *f = self;
	(void)now_us;
	return fflush(f->fp) == 0 ? 0 : -1;
}

static int eve_file_reopen(void *self, char *err, size_t errsz)
{
	struct eve_file *f = self;
	if (!f->path || f->borrowed)
		return 0;
	FILE *nf = file_fopen_output(f->path, true, f->mode);
	if (!nf) {
		snprintf(err, errsz, "reopening %s after SIGHUP: %s; still writing to the old file",
			 f->path, strerror(errno));
		return -1;
	}
	fflush(f->fp);
	fclose(f->fp);
	f->fp = nf;
	setvbuf(nf, f->buf, _IOFBF, EVE_FILE_BUF);
	fprintf(stderr, "mqttids: SIGHUP: reopened %s\n", f->path);
	return 0;
}

static int eve_file_close(void *self, uint64_t now_us)
{
	struct eve_file *f = self;
	int rc = 0;
	(void)now_us;
	bool own = f->fp != stdout && !f->borrowed;
	if (fflush(f->fp) != 0 || (own && fclose(f->fp) != 0)) {
		perror(f->path ? f->path : "stdout");
		rc = -1;
	}
	free(f->path);
	if (f->buf != stdout_buf)
		free(f->buf);
	free(f);
	return rc;
}

static void eve_file_stats(void *self, struct out_sink_stats *st)
{
	*st = ((struct eve_file *)self)->st;
}

const struct out_sink_ops out_sink_eve = {
	.name = "eve",
	.open = eve_file_open,
	.emit = eve_file_emit,
	.flush = eve_file_flush,
	.reopen = eve_file_reopen,
	.close = eve_file_close,
	.stats = eve_file_stats,
};
