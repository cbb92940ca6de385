#ifndef KMA_CTL_MESH_H
#define KMA_CTL_MESH_H

/*
 * The pair matrix of `kmactl mesh`: rows are observing nodes, columns their peers, each
 * cell the cause the row node recorded for its outbound probe of the column node. Pure
 * functions over the operator API's JSON, so they are unit-tested without a coordinator.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CTL_ABBREV_MAX 8 /* longest cell text, in characters */

/*
 * The cell text for a cause identifier (common/vocab.def): "ok", "serial", "rejected",
 * ... at most CTL_ABBREV_MAX characters, distinct for distinct causes; "?" for an
 * identifier this build does not know.
 */
const char *ctl_cause_abbrev(const char *cause_id);

struct ctl_mesh {
	size_t n;     /* nodes on each axis */
	char **ids;   /* n node IDs: rows and columns in this order */
	char **cells; /* n * n cause identifiers, cells[row * n + col]; NULL: no observation */
};

/* An empty matrix. Cannot fail. */
void ctl_mesh_init(struct ctl_mesh *m);

/* Frees everything; the matrix is empty again. NULL is fine. */
void ctl_mesh_free(struct ctl_mesh *m);

/*
 * Builds m (empty on entry) from a GET /v1/nodes document (the axis, in its order) and a
 * GET /v1/mesh document (outbound observations between listed nodes fill the cells;
 * others are ignored). Returns 0, or -1 with why filled when a document does not have the
 * documented shape or memory runs out (m is then empty).
 */
int ctl_mesh_build(struct ctl_mesh *m, json_object *nodes_doc, json_object *mesh_doc, char *why,
                   size_t size) __attribute__((warn_unused_result));

/* True when every cell off the diagonal is "ok" (vacuously for fewer than two nodes). */
bool ctl_mesh_all_ok(const struct ctl_mesh *m);

/*
 * Prints the matrix and a legend of the cell texts it uses (abbreviation, cause
 * identifier, meaning) to out. "-" marks the diagonal, "." a pair without an observation.
 * 0, or -1 when out of memory.
 */
int ctl_mesh_render(const struct ctl_mesh *m, FILE *out) __attribute__((warn_unused_result));

#endif
