/*
 * The agent configuration (agent/config.c config_load), through its public path-based
 * entry point: the input is the file, read from a memfd. A successful load must leave
 * every value in the range config.h documents; a failed one must say where and why.
 */

#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config cfg;
	struct config_error err;
	char path[64];
	int fd, rc;

	fd = fuzz_memfd(data, size, path, sizeof(path));
	config_defaults(&cfg);
	rc = config_load(&cfg, path, &err);
	close(fd);

	FUZZ_TERMINATED(err.path);
	FUZZ_TERMINATED(err.message);
	if (rc != 0) {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(err.line >= 0 && err.line <= fuzz_count_lines(data, size));
		return 0;
	}
	FUZZ_TERMINATED(cfg.state_dir);
	FUZZ_TERMINATED(cfg.board_name);
	FUZZ_TERMINATED(cfg.board_dir);
	FUZZ_TERMINATED(cfg.hal_root);
	FUZZ_TERMINATED(cfg.mesh_listen);
	FUZZ_TERMINATED(cfg.peers_file);
	FUZZ_CHECK(cfg.state_dir[0] && cfg.board_name[0] && cfg.board_dir[0] && cfg.hal_root[0]);
	FUZZ_CHECK(cfg.log_level >= LOG_LVL_ERR && cfg.log_level <= LOG_LVL_DEBUG);
	FUZZ_CHECK(cfg.hw_check_interval_s >= 1 && cfg.hw_check_interval_s <= 86400);
	FUZZ_CHECK(cfg.probe_interval_s >= 1 && cfg.probe_interval_s <= 86400);
	FUZZ_CHECK(cfg.probe_timeout_s >= 1 && cfg.probe_timeout_s <= 300);
	FUZZ_CHECK(cfg.max_handshakes >= 1 && cfg.max_handshakes <= 4096);
	FUZZ_CHECK(cfg.max_per_source >= 1 && cfg.max_per_source <= 4096);
	return 0;
}
