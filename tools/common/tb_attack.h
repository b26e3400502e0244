/*
 * tb_attack.h - the attack models, written once against a small transport
 * (struct tb_io) so that mqttids-attack plays them over real sockets and
 * mqttids-synth renders the same byte sequences into a capture.
 */
#ifndef MQTTIDS_TB_ATTACK_H
#define MQTTIDS_TB_ATTACK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mqtt/mqtt_types.h"
#include "tb_label.h"
#include "tb_payload.h"

enum tb_kind {
	TB_FLOOD_MALARIA,   /* several clients, QoS 1, ~100 B random hex */
	TB_FLOOD_FLOCK,     /* one client, QoS 0, a sensor's topic and shape */
	TB_CONNECT_FLOOD,   /* CONNECT/CONNACK/close as fast as allowed */
	TB_SYN_FLOOD,       /* raw SYNs, as hping3 -S */
	TB_BRUTE_FORCE,     /* one connection per password from a word list */
	TB_DISCOVERY,       /* #, $SYS/# and $SYS/broker/... as mqtt-pwn */
	TB_UNAUTH_PUBLISH,  /* publish where the ACL does not allow it */
	TB_UNAUTH_SUBSCRIBE,/* subscribe where the ACL does not allow it */
	TB_MALFORMED,       /* MQTTSA-style malformed packets */
	TB_SLOWITE,         /* many idle connections, keepalive 65535 */
	TB_SLOW_PING,       /* many connections kept up by rare PINGREQs */
	TB_SPOOF,           /* forged readings on a device's topic */
	TB_NO_KEY,          /* readings without the shared key */
	TB_BAD_HMAC,        /* readings with a wrong signature */
	TB_REPLAY,          /* a device's signed reading sent again */
	TB_BIG_WILL,        /* CONNECT with an oversized will payload */
	TB_TAKEOVER,        /* CONNECT with an existing device's client id */
	TB_KIND_COUNT
};

/* "flood-malaria", ... ; NULL for an unknown index. */
const char *tb_kind_name(enum tb_kind k);
/* Index of a kind name, or -1. */
int tb_kind_from_name(const char *name);
bool tb_attack_kind_known(const char *name);

/* Everything an attack can be told; tb_attack_defaults sets each kind's own. */
struct tb_attack_opts {
	enum tb_kind kind;
	uint8_t version;       /* MQTT protocol level 3, 4 or 5 */
	unsigned count;        /* messages, tries or connections (kind-specific) */
	unsigned clients;      /* parallel clients (floods) */
	double rate;           /* per second; 0: as fast as possible */
	double duration;       /* hard limit, seconds; also the hold time */
	double ping_every;     /* slow-ping: seconds between PINGREQs */
	unsigned keepalive;
	unsigned payload_size; /* malaria payload / big will size */
	uint8_t qos;
	char client_id[96];    /* takeover / spoof with the device's id */
	char device[96];       /* the victim device (spoof, nokey, ...) */
	char topic[256];       /* the topic attacked */
	char username[64];
	char password[64];
	char wordlist[256];    /* brute force: file, "" for the built-in list */
	char shared_key[64];   /* nokey/bad-hmac: what a right message carries */
	double value;          /* spoof: temperature to report */
	uint64_t seed;
	bool stop_on_success;  /* brute force */
};

void tb_attack_defaults(struct tb_attack_opts *o, enum tb_kind k);

/*
 * Parses an attack's arguments (argv[0] is the kind). Unknown or bad
 * options are reported on err with their position; returns 0 or -1.
 * Transport options (--broker, --port, --bind, --label) are not attack
 * options: the caller strips them first. The option list is in
 * tb_attack_usage.
 */
int tb_attack_parse(int argc, char **argv, struct tb_attack_opts *o, FILE *err);
void tb_attack_usage(FILE *f);

/*
 * A transport. Times are microseconds on the transport's clock (the real
 * clock, or simulated time). Connection handles are small integers.
 */
struct tb_io {
	void *ud;
	uint64_t (*now)(void *ud);
	void (*sleep_until)(void *ud, uint64_t t);
	/*
	 * Opens a TCP connection to the broker; returns a handle >= 0 and the
	 * local port, or -1 (refused, out of descriptors: the attack stops
	 * opening and says so).
	 */
	int (*open)(void *ud, uint16_t *local_port);
	/* Sends bytes; -1 when the connection is gone. */
	int (*send)(void *ud, int c, const uint8_t *p, size_t n);
	/*
	 * Waits up to timeout_us for one whole MQTT message from the broker and
	 * decodes it into *m (slices valid until the next call on c). Returns
	 * 1, 0 on timeout, -1 when the broker closed the connection.
	 */
	int (*recv)(void *ud, int c, uint64_t timeout_us, struct mqtt_msg *m);
	/* Closes (FIN); the handle is free afterwards. */
	void (*close)(void *ud, int c);
	/*
	 * Sends one raw TCP SYN from src_port (the SYN-flood); -1 when raw
	 * sockets are not permitted.
	 */
	int (*syn)(void *ud, uint16_t src_port, uint32_t seq);
	/* Set (by a signal handler) to end the attack early; may be NULL. */
	volatile sig_atomic_t *stop;
	/* The transport's own description of itself, for the label. */
	const char *attacker;  /* source address */
	const char *target;    /* broker address:port */
	const char *mode;      /* "live" or "synthetic" */
};

/*
 * Runs the attack to completion (bounded by count and duration) and fills
 * the label. Progress and problems go to log (may be NULL). Returns 0, or
 * -1 when it could not be carried out at all (label->detail says why).
 */
int tb_attack_run(const struct tb_attack_opts *o, struct tb_io *io,
		  struct tb_label *label, FILE *log);

#endif
