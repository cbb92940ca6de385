#include "crlcheck.h"

#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>

/* "O=..., CN=..." of a CRL's issuer, for a message. */
static void issuer_str(const mbedtls_x509_crl *crl, char *buf, size_t size)
{
	if (mbedtls_x509_dn_gets(buf, size, &crl->issuer) < 0)
		snprintf(buf, size, "(unprintable)");
}

enum crlcheck_status crlcheck_verify(const mbedtls_x509_crt *trust, const mbedtls_x509_crl *crl,
                                     char *why, size_t size)
{
	const mbedtls_x509_crt *ca = NULL;
	const mbedtls_md_info_t *md;
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	char issuer[256];
	mbedtls_md_type_t sig_md = KMA_PRIV(crl->sig_md);

	issuer_str(crl, issuer, sizeof(issuer));
	if (crl->version != 2) {
		snprintf(why, size, "the CRL of %s is v%d, not v2", issuer, crl->version);
		return CRLCHECK_NOT_V2;
	}
	for (const mbedtls_x509_crt *c = trust; c && c->raw.len > 0 && !ca; c = c->next)
		if (c->subject_raw.len == crl->issuer_raw.len &&
		    memcmp(c->subject_raw.p, crl->issuer_raw.p, c->subject_raw.len) == 0)
			ca = c;
	if (!ca) {
		snprintf(why, size, "the CRL's issuer %s is none of our CAs", issuer);
		return CRLCHECK_ISSUER;
	}
	if (mbedtls_x509_crt_check_key_usage(ca, MBEDTLS_X509_KU_CRL_SIGN) != 0) {
		snprintf(why, size, "our CA %s may not sign CRLs (its keyUsage lacks cRLSign)",
		         issuer);
		return CRLCHECK_NO_CRL_SIGN;
	}
	if (sig_md != MBEDTLS_MD_SHA256 && sig_md != MBEDTLS_MD_SHA384 &&
	    sig_md != MBEDTLS_MD_SHA512) {
		snprintf(why, size, "the CRL of %s is signed with a digest weaker than SHA-256",
		         issuer);
		return CRLCHECK_DIGEST;
	}
	md = mbedtls_md_info_from_type(sig_md);
	if (!md || mbedtls_md(md, crl->tbs.p, crl->tbs.len, hash) != 0 ||
	    /* Cast: the library takes a non-const key; verifying does not change it. */
	    mbedtls_pk_verify_ext(KMA_PRIV(crl->sig_pk), KMA_PRIV(crl->sig_opts),
	                          (mbedtls_pk_context *)&ca->pk, sig_md, hash,
	                          mbedtls_md_get_size(md), KMA_PRIV(crl->sig).p,
	                          KMA_PRIV(crl->sig).len) != 0) {
		snprintf(why, size, "the CRL's signature does not verify with the key of our CA %s",
		         issuer);
		return CRLCHECK_SIGNATURE;
	}
	return CRLCHECK_OK;
}

enum crlcheck_status crlcheck_load(mbedtls_x509_crl *crl, const unsigned char *der, size_t len,
                                   const mbedtls_x509_crt *trust, char *why, size_t size)
{
	enum crlcheck_status ret = CRLCHECK_PARSE;
	int rc;

	if (len == 0 || len > CRLCHECK_DER_MAX) {
		snprintf(why, size, "a CRL of %zu bytes (1 to %d)", len, CRLCHECK_DER_MAX);
		goto exit;
	}
	rc = mbedtls_x509_crl_parse_der(crl, der, len);
	if (rc != 0) {
		snprintf(why, size, "the CRL does not parse (-0x%04x)", (unsigned)-rc);
		goto exit;
	}
	ret = crlcheck_verify(trust, crl, why, size);
exit:
	if (ret != CRLCHECK_OK) {
		mbedtls_x509_crl_free(crl);
		mbedtls_x509_crl_init(crl);
	}
	return ret;
}

size_t crlcheck_count(const mbedtls_x509_crl *crl)
{
	size_t n = 0;

	for (const mbedtls_x509_crl_entry *e = &crl->entry; e && e->serial.len > 0; e = e->next)
		n++;
	return n;
}
