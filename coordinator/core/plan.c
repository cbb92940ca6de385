#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool say(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes why and returns false: gates end with `return say(...)`. */
static bool say(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return false;
}

int plan_node_index(const struct plan_view *v, const char *id)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->nodes[i].entry.node_id, id) == 0)
			return (int)i;
	return -1;
}

/* ---- building ---- */

static struct store_step *step_add(const struct plan_view *v, struct store_step *out, size_t max,
                                   size_t *n, enum kma_step_kind k, const char *node,
                                   const char *reason)
{
	struct store_step *s;
	int i = plan_node_index(v, node);

	if (*n == max)
		return NULL;
	s = &out[(*n)++];
	memset(s, 0, sizeof(*s));
	s->kind = k;
	snprintf(s->node_id, sizeof(s->node_id), "%s", node);
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->state = KMA_STEP_STATE_PENDING;
	if (i >= 0 && v->nodes[i].modes[k].manual) {
		s->manual = true;
		snprintf(s->instruction, sizeof(s->instruction), "%s",
		         v->nodes[i].modes[k].instruction);
	}
	return s;
}

bool plan_rejoin_fixes(enum kma_pattern p)
{
	return p == KMA_PATTERN_NODE_NOT_REJOINED || p == KMA_PATTERN_NODE_IDENTITY_WRONG ||
	       p == KMA_PATTERN_NODE_UNTRUSTED || p == KMA_PATTERN_NODE_CERT_EXPIRED ||
	       p == KMA_PATTERN_NODE_CERT_REVOKED || p == KMA_PATTERN_NODE_CERT_BAD_USAGE;
}

static bool has_identity_finding(const struct diag_finding *f, size_t nf, const char *node)
{
	for (size_t i = 0; i < nf; i++)
		if (!f[i].warning && plan_rejoin_fixes(f[i].pattern) &&
		    strcmp(f[i].culprit, node) == 0)
			return true;
	return false;
}

/* The step is justified by finding f; the engine checks it again before acting. */
static void justify(struct store_step *s, const struct diag_finding *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void justify(struct store_step *s, const struct diag_finding *f, const char *fmt, ...)
{
	va_list ap;

	if (!s)
		return;
	s->pred_kind = f->pattern;
	snprintf(s->pred_serial, sizeof(s->pred_serial), "%s", f->serial);
	snprintf(s->pred_name, sizeof(s->pred_name), "%s", f->name);
	va_start(ap, fmt);
	vsnprintf(s->predicate, sizeof(s->predicate), fmt, ap);
	va_end(ap);
}

/*
 * A step the node would take by directive, when the node cannot receive one as itself:
 * manual, saying what to do at the appliance.
 */
static void by_hand(struct store_step *s, const char *what)
{
	if (!s || s->manual)
		return;
	s->manual = true;
	snprintf(s->instruction, sizeof(s->instruction), "%s", what);
}

size_t plan_build(const struct plan_view *v, const struct diag_finding *f, size_t nf,
                  struct store_step *out, size_t max, char notes[][STORE_PLAN_TEXT],
                  size_t *n_notes)
{
	size_t n = 0;
	char reason[STORE_PLAN_TEXT];

	*n_notes = 0;
	/* 1. Rolling reboot of the nodes that refuse connections (unless they are reset). */
	for (size_t i = 0; i < nf; i++) {
		if (f[i].pattern != KMA_PATTERN_NODE_REFUSED ||
		    has_identity_finding(f, nf, f[i].culprit))
			continue;
		snprintf(reason, sizeof(reason), "%s refuses connections: %s", f[i].culprit,
		         f[i].summary);
		justify(step_add(v, out, max, &n, KMA_STEP_KIND_REBOOT, f[i].culprit, reason),
		        &f[i],
		        "no peer completes a connection to %s (node_refused), seen again since the "
		        "step began by the nodes that report",
		        f[i].culprit);
	}
	/* 2. Factory reset and rejoin of each node whose identity is wrong, one at a time. */
	for (size_t i = 0; i < nf; i++) {
		const char *x = f[i].culprit;
		int k = plan_node_index(v, x);
		/* A node that reports with the certificate its peers found can take directives. */
		bool reaches = f[i].pattern == KMA_PATTERN_NODE_NOT_REJOINED && f[i].serial[0];
		char hand[STORE_PLAN_TEXT];
		struct store_step *s;

		if (f[i].warning || !plan_rejoin_fixes(f[i].pattern) || k < 0)
			continue;
		snprintf(reason, sizeof(reason), "%s: %s", kma_pattern_id(f[i].pattern),
		         f[i].summary);
		s = step_add(v, out, max, &n, KMA_STEP_KIND_DELETE_ENTRY, x, reason);
		justify(s, &f[i],
		        "the peers find %s at %s's address (serial %s naming %s; enrolled %s), "
		        "seen again since the step began by the nodes that report",
		        kma_pattern_id(f[i].pattern), x, f[i].serial[0] ? f[i].serial : "unknown",
		        f[i].name[0] ? f[i].name : "no node ID",
		        v->nodes[k].entry.enrolled_serial[0] ? v->nodes[k].entry.enrolled_serial
		                                             : "none");
		s = step_add(v, out, max, &n, KMA_STEP_KIND_FACTORY_RESET, x,
		             "erase the wrong identity (and only it) so the node can QuickStart");
		if (s && reaches)
			justify(s, &f[i], "%s itself still presents serial %s", x, f[i].serial);
		snprintf(hand, sizeof(hand),
		         "the node at %s's address cannot take directives as %s (%s): on that "
		         "appliance run kma-agent factory-reset, then kmactl confirm this step",
		         x, x, kma_pattern_id(f[i].pattern));
		if (!reaches)
			by_hand(s, hand);
		step_add(v, out, max, &n, KMA_STEP_KIND_ADD_ENTRY, x,
		         "re-add the entry with a one-time enrolment token");
		s = step_add(
		    v, out, max, &n, KMA_STEP_KIND_QUICKSTART, x,
		    "a fresh key and certificate from the cluster CA, enrolled with the token");
		snprintf(hand, sizeof(hand),
		         "kmactl node token %s, then on the appliance: kma-agent quickstart "
		         "--node-id %s --token-file FILE; the step ends when it enrols",
		         x, x);
		if (!reaches)
			by_hand(s, hand);
		step_add(v, out, max, &n, KMA_STEP_KIND_JOIN, x,
		         "every peer takes the new serial and the node accepts every peer");
	}
	/* What no step addresses stays with the operator. */
	for (size_t i = 0; i < nf && *n_notes < PLAN_NOTES_MAX; i++) {
		if (f[i].warning || plan_rejoin_fixes(f[i].pattern) ||
		    f[i].pattern == KMA_PATTERN_NODE_REFUSED ||
		    (f[i].pattern == KMA_PATTERN_NODE_STATE &&
		     has_identity_finding(f, nf, f[i].culprit)))
			continue;
		snprintf(notes[(*n_notes)++], STORE_PLAN_TEXT, "%s%s%s: %s",
		         kma_pattern_id(f[i].pattern), f[i].culprit[0] ? " " : "", f[i].culprit,
		         f[i].remedy);
	}
	return n;
}

/* ---- the interlock ---- */

enum diag_verdict plan_justified(const struct plan_view *v, const struct store_step *s,
                                 int64_t since, char *why, size_t size)
{
	int x = plan_node_index(v, s->node_id);
	const struct plan_node *p = x >= 0 ? &v->nodes[x] : NULL;

	if (s->pred_kind == KMA_PATTERN_UNSPECIFIED) {
		snprintf(why, size, "nothing to check");
		return DIAG_CONFIRMED;
	}
	if (!p) {
		snprintf(why, size, "%s is no longer in the cluster", s->node_id);
		return DIAG_REFUTED;
	}
	if (s->kind != KMA_STEP_KIND_FACTORY_RESET)
		return diag_confirm(&v->diag, s->pred_kind, s->node_id, s->pred_serial, since, 0,
		                    why, size);
	/* Its entry is deleted: the peers no longer probe it; the node itself says what it has. */
	if (!p->entry.has_report || p->entry.report_at < since) {
		snprintf(why, size, "waiting for a report of %s since the step began", s->node_id);
		return DIAG_PENDING;
	}
	if (strcasecmp(p->cert_serial, s->pred_serial) != 0) {
		snprintf(why, size, "%s presents serial %s now, not %s as its peers found",
		         s->node_id, p->cert_serial[0] ? p->cert_serial : "(none)", s->pred_serial);
		return DIAG_REFUTED;
	}
	snprintf(why, size, "%s itself presents serial %s", s->node_id, s->pred_serial);
	return DIAG_CONFIRMED;
}

/* ---- gates ---- */

bool plan_node_serving(const struct plan_view *v, const struct plan_node *n, char *why, size_t size)
{
	const struct store_node *e = &n->entry;

	if (!e->has_report)
		return say(why, size, "%s has never reported", e->node_id);
	if (v->now - e->report_at > v->stale_after)
		return say(why, size, "%s last reported %lld s ago", e->node_id,
		           (long long)(v->now - e->report_at));
	if (e->report_state != KMA_STATE_ENROLLED)
		return say(why, size, "%s is %s, not enrolled", e->node_id,
		           kma_state_id(e->report_state));
	if (!n->health_known)
		return say(why, size, "%s has not reported its key service's health", e->node_id);
	if (!n->healthy)
		return say(why, size, "%s: key service unhealthy (%s)", e->node_id,
		           n->health_detail);
	return true;
}

static const struct store_observation *find_obs(const struct plan_view *v, const char *node,
                                                const char *peer, enum kma_direction dir)
{
	for (size_t i = 0; i < v->n_obs; i++) {
		const struct store_observation *o = &v->obs[i];

		if (strcmp(o->node_id, node) == 0 && strcmp(o->peer_id, peer) == 0 &&
		    o->direction == dir)
			return o;
	}
	return NULL;
}

bool plan_pair_ok(const struct plan_view *v, const char *a, const char *b, int64_t since, char *why,
                  size_t size)
{
	static const enum kma_direction dirs[] = {KMA_DIRECTION_OUTBOUND, KMA_DIRECTION_INBOUND};

	for (int side = 0; side < 2; side++) {
		const char *x = side ? b : a, *y = side ? a : b;

		for (int d = 0; d < 2; d++) {
			const struct store_observation *o = find_obs(v, x, y, dirs[d]);

			if (!o || o->at < since)
				return say(why, size, "%s has no %s observation of %s yet", x,
				           kma_direction_id(dirs[d]), y);
			if (o->cause != KMA_CAUSE_OK)
				return say(why, size, "%s -> %s %s: %s%s%s", x, y,
				           kma_direction_id(dirs[d]), kma_cause_id(o->cause),
				           o->detail[0] ? " " : "", o->detail);
		}
	}
	return true;
}

/* Serving nodes other than skip and the targets: each must serve, and each pair be ok. */
static bool others_sound(const struct plan_view *v, const bool *target, const char *skip,
                         int64_t since, unsigned *serving, char *why, size_t size)
{
	*serving = 0;
	for (size_t i = 0; i < v->n; i++) {
		const char *a = v->nodes[i].entry.node_id;

		if (target[i] || strcmp(a, skip) == 0)
			continue;
		if (!plan_node_serving(v, &v->nodes[i], why, size))
			return false;
		(*serving)++;
		for (size_t j = i + 1; j < v->n; j++) {
			const char *b = v->nodes[j].entry.node_id;

			if (target[j] || strcmp(b, skip) == 0)
				continue;
			if (!plan_pair_ok(v, a, b, since, why, size))
				return false;
		}
	}
	return true;
}

bool plan_gate_before(const struct plan_view *v, const bool *target, const char *node,
                      unsigned min_serving, char *why, size_t size)
{
	unsigned serving;

	if (!others_sound(v, target, node, 0, &serving, why, size))
		return false;
	if (serving < min_serving)
		return say(why, size,
		           "taking %s down leaves %u serving node%s, fewer than min_serving %u",
		           node, serving, serving == 1 ? "" : "s", min_serving);
	return true;
}

/* node serves and is mutually authenticated, since since, with every sound other node. */
static bool node_meshed(const struct plan_view *v, const bool *target, const char *node,
                        int64_t since, char *why, size_t size)
{
	int x = plan_node_index(v, node);

	if (x < 0)
		return say(why, size, "%s is no longer in the cluster", node);
	if (!plan_node_serving(v, &v->nodes[x], why, size))
		return false;
	for (size_t i = 0; i < v->n; i++) {
		if ((int)i == x || target[i])
			continue;
		if (!plan_node_serving(v, &v->nodes[i], why, size))
			continue; /* not a healthy peer: nothing to authenticate with */
		if (!plan_pair_ok(v, node, v->nodes[i].entry.node_id, since, why, size))
			return false;
	}
	return true;
}

bool plan_gate_back(const struct plan_view *v, const bool *target, const char *node,
                    const char *boot_before, int64_t since, char *why, size_t size)
{
	int x = plan_node_index(v, node);

	if (x < 0)
		return say(why, size, "%s is no longer in the cluster", node);
	if (!v->nodes[x].entry.has_report || v->nodes[x].entry.report_at < since ||
	    strcmp(v->nodes[x].boot_id, boot_before) == 0)
		return say(why, size, "%s has not come back yet (boot ID still %s)", node,
		           boot_before[0] ? boot_before : "unknown");
	return node_meshed(v, target, node, since, why, size);
}

bool plan_gate_pushed(const struct plan_view *v, const char *node, uint64_t version, char *why,
                      size_t size)
{
	char ignored[8];

	for (size_t i = 0; i < v->n; i++) {
		const struct plan_node *p = &v->nodes[i];

		if (strcmp(p->entry.node_id, node) == 0 ||
		    !plan_node_serving(v, p, ignored, sizeof(ignored)))
			continue;
		if (p->table_version < version)
			return say(why, size, "%s still holds peer table version %llu (want %llu)",
			           p->entry.node_id, (unsigned long long)p->table_version,
			           (unsigned long long)version);
	}
	return true;
}

bool plan_gate_joined(const struct plan_view *v, const bool *target, const char *node,
                      uint64_t version, int64_t since, char *why, size_t size)
{
	int x = plan_node_index(v, node);
	const struct plan_node *p;

	if (x < 0)
		return say(why, size, "%s is no longer in the cluster", node);
	p = &v->nodes[x];
	if (!p->entry.enrolled_serial[0])
		return say(why, size, "%s has no enrolled serial", node);
	if (strcmp(p->cert_serial, p->entry.enrolled_serial) != 0)
		return say(why, size, "%s presents serial %s, the cluster enrolled %s", node,
		           p->cert_serial[0] ? p->cert_serial : "(none)", p->entry.enrolled_serial);
	if (!plan_gate_pushed(v, node, version, why, size))
		return false;
	return node_meshed(v, target, node, since, why, size);
}
