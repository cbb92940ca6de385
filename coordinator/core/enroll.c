#include "mbedcompat.h"

#include "enroll.h"

#include <errno.h>
#include <mbedtls/asn1.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "certinfo.h"
#include "fileio.h"
#include "hexser.h"
#include "kma.pb-c.h"
#include "log.h"
#include "nodeid.h"

/* PEM files are a few KiB; anything this large is not one. */
#define PEM_MAX (1024 * 1024)
/* An issued leaf is well under 1 KiB (P-256 key, two names, four extensions). */
#define CERT_MAX 4096
/* Issued certificates are valid from a minute ago, for nodes whose clock lags a little. */
#define BACKDATE_S 60

/* extendedKeyUsage: SEQUENCE { id-kp-serverAuth, id-kp-clientAuth }. 2.28 has no setter. */
static const unsigned char eku_der[] = {
    0x30, 0x14, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03,
    0x01, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02,
};

struct enroll_ca {
	mbedtls_x509_crt certs;         /* every certificate of the ca file */
	const mbedtls_x509_crt *issuer; /* the one the key belongs to, within certs */
	/* Held while key and drbg are used: neither is safe to share between threads. */
	pthread_mutex_t lock;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	char subject[256];
};

/* The hashes a CSR's signature may use: SHA-1 and MD5 are refused (collisions). */
static bool strong_hash(mbedtls_md_type_t md)
{
	return md == MBEDTLS_MD_SHA256 || md == MBEDTLS_MD_SHA384 || md == MBEDTLS_MD_SHA512;
}

/*
 * The checks that cost next to nothing, made before any signature is verified or any token
 * looked up: the CSR parses, its key is the cluster's kind (ECDSA P-256: an RSA key with a
 * huge public exponent costs 0.4 s to verify), and it is signed with SHA-256 or stronger.
 */
static enum enroll_status csr_parse(mbedtls_x509_csr *csr, const unsigned char *der, size_t len,
                                    char *why, size_t size)
{
	const mbedtls_md_info_t *md;

	if (len == 0 || mbedtls_x509_csr_parse_der(csr, der, len) != 0) {
		snprintf(why, size, "the CSR does not parse");
		return ENROLL_ERR_CSR_PARSE;
	}
	if (mbedtls_pk_get_type(&csr->pk) != MBEDTLS_PK_ECKEY ||
	    mbedtls_pk_ec(csr->pk)->KMA_PRIV(grp).id != MBEDTLS_ECP_DP_SECP256R1) {
		snprintf(why, size, "the CSR's key is not ECDSA P-256");
		return ENROLL_ERR_CSR_KEY;
	}
	if (!strong_hash(KMA_PRIV(csr->sig_md))) {
		md = mbedtls_md_info_from_type(KMA_PRIV(csr->sig_md));
		snprintf(why, size, "the CSR is signed with %s; SHA-256 or stronger is required",
		         md ? mbedtls_md_get_name(md) : "an unknown hash");
		return ENROLL_ERR_CSR_HASH;
	}
	return ENROLL_OK;
}

/* The rest, on a CSR csr_parse took: its signature verifies, its CN is node_id. */
static enum enroll_status csr_verify(mbedtls_x509_csr *csr, const char *node_id, char *why,
                                     size_t size)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(KMA_PRIV(csr->sig_md));
	const mbedtls_x509_name *n;
	int cns = 0;
	bool cn_ok = false;

	/* 2.28 parses without checking the signature; this is x509_csr.c's own check. */
	if (!md || mbedtls_md(md, csr->cri.p, csr->cri.len, hash) != 0 ||
	    mbedtls_pk_verify_ext(KMA_PRIV(csr->sig_pk), KMA_PRIV(csr->sig_opts), &csr->pk,
	                          KMA_PRIV(csr->sig_md), hash, mbedtls_md_get_size(md),
	                          KMA_PRIV(csr->sig).p, KMA_PRIV(csr->sig).len) != 0) {
		snprintf(why, size, "the CSR's signature does not verify");
		return ENROLL_ERR_CSR_SIGNATURE;
	}
	for (n = &csr->subject; n; n = n->next) {
		if (!n->oid.p || MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0)
			continue;
		cns++;
		cn_ok = n->val.len == strlen(node_id) && memcmp(n->val.p, node_id, n->val.len) == 0;
	}
	if (cns != 1 || !cn_ok) {
		snprintf(why, size, "the CSR's subject CN is not the node ID");
		return ENROLL_ERR_CSR_NAME;
	}
	return ENROLL_OK;
}

enum enroll_status enroll_csr_precheck(const unsigned char *der, size_t len, char *why, size_t size)
{
	mbedtls_x509_csr csr;
	enum enroll_status ret;

	mbedtls_x509_csr_init(&csr);
	ret = csr_parse(&csr, der, len, why, size);
	mbedtls_x509_csr_free(&csr);
	return ret;
}

enum enroll_status enroll_csr_check(const unsigned char *der, size_t len, const char *node_id,
                                    char *why, size_t size)
{
	mbedtls_x509_csr csr;
	enum enroll_status ret;

	mbedtls_x509_csr_init(&csr);
	ret = csr_parse(&csr, der, len, why, size);
	if (ret == ENROLL_OK)
		ret = csr_verify(&csr, node_id, why, size);
	mbedtls_x509_csr_free(&csr);
	return ret;
}

/* Reads the key file (kma-coord checked that it is private: keyguard.h). */
static enum enroll_status read_key(const char *path, unsigned char **buf, size_t *len)
{
	int err = fileio_read_input(path, PEM_MAX, buf, len);

	if (err) {
		log_errno(LOG_LVL_ERR, err, "ca_key %s: cannot read", path);
		return ENROLL_ERR_INPUT;
	}
	return ENROLL_OK;
}

enum enroll_status enroll_ca_load(const char *ca_path, const char *key_path, struct enroll_ca **out)
{
	enum enroll_status ret = ENROLL_ERR_DATA;
	struct enroll_ca *ca = NULL;
	unsigned char *pem = NULL, *key = NULL;
	size_t pem_len = 0, key_len = 0;
	char msg[128];
	int rc, err;

	*out = NULL;
	ca = calloc(1, sizeof(*ca));
	if (!ca) {
		log_err("enrolment CA: out of memory");
		return ENROLL_ERR_INTERNAL;
	}
	pthread_mutex_init(&ca->lock, NULL);
	mbedtls_x509_crt_init(&ca->certs);
	mbedtls_pk_init(&ca->key);
	mbedtls_entropy_init(&ca->entropy);
	mbedtls_ctr_drbg_init(&ca->drbg);
	if (mbedtls_ctr_drbg_seed(&ca->drbg, mbedtls_entropy_func, &ca->entropy,
	                          (const unsigned char *)"kma-coord-ca", 12) != 0) {
		log_err("enrolment CA: cannot seed the random generator");
		ret = ENROLL_ERR_INTERNAL;
		goto exit;
	}
	err = fileio_read_input(ca_path, PEM_MAX, &pem, &pem_len);
	if (err) {
		log_errno(LOG_LVL_ERR, err, "ca %s: cannot read", ca_path);
		ret = ENROLL_ERR_INPUT;
		goto exit;
	}
	rc = mbedtls_x509_crt_parse(&ca->certs, pem, pem_len + 1);
	if (rc != 0) {
		char where[PATH_MAX + 256];

		certinfo_pem_error(ca_path, pem, pem_len, rc, where, sizeof(where));
		log_err("ca %s", where);
		goto exit;
	}
	ret = read_key(key_path, &key, &key_len);
	if (ret != ENROLL_OK)
		goto exit;
	ret = ENROLL_ERR_DATA;
	rc = kma_pk_parse_key(&ca->key, key, key_len + 1, &ca->drbg);
	if (rc != 0) {
		/* The error names the format problem only, never key material. */
		certinfo_strerror(rc, msg, sizeof(msg));
		log_err("ca_key %s: %s", key_path, msg);
		goto exit;
	}
	for (const mbedtls_x509_crt *c = &ca->certs; c && c->raw.p; c = c->next) {
		if (kma_pk_check_pair(&c->pk, &ca->key, &ca->drbg) == 0) {
			ca->issuer = c;
			break;
		}
	}
	if (!ca->issuer) {
		log_err("ca_key %s does not belong to any certificate of ca %s", key_path, ca_path);
		goto exit;
	}
	for (const mbedtls_x509_name *n = &ca->issuer->subject; n; n = n->next) {
		if (n->next_merged) {
			log_err("ca %s: a multi-valued name in the CA's subject is not supported",
			        ca_path);
			goto exit;
		}
	}
	if (mbedtls_x509_dn_gets(ca->subject, sizeof(ca->subject), &ca->issuer->subject) < 0)
		snprintf(ca->subject, sizeof(ca->subject), "(unprintable)");
	*out = ca;
	ca = NULL;
	ret = ENROLL_OK;
exit:
	if (key)
		mbedtls_platform_zeroize(key, key_len);
	free(key);
	free(pem);
	enroll_ca_free(ca);
	return ret;
}

void enroll_ca_free(struct enroll_ca *ca)
{
	if (!ca)
		return;
	mbedtls_pk_free(&ca->key);
	mbedtls_x509_crt_free(&ca->certs);
	mbedtls_ctr_drbg_free(&ca->drbg);
	mbedtls_entropy_free(&ca->entropy);
	pthread_mutex_destroy(&ca->lock);
	free(ca);
}

bool enroll_ca_signs_crls(const struct enroll_ca *ca)
{
	return mbedtls_x509_crt_check_key_usage(ca->issuer, MBEDTLS_X509_KU_CRL_SIGN) == 0;
}

enum enroll_status enroll_ca_sign_crl(struct enroll_ca *ca, const struct crl_params *p,
                                      unsigned char **der, size_t *len)
{
	enum crl_status st;
	char why[192];

	*der = NULL;
	*len = 0;
	if (!enroll_ca_signs_crls(ca)) {
		log_err("CRL: the CA %s may not sign CRLs (its keyUsage lacks cRLSign)",
		        ca->subject);
		return ENROLL_ERR_DATA;
	}
	pthread_mutex_lock(&ca->lock);
	st = crl_write(ca->issuer, &ca->key, &ca->drbg, p, der, len, why, sizeof(why));
	pthread_mutex_unlock(&ca->lock);
	if (st == CRL_OK)
		return ENROLL_OK;
	log_err("CRL: cannot write the CRL of %s: %s: %s", ca->subject, crl_status_str(st), why);
	return st == CRL_ERR_SIGN || st == CRL_ERR_MEMORY ? ENROLL_ERR_INTERNAL : ENROLL_ERR_DATA;
}

const char *enroll_ca_subject(const struct enroll_ca *ca)
{
	return ca->subject;
}

/*
 * Prepends a copy of one attribute to a certificate writer's name list. The writer emits
 * the list last to first, so prepending in DER order keeps that order.
 */
static int name_prepend(mbedtls_asn1_named_data **head, const unsigned char *oid, size_t oid_len,
                        int tag, const unsigned char *val, size_t val_len)
{
	mbedtls_asn1_named_data *n = mbedtls_calloc(1, sizeof(*n));

	if (!n)
		return -1;
	n->oid.p = mbedtls_calloc(1, oid_len);
	n->val.p = mbedtls_calloc(1, val_len ? val_len : 1);
	if (!n->oid.p || !n->val.p) {
		mbedtls_free(n->oid.p);
		mbedtls_free(n->val.p);
		mbedtls_free(n);
		return -1;
	}
	n->oid.tag = MBEDTLS_ASN1_OID;
	n->oid.len = oid_len;
	memcpy(n->oid.p, oid, oid_len);
	n->val.tag = tag;
	n->val.len = val_len;
	memcpy(n->val.p, val, val_len);
	n->next = *head;
	*head = n;
	return 0;
}

/*
 * Issuer: the CA's subject attribute by attribute, with its string types, so the name
 * matches the CA certificate's byte for byte. Subject: the CA's O (when it has one) and
 * CN = node_id.
 */
static int set_names(mbedtls_x509write_cert *w, const mbedtls_x509_crt *issuer, const char *node_id)
{
	static const unsigned char oid_cn[] = MBEDTLS_OID_AT_CN;
	const mbedtls_x509_name *n;

	for (n = &issuer->subject; n; n = n->next) {
		if (!n->oid.p)
			continue;
		if (name_prepend(&w->KMA_PRIV(issuer), n->oid.p, n->oid.len, n->val.tag, n->val.p,
		                 n->val.len) != 0)
			return -1;
	}
	for (n = &issuer->subject; n; n = n->next) {
		if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORGANIZATION, &n->oid) == 0) {
			if (name_prepend(&w->KMA_PRIV(subject), n->oid.p, n->oid.len, n->val.tag,
			                 n->val.p, n->val.len) != 0)
				return -1;
			break;
		}
	}
	return name_prepend(&w->KMA_PRIV(subject), oid_cn, sizeof(oid_cn) - 1,
	                    MBEDTLS_ASN1_UTF8_STRING, (const unsigned char *)node_id,
	                    strlen(node_id));
}

/* "YYYYMMDDhhmmss" in UTC, as mbedtls_x509write_crt_set_validity takes it. */
int enroll_validity_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, size, "%Y%m%d%H%M%S", &tm) != 14)
		return -1;
	return 0;
}

/* 16 random bytes, top bit clear (a positive INTEGER without a 00 pad), first byte not 0. */
int enroll_random_serial(unsigned char serial[ENROLL_SERIAL_BYTES])
{
	do {
		if (getrandom(serial, ENROLL_SERIAL_BYTES, 0) != ENROLL_SERIAL_BYTES) {
			log_errno(LOG_LVL_ERR, errno, "enrolment: getrandom");
			return -1;
		}
		serial[0] &= 0x7f;
	} while (serial[0] == 0);
	return 0;
}

/* Issues a certificate for the key of csr, which passed csr_parse and csr_verify. */
static enum enroll_status issue(struct enroll_ca *ca, mbedtls_x509_csr *csr, const char *node_id,
                                unsigned cert_days, int64_t now, struct enroll_cert *out)
{
	enum enroll_status ret = ENROLL_ERR_INTERNAL;
	mbedtls_x509write_cert w;
	unsigned char serial[ENROLL_SERIAL_BYTES];
	unsigned char *buf = NULL;
	char not_before[16], not_after[16];
	int len;

	memset(out, 0, sizeof(*out));
	mbedtls_x509write_crt_init(&w);
	if (enroll_random_serial(serial) != 0)
		goto exit;
	if (enroll_validity_time(now - BACKDATE_S, not_before, sizeof(not_before)) != 0 ||
	    enroll_validity_time(now + (int64_t)cert_days * 86400, not_after, sizeof(not_after)) !=
	        0) {
		log_err("enrolment: cannot express the validity of %u days from %lld", cert_days,
		        (long long)now);
		goto exit;
	}
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &csr->pk);
	mbedtls_x509write_crt_set_issuer_key(&w, &ca->key);
	if (kma_x509write_crt_set_serial(&w, serial, sizeof(serial)) != 0 ||
	    mbedtls_x509write_crt_set_validity(&w, not_before, not_after) != 0 ||
	    set_names(&w, ca->issuer, node_id) != 0 ||
	    mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1) != 0 ||
	    mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
	    mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
	                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
	                                        eku_der, sizeof(eku_der)) != 0) {
		log_err("enrolment: cannot build the certificate for %s", node_id);
		goto exit;
	}
	buf = malloc(CERT_MAX);
	if (!buf) {
		log_err("enrolment: out of memory");
		goto exit;
	}
	/* Written at the end of the buffer. */
	pthread_mutex_lock(&ca->lock);
	len = mbedtls_x509write_crt_der(&w, buf, CERT_MAX, mbedtls_ctr_drbg_random, &ca->drbg);
	pthread_mutex_unlock(&ca->lock);
	if (len <= 0) {
		log_err("enrolment: signing the certificate for %s failed (-0x%04x)", node_id,
		        (unsigned)-len);
		goto exit;
	}
	memmove(buf, buf + CERT_MAX - len, (size_t)len);
	out->der = buf;
	out->len = (size_t)len;
	buf = NULL;
	hexser_format(serial, sizeof(serial), out->serial);
	ret = ENROLL_OK;
exit:
	free(buf);
	mbedtls_x509write_crt_free(&w);
	return ret;
}

enum enroll_status enroll_issue(struct enroll_ca *ca, const unsigned char *csr_der, size_t csr_len,
                                const char *node_id, unsigned cert_days, int64_t now,
                                struct enroll_cert *out)
{
	enum enroll_status ret;
	mbedtls_x509_csr csr;
	char why[128];

	memset(out, 0, sizeof(*out));
	mbedtls_x509_csr_init(&csr);
	ret = csr_parse(&csr, csr_der, csr_len, why, sizeof(why));
	if (ret == ENROLL_OK)
		ret = csr_verify(&csr, node_id, why, sizeof(why));
	if (ret == ENROLL_OK)
		ret = issue(ca, &csr, node_id, cert_days, now, out);
	mbedtls_x509_csr_free(&csr);
	return ret;
}

void enroll_cert_free(struct enroll_cert *c)
{
	if (!c)
		return;
	free(c->der);
	c->der = NULL;
	c->len = 0;
}

void enroll_token_hash(const char *token, char *sha256)
{
	unsigned char h[32];

	if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)token,
	               strlen(token), h) != 0) {
		/* Cannot happen with SHA-256 built in; an impossible hash matches no token. */
		sha256[0] = '\0';
		return;
	}
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(sha256 + 2 * i, 3, "%02x", h[i]);
}

int enroll_token_new(char *token, char *sha256)
{
	unsigned char raw[ENROLL_TOKEN_BYTES];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		log_errno(LOG_LVL_ERR, errno, "enrolment token: getrandom");
		return -1;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	mbedtls_platform_zeroize(raw, sizeof(raw));
	enroll_token_hash(token, sha256);
	return 0;
}

static void refuse(struct enroll_outcome *out, int status, const char *why)
{
	out->status = status;
	snprintf(out->reason, sizeof(out->reason), "%s", why);
}

static const char *token_refusal(enum store_status s)
{
	switch (s) {
	case STORE_TOKEN_UNKNOWN:
		return "unknown enrolment token";
	case STORE_TOKEN_OTHER_NODE:
		return "the enrolment token is for another node";
	case STORE_TOKEN_USED:
		return "the enrolment token was already used";
	case STORE_TOKEN_EXPIRED:
		return "the enrolment token has expired";
	default:
		return NULL;
	}
}

/*
 * Makes out the 200 that carries the reply: the leaf, every CA certificate, its serial and
 * the cluster ID. -1 when memory runs out (logged, for the enrolment of node_id).
 */
static int pack_reply(const struct enroll_ca *ca, const struct enroll_cert *cert,
                      const char *cluster_id, const char *node_id, struct enroll_outcome *out)
{
	Kma__V1__EnrollReply rep = KMA__V1__ENROLL_REPLY__INIT;
	ProtobufCBinaryData leaf = {cert->len, cert->der};
	ProtobufCBinaryData *cas = NULL;
	size_t n = 0;
	int ret = -1;

	for (const mbedtls_x509_crt *c = &ca->certs; c && c->raw.p; c = c->next)
		n++;
	cas = calloc(n ? n : 1, sizeof(*cas));
	if (!cas)
		goto exit;
	n = 0;
	for (const mbedtls_x509_crt *c = &ca->certs; c && c->raw.p; c = c->next)
		cas[n++] = (ProtobufCBinaryData){c->raw.len, c->raw.p};
	rep.ok = 1;
	rep.n_cert_chain_der = 1;
	rep.cert_chain_der = &leaf;
	rep.n_ca_der = n;
	rep.ca_der = cas;
	rep.serial = (char *)cert->serial;
	rep.cluster_id = (char *)cluster_id;
	out->reply_len = kma__v1__enroll_reply__get_packed_size(&rep);
	out->reply = malloc(out->reply_len ? out->reply_len : 1);
	if (!out->reply)
		goto exit;
	kma__v1__enroll_reply__pack(&rep, out->reply);
	out->status = 200;
	out->reason[0] = '\0';
	ret = 0;
exit:
	if (ret != 0)
		log_err("enrolment of %s: out of memory for the reply", node_id);
	free(cas);
	return ret;
}

/* The HTTP status of a CSR the checks refuse: 400 for its form, 422 for what it asks. */
static int csr_status(enum enroll_status st)
{
	switch (st) {
	case ENROLL_ERR_CSR_PARSE:
	case ENROLL_ERR_CSR_SIGNATURE:
	case ENROLL_ERR_CSR_HASH:
		return 400;
	case ENROLL_ERR_CSR_NAME:
	case ENROLL_ERR_CSR_KEY:
		return 422;
	default:
		return 500;
	}
}

static void lock(pthread_mutex_t *m)
{
	if (m)
		pthread_mutex_lock(m);
}

static void unlock(pthread_mutex_t *m)
{
	if (m)
		pthread_mutex_unlock(m);
}

/* Whether a and b are the same public key (their SubjectPublicKeyInfo). */
static bool same_key(mbedtls_pk_context *a, mbedtls_pk_context *b)
{
	unsigned char da[512], db[512];
	int la = mbedtls_pk_write_pubkey_der(a, da, sizeof(da));
	int lb = mbedtls_pk_write_pubkey_der(b, db, sizeof(db));

	/* Written at the end of each buffer. */
	return la > 0 && la == lb &&
	       memcmp(da + sizeof(da) - la, db + sizeof(db) - lb, (size_t)la) == 0;
}

/*
 * A used token may come again from the node that used it: the answer to its enrolment was
 * lost (the connection or the coordinator died after the redemption), so it asks again with
 * the same token and a CSR for the same key. It gets the certificate issued then, as long as
 * that is still its enrolled one and the token would still be valid (store_token_issued):
 * nothing is issued or recorded again, and without the answer the node would be left with
 * no identity while the cluster waits for its new serial. The CSR's signature proves the
 * key is the requester's. True when out holds that answer; false for anything else (the
 * token's refusal stands).
 */
static bool resend(struct enroll_ca *ca, struct store *st, pthread_mutex_t *store_lock,
                   mbedtls_x509_csr *csr, const char *node_id, const char *hash, int64_t now,
                   const char *cluster_id, struct enroll_outcome *out)
{
	struct enroll_cert cert = {0};
	mbedtls_x509_crt crt;
	char why[128];
	enum store_status sst;
	bool ret = false;

	mbedtls_x509_crt_init(&crt);
	if (csr_verify(csr, node_id, why, sizeof(why)) != ENROLL_OK)
		goto exit;
	lock(store_lock);
	sst = store_token_issued(st, hash, node_id, now, cert.serial, &cert.der, &cert.len);
	unlock(store_lock);
	if (sst != STORE_OK || mbedtls_x509_crt_parse_der(&crt, cert.der, cert.len) != 0 ||
	    !same_key(&crt.pk, &csr->pk))
		goto exit;
	if (pack_reply(ca, &cert, cluster_id, node_id, out) != 0)
		goto exit;
	log_notice("enrolment of %s asked again with its used token and the same key (the answer "
	           "was lost): its certificate, serial %s, sent again",
	           node_id, cert.serial);
	ret = true;
exit:
	mbedtls_x509_crt_free(&crt);
	enroll_cert_free(&cert);
	return ret;
}

/*
 * After the token was checked or redeemed (sst): true when the request ends here, answered
 * with the certificate already issued (its used token asked again by the node with the same
 * key: resend), refused (403), or failed (out stays as it was: 500).
 */
static bool token_stops(struct enroll_ca *ca, struct store *st, pthread_mutex_t *store_lock,
                        mbedtls_x509_csr *csr, const char *node_id, const char *hash, int64_t now,
                        const char *cluster_id, enum store_status sst, struct enroll_outcome *out)
{
	const char *refusal;

	if (sst == STORE_TOKEN_USED &&
	    resend(ca, st, store_lock, csr, node_id, hash, now, cluster_id, out))
		return true;
	refusal = token_refusal(sst);
	if (refusal)
		refuse(out, 403, refusal);
	return sst != STORE_OK;
}

void enroll_handle(struct enroll_ca *ca, struct store *st, pthread_mutex_t *store_lock,
                   unsigned cert_days, const char *cluster_id, const char *client,
                   const unsigned char *body, size_t len, int64_t now, struct enroll_outcome *out)
{
	Kma__V1__EnrollRequest *req = NULL;
	struct enroll_cert cert = {0};
	mbedtls_x509_csr csr;
	char hash[STORE_TOKEN_HASH_MAX], why[128];
	const char *node_id = "", *shown = "(invalid node ID)";
	enum store_status sst;
	enum enroll_status est;

	memset(out, 0, sizeof(*out));
	mbedtls_x509_csr_init(&csr);
	refuse(out, 500, "internal error");
	if (!ca) {
		refuse(out, 503, "this coordinator does not issue certificates (no ca_key)");
		goto exit;
	}
	req = kma__v1__enroll_request__unpack(NULL, len, body);
	if (!req) {
		refuse(out, 400, "the body does not decode as EnrollRequest");
		goto exit;
	}
	node_id = req->node_id ? req->node_id : "";
	/* Only a well-formed node ID is ever echoed into the log. */
	if (kma_node_id_ok(node_id))
		shown = node_id;
	/* What costs nothing first: the form of the CSR and its kind of key and hash. */
	est = csr_parse(&csr, req->csr_der.data, req->csr_der.len, why, sizeof(why));
	if (est != ENROLL_OK) {
		refuse(out, csr_status(est), why);
		goto exit;
	}
	/* Then the token, before any signature is verified: a guess costs a hash. */
	enroll_token_hash(req->token ? req->token : "", hash);
	lock(store_lock);
	sst = store_token_check(st, hash, node_id, now);
	unlock(store_lock);
	if (token_stops(ca, st, store_lock, &csr, node_id, hash, now, cluster_id, sst, out))
		goto exit;
	/* Verifying and signing need no store: the other requests go on meanwhile. */
	est = csr_verify(&csr, node_id, why, sizeof(why));
	if (est != ENROLL_OK) {
		refuse(out, csr_status(est), why);
		goto exit;
	}
	if (issue(ca, &csr, node_id, cert_days, now, &cert) != ENROLL_OK)
		goto exit;
	/* The token is used up here, atomically with the serial; a racing twin gets 403. */
	lock(store_lock);
	sst = store_token_redeem(st, hash, node_id, cert.serial, cert.der, cert.len, now);
	unlock(store_lock);
	/* A twin that redeemed it first may be this very node's earlier try. */
	if (token_stops(ca, st, store_lock, &csr, node_id, hash, now, cluster_id, sst, out))
		goto exit;
	/* Should it fail, the serial is recorded: the node's retry gets it (resend). */
	if (pack_reply(ca, &cert, cluster_id, shown, out) != 0)
		goto exit;
	log_notice("enrolled %s from %s: serial %s, generation %u, issuer %s", shown, client,
	           cert.serial, req->generation, ca->subject);
exit:
	if (out->status != 200)
		log_info("enrolment of %s from %s refused (%d): %s", shown, client, out->status,
		         out->reason);
	enroll_cert_free(&cert);
	mbedtls_x509_csr_free(&csr);
	if (req) {
		if (req->token)
			mbedtls_platform_zeroize(req->token, strlen(req->token));
		kma__v1__enroll_request__free_unpacked(req, NULL);
	}
}
