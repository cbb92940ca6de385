#include "ctl_http.h"

#include "mbedcompat.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 10L
#define TOTAL_TIMEOUT_S   30L

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

enum ctl_http_status ctl_http_request(const struct ctl_config *cfg, const char *method,
                                      const char *path, const char *json,
                                      struct ctl_http_reply *reply)
{
	enum ctl_http_status ret = CTL_HTTP_ERROR;
	char errbuf[CURL_ERROR_SIZE] = "";
	char url[CTL_URL_MAX + 512];
	struct curl_slist *hdrs = NULL, *h;
	struct sink sink = {.reply = reply};
	size_t base;
	CURL *curl;
	CURLcode cc;

	memset(reply, 0, sizeof(*reply));
	base = strlen(cfg->url);
	while (base > 0 && cfg->url[base - 1] == '/')
		base--; /* "https://coord:8443/" + "/v1/nodes" */
	if ((size_t)snprintf(url, sizeof(url), "%.*s%s", (int)base, cfg->url, path) >=
	    sizeof(url)) {
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
	    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S) != CURLE_OK ||
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
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink) != CURLE_OK) {
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
