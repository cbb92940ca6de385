/*
 * What kma-coord does with a report body from the network before it trusts it: decode as
 * AgentReport, then the semantic validation (coordinator/core/report.c). A report that passes
 * must be within the documented limits.
 */

#include <string.h>

#include "fuzz.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	Kma__V1__AgentReport *r = kma__v1__agent_report__unpack(NULL, size, data);

	if (!r)
		return 0;
	if (report_validate(r, why, sizeof(why))) {
		FUZZ_CHECK(r->node_id && r->node_id[0]);
		FUZZ_CHECK(r->n_peers <= 256);
	} else {
		FUZZ_CHECK(why[0] != '\0');
	}
	kma__v1__agent_report__free_unpacked(r, NULL);
	return 0;
}
