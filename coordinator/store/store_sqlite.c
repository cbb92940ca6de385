#include "store_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "obs_cache.h"

/* The schema this build writes; older files are migrated forward in store_open. */
#define SCHEMA_VERSION 10

static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS nodes ("
    " node_id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT '',"
    " address TEXT NOT NULL DEFAULT '', enrolled_serial TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS enrolments ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, node_id TEXT NOT NULL, serial TEXT NOT NULL,"
    " at INTEGER NOT NULL, how TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS enrolments_node ON enrolments(node_id);"
    "CREATE TABLE IF NOT EXISTS reports ("
    " node_id TEXT PRIMARY KEY NOT NULL, sequence INTEGER NOT NULL,"
    " received_at INTEGER NOT NULL, state TEXT NOT NULL, body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS observations ("
    " node_id TEXT NOT NULL, peer_id TEXT NOT NULL, direction TEXT NOT NULL,"
    " cause TEXT NOT NULL, alert_sent INTEGER NOT NULL, alert_received INTEGER NOT NULL,"
    " peer_serial TEXT NOT NULL, expected_serial TEXT NOT NULL, at INTEGER NOT NULL,"
    " detail TEXT NOT NULL, PRIMARY KEY (node_id, peer_id, direction));"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('peer_table_version', '0');"
    "CREATE TABLE IF NOT EXISTS rejects ("
    " status INTEGER PRIMARY KEY NOT NULL, count INTEGER NOT NULL);";

/* v2: enrolment tokens, by the SHA-256 of the token (the token itself is never stored). */
static const char schema_v2[] = "CREATE TABLE IF NOT EXISTS tokens ("
                                " token_sha256 TEXT PRIMARY KEY NOT NULL, node_id TEXT NOT NULL,"
                                " expires_at INTEGER NOT NULL, used_at INTEGER);"
                                "CREATE INDEX IF NOT EXISTS tokens_node ON tokens(node_id);";

/* v3: recovery plans, their steps, the disruption lease and the append-only journal. */
static const char schema_v3[] =
    "CREATE TABLE IF NOT EXISTS plans ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, state TEXT NOT NULL, created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, detail TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS steps ("
    " plan_id INTEGER NOT NULL REFERENCES plans(id), idx INTEGER NOT NULL,"
    " kind TEXT NOT NULL, node_id TEXT NOT NULL, reason TEXT NOT NULL,"
    " manual INTEGER NOT NULL, instruction TEXT NOT NULL, state TEXT NOT NULL,"
    " phase TEXT NOT NULL, started_at INTEGER NOT NULL, phase_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL, stable_since INTEGER NOT NULL, detail TEXT NOT NULL,"
    " directive_id TEXT NOT NULL, fencing INTEGER NOT NULL, boot_before TEXT NOT NULL,"
    " table_version INTEGER NOT NULL, secret TEXT NOT NULL, confirmed_by TEXT NOT NULL,"
    " PRIMARY KEY (plan_id, idx));"
    "CREATE TABLE IF NOT EXISTS lease ("
    " one INTEGER PRIMARY KEY CHECK (one = 1), id TEXT NOT NULL, node_id TEXT NOT NULL,"
    " plan_id INTEGER NOT NULL, step INTEGER NOT NULL, fencing INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL, why TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('fencing_token', '0');"
    "CREATE TABLE IF NOT EXISTS journal ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, plan_id INTEGER NOT NULL,"
    " step INTEGER NOT NULL, actor TEXT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS journal_plan ON journal(plan_id);"
    "CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal"
    " BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal"
    " BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;";

/* v4: the node ID the peer's certificate named (evidence of a wrong identity). */
static const char schema_v4[] =
    "ALTER TABLE observations ADD COLUMN peer_node_id TEXT NOT NULL DEFAULT '';";

/*
 * v5: which incarnation of an agent the last report came from and which it replaced
 * (reports never go back), the serial a running rejoin accepts reports from, the
 * certificates refused as a node's (evidence), and what justifies each step.
 */
static const char schema_v5[] =
    "ALTER TABLE nodes ADD COLUMN pending_serial TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE reports ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE reports ADD COLUMN instance INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE reports ADD COLUMN retired TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE IF NOT EXISTS attempts ("
    " node_id TEXT NOT NULL, serial TEXT NOT NULL, address TEXT NOT NULL,"
    " known INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,"
    " count INTEGER NOT NULL, PRIMARY KEY (node_id, serial));"
    "ALTER TABLE steps ADD COLUMN predicate TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE steps ADD COLUMN pred_kind TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE steps ADD COLUMN pred_serial TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE steps ADD COLUMN pred_name TEXT NOT NULL DEFAULT '';";

/*
 * v6: the facts of the certificate a peer presented, which tell whose fault a failure is:
 * who issued it, its validity, and the address the observer dialled.
 */
static const char schema_v6[] =
    "ALTER TABLE observations ADD COLUMN peer_issuer TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE observations ADD COLUMN peer_not_before INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE observations ADD COLUMN peer_not_after INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE observations ADD COLUMN peer_address TEXT NOT NULL DEFAULT '';";

/* v7: where the last report came from (a refused certificate from there is the node's own). */
static const char schema_v7[] = "ALTER TABLE reports ADD COLUMN address TEXT NOT NULL DEFAULT '';";
/* v8: observations of peers that are not nodes are no longer kept (S_OBS_UPSERT). */
static const char schema_v8[] = "DELETE FROM observations WHERE peer_id = node_id"
                                " OR peer_id NOT IN (SELECT node_id FROM nodes);";
/*
 * v9: the certificate a used token was redeemed for, sent again to a node whose answer to
 * the enrolment was lost (store_token_issued).
 */
static const char schema_v9[] =
    "ALTER TABLE tokens ADD COLUMN issued_serial TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN issued_cert BLOB NOT NULL DEFAULT x'';";

/*
 * v10: what a report says of its node, in typed rows (store_sqlite_facts.c) instead of the
 * report's protobuf body (no longer written). A report stored before has no facts until its
 * node reports again: store_facts_get answers STORE_NOT_FOUND meanwhile.
 */
static const char schema_v10[] =
    "CREATE TABLE IF NOT EXISTS facts ("
    " node_id TEXT PRIMARY KEY NOT NULL, boot_id TEXT NOT NULL, has_cert INTEGER NOT NULL,"
    " cert_serial TEXT NOT NULL, cert_not_after INTEGER NOT NULL,"
    " health_known INTEGER NOT NULL, healthy INTEGER NOT NULL, health_detail TEXT NOT NULL,"
    " health_checked_at INTEGER NOT NULL, kmip_known INTEGER NOT NULL,"
    " kmip_endpoint TEXT NOT NULL, kmip_operation TEXT NOT NULL, kmip_result TEXT NOT NULL,"
    " kmip_cause TEXT NOT NULL, kmip_latency_ms INTEGER NOT NULL,"
    " kmip_handshake_ms INTEGER NOT NULL, kmip_cipher_suite TEXT NOT NULL,"
    " kmip_result_status TEXT NOT NULL, kmip_result_reason TEXT NOT NULL,"
    " kmip_answer TEXT NOT NULL, kmip_detail TEXT NOT NULL, kmip_checked_at INTEGER NOT NULL,"
    " parts_changed INTEGER NOT NULL, table_version INTEGER NOT NULL,"
    " last_directive TEXT NOT NULL, last_ok INTEGER NOT NULL, last_detail TEXT NOT NULL,"
    " last_done_at INTEGER NOT NULL, fencing INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS fact_queues ("
    " node_id TEXT NOT NULL, idx INTEGER NOT NULL, port INTEGER NOT NULL, role TEXT NOT NULL,"
    " key_service INTEGER NOT NULL, listening INTEGER NOT NULL, queued INTEGER NOT NULL,"
    " backlog INTEGER NOT NULL, dropped_recently INTEGER NOT NULL,"
    " window_s INTEGER NOT NULL, PRIMARY KEY (node_id, idx));"
    "CREATE TABLE IF NOT EXISTS fact_modes ("
    " node_id TEXT NOT NULL, kind TEXT NOT NULL, manual INTEGER NOT NULL,"
    " instruction TEXT NOT NULL, PRIMARY KEY (node_id, kind));"
    "UPDATE reports SET body = x'';";

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_NODE_INSERT,
	S_NODE_EXISTS,
	S_NODE_DELETE,
	S_NODE_SET_SERIAL,
	S_NODE_GET,
	S_NODES_LIST,
	S_NODE_SET_PENDING,
	S_REPORT_GATE,
	S_ATTEMPT_PUT,
	S_ATTEMPT_TRIM,
	S_ATTEMPTS_LIST,
	S_ATTEMPTS_FORGET,
	S_ENROL_INSERT,
	S_ENROL_LIST,
	S_REVOKED_LIST,
	S_VERSION_GET,
	S_VERSION_BUMP,
	S_REPORT_UPSERT,
	S_REPORT_DELETE,
	S_OBS_UPSERT,
	S_OBS_OF_NODE,
	S_OBS_UPDATE,
	S_OBS_DELETE_NODE,
	S_OBS_LIST,
	S_REJECT_INC,
	S_REJECT_GET,
	S_TOKEN_INSERT,
	S_TOKEN_DELETE_UNUSED,
	S_TOKEN_DELETE_NODE,
	S_TOKEN_GET,
	S_TOKEN_USE,
	S_TOKEN_ISSUED,
	S_SYNC_NORMAL,
	S_SYNC_FULL,
	S_DATA_VERSION,
	S_COUNT
};

#define NODE_COLUMNS                                                                               \
	"SELECT n.node_id, n.name, n.address, n.enrolled_serial, n.created_at, r.sequence,"        \
	" r.received_at, r.state, n.pending_serial, r.boot_id, r.address FROM nodes n"             \
	" LEFT JOIN reports r ON r.node_id = n.node_id"

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_NODE_INSERT] = "INSERT INTO nodes(node_id, name, address, enrolled_serial, created_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_NODE_EXISTS] = "SELECT 1 FROM nodes WHERE node_id = ?1",
    [S_NODE_DELETE] = "DELETE FROM nodes WHERE node_id = ?1",
    /* Enrolling a serial ends what a rejoin accepted meanwhile; removing one does not. */
    [S_NODE_SET_SERIAL] = "UPDATE nodes SET enrolled_serial = ?2, pending_serial ="
                          " CASE WHEN ?2 = '' THEN pending_serial ELSE '' END WHERE node_id = ?1",
    [S_NODE_GET] = NODE_COLUMNS " WHERE n.node_id = ?1",
    [S_NODES_LIST] = NODE_COLUMNS " ORDER BY n.node_id",
    [S_NODE_SET_PENDING] = "UPDATE nodes SET pending_serial = ?2 WHERE node_id = ?1",
    [S_REPORT_GATE] = "SELECT n.enrolled_serial, n.pending_serial, r.sequence, r.boot_id,"
                      " r.instance, r.retired FROM nodes n LEFT JOIN reports r"
                      " ON r.node_id = n.node_id WHERE n.node_id = ?1",
    [S_ATTEMPT_PUT] = "INSERT INTO attempts(node_id, serial, address, known, first_at, last_at,"
                      " count) VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1)"
                      " ON CONFLICT(node_id, serial) DO UPDATE SET address = excluded.address,"
                      " known = excluded.known, last_at = excluded.last_at, count = count + 1",
    /* The newest STORE_ATTEMPTS_MAX are kept: a bound on what certificates can make us store. */
    [S_ATTEMPT_TRIM] = "DELETE FROM attempts WHERE rowid NOT IN (SELECT rowid FROM attempts"
                       " ORDER BY last_at DESC LIMIT ?1)",
    [S_ATTEMPTS_LIST] = "SELECT node_id, serial, address, known, first_at, last_at, count"
                        " FROM attempts ORDER BY node_id, last_at DESC",
    /* A new serial enrolled: what was refused as the node's is settled (or comes again). */
    [S_ATTEMPTS_FORGET] = "DELETE FROM attempts WHERE node_id = ?1 AND ?2 != ''",
    [S_ENROL_INSERT] = "INSERT INTO enrolments(node_id, serial, at, how) VALUES (?1, ?2, ?3, ?4)",
    [S_ENROL_LIST] = "SELECT serial, at, how FROM enrolments WHERE node_id = ?1 ORDER BY id",
    /*
     * A tenure of a serial ends at its node's next history entry; the serial's revocation is
     * the end of its last tenure. The IN list is built once per query (an ephemeral index).
     */
    [S_REVOKED_LIST] = "SELECT e.serial, MAX(COALESCE((SELECT MIN(l.at) FROM enrolments l"
                       " WHERE l.node_id = e.node_id AND l.id > e.id), e.at)) AS revoked_at"
                       " FROM enrolments e WHERE e.serial != '' AND e.serial NOT IN"
                       " (SELECT enrolled_serial FROM nodes UNION SELECT pending_serial FROM nodes)"
                       " GROUP BY e.serial ORDER BY revoked_at DESC, e.serial LIMIT ?1",
    [S_VERSION_GET] = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'peer_table_version'",
    [S_VERSION_BUMP] = "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                       " WHERE key = 'peer_table_version'",
    /*
     * An update in place, not a REPLACE (a delete and an insert): SQLite then rewrites only
     * the pages whose bytes differ, and a report differs from the last mostly at its end.
     */
    [S_REPORT_UPSERT] = "INSERT INTO reports(node_id, sequence, received_at, state, body,"
                        " boot_id, instance, retired, address)"
                        " VALUES (?1, ?2, ?3, ?4, x'', ?6, ?7, ?8, ?9)"
                        " ON CONFLICT(node_id) DO UPDATE SET"
                        " sequence = excluded.sequence, received_at = excluded.received_at,"
                        " state = excluded.state,"
                        " boot_id = excluded.boot_id, instance = excluded.instance,"
                        " retired = excluded.retired, address = excluded.address",
    [S_REPORT_DELETE] = "DELETE FROM reports WHERE node_id = ?1",
    /*
     * An observation that did not change is not written again (most of a report). Only
     * observations of the cluster's other nodes are kept: a report cannot add rows about
     * peers that do not exist (at most nodes x directions rows per node).
     */
    [S_OBS_UPSERT] =
        "INSERT INTO observations(node_id, peer_id, direction, cause, alert_sent,"
        " alert_received, peer_serial, expected_serial, at, detail, peer_node_id, peer_issuer,"
        " peer_not_before, peer_not_after, peer_address)"
        " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15"
        " WHERE ?2 != ?1 AND EXISTS (SELECT 1 FROM nodes WHERE node_id = ?2)"
        " ON CONFLICT(node_id, peer_id, direction) DO UPDATE SET cause = excluded.cause,"
        " alert_sent = excluded.alert_sent, alert_received = excluded.alert_received,"
        " peer_serial = excluded.peer_serial, expected_serial = excluded.expected_serial,"
        " at = excluded.at, detail = excluded.detail, peer_node_id = excluded.peer_node_id,"
        " peer_issuer = excluded.peer_issuer, peer_not_before = excluded.peer_not_before,"
        " peer_not_after = excluded.peer_not_after, peer_address = excluded.peer_address"
        " WHERE (cause, alert_sent, alert_received, peer_serial, expected_serial, at, detail,"
        " peer_node_id, peer_issuer, peer_not_before, peer_not_after, peer_address) IS NOT"
        " (excluded.cause, excluded.alert_sent, excluded.alert_received,"
        " excluded.peer_serial, excluded.expected_serial, excluded.at, excluded.detail,"
        " excluded.peer_node_id, excluded.peer_issuer, excluded.peer_not_before,"
        " excluded.peer_not_after, excluded.peer_address)",
    /* A node's stored observations, read in one pass to find which of a report's differ. */
    [S_OBS_OF_NODE] = "SELECT rowid, peer_id, direction, cause, alert_sent, alert_received,"
                      " peer_serial, expected_serial, at, detail, peer_node_id, peer_issuer,"
                      " peer_not_before, peer_not_after, peer_address FROM observations"
                      " WHERE node_id = ?1",
    [S_OBS_UPDATE] = "UPDATE observations SET cause = ?2, alert_sent = ?3, alert_received = ?4,"
                     " peer_serial = ?5, expected_serial = ?6, at = ?7, detail = ?8,"
                     " peer_node_id = ?9, peer_issuer = ?10, peer_not_before = ?11,"
                     " peer_not_after = ?12, peer_address = ?13 WHERE rowid = ?1",
    [S_OBS_DELETE_NODE] = "DELETE FROM observations WHERE node_id = ?1 OR peer_id = ?1",
    [S_OBS_LIST] = "SELECT node_id, peer_id, direction, cause, alert_sent, alert_received,"
                   " peer_serial, expected_serial, at, detail, peer_node_id, peer_issuer,"
                   " peer_not_before, peer_not_after, peer_address FROM observations"
                   " ORDER BY node_id, peer_id, direction",
    [S_REJECT_INC] = "INSERT INTO rejects(status, count) VALUES (?1, ?2)"
                     " ON CONFLICT(status) DO UPDATE SET count = count + ?2",
    [S_REJECT_GET] = "SELECT count FROM rejects WHERE status = ?1",
    [S_TOKEN_INSERT] = "INSERT OR REPLACE INTO tokens(token_sha256, node_id, expires_at, used_at)"
                       " VALUES (?1, ?2, ?3, NULL)",
    [S_TOKEN_DELETE_UNUSED] = "DELETE FROM tokens WHERE node_id = ?1 AND used_at IS NULL",
    [S_TOKEN_DELETE_NODE] = "DELETE FROM tokens WHERE node_id = ?1",
    [S_TOKEN_GET] = "SELECT t.node_id, t.expires_at, t.used_at IS NOT NULL FROM tokens t"
                    " JOIN nodes n ON n.node_id = t.node_id WHERE t.token_sha256 = ?1",
    [S_TOKEN_USE] = "UPDATE tokens SET used_at = ?2, issued_serial = ?3, issued_cert = ?4"
                    " WHERE token_sha256 = ?1 AND used_at IS NULL",
    /* Only while the token would still be valid and its certificate is still the node's. */
    [S_TOKEN_ISSUED] = "SELECT t.issued_serial, t.issued_cert FROM tokens t"
                       " JOIN nodes n ON n.node_id = t.node_id WHERE t.token_sha256 = ?1"
                       " AND t.node_id = ?2 AND t.used_at IS NOT NULL AND t.expires_at > ?3"
                       " AND t.issued_serial != '' AND t.issued_serial = n.enrolled_serial"
                       " AND length(t.issued_cert) > 0",
    [S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [S_SYNC_FULL] = "PRAGMA synchronous = FULL",
    /* Changes when another connection commits (never for this one's own commits). */
    [S_DATA_VERSION] = "PRAGMA data_version",
};

/* Room for every statement store_plan.c prepares (about twenty). */
#define CACHED_MAX 48

struct sqlstore {
	struct store base; /* first: the core's handle (store_backend.h) */
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	/* store_prepare_cached: prepared once, by their SQL text */
	struct {
		const char *sql;
		sqlite3_stmt *s;
	} cached[CACHED_MAX];
	size_t n_cached;
	unsigned writing; /* store_write_enter nesting */
	bool batch;       /* between store_reports_begin and its end */
	unsigned stored;  /* reports the batch has stored */
	/*
	 * The stored observations, as this handle last wrote or read them (obs_put), while
	 * data_version says no other connection has committed since.
	 */
	struct obs_cache *seen;
	sqlite3_int64 seen_version;
};

/*
 * Writers of this process take turns here rather than in SQLite, whose busy handler
 * sleeps a millisecond or more when its write lock is taken: the coordinator's request
 * threads each have a handle on one file. Other processes still meet the busy timeout.
 */
static const struct store_ops sqlite_ops;
static void sq_close(struct store *base);

static pthread_mutex_t write_turn = PTHREAD_MUTEX_INITIALIZER;

void store_write_enter(struct sqlstore *st)
{
	if (st->writing++ == 0)
		pthread_mutex_lock(&write_turn);
}

void store_write_leave(struct sqlstore *st)
{
	if (st->writing > 0 && --st->writing == 0)
		pthread_mutex_unlock(&write_turn);
}

enum store_status sq_fail(struct sqlstore *st, const char *what)
{
	log_err("store: %s: %s", what, sqlite3_errmsg(st->db));
	return STORE_ERROR;
}

enum store_status sq_done(struct sqlstore *st, sqlite3_stmt *s, const char *what)
{
	int rc;

	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? STORE_OK : sq_fail(st, what);
}

/* Resets and clears a statement for its next use. */
static sqlite3_stmt *stmt_get(struct sqlstore *st, enum stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Runs a statement that returns no rows. */
static enum store_status run(struct sqlstore *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_fail(st, what);
	return STORE_OK;
}

/* A write transaction; on STORE_OK, tx_commit or tx_rollback ends it. */
static enum store_status tx_begin(struct sqlstore *st)
{
	store_write_enter(st);
	if (run(st, stmt_get(st, S_BEGIN), "begin") == STORE_OK)
		return STORE_OK;
	store_write_leave(st);
	return STORE_ERROR;
}

/* On failure the transaction stays open for tx_rollback. */
static enum store_status tx_commit(struct sqlstore *st)
{
	if (run(st, stmt_get(st, S_COMMIT), "commit") != STORE_OK)
		return STORE_ERROR;
	/* Deleted a node, say: the cache speaks only for reports' writes (store_reports_begin). */
	if (!st->batch)
		obs_cache_clear(st->seen);
	store_write_leave(st);
	return STORE_OK;
}

static void tx_rollback(struct sqlstore *st)
{
	if (!sqlite3_get_autocommit(st->db) &&
	    run(st, stmt_get(st, S_ROLLBACK), "rollback") != STORE_OK)
		log_err("store: rollback failed; the transaction stays open");
	store_write_leave(st);
}

void sq_col(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

static void bind_text(sqlite3_stmt *s, int idx, const char *text)
{
	/* Binding never fails for a prepared statement with that index and static text. */
	(void)sqlite3_bind_text(s, idx, text, -1, SQLITE_TRANSIENT);
}

/* For text that outlives the statement's step (report_put clears it before returning). */
static void bind_static(sqlite3_stmt *s, int idx, const char *text)
{
	(void)sqlite3_bind_text(s, idx, text, -1, SQLITE_STATIC);
}

static enum store_status exec(struct sqlstore *st, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("store: %s: %s", what, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return STORE_ERROR;
	}
	return STORE_OK;
}

static enum store_status schema_migrate(struct sqlstore *st)
{
	enum store_status ret = STORE_ERROR;
	sqlite3_stmt *s = NULL;
	int version;

	if (exec(st, "BEGIN IMMEDIATE", "begin schema") != STORE_OK)
		return STORE_ERROR;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		sq_fail(st, "read schema version");
		goto exit;
	}
	version = sqlite3_column_int(s, 0);
	if (version > SCHEMA_VERSION) {
		log_err("store: schema version %d is newer than this build's %d", version,
		        SCHEMA_VERSION);
		goto exit;
	}
	/* Each step takes the schema from version N to N + 1; v1 is the first. */
	if (version < 1 && exec(st, schema_v1, "create schema v1") != STORE_OK)
		goto exit;
	if (version < 2 && exec(st, schema_v2, "migrate schema to v2") != STORE_OK)
		goto exit;
	if (version < 3 && exec(st, schema_v3, "migrate schema to v3") != STORE_OK)
		goto exit;
	if (version < 4 && exec(st, schema_v4, "migrate schema to v4") != STORE_OK)
		goto exit;
	if (version < 5 && exec(st, schema_v5, "migrate schema to v5") != STORE_OK)
		goto exit;
	if (version < 6 && exec(st, schema_v6, "migrate schema to v6") != STORE_OK)
		goto exit;
	if (version < 7 && exec(st, schema_v7, "migrate schema to v7") != STORE_OK)
		goto exit;
	if (version < 8 && exec(st, schema_v8, "migrate schema to v8") != STORE_OK)
		goto exit;
	if (version < 9 && exec(st, schema_v9, "migrate schema to v9") != STORE_OK)
		goto exit;
	if (version < 10 && exec(st, schema_v10, "migrate schema to v10") != STORE_OK)
		goto exit;
	if (version < SCHEMA_VERSION) {
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
		if (exec(st, sql, "set schema version") != STORE_OK)
			goto exit;
	}
	ret = STORE_OK;
exit:
	sqlite3_finalize(s);
	if (ret == STORE_OK)
		ret = exec(st, "COMMIT", "commit schema");
	if (ret != STORE_OK && !sqlite3_get_autocommit(st->db))
		(void)exec(st, "ROLLBACK", "rollback schema");
	return ret;
}

enum store_status store_sqlite_open(const char *path, struct store **out)
{
	enum store_status ret = STORE_ERROR;
	struct sqlstore *st;
	sqlite3_stmt *s = NULL;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st) {
		log_err("store: out of memory");
		return STORE_ERROR;
	}
	st->base.ops = &sqlite_ops;
	st->seen = obs_cache_new();
	if (!st->seen) {
		log_err("store: out of memory");
		goto exit;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		log_err("store: cannot open %s: %s", path,
		        st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto exit;
	}
	sqlite3_extended_result_codes(st->db, 1);
	if (sqlite3_busy_timeout(st->db, 5000) != SQLITE_OK)
		goto exit;
	/* journal_mode answers with the mode in effect: a file system without WAL says so. */
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		sq_fail(st, "set WAL mode");
		goto exit;
	}
	if (sqlite3_column_text(s, 0) == NULL ||
	    strcmp((const char *)sqlite3_column_text(s, 0), "wal") != 0) {
		log_err("store: %s: WAL mode refused", path);
		goto exit;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", "set pragmas") !=
	    STORE_OK)
		goto exit;
	if (schema_migrate(st) != STORE_OK)
		goto exit;
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &st->stmt[i], NULL) != SQLITE_OK) {
			sq_fail(st, stmt_sql[i]);
			goto exit;
		}
	}
	*out = &st->base;
	st = NULL;
	ret = STORE_OK;
exit:
	sqlite3_finalize(s);
	if (st)
		sq_close(&st->base);
	return ret;
}

sqlite3 *sq_db(struct sqlstore *st)
{
	return st->db;
}

int store_schema_version(void)
{
	return SCHEMA_VERSION;
}

sqlite3 *store_sqlite(struct store *st)
{
	return sq(st)->db;
}

static void sq_defer_checkpoints(struct store *base)
{
	struct sqlstore *st = sq(base);

	(void)sqlite3_wal_autocheckpoint(st->db, 0);
}

/*
 * The WAL is started over once it holds this many frames (32 MB of 4 KB pages): its file
 * keeps that size and its pages are written over, rather than new ones added.
 */
#define WAL_RESTART_FRAMES 8192

static enum store_status sq_checkpoint(struct store *base)
{
	struct sqlstore *st = sq(base);

	int rc, frames = 0;

	/* Alongside the writers: copies what the WAL holds now, holding no one up. */
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL);
	/*
	 * Past WAL_RESTART_FRAMES, again for what they added meanwhile, in this process's
	 * writers' turn: with no frame added now the checkpoint copies the whole WAL, and the
	 * next write starts the WAL over from its beginning. Racing a steady stream of reports
	 * it never caught up, and the WAL grew without end; in their turn every time, it held
	 * them up for milliseconds four times a second.
	 */
	if (rc == SQLITE_OK && frames > WAL_RESTART_FRAMES) {
		store_write_enter(st);
		rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		store_write_leave(st);
	}
	/* BUSY: another connection checkpoints at this moment; the next call catches up. */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return sq_fail(st, "checkpoint");
	return STORE_OK;
}

sqlite3_stmt *store_prepare_cached(struct sqlstore *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	for (size_t i = 0; i < st->n_cached; i++) {
		if (st->cached[i].sql == sql || strcmp(st->cached[i].sql, sql) == 0) {
			s = st->cached[i].s;
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return s;
		}
	}
	if (st->n_cached == CACHED_MAX) {
		log_err("store: more than %d cached statements: %s", CACHED_MAX, sql);
		return NULL;
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		sq_fail(st, sql);
		return NULL;
	}
	st->cached[st->n_cached].sql = sql;
	st->cached[st->n_cached].s = s;
	st->n_cached++;
	return s;
}

static void sq_close(struct store *base)
{
	struct sqlstore *st = sq(base);

	if (!st)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (size_t i = 0; i < st->n_cached; i++)
		sqlite3_finalize(st->cached[i].s);
	if (st->writing > 0) { /* closed inside a transaction: SQLite rolls it back */
		st->writing = 1;
		store_write_leave(st);
	}
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		log_err("store: close: %s", sqlite3_errmsg(st->db));
	obs_cache_free(st->seen);
	free(st);
}

static enum store_status node_exists(struct sqlstore *st, const char *node_id)
{
	sqlite3_stmt *s = stmt_get(st, S_NODE_EXISTS);
	int rc;

	bind_text(s, 1, node_id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return STORE_OK;
	if (rc == SQLITE_DONE)
		return STORE_NOT_FOUND;
	return sq_fail(st, "look up node");
}

static enum store_status version_bump(struct sqlstore *st)
{
	return run(st, stmt_get(st, S_VERSION_BUMP), "bump peer table version");
}

static enum store_status enrol_insert(struct sqlstore *st, const char *node_id, const char *serial,
                                      const char *how, int64_t now)
{
	sqlite3_stmt *s = stmt_get(st, S_ENROL_INSERT);

	bind_text(s, 1, node_id);
	bind_text(s, 2, serial);
	sqlite3_bind_int64(s, 3, now);
	bind_text(s, 4, how);
	return run(st, s, "record enrolment");
}

/* Replaces the node's unused tokens with token_sha256; inside a transaction. */
static enum store_status token_insert(struct sqlstore *st, const char *node_id,
                                      const char *token_sha256, int64_t expires_at)
{
	sqlite3_stmt *s = stmt_get(st, S_TOKEN_DELETE_UNUSED);

	bind_text(s, 1, node_id);
	if (run(st, s, "void unused tokens") != STORE_OK)
		return STORE_ERROR;
	s = stmt_get(st, S_TOKEN_INSERT);
	bind_text(s, 1, token_sha256);
	bind_text(s, 2, node_id);
	sqlite3_bind_int64(s, 3, expires_at);
	return run(st, s, "insert token");
}

/* store_node_add, with a token when token_sha256 is not NULL. */
static enum store_status node_add(struct sqlstore *st, const struct store_node *n, int64_t now,
                                  const char *token_sha256, int64_t expires_at)
{
	enum store_status ret = STORE_ERROR;
	sqlite3_stmt *s;

	if (tx_begin(st) != STORE_OK)
		return STORE_ERROR;
	ret = node_exists(st, n->node_id);
	if (ret == STORE_OK) {
		ret = STORE_EXISTS;
		goto exit;
	}
	if (ret != STORE_NOT_FOUND)
		goto exit;
	ret = STORE_ERROR;
	s = stmt_get(st, S_NODE_INSERT);
	bind_text(s, 1, n->node_id);
	bind_text(s, 2, n->name);
	bind_text(s, 3, n->address);
	bind_text(s, 4, n->enrolled_serial);
	sqlite3_bind_int64(s, 5, now);
	if (run(st, s, "insert node") != STORE_OK)
		goto exit;
	if (n->enrolled_serial[0] &&
	    enrol_insert(st, n->node_id, n->enrolled_serial, "add", now) != STORE_OK)
		goto exit;
	if (token_sha256 && token_insert(st, n->node_id, token_sha256, expires_at) != STORE_OK)
		goto exit;
	if (version_bump(st) != STORE_OK)
		goto exit;
	ret = tx_commit(st);
exit:
	if (ret != STORE_OK)
		tx_rollback(st);
	return ret;
}

static enum store_status sq_node_add(struct store *base, const struct store_node *n, int64_t now)
{
	struct sqlstore *st = sq(base);

	return node_add(st, n, now, NULL, 0);
}

static enum store_status sq_node_add_with_token(struct store *base, const struct store_node *n,
                                                int64_t now, const char *token_sha256,
                                                int64_t expires_at)
{
	struct sqlstore *st = sq(base);

	return node_add(st, n, now, token_sha256, expires_at);
}

static enum store_status sq_token_issue(struct store *base, const char *node_id,
                                        const char *token_sha256, int64_t expires_at)
{
	struct sqlstore *st = sq(base);

	enum store_status ret;

	if (tx_begin(st) != STORE_OK)
		return STORE_ERROR;
	ret = node_exists(st, node_id);
	if (ret != STORE_OK)
		goto exit;
	ret = token_insert(st, node_id, token_sha256, expires_at);
	if (ret != STORE_OK)
		goto exit;
	ret = tx_commit(st);
exit:
	if (ret != STORE_OK)
		tx_rollback(st);
	return ret;
}

/* The checks of store_token_check; the caller may hold a transaction. */
static enum store_status token_verdict(struct sqlstore *st, const char *token_sha256,
                                       const char *node_id, int64_t now)
{
	sqlite3_stmt *s = stmt_get(st, S_TOKEN_GET);
	enum store_status ret;
	int rc;

	bind_text(s, 1, token_sha256);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		ret = STORE_TOKEN_UNKNOWN;
	} else if (rc != SQLITE_ROW) {
		ret = sq_fail(st, "look up token");
	} else {
		const unsigned char *owner = sqlite3_column_text(s, 0);

		if (!owner || strcmp((const char *)owner, node_id) != 0)
			ret = STORE_TOKEN_OTHER_NODE;
		else if (sqlite3_column_int(s, 2))
			ret = STORE_TOKEN_USED;
		else if (sqlite3_column_int64(s, 1) <= now)
			ret = STORE_TOKEN_EXPIRED;
		else
			ret = STORE_OK;
	}
	sqlite3_reset(s);
	return ret;
}

static enum store_status sq_token_check(struct store *base, const char *token_sha256,
                                        const char *node_id, int64_t now)
{
	struct sqlstore *st = sq(base);

	return token_verdict(st, token_sha256, node_id, now);
}

/* The node's enrolled serial; a new one settles what was refused as the node's. */
static enum store_status serial_set(struct sqlstore *st, const char *node_id, const char *serial)
{
	sqlite3_stmt *s = stmt_get(st, S_NODE_SET_SERIAL);

	bind_text(s, 1, node_id);
	bind_text(s, 2, serial);
	if (run(st, s, "set serial") != STORE_OK)
		return STORE_ERROR;
	s = stmt_get(st, S_ATTEMPTS_FORGET);
	bind_text(s, 1, node_id);
	bind_text(s, 2, serial);
	return run(st, s, "forget refused certificates");
}

static enum store_status sq_token_redeem(struct store *base, const char *token_sha256,
                                         const char *node_id, const char *serial,
                                         const unsigned char *cert_der, size_t cert_len,
                                         int64_t now)
{
	struct sqlstore *st = sq(base);

	enum store_status ret;
	sqlite3_stmt *s;

	if (tx_begin(st) != STORE_OK)
		return STORE_ERROR;
	/* Checked again inside the write transaction: only one redeemer can pass. */
	ret = token_verdict(st, token_sha256, node_id, now);
	if (ret != STORE_OK)
		goto exit;
	ret = STORE_ERROR;
	s = stmt_get(st, S_TOKEN_USE);
	bind_text(s, 1, token_sha256);
	sqlite3_bind_int64(s, 2, now);
	bind_text(s, 3, cert_len ? serial : "");
	sqlite3_bind_blob64(s, 4, cert_len ? (const void *)cert_der : "", cert_len, SQLITE_STATIC);
	if (run(st, s, "mark token used") != STORE_OK)
		goto exit;
	if (serial_set(st, node_id, serial) != STORE_OK)
		goto exit;
	if (enrol_insert(st, node_id, serial, "quickstart", now) != STORE_OK)
		goto exit;
	if (version_bump(st) != STORE_OK)
		goto exit;
	ret = tx_commit(st);
exit:
	if (ret != STORE_OK)
		tx_rollback(st);
	return ret;
}

static enum store_status sq_token_issued(struct store *base, const char *token_sha256,
                                         const char *node_id, int64_t now, char *serial,
                                         unsigned char **der, size_t *len)
{
	struct sqlstore *st = sq(base);
	sqlite3_stmt *s = stmt_get(st, S_TOKEN_ISSUED);
	enum store_status ret = STORE_ERROR;
	const unsigned char *text;
	const void *blob;
	int rc, n;

	*der = NULL;
	*len = 0;
	serial[0] = '\0';
	bind_text(s, 1, token_sha256);
	bind_text(s, 2, node_id);
	sqlite3_bind_int64(s, 3, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		ret = STORE_NOT_FOUND;
		goto exit;
	}
	if (rc != SQLITE_ROW) {
		ret = sq_fail(st, "look up a used token's certificate");
		goto exit;
	}
	text = sqlite3_column_text(s, 0);
	blob = sqlite3_column_blob(s, 1);
	n = sqlite3_column_bytes(s, 1);
	if (!text || !blob || n <= 0)
		goto exit;
	*der = malloc((size_t)n);
	if (!*der)
		goto exit;
	memcpy(*der, blob, (size_t)n);
	*len = (size_t)n;
	snprintf(serial, STORE_SERIAL_MAX, "%s", (const char *)text);
	ret = STORE_OK;
exit:
	sqlite3_reset(s);
	return ret;
}

static enum store_status sq_node_delete(struct store *base, const char *node_id)
{
	struct sqlstore *st = sq(base);

	static const enum stmt_id deletes[] = {S_OBS_DELETE_NODE, S_REPORT_DELETE,
	                                       S_TOKEN_DELETE_NODE, S_NODE_DELETE};
	enum store_status ret;

	if (tx_begin(st) != STORE_OK)
		return STORE_ERROR;
	ret = node_exists(st, node_id);
	if (ret != STORE_OK)
		goto exit;
	ret = STORE_ERROR;
	for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++) {
		sqlite3_stmt *s = stmt_get(st, deletes[i]);

		bind_text(s, 1, node_id);
		if (run(st, s, "delete node") != STORE_OK)
			goto exit;
	}
	if (sq_facts_delete(st, node_id) != STORE_OK || version_bump(st) != STORE_OK)
		goto exit;
	ret = tx_commit(st);
	/* Other nodes' observations of this one went too. */
	obs_cache_clear(st->seen);
exit:
	if (ret != STORE_OK)
		tx_rollback(st);
	return ret;
}

static enum store_status sq_node_set_serial(struct store *base, const char *node_id,
                                            const char *serial, const char *how, int64_t now)
{
	struct sqlstore *st = sq(base);

	enum store_status ret;

	if (tx_begin(st) != STORE_OK)
		return STORE_ERROR;
	ret = node_exists(st, node_id);
	if (ret != STORE_OK)
		goto exit;
	ret = STORE_ERROR;
	if (serial_set(st, node_id, serial) != STORE_OK)
		goto exit;
	if (enrol_insert(st, node_id, serial, how, now) != STORE_OK)
		goto exit;
	if (version_bump(st) != STORE_OK)
		goto exit;
	ret = tx_commit(st);
exit:
	if (ret != STORE_OK)
		tx_rollback(st);
	return ret;
}

static enum store_status sq_node_set_pending(struct store *base, const char *node_id,
                                             const char *serial)
{
	struct sqlstore *st = sq(base);

	enum store_status ret;
	sqlite3_stmt *s;

	if (tx_begin(st) != STORE_OK)
		return STORE_ERROR;
	ret = node_exists(st, node_id);
	if (ret != STORE_OK)
		goto exit;
	s = stmt_get(st, S_NODE_SET_PENDING);
	bind_text(s, 1, node_id);
	bind_text(s, 2, serial);
	ret = run(st, s, "set the serial a rejoin accepts");
	if (ret == STORE_OK)
		ret = tx_commit(st);
exit:
	if (ret != STORE_OK)
		tx_rollback(st);
	return ret;
}

static enum store_status sq_attempt_record(struct store *base, const char *node_id,
                                           const char *serial, const char *address, bool known,
                                           int64_t now)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s;
	enum store_status ret;

	if (tx_begin(st) != STORE_OK)
		return STORE_ERROR;
	s = stmt_get(st, S_ATTEMPT_PUT);
	(void)sqlite3_bind_text(s, 1, node_id, (int)strnlen(node_id, STORE_ID_MAX - 1),
	                        SQLITE_TRANSIENT);
	(void)sqlite3_bind_text(s, 2, serial, (int)strnlen(serial, STORE_SERIAL_MAX - 1),
	                        SQLITE_TRANSIENT);
	(void)sqlite3_bind_text(s, 3, address, (int)strnlen(address, STORE_TEXT_MAX - 1),
	                        SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 4, known);
	sqlite3_bind_int64(s, 5, now);
	ret = run(st, s, "record a refused certificate");
	if (ret == STORE_OK) {
		s = stmt_get(st, S_ATTEMPT_TRIM);
		sqlite3_bind_int(s, 1, STORE_ATTEMPTS_MAX);
		ret = run(st, s, "trim the refused certificates");
	}
	if (ret == STORE_OK)
		ret = tx_commit(st);
	if (ret != STORE_OK)
		tx_rollback(st);
	return ret;
}

static void fill_attempt(sqlite3_stmt *s, void *p)
{
	struct store_attempt *a = p;

	memset(a, 0, sizeof(*a));
	sq_col(s, 0, a->node_id, sizeof(a->node_id));
	sq_col(s, 1, a->serial, sizeof(a->serial));
	sq_col(s, 2, a->address, sizeof(a->address));
	a->known = sqlite3_column_int(s, 3) != 0;
	a->first_at = sqlite3_column_int64(s, 4);
	a->last_at = sqlite3_column_int64(s, 5);
	a->count = (uint64_t)sqlite3_column_int64(s, 6);
}

static enum store_status sq_attempts_list(struct store *base, struct store_attempt **out,
                                          size_t *count)
{
	struct sqlstore *st = sq(base);

	void *arr = NULL;
	enum store_status ret;

	ret = store_collect(st, stmt_get(st, S_ATTEMPTS_LIST), sizeof(struct store_attempt), &arr,
	                    count, fill_attempt, "list refused certificates");
	*out = arr;
	return ret;
}

static void node_from_row(sqlite3_stmt *s, struct store_node *n)
{
	memset(n, 0, sizeof(*n));
	sq_col(s, 0, n->node_id, sizeof(n->node_id));
	sq_col(s, 1, n->name, sizeof(n->name));
	sq_col(s, 2, n->address, sizeof(n->address));
	sq_col(s, 3, n->enrolled_serial, sizeof(n->enrolled_serial));
	n->created_at = sqlite3_column_int64(s, 4);
	n->has_report = sqlite3_column_type(s, 5) != SQLITE_NULL;
	if (n->has_report) {
		n->report_sequence = (uint64_t)sqlite3_column_int64(s, 5);
		n->report_at = sqlite3_column_int64(s, 6);
		n->report_state = kma_state_from_id((const char *)sqlite3_column_text(s, 7));
		sq_col(s, 9, n->report_boot_id, sizeof(n->report_boot_id));
		sq_col(s, 10, n->report_address, sizeof(n->report_address));
	}
	sq_col(s, 8, n->pending_serial, sizeof(n->pending_serial));
}

static enum store_status sq_node_get(struct store *base, const char *node_id,
                                     struct store_node *out)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = stmt_get(st, S_NODE_GET);
	enum store_status ret;
	int rc;

	bind_text(s, 1, node_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		node_from_row(s, out);
		ret = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		ret = STORE_NOT_FOUND;
	} else {
		ret = sq_fail(st, "get node");
	}
	sqlite3_reset(s);
	return ret;
}

enum store_status store_collect(struct sqlstore *st, sqlite3_stmt *s, size_t elem, void **arr,
                                size_t *count, void (*fill)(sqlite3_stmt *, void *),
                                const char *what)
{
	enum store_status ret = STORE_ERROR;
	unsigned char *a = NULL;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			unsigned char *na = realloc(a, ncap * elem);

			if (!na) {
				log_err("store: %s: out of memory", what);
				goto exit;
			}
			a = na;
			cap = ncap;
		}
		fill(s, a + n * elem);
		n++;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(st, what);
		goto exit;
	}
	*arr = a;
	*count = n;
	a = NULL;
	ret = STORE_OK;
exit:
	sqlite3_reset(s);
	free(a);
	return ret;
}

static void fill_node(sqlite3_stmt *s, void *p)
{
	node_from_row(s, p);
}

static enum store_status sq_nodes_list(struct store *base, struct store_node **out, size_t *count)
{
	struct sqlstore *st = sq(base);

	void *arr = NULL;
	enum store_status ret;

	ret = store_collect(st, stmt_get(st, S_NODES_LIST), sizeof(struct store_node), &arr, count,
	                    fill_node, "list nodes");
	*out = arr;
	return ret;
}

static void fill_enrolment(sqlite3_stmt *s, void *p)
{
	struct store_enrolment *e = p;

	memset(e, 0, sizeof(*e));
	sq_col(s, 0, e->serial, sizeof(e->serial));
	e->at = sqlite3_column_int64(s, 1);
	sq_col(s, 2, e->how, sizeof(e->how));
}

static enum store_status sq_enrolments(struct store *base, const char *node_id,
                                       struct store_enrolment **out, size_t *count)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = stmt_get(st, S_ENROL_LIST);
	void *arr = NULL;
	enum store_status ret;

	bind_text(s, 1, node_id);
	ret = store_collect(st, s, sizeof(struct store_enrolment), &arr, count, fill_enrolment,
	                    "list enrolments");
	*out = arr;
	return ret;
}

static void fill_revoked(sqlite3_stmt *s, void *p)
{
	struct store_revoked *r = p;

	memset(r, 0, sizeof(*r));
	sq_col(s, 0, r->serial, sizeof(r->serial));
	r->at = sqlite3_column_int64(s, 1);
}

static enum store_status sq_revoked(struct store *base, struct store_revoked **out, size_t *count)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = stmt_get(st, S_REVOKED_LIST);
	void *arr = NULL;
	enum store_status ret;

	sqlite3_bind_int(s, 1, STORE_REVOKED_MAX);
	ret = store_collect(st, s, sizeof(struct store_revoked), &arr, count, fill_revoked,
	                    "list revoked serials");
	*out = arr;
	return ret;
}

static enum store_status sq_peer_table_version(struct store *base, uint64_t *version)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = stmt_get(st, S_VERSION_GET);
	enum store_status ret = STORE_ERROR;

	if (sqlite3_step(s) == SQLITE_ROW) {
		*version = (uint64_t)sqlite3_column_int64(s, 0);
		ret = STORE_OK;
	} else {
		sq_fail(st, "read peer table version");
	}
	sqlite3_reset(s);
	return ret;
}

static enum store_status count_status(struct sqlstore *st, int status, unsigned n)
{
	sqlite3_stmt *s = stmt_get(st, S_REJECT_INC);

	sqlite3_bind_int(s, 1, status);
	sqlite3_bind_int64(s, 2, n);
	return run(st, s, "count reports");
}

static enum store_status batch_end(struct sqlstore *st, enum store_status ret);

/* In a batch: forgets the cache if another connection committed since it was last used. */
static enum store_status seen_check(struct sqlstore *st)
{
	sqlite3_stmt *s = stmt_get(st, S_DATA_VERSION);
	sqlite3_int64 v;

	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return sq_fail(st, "read data_version");
	}
	v = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (v != st->seen_version)
		obs_cache_clear(st->seen);
	st->seen_version = v;
	return STORE_OK;
}

static enum store_status sq_reports_begin(struct store *base)
{
	struct sqlstore *st = sq(base);

	/*
	 * Reports are committed without waiting for the disk (WAL, synchronous=NORMAL): they
	 * survive the process being killed, and a power cut can lose only the last few, which
	 * every agent sends again at its next interval. Everything else (nodes, enrolments,
	 * plans, the journal) is synced before it is acknowledged; its fsync also makes every
	 * report before it durable.
	 */
	if (run(st, stmt_get(st, S_SYNC_NORMAL), "relax sync for reports") != STORE_OK)
		return STORE_ERROR;
	if (tx_begin(st) != STORE_OK) {
		if (run(st, stmt_get(st, S_SYNC_FULL), "restore sync") != STORE_OK)
			log_err("store: synchronous stays NORMAL");
		return STORE_ERROR;
	}
	st->batch = true;
	st->stored = 0;
	if (seen_check(st) != STORE_OK)
		return batch_end(st, STORE_ERROR);
	return STORE_OK;
}

/* The end of a batch, kept or not. */
static enum store_status batch_end(struct sqlstore *st, enum store_status ret)
{
	if (ret != STORE_OK) {
		tx_rollback(st);
		obs_cache_clear(st->seen); /* it has the batch's writes */
	}
	st->batch = false;
	st->stored = 0;
	if (run(st, stmt_get(st, S_SYNC_FULL), "restore sync") != STORE_OK)
		return STORE_ERROR;
	return ret;
}

static enum store_status sq_reports_commit(struct store *base)
{
	struct sqlstore *st = sq(base);

	enum store_status ret = STORE_OK;

	/* Counted with the reports, so the count never disagrees with what was stored. */
	if (st->stored > 0)
		ret = count_status(st, STORE_ACCEPTED_STATUS, st->stored);
	if (ret == STORE_OK)
		ret = tx_commit(st);
	return batch_end(st, ret);
}

static void sq_reports_abort(struct store *base)
{
	struct sqlstore *st = sq(base);

	if (st->batch)
		(void)batch_end(st, STORE_ERROR);
}

static enum store_status report_put(struct sqlstore *st, const struct store_report *r,
                                    const struct store_obs_in *obs, size_t n_obs);

static enum store_status sq_report_put(struct store *base, const struct store_report *r,
                                       const struct store_obs_in *obs, size_t n_obs)
{
	struct sqlstore *st = sq(base);

	enum store_status ret;

	if (st->batch)
		return report_put(st, r, obs, n_obs);
	if (sq_reports_begin(&st->base) != STORE_OK)
		return STORE_ERROR;
	ret = report_put(st, r, obs, n_obs);
	if (ret != STORE_OK) {
		sq_reports_abort(&st->base);
		return ret;
	}
	return sq_reports_commit(&st->base);
}

static const char *col_str(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? (const char *)t : "";
}

/* Reads the node's stored observations into a new cache entry. */
static enum store_status obs_load(struct sqlstore *st, const char *node_id, struct obs_node **out)
{
	sqlite3_stmt *s = stmt_get(st, S_OBS_OF_NODE);
	struct obs_node *n = obs_cache_add(st->seen, node_id);
	struct store_obs_in o;
	char text[OBS_TEXT_MAX];
	size_t len, key_len;
	int rc;

	if (!n) {
		log_err("store: out of memory for the observations of %s", node_id);
		return STORE_ERROR;
	}
	bind_static(s, 1, node_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		o.peer_id = col_str(s, 1);
		o.direction = kma_direction_from_id(col_str(s, 2));
		o.cause = kma_cause_from_id(col_str(s, 3));
		o.alert_sent = sqlite3_column_int(s, 4);
		o.alert_received = sqlite3_column_int(s, 5);
		o.peer_serial = col_str(s, 6);
		o.expected_serial = col_str(s, 7);
		o.detail = col_str(s, 9);
		o.peer_node_id = col_str(s, 10);
		o.peer_issuer = col_str(s, 11);
		o.peer_not_before = sqlite3_column_int64(s, 12);
		o.peer_not_after = sqlite3_column_int64(s, 13);
		o.peer_address = col_str(s, 14);
		len = obs_cache_text(&o, text, &key_len);
		if (obs_cache_set(n, n->n, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 8),
		                  text, len, key_len) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		obs_cache_forget(st->seen, node_id);
		return rc == SQLITE_NOMEM ? STORE_ERROR : sq_fail(st, "read observations");
	}
	*out = n;
	return STORE_OK;
}

/* Binds text cut to cut bytes; it stays the caller's until the statement is reset. */
static void bind_cut(sqlite3_stmt *s, int idx, const char *text, size_t cut)
{
	if (!text)
		text = "";
	sqlite3_bind_text(s, idx, text, (int)strnlen(text, cut), SQLITE_STATIC);
}

/* Binds the fields of o after the key, from parameter first on. */
static void bind_obs(sqlite3_stmt *s, int first, const struct store_obs_in *o)
{
	bind_static(s, first, kma_cause_id(o->cause));
	sqlite3_bind_int(s, first + 1, o->alert_sent);
	sqlite3_bind_int(s, first + 2, o->alert_received);
	bind_cut(s, first + 3, o->peer_serial, STORE_OBS_CUT(peer_serial));
	bind_cut(s, first + 4, o->expected_serial, STORE_OBS_CUT(expected_serial));
	sqlite3_bind_int64(s, first + 5, o->at);
	bind_cut(s, first + 6, o->detail, STORE_OBS_CUT(detail));
	bind_cut(s, first + 7, o->peer_node_id, STORE_OBS_CUT(peer_node_id));
	bind_cut(s, first + 8, o->peer_issuer, STORE_OBS_CUT(peer_issuer));
	sqlite3_bind_int64(s, first + 9, o->peer_not_before);
	sqlite3_bind_int64(s, first + 10, o->peer_not_after);
	bind_cut(s, first + 11, o->peer_address, STORE_OBS_CUT(peer_address));
}

/* Rewrites the stored row rowid with o. */
static enum store_status obs_update(struct sqlstore *st, sqlite3_int64 rowid,
                                    const struct store_obs_in *o)
{
	sqlite3_stmt *s = stmt_get(st, S_OBS_UPDATE);

	sqlite3_bind_int64(s, 1, rowid);
	bind_obs(s, 2, o);
	return run(st, s, "update observation");
}

/* Stores o, an observation of a peer and direction the node has no row for. */
static enum store_status obs_insert(struct sqlstore *st, const char *node_id,
                                    const struct store_obs_in *o)
{
	sqlite3_stmt *s = stmt_get(st, S_OBS_UPSERT);

	bind_static(s, 1, node_id);
	bind_cut(s, 2, o->peer_id, STORE_OBS_CUT(peer_id));
	bind_static(s, 3, kma_direction_id(o->direction));
	bind_obs(s, 4, o);
	return run(st, s, "store observation");
}

/*
 * Writes the observations of obs that differ from the node's stored ones (the cache's
 * copy of them): most of a report is what the last said, and is not written again.
 */
static enum store_status obs_put(struct sqlstore *st, const struct store_report *r,
                                 const struct store_obs_in *obs, size_t n_obs)
{
	struct obs_node *n = obs_cache_get(st->seen, r->node_id);
	char text[OBS_TEXT_MAX];
	size_t len, key_len, hint = 0;
	bool reread = false; /* the cache cannot vouch for the node after this report */

	if (!n && obs_load(st, r->node_id, &n) != STORE_OK)
		return STORE_ERROR;
	for (size_t i = 0; i < n_obs; i++) {
		const struct store_obs_in *o = &obs[i];
		struct obs_cached *e;
		long k;

		len = obs_cache_text(o, text, &key_len);
		k = obs_cache_find(n, text, key_len, hint);
		if (k < 0) {
			if (obs_insert(st, r->node_id, o) != STORE_OK)
				return STORE_ERROR;
			reread = true; /* its new row's ID is not known here */
			continue;
		}
		e = &n->obs[k];
		hint = (size_t)k + 1;
		if (e->len == len && memcmp(e->text, text, len) == 0 &&
		    (o->at == e->at || (o->at > e->at && o->at - e->at < r->at_slack)))
			continue;
		if (obs_update(st, e->rowid, o) != STORE_OK)
			return STORE_ERROR;
		if (obs_cache_set(n, (size_t)k, e->rowid, o->at, text, len, key_len) != 0)
			reread = true; /* out of memory */
	}
	/* Read back from SQLite at the node's next report. */
	if (reread)
		obs_cache_forget(st->seen, r->node_id);
	return STORE_OK;
}

/* An agent's incarnation as the reports table keeps it: "boot/instance". */
static void incarnation(const char *boot_id, uint64_t instance, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s/%llu", STORE_BOOT_MAX - 1, boot_id, (unsigned long long)instance);
}

/* Whether key is one of the ';'-separated keys of list. */
static bool key_listed(const char *list, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = list; *p; p += strcspn(p, ";"), p += *p == ';')
		if (strncmp(p, key, n) == 0 && (p[n] == ';' || p[n] == '\0'))
			return true;
	return false;
}

/*
 * The order of reports (store.h): r against the node's last report (gate, a row of
 * S_REPORT_GATE), and the retired list to store with r when it is taken.
 */
static enum store_status report_order(sqlite3_stmt *gate, const struct store_report *r,
                                      char *retired, size_t size)
{
	char now_key[STORE_BOOT_MAX + 24], last_key[STORE_BOOT_MAX + 24], last_boot[STORE_BOOT_MAX];
	const unsigned char *was = sqlite3_column_text(gate, 5);
	uint64_t last_instance = (uint64_t)sqlite3_column_int64(gate, 4);
	size_t kept = 0, used;

	retired[0] = '\0';
	if (sqlite3_column_type(gate, 2) == SQLITE_NULL)
		return STORE_OK; /* its first report */
	sq_col(gate, 3, last_boot, sizeof(last_boot));
	incarnation(r->boot_id ? r->boot_id : "", r->instance, now_key, sizeof(now_key));
	incarnation(last_boot, last_instance, last_key, sizeof(last_key));
	if (strcmp(now_key, last_key) == 0) {
		/* An older agent (instance 0) starts its sequence again when it restarts. */
		if (r->instance && r->sequence <= (uint64_t)sqlite3_column_int64(gate, 2))
			return STORE_STALE;
		snprintf(retired, size, "%s", was ? (const char *)was : "");
		return STORE_OK;
	}
	if (was && key_listed((const char *)was, now_key))
		return STORE_STALE;
	/* A new incarnation: the last one is retired, with the newest STORE_RETIRED_MAX - 1. */
	used = (size_t)snprintf(retired, size, "%s", last_key);
	for (const char *p = was ? (const char *)was : ""; *p && ++kept < STORE_RETIRED_MAX;) {
		size_t n = strcspn(p, ";");

		if (used + 1 + n < size) {
			retired[used++] = ';';
			memcpy(retired + used, p, n);
			retired[used += n] = '\0';
		}
		p += n + (p[n] == ';');
	}
	return STORE_OK;
}

/* Whether serial is the one enrolled or the one a rejoin accepts (gate's row). */
static bool report_pinned(sqlite3_stmt *gate, const char *serial)
{
	const unsigned char *enrolled = sqlite3_column_text(gate, 0);
	const unsigned char *pending = sqlite3_column_text(gate, 1);

	return (enrolled && enrolled[0] && strcasecmp((const char *)enrolled, serial) == 0) ||
	       (pending && pending[0] && strcasecmp((const char *)pending, serial) == 0);
}

/* Whether r may be stored: its node exists, its certificate is pinned, it is not stale. */
static enum store_status report_admit(struct sqlstore *st, const struct store_report *r,
                                      char *retired, size_t size)
{
	sqlite3_stmt *s = stmt_get(st, S_REPORT_GATE);
	enum store_status ret;
	int rc;

	bind_text(s, 1, r->node_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		ret = STORE_NOT_FOUND;
	else if (rc != SQLITE_ROW)
		ret = sq_fail(st, "read the node's last report");
	else if (r->cert_serial && !report_pinned(s, r->cert_serial))
		ret = STORE_NOT_PINNED;
	else
		ret = report_order(s, r, retired, size);
	sqlite3_reset(s);
	return ret;
}

static enum store_status report_put(struct sqlstore *st, const struct store_report *r,
                                    const struct store_obs_in *obs, size_t n_obs)
{
	char retired[STORE_RETIRED_MAX * (STORE_BOOT_MAX + 24)];
	enum store_status ret;
	sqlite3_stmt *s;

	ret = report_admit(st, r, retired, sizeof(retired));
	if (ret != STORE_OK)
		return ret;
	ret = STORE_ERROR;
	s = stmt_get(st, S_REPORT_UPSERT);
	bind_static(s, 1, r->node_id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)r->sequence);
	sqlite3_bind_int64(s, 3, r->received_at);
	bind_static(s, 4, kma_state_id(r->state));
	(void)sqlite3_bind_text(s, 6, r->boot_id ? r->boot_id : "",
	                        (int)strnlen(r->boot_id ? r->boot_id : "", STORE_BOOT_MAX - 1),
	                        SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)r->instance);
	bind_static(s, 8, retired);
	bind_cut(s, 9, r->address, STORE_TEXT_MAX - 1);
	if (run(st, s, "store report") != STORE_OK)
		goto exit;
	if (sq_facts_put(st, r->node_id, r->facts) != STORE_OK)
		goto exit;
	if (obs_put(st, r, obs, n_obs) != STORE_OK)
		goto exit;
	st->stored++;
	ret = STORE_OK;
exit:
	/* The bindings point into the caller's buffers: dropped before they are freed. */
	sqlite3_clear_bindings(st->stmt[S_REPORT_UPSERT]);
	sqlite3_clear_bindings(st->stmt[S_OBS_UPSERT]);
	sqlite3_clear_bindings(st->stmt[S_OBS_UPDATE]);
	return ret;
}

static void fill_observation(sqlite3_stmt *s, void *p)
{
	struct store_observation *o = p;

	memset(o, 0, sizeof(*o));
	sq_col(s, 0, o->node_id, sizeof(o->node_id));
	sq_col(s, 1, o->peer_id, sizeof(o->peer_id));
	o->direction = kma_direction_from_id((const char *)sqlite3_column_text(s, 2));
	o->cause = kma_cause_from_id((const char *)sqlite3_column_text(s, 3));
	o->alert_sent = sqlite3_column_int(s, 4);
	o->alert_received = sqlite3_column_int(s, 5);
	sq_col(s, 6, o->peer_serial, sizeof(o->peer_serial));
	sq_col(s, 7, o->expected_serial, sizeof(o->expected_serial));
	o->at = sqlite3_column_int64(s, 8);
	sq_col(s, 9, o->detail, sizeof(o->detail));
	sq_col(s, 10, o->peer_node_id, sizeof(o->peer_node_id));
	sq_col(s, 11, o->peer_issuer, sizeof(o->peer_issuer));
	o->peer_not_before = sqlite3_column_int64(s, 12);
	o->peer_not_after = sqlite3_column_int64(s, 13);
	sq_col(s, 14, o->peer_address, sizeof(o->peer_address));
}

static enum store_status sq_observations_list(struct store *base, struct store_observation **out,
                                              size_t *count)
{
	struct sqlstore *st = sq(base);

	void *arr = NULL;
	enum store_status ret;

	ret = store_collect(st, stmt_get(st, S_OBS_LIST), sizeof(struct store_observation), &arr,
	                    count, fill_observation, "list observations");
	*out = arr;
	return ret;
}

static enum store_status sq_reject_count(struct store *base, int status)
{
	struct sqlstore *st = sq(base);

	enum store_status ret;

	/* One statement is its own transaction. */
	store_write_enter(st);
	ret = count_status(st, status, 1);
	store_write_leave(st);
	return ret;
}

static enum store_status sq_rejects_get(struct store *base, int status, uint64_t *count)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = stmt_get(st, S_REJECT_GET);
	enum store_status ret = STORE_ERROR;
	int rc;

	*count = 0;
	sqlite3_bind_int(s, 1, status);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*count = (uint64_t)sqlite3_column_int64(s, 0);
		ret = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		ret = STORE_OK;
	} else {
		sq_fail(st, "read rejects");
	}
	sqlite3_reset(s);
	return ret;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .defer_checkpoints = sq_defer_checkpoints,
    .checkpoint = sq_checkpoint,
    .node_add = sq_node_add,
    .node_add_with_token = sq_node_add_with_token,
    .token_issue = sq_token_issue,
    .token_check = sq_token_check,
    .token_redeem = sq_token_redeem,
    .token_issued = sq_token_issued,
    .node_delete = sq_node_delete,
    .node_set_serial = sq_node_set_serial,
    .node_get = sq_node_get,
    .nodes_list = sq_nodes_list,
    .enrolments = sq_enrolments,
    .revoked = sq_revoked,
    .peer_table_version = sq_peer_table_version,
    .reports_begin = sq_reports_begin,
    .reports_commit = sq_reports_commit,
    .reports_abort = sq_reports_abort,
    .report_put = sq_report_put,
    .node_set_pending = sq_node_set_pending,
    .attempt_record = sq_attempt_record,
    .attempts_list = sq_attempts_list,
    .facts_get = sq_facts_get,
    .observations_list = sq_observations_list,
    .reject_count = sq_reject_count,
    .rejects_get = sq_rejects_get,
    .tx_begin = sq_tx_begin,
    .tx_end = sq_tx_end,
    .plan_create = sq_plan_create,
    .plan_latest = sq_plan_latest,
    .plan_set_state = sq_plan_set_state,
    .step_put = sq_step_put,
    .journal_add = sq_journal_add,
    .journal_list = sq_journal_list,
    .lease_take = sq_lease_take,
    .lease_get = sq_lease_get,
    .lease_release = sq_lease_release,
    .directive_for = sq_directive_for,
    .plan_unfinished = sq_plan_unfinished,
    .plan_token = sq_plan_token,
};
