#ifndef KMA_AGENT_DAEMON_H
#define KMA_AGENT_DAEMON_H

/*
 * The agent's run mode: one event loop (libevent, monotonic clock) owns time. Modules
 * register descriptors and deadlines with it; nothing sleeps in a callback.
 *
 * The loop re-reads the hardware identity every hw_check_interval seconds (and at once on
 * SIGHUP) and reports what changed; a worker thread (agent/health.h) checks the key service
 * on the same interval, since that check may block. SIGTERM and SIGINT stop it cleanly.
 */

#include <stdbool.h>

#include "config.h"
#include "hal.h"

/*
 * Runs until SIGTERM/SIGINT, or until a directive's simulated reboot (hal_reboot_reexecs),
 * when *reexec is set: the caller then releases what it holds and re-executes the agent,
 * which comes back with the new boot ID. Returns a KMA_EXIT_* status.
 */
int daemon_run(struct hal *hal, const struct agent_config *cfg, bool *reexec);

#endif
