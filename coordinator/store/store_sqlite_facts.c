#include "store_sqlite.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/*
 * A node's facts (struct store_facts) in three tables: facts (one row per node, the
 * scalars), fact_queues (its listening ports, by position) and fact_modes (the steps its
 * board names, by kind). Vocabulary values are stored as their identifiers.
 */

#define FACT_COLUMNS                                                                               \
	"node_id, boot_id, has_cert, cert_serial, cert_not_after, health_known, healthy,"          \
	" health_detail, health_checked_at, kmip_known, kmip_endpoint, kmip_operation,"            \
	" kmip_result, kmip_cause, kmip_latency_ms, kmip_handshake_ms, kmip_cipher_suite,"         \
	" kmip_result_status, kmip_result_reason, kmip_answer, kmip_detail, kmip_checked_at,"      \
	" parts_changed, table_version, last_directive, last_ok, last_detail, last_done_at,"       \
	" fencing"

#define FACT_N_COLUMNS 29

static const char fact_upsert[] =
    "INSERT OR REPLACE INTO facts(" FACT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
    " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26,"
    " ?27, ?28, ?29)";
static const char fact_select[] = "SELECT " FACT_COLUMNS " FROM facts WHERE node_id = ?1";

/* A queue or a mode that did not change is not written again (most reports). */
static const char queue_upsert[] =
    "INSERT INTO fact_queues(node_id, idx, port, role, key_service, listening, queued,"
    " backlog, dropped_recently, window_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    " ON CONFLICT(node_id, idx) DO UPDATE SET port = excluded.port, role = excluded.role,"
    " key_service = excluded.key_service, listening = excluded.listening,"
    " queued = excluded.queued, backlog = excluded.backlog,"
    " dropped_recently = excluded.dropped_recently, window_s = excluded.window_s"
    " WHERE (port, role, key_service, listening, queued, backlog, dropped_recently, window_s)"
    " IS NOT (excluded.port, excluded.role, excluded.key_service, excluded.listening,"
    " excluded.queued, excluded.backlog, excluded.dropped_recently, excluded.window_s)";
static const char queue_trim[] = "DELETE FROM fact_queues WHERE node_id = ?1 AND idx >= ?2";
static const char queue_select[] =
    "SELECT port, role, key_service, listening, queued, backlog, dropped_recently, window_s"
    " FROM fact_queues WHERE node_id = ?1 ORDER BY idx LIMIT ?2";

static const char mode_upsert[] =
    "INSERT INTO fact_modes(node_id, kind, manual, instruction) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(node_id, kind) DO UPDATE SET manual = excluded.manual,"
    " instruction = excluded.instruction"
    " WHERE (manual, instruction) IS NOT (excluded.manual, excluded.instruction)";
static const char mode_delete[] = "DELETE FROM fact_modes WHERE node_id = ?1 AND kind = ?2";
static const char mode_select[] =
    "SELECT kind, manual, instruction FROM fact_modes WHERE node_id = ?1";

static const char *const node_deletes[] = {
    "DELETE FROM facts WHERE node_id = ?1",
    "DELETE FROM fact_queues WHERE node_id = ?1",
    "DELETE FROM fact_modes WHERE node_id = ?1",
};

/* After the rows of s: rc, its last step, is SQLITE_DONE unless reading failed. */
static enum store_status rows_end(struct sqlstore *st, sqlite3_stmt *s, int rc, const char *what)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? STORE_OK : sq_fail(st, what);
}

static void text(sqlite3_stmt *s, int idx, const char *t)
{
	(void)sqlite3_bind_text(s, idx, t, -1, SQLITE_STATIC);
}

static void i64(sqlite3_stmt *s, int idx, int64_t v)
{
	sqlite3_bind_int64(s, idx, (sqlite3_int64)v);
}

static void fact_bind(sqlite3_stmt *s, const char *node_id, const struct store_facts *f)
{
	const struct store_kmip *k = &f->kmip;

	text(s, 1, node_id);
	text(s, 2, f->boot_id);
	i64(s, 3, f->has_cert);
	text(s, 4, f->cert_serial);
	i64(s, 5, f->cert_not_after);
	i64(s, 6, f->health_known);
	i64(s, 7, f->healthy);
	text(s, 8, f->health_detail);
	i64(s, 9, f->health_checked_at);
	i64(s, 10, f->kmip_known);
	text(s, 11, k->endpoint);
	text(s, 12, k->operation);
	text(s, 13, kma_kmip_result_id(k->result));
	text(s, 14, kma_cause_id(k->cause));
	i64(s, 15, k->latency_ms);
	i64(s, 16, k->handshake_ms);
	text(s, 17, k->cipher_suite);
	text(s, 18, k->result_status);
	text(s, 19, k->result_reason);
	text(s, 20, k->answer);
	text(s, 21, k->detail);
	i64(s, 22, k->checked_at);
	i64(s, 23, f->parts_changed);
	i64(s, 24, (int64_t)f->table_version);
	text(s, 25, f->last_directive);
	i64(s, 26, f->last_ok);
	text(s, 27, f->last_detail);
	i64(s, 28, f->last_done_at);
	i64(s, 29, (int64_t)f->fencing);
}

static void fact_read(sqlite3_stmt *s, struct store_facts *f)
{
	struct store_kmip *k = &f->kmip;

	sq_col(s, 1, f->boot_id, sizeof(f->boot_id));
	f->has_cert = sqlite3_column_int(s, 2) != 0;
	sq_col(s, 3, f->cert_serial, sizeof(f->cert_serial));
	f->cert_not_after = sqlite3_column_int64(s, 4);
	f->health_known = sqlite3_column_int(s, 5) != 0;
	f->healthy = sqlite3_column_int(s, 6) != 0;
	sq_col(s, 7, f->health_detail, sizeof(f->health_detail));
	f->health_checked_at = sqlite3_column_int64(s, 8);
	f->kmip_known = sqlite3_column_int(s, 9) != 0;
	sq_col(s, 10, k->endpoint, sizeof(k->endpoint));
	sq_col(s, 11, k->operation, sizeof(k->operation));
	k->result = kma_kmip_result_from_id((const char *)sqlite3_column_text(s, 12));
	k->cause = kma_cause_from_id((const char *)sqlite3_column_text(s, 13));
	k->latency_ms = (uint32_t)sqlite3_column_int64(s, 14);
	k->handshake_ms = (uint32_t)sqlite3_column_int64(s, 15);
	sq_col(s, 16, k->cipher_suite, sizeof(k->cipher_suite));
	sq_col(s, 17, k->result_status, sizeof(k->result_status));
	sq_col(s, 18, k->result_reason, sizeof(k->result_reason));
	sq_col(s, 19, k->answer, sizeof(k->answer));
	sq_col(s, 20, k->detail, sizeof(k->detail));
	k->checked_at = sqlite3_column_int64(s, 21);
	f->parts_changed = (uint32_t)sqlite3_column_int64(s, 22);
	f->table_version = (uint64_t)sqlite3_column_int64(s, 23);
	sq_col(s, 24, f->last_directive, sizeof(f->last_directive));
	f->last_ok = sqlite3_column_int(s, 25) != 0;
	sq_col(s, 26, f->last_detail, sizeof(f->last_detail));
	f->last_done_at = sqlite3_column_int64(s, 27);
	f->fencing = (uint64_t)sqlite3_column_int64(s, 28);
}

static enum store_status queues_put(struct sqlstore *st, const char *node_id,
                                    const struct store_facts *f)
{
	size_t n = f->n_lq < STORE_LISTENQ_MAX ? f->n_lq : STORE_LISTENQ_MAX;
	sqlite3_stmt *s;

	for (size_t i = 0; i < n; i++) {
		const struct store_listenq *q = &f->lq[i];

		s = store_prepare_cached(st, queue_upsert);
		if (!s)
			return STORE_ERROR;
		text(s, 1, node_id);
		i64(s, 2, (int64_t)i);
		i64(s, 3, q->port);
		text(s, 4, q->role);
		i64(s, 5, q->key_service);
		i64(s, 6, q->listening);
		i64(s, 7, q->queued);
		i64(s, 8, q->backlog);
		i64(s, 9, (int64_t)q->dropped_recently);
		i64(s, 10, q->window_s);
		if (sq_done(st, s, "store a listen queue") != STORE_OK)
			return STORE_ERROR;
	}
	s = store_prepare_cached(st, queue_trim);
	if (s) {
		text(s, 1, node_id);
		i64(s, 2, (int64_t)n);
	}
	return sq_done(st, s, "trim the listen queues");
}

static enum store_status modes_put(struct sqlstore *st, const char *node_id,
                                   const struct store_facts *f)
{
	for (int k = 1; k < KMA_STEP_KIND_COUNT; k++) {
		const struct store_step_mode *m = &f->modes[k];
		sqlite3_stmt *s = store_prepare_cached(st, m->set ? mode_upsert : mode_delete);

		if (!s)
			return STORE_ERROR;
		text(s, 1, node_id);
		text(s, 2, kma_step_kind_id((enum kma_step_kind)k));
		if (m->set) {
			i64(s, 3, m->manual);
			text(s, 4, m->instruction);
		}
		if (sq_done(st, s, "store a step's mode") != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

enum store_status sq_facts_delete(struct sqlstore *st, const char *node_id)
{
	for (size_t i = 0; i < sizeof(node_deletes) / sizeof(node_deletes[0]); i++) {
		sqlite3_stmt *s = store_prepare_cached(st, node_deletes[i]);

		if (s)
			text(s, 1, node_id);
		if (sq_done(st, s, "delete a node's facts") != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

enum store_status sq_facts_put(struct sqlstore *st, const char *node_id,
                               const struct store_facts *f)
{
	sqlite3_stmt *s;

	if (!f)
		return sq_facts_delete(st, node_id);
	s = store_prepare_cached(st, fact_upsert);
	if (s)
		fact_bind(s, node_id, f);
	if (sq_done(st, s, "store a report's facts") != STORE_OK)
		return STORE_ERROR;
	if (queues_put(st, node_id, f) != STORE_OK)
		return STORE_ERROR;
	return modes_put(st, node_id, f);
}

static enum store_status queues_get(struct sqlstore *st, const char *node_id, struct store_facts *f)
{
	sqlite3_stmt *s = store_prepare_cached(st, queue_select);
	int rc;

	if (!s)
		return STORE_ERROR;
	text(s, 1, node_id);
	i64(s, 2, STORE_LISTENQ_MAX);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_listenq *q = &f->lq[f->n_lq++];

		q->port = (uint32_t)sqlite3_column_int64(s, 0);
		sq_col(s, 1, q->role, sizeof(q->role));
		q->key_service = sqlite3_column_int(s, 2) != 0;
		q->listening = sqlite3_column_int(s, 3) != 0;
		q->queued = (uint32_t)sqlite3_column_int64(s, 4);
		q->backlog = (uint32_t)sqlite3_column_int64(s, 5);
		q->dropped_recently = (uint64_t)sqlite3_column_int64(s, 6);
		q->window_s = (uint32_t)sqlite3_column_int64(s, 7);
	}
	return rows_end(st, s, rc, "read the listen queues");
}

static enum store_status modes_get(struct sqlstore *st, const char *node_id, struct store_facts *f)
{
	sqlite3_stmt *s = store_prepare_cached(st, mode_select);
	int rc;

	if (!s)
		return STORE_ERROR;
	text(s, 1, node_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		enum kma_step_kind k =
		    kma_step_kind_from_id((const char *)sqlite3_column_text(s, 0));
		struct store_step_mode *m = &f->modes[k];

		if (k == KMA_STEP_KIND_UNSPECIFIED)
			continue; /* a kind this build does not know: automatic, as unnamed */
		m->set = true;
		m->manual = sqlite3_column_int(s, 1) != 0;
		sq_col(s, 2, m->instruction, sizeof(m->instruction));
	}
	return rows_end(st, s, rc, "read the steps' modes");
}

enum store_status sq_facts_get(struct store *base, const char *node_id, struct store_facts *out)
{
	struct sqlstore *st = sq(base);
	sqlite3_stmt *s = store_prepare_cached(st, fact_select);
	enum store_status ret;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s)
		return STORE_ERROR;
	text(s, 1, node_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_count(s) == FACT_N_COLUMNS) {
		fact_read(s, out);
		ret = STORE_OK;
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOT_FOUND : sq_fail(st, "read a report's facts");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (ret != STORE_OK)
		return ret;
	if (queues_get(st, node_id, out) != STORE_OK || modes_get(st, node_id, out) != STORE_OK)
		return STORE_ERROR;
	return STORE_OK;
}
