/* alerts_cli.c - `mqttids alerts list|show|ack|unack`: the alert store from the command line (seed 004's alerts panel). */
#define _POSIX_C_SOURCE 200809L
#include "output/outputs.h"
#include "output/store_schema.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define ALERTS_BUSY_MS 5000
#define ALERTS_DEFAULT_LIMIT 50
#define ALERTS_MIN_PREFIX 6

enum alerts_cmd {
	ALERTS_LIST = 1,
	ALERTS_SHOW = 2,
	ALERTS_ACK = 4,
	ALERTS_UNACK = 8,
};

struct alerts_opts {
	enum alerts_cmd cmd;
	const char *db;
	bool unacked, json, eve, all;
	bool has_since;
	int64_t since_us;
	int min_priority;
	long long limit;
	const char *by;
	char **args; /* positional arguments (uuids or prefixes) */
	int nargs;
};

static const char alerts_usage[] =
	"usage: mqttids alerts list [--db FILE] [--unacked] [--since WHEN]\n"
	"                           [--min-priority N] [--limit N] [--json]\n"
	"       mqttids alerts show UUID|PREFIX [--db FILE] [--eve]\n"
	"       mqttids alerts ack UUID|PREFIX... | --all [--by NAME] [--db FILE]\n"
	"       mqttids alerts unack UUID|PREFIX... | --all [--db FILE]\n"
	"\n"
	"  --db FILE          alert store (default: $MQTTIDS_DB, else alerts.db)\n"
	"  --unacked          only alerts not acknowledged\n"
	"  --since WHEN       ISO time (2022-09-05, 2022-09-05T15:24:27+08:00;\n"
	"                     local time without an offset) or -Nm, -Nh, -Nd ago\n"
	"  --min-priority N   0..4 or Informational, Low, Medium, High, Critical\n"
	"  --limit N          at most N alerts, newest first (default 50; 0: all)\n"
	"  --json             one seed-004 alert object per line\n"
	"  --eve              the EVE line instead of the alert object\n"
	"  --all              every alert (not) acknowledged\n"
	"  --by NAME          who acknowledges (default: $USER, else \"cli\")\n"
	"\n"
	"A PREFIX is the start of a uuid, at least 6 hex digits, matching one\n"
	"alert. Exit status: 0 ok, 1 error, 2 usage.\n";

/* After a usage error's one line: where the full usage is. */
static const char alerts_try[] = "try 'mqttids alerts --help'\n";

static int64_t alerts_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly n digits at *p into *v. */
static bool take_digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

/*
 * Parses "-N{m,h,d}" (before now) or an ISO 8601 time: a date, optionally
 * "T" or " " and HH:MM[:SS[.frac]], optionally Z or ±HH[:]MM (without one,
 * local time). Returns false when s is neither.
 */
static bool parse_when(const char *s, int64_t now_us, int64_t *out)
{
	if (s[0] == '-') {
		char *end;
		errno = 0;
		long long n = strtoll(s + 1, &end, 10);
		int64_t unit;
		if (errno || end == s + 1 || n < 0 || end[0] == 0 || end[1])
			return false;
		if (*end == 'm')
			unit = 60;
		else if (*end == 'h')
			unit = 3600;
		else if (*end == 'd')
			unit = 86400;
		else
			return false;
		if (n > INT64_MAX / 1000000 / unit)
			return false;
		*out = now_us - n * unit * 1000000;
		return true;
	}
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, us = 0;
	if (!take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) ||
	    *p++ != '-' || !take_digits(&p, 2, &d))
		return false;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (!take_digits(&p, 2, &h) || *p++ != ':' ||
		    !take_digits(&p, 2, &mi))
			return false;
		if (*p == ':') {
			p++;
			if (!take_digits(&p, 2, &sec))
				return false;
			if (*p == '.') {
				int scale = 100000;
				p++;
				if (!isdigit((unsigned char)*p))
					return false;
				for (; isdigit((unsigned char)*p); p++) {
					us += (*p - '0') * scale;
					scale /= 10;
				}
			}
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return false;
	bool zone = false;
	int64_t off = 0;
	if (*p == 'Z') {
		zone = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!take_digits(&p, 2, &oh))
			return false;
		if (*p == ':')
			p++;
		if (!take_digits(&p, 2, &om) || oh > 23 || om > 59)
			return false;
		zone = true;
		off = sign * (oh * 3600 + om * 60);
	}
	if (*p)
		return false;
	int64_t t;
	if (zone) {
		t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
		    h * 3600 + mi * 60 + sec - off;
	} else {
		struct tm tm = {0};
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		time_t tt = mktime(&tm);
		if (tt == (time_t)-1)
			return false;
		t = (int64_t)tt;
	}
	*out = t * 1000000 + us;
	return true;
}

static const char *const prio_names_lc[] = {
	"informational", "low", "medium", "high", "critical",
};

static bool parse_priority(const char *s, int *out)
{
	if (s[0] >= '0' && s[0] <= '4' && !s[1]) {
		*out = s[0] - '0';
		return true;
	}
	size_t n = strlen(s);
	for (int i = 0; i < 5; i++) {
		/* Any prefix of the name: "info", "crit". */
		if (n && n <= strlen(prio_names_lc[i]) &&
		    !strncasecmp(s, prio_names_lc[i], n)) {
			*out = i;
			return true;
		}
	}
	return false;
}

/* Which subcommands take which option; value: the option takes an argument. */
static const struct {
	const char *name;
	unsigned cmds;
	bool value;
} alerts_options[] = {
	{"--db", ALERTS_LIST | ALERTS_SHOW | ALERTS_ACK | ALERTS_UNACK, true},
	{"--unacked", ALERTS_LIST, false},
	{"--since", ALERTS_LIST, true},
	{"--min-priority", ALERTS_LIST, true},
	{"--limit", ALERTS_LIST, true},
	{"--json", ALERTS_LIST, false},
	{"--eve", ALERTS_SHOW, false},
	{"--all", ALERTS_ACK | ALERTS_UNACK, false},
	{"--by", ALERTS_ACK, true},
};

/* Returns 0; -1 for --help; or 2 after printing a usage error. */
static int alerts_parse(int argc, char **argv, struct alerts_opts *o,
			FILE *err)
{
	const char *cmd = argv[1];
	memset(o, 0, sizeof(*o));
	o->limit = ALERTS_DEFAULT_LIMIT;
	if (!strcmp(cmd, "list"))
		o->cmd = ALERTS_LIST;
	else if (!strcmp(cmd, "show"))
		o->cmd = ALERTS_SHOW;
	else if (!strcmp(cmd, "ack"))
		o->cmd = ALERTS_ACK;
	else if (!strcmp(cmd, "unack"))
		o->cmd = ALERTS_UNACK;
	else {
		fprintf(err, "mqttids alerts: unknown command '%s'\n%s", cmd,
			alerts_try);
		return 2;
	}
	o->args = argv + 2;
	bool opts_done = false;
	for (int i = 2; i < argc; i++) {
		char *a = argv[i];
		if (opts_done || a[0] != '-' || !a[1]) {
			o->args[o->nargs++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			opts_done = true;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return -1;
		const char *eq = strchr(a, '=');
		size_t an = eq ? (size_t)(eq - a) : strlen(a);
		int k = -1;
		for (size_t j = 0;
		     j < sizeof(alerts_options) / sizeof(alerts_options[0]); j++)
			if (strlen(alerts_options[j].name) == an &&
			    !strncmp(a, alerts_options[j].name, an))
				k = (int)j;
		if (k < 0 || !(alerts_options[k].cmds & o->cmd)) {
			fprintf(err, "mqttids alerts %s: unknown option '%.*s'\n%s",
				cmd, (int)an, a, alerts_try);
			return 2;
		}
		const char *v = NULL;
		if (alerts_options[k].value) {
			if (eq)
				v = eq + 1;
			else if (i + 1 < argc)
				v = argv[++i];
			else {
				fprintf(err, "mqttids alerts %s: %s needs a value\n",
					cmd, a);
				return 2;
			}
		} else if (eq) {
			fprintf(err, "mqttids alerts %s: %.*s takes no value\n",
				cmd, (int)an, a);
			return 2;
		}
		const char *name = alerts_options[k].name;
		if (!strcmp(name, "--db")) {
			o->db = v;
		} else if (!strcmp(name, "--unacked")) {
			o->unacked = true;
		} else if (!strcmp(name, "--json")) {
			o->json = true;
		} else if (!strcmp(name, "--eve")) {
			o->eve = true;
		} else if (!strcmp(name, "--all")) {
			o->all = true;
		} else if (!strcmp(name, "--by")) {
			o->by = v;
		} else if (!strcmp(name, "--since")) {
			if (!parse_when(v, alerts_now_us(), &o->since_us)) {
				fprintf(err, "mqttids alerts: --since: cannot "
					"read '%s' (ISO 8601 time, or -Nm, -Nh, "
					"-Nd)\n", v);
				return 2;
			}
			o->has_since = true;
		} else if (!strcmp(name, "--min-priority")) {
			if (!parse_priority(v, &o->min_priority)) {
				fprintf(err, "mqttids alerts: --min-priority: "
					"'%s' is not 0..4 or a priority name\n",
					v);
				return 2;
			}
		} else if (!strcmp(name, "--limit")) {
			char *end;
			errno = 0;
			o->limit = strtoll(v, &end, 10);
			if (errno || end == v || *end || o->limit < 0) {
				fprintf(err, "mqttids alerts: --limit: '%s' is "
					"not a count\n", v);
				return 2;
			}
		}
	}
	if (o->cmd == ALERTS_LIST && o->nargs) {
		fprintf(err, "mqttids alerts list: unexpected '%s'\n%s",
			o->args[0], alerts_try);
		return 2;
	}
	if (o->cmd == ALERTS_SHOW && o->nargs != 1) {
		fprintf(err, "mqttids alerts show: one uuid or prefix\n%s",
			alerts_try);
		return 2;
	}
	if ((o->cmd == ALERTS_ACK || o->cmd == ALERTS_UNACK) &&
	    (o->all ? o->nargs != 0 : o->nargs == 0)) {
		fprintf(err, "mqttids alerts %s: uuids or --all (not both)\n%s",
			cmd, alerts_try);
		return 2;
	}
	if (!o->db)
		o->db = getenv("MQTTIDS_DB");
	if (!o->db || !o->db[0])
		o->db = "alerts.db";
	return 0;
}

/*
 * Opens an existing store (never creates one) and checks its schema.
 * Returns NULL after printing why.
 */
static sqlite3 *alerts_open(const char *path, bool write, FILE *err)
{
	struct stat st;
	sqlite3 *db = NULL;
	char why[256];
	if (stat(path, &st) < 0) {
		fprintf(err, "mqttids alerts: %s: %s (no alert store there)\n",
			path, strerror(errno));
		return NULL;
	}
	int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		fprintf(err, "mqttids alerts: %s: %s\n", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, ALERTS_BUSY_MS);
	if (store_schema_check(db, false, why, sizeof(why)) < 0) {
		fprintf(err, "mqttids alerts: %s: %s\n", path, why);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

/*
 * "2022-08-31T17:31:15.639841+08:00" as the seed panel shows it:
 * "31 Aug 2022 17:31:15 (+08:00)". Anything else is shown escaped.
 */
static void panel_time(const char *iso, char *out, size_t outsz)
{
	static const char *const mon[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	const char *p = iso;
	int y, m, d, hh, mm, ss, frac;
	if (take_digits(&p, 4, &y) && *p++ == '-' && take_digits(&p, 2, &m) &&
	    *p++ == '-' && take_digits(&p, 2, &d) && *p++ == 'T' &&
	    take_digits(&p, 2, &hh) && *p++ == ':' && take_digits(&p, 2, &mm) &&
	    *p++ == ':' && take_digits(&p, 2, &ss) && m >= 1 && m <= 12) {
		if (*p == '.') {
			p++;
			while (take_digits(&p, 1, &frac))
				;
		}
		if (strlen(p) <= 6) {
			snprintf(out, outsz, "%02d %s %04d %02d:%02d:%02d (%s)",
				 d, mon[m - 1], y, hh, mm, ss, p);
			return;
		}
	}
	console_escape(out, outsz, iso, strlen(iso), 32);
}

static int alerts_list(sqlite3 *db, const struct alerts_opts *o, FILE *out,
		       FILE *err)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	int rc = 1;
	snprintf(sql, sizeof(sql),
		 "SELECT datetime, priority_name, classification, src, "
		 "total_violation, acknowledged, uuid, record FROM alerts "
		 "WHERE 1 %s %s %s ORDER BY ts_us DESC, id DESC LIMIT :limit",
		 o->unacked ? "AND acknowledged = 0" : "",
		 o->has_since ? "AND ts_us >= :since" : "",
		 o->min_priority ? "AND priority >= :prio" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"),
			   o->limit ? o->limit : -1);
	if (o->has_since)
		sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":since"),
				   o->since_us);
	if (o->min_priority)
		sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":prio"),
				 o->min_priority);
	int r, rows = 0;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (o->json) {
			fprintf(out, "%s\n", col_text(st, 7));
			rows++;
			continue;
		}
		char when[64], prio[24], cls[192], src[128], uuid[160];
		if (!rows++)
			fprintf(out, "%-29s  %-13s  %-40s  %-20s  %6s  %-3s  %s\n",
				"Date/Time", "Priority", "Classification",
				"Source", "Total", "Ack", "UUID");
		panel_time(col_text(st, 0), when, sizeof(when));
		const char *t = col_text(st, 1);
		console_escape(prio, sizeof(prio), t, strlen(t), 13);
		t = col_text(st, 2);
		console_escape(cls, sizeof(cls), t, strlen(t), 37);
		t = col_text(st, 3);
		console_escape(src, sizeof(src), t, strlen(t), 20);
		t = col_text(st, 6);
		console_escape(uuid, sizeof(uuid), t, strlen(t), 32);
		fprintf(out, "%-29s  %-13s  %-40s  %-20s  %6lld  %-3s  %s\n",
			when, prio, cls, src,
			(long long)sqlite3_column_int64(st, 4),
			sqlite3_column_int(st, 5) ? "yes" : "no", uuid);
	}
	if (r != SQLITE_DONE)
		goto sqlerr;
	if (!rows && !o->json)
		fprintf(out, "no alerts\n");
	rc = 0;
	goto out;
sqlerr:
	fprintf(err, "mqttids alerts: %s: %s\n", o->db, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Finds the one alert whose uuid is arg or starts with it (at least
 * ALERTS_MIN_PREFIX hex digits). Returns 0 with the uuid in out, or 1
 * after printing why not.
 */
static int alerts_resolve(sqlite3 *db, const char *arg, char out[33],
			  FILE *err)
{
	char pat[40];
	size_t n = strlen(arg);
	sqlite3_stmt *st = NULL;
	int rc = 1;
	bool hex = n >= ALERTS_MIN_PREFIX && n <= 32;
	for (size_t i = 0; hex && i < n; i++)
		hex = isxdigit((unsigned char)arg[i]) != 0;
	if (!hex) {
		char shown[80];
		console_escape(shown, sizeof(shown), arg, n, 40);
		fprintf(err, "mqttids alerts: '%s' is not a uuid or a prefix of "
			"one (%d to 32 hex digits)\n", shown, ALERTS_MIN_PREFIX);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		pat[i] = (char)tolower((unsigned char)arg[i]);
	pat[n] = '*';
	pat[n + 1] = 0;
	/* The pattern is hex digits and a trailing '*': GLOB uses the index. */
	if (sqlite3_prepare_v2(db,
			       "SELECT uuid FROM alerts WHERE uuid GLOB ?1 "
			       "ORDER BY uuid LIMIT 2",
			       -1, &st, NULL) != SQLITE_OK) {
		fprintf(err, "mqttids alerts: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	sqlite3_bind_text(st, 1, pat, -1, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		snprintf(out, 33, "%s", col_text(st, 0));
		r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			fprintf(err, "mqttids alerts: prefix %.*s matches more "
				"than one alert\n", (int)n, pat);
		else if (r == SQLITE_DONE)
			rc = 0;
	} else if (r == SQLITE_DONE) {
		fprintf(err, "mqttids alerts: no alert %.*s\n", (int)n, pat);
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		fprintf(err, "mqttids alerts: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static int alerts_show(sqlite3 *db, const struct alerts_opts *o, FILE *out,
		       FILE *err)
{
	char uuid[33];
	sqlite3_stmt *st = NULL;
	int rc = 1;
	if (alerts_resolve(db, o->args[0], uuid, err))
		return 1;
	if (sqlite3_prepare_v2(db, "SELECT record, eve FROM alerts WHERE uuid "
			       "= ?1", -1, &st, NULL) != SQLITE_OK ||
	    (sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC),
	     sqlite3_step(st)) != SQLITE_ROW) {
		fprintf(err, "mqttids alerts: %s: %s\n", o->db,
			sqlite3_errmsg(db));
		goto out;
	}
	const char *text = col_text(st, o->eve ? 1 : 0);
	if (!text[0]) {
		fprintf(err, "mqttids alerts: alert %s has no %s\n", uuid,
			o->eve ? "EVE line" : "record");
		goto out;
	}
	if (o->eve) {
		fprintf(out, "%s\n", text);
		rc = 0;
		goto out;
	}
	/* The seed's "Raw Details": the object pretty-printed. */
	cJSON *j = cJSON_Parse(text);
	char *pretty = j ? cJSON_Print(j) : NULL;
	fprintf(out, "%s\n", pretty ? pretty : text);
	free(pretty);
	cJSON_Delete(j);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int alerts_ack(sqlite3 *db, const struct alerts_opts *o, FILE *out,
		      FILE *err)
{
	bool ack = o->cmd == ALERTS_ACK;
	sqlite3_stmt *st = NULL;
	long long changed = 0;
	int rc = 1;
	char now[48];
	struct timefmt tf;
	const char *by = o->by;
	if (!by || !by[0])
		by = getenv("USER");
	if (!by || !by[0])
		by = "cli";
	timefmt_init(&tf);
	size_t nn = timefmt_format_iso(&tf, (uint64_t)alerts_now_us(), now,
				       sizeof(now));

	const char *sql;
	if (ack)
		sql = o->all ? "UPDATE alerts SET acknowledged = 1, ack_ts = ?2, "
			       "ack_by = ?3 WHERE acknowledged = 0"
			     : "UPDATE alerts SET acknowledged = 1, ack_ts = ?2, "
			       "ack_by = ?3 WHERE uuid = ?1 AND acknowledged = 0";
	else
		sql = o->all ? "UPDATE alerts SET acknowledged = 0, ack_ts = "
			       "NULL, ack_by = NULL WHERE acknowledged <> 0"
			     : "UPDATE alerts SET acknowledged = 0, ack_ts = "
			       "NULL, ack_by = NULL WHERE uuid = ?1 AND "
			       "acknowledged <> 0";
	/* All or nothing: one unknown uuid leaves every alert as it was. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	int n = o->all ? 1 : o->nargs;
	for (int i = 0; i < n; i++) {
		char uuid[33];
		if (!o->all) {
			if (alerts_resolve(db, o->args[i], uuid, err))
				goto out;
			sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
		}
		if (ack) {
			sqlite3_bind_text(st, 2, now, (int)nn, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			goto sqlerr;
		changed += sqlite3_changes(db);
		sqlite3_reset(st);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlerr;
	fprintf(out, "%s %lld alert%s\n", ack ? "acknowledged" : "unacknowledged",
		changed, changed == 1 ? "" : "s");
	rc = 0;
	goto out;
sqlerr:
	fprintf(err, "mqttids alerts: %s: %s\n", o->db, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	if (rc)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int alerts_run(int argc, char **argv, FILE *out, FILE *err)
{
	struct alerts_opts o;
	if (argc < 2) {
		fputs(alerts_usage, err);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(alerts_usage, out);
		return 0;
	}
	int rc = alerts_parse(argc, argv, &o, err);
	if (rc < 0) {
		fputs(alerts_usage, out);
		return 0;
	}
	if (rc)
		return rc;
	sqlite3 *db = alerts_open(o.db, o.cmd & (ALERTS_ACK | ALERTS_UNACK),
				  err);
	if (!db)
		return 1;
	switch (o.cmd) {
	case ALERTS_LIST:
		rc = alerts_list(db, &o, out, err);
		break;
	case ALERTS_SHOW:
		rc = alerts_show(db, &o, out, err);
		break;
	default:
		rc = alerts_ack(db, &o, out, err);
		break;
	}
	sqlite3_close(db);
	return rc;
}

int alerts_main(int argc, char **argv)
{
	return alerts_run(argc, argv, stdout, stderr);
}
