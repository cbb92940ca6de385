/*
 * The identity record loader (hal/idstore.c idstore_decode): the bytes of identity.rec as
 * found on disk, which a power cut, a bad flash block or a person may have changed.
 *
 * Each input is decoded twice: as the whole file (magic, length, checksum, payload), and
 * as a payload that this harness frames with idstore_frame first, so that the protobuf
 * decode and the record checks behind the checksum are reached by every input, not only
 * by the rare one with a matching SHA-256. The framed decode must then agree with a plain
 * unpack of the payload.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "idstore.h"

/* A record idstore_decode gave out must be one that idstore_load may hand on. */
static void check_decoded(enum hal_status st, Kma__V1__IdentityRecord *rec, const char *why,
                          size_t why_size)
{
	FUZZ_CHECK(memchr(why, '\0', why_size) != NULL);
	if (st == HAL_OK) {
		FUZZ_CHECK(rec != NULL);
		FUZZ_CHECK(rec->version == IDSTORE_RECORD_VERSION);
		FUZZ_CHECK(rec->node_id != NULL && rec->node_id[0] != '\0');
	} else {
		FUZZ_CHECK(rec == NULL);
		FUZZ_CHECK(why[0] != '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Kma__V1__IdentityRecord *rec = NULL, *plain = NULL;
	uint8_t *framed = NULL;
	size_t framed_len;
	enum hal_status st;
	char why[256];
	bool usable;

	st = idstore_decode(data, size, &rec, why, sizeof(why));
	check_decoded(st, rec, why, sizeof(why));
	if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
	rec = NULL;

	if (idstore_frame(data, size, &framed, &framed_len) != HAL_OK)
		goto exit; /* larger than a record may be */
	st = idstore_decode(framed, framed_len, &rec, why, sizeof(why));
	check_decoded(st, rec, why, sizeof(why));
	plain = kma__v1__identity_record__unpack(NULL, size, data);
	usable = plain && plain->version == IDSTORE_RECORD_VERSION && plain->node_id &&
	         plain->node_id[0];
	FUZZ_CHECK((st == HAL_OK) == usable);
exit:
	if (plain)
		kma__v1__identity_record__free_unpacked(plain, NULL);
	if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
	free(framed);
	return 0;
}
