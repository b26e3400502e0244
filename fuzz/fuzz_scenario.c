/*
 * fuzz_scenario.c - libFuzzer target for the testbed's scenario parser
 * (tools/common/tb_scenario.c): tb_scenario_parse on the input as the text
 * of a scenario file, and tb_scenario_load on the same bytes as a file.
 *
 * Oracles: every message is one "f:LINE:COL: text" line and there are as
 * many as problems (the first 50, then one note); no message means no
 * problem; every value is within its documented range; events are at most
 * TB_SC_MAX_EVENTS, sorted by time with file order kept for equal times,
 * before the end of the run, with NUL-terminated strings; attacks have a
 * known kind and 1 to TB_SC_MAX_ARGS arguments; tamper and silence name an
 * existing sensor, z2m-offline needs z2m on; loading the bytes from a file
 * gives the same result as parsing them; an attack's arguments either fail
 * the attack tool's own parser or give options within their ranges.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tb_attack.h"
#include "tb_scenario.h"

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

static bool sensor_exists(const struct tb_scenario *sc, const char *dev)
{
	char id[96];
	for (unsigned i = 1; i <= sc->sensors; i++) {
		tb_sensor_name(i, id, sizeof(id), NULL, 0, NULL, 0);
		if (!strcmp(id, dev))
			return true;
	}
	return false;
}

/*
 * The attack's own option parser (tb_attack_parse, as mqttids-synth and
 * mqttids-testbed check call it) on the event's words: either an error or
 * options within their documented ranges.
 */
static void check_attack_args(const struct tb_event *e)
{
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	char *av[TB_SC_MAX_ARGS];
	for (int k = 0; k < e->argc; k++)
		av[k] = (char *)e->argv[k];
	struct tb_attack_opts o;
	if (tb_attack_parse(e->argc, av, &o, devnull) != 0)
		return;
	FUZZ_CHECK(o.count <= 1000000 && o.clients >= 1 && o.clients <= 256);
	FUZZ_CHECK(o.version >= 3 && o.version <= 5 && o.qos <= 2);
	FUZZ_CHECK(o.duration >= 0 && o.duration <= 86400 && o.rate >= 0);
	FUZZ_CHECK(o.keepalive <= 65535 && o.payload_size <= 16u * 1024 * 1024);
	FUZZ_CHECK(terminated(o.topic, sizeof(o.topic)) && terminated(o.device, sizeof(o.device)) &&
		   terminated(o.client_id, sizeof(o.client_id)) &&
		   terminated(o.username, sizeof(o.username)) &&
		   terminated(o.password, sizeof(o.password)) &&
		   terminated(o.wordlist, sizeof(o.wordlist)) &&
		   terminated(o.shared_key, sizeof(o.shared_key)));
}

static void check_sc(const struct tb_scenario *sc)
{
	FUZZ_CHECK(terminated(sc->name, sizeof(sc->name)) && sc->name[0]);
	FUZZ_CHECK(sc->duration > 0 && sc->duration <= 86400);
	FUZZ_CHECK(sc->sensors >= 1 && sc->sensors <= 32);
	FUZZ_CHECK(sc->interval >= 1 && sc->interval <= 3600);
	FUZZ_CHECK(sc->qos == 0 || sc->qos == 1 || sc->qos == -1);
	FUZZ_CHECK(sc->keepalive == 0 || (sc->keepalive >= 5 && sc->keepalive <= 65535));
	FUZZ_CHECK(sc->mqtt_version >= 3 && sc->mqtt_version <= 5);
	FUZZ_CHECK(sc->security == TB_SEC_NONE || sc->security == TB_SEC_KEY ||
		   sc->security == TB_SEC_HMAC);
	FUZZ_CHECK(sc->z2m_devices >= 1 && sc->z2m_devices <= 16);
	FUZZ_CHECK(sc->n_ev <= TB_SC_MAX_EVENTS);
	for (unsigned i = 0; i < sc->n_ev; i++) {
		const struct tb_event *e = &sc->ev[i];
		FUZZ_CHECK(e->at >= 0 && e->at < sc->duration);
		FUZZ_CHECK(e->line >= 1);
		if (i) {
			FUZZ_CHECK(sc->ev[i - 1].at <= e->at);
			if (sc->ev[i - 1].at == e->at)
				FUZZ_CHECK(sc->ev[i - 1].line < e->line);
		}
		switch (e->kind) {
		case TB_EV_ATTACK:
			FUZZ_CHECK(e->argc >= 1 && e->argc <= TB_SC_MAX_ARGS);
			for (int a = 0; a < e->argc; a++)
				FUZZ_CHECK(terminated(e->argv[a], TB_SC_ARG_LEN));
			FUZZ_CHECK(tb_attack_kind_known(e->argv[0]));
			check_attack_args(e);
			break;
		case TB_EV_TAMPER:
			FUZZ_CHECK(e->delta != 0 && e->delta >= -60 && e->delta <= 60);
			FUZZ_CHECK(e->for_s > 0);
			FUZZ_CHECK(terminated(e->device, sizeof(e->device)));
			FUZZ_CHECK(sensor_exists(sc, e->device));
			break;
		case TB_EV_SILENCE:
			FUZZ_CHECK(e->for_s > 0);
			FUZZ_CHECK(terminated(e->device, sizeof(e->device)));
			FUZZ_CHECK(sensor_exists(sc, e->device));
			break;
		case TB_EV_Z2M_OFFLINE:
			FUZZ_CHECK(sc->z2m);
			FUZZ_CHECK(e->for_s >= 0);
			FUZZ_CHECK(terminated(e->device, sizeof(e->device)) && e->device[0]);
			break;
		default:
			FUZZ_CHECK(!"unknown event kind");
		}
	}
}

/* Each line "f:LINE:COL: text"; returns the number of lines. */
static size_t check_messages(const char *out, size_t len)
{
	size_t lines = 0;
	const char *p = out, *end = out + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(nl != NULL);
		FUZZ_CHECK(nl - p > 3 && p[0] == 'f' && p[1] == ':');
		const char *q = p + 2;
		for (int field = 0; field < 2; field++) {
			const char *d = q;
			while (q < nl && *q >= '0' && *q <= '9')
				q++;
			FUZZ_CHECK(q > d && q < nl && *q == ':');
			q++;
		}
		FUZZ_CHECK(q < nl && *q == ' ' && q + 1 < nl);
		lines++;
		p = nl + 1;
	}
	return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tb_scenario sc, sc2;
	char *text = (char *)fuzz_dup(data, size);
	char *out = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&out, &len);
	if (!text || !err) {
		free(text);
		if (err)
			fclose(err);
		free(out);
		return 0;
	}
	int problems = tb_scenario_parse("f", text, size, &sc, err);
	fclose(err);
	FUZZ_CHECK(problems >= 0);
	size_t lines = check_messages(out, len);
	FUZZ_CHECK(lines == (size_t)(problems > 50 ? 51 : problems));
	check_sc(&sc);

	const char *path = fuzz_scratch_file(data, size);
	if (path) {
		int p2 = tb_scenario_load(path, &sc2, NULL);
		FUZZ_CHECK(p2 == problems);
		FUZZ_CHECK(sc2.n_ev == sc.n_ev && sc2.sensors == sc.sensors &&
			   !strcmp(sc2.name, sc.name) && sc2.seed == sc.seed);
		for (unsigned i = 0; i < sc.n_ev; i++)
			FUZZ_CHECK(sc2.ev[i].line == sc.ev[i].line);
	}

	/* Device names for an index taken from the input: always terminated. */
	if (size >= 4) {
		unsigned i = (unsigned)data[0] << 24 | (unsigned)data[1] << 16 |
			     (unsigned)data[2] << 8 | data[3];
		char id[96], room[32], topic[160];
		size_t cap = size % sizeof(id);
		tb_sensor_name(i, id, cap, room, sizeof(room), topic, sizeof(topic));
		if (cap)
			FUZZ_CHECK(terminated(id, cap));
		FUZZ_CHECK(terminated(room, sizeof(room)) && room[0]);
		FUZZ_CHECK(!strncmp(topic, "sensors/", 8));
	}
	free(out);
	free(text);
	return 0;
}
