/*
 * glob_oracle.h - which globs fnmatch(3) can judge for glob_match:
 * shared by test_rules.c and fuzz/fuzz_rules.c, which both compare the two.
 */
#ifndef MQTTIDS_GLOB_ORACLE_H
#define MQTTIDS_GLOB_ORACLE_H

#include <stdbool.h>

/* Whether every '[' opens a closed bracket expression (glibc's handling
 * of unclosed ones depends on what precedes the end; ours are bytes). */
static inline bool brackets_closed(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p != '[')
			continue;
		const char *q = p + 1;
		if (*q == '!' || *q == '^')
			q++;
		if (*q == ']')
			q++;
		while (*q && *q != ']')
			q += (*q == '\\' && q[1]) ? 2 : 1;
		if (!*q)
			return false;
		p = q;
	}
	return true;
}

#endif
