/* test_file.c - file_read_all: sizes around the buffer growth and the limit. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_len_optional),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
