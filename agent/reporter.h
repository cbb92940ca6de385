#ifndef KMA_AGENT_REPORTER_H
#define KMA_AGENT_REPORTER_H

/*
 * Reports to the coordinator: POSTs an AgentReport (protobuf, mutual TLS with the node's
 * identity, libcurl's multi interface driven by the agent's event loop) every interval and
 * at once when reporter_kick() says something changed, and hands each CoordinatorReply to
 * the owner. When the coordinator is unreachable or refuses, it backs off (doubling, with
 * jitter, up to 5 minutes; or as long as a refusal's Retry-After says) and the agent goes on
 * with what it has.
 *
 * Between reports it holds a GET /v1/watch open (coordinator/api/watch.h): when the coordinator
 * answers "changed" (a new peer table, a directive for us) it reports at once, so the reply
 * brings the change without waiting for the interval.
 *
 * With several coordinator URLs (the instances of a coordinator with standbys,
 * docs/ha-clients.md) a report that gets no real answer (a transport failure, a standby's
 * 503) goes at once to the next URL by common/urllist.h's rule; only when every URL was
 * asked does the backoff above apply. When another URL than the last answers, the agent
 * logs "coordinator: now reporting to URL (was URL)", moves its watch there and reports
 * again at once; a watch that fails or finds a standby makes it report at once too, so
 * a newly active coordinator hears from every node within moments.
 */

#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "kma.pb-c.h"
#include "urllist.h"

/*
 * A PEM text (a certificate chain, a key or CAs) as libcurl is given it, whatever its TLS
 * backend. As a blob: the length counts the terminating NUL, without which mbedTLS does not
 * parse PEM (curl's mbedTLS backend passes a key blob to mbedtls_pk_parse_key() as it is),
 * and CURL_BLOB_NOCOPY: curl points at our copy, so it must outlive every handle it is set
 * on. A backend that takes no blobs (GnuTLS in curl 7.88.1: it refuses CURLOPT_CAINFO_BLOB
 * and ignores the certificate and key blobs) is given a file name instead, of a memfd that
 * holds the same bytes and lives as long (never a file on disk: the key stays in memory).
 */
struct reporter_pem {
	struct curl_blob blob;
	int fd;        /* the memfd, once path is set */
	char path[32]; /* /proc/self/fd/N; "" until a backend needs a file */
};

struct reporter;

/*
 * fill: fills *report (whose sequence the reporter sets); what it points to must live
 *       until done(), which the reporter calls right after encoding it.
 * apply: a reply arrived and decoded.
 * refused: (optional) the coordinator refused the report (403) but said, in a reply of
 *       its own, what it enrolled for us (enrolled_serial only; nothing else is taken).
 * watch_query: the query of GET /v1/watch ("version=N&done=ID", URL-safe) saying what we
 *       have; NULL: no watch, changes arrive with the replies to the interval's reports.
 */
struct reporter_ops {
	void (*fill)(void *arg, Kma__V1__AgentReport *report);
	void (*done)(void *arg);
	void (*apply)(void *arg, const Kma__V1__CoordinatorReply *reply);
	void (*refused)(void *arg, const Kma__V1__CoordinatorReply *reply);
	void (*watch_query)(void *arg, char *buf, size_t size);
};

struct reporter {
	struct event_base *base;
	CURLM *multi;
	CURL *easy; /* the request in flight, NULL when none */
	struct event *timer;
	struct event *curl_timer;
	struct urllist urls;
	struct urllist_cursor cur;         /* the URL asked, and the last that answered */
	char url[URLLIST_URL_SIZE + 16];   /* the report's: urls.url[cur.at] + "/v1/report" */
	char active[URLLIST_URL_SIZE];     /* X-KMA-Active of the answer, "" when none */
	struct reporter_pem cert, key, ca; /* every handle points at them */
	unsigned interval_ms;
	unsigned failures;
	bool pending; /* a kick arrived while a request was in flight */
	uint64_t sequence;
	uint64_t instance; /* random per start: the coordinator orders reports by it and sequence */
	unsigned char *body;
	size_t body_len;
	unsigned char *resp;
	size_t resp_len;
	long last_status;
	char last_error[URLLIST_URL_SIZE + 256];
	struct reporter_ops ops;
	void *arg;
	uint32_t (*random)(void *arg);
	/* The watch: a held GET, restarted after each answer (after the report it causes). */
	CURL *watch;
	struct event *watch_timer;
	unsigned watch_failures;
	bool watch_after_report; /* "changed": start again once that report is answered */
};

/*
 * Starts reporting to urls (".../v1/report" is appended; at least one) with the given PEM
 * client certificate chain, key and the CA that signs the coordinator's certificate. The
 * list and the PEM buffers are copied. Returns 0, or -1 (logged).
 */
int reporter_start_list(struct reporter *r, struct event_base *base, const struct urllist *urls,
                        const char *cert_pem, const char *key_pem, const char *ca_pem,
                        unsigned interval_s, const struct reporter_ops *ops, void *arg,
                        uint32_t (*random)(void *arg)) __attribute__((warn_unused_result));

/* reporter_start_list with the URLs as text: one, or a list as urllist_add takes it. */
int reporter_start(struct reporter *r, struct event_base *base, const char *url,
                   const char *cert_pem, const char *key_pem, const char *ca_pem,
                   unsigned interval_s, const struct reporter_ops *ops, void *arg,
                   uint32_t (*random)(void *arg)) __attribute__((warn_unused_result));

/* Reports as soon as possible (after the request in flight, if any). */
void reporter_kick(struct reporter *r);

/* Stops, cancelling a request in flight; safe on a reporter that never started. */
void reporter_stop(struct reporter *r);

/* Copies pem (NUL-terminated) into *p. Returns 0, or -1 (out of memory). */
int reporter_pem_set(struct reporter_pem *p, const char *pem) __attribute__((warn_unused_result));

/* The file name of a memfd holding p's PEM (made at the first call), or NULL (errno). */
const char *reporter_pem_path(struct reporter_pem *p);

/* Zeroises (it may hold a key) and frees what reporter_pem_set() made, the memfd's bytes
 * too; safe on a zeroed *p, and twice. */
void reporter_pem_free(struct reporter_pem *p);

/*
 * Makes e trust the coordinator's CA (ca) and nothing else: libcurl's defaults, the
 * system's CA file and directory, are dropped; the peer and its host name are verified.
 * Every request the agent makes to the coordinator goes through it (reports, watches,
 * QuickStart). *blobs tells whether this libcurl takes PEM blobs (else files: see
 * reporter_pem). Returns CURLE_OK, or the error that must stop the request.
 */
CURLcode reporter_trust(CURL *e, struct reporter_pem *ca, bool *blobs)
    __attribute__((warn_unused_result));

#endif
