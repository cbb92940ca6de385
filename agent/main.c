/*
 * kma-agent: holds and checks a key-management appliance's identity, and (as later issues
 * land) probes its peers and reports to the coordinator.
 *
 * Lifecycle: parse the command line, load the configuration and the board definition,
 * open the HAL, run the command, close in reverse order.
 */

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "board.h"
#include "cli.h"
#include "cli_help.h"
#include "config.h"
#include "daemon.h"
#include "exitcodes.h"
#include "hal.h"
#include "identity.h"
#include "keyguard.h"
#include "log.h"
#include "mbedcompat.h"
#include "setup.h"

#ifndef KMA_DEFAULT_CONFIG
#define KMA_DEFAULT_CONFIG "/etc/kma-agent/agent.conf"
#endif

/*
 * After a simulated reboot: the same program with the same arguments and pid, as a real
 * appliance's supervisor would start it after a reboot, so it comes back with the new boot
 * ID. Everything the daemon opened is closed by now; descriptors libraries left are
 * close-on-exec.
 */
static int reexec_self(char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	fflush(NULL);
	/* The program's path first: tools that run us (valgrind) answer readlink with it,
	 * while exec of /proc/self/exe would start the tool itself. */
	if (n > 0) {
		self[n] = '\0';
		execv(self, argv);
	}
	execv("/proc/self/exe", argv); /* e.g. the file was replaced by an upgrade */
	log_errno(LOG_LVL_ERR, errno, "cannot restart after the simulated reboot: exec");
	return KMA_EXIT_SOFTWARE;
}

static bool want_json(int argc, char **argv, int first)
{
	for (int i = first; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0)
			return true;
	return false;
}

/*
 * --check-config: an identity record that is there but unusable (no usable previous copy
 * either) is refused, 65, with the remedy: the daemon would run without an identity. No
 * record is fine (before QuickStart); a HAL that cannot open here (another user) is said and
 * not held against the configuration.
 */
static int check_identity(const struct agent_config *cfg, const struct board *board)
{
	struct hal hal = {0};
	struct identity_view v;
	enum identity_status st;

	if (hal_open(&hal, board, cfg->hal_root, cfg->state_dir) != HAL_OK) {
		printf("identity not checked: HAL %s: %s\n", board->backend, hal.error);
		return KMA_EXIT_OK;
	}
	st = identity_assess(&hal, &v);
	hal_close(&hal);
	return cli_identity_problem(st, &v);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"log-level", required_argument, NULL, 'l'},
	    {"check-config", no_argument, NULL, 'C'}, {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *config_path = KMA_DEFAULT_CONFIG;
	const char *level_arg = NULL;
	bool explicit_config = false, check_only = false;
	const char *cmd = "run";
	struct agent_config cfg;
	struct board board;
	struct hal hal = {0};
	bool reexec = false;
	/* Before any key is read: no core file of ours holds one. */
	int dumps = keyguard_no_dumps();
	int ret, c;

	/* "+": options after the command belong to the command. */
	while ((c = getopt_long(argc, argv, "+c:l:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			explicit_config = true;
			break;
		case 'l':
			level_arg = optarg;
			break;
		case 'C':
			check_only = true;
			break;
		case 'V':
			/* The libraries as loaded, not as compiled against: what an image carries.
			 */
			printf("kma-agent %s (Mbed TLS %s, %s)\n", KMA_VERSION,
			       kma_mbedtls_version(), curl_version());
			return KMA_EXIT_OK;
		case 'h':
			return cli_help(argc - optind, argv + optind, stdout, KMA_DEFAULT_CONFIG);
		default:
			fprintf(stderr, "kma-agent: usage error (try kma-agent --help)\n");
			return KMA_EXIT_USAGE;
		}
	}
	if (optind < argc)
		cmd = argv[optind];
	/* help needs no configuration: `kma-agent help probe`, `kma-agent probe --help` */
	if (strcmp(cmd, "help") == 0)
		return cli_help(argc - optind - 1, argv + optind + 1, stdout, KMA_DEFAULT_CONFIG);
	if (!cli_help_known(cmd)) {
		cli_help_unknown(cmd);
		return KMA_EXIT_USAGE;
	}
	if (cli_help_asked(argc, argv, optind + 1))
		return cli_help(argc - optind, argv + optind, stdout, KMA_DEFAULT_CONFIG);

	if (strcmp(cmd, "causes") == 0)
		return cli_causes(want_json(argc, argv, optind + 1));
	if (strcmp(cmd, "probe") == 0)
		return cli_probe(argc - optind, argv + optind, config_path, explicit_config,
		                 level_arg);

	ret = setup_config(&cfg, config_path, explicit_config, level_arg);
	if (ret)
		return ret;
	if (dumps)
		log_errno(LOG_LVL_WARN, dumps, "keys may reach a core dump");
	ret = setup_board(&cfg, &board);
	if (ret)
		return ret;
	/* A broken table or a missing CA is refused before the daemon runs without them. */
	if (check_only || strcmp(cmd, "run") == 0) {
		ret = setup_check_files(&cfg);
		if (ret)
			return ret;
	}
	if (check_only) {
		ret = setup_check_user(&cfg);
		if (ret)
			return ret;
		ret = check_identity(&cfg, &board);
		if (ret)
			return ret;
		printf("%s: ok (board %s, HAL backend %s, state in %s)\n",
		       explicit_config || access(config_path, F_OK) == 0 ? config_path
		                                                         : "built-in defaults",
		       board.name, board.backend, cfg.state_dir);
		return KMA_EXIT_OK;
	}

	ret = setup_hal(&cfg, &board, &hal);
	if (ret)
		goto exit;

	if (strcmp(cmd, "identity") == 0) {
		if (optind + 1 < argc && strcmp(argv[optind + 1], "import") == 0)
			ret = cli_identity_import(&hal, argc - optind - 1, argv + optind + 1);
		else if (optind + 1 < argc && !want_json(argc, argv, optind + 1)) {
			fprintf(stderr, "kma-agent: identity: unexpected '%s'\n", argv[optind + 1]);
			ret = KMA_EXIT_USAGE;
		} else
			ret = cli_identity_show(&hal, want_json(argc, argv, optind + 1));
	} else if (strcmp(cmd, "quickstart") == 0) {
		ret = cli_quickstart(&hal, &cfg, argc - optind, argv + optind);
	} else if (strcmp(cmd, "factory-reset") == 0) {
		ret = cli_factory_reset(&hal, argc - optind, argv + optind);
	} else if (strcmp(cmd, "mesh") == 0) {
		ret = cli_mesh(&hal, want_json(argc, argv, optind + 1));
	} else if (strcmp(cmd, "kmip") == 0) {
		ret = cli_kmip(&hal, argc - optind, argv + optind);
	} else {
		/* Before any thread exists: the helper is forked, and libcurl asks for it. */
		ret = setup_privsep(&cfg, &hal);
		if (ret)
			goto exit;
		/* A libcurl on Mbed TLS 3.x shares its PSA Crypto, which its TLS 1.3 needs and
		 * which curl before 8.x does not initialise. */
		if (kma_psa_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "kma-agent: libcurl initialisation failed\n");
			ret = KMA_EXIT_SOFTWARE;
			goto exit;
		}
		ret = daemon_run(&hal, &cfg, &reexec);
		curl_global_cleanup();
	}
exit:
	hal_close(&hal);
	if (reexec)
		return reexec_self(argv);
	return ret;
}
