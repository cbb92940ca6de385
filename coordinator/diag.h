#ifndef KMA_COORD_DIAG_H
#define KMA_COORD_DIAG_H

/*
 * Mesh diagnosis: from both directions of every pair (what each node saw when it probed a
 * peer, and when that peer connected to it) and the nodes' own reports, name the culprit,
 * the remedy and the evidence. Pure: no I/O, so every pattern is tested as a table.
 *
 * Patterns, most specific first; observations a finding explains are not explained twice:
 *   node_not_rejoined   every peer rejects X's serial and X is rejected by every peer:
 *                       X was QuickStarted after a hardware change and never rejoined
 *   node_identity_wrong every peer finds another node ID at X's address
 *   node_refused        no peer can connect to X (refused, timeout, reset): listener down
 *                       or saturated
 *   cluster_ca_mismatch (nearly) every node distrusts every other's chain: wrong CA
 *   node_stale_trust    X distrusts every peer while they trust each other
 *   pair_failure        one pair fails while both ends are fine with everyone else
 *   node_state          a node reports hardware_changed, not_enrolled or unprovisioned
 *   node_unverified     a node reports, but no peer has probed it yet
 *   node_silent         no report from a node for longer than stale_after
 *   cert_expiring       a node's certificate expires within 30 days (warning), or has
 *                       expired (error, explaining its peers' peer_cert_expired)
 *   unexplained         failing observations no pattern above explains
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define DIAG_EVIDENCE_MAX 16

struct diag_finding {
	const char *pattern;                /* identifier from the list above */
	bool warning;                       /* a forecast: the cluster still counts as healthy */
	char culprit[2 * STORE_ID_MAX + 4]; /* a node ID, "A <-> B", or "" for the cluster */
	char summary[512];
	char remedy[640];
	char evidence[DIAG_EVIDENCE_MAX][256];
	size_t n_evidence;
};

/* What a node said about itself in its last report (from the stored report body). */
struct diag_self {
	char state[STORE_STATE_MAX]; /* identity state identifier, "" if no report */
	int64_t report_at;           /* 0: never reported */
	int64_t cert_not_after;      /* 0: unknown */
	char cert_serial[STORE_SERIAL_MAX];
};

struct diag_input {
	const struct store_node *nodes;
	const struct diag_self *self; /* one per node, same order */
	size_t n_nodes;
	const struct store_observation *obs;
	size_t n_obs;
	int64_t now;
	int64_t stale_after; /* seconds without a report before a node is silent */
};

/*
 * Fills out (up to max findings, most important first) and returns how many there are.
 * The cluster is healthy when none of them is an error (warning == false).
 */
size_t diag_run(const struct diag_input *in, struct diag_finding *out, size_t max);

#endif
