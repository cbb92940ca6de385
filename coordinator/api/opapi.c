#include "opapi.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apijson.h"
#include "diagnose.h"
#include "enroll.h"
#include "hexser.h"
#include "log.h"
#include "nodeid.h"
#include "vocab.h"

#define JSON_DEPTH_MAX 8

bool opapi_owns(const char *path)
{
	return strcmp(path, "/v1/nodes") == 0 || strncmp(path, "/v1/nodes/", 10) == 0 ||
	       strcmp(path, "/v1/mesh") == 0 || strcmp(path, "/v1/diagnosis") == 0;
}

/* The node's last KMIP check of its key service, as the agent reported it (kma.proto). */
static json_object *kmip_json(const struct store_kmip *k)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "endpoint", json_object_new_string(k->endpoint));
	json_object_object_add(j, "operation", json_object_new_string(k->operation));
	json_object_object_add(j, "result", json_object_new_string(kma_kmip_result_id(k->result)));
	json_object_object_add(j, "cause", json_object_new_string(kma_cause_id(k->cause)));
	json_object_object_add(j, "latency_ms", json_object_new_int64(k->latency_ms));
	json_object_object_add(j, "handshake_ms", json_object_new_int64(k->handshake_ms));
	json_object_object_add(j, "cipher_suite", json_object_new_string(k->cipher_suite));
	json_object_object_add(j, "result_status", json_object_new_string(k->result_status));
	json_object_object_add(j, "result_reason", json_object_new_string(k->result_reason));
	json_object_object_add(j, "answer", json_object_new_string(k->answer));
	json_object_object_add(j, "detail", json_object_new_string(k->detail));
	json_object_object_add(j, "checked_at", json_object_new_int64(k->checked_at));
	return j;
}

static json_object *key_service_json(const struct store_facts *f)
{
	json_object *h = json_object_new_object();

	json_object_object_add(h, "healthy", json_object_new_boolean(f->healthy));
	json_object_object_add(h, "detail", json_object_new_string(f->health_detail));
	json_object_object_add(h, "checked_at", json_object_new_int64(f->health_checked_at));
	if (f->kmip_known)
		json_object_object_add(h, "kmip", kmip_json(&f->kmip));
	return h;
}

static json_object *listen_queues_json(const struct store_facts *f)
{
	json_object *lqs = json_object_new_array();

	for (size_t i = 0; i < f->n_lq; i++) {
		const struct store_listenq *l = &f->lq[i];
		json_object *q = json_object_new_object();

		json_object_object_add(q, "port", json_object_new_int64(l->port));
		json_object_object_add(q, "role", json_object_new_string(l->role));
		json_object_object_add(q, "listening", json_object_new_boolean(l->listening));
		json_object_object_add(q, "queued", json_object_new_int64(l->queued));
		json_object_object_add(q, "backlog", json_object_new_int64(l->backlog));
		json_object_object_add(q, "dropped_recently",
		                       json_object_new_int64((int64_t)l->dropped_recently));
		json_object_object_add(q, "window_s", json_object_new_int64(l->window_s));
		json_object_array_add(lqs, q);
	}
	return lqs;
}

/* What the node's last report says of its key service and changed parts (its facts). */
static void report_facts(struct store *st, const char *node_id, json_object *r)
{
	struct store_facts *f = malloc(sizeof(*f));
	json_object *parts = json_object_new_array();

	if (f && store_facts_get(st, node_id, f) == STORE_OK) {
		if (f->health_known)
			json_object_object_add(r, "key_service", key_service_json(f));
		if (f->n_lq > 0)
			json_object_object_add(r, "listen_queues", listen_queues_json(f));
		for (int p = 1; p < KMA_PART_COUNT; p++)
			if (f->parts_changed & (1u << p))
				json_object_array_add(
				    parts, json_object_new_string(kma_part_id((enum kma_part)p)));
		json_object_object_add(r, "boot_id", json_object_new_string(f->boot_id));
	}
	if (!json_object_object_get_ex(r, "key_service", NULL))
		json_object_object_add(r, "key_service", NULL);
	json_object_object_add(r, "parts_changed", parts);
	free(f);
}

/* refused: the refusal of its reports since its last accepted one (diag_refusal), or NULL. */
static json_object *node_json(struct store *st, const struct store_node *n,
                              const struct store_attempt *refused)
{
	json_object *j = json_object_new_object(), *r;

	json_object_object_add(j, "node_id", json_object_new_string(n->node_id));
	json_object_object_add(j, "name", json_object_new_string(n->name));
	json_object_object_add(j, "address", json_object_new_string(n->address));
	json_object_object_add(j, "enrolled_serial", json_object_new_string(n->enrolled_serial));
	if (refused) {
		r = json_object_new_object();
		json_object_object_add(r, "serial", json_object_new_string(refused->serial));
		json_object_object_add(r, "address", json_object_new_string(refused->address));
		json_object_object_add(r, "since", json_object_new_int64(refused->first_at));
		json_object_object_add(r, "last", json_object_new_int64(refused->last_at));
		json_object_object_add(r, "count", json_object_new_uint64(refused->count));
		json_object_object_add(j, "reports_refused", r);
	}
	if (!n->has_report) {
		json_object_object_add(j, "last_report", NULL);
		return j;
	}
	r = json_object_new_object();
	json_object_object_add(r, "at", json_object_new_int64(n->report_at));
	json_object_object_add(r, "sequence", json_object_new_uint64(n->report_sequence));
	json_object_object_add(r, "state", json_object_new_string(kma_state_id(n->report_state)));
	report_facts(st, n->node_id, r);
	json_object_object_add(j, "last_report", r);
	return j;
}

/*
 * GET /v1/nodes: every node with its last report and its health, the verdict every view
 * shows (diag_node_health over the diagnosis of the same snapshot).
 */
static void nodes_get(struct store *st, const struct api_params *prm, int64_t now,
                      struct api_response *out)
{
	struct diag_finding *f = calloc(DIAGNOSE_FINDINGS_MAX, sizeof(*f));
	struct diagnose_snapshot s;
	uint64_t version;
	json_object *j = NULL, *arr;
	size_t nf;

	if (!f || diagnose_snapshot_load(st, now, prm->stale_after_s, &s) != 0) {
		api_respond_error(out, 500, "store failure");
		free(f);
		return;
	}
	if (store_peer_table_version(st, &version) != STORE_OK) {
		api_respond_error(out, 500, "store failure");
		goto exit;
	}
	nf = diag_run(&s.in, f, DIAGNOSE_FINDINGS_MAX);
	j = json_object_new_object();
	arr = json_object_new_array();
	for (size_t i = 0; i < s.in.n_nodes; i++) {
		struct diag_health h;
		json_object *node = node_json(st, &s.nodes[i],
		                              diag_refusal(s.attempts, s.in.n_attempts, &s.nodes[i],
		                                           now, prm->stale_after_s)),
		            *hj = json_object_new_object();

		diag_node_health(&s.in, i, f, nf, &h);
		json_object_object_add(hj, "healthy", json_object_new_boolean(h.healthy));
		json_object_object_add(hj, "why", json_object_new_string(h.why));
		json_object_object_add(node, "health", hj);
		json_object_array_add(arr, node);
	}
	json_object_object_add(j, "nodes", arr);
	json_object_object_add(j, "peer_table_version", json_object_new_uint64(version));
	api_respond_json(out, 200, j);
exit:
	json_object_put(j);
	diagnose_snapshot_free(&s);
	free(f);
}

/* Parses body as one JSON object; NULL (with a 400 in out) when it is not one. */
static json_object *parse_object(const char *body, size_t len, struct api_response *out)
{
	json_tokener *tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	json_object *j = NULL;

	if (!tok) {
		api_respond_error(out, 500, "out of memory");
		return NULL;
	}
	if (len > 0 && len <= (size_t)INT32_MAX)
		j = json_tokener_parse_ex(tok, body, (int)len);
	if (!j || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		j = NULL;
		api_respond_error(out, 400, "body is not a JSON object");
	}
	json_tokener_free(tok);
	return j;
}

/*
 * Copies the string member key of j into dst. Missing: "" when optional, else an error.
 * Returns false with a 400 in out when it is not a string or too long.
 */
static bool get_string(json_object *j, const char *key, bool required, char *dst, size_t size,
                       struct api_response *out)
{
	json_object *v;
	char why[128];

	dst[0] = '\0';
	if (!json_object_object_get_ex(j, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return true;
		snprintf(why, sizeof(why), "%s is required", key);
		api_respond_error(out, 400, why);
		return false;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, sizeof(why), "%s must be a string", key);
		api_respond_error(out, 400, why);
		return false;
	}
	if ((size_t)json_object_get_string_len(v) >= size ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		snprintf(why, sizeof(why), "%s is too long or holds a NUL byte", key);
		api_respond_error(out, 400, why);
		return false;
	}
	memcpy(dst, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	return true;
}

/* Normalises a serial in place; false with a 400 when it is not hex. */
static bool serial_ok(char *serial, size_t size, struct api_response *out)
{
	char canon[STORE_SERIAL_MAX];

	if (!hexser_normalize(serial, canon, sizeof(canon))) {
		api_respond_error(out, 400, "enrolled_serial is not a hex serial");
		return false;
	}
	snprintf(serial, size, "%s", canon);
	return true;
}

/* Adds "token" and "expires_at" to j, then wipes the token. */
static void add_token(json_object *j, char *token, int64_t expires_at)
{
	json_object_object_add(j, "token", json_object_new_string(token));
	json_object_object_add(j, "expires_at", json_object_new_int64(expires_at));
	explicit_bzero(token, strlen(token));
}

static void nodes_post(struct store *st, unsigned token_ttl_s, const char *body, size_t len,
                       const char *who, int64_t now, struct api_response *out)
{
	json_object *j = parse_object(body, len, out);
	struct store_node n;
	enum store_status sst;
	char token[ENROLL_TOKEN_HEX], hash[STORE_TOKEN_HASH_MAX];
	int64_t expires_at = now + (int64_t)token_ttl_s;

	if (!j)
		return;
	memset(&n, 0, sizeof(n));
	if (!get_string(j, "node_id", true, n.node_id, sizeof(n.node_id), out) ||
	    !get_string(j, "name", true, n.name, sizeof(n.name), out) ||
	    !get_string(j, "address", true, n.address, sizeof(n.address), out) ||
	    !get_string(j, "enrolled_serial", false, n.enrolled_serial, sizeof(n.enrolled_serial),
	                out))
		goto exit;
	if (!kma_node_id_ok(n.node_id)) {
		api_respond_error(out, 400, "node_id must be 1 to 64 of A-Z a-z 0-9 . _ -");
		goto exit;
	}
	if (n.enrolled_serial[0] && !serial_ok(n.enrolled_serial, sizeof(n.enrolled_serial), out))
		goto exit;
	if (enroll_token_new(token, hash) != 0) {
		api_respond_error(out, 500, "no randomness for the enrolment token");
		goto exit;
	}
	sst = store_node_add_with_token(st, &n, now, hash, expires_at);
	if (sst == STORE_EXISTS) {
		api_respond_error(out, 409, "node exists");
		goto exit;
	}
	if (sst != STORE_OK) {
		api_respond_error(out, 500, "store failure");
		goto exit;
	}
	log_notice("operator %s added node %s (address %s, serial %s; enrolment token valid %u s)",
	           who, n.node_id, n.address, n.enrolled_serial[0] ? n.enrolled_serial : "none",
	           token_ttl_s);
	json_object_put(j);
	j = node_json(st, &n, NULL);
	add_token(j, token, expires_at);
	api_respond_json(out, 201, j);
exit:
	explicit_bzero(token, sizeof(token));
	json_object_put(j);
}

static void token_post(struct store *st, unsigned token_ttl_s, const char *node_id, const char *who,
                       int64_t now, struct api_response *out)
{
	char token[ENROLL_TOKEN_HEX], hash[STORE_TOKEN_HASH_MAX];
	int64_t expires_at = now + (int64_t)token_ttl_s;
	enum store_status sst;
	json_object *j = NULL;

	if (enroll_token_new(token, hash) != 0) {
		api_respond_error(out, 500, "no randomness for the enrolment token");
		goto exit;
	}
	sst = store_token_issue(st, node_id, hash, expires_at);
	if (sst == STORE_NOT_FOUND) {
		api_respond_error(out, 404, "no such node");
		goto exit;
	}
	if (sst != STORE_OK) {
		api_respond_error(out, 500, "store failure");
		goto exit;
	}
	log_notice("operator %s issued a new enrolment token for %s (valid %u s)", who, node_id,
	           token_ttl_s);
	j = json_object_new_object();
	json_object_object_add(j, "node_id", json_object_new_string(node_id));
	add_token(j, token, expires_at);
	api_respond_json(out, 201, j);
exit:
	explicit_bzero(token, sizeof(token));
	json_object_put(j);
}

static void serial_put(struct store *st, const char *node_id, const char *body, size_t len,
                       const char *who, int64_t now, struct api_response *out)
{
	json_object *j = parse_object(body, len, out);
	char serial[STORE_SERIAL_MAX];
	enum store_status sst;

	if (!j)
		return;
	if (!get_string(j, "enrolled_serial", true, serial, sizeof(serial), out) ||
	    !serial_ok(serial, sizeof(serial), out))
		goto exit;
	sst = store_node_set_serial(st, node_id, serial, "put", now);
	if (sst == STORE_NOT_FOUND) {
		api_respond_error(out, 404, "no such node");
		goto exit;
	}
	if (sst != STORE_OK) {
		api_respond_error(out, 500, "store failure");
		goto exit;
	}
	log_notice("operator %s set the enrolled serial of %s to %s", who, node_id, serial);
	json_object_put(j);
	j = json_object_new_object();
	json_object_object_add(j, "node_id", json_object_new_string(node_id));
	json_object_object_add(j, "enrolled_serial", json_object_new_string(serial));
	api_respond_json(out, 200, j);
exit:
	json_object_put(j);
}

static void node_delete(struct store *st, const char *node_id, const char *who,
                        struct api_response *out)
{
	enum store_status sst = store_node_delete(st, node_id);

	if (sst == STORE_NOT_FOUND) {
		api_respond_error(out, 404, "no such node");
		return;
	}
	if (sst != STORE_OK) {
		api_respond_error(out, 500, "store failure");
		return;
	}
	log_notice("operator %s deleted node %s", who, node_id);
	out->status = 204;
}

static void mesh_get(struct store *st, struct api_response *out)
{
	struct store_observation *obs = NULL;
	size_t n = 0;
	json_object *j = NULL, *arr;

	if (store_observations_list(st, &obs, &n) != STORE_OK) {
		api_respond_error(out, 500, "store failure");
		goto exit;
	}
	j = json_object_new_object();
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		const struct store_observation *o = &obs[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "node_id", json_object_new_string(o->node_id));
		json_object_object_add(e, "peer_id", json_object_new_string(o->peer_id));
		json_object_object_add(e, "direction",
		                       json_object_new_string(kma_direction_id(o->direction)));
		json_object_object_add(e, "cause", json_object_new_string(kma_cause_id(o->cause)));
		json_object_object_add(
		    e, "alert_sent", o->alert_sent < 0 ? NULL : json_object_new_int(o->alert_sent));
		json_object_object_add(
		    e, "alert_received",
		    o->alert_received < 0 ? NULL : json_object_new_int(o->alert_received));
		json_object_object_add(e, "peer_serial", json_object_new_string(o->peer_serial));
		json_object_object_add(e, "expected_serial",
		                       json_object_new_string(o->expected_serial));
		json_object_object_add(e, "at", json_object_new_int64(o->at));
		json_object_object_add(e, "detail", json_object_new_string(o->detail));
		json_object_object_add(e, "peer_node_id", json_object_new_string(o->peer_node_id));
		json_object_array_add(arr, e);
	}
	json_object_object_add(j, "observations", arr);
	api_respond_json(out, 200, j);
exit:
	json_object_put(j);
	free(obs);
}

void opapi_handle(struct store *st, const struct api_params *prm, const char *method,
                  const char *path, const char *body, size_t len, const char *who, int64_t now,
                  struct api_response *out)
{
	unsigned token_ttl_s = prm->token_ttl_s;

	char node_id[OPAPI_NODE_ID_MAX + 1];
	const char *rest, *slash;
	size_t idlen;

	memset(out, 0, sizeof(*out));
	if (strcmp(path, "/v1/nodes") == 0) {
		if (strcmp(method, "GET") == 0) {
			nodes_get(st, prm, now, out);
			return;
		}
		if (strcmp(method, "POST") == 0) {
			nodes_post(st, token_ttl_s, body, len, who, now, out);
			return;
		}
		api_method_not_allowed(out, "GET, POST");
		return;
	}
	if (strcmp(path, "/v1/diagnosis") == 0) {
		if (strcmp(method, "GET") == 0) {
			json_object *j = api_diagnosis_json(st, now, prm->stale_after_s);

			if (j)
				api_respond_json(out, 200, j);
			else
				api_respond_error(out, 500,
				                  "the coordinator's store could not be read");
			json_object_put(j);
			return;
		}
		api_method_not_allowed(out, "GET");
		return;
	}
	if (strcmp(path, "/v1/mesh") == 0) {
		if (strcmp(method, "GET") == 0) {
			mesh_get(st, out);
			return;
		}
		api_method_not_allowed(out, "GET");
		return;
	}
	if (strncmp(path, "/v1/nodes/", 10) != 0) {
		api_respond_error(out, 404, "no such path");
		return;
	}
	rest = path + 10;
	slash = strchr(rest, '/');
	idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (idlen == 0 || idlen > OPAPI_NODE_ID_MAX) {
		api_respond_error(out, 404, "no such node");
		return;
	}
	memcpy(node_id, rest, idlen);
	node_id[idlen] = '\0';
	if (!kma_node_id_ok(node_id)) {
		api_respond_error(out, 404, "no such node");
		return;
	}
	if (!slash) {
		if (strcmp(method, "DELETE") == 0) {
			node_delete(st, node_id, who, out);
			return;
		}
		api_method_not_allowed(out, "DELETE");
		return;
	}
	if (strcmp(slash, "/serial") == 0) {
		if (strcmp(method, "PUT") == 0) {
			serial_put(st, node_id, body, len, who, now, out);
			return;
		}
		api_method_not_allowed(out, "PUT");
		return;
	}
	if (strcmp(slash, "/token") == 0) {
		if (strcmp(method, "POST") == 0) {
			token_post(st, token_ttl_s, node_id, who, now, out);
			return;
		}
		api_method_not_allowed(out, "POST");
		return;
	}
	api_respond_error(out, 404, "no such path");
}
