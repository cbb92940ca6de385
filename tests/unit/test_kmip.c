/*
 * KMIP TTLV and the key-service check's messages, against byte vectors made by a KMIP
 * implementation we did not write: PyKMIP 0.10's encoder (Debian's python3-pykmip,
 * kmip.core.messages), and the Discover Versions payloads of PyKMIP's own tests
 * (kmip/tests/unit/core/messages/payloads/test_discover_versions.py).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kma.pb-c.h"
#include "kmip.h"
#include "kmipcheck.h"
#include "ttlv.h"

/* Made by PyKMIP 0.10: RequestMessage / ResponseMessage(...).write(), protocol 1.1. */
static const unsigned char req_discover[] =
    "\x42\x00\x78\x01\x00\x00\x00\x60\x42\x00\x77\x01\x00\x00\x00\x38"
    "\x42\x00\x69\x01\x00\x00\x00\x20\x42\x00\x6A\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x6B\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0D\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0F\x01\x00\x00\x00\x18"
    "\x42\x00\x5C\x05\x00\x00\x00\x04\x00\x00\x00\x1E\x00\x00\x00\x00"
    "\x42\x00\x79\x01\x00\x00\x00\x00";

static const unsigned char req_query[] =
    "\x42\x00\x78\x01\x00\x00\x00\x80\x42\x00\x77\x01\x00\x00\x00\x38"
    "\x42\x00\x69\x01\x00\x00\x00\x20\x42\x00\x6A\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x6B\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0D\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0F\x01\x00\x00\x00\x38"
    "\x42\x00\x5C\x05\x00\x00\x00\x04\x00\x00\x00\x18\x00\x00\x00\x00"
    "\x42\x00\x79\x01\x00\x00\x00\x20\x42\x00\x74\x05\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x74\x05\x00\x00\x00\x04"
    "\x00\x00\x00\x03\x00\x00\x00\x00";

static const unsigned char req_get[] =
    "\x42\x00\x78\x01\x00\x00\x00\x70\x42\x00\x77\x01\x00\x00\x00\x38"
    "\x42\x00\x69\x01\x00\x00\x00\x20\x42\x00\x6A\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x6B\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0D\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0F\x01\x00\x00\x00\x28"
    "\x42\x00\x5C\x05\x00\x00\x00\x04\x00\x00\x00\x0A\x00\x00\x00\x00"
    "\x42\x00\x79\x01\x00\x00\x00\x10\x42\x00\x94\x07\x00\x00\x00\x01"
    "\x31\x00\x00\x00\x00\x00\x00\x00";

static const unsigned char resp_discover[] =
    "\x42\x00\x7B\x01\x00\x00\x00\xF8\x42\x00\x7A\x01\x00\x00\x00\x48"
    "\x42\x00\x69\x01\x00\x00\x00\x20\x42\x00\x6A\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x6B\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x92\x09\x00\x00\x00\x08"
    "\x00\x00\x00\x00\x5E\x0B\xE1\x00\x42\x00\x0D\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0F\x01\x00\x00\x00\xA0"
    "\x42\x00\x5C\x05\x00\x00\x00\x04\x00\x00\x00\x1E\x00\x00\x00\x00"
    "\x42\x00\x7F\x05\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x42\x00\x7C\x01\x00\x00\x00\x78\x42\x00\x69\x01\x00\x00\x00\x20"
    "\x42\x00\x6A\x02\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00"
    "\x42\x00\x6B\x02\x00\x00\x00\x04\x00\x00\x00\x02\x00\x00\x00\x00"
    "\x42\x00\x69\x01\x00\x00\x00\x20\x42\x00\x6A\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x6B\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x69\x01\x00\x00\x00\x20"
    "\x42\x00\x6A\x02\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00"
    "\x42\x00\x6B\x02\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00";

static const unsigned char resp_get_failed[] =
    "\x42\x00\x7B\x01\x00\x00\x00\xB0\x42\x00\x7A\x01\x00\x00\x00\x48"
    "\x42\x00\x69\x01\x00\x00\x00\x20\x42\x00\x6A\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x6B\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x92\x09\x00\x00\x00\x08"
    "\x00\x00\x00\x00\x5E\x0B\xE1\x00\x42\x00\x0D\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x0F\x01\x00\x00\x00\x58"
    "\x42\x00\x5C\x05\x00\x00\x00\x04\x00\x00\x00\x0A\x00\x00\x00\x00"
    "\x42\x00\x7F\x05\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00"
    "\x42\x00\x7E\x05\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00"
    "\x42\x00\x7D\x07\x00\x00\x00\x1A\x43\x6F\x75\x6C\x64\x20\x6E\x6F"
    "\x74\x20\x6C\x6F\x63\x61\x74\x65\x20\x6F\x62\x6A\x65\x63\x74\x3A"
    "\x20\x39\x00\x00\x00\x00\x00\x00";

/* PyKMIP's test_discover_versions.py, "encoding_two": a request payload with 1.1 and 1.0. */
static const unsigned char payload_two_versions[] =
    "\x42\x00\x79\x01\x00\x00\x00\x50\x42\x00\x69\x01\x00\x00\x00\x20"
    "\x42\x00\x6A\x02\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00"
    "\x42\x00\x6B\x02\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00"
    "\x42\x00\x69\x01\x00\x00\x00\x20\x42\x00\x6A\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x01\x00\x00\x00\x00\x42\x00\x6B\x02\x00\x00\x00\x04"
    "\x00\x00\x00\x00\x00\x00\x00\x00";

#define LEN(a) (sizeof(a) - 1) /* string literals carry a NUL */

static void test_requests(void **state)
{
	unsigned char buf[KMIP_REQUEST_MAX];
	size_t n;

	(void)state;
	n = kmip_build_request(KMIP_OP_DISCOVER_VERSIONS, NULL, buf, sizeof(buf));
	assert_int_equal(n, LEN(req_discover));
	assert_memory_equal(buf, req_discover, n);
	n = kmip_build_request(KMIP_OP_QUERY, NULL, buf, sizeof(buf));
	assert_int_equal(n, LEN(req_query));
	assert_memory_equal(buf, req_query, n);
	n = kmip_build_request(KMIP_OP_GET, "1", buf, sizeof(buf));
	assert_int_equal(n, LEN(req_get));
	assert_memory_equal(buf, req_get, n);
	/* Get needs a uid; nothing is written past the buffer. */
	assert_int_equal(kmip_build_request(KMIP_OP_GET, NULL, buf, sizeof(buf)), 0);
	assert_int_equal(kmip_build_request(KMIP_OP_GET, "", buf, sizeof(buf)), 0);
	for (size_t cap = 0; cap < LEN(req_get); cap++) {
		memset(buf, 0xAA, sizeof(buf));
		assert_int_equal(kmip_build_request(KMIP_OP_GET, "1", buf, cap), 0);
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xAA);
	}
}

static void test_decode_tree(void **state)
{
	struct ttlv_item it[32];
	size_t n = 0, off = 0;
	int v;

	(void)state;
	assert_int_equal(
	    ttlv_decode(payload_two_versions, LEN(payload_two_versions), it, 32, &n, &off),
	    TTLV_OK);
	assert_int_equal(n, 7);
	assert_int_equal(it[0].tag, 0x420079);
	assert_int_equal(it[0].next, 7);
	v = ttlv_child(it, n, 0, 0x420069, TTLV_STRUCTURE, 0);
	assert_int_equal(v, 1);
	assert_int_equal(it[1].next, 4);
	assert_int_equal(ttlv_int(&it[ttlv_child(it, n, v, 0x42006B, 0, 0)]), 1);
	v = ttlv_child(it, n, 0, 0x420069, TTLV_STRUCTURE, (int)it[v].next);
	assert_int_equal(v, 4);
	assert_int_equal(ttlv_int(&it[ttlv_child(it, n, v, 0x42006B, 0, 0)]), 0);
	assert_int_equal(ttlv_child(it, n, 0, 0x420069, TTLV_STRUCTURE, (int)it[v].next), -1);
	assert_int_equal(it[5].depth, 2);
	assert_int_equal(it[5].parent, 4);
	assert_int_equal(ttlv_message_size(payload_two_versions), LEN(payload_two_versions));
}

static void test_encode_kinds(void **state)
{
	/* One item of each kind, as the KMIP 1.1 specification's section 9.1.2 shows them. */
	static const unsigned char want[] =
	    "\x42\x00\x20\x01\x00\x00\x00\x68"                                 /* structure */
	    "\x42\x00\x20\x02\x00\x00\x00\x04\x00\x00\x00\x08\x00\x00\x00\x00" /* int 8 */
	    "\x42\x00\x20\x03\x00\x00\x00\x08\x01\xB6\x9B\x4B\xA5\x74\x92\x00" /* long */
	    "\x42\x00\x20\x05\x00\x00\x00\x04\x00\x00\x00\xFF\x00\x00\x00\x00" /* enum 255 */
	    "\x42\x00\x20\x06\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01" /* true */
	    "\x42\x00\x20\x07\x00\x00\x00\x0B\x48\x65\x6C\x6C\x6F\x20\x57\x6F" /* Hello World */
	    "\x72\x6C\x64\x00\x00\x00\x00\x00"
	    "\x42\x00\x20\x08\x00\x00\x00\x03\x01\x02\x03\x00\x00\x00\x00\x00"; /* bytes */
	unsigned char buf[256];
	struct ttlv_enc e;
	struct ttlv_item it[8];
	size_t n, len;

	(void)state;
	ttlv_enc_init(&e, buf, sizeof(buf));
	ttlv_begin(&e, 0x420020);
	ttlv_put_int(&e, 0x420020, 8);
	ttlv_put_long(&e, 0x420020, 123456789000000000LL);
	ttlv_put_enum(&e, 0x420020, 255);
	ttlv_put_bool(&e, 0x420020, true);
	ttlv_put_text(&e, 0x420020, "Hello World", 11);
	ttlv_put_bytes(&e, 0x420020, "\x01\x02\x03", 3);
	ttlv_end(&e);
	len = ttlv_enc_finish(&e);
	assert_int_equal(len, LEN(want));
	assert_memory_equal(buf, want, len);
	assert_int_equal(ttlv_decode(buf, len, it, 8, &n, NULL), TTLV_OK);
	assert_int_equal(n, 7);
	assert_int_equal(ttlv_long(&it[2]), 123456789000000000LL);
	assert_int_equal(it[5].len, 11);
	/* Unbalanced, or a tag wider than 3 bytes: no message. */
	ttlv_enc_init(&e, buf, sizeof(buf));
	ttlv_begin(&e, 0x420020);
	assert_int_equal(ttlv_enc_finish(&e), 0);
	ttlv_enc_init(&e, buf, sizeof(buf));
	ttlv_end(&e);
	assert_int_equal(ttlv_enc_finish(&e), 0);
	ttlv_enc_init(&e, buf, sizeof(buf));
	ttlv_put_int(&e, 0x1000000, 1);
	assert_int_equal(ttlv_enc_finish(&e), 0);
	/* Nesting beyond the bound. */
	ttlv_enc_init(&e, buf, sizeof(buf));
	for (int i = 0; i <= TTLV_DEPTH_MAX; i++)
		ttlv_begin(&e, 0x420020);
	assert_int_equal(ttlv_enc_finish(&e), 0);
}

static void test_decode_refused(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		size_t len;
		enum ttlv_status want;
	} cases[] = {
	    {"empty", "", 0, TTLV_ERR_TRUNCATED},
	    {"half a header", "\x42\x00\x20\x02", 4, TTLV_ERR_TRUNCATED},
	    {"value cut", "\x42\x00\x20\x02\x00\x00\x00\x04\x00\x00\x00\x08", 12,
	     TTLV_ERR_TRUNCATED},
	    {"padding cut", "\x42\x00\x20\x02\x00\x00\x00\x04\x00\x00\x00\x08\x00\x00", 14,
	     TTLV_ERR_TRUNCATED},
	    {"type 0", "\x42\x00\x20\x00\x00\x00\x00\x00", 8, TTLV_ERR_TYPE},
	    {"type 0x0B", "\x42\x00\x20\x0B\x00\x00\x00\x00", 8, TTLV_ERR_TYPE},
	    {"integer of 8", "\x42\x00\x20\x02\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01", 16,
	     TTLV_ERR_LENGTH},
	    {"boolean 2", "\x42\x00\x20\x06\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x02", 16,
	     TTLV_ERR_VALUE},
	    {"big integer of 4", "\x42\x00\x20\x04\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00",
	     16, TTLV_ERR_LENGTH},
	    {"structure of 4", "\x42\x00\x20\x01\x00\x00\x00\x04\x00\x00\x00\x00", 12,
	     TTLV_ERR_LENGTH},
	    {"child past its structure",
	     "\x42\x00\x20\x01\x00\x00\x00\x08\x42\x00\x20\x02\x00\x00\x00\x04"
	     "\x00\x00\x00\x01\x00\x00\x00\x00",
	     24, TTLV_ERR_LENGTH},
	    {"structure past the input", "\x42\x00\x20\x01\x00\x00\x00\x10", 8, TTLV_ERR_TRUNCATED},
	    {"huge length", "\x42\x00\x20\x07\xFF\xFF\xFF\xFF", 8, TTLV_ERR_TRUNCATED},
	    {"trailing bytes", "\x42\x00\x20\x01\x00\x00\x00\x00\x00", 9, TTLV_ERR_TRAILING},
	    {"two top-level items",
	     "\x42\x00\x20\x01\x00\x00\x00\x00\x42\x00\x20\x01\x00\x00\x00\x00", 16,
	     TTLV_ERR_TRAILING},
	};
	struct ttlv_item it[8];
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum ttlv_status st =
		    ttlv_decode((const unsigned char *)cases[i].in, cases[i].len, it, 8, &n, NULL);

		if (st != cases[i].want)
			fail_msg("%s: got %s, want %s", cases[i].name, ttlv_status_str(st),
			         ttlv_status_str(cases[i].want));
		assert_int_equal(n, 0);
	}
	/* More items than the array: counted, never written past it. */
	assert_int_equal(
	    ttlv_decode(payload_two_versions, LEN(payload_two_versions), it, 6, &n, NULL),
	    TTLV_ERR_COUNT);
}

static void test_decode_depth(void **state)
{
	unsigned char buf[8 * (TTLV_DEPTH_MAX + 2)];
	struct ttlv_item it[TTLV_DEPTH_MAX + 2];
	size_t n;

	(void)state;
	for (unsigned levels = TTLV_DEPTH_MAX; levels <= TTLV_DEPTH_MAX + 1; levels++) {
		for (unsigned i = 0; i < levels; i++) {
			unsigned char *h = buf + 8 * i;
			uint32_t inner = 8 * (levels - 1 - i);

			memcpy(h, "\x42\x00\x20\x01", 4);
			h[4] = 0;
			h[5] = 0;
			h[6] = (unsigned char)(inner >> 8);
			h[7] = (unsigned char)inner;
		}
		assert_int_equal(ttlv_decode(buf, 8 * levels, it, TTLV_DEPTH_MAX + 2, &n, NULL),
		                 levels <= TTLV_DEPTH_MAX ? TTLV_OK : TTLV_ERR_DEPTH);
	}
}

static void test_responses(void **state)
{
	struct kmip_answer a;
	char why[128] = "", sum[128];

	(void)state;
	assert_int_equal(
	    kmip_parse_response(resp_discover, LEN(resp_discover), &a, why, sizeof(why)), 0);
	assert_int_equal(a.major, 1);
	assert_int_equal(a.minor, 1);
	assert_int_equal(a.operation, KMIP_OP_DISCOVER_VERSIONS);
	assert_int_equal(a.result_status, KMIP_STATUS_SUCCESS);
	assert_false(a.has_reason);
	assert_int_equal(a.n_versions, 3);
	kmip_answer_summary(&a, sum, sizeof(sum));
	assert_string_equal(sum, "versions 1.2 1.1 1.0");

	assert_int_equal(
	    kmip_parse_response(resp_get_failed, LEN(resp_get_failed), &a, why, sizeof(why)), 0);
	assert_int_equal(a.operation, KMIP_OP_GET);
	assert_int_equal(a.result_status, KMIP_STATUS_OPERATION_FAILED);
	assert_true(a.has_reason);
	assert_string_equal(kmip_reason_name(a.result_reason), "item_not_found");
	assert_string_equal(a.result_message, "Could not locate object: 9");

	/* A request is not a response; a cut response says where it broke. */
	assert_int_equal(kmip_parse_response(req_discover, LEN(req_discover), &a, why, sizeof(why)),
	                 -1);
	assert_string_equal(why, "not a KMIP response: top-level tag 0x420078");
	assert_int_equal(kmip_parse_response(resp_discover, 40, &a, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a KMIP message"));
	assert_string_equal(kmip_reason_name(0x100), "general_failure");
	assert_string_equal(kmip_reason_name(0x999), "other_reason");
}

/* The report carries a check's result as KmipResult: same order, same names, offset by one. */
static void test_result_vocabulary(void **state)
{
	(void)state;
	assert_int_equal(kma__v1__kmip_result__descriptor.n_values, KMIPCHECK_RESULT_COUNT + 1);
	for (int r = 0; r < KMIPCHECK_RESULT_COUNT; r++) {
		const ProtobufCEnumValue *v =
		    protobuf_c_enum_descriptor_get_value(&kma__v1__kmip_result__descriptor, r + 1);
		char want[40];
		size_t i;

		assert_non_null(v);
		for (i = 0; v->name[12 + i] && i < sizeof(want) - 1; i++)
			want[i] = (char)(v->name[12 + i] | 0x20);
		want[i] = '\0';
		assert_string_equal(kmipcheck_result_id((enum kmipcheck_result)r), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests),          cmocka_unit_test(test_decode_tree),
	    cmocka_unit_test(test_encode_kinds),      cmocka_unit_test(test_decode_refused),
	    cmocka_unit_test(test_decode_depth),      cmocka_unit_test(test_responses),
	    cmocka_unit_test(test_result_vocabulary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
