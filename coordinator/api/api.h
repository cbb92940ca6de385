#ifndef KMA_COORD_API_H
#define KMA_COORD_API_H

/*
 * The operator API (JSON, docs/protocol.md), for callers the HTTP layer (http.c) has already
 * authenticated as operators: routes each path to the module that serves it.
 *
 *   /v1/nodes*, /v1/mesh, /v1/diagnosis     opapi.h
 *   /v1/plan, /v1/plans*, /v1/journal        planapi.h
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apiresp.h"
#include "store.h"

/* True for the paths the operator API serves (so the HTTP layer can route by prefix). */
bool api_owns(const char *path);

/*
 * Serves one request (the whole body in body/len): *out is set, its body the caller's to
 * free(). who names the operator for the log; now stamps what the request creates.
 */
void api_handle(struct store *st, const struct api_params *prm, const char *method,
                const char *path, const char *body, size_t len, const char *who, int64_t now,
                struct api_response *out);

#endif
