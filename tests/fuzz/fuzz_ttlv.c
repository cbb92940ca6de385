/*
 * A KMIP key service's answer is untrusted bytes read off the network: ttlv_decode checks
 * it whole, then kmip_parse_response reads the fields the check reports. Properties: every
 * item lies within the input and within its parent, the tree links are consistent, and a
 * decoded message encodes again to the same length with the same headers (corpus/ttlv:
 * PyKMIP's answers and requests, see tests/unit/test_kmip.c).
 */

#include "fuzz.h"
#include "kmip.h"
#include "ttlv.h"

#define ITEMS 256

/* Encodes items[0..n) again; returns the length (0 when it did not fit). */
static size_t reencode(const struct ttlv_item *it, size_t n, unsigned char *buf, size_t cap)
{
	struct ttlv_enc e;
	unsigned depth = 0;

	ttlv_enc_init(&e, buf, cap);
	for (size_t i = 0; i < n; i++) {
		while (depth > it[i].depth) {
			ttlv_end(&e);
			depth--;
		}
		switch (it[i].type) {
		case TTLV_STRUCTURE:
			ttlv_begin(&e, it[i].tag);
			depth++;
			break;
		case TTLV_TEXT:
			ttlv_put_text(&e, it[i].tag, (const char *)it[i].val, it[i].len);
			break;
		default:
			/* Same bytes, same length: the header's type is patched below. */
			ttlv_put_bytes(&e, it[i].tag, it[i].val, it[i].len);
			buf[e.len - ((it[i].len + 7) & ~7u) - 5] = it[i].type;
			break;
		}
	}
	while (depth-- > 0)
		ttlv_end(&e);
	return ttlv_enc_finish(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ttlv_item it[ITEMS];
	struct kmip_answer a;
	char why[160] = "", sum[200];
	size_t n = 0, off = 0;
	enum ttlv_status st = ttlv_decode(data, size, it, ITEMS, &n, &off);

	if (st != TTLV_OK) {
		FUZZ_CHECK(n == 0);
		FUZZ_CHECK(off <= size);
	} else {
		unsigned char *again = malloc(size ? size : 1);

		FUZZ_CHECK(n > 0 && n <= ITEMS);
		FUZZ_CHECK(it[0].parent == -1 && it[0].next == n);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(it[i].val >= data + TTLV_HEADER &&
			           it[i].val + it[i].len <= data + size);
			FUZZ_CHECK(it[i].next > i && it[i].next <= n);
			FUZZ_CHECK(it[i].type >= TTLV_STRUCTURE && it[i].type <= TTLV_INTERVAL);
			if (i > 0) {
				const struct ttlv_item *p = &it[it[i].parent];

				FUZZ_CHECK(it[i].parent >= 0 && (size_t)it[i].parent < i);
				FUZZ_CHECK(p->type == TTLV_STRUCTURE &&
				           it[i].depth == p->depth + 1);
				FUZZ_CHECK(it[i].val + it[i].len <= p->val + p->len);
				FUZZ_CHECK(it[i].next <= p->next);
			}
		}
		if (it[0].type == TTLV_STRUCTURE)
			FUZZ_CHECK(ttlv_message_size(data) == size);
		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK(reencode(it, n, again, size) == size);
		for (size_t i = 0; i < n; i++) {
			size_t at = (size_t)(it[i].val - data) - TTLV_HEADER;

			FUZZ_CHECK(memcmp(again + at, data + at, TTLV_HEADER) == 0);
		}
		free(again);
	}
	if (kmip_parse_response(data, size, &a, why, sizeof(why)) == 0) {
		FUZZ_TERMINATED(a.result_message);
		FUZZ_TERMINATED(a.vendor);
		FUZZ_TERMINATED(a.uid);
		FUZZ_CHECK(a.n_versions <= KMIP_VERSIONS_MAX);
		kmip_answer_summary(&a, sum, sizeof(sum));
		FUZZ_TERMINATED(sum);
	} else {
		FUZZ_CHECK(why[0] != '\0');
	}
	return 0;
}
