#ifndef KMA_COORD_DIAG_H
#define KMA_COORD_DIAG_H

/*
 * Mesh diagnosis: from both directions of every pair (what each node saw when it probed a
 * peer's address, and when a peer connected to it), the nodes' own reports and the
 * certificates the coordinator refused, name the culprit, the remedy and the evidence.
 * Pure: no I/O, so every shape is tested as a table (tests/unit/test_diag.c).
 *
 * Whose fault a failure is comes first from the facts of the certificate presented, which
 * the coordinator can check itself, and only then from votes:
 *   - only the reports of nodes that report now count: a node silent for stale_after, or
 *     whose reports began to be refused after its last accepted one, no longer speaks;
 *   - a certificate is judged where it was found: the node at an address is what its peers
 *     find when they dial that address. A certificate that names a node is never blamed on
 *     that node for the name alone (names can be borrowed);
 *   - of the certificates seen at an address, the newest tells what the node presents now:
 *     views of another certificate there are stale;
 *   - presented serial = enrolled serial: the observer's pins are stale, not the node;
 *     issued by the cluster CA yet untrusted: the observer's trust store is stale; valid by
 *     the coordinator's clock yet expired or not yet valid: the observer's clock is wrong;
 *     found at an address that is not the node's: the observer's peer table is stale;
 *   - what facts cannot settle (connections refused or timing out, a chain from an issuer
 *     the coordinator does not know, TLS negotiation) is put to a vote of the node's
 *     observers: when some reach the node, the fault is the others' or their path's; when
 *     none does, it is the node's, provided at least min(2, nodes - 1) observers agree,
 *     else the finding is `ambiguous` and names every candidate.
 *
 * Patterns, most specific first; an observation a finding explains is not explained twice.
 * The node at an address:
 *   node_not_rejoined       presents its own node ID, from the cluster CA, with a serial the
 *                           cluster never enrolled: QuickStarted and never rejoined
 *   node_identity_wrong     presents another node ID (an existing node's too: the culprit
 *                           is the node at that address, never the node whose name it bears)
 *   node_untrusted          presents a chain from a CA the cluster does not trust
 *   node_cert_expired       presents an expired certificate (or reports one of its own)
 *   node_cert_not_yet_valid presents a certificate before its notBefore
 *   node_cert_revoked       presents a revoked certificate
 *   node_cert_bad_usage     presents a certificate whose usage forbids this role
 *   node_refused            no peer completes a connection to it while it reports: its
 *                           listener is down or its listen queue is full
 *   node_down               no peer completes a connection to it and it does not report
 *   node_tls_mismatch       no peer agrees a TLS version or suite with it
 * The observing node:
 *   node_stale_trust        distrusts certificates of the cluster CA
 *   node_clock_skew         finds certificates expired or not yet valid that are valid
 *   node_stale_peers        pins serials or dials addresses the cluster no longer has
 *   node_isolated           reaches none of the peers the others reach
 *   node_rejecting          rejects certificates that its peers accept
 * Others:
 *   cluster_ca_mismatch     every node is in a distrust finding: no shared cluster CA
 *   pair_failure            one pair fails while both ends are fine with everyone else
 *   ambiguous               the evidence fits more than one culprit (candidates)
 *   node_state              a node reports hardware_changed, not_enrolled or unprovisioned
 *   node_unverified         a node reports, but no peer has probed it yet
 *   node_silent             no report from a node for longer than stale_after
 *   stray_certificate       (warning) a certificate that is not its node's enrolled one
 *                           tried to report, and no peer finds it at any address
 *   cert_expiring           (warning) a node's certificate expires within 30 days
 *   unexplained             failing observations no pattern above explains
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "vocab.h"

#define DIAG_EVIDENCE_MAX   16
#define DIAG_CANDIDATES_MAX 8
#define DIAG_DN_MAX         256 /* an issuer's distinguished name, with the NUL */

struct diag_finding {
	enum kma_pattern pattern;           /* one of the list above (vocab.def) */
	bool warning;                       /* a forecast: the cluster still counts as healthy */
	char culprit[2 * STORE_ID_MAX + 4]; /* a node ID, "A <-> B", or "" for the cluster */
	/* node findings: what the culprit's address presents ("" when unknown) */
	char serial[STORE_SERIAL_MAX];
	char name[STORE_ID_MAX]; /* the node ID that certificate names */
	/* ambiguous: every node the evidence could blame */
	char candidates[DIAG_CANDIDATES_MAX][STORE_ID_MAX];
	size_t n_candidates;
	char summary[512];
	char remedy[640];
	char evidence[DIAG_EVIDENCE_MAX][256];
	size_t n_evidence;
};

/* What a node said about itself in its last accepted report (its facts, store_facts). */
/* A listen queue the node measured on itself (kma.proto ListenQueue). */
struct diag_listenq {
	bool key_service; /* the key service's port, else the agent's own peer listener */
	unsigned port;
	uint32_t queued, backlog;
	uint64_t dropped; /* ListenDrops over window_s */
	uint32_t window_s;
};

#define DIAG_LISTENQ_MAX 2

struct diag_self {
	enum kma_state state; /* of the last report (UNSPECIFIED also when none) */
	struct diag_listenq lq[DIAG_LISTENQ_MAX];
	size_t n_lq;
	int64_t report_at;      /* 0: never reported */
	int64_t cert_not_after; /* 0: unknown */
	char cert_serial[STORE_SERIAL_MAX];
	bool keys_known, keys_ok; /* its key service, when the report says */
	char keys_detail[STORE_TEXT_MAX];
};

struct diag_input {
	const struct store_node *nodes; /* enrolled serial, address */
	const struct diag_self *self;   /* one per node, same order */
	size_t n_nodes;
	const struct store_observation *obs;
	size_t n_obs;
	const struct store_attempt *attempts; /* certificates refused as a node's */
	size_t n_attempts;
	/* Subjects of the cluster CA's certificates (mbedtls_x509_dn_gets form); none: a
	 * chain's issuer is not judged, only voted on. */
	const char (*ca_subjects)[DIAG_DN_MAX];
	size_t n_ca_subjects;
	int64_t now;
	int64_t stale_after; /* seconds without a report before a node is silent */
};

/*
 * The refusal of node n's reports that began after its last accepted report and still goes
 * on at now (its last within stale_after), coming from where that report came from or
 * going on for more than a report interval after it (about stale_after / 3), or NULL: the
 * node then reports with another certificate than its enrolled one. (Refusals while its
 * reports are still taken come from a certificate elsewhere that bears its name.)
 */
const struct store_attempt *diag_refusal(const struct store_attempt *a, size_t n_a,
                                         const struct store_node *n, int64_t now,
                                         int64_t stale_after);

/* A node's verdict: the one kmactl status, the status page and /metrics show. */
struct diag_health {
	bool healthy;
	char why[640]; /* "" when healthy */
};

/*
 * Node i's verdict from the findings f (n of them, diag_run over in) and what it said of
 * itself: not healthy when an error finding blames it (as its culprit, one side of a pair,
 * or one of an ambiguous finding's candidates), its reports are refused, it never reported
 * or not within stale_after, its identity is not enrolled, or its key service is down; the
 * first of these is why. A warning (a forecast) leaves it healthy.
 */
void diag_node_health(const struct diag_input *in, size_t i, const struct diag_finding *f, size_t n,
                      struct diag_health *v);

/*
 * Fills out (up to max findings, most important first) and returns how many there are.
 * The cluster is healthy when none of them is an error (warning == false).
 */
size_t diag_run(const struct diag_input *in, struct diag_finding *out, size_t max);

enum diag_verdict {
	DIAG_CONFIRMED, /* the finding holds on fresh observations by enough witnesses */
	DIAG_PENDING,   /* too few witnesses have observed the node since */
	DIAG_REFUTED,   /* a witness authenticated the node, or found another fault there */
};

/*
 * The recovery's interlock: whether the finding pattern on node still holds on the
 * observations made at or after since alone. Each witness is a node other than node that
 * reports now (diag.h) and has observed node's address since; CONFIRMED needs at least
 * quorum of them (0: the diagnosis's own rule, two, or every witness there can be when
 * fewer nodes report) to see pattern there, with serial (when not "") still what they find
 * for a finding about a certificate, and none to authenticate node or see something else.
 * why says what was seen.
 */
enum diag_verdict diag_confirm(const struct diag_input *in, enum kma_pattern pattern,
                               const char *node, const char *serial, int64_t since, size_t quorum,
                               char *why, size_t size);

#endif
