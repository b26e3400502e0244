/*
 * fuzz_acl.c - libFuzzer target for the Mosquitto acl_file parser and
 * checker (sensor/sensor_acl.c): the input is an ACL file; every client
 * of a small set (anonymous, the file's own user names, ids with
 * wildcards) is checked against fixed topics and filters plus those the
 * file itself names.
 *
 * Oracles: one message line per problem, each "t.acl:LINE: error:" or
 * "warning:" (or the final "more messages not shown"), printable, LINE
 * within the input, as many "error:" lines as reported errors while none
 * were held back; at most SACL_MAX_ENTRIES lines kept; a subscription to
 * a filter without wildcards is allowed exactly when reading that topic
 * is (coverage agrees with mosquitto's first-match walk); an allowed
 * subscription lets the client read every topic it matches; a verdict
 * with a line names a line of the input; sacl_filter_covered with one
 * grant and a plain topic agrees with mqtt_topic_match.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "mqtt/mqtt_topic.h"
#include "sensor/sensor_acl.h"

#define MAX_WORDS 12
#define MAX_USERS 4

/* Returns the number of "error:" lines; *more when some were held back. */
static unsigned check_messages(const char *m, size_t len, unsigned max_line, bool *more)
{
	unsigned errors = 0;
	const char *p = m, *end = m + len;
	*more = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(nl);
		for (const char *q = p; q < nl; q++)
			FUZZ_CHECK((unsigned char)*q >= 0x20 && *q != 0x7f);
		FUZZ_CHECK(!strncmp(p, "t.acl:", 6));
		const char *a = p + 6;
		if (!strncmp(a, " ", 1)) {
			FUZZ_CHECK(strstr(a, "more messages not shown") && nl == end - 1);
			*more = true;
			p = nl + 1;
			continue;
		}
		const char *b = memchr(a, ':', (size_t)(nl - a));
		FUZZ_CHECK(b && fuzz_is_digits(a, b));
		unsigned long line = strtoul(a, NULL, 10);
		FUZZ_CHECK(line >= 1 && line <= max_line);
		if (!strncmp(b, ": error: ", 9))
			errors++;
		else
			FUZZ_CHECK(!strncmp(b, ": warning: ", 11));
		p = nl + 1;
	}
	return errors;
}

static bool has_wild(const char *s)
{
	return strpbrk(s, "+#") != NULL;
}

/* Words of the input usable as filters (valid) and user names. */
static unsigned take_words(const char *text, char words[][64], unsigned max)
{
	unsigned n = 0;
	const char *p = text;
	while (*p && n < max) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		const char *s = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		size_t l = (size_t)(p - s);
		if (l == 0 || l >= 64)
			continue;
		if (!strncmp(s, "topic", l) || !strncmp(s, "pattern", l) || !strncmp(s, "user", l) ||
		    !strncmp(s, "read", l) || !strncmp(s, "write", l) ||
		    !strncmp(s, "readwrite", l) || !strncmp(s, "deny", l))
			continue;
		memcpy(words[n], s, l);
		words[n][l] = 0;
		n++;
	}
	return n;
}

static void check_client(struct sacl *a, const char *user, const char *cid,
			 const char *const *f, unsigned nf, unsigned max_line)
{
	for (unsigned i = 0; i < nf; i++) {
		size_t fl = strlen(f[i]);
		struct sacl_verdict sv, rv, wv;
		bool sub = sacl_check(a, user, cid, SACL_SUBSCRIBE, f[i], fl, &sv);
		FUZZ_CHECK(sub == sv.allowed && sv.line <= max_line);
		if (!sacl_filter_valid(f[i], fl))
			FUZZ_CHECK(!sub);
		bool w = sacl_check(a, user, cid, SACL_WRITE, f[i], fl, &wv);
		FUZZ_CHECK(w == wv.allowed && wv.line <= max_line);
		FUZZ_CHECK(!w || wv.line >= 1);
		if (!sacl_filter_valid(f[i], fl) || has_wild(f[i]) || !strncmp(f[i], "$share/", 7))
			continue;
		bool r = sacl_check(a, user, cid, SACL_READ, f[i], fl, &rv);
		FUZZ_CHECK(!r || rv.line >= 1);
		FUZZ_CHECK(r == sub);
	}
	/* an allowed subscription only reaches readable topics */
	for (unsigned i = 0; i < nf; i++) {
		size_t fl = strlen(f[i]);
		struct sacl_verdict v;
		if (!strncmp(f[i], "$share/", 7) ||
		    !sacl_check(a, user, cid, SACL_SUBSCRIBE, f[i], fl, &v))
			continue;
		for (unsigned k = 0; k < nf; k++) {
			size_t tl = strlen(f[k]);
			if (has_wild(f[k]) || !sacl_filter_valid(f[k], tl) ||
			    !mqtt_topic_match(f[i], f[k], tl))
				continue;
			FUZZ_CHECK(sacl_check(a, user, cid, SACL_READ, f[k], tl, &v));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	unsigned lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';

	char *msgs = NULL;
	size_t mlen = 0;
	FILE *m = open_memstream(&msgs, &mlen);
	if (!m) {
		free(text);
		return 0;
	}
	unsigned errs = 0;
	struct sacl *a = sacl_parse("t.acl", text, size, m, &errs);
	fclose(m);
	if (!a) {
		free(msgs);
		free(text);
		return 0;
	}
	bool more;
	unsigned shown = check_messages(msgs, mlen, lines, &more);
	if (!more)
		FUZZ_CHECK(shown == errs);
	free(msgs);
	FUZZ_CHECK(sacl_count(a) <= SACL_MAX_ENTRIES);

	static char words[MAX_WORDS][64];
	unsigned nw = take_words(text, words, MAX_WORDS);
	static const char *const fixed[] = {
		"#", "+", "a", "a/b", "a/+", "a/#", "$SYS/x", "$SYS/#", "c/dev1", "+/+/#",
		"sensors/room/dev1", "$share/g/a/#",
	};
	const char *f[sizeof(fixed) / sizeof(fixed[0]) + MAX_WORDS];
	unsigned nf = 0;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		f[nf++] = fixed[i];
	for (unsigned i = 0; i < nw; i++)
		f[nf++] = words[i];

	const char *users[MAX_USERS + 3] = { NULL, "u", "a+" };
	unsigned nu = 3;
	for (unsigned i = 0; i < nw && nu < MAX_USERS + 3; i++)
		users[nu++] = words[i];
	static const char *const cids[] = { "dev1", "", "x#" };
	for (unsigned u = 0; u < nu; u++)
		for (size_t c = 0; c < sizeof(cids) / sizeof(cids[0]); c++)
			check_client(a, users[u], cids[c], f, nf, lines);

	/* one grant, one plain topic: coverage is matching */
	size_t pos[1];
	for (unsigned i = 0; i < nf; i++) {
		size_t gl = strlen(f[i]);
		if (!sacl_filter_valid(f[i], gl))
			continue;
		for (unsigned k = 0; k < nf; k++) {
			size_t tl = strlen(f[k]);
			if (has_wild(f[k]) || !sacl_filter_valid(f[k], tl))
				continue;
			const char *g[1] = { f[i] };
			FUZZ_CHECK(sacl_filter_covered(f[k], tl, g, &gl, 1, pos) ==
				   mqtt_topic_match(f[i], f[k], tl));
		}
	}
	sacl_free(a);
	free(text);
	return 0;
}
