/* file.c - reading a whole (small) file: configs, scenarios, labels, EVE. */
#define _POSIX_C_SOURCE 200809L
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The random part of a temporary file's name: "XXXXXX" for mkstemp. */
#define TMP_SUFFIX ".XXXXXX"
#define PATH_MAX_LEN 4096

char *file_read_all(const char *path, size_t max, size_t *len)
{
	return file_read_trusted(path, max, len, NULL, NULL);
}

char *file_read_trusted(const char *path, size_t max, size_t *len,
			const char *what, FILE *log)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	if (what && log)
		file_warn_unsafe(fileno(f), path, what, log);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int err = buf ? 0 : ENOMEM;
	while (buf && !err) {
		if (n > max) {
			err = EFBIG; /* stop reading: more than max is refused */
			break;
		}
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t k = fread(buf + n, 1, cap - 1 - n, f);
		if (k == 0)
			break;
		n += k;
	}
	if (!err && ferror(f))
		err = EIO;
	if (!err && n > max)
		err = EFBIG;
	fclose(f);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

int file_write_atomic(const char *path, const void *data, size_t len,
		      unsigned mode, char *err, size_t errsz)
{
	char tmp[PATH_MAX_LEN];
	if (snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, path) >= (int)sizeof(tmp)) {
		snprintf(err, errsz, "%s: path too long", path);
		return -1;
	}
	/* mkstemp: O_CREAT | O_EXCL with a fresh name, so nothing planted
	 * beside path (a symlink, a file) is opened or truncated. */
	int fd = mkstemp(tmp);
	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsz, "%s: cannot create a temporary file: %s", path,
			 strerror(errno));
		return -1;
	}
	const char *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	int ok = off == len && fchmod(fd, (mode_t)mode) == 0 && fsync(fd) == 0;
	int saved = errno;
	if (close(fd) != 0 && ok) {
		ok = 0;
		saved = errno;
	}
	if (!ok || rename(tmp, path) != 0) {
		if (ok)
			saved = errno;
		snprintf(err, errsz, "%s: %s", path, strerror(saved ? saved : EIO));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int file_open_output(const char *path, int append, unsigned mode)
{
	int flags = O_WRONLY | O_CLOEXEC | O_NOCTTY | (append ? O_APPEND : O_TRUNC);
	return open(path, flags | O_CREAT, (mode_t)mode);
}

FILE *file_fopen_output(const char *path, int append, unsigned mode)
{
	int fd = file_open_output(path, append, mode);
	if (fd < 0)
		return NULL;
	FILE *fp = fdopen(fd, append ? "a" : "w");
	if (!fp) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return fp;
}

int file_warn_unsafe(int fd, const char *path, const char *what, FILE *log)
{
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		return 0;
	const char *why = NULL;
	if (sb.st_mode & S_IWOTH)
		why = "is writable by every user";
	else if (sb.st_mode & S_IWGRP)
		why = "is writable by its group";
	else if (sb.st_uid != 0 && sb.st_uid != geteuid())
		why = "belongs to another user";
	if (!why)
		return 0;
	fprintf(log, "mqttids: warning: %s %s %s (mode %04o, owner uid %u): whoever "
		"can write it decides what mqttids accepts; fix with: chown root %s "
		"&& chmod go-w %s\n", what, path, why, (unsigned)(sb.st_mode & 07777),
		(unsigned)sb.st_uid, path, path);
	return 1;
}
