#ifndef KMA_COORD_REVOKE_H
#define KMA_COORD_REVOKE_H

/*
 * Revocation as the cluster CA does it: the CRL of the serials the enrolment no longer holds
 * (store_revoked), signed by the CA (enroll_ca_sign_crl), kept in memory, honoured by the
 * coordinator itself (the honour callback: auth_set_crl in the HTTP layer) and handed out with
 * every peer table (report.c).
 *
 * The CRL is derived from the store, never kept apart from it: it is built again when the
 * enrolment changed, that is when the peer table version is not the one it was built for
 * (every change of nodes or serials bumps it), and when half of its lifetime has passed, so
 * that a CRL handed out is never near its nextUpdate. thisUpdate is the time it was built;
 * its cRLNumber is the peer table version, then thisUpdate (8 bytes each, big-endian), which
 * grows with every CRL of one database.
 *
 * A struct revoke may be used from several threads at once, each with its own store handle.
 */

#include <stddef.h>
#include <stdint.h>

#include "enroll.h"
#include "store.h"

/* A CRL's lifetime: nextUpdate - thisUpdate. Long, since its age is never held against a
 * certificate (crlcheck.h); it is rebuilt when half of it has passed. */
#define REVOKE_CRL_LIFETIME_S (90 * 86400)

struct revoke;

/*
 * Whoever enforces the CRL on connections: given every CRL kept (DER), returns 0, or -1 when
 * it refuses it (the CRL is then not kept).
 */
typedef int revoke_honour_fn(void *arg, const unsigned char *der, size_t len);

/*
 * Keeps the CRL of ca (which must outlive it, and may sign CRLs: enroll_ca_signs_crls) and
 * gives every CRL it builds to honour(arg) (arg must outlive it too). NULL when out of memory
 * (logged).
 */
struct revoke *revoke_new(struct enroll_ca *ca, revoke_honour_fn *honour, void *arg)
    __attribute__((warn_unused_result));

/* NULL is fine. */
void revoke_free(struct revoke *r);

/*
 * The CRL for the enrolment at peer table version (read by the caller through st, in the
 * transaction it reads the rest of its answer in, so that both agree): the one kept when it was
 * built for version and less than half of REVOKE_CRL_LIFETIME_S ago at now; else one built now
 * from store_revoked through st. A CRL built for a version newer than the one kept, or for the
 * same one, is kept instead and given to honour; honour refusing it fails this call.
 * Returns 0 with a copy in *der (free()) and *len, or -1 (logged): no CRL then; after a
 * failure, calls for the same version fail at once, unlogged, for 30 s before it is tried
 * again.
 */
int revoke_crl(struct revoke *r, struct store *st, uint64_t version, int64_t now,
               unsigned char **der, size_t *len) __attribute__((warn_unused_result));

/*
 * Brings the kept CRL (and honour's) up to date with the store as st sees it now: at start, so
 * that the first connection is judged with it, and a few times a second, so that honour knows of
 * a change before any agent reports. Returns 0 or -1 (logged).
 */
int revoke_refresh(struct revoke *r, struct store *st, int64_t now)
    __attribute__((warn_unused_result));

/* The serials the kept CRL revokes (0 before the first), for the log and tests. */
size_t revoke_count(struct revoke *r);

#endif
