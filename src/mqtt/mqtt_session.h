/* mqtt_session.h - per-flow MQTT stream framing, sessions and transactions. */
#ifndef MQTTIDS_MQTT_SESSION_H
#define MQTTIDS_MQTT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt_parse.h"

/* Limits and logging choices; every field has a default (mqtt_cfg_default). */
struct mqtt_cfg {
	uint32_t max_msg_len;     /* larger messages are logged truncated */
	size_t string_log_limit;  /* SIZE_MAX: unlimited */
	bool log_passwords;
	uint32_t max_tx;          /* pending transactions per flow */
	uint32_t max_pending_total; /* pending transactions, all flows */
	size_t tx_memcap;         /* bytes of pending transactions' messages */
	uint32_t max_props;       /* v5 properties kept per message */
	uint32_t max_topics;      /* topics kept per (UN)SUBSCRIBE */
	uint32_t session_str_max; /* bytes kept of client id, username, will topic */
	uint32_t resync_max;      /* bytes scanned for a message boundary */
	uint32_t client_id_limit; /* longer CONNECT client ids: client_id_too_long; 0: off */
	/* bytes of all buffers of messages that span segments; over it a
	 * message is dropped (buffer_memcap_reached) */
	size_t buf_memcap;
};

void mqtt_cfg_default(struct mqtt_cfg *c);

struct mqtt_state;

/* Messages of one transaction at most: PUBLISH, PUBREC, PUBREL, PUBCOMP. */
#define MQTT_TX_MSGS 4

/*
 * A transaction as the session layer hands it downstream: a request and
 * its answers, paired once, as Suricata's MQTTTransaction pairs them
 * (connect+connack, publish+acks, (un)subscribe+ack), or a message that
 * stands alone. msg[] holds them in arrival order; toclient is the
 * direction of the first, which gives the record its source and
 * destination. A message whose body was skipped for its size is a
 * transaction of its own: truncated, no messages. Everything is valid
 * only during the sink's tx callback.
 */
struct mqtt_tx {
	bool toclient;
	bool truncated;
	uint8_t first_byte;      /* truncated: the fixed header's first byte */
	uint64_t skipped_length; /* truncated: fixed header plus remaining length */
	uint8_t n;
	const struct mqtt_msg *msg[MQTT_TX_MSGS];
};

/*
 * Where a flow's MQTT output goes. The engine fills ud with its per-packet
 * context before feeding data, so the callbacks know the flow, time and
 * packet number. tx NULL: nobody logs transactions, so their messages are
 * not kept while they wait for an answer (only what pairing needs is).
 */
struct mqtt_sink {
	void (*tx)(void *ud, const struct mqtt_state *st, const struct mqtt_tx *tx);
	void (*anomaly)(void *ud, const struct mqtt_state *st, bool toclient,
			const char *layer, const char *event,
			const char *detail);
	/* Every decoded message, for detectors (may be NULL). */
	void (*msg)(void *ud, const struct mqtt_state *st, bool toclient,
		    const struct mqtt_msg *m);
	void *ud;
};

/* Shared by all flows of one worker: config, scratch, pools, counters. */
struct mqtt_ctx {
	struct mqtt_cfg cfg;
	struct mqtt_parser parser;
	struct mqtt_pending *free_list;
	uint32_t pending_total;
	size_t pending_bytes;
	uint64_t session_gen;       /* the last mqtt_session_rec.gen given */
	size_t buf_bytes;           /* capacity of all directions' buffers */
	struct {
		uint64_t messages;
		uint64_t transactions;
		uint64_t truncated;
		uint64_t malformed;
		uint64_t anomalies;
		uint64_t gaps;
		uint64_t resyncs;
		uint64_t giveups;
		uint64_t tx_dropped; /* logged early because a cap was hit */
		uint64_t late_answers; /* answers to transactions logged early */
		uint64_t buf_drops;    /* messages dropped at buffer-memcap */
		uint64_t buf_peak;     /* most bytes buffered at once */
	} stats;
};

int mqtt_ctx_init(struct mqtt_ctx *c, const struct mqtt_cfg *cfg);
void mqtt_ctx_deinit(struct mqtt_ctx *c);

/* Per-direction framing state. */
struct mqtt_dir {
	uint8_t *buf;     /* start of a message that spans segments */
	uint32_t len;
	uint32_t cap;
	uint64_t skip;    /* bytes of a truncated message still to skip */
	uint32_t resync_scanned;
	bool resync;      /* looking for a message boundary */
	bool dead;        /* gave up on this direction */
	bool unintroduced_reported;
};

/* A string of the session record: at most session-str-max bytes of it. */
struct mqtt_kept {
	uint8_t *p;     /* malloc'd; NULL: none */
	uint32_t len;   /* bytes kept */
	uint32_t cut;   /* bytes left off (0: kept whole) */
};

/*
 * What the EVE "mqtt_session" object shows: the session's latest CONNECT,
 * its strings cut at session-str-max bytes (not inside a UTF-8 character)
 * as the writer's string budget cuts them.
 */
struct mqtt_session_rec {
	/* Which CONNECT this is, unique in the context (0: none): a writer
	 * may keep the text it made of a record under this number. */
	uint64_t gen;
	bool present;           /* a CONNECT was seen */
	bool has_username, has_will;
	uint8_t protocol_version;
	uint8_t will_qos;
	bool will_retain;
	uint16_t keepalive;
	uint32_t will_message_length;
	struct mqtt_kept client_id, username, will_topic;
};

/* Session context of one flow (MQTT 5.0 §3.1). */
struct mqtt_state {
	struct mqtt_dir dir[2]; /* 0: to server, 1: to client */
	uint8_t version;        /* 0 until known */
	bool version_inferred;
	bool connected;
	bool connect_seen;
	struct mqtt_session_rec rec; /* for the mqtt_session object */
	char *client_id;        /* bounded copies, NUL-terminated */
	char *username;
	uint16_t keepalive;
	struct mqtt_pending *pend_head, *pend_tail;
	uint32_t n_pending;
	uint16_t recent_done[2][8]; /* ids of recently completed txs by dir */
	uint8_t recent_pos[2];
	uint8_t recent_n[2];
	/*
	 * Packet ids (by direction of the request) whose transaction was
	 * logged before its answer because a cap was hit: the late answer
	 * is logged on its own without a missing_* anomaly. One bit per id,
	 * allocated only for flows that hit a cap, charged to tx-memcap.
	 */
	uint8_t *early[2];
	bool overflow_reported;
};

struct mqtt_state *mqtt_state_new(struct mqtt_ctx *c);
/* Logs every pending transaction (closed: also raise missing_ack), frees. */
void mqtt_state_free(struct mqtt_ctx *c, struct mqtt_state *st,
		     const struct mqtt_sink *sink, bool closed);

/*
 * Feeds in-order stream bytes of one direction. Messages may span calls and
 * one call may hold many messages. Decoded messages go to the sink; bytes of
 * an unfinished message are copied into the direction's buffer.
 */
void mqtt_stream_feed(struct mqtt_ctx *c, struct mqtt_state *st, bool toclient,
		      const uint8_t *p, size_t n, const struct mqtt_sink *sink);

/*
 * Tells the parser that len bytes of this direction were lost. The partial
 * message is dropped and the parser looks for the next message boundary.
 */
void mqtt_stream_gap(struct mqtt_ctx *c, struct mqtt_state *st, bool toclient,
		     uint64_t len, const struct mqtt_sink *sink);

/* Starts a direction in resync mode (stream picked up midway). */
void mqtt_stream_midstream(struct mqtt_state *st, bool toclient);

/*
 * Probes the first bytes of a client stream on a port not configured as
 * MQTT: 1 when they are a CONNECT with a known protocol name, 0 when more
 * bytes are needed, -1 when they are not MQTT.
 */
int mqtt_probe_connect(const uint8_t *p, size_t n);

#endif
