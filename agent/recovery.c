#include "recovery.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "log.h"
#include "quickstart.h"

static void report(struct recovery *r)
{
	if (r->deps.report)
		r->deps.report(r->deps.arg);
}

static void remember(struct recovery *r, const char *id)
{
	for (unsigned i = 0; i < r->n_seen && i < 16; i++)
		if (strcmp(r->seen[i], id) == 0)
			return;
	snprintf(r->seen[r->n_seen++ % 16], sizeof(r->seen[0]), "%s", id);
}

static bool handled(const struct recovery *r, const char *id)
{
	const struct coordlink_status *st = r->deps.status;

	if (st->has_directive && strcmp(id, st->directive.id) == 0)
		return true;
	for (unsigned i = 0; i < r->n_seen && i < 16; i++)
		if (strcmp(r->seen[i], id) == 0)
			return true;
	return false;
}

/*
 * Makes rec the last directive: written to the record first (unless the record is
 * unreadable, when nothing may overwrite it), then what reports say. False when it could
 * not be written.
 */
static bool dir_record(struct recovery *r, const struct directive_record *rec)
{
	struct directive_record d = *rec;
	char why[300];
	bool ok = true;

	if (hal_boot_id(r->hal, d.boot_id, sizeof(d.boot_id)) != HAL_OK)
		d.boot_id[0] = '\0';
	if (!r->blocked &&
	    directive_store(r->hal->state_dir, &d, why, sizeof(why)) != DIRECTIVE_REC_OK) {
		log_err("directive %s: cannot record it: %s", d.id, why);
		ok = false;
	}
	r->deps.status->directive = d;
	r->deps.status->has_directive = true;
	remember(r, d.id);
	return ok;
}

/* The final word on the directive under way. */
static void dir_finish(struct recovery *r, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dir_finish(struct recovery *r, bool ok, const char *fmt, ...)
{
	struct directive_record d = r->deps.status->directive;
	va_list ap;

	d.ok = ok;
	va_start(ap, fmt);
	vsnprintf(d.detail, sizeof(d.detail), fmt, ap);
	va_end(ap);
	d.done_at = hal_time_real(r->hal);
	dir_record(r, &d);
	log_msg(ok ? LOG_LVL_NOTICE : LOG_LVL_ERR, "directive %s (%s): %s: %s", d.id,
	        directive_kind_name(d.kind), ok ? "done" : "failed", d.detail);
	r->deps.status->phase = KMA__V1__PHASE__PHASE_RUNNING;
	report(r);
}

static void identity_changed(struct recovery *r)
{
	if (r->deps.identity_changed)
		r->deps.identity_changed(r->deps.arg);
}

static void act_reboot(struct recovery *r)
{
	struct directive_record d = r->deps.status->directive;

	snprintf(d.detail, sizeof(d.detail), "rebooting");
	if (!dir_record(r, &d)) {
		dir_finish(r, false, "not rebooted: the directive could not be recorded");
		return;
	}
	/* On linux the board's command returns once the shutdown has started (or within its
	 * timeout); the loop waits for it, since nothing is served during a reboot anyway. */
	if (hal_reboot(r->hal) != HAL_OK) {
		dir_finish(r, false, "reboot failed: %s", r->hal->error);
		return;
	}
	if (hal_reboot_reexecs(r->hal)) {
		log_notice("directive %s: simulated reboot done: the agent restarts itself", d.id);
		r->reexec = true;
		event_base_loopexit(r->base, NULL);
		return;
	}
	/* Reporting goes on (phase rebooting) until the system ends us. */
	log_notice("directive %s: reboot under way", d.id);
	report(r);
}

static void act_factory_reset(struct recovery *r)
{
	if (hal_identity_erase(r->hal) != HAL_OK) {
		dir_finish(r, false, "factory reset failed: %s", r->hal->error);
		return;
	}
	hal_crash_point(r->hal, "factory_reset_erased");
	if (r->deps.identity_erased)
		r->deps.identity_erased(r->deps.arg);
	dir_finish(r, true, "identity erased; waiting for a QuickStart");
	identity_changed(r); /* state unprovisioned; the link goes on (the daemon's restart) */
}

static void act_quickstart(struct recovery *r)
{
	char err[512], node_id[sizeof(((const struct coordlink *)NULL)->node_id)];
	enum quickstart_status qs;

	snprintf(node_id, sizeof(node_id), "%s", r->deps.node_id);
	/*
	 * Blocks the loop (libcurl easy, 10 s to connect, 30 s in all): acceptable here,
	 * since a node being QuickStarted has no identity, serves no keys and probes no one.
	 */
	qs = quickstart_run(r->hal, r->cfg, node_id, r->token, &r->qs_key, err, sizeof(err));
	if (qs == QUICKSTART_ERR_UNREACHABLE && hal_time_real(r->hal) + 2 < r->act_deadline) {
		/*
		 * Either nothing happened at the coordinator (the token is unspent), or it
		 * enrolled us and the answer was lost (the connection or the coordinator died
		 * after the commit): the same token and key then get the same certificate again.
		 * Either way trying again is safe; the lease bounds it. A refusal is never retried.
		 */
		unsigned delay = r->act_tries < 4 ? 2u << r->act_tries : 30u;
		struct timeval tv = {.tv_sec = (time_t)delay};

		r->act_tries++;
		log_warn("directive %s: %s; trying again in %u s (until the lease expires)",
		         r->deps.status->directive.id, err, delay);
		r->act_pending = true;
		event_add(r->ev_act, &tv);
		return;
	}
	mbedtls_platform_zeroize(r->token, sizeof(r->token));
	mbedtls_pk_free(&r->qs_key);
	mbedtls_pk_init(&r->qs_key);
	if (qs != QUICKSTART_OK) {
		dir_finish(r, false, "quickstart failed: %s", err);
		return;
	}
	dir_finish(r, true, "enrolled as %s", node_id);
	/* The new certificate restarts the mesh and the link. */
	identity_changed(r);
}

static void on_act(evutil_socket_t fd, short what, void *arg)
{
	struct recovery *r = arg;

	(void)fd;
	(void)what;
	r->act_pending = false;
	switch (r->deps.status->directive.kind) {
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT:
		act_reboot(r);
		break;
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET:
		act_factory_reset(r);
		break;
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART:
		act_quickstart(r);
		break;
	default:
		dir_finish(r, false, "internal error: not a disruptive directive");
		break;
	}
}

static Kma__V1__Phase phase_of(Kma__V1__DirectiveKind kind)
{
	switch (kind) {
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT:
		return KMA__V1__PHASE__PHASE_REBOOTING;
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET:
		return KMA__V1__PHASE__PHASE_FACTORY_RESET;
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART:
		return KMA__V1__PHASE__PHASE_QUICKSTART;
	default:
		return KMA__V1__PHASE__PHASE_RUNNING;
	}
}

/* Refuses (and records) one directive; the highest fencing token stays as it was. */
static void dir_refuse(struct recovery *r, const Kma__V1__Directive *dv, const char *why)
{
	struct directive_record d = {.ok = false};

	snprintf(d.id, sizeof(d.id), "%s", dv->id);
	d.kind = directive_kind_known(dv->kind)
	             ? dv->kind
	             : KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_UNSPECIFIED;
	snprintf(d.detail, sizeof(d.detail), "refused: %s", why);
	d.done_at = hal_time_real(r->hal);
	d.fencing = r->deps.status->directive.fencing;
	log_warn("directive %s (%s): refused: %s", d.id, directive_kind_name(dv->kind), why);
	dir_record(r, &d);
	report(r);
}

/* One new directive: refuse it, or record it as started and act (at most once). */
static void dir_handle(struct recovery *r, const Kma__V1__Directive *dv)
{
	struct coordlink_status *st = r->deps.status;
	struct directive_record d = {.ok = true};
	char why[300], reason[200];
	uint64_t prev_fencing = st->directive.fencing;
	enum directive_verdict v = directive_check(dv, r->deps.node_id, hal_time_real(r->hal),
	                                           st->directive.fencing, why, sizeof(why));

	if (r->blocked) {
		dir_refuse(r, dv, r->problem);
		return;
	}
	if (v != DIRECTIVE_ACCEPT) {
		dir_refuse(r, dv, why);
		return;
	}
	snprintf(d.id, sizeof(d.id), "%s", dv->id);
	d.kind = dv->kind;
	d.fencing =
	    directive_disruptive(dv->kind) ? dv->lease->fencing_token : st->directive.fencing;
	if (!directive_disruptive(dv->kind)) {
		/* Nothing to undo or repeat: the result is the only record. */
		d.done_at = hal_time_real(r->hal);
		if (dv->kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_JOIN)
			snprintf(d.detail, sizeof(d.detail),
			         "nothing to do: enrolment already recorded our serial");
		else if (dv->kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_UPDATE_PEERS)
			snprintf(d.detail, sizeof(d.detail), "reporting for the peer table");
		else
			snprintf(d.detail, sizeof(d.detail), "holding");
		log_notice("directive %s (%s): %s", d.id, directive_kind_name(d.kind), d.detail);
		dir_record(r, &d);
		report(r);
		return;
	}
	/* Recorded before acting: after a crash the agent reports it, never redoes it. */
	snprintf(d.detail, sizeof(d.detail), "started");
	if (!dir_record(r, &d)) {
		/* Could not promise at most once: do not act (nor claim the token). */
		d.ok = false;
		d.done_at = hal_time_real(r->hal);
		d.fencing = prev_fencing;
		snprintf(d.detail, sizeof(d.detail), "refused: cannot record the directive");
		st->directive = d;
		report(r);
		return;
	}
	log_printable_copy(dv->reason, reason, sizeof(reason));
	log_notice("directive %s (%s): accepted, fencing token %llu%s%s", d.id,
	           directive_kind_name(d.kind), (unsigned long long)d.fencing,
	           reason[0] ? ": " : "", reason);
	if (dv->kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART) {
		snprintf(r->token, sizeof(r->token), "%s", dv->enrolment_token);
		mbedtls_pk_free(&r->qs_key); /* a new QuickStart, a new key */
		mbedtls_pk_init(&r->qs_key);
	}
	st->phase = phase_of(dv->kind);
	r->act_pending = true;
	r->act_deadline = dv->lease ? dv->lease->expires_at : 0;
	r->act_tries = 0;
	/* Acted on in the loop's next turn, outside the reporter's callback: acting may stop
	 * and restart the coordinator link. */
	event_active(r->ev_act, EV_TIMEOUT, 0);
	report(r);
}

void recovery_directives(struct recovery *r, Kma__V1__Directive *const *ds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const Kma__V1__Directive *dv = ds[i];
		char why[300];

		/* Handled before: the coordinator re-sends until it sees the result. */
		if (dv->id && handled(r, dv->id))
			continue;
		/* One at a time: the next comes with a later reply. */
		if (r->act_pending || r->deps.status->phase != KMA__V1__PHASE__PHASE_RUNNING)
			return;
		if (directive_check(dv, r->deps.node_id, 0, 0, why, sizeof(why)) ==
		    DIRECTIVE_BAD_ID) {
			char text[80];

			log_printable_copy(dv->id, text, sizeof(text));
			if (strcmp(text, r->bad_id_logged) != 0)
				log_warn("coordinator: ignoring a directive: %s ('%s')", why, text);
			snprintf(r->bad_id_logged, sizeof(r->bad_id_logged), "%s", text);
			continue;
		}
		dir_handle(r, dv);
		return;
	}
}

/* What became of the last directive (recovery_start's contract). */
static void dir_startup(struct recovery *r)
{
	struct directive_record d;
	char why[300], boot[HAL_BOOT_ID] = "";

	switch (directive_load(r->hal->state_dir, &d, why, sizeof(why))) {
	case DIRECTIVE_REC_NONE:
		return;
	case DIRECTIVE_REC_OK:
		break;
	default:
		log_err("directive record unusable: %s; refusing every directive until it is "
		        "removed (after checking that no reboot or reset is under way)",
		        why);
		r->blocked = true;
		snprintf(r->problem, sizeof(r->problem), "directive record unusable: %.300s", why);
		return;
	}
	r->deps.status->directive = d;
	r->deps.status->has_directive = true;
	remember(r, d.id);
	if (d.done_at != 0)
		return;
	if (hal_boot_id(r->hal, boot, sizeof(boot)) != HAL_OK)
		boot[0] = '\0';
	if (d.kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT && boot[0] && d.boot_id[0] &&
	    strcmp(boot, d.boot_id) != 0)
		dir_finish(r, true, "rebooted: boot ID %s", boot);
	else if (d.kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT)
		dir_finish(r, false,
		           "did not finish: the agent restarted without a reboot (boot ID "
		           "unchanged); not retried");
	else
		dir_finish(r, false, "did not finish: the agent stopped during the %s; not retried",
		           directive_kind_name(d.kind));
}

int recovery_start(struct recovery *r, struct event_base *base, struct hal *hal,
                   const struct agent_config *cfg, const struct recovery_deps *deps)
{
	r->base = base;
	r->hal = hal;
	r->cfg = cfg;
	r->deps = *deps;
	mbedtls_pk_init(&r->qs_key);
	r->ev_act = event_new(base, -1, 0, on_act, r);
	if (!r->ev_act) {
		log_err("cannot register events");
		return -1;
	}
	dir_startup(r);
	return 0;
}

bool recovery_reexec(const struct recovery *r)
{
	return r->reexec;
}

void recovery_stop(struct recovery *r)
{
	mbedtls_platform_zeroize(r->token, sizeof(r->token));
	mbedtls_pk_free(&r->qs_key); /* zeroed is the state mbedtls_pk_init leaves */
	if (r->ev_act)
		event_free(r->ev_act);
	r->ev_act = NULL;
	r->act_pending = false;
}
