#ifndef KMA_AGENT_CLI_H
#define KMA_AGENT_CLI_H

/* Sub-commands of kma-agent other than the daemon; each returns a KMA_EXIT_* status. */

#include "config.h"
#include "hal.h"
#include "identity.h"

/* `identity [--json]`: board identity and identity state. */
int cli_identity_show(struct hal *hal, bool json);

/*
 * What an identity_assess status means for a command that needs the identity: said on
 * stderr with the remedy; KMA_EXIT_DATAERR for a record that is there but unusable,
 * KMA_EXIT_IOERR when it cannot be read, else KMA_EXIT_OK.
 */
int cli_identity_problem(enum identity_status st, const struct identity_view *v);

/* `identity import --key F --cert F --ca F [--node-id ID]`. */
int cli_identity_import(struct hal *hal, int argc, char **argv);

/*
 * `probe [--ca F --cert F --key F] [--crl F] [--config F] [--expect-id ID]
 * [--expect-serial HEX] [--timeout S] [--json] HOST:PORT` and `probe --accept ADDR:PORT
 * --once [...]`. argv[0] is "probe". Without --cert/--key/--ca the node's identity record
 * (through the configuration) is used. Exit 0 only for cause ok.
 */
int cli_probe(int argc, char **argv, const char *config_path, bool explicit_config,
              const char *level_arg);

/*
 * `mesh [--json]`: the last observation of every peer, both directions, as the running
 * agent recorded it. Exit 0 when every peer is ok, 1 otherwise, 66 without a mesh.
 */
int cli_mesh(struct hal *hal, bool json);

/* `quickstart --node-id ID (--token T | --token-file F)`: enrol a fresh key. */
int cli_quickstart(struct hal *hal, const struct agent_config *cfg, int argc, char **argv);

/* `factory-reset [--yes]`: erase the identity record through the HAL, and only it. */
int cli_factory_reset(struct hal *hal, int argc, char **argv);

/*
 * `kmip [--address H:P] [--operation OP] [--uid UID] [--cert F --key F --ca F]
 * [--server-name NAME] [--timeout S] [--json]`: the board's KMIP check of the key service, once
 * (kmipcheck.h); options replace the board's [kmip] values. Exit 0 only for a successful answer.
 */
int cli_kmip(struct hal *hal, int argc, char **argv);

/* `causes [--json]`: the cause vocabulary with meaning and remedy. */
int cli_causes(bool json);

#endif
