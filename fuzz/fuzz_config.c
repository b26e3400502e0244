/*
 * fuzz_config.c - libFuzzer target for configuration loading (config.c):
 * config_load on the input as a YAML file (libyaml, then our walk over the
 * document), config_parse_size on the input as one string, and config_set
 * on "key=value" when the input has that shape.
 *
 * Oracles: the port list is never empty and stays within ENGINE_MAX_PORTS;
 * a size that parses is the digits times a power-of-1024 unit; a failed
 * load leaves a message.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "sensor/sensor.h"
#include "fuzz_util.h"

static void check_cfg(const struct engine_cfg *c)
{
	FUZZ_CHECK(c->n_ports >= 1 && c->n_ports <= ENGINE_MAX_PORTS);
	for (uint32_t i = 0; i < c->n_ports; i++)
		FUZZ_CHECK(c->ports[i] != 0);
}

static void check_size(const char *s)
{
	uint64_t v = 0;
	if (config_parse_size(s, &v) != 0)
		return;
	/* The digits alone, when they are all there is, give the value. */
	const char *d = s;
	while (*d == ' ' || (*d >= '\t' && *d <= '\r'))
		d++;
	uint64_t digits = 0;
	bool overflow = false;
	const char *q = d;
	for (; *q >= '0' && *q <= '9'; q++) {
		uint64_t dv = (uint64_t)(*q - '0');
		if (digits > (UINT64_MAX - dv) / 10)
			overflow = true;
		digits = digits * 10 + dv;
	}
	FUZZ_CHECK(q > d && !overflow);
	FUZZ_CHECK(v == digits || v == digits * 1024u ||
		   v == digits * 1024u * 1024u ||
		   v == digits * 1024u * 1024u * 1024u);
}

static void ignore_report(void *ud, const struct sensor_report *r)
{
	(void)ud;
	(void)r;
}

/*
 * The detectors section reaches every data detector's configuration
 * parser: starting them must never crash, whatever the tree holds (a
 * refusal, -1 from sensors_new, is a valid answer to a bad policy).
 */
static void check_detectors(const struct engine_cfg *cfg)
{
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!cfg->ids.detectors || !devnull)
		return;
	struct sensors *sn = sensors_new(cfg->ids.detectors, ignore_report, NULL,
					 false, devnull);
	sensors_free(sn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct engine_cfg cfg;
	char err[512];
	const char *path = fuzz_scratch_file(data, size);
	if (path) {
		engine_cfg_default(&cfg);
		err[0] = 0;
		int rc = config_load(path, &cfg, err, sizeof(err));
		FUZZ_CHECK(rc == 0 || rc == -1);
		if (rc)
			FUZZ_CHECK(err[0] != 0);
		check_cfg(&cfg);
		check_detectors(&cfg);
		config_deinit(&cfg);
	}

	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	check_size(s);
	char *eq = strchr(s, '=');
	if (eq) {
		const char *why = NULL;
		*eq = 0;
		engine_cfg_default(&cfg);
		int r = config_set(&cfg, s, eq + 1, &why);
		FUZZ_CHECK(r == 0 || r == -1 || r == -2);
		FUZZ_CHECK((r == 0) == (why == NULL));
		check_cfg(&cfg);
		check_detectors(&cfg);
		config_deinit(&cfg);
	}
	free(s);
	return 0;
}
