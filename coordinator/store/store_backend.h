#ifndef KMA_COORD_STORE_BACKEND_H
#define KMA_COORD_STORE_BACKEND_H

/*
 * For a store's backends, not for its users: the core calls the functions of store.h and
 * store_plan.h, which call the backend's operations through this table (as the agent's HAL
 * calls its backends, hal/hal.h). An operation's contract is its function's in store.h or
 * store_plan.h; the backend's handle begins with a struct store whose ops point to its table.
 *
 * Backends: SQLite (store_sqlite.h), the default and only one today.
 */

#include "store.h"
#include "store_plan.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *st);
	void (*defer_checkpoints)(struct store *st);
	enum store_status (*checkpoint)(struct store *st);
	enum store_status (*node_add)(struct store *st, const struct store_node *n, int64_t now);
	enum store_status (*node_add_with_token)(struct store *st, const struct store_node *n,
	                                         int64_t now, const char *token_sha256,
	                                         int64_t expires_at);
	enum store_status (*token_issue)(struct store *st, const char *node_id,
	                                 const char *token_sha256, int64_t expires_at);
	enum store_status (*token_check)(struct store *st, const char *token_sha256,
	                                 const char *node_id, int64_t now);
	enum store_status (*token_redeem)(struct store *st, const char *token_sha256,
	                                  const char *node_id, const char *serial,
	                                  const unsigned char *cert_der, size_t cert_len,
	                                  int64_t now);
	enum store_status (*token_issued)(struct store *st, const char *token_sha256,
	                                  const char *node_id, int64_t now, char *serial,
	                                  unsigned char **der, size_t *len);
	enum store_status (*node_delete)(struct store *st, const char *node_id);
	enum store_status (*node_set_serial)(struct store *st, const char *node_id,
	                                     const char *serial, const char *how, int64_t now);
	enum store_status (*node_get)(struct store *st, const char *node_id,
	                              struct store_node *out);
	enum store_status (*nodes_list)(struct store *st, struct store_node **out, size_t *count);
	enum store_status (*enrolments)(struct store *st, const char *node_id,
	                                struct store_enrolment **out, size_t *count);
	enum store_status (*revoked)(struct store *st, struct store_revoked **out, size_t *count);
	enum store_status (*peer_table_version)(struct store *st, uint64_t *version);
	enum store_status (*reports_begin)(struct store *st);
	enum store_status (*reports_commit)(struct store *st);
	void (*reports_abort)(struct store *st);
	enum store_status (*report_put)(struct store *st, const struct store_report *r,
	                                const struct store_obs_in *obs, size_t n_obs);
	enum store_status (*node_set_pending)(struct store *st, const char *node_id,
	                                      const char *serial);
	enum store_status (*attempt_record)(struct store *st, const char *node_id,
	                                    const char *serial, const char *address, bool known,
	                                    int64_t now);
	enum store_status (*attempts_list)(struct store *st, struct store_attempt **out,
	                                   size_t *count);
	enum store_status (*facts_get)(struct store *st, const char *node_id,
	                               struct store_facts *out);
	enum store_status (*observations_list)(struct store *st, struct store_observation **out,
	                                       size_t *count);
	enum store_status (*reject_count)(struct store *st, int status);
	enum store_status (*rejects_get)(struct store *st, int status, uint64_t *count);
	enum store_status (*tx_begin)(struct store *st);
	enum store_status (*tx_end)(struct store *st, bool ok);
	enum store_status (*plan_create)(struct store *st, struct store_step *steps, size_t n,
	                                 const char *who, int64_t now, int64_t *id);
	enum store_status (*plan_latest)(struct store *st, struct store_plan *plan,
	                                 struct store_step **steps, size_t *n);
	enum store_status (*plan_set_state)(struct store *st, int64_t id, enum kma_plan_state state,
	                                    const char *detail, int64_t now);
	enum store_status (*step_put)(struct store *st, const struct store_step *s);
	enum store_status (*journal_add)(struct store *st, int64_t plan_id, int step,
	                                 const char *actor, const char *event, const char *detail,
	                                 int64_t now);
	enum store_status (*journal_list)(struct store *st, int64_t plan_id,
	                                  struct store_journal_entry **out, size_t *n);
	enum store_status (*lease_take)(struct store *st, const char *node_id, int64_t plan_id,
	                                int step, const char *why, int64_t ttl, int64_t now,
	                                struct store_lease *out);
	enum store_status (*lease_get)(struct store *st, int64_t now, struct store_lease *out);
	enum store_status (*lease_release)(struct store *st);
	enum store_status (*directive_for)(struct store *st, const char *node_id,
	                                   struct store_step *step, struct store_lease *lease);
	bool (*plan_unfinished)(struct store *st);
	enum store_status (*plan_token)(struct store *st, int64_t plan_id, const char *node_id,
	                                char *buf, size_t size);
};

struct store {
	const struct store_ops *ops;
};

#endif
