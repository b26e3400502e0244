/*
 * main.c - the mqttids command line: decode, read, live, rules, alerts and
 * demo (docs/CLI.md).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/privs.h"
#include "demo/demo.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "sensor/sensor.h"
#include "sensor/sensor_inventory.h"

#define MQTTIDS_VERSION "0.1.0"

static void usage(FILE *fp)
{
	fputs("usage: mqttids <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  demo [-o DIR] [--keep]     run the testbed with attacks and mqttids live on it (~2 min)\n"
	      "  read [options] FILE...     analyse pcap/pcapng files: rules, alerts, EVE, alert store\n"
	      "  live -i IFACE [options]    capture from an interface and detect as it happens\n"
	      "  decode [options] FILE...   decode pcap/pcapng files to EVE JSON lines (no rules)\n"
	      "  rules check [-c CONFIG] [-v] FILE|DIR...   validate rule files\n"
	      "  rules check --list anomalies|classtypes    the names rules may use, one per line\n"
	      "  alerts list|show|ack ...   read and acknowledge the alert store (mqttids alerts --help)\n"
	      "  inventory list|export [-c CONFIG] [--state FILE] [--format table|json|csv]\n"
	      "                             the devices the inventory knows (learned or from its file)\n"
	      "  version                    print the version\n"
	      "\n"
	      "options (read and live):\n"
	      "  -r, --rules FILE|DIR       rule file or directory (repeatable; default: the rules/ directory)\n"
	      "      --eve FILE             write EVE lines (alert, mqtt, anomaly) to FILE ('-': stdout)\n"
	      "      --db FILE              record alerts in an SQLite store\n"
	      "      --no-console           no alert lines on stdout\n"
	      "      --color                colour the alert lines by priority\n"
	      "      --alerts-only          EVE gets alert records only\n"
	      "      --state FILE           keep what the data detectors learned (baselines, inventory,\n"
	      "                             intervals) in FILE across runs (detectors.state.file)\n"
	      "      --no-detectors         rules only: no telemetry, integrity, authorisation,\n"
	      "                             inventory or inactivity detection (docs/sensors.md)\n"
	      "\n"
	      "options (all):\n"
	      "  -o, --output FILE          write EVE lines to FILE (decode: default stdout)\n"
	      "  -c, --config FILE          YAML configuration (see etc/mqttids.yaml)\n"
	      "      --passwords            log CONNECT passwords\n"
	      "      --string-log-limit N   cut logged payloads/topics after N bytes (0: no limit)\n"
	      "      --max-msg-length N     log larger MQTT messages truncated (default 1mb)\n"
	      "      --mqtt-port PORT       another TCP port carrying MQTT (repeatable)\n"
	      "      --no-midstream         ignore streams whose SYN was not seen\n"
	      "      --set KEY=VALUE        set any config key (e.g. flow.max-flows=10000)\n"
	      "      --stats                end with an EVE stats record\n"
	      "options (live):\n"
	      "  -i, --interface IFACE      interface to capture on\n"
	      "      --filter BPF           capture filter (default: tcp)\n"
	      "  -w, --write-pcap FILE      also save captured packets to FILE\n"
	      "      --count N              stop after N packets\n"
	      "      --duration SECONDS     stop after SECONDS\n"
	      "      --user NAME            once the capture is open, run as NAME (run-as.user)\n"
	      "      --group NAME           ... and group NAME (run-as.group; default: NAME's)\n",
	      fp);
}

struct cli {
	struct engine_cfg cfg;
	const char *output;
	bool stats;
	struct live_opts live;
	bool rules_from_cli;
};

enum {
	OPT_PASSWORDS = 1000,
	OPT_STRLIMIT,
	OPT_MAXMSG,
	OPT_PORT,
	OPT_NOMID,
	OPT_SET,
	OPT_STATS,
	OPT_FILTER,
	OPT_COUNT,
	OPT_DURATION,
	OPT_SNAPLEN,
	OPT_EVE,
	OPT_DB,
	OPT_NOCONSOLE,
	OPT_COLOR,
	OPT_ALERTSONLY,
	OPT_STATE,
	OPT_NODETECTORS,
	OPT_USER,
	OPT_GROUP,
};

static const struct option long_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "config", required_argument, NULL, 'c' },
	{ "passwords", no_argument, NULL, OPT_PASSWORDS },
	{ "string-log-limit", required_argument, NULL, OPT_STRLIMIT },
	{ "max-msg-length", required_argument, NULL, OPT_MAXMSG },
	{ "mqtt-port", required_argument, NULL, OPT_PORT },
	{ "no-midstream", no_argument, NULL, OPT_NOMID },
	{ "set", required_argument, NULL, OPT_SET },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "interface", required_argument, NULL, 'i' },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "write-pcap", required_argument, NULL, 'w' },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "snaplen", required_argument, NULL, OPT_SNAPLEN },
	{ "rules", required_argument, NULL, 'r' },
	{ "eve", required_argument, NULL, OPT_EVE },
	{ "db", required_argument, NULL, OPT_DB },
	{ "no-console", no_argument, NULL, OPT_NOCONSOLE },
	{ "color", no_argument, NULL, OPT_COLOR },
	{ "alerts-only", no_argument, NULL, OPT_ALERTSONLY },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "no-detectors", no_argument, NULL, OPT_NODETECTORS },
	{ "user", required_argument, NULL, OPT_USER },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int set_opt(struct cli *c, const char *key, const char *val)
{
	const char *why;
	int r = config_set(&c->cfg, key, val, &why);
	if (r == 0)
		return 0;
	if (r == -2 && (!strcmp(key, "mqtt.string-log-limit") ||
			!strcmp(key, "mqtt.max-msg-length")))
		fprintf(stderr, "mqttids: invalid size argument '%s' for %s\n",
			val, key);
	else if (r == CONFIG_REFUSED)
		fprintf(stderr, "mqttids: --set %s=%s refused: %s\n", key, val, why);
	else
		fprintf(stderr, "mqttids: %s '%s' for %s; expected %s\n",
			r == -1 ? "unknown key" : "bad value", val, key, why);
	return -1;
}

/* Parses options; config file first, so command-line options win. */
static int parse_args(struct cli *c, int argc, char **argv)
{
	const char *config = NULL;
	engine_cfg_default(&c->cfg);
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
	}
	if (config) {
		char err[512];
		if (config_load(config, &c->cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "mqttids: %s\n", err);
			return -1;
		}
	}
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:c:i:w:r:h", long_opts, NULL)) != -1) {
		char *eq;
		switch (opt) {
		case 'o': c->output = optarg; break;
		case OPT_EVE: c->output = optarg; break;
		case 'r':
			/* Rules given here replace the config's list. */
			if (!c->rules_from_cli)
				c->cfg.ids.n_rule_paths = 0;
			c->rules_from_cli = true;
			if (set_opt(c, "rules.files", optarg))
				return -1;
			break;
		case OPT_DB:
			if (set_opt(c, "outputs.sqlite.filename", optarg))
				return -1;
			break;
		case OPT_NOCONSOLE: c->cfg.ids.console = false; break;
		case OPT_COLOR: c->cfg.ids.console_color = true; break;
		case OPT_ALERTSONLY:
			c->cfg.ids.eve_mqtt = c->cfg.ids.eve_anomaly = false;
			break;
		case OPT_STATE:
			if (set_opt(c, "detectors.state.file", optarg))
				return -1;
			break;
		case OPT_NODETECTORS: c->cfg.ids.detectors_off = true; break;
		case OPT_USER:
			if (set_opt(c, "run-as.user", optarg))
				return -1;
			break;
		case OPT_GROUP:
			if (set_opt(c, "run-as.group", optarg))
				return -1;
			break;
		case 'c': break;
		case OPT_PASSWORDS: c->cfg.mqtt.log_passwords = true; break;
		case OPT_STRLIMIT:
			if (set_opt(c, "mqtt.string-log-limit", optarg))
				return -1;
			break;
		case OPT_MAXMSG:
			if (set_opt(c, "mqtt.max-msg-length", optarg))
				return -1;
			break;
		case OPT_PORT:
			if (set_opt(c, "mqtt.ports", optarg))
				return -1;
			break;
		case OPT_NOMID: c->cfg.reasm.midstream = false; break;
		case OPT_SET:
			eq = strchr(optarg, '=');
			if (!eq) {
				fprintf(stderr, "mqttids: --set needs KEY=VALUE\n");
				return -1;
			}
			*eq = 0;
			if (set_opt(c, optarg, eq + 1))
				return -1;
			break;
		case OPT_STATS: c->stats = true; break;
		case 'i': c->live.iface = optarg; break;
		case OPT_FILTER: c->live.filter = optarg; break;
		case 'w': c->live.write_pcap = optarg; break;
		case OPT_COUNT: c->live.count = strtoull(optarg, NULL, 10); break;
		case OPT_DURATION: c->live.duration_s = (uint32_t)strtoul(optarg, NULL, 10); break;
		case OPT_SNAPLEN: c->live.snaplen = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	return 0;
}

/* ---- read and live: detection and its outputs ---- */

static volatile sig_atomic_t got_hup;

static void on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

static uint64_t wall_now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* What live's capture callbacks reach. */
/* Files a dropped live run still writes: EVE, store and 3 journals,
 * state, -w. */
#define PRIVS_OWN_MAX 7

struct live_ctx {
	struct output *out;
	struct engine *e;
	uint64_t stats_every_us; /* 0: no periodic stats record */
	uint64_t next_stats_us;
	/* run-as: whom to become once the capture is open (drop: set). */
	bool drop;
	struct privs privs;
	const char *own[PRIVS_OWN_MAX];  /* files written later */
	size_t n_own;
	char dirs[2][IDS_PATH_MAX];      /* where files are created later */
	size_t n_dirs;
};

/* Live: the capture is open; give up root if asked to. */
static int on_opened(void *ud, char *err, size_t errsz)
{
	struct live_ctx *lc = ud;
	if (!lc->drop)
		return 0;
	const char *dirs[2] = { lc->dirs[0], lc->dirs[1] };
	if (privs_drop(&lc->privs, lc->own, lc->n_own, dirs, lc->n_dirs, err,
		       errsz) != 0)
		return -1;
	fprintf(stderr, "mqttids: capture open; running as %s (uid %u, gid %u)\n",
		lc->privs.user, (unsigned)lc->privs.uid, (unsigned)lc->privs.gid);
	return 0;
}

/* The directory part of path into out ("." when it has none). */
static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(out, cap, ".");
	else if (slash == path)
		snprintf(out, cap, "/");
	else
		snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* Live: the capture is idle. */
static void out_flush(void *ud)
{
	struct live_ctx *lc = ud;
	output_flush(lc->out, 0);
}

/*
 * Live: once a second. A stats record every stats.interval (as Suricata's
 * stats log); commits the store; reopens files after SIGHUP.
 */
static void out_tick(void *ud, uint64_t now_us)
{
	struct live_ctx *lc = ud;
	if (lc->stats_every_us) {
		if (!lc->next_stats_us)
			lc->next_stats_us = now_us + lc->stats_every_us;
		else if (now_us >= lc->next_stats_us) {
			lc->next_stats_us = now_us + lc->stats_every_us;
			engine_write_eve_stats(lc->e);
		}
	}
	output_flush(lc->out, now_us);
	if (!got_hup)
		return;
	got_hup = 0;
	output_reopen(lc->out);
}

/* The rules directory used when none is configured. */
static const char *default_rules_dir(void)
{
	static const char *const dirs[] = {
#ifdef MQTTIDS_SOURCE_RULES_DIR
		MQTTIDS_SOURCE_RULES_DIR,
#endif
		"/usr/local/share/mqttids/rules",
		"/usr/share/mqttids/rules",
		"/etc/mqttids/rules",
	};
	struct stat sb;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (stat(dirs[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			return dirs[i];
	return NULL;
}

#define CLASS_FILE_NAME "classification.config"

/* Whether DIR/classification.config exists; its path into buf. */
static bool class_file_in(const char *dir, size_t dn, char *buf, size_t sz)
{
	struct stat sb;
	int k = snprintf(buf, sz, "%.*s%s" CLASS_FILE_NAME, (int)dn, dir,
			 dn && dir[dn - 1] != '/' ? "/" : "");
	return k > 0 && (size_t)k < sz && stat(buf, &sb) == 0 &&
	       S_ISREG(sb.st_mode);
}

/*
 * The classification file (docs/rules.md §5.5): rules.classification-file;
 * else classification.config in the first rule directory, or directory of
 * a rule file, that has one; else in the default rules directory. NULL:
 * none (rules that name a classtype then fail to load).
 */
static const char *class_file(const struct ids_cfg *ids, int n,
			      const char *const *paths, char *buf, size_t sz)
{
	if (ids->class_path[0])
		return ids->class_path;
	for (int i = 0; i < n; i++) {
		struct stat sb;
		const char *p = paths[i];
		size_t dn = strlen(p);
		if (stat(p, &sb) != 0)
			continue;
		if (!S_ISDIR(sb.st_mode)) {
			const char *sl = strrchr(p, '/');
			dn = sl ? (size_t)(sl - p) + 1 : 0;
			if (!dn)
				p = "./", dn = 2;
		}
		if (class_file_in(p, dn, buf, sz))
			return buf;
	}
	const char *dir = default_rules_dir();
	return dir && class_file_in(dir, strlen(dir), buf, sz) ? buf : NULL;
}

/*
 * Loads the configured rules; each broken rule is reported. *errors gets
 * how many rules failed and files could not be read (-1 from a loader).
 */
static struct ruleset *load_rules(const struct ids_cfg *ids, int *errors)
{
	*errors = 0;
	struct ruleset *rs = ruleset_new(&ids->vars);
	if (!rs)
		return NULL;
	const char *paths[IDS_MAX_RULE_PATHS];
	for (uint32_t i = 0; i < ids->n_rule_paths; i++)
		paths[i] = ids->rule_paths[i];
	char cbuf[IDS_PATH_MAX + sizeof(CLASS_FILE_NAME) + 1];
	const char *cf = class_file(ids, (int)ids->n_rule_paths, paths, cbuf,
				    sizeof(cbuf));
	if (cf) {
		int r = ruleset_load_classification(rs, cf, stderr);
		*errors += r < 0 ? 1 : r;
	}
	if (ids->n_rule_paths == 0) {
		const char *dir = default_rules_dir();
		if (!dir) {
			fprintf(stderr, "mqttids: no rules configured and no default rules directory found; use --rules\n");
			*errors = 1;
		} else {
			int r = ruleset_load_dir(rs, dir, stderr);
			*errors += r < 0 ? 1 : r;
		}
	}
	for (uint32_t i = 0; i < ids->n_rule_paths; i++) {
		const char *path = ids->rule_paths[i];
		struct stat sb;
		int r = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)
				? ruleset_load_dir(rs, path, stderr)
				: ruleset_load_file(rs, path, stderr);
		*errors += r < 0 ? 1 : r;
	}
	return rs;
}

static uint64_t random_seed(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd >= 0) {
		if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			v = 0;
		close(fd);
	}
	if (!v)
		v = wall_now_us() ^ ((uint64_t)getpid() << 32);
	return v | 1;
}

/* An early exit of run: what the configuration allocated is freed. */
static int run_fail(struct cli *c)
{
	config_deinit(&c->cfg);
	return 1;
}

static int run(const char *cmd, int argc, char **argv)
{
	struct cli c;
	memset(&c, 0, sizeof(c));
	if (parse_args(&c, argc, argv))
		return run_fail(&c);
	bool live = !strcmp(cmd, "live");
	bool detect = live || !strcmp(cmd, "read");
	if (live && !c.live.iface) {
		fprintf(stderr, "mqttids: live needs -i IFACE\n");
		return run_fail(&c);
	}
	if (!live && optind >= argc) {
		fprintf(stderr, "mqttids: %s needs at least one capture file\n", cmd);
		return run_fail(&c);
	}
	struct ids_cfg *ids = &c.cfg.ids;
	/* Offline uuids are a hash of the alert: a re-read gives the same ones. */
	ids->detect.uuid_seed = live ? random_seed() : 0;
	/* metadata.mqtt.auth.password[] only when passwords are logged at all. */
	ids->detect.log_passwords = c.cfg.mqtt.log_passwords;

	/* decode: EVE to stdout unless -o; read/live: only to --eve/-o or the config's file. */
	const char *eve_path = c.output ? c.output : detect ? (ids->eve_path[0] ? ids->eve_path : NULL) : "-";
	struct output_cfg oc;
	memset(&oc, 0, sizeof(oc));
	oc.eve.string_log_limit = c.cfg.mqtt.string_log_limit;
	oc.eve.log_passwords = c.cfg.mqtt.log_passwords;
	oc.eve_path = eve_path;
	/* live appends (a restart must not clobber the log); read rewrites. */
	oc.eve_append = live;
	if (!detect)
		oc.eve_kinds = OUT_BIT(OUT_MQTT) | OUT_BIT(OUT_ANOMALY);
	else
		oc.eve_kinds = (ids->eve_mqtt ? OUT_BIT(OUT_MQTT) : 0) |
			       (ids->eve_anomaly ? OUT_BIT(OUT_ANOMALY) : 0) |
			       (ids->eve_alert ? OUT_BIT(OUT_ALERT) : 0);
	/* Stats records: at the end with --stats; live also every interval. */
	if (c.stats || (live && ids->stats_interval_s))
		oc.eve_kinds |= OUT_BIT(OUT_STATS);
	bool eve_stdout = eve_path && !strcmp(eve_path, "-");
	if (detect && ids->console)
		oc.console = eve_stdout ? stderr : stdout;
	oc.console_color = ids->console_color;
	oc.db_path = detect ? ids->db_path : NULL;
	oc.store = ids->store;
	oc.live = live;
	oc.file_mode = ids->file_mode;

	struct ruleset *rs = NULL;
	struct output *out = NULL;
	struct engine *e = NULL;
	int rc = 1;
	char err[512];
	if (detect) {
		int rule_errors;
		rs = load_rules(ids, &rule_errors);
		if (!rs) {
			fprintf(stderr, "mqttids: out of memory loading rules\n");
			goto done;
		}
		/* A rule that did not load is detection that is off: stop,
		 * unless the user said to run without it. */
		if (rule_errors && !ids->allow_rule_errors) {
			fprintf(stderr, "mqttids: %d rule%s or rule file%s failed to load "
				"(above); fix them, or set rules.allow-errors: yes to "
				"run without them\n", rule_errors,
				rule_errors == 1 ? "" : "s", rule_errors == 1 ? "" : "s");
			goto done;
		}
		if (rule_errors)
			fprintf(stderr, "mqttids: warning: running without %d rule%s "
				"that failed to load (rules.allow-errors)\n", rule_errors,
				rule_errors == 1 ? "" : "s");
	}
	out = output_open(&oc, err, sizeof(err));
	if (!out) {
		fprintf(stderr, "mqttids: %s\n", err);
		goto done;
	}
	e = engine_new(&c.cfg, out);
	if (!e) {
		fprintf(stderr, "mqttids: out of memory setting up the engine\n");
		goto done;
	}
	if (detect) {
		int er = engine_enable_detect(e, rs, live);
		if (er != 0) {
			fprintf(stderr, er == -2 ? "mqttids: the data detectors could not start; fix the configuration or use --no-detectors\n"
						 : "mqttids: out of memory setting up detection\n");
			goto done;
		}
		fprintf(stderr, "mqttids: %zu rules loaded\n", ruleset_count(rs));
		struct sensors *sn = engine_sensors(e);
		if (sn && sensors_state_path(sn))
			sensors_load_state(sn, sensors_state_path(sn));
	}
	rc = 0;
	if (live) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_hup;
		sigaction(SIGHUP, &sa, NULL);
		struct live_ctx lc = {
			.out = out, .e = e,
			.stats_every_us = (uint64_t)ids->stats_interval_s * 1000000u,
		};
		c.live.flush = out_flush;
		c.live.tick = out_tick;
		c.live.opened = on_opened;
		c.live.ud = &lc;
		c.live.write_mode = ids->file_mode;
		if (ids->run_as_user[0]) {
			if (geteuid() != 0) {
				fprintf(stderr, "mqttids: run-as user %s: not running as "
					"root, nothing to drop\n", ids->run_as_user);
				rc = 1;
				goto done;
			}
			if (privs_lookup(ids->run_as_user, ids->run_as_group,
					 &lc.privs, err, sizeof(err)) != 0) {
				fprintf(stderr, "mqttids: %s\n", err);
				rc = 1;
				goto done;
			}
			lc.drop = true;
			/* What is written after the drop: the EVE file (reopened
			 * on SIGHUP), the store and its journals, the state, -w. */
			static char db_aux[3][IDS_PATH_MAX + 16];
			static const char *const aux[3] = { "-wal", "-shm", "-journal" };
			const char *state = engine_sensors(e) ? sensors_state_path(engine_sensors(e)) : NULL;
			if (eve_path && strcmp(eve_path, "-"))
				lc.own[lc.n_own++] = eve_path;
			if (oc.db_path && *oc.db_path) {
				lc.own[lc.n_own++] = oc.db_path;
				for (int i = 0; i < 3; i++) {
					snprintf(db_aux[i], sizeof(db_aux[i]), "%s%s", oc.db_path, aux[i]);
					lc.own[lc.n_own++] = db_aux[i];
				}
				dir_of(oc.db_path, lc.dirs[lc.n_dirs++], IDS_PATH_MAX);
			}
			if (state) {
				lc.own[lc.n_own++] = state;
				dir_of(state, lc.dirs[lc.n_dirs++], IDS_PATH_MAX);
			}
			if (c.live.write_pcap)
				lc.own[lc.n_own++] = c.live.write_pcap;
		} else if (geteuid() == 0) {
			fprintf(stderr, "mqttids: warning: live keeps root for its whole "
				"run; --user NAME (run-as.user) drops it once the capture "
				"is open\n");
		}
		if (capture_live(&c.live, e, err, sizeof(err)) != 0) {
			fprintf(stderr, "mqttids: %s\n", err);
			rc = 1;
		}
	} else {
		for (int i = optind; i < argc; i++) {
			if (capture_file(argv[i], e, err, sizeof(err)) != 0) {
				fprintf(stderr, "mqttids: %s\n", err);
				rc = 1;
			}
		}
	}
	engine_finish(e);
	if (engine_sensors(e) && sensors_state_path(engine_sensors(e)) &&
	    sensors_save_state(engine_sensors(e), sensors_state_path(engine_sensors(e))) != 0)
		rc = 1;
	if (c.stats)
		engine_write_eve_stats(e);
	engine_print_stats(e, stderr);
	const struct detect_stats *ds = engine_detect_stats(e);
	if (ds)
		fprintf(stderr, "mqttids: %llu alerts, %llu updates, %llu rule matches "
			"(%llu events, %llu rule checks), %llu detector findings\n",
			(unsigned long long)ds->alerts,
			(unsigned long long)ds->updates,
			(unsigned long long)ds->matches,
			(unsigned long long)ds->events,
			(unsigned long long)ds->rule_checks,
			(unsigned long long)ds->findings);
	if (ds && ds->alerts_folded)
		fprintf(stderr, "mqttids: %llu alerts over the alert rates "
			"(detect.rule-alert-rate, detect.alert-rate) folded into "
			"%llu fold alerts\n",
			(unsigned long long)ds->alerts_folded,
			(unsigned long long)ds->folds);
done:
	engine_free(e);
	if (out) {
		uint64_t failed = output_errors(out);
		if (output_close(out, live ? wall_now_us() : 0) != 0) {
			if (failed)
				fprintf(stderr, "mqttids: %llu records could not be written to the outputs\n",
					(unsigned long long)failed);
			rc = 1;
		}
	}
	ruleset_free(rs);
	config_deinit(&c.cfg);
	return rc;
}

/* mqttids rules check [-c CONFIG] [-v] FILE|DIR... */
static int rules_cmd(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "check")) {
		fprintf(stderr, "usage: mqttids rules check [-c CONFIG] [-v] FILE|DIR...\n"
				"       mqttids rules check [-c CONFIG] --list anomalies|classtypes\n");
		return 2;
	}
	struct engine_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	engine_cfg_default(cfg);
	bool verbose = false;
	const char *list = NULL;
	int n = 0;
	char **paths = calloc((size_t)argc, sizeof(*paths));
	int rc = 1;
	if (!paths)
		goto out;
	for (int i = 2; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
			char err[512];
			if (config_load(argv[++i], cfg, err, sizeof(err)) != 0) {
				fprintf(stderr, "mqttids: %s\n", err);
				goto out;
			}
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--list") && i + 1 < argc) {
			list = argv[++i];
		} else {
			paths[n++] = argv[i];
		}
	}
	char cbuf[IDS_PATH_MAX + sizeof(CLASS_FILE_NAME) + 1];
	const char *cf = class_file(&cfg->ids, n, (const char *const *)paths,
				    cbuf, sizeof(cbuf));
	if (list) {
		rc = rules_list(list, cf, stdout, stderr);
		goto out;
	}
	if (n == 0) {
		fprintf(stderr, "mqttids: rules check needs a rule file or directory\n");
		rc = 2;
		goto out;
	}
	rc = rules_check(&cfg->ids.vars, cf, n, paths, verbose, stdout, stderr);
out:
	free(paths);
	config_deinit(cfg);
	free(cfg);
	return rc;
}

static void inventory_ignore(void *ud, const struct sensor_report *r)
{
	(void)ud;
	(void)r;
}

/*
 * mqttids inventory list|export: the device inventory as the detectors
 * would start with it: its known-devices file (detectors.inventory.file)
 * plus what the state file says was learned.
 */
static int inventory_cmd(int argc, char **argv)
{
	const char *usage_s = "usage: mqttids inventory list|export [-c CONFIG] [--state FILE] [--format table|json|csv]\n";
	if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "export"))) {
		fputs(usage_s, stderr);
		return 2;
	}
	const char *format = !strcmp(argv[1], "list") ? "table" : "json";
	struct engine_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	engine_cfg_default(cfg);
	int rc = 2;
	const char *state = NULL;
	for (int i = 2; i < argc; i++) {
		const char *why;
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
			char err[512];
			if (config_load(argv[++i], cfg, err, sizeof(err)) != 0) {
				fprintf(stderr, "mqttids: %s\n", err);
				rc = 1;
				goto out;
			}
		} else if (!strcmp(argv[i], "--state") && i + 1 < argc) {
			state = argv[++i];
		} else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			format = argv[++i];
		} else if (!strcmp(argv[i], "--set") && i + 1 < argc && strchr(argv[i + 1], '=')) {
			char *kv = argv[++i], *eq = strchr(kv, '=');
			*eq = 0;
			if (config_set(cfg, kv, eq + 1, &why) != 0) {
				fprintf(stderr, "mqttids: --set %s: expected %s\n", kv, why ? why : "a value");
				goto out;
			}
		} else {
			fputs(usage_s, stderr);
			goto out;
		}
	}
	rc = 1;
	struct sensors *sn = sensors_new(cfg->ids.detectors, inventory_ignore, NULL, false, stderr);
	if (!sn)
		goto out;
	if (!state)
		state = sensors_state_path(sn);
	if (state && sensors_peek_state(sn, state) != 0)
		fprintf(stderr, "mqttids: listing without the state file\n");
	void *inv = sensors_state(sn, "inventory");
	if (!inv) {
		fprintf(stderr, "mqttids: the inventory is disabled (detectors.inventory.enabled)\n");
	} else {
		int w = inventory_write(inv, stdout, format);
		if (w == -1) {
			fprintf(stderr, "mqttids: unknown format '%s': table, json or csv\n", format);
			rc = 2;
		} else {
			rc = w == 0 && fflush(stdout) == 0 ? 0 : 1;
		}
	}
	sensors_free(sn);
out:
	config_deinit(cfg);
	free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "decode") || !strcmp(cmd, "live") || !strcmp(cmd, "read"))
		return run(cmd, argc - 1, argv + 1);
	if (!strcmp(cmd, "rules"))
		return rules_cmd(argc - 1, argv + 1);
	if (!strcmp(cmd, "alerts"))
		return alerts_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "inventory"))
		return inventory_cmd(argc - 1, argv + 1);
	if (!strcmp(cmd, "demo"))
		return demo_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("mqttids %s\n", MQTTIDS_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "mqttids: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
