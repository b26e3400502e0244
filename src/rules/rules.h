/*
 * rules.h - the seed-004 rule language (docs/rules.md): parsing rule files
 * into compiled rules, and matching one rule against one event.
 *
 *   mqtt $EXTERNAL_NET -> $SELF src; name: Access to protected topic;
 *       priority: 4; cooldown: 0; msg_type: publish, subscribe; topics: $SYS/#
 *
 * A broken rule is reported (FILE:LINE:COL: what was expected) and skipped;
 * the other rules of the file still load.
 */
#ifndef MQTTIDS_RULES_H
#define MQTTIDS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "event/event.h"

/* Address and port variables from the config (vars.address-groups, ...). */
#define RULE_VARS_MAX 64
struct rule_vars {
	unsigned n;
	struct {
		char name[48];   /* without '$' */
		char value[1024];
		bool port;       /* from port-groups */
	} v[RULE_VARS_MAX];
};

/* Sets (replaces) a variable; -1 when the table is full or too long. */
int rule_vars_set(struct rule_vars *vs, const char *name, const char *value,
		  bool port);
/* The defaults: HOME_NET (RFC 1918 + loopback), EXTERNAL_NET (!$HOME_NET),
 * SELF (broker: the server end of each connection), ADMIN_HOSTS (none),
 * MQTT_PORTS ([1883,8883]). */
void rule_vars_default(struct rule_vars *vs);

enum rule_proto { RULE_TCP = 0, RULE_MQTT = 1 };

/* One address or CIDR, possibly negated. */
struct rule_cidr {
	uint8_t family;     /* 4 or 6 */
	uint8_t bits;       /* prefix length */
	uint8_t addr[16];
};

/*
 * A compiled address set: matches when the address is in some positive
 * entry (or there are none) and in no negated entry. "broker" (SELF's
 * default) matches the server end of the connection. An empty list "[]"
 * (matches nothing) is compiled as the negated 0.0.0.0/0 and ::/0; for
 * ports, as the negated range 0:65535. Events without an address
 * (family 0) match only "any".
 */
struct rule_addr {
	bool any;
	bool broker, not_broker;
	struct rule_cidr *pos, *neg;
	uint32_t n_pos, n_neg;
};

struct rule_ports {
	bool any;
	struct { uint16_t lo, hi; bool neg; } *r;
	uint32_t n;
};

enum rule_cmp { CMP_NONE = 0, CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct rule_num {
	enum rule_cmp op;
	uint64_t v;
};

/*
 * A classtype of the classification file (classification.c): rules that
 * name it get its description as their EVE category and, when they set
 * no priority, its priority.
 */
struct rule_class {
	const char *name;
	const char *description;
	uint8_t priority; /* 0 Informational .. 4 Critical */
};

/*
 * A compiled rule. The fields rule_match reads for every candidate come
 * first, so that a rule it rejects costs one or two cache lines: with a
 * thousand rules most candidates of a PUBLISH are rejected, and the
 * fields in declaration order (identity first) spread over six.
 */
struct rule {
	/* what every match looks at */
	enum rule_proto proto;
	uint16_t match_types; /* MQTT types msg_type and the options allow */
	uint16_t msg_types; /* 1u << MQTT_* ; 0: any */
	uint8_t qos_mask;   /* 1u << qos (0..3); 0: any */
	uint8_t version_mask; /* 1u << protocol version (3, 4, 5); 0: any */
	bool has_retcode;
	uint8_t retcodes_v3; /* 3.1/3.1.1 CONNACK codes 0..5 named in retcode */
	uint8_t flags_mask, flags_value; /* (tcp_flags & mask) == value */
	bool has_flags;
	bool flags_any;     /* flags '*': (tcp_flags & mask) != 0 instead */
	bool bidir;         /* <> */
	bool target_dst;    /* target keyword: dst (else src) */
	uint32_t n_topics, n_filters, n_client_ids, n_usernames, n_anomalies;
	struct rule_num payload_size; /* PUBLISH payload, CONNECT will payload */
	struct rule_num keepalive;    /* CONNECT keepalive */

	/* header */
	struct rule_ports sport, dport;
	struct rule_addr src, dst;

	/* MQTT options; an absent option matches everything */
	char **topics;      /* MQTT topic filters */
	char **filters;     /* globs on (UN)SUBSCRIBE filters as written */
	char **client_ids;  /* fnmatch globs; a leading '!' negates */
	char **usernames;
	char **anomalies;   /* anomaly event names (DET_ANOMALY); globs */
	uint64_t retcodes[4]; /* bitmap over 0..255 */

	/* identity */
	uint32_t sid, rev;
	char *name;         /* classification in alerts */
	char *classtype;    /* as written; NULL: none */
	const struct rule_class *class; /* its classtype; NULL: none */
	uint8_t priority;   /* 0 Informational .. 4 Critical */
#define RULE_PRIORITY_DEFAULT 2 /* Medium: no priority, no classtype */
	bool sid_auto;      /* no sid option: FNV-1a of raw | 0x80000000 */
	char *raw;          /* the rule as written, whitespace collapsed */
	char *file;         /* where it came from */
	unsigned line;
	uint32_t index;     /* position in its ruleset, from 0 */

	/* thresholds (seconds); threshold 1 alerts on every match */
	uint32_t threshold;
	uint32_t interval;
	uint32_t cooldown;  /* default: interval (cooldown_set false) */
	bool cooldown_set;
};

/*
 * A loaded rule set, indexed so an event is tried only against the rules
 * that can match its kind (and message type).
 */
struct ruleset;

struct ruleset *ruleset_new(const struct rule_vars *vars);
void ruleset_free(struct ruleset *rs);

/*
 * Loads rules from a file or a string (name is used in messages). Each
 * error is printed to errs (may be NULL) as "NAME:LINE:COL: error: ..."
 * and that rule is skipped. Returns the number of errors, or -1 when the
 * file cannot be read (message in errs).
 */
int ruleset_load_file(struct ruleset *rs, const char *path, FILE *errs);
int ruleset_load_string(struct ruleset *rs, const char *name,
			const char *text, FILE *errs);
/* Loads every *.rules file of a directory, in name order. */
int ruleset_load_dir(struct ruleset *rs, const char *dir, FILE *errs);

/*
 * Loads the classtypes rules may name (classification.c): before the
 * rules, which are checked against them. Errors are printed as for rules
 * ("NAME:LINE:COL: error: ...") and that line is skipped. Returns the
 * number of errors, or -1 when the file cannot be read. A rule naming a
 * classtype no classification file defines fails to load.
 */
#define RULES_CLASS_FILE_MAX (1u << 20)
#define RULES_CLASS_FILE_MAX_TEXT "1 MiB"
#define RULES_CLASSES_MAX 1024
int ruleset_load_classification(struct ruleset *rs, const char *path,
				FILE *errs);
int ruleset_load_classification_string(struct ruleset *rs, const char *name,
				       const char *text, size_t len,
				       FILE *errs);
size_t ruleset_class_count(const struct ruleset *rs);
const struct rule_class *ruleset_class_get(const struct ruleset *rs,
					   size_t i);
const struct rule_class *ruleset_class_find(const struct ruleset *rs,
					    const char *name, size_t n);

size_t ruleset_count(const struct ruleset *rs);
const struct rule *ruleset_get(const struct ruleset *rs, size_t i);

/*
 * The rules that may match an event of this kind; for DET_MQTT, of this
 * MQTT packet type (and for PUBLISH, of this topic's literal levels), for
 * DET_TCP of these flags; in rule order. *n is set to their number. The
 * array and the rules belong to rs and stay valid until it is freed (a
 * later load rebuilds the array; rules never move).
 */
const struct rule *const *ruleset_candidates(const struct ruleset *rs,
					      const struct det_event *ev,
					      size_t *n);

/*
 * Whether rule r matches ev. On a match *target_src says whether the
 * threat actor is the packet's sender (true) or its receiver.
 */
bool rule_match(const struct rule *r, const struct det_event *ev,
		bool *target_src);

/*
 * The *.rules files of a directory (not starting with '.'), as malloc'd
 * "DIR/NAME" paths in name order. Returns their number, or -1 when the
 * directory cannot be read (errno set). Free with rules_paths_free.
 */
int rules_dir_list(const char *dir, char ***paths);
void rules_paths_free(char **paths, int n);

/*
 * `mqttids rules check`: loads each path (a rules file or a directory of
 * them) into one rule set, prints every error and warning to err, then
 * "PATH: N rules, M errors" per file to out; verbose also lists each
 * loaded rule (sid, priority name, name). vars NULL: the defaults. The
 * classification file (NULL: none) is loaded first, with its own line.
 * Returns 0 when nothing failed, 1 otherwise.
 */
int rules_check(const struct rule_vars *vars, const char *class_path, int n,
		char **paths, bool verbose, FILE *out, FILE *err);

/*
 * `mqttids rules check --list classtypes|anomalies`: one line per name,
 * tab-separated: a classtype's name, default priority and description
 * (from class_path), or an anomaly event's name, layer and meaning (the
 * registry of what the engine and detectors emit). 0, or 1 (printed on
 * err) when what is unknown or the classification file fails.
 */
int rules_list(const char *what, const char *class_path, FILE *out,
	       FILE *err);

/* Priority names: "Informational", "Low", "Medium", "High", "Critical". */
const char *rule_priority_name(unsigned priority);
/* Suricata severity (1 highest .. 4) from a priority (4 highest .. 0). */
unsigned rule_severity(unsigned priority);

#endif
