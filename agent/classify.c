#include "classify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "certinfo.h"
#include "mbedcompat.h"
#include "tlshello.h"
#include "tlsnames.h"

#include <mbedtls/net_sockets.h>
#include <mbedtls/x509.h>

#define SAY(...)                                                                                   \
	do {                                                                                       \
		if (detail)                                                                        \
			snprintf(detail, size, __VA_ARGS__);                                       \
	} while (0)

bool classify_looks_like_tls(const unsigned char *b, size_t len)
{
	if (len >= 1 && (b[0] < 20 || b[0] > 24))
		return false;
	if (len >= 2 && b[1] != 3)
		return false;
	return true;
}

/* Reads a big-endian field of n bytes at *p, if it is within end. */
static bool take(const unsigned char **p, const unsigned char *end, size_t n, size_t *out)
{
	size_t v = 0;

	if ((size_t)(end - *p) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | (*p)[i];
	*p += n;
	*out = v;
	return true;
}

int classify_hello_offers_tls12(const unsigned char *msg, size_t len)
{
	const unsigned char *p = msg, *end = msg + len, *ext_end;
	size_t type, n;

	/* type, length, legacy_version, random, session_id, suites, compression */
	if (!take(&p, end, 1, &type) || type != 1 || !take(&p, end, 3, &n) ||
	    !take(&p, end, 2, &n) || (size_t)(end - p) < 32)
		return -1;
	p += 32;
	if (!take(&p, end, 1, &n) || (size_t)(end - p) < n)
		return -1;
	p += n;
	if (!take(&p, end, 2, &n) || (size_t)(end - p) < n)
		return -1;
	p += n;
	if (!take(&p, end, 1, &n) || (size_t)(end - p) < n)
		return -1;
	p += n;
	if (!take(&p, end, 2, &n) || (size_t)(end - p) < n)
		return -1;
	ext_end = p + n;
	while (p < ext_end) {
		size_t ext, elen, vlen;

		if (!take(&p, ext_end, 2, &ext) || !take(&p, ext_end, 2, &elen) ||
		    (size_t)(ext_end - p) < elen)
			return -1;
		if (ext != 43) { /* supported_versions */
			p += elen;
			continue;
		}
		if (elen == 0 || !take(&p, ext_end, 1, &vlen) || vlen > elen - 1 || vlen % 2)
			return -1;
		for (size_t i = 0; i + 1 < vlen; i += 2)
			if (p[i] == 3 && p[i + 1] == 3)
				return 1;
		return 0;
	}
	return -1;
}

static enum kma_cause classify_connect(const struct probe_facts *f, char *detail, size_t size)
{
	if (f->timed_out) {
		SAY("no answer to the TCP connect before the deadline");
		return KMA_CAUSE_TCP_TIMEOUT;
	}
	switch (f->sock_errno) {
	case ECONNREFUSED:
		SAY("connection refused: nothing listens there, or its listen queue is full");
		return KMA_CAUSE_TCP_REFUSED;
	case ECONNRESET:
		SAY("connection reset during connect");
		return KMA_CAUSE_TCP_RESET;
	default:
		/* ETIMEDOUT, EHOSTUNREACH, ENETUNREACH: the network path. */
		SAY("connect failed: %s", f->sock_errno ? "no route or no answer" : "unknown");
		return KMA_CAUSE_TCP_TIMEOUT;
	}
}

static enum kma_cause classify_alert(const struct probe_facts *f, char *detail, size_t size)
{
	int a = f->alert_received;
	/* A client whose hello got an alert before any server handshake message, or a
	 * server whose hello flight got one: that is negotiation, not our certificate. */
	bool answers_hello =
	    !f->after_finished && (f->server || f->peer_hs_records == 0 || f->our_hs_records < 2);

	if (a == 70) {
		SAY("the peer answered with protocol_version: no TLS version in common");
		return KMA_CAUSE_PROTOCOL_MISMATCH;
	}
	if ((a == 40 || a == 71) && answers_hello) {
		SAY("the peer answered our hello with %s: no cipher suite, group or signature "
		    "algorithm in common",
		    tlsnames_alert(a));
		return KMA_CAUSE_CIPHER_MISMATCH;
	}
	SAY("the peer aborted with alert %d %s: it does not accept our certificate", a,
	    tlsnames_alert(a));
	return KMA_CAUSE_REJECTED_BY_PEER;
}

/* Our verdict on the peer's certificate, in the order of the vocabulary table. */
static enum kma_cause classify_verify(const struct probe_facts *f, char *detail, size_t size)
{
	uint32_t v = f->verify_flags;

	if (f->server && (v & MBEDTLS_X509_BADCERT_MISSING || !f->peer_cert_seen)) {
		SAY("the connecting peer sent no certificate");
		return KMA_CAUSE_PEER_NO_CLIENT_CERT;
	}
	if (v & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
		if (f->chain_self_signed_root) {
			SAY("the peer's chain ends in a self-signed root that is not our CA");
			return KMA_CAUSE_PEER_CERT_UNTRUSTED;
		}
		SAY("the peer's chain ends in a certificate whose issuer we do not have");
		return KMA_CAUSE_PEER_CHAIN_INCOMPLETE;
	}
	if (v & MBEDTLS_X509_BADCERT_EXPIRED) {
		SAY("the peer's certificate has expired");
		return KMA_CAUSE_PEER_CERT_EXPIRED;
	}
	if (v & MBEDTLS_X509_BADCERT_FUTURE) {
		SAY("the peer's certificate is not valid yet");
		return KMA_CAUSE_PEER_CERT_NOT_YET_VALID;
	}
	if (v & MBEDTLS_X509_BADCERT_REVOKED) {
		SAY("the peer's certificate is on the CRL");
		return KMA_CAUSE_PEER_CERT_REVOKED;
	}
	if (v & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
	         MBEDTLS_X509_BADCERT_NS_CERT_TYPE)) {
		SAY("the peer's certificate may not be used as a TLS %s",
		    f->server ? "client" : "server");
		return KMA_CAUSE_PEER_CERT_BAD_USAGE;
	}
	if (v & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
		SAY("the peer's certificate names another node than the one expected there");
		return KMA_CAUSE_PEER_IDENTITY_MISMATCH;
	}
	if (v & MBEDTLS_X509_BADCERT_OTHER) {
		SAY("the peer's certificate is valid but its serial is not the enrolled one");
		return KMA_CAUSE_PEER_SERIAL_MISMATCH;
	}
	/* Weak digest or key, CRL problems: the chain is not one we can trust. */
	SAY("the peer's certificate failed verification");
	return KMA_CAUSE_PEER_CERT_UNTRUSTED;
}

static enum kma_cause classify_facts(const struct probe_facts *f, char *detail, size_t size)
{
	if (f->stage == PROBE_STAGE_RESOLVE) {
		SAY("the peer's address did not resolve");
		return KMA_CAUSE_DNS_FAILURE;
	}
	if (f->stage == PROBE_STAGE_CONNECT)
		return classify_connect(f, detail, size);
	if (f->handshake_done && f->tls_error == 0) {
		SAY("mutual authentication succeeded");
		return KMA_CAUSE_OK;
	}
	if (f->first_in_len > 0 && !classify_looks_like_tls(f->first_in, f->first_in_len)) {
		SAY("the peer sent bytes that are not a TLS record");
		return KMA_CAUSE_NOT_TLS;
	}
	if (f->alert_received >= 0)
		return classify_alert(f, detail, size);
	/* TLS 1.3: after our Finished the server judges our certificate; an Mbed TLS 3.x server
	 * seals its alert with the handshake keys we have already left, so the record it sends
	 * fails to decrypt. It is the refusal, with an alert we cannot read. */
	if (f->after_finished && f->tls_error == MBEDTLS_ERR_SSL_INVALID_MAC) {
		SAY("the peer refused our certificate after our Finished (TLS 1.3) with an alert "
		    "we could not read (sealed with its handshake keys, as Mbed TLS servers do)");
		return KMA_CAUSE_REJECTED_BY_PEER;
	}
	if (f->verify_flags || f->tls_error == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
	    (f->server && f->tls_error == KMA_ERR_SSL_NO_CLIENT_CERT))
		return classify_verify(f, detail, size);
	if (f->hello_without_tls12 || f->tls_error == KMA_ERR_SSL_BAD_VERSION) {
		SAY("the peer offered a TLS version outside ours");
		return KMA_CAUSE_PROTOCOL_MISMATCH;
	}
	if (f->tls_error == KMA_ERR_SSL_NO_COMMON_SUITE ||
	    f->tls_error == KMA_ERR_SSL_NO_USABLE_SUITE) {
		SAY("no cipher suite, group or signature algorithm in common");
		return KMA_CAUSE_CIPHER_MISMATCH;
	}
	if (f->timed_out) {
		SAY("TCP is up but the TLS handshake did not finish before the deadline");
		return KMA_CAUSE_HANDSHAKE_TIMEOUT;
	}
	if (f->sock_errno == ECONNRESET || f->sock_errno == EPIPE ||
	    f->tls_error == MBEDTLS_ERR_NET_CONN_RESET) {
		SAY("the connection was reset during the handshake");
		return KMA_CAUSE_TCP_RESET;
	}
	if (f->eof || f->tls_error == MBEDTLS_ERR_SSL_CONN_EOF) {
		SAY("the peer closed the connection during the handshake without an alert");
		return KMA_CAUSE_PEER_CLOSED;
	}
	/* An error this table does not know (a new library version, a local failure): say
	 * so with the library's own words rather than guess a cause that sends the operator
	 * after the wrong node. */
	if (detail) {
		char msg[120];

		certinfo_strerror(f->tls_error, msg, sizeof(msg));
		SAY("the handshake failed with mbedTLS error -0x%04X (%s), which names none of our "
		    "causes",
		    (unsigned)-f->tls_error, msg);
	}
	return KMA_CAUSE_TLS_ERROR;
}

bool classify_hello_refused(const struct probe_facts *f)
{
	int a = f->alert_received;
	bool closed = f->eof || f->tls_error == MBEDTLS_ERR_SSL_CONN_EOF ||
	              f->sock_errno == ECONNRESET || f->sock_errno == EPIPE ||
	              f->tls_error == MBEDTLS_ERR_NET_CONN_RESET;

	if (f->server || f->stage != PROBE_STAGE_TLS || f->handshake_done || f->timed_out ||
	    f->our_hs_records == 0 || f->peer_hs_records > 0)
		return false;
	if (f->first_in_len > 0 && !classify_looks_like_tls(f->first_in, f->first_in_len))
		return false;
	if (a >= 0)
		return a == 40 || a == 70 || a == 71;
	return closed && f->first_in_len == 0;
}

/* "peer accepts TLS 1.0, TLS 1.1[; no answer about TLS 1.3]; we speak TLS 1.2" */
static void say_versions(const struct probe_facts *f, char *buf, size_t size)
{
	unsigned unknown = TLSHELLO_ALL & ~(f->versions_accepted | f->versions_refused);
	char acc[40], unk[40], ours[40]; /* "TLS 1.0, TLS 1.1, TLS 1.2, TLS 1.3" */

	tlshello_versions_str(f->versions_accepted, acc, sizeof(acc));
	tlshello_versions_str(unknown, unk, sizeof(unk));
	tlshello_versions_str(f->versions_ours, ours, sizeof(ours));
	snprintf(buf, size, "peer accepts %s%s%s; we speak %s", acc,
	         unknown ? "; no answer about " : "", unknown ? unk : "", ours);
}

enum kma_cause classify(const struct probe_facts *f, char *detail, size_t size)
{
	char versions[200];
	enum kma_cause c;
	size_t len;

	if (!f->versions_probed || !classify_hello_refused(f))
		return classify_facts(f, detail, size);
	say_versions(f, versions, sizeof(versions));
	/* Every version we speak refused, another accepted: whatever the alert said. */
	if (f->versions_ours && (f->versions_refused & f->versions_ours) == f->versions_ours &&
	    f->versions_accepted) {
		if (f->alert_received >= 0)
			SAY("the peer answered our hello with %s: no TLS version in common (%s)",
			    tlsnames_alert(f->alert_received), versions);
		else
			SAY("the peer %s the connection after our hello: no TLS version in common "
			    "(%s)",
			    f->eof || f->tls_error == MBEDTLS_ERR_SSL_CONN_EOF ? "closed" : "reset",
			    versions);
		return KMA_CAUSE_PROTOCOL_MISMATCH;
	}
	c = classify_facts(f, detail, size);
	if (detail && (len = strlen(detail)) + 1 < size)
		snprintf(detail + len, size - len, " (%s%s)",
		         f->versions_accepted & f->versions_ours ? "versions match: " : "",
		         versions);
	return c;
}
