/* test_outputs.c - unit tests for the alert outputs: EVE alert records, console lines, the SQLite store and `mqttids alerts`. */
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkdtemp, setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jw_text.h"
#include "output/eve.h"
#include "output/outputs.h"

/* Seed 004 Fig. 16, raised at 2022-09-05T15:30:06.250113+08:00. */
#define TS_RAISED 1662363006250113ull
#define TS_FIRST 1662363001958344ull

static const char *const fig16_ids[] = {"mqtt-explorer-ddf55658",
					"mqttx_88f6220f"};
static const char *const fig16_users[] = {"mqtt-user"};

static struct alert fig16_alert(void)
{
	struct alert a;
	memset(&a, 0, sizeof(a));
	strcpy(a.uuid, "1572b51303214dd4bf30d3b2499a366c");
	a.ts_us = TS_RAISED;
	a.first_us = TS_FIRST;
	a.total = 5;
	a.sid = 1000003;
	a.rev = 2;
	a.classification = "Brute Force (Auth)";
	a.category = "Attempted Login";
	a.priority = 3;
	a.rule_raw = "mqtt $SELF -> any dst; name: Brute Force (Auth); "
		     "priority: 3; threshold: 5; interval: 60; msg_type: "
		     "connack; retcode: 5";
	a.src = "172.27.67.201";
	a.src_ip = "10.0.0.1";
	a.src_port = 1883;
	a.dest_ip = "172.27.67.201";
	a.dest_port = 54778;
	a.flow_id = 1234567890123ull;
	a.pcap_cnt = 42;
	a.client_ids.v = fig16_ids;
	a.client_ids.n = 2;
	a.usernames.v = fig16_users;
	a.usernames.n = 1;
	return a;
}

/* ---- helpers ---- */

/* The alert's EVE line, as the EVE sink writes it, into w. */
static void alert_eve_write(struct jw *w, struct timefmt *tf,
			    const struct alert *a)
{
	struct eve_writer ew;
	struct eve_cfg c = { SIZE_MAX, false };
	(void)tf;
	eve_writer_init(&ew, &c);
	struct out_record r = { .kind = OUT_ALERT, .ts_us = a->ts_us, .alert = a };
	assert_true(eve_format(&ew, &r));
	jw_reset(w);
	jw_append(w, ew.w.buf, ew.w.len);
	eve_writer_deinit(&ew);
}

/* The EVE line of a, checked to be one newline-terminated line, parsed. */
static cJSON *eve_of(const struct alert *a, char **line_out)
{
	struct jw w;
	struct timefmt tf;
	jw_init(&w);
	timefmt_init(&tf);
	alert_eve_write(&w, &tf, a);
	char *line = jw_text(&w);
	jw_deinit(&w);
	size_t n = strlen(line);
	assert_true(n > 2);
	assert_int_equal(line[n - 1], '\n');
	assert_null(memchr(line, '\n', n - 1));
	for (size_t i = 0; i < n - 1; i++)
		if ((unsigned char)line[i] < 0x20)
			fail_msg("control byte 0x%02x at %zu in %s",
				 (unsigned char)line[i], i, line);
	cJSON *j = cJSON_Parse(line);
	if (!j)
		fail_msg("not JSON: %s", line);
	if (line_out)
		*line_out = line;
	else
		free(line);
	return j;
}

/* Asserts the members of object o are exactly keys[], in that order. */
static void assert_keys(const cJSON *o, const char *const *keys, size_t n)
{
	const cJSON *c = o->child;
	for (size_t i = 0; i < n; i++, c = c->next) {
		if (!c)
			fail_msg("missing key %s (index %zu)", keys[i], i);
		if (strcmp(c->string, keys[i]))
			fail_msg("key %zu is %s, want %s", i, c->string, keys[i]);
	}
	if (c)
		fail_msg("extra key %s", c->string);
}

#define ASSERT_KEYS(o, ...)                                                   \
	do {                                                                  \
		static const char *const k_[] = {__VA_ARGS__};                \
		assert_keys((o), k_, sizeof(k_) / sizeof(k_[0]));             \
	} while (0)

static const cJSON *get(const cJSON *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	const cJSON *c = o;
	for (char *save = NULL, *t = strtok_r(buf, ".", &save); t;
	     t = strtok_r(NULL, ".", &save)) {
		c = cJSON_GetObjectItemCaseSensitive(c, t);
		if (!c)
			fail_msg("no %s", path);
	}
	return c;
}

static const char *gets_(const cJSON *o, const char *path)
{
	const cJSON *c = get(o, path);
	if (!cJSON_IsString(c))
		fail_msg("%s is not a string", path);
	return c->valuestring;
}

static double getn(const cJSON *o, const char *path)
{
	const cJSON *c = get(o, path);
	if (!cJSON_IsNumber(c))
		fail_msg("%s is not a number", path);
	return c->valuedouble;
}

#define assert_contains(hay, needle)                                          \
	do {                                                                  \
		if (!strstr((hay), (needle)))                                 \
			fail_msg("no \"%s\" in \"%s\"", (needle), (hay));       \
	} while (0)

/* The console line of a (NUL-terminated, owned by the caller). */
static char *console_of(const struct alert *a, bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	struct timefmt tf;
	timefmt_init(&tf);
	console_alert(fp, &tf, a, color);
	fclose(fp);
	return buf;
}

/* ---- EVE ---- */

static void test_eve_alert_record(void **state)
{
	(void)state;
	struct alert a = fig16_alert();
	cJSON *j = eve_of(&a, NULL);
	ASSERT_KEYS(j, "timestamp", "flow_id", "pcap_cnt", "event_type",
		    "src_ip", "src_port", "dest_ip", "dest_port", "proto",
		    "app_proto", "alert", "mqttids");
	assert_string_equal(gets_(j, "timestamp"),
			    "2022-09-05T15:30:06.250113+0800");
	assert_true(getn(j, "flow_id") == 1234567890123.0);
	assert_true(getn(j, "pcap_cnt") == 42);
	assert_string_equal(gets_(j, "event_type"), "alert");
	assert_string_equal(gets_(j, "src_ip"), "10.0.0.1");
	assert_true(getn(j, "src_port") == 1883);
	assert_string_equal(gets_(j, "dest_ip"), "172.27.67.201");
	assert_true(getn(j, "dest_port") == 54778);
	assert_string_equal(gets_(j, "proto"), "TCP");
	assert_string_equal(gets_(j, "app_proto"), "mqtt");

	const cJSON *al = get(j, "alert");
	ASSERT_KEYS(al, "action", "gid", "signature_id", "rev", "signature",
		    "category", "severity");
	assert_string_equal(gets_(al, "action"), "allowed");
	assert_true(getn(al, "gid") == 1);
	assert_true(getn(al, "signature_id") == 1000003);
	assert_true(getn(al, "rev") == 2);
	assert_string_equal(gets_(al, "signature"), "Brute Force (Auth)");
	assert_string_equal(gets_(al, "category"), "Attempted Login");
	assert_true(getn(al, "severity") == 2);

	const cJSON *m = get(j, "mqttids");
	ASSERT_KEYS(m, "uuid", "datetime", "classification", "priority", "src",
		    "rule_raw", "metadata");
	assert_string_equal(gets_(m, "uuid"), "1572b51303214dd4bf30d3b2499a366c");
	assert_string_equal(gets_(m, "datetime"),
			    "2022-09-05T15:30:06.250113+08:00");
	assert_string_equal(gets_(m, "priority"), "High");
	assert_string_equal(gets_(m, "src"), "172.27.67.201");
	const cJSON *md = get(m, "metadata");
	ASSERT_KEYS(md, "first_violation", "total_violation", "mqtt");
	assert_string_equal(gets_(md, "first_violation"),
			    "2022-09-05T15:30:01.958344+08:00");
	assert_true(getn(md, "total_violation") == 5);
	const cJSON *mq = get(md, "mqtt");
	ASSERT_KEYS(mq, "client_id", "auth", "topics");
	ASSERT_KEYS(get(mq, "auth"), "username", "password");
	ASSERT_KEYS(get(mq, "topics"), "publish", "subscribe", "unsubscribe");
	const cJSON *ids = get(mq, "client_id");
	assert_int_equal(cJSON_GetArraySize(ids), 2);
	assert_string_equal(cJSON_GetArrayItem(ids, 1)->valuestring,
			    "mqttx_88f6220f");
	assert_int_equal(cJSON_GetArraySize(get(mq, "auth.password")), 0);
	cJSON_Delete(j);
}

/* The seed object is exactly Fig. 16 (compact, same keys and order). */
static void test_seed_json_matches_fig16(void **state)
{
	(void)state;
	struct alert a = fig16_alert();
	struct jw w;
	struct timefmt tf;
	jw_init(&w);
	timefmt_init(&tf);
	jw_append(&w, "junk", 4); /* eve_alert_seed resets first */
	eve_alert_seed(&w, &tf, &a);
	char *s = jw_text(&w);
	assert_string_equal(
		s,
		"{\"uuid\":\"1572b51303214dd4bf30d3b2499a366c\","
		"\"datetime\":\"2022-09-05T15:30:06.250113+08:00\","
		"\"classification\":\"Brute Force (Auth)\",\"priority\":\"High\","
		"\"src\":\"172.27.67.201\",\"rule_raw\":\"mqtt $SELF -> any dst; "
		"name: Brute Force (Auth); priority: 3; threshold: 5; interval: "
		"60; msg_type: connack; retcode: 5\",\"metadata\":{"
		"\"first_violation\":\"2022-09-05T15:30:01.958344+08:00\","
		"\"total_violation\":5,\"mqtt\":{\"client_id\":["
		"\"mqtt-explorer-ddf55658\",\"mqttx_88f6220f\"],\"auth\":{"
		"\"username\":[\"mqtt-user\"],\"password\":[]},\"topics\":{"
		"\"publish\":{},\"subscribe\":{},\"unsubscribe\":{}}}}}");
	free(s);
	jw_deinit(&w);
}

static void test_eve_without_flow_and_update(void **state)
{
	(void)state;
	struct alert a = fig16_alert();
	a.flow_id = 0;
	a.pcap_cnt = 0;
	a.src_ip = NULL;
	a.update = true;
	a.total = 20;
	a.rule_raw = NULL;
	a.category = NULL;
	cJSON *j = eve_of(&a, NULL);
	ASSERT_KEYS(j, "timestamp", "event_type", "app_proto", "alert",
		    "mqttids");
	assert_string_equal(gets_(j, "event_type"), "alert_update");
	assert_string_equal(gets_(j, "alert.category"), "");
	const cJSON *m = get(j, "mqttids");
	ASSERT_KEYS(m, "uuid", "datetime", "classification", "priority", "src",
		    "rule_raw", "metadata", "update");
	assert_true(cJSON_IsTrue(get(m, "update")));
	assert_true(cJSON_IsNull(get(m, "rule_raw")));
	assert_true(getn(m, "metadata.total_violation") == 20);
	cJSON_Delete(j);
}

static void test_eve_severity_and_priority_names(void **state)
{
	(void)state;
	static const struct {
		uint8_t prio;
		int sev;
		const char *name;
	} t[] = {
		{4, 1, "Critical"}, {3, 2, "High"}, {2, 3, "Medium"},
		{1, 4, "Low"}, {0, 4, "Informational"}, {9, 1, "Critical"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct alert a = fig16_alert();
		a.priority = t[i].prio;
		cJSON *j = eve_of(&a, NULL);
		assert_int_equal((int)getn(j, "alert.severity"), t[i].sev);
		assert_string_equal(gets_(j, "mqttids.priority"), t[i].name);
		cJSON_Delete(j);
	}
}

static void test_eve_hostile_strings(void **state)
{
	(void)state;
	static const char *const ids[] = {
		"q\"uote\\back", "ctl\x01\x1b[31m\n\r\t\x7f", "bad\xff\xfe",
		"caf\xc3\xa9",
	};
	static const char *const users[] = {"\"},\"x\":{\"", ""};
	static const char *const pw[] = {"s3cret\x02"};
	static const struct alert_count pubs[] = {
		{"a/\"b\"/\\c (QOS: 1)", 3},
		{"sensors/\x01\x02 (QOS: 0)", 1},
		{"t/\xc0\xaf/x (QOS: 2)", 18446744073709551615ull},
	};
	static const struct alert_count subs[] = {{"# (QOS: 0)", 1}};
	static const char extra[] = "\"device\":\"yale_lock\",\"n\":7";
	struct alert a = fig16_alert();
	a.client_ids.v = ids;
	a.client_ids.n = 4;
	a.usernames.v = users;
	a.usernames.n = 2;
	a.passwords.v = pw;
	a.passwords.n = 1;
	a.publish.v = pubs;
	a.publish.n = 3;
	a.subscribe.v = subs;
	a.subscribe.n = 1;
	a.classification = "name \"with\" quotes\n";
	a.src = "dev\x1b]0;pwn\x07";
	struct alert_finding f = {
		.layer = "inventory", .event = "new_device",
		.detail = "caf\xc3\xa9 \"x\"\x01", .meta = extra,
		.meta_len = strlen(extra),
	};
	a.finding = &f;
	a.metadata_truncated = true;
	cJSON *j = eve_of(&a, NULL);
	const cJSON *md = get(j, "mqttids.metadata");
	ASSERT_KEYS(md, "first_violation", "total_violation", "mqtt", "detector",
		    "truncated");
	assert_string_equal(gets_(md, "detector.device"), "yale_lock");
	assert_int_equal((int)getn(md, "detector.n"), 7);
	assert_string_equal(gets_(md, "detector.layer"), "inventory");
	/* One escaper: the finding's UTF-8 stays UTF-8, as everywhere. */
	assert_string_equal(gets_(md, "detector.detail"), "caf\xc3\xa9 \"x\"\x01");
	assert_true(cJSON_IsTrue(get(md, "truncated")));
	const cJSON *c = get(md, "mqtt.client_id");
	assert_int_equal(cJSON_GetArraySize(c), 4);
	/* Valid UTF-8 round-trips exactly, controls included. */
	assert_string_equal(cJSON_GetArrayItem(c, 0)->valuestring, ids[0]);
	assert_string_equal(cJSON_GetArrayItem(c, 1)->valuestring, ids[1]);
	assert_string_equal(cJSON_GetArrayItem(c, 3)->valuestring, ids[3]);
	/* Not UTF-8: each byte shown as \xNN text, as Suricata does. */
	assert_string_equal(cJSON_GetArrayItem(c, 2)->valuestring,
			    "bad\\xFF\\xFE");
	const cJSON *u = get(md, "mqtt.auth.username");
	assert_string_equal(cJSON_GetArrayItem(u, 0)->valuestring, users[0]);
	assert_string_equal(cJSON_GetArrayItem(u, 1)->valuestring, "");
	assert_string_equal(
		cJSON_GetArrayItem(get(md, "mqtt.auth.password"), 0)->valuestring,
		pw[0]);
	const cJSON *p = get(md, "mqtt.topics.publish");
	assert_int_equal(cJSON_GetArraySize(p), 3);
	const cJSON *k0 = cJSON_GetArrayItem(p, 0);
	assert_string_equal(k0->string, pubs[0].key);
	assert_true(k0->valuedouble == 3);
	assert_string_equal(cJSON_GetArrayItem(p, 1)->string, pubs[1].key);
	assert_string_equal(cJSON_GetArrayItem(p, 2)->string,
			    "t/\\xC0\\xAF/x (QOS: 2)");
	assert_true(cJSON_GetArrayItem(p, 2)->valuedouble > 1.8e19);
	assert_true(getn(md, "mqtt.topics.subscribe.# (QOS: 0)") == 1);
	assert_string_equal(gets_(j, "alert.signature"), a.classification);
	assert_string_equal(gets_(j, "mqttids.src"), a.src);
	cJSON_Delete(j);
}

static void test_timefmt_iso(void **state)
{
	(void)state;
	struct timefmt tf;
	char b[48];
	timefmt_init(&tf);
	assert_int_equal(timefmt_format_iso(&tf, TS_RAISED, b, sizeof(b)), 32);
	assert_string_equal(b, "2022-09-05T15:30:06.250113+08:00");
	assert_int_equal(timefmt_format_iso(&tf, 0, b, sizeof(b)), 32);
	assert_string_equal(b, "1970-01-01T08:00:00.000000+08:00");
	/* Too small: nothing written. */
	assert_int_equal(timefmt_format_iso(&tf, TS_RAISED, b, 32), 0);
	assert_int_equal(timefmt_format_iso(&tf, TS_RAISED, b, 33), 32);
	/* The EVE form is unchanged. */
	assert_int_equal(timefmt_format(&tf, TS_RAISED, b, sizeof(b)), 31);
	assert_string_equal(b, "2022-09-05T15:30:06.250113+0800");
}

/* ---- console ---- */

static void test_console_line(void **state)
{
	(void)state;
	struct alert a = fig16_alert();
	char *s = console_of(&a, false);
	assert_string_equal(
		s, "2022-09-05 15:30:06.250 +0800  [High]  Brute Force (Auth)  "
		   "src=172.27.67.201  total=5 first=15:30:01.958  "
		   "client_id=mqtt-explorer-ddf55658,mqttx_88f6220f  "
		   "user=mqtt-user  sid=1000003\n");
	free(s);

	/* A first violation on another day shows its date. */
	a.first_us = TS_FIRST - 86400ull * 1000000;
	static const struct alert_count subs[] = {{"$SYS/# (QOS: 0)", 2}};
	a.subscribe.v = subs;
	a.subscribe.n = 1;
	s = console_of(&a, false);
	assert_contains(s, " first=2022-09-04 15:30:01.958  ");
	assert_contains(s, "  topics=$SYS/# (QOS: 0)  sid=");
	free(s);
}

static void test_console_update(void **state)
{
	(void)state;
	struct alert a = fig16_alert();
	a.update = true;
	a.total = 20;
	a.update_added = 15;
	a.ts_us += 60000000;
	char *s = console_of(&a, false);
	assert_string_equal(s, "2022-09-05 15:31:06.250 +0800  [High]  Brute "
			       "Force (Auth)  src=172.27.67.201  +15 more "
			       "during cooldown (total=20)\n");
	free(s);
	a.update_added = 0;
	s = console_of(&a, false);
	assert_contains(s, "src=172.27.67.201  more during cooldown "
				  "(total=20)\n");
	free(s);
}

static void test_console_color(void **state)
{
	(void)state;
	static const struct {
		uint8_t prio;
		const char *want;
	} t[] = {
		{4, "  \033[1;31m[Critical]\033[0m  "},
		{3, "  \033[31m[High]\033[0m  "},
		{2, "  \033[33m[Medium]\033[0m  "},
		{1, "  \033[36m[Low]\033[0m  "},
		{0, "  [Informational]  "},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct alert a = fig16_alert();
		a.priority = t[i].prio;
		char *s = console_of(&a, true);
		if (!strstr(s, t[i].want))
			fail_msg("no %s in %s", t[i].want, s);
		free(s);
		s = console_of(&a, false);
		assert_null(strchr(s, '\033'));
		free(s);
	}
}

/* Nothing a terminal acts on reaches the line; long lists are cut. */
static void test_console_hostile_and_bounded(void **state)
{
	(void)state;
	static const char *const ids[] = {
		"esc\x1b[2J", "c1\xc2\x9b" "31m", "bidi\xe2\x80\xae" "txt",
		"bad\xff", "nl\nx", "ok-4", "ok-5", "ok-6",
	};
	char longname[600];
	memset(longname, 'N', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	struct alert_count pubs[10];
	char keys[10][16];
	for (int i = 0; i < 10; i++) {
		snprintf(keys[i], sizeof(keys[i]), "t/%d\x7f", i);
		pubs[i].key = keys[i];
		pubs[i].count = 1;
	}
	struct alert a = fig16_alert();
	a.client_ids.v = ids;
	a.client_ids.n = 8;
	a.publish.v = pubs;
	a.publish.n = 10;
	a.classification = longname;
	a.src = "\x1b]0;title\x07";
	char *s = console_of(&a, false);
	size_t n = strlen(s);
	assert_true(n < 1024);
	assert_int_equal(s[n - 1], '\n');
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			fail_msg("control 0x%02x at %zu: %s", c, i, s);
		if (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			fail_msg("C1 control at %zu", i);
		if (c == 0xe2 && (unsigned char)s[i + 1] == 0x80 &&
		    (unsigned char)s[i + 2] == 0xae)
			fail_msg("bidi override at %zu", i);
	}
	assert_contains(s, "NNN...  src=\\x1B]0;title\\x07  ");
	assert_contains(s, "client_id=esc\\x1B[2J,c1\\xC2\\x9B31m,"
				  "bidi\\xE2\\x80\\xAEtxt +5 more  ");
	assert_contains(s, "topics=t/0\\x7F,t/1\\x7F,t/2\\x7F +7 more");
	free(s);
}

static void test_console_escape(void **state)
{
	(void)state;
	char b[64];
	/* A UTF-8 character is never cut by max. */
	assert_int_equal(console_escape(b, sizeof(b), "ab\xc3\xa9", 4, 3), 5);
	assert_string_equal(b, "ab...");
	assert_int_equal(console_escape(b, sizeof(b), "ab\xc3\xa9", 4, 4), 4);
	assert_string_equal(b, "ab\xc3\xa9");
	/* Overlong and surrogate encodings are not UTF-8. */
	console_escape(b, sizeof(b), "\xc0\xaf\xed\xa0\x80", 5, 64);
	assert_string_equal(b, "\\xC0\\xAF\\xED\\xA0\\x80");
	/* The output buffer bounds it, with the "..." mark. */
	assert_int_equal(console_escape(b, 10, "0123456789abcdef", 16, 100), 9);
	assert_string_equal(b, "012345...");
	console_escape(b, 10, "\x01\x02\x03", 3, 100);
	assert_string_equal(b, "\\x01...");
	assert_int_equal(console_escape(b, 1, "abc", 3, 100), 0);
	assert_string_equal(b, "");
}

/* ---- store ---- */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_outputs.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_tmpdir(void **state)
{
	(void)state;
	DIR *d = opendir(tmpdir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

/* A path in the test's directory; the last 4 results stay valid. */
static const char *tpath(const char *name)
{
	static char p[4][256];
	static unsigned next;
	char *b = p[next++ % 4];
	snprintf(b, sizeof(p[0]), "%s/%s", tmpdir, name);
	return b;
}

/* A SQLite connection of the test's own, as another process would have. */
static sqlite3 *peek_open(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	return db;
}

static long long peek_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *peek_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *t = sqlite3_column_text(st, 0);
	char *v = t ? strdup((const char *)t) : NULL;
	sqlite3_finalize(st);
	return v;
}

/* Stores a with its EVE line, as the alert pipeline does. */
static void put(struct store *s, const struct alert *a, uint64_t now)
{
	struct jw w;
	struct timefmt tf;
	jw_init(&w);
	timefmt_init(&tf);
	alert_eve_write(&w, &tf, a);
	assert_int_equal(store_put(s, a, w.buf, w.len, now), 0);
	jw_deinit(&w);
}

static struct alert nth_alert(int i, uint64_t ts)
{
	struct alert a = fig16_alert();
	snprintf(a.uuid, sizeof(a.uuid), "%08x%024x", 0xa1e70000u + (unsigned)i,
		 (unsigned)i);
	a.ts_us = ts;
	a.first_us = ts - 1000000;
	a.priority = (uint8_t)(i % 5);
	return a;
}

/* Result of one alerts_run: exit status, stdout and stderr. */
struct run {
	int rc;
	char *out, *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static struct run run_alerts(const char *first, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	argv[argc++] = (char *)"alerts";
	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	struct run r;
	size_t on, en;
	FILE *out = open_memstream(&r.out, &on);
	FILE *err = open_memstream(&r.err, &en);
	assert_non_null(out);
	assert_non_null(err);
	r.rc = alerts_run(argc, argv, out, err);
	fclose(out);
	fclose(err);
	return r;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_store_put_update_dedup(void **state)
{
	(void)state;
	const char *path = tpath("a.db");
	char err[256] = "";
	struct store_cfg cfg;
	store_cfg_default(&cfg);
	assert_int_equal(cfg.retention_days, 90);
	assert_int_equal(cfg.max_alerts, 1000000);
	assert_int_equal(cfg.commit_ms, 200);
	struct store *s = store_open(path, &cfg, err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);

	uint64_t t0 = TS_RAISED;
	for (int i = 0; i < 3; i++) {
		struct alert a = nth_alert(i, t0 + (uint64_t)i * 1000000);
		put(s, &a, t0 + (uint64_t)i * 1000);
	}
	/* The same uuid again (a second read of the capture): ignored. */
	struct alert dup = nth_alert(1, t0 + 1000000);
	dup.total = 999;
	put(s, &dup, t0 + 3000);
	/* Update of alert 0. */
	struct alert up = nth_alert(0, t0 + 30000000);
	up.update = true;
	up.total = 20;
	put(s, &up, t0 + 4000);
	assert_int_equal(store_flush(s, t0 + 5000), 0);

	sqlite3 *db = peek_open(path);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 3);
	assert_int_equal(peek_int(db, "SELECT total_violation FROM alerts "
				      "WHERE uuid='a1e70001000000000000000000000001'"),
			 5);
	assert_int_equal(peek_int(db, "SELECT total_violation FROM alerts "
				      "WHERE uuid='a1e70000000000000000000000000000'"),
			 20);
	char *ts = peek_text(db, "SELECT updated_ts FROM alerts WHERE "
				 "uuid='a1e70000000000000000000000000000'");
	assert_string_equal(ts, "2022-09-05T15:30:36.250113+08:00");
	free(ts);
	char *dt = peek_text(db, "SELECT datetime FROM alerts WHERE "
				 "uuid='a1e70000000000000000000000000000'");
	assert_string_equal(dt, "2022-09-05T15:30:06.250113+08:00");
	free(dt);
	char *rec = peek_text(db, "SELECT record FROM alerts WHERE "
				  "uuid='a1e70000000000000000000000000000'");
	cJSON *j = cJSON_Parse(rec);
	assert_non_null(j);
	assert_true(cJSON_IsTrue(get(j, "update")));
	assert_true(getn(j, "metadata.total_violation") == 20);
	cJSON_Delete(j);
	free(rec);
	char *eve = peek_text(db, "SELECT eve FROM alerts WHERE "
				  "uuid='a1e70002000000000000000000000002'");
	assert_null(strchr(eve, '\n'));
	j = cJSON_Parse(eve);
	assert_non_null(j);
	assert_string_equal(gets_(j, "event_type"), "alert");
	assert_string_equal(gets_(j, "mqttids.uuid"),
			    "a1e70002000000000000000000000002");
	cJSON_Delete(j);
	free(eve);
	assert_int_equal(peek_int(db, "SELECT priority FROM alerts WHERE "
				      "uuid='a1e70002000000000000000000000002'"),
			 2);
	char *pn = peek_text(db, "SELECT priority_name||'|'||src_ip||'|'||"
				 "src_port||'|'||flow_id||'|'||sid||'|'||"
				 "first_violation FROM alerts WHERE "
				 "uuid='a1e70002000000000000000000000002'");
	assert_string_equal(pn, "Medium|10.0.0.1|1883|1234567890123|1000003|"
				"2022-09-05T15:30:07.250113+08:00");
	free(pn);
	assert_int_equal(peek_int(db, "PRAGMA user_version"), 1);
	char *jm = peek_text(db, "PRAGMA journal_mode");
	assert_string_equal(jm, "wal");
	free(jm);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM sqlite_master WHERE "
				      "type='index' AND name LIKE 'alerts_%'"),
			 3);
	sqlite3_close(db);
	store_close(s);

	/* Reopen the existing store: same schema, data kept, dedup holds. */
	s = store_open(path, &cfg, err, sizeof(err));
	if (!s)
		fail_msg("reopen: %s", err);
	struct alert again = nth_alert(2, t0 + 2000000);
	put(s, &again, t0 + 6000);
	struct alert fresh = nth_alert(3, t0 + 3000000);
	put(s, &fresh, t0 + 7000);
	/* An update whose alert is not in the store is kept as the alert. */
	struct alert orphan = nth_alert(4, t0 + 4000000);
	orphan.update = true;
	put(s, &orphan, t0 + 8000);
	store_close(s); /* commits */
	db = peek_open(path);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 5);
	sqlite3_close(db);
}

static void test_store_batches(void **state)
{
	(void)state;
	const char *path = tpath("batch.db");
	char err[256];
	struct store_cfg cfg;
	store_cfg_default(&cfg);
	struct store *s = store_open(path, &cfg, err, sizeof(err));
	assert_non_null(s);
	sqlite3 *db = peek_open(path);
	uint64_t t0 = TS_RAISED;
	struct alert a = nth_alert(0, t0);
	put(s, &a, t0);
	/* Within commit_ms: not committed yet, so another reader sees none. */
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 0);
	assert_int_equal(store_tick(s, t0 + 100000), 0);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 0);
	assert_int_equal(store_tick(s, t0 + 200000), 0);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 1);
	/* A put commits the batch once commit_ms passed since it began. */
	a = nth_alert(1, t0 + 1);
	put(s, &a, t0 + 300000);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 1);
	a = nth_alert(2, t0 + 2);
	put(s, &a, t0 + 500000);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 3);
	/* And by count: 1000 rows at one instant. */
	for (int i = 3; i < 1002; i++) {
		a = nth_alert(i, t0 + (uint64_t)i);
		put(s, &a, t0 + 600000);
	}
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 3);
	a = nth_alert(1002, t0 + 1002);
	put(s, &a, t0 + 600000);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 1003);
	a = nth_alert(1003, t0 + 1003);
	put(s, &a, t0 + 600000);
	assert_int_equal(store_flush(s, t0 + 600000), 0);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 1004);
	sqlite3_close(db);
	store_close(s);
}

static void test_store_retention(void **state)
{
	(void)state;
	const char *path = tpath("ret.db");
	char err[256];
	struct store_cfg cfg = {.retention_days = 1, .max_alerts = 4,
				.commit_ms = 0};
	struct store *s = store_open(path, &cfg, err, sizeof(err));
	assert_non_null(s);
	const uint64_t day = 86400ull * 1000000;
	uint64_t t0 = TS_RAISED;
	for (int i = 0; i < 6; i++) {
		struct alert a = nth_alert(i, t0 + (uint64_t)i * 3600 * 1000000);
		put(s, &a, t0);
	}
	sqlite3 *db = peek_open(path);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 6);
	/* By count: the newest 4 stay. */
	assert_int_equal(store_flush(s, t0 + 6 * 3600 * 1000000ull), 0);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 4);
	assert_int_equal(peek_int(db, "SELECT min(ts_us) FROM alerts"),
			 (long long)(t0 + 2 * 3600 * 1000000ull));
	/* By age, but at most once a minute of now_us. */
	uint64_t later = t0 + day + 4 * 3600 * 1000000ull + 1;
	assert_int_equal(store_flush(s, t0 + 6 * 3600 * 1000000ull + 1000), 0);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 4);
	assert_int_equal(store_flush(s, later), 0);
	/* Alerts 2, 3 and 4 are more than a day before later; 5 stays. */
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 1);
	assert_int_equal(peek_int(db, "SELECT ts_us FROM alerts"),
			 (long long)(t0 + 5 * 3600 * 1000000ull));
	sqlite3_close(db);
	store_close(s);

	/* 0 keeps everything. */
	cfg.retention_days = 0;
	cfg.max_alerts = 0;
	s = store_open(path, &cfg, err, sizeof(err));
	assert_non_null(s);
	struct alert a = nth_alert(9, t0);
	put(s, &a, t0);
	assert_int_equal(store_flush(s, t0 + 1000 * day), 0);
	store_close(s);
	db = peek_open(path);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), 2);
	sqlite3_close(db);
}

static void test_store_open_errors(void **state)
{
	(void)state;
	char err[256] = "";
	struct store_cfg cfg;
	store_cfg_default(&cfg);
	assert_null(store_open(tpath("no/such/dir.db"), &cfg, err, sizeof(err)));
	assert_contains(err, "no/such/dir.db");

	/* Some other SQLite database is left alone. */
	const char *other = tpath("other.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(other, &cfg, err, sizeof(err)));
	assert_contains(err, "not an mqttids alert store");

	/* A store from a newer mqttids is not written to. */
	const char *newer = tpath("newer.db");
	struct store *s = store_open(newer, &cfg, err, sizeof(err));
	assert_non_null(s);
	store_close(s);
	assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=7", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(newer, &cfg, err, sizeof(err)));
	assert_contains(err, "newer");

	/* NULL store: errors, no crash. */
	struct alert a = fig16_alert();
	assert_int_equal(store_put(NULL, &a, "", 0, 0), -1);
	assert_int_equal(store_flush(NULL, 0), -1);
	store_close(NULL);
}

/*
 * A store that cannot write (another connection holds the write lock past
 * the busy timeout) loses those alerts, says so once, and recovers.
 */
/* Runs f with stderr captured into *text (at most cap bytes). */
#define CAPTURE_STDERR(text, cap, stmt)                                     \
	do {                                                                \
		const char *ep_ = tpath("stderr.txt");                      \
		fflush(stderr);                                             \
		int saved_ = dup(2);                                        \
		FILE *cf_ = fopen(ep_, "w");                                \
		assert_non_null(cf_);                                       \
		dup2(fileno(cf_), 2);                                       \
		stmt;                                                       \
		fflush(stderr);                                             \
		dup2(saved_, 2);                                            \
		close(saved_);                                              \
		fclose(cf_);                                                \
		FILE *rf_ = fopen(ep_, "r");                                \
		assert_non_null(rf_);                                       \
		size_t n_ = fread(text, 1, (cap) - 1, rf_);                 \
		fclose(rf_);                                                \
		text[n_] = 0;                                               \
	} while (0)

/* Another connection holding the store's write lock. */
static sqlite3 *hold_lock(const char *path)
{
	sqlite3 *lock;
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	return lock;
}

static void release_lock(sqlite3 *lock)
{
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
}

static void assert_stored(const char *path, long long n)
{
	sqlite3 *db = peek_open(path);
	assert_int_equal(peek_int(db, "SELECT count(*) FROM alerts"), n);
	sqlite3_close(db);
}

/*
 * Another process holds the store's write lock: alerts wait in the queue
 * (store_put still succeeds), the failure is reported once, and once the
 * lock is gone they are all written.
 */
static void test_store_busy_queues(void **state)
{
	(void)state;
	const char *path = tpath("busy.db");
	char err[256], text[2048];
	struct store_cfg cfg = {.retention_days = 0, .max_alerts = 0,
				.commit_ms = 0, .lock_wait_s = 0, .live = true};
	struct store *s = store_open(path, &cfg, err, sizeof(err));
	assert_non_null(s);
	sqlite3 *lock = hold_lock(path);
	int r[3];
	CAPTURE_STDERR(text, sizeof(text), {
		for (int i = 0; i < 3; i++) {
			struct alert a = nth_alert(i, TS_RAISED);
			r[i] = store_put(s, &a, "{}", 2, TS_RAISED);
		}
		assert_int_equal(store_flush(s, TS_RAISED), 0);
	});
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(count_lines(text), 1);
	assert_contains(text, "busy.db: cannot write (database is locked); "
			      "alerts wait in memory");
	uint64_t stored, pending, lost;
	store_counts(s, &stored, &pending, &lost);
	assert_int_equal(stored, 0);
	assert_int_equal(pending, 3);
	assert_int_equal(lost, 0);

	release_lock(lock);
	int rc;
	CAPTURE_STDERR(text, sizeof(text), rc = store_close(s));
	assert_int_equal(rc, 0);
	assert_contains(text, "busy.db: writing again after ");
	assert_contains(text, "(3 waiting alerts stored)");
	assert_stored(path, 3);
}

/*
 * A lock held past lock_wait_s at close, and a full queue: every alert
 * not stored is counted and named, and store_close fails.
 */
static void test_store_lost_named(void **state)
{
	(void)state;
	const char *path = tpath("lost.db");
	char err[256], text[2048];
	struct store_cfg cfg = {.commit_ms = 0, .queue_max = 2,
				.lock_wait_s = 1, .live = true};
	struct store *s = store_open(path, &cfg, err, sizeof(err));
	assert_non_null(s);
	sqlite3 *lock = hold_lock(path);
	int r[3], rc;
	CAPTURE_STDERR(text, sizeof(text), {
		for (int i = 0; i < 3; i++) {
			struct alert a = nth_alert(i, TS_RAISED + (uint64_t)i * 1000000);
			r[i] = store_put(s, &a, "{}", 2, TS_RAISED);
		}
		rc = store_close(s);
	});
	assert_int_equal(r[0], 0);
	assert_int_equal(r[1], 0);
	assert_int_equal(r[2], -1); /* the queue holds 2 */
	assert_int_equal(rc, -1);
	assert_contains(text, "lost.db: the queue of alerts waiting for the "
			      "store is full: new alerts are lost");
	assert_contains(text, "waiting up to 1 s for the lock to store 2 "
			      "alerts");
	/* the range spans the queued alerts and the refused one */
	assert_contains(text, "lost.db: 3 alerts NOT stored, raised "
			      "2022-09-05T15:30:06.250113+08:00 to "
			      "2022-09-05T15:30:08.250113+08:00 (0 stored): "
			      "database is locked; 1 refused earlier (queue "
			      "full or out of memory)");
	release_lock(lock);
	assert_stored(path, 0);
}

/* A store that is read-only to the process, or damaged, fails at open. */
static void test_store_refused_at_open(void **state)
{
	(void)state;
	const char *path = tpath("ro.db");
	char err[512];
	struct store *s = store_open(path, NULL, err, sizeof(err));
	assert_non_null(s);
	struct alert a = nth_alert(0, TS_RAISED);
	put(s, &a, TS_RAISED);
	assert_int_equal(store_close(s), 0);

	/* read-only: opened through SQLite's read-only URI parameter, as a
	 * file the process may not write is opened */
	char uri[600];
	snprintf(uri, sizeof(uri), "file:%s?mode=ro", path);
	s = store_open(uri, NULL, err, sizeof(err));
	assert_null(s);
	assert_contains(err, "the alert store is read-only to this process");

	/* damaged: a page of the table overwritten */
	s = store_open(path, NULL, err, sizeof(err));
	assert_non_null(s);
	for (int i = 1; i < 200; i++) {
		a = nth_alert(i, TS_RAISED + (uint64_t)i);
		put(s, &a, TS_RAISED);
	}
	assert_int_equal(store_close(s), 0);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	char junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(fseek(f, 4096 * 3, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	s = store_open(path, NULL, err, sizeof(err));
	assert_null(s);
	assert_contains(err, "the alert store is damaged (");
	assert_contains(err, "recover it with sqlite3's .recover");
}

/* ---- `mqttids alerts` ---- */

/* A store with 3 alerts an hour apart, around the current time. */
static const char *cli_store(uint64_t *now_out)
{
	const char *path = tpath("cli.db");
	char err[256];
	struct timespec tsp;
	clock_gettime(CLOCK_REALTIME, &tsp);
	uint64_t now = (uint64_t)tsp.tv_sec * 1000000;
	struct store *s = store_open(path, NULL, err, sizeof(err));
	assert_non_null(s);
	/* uuids: aaaaaa01..., aaaaaa02..., bbbbbb03... */
	static const char *const uuids[] = {
		"aaaaaa01000000000000000000000000",
		"aaaaaa02000000000000000000000000",
		"bbbbbb03000000000000000000000000",
	};
	static const char *const names[] = {
		"Access to protected topic", "Denial of Service",
		"Brute \x1b[31m Force",
	};
	static const uint8_t prios[] = {4, 3, 1};
	for (int i = 0; i < 3; i++) {
		struct alert a = fig16_alert();
		strcpy(a.uuid, uuids[i]);
		a.ts_us = now - (uint64_t)(3 - i) * 3600 * 1000000;
		a.first_us = a.ts_us;
		a.classification = names[i];
		a.priority = prios[i];
		a.total = (uint64_t)i + 1;
		put(s, &a, now);
	}
	store_close(s);
	*now_out = now;
	return path;
}

static void test_cli_list(void **state)
{
	(void)state;
	uint64_t now;
	const char *db = cli_store(&now);
	struct run r = run_alerts("list", "--db", db, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 4);
	assert_true(!strncmp(r.out, "Date/Time", 9));
	assert_contains(r.out, "Priority");
	assert_contains(r.out, "Classification");
	assert_contains(r.out, "UUID");
	/* Newest first; the hostile name is escaped. */
	char *b = strstr(r.out, "bbbbbb03"), *a2 = strstr(r.out, "aaaaaa02"),
	     *a1 = strstr(r.out, "aaaaaa01");
	assert_true(b && a2 && a1 && b < a2 && a2 < a1);
	assert_null(strchr(r.out, '\033'));
	assert_contains(r.out, "Brute \\x1B[31m Force");
	assert_contains(r.out, "Critical");
	assert_contains(r.out, " no ");
	/* The seed panel's time: "31 Aug 2022 17:31:15 (+08:00)". */
	struct timefmt tf;
	char iso[48];
	timefmt_init(&tf);
	timefmt_format_iso(&tf, now - 3600ull * 1000000, iso, sizeof(iso));
	assert_contains(r.out, "(+08:00)");
	run_free(&r);

	r = run_alerts("list", "--db", db, "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 3);
	char *line = strtok(r.out, "\n");
	cJSON *j = cJSON_Parse(line);
	assert_non_null(j);
	assert_string_equal(gets_(j, "uuid"), "bbbbbb03000000000000000000000000");
	assert_string_equal(gets_(j, "priority"), "Low");
	cJSON_Delete(j);
	run_free(&r);

	r = run_alerts("list", "--db", db, "--min-priority", "high", "--json",
		       NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 2);
	run_free(&r);
	r = run_alerts("list", "--db", db, "--min-priority=4", "--json", NULL);
	assert_int_equal(count_lines(r.out), 1);
	assert_contains(r.out, "aaaaaa01");
	run_free(&r);
	r = run_alerts("list", "--db", db, "--limit", "1", "--json", NULL);
	assert_int_equal(count_lines(r.out), 1);
	assert_contains(r.out, "bbbbbb03");
	run_free(&r);
	r = run_alerts("list", "--db", db, "--since", "-150m", "--json", NULL);
	assert_int_equal(count_lines(r.out), 2);
	run_free(&r);
	r = run_alerts("list", "--db", db, "--since", "-1d", "--json", NULL);
	assert_int_equal(count_lines(r.out), 3);
	run_free(&r);
	/* An ISO time with an offset: an hour and a half ago. */
	time_t since = (time_t)(now / 1000000) - 5400;
	struct tm tm;
	gmtime_r(&since, &tm);
	char when[40];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	r = run_alerts("list", "--db", db, "--since", when, "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 1);
	assert_contains(r.out, "bbbbbb03");
	run_free(&r);
	r = run_alerts("list", "--db", db, "--since", "2000-01-01", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 4);
	run_free(&r);

	/* MQTTIDS_DB is the default store. */
	setenv("MQTTIDS_DB", db, 1);
	r = run_alerts("list", "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 3);
	run_free(&r);
	unsetenv("MQTTIDS_DB");
}

static void test_cli_show(void **state)
{
	(void)state;
	uint64_t now;
	const char *db = cli_store(&now);
	struct run r = run_alerts("show", "AAAAAA02", "--db", db, NULL);
	assert_int_equal(r.rc, 0);
	assert_true(count_lines(r.out) > 10); /* pretty-printed */
	cJSON *j = cJSON_Parse(r.out);
	assert_non_null(j);
	ASSERT_KEYS(j, "uuid", "datetime", "classification", "priority", "src",
		    "rule_raw", "metadata");
	assert_string_equal(gets_(j, "classification"), "Denial of Service");
	cJSON_Delete(j);
	run_free(&r);

	r = run_alerts("show", "--eve", "--db", db,
		       "bbbbbb03000000000000000000000000", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 1);
	j = cJSON_Parse(r.out);
	assert_non_null(j);
	assert_string_equal(gets_(j, "event_type"), "alert");
	cJSON_Delete(j);
	run_free(&r);

	/* Ambiguous, unknown, too short, not hex. */
	r = run_alerts("show", "aaaaaa", "--db", db, NULL);
	assert_int_equal(r.rc, 1);
	assert_contains(r.err, "more than one");
	assert_string_equal(r.out, "");
	run_free(&r);
	r = run_alerts("show", "cccccc", "--db", db, NULL);
	assert_int_equal(r.rc, 1);
	assert_contains(r.err, "no alert");
	run_free(&r);
	r = run_alerts("show", "bbbbb", "--db", db, NULL);
	assert_int_equal(r.rc, 1);
	run_free(&r);
	r = run_alerts("show", "bbbbbb*", "--db", db, NULL);
	assert_int_equal(r.rc, 1);
	run_free(&r);
}

static void test_cli_ack(void **state)
{
	(void)state;
	uint64_t now;
	const char *db = cli_store(&now);
	struct run r = run_alerts("ack", "aaaaaa01", "bbbbbb", "--by", "alice",
				  "--db", db, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "acknowledged 2 alerts\n");
	run_free(&r);
	sqlite3 *pdb = peek_open(db);
	assert_int_equal(peek_int(pdb, "SELECT count(*) FROM alerts WHERE "
				       "acknowledged=1 AND ack_by='alice' AND "
				       "ack_ts LIKE '____-__-__T__:__:__.______+08:00'"),
			 2);
	sqlite3_close(pdb);

	r = run_alerts("list", "--db", db, "--unacked", "--json", NULL);
	assert_int_equal(count_lines(r.out), 1);
	assert_contains(r.out, "aaaaaa02");
	run_free(&r);
	r = run_alerts("list", "--db", db, NULL);
	assert_contains(r.out, " yes ");
	run_free(&r);

	/* Again: already acknowledged, nothing changes. */
	r = run_alerts("ack", "aaaaaa01", "--db", db, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "acknowledged 0 alerts\n");
	run_free(&r);

	/* One unknown uuid: nothing is acknowledged. */
	r = run_alerts("ack", "aaaaaa02", "cccccc", "--db", db, NULL);
	assert_int_equal(r.rc, 1);
	run_free(&r);
	r = run_alerts("list", "--db", db, "--unacked", "--json", NULL);
	assert_int_equal(count_lines(r.out), 1);
	run_free(&r);

	r = run_alerts("unack", "bbbbbb03", "--db", db, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "unacknowledged 1 alert\n");
	run_free(&r);
	pdb = peek_open(db);
	assert_int_equal(peek_int(pdb, "SELECT count(*) FROM alerts WHERE "
				       "uuid LIKE 'bbbbbb%' AND acknowledged=0 "
				       "AND ack_ts IS NULL AND ack_by IS NULL"),
			 1);
	sqlite3_close(pdb);

	setenv("USER", "bob", 1);
	r = run_alerts("ack", "--all", "--db", db, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "acknowledged 2 alerts\n");
	run_free(&r);
	pdb = peek_open(db);
	assert_int_equal(peek_int(pdb, "SELECT count(*) FROM alerts WHERE "
				       "ack_by='bob'"),
			 2);
	sqlite3_close(pdb);
	r = run_alerts("list", "--db", db, "--unacked", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "no alerts\n");
	run_free(&r);
	r = run_alerts("unack", "--all", "--db", db, NULL);
	assert_string_equal(r.out, "unacknowledged 3 alerts\n");
	run_free(&r);
}

static void test_cli_errors_and_usage(void **state)
{
	(void)state;
	const char *missing = tpath("missing.db");
	struct run r = run_alerts("list", "--db", missing, NULL);
	assert_int_equal(r.rc, 1);
	assert_contains(r.err, "missing.db");
	run_free(&r);
	struct stat st;
	assert_int_equal(stat(missing, &st), -1); /* not created */
	r = run_alerts("ack", "--all", "--db", missing, NULL);
	assert_int_equal(r.rc, 1);
	run_free(&r);
	r = run_alerts("show", "aaaaaa", "--db", missing, NULL);
	assert_int_equal(r.rc, 1);
	run_free(&r);
	assert_int_equal(stat(missing, &st), -1);

	/* Not an alert store. */
	const char *junk = tpath("junk.db");
	FILE *fp = fopen(junk, "w");
	fputs("this is not sqlite at all, just some text\n", fp);
	fclose(fp);
	r = run_alerts("list", "--db", junk, NULL);
	assert_int_equal(r.rc, 1);
	run_free(&r);

	uint64_t now;
	const char *db = cli_store(&now);
	static const char *const bad[][4] = {
		{"frobnicate", NULL},
		{"list", "--eve", NULL},
		{"list", "--limit", "x", NULL},
		{"list", "--limit", NULL},
		{"list", "--since", "yesterday", NULL},
		{"list", "--since", "2022-13-01", NULL},
		{"list", "--min-priority", "7", NULL},
		{"list", "extra", NULL},
		{"show", NULL},
		{"ack", NULL},
		{"ack", "--all", "aaaaaa01", NULL},
		{"unack", "--by", "x", "aaaaaa01"},
		{"list", "--json=1", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = run_alerts(bad[i][0], bad[i][0] ? bad[i][1] : NULL,
			       bad[i][1] ? bad[i][2] : NULL,
			       bad[i][1] && bad[i][2] ? bad[i][3] : NULL, NULL);
		if (r.rc != 2)
			fail_msg("case %zu (%s %s): rc %d", i, bad[i][0],
				 bad[i][1] ? bad[i][1] : "", r.rc);
		assert_true(strlen(r.err) > 0);
		run_free(&r);
	}
	r = run_alerts(NULL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	r = run_alerts("--help", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "usage: mqttids alerts list");
	run_free(&r);
	r = run_alerts("list", "-h", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	(void)db;
}

/* The CLI reads a store that the engine still has open (WAL readers). */
static void test_cli_reads_open_store(void **state)
{
	(void)state;
	const char *path = tpath("live.db");
	char err[256];
	struct store *s = store_open(path, NULL, err, sizeof(err));
	assert_non_null(s);
	struct alert a = nth_alert(0, TS_RAISED);
	put(s, &a, TS_RAISED);
	store_flush(s, TS_RAISED);
	struct run r = run_alerts("list", "--db", path, "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 1);
	run_free(&r);
	r = run_alerts("ack", "a1e70000", "--db", path, NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	a = nth_alert(1, TS_RAISED + 1);
	put(s, &a, TS_RAISED);
	store_close(s);
	r = run_alerts("list", "--db", path, "--unacked", "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(count_lines(r.out), 1);
	assert_contains(r.out, "a1e70001");
	run_free(&r);
}

int main(void)
{
	/* A fixed +08:00 zone (POSIX form, no tzdata needed), as the seed. */
	setenv("TZ", "<+08>-8", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eve_alert_record),
		cmocka_unit_test(test_seed_json_matches_fig16),
		cmocka_unit_test(test_eve_without_flow_and_update),
		cmocka_unit_test(test_eve_severity_and_priority_names),
		cmocka_unit_test(test_eve_hostile_strings),
		cmocka_unit_test(test_timefmt_iso),
		cmocka_unit_test(test_console_line),
		cmocka_unit_test(test_console_update),
		cmocka_unit_test(test_console_color),
		cmocka_unit_test(test_console_hostile_and_bounded),
		cmocka_unit_test(test_console_escape),
		cmocka_unit_test_setup_teardown(test_store_put_update_dedup,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_store_batches,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_store_retention,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_store_open_errors,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_store_busy_queues,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_store_lost_named,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_store_refused_at_open,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_cli_list, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_cli_show, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_cli_ack, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_cli_errors_and_usage,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_cli_reads_open_store,
						setup_tmpdir, teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
