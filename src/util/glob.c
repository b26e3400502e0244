/*
 * glob.c - fnmatch(3) with flags 0 on slices (not NUL-terminated): the
 * client id, username, filter and anomaly globs of rules and the
 * detectors' device patterns.
 */
#include "util/glob.h"

#include <string.h>

/*
 * A bracket expression after its '[' (fnmatch(3): "!" or "^" negates, a
 * ']' first is literal, a-z ranges, backslash escapes). Returns whether
 * it is closed, and then sets *hit and *after. An unclosed '[' is an
 * ordinary byte (glibc's fnmatch, whose handling of unclosed brackets
 * depends on what precedes the end, mostly agrees).
 */
static bool bracket(const char *p, unsigned char c, bool *hit,
		    const char **after)
{
	bool neg = *p == '!' || *p == '^', in = false;
	if (neg)
		p++;
	const char *first = p;
	while (*p && (*p != ']' || p == first)) {
		if (*p == '\\' && !*++p)
			return false;
		unsigned char lo = (unsigned char)*p++, hi = lo;
		if (p[0] == '-' && p[1] && p[1] != ']') {
			p++;
			if (*p == '\\' && !*++p)
				return false;
			hi = (unsigned char)*p++;
		}
		in |= c >= lo && c <= hi;
	}
	if (*p != ']')
		return false;
	*hit = in != neg;
	*after = p + 1;
	return true;
}

/*
 * fnmatch(3) with flags 0 over s[0..n) (a slice, not NUL-terminated):
 * '*', '?', brackets, backslash escapes, byte by byte. One backtrack
 * point (the last '*') keeps it O(len(pat) * n) whatever the pattern.
 */
bool glob_match(const char *pat, const char *s, size_t n)
{
	const char *p = pat, *star = NULL;
	size_t i = 0, star_i = 0;
	/* Most globs start or end with a literal byte that rejects at once
	 * ("plc-*", "*-rogue"): the first and last pattern elements are
	 * then those bytes (a last byte other than '*', '?' or ']' is a
	 * literal, escaped or not; an unclosed '[' is literal too). */
	char c0 = pat[0];
	if (c0 && c0 != '*' && c0 != '?' && c0 != '[' && c0 != '\\' &&
	    (n == 0 || s[0] != c0))
		return false;
	size_t pl = strlen(pat);
	char cl = pl ? pat[pl - 1] : 0;
	if (cl && cl != '*' && cl != '?' && cl != ']' &&
	    (n == 0 || s[n - 1] != cl))
		return false;
	while (i < n) {
		const char *np = NULL;
		bool ok = false;
		unsigned char c = (unsigned char)s[i];
		if (*p == '*') {
			star = ++p;
			star_i = i;
			continue;
		}
		if (*p == '?') {
			ok = true;
			np = p + 1;
		} else if (*p == '[') {
			if (!bracket(p + 1, c, &ok, &np)) {
				ok = c == '[';
				np = p + 1;
			}
		} else if (*p == '\\') {
			if (!p[1])
				return false; /* a trailing '\' matches nothing */
			ok = c == (unsigned char)p[1];
			np = p + 2;
		} else if (*p) {
			ok = c == (unsigned char)*p;
			np = p + 1;
		}
		if (ok) {
			p = np;
			i++;
			continue;
		}
		if (!star)
			return false;
		p = star;
		i = ++star_i;
	}
	while (*p == '*')
		p++;
	return *p == 0;
}
