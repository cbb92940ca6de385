/*
 * Identity state rules (SPEC 2.3) and what the agent reads out of a real certificate.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fileio.h"
#include "identity.h"

static void base_view(struct identity_view *v)
{
	memset(v, 0, sizeof(*v));
	v->has_record = true;
	v->has_cert = true;
	snprintf(v->cert.serial, sizeof(v->cert.serial), "E2207FDBA432E9010000000000000084");
}

static void test_state_rules(void **state)
{
	struct identity_view v;

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_int_equal(identity_state_of(&v), KMA_STATE_UNPROVISIONED);

	base_view(&v);
	assert_int_equal(identity_state_of(&v), KMA_STATE_PROVISIONED);

	snprintf(v.enrolled_serial, sizeof(v.enrolled_serial), "E2207FDBA432E9010000000000000084");
	assert_int_equal(identity_state_of(&v), KMA_STATE_ENROLLED);

	/* The cluster enrolled another serial: we were QuickStarted and never joined. */
	snprintf(v.enrolled_serial, sizeof(v.enrolled_serial), "866B070F94660D13000000000000001E");
	assert_int_equal(identity_state_of(&v), KMA_STATE_NOT_ENROLLED);

	/* Replaced hardware outranks enrolment. */
	v.parts_changed = 1u << KMA_PART_BOARD;
	assert_int_equal(identity_state_of(&v), KMA_STATE_HARDWARE_CHANGED);
}

static void test_parts_str(void **state)
{
	char buf[64];

	(void)state;
	identity_parts_str(0, buf, sizeof(buf));
	assert_string_equal(buf, "");
	identity_parts_str((1u << KMA_PART_BOARD) | (1u << KMA_PART_DISK) | (1u << KMA_PART_CPU),
	                   buf, sizeof(buf));
	assert_string_equal(buf, "board,disk,cpu");
	identity_parts_str(1u << KMA_PART_MAC, buf, sizeof(buf));
	assert_string_equal(buf, "mac");
}

static void test_certinfo_of_real_cert(void **state)
{
	char path[512];
	unsigned char *pem;
	size_t len;
	mbedtls_x509_crt crt;
	struct certinfo ci;
	char t[32];

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/data/a-kma01.pem", getenv("KMA_SOURCE_DIR"));
	assert_int_equal(fileio_read(path, 65536, &pem, &len), 0);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse(&crt, pem, len + 1), 0);
	certinfo_from_crt(&crt, &ci);
	assert_string_equal(ci.serial, "E2207FDBA432E9010000000000000084");
	assert_string_equal(ci.node_id, "a-kma01");
	assert_non_null(strstr(ci.subject, "CN=a-kma01"));
	assert_non_null(strstr(ci.issuer, "CN=Example Cluster CA"));
	assert_true(ci.not_after > ci.not_before);
	certinfo_time_str(ci.not_after, t, sizeof(t));
	assert_int_equal(strncmp(t, "212", 3), 0); /* 100-year test certificate */
	/* certinfo_from_der agrees with the parsed form. */
	struct certinfo ci2;

	assert_true(certinfo_from_der(crt.raw.p, crt.raw.len, &ci2));
	assert_memory_equal(&ci, &ci2, sizeof(ci));
	assert_false(certinfo_from_der(crt.raw.p, crt.raw.len / 2, &ci2));
	mbedtls_x509_crt_free(&crt);
	free(pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_rules),
	    cmocka_unit_test(test_parts_str),
	    cmocka_unit_test(test_certinfo_of_real_cert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
