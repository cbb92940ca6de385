#ifndef KMA_AGENT_MESH_H
#define KMA_AGENT_MESH_H

/*
 * The peer mesh: listens for peers' probes (TLS server, client certificate required) and
 * probes every peer of the peer table (TLS client) on an interval with jitter, keeping
 * per peer the last outbound and inbound observation, consecutive failures, the time of
 * the last ok and the last certificate seen.
 *
 * The listener must never become the node that refuses connections: it accepts at once,
 * holds at most max_handshakes handshakes (max_per_source per address), and when full
 * drops the oldest connection that has sent nothing (or else the oldest), so a real
 * peer, which sends its hello at once and finishes in milliseconds, gets through; every
 * handshake has a deadline, which ends slow clients.
 *
 * Observations are written to <state_dir>/mesh.json whenever one changes (cause, certificate,
 * or a full handshake after resumed ones and back), not after every probe: its times and
 * counts are those of the last change.
 *
 * With [mesh] full_handshake_interval > 0, probes resume the TLS session of the last full
 * handshake with a peer (probe.h: struct probe_session) until it is that old; a peer whose
 * enrolled serial or address changes in the table, or that shows us another certificate or a
 * failure inbound, gets a full handshake next. The listener accepts tickets it issued since
 * this mesh started, for certificates that still pass the pinning (tlsctx.h).
 */

#include <event2/event.h>
#include <stdbool.h>

#include "config.h"
#include "hal.h"
#include "peers.h"
#include "probe_ev.h"
#include "tlsctx.h"

#define MESH_STATUS_FILE "mesh.json" /* in the state directory */
/* mesh.json is rewritten on every change, and at least this often while probes go on. */
#define MESH_REFRESH_S 60

struct mesh;

struct peer_state {
	struct peer_entry entry;
	struct probe_obs out, in;
	bool has_out, has_in;
	unsigned consecutive_failures;
	int64_t last_ok;    /* real time of the last ok outbound probe, 0 never */
	int64_t last_probe; /* real time of the last outbound probe */
	int64_t in_at;      /* real time of the last inbound observation */
	struct event *timer;
	struct probe_ev *inflight;
	struct probe_session session;      /* resumed by outbound probes */
	unsigned long full_ok, resumed_ok; /* ok outbound probes of each kind */
	bool reprobe;                      /* the table changed during the in-flight probe */
	struct mesh *mesh;
};

struct mesh {
	struct event_base *base;
	struct hal *hal;
	const struct agent_config *cfg;
	struct tlsctx tls;
	struct peer_state **peers; /* stable: in-flight probes point at their peer */
	size_t n_peers;
	int lfd;
	struct event *accept_ev;
	struct probe_ev *inbound; /* in-flight inbound handshakes */
	unsigned n_inbound;
	unsigned long accepted, evicted;
	char status_path[PATH_MAX];
	int64_t written_at; /* when mesh.json was last written (hal_time_real) */
	bool running;
	bool wedged; /* the listener is closed on the HAL's word (mesh_set_wedged) */
	/* Called when an observation changes (after mesh.json is written). */
	void (*on_change)(void *arg);
	void *on_change_arg;
	/* Last: room for PEERS_MAX entries of which table.n are used, and the rest never
	 * touched (mesh_start() clears everything before it), so never paged in. */
	struct peer_table table;
};

/*
 * Starts listening and probing with the identity in rec. Returns 0, or -1 with the reason
 * logged (the agent then runs without a mesh and says so).
 */
int mesh_start(struct mesh *m, struct event_base *base, struct hal *hal,
               const struct agent_config *cfg, const Kma__V1__IdentityRecord *rec)
    __attribute__((warn_unused_result));

/*
 * Replaces the peer table. A peer that stays keeps its observations; a new peer, or one
 * whose address or enrolled serial changed, is probed at once. Returns 0, -1 on memory
 * exhaustion (the old table then stays).
 */
int mesh_update_peers(struct mesh *m, const struct peer_table *t)
    __attribute__((warn_unused_result));

/*
 * The cluster CA's CRL the coordinator sent with the peer table (der, len; len 0: none), for
 * both directions of every probe from now on (tlsctx_set_crl: checked against our CA bundle,
 * taken between handshake steps, probes in flight go on). A CRL that is refused leaves the
 * mesh with none, logged with why: it came with the table, which it must not outlive, and
 * pinning still refuses every serial it would revoke. No-op on a mesh that is not running,
 * and when der is the CRL already in use.
 */
void mesh_set_crl(struct mesh *m, const unsigned char *der, size_t len);

/*
 * The HAL says the listener is wedged (the sim's fault for a full listen queue): closes the
 * listening socket, so peers get "connection refused", while probing goes on; false
 * listens again. Handshakes in progress are kept. No-op on a mesh that is not running.
 */
void mesh_set_wedged(struct mesh *m, bool wedged);

/* Stops everything; safe on a mesh that never started. */
void mesh_stop(struct mesh *m);

#endif
