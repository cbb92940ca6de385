/*
 * A CRL comes from the coordinator with each peer table and back from the agent's state
 * directory (coordinator-crl.der): crlcheck_load parses it with Mbed TLS and checks it against
 * the trust store before the mesh may use it. The trust store is the cluster CA of tests/data,
 * so that inputs it signed reach the signature check (corpus/crl: one of kma-coord's own
 * writer, one of OpenSSL's, both by that CA).
 */

#include "crlcheck.h"
#include "fuzz.h"

static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBwTCCAWigAwIBAgIBATAKBggqhkjOPQQDAjA3MRgwFgYDVQQKDA9FeGFtcGxl\n"
                             "IENsdXN0ZXIxGzAZBgNVBAMMEkV4YW1wbGUgQ2x1c3RlciBDQTAgFw0yNjExMjMy\n"
                             "MDI1MTdaGA8yMTI2MTAzMDIwMjUxN1owNzEYMBYGA1UECgwPRXhhbXBsZSBDbHVz\n"
                             "dGVyMRswGQYDVQQDDBJFeGFtcGxlIENsdXN0ZXIgQ0EwWTATBgcqhkjOPQIBBggq\n"
                             "hkjOPQMBBwNCAAQaztry4rag3lBqqUI6HrrBVGmi4Z92v5iQKzGxLM8cn3JYrciG\n"
                             "ywPPZTpteU/I3ApG3V3K8c0XX9vn6Bv19j4Wo2MwYTAdBgNVHQ4EFgQUFOAn/IDt\n"
                             "Sk/fbprGFkxSni3TKscwHwYDVR0jBBgwFoAUFOAn/IDtSk/fbprGFkxSni3TKscw\n"
                             "DwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDRwAw\n"
                             "RAIgNGDUFxcdPEZVyvnqlhL9hUhxJKBJKlD0c5qsaOn8KlYCIDtkFXABXVVyaTW6\n"
                             "T8dpi6X54hd4L2m8LVX3+kZ/Unzk\n"
                             "-----END CERTIFICATE-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mbedtls_x509_crt ca;
	mbedtls_x509_crl crl;
	char why[320] = "";

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crl_init(&crl);
	FUZZ_CHECK(mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, sizeof(ca_pem)) == 0);
	if (crlcheck_load(&crl, data, size, &ca, why, sizeof(why)) == CRLCHECK_OK) {
		FUZZ_CHECK(crl.version == 2);
		FUZZ_CHECK(crlcheck_count(&crl) < size);
	} else {
		/* Refused: said why, and nothing of it left for a verifier. */
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(crl.version == 0 && crlcheck_count(&crl) == 0);
	}
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crt_free(&ca);
	return 0;
}
