/*
 * The privileged helper's decision on one request (hal/privsep.c hal_privsep_serve_one):
 * the bytes a compromised network-facing process may send it. The backend is a stand-in
 * that only counts calls, so every input reaches the decision and nothing touches a file.
 *
 * Properties: the answer is framed exactly (header, error text, data); a request that is
 * not well-formed (short, a length that is not what arrived, an unknown type, a payload
 * where none belongs, a record that does not decode) is refused with HAL_ERR_INVALID and
 * reaches no operation; a well-formed one reaches exactly one.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "idstore.h"
#include "privsep.h"

static unsigned calls;

static enum hal_status f_hwid(struct hal *hal, struct hal_hwid *out)
{
	(void)hal;
	calls++;
	strcpy(out->board_serial, "BSN");
	return HAL_OK;
}

static enum hal_status f_boot_id(struct hal *hal, char *buf, size_t size)
{
	(void)hal;
	calls++;
	snprintf(buf, size, "boot");
	return HAL_OK;
}

static enum hal_status f_load(struct hal *hal, Kma__V1__IdentityRecord **out,
                              struct hal_load_info *info)
{
	(void)info;
	calls++;
	*out = NULL;
	snprintf(hal->error, sizeof(hal->error), "no identity record");
	return HAL_ERR_NOT_FOUND;
}

static enum hal_status f_store(struct hal *hal, const Kma__V1__IdentityRecord *rec)
{
	(void)hal;
	calls++;
	return rec->node_id && rec->node_id[0] ? HAL_OK : HAL_ERR_INVALID;
}

static enum hal_status f_plain(struct hal *hal)
{
	(void)hal;
	calls++;
	return HAL_OK;
}

static enum hal_status f_health(struct hal *hal, struct hal_health *out)
{
	(void)hal;
	calls++;
	out->healthy = true;
	return HAL_OK;
}

static const struct hal_ops fake_ops = {
    .name = "fuzz",
    .read_hwid = f_hwid,
    .boot_id = f_boot_id,
    .identity_load = f_load,
    .identity_store = f_store,
    .identity_erase = f_plain,
    .reboot = f_plain,
    .service_restart = f_plain,
    .health_check = f_health,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[HAL_PRIVSEP_MSG_MAX];
	struct hal hal = {.ops = &fake_ops};
	struct hal_privsep_hdr h = {0};
	struct hal_privsep_answer a;
	Kma__V1__IdentityRecord *rec = NULL;
	bool well_formed;
	size_t n;

	if (size > HAL_PRIVSEP_MSG_MAX)
		return 0; /* the helper refuses these before deciding (recv's MSG_TRUNC) */
	calls = 0;
	n = hal_privsep_serve_one(&hal, data, size, out, sizeof(out));
	FUZZ_CHECK(n >= sizeof(a) && n <= sizeof(out));
	memcpy(&a, out, sizeof(a));
	FUZZ_CHECK(n == sizeof(a) + a.error_len + a.data_len);
	FUZZ_CHECK(a.status >= HAL_OK && a.status <= HAL_ERR_COMMAND);

	if (size >= sizeof(h))
		memcpy(&h, data, sizeof(h));
	well_formed = size >= sizeof(h) && h.len == size - sizeof(h) && h.type > 0 &&
	              h.type < HAL_PS_REQ_END && (h.type == HAL_PS_ID_STORE || h.len == 0);
	if (well_formed && h.type == HAL_PS_ID_STORE) {
		rec = h.len && h.len <= IDSTORE_MAX
		          ? kma__v1__identity_record__unpack(NULL, h.len, data + sizeof(h))
		          : NULL;
		well_formed = rec != NULL;
	}
	if (!well_formed) {
		FUZZ_CHECK(a.status == HAL_ERR_INVALID && a.error_len > 0 && a.data_len == 0);
		FUZZ_CHECK(calls == 0);
	} else {
		FUZZ_CHECK(calls == 1);
		if (h.type == HAL_PS_ID_STORE)
			FUZZ_CHECK((a.status == HAL_OK) ==
			           (rec->node_id && rec->node_id[0] != '\0'));
	}
	if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
	return 0;
}
