#ifndef KMA_COORD_STORE_PRIV_H
#define KMA_COORD_STORE_PRIV_H

/* For the store's own modules (store_plan.c): the SQLite handle behind a struct store. */

#include <sqlite3.h>

#include "store.h"

sqlite3 *store_sqlite(struct store *st);

/*
 * The statement for sql, prepared on first use and kept until store_close, reset and with
 * its bindings cleared; NULL (logged) when it does not prepare. sql must stay valid as long
 * as the store (a string literal). The caller resets it after use (a statement left
 * stepping holds a read transaction open) and never finalises it; one use at a time.
 */
sqlite3_stmt *store_prepare_cached(struct store *st, const char *sql);

/*
 * Takes (and store_write_leave gives back) this process's turn to write, so its threads
 * queue here instead of in SQLite's busy handler. Nests per store; every enter is left.
 */
void store_write_enter(struct store *st);
void store_write_leave(struct store *st);

/*
 * Steps s to its end, growing *arr (of elem bytes per row) and calling fill for each row;
 * resets s. The array (*count rows) is the caller's on STORE_OK; freed otherwise (logged
 * with what).
 */
enum store_status store_collect(struct store *st, sqlite3_stmt *s, size_t elem, void **arr,
                                size_t *count, void (*fill)(sqlite3_stmt *, void *),
                                const char *what) __attribute__((warn_unused_result));

#endif
