/* tb_broker.h - the testbed broker's users and ACL, defined once for the live runner (which writes mosquitto's files) and the synthetic broker model (which applies them). */
#ifndef MQTTIDS_TB_BROKER_H
#define MQTTIDS_TB_BROKER_H

#include <stdbool.h>
#include <stddef.h>

struct tb_user {
	const char *name;
	const char *password;
};

/* One ACL line: user NULL is a "pattern" line for every client (%c: its client id). */
struct tb_acl_rule {
	const char *user;
	const char *filter;
	char access; /* 'r' read, 'w' write, 'b' readwrite */
};

extern const struct tb_user tb_users[];
extern const size_t tb_n_users;
extern const struct tb_acl_rule tb_acl[];
extern const size_t tb_n_acl;

/* Whether topic matches filter (MQTT §4.7; a leading wildcard does not match "$" topics). */
bool tb_topic_match(const char *filter, const char *topic);

/* Whether user, connected as client_id, may write (or read) topic under tb_acl. */
bool tb_acl_allows(const char *user, const char *client_id, const char *topic, bool write);

/* Writes tb_acl as a mosquitto acl_file into out[0..cap); returns its length, 0 if it does not fit. */
size_t tb_acl_file(char *out, size_t cap);

#endif
