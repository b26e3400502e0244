/* test_sensor_authz.c - unit tests for the Mosquitto acl_file parser and checker (sensor/sensor_acl.c) and the topic authorisation detector (sensor/sensor_authz.c). */
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkstemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"
#include "net/flow_table.h"
#include "sensor/sensor.h"
#include "sensor/sensor_acl.h"

/*
 * The testbed's ACL and its reference check. The unit tests link only
 * mqttids_core, so the testbed's small broker model is compiled in here.
 */
#include "../../tools/common/tb_broker.c"

/* ---- helpers ---- */

struct msgs {
	char *buf;
	size_t len;
	FILE *f;
};

static void msgs_open(struct msgs *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	assert_non_null(m->f);
}

static char *msgs_close(struct msgs *m)
{
	fclose(m->f);
	return m->buf;
}

static struct sacl *parse(const char *text, unsigned *errs, char **log)
{
	struct msgs m;
	msgs_open(&m);
	struct sacl *a = sacl_parse("t.acl", text, strlen(text), m.f, errs);
	char *l = msgs_close(&m);
	if (log)
		*log = l;
	else
		free(l);
	assert_non_null(a);
	return a;
}

/* The verdict for one check, as "allow:LINE", "deny:LINE" or "deny:0". */
static bool chk(struct sacl *a, const char *user, const char *cid, enum sacl_access acc,
		const char *t, uint32_t *line)
{
	struct sacl_verdict v;
	bool ok = sacl_check(a, user, cid, acc, t, strlen(t), &v);
	assert_int_equal(ok, v.allowed);
	if (line)
		*line = v.line;
	return ok;
}

/* ---- parser ---- */

static void test_parse_keywords(void **state)
{
	(void)state;
	const char *text =
		"# anonymous section\n"
		"topic read $SYS/broker/#\n"
		"topic public/#\n"                       /* readwrite by default */
		"\n"
		"user alice\n"
		"topic write alice/out\n"
		"topic readwrite alice/io/#\n"
		"topic deny alice/io/secret\n"
		"user bob smith\n"                       /* names may hold spaces */
		"topic read bob/#\n"
		"pattern write devices/%c/state\n"
		"pattern read users/%u/#\n";
	unsigned errs = 99;
	char *log;
	struct sacl *a = parse(text, &errs, &log);
	assert_int_equal(errs, 0);
	assert_string_equal(log, "");
	assert_int_equal(sacl_count(a), 8);
	assert_string_equal(sacl_name(a), "t.acl");
	assert_true(sacl_has_user(a, NULL));
	assert_true(sacl_has_user(a, "alice"));
	assert_true(sacl_has_user(a, "bob smith"));
	assert_false(sacl_has_user(a, "bob"));
	uint32_t line;
	/* anonymous lines apply to clients without a username only */
	assert_true(chk(a, NULL, "x", SACL_READ, "$SYS/broker/uptime", &line));
	assert_int_equal(line, 2);
	assert_false(chk(a, NULL, "x", SACL_WRITE, "$SYS/broker/uptime", NULL));
	assert_true(chk(a, NULL, "x", SACL_WRITE, "public/a", &line));
	assert_int_equal(line, 3);
	assert_false(chk(a, "alice", "x", SACL_READ, "public/a", NULL));
	/* user lines */
	assert_true(chk(a, "alice", "x", SACL_WRITE, "alice/out", &line));
	assert_int_equal(line, 6);
	assert_false(chk(a, "alice", "x", SACL_READ, "alice/out", &line));
	assert_int_equal(line, 0);
	assert_true(chk(a, "alice", "x", SACL_READ, "alice/io/a/b", &line));
	assert_int_equal(line, 7);
	assert_true(chk(a, "bob smith", "x", SACL_READ, "bob/1", NULL));
	assert_false(chk(a, "bob", "x", SACL_READ, "bob/1", NULL));
	/* deny wins over the broader grant of the same user, wherever it is */
	assert_false(chk(a, "alice", "x", SACL_READ, "alice/io/secret", &line));
	assert_int_equal(line, 8);
	assert_false(chk(a, "alice", "x", SACL_WRITE, "alice/io/secret", NULL));
	/* patterns apply to everyone, %u only with a username */
	assert_true(chk(a, "alice", "dev1", SACL_WRITE, "devices/dev1/state", &line));
	assert_int_equal(line, 11);
	assert_true(chk(a, NULL, "dev1", SACL_WRITE, "devices/dev1/state", NULL));
	assert_false(chk(a, NULL, "dev1", SACL_WRITE, "devices/dev2/state", NULL));
	assert_true(chk(a, "carol", "c", SACL_READ, "users/carol/inbox", &line));
	assert_int_equal(line, 12);
	assert_false(chk(a, NULL, "c", SACL_READ, "users/%u/inbox", NULL));
	assert_false(chk(a, "carol", "c", SACL_READ, "users/dave/inbox", NULL));
	sacl_free(a);
	free(log);
}

static void test_parse_whitespace_crlf(void **state)
{
	(void)state;
	const char *text =
		"   # indented comment\r\n"
		"user   alice  \r\n"
		"\ttopic \t read   alice/a b   \r\n"     /* topic keeps its inner space */
		"topic\twrite\talice/w\r\n"
		"   \r\n"
		"topic alice/rw"; /* no final newline */
	unsigned errs = 99;
	char *log;
	struct sacl *a = parse(text, &errs, &log);
	assert_int_equal(errs, 0);
	assert_string_equal(log, "");
	assert_int_equal(sacl_count(a), 3);
	uint32_t line;
	assert_true(chk(a, "alice", "c", SACL_READ, "alice/a b", &line));
	assert_int_equal(line, 3);
	assert_true(chk(a, "alice", "c", SACL_WRITE, "alice/w", &line));
	assert_int_equal(line, 4);
	assert_true(chk(a, "alice", "c", SACL_WRITE, "alice/rw", &line));
	assert_int_equal(line, 6);
	assert_true(chk(a, "alice", "c", SACL_READ, "alice/rw", NULL));
	sacl_free(a);
	free(log);
}

static void test_parse_bad_lines(void **state)
{
	(void)state;
	char longline[SACL_LINE_MAX + 32];
	memcpy(longline, "topic read ", 11);
	memset(longline + 11, 'x', sizeof(longline) - 12);
	longline[sizeof(longline) - 1] = 0;
	char *text = NULL;
	size_t tl = 0;
	FILE *f = open_memstream(&text, &tl);
	fprintf(f, "topic read ok/1\n"                 /* 1 */
		   "topik read x\n"                    /* 2 unknown keyword */
		   "topic reed x/y\n"                  /* 3 bad access word */
		   "topic read a/#/b\n"                /* 4 invalid filter */
		   "topic read a+\n"                   /* 5 invalid filter */
		   "user\n"                            /* 6 user without name */
		   "topic read lost/#\n"               /* 7 skipped: bad user */
		   "pattern read p/%%c\n"              /* 8 patterns are not per user */
		   "user bob\n"                        /* 9 */
		   "topic read bob/#\n"                /* 10 */
		   "%s\n"                              /* 11 too long */
		   "topic\n"                           /* 12 no topic */
		   "pattern write all/everyone\n"      /* 13 warning only */
		   "topic read \xff\xfe/\x01\n",       /* 14 odd bytes: kept */
		longline);
	fputc('\n', f);
	fputs("topic read nul", f);
	fputc(0, f);
	fputs("x\n", f);                             /* 16 NUL */
	fclose(f);
	struct msgs m;
	msgs_open(&m);
	unsigned errs = 0;
	struct sacl *a = sacl_parse("etc/acl", text, tl, m.f, &errs);
	char *log = msgs_close(&m);
	assert_non_null(a);
	assert_int_equal(errs, 9);
	assert_non_null(strstr(log, "etc/acl:2: error: unknown keyword 'topik'"));
	assert_non_null(strstr(log, "etc/acl:3: error: unknown access 'reed'"));
	assert_non_null(strstr(log, "etc/acl:4: error: invalid topic filter 'a/#/b'"));
	assert_non_null(strstr(log, "etc/acl:5: error: invalid topic filter 'a+'"));
	assert_non_null(strstr(log, "etc/acl:6: error: user without a name"));
	assert_non_null(strstr(log, "etc/acl:7: error: topic line of a bad user line"));
	assert_non_null(strstr(log, "etc/acl:11: error: line longer than 4096 bytes"));
	assert_non_null(strstr(log, "etc/acl:12: error: topic without a topic"));
	assert_non_null(strstr(log, "etc/acl:13: warning: pattern without %c or %u"));
	assert_non_null(strstr(log, "etc/acl:16: error: NUL byte"));
	/* every message line is printable */
	for (const char *p = log; *p; p++)
		assert_true(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f));
	/* kept: 1, 8, 10, 13, 14 */
	assert_int_equal(sacl_count(a), 5);
	assert_true(chk(a, NULL, "c", SACL_READ, "ok/1", NULL));
	assert_false(chk(a, NULL, "c", SACL_READ, "x/y", NULL));
	assert_false(chk(a, NULL, "c", SACL_READ, "lost/1", NULL));
	assert_true(chk(a, "bob", "c", SACL_READ, "bob/1", NULL));
	assert_true(chk(a, "bob", "c9", SACL_READ, "p/c9", NULL));
	assert_true(chk(a, "bob", "c", SACL_READ, "\xff\xfe/\x01", NULL)); /* line 14 is bob's */
	sacl_free(a);
	free(log);
	free(text);
}

static void test_parse_limits_and_garbage(void **state)
{
	(void)state;
	/* more lines than SACL_MAX_ENTRIES: the rest is reported once and skipped */
	size_t n = SACL_MAX_ENTRIES + 10;
	char *text = malloc(n * 12 + 1);
	assert_non_null(text);
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(text + o, "topic t/%zu\n", i % 100);
	struct msgs m;
	msgs_open(&m);
	unsigned errs = 0;
	struct sacl *a = sacl_parse("big", text, o, m.f, &errs);
	char *log = msgs_close(&m);
	assert_non_null(a);
	assert_int_equal(sacl_count(a), SACL_MAX_ENTRIES);
	assert_int_equal(errs, 1);
	assert_non_null(strstr(log, "big:65537: error: more than 65536"));
	assert_true(chk(a, NULL, "c", SACL_WRITE, "t/42", NULL));
	sacl_free(a);
	free(log);
	free(text);

	/* random bytes: messages are bounded, nothing crashes */
	unsigned char junk[20000];
	unsigned s = 12345;
	for (size_t i = 0; i < sizeof(junk); i++) {
		s = s * 1103515245u + 12345u;
		junk[i] = (unsigned char)(s >> 16);
		if (junk[i] % 17 == 0)
			junk[i] = '\n';
	}
	msgs_open(&m);
	a = sacl_parse("junk", (const char *)junk, sizeof(junk), m.f, &errs);
	log = msgs_close(&m);
	assert_non_null(a);
	assert_true(errs > 100);
	assert_non_null(strstr(log, "more messages not shown"));
	sacl_free(a);
	free(log);

	/* empty input: nothing granted */
	a = parse("", &errs, NULL);
	assert_int_equal(sacl_count(a), 0);
	assert_false(chk(a, NULL, "c", SACL_READ, "a", NULL));
	assert_false(chk(a, NULL, "c", SACL_SUBSCRIBE, "a", NULL));
	sacl_free(a);

	/* a missing file */
	msgs_open(&m);
	a = sacl_load("/nonexistent/acl", m.f, &errs);
	log = msgs_close(&m);
	assert_null(a);
	assert_non_null(strstr(log, "/nonexistent/acl: cannot open"));
	free(log);
}

/* ---- checker ---- */

static void test_check_precedence(void **state)
{
	(void)state;
	const char *text =
		"user u\n"
		"topic read a/#\n"          /* 2 */
		"topic deny a/secret\n"     /* 3: deny after the grant still wins */
		"topic read b/#\n"          /* 4 */
		"pattern deny b/%c/#\n"     /* 5: does not override a user grant */
		"pattern read c/#\n"        /* 6 */
		"pattern deny c/%u\n"       /* 7: overrides the pattern grant */
		"pattern readwrite d/%c\n"; /* 8 */
	struct sacl *a = parse(text, NULL, NULL);
	uint32_t line;
	assert_false(chk(a, "u", "k", SACL_READ, "a/secret", &line));
	assert_int_equal(line, 3);
	assert_true(chk(a, "u", "k", SACL_READ, "a/other", &line));
	assert_int_equal(line, 2);
	assert_true(chk(a, "u", "k", SACL_READ, "b/k/x", &line));
	assert_int_equal(line, 4);
	assert_true(chk(a, "v", "k", SACL_READ, "c/x", &line));
	assert_int_equal(line, 6);
	assert_false(chk(a, "v", "k", SACL_READ, "c/v", &line));
	assert_int_equal(line, 7);
	/* mosquitto refuses patterns to ids holding wildcards */
	struct sacl_verdict v;
	assert_false(sacl_check(a, "v", "k+", SACL_WRITE, "d/k+", 4, &v));
	assert_int_equal(v.why, SACL_WHY_DANGEROUS_ID);
	assert_false(sacl_check(a, "v#", "k", SACL_WRITE, "d/k", 3, &v));
	assert_int_equal(v.why, SACL_WHY_DANGEROUS_ID);
	/* ... but user lines still apply */
	assert_true(sacl_check(a, "u", "k#", SACL_READ, "a/x", 3, &v));
	/* a client id with '/' spans levels, as in mosquitto */
	assert_true(chk(a, "v", "k/l", SACL_WRITE, "d/k/l", NULL));
	/* "$" topics are not matched by leading wildcards */
	struct sacl *b = parse("topic read #\ntopic read +/x\n", NULL, NULL);
	assert_false(chk(b, NULL, "c", SACL_READ, "$SYS/x", NULL));
	assert_true(chk(b, NULL, "c", SACL_READ, "any/x", NULL));
	assert_true(chk(b, NULL, "c", SACL_READ, "any", NULL));
	sacl_free(b);
	/* a too long client id cannot be put into a pattern: fail closed */
	char cid[SACL_SUBST_MAX + 2];
	memset(cid, 'z', sizeof(cid) - 1);
	cid[sizeof(cid) - 1] = 0;
	assert_false(sacl_check(a, "v", cid, SACL_READ, "c/x", 3, &v));
	assert_int_equal(v.why, SACL_WHY_TOO_LONG);
	sacl_free(a);
}

static void test_check_subscribe_coverage(void **state)
{
	(void)state;
	const char *text =
		"user dash\n"
		"topic read sensors/#\n"
		"topic read $SYS/#\n"
		"user part\n"
		"topic read a\n"
		"topic read a/+/#\n"
		"topic read x/+/y\n"
		"topic read x/lit/z\n"
		"user den\n"
		"topic read s/#\n"
		"topic deny s/private/#\n"
		"user w\n"
		"topic write sensors/#\n"
		"pattern read p/#\n"
		"pattern deny p/%c/#\n";
	struct sacl *a = parse(text, NULL, NULL);
	uint32_t line;
	assert_true(chk(a, "dash", "c", SACL_SUBSCRIBE, "sensors/+/x", NULL));
	assert_true(chk(a, "dash", "c", SACL_SUBSCRIBE, "sensors/#", NULL));
	assert_true(chk(a, "dash", "c", SACL_SUBSCRIBE, "sensors", NULL));
	assert_true(chk(a, "dash", "c", SACL_SUBSCRIBE, "sensors/a/b/c", NULL));
	assert_false(chk(a, "dash", "c", SACL_SUBSCRIBE, "#", NULL));
	assert_false(chk(a, "dash", "c", SACL_SUBSCRIBE, "+/x", NULL));
	assert_false(chk(a, "dash", "c", SACL_SUBSCRIBE, "other", NULL));
	assert_true(chk(a, "dash", "c", SACL_SUBSCRIBE, "$SYS/#", NULL));
	assert_true(chk(a, "dash", "c", SACL_SUBSCRIBE, "$SYS/broker/+", NULL));
	assert_true(chk(a, "dash", "c", SACL_SUBSCRIBE, "$share/g/sensors/+", NULL));
	assert_false(chk(a, "dash", "c", SACL_SUBSCRIBE, "$share/g/#", NULL));
	/* a union of grants: "a" and "a/+/#" cover "a/#" together */
	assert_true(chk(a, "part", "c", SACL_SUBSCRIBE, "a/#", NULL));
	assert_true(chk(a, "part", "c", SACL_SUBSCRIBE, "a/+", NULL));
	assert_false(chk(a, "part", "c", SACL_SUBSCRIBE, "+/#", NULL));
	assert_true(chk(a, "part", "c", SACL_SUBSCRIBE, "x/+/y", NULL));
	assert_false(chk(a, "part", "c", SACL_SUBSCRIBE, "x/+/z", NULL)); /* only x/lit/z */
	assert_true(chk(a, "part", "c", SACL_SUBSCRIBE, "x/lit/z", NULL));
	assert_false(chk(a, "part", "c", SACL_SUBSCRIBE, "x/+/#", NULL));
	/* a subscription meeting a deny line of the user is refused */
	assert_true(chk(a, "den", "c", SACL_SUBSCRIBE, "s/public/#", NULL));
	assert_false(chk(a, "den", "c", SACL_SUBSCRIBE, "s/#", &line));
	assert_int_equal(line, 11);
	assert_false(chk(a, "den", "c", SACL_SUBSCRIBE, "s/+/x", &line));
	assert_int_equal(line, 11);
	/* write grants do not cover subscriptions */
	assert_false(chk(a, "w", "c", SACL_SUBSCRIBE, "sensors/#", NULL));
	/* pattern deny: p/# minus p/<client id>/# */
	assert_true(chk(a, "w", "me", SACL_SUBSCRIBE, "p/other/#", NULL));
	assert_false(chk(a, "w", "me", SACL_SUBSCRIBE, "p/#", &line));
	assert_int_equal(line, 15);
	assert_false(chk(a, "w", "me", SACL_SUBSCRIBE, "p/+/x", NULL));
	assert_true(chk(a, "w", "me", SACL_SUBSCRIBE, "p", NULL));
	/* invalid filters are never covered */
	assert_false(chk(a, "dash", "c", SACL_SUBSCRIBE, "sensors/#/x", NULL));
	assert_false(chk(a, "dash", "c", SACL_SUBSCRIBE, "", NULL));
	sacl_free(a);

	/* the user part covers what a pattern deny takes away */
	a = parse("user u\ntopic read q/me/#\npattern read q/#\npattern deny q/%c/#\n", NULL, NULL);
	assert_true(chk(a, "u", "me", SACL_SUBSCRIBE, "q/#", NULL));
	assert_false(chk(a, "v", "me", SACL_SUBSCRIBE, "q/#", NULL));
	sacl_free(a);
}

static void test_filter_covered_direct(void **state)
{
	(void)state;
	size_t pos[8];
	const char *g1[] = { "+", "+/#" };
	size_t l1[] = { 1, 3 };
	assert_true(sacl_filter_covered("#", 1, g1, l1, 2, pos));
	assert_false(sacl_filter_covered("$SYS/x", 6, g1, l1, 2, pos));
	const char *g2[] = { "#" };
	size_t l2[] = { 1 };
	assert_true(sacl_filter_covered("a/b/#", 5, g2, l2, 1, pos));
	assert_false(sacl_filter_covered("$SYS/#", 6, g2, l2, 1, pos));
	const char *g3[] = { "a/b", "a/+/c" };
	size_t l3[] = { 3, 5 };
	assert_false(sacl_filter_covered("a/#", 3, g3, l3, 2, pos));
	assert_false(sacl_filter_covered("a/+", 3, g3, l3, 2, pos));
	assert_true(sacl_filter_covered("a/q/c", 5, g3, l3, 2, pos));
	assert_false(sacl_filter_covered("a", 1, g3, l3, 2, pos));
	const char *g4[] = { "a/", NULL, "bad/#/x" };
	size_t l4[] = { 2, 0, 7 };
	assert_true(sacl_filter_covered("a/", 2, g4, l4, 3, pos));
	assert_false(sacl_filter_covered("a", 1, g4, l4, 3, pos));
	assert_false(sacl_filter_covered("bad/#/x", 7, g4, l4, 3, pos));
	assert_false(sacl_filter_covered("a/x", 3, NULL, NULL, 0, pos));
	assert_true(sacl_filter_valid("+/a/#", 5));
	assert_false(sacl_filter_valid("a/b+", 4));
	assert_false(sacl_filter_valid("#/", 2));
}

/*
 * The testbed's generated acl file imports cleanly and gives the answers
 * of tb_acl_allows (tools/common/tb_broker.c) on a table of clients and
 * topics, read and write.
 */
static void test_testbed_acl(void **state)
{
	(void)state;
	char text[8192];
	size_t n = tb_acl_file(text, sizeof(text));
	assert_true(n > 0);
	struct msgs m;
	msgs_open(&m);
	unsigned errs = 99;
	struct sacl *a = sacl_parse("testbed/acl", text, n, m.f, &errs);
	char *log = msgs_close(&m);
	assert_non_null(a);
	assert_int_equal(errs, 0);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(sacl_count(a), tb_n_acl);
	static const char *const users[] = { "sensor", "dashboard", "admin", "zigbee2mqtt",
					     "guest", "nobody", "" };
	static const char *const cids[] = { "esp32-kitchen-1", "dash-1", "admin-cli",
					    "zigbee2mqtt", "mqtt-explorer", "node-7" };
	static const char *const topics[] = {
		"sensors/kitchen/esp32-kitchen-1", "sensors/kitchen/esp32-kitchen-1/cmd",
		"sensors/kitchen/esp32-kitchen-1/a/b", "sensors/kitchen/node-7",
		"sensors/bath/node-7/cmd", "sensors/x", "zigbee2mqtt/bridge/state",
		"zigbee2mqtt", "$SYS/broker/uptime", "public/chat", "public",
		"admin/secret", "is2/mqtt_attack_notifications", "sensors/a/b/c/d",
	};
	unsigned checked = 0;
	for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++)
		for (size_t c = 0; c < sizeof(cids) / sizeof(cids[0]); c++)
			for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++)
				for (int w = 0; w < 2; w++) {
					bool want = tb_acl_allows(users[u], cids[c], topics[t], w);
					struct sacl_verdict v;
					bool got = sacl_check(a, users[u][0] ? users[u] : NULL,
							      cids[c], w ? SACL_WRITE : SACL_READ,
							      topics[t], strlen(topics[t]), &v);
					if (got != want)
						fail_msg("user '%s' cid '%s' %s '%s': tb %d acl %d",
							 users[u], cids[c], w ? "write" : "read",
							 topics[t], want, got);
					checked++;
				}
	assert_int_equal(checked, 7 * 6 * 14 * 2);
	/* subscriptions: the dashboard's reads, not everything */
	uint32_t line;
	assert_true(chk(a, "dashboard", "d", SACL_SUBSCRIBE, "sensors/+/+", NULL));
	assert_true(chk(a, "dashboard", "d", SACL_SUBSCRIBE, "$SYS/#", NULL));
	assert_false(chk(a, "dashboard", "d", SACL_SUBSCRIBE, "#", &line));
	assert_true(chk(a, "admin", "a", SACL_SUBSCRIBE, "#", NULL));
	assert_true(chk(a, "sensor", "esp32-kitchen-1", SACL_SUBSCRIBE,
			"sensors/kitchen/esp32-kitchen-1/cmd", NULL));
	assert_false(chk(a, "sensor", "esp32-kitchen-1", SACL_SUBSCRIBE, "sensors/#", NULL));
	assert_false(chk(a, "guest", "g", SACL_SUBSCRIBE, "$SYS/#", NULL));
	sacl_free(a);
}

/* ---- the detector ---- */

#define REC_MAX 64

struct rec {
	char event[48];
	char layer[16];
	char detail[512];
	char meta[4096];
	bool has_base;
};

static struct rec recs[REC_MAX];
static unsigned n_recs;

static void rec_report(void *ud, const struct sensor_report *r)
{
	(void)ud;
	assert_true(n_recs < REC_MAX);
	struct rec *x = &recs[n_recs++];
	snprintf(x->event, sizeof(x->event), "%s", r->event);
	snprintf(x->layer, sizeof(x->layer), "%s", r->layer);
	snprintf(x->detail, sizeof(x->detail), "%s", r->detail ? r->detail : "");
	assert_true(r->meta_len < sizeof(x->meta));
	memcpy(x->meta, r->meta, r->meta_len);
	x->meta[r->meta_len] = 0;
	x->has_base = r->base != NULL;
}

struct fx {
	struct det_event ev;
	struct mqtt_msg m;
	struct mqtt_state st;
	struct flow flow;
	struct mqtt_topic topics[40];
	uint8_t codes[40];
	struct sensor_msg sm;
};

static struct fx *fx_new(uint64_t flow_id)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->flow.id = flow_id;
	f->st.connect_seen = true;
	f->ev.kind = DET_MQTT;
	f->ev.flow = &f->flow;
	f->ev.st = &f->st;
	f->ev.msg = &f->m;
	f->sm.ev = &f->ev;
	f->sm.m = &f->m;
	f->sm.client.family = 4;
	f->sm.client.a[0] = 10, f->sm.client.a[3] = 7;
	snprintf(f->sm.client.str, sizeof(f->sm.client.str), "10.0.0.7");
	return f;
}

static struct slice sl(const char *s)
{
	struct slice x = { (const uint8_t *)s, strlen(s) };
	return x;
}

/* Resets the message part of f to one of type t. */
static void fx_msg(struct fx *f, uint8_t t, bool from_client, uint8_t version, const char *cid,
		   const char *user)
{
	memset(&f->m, 0, sizeof(f->m));
	f->m.type = t;
	f->m.version = version;
	f->sm.from_client = from_client;
	f->ev.toclient = !from_client;
	f->sm.client_id = cid;
	f->sm.username = user;
	f->sm.topic = sl("");
	f->sm.ts_us += 1000;
	f->ev.ts_us = f->sm.ts_us;
}

static void fx_publish(struct fx *f, const char *cid, const char *user, const char *topic,
		       uint8_t qos, uint16_t pid, uint8_t version)
{
	fx_msg(f, MQTT_PUBLISH, true, version, cid, user);
	f->m.qos = qos;
	f->m.topic = sl(topic);
	f->sm.topic = f->m.topic;
	f->m.has_msg_id = qos > 0;
	f->m.msg_id = pid;
}

static void fx_subscribe(struct fx *f, const char *cid, const char *user, uint16_t pid,
			 const char *const *filters, unsigned n)
{
	fx_msg(f, MQTT_SUBSCRIBE, true, 4, cid, user);
	f->m.has_msg_id = true;
	f->m.msg_id = pid;
	for (unsigned i = 0; i < n; i++)
		f->topics[i].name = sl(filters[i]);
	f->m.topics = f->topics;
	f->m.n_topics = n;
}

static void fx_suback(struct fx *f, const char *cid, const char *user, uint16_t pid,
		      uint8_t version, const uint8_t *codes, unsigned n)
{
	fx_msg(f, MQTT_SUBACK, false, version, cid, user);
	f->m.has_msg_id = true;
	f->m.msg_id = pid;
	memcpy(f->codes, codes, n);
	f->m.codes.p = f->codes;
	f->m.codes.len = n;
}

static void fx_puback(struct fx *f, uint8_t type, const char *cid, const char *user,
		      uint16_t pid, uint8_t rc)
{
	fx_msg(f, type, false, 5, cid, user);
	f->m.has_msg_id = true;
	f->m.msg_id = pid;
	f->m.has_reason_code = true;
	f->m.reason_code = rc;
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/test_authz_acl_XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static void *det_new(const cJSON *cfg, char **log)
{
	struct msgs m;
	msgs_open(&m);
	struct sensor_env env = { .report = rec_report, .log = m.f };
	void *st = NULL;
	int r = sensor_authz_detector.init(&env, cfg, &st);
	char *l = msgs_close(&m);
	if (log)
		*log = l;
	else
		free(l);
	if (r != 0)
		return NULL;
	assert_non_null(st);
	n_recs = 0;
	return st;
}

static void det_run(void *st, struct fx *f)
{
	sensor_authz_detector.on_msg(st, &f->sm);
}

static void test_detector_inactive(void **state)
{
	(void)state;
	assert_string_equal(sensor_authz_detector.name, "authz");
	void *st = det_new(NULL, NULL);
	assert_non_null(st);
	struct fx *f = fx_new(1);
	/* without acl-file or policies nobody is unauthorised ... */
	fx_publish(f, "c1", "", "anything/at/all", 0, 0, 4);
	det_run(st, f);
	const char *subs[] = { "#" };
	fx_subscribe(f, "c1", "", 5, subs, 1);
	det_run(st, f);
	assert_int_equal(n_recs, 0);
	/* ... but broker refusals are reported */
	const uint8_t codes[] = { 0x80 };
	fx_suback(f, "c1", "", 5, 4, codes, 1);
	det_run(st, f);
	assert_int_equal(n_recs, 1);
	assert_string_equal(recs[0].event, "broker_denied_subscribe");
	assert_string_equal(recs[0].layer, "authz");
	assert_string_equal(recs[0].meta,
			    "\"client_id\":\"c1\",\"username\":\"\",\"address\":\"10.0.0.7\","
			    "\"filters\":[\"#\"],\"reason_codes\":[128],\"reason_code\":128,"
			    "\"access\":\"subscribe\",\"source\":\"broker\"");
	assert_non_null(strstr(recs[0].detail, "'#'"));
	assert_true(recs[0].has_base);
	sensor_authz_detector.free(st);
	free(f);
}

static void test_detector_acl(void **state)
{
	(void)state;
	char text[8192];
	assert_true(tb_acl_file(text, sizeof(text)) > 0);
	char *path = write_tmp(text);
	cJSON *cfg = cJSON_CreateObject();
	cJSON_AddStringToObject(cfg, "acl-file", path);
	char *log;
	void *st = det_new(cfg, &log);
	assert_non_null(st);
	assert_string_equal(log, "");
	free(log);
	struct fx *f = fx_new(7);

	/* the sensor writes its own topic: fine */
	fx_publish(f, "esp32-kitchen-1", "sensor", "sensors/kitchen/esp32-kitchen-1", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 0);
	/* guest publishing as another device under its own client id is allowed by the
	 * (deliberately weak) testbed ACL; publishing to somebody else's topic is not */
	fx_publish(f, "esp32-kitchen-1", "guest", "sensors/bath/esp32-bath-2", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 1);
	assert_string_equal(recs[0].event, "unauthorised_publish");
	char want[1024];
	snprintf(want, sizeof(want),
		 "\"client_id\":\"esp32-kitchen-1\",\"username\":\"guest\",\"address\":\"10.0.0.7\","
		 "\"topic\":\"sensors/bath/esp32-bath-2\",\"access\":\"write\",\"source\":\"acl:%s\","
		 "\"reason\":\"no grant\"",
		 path);
	assert_string_equal(recs[0].meta, want);
	assert_string_equal(recs[0].detail, "client 'esp32-kitchen-1' published to "
					    "'sensors/bath/esp32-bath-2' without a write grant");
	/* the dashboard may not write */
	fx_publish(f, "dash", "dashboard", "sensors/x/y", 1, 9, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 2);
	assert_string_equal(recs[1].event, "unauthorised_publish");

	/* subscribe, partially denied: one report listing the denied filters */
	const char *subs[] = { "sensors/#", "#", "$SYS/broker/#", "admin/+", "bad/#/x" };
	fx_subscribe(f, "dash", "dashboard", 21, subs, 5);
	det_run(st, f);
	assert_int_equal(n_recs, 3);
	assert_string_equal(recs[2].event, "unauthorised_subscribe");
	snprintf(want, sizeof(want),
		 "\"client_id\":\"dash\",\"username\":\"dashboard\",\"address\":\"10.0.0.7\","
		 "\"filters\":[\"#\",\"admin/+\"],\"access\":\"subscribe\",\"source\":\"acl:%s\","
		 "\"reason\":\"no grant\"",
		 path);
	assert_string_equal(recs[2].meta, want);
	assert_non_null(strstr(recs[2].detail, "2 filters"));
	/* the broker (with the same ACL, 3.1.1) refuses #: its filter comes from the SUBSCRIBE */
	const uint8_t c311[] = { 0x00, 0x80, 0x01, 0x80, 0x80 };
	fx_suback(f, "dash", "dashboard", 21, 4, c311, 5);
	det_run(st, f);
	assert_int_equal(n_recs, 4);
	assert_string_equal(recs[3].event, "broker_denied_subscribe");
	assert_non_null(strstr(recs[3].meta,
			       "\"filters\":[\"#\",\"admin/+\",\"bad/#/x\"],"
			       "\"reason_codes\":[128,128,128],\"reason_code\":128"));
	/* the entry is gone: a second SUBACK has no filters */
	fx_suback(f, "dash", "dashboard", 21, 4, c311, 5);
	det_run(st, f);
	assert_int_equal(n_recs, 5);
	assert_non_null(strstr(recs[4].meta, "\"filters\":[]"));
	assert_non_null(strstr(recs[4].detail, "filters unknown"));

	/* anonymous: only the patterns */
	fx_publish(f, "node-7", "", "sensors/hall/node-7", 0, 0, 4);
	det_run(st, f);
	fx_publish(f, "node-7", "", "public/x", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 6);
	assert_non_null(strstr(recs[5].meta, "\"topic\":\"public/x\""));

	/* an identity we never saw connect is not judged */
	f->st.connect_seen = false;
	fx_publish(f, "", "", "admin/secret", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 6);
	f->st.connect_seen = true;

	sensor_authz_detector.free(st);
	cJSON_Delete(cfg);
	unlink(path);
	free(path);
	free(f);
}

static void test_detector_broker_v5(void **state)
{
	(void)state;
	void *st = det_new(NULL, NULL);
	struct fx *f = fx_new(3);
	const char *subs[] = { "ok/#", "secret/#" };
	fx_subscribe(f, "c5", "u5", 77, subs, 2);
	f->m.version = 5;
	det_run(st, f);
	const uint8_t c5[] = { 0x01, 0x87 };
	fx_suback(f, "c5", "u5", 77, 5, c5, 2);
	det_run(st, f);
	assert_int_equal(n_recs, 1);
	assert_string_equal(recs[0].event, "broker_denied_subscribe");
	assert_string_equal(recs[0].meta,
			    "\"client_id\":\"c5\",\"username\":\"u5\",\"address\":\"10.0.0.7\","
			    "\"filters\":[\"secret/#\"],\"reason_codes\":[135],\"reason_code\":135,"
			    "\"access\":\"subscribe\",\"source\":\"broker\"");
	/* a SUBACK of another flow with the same packet id does not find it */
	struct fx *g = fx_new(4);
	fx_subscribe(f, "c5", "u5", 78, subs, 2);
	det_run(st, f);
	fx_suback(g, "c5", "u5", 78, 5, c5, 2);
	det_run(st, g);
	assert_int_equal(n_recs, 2);
	assert_non_null(strstr(recs[1].meta, "\"filters\":[]"));
	/* the same flow pointer with a new flow id (reused slot) neither */
	f->flow.id = 99;
	fx_suback(f, "c5", "u5", 78, 5, c5, 2);
	det_run(st, f);
	assert_int_equal(n_recs, 3);
	assert_non_null(strstr(recs[2].meta, "\"filters\":[]"));
	f->flow.id = 3;

	/* PUBACK v5 0x87 with the topic of the PUBLISH */
	fx_publish(f, "c5", "u5", "cmd/door/open", 1, 300, 5);
	det_run(st, f);
	fx_puback(f, MQTT_PUBACK, "c5", "u5", 300, 0x87);
	det_run(st, f);
	assert_int_equal(n_recs, 4);
	assert_string_equal(recs[3].event, "broker_denied_publish");
	assert_string_equal(recs[3].meta,
			    "\"client_id\":\"c5\",\"username\":\"u5\",\"address\":\"10.0.0.7\","
			    "\"topic\":\"cmd/door/open\",\"reason_code\":135,\"access\":\"write\","
			    "\"source\":\"broker\"");
	assert_string_equal(recs[3].detail, "broker refused a PUBLISH of client 'c5' to "
					    "'cmd/door/open' (reason 0x87)");
	/* QoS 2: PUBREC; success codes (0x10 no matching subscribers) are not refusals */
	fx_publish(f, "c5", "u5", "q2/t", 2, 301, 5);
	det_run(st, f);
	fx_puback(f, MQTT_PUBREC, "c5", "u5", 301, 0x10);
	det_run(st, f);
	assert_int_equal(n_recs, 4);
	fx_publish(f, "c5", "u5", "q2/t", 2, 302, 5);
	det_run(st, f);
	fx_puback(f, MQTT_PUBREC, "c5", "u5", 302, 0x97);
	det_run(st, f);
	assert_int_equal(n_recs, 5);
	assert_non_null(strstr(recs[4].meta, "\"topic\":\"q2/t\",\"reason_code\":151"));
	/* unknown packet id: reported without the topic */
	fx_puback(f, MQTT_PUBACK, "c5", "u5", 999, 0x87);
	det_run(st, f);
	assert_int_equal(n_recs, 6);
	assert_null(strstr(recs[5].meta, "\"topic\""));
	assert_non_null(strstr(recs[5].detail, "topic unknown"));
	/* a client's PUBACK (answer to the broker) is not the broker's refusal */
	fx_puback(f, MQTT_PUBACK, "c5", "u5", 1, 0x87);
	f->sm.from_client = true;
	det_run(st, f);
	assert_int_equal(n_recs, 6);
	/* 3.1.1 SUBACK success codes only: nothing */
	const uint8_t ok[] = { 0, 1, 2 };
	fx_suback(f, "c5", "u5", 5, 4, ok, 3);
	det_run(st, f);
	assert_int_equal(n_recs, 6);
	sensor_authz_detector.free(st);
	free(f);
	free(g);
}

static void test_detector_policies(void **state)
{
	(void)state;
	cJSON *cfg = cJSON_Parse(
		"{\"policies\":["
		" {\"client-id\":\"esp32-*\",\"username\":\"sensor\","
		"  \"publish\":[\"sensors/+/%c\",\"sensors/+/%c/#\"],"
		"  \"subscribe\":\"sensors/+/%c/cmd\"},"
		" {\"username\":\"dash*\",\"address\":[\"10.0.0.0/8\",\"fd00::/8\"],"
		"  \"subscribe\":[\"sensors/#\",\"$SYS/#\"]},"
		" {\"username\":\"dash*\",\"subscribe\":[\"status/+\"]},"
		" {\"username\":\"ops\",\"address\":\"192.168.1.0/24\",\"publish\":[\"#\"]},"
		" {\"username\":\"u\",\"publish\":[\"own/%u/#\"]},"
		" 42,"
		" {\"client-id\":\"x\",\"address\":\"not-an-address\",\"publish\":[\"#\"]},"
		" {\"client-id\":\"y\",\"publish\":[\"ok\",\"bad/#/x\",7],\"colour\":\"red\"}"
		"]}");
	assert_non_null(cfg);
	char *log;
	void *st = det_new(cfg, &log);
	assert_non_null(st);
	assert_non_null(strstr(log, "a policy must be a mapping"));
	assert_non_null(strstr(log, "expected an address or CIDR"));
	assert_non_null(strstr(log, "'bad/#/x' is not a valid MQTT topic filter"));
	assert_non_null(strstr(log, "expected a topic filter (text)"));
	assert_non_null(strstr(log, "colour: unknown policy key"));
	free(log);
	struct fx *f = fx_new(11);
	fx_publish(f, "esp32-k1", "sensor", "sensors/kitchen/esp32-k1", 0, 0, 4);
	det_run(st, f);
	fx_publish(f, "esp32-k1", "sensor", "sensors/kitchen/esp32-k1/extra", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 0);
	fx_publish(f, "esp32-k1", "sensor", "sensors/kitchen/esp32-k2", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 1);
	assert_string_equal(recs[0].event, "unauthorised_publish");
	assert_non_null(strstr(recs[0].meta, "\"source\":\"authz.policies\""));
	assert_null(strstr(recs[0].meta, "\"reason\""));
	/* a client id with wildcards gets nothing from %c */
	fx_publish(f, "esp32-#", "sensor", "sensors/kitchen/esp32-#", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 2);
	/* the union of two policies covers the dashboard's subscriptions */
	const char *subs[] = { "sensors/+/t", "status/+", "$SYS/#", "#", "status/#" };
	fx_subscribe(f, "d1", "dashboard", 1, subs, 5);
	det_run(st, f);
	assert_int_equal(n_recs, 3);
	assert_string_equal(recs[2].event, "unauthorised_subscribe");
	assert_non_null(strstr(recs[2].meta, "\"filters\":[\"#\",\"status/#\"]"));
	/* from an address outside the first policy only status/+ is left */
	f->sm.client.a[0] = 192;
	snprintf(f->sm.client.str, sizeof(f->sm.client.str), "192.168.1.5");
	fx_subscribe(f, "d1", "dashboard", 2, subs, 3);
	det_run(st, f);
	assert_int_equal(n_recs, 4);
	assert_non_null(strstr(recs[3].meta, "\"filters\":[\"sensors/+/t\",\"$SYS/#\"]"));
	assert_non_null(strstr(recs[3].meta, "\"address\":\"192.168.1.5\""));
	/* ops: from 192.168.1.0/24 anything (but not $SYS via #) */
	f->sm.client.a[1] = 168, f->sm.client.a[2] = 1, f->sm.client.a[3] = 5;
	fx_publish(f, "o", "ops", "any/thing", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 4);
	fx_publish(f, "o", "ops", "$SYS/x", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 5);
	/* %u, anonymous gets nothing from it; the bad policy with client-id x is gone */
	fx_publish(f, "c", "u", "own/u/1", 0, 0, 4);
	det_run(st, f);
	fx_publish(f, "x", "", "own//1", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 6);
	fx_publish(f, "y", "", "ok", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 6);
	sensor_authz_detector.free(st);
	cJSON_Delete(cfg);

	/* mode allow: clients no policy names are not judged */
	cfg = cJSON_Parse("{\"mode\":\"allow\",\"policies\":[{\"username\":\"sensor\","
			  "\"publish\":\"sensors/#\"}]}");
	st = det_new(cfg, NULL);
	assert_non_null(st);
	fx_publish(f, "a", "someone", "x/y", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 0);
	fx_publish(f, "a", "sensor", "x/y", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 1);
	sensor_authz_detector.free(st);
	cJSON_Delete(cfg);

	/* an empty policies list still turns default deny on */
	cfg = cJSON_Parse("{\"policies\":[]}");
	st = det_new(cfg, NULL);
	fx_publish(f, "a", "someone", "x/y", 0, 0, 4);
	det_run(st, f);
	assert_int_equal(n_recs, 1);
	sensor_authz_detector.free(st);
	cJSON_Delete(cfg);
	free(f);
}

static void test_detector_bad_config(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"{\"mode\":\"maybe\"}",
		"{\"acl-file\":\"/nonexistent/dir/acl\"}",
		"{\"policies\":\"sensors/#\"}",
		"{\"max-pending\":\"lots\"}",
		"[1,2]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *cfg = cJSON_Parse(bad[i]);
		assert_non_null(cfg);
		char *log;
		void *st = det_new(cfg, &log);
		if (st)
			fail_msg("config %s accepted", bad[i]);
		assert_true(strlen(log) > 0);
		free(log);
		cJSON_Delete(cfg);
	}
	/* YAML-style strings and a numeric max-pending */
	cJSON *cfg = cJSON_Parse("{\"mode\":\"DENY\",\"max-pending\":\"3\",\"extra\":1}");
	char *log;
	void *st = det_new(cfg, &log);
	assert_non_null(st);
	assert_non_null(strstr(log, "extra: unknown key"));
	free(log);
	sensor_authz_detector.free(st);
	cJSON_Delete(cfg);
	sensor_authz_detector.free(NULL);
}

/* A flood of SUBSCRIBEs without SUBACK stays in the fixed table. */
static void test_detector_pending_flood(void **state)
{
	(void)state;
	cJSON *cfg = cJSON_Parse("{\"max-pending\":\"64\"}");
	void *st = det_new(cfg, NULL);
	assert_non_null(st);
	struct fx *f = fx_new(5);
	const char *subs[] = { "flood/a", "flood/b" };
	for (unsigned i = 0; i < 100000; i++) {
		fx_subscribe(f, "fl", "", (uint16_t)(i + 1), subs, 2);
		det_run(st, f);
	}
	assert_int_equal(n_recs, 0);
	/* the latest request is still there */
	const uint8_t c[] = { 0x80, 0x00 };
	fx_suback(f, "fl", "", (uint16_t)100000, 4, c, 2);
	det_run(st, f);
	assert_int_equal(n_recs, 1);
	assert_non_null(strstr(recs[0].meta, "\"filters\":[\"flood/a\"]"));
	/* a SUBSCRIBE with many long filters keeps the first that fit, in order */
	char big[40][40];
	const char *many[40];
	for (unsigned i = 0; i < 40; i++) {
		snprintf(big[i], sizeof(big[i]), "many/%02u/%s", i, "xxxxxxxxxxxxxxxxxxxxxxxx");
		many[i] = big[i];
	}
	fx_subscribe(f, "fl", "", 4242, many, 40);
	det_run(st, f);
	uint8_t all[40];
	memset(all, 0x80, sizeof(all));
	fx_suback(f, "fl", "", 4242, 4, all, 40);
	det_run(st, f);
	assert_int_equal(n_recs, 2);
	assert_non_null(strstr(recs[1].meta, "many/00/"));
	assert_non_null(strstr(recs[1].meta, "many/12/"));
	assert_null(strstr(recs[1].meta, "many/16/"));
	assert_non_null(strstr(recs[1].detail, "40 subscriptions"));
	/* hostile identity bytes end up escaped */
	fx_suback(f, "\xff\x01\"", "", 1, 4, c, 1);
	det_run(st, f);
	assert_int_equal(n_recs, 3);
	assert_non_null(strstr(recs[2].meta, "\"client_id\":\"\\\\xFF\\\\x01\\\"\""));
	assert_non_null(strstr(recs[2].detail, "client '?\?\"'"));
	sensor_authz_detector.free(st);
	cJSON_Delete(cfg);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_keywords),
		cmocka_unit_test(test_parse_whitespace_crlf),
		cmocka_unit_test(test_parse_bad_lines),
		cmocka_unit_test(test_parse_limits_and_garbage),
		cmocka_unit_test(test_check_precedence),
		cmocka_unit_test(test_check_subscribe_coverage),
		cmocka_unit_test(test_filter_covered_direct),
		cmocka_unit_test(test_testbed_acl),
		cmocka_unit_test(test_detector_inactive),
		cmocka_unit_test(test_detector_acl),
		cmocka_unit_test(test_detector_broker_v5),
		cmocka_unit_test(test_detector_policies),
		cmocka_unit_test(test_detector_bad_config),
		cmocka_unit_test(test_detector_pending_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
