/*
 * Directive validation (every refusal branch, as a table) and the persisted directive
 * record: round trip, every kind of damage gives a clear error and no record.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "directive.h"
#include "hal_test_util.h"

#define NOW 1700000000

enum { REBOOT = 1, RESET = 2, QS = 3, JOIN = 4, PEERS = 5, HOLD = 6 };

struct check_case {
	const char *name;
	const char *id;
	int kind;
	bool lease;
	const char *lease_node;
	uint64_t fencing;
	int64_t expires_at;
	const char *token;
	const char *node_id; /* ours */
	uint64_t highest;
	enum directive_verdict want;
	const char *why_has; /* a piece of the reason, or NULL */
};

static const struct check_case cases[] = {
    {"reboot with a good lease", "d1", REBOOT, true, "a-kma01", 8, NOW + 60, NULL, "a-kma01", 7,
     DIRECTIVE_ACCEPT, NULL},
    {"first directive ever", "d1", RESET, true, "a-kma01", 1, NOW + 1, NULL, "a-kma01", 0,
     DIRECTIVE_ACCEPT, NULL},
    {"quickstart with token", "d1", QS, true, "a-kma01", 9, NOW + 60, "s3cr3t-tok", "a-kma01", 7,
     DIRECTIVE_ACCEPT, NULL},
    {"join needs no lease", "d1", JOIN, false, NULL, 0, 0, NULL, "a-kma01", 7, DIRECTIVE_ACCEPT,
     NULL},
    {"update_peers needs no lease", "d1", PEERS, false, NULL, 0, 0, NULL, "a-kma01", 7,
     DIRECTIVE_ACCEPT, NULL},
    {"hold with a stale lease is still fine", "d1", HOLD, true, "other", 1, 0, NULL, "a-kma01", 7,
     DIRECTIVE_ACCEPT, NULL},
    {"64-byte id", "0123456789012345678901234567890123456789012345678901234567890123", HOLD, false,
     NULL, 0, 0, NULL, "a-kma01", 0, DIRECTIVE_ACCEPT, NULL},
    {"empty id", "", REBOOT, true, "a-kma01", 8, NOW + 60, NULL, "a-kma01", 7, DIRECTIVE_BAD_ID,
     "id"},
    {"65-byte id", "0123456789012345678901234567890123456789012345678901234567890123X", HOLD, false,
     NULL, 0, 0, NULL, "a-kma01", 0, DIRECTIVE_BAD_ID, "64"},
    {"id with a newline", "d1\nforged log line", HOLD, false, NULL, 0, 0, NULL, "a-kma01", 0,
     DIRECTIVE_BAD_ID, "printable"},
    {"id with a space", "d 1", HOLD, false, NULL, 0, 0, NULL, "a-kma01", 0, DIRECTIVE_BAD_ID, NULL},
    {"id with a high byte", "d\xc3\xa9", HOLD, false, NULL, 0, 0, NULL, "a-kma01", 0,
     DIRECTIVE_BAD_ID, NULL},
    {"unspecified kind", "d1", 0, true, "a-kma01", 8, NOW + 60, NULL, "a-kma01", 7,
     DIRECTIVE_UNKNOWN_KIND, "unknown directive kind 0"},
    {"kind from the future", "d1", 42, true, "a-kma01", 8, NOW + 60, NULL, "a-kma01", 7,
     DIRECTIVE_UNKNOWN_KIND, "42"},
    {"negative kind", "d1", -1, false, NULL, 0, 0, NULL, "a-kma01", 7, DIRECTIVE_UNKNOWN_KIND,
     NULL},
    {"reboot without lease", "d1", REBOOT, false, NULL, 0, 0, NULL, "a-kma01", 7,
     DIRECTIVE_NO_LEASE, "reboot needs a lease"},
    {"factory reset without lease", "d1", RESET, false, NULL, 0, 0, NULL, "a-kma01", 7,
     DIRECTIVE_NO_LEASE, NULL},
    {"quickstart without lease", "d1", QS, false, NULL, 0, 0, "s3cr3t-tok", "a-kma01", 7,
     DIRECTIVE_NO_LEASE, NULL},
    {"lease for another node", "d1", REBOOT, true, "u-kma02", 8, NOW + 60, NULL, "a-kma01", 7,
     DIRECTIVE_LEASE_NODE, "'u-kma02', not for us (a-kma01)"},
    {"lease names no node", "d1", REBOOT, true, "", 8, NOW + 60, NULL, "a-kma01", 7,
     DIRECTIVE_LEASE_NODE, NULL},
    {"lease node is a prefix of ours", "d1", REBOOT, true, "a-kma0", 8, NOW + 60, NULL, "a-kma01",
     7, DIRECTIVE_LEASE_NODE, NULL},
    {"we do not know our node ID", "d1", REBOOT, true, "", 8, NOW + 60, NULL, "", 7,
     DIRECTIVE_LEASE_NODE, "no node ID"},
    {"lease node with control bytes is cleaned", "d1", REBOOT, true, "x\ny", 8, NOW + 60, NULL,
     "a-kma01", 7, DIRECTIVE_LEASE_NODE, "'x?y'"},
    {"lease expires now", "d1", REBOOT, true, "a-kma01", 8, NOW, NULL, "a-kma01", 7,
     DIRECTIVE_LEASE_EXPIRED, "expired"},
    {"lease expired", "d1", RESET, true, "a-kma01", 8, NOW - 3600, NULL, "a-kma01", 7,
     DIRECTIVE_LEASE_EXPIRED, NULL},
    {"fencing token equal to the highest", "d1", REBOOT, true, "a-kma01", 7, NOW + 60, NULL,
     "a-kma01", 7, DIRECTIVE_FENCING_STALE, "stale fencing token 7: not above 7"},
    {"fencing token below the highest", "d1", QS, true, "a-kma01", 3, NOW + 60, "s3cr3t-tok",
     "a-kma01", 7, DIRECTIVE_FENCING_STALE, NULL},
    {"fencing token 0 on a fresh node", "d1", REBOOT, true, "a-kma01", 0, NOW + 60, NULL, "a-kma01",
     0, DIRECTIVE_FENCING_STALE, NULL},
    {"quickstart without token", "d1", QS, true, "a-kma01", 8, NOW + 60, NULL, "a-kma01", 7,
     DIRECTIVE_NO_TOKEN, "enrolment token"},
    {"quickstart with empty token", "d1", QS, true, "a-kma01", 8, NOW + 60, "", "a-kma01", 7,
     DIRECTIVE_NO_TOKEN, NULL},
    {"quickstart with a token that is not printable", "d1", QS, true, "a-kma01", 8, NOW + 60,
     "s3cr3t-tok\n", "a-kma01", 7, DIRECTIVE_NO_TOKEN, NULL},
};

static void test_check_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct check_case *c = &cases[i];
		Kma__V1__Directive d = KMA__V1__DIRECTIVE__INIT;
		Kma__V1__Lease l = KMA__V1__LEASE__INIT;
		char why[300];
		enum directive_verdict got;

		d.id = (char *)c->id;
		d.kind = (Kma__V1__DirectiveKind)c->kind;
		if (c->lease) {
			l.node_id = (char *)c->lease_node;
			l.fencing_token = c->fencing;
			l.expires_at = c->expires_at;
			d.lease = &l;
		}
		if (c->token)
			d.enrolment_token = (char *)c->token;
		got = directive_check(&d, c->node_id, NOW, c->highest, why, sizeof(why));
		if (got != c->want)
			fail_msg("%s: verdict %d, want %d (%s)", c->name, got, c->want, why);
		if (c->want == DIRECTIVE_ACCEPT && why[0])
			fail_msg("%s: accepted with a reason '%s'", c->name, why);
		if (c->want != DIRECTIVE_ACCEPT && !why[0])
			fail_msg("%s: refused without a reason", c->name);
		if (c->why_has && !strstr(why, c->why_has))
			fail_msg("%s: reason '%s' lacks '%s'", c->name, why, c->why_has);
		if (c->token && c->token[0] && strstr(why, c->token))
			fail_msg("%s: the token is in the reason", c->name);
	}
}

static void test_check_never_shows_token(void **state)
{
	Kma__V1__Directive d = KMA__V1__DIRECTIVE__INIT;
	Kma__V1__Lease l = KMA__V1__LEASE__INIT;
	char why[300];

	(void)state;
	d.id = "q1";
	d.kind = KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART;
	d.enrolment_token = "secret-token-with\x01control";
	l.node_id = "a-kma01";
	l.fencing_token = 5;
	l.expires_at = NOW + 60;
	d.lease = &l;
	assert_int_equal(directive_check(&d, "a-kma01", NOW, 1, why, sizeof(why)),
	                 DIRECTIVE_NO_TOKEN);
	assert_null(strstr(why, "secret"));
	assert_int_equal(directive_check(NULL, "a-kma01", NOW, 1, why, sizeof(why)),
	                 DIRECTIVE_BAD_ID);
}

static void test_kinds(void **state)
{
	(void)state;
	assert_string_equal(directive_kind_name(KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT),
	                    "reboot");
	assert_string_equal(directive_kind_name(KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_HOLD),
	                    "hold");
	assert_string_equal(directive_kind_name((Kma__V1__DirectiveKind)99), "unknown");
	assert_true(directive_disruptive(KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART));
	assert_false(directive_disruptive(KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_JOIN));
}

/* ---- the record ---- */

static struct directive_record sample(void)
{
	struct directive_record r = {.kind = KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT,
	                             .ok = true,
	                             .done_at = 0,
	                             .fencing = 0x0102030405060708ull};

	snprintf(r.id, sizeof(r.id), "plan-7/step-2/reboot");
	snprintf(r.detail, sizeof(r.detail), "rebooting");
	snprintf(r.boot_id, sizeof(r.boot_id), "5d0c3c36-6a3b-4b9c-9d5e-0a5f1e2d3c4b");
	return r;
}

static void test_record_round_trip(void **state)
{
	char *dir = tu_tmpdir("directive"), path[PATH_MAX], why[300];
	struct directive_record r = sample(), back;
	struct stat st;

	(void)state;
	assert_int_equal(directive_load(dir, &back, why, sizeof(why)), DIRECTIVE_REC_NONE);
	assert_int_equal(directive_store(dir, &r, why, sizeof(why)), DIRECTIVE_REC_OK);
	assert_int_equal(stat(tu_path(path, dir, DIRECTIVE_FILE), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(directive_load(dir, &back, why, sizeof(why)), DIRECTIVE_REC_OK);
	assert_string_equal(back.id, r.id);
	assert_int_equal(back.kind, r.kind);
	assert_true(back.ok);
	assert_string_equal(back.detail, "rebooting");
	assert_int_equal(back.done_at, 0);
	assert_true(back.fencing == r.fencing);
	assert_string_equal(back.boot_id, r.boot_id);

	/* replaced: the final result of the same directive */
	r.ok = false;
	r.done_at = NOW;
	snprintf(r.detail, sizeof(r.detail), "refused: the lease expired");
	r.boot_id[0] = '\0';
	assert_int_equal(directive_store(dir, &r, why, sizeof(why)), DIRECTIVE_REC_OK);
	assert_int_equal(directive_load(dir, &back, why, sizeof(why)), DIRECTIVE_REC_OK);
	assert_false(back.ok);
	assert_int_equal(back.done_at, NOW);
	assert_string_equal(back.detail, "refused: the lease expired");
	assert_string_equal(back.boot_id, "");
	tu_rmtree(dir);
}

static void expect_corrupt(const uint8_t *buf, size_t len, const char *why_has)
{
	struct directive_record back;
	char why[300];

	memset(&back, 0x55, sizeof(back));
	assert_int_equal(directive_decode(buf, len, &back, why, sizeof(why)),
	                 DIRECTIVE_REC_CORRUPT);
	if (!strstr(why, why_has))
		fail_msg("reason '%s' lacks '%s'", why, why_has);
	/* nothing half-decoded to act on */
	assert_string_equal(back.id, "");
	assert_true(back.fencing == 0);
}

static void test_record_damage(void **state)
{
	struct directive_record r = sample();
	uint8_t *buf, *copy;
	size_t len;

	(void)state;
	assert_int_equal(directive_encode(&r, &buf, &len), DIRECTIVE_REC_OK);
	copy = malloc(len + 8);
	assert_non_null(copy);

	expect_corrupt(buf, 0, "truncated");
	expect_corrupt(buf, 20, "truncated");
	expect_corrupt(buf, len - 1, "payload bytes");
	memcpy(copy, buf, len);
	memcpy(copy + len, "trailing", 8);
	expect_corrupt(copy, len + 8, "payload bytes");
	memcpy(copy, buf, len);
	copy[0] = 'X';
	expect_corrupt(copy, len, "bad magic");
	/* one flipped bit anywhere else: in the fencing token, the boot ID, the payload, the
	 * checksum */
	for (size_t off = 8; off < len; off++) {
		memcpy(copy, buf, len);
		copy[off] ^= 0x01;
		if (off >= 80 && off < 84) /* the length field */
			expect_corrupt(copy, len, "payload bytes");
		else
			expect_corrupt(copy, len, "checksum mismatch");
	}
	free(copy);
	free(buf);
}

/* Framing and checksum right, content not one the agent writes. */
static void test_record_bad_content(void **state)
{
	struct directive_record r = sample();
	uint8_t *buf;
	size_t len;

	(void)state;
	snprintf(r.id, sizeof(r.id), "bad id");
	assert_int_equal(directive_encode(&r, &buf, &len), DIRECTIVE_REC_OK);
	expect_corrupt(buf, len, "not one the agent writes");
	free(buf);
	r = sample();
	r.kind = (Kma__V1__DirectiveKind)77;
	assert_int_equal(directive_encode(&r, &buf, &len), DIRECTIVE_REC_OK);
	expect_corrupt(buf, len, "not one the agent writes");
	free(buf);
}

static void test_record_file_errors(void **state)
{
	char *dir = tu_tmpdir("directive"), why[300], path[PATH_MAX];
	struct directive_record back;
	uint8_t big[DIRECTIVE_FILE_MAX + 1];

	(void)state;
	tu_write(dir, DIRECTIVE_FILE,
	         "garbage that is not a record at all, but long enough to "
	         "pass the length check of the framing: .......................");
	assert_int_equal(directive_load(dir, &back, why, sizeof(why)), DIRECTIVE_REC_CORRUPT);
	assert_non_null(strstr(why, DIRECTIVE_FILE ": bad magic"));
	memset(big, 'A', sizeof(big));
	tu_write_bytes(dir, DIRECTIVE_FILE, big, sizeof(big));
	assert_int_equal(directive_load(dir, &back, why, sizeof(why)), DIRECTIVE_REC_CORRUPT);
	assert_non_null(strstr(why, "larger than"));
	/* Not a regular file (issue 16 item 9): refused at once, never waited on. */
	unlink(tu_path(path, dir, DIRECTIVE_FILE));
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10); /* SIGALRM's default action ends the test should the load block */
	assert_int_equal(directive_load(dir, &back, why, sizeof(why)), DIRECTIVE_REC_CORRUPT);
	alarm(0);
	assert_non_null(strstr(why, "not a regular file"));
	unlink(path);
	assert_int_equal(symlink("/dev/zero", path), 0);
	assert_int_equal(directive_load(dir, &back, why, sizeof(why)), DIRECTIVE_REC_CORRUPT);
	assert_non_null(strstr(why, "symbolic link"));
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_table),
	    cmocka_unit_test(test_check_never_shows_token),
	    cmocka_unit_test(test_kinds),
	    cmocka_unit_test(test_record_round_trip),
	    cmocka_unit_test(test_record_damage),
	    cmocka_unit_test(test_record_bad_content),
	    cmocka_unit_test(test_record_file_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
