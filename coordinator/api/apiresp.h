#ifndef KMA_COORD_APIRESP_H
#define KMA_COORD_APIRESP_H

/*
 * What every handler of the operator API (api.h) answers with, and the configuration it is
 * given: one response shape for the node routes (opapi.c) and the plan routes (planapi.c).
 */

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

struct api_response {
	int status;
	char *body; /* JSON text, the caller's to free(); NULL for 204 */
	size_t body_len;
	const char *allow; /* for 405: the methods the path takes */
};

/* What the operator API needs to know of the coordinator's configuration. */
struct api_params {
	unsigned token_ttl_s;  /* enrolment tokens are valid until now + this */
	int64_t stale_after_s; /* the diagnosis calls a node silent after this */
	unsigned min_serving;  /* recovery: nodes that must keep serving (plan gates) */
};

/* Fill out with j as the body (j stays the caller's), or with {"error": why}. */
void api_respond_json(struct api_response *out, int status, json_object *j);
void api_respond_error(struct api_response *out, int status, const char *why);
/* 405, with the methods the path takes for the Allow header. */
void api_method_not_allowed(struct api_response *out, const char *allow);

#endif
