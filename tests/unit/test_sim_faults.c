/*
 * Faults the sim backend injects and the HAL operations that read them: the "wedge" file
 * (a peer listener that refuses connections), cleared by a simulated reboot, and the
 * reboot's re-exec flag. The linux backend has neither.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hal.h"
#include "sim_fixture.h"

struct fixture {
	char *dir;
	char root[PATH_MAX];
	char state[PATH_MAX];
	struct board board;
	struct hal hal;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tu_sim_open("simfault", false, &f->dir, f->root, f->state, &f->board, &f->hal);
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

static void test_wedge_until_reboot(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	assert_false(hal_listener_wedged(&f->hal));
	tu_write(f->root, "wedge", "");
	assert_true(hal_listener_wedged(&f->hal));
	/* any content: the file's presence is the fault */
	tu_write(f->root, "wedge", "listen queue full\n");
	assert_true(hal_listener_wedged(&f->hal));
	assert_int_equal(hal_reboot(&f->hal), HAL_OK);
	assert_false(hal_listener_wedged(&f->hal));
	assert_int_equal(access(tu_path(path, f->root, "wedge"), F_OK), -1);
	/* a reboot without a wedge is fine too */
	assert_int_equal(hal_reboot(&f->hal), HAL_OK);
	assert_false(hal_listener_wedged(&f->hal));
}

static void test_reexec_flag(void **state)
{
	struct fixture *f = *state;
	struct board linux_board = f->board;
	struct hal lh;

	assert_true(hal_reboot_reexecs(&f->hal));
	/* the linux backend: a reboot ends the agent, and nothing wedges the listener */
	snprintf(linux_board.backend, sizeof(linux_board.backend), "linux");
	assert_int_equal(hal_open(&lh, &linux_board, f->root, f->state), HAL_OK);
	assert_false(hal_reboot_reexecs(&lh));
	tu_write(f->root, "wedge", "");
	assert_false(hal_listener_wedged(&lh));
	hal_close(&lh);
	assert_false(hal_reboot_reexecs(NULL));
	assert_false(hal_listener_wedged(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wedge_until_reboot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reexec_flag, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
