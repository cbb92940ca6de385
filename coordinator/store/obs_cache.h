#ifndef KMA_COORD_OBS_CACHE_H
#define KMA_COORD_OBS_CACHE_H

/*
 * What the SQLite backend holds of each node's observations, kept in memory by its handle so
 * that a report's unchanged observations (most of every report) are recognised without
 * reading them back from SQLite (store_sqlite.c, report_put). An observation is kept as its
 * row ID, its time and its text: every stored field but the time, NUL-separated, the key
 * (peer, direction) first; two observations are the same when their texts are, byte for
 * byte.
 *
 * The cache only ever says what the handle itself wrote or read: store_sqlite.c forgets it
 * whenever it cannot vouch for it (a transaction rolled back, another connection's commit,
 * another kind of write through the handle). Memory: one entry per stored observation.
 */

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Longest identifier of a direction or a cause in the text (vocab.def's are shorter). */
#define OBS_ID_MAX 48

/* Longest text: the key and the fields of struct store_observation but the time, with the
 * direction and the cause as their identifiers. */
#define OBS_TEXT_MAX (sizeof(struct store_observation) + 2 * OBS_ID_MAX)

struct obs_cached {
	int64_t rowid;
	int64_t at;
	size_t key_len; /* text[0..key_len): peer ID and direction */
	size_t len;
	char *text;
};

/* A node's stored observations (every row, whether its last report named it or not). */
struct obs_node {
	char *node_id;
	size_t n, cap;
	struct obs_cached *obs;
};

struct obs_cache;

/* An empty cache, or NULL when out of memory. */
struct obs_cache *obs_cache_new(void);

/* Forgets everything; NULL is fine. */
void obs_cache_free(struct obs_cache *c);

/* Forgets every node. */
void obs_cache_clear(struct obs_cache *c);

/* The node's entry, or NULL when the cache does not know it. */
struct obs_node *obs_cache_get(struct obs_cache *c, const char *node_id);

/* A new, empty entry for a node the cache does not know; NULL when out of memory. */
struct obs_node *obs_cache_add(struct obs_cache *c, const char *node_id);

/* Forgets one node (its next report is compared with what SQLite holds). */
void obs_cache_forget(struct obs_cache *c, const char *node_id);

/*
 * The text of o as stored (each string cut as store_report_put cuts it; OBS_TEXT_MAX bytes
 * of buf at most); its length, with the key's in *key_len.
 */
size_t obs_cache_text(const struct store_obs_in *o, char *buf, size_t *key_len);

/*
 * Sets entry i of n (i == n->n appends one) to rowid, at and text. Returns 0, or -1 when
 * out of memory (n unchanged).
 */
int obs_cache_set(struct obs_node *n, size_t i, int64_t rowid, int64_t at, const char *text,
                  size_t len, size_t key_len) __attribute__((warn_unused_result));

/*
 * The entry of n with the key of text (key_len bytes), searching from entry hint on (an
 * agent names its peers in the same order every time), or -1.
 */
long obs_cache_find(const struct obs_node *n, const char *text, size_t key_len, size_t hint);

#endif
