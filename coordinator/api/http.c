#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "coord_config.h"
#include "httpedge.h"
#include "log.h"
#include "metrics.h"
#include "api.h"
#include "report.h"
#include "throttle.h"
#include "watch.h"

/*
 * A connection idle this long past the report interval is dropped (so an agent's
 * keep-alive connection lives from one report to the next, and a stalled client goes).
 */
#define CONNECTION_IDLE_S 15
/* A connection's verified client certificate is checked again after this long. */
#define AUTH_CACHE_S 300
/*
 * libmicrohttpd 0.9.75 cannot queue a response while a body arrives, so a chunked body that
 * grows past max_body is read and dropped (never kept) until it ends, then answered 413; past
 * this many times max_body the connection is closed instead: an endless body must not keep
 * the server busy. A body with Content-Length is refused before any byte is read.
 */
#define DISCARD_FACTOR 16
/* TLS 1.2 or later (docs/protocol.md). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_params p;
	struct watch_list *watches;
	struct throttle *throttle; /* failed enrolment tokens per source */
	int64_t throttle_logged;   /* when a 429 was last logged (under lock) */
	/*
	 * Held while p.store is used and around every route but a report's decoding (http.h):
	 * one SQLite connection whose page cache stays warm, where a connection per thread
	 * would read every page again after each other's writes.
	 */
	pthread_mutex_t lock;
	/*
	 * Decoded reports waiting for the store (report): whoever holds lock next stores every
	 * one of them in one transaction, so a busy coordinator commits once for several.
	 */
	pthread_mutex_t queue_lock;
	struct report_wait *queue;
	struct report_wait **queue_tail;
	/* A standby instance (http_standby): every request is sent to the active one. */
	bool standby;     /* under lock */
	char active[512]; /* the active instance's URL, "" when none is known; under lock */
};

/* A report in the queue, on the stack of the thread that decoded it. */
struct report_wait {
	struct report_item item;
	bool done; /* stored and answered in item.out; written and read under srv->lock */
	struct report_wait *next;
};

/* Reports stored in one transaction at most; a longer queue takes several. */
#define REPORT_BATCH_MAX 64

enum route {
	ROUTE_NOT_FOUND,
	ROUTE_REPORT,
	ROUTE_OPAPI,
	ROUTE_ENROLL,
	ROUTE_METRICS,
	ROUTE_WATCH,
};

/* One request, from its headers to its completion (MHD's *con_cls). */
struct request {
	enum route route;
	struct auth_result who;
	char client[INET6_ADDRSTRLEN + 96]; /* "address (role name)" for the log */
	char addr[INET6_ADDRSTRLEN];        /* the client's address, "?" when unknown */
	char source[THROTTLE_KEY_MAX];      /* addr, an IPv6 address as its /64 (throttle.h) */
	bool responded;                     /* a response was queued early */
	bool too_large;
	unsigned char *body;
	size_t len;
	size_t cap;
	size_t discarded;
	struct watcher watch;        /* ROUTE_WATCH */
	bool begun;                  /* its headers were seen (begin) */
	enum http_edge_verdict edge; /* what http_edge_uri found in its target */
};

/*
 * A connection's verified client certificate: the chain is verified once per connection
 * (an ECDSA verification costs more than the rest of a report), again when the leaf
 * changes (renegotiation), when the cluster CA's CRL changed (it may revoke this one) or
 * after AUTH_CACHE_S.
 */
struct conn_auth {
	unsigned char *der; /* the leaf it was checked for */
	size_t len;
	int64_t at;
	uint64_t crl_generation; /* auth_crl_generation when it was checked */
	struct auth_result who;
};

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct conn_auth *ca = *socket_context;

	(void)cls;
	(void)c;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(struct conn_auth));
		return;
	}
	if (ca) {
		free(ca->der);
		free(ca);
	}
	*socket_context = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_info("http: %s", buf);
}

/* An answer; header (a name, then its value) is one more header to send, or NULL. */
static enum MHD_Result queue(struct MHD_Connection *c, int status, const void *data, size_t len,
                             const char *content_type, const char *const *header)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (content_type &&
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES)
		goto fail;
	if (header && header[1] && MHD_add_response_header(r, header[0], header[1]) != MHD_YES)
		goto fail;
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
fail:
	MHD_destroy_response(r);
	return MHD_NO;
}

/* A one-line text/plain answer, as the report endpoint gives for every rejection. */
static enum MHD_Result queue_text(struct MHD_Connection *c, int status, const char *why,
                                  const char *const *header)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", why);

	if (n < 0)
		return MHD_NO;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	return queue(c, status, line, (size_t)n, "text/plain; charset=utf-8", header);
}

/* A refusal before the body: counted as a rejected report when it was one. */
static enum MHD_Result refuse(struct http_server *srv, struct MHD_Connection *c, struct request *rq,
                              int status, const char *why, const char *allow)
{
	const char *const header[] = {MHD_HTTP_HEADER_ALLOW, allow};

	if (rq->route == ROUTE_REPORT)
		report_reject(srv->p.store, status, rq->client, why);
	else
		log_info("%s refused (%d): %s", rq->client, status, why);
	rq->responded = true;
	return queue_text(c, status, why, header);
}

/* A report with a revoked certificate, refused before its body (report_refuse_revoked). */
static enum MHD_Result refuse_revoked(struct http_server *srv, struct MHD_Connection *c,
                                      struct request *rq, const char *why)
{
	struct report_client who = {rq->who.name, rq->who.serial, rq->addr};
	struct report_outcome out;
	enum MHD_Result ret;
	char secs[16];

	report_refuse_revoked(srv->p.store, srv->p.report_interval_ms, &who, why, time(NULL), &out);
	rq->responded = true;
	snprintf(secs, sizeof(secs), "%u", out.retry_after);
	if (out.reply)
		ret = queue(c, out.status, out.reply, out.reply_len, REPORT_CONTENT_TYPE,
		            (const char *const[]){MHD_HTTP_HEADER_RETRY_AFTER, secs});
	else
		ret = queue_text(c, out.status, out.reason,
		                 (const char *const[]){MHD_HTTP_HEADER_RETRY_AFTER, secs});
	free(out.reply);
	return ret;
}

/* 503 with the standby's headers (standby_answer). */
static enum MHD_Result queue_standby(struct MHD_Connection *c, const char *body, size_t len,
                                     const char *active)
{
	struct MHD_Response *r;
	enum MHD_Result ret = MHD_NO;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") ==
	        MHD_YES &&
	    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1") == MHD_YES &&
	    (!active[0] || MHD_add_response_header(r, "X-KMA-Active", active) == MHD_YES))
		ret = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * A standby's answer to every request (docs/ha.md): 503, the active instance's URL in
 * X-KMA-Active (when known) and the body, and Retry-After. Clients with no usable
 * certificate learn nothing (403, as from the active), except enrolling nodes, whose token
 * the active checks.
 */
static enum MHD_Result standby_answer(struct http_server *srv, struct MHD_Connection *c,
                                      struct request *rq)
{
	char body[sizeof(srv->active) + 48];
	json_object *j;
	int n;

	rq->responded = true;
	if (rq->who.role == AUTH_NONE && rq->route != ROUTE_ENROLL)
		return queue_text(c, MHD_HTTP_FORBIDDEN, "client certificate refused", NULL);
	j = json_object_new_object();
	json_object_object_add(j, "error", json_object_new_string("standby"));
	json_object_object_add(j, "active", json_object_new_string(srv->active));
	n = snprintf(body, sizeof(body), "%s\n",
	             json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	if (n < 0 || (size_t)n >= sizeof(body))
		return MHD_NO;
	log_debug("%s sent to the active coordinator (%s)", rq->client,
	          srv->active[0] ? srv->active : "none yet");
	return queue_standby(c, body, (size_t)n, srv->active);
}

static void authenticate(struct http_server *srv, struct MHD_Connection *c, struct request *rq)
{
	const union MHD_ConnectionInfo *ci;
	struct auth_der chain[AUTH_CHAIN_MAX];
	const gnutls_datum_t *certs = NULL;
	unsigned n = 0;
	char *addr = rq->addr;
	struct conn_auth *cache;
	int64_t now;
	uint64_t crl_generation = auth_crl_generation(srv->p.auth);

	snprintf(rq->addr, sizeof(rq->addr), "?");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET) {
			inet_ntop(AF_INET,
			          &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
			          sizeof(rq->addr));
		} else if (sa->sa_family == AF_INET6) {
			struct in6_addr net =
			    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

			inet_ntop(AF_INET6, &net, addr, sizeof(rq->addr));
			/* One host holds a whole /64: it is throttled as one source. */
			if (!IN6_IS_ADDR_V4MAPPED(&net)) {
				memset(net.s6_addr + 8, 0, 8);
				inet_ntop(AF_INET6, &net, rq->source, sizeof(rq->source) - 3);
				strcat(rq->source, "/64");
			}
		}
	}
	if (!rq->source[0])
		snprintf(rq->source, sizeof(rq->source), "%s", addr);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci && ci->tls_session)
		certs = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
	if (!certs)
		n = 0;
	/* auth_check refuses a chain longer than it takes before reading any of it. */
	for (unsigned i = 0; i < n && i < sizeof(chain) / sizeof(chain[0]); i++) {
		chain[i].data = certs[i].data;
		chain[i].len = certs[i].size;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	cache = ci ? ci->socket_context : NULL;
	now = time(NULL);
	if (cache && n > 0 && cache->der && cache->len == certs[0].size &&
	    memcmp(cache->der, certs[0].data, cache->len) == 0 && now - cache->at < AUTH_CACHE_S &&
	    cache->crl_generation == crl_generation) {
		rq->who = cache->who;
	} else {
		auth_check(srv->p.auth, chain, n, &rq->who);
		if (cache && n > 0) {
			free(cache->der);
			cache->der = malloc(certs[0].size);
			cache->len = cache->der ? certs[0].size : 0;
			if (cache->der)
				memcpy(cache->der, certs[0].data, cache->len);
			cache->who = rq->who;
			cache->at = now;
			cache->crl_generation = crl_generation;
		}
	}
	if (rq->who.role == AUTH_NONE)
		snprintf(rq->client, sizeof(rq->client), "%s", addr);
	else
		snprintf(rq->client, sizeof(rq->client), "%s (%s %.64s)", addr,
		         auth_role_name(rq->who.role), rq->who.name);
}

/*
 * An enrolment from a source that failed too many tokens lately: 429 before its body is read
 * (throttle.h), logged once a minute at most per server, not per guess.
 */
static enum MHD_Result throttled(struct http_server *srv, struct MHD_Connection *c,
                                 struct request *rq)
{
	int64_t now = time(NULL);
	unsigned wait = throttle_check(srv->throttle, rq->source, now);
	char secs[16];

	if (!wait)
		return MHD_YES;
	if (now - srv->throttle_logged >= 60) {
		srv->throttle_logged = now;
		log_notice("enrolment: %s failed too many tokens; refused for %u s (429; "
		           "kma_coord_enroll_throttled_total counts them)",
		           rq->client, wait);
	}
	rq->responded = true;
	snprintf(secs, sizeof(secs), "%u", wait);
	return queue_text(c, MHD_HTTP_TOO_MANY_REQUESTS, "too many failed enrolment tokens",
	                  (const char *const[]){MHD_HTTP_HEADER_RETRY_AFTER, secs});
}

/* The headers are in: authenticate, route, and refuse what can be refused before the body. */
static enum MHD_Result begin(struct http_server *srv, struct MHD_Connection *c, const char *url,
                             const char *method, struct request *rq)
{
	const char *cl;
	char edge_why[96];

	authenticate(srv, c, rq);
	if (strcmp(url, "/v1/report") == 0)
		rq->route = ROUTE_REPORT;
	else if (strcmp(url, "/v1/enroll") == 0)
		rq->route = ROUTE_ENROLL;
	else if (api_owns(url))
		rq->route = ROUTE_OPAPI;
	else if (strcmp(url, "/metrics") == 0)
		rq->route = ROUTE_METRICS;
	else if (strcmp(url, "/v1/watch") == 0)
		rq->route = ROUTE_WATCH;
	else
		rq->route = ROUTE_NOT_FOUND;
	log_debug("%s %s from %s", method, url, rq->client);
	if (srv->standby)
		return standby_answer(srv, c, rq);

	/* Before anything else: what libmicrohttpd would pass on ambiguously (httpedge.h). */
	if (rq->edge == HTTP_EDGE_OK)
		rq->edge = http_edge_framing(c, edge_why, sizeof(edge_why));
	else
		snprintf(edge_why, sizeof(edge_why), "%s", http_edge_reason(rq->edge));
	if (rq->edge != HTTP_EDGE_OK) {
		if (rq->route == ROUTE_REPORT)
			report_reject(srv->p.store, (int)http_edge_status(rq->edge), rq->client,
			              edge_why);
		else
			log_info("%s refused (%u): %s", rq->client, http_edge_status(rq->edge),
			         edge_why);
		rq->responded = true;
		return http_edge_refuse(c, rq->edge, edge_why);
	}

	/* A node to be enrolled has no certificate yet: its token is checked instead. */
	if (rq->who.role == AUTH_NONE && rq->route != ROUTE_ENROLL) {
		char why[sizeof(rq->who.why) + 40];

		snprintf(why, sizeof(why), "client certificate refused: %s", rq->who.why);
		if (rq->route == ROUTE_REPORT && rq->who.revoked)
			return refuse_revoked(srv, c, rq, why);
		return refuse(srv, c, rq, MHD_HTTP_FORBIDDEN, why, NULL);
	}
	switch (rq->route) {
	case ROUTE_REPORT:
		if (rq->who.role != AUTH_AGENT)
			return refuse(srv, c, rq, MHD_HTTP_FORBIDDEN,
			              "only agent certificates may report", NULL);
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return refuse(srv, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", "POST");
		break;
	case ROUTE_WATCH:
		if (rq->who.role != AUTH_AGENT)
			return refuse(srv, c, rq, MHD_HTTP_FORBIDDEN,
			              "only agent certificates may watch", NULL);
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return refuse(srv, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", "GET");
		break;
	case ROUTE_OPAPI:
		if (rq->who.role != AUTH_OPERATOR)
			return refuse(srv, c, rq, MHD_HTTP_FORBIDDEN,
			              "the operator API takes operator certificates only", NULL);
		break;
	case ROUTE_METRICS:
		/* Prometheus scrapes with an operator certificate, like any operator client. */
		if (rq->who.role != AUTH_OPERATOR)
			return refuse(srv, c, rq, MHD_HTTP_FORBIDDEN,
			              "/metrics takes operator certificates only", NULL);
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return refuse(srv, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", "GET");
		break;
	case ROUTE_ENROLL:
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return refuse(srv, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", "POST");
		if (!srv->p.enroll_ca)
			return refuse(srv, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE,
			              "this coordinator does not issue certificates (no ca_key)",
			              NULL);
		return throttled(srv, c, rq);
	case ROUTE_NOT_FOUND:
		return refuse(srv, c, rq, MHD_HTTP_NOT_FOUND, "no such path", NULL);
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno || end == cl || v > srv->p.max_body) {
			char why[96];

			snprintf(why, sizeof(why), "body of %s bytes is larger than %zu", cl,
			         srv->p.max_body);
			return refuse(srv, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, why, NULL);
		}
	}
	return MHD_YES;
}

/* A piece of the body: kept while the total fits max_body, dropped from then on. */
static enum MHD_Result take(struct http_server *srv, struct request *rq, const char *data,
                            size_t size)
{
	if (!rq->too_large && size > srv->p.max_body - rq->len) {
		rq->too_large = true;
		free(rq->body);
		rq->body = NULL;
		rq->cap = 0;
	}
	if (rq->too_large) {
		rq->discarded += size;
		if (rq->discarded / DISCARD_FACTOR > srv->p.max_body) {
			pthread_mutex_lock(&srv->lock);
			if (rq->route == ROUTE_REPORT)
				report_reject(srv->p.store, MHD_HTTP_CONTENT_TOO_LARGE, rq->client,
				              "endless body: connection closed");
			pthread_mutex_unlock(&srv->lock);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (rq->len + size > rq->cap) {
		size_t ncap = rq->cap ? rq->cap : 4096;
		unsigned char *nb;

		while (ncap < rq->len + size)
			ncap *= 2;
		if (ncap > srv->p.max_body)
			ncap = srv->p.max_body;
		nb = realloc(rq->body, ncap + 1);
		if (!nb) {
			log_err("http: out of memory for a body of %zu bytes", rq->len + size);
			return MHD_NO;
		}
		rq->body = nb;
		rq->cap = ncap;
	}
	memcpy(rq->body + rq->len, data, size);
	rq->len += size;
	return MHD_YES;
}

/*
 * GET /v1/watch: answered at once when the agent's view is out of date, else held
 * (suspended) until watch_tick resumes it with its answer.
 */
static enum MHD_Result watch(struct http_server *srv, struct MHD_Connection *c, struct request *rq)
{
	struct watcher *w = &rq->watch;
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "version");
	const char *done = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "done");
	char *end = NULL;

	if (w->status)
		return queue_text(c, w->status, w->status == MHD_HTTP_OK ? "changed" : "", NULL);
	w->version = v ? strtoull(v, &end, 10) : 0;
	if (!v || !*v || *end || (done && strlen(done) >= sizeof(w->done)))
		return queue_text(c, MHD_HTTP_BAD_REQUEST, "want ?version=N[&done=DIRECTIVE_ID]",
		                  NULL);
	snprintf(w->done, sizeof(w->done), "%s", done ? done : "");
	snprintf(w->node_id, sizeof(w->node_id), "%s", rq->who.name);
	if (watch_changed(srv->p.store, w->node_id, w->version, w->done))
		return queue_text(c, MHD_HTTP_OK, "changed", NULL);
	w->c = c;
	w->deadline = time(NULL) + WATCH_HOLD_S;
	rq->responded = false; /* answered when resumed */
	MHD_suspend_connection(c);
	if (watch_hold(srv->watches, w) != 0) {
		MHD_resume_connection(c);
		w->status = MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	return MHD_YES;
}

/* /v1/nodes*, /v1/mesh, /v1/diagnosis and the plan routes (api.h). */
static enum MHD_Result operator_api(struct http_server *srv, struct MHD_Connection *c,
                                    const char *url, const char *method, struct request *rq)
{
	enum MHD_Result ret;
	struct api_response out;

	/* A node is silent after three report intervals without a report. */
	struct api_params prm = {srv->p.token_ttl_s,
	                         coord_stale_after_s(srv->p.report_interval_ms / 1000),
	                         srv->p.min_serving};

	api_handle(srv->p.store, &prm, method, url, rq->body ? (const char *)rq->body : "", rq->len,
	           rq->who.name, time(NULL), &out);
	if (out.status >= 400)
		log_info("%s %s from %s: %d %.*s", method, url, rq->client, out.status,
		         (int)(out.body_len > 200 ? 200 : out.body_len), out.body ? out.body : "");
	ret = queue(c, out.status, out.body ? out.body : "", out.body_len,
	            out.body ? "application/json" : NULL,
	            (const char *const[]){MHD_HTTP_HEADER_ALLOW, out.allow});
	free(out.body);
	return ret;
}

/*
 * POST /v1/enroll, not under srv->lock: enroll_handle takes it only around the store, so
 * that verifying a CSR and signing a certificate hold up no report.
 */
static enum MHD_Result enroll(struct http_server *srv, struct MHD_Connection *c, struct request *rq)
{
	struct enroll_outcome out;
	enum MHD_Result ret;

	rq->responded = true;
	enroll_handle(srv->p.enroll_ca, srv->p.store, &srv->lock, srv->p.cert_days,
	              srv->p.cluster_id, rq->client,
	              rq->body ? rq->body : (const unsigned char *)"", rq->len, time(NULL), &out);
	/* 403 is the token's refusal, and only that (enroll.h). */
	if (out.status == MHD_HTTP_FORBIDDEN)
		throttle_fail(srv->throttle, rq->source, time(NULL));
	if (out.status == MHD_HTTP_OK)
		ret = queue(c, out.status, out.reply, out.reply_len, ENROLL_CONTENT_TYPE, NULL);
	else
		ret = queue_text(c, out.status, out.reason, NULL);
	free(out.reply);
	return ret;
}

/* The whole body is in: hand it to its endpoint and answer (under srv->lock; not reports). */
static enum MHD_Result answer(struct http_server *srv, struct MHD_Connection *c, const char *url,
                              const char *method, struct request *rq)
{
	enum MHD_Result ret;

	rq->responded = true;
	if (rq->too_large) {
		char why[96];

		snprintf(why, sizeof(why), "body larger than %zu bytes", srv->p.max_body);
		if (rq->route == ROUTE_REPORT)
			report_reject(srv->p.store, MHD_HTTP_CONTENT_TOO_LARGE, rq->client, why);
		return queue_text(c, MHD_HTTP_CONTENT_TOO_LARGE, why, NULL);
	}
	if (rq->route == ROUTE_WATCH)
		return watch(srv, c, rq);
	if (rq->route == ROUTE_METRICS) {
		struct metrics_buf mb;
		/* The same silence threshold as GET /v1/diagnosis (below). */
		int64_t stale_after = coord_stale_after_s(srv->p.report_interval_ms / 1000);

		metrics_buf_init(&mb);
		struct throttle_stats ts;

		throttle_stats(srv->throttle, time(NULL), &ts);
		if (metrics_render(srv->p.store, time(NULL), stale_after, &mb) == 0 &&
		    (metrics_render_throttle(&mb, &ts), !metrics_buf_failed(&mb)))
			ret = queue(c, MHD_HTTP_OK, mb.data, mb.len, METRICS_CONTENT_TYPE, NULL);
		else
			ret = queue_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable",
			                 NULL);
		metrics_buf_free(&mb);
		return ret;
	}
	return operator_api(srv, c, url, method, rq);
}

/* Under srv->lock: stores every queued report, REPORT_BATCH_MAX to a transaction. */
static void report_queue_run(struct http_server *srv)
{
	struct report_item items[REPORT_BATCH_MAX];
	struct report_wait *taken[REPORT_BATCH_MAX];
	struct report_wait *w;
	size_t n;

	do {
		pthread_mutex_lock(&srv->queue_lock);
		for (n = 0; n < REPORT_BATCH_MAX && (w = srv->queue) != NULL; n++) {
			srv->queue = w->next;
			taken[n] = w;
			items[n] = w->item;
		}
		if (!srv->queue)
			srv->queue_tail = &srv->queue;
		pthread_mutex_unlock(&srv->queue_lock);
		if (n > 0)
			report_store_batch(srv->p.store, srv->p.report_interval_ms, srv->p.revoke,
			                   items, n, time(NULL));
		for (size_t i = 0; i < n; i++)
			taken[i]->done = true;
	} while (n == REPORT_BATCH_MAX);
}

/*
 * POST /v1/report: decoded and checked outside the lock, so server threads do that in
 * parallel; then queued, and stored and answered under the lock by whichever thread takes
 * it first (the group commit of report_store_batch).
 */
static enum MHD_Result report(struct http_server *srv, struct MHD_Connection *c, struct request *rq)
{
	struct report_outcome out;
	struct report_in in;
	struct report_wait w = {.item = {.in = &in, .out = &out}};
	struct report_client who = {rq->who.name, rq->who.serial, rq->addr};
	char secs[16];
	enum MHD_Result ret;
	const char *ct =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	bool ok = report_decode(&who, ct, rq->body ? rq->body : (const unsigned char *)"", rq->len,
	                        &in, &out);

	if (ok) {
		pthread_mutex_lock(&srv->queue_lock);
		*srv->queue_tail = &w;
		srv->queue_tail = &w.next;
		pthread_mutex_unlock(&srv->queue_lock);
	}
	pthread_mutex_lock(&srv->lock);
	if (ok && !w.done)
		report_queue_run(srv); /* w among them */
	else if (!ok && out.status != MHD_HTTP_INTERNAL_SERVER_ERROR)
		report_reject(srv->p.store, out.status, rq->who.name, out.reason);
	pthread_mutex_unlock(&srv->lock);
	report_in_free(&in);
	snprintf(secs, sizeof(secs), "%u", out.retry_after);
	if (out.status == MHD_HTTP_OK)
		ret = queue(c, out.status, out.reply, out.reply_len, REPORT_CONTENT_TYPE, NULL);
	else if (out.reply)
		ret = queue(c, out.status, out.reply, out.reply_len, REPORT_CONTENT_TYPE,
		            (const char *const[]){MHD_HTTP_HEADER_RETRY_AFTER, secs});
	else
		ret = queue_text(c, out.status, out.reason,
		                 out.retry_after
		                     ? (const char *const[]){MHD_HTTP_HEADER_RETRY_AFTER, secs}
		                     : NULL);
	free(out.reply);
	return ret;
}

/* The whole body is in: a report decodes outside the lock (report), the rest under it. */
static enum MHD_Result finish(struct http_server *srv, struct MHD_Connection *c, const char *url,
                              const char *method, struct request *rq)
{
	enum MHD_Result ret;

	if (rq->route == ROUTE_REPORT && !rq->too_large) {
		rq->responded = true;
		return report(srv, c, rq);
	}
	if (rq->route == ROUTE_ENROLL && !rq->too_large)
		return enroll(srv, c, rq);
	pthread_mutex_lock(&srv->lock);
	ret = answer(srv, c, url, method, rq);
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct request *rq = *con_cls;
	enum MHD_Result ret;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq)); /* on_uri could not */
		if (!rq) {
			log_err("http: out of memory for a request");
			return MHD_NO;
		}
		*con_cls = rq;
	}
	if (!rq->begun) {
		rq->begun = true;
		pthread_mutex_lock(&srv->lock);
		ret = begin(srv, c, url, method, rq);
		pthread_mutex_unlock(&srv->lock);
		return ret;
	}
	if (rq->responded) {
		*upload_data_size = 0; /* answered already: the rest is not read */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		ret = take(srv, rq, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ret;
	}
	return finish(srv, c, url, method, rq);
}

/*
 * The request's object, made as soon as libmicrohttpd has the request line (before it
 * decodes the target and parses its arguments), with what http_edge_uri finds in it.
 * on_completed frees it.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	enum http_edge_verdict v = http_edge_uri(uri);
	struct request *rq = calloc(1, sizeof(*rq));

	(void)cls;
	(void)c;
	if (rq)
		rq->edge = v;
	return rq;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	struct http_server *srv = cls;

	(void)c;
	(void)toe;
	if (!rq)
		return;
	if (rq->route == ROUTE_WATCH)
		watch_forget(srv->watches, &rq->watch);
	/* An enrolment body holds a one-time token. */
	if (rq->body && rq->route == ROUTE_ENROLL)
		explicit_bzero(rq->body, rq->cap);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

struct http_server *http_start(const struct http_params *p)
{
	struct http_server *srv = NULL;
	struct sockaddr_storage ss;
	char why[256];
	int fd;
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
	                 MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;

	if (coord_config_sockaddr(p->listen, &ss) != 0) {
		log_err("listen '%s': not ADDR:PORT", p->listen);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		log_err("http: out of memory");
		return NULL;
	}
	srv->p = *p;
	srv->p.key_pem = NULL;    /* not kept: only MHD_start_daemon reads it */
	srv->standby = !p->store; /* until http_promote */
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->queue_lock, NULL);
	srv->queue_tail = &srv->queue;
	srv->watches = watch_list_new();
	srv->throttle = throttle_new();
	if (!srv->watches || !srv->throttle) {
		log_err("http: out of memory");
		goto fail;
	}
	if (srv->p.token_ttl_s == 0)
		srv->p.token_ttl_s = COORD_TOKEN_TTL_DEFAULT;
	if (srv->p.cert_days == 0)
		srv->p.cert_days = COORD_CERT_DAYS_DEFAULT;
	if (!srv->p.cluster_id)
		srv->p.cluster_id = COORD_CLUSTER_ID_DEFAULT;
	/* Bound here: an address in use is said as such, not as MHD's "port 0". */
	fd = coord_listen_open(p->listen, why, sizeof(why));
	if (fd < 0) {
		log_err("http: cannot listen on %s", why);
		goto fail;
	}
	srv->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_HTTPS_MEM_KEY, p->key_pem,
	    MHD_OPTION_HTTPS_MEM_CERT, p->cert_pem, MHD_OPTION_HTTPS_MEM_TRUST, p->trust_pem,
	    MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT,
	    p->report_interval_ms / 1000u + CONNECTION_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
	    p->max_connections ? p->max_connections : 8192u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    p->max_per_ip, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
	    NULL, MHD_OPTION_THREAD_POOL_SIZE, srv->p.threads > 1 ? srv->p.threads : 0u,
	    MHD_OPTION_END);
	if (!srv->daemon) {
		log_err("http: cannot serve on %s (its certificate, key or CA?)", p->listen);
		close(fd);
		goto fail;
	}
	return srv;
fail:
	throttle_free(srv->throttle);
	watch_list_free(srv->watches);
	pthread_mutex_destroy(&srv->queue_lock);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return NULL;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	/*
	 * Held watches are answered (204) before the server stops; the list goes only after
	 * it, since stopping runs the completion callbacks, which take watches off the list.
	 */
	watch_release_all(srv->watches);
	MHD_stop_daemon(srv->daemon);
	watch_list_free(srv->watches);
	throttle_free(srv->throttle);
	pthread_mutex_destroy(&srv->queue_lock);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

void http_tick(struct http_server *srv, struct store *st, int64_t now)
{
	watch_tick(srv->watches, st, now);
}

void http_standby(struct http_server *srv, const char *active_url)
{
	pthread_mutex_lock(&srv->lock);
	srv->standby = true;
	snprintf(srv->active, sizeof(srv->active), "%s", active_url ? active_url : "");
	pthread_mutex_unlock(&srv->lock);
}

void http_promote(struct http_server *srv, struct store *st, struct revoke *revoke)
{
	pthread_mutex_lock(&srv->lock);
	srv->p.store = st;
	srv->p.revoke = revoke;
	srv->standby = false;
	pthread_mutex_unlock(&srv->lock);
}
