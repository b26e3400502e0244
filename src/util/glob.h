/* glob.h - fnmatch(3)-style globs on byte slices. */
#ifndef MQTTIDS_GLOB_H
#define MQTTIDS_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/*
 * fnmatch(3) with flags 0 on the slice s[0..n): '*', '?', [sets], [!sets],
 * '\' escapes, byte by byte, in O(len(pat) * n).
 */
bool glob_match(const char *pat, const char *s, size_t n);

#endif
