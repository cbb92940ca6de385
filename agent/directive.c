#include "directive.h"

#include <errno.h>
#include <inttypes.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"

#define MAGIC      "KMADIR01"
#define MAGIC_LEN  8
#define BOOT_LEN   64
#define HEADER_LEN (MAGIC_LEN + 8 + BOOT_LEN + 4)
#define SUM_LEN    32

_Static_assert(HAL_BOOT_ID <= BOOT_LEN, "the boot ID field holds a HAL boot ID");

static const char *const kind_names[] = {
    [KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT] = "reboot",
    [KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET] = "factory_reset",
    [KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART] = "quickstart",
    [KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_JOIN] = "join",
    [KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_UPDATE_PEERS] = "update_peers",
    [KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_HOLD] = "hold",
};

bool directive_kind_known(Kma__V1__DirectiveKind kind)
{
	return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) && kind_names[kind];
}

const char *directive_kind_name(Kma__V1__DirectiveKind kind)
{
	return directive_kind_known(kind) ? kind_names[kind] : "unknown";
}

bool directive_disruptive(Kma__V1__DirectiveKind kind)
{
	return kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_REBOOT ||
	       kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_FACTORY_RESET ||
	       kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART;
}

/* Non-empty printable ASCII of at most max bytes. */
static bool printable(const char *s, size_t max)
{
	size_t n;

	if (!s || !s[0])
		return false;
	n = strnlen(s, max + 1);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

enum directive_verdict directive_check(const Kma__V1__Directive *d, const char *node_id,
                                       int64_t now, uint64_t highest, char *why, size_t size)
{
	const Kma__V1__Lease *l;
	char text[80];

	why[0] = '\0';
	if (!d || !printable(d->id, DIRECTIVE_ID_MAX)) {
		snprintf(why, size,
		         "the directive id is empty, longer than %d bytes or not printable",
		         DIRECTIVE_ID_MAX);
		return DIRECTIVE_BAD_ID;
	}
	if (!directive_kind_known(d->kind)) {
		snprintf(why, size, "unknown directive kind %d", (int)d->kind);
		return DIRECTIVE_UNKNOWN_KIND;
	}
	if (!directive_disruptive(d->kind))
		return DIRECTIVE_ACCEPT;
	l = d->lease;
	if (!l) {
		snprintf(why, size, "%s needs a lease and none came with it",
		         directive_kind_name(d->kind));
		return DIRECTIVE_NO_LEASE;
	}
	if (!node_id || !node_id[0] || !l->node_id || strcmp(l->node_id, node_id) != 0) {
		log_printable_copy(l->node_id, text, sizeof(text));
		snprintf(why, size, "the lease is for node '%s', not for us (%s)", text,
		         node_id && node_id[0] ? node_id : "no node ID");
		return DIRECTIVE_LEASE_NODE;
	}
	if (l->expires_at <= now) {
		snprintf(why, size, "the lease expired at %" PRId64 " (now %" PRId64 ")",
		         (int64_t)l->expires_at, now);
		return DIRECTIVE_LEASE_EXPIRED;
	}
	if (l->fencing_token <= highest) {
		snprintf(why, size,
		         "stale fencing token %" PRIu64 ": not above %" PRIu64
		         ", the highest this node accepted",
		         (uint64_t)l->fencing_token, highest);
		return DIRECTIVE_FENCING_STALE;
	}
	if (d->kind == KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART &&
	    !printable(d->enrolment_token, DIRECTIVE_TOKEN_MAX)) {
		/* Never the token itself, not even a piece of it. */
		snprintf(why, size,
		         "quickstart needs an enrolment token (printable, at most %d bytes)",
		         DIRECTIVE_TOKEN_MAX);
		return DIRECTIVE_NO_TOKEN;
	}
	return DIRECTIVE_ACCEPT;
}

/* ---- the record ---- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int sha256(const uint8_t *data, size_t len, uint8_t out[SUM_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	return md ? mbedtls_md(md, data, len, out) : -1;
}

void directive_result_msg(const struct directive_record *rec, Kma__V1__DirectiveResult *m)
{
	kma__v1__directive_result__init(m);
	m->directive_id = (char *)rec->id;
	m->ok = rec->ok;
	m->detail = (char *)rec->detail;
	m->kind = rec->kind;
	m->done_at = rec->done_at;
}

enum directive_rec_status directive_encode(const struct directive_record *rec, uint8_t **out,
                                           size_t *len)
{
	Kma__V1__DirectiveResult m;
	size_t plen, total;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	directive_result_msg(rec, &m);
	plen = kma__v1__directive_result__get_packed_size(&m);
	total = HEADER_LEN + plen + SUM_LEN;
	buf = calloc(1, total);
	if (!buf)
		return DIRECTIVE_REC_IO;
	memcpy(buf, MAGIC, MAGIC_LEN);
	put_be(buf + MAGIC_LEN, rec->fencing, 8);
	memcpy(buf + MAGIC_LEN + 8, rec->boot_id, strnlen(rec->boot_id, BOOT_LEN - 1));
	put_be(buf + MAGIC_LEN + 8 + BOOT_LEN, plen, 4);
	kma__v1__directive_result__pack(&m, buf + HEADER_LEN);
	if (sha256(buf, HEADER_LEN + plen, buf + HEADER_LEN + plen) != 0) {
		free(buf);
		return DIRECTIVE_REC_IO;
	}
	*out = buf;
	*len = total;
	return DIRECTIVE_REC_OK;
}

enum directive_rec_status directive_decode(const uint8_t *buf, size_t len,
                                           struct directive_record *rec, char *why, size_t size)
{
	enum directive_rec_status ret = DIRECTIVE_REC_CORRUPT;
	Kma__V1__DirectiveResult *m = NULL;
	uint8_t sum[SUM_LEN];
	uint64_t plen;

	memset(rec, 0, sizeof(*rec));
	why[0] = '\0';
	if (len < HEADER_LEN + SUM_LEN) {
		snprintf(why, size, "truncated: %zu bytes, shorter than the framing", len);
		goto exit;
	}
	if (memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
		snprintf(why, size, "bad magic (not a directive record)");
		goto exit;
	}
	plen = get_be(buf + MAGIC_LEN + 8 + BOOT_LEN, 4);
	if (plen != len - HEADER_LEN - SUM_LEN) {
		snprintf(why, size, "header says %" PRIu64 " payload bytes, file holds %zu", plen,
		         len - HEADER_LEN - SUM_LEN);
		goto exit;
	}
	if (sha256(buf, HEADER_LEN + plen, sum) != 0) {
		snprintf(why, size, "cannot compute the checksum");
		ret = DIRECTIVE_REC_IO;
		goto exit;
	}
	if (memcmp(sum, buf + HEADER_LEN + plen, SUM_LEN) != 0) {
		snprintf(why, size, "checksum mismatch");
		goto exit;
	}
	if (memchr(buf + MAGIC_LEN + 8, '\0', BOOT_LEN) == NULL) {
		snprintf(why, size, "boot ID not terminated");
		goto exit;
	}
	m = kma__v1__directive_result__unpack(NULL, plen, buf + HEADER_LEN);
	if (!m) {
		snprintf(why, size, "payload is not a DirectiveResult (protobuf unpack)");
		goto exit;
	}
	/* Kind 0 is how a refusal of an unknown kind is kept. */
	if (!printable(m->directive_id, DIRECTIVE_ID_MAX) ||
	    (!directive_kind_known(m->kind) && m->kind != 0)) {
		snprintf(why, size, "the directive id or kind is not one the agent writes");
		goto exit;
	}
	rec->fencing = get_be(buf + MAGIC_LEN, 8);
	snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", (const char *)buf + MAGIC_LEN + 8);
	snprintf(rec->id, sizeof(rec->id), "%s", m->directive_id);
	rec->kind = m->kind;
	rec->ok = m->ok;
	snprintf(rec->detail, sizeof(rec->detail), "%s", m->detail ? m->detail : "");
	log_printable(rec->detail);
	rec->done_at = m->done_at;
	ret = DIRECTIVE_REC_OK;
exit:
	if (m)
		kma__v1__directive_result__free_unpacked(m, NULL);
	if (ret != DIRECTIVE_REC_OK)
		memset(rec, 0, sizeof(*rec));
	return ret;
}

static bool rec_path(const char *state_dir, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", state_dir, DIRECTIVE_FILE);

	return n > 0 && (size_t)n < size;
}

enum directive_rec_status directive_load(const char *state_dir, struct directive_record *rec,
                                         char *why, size_t size)
{
	char path[4096];
	unsigned char *buf = NULL;
	size_t len = 0;
	enum directive_rec_status ret;
	int e;

	memset(rec, 0, sizeof(*rec));
	why[0] = '\0';
	if (!rec_path(state_dir, path, sizeof(path))) {
		snprintf(why, size, "state directory path too long");
		return DIRECTIVE_REC_IO;
	}
	e = fileio_read(path, DIRECTIVE_FILE_MAX, &buf, &len);
	if (e == ENOENT)
		return DIRECTIVE_REC_NONE;
	if (e == EFBIG) {
		snprintf(why, size, "%s: larger than %d bytes", path, DIRECTIVE_FILE_MAX);
		return DIRECTIVE_REC_CORRUPT;
	}
	if (e == EINVAL || e == ELOOP) {
		/* Only regular files are written here: anything else was planted. */
		snprintf(why, size, "%s: %s", path, fileio_strerror(e));
		return DIRECTIVE_REC_CORRUPT;
	}
	if (e) {
		snprintf(why, size, "%s: %s", path, strerror(e));
		return DIRECTIVE_REC_IO;
	}
	ret = directive_decode(buf, len, rec, why, size);
	if (ret != DIRECTIVE_REC_OK) {
		char inner[256];

		snprintf(inner, sizeof(inner), "%s", why);
		snprintf(why, size, "%s: %s", path, inner);
	}
	free(buf);
	return ret;
}

enum directive_rec_status directive_store(const char *state_dir, const struct directive_record *rec,
                                          char *why, size_t size)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	int e;

	why[0] = '\0';
	if (!rec_path(state_dir, path, sizeof(path))) {
		snprintf(why, size, "state directory path too long");
		return DIRECTIVE_REC_IO;
	}
	if (directive_encode(rec, &buf, &len) != DIRECTIVE_REC_OK) {
		snprintf(why, size, "cannot encode the directive record");
		return DIRECTIVE_REC_IO;
	}
	e = fileio_write_atomic(path, NULL, buf, len, 0600);
	free(buf);
	if (e) {
		snprintf(why, size, "%s: %s", path, strerror(e));
		return DIRECTIVE_REC_IO;
	}
	return DIRECTIVE_REC_OK;
}
