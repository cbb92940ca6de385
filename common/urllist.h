#ifndef KMA_URLLIST_H
#define KMA_URLLIST_H

/*
 * The coordinator's URLs as the agent and kmactl take them (`[coordinator] url`, `[kmactl]
 * url`, `--url`): one, or up to URLLIST_MAX separated by commas and/or white space, each
 * an https:// URL. One parser and one failover rule for both (docs/ha-clients.md):
 *
 * A request that gets no real answer from a URL (a transport failure, or a standby's 503
 * {"error":"standby"}) is sent to another at once: to the URL the standby names in
 * X-KMA-Active when that one is configured and not yet asked in this round, else to the
 * next configured one not yet asked. When every URL has been asked once without a real
 * answer the round is over and the caller waits (its backoff) before the next; that round
 * starts at the URL a standby named, else at the last one that answered, else the first.
 * Any other answer (2xx, 4xx, a 503 that is not a standby's) is the coordinator's real
 * answer, and where the next request starts.
 *
 * Pure functions: no I/O, so the rule is unit-tested as a table (tests/unit/test_urllist.c).
 */

#include <stdbool.h>
#include <stddef.h>

#define URLLIST_MAX      5
#define URLLIST_URL_SIZE 512
#define URLLIST_NONE     ((size_t)-1)
/* The header a standby names the active instance in. */
#define URLLIST_ACTIVE_HEADER "X-KMA-Active"

struct urllist {
	size_t n;
	char url[URLLIST_MAX][URLLIST_URL_SIZE]; /* as configured */
};

/*
 * Checks one URL: "https://" (any case), a host, a port from 1 to 65535 when one is
 * written, no credentials, no white space or control characters, shorter than
 * URLLIST_URL_SIZE. Returns 0, or -1 with why.
 */
int urllist_check(const char *url, char *why, size_t wsize) __attribute__((warn_unused_result));

/*
 * Appends the URLs of text (separated by commas and/or white space) to l. Returns 0, or -1
 * with why (l unchanged) when text holds none, one fails urllist_check, one is listed
 * twice (urllist_same) or they would be more than URLLIST_MAX.
 */
int urllist_add(struct urllist *l, const char *text, char *why, size_t wsize)
    __attribute__((warn_unused_result));

/*
 * Whether a and b name the same coordinator: scheme and host in any case, no port and 443
 * alike, the same path with trailing slashes ignored.
 */
bool urllist_same(const char *a, const char *b);

/* The index of the URL of l that is the same as url (urllist_same), or URLLIST_NONE. */
size_t urllist_find(const struct urllist *l, const char *url);

/*
 * base (trailing slashes dropped) + "/" + path (leading slashes dropped) into out.
 * Returns 0, or -1 when it does not fit.
 */
int urllist_join(const char *base, const char *path, char *out, size_t size)
    __attribute__((warn_unused_result));

/* "URL, URL, URL" into out (truncated to fit), for log lines and messages. */
void urllist_text(const struct urllist *l, char *out, size_t size);

/* Whether an HTTP answer is a standby's: status 503 and a JSON body whose "error" is
 * "standby". body need not be NUL-terminated. */
bool urllist_standby(long status, const void *body, size_t len);

/*
 * For a header callback: when line (len bytes, as libcurl hands it, CRLF included) is an
 * X-KMA-Active header, copies its value (white space trimmed, "" when empty) into out and
 * returns true. A value that does not fit is left out ("" and true): it cannot be one of
 * ours anyway.
 */
bool urllist_active_header(const char *line, size_t len, char *out, size_t size);

/* Where a client is in its list: who answered last, who to ask now, who was asked. */
struct urllist_cursor {
	size_t at;       /* the URL to ask now */
	size_t answered; /* the last that gave a real answer; URLLIST_NONE before one */
	size_t hint;     /* the configured URL a standby named in this round, or URLLIST_NONE */
	unsigned tried;  /* bit i: URL i asked in this round */
};

/* At the first URL, none answered yet. */
void urllist_cursor_init(struct urllist_cursor *c);

/*
 * c->at gave a real answer: it is where the next request starts, and a new round begins.
 * Returns true when it is another URL than the one that answered before (not on the first
 * answer), with that one's index in *was.
 */
bool urllist_answered(struct urllist_cursor *c, size_t *was);

/*
 * c->at gave no real answer; active is what a standby's X-KMA-Active said (NULL or "" for
 * none, or a transport failure). Returns true with c->at the URL to ask now, or false when
 * every URL was asked in this round: the caller waits, then asks c->at (a new round).
 */
bool urllist_failed(const struct urllist *l, struct urllist_cursor *c, const char *active);

#endif
