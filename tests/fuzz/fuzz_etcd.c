/*
 * kma-coord's etcd client (coordinator/store/etcd.c) reading the gateway's answers: the
 * whole-answer JSON check and each operation's decoder, without the network. The first
 * byte picks the decoder, the rest is the answer's body:
 *
 *   0 range   1 txn   2 lease grant   3 lease keepalive   4 a header only (put, delete,
 *   revoke)   5 a refusal's reason (a 4xx body)
 *
 * Properties: a decoder's ETCD_ERROR comes with a reason and leaves nothing allocated (ASan
 * sees leaks); a range's keys are non-empty C strings and its values are followed by a
 * NUL; every OK answer has a positive revision; a grant's lease and TTL and a keepalive's
 * TTL are positive; a refusal's reason is printable.
 */

#include "fuzz.h"

#include "../../coordinator/store/etcd.c"

static void check_range(struct json_object *o)
{
	struct range_out r = {0};
	const char *why = NULL;
	size_t i;

	if (decode_range(o, &r, &why) != ETCD_OK) {
		FUZZ_CHECK(!r.kv && r.n == 0 && why);
		return;
	}
	FUZZ_CHECK(r.revision > 0 && (r.n == 0) == (r.kv == NULL));
	for (i = 0; i < r.n; i++)
		FUZZ_CHECK(r.kv[i].key && r.kv[i].key[0] && r.kv[i].value &&
		           r.kv[i].value[r.kv[i].value_len] == '\0');
	etcd_kvs_free(r.kv, r.n);
}

static void check_decoders(uint8_t which, struct json_object *o)
{
	struct lease_out l = {42, 0};
	const char *why = NULL;
	int64_t rev = 0;
	char reason[LOG_SHOWN_MAX + 1];
	enum etcd_status st;
	size_t i;

	switch (which % 6) {
	case 0:
		check_range(o);
		return;
	case 1:
		st = decode_txn(o, &rev, &why);
		FUZZ_CHECK(st == ETCD_ERROR || rev > 0);
		break;
	case 2:
		st = decode_grant(o, &l, &why);
		FUZZ_CHECK(st != ETCD_OK || (l.id != 0 && l.ttl > 0));
		break;
	case 3:
		st = decode_keepalive(o, &l, &why);
		FUZZ_CHECK(st != ETCD_OK || l.ttl > 0);
		break;
	case 4:
		st = decode_header(o, &rev, &why);
		FUZZ_CHECK(st == ETCD_ERROR || rev > 0);
		break;
	default:
		refusal_text(o, reason, sizeof(reason), &rev);
		for (i = 0; reason[i]; i++)
			FUZZ_CHECK(reason[i] >= 0x20 && reason[i] <= 0x7e);
		return;
	}
	FUZZ_CHECK((st == ETCD_ERROR) == (why != NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answer a = {0};
	struct json_object *o;

	if (size < 1)
		return 0;
	log_init("fuzz_etcd", LOG_LVL_ERR);
	a.len = size - 1;
	a.cap = a.len + 1;
	a.buf = malloc(a.cap);
	if (!a.buf)
		return 0;
	memcpy(a.buf, data + 1, a.len);
	a.buf[a.len] = '\0';
	o = answer_parse(&a);
	if (o)
		check_decoders(data[0], o);
	json_object_put(o);
	free(a.buf);
	return 0;
}
