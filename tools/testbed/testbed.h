/* testbed.h - mqttids-testbed, the network runner: the state of one run, shared by its parts (docs/TESTBED.md, "Network runner"). */
#ifndef MQTTIDS_TESTBED_H
#define MQTTIDS_TESTBED_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tb_scenario.h"

/* broker, admin, z2m, the sensors, the attacker */
#define TBR_MAX_HOSTS (4 + 32)
/* every host's process plus one per attack event, plus spare */
#define TBR_MAX_PROCS (TBR_MAX_HOSTS + TB_SC_MAX_EVENTS + 4)
#define TBR_PATH 1024
/* --ids-arg: at most this many */
#define TBR_MAX_IDS_ARGS 32

enum tbr_role { TBR_BROKER, TBR_DASHBOARD, TBR_Z2M, TBR_SENSOR, TBR_ATTACKER };

struct tbr_host {
	char name[96];       /* broker, admin, z2m, the sensor's client id, attacker */
	char sfx[8];         /* namespace suffix: broker, admin, z2m, s1..s32, atk */
	enum tbr_role role;
	uint8_t ip[4];
	char ip_s[16];
	char mac[18];        /* "" in loopback mode */
	char client_id[96];  /* "" for the broker and the attacker */
	/* sensors */
	unsigned index;      /* 1.. (tb_sensor_name) */
	char room[32];
	char topic[160];
	int qos;
	bool dht22;
	uint64_t seed;
	int proc;            /* its process in tbr.procs, -1 before it starts */
};

struct tbr_proc {
	char name[128];      /* log name: hosts/NAME.log */
	int host;            /* index into tbr.hosts */
	int ev;              /* attack: index into the scenario's events, else -1 */
	pid_t pid;           /* also its process group */
	bool running;
	bool stopped;        /* signalled by the runner at the end */
	int status;          /* waitpid status once !running */
	double m_start, m_end; /* CLOCK_MONOTONIC seconds (tbr_mono) */
};

struct tbr {
	/* options */
	const char *scenario_path;
	char outdir[TBR_PATH];
	char bin_sensor[TBR_PATH], bin_attack[TBR_PATH];
	char mosquitto[TBR_PATH], mosquitto_passwd[TBR_PATH], ip_cmd[TBR_PATH];
	bool want_loopback, keep;
	int port;             /* 0: default */
	/* --ids: an mqttids binary run live on the capture interface (testbed_ids.c) */
	const char *ids_path;
	const char *ids_args[TBR_MAX_IDS_ARGS];
	unsigned n_ids_args;
	bool ids_console;     /* its stdout to ours, else to OUTDIR/ids.log */

	struct tb_scenario *sc;
	char shared_key[33];  /* security key: 16 random bytes in hex */

	/* network */
	bool netns;           /* netns mode (else loopback) */
	char prefix[24];      /* "mqtb<pid>-" */
	bool ns_up;           /* namespaces may exist: tear down at the end */
	struct tbr_host hosts[TBR_MAX_HOSTS];
	unsigned n_hosts;
	int h_broker, h_admin, h_z2m, h_atk;
	char cap_iface[16];
	char cap_filter[96];

	/* processes */
	struct tbr_proc procs[TBR_MAX_PROCS];
	unsigned n_procs;
	int p_broker;
	pid_t cap_pid;
	int cap_fd;           /* the capture child's report pipe */
	bool cap_exited;      /* reaped early (by tbr_reap) */
	int cap_status;
	pid_t ids_pid;        /* the IDS (--ids), its own process group; 0: none */
	bool ids_started, ids_exited, ids_stopped, ids_killed;
	int ids_status;
	double ids_m_start, ids_m_end;

	/* time */
	double t0;            /* CLOCK_MONOTONIC seconds of the run's second 0 */
	uint64_t start_us, end_us; /* epoch microseconds */

	/* results */
	bool cap_ok;
	uint64_t pcap_packets, pcap_recv, pcap_drop, pcap_ifdrop;
	unsigned labels;
	bool failed;
};

extern volatile sig_atomic_t tbr_signals; /* SIGINT/SIGTERM/SIGHUP received */

/* testbed_main.c */
double tbr_mono(void);
double tbr_rel(const struct tbr *r);
/* Progress line on stdout: "[  12.0s] text" (before t0: "[ setup ]"). */
void tbr_log(const struct tbr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Problem on stderr: "mqttids-testbed: text". */
void tbr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sleeps up to s seconds; returns early when a signal came in. */
void tbr_sleep(double s);

/* testbed_proc.c */
/* In a fresh child: SIGTERM when runner dies, default signal dispositions. */
void tbr_child_signals(pid_t runner);
/*
 * Starts argv (argv[0] a path) as a new process group, inside the network
 * namespace ns (a name under /run/netns; NULL: the runner's own), with
 * stdin from /dev/null and stdout/stderr appended to log_path. Returns the
 * pid or -1 (message on stderr). The child never returns into the runner.
 */
pid_t tbr_spawn(const char *ns, char *const argv[], const char *log_path);
/*
 * As tbr_spawn, with stdout and stderr on the given descriptors (the
 * caller keeps them); own_sysfs: in ns, also mount that namespace's own
 * /sys first (tbr_own_sysfs), so libpcap's interface counters are right.
 */
pid_t tbr_spawn_fds(const char *ns, char *const argv[], int out_fd, int err_fd, bool own_sysfs);
/*
 * Runs argv to completion (inside ns, NULL: here), with input (may be
 * NULL) on its stdin and its stdout+stderr collected into out[cap] (NUL
 * terminated, cut when longer). Returns the exit status, or -1.
 */
int tbr_run(const char *ns, char *const argv[], const char *input, char *out, size_t cap);
/* Runs fn(arg) in a child inside ns; returns what it returned (0-255), or -1. */
int tbr_in_ns(const char *ns, int (*fn)(void *), void *arg);
/* Registers a started process; returns its index or -1 when full. */
int tbr_proc_add(struct tbr *r, const char *name, int host, int ev, pid_t pid);
/* Collects exited children, logs them; returns how many. */
unsigned tbr_reap(struct tbr *r);
/* Sends sig to a running process's group. */
void tbr_proc_signal(struct tbr *r, int i, int sig);
/* Waits until none of the processes with want(i) runs, up to timeout s; returns the number left. */
unsigned tbr_wait_procs(struct tbr *r, bool (*want)(const struct tbr *, int), double timeout);
/* Kills every registered process group still running (SIGKILL) and stops the capture (SIGTERM); async-signal-safe. */
void tbr_kill_all(struct tbr *r);
/* "exit 0", "signal 15 (stopped)", ... into buf. */
const char *tbr_status_str(const struct tbr_proc *p, char *buf, size_t cap);
/* True when p ended in a way the run counts as a failure. */
bool tbr_proc_failed(const struct tbr_proc *p);

/* testbed_net.c */
/* Deletes mqtb<pid>-* namespaces whose pid is gone. */
void tbr_net_sweep(struct tbr *r);
/* Builds the namespaces, bridge and links. Returns 0, or -1 after tearing down what it made. */
int tbr_net_setup(struct tbr *r);
void tbr_net_teardown(struct tbr *r);
/* The namespace name of host h into out (netns mode), or NULL in loopback mode. */
const char *tbr_host_ns(const struct tbr *r, int h, char *out, size_t cap);
/* Waits until something listens on ip:port inside ns (NULL: here); 0, or -1 after timeout s or when the broker ended. */
int tbr_wait_listen(const char *ns, const char *ip, int port, double timeout, struct tbr *r);
/* 1 when ip:port can be bound (nothing listens there), else 0. */
int tbr_port_free(const char *ip, int port);
/* A free TCP port on ip (loopback mode), or 0. */
int tbr_free_port(const char *ip);

/* testbed_capture.c */
/* In a child that joined another network namespace: a private mount namespace with that namespace's /sys. */
void tbr_own_sysfs(void);
/* Starts the capture child and waits until it captures; 0 or -1. */
int tbr_capture_start(struct tbr *r);
/* Stops it and reads its counters into r; 0 or -1. */
int tbr_capture_stop(struct tbr *r);

/* testbed_ids.c */
/* Writes OUTDIR/ids.yaml: the address groups and the MQTT port of the run's mode. */
int tbr_ids_config(const struct tbr *r);
/*
 * Starts `IDS live -i CAPIFACE [--filter F] -c ids.yaml --eve eve.json --db
 * alerts.db ARGS` where the capture runs and waits (at most timeout s) until
 * it says "capturing on". 0, or -1 with the reason on stderr.
 */
int tbr_ids_start(struct tbr *r, double timeout);
/* SIGINT, up to grace s for it to exit, then SIGKILL; records its exit. */
void tbr_ids_stop(struct tbr *r, double grace);
/* True when the IDS ended in a way the run counts as a failure. */
bool tbr_ids_failed(const struct tbr *r);
/* "exit 0", "signal 9 (killed after the grace)", "running" into buf. */
const char *tbr_ids_status_str(const struct tbr *r, char *buf, size_t cap);

/* testbed_files.c */
/* OUTDIR/name into out; -1 when it does not fit. */
int tbr_path(const struct tbr *r, const char *name, char *out, size_t cap);
/* Creates OUTDIR/hosts and removes what an earlier run into OUTDIR left (logs are appended to). */
int tbr_files_clean(struct tbr *r);
/* mosquitto.conf, passwd, acl, device keys, the scenario copy, an empty labels.jsonl. */
int tbr_files_write(struct tbr *r);
/* Sorts labels.jsonl by start_us (stable) and counts its records; -1 on error. */
int tbr_labels_sort(struct tbr *r);
int tbr_run_json(const struct tbr *r);

#endif
