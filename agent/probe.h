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
 */

#include "mbedcompat.h"

#include <mbedtls/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "certinfo.h"
#include "classify.h"
#include "tlsctx.h"
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
	char expect_id[128];
	char expect_serial[130];
	char protocol[16];
	char suite[80];
	uint32_t handshake_ms; /* TCP established to handshake end */
	char detail[200];
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
};

enum probe_state {
	PROBE_IDLE,
	PROBE_CONNECTING,
	PROBE_HANDSHAKE,
	PROBE_CLOSING,
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
	uint64_t start_ms, tcp_ms, deadline_ms, drain_ms;
	struct probe_facts facts;
	struct probe_sniff in, out;
	struct probe_obs obs;
};

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
