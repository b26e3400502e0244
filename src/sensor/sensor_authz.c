/*
 * sensor_authz.c - topic authorisation (issue 5 §4; seed 000 case 3): who
 * may publish and subscribe where, from allow-list policies in the "authz"
 * section and an imported Mosquitto acl_file (sensor_acl.h), checked on the
 * wire so that a missing or wrong broker ACL is still caught; and the
 * broker's own refusals (SUBACK 0x80 / v5 reason codes >= 0x80, v5
 * PUBACK/PUBREC >= 0x80) tied back to the filter or topic they refused.
 *
 * Events (layer "authz", docs/sensors.md): unauthorised_publish,
 * unauthorised_subscribe, broker_denied_subscribe, broker_denied_publish.
 *
 * Nothing is allocated per message: policy filters are expanded (%c, %u)
 * into scratch slots sized at init, and the SUBSCRIBE / PUBLISH requests
 * waiting for their broker answer live in a fixed two-way set-associative
 * table keyed by (flow, flow id, packet id), the older entry of a set
 * being replaced when both are taken.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqtt/mqtt_session.h"
#include "net/flow_table.h"
#include "mqtt/mqtt_topic.h"
#include "util/glob.h"
#include "sensor/sensor.h"
#include "sensor/sensor_acl.h"
#include "util/siphash.h"
#include "util/jw.h"

#define AUTHZ_MAX_POLICIES 1024
#define AUTHZ_MAX_FILTERS 256       /* per list of one policy */
#define AUTHZ_MAX_ADDRS 64
#define AUTHZ_FILTER_MAX SACL_LINE_MAX
#define AUTHZ_PEND_DEFAULT 1024
#define AUTHZ_PEND_MAX (1u << 20)
#define AUTHZ_PEND_FILTERS 16
#define AUTHZ_PEND_BUF 512
#define AUTHZ_SOURCE_MAX 600
#define AUTHZ_MEMO 1024             /* publish decisions remembered (direct-mapped) */
#define AUTHZ_MEMO_KEY 256          /* longer identities and topics are decided afresh */

struct authz_cidr {
	uint8_t family, bits;
	uint8_t a[16];
};

struct authz_filter {
	char *f;
	size_t len;
	uint16_t cc, uc;
	size_t slot;                /* offset of its expansion in gbuf */
};

struct authz_policy {
	char *client_id, *username; /* globs; NULL: any */
	struct authz_cidr *addr;
	uint32_t n_addr;
	struct authz_filter *pub, *sub;
	uint32_t n_pub, n_sub;
};

enum { PEND_SUB = 1, PEND_PUB = 2 };

struct authz_pending {
	const void *flow;
	uint64_t flow_id;
	uint64_t seq;               /* insertion order; 0: empty */
	uint16_t pid;
	uint8_t kind;
	uint8_t n;                  /* topics in the request (capped at 255) */
	uint8_t kept;               /* of which the first kept are stored */
	uint16_t off[AUTHZ_PEND_FILTERS], len[AUTHZ_PEND_FILTERS];
	char buf[AUTHZ_PEND_BUF];
};

/* What a decision rests on, for the report. */
struct decision {
	bool allowed;
	bool checked;                /* false: mode allow and nobody covers the client */
	struct sacl_verdict v;       /* when acl */
};

/*
 * A remembered publish decision. The policies and the ACL do not change
 * while running, so the same client publishing to the same topic gets the
 * same answer: sensors publish to one topic over and over. The whole key
 * is kept and compared, not only its hash.
 */
struct authz_memo {
	bool used, matched;
	uint16_t key_len;
	struct decision d;
	char key[AUTHZ_MEMO_KEY];
};

struct authz {
	struct sensor_env env;
	struct sacl *acl;
	char acl_source[AUTHZ_SOURCE_MAX];
	struct authz_policy *pol;
	uint32_t n_pol;
	bool has_policies;          /* the key was given, even if no entry was usable */
	bool active;
	bool mode_allow;
	/* scratch for policy checks */
	char *gbuf;
	const char **g;
	size_t *gl, *pos;
	size_t n_filters;
	/* publish decisions by (client id, user, address, topic) */
	struct authz_memo *memo;
	/* pending requests */
	struct authz_pending *pend;
	uint32_t n_pend;
	uint64_t seq;
	/* output */
	struct jw w;
	char detail[512];
	/* counters */
	uint64_t evicted, unknown_identity;
};

/* ---- configuration ---- */

static int parse_cidr(const char *s, struct authz_cidr *c)
{
	char buf[64];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	char *slash = strchr(buf, '/');
	long bits = -1;
	if (slash) {
		*slash = 0;
		char *end;
		bits = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || bits < 0)
			return -1;
	}
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->a) == 1) {
		c->family = 4;
		if (bits > 32)
			return -1;
		c->bits = (uint8_t)(bits < 0 ? 32 : bits);
	} else if (inet_pton(AF_INET6, buf, c->a) == 1) {
		c->family = 6;
		if (bits > 128)
			return -1;
		c->bits = (uint8_t)(bits < 0 ? 128 : bits);
	} else {
		return -1;
	}
	return 0;
}

static bool cidr_match(const struct authz_cidr *c, const struct sensor_addr *a)
{
	if (c->family != a->family)
		return false;
	unsigned full = c->bits / 8u, rest = c->bits % 8u;
	if (memcmp(c->a, a->a, full))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (c->a[full] & mask) == (a->a[full] & mask);
}

static uint16_t count_pct(const char *s, size_t n, char w)
{
	unsigned c = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '%' && s[i + 1] == w) {
			c++;
			i++;
		}
	return (uint16_t)(c > 65535 ? 65535 : c);
}

/*
 * A list of filters (a sequence of strings or one string) into *out;
 * bad items are reported and skipped. Returns -1 only when out of memory.
 */
static int parse_filters(struct authz *z, const cJSON *pol, const char *key,
			 struct authz_filter **out, uint32_t *n)
{
	FILE *log = z->env.log;
	const cJSON *l = scfg_list(pol, key);
	*out = NULL;
	*n = 0;
	if (!l)
		return 0;
	const cJSON *one[1] = { l };
	size_t cnt = cJSON_IsArray(l) ? (size_t)cJSON_GetArraySize(l) : 1;
	if (cnt > AUTHZ_MAX_FILTERS) {
		scfg_err(log, l, "more than %u filters; the rest are ignored",
			 (unsigned)AUTHZ_MAX_FILTERS);
		cnt = AUTHZ_MAX_FILTERS;
	}
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (!*out)
		return -1;
	const cJSON *it = cJSON_IsArray(l) ? l->child : one[0];
	for (size_t i = 0; it && i < cnt; i++, it = cJSON_IsArray(l) ? it->next : NULL) {
		if (!cJSON_IsString(it)) {
			scfg_err(log, it, "expected a topic filter (text); skipped");
			continue;
		}
		const char *f = it->valuestring;
		size_t fl = strlen(f);
		if (fl > AUTHZ_FILTER_MAX || !sacl_filter_valid(f, fl)) {
			scfg_err(log, it, "'%.64s' is not a valid MQTT topic filter; skipped", f);
			continue;
		}
		struct authz_filter *af = &(*out)[*n];
		af->f = strdup(f);
		if (!af->f)
			return -1;
		af->len = fl;
		af->cc = count_pct(f, fl, 'c');
		af->uc = count_pct(f, fl, 'u');
		af->slot = z->n_filters; /* provisional index; turned into an offset later */
		z->n_filters++;
		(*n)++;
	}
	return 0;
}

static const char *const policy_keys[] = { "client-id", "username", "address", "publish",
					   "subscribe", NULL };

static bool known_key(const char *const *keys, const char *k)
{
	for (size_t i = 0; keys[i]; i++)
		if (!strcmp(keys[i], k))
			return true;
	return false;
}

/* One policy entry; a bad one is reported and left empty (matches nothing). */
static int parse_policy(struct authz *z, const cJSON *p, struct authz_policy *out)
{
	FILE *log = z->env.log;
	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(p)) {
		scfg_err(log, p, "a policy must be a mapping (client-id, username, address, "
				 "publish, subscribe); skipped");
		return 1;
	}
	for (const cJSON *c = p->child; c; c = c->next)
		if (c->string && !known_key(policy_keys, c->string))
			scfg_err(log, c, "unknown policy key (client-id, username, address, "
					 "publish, subscribe); ignored");
	bool bad = false;
	const char *cid = scfg_str(log, p, "client-id", NULL, &bad);
	const char *user = scfg_str(log, p, "username", NULL, &bad);
	if (bad)
		return 1; /* a selector we cannot read must not widen the policy */
	if (cid && !(out->client_id = strdup(cid)))
		return -1;
	if (user && !(out->username = strdup(user)))
		return -1;
	const cJSON *ad = scfg_list(p, "address");
	if (ad) {
		size_t cnt = cJSON_IsArray(ad) ? (size_t)cJSON_GetArraySize(ad) : 1;
		if (cnt > AUTHZ_MAX_ADDRS)
			cnt = AUTHZ_MAX_ADDRS;
		out->addr = calloc(cnt ? cnt : 1, sizeof(*out->addr));
		if (!out->addr)
			return -1;
		const cJSON *it = cJSON_IsArray(ad) ? ad->child : ad;
		for (size_t i = 0; it && i < cnt; i++, it = cJSON_IsArray(ad) ? it->next : NULL) {
			if (!cJSON_IsString(it) || parse_cidr(it->valuestring, &out->addr[out->n_addr])) {
				scfg_err(log, it, "expected an address or CIDR such as 10.0.0.0/8");
				bad = true;
				continue;
			}
			out->n_addr++;
		}
		if (bad || out->n_addr == 0) {
			/* an address selector that cannot be read must not become "any" */
			scfg_err(log, ad, "policy skipped");
			free(out->addr);
			out->addr = NULL;
			out->n_addr = 0;
			free(out->client_id);
			free(out->username);
			out->client_id = out->username = NULL;
			return 1;
		}
	}
	if (parse_filters(z, p, "publish", &out->pub, &out->n_pub) < 0 ||
	    parse_filters(z, p, "subscribe", &out->sub, &out->n_sub) < 0)
		return -1;
	return 0;
}

static void policy_free(struct authz_policy *p)
{
	free(p->client_id);
	free(p->username);
	free(p->addr);
	for (uint32_t i = 0; i < p->n_pub; i++)
		free(p->pub[i].f);
	for (uint32_t i = 0; i < p->n_sub; i++)
		free(p->sub[i].f);
	free(p->pub);
	free(p->sub);
}

static void authz_free(void *state)
{
	struct authz *z = state;
	if (!z)
		return;
	sacl_free(z->acl);
	for (uint32_t i = 0; i < z->n_pol; i++)
		policy_free(&z->pol[i]);
	free(z->pol);
	free(z->memo);
	free(z->gbuf);
	free((void *)z->g);
	free(z->gl);
	free(z->pos);
	free(z->pend);
	jw_deinit(&z->w);
	free(z);
}

/* Sizes the expansion slots of every policy filter; -1: no memory. */
static int size_scratch(struct authz *z)
{
	size_t off = 0;
	for (uint32_t i = 0; i < z->n_pol; i++) {
		struct authz_policy *p = &z->pol[i];
		for (int l = 0; l < 2; l++) {
			struct authz_filter *fs = l ? p->sub : p->pub;
			uint32_t n = l ? p->n_sub : p->n_pub;
			for (uint32_t k = 0; k < n; k++) {
				fs[k].slot = off;
				off += fs[k].len + 1 + ((size_t)fs[k].cc + fs[k].uc) * SENSOR_ID_MAX;
			}
		}
	}
	size_t nf = z->n_filters ? z->n_filters : 1;
	z->gbuf = malloc(off ? off : 1);
	z->g = calloc(nf, sizeof(*z->g));
	z->gl = calloc(nf, sizeof(*z->gl));
	z->pos = calloc(nf, sizeof(*z->pos));
	return z->gbuf && z->g && z->gl && z->pos ? 0 : -1;
}

static const char *const section_keys[] = { "mode", "acl-file", "policies", "max-pending",
					    NULL };

/*
 * init: the "authz" section (NULL: only broker refusals are reported).
 * A missing acl-file, an unknown mode or a policies value that is not a
 * list stops the run (-1); bad lines and entries are reported and skipped.
 */
static int authz_init(const struct sensor_env *env, const cJSON *cfg, void **state)
{
	FILE *log = env->log;
	struct authz *z = calloc(1, sizeof(*z));
	if (!z) {
		if (log)
			fprintf(log, "authz: out of memory\n");
		return -1;
	}
	z->env = *env;
	jw_init(&z->w);
	if (cfg && !cJSON_IsObject(cfg)) {
		scfg_err(log, cfg, "the authz section must be a mapping");
		goto fail;
	}
	for (const cJSON *c = cfg ? cfg->child : NULL; c; c = c->next)
		if (c->string && !known_key(section_keys, c->string))
			scfg_err(log, c, "unknown key (mode, acl-file, policies, max-pending); ignored");
	bool bad = false;
	const char *mode = scfg_str(log, cfg, "mode", "deny", &bad);
	if (bad)
		goto fail;
	if (!strcasecmp(mode, "allow"))
		z->mode_allow = true;
	else if (strcasecmp(mode, "deny")) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(cfg, "mode"),
			 "expected deny or allow, got '%.32s'", mode);
		goto fail;
	}
	double mp = scfg_num(log, cfg, "max-pending", AUTHZ_PEND_DEFAULT, &bad);
	if (bad)
		goto fail;
	if (mp < 2)
		mp = 2;
	if (mp > AUTHZ_PEND_MAX)
		mp = AUTHZ_PEND_MAX;
	z->n_pend = ((uint32_t)mp + 1u) & ~1u;
	z->pend = calloc(z->n_pend, sizeof(*z->pend));
	if (!z->pend) {
		if (log)
			fprintf(log, "authz: out of memory\n");
		goto fail;
	}

	const char *acl = scfg_str(log, cfg, "acl-file", NULL, &bad);
	if (bad)
		goto fail;
	if (acl && acl[0]) {
		unsigned errs = 0;
		z->acl = sacl_load(acl, log, &errs);
		if (!z->acl)
			goto fail;
		snprintf(z->acl_source, sizeof(z->acl_source), "acl:%s", acl);
		if (errs && log)
			fprintf(log, "%s: %u bad lines skipped\n", acl, errs);
	}

	const cJSON *pl = scfg_list(cfg, "policies");
	if (pl) {
		z->has_policies = true;
		if (!cJSON_IsArray(pl) && !cJSON_IsObject(pl)) {
			scfg_err(log, pl, "expected a list of policies");
			goto fail;
		}
		size_t cnt = cJSON_IsArray(pl) ? (size_t)cJSON_GetArraySize(pl) : 1;
		if (cnt > AUTHZ_MAX_POLICIES) {
			scfg_err(log, pl, "more than %u policies; the rest are ignored",
				 (unsigned)AUTHZ_MAX_POLICIES);
			cnt = AUTHZ_MAX_POLICIES;
		}
		z->pol = calloc(cnt ? cnt : 1, sizeof(*z->pol));
		if (!z->pol)
			goto fail;
		const cJSON *it = cJSON_IsArray(pl) ? pl->child : pl;
		for (size_t i = 0; it && i < cnt; i++, it = cJSON_IsArray(pl) ? it->next : NULL) {
			int r = parse_policy(z, it, &z->pol[z->n_pol]);
			if (r < 0) {
				z->n_pol++;
				if (log)
					fprintf(log, "authz: out of memory\n");
				goto fail;
			}
			if (r == 0)
				z->n_pol++;
			else
				policy_free(&z->pol[z->n_pol]);
		}
	}
	z->memo = calloc(AUTHZ_MEMO, sizeof(*z->memo));
	if (!z->memo || size_scratch(z) < 0) {
		if (log)
			fprintf(log, "authz: out of memory\n");
		goto fail;
	}
	z->active = z->acl || z->has_policies;
	*state = z;
	return 0;
fail:
	authz_free(z);
	return -1;
}

/* ---- checks ---- */

static bool policy_matches(const struct authz_policy *p, const char *cid, const char *user,
			   const struct sensor_addr *addr)
{
	if (p->client_id && !glob_match(p->client_id, cid, strlen(cid)))
		return false;
	if (p->username && !glob_match(p->username, user, strlen(user)))
		return false;
	if (p->n_addr) {
		uint32_t k;
		for (k = 0; k < p->n_addr && !cidr_match(&p->addr[k], addr); k++)
			;
		if (k == p->n_addr)
			return false;
	}
	return true;
}

/*
 * Filter f expanded for this client into its slot: NULL when it cannot
 * apply (%u for an anonymous client, or an id holding '+' or '#' or
 * longer than SENSOR_ID_MAX, which mosquitto refuses for patterns too).
 */
static const char *policy_expand(struct authz *z, const struct authz_filter *f, const char *cid,
				 const char *user, size_t *len)
{
	if (!f->cc && !f->uc) {
		*len = f->len;
		return f->f;
	}
	size_t cl = strlen(cid), ul = strlen(user);
	if (f->uc && !user[0])
		return NULL;
	if ((f->cc && (cl > SENSOR_ID_MAX || strpbrk(cid, "+#"))) ||
	    (f->uc && (ul > SENSOR_ID_MAX || strpbrk(user, "+#"))))
		return NULL;
	char *o = z->gbuf + f->slot, *s = o;
	for (size_t k = 0; k < f->len; k++) {
		if (k + 1 < f->len && f->f[k] == '%' && (f->f[k + 1] == 'c' || f->f[k + 1] == 'u')) {
			const char *v = f->f[k + 1] == 'c' ? cid : user;
			size_t vl = f->f[k + 1] == 'c' ? cl : ul;
			memcpy(s, v, vl);
			s += vl;
			k++;
			continue;
		}
		*s++ = f->f[k];
	}
	*s = 0;
	*len = (size_t)(s - o);
	return o;
}

struct who {
	const char *cid, *user;      /* never NULL; "" user: anonymous */
	const struct sensor_addr *addr;
	bool matched;                /* some policy matched the client */
};

/* Whether some matched policy lets the client publish to t[0..n). */
static bool policy_publish(struct authz *z, struct who *w, const char *t, size_t n)
{
	for (uint32_t i = 0; i < z->n_pol; i++) {
		const struct authz_policy *p = &z->pol[i];
		if (!policy_matches(p, w->cid, w->user, w->addr))
			continue;
		w->matched = true;
		for (uint32_t k = 0; k < p->n_pub; k++) {
			size_t fl;
			const char *f = policy_expand(z, &p->pub[k], w->cid, w->user, &fl);
			if (f && mqtt_topic_match(f, t, n))
				return true;
		}
	}
	return false;
}

/* Whether the union of the matched policies' subscribe filters covers s. */
static bool policy_subscribe(struct authz *z, struct who *w, const char *s, size_t sn)
{
	size_t n = 0;
	for (uint32_t i = 0; i < z->n_pol; i++) {
		const struct authz_policy *p = &z->pol[i];
		if (!policy_matches(p, w->cid, w->user, w->addr))
			continue;
		w->matched = true;
		for (uint32_t k = 0; k < p->n_sub; k++) {
			const char *f = policy_expand(z, &p->sub[k], w->cid, w->user, &z->gl[n]);
			if (f)
				z->g[n++] = f;
		}
	}
	if (sn > 7 && !memcmp(s, "$share/", 7)) {
		const char *sl = memchr(s + 7, '/', sn - 7);
		if (sl) {
			sn -= (size_t)(sl + 1 - s);
			s = sl + 1;
		}
	}
	return n && sacl_filter_covered(s, sn, z->g, z->gl, n, z->pos);
}

/* The memo key of w and t into key; 0 when it does not fit. */
static size_t memo_key(char *key, const struct who *w, const char *t, size_t n)
{
	size_t cl = strlen(w->cid), ul = strlen(w->user);
	size_t need = cl + 1 + ul + 1 + 1 + sizeof(w->addr->a) + n;
	if (need > AUTHZ_MEMO_KEY)
		return 0;
	char *k = key;
	memcpy(k, w->cid, cl + 1);
	k += cl + 1;
	memcpy(k, w->user, ul + 1);
	k += ul + 1;
	*k++ = (char)w->addr->family;
	memcpy(k, w->addr->a, sizeof(w->addr->a));
	k += sizeof(w->addr->a);
	memcpy(k, t, n);
	return need;
}

static void decide_fresh(struct authz *z, struct who *w, enum sacl_access acc, const char *t,
			 size_t n, struct decision *d)
{
	memset(d, 0, sizeof(*d));
	d->v.why = SACL_WHY_NO_GRANT;
	bool pol = acc == SACL_SUBSCRIBE ? policy_subscribe(z, w, t, n) : policy_publish(z, w, t, n);
	bool acl = false;
	if (z->acl)
		acl = sacl_check(z->acl, w->user[0] ? w->user : NULL, w->cid, acc, t, n, &d->v);
	d->allowed = pol || acl;
	d->checked = !z->mode_allow || w->matched ||
		     (z->acl && sacl_has_user(z->acl, w->user[0] ? w->user : NULL));
}

/* decide_fresh, remembered for publishes (struct authz_memo). */
static void decide(struct authz *z, struct who *w, enum sacl_access acc, const char *t,
		   size_t n, struct decision *d)
{
	char key[AUTHZ_MEMO_KEY];
	size_t kl = acc == SACL_WRITE ? memo_key(key, w, t, n) : 0;
	if (!kl) {
		decide_fresh(z, w, acc, t, n, d);
		return;
	}
	/* Keyed by the process's secret key: nobody can aim many topics at
	 * one slot to make every decision afresh. */
	struct authz_memo *e = &z->memo[siphash13(hash_seed(), key, kl) % AUTHZ_MEMO];
	if (e->used && e->key_len == kl && !memcmp(e->key, key, kl)) {
		*d = e->d;
		w->matched = e->matched;
		return;
	}
	decide_fresh(z, w, acc, t, n, d);
	e->used = true;
	e->matched = w->matched;
	e->key_len = (uint16_t)kl;
	e->d = *d;
	memcpy(e->key, key, kl);
}

/* ---- the pending table ---- */

static uint64_t pend_hash(const void *flow, uint64_t id, uint16_t pid, uint8_t kind)
{
	uint64_t h = 1469598103934665603ull;
	uint64_t parts[4] = { (uint64_t)(uintptr_t)flow, id, pid, kind };
	for (int i = 0; i < 4; i++) {
		h ^= parts[i];
		h *= 1099511628211ull;
		h ^= h >> 29;
	}
	return h;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* The flow key of a message: its flow, or the client id when there is none. */
static void flow_key(const struct sensor_msg *m, const void **flow, uint64_t *id)
{
	const struct flow *f = m->ev ? m->ev->flow : NULL;
	*flow = f;
	*id = f ? f->id : str_hash(m->client_id ? m->client_id : "");
}

static struct authz_pending *pend_find(struct authz *z, const void *flow, uint64_t id,
				       uint16_t pid, uint8_t kind)
{
	size_t set = (size_t)(pend_hash(flow, id, pid, kind) % (z->n_pend / 2)) * 2;
	for (size_t i = set; i < set + 2; i++) {
		struct authz_pending *p = &z->pend[i];
		if (p->seq && p->flow == flow && p->flow_id == id && p->pid == pid &&
		    p->kind == kind)
			return p;
	}
	return NULL;
}

/* A slot for a new request: its own old entry, a free one or the older. */
static struct authz_pending *pend_slot(struct authz *z, const void *flow, uint64_t id,
				       uint16_t pid, uint8_t kind)
{
	struct authz_pending *p = pend_find(z, flow, id, pid, kind);
	if (!p) {
		size_t set = (size_t)(pend_hash(flow, id, pid, kind) % (z->n_pend / 2)) * 2;
		struct authz_pending *a = &z->pend[set], *b = &z->pend[set + 1];
		p = !a->seq ? a : !b->seq ? b : a->seq < b->seq ? a : b;
		if (p->seq)
			z->evicted++;
	}
	memset(p, 0, offsetof(struct authz_pending, buf));
	p->flow = flow;
	p->flow_id = id;
	p->pid = pid;
	p->kind = kind;
	p->seq = ++z->seq;
	return p;
}

/* Stores the next filter or topic of a request; false when it does not fit. */
static bool pend_put(struct authz_pending *p, const uint8_t *s, size_t n)
{
	if (p->kept >= AUTHZ_PEND_FILTERS)
		return false;
	size_t off = p->kept ? (size_t)p->off[p->kept - 1] + p->len[p->kept - 1] : 0;
	if (n > AUTHZ_PEND_BUF - off)
		return false;
	memcpy(p->buf + off, s, n);
	p->off[p->kept] = (uint16_t)off;
	p->len[p->kept] = (uint16_t)n;
	p->kept++;
	return true;
}

/* ---- reports ---- */

/* A printable copy of s for detail lines (not JSON: jw escapes meta). */
static void tidy(char *out, size_t cap, const uint8_t *s, size_t n)
{
	size_t o = 0, lim = cap - 4;
	size_t i;
	for (i = 0; i < n && o < lim; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
}

static void meta_who(struct jw *w, const struct sensor_msg *m, const struct who *who)
{
	jw_cstr(w, "client_id", who->cid);
	jw_cstr(w, "username", who->user);
	jw_cstr(w, "address", m->client.str);
}

/* The source member: what was consulted (or, for a deny line, which file). */
static void meta_source(struct authz *z, struct jw *w, const struct decision *d)
{
	char src[AUTHZ_SOURCE_MAX + 32];
	if (z->acl && z->has_policies)
		snprintf(src, sizeof(src), "%s,authz.policies", z->acl_source);
	else if (z->acl)
		snprintf(src, sizeof(src), "%s", z->acl_source);
	else
		snprintf(src, sizeof(src), "authz.policies");
	jw_cstr(w, "source", src);
	if (z->acl && d->v.line)
		jw_uint(w, "line", d->v.line);
	if (z->acl)
		jw_cstr(w, "reason", sacl_why_name(d->v.why));
}

static void emit(struct authz *z, const struct sensor_msg *m, const char *event)
{
	if (z->w.oom)
		return;
	struct sensor_report r = {
		.base = m->ev,
		.ts_us = m->ts_us,
		.addr = &m->client,
		.layer = "authz",
		.event = event,
		.detail = z->detail,
		.meta = z->w.buf,
		.meta_len = z->w.len,
	};
	z->env.report(z->env.ud, &r);
}

static void who_of(const struct sensor_msg *m, struct who *w)
{
	w->cid = m->client_id ? m->client_id : "";
	w->user = m->username ? m->username : "";
	w->addr = &m->client;
	w->matched = false;
}

/* Whether the session's identity is known (its CONNECT was seen). */
static bool identity_known(const struct sensor_msg *m)
{
	const struct mqtt_state *st = m->ev ? m->ev->st : NULL;
	return !st || st->connect_seen;
}

static void on_publish(struct authz *z, const struct sensor_msg *m)
{
	const struct mqtt_msg *mm = m->m;
	if (mm->qos >= 1 && mm->qos <= 2 && mm->version == 5 && mm->has_msg_id) {
		const void *fl;
		uint64_t id;
		flow_key(m, &fl, &id);
		struct authz_pending *p = pend_slot(z, fl, id, mm->msg_id, PEND_PUB);
		p->n = 1;
		pend_put(p, m->topic.p, m->topic.len);
	}
	if (!z->active || m->topic.len == 0)
		return;
	if (!identity_known(m)) {
		z->unknown_identity++;
		return;
	}
	struct who w;
	who_of(m, &w);
	struct decision d;
	decide(z, &w, SACL_WRITE, (const char *)m->topic.p, m->topic.len, &d);
	if (d.allowed || !d.checked)
		return;
	char t[160], c[80];
	tidy(t, sizeof(t), m->topic.p, m->topic.len);
	tidy(c, sizeof(c), (const uint8_t *)w.cid, strlen(w.cid));
	snprintf(z->detail, sizeof(z->detail), "client '%s' published to '%s' without a write grant",
		 c, t);
	jw_reset(&z->w);
	meta_who(&z->w, m, &w);
	jw_str(&z->w, "topic", m->topic.p, m->topic.len);
	jw_cstr(&z->w, "access", "write");
	meta_source(z, &z->w, &d);
	emit(z, m, "unauthorised_publish");
}

static void on_subscribe(struct authz *z, const struct sensor_msg *m)
{
	const struct mqtt_msg *mm = m->m;
	if (mm->has_msg_id) {
		const void *fl;
		uint64_t id;
		flow_key(m, &fl, &id);
		struct authz_pending *p = pend_slot(z, fl, id, mm->msg_id, PEND_SUB);
		uint32_t total = mm->n_topics + mm->topics_dropped;
		p->n = (uint8_t)(total > 255 ? 255 : total);
		/* filter i answers code i: stop at the first that does not fit */
		for (uint32_t i = 0; i < mm->n_topics; i++)
			if (!pend_put(p, mm->topics[i].name.p, mm->topics[i].name.len))
				break;
	}
	if (!z->active || !mm->n_topics)
		return;
	if (!identity_known(m)) {
		z->unknown_identity++;
		return;
	}
	struct who w;
	who_of(m, &w);
	struct decision first = { 0 };
	uint32_t denied = 0;
	jw_reset(&z->w);
	meta_who(&z->w, m, &w);
	jw_open_arr(&z->w, "filters");
	char fx[160] = "";
	for (uint32_t i = 0; i < mm->n_topics; i++) {
		const struct slice *s = &mm->topics[i].name;
		/* malformed filters are the protocol checks' business (invalid_topic_filter) */
		if (!sacl_filter_valid((const char *)s->p, s->len))
			continue;
		struct decision d;
		decide(z, &w, SACL_SUBSCRIBE, (const char *)s->p, s->len, &d);
		if (d.allowed || !d.checked)
			continue;
		if (!denied++) {
			first = d;
			tidy(fx, sizeof(fx), s->p, s->len);
		}
		jw_str(&z->w, NULL, s->p, s->len);
	}
	jw_close_arr(&z->w);
	if (!denied)
		return;
	jw_cstr(&z->w, "access", "subscribe");
	meta_source(z, &z->w, &first);
	char c[80];
	tidy(c, sizeof(c), (const uint8_t *)w.cid, strlen(w.cid));
	snprintf(z->detail, sizeof(z->detail),
		 "client '%s' subscribed to %u filter%s it may not read ('%s'%s)", c, denied,
		 denied == 1 ? "" : "s", fx, denied > 1 ? ", ..." : "");
	emit(z, m, "unauthorised_subscribe");
}

static void on_suback(struct authz *z, const struct sensor_msg *m)
{
	const struct mqtt_msg *mm = m->m;
	struct authz_pending *p = NULL;
	if (mm->has_msg_id) {
		const void *fl;
		uint64_t id;
		flow_key(m, &fl, &id);
		p = pend_find(z, fl, id, mm->msg_id, PEND_SUB);
	}
	uint32_t denied = 0, known = 0;
	uint8_t first_rc = 0;
	for (size_t i = 0; i < mm->codes.len; i++)
		if (mm->codes.p[i] >= 0x80) {
			if (!denied++)
				first_rc = mm->codes.p[i];
			if (p && i < p->kept)
				known++;
		}
	if (denied) {
		struct who w;
		who_of(m, &w);
		jw_reset(&z->w);
		meta_who(&z->w, m, &w);
		jw_open_arr(&z->w, "filters");
		char fx[160] = "";
		for (size_t i = 0; i < mm->codes.len; i++) {
			if (mm->codes.p[i] < 0x80 || !p || i >= p->kept)
				continue;
			if (!fx[0])
				tidy(fx, sizeof(fx), (const uint8_t *)p->buf + p->off[i], p->len[i]);
			jw_str(&z->w, NULL, (const uint8_t *)p->buf + p->off[i], p->len[i]);
		}
		jw_close_arr(&z->w);
		jw_open_arr(&z->w, "reason_codes");
		for (size_t i = 0; i < mm->codes.len; i++)
			if (mm->codes.p[i] >= 0x80)
				jw_uint(&z->w, NULL, mm->codes.p[i]);
		jw_close_arr(&z->w);
		jw_uint(&z->w, "reason_code", first_rc);
		jw_cstr(&z->w, "access", "subscribe");
		jw_cstr(&z->w, "source", "broker");
		char c[80];
		tidy(c, sizeof(c), (const uint8_t *)w.cid, strlen(w.cid));
		if (known)
			snprintf(z->detail, sizeof(z->detail),
				 "broker refused %u subscription%s of client '%s' ('%s', reason 0x%02x)",
				 denied, denied == 1 ? "" : "s", c, fx, first_rc);
		else
			snprintf(z->detail, sizeof(z->detail),
				 "broker refused %u subscription%s of client '%s' (reason 0x%02x; "
				 "filters unknown)",
				 denied, denied == 1 ? "" : "s", c, first_rc);
		emit(z, m, "broker_denied_subscribe");
	}
	if (p)
		p->seq = 0;
}

static void on_puback(struct authz *z, const struct sensor_msg *m)
{
	const struct mqtt_msg *mm = m->m;
	struct authz_pending *p = NULL;
	if (mm->has_msg_id) {
		const void *fl;
		uint64_t id;
		flow_key(m, &fl, &id);
		p = pend_find(z, fl, id, mm->msg_id, PEND_PUB);
	}
	if (mm->version == 5 && mm->has_reason_code && mm->reason_code >= 0x80) {
		struct who w;
		who_of(m, &w);
		jw_reset(&z->w);
		meta_who(&z->w, m, &w);
		char t[160] = "";
		if (p && p->kept) {
			jw_str(&z->w, "topic", (const uint8_t *)p->buf, p->len[0]);
			tidy(t, sizeof(t), (const uint8_t *)p->buf, p->len[0]);
		}
		jw_uint(&z->w, "reason_code", mm->reason_code);
		jw_cstr(&z->w, "access", "write");
		jw_cstr(&z->w, "source", "broker");
		char c[80];
		tidy(c, sizeof(c), (const uint8_t *)w.cid, strlen(w.cid));
		if (t[0])
			snprintf(z->detail, sizeof(z->detail),
				 "broker refused a PUBLISH of client '%s' to '%s' (reason 0x%02x)", c,
				 t, mm->reason_code);
		else
			snprintf(z->detail, sizeof(z->detail),
				 "broker refused a PUBLISH of client '%s' (reason 0x%02x; topic unknown)",
				 c, mm->reason_code);
		emit(z, m, "broker_denied_publish");
	}
	if (p)
		p->seq = 0;
}

static void authz_on_msg(void *state, const struct sensor_msg *m)
{
	struct authz *z = state;
	if (!z || !m || !m->m)
		return;
	switch (m->m->type) {
	case MQTT_PUBLISH:
		if (m->from_client)
			on_publish(z, m);
		break;
	case MQTT_SUBSCRIBE:
		if (m->from_client)
			on_subscribe(z, m);
		break;
	case MQTT_SUBACK:
		if (!m->from_client)
			on_suback(z, m);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
		if (!m->from_client)
			on_puback(z, m);
		break;
	default:
		break;
	}
}

static void authz_stats(void *state, struct sensor_stats *out)
{
	struct authz *z = state;
	sensor_stats_add(out, "pending_evicted", z->evicted);
	sensor_stats_add(out, "unknown_identity", z->unknown_identity);
}

const struct sensor_detector sensor_authz_detector = {
	.name = "authz",
	.init = authz_init,
	.on_msg = authz_on_msg,
	.stats = authz_stats,
	.free = authz_free,
};
