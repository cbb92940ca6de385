#include "obs_cache.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

struct obs_cache {
	void *root; /* tsearch tree of struct obs_node *, by node ID */
};

static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct obs_node *)a)->node_id, ((const struct obs_node *)b)->node_id);
}

static void node_free(void *p)
{
	struct obs_node *n = p;

	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		free(n->obs[i].text);
	free(n->obs);
	free(n->node_id);
	free(n);
}

struct obs_cache *obs_cache_new(void)
{
	return calloc(1, sizeof(struct obs_cache));
}

void obs_cache_clear(struct obs_cache *c)
{
	tdestroy(c->root, node_free);
	c->root = NULL;
}

void obs_cache_free(struct obs_cache *c)
{
	if (!c)
		return;
	obs_cache_clear(c);
	free(c);
}

struct obs_node *obs_cache_get(struct obs_cache *c, const char *node_id)
{
	struct obs_node key = {.node_id = (char *)node_id};
	void *const *found = tfind(&key, &c->root, node_cmp);

	return found ? *found : NULL;
}

struct obs_node *obs_cache_add(struct obs_cache *c, const char *node_id)
{
	struct obs_node *n = calloc(1, sizeof(*n));
	void *const *slot;

	if (!n || !(n->node_id = strdup(node_id)))
		goto fail;
	slot = tsearch(n, &c->root, node_cmp);
	if (!slot)
		goto fail;
	if (*slot != n) { /* known already: the caller should have asked */
		node_free(n);
		return *slot;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

void obs_cache_forget(struct obs_cache *c, const char *node_id)
{
	struct obs_node *n = obs_cache_get(c, node_id);

	if (n) {
		tdelete(n, &c->root, node_cmp);
		node_free(n);
	}
}

static char *put_str(char *p, const char *s, size_t cut)
{
	size_t len;

	if (!s)
		s = "";
	len = strnlen(s, cut);

	memcpy(p, s, len);
	p[len] = '\0';
	return p + len + 1;
}

static char *put_int(char *p, int v)
{
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

static char *put_i64(char *p, int64_t v)
{
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

size_t obs_cache_text(const struct store_obs_in *o, char *buf, size_t *key_len)
{
	char *p = buf;

	p = put_str(p, o->peer_id, STORE_OBS_CUT(peer_id));
	p = put_str(p, kma_direction_id(o->direction), OBS_ID_MAX - 1);
	*key_len = (size_t)(p - buf);
	p = put_str(p, kma_cause_id(o->cause), OBS_ID_MAX - 1);
	p = put_int(p, o->alert_sent);
	p = put_int(p, o->alert_received);
	p = put_str(p, o->peer_serial, STORE_OBS_CUT(peer_serial));
	p = put_str(p, o->expected_serial, STORE_OBS_CUT(expected_serial));
	p = put_str(p, o->detail, STORE_OBS_CUT(detail));
	p = put_str(p, o->peer_node_id, STORE_OBS_CUT(peer_node_id));
	p = put_str(p, o->peer_issuer, STORE_OBS_CUT(peer_issuer));
	p = put_i64(p, o->peer_not_before);
	p = put_i64(p, o->peer_not_after);
	p = put_str(p, o->peer_address, STORE_OBS_CUT(peer_address));
	return (size_t)(p - buf);
}

int obs_cache_set(struct obs_node *n, size_t i, int64_t rowid, int64_t at, const char *text,
                  size_t len, size_t key_len)
{
	struct obs_cached *e;
	char *copy;

	if (i > n->n)
		return -1;
	if (i == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 8;
		struct obs_cached *grown = realloc(n->obs, cap * sizeof(*grown));

		if (!grown)
			return -1;
		n->obs = grown;
		n->cap = cap;
	}
	e = &n->obs[i];
	if (i < n->n && e->len == len && memcmp(e->text, text, len) == 0) {
		copy = e->text; /* only its time moved on */
	} else {
		copy = malloc(len);
		if (!copy)
			return -1;
		memcpy(copy, text, len);
		if (i < n->n)
			free(e->text);
	}
	e->rowid = rowid;
	e->at = at;
	e->key_len = key_len;
	e->len = len;
	e->text = copy;
	if (i == n->n)
		n->n++;
	return 0;
}

long obs_cache_find(const struct obs_node *n, const char *text, size_t key_len, size_t hint)
{
	for (size_t k = 0; k < n->n; k++) {
		size_t i = (hint + k) % n->n;
		const struct obs_cached *e = &n->obs[i];

		if (e->key_len == key_len && memcmp(e->text, text, key_len) == 0)
			return (long)i;
	}
	return -1;
}
