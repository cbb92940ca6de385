/*
 * agent/recovery.c on the sim HAL and a real event loop: a directive from receipt to the
 * result reports carry, and what the record makes of it across a restart.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <time.h>

#include "directive.h"
#include "recovery.h"
#include "sim_fixture.h"

#define NODE "a-kma01"

struct fixture {
	char *dir;
	char root[PATH_MAX];
	char state[PATH_MAX];
	struct board board;
	struct hal hal;
	struct agent_config cfg;
	struct event_base *base;
	struct coordlink_status status;
	struct recovery rec;
	unsigned reports, erased, changed;
};

static void on_report(void *arg)
{
	((struct fixture *)arg)->reports++;
}

static void on_erased(void *arg)
{
	((struct fixture *)arg)->erased++;
}

static void on_changed(void *arg)
{
	((struct fixture *)arg)->changed++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tu_sim_open("recovery", false, &f->dir, f->root, f->state, &f->board, &f->hal);
	f->base = event_base_new();
	assert_non_null(f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	recovery_stop(&f->rec);
	event_base_free(f->base);
	hal_close(&f->hal);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* (Re)starts recovery as a (re)started agent would: fresh status, fresh module. */
static void start(struct fixture *f)
{
	struct recovery_deps deps = {
	    .status = &f->status,
	    .node_id = NODE,
	    .report = on_report,
	    .identity_erased = on_erased,
	    .identity_changed = on_changed,
	    .arg = f,
	};

	recovery_stop(&f->rec);
	memset(&f->rec, 0, sizeof(f->rec));
	memset(&f->status, 0, sizeof(f->status));
	f->status.phase = KMA__V1__PHASE__PHASE_RUNNING;
	assert_int_equal(recovery_start(&f->rec, f->base, &f->hal, &f->cfg, &deps), 0);
}

/* Hands one directive to recovery as a reply would. */
static void deliver(struct fixture *f, const char *id, Kma__V1__DirectiveKind kind,
                    uint64_t fencing)
{
	Kma__V1__Directive d = KMA__V1__DIRECTIVE__INIT;
	Kma__V1__Lease l = KMA__V1__LEASE__INIT;
	Kma__V1__Directive *ds[] = {&d};

	d.id = (char *)id;
	d.kind = kind;
	if (fencing) {
		l.node_id = (char *)NODE;
		l.fencing_token = fencing;
		l.expires_at = (int64_t)time(NULL) + 3600;
		d.lease = &l;
	}
	recovery_directives(&f->rec, ds, 1);
}

static void expect_record(struct fixture *f, const char *id, bool ok, const char *detail_has)
{
	struct directive_record r;
	char why[300];

	assert_int_equal(directive_load(f->state, &r, why, sizeof(why)), DIRECTIVE_REC_OK);
	assert_string_equal(r.id, id);
	assert_int_equal(r.ok, ok);
	assert_non_null(strstr(r.detail, detail_has));
	assert_string_equal(f->status.directive.id, id);
	assert_true(f->status.has_directive);
}

static void test_answer_once(void **state)
{
	struct fixture *f = *state;
	unsigned reports;

	start(f);
	assert_false(f->status.has_directive);
	deliver(f, "j1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_JOIN, 0);
	expect_record(f, "j1", true, "nothing to do");
	assert_int_not_equal(f->status.directive.done_at, 0);
	assert_true(f->reports > 0);
	/* The coordinator re-sends until it sees the result: not handled again. */
	reports = f->reports;
	deliver(f, "j1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_JOIN, 0);
	assert_int_equal(f->reports, reports);
	/* Nor after a restart: the record remembers it. */
	start(f);
	assert_string_equal(f->status.directive.id, "j1");
	reports = f->reports;
	deliver(f, "j1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_JOIN, 0);
	assert_int_equal(f->reports, reports);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;

	start(f);
	deliver(f, "r1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT, 0);
	expect_record(f, "r1", false, "needs a lease");
	assert_int_equal(f->status.phase, KMA__V1__PHASE__PHASE_RUNNING);
	assert_int_equal(f->status.directive.fencing, 0);
	/* A malformed id is only logged: nothing recorded, nothing reported. */
	deliver(f, "bad id", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_HOLD, 0);
	assert_string_equal(f->status.directive.id, "r1");
}

static void test_unreadable_record_blocks(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *was;

	tu_write(f->state, DIRECTIVE_FILE, "not a record");
	start(f);
	deliver(f, "h1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_HOLD, 0);
	assert_string_equal(f->status.directive.id, "h1");
	assert_false(f->status.directive.ok);
	assert_non_null(strstr(f->status.directive.detail, "directive record unusable"));
	/* Nothing may overwrite it. */
	was = tu_read(f->state, DIRECTIVE_FILE, &len);
	assert_int_equal(len, strlen("not a record"));
	assert_memory_equal(was, "not a record", len);
	free(was);
}

static void test_factory_reset(void **state)
{
	struct fixture *f = *state;

	start(f);
	deliver(f, "f1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET, 9);
	/* Recorded as started before anything is done; acted on in the loop's next turn. */
	expect_record(f, "f1", true, "started");
	assert_int_equal(f->status.phase, KMA__V1__PHASE__PHASE_FACTORY_RESET);
	assert_int_equal(f->erased, 0);
	/* One at a time: nothing new is taken up meanwhile. */
	deliver(f, "h2", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_HOLD, 0);
	assert_string_equal(f->status.directive.id, "f1");
	assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
	expect_record(f, "f1", true, "identity erased");
	assert_int_equal(f->erased, 1);
	assert_int_equal(f->changed, 1);
	assert_int_equal(f->status.phase, KMA__V1__PHASE__PHASE_RUNNING);
	assert_int_equal(f->status.directive.fencing, 9);
	/* The same fencing token again is stale. */
	deliver(f, "f2", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET, 9);
	expect_record(f, "f2", false, "stale fencing token");
	assert_int_equal(f->status.directive.fencing, 9);
}

static void test_reboot_across_restart(void **state)
{
	struct fixture *f = *state;

	start(f);
	deliver(f, "b1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT, 3);
	assert_int_equal(f->status.phase, KMA__V1__PHASE__PHASE_REBOOTING);
	assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
	/* The sim's reboot: a new boot ID, and the agent re-executes. */
	assert_true(recovery_reexec(&f->rec));
	expect_record(f, "b1", true, "rebooting");
	assert_int_equal(f->status.directive.done_at, 0);
	start(f);
	expect_record(f, "b1", true, "rebooted: boot ID");
	assert_int_not_equal(f->status.directive.done_at, 0);
	assert_false(recovery_reexec(&f->rec));
}

static void test_cut_short(void **state)
{
	struct fixture *f = *state;

	start(f);
	deliver(f, "q1", KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT, 4);
	/* The agent stops before acting, and comes back on the same boot. */
	start(f);
	expect_record(f, "q1", false, "without a reboot");
	assert_int_equal(f->status.phase, KMA__V1__PHASE__PHASE_RUNNING);
	assert_int_equal(f->status.directive.fencing, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_answer_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_record_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_factory_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reboot_across_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cut_short, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
