#ifndef KMA_AGENT_CLASSIFY_H
#define KMA_AGENT_CLASSIFY_H

/*
 * From the facts one connection attempt produced to one cause of the vocabulary
 * (SPEC 2.4). Pure: no I/O, so the rules are tested as a table.
 *
 * Where two causes could apply, the more specific and earlier one wins: non-TLS bytes,
 * then an alert from the peer (negotiation alerts answering our hello are about versions
 * and suites, not about our certificate), then our verdict on the peer's certificate in
 * the order of the vocabulary table, then the transport.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

enum probe_stage {
	PROBE_STAGE_RESOLVE, /* looking the peer's address up */
	PROBE_STAGE_CONNECT, /* TCP connect */
	PROBE_STAGE_TLS,     /* TLS handshake */
};

struct probe_facts {
	bool server;            /* our role in the handshake */
	enum probe_stage stage; /* where it ended */
	bool resolve_failed;
	int sock_errno; /* connect/send/recv errno, 0 if none */
	bool timed_out; /* the overall deadline passed */
	bool eof;       /* the peer closed its side */
	int tls_error;  /* mbedTLS handshake result, 0 for success */
	bool handshake_done;
	uint32_t verify_flags;       /* our verdict on the peer's certificate (incl. pinning) */
	bool peer_cert_seen;         /* the peer presented a certificate */
	bool chain_self_signed_root; /* the chain the peer sent ends in a self-signed cert */
	int alert_received;          /* description, -1 when none */
	int alert_sent;              /* description, -1 when none */
	unsigned peer_hs_records;    /* handshake records received from the peer */
	unsigned our_hs_records;     /* handshake records we sent */
	unsigned char first_in[5];   /* the first bytes the peer sent */
	size_t first_in_len;
	bool hello_without_tls12; /* the peer's ClientHello lists versions, none is 1.2 */
};

/* The cause for a set of facts; detail (may be NULL) gets one sentence of why. */
enum kma_cause classify(const struct probe_facts *f, char *detail, size_t size);

/*
 * Looks into a ClientHello handshake message (the body of the first handshake record):
 * 1 when its supported_versions extension lists TLS 1.2, 0 when it lists versions but not
 * 1.2 (a TLS 1.3-only client), -1 when it has no such extension or does not parse.
 */
int classify_hello_offers_tls12(const unsigned char *msg, size_t len);

/* Whether bytes look like the start of a TLS record (content type 20..24, major 3). */
bool classify_looks_like_tls(const unsigned char *b, size_t len);

#endif
