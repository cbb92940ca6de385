#include "setup.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directive.h"
#include "exitcodes.h"
#include "fileio.h"
#include "log.h"
#include "mesh.h"
#include "peers.h"
#include "privsep.h"

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

int setup_privsep(const struct agent_config *cfg, struct hal *hal)
{
	static const char *const own_files[] = {DIRECTIVE_FILE, MESH_STATUS_FILE, NULL};
	const char *inherited = getenv(HAL_PRIVSEP_ENV);
	enum hal_status st;

	if (geteuid() != 0 && inherited && *inherited) {
		/* Re-executed after a simulated reboot: the helper is still there. */
		st = hal_privsep_attach(hal, inherited);
		if (st != HAL_OK) {
			fprintf(stderr, "kma-agent: %s\n", hal->error);
			return KMA_EXIT_SOFTWARE;
		}
		return KMA_EXIT_OK;
	}
	unsetenv(HAL_PRIVSEP_ENV); /* as root, nothing is inherited: the split is ours */
	if (!cfg->user[0])
		return KMA_EXIT_OK;
	if (geteuid() != 0) {
		log_notice("[agent] user = %s, but started as uid %u: one process, no helper",
		           cfg->user, (unsigned)geteuid());
		return KMA_EXIT_OK;
	}
	st = hal_privsep_split(hal, cfg->user, own_files);
	if (st != HAL_OK) {
		fprintf(stderr, "kma-agent: privilege separation: %s\n", hal->error);
		return st == HAL_ERR_INVALID ? KMA_EXIT_CONFIG : KMA_EXIT_IOERR;
	}
	return KMA_EXIT_OK;
}

int setup_check_user(const struct agent_config *cfg)
{
	if (cfg->user[0] && !getpwnam(cfg->user)) {
		fprintf(stderr, "kma-agent: [agent] user: no user %s on this system\n", cfg->user);
		return KMA_EXIT_CONFIG;
	}
	return KMA_EXIT_OK;
}

/* The coordinator's CA is a PEM bundle of a few certificates; tlsctx reads it the same way. */
#define COORD_CA_MAX (256 * 1024)

static void print_error(const struct config_error *err)
{
	if (err->line)
		fprintf(stderr, "kma-agent: %s:%d: %s\n", err->path, err->line, err->message);
	else
		fprintf(stderr, "kma-agent: %s: %s\n", err->path, err->message);
}

int setup_check_files(const struct agent_config *cfg)
{
	struct config_error err = {0};
	struct peer_table *t = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int e, ret = KMA_EXIT_CONFIG;

	snprintf(err.path, sizeof(err.path), "%s", cfg->path[0] ? cfg->path : "built-in defaults");
	if (cfg->peers_file[0]) {
		t = malloc(sizeof(*t));
		if (!t) {
			ret = KMA_EXIT_SOFTWARE;
			fprintf(stderr, "kma-agent: out of memory\n");
			goto exit;
		}
		if (peers_load(t, cfg->peers_file, &err) != 0) {
			print_error(&err);
			goto exit;
		}
	}
	snprintf(err.path, sizeof(err.path), "%s", cfg->path[0] ? cfg->path : "built-in defaults");
	err.line = 0;
	if (cfg->coord_ca[0]) {
		/* Without it the agent would run and never report: refused before that. */
		e = fileio_read_input(cfg->coord_ca, COORD_CA_MAX, &buf, &len);
		if (e || !strstr((const char *)buf, "-----BEGIN CERTIFICATE-----")) {
			snprintf(err.message, sizeof(err.message), "[coordinator] ca %.150s: %s",
			         cfg->coord_ca,
			         e == EFBIG ? "larger than 256 KiB"
			         : e        ? fileio_strerror(e)
			                    : "no PEM certificate in it");
			print_error(&err);
			goto exit;
		}
	}
	/* Where the HAL reads the board's hardware: a typo there is no running agent either. */
	if (stat(cfg->hal_root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err.message, sizeof(err.message), "[board] root %.150s: not a directory",
		         cfg->hal_root);
		print_error(&err);
		goto exit;
	}
	ret = KMA_EXIT_OK;
exit:
	free(t);
	free(buf);
	return ret;
}
