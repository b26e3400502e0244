/* mqtt_eve.c - EVE JSON members for MQTT messages, as Suricata names them. */
#include "mqtt/mqtt_eve.h"

#include <stdint.h>

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

void mqtt_eve_truncated(struct jw *w, uint8_t first_byte,
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
			const struct mqtt_cfg *cfg)
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

void mqtt_eve_msg(struct jw *w, const struct mqtt_msg *m,
		  const struct mqtt_cfg *cfg)
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

void mqtt_eve_session(struct jw *w, const struct mqtt_msg *c,
		      const struct mqtt_cfg *cfg)
{
	size_t budget = cfg->session_str_max;
	jw_reset(w);
	jw_open_obj(w, NULL);
	jw_str_budget(w, "client_id", c->client_id.p, c->client_id.len,
		      &budget);
	if (c->has_username) {
		budget = cfg->session_str_max;
		jw_str_budget(w, "username", c->username.p, c->username.len,
			      &budget);
	}
	jw_uint(w, "protocol_version", c->protocol_version);
	jw_uint(w, "keepalive", c->keepalive);
	if (c->has_will) {
		jw_open_obj(w, "will");
		budget = cfg->session_str_max;
		jw_str_budget(w, "topic", c->will_topic.p, c->will_topic.len,
			      &budget);
		jw_uint(w, "qos", (c->connect_flags >> 3) & 3);
		jw_bool(w, "retain", c->connect_flags & 0x20);
		jw_uint(w, "message_length", c->will_payload.len);
		jw_close_obj(w);
	}
	jw_close_obj(w);
}
