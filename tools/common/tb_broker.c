/* tb_broker.c - the testbed broker's users and ACL, their mosquitto acl_file form, and the access check mosquitto applies. */
#include "tb_broker.h"

#include <stdio.h>
#include <string.h>

const struct tb_user tb_users[] = {
	{ "sensor", "sensor-pass" },  { "dashboard", "dash-pass" },
	{ "admin", "Adm1n-S3cure!" }, { "zigbee2mqtt", "z2m-pass" },
	{ "guest", "guest" },
};
const size_t tb_n_users = sizeof(tb_users) / sizeof(tb_users[0]);

/*
 * The dashboard reads what a home dashboard shows, admin may do anything,
 * the bridge owns its base topic and guest a public tree. The patterns let
 * every client write its own device topic, chosen by its client id: the
 * sensors rely on it, and it is a realistic misconfiguration, as any
 * authenticated user (guest too) who connects with a device's client id may
 * publish as that device (takeover, spoof).
 */
const struct tb_acl_rule tb_acl[] = {
	{ "dashboard", "sensors/#", 'r' },
	{ "dashboard", "zigbee2mqtt/#", 'r' },
	{ "dashboard", "$SYS/#", 'r' },
	{ "admin", "#", 'b' },
	{ "admin", "$SYS/#", 'b' },
	{ "zigbee2mqtt", "zigbee2mqtt/#", 'b' },
	{ "guest", "public/#", 'b' },
	{ NULL, "sensors/+/%c", 'w' },
	{ NULL, "sensors/+/%c/#", 'w' },
	{ NULL, "sensors/+/%c/cmd", 'r' },
};
const size_t tb_n_acl = sizeof(tb_acl) / sizeof(tb_acl[0]);

bool tb_topic_match(const char *f, const char *t)
{
	if (t[0] == '$' && (f[0] == '#' || f[0] == '+'))
		return false;
	for (;;) {
		if (f[0] == '#' && f[1] == '\0')
			return true;
		const char *fe = strchr(f, '/'), *te = strchr(t, '/');
		size_t fl = fe ? (size_t)(fe - f) : strlen(f);
		size_t tl = te ? (size_t)(te - t) : strlen(t);
		if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl) != 0))
			return false;
		if (!fe && !te)
			return true;
		if (!te)
			return fe && strcmp(fe + 1, "#") == 0; /* "a/#" matches "a" */
		if (!fe)
			return false;
		f = fe + 1;
		t = te + 1;
	}
}

bool tb_acl_allows(const char *user, const char *client_id, const char *topic, bool write)
{
	for (size_t i = 0; i < tb_n_acl; i++) {
		const struct tb_acl_rule *a = &tb_acl[i];
		if (a->access != 'b' && a->access != (write ? 'w' : 'r'))
			continue;
		if (a->user) {
			if (strcmp(a->user, user) == 0 && tb_topic_match(a->filter, topic))
				return true;
			continue;
		}
		/* pattern: %c is the client id */
		char f[512];
		const char *pc = strstr(a->filter, "%c");
		if (!pc)
			snprintf(f, sizeof(f), "%s", a->filter);
		else
			snprintf(f, sizeof(f), "%.*s%s%s", (int)(pc - a->filter), a->filter,
				 client_id, pc + 2);
		if (tb_topic_match(f, topic))
			return true;
	}
	return false;
}

size_t tb_acl_file(char *out, size_t cap)
{
	static const char *const access[] = { "read", "write", "readwrite" };
	size_t o = 0;
	int n = snprintf(out, cap,
			 "# acl - mosquitto ACL of the mqttids testbed (tools/common/tb_broker.c).\n"
			 "# The dashboard reads what a home dashboard shows, admin may do\n"
			 "# anything, the bridge owns its base topic and guest a public tree.\n"
			 "# The patterns let every client write its own device topic, chosen by\n"
			 "# its client id (%%c). The sensors rely on this; but it is a realistic\n"
			 "# misconfiguration: any authenticated user (guest too) who connects\n"
			 "# with a device's client id may publish as that device. The IDS has to\n"
			 "# catch that (takeover, spoof).\n");
	if (n < 0 || (size_t)n >= cap)
		return 0;
	o = (size_t)n;
	const char *prev = "";
	for (size_t i = 0; i < tb_n_acl; i++) {
		const struct tb_acl_rule *a = &tb_acl[i];
		const char *acc = access[a->access == 'r' ? 0 : a->access == 'w' ? 1 : 2];
		if (a->user && strcmp(a->user, prev) != 0)
			n = snprintf(out + o, cap - o, "\nuser %s\ntopic %s %s\n", a->user, acc, a->filter);
		else if (a->user)
			n = snprintf(out + o, cap - o, "topic %s %s\n", acc, a->filter);
		else
			n = snprintf(out + o, cap - o, "%spattern %s %s\n", prev[0] ? "\n" : "", acc,
				     a->filter);
		if (n < 0 || (size_t)n >= cap - o)
			return 0;
		o += (size_t)n;
		prev = a->user ? a->user : "";
	}
	return o;
}
