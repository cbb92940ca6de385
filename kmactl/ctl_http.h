#ifndef KMA_CTL_HTTP_H
#define KMA_CTL_HTTP_H

/*
 * One HTTPS request to the coordinator's operator API with the operator's client
 * certificate (libcurl, blocking: kmactl runs one request at a time). Transport failures
 * and HTTP answers are kept apart: a request either reached the coordinator and has an
 * HTTP status, or failed with a ctl_http_status saying which step failed.
 */

#include <stdbool.h>
#include <stddef.h>

#include "ctl_config.h"
#include "urllist.h"

enum ctl_http_status {
	CTL_HTTP_OK = 0,     /* the coordinator answered; see ctl_http_reply.status */
	CTL_HTTP_CONNECT,    /* name resolution, connection refused or timed out */
	CTL_HTTP_TLS,        /* TLS handshake or server certificate verification failed */
	CTL_HTTP_LOCAL_CERT, /* our certificate, key or CA file cannot be used */
	CTL_HTTP_TOO_BIG,    /* the answer exceeds CTL_HTTP_BODY_MAX */
	CTL_HTTP_ERROR,      /* anything else (out of memory, protocol error, ...) */
};

#define CTL_HTTP_BODY_MAX (16 * 1024 * 1024)

struct ctl_http_reply {
	long status;      /* HTTP status */
	char *body;       /* NUL-terminated (may be empty), the caller's to ctl_http_reply_free */
	size_t len;       /* bytes in body without the NUL */
	char error[1536]; /* for a failed request: libcurl's explanation; after a failover,
	                     what each URL said, a line each */
	char url[URLLIST_URL_SIZE]; /* the coordinator URL asked last (that answered, on OK) */
	bool failover;              /* several URLs, and none answered */
};

/* Process-wide libcurl set-up; call once from main before any request. 0 or -1. */
int ctl_http_global_init(void) __attribute__((warn_unused_result));
void ctl_http_global_cleanup(void);

/*
 * Sends method path (e.g. "GET", "/v1/nodes") to cfg->url with cfg's certificate, key and
 * CA, and json (NULL for no body) as application/json. Fills reply (always: free it with
 * ctl_http_reply_free). Returns CTL_HTTP_OK when an HTTP answer arrived, whatever its
 * status.
 *
 * cfg->url may list several URLs (common/urllist.h): one that does not answer, or answers
 * as a standby, is followed at once by the next by urllist's rule, starting at the one that
 * answered last in this process; after each round in which none answered it waits (0.5 s,
 * then doubling) and tries again, for FAILOVER_MS (10 s) in all. Then it fails with
 * reply->failover set and reply->error saying what each URL said. A local certificate
 * problem or an answer too large ends it at once. One URL: one try, as ever.
 */
enum ctl_http_status ctl_http_request(const struct ctl_config *cfg, const char *method,
                                      const char *path, const char *json,
                                      struct ctl_http_reply *reply)
    __attribute__((warn_unused_result));

/* Frees the body; NULL and an already freed reply are fine. */
void ctl_http_reply_free(struct ctl_http_reply *reply);

/*
 * The coordinator's reason for a refused request: the "error" member of a JSON body, else
 * the first line of a text body, else "HTTP <status>". Written into buf.
 */
void ctl_http_reply_reason(const struct ctl_http_reply *reply, char *buf, size_t size);

/* A short phrase for a transport failure ("cannot connect", "TLS failure", ...). */
const char *ctl_http_status_text(enum ctl_http_status st);

#endif
