#ifndef KMA_COORD_OPAPI_H
#define KMA_COORD_OPAPI_H

/*
 * The operator API's node routes (JSON, docs/protocol.md), for callers the HTTP layer has
 * already authenticated as operators (api.h routes to them):
 *
 *   GET    /v1/nodes                   nodes with their last report, peer table version
 *   POST   /v1/nodes                   add a node: 201 with an enrolment token, 409 exists,
 *                                       400 bad JSON or fields
 *   POST   /v1/nodes/{node_id}/token   a new enrolment token (the old one is void): 201, 404
 *   PUT    /v1/nodes/{node_id}/serial  record the enrolled serial: 200, 404, 400
 *   DELETE /v1/nodes/{node_id}         204, 404
 *   GET    /v1/mesh                    every stored peer observation
 *   GET    /v1/diagnosis               the mesh diagnosis (diagnose.h)
 *
 * Errors carry {"error": "why"}. Anything else under /v1/nodes or /v1/mesh is 404 (no
 * such path) or 405 (wrong method).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apiresp.h"
#include "nodeid.h"
#include "store.h"

#define OPAPI_NODE_ID_MAX KMA_NODE_ID_MAX /* common/nodeid.h */

/* True for the paths this module serves (api.c routes by them). */
bool opapi_owns(const char *path);

/*
 * Serves one request (the whole body in body/len). who names the operator for the log.
 * now stamps created nodes and enrolments. A token is in the 201 body only: it is never
 * logged.
 */
void opapi_handle(struct store *st, const struct api_params *prm, const char *method,
                  const char *path, const char *body, size_t len, const char *who, int64_t now,
                  struct api_response *out);

#endif
