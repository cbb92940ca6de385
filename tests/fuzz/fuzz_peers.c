/*
 * The static peer table (agent/peers.c peers_load), through its public path-based entry
 * point: the input is the file, read from a memfd. A loaded table must hold only entries
 * the mesh can use: unique, non-empty node IDs, an address each, a normalised serial.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "peers.h"

static void check_table(const struct peer_table *t)
{
	FUZZ_CHECK(t->n <= PEERS_MAX);
	for (size_t i = 0; i < t->n; i++) {
		const struct peer_entry *e = &t->peers[i];

		FUZZ_TERMINATED(e->node_id);
		FUZZ_TERMINATED(e->name);
		FUZZ_TERMINATED(e->address);
		FUZZ_TERMINATED(e->serial);
		FUZZ_CHECK(e->node_id[0] && e->name[0] && e->address[0]);
		FUZZ_CHECK(strspn(e->serial, "0123456789ABCDEF") == strlen(e->serial));
		FUZZ_CHECK(peers_find(t, e->node_id) == e); /* unique */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer_table *t = malloc(sizeof(*t)); /* 130 KiB: not on the stack */
	struct config_error err;
	char path[64];
	int fd, rc;

	FUZZ_CHECK(t != NULL);
	fd = fuzz_memfd(data, size, path, sizeof(path));
	rc = peers_load(t, path, &err);
	close(fd);

	FUZZ_TERMINATED(err.message);
	if (rc == 0) {
		check_table(t);
	} else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(err.line >= 0 && err.line <= fuzz_count_lines(data, size));
	}
	free(t);
	return 0;
}
