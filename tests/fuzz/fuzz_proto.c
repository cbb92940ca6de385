/*
 * Wire messages from the network: kma.v1.AgentReport and EnrollRequest (the coordinator
 * decodes them), CoordinatorReply, Directive and EnrollReply (the agent decodes them).
 *
 * Input: one byte that picks the message (its value modulo 5, in the order above), then
 * the bytes to decode. A decoded message must survive protobuf_c_message_check, pack to
 * exactly its packed size, decode again and pack again to the same bytes; then both are
 * freed (ASan's leak check sees what the free misses).
 *
 * Known protobuf-c 1.4.1 quirk, tolerated here: it refuses a tag of field number 0 (the
 * single byte 0x00) but keeps the overlong form (0x80 0x00) as an unknown field, which
 * it then packs as 0x00 and so cannot decode again (corpus/proto/regress-field-zero).
 * Anything that re-packs a decoded message (say, to store it) inherits that.
 *
 * When the agent or coordinator gain semantic validation of a decoded message, it belongs
 * here after the decode.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kma.pb-c.h"

enum wire_msg {
	W_AGENT_REPORT,
	W_ENROLL_REQUEST,
	W_COORDINATOR_REPLY,
	W_DIRECTIVE,
	W_ENROLL_REPLY,
	W_COUNT
};

static ProtobufCMessage *decode(enum wire_msg w, size_t len, const uint8_t *buf)
{
	switch (w) {
	case W_AGENT_REPORT:
		return (ProtobufCMessage *)kma__v1__agent_report__unpack(NULL, len, buf);
	case W_ENROLL_REQUEST:
		return (ProtobufCMessage *)kma__v1__enroll_request__unpack(NULL, len, buf);
	case W_COORDINATOR_REPLY:
		return (ProtobufCMessage *)kma__v1__coordinator_reply__unpack(NULL, len, buf);
	case W_DIRECTIVE:
		return (ProtobufCMessage *)kma__v1__directive__unpack(NULL, len, buf);
	case W_ENROLL_REPLY:
		return (ProtobufCMessage *)kma__v1__enroll_reply__unpack(NULL, len, buf);
	case W_COUNT:
		break;
	}
	abort();
}

/* The generated free of each type, as the program that decoded it would call it. */
static void release(enum wire_msg w, ProtobufCMessage *m)
{
	if (!m)
		return;
	switch (w) {
	case W_AGENT_REPORT:
		kma__v1__agent_report__free_unpacked((Kma__V1__AgentReport *)m, NULL);
		return;
	case W_ENROLL_REQUEST:
		kma__v1__enroll_request__free_unpacked((Kma__V1__EnrollRequest *)m, NULL);
		return;
	case W_COORDINATOR_REPLY:
		kma__v1__coordinator_reply__free_unpacked((Kma__V1__CoordinatorReply *)m, NULL);
		return;
	case W_DIRECTIVE:
		kma__v1__directive__free_unpacked((Kma__V1__Directive *)m, NULL);
		return;
	case W_ENROLL_REPLY:
		kma__v1__enroll_reply__free_unpacked((Kma__V1__EnrollReply *)m, NULL);
		return;
	case W_COUNT:
		break;
	}
	abort();
}

/* Whether m or a message inside it kept an unknown field numbered 0 (see the top). */
static bool has_field_zero(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *at = (const char *)m + f->offset;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)at;

			for (size_t k = 0; k < n; k++)
				if (has_field_zero(v[k]))
					return true;
		} else if (*(ProtobufCMessage *const *)at &&
		           has_field_zero(*(ProtobufCMessage *const *)at)) {
			return true;
		}
	}
	return false;
}

/* Packs m into a new buffer of exactly its packed size (*len). */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len ? *len : 1);
	FUZZ_CHECK(buf != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(m, buf) == *len);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *m = NULL, *again = NULL;
	uint8_t *first = NULL, *second = NULL;
	size_t first_len, second_len;
	enum wire_msg w;

	if (size < 1)
		return 0;
	w = (enum wire_msg)(data[0] % W_COUNT);
	m = decode(w, size - 1, data + 1);
	if (!m)
		goto exit;
	FUZZ_CHECK(protobuf_c_message_check(m));
	first = pack(m, &first_len);
	again = decode(w, first_len, first);
	if (!again) {
		FUZZ_CHECK(has_field_zero(m));
		goto exit;
	}
	second = pack(again, &second_len);
	FUZZ_CHECK(second_len == first_len && memcmp(first, second, first_len) == 0);
exit:
	free(second);
	free(first);
	release(w, again);
	release(w, m);
	return 0;
}
