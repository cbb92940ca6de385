#ifndef KMA_NODEID_H
#define KMA_NODEID_H

/*
 * The node-ID rule, one for the whole project: 1 to KMA_NODE_ID_MAX of A-Z a-z 0-9 . _ -.
 * A node ID goes into certificate subjects (CN), URL paths and file names, so nothing that
 * quotes, separates or escapes in any of them is allowed.
 */

#include <stdbool.h>

#define KMA_NODE_ID_MAX 64 /* bytes, without the NUL */

/*
 * A buffer for a node ID as found (a certificate's CN, a peer table's entry), which is held
 * to the rule (kma_node_id_ok) before it is used: longer than the rule allows, so that what
 * is too long is seen whole in errors rather than cut to a valid ID.
 */
#define KMA_NODE_ID_SIZE 128

bool kma_node_id_ok(const char *id);

#endif
