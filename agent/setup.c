#include "setup.h"

#include <stdio.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"

int setup_config(struct agent_config *cfg, const char *path, bool explicit_path,
                 const char *level_arg)
{
	struct config_error err;
	enum log_level level;

	config_defaults(cfg);
	/* Without -c, a missing default file means built-in defaults (a fresh image). */
	if (explicit_path || access(path, F_OK) == 0) {
		if (config_load(cfg, path, &err) != 0) {
			if (err.line)
				fprintf(stderr, "kma-agent: %s:%d: %s\n", err.path, err.line,
				        err.message);
			else
				fprintf(stderr, "kma-agent: %s: %s\n", err.path, err.message);
			return KMA_EXIT_CONFIG;
		}
	}
	level = cfg->log_level;
	if (level_arg && !log_level_parse(level_arg, &level)) {
		fprintf(stderr, "kma-agent: unknown log level '%s'\n", level_arg);
		return KMA_EXIT_USAGE;
	}
	log_init("kma-agent", level);
	return KMA_EXIT_OK;
}

int setup_board(const struct agent_config *cfg, struct board *board)
{
	struct board_error err;

	if (board_load(cfg->board_dir, cfg->board_name, board, &err) != BOARD_OK) {
		if (err.line)
			fprintf(stderr, "kma-agent: board %s: %s:%d: %s\n", cfg->board_name,
			        err.path, err.line, err.message);
		else
			fprintf(stderr, "kma-agent: board %s: %s: %s\n", cfg->board_name, err.path,
			        err.message);
		return KMA_EXIT_CONFIG;
	}
	return KMA_EXIT_OK;
}

int setup_hal(const struct agent_config *cfg, const struct board *board, struct hal *hal)
{
	if (hal_open(hal, board, cfg->hal_root, cfg->state_dir) != HAL_OK) {
		fprintf(stderr, "kma-agent: HAL %s: %s\n", board->backend, hal->error);
		return KMA_EXIT_IOERR;
	}
	return KMA_EXIT_OK;
}
