/*
 * sensor_inventory.c - the device inventory (issue 5 §5; seed 001's
 * "distinct MAC addresses"): learns which (MAC, IP, client id, username)
 * combinations the MQTT clients use during a learning period, or loads
 * them from a file, and afterwards reports new MACs, new IPs, new client
 * ids, known client ids at new addresses and known IPs behind a new MAC.
 *
 * The inventory is a table of rows, one per (client id, IP, MAC) seen
 * together; any of the three may be absent. The rows live in a keyed
 * table (util/ktable.h, "inventory_devices") indexed by the whole tuple,
 * so a message from a known device costs one tuple lookup and allocates
 * nothing. Three more chained indexes over the same rows (client id, IP,
 * MAC; bucket arrays under the table's seeded hash) find the rows that
 * share one of the three. Rows learned or loaded from a file are on the
 * table's LEARNED list, which nothing evicts; rows created after the
 * learning period (each reported once) are on the NEW list, in LRU order,
 * and the oldest gives way when the table is full. Docs: docs/sensors.md,
 * "Device inventory".
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor_inventory.h"
#include "util/timefmt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/file.h"
#include "util/jw.h"
#include "util/ktable.h"
#include "util/rd.h"

#define INV_NAME_MAX 64          /* bytes of an operator's device name */
#define INV_MAX_GATEWAYS 64      /* MACs remembered as gateways */
#define INV_REPORT_ADDRS 8       /* known_addresses in one report */
#define INV_MAX_DEVICES 262144   /* max-devices cap (about 100 MB) */
#define INV_DEFAULT_DEVICES 4096
#define INV_DEFAULT_GW_IPS 4
#define INV_LOAD_MSGS 20         /* messages per load before a summary */
#define INV_MAX_US 253402300799999999ull /* 9999-12-31T23:59:59.999999Z */

/* The secondary indexes: rows by one part of their key. */
enum inv_ix { IX_CID = 0, IX_IP, IX_MAC, IX__N };

/*
 * The table's lists: NEW (rows made after the learning period; the only
 * evictable list, least recently seen first out) and LEARNED (learned or
 * loaded rows; never evicted, kept in the order they were added).
 */
enum inv_list { L_NEW = 0, L_LEARNED, L__N };

enum inv_mac_mode { INV_MAC_AUTO = 0, INV_MAC_YES, INV_MAC_NO };

struct inv_row {
	struct kt_node node;           /* by (client id, IP, MAC), in inv->kt */
	uint8_t family;                /* 4, 6; 0: no address */
	bool has_mac;
	bool learned;                  /* on L_LEARNED; false: on L_NEW, reported as new */
	uint8_t mac[6];
	uint8_t a[16];
	char cid[SENSOR_ID_MAX + 1];   /* "" when not known */
	char user[SENSOR_ID_MAX + 1];
	char name[INV_NAME_MAX + 1];   /* from the file; "" otherwise */
	uint64_t first, last;          /* event time, us; 0: not known (file) */
	struct inv_row *next[IX__N];   /* chains of the secondary indexes */
};

/* One client message reduced to what the inventory keys on. */
struct inv_obs {
	char cid[SENSOR_ID_MAX + 1];
	char user[SENSOR_ID_MAX + 1];
	uint8_t family;
	uint8_t a[16];
	bool has_mac;
	uint8_t mac[6];
	uint64_t ts;
};

struct inv {
	void (*report)(void *ud, const struct sensor_report *r);
	void *ud;
	FILE *log;
	bool enabled;
	enum inv_mac_mode mac_mode;
	uint32_t gw_ips;
	uint64_t learn_us;
	bool started;
	uint64_t learn_start;
	bool full_reported;

	struct ktable *kt;             /* the rows, by tuple */
	uint32_t max;
	uint32_t mask;                 /* buckets per secondary index - 1 */
	struct inv_row **b[IX__N];

	uint8_t gw[INV_MAX_GATEWAYS][6];
	uint32_t n_gw;

	struct inventory_stats st;
	struct jw w;                   /* report meta; warmed up, then no allocation */
};

/* ---- keys and hashes ---- */

static size_t addr_len(uint8_t family)
{
	return family == 4 ? 4 : family == 6 ? 16 : 0;
}

static bool addr_eq(uint8_t fa, const uint8_t *a, uint8_t fb, const uint8_t *b)
{
	return fa == fb && memcmp(a, b, addr_len(fa)) == 0;
}

/* All hashes are the table's (SipHash under the process's secret key). */
static uint32_t hash_cid(const struct inv *inv, const char *cid)
{
	return kt_hash(inv->kt, cid, strlen(cid));
}

static uint32_t hash_ip(const struct inv *inv, uint8_t family, const uint8_t *a)
{
	uint8_t k[17];
	k[0] = family;
	memcpy(k + 1, a, addr_len(family));
	return kt_hash(inv->kt, k, 1 + addr_len(family));
}

static uint32_t hash_mac(const struct inv *inv, const uint8_t *mac)
{
	return kt_hash(inv->kt, mac, 6);
}

/* The whole key: client id, its NUL, family, address, MAC flag and MAC. */
static uint32_t hash_tuple(const struct inv *inv, const char *cid, uint8_t family,
			   const uint8_t *a, bool has_mac, const uint8_t *mac)
{
	uint8_t k[SENSOR_ID_MAX + 1 + 1 + 16 + 1 + 6];
	size_t n = strnlen(cid, SENSOR_ID_MAX);
	memcpy(k, cid, n);
	k[n++] = 0;
	k[n++] = family;
	memcpy(k + n, a, addr_len(family));
	n += addr_len(family);
	k[n++] = has_mac;
	if (has_mac) {
		memcpy(k + n, mac, 6);
		n += 6;
	}
	return kt_hash(inv->kt, k, n);
}

/* ---- the table ---- */

static bool row_in(const struct inv_row *r, enum inv_ix ix)
{
	switch (ix) {
	case IX_CID: return r->cid[0] != 0;
	case IX_IP: return r->family != 0;
	case IX_MAC: return r->has_mac;
	default: return false;
	}
}

/* The first row of secondary index ix's bucket for hash h (walk with next[ix]). */
static struct inv_row **chain(const struct inv *inv, enum inv_ix ix, uint32_t h)
{
	return &inv->b[ix][h & inv->mask];
}

static struct inv_row **row_chain(const struct inv *inv, const struct inv_row *r,
				  enum inv_ix ix)
{
	uint32_t h = ix == IX_CID ? hash_cid(inv, r->cid)
		   : ix == IX_IP ? hash_ip(inv, r->family, r->a)
				 : hash_mac(inv, r->mac);
	return chain(inv, ix, h);
}

static void ix_link(struct inv *inv, struct inv_row *r, enum inv_ix ix)
{
	if (!row_in(r, ix))
		return;
	struct inv_row **b = row_chain(inv, r, ix);
	r->next[ix] = *b;
	*b = r;
}

/* The link that points at r in chain ix (r must be in index ix). */
static struct inv_row **ix_link_of(const struct inv *inv, struct inv_row *r, enum inv_ix ix)
{
	struct inv_row **pp = row_chain(inv, r, ix);
	while (*pp && *pp != r)
		pp = &(*pp)->next[ix];
	return pp;
}

static void ix_unlink(struct inv *inv, struct inv_row *r, enum inv_ix ix)
{
	if (!row_in(r, ix))
		return;
	struct inv_row **pp = ix_link_of(inv, r, ix);
	if (*pp)
		*pp = r->next[ix];
	r->next[ix] = NULL;
}

/* Takes r out of the indexes and the table; evicted: for a newcomer. */
static void row_release(struct inv *inv, struct inv_row *r, int evicted)
{
	for (int ix = 0; ix < IX__N; ix++)
		ix_unlink(inv, r, (enum inv_ix)ix);
	kt_remove(inv->kt, r, evicted);
}

/* The contents of a row (everything but the table's node and the chains). */
static void row_copy(struct inv_row *d, const struct inv_row *s)
{
	d->family = s->family;
	d->has_mac = s->has_mac;
	d->learned = s->learned;
	memcpy(d->mac, s->mac, sizeof(d->mac));
	memcpy(d->a, s->a, sizeof(d->a));
	memcpy(d->cid, s->cid, sizeof(d->cid));
	memcpy(d->user, s->user, sizeof(d->user));
	memcpy(d->name, s->name, sizeof(d->name));
	d->first = s->first;
	d->last = s->last;
}

static uint32_t row_hash(const struct inv *inv, const struct inv_row *r)
{
	return hash_tuple(inv, r->cid, r->family, r->a, r->has_mac, r->mac);
}

/*
 * A new row with t's contents (its key not in the table), in every index
 * and on its list (LEARNED or NEW by t->learned). When the table is full,
 * the least recently seen NEW row is evicted for it. Returns the row, or
 * NULL when every row is learned (refused: counted in the table; the
 * caller counts it too).
 */
static struct inv_row *row_add(struct inv *inv, const struct inv_row *t)
{
	struct inv_row *v = kt_victim(inv->kt);
	if (v) {
		row_release(inv, v, 1);
		inv->st.evicted++;
	}
	struct inv_row *r = kt_insert(inv->kt, row_hash(inv, t), t->learned ? L_LEARNED : L_NEW, 0);
	if (!r) {
		kt_refused(inv->kt);
		return NULL;
	}
	row_copy(r, t);
	for (int ix = 0; ix < IX__N; ix++)
		ix_link(inv, r, (enum inv_ix)ix);
	return r;
}

/*
 * Gives row r (which has no client id) the client id cid, and user when
 * it has no username. The key changes, so the row is taken out of the
 * table and put back (new list head); it keeps its place in the IP and
 * MAC chains and joins the client id chain at its head. Returns the row.
 */
static struct inv_row *row_set_cid(struct inv *inv, struct inv_row *r, const char *cid,
				   const char *user)
{
	struct inv_row t;
	memset(&t, 0, sizeof(t));
	row_copy(&t, r);
	snprintf(t.cid, sizeof(t.cid), "%s", cid);
	if (!t.user[0])
		snprintf(t.user, sizeof(t.user), "%s", user);
	/* The links that point at r never lie in r itself, so they survive it. */
	struct inv_row **at[IX__N] = { NULL, NULL, NULL };
	struct inv_row *after[IX__N] = { NULL, NULL, NULL };
	for (int ix = IX_IP; ix <= IX_MAC; ix++) {
		if (!row_in(r, (enum inv_ix)ix))
			continue;
		at[ix] = ix_link_of(inv, r, (enum inv_ix)ix);
		after[ix] = r->next[ix];
	}
	kt_remove(inv->kt, r, 0);
	/* A slot was just freed: this cannot fail. */
	struct inv_row *n = kt_insert(inv->kt, row_hash(inv, &t), t.learned ? L_LEARNED : L_NEW, 0);
	row_copy(n, &t);
	for (int ix = IX_IP; ix <= IX_MAC; ix++) {
		if (!at[ix] || !*at[ix])
			continue;
		*at[ix] = n;
		n->next[ix] = after[ix];
	}
	ix_link(inv, n, IX_CID);
	return n;
}

static struct inv_row *find_tuple(const struct inv *inv, const char *cid, uint8_t family,
				  const uint8_t *a, bool has_mac, const uint8_t *mac)
{
	uint32_t h = hash_tuple(inv, cid, family, a, has_mac, mac);
	for (struct inv_row *r = kt_first(inv->kt, h); r; r = kt_next(inv->kt, r)) {
		if (kt_hash_of(r) == h && r->has_mac == has_mac &&
		    addr_eq(r->family, r->a, family, a) && (!has_mac || !memcmp(r->mac, mac, 6)) &&
		    !strcmp(r->cid, cid))
			return r;
	}
	return NULL;
}

static void row_touch(struct inv *inv, struct inv_row *r, uint64_t ts)
{
	if (!r->first || ts < r->first)
		r->first = ts;
	if (ts > r->last)
		r->last = ts;
	if (!r->learned)
		kt_touch(inv->kt, r);
}

static bool is_gateway(const struct inv *inv, const uint8_t *mac)
{
	for (uint32_t i = 0; i < inv->n_gw; i++)
		if (!memcmp(inv->gw[i], mac, 6))
			return true;
	return false;
}

static void add_gateway(struct inv *inv, const uint8_t *mac)
{
	if (is_gateway(inv, mac) || inv->n_gw >= INV_MAX_GATEWAYS)
		return;
	memcpy(inv->gw[inv->n_gw++], mac, 6);
}

/* ---- text forms ---- */

static void fmt_mac(char out[18], const uint8_t *mac)
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "aa:bb:cc:dd:ee:ff" (or '-' separated, any case) into mac; 0 or -1. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return -1;
	char sep = s[2];
	if (sep != ':' && sep != '-')
		return -1;
	for (int i = 0; i < 6; i++) {
		int hi = hexval((unsigned char)s[i * 3]), lo = hexval((unsigned char)s[i * 3 + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != sep))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void fmt_ip(char out[SENSOR_ADDR_STR], uint8_t family, const uint8_t *a)
{
	out[0] = 0;
	if (family == 4)
		inet_ntop(AF_INET, a, out, SENSOR_ADDR_STR);
	else if (family == 6)
		inet_ntop(AF_INET6, a, out, SENSOR_ADDR_STR);
}

static int parse_ip(const char *s, uint8_t *family, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1) {
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a) == 1) {
		*family = 6;
		return 0;
	}
	return -1;
}

static int digits(const char **p, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

/*
 * A timestamp of the file format: ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS" with
 * optional fraction and "Z" or "+00:00", or a JSON number of seconds since
 * the epoch. 0 with *us set, or -1.
 */
static int parse_time(const cJSON *n, uint64_t *us)
{
	if (cJSON_IsNumber(n)) {
		double v = n->valuedouble;
		if (!isfinite(v) || v < 0 || v > (double)(INV_MAX_US / 1000000u))
			return -1;
		*us = (uint64_t)llround(v * 1e6);
		return 0;
	}
	if (!cJSON_IsString(n))
		return -1;
	const char *p = n->valuestring;
	unsigned y, mo, d, h, mi, s, frac = 0;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	    digits(&p, 2, &s))
		return -1;
	if (*p == '.') {
		p++;
		int nd = 0;
		while (isdigit((unsigned char)*p)) {
			if (nd < 6)
				frac = frac * 10 + (unsigned)(*p - '0');
			nd++;
			p++;
		}
		if (!nd)
			return -1;
		for (; nd < 6; nd++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (!strcmp(p, "+00:00"))
		p += 6;
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || s > 60)
		return -1;
	int64_t days = timefmt_days_from_civil(y, mo, d);
	*us = ((uint64_t)days * 86400u + h * 3600u + mi * 60u + s) * 1000000u + frac;
	return 0;
}

/* A client-supplied string made safe for a one-line detail: printable ASCII, cut. */
static void safe_text(char *out, size_t cap, const char *s)
{
	size_t o = 0, max = cap > 4 ? cap - 4 : 0;
	for (; *s && o < max; s++)
		out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (*s && cap >= 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
}

/* ---- reports ---- */

enum inv_event {
	EV_NEW_MAC,
	EV_NEW_IP,
	EV_NEW_CLIENT_ID,
	EV_CLIENT_ID_NEW_ADDRESS,
	EV_MAC_IP_CHANGED,
	EV_FULL,
};

static const char *const event_names[] = {
	[EV_NEW_MAC] = "new_mac",
	[EV_NEW_IP] = "new_ip",
	[EV_NEW_CLIENT_ID] = "new_client_id",
	[EV_CLIENT_ID_NEW_ADDRESS] = "client_id_new_address",
	[EV_MAC_IP_CHANGED] = "mac_ip_changed",
	[EV_FULL] = "inventory_full",
};

/* What a binding event adds: the rows it compared against. */
struct inv_ctx {
	const uint8_t *prev_mac;                   /* mac_ip_changed */
	uint32_t n_known;                          /* client_id_new_address */
	uint8_t known_fam[INV_REPORT_ADDRS];
	uint8_t known[INV_REPORT_ADDRS][16];
	bool known_more;
};

/*
 * Reports one event about observation o, which arose from message m. The
 * meta text is built in inv->w, which keeps its buffer, and the detail on
 * the stack; client ids and usernames in the detail are cut to printable
 * ASCII. Nothing the client sent as a secret is in either.
 */
static void inv_report(struct inv *inv, const struct sensor_msg *m, const struct inv_obs *o,
		       enum inv_event ev, const struct inv_ctx *c)
{
	char ip[SENSOR_ADDR_STR] = "", mac[18] = "", pmac[18] = "";
	char cid[72], user[72], detail[320];
	fmt_ip(ip, o->family, o->a);
	if (o->has_mac)
		fmt_mac(mac, o->mac);
	if (c && c->prev_mac)
		fmt_mac(pmac, c->prev_mac);
	safe_text(cid, sizeof(cid), o->cid);
	safe_text(user, sizeof(user), o->user);

	struct jw *w = &inv->w;
	jw_reset(w);
	if (o->has_mac)
		jw_cstr(w, "mac", mac);
	if (o->family)
		jw_cstr(w, "ip", ip);
	if (o->cid[0])
		jw_str(w, "client_id", (const uint8_t *)o->cid, strlen(o->cid));
	if (o->user[0])
		jw_str(w, "username", (const uint8_t *)o->user, strlen(o->user));

	const char *where = ip[0] ? ip : "(no address)";
	char macp[24] = "";
	if (mac[0])
		snprintf(macp, sizeof(macp), " (%s)", mac);
	char cidp[96] = "";
	if (cid[0])
		snprintf(cidp, sizeof(cidp), " client id %s", cid);

	switch (ev) {
	case EV_NEW_MAC:
		snprintf(detail, sizeof(detail), "new MAC %s at %s%s", mac, where, cidp);
		break;
	case EV_NEW_IP:
		snprintf(detail, sizeof(detail), "new device %s%s%s", where, macp, cidp);
		break;
	case EV_NEW_CLIENT_ID:
		snprintf(detail, sizeof(detail), "new client id %s from %s%s", cid, where, macp);
		break;
	case EV_CLIENT_ID_NEW_ADDRESS: {
		char first[SENSOR_ADDR_STR] = "";
		jw_open_arr(w, "known_addresses");
		for (uint32_t i = 0; c && i < c->n_known; i++) {
			char k[SENSOR_ADDR_STR];
			fmt_ip(k, c->known_fam[i], c->known[i]);
			if (!i)
				snprintf(first, sizeof(first), "%s", k);
			jw_cstr(w, NULL, k);
		}
		jw_close_arr(w);
		if (c && c->known_more)
			jw_bool(w, "known_addresses_truncated", true);
		snprintf(detail, sizeof(detail), "known client id %s from new address %s%s (known at %s%s)",
			 cid, where, macp, first[0] ? first : "-",
			 c && c->n_known > 1 ? ", ..." : "");
		break;
	}
	case EV_MAC_IP_CHANGED:
		jw_cstr(w, "previous_mac", pmac);
		snprintf(detail, sizeof(detail), "known address %s now at MAC %s, was %s%s", where,
			 mac, pmac, cidp);
		break;
	case EV_FULL:
		jw_uint(w, "max_devices", inv->max);
		snprintf(detail, sizeof(detail),
			 "device inventory full (%u learned devices); new devices are not remembered",
			 inv->max);
		break;
	}

	struct sensor_report r = {
		.base = m->ev,
		.ts_us = m->ts_us,
		.addr = &m->client,
		.layer = "inventory",
		.event = event_names[ev],
		.detail = detail,
		.meta = w->oom ? NULL : w->buf,
		.meta_len = w->oom ? 0 : w->len,
	};
	inv->st.reports++;
	if (inv->report)
		inv->report(inv->ud, &r);
}

/* ---- observing messages ---- */

static bool learning(const struct inv *inv, uint64_t ts)
{
	if (!inv->learn_us)
		return false;
	if (ts < inv->learn_start)
		return true;
	return ts - inv->learn_start < inv->learn_us;
}

/* Whether row r agrees with everything o says (what o lacks matches anything). */
static bool row_fits(const struct inv_row *r, const struct inv_obs *o)
{
	if (o->cid[0] && strcmp(r->cid, o->cid))
		return false;
	if (o->family && !addr_eq(r->family, r->a, o->family, o->a))
		return false;
	if (o->has_mac && (!r->has_mac || memcmp(r->mac, o->mac, 6)))
		return false;
	return true;
}

/*
 * For an observation that lacks a client id or an address (a stream picked
 * up midway, a source without addresses): a row it fits, found through
 * the address or the client id chain, or NULL.
 */
static struct inv_row *find_partial(const struct inv *inv, const struct inv_obs *o)
{
	enum inv_ix ix = o->family ? IX_IP : IX_CID;
	uint32_t h = o->family ? hash_ip(inv, o->family, o->a) : hash_cid(inv, o->cid);
	for (struct inv_row *r = *chain(inv, ix, h); r; r = r->next[ix])
		if (row_fits(r, o)) /* checks the key of chain ix */
			return r;
	return NULL;
}

/* Counts distinct addresses (up to cap) of rows with mac other than (fam, a). */
static uint32_t mac_other_ips(const struct inv *inv, const uint8_t *mac, uint8_t fam,
			      const uint8_t *a, uint32_t cap)
{
	uint8_t seen_f[INV_MAX_GATEWAYS + 1];
	uint8_t seen[INV_MAX_GATEWAYS + 1][16];
	uint32_t n = 0;
	for (const struct inv_row *r = *chain(inv, IX_MAC, hash_mac(inv, mac)); r && n < cap;
	     r = r->next[IX_MAC]) {
		if (!r->has_mac || memcmp(r->mac, mac, 6) || !r->family ||
		    addr_eq(r->family, r->a, fam, a))
			continue;
		bool dup = false;
		for (uint32_t k = 0; k < n && !dup; k++)
			dup = addr_eq(seen_f[k], seen[k], r->family, r->a);
		if (dup)
			continue;
		seen_f[n] = r->family;
		memcpy(seen[n], r->a, 16);
		n++;
	}
	return n;
}

/*
 * The slow path: o matched no row. Works out what is new about it,
 * reports that when the learning period is over, and remembers o (a new
 * row, or the client id filled into a row that had none) so each new
 * thing is reported once.
 */
static void observe_new(struct inv *inv, const struct sensor_msg *m, struct inv_obs *o)
{
	bool learn = learning(inv, o->ts);

	/* mac: auto - a MAC in front of many addresses is a router. */
	if (o->has_mac && inv->mac_mode == INV_MAC_AUTO && o->family &&
	    mac_other_ips(inv, o->mac, o->family, o->a, inv->gw_ips) >= inv->gw_ips) {
		add_gateway(inv, o->mac);
		o->has_mac = false;
		struct inv_row *r = o->cid[0] ? find_tuple(inv, o->cid, o->family, o->a, false, NULL)
					       : find_partial(inv, o);
		if (r) {
			row_touch(inv, r, o->ts);
			return;
		}
	}

	bool known_mac = false, known_ip = false, known_cid = false, cid_at_ip = false;
	bool ip_had_mac = false, ip_mac_known = false;
	struct inv_row *upgrade = NULL;
	const struct inv_row *prev = NULL;
	struct inv_ctx c;
	memset(&c, 0, sizeof(c));

	if (o->has_mac) {
		for (const struct inv_row *r = *chain(inv, IX_MAC, hash_mac(inv, o->mac));
		     r && !known_mac; r = r->next[IX_MAC])
			known_mac = !memcmp(r->mac, o->mac, 6);
	}
	if (o->family) {
		for (struct inv_row *r = *chain(inv, IX_IP, hash_ip(inv, o->family, o->a)); r;
		     r = r->next[IX_IP]) {
			if (!addr_eq(r->family, r->a, o->family, o->a))
				continue;
			known_ip = true;
			if (r->has_mac) {
				ip_had_mac = true;
				if (o->has_mac && !memcmp(r->mac, o->mac, 6))
					ip_mac_known = true;
				else if (!prev || r->last > prev->last)
					prev = r;
			}
			if (o->cid[0] && !r->cid[0] && r->has_mac == o->has_mac &&
			    (!o->has_mac || !memcmp(r->mac, o->mac, 6)))
				upgrade = r;
		}
	}
	if (o->cid[0]) {
		for (const struct inv_row *r = *chain(inv, IX_CID, hash_cid(inv, o->cid)); r;
		     r = r->next[IX_CID]) {
			if (strcmp(r->cid, o->cid))
				continue;
			known_cid = true;
			if (!r->family)
				continue;
			if (o->family && addr_eq(r->family, r->a, o->family, o->a)) {
				cid_at_ip = true;
				continue;
			}
			bool dup = false;
			for (uint32_t k = 0; k < c.n_known && !dup; k++)
				dup = addr_eq(c.known_fam[k], c.known[k], r->family, r->a);
			if (dup)
				continue;
			if (c.n_known < INV_REPORT_ADDRS) {
				c.known_fam[c.n_known] = r->family;
				memcpy(c.known[c.n_known], r->a, 16);
				c.n_known++;
			} else {
				c.known_more = true;
			}
		}
	}

	if (!learn) {
		if (o->has_mac && !known_mac)
			inv_report(inv, m, o, EV_NEW_MAC, NULL);
		if (o->family && !known_ip)
			inv_report(inv, m, o, EV_NEW_IP, NULL);
		if (o->cid[0] && !known_cid)
			inv_report(inv, m, o, EV_NEW_CLIENT_ID, NULL);
		if (o->cid[0] && known_cid && o->family && !cid_at_ip && c.n_known)
			inv_report(inv, m, o, EV_CLIENT_ID_NEW_ADDRESS, &c);
		if (o->has_mac && ip_had_mac && !ip_mac_known && prev) {
			struct inv_ctx pc;
			memset(&pc, 0, sizeof(pc));
			pc.prev_mac = prev->mac;
			inv_report(inv, m, o, EV_MAC_IP_CHANGED, &pc);
		}
	}

	/* A midstream row of this address and MAC gets its client id. */
	if (upgrade && !find_tuple(inv, o->cid, o->family, o->a, o->has_mac, o->mac)) {
		struct inv_row *r = row_set_cid(inv, upgrade, o->cid, o->user);
		row_touch(inv, r, o->ts);
		return;
	}

	struct inv_row t;
	memset(&t, 0, sizeof(t));
	memcpy(t.cid, o->cid, sizeof(t.cid));
	memcpy(t.user, o->user, sizeof(t.user));
	t.family = o->family;
	memcpy(t.a, o->a, 16);
	t.has_mac = o->has_mac;
	memcpy(t.mac, o->mac, 6);
	t.learned = learn;
	t.first = t.last = o->ts;
	if (!row_add(inv, &t)) {
		inv->st.refused++;
		if (!learn && !inv->full_reported) {
			inv->full_reported = true;
			inv_report(inv, m, o, EV_FULL, NULL);
		}
	}
}

/*
 * Every decoded message: the first one starts the learning period; client
 * messages are looked up (CONNECT gives the client id and username, later
 * messages the session's). A known device costs one tuple lookup.
 */
static void inv_on_msg(void *state, const struct sensor_msg *m)
{
	struct inv *inv = state;
	if (!inv || !inv->enabled || !m)
		return;
	if (!inv->started) {
		inv->started = true;
		inv->learn_start = m->ts_us;
	}
	if (!m->from_client)
		return;

	struct inv_obs o;
	o.ts = m->ts_us;
	if (m->m && m->m->type == MQTT_CONNECT) {
		sensor_copy_bytes(o.cid, sizeof(o.cid), m->m->client_id.p, m->m->client_id.len);
		if (m->m->has_username)
			sensor_copy_bytes(o.user, sizeof(o.user), m->m->username.p, m->m->username.len);
		else
			o.user[0] = 0;
	} else {
		sensor_copy_str(o.cid, sizeof(o.cid), m->client_id);
		sensor_copy_str(o.user, sizeof(o.user), m->username);
	}
	o.family = (m->client.family == 4 || m->client.family == 6) ? m->client.family : 0;
	memset(o.a, 0, sizeof(o.a));
	memcpy(o.a, m->client.a, addr_len(o.family));
	o.has_mac = m->client.has_mac && inv->mac_mode != INV_MAC_NO;
	memset(o.mac, 0, sizeof(o.mac));
	if (o.has_mac)
		memcpy(o.mac, m->client.mac, 6);
	if (!o.family && !o.cid[0])
		return;
	bool gw = o.has_mac && inv->n_gw && is_gateway(inv, o.mac);
	if (gw)
		o.has_mac = false;

	inv->st.msgs++;
	struct inv_row *r = find_tuple(inv, o.cid, o.family, o.a, o.has_mac, o.mac);
	if (!r && gw) /* rows from before the MAC was seen to be a gateway */
		r = find_tuple(inv, o.cid, o.family, o.a, true, m->client.mac);
	if (!r && (!o.cid[0] || !o.family))
		r = find_partial(inv, &o);
	if (r) {
		if (!r->user[0] && o.user[0])
			memcpy(r->user, o.user, sizeof(r->user));
		row_touch(inv, r, o.ts);
		inv->st.fast++;
		return;
	}
	inv->st.slow++;
	observe_new(inv, m, &o);
}

/* ---- loading entries (file, state, export) ---- */

struct inv_load {
	struct inv *inv;
	FILE *log;
	const char *name;
	const uint32_t *lines;     /* line of each entry, or NULL */
	uint32_t n_lines;
	bool strict;               /* a file: strings must be UTF-8 */
	bool default_learned;
	uint32_t msgs, dropped_msgs;
	uint32_t loaded, bad, refused;
};

static void load_msg(struct inv_load *l, int idx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "NAME:LINE: entry N: text" on the log, at most INV_LOAD_MSGS times per load. */
static void load_msg(struct inv_load *l, int idx, const char *fmt, ...)
{
	if (l->msgs >= INV_LOAD_MSGS) {
		l->dropped_msgs++;
		return;
	}
	l->msgs++;
	if (!l->log)
		return;
	char text[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (idx >= 0 && l->lines && (uint32_t)idx < l->n_lines)
		fprintf(l->log, "%s:%u: entry %d: %s\n", l->name, l->lines[idx], idx + 1, text);
	else if (idx >= 0)
		fprintf(l->log, "%s: entry %d: %s\n", l->name, idx + 1, text);
	else
		fprintf(l->log, "%s: %s\n", l->name, text);
}

/* A string member: 0 (absent or copied), -1 (reported). */
static int load_str(struct inv_load *l, int idx, const cJSON *e, const char *key, char *dst,
		    size_t cap)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, key);
	dst[0] = 0;
	if (!n || cJSON_IsNull(n))
		return 0;
	if (!cJSON_IsString(n) || !n->valuestring) {
		load_msg(l, idx, "%s: expected a string", key);
		return -1;
	}
	size_t len = strlen(n->valuestring);
	if (len >= cap) {
		load_msg(l, idx, "%s: %zu bytes, longer than the limit of %zu", key, len, cap - 1);
		return -1;
	}
	if (l->strict && utf8_check((const uint8_t *)n->valuestring, len) != UTF8_OK) {
		load_msg(l, idx, "%s: not valid UTF-8", key);
		return -1;
	}
	memcpy(dst, n->valuestring, len + 1);
	return 0;
}

static const char *const entry_keys[] = {
	"mac", "ip", "client_id", "username", "name", "first_seen", "last_seen", "learned",
};

/*
 * One entry (a device object) into the table: a new row, or merged into
 * the row with the same (client id, IP, MAC): first seen the earliest,
 * last seen the latest, learned if either is, name and username kept
 * unless empty. Problems are reported and the entry skipped.
 */
static void load_entry(struct inv_load *l, int idx, const cJSON *e)
{
	struct inv *inv = l->inv;
	struct inv_row t;
	memset(&t, 0, sizeof(t));
	if (!cJSON_IsObject(e)) {
		load_msg(l, idx, "not an object");
		l->bad++;
		return;
	}
	for (const cJSON *k = e->child; k; k = k->next) {
		bool ok = false;
		for (size_t j = 0; j < sizeof(entry_keys) / sizeof(entry_keys[0]) && !ok; j++)
			ok = k->string && !strcmp(k->string, entry_keys[j]);
		if (!ok) {
			char kb[40];
			safe_text(kb, sizeof(kb), k->string ? k->string : "");
			load_msg(l, idx, "unknown key '%s' ignored", kb);
		}
	}
	char mac[40], ip[SENSOR_ADDR_STR + 8];
	if (load_str(l, idx, e, "mac", mac, sizeof(mac)) ||
	    load_str(l, idx, e, "ip", ip, sizeof(ip)) ||
	    load_str(l, idx, e, "client_id", t.cid, sizeof(t.cid)) ||
	    load_str(l, idx, e, "username", t.user, sizeof(t.user)) ||
	    load_str(l, idx, e, "name", t.name, sizeof(t.name)))
		goto bad;
	if (mac[0]) {
		if (parse_mac(mac, t.mac)) {
			char sb[40];
			safe_text(sb, sizeof(sb), mac);
			load_msg(l, idx, "mac: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", sb);
			goto bad;
		}
		t.has_mac = true;
	}
	if (ip[0] && parse_ip(ip, &t.family, t.a)) {
		char sb[64];
		safe_text(sb, sizeof(sb), ip);
		load_msg(l, idx, "ip: '%s' is not an IPv4 or IPv6 address", sb);
		goto bad;
	}
	if (!t.has_mac && !t.family && !t.cid[0]) {
		load_msg(l, idx, "needs at least one of mac, ip and client_id");
		goto bad;
	}
	static const char *const tkeys[2] = { "first_seen", "last_seen" };
	uint64_t *tv[2] = { &t.first, &t.last };
	for (int j = 0; j < 2; j++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, tkeys[j]);
		if (n && !cJSON_IsNull(n) && (parse_time(n, tv[j]) || *tv[j] > INV_MAX_US)) {
			load_msg(l, idx, "%s: expected a UTC time such as 2024-05-01T10:00:00Z or seconds since 1970", tkeys[j]);
			goto bad;
		}
	}
	if (t.first && t.last && t.last < t.first) {
		load_msg(l, idx, "last_seen is before first_seen; using first_seen");
		t.last = t.first;
	}
	if (!t.last)
		t.last = t.first;
	t.learned = l->default_learned;
	const cJSON *ln = cJSON_GetObjectItemCaseSensitive(e, "learned");
	if (ln) {
		if (!cJSON_IsBool(ln)) {
			load_msg(l, idx, "learned: expected true or false");
			goto bad;
		}
		t.learned = cJSON_IsTrue(ln);
	}

	struct inv_row *r = find_tuple(inv, t.cid, t.family, t.a, t.has_mac, t.mac);
	if (r) {
		if (t.first && (!r->first || t.first < r->first))
			r->first = t.first;
		if (t.last > r->last)
			r->last = t.last;
		if (!r->name[0])
			memcpy(r->name, t.name, sizeof(r->name));
		if (!r->user[0])
			memcpy(r->user, t.user, sizeof(r->user));
		if (t.learned && !r->learned) {
			kt_move(inv->kt, r, L_LEARNED); /* no cap: never overflows */
			r->learned = true;
		}
		l->loaded++;
		return;
	}
	if (!row_add(inv, &t)) {
		if (!l->refused)
			load_msg(l, idx, "the inventory is full (max-devices %u); this and later new entries are dropped", inv->max);
		l->refused++;
		inv->st.refused++;
		return;
	}
	l->loaded++;
	return;
bad:
	l->bad++;
}

static void load_array(struct inv_load *l, const cJSON *arr)
{
	int idx = 0;
	for (const cJSON *e = arr->child; e; e = e->next, idx++)
		load_entry(l, idx, e);
	if (l->dropped_msgs && l->log)
		fprintf(l->log, "%s: %u more problems not shown\n", l->name, l->dropped_msgs);
}

/*
 * The line each element of the top-level array starts on, found by a
 * small scan of the text (cJSON keeps no positions). Returns a malloc'd
 * array of *n lines, or NULL (then messages name only the entry number).
 */
static uint32_t *entry_lines(const char *buf, size_t len, uint32_t *n)
{
	size_t cap = 64;
	uint32_t *v = malloc(cap * sizeof(*v));
	uint32_t line = 1, depth = 0;
	bool in_str = false, esc = false, want = false;
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '\n')
			line++;
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (depth == 1 && want && ch != ']') {
			if (*n == cap) {
				if (cap > (1u << 26))
					break;
				uint32_t *nv = realloc(v, cap * 2 * sizeof(*v));
				if (!nv)
					break;
				v = nv;
				cap *= 2;
			}
			v[(*n)++] = line;
			want = false;
		}
		if (ch == '"')
			in_str = true;
		else if (ch == '[' || ch == '{') {
			depth++;
			if (depth == 1)
				want = true;
		} else if (ch == ']' || ch == '}') {
			if (depth)
				depth--;
		} else if (ch == ',' && depth == 1)
			want = true;
	}
	return v;
}

int inventory_load_buffer(void *state, const char *name, const char *buf, size_t len, FILE *log)
{
	struct inv *inv = state;
	if (!inv || !buf)
		return -1;
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (doc && end >= buf && end <= buf + len) {
		/* cJSON stops after the first value: only white space may follow. */
		const char *q = end;
		while (q < buf + len && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
			q++;
		if (q < buf + len) {
			cJSON_Delete(doc);
			doc = NULL;
			end = q;
		}
	}
	const cJSON *arr = doc;
	if (doc && cJSON_IsObject(doc))
		arr = cJSON_GetObjectItemCaseSensitive(doc, "devices");
	if (!doc || !cJSON_IsArray(arr)) {
		if (log) {
			size_t pos = (!doc && end && end >= buf && end <= buf + len) ? (size_t)(end - buf) : 0;
			uint32_t line = 1, col = 1;
			for (size_t i = 0; i < pos; i++) {
				if (buf[i] == '\n') {
					line++;
					col = 1;
				} else {
					col++;
				}
			}
			if (!doc)
				fprintf(log, "%s:%u:%u: not valid JSON (expected an array of devices)\n",
					name, line, col);
			else
				fprintf(log, "%s:1:1: expected a JSON array of devices\n", name);
		}
		cJSON_Delete(doc);
		return -1;
	}
	struct inv_load l = {
		.inv = inv, .log = log, .name = name, .strict = true, .default_learned = true,
	};
	uint32_t *lines = arr == doc ? entry_lines(buf, len, &l.n_lines) : NULL;
	l.lines = lines;
	load_array(&l, arr);
	free(lines);
	cJSON_Delete(doc);
	return (int)(l.loaded > INT32_MAX ? INT32_MAX : l.loaded);
}

/* ---- configuration ---- */

static const char *const cfg_keys[] = {
	"enabled", "file", "learn", "max-devices", "mac", "gateway-ips",
};

static int load_file(struct inv *inv, const char *path, FILE *log)
{
	size_t len = 0;
	char *buf = file_read_trusted(path, INVENTORY_FILE_MAX, &len,
				      "known-devices file", log);
	if (!buf) {
		if (log)
			fprintf(log, "%s: cannot read the known-devices file: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = inventory_load_buffer(inv, path, buf, len, log);
	free(buf);
	return rc < 0 ? -1 : 0;
}

static void inv_free(void *state)
{
	struct inv *inv = state;
	if (!inv)
		return;
	for (int ix = 0; ix < IX__N; ix++)
		free(inv->b[ix]);
	kt_free(inv->kt);
	jw_deinit(&inv->w);
	free(inv);
}

/*
 * Reads the "inventory" section (NULL: defaults), allocates the tables
 * and loads the known-devices file. Returns 0 with *state set, or -1
 * after saying why on env->log (a bad value, an unreadable file, a file
 * that is not a JSON array). The state owns everything; inv_free frees it.
 */
static int inv_init(const struct sensor_env *env, const cJSON *cfg, void **state)
{
	FILE *log = env ? env->log : stderr;
	bool bad = false;
	struct inv *inv = calloc(1, sizeof(*inv));
	*state = NULL;
	if (!inv) {
		if (log)
			fprintf(log, "inventory: out of memory\n");
		return -1;
	}
	jw_init(&inv->w);
	inv->report = env ? env->report : NULL;
	inv->ud = env ? env->ud : NULL;
	inv->log = log;

	if (cfg && cJSON_IsObject(cfg)) {
		for (const cJSON *k = cfg->child; k; k = k->next) {
			bool ok = false;
			for (size_t j = 0; j < sizeof(cfg_keys) / sizeof(cfg_keys[0]) && !ok; j++)
				ok = k->string && !strcmp(k->string, cfg_keys[j]);
			if (!ok)
				scfg_err(log, k, "unknown inventory key (known: enabled, file, learn, max-devices, mac, gateway-ips)");
		}
	}
	inv->enabled = scfg_bool(log, cfg, "enabled", true, &bad);
	const char *file = scfg_str(log, cfg, "file", NULL, &bad);
	if (file && !file[0])
		file = NULL;
	double learn = scfg_dur(log, cfg, "learn", file ? 0 : 3600, &bad);
	double maxd = scfg_num(log, cfg, "max-devices", INV_DEFAULT_DEVICES, &bad);
	double gwi = scfg_num(log, cfg, "gateway-ips", INV_DEFAULT_GW_IPS, &bad);
	const char *mac = scfg_str(log, cfg, "mac", "auto", &bad);
	const cJSON *node;
	if (learn > 1e9) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "learn"), "at most 31 years");
		bad = true;
	}
	if (maxd < 1 || maxd > INV_MAX_DEVICES || maxd != floor(maxd)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "max-devices"),
			 "expected a whole number from 1 to %u", INV_MAX_DEVICES);
		bad = true;
	}
	if (gwi < 1 || gwi > INV_MAX_GATEWAYS || gwi != floor(gwi)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "gateway-ips"),
			 "expected a whole number from 1 to %u", INV_MAX_GATEWAYS);
		bad = true;
	}
	if (mac && !strcasecmp(mac, "auto"))
		inv->mac_mode = INV_MAC_AUTO;
	else if (mac && (!strcasecmp(mac, "yes") || !strcasecmp(mac, "true") || !strcasecmp(mac, "on")))
		inv->mac_mode = INV_MAC_YES;
	else if (mac && (!strcasecmp(mac, "no") || !strcasecmp(mac, "false") || !strcasecmp(mac, "off")))
		inv->mac_mode = INV_MAC_NO;
	else {
		node = cJSON_GetObjectItemCaseSensitive(cfg, "mac");
		scfg_err(log, node, "expected auto, yes or no");
		bad = true;
	}
	if (bad)
		goto fail;
	inv->learn_us = (uint64_t)(learn * 1e6);
	inv->gw_ips = (uint32_t)gwi;
	inv->max = inv->enabled ? (uint32_t)maxd : 1;
	struct kt_opts ko = {
		.name = "inventory_devices",
		.capacity = inv->max,
		.entry_size = sizeof(struct inv_row),
		.n_lists = L__N,
		.list = { [L_NEW] = { 0, KT_EVICT, 0 }, [L_LEARNED] = { 0, KT_EVICT, 0 } },
		.n_evict = 1,
		.evict = { L_NEW },
	};
	inv->kt = kt_new(&ko);
	uint32_t nb = 16;
	while (nb < inv->max)
		nb <<= 1;
	inv->mask = nb - 1;
	for (int ix = 0; ix < IX__N; ix++)
		inv->b[ix] = calloc(nb, sizeof(*inv->b[ix]));
	if (!inv->kt || !inv->b[IX_CID] || !inv->b[IX_IP] || !inv->b[IX_MAC]) {
		if (log)
			fprintf(log, "inventory: out of memory for %u devices\n", inv->max);
		goto fail;
	}
	if (inv->enabled && file && load_file(inv, file, log))
		goto fail;
	*state = inv;
	return 0;
fail:
	inv_free(inv);
	return -1;
}

/* ---- state ---- */

static cJSON *row_json(const struct inv_row *r)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	char b[40];
	if (r->has_mac) {
		fmt_mac(b, r->mac);
		cJSON_AddStringToObject(o, "mac", b);
	}
	if (r->family) {
		char ip[SENSOR_ADDR_STR];
		fmt_ip(ip, r->family, r->a);
		cJSON_AddStringToObject(o, "ip", ip);
	}
	if (r->cid[0])
		cJSON_AddStringToObject(o, "client_id", r->cid);
	if (r->user[0])
		cJSON_AddStringToObject(o, "username", r->user);
	if (r->name[0])
		cJSON_AddStringToObject(o, "name", r->name);
	if (r->first) {
		timefmt_utc(r->first, b, sizeof(b));
		cJSON_AddStringToObject(o, "first_seen", b);
	}
	if (r->last) {
		timefmt_utc(r->last, b, sizeof(b));
		cJSON_AddStringToObject(o, "last_seen", b);
	}
	cJSON_AddBoolToObject(o, "learned", r->learned);
	return o;
}

/*
 * The whole inventory for the state file: the learning-period start (so
 * a restart does not learn again), the rows, the gateway MACs and the
 * counters. Client ids are kept as the bytes they were (lossless).
 */
static cJSON *inv_save(void *state)
{
	struct inv *inv = state;
	if (!inv || !inv->enabled)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "version", 1);
	if (inv->started)
		cJSON_AddNumberToObject(o, "learn_start_us", (double)inv->learn_start);
	/* Learned rows in the order they were added, then the new ones least
	 * recently seen first, so a load rebuilds the LRU order. */
	cJSON *devs = cJSON_AddArrayToObject(o, "devices");
	static const enum inv_list order[2] = { L_LEARNED, L_NEW };
	for (int k = 0; devs && k < 2; k++)
		for (const struct inv_row *r = kt_tail(inv->kt, order[k]); r; r = kt_newer(inv->kt, r))
			cJSON_AddItemToArray(devs, row_json(r));
	cJSON *gws = cJSON_AddArrayToObject(o, "gateways");
	for (uint32_t i = 0; gws && i < inv->n_gw; i++) {
		char b[18];
		fmt_mac(b, inv->gw[i]);
		cJSON_AddItemToArray(gws, cJSON_CreateString(b));
	}
	cJSON_AddNumberToObject(o, "evicted", (double)inv->st.evicted);
	cJSON_AddNumberToObject(o, "refused", (double)inv->st.refused);
	return o;
}

/* What inv_save wrote, untrusted: bad members are reported and skipped. */
static void inv_load(void *state, const cJSON *saved)
{
	struct inv *inv = state;
	if (!inv || !inv->enabled || !saved)
		return;
	struct inv_load l = {
		.inv = inv, .log = inv->log, .name = "state: inventory", .strict = false,
		.default_learned = true,
	};
	if (!cJSON_IsObject(saved)) {
		load_msg(&l, -1, "not an object; ignored");
		return;
	}
	const cJSON *ls = cJSON_GetObjectItemCaseSensitive(saved, "learn_start_us");
	if (ls) {
		if (cJSON_IsNumber(ls) && isfinite(ls->valuedouble) && ls->valuedouble >= 0 &&
		    ls->valuedouble <= 9007199254740992.0 && ls->valuedouble == floor(ls->valuedouble)) {
			inv->started = true;
			inv->learn_start = (uint64_t)ls->valuedouble;
		} else {
			load_msg(&l, -1, "learn_start_us: expected microseconds since 1970; ignored");
		}
	}
	const cJSON *devs = cJSON_GetObjectItemCaseSensitive(saved, "devices");
	if (devs && !cJSON_IsArray(devs))
		load_msg(&l, -1, "devices: expected an array; ignored");
	else if (devs)
		load_array(&l, devs);
	const cJSON *gws = cJSON_GetObjectItemCaseSensitive(saved, "gateways");
	if (cJSON_IsArray(gws)) {
		for (const cJSON *g = gws->child; g; g = g->next) {
			uint8_t mac[6];
			if (cJSON_IsString(g) && g->valuestring && !parse_mac(g->valuestring, mac))
				add_gateway(inv, mac);
			else
				load_msg(&l, -1, "gateways: an item is not a MAC address; skipped");
		}
	}
	static const char *const ckeys[2] = { "evicted", "refused" };
	uint64_t *cv[2] = { &inv->st.evicted, &inv->st.refused };
	for (int j = 0; j < 2; j++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(saved, ckeys[j]);
		if (cJSON_IsNumber(n) && isfinite(n->valuedouble) && n->valuedouble >= 0 &&
		    n->valuedouble < 1e15)
			*cv[j] += (uint64_t)n->valuedouble;
	}
}

/* ---- output ---- */

static int row_cmp_fam(const struct inv_row *a, const struct inv_row *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	int c = memcmp(a->a, b->a, 16);
	if (c)
		return c;
	if (a->has_mac != b->has_mac)
		return a->has_mac ? 1 : -1;
	c = memcmp(a->mac, b->mac, 6);
	if (c)
		return c;
	return strcmp(a->cid, b->cid);
}

static int row_cmp(const void *x, const void *y)
{
	return row_cmp_fam(*(const struct inv_row *const *)x, *(const struct inv_row *const *)y);
}

/* A CSV field: quoted when needed; a leading = + - @ is prefixed with ' (spreadsheets). */
static void csv_field(FILE *out, const char *s)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
		       s[0] == '\r';
	if (!quote && !formula) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	if (formula)
		fputc('\'', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

enum { COL_STATE, COL_MAC, COL_IP, COL_CID, COL_USER, COL_NAME, COL_FIRST, COL_LAST, COL__N };

static const char *const col_names[COL__N] = {
	"STATE", "MAC", "IP", "CLIENT ID", "USERNAME", "NAME", "FIRST SEEN", "LAST SEEN",
};

/* The text of each column of r (table: client strings made printable). */
static void row_cols(const struct inv_row *r, bool table, char cols[COL__N][SENSOR_ID_MAX + 8])
{
	const char *none = table ? "-" : "";
	snprintf(cols[COL_STATE], sizeof(cols[0]), "%s", r->learned ? "learned" : "new");
	if (r->has_mac)
		fmt_mac(cols[COL_MAC], r->mac);
	else
		snprintf(cols[COL_MAC], sizeof(cols[0]), "%s", none);
	if (r->family)
		fmt_ip(cols[COL_IP], r->family, r->a);
	else
		snprintf(cols[COL_IP], sizeof(cols[0]), "%s", none);
	const char *src[3] = { r->cid, r->user, r->name };
	for (int j = 0; j < 3; j++) {
		char *d = cols[COL_CID + j];
		if (!src[j][0])
			snprintf(d, sizeof(cols[0]), "%s", none);
		else if (table)
			safe_text(d, sizeof(cols[0]), src[j]);
		else
			snprintf(d, sizeof(cols[0]), "%s", src[j]);
	}
	if (r->first)
		timefmt_utc(r->first, cols[COL_FIRST], sizeof(cols[0]));
	else
		snprintf(cols[COL_FIRST], sizeof(cols[0]), "%s", none);
	if (r->last)
		timefmt_utc(r->last, cols[COL_LAST], sizeof(cols[0]));
	else
		snprintf(cols[COL_LAST], sizeof(cols[0]), "%s", none);
}

static void write_json_row(struct jw *w, const struct inv_row *r)
{
	char b[40];
	jw_reset(w);
	jw_open_obj(w, NULL);
	if (r->has_mac) {
		fmt_mac(b, r->mac);
		jw_cstr(w, "mac", b);
	}
	if (r->family) {
		char ip[SENSOR_ADDR_STR];
		fmt_ip(ip, r->family, r->a);
		jw_cstr(w, "ip", ip);
	}
	if (r->cid[0])
		jw_str(w, "client_id", (const uint8_t *)r->cid, strlen(r->cid));
	if (r->user[0])
		jw_str(w, "username", (const uint8_t *)r->user, strlen(r->user));
	if (r->name[0])
		jw_str(w, "name", (const uint8_t *)r->name, strlen(r->name));
	if (r->first) {
		timefmt_utc(r->first, b, sizeof(b));
		jw_cstr(w, "first_seen", b);
	}
	if (r->last) {
		timefmt_utc(r->last, b, sizeof(b));
		jw_cstr(w, "last_seen", b);
	}
	jw_bool(w, "learned", r->learned);
	jw_close_obj(w);
}

int inventory_write(void *state, FILE *out, const char *format)
{
	struct inv *inv = state;
	int rc = -2;
	const struct inv_row **v = NULL;
	struct jw w;
	jw_init(&w);
	if (!format || (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv")))
		return -1;
	if (!inv || !out)
		return -2;
	uint32_t n_rows = kt_stats(inv->kt)->active;
	v = malloc((n_rows ? n_rows : 1) * sizeof(*v));
	if (!v)
		goto out;
	uint32_t n = 0;
	for (unsigned k = 0; k < L__N; k++)
		for (const struct inv_row *r = kt_tail(inv->kt, k); r && n < n_rows;
		     r = kt_newer(inv->kt, r))
			v[n++] = r;
	qsort(v, n, sizeof(*v), row_cmp);

	char cols[COL__N][SENSOR_ID_MAX + 8];
	if (!strcmp(format, "json")) {
		fputs("[", out);
		for (uint32_t i = 0; i < n; i++) {
			write_json_row(&w, v[i]);
			if (w.oom)
				goto out;
			fputs(i ? ",\n  " : "\n  ", out);
			fwrite(w.buf, 1, w.len, out);
		}
		fputs(n ? "\n]\n" : "]\n", out);
	} else if (!strcmp(format, "csv")) {
		fputs("mac,ip,client_id,username,name,first_seen,last_seen,learned\r\n", out);
		for (uint32_t i = 0; i < n; i++) {
			row_cols(v[i], false, cols);
			for (int c = COL_MAC; c < COL__N; c++) {
				csv_field(out, cols[c]);
				fputc(',', out);
			}
			fputs(v[i]->learned ? "true\r\n" : "false\r\n", out);
		}
	} else {
		size_t wd[COL__N];
		for (int c = 0; c < COL__N; c++)
			wd[c] = strlen(col_names[c]);
		for (uint32_t i = 0; i < n; i++) {
			row_cols(v[i], true, cols);
			for (int c = 0; c < COL__N; c++)
				if (strlen(cols[c]) > wd[c])
					wd[c] = strlen(cols[c]);
		}
		for (int c = 0; c + 1 < COL__N; c++)
			fprintf(out, "%-*s  ", (int)wd[c], col_names[c]);
		fprintf(out, "%s\n", col_names[COL__N - 1]);
		uint32_t n_new = 0;
		for (uint32_t i = 0; i < n; i++) {
			row_cols(v[i], true, cols);
			n_new += !v[i]->learned;
			for (int c = 0; c + 1 < COL__N; c++)
				fprintf(out, "%-*s  ", (int)wd[c], cols[c]);
			fprintf(out, "%s\n", cols[COL__N - 1]);
		}
		fprintf(out, "%u devices (%u new), %u gateway MACs, %u max; %llu evicted, %llu refused\n",
			n, n_new, inv->n_gw, inv->max, (unsigned long long)inv->st.evicted,
			(unsigned long long)inv->st.refused);
		if (inv->started && inv->learn_us) {
			char b[32];
			timefmt_utc(inv->learn_start + inv->learn_us, b, sizeof(b));
			fprintf(out, "learning period ends %s\n", b);
		}
	}
	rc = ferror(out) ? -2 : 0;
out:
	free(v);
	jw_deinit(&w);
	return rc;
}

void inventory_get_stats(const void *state, struct inventory_stats *st)
{
	const struct inv *inv = state;
	memset(st, 0, sizeof(*st));
	if (!inv)
		return;
	*st = inv->st;
	st->devices = inv->kt ? kt_stats(inv->kt)->active : 0;
	st->max_devices = inv->kt ? kt_capacity(inv->kt) : inv->max;
	st->gateways = inv->n_gw;
	st->learning_started = inv->started;
	st->learn_start_us = inv->learn_start;
	st->learn_end_us = inv->learn_start + inv->learn_us;
}

static void inv_stats_op(void *state, struct sensor_stats *out)
{
	struct inventory_stats v;
	inventory_get_stats(state, &v);
	sensor_stats_add(out, "devices", v.devices);
	sensor_stats_add(out, "devices_max", v.max_devices);
	sensor_stats_add(out, "evicted", v.evicted);
	sensor_stats_add(out, "refused", v.refused);
}

static size_t inv_tables(void *state, const struct ktable **out, size_t max)
{
	const struct inv *inv = state;
	if (!inv || !inv->kt || !max)
		return 0;
	out[0] = inv->kt;
	return 1;
}

const struct sensor_detector sensor_inventory_detector = {
	.name = "inventory",
	.init = inv_init,
	.on_msg = inv_on_msg,
	.save = inv_save,
	.load = inv_load,
	.stats = inv_stats_op,
	.tables = inv_tables,
	.free = inv_free,
};
