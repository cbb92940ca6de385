#ifndef KMA_COORD_METRICS_H
#define KMA_COORD_METRICS_H

/*
 * GET /metrics: the coordinator's state in the Prometheus text exposition format 0.0.4
 * (docs/protocol.md "Metrics"). A small writer (a growable text buffer with one HELP and
 * TYPE line per family and escaped label values) and metrics_render, which reads the store.
 *
 * Label values come from closed vocabularies (result, state, cause) or are node IDs, so a
 * series set is bounded by the vocabularies and the size of the cluster.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "throttle.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * The text being written. Writing functions never fail on their own: when memory runs out
 * the buffer is marked failed, later writes do nothing and metrics_buf_failed says so.
 */
struct metrics_buf {
	char *data; /* NUL-terminated while len > 0 */
	size_t len;
	size_t cap;
	bool failed;
};

/* An empty buffer; cannot fail. */
void metrics_buf_init(struct metrics_buf *b);

/* Frees the text and leaves the buffer empty; NULL is fine. */
void metrics_buf_free(struct metrics_buf *b);

/* True when a write ran out of memory: the text is incomplete and must not be served. */
bool metrics_buf_failed(const struct metrics_buf *b);

/*
 * Starts a family: "# HELP name help" (help with backslash and newline escaped) and
 * "# TYPE name type". type is "counter", "gauge" or "untyped"; a counter's name ends in
 * _total. Call once per family, before its samples.
 */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);

/*
 * One sample line: "name value" or, when label is not NULL, name{label="value"} value,
 * with backslash, double quote and newline in label_value escaped as the format requires.
 */
void metrics_sample(struct metrics_buf *b, const char *name, const char *label,
                    const char *label_value, int64_t value);

/*
 * Renders every family of the coordinator from the store into b (appended):
 *   kma_coord_reports_total{result}                          counter
 *   kma_coord_nodes{state}                                   gauge
 *   kma_coord_pair_results{cause}                            gauge
 *   kma_coord_node_cert_expiry_timestamp_seconds{node_id}    gauge
 *   kma_coord_node_last_report_timestamp_seconds{node_id}    gauge
 *   kma_coord_peer_table_version                             gauge
 *   kma_coord_diagnosis_healthy                              gauge
 * now and stale_after are the diagnosis's (coordinator/core/diag.h). Returns 0, or -1 when the
 * store could not be read or memory ran out (logged); b then holds no usable text.
 */
int metrics_render(struct store *st, int64_t now, int64_t stale_after, struct metrics_buf *b)
    __attribute__((warn_unused_result));

/*
 * Appends the enrolment throttle's families (throttle.h):
 *   kma_coord_enroll_token_failures_total      counter
 *   kma_coord_enroll_throttled_total            counter (requests answered 429)
 *   kma_coord_enroll_throttled_sources          gauge (sources whose bucket is empty)
 */
void metrics_render_throttle(struct metrics_buf *b, const struct throttle_stats *s);

#endif
