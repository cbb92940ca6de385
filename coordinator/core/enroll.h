#ifndef KMA_COORD_ENROLL_H
#define KMA_COORD_ENROLL_H

/*
 * QuickStart enrolment (docs/protocol.md, "Enrolment (QuickStart)"): the coordinator as
 * the cluster CA. A node without a certificate sends an EnrollRequest with a one-time
 * token and a CSR; the coordinator checks both, issues a certificate for the CSR's key and
 * records its serial as the node's enrolled serial, atomically with using up the token.
 *
 * Tokens are 32 random bytes in lowercase hex; only their SHA-256 is stored (store.h).
 * Neither tokens nor keys ever reach a log line.
 *
 * An enroll_ca may be used from several threads: issuing and signing a CRL take its lock
 * (the key and its random generator are used by one at a time).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crl.h"
#include "store.h"

enum enroll_status {
	ENROLL_OK = 0,
	ENROLL_ERR_INPUT,         /* a file is missing or unreadable (load) */
	ENROLL_ERR_DATA,          /* PEM does not parse, key belongs to no CA certificate (load) */
	ENROLL_ERR_CSR_PARSE,     /* 400: the CSR does not parse */
	ENROLL_ERR_CSR_SIGNATURE, /* 400: its signature does not verify */
	ENROLL_ERR_CSR_HASH,      /* 400: it is signed with SHA-1 or another weak hash */
	ENROLL_ERR_CSR_NAME,      /* 422: its subject CN is not the node ID */
	ENROLL_ERR_CSR_KEY,       /* 422: its key is not ECDSA P-256 */
	ENROLL_ERR_INTERNAL,      /* RNG, memory, signing */
};

#define ENROLL_TOKEN_BYTES  32
#define ENROLL_TOKEN_HEX    (2 * ENROLL_TOKEN_BYTES + 1) /* the token as text, with the NUL */
#define ENROLL_SERIAL_BYTES 16

/* t as "YYYYMMDDhhmmss" in UTC, as mbedtls_x509write_crt_set_validity takes it; 0 or -1. */
int enroll_validity_time(int64_t t, char *buf, size_t size) __attribute__((warn_unused_result));

/*
 * A certificate serial: ENROLL_SERIAL_BYTES random bytes, top bit clear (a positive INTEGER
 * without a 00 pad), first byte not 0. 0, or -1 when the kernel gives no randomness (logged).
 */
int enroll_random_serial(unsigned char serial[ENROLL_SERIAL_BYTES])
    __attribute__((warn_unused_result));
#define ENROLL_CONTENT_TYPE "application/x-protobuf"

struct enroll_ca;

/* An issued certificate. */
struct enroll_cert {
	unsigned char *der; /* the leaf, the caller's to enroll_cert_free */
	size_t len;
	char serial[STORE_SERIAL_MAX]; /* uppercase hex, no separators, as agents print it */
};

/* The answer to POST /v1/enroll. */
struct enroll_outcome {
	int status;           /* HTTP status */
	char reason[192];     /* one line for the text/plain body when status is not 200 */
	unsigned char *reply; /* status 200: packed EnrollReply, the caller's to free() */
	size_t reply_len;
};

/*
 * Loads the cluster CA: every certificate of ca_path (PEM) and the private key of key_path
 * (PEM, unencrypted). The certificate the key belongs to (mbedtls_pk_check_pair) becomes
 * the issuer; every certificate of ca_path is sent to enrolled nodes as their CA (the
 * caller checks beforehand that key_path is private: keyguard.h). On failure returns
 * ENROLL_ERR_INPUT or ENROLL_ERR_DATA after logging which file and why (never key material). *out
 * is the caller's to enroll_ca_free.
 */
enum enroll_status enroll_ca_load(const char *ca_path, const char *key_path, struct enroll_ca **out)
    __attribute__((warn_unused_result));

/* Wipes the key and frees; NULL is fine. */
void enroll_ca_free(struct enroll_ca *ca);

/* The issuer's subject ("O=..., CN=..."), for the log. */
const char *enroll_ca_subject(const struct enroll_ca *ca);

/*
 * Whether the CA may sign CRLs: its certificate's keyUsage, when it has one, allows cRLSign.
 * Verifiers (Mbed TLS, OpenSSL) refuse a CRL of a CA that may not, and Mbed TLS then fails
 * every verification against that CA: such a CA keeps no CRL.
 */
bool enroll_ca_signs_crls(const struct enroll_ca *ca);

/*
 * Writes and signs a CRL (crl.h: crl_write) as the cluster CA: issuer = the CA's subject,
 * signed with its key. Returns ENROLL_OK with *der (free()) and *len, or ENROLL_ERR_DATA when
 * the CA may not sign CRLs or p is refused by crl_write, ENROLL_ERR_INTERNAL when signing fails
 * (both logged with why).
 */
enum enroll_status enroll_ca_sign_crl(struct enroll_ca *ca, const struct crl_params *p,
                                      unsigned char **der, size_t *len)
    __attribute__((warn_unused_result));

/*
 * Checks a CSR (DER), what costs nothing first: it parses (ENROLL_ERR_CSR_PARSE), its key
 * is ECDSA on P-256 (ENROLL_ERR_CSR_KEY), it is signed with SHA-256, SHA-384 or SHA-512
 * (ENROLL_ERR_CSR_HASH); then its signature verifies with its own key
 * (ENROLL_ERR_CSR_SIGNATURE) and its subject has exactly one CN, node_id
 * (ENROLL_ERR_CSR_NAME). No other key than P-256 is ever verified (an RSA key with a huge
 * public exponent costs 0.4 s of CPU). why gets one line naming the problem.
 */
enum enroll_status enroll_csr_check(const unsigned char *der, size_t len, const char *node_id,
                                    char *why, size_t size) __attribute__((warn_unused_result));

/* The first three checks of enroll_csr_check alone: no signature is verified. */
enum enroll_status enroll_csr_precheck(const unsigned char *der, size_t len, char *why, size_t size)
    __attribute__((warn_unused_result));

/*
 * Issues a certificate for the key of a CSR that passes enroll_csr_check (checked again
 * here): issuer = the CA's subject, subject O (copied from the CA's subject, when it has
 * one) and CN = node_id, a random 16-byte serial with the top bit clear and a non-zero
 * first byte, valid from now - 60 s for cert_days days, basicConstraints CA:FALSE,
 * keyUsage digitalSignature, extendedKeyUsage serverAuth and clientAuth, signed with
 * SHA-256. Fills out (enroll_cert_free it, also after a failure).
 */
enum enroll_status enroll_issue(struct enroll_ca *ca, const unsigned char *csr_der, size_t csr_len,
                                const char *node_id, unsigned cert_days, int64_t now,
                                struct enroll_cert *out) __attribute__((warn_unused_result));

/* Frees the certificate's DER; NULL is fine. */
void enroll_cert_free(struct enroll_cert *c);

/*
 * A new token: 32 bytes from getrandom as lowercase hex into token (ENROLL_TOKEN_HEX
 * bytes) and its SHA-256 (enroll_token_hash) into sha256 (STORE_TOKEN_HASH_MAX bytes).
 * Returns 0, or -1 when there is no randomness (logged).
 */
int enroll_token_new(char *token, char *sha256) __attribute__((warn_unused_result));

/* The lowercase hex SHA-256 of the token's text into sha256 (STORE_TOKEN_HASH_MAX bytes). */
void enroll_token_hash(const char *token, char *sha256);

/*
 * Handles a complete POST /v1/enroll body from client (an address, for the log), cheapest
 * check first so that a stranger cannot make the coordinator work: 503 when ca is NULL; 400
 * the body does not decode, the CSR does not parse or is signed with a weak hash, 422 its
 * key is not P-256 (enroll_csr_precheck); 403 unknown token / token for another node /
 * token used / token expired (at now); then 400 the signature does not verify, 422 the CN
 * is not the node ID; then issues, redeems the token and records the serial in one
 * transaction (store_token_redeem), and packs EnrollReply{ok, cert_chain_der = [leaf],
 * ca_der = the CA certificates, serial, cluster_id}. A used token is not refused when
 * the request is the retry of the enrolment that used it, by a node that never got the
 * answer: a CSR (whose signature verifies and whose CN is the node ID) for the key of the
 * certificate issued for that token, which is still the node's enrolled one, while the
 * token would still be valid: that certificate is sent again (store_token_issued), nothing
 * is issued. Fills out; the token is wiped from the decoded request.
 *
 * store_lock, when not NULL, is held around each use of st and only then: the signature is
 * verified and the certificate signed without it, so that reports and other requests are
 * not held up by an enrolment.
 */
void enroll_handle(struct enroll_ca *ca, struct store *st, pthread_mutex_t *store_lock,
                   unsigned cert_days, const char *cluster_id, const char *client,
                   const unsigned char *body, size_t len, int64_t now, struct enroll_outcome *out);

#endif
