#include "report.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "plan.h"
#include "plantoken.h"
#include "store_plan.h"
#include "vocab.h"

/*
 * Where a value sits in the report ("peers.peer_cert."): a chain from the innermost
 * message up, spelled out only for the message of a refusal.
 */
struct field_path {
	const struct field_path *up;
	const char *name;
};

static size_t path_spell(const struct field_path *p, char *buf, size_t size)
{
	size_t n;

	if (!p)
		return 0;
	n = path_spell(p->up, buf, size);
	if (n < size)
		n += (size_t)snprintf(buf + n, size - n, "%s.", p->name);
	return n;
}

/* A refusal: "<path><field>: <what>" into why. */
static bool refuse(const struct field_path *path, const ProtobufCFieldDescriptor *f, char *why,
                   size_t size, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static bool refuse(const struct field_path *path, const ProtobufCFieldDescriptor *f, char *why,
                   size_t size, const char *fmt, ...)
{
	char where[96] = "";
	va_list ap;
	size_t n;

	path_spell(path, where, sizeof(where));
	n = (size_t)snprintf(why, size, "%s%s: ", where, f->name);
	if (n < size) {
		va_start(ap, fmt);
		vsnprintf(why + n, size - n, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool check_message(const ProtobufCMessage *m, const struct field_path *path, char *why,
                          size_t size);

/* Checks one value of field f; member points at its storage (a char *, an int, a pointer). */
static bool check_value(const ProtobufCFieldDescriptor *f, const void *member,
                        const struct field_path *path, char *why, size_t size)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)member;
		size_t len = s ? strnlen(s, REPORT_MAX_STRING + 1) : 0;

		if (len > REPORT_MAX_STRING)
			return refuse(path, f, why, size, "string of %zu bytes (limit %d)",
			              strlen(s), REPORT_MAX_STRING);
		return true;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)member;

		if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v))
			return refuse(path, f, why, size, "%d is not a %s", v,
			              ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name);
		return true;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
		struct field_path here = {.up = path, .name = f->name};

		return !sub || check_message(sub, &here, why, size);
	}
	default:
		return true; /* numbers and bytes: any value is meaningful or bounded by max_body */
	}
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	default:
		return 0; /* not checked */
	}
}

/* Walks every field through the schema's descriptors, so new fields are checked too. */
static bool check_message(const ProtobufCMessage *m, const struct field_path *path, char *why,
                          size_t size)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)(base + f->offset);
			size_t es = elem_size(f);

			if (n > REPORT_MAX_REPEATED)
				return refuse(path, f, why, size, "%zu entries (limit %d)", n,
				              REPORT_MAX_REPEATED);
			for (size_t j = 0; es && j < n; j++)
				if (!check_value(f, arr + j * es, path, why, size))
					return false;
		} else if (!check_value(f, base + f->offset, path, why, size)) {
			return false;
		}
	}
	return true;
}

bool report_validate(const Kma__V1__AgentReport *r, char *why, size_t size)
{
	if (!r->node_id || r->node_id[0] == '\0') {
		snprintf(why, size, "node_id is empty");
		return false;
	}
	if (!check_message(&r->base, NULL, why, size))
		return false;
	for (size_t i = 0; i < r->n_peers; i++) {
		if (r->peers[i]->peer_node_id[0] == '\0') {
			snprintf(why, size, "peers[%zu].peer_node_id is empty", i);
			return false;
		}
	}
	return true;
}

bool report_content_type_ok(const char *content_type)
{
	size_t n = strlen(REPORT_CONTENT_TYPE);

	if (!content_type)
		return false;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	if (strncasecmp(content_type, REPORT_CONTENT_TYPE, n) != 0)
		return false;
	content_type += n;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	return *content_type == '\0' || *content_type == ';';
}

/* report_build_reply, told whether a plan is unfinished when the caller knows (else -1). */
static int build_reply(struct store *st, struct revoke *crl, const char *node_id, uint64_t ack,
                       uint32_t interval_ms, uint64_t agent_version, int planning, int64_t now,
                       unsigned char **out, size_t *len)
{
	Kma__V1__CoordinatorReply reply = KMA__V1__COORDINATOR_REPLY__INIT;
	struct store_node *nodes = NULL;
	Kma__V1__Peer *peers = NULL, **ptrs = NULL;
	size_t n_nodes = 0, n = 0;
	unsigned char *buf = NULL;
	struct store_step step;
	struct store_lease lease;
	Kma__V1__Directive d = KMA__V1__DIRECTIVE__INIT, *dptr;
	Kma__V1__Lease l = KMA__V1__LEASE__INIT;
	char token[ENROLL_TOKEN_HEX] = "", kept[PLAN_TOKEN_NONCE_MAX + 64] = "";
	struct store_node me;
	unsigned char *crl_der = NULL;
	size_t crl_len = 0;
	int ret = -1;

	*out = NULL;
	*len = 0;
	if (store_peer_table_version(st, &reply.peer_table_version) != STORE_OK)
		goto exit;
	/* The agent holds this version already: no table (it would ignore it), no node list. */
	if (agent_version && agent_version == reply.peer_table_version) {
		if (store_node_get(st, node_id, &me) != STORE_OK)
			goto exit;
		reply.enrolled_serial = me.enrolled_serial;
	} else if (store_nodes_list(st, &nodes, &n_nodes) != STORE_OK) {
		goto exit;
	} else if (crl &&
	           revoke_crl(crl, st, reply.peer_table_version, now, &crl_der, &crl_len) != 0) {
		/* Pinning refuses what it would revoke; a table must not wait for a CRL. */
		log_err("report: the peer table goes to %s without the CRL", node_id);
	}
	reply.crl_der.data = crl_der;
	reply.crl_der.len = crl_len;
	peers = calloc(n_nodes ? n_nodes : 1, sizeof(*peers));
	ptrs = calloc(n_nodes ? n_nodes : 1, sizeof(*ptrs));
	if (!peers || !ptrs)
		goto exit;
	for (size_t i = 0; i < n_nodes; i++) {
		if (strcmp(nodes[i].node_id, node_id) == 0) {
			reply.enrolled_serial = nodes[i].enrolled_serial;
			continue;
		}
		if (!nodes[i].enrolled_serial[0])
			continue; /* not a member until a serial is enrolled: nothing to pin */
		kma__v1__peer__init(&peers[n]);
		peers[n].node_id = nodes[i].node_id;
		peers[n].name = nodes[i].name;
		peers[n].address = nodes[i].address;
		peers[n].enrolled_serial = nodes[i].enrolled_serial;
		ptrs[n] = &peers[n];
		n++;
	}
	if (store_directive_for(st, node_id, &step, &lease) == STORE_OK) {
		/* Re-sent with every reply until the agent reports its result: same ID, same
		 * lease, so the agent runs it at most once. */
		enum kma_step_kind k = step.kind;

		d.id = step.directive_id;
		d.kind = k == KMA_STEP_KIND_REBOOT ? KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT
		         : k == KMA_STEP_KIND_FACTORY_RESET
		             ? KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET
		         : k == KMA_STEP_KIND_QUICKSTART
		             ? KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART
		             : KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_HOLD;
		d.reason = step.reason;
		l.id = lease.id;
		l.node_id = lease.node_id;
		l.fencing_token = lease.fencing;
		l.expires_at = lease.expires_at;
		d.lease = &l;
		/* The token add_entry issued for this QuickStart (plantoken.h); never logged. */
		if (k == KMA_STEP_KIND_QUICKSTART &&
		    store_plan_token(st, step.plan_id, node_id, kept, sizeof(kept)) == STORE_OK &&
		    plan_token_get(kept, token) == 0)
			d.enrolment_token = token;
		dptr = &d;
		reply.directives = &dptr;
		reply.n_directives = 1;
	}
	reply.ack_sequence = ack;
	reply.peers = ptrs;
	reply.n_peers = n;
	/* While a plan runs its gates wait on reports: every node reports every second. */
	if (interval_ms > REPORT_RECOVERY_INTERVAL_MS &&
	    (planning < 0 ? store_plan_unfinished(st) : planning))
		interval_ms = REPORT_RECOVERY_INTERVAL_MS;
	reply.next_report_interval_ms = interval_ms;
	*len = kma__v1__coordinator_reply__get_packed_size(&reply);
	buf = malloc(*len ? *len : 1);
	if (!buf)
		goto exit;
	if (kma__v1__coordinator_reply__pack(&reply, buf) != *len)
		goto exit;
	*out = buf;
	buf = NULL;
	ret = 0;
exit:
	if (ret != 0) {
		log_err("report: cannot build the reply for %s", node_id);
		*len = 0;
	}
	explicit_bzero(token, sizeof(token));
	explicit_bzero(kept, sizeof(kept));
	explicit_bzero(&step, sizeof(step));
	free(crl_der);
	free(buf);
	free(ptrs);
	free(peers);
	free(nodes);
	return ret;
}

int report_build_reply(struct store *st, struct revoke *crl, const char *node_id, uint64_t ack,
                       uint32_t interval_ms, uint64_t agent_version, int64_t now,
                       unsigned char **out, size_t *len)
{
	return build_reply(st, crl, node_id, ack, interval_ms, agent_version, -1, now, out, len);
}

void report_reject(struct store *st, int status, const char *who, const char *reason)
{
	log_info("report from %s rejected (%d): %s", who, status, reason);
	if (store_reject_count(st, status) != STORE_OK)
		log_warn("report: could not count the rejection");
}

/* o points into p, which it must not outlive. */
static void observation_from(const Kma__V1__PeerObservation *p, struct store_obs_in *o)
{
	o->peer_id = p->peer_node_id;
	/* The vocabulary's values are the wire's (vocab.h); one this build does not know is
	 * unspecified, as its identifier always said. */
	o->direction = (unsigned)p->direction < KMA_DIRECTION_COUNT
	                   ? (enum kma_direction)p->direction
	                   : KMA_DIRECTION_UNSPECIFIED;
	o->cause =
	    (unsigned)p->cause < KMA_CAUSE_COUNT ? (enum kma_cause)p->cause : KMA_CAUSE_UNSPECIFIED;
	o->alert_sent = p->alert_sent ? (int)p->alert_sent->number : -1;
	o->alert_received = p->alert_received ? (int)p->alert_received->number : -1;
	o->peer_serial = p->peer_cert ? p->peer_cert->serial : "";
	o->expected_serial = p->expected_serial;
	o->at = p->observed_at;
	o->detail = p->detail;
	o->peer_node_id = p->peer_cert ? p->peer_cert->node_id : "";
	o->peer_issuer = p->peer_cert ? p->peer_cert->issuer : "";
	o->peer_not_before = p->peer_cert ? p->peer_cert->not_before : 0;
	o->peer_not_after = p->peer_cert ? p->peer_cert->not_after : 0;
	o->peer_address = p->peer_address;
}

/*
 * Decoding a report allocates every message, string and array in it: hundreds of blocks
 * for a report of twenty peers. They are carved out of a few chunks instead, and freed
 * with them when the report is done (report_in_free), never one by one.
 */
struct report_chunk {
	struct report_chunk *next;
	size_t size, used;
	max_align_t data[];
};

#define ARENA_CHUNK_MIN 16384

static void *arena_alloc(void *data, size_t size)
{
	struct report_arena *a = data;
	struct report_chunk *c = a->chunks;
	size_t need = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);

	if (need < size)
		return NULL;
	if (!c || c->size - c->used < need) {
		size_t cs = c ? 2 * c->size : ARENA_CHUNK_MIN;

		if (cs < need)
			cs = need;
		c = malloc(sizeof(*c) + cs);
		if (!c)
			return NULL;
		c->size = cs;
		c->used = 0;
		c->next = a->chunks;
		a->chunks = c;
	}
	c->used += need;
	return (unsigned char *)c->data + c->used - need;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p; /* with the arena */
}

static void arena_init(struct report_arena *a)
{
	a->chunks = NULL;
	a->alloc.alloc = arena_alloc;
	a->alloc.free = arena_free;
	a->alloc.allocator_data = a;
}

static void arena_release(struct report_arena *a)
{
	struct report_chunk *c, *next;

	for (c = a->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	a->chunks = NULL;
}

/* Copies the text t (NULL: "") into buf, cut to its size. */
#define FACT_TEXT(buf, t) snprintf((buf), sizeof(buf), "%s", (t) ? (t) : "")

static void kmip_from(const Kma__V1__KmipCheck *c, struct store_kmip *k)
{
	FACT_TEXT(k->endpoint, c->endpoint);
	FACT_TEXT(k->operation, c->operation);
	k->result = (unsigned)c->result < KMA_KMIP_RESULT_COUNT ? (enum kma_kmip_result)c->result
	                                                        : KMA_KMIP_RESULT_UNSPECIFIED;
	k->cause =
	    (unsigned)c->cause < KMA_CAUSE_COUNT ? (enum kma_cause)c->cause : KMA_CAUSE_UNSPECIFIED;
	k->latency_ms = c->latency_ms;
	k->handshake_ms = c->handshake_ms;
	FACT_TEXT(k->cipher_suite, c->cipher_suite);
	FACT_TEXT(k->result_status, c->result_status);
	FACT_TEXT(k->result_reason, c->result_reason);
	FACT_TEXT(k->answer, c->answer);
	FACT_TEXT(k->detail, c->detail);
	k->checked_at = c->checked_at;
}

static void listenq_from(const Kma__V1__AgentReport *r, struct store_facts *f)
{
	for (size_t i = 0; i < r->n_listen_queues && f->n_lq < STORE_LISTENQ_MAX; i++) {
		const Kma__V1__ListenQueue *l = r->listen_queues[i];
		struct store_listenq *q = &f->lq[f->n_lq++];

		q->port = l->port;
		FACT_TEXT(q->role, l->role);
		q->key_service = l->role && strcmp(l->role, "key_service") == 0;
		q->listening = l->listening;
		q->queued = l->queued;
		q->backlog = l->backlog;
		q->dropped_recently = l->dropped_recently;
		q->window_s = l->window_s;
	}
}

/* What r says of its node (validated: its enums may still be values this build lacks). */
static void facts_from(const Kma__V1__AgentReport *r, struct store_facts *f)
{
	memset(f, 0, sizeof(*f));
	FACT_TEXT(f->boot_id, r->boot_id);
	if (r->own_cert) {
		f->has_cert = true;
		FACT_TEXT(f->cert_serial, r->own_cert->serial);
		f->cert_not_after = r->own_cert->not_after;
	}
	if (r->health) {
		f->health_known = true;
		f->healthy = r->health->healthy;
		FACT_TEXT(f->health_detail, r->health->detail);
		f->health_checked_at = r->health->checked_at;
		f->kmip_known = r->health->kmip != NULL;
		if (r->health->kmip)
			kmip_from(r->health->kmip, &f->kmip);
	}
	listenq_from(r, f);
	for (size_t i = 0; i < r->n_parts_changed; i++)
		if ((unsigned)r->parts_changed[i] < KMA_PART_COUNT && r->parts_changed[i] < 32)
			f->parts_changed |= 1u << r->parts_changed[i];
	f->table_version = r->peer_table_version;
	if (r->last_directive) {
		FACT_TEXT(f->last_directive, r->last_directive->directive_id);
		f->last_ok = r->last_directive->ok;
		FACT_TEXT(f->last_detail, r->last_directive->detail);
		f->last_done_at = r->last_directive->done_at;
	}
	f->fencing = r->fencing_token;
	for (size_t i = 0; i < r->n_recovery; i++) {
		struct store_step_mode *m = &f->modes[kma_step_kind_from_id(r->recovery[i]->step)];

		if (m == &f->modes[KMA_STEP_KIND_UNSPECIFIED])
			continue; /* a step this build does not know */
		m->set = true;
		m->manual = r->recovery[i]->manual;
		FACT_TEXT(m->instruction, r->recovery[i]->instruction);
	}
}

/* out answers 500; had_reply: out holds a reply to free first. */
static void outcome_fail(struct report_outcome *out, bool had_reply)
{
	static const char reason[] = "internal error";

	if (had_reply)
		free(out->reply);
	memset(out, 0, sizeof(*out));
	out->status = 500;
	memcpy(out->reason, reason, sizeof(reason));
}

bool report_decode(const struct report_client *who, const char *content_type,
                   const unsigned char *body, size_t len, struct report_in *in,
                   struct report_outcome *out)
{
	char why[sizeof(out->reason)];

	memset(in, 0, sizeof(*in));
	outcome_fail(out, false);
	if (!report_content_type_ok(content_type)) {
		out->status = 415;
		snprintf(out->reason, sizeof(out->reason), "Content-Type must be %s",
		         REPORT_CONTENT_TYPE);
		goto fail;
	}
	arena_init(&in->arena);
	in->r = kma__v1__agent_report__unpack(&in->arena.alloc, len, body);
	if (!in->r) {
		out->status = 400;
		snprintf(out->reason, sizeof(out->reason), "body does not decode as AgentReport");
		goto fail;
	}
	if (!report_validate(in->r, why, sizeof(why))) {
		out->status = 422;
		snprintf(out->reason, sizeof(out->reason), "%s", why);
		goto fail;
	}
	if (strcmp(in->r->node_id, who->node_id) != 0) {
		out->status = 403;
		snprintf(out->reason, sizeof(out->reason),
		         "node_id '%.64s' differs from the certificate's '%.64s'", in->r->node_id,
		         who->node_id);
		goto fail;
	}
	in->who = *who;
	in->obs = malloc((in->r->n_peers ? in->r->n_peers : 1) * sizeof(*in->obs));
	if (!in->obs)
		goto fail;
	for (size_t i = 0; i < in->r->n_peers; i++)
		observation_from(in->r->peers[i], &in->obs[i]);
	facts_from(in->r, &in->facts);
	return true;
fail:
	report_in_free(in);
	return false;
}

void report_in_free(struct report_in *in)
{
	free(in->obs);
	arena_release(&in->arena); /* in->r with it */
	memset(in, 0, sizeof(*in));
}

/*
 * A node whose certificate is refused is still told which serial the cluster enrolled for
 * it (peers have it anyway), so that it knows it is not enrolled: a CoordinatorReply with
 * that alone, as the 403's body. Without it the refusal is answered in text.
 */
static void told_enrolled(struct store *st, const char *node_id, struct report_outcome *out)
{
	Kma__V1__CoordinatorReply reply = KMA__V1__COORDINATOR_REPLY__INIT;
	struct store_node n;

	if (store_node_get(st, node_id, &n) != STORE_OK)
		return;
	reply.enrolled_serial = n.enrolled_serial;
	reply.next_report_interval_ms = out->retry_after * 1000u;
	out->reply_len = kma__v1__coordinator_reply__get_packed_size(&reply);
	out->reply = malloc(out->reply_len ? out->reply_len : 1);
	if (!out->reply || kma__v1__coordinator_reply__pack(&reply, out->reply) != out->reply_len) {
		free(out->reply);
		out->reply = NULL;
		out->reply_len = 0;
	}
}

/* Stores one report of a batch and builds its reply; false when the batch must end. */
static bool store_one(struct store *st, uint32_t interval_ms, struct revoke *crl, bool planning,
                      const struct report_in *in, int64_t now, struct report_outcome *out)
{
	const Kma__V1__AgentReport *r = in->r;
	struct store_report rec = {
	    .node_id = r->node_id,
	    .cert_serial = in->who.serial,
	    .address = in->who.address,
	    .boot_id = r->boot_id,
	    .instance = r->instance,
	    .sequence = r->sequence,
	    .received_at = now,
	    .state = (unsigned)r->state < KMA_STATE_COUNT ? (enum kma_state)r->state
	                                                  : KMA_STATE_UNSPECIFIED,
	    .facts = &in->facts,
	    /* A plan's gates compare observation times with its steps': exact while one runs. */
	    .at_slack = planning ? 0 : REPORT_OBS_AT_SLACK_S,
	};
	enum store_status sst = store_report_put(st, &rec, in->obs, r->n_peers);

	/* Refused for now: back at the interval the node would report at anyway. */
	out->retry_after = planning ? REPORT_RECOVERY_INTERVAL_MS / 1000 : interval_ms / 1000;
	if (sst == STORE_NOT_FOUND) {
		out->status = 403;
		out->refusal = REPORT_STRANGER;
		snprintf(out->reason, sizeof(out->reason), "node '%.64s' is not in the cluster",
		         r->node_id);
		return true;
	}
	if (sst == STORE_NOT_PINNED) {
		out->status = 403;
		out->refusal = REPORT_NOT_PINNED;
		snprintf(out->reason, sizeof(out->reason),
		         "certificate serial %.64s is not the enrolled serial of %.64s",
		         in->who.serial, r->node_id);
		told_enrolled(st, r->node_id, out);
		return true;
	}
	if (sst == STORE_STALE) {
		out->status = 409;
		out->refusal = REPORT_STALE;
		snprintf(out->reason, sizeof(out->reason),
		         "report %llu of %.64s is older than the last one stored",
		         (unsigned long long)r->sequence, r->node_id);
		return true;
	}
	out->retry_after = 0;
	if (sst != STORE_OK)
		return false;
	/* Stored: a reply that cannot be built leaves this one answered 500, the rest go on. */
	if (build_reply(st, crl, r->node_id, r->sequence, interval_ms, r->peer_table_version,
	                planning, now, &out->reply, &out->reply_len) != 0)
		return true;
	out->status = 200;
	out->reason[0] = '\0';
	log_debug("report: %s sequence %llu stored (%zu observations)", r->node_id,
	          (unsigned long long)r->sequence, r->n_peers);
	return true;
}

/* A certificate refused as node_id's, remembered: the diagnosis takes it as evidence of
 * where that certificate is. */
static void attempt_remember(struct store *st, const char *node_id, const struct report_client *who,
                             bool known, int64_t now)
{
	if (who->serial &&
	    store_attempt_record(st, node_id, who->serial, who->address ? who->address : "", known,
	                         now) != STORE_OK)
		log_warn("report: could not remember the certificate refused as %.64s's", node_id);
}

/* A report refused after it decoded: counted, and a certificate that is not its node's
 * remembered. */
static void refused(struct store *st, const struct report_in *in, const struct report_outcome *out,
                    int64_t now)
{
	report_reject(st, out->status, in->r->node_id, out->reason);
	if (out->refusal == REPORT_STRANGER || out->refusal == REPORT_NOT_PINNED)
		attempt_remember(st, in->r->node_id, &in->who, out->refusal == REPORT_NOT_PINNED,
		                 now);
}

void report_refuse_revoked(struct store *st, uint32_t interval_ms, const struct report_client *who,
                           const char *reason, int64_t now, struct report_outcome *out)
{
	struct store_node n;
	enum store_status known = store_node_get(st, who->node_id, &n);

	memset(out, 0, sizeof(*out));
	out->status = 403;
	out->refusal = REPORT_NOT_PINNED;
	out->retry_after =
	    (store_plan_unfinished(st) ? REPORT_RECOVERY_INTERVAL_MS : interval_ms) / 1000;
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	report_reject(st, out->status, who->node_id, out->reason);
	if (known == STORE_OK || known == STORE_NOT_FOUND)
		attempt_remember(st, who->node_id, who, known == STORE_OK, now);
	if (known == STORE_OK)
		told_enrolled(st, who->node_id, out);
}

void report_store_batch(struct store *st, uint32_t interval_ms, struct revoke *crl,
                        const struct report_item *items, size_t n, int64_t now)
{
	bool planning = store_plan_unfinished(st); /* asked once for the stores and the replies */
	size_t i;

	for (i = 0; i < n; i++)
		outcome_fail(items[i].out, false);
	if (store_reports_begin(st) != STORE_OK)
		return;
	for (i = 0; i < n; i++)
		if (!store_one(st, interval_ms, crl, planning, items[i].in, now, items[i].out))
			break;
	if (i < n) {
		store_reports_abort(st);
	} else if (store_reports_commit(st) == STORE_OK) {
		/* Counted in transactions of their own, after the batch. */
		for (i = 0; i < n; i++)
			if (items[i].out->status != 200)
				refused(st, items[i].in, items[i].out, now);
		return;
	}
	for (i = 0; i < n; i++)
		outcome_fail(items[i].out, true);
}

void report_store(struct store *st, uint32_t interval_ms, struct revoke *crl,
                  const struct report_in *in, int64_t now, struct report_outcome *out)
{
	struct report_item item = {.in = in, .out = out};

	report_store_batch(st, interval_ms, crl, &item, 1, now);
}

void report_handle(struct store *st, uint32_t interval_ms, struct revoke *crl,
                   const struct report_client *who, const char *content_type,
                   const unsigned char *body, size_t len, int64_t now, struct report_outcome *out)
{
	struct report_in in;

	if (report_decode(who, content_type, body, len, &in, out)) {
		report_store(st, interval_ms, crl, &in, now, out);
		report_in_free(&in);
	} else if (out->status != 500) {
		report_reject(st, out->status, who->node_id, out->reason);
	}
}
