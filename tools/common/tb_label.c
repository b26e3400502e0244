/* tb_label.c - writes ground-truth label records with the project's JSON writer. */
#define _POSIX_C_SOURCE 200809L
#include "tb_label.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/jw.h"

void tb_label_init(struct tb_label *l, const char *kind, const char *mode)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->kind, sizeof(l->kind), "%s", kind);
	snprintf(l->mode, sizeof(l->mode), "%s", mode);
}

void tb_label_port(struct tb_label *l, uint16_t port)
{
	if (l->n_ranges && l->port_hi[l->n_ranges - 1] + 1 == port) {
		l->port_hi[l->n_ranges - 1] = port;
		return;
	}
	if (l->n_ranges && port >= l->port_lo[l->n_ranges - 1] &&
	    port <= l->port_hi[l->n_ranges - 1])
		return;
	if (l->n_ranges == TB_LABEL_MAX_RANGES) {
		l->ports_truncated = true;
		return;
	}
	l->port_lo[l->n_ranges] = l->port_hi[l->n_ranges] = port;
	l->n_ranges++;
}

void tb_label_client(struct tb_label *l, const char *id)
{
	if (l->n_ids && strcmp(l->client_ids[l->n_ids - 1], id) == 0)
		return;
	l->client_id_count++;
	if (l->n_ids < TB_LABEL_MAX_IDS)
		snprintf(l->client_ids[l->n_ids++], sizeof(l->client_ids[0]), "%s", id);
}

void tb_iso_utc(char *out, size_t cap, uint64_t us)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%06uZ", (unsigned)(us % 1000000));
}

int tb_label_write(const char *path, const struct tb_label *l)
{
	struct jw w;
	jw_init(&w);
	char ts[40];
	jw_open_obj(&w, NULL);
	jw_cstr(&w, "kind", l->kind);
	jw_cstr(&w, "mode", l->mode);
	tb_iso_utc(ts, sizeof(ts), l->start_us);
	jw_cstr(&w, "start", ts);
	tb_iso_utc(ts, sizeof(ts), l->end_us);
	jw_cstr(&w, "end", ts);
	jw_uint(&w, "start_us", l->start_us);
	jw_uint(&w, "end_us", l->end_us);
	jw_cstr(&w, "attacker", l->attacker);
	jw_cstr(&w, "target", l->target);
	jw_open_arr(&w, "src_ports");
	for (unsigned i = 0; i < l->n_ranges; i++) {
		jw_open_arr(&w, NULL);
		jw_uint(&w, NULL, l->port_lo[i]);
		jw_uint(&w, NULL, l->port_hi[i]);
		jw_close_arr(&w);
	}
	jw_close_arr(&w);
	if (l->ports_truncated)
		jw_bool(&w, "src_ports_truncated", true);
	jw_open_arr(&w, "client_ids");
	for (unsigned i = 0; i < l->n_ids; i++)
		jw_cstr(&w, NULL, l->client_ids[i]);
	jw_close_arr(&w);
	jw_uint(&w, "client_id_count", l->client_id_count);
	jw_uint(&w, "connections", l->connections);
	jw_uint(&w, "messages_sent", l->messages_sent);
	if (l->packets_sent)
		jw_uint(&w, "packets_sent", l->packets_sent);
	if (l->device[0])
		jw_cstr(&w, "device", l->device);
	if (l->topic[0])
		jw_cstr(&w, "topic", l->topic);
	if (l->detail[0]) {
		char buf[sizeof(l->detail) + 2];
		int n = snprintf(buf, sizeof(buf), "{%s}", l->detail);
		jw_raw(&w, "detail", buf, (size_t)n);
	}
	jw_close_obj(&w);
	jw_append(&w, "\n", 1);
	int rc = 0;
	int fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND, 0644) : 1;
	if (fd < 0 || write(fd, w.buf, w.len) != (ssize_t)w.len) {
		fprintf(stderr, "%s: cannot write label: %s\n", path ? path : "stdout",
			strerror(errno));
		rc = -1;
	}
	if (path && fd >= 0)
		close(fd);
	jw_deinit(&w);
	return rc;
}
