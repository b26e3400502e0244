/* config.h - YAML configuration and size/number parsing. */
#ifndef MQTTIDS_CONFIG_H
#define MQTTIDS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/*
 * Parses a size such as "500", "64kb", "1mb" or "1gb" (1024-based, case
 * insensitive). Returns 0 and sets *out, or -1 when s is not a size.
 */
int config_parse_size(const char *s, uint64_t *out);

/*
 * Sets one dotted key ("mqtt.max-msg-length") from its text value. Returns
 * 0, -1 for an unknown key, -2 for a value of the wrong form, or
 * CONFIG_REFUSED for a value that would leave mqttids blind (the run must
 * not start); *why then says what was expected.
 */
#define CONFIG_REFUSED (-3)
int config_set(struct engine_cfg *c, const char *key, const char *val,
	       const char **why);

/*
 * Loads a YAML file onto c. Unknown keys and bad values are reported on
 * stderr as FILE:LINE:COLUMN and skipped; the rest still applies. Returns
 * -1 (message in err) only when the file cannot be read or is not YAML.
 */
int config_load(const char *path, struct engine_cfg *c, char *err,
		size_t errsz);

/* Frees what config_load and config_set allocated (the detectors tree). */
void config_deinit(struct engine_cfg *c);

#endif
