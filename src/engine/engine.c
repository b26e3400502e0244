/*
 * engine.c - the pipeline's one direction: each packet goes through
 * decode, the flow table, TCP reassembly and the MQTT stream parser; what
 * they produce goes to detection (detect/detect.c) as events, and to the
 * outputs (output/output.c) as records, with detection's alerts and
 * findings. Nothing downstream calls back up. Single-threaded; all state
 * lives in struct engine so a multi-worker mode can give each worker its
 * own.
 */
#define _POSIX_C_SOURCE 200809L
#include "engine/engine.h"
#include "event/anomalies.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "net/pkt_decode.h"
#include "sensor/sensor.h"

struct engine {
	struct engine_cfg cfg;
	struct output *out;   /* the sinks (not owned) */
	struct flow_table *ft;
	struct kt_pressure flow_pressure;
	struct ip_defrag *df;
	struct reasm_ctx rc;
	struct mqtt_ctx mc;
	struct detect *det;   /* detection (engine_enable_detect), NULL: off */
	bool want_tx;         /* some sink logs MQTT transactions */
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
	} st;
};

void engine_cfg_default(struct engine_cfg *c)
{
	memset(c, 0, sizeof(*c));
	mqtt_cfg_default(&c->mqtt);
	c->flow.max_flows = 65536;
	c->flow.idle_timeout_s = 600;
	c->flow.closed_timeout_s = 10;
	c->flow.vlan_tracking = true;
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
	c->ids.stats_interval_s = 60;
	c->mem_budget = ENGINE_BUDGET_DEFAULT;
	engine_cfg_apply_budget(c);
}

/* Shares in 64ths. The other 14 hold what has its own cap: the data
 * detectors' tables at their default max-devices (7.4 MiB) and the IP
 * defragmenter (4 MiB); docs/ARCHITECTURE.md "Memory budget". */
static const uint8_t budget_share[BUDGET__COUNT] = {
	[BUDGET_STREAM] = 8, [BUDGET_MQTT_BUF] = 8, [BUDGET_MQTT_TX] = 8,
	[BUDGET_FLOWS] = 14, [BUDGET_TRACKERS] = 5, [BUDGET_AGGREGATES] = 4,
	[BUDGET_CLIENT_IDS] = 3,
};
#define BUDGET_PARTS 64u
/* Strings an MQTT session keeps (client id, username twice; will topic). */
#define SESSION_STRINGS 5u

uint32_t engine_budget_share(enum engine_budget_part part)
{
	return part < BUDGET__COUNT ? budget_share[part] : 0;
}

uint64_t engine_budget_entry_bytes(const struct engine_cfg *c,
				   enum engine_budget_part part)
{
	switch (part) {
	case BUDGET_FLOWS:
		/* The flow, its index slot, its MQTT state and the longest
		 * strings the state may keep. */
		return sizeof(struct flow) + sizeof(uint32_t) +
		       sizeof(struct mqtt_state) +
		       (uint64_t)SESSION_STRINGS * (c->mqtt.session_str_max + 1);
	case BUDGET_TRACKERS: return detect_tracker_bytes();
	case BUDGET_AGGREGATES: return detect_aggregate_bytes();
	case BUDGET_CLIENT_IDS: return detect_client_id_bytes();
	default: return 1;
	}
}

static uint32_t budget_count(const struct engine_cfg *c,
			     enum engine_budget_part part)
{
	uint64_t n = c->mem_budget / BUDGET_PARTS * budget_share[part] /
		     engine_budget_entry_bytes(c, part);
	return n > UINT32_MAX ? UINT32_MAX : n ? (uint32_t)n : 1;
}

void engine_cfg_apply_budget(struct engine_cfg *c)
{
	for (unsigned p = 0; p < BUDGET__COUNT; p++) {
		if (c->mem_set & (1u << p))
			continue;
		uint64_t bytes = c->mem_budget / BUDGET_PARTS * budget_share[p];
		switch ((enum engine_budget_part)p) {
		case BUDGET_STREAM: c->reasm.memcap = (size_t)bytes; break;
		case BUDGET_MQTT_BUF: c->mqtt.buf_memcap = (size_t)bytes; break;
		case BUDGET_MQTT_TX: c->mqtt.tx_memcap = (size_t)bytes; break;
		case BUDGET_FLOWS:
			c->flow.max_flows = budget_count(c, BUDGET_FLOWS);
			c->flow.memcap = 0;
			break;
		case BUDGET_TRACKERS:
			c->ids.detect.max_trackers = budget_count(c, BUDGET_TRACKERS);
			break;
		case BUDGET_AGGREGATES:
			c->ids.detect.max_aggregates = budget_count(c, BUDGET_AGGREGATES);
			break;
		case BUDGET_CLIENT_IDS:
			c->ids.detect.max_client_ids = budget_count(c, BUDGET_CLIENT_IDS);
			break;
		case BUDGET__COUNT: break;
		}
	}
}

/* ---- records ---- */

/* Formats the flow's addresses once; records and events reuse the text. */
static void flow_addr_text(struct flow *f)
{
	int af = f->family == 4 ? AF_INET : AF_INET6;
	if (!inet_ntop(af, f->cli, f->cli_str, sizeof(f->cli_str)))
		strcpy(f->cli_str, "?");
	if (!inet_ntop(af, f->srv, f->srv_str, sizeof(f->srv_str)))
		strcpy(f->srv_str, "?");
}

/* The tuple of a record of flow f whose first packet went toclient. */
static const struct out_tuple *flow_tuple(struct flow *f, bool toclient,
					  struct out_tuple *t)
{
	if (!f)
		return NULL;
	if (!f->cli_str[0])
		flow_addr_text(f);
	t->flow_id = f->id;
	t->vlan = f->vlan;
	t->vlan_n = f->vlan_n;
	t->src_ip = toclient ? f->srv_str : f->cli_str;
	t->dest_ip = toclient ? f->cli_str : f->srv_str;
	t->src_port = toclient ? f->sport : f->cport;
	t->dest_port = toclient ? f->cport : f->sport;
	return t;
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

/* detect_emit: an alert or update, to the sinks. */
static void emit_alert(void *ud, const struct alert *a)
{
	struct engine *e = ud;
	struct out_record r = { .kind = OUT_ALERT, .ts_us = a->ts_us, .alert = a };
	output_emit(e->out, &r);
}

/*
 * detect_emit: a detector's finding, as an anomaly record of type
 * "detector". A finding of a message has that message's flow and session;
 * one of a timer (a silent device) names the device's last address.
 */
static void emit_finding(void *ud, const struct det_event *ev)
{
	struct engine *e = ud;
	if (!output_wants(e->out, OUT_ANOMALY))
		return;
	struct out_tuple t;
	struct out_anomaly an = {
		.type = "detector", .event = ev->anomaly, .layer = ev->layer,
		.detail = ev->detail, .meta = ev->meta, .meta_len = ev->meta_len,
		.app_proto = true,
	};
	struct out_record r = {
		.kind = OUT_ANOMALY, .ts_us = ev->ts_us, .pcap_cnt = ev->pcap_cnt,
		.tuple = flow_tuple((struct flow *)ev->flow, ev->toclient, &t),
		.st = ev->st, .an = &an,
	};
	if (!r.tuple && ev->family && ev->src_str && ev->src_str[0])
		r.src_ip = ev->src_str;
	output_emit(e->out, &r);
}

struct sensors *engine_sensors(struct engine *e)
{
	return detect_sensors(e->det);
}

int engine_enable_detect(struct engine *e, const struct ruleset *rs,
			 bool live)
{
	struct detect_emit emit = { emit_alert, emit_finding, e };
	struct detect_detectors dd = {
		.cfg = e->cfg.ids.detectors,
		.data_off = e->cfg.ids.detectors_off,
		.live = live,
		.log = stderr,
	};
	int err;
	e->det = detect_new(&e->cfg.ids.detect, rs, &dd, emit, &err);
	return e->det ? 0 : err;
}

const struct detect_stats *engine_detect_stats(const struct engine *e)
{
	return e->det ? detect_stats(e->det) : NULL;
}

/* ---- MQTT sink ---- */

static void sink_tx(void *ud, const struct mqtt_state *st,
		    const struct mqtt_tx *tx)
{
	struct engine *e = ud;
	struct out_tuple t;
	struct out_record r = {
		.kind = OUT_MQTT, .ts_us = e->cur_ts, .pcap_cnt = e->cur_cnt,
		.tuple = flow_tuple(e->cur_flow, tx->toclient, &t),
		.st = st, .tx = tx,
	};
	output_emit(e->out, &r);
}

static void sink_anomaly(void *ud, const struct mqtt_state *st, bool toclient,
			 const char *layer, const char *event,
			 const char *detail)
{
	struct engine *e = ud;
	bool stream = strcmp(layer, "stream") == 0;
	ANOMALY_CHECK(event);
	if (e->det)
		detect_anomaly(e, st, toclient, stream ? "stream" : layer, event,
			       detail);
	if (!output_wants(e->out, OUT_ANOMALY))
		return;
	struct out_tuple t;
	struct out_anomaly an = {
		.type = stream ? "stream" : "applayer", .event = event,
		.layer = stream ? "stream" : layer, .detail = detail,
		.app_proto = true,
	};
	struct out_record r = {
		.kind = OUT_ANOMALY, .ts_us = e->cur_ts, .pcap_cnt = e->cur_cnt,
		.tuple = flow_tuple(e->cur_flow, toclient, &t), .st = st,
		.an = &an,
	};
	output_emit(e->out, &r);
}

static void decode_anomaly(struct engine *e, const char *event)
{
	ANOMALY_CHECK(event);
	if (e->det)
		detect_anomaly(e, NULL, false, "decode", event, NULL);
	if (!output_wants(e->out, OUT_ANOMALY))
		return;
	struct out_anomaly an = { .type = "decode", .event = event };
	struct out_record r = {
		.kind = OUT_ANOMALY, .ts_us = e->cur_ts, .pcap_cnt = e->cur_cnt,
		.an = &an,
	};
	output_emit(e->out, &r);
}

/*
 * The MQTT layer's sink: transactions only when some output logs them
 * (else their messages are not even kept), messages only for detection.
 */
static struct mqtt_sink engine_sink(struct engine *e)
{
	struct mqtt_sink s = {
		e->want_tx ? sink_tx : NULL, sink_anomaly,
		e->det ? sink_msg : NULL, e,
	};
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

struct engine *engine_new(const struct engine_cfg *cfg, struct output *out)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = *cfg;
	e->out = out;
	e->want_tx = output_wants(out, OUT_MQTT);
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
	detect_free(e->det);
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
	if (e->det) {
		detect_table_pressure(e->det, flow_table_kt(e->ft),
				      &e->flow_pressure, e->now_us, false);
		detect_tick(e->det, e->now_us);
	}
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
			flow_table_touch(e->ft, f, FLOW_OPEN, on_flow_end, e);
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
	enum flow_state fs = FLOW_OPEN;
	if (f->rst || (f->d[0].fin && f->d[1].fin))
		fs = FLOW_CLOSED;
	else if (f->mqtt && f->mqtt->connect_seen)
		fs = FLOW_SESSION;
	flow_table_touch(e->ft, f, fs, on_flow_end, e);
	e->cur_flow = NULL;
	engine_expire(e);
}

void engine_finish(struct engine *e)
{
	e->cur_flow = NULL;
	if (e->det)
		detect_table_pressure(e->det, flow_table_kt(e->ft),
				      &e->flow_pressure, e->now_us, true);
	flow_table_flush(e->ft, on_flow_end, e);
	if (e->det)
		detect_finish(e->det, e->now_us);
}

void engine_print_stats(struct engine *e, FILE *fp)
{
	const struct flow_stats *fs = flow_table_stats(e->ft);
	const struct ip_defrag_stats *ds = ip_defrag_stats(e->df);
	struct out_sink_stats eve;
	output_sink_stats(e->out, "eve", &eve);
	uint64_t records = eve.records;
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
		(unsigned long long)records,
		(unsigned long long)e->rc.st.gaps,
		(unsigned long long)ds->reassembled);
}

#define C(name, v) { name, v }
#define STATS_DETECTORS_MAX 16
#define STATS_TABLES_MAX (1 + DETECT_TABLES_MAX)
#define KT_COUNTERS 10
#define DETECT_COUNTERS 12

/* A bounded table's counters for the stats record. */
static uint32_t table_counters(const struct ktable *kt, struct out_counter *c)
{
	const struct kt_stats *s = kt_stats(kt);
	const struct out_counter v[KT_COUNTERS] = {
		C("capacity", kt_capacity(kt)), C("bytes", kt_bytes(kt)),
		C("active", s->active), C("peak", s->peak),
		C("inserted", s->inserted), C("removed", s->removed),
		C("evicted", s->evicted),
		C("evicted_protected", s->evicted_protected),
		C("demoted", s->overflowed), C("refused", s->refused),
	};
	memcpy(c, v, sizeof(v));
	return KT_COUNTERS;
}

void engine_write_eve_stats(struct engine *e)
{
	const struct flow_stats *fs = flow_table_stats(e->ft);
	const struct ip_defrag_stats *ds = ip_defrag_stats(e->df);
	const struct out_counter decoder[] = {
		C("pkts", e->st.packets), C("bytes", e->st.bytes),
		C("tcp", e->st.tcp), C("other", e->st.other),
		C("invalid", e->st.invalid),
	};
	const struct out_counter defrag[] = {
		C("fragments", ds->fragments), C("reassembled", ds->reassembled),
		C("timeouts", ds->timeouts), C("evicted", ds->evicted),
		C("invalid", ds->invalid),
	};
	const struct out_counter flow[] = {
		C("created", fs->created), C("active", fs->active),
		C("peak", fs->peak), C("timed_out", fs->timed_out),
		C("closed", fs->closed), C("evicted_lru", fs->evicted_lru),
		C("ended_at_exit", fs->ended_at_exit),
		C("evicted_sessions", fs->evicted_sessions),
		C("not_mqtt", e->st.not_mqtt_flows),
	};
	const struct out_counter tcp[] = {
		C("segments", e->rc.st.segments), C("in_order", e->rc.st.in_order),
		C("retransmissions", e->rc.st.retransmissions),
		C("overlaps", e->rc.st.overlaps),
		C("ooo_queued", e->rc.st.ooo_queued), C("gaps", e->rc.st.gaps),
		C("gap_bytes", e->rc.st.gap_bytes),
		C("memcap_drops", e->rc.st.memcap_drops),
		C("midstream", e->rc.st.midstream),
		C("midstream_ignored", e->rc.st.midstream_ignored),
		C("reassembly_memuse_peak", e->rc.mem_peak),
	};
	const struct out_counter mqtt[] = {
		C("messages", e->mc.stats.messages),
		C("transactions", e->mc.stats.transactions),
		C("truncated", e->mc.stats.truncated),
		C("malformed", e->mc.stats.malformed),
		C("anomalies", e->mc.stats.anomalies), C("gaps", e->mc.stats.gaps),
		C("resyncs", e->mc.stats.resyncs), C("giveups", e->mc.stats.giveups),
		C("tx_logged_early", e->mc.stats.tx_dropped),
		C("late_answers", e->mc.stats.late_answers),
		C("buffer_memcap_drops", e->mc.stats.buf_drops),
		C("buffer_memuse_peak", e->mc.stats.buf_peak),
	};
#define G(name, v) { name, v, sizeof(v) / sizeof(v[0]), NULL }
	struct out_group groups[8 + STATS_TABLES_MAX + STATS_DETECTORS_MAX] = {
		G("decoder", decoder), G("defrag", defrag), G("flow", flow),
		G("tcp", tcp), G("mqtt", mqtt),
	};
	uint32_t ng = 5;
#undef G
	/* Detection: its tables' evictions and drops, then each detector's. */
	struct out_counter det[DETECT_COUNTERS];
	const struct detect_stats *dt = e->det ? detect_stats(e->det) : NULL;
	if (dt) {
		const struct out_counter d[] = {
			C("events", dt->events), C("rule_checks", dt->rule_checks),
			C("matches", dt->matches), C("alerts", dt->alerts),
			C("updates", dt->updates),
			C("trackers_evicted", dt->trackers_evicted),
			C("aggregates_evicted", dt->aggregates_evicted),
			C("metadata_dropped", dt->metadata_dropped),
			C("findings", dt->findings), C("takeovers", dt->takeovers),
			C("alerts_folded", dt->alerts_folded),
			C("folds", dt->folds),
		};
		memcpy(det, d, sizeof(d));
		groups[ng++] = (struct out_group){ "detect", det, DETECT_COUNTERS, NULL };
	}
	/* Every bounded table: size, use, evictions, refusals. */
	const struct ktable *kts[STATS_TABLES_MAX];
	uint32_t nt = 0;
	kts[nt++] = flow_table_kt(e->ft);
	if (e->det)
		nt += (uint32_t)detect_tables(e->det, kts + nt, STATS_TABLES_MAX - nt);
	struct out_counter tc[STATS_TABLES_MAX][KT_COUNTERS];
	for (uint32_t i = 0; i < nt; i++)
		groups[ng++] = (struct out_group){ kt_name(kts[i]), tc[i],
						   table_counters(kts[i], tc[i]),
						   "tables" };
	const char *names[STATS_DETECTORS_MAX];
	struct sensor_stats ss[STATS_DETECTORS_MAX];
	struct out_counter sc[STATS_DETECTORS_MAX][SENSOR_STATS_MAX];
	size_t nd = e->det ? sensors_stats(detect_sensors(e->det), names, ss,
					   STATS_DETECTORS_MAX) : 0;
	for (size_t i = 0; i < nd; i++) {
		for (uint32_t k = 0; k < ss[i].n; k++)
			sc[i][k] = (struct out_counter){ ss[i].c[k].name, ss[i].c[k].v };
		groups[ng++] = (struct out_group){ names[i], sc[i], ss[i].n, "detectors" };
	}
	/* The outputs: what each sink wrote and what it failed to. */
	static const char *const sinks[] = { "eve", "console", "store" };
	struct out_counter oc[2 * sizeof(sinks) / sizeof(sinks[0]) + 1];
	static const char *const rec_names[] = { "eve_records", "console_records", "store_records" };
	static const char *const err_names[] = { "eve_errors", "console_errors", "store_errors" };
	uint32_t no = 0;
	for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++) {
		struct out_sink_stats st;
		if (!output_sink_stats(e->out, sinks[i], &st))
			continue;
		oc[no++] = (struct out_counter){ rec_names[i], st.records };
		oc[no++] = (struct out_counter){ err_names[i], st.errors };
		/* alerts waiting for a locked or failing store */
		if (!strcmp(sinks[i], "store"))
			oc[no++] = (struct out_counter){ "store_pending", st.pending };
	}
	groups[ng++] = (struct out_group){ "outputs", oc, no, NULL };
	struct out_stats stats = { groups, ng };
	struct out_record r = { .kind = OUT_STATS, .ts_us = e->now_us,
				.stats = &stats };
	output_emit(e->out, &r);
}

#undef C
