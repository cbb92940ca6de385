/*
 * The TLS record sniffer of a probe (agent/probe.c sniff_feed): it follows the bytes a
 * peer sends, and the bytes we send, before and without any authentication, and the
 * classifier turns what it kept into a cause. The .c file is included to reach the static
 * sniffer and probe_finish, which turns the sniffed facts into the probe's result exactly
 * as a real probe does at its end (no socket: probe_finish only half-closes one it has).
 *
 * Input: four control bytes, then the bytes on the wire.
 *   [0] bit 0: we are the server (an inbound probe); bit 1: the peer closed its side;
 *       bits 2-4: the mbedTLS result the handshake ended with (table below)
 *   [1] how many bytes each recv/send handed over: 0 all at once, else 1..255 per call
 *   [2..3] big-endian: how many of the wire bytes are the peer's (at most all); the
 *       rest are ours
 */

#include "../../agent/probe.c"

#include "fuzz.h"

static const int tls_results[8] = {
    0,
    MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE,
    MBEDTLS_ERR_X509_CERT_VERIFY_FAILED,
    KMA_ERR_SSL_NO_CLIENT_CERT,
    KMA_ERR_SSL_BAD_VERSION,
    KMA_ERR_SSL_NO_COMMON_SUITE,
    MBEDTLS_ERR_SSL_TIMEOUT,
    MBEDTLS_ERR_NET_CONN_RESET,
};

/* Hands b to the sniffer in pieces of chunk bytes, as successive recv/send calls would. */
static void feed(struct probe_sniff *s, const unsigned char *b, size_t n, size_t chunk)
{
	while (n > 0) {
		size_t k = chunk && chunk < n ? chunk : n;

		sniff_feed(s, b, k);
		b += k;
		n -= k;
	}
}

static void check_sniff(const struct probe_sniff *s)
{
	FUZZ_CHECK(s->hdr_len < sizeof(s->hdr));
	FUZZ_CHECK(s->alert_len <= sizeof(s->alert));
	FUZZ_CHECK(s->first_len <= sizeof(s->first));
	FUZZ_CHECK(s->hello_len <= sizeof(s->hello));
	FUZZ_CHECK(s->body_left <= 0xFFFF);
	FUZZ_CHECK(s->fatal_alert >= -1 && s->fatal_alert <= 255);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe p;
	const struct probe_obs *obs;
	size_t n, peer_len, chunk;

	if (size < 4)
		return 0;
	probe_reset(&p, "fuzz", NULL, data[0] & 1);
	p.facts.stage = PROBE_STAGE_TLS;
	p.facts.eof = data[0] & 2;
	p.facts.tls_error = tls_results[(data[0] >> 2) & 7];
	chunk = data[1];
	n = size - 4;
	peer_len = (size_t)data[2] << 8 | data[3];
	if (peer_len > n)
		peer_len = n;

	feed(&p.in, data + 4, peer_len, chunk);
	feed(&p.out, data + 4 + peer_len, n - peer_len, chunk);
	check_sniff(&p.in);
	check_sniff(&p.out);

	probe_finish(&p);
	obs = probe_result(&p);
	FUZZ_CHECK(obs->cause > KMA_CAUSE_UNSPECIFIED && obs->cause < KMA_CAUSE_COUNT);
	FUZZ_CHECK(obs->cause != KMA_CAUSE_OK);
	FUZZ_TERMINATED(obs->detail);
	FUZZ_CHECK(obs->detail[0] != '\0');
	/* the peer's first bytes decide before anything else does */
	if (p.facts.first_in_len > 0 &&
	    !classify_looks_like_tls(p.facts.first_in, p.facts.first_in_len))
		FUZZ_CHECK(obs->cause == KMA_CAUSE_NOT_TLS);
	probe_free(&p);
	return 0;
}
