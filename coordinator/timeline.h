#ifndef KMA_COORD_TIMELINE_H
#define KMA_COORD_TIMELINE_H

/*
 * The last hour of the cluster, for the status page's timeline: every TIMELINE_STEP_S the
 * coordinator's tick samples how many probe results (outbound, between nodes of the cluster)
 * are ok and how many are not, whether the diagnosis calls the cluster healthy and which
 * nodes it blames. Kept in memory only (a restart starts it afresh); a fixed ring, so its
 * size never grows. Safe to use from the tick and the status page's thread at once.
 */

#include <json-c/json.h>
#include <stdint.h>

#include "store.h"

#define TIMELINE_STEP_S  30
#define TIMELINE_SAMPLES 120 /* an hour */

struct timeline;

struct timeline *timeline_new(void) __attribute__((warn_unused_result));
void timeline_free(struct timeline *t);

/*
 * Takes a sample when the last one is TIMELINE_STEP_S old or more (else does nothing):
 * the snapshot and diagnosis of st at now. Quiet on a store failure (the gap shows).
 */
void timeline_tick(struct timeline *t, struct store *st, int64_t now, int64_t stale_after);

/*
 * {"step_s", "samples": [{"at", "ok", "failed", "healthy", "blamed": [...]}, ...]} oldest
 * first, the samples of the last hour before now only.
 */
json_object *timeline_json(struct timeline *t, int64_t now);

#endif
