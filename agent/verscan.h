#ifndef KMA_AGENT_VERSCAN_H
#define KMA_AGENT_VERSCAN_H

/*
 * Which TLS versions a peer accepts, asked the way testssl.sh and sslyze ask: one short TCP
 * connection per version, each sending a ClientHello that offers only that version
 * (tlshello.h) and reading the first records of the answer. A ServerHello choosing the
 * version offered means the peer accepts it; an alert, a close or a reset means it does
 * not. No handshake goes further than the ServerHello, and no certificate is looked at.
 *
 * A probe runs this only after its own handshake failed in negotiation (classify.h:
 * classify_hello_refused), never after a healthy one.
 *
 * Use: verscan_init, verscan_start, then whenever verscan_fd() is ready for what the last
 * verscan_step asked for (VERSCAN_READ / VERSCAN_WRITE), or verscan_deadline() has come,
 * call verscan_step again, until it returns VERSCAN_DONE; the results are then final.
 * Sequential, non-blocking, bounded: at most TLSHELLO_N connections, one at a time, each
 * with its own deadline. A connection that cannot be made (refused, or no answer to the
 * connect) ends the scan: the peer is gone or refusing, and the rest would say nothing.
 * verscan_fd may be another descriptor after each step. verscan_free closes what is open
 * and is safe at any point.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tlshello.h"

/* The bytes of an answer read at most: a ServerHello that does not fit is not judged. */
#define VERSCAN_ANSWER_MAX 2048

enum verscan_wait {
	VERSCAN_DONE = 0,
	VERSCAN_READ = 1,
	VERSCAN_WRITE = 2,
};

/* The peer's answer to the hello for one version. */
enum verscan_answer {
	VERSCAN_NOT_RUN = 0,   /* not asked (the scan ended before, or was not asked to) */
	VERSCAN_ACCEPTED,      /* a ServerHello choosing the version offered */
	VERSCAN_OTHER_VERSION, /* a ServerHello choosing another version (refused) */
	VERSCAN_ALERT,         /* an alert (refused) */
	VERSCAN_CLOSED,        /* closed without an answer (refused) */
	VERSCAN_RESET,         /* reset without an answer (refused) */
	VERSCAN_TIMEOUT,       /* no answer before the deadline (unknown) */
	VERSCAN_NOT_TLS,       /* an answer that is not a ServerHello or an alert (unknown) */
	VERSCAN_NO_CONNECT,    /* the TCP connection could not be made (unknown; scan ends) */
};

struct verscan_result {
	enum verscan_answer answer;
	int alert;        /* VERSCAN_ALERT: the description; else -1 */
	unsigned version; /* ACCEPTED, OTHER_VERSION: the version the peer chose; else 0 */
};

struct verscan {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint32_t timeout_ms;
	int (*f_rng)(void *, unsigned char *, size_t);
	void *p_rng;
	unsigned todo; /* versions not asked yet (TLSHELLO_BIT mask) */
	unsigned cur;  /* the version being asked, 0 between connections */
	int fd;
	bool connecting;
	uint64_t deadline_ms;
	unsigned char out[TLSHELLO_HELLO_MAX];
	size_t out_len, out_sent;
	unsigned char in[VERSCAN_ANSWER_MAX];
	size_t in_len;
	unsigned connections;                     /* made so far (at most TLSHELLO_N) */
	struct verscan_result result[TLSHELLO_N]; /* by TLSHELLO_VERSION index */
};

/* Cannot fail; verscan_free is then safe. */
void verscan_init(struct verscan *v);

/*
 * Sets v (initialised, not running: it is initialised again) up to ask the peer at addr
 * about each version of the mask versions (TLSHELLO_BIT), oldest first, each connection with
 * timeout_ms from its start. f_rng (an mbedTLS-style RNG; NULL: zeros) fills each hello's
 * random. No I/O: the first verscan_step connects.
 */
void verscan_start(struct verscan *v, const struct sockaddr *addr, socklen_t addr_len,
                   unsigned versions, uint32_t timeout_ms,
                   int (*f_rng)(void *, unsigned char *, size_t), void *p_rng);

/* Advances the scan (now_ms: the monotonic clock in ms); see the top of this file. */
enum verscan_wait verscan_step(struct verscan *v, uint64_t now_ms);

int verscan_fd(const struct verscan *v);
uint64_t verscan_deadline(const struct verscan *v);

/* The versions the peer accepted, and those it refused (TLSHELLO_BIT masks). */
unsigned verscan_accepted(const struct verscan *v);
unsigned verscan_refused(const struct verscan *v);

/* A short name of an answer: "accepted", "alert", "closed", "timeout", ... */
const char *verscan_answer_name(enum verscan_answer a);

/* Closes what is open; v stays initialised (its results readable). NULL is fine. */
void verscan_free(struct verscan *v);

#endif
