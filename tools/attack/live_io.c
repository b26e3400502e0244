/* live_io.c - the attack transport over real sockets (blocking connects with a timeout, poll-based reads, IP_HDRINCL SYNs). */
#define _DEFAULT_SOURCE
#include "live_io.h"
#include "tb_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define US 1000000ull

static uint64_t now_us(void *ud)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * US + (uint64_t)ts.tv_nsec / 1000;
}

static void sleep_until(void *ud, uint64_t t)
{
	uint64_t n = now_us(ud);
	if (t <= n)
		return;
	uint64_t d = t - n;
	struct timespec ts = { (time_t)(d / US), (long)(d % US) * 1000 };
	struct live_io *l = ud;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		if (l->io.stop && *l->io.stop)
			return;
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p = { fd, ev, 0 };
	int rc;
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static int l_open(void *ud, uint16_t *local_port)
{
	struct live_io *l = ud;
	int h = 0;
	while (h < LIVE_MAX_CONNS && l->c[h].fd >= 0)
		h++;
	if (h == LIVE_MAX_CONNS)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (l->bind.sin_addr.s_addr &&
	    bind(fd, (const struct sockaddr *)&l->bind, sizeof(l->bind)) != 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)&l->broker, sizeof(l->broker)) != 0) {
		if (errno != EINPROGRESS)
			goto fail;
		if (wait_fd(fd, POLLOUT, 3000) <= 0)
			goto fail;
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
			goto fail;
	}
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	getsockname(fd, (struct sockaddr *)&me, &ml);
	*local_port = ntohs(me.sin_port);
	l->c[h].fd = fd;
	l->c[h].len = l->c[h].consumed = 0;
	l->c[h].skip = 0;
	return h;
fail:
	close(fd);
	return -1;
}

static int l_send(void *ud, int h, const uint8_t *p, size_t n)
{
	struct live_io *l = ud;
	if (h < 0 || h >= LIVE_MAX_CONNS || l->c[h].fd < 0)
		return -1;
	int fd = l->c[h].fd;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && wait_fd(fd, POLLOUT, 5000) > 0)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Frames one message at the head of the buffer: 1 with *total set, 0 need more, -1 bad. */
static int frame(struct live_conn *c, size_t *total)
{
	uint32_t hl, rl;
	bool overlong;
	int rc = mqtt_frame_peek(c->buf, c->len, &hl, &rl, &overlong);
	if (rc <= 0)
		return rc;
	*total = (size_t)hl + rl;
	return 1;
}

static int l_recv(void *ud, int h, uint64_t timeout_us, struct mqtt_msg *m)
{
	struct live_io *l = ud;
	if (h < 0 || h >= LIVE_MAX_CONNS || l->c[h].fd < 0)
		return -1;
	struct live_conn *c = &l->c[h];
	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	uint64_t until = now_us(ud) + timeout_us;
	for (;;) {
		size_t total = 0;
		int fr = c->skip ? 0 : frame(c, &total);
		if (fr < 0)
			return -1;
		if (fr == 1 && total > LIVE_MAX_MSG) {
			c->skip = total; /* too big to keep: discard it */
			fr = 0;
		}
		if (c->skip) {
			size_t d = c->len < c->skip ? c->len : (size_t)c->skip;
			memmove(c->buf, c->buf + d, c->len - d);
			c->len -= d;
			c->skip -= d;
		}
		if (fr == 1 && total <= c->len) {
			if (mqtt_parse_msg(&l->ps, c->buf, total, l->version, m) == 0) {
				c->consumed = total;
				return 1;
			}
			return -1; /* the broker does not send malformed packets */
		}
		uint64_t n = now_us(ud);
		if (n >= until)
			return 0;
		if (c->cap - c->len < 4096) {
			size_t nc = c->cap ? c->cap * 2 : 16384;
			uint8_t *nb = realloc(c->buf, nc);
			if (!nb)
				return -1;
			c->buf = nb;
			c->cap = nc;
		}
		int w = wait_fd(c->fd, POLLIN, (int)((until - n + 999) / 1000));
		if (w < 0)
			return -1;
		if (w == 0)
			continue;
		ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (got == 0)
			return -1;
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		c->len += (size_t)got;
	}
}

static void l_close(void *ud, int h)
{
	struct live_io *l = ud;
	if (h < 0 || h >= LIVE_MAX_CONNS || l->c[h].fd < 0)
		return;
	close(l->c[h].fd);
	l->c[h].fd = -1;
	l->c[h].len = l->c[h].consumed = 0;
	l->c[h].skip = 0;
}

/* One SYN with an IPv4 header of our own (IP_HDRINCL), as hping3 -S sends. */
static int l_syn(void *ud, uint16_t src_port, uint32_t seq)
{
	struct live_io *l = ud;
	if (l->raw_fd == -2) {
		l->raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (l->raw_fd < 0)
			l->raw_fd = -1;
	}
	if (l->raw_fd < 0)
		return -1;
	uint8_t pkt[40];
	memset(pkt, 0, sizeof(pkt));
	struct in_addr src = l->bind.sin_addr;
	if (!src.s_addr) {
		/* No --bind: ask the kernel which source it would use. */
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		if (s >= 0 && connect(s, (const struct sockaddr *)&l->broker, sizeof(l->broker)) == 0 &&
		    getsockname(s, (struct sockaddr *)&me, &ml) == 0)
			src = me.sin_addr;
		if (s >= 0)
			close(s);
	}
	pkt[0] = 0x45;
	pkt[3] = 40;
	pkt[4] = (uint8_t)(seq >> 8);
	pkt[5] = (uint8_t)seq;
	pkt[8] = 64;
	pkt[9] = IPPROTO_TCP;
	memcpy(pkt + 12, &src, 4);
	memcpy(pkt + 16, &l->broker.sin_addr, 4);
	uint8_t *t = pkt + 20;
	t[0] = (uint8_t)(src_port >> 8);
	t[1] = (uint8_t)src_port;
	memcpy(t + 2, &l->broker.sin_port, 2);
	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	t[12] = 5 << 4;
	t[13] = 0x02; /* SYN */
	t[14] = 0x02; /* window 512, as hping3 */
	t[15] = 0x00;
	uint8_t ph[12 + 20];
	memcpy(ph, pkt + 12, 8);
	ph[8] = 0;
	ph[9] = IPPROTO_TCP;
	ph[10] = 0;
	ph[11] = 20;
	memcpy(ph + 12, t, 20);
	uint16_t tc = tb_inet_csum(ph, sizeof(ph), 0);
	t[16] = (uint8_t)(tc >> 8);
	t[17] = (uint8_t)tc;
	uint16_t ic = tb_inet_csum(pkt, 20, 0);
	pkt[10] = (uint8_t)(ic >> 8);
	pkt[11] = (uint8_t)ic;
	ssize_t w = sendto(l->raw_fd, pkt, sizeof(pkt), 0,
			   (const struct sockaddr *)&l->broker, sizeof(l->broker));
	return w == (ssize_t)sizeof(pkt) ? 0 : -1;
}

int live_io_init(struct live_io *l, const char *broker, uint16_t port,
		 const char *bind_addr, uint8_t version)
{
	memset(l, 0, sizeof(*l));
	l->broker.sin_family = AF_INET;
	l->broker.sin_port = htons(port);
	if (inet_pton(AF_INET, broker, &l->broker.sin_addr) != 1) {
		fprintf(stderr, "mqttids-attack: --broker '%s' is not an IPv4 address\n", broker);
		return -1;
	}
	l->bind.sin_family = AF_INET;
	if (bind_addr && inet_pton(AF_INET, bind_addr, &l->bind.sin_addr) != 1) {
		fprintf(stderr, "mqttids-attack: --bind '%s' is not an IPv4 address\n", bind_addr);
		return -1;
	}
	l->c = calloc(LIVE_MAX_CONNS, sizeof(*l->c));
	if (!l->c || mqtt_parser_init(&l->ps, 256, 256) != 0) {
		free(l->c);
		return -1;
	}
	for (int i = 0; i < LIVE_MAX_CONNS; i++)
		l->c[i].fd = -1;
	l->version = version;
	l->raw_fd = -2;
	snprintf(l->attacker, sizeof(l->attacker), "%s", bind_addr ? bind_addr : "");
	if (!bind_addr) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		if (s >= 0 && connect(s, (const struct sockaddr *)&l->broker, sizeof(l->broker)) == 0 &&
		    getsockname(s, (struct sockaddr *)&me, &ml) == 0)
			inet_ntop(AF_INET, &me.sin_addr, l->attacker, sizeof(l->attacker));
		if (s >= 0)
			close(s);
	}
	snprintf(l->target, sizeof(l->target), "%s:%u", broker, (unsigned)port);
	l->io = (struct tb_io){
		.ud = l, .now = now_us, .sleep_until = sleep_until, .open = l_open,
		.send = l_send, .recv = l_recv, .close = l_close, .syn = l_syn,
		.attacker = l->attacker, .target = l->target, .mode = "live",
	};
	return 0;
}

void live_io_deinit(struct live_io *l)
{
	if (!l->c)
		return;
	for (int i = 0; i < LIVE_MAX_CONNS; i++) {
		if (l->c[i].fd >= 0)
			close(l->c[i].fd);
		free(l->c[i].buf);
	}
	free(l->c);
	l->c = NULL;
	if (l->raw_fd >= 0)
		close(l->raw_fd);
	mqtt_parser_deinit(&l->ps);
}
