/* alert_eve.c - EVE alert records: Suricata's alert object plus the seed-004 alert object. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "output/outputs.h"

#include <stdio.h>
#include <string.h>

static const char *const prio_names[] = {
	"Informational", "Low", "Medium", "High", "Critical",
};

const char *alert_priority_name(unsigned priority)
{
	return prio_names[priority > 4 ? 4 : priority];
}

/*
 * Suricata severity (1 highest .. 4) from a seed-004 priority (4 highest ..
 * 0): 4→1, 3→2, 2→3, 1 and 0→4. Kept here rather than taken from the rules
 * module so outputs depend only on struct alert.
 */
static unsigned alert_severity(unsigned priority)
{
	if (priority >= 4)
		return 1;
	if (priority == 0)
		return 4;
	return 5 - priority;
}

/* A string member, or null when the producer has none. */
static void eve_cstr_or_null(struct jw *w, const char *key, const char *s)
{
	if (s)
		jw_cstr(w, key, s);
	else
		jw_raw(w, key, "null", 4);
}

static void eve_strs(struct jw *w, const char *key, const struct alert_strs *v)
{
	jw_open_arr(w, key);
	for (uint32_t i = 0; v->v && i < v->n; i++)
		if (v->v[i])
			jw_cstr(w, NULL, v->v[i]);
	jw_close_arr(w);
}

/*
 * {"topic (QOS: 1)": n, ...}. The keys come from the wire, and jw has no
 * number member with a byte-string key, so each member is framed by hand:
 * the key is written as an array-style string (which inserts the comma and
 * does the escaping), then ':' and the number.
 */
static void eve_counts(struct jw *w, const char *key,
		       const struct alert_counts *c)
{
	jw_open_obj(w, key);
	for (uint32_t i = 0; c->v && i < c->n; i++) {
		const char *k = c->v[i].key ? c->v[i].key : "";
		char num[24];
		int nn = snprintf(num, sizeof(num), ":%llu",
				  (unsigned long long)c->v[i].count);
		jw_str(w, NULL, (const uint8_t *)k, strlen(k));
		jw_append(w, num, (size_t)nn);
	}
	jw_close_obj(w);
}

/* Writes the seed object as a value of key (NULL: top level). */
static void seed_object(struct jw *w, const char *key, struct timefmt *tf,
			const struct alert *a)
{
	char tbuf[48];
	size_t tn;

	jw_open_obj(w, key);
	jw_str(w, "uuid", (const uint8_t *)a->uuid, strnlen(a->uuid, 32));
	tn = timefmt_format_iso(tf, a->ts_us, tbuf, sizeof(tbuf));
	jw_ascii(w, "datetime", tbuf, tn);
	eve_cstr_or_null(w, "classification", a->classification);
	jw_cstr(w, "priority", alert_priority_name(a->priority));
	eve_cstr_or_null(w, "src", a->src);
	eve_cstr_or_null(w, "rule_raw", a->rule_raw);

	jw_open_obj(w, "metadata");
	tn = timefmt_format_iso(tf, a->first_us ? a->first_us : a->ts_us, tbuf,
				sizeof(tbuf));
	jw_ascii(w, "first_violation", tbuf, tn);
	jw_uint(w, "total_violation", a->total);
	jw_open_obj(w, "mqtt");
	eve_strs(w, "client_id", &a->client_ids);
	jw_open_obj(w, "auth");
	eve_strs(w, "username", &a->usernames);
	eve_strs(w, "password", &a->passwords);
	jw_close_obj(w);
	jw_open_obj(w, "topics");
	eve_counts(w, "publish", &a->publish);
	eve_counts(w, "subscribe", &a->subscribe);
	eve_counts(w, "unsubscribe", &a->unsubscribe);
	jw_close_obj(w);
	jw_close_obj(w); /* mqtt */
	if (a->extra_json && a->extra_len)
		jw_raw(w, NULL, a->extra_json, a->extra_len);
	if (a->metadata_truncated)
		jw_bool(w, "truncated", true);
	jw_close_obj(w); /* metadata */
	if (a->update)
		jw_bool(w, "update", true);
	jw_close_obj(w);
}

void alert_seed_json(struct jw *w, struct timefmt *tf, const struct alert *a)
{
	jw_reset(w);
	seed_object(w, NULL, tf, a);
}

void alert_eve_write(struct jw *w, struct timefmt *tf, const struct alert *a)
{
	char tbuf[48];
	jw_reset(w);
	jw_open_obj(w, NULL);
	size_t tn = timefmt_format(tf, a->ts_us, tbuf, sizeof(tbuf));
	jw_ascii(w, "timestamp", tbuf, tn);
	if (a->flow_id)
		jw_uint(w, "flow_id", a->flow_id);
	if (a->pcap_cnt)
		jw_uint(w, "pcap_cnt", a->pcap_cnt);
	if (a->update)
		jw_ascii(w, "event_type", "alert_update", 12);
	else
		jw_ascii(w, "event_type", "alert", 5);
	if (a->src_ip) {
		jw_cstr(w, "src_ip", a->src_ip);
		jw_uint(w, "src_port", a->src_port);
		eve_cstr_or_null(w, "dest_ip", a->dest_ip);
		jw_uint(w, "dest_port", a->dest_port);
		jw_ascii(w, "proto", "TCP", 3);
	}
	jw_ascii(w, "app_proto", "mqtt", 4);

	jw_open_obj(w, "alert");
	jw_ascii(w, "action", "allowed", 7);
	jw_uint(w, "gid", 1);
	jw_uint(w, "signature_id", a->sid);
	jw_uint(w, "rev", a->rev);
	/* Suricata writes "" for a signature without a classtype. */
	jw_cstr(w, "signature", a->classification ? a->classification : "");
	jw_cstr(w, "category", a->category ? a->category : "");
	jw_uint(w, "severity", alert_severity(a->priority));
	jw_close_obj(w);

	seed_object(w, "mqttids", tf, a);
	jw_close_obj(w);
	jw_append(w, "\n", 1);
}
