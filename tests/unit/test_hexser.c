/* Serial numbers: canonical uppercase hex, accepted in any case with or without colons. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "certinfo.h"
#include "hexser.h"

static void test_format(void **state)
{
	const unsigned char raw[] = {0xE2, 0x20, 0x7F, 0xDB, 0x00, 0x84};
	char out[16];

	(void)state;
	hexser_format(raw, sizeof(raw), out);
	assert_string_equal(out, "E2207FDB0084");
	hexser_format(raw, 0, out);
	assert_string_equal(out, "");
}

static void test_normalize(void **state)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: refused */
	} cases[] = {
	    {"E2207FDBA432E9010000000000000084", "E2207FDBA432E9010000000000000084"},
	    {"e2207fdba432e9010000000000000084", "E2207FDBA432E9010000000000000084"},
	    {"e2:20:7f:db:a4:32:e9:01:00:00:00:00:00:00:00:84", "E2207FDBA432E9010000000000000084"},
	    {"86 6B 07 0F", "866B070F"},
	    {"", NULL},
	    {":", NULL},
	    {"0xE2", NULL},
	    {"E2-20", NULL},
	    {"G1", NULL},
	};
	char out[130];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = hexser_normalize(cases[i].in, out, sizeof(out));

		if (!cases[i].out) {
			assert_false(ok);
			continue;
		}
		assert_true(ok);
		assert_string_equal(out, cases[i].out);
	}
	assert_false(hexser_normalize("ABCDEF", out, 4)); /* does not fit */
	assert_false(hexser_normalize(NULL, out, sizeof(out)));
}

static void test_equal(void **state)
{
	(void)state;
	assert_true(hexser_equal("e2:20:7f", "E2207F"));
	assert_false(hexser_equal("E2207F", "E2207E"));
	assert_false(hexser_equal("", ""));
	assert_false(hexser_equal("zz", "zz"));
}

static void test_time_str(void **state)
{
	char buf[32];

	(void)state;
	certinfo_time_str(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	certinfo_time_str(1424501159, buf, sizeof(buf)); /* the OKM audit log line */
	assert_string_equal(buf, "2015-02-21T06:45:59Z");
	certinfo_time_str(4102444800LL, buf, sizeof(buf)); /* past 2038, also on armhf */
	assert_string_equal(buf, "2100-01-01T00:00:00Z");
	certinfo_time_str(951782400, buf, sizeof(buf)); /* leap day */
	assert_string_equal(buf, "2000-02-29T00:00:00Z");
}

/* Where a PEM file of certificates stops parsing: the line of the block Mbed TLS refuses. */
static void test_pem_where(void **state)
{
	static const char bad[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	char path[1024], what[64], out[512];
	unsigned char *good = NULL, *both;
	size_t len = 0, lines = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/data/ca.pem",
	         getenv("KMA_SOURCE_DIR") ? getenv("KMA_SOURCE_DIR") : ".");
	f = fopen(path, "rb");
	assert_non_null(f);
	good = calloc(1, 65536);
	assert_non_null(good);
	len = fread(good, 1, 65535, f);
	fclose(f);
	for (size_t i = 0; i < len; i++)
		lines += good[i] == '\n';
	/* every block parses: nothing to point at */
	assert_int_equal(certinfo_pem_where(good, len, what, sizeof(what)), 0);
	assert_string_equal(what, "");
	/* a good certificate, then a bad one: the bad one's BEGIN line */
	both = calloc(1, len + sizeof(bad));
	assert_non_null(both);
	memcpy(both, good, len);
	memcpy(both + len, bad, sizeof(bad));
	assert_int_equal(certinfo_pem_where(both, len + sizeof(bad) - 1, what, sizeof(what)),
	                 (int)lines + 1);
	assert_string_equal(what, "certificate 2");
	certinfo_pem_error("b.pem", both, len + sizeof(bad) - 1, 1, out, sizeof(out));
	snprintf(path, sizeof(path), "b.pem:%zu: certificate 2: 1 of its certificates do not parse",
	         lines + 1);
	assert_string_equal(out, path);
	/* no block at all */
	assert_int_equal(
	    certinfo_pem_where((const unsigned char *)"garbage\n", 8, what, sizeof(what)), 0);
	assert_string_equal(what, "no '-----BEGIN CERTIFICATE-----' line");
	/* a block without its END line */
	assert_int_equal(certinfo_pem_where((const unsigned char *)bad, 33, what, sizeof(what)), 1);
	assert_string_equal(what, "certificate 1 (no END line)");
	free(both);
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_equal),     cmocka_unit_test(test_time_str),
	    cmocka_unit_test(test_pem_where),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
