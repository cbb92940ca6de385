#ifndef KMA_COORD_DIAGNOSE_H
#define KMA_COORD_DIAGNOSE_H

/*
 * GET /v1/diagnosis: the mesh diagnosis (coordinator/diag.h) over what the store holds,
 * as {"healthy": bool, "findings": [{"pattern", "severity", "culprit", "summary",
 * "remedy", "evidence": [...]}]}. healthy is false while any finding is an error.
 */

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "diag.h"
#include "store.h"

/* What a node said about itself in its last stored report (state, certificate). */
void diagnose_self_from_report(struct store *st, const struct store_node *n, struct diag_self *s);

#define DIAGNOSE_FINDINGS_MAX 64

/* The findings over what the store holds (up to max, into f): how many, or -1 (logged). */
ssize_t diagnose_run(struct store *st, int64_t now, int64_t stale_after, struct diag_finding *f,
                     size_t max);

/* A new JSON object the caller puts, or NULL when the store failed (logged). */
json_object *diagnose_json(struct store *st, int64_t now, int64_t stale_after);

#endif
