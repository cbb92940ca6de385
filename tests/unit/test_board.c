/*
 * Board definitions: every shipped board loads, and every kind of mistake in a board.conf
 * is reported with the right status and the line it is on.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>

#include "board.h"
#include "hal_test_util.h"

static const char *boards_dir(char *buf)
{
	const char *src = getenv("KMA_SOURCE_DIR");

	assert_non_null(src);
	snprintf(buf, PATH_MAX, "%s/board", src);
	return buf;
}

/* Any folder added under board/ with a board.conf is checked too. */
static void test_every_shipped_board_loads(void **state)
{
	char dir[PATH_MAX], conf[PATH_MAX + 300];
	struct dirent **list;
	int n, loaded = 0;

	(void)state;
	n = scandir(boards_dir(dir), &list, NULL, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		struct board b;
		struct board_error err;
		enum board_status st;

		if (list[i]->d_name[0] == '.' ||
		    snprintf(conf, sizeof(conf), "%s/%s/board.conf", dir, list[i]->d_name) >=
		        (int)sizeof(conf) ||
		    access(conf, F_OK) != 0) {
			free(list[i]);
			continue;
		}
		st = board_load(dir, list[i]->d_name, &b, &err);
		if (st != BOARD_OK)
			print_error("%s:%d: %s\n", err.path, err.line, err.message);
		assert_int_equal(st, BOARD_OK);
		assert_string_equal(b.name, list[i]->d_name);
		loaded++;
		free(list[i]);
	}
	free(list);
	assert_true(loaded >= 5);
}

static void load_shipped(const char *name, struct board *b)
{
	char dir[PATH_MAX];
	struct board_error err;

	assert_int_equal(board_load(boards_dir(dir), name, b, &err), BOARD_OK);
}

static void test_shipped_board_contents(void **state)
{
	struct board b;

	(void)state;
	load_shipped("generic-x86_64", &b);
	assert_string_equal(b.backend, "linux");
	assert_string_equal(b.arch, "x86_64");
	assert_false(b.unprivileged);
	assert_string_equal(b.sources.board_serial, "dmi:board_serial");
	assert_string_equal(b.sources.product_uuid, "dmi:product_uuid");
	assert_string_equal(b.sources.disk_serial, "block:auto");
	assert_string_equal(b.sources.cpu_id, "cpuinfo:auto");
	assert_string_equal(b.sources.mac, "net:auto");
	assert_string_equal(b.actions.reboot, "systemctl reboot");
	assert_string_equal(b.actions.service_restart, "systemctl restart kms.service");
	assert_string_equal(b.actions.health_check, "systemctl is-active --quiet kms.service");
	for (int s = 1; s < KMA_STEP_KIND_COUNT; s++)
		assert_int_equal(b.steps[s].manual, s == KMA_STEP_KIND_QUICKSTART);
	/* the instruction spans indented lines, joined with single spaces */
	assert_non_null(
	    strstr(b.steps[KMA_STEP_KIND_QUICKSTART].instruction, "ILOM serial console), log in"));
	assert_non_null(strstr(b.steps[KMA_STEP_KIND_QUICKSTART].instruction, "has completed."));

	load_shipped("generic-aarch64", &b);
	assert_string_equal(b.sources.board_serial, "devicetree:serial-number");
	assert_string_equal(b.sources.cpu_id, "cpuinfo:Serial");
	assert_string_equal(b.sources.product_uuid, "none");
	load_shipped("generic-armhf", &b);
	assert_string_equal(b.arch, "armhf");
	assert_string_equal(b.sources.board_serial, "devicetree:serial-number");

	load_shipped("sim", &b);
	assert_string_equal(b.backend, "sim");
	assert_true(b.unprivileged);
	for (int s = 1; s < KMA_STEP_KIND_COUNT; s++)
		assert_false(b.steps[s].manual);
	assert_string_equal(b.sources.board_serial, "none");
	assert_string_equal(b.actions.reboot, "");

	load_shipped("sim-manual", &b);
	for (int s = 1; s < KMA_STEP_KIND_COUNT; s++) {
		bool manual = s == KMA_STEP_KIND_QUICKSTART || s == KMA_STEP_KIND_DELETE_ENTRY;

		assert_int_equal(b.steps[s].manual, manual);
		assert_int_equal(b.steps[s].instruction[0] != '\0', manual);
	}
}

/* Lines 1-2 and the seven lines of a complete [recovery] section. */
#define SIM "[board]\nbackend = sim\n"
#define REC                                                                                        \
	"[recovery]\nreboot = automatic\ndelete_entry = automatic\n"                               \
	"factory_reset = automatic\nadd_entry = automatic\nquickstart = automatic\n"               \
	"join = automatic\n"
/* Lines 1-8: a linux board whose board_serial is on line 4. */
#define LINUX(serial)                                                                              \
	"[board]\nbackend = linux\n[identity]\nboard_serial = " serial "\n"                        \
	"product_uuid = none\ndisk_serial = block:auto\ncpu_id = cpuinfo:auto\n"                   \
	"mac = net:auto\n"

struct bad_case {
	const char *what;
	const char *text;
	enum board_status status;
	int line;
	const char *message; /* a part of the message */
};

static const struct bad_case bad_cases[] = {
    {"unknown key", SIM "colour = red\n" REC, BOARD_ERR_INVALID, 3, "unknown key 'colour'"},
    {"unknown section", SIM "[extras]\nfoo = 1\n" REC, BOARD_ERR_INVALID, 3,
     "unknown section [extras]"},
    {"empty unknown section", SIM REC "[extras]\n", BOARD_ERR_INVALID, 10, "[extras]"},
    {"key outside a section", "backend = sim\n" SIM REC, BOARD_ERR_INVALID, 1, "outside a section"},
    {"bad backend", "[board]\nbackend = windows\n" REC, BOARD_ERR_INVALID, 2, "linux or sim"},
    {"bad bool", SIM "unprivileged = yes\n" REC, BOARD_ERR_INVALID, 3, "true or false"},
    {"bad step mode", SIM "[recovery]\nreboot = sometimes\n", BOARD_ERR_INVALID, 4,
     "automatic or manual"},
    {"manual without instruction",
     SIM "[recovery]\nreboot = automatic\ndelete_entry = automatic\n"
         "factory_reset = automatic\nadd_entry = automatic\nquickstart = manual\n"
         "join = automatic\n",
     BOARD_ERR_INVALID, 8, "quickstart_instruction"},
    {"duplicate key", SIM "backend = linux\n" REC, BOARD_ERR_INVALID, 3, "already set on line 2"},
    {"missing backend", "[board]\nname = x\n" REC, BOARD_ERR_INVALID, 0, "'backend'"},
    {"linux without sources", "[board]\nbackend = linux\n" REC, BOARD_ERR_INVALID, 0,
     "'board_serial' in [identity]"},
    {"source: no kind", LINUX("board_serial") REC, BOARD_ERR_INVALID, 4, "kind:argument"},
    {"source: unknown kind", LINUX("smbios:serial") REC, BOARD_ERR_INVALID, 4, "unknown kind"},
    {"source: dmi path", LINUX("dmi:../../etc/shadow") REC, BOARD_ERR_INVALID, 4, "dmi:"},
    {"source: empty argument", LINUX("dmi:") REC, BOARD_ERR_INVALID, 4, "empty argument"},
    {"source: block dir", LINUX("block:sda/device") REC, BOARD_ERR_INVALID, 4, "block:"},
    {"source: net too long", LINUX("net:averyveryverylongif0") REC, BOARD_ERR_INVALID, 4, "net:"},
    {"source: relative file", LINUX("file:etc/machine-id") REC, BOARD_ERR_INVALID, 4, "absolute"},
    {"source: file dotdot", LINUX("file:/etc/../root/x") REC, BOARD_ERR_INVALID, 4, "'..'"},
    {"source: absolute devicetree", LINUX("devicetree:/serial-number") REC, BOARD_ERR_INVALID, 4,
     "devicetree:"},
    {"source: cpuinfo field", LINUX("cpuinfo:a/b") REC, BOARD_ERR_INVALID, 4, "cpuinfo:"},
    {"syntax: no equals", SIM "just some words\n" REC, BOARD_ERR_SYNTAX, 3, "syntax"},
    {"syntax: unclosed section", "[board\nbackend = sim\n" REC, BOARD_ERR_SYNTAX, 1, "syntax"},
    {"syntax before invalid", SIM "oops\ncolour = red\n" REC, BOARD_ERR_SYNTAX, 3, "syntax"},
    {"invalid before syntax", SIM "colour = red\noops\n" REC, BOARD_ERR_INVALID, 3, "colour"},
    {"name too long",
     SIM "name = a234567890123456789012345678901234567890123456789012345678901234\n" REC,
     BOARD_ERR_INVALID, 3, "longer than 63"},
    {"bad name", SIM "name = my board\n" REC, BOARD_ERR_INVALID, 3, "letters, digits"},
    {"line too long",
     SIM REC "[actions]\nreboot = /sbin/reboot "
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "\n",
     BOARD_ERR_INVALID, 11, "line longer than"},
    {"continuation of a one-line key", SIM "  --force\n" REC, BOARD_ERR_INVALID, 3, "single line"},
    {"control character", SIM "description = tab\there\n" REC, BOARD_ERR_INVALID, 3, "control"},
    {"command not ASCII",
     SIM REC "[actions]\nreboot = r\xc3\xa9"
             "boot\n",
     BOARD_ERR_INVALID, 11, "ASCII"},
    {"bad UTF-8", SIM "description = caf\xc3(\n" REC, BOARD_ERR_INVALID, 3, "control"},
    {"kmip: no port", SIM "[kmip]\naddress = 127.0.0.1\n" REC, BOARD_ERR_INVALID, 4, "address"},
    {"kmip: port 0", SIM "[kmip]\naddress = 127.0.0.1:0\n" REC, BOARD_ERR_INVALID, 4, "65535"},
    {"kmip: bad operation", SIM "[kmip]\naddress = 127.0.0.1:5696\noperation = locate\n" REC,
     BOARD_ERR_INVALID, 5, "discover_versions, query or get"},
    {"kmip: get without uid", SIM "[kmip]\naddress = 127.0.0.1:5696\noperation = get\n" REC,
     BOARD_ERR_INVALID, 4, "canary_uid"},
    {"kmip: uid without get", SIM "[kmip]\naddress = 127.0.0.1:5696\ncanary_uid = 7\n" REC,
     BOARD_ERR_INVALID, 5, "only for operation = get"},
    {"kmip: keys without address", SIM "[kmip]\noperation = query\n" REC, BOARD_ERR_INVALID, 4,
     "without an address"},
    {"kmip: relative cert", SIM "[kmip]\naddress = 127.0.0.1:5696\nclient_cert = c.pem\n" REC,
     BOARD_ERR_INVALID, 5, "absolute path"},
    {"kmip: cert without key",
     SIM
     "[kmip]\naddress = 127.0.0.1:5696\nclient_cert = /etc/c.pem\nserver_ca = /etc/ca.pem\n" REC,
     BOARD_ERR_INVALID, 4, "both identity or both paths"},
    {"kmip: own cert, cluster CA",
     SIM "[kmip]\naddress = 127.0.0.1:5696\nclient_cert = /c.pem\nclient_key = /k.pem\n" REC,
     BOARD_ERR_INVALID, 4, "server_ca path"},
    {"kmip: timeout 0", SIM "[kmip]\naddress = 127.0.0.1:5696\ntimeout = 0\n" REC,
     BOARD_ERR_INVALID, 5, "1 to 60"},
};

static enum board_status load_text(const char *dir, const char *text, size_t len, struct board *b,
                                   struct board_error *err)
{
	char path[PATH_MAX];

	tu_write_bytes(dir, "case/board.conf", text, len);
	return board_load_file(tu_path(path, dir, "case/board.conf"), b, err);
}

static void test_bad_configs(void **state)
{
	char *dir = tu_tmpdir("board");
	struct board b, zero;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct board_error err;
		enum board_status st = load_text(dir, c->text, strlen(c->text), &b, &err);

		if (st != c->status || err.line != c->line || !strstr(err.message, c->message))
			fail_msg("%s: got status %d line %d \"%s\", want %d line %d \"%s\"",
			         c->what, st, err.line, err.message, c->status, c->line,
			         c->message);
		assert_non_null(strstr(err.path, "case/board.conf"));
		/* a failed load leaves nothing half-filled behind */
		assert_memory_equal(&b, &zero, sizeof(b));
	}
	tu_rmtree(dir);
}

static void test_nul_byte(void **state)
{
	static const char text[] = SIM "name = a\0b\n" REC;
	char *dir = tu_tmpdir("board");
	struct board b;
	struct board_error err;

	(void)state;
	assert_int_equal(load_text(dir, text, sizeof(text) - 1, &b, &err), BOARD_ERR_SYNTAX);
	assert_int_equal(err.line, 3);
	tu_rmtree(dir);
}

/* Valid sources and the INI features board files use. */
static void test_good_configs(void **state)
{
	static const char *const sources[] = {
	    "none",
	    "dmi:board_serial",
	    "dmi:product_uuid",
	    "devicetree:serial-number",
	    "devicetree:chosen/serial",
	    "block:auto",
	    "block:nvme0n1",
	    "block:mmcblk0",
	    "cpuinfo:auto",
	    "cpuinfo:Serial",
	    "cpuinfo:model name",
	    "net:auto",
	    "net:enp3s0",
	    "net:eth0.100",
	    "file:/etc/machine-id",
	};
	char *dir = tu_tmpdir("board");
	char text[2048];
	struct board b;
	struct board_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		snprintf(text, sizeof(text),
		         "[board]\nbackend = linux\n[identity]\nboard_serial = %s\n"
		         "product_uuid = none\ndisk_serial = none\ncpu_id = none\nmac = none\n" REC,
		         sources[i]);
		if (load_text(dir, text, strlen(text), &b, &err) != BOARD_OK)
			fail_msg("%s: %d: %s", sources[i], err.line, err.message);
		assert_string_equal(b.sources.board_serial, sources[i]);
	}

	/* BOM, CRLF, comments, inline comments, a multi-line instruction, name from folder */
	snprintf(text, sizeof(text),
	         "\xEF\xBB\xBF# comment\r\n"
	         "; another\r\n"
	         "[board]\r\n"
	         "backend = sim ; inline comment\r\n"
	         "description = Caf\xc3\xa9 appliance\r\n"
	         "[recovery]\r\n"
	         "reboot = automatic\r\ndelete_entry = automatic\r\nfactory_reset = automatic\r\n"
	         "add_entry = automatic\r\njoin = automatic\r\n"
	         "quickstart = manual\r\n"
	         "quickstart_instruction =\r\n"
	         "\tOpen the console,\r\n"
	         "\r\n"
	         "    # not part of it\r\n"
	         "\tthen run QuickStart.\r\n");
	assert_int_equal(load_text(dir, text, strlen(text), &b, &err), BOARD_OK);
	assert_string_equal(b.name, "case");
	assert_string_equal(b.backend, "sim");
	assert_string_equal(b.arch, "any");
	assert_string_equal(b.description, "Caf\xc3\xa9 appliance");
	assert_true(b.steps[KMA_STEP_KIND_QUICKSTART].manual);
	assert_string_equal(b.steps[KMA_STEP_KIND_QUICKSTART].instruction,
	                    "Open the console, then run QuickStart.");
	assert_string_equal(b.kmip.address, ""); /* no [kmip]: none declared */

	/* [kmip]: defaults filled in */
	snprintf(text, sizeof(text), "[board]\nbackend = sim\n[kmip]\naddress = [::1]:5696\n" REC);
	assert_int_equal(load_text(dir, text, strlen(text), &b, &err), BOARD_OK);
	assert_string_equal(b.kmip.address, "[::1]:5696");
	assert_string_equal(b.kmip.operation, "discover_versions");
	assert_string_equal(b.kmip.client_cert, "identity");
	assert_string_equal(b.kmip.server_ca, "identity");
	assert_int_equal(b.kmip.timeout_s, 5);
	snprintf(text, sizeof(text),
	         "[board]\nbackend = sim\n[kmip]\naddress = 127.0.0.1:5696\noperation = get\n"
	         "canary_uid = 1f0c-canary\nclient_cert = /etc/kms/c.pem\n"
	         "client_key = /etc/kms/c.key\nserver_ca = /etc/kms/ca.pem\ntimeout = 9\n"
	         "server_name = kms.example\n" REC);
	assert_int_equal(load_text(dir, text, strlen(text), &b, &err), BOARD_OK);
	assert_string_equal(b.kmip.canary_uid, "1f0c-canary");
	assert_string_equal(b.kmip.client_key, "/etc/kms/c.key");
	assert_int_equal(b.kmip.timeout_s, 9);
	assert_string_equal(b.kmip.server_name, "kms.example");
	tu_rmtree(dir);
}

static void test_instruction_too_long(void **state)
{
	char *dir = tu_tmpdir("board");
	char text[4096];
	size_t n;
	struct board b;
	struct board_error err;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text),
	                     SIM REC "quickstart_instruction =\n"); /* line 10 */
	for (int i = 0; i < 6; i++)                                 /* 6 x 100 characters > 511 */
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  %0100d\n", i);
	assert_int_equal(load_text(dir, text, n, &b, &err), BOARD_ERR_INVALID);
	assert_int_equal(err.line, 16);
	assert_non_null(strstr(err.message, "longer than 511"));
	tu_rmtree(dir);
}

static void test_not_found_and_bad_names(void **state)
{
	char *dir = tu_tmpdir("board");
	struct board b;
	struct board_error err;

	(void)state;
	assert_int_equal(board_load(dir, "nosuch", &b, &err), BOARD_ERR_NOT_FOUND);
	assert_non_null(strstr(err.path, "nosuch/board.conf"));
	assert_int_equal(board_load(dir, "../etc", &b, &err), BOARD_ERR_INVALID);
	assert_int_equal(board_load(dir, "", &b, &err), BOARD_ERR_INVALID);
	assert_int_equal(board_load_file(NULL, &b, &err), BOARD_ERR_INVALID);
	tu_rmtree(dir);
}

/* A board names only the steps it makes manual; the others are automatic. */
static void test_steps_omitted(void **state)
{
	char *dir = tu_tmpdir("board"), path[600];
	struct board b;
	struct board_error err;

	(void)state;
	snprintf(path, sizeof(path), "%s/board.conf", dir);
	tu_write(dir, "board.conf",
	         SIM "[recovery]\nquickstart = manual\nquickstart_instruction = at the console\n");
	assert_int_equal(board_load_file(path, &b, &err), BOARD_OK);
	for (int s = 1; s < KMA_STEP_KIND_COUNT; s++)
		assert_int_equal(b.steps[s].manual, s == KMA_STEP_KIND_QUICKSTART);
	assert_string_equal(b.steps[KMA_STEP_KIND_QUICKSTART].instruction, "at the console");
	/* No [recovery] at all: every step automatic. */
	tu_write(dir, "board.conf", SIM);
	assert_int_equal(board_load_file(path, &b, &err), BOARD_OK);
	for (int s = 1; s < KMA_STEP_KIND_COUNT; s++)
		assert_false(b.steps[s].manual);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_shipped_board_loads),
	    cmocka_unit_test(test_shipped_board_contents),
	    cmocka_unit_test(test_bad_configs),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_good_configs),
	    cmocka_unit_test(test_instruction_too_long),
	    cmocka_unit_test(test_not_found_and_bad_names),
	    cmocka_unit_test(test_steps_omitted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
