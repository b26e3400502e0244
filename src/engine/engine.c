/*
 * engine.c - one packet at a time through decode, the flow table, TCP
 * reassembly and the MQTT stream parser, with EVE JSON lines as output.
 * Single-threaded; all state lives in struct engine so a multi-worker mode
 * can give each worker its own.
 */
#define _POSIX_C_SOURCE 200809L
#include "engine/engine.h"
#include "sensor/sensor.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "net/pkt_decode.h"
#include "util/jw.h"
#include "util/timefmt.h"

struct engine {
	struct engine_cfg cfg;
	FILE *out;
	struct flow_table *ft;
	struct ip_defrag *df;
	struct reasm_ctx rc;
	struct mqtt_ctx mc;
	struct timefmt tf;
	struct jw line;
	/* detection (engine_enable_detect) */
	struct detect *det;
	struct sensors *sn;   /* the data detectors (src/sensor), NULL when off */
	struct jw sline;      /* their anomaly records: raised mid-dispatch */
	uint64_t sensor_reports;
	const struct ruleset *rs;
	struct alert_sink extra;
	struct jw aline;      /* alert records: may be raised mid-record */
	const struct alert *cur_alert; /* during engine_alert */
	bool aline_ok;        /* aline holds cur_alert's record */
	bool flush_alerts;
	uint64_t pcap_cnt;
	uint64_t now_us;
	uint64_t next_expire_us;
	/* current context for callbacks */
	struct flow *cur_flow;
	uint64_t cur_ts;
	uint64_t cur_cnt;
	struct {
		uint64_t packets;
		uint64_t bytes;
		uint64_t tcp;
		uint64_t other;
		uint64_t invalid;
		uint64_t frag_held;
		uint64_t not_mqtt_flows;
		uint64_t records;
	} st;
};

void engine_cfg_default(struct engine_cfg *c)
{
	memset(c, 0, sizeof(*c));
	mqtt_cfg_default(&c->mqtt);
	c->flow.max_flows = 65536;
	c->flow.idle_timeout_s = 600;
	c->flow.closed_timeout_s = 10;
	c->reasm.midstream = true;
	c->reasm.max_ooo_bytes = 1024 * 1024;
	c->reasm.max_ooo_segs = 1024;
	c->reasm.memcap = 64u * 1024 * 1024;
	c->reasm.gap_ack_timeout_ms = 1000;
	c->defrag.max_trackers = 64;
	c->defrag.timeout_s = 30;
	c->ports[0] = 1883;
	c->n_ports = 1;
	c->probe_other_ports = true;
	rule_vars_default(&c->ids.vars);
	detect_cfg_default(&c->ids.detect);
	store_cfg_default(&c->ids.store);
	c->ids.eve_mqtt = c->ids.eve_anomaly = c->ids.eve_alert = true;
	c->ids.console = true;
}

/* ---- EVE record framing ---- */

/* Formats the flow's addresses once; records reuse the text. */
static void flow_addr_text(struct flow *f)
{
	int af = f->family == 4 ? AF_INET : AF_INET6;
	if (!inet_ntop(af, f->cli, f->cli_str, sizeof(f->cli_str)))
		strcpy(f->cli_str, "?");
	if (!inet_ntop(af, f->srv, f->srv_str, sizeof(f->srv_str)))
		strcpy(f->srv_str, "?");
}

/* Opens a record: timestamp, ids, event type and the flow tuple. */
static void eve_begin_w(struct engine *e, struct jw *w, const char *event_type,
			struct flow *f, bool toclient, uint64_t ts, uint64_t cnt)
{
	char tbuf[48];
	jw_reset(w);
	jw_open_obj(w, NULL);
	size_t tn = timefmt_format(&e->tf, ts, tbuf, sizeof(tbuf));
	jw_ascii(w, "timestamp", tbuf, tn);
	if (f)
		jw_uint(w, "flow_id", f->id);
	if (cnt)
		jw_uint(w, "pcap_cnt", cnt);
	jw_ascii(w, "event_type", event_type, strlen(event_type));
	if (!f)
		return;
	if (f->vlan_n) {
		jw_open_arr(w, "vlan");
		for (uint8_t i = 0; i < f->vlan_n; i++)
			jw_uint(w, NULL, f->vlan[i]);
		jw_close_arr(w);
	}
	if (!f->cli_str[0])
		flow_addr_text(f);
	const char *src = toclient ? f->srv_str : f->cli_str;
	const char *dst = toclient ? f->cli_str : f->srv_str;
	jw_ascii(w, "src_ip", src, strlen(src));
	jw_uint(w, "src_port", toclient ? f->sport : f->cport);
	jw_ascii(w, "dest_ip", dst, strlen(dst));
	jw_uint(w, "dest_port", toclient ? f->cport : f->sport);
	jw_ascii(w, "proto", "TCP", 3);
}

static void eve_begin(struct engine *e, const char *event_type,
		      struct flow *f, bool toclient, uint64_t ts,
		      uint64_t cnt)
{
	eve_begin_w(e, &e->line, event_type, f, toclient, ts, cnt);
}

static void eve_end_w(struct engine *e, struct jw *w)
{
	jw_close_obj(w);
	jw_append(w, "\n", 1);
	if (!w->oom)
		fwrite(w->buf, 1, w->len, e->out);
	e->st.records++;
}

static void eve_end(struct engine *e)
{
	eve_end_w(e, &e->line);
}

static void eve_session(struct jw *w, const struct mqtt_state *st)
{
	if (st && st->session.len)
		jw_raw(w, "mqtt_session", st->session.buf, st->session.len);
}

/* ---- detection ---- */

/*
 * Fills the addresses of an event from the current flow: the packet's
 * sender is the client when !toclient. Without a flow the event has none.
 */
static void event_addrs(struct engine *e, struct det_event *ev, bool toclient)
{
	struct flow *f = e->cur_flow;
	ev->flow = f;
	ev->toclient = toclient;
	if (!f) {
		ev->src_str = ev->dst_str = "";
		return;
	}
	if (!f->cli_str[0])
		flow_addr_text(f);
	ev->family = f->family;
	ev->src = toclient ? f->srv : f->cli;
	ev->dst = toclient ? f->cli : f->srv;
	ev->sport = toclient ? f->sport : f->cport;
	ev->dport = toclient ? f->cport : f->sport;
	ev->src_str = toclient ? f->srv_str : f->cli_str;
	ev->dst_str = toclient ? f->cli_str : f->srv_str;
	ev->cli_mac = f->has_cli_mac ? f->cli_mac : NULL;
	/* Only an MQTT flow's orientation says who the broker is. */
	if (f->app == FLOW_APP_MQTT)
		ev->server = toclient ? DET_SERVER_SRC : DET_SERVER_DST;
}

/* An event of the current packet and flow (MQTT messages and anomalies). */
static void event_init(struct engine *e, struct det_event *ev,
		       enum det_kind kind, const struct mqtt_state *st,
		       bool toclient)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->ts_us = e->cur_ts;
	ev->pcap_cnt = e->cur_cnt;
	event_addrs(e, ev, toclient);
	ev->st = st;
}

static void detect_anomaly(struct engine *e, const struct mqtt_state *st,
			   bool toclient, const char *layer, const char *event,
			   const char *detail)
{
	struct det_event ev;
	event_init(e, &ev, DET_ANOMALY, st, toclient);
	ev.anomaly = event;
	ev.layer = layer;
	ev.detail = detail;
	detect_event(e->det, &ev);
}

static void sink_msg(void *ud, const struct mqtt_state *st, bool toclient,
		     const struct mqtt_msg *m)
{
	struct engine *e = ud;
	struct det_event ev;
	event_init(e, &ev, DET_MQTT, st, toclient);
	ev.msg = m;
	detect_event(e->det, &ev);
	if (e->sn)
		sensors_event(e->sn, &ev);
}

/*
 * A data detector's finding: an EVE anomaly record (type "detector") for
 * the evidence, then a DET_ANOMALY event through the rules. A finding of
 * a message keeps that message's flow, session and topics; one of a timer
 * (a silent device) carries the device's last address as its source.
 */
static void engine_sensor_report(void *ud, const struct sensor_report *r)
{
	struct engine *e = ud;
	struct det_event ev;
	if (r->base) {
		ev = *r->base;
	} else {
		memset(&ev, 0, sizeof(ev));
		ev.ts_us = r->ts_us;
		ev.src_str = ev.dst_str = "";
		if (r->addr && (r->addr->family == 4 || r->addr->family == 6)) {
			ev.family = r->addr->family;
			ev.src = r->addr->a;
			ev.src_str = r->addr->str;
			ev.server = DET_SERVER_DST;
			ev.cli_mac = r->addr->has_mac ? r->addr->mac : NULL;
		}
	}
	ev.kind = DET_ANOMALY;
	ev.anomaly = r->event;
	ev.layer = r->layer;
	ev.detail = r->detail;
	ev.meta = r->meta;
	ev.meta_len = r->meta ? r->meta_len : 0;
	e->sensor_reports++;
	if (e->cfg.ids.eve_anomaly) {
		struct jw *w = &e->sline;
		struct flow *f = r->base ? e->cur_flow : NULL;
		eve_begin_w(e, w, "anomaly", f, ev.toclient, ev.ts_us, ev.pcap_cnt);
		if (!f && ev.family && ev.src_str[0])
			jw_cstr(w, "src_ip", ev.src_str);
		jw_cstr(w, "app_proto", "mqtt");
		jw_open_obj(w, "anomaly");
		jw_cstr(w, "app_proto", "mqtt");
		jw_cstr(w, "type", "detector");
		jw_cstr(w, "event", r->event ? r->event : "");
		jw_cstr(w, "layer", r->layer ? r->layer : "");
		if (r->detail)
			jw_cstr(w, "detail", r->detail);
		if (ev.meta_len) {
			jw_open_obj(w, "detector");
			jw_append(w, ev.meta, ev.meta_len);
			jw_close_obj(w);
		}
		jw_close_obj(w);
		if (r->base)
			eve_session(w, r->base->st);
		eve_end_w(e, w);
	}
	if (e->det)
		detect_event(e->det, &ev);
}

struct sensors *engine_sensors(struct engine *e)
{
	return e->sn;
}

uint64_t engine_sensor_reports(const struct engine *e)
{
	return e->sensor_reports;
}

/* Every TCP segment, before reassembly: SYN floods, port scans. */
static void detect_tcp(struct engine *e, const struct pkt *p, struct flow *f,
		       int dir)
{
	struct det_event ev;
	char sbuf[46], dbuf[46];
	memset(&ev, 0, sizeof(ev));
	ev.kind = DET_TCP;
	ev.ts_us = p->ts_us;
	ev.pcap_cnt = p->pcap_cnt;
	ev.family = p->family;
	ev.src = p->src;
	ev.dst = p->dst;
	ev.sport = p->sport;
	ev.dport = p->dport;
	ev.tcp_flags = p->tcp_flags;
	ev.payload_len = p->payload_wire_len;
	ev.flow = f;
	ev.toclient = dir == 1;
	if (f) {
		if (!f->cli_str[0])
			flow_addr_text(f);
		ev.src_str = dir == 1 ? f->srv_str : f->cli_str;
		ev.dst_str = dir == 1 ? f->cli_str : f->srv_str;
		/* Oriented by its SYN, port or CONNECT: dir 0 goes to the server. */
		ev.server = dir == 1 ? DET_SERVER_SRC : DET_SERVER_DST;
	} else {
		int af = p->family == 4 ? AF_INET : AF_INET6;
		ev.src_str = inet_ntop(af, p->src, sbuf, sizeof(sbuf)) ? sbuf : "";
		ev.dst_str = inet_ntop(af, p->dst, dbuf, sizeof(dbuf)) ? dbuf : "";
	}
	detect_event(e->det, &ev);
}

/*
 * Alerts from the detector: the EVE record first, then the other outputs.
 * The record is formatted at most once per alert: for the EVE stream, or
 * when the store asks for it (engine_alert_eve).
 */
static void engine_alert(void *ud, const struct alert *a)
{
	struct engine *e = ud;
	e->cur_alert = a;
	e->aline_ok = false;
	if (e->cfg.ids.eve_alert) {
		alert_eve_write(&e->aline, &e->tf, a);
		e->aline_ok = true;
		if (!e->aline.oom) {
			fwrite(e->aline.buf, 1, e->aline.len, e->out);
			e->st.records++;
			if (e->flush_alerts)
				fflush(e->out);
		}
	}
	if (e->extra.emit)
		e->extra.emit(e->extra.ud, a);
	e->cur_alert = NULL;
}

const char *engine_alert_eve(struct engine *e, size_t *len)
{
	*len = 0;
	if (!e->cur_alert)
		return "";
	if (!e->aline_ok) {
		alert_eve_write(&e->aline, &e->tf, e->cur_alert);
		e->aline_ok = true;
	}
	size_t n = e->aline.oom ? 0 : e->aline.len;
	if (n && e->aline.buf[n - 1] == '\n')
		n--;
	*len = n;
	return n ? e->aline.buf : "";
}

int engine_enable_detect(struct engine *e, const struct ruleset *rs,
			 struct alert_sink extra, bool flush)
{
	struct alert_sink s = { engine_alert, e };
	e->det = detect_new(&e->cfg.ids.detect, rs, s);
	if (!e->det)
		return -1;
	e->rs = rs;
	e->extra = extra;
	e->flush_alerts = flush;
	if (!e->cfg.ids.detectors_off) {
		e->sn = sensors_new(e->cfg.ids.detectors, engine_sensor_report, e,
				    flush, stderr);
		if (!e->sn)
			return -2;
	}
	return 0;
}

const struct detect_stats *engine_detect_stats(const struct engine *e)
{
	return e->det ? detect_stats(e->det) : NULL;
}

void engine_set_output(struct engine *e, FILE *out)
{
	e->out = out;
}

/* ---- MQTT sink ---- */

static void sink_tx(void *ud, const struct mqtt_state *st, bool toclient,
		    const char *frag, size_t frag_len)
{
	struct engine *e = ud;
	if (!e->cfg.ids.eve_mqtt)
		return;
	eve_begin(e, "mqtt", e->cur_flow, toclient, e->cur_ts, e->cur_cnt);
	jw_ascii(&e->line, "app_proto", "mqtt", 4);
	jw_open_obj(&e->line, "mqtt");
	jw_append(&e->line, frag, frag_len);
	jw_close_obj(&e->line);
	eve_session(&e->line, st);
	eve_end(e);
}

static void sink_anomaly(void *ud, const struct mqtt_state *st, bool toclient,
			 const char *layer, const char *event,
			 const char *detail)
{
	struct engine *e = ud;
	bool stream = strcmp(layer, "stream") == 0;
	if (e->det)
		detect_anomaly(e, st, toclient, stream ? "stream" : layer, event,
			       detail);
	if (!e->cfg.ids.eve_anomaly)
		return;
	eve_begin(e, "anomaly", e->cur_flow, toclient, e->cur_ts, e->cur_cnt);
	jw_cstr(&e->line, "app_proto", "mqtt");
	jw_open_obj(&e->line, "anomaly");
	jw_cstr(&e->line, "app_proto", "mqtt");
	jw_cstr(&e->line, "type", stream ? "stream" : "applayer");
	jw_cstr(&e->line, "event", event);
	jw_cstr(&e->line, "layer", stream ? "stream" : layer);
	if (detail)
		jw_cstr(&e->line, "detail", detail);
	jw_close_obj(&e->line);
	eve_session(&e->line, st);
	eve_end(e);
}

static void decode_anomaly(struct engine *e, const char *event)
{
	if (e->det)
		detect_anomaly(e, NULL, false, "decode", event, NULL);
	if (!e->cfg.ids.eve_anomaly)
		return;
	eve_begin(e, "anomaly", NULL, false, e->cur_ts, e->cur_cnt);
	jw_open_obj(&e->line, "anomaly");
	jw_cstr(&e->line, "type", "decode");
	jw_cstr(&e->line, "event", event);
	jw_close_obj(&e->line);
	eve_end(e);
}

static struct mqtt_sink engine_sink(struct engine *e)
{
	struct mqtt_sink s = { sink_tx, sink_anomaly, e->det ? sink_msg : NULL, e };
	return s;
}

/* ---- reassembly consumer ---- */

static bool flow_mqtt_start(struct engine *e, struct flow *f)
{
	f->mqtt = mqtt_state_new(&e->mc);
	if (!f->mqtt)
		return false;
	for (int i = 0; i < 2; i++)
		if (!f->d[i].syn)
			mqtt_stream_midstream(f->mqtt, i == 1);
	return true;
}

static void on_data(void *ud, struct flow *f, int dir, const uint8_t *p,
		    size_t n)
{
	struct engine *e = ud;
	if (f->app != FLOW_APP_MQTT)
		return;
	if (!f->mqtt && !flow_mqtt_start(e, f))
		return;
	struct mqtt_sink s = engine_sink(e);
	mqtt_stream_feed(&e->mc, f->mqtt, dir == 1, p, n, &s);
}

static void on_gap(void *ud, struct flow *f, int dir, uint64_t len)
{
	struct engine *e = ud;
	if (f->app != FLOW_APP_MQTT || !f->mqtt)
		return;
	struct mqtt_sink s = engine_sink(e);
	mqtt_stream_gap(&e->mc, f->mqtt, dir == 1, len, &s);
}

static struct reasm_out engine_reasm_out(struct engine *e)
{
	struct reasm_out o = { on_data, on_gap, e };
	return o;
}

/* Called by the flow table for each flow it ends. */
static void on_flow_end(void *ud, struct flow *f, int why)
{
	struct engine *e = ud;
	struct flow *saved = e->cur_flow;
	uint64_t ts = e->cur_ts, cnt = e->cur_cnt;
	e->cur_flow = f;
	e->cur_ts = f->last_us;
	e->cur_cnt = f->last_pcap_cnt;
	if (f->app == FLOW_APP_MQTT) {
		struct reasm_out o = engine_reasm_out(e);
		tcp_reasm_flush(&e->rc, f, &o);
	}
	tcp_reasm_release(&e->rc, f);
	if (f->mqtt) {
		struct mqtt_sink s = engine_sink(e);
		bool closed = why == FLOW_END_CLOSED || f->rst ||
			      (f->d[0].fin && f->d[1].fin);
		mqtt_state_free(&e->mc, f->mqtt, &s, closed);
		f->mqtt = NULL;
	}
	if (e->det)
		detect_flow_end(e->det, f);
	e->cur_flow = saved == f ? NULL : saved;
	e->cur_ts = ts;
	e->cur_cnt = cnt;
}

struct engine *engine_new(const struct engine_cfg *cfg, FILE *out)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = *cfg;
	e->out = out;
	jw_init(&e->line);
	jw_init(&e->aline);
	jw_init(&e->sline);
	timefmt_init(&e->tf);
	tcp_reasm_init(&e->rc, &cfg->reasm);
	e->ft = flow_table_new(&cfg->flow);
	e->df = ip_defrag_new(&cfg->defrag);
	if (!e->ft || !e->df || mqtt_ctx_init(&e->mc, &cfg->mqtt) != 0) {
		engine_free(e);
		return NULL;
	}
	return e;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	if (e->ft)
		flow_table_flush(e->ft, on_flow_end, e);
	flow_table_free(e->ft);
	ip_defrag_free(e->df);
	mqtt_ctx_deinit(&e->mc);
	sensors_free(e->sn);
	detect_free(e->det);
	jw_deinit(&e->line);
	jw_deinit(&e->sline);
	jw_deinit(&e->aline);
	free(e);
}

uint64_t engine_packets(const struct engine *e)
{
	return e->st.packets;
}

static void engine_expire(struct engine *e)
{
	if (e->now_us < e->next_expire_us)
		return;
	e->next_expire_us = e->now_us + 1000000u; /* once a second */
	flow_table_expire(e->ft, e->now_us, on_flow_end, e);
	if (e->det)
		detect_tick(e->det, e->now_us);
	if (e->sn)
		sensors_tick(e->sn, e->now_us);
}

void engine_tick(struct engine *e, uint64_t now_us)
{
	if (now_us > e->now_us)
		e->now_us = now_us;
	e->cur_flow = NULL;
	engine_expire(e);
}

void engine_packet(struct engine *e, int dlt, uint64_t ts_us,
		   const uint8_t *data, uint32_t caplen)
{
	struct pkt pkt;
	const char *event;
	e->st.packets++;
	e->st.bytes += caplen;
	e->pcap_cnt++;
	pkt.ts_us = ts_us;
	pkt.pcap_cnt = e->pcap_cnt;
	e->cur_ts = ts_us;
	e->cur_cnt = e->pcap_cnt;
	e->cur_flow = NULL;
	if (ts_us > e->now_us)
		e->now_us = ts_us;
	enum pkt_result r = pkt_decode(dlt, data, caplen, e->df, &pkt, &event);
	if (r != PKT_TCP) {
		if (r == PKT_INVALID) {
			e->st.invalid++;
			decode_anomaly(e, event);
		} else if (r == PKT_HELD) {
			e->st.frag_held++;
		} else {
			e->st.other++;
		}
		engine_expire(e);
		return;
	}
	e->st.tcp++;
	int dir;
	bool created;
	struct flow *f = flow_table_get(e->ft, &pkt, e->cfg.ports,
					e->cfg.n_ports, &dir, &created,
					on_flow_end, e);
	if (!f) {
		if (e->det)
			detect_tcp(e, &pkt, NULL, 0);
		return;
	}
	/* A new SYN on a finished connection: the port pair is reused. */
	if (!created && (pkt.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN &&
	    (f->rst || (f->d[0].fin && f->d[1].fin))) {
		flow_table_end(e->ft, f, FLOW_END_CLOSED, on_flow_end, e);
		f = flow_table_get(e->ft, &pkt, e->cfg.ports, e->cfg.n_ports,
				   &dir, &created, on_flow_end, e);
		if (!f)
			return;
	}
	e->cur_flow = f;
	if (e->det)
		detect_tcp(e, &pkt, f, dir);
	f->last_us = ts_us > f->last_us ? ts_us : f->last_us;
	f->last_pcap_cnt = e->pcap_cnt;
	f->pkts[dir]++;
	f->bytes[dir] += pkt.payload_wire_len;
	if (f->app == FLOW_APP_UNKNOWN && pkt.payload_len > 0) {
		/*
		 * Not a configured port: probe the first payload for a
		 * CONNECT, as Suricata's probing parser looks at the first
		 * bytes. The sender of the CONNECT is the client.
		 */
		uint8_t buf[sizeof(f->probe) + 16];
		const uint8_t *pp = pkt.payload;
		uint32_t pn = pkt.payload_len;
		bool held = f->probe_len && f->probe_dir == dir &&
			    f->probe_seq + f->probe_len == pkt.seq;
		if (held) {
			uint32_t add = pn < 16 ? pn : 16;
			memcpy(buf, f->probe, f->probe_len);
			memcpy(buf + f->probe_len, pkt.payload, add);
			pp = buf;
			pn = f->probe_len + add;
		}
		int pr = e->cfg.probe_other_ports ? mqtt_probe_connect(pp, pn) : -1;
		if (pr == 0 && pn <= sizeof(f->probe)) {
			/* Too short to tell: hold the bytes, decide later. */
			if (!held)
				f->probe_seq = pkt.seq;
			memcpy(f->probe, pp, pn);
			f->probe_len = (uint8_t)pn;
			f->probe_dir = (uint8_t)dir;
			flow_table_touch(e->ft, f, false);
			e->cur_flow = NULL;
			engine_expire(e);
			return;
		}
		if (pr > 0) {
			f->app = FLOW_APP_MQTT;
			if (dir == 1) {
				flow_swap(f);
				dir = 0;
			}
			if (held) {
				struct pkt hp = pkt;
				hp.seq = f->probe_seq;
				hp.tcp_flags = TCP_ACK;
				hp.payload = f->probe;
				hp.payload_len = hp.payload_wire_len = f->probe_len;
				struct reasm_out o = engine_reasm_out(e);
				tcp_reasm_packet(&e->rc, f, dir, &hp, &o);
			}
		} else {
			f->app = FLOW_APP_OTHER;
			e->st.not_mqtt_flows++;
			tcp_reasm_release(&e->rc, f);
		}
	}
	if (pkt.has_mac) {
		/* The client's MAC, for the device inventory: the sender's on
		 * the way to the server, the receiver's on the way back. */
		memcpy(f->cli_mac, dir == 0 ? pkt.smac : pkt.dmac, 6);
		f->has_cli_mac = true;
	}
	if (f->app != FLOW_APP_OTHER) {
		struct reasm_out o = engine_reasm_out(e);
		tcp_reasm_packet(&e->rc, f, dir, &pkt, &o);
	}
	bool closed = f->rst || (f->d[0].fin && f->d[1].fin);
	flow_table_touch(e->ft, f, closed);
	e->cur_flow = NULL;
	engine_expire(e);
}

void engine_finish(struct engine *e)
{
	e->cur_flow = NULL;
	flow_table_flush(e->ft, on_flow_end, e);
	if (e->sn)
		sensors_tick(e->sn, e->now_us);
	if (e->det)
		detect_finish(e->det);
	fflush(e->out);
}

void engine_print_stats(struct engine *e, FILE *fp)
{
	const struct flow_stats *fs = flow_table_stats(e->ft);
	const struct ip_defrag_stats *ds = ip_defrag_stats(e->df);
	fprintf(fp,
		"mqttids: %llu packets (%llu TCP, %llu invalid), %llu flows "
		"(%llu not MQTT, %llu evicted), %llu MQTT messages, "
		"%llu records, %llu gaps, %llu fragments reassembled\n",
		(unsigned long long)e->st.packets, (unsigned long long)e->st.tcp,
		(unsigned long long)e->st.invalid,
		(unsigned long long)fs->created,
		(unsigned long long)e->st.not_mqtt_flows,
		(unsigned long long)fs->evicted_lru,
		(unsigned long long)e->mc.stats.messages,
		(unsigned long long)e->st.records,
		(unsigned long long)e->rc.st.gaps,
		(unsigned long long)ds->reassembled);
}

void engine_write_eve_stats(struct engine *e)
{
	const struct flow_stats *fs = flow_table_stats(e->ft);
	const struct ip_defrag_stats *ds = ip_defrag_stats(e->df);
	struct jw *w = &e->line;
	eve_begin(e, "stats", NULL, false, e->now_us, 0);
	jw_open_obj(w, "stats");
	jw_open_obj(w, "decoder");
	jw_uint(w, "pkts", e->st.packets);
	jw_uint(w, "bytes", e->st.bytes);
	jw_uint(w, "tcp", e->st.tcp);
	jw_uint(w, "other", e->st.other);
	jw_uint(w, "invalid", e->st.invalid);
	jw_close_obj(w);
	jw_open_obj(w, "defrag");
	jw_uint(w, "fragments", ds->fragments);
	jw_uint(w, "reassembled", ds->reassembled);
	jw_uint(w, "timeouts", ds->timeouts);
	jw_uint(w, "evicted", ds->evicted);
	jw_uint(w, "invalid", ds->invalid);
	jw_close_obj(w);
	jw_open_obj(w, "flow");
	jw_uint(w, "created", fs->created);
	jw_uint(w, "active", fs->active);
	jw_uint(w, "peak", fs->peak);
	jw_uint(w, "timed_out", fs->timed_out);
	jw_uint(w, "closed", fs->closed);
	jw_uint(w, "evicted_lru", fs->evicted_lru);
	jw_uint(w, "ended_at_exit", fs->ended_at_exit);
	jw_uint(w, "not_mqtt", e->st.not_mqtt_flows);
	jw_close_obj(w);
	jw_open_obj(w, "tcp");
	jw_uint(w, "segments", e->rc.st.segments);
	jw_uint(w, "in_order", e->rc.st.in_order);
	jw_uint(w, "retransmissions", e->rc.st.retransmissions);
	jw_uint(w, "overlaps", e->rc.st.overlaps);
	jw_uint(w, "ooo_queued", e->rc.st.ooo_queued);
	jw_uint(w, "gaps", e->rc.st.gaps);
	jw_uint(w, "gap_bytes", e->rc.st.gap_bytes);
	jw_uint(w, "memcap_drops", e->rc.st.memcap_drops);
	jw_uint(w, "midstream", e->rc.st.midstream);
	jw_uint(w, "midstream_ignored", e->rc.st.midstream_ignored);
	jw_uint(w, "reassembly_memuse_peak", e->rc.mem_peak);
	jw_close_obj(w);
	jw_open_obj(w, "mqtt");
	jw_uint(w, "messages", e->mc.stats.messages);
	jw_uint(w, "transactions", e->mc.stats.transactions);
	jw_uint(w, "truncated", e->mc.stats.truncated);
	jw_uint(w, "malformed", e->mc.stats.malformed);
	jw_uint(w, "anomalies", e->mc.stats.anomalies);
	jw_uint(w, "gaps", e->mc.stats.gaps);
	jw_uint(w, "resyncs", e->mc.stats.resyncs);
	jw_uint(w, "giveups", e->mc.stats.giveups);
	jw_uint(w, "tx_logged_early", e->mc.stats.tx_dropped);
	jw_uint(w, "late_answers", e->mc.stats.late_answers);
	jw_close_obj(w);
	jw_close_obj(w);
	eve_end(e);
}
