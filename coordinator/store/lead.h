#ifndef KMA_COORD_LEAD_H
#define KMA_COORD_LEAD_H

/*
 * Which kma-coord instance is active, decided in etcd (docs/ha.md): the active one holds
 * the leader key, created with a lease it keeps alive; the key's value is its advertised
 * URL. A standby tries to create the key whenever it is absent (the leader's lease
 * expired or was revoked). The key's create revision identifies one tenure: the store's
 * writes are fenced on it (store_replica.h).
 */

#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

struct lead {
	char key[256];
	int64_t lease;      /* this instance's, while it leads */
	int64_t create_rev; /* the leader key's, for this tenure */
	int64_t ttl_s;
};

/*
 * One attempt to lead as url, with a lease of ttl_s seconds. ETCD_OK: this instance
 * leads (*l is its tenure); ETCD_FAILED: another does, its URL in active (size bytes, ""
 * if it has none); ETCD_ERROR: etcd did not answer (logged).
 */
enum etcd_status lead_try(struct etcd *e, const char *key, const char *url, int64_t ttl_s,
                          struct lead *l, char *active, size_t size);

/* Renews the tenure's lease: ETCD_FAILED when it is gone (this instance no longer leads). */
enum etcd_status lead_renew(struct etcd *e, const struct lead *l);

/* Ends the tenure at once (its lease revoked, the key with it), so a standby takes over. */
void lead_resign(struct etcd *e, const struct lead *l);

#endif
