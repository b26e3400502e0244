/*
 * flow_table.c - a preallocated pool of flows in a chained hash table, with
 * two LRU lists (open and closed connections) ordered by last packet time so
 * expiry only looks at list tails. The table never grows: when the pool is
 * empty the least recently used flow is ended and counted.
 */
#include "net/flow_table.h"

#include <stdlib.h>
#include <string.h>

struct flow_table {
	struct flow_cfg cfg;
	struct flow *pool;
	struct flow *free_list;
	uint32_t pool_used; /* pool entries handed out at least once */
	struct flow **buckets;
	uint32_t mask;
	struct flow *head[2], *tail[2]; /* head: most recent */
	uint64_t next_id;
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
		ft->cfg.max_flows = n > UINT32_MAX ? UINT32_MAX : (n ? (uint32_t)n : 1);
	}
	cfg = &ft->cfg;
	uint32_t nb = 1024;
	while (nb < cfg->max_flows && nb < (1u << 30))
		nb <<= 1;
	ft->mask = nb - 1;
	ft->buckets = calloc(nb, sizeof(*ft->buckets));
	ft->pool = calloc(cfg->max_flows ? cfg->max_flows : 1, sizeof(*ft->pool));
	if (!ft->buckets || !ft->pool) {
		flow_table_free(ft);
		return NULL;
	}
	/* Entries are taken from the pool in order, so untouched ones cost no RSS. */
	return ft;
}

void flow_table_free(struct flow_table *ft)
{
	if (!ft)
		return;
	free(ft->buckets);
	free(ft->pool);
	free(ft);
}

const struct flow_stats *flow_table_stats(const struct flow_table *ft)
{
	return &ft->st;
}

/*
 * FNV-1a over both endpoints, symmetric in direction, and the VLAN ids:
 * the same addresses on two VLANs are two flows, as Suricata keys them.
 */
static uint32_t flow_hash(uint8_t family, const uint8_t *a, uint16_t pa,
			  const uint8_t *b, uint16_t pb, const uint16_t *vlan,
			  uint8_t vlan_n)
{
	size_t alen = family == 4 ? 4 : 16;
	uint32_t ha = 2166136261u, hb = 2166136261u;
	for (size_t i = 0; i < alen; i++) {
		ha = (ha ^ a[i]) * 16777619u;
		hb = (hb ^ b[i]) * 16777619u;
	}
	ha = (ha ^ pa) * 16777619u;
	hb = (hb ^ pb) * 16777619u;
	uint32_t h = (ha ^ hb) + (ha + hb) * 31u + family;
	for (uint8_t i = 0; i < vlan_n; i++)
		h = (h ^ vlan[i]) * 16777619u;
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}

static void lru_unlink(struct flow_table *ft, struct flow *f)
{
	int l = f->list;
	if (f->lprev)
		f->lprev->lnext = f->lnext;
	else
		ft->head[l] = f->lnext;
	if (f->lnext)
		f->lnext->lprev = f->lprev;
	else
		ft->tail[l] = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void lru_push(struct flow_table *ft, struct flow *f, int l)
{
	f->list = (uint8_t)l;
	f->lprev = NULL;
	f->lnext = ft->head[l];
	if (ft->head[l])
		ft->head[l]->lprev = f;
	else
		ft->tail[l] = f;
	ft->head[l] = f;
}

void flow_table_touch(struct flow_table *ft, struct flow *f, bool closed)
{
	lru_unlink(ft, f);
	lru_push(ft, f, closed ? 1 : 0);
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
	lru_unlink(ft, f);
	struct flow **pp = &ft->buckets[f->hash & ft->mask];
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	switch (why) {
	case FLOW_END_TIMEOUT: ft->st.timed_out++; break;
	case FLOW_END_CLOSED: ft->st.closed++; break;
	case FLOW_END_EVICTED: ft->st.evicted_lru++; break;
	case FLOW_END_EXIT: ft->st.ended_at_exit++; break;
	default: break;
	}
	memset(f, 0, sizeof(*f));
	f->hnext = ft->free_list;
	ft->free_list = f;
	ft->st.active--;
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
	uint32_t h = flow_hash(pkt->family, pkt->src, pkt->sport, pkt->dst,
			       pkt->dport, pkt->vlan, vn);
	*created = false;
	for (struct flow *f = ft->buckets[h & ft->mask]; f; f = f->hnext) {
		if (f->hash != h || f->family != pkt->family)
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
	if (!ft->free_list && ft->pool_used < ft->cfg.max_flows) {
		struct flow *n = &ft->pool[ft->pool_used++];
		n->hnext = NULL;
		ft->free_list = n;
	}
	if (!ft->free_list) {
		struct flow *victim = ft->tail[1] ? ft->tail[1] : ft->tail[0];
		if (!victim)
			return NULL;
		flow_table_end(ft, victim, FLOW_END_EVICTED, end_cb, ud);
	}
	struct flow *f = ft->free_list;
	ft->free_list = f->hnext;
	memset(f, 0, sizeof(*f));
	f->hash = h;
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
	f->hnext = ft->buckets[h & ft->mask];
	ft->buckets[h & ft->mask] = f;
	lru_push(ft, f, 0);
	ft->st.created++;
	ft->st.active++;
	if (ft->st.active > ft->st.peak)
		ft->st.peak = ft->st.active;
	*created = true;
	return f;
}

void flow_table_expire(struct flow_table *ft, uint64_t now_us,
		       void (*end_cb)(void *ud, struct flow *f, int why),
		       void *ud)
{
	for (int l = 0; l < 2; l++) {
		uint64_t tmo = (uint64_t)(l ? ft->cfg.closed_timeout_s
					    : ft->cfg.idle_timeout_s) * 1000000u;
		while (ft->tail[l] && now_us > ft->tail[l]->last_us &&
		       now_us - ft->tail[l]->last_us > tmo)
			flow_table_end(ft, ft->tail[l],
				       l ? FLOW_END_CLOSED : FLOW_END_TIMEOUT,
				       end_cb, ud);
	}
}

void flow_table_flush(struct flow_table *ft,
		      void (*end_cb)(void *ud, struct flow *f, int why),
		      void *ud)
{
	for (;;) {
		struct flow *a = ft->tail[0], *b = ft->tail[1];
		struct flow *f = !a ? b : !b ? a : (a->last_us <= b->last_us ? a : b);
		if (!f)
			break;
		flow_table_end(ft, f, f->list ? FLOW_END_CLOSED : FLOW_END_EXIT,
			       end_cb, ud);
	}
}
