/*
 * Recovery plans without I/O: which steps a diagnosis calls for, in which order, with the
 * board's manual steps; and every gate, each way it can fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

#define NOW 1000000

static struct plan_node nodes[3];
static struct store_observation obs[12];
static struct plan_view view;
static bool none[3];

static void node(int i, const char *id)
{
	struct plan_node *n = &nodes[i];

	memset(n, 0, sizeof(*n));
	snprintf(n->entry.node_id, sizeof(n->entry.node_id), "%s", id);
	snprintf(n->entry.enrolled_serial, sizeof(n->entry.enrolled_serial), "AA%02d", i);
	snprintf(n->cert_serial, sizeof(n->cert_serial), "AA%02d", i);
	n->entry.has_report = true;
	n->entry.report_at = NOW - 1;
	n->entry.report_state = KMA_STATE_ENROLLED;
	snprintf(n->boot_id, sizeof(n->boot_id), "boot-%d", i);
	n->health_known = n->healthy = true;
	n->table_version = 7;
}

/* Every pair ok in both directions, observed at NOW - 2. */
static int setup(void **state)
{
	static const char *const ids[] = {"a-kma01", "a-kma02", "u-kma02"};
	size_t k = 0;

	(void)state;
	for (int i = 0; i < 3; i++)
		node(i, ids[i]);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			for (int d = 0; d < 2 && i != j; d++) {
				struct store_observation *o = &obs[k++];

				memset(o, 0, sizeof(*o));
				snprintf(o->node_id, sizeof(o->node_id), "%s", ids[i]);
				snprintf(o->peer_id, sizeof(o->peer_id), "%s", ids[j]);
				o->direction = kma_direction_from_id(d ? "inbound" : "outbound");
				o->cause = KMA_CAUSE_OK;
				o->at = NOW - 2;
			}
	view = (struct plan_view){.nodes = nodes,
	                          .n = 3,
	                          .obs = obs,
	                          .n_obs = k,
	                          .now = NOW,
	                          .stale_after = 10,
	                          .table_version = 7};
	memset(none, 0, sizeof(none));
	return 0;
}

static struct store_observation *find(const char *n, const char *p, const char *dir)
{
	for (size_t i = 0; i < view.n_obs; i++)
		if (!strcmp(obs[i].node_id, n) && !strcmp(obs[i].peer_id, p) &&
		    obs[i].direction == kma_direction_from_id(dir))
			return &obs[i];
	return NULL;
}

static void finding(struct diag_finding *f, const char *pattern, const char *culprit, bool warn)
{
	memset(f, 0, sizeof(*f));
	f->pattern = kma_pattern_from_id(pattern);
	assert_int_not_equal(f->pattern, KMA_PATTERN_UNSPECIFIED);
	f->warning = warn;
	snprintf(f->culprit, sizeof(f->culprit), "%s", culprit);
	snprintf(f->summary, sizeof(f->summary), "summary of %s", pattern);
	snprintf(f->remedy, sizeof(f->remedy), "remedy of %s", pattern);
}

static void test_build_okm(void **state)
{
	struct diag_finding f[5];
	struct store_step s[16];
	char notes[PLAN_NOTES_MAX][STORE_PLAN_TEXT];
	size_t nn, n;
	static const char *const want[][2] = {
	    {"reboot", "a-kma02"},    {"delete_entry", "a-kma01"}, {"factory_reset", "a-kma01"},
	    {"add_entry", "a-kma01"}, {"quickstart", "a-kma01"},   {"join", "a-kma01"},
	};

	(void)state;
	/* Listed in the diagnosis's order: the identity finding first. */
	finding(&f[0], "node_not_rejoined", "a-kma01", false);
	finding(&f[1], "node_refused", "a-kma02", false);
	finding(&f[2], "node_state", "a-kma01", false);
	finding(&f[3], "cert_expiring", "u-kma02", true);
	finding(&f[4], "pair_failure", "a-kma02 <-> u-kma02", false);
	nodes[0].modes[KMA_STEP_KIND_QUICKSTART].manual = true;
	snprintf(nodes[0].modes[KMA_STEP_KIND_QUICKSTART].instruction, STORE_PLAN_TEXT, "type it");
	n = plan_build(&view, f, 5, s, 16, notes, &nn);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(kma_step_kind_id(s[i].kind), want[i][0]);
		assert_string_equal(s[i].node_id, want[i][1]);
		assert_int_equal(s[i].state, KMA_STEP_STATE_PENDING);
		assert_true(s[i].reason[0] != '\0');
	}
	/* The board's manual QuickStart, with its instruction; the rest automatic. */
	assert_true(s[4].manual);
	assert_string_equal(s[4].instruction, "type it");
	assert_false(s[3].manual);
	/* The pair failure is left to the operator; the warning and a-kma01's state are not. */
	assert_int_equal(nn, 1);
	assert_non_null(strstr(notes[0], "pair_failure a-kma02 <-> u-kma02: remedy"));
}

static void test_build_refused_and_wrong(void **state)
{
	struct diag_finding f[2];
	struct store_step s[16];
	char notes[PLAN_NOTES_MAX][STORE_PLAN_TEXT];
	size_t nn;

	(void)state;
	/* A node both refused and with a wrong identity is reset, not rebooted first. */
	finding(&f[0], "node_refused", "a-kma01", false);
	finding(&f[1], "node_identity_wrong", "a-kma01", false);
	assert_int_equal(plan_build(&view, f, 2, s, 16, notes, &nn), 5);
	assert_int_equal(s[0].kind, KMA_STEP_KIND_DELETE_ENTRY);
	assert_int_equal(nn, 0);
	/* Bounded by max. */
	assert_int_equal(plan_build(&view, f, 2, s, 3, notes, &nn), 3);
	/* Nothing to do. */
	assert_int_equal(plan_build(&view, f, 0, s, 16, notes, &nn), 0);
}

static void test_serving(void **state)
{
	char why[256];

	(void)state;
	assert_true(plan_node_serving(&view, &nodes[0], why, sizeof(why)));
	nodes[0].healthy = false;
	snprintf(nodes[0].health_detail, sizeof(nodes[0].health_detail), "no keys");
	assert_false(plan_node_serving(&view, &nodes[0], why, sizeof(why)));
	assert_non_null(strstr(why, "unhealthy (no keys)"));
	nodes[0].health_known = false;
	assert_false(plan_node_serving(&view, &nodes[0], why, sizeof(why)));
	assert_non_null(strstr(why, "health"));
	node(0, "a-kma01");
	nodes[0].entry.report_at = NOW - 11;
	assert_false(plan_node_serving(&view, &nodes[0], why, sizeof(why)));
	assert_non_null(strstr(why, "11 s ago"));
	nodes[0].entry.report_at = NOW;
	nodes[0].entry.report_state = KMA_STATE_NOT_ENROLLED;
	assert_false(plan_node_serving(&view, &nodes[0], why, sizeof(why)));
	nodes[0].entry.has_report = false;
	assert_false(plan_node_serving(&view, &nodes[0], why, sizeof(why)));
	assert_non_null(strstr(why, "never reported"));
}

static void test_gate_before(void **state)
{
	char why[256];
	bool target[3] = {true, false, false};

	(void)state;
	assert_true(plan_gate_before(&view, none, "a-kma02", 2, why, sizeof(why)));
	/* min_serving counts the others: a-kma01 and u-kma02. */
	assert_false(plan_gate_before(&view, none, "a-kma02", 3, why, sizeof(why)));
	assert_non_null(strstr(why, "leaves 2 serving nodes"));
	/* A broken pair among the others closes the gate... */
	find("a-kma01", "u-kma02", "outbound")->cause = KMA_CAUSE_REJECTED_BY_PEER;
	assert_false(plan_gate_before(&view, none, "a-kma02", 1, why, sizeof(why)));
	assert_non_null(strstr(why, "a-kma01 -> u-kma02 outbound: rejected_by_peer"));
	/* ...unless one end is a node the plan still has to fix (it counts as down). */
	assert_true(plan_gate_before(&view, target, "a-kma02", 1, why, sizeof(why)));
	assert_false(plan_gate_before(&view, target, "a-kma02", 2, why, sizeof(why)));
	/* The node itself need not be sound: it is the one being fixed. */
	find("u-kma02", "a-kma02", "outbound")->cause = KMA_CAUSE_TCP_REFUSED;
	assert_true(plan_gate_before(&view, target, "a-kma02", 1, why, sizeof(why)));
}

static void test_gate_back(void **state)
{
	char why[256];

	(void)state;
	/* Same boot ID: not back. */
	assert_false(plan_gate_back(&view, none, "a-kma02", "boot-1", NOW - 5, why, sizeof(why)));
	assert_non_null(strstr(why, "not come back"));
	/* New boot ID, but the pairs were observed before the reboot. */
	assert_false(plan_gate_back(&view, none, "a-kma02", "boot-0", NOW - 1, why, sizeof(why)));
	assert_non_null(strstr(why, "no outbound observation"));
	assert_true(plan_gate_back(&view, none, "a-kma02", "boot-0", NOW - 5, why, sizeof(why)));
	/* One direction failing since then. */
	find("u-kma02", "a-kma02", "inbound")->cause = KMA_CAUSE_PEER_SERIAL_MISMATCH;
	assert_false(plan_gate_back(&view, none, "a-kma02", "boot-0", NOW - 5, why, sizeof(why)));
	assert_non_null(strstr(why, "peer_serial_mismatch"));
	/* An unhealthy peer is not required to authenticate with it. */
	nodes[2].healthy = false;
	assert_true(plan_gate_back(&view, none, "a-kma02", "boot-0", NOW - 5, why, sizeof(why)));
	assert_false(plan_gate_back(&view, none, "x-kma09", "b", NOW - 5, why, sizeof(why)));
}

static void test_gate_joined_and_pushed(void **state)
{
	char why[256];

	(void)state;
	assert_true(plan_gate_joined(&view, none, "a-kma01", 7, NOW - 5, why, sizeof(why)));
	/* A peer has not taken the new table yet. */
	assert_false(plan_gate_joined(&view, none, "a-kma01", 8, NOW - 5, why, sizeof(why)));
	assert_non_null(strstr(why, "still holds peer table version 7 (want 8)"));
	assert_false(plan_gate_pushed(&view, "a-kma01", 8, why, sizeof(why)));
	/* The node itself does not count for the push (it may not report at all). */
	nodes[1].table_version = nodes[2].table_version = 8;
	assert_true(plan_gate_pushed(&view, "a-kma01", 8, why, sizeof(why)));
	/* Its certificate must carry the enrolled serial. */
	snprintf(nodes[0].cert_serial, sizeof(nodes[0].cert_serial), "BB01");
	assert_false(plan_gate_joined(&view, none, "a-kma01", 8, NOW - 5, why, sizeof(why)));
	assert_non_null(strstr(why, "presents serial BB01, the cluster enrolled AA00"));
	nodes[0].entry.enrolled_serial[0] = '\0';
	assert_false(plan_gate_joined(&view, none, "a-kma01", 8, NOW - 5, why, sizeof(why)));
	assert_non_null(strstr(why, "no enrolled serial"));
}

static void test_kinds(void **state)
{
	(void)state;
	for (int k = 1; k < KMA_STEP_KIND_COUNT; k++)
		assert_int_equal(kma_step_kind_from_id(kma_step_kind_id((enum kma_step_kind)k)), k);
	assert_int_equal(kma_step_kind_from_id("format_disk"), KMA_STEP_KIND_UNSPECIFIED);
	assert_string_equal(kma_step_kind_id(KMA_STEP_KIND_COUNT), "unspecified");
	assert_true(kma_step_kind_disrupts(KMA_STEP_KIND_REBOOT));
	assert_false(kma_step_kind_disrupts(KMA_STEP_KIND_DELETE_ENTRY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_build_okm, setup),
	    cmocka_unit_test_setup(test_build_refused_and_wrong, setup),
	    cmocka_unit_test_setup(test_serving, setup),
	    cmocka_unit_test_setup(test_gate_before, setup),
	    cmocka_unit_test_setup(test_gate_back, setup),
	    cmocka_unit_test_setup(test_gate_joined_and_pushed, setup),
	    cmocka_unit_test_setup(test_kinds, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
