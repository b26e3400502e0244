/* jw.h - a small streaming JSON writer into a reusable buffer (EVE output). */
#ifndef MQTTIDS_JW_H
#define MQTTIDS_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes one JSON document (or a fragment of one) into buf. The buffer grows
 * by doubling and is kept across jw_reset(), so once warmed up a writer
 * allocates nothing. Commas are inserted automatically: every value call
 * takes the key it belongs to (NULL inside arrays). On allocation failure
 * the writer sets oom and ignores further writes; callers check it once.
 *
 * Strings are bytes from the wire. Well-formed UTF-8 is written as is (with
 * JSON escapes); anything else is written byte by byte, printable ASCII as is
 * and other bytes as the six characters \\xNN, as Suricata does.
 */
struct jw {
	char *buf;
	size_t len;
	size_t cap;
	uint32_t depth;
	uint64_t has_item; /* bit d: depth d already holds a member */
	bool oom;
};

/* A key's length; folded at compile time for literal keys once inlined. */
#define JW_KLEN(k) ((k) ? __builtin_strlen(k) : 0)

void jw_init(struct jw *w);
void jw_deinit(struct jw *w);
void jw_reset(struct jw *w);

void jw_open_obj_k(struct jw *w, const char *key, size_t kn);
static inline void jw_open_obj(struct jw *w, const char *key)
{
	jw_open_obj_k(w, key, JW_KLEN(key));
}
void jw_open_arr_k(struct jw *w, const char *key, size_t kn);
static inline void jw_open_arr(struct jw *w, const char *key)
{
	jw_open_arr_k(w, key, JW_KLEN(key));
}
void jw_close_obj(struct jw *w);
void jw_close_arr(struct jw *w);

/* A key that comes from the wire (e.g. a v5 user property name). */
void jw_open_obj_bytes(struct jw *w, const uint8_t *k, size_t kn);
void jw_str_kv_bytes(struct jw *w, const uint8_t *k, size_t kn,
		     const uint8_t *v, size_t vn, size_t limit);

void jw_str_k(struct jw *w, const char *key, size_t kn, const uint8_t *p, size_t n);
static inline void jw_str(struct jw *w, const char *key, const uint8_t *p, size_t n)
{
	jw_str_k(w, key, JW_KLEN(key), p, n);
}
/*
 * Like jw_str, but writes at most *budget bytes of the value (if budget is
 * non-NULL and *budget is not SIZE_MAX) followed by "[truncated N additional
 * bytes]", and takes what it wrote from *budget.
 */
void jw_str_budget_k(struct jw *w, const char *key, size_t kn, const uint8_t *p, size_t n,
		   size_t *budget);
static inline void jw_str_budget(struct jw *w, const char *key, const uint8_t *p, size_t n,
		   size_t *budget)
{
	jw_str_budget_k(w, key, JW_KLEN(key), p, n, budget);
}
/*
 * A string of which only p[0..n) was kept and cut more bytes were left
 * off (utf8_keep): written as jw_str_budget writes a string it cuts; cut
 * 0 writes it as jw_str does.
 */
void jw_str_cut_k(struct jw *w, const char *key, size_t kn, const uint8_t *p, size_t n,
		size_t cut);
static inline void jw_str_cut(struct jw *w, const char *key, const uint8_t *p, size_t n,
		size_t cut)
{
	jw_str_cut_k(w, key, JW_KLEN(key), p, n, cut);
}
void jw_cstr_k(struct jw *w, const char *key, size_t kn, const char *s);
static inline void jw_cstr(struct jw *w, const char *key, const char *s)
{
	jw_cstr_k(w, key, JW_KLEN(key), s);
}
/* A value known to need no escaping (program text, formatted numbers). */
void jw_ascii_k(struct jw *w, const char *key, size_t kn, const char *s, size_t n);
static inline void jw_ascii(struct jw *w, const char *key, const char *s, size_t n)
{
	jw_ascii_k(w, key, JW_KLEN(key), s, n);
}
void jw_uint_k(struct jw *w, const char *key, size_t kn, uint64_t v);
static inline void jw_uint(struct jw *w, const char *key, uint64_t v)
{
	jw_uint_k(w, key, JW_KLEN(key), v);
}
void jw_int_k(struct jw *w, const char *key, size_t kn, int64_t v);
static inline void jw_int(struct jw *w, const char *key, int64_t v)
{
	jw_int_k(w, key, JW_KLEN(key), v);
}
void jw_bool_k(struct jw *w, const char *key, size_t kn, bool v);
static inline void jw_bool(struct jw *w, const char *key, bool v)
{
	jw_bool_k(w, key, JW_KLEN(key), v);
}
/* Inserts already-serialised JSON text as the value of key. */
void jw_raw_k(struct jw *w, const char *key, size_t kn, const char *json, size_t n);
static inline void jw_raw(struct jw *w, const char *key, const char *json, size_t n)
{
	jw_raw_k(w, key, JW_KLEN(key), json, n);
}
/* Appends text verbatim, with no comma handling (for framing). */
void jw_append(struct jw *w, const char *s, size_t n);

#endif
