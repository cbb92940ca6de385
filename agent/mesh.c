#include "mesh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crlcheck.h"
#include "fileio.h"
#include "hostport.h"
#include "log.h"
#include "tlsnames.h"

/* ---- observations ---- */

static json_object *obs_json(const struct probe_obs *o, int64_t at)
{
	json_object *j = json_object_new_object();
	char t[32];

	certinfo_time_str(at, t, sizeof(t));
	json_object_object_add(j, "cause", json_object_new_string(kma_cause_id(o->cause)));
	json_object_object_add(j, "at", json_object_new_string(t));
	json_object_object_add(j, "peer", json_object_new_string(o->peer));
	json_object_object_add(j, "alert_sent",
	                       o->alert_sent >= 0 ? json_object_new_int(o->alert_sent) : NULL);
	json_object_object_add(j, "alert_received",
	                       o->alert_received >= 0 ? json_object_new_int(o->alert_received)
	                                              : NULL);
	json_object_object_add(j, "tls_error", json_object_new_int(o->tls_error));
	json_object_object_add(j, "verify_flags", json_object_new_int64(o->verify_flags));
	json_object_object_add(j, "peer_serial",
	                       o->has_cert ? json_object_new_string(o->cert.serial) : NULL);
	json_object_object_add(j, "peer_node_id",
	                       o->has_cert ? json_object_new_string(o->cert.node_id) : NULL);
	json_object_object_add(j, "expected_serial", json_object_new_string(o->expect_serial));
	json_object_object_add(j, "handshake_ms", json_object_new_int64(o->handshake_ms));
	json_object_object_add(j, "protocol",
	                       o->protocol[0] ? json_object_new_string(o->protocol) : NULL);
	json_object_object_add(j, "cipher_suite",
	                       o->suite[0] ? json_object_new_string(o->suite) : NULL);
	json_object_object_add(j, "resumed", json_object_new_boolean(o->resumed));
	json_object_object_add(j, "detail", json_object_new_string(o->detail));
	return j;
}

/* Writes mesh.json; notify: a change the coordinator should hear of at once. */
static void write_status_file(struct mesh *m, bool notify)
{
	json_object *root = json_object_new_object(), *peers = json_object_new_array();
	json_object *lst = json_object_new_object();
	const char *text;
	int e;

	for (size_t i = 0; i < m->n_peers; i++) {
		const struct peer_state *ps = m->peers[i];
		json_object *p = json_object_new_object(), *hs;
		char t[32];

		json_object_object_add(p, "node_id", json_object_new_string(ps->entry.node_id));
		json_object_object_add(p, "name", json_object_new_string(ps->entry.name));
		json_object_object_add(p, "address", json_object_new_string(ps->entry.address));
		json_object_object_add(p, "enrolled_serial",
		                       json_object_new_string(ps->entry.serial));
		json_object_object_add(p, "outbound",
		                       ps->has_out ? obs_json(&ps->out, ps->last_probe) : NULL);
		json_object_object_add(p, "inbound",
		                       ps->has_in ? obs_json(&ps->in, ps->in_at) : NULL);
		hs = json_object_new_object();
		json_object_object_add(hs, "full", json_object_new_int64((int64_t)ps->full_ok));
		json_object_object_add(hs, "resumed",
		                       json_object_new_int64((int64_t)ps->resumed_ok));
		json_object_object_add(p, "outbound_ok_handshakes", hs);
		json_object_object_add(p, "consecutive_failures",
		                       json_object_new_int64(ps->consecutive_failures));
		certinfo_time_str(ps->last_ok, t, sizeof(t));
		json_object_object_add(p, "last_ok",
		                       ps->last_ok ? json_object_new_string(t) : NULL);
		json_object_array_add(peers, p);
	}
	json_object_object_add(root, "peers", peers);
	json_object_object_add(lst, "listen", json_object_new_string(m->cfg->mesh_listen));
	json_object_object_add(lst, "accepted", json_object_new_int64((int64_t)m->accepted));
	json_object_object_add(lst, "evicted", json_object_new_int64((int64_t)m->evicted));
	json_object_object_add(lst, "in_progress", json_object_new_int64(m->n_inbound));
	json_object_object_add(root, "listener", lst);
	m->written_at = hal_time_real(m->hal);
	{
		char t[32];

		certinfo_time_str(m->written_at, t, sizeof(t));
		json_object_object_add(root, "written_at", json_object_new_string(t));
	}
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
	e = fileio_write_atomic(m->status_path, NULL, text, strlen(text), 0644);
	if (e)
		log_errno(LOG_LVL_WARN, e, "writing %s", m->status_path);
	json_object_put(root);
	if (notify && m->on_change)
		m->on_change(m->on_change_arg);
}

static void write_status(struct mesh *m)
{
	write_status_file(m, true);
}

/* Logs a change of cause (not every probe: a flapping mesh must not flood the log). */
static void log_change(const struct peer_state *ps, const char *dir, const struct probe_obs *was,
                       bool had, const struct probe_obs *now)
{
	char alerts[64] = "";

	if (had && was->cause == now->cause)
		return;
	if (now->alert_sent >= 0 || now->alert_received >= 0)
		snprintf(
		    alerts, sizeof(alerts), " (alert %s %d %s)",
		    now->alert_sent >= 0 ? "sent" : "received",
		    now->alert_sent >= 0 ? now->alert_sent : now->alert_received,
		    tlsnames_alert(now->alert_sent >= 0 ? now->alert_sent : now->alert_received));
	log_msg(now->cause == KMA_CAUSE_OK ? LOG_LVL_NOTICE : LOG_LVL_WARN,
	        "peer %s %s %s: %s%s: %s", ps->entry.node_id, dir, now->peer,
	        kma_cause_id(now->cause), alerts, now->detail);
}

/* ---- outbound ---- */

static void schedule(struct peer_state *ps, uint32_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(ps->timer, &tv);
}

/* interval +- 20 %, so that nodes started together do not probe in lockstep. */
static uint32_t jittered(struct mesh *m, uint32_t base_ms)
{
	uint32_t r = 0;

	if (hal_random(m->hal, &r, sizeof(r)) != HAL_OK)
		r = (uint32_t)probe_now_ms();
	return base_ms - base_ms / 5 + r % (base_ms / 5 * 2 + 1);
}

static void outbound_done(struct probe_ev *pe, void *arg)
{
	struct peer_state *ps = arg;
	struct mesh *m = ps->mesh;
	const struct probe_obs *o = probe_result(&pe->probe);
	bool changed = !ps->has_out || ps->out.cause != o->cause ||
	               strcmp(ps->out.cert.serial, o->cert.serial) != 0;
	/* Full or resumed is shown, but is not news for the coordinator. */
	bool shown = changed || ps->out.resumed != o->resumed;

	log_change(ps, "outbound", &ps->out, ps->has_out, o);
	ps->out = *o;
	ps->has_out = true;
	ps->last_probe = hal_time_real(m->hal);
	if (o->cause == KMA_CAUSE_OK) {
		if (o->resumed)
			ps->resumed_ok++;
		else
			ps->full_ok++;
		ps->consecutive_failures = 0;
		ps->last_ok = ps->last_probe;
	} else {
		ps->consecutive_failures++;
	}
	probe_free(&pe->probe);
	free(pe);
	ps->inflight = NULL;
	/* On a change; else once a minute, so that the file's times stay current without a
	 * write per probe to the appliance's flash. */
	if (shown || ps->last_probe - m->written_at >= MESH_REFRESH_S)
		write_status_file(m, changed);
	schedule(ps, ps->reprobe ? 0 : jittered(m, m->cfg->probe_interval_s * 1000u));
	ps->reprobe = false;
}

static void probe_peer(evutil_socket_t fd, short what, void *arg)
{
	struct peer_state *ps = arg;
	struct mesh *m = ps->mesh;
	struct probe_expect e = {.node_id = ps->entry.node_id, .serial = ps->entry.serial};
	uint64_t interval_ms = (uint64_t)m->cfg->full_handshake_interval_s * 1000u;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char host[HOSTPORT_HOST_MAX], service[8], why[160];
	unsigned port;
	struct probe_ev *pe;
	int rc;

	(void)fd;
	(void)what;
	if (ps->inflight)
		return;
	pe = calloc(1, sizeof(*pe));
	if (!pe) {
		schedule(ps, 1000);
		return;
	}
	ps->inflight = pe;
	if (m->tls.resumption && interval_ms > 0) {
		probe_session_expire(&ps->session, probe_now_ms(), interval_ms);
		e.session = &ps->session;
	}
	/* TODO(mesh): names resolve synchronously; numeric addresses (the usual peer table)
	 * never block. Every table is checked when read; this only refuses what slipped by. */
	if (hostport_split(ps->entry.address, host, sizeof(host), &port, why, sizeof(why)) == 0) {
		snprintf(service, sizeof(service), "%u", port);
		rc = getaddrinfo(host, service, &hints, &ai);
	} else {
		rc = EAI_SERVICE;
	}
	if (rc)
		probe_resolve_failed(&pe->probe, ps->entry.address, &e, gai_strerror(rc));
	else
		probe_connect(&pe->probe, &m->tls, ai->ai_addr, ai->ai_addrlen, ps->entry.address,
		              &e, m->cfg->probe_timeout_s * 1000u);
	if (ai)
		freeaddrinfo(ai);
	probe_ev_run(pe, m->base, outbound_done, ps);
}

/* ---- inbound ---- */

static bool lookup_serial(void *arg, const char *node_id, char *serial, size_t size)
{
	struct mesh *m = arg;
	const struct peer_entry *e = peers_find(&m->table, node_id);

	if (!e)
		return false;
	snprintf(serial, size, "%s", e->serial);
	return true;
}

static void unlink_inbound(struct mesh *m, struct probe_ev *pe)
{
	for (struct probe_ev **pp = &m->inbound; *pp; pp = &(*pp)->next) {
		if (*pp == pe) {
			*pp = pe->next;
			m->n_inbound--;
			return;
		}
	}
}

static void inbound_done(struct probe_ev *pe, void *arg)
{
	struct mesh *m = arg;
	const struct probe_obs *o = probe_result(&pe->probe);
	struct peer_state *ps = NULL;

	unlink_inbound(m, pe);
	for (size_t i = 0; o->has_cert && i < m->n_peers; i++)
		if (strcmp(m->peers[i]->entry.node_id, o->cert.node_id) == 0)
			ps = m->peers[i];
	if (ps) {
		bool changed = !ps->has_in || ps->in.cause != o->cause ||
		               strcmp(ps->in.cert.serial, o->cert.serial) != 0;
		/* It reached us, so it is up: if we could not reach it, try again now (a
		 * rebooted or unwedged peer is seen at once, not a probe period later). */
		bool back =
		    o->cause == KMA_CAUSE_OK && ps->has_out && ps->out.cause != KMA_CAUSE_OK;
		bool shown = changed || back || ps->in.resumed != o->resumed;

		/* What it shows us inbound is not what we verified: verify it in full. */
		if (ps->session.valid &&
		    (o->cause != KMA_CAUSE_OK || strcmp(o->cert.serial, ps->session.serial) != 0))
			probe_session_forget(&ps->session);
		log_change(ps, "inbound", &ps->in, ps->has_in, o);
		ps->in = *o;
		ps->has_in = true;
		ps->in_at = hal_time_real(m->hal);
		if (shown && !changed && !back)
			write_status_file(m, false);
		if (changed || back) {
			write_status(m);
			/* The peer changed (re-keyed, restarted, accepts us again): look at
			 * it from our side now rather than at the next period. */
			if (ps->inflight)
				ps->reprobe = true;
			else {
				evtimer_del(ps->timer);
				schedule(ps, 0);
			}
		}
	} else if (o->cause != KMA_CAUSE_OK) {
		log_debug("inbound %s: %s: %s", o->peer, kma_cause_id(o->cause), o->detail);
	}
	probe_free(&pe->probe);
	free(pe);
}

static bool same_source(const struct probe_ev *pe, const char *src)
{
	const char *a = pe->probe.obs.peer, *colon = strrchr(a, ':');

	return colon && strlen(src) == (size_t)(colon - a) && strncmp(a, src, strlen(src)) == 0;
}

/* The connection to drop: the oldest that sent nothing, else the oldest (of a source). */
static struct probe_ev *victim(struct mesh *m, const char *src)
{
	struct probe_ev *idle = NULL, *any = NULL;

	for (struct probe_ev *pe = m->inbound; pe; pe = pe->next) {
		if (src && !same_source(pe, src))
			continue;
		if (!any || pe->started_ms < any->started_ms)
			any = pe;
		if (!probe_ev_progressed(pe) && (!idle || pe->started_ms < idle->started_ms))
			idle = pe;
	}
	return idle ? idle : any;
}

static void evict(struct mesh *m, struct probe_ev *pe)
{
	unlink_inbound(m, pe);
	probe_ev_cancel(pe);
	free(pe);
	m->evicted++;
}

static unsigned count_source(struct mesh *m, const char *src)
{
	unsigned n = 0;

	for (struct probe_ev *pe = m->inbound; pe; pe = pe->next)
		n += same_source(pe, src);
	return n;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct mesh *m = arg;

	(void)what;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char ip[INET6_ADDRSTRLEN] = "?", label[PROBE_ADDR_MAX];
		struct probe_expect e = {.lookup = lookup_serial, .lookup_arg = m};
		struct probe_ev *pe;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		unsigned port = 0;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_errno(LOG_LVL_WARN, errno, "accept");
			return;
		}
		m->accepted++;
		if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip,
			          sizeof(ip));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
		snprintf(label, sizeof(label), "%s:%u", ip, port);
		while (count_source(m, ip) >= m->cfg->max_per_source)
			evict(m, victim(m, ip));
		while (m->n_inbound >= m->cfg->max_handshakes)
			evict(m, victim(m, NULL));
		pe = calloc(1, sizeof(*pe));
		if (!pe) {
			close(fd);
			continue;
		}
		pe->next = m->inbound;
		m->inbound = pe;
		m->n_inbound++;
		probe_accept(&pe->probe, &m->tls, fd, label, &e, m->cfg->probe_timeout_s * 1000u);
		probe_ev_run(pe, m->base, inbound_done, m);
	}
}

static int listen_on(struct mesh *m)
{
	char host[HOSTPORT_HOST_MAX], service[8], why[160];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	unsigned port;
	int one = 1, rc;

	if (hostport_split(m->cfg->mesh_listen, host, sizeof(host), &port, why, sizeof(why)) != 0) {
		log_err("mesh: listen: %s", why);
		return -1;
	}
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &ai);
	if (rc) {
		log_err("mesh: listen %s: %s", m->cfg->mesh_listen, gai_strerror(rc));
		return -1;
	}
	m->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* A deep backlog: we accept at once, the queue only absorbs bursts. */
	if (m->lfd < 0 || setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(m->lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(m->lfd, 512) < 0) {
		log_errno(LOG_LVL_ERR, errno, "mesh: listen on %s", m->cfg->mesh_listen);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	m->accept_ev = event_new(m->base, m->lfd, EV_READ | EV_PERSIST, on_accept, m);
	if (!m->accept_ev || event_add(m->accept_ev, NULL)) {
		log_err("mesh: cannot register the listener");
		return -1;
	}
	return 0;
}

static void listen_close(struct mesh *m)
{
	if (m->accept_ev)
		event_free(m->accept_ev);
	m->accept_ev = NULL;
	if (m->lfd >= 0)
		close(m->lfd);
	m->lfd = -1;
}

void mesh_set_wedged(struct mesh *m, bool wedged)
{
	if (!m->running || m->wedged == wedged || !m->cfg->mesh_listen[0])
		return;
	m->wedged = wedged;
	if (wedged) {
		listen_close(m);
		log_warn("mesh: listener wedged (HAL fault): %s refuses connections until it "
		         "clears",
		         m->cfg->mesh_listen);
		return;
	}
	if (listen_on(m) != 0) {
		listen_close(m);
		log_err("mesh: the wedge cleared but %s cannot listen again", m->cfg->mesh_listen);
		return;
	}
	log_notice("mesh: listener unwedged: accepting on %s again", m->cfg->mesh_listen);
}

/* ---- the CRL ---- */

void mesh_set_crl(struct mesh *m, const unsigned char *der, size_t len)
{
	const mbedtls_x509_crl *now = m->tls.crl;
	char err[320], issuer[256] = "";

	if (!m->running || (!now && len == 0) ||
	    (now && now->raw.len == len && memcmp(now->raw.p, der, len) == 0))
		return;
	if (tlsctx_set_crl(&m->tls, der, len, err, sizeof(err)) != TLSCTX_OK) {
		log_err("mesh: the coordinator's CRL is not used: %s", err);
		if (tlsctx_set_crl(&m->tls, NULL, 0, err, sizeof(err)) != TLSCTX_OK)
			log_err("mesh: %s", err); /* cannot fail: nothing to check */
		return;
	}
	if (!m->tls.crl) {
		log_notice("mesh: no CRL (the coordinator sent none)");
		return;
	}
	if (mbedtls_x509_dn_gets(issuer, sizeof(issuer), &m->tls.crl->issuer) < 0)
		snprintf(issuer, sizeof(issuer), "(unprintable)");
	log_notice("mesh: CRL of %s: %zu revoked serials", issuer, crlcheck_count(m->tls.crl));
}

/* ---- lifecycle ---- */

static void peer_free(struct peer_state *ps)
{
	if (ps->timer)
		event_free(ps->timer);
	if (ps->inflight) {
		probe_ev_cancel(ps->inflight);
		free(ps->inflight);
	}
	probe_session_free(&ps->session);
	free(ps);
}

static struct peer_state *take_peer(struct mesh *m, const char *node_id)
{
	for (size_t i = 0; i < m->n_peers; i++) {
		struct peer_state *ps = m->peers[i];

		if (ps && strcmp(ps->entry.node_id, node_id) == 0) {
			m->peers[i] = NULL;
			return ps;
		}
	}
	return NULL;
}

int mesh_update_peers(struct mesh *m, const struct peer_table *t)
{
	struct peer_state **next = calloc(t->n ? t->n : 1, sizeof(*next));
	size_t i;

	if (!next)
		return -1;
	for (i = 0; i < t->n; i++) {
		next[i] = calloc(1, sizeof(**next));
		if (!next[i])
			break;
		probe_session_init(&next[i]->session);
		next[i]->timer = evtimer_new(m->base, probe_peer, next[i]);
		if (!next[i]->timer)
			break;
	}
	if (i < t->n) {
		for (size_t k = 0; k <= i && k < t->n; k++)
			if (next[k])
				peer_free(next[k]);
		free(next);
		return -1;
	}
	for (i = 0; i < t->n; i++) {
		struct peer_state *old = take_peer(m, t->peers[i].node_id);
		bool changed = !old || strcmp(old->entry.address, t->peers[i].address) != 0 ||
		               strcmp(old->entry.serial, t->peers[i].serial) != 0;

		if (old) {
			/* Keep the peer (in-flight probes point at it); drop the spare. */
			peer_free(next[i]);
			next[i] = old;
		}
		/* A session verified against the old entry must not stand for the new one. */
		if (changed)
			probe_session_forget(&next[i]->session);
		next[i]->entry = t->peers[i];
		next[i]->mesh = m;
		if (changed && next[i]->inflight) {
			next[i]->reprobe = true; /* that probe expected the old entry */
		} else if (changed) {
			evtimer_del(next[i]->timer);
			schedule(next[i], jittered(m, 500)); /* at once, spread over a second */
		}
	}
	for (i = 0; i < m->n_peers; i++)
		if (m->peers[i])
			peer_free(m->peers[i]); /* no longer in the table */
	free(m->peers);
	m->peers = next;
	m->n_peers = t->n;
	if (&m->table != t) {
		/* The entries in use only: the rest of the 256 stays untouched, unpaged memory. */
		m->table.n = t->n;
		memcpy(m->table.peers, t->peers, t->n * sizeof(t->peers[0]));
	}
	write_status(m);
	return 0;
}

int mesh_start(struct mesh *m, struct event_base *base, struct hal *hal,
               const struct agent_config *cfg, const Kma__V1__IdentityRecord *rec)
{
	char err[512];
	struct config_error cerr;

	memset(m, 0, offsetof(struct mesh, table.peers));
	m->base = base;
	m->hal = hal;
	m->cfg = cfg;
	m->lfd = -1;
	tlsctx_init(&m->tls);
	m->running = true;
	if (snprintf(m->status_path, sizeof(m->status_path), "%s/%s", hal->state_dir,
	             MESH_STATUS_FILE) >= (int)sizeof(m->status_path)) {
		log_err("mesh: state directory path too long");
		return -1;
	}
	if (tlsctx_load_record(&m->tls, rec, err, sizeof(err)) != TLSCTX_OK ||
	    tlsctx_setup(&m->tls, err, sizeof(err)) != TLSCTX_OK) {
		log_err("mesh: our identity is not usable for TLS: %s", err);
		return -1;
	}
	if (cfg->full_handshake_interval_s > 0 &&
	    tlsctx_enable_resumption(&m->tls, cfg->full_handshake_interval_s, err, sizeof(err)) !=
	        TLSCTX_OK)
		log_warn("mesh: every probe will be a full handshake: %s", err);
	if (cfg->peers_file[0] && peers_load(&m->table, cfg->peers_file, &cerr) != 0) {
		log_err("mesh: %s:%d: %s", cerr.path, cerr.line, cerr.message);
		return -1;
	}
	if (cfg->mesh_listen[0] && listen_on(m) != 0)
		return -1;
	if (mesh_update_peers(m, &m->table) != 0)
		return -1;
	log_notice("mesh: %zu peers, listening on %s, probing every %u s, %s", m->n_peers,
	           cfg->mesh_listen[0] ? cfg->mesh_listen : "(nothing)", cfg->probe_interval_s,
	           m->tls.resumption ? "resuming sessions between full handshakes"
	                             : "every probe a full handshake");
	return 0;
}

void mesh_stop(struct mesh *m)
{
	if (!m->running)
		return;
	for (size_t i = 0; m->peers && i < m->n_peers; i++)
		peer_free(m->peers[i]);
	free(m->peers);
	m->peers = NULL;
	m->n_peers = 0;
	while (m->inbound)
		evict(m, m->inbound);
	listen_close(m);
	tlsctx_free(&m->tls);
	m->running = false;
}
