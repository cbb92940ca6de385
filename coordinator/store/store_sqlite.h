#ifndef KMA_COORD_STORE_SQLITE_H
#define KMA_COORD_STORE_SQLITE_H

/*
 * The SQLite backend of the store (store_backend.h): its modules (store_sqlite.c: nodes,
 * enrolment, tokens, reports, observations; store_sqlite_facts.c: what reports say of their
 * node; store_sqlite_plan.c: plans, steps, the journal,
 * the lease) share its handle, a struct sqlstore whose first member is the struct store
 * the core holds.
 */

#include <sqlite3.h>

#include "store_backend.h"
#include "store_plan.h"

struct sqlstore;

/* The backend's handle behind the core's. */
static inline struct sqlstore *sq(struct store *base)
{
	return (struct sqlstore *)base;
}

/* The core's handle of the backend's (the first member of struct sqlstore). */
static inline struct store *sq_base(struct sqlstore *st)
{
	return (struct store *)st;
}

/* The SQLite handle behind the backend's handle. */
sqlite3 *sq_db(struct sqlstore *st);

/* Opens the SQLite file at path (store_open's contract, store.h). */
enum store_status store_sqlite_open(const char *path, struct store **out)
    __attribute__((warn_unused_result));

/* The schema version this build writes (older files are migrated to it when opened). */
int store_schema_version(void);

/* The SQLite handle behind a store of this backend (its tests reach under the interface). */
sqlite3 *store_sqlite(struct store *st);

/*
 * The statement for sql, prepared on first use and kept until store_close, reset and with
 * its bindings cleared; NULL (logged) when it does not prepare. sql must stay valid as long
 * as the store (a string literal). The caller resets it after use (a statement left
 * stepping holds a read transaction open) and never finalises it; one use at a time.
 */
sqlite3_stmt *store_prepare_cached(struct sqlstore *st, const char *sql);

/* Logs what failed with SQLite's message; STORE_ERROR. */
enum store_status sq_fail(struct sqlstore *st, const char *what);

/*
 * Steps s, a statement that returns no rows, and resets it; STORE_ERROR (logged with what)
 * when it fails or s is NULL (store_prepare_cached failed).
 */
enum store_status sq_done(struct sqlstore *st, sqlite3_stmt *s, const char *what);

/* Column c of s's current row as text into buf ("" for NULL), cut to size. */
void sq_col(sqlite3_stmt *s, int c, char *buf, size_t size);

/*
 * Takes (and store_write_leave gives back) this process's turn to write, so its threads
 * queue here instead of in SQLite's busy handler. Nests per store; every enter is left.
 */
void store_write_enter(struct sqlstore *st);
void store_write_leave(struct sqlstore *st);

/*
 * Steps s to its end, growing *arr (of elem bytes per row) and calling fill for each row;
 * resets s. The array (*count rows) is the caller's on STORE_OK; freed otherwise (logged
 * with what).
 */
enum store_status store_collect(struct sqlstore *st, sqlite3_stmt *s, size_t elem, void **arr,
                                size_t *count, void (*fill)(sqlite3_stmt *, void *),
                                const char *what) __attribute__((warn_unused_result));

/*
 * A node's facts (store_sqlite_facts.c): sq_facts_put stores f (NULL: none) in the
 * caller's transaction, sq_facts_delete removes them, sq_facts_get is store_facts_get.
 */
enum store_status sq_facts_put(struct sqlstore *st, const char *node_id,
                               const struct store_facts *f) __attribute__((warn_unused_result));
enum store_status sq_facts_delete(struct sqlstore *st, const char *node_id)
    __attribute__((warn_unused_result));
enum store_status sq_facts_get(struct store *base, const char *node_id, struct store_facts *out);

/* store_plan.h's operations, in store_sqlite_plan.c (for the table in store_sqlite.c). */
enum store_status sq_tx_begin(struct store *base);
enum store_status sq_tx_end(struct store *base, bool ok);
enum store_status sq_plan_create(struct store *base, struct store_step *steps, size_t n,
                                 const char *who, int64_t now, int64_t *id);
enum store_status sq_plan_latest(struct store *base, struct store_plan *plan,
                                 struct store_step **steps, size_t *n);
enum store_status sq_plan_set_state(struct store *base, int64_t id, enum kma_plan_state state,
                                    const char *detail, int64_t now);
enum store_status sq_step_put(struct store *base, const struct store_step *s);
enum store_status sq_journal_add(struct store *base, int64_t plan_id, int step, const char *actor,
                                 const char *event, const char *detail, int64_t now);
enum store_status sq_journal_list(struct store *base, int64_t plan_id,
                                  struct store_journal_entry **out, size_t *n);
enum store_status sq_lease_take(struct store *base, const char *node_id, int64_t plan_id, int step,
                                const char *why, int64_t ttl, int64_t now, struct store_lease *out);
enum store_status sq_lease_get(struct store *base, int64_t now, struct store_lease *out);
enum store_status sq_lease_release(struct store *base);
enum store_status sq_directive_for(struct store *base, const char *node_id, struct store_step *step,
                                   struct store_lease *lease);
bool sq_plan_unfinished(struct store *base);
enum store_status sq_plan_token(struct store *base, int64_t plan_id, const char *node_id, char *buf,
                                size_t size);

#endif
