#include "daemon.h"

#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "coordlink.h"
#include "exitcodes.h"
#include "health.h"
#include "identity.h"
#include "hostport.h"
#include "kmipcheck.h"
#include "log.h"
#include "mesh.h"
#include "privsep.h"
#include "recovery.h"
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
	struct recovery rec;            /* the coordinator's directives (writes status) */
	struct sdnotify_ev notify;      /* systemd: READY=1, WATCHDOG=1, STOPPING=1 */
};

static void hw_check(struct daemon *d);

static void on_identity_changed(void *arg)
{
	hw_check(arg);
}

/* Something the coordinator should hear now. */
static void on_report(void *arg)
{
	struct daemon *d = arg;

	coordlink_kick(&d->link);
}

/* A factory reset erased the identity: peers are not probed with it any more. */
static void on_identity_erased(void *arg)
{
	struct daemon *d = arg;

	mesh_stop(&d->mesh);
}

static void on_directives(void *arg, Kma__V1__Directive *const *ds, size_t n)
{
	struct daemon *d = arg;

	recovery_directives(&d->rec, ds, n);
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

	if (!cfg->mesh_listen[0] && !cfg->peers_file[0] && !cfg->coord_urls.n)
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
		if (cfg->coord_urls.n)
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
		d->mesh.on_change = on_report;
		d->mesh.on_change_arg = d;
	}
	if (cfg->coord_urls.n) {
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

/* Directives are taken up from here on; the one under way when the agent stopped is settled. */
static int directives_start(struct daemon *d)
{
	struct recovery_deps deps = {
	    .status = &d->status,
	    .node_id = d->link.node_id,
	    .report = on_report,
	    .identity_erased = on_identity_erased,
	    .identity_changed = on_identity_changed,
	    .arg = d,
	};

	return recovery_start(&d->rec, d->base, d->hal, d->cfg, &deps);
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
	d->ev_trim = event_new(d->base, -1, EV_PERSIST, on_trim, d);
	if (!d->ev_term || !d->ev_int || !d->ev_hup || !d->ev_hwcheck ||
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
	if (directives_start(d) != 0)
		goto exit;
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
	log_notice(recovery_reexec(&d->rec) ? "stopped for the simulated reboot" : "stopped");
	ret = d->helper_lost ? KMA_EXIT_SOFTWARE : KMA_EXIT_OK;
	*reexec = recovery_reexec(&d->rec) && !d->helper_lost;
exit:
	sdnotify_ev_stop(&d->notify, !recovery_reexec(&d->rec));
	recovery_stop(&d->rec);
	health_stop(&d->health);
	kmipcheck_cancel(d->kmip);
	if (d->ev_kmip)
		event_free(d->ev_kmip);
	coordlink_stop(&d->link);
	mesh_stop(&d->mesh);
	if (d->ev_helper)
		event_free(d->ev_helper);
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
