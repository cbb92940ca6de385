#ifndef KMA_COORD_HTTP_H
#define KMA_COORD_HTTP_H

/*
 * The coordinator's HTTPS server (libmicrohttpd over GnuTLS). GnuTLS requests a client
 * certificate (it offers both CAs as acceptable issuers) but decides nothing: every
 * request is authenticated by auth_check and routed:
 *
 *   POST /v1/report   agents only       report.c
 *   GET  /v1/watch    agents only       watch.c (held until something changes)
 *   /v1/nodes*, /v1/mesh, /v1/diagnosis, /v1/plan*, /v1/journal  operators only  api.h
 *   POST /v1/enroll   anyone (the one-time token in the body is the credential)  enroll.c
 *
 * A client with no usable certificate gets 403 on every other path. Bodies are accumulated up
 * to max_body bytes: a Content-Length above it gets 413 before any byte is read; a
 * chunked body that grows past it is dropped from then on (never kept) and answered 413
 * when it ends, or its connection is closed once it passes 16 times max_body.
 *
 * A pool of threads (threads) runs the callbacks. A report is decoded and checked in
 * parallel with others; everything that touches store runs under one lock, so store is
 * used by one thread at a time while the server runs. The reports that wait for the lock
 * are stored together, in one transaction, by the thread that takes it first.
 */

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "enroll.h"
#include "revoke.h"
#include "store.h"

struct http_params {
	const char *listen;    /* "ADDR:PORT" or "[ADDR]:PORT" */
	const char *cert_pem;  /* server certificate chain, NUL-terminated PEM */
	const char *key_pem;   /* its private key; only needed until http_start returns */
	const char *trust_pem; /* cluster CA and operator CA bundles, concatenated */
	size_t max_body;
	uint32_t report_interval_ms;
	struct store *store; /* used under the server's lock until http_stop */
	unsigned threads;    /* server threads; 0 or 1: one */
	const struct auth *auth;
	struct enroll_ca *enroll_ca; /* NULL: POST /v1/enroll answers 503; until http_stop */
	struct revoke *revoke;       /* the CRL for peer tables; NULL: none; until http_stop */
	unsigned token_ttl_s;        /* enrolment tokens; 0: COORD_TOKEN_TTL_DEFAULT */
	unsigned cert_days;          /* enrolled certificates; 0: COORD_CERT_DAYS_DEFAULT */
	const char *cluster_id;      /* in enrolment replies; NULL: COORD_CLUSTER_ID_DEFAULT */
	unsigned min_serving;        /* recovery plans' gate (engine.h) */
	unsigned max_connections;    /* held at once: agents keep up to 3 (report, watch) */
	unsigned max_per_ip;         /* from one address; 0: no limit */
};

struct http_server;

/* Starts serving. Returns NULL after logging why (bad address, port in use, bad PEM). */
struct http_server *http_start(const struct http_params *p) __attribute__((warn_unused_result));

/*
 * Makes the server a standby's (high availability, docs/ha.md): from now on every request
 * is answered 503 with the active instance's URL (active_url, "" when none is known), in
 * the X-KMA-Active header and the JSON body {"error":"standby","active":URL}, and
 * Retry-After: 1; nothing reaches the store. Called again as the active one changes.
 * A server started with no store (http_params.store NULL) must be made a standby at once.
 */
void http_standby(struct http_server *srv, const char *active_url);

/* The standby became active: requests are served from st (and revoke) from now on. */
void http_promote(struct http_server *srv, struct store *st, struct revoke *revoke);

/* Stops serving and waits for the server threads; no callback runs after it. NULL is fine. */
void http_stop(struct http_server *srv);

/*
 * Answers the held watches whose answer is due (watch.h), reading the store through st,
 * a handle of the calling thread's. Called a few times a second.
 */
void http_tick(struct http_server *srv, struct store *st, int64_t now);

#endif
