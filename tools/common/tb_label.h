/* tb_label.h - ground-truth records (labels.jsonl): one JSON line per attack, written by whoever carried it out. */
#ifndef MQTTIDS_TB_LABEL_H
#define MQTTIDS_TB_LABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TB_LABEL_MAX_IDS 32
#define TB_LABEL_MAX_RANGES 64

/*
 * One attack as it happened. Times are epoch microseconds (simulated ones
 * in synthetic mode). Source ports are kept as ranges of consecutive ports
 * and client ids up to TB_LABEL_MAX_IDS (client_id_count counts them all).
 */
struct tb_label {
	char kind[32];
	char mode[12];         /* "live" or "synthetic" */
	uint64_t start_us, end_us;
	char attacker[48];     /* source address */
	char target[64];       /* broker address:port */
	uint16_t port_lo[TB_LABEL_MAX_RANGES], port_hi[TB_LABEL_MAX_RANGES];
	unsigned n_ranges;
	bool ports_truncated;
	char client_ids[TB_LABEL_MAX_IDS][96];
	unsigned n_ids;
	uint64_t client_id_count;
	uint64_t connections, packets_sent, messages_sent;
	char device[96];       /* value manipulation: the victim device */
	char topic[256];       /* the topic attacked, when there is one */
	char detail[512];      /* extra JSON members, "" or "\"k\":v,..." */
};

/* Epoch microseconds as "2026-11-22T12:38:12.285029Z" (UTC) into out. */
void tb_iso_utc(char *out, size_t cap, uint64_t us);

void tb_label_init(struct tb_label *l, const char *kind, const char *mode);
/* Records a source port (merged into the last range when consecutive). */
void tb_label_port(struct tb_label *l, uint16_t port);
/* Records a client id (distinct from the previous one). */
void tb_label_client(struct tb_label *l, const char *id);
/*
 * Appends the record as one line to path with a single write (O_APPEND), so
 * concurrent writers do not interleave. Returns 0 or -1 (message on stderr).
 * A NULL path writes to stdout.
 */
int tb_label_write(const char *path, const struct tb_label *l);

#endif
