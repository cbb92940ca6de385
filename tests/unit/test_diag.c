/*
 * Mesh diagnosis as a table: each row is a cluster shape, written as what differs from a
 * healthy mesh, and the findings it must give. The point is that the right node is named
 * and no other: a node that only lends its name, observes, or is observed by a broken node
 * must never be a culprit.
 *
 * A row's cluster has nodes n1..nN, each enrolled with serial 5E0<i>, at 127.0.0.<i>:9443,
 * reporting now, its certificate from the cluster CA and valid. Every pair's views are ok
 * until the row's mesh says otherwise, token by token, later tokens winning:
 *   A>B=cause[,k=v...]   A's outbound view of B's address (A dialled B)
 *   A<B=cause[,k=v...]   A's inbound view of a client bearing B's name
 *   A or B may be *: every node but the other side; cause "-" removes the view
 *   k=v: serial= (presented), expect= (the observer's pin), name= (the node ID it names),
 *        issuer= ("foreign": another CA), nb= / na= (notBefore / notAfter, days from now),
 *        at= (seconds from now), as= / ar= (alert sent / received), addr= (dialled)
 * and its self what the nodes say of themselves:
 *   nX:silent (last report 10 min ago), nX:never, nX:state=S, nX:expires=D (days),
 *   nX:refused=SERIAL (its reports with SERIAL refused since after its last one),
 *   nX:restarted=SERIAL / nX:borrowed=SERIAL (refused a second after its last report,
 *   from its own address / from another),
 *   ID:attempt=SERIAL (a certificate for ID, a node or not, refused while ID reports on),
 *   nX:kq=PORT/QUEUED/BACKLOG/DROPPED (its key service's accept queue, drops in a minute)
 * want: "pattern culprit" items separated by ";" (culprit "-" for none), exactly the
 * findings expected; "ambiguous[a,b]" checks an ambiguous finding's candidates.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"

#define NOW   1800000000
#define DAY   86400
#define NMAX  8
#define OMAX  (NMAX * NMAX * 2)
#define CA_DN "O=Example Cluster, CN=Example Cluster CA"

struct cluster {
	struct store_node nodes[NMAX];
	struct diag_self self[NMAX];
	size_t n;
	struct store_observation obs[OMAX];
	bool present[OMAX];
	struct store_attempt attempts[8];
	size_t n_attempts;
	bool no_ca;
};

static const char ca[1][DIAG_DN_MAX] = {CA_DN};

/* The view by a of b in direction dir (0 outbound, 1 inbound). */
static struct store_observation *view(struct cluster *c, size_t a, size_t b, int dir)
{
	return &c->obs[(a * NMAX + b) * 2 + (size_t)dir];
}

static void healthy(struct cluster *c, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		struct store_node *e = &c->nodes[i];

		snprintf(e->node_id, sizeof(e->node_id), "n%zu", i + 1);
		snprintf(e->enrolled_serial, sizeof(e->enrolled_serial), "5E0%zu", i + 1);
		snprintf(e->address, sizeof(e->address), "127.0.0.%zu:9443", i + 1);
		c->self[i].state = KMA_STATE_ENROLLED;
		snprintf(c->self[i].cert_serial, sizeof(c->self[i].cert_serial), "5E0%zu", i + 1);
		c->self[i].report_at = NOW - 5;
		c->self[i].cert_not_after = NOW + 365 * DAY;
	}
	for (size_t a = 0; a < n; a++) {
		for (size_t b = 0; b < n; b++) {
			for (int d = 0; d < 2 && a != b; d++) {
				struct store_observation *o = view(c, a, b, d);

				snprintf(o->node_id, sizeof(o->node_id), "n%zu", a + 1);
				snprintf(o->peer_id, sizeof(o->peer_id), "n%zu", b + 1);
				o->direction = kma_direction_from_id(d ? "inbound" : "outbound");
				o->cause = KMA_CAUSE_OK;
				o->alert_sent = o->alert_received = -1;
				snprintf(o->peer_serial, sizeof(o->peer_serial), "5E0%zu", b + 1);
				snprintf(o->expected_serial, sizeof(o->expected_serial), "5E0%zu",
				         b + 1);
				snprintf(o->peer_node_id, sizeof(o->peer_node_id), "n%zu", b + 1);
				snprintf(o->peer_issuer, sizeof(o->peer_issuer), CA_DN);
				o->peer_not_before = NOW - 365 * DAY;
				o->peer_not_after = NOW + 365 * DAY;
				if (!d)
					snprintf(o->peer_address, sizeof(o->peer_address),
					         "127.0.0.%zu:9443", b + 1);
				o->at = NOW - 5;
				c->present[(a * NMAX + b) * 2 + (size_t)d] = true;
			}
		}
	}
}

static int node_of(const struct cluster *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->nodes[i].node_id, id) == 0)
			return (int)i;
	return -1;
}

static void modify(struct store_observation *o, char *mods)
{
	for (char *kv = strtok(mods, ","); kv; kv = strtok(NULL, ",")) {
		char *v = strchr(kv, '=');

		assert_non_null(v);
		*v++ = '\0';
		if (!strcmp(kv, "serial"))
			snprintf(o->peer_serial, sizeof(o->peer_serial), "%s", v);
		else if (!strcmp(kv, "expect"))
			snprintf(o->expected_serial, sizeof(o->expected_serial), "%s", v);
		else if (!strcmp(kv, "name"))
			snprintf(o->peer_node_id, sizeof(o->peer_node_id), "%s", v);
		else if (!strcmp(kv, "issuer"))
			snprintf(o->peer_issuer, sizeof(o->peer_issuer), "%s",
			         strcmp(v, "foreign") ? v
			                              : "O=Example Domain, CN=Example Domain CA");
		else if (!strcmp(kv, "nb"))
			o->peer_not_before = NOW + atoll(v) * DAY;
		else if (!strcmp(kv, "na"))
			o->peer_not_after = NOW + atoll(v) * DAY;
		else if (!strcmp(kv, "at"))
			o->at = NOW + atoll(v);
		else if (!strcmp(kv, "as"))
			o->alert_sent = atoi(v);
		else if (!strcmp(kv, "ar"))
			o->alert_received = atoi(v);
		else if (!strcmp(kv, "addr"))
			snprintf(o->peer_address, sizeof(o->peer_address), "%s", v);
		else
			fail_msg("unknown modifier %s", kv);
	}
}

static void apply_mesh(struct cluster *c, const char *mesh)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", mesh);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *op = strpbrk(t, "<>"), *eq = strchr(t, '='), *mods;
		int dir;

		assert_non_null(op);
		assert_non_null(eq);
		dir = *op == '<';
		*op = *eq = '\0';
		mods = strchr(eq + 1, ',');
		if (mods)
			*mods++ = '\0';
		for (size_t a = 0; a < c->n; a++) {
			for (size_t b = 0; b < c->n; b++) {
				struct store_observation *o;
				char m[256];

				if (a == b || (strcmp(t, "*") && node_of(c, t) != (int)a) ||
				    (strcmp(op + 1, "*") && node_of(c, op + 1) != (int)b))
					continue;
				/* "*" on one side never means the named node on the other */
				o = view(c, a, b, dir);
				if (!strcmp(eq + 1, "-")) {
					c->present[o - c->obs] = false;
					continue;
				}
				o->cause = kma_cause_from_id(eq + 1);
				if (o->cause == KMA_CAUSE_UNSPECIFIED &&
				    strcmp(eq + 1, "unspecified"))
					fail_msg("fixture: no cause '%s' in the vocabulary",
					         eq + 1);
				snprintf(m, sizeof(m), "%s", mods ? mods : "");
				if (m[0])
					modify(o, m);
			}
		}
	}
}

static void apply_self(struct cluster *c, const char *self)
{
	char buf[512], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", self);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *what = strchr(t, ':'), *v;
		int x;

		if (!strcmp(t, "noca")) {
			c->no_ca = true;
			continue;
		}
		assert_non_null(what);
		*what++ = '\0';
		v = strchr(what, '=');
		if (v)
			*v++ = '\0';
		x = node_of(c, t);
		if (!strcmp(what, "attempt")) {
			struct store_attempt *a = &c->attempts[c->n_attempts++];

			snprintf(a->node_id, sizeof(a->node_id), "%s", t);
			snprintf(a->serial, sizeof(a->serial), "%s", v);
			snprintf(a->address, sizeof(a->address), "127.0.0.99");
			a->known = x >= 0;
			a->first_at = NOW - 60;
			a->last_at = NOW - 2;
			a->count = 30;
			continue;
		}
		assert_true(x >= 0);
		if (!strcmp(what, "kq")) {
			struct diag_listenq *q = &c->self[x].lq[c->self[x].n_lq++];
			unsigned long long d;

			assert_int_equal(
			    sscanf(v, "%u/%u/%u/%llu", &q->port, &q->queued, &q->backlog, &d), 4);
			q->key_service = true;
			q->dropped = d;
			q->window_s = 60;
		} else if (!strcmp(what, "silent")) {
			c->self[x].report_at = NOW - 600;
		} else if (!strcmp(what, "never")) {
			memset(&c->self[x], 0, sizeof(c->self[x]));
		} else if (!strcmp(what, "state")) {
			c->self[x].state = kma_state_from_id(v);
			if (c->self[x].state == KMA_STATE_UNSPECIFIED && strcmp(v, "unspecified"))
				fail_msg("fixture: no identity state '%s' in the vocabulary", v);
		} else if (!strcmp(what, "expires")) {
			c->self[x].cert_not_after = NOW + atoll(v) * DAY;
		} else if (!strcmp(what, "refused")) {
			struct store_attempt *a = &c->attempts[c->n_attempts++];

			c->self[x].report_at = NOW - 40; /* its last report, before the refusals */
			snprintf(a->node_id, sizeof(a->node_id), "%s", t);
			snprintf(a->serial, sizeof(a->serial), "%s", v);
			snprintf(a->address, sizeof(a->address), "127.0.0.%d", x + 1);
			a->known = true;
			a->first_at = NOW - 30;
			a->last_at = NOW - 1;
			a->count = 12;
		} else if (!strcmp(what, "restarted") || !strcmp(what, "borrowed")) {
			/* refused a second after its last report: from its own address, or another
			 */
			struct store_attempt *a = &c->attempts[c->n_attempts++];

			c->self[x].report_at = NOW - 2;
			snprintf(a->node_id, sizeof(a->node_id), "%s", t);
			snprintf(a->serial, sizeof(a->serial), "%s", v);
			snprintf(a->address, sizeof(a->address), "127.0.0.%d",
			         !strcmp(what, "restarted") ? x + 1 : 99);
			a->known = true;
			a->first_at = a->last_at = NOW - 1;
			a->count = 1;
		} else {
			fail_msg("unknown self %s", what);
		}
	}
}

/* The store's last report of each node, as its self says (diagnose.c reads one from the other). */
static void sync(struct cluster *c)
{
	for (size_t i = 0; i < c->n; i++) {
		c->nodes[i].has_report = c->self[i].report_at != 0;
		c->nodes[i].report_at = c->self[i].report_at;
		snprintf(c->nodes[i].report_address, sizeof(c->nodes[i].report_address),
		         "127.0.0.%zu", i + 1);
	}
}

/* The cluster's observations as the store lists them: only those present. */
static size_t run_cluster(struct cluster *c, struct store_observation *list, struct diag_finding *f,
                          size_t max)
{
	size_t n = 0;

	sync(c);
	for (size_t i = 0; i < OMAX; i++)
		if (c->present[i])
			list[n++] = c->obs[i];
	{
		struct diag_input in = {
		    .nodes = c->nodes,
		    .self = c->self,
		    .n_nodes = c->n,
		    .obs = list,
		    .n_obs = n,
		    .attempts = c->attempts,
		    .n_attempts = c->n_attempts,
		    .ca_subjects = c->no_ca ? NULL : ca,
		    .n_ca_subjects = c->no_ca ? 0 : 1,
		    .now = NOW,
		    .stale_after = 95,
		};

		return diag_run(&in, f, max);
	}
}

struct row {
	const char *name;
	size_t n;
	const char *mesh;
	const char *self;
	const char *want;
};

static const struct row rows[] = {
    {"healthy", 3, "", "", ""},
    {"healthy 7", 7, "", "", ""},
    /* The OKM archetype: QuickStarted with a new serial, never rejoined, its reports refused. */
    {"not rejoined", 3,
     "*>n1=peer_serial_mismatch,serial=5EAA,as=49 *<n1=peer_serial_mismatch,serial=5EAA,as=49 "
     "n1>*=rejected_by_peer,ar=49 n1<*=rejected_by_peer,ar=49",
     "n1:refused=5EAA", "node_not_rejoined n1"},
    {"not rejoined, never reported", 3, "*>n1=peer_serial_mismatch,serial=5EAA", "n1:never",
     "node_not_rejoined n1"},
    /* The whole incident: n3's listener is wedged, so it still holds an old inbound ok. */
    {"not rejoined and a wedged peer", 3,
     "n2>n1=peer_serial_mismatch,serial=5EAA n3>n1=peer_serial_mismatch,serial=5EAA "
     "n2<n1=peer_serial_mismatch,serial=5EAA n3<n1=ok,at=-400 n1>n3=tcp_refused "
     "n2>n3=tcp_refused n1>n2=rejected_by_peer,ar=49",
     "n1:refused=5EAA", "node_not_rejoined n1; node_refused n3"},
    /* A probe made before the QuickStart still says ok, of the old certificate. */
    {"not rejoined, one view from before", 3,
     "n2>n1=peer_serial_mismatch,serial=5EAA n3>n1=ok,at=-300", "n1:refused=5EAA",
     "node_not_rejoined n1"},
    {"refused", 3, "*>n3=tcp_refused", "", "node_refused n3"},
    {"refused, two nodes", 2, "n1>n2=tcp_refused", "", "node_refused n2"},
    /* The incident's full listen queue, measured on the node itself. */
    {"refused, key service queue full", 3, "*>n3=tcp_refused", "n3:kq=5696/128/128/4211",
     "node_refused n3"},
    /* A queue alone names nobody: the peers' views decide. */
    {"full queue, mesh fine", 3, "", "n2:kq=5696/5/5/12", ""},
    {"timeout, 5 nodes", 5, "*>n4=tcp_timeout", "", "node_refused n4"},
    {"stopped", 3, "*>n3=tcp_refused", "n3:silent", "node_down n3"},
    {"stopped, never reported", 4, "*>n2=tcp_refused", "n2:never", "node_down n2"},
    /* Two faults at once: what the stopped node said before does not outvote the rest. */
    {"stopped and wedged", 4, "*>n3=tcp_refused *>n4=tcp_refused n3>n4=ok", "n3:silent",
     "node_down n3; node_refused n4"},
    {"foreign CA and wedged", 4,
     "*>n1=peer_cert_untrusted,issuer=foreign *>n4=tcp_refused n1>*=rejected_by_peer,ar=48",
     "n1:never", "node_untrusted n1; node_refused n4"},
    /* n2 wedged, n3 stopped: n1 reaches neither, but each refusal is the host answering. */
    {"stopped and wedged, three nodes", 3, "*>n3=tcp_refused *>n2=tcp_refused", "n3:silent",
     "node_down n3; node_refused n2"},
    /* The same with timeouts: n1's own connections may be what fails. */
    {"stopped and wedged, three nodes, timeouts", 3, "*>n3=tcp_timeout *>n2=tcp_timeout",
     "n3:silent", "node_down n3; ambiguous[n2,n1]"},
    /* Only a witness that reaches no one else sees n1 fail: it may be its own fault. */
    {"one witness that reaches no one", 3, "n2>*=tcp_timeout *>n3=tcp_refused", "n3:silent",
     "node_down n3; ambiguous[n1,n2]"},
    {"foreign CA", 3,
     "*>n1=peer_cert_untrusted,issuer=foreign *<n1=peer_cert_untrusted,issuer=foreign "
     "n1>*=rejected_by_peer,ar=48",
     "n1:never", "node_untrusted n1"},
    {"foreign CA, reported before", 5, "*>n5=peer_cert_untrusted,issuer=foreign", "n5:silent",
     "node_untrusted n5"},
    {"chain without its intermediate", 3, "*>n2=peer_chain_incomplete,issuer=CN=Intermediate", "",
     "node_untrusted n2"},
    {"foreign CA, and a stale trust store elsewhere", 4,
     "n4>*=peer_cert_untrusted *>n1=peer_cert_untrusted,issuer=foreign", "n1:never",
     "node_untrusted n1; node_stale_trust n4"},
    /* n4 trusts the foreign CA (only): n1's chain passes there, and its serial does not. */
    {"foreign CA, seen through a foreign trust store", 4,
     "n4>*=peer_cert_untrusted *>n1=peer_cert_untrusted,issuer=foreign "
     "n4>n1=peer_serial_mismatch,serial=5EFF,issuer=foreign",
     "n1:never", "node_untrusted n1; node_stale_trust n4"},
    {"stale trust", 3,
     "n1>*=peer_cert_untrusted n1<*=peer_cert_untrusted *>n1=rejected_by_peer,ar=48 "
     "*<n1=rejected_by_peer,ar=48",
     "", "node_stale_trust n1"},
    /* Two of three distrust the third's (cluster CA) certificate: the third is innocent. */
    {"two stale trust stores of three", 3, "n1>*=peer_cert_untrusted n2>*=peer_cert_untrusted", "",
     "node_stale_trust n1; node_stale_trust n2"},
    {"two foreign of three", 3,
     "*>n1=peer_cert_untrusted,issuer=foreign *>n2=peer_cert_untrusted,issuer=foreign", "",
     "node_untrusted n1; node_untrusted n2"},
    /* Without the cluster CA's subject the issuer is not judged: every node distrusts all. */
    {"cluster CA mismatch", 3,
     "n1>n2=peer_cert_untrusted n2>n1=peer_cert_untrusted n3>n1=peer_chain_incomplete "
     "n1>n3=rejected_by_peer,ar=48 n2<n3=peer_cert_untrusted n3>n2=peer_cert_untrusted "
     "n2>n3=peer_cert_untrusted",
     "noca", "cluster_ca_mismatch -"},
    {"wrong node ID", 3, "*>n1=peer_identity_mismatch,name=u-kma09,serial=5E99",
     "n1:never u-kma09:attempt=5E99", "node_identity_wrong n1"},
    /* The node at n2's address bears n3's name; n3 itself is healthy and is never blamed. */
    {"another node's ID", 3,
     "*>n2=peer_identity_mismatch,name=n3,serial=5E77 n1<n3=peer_serial_mismatch,serial=5E77",
     "n2:never n3:attempt=5E77", "node_identity_wrong n2"},
    /* Refused from where its last report came, a second after it: the node itself. */
    {"restarted with a new certificate", 3,
     "*>n1=peer_serial_mismatch,serial=5EAA n1>n2=tcp_refused", "n1:restarted=5EAA",
     "node_not_rejoined n1"},
    /* The same second, from elsewhere: a certificate that borrows n3's name. */
    {"a borrowed name, a second after", 3, "*>n2=peer_identity_mismatch,name=n3,serial=5E77",
     "n2:never n3:borrowed=5E77", "node_identity_wrong n2"},
    {"another node's ID, reported before", 4,
     "*>n2=peer_identity_mismatch,name=n3,serial=5E77 *<n3=peer_serial_mismatch,serial=5E77",
     "n2:silent n3:attempt=5E77", "node_identity_wrong n2"},
    {"dialled an old address", 3,
     "n1>n2=peer_identity_mismatch,name=n3,addr=127.0.0.3:9443,serial=5E03", "",
     "node_stale_peers n1"},
    {"expired", 3,
     "*>n1=peer_cert_expired,na=-2,as=45 *<n1=peer_cert_expired,na=-2,as=45 "
     "n1>*=rejected_by_peer,ar=45",
     "n1:expires=-2", "node_cert_expired n1"},
    {"expired, silent", 4, "*>n2=peer_cert_expired,na=-20", "n2:silent", "node_cert_expired n2"},
    {"a clock ahead", 3, "n1>*=peer_cert_expired n1<*=peer_cert_expired", "", "node_clock_skew n1"},
    {"not yet valid", 3, "*>n1=peer_cert_not_yet_valid,nb=30", "", "node_cert_not_yet_valid n1"},
    {"a clock behind", 3, "n3>*=peer_cert_not_yet_valid", "", "node_clock_skew n3"},
    {"revoked", 3, "*>n1=peer_cert_revoked,serial=5E11", "", "node_cert_revoked n1"},
    {"stale pins", 3, "n1>n2=peer_serial_mismatch,expect=5E22", "", "node_stale_peers n1"},
    {"pair", 3, "n1>n2=tcp_timeout n2>n1=tcp_timeout", "", "pair_failure n1 <-> n2"},
    /* One way only, while others reach n2: n2 may have just gone down; nobody is blamed yet. */
    {"one way", 4, "n1>n2=tcp_refused", "", "unexplained -"},
    {"isolated", 4, "n1>*=tcp_timeout", "", "node_isolated n1"},
    {"TLS versions", 3, "*>n2=protocol_mismatch", "", "node_tls_mismatch n2"},
    {"unverified", 3, "*>n3=-", "", "node_unverified n3"},
    {"never reported", 3, "*>n3=-", "n3:never", "node_silent n3"},
    {"hardware changed", 3, "", "n2:state=hardware_changed", "node_state n2"},
    {"expiring", 3, "", "n1:expires=10", "cert_expiring n1"},
    {"stray certificate", 3, "", "u-kma77:attempt=5E77", "stray_certificate -"},
    {"unexplained", 3, "n1<n2=peer_no_client_cert", "", "unexplained -"},
};

/* Whether the findings are exactly want (order aside). */
static void check(const struct row *r, const struct diag_finding *f, size_t n)
{
	char buf[512], *save = NULL;
	bool used[64] = {false};
	size_t wanted = 0;

	snprintf(buf, sizeof(buf), "%s", r->want);
	for (char *w = strtok_r(buf, ";", &save); w; w = strtok_r(NULL, ";", &save)) {
		char pattern[64] = "", culprit[64] = "", cand[128] = "";
		bool found = false;

		while (*w == ' ')
			w++;
		if (sscanf(w, "ambiguous[%127[^]]]", cand) == 1)
			snprintf(pattern, sizeof(pattern), "ambiguous");
		else if (sscanf(w, "%63s %63[^;]", pattern, culprit) != 2)
			fail_msg("%s: bad want '%s'", r->name, w);
		if (!strcmp(culprit, "-"))
			culprit[0] = '\0';
		wanted++;
		for (size_t i = 0; i < n && !found; i++) {
			char got[128] = "";

			if (used[i] || strcmp(kma_pattern_id(f[i].pattern), pattern) ||
			    strcmp(f[i].culprit, culprit))
				continue;
			for (size_t k = 0; k < f[i].n_candidates; k++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
				         k ? "," : "", f[i].candidates[k]);
			if (cand[0] && strcmp(got, cand))
				continue;
			used[i] = found = true;
		}
		if (!found) {
			for (size_t i = 0; i < n; i++)
				print_message("  got %s '%s': %s\n", kma_pattern_id(f[i].pattern),
				              f[i].culprit, f[i].summary);
			fail_msg("%s: no finding %s '%s' %s", r->name, pattern, culprit, cand);
		}
	}
	if (n != wanted) {
		for (size_t i = 0; i < n; i++)
			print_message("  got %s '%s': %s\n", kma_pattern_id(f[i].pattern),
			              f[i].culprit, f[i].summary);
		fail_msg("%s: %zu findings, want %zu", r->name, n, wanted);
	}
}

static struct cluster cl;
static struct store_observation list[OMAX];
static struct diag_finding found[64];

static size_t build(const struct row *r)
{
	healthy(&cl, r->n);
	apply_mesh(&cl, r->mesh);
	apply_self(&cl, r->self);
	return run_cluster(&cl, list, found, 64);
}

static const struct row *row_named(const char *name)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	fail_msg("no row %s", name);
	return NULL;
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check(&rows[i], found, build(&rows[i]));
}

static const struct diag_finding *only(const char *pattern, size_t n)
{
	const struct diag_finding *f = NULL;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(kma_pattern_id(found[i].pattern), pattern)) {
			assert_null(f);
			f = &found[i];
		}
	assert_non_null(f);
	return f;
}

static bool mentions(const struct diag_finding *f, const char *text)
{
	for (size_t i = 0; i < f->n_evidence; i++)
		if (strstr(f->evidence[i], text))
			return true;
	return strstr(f->summary, text) || strstr(f->remedy, text);
}

/* What the operator reads for the archetype: both ends, the refused reports, the remedy. */
static void test_not_rejoined_evidence(void **state)
{
	const struct diag_finding *f;
	size_t n;

	(void)state;
	n = build(row_named("not rejoined"));
	f = only("node_not_rejoined", n);
	assert_string_equal(f->serial, "5EAA");
	assert_string_equal(f->name, "n1");
	assert_non_null(strstr(f->remedy, "factory reset and rejoin n1"));
	assert_non_null(strstr(f->remedy, "kmactl node set-serial n1 5EAA"));
	assert_true(mentions(f, "n2 -> n1: peer_serial_mismatch, presented serial 5EAA, enrolled "
	                        "5E01, alert 49 sent"));
	assert_true(mentions(f, "n1 -> n3: rejected_by_peer, alert 49 received") ||
	            mentions(f, "n3 <- n1: peer_serial_mismatch"));
	assert_true(mentions(f,
	                     "a certificate for n1 with serial 5EAA, not its enrolled one, tried "
	                     "to report from 127.0.0.1"));
}

/* The node's own measurement beside its peers' tcp_refused. */
static void test_queue_evidence(void **state)
{
	const struct diag_finding *f;
	size_t n;

	(void)state;
	n = build(row_named("refused, key service queue full"));
	f = only("node_refused", n);
	assert_true(mentions(f, "n3's key service on port 5696: accept queue 128/128 (full), "
	                        "4,211 connections dropped in the last minute"));
	assert_true(mentions(f, "tcp_refused"));
	n = build(row_named("refused"));
	f = only("node_refused", n);
	assert_false(mentions(f, "accept queue"));
}

/* The innocent node's name is in the evidence only as the name the impostor bears. */
static void test_borrowed_name_evidence(void **state)
{
	const struct diag_finding *f;
	size_t n;

	(void)state;
	n = build(row_named("another node's ID"));
	f = only("node_identity_wrong", n);
	assert_string_equal(f->culprit, "n2");
	assert_string_equal(f->name, "n3");
	assert_true(mentions(f, "n1 -> n2: peer_identity_mismatch, its certificate names n3"));
	assert_true(mentions(f, "a certificate for n3 with serial 5E77"));
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(found[i].culprit, "n3");
}

static void test_silent_and_expiring(void **state)
{
	const struct row r = {"", 3, "", "n3:silent n1:expires=10", ""};
	const struct diag_finding *f;
	size_t n;

	(void)state;
	n = build(&r);
	f = only("cert_expiring", n);
	assert_true(f->warning);
	assert_non_null(strstr(f->summary, "expires in 10 days"));
	f = only("node_silent", n);
	assert_non_null(strstr(f->summary, "for 600 s"));
}

/* A full output array never overflows, and a small one keeps the first findings. */
static void test_bounded(void **state)
{
	size_t n;

	(void)state;
	healthy(&cl, 3);
	apply_mesh(&cl, "*>n3=tcp_refused n1<n2=peer_no_client_cert");
	assert_int_equal(run_cluster(&cl, list, found, 0), 0);
	n = run_cluster(&cl, list, found, 1);
	assert_int_equal(n, 1);
	assert_string_equal(kma_pattern_id(found[0].pattern), "node_refused");
}

/* Node i's health as every view shows it, after build(r). */
static struct diag_health health_of(const struct row *r, const char *id)
{
	size_t n = build(r);
	struct diag_input in = {.nodes = cl.nodes,
	                        .self = cl.self,
	                        .n_nodes = cl.n,
	                        .obs = list,
	                        .n_obs = 0,
	                        .attempts = cl.attempts,
	                        .n_attempts = cl.n_attempts,
	                        .now = NOW,
	                        .stale_after = 95};
	struct diag_health h;

	diag_node_health(&in, (size_t)node_of(&cl, id), found, n, &h);
	return h;
}

/*
 * One verdict: a node is healthy in kmactl status, the status page and /metrics only when
 * the diagnosis blames it in no way and its own report is fine; the first reason is why.
 */
static void test_node_health(void **state)
{
	static const struct {
		struct row r;
		const char *node;
		const char *why; /* NULL: healthy */
	} cases[] = {
	    {{"", 3, "", "", ""}, "n1", NULL},
	    /* reports well, yet refuses every peer: the contradiction of issue 18 */
	    {{"", 3, "*>n2=tcp_refused", "", ""}, "n2", "node_refused: "},
	    {{"", 3, "*>n2=tcp_refused", "", ""}, "n1", NULL},
	    /* one side of a pair */
	    {{"", 3, "n1>n2=tcp_timeout n2>n1=tcp_timeout", "", ""}, "n1", "pair_failure: "},
	    {{"", 3, "n1>n2=tcp_timeout n2>n1=tcp_timeout", "", ""}, "n2", "pair_failure: "},
	    {{"", 3, "n1>n2=tcp_timeout n2>n1=tcp_timeout", "", ""}, "n3", NULL},
	    /* a candidate of an ambiguous finding is not called healthy either */
	    {{"", 3, "*>n3=tcp_timeout n1>n2=tcp_timeout", "n3:silent", ""}, "n3", "node_down: "},
	    /* its own report */
	    {{"", 3, "", "n2:state=hardware_changed", ""}, "n2", "node_state: "},
	    {{"", 3, "", "n2:never", ""}, "n2", "node_silent: "},
	    /* a warning (a forecast) leaves it healthy */
	    {{"", 3, "", "n1:expires=10", ""}, "n1", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag_health h = health_of(&cases[i].r, cases[i].node);

		if (!cases[i].why && !h.healthy)
			fail_msg("case %zu: %s not healthy: %s", i, cases[i].node, h.why);
		if (cases[i].why && (h.healthy || !strstr(h.why, cases[i].why)))
			fail_msg("case %zu: %s %s, want '%s'", i, cases[i].node,
			         h.healthy ? "healthy" : h.why, cases[i].why);
	}
	/* the key service, when nothing else is wrong */
	healthy(&cl, 3);
	sync(&cl);
	cl.self[1].keys_known = true;
	snprintf(cl.self[1].keys_detail, sizeof(cl.self[1].keys_detail), "keystore offline");
	{
		struct diag_input in = {.nodes = cl.nodes,
		                        .self = cl.self,
		                        .n_nodes = cl.n,
		                        .now = NOW,
		                        .stale_after = 95};
		struct diag_health h;

		diag_node_health(&in, 1, found, 0, &h);
		assert_false(h.healthy);
		assert_string_equal(h.why, "key service down: keystore offline");
		cl.self[1].keys_ok = true;
		diag_node_health(&in, 1, found, 0, &h);
		assert_true(h.healthy);
		assert_string_equal(h.why, "");
	}
}

/* Observations of cl as the store lists them, into list; how many. */
static size_t listed(void)
{
	size_t n = 0;

	for (size_t i = 0; i < OMAX; i++)
		if (cl.present[i])
			list[n++] = cl.obs[i];
	return n;
}

/* The interlock: on fresh observations only, a quorum of witnesses, none that reaches it. */
static void test_confirm(void **state)
{
	struct diag_input in;
	char why[256];

	(void)state;
	healthy(&cl, 4);
	apply_mesh(&cl, "*>n1=peer_serial_mismatch,serial=5EAA "
	                "n2>n1=peer_serial_mismatch,serial=5EAA,at=-100");
	apply_self(&cl, "n1:refused=5EAA");
	sync(&cl);
	in = (struct diag_input){.nodes = cl.nodes,
	                         .self = cl.self,
	                         .n_nodes = cl.n,
	                         .obs = list,
	                         .n_obs = listed(),
	                         .attempts = cl.attempts,
	                         .n_attempts = cl.n_attempts,
	                         .ca_subjects = ca,
	                         .n_ca_subjects = 1,
	                         .now = NOW,
	                         .stale_after = 95};
	assert_int_equal(diag_confirm(&in, KMA_PATTERN_NODE_NOT_REJOINED, "n1", "5EAA", NOW - 10, 0,
	                              why, sizeof(why)),
	                 DIAG_CONFIRMED);
	assert_non_null(strstr(why, "2 nodes observe n1 as node_not_rejoined"));
	/* Another certificate there now: the plan's reason no longer holds. */
	assert_int_equal(diag_confirm(&in, KMA_PATTERN_NODE_NOT_REJOINED, "n1", "5EBB", NOW - 10, 0,
	                              why, sizeof(why)),
	                 DIAG_REFUTED);
	assert_non_null(strstr(why, "finds serial 5EAA at n1's address now, not 5EBB"));
	/* Too few fresh witnesses (n2's view is older than the check): wait. */
	assert_int_equal(diag_confirm(&in, KMA_PATTERN_NODE_NOT_REJOINED, "n1", "5EAA", NOW - 10, 3,
	                              why, sizeof(why)),
	                 DIAG_PENDING);
	assert_non_null(strstr(why, "2 of the 3 nodes needed"));
	/* A wrong diagnosis: n2 is healthy, and every peer authenticates it. */
	assert_int_equal(
	    diag_confirm(&in, KMA_PATTERN_NODE_REFUSED, "n2", "", NOW - 10, 0, why, sizeof(why)),
	    DIAG_REFUTED);
	assert_non_null(strstr(why, "authenticated n2"));
	assert_int_equal(diag_confirm(&in, KMA_PATTERN_NODE_NOT_REJOINED, "n9", "", NOW - 10, 0,
	                              why, sizeof(why)),
	                 DIAG_REFUTED);

	/* A wedged node called not rejoined: the others see it refuse, not a bad serial. */
	healthy(&cl, 3);
	apply_mesh(&cl, "*>n3=tcp_refused");
	in.n_obs = listed();
	in.n_attempts = 0;
	assert_int_equal(diag_confirm(&in, KMA_PATTERN_NODE_NOT_REJOINED, "n3", "", NOW - 10, 0,
	                              why, sizeof(why)),
	                 DIAG_REFUTED);
	assert_non_null(strstr(why, "sees tcp_refused at n3's address now"));
	assert_int_equal(
	    diag_confirm(&in, KMA_PATTERN_NODE_REFUSED, "n3", "", NOW - 10, 0, why, sizeof(why)),
	    DIAG_CONFIRMED);
	/* Nothing observed since: wait. */
	assert_int_equal(
	    diag_confirm(&in, KMA_PATTERN_NODE_REFUSED, "n3", "", NOW, 0, why, sizeof(why)),
	    DIAG_PENDING);
	/* Only one witness reports now (n1 is silent): one is all there can be. */
	apply_self(&cl, "n1:silent");
	sync(&cl);
	assert_int_equal(
	    diag_confirm(&in, KMA_PATTERN_NODE_REFUSED, "n3", "", NOW - 10, 0, why, sizeof(why)),
	    DIAG_CONFIRMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_not_rejoined_evidence),
	    cmocka_unit_test(test_queue_evidence),
	    cmocka_unit_test(test_borrowed_name_evidence),
	    cmocka_unit_test(test_silent_and_expiring),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_confirm),
	    cmocka_unit_test(test_node_health),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
