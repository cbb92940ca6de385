#ifndef KMA_COORD_HA_H
#define KMA_COORD_HA_H

/*
 * High availability on etcd ([ha] store = etcd, docs/ha.md): an instance serves as a
 * standby until it leads, then rebuilds its SQLite file from etcd and writes its durable
 * changes through to etcd, fenced on its tenure, for as long as it keeps the lead. An
 * instance that loses the lead exits (KMA_EXIT_TEMPFAIL): its replica can no longer be
 * trusted, and systemd starts it again, as a standby.
 */

#include <signal.h>
#include <stdbool.h>

#include "coord_config.h"
#include "http.h"

struct coord_ha;

/*
 * Serves srv as a standby (http_standby: requests go to the active instance) until this
 * instance leads, then rebuilds cfg->db from etcd and turns the store's write-through on
 * (store_replica_start): store_open may be called from then on. From the moment it leads a
 * thread of its own keeps the lead alive; losing it exits the process. NULL when a signal
 * of set arrived first (*stopped) or on a failure (logged).
 */
struct coord_ha *coord_ha_take_over(const struct coord_config *cfg, struct http_server *srv,
                                    const sigset_t *set, bool *stopped);

/* Stops keeping the lead and gives it up at once (a standby takes over). NULL is fine. */
void coord_ha_end(struct coord_ha *ha);

#endif
