/* store.c - the SQLite alert store: batched inserts, updates by uuid, retention (docs/OUTPUTS.md). */
#define _POSIX_C_SOURCE 200809L /* strdup, strnlen */
#include "output/output.h"
#include "output/store_schema.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"

#define STORE_BATCH_ROWS 1000            /* commit at this many rows */
#define STORE_RETENTION_EVERY_US 60000000ull /* retention once a minute */
#define STORE_BUSY_MS 2000

/* Kinds of error, each reported once per store. */
enum store_err {
	STORE_E_BEGIN,
	STORE_E_INSERT,
	STORE_E_UPDATE,
	STORE_E_COMMIT,
	STORE_E_RETENTION,
	STORE_E_JSON,
};

struct store {
	sqlite3 *db;
	char *path;
	struct store_cfg cfg;
	sqlite3_stmt *ins, *upd;
	struct jw rec;       /* the seed object of the alert being stored */
	struct timefmt tf;
	bool in_tx;
	uint64_t tx_start_us;
	uint32_t tx_rows;
	bool retention_ran;
	uint64_t retention_us; /* now_us of the last retention pass */
	uint32_t reported;     /* bit per enum store_err */
};

void store_cfg_default(struct store_cfg *c)
{
	c->retention_days = 90;
	c->max_alerts = 1000000;
	c->commit_ms = 200;
}

static void store_report(struct store *s, enum store_err kind, const char *msg)
{
	if (s->reported & (1u << kind))
		return;
	s->reported |= 1u << kind;
	fprintf(stderr, "mqttids: alert store %s: %s\n", s->path,
		msg ? msg : sqlite3_errmsg(s->db));
}

static int store_exec(struct store *s, const char *sql, enum store_err kind)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	store_report(s, kind, msg);
	sqlite3_free(msg);
	return -1;
}

/* err: "<what>: <sqlite message>". */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void store_err_fmt(sqlite3 *db, char *err, size_t errsz,
			  const char *fmt, ...)
{
	char what[160];
	va_list ap;
	if (!err || !errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (db)
		snprintf(err, errsz, "%s: %s", what, sqlite3_errmsg(db));
	else
		snprintf(err, errsz, "%s", what);
}

int store_schema_check(sqlite3 *db, bool create, char *err, size_t errsz)
{
	sqlite3_stmt *st = NULL;
	int version = -1, tables = 0;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		store_err_fmt(db, err, errsz, "reading the schema version");
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version == STORE_SCHEMA_VERSION) {
		rc = 0;
		goto out;
	}
	if (version > STORE_SCHEMA_VERSION) {
		store_err_fmt(NULL, err, errsz,
			      "schema version %d is newer than this mqttids "
			      "knows (%d)", version, STORE_SCHEMA_VERSION);
		goto out;
	}
	/* Version 0: a new file, or some other SQLite database. */
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1,
			       &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		store_err_fmt(db, err, errsz, "reading the schema");
		goto out;
	}
	tables = sqlite3_column_int(st, 0);
	if (tables) {
		store_err_fmt(NULL, err, errsz, "not an mqttids alert store");
		goto out;
	}
	if (!create) {
		store_err_fmt(NULL, err, errsz, "empty database, no alerts "
			      "table");
		goto out;
	}
	char *msg = NULL;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE;" STORE_SCHEMA_SQL "COMMIT;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errsz, "creating the schema: %s",
			 msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static const char sql_insert[] =
	"INSERT OR IGNORE INTO alerts (uuid, ts_us, datetime, "
	"first_violation, total_violation, priority, priority_name, "
	"classification, src, sid, rev, src_ip, src_port, dest_ip, dest_port, "
	"flow_id, record, eve) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
	"?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

static const char sql_update[] =
	"UPDATE alerts SET total_violation = ?2, record = ?3, eve = ?4, "
	"updated_ts = ?5 WHERE uuid = ?1";

struct store *store_open(const char *path, const struct store_cfg *cfg,
			 char *err, size_t errsz)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		snprintf(err, errsz, "%s: out of memory", path);
		goto fail;
	}
	if (cfg)
		s->cfg = *cfg;
	else
		store_cfg_default(&s->cfg);
	jw_init(&s->rec);
	timefmt_init(&s->tf);

	/* Created with the outputs' mode (alerts name users and topics);
	 * SQLite gives its journal files the database's mode. */
	int fd = file_open_output(path, 1, s->cfg.file_mode ? s->cfg.file_mode
							    : FILE_OUTPUT_MODE);
	if (fd >= 0)
		close(fd);
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		store_err_fmt(s->db, err, errsz, "%s", path);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	sqlite3_stmt *st = NULL;
	bool wal = false;
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *m = sqlite3_column_text(st, 0);
		wal = m && !strcmp((const char *)m, "wal");
	}
	sqlite3_finalize(st);
	if (!wal) {
		store_err_fmt(s->db, err, errsz, "%s: cannot use WAL mode",
			      path);
		goto fail;
	}
	if (sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL,
			 NULL) != SQLITE_OK) {
		store_err_fmt(s->db, err, errsz, "%s", path);
		goto fail;
	}
	char why[256];
	if (store_schema_check(s->db, true, why, sizeof(why)) < 0) {
		snprintf(err, errsz, "%s: %s", path, why);
		goto fail;
	}
	if (sqlite3_prepare_v2(s->db, sql_insert, -1, &s->ins, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, sql_update, -1, &s->upd, NULL) !=
		    SQLITE_OK) {
		store_err_fmt(s->db, err, errsz, "%s", path);
		goto fail;
	}
	return s;
fail:
	store_close(s);
	return NULL;
}

/* Commits the open batch. A COMMIT that fails but leaves the transaction
 * open (busy) is retried on the next call; one SQLite rolled back is lost
 * (and reported). */
static int store_commit(struct store *s)
{
	if (!s->in_tx)
		return 0;
	int rc = store_exec(s, "COMMIT", STORE_E_COMMIT);
	if (rc == 0 || sqlite3_get_autocommit(s->db)) {
		s->in_tx = false;
		s->tx_rows = 0;
	}
	return rc;
}

static int store_begin(struct store *s, uint64_t now_us)
{
	if (s->in_tx)
		return 0;
	if (store_exec(s, "BEGIN IMMEDIATE", STORE_E_BEGIN) < 0)
		return -1;
	s->in_tx = true;
	s->tx_start_us = now_us;
	s->tx_rows = 0;
	return 0;
}

static bool store_batch_due(const struct store *s, uint64_t now_us)
{
	if (!s->in_tx)
		return false;
	if (s->tx_rows >= STORE_BATCH_ROWS)
		return true;
	/* Time going backwards (a new capture file) does not hold a batch. */
	return now_us < s->tx_start_us ||
	       now_us - s->tx_start_us >= (uint64_t)s->cfg.commit_ms * 1000u;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int store_step(struct store *s, sqlite3_stmt *st, enum store_err kind)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_report(s, kind, NULL);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int store_insert(struct store *s, const struct alert *a,
			const char *eve, size_t eve_len)
{
	sqlite3_stmt *st = s->ins;
	char dt[48], fv[48];
	size_t dn = timefmt_format_iso(&s->tf, a->ts_us, dt, sizeof(dt));
	size_t fn = timefmt_format_iso(&s->tf, a->first_us ? a->first_us
							    : a->ts_us,
				       fv, sizeof(fv));
	unsigned prio = a->priority > 4 ? 4 : a->priority;

	sqlite3_bind_text(st, 1, a->uuid, (int)strnlen(a->uuid, 32),
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->ts_us);
	sqlite3_bind_text(st, 3, dt, (int)dn, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, fv, (int)fn, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)a->total);
	sqlite3_bind_int(st, 6, (int)prio);
	sqlite3_bind_text(st, 7, alert_priority_name(prio), -1, SQLITE_STATIC);
	bind_text_or_null(st, 8, a->classification);
	bind_text_or_null(st, 9, a->src);
	sqlite3_bind_int64(st, 10, a->sid);
	sqlite3_bind_int64(st, 11, a->rev);
	if (a->src_ip) {
		sqlite3_bind_text(st, 12, a->src_ip, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 13, a->src_port);
		bind_text_or_null(st, 14, a->dest_ip);
		sqlite3_bind_int(st, 15, a->dest_port);
	}
	if (a->flow_id)
		sqlite3_bind_int64(st, 16, (sqlite3_int64)a->flow_id);
	sqlite3_bind_text(st, 17, s->rec.buf, (int)s->rec.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 18, eve, (int)eve_len, SQLITE_STATIC);
	return store_step(s, st, STORE_E_INSERT);
}

static int store_update(struct store *s, const struct alert *a,
			const char *eve, size_t eve_len)
{
	sqlite3_stmt *st = s->upd;
	char ts[48];
	size_t tn = timefmt_format_iso(&s->tf, a->ts_us, ts, sizeof(ts));
	sqlite3_bind_text(st, 1, a->uuid, (int)strnlen(a->uuid, 32),
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->total);
	sqlite3_bind_text(st, 3, s->rec.buf, (int)s->rec.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, eve, (int)eve_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, ts, (int)tn, SQLITE_STATIC);
	if (store_step(s, st, STORE_E_UPDATE) < 0)
		return -1;
	/*
	 * The alert it updates is not here (the store was created or pruned
	 * after it was raised): keep the update as the alert, so nothing
	 * raised is missing from the store.
	 */
	if (sqlite3_changes(s->db) == 0)
		return store_insert(s, a, eve, eve_len);
	return 0;
}

int store_put(struct store *s, const struct alert *a, const char *eve,
	      size_t eve_len, uint64_t now_us)
{
	if (!s || !s->db)
		return -1;
	if (!eve)
		eve_len = 0;
	while (eve_len && (eve[eve_len - 1] == '\n' || eve[eve_len - 1] == '\r'))
		eve_len--;
	if (eve_len > INT32_MAX)
		eve_len = 0;
	eve_alert_seed(&s->rec, &s->tf, a);
	if (s->rec.oom || s->rec.len > INT32_MAX) {
		store_report(s, STORE_E_JSON, "out of memory");
		return -1;
	}
	if (store_begin(s, now_us) < 0)
		return -1;
	int rc = a->update ? store_update(s, a, eve ? eve : "", eve_len)
			   : store_insert(s, a, eve ? eve : "", eve_len);
	s->tx_rows++;
	if (rc < 0 && sqlite3_get_autocommit(s->db)) {
		/* The error (disk full, I/O) rolled the batch back. */
		s->in_tx = false;
		s->tx_rows = 0;
	}
	if (store_batch_due(s, now_us) && store_commit(s) < 0)
		rc = -1;
	return rc;
}

int store_tick(struct store *s, uint64_t now_us)
{
	if (!s || !s->db)
		return -1;
	if (store_batch_due(s, now_us))
		return store_commit(s);
	return 0;
}

/*
 * Deletes alerts older than retention_days before now_us and, beyond
 * max_alerts, the oldest. Runs at most once a minute of now_us (again at
 * once when time went backwards).
 */
static int store_retention(struct store *s, uint64_t now_us)
{
	if (s->retention_ran && now_us >= s->retention_us &&
	    now_us - s->retention_us < STORE_RETENTION_EVERY_US)
		return 0;
	s->retention_ran = true;
	s->retention_us = now_us;
	int rc = 0;
	sqlite3_stmt *st = NULL;

	uint64_t age = (uint64_t)s->cfg.retention_days * 86400ull * 1000000ull;
	if (s->cfg.retention_days && now_us > age) {
		if (sqlite3_prepare_v2(s->db,
				       "DELETE FROM alerts WHERE ts_us < ?1", -1,
				       &st, NULL) != SQLITE_OK) {
			store_report(s, STORE_E_RETENTION, NULL);
			return -1;
		}
		sqlite3_bind_int64(st, 1, (sqlite3_int64)(now_us - age));
		if (sqlite3_step(st) != SQLITE_DONE) {
			store_report(s, STORE_E_RETENTION, NULL);
			rc = -1;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (s->cfg.max_alerts) {
		sqlite3_int64 n = 0;
		if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM alerts", -1,
				       &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (n > 0 && (uint64_t)n > s->cfg.max_alerts) {
			/* Keep the newest max_alerts; ties by ts_us go by id. */
			if (sqlite3_prepare_v2(
				    s->db,
				    "DELETE FROM alerts WHERE id IN (SELECT id "
				    "FROM alerts ORDER BY ts_us DESC, id DESC "
				    "LIMIT -1 OFFSET ?1)",
				    -1, &st, NULL) != SQLITE_OK) {
				store_report(s, STORE_E_RETENTION, NULL);
				return -1;
			}
			uint64_t keep = s->cfg.max_alerts;
			if (keep > INT64_MAX)
				keep = INT64_MAX;
			sqlite3_bind_int64(st, 1, (sqlite3_int64)keep);
			if (sqlite3_step(st) != SQLITE_DONE) {
				store_report(s, STORE_E_RETENTION, NULL);
				rc = -1;
			}
			sqlite3_finalize(st);
		}
	}
	return rc;
}

int store_flush(struct store *s, uint64_t now_us)
{
	if (!s || !s->db)
		return -1;
	int rc = store_commit(s);
	if (s->in_tx) /* still busy: retention waits for the batch */
		return rc;
	if (store_retention(s, now_us) < 0)
		rc = -1;
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->db) {
		if (s->in_tx)
			store_commit(s);
		if (s->in_tx)
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_finalize(s->ins);
		sqlite3_finalize(s->upd);
		sqlite3_close(s->db);
	}
	jw_deinit(&s->rec);
	free(s->path);
	free(s);
}

/* ---- the store sink ---- */

struct store_sink {
	struct store *s;
	bool live;
	uint64_t last_alert_us;
	struct out_sink_stats st;
};

static uint64_t wall_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int store_sink_open(const struct output_cfg *cfg, void **self,
			   unsigned *kinds, char *err, size_t errsz)
{
	if (!cfg->db_path || !cfg->db_path[0])
		return 1;
	struct store_sink *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errsz, "%s: out of memory", cfg->db_path);
		return -1;
	}
	struct store_cfg sc = cfg->store;
	if (!sc.file_mode)
		sc.file_mode = cfg->file_mode;
	k->s = store_open(cfg->db_path, &sc, err, errsz);
	if (!k->s) {
		free(k);
		return -1;
	}
	k->live = cfg->live;
	*self = k;
	*kinds = OUT_BIT(OUT_ALERT);
	return 0;
}

/* An alert with its EVE line; the store's clock is the wall clock live,
 * else the alert's own time (a re-read gives the same store). */
static int store_sink_emit(void *self, struct output *o,
			   const struct out_record *r)
{
	struct store_sink *k = self;
	size_t n;
	const char *eve = output_eve(o, &n);
	uint64_t now = k->live ? wall_now_us() : r->alert->ts_us;
	k->last_alert_us = r->alert->ts_us;
	if (store_put(k->s, r->alert, eve, n, now) != 0) {
		k->st.errors++;
		return -1;
	}
	k->st.records++;
	return 0;
}

/* Live: the clock tick commits the batch (now_us 0: capture idle, no tick). */
static int store_sink_flush(void *self, uint64_t now_us)
{
	struct store_sink *k = self;
	if (!now_us)
		return 0;
	return store_flush(k->s, now_us) == 0 ? 0 : -1;
}

static int store_sink_close(void *self, uint64_t now_us)
{
	struct store_sink *k = self;
	(void)now_us;
	int rc = store_flush(k->s, k->live ? wall_now_us() : k->last_alert_us);
	store_close(k->s);
	free(k);
	return rc == 0 ? 0 : -1;
}

static void store_sink_stats(void *self, struct out_sink_stats *st)
{
	*st = ((struct store_sink *)self)->st;
}

const struct out_sink_ops out_sink_store = {
	.name = "store",
	.open = store_sink_open,
	.emit = store_sink_emit,
	.flush = store_sink_flush,
	.close = store_sink_close,
	.stats = store_sink_stats,
};
