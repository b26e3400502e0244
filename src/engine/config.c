/* config.c - mqttids.yaml loading with libyaml; every key has a default. */
#include "engine/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "sensor/sensor_cfg.h"

int config_parse_size(const char *s, uint64_t *out)
{
	if (!s)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	uint64_t mul = 1;
	if (*end) {
		if (!strcasecmp(end, "b"))
			mul = 1;
		else if (!strcasecmp(end, "kb") || !strcasecmp(end, "k") || !strcasecmp(end, "kib"))
			mul = 1024;
		else if (!strcasecmp(end, "mb") || !strcasecmp(end, "m") || !strcasecmp(end, "mib"))
			mul = 1024 * 1024;
		else if (!strcasecmp(end, "gb") || !strcasecmp(end, "g") || !strcasecmp(end, "gib"))
			mul = 1024ull * 1024 * 1024;
		else
			return -1;
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1") ||
	    !strcasecmp(s, "on")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcmp(s, "0") ||
	    !strcasecmp(s, "off")) {
		*out = false;
		return 0;
	}
	return -1;
}

enum kind { K_U32, K_SIZE32, K_SIZE, K_BOOL, K_LIMIT, K_U64, K_STR, K_MODE, K_NAME };

struct key {
	const char *name;
	enum kind kind;
	size_t off;
};

#define O(f) offsetof(struct engine_cfg, f)
static const struct key keys[] = {
	{ "memory.budget", K_U64, O(mem_budget) },
	{ "mqtt.max-msg-length", K_SIZE32, O(mqtt.max_msg_len) },
	{ "mqtt.string-log-limit", K_LIMIT, O(mqtt.string_log_limit) },
	{ "mqtt.passwords", K_BOOL, O(mqtt.log_passwords) },
	{ "mqtt.max-tx", K_U32, O(mqtt.max_tx) },
	{ "mqtt.max-pending-total", K_U32, O(mqtt.max_pending_total) },
	{ "mqtt.tx-memcap", K_SIZE, O(mqtt.tx_memcap) },
	{ "mqtt.buffer-memcap", K_SIZE, O(mqtt.buf_memcap) },
	{ "mqtt.max-properties", K_U32, O(mqtt.max_props) },
	{ "mqtt.max-topics", K_U32, O(mqtt.max_topics) },
	{ "mqtt.session-string-limit", K_SIZE32, O(mqtt.session_str_max) },
	{ "mqtt.client-id-limit", K_U32, O(mqtt.client_id_limit) },
	{ "mqtt.resync-limit", K_SIZE32, O(mqtt.resync_max) },
	{ "mqtt.probe-other-ports", K_BOOL, O(probe_other_ports) },
	{ "flow.max-flows", K_U32, O(flow.max_flows) },
	{ "flow.memcap", K_SIZE, O(flow.memcap) },
	{ "flow.idle-timeout", K_U32, O(flow.idle_timeout_s) },
	{ "flow.closed-timeout", K_U32, O(flow.closed_timeout_s) },
	{ "flow.vlan-tracking", K_BOOL, O(flow.vlan_tracking) },
	{ "stream.midstream", K_BOOL, O(reasm.midstream) },
	{ "stream.memcap", K_SIZE, O(reasm.memcap) },
	{ "stream.max-ooo-bytes", K_SIZE32, O(reasm.max_ooo_bytes) },
	{ "stream.max-ooo-segments", K_U32, O(reasm.max_ooo_segs) },
	{ "stream.gap-ack-timeout-ms", K_U32, O(reasm.gap_ack_timeout_ms) },
	{ "defrag.max-trackers", K_U32, O(defrag.max_trackers) },
	{ "defrag.timeout", K_U32, O(defrag.timeout_s) },
	{ "detect.max-trackers", K_U32, O(ids.detect.max_trackers) },
	{ "detect.max-aggregates", K_U32, O(ids.detect.max_aggregates) },
	{ "detect.max-client-ids", K_U32, O(ids.detect.max_client_ids) },
	{ "detect.rule-alert-rate", K_U32, O(ids.detect.rule_alert_rate) },
	{ "detect.rule-alert-interval", K_U32, O(ids.detect.rule_alert_interval_s) },
	{ "detect.alert-rate", K_U32, O(ids.detect.alert_rate) },
	{ "outputs.eve.filename", K_STR, O(ids.eve_path) },
	{ "outputs.eve.mqtt", K_BOOL, O(ids.eve_mqtt) },
	{ "outputs.eve.anomaly", K_BOOL, O(ids.eve_anomaly) },
	{ "outputs.eve.alert", K_BOOL, O(ids.eve_alert) },
	{ "outputs.console.enabled", K_BOOL, O(ids.console) },
	{ "outputs.console.color", K_BOOL, O(ids.console_color) },
	{ "stats.interval", K_U32, O(ids.stats_interval_s) },
	{ "outputs.sqlite.filename", K_STR, O(ids.db_path) },
	{ "outputs.file-mode", K_MODE, O(ids.file_mode) },
	{ "rules.allow-errors", K_BOOL, O(ids.allow_rule_errors) },
	{ "rules.classification-file", K_STR, O(ids.class_path) },
	{ "run-as.user", K_NAME, O(ids.run_as_user) },
	{ "run-as.group", K_NAME, O(ids.run_as_group) },
	{ "outputs.sqlite.retention-days", K_U32, O(ids.store.retention_days) },
	{ "outputs.sqlite.max-alerts", K_U64, O(ids.store.max_alerts) },
	{ "outputs.sqlite.commit-ms", K_U32, O(ids.store.commit_ms) },
	{ "outputs.sqlite.queue-max", K_U32, O(ids.store.queue_max) },
	{ "outputs.sqlite.queue-memcap", K_U64, O(ids.store.queue_bytes) },
	{ "outputs.sqlite.lock-wait", K_U32, O(ids.store.lock_wait_s) },
};

/* The keys whose default is a share of memory.budget (engine.h). */
static const struct {
	const char *key;
	enum engine_budget_part part;
} budget_keys[] = {
	{ "stream.memcap", BUDGET_STREAM },
	{ "mqtt.buffer-memcap", BUDGET_MQTT_BUF },
	{ "mqtt.tx-memcap", BUDGET_MQTT_TX },
	{ "flow.max-flows", BUDGET_FLOWS },
	{ "flow.memcap", BUDGET_FLOWS },
	{ "detect.max-trackers", BUDGET_TRACKERS },
	{ "detect.max-aggregates", BUDGET_AGGREGATES },
	{ "detect.max-client-ids", BUDGET_CLIENT_IDS },
};

/*
 * After a key was set: a table's own key takes it out of the budget; a
 * new budget resizes every table not set on its own.
 */
static void budget_note(struct engine_cfg *c, const char *key)
{
	/* The flows' share is counted in sessions of session-string-limit. */
	if (!strcmp(key, "memory.budget") || !strcmp(key, "mqtt.session-string-limit")) {
		engine_cfg_apply_budget(c);
		return;
	}
	for (size_t i = 0; i < sizeof(budget_keys) / sizeof(budget_keys[0]); i++)
		if (!strcmp(budget_keys[i].key, key))
			c->mem_set |= 1u << budget_keys[i].part;
}

/* rules.files: each item appends a rule file or directory. */
static int add_rule_path(struct engine_cfg *c, const char *val,
			 const char **why)
{
	if (!*val || strlen(val) >= IDS_PATH_MAX) {
		*why = "a file or directory path (at most 511 bytes)";
		return -2;
	}
	if (c->ids.n_rule_paths >= IDS_MAX_RULE_PATHS) {
		*why = "at most 16 rule paths";
		return -2;
	}
	strcpy(c->ids.rule_paths[c->ids.n_rule_paths++], val);
	return 0;
}

/* vars.address-groups.NAME and vars.port-groups.NAME (Suricata's layout). */
static int set_var(struct engine_cfg *c, const char *key, const char *val,
		   const char **why)
{
	bool port = !strncmp(key, "vars.port-groups.", 17);
	const char *name = key + (port ? 17 : 20);
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(c->ids.vars.v[0].name)) {
		*why = "a variable name of 1-47 letters, digits or _";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_') {
			*why = "a variable name of letters, digits or _";
			return -1;
		}
	if (rule_vars_set(&c->ids.vars, name, val, port) != 0) {
		*why = "a value under 1024 bytes (and at most 64 variables)";
		return -2;
	}
	return 0;
}

static int set_port(struct engine_cfg *c, const char *val, const char **why)
{
	char *end;
	long v = strtol(val, &end, 10);
	if (*val == 0 || *end || v < 1 || v > 65535) {
		*why = "a TCP port (1-65535)";
		return -2;
	}
	for (uint32_t i = 0; i < c->n_ports; i++)
		if (c->ports[i] == v)
			return 0;
	if (c->n_ports >= ENGINE_MAX_PORTS) {
		*why = "at most 32 ports";
		return -2;
	}
	c->ports[c->n_ports++] = (uint16_t)v;
	return 0;
}

/* detectors.KEY...: the data detectors' tree (src/sensor, docs/sensors.md). */
static int set_detector_key(struct engine_cfg *c, const char *key,
			    const char *val, const char **why)
{
	if (!c->ids.detectors) {
		c->ids.detectors = cJSON_CreateObject();
		if (!c->ids.detectors) {
			*why = "memory";
			return -2;
		}
	}
	char where[300];
	snprintf(where, sizeof(where), "--set %.280s", key);
	if (scfg_set_path(c->ids.detectors, key + 10, val, where) != 0) {
		*why = "a detectors.SECTION.KEY path through mappings (docs/sensors.md)";
		return -1;
	}
	return 0;
}

static int set_key(struct engine_cfg *c, const char *key, const char *val,
		   const char **why);

/*
 * Values that would leave mqttids running blind are refused, and the
 * run does not start (CONFIG_REFUSED).
 */
static const struct {
	const char *key;
	uint64_t min;
	const char *why;
} minimums[] = {
	{ "flow.max-flows", 1,
	  "at least 1: with 0 no connection is tracked and nothing is detected" },
	{ "memory.budget", 1024 * 1024,
	  "at least 1mb: the tables it sizes would hold next to nothing" },
	{ "mqtt.buffer-memcap", 64 * 1024,
	  "at least 64kb: below it every message that spans two segments is dropped" },
	{ "detect.max-trackers", 1, "at least 1: with 0 no rule could count" },
	{ "outputs.sqlite.queue-max", 1,
	  "at least 1: with 0 a store that is busy for a moment loses alerts" },
	{ "outputs.sqlite.queue-memcap", 64 * 1024,
	  "at least 64kb: below it a store that is busy for a moment loses alerts" },
};

static int check_minimum(const char *key, const char *val, const char **why)
{
	for (size_t i = 0; i < sizeof(minimums) / sizeof(minimums[0]); i++) {
		uint64_t v;
		if (strcmp(minimums[i].key, key) || config_parse_size(val, &v) != 0)
			continue;
		if (v < minimums[i].min) {
			*why = minimums[i].why;
			return CONFIG_REFUSED;
		}
	}
	return 0;
}

int config_set(struct engine_cfg *c, const char *key, const char *val,
	       const char **why)
{
	int rc = set_key(c, key, val, why);
	if (rc == 0)
		rc = check_minimum(key, val, why);
	if (rc == 0)
		budget_note(c, key);
	return rc;
}

static int set_key(struct engine_cfg *c, const char *key, const char *val,
		   const char **why)
{
	*why = NULL;
	if (!strncmp(key, "detectors.", 10))
		return set_detector_key(c, key, val, why);
	if (!strcmp(key, "mqtt.ports"))
		return set_port(c, val, why);
	if (!strcmp(key, "rules.files"))
		return add_rule_path(c, val, why);
	if (!strncmp(key, "vars.address-groups.", 20) ||
	    !strncmp(key, "vars.port-groups.", 17))
		return set_var(c, key, val, why);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].name, key))
			continue;
		void *dst = (char *)c + keys[i].off;
		uint64_t v;
		bool b;
		switch (keys[i].kind) {
		case K_BOOL:
			if (parse_bool(val, &b)) {
				*why = "yes or no";
				return -2;
			}
			*(bool *)dst = b;
			return 0;
		case K_U32:
		case K_SIZE32:
			if ((keys[i].kind == K_U32 ? config_parse_size(val, &v)
						   : config_parse_size(val, &v)) ||
			    v > UINT32_MAX) {
				*why = keys[i].kind == K_U32 ? "a number"
							     : "a size such as 512kb (at most 4gb)";
				return -2;
			}
			*(uint32_t *)dst = (uint32_t)v;
			return 0;
		case K_MODE: {
			/* Octal, as chmod takes it; no execute bits, and the
			 * owner must be able to write. */
			char *end;
			errno = 0;
			unsigned long m = strtoul(val, &end, 8);
			if (errno || end == val || *end || m > 0666 || !(m & 0200)) {
				*why = "an octal file mode such as 0640 (at most 0666, owner-writable)";
				return -2;
			}
			*(unsigned *)dst = (unsigned)m;
			return 0;
		}
		case K_NAME:
			if (strlen(val) >= IDS_NAME_MAX) {
				*why = "a user or group name of at most 63 bytes";
				return -2;
			}
			strcpy((char *)dst, val);
			return 0;
		case K_STR:
			if (strlen(val) >= IDS_PATH_MAX) {
				*why = "a path of at most 511 bytes";
				return -2;
			}
			strcpy((char *)dst, val);
			return 0;
		case K_U64:
			if (config_parse_size(val, &v)) {
				*why = "a number";
				return -2;
			}
			*(uint64_t *)dst = v;
			return 0;
		case K_SIZE:
		case K_LIMIT:
			if (config_parse_size(val, &v) || v > SIZE_MAX) {
				*why = "a size such as 64mb";
				return -2;
			}
			if (keys[i].kind == K_LIMIT && v == 0)
				v = SIZE_MAX; /* 0: unlimited */
			*(size_t *)dst = (size_t)v;
			return 0;
		}
	}
	*why = "a known key (see etc/mqttids.yaml)";
	return -1;
}

/* Bounds on the walk: aliases can make a node contain itself or blow up. */
#define WALK_MAX_DEPTH 16
#define WALK_MAX_NODES 10000

struct walk_ctx {
	const char *file;
	struct engine_cfg *c;
	unsigned nodes;
	unsigned warnings;
	bool reported;
	unsigned refused;   /* values that stop the run (CONFIG_REFUSED) */
};

#define WALK_MAX_WARNINGS 20

/* Walks a mapping node, building dotted keys into path. */
/*
 * The detectors section keeps its shape (lists of objects), so it becomes
 * a cJSON tree with every scalar as a string and each node's FILE:LINE:COL
 * remembered for messages. Returns NULL when the walk's bounds are hit.
 */
static cJSON *yaml_to_json(yaml_document_t *doc, yaml_node_t *node,
			   struct walk_ctx *wc, unsigned depth)
{
	if (depth > WALK_MAX_DEPTH || ++wc->nodes > WALK_MAX_NODES) {
		if (!wc->reported)
			fprintf(stderr, "%s:%zu:%zu: configuration nested too deeply or too large (aliases?); the rest is ignored\n",
				wc->file, node->start_mark.line + 1, node->start_mark.column + 1);
		wc->reported = true;
		return NULL;
	}
	cJSON *j = NULL;
	if (node->type == YAML_MAPPING_NODE) {
		j = cJSON_CreateObject();
		for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
		     j && pr < node->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(doc, pr->key);
			yaml_node_t *v = yaml_document_get_node(doc, pr->value);
			if (!k || !v || k->type != YAML_SCALAR_NODE)
				continue;
			cJSON *cv = yaml_to_json(doc, v, wc, depth + 1);
			if (!cv)
				continue;
			const char *kn = (const char *)k->data.scalar.value;
			/* A repeated key: the last one wins, as in the flat keys. */
			if (cJSON_GetObjectItemCaseSensitive(j, kn))
				cJSON_ReplaceItemInObjectCaseSensitive(j, kn, cv);
			else
				cJSON_AddItemToObject(j, kn, cv);
		}
	} else if (node->type == YAML_SEQUENCE_NODE) {
		j = cJSON_CreateArray();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     j && it < node->data.sequence.items.top; it++) {
			yaml_node_t *v = yaml_document_get_node(doc, *it);
			cJSON *cv = v ? yaml_to_json(doc, v, wc, depth + 1) : NULL;
			if (cv)
				cJSON_AddItemToArray(j, cv);
		}
	} else if (node->type == YAML_SCALAR_NODE) {
		/* An empty key ("authz:" with only comments below) is YAML's null:
		 * the same as leaving the key out. */
		const char *v = (const char *)node->data.scalar.value;
		bool null = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			    (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
			     !strcmp(v, "NULL"));
		j = null ? cJSON_CreateNull() : cJSON_CreateString(v);
	}
	if (j) {
		char where[600];
		snprintf(where, sizeof(where), "%s:%zu:%zu", wc->file,
			 node->start_mark.line + 1, node->start_mark.column + 1);
		scfg_set_origin(j, where);
	}
	return j;
}

static void walk(yaml_document_t *doc, yaml_node_t *node, char *path,
		 size_t plen, struct walk_ctx *wc, unsigned depth)
{
	const char *file = wc->file;
	struct engine_cfg *c = wc->c;
	if (depth > WALK_MAX_DEPTH || ++wc->nodes > WALK_MAX_NODES) {
		if (!wc->reported)
			fprintf(stderr, "%s:%zu:%zu: configuration nested too deeply or too large (aliases?); the rest is ignored\n",
				file, node->start_mark.line + 1, node->start_mark.column + 1);
		wc->reported = true;
		return;
	}
	if (node->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
		     pr < node->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(doc, pr->key);
			yaml_node_t *v = yaml_document_get_node(doc, pr->value);
			if (!k || !v || k->type != YAML_SCALAR_NODE)
				continue;
			size_t klen = k->data.scalar.length;
			if (plen + klen + 2 > 256)
				continue;
			if (plen == 0 && !strcmp((const char *)k->data.scalar.value, "detectors")) {
				cJSON *t = yaml_to_json(doc, v, wc, depth + 1);
				if (cJSON_IsNull(t)) {
					cJSON_Delete(t); /* "detectors:" alone: the defaults */
					t = NULL;
				} else if (t && !cJSON_IsObject(t)) {
					fprintf(stderr, "%s:%zu:%zu: detectors: expected a mapping; ignored\n",
						wc->file, v->start_mark.line + 1, v->start_mark.column + 1);
					cJSON_Delete(t);
					t = NULL;
				}
				if (t) {
					cJSON_Delete(wc->c->ids.detectors);
					wc->c->ids.detectors = t;
				}
				continue;
			}
			size_t np = plen;
			if (plen)
				path[np++] = '.';
			memcpy(path + np, k->data.scalar.value, klen);
			path[np + klen] = 0;
			walk(doc, v, path, np + klen, wc, depth + 1);
			path[plen] = 0;
		}
		return;
	}
	if (node->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			yaml_node_t *v = yaml_document_get_node(doc, *it);
			if (v)
				walk(doc, v, path, plen, wc, depth + 1);
		}
		return;
	}
	if (node->type != YAML_SCALAR_NODE)
		return;
	const char *why;
	const char *val = (const char *)node->data.scalar.value;
	int r = config_set(c, path, val, &why);
	if (r == CONFIG_REFUSED)
		wc->refused++;
	if (r == 0 || ++wc->warnings > WALK_MAX_WARNINGS + 1)
		return;
	if (wc->warnings == WALK_MAX_WARNINGS + 1)
		fprintf(stderr, "%s: further problems not shown\n", file);
	else if (r == CONFIG_REFUSED)
		fprintf(stderr, "%s:%zu:%zu: %s: '%s' refused: %s\n", file,
			node->start_mark.line + 1, node->start_mark.column + 1,
			path, val, why);
	else if (r == -1)
		fprintf(stderr, "%s:%zu:%zu: unknown key '%s' ignored; expected %s\n",
			file, node->start_mark.line + 1, node->start_mark.column + 1,
			path, why);
	else
		fprintf(stderr, "%s:%zu:%zu: bad value '%s' for %s ignored; expected %s\n",
			file, node->start_mark.line + 1, node->start_mark.column + 1,
			val, path, why);
}

void config_deinit(struct engine_cfg *c)
{
	cJSON_Delete(c->ids.detectors);
	c->ids.detectors = NULL;
	scfg_forget_origins();
}

int config_load(const char *path, struct engine_cfg *c, char *err,
		size_t errsz)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = -1;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errsz, "%s: cannot start YAML parser", path);
		fclose(fp);
		return -1;
	}
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errsz, "%s:%zu:%zu: %s", path,
			 parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "invalid YAML");
		goto out;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root) {
		/* A configured port list replaces the default 1883. */
		char path_buf[256] = "";
		struct walk_ctx wc = { path, c, 0, 0, false, 0 };
		c->n_ports = 0;
		/* A configured rule list replaces the default directory too. */
		c->ids.n_rule_paths = 0;
		walk(&doc, root, path_buf, 0, &wc, 0);
		if (c->n_ports == 0) {
			c->ports[0] = 1883;
			c->n_ports = 1;
		}
		if (wc.refused) {
			snprintf(err, errsz, "%s: %u value%s refused (above); mqttids "
				 "does not start with a configuration that leaves it "
				 "blind", path, wc.refused, wc.refused == 1 ? "" : "s");
			yaml_document_delete(&doc);
			goto out;
		}
	}
	yaml_document_delete(&doc);
	rc = 0;
out:
	yaml_parser_delete(&parser);
	fclose(fp);
	return rc;
}
