#include "diagnose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "log.h"

void diagnose_self_from_facts(const struct store_node *n, const struct store_facts *f,
                              struct diag_self *s)
{
	memset(s, 0, sizeof(*s));
	if (!n->has_report)
		return;
	s->state = n->report_state;
	s->report_at = n->report_at;
	if (!f)
		return;
	for (size_t i = 0; i < f->n_lq && s->n_lq < DIAG_LISTENQ_MAX; i++) {
		const struct store_listenq *l = &f->lq[i];
		struct diag_listenq *q = &s->lq[s->n_lq];

		if (!l->listening)
			continue;
		q->key_service = l->key_service;
		q->port = l->port;
		q->queued = l->queued;
		q->backlog = l->backlog;
		q->dropped = l->dropped_recently;
		q->window_s = l->window_s;
		s->n_lq++;
	}
	if (f->has_cert) {
		s->cert_not_after = f->cert_not_after;
		snprintf(s->cert_serial, sizeof(s->cert_serial), "%s", f->cert_serial);
	}
	if (f->health_known) {
		s->keys_known = true;
		s->keys_ok = f->healthy;
		snprintf(s->keys_detail, sizeof(s->keys_detail), "%s", f->health_detail);
	}
}

void diagnose_self_load(struct store *st, const struct store_node *n, struct diag_self *s)
{
	struct store_facts *f = NULL;

	/* Without facts (none yet after an upgrade) what the node said of itself is unknown. */
	if (n->has_report && (f = malloc(sizeof(*f))) &&
	    store_facts_get(st, n->node_id, f) != STORE_OK) {
		free(f);
		f = NULL;
	}
	diagnose_self_from_facts(n, f, s);
	free(f);
}

static char ca_subjects[DIAGNOSE_CA_MAX][DIAG_DN_MAX];
static size_t n_ca_subjects;

void diagnose_set_cluster_ca(const char (*subjects)[DIAG_DN_MAX], size_t n)
{
	n_ca_subjects = n < DIAGNOSE_CA_MAX ? n : DIAGNOSE_CA_MAX;
	for (size_t i = 0; i < n_ca_subjects; i++)
		snprintf(ca_subjects[i], sizeof(ca_subjects[i]), "%s", subjects[i]);
}

void diagnose_input_ca(struct diag_input *in)
{
	in->ca_subjects = (const char(*)[DIAG_DN_MAX])ca_subjects;
	in->n_ca_subjects = n_ca_subjects;
}

int diagnose_snapshot_load(struct store *st, int64_t now, int64_t stale_after,
                           struct diagnose_snapshot *s)
{
	size_t n_nodes = 0;

	memset(s, 0, sizeof(*s));
	if (store_nodes_list(st, &s->nodes, &n_nodes) != STORE_OK ||
	    store_observations_list(st, &s->obs, &s->in.n_obs) != STORE_OK ||
	    store_attempts_list(st, &s->attempts, &s->in.n_attempts) != STORE_OK ||
	    !(s->self = calloc(n_nodes ? n_nodes : 1, sizeof(*s->self)))) {
		log_err("diagnosis: the store could not be read");
		diagnose_snapshot_free(s);
		return -1;
	}
	for (size_t i = 0; i < n_nodes; i++)
		diagnose_self_load(st, &s->nodes[i], &s->self[i]);
	s->in.nodes = s->nodes;
	s->in.self = s->self;
	s->in.n_nodes = n_nodes;
	s->in.obs = s->obs;
	s->in.attempts = s->attempts;
	diagnose_input_ca(&s->in);
	s->in.now = now;
	s->in.stale_after = stale_after;
	return 0;
}

void diagnose_snapshot_free(struct diagnose_snapshot *s)
{
	free(s->nodes);
	free(s->self);
	free(s->obs);
	free(s->attempts);
	memset(s, 0, sizeof(*s));
}

ssize_t diagnose_run(struct store *st, int64_t now, int64_t stale_after, struct diag_finding *f,
                     size_t max)
{
	struct diagnose_snapshot s;
	ssize_t n;

	if (diagnose_snapshot_load(st, now, stale_after, &s) != 0)
		return -1;
	n = (ssize_t)diag_run(&s.in, f, max);
	diagnose_snapshot_free(&s);
	return n;
}
