#ifndef KMA_COORD_PLANTOKEN_H
#define KMA_COORD_PLANTOKEN_H

/*
 * The one-time enrolment token a recovery plan's add_entry step issues for an automatic
 * QuickStart. The QuickStart's directive carries it to the agent with every reply until the
 * agent answers, also after kma-coord restarts, but the database never holds it: the step
 * keeps a random nonce (steps.secret), and the token is HMAC-SHA256(K, nonce) in lowercase
 * hex, where K is derived from key material that is not in the database (kma-coord's TLS
 * private key). Whoever reads the database (a backup, a copy of coord.db) finds a nonce and
 * the token's SHA-256, neither of which enrols anything.
 */

#include <stddef.h>

#include "enroll.h"

/* "v1:" and 32 hex digits, with the NUL; fits store_step.secret. */
#define PLAN_TOKEN_NONCE_MAX 36

/*
 * Derives K from material (the TLS key file's bytes). Called once at start, before any
 * thread uses plan tokens; until then (unit tests) K is random, drawn at first use, so a
 * token does not survive the process.
 */
void plan_token_key_set(const unsigned char *material, size_t len);

/*
 * A new nonce into nonce (PLAN_TOKEN_NONCE_MAX bytes), its token into token
 * (ENROLL_TOKEN_HEX bytes) and the token's SHA-256 (enroll_token_hash) into sha256
 * (STORE_TOKEN_HASH_MAX bytes). Returns 0, or -1 when there is no randomness (logged).
 */
int plan_token_new(char *nonce, char *token, char *sha256) __attribute__((warn_unused_result));

/*
 * The token for what a step keeps (kept: a nonce of plan_token_new) into token
 * (ENROLL_TOKEN_HEX bytes). A plaintext token a plan kept before this scheme (64 hex digits)
 * is passed through, so a plan running across an upgrade completes. Returns 0, or -1 when
 * kept is neither (token is then "").
 */
int plan_token_get(const char *kept, char *token) __attribute__((warn_unused_result));

#endif
