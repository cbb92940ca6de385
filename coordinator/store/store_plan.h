#ifndef KMA_COORD_STORE_PLAN_H
#define KMA_COORD_STORE_PLAN_H

/*
 * Recovery plans in the coordinator's database: plans, their steps, the disruption lease
 * and the append-only journal of every step, decision and operator action.
 *
 * Unlike the rest of store.h these functions do not open transactions of their own: the
 * caller groups a step's change, its lease and its journal entry with store_tx_begin and
 * store_tx_end, so a crash leaves all of a transition or none of it. Outside a
 * transaction each call commits on its own. The journal table refuses UPDATE and DELETE
 * (a trigger), so history cannot be rewritten through SQL either.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "vocab.h"

#define STORE_PLAN_TEXT 512

struct store_plan {
	int64_t id;
	enum kma_plan_state state;
	char created_by[STORE_TEXT_MAX];
	int64_t created_at, updated_at;
	char detail[STORE_PLAN_TEXT]; /* why it is paused, or how it ended */
};

struct store_step {
	int64_t plan_id;
	int idx; /* 1-based, the order of execution */
	enum kma_step_kind kind;
	char node_id[STORE_ID_MAX];
	char reason[STORE_PLAN_TEXT];
	bool manual;
	char instruction[STORE_PLAN_TEXT];
	enum kma_step_state state; /* STOPPED: it was active when the plan was aborted */
	enum kma_step_phase phase; /* where an active step is (engine.c) */
	int64_t started_at, phase_at, finished_at, stable_since;
	char detail[STORE_PLAN_TEXT]; /* the gate being waited for, or the outcome */
	char directive_id[48];
	uint64_t fencing;
	char boot_before[72];
	uint64_t table_version;
	char secret[80]; /* add_entry: the nonce of its QuickStart's token (plantoken.h), else "" */
	char confirmed_by[STORE_TEXT_MAX];
	/*
	 * What justifies the step, written when the plan is built (plan.h): the finding's
	 * pattern the engine checks again on fresh observations before the node is disrupted,
	 * the serial and node ID its peers saw at the node's address, and the sentence an
	 * operator reads. Empty for steps that need no justification of their own.
	 */
	char predicate[STORE_PLAN_TEXT];
	enum kma_pattern pred_kind; /* UNSPECIFIED: nothing to check again */
	char pred_serial[STORE_SERIAL_MAX];
	char pred_name[STORE_ID_MAX];
};

struct store_lease {
	char id[48];
	char node_id[STORE_ID_MAX];
	int64_t plan_id;
	int step;
	uint64_t fencing;
	int64_t expires_at;
	char why[STORE_PLAN_TEXT];
};

struct store_journal_entry {
	int64_t id, at, plan_id;
	int step; /* 0: the plan as a whole */
	char actor[STORE_TEXT_MAX];
	char event[32];
	char detail[STORE_PLAN_TEXT];
};

enum store_status store_tx_begin(struct store *st) __attribute__((warn_unused_result));
/* Commits when ok and nothing failed, otherwise rolls back; returns what happened. */
enum store_status store_tx_end(struct store *st, bool ok);

/*
 * Creates a running plan with its steps (plan_id and idx are set here, 1..n) and journals
 * "created". STORE_EXISTS when another plan is running or paused. *id is the new plan's.
 */
enum store_status store_plan_create(struct store *st, struct store_step *steps, size_t n,
                                    const char *who, int64_t now, int64_t *id)
    __attribute__((warn_unused_result));

/* The newest plan (any state) and its steps (*steps: free()); STORE_NOT_FOUND if none. */
enum store_status store_plan_latest(struct store *st, struct store_plan *plan,
                                    struct store_step **steps, size_t *n)
    __attribute__((warn_unused_result));

enum store_status store_plan_set_state(struct store *st, int64_t id, enum kma_plan_state state,
                                       const char *detail, int64_t now)
    __attribute__((warn_unused_result));

/* Writes every field of a step back (by plan_id and idx). */
enum store_status store_step_put(struct store *st, const struct store_step *s)
    __attribute__((warn_unused_result));

enum store_status store_journal_add(struct store *st, int64_t plan_id, int step, const char *actor,
                                    const char *event, const char *detail, int64_t now)
    __attribute__((warn_unused_result));

/* The journal of plan_id (0: all plans), oldest first, into a new array (free()). */
enum store_status store_journal_list(struct store *st, int64_t plan_id,
                                     struct store_journal_entry **out, size_t *n)
    __attribute__((warn_unused_result));

/*
 * Takes the cluster's disruption lease for node (held until now + ttl, renewable) with
 * the next fencing token. STORE_EXISTS when an unexpired lease for another step is held
 * (filled into *out); a lease already held by this plan's step is renewed instead.
 */
enum store_status store_lease_take(struct store *st, const char *node_id, int64_t plan_id, int step,
                                   const char *why, int64_t ttl, int64_t now,
                                   struct store_lease *out) __attribute__((warn_unused_result));

/* The lease, STORE_NOT_FOUND when none is held (an expired one counts as none). */
enum store_status store_lease_get(struct store *st, int64_t now, struct store_lease *out)
    __attribute__((warn_unused_result));

enum store_status store_lease_release(struct store *st) __attribute__((warn_unused_result));

/*
 * The directive a running plan has out for node_id, if any: the active step of the
 * running plan whose phase is "directive" on that node. STORE_NOT_FOUND when none.
 */
enum store_status store_directive_for(struct store *st, const char *node_id,
                                      struct store_step *step, struct store_lease *lease)
    __attribute__((warn_unused_result));

/* True when a plan is running or paused (so agents should report often). */
bool store_plan_unfinished(struct store *st);

/* The one-time token plan_id's add_entry step holds for node_id (into buf); never logged. */
enum store_status store_plan_token(struct store *st, int64_t plan_id, const char *node_id,
                                   char *buf, size_t size) __attribute__((warn_unused_result));

#endif
