#include "watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_plan.h"

#define WATCH_MAX 65536

struct watch_list {
	pthread_mutex_t lock;
	struct watcher **w;
	size_t n, cap;
};

struct watch_list *watch_list_new(void)
{
	struct watch_list *l = calloc(1, sizeof(*l));

	if (l && pthread_mutex_init(&l->lock, NULL) != 0) {
		free(l);
		return NULL;
	}
	return l;
}

static void resume(struct watcher *w, int status)
{
	w->status = status;
	w->listed = false;
	MHD_resume_connection(w->c);
}

void watch_release_all(struct watch_list *l)
{
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->n; i++)
		resume(l->w[i], MHD_HTTP_NO_CONTENT);
	l->n = 0;
	pthread_mutex_unlock(&l->lock);
}

void watch_list_free(struct watch_list *l)
{
	if (!l)
		return;
	watch_release_all(l);
	pthread_mutex_destroy(&l->lock);
	free(l->w);
	free(l);
}

bool watch_changed(struct store *st, const char *node_id, uint64_t version, const char *done)
{
	struct store_step step;
	struct store_lease lease;
	uint64_t now_version = 0;

	if (store_peer_table_version(st, &now_version) == STORE_OK && now_version != version)
		return true;
	return store_directive_for(st, node_id, &step, &lease) == STORE_OK &&
	       strcmp(step.directive_id, done) != 0;
}

int watch_hold(struct watch_list *l, struct watcher *w)
{
	int ret = -1;

	pthread_mutex_lock(&l->lock);
	if (l->n == l->cap && l->cap < WATCH_MAX) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct watcher **grown = realloc(l->w, cap * sizeof(*grown));

		if (grown) {
			l->w = grown;
			l->cap = cap;
		}
	}
	if (l->n < l->cap) {
		w->listed = true;
		w->status = 0;
		l->w[l->n++] = w;
		ret = 0;
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

void watch_forget(struct watch_list *l, struct watcher *w)
{
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; w->listed && i < l->n; i++) {
		if (l->w[i] != w)
			continue;
		l->w[i] = l->w[--l->n];
		w->listed = false;
	}
	pthread_mutex_unlock(&l->lock);
}

size_t watch_count(struct watch_list *l)
{
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->n;
	pthread_mutex_unlock(&l->lock);
	return n;
}

/* The directive out, if any (one plan runs at a time: at most one node has one). */
static void directive_out(struct store *st, char *node, size_t nsize, char *id, size_t isize)
{
	struct store_plan plan;
	struct store_step *steps = NULL;
	size_t n = 0;

	node[0] = id[0] = '\0';
	if (!store_plan_unfinished(st) || store_plan_latest(st, &plan, &steps, &n) != STORE_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (steps[i].state == KMA_STEP_STATE_ACTIVE &&
		    steps[i].phase == KMA_STEP_PHASE_DIRECTIVE &&
		    plan.state == KMA_PLAN_STATE_RUNNING) {
			snprintf(node, nsize, "%s", steps[i].node_id);
			snprintf(id, isize, "%s", steps[i].directive_id);
		}
	}
	free(steps);
}

void watch_tick(struct watch_list *l, struct store *st, int64_t now)
{
	uint64_t version = 0;
	char node[STORE_ID_MAX], id[48];

	pthread_mutex_lock(&l->lock);
	if (l->n == 0) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	if (store_peer_table_version(st, &version) != STORE_OK) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	directive_out(st, node, sizeof(node), id, sizeof(id));
	for (size_t i = 0; i < l->n;) {
		struct watcher *w = l->w[i];
		bool changed = w->version != version ||
		               (id[0] && strcmp(w->node_id, node) == 0 && strcmp(w->done, id) != 0);

		if (changed || now >= w->deadline) {
			l->w[i] = l->w[--l->n];
			resume(w, changed ? MHD_HTTP_OK : MHD_HTTP_NO_CONTENT);
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&l->lock);
}
