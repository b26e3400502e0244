/* jw_text.h - a JSON writer's text as a string, for tests (include after cmocka.h). */
#ifndef MQTTIDS_JW_TEXT_H
#define MQTTIDS_JW_TEXT_H

#include <stdlib.h>
#include <string.h>

#include "util/jw.h"

/* The writer's text as a NUL-terminated string (owned by the caller). */
static inline char *jw_text(const struct jw *w)
{
	assert_false(w->oom);
	char *s = malloc(w->len + 1);
	assert_non_null(s);
	memcpy(s, w->buf, w->len);
	s[w->len] = 0;
	return s;
}

#endif
