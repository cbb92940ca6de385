#ifndef KMA_AGENT_COORDLINK_H
#define KMA_AGENT_COORDLINK_H

/*
 * What the agent tells the coordinator and what it does with the answer: builds each
 * AgentReport from the identity view and the mesh's observations, and applies each
 * CoordinatorReply: the peer table and the cluster CA's CRL that comes with it go to the mesh
 * (only when the table's version changed; a table without a CRL clears it), the serial the
 * cluster enrolled for us goes into the identity record (so the state becomes enrolled or
 * not_enrolled).
 *
 * Both are kept in the state directory, so that an agent restarted while the coordinator
 * cannot be reached probes with them (and with the CRL's revocations) until it answers. The
 * CRL is kept as it came and checked again whenever the mesh loads it (mesh_set_crl).
 */

#include <event2/event.h>
#include <stdbool.h>

#include "config.h"
#include "directive.h"
#include "hal.h"
#include "health.h"
#include "identity.h"
#include "kmipcheck.h"
#include "listenwatch.h"
#include "mesh.h"
#include "nodeid.h"
#include "peers.h"
#include "reporter.h"

/* What the daemon knows beyond the identity view; read when a report is built. */
struct coordlink_status {
	Kma__V1__Phase phase;
	struct health_result health; /* not reported before the first check */
	/*
	 * The board's KMIP check (kmipcheck.h), when it declares one: the key service is
	 * healthy only when the last check succeeded as well (none yet: not healthy).
	 */
	bool kmip_declared;
	bool kmip_checked;
	struct kmipcheck_outcome kmip;
	struct listenwatch listen; /* the listen queues of the last hardware check */
	bool has_directive;
	struct directive_record directive; /* last_directive and fencing_token */
};

/* The daemon's parts the link reads, and its callbacks (all on the loop's thread). */
struct coordlink_deps {
	const struct identity_view *view; /* the daemon's latest */
	struct mesh *mesh;
	const struct coordlink_status *status;
	/* Called after the reply changed the identity record (enrolled serial). */
	void (*identity_changed)(void *arg);
	/*
	 * Called with the reply's directives (untrusted, maybe none), after the peer table
	 * and enrolled serial were applied. They are freed when it returns; it may stop and
	 * restart the link only by deferring that to another callback of the loop.
	 */
	void (*directives)(void *arg, Kma__V1__Directive *const *d, size_t n);
	void *arg;
};

/* The coordinator's last peer table, kept in the state directory (peers.h's format). */
#define COORDLINK_PEERS_FILE "coordinator-peers.conf"
/* The CRL that came with it (DER, mode 0644: a CRL is public); absent when none came. */
#define COORDLINK_CRL_FILE "coordinator-crl.der"

struct coordlink {
	struct reporter rep;
	struct hal *hal;
	const struct agent_config *cfg;
	struct coordlink_deps deps;
	/*
	 * Our node ID, from the identity the link was started with: a factory reset erases
	 * the record (the view then has none) but the link goes on reporting as this node.
	 */
	char node_id[KMA_NODE_ID_SIZE];
	uint64_t table_version;
	struct peer_table *table; /* the coordinator's last table, NULL before the first */
	unsigned char *crl;       /* the CRL that came with it (DER), NULL when none */
	size_t crl_len;
	bool running;
	/* Scratch for the report being encoded. */
	Kma__V1__PeerObservation *obs;
	Kma__V1__PeerObservation **obs_ptrs;
	Kma__V1__CertInfo *certs;
	Kma__V1__TlsAlert *alerts;
	size_t n_obs;
};

/*
 * Starts reporting with the identity in rec (its certificate and key are copied: the link
 * keeps using them when the record is erased). deps is copied. Returns 0 or -1 (logged).
 */
int coordlink_start(struct coordlink *c, struct event_base *base, struct hal *hal,
                    const struct agent_config *cfg, const struct coordlink_deps *deps,
                    const Kma__V1__IdentityRecord *rec) __attribute__((warn_unused_result));

/* Something changed: report now. */
void coordlink_kick(struct coordlink *c);

/* Gives the coordinator's last peer table and its CRL to a (re)started mesh. */
void coordlink_apply_table(struct coordlink *c);

/* Safe on a link that never started. */
void coordlink_stop(struct coordlink *c);

#endif
