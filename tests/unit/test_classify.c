/*
 * The classification rules as a table: facts in, cause out. Precedence cases (two causes
 * possible) are the point: see agent/classify.h.
 */

#include "mbedcompat.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/x509.h>

#include "classify.h"
#include "tlshello.h"

#define VERIFY_FAILED MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
#define ALERT_MSG     MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE

static const unsigned char tls_hdr[] = {22, 3, 3, 0, 64};
static const unsigned char ssh_hdr[] = {'S', 'S', 'H', '-', '2'};

struct tcase {
	const char *name;
	struct probe_facts f;
	bool tls_bytes, ssh_bytes;
	enum kma_cause want;
	const char *detail_has; /* NULL: any detail */
};

#define TLS(...)                                                                                   \
	{                                                                                          \
		.stage = PROBE_STAGE_TLS, .alert_received = -1, .alert_sent = -1, __VA_ARGS__      \
	}
#define CLIENT_AFTER_HELLO .peer_hs_records = 4, .our_hs_records = 5

/* Version sets (TLSHELLO_BIT), and what the follow-up probes found. */
#define V10 TLSHELLO_BIT(TLSHELLO_TLS10)
#define V11 TLSHELLO_BIT(TLSHELLO_TLS11)
#define V12 TLSHELLO_BIT(TLSHELLO_TLS12)
#define V13 TLSHELLO_BIT(TLSHELLO_TLS13)
#define ASKED(ours, accepted, refused)                                                             \
	.versions_probed = true, .versions_ours = (ours), .versions_accepted = (accepted),         \
	.versions_refused = (refused)
/* Our hello went out and was answered by an alert, nothing else. */
#define HELLO_ALERT(a) .alert_received = (a), .tls_error = ALERT_MSG, .our_hs_records = 1

/* TLS() sets defaults that a case then overrides on purpose; rows without a detail to check
 * leave detail_has out. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct tcase cases[] = {
    {"dns", {.stage = PROBE_STAGE_RESOLVE, .resolve_failed = true}, 0, 0, KMA_CAUSE_DNS_FAILURE},
    {"refused",
     {.stage = PROBE_STAGE_CONNECT, .sock_errno = ECONNREFUSED},
     0,
     0,
     KMA_CAUSE_TCP_REFUSED},
    {"connect deadline",
     {.stage = PROBE_STAGE_CONNECT, .timed_out = true},
     0,
     0,
     KMA_CAUSE_TCP_TIMEOUT},
    {"unreachable",
     {.stage = PROBE_STAGE_CONNECT, .sock_errno = EHOSTUNREACH},
     0,
     0,
     KMA_CAUSE_TCP_TIMEOUT},
    {"ok", TLS(.handshake_done = true, CLIENT_AFTER_HELLO), 1, 0, KMA_CAUSE_OK},
    {"ssh banner", TLS(.tls_error = MBEDTLS_ERR_SSL_INVALID_RECORD), 0, 1, KMA_CAUSE_NOT_TLS},
    /* Non-TLS bytes win over an EOF that followed them. */
    {"http then close", TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF), 0, 1,
     KMA_CAUSE_NOT_TLS},
    {"silent peer", TLS(.timed_out = true), 0, 0, KMA_CAUSE_HANDSHAKE_TIMEOUT},
    /* An error the table does not know is named as such, never a version mismatch (3.6.3
     * fails a verifying client that set no hostname with a new code, -0x5D80). */
    {"unknown library error", TLS(.tls_error = MBEDTLS_ERR_SSL_BAD_INPUT_DATA), 0, 0,
     KMA_CAUSE_TLS_ERROR, "mbedTLS error -0x"},
    {"TLS 1.3: refused after our Finished, alert unreadable",
     TLS(.tls_error = MBEDTLS_ERR_SSL_INVALID_MAC, .after_finished = true, .peer_hs_records = 1,
         .our_hs_records = 1),
     1, 0, KMA_CAUSE_REJECTED_BY_PEER, "after our Finished"},
    {"TLS 1.3: an alert after our Finished is about our certificate",
     TLS(.alert_received = 40, .tls_error = ALERT_MSG, .after_finished = true, .peer_hs_records = 1,
         .our_hs_records = 1),
     1, 0, KMA_CAUSE_REJECTED_BY_PEER},
    {"unknown error after the peer's hello",
     TLS(.tls_error = MBEDTLS_ERR_SSL_INTERNAL_ERROR, CLIENT_AFTER_HELLO), 1, 0,
     KMA_CAUSE_TLS_ERROR, "names none of our causes"},
    {"fin mid-handshake", TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF), 0, 0,
     KMA_CAUSE_PEER_CLOSED},
    {"rst mid-handshake", TLS(.sock_errno = ECONNRESET, .tls_error = MBEDTLS_ERR_NET_CONN_RESET), 0,
     0, KMA_CAUSE_TCP_RESET},
    {"protocol_version alert", TLS(.alert_received = 70, .tls_error = ALERT_MSG), 1, 0,
     KMA_CAUSE_PROTOCOL_MISMATCH},
    /* handshake_failure answering our ClientHello is negotiation... */
    {"handshake_failure to hello",
     TLS(.alert_received = 40, .tls_error = ALERT_MSG, .our_hs_records = 1), 1, 0,
     KMA_CAUSE_CIPHER_MISMATCH},
    {"insufficient_security", TLS(.alert_received = 71, .tls_error = ALERT_MSG), 1, 0,
     KMA_CAUSE_CIPHER_MISMATCH},
    /* ...but after our certificate went out it is about us. */
    {"handshake_failure after our cert",
     TLS(.alert_received = 40, .tls_error = ALERT_MSG, CLIENT_AFTER_HELLO), 1, 0,
     KMA_CAUSE_REJECTED_BY_PEER},
    {"unknown_ca from peer", TLS(.alert_received = 48, .tls_error = ALERT_MSG, CLIENT_AFTER_HELLO),
     1, 0, KMA_CAUSE_REJECTED_BY_PEER},
    {"access_denied from peer",
     TLS(.alert_received = 49, .tls_error = ALERT_MSG, CLIENT_AFTER_HELLO), 1, 0,
     KMA_CAUSE_REJECTED_BY_PEER},
    {"foreign root",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED, .chain_self_signed_root = true),
     1, 0, KMA_CAUSE_PEER_CERT_UNTRUSTED},
    {"missing intermediate",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED),
     1, 0, KMA_CAUSE_PEER_CHAIN_INCOMPLETE},
    /* Untrusted outranks everything after it in the table. */
    {"untrusted and expired and pinned",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true, .chain_self_signed_root = true,
         .verify_flags = MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_EXPIRED |
                         MBEDTLS_X509_BADCERT_OTHER),
     1, 0, KMA_CAUSE_PEER_CERT_UNTRUSTED},
    {"expired and serial",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_OTHER),
     1, 0, KMA_CAUSE_PEER_CERT_EXPIRED},
    {"not yet valid",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_FUTURE),
     1, 0, KMA_CAUSE_PEER_CERT_NOT_YET_VALID},
    {"revoked",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_REVOKED),
     1, 0, KMA_CAUSE_PEER_CERT_REVOKED},
    {"eku",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_EXT_KEY_USAGE),
     1, 0, KMA_CAUSE_PEER_CERT_BAD_USAGE},
    {"wrong node and serial",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_CN_MISMATCH | MBEDTLS_X509_BADCERT_OTHER),
     1, 0, KMA_CAUSE_PEER_IDENTITY_MISMATCH},
    {"serial (QuickStart not rejoined)",
     TLS(.tls_error = VERIFY_FAILED, .peer_cert_seen = true,
         .verify_flags = MBEDTLS_X509_BADCERT_OTHER),
     1, 0, KMA_CAUSE_PEER_SERIAL_MISMATCH},
    {"inbound without client cert",
     TLS(.server = true, .tls_error = KMA_ERR_SSL_NO_CLIENT_CERT,
         .verify_flags = MBEDTLS_X509_BADCERT_MISSING),
     1, 0, KMA_CAUSE_PEER_NO_CLIENT_CERT},
    {"inbound client rejects our cert",
     TLS(.server = true, .alert_received = 48, .tls_error = ALERT_MSG, .peer_hs_records = 1,
         .our_hs_records = 4),
     1, 0, KMA_CAUSE_REJECTED_BY_PEER},
    {"server: client offers other version",
     TLS(.server = true, .tls_error = KMA_ERR_SSL_BAD_VERSION), 1, 0, KMA_CAUSE_PROTOCOL_MISMATCH},
    {"server: no common suite", TLS(.server = true, .tls_error = KMA_ERR_SSL_NO_COMMON_SUITE), 1, 0,
     KMA_CAUSE_CIPHER_MISMATCH},

    /* What the peer speaks (follow-up probes after a refused hello) tells a version
     * problem from a suite problem, whichever alert answered our hello. */
    {"handshake_failure, the peer speaks only TLS 1.0 and 1.1",
     TLS(HELLO_ALERT(40), ASKED(V12, V10 | V11, V12 | V13)), 1, 0, KMA_CAUSE_PROTOCOL_MISMATCH,
     "no TLS version in common (peer accepts TLS 1.0, TLS 1.1; we speak TLS 1.2)"},
    {"handshake_failure, the peer accepts TLS 1.2",
     TLS(HELLO_ALERT(40), ASKED(V12, V12, V10 | V11 | V13)), 1, 0, KMA_CAUSE_CIPHER_MISMATCH,
     "(versions match: peer accepts TLS 1.2; we speak TLS 1.2)"},
    {"handshake_failure, the peer accepts 1.0 to 1.3",
     TLS(HELLO_ALERT(40), ASKED(V12, V10 | V11 | V12 | V13, 0)), 1, 0, KMA_CAUSE_CIPHER_MISMATCH,
     "versions match"},
    {"handshake_failure, the peer accepts no version at all",
     TLS(HELLO_ALERT(40), ASKED(V12, 0, V10 | V11 | V12 | V13)), 1, 0, KMA_CAUSE_CIPHER_MISMATCH,
     "(peer accepts none; we speak TLS 1.2)"},
    /* Our version unanswered (a timeout): not proven refused, the alert decides. */
    {"handshake_failure, TLS 1.0 accepted, TLS 1.2 unanswered",
     TLS(HELLO_ALERT(40), ASKED(V12, V10, V11 | V13)), 1, 0, KMA_CAUSE_CIPHER_MISMATCH,
     "(peer accepts TLS 1.0; no answer about TLS 1.2; we speak TLS 1.2)"},
    {"insufficient_security, the peer speaks only TLS 1.0",
     TLS(HELLO_ALERT(71), ASKED(V12, V10, V11 | V12 | V13)), 1, 0, KMA_CAUSE_PROTOCOL_MISMATCH,
     "insufficient_security: no TLS version in common"},
    {"protocol_version, the peer speaks only TLS 1.3",
     TLS(HELLO_ALERT(70), ASKED(V12, V13, V10 | V11 | V12)), 1, 0, KMA_CAUSE_PROTOCOL_MISMATCH,
     "(peer accepts TLS 1.3; we speak TLS 1.2)"},
    /* The peer said protocol_version: that stays, with what it accepts as evidence. */
    {"protocol_version, yet the peer accepts TLS 1.2",
     TLS(HELLO_ALERT(70), ASKED(V12, V12, V10 | V11 | V13)), 1, 0, KMA_CAUSE_PROTOCOL_MISMATCH,
     "versions match"},
    /* A build that speaks 1.2 and 1.3: one of them in common is enough. */
    {"we speak 1.2 and 1.3, the peer 1.3 only",
     TLS(HELLO_ALERT(40), ASKED(V12 | V13, V13, V10 | V11 | V12)), 1, 0, KMA_CAUSE_CIPHER_MISMATCH,
     "we speak TLS 1.2, TLS 1.3"},
    {"we speak 1.2 and 1.3, the peer 1.0 only",
     TLS(HELLO_ALERT(40), ASKED(V12 | V13, V10, V11 | V12 | V13)), 1, 0,
     KMA_CAUSE_PROTOCOL_MISMATCH, "peer accepts TLS 1.0; we speak TLS 1.2, TLS 1.3"},
    /* A version-intolerant peer closes or resets instead of answering. */
    {"FIN after our hello, the peer speaks only TLS 1.0",
     TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF, .our_hs_records = 1,
         ASKED(V12, V10, V11 | V12 | V13)),
     0, 0, KMA_CAUSE_PROTOCOL_MISMATCH, "closed the connection after our hello"},
    {"RST after our hello, the peer speaks only TLS 1.0",
     TLS(.sock_errno = ECONNRESET, .tls_error = MBEDTLS_ERR_NET_CONN_RESET, .our_hs_records = 1,
         ASKED(V12, V10, V11 | V12 | V13)),
     0, 0, KMA_CAUSE_PROTOCOL_MISMATCH, "reset the connection after our hello"},
    {"FIN after our hello, the peer accepts TLS 1.2",
     TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF, .our_hs_records = 1,
         ASKED(V12, V12, V10 | V11 | V13)),
     0, 0, KMA_CAUSE_PEER_CLOSED, "versions match"},
    {"FIN after our hello, the peer accepts nothing",
     TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF, .our_hs_records = 1,
         ASKED(V12, 0, V10 | V11 | V12 | V13)),
     0, 0, KMA_CAUSE_PEER_CLOSED, "(peer accepts none; we speak TLS 1.2)"},
    /* Version facts never override what is not a refused hello. */
    {"handshake_failure after our certificate, versions apart",
     TLS(.alert_received = 40, .tls_error = ALERT_MSG, CLIENT_AFTER_HELLO,
         ASKED(V12, V10, V11 | V12 | V13)),
     1, 0, KMA_CAUSE_REJECTED_BY_PEER, NULL},
    {"http answer, versions apart",
     TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF, .our_hs_records = 1,
         ASKED(V12, V10, V11 | V12 | V13)),
     0, 1, KMA_CAUSE_NOT_TLS, NULL},
    {"inbound, versions apart",
     TLS(.server = true, .tls_error = KMA_ERR_SSL_NO_COMMON_SUITE, ASKED(V12, V10, V12)), 1, 0,
     KMA_CAUSE_CIPHER_MISMATCH, NULL},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe_facts f = cases[i].f;
		char detail[200] = "";
		enum kma_cause got;

		if (cases[i].tls_bytes || cases[i].ssh_bytes) {
			memcpy(f.first_in, cases[i].tls_bytes ? tls_hdr : ssh_hdr, 5);
			f.first_in_len = 5;
		}
		got = classify(&f, detail, sizeof(detail));
		if (got != cases[i].want)
			fail_msg("%s: got %s, want %s", cases[i].name, kma_cause_id(got),
			         kma_cause_id(cases[i].want));
		assert_true(strlen(detail) > 10);
		if (cases[i].detail_has && !strstr(detail, cases[i].detail_has))
			fail_msg("%s: detail '%s' lacks '%s'", cases[i].name, detail,
			         cases[i].detail_has);
		/* the same verdict without room for a detail */
		assert_int_equal(classify(&f, NULL, 0), got);
	}
}

/* When the follow-up probes run: a refused outbound hello, nothing else. */
static void test_hello_refused(void **state)
{
	static const struct {
		const char *name;
		struct probe_facts f;
		bool ssh_bytes;
		bool want;
	} rows[] = {
	    {"handshake_failure to our hello", TLS(HELLO_ALERT(40)), 0, true},
	    {"protocol_version to our hello", TLS(HELLO_ALERT(70)), 0, true},
	    {"insufficient_security to our hello", TLS(HELLO_ALERT(71)), 0, true},
	    {"FIN after our hello",
	     TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF, .our_hs_records = 1), 0, true},
	    {"RST after our hello",
	     TLS(.sock_errno = ECONNRESET, .tls_error = MBEDTLS_ERR_NET_CONN_RESET,
	         .our_hs_records = 1),
	     0, true},
	    {"healthy", TLS(.handshake_done = true, CLIENT_AFTER_HELLO), 0, false},
	    {"inbound", TLS(.server = true, HELLO_ALERT(40)), 0, false},
	    {"before our hello went out", TLS(.alert_received = 40, .tls_error = ALERT_MSG), 0,
	     false},
	    {"after the peer's hello", TLS(HELLO_ALERT(40), .peer_hs_records = 1), 0, false},
	    {"alert about our certificate", TLS(HELLO_ALERT(48)), 0, false},
	    {"decode_error", TLS(HELLO_ALERT(50)), 0, false},
	    {"silent peer", TLS(.timed_out = true, .our_hs_records = 1), 0, false},
	    {"FIN after bytes that are not TLS",
	     TLS(.eof = true, .tls_error = MBEDTLS_ERR_SSL_CONN_EOF, .our_hs_records = 1), 1,
	     false},
	    {"connect refused",
	     {.stage = PROBE_STAGE_CONNECT, .sock_errno = ECONNREFUSED},
	     0,
	     false},
	    {"dns", {.stage = PROBE_STAGE_RESOLVE, .resolve_failed = true}, 0, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct probe_facts f = rows[i].f;

		if (rows[i].ssh_bytes) {
			memcpy(f.first_in, ssh_hdr, 5);
			f.first_in_len = 5;
		}
		if (classify_hello_refused(&f) != rows[i].want)
			fail_msg("%s: want %d", rows[i].name, rows[i].want);
	}
}
#pragma GCC diagnostic pop

static void test_looks_like_tls(void **state)
{
	const unsigned char alert[] = {21, 3, 1};
	const unsigned char sslv2ish[] = {0x80, 0x2e};
	const unsigned char get[] = "GET /";

	(void)state;
	assert_true(classify_looks_like_tls(tls_hdr, 5));
	assert_true(classify_looks_like_tls(alert, 3));
	assert_true(classify_looks_like_tls(tls_hdr, 1));
	assert_false(classify_looks_like_tls(sslv2ish, 2));
	assert_false(classify_looks_like_tls(get, 5));
	assert_false(classify_looks_like_tls((const unsigned char *)"\x16\x04", 2));
}

/* A ClientHello with the given supported_versions payload (NULL: no such extension). */
static size_t make_hello(unsigned char *b, const unsigned char *versions, size_t vlen)
{
	size_t n = 0, body_at, ext_at;

	b[n++] = 1; /* client_hello */
	n += 3;     /* length, filled below */
	body_at = n;
	b[n++] = 3;
	b[n++] = 3;
	memset(b + n, 0xAB, 32);
	n += 32;
	b[n++] = 0;                                           /* session id */
	b[n++] = 0, b[n++] = 2, b[n++] = 0x13, b[n++] = 0x01; /* one suite */
	b[n++] = 1, b[n++] = 0;                               /* null compression */
	ext_at = n;
	n += 2;
	b[n++] = 0, b[n++] = 10, b[n++] = 0, b[n++] = 2, b[n++] = 0, b[n++] = 0; /* groups */
	if (versions) {
		b[n++] = 0, b[n++] = 43, b[n++] = 0, b[n++] = (unsigned char)(vlen + 1);
		b[n++] = (unsigned char)vlen;
		memcpy(b + n, versions, vlen);
		n += vlen;
	}
	b[ext_at] = (unsigned char)((n - ext_at - 2) >> 8);
	b[ext_at + 1] = (unsigned char)(n - ext_at - 2);
	b[1] = 0, b[2] = (unsigned char)((n - body_at) >> 8), b[3] = (unsigned char)(n - body_at);
	return n;
}

static void test_hello_versions(void **state)
{
	static const unsigned char only13[] = {3, 4}, both[] = {3, 4, 3, 3}, only12[] = {3, 3};
	unsigned char b[256];
	size_t n;

	(void)state;
	n = make_hello(b, only13, sizeof(only13));
	assert_int_equal(classify_hello_offers_tls12(b, n), 0);
	for (size_t cut = 0; cut < n; cut++) /* truncated anywhere: never a verdict of 0 */
		assert_int_not_equal(classify_hello_offers_tls12(b, cut), 0);
	n = make_hello(b, both, sizeof(both));
	assert_int_equal(classify_hello_offers_tls12(b, n), 1);
	n = make_hello(b, only12, sizeof(only12));
	assert_int_equal(classify_hello_offers_tls12(b, n), 1);
	n = make_hello(b, NULL, 0);
	assert_int_equal(classify_hello_offers_tls12(b, n), -1);
	/* An empty supported_versions before another extension (found by fuzzing). */
	{
		static const unsigned char tail[] = {0x00, 0x2b, 0x00, 0x00, 0xfe};
		size_t m = make_hello(b, NULL, 0);

		memcpy(b + m, tail, sizeof(tail));
		b[m - 7] = (unsigned char)(b[m - 7] + sizeof(tail)); /* extensions length */
		b[3] = (unsigned char)(b[3] + sizeof(tail));
		assert_int_equal(classify_hello_offers_tls12(b, m + sizeof(tail)), -1);
	}
	n = make_hello(b, NULL, 0);
	b[0] = 2; /* a ServerHello is not a ClientHello */
	assert_int_equal(classify_hello_offers_tls12(b, n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_looks_like_tls),
	    cmocka_unit_test(test_hello_versions),
	    cmocka_unit_test(test_hello_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
