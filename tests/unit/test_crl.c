/*
 * The cluster CA's CRL: the writer (coordinator/core/crl.c) read back by Mbed TLS's own parser
 * and verifier, its encodings of serials and times as tables, the check a receiver makes
 * before handing a CRL to Mbed TLS (common/crlcheck.c), and the coordinator's CRL kept with
 * the enrolment (coordinator/core/revoke.c): sent with peer tables, honoured by auth_check.
 * OpenSSL reads the same CRLs in tests/e2e/test_revocation.sh.
 */

#include "mbedcompat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <mbedtls/asn1.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "auth.h"
#include "crl.h"
#include "crlcheck.h"
#include "enroll.h"
#include "log.h"
#include "report.h"
#include "revoke.h"
#include "store.h"

#define NOW     1795000000 /* 2026-11-18 */
#define DAY     86400
#define A_KMA01 "E2207FDBA432E9010000000000000084" /* tests/data/a-kma01.pem */

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
/* The cluster CA of tests/data (keyUsage keyCertSign, cRLSign; a subjectKeyIdentifier). */
static mbedtls_x509_crt ca;
static mbedtls_pk_context ca_key;

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/tests/data/%s", getenv("KMA_SOURCE_DIR"), name);
}

static void load_crt(mbedtls_x509_crt *c, const char *name)
{
	char path[512];

	path_of(path, sizeof(path), name);
	mbedtls_x509_crt_init(c);
	assert_int_equal(mbedtls_x509_crt_parse_file(c, path), 0);
}

static void load_key(mbedtls_pk_context *k, const char *name)
{
	char path[512];
	unsigned char buf[4096];
	FILE *f;
	size_t n;

	path_of(path, sizeof(path), name);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	mbedtls_pk_init(k);
	assert_int_equal(kma_pk_parse_key(k, buf, n + 1, &drbg), 0);
}

static void gen_key(mbedtls_pk_context *k)
{
	mbedtls_pk_init(k);
	assert_int_equal(mbedtls_pk_setup(k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*k),
	                                     mbedtls_ctr_drbg_random, &drbg),
	                 0);
}

/*
 * A certificate for subject, signed by issuer_key in issuer_name's name: a CA (with key usage
 * ku) when ca_cert, else a leaf with serial.
 */
static void issue(mbedtls_x509_crt *out, mbedtls_pk_context *subject_key, const char *subject,
                  mbedtls_pk_context *issuer_key, const char *issuer_name,
                  const unsigned char *serial, size_t serial_len, bool ca_cert, unsigned ku)
{
	mbedtls_x509write_cert w;
	unsigned char der[4096];
	int len;

	mbedtls_x509write_crt_init(&w);
	mbedtls_x509write_crt_set_subject_key(&w, subject_key);
	mbedtls_x509write_crt_set_issuer_key(&w, issuer_key);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, subject), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, issuer_name), 0);
	assert_int_equal(kma_x509write_crt_set_serial(&w, serial, serial_len), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20000101000000", "21000101000000"),
	                 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, ca_cert, -1), 0);
	assert_int_equal(mbedtls_x509write_crt_set_key_usage(&w, ku), 0);
	len = mbedtls_x509write_crt_der(&w, der, sizeof(der), mbedtls_ctr_drbg_random, &drbg);
	assert_true(len > 0);
	mbedtls_x509_crt_init(out);
	assert_int_equal(mbedtls_x509_crt_parse_der(out, der + sizeof(der) - len, (size_t)len), 0);
	mbedtls_x509write_crt_free(&w);
}

/* A leaf of the cluster CA with serial (big-endian bytes, as DER holds them). */
static void leaf(mbedtls_x509_crt *out, const unsigned char *serial, size_t len)
{
	mbedtls_pk_context k;

	gen_key(&k);
	issue(out, &k, "O=Example Cluster,CN=u-kma02", &ca_key,
	      "O=Example Cluster,CN=Example Cluster CA", serial, len, false,
	      MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	mbedtls_pk_free(&k);
}

static const unsigned char number[] = {0x00, 0x00, 0x00, 0x07, 0x00, 0x00,
                                       0x00, 0x00, 0x6A, 0xFE, 0x2A, 0x80};

/* Writes a CRL of issuer with entries (this update t, next update t + 90 days) and parses it. */
static void write_parse(const mbedtls_x509_crt *issuer, mbedtls_pk_context *key,
                        const struct crl_entry *e, size_t n, int64_t t, mbedtls_x509_crl *out)
{
	struct crl_params p = {t, t + 90 * DAY, number, sizeof(number), e, n};
	unsigned char *der = NULL;
	size_t len = 0;
	char why[256];

	assert_int_equal(crl_write(issuer, key, &drbg, &p, &der, &len, why, sizeof(why)), CRL_OK);
	mbedtls_x509_crl_init(out);
	assert_int_equal(mbedtls_x509_crl_parse_der(out, der, len), 0);
	free(der);
}

static int setup(void **state)
{
	(void)state;
	log_init("test_crl", LOG_LVL_ERR);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0)
		return -1;
	load_crt(&ca, "ca.pem");
	load_key(&ca_key, "ca.key");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mbedtls_pk_free(&ca_key);
	mbedtls_x509_crt_free(&ca);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return 0;
}

static bool time_is(const mbedtls_x509_time *t, int y, int mo, int d, int h, int mi, int s)
{
	return t->year == y && t->mon == mo && t->day == d && t->hour == h && t->min == mi &&
	       t->sec == s;
}

/* What Mbed TLS reads back: version, issuer, times, entries, the extensions. */
static void test_parse_back(void **state)
{
	static const unsigned char aki_prefix[] = {0x30, 0x16, 0x80, 0x14};
	const struct crl_entry e[] = {{A_KMA01, NOW - 3 * DAY}, {"0e:00:d3", NOW - DAY}};
	mbedtls_x509_crl crl;
	const mbedtls_x509_crl_entry *x;
	const unsigned char *ski = NULL;

	(void)state;
	write_parse(&ca, &ca_key, e, 2, NOW, &crl);
	assert_int_equal(crl.version, 2);
	assert_int_equal(crl.issuer_raw.len, ca.subject_raw.len);
	assert_memory_equal(crl.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len);
	assert_true(time_is(&crl.this_update, 2026, 11, 18, 11, 6, 40));
	assert_true(time_is(&crl.next_update, 2027, 2, 16, 11, 6, 40));
	assert_int_equal(KMA_PRIV(crl.sig_md), MBEDTLS_MD_SHA256);
	assert_int_equal(KMA_PRIV(crl.sig_pk), MBEDTLS_PK_ECDSA);
	assert_int_equal(crlcheck_count(&crl), 2);
	x = &crl.entry;
	assert_int_equal(x->serial.len, 17); /* E2... has its top bit set: a 00 first */
	assert_int_equal(x->serial.p[0], 0x00);
	assert_int_equal(x->serial.p[1], 0xE2);
	assert_true(time_is(&x->revocation_date, 2026, 11, 15, 11, 6, 40));
	x = x->next;
	assert_int_equal(x->serial.len, 3);
	assert_memory_equal(x->serial.p, "\x0E\x00\xD3", 3);
	/* authorityKeyIdentifier: the CA's subjectKeyIdentifier, and the CRL number. */
	for (size_t i = 0; i + 2 < ca.v3_ext.len && !ski; i++)
		if (memcmp(ca.v3_ext.p + i, "\x04\x16\x04\x14", 4) == 0)
			ski = ca.v3_ext.p + i + 4;
	assert_non_null(ski);
	assert_non_null(memmem(crl.crl_ext.p, crl.crl_ext.len, aki_prefix, sizeof(aki_prefix)));
	assert_non_null(memmem(crl.crl_ext.p, crl.crl_ext.len, ski, 20));
	assert_non_null(memmem(crl.crl_ext.p, crl.crl_ext.len, "\x02\x09\x07\x00\x00\x00\x00", 7));
	mbedtls_x509_crl_free(&crl);
}

static int clear_time_flags(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	(void)arg;
	(void)crt;
	(void)depth;
	*flags &= ~(uint32_t)CRLCHECK_TIME_FLAGS;
	return 0;
}

/*
 * With the CRL beside the CA, Mbed TLS refuses a listed certificate as revoked and accepts
 * the others; an expired CRL fails everything unless its age is cleared (crlcheck.h).
 */
static void test_verify(void **state)
{
	static const unsigned char s_revoked[] = {0x3C, 0x01}, s_other[] = {0x3C, 0x02};
	static const unsigned char s_high[] = {0x00, 0x9A, 0xBC};
	const struct crl_entry e[] = {{"3C01", NOW - DAY}, {"9ABC", NOW - DAY}};
	mbedtls_x509_crt revoked, other, high, a;
	mbedtls_x509_crl crl, stale;
	uint32_t flags;

	(void)state;
	leaf(&revoked, s_revoked, sizeof(s_revoked));
	leaf(&other, s_other, sizeof(s_other));
	leaf(&high, s_high, sizeof(s_high));
	load_crt(&a, "a-kma01.pem");
	/* Current when Mbed TLS looks at it: verification compares with the real clock. */
	write_parse(&ca, &ca_key, e, 2, time(NULL) - 1000, &crl);
	flags = 0;
	assert_int_equal(mbedtls_x509_crt_verify(&revoked, &ca, &crl, NULL, &flags, NULL, NULL),
	                 MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_int_equal(flags, MBEDTLS_X509_BADCERT_REVOKED);
	flags = 0;
	assert_int_equal(mbedtls_x509_crt_verify(&high, &ca, &crl, NULL, &flags, NULL, NULL),
	                 MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_int_equal(flags, MBEDTLS_X509_BADCERT_REVOKED);
	flags = 0;
	assert_int_equal(mbedtls_x509_crt_verify(&other, &ca, &crl, NULL, &flags, NULL, NULL), 0);
	assert_int_equal(flags, 0);
	assert_int_equal(mbedtls_x509_crt_verify(&a, &ca, &crl, NULL, &flags, NULL, NULL), 0);

	/* Its nextUpdate passed: every verification fails, unless the age is not held. */
	write_parse(&ca, &ca_key, e, 2, time(NULL) - 100 * DAY, &stale);
	flags = 0;
	assert_int_equal(mbedtls_x509_crt_verify(&other, &ca, &stale, NULL, &flags, NULL, NULL),
	                 MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_int_equal(flags, MBEDTLS_X509_BADCRL_EXPIRED);
	flags = 0;
	assert_int_equal(
	    mbedtls_x509_crt_verify(&other, &ca, &stale, NULL, &flags, clear_time_flags, NULL), 0);
	flags = 0;
	assert_int_equal(
	    mbedtls_x509_crt_verify(&revoked, &ca, &stale, NULL, &flags, clear_time_flags, NULL),
	    MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_int_equal(flags, MBEDTLS_X509_BADCERT_REVOKED);

	mbedtls_x509_crl_free(&stale);
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crt_free(&a);
	mbedtls_x509_crt_free(&high);
	mbedtls_x509_crt_free(&other);
	mbedtls_x509_crt_free(&revoked);
}

/* A serial as the INTEGER it names, in the shortest DER (what certificates carry). */
static void test_serial_forms(void **state)
{
	static const struct {
		const char *hex;
		const char *der; /* the INTEGER's content */
		size_t len;
	} cases[] = {
	    {"01", "\x01", 1},
	    {"7F", "\x7F", 1},
	    {"80", "\x00\x80", 2},
	    {"0080", "\x00\x80", 2},
	    {"000000FF", "\x00\xFF", 2},
	    {"00", "\x00", 1},
	    {"000", "\x00", 1},
	    {"ABC", "\x0A\xBC", 2},
	    {"e2:20:7F", "\x00\xE2\x20\x7F", 4},
	    {"0E 00 D3", "\x0E\x00\xD3", 3},
	};
	char long_ok[2 * CRL_SERIAL_MAX_BYTES + 3];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct crl_entry e = {cases[i].hex, NOW};
		mbedtls_x509_crl crl;

		write_parse(&ca, &ca_key, &e, 1, NOW, &crl);
		if (crl.entry.serial.len != cases[i].len ||
		    memcmp(crl.entry.serial.p, cases[i].der, cases[i].len) != 0)
			fail_msg("serial '%s': %zu bytes, want %zu", cases[i].hex,
			         crl.entry.serial.len, cases[i].len);
		mbedtls_x509_crl_free(&crl);
	}
	/* 64 bytes, with leading zeros beyond them, fit; 65 do not. */
	memset(long_ok, 'F', sizeof(long_ok) - 1);
	long_ok[sizeof(long_ok) - 1] = '\0';
	memcpy(long_ok, "007", 3);
	{
		const struct crl_entry e = {long_ok, NOW};
		struct crl_params p = {NOW, NOW + DAY, number, sizeof(number), &e, 1};
		unsigned char *der = NULL;
		size_t len = 0;
		char why[256];

		assert_int_equal(crl_write(&ca, &ca_key, &drbg, &p, &der, &len, why, sizeof(why)),
		                 CRL_OK);
		free(der);
		long_ok[1] = 'F'; /* 0F FF ... : 65 bytes */
		assert_int_equal(crl_write(&ca, &ca_key, &drbg, &p, &der, &len, why, sizeof(why)),
		                 CRL_ERR_SERIAL);
		assert_null(der);
		assert_non_null(strstr(why, "entry 0"));
	}
}

/* The tag a CRL entry's revocation date was written with. */
static int entry_time_tag(const mbedtls_x509_crl_entry *x)
{
	unsigned char *p = x->raw.p;
	const unsigned char *end = p + x->raw.len;
	size_t n;

	/* raw is the entry's SEQUENCE without its header: the serial, then the date. */
	if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_INTEGER))
		return -1;
	return p[n];
}

/* UTCTime before 2050, GeneralizedTime from then on; 1950..9999 only. */
static void test_time_forms(void **state)
{
	static const struct {
		int64_t t;
		int tag; /* -1: refused */
		int y, mo, d, h, mi, s;
	} cases[] = {
	    {0, MBEDTLS_ASN1_UTC_TIME, 1970, 1, 1, 0, 0, 0},
	    {-1, MBEDTLS_ASN1_UTC_TIME, 1969, 12, 31, 23, 59, 59},
	    {951782400, MBEDTLS_ASN1_UTC_TIME, 2000, 2, 29, 0, 0, 0},
	    {2147483648, MBEDTLS_ASN1_UTC_TIME, 2038, 1, 19, 3, 14, 8},
	    {2524607999, MBEDTLS_ASN1_UTC_TIME, 2049, 12, 31, 23, 59, 59},
	    {2524608000, MBEDTLS_ASN1_GENERALIZED_TIME, 2050, 1, 1, 0, 0, 0},
	    {-631152000, MBEDTLS_ASN1_UTC_TIME, 1950, 1, 1, 0, 0, 0},
	    {253402300799, MBEDTLS_ASN1_GENERALIZED_TIME, 9999, 12, 31, 23, 59, 59},
	    {-631152001, -1, 0, 0, 0, 0, 0, 0},
	    {253402300800, -1, 0, 0, 0, 0, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct crl_entry e = {"01", cases[i].t};
		struct crl_params p = {NOW, NOW + DAY, number, sizeof(number), &e, 1};
		unsigned char *der = NULL;
		size_t len = 0;
		char why[256];
		mbedtls_x509_crl crl;
		enum crl_status st =
		    crl_write(&ca, &ca_key, &drbg, &p, &der, &len, why, sizeof(why));

		if (cases[i].tag < 0) {
			assert_int_equal(st, CRL_ERR_TIME);
			continue;
		}
		assert_int_equal(st, CRL_OK);
		mbedtls_x509_crl_init(&crl);
		assert_int_equal(mbedtls_x509_crl_parse_der(&crl, der, len), 0);
		if (entry_time_tag(&crl.entry) != cases[i].tag ||
		    !time_is(&crl.entry.revocation_date, cases[i].y, cases[i].mo, cases[i].d,
		             cases[i].h, cases[i].mi, cases[i].s))
			fail_msg("time %lld: tag %d, %04d-%02d-%02d %02d:%02d:%02d",
			         (long long)cases[i].t, entry_time_tag(&crl.entry),
			         crl.entry.revocation_date.year, crl.entry.revocation_date.mon,
			         crl.entry.revocation_date.day, crl.entry.revocation_date.hour,
			         crl.entry.revocation_date.min, crl.entry.revocation_date.sec);
		mbedtls_x509_crl_free(&crl);
		free(der);
	}
}

/* What the writer refuses, with nothing written; a CRL of no entries is one. */
static void test_write_refusals(void **state)
{
	static const unsigned char long_number[CRL_NUMBER_MAX_BYTES + 1] = {1};
	const struct crl_entry bad[] = {{"01", NOW}, {"not hex", NOW}};
	struct crl_params p = {NOW, NOW + DAY, number, sizeof(number), bad, 2};
	unsigned char *der = NULL;
	size_t len = 0;
	char why[256];
	mbedtls_x509_crl crl;

	(void)state;
	assert_int_equal(crl_write(&ca, &ca_key, &drbg, &p, &der, &len, why, sizeof(why)),
	                 CRL_ERR_SERIAL);
	assert_non_null(strstr(why, "entry 1"));
	assert_null(der);
	p.n_entries = 0;
	p.number = long_number;
	p.number_len = sizeof(long_number);
	assert_int_equal(crl_write(&ca, &ca_key, &drbg, &p, &der, &len, why, sizeof(why)),
	                 CRL_ERR_NUMBER);
	p.number = number;
	p.number_len = sizeof(number);
	p.next_update = 253402300800;
	assert_int_equal(crl_write(&ca, &ca_key, &drbg, &p, &der, &len, why, sizeof(why)),
	                 CRL_ERR_TIME);
	assert_null(der);

	write_parse(&ca, &ca_key, NULL, 0, NOW, &crl);
	assert_int_equal(crlcheck_count(&crl), 0);
	assert_int_equal(crlcheck_verify(&ca, &crl, why, sizeof(why)), CRLCHECK_OK);
	mbedtls_x509_crl_free(&crl);
}

/* What a receiver refuses before Mbed TLS would fail every verification with it. */
static void test_check(void **state)
{
	static const unsigned char one[] = {1};
	const struct crl_entry e[] = {{A_KMA01, NOW}};
	mbedtls_x509_crt other_ca, no_crl_sign, bundle;
	mbedtls_pk_context impostor, k;
	mbedtls_x509_crl crl;
	struct crl_params p = {NOW, NOW + DAY, number, sizeof(number), e, 1};
	unsigned char *der = NULL, junk[64];
	size_t len = 0;
	char why[256];

	(void)state;
	load_crt(&other_ca, "other-ca.pem");
	/* A CA that may sign certificates only, and a key that is not our CA's. */
	gen_key(&k);
	issue(&no_crl_sign, &k, "O=Example Cluster,CN=Issuing CA", &k,
	      "O=Example Cluster,CN=Issuing CA", one, 1, true, MBEDTLS_X509_KU_KEY_CERT_SIGN);
	gen_key(&impostor);

	/* Ours: accepted, also from a bundle where our CA comes second. */
	assert_int_equal(crl_write(&ca, &ca_key, &drbg, &p, &der, &len, why, sizeof(why)), CRL_OK);
	mbedtls_x509_crl_init(&crl);
	assert_int_equal(crlcheck_load(&crl, der, len, &ca, why, sizeof(why)), CRLCHECK_OK);
	assert_int_equal(crlcheck_count(&crl), 1);
	mbedtls_x509_crl_free(&crl);
	load_crt(&bundle, "other-ca.pem");
	assert_int_equal(mbedtls_x509_crt_parse_der(&bundle, ca.raw.p, ca.raw.len), 0);
	mbedtls_x509_crl_init(&crl);
	assert_int_equal(crlcheck_load(&crl, der, len, &bundle, why, sizeof(why)), CRLCHECK_OK);
	mbedtls_x509_crl_free(&crl);

	/* Of an issuer we do not trust; cut short; too large; not DER at all. */
	mbedtls_x509_crl_init(&crl);
	assert_int_equal(crlcheck_load(&crl, der, len, &other_ca, why, sizeof(why)),
	                 CRLCHECK_ISSUER);
	assert_non_null(strstr(why, "Example Cluster CA"));
	assert_int_equal(crl.version, 0); /* left empty */
	assert_int_equal(crlcheck_load(&crl, der, len - 1, &ca, why, sizeof(why)), CRLCHECK_PARSE);
	assert_int_equal(crlcheck_load(&crl, der, CRLCHECK_DER_MAX + 1, &ca, why, sizeof(why)),
	                 CRLCHECK_PARSE);
	memset(junk, 0x30, sizeof(junk));
	assert_int_equal(crlcheck_load(&crl, junk, sizeof(junk), &ca, why, sizeof(why)),
	                 CRLCHECK_PARSE);
	/* A flipped bit of the signature. */
	der[len - 5] ^= 0x01;
	assert_int_equal(crlcheck_load(&crl, der, len, &ca, why, sizeof(why)), CRLCHECK_SIGNATURE);
	free(der);

	/* Our CA's name, another key: forged. */
	assert_int_equal(crl_write(&ca, &impostor, &drbg, &p, &der, &len, why, sizeof(why)),
	                 CRL_OK);
	assert_int_equal(crlcheck_load(&crl, der, len, &ca, why, sizeof(why)), CRLCHECK_SIGNATURE);
	free(der);

	/* Signed by a CA whose keyUsage leaves out cRLSign: Mbed TLS would refuse it. */
	assert_int_equal(crl_write(&no_crl_sign, &k, &drbg, &p, &der, &len, why, sizeof(why)),
	                 CRL_OK);
	assert_int_equal(crlcheck_load(&crl, der, len, &no_crl_sign, why, sizeof(why)),
	                 CRLCHECK_NO_CRL_SIGN);
	assert_non_null(strstr(why, "cRLSign"));
	free(der);

	mbedtls_x509_crl_free(&crl);
	mbedtls_pk_free(&impostor);
	mbedtls_pk_free(&k);
	mbedtls_x509_crt_free(&bundle);
	mbedtls_x509_crt_free(&no_crl_sign);
	mbedtls_x509_crt_free(&other_ca);
}

/* The coordinator's parts around one database in a temporary directory. */
struct coord {
	char dir[128];
	struct store *st;
	struct enroll_ca *ca;
	struct auth *auth;
	struct revoke *revoke;
};

static void coord_open(struct coord *c)
{
	char path[512], ca_pem[512], ca_key_path[512], op_pem[512];
	struct store_node n = {.node_id = "a-kma01", .address = "127.0.0.1:9443"};

	snprintf(c->dir, sizeof(c->dir), "%s/kma-crl-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(c->dir));
	snprintf(path, sizeof(path), "%s/coord.db", c->dir);
	assert_int_equal(store_open(path, &c->st), STORE_OK);
	path_of(ca_pem, sizeof(ca_pem), "ca.pem");
	path_of(ca_key_path, sizeof(ca_key_path), "ca.key");
	path_of(op_pem, sizeof(op_pem), "other-ca.pem");
	assert_int_equal(enroll_ca_load(ca_pem, ca_key_path, &c->ca), ENROLL_OK);
	assert_true(enroll_ca_signs_crls(c->ca));
	c->auth = auth_new(ca_pem, op_pem);
	assert_non_null(c->auth);
	c->revoke = revoke_new(c->ca, auth_honour_crl, c->auth);
	assert_non_null(c->revoke);
	snprintf(n.enrolled_serial, sizeof(n.enrolled_serial), "%s", A_KMA01);
	assert_int_equal(store_node_add(c->st, &n, NOW - 10 * DAY), STORE_OK);
	snprintf(n.node_id, sizeof(n.node_id), "u-kma02");
	snprintf(n.enrolled_serial, sizeof(n.enrolled_serial), "866B070F94660D13000000000000001E");
	assert_int_equal(store_node_add(c->st, &n, NOW - 10 * DAY), STORE_OK);
}

static void coord_close(struct coord *c)
{
	char cmd[256];

	revoke_free(c->revoke);
	auth_free(c->auth);
	enroll_ca_free(c->ca);
	store_close(c->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	assert_int_equal(system(cmd), 0);
}

/* The reply to a report of node from an agent that holds agent_version of the table. */
static Kma__V1__CoordinatorReply *reply(struct coord *c, uint64_t agent_version, int64_t now)
{
	Kma__V1__CoordinatorReply *r;
	unsigned char *buf = NULL;
	size_t len = 0;

	assert_int_equal(report_build_reply(c->st, c->revoke, "u-kma02", 1, 30000, agent_version,
	                                    now, &buf, &len),
	                 0);
	r = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	assert_non_null(r);
	free(buf);
	return r;
}

/* What auth_check makes of a-kma01's certificate (tests/data). */
static enum auth_role role_of_a_kma01(struct coord *c, char *why, size_t size)
{
	mbedtls_x509_crt a;
	struct auth_der der;
	struct auth_result res;

	load_crt(&a, "a-kma01.pem");
	der = (struct auth_der){a.raw.p, a.raw.len};
	auth_check(c->auth, &der, 1, &res);
	snprintf(why, size, "%s", res.why);
	mbedtls_x509_crt_free(&a);
	return res.role;
}

/*
 * The CRL goes with the peer table and says what the enrolment superseded; it is the same
 * CRL until the enrolment changes (or it has aged half its life); the coordinator's own
 * verifier refuses what it revokes, and takes it again once it is current again.
 */
static void test_coordinator(void **state)
{
	struct coord c;
	Kma__V1__CoordinatorReply *r, *again;
	mbedtls_x509_crl crl;
	uint64_t gen;
	char why[320];

	(void)state;
	coord_open(&c);
	assert_int_equal(role_of_a_kma01(&c, why, sizeof(why)), AUTH_AGENT);
	assert_int_equal(revoke_refresh(c.revoke, c.st, NOW), 0);
	assert_int_equal(revoke_count(c.revoke), 0);

	/* a-kma01 re-enrolled: its old serial is revoked. */
	gen = auth_crl_generation(c.auth);
	assert_int_equal(store_node_set_serial(c.st, "a-kma01", "0E01", "quickstart", NOW - DAY),
	                 STORE_OK);
	r = reply(&c, 0, NOW);
	assert_int_equal(r->peer_table_version, 3);
	assert_int_equal(r->n_peers, 1);
	assert_true(r->crl_der.len > 0);
	mbedtls_x509_crl_init(&crl);
	assert_int_equal(
	    crlcheck_load(&crl, r->crl_der.data, r->crl_der.len, &ca, why, sizeof(why)),
	    CRLCHECK_OK);
	assert_int_equal(crlcheck_count(&crl), 1);
	assert_int_equal(crl.entry.serial.len, 17);
	assert_int_equal(crl.entry.serial.p[1], 0xE2);
	assert_true(time_is(&crl.entry.revocation_date, 2026, 11, 17, 11, 6, 40));
	assert_true(time_is(&crl.this_update, 2026, 11, 18, 11, 6, 40));
	mbedtls_x509_crl_free(&crl);
	assert_true(auth_crl_generation(c.auth) > gen);
	assert_int_equal(role_of_a_kma01(&c, why, sizeof(why)), AUTH_NONE);
	assert_non_null(strstr(why, "revoked"));
	assert_non_null(strstr(why, A_KMA01));

	/* The same until the version changes; none for an agent that holds this version. */
	again = reply(&c, 1, NOW + 600);
	assert_int_equal(again->crl_der.len, r->crl_der.len);
	assert_memory_equal(again->crl_der.data, r->crl_der.data, r->crl_der.len);
	kma__v1__coordinator_reply__free_unpacked(again, NULL);
	again = reply(&c, 3, NOW + 600);
	assert_int_equal(again->n_peers, 0);
	assert_int_equal(again->crl_der.len, 0);
	kma__v1__coordinator_reply__free_unpacked(again, NULL);
	/* Half its life gone: a new one, thisUpdate now. */
	again = reply(&c, 0, NOW + REVOKE_CRL_LIFETIME_S / 2);
	assert_true(again->crl_der.len != r->crl_der.len ||
	            memcmp(again->crl_der.data, r->crl_der.data, r->crl_der.len) != 0);
	kma__v1__coordinator_reply__free_unpacked(again, NULL);
	kma__v1__coordinator_reply__free_unpacked(r, NULL);

	/* Set back by an operator: current again, revoked no more (the tick notices). */
	assert_int_equal(store_node_set_serial(c.st, "a-kma01", A_KMA01, "put", NOW), STORE_OK);
	assert_int_equal(revoke_refresh(c.revoke, c.st, NOW + REVOKE_CRL_LIFETIME_S / 2), 0);
	assert_int_equal(revoke_count(c.revoke), 1); /* 0E01 now */
	assert_int_equal(role_of_a_kma01(&c, why, sizeof(why)), AUTH_AGENT);
	coord_close(&c);
}

/* A refused report's answer (the enrolled serial alone) carries no CRL, also when auth
 * refused its certificate as revoked; auth keeps a CRL it refuses out. */
static void test_coordinator_refusals(void **state)
{
	struct coord c;
	struct report_outcome out;
	struct report_client who = {"a-kma01", "0BAD", "127.0.0.1"};
	Kma__V1__AgentReport rep = KMA__V1__AGENT_REPORT__INIT;
	Kma__V1__CoordinatorReply *r;
	unsigned char body[256], junk[16] = {0x30};
	size_t len;
	uint64_t gen;

	(void)state;
	coord_open(&c);
	assert_int_equal(store_node_set_serial(c.st, "u-kma02", "0E02", "put", NOW), STORE_OK);
	rep.node_id = "a-kma01";
	rep.sequence = 1;
	len = kma__v1__agent_report__pack(&rep, body);
	report_handle(c.st, 1000, c.revoke, &who, REPORT_CONTENT_TYPE, body, len, NOW, &out);
	assert_int_equal(out.status, 403);
	r = kma__v1__coordinator_reply__unpack(NULL, out.reply_len, out.reply);
	assert_non_null(r);
	assert_string_equal(r->enrolled_serial, A_KMA01);
	assert_int_equal(r->crl_der.len, 0);
	kma__v1__coordinator_reply__free_unpacked(r, NULL);
	free(out.reply);

	/* Refused as revoked before its body: told the same, remembered as evidence. */
	{
		struct report_client old = {"a-kma01", "0E01", "127.0.0.9"};
		struct store_attempt *at = NULL;
		size_t n = 0;

		report_refuse_revoked(c.st, 1000, &old, "client certificate refused: revoked", NOW,
		                      &out);
		assert_int_equal(out.status, 403);
		assert_int_equal(out.retry_after, 1);
		r = kma__v1__coordinator_reply__unpack(NULL, out.reply_len, out.reply);
		assert_non_null(r);
		assert_string_equal(r->enrolled_serial, A_KMA01);
		assert_int_equal(r->crl_der.len, 0);
		kma__v1__coordinator_reply__free_unpacked(r, NULL);
		free(out.reply);
		assert_int_equal(store_attempts_list(c.st, &at, &n), STORE_OK);
		assert_int_equal(n, 2); /* 0BAD above, 0E01 here */
		for (size_t i = 0; i < n; i++)
			if (strcmp(at[i].serial, "0E01") == 0) {
				assert_string_equal(at[i].address, "127.0.0.9");
				assert_true(at[i].known);
				n = 0;
			}
		assert_int_equal(n, 0);
		free(at);
		old.node_id = "gone";
		report_refuse_revoked(c.st, 1000, &old, "client certificate refused: revoked", NOW,
		                      &out);
		assert_int_equal(out.status, 403);
		assert_null(out.reply);
		assert_string_equal(out.reason, "client certificate refused: revoked");
	}

	gen = auth_crl_generation(c.auth);
	assert_int_equal(auth_set_crl(c.auth, junk, sizeof(junk)), -1);
	assert_int_equal(auth_crl_generation(c.auth), gen);
	assert_int_equal(auth_set_crl(c.auth, NULL, 0), 0);
	assert_int_equal(auth_crl_generation(c.auth), gen + 1);
	coord_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_back),     cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_serial_forms),   cmocka_unit_test(test_time_forms),
	    cmocka_unit_test(test_write_refusals), cmocka_unit_test(test_check),
	    cmocka_unit_test(test_coordinator),    cmocka_unit_test(test_coordinator_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
