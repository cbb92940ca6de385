#include "kmip.h"

#include <stdio.h>
#include <string.h>

#include "ttlv.h"

/* KMIP 1.x tags (KMIP Specification v1.1, section 9.1.3.1). */
enum {
	TAG_BATCH_COUNT = 0x42000D,
	TAG_BATCH_ITEM = 0x42000F,
	TAG_OBJECT_TYPE = 0x420057,
	TAG_OPERATION = 0x42005C,
	TAG_PROTOCOL_VERSION = 0x420069,
	TAG_PROTOCOL_VERSION_MAJOR = 0x42006A,
	TAG_PROTOCOL_VERSION_MINOR = 0x42006B,
	TAG_QUERY_FUNCTION = 0x420074,
	TAG_REQUEST_HEADER = 0x420077,
	TAG_REQUEST_MESSAGE = 0x420078,
	TAG_REQUEST_PAYLOAD = 0x420079,
	TAG_RESPONSE_HEADER = 0x42007A,
	TAG_RESPONSE_MESSAGE = 0x42007B,
	TAG_RESPONSE_PAYLOAD = 0x42007C,
	TAG_RESULT_MESSAGE = 0x42007D,
	TAG_RESULT_REASON = 0x42007E,
	TAG_RESULT_STATUS = 0x42007F,
	TAG_UNIQUE_IDENTIFIER = 0x420094,
	TAG_VENDOR_IDENTIFICATION = 0x42009D,
};

enum {
	QUERY_OPERATIONS = 1,
	QUERY_SERVER_INFORMATION = 3,
};

/* Enough for any response within KMIP_RESPONSE_MAX that the check cares to read. */
#define ITEMS_MAX 256

static void put_version(struct ttlv_enc *e, int major, int minor)
{
	ttlv_begin(e, TAG_PROTOCOL_VERSION);
	ttlv_put_int(e, TAG_PROTOCOL_VERSION_MAJOR, major);
	ttlv_put_int(e, TAG_PROTOCOL_VERSION_MINOR, minor);
	ttlv_end(e);
}

size_t kmip_build_request(enum kmip_op op, const char *uid, unsigned char *buf, size_t cap)
{
	struct ttlv_enc e;

	if (op == KMIP_OP_GET && (!uid || !uid[0] || strlen(uid) > KMIP_UID_MAX))
		return 0;
	ttlv_enc_init(&e, buf, cap);
	ttlv_begin(&e, TAG_REQUEST_MESSAGE);
	ttlv_begin(&e, TAG_REQUEST_HEADER);
	put_version(&e, KMIP_REQUEST_MAJOR, KMIP_REQUEST_MINOR);
	ttlv_put_int(&e, TAG_BATCH_COUNT, 1);
	ttlv_end(&e);
	ttlv_begin(&e, TAG_BATCH_ITEM);
	ttlv_put_enum(&e, TAG_OPERATION, op);
	ttlv_begin(&e, TAG_REQUEST_PAYLOAD);
	switch (op) {
	case KMIP_OP_DISCOVER_VERSIONS:
		break; /* no versions listed: the server lists all it speaks */
	case KMIP_OP_QUERY:
		ttlv_put_enum(&e, TAG_QUERY_FUNCTION, QUERY_OPERATIONS);
		ttlv_put_enum(&e, TAG_QUERY_FUNCTION, QUERY_SERVER_INFORMATION);
		break;
	case KMIP_OP_GET:
		ttlv_put_text(&e, TAG_UNIQUE_IDENTIFIER, uid, strlen(uid));
		break;
	}
	ttlv_end(&e);
	ttlv_end(&e);
	ttlv_end(&e);
	return ttlv_enc_finish(&e);
}

static void copy_text(char *dst, size_t size, const struct ttlv_item *it)
{
	size_t n = it->len < size - 1 ? it->len : size - 1;

	/* The server's text is shown to operators: keep it printable. */
	for (size_t i = 0; i < n; i++)
		dst[i] = it->val[i] >= 0x20 && it->val[i] < 0x7F ? (char)it->val[i] : '?';
	dst[n] = '\0';
}

/* Reads a Protocol Version structure; false when it lacks a part. */
static bool read_version(const struct ttlv_item *items, size_t n, int at, int *major, int *minor)
{
	int ma = ttlv_child(items, n, at, TAG_PROTOCOL_VERSION_MAJOR, TTLV_INTEGER, 0);
	int mi = ttlv_child(items, n, at, TAG_PROTOCOL_VERSION_MINOR, TTLV_INTEGER, 0);

	if (ma < 0 || mi < 0)
		return false;
	*major = ttlv_int(&items[ma]);
	*minor = ttlv_int(&items[mi]);
	return true;
}

static void read_payload(const struct ttlv_item *items, size_t n, int pl, struct kmip_answer *a)
{
	int i;

	switch (a->operation) {
	case KMIP_OP_DISCOVER_VERSIONS:
		for (i = ttlv_child(items, n, pl, TAG_PROTOCOL_VERSION, TTLV_STRUCTURE, 0);
		     i >= 0 && a->n_versions < KMIP_VERSIONS_MAX;
		     i = ttlv_child(items, n, pl, TAG_PROTOCOL_VERSION, TTLV_STRUCTURE,
		                    (int)items[i].next)) {
			if (read_version(items, n, i, &a->versions[a->n_versions].major,
			                 &a->versions[a->n_versions].minor))
				a->n_versions++;
		}
		break;
	case KMIP_OP_QUERY:
		for (i = ttlv_child(items, n, pl, TAG_OPERATION, TTLV_ENUMERATION, 0); i >= 0;
		     i = ttlv_child(items, n, pl, TAG_OPERATION, TTLV_ENUMERATION,
		                    (int)items[i].next))
			a->n_operations++;
		i = ttlv_child(items, n, pl, TAG_VENDOR_IDENTIFICATION, TTLV_TEXT, 0);
		if (i >= 0)
			copy_text(a->vendor, sizeof(a->vendor), &items[i]);
		break;
	case KMIP_OP_GET:
		i = ttlv_child(items, n, pl, TAG_OBJECT_TYPE, TTLV_ENUMERATION, 0);
		if (i >= 0)
			a->object_type = ttlv_enum(&items[i]);
		i = ttlv_child(items, n, pl, TAG_UNIQUE_IDENTIFIER, TTLV_TEXT, 0);
		if (i >= 0)
			copy_text(a->uid, sizeof(a->uid), &items[i]);
		break;
	default:
		break;
	}
}

int kmip_parse_response(const unsigned char *buf, size_t len, struct kmip_answer *a, char *why,
                        size_t size)
{
	struct ttlv_item items[ITEMS_MAX];
	size_t n = 0, off = 0;
	enum ttlv_status st;
	int hdr, ver, bi, op, rs, rr, rm, pl;

	memset(a, 0, sizeof(*a));
	st = ttlv_decode(buf, len, items, ITEMS_MAX, &n, &off);
	if (st != TTLV_OK) {
		snprintf(why, size, "not a KMIP message: %s at byte %zu", ttlv_status_str(st), off);
		return -1;
	}
	if (items[0].tag != TAG_RESPONSE_MESSAGE || items[0].type != TTLV_STRUCTURE) {
		snprintf(why, size, "not a KMIP response: top-level tag 0x%06X", items[0].tag);
		return -1;
	}
	hdr = ttlv_child(items, n, 0, TAG_RESPONSE_HEADER, TTLV_STRUCTURE, 0);
	ver = hdr < 0 ? -1 : ttlv_child(items, n, hdr, TAG_PROTOCOL_VERSION, TTLV_STRUCTURE, 0);
	if (ver < 0 || !read_version(items, n, ver, &a->major, &a->minor)) {
		snprintf(why, size, "KMIP response without a protocol version in its header");
		return -1;
	}
	bi = ttlv_child(items, n, 0, TAG_BATCH_ITEM, TTLV_STRUCTURE, 0);
	if (bi < 0) {
		snprintf(why, size, "KMIP response without a batch item");
		return -1;
	}
	op = ttlv_child(items, n, bi, TAG_OPERATION, TTLV_ENUMERATION, 0);
	rs = ttlv_child(items, n, bi, TAG_RESULT_STATUS, TTLV_ENUMERATION, 0);
	rr = ttlv_child(items, n, bi, TAG_RESULT_REASON, TTLV_ENUMERATION, 0);
	rm = ttlv_child(items, n, bi, TAG_RESULT_MESSAGE, TTLV_TEXT, 0);
	pl = ttlv_child(items, n, bi, TAG_RESPONSE_PAYLOAD, TTLV_STRUCTURE, 0);
	if (rs < 0) {
		snprintf(why, size, "KMIP response without a result status");
		return -1;
	}
	a->result_status = ttlv_enum(&items[rs]);
	if (op >= 0)
		a->operation = ttlv_enum(&items[op]);
	if (rr >= 0) {
		a->has_reason = true;
		a->result_reason = ttlv_enum(&items[rr]);
	}
	if (rm >= 0)
		copy_text(a->result_message, sizeof(a->result_message), &items[rm]);
	if (pl >= 0)
		read_payload(items, n, pl, a);
	return 0;
}

const char *kmip_op_name(uint32_t op)
{
	switch (op) {
	case KMIP_OP_DISCOVER_VERSIONS:
		return "Discover Versions";
	case KMIP_OP_QUERY:
		return "Query";
	case KMIP_OP_GET:
		return "Get";
	}
	return "operation";
}

const char *kmip_status_name(uint32_t status)
{
	static const char *const names[] = {"success", "operation_failed", "operation_pending",
	                                    "operation_undone"};

	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown_status";
}

const char *kmip_reason_name(uint32_t reason)
{
	/* KMIP 1.4, section 9.1.3.2.29 (Result Reason Enumeration). */
	static const char *const names[] = {
	    NULL,
	    "item_not_found",
	    "response_too_large",
	    "authentication_not_successful",
	    "invalid_message",
	    "operation_not_supported",
	    "missing_data",
	    "invalid_field",
	    "feature_not_supported",
	    "operation_canceled_by_requester",
	    "cryptographic_failure",
	    "illegal_operation",
	    "permission_denied",
	    "object_archived",
	    "index_out_of_bounds",
	    "application_namespace_not_supported",
	    "key_format_type_not_supported",
	    "key_compression_type_not_supported",
	    "encoding_option_error",
	    "key_value_not_present",
	    "attestation_required",
	    "attestation_failed",
	};

	if (reason == 0x100)
		return "general_failure";
	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "other_reason";
}

static const char *object_type_name(uint32_t t)
{
	static const char *const names[] = {
	    NULL,        "certificate", "symmetric key", "public key",  "private key",
	    "split key", "template",    "secret data",   "opaque data", "PGP key"};

	return t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "object";
}

void kmip_answer_summary(const struct kmip_answer *a, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	switch (a->operation) {
	case KMIP_OP_DISCOVER_VERSIONS:
		used = (size_t)snprintf(buf, size, "versions");
		for (unsigned i = 0; i < a->n_versions && used < size; i++)
			used += (size_t)snprintf(buf + used, size - used, " %d.%d",
			                         a->versions[i].major, a->versions[i].minor);
		if (a->n_versions == 0)
			snprintf(buf, size, "no versions listed");
		break;
	case KMIP_OP_QUERY:
		snprintf(buf, size, "%u operations, vendor '%s'", a->n_operations,
		         a->vendor[0] ? a->vendor : "(none)");
		break;
	case KMIP_OP_GET:
		snprintf(buf, size, "%s '%s'", object_type_name(a->object_type), a->uid);
		break;
	default:
		snprintf(buf, size, "operation 0x%X", a->operation);
		break;
	}
}
