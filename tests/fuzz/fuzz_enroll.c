/*
 * An enrolment request comes from a node that has no certificate yet: the body and the
 * CSR inside it are the least trusted input the coordinator reads. The first byte picks
 * the path: 0, the whole input is an EnrollRequest whose CSR is then checked for the node
 * it names; anything else, the rest is a CSR (DER) checked for node a-kma01.
 */

#include <string.h>

#include "enroll.h"
#include "fuzz.h"
#include "kma.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256] = "";

	if (size < 1)
		return 0;
	if (data[0] == 0) {
		Kma__V1__EnrollRequest *q =
		    kma__v1__enroll_request__unpack(NULL, size - 1, data + 1);

		if (!q)
			return 0;
		if (q->node_id && q->node_id[0] &&
		    enroll_csr_check(q->csr_der.data, q->csr_der.len, q->node_id, why,
		                     sizeof(why)) != ENROLL_OK)
			FUZZ_CHECK(why[0] != '\0');
		kma__v1__enroll_request__free_unpacked(q, NULL);
		return 0;
	}
	if (enroll_csr_check(data + 1, size - 1, "a-kma01", why, sizeof(why)) != ENROLL_OK)
		FUZZ_CHECK(why[0] != '\0');
	return 0;
}
