#include "apiresp.h"

#include <stdlib.h>
#include <string.h>

void api_respond_json(struct api_response *out, int status, json_object *j)
{
	const char *text;
	size_t len = 0;

	out->status = status;
	text = json_object_to_json_string_length(j, JSON_C_TO_STRING_PLAIN, &len);
	out->body = text ? malloc(len + 1) : NULL;
	if (!out->body) {
		out->status = 500;
		out->body_len = 0;
		return;
	}
	memcpy(out->body, text, len + 1);
	out->body_len = len;
}

void api_respond_error(struct api_response *out, int status, const char *why)
{
	json_object *j = json_object_new_object();

	if (!j) {
		out->status = 500;
		return;
	}
	json_object_object_add(j, "error", json_object_new_string(why));
	api_respond_json(out, status, j);
	json_object_put(j);
}

void api_method_not_allowed(struct api_response *out, const char *allow)
{
	out->allow = allow;
	api_respond_error(out, 405, "method not allowed");
}
