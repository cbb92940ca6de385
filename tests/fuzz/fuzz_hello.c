/*
 * The ClientHello inspector (agent/classify.c): the body of the first handshake record a
 * connecting peer sends, before any authentication. Input: the handshake message, from
 * its type byte on. Also the record-start test the classifier applies to a peer's first
 * bytes.
 */

#include "classify.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int r = classify_hello_offers_tls12(data, size);

	FUZZ_CHECK(r >= -1 && r <= 1);
	(void)classify_looks_like_tls(data, size);
	return 0;
}
