#ifndef KMA_AGENT_PEERS_H
#define KMA_AGENT_PEERS_H

/*
 * The peer table: who this node should authenticate with, where, and which certificate
 * serial the cluster enrolled for each. The coordinator pushes it (later issue); until
 * then, and as a fallback, it is read from a file:
 *
 *   [peer u-kma02]                                  ; the node ID (certificate CN)
 *   address = 22.222.222.134:9443
 *   serial  = 866B070F94660D13000000000000001E       ; enrolled serial (pinning)
 *   name    = u-kma02                               ; optional display name
 */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "hexser.h"
#include "nodeid.h"

#define PEERS_MAX 256

struct peer_entry {
	char node_id[KMA_NODE_ID_SIZE];
	char name[128];
	char address[128];
	char serial[KMA_SERIAL_SIZE]; /* normalised; "" when the cluster enrolled none */
};

struct peer_table {
	size_t n;
	struct peer_entry peers[PEERS_MAX];
};

/*
 * Loads a peer file; on error fills err (file, line, message) and returns -1. A node listed
 * twice is an error naming both lines; an address must be HOST:PORT or [V6]:PORT with a
 * port from 1 to 65535. The file must be a regular file (symbolic links are followed).
 */
int peers_load(struct peer_table *t, const char *path, struct config_error *err)
    __attribute__((warn_unused_result));

/* peers_load for the copy peers_save keeps in the state directory: never through a link. */
int peers_load_saved(struct peer_table *t, const char *path, struct config_error *err)
    __attribute__((warn_unused_result));

/*
 * Writes t as a peer file (atomically, mode 0600), its first line saying version:
 *   # kma-agent peer table version N
 * Entries whose fields would not read back the same (a newline, ';', '#', ']') are left
 * out. Returns 0 or an errno value.
 */
int peers_save(const struct peer_table *t, unsigned long long version, const char *path)
    __attribute__((warn_unused_result));

/* The version peers_save wrote at the top of path, or 0 when there is none to read. */
unsigned long long peers_saved_version(const char *path);

/* The entry for a node ID, or NULL. */
const struct peer_entry *peers_find(const struct peer_table *t, const char *node_id);

#endif
