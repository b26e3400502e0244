/* utf8.c - MQTT UTF-8 string validation (MQTT 5.0 §1.5.4, RFC 3629). */
#include <string.h>

#include "util/rd.h"

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

enum utf8_check utf8_check(const uint8_t *p, size_t n)
{
	enum utf8_check res = UTF8_OK;
	size_t i = 0;
	while (i < n) {
		/* Eight ASCII bytes without a NUL at a time (SWAR). */
		if (n - i >= 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (!(w & HIGHS) && !((w - ONES) & ~w & HIGHS)) {
				i += 8;
				continue;
			}
		}
		uint8_t c = p[i];
		if (c < 0x80) {
			if (c == 0)
				res = UTF8_NULL;
			i++;
			continue;
		}
		size_t need;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return UTF8_INVALID;
		}
		if (n - i - 1 < need)
			return UTF8_INVALID;
		for (size_t k = 1; k <= need; k++) {
			uint8_t cc = p[i + k];
			if ((cc & 0xc0) != 0x80)
				return UTF8_INVALID;
			cp = (cp << 6) | (cc & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return UTF8_INVALID;
		i += need + 1;
	}
	return res;
}

size_t utf8_keep(const uint8_t *p, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t keep = max;
	if (utf8_check(p, n) != UTF8_INVALID)
		while (keep > 0 && (p[keep] & 0xc0) == 0x80)
			keep--;
	return keep;
}
