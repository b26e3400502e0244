/* sensor.h - mqttids-sensor: the testbed's live MQTT devices (a DHT sensor board, a Zigbee2MQTT bridge, a dashboard) over libmosquitto. */
#ifndef MQTTIDS_SENSOR_H
#define MQTTIDS_SENSOR_H

#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tb_label.h"
#include "tb_payload.h"
#include "tb_sensor.h"

enum sn_mode { SN_MODE_DHT, SN_MODE_Z2M, SN_MODE_DASH };

/* Zigbee2MQTT availability payloads (docs/TESTBED.md, "Zigbee2MQTT bridge mode"). */
enum sn_avail { SN_AVAIL_LEGACY, SN_AVAIL_JSON, SN_AVAIL_BOTH };

#define SN_MAX_FILTERS 16
#define SN_Z2M_MAX_DEVICES 16
#define SN_ID_MAX 96      /* client ids and device names, with the NUL */
#define SN_TOPIC_MAX 200  /* a device's base topic, with the NUL */

#define SN_MAX_WINDOWS 16

/*
 * A physical-world event on the device's timeline (seconds from its start):
 * tampering (delta degC), a silence, or a Zigbee device (name) dropping
 * off. for_s 0: until the end of the run.
 */
struct sn_window {
	double at, for_s, delta;
	bool has_delta;
	char name[48];
};

/* Everything the command line says, validated (sensor_main.c). */
struct sn_opts {
	enum sn_mode mode;
	const char *broker;
	int port;
	const char *bind;          /* NULL: the kernel picks the source */
	char client_id[SN_ID_MAX];
	char room[32];
	char topic[SN_TOPIC_MAX];
	double interval;           /* seconds between readings / state reports */
	enum tb_dht model;
	int qos;                   /* readings, z2m states, dashboard subscriptions */
	int keepalive;
	int version;               /* 3, 4 or 5 */
	const char *username, *password;
	struct tb_sec_cfg sec;
	uint64_t seed;
	double duration;           /* 0: until SIGTERM/SIGINT */
	const char *label;         /* labels.jsonl, NULL: none written */
	struct sn_window tamper[SN_MAX_WINDOWS];
	unsigned n_tamper;
	struct sn_window silence[SN_MAX_WINDOWS];
	unsigned n_silence;
	double drop_every;         /* mean seconds between Wi-Fi drops, 0: never */
	bool verbose;
	/* Zigbee2MQTT bridge */
	unsigned z2m_devices;
	char z2m_base[64];
	enum sn_avail avail;
	struct sn_window z2m_off[SN_MAX_WINDOWS];
	unsigned n_z2m_off;
	/* dashboard */
	const char *filters[SN_MAX_FILTERS];
	unsigned n_filters;
};

/*
 * The MQTT connection (sensor_mqtt.c). libmosquitto's network loop runs
 * in a thread of its own, with libmosquitto's reconnect policy (1-30 s,
 * exponential); the main thread schedules readings and publishes.
 * lock serialises the mode's state between the main thread and the
 * on_connect hook, which runs on the network thread.
 */
struct sn_client {
	struct mosquitto *mosq;
	const struct sn_opts *o;
	const char *id;
	pthread_mutex_t lock;
	pthread_t thread, main_thread;
	bool thread_started;
	bool abandoned;                     /* thread cancelled: not destroyed */
	atomic_bool connected, stopping, net_done, dropping, drop_req;
	atomic_uint reconnects;             /* back-off step, 0 after CONNACK */
	atomic_int net_rc;                  /* why the network thread gave up */
	atomic_ulong published, connects, drops, received, received_retained;
	char target[80];                    /* broker "address:port", for labels */
	char local_ip[48];                  /* source address of this connection */
	/* Hooks of the mode, called with lock held on the network thread. */
	void (*on_connect)(void *ud);
	void *ud;
};

/*
 * Sets up the client: id, protocol version, credentials, the will and the
 * reconnect back-off (1-30 s, exponential). will_topic may be NULL. Returns
 * 0, or -1 with a message on stderr. The client is not connected yet.
 */
int sn_client_init(struct sn_client *c, const struct sn_opts *o, const char *id,
		   const char *will_topic, const char *will_payload, int will_qos,
		   bool will_retain);
/*
 * Connects (a refused or unreachable broker is retried by the network
 * thread, as a device would) and starts the network thread. SIGUSR1 is sent
 * to the calling thread if the network thread stops on its own. Returns 0 or
 * -1 (bad address and the like: message on stderr).
 */
int sn_client_start(struct sn_client *c);
/* Publishes (QoS 0/1); 0, or -1 when not connected or refused. -v prints it. */
int sn_publish(struct sn_client *c, const char *topic, const char *payload,
	       size_t n, int qos, bool retain);
/* Subscribes one filter; 0 or -1. */
int sn_subscribe(struct sn_client *c, const char *filter, int qos);
/*
 * A Wi-Fi drop: the network thread shuts the socket down without
 * DISCONNECT (within 100 ms), so the broker publishes the will; the client
 * then reconnects. Returns false when there is no connection to drop.
 */
bool sn_client_drop(struct sn_client *c);
/*
 * Ends the session with DISCONNECT (when connected) and stops the network
 * thread. Returns 0, or -1 when the network thread had failed (net_rc).
 */
int sn_client_stop(struct sn_client *c);
/*
 * Frees the client (after sn_client_stop). A client whose thread had to be
 * cancelled is left allocated (keep it reachable, e.g. static).
 */
void sn_client_deinit(struct sn_client *c);

/* Epoch seconds on a monotonic base (sensor_main.c). */
double sn_now(void);
/* "2025-01-01T12:00:00.123Z" into out[cap]. */
void sn_iso8601(char *out, size_t cap, double epoch_s);

/* A bounded text builder: writes past cap are dropped and flagged. */
struct sn_buf {
	char *p;
	size_t cap, len;
	bool overflow;
};

void sn_buf_init(struct sn_buf *b, char *p, size_t cap);
void sn_buf_printf(struct sn_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A label of a physical-world event (tamper, silence, z2m-offline) from
 * start_s to end_s (epoch seconds), appended to o->label when set.
 */
void sn_label_event(const struct sn_client *c, const char *kind,
		    double start_s, double end_s, const char *device,
		    const char *topic, const char *detail);

/*
 * The modes. init prepares the state and hooks into the client; tick does
 * whatever is due at now and returns when it next has something to do;
 * finish writes pending labels and prints the summary. tick and finish run
 * on the main thread with c->lock held.
 */
struct sn_dht;
struct sn_z2m;

int sn_dht_init(struct sn_dht **out, struct sn_client *c, double now);
double sn_dht_tick(struct sn_dht *d, double now);
void sn_dht_finish(struct sn_dht *d, double now);
void sn_dht_free(struct sn_dht *d);
void sn_dht_banner(const struct sn_opts *o);

/* Names of the bridge's devices for n devices, for option checks. */
const char *sn_z2m_device_name(unsigned i, unsigned n, char *out, size_t cap);
int sn_z2m_init(struct sn_z2m **out, struct sn_client *c, double now);
double sn_z2m_tick(struct sn_z2m *z, double now);
/* A graceful stop, as Zigbee2MQTT's: retained bridge state offline first. */
void sn_z2m_stop(struct sn_z2m *z);
void sn_z2m_finish(struct sn_z2m *z, double now);
void sn_z2m_free(struct sn_z2m *z);

void sn_dash_hook(struct sn_client *c);
void sn_dash_finish(struct sn_client *c);

#endif
