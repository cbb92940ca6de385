/* GET /metrics: the exposition writer's escaping and headers, and the rendered families. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apijson.h"
#include "diagnose.h"
#include "kma.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "store.h"
#include "vocab.h"

/* True when text holds line as a whole line. */
/* A client whose certificate names id; its serial is not checked. */
static const struct report_client *as(const char *id)
{
	static struct report_client who;

	who = (struct report_client){id, NULL, "127.0.0.1"};
	return &who;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

/* How many lines of text start with prefix. */
static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, len) == 0)
			n++;
	return n;
}

static void test_writer(void **state)
{
	struct metrics_buf b;

	(void)state;
	metrics_buf_init(&b);
	metrics_family(&b, "x_total", "counter", "a \\ help\nline with \"quotes\"");
	metrics_sample(&b, "x_total", "k", "a\\b\"c\nd", 42);
	metrics_sample(&b, "x_total", NULL, NULL, -7);
	assert_false(metrics_buf_failed(&b));
	assert_string_equal(b.data, "# HELP x_total a \\\\ help\\nline with \"quotes\"\n"
	                            "# TYPE x_total counter\n"
	                            "x_total{k=\"a\\\\b\\\"c\\nd\"} 42\n"
	                            "x_total -7\n");
	metrics_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	metrics_buf_free(NULL);
}

/* Many samples: the buffer grows past its first allocation and stays one string. */
static void test_writer_grows(void **state)
{
	struct metrics_buf b;
	char id[32];

	(void)state;
	metrics_buf_init(&b);
	metrics_family(&b, "g", "gauge", "many");
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		metrics_sample(&b, "g", "node_id", id, i);
	}
	assert_false(metrics_buf_failed(&b));
	assert_int_equal(strlen(b.data), b.len);
	assert_true(has_line(b.data, "g{node_id=\"n999\"} 999"));
	assert_int_equal(count_prefix(b.data, "g{"), 1000);
	metrics_buf_free(&b);
}

static char dir[128];
static char db[192];

static int setup(void **state)
{
	struct store *st = NULL;
	struct store_node n;
	static const char *const ids[] = {"a-kma01", "u-kma02"};

	snprintf(dir, sizeof(dir), "%s/kma-metrics-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/coord.db", dir);
	log_init("test_metrics", LOG_LVL_ERR);
	if (store_open(db, &st) != STORE_OK)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		memset(&n, 0, sizeof(n));
		snprintf(n.node_id, sizeof(n.node_id), "%s", ids[i]);
		snprintf(n.address, sizeof(n.address), "127.0.0.%zu:9443", i + 1);
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

/* a-kma01 reports (enrolled, its certificate, two observations); one garbage report. */
static void post_reports(struct store *st)
{
	Kma__V1__AgentReport r = KMA__V1__AGENT_REPORT__INIT;
	Kma__V1__CertInfo own = KMA__V1__CERT_INFO__INIT;
	Kma__V1__PeerObservation obs[2], *ptrs[2];
	struct report_outcome out;
	unsigned char buf[1024];
	size_t len;

	r.node_id = "a-kma01";
	r.sequence = 1;
	r.state = KMA__V1__IDENTITY_STATE__IDENTITY_STATE_ENROLLED;
	own.serial = "E2207FDBA432E9010000000000000084";
	own.not_after = 1900000000;
	r.own_cert = &own;
	for (size_t i = 0; i < 2; i++) {
		kma__v1__peer_observation__init(&obs[i]);
		obs[i].peer_node_id = "u-kma02";
		ptrs[i] = &obs[i];
	}
	obs[0].direction = KMA__V1__DIRECTION__DIRECTION_OUTBOUND;
	obs[0].cause = KMA__V1__CAUSE__CAUSE_OK;
	obs[1].direction = KMA__V1__DIRECTION__DIRECTION_INBOUND;
	obs[1].cause = KMA__V1__CAUSE__CAUSE_PEER_SERIAL_MISMATCH;
	r.peers = ptrs;
	r.n_peers = 2;
	len = kma__v1__agent_report__get_packed_size(&r);
	assert_true(len <= sizeof(buf));
	kma__v1__agent_report__pack(&r, buf);
	report_handle(st, 5000, NULL, as("a-kma01"), REPORT_CONTENT_TYPE, buf, len, 1000, &out);
	assert_int_equal(out.status, 200);
	free(out.reply);
	report_handle(st, 5000, NULL, as("a-kma01"), REPORT_CONTENT_TYPE,
	              (const unsigned char *)"\xff\xff", 2, 1001, &out);
	assert_int_equal(out.status, 400);
	free(out.reply);
}

static void test_render(void **state)
{
	struct store *st = *state;
	struct metrics_buf b;
	json_object *diag;
	char line[128];

	post_reports(st);
	metrics_buf_init(&b);
	assert_int_equal(metrics_render(st, 1010, 20, &b), 0);
	static const char *const want[] = {
	    ("# HELP kma_coord_reports_total Agent reports received, by result: accepted, or "
	     "rejected_<HTTP status>."),
	    "# TYPE kma_coord_reports_total counter",
	    "kma_coord_reports_total{result=\"accepted\"} 1",
	    "kma_coord_reports_total{result=\"rejected_400\"} 1",
	    "kma_coord_reports_total{result=\"rejected_403\"} 0",
	    "kma_coord_reports_total{result=\"rejected_422\"} 0",
	    "# TYPE kma_coord_nodes gauge",
	    "kma_coord_nodes{state=\"enrolled\"} 1",
	    "kma_coord_nodes{state=\"unprovisioned\"} 0",
	    "kma_coord_nodes{state=\"none\"} 1",
	    "# TYPE kma_coord_pair_results gauge",
	    "kma_coord_pair_results{cause=\"ok\"} 1",
	    "kma_coord_pair_results{cause=\"peer_serial_mismatch\"} 1",
	    "kma_coord_pair_results{cause=\"tcp_refused\"} 0",
	    "# TYPE kma_coord_node_cert_expiry_timestamp_seconds gauge",
	    "kma_coord_node_cert_expiry_timestamp_seconds{node_id=\"a-kma01\"} 1900000000",
	    "# TYPE kma_coord_node_last_report_timestamp_seconds gauge",
	    "kma_coord_node_last_report_timestamp_seconds{node_id=\"a-kma01\"} 1000",
	    "# TYPE kma_coord_peer_table_version gauge",
	    "kma_coord_peer_table_version 2",
	    "# TYPE kma_coord_diagnosis_healthy gauge",
	    "# TYPE kma_coord_plan_state gauge",
	    "kma_coord_plan_state{state=\"running\"} 0",
	    "kma_coord_plan_state{state=\"done\"} 0",
	    "kma_coord_plan_steps{state=\"active\"} 0",
	    "kma_coord_lease_held 0",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!has_line(b.data, want[i]))
			fail_msg("missing line: %s\nin:\n%s", want[i], b.data);
	/* Bounded: one sample per state (and none), per cause; none for u-kma02's certificate. */
	assert_int_equal(count_prefix(b.data, "kma_coord_nodes{"), KMA_STATE_COUNT + 1);
	assert_int_equal(count_prefix(b.data, "kma_coord_pair_results{"), KMA_CAUSE_COUNT);
	assert_int_equal(count_prefix(b.data, "kma_coord_node_cert_expiry_timestamp_seconds{"), 1);
	assert_int_equal(count_prefix(b.data, "kma_coord_node_last_report_timestamp_seconds{"), 1);
	assert_int_equal(count_prefix(b.data, "# HELP "), 12);
	assert_int_equal(count_prefix(b.data, "# TYPE "), 12);
	/* every node's verdict, as kmactl status shows it: u-kma02 never reported */
	assert_int_equal(count_prefix(b.data, "kma_coord_node_healthy{"), 2);
	assert_true(has_line(b.data, "kma_coord_node_healthy{node_id=\"u-kma02\"} 0"));
	assert_int_equal(count_prefix(b.data, "kma_coord_refused_certificates{"), 2);
	assert_int_equal(count_prefix(b.data, "kma_coord_plan_state{"), 4);

	/* healthy agrees with GET /v1/diagnosis over the same store. */
	diag = api_diagnosis_json(st, 1010, 20);
	assert_non_null(diag);
	snprintf(line, sizeof(line), "kma_coord_diagnosis_healthy %d",
	         json_object_get_boolean(json_object_object_get(diag, "healthy")) ? 1 : 0);
	json_object_put(diag);
	assert_true(has_line(b.data, line));
	metrics_buf_free(&b);
}

/* An empty cluster still prints every vocabulary sample, all 0. */
static void test_render_empty(void **state)
{
	struct store *st = *state;
	struct metrics_buf b;

	assert_int_equal(store_node_delete(st, "a-kma01"), STORE_OK);
	assert_int_equal(store_node_delete(st, "u-kma02"), STORE_OK);
	metrics_buf_init(&b);
	assert_int_equal(metrics_render(st, 1010, 20, &b), 0);
	assert_true(has_line(b.data, "kma_coord_nodes{state=\"none\"} 0"));
	assert_true(has_line(b.data, "kma_coord_reports_total{result=\"accepted\"} 0"));
	assert_true(has_line(b.data, "kma_coord_diagnosis_healthy 1"));
	assert_int_equal(count_prefix(b.data, "kma_coord_pair_results{"), KMA_CAUSE_COUNT);
	assert_int_equal(count_prefix(b.data, "kma_coord_node_"), 0);
	metrics_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writer),
	    cmocka_unit_test(test_writer_grows),
	    cmocka_unit_test_setup_teardown(test_render, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_render_empty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
