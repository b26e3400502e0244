/*
 * fuzz_mqtt_stream.c - libFuzzer target for the MQTT session layer
 * (mqtt_session.c): stream framing across arbitrary chunk boundaries, gaps,
 * resynchronisation, truncation of oversize messages, session state and
 * transaction grouping, all under small caps so every limit is reached.
 *
 * Input layout:
 *   byte 0      configuration bits (see cfg_from)
 *   then ops    one header byte each: bit 7 direction (1: to client),
 *               bits 5-6 the op, bits 0-4 its argument
 *     op 0      feed the next arg+1 bytes
 *     op 1      feed the next (arg+1)*16 bytes
 *     op 2      arg 0: mark the direction midstream; 1-30: a gap of arg
 *               bytes; 31: a gap whose length is the next 4 bytes
 *     op 3      end the session (arg bit 0: connection closed) and start
 *               a new one on the same context
 * Oracles: every record is valid JSON, and when the last session is freed
 * the context holds no pending transaction and no pending bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "mqtt/mqtt_session.h"
#include "output/eve.h"

struct sink_ctx {
	struct mqtt_ctx *mc;
	struct jw line;
	uint64_t records;
};

static void sink_tx(void *ud, const struct mqtt_state *st,
		    const struct mqtt_tx *tx)
{
	struct sink_ctx *s = ud;
	struct eve_cfg ec = { s->mc->cfg.string_log_limit, s->mc->cfg.log_passwords };
	jw_reset(&s->line);
	jw_open_obj(&s->line, NULL);
	jw_cstr(&s->line, "event_type", "mqtt");
	jw_open_obj(&s->line, "mqtt");
	eve_mqtt_tx(&s->line, tx, &ec);
	jw_close_obj(&s->line);
	FUZZ_CHECK(tx->truncated || (tx->n >= 1 && tx->n <= MQTT_TX_MSGS));
	if (st && st->rec.present)
		eve_mqtt_session(&s->line, "mqtt_session", &st->rec);
	jw_close_obj(&s->line);
	FUZZ_CHECK(!s->line.oom);
	/* The line embeds mqtt_session, so this checks the session JSON too. */
	FUZZ_CHECK(fuzz_json_check(s->line.buf, s->line.len) == 0);
	s->records++;
}

static void sink_anomaly(void *ud, const struct mqtt_state *st,
			 bool toclient, const char *layer, const char *event,
			 const char *detail)
{
	struct sink_ctx *s = ud;
	(void)st;
	(void)toclient;
	/* Static names and snprintf'd details: only their shape is checked. */
	FUZZ_CHECK(layer && event && strlen(event) > 0);
	if (detail)
		FUZZ_CHECK(strlen(detail) < 256);
	s->records++;
}

/* The detector hook: the message must serialise on its own too. */
static void sink_msg(void *ud, const struct mqtt_state *st, bool toclient,
		     const struct mqtt_msg *m)
{
	struct sink_ctx *s = ud;
	(void)toclient;
	FUZZ_CHECK(st != NULL);
	FUZZ_CHECK(m->n_topics <= s->mc->cfg.max_topics);
	FUZZ_CHECK(m->props.n + m->will_props.n <= s->mc->parser.max_props);
	struct eve_cfg ec = { s->mc->cfg.string_log_limit, s->mc->cfg.log_passwords };
	jw_reset(&s->line);
	jw_open_obj(&s->line, NULL);
	eve_mqtt_msg(&s->line, m, &ec);
	jw_close_obj(&s->line);
	FUZZ_CHECK(fuzz_json_check(s->line.buf, s->line.len) == 0);
}

/* Small caps, so that an input of a few hundred bytes reaches each one. */
static void cfg_from(uint8_t b, struct mqtt_cfg *c)
{
	mqtt_cfg_default(c);
	c->max_msg_len = 300;
	c->max_tx = 4;
	c->max_props = 4;
	c->max_topics = 3;
	c->session_str_max = 16;
	c->resync_max = 256;
	c->log_passwords = b & 1;
	c->string_log_limit = (b & 2) ? 8 : SIZE_MAX;
	c->max_pending_total = (b & 4) ? 3 : 64;
	c->tx_memcap = (b & 8) ? 512 : 64 * 1024;
	if (b & 16)
		c->max_tx = 1;
	if (b & 32)
		c->max_msg_len = 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct mqtt_ctx mc;
	struct mqtt_cfg cfg;
	struct sink_ctx s;
	cfg_from(fuzz_u8(&in), &cfg);
	if (mqtt_ctx_init(&mc, &cfg) != 0) {
		mqtt_ctx_deinit(&mc);
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.mc = &mc;
	jw_init(&s.line);
	struct mqtt_sink sink = { sink_tx, sink_anomaly, sink_msg, &s };
	struct mqtt_state *st = mqtt_state_new(&mc);
	if (!st)
		goto out;

	while (in.n > 0) {
		uint8_t h = fuzz_u8(&in);
		bool toclient = h & 0x80;
		unsigned op = (h >> 5) & 3, arg = h & 31;
		size_t want, got;
		const uint8_t *p;
		switch (op) {
		case 0:
		case 1:
			want = op == 0 ? arg + 1u : (arg + 1u) * 16u;
			p = fuzz_take(&in, want, &got);
			if (got) {
				/* An exact-size copy: ASan sees any over-read. */
				uint8_t *chunk = fuzz_dup(p, got);
				if (!chunk)
					goto out;
				mqtt_stream_feed(&mc, st, toclient, chunk, got,
						 &sink);
				free(chunk);
			}
			break;
		case 2:
			if (arg == 0)
				mqtt_stream_midstream(st, toclient);
			else
				mqtt_stream_gap(&mc, st, toclient,
						arg < 31 ? arg : fuzz_be32(&in),
						&sink);
			break;
		default:
			mqtt_state_free(&mc, st, &sink, arg & 1);
			FUZZ_CHECK(mc.pending_total == 0);
			FUZZ_CHECK(mc.pending_bytes == 0);
			st = mqtt_state_new(&mc);
			if (!st)
				goto out;
			break;
		}
		FUZZ_CHECK(st->n_pending <= cfg.max_tx);
		FUZZ_CHECK(mc.pending_total <= cfg.max_pending_total);
		for (int d = 0; d < 2; d++)
			FUZZ_CHECK(st->dir[d].len <= (uint32_t)cfg.max_msg_len + 5);
	}
	mqtt_state_free(&mc, st, &sink, true);
	FUZZ_CHECK(mc.pending_total == 0);
	FUZZ_CHECK(mc.pending_bytes == 0);
out:
	jw_deinit(&s.line);
	mqtt_ctx_deinit(&mc);
	return 0;
}
