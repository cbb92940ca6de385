#ifndef KMA_PROBE_PAIR_H
#define KMA_PROBE_PAIR_H

/*
 * Both ends of one probe in one thread, for the resumption tests and the handshake bench:
 * c started with probe_connect, s with probe_accept on the connection c opened. Steps each
 * as its socket allows until both are done; their results are then in probe_result.
 */

#include <poll.h>

#include "probe.h"

static inline void probe_pair_run(struct probe *c, struct probe *s)
{
	enum probe_wait wc = probe_step(c), ws = PROBE_WAIT_READ;

	while (wc != PROBE_WAIT_DONE || ws != PROBE_WAIT_DONE) {
		struct pollfd p[2] = {
		    {.fd = wc ? probe_fd(c) : -1,
		     .events = wc == PROBE_WAIT_READ ? POLLIN : POLLOUT},
		    {.fd = ws ? probe_fd(s) : -1,
		     .events = ws == PROBE_WAIT_READ ? POLLIN : POLLOUT},
		};

		poll(p, 2, 100);
		if (wc)
			wc = probe_step(c);
		if (ws)
			ws = probe_step(s);
	}
}

#endif
