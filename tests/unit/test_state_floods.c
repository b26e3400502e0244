/* test_state_floods.c - floods of one-packet keys must not push out the state that detection needs (the mqttids binary on synthetic captures). */

/*
 * The flow table (flow.max-flows) and the threshold trackers
 * (detect.max-trackers) are bounded. A flood of keys that each appear
 * once (spoofed SYNs from distinct addresses, one failed login per
 * address) must not evict what has already counted: a brute-force
 * attacker's tracker, or an established MQTT session. Each scenario
 * writes a capture whose flood alone is larger than either table at its
 * default size (never more than 65,536 entries), runs the real binary on
 * it (`mqttids read`, MQTTIDS_BIN) and reads the alerts from its EVE
 * file.
 *
 * Two more floods fill the other bounded state: partial MQTT messages
 * that never finish (mqtt.buffer-memcap), and connections that each hold
 * a new client id (detect.max-client-ids, the takeover detector's table).
 * Every run's peak RSS must stay under the process limit the memory
 * budget is sized for (PROCESS_RSS_LIMIT_KIB).
 *
 * The captures are streamed to disk as they are generated: the largest
 * is about a million packets. With STATE_FLOODS_KEEP=DIR they are written
 * into DIR and kept, with the EVE files (bench/floods.sh measures them).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, O_CLOEXEC, clock_gettime */
#define _DEFAULT_SOURCE         /* wait4 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h" /* the default budget's table sizes */
#include "mqtt_build.h"
#include "net/pkt_decode.h" /* TCP_SYN, TCP_ACK, ... */
#include "pcap_build.h"

extern char **environ;

#ifndef RULES_DIR
#error "RULES_DIR must name the source tree's rules/ directory"
#endif

/* Under AddressSanitizer (gcc: __SANITIZE_ADDRESS__, clang: the feature)
 * the shadow memory makes RSS meaningless: it is printed, not checked. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* ---- constants ---- */

#define ETHERTYPE_IPV4 0x0800
#define IPPROTO_TCP_NUM 6
#define IPV4_DONT_FRAGMENT 0x4000

#define MQTT_V311 4
#define MQTT_PORT 1883
#define CONNACK_ACCEPTED 0
#define CONNACK_NOT_AUTHORIZED 5 /* 3.1.1 §3.2.2.3: what mosquitto sends for a bad password */
#define KEEPALIVE_S 60

#define US_PER_S 1000000ull
#define US_PER_MS 1000ull
/* 2025-01-01T00:00:00Z: the first packet of every capture. */
#define T0_US 1735689600000000ull
/* Between two packets of one connection. */
#define CONN_STEP_US 10ull

/* The rules under test (rules/mqttids.rules). */
#define SID_BRUTE_FORCE 1000005 /* threshold 5 in 60 s per client */
#define SID_EVICTION_PRESSURE 1000036 /* a state table evicted entries */
#define BRUTE_FORCE_THRESHOLD 5
#define BRUTE_FORCE_INTERVAL_S 60

/* Scenario 1: logins every 5 s, a spoofed SYN flood in every gap. */
#define S1_LOGINS 10
#define S1_LOGIN_EVERY_S 5
#define S1_SYNS_PER_GAP 70000

/* Scenario 2: 2 logins, 70,000 one-login sources, 3 more logins. */
#define S2_LOGINS_BEFORE 2
#define S2_LOGINS_AFTER 3
#define S2_SINGLE_SOURCES 70000
#define S2_LOGIN_EVERY_S 1    /* between the attacker's own logins */
#define S2_SINGLES_START_S 2  /* the one-login sources, in [2 s, 42 s) */
#define S2_SINGLES_SPAN_S 40
#define S2_AFTER_START_S 44   /* the attacker again at 44, 45, 46 s */

/* Scenario 3: sessions, a SYN flood, then one PUBLISH per session. */
#define S3_SESSIONS 100
#define S3_SESSION_EVERY_MS 1
#define S3_FLOOD_START_S 1
#define S3_FLOOD_SYNS 1000000
#define S3_FLOOD_SYN_EVERY_US 10 /* 1 M SYNs in 10 s */
#define S3_PUBLISH_GAP_S 1       /* after the flood's last SYN */
#define S3_PUBLISH_EVERY_MS 1
#define SID_SESSION_PUBLISH 9000001
#define S3_TOPIC "flood/test"
#define S3_CLIENT_ID_PREFIX "sess-"
#define STR_(x) #x
#define STR(x) STR_(x)
/* threshold defaults to 1 and cooldown 0 alerts on every match: one
 * alert per PUBLISH whose session's CONNECT named a sess-* client. */
#define S3_EXTRA_RULE                                                         \
	"mqtt any -> any src; name: Session publish; priority: 1; "           \
	"cooldown: 0; msg_type: publish; client_id: " S3_CLIENT_ID_PREFIX "*; " \
	"sid: " STR(SID_SESSION_PUBLISH) "\n"

/* Scenario 4: the process's hash key must not change what is written. */
#define S4_SEED_A "1"
#define S4_SEED_B "2"
#define HASH_SEED_ENV "MQTTIDS_HASH_SEED"

/* Scenario 5: CONNECTs that declare 1,000,000 bytes and send 32 KiB. */
#define S5_CONNS 3000
#define S5_SENT (32 * 1024)
#define S5_DECLARED 1000000
#define S5_SEGMENT 1400
#define MQTT_CONNECT_BYTE 0x10
/* mqtt.buffer-memcap at the default memory.budget: 8/64 of 64 MiB. */
#define S5_BUFFER_MEMCAP (8u * 1024 * 1024)

/* Scenario 6: devices, a client-id flood from two hosts, a takeover. */
#define S6_DEVICES 20
#define S6_FLOOD_CONNS 100000
#define S6_FLOOD_HOSTS 2
#define S6_SMALL_IDS 2000 /* a client-id table smaller than the sessions */
#define S6_FLOOD_PORT_BASE 10000 /* + the connection's index per host */
#define S6_CONN_EVERY_US 100ull  /* one connection's 5 packets take 50 µs */
#define S6_VICTIM 7              /* dev-7 is taken over */
#define SID_TAKEOVER 1000017

/* What every run of the binary must stay under, at the default budget
 * (memory.budget 64 MiB; docs/ARCHITECTURE.md "Memory budget"). */
#define PROCESS_RSS_LIMIT_KIB (100L * 1024)
#define KEEP_ENV "STATE_FLOODS_KEEP"

/* Addresses, host order. */
#define BROKER_ADDR 0x0a000001u    /* 10.0.0.1 */
#define ATTACKER_ADDR 0x0a090909u  /* 10.9.9.9 */
#define ATTACKER_PORT_BASE 50000   /* one port per login */
#define SPOOF_BASE 0x64400000u     /* 100.64.0.0/10: 4 M spoofed sources */
#define SPOOF_SPAN (1u << 22)
#define SINGLES_BASE 0xac100000u   /* 172.16.0.0/12: 1 M one-login sources */
#define SINGLES_SPAN (1u << 20)
#define SESSION_BASE 0x0a010000u   /* 10.1.0.1 .. 10.1.0.100 */
#define PARTIAL_BASE 0x0a030000u   /* 10.3.0.1 .. 10.3.11.184 */
#define DEVICE_BASE 0x0a020000u    /* 10.2.0.1 .. 10.2.0.20 */
#define FLOODER_BASE 0x0a420000u   /* 10.66.0.1, 10.66.0.2 */
#define TAKER_ADDR 0x0a4d0001u     /* 10.77.0.1 */
#define CLIENT_PORT_BASE 40000
#define CLIENT_PORT_SPAN 20000

/* Initial sequence numbers: arbitrary, different per side. */
#define CLI_ISN 0x10000000u
#define SRV_ISN 0x80000000u
#define SPOOF_ISN_STEP 7919u /* a prime: spoofed ISNs differ per SYN */

/* The generator writes its buffer to disk once it holds this much. */
#define GEN_FLUSH_BYTES (1u << 20)

#define PATH_MAX_LEN 4096
#define ADDR_TEXT_MAX 64

/* ---- the temp dir and the binary ---- */

static char tmpdir[PATH_MAX_LEN];
static bool keep_files; /* STATE_FLOODS_KEEP: tmpdir is the caller's */
static const char *mqttids_bin;
static double test_start_s;
/* Scenario 1's capture, which scenario 4 reads again. */
static char s1_pcap[PATH_MAX_LEN];
static bool s1_built;

static void tmp_path(char *out, size_t n, const char *name)
{
	int w = snprintf(out, n, "%s/%s", tmpdir, name);
	assert_true(w > 0 && (size_t)w < n);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long long)st.st_size;
}

/* ---- the capture writer ---- */

/*
 * One pcap file being written. The frame buffers are reused for every
 * packet; the file buffer is written out every GEN_FLUSH_BYTES, so a
 * million-packet capture never sits in memory whole.
 */
struct gen {
	FILE *fp;
	struct mb file, tcp, l3, fr;
	uint64_t last_ts;
	uint64_t packets;
	uint16_t ip_id;
};

static void gen_flush(struct gen *g)
{
	assert_int_equal(fwrite(g->file.p, 1, g->file.len, g->fp), g->file.len);
	mb_reset(&g->file);
}

static void gen_open(struct gen *g, const char *path)
{
	memset(g, 0, sizeof(*g));
	g->fp = fopen(path, "wb");
	assert_non_null(g->fp);
	mb_init(&g->file);
	mb_init(&g->tcp);
	mb_init(&g->l3);
	mb_init(&g->fr);
	pcapw_init(&g->file, LINKTYPE_ETHERNET);
}

static void gen_close(struct gen *g)
{
	gen_flush(g);
	assert_int_equal(fclose(g->fp), 0);
	g->fp = NULL;
	mb_free(&g->file);
	mb_free(&g->tcp);
	mb_free(&g->l3);
	mb_free(&g->fr);
}

/* One Ethernet/IPv4/TCP frame at ts (strictly after the previous one). */
static void gen_frame(struct gen *g, uint64_t ts, const struct ep *src,
		      const struct ep *dst, uint32_t seq, uint32_t ack,
		      uint8_t flags, const uint8_t *payload, size_t n)
{
	assert_true(ts > g->last_ts);
	g->last_ts = ts;
	mb_reset(&g->tcp);
	mb_reset(&g->l3);
	mb_reset(&g->fr);
	frame_tcp(&g->tcp, src, dst, seq, ack, flags, payload, n);
	frame_ipv4(&g->l3, src->addr, dst->addr, g->ip_id++, IPV4_DONT_FRAGMENT,
		   IPPROTO_TCP_NUM, g->tcp.p, g->tcp.len);
	frame_eth(&g->fr, ETHERTYPE_IPV4, NULL, NULL, 0, g->l3.p, g->l3.len);
	pcapw_add(&g->file, ts, g->fr.p, g->fr.len);
	g->packets++;
	if (g->file.len >= GEN_FLUSH_BYTES)
		gen_flush(g);
}

static struct ep ep4(uint32_t addr, uint16_t port)
{
	struct ep e = { .family = 4, .port = port };
	e.addr[0] = (uint8_t)(addr >> 24);
	e.addr[1] = (uint8_t)(addr >> 16);
	e.addr[2] = (uint8_t)(addr >> 8);
	e.addr[3] = (uint8_t)addr;
	return e;
}

static void addr_text(uint32_t addr, char *out, size_t n)
{
	snprintf(out, n, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xffu,
		 (addr >> 8) & 0xffu, addr & 0xffu);
}

/*
 * One TCP connection to the broker. Each side's next sequence number is
 * kept so every segment carries correct seq/ack; ts is the time of the
 * connection's next packet, CONN_STEP_US apart.
 */
struct conn {
	struct ep cli, srv;
	uint32_t cli_next, srv_next;
	uint64_t ts;
};

/* A segment; SYN and FIN take one sequence number, data its length. */
static void conn_send_bytes(struct gen *g, struct conn *c, bool from_client,
			    uint8_t flags, const uint8_t *p, size_t n)
{
	uint32_t *seq = from_client ? &c->cli_next : &c->srv_next;
	uint32_t ack = (flags & TCP_ACK) ? (from_client ? c->srv_next : c->cli_next) : 0;
	gen_frame(g, c->ts, from_client ? &c->cli : &c->srv,
		  from_client ? &c->srv : &c->cli, *seq, ack, flags, p, n);
	*seq += (uint32_t)n + ((flags & (TCP_SYN | TCP_FIN)) ? 1u : 0u);
	c->ts += CONN_STEP_US;
}

static void conn_send(struct gen *g, struct conn *c, bool from_client,
		      uint8_t flags, const struct mb *data)
{
	conn_send_bytes(g, c, from_client, flags, data ? data->p : NULL,
			data ? data->len : 0);
}

/* SYN, SYN/ACK, ACK from cli_addr:cli_port to the broker, from ts. */
static void conn_open(struct gen *g, struct conn *c, uint32_t cli_addr,
		      uint16_t cli_port, uint64_t ts)
{
	c->cli = ep4(cli_addr, cli_port);
	c->srv = ep4(BROKER_ADDR, MQTT_PORT);
	c->cli_next = CLI_ISN;
	c->srv_next = SRV_ISN;
	c->ts = ts;
	conn_send(g, c, true, TCP_SYN, NULL);
	conn_send(g, c, false, TCP_SYN | TCP_ACK, NULL);
	conn_send(g, c, true, TCP_ACK, NULL);
}

/*
 * SYN, SYN/ACK, ACK, CONNECT, CONNACK with code. A refused login is then
 * closed by the broker (3.1.1 §3.2.2.3): FIN/ACK from it, FIN/ACK from the
 * client, the last ACK. An accepted one stays open.
 */
static void conn_login(struct gen *g, struct conn *c, uint32_t cli_addr,
		       uint16_t cli_port, uint64_t ts, const struct mb *connect,
		       const struct mb *connack, bool refused)
{
	conn_open(g, c, cli_addr, cli_port, ts);
	conn_send(g, c, true, TCP_PSH | TCP_ACK, connect);
	conn_send(g, c, false, TCP_PSH | TCP_ACK, connack);
	if (refused) {
		conn_send(g, c, false, TCP_FIN | TCP_ACK, NULL);
		conn_send(g, c, true, TCP_FIN | TCP_ACK, NULL);
		conn_send(g, c, false, TCP_ACK, NULL);
	}
}

/* A 3.1.1 CONNECT with client id, user name and password. */
static void build_connect(struct mb *out, const char *client_id,
			  const char *username, const char *password)
{
	struct connect_spec cs = {
		.version = MQTT_V311, .clean = true, .keepalive = KEEPALIVE_S,
		.client_id = client_id, .username = username,
		.password = password,
	};
	mb_reset(out);
	mqtt_build_connect(out, &cs);
}

static void build_connack(struct mb *out, uint8_t code)
{
	mb_reset(out);
	mqtt_build_connack(out, MQTT_V311, false, code, NULL);
}

/*
 * count spoofed SYNs (no answer) to the broker, evenly spread over
 * [t_start, t_end), from the distinct sources SPOOF_BASE + first + i.
 */
static void syn_flood(struct gen *g, uint32_t first, uint32_t count,
		      uint64_t t_start, uint64_t t_end)
{
	assert_true(t_end - t_start >= count); /* at least 1 µs apart */
	assert_true((uint64_t)first + count <= SPOOF_SPAN);
	const struct ep dst = ep4(BROKER_ADDR, MQTT_PORT);
	uint64_t span = t_end - t_start;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t k = first + i;
		struct ep src = ep4(SPOOF_BASE + k,
				    (uint16_t)(CLIENT_PORT_BASE + k % CLIENT_PORT_SPAN));
		gen_frame(g, t_start + span * i / count, &src, &dst,
			  k * SPOOF_ISN_STEP, 0, TCP_SYN, NULL, 0);
	}
}

/* ---- running mqttids ---- */

/*
 * The child's environment: ours, with MQTTIDS_HASH_SEED replaced by seed
 * (or removed when seed is NULL, so the binary draws a random key).
 */
static char **child_env(const char *seed, char *seed_var, size_t seed_var_len)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	assert_non_null(env);
	size_t k = 0;
	size_t name_len = strlen(HASH_SEED_ENV);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], HASH_SEED_ENV, name_len) == 0 &&
		    environ[i][name_len] == '=')
			continue;
		env[k++] = environ[i];
	}
	if (seed) {
		snprintf(seed_var, seed_var_len, "%s=%s", HASH_SEED_ENV, seed);
		env[k++] = seed_var;
	}
	env[k] = NULL;
	return env;
}

static void print_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), fp))
		print_message("  | %s", line);
	fclose(fp);
}

/* What one run of `mqttids read` is given. */
struct run {
	const char *pcap;
	const char *extra_rules; /* a second -r, or NULL */
	const char *hash_seed;   /* MQTTIDS_HASH_SEED, or NULL */
	bool stats;              /* --stats: a final EVE stats record */
	bool collect;            /* RSS over the limit: a failed check() */
	const char *set;         /* one --set KEY=VALUE, or NULL */
	const char *name;        /* output files NAME.json/.stdout/.stderr */
};

/*
 * Scenarios 5 and 6 check everything and then fail once, so a run on an
 * older binary lists every check it misses, not only the first.
 */
static unsigned check_failures;

static void check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check(bool ok, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_message("[ %s ] %s\n", ok ? "ok" : "FAIL", msg);
	if (!ok)
		check_failures++;
}

/*
 * A run's peak RSS (KiB) against the process limit: a failed check()
 * when collect is set, else the test fails here. Under ASan it is only
 * printed.
 */
static void check_rss(const char *name, long maxrss_kib, bool collect)
{
	if (UNDER_ASAN) {
		print_message("[ info ] %s: RSS not checked under ASan\n", name);
		return;
	}
	bool ok = maxrss_kib <= PROCESS_RSS_LIMIT_KIB;
	if (collect)
		check(ok, "mqttids read %s: peak RSS %.1f MiB <= %ld MiB", name,
		      maxrss_kib / 1024.0, PROCESS_RSS_LIMIT_KIB / 1024);
	else if (!ok)
		fail_msg("mqttids read %s: peak RSS %.1f MiB, over the %ld MiB "
			 "the default memory budget is sized for\n", name,
			 maxrss_kib / 1024.0, PROCESS_RSS_LIMIT_KIB / 1024);
}

/*
 * Runs `$MQTTIDS_BIN read -r RULES_DIR [-r EXTRA] --eve OUT --no-console
 * [--stats] PCAP` without a shell, stdout and stderr to files next to the
 * EVE file, and fails the test unless it exits 0 with its peak RSS under
 * the limit (check_rss). eve receives the EVE file's path.
 */
static void run_read(const struct run *r, char *eve, size_t eve_len)
{
	char out_path[PATH_MAX_LEN], err_path[PATH_MAX_LEN], name[PATH_MAX_LEN];
	snprintf(name, sizeof(name), "%s.json", r->name);
	tmp_path(eve, eve_len, name);
	snprintf(name, sizeof(name), "%s.stdout", r->name);
	tmp_path(out_path, sizeof(out_path), name);
	snprintf(name, sizeof(name), "%s.stderr", r->name);
	tmp_path(err_path, sizeof(err_path), name);

	const char *argv[16];
	size_t a = 0;
	argv[a++] = mqttids_bin;
	argv[a++] = "read";
	argv[a++] = "-r";
	argv[a++] = RULES_DIR;
	if (r->extra_rules) {
		argv[a++] = "-r";
		argv[a++] = r->extra_rules;
	}
	argv[a++] = "--eve";
	argv[a++] = eve;
	argv[a++] = "--no-console";
	if (r->stats)
		argv[a++] = "--stats";
	if (r->set) {
		argv[a++] = "--set";
		argv[a++] = r->set;
	}
	argv[a++] = r->pcap;
	argv[a] = NULL;

	/* Opened here, so that the child only has to dup2 and exec. */
	int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(out_fd >= 0 && err_fd >= 0);
	char seed_var[64];
	char **env = child_env(r->hash_seed, seed_var, sizeof(seed_var));

	double t = now_s();
	/*
	 * fork, not posix_spawn: glibc's posix_spawn runs the child in our
	 * memory until its exec (CLONE_VM), and Linux then records our own
	 * peak RSS (some 50 MiB after reading scenario 2's EVE file) as the
	 * child's ru_maxrss. A forked child's figure starts from our
	 * current RSS instead: a few MiB, as every file read is freed.
	 */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const char msg[] = "test_state_floods: cannot exec MQTTIDS_BIN\n";
		if (dup2(out_fd, STDOUT_FILENO) >= 0 && dup2(err_fd, STDERR_FILENO) >= 0) {
			/* execve takes char *const argv[]; it does not modify them. */
			execve(mqttids_bin, (char *const *)argv, env);
			(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		}
		_exit(127);
	}
	close(out_fd);
	close(err_fd);
	free(env);
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		assert_int_equal(errno, EINTR);
	/* ru_maxrss: the child's peak resident set, in KiB on Linux. */
	print_message("[ time ] mqttids read %s: %.2f s, peak RSS %.1f MiB\n",
		      r->name, now_s() - t, ru.ru_maxrss / 1024.0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_message("mqttids stderr:\n");
		print_file(err_path);
		if (WIFEXITED(status))
			fail_msg("mqttids read %s exited %d\n", r->name, WEXITSTATUS(status));
		fail_msg("mqttids read %s died (status %d)\n", r->name, status);
	}
	check_rss(r->name, ru.ru_maxrss, r->collect);
}

/* The whole of a file, NUL-terminated; *len its length. */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	long n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* ---- reading the alerts ---- */

struct eve_alert {
	int sid;
	char target[ADDR_TEXT_MAX]; /* mqttids.src: the rule's target */
};

struct alerts {
	struct eve_alert *v;
	size_t n, cap;
};

/*
 * Every `event_type:"alert"` record of the EVE file (not alert_update:
 * an update repeats an alert already counted). Only lines with an
 * "alert" key are parsed: scenario 2 writes some 70,000 mqtt records,
 * and parsing them all takes seconds under ASan.
 */
static void read_alerts(const char *eve, struct alerts *out)
{
	memset(out, 0, sizeof(*out));
	size_t len;
	char *text = slurp(eve, &len);
	char *next;
	for (char *line = text; line; line = next) {
		char *nl = strchr(line, '\n');
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		if (!strstr(line, "\"alert\""))
			continue;
		cJSON *j = cJSON_Parse(line);
		if (!j)
			fail_msg("%s: a line that is not JSON: %.200s\n", eve, line);
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "event_type");
		assert_true(cJSON_IsString(type));
		if (strcmp(type->valuestring, "alert") == 0) {
			const cJSON *sid = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(j, "alert"), "signature_id");
			const cJSON *src = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(j, "mqttids"), "src");
			assert_true(cJSON_IsNumber(sid));
			if (out->n == out->cap) {
				out->cap = out->cap ? out->cap * 2 : 16;
				out->v = realloc(out->v, out->cap * sizeof(*out->v));
				assert_non_null(out->v);
			}
			struct eve_alert *a = &out->v[out->n++];
			a->sid = sid->valueint;
			snprintf(a->target, sizeof(a->target), "%s",
				 cJSON_IsString(src) ? src->valuestring : "");
		}
		cJSON_Delete(j);
	}
	free(text);
}

/* Alerts of sid (with target, unless NULL). */
static size_t count_alerts(const struct alerts *as, int sid, const char *target)
{
	size_t c = 0;
	for (size_t i = 0; i < as->n; i++)
		if (as->v[i].sid == sid &&
		    (!target || strcmp(as->v[i].target, target) == 0))
			c++;
	return c;
}

/* How many alerts of each sid: a surprise in the counts shows in the log. */
static void print_alert_summary(const char *name, const struct alerts *as)
{
	print_message("[ info ] %s: %zu alerts\n", name, as->n);
	for (size_t i = 0; i < as->n; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = as->v[k].sid == as->v[i].sid;
		if (!seen)
			print_message("[ info ]   sid %d: %zu\n", as->v[i].sid,
				      count_alerts(as, as->v[i].sid, NULL));
	}
}

static void free_alerts(struct alerts *as)
{
	free(as->v);
	memset(as, 0, sizeof(*as));
}

/* ---- reading the stats record and counting records ---- */

/* The last `event_type:"stats"` record of the EVE file (--stats). */
static cJSON *read_stats(const char *eve)
{
	size_t len;
	char *text = slurp(eve, &len);
	const char *st = NULL;
	for (const char *p = text; (p = strstr(p, "\"event_type\":\"stats\"")); p++)
		st = p;
	if (!st)
		fail_msg("%s: no stats record\n", eve);
	while (st > text && st[-1] != '\n')
		st--;
	const char *end = strchr(st, '\n');
	cJSON *j = cJSON_ParseWithLength(st, end ? (size_t)(end - st) : strlen(st));
	if (!j)
		fail_msg("%s: the stats record is not JSON\n", eve);
	free(text);
	return j;
}

/*
 * The number at stats.<path> (NULL-terminated names) in *out; false,
 * and a message naming the path, when it is not there (an older binary
 * may not have the counter).
 */
static bool stat_get(const cJSON *rec, uint64_t *out, const char *first, ...)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(rec, "stats");
	char path[256] = "stats";
	size_t used = strlen(path);
	va_list ap;
	va_start(ap, first);
	for (const char *k = first; k; k = va_arg(ap, const char *)) {
		j = cJSON_GetObjectItemCaseSensitive(j, k);
		int w = snprintf(path + used, sizeof(path) - used, ".%s", k);
		if (w > 0 && (size_t)w < sizeof(path) - used)
			used += (size_t)w;
	}
	va_end(ap);
	*out = 0;
	if (!cJSON_IsNumber(j)) {
		print_message("[ info ] %s: not in the stats record\n", path);
		return false;
	}
	*out = (uint64_t)j->valuedouble;
	return true;
}

/* Lines of the file that contain both a and b. */
static size_t count_lines_with(const char *path, const char *a, const char *b)
{
	size_t len, n = 0;
	char *text = slurp(path, &len);
	char *next;
	for (char *line = text; line; line = next) {
		char *nl = strchr(line, '\n');
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		if (strstr(line, a) && strstr(line, b))
			n++;
	}
	free(text);
	return n;
}

static void report_capture(const char *what, const char *path, const struct gen *g,
			   double secs)
{
	print_message("[ info ] %s: %llu packets, %lld bytes, written in %.2f s\n",
		      what, (unsigned long long)g->packets, file_size(path), secs);
}

/* ---- scenario 1's capture (scenario 4 reads it again) ---- */

/*
 * 10.9.9.9 fails to log in every 5 s (10 times in 45 s). Between two
 * logins, 70,000 spoofed SYNs from addresses never seen before: each
 * gap alone is more than the tracker table and the flow table hold, and
 * each SYN matches the SYN-flood rule (sid 1000003) once for a new
 * source, so every gap asks for 70,000 new trackers.
 */
static void build_brute_force_through_syn_flood(void)
{
	if (s1_built)
		return;
	tmp_path(s1_pcap, sizeof(s1_pcap), "brute_force_syn_flood.pcap");
	double t = now_s();
	struct gen g;
	struct mb connect, connack;
	mb_init(&connect);
	mb_init(&connack);
	build_connect(&connect, "attacker", "admin", "wrong-password");
	build_connack(&connack, CONNACK_NOT_AUTHORIZED);
	gen_open(&g, s1_pcap);
	uint32_t spoofed = 0;
	for (uint32_t i = 0; i < S1_LOGINS; i++) {
		uint64_t start = T0_US + (uint64_t)i * S1_LOGIN_EVERY_S * US_PER_S;
		struct conn c;
		conn_login(&g, &c, ATTACKER_ADDR, (uint16_t)(ATTACKER_PORT_BASE + i),
			   start, &connect, &connack, true);
		if (i + 1 < S1_LOGINS) {
			syn_flood(&g, spoofed, S1_SYNS_PER_GAP, c.ts,
				  start + S1_LOGIN_EVERY_S * US_PER_S);
			spoofed += S1_SYNS_PER_GAP;
		}
	}
	gen_close(&g);
	mb_free(&connect);
	mb_free(&connack);
	report_capture("scenario 1 capture", s1_pcap, &g, now_s() - t);
	s1_built = true;
}

/* ---- the tests ---- */

static void test_brute_force_through_syn_flood(void **state)
{
	(void)state;
	build_brute_force_through_syn_flood();
	char eve[PATH_MAX_LEN], attacker[ADDR_TEXT_MAX];
	const struct run r = { .pcap = s1_pcap, .name = "s1" };
	run_read(&r, eve, sizeof(eve));
	struct alerts as;
	read_alerts(eve, &as);
	print_alert_summary("scenario 1", &as);
	addr_text(ATTACKER_ADDR, attacker, sizeof(attacker));
	/* 10 failures in 45 s, threshold 5 in 60 s: the attacker's count
	 * must survive the 70,000 trackers each gap asks for. */
	if (count_alerts(&as, SID_BRUTE_FORCE, attacker) == 0)
		fail_msg("no Brute Force alert (sid %d) for %s: its count was "
			 "lost in the SYN flood\n", SID_BRUTE_FORCE, attacker);
	/* The evictions are visible, and rate-limited: the flow table and
	 * the trackers each report at most once per 60 s of the 45 s
	 * capture, and once more at its end. */
	size_t pressure = count_alerts(&as, SID_EVICTION_PRESSURE, NULL);
	assert_true(pressure >= 1);
	assert_true(pressure <= 2 * 2);
	free_alerts(&as);
}

/*
 * 10.9.9.9 fails twice; then 70,000 other addresses fail once each (a
 * full connection and CONNACK 5 each: every one a new tracker of the
 * brute-force rule itself); then 10.9.9.9 fails three more times, 46 s
 * after its first. Its fifth failure must raise the alert, and nobody
 * with a single failure may.
 */
static void test_brute_force_through_single_logins(void **state)
{
	(void)state;
	char pcap[PATH_MAX_LEN];
	tmp_path(pcap, sizeof(pcap), "brute_force_single_logins.pcap");
	double t = now_s();
	struct gen g;
	struct mb connect, connack;
	mb_init(&connect);
	mb_init(&connack);
	build_connack(&connack, CONNACK_NOT_AUTHORIZED);
	gen_open(&g, pcap);
	struct conn c;
	uint16_t attacker_port = ATTACKER_PORT_BASE;

	build_connect(&connect, "attacker", "admin", "wrong-password");
	for (uint32_t i = 0; i < S2_LOGINS_BEFORE; i++)
		conn_login(&g, &c, ATTACKER_ADDR, attacker_port++,
			   T0_US + (uint64_t)i * S2_LOGIN_EVERY_S * US_PER_S,
			   &connect, &connack, true);

	const uint64_t singles_start = T0_US + S2_SINGLES_START_S * US_PER_S;
	const uint64_t singles_span = S2_SINGLES_SPAN_S * US_PER_S;
	_Static_assert(S2_SINGLE_SOURCES <= SINGLES_SPAN, "sources must be distinct");
	char client_id[32];
	for (uint32_t k = 0; k < S2_SINGLE_SOURCES; k++) {
		snprintf(client_id, sizeof(client_id), "single-%u", k);
		build_connect(&connect, client_id, "admin", "wrong-password");
		conn_login(&g, &c, SINGLES_BASE + k,
			   (uint16_t)(CLIENT_PORT_BASE + k % CLIENT_PORT_SPAN),
			   singles_start + singles_span * k / S2_SINGLE_SOURCES,
			   &connect, &connack, true);
	}

	build_connect(&connect, "attacker", "admin", "wrong-password");
	for (uint32_t i = 0; i < S2_LOGINS_AFTER; i++)
		conn_login(&g, &c, ATTACKER_ADDR, attacker_port++,
			   T0_US + (S2_AFTER_START_S + (uint64_t)i * S2_LOGIN_EVERY_S) * US_PER_S,
			   &connect, &connack, true);
	/* All five within the rule's interval of the first. */
	assert_true(c.ts - T0_US < BRUTE_FORCE_INTERVAL_S * US_PER_S);
	_Static_assert(S2_LOGINS_BEFORE + S2_LOGINS_AFTER == BRUTE_FORCE_THRESHOLD,
		      "the attacker's last login is the one that must alert");
	gen_close(&g);
	mb_free(&connect);
	mb_free(&connack);
	report_capture("scenario 2 capture", pcap, &g, now_s() - t);

	char eve[PATH_MAX_LEN], attacker[ADDR_TEXT_MAX];
	const struct run r = { .pcap = pcap, .name = "s2" };
	run_read(&r, eve, sizeof(eve));
	struct alerts as;
	read_alerts(eve, &as);
	print_alert_summary("scenario 2", &as);
	addr_text(ATTACKER_ADDR, attacker, sizeof(attacker));
	size_t bf = count_alerts(&as, SID_BRUTE_FORCE, NULL);
	size_t bf_attacker = count_alerts(&as, SID_BRUTE_FORCE, attacker);
	if (bf_attacker == 0)
		fail_msg("no Brute Force alert (sid %d) for %s: its count was "
			 "lost among the one-login sources\n", SID_BRUTE_FORCE, attacker);
	/* Every brute-force alert is the attacker's: one failure each is
	 * no brute force, however many sources there are. */
	if (bf != bf_attacker)
		fail_msg("%zu Brute Force alerts for sources that failed once\n",
			 bf - bf_attacker);
	free_alerts(&as);
}

/*
 * 100 clients log in (client ids sess-0..sess-99) and stay connected;
 * then a million spoofed SYNs from distinct sources, many times what the
 * flow table holds; then each client publishes on its open connection.
 * A session the flood pushed out would be picked up again mid-stream,
 * without its CONNECT, so its client id would be unknown and the rule
 * (client_id: sess-*) could not match: one alert per client shows every
 * session survived.
 */
static void test_sessions_survive_syn_flood(void **state)
{
	(void)state;
	char pcap[PATH_MAX_LEN], rules[PATH_MAX_LEN];
	tmp_path(pcap, sizeof(pcap), "sessions_syn_flood.pcap");
	tmp_path(rules, sizeof(rules), "session_publish.rules");
	FILE *rf = fopen(rules, "w");
	assert_non_null(rf);
	assert_true(fputs(S3_EXTRA_RULE, rf) >= 0);
	assert_int_equal(fclose(rf), 0);

	double t = now_s();
	struct gen g;
	struct mb connect, connack, publish;
	mb_init(&connect);
	mb_init(&connack);
	mb_init(&publish);
	build_connack(&connack, CONNACK_ACCEPTED);
	mqtt_build_publish(&publish, MQTT_V311, 0, false, false, S3_TOPIC, 0,
			   NULL, "1", 1);
	gen_open(&g, pcap);
	static struct conn sessions[S3_SESSIONS];
	char client_id[32];
	for (uint32_t i = 0; i < S3_SESSIONS; i++) {
		snprintf(client_id, sizeof(client_id), S3_CLIENT_ID_PREFIX "%u", i);
		build_connect(&connect, client_id, "u", "secret");
		conn_login(&g, &sessions[i], SESSION_BASE + 1 + i,
			   (uint16_t)(CLIENT_PORT_BASE + i),
			   T0_US + (uint64_t)i * S3_SESSION_EVERY_MS * US_PER_MS,
			   &connect, &connack, false);
	}
	const uint64_t flood_start = T0_US + S3_FLOOD_START_S * US_PER_S;
	const uint64_t flood_end =
		flood_start + (uint64_t)S3_FLOOD_SYNS * S3_FLOOD_SYN_EVERY_US;
	assert_true(flood_start > sessions[S3_SESSIONS - 1].ts);
	syn_flood(&g, 0, S3_FLOOD_SYNS, flood_start, flood_end);
	const uint64_t publish_start = flood_end + S3_PUBLISH_GAP_S * US_PER_S;
	for (uint32_t i = 0; i < S3_SESSIONS; i++) {
		sessions[i].ts = publish_start + (uint64_t)i * S3_PUBLISH_EVERY_MS * US_PER_MS;
		conn_send(&g, &sessions[i], true, TCP_PSH | TCP_ACK, &publish);
	}
	gen_close(&g);
	mb_free(&connect);
	mb_free(&connack);
	mb_free(&publish);
	report_capture("scenario 3 capture", pcap, &g, now_s() - t);

	char eve[PATH_MAX_LEN];
	const struct run r = { .pcap = pcap, .extra_rules = rules, .name = "s3" };
	run_read(&r, eve, sizeof(eve));
	struct alerts as;
	read_alerts(eve, &as);
	print_alert_summary("scenario 3", &as);
	size_t n = count_alerts(&as, SID_SESSION_PUBLISH, NULL);
	if (n != S3_SESSIONS)
		fail_msg("%zu Session publish alerts (sid %d), want one for each "
			 "of the %d sessions\n", n, SID_SESSION_PUBLISH, S3_SESSIONS);
	for (uint32_t i = 0; i < S3_SESSIONS; i++) {
		char addr[ADDR_TEXT_MAX];
		addr_text(SESSION_BASE + 1 + i, addr, sizeof(addr));
		if (count_alerts(&as, SID_SESSION_PUBLISH, addr) != 1)
			fail_msg("session %s (" S3_CLIENT_ID_PREFIX "%u): %zu alerts, want 1\n",
				 addr, i, count_alerts(&as, SID_SESSION_PUBLISH, addr));
	}
	free_alerts(&as);
}

/*
 * The tables are keyed by a hash with a per-process key: which entry an
 * eviction picks must not depend on it, or two runs on one capture could
 * give different alerts. Scenario 1's capture (every table overflowing
 * nine times) under two keys must give the same EVE file, byte for byte,
 * stats record included.
 */
static void test_two_seeds_same_output(void **state)
{
	(void)state;
	build_brute_force_through_syn_flood();
	char eve_a[PATH_MAX_LEN], eve_b[PATH_MAX_LEN];
	const struct run ra = { .pcap = s1_pcap, .hash_seed = S4_SEED_A,
				.stats = true, .name = "s4_seed1" };
	const struct run rb = { .pcap = s1_pcap, .hash_seed = S4_SEED_B,
				.stats = true, .name = "s4_seed2" };
	run_read(&ra, eve_a, sizeof(eve_a));
	run_read(&rb, eve_b, sizeof(eve_b));
	size_t la, lb;
	char *a = slurp(eve_a, &la);
	char *b = slurp(eve_b, &lb);
	assert_true(la > 0);
	if (la != lb || memcmp(a, b, la) != 0) {
		/* Show the first line that differs. */
		size_t i = 0, line_start = 0;
		while (i < la && i < lb && a[i] == b[i]) {
			if (a[i] == '\n')
				line_start = i + 1;
			i++;
		}
		print_message("seed " S4_SEED_A ": %.400s\n", a + line_start);
		print_message("seed " S4_SEED_B ": %.400s\n", b + line_start);
		fail_msg("EVE differs between hash seeds (%zu vs %zu bytes, first at byte %zu)\n",
			 la, lb, i);
	}
	free(a);
	free(b);
}

/*
 * 3,000 clients (distinct addresses) each complete the handshake and send
 * 32 KiB of a CONNECT whose remaining length declares 1,000,000 bytes, in
 * 1400-byte segments, and never the rest. Each message waits for its
 * rest in a partial-message buffer; all of them would need some 94 MiB.
 * mqtt.buffer-memcap (8 MiB at the default budget) must hold: a message
 * whose buffer would pass it is dropped, with one buffer_memcap_reached
 * anomaly each, and the process stays under the RSS limit.
 */
static void test_partial_message_flood(void **state)
{
	(void)state;
	char pcap[PATH_MAX_LEN];
	tmp_path(pcap, sizeof(pcap), "partial_message_flood.pcap");
	double t = now_s();
	/* The fixed header (CONNECT, remaining length 1,000,000 as a
	 * 3-byte varint), then zeros: never parsed, the rest never comes. */
	static uint8_t body[S5_SENT];
	struct mb hdr;
	mb_init(&hdr);
	mb_u8(&hdr, MQTT_CONNECT_BYTE);
	mb_varint(&hdr, S5_DECLARED);
	memcpy(body, hdr.p, hdr.len);
	mb_free(&hdr);
	_Static_assert(S5_CONNS < CLIENT_PORT_SPAN, "one port per client");
	struct gen g;
	gen_open(&g, pcap);
	uint64_t ts = T0_US;
	for (uint32_t i = 0; i < S5_CONNS; i++) {
		struct conn c;
		conn_open(&g, &c, PARTIAL_BASE + 1 + i,
			  (uint16_t)(CLIENT_PORT_BASE + i), ts);
		for (size_t o = 0; o < S5_SENT; o += S5_SEGMENT) {
			size_t n = S5_SENT - o < S5_SEGMENT ? S5_SENT - o : S5_SEGMENT;
			conn_send_bytes(&g, &c, true, TCP_PSH | TCP_ACK, body + o, n);
		}
		ts = c.ts;
	}
	gen_close(&g);
	report_capture("scenario 5 capture", pcap, &g, now_s() - t);

	char eve[PATH_MAX_LEN];
	const struct run r = { .pcap = pcap, .stats = true, .collect = true,
			       .name = "s5" };
	check_failures = 0;
	run_read(&r, eve, sizeof(eve));
	cJSON *st = read_stats(eve);
	uint64_t drops, peak;
	bool have_drops = stat_get(st, &drops, "mqtt", "buffer_memcap_drops", NULL);
	bool have_peak = stat_get(st, &peak, "mqtt", "buffer_memuse_peak", NULL);
	size_t anomalies = count_lines_with(eve, "\"event_type\":\"anomaly\"",
					    "\"event\":\"buffer_memcap_reached\"");
	check(have_drops && drops > 0,
	      "mqtt.buffer_memcap_drops %llu > 0", (unsigned long long)drops);
	check(have_drops && drops <= S5_CONNS,
	      "at most one drop per connection (%llu of %d)",
	      (unsigned long long)drops, S5_CONNS);
	check(have_peak && peak <= S5_BUFFER_MEMCAP,
	      "mqtt.buffer_memuse_peak %llu <= %u (mqtt.buffer-memcap)",
	      (unsigned long long)peak, S5_BUFFER_MEMCAP);
	check(have_drops && anomalies == drops,
	      "%zu buffer_memcap_reached anomalies = %llu drops", anomalies,
	      (unsigned long long)drops);
	cJSON_Delete(st);
	if (check_failures)
		fail_msg("scenario 5: %u checks failed\n", check_failures);
}

/*
 * Reads scenario 6's capture (with one --set, or none) and checks: the
 * tables stayed within their capacities, the sessions or the client-id
 * table had to make room (flow.evicted_sessions, tables.client_ids
 * .evicted), and the takeover of dev-S6_VICTIM from TAKER_ADDR was seen.
 */
static void check_client_id_flood(const char *pcap, const char *set,
				  const char *name)
{
	char eve[PATH_MAX_LEN], taker[ADDR_TEXT_MAX];
	const struct run r = { .pcap = pcap, .stats = true, .collect = true,
			       .name = name, .set = set };
	check_failures = 0;
	run_read(&r, eve, sizeof(eve));
	struct alerts as;
	read_alerts(eve, &as);
	print_alert_summary("scenario 6", &as);
	cJSON *st = read_stats(eve);
	uint64_t cap, active, peak, evicted, cid_max, takeovers, f_cap, f_active,
		f_peak, f_ev_sessions;
	bool ok_cap = stat_get(st, &cap, "tables", "client_ids", "capacity", NULL);
	bool ok_active = stat_get(st, &active, "tables", "client_ids", "active", NULL);
	bool ok_peak = stat_get(st, &peak, "tables", "client_ids", "peak", NULL);
	bool ok_evicted = stat_get(st, &evicted, "tables", "client_ids", "evicted", NULL);
	bool ok_max = stat_get(st, &cid_max, "detectors", "takeover", "client_ids_max", NULL);
	stat_get(st, &takeovers, "detectors", "takeover", "takeovers", NULL);
	bool ok_fcap = stat_get(st, &f_cap, "tables", "flow", "capacity", NULL);
	bool ok_factive = stat_get(st, &f_active, "tables", "flow", "active", NULL);
	bool ok_fpeak = stat_get(st, &f_peak, "tables", "flow", "peak", NULL);
	stat_get(st, &f_ev_sessions, "flow", "evicted_sessions", NULL);
	print_message("[ info ] scenario 6: client_ids capacity %llu, active %llu, "
		      "peak %llu, evicted %llu; takeovers %llu; flow capacity "
		      "%llu, active %llu, peak %llu, evicted_sessions %llu\n",
		      (unsigned long long)cap, (unsigned long long)active,
		      (unsigned long long)peak, (unsigned long long)evicted,
		      (unsigned long long)takeovers, (unsigned long long)f_cap,
		      (unsigned long long)f_active, (unsigned long long)f_peak,
		      (unsigned long long)f_ev_sessions);

	/* The default detect.max-client-ids, as this tree sizes it from the
	 * default memory.budget (docs/ARCHITECTURE.md "Memory budget"). */
	struct engine_cfg def;
	engine_cfg_default(&def);
	const uint64_t def_ids = set ? S6_SMALL_IDS : def.ids.detect.max_client_ids;
	check(ok_cap && ok_max && cap == cid_max,
	      "tables.client_ids.capacity %llu = detectors.takeover.client_ids_max %llu",
	      (unsigned long long)cap, (unsigned long long)cid_max);
	check(cap == def_ids, "tables.client_ids.capacity %llu = "
	      "detect.max-client-ids %llu", (unsigned long long)cap,
	      (unsigned long long)def_ids);
	check(ok_active && ok_peak && ok_cap && active <= cap && peak <= cap,
	      "tables.client_ids.active %llu and peak %llu <= capacity",
	      (unsigned long long)active, (unsigned long long)peak);
	check(ok_evicted && (set ? evicted > 0 : f_ev_sessions > 0),
	      "room was made: client_ids evicted %llu, flow sessions ended %llu",
	      (unsigned long long)evicted, (unsigned long long)f_ev_sessions);
	check(ok_factive && ok_fpeak && ok_fcap && f_active <= f_cap && f_peak <= f_cap,
	      "tables.flow.active %llu and peak %llu <= tables.flow.capacity %llu",
	      (unsigned long long)f_active, (unsigned long long)f_peak,
	      (unsigned long long)f_cap);
	addr_text(TAKER_ADDR, taker, sizeof(taker));
	if (count_alerts(&as, SID_TAKEOVER, taker) == 0 && f_ev_sessions > 0)
		print_message("[ info ] the flow table ended %llu sessions for "
			      "room (flow.evicted_sessions): an ended session "
			      "releases its client id, so if dev-%d's was among "
			      "them, no open connection held it any more\n",
			      (unsigned long long)f_ev_sessions, S6_VICTIM);
	check(count_alerts(&as, SID_TAKEOVER, taker) > 0,
	      "a Client-id takeover alert (sid %d) for %s, the client that "
	      "connected as dev-%d", SID_TAKEOVER, taker, S6_VICTIM);
	free_alerts(&as);
	cJSON_Delete(st);
	if (check_failures)
		fail_msg("%s: %u checks failed\n", name, check_failures);
}


/*
 * 20 devices (10.2.0.1..20, client ids dev-1..dev-20) connect and stay
 * connected. Then two hosts (10.66.0.1 and .2) open 100,000 connections,
 * 50,000 each, every one accepted with a new client id flood-N and kept
 * open: some 13 times what the takeover detector's table holds at the
 * default budget. Last, 10.77.0.1 connects as dev-7 while 10.2.0.7 still
 * holds it: a takeover (sid 1000017), which the flood must not have made
 * invisible. The table is fair between groups of client addresses, so
 * the flooders push out their own ids, not the devices'.
 */
static void test_client_id_flood(void **state)
{
	(void)state;
	char pcap[PATH_MAX_LEN];
	tmp_path(pcap, sizeof(pcap), "client_id_flood.pcap");
	double t = now_s();
	struct gen g;
	struct mb connect, connack;
	mb_init(&connect);
	mb_init(&connack);
	build_connack(&connack, CONNACK_ACCEPTED);
	gen_open(&g, pcap);
	struct conn c;
	char client_id[32];
	uint64_t ts = T0_US;
	for (uint32_t i = 1; i <= S6_DEVICES; i++) {
		snprintf(client_id, sizeof(client_id), "dev-%u", i);
		build_connect(&connect, client_id, "u", "secret");
		conn_login(&g, &c, DEVICE_BASE + i, CLIENT_PORT_BASE, ts,
			   &connect, &connack, false);
		ts += S6_CONN_EVERY_US;
	}
	_Static_assert(S6_FLOOD_PORT_BASE + S6_FLOOD_CONNS / S6_FLOOD_HOSTS <= 65535,
		       "one port per connection of a flooding host");
	for (uint32_t k = 0; k < S6_FLOOD_CONNS; k++) {
		snprintf(client_id, sizeof(client_id), "flood-%u", k);
		build_connect(&connect, client_id, "u", "secret");
		conn_login(&g, &c, FLOODER_BASE + 1 + k % S6_FLOOD_HOSTS,
			   (uint16_t)(S6_FLOOD_PORT_BASE + k / S6_FLOOD_HOSTS), ts,
			   &connect, &connack, false);
		ts += S6_CONN_EVERY_US;
	}
	snprintf(client_id, sizeof(client_id), "dev-%u", S6_VICTIM);
	build_connect(&connect, client_id, "u", "secret");
	conn_login(&g, &c, TAKER_ADDR, CLIENT_PORT_BASE, ts, &connect, &connack,
		   false);
	gen_close(&g);
	mb_free(&connect);
	mb_free(&connack);
	report_capture("scenario 6 capture", pcap, &g, now_s() - t);

	/* The default budget: the flow table's sessions fill first, and its
	 * fairness keeps the devices' sessions (and so their ids). */
	check_client_id_flood(pcap, NULL, "s6");
	/* A client-id table smaller than the sessions: its own fairness
	 * keeps the devices' ids. */
	check_client_id_flood(pcap, "detect.max-client-ids=" STR(S6_SMALL_IDS),
			      "s6_small");
}

/* ---- setup ---- */

/* Each test's time, generation and runs together. */
static int test_timer_start(void **state)
{
	(void)state;
	test_start_s = now_s();
	return 0;
}

static int test_timer_end(void **state)
{
	(void)state;
	print_message("[ time ] the test: %.2f s\n", now_s() - test_start_s);
	return 0;
}

/* mkdir -p: dir and its missing parents. */
static int mkdir_p(const char *dir)
{
	char p[PATH_MAX_LEN];
	int w = snprintf(p, sizeof(p), "%s", dir);
	if (w <= 0 || (size_t)w >= sizeof(p))
		return -1;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int group_setup(void **state)
{
	(void)state;
	mqttids_bin = getenv("MQTTIDS_BIN");
	if (!mqttids_bin || !*mqttids_bin) {
		fprintf(stderr, "test_state_floods: MQTTIDS_BIN is not set: it must "
				"name the mqttids binary to test (ctest sets it)\n");
		return -1;
	}
	if (access(mqttids_bin, X_OK) != 0) {
		fprintf(stderr, "test_state_floods: MQTTIDS_BIN=%s: %s\n",
			mqttids_bin, strerror(errno));
		return -1;
	}
	const char *keep = getenv(KEEP_ENV);
	if (keep && *keep) {
		int w = snprintf(tmpdir, sizeof(tmpdir), "%s", keep);
		if (w <= 0 || (size_t)w >= sizeof(tmpdir) || mkdir_p(tmpdir) != 0) {
			fprintf(stderr, "test_state_floods: %s=%s: %s\n", KEEP_ENV,
				keep, strerror(errno));
			tmpdir[0] = '\0';
			return -1;
		}
		keep_files = true;
		return 0;
	}
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/mqttids_floods_XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "test_state_floods: mkdtemp %s: %s\n", tmpdir,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Removes the temp dir and the files the tests wrote into it (not a
 * STATE_FLOODS_KEEP directory). */
static int group_teardown(void **state)
{
	(void)state;
	if (!tmpdir[0])
		return 0; /* the setup failed before making it */
	if (keep_files) {
		print_message("[ info ] captures and EVE files kept in %s\n", tmpdir);
		return 0;
	}
	DIR *d = opendir(tmpdir);
	if (!d)
		return -1;
	struct dirent *de;
	char path[PATH_MAX_LEN];
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int w = snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		if (w > 0 && (size_t)w < sizeof(path))
			unlink(path);
	}
	closedir(d);
	return rmdir(tmpdir);
}

int main(void)
{
#define TIMED(f) cmocka_unit_test_setup_teardown(f, test_timer_start, test_timer_end)
	const struct CMUnitTest tests[] = {
		TIMED(test_brute_force_through_syn_flood),
		TIMED(test_brute_force_through_single_logins),
		TIMED(test_sessions_survive_syn_flood),
		TIMED(test_two_seeds_same_output),
		TIMED(test_partial_message_flood),
		TIMED(test_client_id_flood),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
