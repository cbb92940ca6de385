#include "daemon.h"

#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "coordlink.h"
#include "directive.h"
#include "exitcodes.h"
#include "health.h"
#include "identity.h"
#include "hostport.h"
#include "kmipcheck.h"
#include "log.h"
#include "mesh.h"
#include "privsep.h"
#include "quickstart.h"
#include "sdnotify_ev.h"

struct daemon {
	struct event_base *base;
	struct hal *hal;
	const struct agent_config *cfg;
	struct event *ev_term, *ev_int, *ev_hup, *ev_hwcheck;
	struct event *ev_trim;   /* gives freed heap back (memory_policy) */
	struct event *ev_helper; /* the privileged helper's lifeline (hal/privsep.h) */
	bool helper_lost;
	struct identity_view last;
	bool have_last;
	struct mesh mesh;
	struct coordlink link;
	struct health health;
	struct event *ev_kmip;          /* the KMIP check's interval */
	struct kmipcheck *kmip;         /* the check in flight, NULL when none */
	bool queue_full;                /* a watched accept queue was full at the last sample */
	struct coordlink_status status; /* what reports say beyond the identity view */
	/* Directives. */
	bool dir_blocked;       /* the record is unreadable: refuse everything */
	char dir_problem[340];  /* why */
	char bad_id_logged[80]; /* the last malformed directive we complained about */
	/* Ids handled since start (the record keeps the last across restarts), so that a reply
	 * listing an old directive beside a new one does not make them take turns. */
	char seen[16][DIRECTIVE_ID_MAX + 1];
	unsigned n_seen;
	struct event *ev_act; /* runs the accepted disruptive directive */
	bool act_pending;
	int64_t act_deadline; /* its lease's expiry: a QuickStart may be tried again until then */
	unsigned act_tries;
	char token[DIRECTIVE_TOKEN_MAX + 1]; /* QUICKSTART's, wiped after use */
	bool reexec;                         /* a simulated reboot: main re-executes the agent */
	struct sdnotify_ev notify;           /* systemd: READY=1, WATCHDOG=1, STOPPING=1 */
};

static void hw_check(struct daemon *d);
static void on_directives(void *arg, Kma__V1__Directive *const *ds, size_t n);

static void on_identity_changed(void *arg)
{
	hw_check(arg);
}

static void on_mesh_change(void *arg)
{
	struct daemon *d = arg;

	coordlink_kick(&d->link);
}

/*
 * (Re)starts the mesh and the coordinator link with the identity now on record: at start
 * and whenever our certificate changes (QuickStart, import), so peers are probed and the
 * coordinator hears from us with it at once.
 */
static void identity_restart(struct daemon *d)
{
	Kma__V1__IdentityRecord *rec = NULL;
	struct hal_load_info info;
	const struct agent_config *cfg = d->cfg;

	enum hal_status st;

	if (!cfg->mesh_listen[0] && !cfg->peers_file[0] && !cfg->coord_url[0])
		return;
	st = hal_identity_load(d->hal, &rec, &info);
	if (st == HAL_ERR_NOT_FOUND && d->link.running) {
		/*
		 * Erased under us (factory reset): peers cannot be probed without an identity,
		 * but the coordinator must see the result and send the QuickStart, so the link
		 * goes on with the certificate it holds in memory.
		 */
		mesh_stop(&d->mesh);
		log_warn("identity erased: mesh stopped; still reporting to the coordinator as "
		         "%s with the certificate in memory until a QuickStart",
		         d->link.node_id);
		return;
	}
	coordlink_stop(&d->link);
	mesh_stop(&d->mesh);
	if (st != HAL_OK) {
		log_warn("mesh: not started: this node has no usable identity (%s)",
		         kma_cause_id(KMA_CAUSE_LOCAL_IDENTITY_MISSING));
		if (cfg->coord_url[0])
			log_warn(
			    "coordinator: not reporting: no identity to authenticate with "
			    "(after a factory reset a restarted agent cannot report; QuickStart "
			    "this node: kma-agent quickstart)");
		return;
	}
	if (mesh_start(&d->mesh, d->base, d->hal, cfg, rec) != 0) {
		log_err("mesh: not started");
		mesh_stop(&d->mesh);
	} else {
		d->mesh.on_change = on_mesh_change;
		d->mesh.on_change_arg = d;
	}
	if (cfg->coord_url[0]) {
		struct coordlink_deps deps = {
		    .view = &d->last,
		    .mesh = &d->mesh,
		    .status = &d->status,
		    .identity_changed = on_identity_changed,
		    .directives = on_directives,
		    .arg = d,
		};

		if (coordlink_start(&d->link, d->base, d->hal, cfg, &deps, rec) != 0)
			log_err("coordinator: not reporting");
	}
	kma__v1__identity_record__free_unpacked(rec, NULL);
}

static void log_view(const struct identity_view *v)
{
	char parts[96];

	identity_parts_str(v->parts_changed, parts, sizeof(parts));
	if (!v->has_record) {
		log_notice("identity: state=%s (%s); board serial '%s'", kma_state_id(v->state),
		           kma_state_meaning(v->state), v->hw.board_serial);
		return;
	}
	log_notice("identity: node %s state=%s generation=%u serial=%s%s%s", v->node_id,
	           kma_state_id(v->state), v->generation, v->has_cert ? v->cert.serial : "-",
	           parts[0] ? " changed=" : "", parts);
}

/* Reports, part by part, what differs from the previous look. */
static void report_changes(const struct identity_view *was, const struct identity_view *now)
{
	static const struct {
		enum kma_part part;
		size_t off;
	} fields[] = {
	    {KMA_PART_BOARD, offsetof(struct hal_hwid, board_serial)},
	    {KMA_PART_PRODUCT_UUID, offsetof(struct hal_hwid, product_uuid)},
	    {KMA_PART_DISK, offsetof(struct hal_hwid, disk_serial)},
	    {KMA_PART_CPU, offsetof(struct hal_hwid, cpu_id)},
	    {KMA_PART_MAC, offsetof(struct hal_hwid, mac)},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *a = (const char *)&was->hw + fields[i].off;
		const char *b = (const char *)&now->hw + fields[i].off;

		if (strcmp(a, b) != 0)
			log_warn("hardware: %s changed from '%s' to '%s'",
			         kma_part_id(fields[i].part), a, b);
	}
	if (was->state != now->state) {
		log_warn("identity: state %s -> %s (%s)", kma_state_id(was->state),
		         kma_state_id(now->state), kma_state_meaning(now->state));
		log_view(now);
	}
	if (strcmp(was->boot_id, now->boot_id) != 0 && was->boot_id[0])
		log_notice("boot ID changed from %s to %s", was->boot_id, now->boot_id);
}

static void hw_check_identity(struct daemon *d)
{
	struct identity_view now;
	enum identity_status st = identity_assess(d->hal, &now);

	if (st == IDENTITY_ERR_HAL) {
		log_err("hardware identity unreadable: %s", d->hal->error);
		return;
	}
	if (st != IDENTITY_OK &&
	    (!d->have_last || strcmp(d->last.record_problem, now.record_problem) != 0))
		log_err("identity record unusable: %s", now.record_problem);
	if (now.from_backup && (!d->have_last || !d->last.from_backup))
		log_warn("identity record damaged (%s); using the previous copy",
		         now.record_problem);
	if (!d->have_last)
		log_view(&now);
	else
		report_changes(&d->last, &now);
	if (!d->have_last || d->last.has_cert != now.has_cert ||
	    d->last.generation != now.generation ||
	    strcmp(d->last.cert.serial, now.cert.serial) != 0) {
		d->last = now;
		d->have_last = true;
		identity_restart(d);
		return;
	}
	if (d->last.state != now.state)
		coordlink_kick(&d->link);
	d->last = now;
	d->have_last = true;
}

/* The identity, then the faults the HAL may inject into a (re)started mesh. */
static void hw_check(struct daemon *d)
{
	hw_check_identity(d);
	mesh_set_wedged(&d->mesh, hal_listener_wedged(d->hal));
}

/* A changed peer table is probed at once; observations of unchanged peers stay. */
static void reload_peers(struct daemon *d)
{
	struct peer_table *t;
	struct config_error err;

	if (!d->mesh.running || !d->cfg->peers_file[0])
		return;
	t = malloc(sizeof(*t));
	if (!t)
		return;
	if (peers_load(t, d->cfg->peers_file, &err) != 0)
		log_err("peer table not reloaded: %s:%d: %s", err.path, err.line, err.message);
	else if (mesh_update_peers(&d->mesh, t) != 0)
		log_err("peer table not reloaded: out of memory");
	else
		log_notice("peer table reloaded: %zu peers", t->n);
	free(t);
}

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

static void on_act(evutil_socket_t fd, short what, void *arg)
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

static void on_directives(void *arg, Kma__V1__Directive *const *ds, size_t n)
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
static void dir_startup(struct daemon *d)
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

/* Logged once per change, not once per check; every change is reported at once. */
static void on_health(void *arg, const struct health_result *now)
{
	struct daemon *d = arg;
	const struct health_result *was = &d->status.health;

	if (now->status != HAL_OK)
		log_warn("key service: health check failed: %s", now->detail);
	else if (!now->healthy)
		log_warn("key service: unhealthy: %s", now->detail);
	else if (was->checked && !was->healthy)
		log_notice("key service: healthy again (%s)", now->detail);
	else
		log_info("key service: healthy (%s)", now->detail);
	d->status.health = *now;
	coordlink_kick(&d->link);
}

/* The KMIP check's outcome: logged when it changes, reported at once. */
static void on_kmip_done(void *arg, const struct kmipcheck_outcome *o)
{
	struct daemon *d = arg;
	const struct kmipcheck_outcome *was = &d->status.kmip;
	bool changed = !d->status.kmip_checked || was->result != o->result ||
	               was->cause != o->cause || was->result_reason != o->result_reason;

	d->kmip = NULL;
	if (o->result != KMIPCHECK_OK)
		log_warn("key service: KMIP check %s: %s", kmipcheck_result_id(o->result),
		         o->detail);
	else if (changed && d->status.kmip_checked)
		log_notice("key service: serving keys again: %s", o->detail);
	else if (changed)
		log_info("key service: %s", o->detail);
	else
		log_debug("key service: %s", o->detail);
	d->status.kmip = *o;
	d->status.kmip_checked = true;
	if (changed)
		coordlink_kick(&d->link);
}

/* Starts a KMIP check unless one runs; the identity is read now, the check owns nothing of it. */
static void kmip_check(struct daemon *d)
{
	const struct board_kmip *k = &d->hal->board->kmip;
	Kma__V1__IdentityRecord *rec = NULL;
	struct hal_load_info info;

	if (!k->address[0] || d->kmip)
		return;
	if (strcmp(k->client_cert, "identity") == 0 || strcmp(k->server_ca, "identity") == 0)
		if (hal_identity_load(d->hal, &rec, &info) != HAL_OK)
			rec = NULL; /* the check says it has no identity to present */
	d->kmip = kmipcheck_start(d->base, k, rec, hal_time_real(d->hal), on_kmip_done, d);
	if (!d->kmip)
		log_warn("key service: KMIP check not started: out of memory");
	if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
}

/* One port of host:port measured into the watch, when something listens there. */
static void listen_one(struct daemon *d, int64_t now, const char *role, const char *address)
{
	char host[HOSTPORT_HOST_MAX], why[96];
	unsigned port;
	struct hal_listen_queue q;

	if (!address[0] || hostport_split(address, host, sizeof(host), &port, why, sizeof(why)))
		return;
	if (hal_listen_queue(d->hal, port, &q) != HAL_OK) {
		log_debug("listen queue of port %u: %s", port, d->hal->error);
		return;
	}
	listenwatch_add(&d->status.listen, now, role, &q);
}

/*
 * The key service's and our own listen queues, at every hardware check: a queue that fills
 * up (or empties again) is logged and reported at once.
 */
static void listen_sample(struct daemon *d)
{
	struct listenwatch *w = &d->status.listen;
	bool full = false;

	listenwatch_begin(w);
	listen_one(d, hal_time_real(d->hal), "key_service", d->hal->board->kmip.address);
	listen_one(d, hal_time_real(d->hal), "mesh", d->cfg->mesh_listen);
	for (unsigned i = 0; i < w->n_ports; i++) {
		const struct listenwatch_port *p = &w->ports[i];
		char text[200];

		if (!p->q.listening || !p->q.backlog || p->q.queued < p->q.backlog)
			continue;
		full = true;
		if (!d->queue_full) {
			listenwatch_describe(p, w->recent, w->window_s, text, sizeof(text));
			log_warn("listen queue full: %s", text);
		}
	}
	if (full != d->queue_full) {
		if (!full)
			log_notice("listen queues drain again");
		d->queue_full = full;
		coordlink_kick(&d->link);
	}
}

static void on_kmip_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kmip_check(arg);
}

static void on_hwcheck(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	listen_sample(arg);
	hw_check(arg);
}

/*
 * Every probe allocates and frees (parsed certificates, handshake state), and the longer
 * lived (sessions, reports) land between: the heap keeps pages no block uses, up to two
 * thirds of it after the start-up burst. malloc_trim() hands back every whole free page,
 * not only the top's, for a walk over the free lists.
 */
static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info(
		    "SIGHUP: checking the identity and key service, re-reading the peer table");
		health_check_now(&d->health);
		kmip_check(d);
		hw_check(d);
		reload_peers(d);
		return;
	}
	log_notice("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopexit(d->base, NULL);
}

/* Without its helper the agent could not act on a directive: stop, and be restarted. */
static void on_helper_gone(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	log_err("the privileged helper has exited: stopping (the service manager restarts both)");
	d->helper_lost = true;
	event_base_loopexit(d->base, NULL);
}

/*
 * glibc's allocator is tuned for servers; an appliance counts kilobytes. One arena: the
 * health worker (and curl's resolver, for a coordinator named by host name) would each
 * get one of their own, a heap apart. Blocks from 16 KiB up (every handshake's TLS record
 * buffers, curl's transfer buffers, peer tables) mapped each on its own and unmapped when
 * freed: otherwise the start-up burst, when every peer is probed and probes us at once,
 * leaves a heap that later holes keep from shrinking. Fixing the threshold also stops
 * glibc raising it after the first such free.
 */
static void memory_policy(void)
{
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 16 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024);
}

int daemon_run(struct hal *hal, const struct agent_config *cfg, bool *reexec)
{
	int ret = KMA_EXIT_SOFTWARE;
	/*
	 * On the heap, not the stack: most of it is the mesh's room for 256 peers, which stays
	 * untouched (calloc hands out fresh zero pages for a block this size), while on the
	 * stack its initialiser wrote every page (make bench-footprint).
	 */
	struct daemon *d;
	struct timeval every = {.tv_sec = (time_t)cfg->hw_check_interval_s};
	struct timeval trim_every = {.tv_sec = 30};
	struct event_config *ecfg = NULL;

	memory_policy();
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("out of memory");
		return ret;
	}
	d->hal = hal;
	d->cfg = cfg;
	d->status.phase = KMA__V1__PHASE__PHASE_RUNNING;
	ecfg = event_config_new();
	if (!ecfg)
		goto exit;
	/*
	 * libevent keeps timers on CLOCK_MONOTONIC, so fixing an appliance's wall clock does
	 * not fire or stall them. Only the loop's thread touches libevent (the health worker
	 * talks to it through a pipe): no locks.
	 */
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK);
	d->base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (!d->base) {
		log_err("cannot create the event loop");
		goto exit;
	}
	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->ev_hwcheck = event_new(d->base, -1, EV_PERSIST, on_hwcheck, d);
	d->ev_act = event_new(d->base, -1, 0, on_act, d);
	d->ev_trim = event_new(d->base, -1, EV_PERSIST, on_trim, d);
	if (!d->ev_term || !d->ev_int || !d->ev_hup || !d->ev_hwcheck || !d->ev_act ||
	    evsignal_add(d->ev_term, NULL) || evsignal_add(d->ev_int, NULL) || !d->ev_trim ||
	    evsignal_add(d->ev_hup, NULL) || event_add(d->ev_hwcheck, &every) ||
	    event_add(d->ev_trim, &trim_every)) {
		log_err("cannot register events");
		goto exit;
	}
	if (hal_privsep_lifeline() >= 0) {
		d->ev_helper =
		    event_new(d->base, hal_privsep_lifeline(), EV_READ, on_helper_gone, d);
		if (!d->ev_helper || event_add(d->ev_helper, NULL)) {
			log_err("cannot register events");
			goto exit;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	log_notice("kma-agent %s starting: board %s (%s backend), state in %s", KMA_VERSION,
	           hal->board->name, hal->ops->name, hal->state_dir);
	if (health_start(&d->health, d->base, hal, cfg->hw_check_interval_s, on_health, d) != 0)
		goto exit;
	if (hal->board->kmip.address[0]) {
		/* Checked as often as the hardware, and at once. */
		d->status.kmip_declared = true;
		d->ev_kmip = event_new(d->base, -1, EV_PERSIST, on_kmip_timer, d);
		if (!d->ev_kmip || event_add(d->ev_kmip, &every)) {
			log_err("cannot register events");
			goto exit;
		}
		log_notice("key service: KMIP %s of %s every %u s",
		           kmip_op_name(kmipcheck_op_from(hal->board->kmip.operation)),
		           hal->board->kmip.address, cfg->hw_check_interval_s);
		kmip_check(d);
	}
	dir_startup(d);
	listen_sample(d);
	hw_check(d);
	log_notice("running; hardware check every %u s", cfg->hw_check_interval_s);
	if (sdnotify_ev_start(&d->notify, d->base) != 0)
		goto exit;
	if (event_base_dispatch(d->base) < 0) {
		log_err("event loop failed");
		goto exit;
	}
	/*
	 * From here SIGTERM and SIGINT take their default action: libevent would catch one
	 * that comes while the agent tears down (stopping the health worker can take a while)
	 * and nobody would look at it, so an agent told to stop during a simulated reboot
	 * would re-execute and run on.
	 */
	evsignal_del(d->ev_term);
	evsignal_del(d->ev_int);
	log_notice(d->reexec ? "stopped for the simulated reboot" : "stopped");
	ret = d->helper_lost ? KMA_EXIT_SOFTWARE : KMA_EXIT_OK;
	*reexec = d->reexec && !d->helper_lost;
exit:
	sdnotify_ev_stop(&d->notify, !d->reexec);
	mbedtls_platform_zeroize(d->token, sizeof(d->token));
	health_stop(&d->health);
	kmipcheck_cancel(d->kmip);
	if (d->ev_kmip)
		event_free(d->ev_kmip);
	coordlink_stop(&d->link);
	mesh_stop(&d->mesh);
	if (d->ev_helper)
		event_free(d->ev_helper);
	if (d->ev_act)
		event_free(d->ev_act);
	if (d->ev_hwcheck)
		event_free(d->ev_hwcheck);
	if (d->ev_trim)
		event_free(d->ev_trim);
	if (d->ev_hup)
		event_free(d->ev_hup);
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->base)
		event_base_free(d->base);
	free(d);
	return ret;
}
