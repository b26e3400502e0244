/*
 * flow_table.c - flows in a keyed table (util/ktable.h) with three lists
 * (open, closed, session), each ordered by last use so expiry only looks
 * at list tails. The table never grows: when it is full the oldest
 * closed or open flow is ended and counted.
 */
#include "net/flow_table.h"

#include <stdlib.h>
#include <string.h>

#define NO_LISTS 3
#define MIN_FLOWS 1u
/*
 * Sessions are fair between FLOW_SESSION_GROUPS groups of client
 * addresses (by the seeded hash): a host that opens ever more sessions
 * ends its own oldest ones first, not other hosts'.
 */
#define FLOW_SESSION_GROUPS 64u

struct flow_table {
	struct flow_cfg cfg;
	struct ktable *kt;
	uint64_t next_id;
	uint64_t touch_seq;
	struct flow_stats st;
};

struct flow_table *flow_table_new(const struct flow_cfg *cfg)
{
	struct flow_table *ft = calloc(1, sizeof(*ft));
	if (!ft)
		return NULL;
	ft->cfg = *cfg;
	if (cfg->memcap) {
		size_t n = cfg->memcap / sizeof(struct flow);
		ft->cfg.max_flows = n > UINT32_MAX - 1 ? UINT32_MAX - 1
						       : (n ? (uint32_t)n : MIN_FLOWS);
	}
	uint32_t max = ft->cfg.max_flows ? ft->cfg.max_flows : MIN_FLOWS;
	uint32_t sess = (uint32_t)((uint64_t)max * FLOW_SESSION_SHARE_PCT / 100u);
	struct kt_opts o = {
		.name = "flow",
		.capacity = max,
		.entry_size = sizeof(struct flow),
		.n_parts = FLOW_SESSION_GROUPS,
		.n_lists = NO_LISTS,
		.list = { [FLOW_OPEN] = { 0, KT_EVICT, 0 },
			  [FLOW_CLOSED] = { 0, KT_EVICT, 0 },
			  [FLOW_SESSION] = { sess ? sess : 1, KT_EVICT, 1 } },
		.n_evict = 2,
		.evict = { FLOW_CLOSED, FLOW_OPEN },
	};
	ft->kt = kt_new(&o);
	if (!ft->kt) {
		flow_table_free(ft);
		return NULL;
	}
	return ft;
}

void flow_table_free(struct flow_table *ft)
{
	if (!ft)
		return;
	kt_free(ft->kt);
	free(ft);
}

const struct flow_stats *flow_table_stats(struct flow_table *ft)
{
	/* What the table counts itself. */
	const struct kt_stats *ks = kt_stats(ft->kt);
	ft->st.created = ks->inserted;
	ft->st.active = ks->active;
	ft->st.peak = ks->peak;
	return &ft->st;
}

const struct ktable *flow_table_kt(const struct flow_table *ft)
{
	return ft->kt;
}

/* The flow key: both endpoints (address, port), the family and the VLAN
 * ids, as 64-bit words. */
#define KEY_WORDS 6

/* An IPv4 endpoint as one word: address, then port. */
static uint64_t ep4(const uint8_t *a, uint16_t port)
{
	return (uint64_t)a[0] << 40 | (uint64_t)a[1] << 32 |
	       (uint64_t)a[2] << 24 | (uint64_t)a[3] << 16 | port;
}

/*
 * The seeded hash of both endpoints, the lower one first so both
 * directions hash alike, and the VLAN ids: the same addresses on two
 * VLANs are two flows, as Suricata keys them.
 */
static uint32_t flow_hash(const struct ktable *kt, uint8_t family,
			  const uint8_t *a, uint16_t pa, const uint8_t *b,
			  uint16_t pb, const uint16_t *vlan, uint8_t vlan_n)
{
	/* The key's length tells the families apart, and whether VLAN ids
	 * follow (SipHash hashes the length in). */
	uint64_t k[KEY_WORDS];
	size_t n;
	uint64_t tail = (uint64_t)family << 56 | (uint64_t)vlan_n << 48;
	for (uint8_t i = 0; i < vlan_n && i < 3; i++)
		tail |= (uint64_t)vlan[i] << (16 * i);
	if (family == 4) {
		uint64_t x = ep4(a, pa), y = ep4(b, pb);
		k[0] = x < y ? x : y;
		k[1] = x < y ? y : x;
		k[2] = tail;
		n = vlan_n ? 3 : 2;
	} else {
		int c = memcmp(a, b, 16);
		bool swap = c > 0 || (c == 0 && pa > pb);
		const uint8_t *lo = swap ? b : a, *hi = swap ? a : b;
		memcpy(&k[0], lo, 8);
		memcpy(&k[1], lo + 8, 8);
		memcpy(&k[2], hi, 8);
		memcpy(&k[3], hi + 8, 8);
		k[4] = (uint64_t)(swap ? pb : pa) << 16 | (swap ? pa : pb);
		k[5] = tail;
		n = KEY_WORDS;
	}
	return kt_hash(kt, k, n * sizeof(k[0]));
}

void flow_table_touch(struct flow_table *ft, struct flow *f,
		      enum flow_state state,
		      void (*end_cb)(void *ud, struct flow *f, int why),
		      void *ud)
{
	f->touch_seq = ++ft->touch_seq;
	if (kt_list_of(f) == state) {
		kt_touch(ft->kt, f);
		return;
	}
	/* A session counts in its client address's group. */
	uint32_t part = state == FLOW_SESSION
				? kt_hash(ft->kt, f->cli, f->family == 4 ? 4 : 16) %
					  FLOW_SESSION_GROUPS
				: 0;
	struct flow *over = kt_move_part(ft->kt, f, state, part);
	if (over) {
		ft->st.evicted_sessions++;
		flow_table_end(ft, over, FLOW_END_EVICTED, end_cb, ud);
	}
}

void flow_swap(struct flow *f)
{
	uint8_t a[16];
	char t[sizeof(f->cli_str)];
	memcpy(t, f->cli_str, sizeof(t));
	memcpy(f->cli_str, f->srv_str, sizeof(t));
	memcpy(f->srv_str, t, sizeof(t));
	memcpy(a, f->cli, 16);
	memcpy(f->cli, f->srv, 16);
	memcpy(f->srv, a, 16);
	uint16_t p = f->cport;
	f->cport = f->sport;
	f->sport = p;
	struct tcp_dir d = f->d[0];
	f->d[0] = f->d[1];
	f->d[1] = d;
	uint64_t x = f->pkts[0];
	f->pkts[0] = f->pkts[1];
	f->pkts[1] = x;
	x = f->bytes[0];
	f->bytes[0] = f->bytes[1];
	f->bytes[1] = x;
}

void flow_table_end(struct flow_table *ft, struct flow *f, int why,
		    void (*end_cb)(void *ud, struct flow *f, int why), void *ud)
{
	if (end_cb)
		end_cb(ud, f, why);
	kt_remove(ft->kt, f, why == FLOW_END_EVICTED);
	switch (why) {
	case FLOW_END_TIMEOUT: ft->st.timed_out++; break;
	case FLOW_END_CLOSED: ft->st.closed++; break;
	case FLOW_END_EVICTED: ft->st.evicted_lru++; break;
	case FLOW_END_EXIT: ft->st.ended_at_exit++; break;
	default: break;
	}
}

static bool is_port(uint16_t p, const uint16_t *ports, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (ports[i] == p)
			return true;
	return false;
}

struct flow *flow_table_get(struct flow_table *ft, const struct pkt *pkt,
			    const uint16_t *mqtt_ports, uint32_t n_ports,
			    int *dir, bool *created,
			    void (*end_cb)(void *ud, struct flow *f, int why),
			    void *ud)
{
	size_t alen = pkt->family == 4 ? 4 : 16;
	uint8_t vn = ft->cfg.vlan_tracking ? pkt->vlan_n : 0;
	uint32_t h = flow_hash(ft->kt, pkt->family, pkt->src, pkt->sport,
			       pkt->dst, pkt->dport, pkt->vlan, vn);
	*created = false;
	for (struct flow *f = kt_first(ft->kt, h); f; f = kt_next(ft->kt, f)) {
		if (kt_hash_of(f) != h || f->family != pkt->family)
			continue;
		if (vn && (f->vlan_n != vn ||
			   memcmp(f->vlan, pkt->vlan, vn * sizeof(f->vlan[0])) != 0))
			continue;
		if (f->cport == pkt->sport && f->sport == pkt->dport &&
		    memcmp(f->cli, pkt->src, alen) == 0 &&
		    memcmp(f->srv, pkt->dst, alen) == 0) {
			*dir = 0;
			return f;
		}
		if (f->cport == pkt->dport && f->sport == pkt->sport &&
		    memcmp(f->cli, pkt->dst, alen) == 0 &&
		    memcmp(f->srv, pkt->src, alen) == 0) {
			*dir = 1;
			return f;
		}
	}
	struct flow *victim = kt_victim(ft->kt);
	if (victim)
		flow_table_end(ft, victim, FLOW_END_EVICTED, end_cb, ud);
	struct flow *f = kt_insert(ft->kt, h, FLOW_OPEN, 0);
	if (!f) {
		kt_refused(ft->kt);
		return NULL;
	}
	f->touch_seq = ++ft->touch_seq;
	f->family = pkt->family;
	/* Client side: SYN sender, SYN/ACK receiver, else not the MQTT port. */
	bool src_is_client = true;
	uint8_t fl = pkt->tcp_flags;
	if ((fl & TCP_SYN) && (fl & TCP_ACK))
		src_is_client = false;
	else if (!(fl & TCP_SYN) && !is_port(pkt->dport, mqtt_ports, n_ports) &&
		 is_port(pkt->sport, mqtt_ports, n_ports))
		src_is_client = false;
	if (src_is_client) {
		memcpy(f->cli, pkt->src, alen);
		memcpy(f->srv, pkt->dst, alen);
		f->cport = pkt->sport;
		f->sport = pkt->dport;
		*dir = 0;
	} else {
		memcpy(f->cli, pkt->dst, alen);
		memcpy(f->srv, pkt->src, alen);
		f->cport = pkt->dport;
		f->sport = pkt->sport;
		*dir = 1;
	}
	if (is_port(f->sport, mqtt_ports, n_ports) ||
	    is_port(f->cport, mqtt_ports, n_ports))
		f->app = FLOW_APP_MQTT;
	f->vlan_n = pkt->vlan_n;
	memcpy(f->vlan, pkt->vlan, sizeof(f->vlan));
	f->first_us = pkt->ts_us;
	f->last_us = pkt->ts_us;
	f->id = ++ft->next_id;
	*created = true;
	return f;
}

/*
 * The oldest of the lists that time out after idle-timeout (open and
 * session), by last use: as if they were one list.
 */
static struct flow *oldest_live(const struct flow_table *ft)
{
	struct flow *a = kt_tail(ft->kt, FLOW_OPEN);
	struct flow *b = kt_tail(ft->kt, FLOW_SESSION);
	if (!a || !b)
		return a ? a : b;
	return a->touch_seq <= b->touch_seq ? a : b;
}

static bool idle(const struct flow *f, uint64_t now_us, uint32_t timeout_s)
{
	return f && now_us > f->last_us &&
	       now_us - f->last_us > (uint64_t)timeout_s * 1000000u;
}

void flow_table_expire(struct flow_table *ft, uint64_t now_us,
		       void (*end_cb)(void *ud, struct flow *f, int why),
		       void *ud)
{
	struct flow *f;
	while (idle(f = oldest_live(ft), now_us, ft->cfg.idle_timeout_s))
		flow_table_end(ft, f, FLOW_END_TIMEOUT, end_cb, ud);
	while (idle(f = kt_tail(ft->kt, FLOW_CLOSED), now_us,
		    ft->cfg.closed_timeout_s))
		flow_table_end(ft, f, FLOW_END_CLOSED, end_cb, ud);
}

void flow_table_flush(struct flow_table *ft,
		      void (*end_cb)(void *ud, struct flow *f, int why),
		      void *ud)
{
	for (;;) {
		struct flow *a = oldest_live(ft), *b = kt_tail(ft->kt, FLOW_CLOSED);
		struct flow *f = !a ? b : !b ? a : (a->last_us <= b->last_us ? a : b);
		if (!f)
			break;
		flow_table_end(ft, f,
			       kt_list_of(f) == FLOW_CLOSED ? FLOW_END_CLOSED
							    : FLOW_END_EXIT,
			       end_cb, ud);
	}
}
