/*
 * sensor_integrity.c - payload integrity (issue 5 §3): the shared secret of
 * seed 000 case 2 ("messages without the shared secret key") and the
 * testbed's HMAC-SHA256 tail signature with replay detection (the
 * Value-to-HMAC idea of seeds 001/004; format in tools/common/tb_payload.h,
 * docs/TESTBED.md "Payload integrity"), per topic (docs/sensors.md).
 *
 * Keys come from a file that only its owner may read (like ssh); they are
 * wiped when freed and never written to a log, a report or the state.
 * MACs are computed with one EVP_MAC context made at init, fed the payload
 * in place: nothing is allocated per message.
 */
#define _POSIX_C_SOURCE 200809L
#include "sensor/sensor_integrity.h"
#include "sensor/sensor_telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "mqtt/mqtt_topic.h"
#include "util/jw.h"
#include "util/ktable.h"

#define INTEG_MAX_TOPICS 64
#define INTEG_FILTER_MAX 256
#define INTEG_KEYS_FILE_MAX (4u << 20)
#define INTEG_RECENT 4                 /* signatures remembered per device */
#define INTEG_MAC_LEN 32
#define INTEG_COUNT_MAX 1000000u       /* upper bound of max-keys, max-devices */
#define INTEG_INT_MAX 9007199254740992.0 /* 2^53: counters and times JSON holds exactly */
#define INTEG_SKEW_MAX (10.0 * 365 * 86400)
#define INTEG_META_TOPIC_MAX 256       /* bytes of the topic written into meta */
#define INTEG_LOAD_MSG_MAX 5

/* ---- the key file ---- */

int integ_keys_init(struct integ_keys *k, uint32_t cap)
{
	memset(k, 0, sizeof(*k));
	k->v = calloc(cap ? cap : 1, sizeof(*k->v));
	if (!k->v)
		return -1;
	k->cap = cap;
	return 0;
}

void integ_keys_deinit(struct integ_keys *k)
{
	if (!k)
		return;
	if (k->v) {
		OPENSSL_cleanse(k->v, (size_t)(k->cap ? k->cap : 1) * sizeof(*k->v));
		free(k->v);
	}
	OPENSSL_cleanse(k, sizeof(*k));
}

/* What one parse call writes to its log. */
struct kp {
	struct integ_keys *k;
	const char *fname;
	FILE *log;
	bool hex_required;
	uint32_t found;
};

static void kp_problem(struct kp *c, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Counts one problem; prints the first INTEG_MSG_SHOWN as "FILE:LINE: text". */
static void kp_problem(struct kp *c, uint32_t line, const char *fmt, ...)
{
	c->found++;
	c->k->problems++;
	if (!c->log || c->found > INTEG_MSG_SHOWN)
		return;
	fprintf(c->log, "%s:%u: ", c->fname, line);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(c->log, fmt, ap);
	va_end(ap);
	fputc('\n', c->log);
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/*
 * One line s[0..n) without its '\n'. Words are separated by blanks and a
 * word starting with '#' ends the line. Nothing of the line is ever
 * printed: a malformed line may be a key that lost its name.
 */
static void kp_line(struct kp *c, const uint8_t *s, size_t n, uint32_t line)
{
	if (n && s[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == 0) {
			kp_problem(c, line, "line contains a NUL byte; skipped");
			return;
		}
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			kp_problem(c, line, "line contains a control character; skipped");
			return;
		}
	}
	size_t w[3][2];
	unsigned nw = 0;
	size_t i = 0;
	for (;;) {
		while (i < n && is_blank(s[i]))
			i++;
		if (i == n || s[i] == '#')
			break;
		size_t a = i;
		while (i < n && !is_blank(s[i]))
			i++;
		if (nw == 3)
			break;
		w[nw][0] = a;
		w[nw][1] = i - a;
		nw++;
	}
	if (nw == 0)
		return;
	if (nw == 1) {
		kp_problem(c, line, "expected \"<device> <key>\" or \"* <shared secret>\"; skipped");
		return;
	}
	if (nw > 2) {
		kp_problem(c, line, "extra text after the key (a comment starts with #); skipped");
		return;
	}
	const uint8_t *name = s + w[0][0], *tok = s + w[1][0];
	size_t name_len = w[0][1], tok_len = w[1][1];
	if (name_len > SENSOR_ID_MAX) {
		kp_problem(c, line, "device name longer than %d bytes; skipped", SENSOR_ID_MAX);
		return;
	}
	if (tok_len > INTEG_SECRET_MAX) {
		kp_problem(c, line, "key longer than %d bytes; skipped", INTEG_SECRET_MAX);
		return;
	}
	bool hex = tok_len >= 2 && tok_len % 2 == 0;
	for (size_t j = 0; hex && j < tok_len; j++)
		hex = hexval(tok[j]) >= 0;
	bool shared = name_len == 1 && name[0] == '*';
	struct integ_key *e;
	if (shared) {
		if (c->k->has_shared) {
			kp_problem(c, line, "the shared secret is already set at line %u; skipped",
				   c->k->shared.line);
			return;
		}
		e = &c->k->shared;
	} else {
		if (!hex && c->hex_required) {
			kp_problem(c, line,
				   "the HMAC key is not an even number of hex digits (2 to %d); skipped",
				   INTEG_SECRET_MAX);
			return;
		}
		for (uint32_t j = 0; j < c->k->n; j++) {
			const struct integ_key *o = &c->k->v[j];
			if (strlen(o->name) == name_len && !memcmp(o->name, name, name_len)) {
				kp_problem(c, line, "the device already has a key at line %u; skipped",
					   o->line);
				return;
			}
		}
		if (c->k->n >= c->k->cap) {
			kp_problem(c, line, "more than max-keys (%u) keys; skipped", c->k->cap);
			return;
		}
		e = &c->k->v[c->k->n++];
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->name, name, name_len);
	e->line = line;
	memcpy(e->secret, tok, tok_len);
	e->secret_len = (uint32_t)tok_len;
	if (hex && !shared) {
		e->has_hmac = true;
		e->hmac_len = (uint32_t)(tok_len / 2);
		for (size_t j = 0; j < e->hmac_len; j++)
			e->hmac[j] = (uint8_t)(hexval(tok[2 * j]) << 4 | hexval(tok[2 * j + 1]));
	}
	if (shared)
		c->k->has_shared = true;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct integ_key *)a)->name, ((const struct integ_key *)b)->name);
}

uint32_t integ_keys_parse(struct integ_keys *k, const char *buf, size_t n,
			  const char *fname, bool hex_required, FILE *log)
{
	struct kp c = { k, fname ? fname : "keys", log, hex_required, 0 };
	const uint8_t *p = (const uint8_t *)buf;
	uint32_t line = 0;
	size_t at = 0;
	while (p && at < n) {
		const uint8_t *nl = memchr(p + at, '\n', n - at);
		size_t len = nl ? (size_t)(nl - (p + at)) : n - at;
		if (line < UINT32_MAX)
			line++;
		kp_line(&c, p + at, len, line);
		at += len + (nl ? 1 : 0);
	}
	if (k->n > 1)
		qsort(k->v, k->n, sizeof(*k->v), key_cmp);
	if (c.found > INTEG_MSG_SHOWN && log)
		fprintf(log, "%s: %u more problems not shown\n", c.fname, c.found - INTEG_MSG_SHOWN);
	return c.found;
}

const struct integ_key *integ_keys_find(const struct integ_keys *k, const char *device)
{
	if (!k || !k->n || !device)
		return NULL;
	size_t lo = 0, hi = k->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(device, k->v[mid].name);
		if (d == 0)
			return &k->v[mid];
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int integ_keys_load(struct integ_keys *k, const char *path, bool hex_required, FILE *log)
{
	int rc = -1;
	char *buf = NULL;
	size_t cap = 0, len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (log)
			fprintf(log, "%s: cannot open the integrity key file: %s\n", path,
				strerror(errno));
		goto out;
	}
	/* fstat on the open file, so what is checked is what is read. */
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		if (log)
			fprintf(log, "%s: the integrity key file is not a regular file\n", path);
		goto out;
	}
	if (sb.st_mode & 077) {
		if (log)
			fprintf(log,
				"%s: permissions %04o are too open: the integrity key file must not "
				"be readable or writable by group or others; fix with: chmod 600 %s\n",
				path, (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > INTEG_KEYS_FILE_MAX) {
		if (log)
			fprintf(log, "%s: the integrity key file is larger than %u bytes\n", path,
				INTEG_KEYS_FILE_MAX);
		goto out;
	}
	cap = (size_t)sb.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		if (log)
			fprintf(log, "%s: out of memory\n", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (log)
				fprintf(log, "%s: cannot read the integrity key file: %s\n", path,
					strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) {
			if (log)
				fprintf(log, "%s: the integrity key file changed while being read\n",
					path);
			goto out;
		}
	}
	integ_keys_parse(k, buf, len, path, hex_required, log);
	rc = 0;
out:
	if (buf) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- configuration ---- */

enum integ_mode { INTEG_NONE = 0, INTEG_KEY, INTEG_HMAC };
enum integ_dev_from { INTEG_DEV_TELEMETRY = 0, INTEG_DEV_CLIENT_ID };

static const char *const mode_names[] = { "none", "key", "hmac" };

struct integ_topic {
	char filter[INTEG_FILTER_MAX];
	enum integ_mode mode;
	enum integ_dev_from dev_from;
	char key_field[SENSOR_FIELD_MAX + 1];
	char hmac_field[SENSOR_FIELD_MAX + 1];
	char counter_field[SENSOR_FIELD_MAX + 1];
	char time_field[SENSOR_FIELD_MAX + 1];
	char tail[SENSOR_FIELD_MAX + 8];   /* ,"hmac":"  */
	size_t tail_len;
	uint64_t max_skew;                 /* seconds; 0: times not checked */
};

/*
 * One device's replay state: an entry of the keyed table, keyed by the
 * device name. The name is zero padded and has no NUL when it is
 * SENSOR_ID_MAX bytes long.
 */
struct integ_dev {
	struct kt_node node;
	bool has_ctr, has_ts;
	uint8_t n_recent, last_recent;
	uint64_t ctr, ts;
	uint8_t recent[INTEG_RECENT][INTEG_MAC_LEN];
	char device[SENSOR_ID_MAX];
};

/* The replay table's one list, in evict order: most recently accepted first. */
#define INTEG_LIST_ACCEPTED 0

struct integ {
	FILE *log;
	void (*report)(void *ud, const struct sensor_report *r);
	void *ud;
	uint32_t n_topics;
	struct integ_topic topics[INTEG_MAX_TOPICS];
	struct integ_keys keys;
	bool has_keys_file;
	EVP_MAC *mac;
	EVP_MAC_CTX *mctx;
	struct ktable *devs;               /* "integrity_devices" */
	uint32_t max_devs;
	struct jw w;
	struct integ_stats st;
	bool mac_error_logged;
};

static void logf_(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(FILE *log, const char *fmt, ...)
{
	if (!log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(log, fmt, ap);
	va_end(ap);
	fputc('\n', log);
}

/* A JSON member name we can look up and splice into the tail text verbatim. */
static bool field_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SENSOR_FIELD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

static int cfg_field(FILE *log, const cJSON *obj, const char *key, const char *def, char *out)
{
	const char *s = scfg_str(log, obj, key, def, NULL);
	if (!s || !field_name_ok(s)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(obj, key),
			 "expected a JSON member name of 1 to %d printable ASCII characters "
			 "without quotes or backslashes",
			 SENSOR_FIELD_MAX);
		return -1;
	}
	snprintf(out, SENSOR_FIELD_MAX + 1, "%s", s);
	return 0;
}

/* A whole number in [lo, hi]; -1 after a message when it is not. */
static int cfg_count(FILE *log, const cJSON *obj, const char *key, uint32_t def, uint32_t lo,
		     uint32_t hi, uint32_t *out)
{
	bool bad = false;
	double v = scfg_num(log, obj, key, def, &bad);
	if (bad)
		return -1;
	if (v < lo || v > hi || v != floor(v)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(obj, key),
			 "expected a whole number from %u to %u", lo, hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int cfg_skew(FILE *log, const cJSON *obj, double def, uint64_t *out)
{
	bool bad = false;
	double v = scfg_dur(log, obj, "max-skew", def, &bad);
	if (bad)
		return -1;
	if (!(v >= 0 && v <= INTEG_SKEW_MAX)) {
		scfg_err(log, cJSON_GetObjectItemCaseSensitive(obj, "max-skew"),
			 "expected a duration up to 10 years");
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

static int cfg_dev_from(FILE *log, const cJSON *obj, enum integ_dev_from def,
			enum integ_dev_from *out)
{
	const char *s = scfg_str(log, obj, "device-from", NULL, NULL);
	if (!s) {
		*out = def;
		return 0;
	}
	if (!strcmp(s, "telemetry")) {
		*out = INTEG_DEV_TELEMETRY;
		return 0;
	}
	if (!strcmp(s, "client-id")) {
		*out = INTEG_DEV_CLIENT_ID;
		return 0;
	}
	scfg_err(log, cJSON_GetObjectItemCaseSensitive(obj, "device-from"),
		 "expected telemetry or client-id");
	return -1;
}

static void cfg_warn_unknown(FILE *log, const cJSON *obj, const char *const *known)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		bool ok = false;
		for (size_t i = 0; known[i] && !ok; i++)
			ok = it->string && !strcmp(it->string, known[i]);
		if (!ok)
			scfg_err(log, it, "unknown key (ignored)");
	}
}

static const char *const topic_keys[] = { "filter",	   "mode",	 "key-field",
					  "hmac-field",	   "counter-field", "time-field",
					  "max-skew",	   "device-from",   NULL };
static const char *const section_keys[] = { "topics",	   "keys-file", "max-keys",
					    "max-devices", "max-skew",	"device-from",
					    NULL };

/* One topics entry into t; -1 after a message (the run stops). */
static int cfg_topic(FILE *log, const cJSON *e, uint64_t skew_def, enum integ_dev_from dev_def,
		     struct integ_topic *t)
{
	if (!cJSON_IsObject(e)) {
		scfg_err(log, e, "expected a mapping with filter and mode");
		return -1;
	}
	cfg_warn_unknown(log, e, topic_keys);
	const char *f = scfg_str(log, e, "filter", NULL, NULL);
	if (!f || !*f || strlen(f) >= sizeof(t->filter)) {
		scfg_err(log, e, "filter: expected an MQTT topic filter of 1 to %d bytes",
			 INTEG_FILTER_MAX - 1);
		return -1;
	}
	snprintf(t->filter, sizeof(t->filter), "%s", f);
	const char *mode = scfg_str(log, e, "mode", NULL, NULL);
	if (!mode || (strcmp(mode, "none") && strcmp(mode, "key") && strcmp(mode, "hmac"))) {
		const cJSON *mn = cJSON_GetObjectItemCaseSensitive(e, "mode");
		scfg_err(log, mn ? mn : e, "expected mode: none, key or hmac");
		return -1;
	}
	t->mode = !strcmp(mode, "none") ? INTEG_NONE : !strcmp(mode, "key") ? INTEG_KEY : INTEG_HMAC;
	if (cfg_field(log, e, "key-field", "key", t->key_field) ||
	    cfg_field(log, e, "hmac-field", "hmac", t->hmac_field) ||
	    cfg_field(log, e, "counter-field", "ctr", t->counter_field) ||
	    cfg_field(log, e, "time-field", "ts", t->time_field) ||
	    cfg_skew(log, e, (double)skew_def, &t->max_skew) ||
	    cfg_dev_from(log, e, dev_def, &t->dev_from))
		return -1;
	int n = snprintf(t->tail, sizeof(t->tail), ",\"%s\":\"", t->hmac_field);
	t->tail_len = (size_t)n;
	return 0;
}

/*
 * ---- the replay table: a keyed table (util/ktable.h) of max-devices
 * entries with one recency list, least recently accepted at its tail ----
 */

/* The bytes of device that key its entry: at most SENSOR_ID_MAX. */
static size_t dev_key_len(const char *device)
{
	return strnlen(device, SENSOR_ID_MAX);
}

static bool dev_is(const struct integ_dev *d, const char *device, size_t len)
{
	return !memcmp(d->device, device, len) && (len == SENSOR_ID_MAX || d->device[len] == 0);
}

static struct integ_dev *dev_find(const struct integ *st, const char *device)
{
	size_t len = dev_key_len(device);
	uint32_t h = kt_hash(st->devs, device, len);
	for (struct integ_dev *d = kt_first(st->devs, h); d; d = kt_next(st->devs, d))
		if (kt_hash_of(d) == h && dev_is(d, device, len))
			return d;
	return NULL;
}

/*
 * A fresh entry for device (not in the table), at the head of the list.
 * When every entry is taken the least recently accepted device is
 * forgotten (counted as evicted): its next message starts afresh. Never
 * refused: the one list is in evict order.
 */
static struct integ_dev *dev_insert(struct integ *st, const char *device)
{
	size_t len = dev_key_len(device);
	struct integ_dev *v = kt_victim(st->devs);
	if (v) {
		OPENSSL_cleanse(v->recent, sizeof(v->recent));
		kt_remove(st->devs, v, 1);
	}
	struct integ_dev *d =
		kt_insert(st->devs, kt_hash(st->devs, device, len), INTEG_LIST_ACCEPTED, 0);
	if (d)
		memcpy(d->device, device, len);
	return d;
}

static void dev_remember(struct integ_dev *d, const uint8_t mac[INTEG_MAC_LEN])
{
	uint8_t at = d->n_recent < INTEG_RECENT ? d->n_recent : (uint8_t)((d->last_recent + 1) % INTEG_RECENT);
	memcpy(d->recent[at], mac, INTEG_MAC_LEN);
	d->last_recent = at;
	if (d->n_recent < INTEG_RECENT)
		d->n_recent++;
}

static bool dev_seen(const struct integ_dev *d, const uint8_t mac[INTEG_MAC_LEN])
{
	for (uint8_t i = 0; i < d->n_recent; i++)
		if (!memcmp(d->recent[i], mac, INTEG_MAC_LEN))
			return true;
	return false;
}

/* ---- reports ---- */

/* The message being checked, for the report helpers. */
struct ictx {
	struct integ *st;
	const struct sensor_msg *m;
	const struct integ_topic *t;
	const char *device;
	char dev_txt[SENSOR_ID_MAX + 1];   /* printable copies for detail */
	char topic_txt[SENSOR_ID_MAX + 1];
};

/* Printable ASCII copy of p[0..n) for a detail line ('?' for the rest, cut with "..."). */
static void printable(char *out, size_t cap, const uint8_t *p, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && p; i++) {
		if (o + 1 >= cap) {
			if (cap >= 4) {
				memcpy(out + cap - 4, "...", 3);
				o = cap - 1;
			}
			break;
		}
		out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	}
	out[o] = 0;
}

static void meta_begin(struct ictx *c)
{
	struct jw *w = &c->st->w;
	jw_reset(w);
	jw_cstr(w, "device", c->device);
	size_t budget = INTEG_META_TOPIC_MAX;
	jw_str_budget(w, "topic", c->m->topic.p ? c->m->topic.p : (const uint8_t *)"",
		      c->m->topic.len, &budget);
	jw_cstr(w, "client_id", c->m->client_id ? c->m->client_id : "");
	jw_cstr(w, "mode", mode_names[c->t->mode]);
}

static void emit(struct ictx *c, const char *event, const char *detail)
{
	struct integ *st = c->st;
	st->st.reports++;
	if (!st->report)
		return;
	struct sensor_report r;
	memset(&r, 0, sizeof(r));
	r.base = c->m->ev;
	r.ts_us = c->m->ts_us;
	r.addr = &c->m->client;
	r.layer = "integrity";
	r.event = event;
	r.detail = detail;
	if (!st->w.oom) {
		r.meta = st->w.buf;
		r.meta_len = st->w.len;
	}
	st->report(st->ud, &r);
}

/* A report with only the common meta members. */
static void emit_simple(struct ictx *c, const char *event, const char *reason, const char *what)
{
	char detail[512];
	snprintf(detail, sizeof(detail), "%s: device %s on %s", what, c->dev_txt, c->topic_txt);
	meta_begin(c);
	if (reason)
		jw_cstr(&c->st->w, "reason", reason);
	emit(c, event, detail);
}

/* ---- the checks ---- */

/*
 * s equals k's secret. Both are compared as INTEG_SECRET_MAX zero-padded
 * bytes with CRYPTO_memcmp, so the time taken does not depend on the
 * secret, only on whether the lengths match.
 */
static bool secret_eq(const struct integ_key *k, const char *s)
{
	size_t n = strlen(s);
	if (n > INTEG_SECRET_MAX)
		return false;
	uint8_t buf[INTEG_SECRET_MAX];
	memset(buf, 0, sizeof(buf));
	memcpy(buf, s, n);
	int d = CRYPTO_memcmp(buf, k->secret, sizeof(buf));
	OPENSSL_cleanse(buf, sizeof(buf));
	return (d == 0) & (n == k->secret_len);
}

static void check_key(struct ictx *c, const cJSON *json)
{
	const struct integ_topic *t = c->t;
	const cJSON *v = cJSON_IsObject(json) ? cJSON_GetObjectItemCaseSensitive(json, t->key_field)
					      : NULL;
	if (!v) {
		char what[128];
		snprintf(what, sizeof(what), json ? "no \"%s\" member in the payload"
						 : "payload is not JSON, so no \"%s\" member",
			 t->key_field);
		emit_simple(c, "key_missing", NULL, what);
		return;
	}
	const struct integ_key *k = integ_keys_find(&c->st->keys, c->device);
	if (!k && c->st->keys.has_shared)
		k = &c->st->keys.shared;
	if (!k) {
		emit_simple(c, "unknown_device", NULL, "no shared secret and no key in the keys file");
		return;
	}
	if (!cJSON_IsString(v) || !v->valuestring || !secret_eq(k, v->valuestring)) {
		char what[128];
		snprintf(what, sizeof(what), "\"%s\" is not the %s secret", t->key_field,
			 k == &c->st->keys.shared ? "shared" : "device's");
		emit_simple(c, "key_wrong", NULL, what);
		return;
	}
	c->st->st.accepted++;
}

/* 64 lowercase hex digits into 32 bytes; false on anything else. */
static bool hex64_lower(const uint8_t *p, uint8_t out[INTEG_MAC_LEN])
{
	for (size_t i = 0; i < 2 * INTEG_MAC_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	for (size_t i = 0; i < INTEG_MAC_LEN; i++)
		out[i] = (uint8_t)(hexval(p[2 * i]) << 4 | hexval(p[2 * i + 1]));
	return true;
}

/* A top-level whole number in [0, 2^53] (what JSON carries exactly). */
static bool json_uint(const cJSON *json, const char *name, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, name);
	if (!cJSON_IsNumber(v))
		return false;
	double d = v->valuedouble;
	if (!isfinite(d) || d < 0 || d > INTEG_INT_MAX || d != floor(d))
		return false;
	*out = (uint64_t)d;
	return true;
}

/*
 * HMAC-SHA256 under k of p[0..at) followed by "}", into mac. The context
 * is re-keyed, not re-made; the payload is not copied. 0 or -1.
 */
static int mac_compute(struct integ *st, const struct integ_key *k, const uint8_t *p, size_t at,
		       uint8_t mac[INTEG_MAC_LEN])
{
	size_t outl = 0;
	if (!EVP_MAC_init(st->mctx, k->hmac, k->hmac_len, NULL) ||
	    !EVP_MAC_update(st->mctx, p, at) ||
	    !EVP_MAC_update(st->mctx, (const unsigned char *)"}", 1) ||
	    !EVP_MAC_final(st->mctx, mac, &outl, INTEG_MAC_LEN) || outl != INTEG_MAC_LEN) {
		if (!st->mac_error_logged)
			logf_(st->log, "integrity: HMAC computation failed (OpenSSL); messages "
				       "are not checked");
		st->mac_error_logged = true;
		return -1;
	}
	return 0;
}

static void report_replay(struct ictx *c, const char *reason, const struct integ_dev *d,
			  bool hc, uint64_t ctr, bool ht, uint64_t ts, uint64_t now)
{
	struct jw *w = &c->st->w;
	char detail[512], why[200];
	if (!strcmp(reason, "duplicate"))
		snprintf(why, sizeof(why), "the same signature was accepted recently");
	else if (!strcmp(reason, "counter"))
		snprintf(why, sizeof(why), "counter %llu not above %llu and time %llu not after %llu",
			 (unsigned long long)ctr, (unsigned long long)d->ctr,
			 (unsigned long long)ts, (unsigned long long)d->ts);
	else if (!strcmp(reason, "stale"))
		snprintf(why, sizeof(why), "time %llu is more than %llus before event time %llu",
			 (unsigned long long)ts, (unsigned long long)c->t->max_skew,
			 (unsigned long long)now);
	else
		snprintf(why, sizeof(why), "time %llu is more than %llus after event time %llu",
			 (unsigned long long)ts, (unsigned long long)c->t->max_skew,
			 (unsigned long long)now);
	snprintf(detail, sizeof(detail), "replayed message: device %s on %s: %s", c->dev_txt,
		 c->topic_txt, why);
	meta_begin(c);
	jw_cstr(w, "reason", reason);
	if (hc)
		jw_uint(w, "counter", ctr);
	if (d && d->has_ctr)
		jw_uint(w, "last_counter", d->ctr);
	if (ht)
		jw_uint(w, "ts", ts);
	if (d && d->has_ts)
		jw_uint(w, "last_ts", d->ts);
	if (!strcmp(reason, "stale") || !strcmp(reason, "future")) {
		jw_uint(w, "now", now);
		jw_uint(w, "max_skew", c->t->max_skew);
	}
	emit(c, "replay", detail);
}

/*
 * Mode hmac: the tail ,"<hmac-field>":"<64 lowercase hex>"} must end the
 * payload, verify under the device's key, and not repeat an accepted
 * message (signature, counter and time). Only accepted messages change the
 * replay state.
 */
static void check_hmac(struct ictx *c, const cJSON *json)
{
	struct integ *st = c->st;
	const struct integ_topic *t = c->t;
	const uint8_t *p = c->m->payload.p;
	size_t n = p ? c->m->payload.len : 0;
	const size_t tl = t->tail_len;
	uint8_t given[INTEG_MAC_LEN], mac[INTEG_MAC_LEN];
	size_t at = 0;
	bool tail = false;
	if (n >= tl + 2 * INTEG_MAC_LEN + 2 + 1) {
		at = n - (tl + 2 * INTEG_MAC_LEN + 2);
		tail = !memcmp(p + at, t->tail, tl) && p[n - 2] == '"' && p[n - 1] == '}' &&
		       hex64_lower(p + at + tl, given);
	}
	if (!json || !cJSON_IsObject(json)) {
		emit_simple(c, "hmac_missing", "not_json",
			    "payload is not a JSON object, so it carries no signature");
		return;
	}
	if (!tail) {
		bool has = cJSON_GetObjectItemCaseSensitive(json, t->hmac_field) != NULL;
		char what[160];
		snprintf(what, sizeof(what),
			 has ? "\"%s\" is not a last member of 64 lowercase hex digits"
			     : "no \"%s\" signature",
			 t->hmac_field);
		emit_simple(c, "hmac_missing", has ? "malformed" : "absent", what);
		return;
	}
	const struct integ_key *k = integ_keys_find(&st->keys, c->device);
	if (!k || !k->has_hmac) {
		emit_simple(c, "unknown_device", NULL,
			    k ? "the keys file has no HMAC (hex) key for this device"
			      : "no HMAC key for this device in the keys file");
		return;
	}
	if (mac_compute(st, k, p, at, mac) != 0)
		return;
	int diff = CRYPTO_memcmp(mac, given, INTEG_MAC_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (diff != 0) {
		emit_simple(c, "hmac_wrong", NULL, "the HMAC signature does not verify");
		return;
	}

	uint64_t ctr = 0, ts = 0;
	bool hc = json_uint(json, t->counter_field, &ctr);
	bool ht = json_uint(json, t->time_field, &ts);
	uint64_t now = c->m->ts_us / 1000000u;
	struct integ_dev *d = dev_find(st, c->device);
	const char *reason = NULL;
	if (d && dev_seen(d, given)) {
		/* A QoS>0 retransmission of the last accepted message is no attack. */
		if (c->m->m->dup && c->m->m->qos > 0 &&
		    !memcmp(d->recent[d->last_recent], given, INTEG_MAC_LEN))
			return;
		reason = "duplicate";
	} else if (d && hc && ht && d->has_ctr && d->has_ts && ctr <= d->ctr && ts <= d->ts) {
		reason = "counter";
	} else if (ht && t->max_skew && ts + t->max_skew < now) {
		reason = "stale";
	} else if (ht && t->max_skew && ts > now + t->max_skew) {
		reason = "future";
	}
	if (reason) {
		report_replay(c, reason, d, hc, ctr, ht, ts, now);
		return;
	}
	if (!d) {
		d = dev_insert(st, c->device);
		if (!d)
			return;
	} else {
		kt_touch(st->devs, d);
	}
	/* A rebooted device restarts its counter with a newer time. */
	if (hc) {
		d->ctr = ctr;
		d->has_ctr = true;
	}
	if (ht && (!d->has_ts || ts > d->ts)) {
		d->ts = ts;
		d->has_ts = true;
	}
	dev_remember(d, given);
	st->st.accepted++;
}

/* The policy entry for m, or NULL when m is not checked. */
static const struct integ_topic *integ_policy(const struct integ *st, const struct sensor_msg *m)
{
	if (!st || !m || !m->m || !m->from_client || m->m->type != MQTT_PUBLISH)
		return NULL;
	const char *topic = m->topic.p ? (const char *)m->topic.p : "";
	size_t len = m->topic.p ? m->topic.len : 0;
	for (uint32_t i = 0; i < st->n_topics; i++)
		if (mqtt_topic_match(st->topics[i].filter, topic, len))
			return st->topics[i].mode == INTEG_NONE ? NULL : &st->topics[i];
	return NULL;
}

static void integ_run(struct integ *st, const struct sensor_msg *m, const struct integ_topic *t,
		      const cJSON *json)
{
	struct ictx c;
	c.st = st;
	c.m = m;
	c.t = t;
	if (t->dev_from == INTEG_DEV_TELEMETRY && m->tm && m->tm->device[0])
		c.device = m->tm->device;
	else
		c.device = m->client_id ? m->client_id : "";
	printable(c.dev_txt, sizeof(c.dev_txt), (const uint8_t *)c.device, strlen(c.device));
	printable(c.topic_txt, sizeof(c.topic_txt), m->topic.p, m->topic.p ? m->topic.len : 0);
	st->st.checked++;
	if (t->mode == INTEG_KEY)
		check_key(&c, json);
	else
		check_hmac(&c, json);
}

void integ_check(void *state, const struct sensor_msg *m, const cJSON *json)
{
	struct integ *st = state;
	const struct integ_topic *t = integ_policy(st, m);
	if (t)
		integ_run(st, m, t, json);
}

static void integ_on_msg(void *state, const struct sensor_msg *m)
{
	struct integ *st = state;
	/* Ask for the parsed payload only when the topic is checked. */
	const struct integ_topic *t = integ_policy(st, m);
	if (t)
		integ_run(st, m, t, sensor_msg_json(m));
}

void integ_get_stats(const void *state, struct integ_stats *out)
{
	const struct integ *st = state;
	memset(out, 0, sizeof(*out));
	if (!st)
		return;
	*out = st->st;
	out->keys = st->keys.n;
	if (st->devs) {
		const struct kt_stats *ks = kt_stats(st->devs);
		out->devices = ks->active;
		out->evictions = ks->evicted;
	}
}

/* ---- state ---- */

/* Devices from least to most recently used, so load rebuilds the LRU order. */
static cJSON *integ_save(void *state)
{
	struct integ *st = state;
	if (!st || !st->devs || !kt_tail(st->devs, INTEG_LIST_ACCEPTED))
		return NULL;
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = root ? cJSON_AddArrayToObject(root, "devices") : NULL;
	if (!arr)
		goto fail;
	for (const struct integ_dev *d = kt_tail(st->devs, INTEG_LIST_ACCEPTED); d;
	     d = kt_newer(st->devs, d)) {
		char name[SENSOR_ID_MAX + 1];
		size_t len = strnlen(d->device, SENSOR_ID_MAX);
		memcpy(name, d->device, len);
		name[len] = 0;
		cJSON *o = cJSON_CreateObject();
		if (!o)
			goto fail;
		cJSON_AddItemToArray(arr, o);
		if (!cJSON_AddStringToObject(o, "device", name))
			goto fail;
		if (d->has_ctr && !cJSON_AddNumberToObject(o, "ctr", (double)d->ctr))
			goto fail;
		if (d->has_ts && !cJSON_AddNumberToObject(o, "ts", (double)d->ts))
			goto fail;
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

static bool load_num(const cJSON *o, const char *name, uint64_t *out, bool *has, bool *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return true;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > INTEG_INT_MAX || v->valuedouble != floor(v->valuedouble)) {
		*bad = true;
		return false;
	}
	*out = (uint64_t)v->valuedouble;
	*has = true;
	return true;
}

/*
 * Takes {"devices":[{"device":"d","ctr":n,"ts":n},...]} as save wrote it.
 * Untrusted: entries that are malformed, or name a device without an
 * HMAC key, are skipped and counted (a few are named on the log). A
 * device already seen in this run keeps its live state.
 */
static void integ_load(void *state, const cJSON *saved)
{
	struct integ *st = state;
	if (!st || !saved)
		return;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(saved, "devices");
	if (!cJSON_IsObject(saved) || !cJSON_IsArray(arr)) {
		logf_(st->log, "integrity state: expected {\"devices\":[...]}; ignored");
		st->st.load_skipped++;
		return;
	}
	uint32_t idx = 0, msgs = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, arr)
	{
		idx++;
		const cJSON *dv = cJSON_GetObjectItemCaseSensitive(o, "device");
		uint64_t ctr = 0, ts = 0;
		bool hc = false, ht = false, bad = false;
		const char *why = NULL;
		if (!cJSON_IsObject(o) || !cJSON_IsString(dv) || !dv->valuestring ||
		    !dv->valuestring[0] || strlen(dv->valuestring) > SENSOR_ID_MAX)
			why = "no device name of 1 to 128 bytes";
		else if (!load_num(o, "ctr", &ctr, &hc, &bad) || !load_num(o, "ts", &ts, &ht, &bad))
			why = "ctr and ts must be whole numbers from 0 to 2^53";
		else if (!hc && !ht)
			why = "neither ctr nor ts";
		else {
			const struct integ_key *k = integ_keys_find(&st->keys, dv->valuestring);
			if (!k || !k->has_hmac)
				why = "the device has no HMAC key";
		}
		if (why) {
			st->st.load_skipped++;
			if (msgs++ < INTEG_LOAD_MSG_MAX)
				logf_(st->log, "integrity state: device entry %u ignored: %s", idx, why);
			continue;
		}
		if (dev_find(st, dv->valuestring))
			continue;
		struct integ_dev *d = dev_insert(st, dv->valuestring);
		if (!d)
			continue;
		d->ctr = ctr;
		d->has_ctr = hc;
		d->ts = ts;
		d->has_ts = ht;
	}
	if (msgs > INTEG_LOAD_MSG_MAX)
		logf_(st->log, "integrity state: %u more entries ignored", msgs - INTEG_LOAD_MSG_MAX);
}

/* ---- life cycle ---- */

static void integ_free(void *state)
{
	struct integ *st = state;
	if (!st)
		return;
	EVP_MAC_CTX_free(st->mctx);
	EVP_MAC_free(st->mac);
	integ_keys_deinit(&st->keys);
	if (st->devs) {
		/* The recent signatures are not secret, but nothing is left behind. */
		struct integ_dev *d;
		while ((d = kt_tail(st->devs, INTEG_LIST_ACCEPTED)) != NULL) {
			OPENSSL_cleanse(d->recent, sizeof(d->recent));
			kt_remove(st->devs, d, 0);
		}
		kt_free(st->devs);
	}
	jw_deinit(&st->w);
	free(st);
}

static int integ_tables(struct integ *st)
{
	struct kt_opts o = {
		.name = "integrity_devices",
		.capacity = st->max_devs,
		.entry_size = sizeof(struct integ_dev),
		.n_parts = 1,
		.n_lists = 1,
		.list = { { 0, KT_EVICT, 0 } },
		.n_evict = 1,
		.evict = { INTEG_LIST_ACCEPTED },
	};
	st->devs = kt_new(&o);
	return st->devs ? 0 : -1;
}

static int integ_mac_init(struct integ *st)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	st->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	st->mctx = st->mac ? EVP_MAC_CTX_new(st->mac) : NULL;
	if (!st->mctx || !EVP_MAC_CTX_set_params(st->mctx, params)) {
		logf_(st->log, "integrity: OpenSSL has no HMAC-SHA256");
		return -1;
	}
	return 0;
}

/*
 * Reads the "integrity" section (NULL: no topic is checked), loads the key
 * file and makes the tables. Returns -1 after a message when the policy
 * cannot be enforced as written: a bad entry, a mode without a keys file,
 * a key file that cannot be read or that others may read.
 */
static int integ_init(const struct sensor_env *env, const cJSON *cfg, void **state)
{
	*state = NULL;
	struct integ *st = calloc(1, sizeof(*st));
	if (!st) {
		logf_(env->log, "integrity: out of memory");
		return -1;
	}
	FILE *log = env->log;
	st->log = log;
	st->report = env->report;
	st->ud = env->ud;
	jw_init(&st->w);
	if (cfg && !cJSON_IsObject(cfg)) {
		scfg_err(log, cfg, "expected a mapping");
		goto fail;
	}
	cfg_warn_unknown(log, cfg, section_keys);
	uint32_t max_keys = 4096, max_devs = 4096;
	uint64_t skew = 300;
	enum integ_dev_from dev_from = INTEG_DEV_TELEMETRY;
	if (cfg_count(log, cfg, "max-keys", 4096, 1, INTEG_COUNT_MAX, &max_keys) ||
	    cfg_count(log, cfg, "max-devices", 4096, 1, INTEG_COUNT_MAX, &max_devs) ||
	    cfg_skew(log, cfg, 300, &skew) || cfg_dev_from(log, cfg, INTEG_DEV_TELEMETRY, &dev_from))
		goto fail;
	st->max_devs = max_devs;

	bool any_key = false, any_hmac = false;
	const cJSON *topics = scfg_list(cfg, "topics");
	if (topics) {
		const cJSON *e;
		if (cJSON_IsArray(topics)) {
			cJSON_ArrayForEach(e, topics)
			{
				if (st->n_topics == INTEG_MAX_TOPICS) {
					scfg_err(log, topics, "more than %d entries", INTEG_MAX_TOPICS);
					goto fail;
				}
				if (cfg_topic(log, e, skew, dev_from, &st->topics[st->n_topics]))
					goto fail;
				st->n_topics++;
			}
		} else {
			if (cfg_topic(log, topics, skew, dev_from, &st->topics[0]))
				goto fail;
			st->n_topics = 1;
		}
	}
	for (uint32_t i = 0; i < st->n_topics; i++) {
		any_key |= st->topics[i].mode == INTEG_KEY;
		any_hmac |= st->topics[i].mode == INTEG_HMAC;
	}

	if (integ_keys_init(&st->keys, max_keys)) {
		logf_(log, "integrity: out of memory for %u keys", max_keys);
		goto fail;
	}
	const char *path = scfg_str(log, cfg, "keys-file", NULL, NULL);
	if (path && *path) {
		if (integ_keys_load(&st->keys, path, !any_key, log))
			goto fail;
		st->has_keys_file = true;
		if (any_hmac && st->keys.n == 0)
			logf_(log, "%s: no device keys: every device on hmac topics will be "
				   "reported as unknown_device", path);
		if (any_key && !st->keys.has_shared && st->keys.n == 0)
			logf_(log, "%s: no shared secret (\"* SECRET\") and no device keys: every "
				   "device on key topics will be reported as unknown_device", path);
	} else if (any_key || any_hmac) {
		scfg_err(log, cfg, "topics use mode %s but no keys-file is set",
			 any_hmac ? "hmac" : "key");
		goto fail;
	}
	if (any_hmac && integ_mac_init(st))
		goto fail;
	if (integ_tables(st)) {
		logf_(log, "integrity: out of memory for %u devices", max_devs);
		goto fail;
	}
	*state = st;
	return 0;
fail:
	integ_free(st);
	return -1;
}

static void integ_stats_op(void *state, struct sensor_stats *out)
{
	struct integ_stats v;
	integ_get_stats(state, &v);
	sensor_stats_add(out, "devices", v.devices);
	sensor_stats_add(out, "evicted", v.evictions);
	sensor_stats_add(out, "keys", v.keys);
	sensor_stats_add(out, "load_skipped", v.load_skipped);
}

static size_t integ_tables_op(void *state, const struct ktable **out, size_t max)
{
	const struct integ *st = state;
	if (!max || !st || !st->devs)
		return 0;
	out[0] = st->devs;
	return 1;
}

const struct sensor_detector sensor_integrity_detector = {
	.name = "integrity",
	.init = integ_init,
	.on_msg = integ_on_msg,
	.save = integ_save,
	.load = integ_load,
	.stats = integ_stats_op,
	.tables = integ_tables_op,
	.free = integ_free,
};
