/* file.h - reading a whole (small) file. */
#ifndef MQTTIDS_FILE_H
#define MQTTIDS_FILE_H

#include <stddef.h>

/*
 * Reads the whole file at path into a malloc'd buffer with a NUL after
 * the last byte; *len (may be NULL) gets its length. NULL (errno set by
 * the failing call) when it cannot be opened or read, or is longer than
 * max bytes (errno EFBIG).
 */
char *file_read_all(const char *path, size_t max, size_t *len);

#endif
