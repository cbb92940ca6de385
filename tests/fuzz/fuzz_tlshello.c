/*
 * The reader of a server's answer to a version follow-up probe (agent/tlshello.c): the first
 * records a peer sends back to our hand-built ClientHello, before any authentication.
 * Input: those bytes. Also builds a hello for the version the first byte picks (random from
 * the input), which must read back as what it offers and never as a server's answer.
 */

#include "classify.h"
#include "fuzz.h"
#include "tlshello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlshello_answer a, again;
	enum tlshello_kind k = tlshello_parse_answer(data, size, &a);
	unsigned char hello[TLSHELLO_HELLO_MAX], random[32] = {0};
	unsigned version;
	size_t n;

	FUZZ_CHECK(k == a.kind);
	FUZZ_CHECK(k >= TLSHELLO_MORE && k <= TLSHELLO_BAD);
	if (k == TLSHELLO_SERVER_HELLO)
		FUZZ_CHECK(a.version >> 8 == 3 && a.suite <= 0xFFFF);
	if (k == TLSHELLO_ALERT)
		FUZZ_CHECK(a.alert >= 0 && a.alert <= 255);
	/* A verdict rests on the bytes before it: bytes after it change nothing. */
	if (k == TLSHELLO_SERVER_HELLO || k == TLSHELLO_ALERT) {
		uint8_t *more = malloc(size + 16);

		FUZZ_CHECK(more != NULL);
		memcpy(more, data, size);
		memset(more + size, 0xA5, 16);
		FUZZ_CHECK(tlshello_parse_answer(more, size + 16, &again) == k);
		FUZZ_CHECK(again.version == a.version && again.alert == a.alert &&
		           again.retry == a.retry);
		free(more);
	}

	version = TLSHELLO_TLS10 + (size ? data[0] % TLSHELLO_N : 0);
	memcpy(random, data, size < sizeof(random) ? size : sizeof(random));
	n = tlshello_build(version, random, hello, sizeof(hello));
	FUZZ_CHECK(n > 5 && n <= sizeof(hello));
	FUZZ_CHECK(classify_hello_offers_tls12(hello + 5, n - 5) ==
	           (version == TLSHELLO_TLS13 ? 0 : -1));
	FUZZ_CHECK(tlshello_parse_answer(hello, n, &a) == TLSHELLO_BAD);
	return 0;
}
