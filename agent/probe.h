#ifndef KMA_AGENT_PROBE_H
#define KMA_AGENT_PROBE_H

/*
 * One mutual-TLS handshake with one peer, outbound (we connect) or inbound (it connected
 * to us), driven without blocking by whoever owns the event loop, and classified into one
 * cause with its evidence.
 *
 * Use: probe_connect() or probe_accept(), then whenever probe_fd() is ready for what the
 * last call asked for (PROBE_WAIT_READ / PROBE_WAIT_WRITE), or probe_deadline() has come,
 * call probe_step() again, until it returns PROBE_WAIT_DONE. probe_result() is then final.
 * probe_free() closes everything and is safe at any point.
 *
 * Revocation: the chain is verified with the tlsctx's CRL when it has one (tlsctx_set_crl);
 * a certificate on it fails with MBEDTLS_X509_BADCERT_REVOKED (peer_cert_revoked). The CRL's
 * age never fails a handshake: a nextUpdate that has passed, or a thisUpdate ahead of our
 * clock, is not held against the peer (crlcheck.h: CRLCHECK_TIME_FLAGS), since the
 * coordinator brings a new CRL with each peer table and a coordinator that stays down must
 * not turn every peer against every other.
 *
 * Resumption: an outbound probe given a struct probe_session (probe_expect.session) offers
 * the TLS session saved from the last verified full handshake with that peer, if the node ID
 * and serial verified then are still the ones expected, and saves a new one after a verified
 * full handshake. A resumed handshake verifies no certificate: it proves that the peer holds
 * the keys of a session we (or it, inbound) verified in full, and the observation then
 * carries the certificate verified at that full handshake (obs.resumed says so). Inbound, a
 * ticket is only accepted when the certificate it holds still passes the pinning against
 * the current expectation and is not on the current CRL (tlsctx.h: resume_check); outbound,
 * the same holds for the session's certificate after it resumed. Every failure drops the
 * saved session.
 *
 * Versions: when an outbound handshake is refused in negotiation (classify.h:
 * classify_hello_refused: a handshake_failure, protocol_version or insufficient_security
 * alert, or a close or reset, answering our ClientHello), the probe, once its own
 * connection is closed, asks the peer about each TLS version on its own (verscan.h: at most
 * one short connection per version, one at a time, each with the probe's timeout), and
 * classifies again with the answers: that is what tells protocol_mismatch from
 * cipher_mismatch. Those follow-up connections belong to this probe: the caller sees one
 * probe with one result (obs.versions_* say what they found), and keeps driving it through
 * probe_fd/probe_deadline, which then name the follow-up's descriptor and deadline.
 * handshake_ms stays the time of the probe's own handshake.
 */

#include "mbedcompat.h"

#include <mbedtls/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "certinfo.h"
#include "classify.h"
#include "hexser.h"
#include "nodeid.h"
#include "tlsctx.h"
#include "verscan.h"
#include "vocab.h"

#define PROBE_ADDR_MAX 128

/* The evidence kept for a probe: what the agent reports and the CLI prints. */
struct probe_obs {
	enum kma_cause cause;
	bool inbound;
	char peer[PROBE_ADDR_MAX];
	int alert_sent;     /* description, -1 when none */
	int alert_received; /* description, -1 when none */
	int tls_error;      /* mbedTLS code, 0 when none */
	uint32_t verify_flags;
	bool has_cert;
	struct certinfo cert; /* what the peer presented */
	char expect_id[KMA_NODE_ID_SIZE];
	char expect_serial[KMA_SERIAL_SIZE];
	char protocol[16];
	char suite[80];
	uint32_t handshake_ms;  /* TCP established to handshake end */
	bool resumed;           /* a session resumed: cert is the one verified at its full
	                           handshake, not one presented now */
	bool offered;           /* outbound: we offered a saved session (resumed or not) */
	unsigned versions_ours; /* the TLS versions our configuration speaks (TLSHELLO_BIT) */
	/* Outbound, after a refused hello: what the follow-up probes found (see the top). */
	bool versions_probed;
	unsigned versions_accepted;                 /* TLSHELLO_BIT mask */
	struct verscan_result versions[TLSHELLO_N]; /* by TLSHELLO_VERSION index */
	uint32_t versions_ms;                       /* the time they took */
	char detail[256]; /* fits the coordinator's 256-byte limit on strings (report.h) */
};

/*
 * One peer's saved session (outbound), with the identity verified at the full handshake that
 * created it. Belongs to whoever probes that peer; probes read and update it.
 */
struct probe_session {
	mbedtls_ssl_session session;
	bool valid;
	char node_id[KMA_NODE_ID_SIZE]; /* as verified */
	char serial[KMA_SERIAL_SIZE];   /* as verified (certinfo form) */
	int64_t not_before, not_after;  /* its certificate's validity (a TLS 1.3 session that
	                                 * resumed holds no certificate to read it from) */
	uint64_t full_ms;               /* monotonic time of that full handshake */
	unsigned resumed;               /* probes that resumed it since */
};

enum probe_wait {
	PROBE_WAIT_DONE = 0,
	PROBE_WAIT_READ = 1,
	PROBE_WAIT_WRITE = 2,
};

/*
 * Who must be at the other end. Inbound, the peer is only known once it presents its
 * certificate: lookup (when set) then gives the enrolled serial for the node ID the
 * certificate names, and returns false for a node that is not in our peer table.
 */
struct probe_expect {
	const char *node_id; /* NULL or "": any */
	const char *serial;  /* NULL or "": any; hex in any case, colons allowed */
	bool (*lookup)(void *arg, const char *node_id, char *serial, size_t size);
	void *lookup_arg;
	struct probe_session *session; /* outbound: resume from and save to; NULL: never */
	/*
	 * Outbound: a handshake that ends ok leaves the connection open (PROBE_DONE with
	 * probe.ssl and probe_fd usable) for the caller's own request over it; probe_free
	 * closes it. A failure closes as always.
	 */
	bool keep_open;
};

enum probe_state {
	PROBE_IDLE,
	PROBE_CONNECTING,
	PROBE_HANDSHAKE,
	PROBE_CONFIRM, /* TLS 1.3 client: our handshake is done, the server's verdict is not */
	PROBE_CLOSING,
	PROBE_VERSIONS, /* the version follow-up probes (outbound, after a refused hello) */
	PROBE_DONE,
};

/* What the record sniffer learnt about one direction of the connection. */
struct probe_sniff {
	unsigned char hdr[5];
	size_t hdr_len;
	size_t body_left;
	unsigned char alert[2];
	size_t alert_len;
	bool ccs;     /* ChangeCipherSpec passed: later records are encrypted */
	bool garbage; /* not TLS records: stop parsing */
	unsigned hs_records;
	int fatal_alert; /* -1 when none */
	unsigned char first[5];
	size_t first_len;
	unsigned char hello[1024]; /* the start of the first handshake record's body */
	size_t hello_len;
};

struct probe {
	enum probe_state state;
	int fd;
	struct tlsctx *tls;
	bool (*lookup)(void *arg, const char *node_id, char *serial, size_t size);
	void *lookup_arg;
	mbedtls_ssl_context ssl;
	bool ssl_ready;
	bool leaf_verified;    /* mbedTLS verified a certificate chain: a full handshake */
	uint32_t resume_flags; /* pinning verdict on a resumed session's certificate */
	bool has_resume_peer;  /* server: the client a ticket named, accepted (ticket_ok) */
	bool got_ticket;       /* TLS 1.3 client: the server sent a session ticket */
	struct tlsctx_peer resume_peer;
	struct probe_session *session;
	bool keep_open;
	uint64_t start_ms, tcp_ms, deadline_ms, drain_ms;
	uint64_t finished_ms; /* the handshake's end (our Finished, or the client's) */
	uint64_t nudge_ms;    /* TLS 1.3 client waiting for the server's word: when to ask */
	bool nudged;          /* ... and it was asked (our close_notify sent) */
	struct sockaddr_storage addr; /* outbound: the peer's, for the follow-up probes */
	socklen_t addr_len;           /* 0: none (inbound, or never connected) */
	uint32_t timeout_ms;
	bool want_versions;   /* the hello was refused: ask about versions once closed */
	struct verscan *scan; /* owned, only while the follow-up probes run */
	uint64_t scan_ms;     /* when they started */
	struct probe_facts facts;
	struct probe_sniff in, out;
	struct probe_obs obs;
};

/* _init cannot fail; _free (also of an initialised, unused one) drops the session. */
void probe_session_init(struct probe_session *s);
void probe_session_free(struct probe_session *s);

/* Drops the saved session: the next probe with s is a full, verified handshake. */
void probe_session_forget(struct probe_session *s);

/*
 * Drops the saved session when its full handshake is max_age_ms or more before now_ms (on
 * probe_now_ms's clock), so that full verifications happen at that interval.
 */
void probe_session_expire(struct probe_session *s, uint64_t now_ms, uint64_t max_age_ms);

/* Milliseconds on the monotonic clock. */
uint64_t probe_now_ms(void);

/*
 * Starts an outbound probe of addr (label is how the peer is named in the evidence).
 * Always leaves p ready for probe_step/probe_free, also when the start itself failed (the
 * result is then already final).
 */
void probe_connect(struct probe *p, struct tlsctx *tls, const struct sockaddr *addr,
                   socklen_t addr_len, const char *label, const struct probe_expect *expect,
                   uint32_t timeout_ms);

/* Starts the server side on an accepted, connected socket; p owns fd from now on. */
void probe_accept(struct probe *p, struct tlsctx *tls, int fd, const char *label,
                  const struct probe_expect *expect, uint32_t timeout_ms);

/* Records a peer whose address did not resolve, as a final result without I/O. */
void probe_resolve_failed(struct probe *p, const char *label, const struct probe_expect *expect,
                          const char *why);

/* Advances the probe; see the top of this file. */
enum probe_wait probe_step(struct probe *p);

int probe_fd(const struct probe *p);
uint64_t probe_deadline(const struct probe *p);
const struct probe_obs *probe_result(const struct probe *p);
void probe_free(struct probe *p);

#endif
