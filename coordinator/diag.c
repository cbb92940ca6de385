#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXPIRY_WARN (30 * 86400)

struct ctx {
	const struct diag_input *in;
	struct diag_finding *out;
	size_t max, n;
	bool *explained;  /* per observation */
	bool *state_told; /* per node: its own state is already in a finding */
};

static const char *const transport_causes[] = {"tcp_refused", "tcp_timeout", "tcp_reset",
                                               "handshake_timeout", NULL};
/* What a broken path or a middlebox produces between two otherwise healthy nodes. */
static const char *const path_causes[] = {
    "tcp_refused", "tcp_timeout", "tcp_reset", "handshake_timeout", "peer_closed", "not_tls", NULL};
static const char *const distrust_causes[] = {"peer_cert_untrusted", "peer_chain_incomplete", NULL};

static bool in_set(const char *cause, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(cause, *set) == 0)
			return true;
	return false;
}

static bool ok(const struct store_observation *o)
{
	return strcmp(o->cause, "ok") == 0;
}

static bool outbound(const struct store_observation *o)
{
	return strcmp(o->direction, "outbound") == 0;
}

static struct diag_finding *add(struct ctx *c, const char *pattern, const char *culprit,
                                bool warning, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static struct diag_finding *add(struct ctx *c, const char *pattern, const char *culprit,
                                bool warning, const char *fmt, ...)
{
	struct diag_finding *f;
	va_list ap;

	if (c->n == c->max)
		return NULL;
	f = &c->out[c->n++];
	memset(f, 0, sizeof(*f));
	f->pattern = pattern;
	f->warning = warning;
	snprintf(f->culprit, sizeof(f->culprit), "%s", culprit);
	va_start(ap, fmt);
	vsnprintf(f->summary, sizeof(f->summary), fmt, ap);
	va_end(ap);
	return f;
}

static void say(struct diag_finding *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct diag_finding *f, const char *fmt, ...)
{
	va_list ap;

	if (!f || f->n_evidence == DIAG_EVIDENCE_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(f->evidence[f->n_evidence++], sizeof(f->evidence[0]), fmt, ap);
	va_end(ap);
}

/* One line of evidence per observation, with what made it fail. */
static void cite(struct diag_finding *f, const struct store_observation *o)
{
	char extra[200] = "";
	size_t used = 0;

	if (o->peer_node_id[0] && strcmp(o->peer_node_id, o->peer_id) != 0 &&
	    strcmp(o->peer_node_id, o->node_id) != 0)
		used += (size_t)snprintf(extra + used, sizeof(extra) - used,
		                         ", its certificate names %.64s", o->peer_node_id);
	if (o->peer_serial[0] && o->expected_serial[0] &&
	    strcmp(o->peer_serial, o->expected_serial) != 0 && used < sizeof(extra))
		used += (size_t)snprintf(extra + used, sizeof(extra) - used,
		                         ", presented serial %s, enrolled %s", o->peer_serial,
		                         o->expected_serial);
	if (o->alert_sent >= 0 && used < sizeof(extra))
		used += (size_t)snprintf(extra + used, sizeof(extra) - used, ", alert %d sent",
		                         o->alert_sent);
	if (o->alert_received >= 0 && used < sizeof(extra))
		snprintf(extra + used, sizeof(extra) - used, ", alert %d received",
		         o->alert_received);
	say(f, "%s %s %s: %s%s", o->node_id, outbound(o) ? "->" : "<-", o->peer_id, o->cause,
	    extra);
}

/* Marks every observation made by or about node as explained. */
static void explain_node(struct ctx *c, const char *node)
{
	for (size_t i = 0; i < c->in->n_obs; i++)
		if (strcmp(c->in->obs[i].node_id, node) == 0 ||
		    strcmp(c->in->obs[i].peer_id, node) == 0)
			c->explained[i] = true;
}

static int node_index(const struct diag_input *in, const char *id)
{
	for (size_t i = 0; i < in->n_nodes; i++)
		if (strcmp(in->nodes[i].node_id, id) == 0)
			return (int)i;
	return -1;
}

/*
 * Whether o is about a certificate node no longer presents: it names a serial and node
 * reports another one. A peer that cannot see node's new identity (its listener is
 * wedged, so node never reaches it) still holds what it saw of the old one; that is not
 * evidence about the node as it is now.
 */
static bool about_old_identity(struct ctx *c, const struct store_observation *o, const char *node)
{
	int i = node_index(c->in, node);

	return i >= 0 && o->peer_serial[0] && c->in->self[i].cert_serial[0] &&
	       strcasecmp(o->peer_serial, c->in->self[i].cert_serial) != 0;
}

/*
 * True when every observation others made about node (outbound only, or both
 * directions) has a cause in set, and there is at least one. Observations of a
 * certificate node no longer presents do not count.
 */
static bool all_about(struct ctx *c, const char *node, bool outbound_only, const char *const *set)
{
	size_t n = 0;

	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];

		if (strcmp(o->peer_id, node) != 0 || strcmp(o->node_id, node) == 0 ||
		    (outbound_only && !outbound(o)) || about_old_identity(c, o, node))
			continue;
		if (!in_set(o->cause, set))
			return false;
		n++;
	}
	return n > 0;
}

static void cite_about(struct ctx *c, struct diag_finding *f, const char *node, bool by_node_too)
{
	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];

		if ((strcmp(o->peer_id, node) == 0 ||
		     (by_node_too && strcmp(o->node_id, node) == 0)) &&
		    !ok(o))
			cite(f, o);
	}
}

static void own_state(struct ctx *c, struct diag_finding *f, const char *node)
{
	int i = node_index(c->in, node);

	if (i >= 0 && c->in->self[i].state[0]) {
		say(f, "%s itself reports identity state %s", node, c->in->self[i].state);
		c->state_told[i] = true;
	}
}

static bool node_patterns(struct ctx *c, const char *x)
{
	static const char *const serial[] = {"peer_serial_mismatch", NULL};
	static const char *const identity[] = {"peer_identity_mismatch", NULL};
	struct diag_finding *f;

	if (all_about(c, x, false, serial)) {
		f = add(
		    c, "node_not_rejoined", x, false,
		    "every peer rejects %s's certificate serial (peer_serial_mismatch) and %s is "
		    "rejected by its peers: %s was QuickStarted after a hardware change and "
		    "never rejoined",
		    x, x, x);
		snprintf(f->remedy, sizeof(f->remedy),
		         "factory reset and rejoin %s (delete its entry, factory reset, re-add, "
		         "QuickStart, join), or enrol its new serial if the re-key was intended",
		         x);
		cite_about(c, f, x, true);
		own_state(c, f, x);
	} else if (all_about(c, x, true, identity)) {
		f = add(c, "node_identity_wrong", x, false,
		        "every peer finds a certificate for another node ID at %s's address: the "
		        "entity was recreated wrongly",
		        x);
		snprintf(
		    f->remedy, sizeof(f->remedy),
		    "factory reset and rejoin %s with its right node ID, or fix its address in "
		    "the peer table",
		    x);
		cite_about(c, f, x, false);
	} else if (all_about(c, x, true, transport_causes)) {
		f = add(c, "node_refused", x, false,
		        "no peer can complete a connection to %s: its listener is down or its "
		        "listen queue is full",
		        x);
		snprintf(f->remedy, sizeof(f->remedy),
		         "rolling reboot of %s: one node at a time, each fully serving keys before "
		         "the next",
		         x);
		cite_about(c, f, x, false);
	} else {
		return false;
	}
	if (f)
		explain_node(c, x);
	return true;
}

/* Every outbound observation of the cluster is a trust failure, seen by 2+ nodes. */
static bool cluster_ca_mismatch(struct ctx *c)
{
	size_t distrust = 0, observers = 0;
	struct diag_finding *f;

	for (size_t n = 0; n < c->in->n_nodes; n++) {
		bool saw = false;

		for (size_t i = 0; i < c->in->n_obs; i++) {
			const struct store_observation *o = &c->in->obs[i];

			if (!outbound(o) || strcmp(o->node_id, c->in->nodes[n].node_id) != 0)
				continue;
			if (in_set(o->cause, distrust_causes)) {
				distrust++;
				saw = true;
			} else if (strcmp(o->cause, "rejected_by_peer") != 0) {
				return false;
			}
		}
		observers += saw;
	}
	if (observers < 2 || distrust == 0)
		return false;
	f = add(c, "cluster_ca_mismatch", "", false,
	        "no node trusts the other nodes' certificate chains: the nodes do not share one "
	        "cluster CA (the domain-CA incident)");
	if (f) {
		snprintf(
		    f->remedy, sizeof(f->remedy),
		    "distribute the right cluster CA to every node, or re-enrol the nodes whose "
		    "certificates come from another CA");
		for (size_t i = 0; i < c->in->n_obs; i++)
			if (outbound(&c->in->obs[i]) && !ok(&c->in->obs[i]))
				cite(f, &c->in->obs[i]);
	}
	memset(c->explained, 1, c->in->n_obs * sizeof(bool));
	return true;
}

/* X distrusts every peer, and no other node distrusts anyone. */
static bool stale_trust(struct ctx *c, const char *x)
{
	size_t mine = 0;
	struct diag_finding *f;

	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];
		bool by_x = strcmp(o->node_id, x) == 0;

		if (by_x && outbound(o)) {
			if (!in_set(o->cause, distrust_causes))
				return false;
			mine++;
		} else if (!by_x && in_set(o->cause, distrust_causes)) {
			return false;
		}
	}
	if (!mine)
		return false;
	f = add(c, "node_stale_trust", x, false,
	        "%s does not trust any peer's certificate chain while its peers trust each "
	        "other: %s's trust store (or peer table) is stale",
	        x, x);
	if (f) {
		snprintf(f->remedy, sizeof(f->remedy),
		         "install the current cluster CA on %s, or factory reset and rejoin it", x);
		cite_about(c, f, x, true);
	}
	explain_node(c, x);
	return true;
}

/* A failing pair whose two ends are fine with everyone else. */
static void pair_failures(struct ctx *c)
{
	const struct diag_input *in = c->in;

	if (in->n_nodes < 3)
		return; /* with two nodes a pair is the whole cluster: nothing to compare */
	for (size_t a = 0; a < in->n_nodes; a++) {
		for (size_t b = a + 1; b < in->n_nodes; b++) {
			const char *na = in->nodes[a].node_id, *nb = in->nodes[b].node_id;
			bool failing = false, a_ok_else = false, b_ok_else = false, clean = true;
			struct diag_finding *f;

			for (size_t i = 0; i < in->n_obs; i++) {
				const struct store_observation *o = &in->obs[i];
				bool has_a = !strcmp(o->node_id, na) || !strcmp(o->peer_id, na);
				bool has_b = !strcmp(o->node_id, nb) || !strcmp(o->peer_id, nb);

				if (has_a && has_b) {
					if (!ok(o) && !c->explained[i] &&
					    !in_set(o->cause, path_causes))
						clean = false; /* a certificate problem is no path
						                  problem */
					failing |= !ok(o) && !c->explained[i];
				} else if (has_a || has_b) {
					if (!ok(o))
						clean = false;
					else if (has_a)
						a_ok_else = true;
					else
						b_ok_else = true;
				}
			}
			if (!failing || !clean || !a_ok_else || !b_ok_else)
				continue;
			f = add(c, "pair_failure", "", false,
			        "only %s and %s fail to reach each other; both are fine with every "
			        "other node: the network path between them",
			        na, nb);
			if (!f)
				return;
			snprintf(f->culprit, sizeof(f->culprit), "%s <-> %s", na, nb);
			snprintf(f->remedy, sizeof(f->remedy),
			         "check the network path and firewalls between %s and %s", na, nb);
			for (size_t i = 0; i < in->n_obs; i++) {
				const struct store_observation *o = &in->obs[i];

				if (((!strcmp(o->node_id, na) && !strcmp(o->peer_id, nb)) ||
				     (!strcmp(o->node_id, nb) && !strcmp(o->peer_id, na))) &&
				    !ok(o)) {
					cite(f, o);
					c->explained[i] = true;
				}
			}
		}
	}
}

/* Whether any other node has probed node (outbound). */
static bool observed(const struct diag_input *in, const char *node)
{
	for (size_t i = 0; i < in->n_obs; i++)
		if (outbound(&in->obs[i]) && strcmp(in->obs[i].peer_id, node) == 0 &&
		    strcmp(in->obs[i].node_id, node) != 0)
			return true;
	return false;
}

/*
 * What x's expired certificate explains: its peers find it expired, and they reject x
 * with certificate_expired (45).
 */
static void cite_expired(struct ctx *c, struct diag_finding *f, const char *x)
{
	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];
		bool by_x = strcmp(o->node_id, x) == 0;

		if (c->explained[i])
			continue;
		if ((!by_x && strcmp(o->peer_id, x) == 0 &&
		     strcmp(o->cause, "peer_cert_expired") == 0) ||
		    (by_x &&
		     ((strcmp(o->cause, "rejected_by_peer") == 0 && o->alert_received == 45) ||
		      strcmp(o->cause, "local_cert_expired") == 0))) {
			cite(f, o);
			c->explained[i] = true;
		}
	}
}

static void node_findings(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t i = 0; i < in->n_nodes; i++) {
		const char *x = in->nodes[i].node_id;
		const struct diag_self *s = &in->self[i];
		struct diag_finding *f = NULL;

		if (!c->state_told[i] &&
		    (!strcmp(s->state, "hardware_changed") || !strcmp(s->state, "not_enrolled") ||
		     !strcmp(s->state, "unprovisioned"))) {
			f = add(c, "node_state", x, false, "%s reports identity state %s", x,
			        s->state);
			if (f)
				snprintf(f->remedy, sizeof(f->remedy), "%s",
				         !strcmp(s->state, "not_enrolled")
				             ? "join this node (enrol its current serial)"
				         : !strcmp(s->state, "unprovisioned")
				             ? "QuickStart this node"
				             : "factory reset and rejoin this node");
		}
		if (in->n_nodes > 1 && s->report_at && !observed(in, x)) {
			f = add(c, "node_unverified", x, false,
			        "no peer has probed %s yet: its identity is not verified", x);
			if (f)
				snprintf(
				    f->remedy, sizeof(f->remedy),
				    "wait for the first probes; if this stays, check %s's address "
				    "in the peer table and that its agent listens",
				    x);
		}
		if (s->report_at == 0 || in->now - s->report_at > in->stale_after) {
			if (s->report_at == 0)
				f = add(c, "node_silent", x, false, "%s has never reported", x);
			else
				f = add(c, "node_silent", x, false, "no report from %s for %lld s",
				        x, (long long)(in->now - s->report_at));
			if (f)
				snprintf(
				    f->remedy, sizeof(f->remedy),
				    "check that kma-agent runs on %s and reaches the coordinator",
				    x);
		}
		if (s->cert_not_after && s->cert_not_after - in->now < EXPIRY_WARN) {
			bool gone = s->cert_not_after <= in->now;

			if (gone)
				f = add(c, "cert_expiring", x, false,
				        "%s's certificate (serial %s) expired %lld days ago", x,
				        s->cert_serial,
				        (long long)((in->now - s->cert_not_after) / 86400));
			else
				f = add(c, "cert_expiring", x, true,
				        "%s's certificate (serial %s) expires in %lld days", x,
				        s->cert_serial,
				        (long long)((s->cert_not_after - in->now) / 86400));
			if (f)
				snprintf(f->remedy, sizeof(f->remedy),
				         "renew %s's certificate (QuickStart and join) %s", x,
				         gone ? "now: its peers reject it until then"
				              : "before it fails");
			if (gone)
				cite_expired(c, f, x);
		}
	}
}

size_t diag_run(const struct diag_input *in, struct diag_finding *out, size_t max)
{
	struct ctx c = {.in = in, .out = out, .max = max};
	struct diag_finding *rest = NULL;

	c.explained = calloc(in->n_obs ? in->n_obs : 1, sizeof(bool));
	c.state_told = calloc(in->n_nodes ? in->n_nodes : 1, sizeof(bool));
	if (!c.explained || !c.state_told)
		goto exit;
	if (!cluster_ca_mismatch(&c)) {
		for (size_t i = 0; i < in->n_nodes; i++)
			if (!node_patterns(&c, in->nodes[i].node_id))
				(void)stale_trust(&c, in->nodes[i].node_id);
		pair_failures(&c);
	}
	node_findings(&c);
	for (size_t i = 0; i < in->n_obs; i++) {
		if (c.explained[i] || ok(&in->obs[i]))
			continue;
		if (!rest) {
			rest = add(&c, "unexplained", "", false,
			           "failing observations that no known pattern explains");
			if (!rest)
				break;
			snprintf(rest->remedy, sizeof(rest->remedy),
			         "look at each pair with kma-agent probe from both ends");
		}
		cite(rest, &in->obs[i]);
	}
exit:
	free(c.explained);
	free(c.state_told);
	return c.n;
}
