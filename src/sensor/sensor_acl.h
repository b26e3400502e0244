/*
 * sensor_acl.h - a Mosquitto acl_file (mosquitto.conf(5), "acl_file";
 * mosquitto 2.0 src/security_default.c) parsed from memory, and the access
 * check mosquitto applies to it: which topics a client, known by its
 * username (or none) and client id, may read or write, and whether a
 * subscription filter is covered by what it may read. Usable on its own
 * (the authz detector, docs/sensors.md, "authz").
 *
 *   # comment
 *   topic read $SYS/#             <- before any "user": anonymous clients
 *   user sensor
 *   topic write sensors/#
 *   topic deny sensors/secret/#
 *   pattern readwrite devices/%c/%u/#   <- every client
 *
 * A bad line is reported as "FILE:LINE: error: ..." and skipped; the rest
 * of the file still loads.
 */
#ifndef MQTTIDS_SENSOR_ACL_H
#define MQTTIDS_SENSOR_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SACL_MAX_ENTRIES 65536     /* topic and pattern lines kept */
#define SACL_LINE_MAX 4096         /* longer lines are reported and skipped */
#define SACL_FILE_MAX (16u << 20)  /* larger files are not read */
#define SACL_SUBST_MAX 256         /* client id / username bytes put into a pattern */

enum sacl_access {
	SACL_READ = 1,
	SACL_WRITE = 2,
	SACL_SUBSCRIBE = 4,        /* a filter, checked against read grants */
};

/* Why a check came out as it did. */
enum sacl_why {
	SACL_WHY_GRANT = 0,        /* a topic/pattern line granted it (line) */
	SACL_WHY_DENY_LINE,        /* a "deny" line matched (line) */
	SACL_WHY_NO_GRANT,         /* nothing granted it (default deny) */
	SACL_WHY_DANGEROUS_ID,     /* patterns skipped: '+' or '#' in the id */
	SACL_WHY_TOO_LONG,         /* a pattern could not be expanded: fail closed */
};

struct sacl_verdict {
	bool allowed;
	enum sacl_why why;
	uint32_t line;             /* the deciding line; 0 when none */
};

struct sacl;

/*
 * Parses text[0..len) (any bytes; NUL ends nothing) as an acl_file named
 * name in messages. Problems go to log (may be NULL), one line each;
 * *errors (may be NULL) gets their number. Returns NULL only when out of
 * memory. The result owns copies of everything it keeps.
 */
struct sacl *sacl_parse(const char *name, const char *text, size_t len, FILE *log,
			unsigned *errors);

/* Reads and parses a file; NULL (with a message) when it cannot be read. */
struct sacl *sacl_load(const char *path, FILE *log, unsigned *errors);

void sacl_free(struct sacl *a);

/* The name given to sacl_parse (the path for sacl_load). */
const char *sacl_name(const struct sacl *a);
/* The number of topic and pattern lines kept. */
size_t sacl_count(const struct sacl *a);
/* Whether the file has lines of its own for this user (NULL: anonymous). */
bool sacl_has_user(const struct sacl *a, const char *username);

/*
 * Mosquitto's decision for one client (username NULL: anonymous; client_id
 * NULL counts as "") and one topic t[0..n) (SACL_READ, SACL_WRITE) or
 * subscription filter (SACL_SUBSCRIBE) into *v. The order is mosquitto's:
 * the user's (or the anonymous) deny lines, its grants, then - unless the
 * username or client id holds '+' or '#' - the pattern deny lines, the
 * pattern grants; the first line that matches decides; none: denied.
 *
 * SACL_SUBSCRIBE is the IDS's rule, not mosquitto 2.x's (which grants
 * every SUBSCRIBE and filters each delivery): allowed when every topic the
 * filter can match would be readable, i.e. the filter is covered by the
 * union of the read grants minus the deny lines. "sensors/+/x" is covered
 * by "sensors/#", "#" is not. A "$share/GROUP/" prefix is looked through.
 *
 * Allocation-free; uses scratch space inside a (so not reentrant).
 * Returns v->allowed.
 */
bool sacl_check(struct sacl *a, const char *username, const char *client_id,
		enum sacl_access access, const char *t, size_t n, struct sacl_verdict *v);

/*
 * Whether the union of filters g[0..n) (valid MQTT filters, lengths gl)
 * covers filter s[0..sn): every topic s matches is matched by one of them.
 * pos is scratch of n entries. Entries of g that are NULL or not valid
 * filters cover nothing. Exposed for the policies of the detector.
 */
bool sacl_filter_covered(const char *s, size_t sn, const char *const *g, const size_t *gl,
			 size_t n, size_t *pos);

/* Whether f[0..n) is a valid MQTT topic filter (mosquitto_sub_topic_check). */
bool sacl_filter_valid(const char *f, size_t n);

/* The words of enum sacl_access and sacl_why ("read", "no grant", ...). */
const char *sacl_access_name(enum sacl_access a);
const char *sacl_why_name(enum sacl_why w);

#endif
