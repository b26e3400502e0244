/*
 * flow_table.h - bidirectional TCP flows, entries of one keyed table
 * (util/ktable.h) on three recency lists:
 * - open: connections that have not (yet) sent an MQTT CONNECT;
 * - closed: FIN from both sides or RST, kept briefly for late packets;
 * - session: open connections whose CONNECT was parsed. Their client id
 *   and username are what every detector keys on.
 * A new flow displaces the oldest closed flow, else the oldest open one,
 * never a session: a flood of connections that send no CONNECT (spoofed
 * SYNs) cannot push out an established session. Sessions hold at most
 * FLOW_SESSION_SHARE_PCT of the table; past that a session is ended to
 * admit a new one: the oldest of the group of client addresses (64, by
 * the seeded hash) that holds the most sessions, so a few hosts opening
 * ever more sessions end their own.
 */
#ifndef MQTTIDS_FLOW_TABLE_H
#define MQTTIDS_FLOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/pkt_decode.h"
#include "util/ktable.h"

struct tcp_seg;
struct mqtt_state;

/* One direction of a TCP connection (see tcp_reasm.c). */
struct tcp_dir {
	bool init;        /* next_seq is meaningful */
	bool syn;         /* stream start seen: no resync needed */
	bool fin;
	bool done;        /* FIN reached in order */
	bool hole_acked;  /* the peer acknowledged bytes we never saw */
	uint32_t next_seq;
	uint32_t fin_seq;
	uint64_t hole_acked_us;
	struct tcp_seg *ooo; /* out-of-order segments, sorted by seq */
	uint32_t ooo_bytes;
	uint32_t ooo_n;
};

enum flow_app {
	FLOW_APP_UNKNOWN = 0,
	FLOW_APP_MQTT = 1,
	FLOW_APP_OTHER = 2,
};

struct flow {
	struct kt_node node; /* the table's */
	uint64_t touch_seq;  /* order of the latest use, across lists */
	uint8_t family;
	/* Oriented client -> server once known (SYN, CONNECT or port). */
	uint8_t cli[16];
	uint8_t srv[16];
	uint16_t cport;
	uint16_t sport;
	uint8_t app;
	bool rst;
	uint16_t vlan[3];
	uint8_t vlan_n;
	bool has_cli_mac;   /* the capture has Ethernet: cli_mac is the client's */
	uint8_t cli_mac[6];
	uint64_t id;
	uint64_t first_us;
	uint64_t last_us;
	uint64_t last_pcap_cnt;
	uint64_t pkts[2];
	uint64_t bytes[2];
	struct tcp_dir d[2]; /* 0: client -> server, 1: server -> client */
	struct mqtt_state *mqtt;
	/* Addresses as text, made once for EVE records (empty until then). */
	char cli_str[46];
	char srv_str[46];
	/* First payload bytes held while the CONNECT probe needs more. */
	uint8_t probe[16];
	uint8_t probe_len;
	uint8_t probe_dir;
	uint32_t probe_seq;
};

struct flow_cfg {
	uint32_t max_flows;
	size_t memcap; /* when set: max_flows = memcap / sizeof(struct flow) */
	uint32_t idle_timeout_s;
	uint32_t closed_timeout_s;
	/* VLAN ids are part of the flow key (Suricata's vlan.use-for-tracking);
	 * off for captures whose two directions are tagged differently. */
	bool vlan_tracking;
};

/* The share of the table established sessions may hold, in percent. */
#define FLOW_SESSION_SHARE_PCT 87u

/* Which list a flow is on (flow_table_touch). */
enum flow_state {
	FLOW_OPEN = 0,
	FLOW_CLOSED = 1,
	FLOW_SESSION = 2,
};

struct flow_stats {
	uint64_t created;
	uint64_t evicted_lru;   /* table full: least recently used dropped */
	uint64_t evicted_sessions; /* of which were sessions (the share is full) */
	uint64_t timed_out;
	uint64_t closed;
	uint64_t ended_at_exit;
	uint64_t active;
	uint64_t peak;
};

struct flow_table;

struct flow_table *flow_table_new(const struct flow_cfg *cfg);
void flow_table_free(struct flow_table *ft);

/*
 * Finds the flow of pkt or creates it; *dir is set to 0 when the packet goes
 * client -> server, 1 otherwise. When the table is full, the least recently
 * used flow is handed to end_cb first. Returns NULL only if max_flows is 0.
 */
struct flow *flow_table_get(struct flow_table *ft, const struct pkt *pkt,
			    const uint16_t *mqtt_ports, uint32_t n_ports,
			    int *dir, bool *created,
			    void (*end_cb)(void *ud, struct flow *f, int why),
			    void *ud);

/*
 * Marks use: moves f to the front of the list of state. A session past
 * the sessions' share ends the oldest session first (FLOW_END_EVICTED).
 */
void flow_table_touch(struct flow_table *ft, struct flow *f,
		      enum flow_state state,
		      void (*end_cb)(void *ud, struct flow *f, int why),
		      void *ud);

/* Swaps client and server sides (before any stream data was parsed). */
void flow_swap(struct flow *f);

enum flow_end_why {
	FLOW_END_TIMEOUT = 0,
	FLOW_END_CLOSED = 1,
	FLOW_END_EVICTED = 2,
	FLOW_END_EXIT = 3,
	FLOW_END_REUSED = 4,
};

/* Ends flows idle past their timeout at event time now_us. */
void flow_table_expire(struct flow_table *ft, uint64_t now_us,
		       void (*end_cb)(void *ud, struct flow *f, int why),
		       void *ud);
/* Ends one flow now. */
void flow_table_end(struct flow_table *ft, struct flow *f, int why,
		    void (*end_cb)(void *ud, struct flow *f, int why), void *ud);
/* Ends every flow, oldest first. */
void flow_table_flush(struct flow_table *ft,
		      void (*end_cb)(void *ud, struct flow *f, int why),
		      void *ud);

const struct flow_stats *flow_table_stats(struct flow_table *ft);

/* The table underneath, for its counters. */
const struct ktable *flow_table_kt(const struct flow_table *ft);

#endif
