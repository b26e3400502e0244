/*
 * anomalies.h - the registry of anomaly event names the engine and the
 * detectors emit (anomalies.c).
 */
#ifndef MQTTIDS_ANOMALIES_H
#define MQTTIDS_ANOMALIES_H

#include <stdbool.h>
#include <stddef.h>

struct anomaly_name {
	const char *name;    /* as rules name it: "double_connect" */
	const char *layer;   /* "decode", "stream", "proto_parser", a detector's */
	const char *meaning; /* one line: when it is raised */
};

/* The registry, sorted by name. */
size_t anomaly_count(void);
const struct anomaly_name *anomaly_get(size_t i);
/* The entry named exactly name[0..n), or NULL. */
const struct anomaly_name *anomaly_find(const char *name, size_t n);
/* Whether the fnmatch glob (util/glob.h) matches some registered name. */
bool anomaly_glob_known(const char *glob);

/*
 * Debug builds abort on an emitted name the registry lacks (the tests
 * then fail); release builds compile the check out.
 */
#ifndef NDEBUG
void anomaly_check(const char *name);
#define ANOMALY_CHECK(name) anomaly_check(name)
#else
#define ANOMALY_CHECK(name) ((void)0)
#endif

#endif
