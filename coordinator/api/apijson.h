#ifndef KMA_COORD_APIJSON_H
#define KMA_COORD_APIJSON_H

/* The core's answers as the operator API and the status page show them (JSON). */

#include <json-c/json.h>
#include <stdint.h>

#include "store.h"
#include "timeline.h"

/*
 * GET /v1/diagnosis: the mesh diagnosis over what the store holds, as {"healthy": bool,
 * "nodes": n, "findings": [{"pattern", "severity", "culprit", "summary", "remedy",
 * "evidence": [...]}]}. healthy is false while any finding is an error. A new JSON object
 * the caller puts, or NULL when the store failed (logged).
 */
json_object *api_diagnosis_json(struct store *st, int64_t now, int64_t stale_after);

/*
 * {"step_s", "samples": [{"at", "ok", "failed", "healthy", "blamed": [...]}, ...]} oldest
 * first, the samples of the last hour before now only (timeline_samples).
 */
json_object *api_timeline_json(struct timeline *t, int64_t now);

#endif
