/*
 * privs.c - dropping root after the capture is open: chown of the
 * output files, initgroups, setgid, setuid, and a check that it holds.
 */
#define _DEFAULT_SOURCE /* initgroups */
#include "capture/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int privs_lookup(const char *user, const char *group, struct privs *p,
		 char *err, size_t errsz)
{
	memset(p, 0, sizeof(*p));
	if (!user || !*user || strlen(user) >= sizeof(p->user)) {
		snprintf(err, errsz, "run-as user: a user name is needed");
		return -1;
	}
	errno = 0;
	const struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errsz, "run-as user '%s': %s", user,
			 errno ? strerror(errno) : "no such user");
		return -1;
	}
	snprintf(p->user, sizeof(p->user), "%s", user);
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	if (group && *group) {
		errno = 0;
		const struct group *gr = getgrnam(group);
		if (!gr) {
			snprintf(err, errsz, "run-as group '%s': %s", group,
				 errno ? strerror(errno) : "no such group");
			return -1;
		}
		p->gid = gr->gr_gid;
	}
	if (p->uid == 0) {
		snprintf(err, errsz, "run-as user '%s' is root: nothing to drop", user);
		return -1;
	}
	return 0;
}

int privs_drop(const struct privs *p, const char *const *own, size_t n_own,
	       const char *const *dirs, size_t n_dirs, char *err, size_t errsz)
{
	for (size_t i = 0; i < n_own; i++) {
		if (!own[i] || !*own[i])
			continue;
		if (chown(own[i], p->uid, p->gid) != 0 && errno != ENOENT) {
			snprintf(err, errsz, "%s: cannot give it to %s: %s", own[i],
				 p->user, strerror(errno));
			return -1;
		}
	}
	if (initgroups(p->user, p->gid) != 0 || setgid(p->gid) != 0 ||
	    setuid(p->uid) != 0) {
		snprintf(err, errsz, "becoming %s (uid %u, gid %u): %s", p->user,
			 (unsigned)p->uid, (unsigned)p->gid, strerror(errno));
		return -1;
	}
	if (getuid() != p->uid || geteuid() != p->uid || getegid() != p->gid ||
	    setuid(0) == 0) {
		snprintf(err, errsz, "becoming %s: root could be taken back", p->user);
		return -1;
	}
	for (size_t i = 0; i < n_dirs; i++) {
		if (dirs[i] && *dirs[i] && access(dirs[i], W_OK | X_OK) != 0) {
			snprintf(err, errsz, "%s: not writable by %s (%s): state saves "
				 "and the store's journals are created there; give "
				 "the directory to %s (docs/CLI.md \"Running as a "
				 "service\")", dirs[i], p->user, strerror(errno),
				 p->user);
			return -1;
		}
	}
	return 0;
}
