#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crlcheck.h"
#include "hexser.h"

/* After the verdict, how long we wait for the peer to read our alert and close. */
#define DRAIN_MS 300
/* TLS 1.3 client: how long a server has to refuse our Finished before we ask it (at most
 * half the time left). A refusal takes one round trip and one signature check. */
#define CONFIRM_GRACE_MS 1000

uint64_t probe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Follows the TLS record layer in one direction: keeps the first bytes (to tell non-TLS
 * peers), counts handshake records, and reads plaintext fatal alerts. Alerts are plaintext
 * in TLS 1.2 until ChangeCipherSpec, which covers every handshake failure.
 */
static void sniff_feed(struct probe_sniff *s, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n && s->first_len < sizeof(s->first); i++)
		s->first[s->first_len++] = b[i];
	while (n > 0 && !s->garbage) {
		size_t k;

		if (s->body_left == 0) {
			s->hdr[s->hdr_len++] = *b++;
			n--;
			if (s->hdr_len < sizeof(s->hdr))
				continue;
			s->hdr_len = 0;
			if (s->hdr[0] < 20 || s->hdr[0] > 24 || s->hdr[1] != 3) {
				s->garbage = true;
				break;
			}
			s->body_left = (size_t)s->hdr[3] << 8 | s->hdr[4];
			s->alert_len = 0;
			if (s->hdr[0] == 22)
				s->hs_records++;
			continue;
		}
		k = n < s->body_left ? n : s->body_left;
		for (size_t i = 0; i < k && s->hdr[0] == 21 && !s->ccs && s->alert_len < 2; i++)
			s->alert[s->alert_len++] = b[i];
		/* The peer's hello, to tell a version mismatch from a suite mismatch. */
		for (size_t i = 0; i < k && s->hdr[0] == 22 && s->hs_records == 1 &&
		                   s->hello_len < sizeof(s->hello);
		     i++)
			s->hello[s->hello_len++] = b[i];
		b += k;
		n -= k;
		s->body_left -= k;
		if (s->body_left > 0)
			continue;
		if (s->hdr[0] == 20)
			s->ccs = true;
		else if (s->hdr[0] == 21 && s->alert_len == 2 && s->alert[0] == 2 &&
		         s->fatal_alert < 0)
			s->fatal_alert = s->alert[1];
	}
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct probe *p = ctx;
	ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return MBEDTLS_ERR_SSL_WANT_WRITE;
		p->facts.sock_errno = errno;
		return errno == ECONNRESET || errno == EPIPE ? MBEDTLS_ERR_NET_CONN_RESET
		                                             : MBEDTLS_ERR_NET_SEND_FAILED;
	}
	sniff_feed(&p->out, buf, (size_t)n);
	return (int)n;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct probe *p = ctx;
	ssize_t n = recv(p->fd, buf, len, 0);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return MBEDTLS_ERR_SSL_WANT_READ;
		p->facts.sock_errno = errno;
		return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
		                           : MBEDTLS_ERR_NET_RECV_FAILED;
	}
	if (n == 0)
		p->facts.eof = true;
	sniff_feed(&p->in, buf, (size_t)n);
	return (int)n;
}

/*
 * The pinning: the verify flags to add when the certificate ci is not the node and serial
 * expected. Inbound, the expectation is the peer table's entry for the node ID ci names
 * (written into the observation on the way).
 */
static uint32_t pin_flags(struct probe *p, const struct certinfo *ci)
{
	uint32_t flags = 0;

	if (p->lookup) {
		char serial[KMA_SERIAL_SIZE] = "";

		/* The expectation comes from the peer table entry the certificate names. */
		snprintf(p->obs.expect_id, sizeof(p->obs.expect_id), "%s", ci->node_id);
		if (!p->lookup(p->lookup_arg, ci->node_id, serial, sizeof(serial))) {
			flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
			snprintf(p->obs.expect_id, sizeof(p->obs.expect_id),
			         "(a node of our peer "
			         "table)");
		} else if (!hexser_normalize(serial, p->obs.expect_serial,
		                             sizeof(p->obs.expect_serial))) {
			p->obs.expect_serial[0] = '\0';
		}
	}
	if (p->obs.expect_id[0] && p->obs.expect_id[0] != '(' &&
	    strcmp(ci->node_id, p->obs.expect_id) != 0)
		flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	if (p->obs.expect_serial[0] && !hexser_equal(ci->serial, p->obs.expect_serial))
		flags |= MBEDTLS_X509_BADCERT_OTHER;
	return flags;
}

/*
 * Called by mbedTLS for each certificate of the chain it built, the peer's leaf last
 * (depth 0). Pinning lives here so that a wrong node ID or serial fails the handshake
 * itself, with mbedTLS's alert, on both sides. The CRL's age fails nothing (crlcheck.h).
 */
static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct probe *p = ctx;
	const mbedtls_x509_crt *last = crt;

	*flags &= ~(uint32_t)CRLCHECK_TIME_FLAGS;
	if (depth != 0)
		return 0;
	/* The pinning below is the name check (the node ID is the CN): mbedTLS's own check
	 * of the hostname tls_begin set would also look at subjectAltName. */
	*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	p->leaf_verified = true;
	p->facts.peer_cert_seen = true;
	p->obs.has_cert = true;
	certinfo_from_crt(crt, &p->obs.cert);
	/* crt->next is the rest of the chain as the peer sent it. */
	while (last->next && last->next->raw.len > 0)
		last = last->next;
	p->facts.chain_self_signed_root =
	    last->issuer_raw.len == last->subject_raw.len &&
	    memcmp(last->issuer_raw.p, last->subject_raw.p, last->issuer_raw.len) == 0;
	*flags |= pin_flags(p, &p->obs.cert);
	return 0;
}

/*
 * What a resumed session's certificate must still pass, as nobody verifies it again: the
 * pinning against today's expectation, its validity period and today's CRL (the chain was
 * checked at the full handshake, within the forced interval).
 */
/* Whether a CRL lists the serial (certinfo form), for a session without a certificate. */
static bool serial_revoked(const mbedtls_x509_crl *crl, const char *serial)
{
	for (; crl; crl = crl->next) {
		for (const mbedtls_x509_crl_entry *e = &crl->entry; e && e->raw.len; e = e->next) {
			char hex[KMA_SERIAL_SIZE];
			size_t n = 0;

			for (size_t i = 0; i < e->serial.len && n + 3 <= sizeof(hex); i++)
				n += (size_t)snprintf(hex + n, sizeof(hex) - n, "%02X",
				                      e->serial.p[i]);
			if (hexser_equal(hex, serial))
				return true;
		}
	}
	return false;
}

/* crt: the session's certificate, NULL when it holds none (TLS 1.3): ci then says all. */
static uint32_t resumed_cert_flags(struct probe *p, const mbedtls_x509_crt *crt,
                                   const struct certinfo *ci)
{
	uint32_t flags = pin_flags(p, ci);
	int64_t now = (int64_t)time(NULL);

	if (now > ci->not_after)
		flags |= MBEDTLS_X509_BADCERT_EXPIRED;
	if (now < ci->not_before)
		flags |= MBEDTLS_X509_BADCERT_FUTURE;
	if (p->tls && p->tls->crl &&
	    (crt ? mbedtls_x509_crt_is_revoked(crt, p->tls->crl) != 0
	         : serial_revoked(p->tls->crl, ci->serial)))
		flags |= MBEDTLS_X509_BADCERT_REVOKED;
	return flags;
}

static void certinfo_from_peer(const struct tlsctx_peer *peer, struct certinfo *ci)
{
	memset(ci, 0, sizeof(*ci));
	snprintf(ci->node_id, sizeof(ci->node_id), "%s", peer->node_id);
	snprintf(ci->serial, sizeof(ci->serial), "%s", peer->serial);
	ci->not_before = peer->not_before;
	ci->not_after = peer->not_after;
}

/* Server side, in the middle of a handshake: may the client a ticket names resume? */
static bool ticket_ok(void *arg, const struct tlsctx_peer *peer)
{
	struct probe *p = arg;
	struct certinfo ci;

	certinfo_from_peer(peer, &ci);
	if (resumed_cert_flags(p, NULL, &ci) != 0)
		return false;
	p->resume_peer = *peer;
	p->has_resume_peer = true;
	return true;
}

/* Server side: whom a ticket issued after a resumed TLS 1.3 handshake names. */
static bool ticket_peer(void *arg, struct tlsctx_peer *peer)
{
	struct probe *p = arg;

	if (!p->has_resume_peer)
		return false;
	*peer = p->resume_peer;
	return true;
}

/* Whether the saved session was verified as the node and serial we expect now. */
static bool session_matches(const struct probe *p, const struct probe_session *s)
{
	return s->valid && strcmp(s->node_id, p->obs.expect_id) == 0 &&
	       (!p->obs.expect_serial[0] || hexser_equal(s->serial, p->obs.expect_serial));
}

void probe_session_init(struct probe_session *s)
{
	memset(s, 0, sizeof(*s));
	mbedtls_ssl_session_init(&s->session);
}

void probe_session_forget(struct probe_session *s)
{
	mbedtls_ssl_session_free(&s->session);
	probe_session_init(s);
}

void probe_session_free(struct probe_session *s)
{
	probe_session_forget(s);
}

void probe_session_expire(struct probe_session *s, uint64_t now_ms, uint64_t max_age_ms)
{
	if (s->valid && now_ms - s->full_ms >= max_age_ms)
		probe_session_forget(s);
}

/* After a verified full handshake: what the next probes of this peer resume. */
static void session_save(struct probe *p)
{
	struct probe_session *s = p->session;

	probe_session_forget(s);
	if (mbedtls_ssl_get_session(&p->ssl, &s->session) != 0) {
		probe_session_forget(s);
		return;
	}
	s->valid = true;
	snprintf(s->node_id, sizeof(s->node_id), "%s", p->obs.cert.node_id);
	snprintf(s->serial, sizeof(s->serial), "%s", p->obs.cert.serial);
	s->not_before = p->obs.cert.not_before;
	s->not_after = p->obs.cert.not_after;
	s->full_ms = probe_now_ms();
}

/*
 * After a resumed handshake: a TLS 1.3 server sent a new ticket, which replaces the one
 * used (RFC 8446 C.4: a client should not use a ticket twice; OpenSSL refuses a reused
 * one). The verified identity and the time of the full handshake stay.
 */
static void session_renew(struct probe *p)
{
	struct probe_session *s = p->session;

	s->resumed++;
	if (!p->got_ticket)
		return;
	mbedtls_ssl_session_free(&s->session);
	mbedtls_ssl_session_init(&s->session);
	if (mbedtls_ssl_get_session(&p->ssl, &s->session) != 0)
		probe_session_forget(s);
}

static void probe_reset(struct probe *p, const char *label, const struct probe_expect *expect,
                        bool inbound)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->state = PROBE_IDLE;
	p->facts.server = inbound;
	p->facts.alert_received = -1;
	p->facts.alert_sent = -1;
	p->in.fatal_alert = -1;
	p->out.fatal_alert = -1;
	p->obs.inbound = inbound;
	p->obs.alert_sent = -1;
	p->obs.alert_received = -1;
	snprintf(p->obs.peer, sizeof(p->obs.peer), "%s", label ? label : "");
	if (expect && expect->node_id)
		snprintf(p->obs.expect_id, sizeof(p->obs.expect_id), "%s", expect->node_id);
	if (expect) {
		p->lookup = expect->lookup;
		p->lookup_arg = expect->lookup_arg;
		if (!inbound) {
			p->session = expect->session;
			p->keep_open = expect->keep_open;
		}
	}
	if (expect && expect->serial &&
	    !hexser_normalize(expect->serial, p->obs.expect_serial, sizeof(p->obs.expect_serial)))
		p->obs.expect_serial[0] = '\0';
	mbedtls_ssl_init(&p->ssl);
	p->start_ms = probe_now_ms();
}

/* The versions the configuration of this probe's role speaks. */
static unsigned our_versions(const struct probe *p)
{
	const mbedtls_ssl_config *conf;
	unsigned mask = 0;

	if (!p->tls)
		return 0;
	conf = p->facts.server ? &p->tls->server : &p->tls->client;
	for (unsigned i = 0; i < TLSHELLO_N; i++)
		if (kma_ssl_conf_speaks(conf, TLSHELLO_VERSION(i)))
			mask |= TLSHELLO_BIT(TLSHELLO_VERSION(i));
	return mask;
}

/* The alert mbedTLS sends for a certificate it refused (mbedtls_ssl_verify_certificate). */
static int verify_alert(uint32_t flags)
{
	if (flags & MBEDTLS_X509_BADCERT_OTHER)
		return MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED;
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
	if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
	             MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
		return MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT;
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
	if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		return MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED;
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA;
	return MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN;
}

/* Fills the observation from the facts and starts the orderly close. */
static void probe_finish(struct probe *p)
{
	struct probe_facts *f = &p->facts;
	bool keep;

	if (p->ssl_ready) {
		uint32_t v = mbedtls_ssl_get_verify_result(&p->ssl);

		f->verify_flags = v == 0xFFFFFFFFu ? 0 : v;
	}
	f->verify_flags |= p->resume_flags;
	f->alert_received = p->in.fatal_alert;
	if (f->alert_received < 0 && f->tls_error == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
		f->alert_received = kma_ssl_received_alert(&p->ssl);
	f->peer_hs_records = p->in.hs_records;
	f->our_hs_records = p->out.hs_records;
	memcpy(f->first_in, p->in.first, p->in.first_len);
	f->first_in_len = p->in.first_len;
	f->hello_without_tls12 = f->server && !f->handshake_done &&
	                         classify_hello_offers_tls12(p->in.hello, p->in.hello_len) == 0;
	f->versions_ours = our_versions(p);
	p->obs.versions_ours = f->versions_ours;
	p->obs.cause = classify(f, p->obs.detail, sizeof(p->obs.detail));
	/* Asked once this connection is closed: the peer may serve one at a time. */
	p->want_versions = p->addr_len > 0 && classify_hello_refused(f);
	if (p->obs.cause == KMA_CAUSE_OK && p->obs.resumed)
		snprintf(p->obs.detail, sizeof(p->obs.detail),
		         "mutual authentication succeeded by resuming a session: the certificate "
		         "was verified at that session's full handshake");
	else if (p->obs.cause == KMA_CAUSE_OK && p->obs.offered)
		snprintf(p->obs.detail, sizeof(p->obs.detail),
		         "mutual authentication succeeded in a full handshake (the peer did not "
		         "resume our saved session)");
	if (p->session) {
		/* Any failure, or a peer that would not resume: verify in full next time. */
		if (p->obs.cause != KMA_CAUSE_OK)
			probe_session_forget(p->session);
		else if (p->obs.resumed)
			session_renew(p);
		else
			session_save(p);
	}

	/* A TLS 1.2 mbedTLS server says nothing when the client sent no certificate. */
	if (p->obs.cause == KMA_CAUSE_PEER_NO_CLIENT_CERT && p->out.fatal_alert < 0 && !f->eof)
		mbedtls_ssl_send_alert_message(&p->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
		                               MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
	/* keep_open: the connection is the caller's now (probe.h). */
	keep = p->obs.cause == KMA_CAUSE_OK && p->keep_open && p->fd >= 0;
	if (p->obs.cause == KMA_CAUSE_OK && !keep && !p->nudged)
		mbedtls_ssl_close_notify(&p->ssl); /* best effort, never waited for */
	f->alert_sent = p->out.fatal_alert;
	/* TLS 1.3 encrypts our alerts: the sniffer saw none, say which mbedTLS sent. */
	if (f->alert_sent < 0 && !f->handshake_done && p->ssl_ready)
		f->alert_sent = f->tls_error == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
		                    ? verify_alert(f->verify_flags)
		                    : kma_ssl_sent_alert(&p->ssl);
	p->obs.alert_sent = f->alert_sent;
	p->obs.alert_received = f->alert_received;
	p->obs.tls_error = f->tls_error;
	p->obs.verify_flags = f->verify_flags;
	if (p->tcp_ms)
		p->obs.handshake_ms =
		    (uint32_t)((p->finished_ms ? p->finished_ms : probe_now_ms()) - p->tcp_ms);
	if (f->handshake_done) {
		snprintf(p->obs.protocol, sizeof(p->obs.protocol), "%s",
		         mbedtls_ssl_get_version(&p->ssl));
		snprintf(p->obs.suite, sizeof(p->obs.suite), "%s",
		         mbedtls_ssl_get_ciphersuite(&p->ssl));
	}
	if (p->fd < 0 || keep) {
		p->state = PROBE_DONE;
		return;
	}
	/* Closing with unread data makes the kernel send a reset that can overtake our
	 * alert: half-close, then read what the peer still sends for a short while. */
	shutdown(p->fd, SHUT_WR);
	p->drain_ms = probe_now_ms() + DRAIN_MS;
	p->state = PROBE_CLOSING;
}

static int tls_begin(struct probe *p)
{
	int rc = mbedtls_ssl_setup(&p->ssl, p->facts.server ? &p->tls->server : &p->tls->client);

	if (rc) {
		p->facts.tls_error = rc;
		return -1;
	}
	p->ssl_ready = true;
	/* A verifying client must name the server it expects (from 3.6.3, CVE-2025-27809,
	 * the handshake fails otherwise): the node ID we pin, sent as SNI too. Without an
	 * expected ID, NULL says that no name is to be checked (verify_cb pins the rest). */
	if (!p->facts.server) {
		const char *name =
		    p->obs.expect_id[0] && p->obs.expect_id[0] != '(' ? p->obs.expect_id : NULL;

		rc = mbedtls_ssl_set_hostname(&p->ssl, name);
		if (rc) {
			p->facts.tls_error = rc;
			return -1;
		}
	}
	mbedtls_ssl_set_bio(&p->ssl, p, bio_send, bio_recv, NULL);
	mbedtls_ssl_set_verify(&p->ssl, verify_cb, p);
	if (p->session && p->session->valid) {
		/* Only a session verified as the node and serial expected now may resume. */
		if (session_matches(p, p->session) &&
		    mbedtls_ssl_set_session(&p->ssl, &p->session->session) == 0)
			p->obs.offered = true;
		else
			probe_session_forget(p->session);
	}
	p->tcp_ms = probe_now_ms();
	p->state = PROBE_HANDSHAKE;
	return 0;
}

void probe_connect(struct probe *p, struct tlsctx *tls, const struct sockaddr *addr,
                   socklen_t addr_len, const char *label, const struct probe_expect *expect,
                   uint32_t timeout_ms)
{
	int one = 1;

	probe_reset(p, label, expect, false);
	p->deadline_ms = p->start_ms + timeout_ms;
	p->timeout_ms = timeout_ms;
	p->facts.stage = PROBE_STAGE_CONNECT;
	p->tls = tls;
	if (addr_len <= sizeof(p->addr)) {
		memcpy(&p->addr, addr, addr_len);
		p->addr_len = addr_len;
	}
	p->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		p->facts.sock_errno = errno;
		probe_finish(p);
		return;
	}
	/* Nagle would hold each handshake flight back by up to 40 ms. */
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(p->fd, addr, addr_len) == 0) {
		p->facts.stage = PROBE_STAGE_TLS;
		if (tls_begin(p))
			probe_finish(p);
		return;
	}
	if (errno != EINPROGRESS) {
		p->facts.sock_errno = errno;
		probe_finish(p);
		return;
	}
	p->state = PROBE_CONNECTING;
}

void probe_accept(struct probe *p, struct tlsctx *tls, int fd, const char *label,
                  const struct probe_expect *expect, uint32_t timeout_ms)
{
	int one = 1;

	probe_reset(p, label, expect, true);
	p->deadline_ms = p->start_ms + timeout_ms;
	p->tls = tls;
	p->fd = fd;
	p->facts.stage = PROBE_STAGE_TLS;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls_begin(p))
		probe_finish(p);
}

void probe_resolve_failed(struct probe *p, const char *label, const struct probe_expect *expect,
                          const char *why)
{
	probe_reset(p, label, expect, false);
	p->facts.stage = PROBE_STAGE_RESOLVE;
	p->facts.resolve_failed = true;
	probe_finish(p);
	if (why)
		snprintf(p->obs.detail, sizeof(p->obs.detail), "%s did not resolve: %s", label,
		         why);
}

/* Each step returns what to wait for when the state did not change. */
static enum probe_wait step_connecting(struct probe *p, uint64_t now)
{
	struct pollfd pfd = {.fd = p->fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&pfd, 1, 0) <= 0) {
		if (now < p->deadline_ms)
			return PROBE_WAIT_WRITE;
		p->facts.timed_out = true;
		probe_finish(p);
		return PROBE_WAIT_READ;
	}
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		p->facts.sock_errno = err;
		probe_finish(p);
		return PROBE_WAIT_READ;
	}
	p->facts.stage = PROBE_STAGE_TLS;
	if (tls_begin(p))
		probe_finish(p);
	return PROBE_WAIT_WRITE;
}

/* The alert mbedTLS would send for verify flags (SPEC 4), for a resumed session we refuse. */
static unsigned char alert_for(uint32_t flags)
{
	if (flags & MBEDTLS_X509_BADCERT_OTHER)
		return MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED;
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
	if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		return MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED;
	return MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN;
}

/*
 * A handshake that ended without verifying a certificate resumed a session: the peer's
 * certificate is the one the session keeps. Both sides checked it against today's
 * expectation before resuming; if it fails now (the peer table changed during the
 * handshake), the probe fails as a full handshake would have.
 */
static void resumed(struct probe *p)
{
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&p->ssl);

	bool known = true;

	p->obs.resumed = true;
	/* A TLS 1.3 session holds no certificate: the server has the ticket's identity, the
	 * client what it saved at the full handshake. */
	if (crt) {
		certinfo_from_crt(crt, &p->obs.cert);
	} else if (p->facts.server && p->has_resume_peer) {
		certinfo_from_peer(&p->resume_peer, &p->obs.cert);
	} else if (!p->facts.server && p->session && p->session->valid) {
		struct tlsctx_peer saved;

		snprintf(saved.node_id, sizeof(saved.node_id), "%s", p->session->node_id);
		snprintf(saved.serial, sizeof(saved.serial), "%s", p->session->serial);
		saved.not_before = p->session->not_before;
		saved.not_after = p->session->not_after;
		certinfo_from_peer(&saved, &p->obs.cert);
	} else {
		known = false;
	}
	if (!known) {
		p->resume_flags = MBEDTLS_X509_BADCERT_MISSING;
	} else {
		p->facts.peer_cert_seen = true;
		p->obs.has_cert = true;
		p->resume_flags = resumed_cert_flags(p, crt, &p->obs.cert);
	}
	if (!p->resume_flags)
		return;
	p->facts.handshake_done = false;
	p->facts.tls_error = MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;
	/* Encrypted by now, so the record sniffer cannot see it: note it ourselves. */
	if (mbedtls_ssl_send_alert_message(&p->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
	                                   alert_for(p->resume_flags)) == 0)
		p->out.fatal_alert = alert_for(p->resume_flags);
}

static enum probe_wait step_handshake(struct probe *p, uint64_t now)
{
	int rc;

	if (now >= p->deadline_ms) {
		p->facts.timed_out = true;
		probe_finish(p);
		return PROBE_WAIT_READ;
	}
	if (p->facts.server) {
		p->tls->resume_check = ticket_ok;
		p->tls->resume_peer = ticket_peer;
		p->tls->resume_arg = p;
	}
	rc = mbedtls_ssl_handshake(&p->ssl);
	p->tls->resume_check = NULL;
	p->tls->resume_peer = NULL;
	p->tls->resume_arg = NULL;
	if (rc == MBEDTLS_ERR_SSL_WANT_READ)
		return PROBE_WAIT_READ;
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return PROBE_WAIT_WRITE;
	p->facts.tls_error = rc;
	p->facts.handshake_done = rc == 0;
	if (rc == 0)
		p->finished_ms = now;
	if (rc == 0 && !p->leaf_verified)
		resumed(p);
	/* In TLS 1.3 the client finishes before the server has judged its certificate: wait
	 * for the server's word (a ticket, a close or an alert) before calling it ok. */
	if (p->facts.handshake_done && !p->facts.server && kma_ssl_is_tls13(&p->ssl)) {
		uint64_t left = p->deadline_ms > now ? p->deadline_ms - now : 0;

		p->nudge_ms = now + (left / 2 < CONFIRM_GRACE_MS ? left / 2 : CONFIRM_GRACE_MS);
		p->state = PROBE_CONFIRM;
		return PROBE_WAIT_READ;
	}
	probe_finish(p);
	return PROBE_WAIT_READ;
}

/*
 * TLS 1.3 client after its Finished: the server sends a session ticket (resumption on)
 * or, as our listener does, a close_notify once it accepted our certificate, and an alert
 * when it did not. A server that says nothing until the client speaks (no tickets, and
 * waiting for a request: OpenSSL's s_server -num_tickets 0) is asked after a grace
 * (CONFIRM_GRACE_MS, by when a refusal would have come): our close_notify, which it answers
 * by closing once it has judged our Finished. Anything else before the deadline is not an
 * acceptance. A connection kept for the caller (keep_open, the KMIP check) is not closed:
 * after the grace it is the caller's, and a late refusal breaks the caller's exchange.
 */
static enum probe_wait step_confirm(struct probe *p, uint64_t now)
{
	unsigned char buf[64];
	int rc;

	if (now >= p->deadline_ms) {
		p->facts.timed_out = true;
		p->facts.handshake_done = false;
		probe_finish(p);
		return PROBE_WAIT_READ;
	}
	if (!p->nudged && now >= p->nudge_ms) {
		p->nudged = true;
		if (p->keep_open) {
			probe_finish(p);
			return PROBE_WAIT_READ;
		}
		(void)mbedtls_ssl_close_notify(&p->ssl); /* a few bytes: the socket takes them */
	}
	rc = mbedtls_ssl_read(&p->ssl, buf, sizeof(buf));
	if (rc == MBEDTLS_ERR_SSL_WANT_READ)
		return PROBE_WAIT_READ;
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return PROBE_WAIT_WRITE;
	if (rc == KMA_ERR_SSL_RECEIVED_TICKET)
		p->got_ticket = true;
	/* After our close_notify, a server that closes without an alert accepted us. */
	if (rc > 0 || rc == KMA_ERR_SSL_RECEIVED_TICKET ||
	    rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || (rc == 0 && p->nudged)) {
		probe_finish(p);
		return PROBE_WAIT_READ;
	}
	p->facts.tls_error = rc;
	p->facts.handshake_done = false;
	p->facts.after_finished = true;
	probe_finish(p);
	return PROBE_WAIT_READ;
}

static enum probe_wait step_closing(struct probe *p, uint64_t now)
{
	unsigned char sink[512];

	for (;;) {
		ssize_t n = recv(p->fd, sink, sizeof(sink), 0);

		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && now < p->drain_ms)
			return PROBE_WAIT_READ;
		break; /* EOF, error or out of time */
	}
	close(p->fd);
	p->fd = -1;
	/* Only a probe that asks holds the scan's buffers (without memory it does not ask). */
	if (p->want_versions && (p->scan = malloc(sizeof(*p->scan))) != NULL) {
		verscan_start(p->scan, (const struct sockaddr *)&p->addr, p->addr_len, TLSHELLO_ALL,
		              p->timeout_ms, mbedtls_ctr_drbg_random, &p->tls->drbg);
		p->scan_ms = now;
		p->state = PROBE_VERSIONS;
		return PROBE_WAIT_WRITE;
	}
	p->state = PROBE_DONE;
	return PROBE_WAIT_DONE;
}

static void drop_scan(struct probe *p)
{
	verscan_free(p->scan);
	free(p->scan);
	p->scan = NULL;
}

/* The follow-up probes; when they are done, the cause is decided again with their answers. */
static enum probe_wait step_versions(struct probe *p, uint64_t now)
{
	struct probe_facts *f = &p->facts;
	enum verscan_wait w = verscan_step(p->scan, now);

	if (w == VERSCAN_READ)
		return PROBE_WAIT_READ;
	if (w == VERSCAN_WRITE)
		return PROBE_WAIT_WRITE;
	f->versions_probed = true;
	f->versions_accepted = verscan_accepted(p->scan);
	f->versions_refused = verscan_refused(p->scan);
	p->obs.versions_probed = true;
	p->obs.versions_accepted = f->versions_accepted;
	memcpy(p->obs.versions, p->scan->result, sizeof(p->obs.versions));
	p->obs.versions_ms = (uint32_t)(probe_now_ms() - p->scan_ms);
	p->obs.cause = classify(f, p->obs.detail, sizeof(p->obs.detail));
	drop_scan(p);
	p->state = PROBE_DONE;
	return PROBE_WAIT_DONE;
}

enum probe_wait probe_step(struct probe *p)
{
	uint64_t now = probe_now_ms();
	unsigned held = 0;

	for (;;) {
		enum probe_state before = p->state;
		enum probe_wait w;

		switch (p->state) {
		case PROBE_CONNECTING:
			w = step_connecting(p, now);
			break;
		case PROBE_HANDSHAKE:
			w = step_handshake(p, now);
			break;
		case PROBE_CONFIRM:
			w = step_confirm(p, now);
			break;
		case PROBE_CLOSING:
			w = step_closing(p, now);
			break;
		case PROBE_VERSIONS:
			w = step_versions(p, now);
			break;
		default:
			return PROBE_WAIT_DONE;
		}
		if (p->state != before)
			continue;
		/* Mbed TLS may answer WANT_READ while it holds a whole record back for the next
		 * call (a TLS 1.3 session ticket, kept to be signalled): the socket will not
		 * wake us for it, so step again (bounded: each call consumes what it holds). */
		if (w == PROBE_WAIT_READ && held < 4 &&
		    (p->state == PROBE_HANDSHAKE || p->state == PROBE_CONFIRM) &&
		    mbedtls_ssl_check_pending(&p->ssl)) {
			held++;
			continue;
		}
		return w;
	}
}

int probe_fd(const struct probe *p)
{
	return p->state == PROBE_VERSIONS ? verscan_fd(p->scan) : p->fd;
}

uint64_t probe_deadline(const struct probe *p)
{
	if (p->state == PROBE_VERSIONS)
		return verscan_deadline(p->scan);
	if (p->state == PROBE_CONFIRM && !p->nudged && p->nudge_ms < p->deadline_ms)
		return p->nudge_ms;
	return p->state == PROBE_CLOSING ? p->drain_ms : p->deadline_ms;
}

const struct probe_obs *probe_result(const struct probe *p)
{
	return &p->obs;
}

void probe_free(struct probe *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	drop_scan(p);
	mbedtls_ssl_free(&p->ssl);
	p->ssl_ready = false;
	p->state = PROBE_DONE;
}
