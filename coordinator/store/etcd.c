#include "etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define TIMEOUT_DEFAULT_MS 2000L
/* An answer buffer this large is released after its call, not kept for the next one. */
#define ANSWER_KEEP (1u << 20)

struct answer {
	char *buf;
	size_t len, cap;
	bool too_big;
};

struct endpoint {
	char url[ETCD_ENDPOINT_LEN + 1];
	CURL *curl; /* one per endpoint: its connection is kept between requests */
};

struct etcd {
	struct endpoint ep[ETCD_ENDPOINTS_MAX];
	size_t n, current;
	long timeout_ms;
	char *ca, *cert, *key;
	struct curl_slist *headers;
	struct answer answer;
	char errbuf[CURL_ERROR_SIZE];
};

/*
 * Reads a 200 answer into the caller's results. ETCD_OK or ETCD_FAILED: the answer is the
 * cluster's word. ETCD_ERROR: it is malformed (*why says how, and the call tries the next
 * endpoint); nothing is left allocated then.
 */
typedef enum etcd_status (*decode_fn)(struct json_object *answer, void *arg, const char **why);

struct request {
	const char *path;
	struct json_object *body;
	decode_fn decode;
	void *arg;
	bool notfound_fails; /* a 404 "not found" (a lease) is ETCD_FAILED, not a refusal */
};

const char *etcd_status_text(enum etcd_status st)
{
	switch (st) {
	case ETCD_OK:
		return "ok";
	case ETCD_FAILED:
		return "failed";
	case ETCD_ERROR:
		break;
	}
	return "error";
}

/* --- configuration --- */

static bool endpoint_add(struct etcd *e, const char *s, size_t len)
{
	static const char scheme[] = "https://";

	while (len > 0 && s[len - 1] == '/')
		len--;
	if (len <= strlen(scheme) || strncmp(s, scheme, strlen(scheme)) != 0) {
		log_err("etcd: endpoint '%.*s' is not an https:// URL", (int)len, s);
		return false;
	}
	if (len > ETCD_ENDPOINT_LEN) {
		log_err("etcd: an endpoint is longer than %d bytes", ETCD_ENDPOINT_LEN);
		return false;
	}
	if (e->n == ETCD_ENDPOINTS_MAX) {
		log_err("etcd: more than %d endpoints", ETCD_ENDPOINTS_MAX);
		return false;
	}
	memcpy(e->ep[e->n].url, s, len);
	e->ep[e->n].url[len] = '\0';
	e->n++;
	return true;
}

static bool endpoints_parse(struct etcd *e, const char *list)
{
	static const char sep[] = ", \t\n";
	const char *p = list;

	while (p && *p) {
		size_t skip = strspn(p, sep), len;

		p += skip;
		len = strcspn(p, sep);
		if (len && !endpoint_add(e, p, len))
			return false;
		p += len;
	}
	if (e->n == 0) {
		log_err("etcd: no endpoint");
		return false;
	}
	return true;
}

static bool file_option(const char *what, const char *path, char **out)
{
	if (!path)
		return true;
	if (access(path, R_OK) != 0) {
		log_errno(LOG_LVL_ERR, errno, "etcd: %s %s", what, path);
		return false;
	}
	*out = strdup(path);
	if (!*out)
		log_err("etcd: out of memory");
	return *out != NULL;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
	struct answer *a = user;
	size_t n = size * nmemb;

	if (n > ETCD_ANSWER_MAX - a->len) {
		a->too_big = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	if (a->len + n + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		char *p;

		while (cap < a->len + n + 1)
			cap *= 2;
		p = realloc(a->buf, cap);
		if (!p)
			return 0;
		a->buf = p;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, data, n);
	a->len += n;
	a->buf[a->len] = '\0';
	return n;
}

/* The options every request to an endpoint shares; false if libcurl refused one. */
static bool curl_setup(struct etcd *e, CURL *c)
{
	bool ok =
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 deprecated the bitmask */
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK &&
#else
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS) == CURLE_OK &&
#endif
	    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->timeout_ms) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	    /* the configured CA is the only one: not the system's too */
	    curl_easy_setopt(c, CURLOPT_CAINFO, e->ca) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_CAPATH, NULL) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "kma-coord/" KMA_VERSION) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ETCD_ANSWER_MAX) ==
	        CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &e->answer) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->errbuf) == CURLE_OK;

	if (ok && e->cert)
		ok = curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_SSLKEY, e->key) == CURLE_OK;
	return ok;
}

struct etcd *etcd_open(const struct etcd_config *cfg)
{
	struct etcd *e = calloc(1, sizeof(*e)), *ret = NULL;
	struct curl_slist *h;
	size_t i;

	if (!e || !cfg) {
		log_err("etcd: %s", e ? "no configuration" : "out of memory");
		free(e);
		return NULL;
	}
	e->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : TIMEOUT_DEFAULT_MS;
	if (cfg->timeout_ms < 0) {
		log_err("etcd: timeout %ld ms", cfg->timeout_ms);
		goto exit;
	}
	if (!cfg->ca || !*cfg->ca || !cfg->cert != !cfg->key) {
		log_err("etcd: a CA file, and a client certificate with its key or neither");
		goto exit;
	}
	if (!endpoints_parse(e, cfg->endpoints) || !file_option("CA", cfg->ca, &e->ca) ||
	    !file_option("certificate", cfg->cert, &e->cert) ||
	    !file_option("key", cfg->key, &e->key))
		goto exit;
	/* "Expect:" off: no wait for a 100 Continue before a large body */
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	h = e->headers ? curl_slist_append(e->headers, "Expect:") : NULL;
	if (!h) {
		log_err("etcd: out of memory");
		goto exit;
	}
	for (i = 0; i < e->n; i++) {
		e->ep[i].curl = curl_easy_init();
		if (!e->ep[i].curl || !curl_setup(e, e->ep[i].curl)) {
			log_err("etcd: cannot set up libcurl for %s", e->ep[i].url);
			goto exit;
		}
	}
	ret = e;
	e = NULL;
exit:
	etcd_close(e);
	return ret;
}

void etcd_close(struct etcd *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->n; i++)
		if (e->ep[i].curl)
			curl_easy_cleanup(e->ep[i].curl);
	curl_slist_free_all(e->headers);
	free(e->answer.buf);
	free(e->ca);
	free(e->cert);
	free(e->key);
	free(e);
}

/* --- the answers --- */

/*
 * Whether an answer holds more JSON values than etcd ever writes in that many bytes (its
 * commas and opening brackets outside strings). json-c spends 50 to 100 bytes on each value
 * it builds: "[7,7,7,...]" would cost 40 times its size. etcd's densest answers (a txn's
 * responses, a range of one-byte keys and values) take 11 bytes or more per value.
 */
static bool answer_dense(const struct answer *a)
{
	size_t i, values = 0;
	bool in_string = false;

	for (i = 0; i < a->len; i++) {
		if (in_string && a->buf[i] == '\\')
			i++;
		else if (a->buf[i] == '"')
			in_string = !in_string;
		else if (!in_string && strchr(",[{", a->buf[i]) && a->buf[i])
			values++;
	}
	return values > a->len / 8 + 1024;
}

/* The whole answer as one JSON object, nothing after it but white space; NULL if not. */
static struct json_object *answer_parse(const struct answer *a)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	size_t end;

	if (!tok || !a->buf || answer_dense(a))
		goto exit;
	o = json_tokener_parse_ex(tok, a->buf, (int)a->len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))
		goto fail;
	for (end = json_tokener_get_parse_end(tok); end < a->len; end++)
		if (!strchr(" \t\r\n", a->buf[end]) || a->buf[end] == '\0')
			goto fail;
	goto exit;
fail:
	json_object_put(o);
	o = NULL;
exit:
	if (tok)
		json_tokener_free(tok);
	return o;
}

/* A member's int64 (a JSON string of decimal digits, as the gateway writes them), 0 when
 * absent (proto3 leaves zeros out). */
static bool get_int64(struct json_object *o, const char *name, int64_t *out)
{
	struct json_object *v;
	const char *s;
	char *end;
	long long n;

	*out = 0;
	if (!json_object_object_get_ex(o, name, &v))
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || !*s || !strchr("-0123456789", *s))
		return false;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = n;
	return true;
}

static bool get_bool(struct json_object *o, const char *name, bool *out)
{
	struct json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, name, &v))
		return true;
	if (!json_object_is_type(v, json_type_boolean))
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

/* A member's bytes (base64), decoded into a buffer with a NUL after them; empty when
 * absent. */
static bool get_bytes(struct json_object *o, const char *name, unsigned char **out, size_t *len)
{
	struct json_object *v;
	const unsigned char *s = (const unsigned char *)"";
	size_t slen = 0, need = 0;

	*out = NULL;
	*len = 0;
	if (json_object_object_get_ex(o, name, &v)) {
		if (!json_object_is_type(v, json_type_string))
			return false;
		s = (const unsigned char *)json_object_get_string(v);
		slen = (size_t)json_object_get_string_len(v);
	}
	if (mbedtls_base64_decode(NULL, 0, &need, s, slen) == MBEDTLS_ERR_BASE64_INVALID_CHARACTER)
		return false;
	*out = malloc(need + 1);
	if (!*out)
		return false;
	if (mbedtls_base64_decode(*out, need + 1, len, s, slen) != 0) {
		free(*out);
		*out = NULL;
		return false;
	}
	(*out)[*len] = '\0';
	return true;
}

/* Every answer's header and its revision. */
static bool header_revision(struct json_object *answer, int64_t *revision)
{
	struct json_object *h;
	int64_t rev;

	if (!json_object_object_get_ex(answer, "header", &h) ||
	    !json_object_is_type(h, json_type_object) || !get_int64(h, "revision", &rev) ||
	    rev <= 0)
		return false;
	if (revision)
		*revision = rev;
	return true;
}

/* --- the requests --- */

static void answer_reset(struct answer *a)
{
	if (a->cap > ANSWER_KEEP) {
		free(a->buf);
		a->buf = NULL;
		a->cap = 0;
	}
	a->len = 0;
	a->too_big = false;
}

/* The gateway's reason for a refusal ("error" or "message"), fit for a log line. */
static void refusal_text(struct json_object *o, char *out, size_t size, int64_t *code)
{
	struct json_object *v;

	*code = -1;
	snprintf(out, size, "no reason given");
	if (!o)
		return;
	if (json_object_object_get_ex(o, "code", &v) && json_object_is_type(v, json_type_int))
		*code = json_object_get_int64(v);
	if ((json_object_object_get_ex(o, "error", &v) ||
	     json_object_object_get_ex(o, "message", &v)) &&
	    json_object_is_type(v, json_type_string))
		log_printable_copy(json_object_get_string(v), out, size);
}

/*
 * One try of r on endpoint k. true: the endpoint answered, *st is the outcome; false: no
 * answer (logged), the next endpoint is worth a try.
 */
static bool try_endpoint(struct etcd *e, size_t k, const struct request *r, const char *body,
                         enum etcd_status *st)
{
	const struct endpoint *ep = &e->ep[k];
	char url[ETCD_ENDPOINT_LEN + 64], why_buf[LOG_SHOWN_MAX + 1];
	struct json_object *o = NULL;
	const char *why = NULL;
	int64_t code;
	long http = 0;
	CURLcode cc;

	answer_reset(&e->answer);
	e->errbuf[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", ep->url, r->path);
	if (curl_easy_setopt(ep->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(ep->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(ep->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) !=
	        CURLE_OK) {
		log_warn("etcd %s: libcurl refused the request", url);
		return false;
	}
	cc = curl_easy_perform(ep->curl);
	if (cc != CURLE_OK) {
		log_warn("etcd %s: %s", url,
		         e->answer.too_big || cc == CURLE_FILESIZE_EXCEEDED
		             ? "answer larger than the limit"
		         : e->errbuf[0] ? e->errbuf
		                        : curl_easy_strerror(cc));
		return false;
	}
	if (curl_easy_getinfo(ep->curl, CURLINFO_RESPONSE_CODE, &http) != CURLE_OK)
		http = 0;
	o = answer_parse(&e->answer);
	if (http == 200 && o) {
		*st = r->decode(o, r->arg, &why);
		json_object_put(o);
		if (*st != ETCD_ERROR)
			return true;
		log_warn("etcd %s: malformed answer: %s", url, why ? why : "?");
		return false;
	}
	if (http == 200 || http < 400 || http >= 500 || http == 429) {
		log_warn("etcd %s: %s (HTTP %ld)", url,
		         http == 200 ? "malformed answer: not one JSON object of etcd's density"
		                     : "no answer",
		         http);
		json_object_put(o);
		return false;
	}
	/* 4xx: the cluster answered no */
	refusal_text(o, why_buf, sizeof(why_buf), &code);
	json_object_put(o);
	if (r->notfound_fails && http == 404 && code == 5 /* gRPC NotFound */) {
		log_info("etcd %s: %s", url, why_buf);
		*st = ETCD_FAILED;
	} else {
		log_err("etcd %s: refused (HTTP %ld): %s", url, http, why_buf);
		*st = ETCD_ERROR;
	}
	return true;
}

/* r on the endpoint that last answered, then once on each other one. Frees r->body. */
static enum etcd_status call(struct etcd *e, const struct request *r)
{
	enum etcd_status st = ETCD_ERROR;
	const char *body;
	size_t i, k;

	if (!r->body) {
		log_err("etcd %s: no request (out of memory, or a compare or op without a key)",
		        r->path);
		return ETCD_ERROR;
	}
	body = json_object_to_json_string_ext(r->body, JSON_C_TO_STRING_PLAIN);
	if (!body) {
		log_err("etcd %s: out of memory", r->path);
		goto exit;
	}
	for (i = 0; i < e->n; i++) {
		k = (e->current + i) % e->n;
		if (try_endpoint(e, k, r, body, &st)) {
			e->current = k;
			goto exit;
		}
	}
	st = ETCD_ERROR;
	log_err("etcd %s: no answer from any of %zu endpoints", r->path, e->n);
exit:
	answer_reset(&e->answer);
	json_object_put(r->body);
	return st;
}

/* --- request bodies: every helper takes and gives up NULL (out of memory) --- */

static struct json_object *add(struct json_object *o, const char *name, struct json_object *v)
{
	if (o && v && json_object_object_add(o, name, v) == 0)
		return o;
	json_object_put(v);
	json_object_put(o);
	return NULL;
}

static struct json_object *add_bytes(struct json_object *o, const char *name, const void *data,
                                     size_t len)
{
	struct json_object *v = NULL;
	unsigned char *b64;
	size_t need, olen;

	if (len > ETCD_ANSWER_MAX) {
		log_err("etcd: a value of %zu bytes", len);
		json_object_put(o);
		return NULL;
	}
	need = 4 * ((len + 2) / 3) + 1;
	b64 = malloc(need);
	if (b64 && mbedtls_base64_encode(b64, need, &olen, data, len) == 0)
		v = json_object_new_string_len((const char *)b64, (int)olen);
	free(b64);
	return add(o, name, v);
}

static struct json_object *add_int64(struct json_object *o, const char *name, int64_t n)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, n);
	return add(o, name, json_object_new_string(s));
}

/* "key", and for a prefix the "range_end" that ends it: the prefix with its last byte
 * below 0xff incremented (and what follows dropped); none such, or "": every key ("\0"). */
static struct json_object *add_key(struct json_object *o, const char *key, bool prefix)
{
	size_t len = strlen(key);
	char *end;

	if (!prefix)
		return add_bytes(o, "key", key, len);
	if (len == 0)
		o = add_bytes(o, "key", "", 1);
	else
		o = add_bytes(o, "key", key, len);
	end = strdup(key);
	if (!end) {
		json_object_put(o);
		return NULL;
	}
	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	if (len > 0)
		end[len - 1] = (char)((unsigned char)end[len - 1] + 1);
	o = add_bytes(o, "range_end", len ? end : "", len ? len : 1);
	free(end);
	return o;
}

/* --- the operations --- */

static bool args_ok(struct etcd *e, const char *key, const char *what)
{
	if (e && key)
		return true;
	log_err("etcd %s: no %s", what, e ? "key" : "client");
	return false;
}

static enum etcd_status decode_header(struct json_object *a, void *arg, const char **why)
{
	if (header_revision(a, arg))
		return ETCD_OK;
	*why = "no header revision";
	return ETCD_ERROR;
}

void etcd_kvs_free(struct etcd_kv *kv, size_t n)
{
	size_t i;

	if (!kv)
		return;
	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

struct range_out {
	struct etcd_kv *kv;
	size_t n;
	int64_t revision;
};

static const char *decode_kv(struct json_object *o, struct etcd_kv *kv)
{
	size_t klen;

	if (!json_object_is_type(o, json_type_object))
		return "a key-value is not an object";
	if (!json_object_object_get_ex(o, "key", NULL) ||
	    !get_bytes(o, "key", (unsigned char **)&kv->key, &klen))
		return "a key is not base64";
	if (klen == 0 || memchr(kv->key, '\0', klen))
		return "a key is empty or holds a NUL byte";
	if (!get_bytes(o, "value", &kv->value, &kv->value_len))
		return "a value is not base64";
	if (!get_int64(o, "create_revision", &kv->create_rev) ||
	    !get_int64(o, "mod_revision", &kv->mod_rev) || !get_int64(o, "lease", &kv->lease))
		return "a revision or lease is not an int64";
	return NULL;
}

static enum etcd_status decode_range(struct json_object *a, void *arg, const char **why)
{
	struct range_out *out = arg;
	struct json_object *kvs;
	size_t i, n = 0;

	if (!header_revision(a, &out->revision)) {
		*why = "no header revision";
		return ETCD_ERROR;
	}
	if (!json_object_object_get_ex(a, "kvs", &kvs))
		return ETCD_OK;
	if (!json_object_is_type(kvs, json_type_array)) {
		*why = "kvs is not an array";
		return ETCD_ERROR;
	}
	n = json_object_array_length(kvs);
	if (n == 0)
		return ETCD_OK;
	out->kv = calloc(n, sizeof(*out->kv));
	if (!out->kv) {
		*why = "out of memory";
		return ETCD_ERROR;
	}
	for (i = 0; i < n; i++) {
		*why = decode_kv(json_object_array_get_idx(kvs, i), &out->kv[i]);
		if (*why) {
			etcd_kvs_free(out->kv, i + 1);
			out->kv = NULL;
			return ETCD_ERROR;
		}
	}
	out->n = n;
	return ETCD_OK;
}

enum etcd_status etcd_range(struct etcd *e, const char *key, bool prefix, struct etcd_kv **out,
                            size_t *n, int64_t *revision)
{
	struct range_out r = {0};
	struct request q = {"/v3/kv/range", NULL, decode_range, &r, false};
	enum etcd_status st;

	*out = NULL;
	*n = 0;
	if (!args_ok(e, key, "range"))
		return ETCD_ERROR;
	q.body = add_key(json_object_new_object(), key, prefix);
	st = call(e, &q);
	if (st == ETCD_OK) {
		*out = r.kv;
		*n = r.n;
		if (revision)
			*revision = r.revision;
	}
	return st;
}

static struct json_object *put_body(const char *key, const void *value, size_t len, int64_t lease)
{
	struct json_object *o = add_key(json_object_new_object(), key, false);

	o = add_bytes(o, "value", value ? value : "", value ? len : 0);
	return lease ? add_int64(o, "lease", lease) : o;
}

enum etcd_status etcd_put(struct etcd *e, const char *key, const void *value, size_t len,
                          int64_t lease)
{
	struct request q = {"/v3/kv/put", NULL, decode_header, NULL, true};

	if (!args_ok(e, key, "put"))
		return ETCD_ERROR;
	q.body = put_body(key, value, len, lease);
	return call(e, &q);
}

enum etcd_status etcd_delete(struct etcd *e, const char *key, bool prefix)
{
	struct request q = {"/v3/kv/deleterange", NULL, decode_header, NULL, false};

	if (!args_ok(e, key, "delete"))
		return ETCD_ERROR;
	q.body = add_key(json_object_new_object(), key, prefix);
	return call(e, &q);
}

static struct json_object *cmp_body(const void *item)
{
	const struct etcd_cmp *c = item;
	static const char *const target[] = {"CREATE", "MOD", "LEASE"};
	static const char *const field[] = {"create_revision", "mod_revision", "lease"};
	struct json_object *o;

	if (!c->key || (unsigned)c->target > ETCD_CMP_LEASE)
		return NULL;
	o = add_key(json_object_new_object(), c->key, false);
	o = add(o, "target", json_object_new_string(target[c->target]));
	o = add(o, "result", json_object_new_string("EQUAL"));
	return add_int64(o, field[c->target], c->value);
}

static struct json_object *op_body(const void *item)
{
	const struct etcd_op *op = item;
	if (!op->key)
		return NULL;
	switch (op->kind) {
	case ETCD_OP_PUT:
		return add(json_object_new_object(), "request_put",
		           put_body(op->key, op->value, op->len, op->lease));
	case ETCD_OP_DELETE:
	case ETCD_OP_DELETE_PREFIX:
		return add(
		    json_object_new_object(), "request_delete_range",
		    add_key(json_object_new_object(), op->key, op->kind == ETCD_OP_DELETE_PREFIX));
	}
	return NULL;
}

static enum etcd_status decode_txn(struct json_object *a, void *arg, const char **why)
{
	bool succeeded;

	if (!header_revision(a, arg)) {
		*why = "no header revision";
		return ETCD_ERROR;
	}
	if (!get_bool(a, "succeeded", &succeeded)) {
		*why = "succeeded is not a boolean";
		return ETCD_ERROR;
	}
	return succeeded ? ETCD_OK : ETCD_FAILED;
}

/* A JSON array of one(item) for each of the n items (size bytes apart); NULL if one is. */
static struct json_object *array_of(const void *items, size_t size, size_t n,
                                    struct json_object *(*one)(const void *item))
{
	struct json_object *a = json_object_new_array(), *v;
	size_t i;

	for (i = 0; i < n && a; i++) {
		v = one((const char *)items + i * size);
		if (!v || json_object_array_add(a, v) != 0) {
			json_object_put(v);
			json_object_put(a);
			a = NULL;
		}
	}
	return a;
}

enum etcd_status etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp,
                          const struct etcd_op *ops, size_t nops, int64_t *revision)
{
	struct request q = {"/v3/kv/txn", NULL, decode_txn, revision, true};
	struct json_object *o;

	if (!e || (ncmp && !cmp) || (nops && !ops)) {
		log_err("etcd txn: no client, compares or ops");
		return ETCD_ERROR;
	}
	o = add(json_object_new_object(), "compare", array_of(cmp, sizeof(*cmp), ncmp, cmp_body));
	q.body = add(o, "success", array_of(ops, sizeof(*ops), nops, op_body));
	return call(e, &q);
}

struct lease_out {
	int64_t id, ttl;
};

static enum etcd_status decode_grant(struct json_object *a, void *arg, const char **why)
{
	struct lease_out *out = arg;
	struct json_object *err;

	if (json_object_object_get_ex(a, "error", &err) &&
	    (!json_object_is_type(err, json_type_string) || json_object_get_string_len(err))) {
		*why = "the grant names an error";
		return ETCD_ERROR;
	}
	if (!header_revision(a, NULL) || !get_int64(a, "ID", &out->id) ||
	    !get_int64(a, "TTL", &out->ttl) || out->id == 0 || out->ttl <= 0) {
		*why = "no header, lease ID or TTL";
		return ETCD_ERROR;
	}
	return ETCD_OK;
}

enum etcd_status etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl)
{
	struct lease_out r = {0};
	struct request q = {"/v3/lease/grant", NULL, decode_grant, &r, false};
	enum etcd_status st;

	*id = 0;
	if (!e || ttl_s <= 0) {
		log_err("etcd lease grant: no client or a TTL of %" PRId64 " s", ttl_s);
		return ETCD_ERROR;
	}
	q.body = add_int64(json_object_new_object(), "TTL", ttl_s);
	st = call(e, &q);
	if (st == ETCD_OK) {
		*id = r.id;
		if (granted_ttl)
			*granted_ttl = r.ttl;
	}
	return st;
}

/* The keepalive is a stream: each answer is wrapped in "result" (or "error"). A lease that
 * is gone answers with no TTL. */
static enum etcd_status decode_keepalive(struct json_object *a, void *arg, const char **why)
{
	struct lease_out *out = arg;
	struct json_object *res;
	int64_t id;

	if (!json_object_object_get_ex(a, "result", &res) ||
	    !json_object_is_type(res, json_type_object) || !header_revision(res, NULL) ||
	    !get_int64(res, "ID", &id) || !get_int64(res, "TTL", &out->ttl)) {
		*why = "no result with a header, lease ID and TTL";
		return ETCD_ERROR;
	}
	if (id != out->id) {
		*why = "the answer is another lease's";
		return ETCD_ERROR;
	}
	return out->ttl > 0 ? ETCD_OK : ETCD_FAILED;
}

enum etcd_status etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_left)
{
	struct lease_out r = {id, 0};
	struct request q = {"/v3/lease/keepalive", NULL, decode_keepalive, &r, true};
	enum etcd_status st;

	if (!e) {
		log_err("etcd lease keepalive: no client");
		return ETCD_ERROR;
	}
	q.body = add_int64(json_object_new_object(), "ID", id);
	st = call(e, &q);
	if (st == ETCD_OK && ttl_left)
		*ttl_left = r.ttl;
	return st;
}

enum etcd_status etcd_lease_revoke(struct etcd *e, int64_t id)
{
	struct request q = {"/v3/lease/revoke", NULL, decode_header, NULL, true};

	if (!e) {
		log_err("etcd lease revoke: no client");
		return ETCD_ERROR;
	}
	q.body = add_int64(json_object_new_object(), "ID", id);
	return call(e, &q);
}
