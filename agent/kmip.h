#ifndef KMA_AGENT_KMIP_H
#define KMA_AGENT_KMIP_H

/*
 * The few KMIP 1.x messages the key-service check needs, on top of ttlv.h: a request with
 * one batch item (Discover Versions, Query of operations and server information, or Get of
 * a canary key by its unique identifier), and what the server's response says. Pure
 * functions over byte buffers: no I/O (the check that sends them is kmipcheck.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol version the requests carry: 1.1, which every KMIP 1.x server speaks. */
#define KMIP_REQUEST_MAJOR 1
#define KMIP_REQUEST_MINOR 1

/* The largest response the check reads: a Get of a 256-bit key answers in well under 1 KiB. */
#define KMIP_RESPONSE_MAX 8192
#define KMIP_REQUEST_MAX  512
#define KMIP_UID_MAX      128

enum kmip_op {
	KMIP_OP_DISCOVER_VERSIONS = 0x1E,
	KMIP_OP_QUERY = 0x18,
	KMIP_OP_GET = 0x0A,
};

enum kmip_result_status {
	KMIP_STATUS_SUCCESS = 0,
	KMIP_STATUS_OPERATION_FAILED = 1,
	KMIP_STATUS_OPERATION_PENDING = 2,
	KMIP_STATUS_OPERATION_UNDONE = 3,
};

/*
 * Builds the request for op (uid: the canary's unique identifier, Get only) into buf;
 * returns its length, or 0 when it does not fit or uid is missing or longer than
 * KMIP_UID_MAX.
 */
size_t kmip_build_request(enum kmip_op op, const char *uid, unsigned char *buf, size_t cap)
    __attribute__((warn_unused_result));

#define KMIP_VERSIONS_MAX 8

/* What a response said; strings are truncated to their buffers and always terminated. */
struct kmip_answer {
	int major, minor; /* the response header's protocol version */
	uint32_t operation;
	uint32_t result_status;
	bool has_reason;
	uint32_t result_reason;
	char result_message[160];
	/* Discover Versions */
	unsigned n_versions;
	struct {
		int major, minor;
	} versions[KMIP_VERSIONS_MAX];
	/* Query */
	unsigned n_operations;
	char vendor[64];
	/* Get */
	uint32_t object_type;
	char uid[KMIP_UID_MAX + 1];
};

/*
 * Reads a Response Message with one batch item. Returns 0, or -1 with why (in a few words,
 * naming the TTLV error or the missing field) when buf is not one.
 */
int kmip_parse_response(const unsigned char *buf, size_t len, struct kmip_answer *a, char *why,
                        size_t size) __attribute__((warn_unused_result));

/* "Discover Versions", "Query", "Get". */
const char *kmip_op_name(uint32_t op);

/* "success", "operation_failed", ... */
const char *kmip_status_name(uint32_t status);

/* "item_not_found", "permission_denied", ... ("other_reason": one we do not name). */
const char *kmip_reason_name(uint32_t reason);

/*
 * One line on what a successful answer holds: "versions 1.2 1.1 1.0", "38 operations,
 * vendor 'PyKMIP'", "symmetric key '1'".
 */
void kmip_answer_summary(const struct kmip_answer *a, char *buf, size_t size);

#endif
