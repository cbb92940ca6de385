#include "diag.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXPIRY_WARN (30 * 86400)

/* What a failure says is wrong, and with whom (diag.h lists the patterns). */
enum kind {
	K_NONE,
	/* the node at the address the observer dialled */
	K_NOT_REJOINED,
	K_IDENTITY,
	K_UNTRUSTED,
	K_EXPIRED,
	K_NOT_YET_VALID,
	K_REVOKED,
	K_BAD_USAGE,
	K_UNREACHABLE,
	K_TLS,
	/* the observing node */
	K_STALE_TRUST,
	K_CLOCK,
	K_STALE_PEERS,
	K_REJECTING,
	K_LOCAL,
	K_PATH, /* the observer or its path to one peer: pairs and isolation */
	K_COUNT
};

static const enum kma_pattern patterns[K_COUNT] = {
    [K_NOT_REJOINED] = KMA_PATTERN_NODE_NOT_REJOINED,
    [K_IDENTITY] = KMA_PATTERN_NODE_IDENTITY_WRONG,
    [K_UNTRUSTED] = KMA_PATTERN_NODE_UNTRUSTED,
    [K_EXPIRED] = KMA_PATTERN_NODE_CERT_EXPIRED,
    [K_NOT_YET_VALID] = KMA_PATTERN_NODE_CERT_NOT_YET_VALID,
    [K_REVOKED] = KMA_PATTERN_NODE_CERT_REVOKED,
    [K_BAD_USAGE] = KMA_PATTERN_NODE_CERT_BAD_USAGE,
    [K_UNREACHABLE] = KMA_PATTERN_NODE_REFUSED,
    [K_TLS] = KMA_PATTERN_NODE_TLS_MISMATCH,
    [K_STALE_TRUST] = KMA_PATTERN_NODE_STALE_TRUST,
    [K_CLOCK] = KMA_PATTERN_NODE_CLOCK_SKEW,
    [K_STALE_PEERS] = KMA_PATTERN_NODE_STALE_PEERS,
    [K_REJECTING] = KMA_PATTERN_NODE_REJECTING,
    [K_LOCAL] = KMA_PATTERN_NODE_STATE,
    [K_PATH] = KMA_PATTERN_PAIR_FAILURE,
};

/* Kinds a vote among the node's observers settles (the facts alone do not). */
static bool voted(enum kind k)
{
	return k == K_UNREACHABLE || k == K_TLS;
}

/* Kinds about the certificate an address presents (a newer one there makes them stale). */
static bool about_cert(enum kind k)
{
	return k >= K_NOT_REJOINED && k <= K_BAD_USAGE;
}

struct ctx {
	const struct diag_input *in;
	struct diag_finding *out;
	size_t max, n;
	int64_t since; /* observations older than this do not count (diag_confirm) */
	/* per node */
	bool *counted;  /* reports now: its observations count */
	bool *refused;  /* its reports began to be refused after its last accepted one */
	bool *told;     /* an error finding names it already */
	bool *distrust; /* in a distrust finding (for cluster_ca_mismatch) */
	/* per observation */
	int *target; /* the node a failure is blamed on, -1: none */
	enum kind *kind;
	bool *tentative; /* blamed on the node at the address pending the vote */
	bool *explained;
};

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static bool ok(const struct store_observation *o)
{
	return o->cause == KMA_CAUSE_OK;
}

static bool outbound(const struct store_observation *o)
{
	return o->direction == KMA_DIRECTION_OUTBOUND;
}

static bool same_serial(const char *a, const char *b)
{
	return a[0] && b[0] && strcasecmp(a, b) == 0;
}

static int node_index(const struct diag_input *in, const char *id)
{
	for (size_t i = 0; i < in->n_nodes; i++)
		if (is(in->nodes[i].node_id, id))
			return (int)i;
	return -1;
}

/* Two DNs are the same regardless of case and spacing (mbedTLS versions differ in both). */
static bool same_dn(const char *a, const char *b)
{
	for (;;) {
		while (*a == ' ')
			a++;
		while (*b == ' ')
			b++;
		if (!*a || !*b)
			return !*a && !*b;
		if (tolower((unsigned char)*a++) != tolower((unsigned char)*b++))
			return false;
	}
}

/* 1: issuer is the cluster CA; 0: it is not; -1: cannot tell. */
static int cluster_issued(const struct diag_input *in, const char *issuer)
{
	if (!in->n_ca_subjects || !issuer[0])
		return -1;
	for (size_t i = 0; i < in->n_ca_subjects; i++)
		if (same_dn(in->ca_subjects[i], issuer))
			return 1;
	return 0;
}

static struct diag_finding *add(struct ctx *c, enum kma_pattern pattern, const char *culprit,
                                bool warning, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static struct diag_finding *add(struct ctx *c, enum kma_pattern pattern, const char *culprit,
                                bool warning, const char *fmt, ...)
{
	struct diag_finding *f;
	va_list ap;
	int x;

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
	x = node_index(c->in, culprit);
	if (x >= 0 && !warning)
		c->told[x] = true;
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

static void remedy(struct diag_finding *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void remedy(struct diag_finding *f, const char *fmt, ...)
{
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	vsnprintf(f->remedy, sizeof(f->remedy), fmt, ap);
	va_end(ap);
}

/* One line of evidence per observation, with what made it fail. */
static void cite(struct diag_finding *f, const struct store_observation *o)
{
	char extra[200] = "";
	size_t used = 0;

#define MORE(...)                                                                                  \
	do {                                                                                       \
		if (used < sizeof(extra))                                                          \
			used += (size_t)snprintf(extra + used, sizeof(extra) - used, __VA_ARGS__); \
	} while (0)
	if (o->peer_node_id[0] && !is(o->peer_node_id, o->peer_id) &&
	    !is(o->peer_node_id, o->node_id))
		MORE(", its certificate names %.64s", o->peer_node_id);
	if (o->peer_serial[0] && o->expected_serial[0] &&
	    strcasecmp(o->peer_serial, o->expected_serial) != 0)
		MORE(", presented serial %s, enrolled %s", o->peer_serial, o->expected_serial);
	if ((o->cause == KMA_CAUSE_PEER_CERT_UNTRUSTED ||
	     o->cause == KMA_CAUSE_PEER_CHAIN_INCOMPLETE) &&
	    o->peer_issuer[0])
		MORE(", issued by %.80s", o->peer_issuer);
	if (o->alert_sent >= 0)
		MORE(", alert %d sent", o->alert_sent);
	if (o->alert_received >= 0)
		MORE(", alert %d received", o->alert_received);
#undef MORE
	say(f, "%s %s %s: %s%s", o->node_id, outbound(o) ? "->" : "<-", o->peer_id,
	    kma_cause_id(o->cause), extra);
}

/* ---- who speaks, and which observations count ---- */

const struct store_attempt *diag_refusal(const struct store_attempt *a, size_t n_a,
                                         const struct store_node *n, int64_t now,
                                         int64_t stale_after)
{
	/* A report interval, about: stale_after is three of them and 5 s (coord_main.c). */
	int64_t interval = stale_after > 8 ? (stale_after - 5) / 3 : 1;
	int64_t last = n->has_report ? n->report_at : 0;

	for (size_t i = 0; i < n_a; i++)
		if (a[i].known && is(a[i].node_id, n->node_id) && a[i].first_at >= last &&
		    now - a[i].last_at <= stale_after &&
		    ((n->has_report && is(a[i].address, n->report_address)) ||
		     a[i].last_at - last > interval))
			return &a[i];
	return NULL;
}

static void who_speaks(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct diag_self *s = &in->self[i];
		bool silent = !s->report_at || in->now - s->report_at > in->stale_after;

		c->refused[i] = diag_refusal(in->attempts, in->n_attempts, &in->nodes[i], in->now,
		                             in->stale_after) != NULL;
		c->counted[i] = !silent && !c->refused[i];
	}
}

/* The observation counts: both ends are nodes, the observer reports now, and it is recent. */
static bool counts(const struct ctx *c, const struct store_observation *o, int *by, int *about)
{
	*by = node_index(c->in, o->node_id);
	*about = node_index(c->in, o->peer_id);
	return *by >= 0 && *about >= 0 && *by != *about && c->counted[*by] && o->at >= c->since;
}

/* The counted outbound view of node x's address by node by, or NULL. */
static const struct store_observation *view_of(const struct ctx *c, int by, int x,
                                               enum kma_direction dir)
{
	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];
		int b, a;

		if (counts(c, o, &b, &a) && b == by && a == x && o->direction == dir)
			return o;
	}
	return NULL;
}

/* The node whose address presents serial (by any counted observer's view), or -1. */
static int holder_of(const struct ctx *c, const char *serial)
{
	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];
		int b, a;

		if (counts(c, o, &b, &a) && outbound(o) && same_serial(o->peer_serial, serial))
			return a;
	}
	return -1;
}

/* ---- attribution: whose fault each failure is ---- */

static void blame(struct ctx *c, size_t i, int target, enum kind k, bool tentative)
{
	c->target[i] = target;
	c->kind[i] = k;
	c->tentative[i] = tentative;
}

/*
 * A certificate failure by observer `by` about the certificate a peer presented: the
 * observer's own fault (returns by with *k), or the certificate's (returns -2 with *k: the
 * holder is decided by the caller). *tentative when the facts do not settle it.
 */
static int judge_cert(const struct ctx *c, const struct store_observation *o, int by, int x,
                      enum kind *k, bool *tentative)
{
	const struct store_node *nx = &c->in->nodes[x];
	enum kma_cause cause = o->cause;

	*tentative = false;
	if (cause == KMA_CAUSE_PEER_SERIAL_MISMATCH) {
		if (same_serial(o->peer_serial, nx->enrolled_serial)) {
			*k = K_STALE_PEERS; /* the enrolled certificate; the pin is old */
			return by;
		}
		/* An observer that trusts a foreign CA passes its chain and stops at the pin. */
		*k = cluster_issued(c->in, o->peer_issuer) == 0 ? K_UNTRUSTED : K_NOT_REJOINED;
		return -2;
	}
	if (cause == KMA_CAUSE_PEER_IDENTITY_MISMATCH) {
		*k = K_IDENTITY;
		if (outbound(o) && o->peer_address[0] && nx->address[0] &&
		    strcasecmp(o->peer_address, nx->address) != 0) {
			*k = K_STALE_PEERS; /* it dialled an address that is not the node's */
			return by;
		}
		return -2;
	}
	if (cause == KMA_CAUSE_PEER_CERT_UNTRUSTED || cause == KMA_CAUSE_PEER_CHAIN_INCOMPLETE) {
		int ours = cluster_issued(c->in, o->peer_issuer);

		*k = ours == 1 ? K_STALE_TRUST : K_UNTRUSTED;
		*tentative = ours < 0 || cause == KMA_CAUSE_PEER_CHAIN_INCOMPLETE;
		return ours == 1 ? by : -2;
	}
	if (cause == KMA_CAUSE_PEER_CERT_EXPIRED || cause == KMA_CAUSE_PEER_CERT_NOT_YET_VALID) {
		bool expired = cause == KMA_CAUSE_PEER_CERT_EXPIRED;
		int64_t t = expired ? o->peer_not_after : o->peer_not_before;

		*k = expired ? K_EXPIRED : K_NOT_YET_VALID;
		if (!t) {
			*tentative = true;
			return -2;
		}
		/* Valid by the coordinator's clock: the observer's clock is wrong. */
		if (expired ? t > c->in->now : t <= c->in->now) {
			*k = K_CLOCK;
			return by;
		}
		return -2;
	}
	if (cause == KMA_CAUSE_PEER_CERT_REVOKED) {
		*k = same_serial(o->peer_serial, nx->enrolled_serial) ? K_STALE_TRUST : K_REVOKED;
		return *k == K_STALE_TRUST ? by : -2;
	}
	if (cause == KMA_CAUSE_PEER_CERT_BAD_USAGE) {
		*k = K_BAD_USAGE;
		return -2;
	}
	*k = K_NONE;
	return -1;
}

static bool transport(enum kma_cause cause)
{
	return cause == KMA_CAUSE_TCP_REFUSED || cause == KMA_CAUSE_TCP_TIMEOUT ||
	       cause == KMA_CAUSE_TCP_RESET || cause == KMA_CAUSE_HANDSHAKE_TIMEOUT ||
	       cause == KMA_CAUSE_DNS_FAILURE;
}

static bool negotiation(enum kma_cause cause)
{
	return cause == KMA_CAUSE_PEER_CLOSED || cause == KMA_CAUSE_NOT_TLS ||
	       cause == KMA_CAUSE_PROTOCOL_MISMATCH || cause == KMA_CAUSE_CIPHER_MISMATCH;
}

/* Outbound: `by` dialled x's address. */
static void judge_outbound(struct ctx *c, size_t i, int by, int x)
{
	const struct store_observation *o = &c->in->obs[i];
	const struct store_observation *back;
	enum kind k;
	bool tentative;
	int who;

	if (transport(o->cause) || negotiation(o->cause)) {
		/* Reached after all: x's listener took by's connection since. */
		back = view_of(c, x, by, KMA_DIRECTION_INBOUND);
		if (back && ok(back) && back->at > o->at) {
			c->explained[i] = true;
			return;
		}
		blame(c, i, x, transport(o->cause) ? K_UNREACHABLE : K_TLS, true);
		return;
	}
	if (o->cause == KMA_CAUSE_LOCAL_IDENTITY_MISSING ||
	    o->cause == KMA_CAUSE_LOCAL_CERT_EXPIRED || o->cause == KMA_CAUSE_LOCAL_NOT_ENROLLED) {
		blame(c, i, by, K_LOCAL, false);
		return;
	}
	who = judge_cert(c, o, by, x, &k, &tentative);
	if (who == -2)
		blame(c, i, x, k, tentative);
	else if (who >= 0)
		blame(c, i, who, k, false);
}

/* Inbound: a client bearing x's name connected to `by`. */
static void judge_inbound(struct ctx *c, size_t i, int by, int x)
{
	const struct store_observation *o = &c->in->obs[i];
	enum kind k;
	bool tentative;
	int who = judge_cert(c, o, by, x, &k, &tentative);

	if (who >= 0) {
		blame(c, i, who, k, false);
		return;
	}
	if (who != -2)
		return; /* transport or negotiation seen by the listener: cited by the other end */
	/* The certificate's holder is whoever presents it at an address, not the name it bears. */
	who = holder_of(c, o->peer_serial);
	if (who < 0 && c->counted[x] && same_serial(c->in->self[x].cert_serial, o->peer_serial))
		who = x;
	if (who >= 0)
		blame(c, i, who, who == x ? k : K_IDENTITY, tentative);
}

/*
 * rejected_by_peer: x aborted the handshake over by's certificate. x's own observation of
 * the same connection says why; else, when by's address passes with its other peers, x
 * rejects a good certificate, and the alert says how.
 */
static void judge_rejected(struct ctx *c, size_t i, int by, int x)
{
	const struct store_observation *o = &c->in->obs[i];
	const struct store_observation *mirror =
	    view_of(c, x, by, outbound(o) ? KMA_DIRECTION_INBOUND : KMA_DIRECTION_OUTBOUND);
	int alert = o->alert_received;
	bool accepted = false;

	if (mirror && !ok(mirror)) {
		size_t m = (size_t)(mirror - c->in->obs);

		if (c->explained[m]) { /* stale, or left as ambiguous */
			c->explained[i] = true;
			return;
		}
		if (c->target[m] >= 0) {
			blame(c, i, c->target[m], c->kind[m], c->tentative[m]);
			return;
		}
	}
	for (size_t n = 0; n < c->in->n_nodes && !accepted; n++) {
		const struct store_observation *v =
		    (int)n == by ? NULL : view_of(c, (int)n, by, KMA_DIRECTION_OUTBOUND);

		accepted = v && ok(v);
	}
	if (!accepted)
		return; /* by's own findings explain it */
	blame(c, i, x,
	      alert == 48   ? K_STALE_TRUST
	      : alert == 45 ? K_CLOCK
	      : alert == 49 ? K_STALE_PEERS
	                    : K_REJECTING,
	      false);
}

/* Views of x's address presenting another certificate than the newest one there are stale. */
static void drop_superseded(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t x = 0; x < in->n_nodes; x++) {
		const struct store_observation *newest = NULL;

		for (size_t i = 0; i < in->n_obs; i++) {
			const struct store_observation *o = &in->obs[i];
			int b, a;

			if (counts(c, o, &b, &a) && a == (int)x && outbound(o) &&
			    o->peer_serial[0] && (!newest || o->at > newest->at))
				newest = o;
		}
		if (!newest)
			continue;
		for (size_t i = 0; i < in->n_obs; i++) {
			const struct store_observation *o = &in->obs[i];
			int b, a;

			if (counts(c, o, &b, &a) && a == (int)x && outbound(o) &&
			    o->peer_serial[0] && o->at < newest->at &&
			    !same_serial(o->peer_serial, newest->peer_serial) &&
			    (ok(o) || about_cert(c->kind[i]))) {
				c->target[i] = -1;
				c->explained[i] = true;
			}
		}
	}
}

/* Every failure but the rejections, judged on its own facts. */
static void attribute(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t i = 0; i < in->n_obs; i++)
		c->target[i] = -1;
	for (size_t i = 0; i < in->n_obs; i++) {
		const struct store_observation *o = &in->obs[i];
		int by, x;

		if (!counts(c, o, &by, &x) || ok(o) || o->cause == KMA_CAUSE_REJECTED_BY_PEER)
			continue;
		if (outbound(o))
			judge_outbound(c, i, by, x);
		else
			judge_inbound(c, i, by, x);
	}
	drop_superseded(c);
}

/* Rejections follow what the other end of the connection saw, once that is settled. */
static void attribute_rejections(struct ctx *c)
{
	for (size_t i = 0; i < c->in->n_obs; i++) {
		int by, x;

		if (counts(c, &c->in->obs[i], &by, &x) &&
		    c->in->obs[i].cause == KMA_CAUSE_REJECTED_BY_PEER)
			judge_rejected(c, i, by, x);
	}
}

/* ---- votes ---- */

/*
 * Whether by's own connections work: it got past TCP with some peer other than x. A node
 * that reaches no one cannot say whose fault its failed connection to x is; in a cluster
 * of two it is the only witness there is.
 */
static bool credible(const struct ctx *c, int by, int x)
{
	if (c->in->n_nodes <= 2)
		return true;
	/* Its connections as they are, not only since the interlock's check began. */
	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];
		int a = node_index(c->in, o->peer_id);

		if (outbound(o) && a >= 0 && a != x && a != by &&
		    node_index(c->in, o->node_id) == by && !transport(o->cause))
			return true;
	}
	return false;
}

/*
 * Whether by's failure v to connect to x says x is at fault: a refusal is x's host
 * answering that nothing listens (the path reached it), whoever else by reaches; a
 * timeout or a reset only from a credible witness.
 */
static bool witness(const struct ctx *c, const struct store_observation *v, int by, int x)
{
	return v->cause == KMA_CAUSE_TCP_REFUSED || credible(c, by, x);
}

/* Counted observers of x's address: how many reach it, how many (credible ones) fail. */
struct tally {
	size_t ok, failed, credible;
	int64_t newest_ok;
};

static void tally_of(const struct ctx *c, int x, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t n = 0; n < c->in->n_nodes; n++) {
		const struct store_observation *v =
		    (int)n == x ? NULL : view_of(c, (int)n, x, KMA_DIRECTION_OUTBOUND);

		if (!v || c->explained[v - c->in->obs])
			continue;
		if (ok(v)) {
			t->ok++;
			if (v->at > t->newest_ok)
				t->newest_ok = v->at;
		} else {
			t->failed++;
			t->credible += witness(c, v, (int)n, x);
		}
	}
}

/* Witnesses needed to blame x for what only a vote settles: two, or every node reporting. */
static size_t quorum(const struct ctx *c, int x)
{
	size_t others = 0;

	for (size_t n = 0; n < c->in->n_nodes; n++)
		others += (int)n != x && c->counted[n];
	return others < 2 ? others : 2;
}

/* x's failures that only a vote settles have too few credible witnesses: name them all. */
static void ambiguous(struct ctx *c, int x)
{
	const struct diag_input *in = c->in;
	const char *id = in->nodes[x].node_id;
	struct diag_finding *f;
	char list[2 * STORE_ID_MAX] = "";
	size_t used = 0;

	f = add(c, KMA_PATTERN_AMBIGUOUS, "", false, "%s", "");
	if (!f)
		return;
	snprintf(f->candidates[f->n_candidates++], STORE_ID_MAX, "%s", id);
	for (size_t i = 0; i < in->n_obs; i++) {
		const struct store_observation *o = &in->obs[i];

		if (c->target[i] != x || !c->tentative[i] || c->explained[i])
			continue;
		if (f->n_candidates < DIAG_CANDIDATES_MAX &&
		    !is(f->candidates[f->n_candidates - 1], o->node_id))
			snprintf(f->candidates[f->n_candidates++], STORE_ID_MAX, "%s", o->node_id);
		if (used < sizeof(list) && !strstr(list, o->node_id))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
			                         used ? ", " : "", o->node_id);
		cite(f, o);
		c->explained[i] = true;
	}
	snprintf(f->summary, sizeof(f->summary),
	         "connections to %s fail, and only %s, which reaches no other peer, sees it: the "
	         "fault may be %s's listener or %s's own connections",
	         id, list, id, list);
	remedy(f,
	       "check by hand before acting (kma-agent probe %s's address from another host); "
	       "bring back the nodes that do not report, so that they observe it too",
	       id);
}

/*
 * What the facts did not settle: blamed on the node at the address when no counted
 * observer reaches it (and a quorum fails there, for connections); otherwise on each
 * failing observer, or its path.
 */
static void vote(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t x = 0; x < in->n_nodes; x++) {
		struct tally t;
		bool any = false, conn = false;

		for (size_t i = 0; i < in->n_obs; i++)
			if (c->target[i] == (int)x && c->tentative[i] && !c->explained[i]) {
				any = true;
				conn |= voted(c->kind[i]);
			}
		if (!any)
			continue;
		tally_of(c, (int)x, &t);
		if (t.ok) {
			/* Others reach x: each failure is its observer's, or its path's. */
			for (size_t i = 0; i < in->n_obs; i++) {
				const struct store_observation *o = &in->obs[i];

				if (c->target[i] != (int)x || !c->tentative[i] || c->explained[i] ||
				    node_index(in, o->peer_id) != (int)x)
					continue;
				if (voted(c->kind[i]))
					blame(c, i, node_index(in, o->node_id), K_PATH, false);
				else if (c->kind[i] == K_UNTRUSTED)
					blame(c, i, node_index(in, o->node_id), K_STALE_TRUST,
					      false);
				else if (o->at < t.newest_ok)
					c->explained[i] = true; /* reached since */
			}
			continue;
		}
		/* A node that neither reports nor is reached is down: two signals, not one. */
		if (conn && c->counted[x] && t.credible < quorum(c, (int)x)) {
			ambiguous(c, (int)x);
			continue;
		}
		for (size_t i = 0; i < in->n_obs; i++)
			if (c->target[i] == (int)x)
				c->tentative[i] = false;
	}
}

/* ---- findings ---- */

/* Marks and cites every failure blamed on x of kind k (any kind when K_NONE). */
static size_t cite_blamed(struct ctx *c, struct diag_finding *f, int x, enum kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < c->in->n_obs; i++) {
		if (c->target[i] != x || c->explained[i] || c->tentative[i] ||
		    (k != K_NONE && c->kind[i] != k))
			continue;
		cite(f, &c->in->obs[i]);
		c->explained[i] = true;
		n++;
	}
	return n;
}

/* Also explained by x's finding: the failures of x's own probes that its fault causes. */
static void cite_consequences(struct ctx *c, struct diag_finding *f, int x)
{
	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];
		int by, about;

		if (c->explained[i] || ok(o) || !counts(c, o, &by, &about))
			continue;
		/* x's peers reject x's certificate; x is refused by them, or cannot reach them */
		if ((by == x && o->cause == KMA_CAUSE_REJECTED_BY_PEER) ||
		    (about == x && !outbound(o) && c->target[i] < 0)) {
			cite(f, o);
			c->explained[i] = true;
		}
	}
}

/* The refused reports that show where a certificate is: x's own, or one seen at x's address. */
static void cite_attempts(struct ctx *c, struct diag_finding *f, int x, const char *serial)
{
	const struct diag_input *in = c->in;

	for (size_t a = 0; a < in->n_attempts; a++) {
		const struct store_attempt *t = &in->attempts[a];

		if (!(serial[0] && same_serial(t->serial, serial)) &&
		    !(t->known && is(t->node_id, in->nodes[x].node_id) && c->refused[x]))
			continue;
		say(f,
		    "a certificate for %s with serial %s, %s, tried to report from %s (%llu "
		    "times, last %lld s ago): refused",
		    t->node_id, t->serial,
		    t->known ? "not its enrolled one" : "no node of this cluster", t->address,
		    (unsigned long long)t->count, (long long)(in->now - t->last_at));
	}
}

/* The newest view of x's address blamed on x for k: what it presents (NULL: none). */
static const struct store_observation *presented(const struct ctx *c, struct diag_finding *f, int x,
                                                 enum kind k)
{
	const struct store_observation *best = NULL;

	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];

		if (c->target[i] == x && c->kind[i] == k && outbound(o) && o->peer_serial[0] &&
		    node_index(c->in, o->peer_id) == x && (!best || o->at > best->at))
			best = o;
	}
	if (!best)
		return NULL;
	snprintf(f->serial, sizeof(f->serial), "%s", best->peer_serial);
	snprintf(f->name, sizeof(f->name), "%s", best->peer_node_id);
	return best;
}

static void describe(struct ctx *c, struct diag_finding *f, int x, enum kind k,
                     const struct store_observation *seen)
{
	const char *id = c->in->nodes[x].node_id;
	const char *enrolled = c->in->nodes[x].enrolled_serial;

	switch (k) {
	case K_NOT_REJOINED:
		snprintf(
		    f->summary, sizeof(f->summary),
		    "%.64s's address presents a certificate for %.64s with serial %.64s, which the "
		    "cluster never enrolled (enrolled: %.64s), and its peers reject it: %.64s was "
		    "QuickStarted after a hardware change and never rejoined",
		    id, id, f->serial[0] ? f->serial : "(unknown)", enrolled[0] ? enrolled : "none",
		    id);
		remedy(f,
		       "factory reset and rejoin %.64s (delete its entry, factory reset, re-add, "
		       "QuickStart, join), or enrol its new serial if the re-key was intended "
		       "(kmactl node set-serial %.64s %.64s)",
		       id, id, f->serial[0] ? f->serial : "SERIAL");
		break;
	case K_IDENTITY:
		snprintf(f->summary, sizeof(f->summary),
		         "every peer finds a certificate for another node ID (%.64s) at %.64s's "
		         "address: "
		         "the node there was recreated with the wrong identity",
		         f->name[0] ? f->name : "unknown", id);
		remedy(f,
		       "factory reset and rejoin the node at %.64s's address with its right node "
		       "ID, or "
		       "fix %.64s's address in the peer table",
		       id, id);
		break;
	case K_UNTRUSTED:
		snprintf(
		    f->summary, sizeof(f->summary),
		    "%.64s presents a certificate chain its peers cannot trust: issued by a CA "
		    "that is not the cluster's, or without its intermediate",
		    id);
		remedy(
		    f,
		    "re-enrol %.64s from the cluster CA (factory reset and rejoin), or install its "
		    "full chain; if its CA should be trusted, install it on every node",
		    id);
		break;
	case K_EXPIRED:
		if (seen && seen->peer_not_after)
			snprintf(
			    f->summary, sizeof(f->summary),
			    "%.64s presents an expired certificate (serial %.64s, expired %lld "
			    "days ago): its peers reject it",
			    id, seen->peer_serial,
			    (long long)((c->in->now - seen->peer_not_after) / 86400));
		else
			snprintf(f->summary, sizeof(f->summary),
			         "%.64s presents an expired certificate: its peers reject it", id);
		remedy(
		    f,
		    "renew %.64s's certificate now: QuickStart and join (factory reset and rejoin)",
		    id);
		break;
	case K_NOT_YET_VALID:
		snprintf(f->summary, sizeof(f->summary),
		         "%.64s presents a certificate that is not valid yet, by the coordinator's "
		         "clock too: it was issued with a future start date",
		         id);
		remedy(f, "check the issuing CA's clock and reissue %.64s's certificate", id);
		break;
	case K_REVOKED:
		snprintf(f->summary, sizeof(f->summary),
		         "%.64s presents a revoked certificate: its peers reject it", id);
		remedy(f, "re-enrol %.64s (factory reset and rejoin)", id);
		break;
	case K_BAD_USAGE:
		snprintf(f->summary, sizeof(f->summary),
		         "%.64s presents a certificate whose key usage forbids this role", id);
		remedy(f,
		       "reissue %.64s's certificate for serverAuth and clientAuth (factory reset "
		       "and rejoin)",
		       id);
		break;
	case K_TLS:
		snprintf(f->summary, sizeof(f->summary),
		         "no peer agrees a TLS version or cipher suite with %.64s (or it does not "
		         "speak TLS on its port)",
		         id);
		remedy(f,
		       "align %.64s's TLS versions and cipher suites with its peers, and check the "
		       "port in the peer table",
		       id);
		break;
	case K_STALE_TRUST:
		snprintf(
		    f->summary, sizeof(f->summary),
		    "%.64s does not trust certificates of the cluster CA that its peers trust: "
		    "%.64s's trust store is stale",
		    id, id);
		remedy(f, "install the current cluster CA on %.64s, or factory reset and rejoin it",
		       id);
		break;
	case K_CLOCK:
		snprintf(f->summary, sizeof(f->summary),
		         "%.64s finds valid certificates expired or not yet valid: %.64s's clock "
		         "is wrong",
		         id, id);
		remedy(f, "set %.64s's clock right (NTP)", id);
		break;
	case K_STALE_PEERS:
		snprintf(
		    f->summary, sizeof(f->summary),
		    "%.64s pins serials or dials addresses the cluster no longer has: its peer "
		    "table is stale",
		    id);
		remedy(f,
		       "let %.64s take the current peer table (check that it reaches the "
		       "coordinator), "
		       "or fix its peer table",
		       id);
		break;
	case K_REJECTING:
		snprintf(f->summary, sizeof(f->summary),
		         "%.64s rejects certificates that its other peers accept", id);
		remedy(f, "check %.64s's trust store, clock and peer table", id);
		break;
	default:
		break;
	}
}

/* One finding for each kind blamed on x; the node's own facts are added to it. */
static void node_findings(struct ctx *c, int x, const enum kind *order, size_t n_order)
{
	const struct diag_input *in = c->in;

	for (size_t j = 0; j < n_order; j++) {
		enum kind k = order[j];
		struct diag_finding *f;
		bool any = false;

		for (size_t i = 0; i < in->n_obs && !any; i++)
			any = c->target[i] == x && c->kind[i] == k && !c->tentative[i] &&
			      !c->explained[i];
		if (!any)
			continue;
		f = add(c, patterns[k], in->nodes[x].node_id, false, "%s", "");
		if (!f)
			return;
		describe(c, f, x, k, presented(c, f, x, k));
		cite_blamed(c, f, x, k);
		if (about_cert(k)) {
			cite_consequences(c, f, x);
			cite_attempts(c, f, x, f->serial);
		}
		if (k == K_STALE_TRUST || k == K_UNTRUSTED)
			c->distrust[x] = true;
		if (in->nodes[x].has_report && c->counted[x] && about_cert(k))
			say(f, "%s itself reports identity state %s", in->nodes[x].node_id,
			    kma_state_id(in->self[x].state));
	}
}

/* 4211 -> "4,211" */
static void thousands(uint64_t v, char *buf, size_t size)
{
	char digits[24];
	size_t n = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v), o = 0;

	for (size_t i = 0; i < n && o + 2 < size; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

/*
 * What the node measured of its own listen queues, beside what its peers saw: "a-kma02's
 * key service on port 5696: accept queue 128/128, 4,211 connections dropped in the last
 * minute". Only a queue that is full or dropped connections is worth saying.
 */
static void cite_queues(struct diag_finding *f, const char *id, const struct diag_self *s)
{
	for (size_t i = 0; i < s->n_lq && i < DIAG_LISTENQ_MAX; i++) {
		const struct diag_listenq *q = &s->lq[i];
		bool full = q->backlog > 0 && q->queued >= q->backlog;
		char dropped[32], window[32];

		if (!full && q->dropped == 0)
			continue;
		thousands(q->dropped, dropped, sizeof(dropped));
		if (q->window_s >= 55 && q->window_s <= 65)
			snprintf(window, sizeof(window), "minute");
		else
			snprintf(window, sizeof(window), "%u s", q->window_s);
		say(f,
		    "%s's %s on port %u: accept queue %u/%u%s, %s connection%s dropped in the last "
		    "%s",
		    id, q->key_service ? "key service" : "peer listener", q->port, q->queued,
		    q->backlog, full ? " (full)" : "", dropped, q->dropped == 1 ? "" : "s", window);
	}
}

static void unreachable(struct ctx *c, int x)
{
	const struct diag_input *in = c->in;
	const char *id = in->nodes[x].node_id;
	const struct diag_self *s = &in->self[x];
	struct diag_finding *f;
	bool any = false;

	for (size_t i = 0; i < in->n_obs && !any; i++)
		any = c->target[i] == x && c->kind[i] == K_UNREACHABLE && !c->tentative[i] &&
		      !c->explained[i];
	if (!any)
		return;
	if (c->counted[x] || c->refused[x]) {
		f = add(c, KMA_PATTERN_NODE_REFUSED, id, false,
		        "no peer can complete a connection to %s: its listener is down or its "
		        "listen queue is full",
		        id);
		remedy(
		    f,
		    "rolling reboot of %s: one node at a time, each fully serving keys before the "
		    "next",
		    id);
	} else {
		f = add(c, KMA_PATTERN_NODE_DOWN, id, false,
		        "%s neither reports nor accepts connections: the node or its agent is down",
		        id);
		remedy(f,
		       "check that %s is powered and its kma-agent runs (systemctl status "
		       "kma-agent)",
		       id);
		if (s->report_at)
			say(f, "no report from %s for %lld s", id,
			    (long long)(in->now - s->report_at));
		else
			say(f, "%s has never reported", id);
	}
	cite_blamed(c, f, x, K_UNREACHABLE);
	cite_queues(f, id, s);
}

/* Whether x's failure to reach y is blamed on x's side or their path (K_PATH), not yet cited. */
static bool path_cut(const struct ctx *c, int x, int y)
{
	for (size_t i = 0; i < c->in->n_obs; i++)
		if (!c->explained[i] && c->target[i] == x && c->kind[i] == K_PATH &&
		    node_index(c->in, c->in->obs[i].peer_id) == y)
			return true;
	return false;
}

/*
 * A and B fail to reach each other, both ways, while others reach both: their path. One
 * way only is not a path yet (a node that has just gone down is seen so by one peer
 * first): it stays unexplained until it is told apart.
 */
static void pair(struct ctx *c, int a, int b)
{
	const char *na = c->in->nodes[a].node_id, *nb = c->in->nodes[b].node_id;
	struct diag_finding *f;

	if (!path_cut(c, a, b) || !path_cut(c, b, a))
		return;
	f = add(c, KMA_PATTERN_PAIR_FAILURE, "", false,
	        "only %s and %s fail to reach each other; both are fine with every other node: "
	        "the network path between them",
	        na, nb);
	if (!f)
		return;
	snprintf(f->culprit, sizeof(f->culprit), "%s <-> %s", na, nb);
	remedy(f, "check the network path and firewalls between %s and %s", na, nb);
	for (size_t i = 0; i < c->in->n_obs; i++) {
		int by = node_index(c->in, c->in->obs[i].node_id);

		if (!c->explained[i] && c->kind[i] == K_PATH && c->target[i] == by &&
		    (by == a || by == b) &&
		    node_index(c->in, c->in->obs[i].peer_id) == (by == a ? b : a)) {
			cite(f, &c->in->obs[i]);
			c->explained[i] = true;
		}
	}
}

/* Failures blamed on observers' paths: a pair, or a node that reaches none of its peers. */
static void paths(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t a = 0; a < in->n_nodes; a++) {
		size_t reached = 0, cut = 0;

		for (size_t b = 0; b < in->n_nodes; b++) {
			const struct store_observation *v =
			    a == b ? NULL : view_of(c, (int)a, (int)b, KMA_DIRECTION_OUTBOUND);

			if (!v)
				continue;
			reached += !transport(v->cause);
			cut += c->target[v - in->obs] == (int)a && c->kind[v - in->obs] == K_PATH;
		}
		if (cut >= 2 && !reached) {
			struct diag_finding *f =
			    add(c, KMA_PATTERN_NODE_ISOLATED, in->nodes[a].node_id, false,
			        "%s reaches none of its peers, which the others "
			        "reach: %s's network",
			        in->nodes[a].node_id, in->nodes[a].node_id);

			remedy(f, "check %s's network interfaces, routes and firewall",
			       in->nodes[a].node_id);
			cite_blamed(c, f, (int)a, K_PATH);
		}
	}
	for (size_t a = 0; a < in->n_nodes; a++)
		for (size_t b = a + 1; b < in->n_nodes; b++)
			pair(c, (int)a, (int)b);
}

/* Every node is in a distrust finding: the nodes do not share one cluster CA. */
static void cluster_ca(struct ctx *c, size_t first)
{
	size_t n = 0, counted = 0;
	struct diag_finding f;

	for (size_t x = 0; x < c->in->n_nodes; x++) {
		counted += c->counted[x];
		n += c->distrust[x];
	}
	if (counted < 2 || n < c->in->n_nodes || c->n == first)
		return;
	/* One finding for the cluster instead of one per node. */
	memset(&f, 0, sizeof(f));
	f.pattern = KMA_PATTERN_CLUSTER_CA_MISMATCH;
	snprintf(f.summary, sizeof(f.summary),
	         "no node trusts the other nodes' certificate chains: the nodes do not share one "
	         "cluster CA (the domain-CA incident)");
	snprintf(f.remedy, sizeof(f.remedy),
	         "distribute the right cluster CA to every node, or re-enrol the nodes whose "
	         "certificates come from another CA");
	for (size_t i = first; i < c->n; i++) {
		if (!(c->out[i].pattern == KMA_PATTERN_NODE_STALE_TRUST) &&
		    !(c->out[i].pattern == KMA_PATTERN_NODE_UNTRUSTED))
			continue;
		for (size_t e = 0; e < c->out[i].n_evidence; e++)
			say(&f, "%s", c->out[i].evidence[e]);
		memmove(&c->out[i], &c->out[i + 1], (c->n - i - 1) * sizeof(c->out[0]));
		c->n--;
		i--;
	}
	memmove(&c->out[first + 1], &c->out[first], (c->n - first) * sizeof(c->out[0]));
	c->out[first] = f;
	c->n++;
}

/* Whether a counted node has probed x's address. */
static bool observed(const struct ctx *c, int x)
{
	for (size_t n = 0; n < c->in->n_nodes; n++)
		if ((int)n != x && view_of(c, (int)n, x, KMA_DIRECTION_OUTBOUND))
			return true;
	return false;
}

/* What the nodes say of themselves. */
static void self_findings(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t i = 0; i < in->n_nodes; i++) {
		const char *x = in->nodes[i].node_id;
		const struct diag_self *s = &in->self[i];
		struct diag_finding *f = NULL;
		bool silent = !s->report_at || in->now - s->report_at > in->stale_after;

		if (c->counted[i] && !c->told[i] &&
		    (s->state == KMA_STATE_HARDWARE_CHANGED || s->state == KMA_STATE_NOT_ENROLLED ||
		     s->state == KMA_STATE_UNPROVISIONED)) {
			f = add(c, KMA_PATTERN_NODE_STATE, x, false, "%s reports identity state %s",
			        x, kma_state_id(s->state));
			remedy(f, "%s",
			       s->state == KMA_STATE_NOT_ENROLLED
			           ? "join this node (enrol its current serial)"
			       : s->state == KMA_STATE_UNPROVISIONED
			           ? "QuickStart this node"
			           : "factory reset and rejoin this node");
		}
		/* Unverified only while others that report could have probed it. */
		if (c->counted[i] && quorum(c, (int)i) && !observed(c, (int)i)) {
			f = add(c, KMA_PATTERN_NODE_UNVERIFIED, x, false,
			        "no peer has probed %s yet: its identity is not verified", x);
			remedy(
			    f,
			    "wait for the first probes; if this stays, check %s's address in the "
			    "peer table and that its agent listens",
			    x);
		}
		if (silent && !c->told[i]) {
			if (s->report_at == 0)
				f = add(c, KMA_PATTERN_NODE_SILENT, x, false,
				        "%s has never reported", x);
			else
				f = add(c, KMA_PATTERN_NODE_SILENT, x, false,
				        "no report from %s for %lld s", x,
				        (long long)(in->now - s->report_at));
			remedy(f, "check that kma-agent runs on %s and reaches the coordinator", x);
			cite_attempts(c, f, (int)i, "");
		} else if (c->refused[i] && !c->told[i]) {
			f = add(c, KMA_PATTERN_NODE_SILENT, x, false,
			        "%s reports with a certificate that is not its enrolled one: its "
			        "reports are refused",
			        x);
			remedy(f,
			       "check %s's identity (kma-agent identity): rejoin it, or enrol its "
			       "serial if the re-key was intended",
			       x);
			cite_attempts(c, f, (int)i, "");
		}
		if (s->cert_not_after && s->cert_not_after - in->now < EXPIRY_WARN) {
			bool gone = s->cert_not_after <= in->now;

			if (gone && c->told[i])
				continue;
			if (gone)
				f = add(c, KMA_PATTERN_NODE_CERT_EXPIRED, x, false,
				        "%s's certificate (serial %s) expired %lld days ago", x,
				        s->cert_serial,
				        (long long)((in->now - s->cert_not_after) / 86400));
			else
				f = add(c, KMA_PATTERN_CERT_EXPIRING, x, true,
				        "%s's certificate (serial %s) expires in %lld days", x,
				        s->cert_serial,
				        (long long)((s->cert_not_after - in->now) / 86400));
			remedy(f, "renew %s's certificate (QuickStart and join) %s", x,
			       gone ? "now: its peers reject it until then" : "before it fails");
			if (gone)
				cite_consequences(c, f, (int)i);
		}
	}
}

/* Refused certificates that no address presents and no finding took as evidence. */
static void stray(struct ctx *c)
{
	const struct diag_input *in = c->in;

	for (size_t a = 0; a < in->n_attempts; a++) {
		const struct store_attempt *t = &in->attempts[a];
		int x = node_index(in, t->node_id);
		struct diag_finding *f;

		if (in->now - t->last_at > in->stale_after || holder_of(c, t->serial) >= 0 ||
		    (x >= 0 && c->refused[x]))
			continue;
		f = add(c, KMA_PATTERN_STRAY_CERTIFICATE, "", true,
		        "a certificate for %s (serial %s) that is not %s tries to report from %s",
		        t->node_id, t->serial,
		        x >= 0 ? "its node's enrolled one" : "of any node of this cluster",
		        t->address);
		remedy(f,
		       "find the host at %s: a node with a stale or wrong identity, or a copy of "
		       "a node's identity",
		       t->address);
		say(f, "refused %llu times since %lld s ago", (unsigned long long)t->count,
		    (long long)(in->now - t->first_at));
	}
}

static void unexplained(struct ctx *c)
{
	struct diag_finding *rest = NULL;

	for (size_t i = 0; i < c->in->n_obs; i++) {
		const struct store_observation *o = &c->in->obs[i];
		int by, about;

		if (c->explained[i] || ok(o) || !counts(c, o, &by, &about))
			continue;
		if (c->target[i] >= 0 && c->told[c->target[i]])
			continue;
		if (!rest) {
			rest = add(c, KMA_PATTERN_UNEXPLAINED, "", false,
			           "failing observations that no known pattern explains");
			if (!rest)
				return;
			remedy(rest, "look at each pair with kma-agent probe from both ends");
		}
		cite(rest, o);
	}
}

static void analyse(struct ctx *c)
{
	static const enum kind at_address[] = {K_NOT_REJOINED,  K_IDENTITY, K_UNTRUSTED, K_EXPIRED,
	                                       K_NOT_YET_VALID, K_REVOKED,  K_BAD_USAGE};
	static const enum kind observers[] = {K_STALE_TRUST, K_CLOCK, K_STALE_PEERS, K_REJECTING};
	size_t first;

	who_speaks(c);
	attribute(c);
	vote(c);
	attribute_rejections(c);
	first = c->n;
	for (size_t x = 0; x < c->in->n_nodes; x++)
		node_findings(c, (int)x, at_address, sizeof(at_address) / sizeof(at_address[0]));
	for (size_t x = 0; x < c->in->n_nodes; x++)
		unreachable(c, (int)x);
	for (size_t x = 0; x < c->in->n_nodes; x++) {
		node_findings(c, (int)x, (const enum kind[]){K_TLS}, 1);
		node_findings(c, (int)x, observers, sizeof(observers) / sizeof(observers[0]));
	}
	cluster_ca(c, first);
	paths(c);
	self_findings(c);
	stray(c);
	unexplained(c);
}

static bool ctx_init(struct ctx *c, const struct diag_input *in, struct diag_finding *out,
                     size_t max, int64_t since)
{
	size_t nn = in->n_nodes ? in->n_nodes : 1, no = in->n_obs ? in->n_obs : 1;

	memset(c, 0, sizeof(*c));
	c->in = in;
	c->out = out;
	c->max = max;
	c->since = since;
	c->counted = calloc(nn, sizeof(bool));
	c->refused = calloc(nn, sizeof(bool));
	c->told = calloc(nn, sizeof(bool));
	c->distrust = calloc(nn, sizeof(bool));
	c->target = calloc(no, sizeof(int));
	c->kind = calloc(no, sizeof(enum kind));
	c->tentative = calloc(no, sizeof(bool));
	c->explained = calloc(no, sizeof(bool));
	return c->counted && c->refused && c->told && c->distrust && c->target && c->kind &&
	       c->tentative && c->explained;
}

static void ctx_free(struct ctx *c)
{
	free(c->counted);
	free(c->refused);
	free(c->told);
	free(c->distrust);
	free(c->target);
	free(c->kind);
	free(c->tentative);
	free(c->explained);
}

size_t diag_run(const struct diag_input *in, struct diag_finding *out, size_t max)
{
	struct ctx c;

	if (ctx_init(&c, in, out, max, INT64_MIN))
		analyse(&c);
	ctx_free(&c);
	return c.n;
}

enum diag_verdict diag_confirm(const struct diag_input *in, enum kma_pattern pattern,
                               const char *node, const char *serial, int64_t since,
                               size_t quorum_min, char *why, size_t size)
{
	struct diag_finding f[DIAG_CANDIDATES_MAX * 4];
	struct ctx c;
	size_t support = 0, need;
	int x = node_index(in, node);
	enum diag_verdict ret = DIAG_PENDING;

	snprintf(why, size, "out of memory");
	if (x < 0) {
		snprintf(why, size, "%s is no longer in the cluster", node);
		return DIAG_REFUTED;
	}
	if (!ctx_init(&c, in, f, sizeof(f) / sizeof(f[0]), since))
		goto exit;
	analyse(&c);
	for (size_t n = 0; n < in->n_nodes; n++) {
		const struct store_observation *v =
		    (int)n == x ? NULL : view_of(&c, (int)n, x, KMA_DIRECTION_OUTBOUND);
		size_t i = v ? (size_t)(v - in->obs) : 0;

		if (!v || (c.explained[i] && c.target[i] < 0 && !ok(v)))
			continue; /* none, or of a certificate no longer there */
		if (ok(v) && !c.explained[i]) {
			snprintf(why, size, "%s authenticated %s (serial %s) since the check began",
			         v->node_id, node, v->peer_serial);
			ret = DIAG_REFUTED;
			goto exit;
		}
		if (ok(v))
			continue;
		if (c.target[i] != x || patterns[c.kind[i]] != pattern) {
			snprintf(why, size, "%s sees %s at %s's address now, which is not %s",
			         v->node_id, kma_cause_id(v->cause), node, kma_pattern_id(pattern));
			ret = DIAG_REFUTED;
			goto exit;
		}
		if (serial[0] && about_cert(c.kind[i]) && !same_serial(v->peer_serial, serial)) {
			snprintf(why, size, "%s finds serial %s at %s's address now, not %s",
			         v->node_id, v->peer_serial, node, serial);
			ret = DIAG_REFUTED;
			goto exit;
		}
		/* Not settled yet for want of witnesses: those that can tell count. */
		if (!c.tentative[i] || witness(&c, v, (int)n, x))
			support++;
	}
	need = quorum_min ? quorum_min : quorum(&c, x);
	if (!need || support < need) {
		snprintf(why, size,
		         "%zu of the %zu node%s needed %s observed %s as %s since the check began",
		         support, need, need == 1 ? "" : "s", support == 1 ? "has" : "have", node,
		         kma_pattern_id(pattern));
		goto exit;
	}
	ret = DIAG_CONFIRMED;
	snprintf(why, size, "%zu node%s observe%s %s as %s now; none authenticates it", support,
	         support == 1 ? "" : "s", support == 1 ? "s" : "", node, kma_pattern_id(pattern));
exit:
	ctx_free(&c);
	return ret;
}

/* Whether culprit names id: itself, or one side of "A <-> B". */
static bool blames(const char *culprit, const char *id)
{
	size_t n = strlen(id);
	const char *arrow = strstr(culprit, " <-> ");

	if (strcmp(culprit, id) == 0)
		return true;
	if (!arrow)
		return false;
	return ((size_t)(arrow - culprit) == n && strncmp(culprit, id, n) == 0) ||
	       strcmp(arrow + 5, id) == 0;
}

void diag_node_health(const struct diag_input *in, size_t i, const struct diag_finding *f, size_t n,
                      struct diag_health *v)
{
	const struct store_node *node = &in->nodes[i];
	const struct diag_self *self = &in->self[i];
	const struct store_attempt *refused;

	v->healthy = false;
	for (size_t k = 0; k < n; k++) {
		if (f[k].warning)
			continue;
		if (blames(f[k].culprit, node->node_id)) {
			snprintf(v->why, sizeof(v->why), "%s: %s", kma_pattern_id(f[k].pattern),
			         f[k].summary);
			return;
		}
		for (size_t c = 0; c < f[k].n_candidates; c++) {
			if (strcmp(f[k].candidates[c], node->node_id) == 0) {
				snprintf(v->why, sizeof(v->why), "%s (one of %zu candidates): %s",
				         kma_pattern_id(f[k].pattern), f[k].n_candidates,
				         f[k].summary);
				return;
			}
		}
	}
	refused = diag_refusal(in->attempts, in->n_attempts, node, in->now, in->stale_after);
	if (refused) {
		snprintf(v->why, sizeof(v->why), "reports refused: serial %s is not enrolled",
		         refused->serial);
		return;
	}
	if (!self->report_at) {
		snprintf(v->why, sizeof(v->why), "never reported");
		return;
	}
	if (in->now - self->report_at > in->stale_after) {
		snprintf(v->why, sizeof(v->why), "no report for %lld s",
		         (long long)(in->now - self->report_at));
		return;
	}
	if (self->state != KMA_STATE_ENROLLED) {
		snprintf(v->why, sizeof(v->why), "identity %s", kma_state_id(self->state));
		return;
	}
	if (self->keys_known && !self->keys_ok) {
		snprintf(v->why, sizeof(v->why), "key service down%s%s",
		         self->keys_detail[0] ? ": " : "", self->keys_detail);
		return;
	}
	v->healthy = true;
	v->why[0] = '\0';
}
