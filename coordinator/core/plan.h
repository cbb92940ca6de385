#ifndef KMA_COORD_PLAN_H
#define KMA_COORD_PLAN_H

/*
 * Recovery plans, the pure part: which steps a diagnosis calls for, and the gates a step
 * must pass, evaluated over a snapshot of what the nodes last reported. No I/O: the
 * engine (engine.c) loads the snapshot and keeps the plan in the store.
 *
 * The plan of the OKM incident: first a rolling reboot of every node that refuses
 * connections, one at a time; then for every node whose identity is wrong (QuickStarted
 * and never rejoined, another node ID at its address, a certificate from a foreign CA,
 * expired, revoked or of the wrong usage) a factory reset and rejoin: delete_entry,
 * factory_reset, add_entry, quickstart, join. Findings no step can fix (ambiguous ones
 * among them: the plan never guesses) are returned as notes, so an operator sees what the
 * plan leaves to them.
 *
 * Each disruptive step carries the finding that justifies it (store_step.pred_kind, with
 * the serial its peers found at the node's address), and the engine checks it again on
 * fresh observations right before the node is disrupted (plan_justified): the reboot
 * before its directive, the rejoin before its entry is deleted (after that its peers no
 * longer probe it, so the factory reset checks that the node itself still presents that
 * serial). Only a node whose reports the coordinator takes during the rejoin (one that was
 * QuickStarted and never rejoined: its reports come with the certificate its peers saw)
 * can be factory reset and QuickStarted by directive; for any other the two steps are
 * manual, with what to do at the appliance.
 *
 * Gates (each returns true, or false with what was observed in why):
 *   before a disruptive step  every node that is not a target of the plan is serving and
 *                             mutually authenticated with every other such node, and
 *                             taking this node down leaves at least min_serving of them;
 *                             targets with certificate errors count as already down
 *   after a reboot            the node reports a new boot ID, serves (key service
 *                             healthy, enrolled) and is mutually authenticated with every
 *                             serving non-target node, both directions seen since the step
 *   after a rejoin            the same, with the node's certificate serial the one
 *                             enrolled, and every serving node holding the new peer table
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "store.h"
#include "store_plan.h"
#include "vocab.h"

struct plan_mode {
	bool manual;
	char instruction[STORE_PLAN_TEXT];
};

/* What the coordinator knows of one node: its entry and its last report. */
struct plan_node {
	struct store_node entry;
	char boot_id[72];
	bool health_known, healthy;
	char health_detail[STORE_TEXT_MAX];
	char cert_serial[STORE_SERIAL_MAX];
	uint64_t table_version;
	char last_directive[48];
	bool last_ok;
	char last_detail[STORE_TEXT_MAX];
	int64_t last_done_at;
	uint64_t fencing;
	/* by step kind, from the board; all automatic when unknown */
	struct plan_mode modes[KMA_STEP_KIND_COUNT];
};

struct plan_view {
	const struct plan_node *nodes;
	size_t n;
	const struct store_observation *obs;
	size_t n_obs;
	int64_t now;
	int64_t stale_after; /* a report older than this is stale: the node is not serving */
	uint64_t table_version;
	/* The same as the diagnosis sees it, for plan_justified ({0}: nothing to check with). */
	struct diag_input diag;
};

#define PLAN_NOTES_MAX 16

/*
 * Turns findings into steps (up to max, into out: kind, node_id, reason, manual and
 * instruction set, state "pending") and returns how many. Error findings no step
 * addresses go to notes (up to PLAN_NOTES_MAX, *n_notes).
 */
size_t plan_build(const struct plan_view *v, const struct diag_finding *f, size_t nf,
                  struct store_step *out, size_t max, char notes[][STORE_PLAN_TEXT],
                  size_t *n_notes);

/*
 * Whether the finding that justifies step s (pred_kind) still holds on the observations
 * made since: diag_confirm on v->diag, or, for a factory reset whose entry is deleted
 * already, the node's own latest report presenting the serial its peers found. Steps that
 * carry no justification are CONFIRMED.
 */
enum diag_verdict plan_justified(const struct plan_view *v, const struct store_step *s,
                                 int64_t since, char *why, size_t size);

/* True for the findings a factory reset and rejoin fixes. */
bool plan_rejoin_fixes(enum kma_pattern pattern);

/* Index of node id in v, or -1. */
int plan_node_index(const struct plan_view *v, const char *id);

/* Reported within stale_after, enrolled, key service healthy. */
bool plan_node_serving(const struct plan_view *v, const struct plan_node *n, char *why,
                       size_t size);

/* a and b accept each other: both ends' outbound and inbound observations ok, at >= since. */
bool plan_pair_ok(const struct plan_view *v, const char *a, const char *b, int64_t since, char *why,
                  size_t size);

/*
 * The gates above. target[i] marks the nodes the plan still has to fix (other than node),
 * which are not required to be serving.
 */
bool plan_gate_before(const struct plan_view *v, const bool *target, const char *node,
                      unsigned min_serving, char *why, size_t size);
bool plan_gate_back(const struct plan_view *v, const bool *target, const char *node,
                    const char *boot_before, int64_t since, char *why, size_t size);
bool plan_gate_joined(const struct plan_view *v, const bool *target, const char *node,
                      uint64_t version, int64_t since, char *why, size_t size);
/* Every other serving node holds peer table version >= version. */
bool plan_gate_pushed(const struct plan_view *v, const char *node, uint64_t version, char *why,
                      size_t size);

#endif
