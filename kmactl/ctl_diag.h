#ifndef KMA_CTL_DIAG_H
#define KMA_CTL_DIAG_H

/*
 * `kmactl diagnose` output: the GET /v1/diagnosis document
 *   {"healthy": bool, "findings": [{"pattern", "culprit" (string or null), "summary",
 *    "remedy", "evidence": [string...]}]}
 * as readable blocks, one per finding.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Checks doc's shape and sets *healthy. Returns 0, or -1 with why filled when doc lacks
 * "healthy" (a boolean) or "findings" (an array).
 */
int ctl_diag_check(json_object *doc, bool *healthy, char *why, size_t size)
    __attribute__((warn_unused_result));

/*
 * Prints a checked doc: the verdict, then one block per finding (pattern, culprit,
 * summary, remedy, evidence). Missing optional members print as "-"; unknown ones are
 * ignored.
 */
void ctl_diag_render(json_object *doc, FILE *out);

#endif
