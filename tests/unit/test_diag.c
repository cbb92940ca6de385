/*
 * Mesh diagnosis as tables: a cluster's observations in, the findings out. Each scenario
 * is one incident shape; the point is that the right node is named and nothing else is.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"

#define NOW  1800000000
#define OLD  "E2207FDBA432E9010000000000000084"
#define NEW  "E2207FDBA432E9010000000000000085"
#define MAXO 32

struct cluster {
	struct store_node nodes[4];
	struct diag_self self[4];
	size_t n;
	struct store_observation obs[MAXO];
	size_t n_obs;
};

static void node(struct cluster *c, const char *id)
{
	snprintf(c->nodes[c->n].node_id, STORE_ID_MAX, "%s", id);
	snprintf(c->self[c->n].state, STORE_STATE_MAX, "enrolled");
	c->self[c->n].report_at = NOW - 5;
	c->n++;
}

/* seen(c, observer, peer, "outbound"|"inbound", cause[, alert_sent, alert_received]) */
static struct store_observation *seen(struct cluster *c, const char *by, const char *peer,
                                      const char *dir, const char *cause)
{
	struct store_observation *o = &c->obs[c->n_obs++];

	memset(o, 0, sizeof(*o));
	snprintf(o->node_id, sizeof(o->node_id), "%s", by);
	snprintf(o->peer_id, sizeof(o->peer_id), "%s", peer);
	snprintf(o->direction, sizeof(o->direction), "%s", dir);
	snprintf(o->cause, sizeof(o->cause), "%s", cause);
	o->alert_sent = o->alert_received = -1;
	o->at = NOW - 5;
	return o;
}

/* Both directions of a pair ok. */
static void healthy_pair(struct cluster *c, const char *a, const char *b)
{
	seen(c, a, b, "outbound", "ok");
	seen(c, b, a, "outbound", "ok");
	seen(c, a, b, "inbound", "ok");
	seen(c, b, a, "inbound", "ok");
}

static size_t run(struct cluster *c, struct diag_finding *f, size_t max)
{
	struct diag_input in = {
	    .nodes = c->nodes,
	    .self = c->self,
	    .n_nodes = c->n,
	    .obs = c->obs,
	    .n_obs = c->n_obs,
	    .now = NOW,
	    .stale_after = 90,
	};

	return diag_run(&in, f, max);
}

static void three(struct cluster *c)
{
	memset(c, 0, sizeof(*c));
	node(c, "a-kma01");
	node(c, "u-kma02");
	node(c, "b-kma03");
}

static bool mentions(const struct diag_finding *f, const char *text)
{
	for (size_t i = 0; i < f->n_evidence; i++)
		if (strstr(f->evidence[i], text))
			return true;
	return strstr(f->summary, text) != NULL;
}

static void test_healthy(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	healthy_pair(&c, "a-kma01", "u-kma02");
	healthy_pair(&c, "a-kma01", "b-kma03");
	healthy_pair(&c, "u-kma02", "b-kma03");
	assert_int_equal(run(&c, f, 8), 0);
}

/* The OKM archetype: a-kma01 QuickStarted with a new serial, never rejoined. */
static void test_okm_not_rejoined(void **state)
{
	struct cluster c;
	struct diag_finding f[8];
	struct store_observation *o;
	const char *peers[] = {"u-kma02", "b-kma03"};

	(void)state;
	three(&c);
	snprintf(c.self[0].state, STORE_STATE_MAX, "not_enrolled");
	healthy_pair(&c, "u-kma02", "b-kma03");
	for (int i = 0; i < 2; i++) {
		o = seen(&c, peers[i], "a-kma01", "outbound", "peer_serial_mismatch");
		snprintf(o->peer_serial, sizeof(o->peer_serial), NEW);
		snprintf(o->expected_serial, sizeof(o->expected_serial), OLD);
		o->alert_sent = 49;
		seen(&c, peers[i], "a-kma01", "inbound", "peer_serial_mismatch")->alert_sent = 49;
		seen(&c, "a-kma01", peers[i], "outbound", "rejected_by_peer")->alert_received = 49;
		seen(&c, "a-kma01", peers[i], "inbound", "rejected_by_peer")->alert_received = 49;
	}
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "node_not_rejoined");
	assert_string_equal(f[0].culprit, "a-kma01");
	assert_false(f[0].warning);
	assert_non_null(strstr(f[0].remedy, "factory reset and rejoin a-kma01"));
	assert_true(mentions(&f[0], "presented serial " NEW ", enrolled " OLD ", alert 49 sent"));
	assert_true(mentions(&f[0], "a-kma01 -> u-kma02: rejected_by_peer, alert 49 received"));
	assert_true(mentions(&f[0], "a-kma01 itself reports identity state not_enrolled"));
}

/*
 * The whole incident at once: a-kma01 QuickStarted and never rejoined while b-kma03's
 * listener is wedged. a-kma01 cannot reach b-kma03, so b-kma03 still holds an ok inbound
 * observation of a-kma01's old certificate: that is not evidence about a-kma01 now, and
 * both culprits are named.
 */
static void test_okm_with_wedged_peer(void **state)
{
	struct cluster c;
	struct diag_finding f[8];
	struct store_observation *o;

	(void)state;
	three(&c);
	snprintf(c.self[0].state, STORE_STATE_MAX, "not_enrolled");
	snprintf(c.self[0].cert_serial, STORE_SERIAL_MAX, NEW);
	o = seen(&c, "u-kma02", "a-kma01", "outbound", "peer_serial_mismatch");
	snprintf(o->peer_serial, sizeof(o->peer_serial), NEW);
	o = seen(&c, "u-kma02", "a-kma01", "inbound", "peer_serial_mismatch");
	snprintf(o->peer_serial, sizeof(o->peer_serial), NEW);
	o = seen(&c, "b-kma03", "a-kma01", "outbound", "peer_serial_mismatch");
	snprintf(o->peer_serial, sizeof(o->peer_serial), NEW);
	o = seen(&c, "b-kma03", "a-kma01", "inbound", "ok"); /* before the wedge, old cert */
	snprintf(o->peer_serial, sizeof(o->peer_serial), OLD);
	seen(&c, "a-kma01", "u-kma02", "outbound", "rejected_by_peer")->alert_received = 49;
	seen(&c, "a-kma01", "b-kma03", "outbound", "tcp_refused");
	seen(&c, "u-kma02", "b-kma03", "outbound", "tcp_refused");
	seen(&c, "b-kma03", "u-kma02", "outbound", "ok");
	seen(&c, "u-kma02", "b-kma03", "inbound", "ok");
	assert_int_equal(run(&c, f, 8), 2);
	assert_string_equal(f[0].pattern, "node_not_rejoined");
	assert_string_equal(f[0].culprit, "a-kma01");
	assert_string_equal(f[1].pattern, "node_refused");
	assert_string_equal(f[1].culprit, "b-kma03");
	/* The same ok observation about the certificate a-kma01 presents now would clear it. */
	snprintf(o->peer_serial, sizeof(o->peer_serial), NEW);
	run(&c, f, 8);
	assert_string_not_equal(f[0].pattern, "node_not_rejoined");
}

/* The incident's other symptom: one node refuses everyone (listen queue full). */
static void test_refused(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	healthy_pair(&c, "a-kma01", "u-kma02");
	seen(&c, "a-kma01", "b-kma03", "outbound", "tcp_refused");
	seen(&c, "u-kma02", "b-kma03", "outbound", "tcp_refused");
	seen(&c, "b-kma03", "a-kma01", "outbound", "ok");
	seen(&c, "b-kma03", "u-kma02", "outbound", "ok");
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "node_refused");
	assert_string_equal(f[0].culprit, "b-kma03");
	assert_non_null(strstr(f[0].remedy, "rolling reboot of b-kma03"));
}

static void test_ca_mismatch(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	seen(&c, "a-kma01", "u-kma02", "outbound", "peer_cert_untrusted");
	seen(&c, "u-kma02", "a-kma01", "outbound", "peer_cert_untrusted");
	seen(&c, "b-kma03", "a-kma01", "outbound", "peer_chain_incomplete");
	seen(&c, "a-kma01", "b-kma03", "outbound", "rejected_by_peer")->alert_received = 48;
	seen(&c, "u-kma02", "b-kma03", "inbound", "peer_cert_untrusted");
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "cluster_ca_mismatch");
	assert_string_equal(f[0].culprit, "");
}

static void test_stale_trust(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	healthy_pair(&c, "u-kma02", "b-kma03");
	seen(&c, "a-kma01", "u-kma02", "outbound", "peer_cert_untrusted");
	seen(&c, "a-kma01", "b-kma03", "outbound", "peer_cert_untrusted");
	seen(&c, "u-kma02", "a-kma01", "outbound", "rejected_by_peer")->alert_received = 48;
	seen(&c, "b-kma03", "a-kma01", "outbound", "rejected_by_peer")->alert_received = 48;
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "node_stale_trust");
	assert_string_equal(f[0].culprit, "a-kma01");
}

static void test_pair(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	healthy_pair(&c, "a-kma01", "b-kma03");
	healthy_pair(&c, "u-kma02", "b-kma03");
	seen(&c, "a-kma01", "u-kma02", "outbound", "tcp_timeout");
	seen(&c, "u-kma02", "a-kma01", "outbound", "tcp_timeout");
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "pair_failure");
	assert_string_equal(f[0].culprit, "a-kma01 <-> u-kma02");
}

static void test_identity_wrong(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	healthy_pair(&c, "u-kma02", "b-kma03");
	snprintf(seen(&c, "u-kma02", "a-kma01", "outbound", "peer_identity_mismatch")->peer_node_id,
	         STORE_ID_MAX, "a-kma09");
	seen(&c, "b-kma03", "a-kma01", "outbound", "peer_identity_mismatch");
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "node_identity_wrong");
	assert_string_equal(f[0].culprit, "a-kma01");
	/* The evidence names what was found there, when the observation says. */
	assert_true(mentions(&f[0], "u-kma02 -> a-kma01: peer_identity_mismatch, its certificate "
	                            "names a-kma09"));
}

static void test_node_facts(void **state)
{
	struct cluster c;
	struct diag_finding f[8];
	size_t n;

	(void)state;
	three(&c);
	healthy_pair(&c, "a-kma01", "u-kma02");
	healthy_pair(&c, "a-kma01", "b-kma03");
	healthy_pair(&c, "u-kma02", "b-kma03");
	snprintf(c.self[1].state, STORE_STATE_MAX, "hardware_changed");
	c.self[2].report_at = NOW - 600;
	c.self[0].cert_not_after = NOW + 10 * 86400;
	snprintf(c.self[0].cert_serial, STORE_SERIAL_MAX, OLD);
	n = run(&c, f, 8);
	assert_int_equal(n, 3);
	assert_string_equal(f[0].pattern, "cert_expiring");
	assert_true(f[0].warning);
	assert_non_null(strstr(f[0].summary, "expires in 10 days"));
	assert_string_equal(f[1].pattern, "node_state");
	assert_string_equal(f[1].culprit, "u-kma02");
	assert_string_equal(f[2].pattern, "node_silent");
	assert_non_null(strstr(f[2].summary, "for 600 s"));
}

/* Once the forecast comes true: an error, and what the peers see is explained by it. */
static void test_cert_expired(void **state)
{
	struct cluster c;
	struct diag_finding f[8];
	const char *peers[] = {"u-kma02", "b-kma03"};

	(void)state;
	three(&c);
	healthy_pair(&c, "u-kma02", "b-kma03");
	c.self[0].cert_not_after = NOW - 2 * 86400 - 60;
	snprintf(c.self[0].cert_serial, STORE_SERIAL_MAX, OLD);
	for (int i = 0; i < 2; i++) {
		seen(&c, peers[i], "a-kma01", "outbound", "peer_cert_expired")->alert_sent = 45;
		seen(&c, peers[i], "a-kma01", "inbound", "peer_cert_expired")->alert_sent = 45;
		seen(&c, "a-kma01", peers[i], "outbound", "rejected_by_peer")->alert_received = 45;
	}
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "cert_expiring");
	assert_string_equal(f[0].culprit, "a-kma01");
	assert_false(f[0].warning);
	assert_non_null(strstr(f[0].summary, "serial " OLD ") expired 2 days ago"));
	assert_non_null(strstr(f[0].remedy, "renew a-kma01's certificate"));
	assert_true(mentions(&f[0], "u-kma02 -> a-kma01: peer_cert_expired, alert 45 sent"));
	assert_true(mentions(&f[0], "b-kma03 <- a-kma01: peer_cert_expired, alert 45 sent"));
	assert_true(mentions(&f[0], "a-kma01 -> b-kma03: rejected_by_peer, alert 45 received"));
	assert_int_equal(f[0].n_evidence, 6);
}

/* A cluster that reports but has not probed yet is not verified, hence not healthy. */
static void test_unverified(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	healthy_pair(&c, "a-kma01", "u-kma02");
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "node_unverified");
	assert_string_equal(f[0].culprit, "b-kma03");
	c.self[2].report_at = 0; /* never reported: silent, and not also unverified */
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "node_silent");
}

static void test_unexplained(void **state)
{
	struct cluster c;
	struct diag_finding f[8];

	(void)state;
	three(&c);
	healthy_pair(&c, "a-kma01", "b-kma03");
	healthy_pair(&c, "u-kma02", "b-kma03");
	seen(&c, "a-kma01", "u-kma02", "outbound", "peer_cert_revoked");
	seen(&c, "u-kma02", "a-kma01", "outbound", "ok");
	assert_int_equal(run(&c, f, 8), 1);
	assert_string_equal(f[0].pattern, "unexplained");
	assert_true(mentions(&f[0], "a-kma01 -> u-kma02: peer_cert_revoked"));
	/* A full output array never overflows. */
	assert_int_equal(run(&c, f, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_healthy),
	    cmocka_unit_test(test_okm_not_rejoined),
	    cmocka_unit_test(test_okm_with_wedged_peer),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_ca_mismatch),
	    cmocka_unit_test(test_stale_trust),
	    cmocka_unit_test(test_pair),
	    cmocka_unit_test(test_identity_wrong),
	    cmocka_unit_test(test_node_facts),
	    cmocka_unit_test(test_unexplained),
	    cmocka_unit_test(test_unverified),
	    cmocka_unit_test(test_cert_expired),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
