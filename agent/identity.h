#ifndef KMA_AGENT_IDENTITY_H
#define KMA_AGENT_IDENTITY_H

/*
 * The node's identity as the agent sees it: hardware now versus hardware enrolled, the
 * identity record, its own certificate, and the resulting state (SPEC 2.3).
 */

#include <stdbool.h>

#include "certinfo.h"
#include "hal.h"
#include "hexser.h"
#include "nodeid.h"
#include "vocab.h"

enum identity_status {
	IDENTITY_OK = 0,
	IDENTITY_ERR_HAL,     /* hardware identity or boot ID unreadable */
	IDENTITY_ERR_CORRUPT, /* record present, neither it nor its backup usable */
	IDENTITY_ERR_IO,      /* record could not be read */
};

struct identity_view {
	enum kma_state state;
	struct hal_hwid hw;          /* read now */
	struct hal_hwid enrolled_hw; /* recorded at QuickStart / import */
	uint8_t hw_fp[HAL_FP_LEN];
	unsigned parts_changed; /* bits (1u << KMA_PART_x) */
	char boot_id[HAL_BOOT_ID];

	bool has_record;
	bool from_backup;         /* the current record was bad; the previous one was used */
	char record_problem[512]; /* why the record was rejected, when it was */
	char node_id[KMA_NODE_ID_SIZE];
	uint32_t generation;
	char enrolled_serial[KMA_SERIAL_SIZE]; /* what the cluster last said it enrolled for us */
	bool has_cert;
	struct certinfo cert;
	bool cert_expired;
	bool cert_not_yet_valid;
	int64_t now;
};

/*
 * Reads the hardware identity and the identity record through the HAL and works out the
 * state. On IDENTITY_ERR_CORRUPT the view still holds the hardware identity, state is
 * UNPROVISIONED and record_problem says what is wrong.
 */
enum identity_status identity_assess(struct hal *hal, struct identity_view *view)
    __attribute__((warn_unused_result));

/* The state from the facts in view (exposed for tests). */
enum kma_state identity_state_of(const struct identity_view *view);

/* Comma-separated part names of a parts_changed mask ("board,disk"), "" for none. */
void identity_parts_str(unsigned parts, char *buf, size_t size);

#endif
