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
/* One attempt's wait on another process's lock: short live, because live
 * writes on the packet path; long enough offline for another writer's
 * transaction (an acknowledgement, a daemon's retention pass) to end. A
 * failed attempt is retried later. */
#define STORE_BUSY_MS 100
#define STORE_READ_BUSY_MS 5000
#define STORE_RETRY_US 1000000ull        /* between attempts after a failure */
#define STORE_CLOSE_PAUSE_US 200000u     /* between attempts when closing */
#define STORE_OPEN_BUSY_MS 5000          /* a lock while opening the store */

/* Kinds of error, each reported once per store. */
enum store_err {
	STORE_E_RETENTION,
	STORE_E_LOST,
};

/*
 * An alert waiting to be written: every column, owned, in one
 * allocation. Alerts wait here from store_put until a transaction that
 * holds them commits, so a locked or failing store loses nothing until
 * the queue's cap.
 */
struct store_item {
	struct store_item *next;
	bool update;
	bool has_addr;
	uint8_t prio;
	uint16_t src_port, dest_port;
	uint32_t sid, rev;
	uint64_t ts_us, total, flow_id;
	const char *uuid, *dt, *fv, *classification, *src, *src_ip, *dest_ip;
	const char *record, *eve;
	size_t uuid_len, record_len, eve_len;
	size_t bytes;
	char data[];
};

struct store {
	sqlite3 *db;
	char *path;
	struct store_cfg cfg;
	sqlite3_stmt *ins, *upd;
	struct jw rec;       /* the seed object of the alert being stored */
	struct timefmt tf;
	/* the queue, oldest first */
	struct store_item *head, *tail;
	uint32_t n_queued;
	size_t queued_bytes;
	uint64_t batch_start_us; /* now_us of the oldest queued put */
	/* failures: the first failure's time, the next attempt, why */
	uint64_t failing_since_mono, retry_mono;
	int fail_code;       /* SQLite primary code of the last failure; 0 */
	char fail_msg[160];
	/* what was lost (the queue full), for the final report */
	uint64_t lost, lost_first_us, lost_last_us;
	uint64_t stored;
	bool retention_ran;
	uint64_t retention_us; /* now_us of the last retention pass */
	uint32_t reported;     /* bit per enum store_err */
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void store_cfg_default(struct store_cfg *c)
{
	memset(c, 0, sizeof(*c)); /* file_mode 0: the outputs' mode; not live */
	c->retention_days = 90;
	c->max_alerts = 1000000;
	c->commit_ms = 200;
	c->queue_max = STORE_QUEUE_MAX_DEFAULT;
	c->queue_bytes = STORE_QUEUE_BYTES_DEFAULT;
	c->lock_wait_s = STORE_LOCK_WAIT_DEFAULT_S;
}

static void store_report(struct store *s, enum store_err kind, const char *msg)
{
	if (s->reported & (1u << kind))
		return;
	s->reported |= 1u << kind;
	fprintf(stderr, "mqttids: alert store %s: %s\n", s->path,
		msg ? msg : sqlite3_errmsg(s->db));
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

/*
 * PRAGMA quick_check: a damaged page fails here, at start, rather than
 * at the first alert. It reads the whole file once (about a second per
 * GB). 0, or -1 with its first complaint in why.
 */
static int store_integrity(sqlite3 *db, char *why, size_t whysz)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) !=
	    SQLITE_OK) {
		snprintf(why, whysz, "%s", sqlite3_errmsg(db));
		return -1;
	}
	int r = sqlite3_step(st);
	const unsigned char *t = r == SQLITE_ROW ? sqlite3_column_text(st, 0)
						 : NULL;
	if (t && !strcmp((const char *)t, "ok"))
		rc = 0;
	else
		snprintf(why, whysz, "%s", t ? (const char *)t
					     : sqlite3_errmsg(db));
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
	store_cfg_default(&s->cfg);
	if (cfg) {
		struct store_cfg d = s->cfg;
		s->cfg = *cfg;
		/* 0 (a caller's zeroed struct): the queue's defaults */
		if (!s->cfg.queue_max)
			s->cfg.queue_max = d.queue_max;
		if (!s->cfg.queue_bytes)
			s->cfg.queue_bytes = d.queue_bytes;
	}
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
	sqlite3_busy_timeout(s->db, STORE_OPEN_BUSY_MS);
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		snprintf(err, errsz, "%s: the alert store is read-only to this "
			 "process: no alert could be stored", path);
		goto fail;
	}
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
	if (store_integrity(s->db, why, sizeof(why)) < 0) {
		snprintf(err, errsz, "%s: the alert store is damaged (%s): "
			 "move it aside, or recover it with sqlite3's .recover",
			 path, why);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, s->cfg.live ? STORE_BUSY_MS : STORE_READ_BUSY_MS);
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

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* One statement; SQLITE_DONE or the SQLite error code. */
static int store_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int item_insert(struct store *s, const struct store_item *it)
{
	sqlite3_stmt *st = s->ins;
	sqlite3_bind_text(st, 1, it->uuid, (int)it->uuid_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)it->ts_us);
	sqlite3_bind_text(st, 3, it->dt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, it->fv, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)it->total);
	sqlite3_bind_int(st, 6, (int)it->prio);
	sqlite3_bind_text(st, 7, alert_priority_name(it->prio), -1,
			  SQLITE_STATIC);
	bind_text_or_null(st, 8, it->classification);
	bind_text_or_null(st, 9, it->src);
	sqlite3_bind_int64(st, 10, it->sid);
	sqlite3_bind_int64(st, 11, it->rev);
	if (it->has_addr) {
		sqlite3_bind_text(st, 12, it->src_ip, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 13, it->src_port);
		bind_text_or_null(st, 14, it->dest_ip);
		sqlite3_bind_int(st, 15, it->dest_port);
	}
	if (it->flow_id)
		sqlite3_bind_int64(st, 16, (sqlite3_int64)it->flow_id);
	sqlite3_bind_text(st, 17, it->record, (int)it->record_len,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 18, it->eve, (int)it->eve_len, SQLITE_STATIC);
	return store_step(st);
}

static int item_update(struct store *s, const struct store_item *it)
{
	sqlite3_stmt *st = s->upd;
	sqlite3_bind_text(st, 1, it->uuid, (int)it->uuid_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)it->total);
	sqlite3_bind_text(st, 3, it->record, (int)it->record_len,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 4, it->eve, (int)it->eve_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, it->dt, -1, SQLITE_STATIC);
	int rc = store_step(st);
	/*
	 * The alert it updates is not here (the store was created or pruned
	 * after it was raised): keep the update as the alert, so nothing
	 * raised is missing from the store.
	 */
	if (rc == SQLITE_DONE && sqlite3_changes(s->db) == 0)
		return item_insert(s, it);
	return rc;
}

static void queue_free(struct store *s)
{
	while (s->head) {
		struct store_item *next = s->head->next;
		free(s->head);
		s->head = next;
	}
	s->tail = NULL;
	s->n_queued = 0;
	s->queued_bytes = 0;
}

/* Whether code is another connection holding the database. */
static bool store_busy_code(int code)
{
	return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

/*
 * Writes the whole queue in one transaction. On success the queue is
 * empty; on failure (a lock held past the busy timeout, a read-only or
 * damaged file, a full disk) everything is rolled back and stays queued
 * for the next attempt, which waits STORE_RETRY_US. 0 or -1.
 */
static int store_drain(struct store *s)
{
	if (!s->head)
		return 0;
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	const struct store_item *it = s->head;
	for (; rc == SQLITE_OK && it; it = it->next) {
		int r = it->update ? item_update(s, it) : item_insert(s, it);
		if (r != SQLITE_DONE)
			rc = r;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		uint64_t n = s->n_queued;
		s->stored += n;
		queue_free(s);
		if (s->fail_code)
			fprintf(stderr, "mqttids: alert store %s: writing again "
				"after %.1f s (%llu waiting alerts stored)\n",
				s->path,
				(double)(mono_us() - s->failing_since_mono) / 1e6,
				(unsigned long long)n);
		s->fail_code = 0;
		return 0;
	}
	snprintf(s->fail_msg, sizeof(s->fail_msg), "%s", sqlite3_errmsg(s->db));
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	uint64_t now = mono_us();
	if (!s->fail_code) {
		s->failing_since_mono = now;
		fprintf(stderr, "mqttids: alert store %s: cannot write (%s); "
			"alerts wait in memory (at most %u) and are retried\n",
			s->path, s->fail_msg, s->cfg.queue_max);
	}
	s->fail_code = rc & 0xff;
	s->retry_mono = now + STORE_RETRY_US;
	return -1;
}

/* Whether the queue should be written now: a batch is full or old, or
 * (after a failure) the retry time came. */
/* After a failure, whether the retry time came; else true. */
static bool store_retry_due(const struct store *s)
{
	return !s->fail_code || mono_us() >= s->retry_mono;
}

static bool store_due(const struct store *s, uint64_t now_us)
{
	if (!s->head)
		return false;
	if (s->fail_code)
		return store_retry_due(s);
	if (s->n_queued >= STORE_BATCH_ROWS)
		return true;
	/* Time going backwards (a new capture file) does not hold a batch. */
	return now_us < s->batch_start_us ||
	       now_us - s->batch_start_us >= (uint64_t)s->cfg.commit_ms * 1000u;
}

/* The queued copy of alert a (its seed record is in s->rec); NULL: OOM. */
static struct store_item *item_new(struct store *s, const struct alert *a,
				   const char *eve, size_t eve_len)
{
	char dt[48], fv[48];
	size_t dn = timefmt_format_iso(&s->tf, a->ts_us, dt, sizeof(dt));
	size_t fn = timefmt_format_iso(&s->tf, a->first_us ? a->first_us
							    : a->ts_us,
				       fv, sizeof(fv));
	const char *strs[] = { a->uuid, dt, fv, a->classification, a->src,
			       a->src_ip, a->dest_ip, s->rec.buf, eve };
	size_t lens[] = { strnlen(a->uuid, 32), dn, fn,
			  a->classification ? strlen(a->classification) : 0,
			  a->src ? strlen(a->src) : 0,
			  a->src_ip ? strlen(a->src_ip) : 0,
			  a->dest_ip ? strlen(a->dest_ip) : 0, s->rec.len,
			  eve_len };
	enum { N_STRS = sizeof(lens) / sizeof(lens[0]) };
	size_t bytes = sizeof(struct store_item);
	for (unsigned i = 0; i < N_STRS; i++)
		bytes += lens[i] + 1;
	struct store_item *it = malloc(bytes);
	if (!it)
		return NULL;
	memset(it, 0, sizeof(*it));
	const char *out[N_STRS];
	char *p = it->data;
	for (unsigned i = 0; i < N_STRS; i++) {
		if (!strs[i]) {
			out[i] = NULL;
			continue;
		}
		memcpy(p, strs[i], lens[i]);
		p[lens[i]] = 0;
		out[i] = p;
		p += lens[i] + 1;
	}
	it->uuid = out[0];
	it->uuid_len = lens[0];
	it->dt = out[1];
	it->fv = out[2];
	it->classification = out[3];
	it->src = out[4];
	it->src_ip = out[5];
	it->dest_ip = out[6];
	it->record = out[7] ? out[7] : "";
	it->record_len = lens[7];
	it->eve = out[8] ? out[8] : "";
	it->eve_len = lens[8];
	it->update = a->update;
	it->has_addr = a->src_ip != NULL;
	it->prio = (uint8_t)(a->priority > 4 ? 4 : a->priority);
	it->src_port = a->src_port;
	it->dest_port = a->dest_port;
	it->sid = a->sid;
	it->rev = a->rev;
	it->ts_us = a->ts_us;
	it->total = a->total;
	it->flow_id = a->flow_id;
	it->bytes = bytes;
	return it;
}

/* Widens the time range of the alerts not stored to ts (first: the
 * range is empty so far). */
static void lost_range_add(struct store *s, uint64_t ts, bool first)
{
	if (first || ts < s->lost_first_us)
		s->lost_first_us = ts;
	if (first || ts > s->lost_last_us)
		s->lost_last_us = ts;
}

static void store_lose(struct store *s, const struct alert *a,
		       const char *why)
{
	lost_range_add(s, a->ts_us, s->lost == 0);
	s->lost++;
	store_report(s, STORE_E_LOST, why);
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
		store_lose(s, a, "out of memory formatting an alert: it is "
			   "lost");
		return -1;
	}
	struct store_item *it = item_new(s, a, eve ? eve : "", eve_len);
	if (!it || s->n_queued >= s->cfg.queue_max ||
	    s->queued_bytes + it->bytes > s->cfg.queue_bytes) {
		free(it);
		store_lose(s, a, it ? "the queue of alerts waiting for the "
			   "store is full: new alerts are lost" :
			   "out of memory queueing an alert: it is lost");
		return -1;
	}
	if (!s->head)
		s->batch_start_us = now_us;
	if (s->tail)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	s->n_queued++;
	s->queued_bytes += it->bytes;
	if (store_due(s, now_us))
		store_drain(s);
	return 0;
}

int store_tick(struct store *s, uint64_t now_us)
{
	if (!s || !s->db)
		return -1;
	if (store_due(s, now_us))
		store_drain(s);
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
	if (s->head && store_retry_due(s))
		store_drain(s);
	if (s->head) /* still failing: retention waits for the queue */
		return 0;
	return store_retention(s, now_us);
}

void store_counts(const struct store *s, uint64_t *stored, uint64_t *pending,
		  uint64_t *lost)
{
	*stored = s ? s->stored : 0;
	*pending = s ? s->n_queued : 0;
	*lost = s ? s->lost : 0;
}

/*
 * The last attempts: a lock may still be released (up to lock_wait_s);
 * a read-only, damaged or full store is tried once more. What is still
 * queued then, and what the full queue refused, is named.
 */
int store_close(struct store *s)
{
	if (!s)
		return 0;
	int rc = 0;
	if (s->db) {
		uint64_t end = mono_us() + (uint64_t)s->cfg.lock_wait_s * 1000000u;
		bool said = false;
		/* short attempts, so that lock_wait_s bounds the wait */
		sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
		while (s->head && store_drain(s) < 0 &&
		       store_busy_code(s->fail_code) && mono_us() < end) {
			if (!said)
				fprintf(stderr, "mqttids: alert store %s: "
					"waiting up to %u s for the lock to "
					"store %u alerts\n", s->path,
					s->cfg.lock_wait_s, s->n_queued);
			said = true;
			struct timespec ts = { 0, STORE_CLOSE_PAUSE_US * 1000l };
			nanosleep(&ts, NULL);
		}
		bool first = s->lost == 0;
		for (const struct store_item *it = s->head; it; it = it->next) {
			lost_range_add(s, it->ts_us, first);
			first = false;
		}
		uint64_t lost = s->lost + s->n_queued;
		if (lost) {
			char a[48], b[48], why[256];
			timefmt_format_iso(&s->tf, s->lost_first_us, a, sizeof(a));
			timefmt_format_iso(&s->tf, s->lost_last_us, b, sizeof(b));
			if (s->n_queued && s->lost)
				snprintf(why, sizeof(why), "%s; %llu refused earlier "
					 "(queue full or out of memory)", s->fail_msg,
					 (unsigned long long)s->lost);
			else
				snprintf(why, sizeof(why), "%s", s->n_queued ?
					 s->fail_msg : "refused when they were raised "
					 "(queue full or out of memory)");
			fprintf(stderr, "mqttids: alert store %s: %llu alert%s NOT "
				"stored, raised %s to %s (%llu stored): %s\n",
				s->path, (unsigned long long)lost,
				lost == 1 ? "" : "s", a, b,
				(unsigned long long)s->stored, why);
			rc = -1;
		}
		queue_free(s);
		sqlite3_finalize(s->ins);
		sqlite3_finalize(s->upd);
		sqlite3_close(s->db);
	}
	jw_deinit(&s->rec);
	free(s->path);
	free(s);
	return rc;
}

/* ---- the store sink ---- */

struct store_sink {
	struct store *s;
	bool live;
	uint64_t last_alert_us;
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
	/* Live: each alert is committed as it is raised, before the EVE
	 * line and the console see it, so a crash or kill -9 cannot leave
	 * EVE with an alert the store lacks. */
	if (cfg->live)
		sc.commit_ms = 0;
	sc.live = cfg->live;
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
	return store_put(k->s, r->alert, eve, n, now);
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
	if (store_close(k->s) != 0)
		rc = -1;
	free(k);
	return rc == 0 ? 0 : -1;
}

/* records: alerts committed; errors: alerts lost; pending: queued. */
static void store_sink_stats(void *self, struct out_sink_stats *st)
{
	struct store_sink *k = self;
	store_counts(k->s, &st->records, &st->pending, &st->errors);
}

const struct out_sink_ops out_sink_store = {
	.name = "store",
	.open = store_sink_open,
	.emit = store_sink_emit,
	.flush = store_sink_flush,
	.close = store_sink_close,
	.stats = store_sink_stats,
};
