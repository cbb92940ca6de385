#include "probe_ev.h"

#include <stdbool.h>

static void on_ready(evutil_socket_t fd, short what, void *arg);

static bool arm(struct probe_ev *pe, enum probe_wait w)
{
	uint64_t now = probe_now_ms(), dl = probe_deadline(&pe->probe);
	uint64_t ms = dl > now ? dl - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	short what = w == PROBE_WAIT_READ ? EV_READ : EV_WRITE;

	if (pe->ev)
		event_free(pe->ev);
	pe->ev = event_new(pe->base, probe_fd(&pe->probe), what, on_ready, pe);
	return pe->ev && event_add(pe->ev, &tv) == 0;
}

static void advance(struct probe_ev *pe)
{
	enum probe_wait w = probe_step(&pe->probe);

	if (w != PROBE_WAIT_DONE && arm(pe, w))
		return;
	if (pe->ev) {
		event_free(pe->ev);
		pe->ev = NULL;
	}
	pe->done(pe, pe->arg);
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what; /* a timeout is noticed by probe_step through the deadline */
	advance(arg);
}

void probe_ev_run(struct probe_ev *pe, struct event_base *base, probe_ev_done_fn done, void *arg)
{
	pe->base = base;
	pe->done = done;
	pe->arg = arg;
	pe->ev = NULL;
	pe->started_ms = probe_now_ms();
	advance(pe);
}

void probe_ev_cancel(struct probe_ev *pe)
{
	if (pe->ev) {
		event_free(pe->ev);
		pe->ev = NULL;
	}
	probe_free(&pe->probe);
}

bool probe_ev_progressed(const struct probe_ev *pe)
{
	return pe->probe.in.first_len > 0;
}
