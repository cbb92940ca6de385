#include "httpedge.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TEXT(x)       #x
#define TEXT_OF(x)    TEXT(x)
#define ARGS_MAX_TEXT TEXT_OF(HTTP_EDGE_ARGS_MAX)

enum http_edge_verdict http_edge_uri(const char *uri)
{
	const char *q;
	size_t args = 0;

	if (!uri)
		return HTTP_EDGE_OK;
	/* %00 in any case of hex digits: "%00" only, as 0 has one case. */
	if (strstr(uri, "%00"))
		return HTTP_EDGE_NUL;
	q = strchr(uri, '?');
	if (!q)
		return HTTP_EDGE_OK;
	for (const char *p = q + 1; *p; p++)
		args += *p == '&' || *p == ';';
	if (q[1])
		args++;
	if (args <= HTTP_EDGE_ARGS_MAX)
		return HTTP_EDGE_OK;
	/*
	 * libmicrohttpd hands us its own read buffer (the target, NUL-terminated) and parses
	 * the arguments from it once we return: an empty query leaves it nothing to parse.
	 */
	((char *)q)[1] = '\0';
	return HTTP_EDGE_TOO_MANY_ARGS;
}

struct framing {
	unsigned n_length;
	const char *length;
	bool lengths_differ;
	unsigned n_coding;
	const char *coding;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	struct framing *f = cls;

	(void)kind;
	if (!key || !value)
		return MHD_YES;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (f->n_length++ && strcmp(f->length, value) != 0)
			f->lengths_differ = true;
		f->length = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->n_coding++;
		f->coding = value;
	}
	return MHD_YES;
}

enum http_edge_verdict http_edge_framing(struct MHD_Connection *c, char *why, size_t size)
{
	struct framing f = {0};

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &f);
	if (f.lengths_differ)
		snprintf(why, size, "two Content-Length headers that differ");
	else if (f.n_coding && f.n_length)
		snprintf(why, size, "both Content-Length and Transfer-Encoding");
	else if (f.n_coding > 1 || (f.n_coding && strcasecmp(f.coding, "chunked") != 0))
		snprintf(why, size, "Transfer-Encoding other than chunked");
	else
		return HTTP_EDGE_OK;
	return HTTP_EDGE_FRAMING;
}

unsigned http_edge_status(enum http_edge_verdict v)
{
	switch (v) {
	case HTTP_EDGE_OK:
		return 0;
	case HTTP_EDGE_TOO_MANY_ARGS:
		return MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
	case HTTP_EDGE_NUL:
	case HTTP_EDGE_FRAMING:
	default:
		return MHD_HTTP_BAD_REQUEST;
	}
}

const char *http_edge_reason(enum http_edge_verdict v)
{
	switch (v) {
	case HTTP_EDGE_OK:
		return "ok";
	case HTTP_EDGE_NUL:
		return "a NUL byte (%00) in the request target";
	case HTTP_EDGE_TOO_MANY_ARGS:
		return "more than " ARGS_MAX_TEXT " query arguments";
	case HTTP_EDGE_FRAMING:
	default:
		return "ambiguous body framing";
	}
}

enum MHD_Result http_edge_refuse(struct MHD_Connection *c, enum http_edge_verdict v,
                                 const char *why)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "%s\n", why ? why : http_edge_reason(v));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (n < 0)
		return MHD_NO;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	r = MHD_create_response_from_buffer((size_t)n, line, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8") !=
	        MHD_YES ||
	    (v == HTTP_EDGE_FRAMING &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, http_edge_status(v), r);
	MHD_destroy_response(r);
	return ret;
}
