#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define STEP_COLUMNS                                                                               \
	"plan_id, idx, kind, node_id, reason, manual, instruction, state, phase, started_at,"      \
	" phase_at, finished_at, stable_since, detail, directive_id, fencing, boot_before,"        \
	" table_version, secret, confirmed_by, predicate, pred_kind, pred_serial, pred_name"

/* Reports ask for a directive every time: prepared once per store, reset after use. */
static sqlite3_stmt *prepare(struct sqlstore *st, const char *sql)
{
	return store_prepare_cached(st, sql);
}

static void text(sqlite3_stmt *s, int idx, const char *t)
{
	(void)sqlite3_bind_text(s, idx, t ? t : "", -1, SQLITE_TRANSIENT);
}

enum store_status sq_tx_begin(struct store *base)
{
	struct sqlstore *st = sq(base);

	store_write_enter(st);
	if (sq_done(st, prepare(st, "BEGIN IMMEDIATE"), "begin") == STORE_OK)
		return STORE_OK;
	store_write_leave(st);
	return STORE_ERROR;
}

enum store_status sq_tx_end(struct store *base, bool ok)
{
	struct sqlstore *st = sq(base);

	enum store_status ret = STORE_ERROR;

	if (sqlite3_get_autocommit(sq_db(st)))
		goto exit; /* SQLite rolled back already */
	if (ok && sq_done(st, prepare(st, "COMMIT"), "commit") == STORE_OK) {
		ret = STORE_OK;
		goto exit;
	}
	if (!sqlite3_get_autocommit(sq_db(st)))
		(void)sq_done(st, prepare(st, "ROLLBACK"), "rollback");
exit:
	store_write_leave(st);
	return ret;
}

enum store_status sq_journal_add(struct store *base, int64_t plan_id, int step, const char *actor,
                                 const char *event, const char *detail, int64_t now)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = prepare(st, "INSERT INTO journal(at, plan_id, step, actor, event, detail)"
	                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, plan_id);
	sqlite3_bind_int(s, 3, step);
	text(s, 4, actor);
	text(s, 5, event);
	text(s, 6, detail);
	log_info("journal: plan %lld step %d %s by %s: %s", (long long)plan_id, step, event, actor,
	         detail);
	return sq_done(st, s, "append to the journal");
}

static void step_bind(sqlite3_stmt *s, const struct store_step *p)
{
	sqlite3_bind_int64(s, 1, p->plan_id);
	sqlite3_bind_int(s, 2, p->idx);
	text(s, 3, kma_step_kind_id(p->kind));
	text(s, 4, p->node_id);
	text(s, 5, p->reason);
	sqlite3_bind_int(s, 6, p->manual);
	text(s, 7, p->instruction);
	text(s, 8, kma_step_state_id(p->state));
	text(s, 9, kma_step_phase_id(p->phase));
	sqlite3_bind_int64(s, 10, p->started_at);
	sqlite3_bind_int64(s, 11, p->phase_at);
	sqlite3_bind_int64(s, 12, p->finished_at);
	sqlite3_bind_int64(s, 13, p->stable_since);
	text(s, 14, p->detail);
	text(s, 15, p->directive_id);
	sqlite3_bind_int64(s, 16, (sqlite3_int64)p->fencing);
	text(s, 17, p->boot_before);
	sqlite3_bind_int64(s, 18, (sqlite3_int64)p->table_version);
	text(s, 19, p->secret);
	text(s, 20, p->confirmed_by);
	text(s, 21, p->predicate);
	text(s, 22, p->pred_kind ? kma_pattern_id(p->pred_kind) : "");
	text(s, 23, p->pred_serial);
	text(s, 24, p->pred_name);
}

static void step_read(sqlite3_stmt *s, void *out)
{
	struct store_step *p = out;

	memset(p, 0, sizeof(*p));
	p->plan_id = sqlite3_column_int64(s, 0);
	p->idx = sqlite3_column_int(s, 1);
	p->kind = kma_step_kind_from_id((const char *)sqlite3_column_text(s, 2));
	sq_col(s, 3, p->node_id, sizeof(p->node_id));
	sq_col(s, 4, p->reason, sizeof(p->reason));
	p->manual = sqlite3_column_int(s, 5) != 0;
	sq_col(s, 6, p->instruction, sizeof(p->instruction));
	p->state = kma_step_state_from_id((const char *)sqlite3_column_text(s, 7));
	p->phase = kma_step_phase_from_id((const char *)sqlite3_column_text(s, 8));
	p->started_at = sqlite3_column_int64(s, 9);
	p->phase_at = sqlite3_column_int64(s, 10);
	p->finished_at = sqlite3_column_int64(s, 11);
	p->stable_since = sqlite3_column_int64(s, 12);
	sq_col(s, 13, p->detail, sizeof(p->detail));
	sq_col(s, 14, p->directive_id, sizeof(p->directive_id));
	p->fencing = (uint64_t)sqlite3_column_int64(s, 15);
	sq_col(s, 16, p->boot_before, sizeof(p->boot_before));
	p->table_version = (uint64_t)sqlite3_column_int64(s, 17);
	sq_col(s, 18, p->secret, sizeof(p->secret));
	sq_col(s, 19, p->confirmed_by, sizeof(p->confirmed_by));
	sq_col(s, 20, p->predicate, sizeof(p->predicate));
	p->pred_kind = kma_pattern_from_id((const char *)sqlite3_column_text(s, 21));
	sq_col(s, 22, p->pred_serial, sizeof(p->pred_serial));
	sq_col(s, 23, p->pred_name, sizeof(p->pred_name));
}

enum store_status sq_step_put(struct store *base, const struct store_step *p)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = prepare(st, "INSERT OR REPLACE INTO steps(" STEP_COLUMNS ") VALUES (?1,"
	                              " ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	                              " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)");

	if (!s)
		return STORE_ERROR;
	step_bind(s, p);
	return sq_done(st, s, "write a step");
}

enum store_status sq_plan_create(struct store *base, struct store_step *steps, size_t n,
                                 const char *who, int64_t now, int64_t *id)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s;
	char what[64];
	int rc;

	s = prepare(st, "SELECT id FROM plans WHERE state IN ('running', 'paused')");
	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return STORE_EXISTS;
	if (rc != SQLITE_DONE)
		return sq_fail(st, "look for an unfinished plan");
	s = prepare(st, "INSERT INTO plans(state, created_by, created_at, updated_at, detail)"
	                " VALUES ('running', ?1, ?2, ?2, '')");
	if (!s)
		return STORE_ERROR;
	text(s, 1, who);
	sqlite3_bind_int64(s, 2, now);
	if (sq_done(st, s, "create a plan") != STORE_OK)
		return STORE_ERROR;
	*id = sqlite3_last_insert_rowid(sq_db(st));
	for (size_t i = 0; i < n; i++) {
		steps[i].plan_id = *id;
		steps[i].idx = (int)i + 1;
		if (sq_step_put(sq_base(st), &steps[i]) != STORE_OK)
			return STORE_ERROR;
	}
	snprintf(what, sizeof(what), "%zu step%s", n, n == 1 ? "" : "s");
	return sq_journal_add(sq_base(st), *id, 0, who, "created", what, now);
}

enum store_status sq_plan_latest(struct store *base, struct store_plan *plan,
                                 struct store_step **steps, size_t *n)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s;
	void *arr = NULL;
	enum store_status ret;
	int rc;

	*steps = NULL;
	*n = 0;
	s = prepare(st, "SELECT id, state, created_by, created_at, updated_at, detail FROM plans"
	                " ORDER BY id DESC LIMIT 1");
	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(plan, 0, sizeof(*plan));
		plan->id = sqlite3_column_int64(s, 0);
		plan->state = kma_plan_state_from_id((const char *)sqlite3_column_text(s, 1));
		sq_col(s, 2, plan->created_by, sizeof(plan->created_by));
		plan->created_at = sqlite3_column_int64(s, 3);
		plan->updated_at = sqlite3_column_int64(s, 4);
		sq_col(s, 5, plan->detail, sizeof(plan->detail));
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return STORE_NOT_FOUND;
	if (rc != SQLITE_ROW)
		return sq_fail(st, "read the latest plan");
	s = prepare(st, "SELECT " STEP_COLUMNS " FROM steps WHERE plan_id = ?1 ORDER BY idx");
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, plan->id);
	ret = store_collect(st, s, sizeof(**steps), &arr, n, step_read, "read a plan's steps");
	sqlite3_reset(s);
	if (ret == STORE_OK)
		*steps = arr;
	return ret;
}

enum store_status sq_plan_set_state(struct store *base, int64_t id, enum kma_plan_state state,
                                    const char *detail, int64_t now)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s =
	    prepare(st, "UPDATE plans SET state = ?2, detail = ?3, updated_at = ?4 WHERE id = ?1");

	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, id);
	text(s, 2, kma_plan_state_id(state));
	text(s, 3, detail);
	sqlite3_bind_int64(s, 4, now);
	return sq_done(st, s, "set a plan's state");
}

static void journal_read(sqlite3_stmt *s, void *out)
{
	struct store_journal_entry *e = out;

	e->id = sqlite3_column_int64(s, 0);
	e->at = sqlite3_column_int64(s, 1);
	e->plan_id = sqlite3_column_int64(s, 2);
	e->step = sqlite3_column_int(s, 3);
	sq_col(s, 4, e->actor, sizeof(e->actor));
	sq_col(s, 5, e->event, sizeof(e->event));
	sq_col(s, 6, e->detail, sizeof(e->detail));
}

enum store_status sq_journal_list(struct store *base, int64_t plan_id,
                                  struct store_journal_entry **out, size_t *n)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s =
	    prepare(st, "SELECT id, at, plan_id, step, actor, event, detail FROM journal"
	                " WHERE ?1 = 0 OR plan_id = ?1 ORDER BY id");
	void *arr = NULL;
	enum store_status ret;

	*out = NULL;
	*n = 0;
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, plan_id);
	ret = store_collect(st, s, sizeof(**out), &arr, n, journal_read, "read the journal");
	sqlite3_reset(s);
	if (ret == STORE_OK)
		*out = arr;
	return ret;
}

static enum store_status lease_read(struct sqlstore *st, struct store_lease *out)
{
	sqlite3_stmt *s = prepare(st, "SELECT id, node_id, plan_id, step, fencing, expires_at, why"
	                              " FROM lease WHERE one = 1");
	int rc;

	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		sq_col(s, 0, out->id, sizeof(out->id));
		sq_col(s, 1, out->node_id, sizeof(out->node_id));
		out->plan_id = sqlite3_column_int64(s, 2);
		out->step = sqlite3_column_int(s, 3);
		out->fencing = (uint64_t)sqlite3_column_int64(s, 4);
		out->expires_at = sqlite3_column_int64(s, 5);
		sq_col(s, 6, out->why, sizeof(out->why));
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return STORE_NOT_FOUND;
	return rc == SQLITE_ROW ? STORE_OK : sq_fail(st, "read the lease");
}

enum store_status sq_lease_get(struct store *base, int64_t now, struct store_lease *out)
{
	struct sqlstore *st = sq(base);

	enum store_status ret = lease_read(st, out);

	if (ret == STORE_OK && out->expires_at <= now)
		return STORE_NOT_FOUND;
	return ret;
}

enum store_status sq_lease_take(struct store *base, const char *node_id, int64_t plan_id, int step,
                                const char *why, int64_t ttl, int64_t now, struct store_lease *out)
{
	struct sqlstore *st = sq(base);

	enum store_status ret = lease_read(st, out);
	sqlite3_stmt *s;

	if (ret == STORE_ERROR)
		return ret;
	if (ret == STORE_OK && out->plan_id == plan_id && out->step == step &&
	    strcmp(out->node_id, node_id) == 0) {
		/* Ours: renew, same fencing token (the directive out already carries it). */
		s = prepare(st, "UPDATE lease SET expires_at = ?1 WHERE one = 1");
		if (!s)
			return STORE_ERROR;
		sqlite3_bind_int64(s, 1, now + ttl);
		out->expires_at = now + ttl;
		return sq_done(st, s, "renew the lease");
	}
	if (ret == STORE_OK && out->expires_at > now)
		return STORE_EXISTS;
	if (sq_done(st,
	            prepare(st, "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
	                        " WHERE key = 'fencing_token'"),
	            "next fencing token") != STORE_OK)
		return STORE_ERROR;
	s = prepare(st, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fencing_token'");
	if (!s || sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return sq_fail(st, "read the fencing token");
	}
	memset(out, 0, sizeof(*out));
	out->fencing = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	snprintf(out->id, sizeof(out->id), "lease-%llu", (unsigned long long)out->fencing);
	snprintf(out->node_id, sizeof(out->node_id), "%s", node_id);
	snprintf(out->why, sizeof(out->why), "%s", why);
	out->plan_id = plan_id;
	out->step = step;
	out->expires_at = now + ttl;
	s = prepare(st, "INSERT OR REPLACE INTO lease(one, id, node_id, plan_id, step, fencing,"
	                " expires_at, why) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (!s)
		return STORE_ERROR;
	text(s, 1, out->id);
	text(s, 2, out->node_id);
	sqlite3_bind_int64(s, 3, plan_id);
	sqlite3_bind_int(s, 4, step);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)out->fencing);
	sqlite3_bind_int64(s, 6, out->expires_at);
	text(s, 7, why);
	return sq_done(st, s, "take the lease");
}

enum store_status sq_lease_release(struct store *base)
{
	struct sqlstore *st = sq(base);

	return sq_done(st, prepare(st, "DELETE FROM lease"), "release the lease");
}

enum store_status sq_directive_for(struct store *base, const char *node_id, struct store_step *step,
                                   struct store_lease *lease)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = prepare(st, "SELECT " STEP_COLUMNS " FROM steps WHERE node_id = ?1 AND"
	                              " state = 'active' AND phase = 'directive' AND plan_id ="
	                              " (SELECT id FROM plans WHERE state = 'running')");
	int rc;

	if (!s)
		return STORE_ERROR;
	text(s, 1, node_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		step_read(s, step);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return STORE_NOT_FOUND;
	if (rc != SQLITE_ROW)
		return sq_fail(st, "look for a directive");
	if (lease_read(st, lease) != STORE_OK || lease->plan_id != step->plan_id ||
	    lease->step != step->idx)
		return STORE_NOT_FOUND; /* no lease, no directive */
	return STORE_OK;
}

enum store_status sq_plan_token(struct store *base, int64_t plan_id, const char *node_id, char *buf,
                                size_t size)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = prepare(st, "SELECT secret FROM steps WHERE plan_id = ?1 AND node_id = ?2"
	                              " AND kind = 'add_entry' AND secret != ''");
	int rc;

	buf[0] = '\0';
	if (!s)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, plan_id);
	text(s, 2, node_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sq_col(s, 0, buf, size);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return STORE_NOT_FOUND;
	return rc == SQLITE_ROW ? STORE_OK : sq_fail(st, "read an enrolment token");
}

bool sq_plan_unfinished(struct store *base)
{
	struct sqlstore *st = sq(base);

	sqlite3_stmt *s = prepare(st, "SELECT 1 FROM plans WHERE state IN ('running', 'paused')");
	bool yes;

	if (!s)
		return false;
	yes = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_reset(s);
	return yes;
}
