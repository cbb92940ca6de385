#include "listenwatch.h"

#include <stdio.h>
#include <string.h>

void listenwatch_begin(struct listenwatch *w)
{
	w->n_ports = 0;
}

/* The counter against the oldest sample within the window (the counters are the node's). */
static void window(struct listenwatch *w, int64_t now, uint64_t drops)
{
	unsigned last = (w->head + LISTENWATCH_SAMPLES - 1) % LISTENWATCH_SAMPLES;

	if (w->n > 0 && w->s[last].at == now)
		return; /* the second port of the same round: same counters */
	w->s[w->head].at = now;
	w->s[w->head].drops = drops;
	w->head = (w->head + 1) % LISTENWATCH_SAMPLES;
	if (w->n < LISTENWATCH_SAMPLES)
		w->n++;
	w->recent = 0;
	w->window_s = 0;
	for (unsigned i = w->n; i-- > 0;) {
		unsigned k = (w->head + LISTENWATCH_SAMPLES - 1 - i) % LISTENWATCH_SAMPLES;

		if (now - w->s[k].at > LISTENWATCH_WINDOW_S)
			continue;
		/* A counter that went back (a reboot, another namespace): start again. */
		w->recent = drops >= w->s[k].drops ? drops - w->s[k].drops : 0;
		w->window_s = (uint32_t)(now - w->s[k].at);
		break;
	}
}

void listenwatch_add(struct listenwatch *w, int64_t now, const char *role,
                     const struct hal_listen_queue *q)
{
	struct listenwatch_port *p;

	if (w->n_ports >= LISTENWATCH_PORTS)
		return;
	p = &w->ports[w->n_ports++];
	snprintf(p->role, sizeof(p->role), "%s", role);
	p->q = *q;
	if (q->counters)
		window(w, now, q->drops);
}

void listenwatch_describe(const struct listenwatch_port *p, uint64_t recent, uint32_t window_s,
                          char *buf, size_t size)
{
	const char *who = strcmp(p->role, "key_service") == 0 ? "key service" : "peer listener";

	if (!p->q.listening) {
		snprintf(buf, size, "%s on port %u: nothing listens", who, p->q.port);
		return;
	}
	snprintf(buf, size,
	         "%s on port %u: accept queue %u/%u, %llu connections dropped in the "
	         "last %u s",
	         who, p->q.port, p->q.queued, p->q.backlog, (unsigned long long)recent, window_s);
}
