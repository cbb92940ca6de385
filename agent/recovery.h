#ifndef KMA_AGENT_RECOVERY_H
#define KMA_AGENT_RECOVERY_H

/*
 * The coordinator's directives on this node, from receipt to result: which ones the agent
 * takes up (one at a time, each at most once), the record that keeps that promise across a
 * restart, the action through the HAL (REBOOT, FACTORY_RESET, QUICKSTART; JOIN, UPDATE_PEERS
 * and HOLD only answer) and the result the next report carries.
 *
 * Two layers: agent/directive.c below holds the rules (directive_check, pure) and the
 * record's format and file (directive_load, directive_store), with no loop and no action,
 * so both are tested as tables; this module decides when to use them, acts, and says what
 * became of each directive. The daemon only wires it to its loop and the coordinator link:
 *
 *   reporter -> coordlink -> recovery_directives -> directive_check, directive_store
 *                            recovery (next turn of the loop) -> hal -> directive_store
 *   coordlink reads what became of it from the coordlink_status written here.
 *
 * Rules kept here: a directive handled before (the record's, or one of the last 16 since
 * start) is not looked at again, since the coordinator re-sends until it sees the result;
 * nothing new is taken up while a disruptive directive is under way; a disruptive one is
 * recorded as started before it is acted on, and not acted on when that record cannot be
 * written; a record that cannot be read at start makes every directive refused until an
 * operator removes it. A QuickStart the coordinator did not answer is tried again, with
 * backoff, until its lease expires; a refusal is never retried.
 *
 * Everything runs on the loop's thread; a QuickStart blocks it (see recovery.c).
 */

#include <event2/event.h>
#include <mbedtls/pk.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "coordlink.h"
#include "directive.h"
#include "hal.h"
#include "kma.pb-c.h"

/* What recovery needs from the daemon; callbacks run on the loop's thread. */
struct recovery_deps {
	/* What reports say about directives (phase, the last directive, the fencing token):
	 * written here, read by the coordinator link when it builds a report. */
	struct coordlink_status *status;
	/* Our node ID, read at each use: the coordinator link's, which outlives a factory
	 * reset's erased record ("" before the link starts). */
	const char *node_id;
	/* Something the coordinator should hear now (coordlink_kick). */
	void (*report)(void *arg);
	/* A factory reset has erased the identity: stop using it at once (the mesh). */
	void (*identity_erased)(void *arg);
	/* The identity record changed (erased, or a QuickStart wrote a new one): look at it
	 * again (the daemon's hardware check, which restarts the mesh and the link). */
	void (*identity_changed)(void *arg);
	void *arg;
};

struct recovery {
	struct event_base *base;
	struct hal *hal;
	const struct agent_config *cfg;
	struct recovery_deps deps;
	bool blocked;           /* the record is unreadable: refuse everything */
	char problem[340];      /* why */
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
	/* QUICKSTART's key, the same for every try: a retry after a lost answer gets the
	 * certificate the coordinator issued for it (quickstart.h); freed after use. */
	mbedtls_pk_context qs_key;
	bool reexec; /* a simulated reboot: main re-executes the agent */
};

/*
 * Starts on base: reads the record (<state_dir>/directive) and settles a directive that was
 * under way when the agent stopped: a reboot that changed the boot ID did what it was meant
 * to; anything else is reported as not finished and is not done again. deps is copied; r
 * must be zeroed. Returns 0, or -1 when the loop cannot take its event (logged); either way
 * recovery_stop releases it.
 */
int recovery_start(struct recovery *r, struct event_base *base, struct hal *hal,
                   const struct agent_config *cfg, const struct recovery_deps *deps)
    __attribute__((warn_unused_result));

/*
 * A reply's directives (untrusted, maybe none; borrowed for the call): takes up at most the
 * first new one, and acts on a disruptive one in a later turn of the loop, outside the
 * caller (acting may stop and restart the coordinator link). Needs a started r.
 */
void recovery_directives(struct recovery *r, Kma__V1__Directive *const *ds, size_t n);

/* True once a simulated reboot (hal_reboot_reexecs) has stopped the loop: the daemon then
 * returns and main re-executes the agent, which comes back with a new boot ID. */
bool recovery_reexec(const struct recovery *r);

/* Drops a directive not yet acted on and wipes the QuickStart token and key. Safe on a
 * zeroed r. */
void recovery_stop(struct recovery *r);

#endif
