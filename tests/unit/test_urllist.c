/* The coordinator URL list (common/urllist.h): parsing, comparing, and the failover rule. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "urllist.h"

static void test_add(void **state)
{
	static const struct {
		const char *text;
		size_t n; /* 0: refused */
		const char *why;
	} cases[] = {
	    {"https://a:8443/", 1, NULL},
	    {"HTTPS://coord", 1, NULL},
	    {"https://a:1/,https://b:2/", 2, NULL},
	    {"  https://a:1/ ,\thttps://b:2/  https://c:3/x  ", 3, NULL},
	    {"https://a, https://b, https://c, https://d, https://e", 5, NULL},
	    {"https://a, https://b, https://c, https://d, https://e, https://f", 0, "more than 5"},
	    {"", 0, "no URL"},
	    {" , ,", 0, "no URL"},
	    {"http://a:1/", 0, "not an https:// URL"},
	    {"https://a:1/, ftp://b", 0, "'ftp://b' is not an https:// URL"},
	    {"https://a:70000/", 0, "port '70000'"},
	    {"https:///v1", 0, "no host"},
	    {"https://", 0, "not an https:// URL"},
	    {"https://u:p@a/", 0, "credentials"},
	    {"https://a:8443/, https://A:8443", 0, "listed twice"},
	    {"https://a/, https://a:443/", 0, "listed twice"},
	    {"https://[::1]:1/x", 1, NULL},
	};
	char why[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct urllist l = {0};
		int rc = urllist_add(&l, cases[i].text, why, sizeof(why));

		if (cases[i].n ? rc != 0 || l.n != cases[i].n : rc == 0 || l.n != 0)
			fail_msg("'%s': rc %d, n %zu, want n %zu (%s)", cases[i].text, rc, l.n,
			         cases[i].n, rc ? why : "");
		if (cases[i].why && !strstr(why, cases[i].why))
			fail_msg("'%s': '%s' does not say '%s'", cases[i].text, why, cases[i].why);
	}
}

static void test_add_appends(void **state)
{
	struct urllist l = {0};
	char why[200];

	(void)state;
	assert_int_equal(urllist_add(&l, "https://a:1/", why, sizeof(why)), 0);
	assert_int_equal(urllist_add(&l, "https://b:2/,https://c:3/", why, sizeof(why)), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.url[2], "https://c:3/");
	/* a refused addition leaves the list as it was */
	assert_int_equal(urllist_add(&l, "https://d:4/ https://a:1", why, sizeof(why)), -1);
	assert_int_equal(l.n, 3);
	assert_int_equal(urllist_check("https://co ord", why, sizeof(why)), -1);
}

static void test_same(void **state)
{
	static const struct {
		const char *a, *b;
		bool same;
	} cases[] = {
	    {"https://a:8443/", "https://a:8443", true},
	    {"https://a:8443//", "https://a:8443", true},
	    {"HTTPS://Coord.Example:8443/", "https://coord.example:8443/", true},
	    {"https://a/", "https://a:443", true},
	    {"https://a:0443/", "https://a:443", true},
	    {"https://[::1]:8443/", "https://[::1]:8443", true},
	    {"https://a:8443/kma/", "https://a:8443/kma", true},
	    {"https://a:8443/", "https://a:8444/", false},
	    {"https://a:8443/", "https://b:8443/", false},
	    {"https://a:8443/kma", "https://a:8443/", false},
	    {"https://a:8443/KMA", "https://a:8443/kma", false},
	    {"http://a:8443/", "https://a:8443/", false},
	    {"https://ab:8443/", "https://a:8443/", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (urllist_same(cases[i].a, cases[i].b) != cases[i].same ||
		    urllist_same(cases[i].b, cases[i].a) != cases[i].same)
			fail_msg("same(%s, %s) is not %d", cases[i].a, cases[i].b, cases[i].same);
	}
}

static void test_join_text(void **state)
{
	struct urllist l = {0};
	char out[64], why[100];

	(void)state;
	assert_int_equal(urllist_join("https://a:1/", "v1/report", out, sizeof(out)), 0);
	assert_string_equal(out, "https://a:1/v1/report");
	assert_int_equal(urllist_join("https://a:1//", "/v1/nodes", out, sizeof(out)), 0);
	assert_string_equal(out, "https://a:1/v1/nodes");
	assert_int_equal(urllist_join("https://a:1/kma", "v1/watch?x=1", out, sizeof(out)), 0);
	assert_string_equal(out, "https://a:1/kma/v1/watch?x=1");
	assert_int_equal(
	    urllist_join("https://a:1",
	                 "0123456789012345678901234567890123456789012345678901234567890", out,
	                 sizeof(out)),
	    -1);
	assert_int_equal(urllist_add(&l, "https://a:1/ https://b:2", why, sizeof(why)), 0);
	urllist_text(&l, out, sizeof(out));
	assert_string_equal(out, "https://a:1/, https://b:2");
}

static void test_standby(void **state)
{
	static const struct {
		long status;
		const char *body;
		bool standby;
	} cases[] = {
	    {503, "{\"error\":\"standby\",\"active\":\"https://b:8443/\"}", true},
	    {503, "{\"error\":\"standby\",\"active\":\"\"}", true},
	    {503, "{ \"active\": \"\", \"error\" : \"standby\" }", true},
	    {503, "{\"error\":\"overloaded\"}", false},
	    {503, "{\"detail\":\"\\\"error\\\"\",\"error\":\"busy\"}", false},
	    {503, "", false},
	    {503, "standby", false},
	    {200, "{\"error\":\"standby\"}", false},
	    {500, "{\"error\":\"standby\"}", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (urllist_standby(cases[i].status, cases[i].body, strlen(cases[i].body)) !=
		    cases[i].standby)
			fail_msg("%ld %s: standby is not %d", cases[i].status, cases[i].body,
			         cases[i].standby);
	/* not NUL-terminated: the length bounds it */
	assert_false(urllist_standby(503, "{\"error\":\"standby\"}", 16));
	assert_false(urllist_standby(503, NULL, 0));
}

static void test_active_header(void **state)
{
	char out[32];

	(void)state;
	assert_true(urllist_active_header("X-KMA-Active: https://b:1/\r\n", 28, out, sizeof(out)));
	assert_string_equal(out, "https://b:1/");
	assert_true(urllist_active_header("x-kma-active:https://b:1/\r\n", 27, out, sizeof(out)));
	assert_string_equal(out, "https://b:1/");
	assert_true(urllist_active_header("X-KMA-Active:   \r\n", 18, out, sizeof(out)));
	assert_string_equal(out, "");
	assert_false(urllist_active_header("X-KMA-Activex: a\r\n", 18, out, sizeof(out)));
	assert_false(urllist_active_header("Retry-After: 1\r\n", 16, out, sizeof(out)));
	/* too long for out: no URL rather than a cut one */
	assert_true(urllist_active_header(
	    "X-KMA-Active: https://a-very-long-host-name.example:8443/\r\n", 59, out, sizeof(out)));
	assert_string_equal(out, "");
}

/*
 * The failover rule as a table: each step is what the URL asked (c.at) did, and where the
 * cursor must then be. 'a' is a real answer, 'u' unreachable, 's' a standby naming active.
 */
struct step {
	char what;
	const char *active;
	bool again; /* urllist_failed's answer; for 'a': whether it was a switch */
	size_t at;  /* c.at after the step */
};

static void run_steps(const char *list, const struct step *s, size_t n)
{
	struct urllist l = {0};
	struct urllist_cursor c;
	char why[100];
	size_t was;

	assert_int_equal(urllist_add(&l, list, why, sizeof(why)), 0);
	urllist_cursor_init(&c);
	for (size_t i = 0; i < n; i++) {
		size_t from = c.at;
		bool got = s[i].what == 'a' ? urllist_answered(&c, &was)
		                            : urllist_failed(&l, &c, s[i].active);

		if (got != s[i].again || c.at != s[i].at)
			fail_msg("%s step %zu ('%c' at %zu): %d, at %zu; want %d, at %zu", list, i,
			         s[i].what, from, got, c.at, s[i].again, s[i].at);
	}
}

static void test_failover(void **state)
{
	static const char three[] = "https://a:1/ https://b:2/ https://c:3/";
	/* in order; the one that answers is where the next request starts */
	static const struct step order[] = {
	    {'u', NULL, true, 1},  {'u', NULL, true, 2}, {'a', NULL, false, 2},
	    {'a', NULL, false, 2}, {'u', NULL, true, 0}, {'a', NULL, true, 0},
	};
	/* a standby's X-KMA-Active is followed when configured: b is never asked */
	static const struct step follow[] = {
	    {'s', "https://c:3", true, 2},
	    {'a', NULL, false, 2},
	};
	/* a name not in the list is not followed; an empty one neither */
	static const struct step unlisted[] = {
	    {'s', "https://evil:1/", true, 1},
	    {'s', "", true, 2},
	    {'a', NULL, false, 2},
	};
	/* every URL asked: the round ends, and the next starts where the standby pointed */
	static const struct step rounds[] = {
	    {'u', NULL, true, 1},
	    {'s', "https://a:1/", true, 2}, /* a was asked already: on in order */
	    {'u', NULL, false, 0},          /* the round is over; the next starts at a */
	    {'u', NULL, true, 1},
	    {'u', NULL, true, 2},
	    {'u', NULL, false, 0}, /* nothing answered yet: from the first */
	    {'u', NULL, true, 1},
	    {'a', NULL, false, 1},
	    {'u', NULL, true, 2},
	    {'u', NULL, true, 0},
	    {'u', NULL, false, 1}, /* the last that answered */
	};
	/* two standbys naming each other do not loop */
	static const struct step loop[] = {
	    {'s', "https://b:2/", true, 1},
	    {'s', "https://a:1/", true, 2},
	    {'s', "https://b:2/", false, 1},
	};
	/* one URL: every failure ends the round, as the one URL of old */
	static const struct step one[] = {
	    {'u', NULL, false, 0},
	    {'s', "https://a:1", false, 0},
	    {'a', NULL, false, 0},
	};

	(void)state;
	run_steps(three, order, sizeof(order) / sizeof(order[0]));
	run_steps(three, follow, sizeof(follow) / sizeof(follow[0]));
	run_steps(three, unlisted, sizeof(unlisted) / sizeof(unlisted[0]));
	run_steps(three, rounds, sizeof(rounds) / sizeof(rounds[0]));
	run_steps(three, loop, sizeof(loop) / sizeof(loop[0]));
	run_steps("https://a:1/", one, sizeof(one) / sizeof(one[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add),      cmocka_unit_test(test_add_appends),
	    cmocka_unit_test(test_same),     cmocka_unit_test(test_join_text),
	    cmocka_unit_test(test_standby),  cmocka_unit_test(test_active_header),
	    cmocka_unit_test(test_failover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
