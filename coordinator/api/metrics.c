#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "diagnose.h"
#include "log.h"
#include "store_plan.h"
#include "vocab.h"

#define FINDINGS_MAX 64

/*
 * The statuses the report endpoint rejects with (docs/protocol.md): every one is printed,
 * 0 included, so a rate() over a result that has not happened yet still works.
 */
static const int reject_statuses[] = {400, 403, 405, 409, 413, 415, 422};

void metrics_buf_init(struct metrics_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void metrics_buf_free(struct metrics_buf *b)
{
	if (!b)
		return;
	free(b->data);
	metrics_buf_init(b);
}

bool metrics_buf_failed(const struct metrics_buf *b)
{
	return b->failed;
}

static bool reserve(struct metrics_buf *b, size_t more)
{
	size_t ncap;
	char *nd;

	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 1024;
	while (ncap < b->len + more + 1)
		ncap *= 2;
	nd = realloc(b->data, ncap);
	if (!nd) {
		b->failed = true;
		return false;
	}
	b->data = nd;
	b->cap = ncap;
	return true;
}

static void put(struct metrics_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void put_str(struct metrics_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void put_fmt(struct metrics_buf *b, const char *fmt,
                                                          ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Only numbers go through here: a line never comes near the limit. */
	if (n < 0 || (size_t)n >= sizeof(line)) {
		b->failed = true;
		return;
	}
	put(b, line, (size_t)n);
}

/* Backslash and newline always; the double quote only inside a label value. */
static void put_escaped(struct metrics_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put_str(b, "\\\\");
		else if (*s == '\n')
			put_str(b, "\\n");
		else if (quote && *s == '"')
			put_str(b, "\\\"");
		else
			put(b, s, 1);
	}
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	put_str(b, "# HELP ");
	put_str(b, name);
	put_str(b, " ");
	put_escaped(b, help, false);
	put_str(b, "\n# TYPE ");
	put_str(b, name);
	put_str(b, " ");
	put_str(b, type);
	put_str(b, "\n");
}

void metrics_sample(struct metrics_buf *b, const char *name, const char *label,
                    const char *label_value, int64_t value)
{
	put_str(b, name);
	if (label) {
		put_str(b, "{");
		put_str(b, label);
		put_str(b, "=\"");
		put_escaped(b, label_value, true);
		put_str(b, "\"}");
	}
	put_fmt(b, " %" PRId64 "\n", value);
}

static int render_reports(struct store *st, struct metrics_buf *b)
{
	static const char name[] = "kma_coord_reports_total";
	uint64_t c;
	char result[32];

	metrics_family(b, name, "counter",
	               "Agent reports received, by result: accepted, or rejected_<HTTP status>.");
	if (store_rejects_get(st, STORE_ACCEPTED_STATUS, &c) != STORE_OK)
		return -1;
	metrics_sample(b, name, "result", "accepted", (int64_t)c);
	for (size_t i = 0; i < sizeof(reject_statuses) / sizeof(reject_statuses[0]); i++) {
		if (store_rejects_get(st, reject_statuses[i], &c) != STORE_OK)
			return -1;
		snprintf(result, sizeof(result), "rejected_%d", reject_statuses[i]);
		metrics_sample(b, name, "result", result, (int64_t)c);
	}
	return 0;
}

static void render_nodes(const struct store_node *nodes, size_t n_nodes, struct metrics_buf *b)
{
	static const char name[] = "kma_coord_nodes";
	int64_t none = 0;

	metrics_family(b, name, "gauge",
	               "Nodes by the identity state of their last report; none: never reported.");
	/* 0 is "unspecified": a report may carry it, so it is a state like the others here. */
	for (int s = 0; s < KMA_STATE_COUNT; s++) {
		const char *id = kma_state_id((enum kma_state)s);
		int64_t count = 0;

		for (size_t i = 0; i < n_nodes; i++)
			if (nodes[i].has_report && (int)nodes[i].report_state == s)
				count++;
		metrics_sample(b, name, "state", id, count);
	}
	for (size_t i = 0; i < n_nodes; i++)
		if (!nodes[i].has_report)
			none++;
	metrics_sample(b, name, "state", "none", none);
}

static void render_pairs(const struct store_observation *obs, size_t n_obs, struct metrics_buf *b)
{
	static const char name[] = "kma_coord_pair_results";

	metrics_family(b, name, "gauge", "Latest (node, peer, direction) observations, by cause.");
	for (int c = 0; c < KMA_CAUSE_COUNT; c++) {
		const char *id = kma_cause_id((enum kma_cause)c);
		int64_t count = 0;

		for (size_t i = 0; i < n_obs; i++)
			if ((int)obs[i].cause == c)
				count++;
		metrics_sample(b, name, "cause", id, count);
	}
}

static void render_per_node(const struct store_node *nodes, const struct diag_self *self,
                            size_t n_nodes, struct metrics_buf *b)
{
	static const char expiry[] = "kma_coord_node_cert_expiry_timestamp_seconds";
	static const char last[] = "kma_coord_node_last_report_timestamp_seconds";

	metrics_family(b, expiry, "gauge",
	               "notAfter of the node's own certificate, from its last report.");
	for (size_t i = 0; i < n_nodes; i++)
		if (self[i].cert_not_after != 0)
			metrics_sample(b, expiry, "node_id", nodes[i].node_id,
			               self[i].cert_not_after);
	metrics_family(b, last, "gauge", "When the coordinator received the node's last report.");
	for (size_t i = 0; i < n_nodes; i++)
		if (nodes[i].has_report)
			metrics_sample(b, last, "node_id", nodes[i].node_id, nodes[i].report_at);
}

/* The latest recovery plan: its state as a one-hot gauge, its steps by state, the lease. */
static void render_plan(struct store *st, int64_t now, struct metrics_buf *b)
{
	struct store_plan plan = {0};
	struct store_step *steps = NULL;
	struct store_lease lease;
	size_t n = 0;
	bool have = store_plan_latest(st, &plan, &steps, &n) == STORE_OK;
	bool leased = store_lease_get(st, now, &lease) == STORE_OK;

	metrics_family(b, "kma_coord_plan_state", "gauge",
	               "1 for the state of the latest recovery plan, 0 for the others.");
	for (int i = 1; i < KMA_PLAN_STATE_COUNT; i++)
		metrics_sample(b, "kma_coord_plan_state", "state",
		               kma_plan_state_id((enum kma_plan_state)i),
		               have && (int)plan.state == i);
	metrics_family(b, "kma_coord_plan_steps", "gauge",
	               "Steps of the latest recovery plan by state.");
	for (int k = 1; k < KMA_STEP_STATE_COUNT; k++) {
		int64_t count = 0;

		for (size_t i = 0; i < n; i++)
			count += (int)steps[i].state == k;
		metrics_sample(b, "kma_coord_plan_steps", "state",
		               kma_step_state_id((enum kma_step_state)k), count);
	}
	metrics_family(b, "kma_coord_lease_held", "gauge",
	               "1 while a node holds the cluster's disruption lease.");
	metrics_sample(b, "kma_coord_lease_held", NULL, NULL, leased);
	free(steps);
}

/* Certificates refused as a node's that still try to report (the diagnosis's evidence). */
static void render_refused(const struct diag_input *in, struct metrics_buf *b)
{
	int64_t n[2] = {0, 0};

	for (size_t i = 0; i < in->n_attempts; i++)
		if (in->now - in->attempts[i].last_at <= in->stale_after)
			n[in->attempts[i].known]++;
	metrics_family(b, "kma_coord_refused_certificates", "gauge",
	               "Certificates of the cluster CA refused as a node's that tried to report "
	               "within the staleness window, by whether they name a node of the cluster.");
	metrics_sample(b, "kma_coord_refused_certificates", "node", "known", n[1]);
	metrics_sample(b, "kma_coord_refused_certificates", "node", "unknown", n[0]);
}

/* Each node's health as every view shows it (diag_node_health). */
static void render_health(const struct diag_input *in, const struct diag_finding *f, size_t n_f,
                          struct metrics_buf *b)
{
	static const char name[] = "kma_coord_node_healthy";

	metrics_family(b, name, "gauge",
	               "1 when the node is healthy as kmactl status and the status page say "
	               "(not blamed by the diagnosis, reporting, enrolled, serving keys), else 0.");
	for (size_t i = 0; i < in->n_nodes; i++) {
		struct diag_health h;

		diag_node_health(in, i, f, n_f, &h);
		metrics_sample(b, name, "node_id", in->nodes[i].node_id, h.healthy ? 1 : 0);
	}
}

int metrics_render(struct store *st, int64_t now, int64_t stale_after, struct metrics_buf *b)
{
	struct diagnose_snapshot s = {0};
	struct diag_finding *f = NULL;
	size_t n_f;
	uint64_t version = 0;
	bool healthy = true;
	int ret = -1;

	if (store_peer_table_version(st, &version) != STORE_OK ||
	    diagnose_snapshot_load(st, now, stale_after, &s) != 0)
		goto exit;
	f = calloc(FINDINGS_MAX, sizeof(*f));
	if (!f)
		goto exit;
	n_f = diag_run(&s.in, f, FINDINGS_MAX);
	/* As GET /v1/diagnosis: warnings are forecasts, only errors make the cluster unhealthy. */
	for (size_t i = 0; i < n_f; i++)
		healthy &= f[i].warning;

	if (render_reports(st, b) != 0)
		goto exit;
	render_nodes(s.nodes, s.in.n_nodes, b);
	render_pairs(s.obs, s.in.n_obs, b);
	render_per_node(s.nodes, s.self, s.in.n_nodes, b);
	metrics_family(b, "kma_coord_peer_table_version", "gauge",
	               "Version of the peer table; changes with every change of nodes or serials.");
	metrics_sample(b, "kma_coord_peer_table_version", NULL, NULL, (int64_t)version);
	render_refused(&s.in, b);
	render_health(&s.in, f, n_f, b);
	metrics_family(b, "kma_coord_diagnosis_healthy", "gauge",
	               "1 when the mesh diagnosis finds no error (GET /v1/diagnosis), else 0.");
	metrics_sample(b, "kma_coord_diagnosis_healthy", NULL, NULL, healthy ? 1 : 0);
	render_plan(st, now, b);
	if (metrics_buf_failed(b))
		goto exit;
	ret = 0;
exit:
	if (ret != 0)
		log_err("metrics: the store could not be read or memory ran out");
	diagnose_snapshot_free(&s);
	free(f);
	return ret;
}

void metrics_render_throttle(struct metrics_buf *b, const struct throttle_stats *s)
{
	metrics_family(b, "kma_coord_enroll_token_failures_total", "counter",
	               "Enrolment requests refused for their token (unknown, used, expired, "
	               "another node's).");
	metrics_sample(b, "kma_coord_enroll_token_failures_total", NULL, NULL,
	               (int64_t)s->failures);
	metrics_family(b, "kma_coord_enroll_throttled_total", "counter",
	               "Enrolment requests answered 429: their source failed too many tokens.");
	metrics_sample(b, "kma_coord_enroll_throttled_total", NULL, NULL, (int64_t)s->refused);
	metrics_family(b, "kma_coord_enroll_throttled_sources", "gauge",
	               "Source addresses (IPv6: /64) that may not present a token now.");
	metrics_sample(b, "kma_coord_enroll_throttled_sources", NULL, NULL, (int64_t)s->throttled);
}
