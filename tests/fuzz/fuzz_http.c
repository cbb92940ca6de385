/*
 * kma-coord's HTTP layer from the wire: request line, headers, body framing, routes and
 * the operator API's JSON. The first byte picks the path:
 *
 *   0   the rest is raw HTTP, fed through libmicrohttpd (a daemon without a listening
 *       socket, given one end of a socket pair) with kma-coord's own edge checks
 *       (coordinator/api/httpedge.h: URI callback, framing) and, for what passes them, the
 *       operator API (api_handle: /v1/nodes*, /v1/mesh, /v1/diagnosis, plans) over a
 *       fresh in-memory store of two nodes. TLS and client certificates are left out: they
 *       come before any of this in http.c.
 *   1   the rest is "METHOD PATH\n" and a body, given to api_handle directly (the
 *       routes and the JSON parser without the HTTP around them, many times faster).
 *
 * It writes one file: the store's SQLite database (below).
 *
 * Properties: every answer is a whole HTTP status line (or the connection closes unanswered
 * on a request line libmicrohttpd cannot read); a request target with %00 never gets a 2xx;
 * every operator API answer has a status from 200 to 599 and a JSON body, {"error": ...}
 * for 4xx and 5xx.
 */

#include <json-c/json.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz.h"
#include "httpedge.h"
#include "log.h"
#include "api.h"
#include "store.h"
#include "store_sqlite.h"

#define NOW      1800000000
#define BODY_MAX 65536

static const struct api_params prm = {3600, 35, 1};

/*
 * The store is SQLite in WAL mode, which needs a file: one database in a private temporary
 * directory (tmpfs when there is one), open for every input and removed at exit. Before
 * each input it is brought back to its first state, two nodes, with SQLite's backup from a
 * copy in memory: no state passes from one input to the next.
 */
static char db_dir[64], db_path[96];
static struct store *live;
static sqlite3 *pristine;

static void db_remove(void)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[128];

	store_close(live);
	live = NULL;
	sqlite3_close(pristine);
	pristine = NULL;
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", db_path, suffix[i]);
		unlink(p);
	}
	rmdir(db_dir);
}

/* Copies every page of the database src into dst. */
static void copy_db(sqlite3 *dst, sqlite3 *src)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");

	FUZZ_CHECK(b != NULL);
	FUZZ_CHECK(sqlite3_backup_step(b, -1) == SQLITE_DONE);
	FUZZ_CHECK(sqlite3_backup_finish(b) == SQLITE_OK);
}

/* The store, in its first state. */
static struct store *store_fresh(void)
{
	static const char *const ids[] = {"a-kma01", "u-kma02"};

	if (live) {
		copy_db(store_sqlite(live), pristine);
		return live;
	}
	log_init("fuzz_http", LOG_LVL_ERR);
	snprintf(db_dir, sizeof(db_dir), "/dev/shm/kma-fuzz-http-XXXXXX");
	if (!mkdtemp(db_dir)) {
		snprintf(db_dir, sizeof(db_dir), "/tmp/kma-fuzz-http-XXXXXX");
		FUZZ_CHECK(mkdtemp(db_dir) != NULL);
	}
	snprintf(db_path, sizeof(db_path), "%s/coord.db", db_dir);
	atexit(db_remove);
	FUZZ_CHECK(store_open(db_path, &live) == STORE_OK);
	/* A database for fuzzing need not reach the disk. */
	FUZZ_CHECK(sqlite3_exec(store_sqlite(live), "PRAGMA synchronous = OFF", NULL, NULL, NULL) ==
	           SQLITE_OK);
	for (size_t i = 0; i < 2; i++) {
		struct store_node n;

		memset(&n, 0, sizeof(n));
		snprintf(n.node_id, sizeof(n.node_id), "%s", ids[i]);
		snprintf(n.name, sizeof(n.name), "%s", ids[i]);
		snprintf(n.address, sizeof(n.address), "127.0.0.%zu:9443", i + 1);
		snprintf(n.enrolled_serial, sizeof(n.enrolled_serial), "5E0%zu", i + 1);
		FUZZ_CHECK(store_node_add(live, &n, NOW - 100) == STORE_OK);
	}
	FUZZ_CHECK(sqlite3_open(":memory:", &pristine) == SQLITE_OK);
	copy_db(pristine, store_sqlite(live));
	return live;
}

/* Checks one operator API answer and frees it. */
static void check_answer(struct api_response *out)
{
	FUZZ_CHECK(out->status >= 200 && out->status <= 599);
	if (out->status == 204) {
		FUZZ_CHECK(out->body == NULL);
		return;
	}
	FUZZ_CHECK(out->body != NULL);
	{
		json_object *j = json_tokener_parse(out->body);

		FUZZ_CHECK(j != NULL);
		if (out->status >= 400)
			FUZZ_CHECK(json_object_object_get_ex(j, "error", NULL));
		json_object_put(j);
	}
	free(out->body);
	out->body = NULL;
}

/* --- path 1: the operator API alone ------------------------------------------------------ */

static void direct(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char line[512], method[16], *path;
	struct api_response out;
	struct store *st;
	size_t n;

	if (!nl || (size_t)(nl - data) >= sizeof(line))
		return;
	n = (size_t)(nl - data);
	memcpy(line, data, n);
	line[n] = '\0';
	path = strchr(line, ' ');
	if (!path || path == line || (size_t)(path - line) >= sizeof(method))
		return;
	memcpy(method, line, (size_t)(path - line));
	method[path - line] = '\0';
	path++;
	if (strlen(path) != strlen(line) - strlen(method) - 1 || !api_owns(path))
		return; /* a NUL in the line; or a path http.c would not route here */
	st = store_fresh();
	api_handle(st, &prm, method, path, (const char *)nl + 1, size - n - 1, "fuzz", NOW, &out);
	check_answer(&out);
}

/* --- path 0: raw HTTP through libmicrohttpd ---------------------------------------------- */

struct request {
	bool begun, responded;
	enum http_edge_verdict edge;
	char *body;
	size_t len;
};

static struct store *mhd_store; /* the current input's, while its connection lives */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct request *rq = calloc(1, sizeof(*rq));

	(void)cls;
	(void)c;
	FUZZ_CHECK(rq != NULL);
	rq->edge = http_edge_uri(uri);
	return rq;
}

static enum MHD_Result answer(struct MHD_Connection *c, struct api_response *out)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(out->body ? strlen(out->body) : 0,
	                                                         out->body ? out->body : (char *)"",
	                                                         MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	FUZZ_CHECK(r != NULL);
	ret = MHD_queue_response(c, (unsigned)out->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct request *rq = *con_cls;
	struct api_response out;
	char why[96];
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	FUZZ_CHECK(rq != NULL);
	if (!rq->begun) {
		rq->begun = true;
		if (rq->edge == HTTP_EDGE_OK)
			rq->edge = http_edge_framing(c, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", http_edge_reason(rq->edge));
		if (rq->edge != HTTP_EDGE_OK) {
			rq->responded = true;
			return http_edge_refuse(c, rq->edge, why);
		}
		if (!api_owns(url)) {
			memset(&out, 0, sizeof(out));
			api_respond_error(&out, 404, "no such path");
			rq->responded = true;
			ret = answer(c, &out);
			check_answer(&out);
			return ret;
		}
		return MHD_YES;
	}
	if (rq->responded) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->len + *upload_size > BODY_MAX)
			return MHD_NO;
		rq->body = realloc(rq->body, rq->len + *upload_size + 1);
		FUZZ_CHECK(rq->body != NULL);
		memcpy(rq->body + rq->len, upload, *upload_size);
		rq->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	rq->responded = true;
	api_handle(mhd_store, &prm, method, url, rq->body ? rq->body : "", rq->len, "fuzz", NOW,
	           &out);
	ret = answer(c, &out);
	check_answer(&out);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq) {
		free(rq->body);
		free(rq);
	}
	*con_cls = NULL;
}

static void mhd_quiet(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	(void)fmt;
	(void)ap;
}

static struct MHD_Daemon *daemon_get(void)
{
	static struct MHD_Daemon *d;

	if (!d) {
		d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
		                         MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
		                     0, NULL, NULL, on_request, NULL, MHD_OPTION_URI_LOG_CALLBACK,
		                     on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		                     MHD_OPTION_EXTERNAL_LOGGER, mhd_quiet, NULL,
		                     MHD_OPTION_CONNECTION_TIMEOUT, 2u, MHD_OPTION_END);
		FUZZ_CHECK(d != NULL);
	}
	return d;
}

/* Whether the request line (up to the first CR or LF) holds %00. */
static bool target_has_nul(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 2 < size && data[i] != '\r' && data[i] != '\n'; i++)
		if (data[i] == '%' && data[i + 1] == '0' && data[i + 2] == '0')
			return true;
	return false;
}

static void raw(const uint8_t *data, size_t size)
{
	struct sockaddr_un peer = {.sun_family = AF_UNIX};
	char reply[64];
	size_t got = 0;
	int sv[2];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	mhd_store = store_fresh();
	/* Written before MHD reads: a socket pair holds far more than BODY_MAX + headers. */
	for (size_t off = 0; off < size;) {
		ssize_t n = write(sv[0], data + off, size - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(sv[0], SHUT_WR);
	FUZZ_CHECK(MHD_add_connection(daemon_get(), sv[1], (struct sockaddr *)&peer,
	                              sizeof(peer)) == MHD_YES);
	/* The status line, then everything else until MHD closes (bounded by its timeout). */
	for (;;) {
		struct pollfd p = {.fd = sv[0], .events = POLLIN};
		char sink[4096];
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(sv[0], got < sizeof(reply) ? reply + got : sink,
		         got < sizeof(reply) ? sizeof(reply) - got : sizeof(sink));
		if (n <= 0)
			break;
		if (got < sizeof(reply))
			got += (size_t)n;
	}
	close(sv[0]);
	if (got > 0) {
		FUZZ_CHECK(got >= 12 && memcmp(reply, "HTTP/1.", 7) == 0 && reply[8] == ' ');
		FUZZ_CHECK(reply[9] >= '1' && reply[9] <= '5');
		if (target_has_nul(data, size))
			FUZZ_CHECK(reply[9] != '2');
	}
	mhd_store = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 2 * BODY_MAX)
		return 0;
	if (data[0] == 0)
		raw(data + 1, size - 1);
	else if (data[0] == 1)
		direct(data + 1, size - 1);
	return 0;
}
