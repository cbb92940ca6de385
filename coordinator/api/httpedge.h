#ifndef KMA_COORD_HTTPEDGE_H
#define KMA_COORD_HTTPEDGE_H

/*
 * What both of kma-coord's HTTP servers (http.c, status.c) refuse before routing, because
 * libmicrohttpd 0.9.75 passes it on ambiguously or not at all:
 *
 * - a NUL decoded from the request target (%00): the URL the handler gets ends there, so
 *   DELETE /v1/nodes/a-kma01%00x would act on a-kma01. 400.
 * - more than HTTP_EDGE_ARGS_MAX query arguments: libmicrohttpd parses them into the
 *   connection's memory pool before any handler runs, and when the pool runs out (about 500)
 *   it logs a 431 that it cannot send, and the client waits for nothing. 431.
 * - ambiguous body framing: two Content-Length headers that differ (libmicrohttpd takes the
 *   first), Content-Length with Transfer-Encoding, or a Transfer-Encoding other than
 *   "chunked" (libmicrohttpd then reads a body of unknown length until the client closes,
 *   and answers nothing). 400, and the connection is closed: where the body ends is unknown.
 *
 * Both come from hooks libmicrohttpd calls before the handler: the URI log callback
 * (http_edge_uri), and the first call of the handler, once the headers are in
 * (http_edge_framing).
 */

#include <microhttpd.h>
#include <stddef.h>

/* Query arguments a request may carry; no route takes more than two. */
#define HTTP_EDGE_ARGS_MAX 32

enum http_edge_verdict {
	HTTP_EDGE_OK = 0,
	HTTP_EDGE_NUL,           /* 400 */
	HTTP_EDGE_TOO_MANY_ARGS, /* 431 */
	HTTP_EDGE_FRAMING,       /* 400, connection closed */
	HTTP_EDGE_COUNT
};

/*
 * Judges the raw request target, as the URI log callback (MHD_OPTION_URI_LOG_CALLBACK)
 * receives it, before libmicrohttpd decodes it or parses its arguments. With
 * HTTP_EDGE_TOO_MANY_ARGS it also empties the query in place (uri is libmicrohttpd's own
 * buffer, which it parses right after the callback), so that the pool holds none of them and
 * the handler can answer 431.
 */
enum http_edge_verdict http_edge_uri(const char *uri);

/*
 * Judges the request's body framing from its headers (call at the handler's first call).
 * HTTP_EDGE_OK, or HTTP_EDGE_FRAMING with why (one line).
 */
enum http_edge_verdict http_edge_framing(struct MHD_Connection *c, char *why, size_t size);

/* The HTTP status for a verdict; 0 for HTTP_EDGE_OK. */
unsigned http_edge_status(enum http_edge_verdict v);

/* One line for a verdict, for the answer and the log. */
const char *http_edge_reason(enum http_edge_verdict v);

/*
 * Queues a text/plain answer for a verdict that is not HTTP_EDGE_OK (why: NULL for the
 * verdict's own reason), with "Connection: close" when the body's end is unknown.
 */
enum MHD_Result http_edge_refuse(struct MHD_Connection *c, enum http_edge_verdict v,
                                 const char *why);

#endif
