/* POST /v1/report logic: the 422 table, the contract's check order, and the reply. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "report.h"
#include "store_plan.h"
#include "store.h"

/* One report with n peers, all fields the agent normally fills. */
struct fixture {
	Kma__V1__AgentReport r;
	Kma__V1__CertInfo own;
	Kma__V1__PeerObservation obs[300];
	Kma__V1__PeerObservation *ptrs[300];
	Kma__V1__HardwarePart parts[2];
	char long_string[400];
};

/* A client whose certificate names id; its serial is not checked. */
static const struct report_client *as(const char *id)
{
	static struct report_client who;

	who = (struct report_client){id, NULL, "127.0.0.1"};
	return &who;
}

static void fixture_init(struct fixture *f, size_t n_peers)
{
	memset(f, 0, sizeof(*f));
	kma__v1__agent_report__init(&f->r);
	kma__v1__cert_info__init(&f->own);
	f->r.node_id = "a-kma01";
	f->r.sequence = 3;
	f->r.state = KMA__V1__IDENTITY_STATE__IDENTITY_STATE_ENROLLED;
	f->r.phase = KMA__V1__PHASE__PHASE_RUNNING;
	f->own.serial = "E2207FDBA432E9010000000000000084";
	f->r.own_cert = &f->own;
	f->parts[0] = KMA__V1__HARDWARE_PART__HARDWARE_PART_BOARD;
	f->r.parts_changed = f->parts;
	f->r.n_parts_changed = 1;
	for (size_t i = 0; i < n_peers; i++) {
		kma__v1__peer_observation__init(&f->obs[i]);
		f->obs[i].peer_node_id = "u-kma02";
		f->obs[i].direction = KMA__V1__DIRECTION__DIRECTION_OUTBOUND;
		f->obs[i].cause = KMA__V1__CAUSE__CAUSE_OK;
		f->ptrs[i] = &f->obs[i];
	}
	f->r.peers = f->ptrs;
	f->r.n_peers = n_peers;
}

/* The validation table: one mutation per row, applied to a valid report. */
enum mutation {
	M_NONE,
	M_EMPTY_NODE_ID,
	M_256_PEERS,
	M_257_PEERS,
	M_BAD_STATE,
	M_BAD_PHASE,
	M_BAD_CAUSE,
	M_BAD_DIRECTION,
	M_BAD_PART,
	M_STRING_256,
	M_STRING_257,
	M_NESTED_STRING_257,
	M_PEER_WITHOUT_ID,
};

static const struct {
	enum mutation m;
	bool valid;
	const char *why; /* substring of the reason */
} cases[] = {
    {M_NONE, true, NULL},
    {M_EMPTY_NODE_ID, false, "node_id is empty"},
    {M_256_PEERS, true, NULL},
    {M_257_PEERS, false, "peers: 257 entries"},
    {M_BAD_STATE, false, "state: 99"},
    {M_BAD_PHASE, false, "phase: -1"},
    {M_BAD_CAUSE, false, "peers.cause: 25 is not a Cause"},
    {M_BAD_DIRECTION, false, "peers.direction: 3"},
    {M_BAD_PART, false, "parts_changed: 6"},
    {M_STRING_256, true, NULL},
    {M_STRING_257, false, "boot_id: string of 257 bytes"},
    {M_NESTED_STRING_257, false, "own_cert.subject: string of 257"},
    {M_PEER_WITHOUT_ID, false, "peers[1].peer_node_id is empty"},
};

static void mutate(struct fixture *f, enum mutation m)
{
	switch (m) {
	case M_NONE:
		break;
	case M_EMPTY_NODE_ID:
		f->r.node_id = "";
		break;
	case M_256_PEERS:
		fixture_init(f, 256);
		break;
	case M_257_PEERS:
		fixture_init(f, 257);
		break;
	case M_BAD_STATE:
		f->r.state = (Kma__V1__IdentityState)99;
		break;
	case M_BAD_PHASE:
		f->r.phase = (Kma__V1__Phase)-1;
		break;
	case M_BAD_CAUSE:
		f->obs[1].cause = (Kma__V1__Cause)25;
		break;
	case M_BAD_DIRECTION:
		f->obs[0].direction = (Kma__V1__Direction)3;
		break;
	case M_BAD_PART:
		f->parts[1] = (Kma__V1__HardwarePart)6;
		f->r.n_parts_changed = 2;
		break;
	case M_STRING_256:
	case M_STRING_257:
	case M_NESTED_STRING_257:
		memset(f->long_string, 'x', m == M_STRING_256 ? 256 : 257);
		if (m == M_NESTED_STRING_257)
			f->own.subject = f->long_string;
		else
			f->r.boot_id = f->long_string;
		break;
	case M_PEER_WITHOUT_ID:
		f->obs[1].peer_node_id = "";
		break;
	}
}

static void test_validate_table(void **state)
{
	static struct fixture f;
	char why[192];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_init(&f, 2);
		mutate(&f, cases[i].m);
		why[0] = '\0';
		if (report_validate(&f.r, why, sizeof(why)) != cases[i].valid)
			fail_msg("case %zu: valid=%d, want %d (%s)", i, !cases[i].valid,
			         cases[i].valid, why);
		if (cases[i].why && !strstr(why, cases[i].why))
			fail_msg("case %zu: reason '%s' lacks '%s'", i, why, cases[i].why);
	}
}

static void test_content_type(void **state)
{
	(void)state;
	assert_true(report_content_type_ok("application/x-protobuf"));
	assert_true(report_content_type_ok("Application/X-Protobuf; charset=binary"));
	assert_false(report_content_type_ok(NULL));
	assert_false(report_content_type_ok("application/json"));
	assert_false(report_content_type_ok("application/x-protobuffer"));
	assert_false(report_content_type_ok(""));
}

/* What a report says of its node is typed once, at decode (report_in.facts). */
static void test_decode_facts(void **state)
{
	struct fixture f;
	Kma__V1__KeyServiceHealth h = KMA__V1__KEY_SERVICE_HEALTH__INIT;
	Kma__V1__KmipCheck k = KMA__V1__KMIP_CHECK__INIT;
	Kma__V1__ListenQueue q[3] = {KMA__V1__LISTEN_QUEUE__INIT, KMA__V1__LISTEN_QUEUE__INIT,
	                             KMA__V1__LISTEN_QUEUE__INIT};
	Kma__V1__ListenQueue *qp[3] = {&q[0], &q[1], &q[2]};
	Kma__V1__RecoveryStepMode m[2] = {KMA__V1__RECOVERY_STEP_MODE__INIT,
	                                  KMA__V1__RECOVERY_STEP_MODE__INIT};
	Kma__V1__RecoveryStepMode *mp[2] = {&m[0], &m[1]};
	Kma__V1__DirectiveResult d = KMA__V1__DIRECTIVE_RESULT__INIT;
	struct report_outcome out;
	struct report_in in;
	unsigned char buf[4096];
	size_t len;

	(void)state;
	fixture_init(&f, 0);
	f.parts[1] = KMA__V1__HARDWARE_PART__HARDWARE_PART_DISK;
	f.r.n_parts_changed = 2;
	f.r.boot_id = "b-1";
	f.own.not_after = 2000000000;
	h.healthy = true;
	h.detail = "answered";
	h.checked_at = 77;
	k.endpoint = "127.0.0.1:5696";
	k.result = 1;
	k.cause = KMA__V1__CAUSE__CAUSE_TCP_REFUSED;
	k.answer = "42";
	h.kmip = &k;
	f.r.health = &h;
	q[0].port = 5696;
	q[0].role = "key_service";
	q[0].listening = true;
	q[0].queued = 4;
	q[1].port = 7443;
	q[1].role = "mesh";
	q[2].port = 1; /* one more than an agent sends: still kept up to STORE_LISTENQ_MAX */
	f.r.listen_queues = qp;
	f.r.n_listen_queues = 3;
	m[0].step = "reboot";
	m[0].manual = true;
	m[0].instruction = "press the button";
	m[1].step = "teleport"; /* a step this build does not know: dropped */
	m[1].manual = true;
	f.r.recovery = mp;
	f.r.n_recovery = 2;
	d.directive_id = "d-9";
	d.ok = true;
	d.done_at = 88;
	f.r.last_directive = &d;
	f.r.fencing_token = 6;
	f.r.peer_table_version = 11;
	len = kma__v1__agent_report__pack(&f.r, buf);
	assert_true(len <= sizeof(buf));
	assert_true(report_decode(as("a-kma01"), REPORT_CONTENT_TYPE, buf, len, &in, &out));
	assert_string_equal(in.facts.boot_id, "b-1");
	assert_true(in.facts.has_cert);
	assert_string_equal(in.facts.cert_serial, f.own.serial);
	assert_int_equal(in.facts.cert_not_after, 2000000000);
	assert_true(in.facts.health_known && in.facts.healthy && in.facts.kmip_known);
	assert_string_equal(in.facts.health_detail, "answered");
	assert_int_equal(in.facts.health_checked_at, 77);
	assert_string_equal(in.facts.kmip.endpoint, "127.0.0.1:5696");
	assert_int_equal(in.facts.kmip.result, 1);
	assert_int_equal(in.facts.kmip.cause, KMA_CAUSE_TCP_REFUSED);
	assert_string_equal(in.facts.kmip.answer, "42");
	assert_int_equal(in.facts.n_lq, 3);
	assert_true(in.facts.lq[0].key_service && in.facts.lq[0].listening);
	assert_int_equal(in.facts.lq[0].queued, 4);
	assert_false(in.facts.lq[1].key_service);
	assert_string_equal(in.facts.lq[1].role, "mesh");
	assert_int_equal(in.facts.parts_changed, 1u << KMA_PART_BOARD | 1u << KMA_PART_DISK);
	assert_true(in.facts.modes[KMA_STEP_KIND_REBOOT].set);
	assert_true(in.facts.modes[KMA_STEP_KIND_REBOOT].manual);
	assert_string_equal(in.facts.modes[KMA_STEP_KIND_REBOOT].instruction, "press the button");
	assert_false(in.facts.modes[KMA_STEP_KIND_UNSPECIFIED].set);
	assert_false(in.facts.modes[KMA_STEP_KIND_JOIN].set);
	assert_string_equal(in.facts.last_directive, "d-9");
	assert_true(in.facts.last_ok);
	assert_int_equal(in.facts.last_done_at, 88);
	assert_int_equal(in.facts.fencing, 6);
	assert_int_equal(in.facts.table_version, 11);
	report_in_free(&in);
}

static char dir[128];
static char db[192];

static int setup(void **state)
{
	struct store *st = NULL;
	struct store_node n;
	static const char *const ids[] = {"u-kma02", "a-kma01", "x-kma03"};
	static const char *const serials[] = {"866B070F94660D13000000000000001E",
	                                      "E2207FDBA432E9010000000000000084", ""};

	snprintf(dir, sizeof(dir), "%s/kma-report-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/coord.db", dir);
	log_init("test_report", LOG_LVL_ERR);
	if (store_open(db, &st) != STORE_OK)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		memset(&n, 0, sizeof(n));
		snprintf(n.node_id, sizeof(n.node_id), "%s", ids[i]);
		snprintf(n.name, sizeof(n.name), "%s.example", ids[i]);
		snprintf(n.address, sizeof(n.address), "127.0.0.%zu:9443", i + 1);
		snprintf(n.enrolled_serial, sizeof(n.enrolled_serial), "%s", serials[i]);
		if (store_node_add(st, &n, 1) != STORE_OK)
			return -1;
	}
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	store_close(*state);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_reply_for_node(void **state)
{
	struct store *st = *state;
	Kma__V1__CoordinatorReply *r;
	unsigned char *buf = NULL;
	size_t len = 0;

	assert_int_equal(report_build_reply(st, NULL, "a-kma01", 77, 30000, 0, 0, &buf, &len), 0);
	r = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_int_equal(r->ack_sequence, 77);
	assert_int_equal(r->peer_table_version, 3);
	assert_int_equal(r->next_report_interval_ms, 30000);
	assert_string_equal(r->enrolled_serial, "E2207FDBA432E9010000000000000084");
	/* Every other enrolled node, in node ID order, with its address and serial; x-kma03
	 * has no enrolled serial yet, so it is not a member anyone could pin. */
	assert_int_equal(r->n_peers, 1);
	assert_string_equal(r->peers[0]->node_id, "u-kma02");
	assert_string_equal(r->peers[0]->name, "u-kma02.example");
	assert_string_equal(r->peers[0]->address, "127.0.0.1:9443");
	assert_string_equal(r->peers[0]->enrolled_serial, "866B070F94660D13000000000000001E");
	kma__v1__coordinator_reply__free_unpacked(r, NULL);
	free(buf);
	/* An agent that holds version 3 gets no table, but still its enrolled serial. */
	assert_int_equal(report_build_reply(st, NULL, "a-kma01", 78, 30000, 3, 0, &buf, &len), 0);
	r = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_int_equal(r->peer_table_version, 3);
	assert_int_equal(r->n_peers, 0);
	assert_string_equal(r->enrolled_serial, "E2207FDBA432E9010000000000000084");
	kma__v1__coordinator_reply__free_unpacked(r, NULL);
	free(buf);
	/* One that holds an older version gets the table. */
	assert_int_equal(report_build_reply(st, NULL, "a-kma01", 79, 30000, 2, 0, &buf, &len), 0);
	r = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_int_equal(r->n_peers, 1);
	kma__v1__coordinator_reply__free_unpacked(r, NULL);
	free(buf);
}

/* While a recovery plan is unfinished every node is asked to report every second. */
static void test_reply_interval_during_plan(void **state)
{
	struct store *st = *state;
	struct store_step step = {.manual = false};
	Kma__V1__CoordinatorReply *r;
	unsigned char *buf = NULL;
	size_t len = 0;
	int64_t id = 0;

	step.kind = KMA_STEP_KIND_REBOOT;
	snprintf(step.node_id, sizeof(step.node_id), "u-kma02");
	step.state = KMA_STEP_STATE_PENDING;
	assert_int_equal(store_plan_create(st, &step, 1, "alice", 1000, &id), STORE_OK);
	assert_int_equal(report_build_reply(st, NULL, "a-kma01", 1, 30000, 0, 0, &buf, &len), 0);
	r = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_int_equal(r->next_report_interval_ms, REPORT_RECOVERY_INTERVAL_MS);
	/* No lease, no phase "directive": nothing is sent yet. */
	assert_int_equal(r->n_directives, 0);
	kma__v1__coordinator_reply__free_unpacked(r, NULL);
	free(buf);
	assert_int_equal(store_plan_set_state(st, id, KMA_PLAN_STATE_DONE, "", 1001), STORE_OK);
	assert_int_equal(report_build_reply(st, NULL, "a-kma01", 2, 30000, 0, 0, &buf, &len), 0);
	r = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_int_equal(r->next_report_interval_ms, 30000);
	kma__v1__coordinator_reply__free_unpacked(r, NULL);
	free(buf);
}

static unsigned char *pack(const Kma__V1__AgentReport *r, size_t *len)
{
	unsigned char *buf;

	*len = kma__v1__agent_report__get_packed_size(r);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(kma__v1__agent_report__pack(r, buf), *len);
	return buf;
}

static uint64_t rejects(struct store *st, int status)
{
	uint64_t c = 0;

	assert_int_equal(store_rejects_get(st, status, &c), STORE_OK);
	return c;
}

/* Each check answers with its own status, in the contract's order, and is counted. */
static void test_handle_order(void **state)
{
	struct store *st = *state;
	static struct fixture f;
	struct report_outcome out;
	struct store_node n;
	unsigned char *body;
	size_t len;
	const char *ct = "application/x-protobuf";

	fixture_init(&f, 1);
	body = pack(&f.r, &len);
	/* 415 comes before decoding: a garbage body with the wrong type is a 415. */
	report_handle(st, 1000, NULL, as("a-kma01"), "text/plain", (const unsigned char *)"\xff", 1,
	              5, &out);
	assert_int_equal(out.status, 415);
	assert_non_null(strstr(out.reason, "application/x-protobuf"));
	report_handle(st, 1000, NULL, as("a-kma01"), ct, (const unsigned char *)"\xff\xff", 2, 5,
	              &out);
	assert_int_equal(out.status, 400);
	/* The certificate's node speaking for another. */
	report_handle(st, 1000, NULL, as("u-kma02"), ct, body, len, 5, &out);
	assert_int_equal(out.status, 403);
	assert_non_null(strstr(out.reason, "differs"));
	free(body);

	/* 422 comes before the identity check. */
	f.r.state = (Kma__V1__IdentityState)42;
	body = pack(&f.r, &len);
	report_handle(st, 1000, NULL, as("u-kma02"), ct, body, len, 5, &out);
	assert_int_equal(out.status, 422);
	free(body);

	/* A well-formed report of a node the cluster does not have. */
	fixture_init(&f, 0);
	f.r.node_id = "stranger";
	body = pack(&f.r, &len);
	report_handle(st, 1000, NULL, as("stranger"), ct, body, len, 5, &out);
	assert_int_equal(out.status, 403);
	assert_non_null(strstr(out.reason, "not in the cluster"));
	free(body);

	assert_int_equal(rejects(st, 415), 1);
	assert_int_equal(rejects(st, 400), 1);
	assert_int_equal(rejects(st, 422), 1);
	assert_int_equal(rejects(st, 403), 2);

	/* And the good one: stored, acknowledged. */
	fixture_init(&f, 1);
	f.r.sequence = 9;
	body = pack(&f.r, &len);
	report_handle(st, 1000, NULL, as("a-kma01"), ct, body, len, 5, &out);
	assert_int_equal(out.status, 200);
	assert_non_null(out.reply);
	free(out.reply);
	free(body);
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_true(n.has_report);
	assert_int_equal(n.report_sequence, 9);
	assert_int_equal(n.report_state, KMA_STATE_ENROLLED);
}

/* Several reports stored together: each answered for itself, a stranger among them too. */
static void test_store_batch(void **state)
{
	struct store *st = *state;
	static struct fixture f[3];
	static const char *const ids[] = {"a-kma01", "stranger", "u-kma02"};
	struct report_in in[3];
	struct report_outcome out[3], rej;
	struct report_item items[3];
	Kma__V1__CoordinatorReply *r;
	unsigned char *body[3];
	size_t len[3];
	uint64_t before = rejects(st, STORE_ACCEPTED_STATUS);
	struct store_node n;

	for (size_t i = 0; i < 3; i++) {
		fixture_init(&f[i], 1);
		f[i].r.node_id = (char *)ids[i];
		f[i].r.sequence = 20 + i;
		body[i] = pack(&f[i].r, &len[i]);
		assert_true(
		    report_decode(as(ids[i]), REPORT_CONTENT_TYPE, body[i], len[i], &in[i], &rej));
		items[i].in = &in[i];
		items[i].out = &out[i];
	}
	report_store_batch(st, 30000, NULL, items, 3, 50);
	assert_int_equal(out[0].status, 200);
	assert_int_equal(out[1].status, 403);
	assert_non_null(strstr(out[1].reason, "not in the cluster"));
	assert_null(out[1].reply);
	assert_int_equal(out[2].status, 200);
	for (size_t i = 0; i < 3; i += 2) {
		r = kma__v1__coordinator_reply__unpack(NULL, out[i].reply_len, out[i].reply);
		assert_non_null(r);
		assert_int_equal(r->ack_sequence, 20 + i);
		/* Each its own peers: everyone enrolled but itself. */
		assert_int_equal(r->n_peers, 1);
		assert_string_equal(r->peers[0]->node_id, i == 0 ? "u-kma02" : "a-kma01");
		kma__v1__coordinator_reply__free_unpacked(r, NULL);
		assert_int_equal(store_node_get(st, ids[i], &n), STORE_OK);
		assert_int_equal(n.report_sequence, 20 + i);
		assert_int_equal(n.report_at, 50);
	}
	assert_int_equal(rejects(st, STORE_ACCEPTED_STATUS), before + 2);
	assert_int_equal(rejects(st, 403), 1);
	for (size_t i = 0; i < 3; i++) {
		free(out[i].reply);
		report_in_free(&in[i]);
		free(body[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validate_table),
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_decode_facts),
	    cmocka_unit_test_setup_teardown(test_reply_for_node, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_interval_during_plan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handle_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_batch, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
