#ifndef KMA_COMMON_RNG_H
#define KMA_COMMON_RNG_H

#include <stddef.h>

/*
 * The kernel's random bytes (getrandom(2)) as an Mbed TLS entropy callback, for
 * mbedtls_ctr_drbg_seed(): it seeds and reseeds the DRBG from the source that
 * mbedtls_entropy_func() would poll in the end, without an mbedtls_entropy_context, which
 * is 37 KiB in Debian's 2.28 (HAVEGE's state) and touched whole by its init. arg is unused.
 * Returns 0, or MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED.
 */
int rng_kernel(void *arg, unsigned char *out, size_t len);

#endif
