/* main.c - the mqttids command line: decode and live subcommands. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "engine/config.h"
#include "engine/engine.h"

#define MQTTIDS_VERSION "0.1.0"

static void usage(FILE *fp)
{
	fputs("usage: mqttids <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  decode [options] FILE...   decode pcap/pcapng files to EVE JSON lines\n"
	      "  live -i IFACE [options]    capture from an interface, write EVE JSON lines\n"
	      "  version                    print the version\n"
	      "\n"
	      "options (decode and live):\n"
	      "  -o, --output FILE          write EVE lines to FILE (default stdout)\n"
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
	      "      --duration SECONDS     stop after SECONDS\n",
	      fp);
}

struct cli {
	struct engine_cfg cfg;
	const char *output;
	bool stats;
	struct live_opts live;
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
	while ((opt = getopt_long(argc, argv, "o:c:i:w:h", long_opts, NULL)) != -1) {
		char *eq;
		switch (opt) {
		case 'o': c->output = optarg; break;
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

static void flush_out(void *ud)
{
	fflush((FILE *)ud);
}

static int run(const char *cmd, int argc, char **argv)
{
	struct cli c;
	memset(&c, 0, sizeof(c));
	if (parse_args(&c, argc, argv))
		return 1;
	bool live = !strcmp(cmd, "live");
	if (live && !c.live.iface) {
		fprintf(stderr, "mqttids: live needs -i IFACE\n");
		return 1;
	}
	if (!live && optind >= argc) {
		fprintf(stderr, "mqttids: decode needs at least one capture file\n");
		return 1;
	}
	FILE *out = stdout;
	if (c.output && !(out = fopen(c.output, "w"))) {
		perror(c.output);
		return 1;
	}
	static char obuf[1 << 16];
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));
	struct engine *e = engine_new(&c.cfg, out);
	if (!e) {
		fprintf(stderr, "mqttids: out of memory setting up the engine\n");
		return 1;
	}
	int rc = 0;
	char err[512];
	if (live) {
		c.live.flush = flush_out;
		c.live.ud = out;
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
	if (c.stats)
		engine_write_eve_stats(e);
	engine_print_stats(e, stderr);
	engine_free(e);
	if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
		perror(c.output ? c.output : "stdout");
		rc = 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "decode") || !strcmp(cmd, "live"))
		return run(cmd, argc - 1, argv + 1);
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
