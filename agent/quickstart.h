#ifndef KMA_AGENT_QUICKSTART_H
#define KMA_AGENT_QUICKSTART_H

/*
 * QuickStart: a fresh ECDSA P-256 key (randomness from the HAL), a CSR for the node ID,
 * enrolment at the coordinator with a one-time token (POST /v1/enroll, see
 * docs/protocol.md), then the returned certificate is checked and the identity stored
 * atomically, enrolled with its new serial.
 */

#include <mbedtls/pk.h>
#include <stddef.h>

#include "config.h"
#include "hal.h"
#include "provision.h"

enum quickstart_status {
	QUICKSTART_OK = 0,
	QUICKSTART_ERR_USAGE,       /* bad node ID, no coordinator configured */
	QUICKSTART_ERR_UNREACHABLE, /* the coordinator could not be reached */
	QUICKSTART_ERR_REFUSED,     /* the coordinator refused (token, CSR): err says why */
	QUICKSTART_ERR_DATA,        /* the reply is unusable */
	QUICKSTART_ERR_HAL,         /* storing failed */
	QUICKSTART_ERR_INTERNAL,
};

/*
 * Runs a QuickStart with key (mbedtls_pk_init'ed by the caller, who frees it): a new key is
 * generated into it when it holds none, and the one it holds is used otherwise. A try that
 * ends QUICKSTART_ERR_UNREACHABLE may have used the token at the coordinator with the answer
 * lost on the way: tried again with the same token and the same key, it gets the same
 * certificate (docs/protocol.md), so the caller keeps the key for the retries of one
 * QuickStart and frees it after. The token is never logged. err says what went wrong.
 */
enum quickstart_status quickstart_run(struct hal *hal, const struct agent_config *cfg,
                                      const char *node_id, const char *token,
                                      mbedtls_pk_context *key, char *err, size_t size)
    __attribute__((warn_unused_result));

#endif
