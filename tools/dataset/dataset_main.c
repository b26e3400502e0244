/*
 * dataset_main.c - mqttids-dataset: builds a named set of labelled
 * captures (benign only, and each attack mixed into benign traffic), in
 * synthetic form with mqttids-synth and in live form with mqttids-testbed,
 * plus an index.jsonl that lists them. Training and the evaluation tables
 * of later issues read the index.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* One case of a set: a scenario body (without name/duration). */
struct dcase {
	const char *name;      /* directory name; "benign" or the attack kind */
	const char *kind;      /* label kind expected; NULL for benign */
	const char *event;     /* the "at" line's directive after the offset */
	const char *security;  /* none, key or hmac */
	bool live_only;        /* the synthetic writer does not render it */
};

static const struct dcase cases[] = {
	{ "benign", NULL, NULL, "hmac", false },
	{ "brute-force", "brute-force", "attack brute-force", "hmac", false },
	{ "discovery", "discovery", "attack discovery", "hmac", false },
	{ "unauth-publish", "unauth-publish", "attack unauth-publish", "hmac", false },
	{ "unauth-subscribe", "unauth-subscribe", "attack unauth-subscribe", "hmac", false },
	{ "malformed", "malformed", "attack malformed", "hmac", false },
	{ "connect-flood", "connect-flood", "attack connect-flood --count 300", "hmac", false },
	{ "flood-malaria", "flood-malaria", "attack flood-malaria --count 250", "hmac", false },
	{ "flood-flock", "flood-flock", "attack flood-flock --count 2000", "hmac", false },
	{ "syn-flood", "syn-flood", "attack syn-flood --count 2000", "hmac", false },
	{ "big-will", "big-will", "attack big-will", "hmac", false },
	{ "slowite", "slowite", "attack slowite --count 1000 --duration 30", "hmac", false },
	{ "slow-ping", "slow-ping", "attack slow-ping --count 100 --duration 40", "hmac", false },
	{ "spoof", "spoof", "attack spoof", "hmac", false },
	{ "no-key", "no-key", "attack no-key", "key", false },
	{ "bad-hmac", "bad-hmac", "attack bad-hmac", "hmac", false },
	{ "replay", "replay", "attack replay", "hmac", false },
	{ "takeover", "takeover", "attack takeover", "hmac", false },
	{ "tamper", "tamper", "tamper esp32-kitchen 12 for 25", "hmac", false },
	{ "silence", "silence", "silence nodemcu-livingroom for 25", "hmac", false },
	{ "z2m-offline", "z2m-offline", "z2m-offline front_door_lock", "hmac", true },
};

/* Sizes of a named set, per form. */
struct form {
	double benign_s, attack_s, at_s;
	unsigned benign_sensors, attack_sensors, benign_interval, attack_interval;
};

struct set {
	const char *name;
	const char *about;
	struct form syn, live;
};

static const struct set sets[] = {
	{ "standard",
	  "24 h benign x 20 sensors and 2 h per attack (synthetic); 3 min benign and 90 s per attack (live)",
	  { 86400, 7200, 3600, 20, 10, 60, 10 }, { 180, 90, 30, 4, 4, 2, 2 } },
	{ "smoke",
	  "1 h benign x 5 sensors and 10 min per attack (synthetic); 40 s benign and 45 s per attack (live)",
	  { 3600, 600, 300, 5, 5, 10, 10 }, { 40, 45, 15, 3, 3, 2, 2 } },
};

static char bin_dir[PATH_MAX];

/* Runs argv, its output appended to log; returns its exit status or -1. */
static int run(char *const argv[], const char *log)
{
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		FILE *f = freopen(log, "a", stdout);
		if (!f || dup2(fileno(stdout), 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The sibling tool: BIN_DIR/name, or BIN_DIR/../<sub>/name in a build tree. */
static void tool(char *out, size_t cap, const char *sub, const char *name)
{
	/* A path that does not fit stays cut; running it then fails clearly. */
	if (snprintf(out, cap, "%s/%s", bin_dir, name) < (int)cap &&
	    access(out, X_OK) == 0)
		return;
	if (snprintf(out, cap, "%s/../%s/%s", bin_dir, sub, name) >= (int)cap)
		out[cap - 1] = 0;
}

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int write_scenario(const char *path, const struct set *st, const struct dcase *c,
			  const struct form *f, bool live)
{
	FILE *o = fopen(path, "w");
	if (!o)
		return -1;
	bool benign = c->kind == NULL;
	fprintf(o, "# %s/%s (%s), written by mqttids-dataset\n", st->name, c->name,
		live ? "live" : "synthetic");
	fprintf(o, "name %s-%s\nduration %.0f\nsensors %u\ninterval %u\nqos mixed\n"
		   "keepalive 15\nsecurity %s\nseed %u\n",
		st->name, c->name, benign ? f->benign_s : f->attack_s,
		benign ? f->benign_sensors : f->attack_sensors,
		benign ? f->benign_interval : f->attack_interval, c->security,
		(unsigned)(c - cases) + 1);
	if (live)
		fprintf(o, "z2m on\n");
	if (!benign)
		fprintf(o, "at %.0f %s\n", f->at_s, c->event);
	return fclose(o);
}

static int build(const struct set *st, const char *out, bool syn, bool live,
		 bool loopback)
{
	char root[PATH_MAX], index[PATH_MAX + 16];
	snprintf(root, sizeof(root), "%s/%s", out, st->name);
	if (mkdirs(root) != 0) {
		fprintf(stderr, "mqttids-dataset: cannot create %s: %s\n", root, strerror(errno));
		return 1;
	}
	snprintf(index, sizeof(index), "%s/index.jsonl", root);
	FILE *ix = fopen(index, "w");
	if (!ix)
		return 1;
	char synth[PATH_MAX], testbed[PATH_MAX];
	tool(synth, sizeof(synth), "synth", "mqttids-synth");
	tool(testbed, sizeof(testbed), "testbed", "mqttids-testbed");
	int failures = 0;
	for (int form = 0; form < 2; form++) {
		bool is_live = form == 1;
		if ((is_live && !live) || (!is_live && !syn))
			continue;
		const struct form *f = is_live ? &st->live : &st->syn;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const struct dcase *c = &cases[i];
			if (c->live_only && !is_live)
				continue;
			char dir[PATH_MAX + 64], scn[PATH_MAX + 96], pcap[PATH_MAX + 96],
			     labels[PATH_MAX + 96], keys[PATH_MAX + 96], log[PATH_MAX + 96];
			snprintf(dir, sizeof(dir), "%s/%s/%s", root, is_live ? "live" : "synthetic",
				 c->name);
			if (mkdirs(dir) != 0)
				return 1;
			snprintf(scn, sizeof(scn), "%s/scenario.scn", dir);
			snprintf(pcap, sizeof(pcap), "%s/capture.pcap", dir);
			snprintf(labels, sizeof(labels), "%s/labels.jsonl", dir);
			snprintf(keys, sizeof(keys), "%s/device-keys", dir);
			snprintf(log, sizeof(log), "%s/build.log", dir);
			unlink(log);
			if (write_scenario(scn, st, c, f, is_live) != 0)
				return 1;
			printf("%-9s %-17s ... ", is_live ? "live" : "synthetic", c->name);
			fflush(stdout);
			int rc;
			if (is_live) {
				char *av[] = { testbed, "run", scn, "-o", dir,
					       loopback ? "--loopback" : NULL, NULL };
				rc = run(av, log);
			} else {
				char *av[] = { synth, "--scenario", scn, "-o", pcap, "--labels",
					       labels, "--keys", keys, NULL };
				rc = run(av, log);
			}
			struct stat sb;
			bool ok = rc == 0 && stat(pcap, &sb) == 0;
			printf("%s\n", ok ? "ok" : "FAILED (see build.log)");
			failures += !ok;
			fprintf(ix, "{\"set\":\"%s\",\"case\":\"%s\",\"mode\":\"%s\",\"kind\":%s%s%s,"
				    "\"pcap\":\"%s/%s/capture.pcap\",\"labels\":\"%s/%s/labels.jsonl\","
				    "\"scenario\":\"%s/%s/scenario.scn\",\"bytes\":%lld,\"ok\":%s}\n",
				st->name, c->name, is_live ? "live" : "synthetic",
				c->kind ? "\"" : "", c->kind ? c->kind : "null", c->kind ? "\"" : "",
				is_live ? "live" : "synthetic", c->name,
				is_live ? "live" : "synthetic", c->name,
				is_live ? "live" : "synthetic", c->name,
				ok ? (long long)sb.st_size : 0LL, ok ? "true" : "false");
		}
	}
	fclose(ix);
	printf("index: %s (%d failed)\n", index, failures);
	return failures ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mqttids-dataset build NAME -o DIR [--synthetic-only | --live-only] [--loopback]\n"
		   "       mqttids-dataset list\n");
}

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	snprintf(bin_dir, sizeof(bin_dir), "%s", dirname(self));
	if (argc >= 2 && !strcmp(argv[1], "list")) {
		for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
			printf("%-9s %s\n", sets[i].name, sets[i].about);
		printf("cases:");
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf(" %s%s", cases[i].name, cases[i].live_only ? "(live only)" : "");
		printf("\n");
		return 0;
	}
	if (argc < 3 || strcmp(argv[1], "build") != 0) {
		usage(stderr);
		return 2;
	}
	const struct set *st = NULL;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (!strcmp(sets[i].name, argv[2]))
			st = &sets[i];
	if (!st) {
		fprintf(stderr, "mqttids-dataset: no set named '%s' (mqttids-dataset list)\n", argv[2]);
		return 2;
	}
	const char *out = NULL;
	bool syn = true, live = true, loopback = false;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--synthetic-only"))
			live = false;
		else if (!strcmp(argv[i], "--live-only"))
			syn = false;
		else if (!strcmp(argv[i], "--loopback"))
			loopback = true;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!out || (!syn && !live)) {
		usage(stderr);
		return 2;
	}
	return build(st, out, syn, live, loopback);
}
