/*
 * Board commands: exit status, captured output, timeouts, commands that cannot start, and
 * the linux backend's actions built on them. Runs /bin/sh scripts: native builds only.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <time.h>

#include "hal.h"
#include "hal_cmd.h"
#include "hal_test_util.h"

struct fixture {
	char *dir;
	struct board board;
	struct hal hal;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char root[PATH_MAX], sdir[PATH_MAX];

	assert_non_null(f);
	f->dir = tu_tmpdir("cmd");
	snprintf(f->board.name, sizeof(f->board.name), "fake");
	snprintf(f->board.backend, sizeof(f->board.backend), "linux");
	assert_int_equal(fileio_mkdirs(tu_path(root, f->dir, "root"), 0755), 0);
	assert_int_equal(hal_open(&f->hal, &f->board, root, tu_path(sdir, f->dir, "state")),
	                 HAL_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hal_close(&f->hal);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* Writes an executable script and returns its path in out. */
static const char *script(struct fixture *f, const char *name, const char *body, char *out)
{
	char text[1024];

	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	tu_write(f->dir, name, text);
	tu_path(out, f->dir, name);
	assert_int_equal(chmod(out, 0755), 0);
	return out;
}

static double elapsed_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* (9) The exit status and the first line of output come back. */
static void test_exit_status_and_output(void **state)
{
	struct fixture *f = *state;
	struct hal_cmd_result res;
	char path[PATH_MAX], cmd[PATH_MAX + 64], how[300];

	script(f, "ok.sh", "echo \"args: $1 $2\"; exit 0", path);
	snprintf(cmd, sizeof(cmd), "  %s\tfirst   second ", path);
	assert_int_equal(hal_cmd_run(&f->hal, cmd, 10, &res), HAL_OK);
	assert_int_equal(res.exit_code, 0);
	assert_false(res.timed_out);
	assert_string_equal(res.output, "args: first second");

	script(f, "fail.sh", "echo; echo '  inactive  ' >&2; echo more; exit 3", path);
	assert_int_equal(hal_cmd_run(&f->hal, path, 10, &res), HAL_OK);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.term_signal, 0);
	assert_string_equal(res.output, "inactive");
	hal_cmd_describe(&res, 10, how, sizeof(how));
	assert_string_equal(how, "exited with status 3: inactive");

	/* stdin is /dev/null: a command that reads does not hang */
	script(f, "read.sh", "read x; echo \"got [$x]\"", path);
	assert_int_equal(hal_cmd_run(&f->hal, path, 10, &res), HAL_OK);
	assert_string_equal(res.output, "got []");

	script(f, "kill.sh", "kill -TERM $$", path);
	assert_int_equal(hal_cmd_run(&f->hal, path, 10, &res), HAL_OK);
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.term_signal, SIGTERM);
}

static void test_timeout_kills(void **state)
{
	struct fixture *f = *state;
	struct hal_cmd_result res;
	char path[PATH_MAX], how[300];
	struct timespec t0;

	script(f, "hang.sh", "echo started; sleep 30; echo never", path);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(hal_cmd_run(&f->hal, path, 1, &res), HAL_OK);
	assert_true(elapsed_since(&t0) < 5);
	assert_true(res.timed_out);
	assert_string_equal(res.output, "started");
	hal_cmd_describe(&res, 1, how, sizeof(how));
	assert_string_equal(how, "timed out after 1 s: started");
}

/* A command that leaves a daemon holding its output open still returns when it exits. */
static void test_background_child(void **state)
{
	struct fixture *f = *state;
	struct hal_cmd_result res;
	char path[PATH_MAX];
	struct timespec t0;

	script(f, "daemon.sh", "sleep 3 & echo spawned; exit 0", path);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(hal_cmd_run(&f->hal, path, 10, &res), HAL_OK);
	assert_true(elapsed_since(&t0) < 2);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal(res.output, "spawned");
}

static void test_cannot_start(void **state)
{
	struct fixture *f = *state;
	struct hal_cmd_result res;
	char path[PATH_MAX], many[2048];
	size_t n = 0;

	assert_int_equal(hal_cmd_run(&f->hal, "/nonexistent/kma-no-such-tool --x", 5, &res),
	                 HAL_ERR_COMMAND);
	assert_non_null(strstr(f->hal.error, "kma-no-such-tool"));
	assert_int_equal(hal_cmd_run(&f->hal, "kma-no-such-tool-in-path", 5, &res),
	                 HAL_ERR_COMMAND);

	tu_write(f->dir, "noexec.sh", "#!/bin/sh\nexit 0\n");
	assert_int_equal(hal_cmd_run(&f->hal, tu_path(path, f->dir, "noexec.sh"), 5, &res),
	                 HAL_ERR_COMMAND);

	assert_int_equal(hal_cmd_run(&f->hal, "   \t ", 5, &res), HAL_ERR_INVALID);
	for (int i = 0; i < HAL_CMD_MAX_ARGS + 1; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "a ");
	assert_int_equal(hal_cmd_run(&f->hal, many, 5, &res), HAL_ERR_INVALID);
	assert_non_null(strstr(f->hal.error, "words"));
}

/* The linux backend's actions run the board's commands and map their results. */
static void test_linux_actions(void **state)
{
	struct fixture *f = *state;
	struct board_actions *a = &f->board.actions;
	struct hal_health h;
	char path[PATH_MAX], marker[PATH_MAX];
	char body[PATH_MAX + 64];

	snprintf(body, sizeof(body), "echo rebooted > %s", tu_path(marker, f->dir, "marker"));
	snprintf(a->reboot, sizeof(a->reboot), "%s", script(f, "reboot.sh", body, path));
	assert_int_equal(hal_reboot(&f->hal), HAL_OK);
	assert_true(tu_exists(f->dir, "marker"));

	snprintf(a->service_restart, sizeof(a->service_restart), "%s",
	         script(f, "restart.sh", "echo 'Job for kms.service failed.' >&2; exit 1", path));
	assert_int_equal(hal_service_restart(&f->hal), HAL_ERR_COMMAND);
	assert_non_null(strstr(f->hal.error, "exited with status 1: Job for kms.service failed."));

	snprintf(a->health_check, sizeof(a->health_check), "%s",
	         script(f, "healthy.sh", "exit 0", path));
	assert_int_equal(hal_health_check(&f->hal, &h), HAL_OK);
	assert_true(h.healthy);

	snprintf(a->health_check, sizeof(a->health_check), "%s",
	         script(f, "unhealthy.sh", "echo inactive; exit 3", path));
	assert_int_equal(hal_health_check(&f->hal, &h), HAL_OK);
	assert_false(h.healthy);
	assert_string_equal(h.detail, "exited with status 3: inactive");

	/* a check that cannot run is an error, not a verdict on the service */
	snprintf(a->health_check, sizeof(a->health_check), "/nonexistent/check");
	assert_int_equal(hal_health_check(&f->hal, &h), HAL_ERR_COMMAND);
	assert_false(h.healthy);
	assert_non_null(strstr(h.detail, "/nonexistent/check"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exit_status_and_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_kills, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_background_child, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cannot_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_linux_actions, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
