/*
 * classification.c - the classtypes a rule may name, read from a
 * classification file in the format of Suricata's classification.config
 * (docs/rules.md §5.5):
 *
 *   # comment
 *   config classification: attempted-dos,Attempted Denial of Service,high
 *
 * The name is [a-z0-9_-]+ (as the classtype option accepts), the
 * description runs to the last comma (it may hold commas) and becomes
 * the alert's EVE category, and the priority is the default of rules
 * that name the classtype and set none: a priority name (informational,
 * low, medium, high, critical) or, as Suricata writes it, a number from
 * 1 (highest) on: 1 critical, 2 high, 3 medium, 4 and above low.
 *
 * A line that is none of these is an error naming FILE:LINE:COL; that
 * line is skipped, the others still load. A name given twice keeps its
 * first definition and is an error.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "rules/rules_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"

#define CLASS_PREFIX "config classification:"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-';
}

__attribute__((format(printf, 5, 6)))
static void cerr(FILE *errs, const char *name, unsigned line, size_t col,
		 const char *fmt, ...)
{
	if (!errs)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(errs, "%s:%u:%zu: error: ", name, line, col);
	vfprintf(errs, fmt, ap);
	fputc('\n', errs);
	va_end(ap);
}

/* The priority field (trimmed): 0..4, or -1. */
static int class_priority(const char *p, size_t n)
{
	int named = rule_priority_by_name(p, n);
	if (named >= 0)
		return named;
	if (n == 0 || n > 9)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0)
		return -1;
	/* Suricata's 1 (highest) .. 4 and above: the highest priority whose
	 * severity it is (rule_severity), so 1 Critical .. 4+ Low. */
	unsigned sev = v < 4 ? v : 4;
	for (int prio = 4; prio > 0; prio--)
		if (rule_severity((unsigned)prio) == sev)
			return prio;
	return -1;
}

const struct rule_class *ruleset_class_find(const struct ruleset *rs,
					    const char *name, size_t n)
{
	for (size_t i = 0; i < rs->n_classes; i++)
		if (strlen(rs->classes[i]->name) == n &&
		    !memcmp(rs->classes[i]->name, name, n))
			return rs->classes[i];
	return NULL;
}

size_t ruleset_class_count(const struct ruleset *rs)
{
	return rs->n_classes;
}

const struct rule_class *ruleset_class_get(const struct ruleset *rs,
					   size_t i)
{
	return i < rs->n_classes ? rs->classes[i] : NULL;
}

static int class_add(struct ruleset *rs, const char *name, size_t nn,
		     const char *desc, size_t dn, int prio)
{
	if (rs->n_classes == rs->cap_classes) {
		size_t cap = rs->cap_classes ? rs->cap_classes * 2 : 32;
		struct rule_class **v = realloc(rs->classes, cap * sizeof(*v));
		if (!v)
			return -1;
		rs->classes = v;
		rs->cap_classes = cap;
	}
	struct rule_class *c = malloc(sizeof(*c) + nn + 1 + dn + 1);
	if (!c)
		return -1;
	char *s = (char *)(c + 1);
	memcpy(s, name, nn);
	s[nn] = 0;
	memcpy(s + nn + 1, desc, dn);
	s[nn + 1 + dn] = 0;
	c->name = s;
	c->description = s + nn + 1;
	c->priority = (uint8_t)prio;
	rs->classes[rs->n_classes++] = c;
	return 0;
}

/* One line [p, p + n): 0 (loaded, or blank), 1 (an error, printed), -1. */
static int class_line(struct ruleset *rs, const char *name, unsigned line,
		      const char *p, size_t n, FILE *errs)
{
	size_t i = 0;
	while (i < n && is_space(p[i]))
		i++;
	while (n > i && is_space(p[n - 1]))
		n--;
	if (i == n || p[i] == '#')
		return 0;
	size_t pl = strlen(CLASS_PREFIX);
	/* "config classification:" with any spaces around the colon */
	size_t j = i;
	if (n - j >= 6 && !strncmp(p + j, "config", 6)) {
		j += 6;
		while (j < n && is_space(p[j]))
			j++;
		if (n - j >= 14 && !strncmp(p + j, "classification", 14)) {
			j += 14;
			while (j < n && is_space(p[j]))
				j++;
			if (j < n && p[j] == ':')
				pl = 0;
		}
	}
	if (pl) {
		cerr(errs, name, line, i + 1, "expected '" CLASS_PREFIX
		     " NAME,DESCRIPTION,PRIORITY' or a # comment");
		return 1;
	}
	j++;
	while (j < n && is_space(p[j]))
		j++;
	size_t ns = j;
	while (j < n && is_name_char(p[j]))
		j++;
	size_t ne = j;
	while (j < n && is_space(p[j]))
		j++;
	if (ne == ns || j >= n || p[j] != ',') {
		cerr(errs, name, line, j + 1, "expected a classtype name of "
		     "[a-z0-9_-] followed by ','");
		return 1;
	}
	size_t ds = j + 1;
	size_t comma = n;
	while (comma > ds && p[comma - 1] != ',')
		comma--;
	if (comma == ds) {
		cerr(errs, name, line, n + 1, "expected ',PRIORITY' after the "
		     "description");
		return 1;
	}
	size_t de = comma - 1; /* the last comma */
	while (ds < de && is_space(p[ds]))
		ds++;
	while (de > ds && is_space(p[de - 1]))
		de--;
	if (de == ds) {
		cerr(errs, name, line, ds + 1, "empty description");
		return 1;
	}
	size_t ps = comma;
	while (ps < n && is_space(p[ps]))
		ps++;
	int prio = class_priority(p + ps, n - ps);
	if (prio < 0) {
		cerr(errs, name, line, ps + 1, "expected a priority: "
		     "informational, low, medium, high, critical, or a "
		     "number from 1 (highest)");
		return 1;
	}
	for (size_t k = ds; k < de; k++) {
		unsigned char c = (unsigned char)p[k];
		if (c < 0x20 || c == 0x7f) {
			cerr(errs, name, line, k + 1, "control character in "
			     "the description");
			return 1;
		}
	}
	if (ruleset_class_find(rs, p + ns, ne - ns)) {
		cerr(errs, name, line, ns + 1, "classtype '%.*s' is defined "
		     "twice (the first definition is kept)", (int)(ne - ns),
		     p + ns);
		return 1;
	}
	if (rs->n_classes >= RULES_CLASSES_MAX) {
		cerr(errs, name, line, ns + 1, "more than %d classtypes",
		     RULES_CLASSES_MAX);
		return 1;
	}
	return class_add(rs, p + ns, ne - ns, p + ds, de - ds, prio) ? -1 : 0;
}

int ruleset_load_classification_string(struct ruleset *rs, const char *name,
				       const char *text, size_t len,
				       FILE *errs)
{
	int errors = 0;
	unsigned line = 1;
	if (!rs->class_file && !(rs->class_file = strdup(name)))
		return -1;
	size_t at = 0;
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t e = nl ? (size_t)(nl - text) : len;
		if (memchr(text + at, 0, e - at)) {
			cerr(errs, name, line, 1, "NUL byte in the line");
			errors++;
		} else {
			int r = class_line(rs, name, line, text + at, e - at,
					   errs);
			if (r < 0) {
				if (errs)
					fprintf(errs, "%s: error: out of "
						"memory\n", name);
				return errors + 1;
			}
			errors += r;
		}
		at = e + 1;
		line++;
	}
	rs->classes_loaded = true;
	return errors;
}

int ruleset_load_classification(struct ruleset *rs, const char *path,
				FILE *errs)
{
	size_t len = 0;
	char *text = file_read_all(path, RULES_CLASS_FILE_MAX, &len);
	if (!text) {
		if (errs)
			fprintf(errs, "%s: error: cannot read the "
				"classification file: %s%s\n", path,
				errno == EFBIG ? "larger than the limit of "
					       : strerror(errno),
				errno == EFBIG ? RULES_CLASS_FILE_MAX_TEXT : "");
		return -1;
	}
	int e = ruleset_load_classification_string(rs, path, text, len, errs);
	free(text);
	return e;
}

void ruleset_classes_free(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->n_classes; i++)
		free(rs->classes[i]);
	free(rs->classes);
	rs->classes = NULL;
	rs->n_classes = rs->cap_classes = 0;
}
