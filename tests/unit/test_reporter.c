/*
 * The PEM blobs the agent gives libcurl (agent/reporter.c): each must parse as curl's mbedTLS
 * backend parses it, straight from the blob's data and length (7.88.1 passes the key blob to
 * mbedtls_pk_parse_key() as it is; mbedTLS takes PEM only when the length counts a final
 * NUL), and the key must be zeroised before its memory is freed; for a backend that takes
 * files only, a memfd holds the same PEM. free() is wrapped
 * (-Wl,--wrap=free) so the test sees the bytes just before they go back to the allocator.
 */

#include "mbedcompat.h"

#include <event2/event.h>
#include <mbedtls/entropy.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fileio.h"
#include "reporter.h"

void __real_free(void *p);
void __wrap_free(void *p);

/* The buffer whose release is watched, and what it held when it was released. */
static const void *watched;
static size_t watched_len;
static bool watched_freed, watched_zero;

void __wrap_free(void *p)
{
	if (p && p == watched) {
		const unsigned char *b = p;

		watched_zero = true;
		for (size_t i = 0; i < watched_len; i++)
			if (b[i])
				watched_zero = false;
		watched_freed = true;
		watched = NULL;
	}
	__real_free(p);
}

static char *slurp(const char *name)
{
	char path[512];
	unsigned char *data = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/tests/data/%s", getenv("KMA_SOURCE_DIR"), name);
	assert_int_equal(fileio_read_input(path, 64 * 1024, &data, &len), 0);
	return (char *)data;
}

/* As curl 7.88.1's lib/vtls/mbedtls.c reads CURLOPT_SSLKEY_BLOB. */
static int parse_key_as_curl(const struct curl_blob *b)
{
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context pk;
	int rc;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_pk_init(&pk);
	rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0);
	if (rc == 0)
		rc = kma_pk_parse_key(&pk, b->data, b->len, &drbg);
	mbedtls_pk_free(&pk);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return rc;
}

static int parse_crt(const struct curl_blob *b)
{
	mbedtls_x509_crt crt;
	int rc;

	mbedtls_x509_crt_init(&crt);
	rc = mbedtls_x509_crt_parse(&crt, b->data, b->len);
	mbedtls_x509_crt_free(&crt);
	return rc;
}

static void test_pem_blob(void **state)
{
	char *key = slurp("a-kma01.key");
	struct reporter_pem p;

	(void)state;
	assert_int_equal(reporter_pem_set(&p, key), 0);
	assert_int_equal(p.blob.len, strlen(key) + 1);
	assert_int_equal(((const char *)p.blob.data)[p.blob.len - 1], '\0');
	assert_int_equal(p.blob.flags, CURL_BLOB_NOCOPY);
	assert_int_equal(parse_key_as_curl(&p.blob), 0);

	watched = p.blob.data;
	watched_len = p.blob.len;
	watched_freed = watched_zero = false;
	reporter_pem_free(&p);
	assert_true(watched_freed);
	assert_true(watched_zero);
	assert_null(p.blob.data);
	assert_int_equal(p.blob.len, 0);
	reporter_pem_free(&p); /* twice, and on a zeroed one: nothing */
	__real_free(key);
}

/* For a backend that takes files only (GnuTLS): a memfd with the same PEM, gone when freed. */
static void test_pem_path(void **state)
{
	char *key = slurp("a-kma01.key");
	struct reporter_pem p;
	mbedtls_pk_context pk;
	const char *path;
	char kept[32];

	(void)state;
	assert_int_equal(reporter_pem_set(&p, key), 0);
	path = reporter_pem_path(&p);
	assert_non_null(path);
	assert_ptr_equal(reporter_pem_path(&p), path); /* made once */
	mbedtls_pk_init(&pk);
#if KMA_MBEDTLS3
	{
		mbedtls_entropy_context entropy;
		mbedtls_ctr_drbg_context drbg;

		mbedtls_entropy_init(&entropy);
		mbedtls_ctr_drbg_init(&drbg);
		assert_int_equal(
		    mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
		assert_int_equal(
		    mbedtls_pk_parse_keyfile(&pk, path, NULL, mbedtls_ctr_drbg_random, &drbg), 0);
		mbedtls_ctr_drbg_free(&drbg);
		mbedtls_entropy_free(&entropy);
	}
#else
	assert_int_equal(mbedtls_pk_parse_keyfile(&pk, path, NULL), 0);
#endif
	mbedtls_pk_free(&pk);
	snprintf(kept, sizeof(kept), "%s", path);
	reporter_pem_free(&p);
	assert_int_equal(p.path[0], '\0');
	assert_null(fopen(kept, "r"));
	__real_free(key);
}

static void apply(void *arg, const Kma__V1__CoordinatorReply *reply)
{
	(void)arg;
	(void)reply;
}

static void fill(void *arg, Kma__V1__AgentReport *report)
{
	(void)arg;
	(void)report;
}

static void done(void *arg)
{
	(void)arg;
}

static uint32_t rnd(void *arg)
{
	(void)arg;
	return 4;
}

/* What the reporter hands libcurl for every report and watch: identity and trust. */
static void test_reporter_blobs(void **state)
{
	struct reporter_ops ops = {.fill = fill, .done = done, .apply = apply};
	char *cert = slurp("a-kma01.pem"), *key = slurp("a-kma01.key"), *ca = slurp("ca.pem");
	struct event_base *base = event_base_new();
	struct reporter r;

	(void)state;
	assert_non_null(base);
	assert_int_equal(
	    reporter_start(&r, base, "https://127.0.0.1:1/", cert, key, ca, 30, &ops, NULL, rnd),
	    0);
	assert_int_equal(parse_key_as_curl(&r.key.blob), 0);
	assert_int_equal(parse_crt(&r.cert.blob), 0);
	assert_int_equal(parse_crt(&r.ca.blob), 0);

	watched = r.key.blob.data;
	watched_len = r.key.blob.len;
	watched_freed = watched_zero = false;
	reporter_stop(&r);
	assert_true(watched_freed);
	assert_true(watched_zero);
	reporter_stop(&r); /* stopped twice: nothing */
	event_base_free(base);
	__real_free(cert);
	__real_free(key);
	__real_free(ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pem_blob),
	    cmocka_unit_test(test_pem_path),
	    cmocka_unit_test(test_reporter_blobs),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
