#ifndef KMA_COORD_STORE_REPLICA_H
#define KMA_COORD_STORE_REPLICA_H

/*
 * The etcd store: the durable state lives in etcd; the active coordinator keeps a replica of
 * it in its SQLite file (store_sqlite.h), rebuilt from etcd when it takes over, and reads
 * only that. Every transaction that changes a durable table (nodes, enrolments, tokens,
 * plans, steps, the journal, the lease, meta) is written to etcd before it commits here,
 * as one etcd transaction that holds only while this instance's leader key is the one it
 * created (its create revision): a deposed instance can never write. Reports, observations
 * and their facts, refused attempts and counters stay in the replica only: agents send
 * them again to whichever instance is active.
 *
 * Keys: <prefix>t/<table>/<rowid, 20 digits> -> a JSON object of the row's columns (a blob
 * as {"b64": "..."}); <prefix>schema -> the schema version that wrote them.
 */

#include <stdint.h>

#include "etcd.h"
#include "store.h"

/*
 * Rebuilds the SQLite file at path (removed first, with its WAL) from the rows under
 * prefix in etcd. STORE_ERROR (logged) when etcd cannot be read, a row does not decode, or
 * etcd holds rows of a newer schema than this build's.
 */
enum store_status store_replica_load(struct etcd *e, const char *prefix, const char *path)
    __attribute__((warn_unused_result));

/*
 * From now on, the stores store_open opens write their durable changes through to etcd
 * (e, which the replica alone then uses), fenced by leader_key having been created at
 * revision leader_rev. When a write is refused (the fence) or its outcome is unknown (no
 * endpoint answered), the transaction is rolled back here and deposed is called with why:
 * this instance's replica can no longer be trusted and it must stop being active.
 */
void store_replica_start(struct etcd *e, const char *prefix, const char *leader_key,
                         int64_t leader_rev, void (*deposed)(const char *why));

/* Whether store_replica_start was called (store_open then attaches the replica). */
bool store_replica_on(void);

/*
 * Whether this build has the etcd store: it needs SQLite's preupdate hook
 * (SQLITE_ENABLE_PREUPDATE_HOOK), which Debian's SQLite has and an image's may not.
 */
bool store_replica_available(void);

/* Installs the write-through on a SQLite store's handle (store_open calls it); false when
 * this build has no etcd store (store_replica_available). */
bool store_replica_attach(struct store *st) __attribute__((warn_unused_result));

/* Writes of durable rows sent to etcd since start, and the etcd transactions they took. */
void store_replica_counts(uint64_t *rows, uint64_t *txns);

#endif
