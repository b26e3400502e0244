/* test_file.c - file_read_all (sizes around the buffer growth and the limit),
 * file_write_atomic, file_open_output and file_warn_unsafe. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/file.h"

/* Writes n bytes of a repeating pattern to a fresh temporary file. */
static void make_file(char *path, size_t n)
{
	strcpy(path, "/tmp/mqttids-test-file-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++) {
		char c = (char)('a' + i % 26);
		assert_int_equal(write(fd, &c, 1), 1);
	}
	close(fd);
}

static void check_size(size_t n, size_t max, bool ok)
{
	char path[64];
	make_file(path, n);
	size_t len = 12345;
	errno = 0;
	char *buf = file_read_all(path, max, &len);
	if (ok) {
		assert_non_null(buf);
		assert_int_equal(len, n);
		assert_int_equal(buf[n], 0);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(buf[i], 'a' + i % 26);
	} else {
		assert_null(buf);
		assert_int_equal(errno, EFBIG);
		assert_int_equal(len, 12345);
	}
	free(buf);
	unlink(path);
}

static void test_sizes(void **state)
{
	(void)state;
	check_size(0, 100, true);
	check_size(1, 100, true);
	check_size(100, 100, true);     /* exactly the limit */
	check_size(101, 100, false);
	check_size(4095, 1 << 20, true); /* the first buffer's edge */
	check_size(4096, 1 << 20, true);
	check_size(70000, 1 << 20, true);
	check_size(8192, 8191, false);
	check_size(8191, 8191, true);
	/* far over the limit: refused with EFBIG, never a NULL buffer
	 * written to (errno is set to something else first) */
	errno = ENOENT;
	check_size(3 * 8192, 8191, false);
	check_size(20000, 100, false);
}

static void test_missing(void **state)
{
	(void)state;
	errno = 0;
	assert_null(file_read_all("/nonexistent/mqttids/file", 100, NULL));
	assert_int_equal(errno, ENOENT);
	/* A directory opens but does not read. */
	assert_null(file_read_all("/tmp", 100, NULL));
}

static void test_len_optional(void **state)
{
	(void)state;
	char path[64];
	make_file(path, 10);
	char *buf = file_read_all(path, 100, NULL);
	assert_non_null(buf);
	assert_string_equal(buf, "abcdefghij");
	free(buf);
	unlink(path);
}

/*
 * The atomic write goes through a fresh file: a symlink planted at the
 * old fixed temporary name is not followed, the mode is the one asked
 * for, no temporary file is left, and a failed write keeps the old file.
 */
static void test_write_atomic(void **state)
{
	(void)state;
	char dir[] = "/tmp/mqttids-test-dir-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], tmp[160], victim[128], err[256];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	FILE *v = fopen(victim, "w");
	assert_non_null(v);
	fputs("precious", v);
	fclose(v);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(file_write_atomic(path, "new\n", 4, 0600, err, sizeof(err)), 0);
	size_t len;
	char *got = file_read_all(victim, 64, &len);
	assert_string_equal(got, "precious");
	free(got);
	got = file_read_all(path, 64, &len);
	assert_string_equal(got, "new\n");
	free(got);
	struct stat sb;
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* A directory that is not there: an error, nothing written. */
	char bad[160];
	snprintf(bad, sizeof(bad), "%s/no/such/file", dir);
	assert_int_equal(file_write_atomic(bad, "x", 1, 0600, err, sizeof(err)), -1);
	assert_non_null(strstr(err, bad));
	/* Output files: created with the mode, an existing one keeps its own. */
	char out[128];
	snprintf(out, sizeof(out), "%s/eve.json", dir);
	mode_t old = umask(022);
	int fd = file_open_output(out, 0, 0640);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_int_equal(chmod(out, 0644), 0);
	fd = file_open_output(out, 1, 0600);
	assert_true(fd >= 0);
	/* Ours, 0644: nothing to warn about; group-writable: a warning. */
	FILE *log = tmpfile();
	assert_int_equal(file_warn_unsafe(fd, out, "test file", log), 0);
	assert_int_equal(fchmod(fd, 0664), 0);
	assert_int_equal(file_warn_unsafe(fd, out, "test file", log), 1);
	fclose(log);
	close(fd);
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0664);
	umask(old);
	unlink(out);
	unlink(path);
	unlink(tmp);
	unlink(victim);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_len_optional),
		cmocka_unit_test(test_write_atomic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
