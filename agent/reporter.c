#include "reporter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#define RESP_MAX    (1u << 20)
#define BACKOFF_MAX 300000u
/* The coordinator holds a watch 25 s (WATCH_HOLD_S); we give up on it a little later. */
#define WATCH_TIMEOUT_MS 40000L

struct sock_ctx {
	struct reporter *r;
	struct event *ev;
};

static void send_report(struct reporter *r);
static void watch_start(struct reporter *r);

static void arm(struct event *ev, uint32_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	evtimer_del(ev);
	evtimer_add(ev, &tv);
}

/* Next attempt after n failures: doubling from min(interval, 5 s), capped at 5 minutes,
 * with "equal jitter" (between half and all of it) so a fleet does not come back in step. */
static uint32_t backoff_ms(struct reporter *r)
{
	uint32_t base = r->interval_ms < 5000 ? r->interval_ms : 5000;
	uint32_t d = base;

	for (unsigned i = 1; i < r->failures && d < BACKOFF_MAX; i++)
		d *= 2;
	if (d > BACKOFF_MAX)
		d = BACKOFF_MAX;
	return d / 2 + r->random(r->arg) % (d / 2 + 1);
}

/*
 * A coordinator that refuses a report for now (a certificate it does not take yet, a report
 * out of order, overload) says when to come back with Retry-After; it knows when that
 * changes (a rejoin that accepts our certificate begins), so its word beats the backoff.
 * 0 when it said nothing.
 */
static uint32_t retry_after_ms(struct reporter *r, CURLcode rc)
{
	curl_off_t s = 0;

	/* A standby's "Retry-After: 1" is for clients with no other instance: we back off. */
	if (rc != CURLE_OK || r->last_status < 400 ||
	    urllist_standby(r->last_status, r->resp, r->resp_len) ||
	    curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &s) != CURLE_OK || s <= 0)
		return 0;
	return s >= BACKOFF_MAX / 1000 ? BACKOFF_MAX : (uint32_t)s * 1000u;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct reporter *r = arg;
	size_t len = size * n;
	unsigned char *grown;

	if (r->resp_len + len > RESP_MAX)
		return 0; /* makes curl fail the transfer: no coordinator sends that much */
	grown = realloc(r->resp, r->resp_len + len);
	if (!grown)
		return 0;
	memcpy(grown + r->resp_len, data, len);
	r->resp = grown;
	r->resp_len += len;
	return len;
}

/* Keeps what a standby says of the active instance (X-KMA-Active). */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct reporter *r = arg;

	urllist_active_header(line, size * n, r->active, sizeof(r->active));
	return size * n;
}

static bool protobuf(CURL *e)
{
	const char *ct = NULL;

	return curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct &&
	       strncasecmp(ct, "application/x-protobuf", 22) == 0;
}

/*
 * A 403 in protobuf: the coordinator does not take our certificate as this node's, and
 * says which serial it enrolled for us (only that is taken from it).
 */
static void refused(struct reporter *r, char *why, size_t size)
{
	Kma__V1__CoordinatorReply *reply =
	    kma__v1__coordinator_reply__unpack(NULL, r->resp_len, r->resp);

	if (!reply) {
		snprintf(why, size, "HTTP 403 with a body that does not decode");
		return;
	}
	snprintf(why, size,
	         "HTTP 403: the coordinator does not take our certificate as this node's (it "
	         "enrolled serial %.64s)",
	         reply->enrolled_serial[0] ? reply->enrolled_serial : "none");
	if (r->ops.refused)
		r->ops.refused(r->arg, reply);
	kma__v1__coordinator_reply__free_unpacked(reply, NULL);
}

/* Takes *e out of the multi handle and frees it; a NULL *e is left alone. */
static void handle_drop(struct reporter *r, CURL **e)
{
	if (!*e)
		return;
	curl_multi_remove_handle(r->multi, *e);
	curl_easy_cleanup(*e);
	*e = NULL;
}

/* The request is over: its handle and buffers go. */
static void release(struct reporter *r)
{
	handle_drop(r, &r->easy);
	free(r->body);
	r->body = NULL;
	free(r->resp);
	r->resp = NULL;
	r->resp_len = 0;
}

static void watch_cancel(struct reporter *r)
{
	handle_drop(r, &r->watch);
	if (r->watch_timer)
		evtimer_del(r->watch_timer);
	r->watch_failures = 0;
}

/*
 * The URL asked gave no real answer: the next one is asked at once with a fresh report,
 * unless every URL was asked in this round (false: the caller backs off).
 */
static bool fail_over(struct reporter *r, CURLcode rc)
{
	const char *from = r->urls.url[r->cur.at];
	char active[LOG_SHOWN_MAX + 1];

	if (!urllist_failed(&r->urls, &r->cur, r->active))
		return false;
	log_printable_copy(r->active[0] ? r->active : "none", active, sizeof(active));
	if (rc != CURLE_OK)
		log_info("coordinator: %s: %s; trying %s", from, curl_easy_strerror(rc),
		         r->urls.url[r->cur.at]);
	else
		log_info("coordinator: %s is a standby (active: %s); trying %s", from, active,
		         r->urls.url[r->cur.at]);
	release(r);
	arm(r->timer, 0);
	return true;
}

/*
 * r->cur.at gave a real answer. Another URL than the last that did: the coordinator
 * changed (a standby took over), so the watch moves there and a report follows this one
 * at once, for the newly active instance to have our latest without waiting an interval.
 */
static void answered(struct reporter *r)
{
	size_t was;

	if (!urllist_answered(&r->cur, &was))
		return;
	log_notice("coordinator: now reporting to %s (was %s)", r->urls.url[r->cur.at],
	           r->urls.url[was]);
	watch_cancel(r);
	r->pending = true;
}

/*
 * The reply of a request that ended with rc, or NULL with why it is not one (which URL
 * said so too, with several: asked).
 */
static Kma__V1__CoordinatorReply *outcome(struct reporter *r, CURLcode rc, size_t asked, char *why,
                                          size_t size)
{
	Kma__V1__CoordinatorReply *reply = NULL;
	size_t n = 0;

	if (r->urls.n > 1) {
		snprintf(why, size, "%s: ", r->urls.url[asked]);
		n = strlen(why);
	}
	if (rc != CURLE_OK)
		snprintf(why + n, size - n, "%s", curl_easy_strerror(rc));
	else if (r->last_status == 403 && protobuf(r->easy))
		refused(r, why + n, size - n);
	else if (r->last_status != 200)
		snprintf(why + n, size - n, "HTTP %ld: %.*s", r->last_status,
		         (int)(r->resp_len < 160 ? r->resp_len : 160), (const char *)r->resp);
	else if (!(reply = kma__v1__coordinator_reply__unpack(NULL, r->resp_len, r->resp)))
		snprintf(why + n, size - n, "the reply does not decode as a CoordinatorReply");
	why[strcspn(why, "\r\n")] = '\0';
	return reply;
}

static void finish(struct reporter *r, CURLcode rc)
{
	Kma__V1__CoordinatorReply *reply;
	char why[URLLIST_URL_SIZE + 256] = "";
	uint32_t next = r->interval_ms;
	size_t asked = r->cur.at;
	bool reply_ok, real;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->last_status);
	real = rc == CURLE_OK && !urllist_standby(r->last_status, r->resp, r->resp_len);
	if (real)
		answered(r);
	else if (fail_over(r, rc))
		return;
	reply = outcome(r, rc, asked, why, sizeof(why));
	reply_ok = reply != NULL;
	if (reply) {
		if (r->failures)
			log_notice("coordinator: reachable again after %u failed reports",
			           r->failures);
		r->failures = 0;
		r->last_error[0] = '\0';
		if (reply->next_report_interval_ms >= 1000 &&
		    reply->next_report_interval_ms <= 3600000)
			r->interval_ms = reply->next_report_interval_ms;
		next = r->interval_ms;
		r->ops.apply(r->arg, reply);
		kma__v1__coordinator_reply__free_unpacked(reply, NULL);
		/* The first answer, or the one a "changed" asked for: watch (again) from here. */
		if (r->ops.watch_query && !r->watch &&
		    (r->watch_after_report || !evtimer_pending(r->watch_timer, NULL))) {
			r->watch_after_report = false;
			watch_start(r);
		}
	} else {
		r->failures++;
		/* Say it once per kind of failure, not once per retry. */
		if (strcmp(why, r->last_error) != 0)
			log_warn("coordinator: report %llu failed: %s (%sretrying with backoff; "
			         "probing goes on with the last peer table)",
			         (unsigned long long)r->sequence, why,
			         r->urls.n > 1 && !real ? "every instance asked; " : "");
		snprintf(r->last_error, sizeof(r->last_error), "%s", why);
		next = retry_after_ms(r, rc);
		/*
		 * A refusal that says when to come back is an answer, not an outage: it must not
		 * grow the backoff that the next unreachable spell starts from (a node refused for
		 * minutes, then its coordinator restarted, would otherwise wait five minutes).
		 */
		if (next)
			r->failures = 0;
		else
			next = backoff_ms(r);
	}
	release(r);
	if (r->pending && reply_ok)
		next = 0;
	r->pending = false;
	arm(r->timer, next);
}

CURLcode reporter_trust(CURL *e, struct reporter_pem *ca, bool *blobs)
{
	CURLcode rc = curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca->blob);
	const char *path;

	*blobs = rc == CURLE_OK;
	if (rc == CURLE_OK) {
		curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	} else if (rc == CURLE_NOT_BUILT_IN || rc == CURLE_UNKNOWN_OPTION) {
		if (!(path = reporter_pem_path(ca)))
			return CURLE_OUT_OF_MEMORY;
		if ((rc = curl_easy_setopt(e, CURLOPT_CAINFO, path)) != CURLE_OK)
			return rc;
	} else {
		return rc;
	}
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	return CURLE_OK;
}

/* Our identity, the coordinator's CA and the limits every request uses. */
static CURLcode easy_common(struct reporter *r, CURL *e, const char *url, long timeout_ms)
{
	const char *cert, *key;
	CURLcode rc;
	bool blobs;

	if ((rc = reporter_trust(e, &r->ca, &blobs)) != CURLE_OK)
		return rc;
	if (blobs) {
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &r->cert.blob);
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &r->key.blob);
	} else {
		if (!(cert = reporter_pem_path(&r->cert)) || !(key = reporter_pem_path(&r->key)))
			return CURLE_OUT_OF_MEMORY;
		curl_easy_setopt(e, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, key);
	}
	curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/*
	 * Buffers sized for what goes through them: a report of a few KiB up (curl allocates
	 * 64 KiB for it by default, 16 KiB is its least) and replies of as little down.
	 */
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
	return CURLE_OK;
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static void watch_start(struct reporter *r)
{
	char query[256], path[sizeof(query) + 16], url[URLLIST_URL_SIZE + sizeof(path)];
	CURLcode rc;

	r->ops.watch_query(r->arg, query, sizeof(query));
	snprintf(path, sizeof(path), "v1/watch?%s", query);
	/* At the coordinator that answered the report this watch follows. */
	r->watch = urllist_join(r->urls.url[r->cur.at], path, url, sizeof(url)) == 0
	               ? curl_easy_init()
	               : NULL;
	if (!r->watch) {
		arm(r->watch_timer, 5000);
		return;
	}
	rc = easy_common(r, r->watch, url, WATCH_TIMEOUT_MS);
	curl_easy_setopt(r->watch, CURLOPT_WRITEFUNCTION, discard);
	if (rc != CURLE_OK || curl_multi_add_handle(r->multi, r->watch) != CURLM_OK) {
		curl_easy_cleanup(r->watch);
		r->watch = NULL;
		arm(r->watch_timer, 5000);
	}
}

static void watch_finish(struct reporter *r, CURLcode rc)
{
	long status = 0;
	uint32_t d = 5000;

	curl_easy_getinfo(r->watch, CURLINFO_RESPONSE_CODE, &status);
	handle_drop(r, &r->watch);
	if (rc == CURLE_OK && status == 200) {
		/* Something for us: report now; the reply brings it. Watch again after it. */
		r->watch_failures = 0;
		r->watch_after_report = true;
		reporter_kick(r);
		return;
	}
	if (rc == CURLE_OK && status == 204) {
		r->watch_failures = 0;
		watch_start(r);
		return;
	}
	/* Gone, or turned standby: a report now finds the active instance (fail_over). */
	if (r->urls.n > 1 && (rc != CURLE_OK || status == 503))
		reporter_kick(r);
	/* Unreachable, or a coordinator without /v1/watch: the reports go on; try later. */
	if (r->watch_failures++ == 0)
		log_info("coordinator: watch failed (%s); changes arrive with the reports",
		         rc != CURLE_OK ? curl_easy_strerror(rc) : "unexpected HTTP status");
	for (unsigned i = 1; i < r->watch_failures && d < BACKOFF_MAX; i++)
		d *= 2;
	arm(r->watch_timer, d < BACKOFF_MAX ? d : BACKOFF_MAX);
}

static void on_watch_timer(evutil_socket_t fd, short what, void *arg)
{
	struct reporter *r = arg;

	(void)fd;
	(void)what;
	if (!r->watch)
		watch_start(r);
}

static void check_done(struct reporter *r)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(r->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		if (msg->easy_handle == r->easy)
			finish(r, msg->data.result);
		else if (r->watch && msg->easy_handle == r->watch)
			watch_finish(r, msg->data.result);
	}
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct reporter *r = ((struct sock_ctx *)arg)->r; /* arg may be freed below */
	int running;
	int action =
	    (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(r->multi, fd, action, &running);
	check_done(r);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct reporter *r = userp;
	struct sock_ctx *sc = socketp;
	short kind = EV_PERSIST;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (sc) {
			event_free(sc->ev);
			free(sc);
		}
		return 0;
	}
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc)
			return -1;
		sc->r = r;
		curl_multi_assign(r->multi, s, sc);
	} else {
		event_free(sc->ev);
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	sc->ev = event_new(r->base, s, kind, on_sock, sc);
	return sc->ev && event_add(sc->ev, NULL) == 0 ? 0 : -1;
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct reporter *r = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(r);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct reporter *r = userp;

	(void)m;
	if (timeout_ms < 0)
		evtimer_del(r->curl_timer);
	else
		arm(r->curl_timer, (uint32_t)timeout_ms);
	return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_report(arg);
}

static void send_report(struct reporter *r)
{
	static struct curl_slist *headers; /* the same for every request: built once */
	Kma__V1__AgentReport rep = KMA__V1__AGENT_REPORT__INIT;
	CURLcode rc;
	size_t len;

	if (r->easy) {
		r->pending = true;
		return;
	}
	r->ops.fill(r->arg, &rep);
	rep.sequence = ++r->sequence;
	rep.instance = r->instance;
	len = kma__v1__agent_report__get_packed_size(&rep);
	r->body = malloc(len ? len : 1);
	if (r->body)
		r->body_len = kma__v1__agent_report__pack(&rep, r->body);
	r->ops.done(r->arg);
	if (!headers) {
		headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
		headers = curl_slist_append(headers, "Accept: application/x-protobuf");
	}
	r->easy = r->body && headers ? curl_easy_init() : NULL;
	if (!r->easy) {
		free(r->body);
		r->body = NULL;
		arm(r->timer, 1000);
		return;
	}
	r->active[0] = '\0';
	rc = urllist_join(r->urls.url[r->cur.at], "v1/report", r->url, sizeof(r->url)) == 0
	         ? easy_common(r, r->easy, r->url, 15000L)
	         : CURLE_URL_MALFORMAT;
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	if (rc != CURLE_OK || curl_multi_add_handle(r->multi, r->easy) != CURLM_OK) {
		if (rc != CURLE_OK)
			log_warn("coordinator: report %llu not sent: %s",
			         (unsigned long long)r->sequence, curl_easy_strerror(rc));
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		free(r->body);
		r->body = NULL;
		arm(r->timer, 1000);
	}
}

int reporter_pem_set(struct reporter_pem *p, const char *pem)
{
	memset(p, 0, sizeof(*p));
	/*
	 * The NUL is counted because mbedTLS parses PEM only when the buffer's last byte is
	 * one, and curl's mbedTLS backend (7.88.1, what images carry) hands it the key blob as
	 * it is; the certificate and CA it copies with a NUL of its own. OpenSSL and GnuTLS
	 * stop at the END line and ignore what follows.
	 */
	p->blob.len = strlen(pem) + 1;
	p->blob.data = malloc(p->blob.len);
	if (!p->blob.data) {
		p->blob.len = 0;
		return -1;
	}
	memcpy(p->blob.data, pem, p->blob.len);
	/* curl points at ours, which is zeroised when freed, instead of keeping a copy. */
	p->blob.flags = CURL_BLOB_NOCOPY;
	return 0;
}

const char *reporter_pem_path(struct reporter_pem *p)
{
	size_t len = p->blob.len ? p->blob.len - 1 : 0, done = 0;
	int fd;

	if (p->path[0])
		return p->path;
	fd = memfd_create("kma-pem", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	while (done < len) {
		ssize_t n = write(fd, (const char *)p->blob.data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return NULL;
		}
		done += (size_t)n;
	}
	p->fd = fd;
	snprintf(p->path, sizeof(p->path), "/proc/self/fd/%d", fd);
	return p->path;
}

void reporter_pem_free(struct reporter_pem *p)
{
	if (p->path[0]) {
		static const unsigned char zeros[512];

		/* Overwritten before the pages go back: they may hold a key. */
		for (size_t off = 0; off + 1 < p->blob.len; off += sizeof(zeros))
			if (pwrite(p->fd, zeros, sizeof(zeros), (off_t)off) < 0)
				break;
		close(p->fd);
	}
	if (p->blob.data)
		mbedtls_platform_zeroize(p->blob.data, p->blob.len);
	free(p->blob.data);
	memset(p, 0, sizeof(*p));
}

/* Whether url names its host by an address (IPv4, or IPv6 in brackets). */
static bool url_host_is_address(const char *url)
{
	const char *h = strstr(url, "://");
	char host[64];
	struct in_addr a;

	h = h ? h + 3 : url;
	if (h[0] == '[')
		return true;
	snprintf(host, sizeof(host), "%.*s", (int)strcspn(h, ":/"), h);
	return inet_pton(AF_INET, host, &a) == 1;
}

/* Which libcurl, and on which TLS library: an image may carry any (docs/dependencies.md). */
static void log_start(struct reporter *r, unsigned interval_s)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	char list[URLLIST_MAX * (URLLIST_URL_SIZE + 2)];

	log_notice("coordinator: reporting to %s every %u s (libcurl %s on %s)", r->url, interval_s,
	           vi->version, vi->ssl_version ? vi->ssl_version : "no TLS");
	if (r->urls.n > 1) {
		urllist_text(&r->urls, list, sizeof(list));
		log_notice("coordinator: %zu instances, asked in this order when one does not "
		           "answer: %s",
		           r->urls.n, list);
	}
	/* Mbed TLS 2.x matches a certificate's DNS names only, never its IP addresses. */
	for (size_t i = 0; i < r->urls.n; i++)
		if (vi->ssl_version && strncmp(vi->ssl_version, "mbedTLS/2.", 10) == 0 &&
		    url_host_is_address(r->urls.url[i]))
			log_warn("coordinator: %s names the coordinator by its address, which "
			         "libcurl on %s cannot verify (it matches DNS names only): name it "
			         "by a host name its certificate lists",
			         r->urls.url[i], vi->ssl_version);
}

int reporter_start(struct reporter *r, struct event_base *base, const char *url,
                   const char *cert_pem, const char *key_pem, const char *ca_pem,
                   unsigned interval_s, const struct reporter_ops *ops, void *arg,
                   uint32_t (*random)(void *arg))
{
	struct urllist urls = {0};
	char why[160];

	if (urllist_add(&urls, url, why, sizeof(why)) != 0) {
		memset(r, 0, sizeof(*r));
		log_err("coordinator: %s", why);
		return -1;
	}
	return reporter_start_list(r, base, &urls, cert_pem, key_pem, ca_pem, interval_s, ops, arg,
	                           random);
}

int reporter_start_list(struct reporter *r, struct event_base *base, const struct urllist *urls,
                        const char *cert_pem, const char *key_pem, const char *ca_pem,
                        unsigned interval_s, const struct reporter_ops *ops, void *arg,
                        uint32_t (*random)(void *arg))
{
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->ops = *ops;
	r->arg = arg;
	r->random = random;
	/* Never 0, which stands for an agent that does not say. */
	r->instance = ((uint64_t)random(arg) << 32 | random(arg)) | 1u;
	r->interval_ms = interval_s * 1000u;
	r->urls = *urls;
	urllist_cursor_init(&r->cur);
	if (urls->n == 0 || urllist_join(urls->url[0], "v1/report", r->url, sizeof(r->url)) != 0) {
		log_err("coordinator: no URL, or one too long");
		return -1;
	}
	if (reporter_pem_set(&r->cert, cert_pem) || reporter_pem_set(&r->key, key_pem) ||
	    reporter_pem_set(&r->ca, ca_pem))
		goto fail;
	r->multi = curl_multi_init();
	r->timer = evtimer_new(base, on_timer, r);
	r->curl_timer = evtimer_new(base, on_curl_timer, r);
	r->watch_timer = evtimer_new(base, on_watch_timer, r);
	if (!r->multi || !r->timer || !r->curl_timer || !r->watch_timer)
		goto fail;
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
	arm(r->timer, 0);
	log_start(r, interval_s);
	return 0;
fail:
	log_err("coordinator: cannot start reporting (out of memory)");
	reporter_stop(r);
	return -1;
}

void reporter_kick(struct reporter *r)
{
	if (!r->multi)
		return;
	if (r->easy) {
		r->pending = true;
		return;
	}
	/* While the coordinator is failing, the backoff timer stands: do not hammer it. */
	if (!r->failures)
		arm(r->timer, 0);
}

void reporter_stop(struct reporter *r)
{
	watch_cancel(r);
	if (r->watch_timer)
		event_free(r->watch_timer);
	r->watch_timer = NULL;
	handle_drop(r, &r->easy);
	if (r->multi)
		curl_multi_cleanup(r->multi);
	r->multi = NULL;
	if (r->timer)
		event_free(r->timer);
	if (r->curl_timer)
		event_free(r->curl_timer);
	r->timer = r->curl_timer = NULL;
	/* Last: the handles freed above pointed at them (CURL_BLOB_NOCOPY). */
	reporter_pem_free(&r->cert);
	reporter_pem_free(&r->key);
	reporter_pem_free(&r->ca);
	free(r->body);
	free(r->resp);
	r->body = NULL;
	r->resp = NULL;
}
