#ifndef KMA_COMMON_SDNOTIFY_H
#define KMA_COMMON_SDNOTIFY_H

/*
 * systemd's service notification protocol (sd_notify(3)), spoken directly instead of
 * linking libsystemd: each message is one datagram of "KEY=VALUE" lines sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET, a path ("/run/systemd/notify") or an abstract
 * name written with a leading '@'. Without $NOTIFY_SOCKET every call does nothing, so the
 * daemons behave the same under any other supervisor or on a terminal.
 *
 * With Type=notify and WatchdogSec= in the unit, systemd sets $WATCHDOG_USEC (and
 * $WATCHDOG_PID); a daemon then sends WATCHDOG=1 every half of that interval from the loop
 * whose progress the ping vouches for, so a wedged loop (not merely a live process) gets
 * the service restarted. kma-agent pings from its libevent loop (agent/sdnotify_ev.h),
 * kma-coord from its tick loop (struct sdnotify_watchdog below).
 */

#include <stdbool.h>
#include <stdint.h>

enum sdnotify_status {
	SDNOTIFY_SENT = 0,
	SDNOTIFY_NO_SOCKET, /* $NOTIFY_SOCKET is unset or empty: nothing to do */
	SDNOTIFY_ERR,       /* unusable $NOTIFY_SOCKET or the send failed (errno kept) */
};

/*
 * Sends msg (e.g. "READY=1" or "STATUS=...\nWATCHDOG=1") as one datagram to
 * $NOTIFY_SOCKET. Never blocks (the socket is non-blocking; systemd's queue is large).
 */
enum sdnotify_status sdnotify_send(const char *msg) __attribute__((warn_unused_result));

/*
 * sdnotify_send, with a failure logged as a warning and otherwise ignored: systemd then
 * reports the missing notification itself (a start timeout, a watchdog timeout).
 */
void sdnotify_tell(const char *msg);

/*
 * The watchdog interval systemd expects pings within, in microseconds, from
 * $WATCHDOG_USEC; 0 when it is unset, malformed, or $WATCHDOG_PID names another process.
 */
uint64_t sdnotify_watchdog_usec(void);

/*
 * How often to ping for a watchdog interval of usec: half of it (sd_watchdog_enabled(3)),
 * at least 1 ms; 0 for 0 (no watchdog).
 */
uint64_t sdnotify_ping_every_usec(uint64_t usec);

/* A loop's watchdog pings, paced by the loop itself (a loop without timers of its own). */
struct sdnotify_watchdog {
	uint64_t every_us; /* 0: systemd does not watch this process */
	uint64_t next_us;  /* CLOCK_MONOTONIC, in microseconds */
};

/* From $WATCHDOG_USEC; the first ping is due at once. Cannot fail. */
void sdnotify_watchdog_init(struct sdnotify_watchdog *w);

/*
 * Called from the loop whose progress a ping vouches for, after each round of its work:
 * sends WATCHDOG=1 when half the interval has passed since the last ping. now_us is
 * CLOCK_MONOTONIC in microseconds. Returns true when a ping went out.
 */
bool sdnotify_watchdog_kick(struct sdnotify_watchdog *w, uint64_t now_us);

#endif
