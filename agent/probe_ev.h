#ifndef KMA_AGENT_PROBE_EV_H
#define KMA_AGENT_PROBE_EV_H

/*
 * Drives a probe from the agent's libevent loop: one one-shot event per wait, with the
 * probe's deadline as its timeout. The done callback runs once with the final result;
 * the probe_ev may be freed from inside it.
 */

#include <event2/event.h>

#include "probe.h"

struct probe_ev;
typedef void (*probe_ev_done_fn)(struct probe_ev *pe, void *arg);

struct probe_ev {
	struct probe probe;
	struct event *ev;
	struct event_base *base;
	probe_ev_done_fn done;
	void *arg;
	uint64_t started_ms;
	struct probe_ev *next; /* for the owner's lists */
};

/*
 * Starts driving an already started probe. done may run before this returns (a probe
 * that ended at once, or an event that could not be made: the result then says so).
 */
void probe_ev_run(struct probe_ev *pe, struct event_base *base, probe_ev_done_fn done, void *arg);

/* Stops and frees the probe (no callback); the struct itself belongs to the caller. */
void probe_ev_cancel(struct probe_ev *pe);

/* True when the peer has sent at least one byte (a stalled client has not). */
bool probe_ev_progressed(const struct probe_ev *pe);

#endif
