/* file.h - reading a whole (small) file. */
#ifndef MQTTIDS_FILE_H
#define MQTTIDS_FILE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Reads the whole file at path into a malloc'd buffer with a NUL after
 * the last byte; *len (may be NULL) gets its length. NULL (errno set by
 * the failing call) when it cannot be opened or read, or is longer than
 * max bytes (errno EFBIG).
 */
char *file_read_all(const char *path, size_t max, size_t *len);

/* file_read_all of a file mqttids trusts (a policy, a device list):
 * file_warn_unsafe on log (what names it) first. */
char *file_read_trusted(const char *path, size_t max, size_t *len,
			const char *what, FILE *log);

/* The mode new output files (EVE, store, pcap) get by default. */
#define FILE_OUTPUT_MODE 0640

/*
 * Replaces path with data[0..len) atomically: a new temporary file in
 * the same directory, created exclusively (a planted file or symlink is
 * never opened), with mode, written, fsync'ed and renamed over path. On
 * failure path is untouched and err says why. Returns 0 or -1.
 */
int file_write_atomic(const char *path, const void *data, size_t len,
		      unsigned mode, char *err, size_t errsz);

/*
 * Opens path for writing (append, or truncate), creating it with mode
 * when it does not exist; an existing file keeps its mode. Returns the
 * descriptor (O_CLOEXEC) or -1 with errno set.
 */
int file_open_output(const char *path, int append, unsigned mode);
/* The same as a stream; NULL with errno set. */
FILE *file_fopen_output(const char *path, int append, unsigned mode);

/*
 * Warns on log when the file open as fd (read as root or another user)
 * is writable by others, or by a group, or owned by a user other than
 * root and us: whoever can write it can change what mqttids believes.
 * what names the file ("ACL file"). Returns 1 when it warned.
 */
int file_warn_unsafe(int fd, const char *path, const char *what, FILE *log);

#endif
