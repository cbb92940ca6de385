/*
 * The hand-built ClientHello and the reader of a server's answer (agent/tlshello.c): every
 * hello we build parses as what it claims to offer, each version's ServerHello is read as
 * that version, and truncated or hostile answers never give a verdict they do not hold.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "tlshello.h"

static const unsigned char rnd[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                      23, 24, 25, 26, 27, 28, 29, 30, 31};

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* What a built hello holds, read back by a walker independent of the one under test. */
struct hello_view {
	unsigned client_version;
	bool suites[0x10000];
	unsigned n_suites;
	bool ext[0x10000];
	size_t msg_len;
};

static struct hello_view view;

static void read_hello(const unsigned char *b, size_t n, struct hello_view *v)
{
	size_t p, end, sl, el;

	memset(v, 0, sizeof(*v));
	assert_true(n > 9);
	assert_int_equal(b[0], 22);
	assert_int_equal(be16(b + 1), 0x0301);
	assert_int_equal(be16(b + 3), n - 5);
	assert_int_equal(b[5], 1); /* client_hello */
	v->msg_len = n - 5;
	assert_int_equal((size_t)b[6] << 16 | (size_t)b[7] << 8 | b[8], n - 9);
	v->client_version = be16(b + 9);
	p = 9 + 2 + 32;
	assert_int_equal(b[p], 0); /* no session ID */
	p++;
	sl = be16(b + p);
	p += 2;
	assert_true(sl > 0 && sl % 2 == 0 && p + sl < n);
	for (size_t i = 0; i < sl; i += 2) {
		v->suites[be16(b + p + i)] = true;
		v->n_suites++;
	}
	p += sl;
	assert_int_equal(b[p], 1);
	assert_int_equal(b[p + 1], 0);
	p += 2;
	el = be16(b + p);
	p += 2;
	assert_int_equal(p + el, n);
	end = p + el;
	while (p < end) {
		unsigned type = be16(b + p), len = be16(b + p + 2);

		assert_true(p + 4 + len <= end);
		assert_false(v->ext[type]); /* each extension once */
		v->ext[type] = true;
		p += 4 + len;
	}
	assert_int_equal(p, end);
}

static void test_build(void **state)
{
	unsigned char b[TLSHELLO_HELLO_MAX];

	(void)state;
	for (unsigned i = 0; i < TLSHELLO_N; i++) {
		unsigned v = TLSHELLO_VERSION(i);
		size_t n = tlshello_build(v, rnd, b, sizeof(b));

		assert_true(n > 0 && n <= sizeof(b));
		read_hello(b, n, &view);
		assert_memory_equal(b + 11, rnd, 32);
		/* RFC 7685: never a hello message of 256 to 511 bytes */
		assert_true(view.msg_len < 256 || view.msg_len >= 512);
		assert_true(view.ext[10]); /* supported_groups */
		if (v == TLSHELLO_TLS13) {
			assert_int_equal(view.client_version, TLSHELLO_TLS12);
			assert_true(view.ext[43] && view.ext[51] && view.ext[13]);
			assert_true(view.suites[0x1301] && !view.suites[0xc02b]);
			/* lists versions, only 1.3: the inbound inspector's verdict 0 */
			assert_int_equal(classify_hello_offers_tls12(b + 5, n - 5), 0);
		} else {
			assert_int_equal(view.client_version, v);
			assert_false(view.ext[43] || view.ext[51]);
			assert_true(view.suites[0x002f] && view.suites[0xc013] &&
			            view.suites[0x00ff]);
			assert_false(view.suites[0x1301]);
			/* signature_algorithms and the TLS 1.2 suites only from 1.2 on */
			assert_int_equal(view.ext[13], v == TLSHELLO_TLS12);
			assert_int_equal(view.suites[0xc02b], v == TLSHELLO_TLS12);
			assert_int_equal(classify_hello_offers_tls12(b + 5, n - 5), -1);
		}
	}
	/* refused: a buffer below the maximum, versions we do not build */
	assert_int_equal(tlshello_build(TLSHELLO_TLS12, rnd, b, TLSHELLO_HELLO_MAX - 1), 0);
	assert_int_equal(tlshello_build(0x0300, rnd, b, sizeof(b)), 0);
	assert_int_equal(tlshello_build(0x0305, rnd, b, sizeof(b)), 0);
	assert_int_equal(tlshello_build(0x7f1c, rnd, b, sizeof(b)), 0);
}

/* ---- answers ---- */

/* A ServerHello message (header included); exts NULL: none at all. */
static size_t server_hello(unsigned char *b, unsigned legacy, const unsigned char *random,
                           const unsigned char *exts, size_t ext_len)
{
	size_t n = 0;

	b[n++] = 2;
	n += 3;
	b[n++] = (unsigned char)(legacy >> 8);
	b[n++] = (unsigned char)legacy;
	if (random)
		memcpy(b + n, random, 32);
	else
		memset(b + n, 0x5a, 32);
	n += 32;
	b[n++] = 32; /* session ID */
	memset(b + n, 0x11, 32);
	n += 32;
	b[n++] = 0xc0, b[n++] = 0x2f; /* suite */
	b[n++] = 0;                   /* compression */
	if (exts) {
		b[n++] = (unsigned char)(ext_len >> 8);
		b[n++] = (unsigned char)ext_len;
		memcpy(b + n, exts, ext_len);
		n += ext_len;
	}
	b[1] = 0, b[2] = (unsigned char)((n - 4) >> 8), b[3] = (unsigned char)(n - 4);
	return n;
}

/* Wraps msg into records of at most frag bytes each; returns the bytes written. */
static size_t records(unsigned char *out, unsigned type, const unsigned char *msg, size_t n,
                      size_t frag)
{
	size_t o = 0;

	for (size_t at = 0; at < n; at += frag) {
		size_t k = n - at < frag ? n - at : frag;

		out[o++] = (unsigned char)type;
		out[o++] = 3, out[o++] = 3;
		out[o++] = (unsigned char)(k >> 8), out[o++] = (unsigned char)k;
		memcpy(out + o, msg + at, k);
		o += k;
	}
	return o;
}

static const unsigned char hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};
static const unsigned char ext_sv13[] = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04};
static const unsigned char ext_reneg_ems[] = {0xff, 0x01, 0x00, 0x01, 0x00, 0x00, 0x17, 0x00, 0x00};

/* Parses b; every strict prefix must say MORE (a verdict needs the whole answer). */
static enum tlshello_kind parse_all(const unsigned char *b, size_t n, struct tlshello_answer *a)
{
	for (size_t cut = 0; cut < n; cut++) {
		struct tlshello_answer p;

		if (tlshello_parse_answer(b, cut, &p) != TLSHELLO_MORE)
			fail_msg("prefix of %zu of %zu bytes: kind %d", cut, n, p.kind);
	}
	return tlshello_parse_answer(b, n, a);
}

static void test_versions(void **state)
{
	unsigned char msg[512], b[1024];
	struct tlshello_answer a;
	size_t m, n;

	(void)state;
	/* TLS 1.0 to 1.2: the version is server_version, with or without extensions */
	for (unsigned v = TLSHELLO_TLS10; v <= TLSHELLO_TLS12; v++) {
		m = server_hello(msg, v, NULL, NULL, 0);
		n = records(b, 22, msg, m, 16384);
		assert_int_equal(parse_all(b, n, &a), TLSHELLO_SERVER_HELLO);
		assert_int_equal(a.version, v);
		assert_int_equal(a.suite, 0xc02f);
		assert_false(a.retry);
		m = server_hello(msg, v, NULL, ext_reneg_ems, sizeof(ext_reneg_ems));
		n = records(b, 22, msg, m, 16384);
		assert_int_equal(parse_all(b, n, &a), TLSHELLO_SERVER_HELLO);
		assert_int_equal(a.version, v);
	}
	/* TLS 1.3: server_version says 1.2, supported_versions says 1.3 */
	m = server_hello(msg, TLSHELLO_TLS12, NULL, ext_sv13, sizeof(ext_sv13));
	n = records(b, 22, msg, m, 16384);
	assert_int_equal(parse_all(b, n, &a), TLSHELLO_SERVER_HELLO);
	assert_int_equal(a.version, TLSHELLO_TLS13);
	assert_false(a.retry);
	/* a HelloRetryRequest is a 1.3 ServerHello too */
	m = server_hello(msg, TLSHELLO_TLS12, hrr_random, ext_sv13, sizeof(ext_sv13));
	n = records(b, 22, msg, m, 16384);
	assert_int_equal(parse_all(b, n, &a), TLSHELLO_SERVER_HELLO);
	assert_int_equal(a.version, TLSHELLO_TLS13);
	assert_true(a.retry);
	/* split over records of 7 bytes, then whatever follows it is not read */
	m = server_hello(msg, TLSHELLO_TLS11, NULL, ext_reneg_ems, sizeof(ext_reneg_ems));
	n = records(b, 22, msg, m, 7);
	memcpy(b + n, "garbage after", 13);
	assert_int_equal(parse_all(b, n, &a), TLSHELLO_SERVER_HELLO);
	assert_int_equal(a.version, TLSHELLO_TLS11);
	assert_int_equal(tlshello_parse_answer(b, n + 13, &a), TLSHELLO_SERVER_HELLO);
	/* the Certificate that follows in the same record is not read either */
	memcpy(msg + m, "\x0b\x00\x00\x03\x00\x00\x00", 7);
	n = records(b, 22, msg, m + 7, 16384);
	assert_int_equal(tlshello_parse_answer(b, n, &a), TLSHELLO_SERVER_HELLO);
}

static void test_alerts(void **state)
{
	static const unsigned char fatal70[] = {21, 3, 1, 0, 2, 2, 70};
	static const unsigned char fatal40[] = {21, 3, 3, 0, 2, 2, 40};
	static const unsigned char close_notify[] = {21, 3, 3, 0, 2, 1, 0};
	static const unsigned char two_in_one[] = {21, 3, 3, 0, 4, 1, 112, 2, 40};
	unsigned char msg[512], b[1024];
	struct tlshello_answer a;
	size_t m, n;

	(void)state;
	assert_int_equal(parse_all(fatal70, sizeof(fatal70), &a), TLSHELLO_ALERT);
	assert_int_equal(a.alert, 70);
	assert_int_equal(parse_all(fatal40, sizeof(fatal40), &a), TLSHELLO_ALERT);
	assert_int_equal(a.alert, 40);
	assert_int_equal(parse_all(close_notify, sizeof(close_notify), &a), TLSHELLO_ALERT);
	assert_int_equal(a.alert, 0);
	assert_int_equal(parse_all(two_in_one, sizeof(two_in_one), &a), TLSHELLO_ALERT);
	assert_int_equal(a.alert, 40);
	/* a warning (unrecognized_name) before the ServerHello is skipped */
	memcpy(b, "\x15\x03\x03\x00\x02\x01\x70", 7);
	m = server_hello(msg, TLSHELLO_TLS12, NULL, NULL, 0);
	n = 7 + records(b + 7, 22, msg, m, 16384);
	assert_int_equal(parse_all(b, n, &a), TLSHELLO_SERVER_HELLO);
	assert_int_equal(a.version, TLSHELLO_TLS12);
}

/* Each hostile answer: BAD, whole and cut anywhere a verdict is possible (never another). */
static void expect_bad(const char *name, const unsigned char *b, size_t n)
{
	struct tlshello_answer a;

	if (tlshello_parse_answer(b, n, &a) != TLSHELLO_BAD)
		fail_msg("%s: kind %d, want BAD", name, a.kind);
	for (size_t cut = 0; cut < n; cut++) {
		enum tlshello_kind k = tlshello_parse_answer(b, cut, &a);

		if (k != TLSHELLO_MORE && k != TLSHELLO_BAD)
			fail_msg("%s cut at %zu: kind %d", name, cut, k);
	}
}

static void test_hostile(void **state)
{
	unsigned char msg[1200], b[1400];
	size_t m, n;

	(void)state;
	expect_bad("http", (const unsigned char *)"HTTP/1.1 400 Bad Request\r\n", 26);
	expect_bad("ssh", (const unsigned char *)"SSH-2.0-OpenSSH_9.2\r\n", 21);
	expect_bad("application data", (const unsigned char *)"\x17\x03\x03\x00\x01\x00", 6);
	expect_bad("change cipher spec", (const unsigned char *)"\x14\x03\x03\x00\x01\x01", 6);
	expect_bad("major 4", (const unsigned char *)"\x16\x04\x03\x00\x01\x02", 6);
	expect_bad("empty record", (const unsigned char *)"\x16\x03\x03\x00\x00", 5);
	expect_bad("oversized record", (const unsigned char *)"\x16\x03\x03\x40\x01", 5);
	expect_bad("odd alert record", (const unsigned char *)"\x15\x03\x03\x00\x03\x02\x28\x00",
	           8);
	expect_bad("alert level 3", (const unsigned char *)"\x15\x03\x03\x00\x02\x03\x28", 7);
	expect_bad("certificate first",
	           (const unsigned char *)"\x16\x03\x03\x00\x04\x0b\x00\x00\x00", 9);
	expect_bad("empty server hello",
	           (const unsigned char *)"\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9);
	/* a ServerHello message longer than the reader holds */
	expect_bad("huge server hello",
	           (const unsigned char *)"\x16\x03\x03\x00\x04\x02\x00\x04\x00", 9);

	m = server_hello(msg, TLSHELLO_TLS12, NULL, NULL, 0);
	msg[4] = 4; /* server_version 4.3 */
	n = records(b, 22, msg, m, 16384);
	expect_bad("server_version 4.3", b, n);

	m = server_hello(msg, TLSHELLO_TLS12, NULL, NULL, 0);
	msg[4 + 2 + 32] = 33; /* session ID length */
	n = records(b, 22, msg, m, 16384);
	expect_bad("session id 33", b, n);

	m = server_hello(msg, TLSHELLO_TLS12, NULL, ext_reneg_ems, sizeof(ext_reneg_ems));
	msg[m - sizeof(ext_reneg_ems) - 1]++; /* extensions length one too many */
	n = records(b, 22, msg, m, 16384);
	expect_bad("extensions length", b, n);

	{
		static const unsigned char sv_long[] = {0x00, 0x2b, 0x00, 0x04,
		                                        0x03, 0x04, 0x03, 0x03};
		static const unsigned char sv_twice[] = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,
		                                         0x00, 0x2b, 0x00, 0x02, 0x03, 0x03};
		static const unsigned char sv_short[] = {0x00, 0x2b, 0x00, 0x05, 0x03, 0x04};
		static const unsigned char sv_major[] = {0x00, 0x2b, 0x00, 0x02, 0x7f, 0x1c};

		m = server_hello(msg, TLSHELLO_TLS12, NULL, sv_long, sizeof(sv_long));
		n = records(b, 22, msg, m, 16384);
		expect_bad("supported_versions of 4 bytes", b, n);
		m = server_hello(msg, TLSHELLO_TLS12, NULL, sv_twice, sizeof(sv_twice));
		n = records(b, 22, msg, m, 16384);
		expect_bad("supported_versions twice", b, n);
		m = server_hello(msg, TLSHELLO_TLS12, NULL, sv_short, sizeof(sv_short));
		n = records(b, 22, msg, m, 16384);
		expect_bad("extension past the end", b, n);
		m = server_hello(msg, TLSHELLO_TLS12, NULL, sv_major, sizeof(sv_major));
		n = records(b, 22, msg, m, 16384);
		expect_bad("supported_versions draft", b, n);
	}
	/* a HelloRetryRequest that does not say which version */
	m = server_hello(msg, TLSHELLO_TLS12, hrr_random, ext_reneg_ems, sizeof(ext_reneg_ems));
	n = records(b, 22, msg, m, 16384);
	expect_bad("retry without version", b, n);
	m = server_hello(msg, TLSHELLO_TLS12, hrr_random, NULL, 0);
	n = records(b, 22, msg, m, 16384);
	expect_bad("retry without extensions", b, n);
	/* an alert in the middle of a split ServerHello */
	m = server_hello(msg, TLSHELLO_TLS12, NULL, NULL, 0);
	n = records(b, 22, msg, 10, 16384);
	memcpy(b + n, "\x15\x03\x03\x00\x02\x02\x28", 7);
	expect_bad("alert inside a message", b, n + 7);
	/* the most the reader holds, exactly, still parses; one byte more does not */
	{
		static unsigned char big_ext[TLSHELLO_SERVER_HELLO_MAX];
		size_t fixed = 4 + 2 + 32 + 1 + 32 + 2 + 1 + 2,
		       pad = TLSHELLO_SERVER_HELLO_MAX - fixed;
		struct tlshello_answer a;

		memset(big_ext, 0, sizeof(big_ext));
		big_ext[0] = 0xff, big_ext[1] = 0xfe; /* an unknown extension filling the rest */
		big_ext[2] = (unsigned char)((pad - 4) >> 8), big_ext[3] = (unsigned char)(pad - 4);
		m = server_hello(msg, TLSHELLO_TLS12, NULL, big_ext, pad);
		assert_int_equal(m, TLSHELLO_SERVER_HELLO_MAX);
		n = records(b, 22, msg, m, 16384);
		assert_int_equal(tlshello_parse_answer(b, n, &a), TLSHELLO_SERVER_HELLO);
		big_ext[3]++;
		m = server_hello(msg, TLSHELLO_TLS12, NULL, big_ext, pad + 1);
		n = records(b, 22, msg, m, 16384);
		expect_bad("server hello one byte too large", b, n);
	}
}

/*
 * What openssl s_server really answered to such hellos (the fuzz seeds of
 * tests/fuzz/make-seeds.sh: whole first flights, cut to VERSCAN_ANSWER_MAX bytes).
 */
static void test_openssl_answers(void **state)
{
	static const struct {
		const char *file;
		enum tlshello_kind kind;
		unsigned version;
		bool retry;
		int alert;
	} rows[] = {
	    {"tls10-accepted", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS10, false, 0},
	    {"tls10-chosen-for-12", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS10, false, 0},
	    {"tls11-accepted", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS11, false, 0},
	    {"tls12-accepted", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS12, false, 0},
	    {"tls13-accepted", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS13, false, 0},
	    {"tls13-retry", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS13, true, 0},
	    {"tls12-only-refuses-10", TLSHELLO_ALERT, 0, false, 70},
	    {"tls12-only-refuses-13", TLSHELLO_ALERT, 0, false, 70},
	    {"split-records", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS12, false, 0},
	    {"warning-then-hello", TLSHELLO_SERVER_HELLO, TLSHELLO_TLS12, false, 0},
	};
	const char *src = getenv("KMA_SOURCE_DIR");
	static unsigned char b[4096];

	(void)state;
	if (!src)
		skip();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char path[512];
		struct tlshello_answer a;
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/tlshello/%s", src, rows[i].file);
		f = fopen(path, "rb");
		if (!f)
			fail_msg("%s: cannot open", path);
		n = fread(b, 1, sizeof(b), f);
		fclose(f);
		if (tlshello_parse_answer(b, n, &a) != rows[i].kind)
			fail_msg("%s: kind %d, want %d", rows[i].file, a.kind, rows[i].kind);
		assert_int_equal(a.version, rows[i].version);
		assert_int_equal(a.retry, rows[i].retry);
		assert_int_equal(a.alert, rows[i].alert);
	}
}

static void test_names(void **state)
{
	char buf[64], tiny[8];

	(void)state;
	assert_string_equal(tlshello_version_name(TLSHELLO_TLS10), "TLS 1.0");
	assert_string_equal(tlshello_version_name(TLSHELLO_TLS13), "TLS 1.3");
	assert_string_equal(tlshello_version_name(0x0300), "SSL 3.0");
	assert_string_equal(tlshello_version_name(0x7f1c), "unknown");
	tlshello_versions_str(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	tlshello_versions_str(TLSHELLO_BIT(TLSHELLO_TLS10) | TLSHELLO_BIT(TLSHELLO_TLS11), buf,
	                      sizeof(buf));
	assert_string_equal(buf, "TLS 1.0, TLS 1.1");
	assert_int_equal(tlshello_versions_str(TLSHELLO_ALL, buf, sizeof(buf)),
	                 (int)strlen("TLS 1.0, TLS 1.1, TLS 1.2, TLS 1.3"));
	assert_string_equal(buf, "TLS 1.0, TLS 1.1, TLS 1.2, TLS 1.3");
	/* cut, never overrun, always terminated */
	memset(tiny, 'x', sizeof(tiny));
	assert_int_equal(tlshello_versions_str(TLSHELLO_ALL, tiny, sizeof(tiny)), 34);
	assert_string_equal(tiny, "TLS 1.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build),           cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_alerts),          cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_openssl_answers), cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
