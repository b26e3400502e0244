/*
 * fuzz_mqtt_parse.c - libFuzzer target for the MQTT control packet decoder
 * (MQTT 3.1.1 §2-3, MQTT 5.0 §2-3): mqtt_frame_peek and mqtt_parse_msg for
 * protocol levels 0 (unknown), 3, 4 and 5, and the EVE JSON of every
 * message that decodes.
 *
 * The input is a run of MQTT messages as they follow each other on a
 * stream. Each frame is copied into a buffer of exactly its size, so ASan
 * catches any read past the frame, and decoded twice: with tiny scratch
 * caps (properties and topics overflow) and with roomy ones. Oracles: every
 * slice lies inside the frame, counts respect the caps, and the EVE member
 * is valid JSON with well-formed UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "output/eve.h"
#include "mqtt/mqtt_parse.h"

static void check_slice(struct slice s, const uint8_t *p, size_t n)
{
	if (s.len == 0)
		return;
	FUZZ_CHECK(s.p != NULL);
	FUZZ_CHECK(s.p >= p && s.len <= n && (size_t)(s.p - p) <= n - s.len);
}

static void check_props(const struct mqtt_props *ps,
			const struct mqtt_parser *parser, const uint8_t *p,
			size_t n)
{
	if (ps->n == 0)
		return;
	FUZZ_CHECK(ps->v >= parser->props &&
		   ps->v + ps->n <= parser->props + parser->max_props);
	for (uint16_t i = 0; i < ps->n; i++) {
		FUZZ_CHECK(mqtt_prop_name(ps->v[i].id) != NULL);
		check_slice(ps->v[i].s, p, n);
		check_slice(ps->v[i].v, p, n);
	}
}

/* What a successful decode must satisfy, whatever the bytes were. */
static void check_msg(const struct mqtt_msg *m,
		      const struct mqtt_parser *parser, const uint8_t *p,
		      size_t n)
{
	FUZZ_CHECK(m->type == p[0] >> 4);
	FUZZ_CHECK((size_t)m->hdr_len + m->remaining_length == n);
	FUZZ_CHECK(m->hdr_len >= 2 && m->hdr_len <= 5);
	FUZZ_CHECK(m->version >= 3 && m->version <= 5);
	FUZZ_CHECK(m->anomalies < (1u << MQTT_ANOM__COUNT));
	check_slice(m->protocol_name, p, n);
	check_slice(m->client_id, p, n);
	check_slice(m->will_topic, p, n);
	check_slice(m->will_payload, p, n);
	check_slice(m->username, p, n);
	check_slice(m->password, p, n);
	check_slice(m->topic, p, n);
	check_slice(m->payload, p, n);
	check_slice(m->codes, p, n);
	check_props(&m->props, parser, p, n);
	check_props(&m->will_props, parser, p, n);
	FUZZ_CHECK(m->n_topics <= parser->max_topics);
	for (uint32_t i = 0; i < m->n_topics; i++)
		check_slice(m->topics[i].name, p, n);
	for (unsigned i = 0; i < MQTT_ANOM__COUNT; i++)
		FUZZ_CHECK(mqtt_anom_name(i) != NULL);
	if (m->has_reason_code)
		FUZZ_CHECK(mqtt_reason_name(m->type, m->reason_code,
					    m->version) != NULL);
	for (size_t i = 0; i < m->codes.len; i++) {
		(void)mqtt_reason_valid(m->type, m->codes.p[i], m->version);
		FUZZ_CHECK(mqtt_reason_name(m->type, m->codes.p[i],
					    m->version) != NULL);
	}
}

/*
 * Writes the message the way the EVE writer frames a transaction of it,
 * then checks it. (The mqtt_session object is made by the session layer:
 * fuzz_mqtt_stream covers it.)
 */
static void check_eve(struct jw *w, const struct mqtt_msg *m,
		      const struct mqtt_cfg *cfg)
{
	struct eve_cfg ec = { cfg->string_log_limit, cfg->log_passwords };
	struct mqtt_tx tx = { .n = 1, .msg = { m } };
	jw_reset(w);
	jw_open_obj(w, NULL);
	eve_mqtt_tx(w, &tx, &ec);
	jw_close_obj(w);
	FUZZ_CHECK(!w->oom);
	FUZZ_CHECK(fuzz_json_check(w->buf, w->len) == 0);
}

static void parse_frame(struct mqtt_parser *small, struct mqtt_parser *big,
			struct jw *w, const struct mqtt_cfg *cfgs,
			const uint8_t *p, size_t n)
{
	static const uint8_t versions[] = { 0, 3, 4, 5 };
	struct mqtt_msg m;
	for (size_t i = 0; i < sizeof(versions); i++) {
		for (int k = 0; k < 2; k++) {
			struct mqtt_parser *ps = k ? big : small;
			int err = mqtt_parse_msg(ps, p, n, versions[i], &m);
			FUZZ_CHECK(err <= 0 && err >= MQTT_PERR_VERSION);
			FUZZ_CHECK(mqtt_parse_strerror(err) != NULL);
			if (err)
				continue;
			check_msg(&m, ps, p, n);
			check_eve(w, &m, &cfgs[(i + (size_t)k) & 1]);
		}
	}
	struct eve_cfg ec = { SIZE_MAX, false };
	struct mqtt_tx tx = { .truncated = true, .first_byte = p[0],
			      .skipped_length = n };
	jw_reset(w);
	jw_open_obj(w, NULL);
	eve_mqtt_tx(w, &tx, &ec);
	jw_close_obj(w);
	FUZZ_CHECK(fuzz_json_check(w->buf, w->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqtt_parser small, big;
	struct mqtt_cfg cfgs[2];
	struct jw w;
	if (mqtt_parser_init(&small, 2, 1) != 0)
		return 0;
	if (mqtt_parser_init(&big, 64, 16) != 0) {
		mqtt_parser_deinit(&small);
		return 0;
	}
	jw_init(&w);
	/* Default logging, and the other choices: passwords, short strings. */
	mqtt_cfg_default(&cfgs[0]);
	mqtt_cfg_default(&cfgs[1]);
	cfgs[1].log_passwords = true;
	cfgs[1].string_log_limit = 7;

	int probe = mqtt_probe_connect(data, size);
	FUZZ_CHECK(probe >= -1 && probe <= 1);

	/* The whole input as one message: usually a framing error. */
	uint8_t *whole = fuzz_dup(data, size);
	if (whole && size) {
		struct mqtt_msg m;
		if (mqtt_parse_msg(&big, whole, size, 5, &m) == 0)
			check_msg(&m, &big, whole, size);
	}
	free(whole);

	size_t off = 0;
	while (off < size) {
		uint32_t hl = 0, rl = 0;
		bool ol = false;
		int r = mqtt_frame_peek(data + off, size - off, &hl, &rl, &ol);
		FUZZ_CHECK(r >= -1 && r <= 1);
		if (r <= 0)
			break;
		FUZZ_CHECK(hl >= 2 && hl <= 5 && hl <= size - off);
		FUZZ_CHECK(rl <= 268435455u);
		size_t total = (size_t)hl + rl;
		if (total > size - off)
			total = size - off; /* cut short: a framing error */
		uint8_t *frame = fuzz_dup(data + off, total);
		if (!frame)
			break;
		parse_frame(&small, &big, &w, cfgs, frame, total);
		free(frame);
		off += total;
	}

	jw_deinit(&w);
	mqtt_parser_deinit(&big);
	mqtt_parser_deinit(&small);
	return 0;
}
