#ifndef KMA_MBEDCOMPAT_H
#define KMA_MBEDCOMPAT_H

/*
 * The one place where Mbed TLS 2.28 (Debian 12, Buildroot) and 3.x (Yocto) differ in the
 * calls this project makes. Everything else is written against the common subset.
 */

/* Include this header before any other Mbed TLS header (see MBEDTLS_ALLOW_PRIVATE_ACCESS). */
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
/* The received alert's description has no getter before 3.6.x: read the record buffer. */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#endif

#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

/* The version of the library loaded at run time ("3.6.6"), whatever the headers said. */
static inline const char *kma_mbedtls_version(void)
{
#if defined(MBEDTLS_VERSION_C)
	static char v[18];

	mbedtls_version_get_string(v);
	return v;
#else
	return MBEDTLS_VERSION_STRING " (headers)";
#endif
}

/*
 * PSA Crypto, which 3.x's TLS 1.3 (and any build with MBEDTLS_USE_PSA_CRYPTO) draws its
 * keys and hashes from, must be initialised before the first handshake; a libcurl on the
 * same Mbed TLS shares it. Idempotent; nothing to do on 2.28. Returns 0 or a PSA status.
 */
#if defined(MBEDTLS_PSA_CRYPTO_C) && MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
static inline int kma_psa_init(void)
{
	return (int)psa_crypto_init();
}
#else
static inline int kma_psa_init(void)
{
	return 0;
}
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define KMA_MBEDTLS3 1
#else
#define KMA_MBEDTLS3 0
#endif

/*
 * A structure member that 3.x marks private (MBEDTLS_PRIVATE) and 2.28 leaves public, e.g.
 * the signature fields of mbedtls_x509_csr or the group of an mbedtls_ecp_keypair.
 */
#if KMA_MBEDTLS3
#define KMA_PRIV(member) MBEDTLS_PRIVATE(member)
#else
#define KMA_PRIV(member) member
#endif

/* SHA-256 in one call: 2.28 deprecates mbedtls_sha256() for mbedtls_sha256_ret(), 3.x
 * removed the _ret names and mbedtls_sha256() returns int. */
static inline int kma_sha256(const void *data, size_t len, unsigned char out[32])
{
#if KMA_MBEDTLS3
	return mbedtls_sha256(data, len, out, 0);
#else
	return mbedtls_sha256_ret(data, len, out, 0);
#endif
}

/* mbedtls_pk_parse_key; 3.x wants an RNG for blinding. */
static inline int kma_pk_parse_key(mbedtls_pk_context *pk, const unsigned char *key, size_t len,
                                   mbedtls_ctr_drbg_context *drbg)
{
#if KMA_MBEDTLS3
	return mbedtls_pk_parse_key(pk, key, len, NULL, 0, mbedtls_ctr_drbg_random, drbg);
#else
	(void)drbg;
	return mbedtls_pk_parse_key(pk, key, len, NULL, 0);
#endif
}

/* mbedtls_pk_check_pair; 3.x wants an RNG. */
static inline int kma_pk_check_pair(const mbedtls_pk_context *pub, const mbedtls_pk_context *prv,
                                    mbedtls_ctr_drbg_context *drbg)
{
#if KMA_MBEDTLS3
	return mbedtls_pk_check_pair(pub, prv, mbedtls_ctr_drbg_random, drbg);
#else
	(void)drbg;
	return mbedtls_pk_check_pair(pub, prv);
#endif
}

/*
 * Error codes renamed in 3.x: the classifier uses these names only.
 */
#if defined(MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
#define KMA_ERR_SSL_BAD_VERSION MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION
#else
#define KMA_ERR_SSL_BAD_VERSION MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION
#endif
#if defined(MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN)
#define KMA_ERR_SSL_NO_COMMON_SUITE MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN
#else
#define KMA_ERR_SSL_NO_COMMON_SUITE MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE
#endif
/* 3.0 removed NO_USABLE_CIPHERSUITE; the migration guide maps it to HANDSHAKE_FAILURE. */
#if defined(MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE)
#define KMA_ERR_SSL_NO_USABLE_SUITE MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE
#else
#define KMA_ERR_SSL_NO_USABLE_SUITE MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE
#endif
#if defined(MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
#define KMA_ERR_SSL_NO_CLIENT_CERT MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE
#else
#define KMA_ERR_SSL_NO_CLIENT_CERT MBEDTLS_ERR_SSL_BAD_CERTIFICATE
#endif

/* Restricts a configuration to TLS 1.2 (the mesh's policy on both library lines). */
static inline void kma_ssl_conf_tls12_only(mbedtls_ssl_config *conf)
{
#if KMA_MBEDTLS3
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	                             MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	                             MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

/*
 * Whether this library can offer TLS 1.3 to the mesh: 3.x built with it (3.6's default
 * configuration is) and with the key exchanges the mesh uses (ephemeral ECDHE, and PSK
 * with ECDHE for resumption). 2.28's TLS 1.3 is an incomplete prototype: never.
 */
#if KMA_MBEDTLS3 && defined(MBEDTLS_SSL_PROTO_TLS1_3) &&                                           \
    defined(MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED)
#define KMA_HAVE_TLS13 1
#define KMA_TLS13_SUITES                                                                           \
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,                \
	    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
#else
#define KMA_HAVE_TLS13 0
#define KMA_TLS13_SUITES
#endif

/*
 * The mesh's versions: TLS 1.2, and TLS 1.3 where the library has it (so two 3.6 agents
 * speak 1.3, and either speaks 1.2 with a 2.28 agent).
 */
static inline void kma_ssl_conf_mesh_versions(mbedtls_ssl_config *conf)
{
	kma_ssl_conf_tls12_only(conf);
#if KMA_HAVE_TLS13
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_3);
#endif
}

/* What mbedtls_ssl_read returns for a TLS 1.3 session ticket (never, without 1.3). */
#if KMA_HAVE_TLS13 && defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
#define KMA_ERR_SSL_RECEIVED_TICKET MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
#else
#define KMA_ERR_SSL_RECEIVED_TICKET 1 /* no error code is positive */
#endif

/* Whether a finished handshake negotiated TLS 1.3. */
static inline int kma_ssl_is_tls13(const mbedtls_ssl_context *ssl)
{
#if KMA_HAVE_TLS13
	return mbedtls_ssl_get_version_number(ssl) == MBEDTLS_SSL_VERSION_TLS1_3;
#else
	(void)ssl;
	return 0;
#endif
}

/*
 * The fatal alert our side sent, when the record sniffer could not read it (TLS 1.3
 * encrypts every alert after the ServerHello); -1 when none or unknown. 3.x keeps the last
 * alert it queued; 2.28 never needs this (it sends alerts in plaintext during handshakes).
 */
static inline int kma_ssl_sent_alert(const mbedtls_ssl_context *ssl)
{
#if KMA_MBEDTLS3
	return ssl->MBEDTLS_PRIVATE(alert_type) ? ssl->MBEDTLS_PRIVATE(alert_type) : -1;
#else
	(void)ssl;
	return -1;
#endif
}

/*
 * Whether a configuration lets a handshake use the TLS version whose wire value is version
 * (0x0301 TLS 1.0 ... 0x0304 TLS 1.3): inside its minimum and maximum, and built into the
 * library (3.x has no TLS 1.0/1.1; 2.28 has no usable TLS 1.3). What "we speak" means when
 * a peer's versions are compared with ours.
 */
static inline int kma_ssl_conf_speaks(const mbedtls_ssl_config *conf, unsigned version)
{
	unsigned minor = version & 0xFFu;
	int built = 0;
#if KMA_MBEDTLS3
	unsigned lo = (unsigned)conf->MBEDTLS_PRIVATE(min_tls_version) & 0xFFu;
	unsigned hi = (unsigned)conf->MBEDTLS_PRIVATE(max_tls_version) & 0xFFu;
#else
	unsigned lo = conf->min_minor_ver, hi = conf->max_minor_ver;
#endif

#if defined(MBEDTLS_SSL_PROTO_TLS1)
	built |= minor == 1;
#endif
#if defined(MBEDTLS_SSL_PROTO_TLS1_1)
	built |= minor == 2;
#endif
#if defined(MBEDTLS_SSL_PROTO_TLS1_2)
	built |= minor == 3;
#endif
#if KMA_MBEDTLS3 && defined(MBEDTLS_SSL_PROTO_TLS1_3)
	built |= minor == 4;
#endif
	return version >> 8 == 3 && built && minor >= lo && minor <= hi;
}

/*
 * Key-exchange groups in preference order. 2.28 offers P-521 first by default, which costs
 * far more than P-256 or X25519 per handshake.
 */
static inline void kma_ssl_conf_groups(mbedtls_ssl_config *conf)
{
#if KMA_MBEDTLS3
	static const uint16_t groups[] = {
	    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1, MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1, MBEDTLS_SSL_IANA_TLS_GROUP_NONE};

	mbedtls_ssl_conf_groups(conf, groups);
#else
	static const mbedtls_ecp_group_id curves[] = {
	    MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP384R1,
	    MBEDTLS_ECP_DP_NONE};

	mbedtls_ssl_conf_curves(conf, curves);
#endif
}

/*
 * The description of the fatal alert the peer sent, valid right after a handshake step
 * returned MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: the last record read is that alert.
 */
static inline int kma_ssl_received_alert(const mbedtls_ssl_context *ssl)
{
#if KMA_MBEDTLS3
	return ssl->MBEDTLS_PRIVATE(in_msg) ? ssl->MBEDTLS_PRIVATE(in_msg)[1] : -1;
#else
	return ssl->in_msg ? ssl->in_msg[1] : -1;
#endif
}

/*
 * TLS session resumption as the mesh uses it (TLS 1.2 session tickets, the peer's
 * certificate kept in the session so a resumed session still names who was verified): both
 * lines offer it in their default configuration, a trimmed one may not. Without it every
 * probe is a full handshake.
 */
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_TICKET_C) &&                       \
    defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE) && defined(MBEDTLS_HAVE_TIME)
#define KMA_HAVE_RESUMPTION 1
#else
#define KMA_HAVE_RESUMPTION 0
#endif

/* Whether a client configuration asks for and offers session tickets. */
static inline void kma_ssl_conf_client_tickets(mbedtls_ssl_config *conf, int on)
{
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
	mbedtls_ssl_conf_session_tickets(conf, on ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
	                                          : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
#if KMA_HAVE_TLS13 && MBEDTLS_VERSION_NUMBER >= 0x03060100
	/* From 3.6.1 a TLS 1.3 client drops the server's tickets unless asked to hand them
	 * over (mbedtls_ssl_read returns RECEIVED_NEW_SESSION_TICKET): the probe waits for one
	 * as the server's word that it accepted our certificate. */
	mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
	    conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
#endif
#else
	(void)conf;
	(void)on;
#endif
}

/*
 * The peer certificate a session holds (the one verified at its full handshake), NULL when
 * the library does not keep it. 3.x made the member private; there is no getter on a
 * session in either line (mbedtls_ssl_get_peer_cert takes a connection).
 */
static inline const mbedtls_x509_crt *kma_ssl_session_peer_cert(const mbedtls_ssl_session *s)
{
#if defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE) && KMA_MBEDTLS3
	return s->MBEDTLS_PRIVATE(peer_cert);
#elif defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
	return s->peer_cert;
#else
	(void)s;
	return NULL;
#endif
}

/* mbedtls_pk_sign; 3.x also wants the signature buffer's size. */
static inline int kma_pk_sign(mbedtls_pk_context *pk, mbedtls_md_type_t md,
                              const unsigned char *hash, size_t hash_len, unsigned char *sig,
                              size_t sig_size, size_t *sig_len, mbedtls_ctr_drbg_context *drbg)
{
#if KMA_MBEDTLS3
	return mbedtls_pk_sign(pk, md, hash, hash_len, sig, sig_size, sig_len,
	                       mbedtls_ctr_drbg_random, drbg);
#else
	(void)sig_size;
	return mbedtls_pk_sign(pk, md, hash, hash_len, sig, sig_len, mbedtls_ctr_drbg_random, drbg);
#endif
}

/*
 * The serial of a certificate being written, as big-endian bytes (a positive number: the
 * caller clears the top bit). 3.4 added set_serial_raw and deprecated the mpi variant.
 */
static inline int kma_x509write_crt_set_serial(mbedtls_x509write_cert *ctx,
                                               const unsigned char *serial, size_t len)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03040000
	return mbedtls_x509write_crt_set_serial_raw(ctx, (unsigned char *)serial, len);
#else
	mbedtls_mpi n;
	int ret;

	mbedtls_mpi_init(&n);
	ret = mbedtls_mpi_read_binary(&n, serial, len);
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_serial(ctx, &n);
	mbedtls_mpi_free(&n);
	return ret;
#endif
}

#endif
