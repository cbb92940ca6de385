#ifndef KMA_NODEID_H
#define KMA_NODEID_H

/*
 * The node-ID rule, one for the whole project: 1 to KMA_NODE_ID_MAX of A-Z a-z 0-9 . _ -.
 * A node ID goes into certificate subjects (CN), URL paths and file names, so nothing that
 * quotes, separates or escapes in any of them is allowed.
 */

#include <stdbool.h>

#define KMA_NODE_ID_MAX 64 /* bytes, without the NUL */

bool kma_node_id_ok(const char *id);

#endif
