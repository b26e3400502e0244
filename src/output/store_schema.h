/* store_schema.h - the alert store's schema, shared by the writer (store.c) and `mqttids alerts`. */
#ifndef MQTTIDS_STORE_SCHEMA_H
#define MQTTIDS_STORE_SCHEMA_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* PRAGMA user_version of the schema below; bump it with a migration. */
#define STORE_SCHEMA_VERSION 1

/*
 * record: the seed-004 object (alert_seed_json); eve: the EVE line without
 * its newline. Times: ts_us is microseconds since the epoch (event time);
 * the TEXT times are ISO 8601 with the local offset ("...+08:00").
 */
#define STORE_SCHEMA_SQL                                                      \
	"CREATE TABLE alerts ("                                               \
	"id INTEGER PRIMARY KEY,"                                             \
	"uuid TEXT NOT NULL UNIQUE,"                                          \
	"ts_us INTEGER NOT NULL,"                                             \
	"datetime TEXT,"                                                      \
	"first_violation TEXT,"                                               \
	"total_violation INTEGER,"                                            \
	"priority INTEGER,"                                                   \
	"priority_name TEXT,"                                                 \
	"classification TEXT,"                                                \
	"src TEXT,"                                                           \
	"sid INTEGER,"                                                        \
	"rev INTEGER,"                                                        \
	"src_ip TEXT,"                                                        \
	"src_port INTEGER,"                                                   \
	"dest_ip TEXT,"                                                       \
	"dest_port INTEGER,"                                                  \
	"flow_id INTEGER,"                                                    \
	"record TEXT,"                                                        \
	"eve TEXT,"                                                           \
	"acknowledged INTEGER NOT NULL DEFAULT 0,"                            \
	"ack_ts TEXT,"                                                        \
	"ack_by TEXT,"                                                        \
	"updated_ts TEXT);"                                                   \
	"CREATE INDEX alerts_ts ON alerts(ts_us);"                            \
	"CREATE INDEX alerts_ack_ts ON alerts(acknowledged, ts_us);"          \
	"CREATE INDEX alerts_priority ON alerts(priority);"                   \
	"PRAGMA user_version=1;"

/*
 * Checks db holds schema STORE_SCHEMA_VERSION. An empty database gets the
 * schema when create is true. Returns 0, or -1 with the reason in err
 * (a newer schema, some other database, an SQLite error).
 */
int store_schema_check(sqlite3 *db, bool create, char *err, size_t errsz);

#endif
