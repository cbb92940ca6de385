#ifndef KMA_AGENT_LISTENWATCH_H
#define KMA_AGENT_LISTENWATCH_H

/*
 * The listen queues the agent watches on its own node: its key service's port (the board's
 * [kmip] address) and its own peer listener, sampled through the HAL (hal_listen_queue) at
 * every hardware check, with the node's ListenDrops counter turned into "dropped in the
 * last minute" from the samples kept here (a minute or less of them, at most
 * LISTENWATCH_SAMPLES). Pure bookkeeping: the daemon samples, the report carries it.
 */

#include <stdbool.h>
#include <stdint.h>

#include "hal.h"

#define LISTENWATCH_SAMPLES  64
#define LISTENWATCH_WINDOW_S 60
#define LISTENWATCH_PORTS    2

struct listenwatch_port {
	char role[16]; /* "key_service", "mesh" */
	struct hal_listen_queue q;
};

struct listenwatch {
	struct listenwatch_port ports[LISTENWATCH_PORTS];
	unsigned n_ports;
	struct {
		int64_t at;
		uint64_t drops;
	} s[LISTENWATCH_SAMPLES];
	unsigned n, head;  /* ring: head is the next slot */
	uint64_t recent;   /* ListenDrops over the window */
	uint32_t window_s; /* its length: up to LISTENWATCH_WINDOW_S */
};

/* Starts a round of samples at now (seconds): the ports of the last round are dropped. */
void listenwatch_begin(struct listenwatch *w);

/* Adds one port's measurement; counters, when read, feed the window. */
void listenwatch_add(struct listenwatch *w, int64_t now, const char *role,
                     const struct hal_listen_queue *q);

/* "key service on port 5696: accept queue 128/128" and the drops, for logs; "" if none. */
void listenwatch_describe(const struct listenwatch_port *p, uint64_t recent, uint32_t window_s,
                          char *buf, size_t size);

#endif
