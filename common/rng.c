#include "rng.h"

#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <sys/random.h>

int rng_kernel(void *arg, unsigned char *out, size_t len)
{
	(void)arg;
	while (len > 0) {
		/* Blocks only until the kernel's pool is first initialised, early at boot. */
		ssize_t n = getrandom(out, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
		out += n;
		len -= (size_t)n;
	}
	return 0;
}
