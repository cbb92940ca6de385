#ifndef KMA_CRLCHECK_H
#define KMA_CRLCHECK_H

/*
 * Whether a CRL may be handed to Mbed TLS's verification (mbedtls_ssl_conf_ca_chain,
 * mbedtls_x509_crt_verify) beside a trust store, and the one verify flag policy every
 * verifier of ours applies to CRLs.
 *
 * Mbed TLS checks a CRL's signature during verification only when the CRL's issuer is the
 * subject of a CA it meets in the chain, and then a bad signature, a CA whose keyUsage lacks
 * cRLSign or a digest the profile refuses fails the verification of EVERY certificate of that
 * CA: a wrong CRL would stop the whole mesh, a CRL of another issuer is silently of no use.
 * So a CRL is checked when it is received, against the trust store, the way Mbed TLS will
 * check it (x509_crt_verifycrl), and refused when it would do either.
 */

#include "mbedcompat.h"

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

/*
 * The CRL's age is not held against a certificate: Mbed TLS flags a CRL whose nextUpdate has
 * passed (or whose thisUpdate is ahead of our clock) and verification then fails. Agents get a
 * new CRL with every new peer table, but only while the coordinator answers: if they enforced
 * nextUpdate, a coordinator down past it would make every peer reject every other, a
 * cluster-wide outage. A stale CRL still names what it revoked; pinning the enrolled serial
 * does the rest. Every verify callback that is given a CRL clears these flags.
 */
#define CRLCHECK_TIME_FLAGS (MBEDTLS_X509_BADCRL_EXPIRED | MBEDTLS_X509_BADCRL_FUTURE)

/* The largest DER CRL taken (STORE_REVOKED_MAX entries of 64-byte serials fit well). */
#define CRLCHECK_DER_MAX (256 * 1024)

enum crlcheck_status {
	CRLCHECK_OK = 0,
	CRLCHECK_PARSE,       /* not one DER CRL (or larger than CRLCHECK_DER_MAX) */
	CRLCHECK_NOT_V2,      /* a v1 CRL: Mbed TLS ignores those */
	CRLCHECK_ISSUER,      /* its issuer is the subject of no CA of the trust store */
	CRLCHECK_NO_CRL_SIGN, /* that CA's keyUsage does not allow cRLSign */
	CRLCHECK_DIGEST,      /* signed with a digest weaker than SHA-256 */
	CRLCHECK_SIGNATURE,   /* the signature does not verify with that CA's key */
};

/*
 * Checks crl against trust (a CA bundle): it is v2, its issuer is byte for byte the subject of
 * a certificate of trust (the first such), that CA's keyUsage (when present) allows cRLSign,
 * it is signed with SHA-256, -384 or -512 (what the default verification profile takes), and
 * its signature verifies with that CA's key. CRLCHECK_OK, or the first check that fails with
 * why (one line, the issuer named).
 */
enum crlcheck_status crlcheck_verify(const mbedtls_x509_crt *trust, const mbedtls_x509_crl *crl,
                                     char *why, size_t size) __attribute__((warn_unused_result));

/*
 * Parses der (one DER CRL, at most CRLCHECK_DER_MAX bytes) into crl (initialised by the
 * caller, empty) and checks it with crlcheck_verify. On anything but CRLCHECK_OK, crl is left
 * empty (freed and initialised again) and why says what failed.
 */
enum crlcheck_status crlcheck_load(mbedtls_x509_crl *crl, const unsigned char *der, size_t len,
                                   const mbedtls_x509_crt *trust, char *why, size_t size)
    __attribute__((warn_unused_result));

/* The number of entries (revoked serials) of a parsed CRL. */
size_t crlcheck_count(const mbedtls_x509_crl *crl);

#endif
