#include "sdnotify_ev.h"

#include <stdint.h>
#include <sys/time.h>

#include "log.h"
#include "sdnotify.h"

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sdnotify_tell("WATCHDOG=1");
}

int sdnotify_ev_start(struct sdnotify_ev *n, struct event_base *base)
{
	uint64_t every_us = sdnotify_ping_every_usec(sdnotify_watchdog_usec());

	if (every_us) {
		struct timeval every = {.tv_sec = (time_t)(every_us / 1000000),
		                        .tv_usec = (suseconds_t)(every_us % 1000000)};

		n->ev_watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, n);
		if (!n->ev_watchdog || event_add(n->ev_watchdog, &every) != 0) {
			log_err("cannot register the systemd watchdog timer");
			sdnotify_ev_stop(n, false);
			return -1;
		}
		log_info("systemd watchdog: a ping every %llu ms",
		         (unsigned long long)(every_us / 1000));
	}
	sdnotify_tell("READY=1\nSTATUS=running");
	n->ready = true;
	return 0;
}

void sdnotify_ev_stop(struct sdnotify_ev *n, bool stopping)
{
	if (n->ev_watchdog) {
		event_free(n->ev_watchdog);
		n->ev_watchdog = NULL;
	}
	if (n->ready && stopping)
		sdnotify_tell("STOPPING=1");
	n->ready = false;
}
