#include "ctl_http.h"

#include "mbedcompat.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "urllist.h"

#define CONNECT_TIMEOUT_MS 10000L
#define TOTAL_TIMEOUT_S    30L
/* With several URLs: the rounds' waits double from this, all of it within FAILOVER_MS. */
#define FAILOVER_FIRST_WAIT_MS 500L
#define FAILOVER_MS            10000L

struct sink {
	struct ctl_http_reply *reply;
	size_t cap;
	bool too_big;
};

int ctl_http_global_init(void)
{
	/* A libcurl on Mbed TLS 3.x shares its PSA Crypto, which its TLS 1.3 needs and which
	 * curl before 8.x does not initialise. */
	if (kma_psa_init() != 0)
		return -1;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void ctl_http_global_cleanup(void)
{
	curl_global_cleanup();
}

/* Keeps what a standby says of the active instance (X-KMA-Active). */
static size_t on_header(char *line, size_t size, size_t n, void *user)
{
	urllist_active_header(line, size * n, user, URLLIST_URL_SIZE);
	return size * n;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
	struct sink *s = user;
	struct ctl_http_reply *r = s->reply;
	size_t n = size * nmemb;

	if (n > CTL_HTTP_BODY_MAX - r->len) {
		s->too_big = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	if (r->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *p;

		while (cap < r->len + n + 1)
			cap *= 2;
		p = realloc(r->body, cap);
		if (!p)
			return 0;
		r->body = p;
		s->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Every CURLcode a request can end with, in the domain kmactl decides on. */
static enum ctl_http_status map_curl(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return CTL_HTTP_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return CTL_HTTP_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
#if LIBCURL_VERSION_NUM >= 0x074d00 /* 7.77.0 */
	case CURLE_SSL_CLIENTCERT:
#endif
		return CTL_HTTP_TLS;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
		return CTL_HTTP_LOCAL_CERT;
	default:
		return CTL_HTTP_ERROR;
	}
}

const char *ctl_http_status_text(enum ctl_http_status st)
{
	switch (st) {
	case CTL_HTTP_OK:
		return "ok";
	case CTL_HTTP_CONNECT:
		return "cannot reach the coordinator";
	case CTL_HTTP_TLS:
		return "TLS with the coordinator failed";
	case CTL_HTTP_LOCAL_CERT:
		return "cannot use the operator certificate, key or CA file";
	case CTL_HTTP_TOO_BIG:
		return "the coordinator's answer is too large";
	case CTL_HTTP_ERROR:
		break;
	}
	return "request to the coordinator failed";
}

/* One request to the coordinator at base; active gets a standby's X-KMA-Active. */
static enum ctl_http_status request_one(const struct ctl_config *cfg, const char *base,
                                        const char *method, const char *path, const char *json,
                                        long connect_ms, struct ctl_http_reply *reply, char *active)
{
	enum ctl_http_status ret = CTL_HTTP_ERROR;
	char errbuf[CURL_ERROR_SIZE] = "";
	char url[URLLIST_URL_SIZE + 512];
	struct curl_slist *hdrs = NULL, *h;
	struct sink sink = {.reply = reply};
	CURL *curl;
	CURLcode cc;

	memset(reply, 0, sizeof(*reply));
	active[0] = '\0';
	snprintf(reply->url, sizeof(reply->url), "%s", base);
	if (urllist_join(base, path, url, sizeof(url)) != 0) {
		snprintf(reply->error, sizeof(reply->error), "URL too long");
		return CTL_HTTP_ERROR;
	}
	curl = curl_easy_init();
	if (!curl) {
		snprintf(reply->error, sizeof(reply->error), "cannot initialise libcurl");
		return CTL_HTTP_ERROR;
	}
	hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (hdrs && json) {
		h = curl_slist_append(hdrs, "Content-Type: application/json");
		hdrs = h ? h : hdrs;
		if (!h)
			goto nomem;
	}
	if (!hdrs)
		goto nomem;

	/* file paths only: the options both the OpenSSL and the mbedTLS backends take */
	if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSLCERT, cfg->cert) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSLKEY, cfg->key) != CURLE_OK ||
	    /* a configured CA is the only one: the system's CA directory is not searched too */
	    (cfg->ca[0] && (curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->ca) != CURLE_OK ||
	                    curl_easy_setopt(curl, CURLOPT_CAPATH, NULL) != CURLE_OK)) ||
	    curl_easy_setopt(curl, CURLOPT_USERAGENT, "kmactl/" KMA_VERSION) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HEADERDATA, (void *)active) != CURLE_OK) {
		snprintf(reply->error, sizeof(reply->error), "libcurl refused an option");
		goto exit;
	}
	if (json && (curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json) != CURLE_OK ||
	             curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
	                              (curl_off_t)strlen(json)) != CURLE_OK)) {
		snprintf(reply->error, sizeof(reply->error), "libcurl refused the body");
		goto exit;
	}
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		ret = sink.too_big ? CTL_HTTP_TOO_BIG : map_curl(cc);
		snprintf(reply->error, sizeof(reply->error), "%s",
		         errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto exit;
	}
	if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status) != CURLE_OK) {
		snprintf(reply->error, sizeof(reply->error), "no HTTP status");
		goto exit;
	}
	if (!reply->body) {
		reply->body = calloc(1, 1);
		if (!reply->body)
			goto nomem;
	}
	ret = CTL_HTTP_OK;
	goto exit;
nomem:
	snprintf(reply->error, sizeof(reply->error), "out of memory");
exit:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	return ret;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A try's connection timeout: what is left of the failover's time, 1 s to 10 s. */
static long connect_budget(long start)
{
	long left = FAILOVER_MS - (now_ms() - start);

	return left < 1000 ? 1000 : left < CONNECT_TIMEOUT_MS ? left : CONNECT_TIMEOUT_MS;
}

/* Appends "  URL: what it said" to the list of a failed failover. */
static void said(char *log, size_t size, const struct ctl_http_reply *r, enum ctl_http_status st,
                 const char *active)
{
	size_t used = strlen(log);
	char shown[80];

	if (used >= size)
		return;
	if (st != CTL_HTTP_OK) {
		snprintf(log + used, size - used, "\n  %.300s: %s: %.240s", r->url,
		         ctl_http_status_text(st), r->error);
		return;
	}
	log_printable_copy(active, shown, sizeof(shown));
	snprintf(log + used, size - used, "\n  %.300s: a standby (%s%s)", r->url,
	         active[0] ? "active: " : "no instance is active yet", shown);
}

/*
 * The URL that answered last in this process: where the next request starts (kmactl is
 * one thread asking one request at a time; `kmactl run` asks many).
 */
static struct {
	char text[CTL_URL_MAX];
	struct urllist_cursor cur;
} last;

enum ctl_http_status ctl_http_request(const struct ctl_config *cfg, const char *method,
                                      const char *path, const char *json,
                                      struct ctl_http_reply *reply)
{
	enum ctl_http_status st;
	struct urllist urls = {0};
	char active[URLLIST_URL_SIZE], log[sizeof(reply->error) - 160] = "", why[200];
	long start = now_ms(), wait = FAILOVER_FIRST_WAIT_MS, left;
	unsigned rounds = 1;

	if (urllist_add(&urls, cfg->url, why, sizeof(why)) != 0) {
		memset(reply, 0, sizeof(*reply));
		snprintf(reply->error, sizeof(reply->error), "url: %s", why);
		return CTL_HTTP_ERROR;
	}
	if (urls.n == 1)
		return request_one(cfg, urls.url[0], method, path, json, CONNECT_TIMEOUT_MS, reply,
		                   active);
	if (strcmp(last.text, cfg->url) != 0) {
		snprintf(last.text, sizeof(last.text), "%s", cfg->url);
		urllist_cursor_init(&last.cur);
	}
	for (;;) {
		st = request_one(cfg, urls.url[last.cur.at], method, path, json,
		                 connect_budget(start), reply, active);
		/* Our own certificate or a reply too large: no other instance would do better. */
		if (st == CTL_HTTP_LOCAL_CERT || st == CTL_HTTP_TOO_BIG ||
		    (st == CTL_HTTP_OK &&
		     !urllist_standby(reply->status, reply->body, reply->len))) {
			size_t was;

			if (st == CTL_HTTP_OK)
				(void)urllist_answered(&last.cur, &was);
			return st;
		}
		said(log, sizeof(log), reply, st, active);
		ctl_http_reply_free(reply);
		if (urllist_failed(&urls, &last.cur, active))
			continue;
		left = FAILOVER_MS - (now_ms() - start);
		if (wait > left)
			break;
		sleep_ms(wait);
		wait *= 2;
		rounds++;
		log[0] = '\0';
	}
	reply->failover = true;
	snprintf(reply->error, sizeof(reply->error),
	         "no coordinator instance answered (%u rounds in %.1f s); in the last:%s", rounds,
	         (double)(now_ms() - start) / 1000.0, log);
	return st == CTL_HTTP_OK ? CTL_HTTP_CONNECT : st;
}

void ctl_http_reply_free(struct ctl_http_reply *reply)
{
	if (!reply)
		return;
	free(reply->body);
	reply->body = NULL;
	reply->len = 0;
}

void ctl_http_reply_reason(const struct ctl_http_reply *reply, char *buf, size_t size)
{
	json_object *j = NULL, *e;
	size_t n;

	if (reply->body && reply->len > 0) {
		j = json_tokener_parse(reply->body);
		if (j && json_object_is_type(j, json_type_object) &&
		    json_object_object_get_ex(j, "error", &e) &&
		    json_object_is_type(e, json_type_string)) {
			snprintf(buf, size, "%s", json_object_get_string(e));
			json_object_put(j);
			return;
		}
		json_object_put(j);
		if (reply->body[0] != '{' && reply->body[0] != '[') {
			n = strcspn(reply->body, "\r\n");
			if (n > 0) {
				snprintf(buf, size, "%.*s", (int)(n > 200 ? 200 : n), reply->body);
				return;
			}
		}
	}
	snprintf(buf, size, "HTTP %ld", reply->status);
}
