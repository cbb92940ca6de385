#ifndef KMA_AGENT_CLI_H
#define KMA_AGENT_CLI_H

/* Sub-commands of kma-agent other than the daemon; each returns a KMA_EXIT_* status. */

#include "config.h"
#include "hal.h"

/* `identity [--json]`: board identity and identity state. */
int cli_identity_show(struct hal *hal, bool json);

/* `identity import --key F --cert F --ca F [--node-id ID]`. */
int cli_identity_import(struct hal *hal, int argc, char **argv);

/* `causes [--json]`: the cause vocabulary with meaning and remedy. */
int cli_causes(bool json);

#endif
