/*
 * fuzz_rules.c - libFuzzer target for the rule language (rules/): the
 * loader on the input as rule text (string and file), every loaded rule
 * run through ruleset_candidates and rule_match against a fixed set of
 * events plus events built from the rules' own topic filters, and the
 * topic functions on those filters.
 *
 * Input: optional leading lines "$NAME=VALUE" (address variable) or
 * "$:NAME=VALUE" (port variable) set on top of the defaults; the rest is
 * a rules file.
 *
 * Oracles: one message line per problem, each "t.rules:LINE:COL: error:"
 * or "warning:", printable, LINE within the input; as many "error:" lines
 * as the return value; the string and file loaders agree; each rule is
 * well-formed (name, priority, defaults, sid range, options allowed for
 * its protocol, valid filters) and its raw text loads again to the same
 * raw and sid; every rule that matches an event is among its candidates;
 * a filter without wildcards overlaps exactly what it matches, and
 * overlap is symmetric; glob_match agrees with fnmatch(3) on the
 * rules' globs (without character classes, which it does not have, and
 * with closed brackets).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "mqtt/mqtt_session.h"
#include "mqtt/mqtt_types.h"
#include "mqtt/mqtt_topic.h"
#include "rules/rules.h"
#include "util/glob.h"
#include "../tests/unit/glob_oracle.h"

#define MAX_TOPIC_EVENTS 16

/* A rule set with the shipped classtypes, as the engine loads it. */
static struct ruleset *new_set(const struct rule_vars *vs)
{
	struct ruleset *rs = ruleset_new(vs);
	FUZZ_CHECK(rs);
	FUZZ_CHECK(ruleset_load_classification(rs, MQTTIDS_SOURCE_RULES_DIR
					       "/classification.config",
					       NULL) == 0);
	return rs;
}

/* Takes the "$NAME=VALUE" lines off the front of s into vs. */
static char *take_vars(char *s, struct rule_vars *vs)
{
	while (s[0] == '$') {
		char *nl = strchr(s, '\n');
		if (!nl)
			break;
		*nl = 0;
		bool port = s[1] == ':';
		char *name = s + (port ? 2 : 1), *eq = strchr(name, '=');
		if (eq) {
			*eq = 0;
			rule_vars_set(vs, name, eq + 1, port);
		}
		s = nl + 1;
	}
	return s;
}

/* Each message: "t.rules:LINE:COL: error: " or warning, printable. */
static int check_messages(const char *m, size_t len, unsigned max_line)
{
	int errors = 0;
	const char *p = m, *end = m + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(nl);
		for (const char *q = p; q < nl; q++)
			FUZZ_CHECK((unsigned char)*q >= 0x20 && *q != 0x7f);
		FUZZ_CHECK(!strncmp(p, "t.rules:", 8));
		const char *a = p + 8, *b = memchr(a, ':', (size_t)(nl - a));
		FUZZ_CHECK(b && fuzz_is_digits(a, b));
		FUZZ_CHECK(strtoul(a, NULL, 10) >= 1 &&
			   strtoul(a, NULL, 10) <= max_line);
		const char *c = memchr(b + 1, ':', (size_t)(nl - b - 1));
		FUZZ_CHECK(c && fuzz_is_digits(b + 1, c) && strtoul(b + 1, NULL, 10) >= 1);
		if (!strncmp(c, ": error: ", 9))
			errors++;
		else
			FUZZ_CHECK(!strncmp(c, ": warning: ", 11));
		p = nl + 1;
	}
	return errors;
}

static bool valid_filter(const char *f)
{
	size_t n = strlen(f);
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (f[i] != '+' && f[i] != '#')
			continue;
		if ((i && f[i - 1] != '/') || (i + 1 < n && f[i + 1] != '/'))
			return false;
		if (f[i] == '#' && i + 1 != n)
			return false;
	}
	return true;
}

static void check_rule(const struct rule *r)
{
	FUZZ_CHECK(r->name && r->name[0]);
	FUZZ_CHECK(r->priority <= 4);
	FUZZ_CHECK(r->threshold >= 1 && r->interval >= 1);
	FUZZ_CHECK(r->cooldown_set || r->cooldown == r->interval);
	FUZZ_CHECK(r->sid_auto == (r->sid >= 0x80000000u));
	FUZZ_CHECK(r->sid != 0);
	FUZZ_CHECK(r->raw && r->raw[0] && r->raw[0] != ' ');
	size_t rl = strlen(r->raw);
	FUZZ_CHECK(r->raw[rl - 1] != ' ' && !strstr(r->raw, "  ") &&
		   !strchr(r->raw, '\t'));
	if (r->proto == RULE_TCP)
		FUZZ_CHECK(!r->msg_types && !r->qos_mask && !r->has_retcode &&
			   !r->n_topics && !r->n_filters && !r->n_client_ids &&
			   !r->n_usernames &&
			   !r->version_mask && !r->payload_size.op &&
			   !r->keepalive.op);
	else
		FUZZ_CHECK(!r->has_flags);
	if (r->n_anomalies)
		FUZZ_CHECK(!r->msg_types && !r->qos_mask && !r->has_retcode &&
			   !r->n_topics && !r->n_filters && !r->payload_size.op &&
			   !r->keepalive.op && !r->has_flags);
	for (uint32_t i = 0; i < r->n_topics; i++)
		FUZZ_CHECK(valid_filter(r->topics[i]));
	FUZZ_CHECK(r->src.any == (!r->src.n_pos && !r->src.n_neg &&
				  !r->src.broker && !r->src.not_broker));
	FUZZ_CHECK(r->sport.any == (r->sport.n == 0));
	FUZZ_CHECK(r->dport.any == (r->dport.n == 0));
}

/* The raw text is a rule that loads to itself (unless it ends in a '\',
 * which on a line of its own would continue it). */
static void check_raw(const struct rule_vars *vs, const struct rule *r)
{
	if (r->raw[strlen(r->raw) - 1] == '\\')
		return;
	struct ruleset *again = new_set(vs);
	if (!again)
		return;
	int e = ruleset_load_string(again, "raw", r->raw, NULL);
	FUZZ_CHECK(e == 0 && ruleset_count(again) == 1);
	const struct rule *q = ruleset_get(again, 0);
	FUZZ_CHECK(!strcmp(q->raw, r->raw) && q->sid == r->sid &&
		   q->proto == r->proto && q->priority == r->priority &&
		   q->n_topics == r->n_topics && q->match_types == r->match_types);
	ruleset_free(again);
}

/* Every rule that matches ev is one of its candidates. */
static void check_event(const struct ruleset *rs, const struct det_event *ev)
{
	size_t n;
	const struct rule *const *c = ruleset_candidates(rs, ev, &n);
	FUZZ_CHECK(c != NULL);
	for (size_t i = 0; i < ruleset_count(rs); i++) {
		const struct rule *r = ruleset_get(rs, i);
		bool t;
		if (!rule_match(r, ev, &t))
			continue;
		size_t k;
		for (k = 0; k < n && c[k] != r; k++)
			;
		FUZZ_CHECK(k < n);
	}
}

struct fx {
	struct det_event ev;
	struct mqtt_msg m;
	struct mqtt_state st;
	struct mqtt_topic topics[2];
	uint8_t cli[16], srv[16];
	uint8_t codes[2];
};

static struct slice sl(const char *s)
{
	struct slice x = { (const uint8_t *)s, strlen(s) };
	return x;
}

/* A client (192.0.2.7 or fd00::7) and the broker (10.0.0.1 / fd00::1). */
static void fx_init(struct fx *f, enum det_kind kind, bool toclient, bool v6)
{
	memset(f, 0, sizeof(*f));
	if (v6) {
		f->cli[0] = f->srv[0] = 0xfd;
		f->cli[15] = 7;
		f->srv[15] = 1;
	} else {
		f->cli[0] = 192, f->cli[2] = 2, f->cli[3] = 7;
		f->srv[0] = 10, f->srv[3] = 1;
	}
	f->ev.kind = kind;
	f->ev.family = v6 ? 6 : 4;
	f->ev.src = toclient ? f->srv : f->cli;
	f->ev.dst = toclient ? f->cli : f->srv;
	f->ev.sport = toclient ? 1883 : 40000;
	f->ev.dport = toclient ? 40000 : 1883;
	f->ev.server = toclient ? DET_SERVER_SRC : DET_SERVER_DST;
	f->ev.toclient = toclient;
	f->ev.st = &f->st;
	f->st.client_id = (char *)"dev-1";
	f->st.username = (char *)"user";
	f->st.version = 4;
	f->m.version = 4;
	if (kind == DET_MQTT)
		f->ev.msg = &f->m;
}

static void run_events(const struct ruleset *rs)
{
	struct fx f;
	for (int v6 = 0; v6 < 2; v6++) {
		fx_init(&f, DET_TCP, false, v6);
		f.ev.tcp_flags = 0x02;
		check_event(rs, &f.ev);
		fx_init(&f, DET_TCP, true, v6);
		f.ev.tcp_flags = 0x12;
		check_event(rs, &f.ev);
		fx_init(&f, DET_ANOMALY, false, v6);
		f.ev.anomaly = "invalid_qos_level";
		check_event(rs, &f.ev);
		f.ev.family = 0;
		f.ev.st = NULL;
		f.ev.anomaly = "ipv4.trunc_pkt";
		check_event(rs, &f.ev);
		for (unsigned t = 0; t < 16; t++) {
			fx_init(&f, DET_MQTT, t == MQTT_CONNACK ||
				t == MQTT_SUBACK || t == MQTT_UNSUBACK, v6);
			f.m.type = (uint8_t)t;
			f.m.qos = (uint8_t)(t & 3);
			f.m.topic = sl("sensors/x");
			f.m.payload = sl("payload");
			f.m.client_id = sl("mqtt-explorer-1");
			f.m.has_will = t == MQTT_CONNECT;
			f.m.will_topic = sl("$SYS/will");
			f.m.connect_flags = 0x0c;
			f.m.protocol_version = 5;
			f.m.has_reason_code = true;
			f.m.reason_code = 0x87;
			f.codes[0] = 0x80;
			f.m.codes.p = f.codes;
			f.m.codes.len = 1;
			f.topics[0].name = sl("#");
			f.topics[0].opts = 1;
			f.m.topics = f.topics;
			f.m.n_topics = 1;
			check_event(rs, &f.ev);
		}
	}
}

static void check_glob(const char *pat, const char *s)
{
	if (strstr(pat, "[:") || strstr(pat, "[=") || strstr(pat, "[.") ||
	    !brackets_closed(pat))
		return;
	FUZZ_CHECK(glob_match(pat, s, strlen(s)) ==
		   (fnmatch(pat, s, 0) == 0));
}

/* Each glob of r against itself, its pieces and a few strings. */
static void check_globs(char *const *g, uint32_t n)
{
	static const char *const strs[] = {
		"", "a", "dev-1", "mqtt-explorer-1", "*", "[", "\\", "a/b",
	};
	for (uint32_t i = 0; i < n && i < 4; i++) {
		const char *p = g[i][0] == '!' ? g[i] + 1 : g[i];
		for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++)
			check_glob(p, strs[k]);
		check_glob(p, p);
		for (uint32_t j = 0; j < n && j < 4; j++)
			check_glob(p, g[j]);
	}
}

/* Events whose topics are the rules' own filters, and topic oracles. */
static void run_topics(const struct ruleset *rs)
{
	const char *f[MAX_TOPIC_EVENTS];
	unsigned nf = 0;
	for (size_t i = 0; i < ruleset_count(rs) && nf < MAX_TOPIC_EVENTS; i++) {
		const struct rule *r = ruleset_get(rs, i);
		for (uint32_t k = 0; k < r->n_topics && nf < MAX_TOPIC_EVENTS; k++)
			f[nf++] = r->topics[k];
	}
	struct fx x;
	for (unsigned i = 0; i < nf; i++) {
		fx_init(&x, DET_MQTT, false, false);
		x.m.type = MQTT_PUBLISH;
		x.m.topic = sl(f[i]);
		check_event(rs, &x.ev);
		x.m.type = MQTT_SUBSCRIBE;
		x.topics[0].name = sl(f[i]);
		x.m.topics = x.topics;
		x.m.n_topics = 1;
		check_event(rs, &x.ev);
		for (unsigned k = 0; k < nf; k++) {
			size_t kn = strlen(f[k]);
			bool ov = mqtt_topic_overlap(f[i], f[k], kn);
			if (strncmp(f[i], "$share/", 7) && strncmp(f[k], "$share/", 7))
				FUZZ_CHECK(ov == mqtt_topic_overlap(f[k], f[i],
								       strlen(f[i])));
			if (!strpbrk(f[k], "+#") && strncmp(f[k], "$share/", 7))
				FUZZ_CHECK(ov == mqtt_topic_match(f[i], f[k], kn));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	struct rule_vars vs;
	rule_vars_default(&vs);
	char *text = take_vars(buf, &vs);
	unsigned lines = 1;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';

	struct ruleset *rs = new_set(&vs);
	char *msgs = NULL;
	size_t mlen = 0;
	FILE *m = open_memstream(&msgs, &mlen);
	if (!rs || !m) {
		if (m)
			fclose(m);
		ruleset_free(rs);
		free(buf);
		return 0;
	}
	int e = ruleset_load_string(rs, "t.rules", text, m);
	fclose(m);
	FUZZ_CHECK(e >= 0);
	FUZZ_CHECK(check_messages(msgs, mlen, lines) == e);
	free(msgs);

	/* The file loader reads the same bytes (when there is no NUL). */
	size_t tl = strlen(text);
	if (text + tl == buf + size) {
		const char *path = fuzz_scratch_file((const uint8_t *)text, tl);
		struct ruleset *rf = path ? new_set(&vs) : NULL;
		if (rf) {
			int ef = ruleset_load_file(rf, path, NULL);
			FUZZ_CHECK(ef == e && ruleset_count(rf) == ruleset_count(rs));
			ruleset_free(rf);
		}
	}

	for (size_t i = 0; i < ruleset_count(rs); i++) {
		const struct rule *r = ruleset_get(rs, i);
		check_rule(r);
		if (i < 8) {
			check_raw(&vs, r);
			check_globs(r->client_ids, r->n_client_ids);
			check_globs(r->usernames, r->n_usernames);
			check_globs(r->filters, r->n_filters);
			check_globs(r->anomalies, r->n_anomalies);
		}
	}
	run_events(rs);
	run_topics(rs);
	ruleset_free(rs);
	free(buf);
	return 0;
}
