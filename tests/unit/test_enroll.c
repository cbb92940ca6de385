/*
 * QuickStart enrolment at the coordinator: CSR checks, the issued certificate, the
 * one-time tokens in the store (with explicit clocks) and POST /v1/enroll's checks in the
 * contract's order, without HTTP.
 */

#include "mbedcompat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "certinfo.h"
#include "coord_config.h"
#include "enroll.h"
#include "kma.pb-c.h"
#include "log.h"
#include "store.h"

#define NODE "a-kma01"
#define DAYS 825u

static char dir[128];
static char path_ca[192], path_key[192], path_other_key[192], path_db[192];
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;

/* The CSR key types the checks tell apart. */
enum key_kind { KEY_P256, KEY_P384, KEY_RSA };

static void gen_key(mbedtls_pk_context *pk, enum key_kind kind)
{
	mbedtls_pk_init(pk);
	if (kind == KEY_RSA) {
		assert_int_equal(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)),
		                 0);
		/* Small: only its type matters, and the sanitizer build is slow. */
		assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), mbedtls_ctr_drbg_random,
		                                     &drbg, 1024, 65537),
		                 0);
		return;
	}
	assert_int_equal(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(kind == KEY_P256 ? MBEDTLS_ECP_DP_SECP256R1
	                                                      : MBEDTLS_ECP_DP_SECP384R1,
	                                     mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &drbg),
	                 0);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void write_key_pem(mbedtls_pk_context *pk, const char *path)
{
	unsigned char pem[4096];

	assert_int_equal(mbedtls_pk_write_key_pem(pk, pem, sizeof(pem)), 0);
	write_file(path, pem, strlen((char *)pem), 0600);
}

/* A self-signed CA with subject "O=Example Cluster, CN=Unit CA". */
static void make_ca(mbedtls_pk_context *key)
{
	mbedtls_x509write_cert w;
	unsigned char pem[4096];
	static const unsigned char serial[] = {0x01};

	mbedtls_x509write_crt_init(&w);
	mbedtls_x509write_crt_set_subject_key(&w, key);
	mbedtls_x509write_crt_set_issuer_key(&w, key);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, "O=Example Cluster,CN=Unit CA"),
	                 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, "O=Example Cluster,CN=Unit CA"),
	                 0);
	assert_int_equal(kma_x509write_crt_set_serial(&w, serial, sizeof(serial)), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20000101000000", "21000101000000"),
	                 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, 1, 0), 0);
	assert_int_equal(mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);
	assert_int_equal(
	    mbedtls_x509write_crt_pem(&w, pem, sizeof(pem), mbedtls_ctr_drbg_random, &drbg), 0);
	write_file(path_ca, pem, strlen((char *)pem), 0644);
	mbedtls_x509write_crt_free(&w);
}

static int setup(void **state)
{
	mbedtls_pk_context ca_key, other;

	(void)state;
	log_init("test_enroll", LOG_LVL_ERR);
	snprintf(dir, sizeof(dir), "%s/kma-enroll-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path_ca, sizeof(path_ca), "%s/ca.pem", dir);
	snprintf(path_key, sizeof(path_key), "%s/ca.key", dir);
	snprintf(path_other_key, sizeof(path_other_key), "%s/other.key", dir);
	snprintf(path_db, sizeof(path_db), "%s/coord.db", dir);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0)
		return -1;
	gen_key(&ca_key, KEY_P256);
	make_ca(&ca_key);
	write_key_pem(&ca_key, path_key);
	gen_key(&other, KEY_P256);
	write_key_pem(&other, path_other_key);
	mbedtls_pk_free(&ca_key);
	mbedtls_pk_free(&other);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A CSR (DER, at the start of buf) for subject, signed with md by key. */
static size_t csr_of_key(mbedtls_pk_context *key, const char *subject, mbedtls_md_type_t md,
                         unsigned char *buf, size_t size)
{
	mbedtls_x509write_csr csr;
	int len;

	mbedtls_x509write_csr_init(&csr);
	mbedtls_x509write_csr_set_key(&csr, key);
	mbedtls_x509write_csr_set_md_alg(&csr, md);
	assert_int_equal(mbedtls_x509write_csr_set_subject_name(&csr, subject), 0);
	len = mbedtls_x509write_csr_der(&csr, buf, size, mbedtls_ctr_drbg_random, &drbg);
	assert_true(len > 0);
	memmove(buf, buf + size - (size_t)len, (size_t)len);
	mbedtls_x509write_csr_free(&csr);
	return (size_t)len;
}

/* A CSR (DER, at the start of buf) for subject, signed with md by a new key of kind. */
static size_t make_csr_md(enum key_kind kind, const char *subject, mbedtls_md_type_t md,
                          unsigned char *buf, size_t size)
{
	mbedtls_pk_context key;
	size_t len;

	gen_key(&key, kind);
	len = csr_of_key(&key, subject, md, buf, size);
	mbedtls_pk_free(&key);
	return len;
}

/* A CSR signed with SHA-256. */
static size_t make_csr(enum key_kind kind, const char *subject, unsigned char *buf, size_t size)
{
	return make_csr_md(kind, subject, MBEDTLS_MD_SHA256, buf, size);
}

static struct enroll_ca *load_ca(void)
{
	struct enroll_ca *ca = NULL;

	assert_int_equal(enroll_ca_load(path_ca, path_key, &ca), ENROLL_OK);
	assert_non_null(ca);
	return ca;
}

/* The CSR table: each case is one CSR and the verdict the checks must give. */
struct csr_case {
	const char *name;
	enum key_kind kind;
	const char *subject;
	int corrupt; /* 0 none, 1 flip the signature's last byte, 2 flip a byte of the name */
	enum enroll_status want;
	mbedtls_md_type_t md;
};

static const struct csr_case csr_cases[] = {
    {"good", KEY_P256, "CN=" NODE, 0, ENROLL_OK, MBEDTLS_MD_SHA256},
    {"good with O", KEY_P256, "O=Example Cluster,CN=" NODE, 0, ENROLL_OK, MBEDTLS_MD_SHA256},
    {"wrong CN", KEY_P256, "CN=u-kma02", 0, ENROLL_ERR_CSR_NAME, MBEDTLS_MD_SHA256},
    {"CN with a suffix", KEY_P256, "CN=" NODE "x", 0, ENROLL_ERR_CSR_NAME, MBEDTLS_MD_SHA256},
    {"no CN", KEY_P256, "O=" NODE, 0, ENROLL_ERR_CSR_NAME, MBEDTLS_MD_SHA256},
    {"P-384 key", KEY_P384, "CN=" NODE, 0, ENROLL_ERR_CSR_KEY, MBEDTLS_MD_SHA256},
    {"RSA key", KEY_RSA, "CN=" NODE, 0, ENROLL_ERR_CSR_KEY, MBEDTLS_MD_SHA256},
    {"signature byte flipped", KEY_P256, "CN=" NODE, 1, ENROLL_ERR_CSR_SIGNATURE,
     MBEDTLS_MD_SHA256},
    {"signed name altered", KEY_P256, "CN=" NODE, 2, ENROLL_ERR_CSR_SIGNATURE, MBEDTLS_MD_SHA256},
    /* No key but P-256 is ever verified: its kind is judged first (issue 16, item 2). */
    {"RSA key, signature byte flipped", KEY_RSA, "CN=" NODE, 1, ENROLL_ERR_CSR_KEY,
     MBEDTLS_MD_SHA256},
    {"P-384 key, wrong CN", KEY_P384, "CN=u-kma02", 0, ENROLL_ERR_CSR_KEY, MBEDTLS_MD_SHA256},
    /* Weak hashes are refused (issue 16, item 7); SHA-384 and SHA-512 are fine. */
    {"signed with SHA-1", KEY_P256, "CN=" NODE, 0, ENROLL_ERR_CSR_HASH, MBEDTLS_MD_SHA1},
    {"signed with SHA-224", KEY_P256, "CN=" NODE, 0, ENROLL_ERR_CSR_HASH, MBEDTLS_MD_SHA224},
    {"signed with SHA-384", KEY_P256, "CN=" NODE, 0, ENROLL_OK, MBEDTLS_MD_SHA384},
    {"signed with SHA-512", KEY_P256, "CN=" NODE, 0, ENROLL_OK, MBEDTLS_MD_SHA512},
};

static void test_csr_table(void **state)
{
	unsigned char buf[4096];
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(csr_cases) / sizeof(csr_cases[0]); i++) {
		const struct csr_case *c = &csr_cases[i];
		size_t len = make_csr_md(c->kind, c->subject, c->md ? c->md : MBEDTLS_MD_SHA256,
		                         buf, sizeof(buf));
		enum enroll_status got;

		if (c->corrupt == 1) {
			buf[len - 1] ^= 0x01;
		} else if (c->corrupt == 2) {
			/* "a-kma01" -> "b-kma01" inside the signed CertificationRequestInfo */
			unsigned char *p = memmem(buf, len, NODE, strlen(NODE));

			assert_non_null(p);
			p[0] = 'b';
		}
		why[0] = '\0';
		got = enroll_csr_check(buf, len, NODE, why, sizeof(why));
		if (got != c->want)
			fail_msg("%s: got %d (%s), want %d", c->name, got, why, c->want);
		if (got != ENROLL_OK)
			assert_true(why[0] != '\0');
	}
}

static void test_csr_garbage(void **state)
{
	unsigned char buf[4096];
	char why[128];
	size_t len;

	(void)state;
	assert_int_equal(enroll_csr_check((const unsigned char *)"", 0, NODE, why, sizeof(why)),
	                 ENROLL_ERR_CSR_PARSE);
	assert_int_equal(
	    enroll_csr_check((const unsigned char *)"not a CSR", 9, NODE, why, sizeof(why)),
	    ENROLL_ERR_CSR_PARSE);
	len = make_csr(KEY_P256, "CN=" NODE, buf, sizeof(buf));
	assert_int_equal(enroll_csr_check(buf, len - 10, NODE, why, sizeof(why)),
	                 ENROLL_ERR_CSR_PARSE);
}

static void test_ca_load(void **state)
{
	struct enroll_ca *ca = NULL;
	char missing[256];

	(void)state;
	ca = load_ca();
	assert_string_equal(enroll_ca_subject(ca), "O=Example Cluster, CN=Unit CA");
	enroll_ca_free(ca);
	ca = NULL;
	/* A key that belongs to no certificate of ca is refused (what --check-config runs). */
	assert_int_equal(enroll_ca_load(path_ca, path_other_key, &ca), ENROLL_ERR_DATA);
	assert_null(ca);
	/* A certificate is not a key. */
	assert_int_equal(enroll_ca_load(path_ca, path_ca, &ca), ENROLL_ERR_DATA);
	snprintf(missing, sizeof(missing), "%s/none.key", dir);
	assert_int_equal(enroll_ca_load(path_ca, missing, &ca), ENROLL_ERR_INPUT);
	assert_null(ca);
	enroll_ca_free(NULL);
}

/* mbedtls_x509_time of t, to compare with a certificate's validity. */
static void expect_time(const mbedtls_x509_time *got, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	assert_non_null(gmtime_r(&tt, &tm));
	assert_int_equal(got->year, tm.tm_year + 1900);
	assert_int_equal(got->mon, tm.tm_mon + 1);
	assert_int_equal(got->day, tm.tm_mday);
	assert_int_equal(got->hour, tm.tm_hour);
	assert_int_equal(got->min, tm.tm_min);
	assert_int_equal(got->sec, tm.tm_sec);
}

static void test_issue(void **state)
{
	struct enroll_ca *ca = load_ca();
	struct enroll_cert cert;
	mbedtls_x509_crt crt, cacrt;
	mbedtls_x509_csr csr;
	struct certinfo info;
	unsigned char buf[4096], pub_csr[256], pub_crt[256];
	uint32_t flags = 0;
	int64_t now = (int64_t)time(NULL);
	size_t len;
	int n1, n2;

	(void)state;
	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&cacrt);
	mbedtls_x509_csr_init(&csr);
	len = make_csr(KEY_P256, "CN=" NODE, buf, sizeof(buf));
	assert_int_equal(enroll_issue(ca, buf, len, NODE, DAYS, now, &cert), ENROLL_OK);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, cert.der, cert.len), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&cacrt, path_ca), 0);

	/* It chains to the cluster CA, names the node and carries both purposes. */
	assert_int_equal(mbedtls_x509_crt_verify(&crt, &cacrt, NULL, NODE, &flags, NULL, NULL), 0);
	assert_int_equal(flags, 0);
	assert_int_equal(
	    mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
	                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
	    0);
	assert_int_equal(
	    mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
	                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
	    0);
	assert_int_equal(
	    mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CODE_SIGNING,
	                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_CODE_SIGNING)),
	    MBEDTLS_ERR_X509_BAD_INPUT_DATA);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
	                 0);
	assert_int_not_equal(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN),
	                     0);
	assert_int_equal(crt.KMA_PRIV(ca_istrue), 0);
	/* The issuer name is the CA's subject byte for byte; the subject is O and CN. */
	assert_int_equal(crt.issuer_raw.len, cacrt.subject_raw.len);
	assert_memory_equal(crt.issuer_raw.p, cacrt.subject_raw.p, crt.issuer_raw.len);
	certinfo_from_crt(&crt, &info);
	assert_string_equal(info.subject, "O=Example Cluster, CN=" NODE);
	assert_string_equal(info.node_id, NODE);

	/* 16 bytes, no 00 pad (top bit clear, first byte not zero), as agents print it. */
	assert_int_equal(crt.serial.len, ENROLL_SERIAL_BYTES);
	assert_true(crt.serial.p[0] != 0 && crt.serial.p[0] < 0x80);
	assert_int_equal(strlen(cert.serial), 2 * ENROLL_SERIAL_BYTES);
	assert_string_equal(info.serial, cert.serial);

	/* Valid from a minute ago for DAYS days. */
	expect_time(&crt.valid_from, now - 60);
	expect_time(&crt.valid_to, now + (int64_t)DAYS * 86400);

	/* It certifies the CSR's key. */
	assert_int_equal(mbedtls_x509_csr_parse_der(&csr, buf, len), 0);
	n1 = mbedtls_pk_write_pubkey_der(&csr.pk, pub_csr, sizeof(pub_csr));
	n2 = mbedtls_pk_write_pubkey_der(&crt.pk, pub_crt, sizeof(pub_crt));
	assert_true(n1 > 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(pub_csr + sizeof(pub_csr) - n1, pub_crt + sizeof(pub_crt) - n2,
	                    (size_t)n1);
	enroll_cert_free(&cert);

	/* Serials are fresh; a CSR that fails its checks is never signed. */
	{
		struct enroll_cert again;
		char first[STORE_SERIAL_MAX];

		snprintf(first, sizeof(first), "%s", info.serial);
		assert_int_equal(enroll_issue(ca, buf, len, NODE, DAYS, now, &again), ENROLL_OK);
		assert_string_not_equal(again.serial, first);
		enroll_cert_free(&again);
		assert_int_equal(enroll_issue(ca, buf, len, "u-kma02", DAYS, now, &again),
		                 ENROLL_ERR_CSR_NAME);
		assert_null(again.der);
		enroll_cert_free(&again);
	}
	mbedtls_x509_csr_free(&csr);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&cacrt);
	enroll_ca_free(ca);
}

static void test_token_format(void **state)
{
	char t1[ENROLL_TOKEN_HEX], t2[ENROLL_TOKEN_HEX], h1[STORE_TOKEN_HASH_MAX],
	    h2[STORE_TOKEN_HASH_MAX];

	(void)state;
	assert_int_equal(enroll_token_new(t1, h1), 0);
	assert_int_equal(enroll_token_new(t2, h2), 0);
	assert_int_equal(strlen(t1), 64);
	assert_int_equal(strspn(t1, "0123456789abcdef"), 64);
	assert_string_not_equal(t1, t2);
	assert_string_not_equal(h1, h2);
	assert_int_equal(strlen(h1), 64);
	/* The stored form is the SHA-256 of the text (FIPS 180-2 example "abc"). */
	enroll_token_hash("abc", h1);
	assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static struct store *open_store(void)
{
	struct store *st = NULL;

	unlink(path_db);
	assert_int_equal(store_open(path_db, &st), STORE_OK);
	return st;
}

static void add_node(struct store *st, const char *id, const char *hash, int64_t expires_at)
{
	struct store_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.node_id, sizeof(n.node_id), "%s", id);
	snprintf(n.name, sizeof(n.name), "%s", id);
	snprintf(n.address, sizeof(n.address), "%s:9443", id);
	assert_int_equal(store_node_add_with_token(st, &n, 100, hash, expires_at), STORE_OK);
}

static void test_token_store(void **state)
{
	struct store *st = open_store();
	char ta[ENROLL_TOKEN_HEX], ha[STORE_TOKEN_HASH_MAX], tb[ENROLL_TOKEN_HEX],
	    hb[STORE_TOKEN_HASH_MAX], tc[ENROLL_TOKEN_HEX], hc[STORE_TOKEN_HASH_MAX];
	struct store_enrolment *hist = NULL;
	struct store_node n;
	uint64_t v0, v1;
	size_t count = 0;

	(void)state;
	assert_int_equal(enroll_token_new(ta, ha), 0);
	assert_int_equal(enroll_token_new(tb, hb), 0);
	add_node(st, "a-kma01", ha, 1000);
	add_node(st, "u-kma02", hb, 1000);

	/* Every refusal has its own status, and none writes anything. */
	assert_int_equal(store_token_check(st, ha, "a-kma01", 999), STORE_OK);
	assert_int_equal(store_token_check(st, hb, "a-kma01", 999), STORE_TOKEN_OTHER_NODE);
	assert_int_equal(store_token_check(st, "00", "a-kma01", 999), STORE_TOKEN_UNKNOWN);
	assert_int_equal(store_token_check(st, ha, "a-kma01", 1000), STORE_TOKEN_EXPIRED);
	assert_int_equal(store_peer_table_version(st, &v0), STORE_OK);
	assert_int_equal(store_token_redeem(st, ha, "a-kma01", "7F01", NULL, 0, 1000),
	                 STORE_TOKEN_EXPIRED);
	assert_int_equal(store_token_redeem(st, hb, "a-kma01", "7F01", NULL, 0, 999),
	                 STORE_TOKEN_OTHER_NODE);
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "");
	assert_int_equal(store_peer_table_version(st, &v1), STORE_OK);
	assert_int_equal(v1, v0);

	/* Redeemed once: serial recorded with history "quickstart", version bumped. */
	assert_int_equal(store_token_redeem(st, ha, "a-kma01", "7F01", NULL, 0, 999), STORE_OK);
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "7F01");
	assert_int_equal(store_enrolments(st, "a-kma01", &hist, &count), STORE_OK);
	assert_int_equal(count, 1);
	assert_string_equal(hist[0].serial, "7F01");
	assert_string_equal(hist[0].how, "quickstart");
	assert_int_equal(hist[0].at, 999);
	free(hist);
	assert_int_equal(store_peer_table_version(st, &v1), STORE_OK);
	assert_int_equal(v1, v0 + 1);
	/* ... and never again, even before it would expire. */
	assert_int_equal(store_token_check(st, ha, "a-kma01", 500), STORE_TOKEN_USED);
	assert_int_equal(store_token_redeem(st, ha, "a-kma01", "7F02", NULL, 0, 500),
	                 STORE_TOKEN_USED);
	assert_int_equal(store_node_get(st, "a-kma01", &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, "7F01");

	/* A new token voids the unused one; a used one stays told apart as used. */
	assert_int_equal(enroll_token_new(tc, hc), 0);
	assert_int_equal(store_token_issue(st, "u-kma02", hc, 5000), STORE_OK);
	assert_int_equal(store_token_check(st, hb, "u-kma02", 999), STORE_TOKEN_UNKNOWN);
	assert_int_equal(store_token_check(st, hc, "u-kma02", 4999), STORE_OK);
	assert_int_equal(store_token_issue(st, "a-kma01", hc, 5000), STORE_OK);
	assert_int_equal(store_token_check(st, ha, "a-kma01", 999), STORE_TOKEN_USED);
	assert_int_equal(store_token_issue(st, "nobody", hb, 5000), STORE_NOT_FOUND);

	/* A deleted node's tokens are gone with it. */
	assert_int_equal(enroll_token_new(tc, hc), 0);
	assert_int_equal(store_token_issue(st, "u-kma02", hc, 5000), STORE_OK);
	assert_int_equal(store_node_delete(st, "u-kma02"), STORE_OK);
	assert_int_equal(store_token_check(st, hc, "u-kma02", 999), STORE_TOKEN_UNKNOWN);
	store_close(st);

	/* Used state survives reopening (it is in the file, not in memory). */
	assert_int_equal(store_open(path_db, &st), STORE_OK);
	assert_int_equal(store_token_check(st, ha, "a-kma01", 999), STORE_TOKEN_USED);
	store_close(st);
}

/* Packs an EnrollRequest. */
static size_t pack_request(const char *node_id, const char *token, const unsigned char *csr,
                           size_t csr_len, unsigned char *out, size_t size)
{
	Kma__V1__EnrollRequest req = KMA__V1__ENROLL_REQUEST__INIT;

	req.node_id = (char *)node_id;
	req.token = (char *)token;
	req.csr_der = (ProtobufCBinaryData){csr_len, (uint8_t *)csr};
	req.generation = 2;
	assert_true(kma__v1__enroll_request__get_packed_size(&req) <= size);
	return kma__v1__enroll_request__pack(&req, out);
}

/* POST /v1/enroll for node_id with token and a CSR of kind/subject; returns the status. */
static int post(struct enroll_ca *ca, struct store *st, const char *node_id, const char *token,
                enum key_kind kind, const char *subject, int64_t now, struct enroll_outcome *out)
{
	unsigned char csr[4096], body[8192];
	size_t csr_len = make_csr(kind, subject, csr, sizeof(csr));
	size_t len = pack_request(node_id, token, csr, csr_len, body, sizeof(body));

	enroll_handle(ca, st, NULL, DAYS, "unit-cluster", "test", body, len, now, out);
	return out->status;
}

static void test_handle(void **state)
{
	struct enroll_ca *ca = load_ca();
	struct store *st = open_store();
	char ta[ENROLL_TOKEN_HEX], ha[STORE_TOKEN_HASH_MAX], tu[ENROLL_TOKEN_HEX],
	    hu[STORE_TOKEN_HASH_MAX], token_copy[ENROLL_TOKEN_HEX];
	struct enroll_outcome out;
	Kma__V1__EnrollReply *rep;
	struct store_node n;
	mbedtls_x509_crt crt;
	struct certinfo info;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	assert_int_equal(enroll_token_new(ta, ha), 0);
	assert_int_equal(enroll_token_new(tu, hu), 0);
	snprintf(token_copy, sizeof(token_copy), "%s", ta);
	add_node(st, "a-kma01", ha, now + 3600);
	add_node(st, "u-kma02", hu, now + 3600);

	/* No CA: 503, whatever the body. */
	enroll_handle(NULL, st, NULL, DAYS, "kma", "test", (const unsigned char *)"", 0, now, &out);
	assert_int_equal(out.status, 503);
	assert_non_null(strstr(out.reason, "no ca_key"));
	/* 400 before anything else. */
	enroll_handle(ca, st, NULL, DAYS, "kma", "test", (const unsigned char *)"\xff\xff\xff", 3,
	              now, &out);
	assert_int_equal(out.status, 400);
	{
		unsigned char body[256];
		size_t len =
		    pack_request(NODE, ta, (const unsigned char *)"junk", 4, body, sizeof(body));

		enroll_handle(ca, st, NULL, DAYS, "kma", "test", body, len, now, &out);
		assert_int_equal(out.status, 400);
		assert_string_equal(out.reason, "the CSR does not parse");
	}
	/*
	 * What costs nothing comes before the token: a key other than P-256 (422) and a weak
	 * hash (400) are refused without one (issue 16, items 2 and 7).
	 */
	assert_int_equal(post(ca, st, NODE, "", KEY_RSA, "CN=x", now, &out), 422);
	assert_string_equal(out.reason, "the CSR's key is not ECDSA P-256");
	{
		unsigned char csr[4096], body[8192];
		size_t csr_len =
		    make_csr_md(KEY_P256, "CN=" NODE, MBEDTLS_MD_SHA1, csr, sizeof(csr));
		size_t len = pack_request(NODE, ta, csr, csr_len, body, sizeof(body));

		enroll_handle(ca, st, NULL, DAYS, "kma", "test", body, len, now, &out);
		assert_int_equal(out.status, 400);
		assert_non_null(strstr(out.reason, "SHA-256 or stronger"));
		/* The token before any signature is verified: a bad one is 403, not 400. */
		csr_len = make_csr(KEY_P256, "CN=" NODE, csr, sizeof(csr));
		csr[csr_len - 1] ^= 0x01;
		len = pack_request(NODE, "0123", csr, csr_len, body, sizeof(body));
		enroll_handle(ca, st, NULL, DAYS, "kma", "test", body, len, now, &out);
		assert_int_equal(out.status, 403);
		len = pack_request(NODE, ta, csr, csr_len, body, sizeof(body));
		enroll_handle(ca, st, NULL, DAYS, "kma", "test", body, len, now, &out);
		assert_int_equal(out.status, 400);
		assert_string_equal(out.reason, "the CSR's signature does not verify");
	}
	/* 403, one message per cause; a bad token is judged before the CSR's name. */
	assert_int_equal(post(ca, st, NODE, "0123", KEY_P256, "CN=" NODE, now, &out), 403);
	assert_string_equal(out.reason, "unknown enrolment token");
	assert_int_equal(post(ca, st, NODE, "", KEY_P256, "CN=x", now, &out), 403);
	assert_int_equal(post(ca, st, NODE, tu, KEY_P256, "CN=" NODE, now, &out), 403);
	assert_string_equal(out.reason, "the enrolment token is for another node");
	assert_int_equal(post(ca, st, NODE, ta, KEY_P256, "CN=" NODE, now + 3600, &out), 403);
	assert_string_equal(out.reason, "the enrolment token has expired");
	/* 422 with a good token, which stays unused. */
	assert_int_equal(post(ca, st, NODE, ta, KEY_P256, "CN=u-kma02", now, &out), 422);
	assert_string_equal(out.reason, "the CSR's subject CN is not the node ID");
	assert_int_equal(post(ca, st, NODE, ta, KEY_RSA, "CN=" NODE, now, &out), 422);
	assert_string_equal(out.reason, "the CSR's key is not ECDSA P-256");

	/* 200: the reply carries the leaf, the CA, the serial the store now enrols. */
	assert_int_equal(post(ca, st, NODE, ta, KEY_P256, "CN=" NODE, now, &out), 200);
	rep = kma__v1__enroll_reply__unpack(NULL, out.reply_len, out.reply);
	assert_non_null(rep);
	assert_true(rep->ok);
	assert_int_equal(rep->n_cert_chain_der, 1);
	assert_int_equal(rep->n_ca_der, 1);
	assert_string_equal(rep->cluster_id, "unit-cluster");
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_der(&crt, rep->cert_chain_der[0].data,
	                                            rep->cert_chain_der[0].len),
	                 0);
	certinfo_from_crt(&crt, &info);
	assert_string_equal(info.serial, rep->serial);
	assert_int_equal(store_node_get(st, NODE, &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, rep->serial);
	mbedtls_x509_crt_free(&crt);
	kma__v1__enroll_reply__free_unpacked(rep, NULL);
	free(out.reply);

	/* Single use. */
	assert_int_equal(post(ca, st, NODE, token_copy, KEY_P256, "CN=" NODE, now, &out), 403);
	assert_string_equal(out.reason, "the enrolment token was already used");
	store_close(st);
	enroll_ca_free(ca);
}

static void test_config(void **state)
{
	struct coord_config cfg;
	struct coord_config_error err;
	char path[256];
	static const char *const bad[] = {
	    "[coord]\ntoken_ttl = 59\n",
	    "[coord]\ntoken_ttl = 604801\n",
	    "[coord]\ncert_days = 0\n",
	    "[coord]\ncert_days = 3651\n",
	    "[coord]\nca_key =\n",
	    /* 65 bytes: one too many */
	    ("[coord]\ncluster_id = "
	     "01234567890123456789012345678901234567890123456789012345678901234\n"),
	};

	(void)state;
	snprintf(path, sizeof(path), "%s/coord.conf", dir);
	write_file(path, "[coord]\n", 8, 0644);
	coord_config_defaults(&cfg);
	assert_int_equal(coord_config_load(&cfg, path, &err), 0);
	assert_string_equal(cfg.ca_key, "");
	assert_int_equal(cfg.token_ttl_s, 3600);
	assert_int_equal(cfg.cert_days, 825);
	assert_string_equal(cfg.cluster_id, "kma");
	{
		const char *good = "[coord]\nca_key = /x/ca.key\ntoken_ttl = 60\ncert_days = 3650\n"
		                   "cluster_id = lab\n";

		write_file(path, good, strlen(good), 0644);
	}
	coord_config_defaults(&cfg);
	assert_int_equal(coord_config_load(&cfg, path, &err), 0);
	assert_string_equal(cfg.ca_key, "/x/ca.key");
	assert_int_equal(cfg.token_ttl_s, 60);
	assert_int_equal(cfg.cert_days, 3650);
	assert_string_equal(cfg.cluster_id, "lab");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], strlen(bad[i]), 0644);
		coord_config_defaults(&cfg);
		if (coord_config_load(&cfg, path, &err) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(err.line, 2);
	}
}

/* POST /v1/enroll for node_id with token and a new CSR of key for subject. */
static int post_key(struct enroll_ca *ca, struct store *st, const char *node_id, const char *token,
                    mbedtls_pk_context *key, const char *subject, int64_t now,
                    struct enroll_outcome *out)
{
	unsigned char csr[4096], body[8192];
	size_t csr_len = csr_of_key(key, subject, MBEDTLS_MD_SHA256, csr, sizeof(csr));
	size_t len = pack_request(node_id, token, csr, csr_len, body, sizeof(body));

	enroll_handle(ca, st, NULL, DAYS, "unit-cluster", "test", body, len, now, out);
	return out->status;
}

/* The leaf certificate of a 200's EnrollReply, into der (at most size bytes); its length. */
static size_t reply_leaf(const struct enroll_outcome *out, unsigned char *der, size_t size,
                         char *serial, size_t serial_size)
{
	Kma__V1__EnrollReply *rep = kma__v1__enroll_reply__unpack(NULL, out->reply_len, out->reply);
	size_t len;

	assert_non_null(rep);
	assert_true(rep->ok);
	assert_int_equal(rep->n_cert_chain_der, 1);
	assert_int_equal(rep->n_ca_der, 1);
	len = rep->cert_chain_der[0].len;
	assert_true(len <= size);
	memcpy(der, rep->cert_chain_der[0].data, len);
	snprintf(serial, serial_size, "%s", rep->serial);
	kma__v1__enroll_reply__free_unpacked(rep, NULL);
	return len;
}

/*
 * The answer to an enrolment is lost after the token was used (the coordinator killed
 * between its commit and its reply, the connection cut): the node, which has no certificate,
 * asks again with the same token and the same key, across a restart of the coordinator,
 * and gets the same certificate; nothing is issued or recorded again. Anyone else with
 * that token (another key, another node's name), or after the token's expiry, or once the
 * node enrolled another serial, still gets the used token's 403.
 */
static void test_lost_answer(void **state)
{
	struct enroll_ca *ca = load_ca();
	struct store *st = open_store();
	char ta[ENROLL_TOKEN_HEX], ha[STORE_TOKEN_HASH_MAX], tb[ENROLL_TOKEN_HEX],
	    hb[STORE_TOKEN_HASH_MAX], s1[STORE_SERIAL_MAX], s2[STORE_SERIAL_MAX];
	unsigned char c1[4096], c2[4096];
	size_t l1, l2, count = 0;
	struct store_enrolment *hist = NULL;
	struct enroll_outcome out;
	mbedtls_pk_context key, other;
	struct store_node n;
	uint64_t v0, v1;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	gen_key(&key, KEY_P256);
	gen_key(&other, KEY_P256);
	assert_int_equal(enroll_token_new(ta, ha), 0);
	add_node(st, NODE, ha, now + 3600);
	assert_int_equal(post_key(ca, st, NODE, ta, &key, "CN=" NODE, now, &out), 200);
	l1 = reply_leaf(&out, c1, sizeof(c1), s1, sizeof(s1));
	free(out.reply);
	assert_int_equal(store_peer_table_version(st, &v0), STORE_OK);
	/* The coordinator restarts on the same database. */
	store_close(st);
	assert_int_equal(store_open(path_db, &st), STORE_OK);

	assert_int_equal(post_key(ca, st, NODE, ta, &key, "CN=" NODE, now + 5, &out), 200);
	l2 = reply_leaf(&out, c2, sizeof(c2), s2, sizeof(s2));
	free(out.reply);
	assert_string_equal(s2, s1);
	assert_int_equal(l2, l1);
	assert_memory_equal(c2, c1, l1);
	assert_int_equal(store_node_get(st, NODE, &n), STORE_OK);
	assert_string_equal(n.enrolled_serial, s1);
	assert_int_equal(store_enrolments(st, NODE, &hist, &count), STORE_OK);
	assert_int_equal(count, 1);
	free(hist);
	assert_int_equal(store_peer_table_version(st, &v1), STORE_OK);
	assert_int_equal(v1, v0);

	/* Not for another key, another name, or past the token's validity. */
	assert_int_equal(post_key(ca, st, NODE, ta, &other, "CN=" NODE, now + 5, &out), 403);
	assert_string_equal(out.reason, "the enrolment token was already used");
	assert_int_equal(post_key(ca, st, NODE, ta, &key, "CN=u-kma02", now + 5, &out), 403);
	assert_string_equal(out.reason, "the enrolment token was already used");
	assert_int_equal(post_key(ca, st, NODE, ta, &key, "CN=" NODE, now + 3600, &out), 403);
	/* Not once the node enrolled another serial: that certificate is superseded. */
	assert_int_equal(enroll_token_new(tb, hb), 0);
	assert_int_equal(store_token_issue(st, NODE, hb, now + 3600), STORE_OK);
	assert_int_equal(post_key(ca, st, NODE, tb, &other, "CN=" NODE, now + 10, &out), 200);
	free(out.reply);
	assert_int_equal(post_key(ca, st, NODE, ta, &key, "CN=" NODE, now + 10, &out), 403);
	assert_string_equal(out.reason, "the enrolment token was already used");
	/* Nor to the new token's own key, under the old token. */
	assert_int_equal(post_key(ca, st, NODE, ta, &other, "CN=" NODE, now + 10, &out), 403);

	mbedtls_pk_free(&key);
	mbedtls_pk_free(&other);
	store_close(st);
	enroll_ca_free(ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_csr_table),    cmocka_unit_test(test_csr_garbage),
	    cmocka_unit_test(test_ca_load),      cmocka_unit_test(test_issue),
	    cmocka_unit_test(test_token_format), cmocka_unit_test(test_token_store),
	    cmocka_unit_test(test_handle),       cmocka_unit_test(test_config),
	    cmocka_unit_test(test_lost_answer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
