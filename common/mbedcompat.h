#ifndef KMA_MBEDCOMPAT_H
#define KMA_MBEDCOMPAT_H

/*
 * The one place where Mbed TLS 2.28 (Debian 12, Buildroot) and 3.x (Yocto) differ in the
 * calls this project makes. Everything else is written against the common subset.
 */

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define KMA_MBEDTLS3 1
#else
#define KMA_MBEDTLS3 0
#endif

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

#endif
