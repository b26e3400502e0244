/* test_sensor_inventory.c - unit tests for the device inventory: learning, detection, files, export, state (sensor/sensor_inventory.c). */
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkstemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensor/sensor.h"
#include "sensor/sensor_inventory.h"
#include "util/ktable.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define T0 S(1700000000) /* 2023-11-14T22:13:20Z */

#define KITCHEN_MAC "24:0a:c4:00:00:01"
#define GARAGE_MAC "5c:cf:7f:00:00:02"
#define PWN_MAC "02:42:ac:11:00:02"
#define GW_MAC "b8:27:eb:00:00:fe"

/* ---- a recording report sink ---- */

#define REC_MAX 64

struct irep {
	char event[40], layer[16], detail[400], meta[2048];
	const struct det_event *base;
};

static struct irep reps[REC_MAX];
static unsigned n_reps;

static void rec_report(void *ud, const struct sensor_report *r)
{
	(void)ud;
	assert_true(n_reps < REC_MAX);
	struct irep *x = &reps[n_reps++];
	snprintf(x->event, sizeof(x->event), "%s", r->event);
	snprintf(x->layer, sizeof(x->layer), "%s", r->layer);
	snprintf(x->detail, sizeof(x->detail), "%s", r->detail ? r->detail : "");
	snprintf(x->meta, sizeof(x->meta), "%.*s", (int)r->meta_len, r->meta ? r->meta : "");
	x->base = r->base;
}

/* The recorded event names, space separated. */
static const char *events(void)
{
	static char buf[1024];
	buf[0] = 0;
	for (unsigned i = 0; i < n_reps; i++) {
		size_t n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", reps[i].event);
	}
	return buf;
}

/* ---- detector harness ---- */

static char *log_buf;
static size_t log_len;
static FILE *log_fp;

struct h {
	void *st;
	struct sensor_env env;
};

static int h_open(struct h *h, const char *cfg_json)
{
	n_reps = 0;
	free(log_buf);
	log_buf = NULL;
	log_fp = open_memstream(&log_buf, &log_len);
	assert_non_null(log_fp);
	memset(h, 0, sizeof(*h));
	h->env.report = rec_report;
	h->env.log = log_fp;
	cJSON *cfg = cfg_json ? cJSON_Parse(cfg_json) : NULL;
	if (cfg_json)
		assert_non_null(cfg);
	int rc = sensor_inventory_detector.init(&h->env, cfg, &h->st);
	cJSON_Delete(cfg);
	fflush(log_fp);
	return rc;
}

static const char *log_text(void)
{
	fflush(log_fp);
	return log_buf ? log_buf : "";
}

static void h_close(struct h *h)
{
	sensor_inventory_detector.free(h->st);
	h->st = NULL;
	fclose(log_fp);
	log_fp = NULL;
}

static struct inventory_stats stats(const struct h *h)
{
	struct inventory_stats st;
	inventory_get_stats(h->st, &st);
	return st;
}

/* One message as the host would hand it over. */
struct tmsg {
	struct det_event ev;
	struct mqtt_msg mm;
	struct sensor_msg m;
};

static void parse_mac_text(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	assert_int_equal(sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]), 6);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
}

/*
 * type: MQTT_CONNECT takes the client id and username from the message
 * (wire_cid, user), anything else the session's (sess_cid). ip/mac may
 * be NULL.
 */
static void mk(struct tmsg *t, uint64_t ts, uint8_t type, const char *cid, const char *user,
	       const char *ip, const char *mac)
{
	memset(t, 0, sizeof(*t));
	t->ev.kind = DET_MQTT;
	t->ev.ts_us = ts;
	t->ev.msg = &t->mm;
	t->mm.type = type;
	t->m.ev = &t->ev;
	t->m.m = &t->mm;
	t->m.ts_us = ts;
	t->m.from_client = true;
	if (type == MQTT_CONNECT) {
		t->mm.client_id.p = (const uint8_t *)cid;
		t->mm.client_id.len = cid ? strlen(cid) : 0;
		if (user) {
			t->mm.has_username = true;
			t->mm.username.p = (const uint8_t *)user;
			t->mm.username.len = strlen(user);
		}
		t->m.client_id = "";
		t->m.username = "";
	} else {
		t->m.client_id = cid ? cid : "";
		t->m.username = user ? user : "";
	}
	if (ip) {
		if (inet_pton(AF_INET, ip, t->m.client.a) == 1)
			t->m.client.family = 4;
		else if (inet_pton(AF_INET6, ip, t->m.client.a) == 1)
			t->m.client.family = 6;
		else
			fail_msg("bad test address %s", ip);
		snprintf(t->m.client.str, sizeof(t->m.client.str), "%s", ip);
	}
	if (mac) {
		t->m.client.has_mac = true;
		parse_mac_text(mac, t->m.client.mac);
	}
}

static void feed(struct h *h, uint64_t ts, uint8_t type, const char *cid, const char *user,
		 const char *ip, const char *mac)
{
	struct tmsg t;
	mk(&t, ts, type, cid, user, ip, mac);
	sensor_inventory_detector.on_msg(h->st, &t.m);
}

static void conn(struct h *h, uint64_t ts, const char *cid, const char *ip, const char *mac)
{
	feed(h, ts, MQTT_CONNECT, cid, "sensor", ip, mac);
}

static void publish(struct h *h, uint64_t ts, const char *cid, const char *ip, const char *mac)
{
	feed(h, ts, MQTT_PUBLISH, cid, "", ip, mac);
}

/* The inventory in a format, as a malloc'd string. */
static char *export(struct h *h, const char *format)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	assert_int_equal(inventory_write(h->st, fp, format), 0);
	fclose(fp);
	return buf;
}

static char tmp_path[64];

static const char *write_tmp(const char *text, size_t n)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_inventory_XXXXXX");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return tmp_path;
}

/* The two sensors learned during the first minute (learn: 60). */
static void learn_two(struct h *h)
{
	assert_int_equal(h_open(h, "{\"learn\":\"60\"}"), 0);
	conn(h, T0, "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	publish(h, T0 + S(1), "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	conn(h, T0 + S(2), "nodemcu-garage", "10.77.0.12", GARAGE_MAC);
	publish(h, T0 + S(50), "nodemcu-garage", "10.77.0.12", GARAGE_MAC);
	assert_int_equal(n_reps, 0);
	assert_int_equal(stats(h).devices, 2);
}

/* ---- learning and detection ---- */

static void test_learn_then_new_device(void **state)
{
	(void)state;
	struct h h;
	learn_two(&h);
	/* Known devices after the learning period: silence. */
	conn(&h, T0 + S(100), "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	publish(&h, T0 + S(101), "nodemcu-garage", "10.77.0.12", GARAGE_MAC);
	assert_int_equal(n_reps, 0);

	/* A new device: one event per new attribute, in a fixed order. */
	struct tmsg t;
	mk(&t, T0 + S(120), MQTT_CONNECT, "mqtt-pwn-1", NULL, "10.77.99.66", PWN_MAC);
	sensor_inventory_detector.on_msg(h.st, &t.m);
	assert_string_equal(events(), "new_mac new_ip new_client_id");
	for (unsigned i = 0; i < 3; i++) {
		assert_string_equal(reps[i].layer, "inventory");
		assert_ptr_equal(reps[i].base, &t.ev);
		assert_string_equal(reps[i].meta, "\"mac\":\"" PWN_MAC "\",\"ip\":\"10.77.99.66\","
						  "\"client_id\":\"mqtt-pwn-1\"");
	}
	assert_string_equal(reps[0].detail, "new MAC " PWN_MAC " at 10.77.99.66 client id mqtt-pwn-1");
	assert_string_equal(reps[1].detail, "new device 10.77.99.66 (" PWN_MAC ") client id mqtt-pwn-1");
	assert_string_equal(reps[2].detail, "new client id mqtt-pwn-1 from 10.77.99.66 (" PWN_MAC ")");

	/* Reported once: it is known now. */
	n_reps = 0;
	conn(&h, T0 + S(130), "mqtt-pwn-1", "10.77.99.66", PWN_MAC);
	publish(&h, T0 + S(131), "mqtt-pwn-1", "10.77.99.66", PWN_MAC);
	assert_int_equal(n_reps, 0);
	/* The next client id from the same machine is the only new thing. */
	conn(&h, T0 + S(140), "mqtt-pwn-2", "10.77.99.66", PWN_MAC);
	assert_string_equal(events(), "new_client_id");
	assert_string_equal(reps[0].meta, "\"mac\":\"" PWN_MAC "\",\"ip\":\"10.77.99.66\","
					  "\"client_id\":\"mqtt-pwn-2\",\"username\":\"sensor\"");
	struct inventory_stats st = stats(&h);
	assert_int_equal(st.devices, 4);
	assert_int_equal(st.reports, 4);
	h_close(&h);
}

static void test_known_client_id_new_address(void **state)
{
	(void)state;
	struct h h;
	learn_two(&h);
	/* The spoof attack: the victim's client id from the attacker's laptop. */
	conn(&h, T0 + S(200), "esp32-kitchen", "10.77.99.66", PWN_MAC);
	assert_string_equal(events(), "new_mac new_ip client_id_new_address");
	assert_string_equal(reps[2].meta,
			    "\"mac\":\"" PWN_MAC "\",\"ip\":\"10.77.99.66\",\"client_id\":"
			    "\"esp32-kitchen\",\"username\":\"sensor\",\"known_addresses\":[\"10.77.0.11\"]");
	assert_string_equal(reps[2].detail, "known client id esp32-kitchen from new address 10.77.99.66 ("
					    PWN_MAC ") (known at 10.77.0.11)");
	n_reps = 0;
	publish(&h, T0 + S(201), "esp32-kitchen", "10.77.99.66", PWN_MAC);
	conn(&h, T0 + S(300), "esp32-kitchen", "10.77.99.66", PWN_MAC);
	assert_int_equal(n_reps, 0);
	/* From a known address of another device: only the binding is new
	 * (known addresses: the most recently added first). */
	conn(&h, T0 + S(400), "esp32-kitchen", "10.77.0.12", GARAGE_MAC);
	assert_string_equal(events(), "client_id_new_address");
	assert_string_equal(reps[0].meta,
			    "\"mac\":\"" GARAGE_MAC "\",\"ip\":\"10.77.0.12\",\"client_id\":"
			    "\"esp32-kitchen\",\"username\":\"sensor\",\"known_addresses\":"
			    "[\"10.77.99.66\",\"10.77.0.11\"]");
	h_close(&h);
}

static void test_ip_with_new_mac(void **state)
{
	(void)state;
	struct h h;
	learn_two(&h);
	/* ARP spoofing: the kitchen sensor's address behind another MAC. */
	conn(&h, T0 + S(200), "esp32-kitchen", "10.77.0.11", PWN_MAC);
	assert_string_equal(events(), "new_mac mac_ip_changed");
	assert_string_equal(reps[1].meta, "\"mac\":\"" PWN_MAC "\",\"ip\":\"10.77.0.11\",\"client_id\":"
					  "\"esp32-kitchen\",\"username\":\"sensor\",\"previous_mac\":\"" KITCHEN_MAC "\"");
	assert_string_equal(reps[1].detail, "known address 10.77.0.11 now at MAC " PWN_MAC
					    ", was " KITCHEN_MAC " client id esp32-kitchen");
	/* Known now; switching back and forth is not news. */
	n_reps = 0;
	publish(&h, T0 + S(201), "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	publish(&h, T0 + S(202), "esp32-kitchen", "10.77.0.11", PWN_MAC);
	assert_int_equal(n_reps, 0);
	/* A known MAC at a new address (a DHCP renewal) is only a new IP. */
	conn(&h, T0 + S(300), "nodemcu-garage", "10.77.0.42", GARAGE_MAC);
	assert_string_equal(events(), "new_ip client_id_new_address");
	h_close(&h);
}

static void gateway_run(const char *mac_mode, const char *want_after)
{
	struct h h;
	char cfg[96];
	snprintf(cfg, sizeof(cfg), "{\"learn\":\"60\",\"mac\":\"%s\"}", mac_mode);
	assert_int_equal(h_open(&h, cfg), 0);
	conn(&h, T0, "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	/* Five remote clients behind one router MAC during learning. */
	for (int i = 1; i <= 5; i++) {
		char ip[32], cid[32];
		snprintf(ip, sizeof(ip), "192.168.7.%d", i);
		snprintf(cid, sizeof(cid), "remote-%d", i);
		conn(&h, T0 + S(i), cid, ip, GW_MAC);
	}
	assert_int_equal(n_reps, 0);
	assert_int_equal(stats(&h).gateways, !strcmp(mac_mode, "auto") ? 1 : 0);
	/* The kitchen sensor now reaches us through the router, and a new one. */
	conn(&h, T0 + S(100), "esp32-kitchen", "10.77.0.11", GW_MAC);
	conn(&h, T0 + S(101), "remote-6", "192.168.7.6", GW_MAC);
	assert_string_equal(events(), want_after);
	h_close(&h);
}

static void test_gateway_mac(void **state)
{
	(void)state;
	/* auto: the router's MAC no longer says anything about addresses. */
	gateway_run("auto", "new_ip new_client_id");
	/* yes: every MAC counts. */
	gateway_run("yes", "mac_ip_changed new_ip new_client_id");
	/* no: MACs are ignored altogether. */
	gateway_run("no", "new_ip new_client_id");
}

static void test_gateway_meta_has_no_mac(void **state)
{
	(void)state;
	struct h h;
	assert_int_equal(h_open(&h, "{\"learn\":\"60\"}"), 0);
	for (int i = 1; i <= 5; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "192.168.7.%d", i);
		conn(&h, T0 + S(i), "r", ip, GW_MAC);
	}
	/* Rows from before the MAC was a gateway still match, without new rows. */
	uint32_t rows = stats(&h).devices;
	publish(&h, T0 + S(100), "r", "192.168.7.1", GW_MAC);
	assert_int_equal(stats(&h).devices, rows);
	conn(&h, T0 + S(101), "x", "192.168.7.9", GW_MAC);
	assert_string_equal(events(), "new_ip new_client_id");
	assert_string_equal(reps[0].meta, "\"ip\":\"192.168.7.9\",\"client_id\":\"x\",\"username\":\"sensor\"");
	assert_string_equal(reps[0].detail, "new device 192.168.7.9 client id x");
	h_close(&h);
}

static void test_midstream(void **state)
{
	(void)state;
	struct h h;
	assert_int_equal(h_open(&h, "{\"learn\":\"60\"}"), 0);
	/* A stream picked up midway: no CONNECT, no client id. */
	publish(&h, T0, NULL, "10.77.0.11", KITCHEN_MAC);
	assert_int_equal(stats(&h).devices, 1);
	/* Its CONNECT later fills in the client id (no second row). */
	conn(&h, T0 + S(10), "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	assert_int_equal(stats(&h).devices, 1);
	n_reps = 0;
	/* After learning: midstream messages of the known device are known. */
	publish(&h, T0 + S(100), NULL, "10.77.0.11", KITCHEN_MAC);
	publish(&h, T0 + S(101), "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	feed(&h, T0 + S(102), MQTT_PINGREQ, "esp32-kitchen", "", "10.77.0.11", KITCHEN_MAC);
	assert_int_equal(n_reps, 0);
	/* An unknown device midstream: what can be known is new. */
	publish(&h, T0 + S(110), NULL, "10.77.0.13", GARAGE_MAC);
	assert_string_equal(events(), "new_mac new_ip");
	assert_string_equal(reps[1].meta, "\"mac\":\"" GARAGE_MAC "\",\"ip\":\"10.77.0.13\"");
	assert_string_equal(reps[1].detail, "new device 10.77.0.13 (" GARAGE_MAC ")");
	n_reps = 0;
	publish(&h, T0 + S(111), NULL, "10.77.0.13", GARAGE_MAC);
	assert_int_equal(n_reps, 0);
	/* Its session's client id (seen by the session layer) is new too. */
	publish(&h, T0 + S(112), "nodemcu-x", "10.77.0.13", GARAGE_MAC);
	assert_string_equal(events(), "new_client_id");
	assert_int_equal(stats(&h).devices, 2);
	/* Messages from the broker side say nothing about the client. */
	n_reps = 0;
	struct tmsg t;
	mk(&t, T0 + S(120), MQTT_CONNACK, "evil", NULL, "10.9.9.9", PWN_MAC);
	t.m.from_client = false;
	sensor_inventory_detector.on_msg(h.st, &t.m);
	/* Nor does a message with neither an address nor a client id. */
	publish(&h, T0 + S(121), NULL, NULL, NULL);
	assert_int_equal(n_reps, 0);
	assert_int_equal(stats(&h).devices, 2);
	h_close(&h);
}

static void test_hostile_wire_strings(void **state)
{
	(void)state;
	struct h h;
	assert_int_equal(h_open(&h, "{\"learn\":\"0\"}"), 0);
	char big[300];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[0] = (char)0xff; /* not UTF-8 */
	big[1] = '\n';
	conn(&h, T0, big, "fe80::1", NULL);
	assert_string_equal(events(), "new_ip new_client_id");
	/* Bounded copy: 128 bytes; meta escapes what is not UTF-8. */
	char want[512];
	snprintf(want, sizeof(want), "\"ip\":\"fe80::1\",\"client_id\":\"\\\\xFF\\n%.126s\",\"username\":\"sensor\"", big + 2);
	assert_string_equal(reps[1].meta, want);
	/* The detail stays printable and short. */
	for (const char *p = reps[1].detail; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_true(strlen(reps[1].detail) < 140);
	assert_non_null(strstr(reps[1].detail, "new client id ??AAAA"));
	/* The same client id sent again (cut the same way) is known. */
	n_reps = 0;
	conn(&h, T0 + S(1), big, "fe80::1", NULL);
	assert_int_equal(n_reps, 0);
	/* A NUL inside a client id ends it. */
	struct tmsg t;
	static const char nul_cid[] = "abc\0def";
	mk(&t, T0 + S(2), MQTT_CONNECT, "x", NULL, "fe80::1", NULL);
	t.mm.client_id.p = (const uint8_t *)nul_cid;
	t.mm.client_id.len = sizeof(nul_cid) - 1;
	sensor_inventory_detector.on_msg(h.st, &t.m);
	assert_string_equal(events(), "new_client_id");
	assert_non_null(strstr(reps[0].meta, "\"client_id\":\"abc\""));
	h_close(&h);
}

/* ---- the known-devices file ---- */

static void test_file_good(void **state)
{
	(void)state;
	static const char file[] =
		"[\n"
		"  {\"mac\": \"24:0A:C4:00:00:01\", \"ip\": \"10.77.0.11\", \"client_id\": \"esp32-kitchen\",\n"
		"   \"username\": \"sensor\", \"name\": \"Kitchen\", \"first_seen\": \"2023-11-01T08:00:00Z\"},\n"
		"  {\"mac\": \"5c-cf-7f-00-00-02\", \"ip\": \"10.77.0.12\", \"client_id\": \"nodemcu-garage\",\n"
		"   \"first_seen\": 1698825600, \"last_seen\": \"2023-11-02T00:00:00.5+00:00\"},\n"
		"  {\"client_id\": \"dashboard\"},\n"
		"  {\"ip\": \"2001:db8::5\"}\n"
		"]\n";
	const char *path = write_tmp(file, sizeof(file) - 1);
	struct h h;
	char cfg[128];
	snprintf(cfg, sizeof(cfg), "{\"file\":\"%s\"}", path);
	assert_int_equal(h_open(&h, cfg), 0);
	assert_string_equal(log_text(), "");
	assert_int_equal(stats(&h).devices, 4);
	/* With a file, learning is off by default: detection from the start. */
	conn(&h, T0, "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	conn(&h, T0 + 1, "dashboard", "10.77.0.5", NULL);
	/* A client id the file names without an address may come from anywhere. */
	assert_string_equal(events(), "new_ip");
	n_reps = 0;
	conn(&h, T0 + 2, "nodemcu-garage", "10.77.0.12", GARAGE_MAC);
	assert_int_equal(n_reps, 0);
	conn(&h, T0 + 3, "mqtt-pwn-1", "10.77.99.66", PWN_MAC);
	assert_string_equal(events(), "new_mac new_ip new_client_id");

	char *csv = export(&h, "csv");
	assert_non_null(strstr(csv, KITCHEN_MAC ",10.77.0.11,esp32-kitchen,sensor,Kitchen,"
					     "2023-11-01T08:00:00.000000Z,2023-11-14T22:13:20.000000Z,true\r\n"));
	assert_non_null(strstr(csv, GARAGE_MAC ",10.77.0.12,nodemcu-garage,sensor,,"
					    "2023-11-01T08:00:00.000000Z,2023-11-14T22:13:20.000002Z,true\r\n"));
	free(csv);
	h_close(&h);
	unlink(path);
}

static void test_file_bad_entries(void **state)
{
	(void)state;
	char huge[400];
	memset(huge, 'x', sizeof(huge));
	char file[4096];
	snprintf(file, sizeof(file),
		 "[\n"
		 "  {\"mac\": \"24:0a:c4:00:00:01\", \"ip\": \"10.77.0.11\"},\n"
		 "  \"just a string\",\n"
		 "  {\"mac\": \"24:0a:c4:00:00\"},\n"
		 "  {\"ip\": \"10.77.0.300\"},\n"
		 "  {\"name\": \"nothing to match on\"},\n"
		 "  {\"client_id\": \"%.300s\"},\n"
		 "  {\"client_id\": \"bad\xc3\x28utf8\"},\n"
		 "  {\"client_id\": 42},\n"
		 "  {\"client_id\": \"ok-1\", \"first_seen\": \"yesterday\"},\n"
		 "  {\"client_id\": \"ok-2\", \"colour\": \"blue\", \"learned\": \"maybe\"},\n"
		 "  {\"client_id\": \"ok-3\", \"first_seen\": 1e300},\n"
		 "  {\"client_id\": \"ok-4\", \"first_seen\": \"2023-02-30T00:00:00Z\"},\n"
		 "  {\"client_id\": \"ok-5\", \"first_seen\": 200, \"last_seen\": 100}\n"
		 "]\n",
		 huge);
	const char *path = write_tmp(file, strlen(file));
	struct h h;
	char cfg[128];
	snprintf(cfg, sizeof(cfg), "{\"file\":\"%s\"}", path);
	assert_int_equal(h_open(&h, cfg), 0);
	char want[4096];
	snprintf(want, sizeof(want),
		 "%1$s:3: entry 2: not an object\n"
		 "%1$s:4: entry 3: mac: '24:0a:c4:00:00' is not a MAC address (aa:bb:cc:dd:ee:ff)\n"
		 "%1$s:5: entry 4: ip: '10.77.0.300' is not an IPv4 or IPv6 address\n"
		 "%1$s:6: entry 5: needs at least one of mac, ip and client_id\n"
		 "%1$s:7: entry 6: client_id: 300 bytes, longer than the limit of 128\n"
		 "%1$s:8: entry 7: client_id: not valid UTF-8\n"
		 "%1$s:9: entry 8: client_id: expected a string\n"
		 "%1$s:10: entry 9: first_seen: expected a UTC time such as 2024-05-01T10:00:00Z or seconds since 1970\n"
		 "%1$s:11: entry 10: unknown key 'colour' ignored\n"
		 "%1$s:11: entry 10: learned: expected true or false\n"
		 "%1$s:12: entry 11: first_seen: expected a UTC time such as 2024-05-01T10:00:00Z or seconds since 1970\n"
		 "%1$s:13: entry 12: first_seen: expected a UTC time such as 2024-05-01T10:00:00Z or seconds since 1970\n"
		 "%1$s:14: entry 13: last_seen is before first_seen; using first_seen\n",
		 path);
	assert_string_equal(log_text(), want);
	/* The good ones are in: entries 1 and 13. */
	assert_int_equal(stats(&h).devices, 2);
	h_close(&h);
	unlink(path);
}

static void test_file_not_json(void **state)
{
	(void)state;
	struct h h;
	char cfg[160], want[256];
	static const char text[] = "[\n  {\"mac\": \"24:0a:c4:00:00:01\"},\n  {oops}\n]\n";
	const char *path = write_tmp(text, sizeof(text) - 1);
	snprintf(cfg, sizeof(cfg), "{\"file\":\"%s\"}", path);
	assert_int_equal(h_open(&h, cfg), -1);
	assert_null(h.st);
	snprintf(want, sizeof(want), "%s:3:5: not valid JSON (expected an array of devices)\n", path);
	assert_string_equal(log_text(), want);
	fclose(log_fp);
	unlink(path);

	static const char obj[] = "{\"mac\": \"24:0a:c4:00:00:01\"}";
	path = write_tmp(obj, sizeof(obj) - 1);
	snprintf(cfg, sizeof(cfg), "{\"file\":\"%s\"}", path);
	assert_int_equal(h_open(&h, cfg), -1);
	snprintf(want, sizeof(want), "%s:1:1: expected a JSON array of devices\n", path);
	assert_string_equal(log_text(), want);
	fclose(log_fp);
	unlink(path);

	static const char trail[] = "[] []";
	path = write_tmp(trail, sizeof(trail) - 1);
	snprintf(cfg, sizeof(cfg), "{\"file\":\"%s\"}", path);
	assert_int_equal(h_open(&h, cfg), -1);
	snprintf(want, sizeof(want), "%s:1:4: not valid JSON (expected an array of devices)\n", path);
	assert_string_equal(log_text(), want);
	fclose(log_fp);
	unlink(path);

	assert_int_equal(h_open(&h, "{\"file\":\"/nonexistent/inventory.json\"}"), -1);
	assert_string_equal(log_text(), "/nonexistent/inventory.json: cannot read the known-devices "
					"file: No such file or directory\n");
	fclose(log_fp);
}

static void test_load_buffer_hostile(void **state)
{
	(void)state;
	struct h h;
	assert_int_equal(h_open(&h, NULL), 0);
	/* Not NUL-terminated, cut in the middle. */
	static const char cut[] = "[{\"ip\":\"10.0.0.1\"},{\"ip\":\"10.0";
	assert_int_equal(inventory_load_buffer(h.st, "m", cut, sizeof(cut) - 1, log_fp), -1);
	assert_int_equal(inventory_load_buffer(h.st, "m", "", 0, log_fp), -1);
	/* Deep nesting is refused by cJSON's limit, not by the stack. */
	size_t n = 5000;
	char *deep = malloc(n * 2 + 2);
	assert_non_null(deep);
	deep[0] = '[';
	for (size_t i = 1; i < n; i++)
		deep[i] = '[';
	for (size_t i = n; i < 2 * n; i++)
		deep[i] = ']';
	assert_int_equal(inventory_load_buffer(h.st, "m", deep, 2 * n, log_fp), -1);
	free(deep);
	/* An object with "devices" is accepted (the state's shape). */
	static const char obj[] = "{\"devices\":[{\"ip\":\"10.0.0.7\"}]}";
	assert_int_equal(inventory_load_buffer(h.st, "m", obj, sizeof(obj) - 1, log_fp), 1);
	assert_int_equal(stats(&h).devices, 1);
	/* Many bad entries: a bounded number of messages, then a summary. */
	fclose(log_fp);
	free(log_buf);
	log_buf = NULL;
	log_fp = open_memstream(&log_buf, &log_len);
	char *many = malloc(100 * 4 + 8);
	strcpy(many, "[");
	for (int i = 0; i < 100; i++)
		strcat(many, i ? ",\"x\"" : "\"x\"");
	strcat(many, "]");
	assert_int_equal(inventory_load_buffer(h.st, "m", many, strlen(many), log_fp), 0);
	free(many);
	const char *lt = log_text();
	unsigned lines = 0;
	for (const char *p = lt; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 21);
	assert_non_null(strstr(lt, "m: 80 more problems not shown\n"));
	h_close(&h);
}

/* ---- output ---- */

static void test_export_formats(void **state)
{
	(void)state;
	struct h h;
	learn_two(&h);
	conn(&h, T0 + S(100), "=cmd|' /C calc'!A0", "10.77.99.66", PWN_MAC);
	char *json = export(&h, "json");
	assert_string_equal(json,
		"[\n"
		"  {\"mac\":\"24:0a:c4:00:00:01\",\"ip\":\"10.77.0.11\",\"client_id\":\"esp32-kitchen\",\"username\":\"sensor\","
		"\"first_seen\":\"2023-11-14T22:13:20.000000Z\",\"last_seen\":\"2023-11-14T22:13:21.000000Z\",\"learned\":true},\n"
		"  {\"mac\":\"5c:cf:7f:00:00:02\",\"ip\":\"10.77.0.12\",\"client_id\":\"nodemcu-garage\",\"username\":\"sensor\","
		"\"first_seen\":\"2023-11-14T22:13:22.000000Z\",\"last_seen\":\"2023-11-14T22:14:10.000000Z\",\"learned\":true},\n"
		"  {\"mac\":\"02:42:ac:11:00:02\",\"ip\":\"10.77.99.66\",\"client_id\":\"=cmd|' /C calc'!A0\",\"username\":\"sensor\","
		"\"first_seen\":\"2023-11-14T22:15:00.000000Z\",\"last_seen\":\"2023-11-14T22:15:00.000000Z\",\"learned\":false}\n"
		"]\n");
	char *csv = export(&h, "csv");
	assert_string_equal(csv,
		"mac,ip,client_id,username,name,first_seen,last_seen,learned\r\n"
		"24:0a:c4:00:00:01,10.77.0.11,esp32-kitchen,sensor,,2023-11-14T22:13:20.000000Z,2023-11-14T22:13:21.000000Z,true\r\n"
		"5c:cf:7f:00:00:02,10.77.0.12,nodemcu-garage,sensor,,2023-11-14T22:13:22.000000Z,2023-11-14T22:14:10.000000Z,true\r\n"
		"02:42:ac:11:00:02,10.77.99.66,\"'=cmd|' /C calc'!A0\",sensor,,2023-11-14T22:15:00.000000Z,2023-11-14T22:15:00.000000Z,false\r\n");
	char *table = export(&h, "table");
	assert_string_equal(table,
		"STATE    MAC                IP           CLIENT ID           USERNAME  NAME  FIRST SEEN                   LAST SEEN\n"
		"learned  24:0a:c4:00:00:01  10.77.0.11   esp32-kitchen       sensor    -     2023-11-14T22:13:20.000000Z  2023-11-14T22:13:21.000000Z\n"
		"learned  5c:cf:7f:00:00:02  10.77.0.12   nodemcu-garage      sensor    -     2023-11-14T22:13:22.000000Z  2023-11-14T22:14:10.000000Z\n"
		"new      02:42:ac:11:00:02  10.77.99.66  =cmd|' /C calc'!A0  sensor    -     2023-11-14T22:15:00.000000Z  2023-11-14T22:15:00.000000Z\n"
		"3 devices (1 new), 0 gateway MACs, 4096 max; 0 evicted, 0 refused\n"
		"learning period ends 2023-11-14T22:14:20.000000Z\n");
	assert_int_equal(inventory_write(h.st, stdout, "xml"), -1);
	assert_int_equal(inventory_write(h.st, stdout, NULL), -1);

	/* The json export loads back into the same inventory. */
	char *lb = NULL;
	size_t ll = 0;
	FILE *lf = open_memstream(&lb, &ll);
	struct h h2 = { .env = { .report = rec_report, .log = lf } };
	cJSON *cfg = cJSON_Parse("{\"learn\":\"0\"}");
	assert_int_equal(sensor_inventory_detector.init(&h2.env, cfg, &h2.st), 0);
	cJSON_Delete(cfg);
	assert_int_equal(inventory_load_buffer(h2.st, "export.json", json, strlen(json), lf), 3);
	fclose(lf);
	assert_int_equal(ll, 0);
	free(lb);
	char *json2 = export(&h2, "json");
	assert_string_equal(json2, json);
	/* ... and what it knows is known. */
	n_reps = 0;
	conn(&h2, T0 + S(500), "esp32-kitchen", "10.77.0.11", KITCHEN_MAC);
	assert_int_equal(n_reps, 0);
	sensor_inventory_detector.free(h2.st);
	free(json);
	free(json2);
	free(csv);
	free(table);
	h_close(&h);
}

/* ---- state ---- */

static void test_state_round_trip(void **state)
{
	(void)state;
	struct h h;
	learn_two(&h);
	conn(&h, T0 + S(100), "mqtt-pwn-1", "10.77.99.66", PWN_MAC);
	char bad_cid[] = "raw\xff\xfe-id";
	conn(&h, T0 + S(101), bad_cid, "10.77.99.66", PWN_MAC);
	cJSON *saved = sensor_inventory_detector.save(h.st);
	assert_non_null(saved);
	char *text = cJSON_PrintUnformatted(saved);
	cJSON_Delete(saved);
	char *before = export(&h, "json");
	struct inventory_stats st1 = stats(&h);
	h_close(&h);

	/* A restart: same configuration, the state file read back. */
	assert_int_equal(h_open(&h, "{\"learn\":\"60\"}"), 0);
	cJSON *back = cJSON_Parse(text);
	assert_non_null(back);
	sensor_inventory_detector.load(h.st, back);
	cJSON_Delete(back);
	assert_string_equal(log_text(), "");
	char *after = export(&h, "json");
	assert_string_equal(after, before);
	struct inventory_stats st2 = stats(&h);
	assert_int_equal(st2.devices, st1.devices);
	assert_true(st2.learning_started);
	assert_int_equal(st2.learn_start_us, T0);
	/* The learning period is not started again: new things are reported. */
	conn(&h, T0 + S(1000), "mqtt-pwn-9", "10.77.99.67", "02:42:ac:11:00:09");
	assert_string_equal(events(), "new_mac new_ip new_client_id");
	/* The raw client id survived byte for byte. */
	n_reps = 0;
	conn(&h, T0 + S(1001), bad_cid, "10.77.99.66", PWN_MAC);
	assert_int_equal(n_reps, 0);
	free(text);
	free(before);
	free(after);
	h_close(&h);
}

static void test_state_garbage(void **state)
{
	(void)state;
	static const char *const garbage[] = {
		"[]",
		"\"text\"",
		"{\"learn_start_us\":-5,\"devices\":{}}",
		("{\"learn_start_us\":\"soon\",\"devices\":[1,null,{\"mac\":7},{\"ip\":\"::1\",\"learned\":false}],"
		 "\"gateways\":[\"zz\",\"b8:27:eb:00:00:fe\",3],\"evicted\":-1,\"refused\":\"x\"}"),
		"{\"learn_start_us\":1e300,\"devices\":[{\"client_id\":\"a\",\"first_seen\":\"9999-99-99T00:00:00Z\"}]}",
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		struct h h;
		assert_int_equal(h_open(&h, NULL), 0);
		cJSON *j = cJSON_Parse(garbage[i]);
		assert_non_null(j);
		sensor_inventory_detector.load(h.st, j);
		cJSON_Delete(j);
		struct inventory_stats st = stats(&h);
		assert_false(st.learning_started);
		assert_true(strlen(log_text()) > 0);
		assert_int_equal(strncmp(log_text(), "state: inventory: ", 18), 0);
		if (i == 3) {
			assert_int_equal(st.devices, 1);
			assert_int_equal(st.gateways, 1);
			assert_int_equal(st.evicted, 0);
		} else {
			assert_int_equal(st.devices, 0);
		}
		h_close(&h);
	}
}

/* ---- limits ---- */

static void test_table_full(void **state)
{
	(void)state;
	struct h h;
	/* Room for 4: two learned, two for newcomers (the oldest gives way). */
	assert_int_equal(h_open(&h, "{\"learn\":\"60\",\"max-devices\":\"4\"}"), 0);
	conn(&h, T0, "a", "10.0.0.1", NULL);
	conn(&h, T0 + 1, "b", "10.0.0.2", NULL);
	conn(&h, T0 + S(100), "n1", "10.0.1.1", NULL);
	conn(&h, T0 + S(101), "n2", "10.0.1.2", NULL);
	publish(&h, T0 + S(102), "n1", "10.0.1.1", NULL); /* n2 is now the oldest */
	conn(&h, T0 + S(103), "n3", "10.0.1.3", NULL);
	struct inventory_stats st = stats(&h);
	assert_int_equal(st.devices, 4);
	assert_int_equal(st.evicted, 1);
	n_reps = 0;
	publish(&h, T0 + S(104), "n1", "10.0.1.1", NULL);
	publish(&h, T0 + S(105), "a", "10.0.0.1", NULL);
	assert_int_equal(n_reps, 0);
	publish(&h, T0 + S(106), "n2", "10.0.1.2", NULL);
	assert_string_equal(events(), "new_ip new_client_id");
	h_close(&h);

	/* Full of learned devices: newcomers are refused, still reported. */
	assert_int_equal(h_open(&h, "{\"learn\":\"60\",\"max-devices\":\"2\"}"), 0);
	conn(&h, T0, "a", "10.0.0.1", NULL);
	conn(&h, T0 + 1, "b", "10.0.0.2", NULL);
	conn(&h, T0 + 2, "c", "10.0.0.3", NULL); /* learning, refused silently */
	assert_int_equal(n_reps, 0);
	conn(&h, T0 + S(100), "n1", "10.0.1.1", NULL);
	assert_string_equal(events(), "new_ip new_client_id inventory_full");
	assert_string_equal(reps[2].meta, "\"ip\":\"10.0.1.1\",\"client_id\":\"n1\",\"username\":\"sensor\",\"max_devices\":2");
	n_reps = 0;
	conn(&h, T0 + S(101), "n1", "10.0.1.1", NULL);
	assert_string_equal(events(), "new_ip new_client_id");
	st = stats(&h);
	assert_int_equal(st.devices, 2);
	assert_int_equal(st.refused, 3);
	assert_int_equal(st.evicted, 0);
	h_close(&h);
}

/* The state keeps the new rows' LRU order: a restart evicts the same row. */
static void test_state_keeps_lru(void **state)
{
	(void)state;
	struct h h;
	assert_int_equal(h_open(&h, "{\"learn\":\"60\",\"max-devices\":\"4\"}"), 0);
	conn(&h, T0, "a", "10.0.0.1", NULL);
	conn(&h, T0 + 1, "b", "10.0.0.2", NULL);
	conn(&h, T0 + S(100), "n1", "10.0.1.1", NULL);
	conn(&h, T0 + S(101), "n2", "10.0.1.2", NULL);
	publish(&h, T0 + S(102), "n1", "10.0.1.1", NULL); /* n2 is now the oldest */
	cJSON *saved = sensor_inventory_detector.save(h.st);
	assert_non_null(saved);
	h_close(&h);

	assert_int_equal(h_open(&h, "{\"learn\":\"60\",\"max-devices\":\"4\"}"), 0);
	sensor_inventory_detector.load(h.st, saved);
	cJSON_Delete(saved);
	assert_string_equal(log_text(), "");
	conn(&h, T0 + S(103), "n3", "10.0.1.3", NULL);
	struct inventory_stats st = stats(&h);
	assert_int_equal(st.devices, 4);
	assert_int_equal(st.evicted, 1);
	n_reps = 0;
	publish(&h, T0 + S(104), "n1", "10.0.1.1", NULL);
	assert_int_equal(n_reps, 0);
	publish(&h, T0 + S(105), "n2", "10.0.1.2", NULL);
	assert_string_equal(events(), "new_ip new_client_id");

	/* The table, for the stats record: one, of max-devices rows. */
	const struct ktable *kts[4];
	assert_int_equal(sensor_inventory_detector.tables(h.st, kts, 4), 1);
	assert_string_equal(kt_name(kts[0]), "inventory_devices");
	assert_int_equal(kt_capacity(kts[0]), 4);
	assert_int_equal(kt_stats(kts[0])->active, 4);
	h_close(&h);
}

static void test_known_path_allocates_nothing(void **state)
{
	(void)state;
	struct h h;
	learn_two(&h);
	struct inventory_stats a = stats(&h);
	struct tmsg t;
	/* One prepared message, fed many times: it must stay on the fast path. */
	mk(&t, T0 + S(100), MQTT_PUBLISH, "esp32-kitchen", "sensor", "10.77.0.11", KITCHEN_MAC);
	for (int i = 0; i < 1000; i++) {
		t.m.ts_us = t.ev.ts_us = T0 + S(100) + (uint64_t)i;
		sensor_inventory_detector.on_msg(h.st, &t.m);
	}
	struct inventory_stats b = stats(&h);
	assert_int_equal(b.msgs - a.msgs, 1000);
	assert_int_equal(b.fast - a.fast, 1000);
	assert_int_equal(b.slow, a.slow);
	assert_int_equal(b.devices, a.devices);
	assert_int_equal(b.reports, 0);
	assert_int_equal(n_reps, 0);
	h_close(&h);
}

static void test_config(void **state)
{
	(void)state;
	struct h h;
	assert_int_equal(h_open(&h, "{\"mac\":\"sometimes\"}"), -1);
	assert_non_null(strstr(log_text(), "mac: expected auto, yes or no"));
	fclose(log_fp);
	assert_int_equal(h_open(&h, "{\"max-devices\":\"0\"}"), -1);
	assert_non_null(strstr(log_text(), "max-devices: expected a whole number from 1 to 262144"));
	fclose(log_fp);
	assert_int_equal(h_open(&h, "{\"max-devices\":\"lots\"}"), -1);
	fclose(log_fp);
	assert_int_equal(h_open(&h, "{\"learn\":\"forever\"}"), -1);
	fclose(log_fp);
	assert_int_equal(h_open(&h, "{\"gateway-ips\":\"0\"}"), -1);
	fclose(log_fp);
	/* An unknown key is reported, not fatal. */
	assert_int_equal(h_open(&h, "{\"lern\":\"1h\"}"), 0);
	assert_non_null(strstr(log_text(), "lern: unknown inventory key"));
	h_close(&h);
	/* Defaults: learn 1h without a file. */
	assert_int_equal(h_open(&h, NULL), 0);
	conn(&h, T0, "a", "10.0.0.1", NULL);
	conn(&h, T0 + S(3599), "b", "10.0.0.2", NULL);
	assert_int_equal(n_reps, 0);
	conn(&h, T0 + S(3600), "c", "10.0.0.3", NULL);
	assert_string_equal(events(), "new_ip new_client_id");
	assert_int_equal(stats(&h).max_devices, 4096);
	h_close(&h);
	/* Disabled: nothing learned, nothing reported, nothing saved. */
	assert_int_equal(h_open(&h, "{\"enabled\":\"no\",\"learn\":\"0\"}"), 0);
	conn(&h, T0, "a", "10.0.0.1", NULL);
	assert_int_equal(n_reps, 0);
	assert_null(sensor_inventory_detector.save(h.st));
	h_close(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn_then_new_device),
		cmocka_unit_test(test_known_client_id_new_address),
		cmocka_unit_test(test_ip_with_new_mac),
		cmocka_unit_test(test_gateway_mac),
		cmocka_unit_test(test_gateway_meta_has_no_mac),
		cmocka_unit_test(test_midstream),
		cmocka_unit_test(test_hostile_wire_strings),
		cmocka_unit_test(test_file_good),
		cmocka_unit_test(test_file_bad_entries),
		cmocka_unit_test(test_file_not_json),
		cmocka_unit_test(test_load_buffer_hostile),
		cmocka_unit_test(test_export_formats),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_garbage),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_state_keeps_lru),
		cmocka_unit_test(test_known_path_allocates_nothing),
		cmocka_unit_test(test_config),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(log_buf);
	return rc;
}
