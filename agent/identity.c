#include "identity.h"

#include <stdio.h>
#include <string.h>

#include "hexser.h"

enum kma_state identity_state_of(const struct identity_view *view)
{
	if (!view->has_record)
		return KMA_STATE_UNPROVISIONED;
	/* A changed board outranks enrolment: the cluster's view of us is stale either way. */
	if (view->parts_changed)
		return KMA_STATE_HARDWARE_CHANGED;
	if (view->enrolled_serial[0] == '\0' || !view->has_cert)
		return KMA_STATE_PROVISIONED;
	if (!hexser_equal(view->cert.serial, view->enrolled_serial))
		return KMA_STATE_NOT_ENROLLED;
	return KMA_STATE_ENROLLED;
}

void identity_parts_str(unsigned parts, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int p = 1; p < KMA_PART_COUNT; p++) {
		int n;

		if (!(parts & (1u << p)))
			continue;
		n = snprintf(buf + used, size - used, "%s%s", used ? "," : "",
		             kma_part_id((enum kma_part)p));
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
}

static void view_from_record(struct identity_view *view, const Kma__V1__IdentityRecord *rec)
{
	view->has_record = true;
	snprintf(view->node_id, sizeof(view->node_id), "%s", rec->node_id);
	view->generation = rec->generation;
	if (rec->enrolled_serial)
		hexser_normalize(rec->enrolled_serial, view->enrolled_serial,
		                 sizeof(view->enrolled_serial));
	if (rec->enrolled_hardware)
		hal_hwid_from_msg(rec->enrolled_hardware, &view->enrolled_hw);
	view->parts_changed = hal_hwid_diff(&view->enrolled_hw, &view->hw);
	if (rec->n_cert_chain_der > 0 &&
	    certinfo_from_der(rec->cert_chain_der[0].data, rec->cert_chain_der[0].len,
	                      &view->cert)) {
		view->has_cert = true;
		view->cert_expired = view->now > view->cert.not_after;
		view->cert_not_yet_valid = view->now < view->cert.not_before;
	}
}

enum identity_status identity_assess(struct hal *hal, struct identity_view *view)
{
	enum identity_status ret = IDENTITY_ERR_HAL;
	Kma__V1__IdentityRecord *rec = NULL;
	struct hal_load_info info = {0};
	enum hal_status st;

	memset(view, 0, sizeof(*view));
	view->now = hal_time_real(hal);
	if (hal_read_hwid(hal, &view->hw) != HAL_OK)
		goto exit;
	hal_hwid_fingerprint(&view->hw, view->hw_fp);
	if (hal_boot_id(hal, view->boot_id, sizeof(view->boot_id)) != HAL_OK)
		view->boot_id[0] = '\0'; /* informational only */

	st = hal_identity_load(hal, &rec, &info);
	switch (st) {
	case HAL_OK:
		view->from_backup = info.from_backup;
		snprintf(view->record_problem, sizeof(view->record_problem), "%s", info.detail);
		view_from_record(view, rec);
		ret = IDENTITY_OK;
		break;
	case HAL_ERR_NOT_FOUND:
		ret = IDENTITY_OK;
		break;
	case HAL_ERR_CORRUPT:
		snprintf(view->record_problem, sizeof(view->record_problem), "%s", hal->error);
		ret = IDENTITY_ERR_CORRUPT;
		break;
	default:
		snprintf(view->record_problem, sizeof(view->record_problem), "%s", hal->error);
		ret = IDENTITY_ERR_IO;
		break;
	}
	view->state = identity_state_of(view);
exit:
	if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
	return ret;
}
