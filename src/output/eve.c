/*
 * eve.c - the EVE writer: record framing (timestamp, flow_id, pcap_cnt,
 * event_type, the flow tuple), the "mqtt" object of a transaction with
 * Suricata's field names, the "mqtt_session" object, anomalies, alerts
 * (Suricata's alert object plus the seed-004 object) and stats. Strings
 * from the wire and from detectors go through one escaper (util/jw.c).
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "output/eve.h"
#include "output/outputs.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void eve_writer_init(struct eve_writer *ew, const struct eve_cfg *cfg)
{
	ew->cfg = *cfg;
	timefmt_init(&ew->tf);
	jw_init(&ew->w);
	for (unsigned i = 0; i < EVE_SESSION_SLOTS; i++) {
		ew->sess[i].gen = 0;
		jw_init(&ew->sess[i].text);
	}
}

void eve_writer_deinit(struct eve_writer *ew)
{
	jw_deinit(&ew->w);
	for (unsigned i = 0; i < EVE_SESSION_SLOTS; i++)
		jw_deinit(&ew->sess[i].text);
}

/* ---- MQTT ---- */

static void eve_hdr(struct jw *w, uint8_t flags)
{
	jw_uint(w, "qos", (flags >> 1) & 3);
	jw_bool(w, "retain", flags & 1);
	jw_bool(w, "dup", flags & 8);
}

static void eve_props(struct jw *w, const char *key,
		      const struct mqtt_props *ps, size_t limit)
{
	if (!ps->present || (ps->n == 0 && ps->dropped == 0))
		return;
	jw_open_obj(w, key);
	for (uint16_t i = 0; i < ps->n; i++) {
		const struct mqtt_prop *p = &ps->v[i];
		const char *name = mqtt_prop_name(p->id);
		size_t budget = limit;
		switch (p->id) {
		case 38:
			jw_str_kv_bytes(w, p->s.p, p->s.len, p->v.p, p->v.len,
					limit);
			break;
		case 3: case 8: case 9: case 18: case 21: case 22: case 26:
		case 28: case 31:
			jw_str_budget(w, name, p->s.p, p->s.len, &budget);
			break;
		default:
			jw_uint(w, name, p->u);
		}
	}
	if (ps->dropped)
		jw_uint(w, "dropped_properties", ps->dropped);
	jw_close_obj(w);
}

static void eve_mqtt_truncated(struct jw *w, uint8_t first_byte,
			       uint64_t skipped_length)
{
	uint8_t type = first_byte >> 4;
	jw_open_obj(w, type ? mqtt_type_name(type) : "unassigned");
	eve_hdr(w, first_byte & 15);
	jw_bool(w, "truncated", true);
	jw_uint(w, "skipped_length", skipped_length);
	jw_close_obj(w);
}

static void eve_connect(struct jw *w, const struct mqtt_msg *m,
			const struct eve_cfg *cfg)
{
	size_t lim = cfg->string_log_limit;
	size_t budget;
	jw_str(w, "protocol_string", m->protocol_name.p, m->protocol_name.len);
	jw_uint(w, "protocol_version", m->protocol_version);
	jw_str(w, "client_id", m->client_id.p, m->client_id.len);
	jw_open_obj(w, "flags");
	jw_bool(w, "username", m->has_username);
	jw_bool(w, "password", m->has_password);
	jw_bool(w, "will_retain", m->connect_flags & 0x20);
	jw_bool(w, "will", m->has_will);
	jw_bool(w, "clean_session", m->connect_flags & 0x02);
	jw_close_obj(w);
	jw_uint(w, "keepalive", m->keepalive);
	if (m->has_username)
		jw_str(w, "username", m->username.p, m->username.len);
	if (m->has_password && cfg->log_passwords)
		jw_str(w, "password", m->password.p, m->password.len);
	if (m->has_will) {
		jw_open_obj(w, "will");
		budget = lim;
		jw_str_budget(w, "topic", m->will_topic.p, m->will_topic.len,
			      &budget);
		budget = lim;
		jw_str_budget(w, "message", m->will_payload.p,
			      m->will_payload.len, &budget);
		jw_uint(w, "qos", (m->connect_flags >> 3) & 3);
		eve_props(w, "properties", &m->will_props, lim);
		jw_close_obj(w);
	}
	eve_props(w, "properties", &m->props, lim);
}

void eve_mqtt_msg(struct jw *w, const struct mqtt_msg *m,
		  const struct eve_cfg *cfg)
{
	size_t lim = cfg->string_log_limit;
	size_t budget = lim;
	jw_open_obj(w, m->type ? mqtt_type_name(m->type) : "unassigned");
	eve_hdr(w, m->flags);
	switch (m->type) {
	case MQTT_CONNECT:
		eve_connect(w, m, cfg);
		break;
	case MQTT_CONNACK:
		jw_bool(w, "session_present", m->session_present);
		jw_uint(w, "return_code", m->return_code);
		eve_props(w, "properties", &m->props, lim);
		break;
	case MQTT_PUBLISH:
		jw_str_budget(w, "topic", m->topic.p, m->topic.len, &budget);
		if (m->has_msg_id)
			jw_uint(w, "message_id", m->msg_id);
		budget = lim;
		jw_str_budget(w, "message", m->payload.p, m->payload.len,
			      &budget);
		eve_props(w, "properties", &m->props, lim);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		jw_uint(w, "message_id", m->msg_id);
		if (m->has_reason_code)
			jw_uint(w, "reason_code", m->reason_code);
		eve_props(w, "properties", &m->props, lim);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		jw_uint(w, "message_id", m->msg_id);
		jw_open_arr(w, "topics");
		for (uint32_t i = 0; i < m->n_topics; i++) {
			const struct mqtt_topic *t = &m->topics[i];
			if (m->type == MQTT_SUBSCRIBE) {
				jw_open_obj(w, NULL);
				jw_str_budget(w, "topic", t->name.p,
					      t->name.len, &budget);
				jw_uint(w, "qos", t->opts & 3);
				jw_close_obj(w);
			} else {
				jw_str_budget(w, NULL, t->name.p, t->name.len,
					      &budget);
			}
		}
		jw_close_arr(w);
		if (m->topics_dropped)
			jw_uint(w, "dropped_topics", m->topics_dropped);
		eve_props(w, "properties", &m->props, lim);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		jw_uint(w, "message_id", m->msg_id);
		if (m->codes.len || m->type == MQTT_SUBACK) {
			jw_open_arr(w, m->type == MQTT_SUBACK ? "qos_granted"
							      : "reason_codes");
			for (size_t i = 0; i < m->codes.len; i++)
				jw_uint(w, NULL, m->codes.p[i]);
			jw_close_arr(w);
		}
		eve_props(w, "properties", &m->props, lim);
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (m->has_reason_code)
			jw_uint(w, "reason_code", m->reason_code);
		eve_props(w, "properties", &m->props, lim);
		break;
	default:
		break;
	}
	jw_close_obj(w);
}

void eve_mqtt_tx(struct jw *w, const struct mqtt_tx *tx,
		 const struct eve_cfg *cfg)
{
	if (tx->truncated) {
		eve_mqtt_truncated(w, tx->first_byte, tx->skipped_length);
		return;
	}
	for (uint8_t i = 0; i < tx->n; i++)
		eve_mqtt_msg(w, tx->msg[i], cfg);
}

static void eve_kept(struct jw *w, const char *key, const struct mqtt_kept *k)
{
	jw_str_cut(w, key, k->p, k->len, k->cut);
}

void eve_mqtt_session(struct jw *w, const char *key,
		      const struct mqtt_session_rec *r)
{
	jw_open_obj(w, key);
	eve_kept(w, "client_id", &r->client_id);
	if (r->has_username)
		eve_kept(w, "username", &r->username);
	jw_uint(w, "protocol_version", r->protocol_version);
	jw_uint(w, "keepalive", r->keepalive);
	if (r->has_will) {
		jw_open_obj(w, "will");
		eve_kept(w, "topic", &r->will_topic);
		jw_uint(w, "qos", r->will_qos);
		jw_bool(w, "retain", r->will_retain);
		jw_uint(w, "message_length", r->will_message_length);
		jw_close_obj(w);
	}
	jw_close_obj(w);
}

/* ---- alerts ---- */

/*
 * A data detector's finding as metadata.detector: its layer, event name
 * and detail, then the detector's own members.
 */
static void eve_finding(struct jw *w, const struct alert_finding *f)
{
	jw_open_obj(w, "detector");
	jw_cstr(w, "layer", f->layer ? f->layer : "");
	jw_cstr(w, "event", f->event ? f->event : "");
	if (f->detail && *f->detail)
		jw_cstr(w, "detail", f->detail);
	if (f->meta && f->meta_len)
		jw_raw(w, NULL, f->meta, f->meta_len);
	jw_close_obj(w);
}

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
	if (a->finding)
		eve_finding(w, a->finding);
	if (a->metadata_truncated)
		jw_bool(w, "truncated", true);
	if (a->fold)
		jw_uint(w, "folded_alerts", a->folded);
	jw_close_obj(w); /* metadata */
	if (a->update)
		jw_bool(w, "update", true);
	jw_close_obj(w);
}

void eve_alert_seed(struct jw *w, struct timefmt *tf, const struct alert *a)
{
	jw_reset(w);
	seed_object(w, NULL, tf, a);
}

static void eve_alert(struct jw *w, struct timefmt *tf, const struct alert *a)
{
	char tbuf[48];
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
}

/* ---- records ---- */

/* Opens a record: timestamp, ids, event type and the flow tuple. */
static void eve_begin(struct eve_writer *ew, const char *event_type,
		      const struct out_record *r)
{
	struct jw *w = &ew->w;
	char tbuf[48];
	const struct out_tuple *t = r->tuple;
	jw_open_obj(w, NULL);
	size_t tn = timefmt_format(&ew->tf, r->ts_us, tbuf, sizeof(tbuf));
	jw_ascii(w, "timestamp", tbuf, tn);
	if (t)
		jw_uint(w, "flow_id", t->flow_id);
	if (r->pcap_cnt)
		jw_uint(w, "pcap_cnt", r->pcap_cnt);
	jw_ascii(w, "event_type", event_type, strlen(event_type));
	if (!t)
		return;
	if (t->vlan_n) {
		jw_open_arr(w, "vlan");
		for (uint8_t i = 0; i < t->vlan_n; i++)
			jw_uint(w, NULL, t->vlan[i]);
		jw_close_arr(w);
	}
	jw_ascii(w, "src_ip", t->src_ip, strlen(t->src_ip));
	jw_uint(w, "src_port", t->src_port);
	jw_ascii(w, "dest_ip", t->dest_ip, strlen(t->dest_ip));
	jw_uint(w, "dest_port", t->dest_port);
	jw_ascii(w, "proto", "TCP", 3);
}

/*
 * The mqtt_session member: the text made for this session record is
 * kept, so each connection's is written once, not once per record.
 */
static void eve_session(struct eve_writer *ew, const struct mqtt_state *st)
{
	struct jw *w = &ew->w;
	if (!st || !st->rec.present)
		return;
	const struct mqtt_session_rec *r = &st->rec;
	if (r->gen) {
		struct eve_session_slot *sl = &ew->sess[r->gen % EVE_SESSION_SLOTS];
		if (sl->gen != r->gen) {
			jw_reset(&sl->text);
			eve_mqtt_session(&sl->text, NULL, r);
			sl->gen = sl->text.oom ? 0 : r->gen;
		}
		if (sl->gen == r->gen) {
			jw_raw(w, "mqtt_session", sl->text.buf, sl->text.len);
			return;
		}
	}
	/* No number (tests) or no memory for the slot: formatted in place. */
	eve_mqtt_session(w, "mqtt_session", r);
}

static void eve_anomaly(struct eve_writer *ew, const struct out_record *r)
{
	struct jw *w = &ew->w;
	const struct out_anomaly *an = r->an;
	eve_begin(ew, "anomaly", r);
	if (!r->tuple && r->src_ip)
		jw_cstr(w, "src_ip", r->src_ip);
	if (an->app_proto)
		jw_ascii(w, "app_proto", "mqtt", 4);
	jw_open_obj(w, "anomaly");
	if (an->app_proto)
		jw_ascii(w, "app_proto", "mqtt", 4);
	jw_cstr(w, "type", an->type);
	jw_cstr(w, "event", an->event ? an->event : "");
	if (an->layer)
		jw_cstr(w, "layer", an->layer);
	if (an->detail)
		jw_cstr(w, "detail", an->detail);
	if (an->meta && an->meta_len) {
		jw_open_obj(w, "detector");
		jw_append(w, an->meta, an->meta_len);
		jw_close_obj(w);
	}
	jw_close_obj(w);
	eve_session(ew, r->st);
}

static void eve_stats(struct eve_writer *ew, const struct out_record *r)
{
	struct jw *w = &ew->w;
	const struct out_stats *s = r->stats;
	eve_begin(ew, "stats", r);
	jw_open_obj(w, "stats");
	for (uint32_t i = 0; i < s->n; i++) {
		const char *par = s->g[i].parent;
		if (par && (i == 0 || s->g[i - 1].parent != par))
			jw_open_obj(w, par);
		jw_open_obj(w, s->g[i].name);
		for (uint32_t k = 0; k < s->g[i].n; k++)
			jw_uint(w, s->g[i].v[k].name, s->g[i].v[k].v);
		jw_close_obj(w);
		if (par && (i + 1 == s->n || s->g[i + 1].parent != par))
			jw_close_obj(w);
	}
	jw_close_obj(w);
}

bool eve_format(struct eve_writer *ew, const struct out_record *r)
{
	struct jw *w = &ew->w;
	jw_reset(w);
	switch (r->kind) {
	case OUT_MQTT:
		eve_begin(ew, "mqtt", r);
		jw_ascii(w, "app_proto", "mqtt", 4);
		jw_open_obj(w, "mqtt");
		eve_mqtt_tx(w, r->tx, &ew->cfg);
		jw_close_obj(w);
		eve_session(ew, r->st);
		break;
	case OUT_ANOMALY:
		eve_anomaly(ew, r);
		break;
	case OUT_ALERT:
		eve_alert(w, &ew->tf, r->alert);
		break;
	case OUT_STATS:
		eve_stats(ew, r);
		break;
	default:
		return false;
	}
	if (r->kind != OUT_ALERT)
		jw_close_obj(w);
	jw_append(w, "\n", 1);
	return !w->oom;
}
