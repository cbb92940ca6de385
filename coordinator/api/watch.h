#ifndef KMA_COORD_WATCH_H
#define KMA_COORD_WATCH_H

/*
 * GET /v1/watch?version=V&done=ID: the push half of the agent protocol. An agent holds one
 * such request open; the coordinator answers it as soon as the peer table version differs
 * from V or a directive other than ID is out for the agent's node (200, "changed"), or
 * after WATCH_HOLD_S with nothing new (204). The agent then reports at once and gets the
 * table or the directive in the reply, so a change reaches every agent within a fraction
 * of a second instead of a report interval later.
 *
 * A held request is a suspended libmicrohttpd connection in a list; watch_tick, run by the
 * coordinator's main thread a few times a second, reads the version and the directives out
 * once and resumes the connections whose answer is due. The list has its own lock.
 */

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define WATCH_HOLD_S 25

struct watcher {
	struct MHD_Connection *c;
	char node_id[STORE_ID_MAX];
	uint64_t version;
	char done[48];
	int64_t deadline;
	int status; /* 0 while held; 200 changed, 204 nothing new */
	bool listed;
};

struct watch_list;

struct watch_list *watch_list_new(void);
/* Resumes every held connection with 204 (shutting down) and frees the list. */
void watch_list_free(struct watch_list *l);

/* Answers every held watch (204) and empties the list. */
void watch_release_all(struct watch_list *l);

/* Whether the agent's view (version, done) is already out of date. */
bool watch_changed(struct store *st, const char *node_id, uint64_t version, const char *done);

/* Holds w (its connection already suspended by the caller). 0, or -1 when full. */
int watch_hold(struct watch_list *l, struct watcher *w);
/* Takes w out of the list if it is still there (its connection ended). */
void watch_forget(struct watch_list *l, struct watcher *w);

/* Resumes the held connections whose answer is due at now. */
void watch_tick(struct watch_list *l, struct store *st, int64_t now);

/* How many requests are held now. */
size_t watch_count(struct watch_list *l);

#endif
