#ifndef KMA_AGENT_CLASSIFY_H
#define KMA_AGENT_CLASSIFY_H

/*
 * From the facts one connection attempt produced to one cause of the vocabulary
 * (SPEC 2.4). Pure: no I/O, so the rules are tested as a table.
 *
 * Where two causes could apply, the more specific and earlier one wins: non-TLS bytes,
 * then what the peer speaks (below), then an alert from the peer (negotiation alerts
 * answering our hello are about versions and suites, not about our certificate), then our
 * verdict on the peer's certificate in the order of the vocabulary table, then the
 * transport.
 *
 * What the peer speaks: a handshake_failure answering our hello is what most servers send
 * for a version they do not speak as well as for suites (an OpenSSL server limited to TLS
 * 1.0 sends it to our TLS 1.2 hello: it settles on 1.0, then finds none of our suites), so
 * the alert alone cannot tell them apart. When an outbound hello was refused
 * (classify_hello_refused), the probe asks the peer about each version on its own
 * (verscan.h) and adds the answers to the facts. If the peer accepts some version but has
 * refused every one we speak, the cause is protocol_mismatch whatever the alert said;
 * otherwise the alert decides as before, and the detail says which versions the peer
 * accepts ("versions match" when one of them is ours).
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
	bool after_finished;   /* TLS 1.3 client: the failure came after our Finished, when the
	                        * server judged our certificate (not an answer to our hello) */
	uint32_t verify_flags; /* our verdict on the peer's certificate (incl. pinning) */
	bool peer_cert_seen;   /* the peer presented a certificate */
	bool chain_self_signed_root; /* the chain the peer sent ends in a self-signed cert */
	int alert_received;          /* description, -1 when none */
	int alert_sent;              /* description, -1 when none */
	unsigned peer_hs_records;    /* handshake records received from the peer */
	unsigned our_hs_records;     /* handshake records we sent */
	unsigned char first_in[5];   /* the first bytes the peer sent */
	size_t first_in_len;
	bool hello_without_tls12; /* the peer's ClientHello lists versions, none is 1.2 */
	/* The follow-up probes after a refused hello, as TLSHELLO_BIT masks (tlshello.h). */
	bool versions_probed;       /* they ran: the three masks below are facts */
	unsigned versions_ours;     /* what our configuration speaks */
	unsigned versions_accepted; /* the peer chose that version in a ServerHello */
	unsigned versions_refused;  /* the peer answered an alert, a close, a reset or another
	                               version; a version in neither mask got no answer */
};

/* The cause for a set of facts; detail (may be NULL) gets one sentence of why. */
enum kma_cause classify(const struct probe_facts *f, char *detail, size_t size);

/*
 * Whether an outbound handshake was refused in negotiation, in answer to our ClientHello and
 * before the peer sent any handshake message: a handshake_failure (40), protocol_version (70)
 * or insufficient_security (71) alert, or a close or reset with nothing received. Only then
 * do the version follow-up probes run (never after a healthy probe, an inbound one, a
 * timeout, non-TLS bytes, or an alert about our certificate).
 */
bool classify_hello_refused(const struct probe_facts *f);

/*
 * Looks into a ClientHello handshake message (the body of the first handshake record):
 * 1 when its supported_versions extension lists TLS 1.2, 0 when it lists versions but not
 * 1.2 (a TLS 1.3-only client), -1 when it has no such extension or does not parse.
 */
int classify_hello_offers_tls12(const unsigned char *msg, size_t len);

/* Whether bytes look like the start of a TLS record (content type 20..24, major 3). */
bool classify_looks_like_tls(const unsigned char *b, size_t len);

#endif
