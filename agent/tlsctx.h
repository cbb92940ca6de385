#ifndef KMA_AGENT_TLSCTX_H
#define KMA_AGENT_TLSCTX_H

/*
 * The node's TLS material and the mesh's TLS policy: our certificate chain and key, the
 * cluster CA (and CRL), an RNG, and one client and one server configuration that every
 * probe shares. Policy: TLS 1.2, ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305, groups
 * P-256, X25519, P-384; the peer must present a certificate in both directions.
 */

#include "mbedcompat.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <stdbool.h>

#include "identity.pb-c.h"

enum tlsctx_status {
	TLSCTX_OK = 0,
	TLSCTX_ERR_INPUT,    /* a file is missing or unreadable */
	TLSCTX_ERR_DATA,     /* a PEM/DER object does not parse, or key and certificate differ */
	TLSCTX_ERR_INTERNAL, /* RNG, memory, library configuration */
};

struct tlsctx {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt chain; /* ours, leaf first */
	mbedtls_pk_context key;
	mbedtls_x509_crt ca;
	mbedtls_x509_crl crl;
	bool has_crl;
	mbedtls_ssl_config client;
	mbedtls_ssl_config server;
};

/* Cannot fail; tlsctx_free is then always safe. */
void tlsctx_init(struct tlsctx *t);
void tlsctx_free(struct tlsctx *t);

/* Loads PEM files (crl_path may be NULL); err names the file and the reason. */
enum tlsctx_status tlsctx_load_files(struct tlsctx *t, const char *key_path, const char *cert_path,
                                     const char *ca_path, const char *crl_path, char *err,
                                     size_t size) __attribute__((warn_unused_result));

/* Loads the DER objects of an identity record. */
enum tlsctx_status tlsctx_load_record(struct tlsctx *t, const Kma__V1__IdentityRecord *rec,
                                      char *err, size_t size) __attribute__((warn_unused_result));

/* Checks that key and certificate belong together and builds both configurations. */
enum tlsctx_status tlsctx_setup(struct tlsctx *t, char *err, size_t size)
    __attribute__((warn_unused_result));

#endif
