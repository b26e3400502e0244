/*
 * privs.h - giving up root once the capture is open, as tcpdump's -Z
 * does: `live --user NAME [--group NAME]` (run-as.user, run-as.group).
 */
#ifndef MQTTIDS_PRIVS_H
#define MQTTIDS_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

#define PRIVS_NAME_MAX 64

struct privs {
	char user[PRIVS_NAME_MAX];
	uid_t uid;
	gid_t gid;
};

/*
 * Looks user (and group, NULL or "": the user's own) up. Returns 0, or
 * -1 with a message in err (no such user or group).
 */
int privs_lookup(const char *user, const char *group, struct privs *p,
		 char *err, size_t errsz);

/*
 * Becomes p's user: the files in own[] that exist (what mqttids opened
 * as root and writes later: EVE, the store and its journals, the state,
 * the -w capture) are given to it first, then the supplementary groups,
 * the group and the user are set, and it checks root cannot be taken
 * back. Then each directory in dirs[] must be writable by the new user
 * (state saves and the store's journals create files there). Returns 0,
 * or -1 with a message in err.
 */
int privs_drop(const struct privs *p, const char *const *own, size_t n_own,
	       const char *const *dirs, size_t n_dirs, char *err, size_t errsz);

#endif
