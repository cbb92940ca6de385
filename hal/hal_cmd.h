#ifndef KMA_HAL_CMD_H
#define KMA_HAL_CMD_H

/*
 * Runs a board's command line (reboot, service restart, health check) without a shell:
 * the line is split on white space and run with PATH lookup, stdin from /dev/null, stdout
 * and stderr captured, in its own process group so a timeout kills all of it.
 *
 * Blocks until the command exits or the timeout passes: board commands are short, and the
 * agent calls them from its directive handler, not from the probe loop. The caller must not
 * have set SIGCHLD to SIG_IGN (the exit status would be lost).
 */

#include <stdbool.h>
#include <stddef.h>

#include "hal.h"

#define HAL_CMD_MAX_ARGS 32

struct hal_cmd_result {
	int exit_code;    /* exit status when the command exited, else -1 */
	int term_signal;  /* signal that ended it, else 0 */
	bool timed_out;   /* killed after the timeout */
	char output[256]; /* first non-empty line of stdout and stderr together */
};

/*
 * HAL_OK when the command ran (whatever its exit status: see res); HAL_ERR_INVALID for an
 * empty or too long command line; HAL_ERR_COMMAND when it could not be started (not found,
 * not executable); HAL_ERR_IO for pipe, poll or wait failures. hal->error explains.
 */
enum hal_status hal_cmd_run(struct hal *hal, const char *cmdline, unsigned timeout_s,
                            struct hal_cmd_result *res) __attribute__((warn_unused_result));

/* "exited with status 3", "killed by signal 9", "timed out after 10 s" into buf. */
void hal_cmd_describe(const struct hal_cmd_result *res, unsigned timeout_s, char *buf, size_t size);

#endif
