#ifndef KMA_AGENT_COORDLINK_H
#define KMA_AGENT_COORDLINK_H

/*
 * What the agent tells the coordinator and what it does with the answer: builds each
 * AgentReport from the identity view and the mesh's observations, and applies each
 * CoordinatorReply: the peer table goes to the mesh (only when its version changed), the
 * serial the cluster enrolled for us goes into the identity record (so the state becomes
 * enrolled or not_enrolled).
 */

#include <event2/event.h>
#include <stdbool.h>

#include "config.h"
#include "hal.h"
#include "identity.h"
#include "mesh.h"
#include "peers.h"
#include "reporter.h"

struct coordlink {
	struct reporter rep;
	struct hal *hal;
	const struct agent_config *cfg;
	const struct identity_view *view; /* the daemon's latest, read when a report is built */
	struct mesh *mesh;
	uint64_t table_version;
	struct peer_table *table; /* the coordinator's last table, NULL before the first */
	bool running;
	/* Called after the reply changed the identity record (enrolled serial). */
	void (*identity_changed)(void *arg);
	void *arg;
	/* Scratch for the report being encoded. */
	Kma__V1__PeerObservation *obs;
	Kma__V1__PeerObservation **obs_ptrs;
	Kma__V1__CertInfo *certs;
	Kma__V1__TlsAlert *alerts;
	size_t n_obs;
};

/* Starts reporting with the identity in rec. Returns 0 or -1 (logged). */
int coordlink_start(struct coordlink *c, struct event_base *base, struct hal *hal,
                    const struct agent_config *cfg, const struct identity_view *view,
                    struct mesh *mesh, const Kma__V1__IdentityRecord *rec,
                    void (*identity_changed)(void *arg), void *arg)
    __attribute__((warn_unused_result));

/* Something changed: report now. */
void coordlink_kick(struct coordlink *c);

/* Gives the coordinator's last peer table to a (re)started mesh. */
void coordlink_apply_table(struct coordlink *c);

/* Safe on a link that never started. */
void coordlink_stop(struct coordlink *c);

#endif
