#ifndef KMA_AGENT_KMIPCHECK_H
#define KMA_AGENT_KMIPCHECK_H

/*
 * The key-service check that proves keys are served: one KMIP request over mutual TLS to
 * the key service a board declares ([kmip] in board.conf, board.h: struct board_kmip), on
 * the agent's event loop, within one deadline for everything (connect, handshake, request,
 * answer).
 *
 * The TCP and TLS part is a probe (probe.h, with keep_open), so a key service that refuses,
 * times out or fails the handshake is classified with the mesh's causes (tcp_refused,
 * handshake_timeout, peer_cert_untrusted, rejected_by_peer, ...). The request is then sent
 * on that session and the answer read and decoded (kmip.h). The TLS configuration is the
 * mesh's (tlsctx.h) but for its suites: KMIP servers commonly negotiate AES-CBC with
 * SHA-256 (PyKMIP 0.10: ECDHE-ECDSA-AES128-SHA256), which the mesh does not offer.
 *
 * Memory: everything a check uses (the TLS context and its record buffers, the request
 * and up to KMIP_RESPONSE_MAX of answer) is allocated when it starts and freed when it
 * ends; nothing is held between checks.
 */

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "identity.pb-c.h"
#include "kmip.h"
#include "vocab.h"

/* How a check ended. The identifiers (kmipcheck_result_id) are a public vocabulary. */
enum kmipcheck_result {
	KMIPCHECK_OK = 0,    /* a successful answer to the request */
	KMIPCHECK_CONNECT,   /* no TLS session: cause says why (tcp_refused, ...) */
	KMIPCHECK_TIMEOUT,   /* a session, but no whole answer before the deadline */
	KMIPCHECK_CLOSED,    /* the server closed or reset the session before its answer */
	KMIPCHECK_MALFORMED, /* the answer is not a KMIP response (or larger than we read) */
	KMIPCHECK_FAILED,    /* the server answered with a failure (status, reason, message) */
	KMIPCHECK_SETUP,     /* our side: certificates, memory, the address */
	KMIPCHECK_RESULT_COUNT
};

struct kmipcheck_outcome {
	enum kmipcheck_result result;
	enum kma_cause cause; /* the connection's, as a probe's; ok once TLS was up */
	char endpoint[BOARD_TEXT_MAX];
	uint32_t operation;  /* enum kmip_op */
	uint32_t latency_ms; /* start to answer (or to the failure) */
	uint32_t handshake_ms;
	char protocol[16];
	char suite[80];
	int tls_error;
	int alert_received;     /* -1: none */
	uint32_t result_status; /* the server's, when it answered */
	bool has_reason;
	uint32_t result_reason;
	char answer[200];   /* what a successful answer holds, or the server's message */
	char detail[256];   /* one sentence for operators */
	int64_t checked_at; /* seconds since the epoch */
};

struct kmipcheck;

/* Called once on the loop's thread; the check frees itself right after it returns. */
typedef void (*kmipcheck_done_fn)(void *arg, const struct kmipcheck_outcome *out);

/*
 * Starts a check of cfg's key service, with rec's key, certificate and CA where cfg says
 * "identity" (rec may be NULL when it says so nowhere). Returns the check, whose done
 * callback always runs later from the loop (never from inside this call), or NULL when no
 * memory was left (nothing runs then).
 */
struct kmipcheck *kmipcheck_start(struct event_base *base, const struct board_kmip *cfg,
                                  const Kma__V1__IdentityRecord *rec, int64_t now_s,
                                  kmipcheck_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/* Stops a check in progress without calling back and frees it; NULL is safe. */
void kmipcheck_cancel(struct kmipcheck *c);

/* "ok", "connect", "timeout", "closed", "malformed", "failed", "setup". */
const char *kmipcheck_result_id(enum kmipcheck_result r);

/* enum kmip_op for the board's operation name (discover_versions, query, get). */
enum kmip_op kmipcheck_op_from(const char *name);

#endif
