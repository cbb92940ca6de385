#ifndef KMA_AGENT_TLSCTX_H
#define KMA_AGENT_TLSCTX_H

/*
 * The node's TLS material and the mesh's TLS policy: our certificate chain and key, the
 * cluster CA (and its CRL, which may change while probes run: tlsctx_set_crl), an RNG, and
 * one client and one server configuration that every probe shares. Policy: TLS 1.2, ECDHE-ECDSA
 * with AES-GCM or ChaCha20-Poly1305, groups P-256, X25519, P-384; the peer must present a
 * certificate in both directions.
 *
 * Session resumption (tlsctx_enable_resumption) is off unless asked for. When on, the
 * server side issues session tickets (TLS 1.2: RFC 5077; TLS 1.3: PSK tickets, RFC 8446
 * 4.6.1) under a key drawn from our RNG when
 * resumption is enabled, so only sessions this process created can resume: a restarted or
 * re-keyed node (a new tlsctx) cannot resume with anyone, and every peer pays one full,
 * verified handshake with it. Tickets rather than a session cache keep the listener
 * stateless: nothing per client to bound or evict under a flood. The client side asks for
 * tickets; which session a probe offers is the probe's business (probe.h).
 */

#include "mbedcompat.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <stdbool.h>

#include "hexser.h"
#include "identity.pb-c.h"
#include "nodeid.h"

enum tlsctx_status {
	TLSCTX_OK = 0,
	TLSCTX_ERR_INPUT,    /* a file is missing or unreadable */
	TLSCTX_ERR_DATA,     /* a PEM/DER object does not parse, or key and certificate differ */
	TLSCTX_ERR_INTERNAL, /* RNG, memory, library configuration */
};

/*
 * The client a session ticket was issued to, as its full handshake verified it. Our tickets
 * carry it beside mbedTLS's sealed session, under an HMAC with a key of this process: a TLS
 * 1.3 ticket's session holds no certificate (3.6 serialises none), and the same record
 * serves TLS 1.2 so both versions resume by one rule.
 */
struct tlsctx_peer {
	char node_id[KMA_NODE_ID_SIZE];
	char serial[KMA_SERIAL_SIZE];
	int64_t not_before, not_after; /* the certificate's validity, seconds since the epoch */
};

struct tlsctx {
	mbedtls_ctr_drbg_context drbg; /* seeded by rng_kernel() */
	mbedtls_x509_crt chain;        /* ours, leaf first */
	mbedtls_pk_context key;
	mbedtls_x509_crt ca;
	mbedtls_x509_crl *crl; /* NULL: none */
	mbedtls_ssl_config client;
	mbedtls_ssl_config server;
	mbedtls_ssl_ticket_context ticket;
	unsigned char ticket_mac_key[32]; /* binds the client's identity to our tickets */
	bool resumption;
	/*
	 * Asked, in the middle of a server handshake, whether the client a ticket names may
	 * resume: false makes it a full handshake. mbedTLS's ticket callback has no
	 * per-connection argument, so whoever steps a server handshake sets these around the
	 * step (one thread, one handshake step at a time); when unset, no ticket is accepted.
	 * resume_peer: the identity to write into a ticket issued after a resumed TLS 1.3
	 * handshake (whose session holds no certificate), false when there is none.
	 */
	bool (*resume_check)(void *arg, const struct tlsctx_peer *peer);
	bool (*resume_peer)(void *arg, struct tlsctx_peer *peer);
	void *resume_arg;
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

/*
 * Replaces the CRL both configurations verify peers with by der (one DER CRL; len 0: none),
 * once it passes crlcheck_load against our CA bundle; a CRL that does not is refused
 * (TLSCTX_ERR_DATA, err says why) and the one before stays. TLSCTX_ERR_INTERNAL: no memory.
 *
 * Safe between the handshake steps of probes in flight, on the thread that steps them: the
 * configurations are neither rebuilt nor freed, only their CRL pointer moves, and Mbed TLS
 * reads it only inside the step that verifies a peer's chain (nothing here restarts a
 * verification across steps), so a handshake verified before the change used the old CRL
 * and one verified after uses the new. Expiry: probe.h.
 */
enum tlsctx_status tlsctx_set_crl(struct tlsctx *t, const unsigned char *der, size_t len, char *err,
                                  size_t size) __attribute__((warn_unused_result));

/*
 * Turns session resumption on for both configurations (after tlsctx_setup, lifetime_s >= 1):
 * a fresh random ticket key, rotated every lifetime_s seconds, and tickets that expire
 * lifetime_s after the full handshake that created them, so the server side forces a full
 * handshake at that interval whatever the client does. TLSCTX_ERR_INTERNAL when the library
 * lacks tickets (see KMA_HAVE_RESUMPTION) or the RNG fails; resumption then stays off and
 * every handshake is full.
 */
enum tlsctx_status tlsctx_enable_resumption(struct tlsctx *t, uint32_t lifetime_s, char *err,
                                            size_t size) __attribute__((warn_unused_result));

#endif
