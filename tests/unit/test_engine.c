/*
 * The recovery engine's interlock, with a real store: fed a plan built on a wrong
 * diagnosis, the engine refuses to disrupt a node that its peers authenticate, says why,
 * and sends nothing; fed the right one, it acts only once fresh observations confirm it.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "enroll.h"
#include "kma.pb-c.h"
#include "log.h"
#include "report.h"
#include "store.h"
#include "store_plan.h"

#define NOW 1800000000

static char dir[128], db[192];
static const char *const ids[] = {"n1", "n2", "n3"};
static const char *const serials[] = {"5E01", "5E02", "5E03"};

static const struct engine_params params = {
    .stabilise_s = 5,
    .step_timeout_s = 300,
    .lease_ttl_s = 60,
    .stale_after_s = 30,
    .min_serving = 1,
};

static void healthy(struct store *st, uint64_t seq, int64_t at);

static int setup(void **state)
{
	struct store *st = NULL;

	snprintf(dir, sizeof(dir), "%s/kma-engine-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/coord.db", dir);
	log_init("test_engine", LOG_LVL_ERR);
	if (store_open(db, &st) != STORE_OK)
		return -1;
	for (int i = 0; i < 3; i++) {
		struct store_node n;

		memset(&n, 0, sizeof(n));
		snprintf(n.node_id, sizeof(n.node_id), "%s", ids[i]);
		snprintf(n.address, sizeof(n.address), "127.0.0.%d:9443", i + 1);
		snprintf(n.enrolled_serial, sizeof(n.enrolled_serial), "%s", serials[i]);
		if (store_node_add(st, &n, NOW - 1000) != STORE_OK)
			return -1;
	}
	*state = st;
	healthy(st, 1, NOW - 10); /* before the plan: the gate before a step passes */
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	store_close(*state);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * Node i reports at `at` (sequence seq): enrolled, serving, its own certificate, and its
 * outbound view of every other node: cause[j] ("ok" unless said), presenting seen[j].
 */
static void report(struct store *st, int i, uint64_t seq, int64_t at, const char *const *cause,
                   const char *const *seen)
{
	struct store_facts f = {.boot_id = "boot",
	                        .has_cert = true,
	                        .cert_not_after = NOW + 86400 * 365,
	                        .health_known = true,
	                        .healthy = true,
	                        .health_detail = "ok",
	                        .table_version = 3};
	struct store_obs_in obs[6];
	struct store_report rec = {.node_id = ids[i],
	                           .cert_serial = serials[i],
	                           .boot_id = "boot",
	                           .instance = 1,
	                           .sequence = seq,
	                           .received_at = at,
	                           .state = KMA_STATE_ENROLLED,
	                           .facts = &f};
	size_t n = 0;

	snprintf(f.cert_serial, sizeof(f.cert_serial), "%s", serials[i]);
	for (int j = 0; j < 3; j++) {
		for (int d = 0; d < 2 && j != i; d++) {
			bool failed = !d && cause && cause[j];

			obs[n++] = (struct store_obs_in){
			    .peer_id = ids[j],
			    .direction = d ? KMA_DIRECTION_INBOUND : KMA_DIRECTION_OUTBOUND,
			    .cause = failed ? kma_cause_from_id(cause[j]) : KMA_CAUSE_OK,
			    .alert_sent = -1,
			    .alert_received = -1,
			    .peer_serial = !d && seen && seen[j] ? seen[j] : serials[j],
			    .expected_serial = serials[j],
			    .at = at,
			    .peer_node_id = ids[j],
			    .peer_address = "",
			};
			if (failed && strcmp(cause[j], "tcp_refused") == 0)
				obs[n - 1].peer_serial = "";
		}
	}
	assert_int_equal(store_report_put(st, &rec, obs, n), STORE_OK);
}

/* A plan of one step on node: kind, justified by pattern and serial. */
static void plan_of(struct store *st, const char *kind, const char *node, const char *pattern,
                    const char *serial)
{
	struct store_step s;
	int64_t id;

	memset(&s, 0, sizeof(s));
	s.kind = kma_step_kind_from_id(kind);
	snprintf(s.node_id, sizeof(s.node_id), "%s", node);
	snprintf(s.reason, sizeof(s.reason), "%s on %s", pattern, node);
	s.state = KMA_STEP_STATE_PENDING;
	s.pred_kind = kma_pattern_from_id(pattern);
	assert_int_not_equal(s.pred_kind, KMA_PATTERN_UNSPECIFIED);
	snprintf(s.pred_serial, sizeof(s.pred_serial), "%s", serial);
	assert_int_equal(store_plan_create(st, &s, 1, "alice", NOW, &id), STORE_OK);
}

static void latest(struct store *st, struct store_plan *p, struct store_step *s)
{
	struct store_step *steps = NULL;
	size_t n = 0;

	assert_int_equal(store_plan_latest(st, p, &steps, &n), STORE_OK);
	assert_int_equal(n, 1);
	*s = steps[0];
	free(steps);
}

static bool nothing_sent(struct store *st, const char *node)
{
	struct store_step s;
	struct store_lease l;

	return store_directive_for(st, node, &s, &l) == STORE_NOT_FOUND &&
	       store_lease_get(st, NOW + 100, &l) == STORE_NOT_FOUND;
}

/* Every node reports a healthy mesh at `at`. */
static void healthy(struct store *st, uint64_t seq, int64_t at)
{
	for (int i = 0; i < 3; i++)
		report(st, i, seq, at, NULL, NULL);
}

/* The diagnosis said n2 refuses connections; its peers authenticate it: never rebooted. */
static void test_wrong_reboot_refused(void **state)
{
	struct store *st = *state;
	struct store_plan p;
	struct store_step s;

	plan_of(st, "reboot", "n2", "node_refused", "");
	engine_tick(st, &params, NOW); /* the gate begins now: nothing fresh yet */
	latest(st, &p, &s);
	assert_int_equal(p.state, KMA_PLAN_STATE_RUNNING);
	assert_int_equal(s.phase, KMA_STEP_PHASE_GATE);
	assert_non_null(strstr(s.detail, "0 of the 2 nodes needed"));
	healthy(st, 2, NOW + 1);
	engine_tick(st, &params, NOW + 2);
	latest(st, &p, &s);
	assert_int_equal(p.state, KMA_PLAN_STATE_PAUSED);
	assert_non_null(strstr(p.detail, "its reason no longer holds"));
	assert_non_null(strstr(p.detail, "authenticated n2"));
	assert_true(nothing_sent(st, "n2"));
}

/* The diagnosis said n1 was not rejoined; its peers find its enrolled certificate there. */
static void test_wrong_rejoin_refused(void **state)
{
	struct store *st = *state;
	const char *const seen[] = {"5EAA", NULL, NULL};
	const char *const cause[] = {"peer_serial_mismatch", NULL, NULL};
	struct store_node n;
	struct store_plan p;
	struct store_step s;

	plan_of(st, "delete_entry", "n1", "node_not_rejoined", "5EAA");
	engine_tick(st, &params, NOW);
	/* n2 finds 5EAA there, as the diagnosis did; n3 authenticates n1: no. */
	report(st, 0, 2, NOW + 1, NULL, NULL);
	report(st, 1, 2, NOW + 1, cause, seen);
	report(st, 2, 2, NOW + 1, NULL, NULL);
	engine_tick(st, &params, NOW + 2);
	latest(st, &p, &s);
	assert_int_equal(p.state, KMA_PLAN_STATE_PAUSED);
	assert_non_null(strstr(p.detail, "n3 authenticated n1"));
	assert_int_equal(store_node_get(st, "n1", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "5E01"); /* not deleted */
	assert_string_equal(n.pending_serial, "");
}

/* The right diagnosis: once both others see n2 refuse since the gate began, it acts. */
static void test_right_reboot_goes(void **state)
{
	struct store *st = *state;
	const char *const cause[] = {NULL, "tcp_refused", NULL};
	struct store_plan p;
	struct store_step s, d;
	struct store_lease l;

	plan_of(st, "reboot", "n2", "node_refused", "");
	engine_tick(st, &params, NOW);
	report(st, 0, 2, NOW + 1, cause, NULL);
	report(st, 1, 2, NOW + 1, NULL, NULL);
	engine_tick(st, &params, NOW + 2); /* one witness of two */
	latest(st, &p, &s);
	assert_int_equal(s.phase, KMA_STEP_PHASE_GATE);
	assert_non_null(strstr(s.detail, "1 of the 2 nodes needed has observed"));
	report(st, 2, 2, NOW + 3, cause, NULL);
	engine_tick(st, &params, NOW + 4);
	latest(st, &p, &s);
	assert_int_equal(p.state, KMA_PLAN_STATE_RUNNING);
	assert_int_equal(s.phase, KMA_STEP_PHASE_DIRECTIVE);
	assert_int_equal(store_directive_for(st, "n2", &d, &l), STORE_OK);
	assert_int_equal(d.kind, KMA_STEP_KIND_REBOOT);
}

/*
 * An abort while a reboot directive is out: the plan ends, its step is stopped (not left
 * active, which every view would show as still going on), the lease is free and no
 * directive is handed out any more; nothing can be confirmed or resumed afterwards.
 */
static void test_abort_stops_the_step(void **state)
{
	struct store *st = *state;
	const char *const cause[] = {NULL, "tcp_refused", NULL};
	struct store_plan p;
	struct store_step s, d;
	struct store_lease l;
	char why[256];

	plan_of(st, "reboot", "n2", "node_refused", "");
	engine_tick(st, &params, NOW);
	report(st, 0, 2, NOW + 1, cause, NULL);
	report(st, 1, 2, NOW + 1, NULL, NULL);
	report(st, 2, 2, NOW + 1, cause, NULL);
	engine_tick(st, &params, NOW + 2);
	assert_int_equal(store_directive_for(st, "n2", &d, &l), STORE_OK);
	assert_int_equal(engine_abort(st, "alice", NOW + 3, why, sizeof(why)), ENGINE_OK);
	latest(st, &p, &s);
	assert_int_equal(p.state, KMA_PLAN_STATE_ABORTED);
	assert_string_equal(p.detail, "aborted by alice");
	assert_int_equal(s.state, KMA_STEP_STATE_STOPPED);
	assert_int_equal(s.finished_at, NOW + 3);
	assert_non_null(strstr(s.detail, "stopped by the abort while directive"));
	assert_true(nothing_sent(st, "n2"));
	assert_int_equal(engine_resume(st, "alice", NOW + 4, why, sizeof(why)), ENGINE_CONFLICT);
	assert_int_equal(engine_abort(st, "alice", NOW + 4, why, sizeof(why)), ENGINE_CONFLICT);
	engine_tick(st, &params, NOW + 5); /* an ended plan stays as it ended */
	latest(st, &p, &s);
	assert_int_equal(s.state, KMA_STEP_STATE_STOPPED);
}

/* A rejoin confirmed: the node's reports with the certificate its peers found are taken. */
static void test_rejoin_takes_the_certificate(void **state)
{
	struct store *st = *state;
	const char *const seen[] = {"5EAA", NULL, NULL};
	const char *const cause[] = {"peer_serial_mismatch", NULL, NULL};
	struct store_report rec = {.node_id = "n1",
	                           .cert_serial = "5EAA",
	                           .boot_id = "b",
	                           .instance = 2,
	                           .sequence = 1,
	                           .received_at = NOW + 5,
	                           .state = KMA_STATE_NOT_ENROLLED};
	struct store_node n;
	struct store_plan p;
	struct store_step s;

	assert_int_equal(store_report_put(st, &rec, NULL, 0), STORE_NOT_PINNED);
	plan_of(st, "delete_entry", "n1", "node_not_rejoined", "5EAA");
	engine_tick(st, &params, NOW);
	report(st, 1, 2, NOW + 1, cause, seen);
	report(st, 2, 2, NOW + 1, cause, seen);
	engine_tick(st, &params, NOW + 2);
	latest(st, &p, &s);
	assert_int_equal(p.state, KMA_PLAN_STATE_RUNNING);
	assert_int_equal(store_node_get(st, "n1", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "");
	assert_string_equal(n.pending_serial, "5EAA");
	rec.sequence = 2;
	assert_int_equal(store_report_put(st, &rec, NULL, 0), STORE_OK);
}

/*
 * The one-time token add_entry issues for an automatic QuickStart is sent in the
 * QuickStart's directive, but the database never holds it: not in steps.secret, nowhere in
 * the database's files (issue 16, item 11).
 */
static void test_token_not_stored(void **state)
{
	struct store *st = *state;
	struct store_step s[2], *steps = NULL;
	struct store_plan p;
	size_t n = 0;
	int64_t id;
	char hash[STORE_TOKEN_HASH_MAX], path[256];
	const char *token = NULL;
	Kma__V1__CoordinatorReply *rep = NULL;
	unsigned char *reply = NULL;
	size_t len = 0;

	memset(s, 0, sizeof(s));
	s[0].kind = KMA_STEP_KIND_ADD_ENTRY;
	s[1].kind = KMA_STEP_KIND_QUICKSTART;
	for (int i = 0; i < 2; i++) {
		snprintf(s[i].node_id, sizeof(s[i].node_id), "n1");
		snprintf(s[i].reason, sizeof(s[i].reason), "rejoin n1");
		s[i].state = KMA_STEP_STATE_PENDING;
	}
	assert_int_equal(store_plan_create(st, s, 2, "alice", NOW, &id), STORE_OK);
	for (int t = 0; t < 6 && !token; t++) {
		engine_tick(st, &params, NOW + t);
		healthy(st, 2 + (uint64_t)t, NOW + t);
		assert_int_equal(
		    report_build_reply(st, NULL, "n1", 1, 5000, 0, NOW + t, &reply, &len), 0);
		rep = kma__v1__coordinator_reply__unpack(NULL, len, reply);
		assert_non_null(rep);
		if (rep->n_directives == 1 && rep->directives[0]->enrolment_token[0])
			token = strdup(rep->directives[0]->enrolment_token);
		kma__v1__coordinator_reply__free_unpacked(rep, NULL);
		free(reply);
	}
	assert_non_null(token);
	/* The directive's token is the one the store will redeem. */
	enroll_token_hash(token, hash);
	assert_int_equal(store_token_check(st, hash, "n1", NOW + 10), STORE_OK);
	/* What the steps keep is not a token the store would take. */
	assert_int_equal(store_plan_latest(st, &p, &steps, &n), STORE_OK);
	for (size_t i = 0; i < n; i++) {
		assert_null(strstr(steps[i].secret, token));
		enroll_token_hash(steps[i].secret, hash);
		assert_int_not_equal(store_token_check(st, hash, "n1", NOW + 10), STORE_OK);
	}
	free(steps);
	/* Nor is it anywhere in the database's files. */
	for (int f = 0; f < 2; f++) {
		FILE *fp;
		char *buf;
		long size;

		snprintf(path, sizeof(path), "%s%s", db, f ? "-wal" : "");
		fp = fopen(path, "rb");
		if (!fp)
			continue;
		assert_int_equal(fseek(fp, 0, SEEK_END), 0);
		size = ftell(fp);
		rewind(fp);
		buf = malloc((size_t)size + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
		fclose(fp);
		assert_null(memmem(buf, (size_t)size, token, strlen(token)));
		free(buf);
	}
	free((void *)token);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wrong_reboot_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_rejoin_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_right_reboot_goes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_stops_the_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejoin_takes_the_certificate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_not_stored, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
