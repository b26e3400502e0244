/*
 * replay_main.c - runs a fuzz target's LLVMFuzzerTestOneInput over saved
 * inputs without libFuzzer, so normal and sanitizer builds (gcc too) replay
 * the corpus as a test. Arguments are files or directories (read one level
 * deep, in name order). Each input is handed over in a buffer of exactly
 * its size. Prints "replayed N inputs"; exits 1 when a path cannot be read
 * or nothing was replayed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

/* Reads a whole file into a malloc'd buffer of exactly its size. */
static int replay_read(const char *path, uint8_t **out, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	int rc = -1;
	if (!fp) {
		perror(path);
		return -1;
	}
	for (;;) {
		uint8_t tmp[4096];
		size_t r = fread(tmp, 1, sizeof(tmp), fp);
		if (r == 0)
			break;
		if (cap - n < r) {
			size_t nc = cap ? cap * 2 : 8192;
			while (nc - n < r)
				nc *= 2;
			uint8_t *nb = realloc(buf, nc);
			if (!nb)
				goto out;
			buf = nb;
			cap = nc;
		}
		memcpy(buf + n, tmp, r);
		n += r;
	}
	if (ferror(fp)) {
		perror(path);
		goto out;
	}
	/* Exact size, so that ASan flags a read one byte past the input. */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact)
		goto out;
	if (n)
		memcpy(exact, buf, n);
	*out = exact;
	*len = n;
	rc = 0;
out:
	free(buf);
	fclose(fp);
	return rc;
}

static int replay_file(const char *path, unsigned long *count)
{
	uint8_t *data;
	size_t len;
	if (replay_read(path, &data, &len) != 0)
		return -1;
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	(*count)++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, unsigned long *count)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	if (!d) {
		perror(dir);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nn = realloc(names, nc * sizeof(*names));
			if (!nn) {
				rc = -1;
				goto out;
			}
			names = nn;
			cap = nc;
		}
		size_t len = strlen(dir) + strlen(de->d_name) + 2;
		names[n] = malloc(len);
		if (!names[n]) {
			rc = -1;
			goto out;
		}
		snprintf(names[n], len, "%s/%s", dir, de->d_name);
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		if (stat(names[i], &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (replay_file(names[i], count) != 0)
			rc = -1;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	int rc = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		if (stat(argv[i], &sb) != 0) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		int r = S_ISDIR(sb.st_mode) ? replay_dir(argv[i], &count)
					    : replay_file(argv[i], &count);
		if (r != 0)
			rc = 1;
	}
	printf("replayed %lu inputs\n", count);
	if (count == 0)
		rc = 1;
	return rc;
}
