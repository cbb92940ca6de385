#ifndef KMA_AGENT_SDNOTIFY_EV_H
#define KMA_AGENT_SDNOTIFY_EV_H

/*
 * The agent's side of systemd's notification protocol (common/sdnotify.h), on its libevent
 * loop: READY=1 once the loop runs, WATCHDOG=1 from a timer of that loop every half of
 * WatchdogSec (so the pings stop when the loop wedges), STOPPING=1 on the way out.
 */

#include <event2/event.h>
#include <stdbool.h>

/* Owned by the daemon. Zero it before sdnotify_ev_start. */
struct sdnotify_ev {
	struct event *ev_watchdog; /* NULL unless systemd watches us */
	bool ready;                /* READY=1 went out */
};

/*
 * Once the daemon is running: sends READY=1 and, when sdnotify_watchdog_usec is not 0,
 * adds a persistent timer to base that sends WATCHDOG=1 every half of it. A failed send
 * is logged and not fatal (systemd then reports a start timeout itself). Returns 0, or -1
 * when the timer cannot be registered (nothing left registered).
 */
int sdnotify_ev_start(struct sdnotify_ev *n, struct event_base *base)
    __attribute__((warn_unused_result));

/*
 * Stops the watchdog timer and, when stopping is true and READY=1 was sent, sends
 * STOPPING=1. A daemon that re-executes itself passes false: it comes back with READY=1.
 * Safe on a zeroed or already stopped struct.
 */
void sdnotify_ev_stop(struct sdnotify_ev *n, bool stopping);

#endif
