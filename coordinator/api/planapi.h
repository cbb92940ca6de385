#ifndef KMA_COORD_PLANAPI_H
#define KMA_COORD_PLANAPI_H

/*
 * The operator API of recovery plans (JSON, docs/protocol.md), for callers already
 * authenticated as operators:
 *
 *   GET  /v1/plan                          what a plan would do now: steps with reasons,
 *                                          the gate of each disruptive step as of now,
 *                                          notes on findings no step addresses; creates
 *                                          nothing
 *   POST /v1/plans                         builds the plan from the diagnosis and starts it:
 *                                          201; 409 while another is running or paused;
 *                                          422 when there is nothing to do
 *   GET  /v1/plans/current                 the latest plan, its steps and the lease: 200, 404
 *   POST /v1/plans/current/pause           200; 404 no plan; 409 not running
 *   POST /v1/plans/current/resume          200; 404; 409 not paused
 *   POST /v1/plans/current/abort           200; 404; 409 already over
 *   POST /v1/plans/current/steps/N/confirm a manual step is done: 200; 404; 409 not waiting
 *   GET  /v1/journal                       every journal entry, oldest first
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "apiresp.h"
#include "store.h"
#include "store_plan.h"

bool planapi_owns(const char *path);

/* The n journal entries e as GET /v1/journal lists them ({"id", "at", "plan_id", ...}). */
json_object *planapi_journal_json(const struct store_journal_entry *e, size_t n);

void planapi_handle(struct store *st, const struct api_params *prm, const char *method,
                    const char *path, const char *who, int64_t now, struct api_response *out);

#endif
