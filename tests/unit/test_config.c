/* Agent configuration: defaults, values, and every error names the file and the line. */

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "peers.h"

static char path[PATH_MAX];

static void write_conf(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Like write_conf, for contents that may hold NUL bytes. */
static void write_bytes(const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/kma-conf-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void test_defaults_and_values(void **state)
{
	struct agent_config cfg;
	struct config_error err;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.hw_check_interval_s, 60);
	assert_int_equal(cfg.log_level, LOG_LVL_INFO);
	assert_string_equal(cfg.hal_root, "/");

	write_conf("; appliance config\n"
	           "[agent]\n"
	           "state_dir = /data/kma\n"
	           "log_level = debug   ; chatty\n"
	           "hw_check_interval = 5\n"
	           "\n"
	           "[board]\n"
	           "name = generic-aarch64\n"
	           "dir = /opt/boards\n"
	           "root = /tmp/sim\n");
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_string_equal(cfg.state_dir, "/data/kma");
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg.hw_check_interval_s, 5);
	assert_string_equal(cfg.board_name, "generic-aarch64");
	assert_string_equal(cfg.board_dir, "/opt/boards");
	assert_string_equal(cfg.hal_root, "/tmp/sim");

	write_conf("[mesh]\nlisten = [::1]:65535\n[coordinator]\nurl = https://[::1]:1/x\n");
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_string_equal(cfg.mesh_listen, "[::1]:65535");
	/* durations: seconds, or with a unit */
	write_conf("[agent]\nhw_check_interval = 2m\n[mesh]\nprobe_interval = 90s\n"
	           "probe_timeout = 1m\n[coordinator]\nreport_interval = 1h\n");
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.hw_check_interval_s, 120);
	assert_int_equal(cfg.probe_interval_s, 90);
	assert_int_equal(cfg.probe_timeout_s, 60);
	assert_int_equal(cfg.report_interval_s, 3600);
	write_conf(
	    "[mesh]\nlisten = 127.0.0.1:9443\n[coordinator]\nurl = https://coord.example/\n");
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.coord_urls.n, 1);
	assert_string_equal(cfg.coord_urls.url[0], "https://coord.example/");
	write_conf("[coordinator]\nurl = https://a:8443/, https://b:8443/\thttps://c:8443\n");
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.coord_urls.n, 3);
	assert_string_equal(cfg.coord_urls.url[2], "https://c:8443");
}

/*
 * The peer table (issue 16 item 10): a node listed twice is refused naming both lines,
 * even right after itself (inih would hand the second section's keys over as more of the
 * first, replacing its address and pinned serial); every address has a port from 1 to
 * 65535.
 */
static void test_peers(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *needle;
	} bad[] = {
	    {"[peer a]\naddress = 127.0.0.1:1\nserial = 01\n\n[peer a]\naddress = 127.0.0.1:2\n", 6,
	     "peer a listed twice: [peer a] on line 1 and again on line 5"},
	    {"[peer a]\naddress = 127.0.0.1:1\n[peer b]\naddress = 127.0.0.1:3\n[peer a]  \n"
	     "serial = 02\n",
	     6, "on line 1 and again on line 5"},
	    {"[peer a]\n  address = 127.0.0.1:1\n  serial = 02\n", 3, "indented line"},
	    {"[peer a]\naddress = 127.0.0.1:99999\n", 2, "port '99999' is not from 1 to 65535"},
	    {"[peer a]\naddress = 127.0.0.1:0\n", 2, "port '0'"},
	    {"[peer a]\naddress = host\n", 2, "no :PORT"},
	    {"[peer a]\nname = x\n", 1, "peer a has no address"},
	    {"[peer a]\naddress = 127.0.0.1:1\n\n[peer b]\nname = b\n", 4, "peer b has no address"},
	};
	struct peer_table *t = calloc(1, sizeof(*t));
	struct config_error err;

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_conf(bad[i].text);
		assert_int_not_equal(peers_load(t, path, &err), 0);
		if (err.line != bad[i].line || !strstr(err.message, bad[i].needle))
			fail_msg("case %zu: got line %d '%s', want line %d containing '%s'", i,
			         err.line, err.message, bad[i].line, bad[i].needle);
	}
	write_conf("[peer a]\naddress = 127.0.0.1:1\nserial = 0a\n[peer b]\naddress = [::1]:65535\n"
	           "[peer c]\naddress = kma03.example:9443\n");
	assert_int_equal(peers_load(t, path, &err), 0);
	assert_int_equal(t->n, 3);
	assert_string_equal(t->peers[0].serial, "0A");
	assert_string_equal(t->peers[2].address, "kma03.example:9443");
	free(t);
}

static void test_errors_have_lines(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *needle;
	} cases[] = {
	    {"[agent]\nstate_dir = /x\nstat_dir = /y\n", 3, "unknown key 'stat_dir'"},
	    {"[agent]\n\n\n[bored]\nname = x\n", 5, "unknown section [bored]"},
	    {"[agent]\nlog_level = loud\n", 2, "log_level"},
	    {"[agent]\nhw_check_interval = 0\n", 2, "from 1 to 86400"},
	    {"[agent]\nhw_check_interval = 86401\n", 2, "from 1 to 86400"},
	    {"[agent]\nhw_check_interval = -1\n", 2, "expected a duration"},
	    {"[agent]\nhw_check_interval = 10x\n", 2, "expected a duration"},
	    {"[agent]\nhw_check_interval = 10 s\n", 2, "expected a duration"},
	    {"[agent]\nhw_check_interval = 2d\n", 2, "from 1 to 86400"},
	    {"[agent]\nhw_check_interval = s\n", 2, "expected a duration"},
	    {"[agent]\nstat_dir = /y\n", 2, "did you mean 'state_dir'?"},
	    {"[mesh]\nprobe_intervall = 5\n", 2, "did you mean 'probe_interval'?"},
	    {"[coordinator]\nurls = https://127.0.0.1:1/\n", 2, "did you mean 'url'?"},
	    {"[agent]\nstate_dir =\n", 2, "empty"},
	    {"[agent]\nthis line is not ini\n", 2, "syntax error"},
	    {"# first\n[board\nname = x\n", 2, "syntax error"},
	    /* The first error wins even when more follow. */
	    {"[agent]\nbad1 = 1\nbad2 = 2\n", 2, "bad1"},
	    {"name = x\n[agent]\n", 1, "outside any [section]"},
	    /* Issue 16 item 10: ports from 1 to 65535, everywhere (getaddrinfo takes 99999 and
	     * binds 99999 mod 65536). */
	    {"[mesh]\nlisten = 127.0.0.1:99999\n", 2, "port '99999' is not from 1 to 65535"},
	    {"[mesh]\nlisten = 127.0.0.1:65536\n", 2, "not from 1 to 65535"},
	    {"[mesh]\nlisten = 127.0.0.1:0\n", 2, "port '0'"},
	    {"[mesh]\nlisten = 127.0.0.1:-1\n", 2, "port '-1'"},
	    {"[mesh]\nlisten = 127.0.0.1:9443x\n", 2, "port '9443x'"},
	    {"[mesh]\nlisten = 127.0.0.1:\n", 2, "no port"},
	    {"[mesh]\nlisten = 127.0.0.1\n", 2, "no :PORT"},
	    {"[mesh]\nlisten = ::1:9443\n", 2, "[ADDRESS]:PORT"},
	    {"[mesh]\nlisten = [::1]:99999\n", 2, "not from 1 to 65535"},
	    {"[mesh]\nlisten = localhost:9443\n", 2, "not a numeric"},
	    {"[coordinator]\nurl = https://localhost:70000/\n", 2, "port '70000'"},
	    {"[coordinator]\nurl = https://localhost:/\n", 2, "no port"},
	    {"[coordinator]\nurl = https://[::1]:0/\n", 2, "port '0'"},
	    {"[coordinator]\nurl = https://:8443/\n", 2, "no host"},
	    {"[coordinator]\nurl = https://u:p@localhost:8443/\n", 2, "credentials"},
	    /* A coordinator with standbys: up to five URLs, each checked alike. */
	    {"[coordinator]\nurl = https://a:1/, http://b:2/\n", 2,
	     "'http://b:2/' is not an https://"},
	    {"[coordinator]\nurl = https://a:1/ https://b:70000/\n", 2, "port '70000'"},
	    {"[coordinator]\nurl = https://a:1/,https://A:1\n", 2, "listed twice"},
	    {"[coordinator]\nurl = https://a https://b https://c https://d https://e https://f\n",
	     2, "more than 5"},
	};
	struct agent_config cfg;
	struct config_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_defaults(&cfg);
		write_conf(cases[i].text);
		assert_int_not_equal(config_load(&cfg, path, &err), 0);
		assert_string_equal(err.path, path);
		if (err.line != cases[i].line || !strstr(err.message, cases[i].needle))
			fail_msg("case %zu: got line %d '%s', want line %d containing '%s'", i,
			         err.line, err.message, cases[i].line, cases[i].needle);
	}
}

#define LONG_VALUE                                                                                 \
	"/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"     \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"      \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/*
 * Lines inih would misread are refused with their line: a NUL byte (inih would drop the
 * rest of the line) and a line longer than its buffer (inih would parse the tail as a line
 * of its own). An earlier error still wins.
 */
static void test_reader_refusals(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		int line;
		const char *needle;
	} cases[] = {
#define CASE(text, line, needle) {text, sizeof(text) - 1, line, needle}
	    CASE("[agent]\nstate_dir = /a\0b\n", 2, "NUL byte in line"),
	    CASE("[agent]\nlog_level = info\nstate_dir = " LONG_VALUE "\n", 3,
	         "line longer than 198 characters"),
	    CASE("[agent]\nstate_dir = " LONG_VALUE, 2, "line longer than"),
	    CASE("[agent]\nbad = 1\nstate_dir = /a\0b\n", 2, "unknown key 'bad'"),
	    CASE("[agent]\noops\nstate_dir = " LONG_VALUE "\n", 2, "syntax error"),
#undef CASE
	};
	struct agent_config cfg;
	struct config_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_defaults(&cfg);
		write_bytes(cases[i].text, cases[i].len);
		assert_int_not_equal(config_load(&cfg, path, &err), 0);
		if (err.line != cases[i].line || !strstr(err.message, cases[i].needle))
			fail_msg("case %zu: got line %d '%s', want line %d containing '%s'", i,
			         err.line, err.message, cases[i].line, cases[i].needle);
	}
}

static void test_file_too_large(void **state)
{
	struct agent_config cfg;
	struct config_error err;
	size_t len = 1024 * 1024 + 1;
	char *text = malloc(len);

	(void)state;
	assert_non_null(text);
	memset(text, ';', len);
	write_bytes(text, len);
	free(text);
	config_defaults(&cfg);
	assert_int_not_equal(config_load(&cfg, path, &err), 0);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "larger than"));
}

static void test_missing_file(void **state)
{
	struct agent_config cfg;
	struct config_error err;

	(void)state;
	config_defaults(&cfg);
	assert_int_not_equal(config_load(&cfg, "/nonexistent/agent.conf", &err), 0);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_values), cmocka_unit_test(test_errors_have_lines),
	    cmocka_unit_test(test_missing_file),        cmocka_unit_test(test_reader_refusals),
	    cmocka_unit_test(test_file_too_large),      cmocka_unit_test(test_peers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
