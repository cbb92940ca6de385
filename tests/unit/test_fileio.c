/*
 * common/fileio: first-line reads of sysfs-like files, directory creation, and atomic
 * replacement (mode, backup, crash points).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "hal_test_util.h"

static int setup(void **state)
{
	*state = tu_tmpdir("fileio");
	return 0;
}

static int teardown(void **state)
{
	fileio_crash_hook = NULL;
	tu_rmtree(*state);
	return 0;
}

static void test_read_line(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], buf[64];

	tu_write(dir, "a", "  value with spaces \t\r\nsecond line\n");
	assert_int_equal(fileio_read_line(tu_path(path, dir, "a"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "value with spaces");

	/* device-tree strings end in NUL and have no newline */
	tu_write_bytes(dir, "dt", "serial\0", 7);
	assert_int_equal(fileio_read_line(tu_path(path, dir, "dt"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "serial");

	tu_write(dir, "empty", "");
	assert_int_equal(fileio_read_line(tu_path(path, dir, "empty"), buf, sizeof(buf)), ENODATA);
	assert_string_equal(buf, "");
	tu_write(dir, "blank", "   \n");
	assert_int_equal(fileio_read_line(tu_path(path, dir, "blank"), buf, sizeof(buf)), ENODATA);
	assert_int_equal(fileio_read_line(tu_path(path, dir, "missing"), buf, sizeof(buf)), ENOENT);

	/* longer than the buffer: cut, still terminated */
	tu_write(dir, "long", "0123456789abcdefghij\n");
	assert_int_equal(fileio_read_line(tu_path(path, dir, "long"), buf, 8), 0);
	assert_string_equal(buf, "0123456");
}

static void test_mkdirs(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];
	struct stat st;
	mode_t old = umask(0);

	assert_int_equal(fileio_mkdirs(tu_path(path, dir, "x/y/z"), 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	/* existing directories are fine, a trailing slash too */
	assert_int_equal(fileio_mkdirs(path, 0700), 0);
	assert_int_equal(fileio_mkdirs(tu_path(path, dir, "x/y/"), 0700), 0);
	/* a file in the way */
	tu_write(dir, "file", "x");
	assert_int_equal(fileio_mkdirs(tu_path(path, dir, "file/sub"), 0700), ENOTDIR);
	assert_int_equal(fileio_mkdirs("", 0700), EINVAL);
	umask(old);
}

static void test_write_atomic_mode_and_backup(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], backup[PATH_MAX];
	struct stat st;
	mode_t old = umask(0);
	char *text;

	tu_path(path, dir, "rec");
	tu_path(backup, dir, "rec.prev");
	/* an older world-readable file must not keep its mode */
	tu_write(dir, "rec", "old\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(fileio_write_atomic(path, backup, "new\n", 4, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = tu_read(dir, "rec", NULL);
	assert_string_equal(text, "new\n");
	free(text);
	text = tu_read(dir, "rec.prev", NULL);
	assert_string_equal(text, "old\n");
	free(text);

	assert_int_equal(fileio_write_atomic(path, backup, "newer\n", 6, 0600), 0);
	text = tu_read(dir, "rec.prev", NULL);
	assert_string_equal(text, "new\n");
	free(text);
	assert_int_equal(stat(backup, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_false(tu_exists(dir, "rec.tmp"));

	/* no backup asked for: none made */
	assert_int_equal(fileio_write_atomic(tu_path(path, dir, "plain"), NULL, "p", 1, 0600), 0);
	assert_false(tu_exists(dir, "plain.prev"));
	umask(old);
}

static int crash_at;

static int hook(enum fileio_point p)
{
	return (int)p == crash_at;
}

static void test_write_atomic_crash_points(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], backup[PATH_MAX];
	char *text;

	tu_path(path, dir, "rec");
	tu_path(backup, dir, "rec.prev");
	for (crash_at = 0; crash_at < FILEIO_POINT_COUNT; crash_at++) {
		assert_int_equal(fileio_write_atomic(path, backup, "old", 3, 0600), 0);
		fileio_crash_hook = hook;
		assert_int_equal(fileio_write_atomic(path, backup, "new", 3, 0600), EINTR);
		fileio_crash_hook = NULL;
		text = tu_read(dir, "rec", NULL);
		assert_string_equal(text, crash_at <= FILEIO_POINT_RENAME ? "old" : "new");
		free(text);
	}
}

static void test_read_limits(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];
	unsigned char *buf = NULL;
	size_t len = 0;

	tu_write(dir, "f", "12345");
	assert_int_equal(fileio_read(tu_path(path, dir, "f"), 5, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal((char *)buf, "12345");
	free(buf);
	assert_int_equal(fileio_read(path, 4, &buf, &len), EFBIG);
	assert_int_equal(fileio_read(dir, 100, &buf, &len), EINVAL);
	assert_int_equal(fileio_read(tu_path(path, dir, "none"), 100, &buf, &len), ENOENT);
}

/* A read that would block on a FIFO ends the test here instead of hanging ctest. */
static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: a read blocked on a FIFO\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/*
 * Only regular files are read, and nothing else is ever waited on (issue 16 item 9): a
 * FIFO with no writer, a device that never ends, a directory or (for the agent's own
 * state) a symbolic link is refused at once, by every read function.
 */
static void test_read_only_regular_files(void **state)
{
	const char *dir = *state;
	char fifo[PATH_MAX], link_path[PATH_MAX], target[PATH_MAX], line[64];
	unsigned char *buf = NULL;
	size_t len = 0;
	int fd = -1;

	signal(SIGALRM, on_alarm);
	alarm(10);
	assert_int_equal(mkfifo(tu_path(fifo, dir, "fifo"), 0600), 0);
	assert_int_equal(fileio_read(fifo, 100, &buf, &len), EINVAL);
	assert_int_equal(fileio_read_input(fifo, 100, &buf, &len), EINVAL);
	assert_int_equal(fileio_read_line(fifo, line, sizeof(line)), EINVAL);
	assert_int_equal(fileio_open_regular(fifo, 0, &fd), EINVAL);
	assert_int_equal(fd, -1);
	assert_int_equal(fileio_read_input("/dev/zero", 100, &buf, &len), EINVAL);
	assert_int_equal(fileio_read_line("/dev/zero", line, sizeof(line)), EINVAL);
	assert_int_equal(fileio_read_input(dir, 100, &buf, &len), EINVAL);
	assert_int_equal(fileio_read_line(dir, line, sizeof(line)), EINVAL);
	alarm(0);
	assert_string_equal(fileio_strerror(EINVAL),
	                    "not a regular file (a FIFO, device, socket or directory)");

	/* The agent's own state is never read through a link; operator input may be. */
	tu_write(dir, "target", "x\n");
	assert_int_equal(symlink(tu_path(target, dir, "target"), tu_path(link_path, dir, "link")),
	                 0);
	assert_int_equal(fileio_read(link_path, 100, &buf, &len), ELOOP);
	assert_int_equal(fileio_read_input(link_path, 100, &buf, &len), 0);
	assert_string_equal((char *)buf, "x\n");
	free(buf);
	buf = NULL;
	/* A link to something endless is refused as what it leads to. */
	unlink(link_path);
	assert_int_equal(symlink("/dev/zero", link_path), 0);
	assert_int_equal(fileio_read_input(link_path, 100, &buf, &len), EINVAL);
	assert_int_equal(fileio_read_line(link_path, line, sizeof(line)), EINVAL);
}

/* A first line longer than the buffer is cut, never read past size - 1 bytes. */
static void test_read_line_bounded(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], line[8];
	static char big[1 << 16];

	memset(big, 'a', sizeof(big) - 1);
	tu_write(dir, "big", big);
	assert_int_equal(fileio_read_line(tu_path(path, dir, "big"), line, sizeof(line)), 0);
	assert_string_equal(line, "aaaaaaa");
	tu_write(dir, "two", "  ab \r\ncd\n");
	assert_int_equal(fileio_read_line(tu_path(path, dir, "two"), line, sizeof(line)), 0);
	assert_string_equal(line, "ab");
	tu_write_bytes(dir, "nul", "ab\0cd\n", 6);
	assert_int_equal(fileio_read_line(tu_path(path, dir, "nul"), line, sizeof(line)), 0);
	assert_string_equal(line, "ab");
	tu_write(dir, "empty", "");
	assert_int_equal(fileio_read_line(tu_path(path, dir, "empty"), line, sizeof(line)),
	                 ENODATA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_read_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_atomic_mode_and_backup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_atomic_crash_points, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_only_regular_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_line_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
