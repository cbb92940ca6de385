#ifndef KMA_COORD_OPAPI_H
#define KMA_COORD_OPAPI_H

/*
 * The operator API (JSON, docs/protocol.md), for callers the HTTP layer has already
 * authenticated as operators:
 *
 *   GET    /v1/nodes                   nodes with their last report, peer table version
 *   POST   /v1/nodes                   add a node: 201 with an enrolment token, 409 exists,
 *                                       400 bad JSON or fields
 *   POST   /v1/nodes/{node_id}/token   a new enrolment token (the old one is void): 201, 404
 *   PUT    /v1/nodes/{node_id}/serial  record the enrolled serial: 200, 404, 400
 *   DELETE /v1/nodes/{node_id}         204, 404
 *   GET    /v1/mesh                    every stored peer observation
 *   GET    /v1/diagnosis               the mesh diagnosis (diagnose.h)
 *   /v1/plan, /v1/plans*, /v1/journal   recovery plans (planapi.h)
 *
 * Errors carry {"error": "why"}. Anything else under /v1/nodes or /v1/mesh is 404 (no
 * such path) or 405 (wrong method).
 */

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include <stdint.h>

#include "nodeid.h"
#include "store.h"

#define OPAPI_NODE_ID_MAX KMA_NODE_ID_MAX /* common/nodeid.h */

struct opapi_response {
	int status;
	char *body; /* JSON text, the caller's to free(); NULL for 204 */
	size_t body_len;
	const char *allow; /* for 405: the methods the path takes */
};

/* True for the paths this module serves (so the HTTP layer can route by prefix). */
bool opapi_owns(const char *path);

/* True when id is a valid node ID (common/nodeid.h's rule). */
bool opapi_node_id_ok(const char *id);

/* What the operator API needs to know of the coordinator's configuration. */
struct opapi_params {
	unsigned token_ttl_s;  /* enrolment tokens are valid until now + this */
	int64_t stale_after_s; /* the diagnosis calls a node silent after this */
	unsigned min_serving;  /* recovery: nodes that must keep serving (plan gates) */
};

/* Fill out with j as the body (j stays the caller's), or with {"error": why}. */
void opapi_respond_json(struct opapi_response *out, int status, json_object *j);
void opapi_respond_error(struct opapi_response *out, int status, const char *why);
/* 405, with the methods the path takes for the Allow header. */
void opapi_method_not_allowed(struct opapi_response *out, const char *allow);

/*
 * Serves one request (the whole body in body/len). who names the operator for the log.
 * now stamps created nodes and enrolments. A token is in the 201 body only: it is never
 * logged.
 */
void opapi_handle(struct store *st, const struct opapi_params *prm, const char *method,
                  const char *path, const char *body, size_t len, const char *who, int64_t now,
                  struct opapi_response *out);

#endif
