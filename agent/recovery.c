#include "recovery.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "coordlink.h"
#include "daemon_priv.h"
#include "directive.h"
#include "hal.h"
#include "log.h"
#include "mesh.h"
#include "quickstart.h"

/* ---- directives ---- */

/* Text from the network made fit for a log line: printable, at most 64 bytes shown. */
static void clean_text(const char *in, char *out, size_t size)
{
	snprintf(out, size, "%.64s", in ? in : "");
	log_printable(out);
}

static void remember(struct daemon *d, const char *id)
{
	for (unsigned i = 0; i < d->n_seen && i < 16; i++)
		if (strcmp(d->seen[i], id) == 0)
			return;
	snprintf(d->seen[d->n_seen++ % 16], sizeof(d->seen[0]), "%s", id);
}

static bool handled(const struct daemon *d, const char *id)
{
	if (d->status.has_directive && strcmp(id, d->status.directive.id) == 0)
		return true;
	for (unsigned i = 0; i < d->n_seen && i < 16; i++)
		if (strcmp(d->seen[i], id) == 0)
			return true;
	return false;
}

/*
 * Makes rec the last directive: written to the record first (unless the record is
 * unreadable, when nothing may overwrite it), then what reports say. False when it could
 * not be written.
 */
static bool dir_record(struct daemon *d, const struct directive_record *rec)
{
	struct directive_record r = *rec;
	char why[300];
	bool ok = true;

	if (hal_boot_id(d->hal, r.boot_id, sizeof(r.boot_id)) != HAL_OK)
		r.boot_id[0] = '\0';
	if (!d->dir_blocked &&
	    directive_store(d->hal->state_dir, &r, why, sizeof(why)) != DIRECTIVE_REC_OK) {
		log_err("directive %s: cannot record it: %s", r.id, why);
		ok = false;
	}
	d->status.directive = r;
	d->status.has_directive = true;
	remember(d, r.id);
	return ok;
}

/* The final word on the directive under way. */
static void dir_finish(struct daemon *d, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dir_finish(struct daemon *d, bool ok, const char *fmt, ...)
{
	struct directive_record r = d->status.directive;
	va_list ap;

	r.ok = ok;
	va_start(ap, fmt);
	vsnprintf(r.detail, sizeof(r.detail), fmt, ap);
	va_end(ap);
	r.done_at = hal_time_real(d->hal);
	dir_record(d, &r);
	log_msg(ok ? LOG_LVL_NOTICE : LOG_LVL_ERR, "directive %s (%s): %s: %s", r.id,
	        directive_kind_name(r.kind), ok ? "done" : "failed", r.detail);
	d->status.phase = KMA__V1__PHASE__PHASE_RUNNING;
	coordlink_kick(&d->link);
}

static void act_reboot(struct daemon *d)
{
	struct directive_record r = d->status.directive;

	snprintf(r.detail, sizeof(r.detail), "rebooting");
	if (!dir_record(d, &r)) {
		dir_finish(d, false, "not rebooted: the directive could not be recorded");
		return;
	}
	/* On linux the board's command returns once the shutdown has started (or within its
	 * timeout); the loop waits for it, since nothing is served during a reboot anyway. */
	if (hal_reboot(d->hal) != HAL_OK) {
		dir_finish(d, false, "reboot failed: %s", d->hal->error);
		return;
	}
	if (hal_reboot_reexecs(d->hal)) {
		log_notice("directive %s: simulated reboot done: the agent restarts itself", r.id);
		d->reexec = true;
		event_base_loopexit(d->base, NULL);
		return;
	}
	/* Reporting goes on (phase rebooting) until the system ends us. */
	log_notice("directive %s: reboot under way", r.id);
	coordlink_kick(&d->link);
}

static void act_factory_reset(struct daemon *d)
{
	if (hal_identity_erase(d->hal) != HAL_OK) {
		dir_finish(d, false, "factory reset failed: %s", d->hal->error);
		return;
	}
	hal_crash_point(d->hal, "factory_reset_erased");
	mesh_stop(&d->mesh);
	dir_finish(d, true, "identity erased; waiting for a QuickStart");
	hw_check(d); /* state unprovisioned; the link goes on (identity_restart) */
}

static void act_quickstart(struct daemon *d)
{
	char err[512], node_id[sizeof(d->link.node_id)];
	enum quickstart_status qs;

	snprintf(node_id, sizeof(node_id), "%s", d->link.node_id);
	/*
	 * Blocks the loop (libcurl easy, 10 s to connect, 30 s in all): acceptable here,
	 * since a node being QuickStarted has no identity, serves no keys and probes no one.
	 */
	qs = quickstart_run(d->hal, d->cfg, node_id, d->token, err, sizeof(err));
	if (qs == QUICKSTART_ERR_UNREACHABLE && hal_time_real(d->hal) + 2 < d->act_deadline) {
		/*
		 * Nothing happened at the coordinator (it was not reached, the token is unspent),
		 * so trying again is safe; the lease bounds it. A refusal is never retried.
		 */
		unsigned delay = d->act_tries < 4 ? 2u << d->act_tries : 30u;
		struct timeval tv = {.tv_sec = (time_t)delay};

		d->act_tries++;
		log_warn("directive %s: %s; trying again in %u s (until the lease expires)",
		         d->status.directive.id, err, delay);
		d->act_pending = true;
		event_add(d->ev_act, &tv);
		return;
	}
	mbedtls_platform_zeroize(d->token, sizeof(d->token));
	if (qs != QUICKSTART_OK) {
		dir_finish(d, false, "quickstart failed: %s", err);
		return;
	}
	dir_finish(d, true, "enrolled as %s", node_id);
	/* The new certificate restarts the mesh and the link (identity_restart). */
	hw_check(d);
}

void on_act(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	d->act_pending = false;
	switch (d->status.directive.kind) {
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT:
		act_reboot(d);
		break;
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET:
		act_factory_reset(d);
		break;
	case KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART:
		act_quickstart(d);
		break;
	default:
		dir_finish(d, false, "internal error: not a disruptive directive");
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
static void dir_refuse(struct daemon *d, const Kma__V1__Directive *dv, const char *why)
{
	struct directive_record r = {.ok = false};

	snprintf(r.id, sizeof(r.id), "%s", dv->id);
	r.kind = strcmp(directive_kind_name(dv->kind), "unknown") != 0
	             ? dv->kind
	             : KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_UNSPECIFIED;
	snprintf(r.detail, sizeof(r.detail), "refused: %s", why);
	r.done_at = hal_time_real(d->hal);
	r.fencing = d->status.directive.fencing;
	log_warn("directive %s (%s): refused: %s", r.id, directive_kind_name(dv->kind), why);
	dir_record(d, &r);
	coordlink_kick(&d->link);
}

/* One new directive: refuse it, or record it as started and act (at most once). */
static void dir_handle(struct daemon *d, const Kma__V1__Directive *dv)
{
	struct directive_record r = {.ok = true};
	char why[300], reason[200];
	uint64_t prev_fencing = d->status.directive.fencing;
	enum directive_verdict v = directive_check(dv, d->link.node_id, hal_time_real(d->hal),
	                                           d->status.directive.fencing, why, sizeof(why));

	if (d->dir_blocked) {
		dir_refuse(d, dv, d->dir_problem);
		return;
	}
	if (v != DIRECTIVE_ACCEPT) {
		dir_refuse(d, dv, why);
		return;
	}
	snprintf(r.id, sizeof(r.id), "%s", dv->id);
	r.kind = dv->kind;
	r.fencing =
	    directive_disruptive(dv->kind) ? dv->lease->fencing_token : d->status.directive.fencing;
	if (!directive_disruptive(dv->kind)) {
		/* Nothing to undo or repeat: the result is the only record. */
		r.done_at = hal_time_real(d->hal);
		if (dv->kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_JOIN)
			snprintf(r.detail, sizeof(r.detail),
			         "nothing to do: enrolment already recorded our serial");
		else if (dv->kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_UPDATE_PEERS)
			snprintf(r.detail, sizeof(r.detail), "reporting for the peer table");
		else
			snprintf(r.detail, sizeof(r.detail), "holding");
		log_notice("directive %s (%s): %s", r.id, directive_kind_name(r.kind), r.detail);
		dir_record(d, &r);
		coordlink_kick(&d->link);
		return;
	}
	/* Recorded before acting: after a crash the agent reports it, never redoes it. */
	snprintf(r.detail, sizeof(r.detail), "started");
	if (!dir_record(d, &r)) {
		/* Could not promise at most once: do not act (nor claim the token). */
		r.ok = false;
		r.done_at = hal_time_real(d->hal);
		r.fencing = prev_fencing;
		snprintf(r.detail, sizeof(r.detail), "refused: cannot record the directive");
		d->status.directive = r;
		coordlink_kick(&d->link);
		return;
	}
	clean_text(dv->reason, reason, sizeof(reason));
	log_notice("directive %s (%s): accepted, fencing token %llu%s%s", r.id,
	           directive_kind_name(r.kind), (unsigned long long)r.fencing,
	           reason[0] ? ": " : "", reason);
	if (dv->kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART)
		snprintf(d->token, sizeof(d->token), "%s", dv->enrolment_token);
	d->status.phase = phase_of(dv->kind);
	d->act_pending = true;
	d->act_deadline = dv->lease ? dv->lease->expires_at : 0;
	d->act_tries = 0;
	/* Acted on in the loop's next turn, outside the reporter's callback: acting may stop
	 * and restart the coordinator link. */
	event_active(d->ev_act, EV_TIMEOUT, 0);
	coordlink_kick(&d->link);
}

void on_directives(void *arg, Kma__V1__Directive *const *ds, size_t n)
{
	struct daemon *d = arg;

	for (size_t i = 0; i < n; i++) {
		const Kma__V1__Directive *dv = ds[i];
		char why[300];

		/* Handled before: the coordinator re-sends until it sees the result. */
		if (dv->id && handled(d, dv->id))
			continue;
		/* One at a time: the next comes with a later reply. */
		if (d->act_pending || d->status.phase != KMA__V1__PHASE__PHASE_RUNNING)
			return;
		if (directive_check(dv, d->link.node_id, 0, 0, why, sizeof(why)) ==
		    DIRECTIVE_BAD_ID) {
			char text[80];

			clean_text(dv->id, text, sizeof(text));
			if (strcmp(text, d->bad_id_logged) != 0)
				log_warn("coordinator: ignoring a directive: %s ('%s')", why, text);
			snprintf(d->bad_id_logged, sizeof(d->bad_id_logged), "%s", text);
			continue;
		}
		dir_handle(d, dv);
		return;
	}
}

/*
 * At start: what became of the last directive. One still marked under way was cut short
 * by the end of the agent: a reboot that changed the boot ID did what it was meant to;
 * anything else is reported as not finished and is not done again.
 */
void dir_startup(struct daemon *d)
{
	struct directive_record r;
	char why[300], boot[HAL_BOOT_ID] = "";

	switch (directive_load(d->hal->state_dir, &r, why, sizeof(why))) {
	case DIRECTIVE_REC_NONE:
		return;
	case DIRECTIVE_REC_OK:
		break;
	default:
		log_err("directive record unusable: %s; refusing every directive until it is "
		        "removed (after checking that no reboot or reset is under way)",
		        why);
		d->dir_blocked = true;
		snprintf(d->dir_problem, sizeof(d->dir_problem),
		         "directive record unusable: %.300s", why);
		return;
	}
	d->status.directive = r;
	d->status.has_directive = true;
	remember(d, r.id);
	if (r.done_at != 0)
		return;
	if (hal_boot_id(d->hal, boot, sizeof(boot)) != HAL_OK)
		boot[0] = '\0';
	if (r.kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT && boot[0] && r.boot_id[0] &&
	    strcmp(boot, r.boot_id) != 0)
		dir_finish(d, true, "rebooted: boot ID %s", boot);
	else if (r.kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT)
		dir_finish(d, false,
		           "did not finish: the agent restarted without a reboot (boot ID "
		           "unchanged); not retried");
	else
		dir_finish(d, false, "did not finish: the agent stopped during the %s; not retried",
		           directive_kind_name(r.kind));
}
