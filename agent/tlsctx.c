#include "tlsctx.h"

#include <errno.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certinfo.h"
#include "crlcheck.h"
#include "fileio.h"
#include "rng.h"

#define PEM_MAX (256 * 1024)

/* The mesh's suites: ECDSA identities, forward secrecy, AEAD only (TLS 1.3's first). */
static const int mesh_suites[] = {
    KMA_TLS13_SUITES MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    0,
};

static void say(char *err, size_t size, const char *what, const char *where, int rc)
{
	char msg[160];

	certinfo_strerror(rc, msg, sizeof(msg));
	snprintf(err, size, "%s: %s: %s (-0x%04x)", where, what, msg, (unsigned)-rc);
}

void tlsctx_init(struct tlsctx *t)
{
	mbedtls_ctr_drbg_init(&t->drbg);
	mbedtls_x509_crt_init(&t->chain);
	mbedtls_pk_init(&t->key);
	mbedtls_x509_crt_init(&t->ca);
	t->crl = NULL;
	mbedtls_ssl_config_init(&t->client);
	mbedtls_ssl_config_init(&t->server);
#if KMA_HAVE_RESUMPTION
	mbedtls_ssl_ticket_init(&t->ticket);
#endif
	t->resumption = false;
	memset(t->ticket_mac_key, 0, sizeof(t->ticket_mac_key));
	t->resume_check = NULL;
	t->resume_peer = NULL;
	t->resume_arg = NULL;
}

void tlsctx_free(struct tlsctx *t)
{
#if KMA_HAVE_RESUMPTION
	mbedtls_ssl_ticket_free(&t->ticket);
#endif
	mbedtls_platform_zeroize(t->ticket_mac_key, sizeof(t->ticket_mac_key));
	mbedtls_ssl_config_free(&t->server);
	mbedtls_ssl_config_free(&t->client);
	if (t->crl)
		mbedtls_x509_crl_free(t->crl);
	free(t->crl);
	t->crl = NULL;
	mbedtls_x509_crt_free(&t->ca);
	mbedtls_pk_free(&t->key);
	mbedtls_x509_crt_free(&t->chain);
	mbedtls_ctr_drbg_free(&t->drbg);
}

static enum tlsctx_status seed(struct tlsctx *t, char *err, size_t size)
{
	static const unsigned char pers[] = "kma-agent tls";
	int rc = kma_psa_init();

	if (rc) {
		snprintf(err, size, "psa_crypto_init failed (%d)", rc);
		return TLSCTX_ERR_INTERNAL;
	}
	rc = mbedtls_ctr_drbg_seed(&t->drbg, rng_kernel, NULL, pers, sizeof(pers) - 1);
	if (rc) {
		say(err, size, "seeding the RNG", "ctr_drbg", rc);
		return TLSCTX_ERR_INTERNAL;
	}
	return TLSCTX_OK;
}

/* Reads a PEM file with the terminating NUL that mbedTLS counts. */
static enum tlsctx_status read_pem(const char *path, unsigned char **buf, size_t *len, char *err,
                                   size_t size)
{
	int e = fileio_read_input(path, PEM_MAX, buf, len);

	if (e) {
		snprintf(err, size, "%s: %s", path,
		         e == EFBIG ? "larger than 256 KiB" : fileio_strerror(e));
		return TLSCTX_ERR_INPUT;
	}
	*len += 1;
	return TLSCTX_OK;
}

enum tlsctx_status tlsctx_load_files(struct tlsctx *t, const char *key_path, const char *cert_path,
                                     const char *ca_path, const char *crl_path, char *err,
                                     size_t size)
{
	enum tlsctx_status ret = TLSCTX_ERR_INTERNAL;
	unsigned char *key = NULL, *cert = NULL, *ca = NULL, *crl = NULL;
	size_t key_len = 0, cert_len = 0, ca_len = 0, crl_len = 0;
	int rc;

	ret = seed(t, err, size);
	if (ret)
		goto exit;
	if ((ret = read_pem(key_path, &key, &key_len, err, size)) ||
	    (ret = read_pem(cert_path, &cert, &cert_len, err, size)) ||
	    (ret = read_pem(ca_path, &ca, &ca_len, err, size)) ||
	    (crl_path && (ret = read_pem(crl_path, &crl, &crl_len, err, size))))
		goto exit;
	ret = TLSCTX_ERR_DATA;
	if ((rc = kma_pk_parse_key(&t->key, key, key_len, &t->drbg))) {
		say(err, size, "private key", key_path, rc);
		goto exit;
	}
	if ((rc = mbedtls_x509_crt_parse(&t->chain, cert, cert_len))) {
		certinfo_pem_error(cert_path, cert, cert_len, rc, err, size);
		goto exit;
	}
	if ((rc = mbedtls_x509_crt_parse(&t->ca, ca, ca_len))) {
		certinfo_pem_error(ca_path, ca, ca_len, rc, err, size);
		goto exit;
	}
	if (crl_path) {
		ret = TLSCTX_ERR_INTERNAL;
		t->crl = malloc(sizeof(*t->crl));
		if (!t->crl) {
			snprintf(err, size, "%s: out of memory", crl_path);
			goto exit;
		}
		mbedtls_x509_crl_init(t->crl);
		ret = TLSCTX_ERR_DATA;
		if ((rc = mbedtls_x509_crl_parse(t->crl, crl, crl_len))) {
			say(err, size, "CRL", crl_path, rc);
			goto exit;
		}
	}
	ret = TLSCTX_OK;
exit:
	if (key) {
		mbedtls_platform_zeroize(key, key_len);
		free(key);
	}
	free(cert);
	free(ca);
	free(crl);
	return ret;
}

enum tlsctx_status tlsctx_load_record(struct tlsctx *t, const Kma__V1__IdentityRecord *rec,
                                      char *err, size_t size)
{
	enum tlsctx_status ret = seed(t, err, size);
	int rc;

	if (ret)
		return ret;
	if (rec->n_cert_chain_der == 0 || rec->n_ca_der == 0 || rec->key_der.len == 0) {
		snprintf(err, size, "identity record of %s lacks a key, certificate or CA",
		         rec->node_id);
		return TLSCTX_ERR_DATA;
	}
	rc = kma_pk_parse_key(&t->key, rec->key_der.data, rec->key_der.len, &t->drbg);
	if (rc) {
		say(err, size, "private key", "identity record", rc);
		return TLSCTX_ERR_DATA;
	}
	for (size_t i = 0; i < rec->n_cert_chain_der; i++) {
		rc = mbedtls_x509_crt_parse_der(&t->chain, rec->cert_chain_der[i].data,
		                                rec->cert_chain_der[i].len);
		if (rc) {
			say(err, size, "certificate", "identity record", rc);
			return TLSCTX_ERR_DATA;
		}
	}
	for (size_t i = 0; i < rec->n_ca_der; i++) {
		rc = mbedtls_x509_crt_parse_der(&t->ca, rec->ca_der[i].data, rec->ca_der[i].len);
		if (rc) {
			say(err, size, "CA", "identity record", rc);
			return TLSCTX_ERR_DATA;
		}
	}
	return TLSCTX_OK;
}

static enum tlsctx_status setup_conf(struct tlsctx *t, mbedtls_ssl_config *conf, int endpoint,
                                     char *err, size_t size)
{
	int rc = mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                     MBEDTLS_SSL_PRESET_DEFAULT);

	if (rc) {
		say(err, size, "TLS defaults", "ssl_config", rc);
		return TLSCTX_ERR_INTERNAL;
	}
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &t->drbg);
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(conf, &t->ca, t->crl);
	kma_ssl_conf_mesh_versions(conf);
	kma_ssl_conf_groups(conf);
	mbedtls_ssl_conf_ciphersuites(conf, mesh_suites);
	/* Nobody would resume the session a ticket holds: spare the peer making one. */
	if (endpoint == MBEDTLS_SSL_IS_CLIENT)
		kma_ssl_conf_client_tickets(conf, 0);
	rc = mbedtls_ssl_conf_own_cert(conf, &t->chain, &t->key);
	if (rc) {
		say(err, size, "own certificate", "ssl_config", rc);
		return TLSCTX_ERR_INTERNAL;
	}
	return TLSCTX_OK;
}

enum tlsctx_status tlsctx_setup(struct tlsctx *t, char *err, size_t size)
{
	enum tlsctx_status ret;

	if (kma_pk_check_pair(&t->chain.pk, &t->key, &t->drbg) != 0) {
		snprintf(err, size, "the private key does not belong to our certificate");
		return TLSCTX_ERR_DATA;
	}
	ret = setup_conf(t, &t->client, MBEDTLS_SSL_IS_CLIENT, err, size);
	if (ret == TLSCTX_OK)
		ret = setup_conf(t, &t->server, MBEDTLS_SSL_IS_SERVER, err, size);
	return ret;
}

enum tlsctx_status tlsctx_set_crl(struct tlsctx *t, const unsigned char *der, size_t len, char *err,
                                  size_t size)
{
	mbedtls_x509_crl *crl = NULL, *old = t->crl;

	if (len > 0) {
		crl = malloc(sizeof(*crl));
		if (!crl) {
			snprintf(err, size, "out of memory for a CRL of %zu bytes", len);
			return TLSCTX_ERR_INTERNAL;
		}
		mbedtls_x509_crl_init(crl);
		if (crlcheck_load(crl, der, len, &t->ca, err, size) != CRLCHECK_OK) {
			free(crl); /* left empty by crlcheck_load */
			return TLSCTX_ERR_DATA;
		}
	}
	t->crl = crl;
	mbedtls_ssl_conf_ca_chain(&t->client, &t->ca, crl);
	mbedtls_ssl_conf_ca_chain(&t->server, &t->ca, crl);
	if (old)
		mbedtls_x509_crl_free(old);
	free(old);
	return TLSCTX_OK;
}

#if KMA_HAVE_RESUMPTION
/*
 * Our ticket: mbedTLS's sealed session T, then the client's identity I, its length (2
 * bytes) and HMAC-SHA-256(key, T || I || length) cut to 16 bytes. The identity is the
 * client's own (nothing secret); the MAC keeps anyone from changing whom a ticket names.
 */
#define TICKET_MAC_LEN 16

static int ticket_mac(const struct tlsctx *t, const unsigned char *buf, size_t len,
                      unsigned char mac[TICKET_MAC_LEN])
{
	unsigned char full[32];
	int rc = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), t->ticket_mac_key,
	                         sizeof(t->ticket_mac_key), buf, len, full);

	memcpy(mac, full, TICKET_MAC_LEN);
	return rc;
}

static void put_i64(unsigned char *p, int64_t v)
{
	for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
		p[i] = (unsigned char)(v & 0xFF);
}

static int64_t get_i64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

/* The identity the session verified; after a resumed TLS 1.3 handshake, the probe's. */
static bool ticket_peer(struct tlsctx *t, const mbedtls_ssl_session *session,
                        struct tlsctx_peer *peer)
{
	const mbedtls_x509_crt *crt = kma_ssl_session_peer_cert(session);
	struct certinfo ci;

	if (crt) {
		certinfo_from_crt(crt, &ci);
		snprintf(peer->node_id, sizeof(peer->node_id), "%s", ci.node_id);
		snprintf(peer->serial, sizeof(peer->serial), "%s", ci.serial);
		peer->not_before = ci.not_before;
		peer->not_after = ci.not_after;
		return true;
	}
	return t->resume_peer && t->resume_peer(t->resume_arg, peer);
}

static int ticket_write(void *arg, const mbedtls_ssl_session *session, unsigned char *start,
                        const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
	struct tlsctx *t = arg;
	struct tlsctx_peer peer;
	size_t id_len = 0, serial_len = 0, ilen, len;
	unsigned char *p;
	int rc = mbedtls_ssl_ticket_write(&t->ticket, session, start, end, tlen, lifetime);

	if (rc)
		return rc;
	if (ticket_peer(t, session, &peer)) {
		id_len = strlen(peer.node_id);
		serial_len = strlen(peer.serial);
	}
	ilen = id_len ? 1 + id_len + 1 + serial_len + 16 : 0;
	len = *tlen + ilen + 2 + TICKET_MAC_LEN;
	if (id_len > 255 || serial_len > 255 || (size_t)(end - start) < len)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	p = start + *tlen;
	if (ilen) {
		*p++ = (unsigned char)id_len;
		memcpy(p, peer.node_id, id_len);
		p += id_len;
		*p++ = (unsigned char)serial_len;
		memcpy(p, peer.serial, serial_len);
		p += serial_len;
		put_i64(p, peer.not_before);
		put_i64(p + 8, peer.not_after);
		p += 16;
	}
	*p++ = (unsigned char)(ilen >> 8);
	*p++ = (unsigned char)ilen;
	rc = ticket_mac(t, start, (size_t)(p - start), p);
	if (rc)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	*tlen = len;
	return 0;
}

/* Reads our identity record off the end of a ticket; false when it is not ours intact. */
static bool ticket_split(const struct tlsctx *t, const unsigned char *buf, size_t len,
                         size_t *sealed_len, struct tlsctx_peer *peer)
{
	unsigned char mac[TICKET_MAC_LEN];
	const unsigned char *p;
	size_t ilen, n;

	if (len < 2 + TICKET_MAC_LEN)
		return false;
	len -= TICKET_MAC_LEN;
	if (ticket_mac(t, buf, len, mac) != 0 ||
	    mbedtls_ct_memcmp(mac, buf + len, TICKET_MAC_LEN) != 0)
		return false;
	ilen = (size_t)buf[len - 2] << 8 | buf[len - 1];
	if (ilen < 1 + 1 + 16 || ilen > len - 2)
		return false;
	*sealed_len = len - 2 - ilen;
	p = buf + *sealed_len;
	n = *p++;
	if (n == 0 || n >= sizeof(peer->node_id) || 1 + n + 1 + 16 > ilen)
		return false;
	memcpy(peer->node_id, p, n);
	peer->node_id[n] = '\0';
	p += n;
	n = *p++;
	if (n >= sizeof(peer->serial) || 1 + strlen(peer->node_id) + 1 + n + 16 != ilen)
		return false;
	memcpy(peer->serial, p, n);
	peer->serial[n] = '\0';
	p += n;
	peer->not_before = get_i64(p);
	peer->not_after = get_i64(p + 8);
	return true;
}

/*
 * The ticket as mbedtls_ssl_ticket_parse decrypts it (authentic, ours, not expired), the
 * identity beside it intact, then the probe's word on whether that peer is still the one
 * we expect.
 */
static int ticket_parse(void *arg, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
	struct tlsctx *t = arg;
	struct tlsctx_peer peer;
	size_t sealed;
	int rc;

	if (!ticket_split(t, buf, len, &sealed, &peer))
		return MBEDTLS_ERR_SSL_INVALID_MAC; /* mbedTLS then does a full handshake */
	rc = mbedtls_ssl_ticket_parse(&t->ticket, session, buf, sealed);
	if (rc)
		return rc;
	if (!t->resume_check || !t->resume_check(t->resume_arg, &peer))
		return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED; /* a full one */
	return 0;
}
#endif

enum tlsctx_status tlsctx_enable_resumption(struct tlsctx *t, uint32_t lifetime_s, char *err,
                                            size_t size)
{
#if KMA_HAVE_RESUMPTION
	int rc = lifetime_s == 0
	             ? MBEDTLS_ERR_SSL_BAD_INPUT_DATA
	             : mbedtls_ssl_ticket_setup(&t->ticket, mbedtls_ctr_drbg_random, &t->drbg,
	                                        MBEDTLS_CIPHER_AES_256_GCM, lifetime_s);

	if (rc) {
		say(err, size, "session ticket key", "ssl_ticket", rc);
		return TLSCTX_ERR_INTERNAL;
	}
	rc = mbedtls_ctr_drbg_random(&t->drbg, t->ticket_mac_key, sizeof(t->ticket_mac_key));
	if (rc) {
		say(err, size, "ticket MAC key", "ctr_drbg", rc);
		return TLSCTX_ERR_INTERNAL;
	}
	mbedtls_ssl_conf_session_tickets_cb(&t->server, ticket_write, ticket_parse, t);
	kma_ssl_conf_client_tickets(&t->client, 1);
	t->resumption = true;
	return TLSCTX_OK;
#else
	(void)t;
	(void)lifetime_s;
	snprintf(err, size,
	         "this mbedTLS (%s) lacks session tickets or does not keep the "
	         "peer certificate in a session",
	         MBEDTLS_VERSION_STRING);
	return TLSCTX_ERR_INTERNAL;
#endif
}
