#ifndef KMA_AGENT_HEALTH_H
#define KMA_AGENT_HEALTH_H

/*
 * Key-service health, checked off the event loop: hal_health_check may block (a board
 * command, up to 15 s on linux), so one worker thread runs it right after start and then
 * every interval (or at once on health_check_now), on its own copy of struct hal. It keeps
 * the result under a mutex and wakes the event loop through a pipe when the result
 * changes; the loop side (health_on_change callback) runs in the loop's thread.
 *
 * This is the agent's only thread besides the event loop's; everything it shares with the
 * loop is in struct health_shared, guarded by its mutex.
 */

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hal.h"

/* One check's outcome. */
struct health_result {
	bool checked; /* false until the first check finished */
	bool healthy;
	enum hal_status status; /* HAL_OK, or why the check itself could not run */
	char detail[256];
	int64_t checked_at; /* hal_time_real, seconds since the epoch */
};

struct health {
	/* Loop side. */
	struct event *ev;
	void (*on_change)(void *arg, const struct health_result *now);
	void *arg;
	bool started;
	int wake[2]; /* worker -> loop: a byte per changed result */
	/* Worker side. */
	pthread_t thread;
	struct hal hal; /* the worker's copy: its own error buffer */
	unsigned interval_s;
	/* Shared, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, now;
	struct health_result result;
};

/*
 * Starts the worker: the first check runs at once, then one every interval_s seconds.
 * on_change is called on the loop's thread whenever healthy or detail differ from the
 * previous check (and after the first). Returns 0, or -1 (logged; nothing left running).
 */
int health_start(struct health *h, struct event_base *base, const struct hal *hal,
                 unsigned interval_s, void (*on_change)(void *arg, const struct health_result *),
                 void *arg) __attribute__((warn_unused_result));

/* Asks the worker to check now (SIGHUP); returns at once. */
void health_check_now(struct health *h);

/* The latest result (checked is false before the first check finished). */
void health_get(struct health *h, struct health_result *out);

/* Stops and joins the worker (waits for a check in progress); safe when never started. */
void health_stop(struct health *h);

#endif
