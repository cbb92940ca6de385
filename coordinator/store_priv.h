#ifndef KMA_COORD_STORE_PRIV_H
#define KMA_COORD_STORE_PRIV_H

/* For the store's own modules (store_plan.c): the SQLite handle behind a struct store. */

#include <sqlite3.h>

#include "store.h"

sqlite3 *store_sqlite(struct store *st);

#endif
