#ifndef KMA_AGENT_DAEMON_PRIV_H
#define KMA_AGENT_DAEMON_PRIV_H

/* The daemon's state, shared with agent/recovery.c while the directive code moves there. */

#include <event2/event.h>
#include <stdbool.h>

#include "config.h"
#include "coordlink.h"
#include "directive.h"
#include "hal.h"
#include "health.h"
#include "identity.h"
#include "kmipcheck.h"
#include "mesh.h"
#include "sdnotify_ev.h"

struct daemon {
	struct event_base *base;
	struct hal *hal;
	const struct agent_config *cfg;
	struct event *ev_term, *ev_int, *ev_hup, *ev_hwcheck;
	struct event *ev_trim;   /* gives freed heap back (memory_policy) */
	struct event *ev_helper; /* the privileged helper's lifeline (hal/privsep.h) */
	bool helper_lost;
	struct identity_view last;
	bool have_last;
	struct mesh mesh;
	struct coordlink link;
	struct health health;
	struct event *ev_kmip;          /* the KMIP check's interval */
	struct kmipcheck *kmip;         /* the check in flight, NULL when none */
	bool queue_full;                /* a watched accept queue was full at the last sample */
	struct coordlink_status status; /* what reports say beyond the identity view */
	/* Directives. */
	bool dir_blocked;       /* the record is unreadable: refuse everything */
	char dir_problem[340];  /* why */
	char bad_id_logged[80]; /* the last malformed directive we complained about */
	/* Ids handled since start (the record keeps the last across restarts), so that a reply
	 * listing an old directive beside a new one does not make them take turns. */
	char seen[16][DIRECTIVE_ID_MAX + 1];
	unsigned n_seen;
	struct event *ev_act; /* runs the accepted disruptive directive */
	bool act_pending;
	int64_t act_deadline; /* its lease's expiry: a QuickStart may be tried again until then */
	unsigned act_tries;
	char token[DIRECTIVE_TOKEN_MAX + 1]; /* QUICKSTART's, wiped after use */
	bool reexec;                         /* a simulated reboot: main re-executes the agent */
	struct sdnotify_ev notify;           /* systemd: READY=1, WATCHDOG=1, STOPPING=1 */
};

/* The identity, then the faults the HAL may inject into a (re)started mesh. */
void hw_check(struct daemon *d);

#endif
