#ifndef KMA_COORD_TIMELINE_H
#define KMA_COORD_TIMELINE_H

/*
 * The last hour of the cluster, for the status page's timeline: every TIMELINE_STEP_S the
 * coordinator's tick samples how many probe results (outbound, between nodes of the cluster)
 * are ok and how many are not, whether the diagnosis calls the cluster healthy and which
 * nodes it blames. Kept in memory only (a restart starts it afresh); a fixed ring, so its
 * size never grows. Safe to use from the tick and the status page's thread at once.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define TIMELINE_STEP_S  30
#define TIMELINE_SAMPLES 120 /* an hour */

#define TIMELINE_BLAMED_MAX 4

struct timeline_sample {
	int64_t at;
	unsigned ok, failed; /* probe results between nodes of the cluster */
	bool healthy;
	char blamed[TIMELINE_BLAMED_MAX][STORE_ID_MAX];
	size_t n_blamed;
};

struct timeline;

struct timeline *timeline_new(void) __attribute__((warn_unused_result));
void timeline_free(struct timeline *t);

/*
 * Takes a sample when the last one is TIMELINE_STEP_S old or more (else does nothing):
 * the snapshot and diagnosis of st at now. Quiet on a store failure (the gap shows).
 */
void timeline_tick(struct timeline *t, struct store *st, int64_t now, int64_t stale_after);

/*
 * The samples of the last hour before now, oldest first, into out (TIMELINE_SAMPLES of
 * them at most): how many. NULL t has none.
 */
size_t timeline_samples(struct timeline *t, int64_t now, struct timeline_sample *out);

#endif
