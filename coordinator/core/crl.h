#ifndef KMA_COORD_CRL_H
#define KMA_COORD_CRL_H

/*
 * An X.509 v2 certificate revocation list (RFC 5280, section 5) in DER, signed by a CA.
 * Mbed TLS parses and checks CRLs but has no writer: this one is built with its ASN.1 writer
 * and signed with mbedtls_pk_sign over the TBSCertList, as x509write_crt.c does for a
 * certificate. No I/O and no clock: the caller gives every time.
 *
 * What is written:
 *   version v2; signature SHA-256 with the key's algorithm (ECDSA, or RSA PKCS#1 v1.5);
 *   issuer = the CA certificate's subject, its DER as it stands in the certificate (so that
 *   verifiers match it to the CA byte for byte); thisUpdate; nextUpdate; one entry per
 *   revoked serial with its revocation date; extensions: cRLNumber and, when the CA
 *   certificate has a subjectKeyIdentifier, authorityKeyIdentifier with that key ID (RFC
 *   5280 asks for it; OpenSSL then matches the CRL to its CA by key ID as well).
 * Times are UTCTime before 2050 and GeneralizedTime from then on, as RFC 5280 says.
 */

#include "mbedcompat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* The longest serial an entry may have (RFC 5280 allows 20 bytes; certificates exist with
 * more): as many bytes as the store keeps (STORE_SERIAL_MAX). */
#define CRL_SERIAL_MAX_BYTES 64
/* RFC 5280: a CRL number is at most 20 bytes. */
#define CRL_NUMBER_MAX_BYTES 20

enum crl_status {
	CRL_OK = 0,
	CRL_ERR_SERIAL, /* an entry's serial is not hex or longer than CRL_SERIAL_MAX_BYTES */
	CRL_ERR_TIME,   /* a time before 1950 or after 9999 (no X.509 form) */
	CRL_ERR_NUMBER, /* the CRL number is longer than CRL_NUMBER_MAX_BYTES */
	CRL_ERR_KEY,    /* the key neither signs ECDSA nor RSA */
	CRL_ERR_SIGN,   /* hashing or signing failed */
	CRL_ERR_MEMORY,
};

/* One revoked certificate. */
struct crl_entry {
	const char *serial; /* hex (hexser.h: any case, colons or spaces allowed) */
	int64_t revoked_at; /* seconds since the epoch */
};

struct crl_params {
	int64_t this_update, next_update; /* seconds since the epoch */
	const unsigned char *number;      /* cRLNumber, big-endian, unsigned */
	size_t number_len;                /* 1 .. CRL_NUMBER_MAX_BYTES */
	const struct crl_entry *entries;
	size_t n_entries;
};

/*
 * Writes and signs the CRL of p, issued by issuer (the CA certificate) with key (its private
 * key; the caller checked that they belong together), drawing the signature's randomness from
 * drbg. A serial is written as the positive INTEGER it names, in its shortest DER form (the
 * form certificates carry), whatever leading zeros its hex has. Returns CRL_OK with *der (the
 * caller's to free()) and *len; otherwise nothing, and why names the problem (the entry, for
 * CRL_ERR_SERIAL and CRL_ERR_TIME).
 */
enum crl_status crl_write(const mbedtls_x509_crt *issuer, mbedtls_pk_context *key,
                          mbedtls_ctr_drbg_context *drbg, const struct crl_params *p,
                          unsigned char **der, size_t *len, char *why, size_t size)
    __attribute__((warn_unused_result));

/* Whether crl_write takes hex as an entry's serial (else CRL_ERR_SERIAL). */
bool crl_serial_ok(const char *hex);

/* A name for the status, for the log ("bad serial", ...). */
const char *crl_status_str(enum crl_status s);

#endif
