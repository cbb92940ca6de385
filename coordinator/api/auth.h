#ifndef KMA_COORD_AUTH_H
#define KMA_COORD_AUTH_H

/*
 * Who is calling: the client certificate chain a TLS connection presented, verified with
 * Mbed TLS against the cluster CA (agents) and the operator CA (kmactl users). GnuTLS (in
 * libmicrohttpd) only requests the certificate; every decision is made here.
 *
 * The cluster CA's CRL (auth_set_crl) is honoured: a certificate on it is refused as revoked,
 * whichever CA it might chain to otherwise. The CRL changes at runtime: auth_check and
 * auth_set_crl may run in different threads at once.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certinfo.h"

enum auth_role {
	AUTH_NONE = 0, /* no certificate, or one that chains to neither CA */
	AUTH_AGENT,    /* chains to the cluster CA; name = node ID (CN) */
	AUTH_OPERATOR, /* chains to the operator CA; name = CN */
};

struct auth;

/* Longest chain auth_check takes (leaf and intermediates). */
#define AUTH_CHAIN_MAX 8

/* One DER certificate as the TLS library hands it over (leaf first in a chain). */
struct auth_der {
	const unsigned char *data;
	size_t len;
};

struct auth_result {
	enum auth_role role;
	/* CN; "" when role is NONE, but for a revoked certificate, which names its node */
	char name[sizeof(((struct certinfo *)0)->node_id)];
	char serial[sizeof(((struct certinfo *)0)->serial)];
	char why[320]; /* for NONE: why the chain was refused, for the log */
	bool revoked;  /* NONE because the cluster CA's CRL lists it */
};

/*
 * Loads both CA bundles (PEM, one or more certificates each). On failure returns NULL
 * after logging which file and why.
 */
struct auth *auth_new(const char *cluster_ca_path, const char *operator_ca_path)
    __attribute__((warn_unused_result));

/* NULL is fine. */
void auth_free(struct auth *a);

/*
 * Decides the role of a client that presented chain (n certificates, leaf first; n = 0
 * when it presented none). A chain of more than AUTH_CHAIN_MAX is refused before chain is
 * read, so chain may hold fewer entries than n then. The cluster CA is tried first, then its
 * CRL: a certificate that chains to it and is on the CRL is refused, why saying "revoked",
 * and not tried as an operator's. The CRL's age is not held against anyone (crlcheck.h).
 * Either role needs a non-empty CN and, when the certificate has one, an extended key usage
 * allowing clientAuth; a refusal explains the cluster CA's verify flags in why.
 */
void auth_check(const struct auth *a, const struct auth_der *chain, size_t n,
                struct auth_result *out);

/*
 * Replaces the cluster CA's CRL that auth_check honours with der (len bytes; len 0: none).
 * The CRL must pass crlcheck_load against the cluster CA bundle; otherwise it is refused
 * (logged) and the one before stays. Returns 0 when taken, -1 when refused.
 */
int auth_set_crl(struct auth *a, const unsigned char *der, size_t len)
    __attribute__((warn_unused_result));

/* auth_set_crl for a struct auth given as void * (revoke.h's revoke_honour_fn). */
int auth_honour_crl(void *a, const unsigned char *der, size_t len)
    __attribute__((warn_unused_result));

/*
 * Counts the CRLs auth_set_crl took: a verdict auth_check gave under an older count may be
 * out of date (a connection's cached verdict, say).
 */
uint64_t auth_crl_generation(const struct auth *a);

/*
 * The subjects of the cluster CA bundle's certificates (mbedtls_x509_dn_gets form, which
 * agents use for the issuers they report), up to max: how many.
 */
size_t auth_cluster_subjects(const struct auth *a, char (*out)[256], size_t max);

/* "agent", "operator" or "none". */
const char *auth_role_name(enum auth_role role);

#endif
