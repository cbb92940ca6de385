#include "daemon.h"

#include <event2/event.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "identity.h"
#include "log.h"
#include "coordlink.h"
#include "health.h"
#include "mesh.h"

struct daemon {
	struct event_base *base;
	struct hal *hal;
	const struct agent_config *cfg;
	struct event *ev_term, *ev_int, *ev_hup, *ev_hwcheck;
	struct identity_view last;
	bool have_last;
	struct mesh mesh;
	struct coordlink link;
	struct health health;
	struct coordlink_status status; /* what reports say beyond the identity view */
};

static void hw_check(struct daemon *d);

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

	coordlink_stop(&d->link);
	mesh_stop(&d->mesh);
	if (!cfg->mesh_listen[0] && !cfg->peers_file[0] && !cfg->coord_url[0])
		return;
	if (hal_identity_load(d->hal, &rec, &info) != HAL_OK) {
		log_warn("mesh: not started: this node has no usable identity (%s)",
		         kma_cause_id(KMA_CAUSE_LOCAL_IDENTITY_MISSING));
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

static void on_hwcheck(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hw_check(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info(
		    "SIGHUP: checking the identity and key service, re-reading the peer table");
		health_check_now(&d->health);
		hw_check(d);
		reload_peers(d);
		return;
	}
	log_notice("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopexit(d->base, NULL);
}

int daemon_run(struct hal *hal, const struct agent_config *cfg)
{
	int ret = KMA_EXIT_SOFTWARE;
	struct daemon d = {.hal = hal, .cfg = cfg, .status.phase = KMA__V1__PHASE__PHASE_RUNNING};
	struct timeval every = {.tv_sec = (time_t)cfg->hw_check_interval_s};
	struct event_config *ecfg = event_config_new();

	if (!ecfg)
		goto exit;
	/*
	 * libevent keeps timers on CLOCK_MONOTONIC, so fixing an appliance's wall clock does
	 * not fire or stall them. Only the loop's thread touches libevent (the health worker
	 * talks to it through a pipe): no locks.
	 */
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK);
	d.base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (!d.base) {
		log_err("cannot create the event loop");
		goto exit;
	}
	d.ev_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	d.ev_hup = evsignal_new(d.base, SIGHUP, on_signal, &d);
	d.ev_hwcheck = event_new(d.base, -1, EV_PERSIST, on_hwcheck, &d);
	if (!d.ev_term || !d.ev_int || !d.ev_hup || !d.ev_hwcheck ||
	    evsignal_add(d.ev_term, NULL) || evsignal_add(d.ev_int, NULL) ||
	    evsignal_add(d.ev_hup, NULL) || event_add(d.ev_hwcheck, &every)) {
		log_err("cannot register events");
		goto exit;
	}
	signal(SIGPIPE, SIG_IGN);

	log_notice("kma-agent %s starting: board %s (%s backend), state in %s", KMA_VERSION,
	           hal->board->name, hal->ops->name, hal->state_dir);
	if (health_start(&d.health, d.base, hal, cfg->hw_check_interval_s, on_health, &d) != 0)
		goto exit;
	hw_check(&d);
	log_notice("running; hardware check every %u s", cfg->hw_check_interval_s);
	if (event_base_dispatch(d.base) < 0) {
		log_err("event loop failed");
		goto exit;
	}
	log_notice("stopped");
	ret = KMA_EXIT_OK;
exit:
	health_stop(&d.health);
	coordlink_stop(&d.link);
	mesh_stop(&d.mesh);
	if (d.ev_hwcheck)
		event_free(d.ev_hwcheck);
	if (d.ev_hup)
		event_free(d.ev_hup);
	if (d.ev_int)
		event_free(d.ev_int);
	if (d.ev_term)
		event_free(d.ev_term);
	if (d.base)
		event_base_free(d.base);
	return ret;
}
