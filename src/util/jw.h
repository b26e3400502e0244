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

void jw_init(struct jw *w);
void jw_deinit(struct jw *w);
void jw_reset(struct jw *w);

void jw_open_obj(struct jw *w, const char *key);
void jw_open_arr(struct jw *w, const char *key);
void jw_close_obj(struct jw *w);
void jw_close_arr(struct jw *w);

/* A key that comes from the wire (e.g. a v5 user property name). */
void jw_open_obj_bytes(struct jw *w, const uint8_t *k, size_t kn);
void jw_str_kv_bytes(struct jw *w, const uint8_t *k, size_t kn,
		     const uint8_t *v, size_t vn, size_t limit);

void jw_str(struct jw *w, const char *key, const uint8_t *p, size_t n);
/*
 * Like jw_str, but writes at most *budget bytes of the value (if budget is
 * non-NULL and *budget is not SIZE_MAX) followed by "[truncated N additional
 * bytes]", and takes what it wrote from *budget.
 */
void jw_str_budget(struct jw *w, const char *key, const uint8_t *p, size_t n,
		   size_t *budget);
void jw_cstr(struct jw *w, const char *key, const char *s);
/* A value known to need no escaping (program text, formatted numbers). */
void jw_ascii(struct jw *w, const char *key, const char *s, size_t n);
void jw_uint(struct jw *w, const char *key, uint64_t v);
void jw_int(struct jw *w, const char *key, int64_t v);
void jw_bool(struct jw *w, const char *key, bool v);
/* Inserts already-serialised JSON text as the value of key. */
void jw_raw(struct jw *w, const char *key, const char *json, size_t n);
/* Appends text verbatim, with no comma handling (for framing). */
void jw_append(struct jw *w, const char *s, size_t n);

#endif
