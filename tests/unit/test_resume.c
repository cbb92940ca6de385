/*
 * Session resumption between probes, over real loopback sockets, both sides driven from this
 * thread: a second probe resumes (and both sides say so), a restarted peer (new ticket key)
 * gets a full, verified handshake, a re-keyed peer is caught as peer_serial_mismatch although
 * a session was saved, a changed peer table stops resumption on either side, the forced full
 * handshake comes at the interval, and [mesh] full_handshake_interval is validated.
 * No assertion depends on timing: the interval is tested with an explicit clock value.
 *
 * The CRL the same way (tlsctx_set_crl between probes): a revoked peer is caught in either
 * direction, and on a resumed session too; a CRL past its nextUpdate still revokes and fails
 * nobody else; a CRL our CA did not sign is refused and the one before stays.
 */

#include "mbedcompat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/entropy.h>
#include <mbedtls/x509_crt.h>

#include "config.h"
#include "crl.h"
#include "log.h"
#include "probe.h"
#include "probe_pair.h"
#include "tlsctx.h"

#define SERIAL_OLD "E2207FDBA432E9010000000000000084" /* tests/data/a-kma01.pem */
#define SERIAL_NEW "E2207FDBA432E9010000000000000085" /* made below: same node, new key */

static char dir[256], data[512];
static char new_cert[300], new_key[300];
static char enrolled[130]; /* what the server's peer table enrols for a-kma01 */

/* ---- material ---- */

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", data, name);
}

static void write_file(const char *path, const unsigned char *buf)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs((const char *)buf, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* a-kma01 QuickStarted and not rejoined: a new key and serial, same node ID, same CA. */
static void make_rekeyed(void)
{
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context key, ca_key;
	mbedtls_x509write_cert w;
	unsigned char pem[4096], ca_buf[4096];
	/* SERIAL_NEW; the leading 00 keeps the DER integer positive on either library line. */
	static const unsigned char serial[] = {0x00, 0xE2, 0x20, 0x7F, 0xDB, 0xA4, 0x32, 0xE9, 0x01,
	                                       0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x85};
	char ca_key_path[600];
	FILE *f;
	size_t n;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_pk_init(&key);
	mbedtls_pk_init(&ca_key);
	mbedtls_x509write_crt_init(&w);
	assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
	path_of(ca_key_path, sizeof(ca_key_path), "ca.key");
	f = fopen(ca_key_path, "r");
	assert_non_null(f);
	n = fread(ca_buf, 1, sizeof(ca_buf) - 1, f);
	fclose(f);
	ca_buf[n] = '\0';
	assert_int_equal(kma_pk_parse_key(&ca_key, ca_buf, n + 1, &drbg), 0);
	assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
	                                     mbedtls_ctr_drbg_random, &drbg),
	                 0);
	mbedtls_x509write_crt_set_subject_key(&w, &key);
	mbedtls_x509write_crt_set_issuer_key(&w, &ca_key);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, "O=Example Cluster,CN=a-kma01"),
	                 0);
	assert_int_equal(
	    mbedtls_x509write_crt_set_issuer_name(&w, "O=Example Cluster,CN=Example Cluster CA"),
	    0);
	assert_int_equal(kma_x509write_crt_set_serial(&w, serial, sizeof(serial)), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20000101000000", "21000101000000"),
	                 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1), 0);
	assert_int_equal(mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
	                 0);
	assert_int_equal(
	    mbedtls_x509write_crt_pem(&w, pem, sizeof(pem), mbedtls_ctr_drbg_random, &drbg), 0);
	write_file(new_cert, pem);
	assert_int_equal(mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)), 0);
	write_file(new_key, pem);
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&ca_key);
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
}

/* A node's TLS context: a-kma01's old (or re-keyed) identity, resumption as asked. */
static void node(struct tlsctx *t, bool rekeyed, uint32_t resume_s)
{
	char err[256], ca[600], cert[600], key[600];

	path_of(ca, sizeof(ca), "ca.pem");
	path_of(cert, sizeof(cert), "a-kma01.pem");
	path_of(key, sizeof(key), "a-kma01.key");
	tlsctx_init(t);
	assert_int_equal(tlsctx_load_files(t, rekeyed ? new_key : key, rekeyed ? new_cert : cert,
	                                   ca, NULL, err, sizeof(err)),
	                 TLSCTX_OK);
	assert_int_equal(tlsctx_setup(t, err, sizeof(err)), TLSCTX_OK);
	if (resume_s)
		assert_int_equal(tlsctx_enable_resumption(t, resume_s, err, sizeof(err)),
		                 TLSCTX_OK);
}

/* ---- one probe, both sides ---- */

static bool lookup(void *arg, const char *node_id, char *serial, size_t size)
{
	(void)arg;
	if (strcmp(node_id, "a-kma01") != 0)
		return false;
	snprintf(serial, size, "%s", enrolled);
	return true;
}

struct result {
	struct probe_obs c, s; /* client (outbound) and server (inbound) observations */
};

/*
 * One probe from a client with cli (expecting a-kma01 with expect_serial, resuming from
 * sess) to a server with srv, whose peer table enrols `enrolled` for a-kma01.
 */
static struct result probe_once(struct tlsctx *cli, struct tlsctx *srv, const char *expect_serial,
                                struct probe_session *sess)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	struct probe c, s;
	struct probe_expect ec = {.node_id = "a-kma01", .serial = expect_serial, .session = sess};
	struct probe_expect es = {.lookup = lookup};
	struct result r;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
	probe_connect(&c, cli, (struct sockaddr *)&addr, sizeof(addr), "test", &ec, 10000);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	close(lfd);
	probe_accept(&s, srv, fd, "127.0.0.1:1", &es, 10000);
	probe_pair_run(&c, &s);
	r.c = *probe_result(&c);
	r.s = *probe_result(&s);
	probe_free(&c);
	probe_free(&s);
	return r;
}

static void assert_ok_full(const struct result *r)
{
	assert_string_equal(kma_cause_id(r->c.cause), "ok");
	assert_string_equal(kma_cause_id(r->s.cause), "ok");
	assert_false(r->c.resumed);
	assert_false(r->s.resumed);
}

static void assert_ok_resumed(const struct result *r, const char *serial)
{
	assert_string_equal(kma_cause_id(r->c.cause), "ok");
	assert_string_equal(kma_cause_id(r->s.cause), "ok");
	assert_true(r->c.offered);
	assert_true(r->c.resumed);
	assert_true(r->s.resumed);
	/* Both observations still name the certificate verified at the full handshake. */
	assert_true(r->c.has_cert);
	assert_true(r->s.has_cert);
	assert_string_equal(r->c.cert.serial, serial);
	assert_string_equal(r->s.cert.serial, serial);
	assert_string_equal(r->c.cert.node_id, "a-kma01");
	assert_string_equal(r->s.cert.node_id, "a-kma01");
	assert_string_equal(r->s.expect_serial, serial);
	assert_non_null(strstr(r->c.detail, "resuming"));
}

/* ---- cases ---- */

/* (a) A second probe to the same peer resumes, and both sides agree; so does a third. */
static void test_second_probe_resumes(void **state)
{
	struct tlsctx a, b;
	struct probe_session sess;
	struct result r;

	(void)state;
	node(&a, false, 300);
	node(&b, false, 300);
	probe_session_init(&sess);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	assert_false(r.c.offered);
	assert_true(sess.valid);
	assert_string_equal(sess.serial, SERIAL_OLD);
	assert_string_equal(sess.node_id, "a-kma01");
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_resumed(&r, SERIAL_OLD);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_resumed(&r, SERIAL_OLD);
	assert_int_equal(sess.resumed, 2);
	probe_session_free(&sess);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/* (b) The peer restarted (a new process: a new ticket key): a full handshake, verified. */
static void test_restarted_peer_full(void **state)
{
	struct tlsctx a, b, b2;
	struct probe_session sess;
	struct result r;

	(void)state;
	node(&a, false, 300);
	node(&b, false, 300);
	probe_session_init(&sess);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	tlsctx_free(&b);
	node(&b2, false, 300);
	r = probe_once(&a, &b2, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	assert_true(r.c.offered); /* ours was offered and refused */
	assert_string_equal(r.c.cert.serial, SERIAL_OLD);
	assert_string_equal(r.s.cert.serial, SERIAL_OLD);
	assert_non_null(strstr(r.c.detail, "full handshake"));
	/* The new peer's session is saved: the next probe resumes with it. */
	assert_true(sess.valid);
	r = probe_once(&a, &b2, SERIAL_OLD, &sess);
	assert_ok_resumed(&r, SERIAL_OLD);
	probe_session_free(&sess);
	tlsctx_free(&b2);
	tlsctx_free(&a);
}

/* (c) The peer was re-keyed under the same node ID: caught, the saved session no help. */
static void test_rekeyed_peer_caught(void **state)
{
	struct tlsctx a, b, b2;
	struct probe_session sess;
	struct result r;

	(void)state;
	node(&a, false, 300);
	node(&b, false, 300);
	probe_session_init(&sess);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	assert_true(sess.valid);
	tlsctx_free(&b);
	node(&b2, true, 300);
	r = probe_once(&a, &b2, SERIAL_OLD, &sess);
	assert_true(r.c.offered);
	assert_false(r.c.resumed);
	assert_string_equal(kma_cause_id(r.c.cause), "peer_serial_mismatch");
	assert_string_equal(r.c.cert.serial, SERIAL_NEW);
	assert_string_equal(r.c.expect_serial, SERIAL_OLD);
	assert_int_equal(r.c.alert_sent, 49);
	assert_string_equal(kma_cause_id(r.s.cause), "rejected_by_peer");
	assert_false(sess.valid); /* a failure drops it */
	/* And again, now without a session to offer: still caught. */
	r = probe_once(&a, &b2, SERIAL_OLD, &sess);
	assert_false(r.c.offered);
	assert_string_equal(kma_cause_id(r.c.cause), "peer_serial_mismatch");
	probe_session_free(&sess);
	tlsctx_free(&b2);
	tlsctx_free(&a);
}

/*
 * The client's table now enrols another serial for the peer (the peer did not change): the
 * session verified against the old serial is not offered, the full handshake says why.
 */
static void test_client_table_change_no_resume(void **state)
{
	struct tlsctx a, b;
	struct probe_session sess;
	struct result r;

	(void)state;
	node(&a, false, 300);
	node(&b, false, 300);
	probe_session_init(&sess);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	r = probe_once(&a, &b, SERIAL_NEW, &sess);
	assert_false(r.c.offered);
	assert_false(r.c.resumed);
	assert_string_equal(kma_cause_id(r.c.cause), "peer_serial_mismatch");
	assert_false(sess.valid);
	probe_session_free(&sess);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/*
 * The server's table now enrols another serial for the client: its own ticket is refused,
 * the full handshake that follows catches the client's serial.
 */
static void test_server_table_change_no_resume(void **state)
{
	struct tlsctx a, b;
	struct probe_session sess;
	struct result r;

	(void)state;
	node(&a, false, 300);
	node(&b, false, 300);
	probe_session_init(&sess);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	snprintf(enrolled, sizeof(enrolled), "%s", SERIAL_NEW);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	snprintf(enrolled, sizeof(enrolled), "%s", SERIAL_OLD);
	assert_true(r.c.offered);
	assert_false(r.s.resumed);
	assert_string_equal(kma_cause_id(r.s.cause), "peer_serial_mismatch");
	assert_string_equal(r.s.cert.serial, SERIAL_OLD);
	assert_string_equal(r.s.expect_serial, SERIAL_NEW);
	assert_string_equal(kma_cause_id(r.c.cause), "rejected_by_peer");
	/* TLS 1.3: the Mbed TLS server's alert comes sealed with keys the client has left. */
	assert_int_equal(r.c.alert_received, KMA_HAVE_TLS13 ? -1 : 49);
	assert_false(sess.valid);
	probe_session_free(&sess);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/* (d) The forced full handshake: at the interval, not a millisecond before. */
static void test_forced_full_at_interval(void **state)
{
	const uint64_t interval = 300 * 1000;
	struct tlsctx a, b;
	struct probe_session sess;
	struct result r;
	uint64_t full;

	(void)state;
	node(&a, false, 300);
	node(&b, false, 300);
	probe_session_init(&sess);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	full = sess.full_ms;
	probe_session_expire(&sess, full + interval - 1, interval);
	assert_true(sess.valid);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_resumed(&r, SERIAL_OLD);
	probe_session_expire(&sess, full + interval, interval);
	assert_false(sess.valid);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	assert_false(r.c.offered);
	assert_true(sess.valid);
	assert_true(sess.full_ms >= full);
	assert_int_equal(sess.resumed, 0);
	probe_session_free(&sess);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/* Resumption off on the server (full_handshake_interval = 0): every probe is full. */
static void test_server_without_resumption(void **state)
{
	struct tlsctx a, b;
	struct probe_session sess;
	struct result r;

	(void)state;
	node(&a, false, 300);
	node(&b, false, 0);
	probe_session_init(&sess);
	for (int i = 0; i < 3; i++) {
		r = probe_once(&a, &b, SERIAL_OLD, &sess);
		assert_ok_full(&r);
	}
	probe_session_free(&sess);
	probe_session_free(&sess); /* twice is safe */
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/* ---- the CRL ---- */

/*
 * Gives t a CRL revoking serial, of our CA (or signed by another key under its name: forged),
 * with this_update and next_update; returns tlsctx_set_crl's verdict.
 */
static enum tlsctx_status crl_for(struct tlsctx *t, const char *serial, int64_t this_update,
                                  int64_t next_update, bool forged)
{
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context key;
	mbedtls_x509_crt ca;
	unsigned char buf[4096], *der = NULL, number[] = {1};
	const struct crl_entry e = {serial, this_update};
	struct crl_params p = {this_update, next_update, number, sizeof(number), &e, 1};
	char path[600], why[320];
	enum tlsctx_status st;
	size_t len = 0;
	FILE *f;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_pk_init(&key);
	mbedtls_x509_crt_init(&ca);
	assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
	path_of(path, sizeof(path), "ca.pem");
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, path), 0);
	path_of(path, sizeof(path), forged ? "other-ca.key" : "ca.key");
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	assert_int_equal(kma_pk_parse_key(&key, buf, len + 1, &drbg), 0);
	assert_int_equal(crl_write(&ca, &key, &drbg, &p, &der, &len, why, sizeof(why)), CRL_OK);
	st = tlsctx_set_crl(t, der, len, why, sizeof(why));
	free(der);
	mbedtls_x509_crt_free(&ca);
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return st;
}

/* A peer on our CRL, either way: peer_cert_revoked, alert 44 certificate_revoked. */
static void test_crl_revokes(void **state)
{
	struct tlsctx a, b;
	struct result r;
	time_t now = time(NULL);

	(void)state;
	node(&a, false, 0);
	node(&b, false, 0);
	assert_int_equal(crl_for(&a, SERIAL_OLD, now - 60, now + 86400, false), TLSCTX_OK);
	r = probe_once(&a, &b, SERIAL_OLD, NULL);
	assert_string_equal(kma_cause_id(r.c.cause), "peer_cert_revoked");
	assert_true(r.c.verify_flags & MBEDTLS_X509_BADCERT_REVOKED);
	assert_int_equal(r.c.alert_sent, 44);
	assert_string_equal(kma_cause_id(r.s.cause), "rejected_by_peer");
	assert_int_equal(r.s.alert_received, 44);
	/* Inbound: the server's CRL catches the client. */
	assert_int_equal(tlsctx_set_crl(&a, NULL, 0, NULL, 0), TLSCTX_OK);
	assert_int_equal(crl_for(&b, SERIAL_OLD, now - 60, now + 86400, false), TLSCTX_OK);
	r = probe_once(&a, &b, SERIAL_OLD, NULL);
	assert_string_equal(kma_cause_id(r.s.cause), "peer_cert_revoked");
	assert_string_equal(kma_cause_id(r.c.cause), "rejected_by_peer");
	/* Cleared: the same peer passes. */
	assert_int_equal(tlsctx_set_crl(&b, NULL, 0, NULL, 0), TLSCTX_OK);
	r = probe_once(&a, &b, SERIAL_OLD, NULL);
	assert_ok_full(&r);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/* A session verified before the CRL came does not carry a revoked peer past it. */
static void test_crl_resumed(void **state)
{
	struct tlsctx a, b;
	struct probe_session sess;
	struct result r;
	time_t now = time(NULL);

	(void)state;
	node(&a, false, 300);
	node(&b, false, 300);
	probe_session_init(&sess);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_ok_full(&r);
	assert_true(sess.valid);
	assert_int_equal(crl_for(&a, SERIAL_OLD, now - 60, now + 86400, false), TLSCTX_OK);
	r = probe_once(&a, &b, SERIAL_OLD, &sess);
	assert_true(r.c.resumed);
	assert_string_equal(kma_cause_id(r.c.cause), "peer_cert_revoked");
	assert_int_equal(r.c.alert_sent, 44);
	assert_false(sess.valid);
	probe_session_free(&sess);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/*
 * A CRL whose nextUpdate has passed (the coordinator unreachable for long) still revokes what
 * it lists and fails nobody else; one whose thisUpdate is ahead of our clock neither.
 */
static void test_crl_expiry_not_held(void **state)
{
	struct tlsctx a, b;
	struct result r;
	time_t now = time(NULL);

	(void)state;
	node(&a, false, 0);
	node(&b, false, 0);
	assert_int_equal(crl_for(&a, "0E0000000000000000000000000000D3", now - 200 * 86400,
	                         now - 100 * 86400, false),
	                 TLSCTX_OK);
	r = probe_once(&a, &b, SERIAL_OLD, NULL);
	assert_ok_full(&r);
	assert_int_equal(r.c.verify_flags, 0);
	assert_int_equal(crl_for(&a, SERIAL_OLD, now - 200 * 86400, now - 100 * 86400, false),
	                 TLSCTX_OK);
	r = probe_once(&a, &b, SERIAL_OLD, NULL);
	assert_string_equal(kma_cause_id(r.c.cause), "peer_cert_revoked");
	assert_int_equal(r.c.verify_flags, MBEDTLS_X509_BADCERT_REVOKED);
	assert_int_equal(
	    crl_for(&a, "0E0000000000000000000000000000D3", now + 86400, now + 90 * 86400, false),
	    TLSCTX_OK);
	r = probe_once(&a, &b, SERIAL_OLD, NULL);
	assert_ok_full(&r);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/* A CRL under our CA's name that its key did not sign: refused, the one before stays. */
static void test_crl_forged_refused(void **state)
{
	struct tlsctx a, b;
	struct result r;
	time_t now = time(NULL);
	const mbedtls_x509_crl *before;

	(void)state;
	node(&a, false, 0);
	node(&b, false, 0);
	assert_int_equal(
	    crl_for(&a, "0E0000000000000000000000000000D3", now - 60, now + 86400, false),
	    TLSCTX_OK);
	before = a.crl;
	assert_int_equal(crl_for(&a, SERIAL_OLD, now - 60, now + 86400, true), TLSCTX_ERR_DATA);
	assert_ptr_equal(a.crl, before);
	r = probe_once(&a, &b, SERIAL_OLD, NULL);
	assert_ok_full(&r);
	tlsctx_free(&b);
	tlsctx_free(&a);
}

/* ---- [mesh] full_handshake_interval ---- */

static int conf(const char *text, struct agent_config *cfg, struct config_error *err)
{
	char path[300];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	config_defaults(cfg);
	rc = config_load(cfg, path, err);
	unlink(path);
	return rc;
}

static void test_config_interval(void **state)
{
	struct agent_config cfg;
	struct config_error err;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.full_handshake_interval_s, 300);
	assert_int_equal(conf("[mesh]\nfull_handshake_interval = 0\n", &cfg, &err), 0);
	assert_int_equal(cfg.full_handshake_interval_s, 0);
	assert_int_equal(conf("[mesh]\nfull_handshake_interval = 86400\n", &cfg, &err), 0);
	assert_int_equal(cfg.full_handshake_interval_s, 86400);
	assert_int_equal(
	    conf("[mesh]\nprobe_interval = 5\nfull_handshake_interval = 86401\n", &cfg, &err), -1);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.message, "full_handshake_interval"));
	assert_int_equal(conf("[mesh]\nfull_handshake_interval = 5m\n", &cfg, &err), 0);
	assert_int_equal(cfg.full_handshake_interval_s, 300); /* durations take a unit */
	assert_int_equal(conf("[mesh]\nfull_handshake_interval = 5y\n", &cfg, &err), -1);
	assert_int_equal(err.line, 2);
	assert_int_equal(conf("[mesh]\nfull_handshake_interval = -1\n", &cfg, &err), -1);
}

static int setup(void **state)
{
	(void)state;
	log_init("test_resume", LOG_LVL_ERR);
	snprintf(data, sizeof(data), "%s/tests/data", getenv("KMA_SOURCE_DIR"));
	snprintf(dir, sizeof(dir), "%s/kma-resume-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(new_cert, sizeof(new_cert), "%s/a-kma01-new.pem", dir);
	snprintf(new_key, sizeof(new_key), "%s/a-kma01-new.key", dir);
	snprintf(enrolled, sizeof(enrolled), "%s", SERIAL_OLD);
	make_rekeyed();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(new_cert);
	unlink(new_key);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_second_probe_resumes),
	    cmocka_unit_test(test_restarted_peer_full),
	    cmocka_unit_test(test_rekeyed_peer_caught),
	    cmocka_unit_test(test_client_table_change_no_resume),
	    cmocka_unit_test(test_server_table_change_no_resume),
	    cmocka_unit_test(test_forced_full_at_interval),
	    cmocka_unit_test(test_server_without_resumption),
	    cmocka_unit_test(test_config_interval),
	    cmocka_unit_test(test_crl_revokes),
	    cmocka_unit_test(test_crl_resumed),
	    cmocka_unit_test(test_crl_expiry_not_held),
	    cmocka_unit_test(test_crl_forged_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
