#ifndef KMA_COORD_STATUS_H
#define KMA_COORD_STATUS_H

/*
 * The status page: a read-only view of the cluster for people (nodes and their states,
 * the mesh as a matrix coloured by cause, the recovery plan with its current step and
 * gate, the diagnosis), served over plain HTTP on [coord] status_listen:
 *
 *   GET /             the page (coordinator/status.html, built in; no build step, no
 *                     external resource)
 *   GET /status.json  {"now", "nodes", "mesh", "diagnosis", "plan"}: the operator API's
 *                     documents for those views, in one answer
 *
 * It changes nothing and shows no secret, but it is not authenticated: bind it to
 * loopback (the default when set) or a management network, and reach it through an SSH
 * tunnel. It has its own thread, store handle and connection limit, so it cannot slow
 * down the agents' or operators' HTTPS server.
 */

#include <stdint.h>

#include "opapi.h"

extern const char kma_status_html[];

struct status_server;

/* Starts serving on listen ("ADDR:PORT") with its own handle on the database at db_path. */
struct status_server *status_start(const char *listen, const char *db_path,
                                   const struct opapi_params *prm)
    __attribute__((warn_unused_result));

void status_stop(struct status_server *s);

/* The body of GET /status.json into a new string (free()), or NULL (logged). */
char *status_json(struct store *st, const struct opapi_params *prm, int64_t now);

#endif
