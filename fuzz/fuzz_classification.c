/*
 * fuzz_classification.c - libFuzzer target for the classification file
 * parser (rules/classification.c): the input is a classification file;
 * then a few rules naming classtypes are loaded against it.
 *
 * Oracles: one message line per problem, each "c.config:LINE:COL:
 * error:", printable, LINE within the input; as many lines as the
 * return value; every classtype kept has a name of [a-z0-9_-], a
 * printable, non-empty, trimmed description and a priority 0..4, is
 * found by its name, and no name is kept twice; at most
 * RULES_CLASSES_MAX; a rule naming a kept classtype loads with it (and
 * its priority when it sets none); a rule naming another fails.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "rules/rules.h"

static unsigned check_messages(const char *m, size_t len, unsigned max_line)
{
	unsigned n = 0;
	const char *p = m, *end = m + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(nl);
		for (const char *q = p; q < nl; q++)
			FUZZ_CHECK((unsigned char)*q >= 0x20 && *q != 0x7f);
		FUZZ_CHECK(!strncmp(p, "c.config:", 9));
		const char *a = p + 9, *b = memchr(a, ':', (size_t)(nl - a));
		FUZZ_CHECK(b && fuzz_is_digits(a, b));
		unsigned long line = strtoul(a, NULL, 10);
		FUZZ_CHECK(line >= 1 && line <= max_line);
		const char *c = memchr(b + 1, ':', (size_t)(nl - b - 1));
		FUZZ_CHECK(c && fuzz_is_digits(b + 1, c));
		FUZZ_CHECK(!strncmp(c, ": error: ", 9));
		n++;
		p = nl + 1;
	}
	return n;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	unsigned lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	struct ruleset *rs = ruleset_new(NULL);
	FUZZ_CHECK(rs);
	char *m = NULL;
	size_t ml = 0;
	FILE *f = open_memstream(&m, &ml);
	FUZZ_CHECK(f);
	int e = ruleset_load_classification_string(rs, "c.config",
						   (const char *)data, size, f);
	fclose(f);
	FUZZ_CHECK(e >= 0);
	FUZZ_CHECK(check_messages(m, ml, lines) == (unsigned)e);
	free(m);

	size_t n = ruleset_class_count(rs);
	FUZZ_CHECK(n <= RULES_CLASSES_MAX);
	for (size_t i = 0; i < n; i++) {
		const struct rule_class *c = ruleset_class_get(rs, i);
		FUZZ_CHECK(name_ok(c->name));
		size_t dl = strlen(c->description);
		FUZZ_CHECK(dl > 0 && c->description[0] != ' ' &&
			   c->description[dl - 1] != ' ');
		for (size_t k = 0; k < dl; k++)
			FUZZ_CHECK((unsigned char)c->description[k] >= 0x20 &&
				   c->description[k] != 0x7f);
		FUZZ_CHECK(c->priority <= 4);
		FUZZ_CHECK(ruleset_class_find(rs, c->name, strlen(c->name)) == c);
	}
	/* The first kept classtype, by a rule with and without priority. */
	if (n) {
		const struct rule_class *c = ruleset_class_get(rs, 0);
		char rule[256];
		snprintf(rule, sizeof(rule), "mqtt any -> any; name: a; "
			 "classtype: %s\nmqtt any -> any; name: b; classtype: "
			 "%s; priority: 0\n", c->name, c->name);
		if (strlen(c->name) < 64) {
			FUZZ_CHECK(ruleset_load_string(rs, "t.rules", rule, NULL) == 0);
			size_t k = ruleset_count(rs);
			FUZZ_CHECK(k == 2);
			FUZZ_CHECK(ruleset_get(rs, 0)->class == c);
			FUZZ_CHECK(ruleset_get(rs, 0)->priority == c->priority);
			FUZZ_CHECK(ruleset_get(rs, 1)->priority == 0);
		}
	}
	if (!ruleset_class_find(rs, "zz-not-defined", 14))
		FUZZ_CHECK(ruleset_load_string(rs, "t.rules", "mqtt any -> any; "
			   "name: c; classtype: zz-not-defined\n", NULL) == 1);
	ruleset_free(rs);
	return 0;
}
