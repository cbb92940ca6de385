#ifndef KMA_HAL_PRIVSEP_H
#define KMA_HAL_PRIVSEP_H

/*
 * Privilege separation of the HAL, after the OpenBSD daemons: the agent's network-facing
 * process runs as an unprivileged user, and a small helper process that keeps root does
 * the operations of the board's backend that need it: reading the hardware identity
 * (root-only serials), storing, loading and erasing the identity record, rebooting,
 * restarting and checking the key service.
 *
 * The two talk over a SOCK_SEQPACKET socket pair, one request and one answer at a time.
 * A request is a fixed header (type, payload length) and a payload whose length is checked
 * against its type before anything is read from it; the only request with a variable
 * payload is the identity record to store, which must decode and pass the record checks.
 * Anything else is refused with HAL_ERR_INVALID, logged, and the helper goes on. The
 * helper exits when the socket closes (the agent stopped or died).
 *
 * The agent's side keeps its struct hal: hal->ops becomes a proxy whose privileged
 * operations are requests, while time, randomness and the sim's test faults (wedge,
 * crash points) stay local. The state directory becomes root:<user's group> mode 1770:
 * sticky, so the agent can keep its own files there (the directive record, mesh.json) but
 * can neither read nor remove nor replace the helper's identity record.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal.h"

/* Environment variable that carries the agent's ends across a re-exec (simulated reboot). */
#define HAL_PRIVSEP_ENV "KMA_PRIVSEP_FDS"

/* Largest request or answer: the identity record (IDSTORE_MAX) and a header. */
#define HAL_PRIVSEP_MSG_MAX (256 * 1024 + 1024)

enum hal_privsep_req {
	HAL_PS_HWID = 1,
	HAL_PS_BOOT_ID,
	HAL_PS_ID_LOAD,
	HAL_PS_ID_STORE, /* payload: the packed Kma__V1__IdentityRecord */
	HAL_PS_ID_ERASE,
	HAL_PS_REBOOT,
	HAL_PS_SERVICE_RESTART,
	HAL_PS_HEALTH,
	HAL_PS_REQ_END
};

struct hal_privsep_hdr {
	uint32_t type;
	uint32_t len; /* payload bytes after the header */
};

struct hal_privsep_answer {
	int32_t status; /* enum hal_status */
	int32_t errnum;
	uint32_t error_len; /* hal->error text (no NUL), then data_len bytes of result */
	uint32_t data_len;
};

/*
 * Called as root in the agent, with hal open, before any thread exists. Forks the helper
 * (which keeps hal's backend), makes hal a proxy, hands the state directory over (see
 * above; files[] are the agent's own files there, given to user when they exist) and
 * drops to user: supplementary groups, gid, uid, no new privileges. Returns HAL_OK or an
 * error in hal->error with nothing split (the helper is stopped again).
 */
enum hal_status hal_privsep_split(struct hal *hal, const char *user, const char *const *files)
    __attribute__((warn_unused_result));

/*
 * After a re-exec of the agent (a simulated reboot) as the unprivileged user: makes hal
 * (opened again) a proxy for the helper that is still running, whose descriptors value
 * (HAL_PRIVSEP_ENV) names. HAL_ERR_NOT_FOUND when value is NULL or empty.
 */
enum hal_status hal_privsep_attach(struct hal *hal, const char *value)
    __attribute__((warn_unused_result));

/*
 * A descriptor that becomes readable (end of file) when the helper has exited, for the
 * agent's event loop; -1 when the HAL is not split.
 */
int hal_privsep_lifeline(void);

/*
 * The helper's decision on one request (exposed for tests and the fuzzer): checks the len
 * bytes of msg as received and runs the request on hal's backend. Writes the answer into
 * out (at most out_size bytes) and returns its length. Never fails: a malformed request
 * gets a HAL_ERR_INVALID answer that says why, and reaches no operation.
 */
size_t hal_privsep_serve_one(struct hal *hal, const uint8_t *msg, size_t len, uint8_t *out,
                             size_t out_size);

#endif
