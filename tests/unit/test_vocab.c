/*
 * The vocabulary is a public contract spelled once (common/vocab.def): its identifiers and
 * numbers must match the protobuf enums of proto/kma.proto, value for value.
 */

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kma.pb-c.h"
#include "vocab.h"

/* "peer_cert_expired" with prefix "CAUSE_" -> "CAUSE_PEER_CERT_EXPIRED". */
static void proto_name(const char *prefix, const char *id, char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, "%s", prefix);

	for (; *id && n + 1 < size; id++)
		out[n++] = (char)toupper((unsigned char)*id);
	out[n] = '\0';
}

static void check_enum(const ProtobufCEnumDescriptor *desc, const char *prefix, int count,
                       const char *(*id_of)(int))
{
	/* Every proto value but UNSPECIFIED is in the table and vice versa. */
	assert_int_equal(desc->n_values, (unsigned)count);
	for (int v = 1; v < count; v++) {
		char want[96];
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(desc, v);

		assert_non_null(ev);
		proto_name(prefix, id_of(v), want, sizeof(want));
		assert_string_equal(ev->name, want);
	}
}

static const char *cause_of(int v)
{
	return kma_cause_id((enum kma_cause)v);
}

static const char *state_of(int v)
{
	return kma_state_id((enum kma_state)v);
}

static const char *phase_of(int v)
{
	return kma_phase_id((enum kma_phase)v);
}

static const char *part_of(int v)
{
	return kma_part_id((enum kma_part)v);
}

static void test_causes_match_proto(void **state)
{
	(void)state;
	check_enum(&kma__v1__cause__descriptor, "CAUSE_", KMA_CAUSE_COUNT, cause_of);
	assert_int_equal(KMA_CAUSE_PEER_SERIAL_MISMATCH,
	                 KMA__V1__CAUSE__CAUSE_PEER_SERIAL_MISMATCH);
	assert_int_equal(KMA_CAUSE_LOCAL_NOT_ENROLLED, KMA__V1__CAUSE__CAUSE_LOCAL_NOT_ENROLLED);
}

static void test_states_phases_parts_match_proto(void **state)
{
	(void)state;
	check_enum(&kma__v1__identity_state__descriptor, "IDENTITY_STATE_", KMA_STATE_COUNT,
	           state_of);
	check_enum(&kma__v1__phase__descriptor, "PHASE_", KMA_PHASE_COUNT, phase_of);
	check_enum(&kma__v1__hardware_part__descriptor, "HARDWARE_PART_", KMA_PART_COUNT, part_of);
}

static void test_lookups(void **state)
{
	(void)state;
	assert_int_equal(kma_cause_from_id("rejected_by_peer"), KMA_CAUSE_REJECTED_BY_PEER);
	assert_int_equal(kma_cause_from_id("no_such_cause"), KMA_CAUSE_UNSPECIFIED);
	assert_int_equal(kma_cause_from_id(NULL), KMA_CAUSE_UNSPECIFIED);
	assert_int_equal(kma_state_from_id("not_enrolled"), KMA_STATE_NOT_ENROLLED);
	assert_string_equal(kma_cause_id((enum kma_cause)999), "unspecified");
	assert_string_equal(kma_cause_id((enum kma_cause) - 1), "unspecified");
	for (int c = 1; c < KMA_CAUSE_COUNT; c++) {
		assert_true(strlen(kma_cause_meaning((enum kma_cause)c)) > 5);
		assert_true(strlen(kma_cause_remedy((enum kma_cause)c)) > 3);
		assert_int_equal(kma_cause_from_id(kma_cause_id((enum kma_cause)c)), c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_causes_match_proto),
	    cmocka_unit_test(test_states_phases_parts_match_proto),
	    cmocka_unit_test(test_lookups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
