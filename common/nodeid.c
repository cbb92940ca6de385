#include "nodeid.h"

#include <string.h>

bool kma_node_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= KMA_NODE_ID_MAX &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}
