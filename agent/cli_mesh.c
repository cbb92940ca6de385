#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcodes.h"
#include "fileio.h"
#include "mesh.h"

static const char *str_at(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

static const char *cause_of(json_object *peer, const char *dir)
{
	json_object *o;

	if (!json_object_object_get_ex(peer, dir, &o) || !o)
		return "-";
	return str_at(o, "cause");
}

/* When the peer was last probed (its outbound observation's time), "-" when never. */
static const char *last_probed(json_object *peer)
{
	json_object *o;

	if (!json_object_object_get_ex(peer, "outbound", &o) || !o)
		return "-";
	return str_at(o, "at");
}

int cli_mesh(struct hal *hal, bool json)
{
	char path[PATH_MAX + 16];
	unsigned char *buf = NULL;
	size_t len;
	json_object *root, *peers;
	int e, ret = KMA_EXIT_OK;

	snprintf(path, sizeof(path), "%s/%s", hal->state_dir, MESH_STATUS_FILE);
	e = fileio_read(path, 4 << 20, &buf, &len);
	if (e) {
		fprintf(stderr, "kma-agent: %s: %s (is the agent running with a [mesh]?)\n", path,
		        fileio_strerror(e));
		return KMA_EXIT_NOINPUT;
	}
	root = json_tokener_parse((const char *)buf);
	free(buf);
	if (!root || !json_object_object_get_ex(root, "peers", &peers) ||
	    !json_object_is_type(peers, json_type_array)) {
		fprintf(stderr, "kma-agent: %s: not a mesh status file\n", path);
		json_object_put(root);
		return KMA_EXIT_DATAERR;
	}
	if (!json) {
		printf("as of %s (the agent writes this on every change, and every %d s)\n",
		       str_at(root, "written_at"), MESH_REFRESH_S);
		printf("%-16s %-22s %-24s %-24s %5s  %-20s  %s\n", "PEER", "ADDRESS", "OUTBOUND",
		       "INBOUND", "FAILS", "LAST PROBED", "LAST OK");
	}
	for (size_t i = 0; i < json_object_array_length(peers); i++) {
		json_object *p = json_object_array_get_idx(peers, i);
		const char *out = cause_of(p, "outbound"), *in = cause_of(p, "inbound");

		if (strcmp(out, "ok") != 0 || (strcmp(in, "ok") != 0 && strcmp(in, "-") != 0))
			ret = KMA_EXIT_FAILURE;
		if (!json)
			printf("%-16s %-22s %-24s %-24s %5s  %-20s  %s\n", str_at(p, "node_id"),
			       str_at(p, "address"), out, in, str_at(p, "consecutive_failures"),
			       last_probed(p), str_at(p, "last_ok"));
	}
	if (json)
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
		                                              JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return ret;
}
