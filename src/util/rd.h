/* rd.h - the one bounds-checked reader for untrusted bytes (GUIDE §3). */
#ifndef MQTTIDS_RD_H
#define MQTTIDS_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A zero-copy view into a buffer owned by someone else. */
struct slice {
	const uint8_t *p;
	size_t len;
};

/*
 * A cursor over [p, end). Every read checks the remaining length first and
 * advances only when the check passed, so a failed read leaves the cursor
 * where it was. Nothing else in mqttids indexes raw packet bytes.
 */
struct rd {
	const uint8_t *p;
	const uint8_t *end;
};

static inline struct rd rd_make(const uint8_t *p, size_t len)
{
	struct rd r = { p, p + len };
	return r;
}

static inline size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline bool rd_skip(struct rd *r, size_t n)
{
	if (rd_left(r) < n)
		return false;
	r->p += n;
	return true;
}

static inline bool rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return false;
	*v = r->p[0];
	r->p += 1;
	return true;
}

static inline bool rd_be16(struct rd *r, uint16_t *v)
{
	if (rd_left(r) < 2)
		return false;
	*v = (uint16_t)((r->p[0] << 8) | r->p[1]);
	r->p += 2;
	return true;
}

static inline bool rd_be32(struct rd *r, uint32_t *v)
{
	if (rd_left(r) < 4)
		return false;
	*v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
	     ((uint32_t)r->p[2] << 8) | (uint32_t)r->p[3];
	r->p += 4;
	return true;
}

static inline bool rd_le32(struct rd *r, uint32_t *v)
{
	if (rd_left(r) < 4)
		return false;
	*v = ((uint32_t)r->p[3] << 24) | ((uint32_t)r->p[2] << 16) |
	     ((uint32_t)r->p[1] << 8) | (uint32_t)r->p[0];
	r->p += 4;
	return true;
}

/* Takes n bytes as a slice into the underlying buffer. */
static inline bool rd_bytes(struct rd *r, size_t n, struct slice *s)
{
	if (rd_left(r) < n)
		return false;
	s->p = r->p;
	s->len = n;
	r->p += n;
	return true;
}

/* Copies n bytes out (for fixed-size fields such as addresses). */
static inline bool rd_copy(struct rd *r, void *dst, size_t n)
{
	if (rd_left(r) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)dst)[i] = r->p[i];
	r->p += n;
	return true;
}

enum rd_varint_result {
	RD_VARINT_OK = 1,
	RD_VARINT_MORE = 0,     /* ran out of bytes before the last one */
	RD_VARINT_BAD = -1,     /* more than 4 bytes */
	RD_VARINT_OVERLONG = -2 /* valid but not minimally encoded */
};

/*
 * MQTT variable byte integer (MQTT 5.0 §1.5.5, 3.1.1 §2.2.3): at most four
 * bytes, seven bits each, least significant first. Returns RD_VARINT_OK and
 * advances, RD_VARINT_MORE when the input ends early (cursor unchanged), or a
 * negative value for an encoding no conforming peer sends. An overlong
 * encoding (a trailing 0x00 group after a continuation) still yields its
 * value, so a caller may decide to log it and go on.
 */
static inline int rd_varint(struct rd *r, uint32_t *v)
{
	uint32_t val = 0;
	size_t i;
	for (i = 0; i < 4; i++) {
		if (rd_left(r) < i + 1)
			return RD_VARINT_MORE;
		uint8_t b = r->p[i];
		val |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			bool overlong = i > 0 && b == 0;
			r->p += i + 1;
			*v = val;
			return overlong ? RD_VARINT_OVERLONG : RD_VARINT_OK;
		}
	}
	return RD_VARINT_BAD;
}

/* MQTT UTF-8 string or binary data: a two-byte length then the bytes. */
static inline bool rd_lenstr(struct rd *r, struct slice *s)
{
	uint16_t n;
	struct rd save = *r;
	if (!rd_be16(r, &n))
		return false;
	if (!rd_bytes(r, n, s)) {
		*r = save;
		return false;
	}
	return true;
}

enum utf8_check {
	UTF8_OK = 0,
	UTF8_INVALID = 1,  /* ill-formed, surrogate or over 0x10FFFF */
	UTF8_NULL = 2,     /* well-formed but holds U+0000 (MQTT §1.5.4) */
};

/* Validates MQTT UTF-8 (RFC 3629 well-formedness plus the U+0000 ban). */
enum utf8_check utf8_check(const uint8_t *p, size_t n);

/*
 * How many bytes of p[0..n) a string cut at max bytes keeps: n when it
 * fits, else max, backed off to a character boundary when p[0..n) is
 * UTF-8 (a string that is not is cut at max exactly).
 */
size_t utf8_keep(const uint8_t *p, size_t n, size_t max);

#endif
