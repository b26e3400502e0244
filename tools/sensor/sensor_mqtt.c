/*
 * sensor_mqtt.c - mqttids-sensor's libmosquitto client: will, network thread
 * with libmosquitto's own reconnect and back-off, simulated Wi-Fi drops and a
 * graceful DISCONNECT at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SN_RECONNECT_MIN_S 1
#define SN_RECONNECT_MAX_S 30

static void sn_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static const char *sn_conn_reason(const struct sn_client *c, int rc)
{
	return c->o->version == 5 ? mosquitto_reason_string(rc)
				  : mosquitto_connack_string(rc);
}

static void sn_disconnect(struct sn_client *c)
{
	if (c->o->version == 5)
		mosquitto_disconnect_v5(c->mosq, 0, NULL);
	else
		mosquitto_disconnect(c->mosq);
}

/* Records the source address of the new connection (for the info message). */
static void sn_note_local_ip(struct sn_client *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = mosquitto_socket(c->mosq);
	c->local_ip[0] = '\0';
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->local_ip,
			  sizeof(c->local_ip));
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  c->local_ip, sizeof(c->local_ip));
}

/*
 * CONNACK. On success the mode publishes its birth messages (under lock, so
 * they never interleave with a half-done tick). A client that is stopping
 * publishes nothing: the network thread says goodbye on its next pass.
 */
static void sn_on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct sn_client *c = ud;
	if (rc != 0) {
		fprintf(stderr, "%s: connection refused: %s (%d); retrying\n", c->id,
			sn_conn_reason(c, rc), rc);
		return;
	}
	if (atomic_load(&c->stopping))
		return;
	atomic_fetch_add(&c->connects, 1);
	atomic_store(&c->reconnects, 0);
	pthread_mutex_lock(&c->lock);
	sn_note_local_ip(c);
	atomic_store(&c->connected, true);
	if (c->o->verbose)
		printf("%s: connected to %s from %s\n", c->id, c->target, c->local_ip);
	if (c->on_connect)
		c->on_connect(c->ud);
	pthread_mutex_unlock(&c->lock);
}

static void sn_on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct sn_client *c = ud;
	bool was = atomic_exchange(&c->connected, false);
	bool dropped = atomic_exchange(&c->dropping, false);
	if (rc == 0 || atomic_load(&c->stopping))
		return;
	if (dropped) {
		if (c->o->verbose)
			printf("%s: Wi-Fi drop: connection closed without DISCONNECT\n", c->id);
	} else if (was) {
		fprintf(stderr, "%s: connection lost (%s); reconnecting\n", c->id,
			mosquitto_strerror(rc));
	}
}

static void sn_on_message(struct mosquitto *m, void *ud,
			  const struct mosquitto_message *msg)
{
	(void)m;
	struct sn_client *c = ud;
	atomic_fetch_add(&c->received, 1);
	if (msg->retain)
		atomic_fetch_add(&c->received_retained, 1);
	if (c->o->verbose)
		printf("%s: recv %s%s (%d bytes)\n", c->id, msg->topic,
		       msg->retain ? " retained" : "", msg->payloadlen);
}

static void sn_on_log(struct mosquitto *m, void *ud, int level, const char *s)
{
	(void)m;
	struct sn_client *c = ud;
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		fprintf(stderr, "%s: libmosquitto: %s\n", c->id, s);
}

int sn_client_init(struct sn_client *c, const struct sn_opts *o, const char *id,
		   const char *will_topic, const char *will_payload, int will_qos,
		   bool will_retain)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->id = id;
	pthread_mutex_init(&c->lock, NULL);
	if (strchr(o->broker, ':'))
		snprintf(c->target, sizeof(c->target), "[%s]:%d", o->broker, o->port);
	else
		snprintf(c->target, sizeof(c->target), "%s:%d", o->broker, o->port);
	/* Clean session, as PubSubClient and Zigbee2MQTT connect. */
	c->mosq = mosquitto_new(id, true, c);
	if (!c->mosq) {
		fprintf(stderr, "%s: mosquitto_new: %s\n", id, strerror(errno));
		return -1;
	}
	int pv = o->version == 3 ? MQTT_PROTOCOL_V31
		 : o->version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
	int rc = mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, pv);
	/* The network loop runs in a thread of ours, not libmosquitto's. */
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_threaded_set(c->mosq, true);
	if (rc == MOSQ_ERR_SUCCESS && o->username)
		rc = mosquitto_username_pw_set(c->mosq, o->username, o->password);
	if (rc == MOSQ_ERR_SUCCESS && will_topic) {
		int n = (int)strlen(will_payload);
		rc = o->version == 5
		     ? mosquitto_will_set_v5(c->mosq, will_topic, n, will_payload,
					     will_qos, will_retain, NULL)
		     : mosquitto_will_set(c->mosq, will_topic, n, will_payload,
					  will_qos, will_retain);
	}
	/* The policy sn_net_main applies (libmosquitto's, kept in step). */
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_reconnect_delay_set(c->mosq, SN_RECONNECT_MIN_S,
						   SN_RECONNECT_MAX_S, true);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "%s: cannot set up the client: %s\n", id,
			mosquitto_strerror(rc));
		return -1;
	}
	mosquitto_connect_callback_set(c->mosq, sn_on_connect);
	mosquitto_disconnect_callback_set(c->mosq, sn_on_disconnect);
	mosquitto_message_callback_set(c->mosq, sn_on_message);
	mosquitto_log_callback_set(c->mosq, sn_on_log);
	return 0;
}

static bool sn_rc_is_final(int rc)
{
	/* Retrying cannot fix these: the client itself is broken. */
	return rc == MOSQ_ERR_NOMEM || rc == MOSQ_ERR_INVAL ||
	       rc == MOSQ_ERR_NOT_SUPPORTED;
}

/*
 * The end of the session, on the network thread: DISCONNECT queued behind
 * whatever the main thread published last, then written out without
 * reading. libmosquitto 2.0 marks the client disconnected as soon as
 * mosquitto_disconnect is called and treats any packet read after that
 * (PUBLISH, PUBACK, PINGRESP) as a protocol error, closing the socket with
 * the DISCONNECT still queued; a subscriber almost always has something on
 * the way. Writing only avoids that.
 */
static void sn_net_goodbye(struct sn_client *c)
{
	if (mosquitto_socket(c->mosq) < 0)
		return;
	/* Read what has arrived while that is still allowed: closing a socket
	 * with unread data makes the kernel send RST, and a broker that sees
	 * the RST first never reads the DISCONNECT. */
	for (int i = 0; i < 64; i++) {
		struct pollfd pfd = { .fd = mosquitto_socket(c->mosq), .events = POLLIN };
		if (pfd.fd < 0 || poll(&pfd, 1, 0) != 1 ||
		    mosquitto_loop_read(c->mosq, 1) != MOSQ_ERR_SUCCESS)
			break;
	}
	if (mosquitto_socket(c->mosq) < 0)
		return;
	sn_disconnect(c);
	/* packet__write closes the socket once the DISCONNECT is out. */
	for (int i = 0; i < 50 && mosquitto_socket(c->mosq) >= 0; i++) {
		if (mosquitto_loop_write(c->mosq, 1) != MOSQ_ERR_SUCCESS)
			break;
		if (mosquitto_socket(c->mosq) < 0 || !mosquitto_want_write(c->mosq))
			break;
		struct pollfd pfd = { .fd = mosquitto_socket(c->mosq), .events = POLLOUT };
		poll(&pfd, 1, 100);
	}
}

/*
 * The network thread: libmosquitto's mosquitto_loop (keepalive PINGREQs,
 * reads, queued writes) with the reconnect policy of its
 * mosquitto_loop_forever -- exponential back-off, delay min * (n + 1)^2
 * capped at max, n reset by a successful CONNACK -- written out here so
 * that the simulated Wi-Fi drop and the final DISCONNECT happen on this
 * thread, between loop passes, and never race with libmosquitto's own
 * handling of the socket. A refused CONNACK (v5 ones surface as
 * MOSQ_ERR_PROTOCOL) is retried too, as a device keeps trying.
 */
static void *sn_net_main(void *arg)
{
	struct sn_client *c = arg;
	for (;;) {
		if (atomic_load(&c->stopping)) {
			sn_net_goodbye(c);
			break;
		}
		if (atomic_exchange(&c->drop_req, false) && atomic_load(&c->connected)) {
			int fd = mosquitto_socket(c->mosq);
			atomic_store(&c->dropping, true);
			if (fd >= 0 && shutdown(fd, SHUT_RDWR) == 0)
				atomic_fetch_add(&c->drops, 1);
			else
				atomic_store(&c->dropping, false);
		}
		int rc = mosquitto_loop(c->mosq, 100, 1);
		if (rc == MOSQ_ERR_SUCCESS)
			continue;
		if (atomic_load(&c->stopping))
			continue;
		if (sn_rc_is_final(rc)) {
			fprintf(stderr, "%s: network loop stopped: %s\n", c->id,
				mosquitto_strerror(rc));
			atomic_store(&c->net_rc, rc);
			break;
		}
		/* Lost or never made: back off, then mosquitto_reconnect. */
		unsigned n = atomic_load(&c->reconnects);
		unsigned long delay = SN_RECONNECT_MIN_S * (unsigned long)(n + 1) * (n + 1);
		if (delay > SN_RECONNECT_MAX_S)
			delay = SN_RECONNECT_MAX_S;
		else
			atomic_store(&c->reconnects, n + 1);
		if (c->o->verbose)
			printf("%s: no connection (%s); reconnecting in %lu s\n", c->id,
			       mosquitto_strerror(rc), delay);
		for (unsigned long i = 0; i < delay * 10 && !atomic_load(&c->stopping); i++)
			sn_sleep_ms(100);
		if (atomic_load(&c->stopping))
			break;
		rc = mosquitto_reconnect(c->mosq);
		if (rc != MOSQ_ERR_SUCCESS && c->o->verbose)
			printf("%s: reconnect: %s\n", c->id,
			       rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
	}
	atomic_store(&c->net_done, true);
	if (!atomic_load(&c->stopping))
		pthread_kill(c->main_thread, SIGUSR1);
	return NULL;
}

int sn_client_start(struct sn_client *c)
{
	const struct sn_opts *o = c->o;
	int rc = o->version == 5
		 ? mosquitto_connect_bind_v5(c->mosq, o->broker, o->port, o->keepalive,
					     o->bind, NULL)
		 : mosquitto_connect_bind(c->mosq, o->broker, o->port, o->keepalive,
					  o->bind);
	if (rc == MOSQ_ERR_ERRNO) {
		/* Broker not up yet: the network thread keeps trying. */
		fprintf(stderr, "%s: cannot connect to %s (%s); retrying\n", c->id,
			c->target, strerror(errno));
	} else if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "%s: cannot connect to %s%s%s: %s\n", c->id, c->target,
			o->bind ? " from " : "", o->bind ? o->bind : "",
			rc == MOSQ_ERR_EAI ? "address not resolvable"
					   : mosquitto_strerror(rc));
		return -1;
	}
	c->main_thread = pthread_self();
	int e = pthread_create(&c->thread, NULL, sn_net_main, c);
	if (e != 0) {
		fprintf(stderr, "%s: pthread_create: %s\n", c->id, strerror(e));
		return -1;
	}
	c->thread_started = true;
	return 0;
}

int sn_publish(struct sn_client *c, const char *topic, const char *payload,
	       size_t n, int qos, bool retain)
{
	if (!atomic_load(&c->connected))
		return -1;
	int rc = c->o->version == 5
		 ? mosquitto_publish_v5(c->mosq, NULL, topic, (int)n, payload, qos,
					retain, NULL)
		 : mosquitto_publish(c->mosq, NULL, topic, (int)n, payload, qos, retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		if (rc != MOSQ_ERR_NO_CONN)
			fprintf(stderr, "%s: publish %s: %s\n", c->id, topic,
				mosquitto_strerror(rc));
		return -1;
	}
	atomic_fetch_add(&c->published, 1);
	if (c->o->verbose)
		printf("%s: pub %s q%d%s %.*s\n", c->id, topic, qos,
		       retain ? " retained" : "", (int)n, payload);
	return 0;
}

int sn_subscribe(struct sn_client *c, const char *filter, int qos)
{
	int rc = c->o->version == 5
		 ? mosquitto_subscribe_v5(c->mosq, NULL, filter, qos, 0, NULL)
		 : mosquitto_subscribe(c->mosq, NULL, filter, qos);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "%s: subscribe %s: %s\n", c->id, filter,
			mosquitto_strerror(rc));
		return -1;
	}
	if (c->o->verbose)
		printf("%s: sub %s q%d\n", c->id, filter, qos);
	return 0;
}

bool sn_client_drop(struct sn_client *c)
{
	if (!atomic_load(&c->connected))
		return false;
	atomic_store(&c->drop_req, true);
	return true;
}

int sn_client_stop(struct sn_client *c)
{
	atomic_store(&c->stopping, true);
	if (!c->thread_started)
		return 0;
	/*
	 * The network thread says goodbye within a loop pass (100 ms). Only a
	 * blocking connect to an unreachable host can hold it longer; with
	 * nothing on the wire to lose it is cancelled there after 3 s.
	 */
	bool cancelled = false;
	for (unsigned i = 0; !atomic_load(&c->net_done); i++) {
		if (i >= 30 && !atomic_load(&c->connected)) {
			pthread_cancel(c->thread);
			cancelled = true;
			break;
		}
		sn_sleep_ms(100);
	}
	pthread_join(c->thread, NULL);
	c->thread_started = false;
	/* libmosquitto's state is unknown after a cancel: leave it be. */
	c->abandoned = cancelled;
	return atomic_load(&c->net_rc) ? -1 : 0;
}

void sn_client_deinit(struct sn_client *c)
{
	if (c->mosq && !c->abandoned) {
		mosquitto_destroy(c->mosq);
		c->mosq = NULL;
	}
	pthread_mutex_destroy(&c->lock);
}

void sn_label_event(const struct sn_client *c, const char *kind,
		    double start_s, double end_s, const char *device,
		    const char *topic, const char *detail)
{
	if (!c->o->label)
		return;
	struct tb_label l;
	tb_label_init(&l, kind, "live");
	l.start_us = (uint64_t)(start_s * 1e6);
	l.end_us = (uint64_t)(end_s * 1e6);
	snprintf(l.attacker, sizeof(l.attacker), "physical");
	snprintf(l.target, sizeof(l.target), "%.*s", (int)sizeof(l.target) - 1, c->target);
	tb_label_client(&l, c->id);
	snprintf(l.device, sizeof(l.device), "%s", device);
	snprintf(l.topic, sizeof(l.topic), "%s", topic);
	if (detail)
		snprintf(l.detail, sizeof(l.detail), "%s", detail);
	tb_label_write(c->o->label, &l);
}
