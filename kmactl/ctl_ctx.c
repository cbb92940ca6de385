#include "ctl_ctx.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exitcodes.h"
#include "nodeid.h"

#define JSON_DEPTH_MAX 32
#define NODE_ID_MAX    KMA_NODE_ID_MAX

/* ---- talking to the coordinator ---- */

/*
 * Sends the request; 0 when an HTTP answer arrived (any status), else the exit status
 * after saying why.
 */
int ctl_transport(const struct ctl_ctx *c, const char *method, const char *path, const char *json,
                  struct ctl_http_reply *r)
{
	enum ctl_http_status st = ctl_http_request(c->cfg, method, path, json, r);

	if (st == CTL_HTTP_OK)
		return KMA_EXIT_OK;
	if (r->failover)
		fprintf(stderr, "kmactl: %s %s: %s\n", method, path, r->error);
	else
		fprintf(stderr, "kmactl: %s (%s): %s\n", ctl_http_status_text(st),
		        r->url[0] ? r->url : c->cfg->url, r->error);
	return st == CTL_HTTP_LOCAL_CERT ? KMA_EXIT_NOINPUT : KMACTL_EXIT_REMOTE;
}

/* Says why the coordinator did not do it; 1 for a refusal (4xx), 2 for its failure. */
int ctl_refused(const char *method, const char *path, const struct ctl_http_reply *r)
{
	char why[256];

	ctl_http_reply_reason(r, why, sizeof(why));
	if (r->status >= 400 && r->status < 500) {
		fprintf(stderr, "kmactl: the coordinator refused %s %s (%ld): %s\n", method, path,
		        r->status, why);
		return KMA_EXIT_FAILURE;
	}
	fprintf(stderr, "kmactl: the coordinator failed %s %s (%ld): %s\n", method, path, r->status,
	        why);
	return KMACTL_EXIT_REMOTE;
}

/* Parses the reply's body as one JSON value into *doc; 0 or the exit status. */
int ctl_parse(const char *path, const struct ctl_http_reply *r, json_object **doc)
{
	json_tokener *tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	json_object *j = NULL;

	*doc = NULL;
	if (!tok) {
		fprintf(stderr, "kmactl: out of memory\n");
		return KMA_EXIT_SOFTWARE;
	}
	if (r->len > 0 && r->len <= (size_t)INT32_MAX)
		j = json_tokener_parse_ex(tok, r->body, (int)r->len);
	if (!j || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(j);
		json_tokener_free(tok);
		fprintf(stderr, "kmactl: the coordinator's answer to %s is not JSON\n", path);
		return KMACTL_EXIT_REMOTE;
	}
	json_tokener_free(tok);
	*doc = j;
	return KMA_EXIT_OK;
}

/* GET path into *doc; 0 or the exit status after saying why. */
int ctl_get_json(const struct ctl_ctx *c, const char *path, json_object **doc)
{
	struct ctl_http_reply r;
	int ret = ctl_transport(c, "GET", path, NULL, &r);

	*doc = NULL;
	if (ret != KMA_EXIT_OK)
		goto exit;
	if (r.status != 200) {
		ret = ctl_refused("GET", path, &r);
		goto exit;
	}
	ret = ctl_parse(path, &r, doc);
exit:
	ctl_http_reply_free(&r);
	return ret;
}

void ctl_print_json(json_object *doc)
{
	printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
	                                                       JSON_C_TO_STRING_SPACED |
	                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* The coordinator's rule (common/nodeid.h); keeps operands out of the URL syntax. */
bool ctl_node_id_ok(const char *id)
{
	return kma_node_id_ok(id);
}

int ctl_bad_node_id(const char *id)
{
	fprintf(stderr, "kmactl: '%s' is not a node ID (1 to %d of A-Z a-z 0-9 . _ -)\n", id,
	        NODE_ID_MAX);
	return KMA_EXIT_USAGE;
}

/* ---- asking the operator ---- */

bool ctl_ask(const char *question)
{
	char line[32];

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}
