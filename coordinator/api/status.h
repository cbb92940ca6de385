#ifndef KMA_COORD_STATUS_H
#define KMA_COORD_STATUS_H

/*
 * The status page: a read-only view of the cluster for people (nodes and their states,
 * the mesh as a matrix coloured by cause, the recovery plan with its current step and
 * gate, the diagnosis), served over plain HTTP on [coord] status_listen:
 *
 *   GET /             the page (coordinator/api/status.html, built in; no build step, no
 *                     external resource)
 *   GET /status.json  {"now", "cluster", "nodes", "mesh", "diagnosis", "plan", "proposal",
 *                     "journal", "timeline"}: the operator API's documents for those views
 *                     (proposal: the plan that would run, GET /v1/plan), the journal's
 *                     entries of the last hour and the timeline (timeline.h), in one answer
 *
 * It changes nothing and shows no secret, but it is not authenticated: bind it to
 * loopback (the default when set) or a management network, and reach it through an SSH
 * tunnel. It has its own thread, store handle and connection limit, so it cannot slow
 * down the agents' or operators' HTTPS server.
 */

#include <stdint.h>

#include "api.h"
#include "timeline.h"

/* The journal entries of the last hour that status.json carries, at most. */
#define STATUS_JOURNAL_MAX 200

extern const char kma_status_html[];

struct status_server;

/*
 * Starts serving on listen ("ADDR:PORT") with its own handle on the database at db_path;
 * the page names the cluster cluster_id and draws the timeline tl (NULL: none; it must
 * outlive the server).
 */
struct status_server *status_start(const char *listen, const char *db_path,
                                   const struct api_params *prm, const char *cluster_id,
                                   struct timeline *tl) __attribute__((warn_unused_result));

void status_stop(struct status_server *s);

/* The body of GET /status.json into a new string (free()), or NULL (logged). */
char *status_json(struct store *st, const struct api_params *prm, int64_t now,
                  const char *cluster_id, struct timeline *tl);

#endif
