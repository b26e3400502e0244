/*
 * attack_main.c - mqttids-attack: runs one bounded attack against the
 * broker address it is given, and appends the ground-truth label.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "live_io.h"
#include "tb_attack.h"
#include "tb_label.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mqttids-attack KIND --broker IPV4 [--port P] [--bind SRC] [--label FILE]\n"
		   "                      [--i-own-this-broker] [attack options]\n"
		   "kinds:");
	for (int k = 0; k < TB_KIND_COUNT; k++)
		fprintf(f, " %s", tb_kind_name((enum tb_kind)k));
	fprintf(f, "\n");
	tb_attack_usage(f);
}

/* Loopback, RFC 1918 and link-local: addresses a test network uses. */
static bool private_target(const char *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	uint32_t v = ntohl(a.s_addr);
	return (v >> 24) == 127 || (v >> 24) == 10 || (v >> 20) == 0xac1 ||
	       (v >> 16) == 0xc0a8 || (v >> 16) == 0xa9fe;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *broker = NULL, *bind_addr = NULL, *label_path = NULL;
	long port = 1883;
	bool own = false;
	/* Transport options out, attack options (with the kind first) kept. */
	char **rest = calloc((size_t)argc, sizeof(*rest));
	if (!rest)
		return 1;
	int nrest = 0;
	rest[nrest++] = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		bool takes = !strcmp(a, "--broker") || !strcmp(a, "--port") ||
			     !strcmp(a, "--bind") || !strcmp(a, "--label");
		if (takes && i + 1 >= argc) {
			fprintf(stderr, "mqttids-attack: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--broker"))
			broker = argv[++i];
		else if (!strcmp(a, "--bind"))
			bind_addr = argv[++i];
		else if (!strcmp(a, "--label"))
			label_path = argv[++i];
		else if (!strcmp(a, "--port")) {
			char *end;
			port = strtol(argv[++i], &end, 10);
			if (*end || port < 1 || port > 65535) {
				fprintf(stderr, "mqttids-attack: --port must be 1-65535\n");
				return 2;
			}
		} else if (!strcmp(a, "--i-own-this-broker"))
			own = true;
		else
			rest[nrest++] = argv[i];
	}
	struct tb_attack_opts o;
	if (tb_attack_parse(nrest, rest, &o, stderr) != 0) {
		usage(stderr);
		return 2;
	}
	free(rest);
	if (!broker) {
		fprintf(stderr, "mqttids-attack: --broker is required\n");
		return 2;
	}
	if (!private_target(broker) && !own) {
		fprintf(stderr, "mqttids-attack: %s is not a loopback or private address; "
				"add --i-own-this-broker to attack a broker you run elsewhere\n",
			broker);
		return 2;
	}
	/* Room for SlowITe's connections plus some. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < o.count + 256u) {
		rl.rlim_cur = o.count + 256u;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur; /* only root may raise it */
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			fprintf(stderr, "mqttids-attack: cannot raise the descriptor limit; "
					"fewer connections may open\n");
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct live_io l;
	if (live_io_init(&l, broker, (uint16_t)port, bind_addr, o.version) != 0)
		return 2;
	l.io.stop = &stop_flag;
	struct tb_label lab;
	int rc = tb_attack_run(&o, &l.io, &lab, stderr);
	live_io_deinit(&l);
	if (lab.connections || lab.messages_sent || lab.packets_sent)
		if (tb_label_write(label_path, &lab) != 0)
			rc = -1;
	return rc == 0 ? 0 : 1;
}
