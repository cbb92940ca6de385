#ifndef KMA_AGENT_TLSHELLO_H
#define KMA_AGENT_TLSHELLO_H

/*
 * A hand-built ClientHello offering exactly one TLS version, and a reader for the first
 * records a server sends back: what the version follow-up probes (verscan.h) need to learn
 * which versions a peer accepts, the way testssl.sh and sslyze ask. No handshake is ever
 * completed and no key is derived, so no TLS library is involved.
 *
 * Pure and bounded: no I/O, no allocation; the reader takes untrusted bytes and never reads
 * outside them (tests/fuzz/fuzz_tlshello.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TLS versions as on the wire. */
#define TLSHELLO_TLS10 0x0301u
#define TLSHELLO_TLS11 0x0302u
#define TLSHELLO_TLS12 0x0303u
#define TLSHELLO_TLS13 0x0304u

/* Sets of those versions: bit 0 TLS 1.0 ... bit 3 TLS 1.3. */
#define TLSHELLO_BIT(v) (1u << ((v)-TLSHELLO_TLS10))
#define TLSHELLO_ALL    0xFu
#define TLSHELLO_N      4 /* versions in TLSHELLO_ALL */

/* The n-th version of TLSHELLO_ALL, oldest first (n < TLSHELLO_N). */
#define TLSHELLO_VERSION(n) (TLSHELLO_TLS10 + (unsigned)(n))

/* Room for any hello tlshello_build writes (it pads some to 512 bytes, see the .c). */
#define TLSHELLO_HELLO_MAX 600

/*
 * Writes into buf one ClientHello record (record header included) that offers exactly
 * version and, for that version, a broad set of common cipher suites, groups and signature
 * algorithms: what a peer speaking that version would accept from almost anyone. TLS 1.0 to
 * 1.2 put the version in client_version; TLS 1.3 puts 1.2 there and lists only 1.3 in
 * supported_versions, with an X25519 key_share (a valid point; the keys are never used).
 * random is the hello's 32 random bytes. Returns the record's length, or 0 when version is
 * not TLS 1.0 to 1.3 or size is below TLSHELLO_HELLO_MAX.
 */
size_t tlshello_build(unsigned version, const unsigned char random[32], unsigned char *buf,
                      size_t size);

/* What the first records of a server's answer to such a hello say. */
enum tlshello_kind {
	TLSHELLO_MORE,         /* a valid start of an answer: read more */
	TLSHELLO_SERVER_HELLO, /* a complete ServerHello (or HelloRetryRequest) */
	TLSHELLO_ALERT,        /* a fatal alert, or close_notify, before any ServerHello */
	TLSHELLO_BAD,          /* not TLS, not a ServerHello, malformed, or too large */
};

struct tlshello_answer {
	enum tlshello_kind kind;
	unsigned version; /* SERVER_HELLO: the version the server chose (its supported_versions
	                     extension when present, else server_version) */
	bool retry;       /* SERVER_HELLO: a TLS 1.3 HelloRetryRequest (it chose 1.3 too) */
	unsigned suite;   /* SERVER_HELLO: the cipher suite */
	int alert;        /* ALERT: the description */
};

/* The largest ServerHello message (handshake header included) the reader accepts. */
#define TLSHELLO_SERVER_HELLO_MAX 1024

/*
 * Reads the first len bytes a server sent in answer to our hello: records of handshake
 * type (a ServerHello, possibly split over several) or alert type (warning alerts other
 * than close_notify are skipped). Stops at the first complete ServerHello or alert; what
 * follows is not read. MORE means every byte so far is consistent with an answer and more
 * are needed: a caller with a bounded buffer that fills up treats that as BAD. Fills a
 * (also on MORE and BAD, then with kind only) and returns a->kind.
 */
enum tlshello_kind tlshello_parse_answer(const unsigned char *buf, size_t len,
                                         struct tlshello_answer *a);

/* "TLS 1.0" ... "TLS 1.3"; "SSL 3.0"; else "unknown". */
const char *tlshello_version_name(unsigned version);

/*
 * The versions of mask as a list, oldest first: "TLS 1.0, TLS 1.1", or "none". Always
 * terminates buf (size >= 1); returns what snprintf would.
 */
int tlshello_versions_str(unsigned mask, char *buf, size_t size);

#endif
