#ifndef KMA_CTL_PLAN_H
#define KMA_CTL_PLAN_H

/*
 * kmactl's recovery verbs over the plan API (coordinator/api/planapi.h): plan, run, follow,
 * confirm, pause, resume, abort, history, and node token. run and follow print each
 * change of a step as it happens (one line per change when the output is not a terminal;
 * at a terminal also a live line for waits such as stabilisation windows) and end with a
 * summary of what was done and how long each step took.
 */

#include <stdio.h>

#include "ctl_ctx.h"

/*
 * For kmactl status: the current plan in one or two lines, and who holds the disruption
 * lease and why (nothing when there is no plan or out is NULL).
 */
void ctl_plan_status(const struct ctl_ctx *c, FILE *out);

/* GET /v1/plans/current as a new JSON object (with its lease), or NULL when there is none. */
json_object *ctl_plan_current(const struct ctl_ctx *c);

/* The plan's state and each step's state, phase and detail, for status --watch. */
void ctl_plan_signature(const struct ctl_ctx *c, char *buf, size_t size);

int ctl_verb_node_token(const struct ctl_ctx *c, char **args);
int ctl_verb_plan(const struct ctl_ctx *c, char **args);
int ctl_verb_run(const struct ctl_ctx *c, char **args);
int ctl_verb_follow(const struct ctl_ctx *c, char **args);
int ctl_verb_confirm(const struct ctl_ctx *c, char **args);
int ctl_verb_pause(const struct ctl_ctx *c, char **args);
int ctl_verb_resume(const struct ctl_ctx *c, char **args);
int ctl_verb_abort(const struct ctl_ctx *c, char **args);
int ctl_verb_history(const struct ctl_ctx *c, char **args);

#endif
