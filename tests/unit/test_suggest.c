/* "Did you mean": the distance and the nearest word, as the CLIs and config readers use them. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "suggest.h"

static void test_distance(void **state)
{
	static const struct {
		const char *a, *b;
		unsigned d;
	} cases[] = {
	    {"", "", 0},
	    {"abc", "", 3},
	    {"", "abc", 3},
	    {"status", "status", 0},
	    {"Status", "status", 0},       /* case ignored */
	    {"stabilize", "stabilise", 1}, /* substitution */
	    {"diagnsoe", "diagnose", 1},   /* two neighbours swapped */
	    {"satus", "status", 1},        /* deletion */
	    {"statuss", "status", 1},      /* insertion */
	    {"histroy", "history", 1},     /* swap */
	    {"kitten", "sitting", 3},
	    {"ca", "abc", 3}, /* no swap across an insertion (OSA) */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned d = suggest_distance(cases[i].a, cases[i].b);

		if (d != cases[i].d)
			fail_msg("distance(%s, %s) = %u, want %u", cases[i].a, cases[i].b, d,
			         cases[i].d);
		assert_int_equal(suggest_distance(cases[i].b, cases[i].a), d);
	}
}

static void test_too_long(void **state)
{
	char lng[SUGGEST_WORD_MAX + 2];

	(void)state;
	memset(lng, 'a', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	assert_int_equal(suggest_distance(lng, "a"), SUGGEST_WORD_MAX + 1);
	lng[SUGGEST_WORD_MAX] = '\0'; /* exactly the longest compared */
	assert_int_equal(suggest_distance(lng, lng), 0);
}

static void test_nearest(void **state)
{
	static const char *const verbs[] = {"status", "mesh",   "diagnose", "plan",  "run",
	                                    NULL,     "follow", "history",  "resume"};
	static const size_t n = sizeof(verbs) / sizeof(verbs[0]);

	(void)state;
	assert_string_equal(suggest_nearest("stauts", verbs, n), "status");
	assert_string_equal(suggest_nearest("diagnoze", verbs, n), "diagnose");
	assert_string_equal(suggest_nearest("histry", verbs, n), "history");
	assert_string_equal(suggest_nearest("ru", verbs, n), "run");
	assert_string_equal(suggest_nearest("PLAN", verbs, n), "plan");
	assert_null(suggest_nearest("x", verbs, n)); /* nothing is one edit from x */
	assert_null(suggest_nearest("reboot", verbs, n));
	assert_null(suggest_nearest("delete", verbs, n));
	assert_null(suggest_nearest("status", verbs, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_nearest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
