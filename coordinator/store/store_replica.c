/*
 * The preupdate hook's declarations. Debian's SQLite is built with the hook; an image's
 * may not be (CMake checks: KMA_SQLITE_PREUPDATE), and then this store is not available.
 */
#ifdef KMA_SQLITE_PREUPDATE
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#endif

#include "store_replica.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <mbedtls/base64.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store_sqlite.h"

/* The tables whose rows live in etcd; the others are the active instance's alone. */
static const char *const durable[] = {
    "nodes", "enrolments", "tokens", "plans", "steps", "lease", "journal", "meta",
};

#define KEY_MAX     256
#define SCHEMA_KEY  "schema"
#define ROWS_PREFIX "t/"

/* One row changed by the transaction being written: its key and its new value (NULL: deleted). */
struct change {
	char key[KEY_MAX];
	char *value;
};

/*
 * Only one transaction writes the SQLite file at a time (its write lock), whichever handle
 * it runs on: the changes it made so far are kept here until it commits or rolls back.
 */
static struct {
	pthread_mutex_t lock;
	bool on;
	struct etcd *etcd;
	char prefix[128];
	char leader_key[KEY_MAX];
	int64_t leader_rev;
	void (*deposed)(const char *why);
	struct change *changes;
	size_t n, cap;
	bool broken; /* a change could not be recorded: the transaction must not commit */
	uint64_t rows, txns;
} rp = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The index of table name in durable[], or -1 when its rows are not kept in etcd. */
static long durable_table(const char *name)
{
	for (size_t i = 0; i < sizeof(durable) / sizeof(durable[0]); i++)
		if (strcmp(durable[i], name) == 0)
			return (long)i;
	return -1;
}

#ifdef KMA_SQLITE_PREUPDATE
/* The write-through: SQLite's preupdate hook records each change of a durable row. */
static void row_key(char *buf, size_t size, const char *table, int64_t rowid)
{
	snprintf(buf, size, "%s" ROWS_PREFIX "%s/%020" PRId64, rp.prefix, table, rowid);
}

static json_object *blob_json(const void *p, size_t n)
{
	size_t olen = 0;
	unsigned char *b64;
	json_object *j;

	(void)mbedtls_base64_encode(NULL, 0, &olen, p, n);
	b64 = malloc(olen + 1);
	if (!b64 || mbedtls_base64_encode(b64, olen + 1, &olen, p, n) != 0) {
		free(b64);
		return NULL;
	}
	j = json_object_new_object();
	json_object_object_add(j, "b64", json_object_new_string_len((const char *)b64, (int)olen));
	free(b64);
	return j;
}

static json_object *value_json(sqlite3_value *v)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER:
		return json_object_new_int64(sqlite3_value_int64(v));
	case SQLITE_FLOAT:
		return json_object_new_double(sqlite3_value_double(v));
	case SQLITE_TEXT:
		return json_object_new_string_len((const char *)sqlite3_value_text(v),
		                                  sqlite3_value_bytes(v));
	case SQLITE_BLOB:
		return blob_json(sqlite3_value_blob(v), (size_t)sqlite3_value_bytes(v));
	default:
		return NULL; /* JSON null */
	}
}

#define COLUMNS_MAX 48

/* The column names of each durable table, read once (the schema is fixed once open). */
static struct columns {
	char name[COLUMNS_MAX][64];
	int n;
} columns[sizeof(durable) / sizeof(durable[0])];

static const struct columns *columns_of(sqlite3 *db, size_t t)
{
	struct columns *c = &columns[t];
	char sql[128];
	sqlite3_stmt *s = NULL;

	if (c->n > 0)
		return c;
	/* The session extension reads table_info from its preupdate hook the same way. */
	snprintf(sql, sizeof(sql), "SELECT name FROM pragma_table_info('%s') ORDER BY cid",
	         durable[t]);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	while (c->n < COLUMNS_MAX && sqlite3_step(s) == SQLITE_ROW)
		snprintf(c->name[c->n++], sizeof(c->name[0]), "%s",
		         (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return c->n > 0 ? c : NULL;
}

/* The new row of the change being made to table t, as JSON; NULL when it cannot be read. */
static char *row_json(sqlite3 *db, size_t t)
{
	const struct columns *c = columns_of(db, t);
	json_object *row;
	char *out = NULL;

	if (!c || c->n != sqlite3_preupdate_count(db) || !(row = json_object_new_object()))
		return NULL;
	for (int i = 0; i < c->n; i++) {
		sqlite3_value *v = NULL;

		if (sqlite3_preupdate_new(db, i, &v) != SQLITE_OK)
			goto exit;
		json_object_object_add(row, c->name[i], value_json(v));
	}
	out = strdup(json_object_to_json_string_ext(row, JSON_C_TO_STRING_PLAIN));
exit:
	json_object_put(row);
	return out;
}

/* Records key's new value (NULL: deleted), replacing an earlier change of the same key. */
static void record(const char *key, char *value)
{
	struct change *c = NULL;

	for (size_t i = 0; i < rp.n; i++)
		if (strcmp(rp.changes[i].key, key) == 0)
			c = &rp.changes[i];
	if (!c) {
		if (rp.n == rp.cap) {
			size_t cap = rp.cap ? 2 * rp.cap : 32;
			struct change *a = realloc(rp.changes, cap * sizeof(*a));

			if (!a) {
				free(value);
				rp.broken = true;
				return;
			}
			rp.changes = a;
			rp.cap = cap;
		}
		c = &rp.changes[rp.n++];
		snprintf(c->key, sizeof(c->key), "%s", key);
	} else {
		free(c->value);
	}
	c->value = value;
}

static void changes_clear(void)
{
	for (size_t i = 0; i < rp.n; i++)
		free(rp.changes[i].value);
	rp.n = 0;
	rp.broken = false;
}

static void on_preupdate(void *arg, sqlite3 *db, int op, const char *zdb, const char *table,
                         sqlite3_int64 old_rowid, sqlite3_int64 new_rowid)
{
	long t = durable_table(table);
	char key[KEY_MAX];

	(void)arg;
	if (strcmp(zdb, "main") != 0 || t < 0)
		return;
	pthread_mutex_lock(&rp.lock);
	if (op == SQLITE_DELETE || (op == SQLITE_UPDATE && old_rowid != new_rowid)) {
		row_key(key, sizeof(key), table, old_rowid);
		record(key, NULL);
	}
	if (op != SQLITE_DELETE) {
		char *row = row_json(db, (size_t)t);

		row_key(key, sizeof(key), table, new_rowid);
		if (row)
			record(key, row);
		else
			rp.broken = true;
	}
	pthread_mutex_unlock(&rp.lock);
}

/* Sends the transaction's changes to etcd; true when etcd applied them. */
static bool write_through(const char **why)
{
	struct etcd_cmp fence = {rp.leader_key, ETCD_CMP_CREATE, rp.leader_rev};
	struct etcd_op *ops = calloc(rp.n, sizeof(*ops));
	enum etcd_status st;

	if (!ops) {
		*why = "out of memory";
		return false;
	}
	for (size_t i = 0; i < rp.n; i++) {
		const struct change *c = &rp.changes[i];

		ops[i] = (struct etcd_op){
		    .kind = c->value ? ETCD_OP_PUT : ETCD_OP_DELETE,
		    .key = c->key,
		    .value = c->value,
		    .len = c->value ? strlen(c->value) : 0,
		};
	}
	st = etcd_txn(rp.etcd, &fence, 1, ops, rp.n, NULL);
	free(ops);
	if (st == ETCD_OK) {
		rp.rows += rp.n;
		rp.txns++;
		return true;
	}
	*why = st == ETCD_FAILED ? "this instance is no longer the leader (its write was fenced)"
	                         : "etcd did not answer a write (its outcome is unknown)";
	return false;
}

/* Before SQLite commits: etcd first. Non-zero turns the commit into a rollback. */
static int on_commit(void *arg)
{
	const char *why = NULL;
	bool ok = true;

	(void)arg;
	pthread_mutex_lock(&rp.lock);
	if (rp.broken) {
		ok = false;
		why = "a change could not be recorded for etcd";
	} else if (rp.n > 0) {
		ok = write_through(&why);
	}
	changes_clear();
	pthread_mutex_unlock(&rp.lock);
	if (!ok) {
		log_err("store: a transaction was not written to etcd and is rolled back: %s", why);
		if (rp.deposed)
			rp.deposed(why);
	}
	return ok ? 0 : 1;
}

static void on_rollback(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&rp.lock);
	changes_clear();
	pthread_mutex_unlock(&rp.lock);
}
#endif

void store_replica_start(struct etcd *e, const char *prefix, const char *leader_key,
                         int64_t leader_rev, void (*deposed)(const char *why))
{
	pthread_mutex_lock(&rp.lock);
	rp.etcd = e;
	snprintf(rp.prefix, sizeof(rp.prefix), "%s", prefix);
	snprintf(rp.leader_key, sizeof(rp.leader_key), "%s", leader_key);
	rp.leader_rev = leader_rev;
	rp.deposed = deposed;
	rp.on = true;
	pthread_mutex_unlock(&rp.lock);
}

bool store_replica_on(void)
{
	return rp.on;
}

bool store_replica_available(void)
{
#ifdef KMA_SQLITE_PREUPDATE
	return true;
#else
	return false;
#endif
}

bool store_replica_attach(struct store *st)
{
#ifdef KMA_SQLITE_PREUPDATE
	sqlite3 *db = store_sqlite(st);

	(void)sqlite3_preupdate_hook(db, on_preupdate, NULL);
	(void)sqlite3_commit_hook(db, on_commit, NULL);
	(void)sqlite3_rollback_hook(db, on_rollback, NULL);
	return true;
#else
	(void)st;
	return false;
#endif
}

void store_replica_counts(uint64_t *rows, uint64_t *txns)
{
	pthread_mutex_lock(&rp.lock);
	*rows = rp.rows;
	*txns = rp.txns;
	pthread_mutex_unlock(&rp.lock);
}

/* ---- loading ---- */

/* Binds one JSON value as SQLite stores it (row_json's encoding). */
static int bind_json(sqlite3_stmt *s, int idx, json_object *v)
{
	json_object *b64;

	switch (json_object_get_type(v)) {
	case json_type_null:
		return sqlite3_bind_null(s, idx);
	case json_type_int:
		return sqlite3_bind_int64(s, idx, json_object_get_int64(v));
	case json_type_double:
		return sqlite3_bind_double(s, idx, json_object_get_double(v));
	case json_type_string:
		return sqlite3_bind_text(s, idx, json_object_get_string(v),
		                         json_object_get_string_len(v), SQLITE_TRANSIENT);
	case json_type_object:
		if (json_object_object_get_ex(v, "b64", &b64) &&
		    json_object_is_type(b64, json_type_string)) {
			size_t olen = 0;
			const unsigned char *src =
			    (const unsigned char *)json_object_get_string(b64);
			size_t slen = (size_t)json_object_get_string_len(b64);
			unsigned char *buf = malloc(slen ? slen : 1);
			int rc = SQLITE_MISMATCH;

			if (buf && mbedtls_base64_decode(buf, slen, &olen, src, slen) == 0)
				rc = sqlite3_bind_blob(s, idx, buf, (int)olen, SQLITE_TRANSIENT);
			free(buf);
			return rc;
		}
		return SQLITE_MISMATCH;
	default:
		return SQLITE_MISMATCH;
	}
}

/* A column or table name as this code writes them: lowercase letters, digits, '_'. */
static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	return len > 0 && len < 64 && strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

/* The row's JSON object, or NULL when value is not one (logged by the caller). */
static json_object *row_parse(const char *value, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(4);
	json_object *row;

	if (!tok || len > INT32_MAX)
		return NULL;
	row = json_tokener_parse_ex(tok, value, (int)len);
	if (row && (json_tokener_get_error(tok) != json_tokener_success ||
	            !json_object_is_type(row, json_type_object))) {
		json_object_put(row);
		row = NULL;
	}
	json_tokener_free(tok);
	return row;
}

/* Builds "INSERT INTO table(rowid, c1, ...) VALUES (?1, ?2, ...)" for row's columns. */
static bool insert_sql(const char *table, json_object *row, char *sql, size_t size)
{
	size_t used = (size_t)snprintf(sql, size, "INSERT OR REPLACE INTO %s(rowid", table);
	int n = 1;

	json_object_object_foreach(row, name, v)
	{
		(void)v;
		if (!name_ok(name))
			return false;
		used += (size_t)snprintf(sql + used, used < size ? size - used : 0, ", %s", name);
		n++;
	}
	used += (size_t)snprintf(sql + used, used < size ? size - used : 0, ") VALUES (?1");
	for (int i = 2; i <= n; i++)
		used += (size_t)snprintf(sql + used, used < size ? size - used : 0, ", ?%d", i);
	used += (size_t)snprintf(sql + used, used < size ? size - used : 0, ")");
	return used < size;
}

/* Inserts the row stored at rest ("<table>/<rowid>", the key after the rows' prefix). */
static bool row_insert(sqlite3 *db, const char *rest, const char *value, size_t len)
{
	char table[64], sql[4096];
	const char *slash = strchr(rest, '/');
	json_object *row = NULL;
	sqlite3_stmt *s = NULL;
	char *end = NULL;
	long long rowid;
	int idx = 2;
	bool ok = false;

	if (!slash || (size_t)(slash - rest) >= sizeof(table))
		return false;
	memcpy(table, rest, (size_t)(slash - rest));
	table[slash - rest] = '\0';
	errno = 0;
	rowid = strtoll(slash + 1, &end, 10);
	if (durable_table(table) < 0 || errno || !end || *end || end == slash + 1)
		return false;
	row = row_parse(value, len);
	if (!row || !insert_sql(table, row, sql, sizeof(sql)) ||
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		goto exit;
	sqlite3_bind_int64(s, 1, rowid);
	json_object_object_foreach(row, name, v)
	{
		(void)name;
		if (bind_json(s, idx++, v) != SQLITE_OK)
			goto exit;
	}
	ok = sqlite3_step(s) == SQLITE_DONE;
exit:
	if (!ok)
		log_err("store: etcd row %s does not load: %s", rest,
		        s ? sqlite3_errmsg(db) : "not a row this build writes");
	sqlite3_finalize(s);
	json_object_put(row);
	return ok;
}

/* The schema version etcd's rows were written with (0: none yet, a new cluster). */
static enum store_status schema_of(struct etcd *e, const char *prefix, long *version)
{
	char key[KEY_MAX];
	struct etcd_kv *kv = NULL;
	size_t n = 0;

	*version = 0;
	snprintf(key, sizeof(key), "%s" SCHEMA_KEY, prefix);
	if (etcd_range(e, key, false, &kv, &n, NULL) != ETCD_OK)
		return STORE_ERROR;
	if (n == 1) {
		char buf[24];

		snprintf(buf, sizeof(buf), "%.*s",
		         (int)(kv[0].value_len < 23 ? kv[0].value_len : 23),
		         (const char *)kv[0].value);
		*version = strtol(buf, NULL, 10);
	}
	etcd_kvs_free(kv, n);
	return STORE_OK;
}

static void remove_files(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char p[PATH_MAX + 8];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			log_warn("store: cannot remove %s: %s", p, strerror(errno));
	}
}

/* Inserts every row of kv (n of them) into db, in one transaction. */
static bool rows_load(sqlite3 *db, const char *prefix, const struct etcd_kv *kv, size_t n)
{
	size_t skip = strlen(prefix) + strlen(ROWS_PREFIX);
	bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

	/* Over a new file: etcd's rows replace the schema's own (meta's first values). */
	for (size_t i = 0; ok && i < n; i++)
		ok = strlen(kv[i].key) > skip &&
		     row_insert(db, kv[i].key + skip, (const char *)kv[i].value, kv[i].value_len);
	if (ok)
		ok = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	else
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return ok;
}

enum store_status store_replica_load(struct etcd *e, const char *prefix, const char *path)
{
	char key[KEY_MAX], version[24];
	struct etcd_kv *kv = NULL;
	struct store *st = NULL;
	enum store_status ret = STORE_ERROR;
	size_t n = 0;
	long schema;

	if (schema_of(e, prefix, &schema) != STORE_OK)
		return STORE_ERROR;
	if (schema > store_schema_version()) {
		log_err("store: etcd holds rows of schema %ld, newer than this build's %d", schema,
		        store_schema_version());
		return STORE_ERROR;
	}
	snprintf(key, sizeof(key), "%s" ROWS_PREFIX, prefix);
	if (etcd_range(e, key, true, &kv, &n, NULL) != ETCD_OK)
		return STORE_ERROR;
	remove_files(path);
	if (store_sqlite_open(path, &st) != STORE_OK)
		goto exit;
	if (!rows_load(store_sqlite(st), prefix, kv, n)) {
		log_err("store: the replica could not be built from etcd");
		goto exit;
	}
	/* Rows of an older schema were loaded into this one's tables: say so in etcd. */
	snprintf(key, sizeof(key), "%s" SCHEMA_KEY, prefix);
	snprintf(version, sizeof(version), "%d", store_schema_version());
	if (schema != store_schema_version() &&
	    etcd_put(e, key, version, strlen(version), 0) != ETCD_OK)
		goto exit;
	log_notice("store: replica rebuilt from etcd: %zu rows (schema %ld)", n, schema);
	ret = STORE_OK;
exit:
	store_close(st);
	etcd_kvs_free(kv, n);
	return ret;
}
