/*
 * kmactl's pure parts: cause abbreviations, the mesh matrix, node health, the diagnosis
 * check and configuration errors (file and line).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>

#include <cmocka.h>

#include "ctl_config.h"
#include "ctl_diag.h"
#include "ctl_mesh.h"
#include "ctl_nodes.h"
#include "ctl_table.h"
#include "vocab.h"

static char dir[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/kma-ctl-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static json_object *parse(const char *text)
{
	json_object *j = json_tokener_parse(text);

	assert_non_null(j);
	return j;
}

/* Runs fn into a memory stream and returns what it wrote (free()). */
static char *capture_mesh(const struct ctl_mesh *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(ctl_mesh_render(m, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* ---- abbreviations ---- */

static void test_abbrev_every_cause(void **state)
{
	(void)state;
	for (int a = 0; a < KMA_CAUSE_COUNT; a++) {
		const char *s = ctl_cause_abbrev(kma_cause_id((enum kma_cause)a));

		assert_string_not_equal(s, "?");
		assert_true(strlen(s) >= 1 && strlen(s) <= CTL_ABBREV_MAX);
		/* the matrix marks: never a cause's text */
		assert_string_not_equal(s, "-");
		assert_string_not_equal(s, ".");
		for (int b = 0; b < a; b++)
			assert_string_not_equal(s,
			                        ctl_cause_abbrev(kma_cause_id((enum kma_cause)b)));
	}
}

static void test_abbrev_values(void **state)
{
	(void)state;
	assert_string_equal(ctl_cause_abbrev("ok"), "ok");
	assert_string_equal(ctl_cause_abbrev("peer_serial_mismatch"), "serial");
	assert_string_equal(ctl_cause_abbrev("rejected_by_peer"), "rejected");
	assert_string_equal(ctl_cause_abbrev("tcp_refused"), "refused");
	assert_string_equal(ctl_cause_abbrev("unspecified"), "unspec");
	assert_string_equal(ctl_cause_abbrev("cause_from_the_future"), "?");
	assert_string_equal(ctl_cause_abbrev(""), "?");
}

/* ---- mesh matrix ---- */

static const char nodes3[] =
    "{\"nodes\":[{\"node_id\":\"a-kma01\"},{\"node_id\":\"u-kma02\"},{\"node_id\":\"x3\"}],"
    "\"peer_table_version\":4}";

static void test_mesh_render(void **state)
{
	json_object *nodes = parse(nodes3);
	json_object *mesh =
	    parse("{\"observations\":["
	          "{\"node_id\":\"a-kma01\",\"peer_id\":\"u-kma02\",\"direction\":\"outbound\","
	          "\"cause\":\"rejected_by_peer\"},"
	          "{\"node_id\":\"a-kma01\",\"peer_id\":\"u-kma02\",\"direction\":\"inbound\","
	          "\"cause\":\"ok\"},"
	          "{\"node_id\":\"u-kma02\",\"peer_id\":\"a-kma01\",\"direction\":\"outbound\","
	          "\"cause\":\"peer_serial_mismatch\"},"
	          "{\"node_id\":\"u-kma02\",\"peer_id\":\"x3\",\"direction\":\"outbound\","
	          "\"cause\":\"cause_from_the_future\"},"
	          "{\"node_id\":\"x3\",\"peer_id\":\"a-kma01\",\"direction\":\"outbound\","
	          "\"cause\":\"ok\"},"
	          "{\"node_id\":\"x3\",\"peer_id\":\"u-kma02\",\"direction\":\"outbound\","
	          "\"cause\":\"ok\"},"
	          "{\"node_id\":\"gone\",\"peer_id\":\"x3\",\"direction\":\"outbound\","
	          "\"cause\":\"tcp_refused\"}]}");
	static const char want[] =
	    "OBSERVER  a-kma01  u-kma02   x3\n"
	    "a-kma01   -        rejected  .\n"
	    "u-kma02   serial   -         ?\n"
	    "x3        ok       ok        -\n"
	    "\n"
	    "rows: observing node (its outbound probe); columns: the peer it probed\n"
	    "ok        ok: mutual authentication succeeded\n"
	    "serial    peer_serial_mismatch: valid certificate, right ID, serial differs from the "
	    "enrolled one\n"
	    "rejected  rejected_by_peer: the peer aborted with a fatal alert about our "
	    "certificate\n"
	    ".         no observation yet\n"
	    "?         a cause this kmactl does not know (see --json)\n";
	struct ctl_mesh m;
	char why[128], *got;

	(void)state;
	assert_int_equal(ctl_mesh_build(&m, nodes, mesh, why, sizeof(why)), 0);
	assert_int_equal(m.n, 3);
	assert_false(ctl_mesh_all_ok(&m));
	got = capture_mesh(&m);
	assert_string_equal(got, want);
	free(got);
	ctl_mesh_free(&m);
	ctl_mesh_free(&m); /* twice is fine */
	json_object_put(nodes);
	json_object_put(mesh);
}

static void test_mesh_all_ok(void **state)
{
	json_object *nodes = parse("{\"nodes\":[{\"node_id\":\"a\"},{\"node_id\":\"b\"}]}");
	json_object *mesh = parse(
	    "{\"observations\":["
	    "{\"node_id\":\"a\",\"peer_id\":\"b\",\"direction\":\"outbound\",\"cause\":\"ok\"},"
	    "{\"node_id\":\"b\",\"peer_id\":\"a\",\"direction\":\"outbound\",\"cause\":\"ok\"}]}");
	json_object *half = parse(
	    "{\"observations\":["
	    "{\"node_id\":\"a\",\"peer_id\":\"b\",\"direction\":\"outbound\",\"cause\":\"ok\"},"
	    "{\"node_id\":\"b\",\"peer_id\":\"a\",\"direction\":\"inbound\",\"cause\":\"ok\"}]}");
	struct ctl_mesh m;
	char why[128];

	(void)state;
	assert_int_equal(ctl_mesh_build(&m, nodes, mesh, why, sizeof(why)), 0);
	assert_true(ctl_mesh_all_ok(&m));
	ctl_mesh_free(&m);
	/* an inbound observation does not fill the outbound cell */
	assert_int_equal(ctl_mesh_build(&m, nodes, half, why, sizeof(why)), 0);
	assert_false(ctl_mesh_all_ok(&m));
	ctl_mesh_free(&m);
	json_object_put(nodes);
	json_object_put(mesh);
	json_object_put(half);
}

static void test_mesh_empty_and_malformed(void **state)
{
	json_object *none = parse("{\"nodes\":[]}");
	json_object *noobs = parse("{\"observations\":[]}");
	json_object *badobs = parse("{\"observations\":[{\"node_id\":\"a\"}]}");
	json_object *badnodes = parse("{\"nodes\":[{\"name\":\"a\"}]}");
	json_object *two = parse("{\"nodes\":[{\"node_id\":\"a\"},{\"node_id\":\"b\"}]}");
	struct ctl_mesh m;
	char why[128], *got;

	(void)state;
	assert_int_equal(ctl_mesh_build(&m, none, noobs, why, sizeof(why)), 0);
	assert_true(ctl_mesh_all_ok(&m));
	got = capture_mesh(&m);
	assert_string_equal(got, "no nodes in the cluster\n");
	free(got);
	ctl_mesh_free(&m);
	assert_int_equal(ctl_mesh_build(&m, none, none, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "observations"));
	assert_int_equal(ctl_mesh_build(&m, two, badobs, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "observation 1"));
	assert_null(m.ids);
	assert_int_equal(ctl_mesh_build(&m, badnodes, noobs, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "node_id"));
	json_object_put(none);
	json_object_put(noobs);
	json_object_put(badobs);
	json_object_put(badnodes);
	json_object_put(two);
}

/* ---- nodes ---- */

static void test_nodes_health(void **state)
{
	json_object *doc = parse(
	    "{\"nodes\":["
	    "{\"node_id\":\"a\",\"name\":\"A\",\"address\":\"h:1\",\"enrolled_serial\":\"AB\","
	    "\"last_report\":{\"at\":1000,\"sequence\":3,\"state\":\"enrolled\"}},"
	    "{\"node_id\":\"b\",\"name\":\"B\",\"address\":\"h:2\",\"enrolled_serial\":\"\","
	    "\"last_report\":null},"
	    "{\"node_id\":\"c\",\"name\":\"C\",\"address\":\"h:3\",\"enrolled_serial\":\"CD\","
	    "\"last_report\":{\"at\":800,\"sequence\":1,\"state\":\"enrolled\"}},"
	    "{\"node_id\":\"d\",\"name\":\"D\",\"address\":\"h:4\",\"enrolled_serial\":\"EF\","
	    "\"last_report\":{\"at\":1000,\"sequence\":9,\"state\":\"hardware_changed\","
	    "\"parts_changed\":[\"board\",\"disk\"]}},"
	    "{\"node_id\":\"e\",\"name\":\"E\",\"address\":\"h:5\",\"enrolled_serial\":\"01\","
	    "\"last_report\":{\"at\":1000,\"sequence\":2,\"state\":\"enrolled\","
	    "\"key_service\":{\"healthy\":false,\"detail\":\"keystore offline\"}}}]}");
	struct ctl_node *nodes;
	char why[128], *buf = NULL;
	size_t n, len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(ctl_nodes_parse(doc, &nodes, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 5);
	assert_int_equal(ctl_node_health(&nodes[0], 1010, 90), CTL_NODE_OK);
	assert_int_equal(ctl_node_health(&nodes[1], 1010, 90), CTL_NODE_NEVER);
	assert_int_equal(ctl_node_health(&nodes[2], 1010, 90), CTL_NODE_STALE);
	assert_int_equal(ctl_node_health(&nodes[2], 1010, 300), CTL_NODE_OK);
	assert_int_equal(ctl_node_health(&nodes[3], 1010, 90), CTL_NODE_BAD_STATE);
	assert_int_equal(ctl_node_health(&nodes[4], 1010, 90), CTL_NODE_KEYS_DOWN);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(ctl_nodes_render(nodes, n, 1010, 90, true, f), 0);
	fclose(f);
	assert_string_equal(
	    buf, "NODE  NAME  ADDRESS  SERIAL  LAST REPORT  STATE                          "
	         "KEY SERVICE             HEALTH\n"
	         "a     A     h:1      AB      10s ago      enrolled                       "
	         "-                       ok\n"
	         "b     B     h:2      -       never        -                              "
	         "-                       never reported\n"
	         "c     C     h:3      CD      3m30s ago    enrolled                       "
	         "-                       stale\n"
	         "d     D     h:4      EF      10s ago      hardware_changed (board,disk)  "
	         "-                       bad state\n"
	         "e     E     h:5      01      10s ago      enrolled                       "
	         "DOWN: keystore offline  key service down\n");
	free(buf);
	free(nodes);
	json_object_put(doc);

	doc = parse("{\"peer_table_version\":1}");
	assert_int_equal(ctl_nodes_parse(doc, &nodes, &n, why, sizeof(why)), -1);
	json_object_put(doc);
	doc = parse("{\"nodes\":[{\"node_id\":\"a\",\"last_report\":{\"state\":\"x\"}}]}");
	assert_int_equal(ctl_nodes_parse(doc, &nodes, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "no time"));
	json_object_put(doc);
}

static void test_format_age(void **state)
{
	static const struct {
		int64_t s;
		const char *want;
	} cases[] = {{-5, "0s"},       {0, "0s"},      {59, "59s"},       {60, "1m0s"},
	             {3599, "59m59s"}, {3600, "1h0m"}, {86399, "23h59m"}, {90000, "1d1h"}};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ctl_format_age(cases[i].s, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
}

static void test_format_when(void **state)
{
	char buf[96];

	(void)state;
	ctl_format_when(1796193482, 1796193482 - 86400 * 29, buf, sizeof(buf));
	assert_string_equal(buf, "in 29d0h (2026-12-02 06:38:02 UTC)");
	ctl_format_when(1796193482, 1796193494, buf, sizeof(buf));
	assert_string_equal(buf, "12s ago (2026-12-02 06:38:02 UTC)");
	ctl_format_when(0, 1796193494, buf, sizeof(buf));
	assert_string_equal(buf, "never");
	ctl_format_date(0 + 86400, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-02 00:00:00 UTC");
}

/* ---- diagnosis ---- */

static void test_diag(void **state)
{
	json_object *ok = parse("{\"healthy\":false,\"findings\":[{\"pattern\":\"p\","
	                        "\"culprit\":null,\"summary\":\"s\",\"remedy\":\"r\","
	                        "\"evidence\":[\"e1\",\"e2\"]}]}");
	json_object *bad = parse("{\"healthy\":\"no\",\"findings\":[]}");
	char why[128], *buf = NULL;
	size_t len = 0;
	bool healthy = true;
	FILE *f;

	(void)state;
	assert_int_equal(ctl_diag_check(ok, &healthy, why, sizeof(why)), 0);
	assert_false(healthy);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	ctl_diag_render(ok, f);
	fclose(f);
	assert_string_equal(buf, "NOT HEALTHY: 1 finding\n\n[1] p\n    culprit:  -\n"
	                         "    summary:  s\n    remedy:   r\n    evidence:\n"
	                         "      - e1\n      - e2\n");
	free(buf);
	assert_int_equal(ctl_diag_check(bad, &healthy, why, sizeof(why)), -1);
	json_object_put(ok);
	json_object_put(bad);
}

/* ---- configuration ---- */

/* Writes text to dir/name and returns the path (static buffer). */
static const char *write_conf(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void expect_config_error(const char *text, int line, const char *fragment)
{
	struct ctl_config cfg;
	struct ctl_config_error err;
	const char *path = write_conf("bad.conf", text);
	char msg[2 * PATH_MAX + 300];

	ctl_config_init(&cfg);
	assert_int_equal(ctl_config_load(&cfg, path, true, &err), CTL_CONFIG_INVALID);
	assert_int_equal(err.line, line);
	ctl_config_error_format(&err, msg, sizeof(msg));
	if (!strstr(msg, fragment) || strncmp(msg, path, strlen(path)) != 0)
		fail_msg("'%s' lacks '%s' or the path", msg, fragment);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_config_error("[kmactl]\nurl = https://c:1\nsert = /x\n", 3,
	                    ":3: unknown key 'sert'");
	expect_config_error("[kmactl]\nurl = http://c:1\n", 2, "not an https:// URL");
	expect_config_error("[kmactl]\nurl = https://\n", 2, "not an https:// URL");
	expect_config_error("# comment\n[coord]\nurl = https://c:1\n", 3,
	                    "unknown section [coord]");
	expect_config_error("url = https://c:1\n", 1, "outside any [section]");
	expect_config_error("[kmactl]\ncert\n", 2, "syntax error");
	expect_config_error("[kmactl]\ncert =\n", 2, "cert: empty value");
	/* the first error in file order wins */
	expect_config_error("[kmactl]\nkey = /k\nbogus = 1\nnot a line\n", 3, "unknown key");
}

static void test_config_files(void **state)
{
	struct ctl_config cfg;
	struct ctl_config_error err;
	char missing[256], msg[2 * PATH_MAX + 300];
	const char *path;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/none.conf", dir);
	ctl_config_init(&cfg);
	assert_int_equal(ctl_config_load(&cfg, missing, false, &err), CTL_CONFIG_ABSENT);
	assert_int_equal(ctl_config_load(&cfg, missing, true, &err), CTL_CONFIG_NOINPUT);
	ctl_config_error_format(&err, msg, sizeof(msg));
	assert_non_null(strstr(msg, "none.conf"));

	/* a good file, then the cross checks */
	write_conf("op.pem", "pem");
	path = write_conf("good.conf", "[kmactl]\nurl = https://coord:8443/\ncert = /nonexistent/"
	                               "op.pem\nkey = /k\n");
	assert_int_equal(ctl_config_load(&cfg, path, true, &err), CTL_CONFIG_OK);
	assert_string_equal(cfg.url, "https://coord:8443/");
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.ca, "");
	assert_int_equal(ctl_config_check(&cfg, &err), CTL_CONFIG_NOINPUT);
	assert_non_null(strstr(err.message, "cert /nonexistent/op.pem"));
	snprintf(cfg.cert, sizeof(cfg.cert), "%s/op.pem", dir);
	snprintf(cfg.key, sizeof(cfg.key), "%s/op.pem", dir);
	assert_int_equal(ctl_config_check(&cfg, &err), CTL_CONFIG_OK);
	snprintf(cfg.ca, sizeof(cfg.ca), "%s", dir); /* a directory is not a CA file */
	assert_int_equal(ctl_config_check(&cfg, &err), CTL_CONFIG_NOINPUT);
	cfg.ca[0] = '\0';
	cfg.url[0] = '\0';
	assert_int_equal(ctl_config_check(&cfg, &err), CTL_CONFIG_INVALID);
	assert_non_null(strstr(err.message, "--url"));
	snprintf(cfg.url, sizeof(cfg.url), "https://c");
	cfg.key[0] = '\0';
	assert_int_equal(ctl_config_check(&cfg, &err), CTL_CONFIG_INVALID);
	assert_non_null(strstr(err.message, "--key"));

	assert_true(ctl_config_url_ok("HTTPS://coord"));
	assert_false(ctl_config_url_ok("https:///v1"));
	assert_false(ctl_config_url_ok("ftp://coord"));
	assert_false(ctl_config_url_ok("https://co ord"));
}

/* ---- tables ---- */

static void test_table(void **state)
{
	struct ctl_table t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	ctl_table_init(&t, 3);
	ctl_table_add(&t, (const char *const[]){"A", "BB", "C"});
	ctl_table_add(&t, (const char *const[]){"long", NULL, "x"});
	assert_int_equal(ctl_table_print(&t, f), 0);
	fclose(f);
	assert_string_equal(buf, "A     BB  C\nlong      x\n");
	free(buf);
	ctl_table_free(&t);
	ctl_table_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_abbrev_every_cause),
	    cmocka_unit_test(test_abbrev_values),
	    cmocka_unit_test(test_mesh_render),
	    cmocka_unit_test(test_mesh_all_ok),
	    cmocka_unit_test(test_mesh_empty_and_malformed),
	    cmocka_unit_test(test_nodes_health),
	    cmocka_unit_test(test_format_age),
	    cmocka_unit_test(test_format_when),
	    cmocka_unit_test(test_diag),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_config_files),
	    cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
