#include "kmipcheck.h"

#include <errno.h>
#include <stdarg.h>
#include <mbedtls/net_sockets.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certinfo.h"
#include "fileio.h"
#include "hostport.h"
#include "probe_ev.h"
#include "tlsctx.h"
#include "ttlv.h"

/*
 * The mesh's suites first, then the CBC ones KMIP servers commonly choose (KMIP 1.x
 * profiles name TLS_RSA/ECDHE with AES-CBC and SHA-256); ECDHE only, so forward secrecy stays.
 */
static const int kmip_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
    0,
};

enum phase { PHASE_START, PHASE_HANDSHAKE, PHASE_SEND, PHASE_RECV };

struct kmipcheck {
	struct probe_ev pe; /* the connection; its probe's fd and ssl after the handshake */
	struct tlsctx tls;
	bool tls_ready;
	struct event_base *base;
	struct event *ev;
	enum phase phase;
	struct board_kmip cfg;
	const Kma__V1__IdentityRecord *rec; /* only inside kmipcheck_start */
	char setup_err[320];                /* a start that failed, told from the loop */
	uint64_t start_ms, deadline_ms;
	unsigned char req[KMIP_REQUEST_MAX];
	size_t req_len, sent;
	unsigned char resp[KMIP_RESPONSE_MAX];
	size_t resp_len, resp_need;
	struct kmipcheck_outcome out;
	kmipcheck_done_fn done;
	void *arg;
};

/* The public identifiers live in common/vocab.def (KmipResult's order, shifted by one). */
const char *kmipcheck_result_id(enum kmipcheck_result r)
{
	return (unsigned)r < KMIPCHECK_RESULT_COUNT
	           ? kma_kmip_result_id((enum kma_kmip_result)(r + 1))
	           : "unknown";
}

enum kmip_op kmipcheck_op_from(const char *name)
{
	if (name && strcmp(name, "query") == 0)
		return KMIP_OP_QUERY;
	if (name && strcmp(name, "get") == 0)
		return KMIP_OP_GET;
	return KMIP_OP_DISCOVER_VERSIONS;
}

static void on_event(evutil_socket_t fd, short what, void *arg);

/* Ends the check: everything it holds is freed before the callback, itself after. */
static void finish(struct kmipcheck *c, enum kmipcheck_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct kmipcheck *c, enum kmipcheck_result r, const char *fmt, ...)
{
	va_list ap;

	c->out.result = r;
	c->out.latency_ms = (uint32_t)(probe_now_ms() - c->start_ms);
	va_start(ap, fmt);
	vsnprintf(c->out.detail, sizeof(c->out.detail), fmt, ap);
	va_end(ap);
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->phase >= PHASE_SEND && r != KMIPCHECK_CLOSED)
		mbedtls_ssl_close_notify(&c->pe.probe.ssl); /* best effort */
	if (c->phase >= PHASE_HANDSHAKE)
		probe_ev_cancel(&c->pe);
	if (c->tls_ready)
		tlsctx_free(&c->tls);
	c->tls_ready = false;
	c->done(c->arg, &c->out);
	free(c);
}

/* Waits for the session's descriptor, with what is left of the deadline. */
static void arm(struct kmipcheck *c, short what)
{
	uint64_t now = probe_now_ms();
	uint64_t ms = c->deadline_ms > now ? c->deadline_ms - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	if (c->ev)
		event_free(c->ev);
	c->ev = event_new(c->base, probe_fd(&c->pe.probe), what, on_event, c);
	if (!c->ev || event_add(c->ev, &tv) != 0)
		finish(c, KMIPCHECK_SETUP, "cannot register an event for the KMIP check");
}

static void tls_failed(struct kmipcheck *c, int rc, size_t got)
{
	char msg[128];

	c->out.tls_error = rc;
	if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
	    rc == MBEDTLS_ERR_NET_CONN_RESET) {
		finish(c, KMIPCHECK_CLOSED,
		       "the key service at %s %s the session after %zu of the answer's bytes "
		       "(KMIP %s sent)",
		       c->out.endpoint, rc == MBEDTLS_ERR_NET_CONN_RESET ? "reset" : "closed", got,
		       kmip_op_name(c->out.operation));
		return;
	}
	certinfo_strerror(rc, msg, sizeof(msg));
	finish(c, KMIPCHECK_CLOSED, "the key service at %s broke the session: %s (-0x%04x)",
	       c->out.endpoint, msg, (unsigned)-rc);
}

static void answered(struct kmipcheck *c)
{
	struct kmip_answer a;
	char why[160];

	if (kmip_parse_response(c->resp, c->resp_len, &a, why, sizeof(why)) != 0) {
		finish(c, KMIPCHECK_MALFORMED, "the key service at %s answered KMIP %s with %s",
		       c->out.endpoint, kmip_op_name(c->out.operation), why);
		return;
	}
	c->out.result_status = a.result_status;
	c->out.has_reason = a.has_reason;
	c->out.result_reason = a.result_reason;
	if (a.result_status != KMIP_STATUS_SUCCESS) {
		snprintf(c->out.answer, sizeof(c->out.answer), "%s", a.result_message);
		finish(c, KMIPCHECK_FAILED, "the key service at %s refused KMIP %s: %s%s%s%s%s",
		       c->out.endpoint, kmip_op_name(c->out.operation),
		       kmip_status_name(a.result_status), a.has_reason ? ", " : "",
		       a.has_reason ? kmip_reason_name(a.result_reason) : "",
		       a.result_message[0] ? ": " : "", a.result_message);
		return;
	}
	if (a.operation != c->out.operation) {
		finish(c, KMIPCHECK_MALFORMED,
		       "the key service at %s answered KMIP %s as if asked operation 0x%X",
		       c->out.endpoint, kmip_op_name(c->out.operation), a.operation);
		return;
	}
	kmip_answer_summary(&a, c->out.answer, sizeof(c->out.answer));
	finish(c, KMIPCHECK_OK, "KMIP %s answered in %u ms (TLS handshake %u ms): %s",
	       kmip_op_name(c->out.operation), (uint32_t)(probe_now_ms() - c->start_ms),
	       c->out.handshake_ms, c->out.answer);
}

/* Sends the rest of the request, then reads until the answer is whole. */
static void advance(struct kmipcheck *c)
{
	mbedtls_ssl_context *ssl = &c->pe.probe.ssl;
	int rc;

	if (probe_now_ms() >= c->deadline_ms) {
		finish(c, KMIPCHECK_TIMEOUT,
		       "the key service at %s %s within %u s (TLS handshake took %u ms)",
		       c->out.endpoint,
		       c->phase == PHASE_SEND ? "did not take the KMIP request"
		                              : "sent no whole KMIP answer",
		       c->cfg.timeout_s, c->out.handshake_ms);
		return;
	}
	while (c->phase == PHASE_SEND) {
		rc = mbedtls_ssl_write(ssl, c->req + c->sent, c->req_len - c->sent);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
			arm(c, rc == MBEDTLS_ERR_SSL_WANT_READ ? EV_READ : EV_WRITE);
			return;
		}
		if (rc < 0) {
			tls_failed(c, rc, 0);
			return;
		}
		c->sent += (size_t)rc;
		if (c->sent == c->req_len) {
			c->phase = PHASE_RECV;
			c->resp_need = TTLV_HEADER;
		}
	}
	for (unsigned held = 0;;) {
		rc = mbedtls_ssl_read(ssl, c->resp + c->resp_len, c->resp_need - c->resp_len);
		/* A record Mbed TLS holds back for the next call will not wake the socket. */
		if (rc == MBEDTLS_ERR_SSL_WANT_READ && held++ < 4 && mbedtls_ssl_check_pending(ssl))
			continue;
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
			arm(c, rc == MBEDTLS_ERR_SSL_WANT_READ ? EV_READ : EV_WRITE);
			return;
		}
		if (rc <= 0) {
			tls_failed(c, rc, c->resp_len);
			return;
		}
		c->resp_len += (size_t)rc;
		if (c->resp_len < c->resp_need)
			continue;
		if (c->resp_need == TTLV_HEADER) {
			size_t whole = ttlv_message_size(c->resp);

			if (whole <= TTLV_HEADER || whole > sizeof(c->resp)) {
				finish(c, KMIPCHECK_MALFORMED,
				       "the key service at %s answered KMIP %s with %s",
				       c->out.endpoint, kmip_op_name(c->out.operation),
				       whole > sizeof(c->resp)
				           ? "a message larger than 8 KiB"
				           : "something that is not a KMIP message");
				return;
			}
			c->resp_need = whole;
			continue;
		}
		answered(c);
		return;
	}
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what; /* a timeout is seen by advance through the deadline */
	advance(arg);
}

static void on_handshake(struct probe_ev *pe, void *arg)
{
	struct kmipcheck *c = arg;
	const struct probe_obs *o = probe_result(&pe->probe);

	c->out.cause = o->cause;
	c->out.handshake_ms = o->handshake_ms;
	c->out.tls_error = o->tls_error;
	c->out.alert_received = o->alert_received;
	snprintf(c->out.protocol, sizeof(c->out.protocol), "%s", o->protocol);
	snprintf(c->out.suite, sizeof(c->out.suite), "%s", o->suite);
	if (o->cause != KMA_CAUSE_OK) {
		finish(c, KMIPCHECK_CONNECT, "no TLS session with the key service at %s: %s: %s",
		       c->out.endpoint, kma_cause_id(o->cause), o->detail);
		return;
	}
	c->phase = PHASE_SEND;
	advance(c);
}

/* The node's identity or the board's files, with the KMIP suites. */
static int load_tls(struct kmipcheck *c, char *err, size_t size)
{
	const struct board_kmip *k = &c->cfg;
	bool own = strcmp(k->client_cert, "identity") == 0;
	int rc;

	tlsctx_init(&c->tls);
	c->tls_ready = true;
	if (own) {
		if (!c->rec) {
			snprintf(err, size,
			         "this node has no identity to present to its key service");
			return -1;
		}
		if (tlsctx_load_record(&c->tls, c->rec, err, size) != TLSCTX_OK)
			return -1;
		if (strcmp(k->server_ca, "identity") != 0) {
			unsigned char *pem = NULL;
			size_t len = 0;
			/* Not mbedtls_x509_crt_parse_file: its fopen waits forever on a FIFO. */
			int e = fileio_read_input(k->server_ca, 256 * 1024, &pem, &len);

			if (e) {
				snprintf(err, size, "%.160s: %s", k->server_ca, fileio_strerror(e));
				return -1;
			}
			mbedtls_x509_crt_free(&c->tls.ca);
			mbedtls_x509_crt_init(&c->tls.ca);
			rc = mbedtls_x509_crt_parse(&c->tls.ca, pem,
			                            len + 1); /* PEM: with its NUL */
			free(pem);
			if (rc != 0) {
				char msg[128];

				certinfo_strerror(rc, msg, sizeof(msg));
				snprintf(err, size, "%.160s: %.120s", k->server_ca, msg);
				return -1;
			}
		}
	} else if (tlsctx_load_files(&c->tls, k->client_key, k->client_cert, k->server_ca, NULL,
	                             err, size) != TLSCTX_OK) {
		return -1;
	}
	if (tlsctx_setup(&c->tls, err, size) != TLSCTX_OK)
		return -1;
	mbedtls_ssl_conf_ciphersuites(&c->tls.client, kmip_suites);
	return 0;
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
	struct kmipcheck *c = arg;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	/* The name the board pins, or any certificate the CA signed. */
	struct probe_expect e = {.keep_open = true,
	                         .node_id = c->cfg.server_name[0] ? c->cfg.server_name : NULL};
	char host[HOSTPORT_HOST_MAX], service[8], err[160] = "";
	unsigned port;
	int rc;

	(void)fd;
	(void)what;
	event_free(c->ev);
	c->ev = NULL;
	c->start_ms = probe_now_ms();
	c->deadline_ms = c->start_ms + c->cfg.timeout_s * 1000u;
	if (c->setup_err[0]) {
		finish(c, KMIPCHECK_SETUP, "KMIP check of %s not run: %s", c->out.endpoint,
		       c->setup_err);
		return;
	}
	if (hostport_split(c->cfg.address, host, sizeof(host), &port, err, sizeof(err)) != 0) {
		finish(c, KMIPCHECK_SETUP, "KMIP check: address %s: %s", c->out.endpoint, err);
		return;
	}
	snprintf(service, sizeof(service), "%u", port);
	c->phase = PHASE_HANDSHAKE;
	/* Numeric in every board we know; a name resolves synchronously, as the mesh's do. */
	rc = getaddrinfo(host, service, &hints, &ai);
	if (rc)
		probe_resolve_failed(&c->pe.probe, c->out.endpoint, &e, gai_strerror(rc));
	else
		probe_connect(&c->pe.probe, &c->tls, ai->ai_addr, ai->ai_addrlen, c->out.endpoint,
		              &e, c->cfg.timeout_s * 1000u);
	if (ai)
		freeaddrinfo(ai);
	probe_ev_run(&c->pe, c->base, on_handshake, c);
}

struct kmipcheck *kmipcheck_start(struct event_base *base, const struct board_kmip *cfg,
                                  const Kma__V1__IdentityRecord *rec, int64_t now_s,
                                  kmipcheck_done_fn done, void *arg)
{
	struct kmipcheck *c = calloc(1, sizeof(*c));
	struct timeval now = {0, 0};

	if (!c)
		return NULL;
	c->base = base;
	c->cfg = *cfg;
	if (!c->cfg.timeout_s)
		c->cfg.timeout_s = 5;
	c->rec = rec;
	c->done = done;
	c->arg = arg;
	c->phase = PHASE_START;
	c->out.cause = KMA_CAUSE_UNSPECIFIED;
	c->out.alert_received = -1;
	c->out.operation = kmipcheck_op_from(cfg->operation);
	c->out.checked_at = now_s;
	snprintf(c->out.endpoint, sizeof(c->out.endpoint), "%s", cfg->address);
	/* rec is the caller's: whatever needs it happens now; failures are told later. */
	c->req_len =
	    kmip_build_request(c->out.operation, c->cfg.canary_uid, c->req, sizeof(c->req));
	if (c->req_len == 0)
		snprintf(c->setup_err, sizeof(c->setup_err), "cannot build the KMIP %s request",
		         kmip_op_name(c->out.operation));
	else if (load_tls(c, c->setup_err, sizeof(c->setup_err)) != 0 && !c->setup_err[0])
		snprintf(c->setup_err, sizeof(c->setup_err), "TLS setup failed");
	c->rec = NULL;
	/* Never calls back from inside this call: the caller has not kept c yet. */
	c->ev = event_new(base, -1, 0, on_start, c);
	if (!c->ev || event_add(c->ev, &now) != 0) {
		kmipcheck_cancel(c);
		return NULL;
	}
	return c;
}

void kmipcheck_cancel(struct kmipcheck *c)
{
	if (!c)
		return;
	if (c->ev)
		event_free(c->ev);
	if (c->phase >= PHASE_HANDSHAKE)
		probe_ev_cancel(&c->pe);
	if (c->tls_ready)
		tlsctx_free(&c->tls);
	free(c);
}
