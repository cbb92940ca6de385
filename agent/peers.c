#include "peers.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "hexser.h"
#include "hostport.h"
#include "inifile.h"

/* PEERS_MAX peers of a few lines each fit many times over. */
#define PEERS_FILE_MAX (1024 * 1024)

struct peers_ctx {
	struct peer_table *t;
	struct inifile ini; /* ini.line: the line the handler is looking at */
	char section[160];
	int section_line;     /* the line of the [section] header being read */
	bool have_key;        /* a key was read since that header (inih's prev_name) */
	int lines[PEERS_MAX]; /* the header line of each entry in t */
};

/*
 * Sees each line before inih does: a [section] header repeated right after its own section
 * (which inih reports as more keys of the same section) still starts a new peer, so it is
 * found to be a duplicate. An indented line after a key is a continuation of that key's
 * value for inih, whatever it holds ("  serial = X" would become the address): a peer
 * file has none, so it is refused. A section with no keys never reaches the handler.
 */
static void inspect_line(void *user, const char *s, size_t len)
{
	struct peers_ctx *ctx = user;
	size_t i = 0;
	bool indented;

	if (ctx->ini.line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3; /* inih skips a UTF-8 byte order mark */
	indented = i < len && (s[i] == ' ' || s[i] == '\t');
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i == len || s[i] == ';' || s[i] == '#')
		return;
	if (indented && ctx->have_key) {
		inifile_fail(&ctx->ini, "indented line: it would continue the value above (write "
		                        "every key on a line of its own, not indented)");
		return;
	}
	if (s[i] == '[' && memchr(s + i, ']', len - i)) {
		ctx->section_line = ctx->ini.line;
		ctx->section[0] = '\0'; /* the next key starts a new entry */
		ctx->have_key = false;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct peers_ctx *ctx = user;
	struct peer_table *t = ctx->t;
	struct peer_entry *e;

	if (strncmp(section, "peer ", 5) != 0 || !section[5])
		return inifile_fail(&ctx->ini, "section [%s] is not [peer NODE_ID]", section);
	if (strcmp(section, ctx->section) != 0) {
		/* A new section starts a new peer; a second one for the same node would
		 * silently replace the first (its pinned serial included). */
		const struct peer_entry *dup = peers_find(t, section + 5);

		if (dup)
			return inifile_fail(
			    &ctx->ini,
			    "peer %s listed twice: [peer %s] on line %d and again on "
			    "line %d",
			    section + 5, section + 5, ctx->lines[dup - t->peers],
			    ctx->section_line);
		if (t->n == PEERS_MAX)
			return inifile_fail(&ctx->ini, "more than %d peers", PEERS_MAX);
		ctx->lines[t->n] = ctx->section_line;
		e = &t->peers[t->n++];
		memset(e, 0, sizeof(*e));
		if (!inifile_set_string(&ctx->ini, e->node_id, sizeof(e->node_id), "node ID",
		                        section + 5))
			return 0;
		memcpy(e->name, e->node_id, sizeof(e->name)); /* same size */
		snprintf(ctx->section, sizeof(ctx->section), "%s", section);
	}
	e = &t->peers[t->n - 1];
	ctx->have_key = true;
	if (strcmp(name, "address") == 0) {
		char host[HOSTPORT_HOST_MAX], why[160];
		unsigned port;

		if (hostport_split(value, host, sizeof(host), &port, why, sizeof(why)) != 0)
			return inifile_fail(&ctx->ini, "address: %s", why);
		return inifile_set_string(&ctx->ini, e->address, sizeof(e->address), name, value);
	}
	if (strcmp(name, "name") == 0)
		return inifile_set_string(&ctx->ini, e->name, sizeof(e->name), name, value);
	if (strcmp(name, "serial") == 0) {
		if (!hexser_normalize(value, e->serial, sizeof(e->serial)))
			return inifile_fail(&ctx->ini, "serial '%s' is not hex", value);
		return 1;
	}
	return inifile_fail(&ctx->ini, "unknown key '%s'", name);
}

static int load(struct peer_table *t, const char *path, bool own_state, struct config_error *err)
{
	struct peers_ctx *ctx = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	enum inifile_status st;
	int e, ret = -1;

	memset(err, 0, sizeof(*err));
	snprintf(err->path, sizeof(err->path), "%s", path);
	t->n = 0;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err->message, sizeof(err->message), "out of memory");
		goto exit;
	}
	ctx->t = t;
	/* The agent's own copy is never read through a link; an operator's file may be one. */
	e = own_state ? fileio_read(path, PEERS_FILE_MAX, &data, &len)
	              : fileio_read_input(path, PEERS_FILE_MAX, &data, &len);
	if (e) {
		if (e == EFBIG)
			snprintf(err->message, sizeof(err->message),
			         "cannot read: larger than %d KiB", PEERS_FILE_MAX / 1024);
		else
			snprintf(err->message, sizeof(err->message), "cannot open: %s",
			         fileio_strerror(e));
		goto exit;
	}
	st = inifile_parse(&ctx->ini, (const char *)data, len, handler, inspect_line, ctx);
	if (inifile_first_error(&ctx->ini, &err->line, err->message, sizeof(err->message),
	                        "syntax error"))
		goto exit;
	if (st != INIFILE_OK) /* fails closed should the two ever disagree */
		goto exit;
	for (size_t i = 0; i < t->n; i++) {
		if (!t->peers[i].address[0]) {
			err->line = ctx->lines[i];
			snprintf(err->message, sizeof(err->message), "peer %s has no address",
			         t->peers[i].node_id);
			goto exit;
		}
	}
	ret = 0;
exit:
	free(ctx);
	free(data);
	return ret;
}

int peers_load(struct peer_table *t, const char *path, struct config_error *err)
{
	return load(t, path, false, err);
}

int peers_load_saved(struct peer_table *t, const char *path, struct config_error *err)
{
	return load(t, path, true, err);
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
