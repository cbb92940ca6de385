#include "planapi.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"
#include "engine.h"
#include "log.h"
#include "plan.h"
#include "store_plan.h"
#include "vocab.h"

#define STEPS_MAX 64

bool planapi_owns(const char *path)
{
	return strcmp(path, "/v1/plan") == 0 || strcmp(path, "/v1/plans") == 0 ||
	       strncmp(path, "/v1/plans/", 10) == 0 || strcmp(path, "/v1/journal") == 0;
}

static json_object *str(const char *s)
{
	return json_object_new_string(s);
}

static json_object *step_json(const struct store_step *s, bool full)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "step", json_object_new_int(s->idx));
	json_object_object_add(j, "kind", str(kma_step_kind_id(s->kind)));
	json_object_object_add(j, "node_id", str(s->node_id));
	json_object_object_add(j, "reason", str(s->reason));
	json_object_object_add(j, "manual", json_object_new_boolean(s->manual));
	json_object_object_add(j, "instruction", str(s->instruction));
	if (s->predicate[0])
		json_object_object_add(j, "justified_by", str(s->predicate));
	if (!full)
		return j;
	json_object_object_add(j, "state", str(kma_step_state_id(s->state)));
	json_object_object_add(j, "phase", str(kma_step_phase_id(s->phase)));
	json_object_object_add(j, "detail", str(s->detail));
	json_object_object_add(j, "started_at", json_object_new_int64(s->started_at));
	json_object_object_add(j, "phase_at", json_object_new_int64(s->phase_at));
	json_object_object_add(j, "finished_at", json_object_new_int64(s->finished_at));
	json_object_object_add(j, "stable_since", json_object_new_int64(s->stable_since));
	json_object_object_add(j, "directive_id", str(s->directive_id));
	json_object_object_add(j, "fencing", json_object_new_int64((int64_t)s->fencing));
	json_object_object_add(j, "confirmed_by", str(s->confirmed_by));
	return j;
}

/* The steps the diagnosis calls for now, with the view they were built on. */
static ssize_t propose(struct store *st, const struct api_params *prm, int64_t now,
                       struct plan_view *v, struct store_step *steps, char notes[][STORE_PLAN_TEXT],
                       size_t *n_notes)
{
	struct diag_finding *f = calloc(DIAGNOSE_FINDINGS_MAX, sizeof(*f));
	ssize_t nf, n = -1;

	if (!f)
		return -1;
	nf = diagnose_run(st, now, prm->stale_after_s, f, DIAGNOSE_FINDINGS_MAX);
	if (nf >= 0 && engine_view_load(st, now, prm->stale_after_s, v) == 0)
		n = (ssize_t)plan_build(v, f, (size_t)nf, steps, STEPS_MAX, notes, n_notes);
	free(f);
	return n;
}

static void plan_get(struct store *st, const struct api_params *prm, int64_t now,
                     struct api_response *out)
{
	struct store_step *steps = calloc(STEPS_MAX, sizeof(*steps));
	char(*notes)[STORE_PLAN_TEXT] = calloc(PLAN_NOTES_MAX, STORE_PLAN_TEXT);
	struct plan_view v = {0};
	size_t n_notes = 0;
	ssize_t n = steps && notes ? propose(st, prm, now, &v, steps, notes, &n_notes) : -1;
	json_object *j, *arr, *na;
	bool *target = NULL;

	if (n < 0 || !(target = calloc(v.n ? v.n : 1, sizeof(*target)))) {
		api_respond_error(out, 500, "the coordinator's store could not be read");
		goto exit;
	}
	j = json_object_new_object();
	arr = json_object_new_array();
	for (ssize_t i = 0; i < n; i++) {
		json_object *sj = step_json(&steps[i], false);
		char why[STORE_PLAN_TEXT] = "";

		steps[i].idx = (int)i + 1;
		json_object_object_add(sj, "step", json_object_new_int(steps[i].idx));
		if (steps[i].kind == KMA_STEP_KIND_REBOOT) {
			/* The gate as it stands now; every other node of the plan is a target. */
			for (size_t x = 0; x < v.n; x++) {
				target[x] = false;
				for (ssize_t k = 0; k < n; k++)
					if (strcmp(steps[k].node_id, v.nodes[x].entry.node_id) ==
					        0 &&
					    strcmp(steps[k].node_id, steps[i].node_id) != 0)
						target[x] = true;
			}
			bool open = plan_gate_before(&v, target, steps[i].node_id, prm->min_serving,
			                             why, sizeof(why));
			json_object_object_add(sj, "gate_open_now", json_object_new_boolean(open));
			json_object_object_add(sj, "gate", str(open ? "" : why));
		}
		json_object_array_add(arr, sj);
	}
	na = json_object_new_array();
	for (size_t i = 0; i < n_notes; i++)
		json_object_array_add(na, str(notes[i]));
	json_object_object_add(j, "steps", arr);
	json_object_object_add(j, "notes", na);
	api_respond_json(out, 200, j);
	json_object_put(j);
exit:
	engine_view_free(&v);
	free(target);
	free(steps);
	free(notes);
}

static void plan_current(struct store *st, int64_t now, int status, struct api_response *out)
{
	struct store_plan plan;
	struct store_step *steps = NULL;
	struct store_lease lease;
	size_t n = 0;
	enum store_status sst = store_plan_latest(st, &plan, &steps, &n);
	json_object *j, *arr;

	if (sst == STORE_NOT_FOUND) {
		api_respond_error(out, 404, "there is no plan");
		return;
	}
	if (sst != STORE_OK) {
		api_respond_error(out, 500, "the coordinator's store could not be read");
		return;
	}
	j = json_object_new_object();
	json_object_object_add(j, "id", json_object_new_int64(plan.id));
	json_object_object_add(j, "state", str(kma_plan_state_id(plan.state)));
	json_object_object_add(j, "detail", str(plan.detail));
	json_object_object_add(j, "created_by", str(plan.created_by));
	json_object_object_add(j, "created_at", json_object_new_int64(plan.created_at));
	json_object_object_add(j, "updated_at", json_object_new_int64(plan.updated_at));
	json_object_object_add(j, "now", json_object_new_int64(now));
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, step_json(&steps[i], true));
	json_object_object_add(j, "steps", arr);
	if (store_lease_get(st, now, &lease) == STORE_OK) {
		json_object *l = json_object_new_object();

		json_object_object_add(l, "id", str(lease.id));
		json_object_object_add(l, "node_id", str(lease.node_id));
		json_object_object_add(l, "plan_id", json_object_new_int64(lease.plan_id));
		json_object_object_add(l, "step", json_object_new_int(lease.step));
		json_object_object_add(l, "fencing", json_object_new_int64((int64_t)lease.fencing));
		json_object_object_add(l, "expires_at", json_object_new_int64(lease.expires_at));
		json_object_object_add(l, "why", str(lease.why));
		json_object_object_add(j, "lease", l);
	} else {
		json_object_object_add(j, "lease", NULL);
	}
	api_respond_json(out, status, j);
	json_object_put(j);
	free(steps);
}

static void plans_post(struct store *st, const struct api_params *prm, const char *who, int64_t now,
                       struct api_response *out)
{
	struct store_step *steps = calloc(STEPS_MAX, sizeof(*steps));
	char(*notes)[STORE_PLAN_TEXT] = calloc(PLAN_NOTES_MAX, STORE_PLAN_TEXT);
	struct plan_view v = {0};
	size_t n_notes = 0;
	ssize_t n = steps && notes ? propose(st, prm, now, &v, steps, notes, &n_notes) : -1;
	int64_t id = 0;
	enum store_status sst;
	char why[STORE_PLAN_TEXT];
	bool ok;

	if (n < 0) {
		api_respond_error(out, 500, "the coordinator's store could not be read");
		goto exit;
	}
	if (n == 0) {
		snprintf(why, sizeof(why), "nothing to recover: no finding calls for a step%s%s",
		         n_notes ? "; " : "", n_notes ? notes[0] : "");
		api_respond_error(out, 422, why);
		goto exit;
	}
	if (store_tx_begin(st) != STORE_OK) {
		api_respond_error(out, 500, "the coordinator's store could not be written");
		goto exit;
	}
	sst = store_plan_create(st, steps, (size_t)n, who, now, &id);
	ok = sst == STORE_OK;
	(void)store_tx_end(st, ok);
	if (sst == STORE_EXISTS) {
		snprintf(why, sizeof(why), "plan %lld is still running or paused", (long long)id);
		api_respond_error(out, 409, why);
		goto exit;
	}
	if (!ok) {
		api_respond_error(out, 500, "the coordinator's store could not be written");
		goto exit;
	}
	log_notice("operator %s started recovery plan %lld (%zd steps)", who, (long long)id, n);
	plan_current(st, now, 201, out);
exit:
	engine_view_free(&v);
	free(steps);
	free(notes);
}

json_object *planapi_journal_json(const struct store_journal_entry *e, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int64(e[i].id));
		json_object_object_add(o, "at", json_object_new_int64(e[i].at));
		json_object_object_add(o, "plan_id", json_object_new_int64(e[i].plan_id));
		json_object_object_add(o, "step", json_object_new_int(e[i].step));
		json_object_object_add(o, "actor", str(e[i].actor));
		json_object_object_add(o, "event", str(e[i].event));
		json_object_object_add(o, "detail", str(e[i].detail));
		json_object_array_add(arr, o);
	}
	return arr;
}

static void journal_get(struct store *st, struct api_response *out)
{
	struct store_journal_entry *e = NULL;
	size_t n = 0;
	json_object *j;

	if (store_journal_list(st, 0, &e, &n) != STORE_OK) {
		api_respond_error(out, 500, "the coordinator's store could not be read");
		return;
	}
	j = json_object_new_object();
	json_object_object_add(j, "entries", planapi_journal_json(e, n));
	api_respond_json(out, 200, j);
	json_object_put(j);
	free(e);
}

/* pause | resume | abort | steps/N/confirm on the latest plan. */
/* N of "steps/N/confirm": 1 to 9999, digits only; else 0. */
static int step_number(const char *action)
{
	const char *p = action + 6;
	int n = 0;
	size_t digits;

	if (strncmp(action, "steps/", 6) != 0)
		return 0;
	digits = strspn(p, "0123456789");
	if (digits == 0 || digits > 4 || p[0] == '0' || strcmp(p + digits, "/confirm") != 0)
		return 0;
	for (size_t i = 0; i < digits; i++)
		n = n * 10 + (p[i] - '0');
	return n;
}

static void plan_action(struct store *st, const char *action, const char *who, int64_t now,
                        struct api_response *out)
{
	char why[STORE_PLAN_TEXT] = "";
	enum engine_status est;
	int step;

	engine_lock();
	if (strcmp(action, "pause") == 0)
		est = engine_pause(st, who, now, why, sizeof(why));
	else if (strcmp(action, "resume") == 0)
		est = engine_resume(st, who, now, why, sizeof(why));
	else if (strcmp(action, "abort") == 0)
		est = engine_abort(st, who, now, why, sizeof(why));
	else if ((step = step_number(action)) > 0)
		est = engine_confirm(st, step, who, now, why, sizeof(why));
	else {
		engine_unlock();
		api_respond_error(out, 404, "no such path");
		return;
	}
	engine_unlock();
	switch (est) {
	case ENGINE_OK:
		log_notice("operator %s: %s on the recovery plan", who, action);
		plan_current(st, now, 200, out);
		return;
	case ENGINE_NO_PLAN:
		api_respond_error(out, 404, why);
		return;
	case ENGINE_CONFLICT:
		api_respond_error(out, 409, why);
		return;
	default:
		api_respond_error(out, 500, "the coordinator's store could not be written");
	}
}

void planapi_handle(struct store *st, const struct api_params *prm, const char *method,
                    const char *path, const char *who, int64_t now, struct api_response *out)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

	if (strcmp(path, "/v1/plan") == 0 || strcmp(path, "/v1/journal") == 0 ||
	    strcmp(path, "/v1/plans/current") == 0) {
		if (!get) {
			api_method_not_allowed(out, "GET");
			return;
		}
		if (strcmp(path, "/v1/plan") == 0)
			plan_get(st, prm, now, out);
		else if (strcmp(path, "/v1/journal") == 0)
			journal_get(st, out);
		else
			plan_current(st, now, 200, out);
		return;
	}
	if (strcmp(path, "/v1/plans") == 0) {
		if (post)
			plans_post(st, prm, who, now, out);
		else
			api_method_not_allowed(out, "POST");
		return;
	}
	if (strncmp(path, "/v1/plans/current/", 18) != 0) {
		api_respond_error(out, 404, "no such plan (only 'current')");
		return;
	}
	if (!post) {
		api_method_not_allowed(out, "POST");
		return;
	}
	plan_action(st, path + 18, who, now, out);
}
