#ifndef KMA_AGENT_SETUP_H
#define KMA_AGENT_SETUP_H

/* What every agent command that touches the node does first: config, board, HAL. */

#include <stdbool.h>

#include "board.h"
#include "config.h"
#include "hal.h"

/*
 * Loads the configuration (built-in defaults when path is the default and missing),
 * overrides its log level with level_arg if given, and initialises logging. Prints the
 * error (file:line) and returns a KMA_EXIT_* status on failure.
 */
int setup_config(struct agent_config *cfg, const char *path, bool explicit_path,
                 const char *level_arg);

/* Loads cfg's board definition; prints file:line and returns KMA_EXIT_CONFIG on error. */
int setup_board(const struct agent_config *cfg, struct board *board);

/* Opens the board's HAL; prints why and returns KMA_EXIT_IOERR on error. */
int setup_hal(const struct agent_config *cfg, const struct board *board, struct hal *hal);

/*
 * For "run": splits the HAL (hal/privsep.h) when cfg names a user and we are root, or
 * attaches to the helper a re-executed agent inherited. Prints why and returns a
 * KMA_EXIT_* status on failure.
 */
int setup_privsep(const struct agent_config *cfg, struct hal *hal);

/*
 * --check-config and run: what a running agent needs beyond the file's syntax. The [mesh]
 * peers table parses (no duplicate peer, every port 1..65535), the [coordinator] ca file
 * is a readable PEM certificate bundle, [board] root is a directory. The node's identity
 * is not looked at: it is missing by design until QuickStart. Prints file:line and returns
 * KMA_EXIT_CONFIG on error.
 */
int setup_check_files(const struct agent_config *cfg);

/* --check-config: the user [agent] user names exists. */
int setup_check_user(const struct agent_config *cfg);

#endif
