/* synth_attack.h - renders the shared attack models (tools/common/tb_attack.c) into a synthetic capture, against a model of the testbed's mosquitto. */
#ifndef MQTTIDS_SYNTH_ATTACK_H
#define MQTTIDS_SYNTH_ATTACK_H

#include "synth_net.h"
#include "tb_attack.h"
#include "tb_label.h"

/* Readings a device published, so a sniffing attacker (replay) can receive them. */
struct synth_feed {
	char topic[256];
	uint64_t *t;          /* simulated µs */
	char (*payload)[256];
	size_t n, cap;
};

/*
 * Renders attack o starting at simulated time start (µs since the capture
 * start) from attacker host atk against broker (both copied: the broker's
 * IP id counter is not shared with the benign part) into out, a part
 * merged later. epoch_us is out's epoch (for label times). Returns what
 * tb_attack_run returns; label is filled.
 */
int synth_attack_render(const struct tb_attack_opts *o, uint64_t start,
			const struct synth_host *atk, const struct synth_host *broker,
			const struct synth_feed *feeds, size_t n_feeds,
			struct synth_pcap *out, struct tb_label *label, uint64_t seed);

#endif
