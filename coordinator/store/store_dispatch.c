/*
 * The functions of store.h and store_plan.h: each calls its backend's operation
 * (store_backend.h); the backend is chosen when the store is opened.
 */

#include "store.h"

#include "log.h"
#include "store_backend.h"
#include "store_plan.h"
#include "store_replica.h"
#include "store_sqlite.h"

enum store_status store_open(const char *path, struct store **out)
{
	enum store_status st = store_sqlite_open(path, out);

	/* The etcd store: the SQLite file is the active instance's replica (store_replica.h). */
	if (st == STORE_OK && store_replica_on() && !store_replica_attach(*out)) {
		log_err("store: this build has no etcd store (SQLite without preupdate hook)");
		store_close(*out);
		*out = NULL;
		return STORE_ERROR;
	}
	return st;
}

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

void store_defer_checkpoints(struct store *st)
{
	st->ops->defer_checkpoints(st);
}

enum store_status store_checkpoint(struct store *st)
{
	return st->ops->checkpoint(st);
}

enum store_status store_node_add(struct store *st, const struct store_node *n, int64_t now)
{
	return st->ops->node_add(st, n, now);
}

enum store_status store_node_add_with_token(struct store *st, const struct store_node *n,
                                            int64_t now, const char *token_sha256,
                                            int64_t expires_at)
{
	return st->ops->node_add_with_token(st, n, now, token_sha256, expires_at);
}

enum store_status store_token_issue(struct store *st, const char *node_id, const char *token_sha256,
                                    int64_t expires_at)
{
	return st->ops->token_issue(st, node_id, token_sha256, expires_at);
}

enum store_status store_token_check(struct store *st, const char *token_sha256, const char *node_id,
                                    int64_t now)
{
	return st->ops->token_check(st, token_sha256, node_id, now);
}

enum store_status store_token_redeem(struct store *st, const char *token_sha256,
                                     const char *node_id, const char *serial,
                                     const unsigned char *cert_der, size_t cert_len, int64_t now)
{
	return st->ops->token_redeem(st, token_sha256, node_id, serial, cert_der, cert_len, now);
}

enum store_status store_token_issued(struct store *st, const char *token_sha256,
                                     const char *node_id, int64_t now, char *serial,
                                     unsigned char **der, size_t *len)
{
	return st->ops->token_issued(st, token_sha256, node_id, now, serial, der, len);
}

enum store_status store_node_delete(struct store *st, const char *node_id)
{
	return st->ops->node_delete(st, node_id);
}

enum store_status store_node_set_serial(struct store *st, const char *node_id, const char *serial,
                                        const char *how, int64_t now)
{
	return st->ops->node_set_serial(st, node_id, serial, how, now);
}

enum store_status store_node_get(struct store *st, const char *node_id, struct store_node *out)
{
	return st->ops->node_get(st, node_id, out);
}

enum store_status store_nodes_list(struct store *st, struct store_node **out, size_t *count)
{
	return st->ops->nodes_list(st, out, count);
}

enum store_status store_enrolments(struct store *st, const char *node_id,
                                   struct store_enrolment **out, size_t *count)
{
	return st->ops->enrolments(st, node_id, out, count);
}

enum store_status store_revoked(struct store *st, struct store_revoked **out, size_t *count)
{
	return st->ops->revoked(st, out, count);
}

enum store_status store_peer_table_version(struct store *st, uint64_t *version)
{
	return st->ops->peer_table_version(st, version);
}

enum store_status store_reports_begin(struct store *st)
{
	return st->ops->reports_begin(st);
}

enum store_status store_reports_commit(struct store *st)
{
	return st->ops->reports_commit(st);
}

void store_reports_abort(struct store *st)
{
	st->ops->reports_abort(st);
}

enum store_status store_report_put(struct store *st, const struct store_report *r,
                                   const struct store_obs_in *obs, size_t n_obs)
{
	return st->ops->report_put(st, r, obs, n_obs);
}

enum store_status store_node_set_pending(struct store *st, const char *node_id, const char *serial)
{
	return st->ops->node_set_pending(st, node_id, serial);
}

enum store_status store_attempt_record(struct store *st, const char *node_id, const char *serial,
                                       const char *address, bool known, int64_t now)
{
	return st->ops->attempt_record(st, node_id, serial, address, known, now);
}

enum store_status store_attempts_list(struct store *st, struct store_attempt **out, size_t *count)
{
	return st->ops->attempts_list(st, out, count);
}

enum store_status store_facts_get(struct store *st, const char *node_id, struct store_facts *out)
{
	return st->ops->facts_get(st, node_id, out);
}

enum store_status store_observations_list(struct store *st, struct store_observation **out,
                                          size_t *count)
{
	return st->ops->observations_list(st, out, count);
}

enum store_status store_reject_count(struct store *st, int status)
{
	return st->ops->reject_count(st, status);
}

enum store_status store_rejects_get(struct store *st, int status, uint64_t *count)
{
	return st->ops->rejects_get(st, status, count);
}

enum store_status store_tx_begin(struct store *st)
{
	return st->ops->tx_begin(st);
}

enum store_status store_tx_end(struct store *st, bool ok)
{
	return st->ops->tx_end(st, ok);
}

enum store_status store_plan_create(struct store *st, struct store_step *steps, size_t n,
                                    const char *who, int64_t now, int64_t *id)
{
	return st->ops->plan_create(st, steps, n, who, now, id);
}

enum store_status store_plan_latest(struct store *st, struct store_plan *plan,
                                    struct store_step **steps, size_t *n)
{
	return st->ops->plan_latest(st, plan, steps, n);
}

enum store_status store_plan_set_state(struct store *st, int64_t id, enum kma_plan_state state,
                                       const char *detail, int64_t now)
{
	return st->ops->plan_set_state(st, id, state, detail, now);
}

enum store_status store_step_put(struct store *st, const struct store_step *s)
{
	return st->ops->step_put(st, s);
}

enum store_status store_journal_add(struct store *st, int64_t plan_id, int step, const char *actor,
                                    const char *event, const char *detail, int64_t now)
{
	return st->ops->journal_add(st, plan_id, step, actor, event, detail, now);
}

enum store_status store_journal_list(struct store *st, int64_t plan_id,
                                     struct store_journal_entry **out, size_t *n)
{
	return st->ops->journal_list(st, plan_id, out, n);
}

enum store_status store_lease_take(struct store *st, const char *node_id, int64_t plan_id, int step,
                                   const char *why, int64_t ttl, int64_t now,
                                   struct store_lease *out)
{
	return st->ops->lease_take(st, node_id, plan_id, step, why, ttl, now, out);
}

enum store_status store_lease_get(struct store *st, int64_t now, struct store_lease *out)
{
	return st->ops->lease_get(st, now, out);
}

enum store_status store_lease_release(struct store *st)
{
	return st->ops->lease_release(st);
}

enum store_status store_directive_for(struct store *st, const char *node_id,
                                      struct store_step *step, struct store_lease *lease)
{
	return st->ops->directive_for(st, node_id, step, lease);
}

bool store_plan_unfinished(struct store *st)
{
	return st->ops->plan_unfinished(st);
}

enum store_status store_plan_token(struct store *st, int64_t plan_id, const char *node_id,
                                   char *buf, size_t size)
{
	return st->ops->plan_token(st, plan_id, node_id, buf, size);
}
