#include "peers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "hexser.h"
#include "inifile.h"

/* PEERS_MAX peers of a few lines each fit many times over. */
#define PEERS_FILE_MAX (1024 * 1024)

struct peers_ctx {
	struct peer_table *t;
	struct inifile ini; /* ini.line: the line the handler is looking at */
	char section[160];
};

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct peers_ctx *ctx = user;
	struct peer_table *t = ctx->t;
	struct peer_entry *e;

	if (strncmp(section, "peer ", 5) != 0 || !section[5])
		return inifile_fail(&ctx->ini, "section [%s] is not [peer NODE_ID]", section);
	if (strcmp(section, ctx->section) != 0) {
		/* A new section starts a new peer. */
		if (peers_find(t, section + 5))
			return inifile_fail(&ctx->ini, "peer %s listed twice", section + 5);
		if (t->n == PEERS_MAX)
			return inifile_fail(&ctx->ini, "more than %d peers", PEERS_MAX);
		e = &t->peers[t->n++];
		memset(e, 0, sizeof(*e));
		if (!inifile_set_string(&ctx->ini, e->node_id, sizeof(e->node_id), "node ID",
		                        section + 5))
			return 0;
		memcpy(e->name, e->node_id, sizeof(e->name)); /* same size */
		snprintf(ctx->section, sizeof(ctx->section), "%s", section);
	}
	e = &t->peers[t->n - 1];
	if (strcmp(name, "address") == 0)
		return inifile_set_string(&ctx->ini, e->address, sizeof(e->address), name, value);
	if (strcmp(name, "name") == 0)
		return inifile_set_string(&ctx->ini, e->name, sizeof(e->name), name, value);
	if (strcmp(name, "serial") == 0) {
		if (!hexser_normalize(value, e->serial, sizeof(e->serial)))
			return inifile_fail(&ctx->ini, "serial '%s' is not hex", value);
		return 1;
	}
	return inifile_fail(&ctx->ini, "unknown key '%s'", name);
}

int peers_load(struct peer_table *t, const char *path, struct config_error *err)
{
	struct peers_ctx ctx = {.t = t};

	memset(err, 0, sizeof(*err));
	snprintf(err->path, sizeof(err->path), "%s", path);
	t->n = 0;
	if (inifile_load(&ctx.ini, path, PEERS_FILE_MAX, handler, &ctx, &err->line, err->message,
	                 sizeof(err->message), "syntax error"))
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		if (!t->peers[i].address[0]) {
			snprintf(err->message, sizeof(err->message), "peer %s has no address",
			         t->peers[i].node_id);
			return -1;
		}
	}
	return 0;
}

#define SAVED_HEADER "# kma-agent peer table version "

/* A value that reads back as written: no line break, comment or section end in it. */
static bool plain(const char *s)
{
	return !strpbrk(s, "\r\n;#[]") && s[0] != ' ' && (!s[0] || s[strlen(s) - 1] != ' ');
}

int peers_save(const struct peer_table *t, unsigned long long version, const char *path)
{
	size_t cap = 128 + t->n * (sizeof(struct peer_entry) + 64), used;
	char *buf = malloc(cap);
	int e;

	if (!buf)
		return ENOMEM;
	used =
	    (size_t)snprintf(buf, cap,
	                     SAVED_HEADER "%llu\n# from the coordinator; probed until it answers "
	                                  "again; rewritten with every new version\n",
	                     version);
	for (size_t i = 0; i < t->n; i++) {
		const struct peer_entry *p = &t->peers[i];

		if (!p->node_id[0] || !plain(p->node_id) || !plain(p->name) || !plain(p->address) ||
		    !plain(p->serial))
			continue;
		used += (size_t)snprintf(buf + used, cap - used,
		                         "\n[peer %s]\naddress = %s\nname = %s\n%s%s%s", p->node_id,
		                         p->address, p->name, p->serial[0] ? "serial = " : "",
		                         p->serial, p->serial[0] ? "\n" : "");
	}
	e = fileio_write_atomic(path, NULL, buf, used, 0600);
	free(buf);
	return e;
}

unsigned long long peers_saved_version(const char *path)
{
	char line[128];
	unsigned long long v = 0;

	if (fileio_read_line(path, line, sizeof(line)) != 0 ||
	    strncmp(line, SAVED_HEADER, strlen(SAVED_HEADER)) != 0 ||
	    sscanf(line + strlen(SAVED_HEADER), "%llu", &v) != 1)
		return 0;
	return v;
}

const struct peer_entry *peers_find(const struct peer_table *t, const char *node_id)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->peers[i].node_id, node_id) == 0)
			return &t->peers[i];
	return NULL;
}
