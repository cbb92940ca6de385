#ifndef KMA_AGENT_SDNOTIFY_H
#define KMA_AGENT_SDNOTIFY_H

/*
 * systemd's service notification protocol (sd_notify(3)), spoken directly instead of
 * linking libsystemd: each message is one datagram of "KEY=VALUE" lines sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET, a path ("/run/systemd/notify") or an abstract
 * name written with a leading '@'. Without $NOTIFY_SOCKET every call does nothing, so the
 * agent behaves the same under any other supervisor or on a terminal.
 *
 * With Type=notify and WatchdogSec= in the unit, systemd sets $WATCHDOG_USEC (and
 * $WATCHDOG_PID); the agent then sends WATCHDOG=1 from its event loop every half of that
 * interval, so a wedged loop (not merely a live process) gets the service restarted.
 */

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

enum sdnotify_status {
	SDNOTIFY_SENT = 0,
	SDNOTIFY_NO_SOCKET, /* $NOTIFY_SOCKET is unset or empty: nothing to do */
	SDNOTIFY_ERR,       /* unusable $NOTIFY_SOCKET or the send failed (errno kept) */
};

/* The agent's side of the protocol, owned by the daemon. Zero it before sdnotify_start. */
struct sdnotify {
	struct event *ev_watchdog; /* NULL unless systemd watches us */
	bool ready;                /* READY=1 went out */
};

/*
 * Sends msg (e.g. "READY=1" or "STATUS=...\nWATCHDOG=1") as one datagram to
 * $NOTIFY_SOCKET. Never blocks (the socket is non-blocking; systemd's queue is large).
 */
enum sdnotify_status sdnotify_send(const char *msg) __attribute__((warn_unused_result));

/*
 * The watchdog interval systemd expects pings within, in microseconds, from
 * $WATCHDOG_USEC; 0 when it is unset, malformed, or $WATCHDOG_PID names another process.
 */
uint64_t sdnotify_watchdog_usec(void);

/*
 * Once the daemon is running: sends READY=1 and, when sdnotify_watchdog_usec is not 0,
 * adds a persistent timer to base that sends WATCHDOG=1 every half of it. A failed send
 * is logged and not fatal (systemd then reports a start timeout itself). Returns 0, or -1
 * when the timer cannot be registered (nothing left registered).
 */
int sdnotify_start(struct sdnotify *n, struct event_base *base) __attribute__((warn_unused_result));

/*
 * Stops the watchdog timer and, when stopping is true and READY=1 was sent, sends
 * STOPPING=1. A daemon that re-executes itself passes false: it comes back with READY=1.
 * Safe on a zeroed or already stopped struct.
 */
void sdnotify_stop(struct sdnotify *n, bool stopping);

#endif
