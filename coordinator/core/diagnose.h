#ifndef KMA_COORD_DIAGNOSE_H
#define KMA_COORD_DIAGNOSE_H

/*
 * The mesh diagnosis (coordinator/core/diag.h) over what the store holds: the snapshot it runs
 * over and its findings (apijson.h makes GET /v1/diagnosis of them).
 */

#include <stdint.h>
#include <sys/types.h>

#include "diag.h"
#include "store.h"

/*
 * What node n said about itself in its last report (state, certificate, key service,
 * listen queues: the listening ones, up to DIAG_LISTENQ_MAX) into s, from f, its facts
 * (NULL: unknown).
 */
void diagnose_self_from_facts(const struct store_node *n, const struct store_facts *f,
                              struct diag_self *s);

/* diagnose_self_from_facts with the facts the store has of n. */
void diagnose_self_load(struct store *st, const struct store_node *n, struct diag_self *s);

#define DIAGNOSE_CA_MAX 8

/*
 * The subjects of the cluster CA's certificates, which tell a chain the nodes should trust
 * from a foreign one (diag.h). Set once at start, before any diagnosis runs.
 */
void diagnose_set_cluster_ca(const char (*subjects)[DIAG_DN_MAX], size_t n);

/* Sets in's cluster CA subjects to those of diagnose_set_cluster_ca. */
void diagnose_input_ca(struct diag_input *in);

/* What the diagnosis runs over, read from the store; `in` points into the rest. */
struct diagnose_snapshot {
	struct store_node *nodes;
	struct diag_self *self;
	struct store_observation *obs;
	struct store_attempt *attempts;
	struct diag_input in;
};

/* Reads the snapshot (diagnose_snapshot_free); 0, or -1 (logged). */
int diagnose_snapshot_load(struct store *st, int64_t now, int64_t stale_after,
                           struct diagnose_snapshot *s) __attribute__((warn_unused_result));
void diagnose_snapshot_free(struct diagnose_snapshot *s);

#define DIAGNOSE_FINDINGS_MAX 64

/* The findings over what the store holds (up to max, into f): how many, or -1 (logged). */
ssize_t diagnose_run(struct store *st, int64_t now, int64_t stale_after, struct diag_finding *f,
                     size_t max);

#endif
