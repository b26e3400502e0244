/* jw.c - streaming JSON writer with Suricata-compatible byte escaping. */
#include "util/jw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rd.h"

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

void jw_deinit(struct jw *w)
{
	if (!w)
		return;
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

void jw_reset(struct jw *w)
{
	w->len = 0;
	w->depth = 0;
	w->has_item = 0;
	w->oom = false;
}

static bool jw_reserve(struct jw *w, size_t n)
{
	if (w->oom)
		return false;
	if (w->cap - w->len >= n)
		return true;
	size_t cap = w->cap ? w->cap : 256;
	while (cap - w->len < n) {
		if (cap > SIZE_MAX / 2) {
			w->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *nb = realloc(w->buf, cap);
	if (!nb) {
		w->oom = true;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

void jw_append(struct jw *w, const char *s, size_t n)
{
	if (!jw_reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static inline void jw_putc(struct jw *w, char c)
{
	if (!jw_reserve(w, 1))
		return;
	w->buf[w->len++] = c;
}

static const char hexd[] = "0123456789abcdef";
static const char hexu[] = "0123456789ABCDEF";

/* Writes one byte that is not plain (see jw_escape). */
static char *jw_escape_byte(char *o, uint8_t c, bool valid)
{
	if (c == '"' || c == '\\') {
		*o++ = '\\';
		*o++ = (char)c;
	} else if (valid && c >= 0x80) {
		*o++ = (char)c;
	} else if (c == '\n') {
		*o++ = '\\'; *o++ = 'n';
	} else if (c == '\r') {
		*o++ = '\\'; *o++ = 'r';
	} else if (c == '\t') {
		*o++ = '\\'; *o++ = 't';
	} else if (valid) {
		*o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
		*o++ = hexd[c >> 4];
		*o++ = hexd[c & 15];
	} else {
		/* Not UTF-8: show the raw byte, as Suricata does. */
		*o++ = '\\'; *o++ = '\\'; *o++ = 'x';
		*o++ = hexu[c >> 4];
		*o++ = hexu[c & 15];
	}
	return o;
}

/*
 * Per byte: 0 copy as is, 1 needs an escape (control, DEL, quote, backslash),
 * 2 high bit (part of UTF-8, or a raw byte).
 */
static const uint8_t esc_class[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/*
 * Escapes p[0..n) as the inside of a JSON string (no quotes), in one pass;
 * the UTF-8 check of the whole string runs only once a byte whose escape
 * depends on it (control, DEL or high byte) shows up.
 */
static void jw_escape(struct jw *w, const uint8_t *p, size_t n)
{
	int valid = -1; /* unknown until a high byte is seen */
	/* Worst case: six output bytes per input byte. */
	if (n > SIZE_MAX / 6 || !jw_reserve(w, n * 6))
		return;
	char *o = w->buf + w->len;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		uint8_t k = esc_class[c];
		if (k == 0) {
			*o++ = (char)c;
			continue;
		}
		/* Quote and backslash escape the same way in either case. */
		if (valid < 0 && c != '"' && c != '\\')
			valid = utf8_check(p, n) != UTF8_INVALID;
		o = jw_escape_byte(o, c, valid != 0);
	}
	w->len = (size_t)(o - w->buf);
}

/* Writes the separator and "key": for the next member. */
static void jw_member(struct jw *w, const uint8_t *key, size_t kn)
{
	uint64_t bit = w->depth < 64 ? (1ull << w->depth) : 0;
	if (w->has_item & bit)
		jw_putc(w, ',');
	w->has_item |= bit;
	if (key) {
		jw_putc(w, '"');
		jw_escape(w, key, kn);
		jw_putc(w, '"');
		jw_putc(w, ':');
	}
}

/*
 * Keys given as C strings are program constants: no escaping needed. kn
 * is strlen(key), which jw.h's wrappers let the compiler fold for
 * literal keys.
 */
static inline void jw_key(struct jw *w, const char *key, size_t kn)
{
	uint64_t bit = w->depth < 64 ? (1ull << w->depth) : 0;
	if (!jw_reserve(w, kn + 4))
		return;
	char *o = w->buf + w->len;
	if (w->has_item & bit)
		*o++ = ',';
	w->has_item |= bit;
	if (key) {
		*o++ = '"';
		memcpy(o, key, kn);
		o += kn;
		*o++ = '"';
		*o++ = ':';
	}
	w->len = (size_t)(o - w->buf);
}

static void jw_open(struct jw *w, char c)
{
	jw_putc(w, c);
	w->depth++;
	if (w->depth < 64)
		w->has_item &= ~(1ull << w->depth);
}

void jw_open_obj_k(struct jw *w, const char *key, size_t kn)
{
	jw_key(w, key, kn);
	jw_open(w, '{');
}

void jw_open_obj_bytes(struct jw *w, const uint8_t *k, size_t kn)
{
	jw_member(w, k, kn);
	jw_open(w, '{');
}

void jw_open_arr_k(struct jw *w, const char *key, size_t kn)
{
	jw_key(w, key, kn);
	jw_open(w, '[');
}

static void jw_close(struct jw *w, char c)
{
	jw_putc(w, c);
	if (w->depth)
		w->depth--;
}

void jw_close_obj(struct jw *w)
{
	jw_close(w, '}');
}

void jw_close_arr(struct jw *w)
{
	jw_close(w, ']');
}

/* The value p[0..n), then the note for cut bytes left off (0: none). */
static void jw_strval_cut(struct jw *w, const uint8_t *p, size_t n, size_t cut)
{
	jw_putc(w, '"');
	jw_escape(w, p, n);
	if (cut) {
		char tail[64];
		int tn = snprintf(tail, sizeof(tail),
				  "[truncated %zu additional bytes]", cut);
		jw_append(w, tail, (size_t)tn);
	}
	jw_putc(w, '"');
}

static void jw_strval(struct jw *w, const uint8_t *p, size_t n, size_t *budget)
{
	if (budget && *budget != SIZE_MAX && n > *budget) {
		/* Do not cut a UTF-8 character in two. */
		size_t keep = utf8_keep(p, n, *budget);
		jw_strval_cut(w, p, keep, n - keep);
		*budget = 0;
	} else {
		jw_strval_cut(w, p, n, 0);
		if (budget && *budget != SIZE_MAX)
			*budget -= n;
	}
}

void jw_str_k(struct jw *w, const char *key, size_t kn, const uint8_t *p, size_t n)
{
	jw_key(w, key, kn);
	jw_strval(w, p, n, NULL);
}

void jw_str_budget_k(struct jw *w, const char *key, size_t kn, const uint8_t *p, size_t n,
		   size_t *budget)
{
	jw_key(w, key, kn);
	jw_strval(w, p, n, budget);
}

void jw_str_cut_k(struct jw *w, const char *key, size_t kn, const uint8_t *p, size_t n,
		size_t cut)
{
	jw_key(w, key, kn);
	jw_strval_cut(w, p, n, cut);
}

void jw_str_kv_bytes(struct jw *w, const uint8_t *k, size_t kn,
		     const uint8_t *v, size_t vn, size_t limit)
{
	size_t budget = limit;
	jw_member(w, k, kn);
	jw_strval(w, v, vn, &budget);
}

void jw_cstr_k(struct jw *w, const char *key, size_t kn, const char *s)
{
	jw_str_k(w, key, kn, (const uint8_t *)s, strlen(s));
}

void jw_ascii_k(struct jw *w, const char *key, size_t kn, const char *s, size_t n)
{
	jw_key(w, key, kn);
	if (!jw_reserve(w, n + 2))
		return;
	w->buf[w->len++] = '"';
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len++] = '"';
}

void jw_uint_k(struct jw *w, const char *key, size_t kn, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	jw_key(w, key, kn);
	if (v < 10) { /* QoS, flags, small codes: most numbers written */
		jw_putc(w, (char)('0' + v));
		return;
	}
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jw_append(w, tmp + i, sizeof(tmp) - i);
}

void jw_int_k(struct jw *w, const char *key, size_t kn, int64_t v)
{
	if (v >= 0) {
		jw_uint_k(w, key, kn, (uint64_t)v);
		return;
	}
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	jw_key(w, key, kn);
	jw_append(w, tmp, (size_t)n);
}

void jw_bool_k(struct jw *w, const char *key, size_t kn, bool v)
{
	jw_key(w, key, kn);
	if (v)
		jw_append(w, "true", 4);
	else
		jw_append(w, "false", 5);
}

void jw_raw_k(struct jw *w, const char *key, size_t kn, const char *json, size_t n)
{
	jw_key(w, key, kn);
	jw_append(w, json, n);
}
