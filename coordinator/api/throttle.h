#ifndef KMA_COORD_THROTTLE_H
#define KMA_COORD_THROTTLE_H

/*
 * Failed enrolment tokens, per source: a token bucket for each source address (an IPv4
 * address, or an IPv6 /64), THROTTLE_BURST failures at once and then one every
 * THROTTLE_REFILL_S seconds. A source with an empty bucket is answered 429 before its body
 * is read; a good token does not refill it. At most THROTTLE_SOURCES sources are
 * remembered: when the table is full, the source with the fullest bucket (the least
 * throttled; the oldest of those) makes room, so spreading guesses over many addresses
 * evicts only those that guessed least.
 *
 * Pure: the caller passes the time. Thread-safe (its own lock).
 */

#include <stddef.h>
#include <stdint.h>

#define THROTTLE_SOURCES  1024
#define THROTTLE_BURST    10
#define THROTTLE_REFILL_S 6
#define THROTTLE_KEY_MAX  48

struct throttle;

/* What /metrics shows. */
struct throttle_stats {
	uint64_t failures; /* failed tokens, ever */
	uint64_t refused;  /* requests answered 429, ever */
	size_t throttled;  /* sources whose bucket is empty now */
	size_t sources;    /* sources remembered */
};

/* A new, empty table; NULL when memory runs out. throttle_free(NULL) is fine. */
struct throttle *throttle_new(void);
void throttle_free(struct throttle *t);

/*
 * 0 when source may present a token at now, else the seconds until it may (for
 * Retry-After); a nonzero answer counts as refused.
 */
unsigned throttle_check(struct throttle *t, const char *source, int64_t now);

/* A failed token from source at now. */
void throttle_fail(struct throttle *t, const char *source, int64_t now);

void throttle_stats(struct throttle *t, int64_t now, struct throttle_stats *out);

#endif
