/*
 * fuzz_keys.c - libFuzzer target for the integrity detector's key file
 * parser (src/sensor/sensor_integrity.c): integ_keys_parse on the input as
 * a key file, then integ_keys_find on every entry.
 *
 * Input: byte 0 is the configuration (bits 0-3: max-keys - 1, bit 4:
 * hex_required), the rest the key file.
 *
 * Oracles: the problem count matches the messages (the first 50 shown,
 * then one "N more" line); every message is "keys:LINE: " plus one of the
 * parser's fixed texts (so no byte of a line, which may be a key, is ever
 * printed) with LINE within the file; entries are at most max-keys,
 * sorted, unique, with well-formed names and tokens, the HMAC key the hex
 * decoding of the token, and found by integ_keys_find; the entries
 * written back as a key file parse again without problems to the same
 * entries.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "sensor/sensor_integrity.h"

/* The parser's messages with their numbers taken out. */
static const char *const templates[] = {
	"expected \"<device> <key>\" or \"* <shared secret>\"; skipped",
	"extra text after the key (a comment starts with #); skipped",
	"device name longer than  bytes; skipped",
	"key longer than  bytes; skipped",
	"line contains a control character; skipped",
	"line contains a NUL byte; skipped",
	"the shared secret is already set at line ; skipped",
	"the HMAC key is not an even number of hex digits ( to ); skipped",
	"the device already has a key at line ; skipped",
	"more than max-keys () keys; skipped",
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "keys:LINE: TEXT" with LINE in [1, lines] and TEXT a template; or the summary. */
static void check_message(const char *s, size_t n, uint32_t lines, uint32_t problems)
{
	FUZZ_CHECK(n > 5 && !memcmp(s, "keys:", 5));
	size_t i = 5;
	if (s[i] == ' ') {
		/* keys: N more problems not shown */
		i++;
		uint64_t v = 0;
		while (i < n && is_digit(s[i]))
			v = v * 10 + (uint64_t)(s[i++] - '0');
		FUZZ_CHECK(v + INTEG_MSG_SHOWN == problems);
		FUZZ_CHECK(n - i == strlen(" more problems not shown") &&
			   !memcmp(s + i, " more problems not shown", n - i));
		return;
	}
	uint64_t line = 0;
	size_t d0 = i;
	while (i < n && is_digit(s[i]) && i - d0 < 12)
		line = line * 10 + (uint64_t)(s[i++] - '0');
	FUZZ_CHECK(i > d0 && line >= 1 && line <= lines);
	FUZZ_CHECK(i + 2 <= n && s[i] == ':' && s[i + 1] == ' ');
	i += 2;
	char text[256];
	size_t t = 0;
	for (; i < n; i++) {
		if (is_digit(s[i]))
			continue;
		FUZZ_CHECK(t + 1 < sizeof(text));
		text[t++] = s[i];
	}
	text[t] = 0;
	bool known = false;
	for (size_t j = 0; j < sizeof(templates) / sizeof(templates[0]) && !known; j++)
		known = !strcmp(text, templates[j]);
	FUZZ_CHECK(known);
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void check_key(const struct integ_key *e, bool shared)
{
	size_t nl = strnlen(e->name, sizeof(e->name));
	FUZZ_CHECK(nl >= 1 && nl <= SENSOR_ID_MAX);
	FUZZ_CHECK(shared == (nl == 1 && e->name[0] == '*'));
	for (size_t i = 0; i < nl; i++) {
		uint8_t c = (uint8_t)e->name[i];
		FUZZ_CHECK(c > 0x20 && c != 0x7f);
	}
	FUZZ_CHECK(e->name[0] != '#');
	FUZZ_CHECK(e->secret_len >= 1 && e->secret_len <= INTEG_SECRET_MAX);
	FUZZ_CHECK(e->secret[0] != '#');
	for (size_t i = 0; i < INTEG_SECRET_MAX; i++) {
		uint8_t c = e->secret[i];
		if (i < e->secret_len)
			FUZZ_CHECK(c > 0x20 && c != 0x7f);
		else
			FUZZ_CHECK(c == 0);
	}
	bool hex = e->secret_len % 2 == 0;
	for (size_t i = 0; hex && i < e->secret_len; i++)
		hex = hexval(e->secret[i]) >= 0;
	FUZZ_CHECK(e->has_hmac == (hex && !shared));
	if (e->has_hmac) {
		FUZZ_CHECK(e->hmac_len * 2 == e->secret_len);
		for (size_t i = 0; i < e->hmac_len; i++)
			FUZZ_CHECK(e->hmac[i] == (hexval(e->secret[2 * i]) << 4 |
						  hexval(e->secret[2 * i + 1])));
	} else {
		FUZZ_CHECK(e->hmac_len == 0);
	}
}

static bool same_key(const struct integ_key *a, const struct integ_key *b)
{
	return !strcmp(a->name, b->name) && a->secret_len == b->secret_len &&
	       !memcmp(a->secret, b->secret, sizeof(a->secret)) && a->has_hmac == b->has_hmac &&
	       a->hmac_len == b->hmac_len && !memcmp(a->hmac, b->hmac, a->hmac_len);
}

/* Appends "NAME TOKEN\n" for e to out (sized for every entry). */
static size_t write_key(char *out, size_t at, const struct integ_key *e)
{
	size_t nl = strlen(e->name);
	memcpy(out + at, e->name, nl);
	at += nl;
	out[at++] = ' ';
	memcpy(out + at, e->secret, e->secret_len);
	at += e->secret_len;
	out[at++] = '\n';
	return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t cap = (uint32_t)(data[0] & 15) + 1;
	bool hex_required = (data[0] & 16) != 0;
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	uint32_t lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += text[i] == '\n';
	if (n && text[n - 1] != '\n')
		lines++;

	struct integ_keys k;
	FUZZ_CHECK(integ_keys_init(&k, cap) == 0);
	char *msgs = NULL;
	size_t msgs_len = 0;
	FILE *log = open_memstream(&msgs, &msgs_len);
	FUZZ_CHECK(log != NULL);
	uint32_t problems = integ_keys_parse(&k, text, n, "keys", hex_required, log);
	fclose(log);
	FUZZ_CHECK(problems == k.problems);

	/* Messages: one per problem up to the cap, then the summary. */
	uint32_t shown = 0;
	bool summary = false;
	for (size_t i = 0; i < msgs_len;) {
		const char *nl = memchr(msgs + i, '\n', msgs_len - i);
		FUZZ_CHECK(nl != NULL);
		size_t len = (size_t)(nl - (msgs + i));
		FUZZ_CHECK(!summary);
		check_message(msgs + i, len, lines, problems);
		if (msgs[i + 5] == ' ')
			summary = true;
		else
			shown++;
		i += len + 1;
	}
	FUZZ_CHECK(shown == (problems < INTEG_MSG_SHOWN ? problems : INTEG_MSG_SHOWN));
	FUZZ_CHECK(summary == (problems > INTEG_MSG_SHOWN));
	free(msgs);

	/* Entries. */
	FUZZ_CHECK(k.n <= cap);
	for (uint32_t i = 0; i < k.n; i++) {
		check_key(&k.v[i], false);
		if (hex_required)
			FUZZ_CHECK(k.v[i].has_hmac);
		FUZZ_CHECK(k.v[i].line >= 1 && k.v[i].line <= lines);
		if (i)
			FUZZ_CHECK(strcmp(k.v[i - 1].name, k.v[i].name) < 0);
		FUZZ_CHECK(integ_keys_find(&k, k.v[i].name) == &k.v[i]);
	}
	if (k.has_shared)
		check_key(&k.shared, true);
	FUZZ_CHECK(integ_keys_find(&k, "*") == NULL);

	/* Round trip: the entries as a key file parse to themselves. */
	size_t cap_out = (size_t)(k.n + 1) * (SENSOR_ID_MAX + INTEG_SECRET_MAX + 2) + 1;
	char *out = malloc(cap_out);
	FUZZ_CHECK(out != NULL);
	size_t at = 0;
	if (k.has_shared)
		at = write_key(out, at, &k.shared);
	for (uint32_t i = k.n; i-- > 0;) /* reverse order: the parser sorts */
		at = write_key(out, at, &k.v[i]);
	struct integ_keys k2;
	FUZZ_CHECK(integ_keys_init(&k2, cap) == 0);
	FUZZ_CHECK(integ_keys_parse(&k2, out, at, "keys", hex_required, NULL) == 0);
	FUZZ_CHECK(k2.n == k.n && k2.has_shared == k.has_shared);
	for (uint32_t i = 0; i < k.n; i++)
		FUZZ_CHECK(same_key(&k.v[i], &k2.v[i]));
	if (k.has_shared)
		FUZZ_CHECK(same_key(&k.shared, &k2.shared));
	free(out);
	integ_keys_deinit(&k2);
	integ_keys_deinit(&k);
	return 0;
}
