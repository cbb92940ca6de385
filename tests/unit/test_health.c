/*
 * The health worker: its first check right after start, a change woken through the pipe
 * into the event loop (health_check_now, as SIGHUP does), no wake-up when nothing changed,
 * and a clean stop (thread joined, nothing leaked under the sanitizers).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hal_test_util.h"
#include "health.h"

struct fixture {
	char *dir;
	char root[PATH_MAX];
	struct board board;
	struct hal hal;
	struct event_base *base;
	struct health h;
	unsigned changes;
	struct health_result last;
};

static void on_change(void *arg, const struct health_result *now)
{
	struct fixture *f = arg;

	f->changes++;
	f->last = *now;
	event_base_loopbreak(f->base);
}

/* Runs the loop until a change arrives or about two seconds passed. */
static void run_loop(struct fixture *f)
{
	struct timeval limit = {.tv_sec = 2};

	event_base_loopexit(f->base, &limit);
	event_base_dispatch(f->base);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char dir[PATH_MAX], st[PATH_MAX];
	struct board_error err;

	assert_non_null(f);
	f->dir = tu_tmpdir("health");
	tu_path(f->root, f->dir, "sim");
	snprintf(dir, sizeof(dir), "%s/board", getenv("KMA_SOURCE_DIR"));
	assert_int_equal(board_load(dir, "sim", &f->board, &err), BOARD_OK);
	assert_int_equal(hal_open(&f->hal, &f->board, f->root, tu_path(st, f->dir, "state")),
	                 HAL_OK);
	f->base = event_base_new();
	assert_non_null(f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	health_stop(&f->h);
	health_stop(&f->h); /* twice is fine */
	event_base_free(f->base);
	hal_close(&f->hal);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static void test_changes_reach_the_loop(void **state)
{
	struct fixture *f = *state;
	struct health_result r;

	/* an hour between checks: only the first check and health_check_now run */
	assert_int_equal(health_start(&f->h, f->base, &f->hal, 3600, on_change, f), 0);
	run_loop(f);
	assert_int_equal(f->changes, 1);
	assert_true(f->last.checked);
	assert_true(f->last.healthy);
	assert_string_equal(f->last.detail, "ok");
	assert_true(f->last.checked_at > 0);
	health_get(&f->h, &r);
	assert_true(r.healthy);

	tu_write(f->root, "health", "key store locked\n");
	health_check_now(&f->h);
	run_loop(f);
	assert_int_equal(f->changes, 2);
	assert_false(f->last.healthy);
	assert_int_equal(f->last.status, HAL_OK);
	assert_string_equal(f->last.detail, "key store locked");

	/* the same result again: no wake-up */
	health_check_now(&f->h);
	run_loop(f);
	assert_int_equal(f->changes, 2);

	tu_write(f->root, "health", "ok\n");
	health_check_now(&f->h);
	run_loop(f);
	assert_int_equal(f->changes, 3);
	assert_true(f->last.healthy);
}

static void test_stop_without_start(void **state)
{
	struct fixture *f = *state;
	struct health_result r;

	memset(&f->h, 0, sizeof(f->h));
	health_check_now(&f->h);
	health_get(&f->h, &r);
	assert_false(r.checked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_changes_reach_the_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_without_start, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
