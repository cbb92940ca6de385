#ifndef KMA_COORD_ENGINE_H
#define KMA_COORD_ENGINE_H

/*
 * The recovery engine: runs the plan in the store one step at a time (plan.h says what
 * the steps and gates are). kma-coord calls engine_tick a few times a second from its main
 * thread; the operator API calls the engine_* actions from an HTTP thread. Both hold
 * the engine lock while they read and change a plan, each with its own store handle.
 *
 * Every state change of a plan or a step and its journal entry are one transaction, and
 * nothing but the store holds the plan, so kill -9 at any moment and a restart resume it
 * where it was: a directive already out keeps its ID and lease (the agent runs a directive
 * ID at most once), a gate is evaluated again, a completed step is never run again.
 *
 * A step's phases (store_step.phase):
 *   gate       waiting for the gate before it (disruptive steps) and, for manual steps,
 *              going on to confirm
 *   confirm    a manual step: waiting for kmactl confirm
 *   directive  a directive with the lease is out; waiting for the agent's result
 *   back       after a reboot: waiting for the new boot and the mesh, then stabilising
 *   push       after an entry changed: waiting for every serving node's peer table
 *   verify     after a QuickStart or join: waiting for the enrolment and the mesh
 * A gate that fails for longer than step_timeout, or a directive the agent refuses or
 * fails, pauses the plan with what was observed; nothing is retried.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "store.h"

struct engine_params {
	int64_t stabilise_s;    /* the mesh must stay whole this long after a step */
	int64_t step_timeout_s; /* a phase waiting longer pauses the plan */
	int64_t lease_ttl_s;    /* a disruptive directive's lease; renewed while the step runs */
	int64_t stale_after_s;  /* a node whose last report is older is not serving */
	unsigned min_serving;   /* nodes that must keep serving while one is disrupted */
};

#define ENGINE_STABILISE_DEFAULT 60
#define ENGINE_TIMEOUT_DEFAULT   900
#define ENGINE_LEASE_DEFAULT     300
#define ENGINE_MIN_SERVING       1

void engine_lock(void);
void engine_unlock(void);

/*
 * The snapshot the gates are evaluated on: every node with its decoded last report, and
 * every observation. Returns 0 (free with engine_view_free) or -1 (logged).
 */
int engine_view_load(struct store *st, int64_t now, int64_t stale_after, struct plan_view *v);
void engine_view_free(struct plan_view *v);

/* Advances the running plan as far as it can go now. Takes the engine lock. */
void engine_tick(struct store *st, const struct engine_params *p, int64_t now);

enum engine_status {
	ENGINE_OK = 0,
	ENGINE_NO_PLAN,  /* no plan, or none in a state the action applies to */
	ENGINE_CONFLICT, /* the action does not apply now (why says what would) */
	ENGINE_ERROR,
};

/* Operator actions on the latest plan, journalled under who. Call with the engine lock. */
enum engine_status engine_confirm(struct store *st, int step, const char *who, int64_t now,
                                  char *why, size_t size);
enum engine_status engine_pause(struct store *st, const char *who, int64_t now, char *why,
                                size_t size);
enum engine_status engine_resume(struct store *st, const char *who, int64_t now, char *why,
                                 size_t size);
enum engine_status engine_abort(struct store *st, const char *who, int64_t now, char *why,
                                size_t size);

#endif
