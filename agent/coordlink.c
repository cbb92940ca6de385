#include "mbedcompat.h"

#include "coordlink.h"

#include <errno.h>
#include <limits.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crlcheck.h"
#include "rng.h"
#include "fileio.h"
#include "hexser.h"
#include "hostport.h"
#include "log.h"
#include "peers.h"

#define PEM_BUF (64 * 1024)

/* ---- the report ---- */

static void cert_msg(const struct certinfo *ci, Kma__V1__CertInfo *m)
{
	kma__v1__cert_info__init(m);
	m->serial = (char *)ci->serial;
	m->subject = (char *)ci->subject;
	m->issuer = (char *)ci->issuer;
	m->not_before = ci->not_before;
	m->not_after = ci->not_after;
	m->node_id = (char *)ci->node_id;
}

static void obs_msg(struct coordlink *c, const struct peer_state *ps, const struct probe_obs *o,
                    int64_t at, size_t i)
{
	Kma__V1__PeerObservation *m = &c->obs[i];

	kma__v1__peer_observation__init(m);
	m->peer_node_id = (char *)ps->entry.node_id;
	m->peer_address = (char *)ps->entry.address;
	m->direction = o->inbound ? KMA__V1__DIRECTION__DIRECTION_INBOUND
	                          : KMA__V1__DIRECTION__DIRECTION_OUTBOUND;
	m->cause = (Kma__V1__Cause)o->cause;
	if (o->alert_sent >= 0) {
		kma__v1__tls_alert__init(&c->alerts[2 * i]);
		c->alerts[2 * i].number = (uint32_t)o->alert_sent;
		m->alert_sent = &c->alerts[2 * i];
	}
	if (o->alert_received >= 0) {
		kma__v1__tls_alert__init(&c->alerts[2 * i + 1]);
		c->alerts[2 * i + 1].number = (uint32_t)o->alert_received;
		m->alert_received = &c->alerts[2 * i + 1];
	}
	m->tls_error = o->tls_error;
	m->verify_flags = o->verify_flags;
	if (o->has_cert) {
		cert_msg(&o->cert, &c->certs[i]);
		m->peer_cert = &c->certs[i];
	}
	m->expected_node_id = (char *)o->expect_id;
	m->expected_serial = (char *)o->expect_serial;
	m->handshake_ms = o->handshake_ms;
	m->protocol = (char *)o->protocol;
	m->cipher_suite = (char *)o->suite;
	m->observed_at = at;
	m->detail = (char *)o->detail;
	c->obs_ptrs[c->n_obs++] = m;
}

/* Kept across fill() and done(): the wire message points into these (one link per agent). */
static Kma__V1__HardwareIdentity hw_now, hw_enrolled;
static uint8_t fp_now[HAL_FP_LEN], fp_enrolled[HAL_FP_LEN];
static Kma__V1__CertInfo own_cert;
static Kma__V1__HardwarePart parts[KMA_PART_COUNT];
static Kma__V1__KeyServiceHealth health;
static Kma__V1__KmipCheck kmip;
static Kma__V1__ListenQueue lq[LISTENWATCH_PORTS];
static Kma__V1__ListenQueue *lq_ptrs[LISTENWATCH_PORTS];
static char health_detail[256];
static Kma__V1__DirectiveResult last_directive;
static Kma__V1__RecoveryStepMode steps[KMA_STEP_KIND_COUNT - 1];
static Kma__V1__RecoveryStepMode *step_ptrs[KMA_STEP_KIND_COUNT - 1];

/* How this board performs each recovery step, so a plan knows which ones wait for people. */
static void fill_recovery(const struct board *b, Kma__V1__AgentReport *r)
{
	for (int k = 1; k < KMA_STEP_KIND_COUNT; k++) {
		Kma__V1__RecoveryStepMode *m = &steps[k - 1];

		kma__v1__recovery_step_mode__init(m);
		m->step = (char *)kma_step_kind_id((enum kma_step_kind)k);
		m->manual = b->steps[k].manual;
		m->instruction = (char *)b->steps[k].instruction;
		step_ptrs[k - 1] = m;
	}
	r->n_recovery = KMA_STEP_KIND_COUNT - 1;
	r->recovery = step_ptrs;
}

/*
 * A board that declares a KMIP check is serving keys only when the board's health check
 * and the last KMIP round trip both say so: the gates wait on healthy.
 */
static void fill_kmip(const struct coordlink_status *st, Kma__V1__KeyServiceHealth *h)
{
	const struct kmipcheck_outcome *o = &st->kmip;

	if (!st->kmip_checked) {
		h->healthy = false;
		snprintf(health_detail, sizeof(health_detail),
		         "the KMIP check of the key service has not answered yet");
		h->detail = health_detail;
		return;
	}
	kma__v1__kmip_check__init(&kmip);
	kmip.endpoint = (char *)o->endpoint;
	kmip.operation = (char *)kmip_op_name(o->operation);
	kmip.result = (Kma__V1__KmipResult)(o->result + 1);
	kmip.cause = (Kma__V1__Cause)o->cause;
	kmip.latency_ms = o->latency_ms;
	kmip.handshake_ms = o->handshake_ms;
	kmip.cipher_suite = (char *)o->suite;
	kmip.result_status = o->result == KMIPCHECK_OK || o->result == KMIPCHECK_FAILED
	                         ? (char *)kmip_status_name(o->result_status)
	                         : "";
	kmip.result_reason = o->has_reason ? (char *)kmip_reason_name(o->result_reason) : "";
	kmip.answer = (char *)o->answer;
	kmip.detail = (char *)o->detail;
	kmip.checked_at = o->checked_at;
	h->kmip = &kmip;
	if (o->result != KMIPCHECK_OK) {
		h->healthy = false;
		h->detail = (char *)o->detail;
	} else if (h->healthy) {
		h->detail = (char *)o->detail;
	}
	if (o->checked_at > h->checked_at)
		h->checked_at = o->checked_at;
}

static void fill(void *arg, Kma__V1__AgentReport *r)
{
	struct coordlink *c = arg;
	const struct identity_view *v = c->deps.view;
	const struct coordlink_status *st = c->deps.status;
	struct mesh *mesh = c->deps.mesh;
	size_t n = mesh->running ? mesh->n_peers * 2 : 0, np = 0;

	r->node_id = c->node_id;
	r->boot_id = (char *)v->boot_id;
	r->agent_version = KMA_VERSION;
	r->board = (char *)c->hal->board->name;
	r->state = (Kma__V1__IdentityState)v->state;
	r->phase = st->phase;
	if (st->health.checked) {
		kma__v1__key_service_health__init(&health);
		health.healthy = st->health.healthy;
		health.detail = (char *)st->health.detail;
		health.checked_at = st->health.checked_at;
		r->health = &health;
		if (st->kmip_declared)
			fill_kmip(st, &health);
	}
	for (unsigned i = 0; i < st->listen.n_ports; i++) {
		const struct listenwatch_port *p = &st->listen.ports[i];

		kma__v1__listen_queue__init(&lq[i]);
		lq[i].port = p->q.port;
		lq[i].role = (char *)p->role;
		lq[i].listening = p->q.listening;
		lq[i].queued = p->q.queued;
		lq[i].backlog = p->q.backlog;
		lq[i].overflows_total = p->q.overflows;
		lq[i].drops_total = p->q.drops;
		lq[i].dropped_recently = st->listen.recent;
		lq[i].window_s = st->listen.window_s;
		lq_ptrs[i] = &lq[i];
	}
	r->n_listen_queues = st->listen.n_ports;
	r->listen_queues = lq_ptrs;
	if (st->has_directive) {
		directive_result_msg(&st->directive, &last_directive);
		r->last_directive = &last_directive;
		r->fencing_token = st->directive.fencing;
	}
	fill_recovery(c->hal->board, r);
	if (v->has_cert) {
		cert_msg(&v->cert, &own_cert);
		r->own_cert = &own_cert;
	}
	hal_hwid_to_msg(&v->hw, &hw_now, fp_now);
	r->hardware = &hw_now;
	if (v->has_record) {
		hal_hwid_to_msg(&v->enrolled_hw, &hw_enrolled, fp_enrolled);
		r->enrolled_hardware = &hw_enrolled;
	}
	for (int p = 1; p < KMA_PART_COUNT; p++)
		if (v->parts_changed & (1u << p))
			parts[np++] = (Kma__V1__HardwarePart)p;
	r->n_parts_changed = np;
	r->parts_changed = parts;
	r->generation = v->generation;
	r->sent_at = hal_time_real(c->hal);
	r->peer_table_version = c->table_version;

	c->n_obs = 0;
	c->obs = calloc(n ? n : 1, sizeof(*c->obs));
	c->obs_ptrs = calloc(n ? n : 1, sizeof(*c->obs_ptrs));
	c->certs = calloc(n ? n : 1, sizeof(*c->certs));
	c->alerts = calloc(n ? 2 * n : 1, sizeof(*c->alerts));
	if (!c->obs || !c->obs_ptrs || !c->certs || !c->alerts)
		return; /* reported without observations rather than not at all */
	for (size_t i = 0; mesh->running && i < mesh->n_peers; i++) {
		const struct peer_state *ps = mesh->peers[i];

		if (ps->has_out)
			obs_msg(c, ps, &ps->out, ps->last_probe, c->n_obs);
		if (ps->has_in)
			obs_msg(c, ps, &ps->in, ps->in_at, c->n_obs);
	}
	r->n_peers = c->n_obs;
	r->peers = c->obs_ptrs;
}

static void done(void *arg)
{
	struct coordlink *c = arg;

	free(c->obs);
	free(c->obs_ptrs);
	free(c->certs);
	free(c->alerts);
	c->obs = NULL;
	c->obs_ptrs = NULL;
	c->certs = NULL;
	c->alerts = NULL;
}

/* ---- the reply ---- */

/* Records the serial the cluster enrolled for us, so the state says whether we joined. */
static void apply_enrolled_serial(struct coordlink *c, const char *serial)
{
	Kma__V1__IdentityRecord *rec = NULL;
	struct hal_load_info info;
	char norm[KMA_SERIAL_SIZE] = "";

	if (serial && serial[0] && !hexser_normalize(serial, norm, sizeof(norm))) {
		log_warn("coordinator: ignoring enrolled serial '%s' (not hex)", serial);
		return;
	}
	if (strcmp(norm, c->deps.view->enrolled_serial) == 0)
		return;
	if (hal_identity_load(c->hal, &rec, &info) != HAL_OK)
		return;
	rec->enrolled_serial = norm;
	rec->enrolment = c->deps.view->has_cert && hexser_equal(norm, c->deps.view->cert.serial)
	                     ? KMA__V1__ENROLMENT_STATE__ENROLMENT_STATE_JOINED
	                     : KMA__V1__ENROLMENT_STATE__ENROLMENT_STATE_PENDING;
	if (hal_identity_store(c->hal, rec) != HAL_OK)
		log_err("coordinator: cannot record the enrolled serial: %s", c->hal->error);
	else
		log_notice("coordinator: the cluster enrolled serial %s for us (ours is %s)",
		           norm[0] ? norm : "(none)", c->deps.view->cert.serial);
	rec->enrolled_serial = NULL; /* norm is ours, not the unpacked record's */
	kma__v1__identity_record__free_unpacked(rec, NULL);
	c->deps.identity_changed(c->deps.arg);
}

/* Where the last table is kept, so that a restarted agent probes while it cannot report. */
static bool table_path(const struct coordlink *c, char *path, size_t size)
{
	return snprintf(path, size, "%s/%s", c->hal->state_dir, COORDLINK_PEERS_FILE) < (int)size;
}

static bool crl_path(const struct coordlink *c, char *path, size_t size)
{
	return snprintf(path, size, "%s/%s", c->hal->state_dir, COORDLINK_CRL_FILE) < (int)size;
}

/* The CRL that came with the table just taken: kept as it is, or its file removed. */
static void crl_keep(struct coordlink *c)
{
	char path[PATH_MAX];
	int e = 0;

	if (!crl_path(c, path, sizeof(path)))
		return;
	if (c->crl)
		e = fileio_write_atomic(path, NULL, c->crl, c->crl_len, 0644);
	else if (unlink(path) == 0)
		e = fileio_sync_dir(path);
	else if (errno != ENOENT)
		e = errno;
	if (e)
		log_errno(LOG_LVL_WARN, e, "coordinator: cannot keep the CRL in %s", path);
}

/* The CRL kept with the table an earlier run kept, if any (checked when the mesh loads it). */
static void crl_restore(struct coordlink *c)
{
	char path[PATH_MAX];
	unsigned char *der = NULL;
	size_t len = 0;
	int e;

	if (!crl_path(c, path, sizeof(path)))
		return;
	e = fileio_read(path, CRLCHECK_DER_MAX, &der, &len);
	if (e) {
		if (e != ENOENT)
			log_errno(LOG_LVL_WARN, e, "coordinator: the kept CRL %s is not usable",
			          path);
		free(der);
		return;
	}
	free(c->crl);
	c->crl = der;
	c->crl_len = len;
}

/* Takes the CRL of a reply that brings a table (none when it has none, or is too large). */
static void crl_take(struct coordlink *c, const ProtobufCBinaryData *der)
{
	free(c->crl);
	c->crl = NULL;
	c->crl_len = 0;
	if (der->len == 0)
		return;
	if (der->len > CRLCHECK_DER_MAX) {
		log_warn("coordinator: a CRL of %zu bytes is more than the %d taken; none used",
		         der->len, CRLCHECK_DER_MAX);
		return;
	}
	c->crl = malloc(der->len);
	if (!c->crl) {
		log_err("coordinator: out of memory for a CRL of %zu bytes", der->len);
		return;
	}
	memcpy(c->crl, der->data, der->len);
	c->crl_len = der->len;
}

static void table_keep(struct coordlink *c)
{
	char path[PATH_MAX];
	int e;

	if (!table_path(c, path, sizeof(path)))
		return;
	e = peers_save(c->table, (unsigned long long)c->table_version, path);
	if (e)
		log_errno(LOG_LVL_WARN, e, "coordinator: cannot keep the peer table in %s", path);
}

/* The table kept by an earlier run, when there is one and no newer came yet. */
static void table_restore(struct coordlink *c)
{
	char path[PATH_MAX];
	struct config_error err;
	struct peer_table *t;
	unsigned long long v;

	if (c->table || !table_path(c, path, sizeof(path)) || !(v = peers_saved_version(path)))
		return;
	t = calloc(1, sizeof(*t));
	if (!t)
		return;
	if (peers_load_saved(t, path, &err) != 0) {
		log_warn("coordinator: the kept peer table is not usable: %s:%d: %s", err.path,
		         err.line, err.message);
		free(t);
		return;
	}
	c->table = t;
	c->table_version = v;
	crl_restore(c);
	log_notice("coordinator: probing the kept peer table version %llu (%zu peers, %s) until "
	           "the coordinator sends one",
	           v, t->n, c->crl ? "with its CRL" : "no CRL");
	coordlink_apply_table(c);
}

static void apply_table(struct coordlink *c, const Kma__V1__CoordinatorReply *reply)
{
	struct peer_table *t;

	if (c->table && reply->peer_table_version == c->table_version)
		return;
	t = calloc(1, sizeof(*t));
	if (!t)
		return;
	for (size_t i = 0; i < reply->n_peers && t->n < PEERS_MAX; i++) {
		const Kma__V1__Peer *p = reply->peers[i];
		struct peer_entry *e = &t->peers[t->n];
		char host[HOSTPORT_HOST_MAX], why[160];
		unsigned port;

		/* The reply is input from the network: take only entries that make sense. */
		if (!p->node_id || !p->node_id[0] || !p->address || !p->address[0] ||
		    strlen(p->node_id) >= sizeof(e->node_id) ||
		    strlen(p->address) >= sizeof(e->address) || strcmp(p->node_id, c->node_id) == 0)
			continue;
		if (hostport_split(p->address, host, sizeof(host), &port, why, sizeof(why)) != 0) {
			log_printable(why);
			log_warn("coordinator: peer table: entry %zu left out: %s", i, why);
			continue;
		}
		if (peers_find(t, p->node_id)) {
			log_warn(
			    "coordinator: peer table: entry %zu names a node listed before: the "
			    "first kept",
			    i);
			continue;
		}
		snprintf(e->node_id, sizeof(e->node_id), "%s", p->node_id);
		snprintf(e->name, sizeof(e->name), "%s",
		         p->name && p->name[0] ? p->name : p->node_id);
		snprintf(e->address, sizeof(e->address), "%s", p->address);
		if (!p->enrolled_serial ||
		    !hexser_normalize(p->enrolled_serial, e->serial, sizeof(e->serial)))
			e->serial[0] = '\0';
		t->n++;
	}
	free(c->table);
	c->table = t;
	c->table_version = reply->peer_table_version;
	crl_take(c, &reply->crl_der);
	log_notice("coordinator: peer table version %llu, %zu peers, %s",
	           (unsigned long long)c->table_version, t->n, c->crl ? "with a CRL" : "no CRL");
	/* The CRL first: after a crash in between the old table goes with the newer CRL, the
	 * cluster's latest word; the other way round an old CRL could revoke a serial the new
	 * table pins again (set back by an operator). */
	crl_keep(c);
	table_keep(c);
	coordlink_apply_table(c);
}

static void apply(void *arg, const Kma__V1__CoordinatorReply *reply)
{
	struct coordlink *c = arg;

	apply_table(c, reply);
	apply_enrolled_serial(c, reply->enrolled_serial);
	if (c->deps.directives)
		c->deps.directives(c->deps.arg, reply->directives, reply->n_directives);
}

static void refused(void *arg, const Kma__V1__CoordinatorReply *reply)
{
	apply_enrolled_serial(arg, reply->enrolled_serial);
}

void coordlink_apply_table(struct coordlink *c)
{
	if (!c->running || !c->table || !c->deps.mesh->running)
		return;
	/* Before the table: the probes it starts are verified with its CRL. */
	mesh_set_crl(c->deps.mesh, c->crl, c->crl_len);
	if (mesh_update_peers(c->deps.mesh, c->table) != 0)
		log_err("coordinator: peer table not applied: out of memory");
}

/* ---- lifecycle ---- */

static uint32_t rand32(void *arg)
{
	struct coordlink *c = arg;
	uint32_t r = 0;

	if (hal_random(c->hal, &r, sizeof(r)) != HAL_OK)
		r = (uint32_t)hal_time_real(c->hal);
	return r;
}

/* Appends DER objects as PEM to buf. */
static int pem_append(char *buf, size_t size, size_t *used, const char *what,
                      const ProtobufCBinaryData *der, size_t n)
{
	char head[64], foot[64];

	snprintf(head, sizeof(head), "-----BEGIN %s-----\n", what);
	snprintf(foot, sizeof(foot), "-----END %s-----\n", what);
	for (size_t i = 0; i < n; i++) {
		size_t olen = 0;

		if (mbedtls_pem_write_buffer(head, foot, der[i].data, der[i].len,
		                             (unsigned char *)buf + *used, size - *used, &olen))
			return -1;
		*used += olen - 1; /* olen counts the terminating NUL */
	}
	return 0;
}

static int key_pem(const Kma__V1__IdentityRecord *rec, char *buf, size_t size)
{
	mbedtls_pk_context pk;
	mbedtls_ctr_drbg_context drbg;
	int rc;

	mbedtls_pk_init(&pk);
	mbedtls_ctr_drbg_init(&drbg);
	rc = mbedtls_ctr_drbg_seed(&drbg, rng_kernel, NULL, NULL, 0);
	if (rc == 0)
		rc = kma_pk_parse_key(&pk, rec->key_der.data, rec->key_der.len, &drbg);
	if (rc == 0)
		rc = mbedtls_pk_write_key_pem(&pk, (unsigned char *)buf, size);
	mbedtls_pk_free(&pk);
	mbedtls_ctr_drbg_free(&drbg);
	return rc;
}

/* What we have, for GET /v1/watch: the peer table version and the last directive handled. */
static void watch_query(void *arg, char *buf, size_t size)
{
	struct coordlink *c = arg;
	const struct coordlink_status *st = c->deps.status;
	char *done = NULL;

	if (st && st->has_directive && st->directive.id[0])
		done = curl_easy_escape(NULL, st->directive.id, 0);
	snprintf(buf, size, "version=%llu&done=%s", (unsigned long long)c->table_version,
	         done ? done : "");
	curl_free(done);
}

int coordlink_start(struct coordlink *c, struct event_base *base, struct hal *hal,
                    const struct agent_config *cfg, const struct coordlink_deps *deps,
                    const Kma__V1__IdentityRecord *rec)
{
	static const struct reporter_ops ops = {.fill = fill,
	                                        .done = done,
	                                        .apply = apply,
	                                        .refused = refused,
	                                        .watch_query = watch_query};
	int ret = -1;
	char *cert = malloc(PEM_BUF), *key = malloc(PEM_BUF), *ca = NULL;
	unsigned char *ca_file = NULL;
	size_t used = 0, ca_len = 0;

	memset(c, 0, sizeof(*c));
	c->hal = hal;
	c->cfg = cfg;
	c->deps = *deps;
	snprintf(c->node_id, sizeof(c->node_id), "%s", rec->node_id ? rec->node_id : "");
	if (!cert || !key)
		goto exit;
	cert[0] = '\0';
	if (pem_append(cert, PEM_BUF, &used, "CERTIFICATE", rec->cert_chain_der,
	               rec->n_cert_chain_der) ||
	    key_pem(rec, key, PEM_BUF)) {
		log_err("coordinator: our identity cannot be used for TLS");
		goto exit;
	}
	if (cfg->coord_ca[0]) {
		int e = fileio_read_input(cfg->coord_ca, PEM_BUF, &ca_file, &ca_len);

		if (e) {
			log_errno(LOG_LVL_ERR, e, "coordinator: %s", cfg->coord_ca);
			goto exit;
		}
		ca = (char *)ca_file;
	} else {
		ca = malloc(PEM_BUF);
		used = 0;
		if (!ca || (ca[0] = '\0', pem_append(ca, PEM_BUF, &used, "CERTIFICATE", rec->ca_der,
		                                     rec->n_ca_der))) {
			log_err("coordinator: the cluster CA of our identity is not usable");
			goto exit;
		}
	}
	if (reporter_start_list(&c->rep, base, &cfg->coord_urls, cert, key, ca,
	                        cfg->report_interval_s, &ops, c, rand32) != 0)
		goto exit;
	c->running = true;
	table_restore(c);
	ret = 0;
exit:
	if (key) {
		mbedtls_platform_zeroize(key, PEM_BUF);
		free(key);
	}
	free(cert);
	free(ca);
	return ret;
}

void coordlink_kick(struct coordlink *c)
{
	if (c->running)
		reporter_kick(&c->rep);
}

void coordlink_stop(struct coordlink *c)
{
	if (c->running)
		reporter_stop(&c->rep);
	free(c->table);
	c->table = NULL;
	free(c->crl);
	c->crl = NULL;
	c->crl_len = 0;
	c->running = false;
}
