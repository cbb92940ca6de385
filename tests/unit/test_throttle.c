/*
 * The enrolment throttle (coordinator/api/throttle.h) with an explicit clock: a burst of
 * failures, then one per refill period; sources apart; a bounded table that evicts the
 * least throttled; the counters /metrics shows.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "throttle.h"

#define NOW 1800000000

static void test_burst_then_refill(void **state)
{
	struct throttle *t = throttle_new();
	struct throttle_stats s;

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < THROTTLE_BURST; i++) {
		assert_int_equal(throttle_check(t, "127.0.0.1", NOW), 0);
		throttle_fail(t, "127.0.0.1", NOW);
	}
	/* Empty: refused, with the time to wait; another source is not. */
	assert_int_equal(throttle_check(t, "127.0.0.1", NOW), THROTTLE_REFILL_S);
	assert_int_equal(throttle_check(t, "127.0.0.1", NOW + 2), THROTTLE_REFILL_S - 2);
	assert_int_equal(throttle_check(t, "127.0.0.2", NOW), 0);
	/* One more try per refill period, no more. */
	assert_int_equal(throttle_check(t, "127.0.0.1", NOW + THROTTLE_REFILL_S), 0);
	throttle_fail(t, "127.0.0.1", NOW + THROTTLE_REFILL_S);
	assert_int_not_equal(throttle_check(t, "127.0.0.1", NOW + THROTTLE_REFILL_S), 0);
	/* A clock that goes back refills nothing. */
	assert_int_not_equal(throttle_check(t, "127.0.0.1", NOW - 1000), 0);
	/* Quiet for long enough: the whole burst again. */
	for (int i = 0; i < THROTTLE_BURST; i++) {
		assert_int_equal(throttle_check(t, "127.0.0.1", NOW + 3600), 0);
		throttle_fail(t, "127.0.0.1", NOW + 3600);
	}
	assert_int_not_equal(throttle_check(t, "127.0.0.1", NOW + 3600), 0);
	throttle_stats(t, NOW + 3600, &s);
	assert_int_equal(s.failures, 2 * THROTTLE_BURST + 1);
	assert_int_equal(s.refused, 5);
	assert_int_equal(s.throttled, 1);
	assert_int_equal(s.sources, 1);
	throttle_free(t);
	throttle_free(NULL);
}

/* Many sources: the table stays bounded and the throttled ones stay throttled. */
static void test_bounded(void **state)
{
	struct throttle *t = throttle_new();
	struct throttle_stats s;
	char src[THROTTLE_KEY_MAX];

	(void)state;
	for (int i = 0; i < THROTTLE_BURST; i++)
		throttle_fail(t, "127.51.100.7", NOW);
	for (int i = 0; i < 20 * THROTTLE_SOURCES; i++) {
		snprintf(src, sizeof(src), "127.0.%d.%d", i >> 8 & 255, i & 255);
		throttle_fail(t, src, NOW + 1);
	}
	throttle_stats(t, NOW + 1, &s);
	assert_int_equal(s.sources, THROTTLE_SOURCES);
	assert_int_not_equal(throttle_check(t, "127.51.100.7", NOW + 1), 0);
	throttle_free(t);
}

static void test_metrics(void **state)
{
	struct throttle_stats s = {.failures = 12, .refused = 3, .throttled = 1, .sources = 2};
	struct metrics_buf b;

	(void)state;
	metrics_buf_init(&b);
	metrics_render_throttle(&b, &s);
	assert_false(metrics_buf_failed(&b));
	assert_non_null(strstr(b.data, "\nkma_coord_enroll_token_failures_total 12\n"));
	assert_non_null(strstr(b.data, "\nkma_coord_enroll_throttled_total 3\n"));
	assert_non_null(strstr(b.data, "\nkma_coord_enroll_throttled_sources 1\n"));
	metrics_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refill),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
