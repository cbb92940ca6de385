#include "status.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "apijson.h"
#include "coord_config.h"
#include "httpedge.h"
#include "log.h"
#include "planapi.h"
#include "store_plan.h"

#define STATUS_CONNECTIONS 32
#define STATUS_TIMEOUT_S   10

struct status_server {
	struct MHD_Daemon *daemon;
	struct store *store;
	struct api_params prm;
	char cluster_id[128];
	struct timeline *timeline; /* not ours */
};

/* Appends text to the buffer; -1 when memory runs out. */
static int put(char **buf, size_t *len, const char *text)
{
	size_t n = strlen(text);
	char *grown = realloc(*buf, *len + n + 1);

	if (!grown)
		return -1;
	memcpy(grown + *len, text, n + 1);
	*buf = grown;
	*len += n;
	return 0;
}

/* ,"key":<the operator API's document at path, or null when it has none (404)> */
static int put_doc(struct store *st, const struct api_params *prm, const char *path,
                   const char *key, int64_t now, char **buf, size_t *len)
{
	struct api_response r;
	char head[64];
	int ret = -1;

	api_handle(st, prm, "GET", path, "", 0, "status page", now, &r);
	snprintf(head, sizeof(head), ",\"%s\":", key);
	if ((r.status == 200 && r.body) || r.status == 404)
		ret = put(buf, len, head) || put(buf, len, r.status == 200 ? r.body : "null") ? -1
		                                                                              : 0;
	free(r.body);
	return ret;
}

/* ,"key":<j as JSON> (j is put). */
static int put_json(const char *key, json_object *j, char **buf, size_t *len)
{
	char head[64];
	int ret;

	snprintf(head, sizeof(head), ",\"%s\":", key);
	ret = !j || put(buf, len, head) || put(buf, len, json_object_to_json_string(j)) ? -1 : 0;
	json_object_put(j);
	return ret;
}

/* The journal's entries of the last hour (the plan events the timeline marks), newest last. */
static json_object *recent_journal(struct store *st, int64_t now)
{
	struct store_journal_entry *e = NULL;
	json_object *arr;
	size_t n = 0, first = 0;

	if (store_journal_list(st, 0, &e, &n) != STORE_OK)
		return NULL;
	while (first < n && (now - e[first].at > 3600 || n - first > STATUS_JOURNAL_MAX))
		first++;
	arr = planapi_journal_json(first < n ? e + first : NULL, n - first);
	free(e);
	return arr;
}

char *status_json(struct store *st, const struct api_params *prm, int64_t now,
                  const char *cluster_id, struct timeline *tl)
{
	static const char *const parts[][2] = {{"/v1/nodes", "nodes"},
	                                       {"/v1/mesh", "mesh"},
	                                       {"/v1/diagnosis", "diagnosis"},
	                                       {"/v1/plans/current", "plan"},
	                                       {"/v1/plan", "proposal"}};
	char *buf = NULL, head[48];
	size_t len = 0;

	snprintf(head, sizeof(head), "{\"now\":%lld", (long long)now);
	if (put(&buf, &len, head) != 0 ||
	    put_json("cluster", json_object_new_string(cluster_id ? cluster_id : ""), &buf, &len))
		goto fail;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (put_doc(st, prm, parts[i][0], parts[i][1], now, &buf, &len) != 0)
			goto fail;
	if (put_json("journal", recent_journal(st, now), &buf, &len) != 0 ||
	    put_json("timeline", api_timeline_json(tl, now), &buf, &len) != 0)
		goto fail;
	if (put(&buf, &len, "}") == 0)
		return buf;
fail:
	log_err("status: the store could not be read or memory ran out");
	free(buf);
	return NULL;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              const char *body, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    MHD_add_response_header(r, "Content-Security-Policy",
	                            "default-src 'self'; script-src 'unsafe-inline'; "
	                            "style-src 'unsafe-inline'") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * A request's *con_cls: &verdicts[v] from on_uri until its headers are in, then
 * &verdicts[HTTP_EDGE_COUNT].
 */
static int verdicts[HTTP_EDGE_COUNT + 1]; /* only their addresses matter */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)c;
	return &verdicts[http_edge_uri(uri)];
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct status_server *s = cls;
	char *json, why[96];

	(void)version;
	(void)upload;
	if (*con_cls != &verdicts[HTTP_EDGE_COUNT]) {
		/* Headers only: refuse what httpedge.h refuses, else wait for the (empty) body. */
		enum http_edge_verdict v =
		    *con_cls ? (enum http_edge_verdict)((int *)*con_cls - verdicts) : HTTP_EDGE_OK;

		if (v == HTTP_EDGE_OK)
			v = http_edge_framing(c, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", http_edge_reason(v));
		*con_cls = &verdicts[HTTP_EDGE_COUNT];
		if (v != HTTP_EDGE_OK)
			return http_edge_refuse(c, v, why);
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body on a read-only page is ignored */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "read-only: use GET\n",
		              MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
		return answer(c, MHD_HTTP_OK, "text/html; charset=utf-8", kma_status_html,
		              MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/status.json") != 0)
		return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", "no such page\n",
		              MHD_RESPMEM_PERSISTENT);
	json = status_json(s->store, &s->prm, time(NULL), s->cluster_id, s->timeline);
	if (!json)
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
		              "the coordinator's store could not be read\n",
		              MHD_RESPMEM_PERSISTENT);
	return answer(c, MHD_HTTP_OK, "application/json", json, MHD_RESPMEM_MUST_FREE);
}

struct status_server *status_start(const char *listen, const char *db_path,
                                   const struct api_params *prm, const char *cluster_id,
                                   struct timeline *tl)
{
	struct status_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	char why[256];
	int fd;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;

	if (!s)
		return NULL;
	s->prm = *prm;
	snprintf(s->cluster_id, sizeof(s->cluster_id), "%s", cluster_id ? cluster_id : "");
	s->timeline = tl;
	if (coord_config_sockaddr(listen, &ss) != 0) {
		log_err("status_listen '%s': not a numeric ADDR:PORT", listen);
		goto fail;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (store_open(db_path, &s->store) != STORE_OK)
		goto fail;
	fd = coord_listen_open(listen, why, sizeof(why));
	if (fd < 0) {
		log_err("status page: cannot listen on %s", why);
		goto fail;
	}
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
	                             fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)STATUS_CONNECTIONS,
	                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)STATUS_TIMEOUT_S,
	                             MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_END);
	if (!s->daemon) {
		log_err("status page: cannot serve on %s", listen);
		close(fd);
		goto fail;
	}
	log_notice("status page (read-only, no authentication) on http://%s/", listen);
	return s;
fail:
	store_close(s->store);
	free(s);
	return NULL;
}

void status_stop(struct status_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	store_close(s->store);
	free(s);
}
