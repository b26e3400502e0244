/* live_io.h - the attack transport over real sockets: TCP connections to the broker and raw SYNs. */
#ifndef MQTTIDS_LIVE_IO_H
#define MQTTIDS_LIVE_IO_H

#include <netinet/in.h>

#include "mqtt/mqtt_parse.h"
#include "tb_attack.h"

#define LIVE_MAX_CONNS 8192
/* A broker message larger than this is skipped, not decoded. */
#define LIVE_MAX_MSG (4u << 20)

struct live_conn {
	int fd;
	uint8_t *buf;
	size_t len, cap;
	size_t consumed;  /* bytes of the previous message to drop first */
	uint64_t skip;    /* bytes of an oversized message still to discard */
};

struct live_io {
	struct tb_io io;
	struct sockaddr_in broker;
	struct sockaddr_in bind;  /* sin_addr 0: the kernel picks */
	uint8_t version;
	struct live_conn *c;      /* [LIVE_MAX_CONNS] */
	struct mqtt_parser ps;
	int raw_fd;               /* -2: not opened yet, -1: not permitted */
	char attacker[48];
	char target[64];
};

/* Sets up the transport; returns 0 or -1 (message on stderr). */
int live_io_init(struct live_io *l, const char *broker, uint16_t port,
		 const char *bind_addr, uint8_t version);
void live_io_deinit(struct live_io *l);

#endif
