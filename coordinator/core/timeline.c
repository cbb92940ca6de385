#include "timeline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"

struct timeline {
	pthread_mutex_t lock;
	struct timeline_sample ring[TIMELINE_SAMPLES];
	size_t next, count;
	int64_t last_at;
};

struct timeline *timeline_new(void)
{
	struct timeline *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void timeline_free(struct timeline *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static bool is_node(const struct diag_input *in, const char *id)
{
	for (size_t i = 0; i < in->n_nodes; i++)
		if (strcmp(in->nodes[i].node_id, id) == 0)
			return true;
	return false;
}

/* The sample of the snapshot s and its findings f. */
static void measure(const struct diagnose_snapshot *s, const struct diag_finding *f, size_t n,
                    int64_t now, struct timeline_sample *out)
{
	memset(out, 0, sizeof(*out));
	out->at = now;
	out->healthy = true;
	for (size_t i = 0; i < s->in.n_obs; i++) {
		const struct store_observation *o = &s->in.obs[i];

		if (o->direction != KMA_DIRECTION_OUTBOUND || !is_node(&s->in, o->node_id) ||
		    !is_node(&s->in, o->peer_id))
			continue;
		if (o->cause == KMA_CAUSE_OK)
			out->ok++;
		else
			out->failed++;
	}
	for (size_t i = 0; i < s->in.n_nodes; i++) {
		struct diag_health h;

		diag_node_health(&s->in, i, f, n, &h);
		if (h.healthy)
			continue;
		if (out->n_blamed < TIMELINE_BLAMED_MAX)
			snprintf(out->blamed[out->n_blamed++], STORE_ID_MAX, "%s",
			         s->in.nodes[i].node_id);
	}
	for (size_t i = 0; i < n; i++)
		out->healthy &= f[i].warning;
}

void timeline_tick(struct timeline *t, struct store *st, int64_t now, int64_t stale_after)
{
	struct diagnose_snapshot s;
	struct diag_finding *f;
	struct timeline_sample smp;
	size_t n;

	if (!t || (t->last_at && now - t->last_at < TIMELINE_STEP_S))
		return;
	t->last_at = now; /* a failure is not retried at once either */
	f = calloc(DIAGNOSE_FINDINGS_MAX, sizeof(*f));
	if (!f)
		return;
	if (diagnose_snapshot_load(st, now, stale_after, &s) != 0) {
		free(f);
		return;
	}
	n = diag_run(&s.in, f, DIAGNOSE_FINDINGS_MAX);
	measure(&s, f, n, now, &smp);
	diagnose_snapshot_free(&s);
	free(f);
	pthread_mutex_lock(&t->lock);
	t->ring[t->next] = smp;
	t->next = (t->next + 1) % TIMELINE_SAMPLES;
	if (t->count < TIMELINE_SAMPLES)
		t->count++;
	pthread_mutex_unlock(&t->lock);
}

size_t timeline_samples(struct timeline *t, int64_t now, struct timeline_sample *out)
{
	size_t n = 0;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (size_t k = 0; k < t->count; k++) {
		const struct timeline_sample *s =
		    &t->ring[(t->next + TIMELINE_SAMPLES - t->count + k) % TIMELINE_SAMPLES];

		if (now - s->at <= (int64_t)TIMELINE_STEP_S * TIMELINE_SAMPLES)
			out[n++] = *s;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}
