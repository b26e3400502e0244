/* fuzz_util.c - JSON oracle, scratch files and input cursor for the fuzz targets. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/rd.h"

void fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "fuzz oracle failed: %s (%s:%d)\n", what, file, line);
	fflush(stderr);
	abort();
}

/* ---- JSON syntax check (RFC 8259 §2-7) ---- */

#define JSON_MAX_DEPTH 256

struct json_cur {
	const unsigned char *p, *end;
};

static void json_ws(struct json_cur *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int json_lit(struct json_cur *c, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static int json_digits(struct json_cur *c)
{
	const unsigned char *s = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s ? 0 : -1;
}

static int json_number(struct json_cur *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0') {
		c->p++;
	} else if (json_digits(c)) {
		return -1;
	}
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (json_digits(c))
			return -1;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (json_digits(c))
			return -1;
	}
	return 0;
}

static int json_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

/* A string: escapes checked, raw runs must be well-formed UTF-8. */
static int json_string(struct json_cur *c)
{
	if (c->p >= c->end || *c->p != '"')
		return -1;
	c->p++;
	const unsigned char *run = c->p;
	for (;;) {
		if (c->p >= c->end)
			return -1;
		unsigned char ch = *c->p;
		if (ch < 0x20)
			return -1;
		if (ch == '"' || ch == '\\') {
			if (utf8_check(run, (size_t)(c->p - run)) == UTF8_INVALID)
				return -1;
			c->p++;
			if (ch == '"')
				return 0;
			if (c->p >= c->end)
				return -1;
			ch = *c->p++;
			if (ch == 'u') {
				for (int i = 0; i < 4; i++) {
					if (c->p >= c->end || !json_hex(*c->p))
						return -1;
					c->p++;
				}
			} else if (!strchr("\"\\/bfnrt", ch) || ch == 0) {
				return -1;
			}
			run = c->p;
			continue;
		}
		c->p++;
	}
}

static int json_value(struct json_cur *c, int depth);

static int json_container(struct json_cur *c, int depth, bool obj)
{
	unsigned char close = obj ? '}' : ']';
	c->p++;
	json_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		json_ws(c);
		if (obj) {
			if (json_string(c))
				return -1;
			json_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return -1;
			c->p++;
		}
		if (json_value(c, depth + 1))
			return -1;
		json_ws(c);
		if (c->p >= c->end)
			return -1;
		if (*c->p == ',') {
			c->p++;
			continue;
		}
		if (*c->p != close)
			return -1;
		c->p++;
		return 0;
	}
}

static int json_value(struct json_cur *c, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return -1;
	json_ws(c);
	if (c->p >= c->end)
		return -1;
	switch (*c->p) {
	case '{':
		return json_container(c, depth, true);
	case '[':
		return json_container(c, depth, false);
	case '"':
		return json_string(c);
	case 't':
		return json_lit(c, "true");
	case 'f':
		return json_lit(c, "false");
	case 'n':
		return json_lit(c, "null");
	default:
		return json_number(c);
	}
}

int fuzz_json_check(const char *s, size_t n)
{
	struct json_cur c = { (const unsigned char *)s,
			      (const unsigned char *)s + n };
	if (!s || json_value(&c, 0))
		return -1;
	json_ws(&c);
	return c.p == c.end ? 0 : -1;
}

/* ---- scratch file and /dev/null ---- */

static int scratch_fd = -1;
static char scratch_path[64];    /* /proc/self/fd/N */
static char scratch_tmpl[4096];  /* the file's name while it has one */
static const char *scratch_use;  /* which of the two to hand out */

static void scratch_cleanup(void)
{
	if (scratch_tmpl[0])
		unlink(scratch_tmpl);
}

static int scratch_open(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int n = snprintf(scratch_tmpl, sizeof(scratch_tmpl),
			 "%s/mqttids-fuzz-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(scratch_tmpl))
		return -1;
	scratch_fd = mkstemp(scratch_tmpl);
	if (scratch_fd < 0) {
		scratch_tmpl[0] = 0;
		return -1;
	}
	snprintf(scratch_path, sizeof(scratch_path), "/proc/self/fd/%d",
		 scratch_fd);
	if (access(scratch_path, R_OK) == 0) {
		/* Reachable through /proc: no name needs to outlive us. */
		unlink(scratch_tmpl);
		scratch_tmpl[0] = 0;
		scratch_use = scratch_path;
	} else {
		scratch_use = scratch_tmpl;
		atexit(scratch_cleanup);
	}
	return 0;
}

const char *fuzz_scratch_file(const uint8_t *data, size_t size)
{
	if (scratch_fd < 0 && scratch_open() != 0)
		return NULL;
	if (ftruncate(scratch_fd, 0) != 0)
		return NULL;
	size_t off = 0;
	while (off < size) {
		ssize_t w = pwrite(scratch_fd, data + off, size - off, (off_t)off);
		if (w <= 0)
			return NULL;
		off += (size_t)w;
	}
	return scratch_use;
}

FILE *fuzz_devnull(void)
{
	static FILE *fp;
	if (!fp)
		fp = fopen("/dev/null", "w");
	return fp;
}

uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	if (b && n)
		memcpy(b, p, n);
	return b;
}

void fuzz_engine_cfg(struct engine_cfg *c)
{
	engine_cfg_default(c);
	c->flow.max_flows = 4;
	c->flow.idle_timeout_s = 30;
	c->flow.closed_timeout_s = 2;
	c->reasm.max_ooo_bytes = 4096;
	c->reasm.max_ooo_segs = 16;
	c->reasm.memcap = 32 * 1024;
	c->reasm.gap_ack_timeout_ms = 200;
	c->defrag.max_trackers = 2;
	c->defrag.timeout_s = 5;
	c->mqtt.max_msg_len = 2048;
	c->mqtt.max_tx = 4;
	c->mqtt.max_pending_total = 12;
	c->mqtt.tx_memcap = 16 * 1024;
	c->mqtt.max_props = 8;
	c->mqtt.max_topics = 4;
	c->mqtt.session_str_max = 32;
	c->mqtt.resync_max = 512;
	c->ports[0] = 1883;
	c->ports[1] = 8883;
	c->n_ports = 2;
}

/* ---- input cursor ---- */

uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (in->n < 1)
		return 0;
	uint8_t v = in->p[0];
	in->p++;
	in->n--;
	return v;
}

uint16_t fuzz_be16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);
	return (uint16_t)((hi << 8) | fuzz_u8(in));
}

uint32_t fuzz_be32(struct fuzz_in *in)
{
	uint32_t hi = fuzz_be16(in);
	return (hi << 16) | fuzz_be16(in);
}

const uint8_t *fuzz_take(struct fuzz_in *in, size_t want, size_t *got)
{
	size_t n = want < in->n ? want : in->n;
	const uint8_t *p = in->p;
	*got = n;
	if (n == 0)
		return p; /* no arithmetic on a possibly NULL pointer */
	in->p += n;
	in->n -= n;
	return p;
}

bool fuzz_is_digits(const char *p, const char *end)
{
	if (p == end)
		return false;
	for (; p < end; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}
