#include "ctl_mesh.h"

#include <stdlib.h>
#include <string.h>

#include "ctl_table.h"
#include "vocab.h"

#define CELL_SELF    "-"
#define CELL_NONE    "."
#define CELL_UNKNOWN "?"

/*
 * Presentation only, so kept here rather than in vocab.def; tests/unit/test_ctl.c checks
 * that every cause has one, that they are distinct and that they fit CTL_ABBREV_MAX.
 */
static const char *const abbrevs[KMA_CAUSE_COUNT] = {
    [KMA_CAUSE_UNSPECIFIED] = "unspec",
    [KMA_CAUSE_OK] = "ok",
    [KMA_CAUSE_DNS_FAILURE] = "dns",
    [KMA_CAUSE_TCP_REFUSED] = "refused",
    [KMA_CAUSE_TCP_TIMEOUT] = "timeout",
    [KMA_CAUSE_TCP_RESET] = "reset",
    [KMA_CAUSE_HANDSHAKE_TIMEOUT] = "hs-tmo",
    [KMA_CAUSE_PEER_CLOSED] = "closed",
    [KMA_CAUSE_NOT_TLS] = "not-tls",
    [KMA_CAUSE_PROTOCOL_MISMATCH] = "tls-ver",
    [KMA_CAUSE_CIPHER_MISMATCH] = "cipher",
    [KMA_CAUSE_PEER_CERT_UNTRUSTED] = "untrust",
    [KMA_CAUSE_PEER_CHAIN_INCOMPLETE] = "chain",
    [KMA_CAUSE_PEER_CERT_EXPIRED] = "expired",
    [KMA_CAUSE_PEER_CERT_NOT_YET_VALID] = "not-yet",
    [KMA_CAUSE_PEER_CERT_REVOKED] = "revoked",
    [KMA_CAUSE_PEER_CERT_BAD_USAGE] = "usage",
    [KMA_CAUSE_PEER_IDENTITY_MISMATCH] = "identity",
    [KMA_CAUSE_PEER_SERIAL_MISMATCH] = "serial",
    [KMA_CAUSE_PEER_NO_CLIENT_CERT] = "no-cert",
    [KMA_CAUSE_REJECTED_BY_PEER] = "rejected",
    [KMA_CAUSE_LOCAL_IDENTITY_MISSING] = "no-id",
    [KMA_CAUSE_LOCAL_CERT_EXPIRED] = "own-exp",
    [KMA_CAUSE_LOCAL_NOT_ENROLLED] = "not-enr",
    [KMA_CAUSE_TLS_ERROR] = "tls-err",
};

/* The cause for an identifier; KMA_CAUSE_COUNT when it is not in the vocabulary. */
static enum kma_cause lookup(const char *id)
{
	enum kma_cause c = kma_cause_from_id(id);

	/* kma_cause_from_id answers UNSPECIFIED for unknown identifiers too */
	if (c == KMA_CAUSE_UNSPECIFIED && strcmp(id, kma_cause_id(KMA_CAUSE_UNSPECIFIED)) != 0)
		return KMA_CAUSE_COUNT;
	return c;
}

const char *ctl_cause_abbrev(const char *cause_id)
{
	enum kma_cause c = lookup(cause_id);

	return c < KMA_CAUSE_COUNT && abbrevs[c] ? abbrevs[c] : CELL_UNKNOWN;
}

void ctl_mesh_init(struct ctl_mesh *m)
{
	memset(m, 0, sizeof(*m));
}

void ctl_mesh_free(struct ctl_mesh *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->ids && i < m->n; i++)
		free(m->ids[i]);
	for (size_t i = 0; m->cells && i < m->n * m->n; i++)
		free(m->cells[i]);
	free(m->ids);
	free(m->cells);
	ctl_mesh_init(m);
}

/* The string member key of o, or NULL when absent or not a string. */
static const char *member(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The array member key of doc, or NULL. */
static json_object *array_member(json_object *doc, const char *key)
{
	json_object *v;

	if (!doc || !json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static size_t index_of(const struct ctl_mesh *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->ids[i], id) == 0)
			return i;
	return m->n;
}

int ctl_mesh_build(struct ctl_mesh *m, json_object *nodes_doc, json_object *mesh_doc, char *why,
                   size_t size)
{
	json_object *nodes = array_member(nodes_doc, "nodes");
	json_object *obs = array_member(mesh_doc, "observations");
	int ret = -1;
	size_t n;

	ctl_mesh_init(m);
	if (!nodes || !obs) {
		snprintf(why, size, "the coordinator's answer lacks the %s array",
		         nodes ? "observations" : "nodes");
		goto exit;
	}
	n = json_object_array_length(nodes);
	m->ids = calloc(n ? n : 1, sizeof(*m->ids));
	if (!m->ids)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		const char *id = member(json_object_array_get_idx(nodes, i), "node_id");

		if (!id) {
			snprintf(why, size, "node %zu has no node_id", i + 1);
			goto exit;
		}
		if (index_of(m, id) < m->n)
			continue; /* listed twice: one row is enough */
		m->ids[m->n] = strdup(id);
		if (!m->ids[m->n])
			goto nomem;
		m->n++;
	}
	m->cells = calloc(m->n ? m->n * m->n : 1, sizeof(*m->cells));
	if (!m->cells)
		goto nomem;
	for (size_t i = 0; i < json_object_array_length(obs); i++) {
		json_object *o = json_object_array_get_idx(obs, i);
		const char *node = member(o, "node_id"), *peer = member(o, "peer_id");
		const char *dir = member(o, "direction"), *cause = member(o, "cause");
		size_t r, c;
		char **cell;

		if (!node || !peer || !dir || !cause) {
			snprintf(why, size,
			         "observation %zu lacks node_id, peer_id, direction or cause",
			         i + 1);
			goto exit;
		}
		r = index_of(m, node);
		c = index_of(m, peer);
		if (strcmp(dir, "outbound") != 0 || r == m->n || c == m->n || r == c)
			continue;
		cell = &m->cells[r * m->n + c];
		free(*cell);
		*cell = strdup(cause);
		if (!*cell)
			goto nomem;
	}
	ret = 0;
	goto exit;
nomem:
	snprintf(why, size, "out of memory");
exit:
	if (ret != 0)
		ctl_mesh_free(m);
	return ret;
}

bool ctl_mesh_all_ok(const struct ctl_mesh *m)
{
	for (size_t r = 0; r < m->n; r++)
		for (size_t c = 0; c < m->n; c++)
			if (r != c &&
			    (!m->cells[r * m->n + c] || strcmp(m->cells[r * m->n + c], "ok") != 0))
				return false;
	return true;
}

static const char *cell_text(const struct ctl_mesh *m, size_t r, size_t c)
{
	if (r == c)
		return CELL_SELF;
	if (!m->cells[r * m->n + c])
		return CELL_NONE;
	return ctl_cause_abbrev(m->cells[r * m->n + c]);
}

int ctl_mesh_render(const struct ctl_mesh *m, FILE *out)
{
	bool used[KMA_CAUSE_COUNT] = {false}, none = false, unknown = false;
	const char **row = calloc(m->n + 1, sizeof(*row));
	struct ctl_table t;
	int ret = -1;

	ctl_table_init(&t, m->n + 1);
	if (!row)
		goto exit;
	if (m->n == 0) {
		fprintf(out, "no nodes in the cluster\n");
		ret = 0;
		goto exit;
	}
	row[0] = "OBSERVER";
	for (size_t c = 0; c < m->n; c++)
		row[c + 1] = m->ids[c];
	ctl_table_add(&t, row);
	for (size_t r = 0; r < m->n; r++) {
		row[0] = m->ids[r];
		for (size_t c = 0; c < m->n; c++) {
			const char *cause = m->cells[r * m->n + c];
			enum kma_cause k;

			row[c + 1] = cell_text(m, r, c);
			if (r == c)
				continue;
			if (!cause) {
				none = true;
				continue;
			}
			k = lookup(cause);
			if (k < KMA_CAUSE_COUNT && abbrevs[k])
				used[k] = true;
			else
				unknown = true;
		}
		ctl_table_add(&t, row);
	}
	if (ctl_table_print(&t, out) != 0)
		goto exit;
	ctl_table_free(&t);
	fprintf(out, "\nrows: observing node (its outbound probe); columns: the peer it probed\n");
	ctl_table_init(&t, 2);
	for (size_t k = 0; k < KMA_CAUSE_COUNT; k++) {
		char text[256];
		const char *legend[2] = {abbrevs[k], text};

		if (!used[k])
			continue;
		snprintf(text, sizeof(text), "%s: %s", kma_cause_id((enum kma_cause)k),
		         kma_cause_meaning((enum kma_cause)k));
		ctl_table_add(&t, legend);
	}
	if (none)
		ctl_table_add(&t, (const char *const[]){CELL_NONE, "no observation yet"});
	if (unknown)
		ctl_table_add(
		    &t, (const char *const[]){CELL_UNKNOWN,
		                              "a cause this kmactl does not know (see --json)"});
	if (ctl_table_print(&t, out) != 0)
		goto exit;
	ret = 0;
exit:
	ctl_table_free(&t);
	free(row);
	return ret;
}
