/* The coordinator's SQLite store: schema, nodes, enrolment history, reports, durability. */

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
#include "store.h"
#include "store_sqlite.h"

#define REPORT_PEERS 256

static char dir[128];
static char db[192];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/kma-store-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/coord.db", dir);
	log_init("test_store", LOG_LVL_ERR);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct store *open_db(void)
{
	struct store *st = NULL;

	assert_int_equal(store_open(db, &st), STORE_OK);
	assert_non_null(st);
	return st;
}

static void add(struct store *st, const char *id, const char *serial, int64_t now)
{
	struct store_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.node_id, sizeof(n.node_id), "%s", id);
	snprintf(n.name, sizeof(n.name), "name of %s", id);
	snprintf(n.address, sizeof(n.address), "%s.example:9443", id);
	snprintf(n.enrolled_serial, sizeof(n.enrolled_serial), "%s", serial);
	assert_int_equal(store_node_add(st, &n, now), STORE_OK);
}

static uint64_t version(struct store *st)
{
	uint64_t v = 12345;

	assert_int_equal(store_peer_table_version(st, &v), STORE_OK);
	return v;
}

/* Facts with a value in every kind of field, the way report.c fills them. */
static void sample_facts(struct store_facts *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->boot_id, sizeof(f->boot_id), "boot-1");
	f->has_cert = true;
	snprintf(f->cert_serial, sizeof(f->cert_serial), "0A1B");
	f->cert_not_after = 1900000000;
	f->health_known = true;
	snprintf(f->health_detail, sizeof(f->health_detail), "KMIP Get answered");
	f->health_checked_at = 990;
	f->kmip_known = true;
	snprintf(f->kmip.endpoint, sizeof(f->kmip.endpoint), "127.0.0.1:5696");
	snprintf(f->kmip.operation, sizeof(f->kmip.operation), "Get");
	f->kmip.result = KMA_KMIP_RESULT_COUNT - 1;
	f->kmip.cause = KMA_CAUSE_TCP_REFUSED;
	f->kmip.latency_ms = 12;
	f->kmip.handshake_ms = 7;
	snprintf(f->kmip.cipher_suite, sizeof(f->kmip.cipher_suite), "TLS-AES-128-GCM-SHA256");
	snprintf(f->kmip.result_status, sizeof(f->kmip.result_status), "success");
	snprintf(f->kmip.answer, sizeof(f->kmip.answer), "a key of 32 bytes");
	snprintf(f->kmip.detail, sizeof(f->kmip.detail), "the key service answered");
	f->kmip.checked_at = 991;
	f->n_lq = 2;
	f->lq[0] = (struct store_listenq){5696, "key_service", true, true, 3, 128, 9, 60};
	f->lq[1] = (struct store_listenq){7443, "mesh", false, false, 0, 64, 0, 60};
	f->parts_changed = 1u << KMA_PART_DISK | 1u << KMA_PART_MAC;
	f->table_version = 42;
	snprintf(f->last_directive, sizeof(f->last_directive), "d-7");
	snprintf(f->last_detail, sizeof(f->last_detail), "rebooted");
	f->last_done_at = 995;
	f->fencing = 5;
	f->modes[KMA_STEP_KIND_REBOOT] = (struct store_step_mode){true, true, "press the button"};
	f->modes[KMA_STEP_KIND_FACTORY_RESET] = (struct store_step_mode){true, false, ""};
}

/* Field by field: a struct's padding is not part of what is stored. */
static void assert_kmip_equal(const struct store_kmip *a, const struct store_kmip *b)
{
	assert_string_equal(a->endpoint, b->endpoint);
	assert_string_equal(a->operation, b->operation);
	assert_int_equal(a->result, b->result);
	assert_int_equal(a->cause, b->cause);
	assert_int_equal(a->latency_ms, b->latency_ms);
	assert_int_equal(a->handshake_ms, b->handshake_ms);
	assert_string_equal(a->cipher_suite, b->cipher_suite);
	assert_string_equal(a->result_status, b->result_status);
	assert_string_equal(a->result_reason, b->result_reason);
	assert_string_equal(a->answer, b->answer);
	assert_string_equal(a->detail, b->detail);
	assert_int_equal(a->checked_at, b->checked_at);
}

static void assert_facts_equal(const struct store_facts *a, const struct store_facts *b)
{
	assert_string_equal(a->boot_id, b->boot_id);
	assert_int_equal(a->has_cert, b->has_cert);
	assert_string_equal(a->cert_serial, b->cert_serial);
	assert_int_equal(a->cert_not_after, b->cert_not_after);
	assert_int_equal(a->health_known, b->health_known);
	assert_int_equal(a->healthy, b->healthy);
	assert_string_equal(a->health_detail, b->health_detail);
	assert_int_equal(a->health_checked_at, b->health_checked_at);
	assert_int_equal(a->kmip_known, b->kmip_known);
	assert_kmip_equal(&a->kmip, &b->kmip);
	assert_int_equal(a->n_lq, b->n_lq);
	for (size_t i = 0; i < a->n_lq; i++) {
		const struct store_listenq *p = &a->lq[i], *q = &b->lq[i];

		assert_int_equal(p->port, q->port);
		assert_string_equal(p->role, q->role);
		assert_int_equal(p->key_service, q->key_service);
		assert_int_equal(p->listening, q->listening);
		assert_int_equal(p->queued, q->queued);
		assert_int_equal(p->backlog, q->backlog);
		assert_int_equal(p->dropped_recently, q->dropped_recently);
		assert_int_equal(p->window_s, q->window_s);
	}
	assert_int_equal(a->parts_changed, b->parts_changed);
	assert_int_equal(a->table_version, b->table_version);
	assert_string_equal(a->last_directive, b->last_directive);
	assert_int_equal(a->last_ok, b->last_ok);
	assert_string_equal(a->last_detail, b->last_detail);
	assert_int_equal(a->last_done_at, b->last_done_at);
	assert_int_equal(a->fencing, b->fencing);
	for (int k = 0; k < KMA_STEP_KIND_COUNT; k++) {
		assert_int_equal(a->modes[k].set, b->modes[k].set);
		assert_int_equal(a->modes[k].manual, b->modes[k].manual);
		assert_string_equal(a->modes[k].instruction, b->modes[k].instruction);
	}
}

static void test_schema_idempotent(void **state)
{
	struct store *st;

	(void)state;
	st = open_db();
	assert_int_equal(version(st), 0);
	store_close(st);
	/* A second open of an existing file neither fails nor resets anything. */
	st = open_db();
	assert_int_equal(version(st), 0);
	add(st, "a-kma01", "", 1);
	store_close(st);
	st = open_db();
	assert_int_equal(version(st), 1);
	store_close(st);
	store_close(NULL);
}

/*
 * A schema v8 file (tokens without the certificate issued for them) migrates: its used
 * token stays used and has nothing to send again; a token redeemed after has.
 */
static void test_schema_v9_tokens(void **state)
{
	struct store *st = open_db();
	struct store_node n;
	unsigned char *der = NULL;
	char serial[STORE_SERIAL_MAX];
	size_t len = 0;

	(void)state;
	memset(&n, 0, sizeof(n));
	snprintf(n.node_id, sizeof(n.node_id), "n1");
	assert_int_equal(store_node_add_with_token(st, &n, 10, "aa", 1000), STORE_OK);
	assert_int_equal(store_token_redeem(st, "aa", "n1", "A1", NULL, 0, 20), STORE_OK);
	assert_int_equal(sqlite3_exec(store_sqlite(st),
	                              "ALTER TABLE tokens DROP COLUMN issued_serial;"
	                              "ALTER TABLE tokens DROP COLUMN issued_cert;"
	                              "PRAGMA user_version = 8",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	store_close(st);
	st = open_db();
	assert_int_equal(store_token_check(st, "aa", "n1", 30), STORE_TOKEN_USED);
	assert_int_equal(store_token_issued(st, "aa", "n1", 30, serial, &der, &len),
	                 STORE_NOT_FOUND);
	assert_null(der);
	assert_int_equal(store_token_issue(st, "n1", "bb", 1000), STORE_OK);
	assert_int_equal(
	    store_token_redeem(st, "bb", "n1", "B1", (const unsigned char *)"\x30\x00", 2, 40),
	    STORE_OK);
	assert_int_equal(store_token_issued(st, "bb", "n1", 50, serial, &der, &len), STORE_OK);
	assert_string_equal(serial, "B1");
	assert_int_equal(len, 2);
	assert_memory_equal(der, "\x30\x00", 2);
	free(der);
	/* Not another node's, nor once expired. */
	assert_int_equal(store_token_issued(st, "bb", "n2", 50, serial, &der, &len),
	                 STORE_NOT_FOUND);
	assert_int_equal(store_token_issued(st, "bb", "n1", 1000, serial, &der, &len),
	                 STORE_NOT_FOUND);
	store_close(st);
}

/*
 * A schema v9 file (reports with their protobuf body) migrates: the report it held has no
 * facts (store_facts_get: not found, so nothing takes an unknown board's steps for
 * automatic) until the node's next report, whose facts are then read.
 */
static void test_schema_v10_facts(void **state)
{
	struct store *st = open_db();
	struct store_facts facts, got;
	struct store_report r = {.node_id = "a-kma01",
	                         .sequence = 1,
	                         .received_at = 100,
	                         .state = KMA_STATE_ENROLLED,
	                         .facts = &facts};
	struct store_node n;

	(void)state;
	sample_facts(&facts);
	add(st, "a-kma01", "", 1);
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_OK);
	assert_int_equal(sqlite3_exec(store_sqlite(st),
	                              "DROP TABLE facts; DROP TABLE fact_queues;"
	                              " DROP TABLE fact_modes;"
	                              " UPDATE reports SET body = x'0807';"
	                              " PRAGMA user_version = 9",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	store_close(st);
	st = open_db();
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_true(n.has_report);
	assert_int_equal(store_facts_get(st, "a-kma01", &got), STORE_NOT_FOUND);
	r.sequence = 2;
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_OK);
	assert_int_equal(store_facts_get(st, "a-kma01", &got), STORE_OK);
	assert_facts_equal(&got, &facts);
	store_close(st);
}

static void test_nodes(void **state)
{
	struct store *st = open_db();
	struct store_node *nodes = NULL, n;
	size_t count = 0;

	(void)state;
	add(st, "u-kma02", "", 10);
	add(st, "a-kma01", "e2:20:7f", 11);
	memset(&n, 0, sizeof(n));
	snprintf(n.node_id, sizeof(n.node_id), "a-kma01");
	assert_int_equal(store_node_add(st, &n, 12), STORE_EXISTS);

	assert_int_equal(store_nodes_list(st, &nodes, &count), STORE_OK);
	assert_int_equal(count, 2);
	assert_string_equal(nodes[0].node_id, "a-kma01"); /* ordered by ID */
	assert_string_equal(nodes[0].name, "name of a-kma01");
	assert_string_equal(nodes[0].address, "a-kma01.example:9443");
	assert_int_equal(nodes[0].created_at, 11);
	assert_false(nodes[0].has_report);
	assert_string_equal(nodes[1].node_id, "u-kma02");
	free(nodes);

	assert_int_equal(store_node_get(st, "u-kma02", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "");
	assert_int_equal(store_node_delete(st, "u-kma02"), STORE_OK);
	assert_int_equal(store_node_delete(st, "u-kma02"), STORE_NOT_FOUND);
	assert_int_equal(store_node_get(st, "u-kma02", &n), STORE_NOT_FOUND);
	assert_int_equal(store_nodes_list(st, &nodes, &count), STORE_OK);
	assert_int_equal(count, 1);
	free(nodes);
	store_close(st);
}

static void test_serial_history(void **state)
{
	struct store *st = open_db();
	struct store_enrolment *h = NULL;
	struct store_node n;
	size_t count = 0;

	(void)state;
	add(st, "a-kma01", "E2207FDBA432E9010000000000000084", 100);
	add(st, "u-kma02", "", 100);
	assert_int_equal(
	    store_node_set_serial(st, "a-kma01", "E2207FDBA432E9010000000000000085", "put", 200),
	    STORE_OK);
	assert_int_equal(store_node_set_serial(st, "nobody", "01", "put", 200), STORE_NOT_FOUND);
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "E2207FDBA432E9010000000000000085");

	assert_int_equal(store_enrolments(st, "a-kma01", &h, &count), STORE_OK);
	assert_int_equal(count, 2);
	assert_string_equal(h[0].serial, "E2207FDBA432E9010000000000000084");
	assert_string_equal(h[0].how, "add");
	assert_int_equal(h[0].at, 100);
	assert_string_equal(h[1].serial, "E2207FDBA432E9010000000000000085");
	assert_string_equal(h[1].how, "put");
	assert_int_equal(h[1].at, 200);
	free(h);

	/* A node added without a serial has no history; deleting a node keeps its history. */
	assert_int_equal(store_enrolments(st, "u-kma02", &h, &count), STORE_OK);
	assert_int_equal(count, 0);
	free(h);
	assert_int_equal(store_node_delete(st, "a-kma01"), STORE_OK);
	assert_int_equal(store_enrolments(st, "a-kma01", &h, &count), STORE_OK);
	assert_int_equal(count, 2);
	free(h);
	store_close(st);
}

/* The revoked serials: derived from the history and the nodes as they are now. */
static void test_revoked(void **state)
{
	struct store *st = open_db();
	struct store_revoked *r = NULL;
	size_t n = 99;

	(void)state;
	add(st, "n1", "A1", 100);
	add(st, "n2", "B1", 110);
	add(st, "n3", "", 120);
	assert_int_equal(store_revoked(st, &r, &n), STORE_OK);
	assert_int_equal(n, 0);
	free(r);

	/* Superseded: revoked from the time of the entry that superseded it. */
	assert_int_equal(store_node_set_serial(st, "n1", "A2", "put", 200), STORE_OK);
	assert_int_equal(store_token_issue(st, "n2", "ab", 10000), STORE_OK);
	assert_int_equal(store_token_redeem(st, "ab", "n2", "B2", NULL, 0, 300), STORE_OK);
	assert_int_equal(store_revoked(st, &r, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].serial, "B1");
	assert_int_equal(r[0].at, 300);
	assert_string_equal(r[1].serial, "A1");
	assert_int_equal(r[1].at, 200);
	free(r);

	/* Set back: A1 is current again, A2 is revoked instead (once, though listed twice). */
	assert_int_equal(store_node_set_serial(st, "n1", "A1", "put", 400), STORE_OK);
	assert_int_equal(store_node_set_serial(st, "n1", "A2", "put", 410), STORE_OK);
	assert_int_equal(store_node_set_serial(st, "n1", "A1", "put", 420), STORE_OK);
	assert_int_equal(store_revoked(st, &r, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].serial, "A2");
	assert_int_equal(r[0].at, 420); /* the end of its last tenure */
	assert_string_equal(r[1].serial, "B1");
	free(r);

	/* A rejoin removes B2 ("") but accepts reports from another node's old serial. */
	assert_int_equal(store_node_set_pending(st, "n2", "A2"), STORE_OK);
	assert_int_equal(store_node_set_serial(st, "n2", "", "remove", 500), STORE_OK);
	assert_int_equal(store_revoked(st, &r, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].serial, "B2");
	assert_int_equal(r[0].at, 500);
	assert_string_equal(r[1].serial, "B1");
	free(r);

	/* A deleted node's serial: revoked from when it was enrolled (no entry for the delete). */
	assert_int_equal(store_node_set_pending(st, "n2", ""), STORE_OK);
	assert_int_equal(store_node_delete(st, "n1"), STORE_OK);
	assert_int_equal(store_revoked(st, &r, &n), STORE_OK);
	assert_int_equal(n, 4);
	assert_string_equal(r[0].serial, "B2");
	assert_string_equal(r[1].serial, "A1");
	assert_int_equal(r[1].at, 420);
	assert_string_equal(r[2].serial, "A2");
	assert_int_equal(r[2].at, 420);
	assert_string_equal(r[3].serial, "B1");
	free(r);

	/* Bounded: the newest STORE_REVOKED_MAX of a long history. */
	assert_int_equal(
	    sqlite3_exec(store_sqlite(st),
	                 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k"
	                 " WHERE i < 1100) INSERT INTO enrolments(node_id, serial, at, how)"
	                 " SELECT 'n3', printf('%04X', i), 1000 + i, 'put' FROM k",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(store_revoked(st, &r, &n), STORE_OK);
	assert_int_equal(n, STORE_REVOKED_MAX);
	assert_string_equal(r[0].serial, "044B"); /* ends at 2100, as 044C, n3's last */
	assert_int_equal(r[0].at, 2100);
	free(r);
	store_close(st);
}

static void test_version_bumps(void **state)
{
	struct store *st = open_db();
	struct store_node n;

	(void)state;
	assert_int_equal(version(st), 0);
	add(st, "a-kma01", "", 1);
	assert_int_equal(version(st), 1);
	add(st, "u-kma02", "01", 1);
	assert_int_equal(version(st), 2);
	assert_int_equal(store_node_set_serial(st, "a-kma01", "02", "put", 2), STORE_OK);
	assert_int_equal(version(st), 3);
	assert_int_equal(store_node_delete(st, "u-kma02"), STORE_OK);
	assert_int_equal(version(st), 4);
	/* Refused changes change nothing. */
	memset(&n, 0, sizeof(n));
	snprintf(n.node_id, sizeof(n.node_id), "a-kma01");
	assert_int_equal(store_node_add(st, &n, 3), STORE_EXISTS);
	assert_int_equal(store_node_delete(st, "u-kma02"), STORE_NOT_FOUND);
	assert_int_equal(store_node_set_serial(st, "u-kma02", "03", "put", 3), STORE_NOT_FOUND);
	assert_int_equal(version(st), 4);
	store_close(st);
}

static struct store_observation obs(const char *peer, const char *dir_, const char *cause,
                                    int64_t at)
{
	struct store_observation o;

	memset(&o, 0, sizeof(o));
	snprintf(o.peer_id, sizeof(o.peer_id), "%s", peer);
	o.direction = kma_direction_from_id(dir_);
	o.cause = kma_cause_from_id(cause);
	o.alert_sent = -1;
	o.alert_received = 42;
	o.at = at;
	snprintf(o.detail, sizeof(o.detail), "seen at %lld", (long long)at);
	return o;
}

/* store_report_put of observations given as the store lists them. */
static enum store_status put(struct store *st, const struct store_report *r,
                             const struct store_observation *o, size_t n)
{
	struct store_obs_in in[4];

	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++) {
		in[i] = (struct store_obs_in){
		    .peer_id = o[i].peer_id,
		    .direction = o[i].direction,
		    .cause = o[i].cause,
		    .alert_sent = o[i].alert_sent,
		    .alert_received = o[i].alert_received,
		    .peer_serial = o[i].peer_serial,
		    .expected_serial = o[i].expected_serial,
		    .at = o[i].at,
		    .detail = o[i].detail,
		    .peer_node_id = o[i].peer_node_id,
		};
	}
	return store_report_put(st, r, in, n);
}

static void test_report_upsert(void **state)
{
	struct store *st = open_db();
	struct store_observation first[3], second[1], *list = NULL;
	struct store_facts facts, got;
	struct store_report r = {.node_id = "a-kma01",
	                         .sequence = 7,
	                         .received_at = 1000,
	                         .state = KMA_STATE_ENROLLED,
	                         .facts = &facts};
	struct store_node n;
	size_t count = 0;
	uint64_t v;

	(void)state;
	add(st, "a-kma01", "", 1);
	add(st, "u-kma02", "", 1);
	add(st, "x-kma03", "", 1);
	v = version(st);
	sample_facts(&facts);
	first[0] = obs("u-kma02", "outbound", "ok", 900);
	first[1] = obs("u-kma02", "inbound", "ok", 900);
	first[2] = obs("x-kma03", "outbound", "tcp_refused", 900);
	assert_int_equal(put(st, &r, first, 3), STORE_OK);

	second[0] = obs("u-kma02", "outbound", "peer_serial_mismatch", 1900);
	r.sequence = 8;
	r.received_at = 2000;
	r.state = KMA_STATE_HARDWARE_CHANGED;
	/* The facts of the last report only: a queue and a step's mode fewer. */
	facts.n_lq = 1;
	facts.modes[KMA_STEP_KIND_REBOOT] = (struct store_step_mode){0};
	facts.last_ok = true;
	assert_int_equal(put(st, &r, second, 1), STORE_OK);

	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_true(n.has_report);
	assert_int_equal(n.report_sequence, 8);
	assert_int_equal(n.report_at, 2000);
	assert_int_equal(n.report_state, KMA_STATE_HARDWARE_CHANGED);
	assert_int_equal(store_facts_get(st, "a-kma01", &got), STORE_OK);
	assert_facts_equal(&got, &facts);

	/* Only (a-kma01, u-kma02, outbound) was replaced; the other two stay. */
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(count, 3);
	assert_string_equal(list[0].peer_id, "u-kma02");
	assert_string_equal(kma_direction_id(list[0].direction), "inbound");
	assert_string_equal(kma_cause_id(list[0].cause), "ok");
	assert_string_equal(kma_direction_id(list[1].direction), "outbound");
	assert_string_equal(kma_cause_id(list[1].cause), "peer_serial_mismatch");
	assert_int_equal(list[1].at, 1900);
	assert_int_equal(list[1].alert_sent, -1);
	assert_int_equal(list[1].alert_received, 42);
	assert_string_equal(list[1].node_id, "a-kma01");
	assert_string_equal(list[2].peer_id, "x-kma03");
	free(list);

	/* A report of a node not in the cluster writes nothing. */
	r.node_id = "stranger";
	assert_int_equal(put(st, &r, second, 1), STORE_NOT_FOUND);
	assert_int_equal(store_facts_get(st, "stranger", &got), STORE_NOT_FOUND);
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(count, 3);
	free(list);
	/* Reports do not change the peer table. */
	assert_int_equal(version(st), v);

	/* Deleting the node takes its report and observations with it. */
	assert_int_equal(store_node_delete(st, "a-kma01"), STORE_OK);
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(count, 0);
	free(list);
	assert_int_equal(store_facts_get(st, "a-kma01", &got), STORE_NOT_FOUND);
	store_close(st);
}

/* With at_slack, a time that only moved on is stored again once the stored one is that old. */
static void test_observation_time_slack(void **state)
{
	struct store *st = open_db();
	struct store_observation o, *list = NULL;
	struct store_report r = {.node_id = "a-kma01",
	                         .sequence = 1,
	                         .received_at = 1000,
	                         .state = KMA_STATE_ENROLLED,
	                         .at_slack = 120};
	static const struct {
		int64_t at;
		const char *cause;
		int64_t stored;
	} steps[] = {
	    {1000, "ok", 1000},          /* new: written */
	    {1030, "ok", 1000},          /* only later, by less than 120 s: kept */
	    {1119, "ok", 1000},          /* still less */
	    {1120, "ok", 1120},          /* 120 s: written */
	    {1150, "tcp_refused", 1150}, /* a change: written at once */
	    {1100, "tcp_refused", 1100}, /* earlier (a clock set back): written */
	};
	size_t count = 0;

	(void)state;
	add(st, "a-kma01", "", 1);
	add(st, "u-kma02", "", 1);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		o = obs("u-kma02", "outbound", steps[i].cause, steps[i].at);
		snprintf(o.detail, sizeof(o.detail), "same");
		r.sequence++;
		assert_int_equal(put(st, &r, &o, 1), STORE_OK);
		assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
		assert_int_equal(count, 1);
		assert_int_equal(list[0].at, steps[i].stored);
		assert_string_equal(kma_cause_id(list[0].cause), steps[i].cause);
		free(list);
	}
	/* Without slack (a plan runs) every new time is written. */
	r.at_slack = 0;
	o.at = 1101;
	assert_int_equal(put(st, &r, &o, 1), STORE_OK);
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(list[0].at, 1101);
	free(list);
	store_close(st);
}

/*
 * Strings longer than their field are stored cut, as before, and a report that repeats
 * them is recognised as unchanged (its later time within the slack is not written).
 */
static void test_observation_cut(void **state)
{
	struct store *st = open_db();
	char longer[400];
	struct store_obs_in o = {.peer_id = "u-kma02",
	                         .direction = KMA_DIRECTION_OUTBOUND,
	                         .cause = KMA_CAUSE_HANDSHAKE_TIMEOUT,
	                         .alert_sent = -1,
	                         .alert_received = -1,
	                         .peer_serial = "",
	                         .expected_serial = "",
	                         .at = 100,
	                         .detail = longer,
	                         .peer_node_id = ""};
	struct store_report r = {
	    .node_id = "a-kma01", .sequence = 1, .state = KMA_STATE_ENROLLED, .at_slack = 120};
	struct store_observation *list = NULL;
	size_t count = 0;

	(void)state;
	memset(longer, 'd', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	add(st, "a-kma01", "", 1);
	add(st, "u-kma02", "", 1);
	assert_int_equal(store_report_put(st, &r, &o, 1), STORE_OK);
	o.at = 130;
	r.sequence++;
	assert_int_equal(store_report_put(st, &r, &o, 1), STORE_OK);
	store_close(st);
	st = open_db(); /* read back from the file, not remembered */
	o.at = 160;
	r.sequence++;
	assert_int_equal(store_report_put(st, &r, &o, 1), STORE_OK);
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(count, 1);
	assert_int_equal(strlen(list[0].detail), STORE_TEXT_MAX - 1);
	assert_int_equal(list[0].at, 100);
	free(list);
	store_close(st);
}

/*
 * Observations are kept only about the reporter's peers, the cluster's other nodes: one
 * agent's reports about thousands of made-up peers (or itself) add no row, and a node's
 * removal takes the observations about it too (issue 16, item 3).
 */
static void test_observations_bounded(void **state)
{
	struct store *st = open_db();
	struct store_obs_in o[REPORT_PEERS];
	char names[REPORT_PEERS][24];
	struct store_report r = {
	    .node_id = "a-kma01", .sequence = 1, .state = KMA_STATE_ENROLLED, .at_slack = 120};
	struct store_observation *list = NULL;
	size_t count = 0;

	(void)state;
	add(st, "a-kma01", "", 1);
	add(st, "u-kma02", "", 1);
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < REPORT_PEERS; i++) {
			snprintf(names[i], sizeof(names[i]), "x-%d-%zu", round, i);
			o[i] = (struct store_obs_in){.peer_id = names[i],
			                             .direction = i % 2 ? KMA_DIRECTION_INBOUND
			                                                : KMA_DIRECTION_OUTBOUND,
			                             .cause = KMA_CAUSE_TCP_REFUSED,
			                             .alert_sent = -1,
			                             .alert_received = -1,
			                             .peer_serial = "",
			                             .expected_serial = "",
			                             .at = 100 + round,
			                             .detail = "",
			                             .peer_node_id = ""};
		}
		o[0].peer_id = "u-kma02";
		o[1].peer_id = "a-kma01"; /* itself */
		r.sequence = (uint64_t)round + 1;
		assert_int_equal(store_report_put(st, &r, o, REPORT_PEERS), STORE_OK);
	}
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(count, 1);
	assert_string_equal(list[0].peer_id, "u-kma02");
	free(list);
	/* u-kma02 reports about a-kma01; a-kma01 goes, and what was seen of it with it. */
	r.node_id = "u-kma02";
	r.sequence = 1;
	o[0].peer_id = "a-kma01";
	assert_int_equal(store_report_put(st, &r, o, 1), STORE_OK);
	assert_int_equal(store_node_delete(st, "a-kma01"), STORE_OK);
	r.sequence = 2;
	o[0].at = 200;
	assert_int_equal(store_report_put(st, &r, o, 1), STORE_OK);
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(count, 0);
	free(list);
	store_close(st);
}

/* The stored observation of (a-kma01, peer, direction): its cause and time. */
static void stored_obs(struct store *st, const char *peer, const char *direction, char *cause,
                       size_t size, int64_t *at)
{
	struct store_observation *list = NULL;
	size_t count = 0;

	cause[0] = '\0';
	*at = -1;
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	for (size_t i = 0; i < count; i++) {
		if (strcmp(list[i].node_id, "a-kma01") == 0 && strcmp(list[i].peer_id, peer) == 0 &&
		    list[i].direction == kma_direction_from_id(direction)) {
			snprintf(cause, size, "%s", kma_cause_id(list[i].cause));
			*at = list[i].at;
		}
	}
	free(list);
}

static uint64_t accepted(struct store *st)
{
	uint64_t c = 0;

	assert_int_equal(store_rejects_get(st, STORE_ACCEPTED_STATUS, &c), STORE_OK);
	return c;
}

/* Several reports in one transaction: all kept and counted, or none. */
static void test_report_batch(void **state)
{
	struct store *st = open_db();
	struct store_observation o1 = obs("u-kma02", "outbound", "ok", 10);
	struct store_observation o2 = obs("a-kma01", "outbound", "tcp_refused", 10);
	struct store_report r1 = {.node_id = "a-kma01", .sequence = 1, .state = KMA_STATE_ENROLLED};
	struct store_report r2 = {.node_id = "u-kma02", .sequence = 1, .state = KMA_STATE_ENROLLED};
	struct store_report stranger = {
	    .node_id = "stranger", .sequence = 1, .state = KMA_STATE_ENROLLED};
	struct store_node n;
	char cause[48];
	int64_t at;

	(void)state;
	add(st, "a-kma01", "", 1);
	add(st, "u-kma02", "", 1);
	assert_int_equal(store_reports_begin(st), STORE_OK);
	assert_int_equal(put(st, &r1, &o1, 1), STORE_OK);
	assert_int_equal(put(st, &stranger, &o1, 1), STORE_NOT_FOUND);
	assert_int_equal(put(st, &r2, &o2, 1), STORE_OK);
	/* Reads in the batch see its writes. */
	assert_int_equal(store_node_get(st, "u-kma02", &n), STORE_OK);
	assert_true(n.has_report);
	assert_int_equal(store_reports_commit(st), STORE_OK);
	assert_int_equal(accepted(st), 2);
	stored_obs(st, "u-kma02", "outbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "ok");

	/* Aborted: nothing of it is kept, nothing counted. */
	r1.sequence = 2;
	o1 = obs("u-kma02", "outbound", "peer_serial_mismatch", 20);
	assert_int_equal(store_reports_begin(st), STORE_OK);
	assert_int_equal(put(st, &r1, &o1, 1), STORE_OK);
	store_reports_abort(st);
	assert_int_equal(accepted(st), 2);
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_int_equal(n.report_sequence, 1);
	stored_obs(st, "u-kma02", "outbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "ok");
	assert_int_equal(at, 10);

	/* The same report again is written: the store did not keep what the abort undid. */
	assert_int_equal(put(st, &r1, &o1, 1), STORE_OK);
	stored_obs(st, "u-kma02", "outbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "peer_serial_mismatch");
	assert_int_equal(at, 20);
	assert_int_equal(accepted(st), 3);
	store_close(st);
}

/*
 * An unchanged observation is not written again, but what another connection or another
 * kind of write changed meanwhile is: the store never trusts a stale memory of the rows.
 */
static void test_report_after_other_writes(void **state)
{
	struct store *st = open_db(), *other = open_db();
	struct store_observation o = obs("u-kma02", "outbound", "ok", 10);
	struct store_report r = {.node_id = "a-kma01", .sequence = 1, .state = KMA_STATE_ENROLLED};
	struct store_observation two[2];
	char cause[48];
	int64_t at;

	(void)state;
	add(st, "a-kma01", "", 1);
	add(st, "u-kma02", "", 1);
	add(st, "x-kma03", "", 1);
	assert_int_equal(put(st, &r, &o, 1), STORE_OK);
	r.sequence++;
	assert_int_equal(put(st, &r, &o, 1), STORE_OK); /* known, unchanged */

	/* Another connection changes the row behind this one's back. */
	assert_int_equal(sqlite3_exec(store_sqlite(other),
	                              "UPDATE observations SET cause = 'tampered', at = 5", NULL,
	                              NULL, NULL),
	                 SQLITE_OK);
	r.sequence++;
	assert_int_equal(put(st, &r, &o, 1), STORE_OK);
	stored_obs(st, "u-kma02", "outbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "ok");
	assert_int_equal(at, 10);

	/* Another connection deletes it: written again, as a new row. */
	assert_int_equal(
	    sqlite3_exec(store_sqlite(other), "DELETE FROM observations", NULL, NULL, NULL),
	    SQLITE_OK);
	r.sequence++;
	assert_int_equal(put(st, &r, &o, 1), STORE_OK);
	stored_obs(st, "u-kma02", "outbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "ok");

	/* This connection deletes the node and adds it again: the report is stored whole. */
	r.sequence++;
	assert_int_equal(put(st, &r, &o, 1), STORE_OK); /* known again, unchanged */
	assert_int_equal(store_node_delete(st, "a-kma01"), STORE_OK);
	add(st, "a-kma01", "", 2);
	r.sequence++;
	assert_int_equal(put(st, &r, &o, 1), STORE_OK);
	stored_obs(st, "u-kma02", "outbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "ok");
	assert_int_equal(at, 10);

	/* A new peer among known ones, then a change to each: all written. */
	two[0] = obs("u-kma02", "outbound", "ok", 10);
	two[1] = obs("x-kma03", "inbound", "ok", 10);
	r.sequence++;
	assert_int_equal(put(st, &r, two, 2), STORE_OK);
	two[0] = obs("u-kma02", "outbound", "handshake_timeout", 30);
	two[1] = obs("x-kma03", "inbound", "peer_cert_untrusted", 30);
	r.sequence++;
	assert_int_equal(put(st, &r, two, 2), STORE_OK);
	stored_obs(st, "u-kma02", "outbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "handshake_timeout");
	stored_obs(st, "x-kma03", "inbound", cause, sizeof(cause), &at);
	assert_string_equal(cause, "peer_cert_untrusted");
	assert_int_equal(at, 30);
	store_close(other);
	store_close(st);
}

static void test_reopen_keeps_data(void **state)
{
	struct store *st = open_db();
	struct store_observation o = obs("u-kma02", "outbound", "ok", 5);
	struct store_report r = {
	    .node_id = "a-kma01", .sequence = 41, .received_at = 50, .state = KMA_STATE_ENROLLED};
	struct store_node n;
	struct store_observation *list = NULL;
	size_t count = 0;
	uint64_t c = 0;

	(void)state;
	add(st, "a-kma01", "0A", 1);
	add(st, "u-kma02", "", 1);
	assert_int_equal(put(st, &r, &o, 1), STORE_OK);
	assert_int_equal(store_reject_count(st, 403), STORE_OK);
	assert_int_equal(store_reject_count(st, 403), STORE_OK);
	assert_int_equal(store_reject_count(st, 413), STORE_OK);
	store_close(st);

	st = open_db();
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "0A");
	assert_true(n.has_report);
	assert_int_equal(n.report_sequence, 41);
	assert_int_equal(version(st), 2); /* two nodes added */
	assert_int_equal(store_observations_list(st, &list, &count), STORE_OK);
	assert_int_equal(count, 1);
	free(list);
	assert_int_equal(store_rejects_get(st, 403, &c), STORE_OK);
	assert_int_equal(c, 2);
	assert_int_equal(store_rejects_get(st, 413, &c), STORE_OK);
	assert_int_equal(c, 1);
	assert_int_equal(store_rejects_get(st, 400, &c), STORE_OK);
	assert_int_equal(c, 0);
	store_close(st);
}

/* One report of incarnation (boot, instance) with sequence seq: the store's verdict. */
static enum store_status report_of(struct store *st, const char *boot, uint64_t instance,
                                   uint64_t seq)
{
	struct store_report r = {.node_id = "a-kma01",
	                         .boot_id = boot,
	                         .instance = instance,
	                         .sequence = seq,
	                         .received_at = 100,
	                         .state = KMA_STATE_ENROLLED};

	return store_report_put(st, &r, NULL, 0);
}

static const char *stored_boot(struct store *st)
{
	static struct store_node n;

	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	return n.report_boot_id;
}

/*
 * Reports never go back: within one incarnation by sequence; across a reboot, a report the
 * old boot sent that arrives after the new boot's is stale; a restarted agent (a new
 * instance in the same boot) is taken at once; an agent that does not say its instance is
 * not ordered by sequence (it restarts it).
 */
static void test_report_order(void **state)
{
	struct store *st;
	uint64_t c = 0;

	(void)state;
	st = open_db();
	add(st, "a-kma01", "AA", 1);
	assert_int_equal(report_of(st, "old", 7, 10), STORE_OK);
	assert_int_equal(report_of(st, "old", 7, 10), STORE_STALE);
	assert_int_equal(report_of(st, "old", 7, 9), STORE_STALE);
	assert_int_equal(report_of(st, "old", 7, 11), STORE_OK);
	/* The reboot: the new boot's first report, then one the old boot sent before it. */
	assert_int_equal(report_of(st, "new", 8, 1), STORE_OK);
	assert_int_equal(report_of(st, "old", 7, 12), STORE_STALE);
	assert_string_equal(stored_boot(st), "new");
	/* The agent restarted without a reboot: a new instance, its sequence from 1. */
	assert_int_equal(report_of(st, "new", 9, 1), STORE_OK);
	assert_int_equal(report_of(st, "new", 8, 2), STORE_STALE);
	/* Only what was taken counts as accepted. */
	assert_int_equal(store_rejects_get(st, STORE_ACCEPTED_STATUS, &c), STORE_OK);
	assert_int_equal(c, 4);
	/* The newest STORE_RETIRED_MAX replaced incarnations stay retired: old/7, new/8 and
	 * new/9 among them after six more. */
	for (uint64_t i = 0; i < STORE_RETIRED_MAX - 2; i++)
		assert_int_equal(report_of(st, "later", 100 + i, 1), STORE_OK);
	assert_int_equal(report_of(st, "old", 7, 50), STORE_STALE);
	assert_int_equal(report_of(st, "new", 9, 50), STORE_STALE);
	/* An older agent says no instance: same boot, sequence again from 1, taken. */
	assert_int_equal(report_of(st, "legacy", 0, 5), STORE_OK);
	assert_int_equal(report_of(st, "legacy", 0, 1), STORE_OK);
	store_close(st);
	/* The order outlives a restart of the coordinator. */
	st = open_db();
	assert_int_equal(report_of(st, "later", 100, 2), STORE_STALE);
	store_close(st);
}

/*
 * A report is the node's only from its enrolled certificate, or from the one a running
 * rejoin accepts; a refused certificate is remembered, bounded.
 */
static void test_report_pinned(void **state)
{
	struct store *st;
	struct store_report r = {.node_id = "a-kma01",
	                         .cert_serial = "00ab",
	                         .sequence = 1,
	                         .received_at = 100,
	                         .state = KMA_STATE_ENROLLED};
	struct store_attempt *a = NULL;
	struct store_node n;
	size_t count = 0;

	(void)state;
	st = open_db();
	add(st, "a-kma01", "00AB", 1);
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_OK); /* hex in any case */
	r.cert_serial = "00AC";
	r.sequence = 2;
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_NOT_PINNED);
	/* A rejoin takes the certificate it waits for, until a serial is enrolled. */
	assert_int_equal(store_node_set_pending(st, "a-kma01", "00AC"), STORE_OK);
	assert_int_equal(store_node_set_pending(st, "nobody", "00AC"), STORE_NOT_FOUND);
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_OK);
	assert_int_equal(store_node_set_serial(st, "a-kma01", "", "remove", 2), STORE_OK);
	r.sequence = 3;
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_OK); /* removal keeps it */
	assert_int_equal(store_node_set_serial(st, "a-kma01", "00AD", "quickstart", 3), STORE_OK);
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_string_equal(n.pending_serial, "");
	r.sequence = 4;
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_NOT_PINNED);
	r.cert_serial = "00AB"; /* the superseded one */
	assert_int_equal(store_report_put(st, &r, NULL, 0), STORE_NOT_PINNED);

	assert_int_equal(store_attempt_record(st, "a-kma01", "00AC", "127.0.0.5", true, 10),
	                 STORE_OK);
	assert_int_equal(store_attempt_record(st, "a-kma01", "00AC", "127.0.0.6", true, 12),
	                 STORE_OK);
	assert_int_equal(store_attempt_record(st, "u-kma09", "00AE", "127.0.0.7", false, 11),
	                 STORE_OK);
	assert_int_equal(store_attempts_list(st, &a, &count), STORE_OK);
	assert_int_equal(count, 2);
	assert_string_equal(a[0].node_id, "a-kma01");
	assert_string_equal(a[0].serial, "00AC");
	assert_string_equal(a[0].address, "127.0.0.6");
	assert_true(a[0].known);
	assert_int_equal(a[0].first_at, 10);
	assert_int_equal(a[0].last_at, 12);
	assert_int_equal(a[0].count, 2);
	assert_false(a[1].known);
	free(a);
	/* Certificates cannot make the store keep more than STORE_ATTEMPTS_MAX of them. */
	for (int i = 0; i < STORE_ATTEMPTS_MAX + 10; i++) {
		char serial[16];

		snprintf(serial, sizeof(serial), "%04X", i);
		assert_int_equal(
		    store_attempt_record(st, "u-kma09", serial, "127.0.0.7", false, 100 + i),
		    STORE_OK);
	}
	assert_int_equal(store_attempts_list(st, &a, &count), STORE_OK);
	assert_int_equal(count, STORE_ATTEMPTS_MAX);
	free(a);
	store_close(st);
}

static void test_open_failure(void **state)
{
	struct store *st = (struct store *)1;

	(void)state;
	assert_int_equal(store_open("/nonexistent-dir/kma/coord.db", &st), STORE_ERROR);
	assert_null(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_schema_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_v9_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_v10_facts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_serial_history, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_version_bumps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_upsert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_observation_time_slack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_observation_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_observations_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_after_other_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_pinned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_failure, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
