#include "engine.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"
#include "enroll.h"
#include "log.h"
#include "plantoken.h"
#include "store_plan.h"

#define ACTOR "coordinator"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void engine_lock(void)
{
	pthread_mutex_lock(&lock);
}

void engine_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

/* ---- the snapshot ---- */

static void from_facts(const struct store_facts *f, struct plan_node *p)
{
	snprintf(p->boot_id, sizeof(p->boot_id), "%s", f->boot_id);
	p->health_known = f->health_known;
	p->healthy = f->healthy;
	snprintf(p->health_detail, sizeof(p->health_detail), "%s", f->health_detail);
	if (f->has_cert)
		snprintf(p->cert_serial, sizeof(p->cert_serial), "%s", f->cert_serial);
	p->table_version = f->table_version;
	snprintf(p->last_directive, sizeof(p->last_directive), "%s", f->last_directive);
	p->last_ok = f->last_ok;
	snprintf(p->last_detail, sizeof(p->last_detail), "%s", f->last_detail);
	p->last_done_at = f->last_done_at;
	p->fencing = f->fencing;
	for (int k = 0; k < KMA_STEP_KIND_COUNT; k++) {
		if (!f->modes[k].set)
			continue;
		p->modes[k].manual = f->modes[k].manual;
		snprintf(p->modes[k].instruction, sizeof(p->modes[k].instruction), "%s",
		         f->modes[k].instruction);
	}
}

int engine_view_load(struct store *st, int64_t now, int64_t stale_after, struct plan_view *v)
{
	struct store_node *entries = NULL;
	struct store_observation *obs = NULL;
	struct store_attempt *attempts = NULL;
	struct plan_node *nodes = NULL;
	struct diag_self *self = NULL;
	struct store_facts *facts = NULL;
	size_t n = 0, n_obs = 0, n_attempts = 0;

	memset(v, 0, sizeof(*v));
	if (store_nodes_list(st, &entries, &n) != STORE_OK ||
	    store_observations_list(st, &obs, &n_obs) != STORE_OK ||
	    store_attempts_list(st, &attempts, &n_attempts) != STORE_OK ||
	    store_peer_table_version(st, &v->table_version) != STORE_OK ||
	    !(nodes = calloc(n ? n : 1, sizeof(*nodes))) ||
	    !(self = calloc(n ? n : 1, sizeof(*self))) || !(facts = malloc(sizeof(*facts))))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		nodes[i].entry = entries[i];
		if (!entries[i].has_report) {
			diagnose_self_from_facts(&entries[i], NULL, &self[i]);
			continue;
		}
		/* A view without a node's facts would take its manual steps for automatic. */
		if (store_facts_get(st, entries[i].node_id, facts) != STORE_OK) {
			log_err("recovery: what the last report of %s said is not known (yet)",
			        entries[i].node_id);
			goto fail;
		}
		diagnose_self_from_facts(&entries[i], facts, &self[i]);
		from_facts(facts, &nodes[i]);
	}
	free(facts);
	v->nodes = nodes;
	v->n = n;
	v->obs = obs;
	v->n_obs = n_obs;
	v->now = now;
	v->stale_after = stale_after;
	v->diag = (struct diag_input){
	    .nodes = entries,
	    .self = self,
	    .n_nodes = n,
	    .obs = obs,
	    .n_obs = n_obs,
	    .attempts = attempts,
	    .n_attempts = n_attempts,
	    .now = now,
	    .stale_after = stale_after,
	};
	diagnose_input_ca(&v->diag);
	return 0;
fail:
	log_err("recovery: cannot read the cluster's state");
	free(facts);
	free(entries);
	free(obs);
	free(attempts);
	free(nodes);
	free(self);
	return -1;
}

void engine_view_free(struct plan_view *v)
{
	free((void *)v->nodes);
	free((void *)v->obs);
	free((void *)v->diag.nodes);
	free((void *)v->diag.self);
	free((void *)v->diag.attempts);
	memset(v, 0, sizeof(*v));
}

/* ---- one tick ---- */

struct run {
	struct store *st;
	const struct engine_params *p;
	int64_t now;
	struct store_plan plan;
	struct store_step *steps;
	size_t n_steps;
	struct plan_view v;
	bool *target;
};

enum { KEEP_LEASE, RELEASE_LEASE };

/*
 * One transaction: the step, its journal entry (when event is set), the plan's new state
 * (unless UNSPECIFIED) and the lease's release. True when committed.
 */
static bool commit(struct run *r, const struct store_step *s, const char *event, const char *detail,
                   enum kma_plan_state plan_state, int lease)
{
	bool ok;

	if (store_tx_begin(r->st) != STORE_OK)
		return false;
	ok = store_step_put(r->st, s) == STORE_OK &&
	     (plan_state == KMA_PLAN_STATE_UNSPECIFIED ||
	      store_plan_set_state(r->st, r->plan.id, plan_state, detail, r->now) == STORE_OK) &&
	     (!event || store_journal_add(r->st, s->plan_id, s->idx, ACTOR, event, detail,
	                                  r->now) == STORE_OK) &&
	     (lease == KEEP_LEASE || store_lease_release(r->st) == STORE_OK);
	return store_tx_end(r->st, ok) == STORE_OK;
}

/* Saves a step and, when event is set, its journal entry. */
static bool save(struct run *r, struct store_step *s, const char *event, const char *f, ...)
    __attribute__((format(printf, 4, 5)));

static bool save(struct run *r, struct store_step *s, const char *event, const char *f, ...)
{
	char detail[STORE_PLAN_TEXT] = "";

	if (f) {
		va_list ap;

		va_start(ap, f);
		vsnprintf(detail, sizeof(detail), f, ap);
		va_end(ap);
	}
	return commit(r, s, event, detail, KMA_PLAN_STATE_UNSPECIFIED, KEEP_LEASE);
}

static void phase(struct store_step *s, enum kma_step_phase ph, int64_t now)
{
	s->phase = ph;
	s->phase_at = now;
	s->stable_since = 0;
	s->detail[0] = '\0';
}

static void pause_plan(struct run *r, struct store_step *s, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

/* A failed gate or a refused directive: the plan stops and says why; nothing is retried. */
static void pause_plan(struct run *r, struct store_step *s, const char *f, ...)
{
	char detail[STORE_PLAN_TEXT];
	va_list ap;

	va_start(ap, f);
	vsnprintf(detail, sizeof(detail), f, ap);
	va_end(ap);
	snprintf(s->detail, sizeof(s->detail), "%s", detail);
	if (commit(r, s, "paused", detail, KMA_PLAN_STATE_PAUSED, KEEP_LEASE))
		log_warn("recovery: plan %lld paused at step %d: %s", (long long)r->plan.id, s->idx,
		         detail);
}

/* A gate is not met yet: record what is awaited (journalled once), pause on timeout. */
static void wait_for(struct run *r, struct store_step *s, const char *why)
{
	bool first = s->detail[0] == '\0';

	if (r->now - s->phase_at > r->p->step_timeout_s) {
		pause_plan(r, s, "step %d (%s %s): %s for more than %lld s: %s", s->idx,
		           kma_step_kind_id(s->kind), s->node_id,
		           s->phase == KMA_STEP_PHASE_GATE ? "gate before the step not met"
		                                           : "not done",
		           (long long)r->p->step_timeout_s, why);
		return;
	}
	if (strcmp(s->detail, why) == 0 && s->stable_since == 0)
		return;
	snprintf(s->detail, sizeof(s->detail), "%s", why);
	s->stable_since = 0;
	(void)save(r, s, first ? "waiting" : NULL, "%s", why);
}

static int find_step(struct run *r, enum kma_step_kind kind, const char *node)
{
	for (size_t i = 0; i < r->n_steps; i++)
		if (r->steps[i].kind == kind && strcmp(r->steps[i].node_id, node) == 0)
			return (int)i;
	return -1;
}

static void finish(struct run *r, struct store_step *s, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct run *r, struct store_step *s, const char *f, ...)
{
	char detail[STORE_PLAN_TEXT];
	va_list ap;
	bool disrupts = kma_step_kind_disrupts(s->kind);

	va_start(ap, f);
	vsnprintf(detail, sizeof(detail), f, ap);
	va_end(ap);
	/* A QuickStart done, by the directive or by hand: its token is of no use any more. */
	if (s->kind == KMA_STEP_KIND_QUICKSTART) {
		int a = find_step(r, KMA_STEP_KIND_ADD_ENTRY, s->node_id);

		if (a >= 0 && r->steps[a].secret[0]) {
			explicit_bzero(r->steps[a].secret, sizeof(r->steps[a].secret));
			(void)save(r, &r->steps[a], NULL, NULL);
		}
	}
	s->state = KMA_STEP_STATE_DONE;
	s->phase = KMA_STEP_PHASE_DONE;
	snprintf(s->detail, sizeof(s->detail), "%s", detail);
	s->finished_at = r->now;
	/* add_entry's token lives on until its QuickStart is done (step_quickstart wipes it). */
	if (s->kind != KMA_STEP_KIND_ADD_ENTRY)
		explicit_bzero(s->secret, sizeof(s->secret));
	if (commit(r, s, "done", detail, KMA_PLAN_STATE_UNSPECIFIED,
	           disrupts ? RELEASE_LEASE : KEEP_LEASE))
		log_notice("recovery: step %d %s %s done in %lld s", s->idx,
		           kma_step_kind_id(s->kind), s->node_id,
		           (long long)(r->now - s->started_at));
}

/* Out with a directive: the lease, the directive ID, the phase, the journal: one commit. */
static void send_directive(struct run *r, struct store_step *s, const struct plan_node *node)
{
	struct store_lease lease;
	enum store_status sst;
	char why[STORE_PLAN_TEXT];
	bool ok;

	snprintf(why, sizeof(why), "plan %lld step %d: %s %s", (long long)r->plan.id, s->idx,
	         kma_step_kind_id(s->kind), s->node_id);
	if (store_tx_begin(r->st) != STORE_OK)
		return;
	sst = store_lease_take(r->st, s->node_id, r->plan.id, s->idx, why, r->p->lease_ttl_s,
	                       r->now, &lease);
	if (sst == STORE_EXISTS) {
		(void)store_tx_end(r->st, false);
		snprintf(why, sizeof(why), "the lease is held by %.64s for %.200s", lease.node_id,
		         lease.why);
		wait_for(r, s, why);
		return;
	}
	phase(s, KMA_STEP_PHASE_DIRECTIVE, r->now);
	s->fencing = lease.fencing;
	snprintf(s->directive_id, sizeof(s->directive_id), "plan%lld-step%d-%llu",
	         (long long)r->plan.id, s->idx, (unsigned long long)lease.fencing);
	snprintf(s->boot_before, sizeof(s->boot_before), "%s", node ? node->boot_id : "");
	ok = sst == STORE_OK && store_step_put(r->st, s) == STORE_OK &&
	     store_journal_add(
	         r->st, s->plan_id, s->idx, ACTOR, "directive",
	         (snprintf(why, sizeof(why), "%s to %s, %s fencing %llu", kma_step_kind_id(s->kind),
	                   s->node_id, lease.id, (unsigned long long)lease.fencing),
	          why),
	         r->now) == STORE_OK;
	(void)store_tx_end(r->st, ok);
}

/* The step with a directive out: renew the lease, look for the agent's answer. */
static bool directive_answer(struct run *r, struct store_step *s, const struct plan_node *node,
                             bool *answered)
{
	struct store_lease lease;

	*answered = false;
	if (store_lease_take(r->st, s->node_id, r->plan.id, s->idx, "", r->p->lease_ttl_s, r->now,
	                     &lease) != STORE_OK) {
		pause_plan(r, s, "step %d: the lease for %s was lost", s->idx, s->node_id);
		return false;
	}
	if (!node || strcmp(node->last_directive, s->directive_id) != 0)
		return true;
	if (!node->last_ok) {
		pause_plan(r, s, "%s refused or failed directive %s: %s", s->node_id,
		           s->directive_id, node->last_detail);
		return false;
	}
	*answered = true;
	return true;
}

/*
 * add_entry: a fresh one-time token. For an automatic QuickStart the step keeps the nonce
 * the token is derived from (plantoken.h), never the token; for a manual one, nothing (the
 * operator issues a token with kmactl).
 */
static bool issue_token(struct run *r, struct store_step *s)
{
	char token[ENROLL_TOKEN_HEX], hash[STORE_TOKEN_HASH_MAX], nonce[PLAN_TOKEN_NONCE_MAX];
	int q = find_step(r, KMA_STEP_KIND_QUICKSTART, s->node_id);
	int64_t ttl = r->p->step_timeout_s + r->p->lease_ttl_s;

	if (plan_token_new(nonce, token, hash) != 0 ||
	    store_token_issue(r->st, s->node_id, hash, r->now + ttl) != STORE_OK) {
		explicit_bzero(token, sizeof(token));
		pause_plan(r, s, "cannot issue an enrolment token for %s", s->node_id);
		return false;
	}
	if (q >= 0 && !r->steps[q].manual)
		snprintf(s->secret, sizeof(s->secret), "%s", nonce);
	explicit_bzero(token, sizeof(token));
	return true;
}

/* Whether the node enrolled through a token since the step began. */
static bool enrolled_since(struct run *r, const char *node, int64_t since)
{
	struct store_enrolment *e = NULL;
	size_t n = 0;
	bool yes = false;

	if (store_enrolments(r->st, node, &e, &n) != STORE_OK)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].how, "quickstart") == 0 && e[i].at >= since)
			yes = true;
	free(e);
	return yes;
}

/*
 * When this node's rejoin began: its delete_entry step's start. A QuickStart enrolled since
 * then is the effect the rest of the rejoin is for, however it came about (an operator
 * QuickStarted by hand after the agent crashed mid-step, say): the steps it covers are
 * done by that effect rather than waited for or run again.
 */
static int64_t rejoin_began(struct run *r, const struct store_step *s)
{
	int d = find_step(r, KMA_STEP_KIND_DELETE_ENTRY, s->node_id);

	return d >= 0 && r->steps[d].started_at ? r->steps[d].started_at : s->started_at;
}

static bool superseded(struct run *r, struct store_step *s)
{
	if (!enrolled_since(r, s->node_id, rejoin_began(r, s)))
		return false;
	finish(r, s, "%s has enrolled a new certificate since its rejoin began", s->node_id);
	return true;
}

/* Stabilisation: the gate must hold without a break for stabilise_s. */
static void stabilise(struct run *r, struct store_step *s, bool met, const char *why,
                      const char *done_what)
{
	if (!met) {
		wait_for(r, s, why);
		return;
	}
	if (s->stable_since == 0) {
		s->stable_since = r->now;
		snprintf(s->detail, sizeof(s->detail), "stabilising for %lld s",
		         (long long)r->p->stabilise_s);
		(void)save(r, s, "stable", "%s; stabilising for %lld s", done_what,
		           (long long)r->p->stabilise_s);
	}
	if (r->now - s->stable_since >= r->p->stabilise_s)
		finish(r, s, "%s, stable for %lld s; step took %lld s", done_what,
		       (long long)(r->now - s->stable_since), (long long)(r->now - s->started_at));
}

static void step_reboot(struct run *r, struct store_step *s, const struct plan_node *node)
{
	char why[STORE_PLAN_TEXT];
	bool answered;

	if (s->phase == KMA_STEP_PHASE_DIRECTIVE) {
		if (!directive_answer(r, s, node, &answered))
			return;
		if (node && node->entry.report_at >= s->phase_at &&
		    strcmp(node->boot_id, s->boot_before) != 0) {
			phase(s, KMA_STEP_PHASE_BACK, r->now);
			(void)save(r, s, "rebooted", "%s is back with boot ID %s", s->node_id,
			           node->boot_id);
		} else {
			wait_for(r, s,
			         answered ? "the node is rebooting"
			                  : "waiting for the node to take the directive");
		}
		return;
	}
	if (s->phase == KMA_STEP_PHASE_BACK) {
		bool met = plan_gate_back(&r->v, r->target, s->node_id, s->boot_before, s->phase_at,
		                          why, sizeof(why));

		stabilise(r, s, met, why, "back, serving and authenticated with every peer");
	}
}

static void step_entry(struct run *r, struct store_step *s, bool remove)
{
	char why[STORE_PLAN_TEXT];

	if (s->phase == KMA_STEP_PHASE_ACT) {
		if (remove) {
			/*
			 * Until it enrols a new one, the node reports with the certificate its
			 * peers found: taken as its own for the rest of the rejoin (directives).
			 */
			if (s->pred_kind == KMA_PATTERN_NODE_NOT_REJOINED && s->pred_serial[0] &&
			    store_node_set_pending(r->st, s->node_id, s->pred_serial) != STORE_OK) {
				pause_plan(r, s, "cannot accept the reports of %s's serial %s",
				           s->node_id, s->pred_serial);
				return;
			}
			/* Idempotent: a restart before the step is saved clears it again. */
			if (store_node_set_serial(r->st, s->node_id, "", "remove", r->now) !=
			        STORE_OK ||
			    store_peer_table_version(r->st, &s->table_version) != STORE_OK) {
				pause_plan(r, s, "cannot remove the enrolment of %s", s->node_id);
				return;
			}
			phase(s, KMA_STEP_PHASE_PUSH, r->now);
			(void)save(r, s, "removed",
			           "enrolment of %s removed; peer table version %llu", s->node_id,
			           (unsigned long long)s->table_version);
			return;
		}
		if (superseded(r, s) || !issue_token(r, s))
			return;
		finish(r, s, "entry of %s re-added with a one-time enrolment token", s->node_id);
		return;
	}
	if (s->phase == KMA_STEP_PHASE_PUSH) {
		if (plan_gate_pushed(&r->v, s->node_id, s->table_version, why, sizeof(why)))
			finish(r, s, "every serving node holds peer table version %llu",
			       (unsigned long long)s->table_version);
		else
			wait_for(r, s, why);
	}
}

static void step_factory_reset(struct run *r, struct store_step *s, const struct plan_node *node)
{
	bool answered;

	if (s->phase != KMA_STEP_PHASE_DIRECTIVE || superseded(r, s))
		return;
	if (!directive_answer(r, s, node, &answered))
		return;
	if (answered && node->entry.report_at >= s->phase_at &&
	    node->entry.report_state == KMA_STATE_UNPROVISIONED)
		finish(r, s, "%s erased its identity (%s)", s->node_id, node->last_detail);
	else
		wait_for(r, s,
		         answered ? "waiting for the node to report unprovisioned"
		                  : "waiting for the node to take the directive");
}

static void step_quickstart(struct run *r, struct store_step *s, const struct plan_node *node)
{
	bool answered = false;

	if (!enrolled_since(r, s->node_id, rejoin_began(r, s)) &&
	    s->phase == KMA_STEP_PHASE_DIRECTIVE && !directive_answer(r, s, node, &answered))
		return;
	if (enrolled_since(r, s->node_id, rejoin_began(r, s))) {
		finish(r, s, "%s enrolled a new certificate with its one-time token", s->node_id);
		return;
	}
	wait_for(r, s, "waiting for the QuickStart enrolment of the node");
}

static void step_join(struct run *r, struct store_step *s)
{
	char why[STORE_PLAN_TEXT];
	bool met;

	if (s->phase != KMA_STEP_PHASE_VERIFY)
		return;
	met = plan_gate_joined(&r->v, r->target, s->node_id, s->table_version, s->phase_at, why,
	                       sizeof(why));
	stabilise(r, s, met, why, "joined: every peer accepts it and it accepts every peer");
}

/* What a step does when its gate opens (automatic) or an operator confirmed it (manual). */
static void step_go(struct run *r, struct store_step *s, const struct plan_node *node)
{
	switch (s->kind) {
	case KMA_STEP_KIND_REBOOT:
		if (s->manual)
			phase(s, KMA_STEP_PHASE_BACK, r->now);
		else
			send_directive(r, s, node);
		break;
	case KMA_STEP_KIND_FACTORY_RESET:
	case KMA_STEP_KIND_QUICKSTART:
		if (s->manual) {
			/* Nothing to send; the QuickStart is still checked by its enrolment. */
			if (s->kind == KMA_STEP_KIND_QUICKSTART)
				phase(s, KMA_STEP_PHASE_VERIFY, r->now);
			else
				finish(r, s, "confirmed by %s", s->confirmed_by);
		} else {
			send_directive(r, s, node);
		}
		break;
	case KMA_STEP_KIND_DELETE_ENTRY:
	case KMA_STEP_KIND_ADD_ENTRY:
		phase(s, KMA_STEP_PHASE_ACT, r->now);
		break;
	case KMA_STEP_KIND_JOIN:
		phase(s, KMA_STEP_PHASE_VERIFY, r->now);
		s->table_version = r->v.table_version;
		break;
	default:
		pause_plan(r, s, "step %d: unknown kind %s", s->idx, kma_step_kind_id(s->kind));
	}
}

static void step_start(struct run *r, struct store_step *s)
{
	s->state = KMA_STEP_STATE_ACTIVE;
	phase(s, KMA_STEP_PHASE_GATE, r->now);
	s->started_at = r->now;
	(void)save(r, s, "started", "%s %s: %s", kma_step_kind_id(s->kind), s->node_id, s->reason);
}

static void step_gate(struct run *r, struct store_step *s, const struct plan_node *node)
{
	char why[STORE_PLAN_TEXT];
	enum kma_step_kind k = s->kind;

	if (k == KMA_STEP_KIND_REBOOT &&
	    !plan_gate_before(&r->v, r->target, s->node_id, r->p->min_serving, why, sizeof(why))) {
		wait_for(r, s, why);
		return;
	}
	/*
	 * The interlock, whatever the diagnosis said: the node is disrupted only while what
	 * justifies it is seen again on observations made since this gate began.
	 */
	switch (plan_justified(&r->v, s, s->phase_at, why, sizeof(why))) {
	case DIAG_REFUTED:
		pause_plan(r, s, "step %d (%s %s): its reason no longer holds: %s", s->idx,
		           kma_step_kind_id(s->kind), s->node_id, why);
		return;
	case DIAG_PENDING:
		wait_for(r, s, why);
		return;
	case DIAG_CONFIRMED:
		/* Journalled once, not again while the step waits for the lease, say. */
		if (s->pred_kind && strcmp(s->detail, why) != 0) {
			snprintf(s->detail, sizeof(s->detail), "%s", why);
			(void)save(r, s, "justified", "%s", why);
		}
		break;
	}
	if (s->manual) {
		phase(s, KMA_STEP_PHASE_CONFIRM, r->now);
		if (k == KMA_STEP_KIND_REBOOT)
			snprintf(s->boot_before, sizeof(s->boot_before), "%s",
			         node ? node->boot_id : "");
		snprintf(s->detail, sizeof(s->detail), "waiting for an operator: kmactl confirm %d",
		         s->idx);
		(void)save(r, s, "manual", "%s", s->instruction);
		return;
	}
	step_go(r, s, node);
	if (s->phase != KMA_STEP_PHASE_GATE && s->phase != KMA_STEP_PHASE_DIRECTIVE &&
	    s->state != KMA_STEP_STATE_DONE)
		(void)save(r, s, NULL, NULL);
}

static void step_run(struct run *r, struct store_step *s)
{
	int x = plan_node_index(&r->v, s->node_id);
	const struct plan_node *node = x >= 0 ? &r->v.nodes[x] : NULL;

	if (s->state == KMA_STEP_STATE_PENDING)
		step_start(r, s);
	/* Nothing is sent or asked for when its effect is already there. */
	if ((s->kind == KMA_STEP_KIND_FACTORY_RESET || s->kind == KMA_STEP_KIND_ADD_ENTRY ||
	     s->kind == KMA_STEP_KIND_QUICKSTART) &&
	    superseded(r, s))
		return;
	if (s->phase == KMA_STEP_PHASE_GATE) {
		step_gate(r, s, node);
		if (s->phase == KMA_STEP_PHASE_GATE || s->phase == KMA_STEP_PHASE_CONFIRM)
			return;
	}
	if (s->phase == KMA_STEP_PHASE_CONFIRM)
		return;
	switch (s->kind) {
	case KMA_STEP_KIND_REBOOT:
		step_reboot(r, s, node);
		break;
	case KMA_STEP_KIND_DELETE_ENTRY:
		step_entry(r, s, true);
		break;
	case KMA_STEP_KIND_ADD_ENTRY:
		step_entry(r, s, false);
		break;
	case KMA_STEP_KIND_FACTORY_RESET:
		step_factory_reset(r, s, node);
		break;
	case KMA_STEP_KIND_QUICKSTART:
		step_quickstart(r, s, node);
		break;
	case KMA_STEP_KIND_JOIN:
		step_join(r, s);
		break;
	default:
		break;
	}
}

/* A plan ended: no rejoin accepts another certificate as its node's any more. */
static void pending_clear(struct store *st, const struct store_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (steps[i].kind == KMA_STEP_KIND_DELETE_ENTRY &&
		    store_node_set_pending(st, steps[i].node_id, "") == STORE_ERROR)
			log_warn("recovery: %s may still report with the serial its rejoin took",
			         steps[i].node_id);
}

static void plan_done(struct run *r)
{
	char detail[STORE_PLAN_TEXT];
	int64_t took = r->now - r->plan.created_at;
	bool ok;

	if (r->n_steps == 1)
		snprintf(detail, sizeof(detail), "its one step done in %lld s", (long long)took);
	else
		snprintf(detail, sizeof(detail), "all %zu steps done in %lld s", r->n_steps,
		         (long long)took);
	if (store_tx_begin(r->st) != STORE_OK)
		return;
	ok = store_plan_set_state(r->st, r->plan.id, KMA_PLAN_STATE_DONE, detail, r->now) ==
	         STORE_OK &&
	     store_lease_release(r->st) == STORE_OK &&
	     store_journal_add(r->st, r->plan.id, 0, ACTOR, "done", detail, r->now) == STORE_OK;
	if (store_tx_end(r->st, ok) == STORE_OK) {
		log_notice("recovery: plan %lld done: %s", (long long)r->plan.id, detail);
		pending_clear(r->st, r->steps, r->n_steps);
	}
}

void engine_tick(struct store *st, const struct engine_params *p, int64_t now)
{
	struct run r = {.st = st, .p = p, .now = now};
	struct store_step *cur = NULL;

	engine_lock();
	if (store_plan_latest(st, &r.plan, &r.steps, &r.n_steps) != STORE_OK ||
	    r.plan.state != KMA_PLAN_STATE_RUNNING)
		goto exit;
	for (size_t i = 0; i < r.n_steps && !cur; i++)
		if (r.steps[i].state != KMA_STEP_STATE_DONE &&
		    r.steps[i].state != KMA_STEP_STATE_SKIPPED)
			cur = &r.steps[i];
	if (!cur) {
		plan_done(&r);
		goto exit;
	}
	if (engine_view_load(st, now, p->stale_after_s, &r.v) != 0)
		goto exit;
	r.target = calloc(r.v.n ? r.v.n : 1, sizeof(*r.target));
	if (!r.target)
		goto exit;
	/* Nodes the plan still has to fix, besides the current step's, need not be sound. */
	for (size_t i = 0; i < r.n_steps; i++) {
		int x = plan_node_index(&r.v, r.steps[i].node_id);

		if (x >= 0 && r.steps[i].state != KMA_STEP_STATE_DONE &&
		    strcmp(r.steps[i].node_id, cur->node_id) != 0)
			r.target[x] = true;
	}
	step_run(&r, cur);
exit:
	engine_unlock();
	free(r.target);
	engine_view_free(&r.v);
	free(r.steps);
}

/* ---- operator actions ---- */

static enum engine_status latest(struct store *st, struct store_plan *plan,
                                 struct store_step **steps, size_t *n, char *why, size_t size)
{
	enum store_status sst = store_plan_latest(st, plan, steps, n);

	if (sst == STORE_NOT_FOUND) {
		snprintf(why, size, "there is no plan");
		return ENGINE_NO_PLAN;
	}
	return sst == STORE_OK ? ENGINE_OK : ENGINE_ERROR;
}

/* The plan's new state, its journal entry and the steps given (n may be 0): one commit. */
static enum engine_status set_plan(struct store *st, const struct store_plan *plan,
                                   enum kma_plan_state state, const char *event, const char *who,
                                   const char *detail, int64_t now, const struct store_step *steps,
                                   size_t n)
{
	bool ok;

	if (store_tx_begin(st) != STORE_OK)
		return ENGINE_ERROR;
	ok = store_plan_set_state(st, plan->id, state, detail, now) == STORE_OK &&
	     store_journal_add(st, plan->id, 0, who, event, detail, now) == STORE_OK;
	for (size_t i = 0; ok && i < n; i++)
		ok = store_step_put(st, &steps[i]) == STORE_OK;
	if (ok && state == KMA_PLAN_STATE_ABORTED)
		ok = store_lease_release(st) == STORE_OK;
	return store_tx_end(st, ok) == STORE_OK ? ENGINE_OK : ENGINE_ERROR;
}

enum engine_status engine_confirm(struct store *st, int step, const char *who, int64_t now,
                                  char *why, size_t size)
{
	struct store_plan plan;
	struct store_step *steps = NULL, *s;
	size_t n = 0;
	enum engine_status ret = latest(st, &plan, &steps, &n, why, size);
	bool ok;

	if (ret != ENGINE_OK)
		goto exit;
	ret = ENGINE_CONFLICT;
	if (step < 1 || (size_t)step > n) {
		snprintf(why, size, "plan %lld has no step %d", (long long)plan.id, step);
		goto exit;
	}
	s = &steps[step - 1];
	if (plan.state != KMA_PLAN_STATE_RUNNING && plan.state != KMA_PLAN_STATE_PAUSED) {
		snprintf(why, size, "plan %lld is %s", (long long)plan.id,
		         kma_plan_state_id(plan.state));
		goto exit;
	}
	if (s->state != KMA_STEP_STATE_ACTIVE || s->phase != KMA_STEP_PHASE_CONFIRM) {
		snprintf(why, size, "step %d (%s %s) is not waiting for a confirmation (%s%s%s)",
		         step, kma_step_kind_id(s->kind), s->node_id, kma_step_state_id(s->state),
		         s->phase ? ", " : "", kma_step_phase_id(s->phase));
		goto exit;
	}
	snprintf(s->confirmed_by, sizeof(s->confirmed_by), "%s", who);
	{
		struct run r = {.st = st, .now = now, .plan = plan};

		/* What the step does next; the engine checks its effect from there. */
		step_go(&r, s, NULL);
	}
	if (s->state == KMA_STEP_STATE_DONE) {
		ret = ENGINE_OK;
		goto exit;
	}
	if (store_tx_begin(st) != STORE_OK) {
		ret = ENGINE_ERROR;
		goto exit;
	}
	ok = store_step_put(st, s) == STORE_OK &&
	     store_journal_add(st, plan.id, step, who, "confirmed", kma_step_kind_id(s->kind),
	                       now) == STORE_OK;
	ret = store_tx_end(st, ok) == STORE_OK ? ENGINE_OK : ENGINE_ERROR;
exit:
	free(steps);
	return ret;
}

enum engine_status engine_pause(struct store *st, const char *who, int64_t now, char *why,
                                size_t size)
{
	struct store_plan plan;
	struct store_step *steps = NULL;
	size_t n = 0;
	enum engine_status ret = latest(st, &plan, &steps, &n, why, size);

	free(steps);
	if (ret != ENGINE_OK)
		return ret;
	if (plan.state != KMA_PLAN_STATE_RUNNING) {
		snprintf(why, size, "plan %lld is %s, not running", (long long)plan.id,
		         kma_plan_state_id(plan.state));
		return ENGINE_CONFLICT;
	}
	snprintf(why, size, "paused by %s", who);
	return set_plan(st, &plan, KMA_PLAN_STATE_PAUSED, "paused", who, why, now, NULL, 0);
}

enum engine_status engine_resume(struct store *st, const char *who, int64_t now, char *why,
                                 size_t size)
{
	struct store_plan plan;
	struct store_step *steps = NULL;
	size_t n = 0;
	enum engine_status ret = latest(st, &plan, &steps, &n, why, size);

	if (ret != ENGINE_OK)
		goto exit;
	if (plan.state != KMA_PLAN_STATE_PAUSED) {
		snprintf(why, size, "plan %lld is %s, not paused", (long long)plan.id,
		         kma_plan_state_id(plan.state));
		ret = ENGINE_CONFLICT;
		goto exit;
	}
	/* The current step's wait starts again; a directive already out stays out. */
	for (size_t i = 0; i < n; i++) {
		if (steps[i].state != KMA_STEP_STATE_ACTIVE)
			continue;
		steps[i].phase_at = now;
		steps[i].stable_since = 0;
		steps[i].detail[0] = '\0';
	}
	ret = set_plan(st, &plan, KMA_PLAN_STATE_RUNNING, "resumed", who, "", now, steps, n);
exit:
	free(steps);
	return ret;
}

enum engine_status engine_abort(struct store *st, const char *who, int64_t now, char *why,
                                size_t size)
{
	struct store_plan plan;
	struct store_step *steps = NULL;
	size_t n = 0;
	enum engine_status ret = latest(st, &plan, &steps, &n, why, size);

	if (ret != ENGINE_OK)
		goto exit;
	if (plan.state != KMA_PLAN_STATE_RUNNING && plan.state != KMA_PLAN_STATE_PAUSED) {
		snprintf(why, size, "plan %lld is %s", (long long)plan.id,
		         kma_plan_state_id(plan.state));
		ret = ENGINE_CONFLICT;
		goto exit;
	}
	/* No enrolment token outlives the plan; no step of it stays active. */
	for (size_t i = 0; i < n; i++) {
		explicit_bzero(steps[i].secret, sizeof(steps[i].secret));
		if (steps[i].state != KMA_STEP_STATE_ACTIVE)
			continue;
		steps[i].state = KMA_STEP_STATE_STOPPED;
		snprintf(steps[i].detail, sizeof(steps[i].detail),
		         "stopped by the abort while %s%s", kma_step_phase_id(steps[i].phase),
		         steps[i].phase == KMA_STEP_PHASE_DIRECTIVE
		             ? " (a directive already delivered is carried out by the node)"
		             : "");
		steps[i].finished_at = now;
	}
	snprintf(why, size, "aborted by %s", who);
	ret = set_plan(st, &plan, KMA_PLAN_STATE_ABORTED, "aborted", who, why, now, steps, n);
	if (ret == ENGINE_OK)
		pending_clear(st, steps, n);
exit:
	free(steps);
	return ret;
}
