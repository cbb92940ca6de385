#include <curl/curl.h>
#include <getopt.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exitcodes.h"
#include "fileio.h"
#include "mbedcompat.h"
#include "quickstart.h"

/* A token from --token-file keeps it out of the process list and the shell history. */
static char *read_token(const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0;

	if (fileio_read_input(path, 4096, &buf, &len))
		return NULL;
	buf[strcspn((char *)buf, "\r\n")] = '\0';
	return (char *)buf;
}

int cli_quickstart(struct hal *hal, const struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"node-id", required_argument, NULL, 'n'},
	    {"token", required_argument, NULL, 't'},
	    {"token-file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *node_id = NULL, *token = NULL, *token_file = NULL;
	char *file_token = NULL, err[512];
	mbedtls_pk_context key;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			node_id = optarg;
			break;
		case 't':
			token = optarg;
			break;
		case 'f':
			token_file = optarg;
			break;
		case 'h':
			printf("usage: kma-agent quickstart --node-id ID (--token T | --token-file "
			       "F)\n");
			return KMA_EXIT_OK;
		default:
			return KMA_EXIT_USAGE;
		}
	}
	if (!node_id || !!token == !!token_file || optind != argc) {
		fprintf(stderr, "kma-agent: quickstart needs --node-id and one of --token, "
		                "--token-file\n");
		return KMA_EXIT_USAGE;
	}
	if (token_file && !(token = file_token = read_token(token_file))) {
		fprintf(stderr, "kma-agent: cannot read the token from %s\n", token_file);
		return KMA_EXIT_NOINPUT;
	}
	/* PSA Crypto for a libcurl on Mbed TLS 3.x (main.c says why). */
	if (kma_psa_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ret = KMA_EXIT_SOFTWARE;
		goto exit;
	}
	mbedtls_pk_init(&key);
	switch (quickstart_run(hal, cfg, node_id, token, &key, err, sizeof(err))) {
	case QUICKSTART_OK:
		ret = cli_identity_show(hal, false);
		break;
	case QUICKSTART_ERR_USAGE:
		ret = KMA_EXIT_USAGE;
		break;
	case QUICKSTART_ERR_UNREACHABLE:
		ret = KMA_EXIT_UNAVAILABLE;
		break;
	case QUICKSTART_ERR_REFUSED:
		ret = KMA_EXIT_FAILURE;
		break;
	case QUICKSTART_ERR_DATA:
		ret = KMA_EXIT_DATAERR;
		break;
	case QUICKSTART_ERR_HAL:
		ret = KMA_EXIT_IOERR;
		break;
	default:
		ret = KMA_EXIT_SOFTWARE;
		break;
	}
	mbedtls_pk_free(&key);
	if (ret != KMA_EXIT_OK && err[0])
		fprintf(stderr, "kma-agent: quickstart: %s\n", err);
	curl_global_cleanup();
exit:
	if (file_token) {
		mbedtls_platform_zeroize(file_token, strlen(file_token));
		free(file_token);
	}
	return ret;
}

int cli_factory_reset(struct hal *hal, int argc, char **argv)
{
	bool yes = argc > 1 && (strcmp(argv[1], "--yes") == 0 || strcmp(argv[1], "-y") == 0);
	char answer[8] = "";

	if (argc > 2 || (argc == 2 && !yes)) {
		fprintf(stderr, "usage: kma-agent factory-reset [--yes]\n");
		return KMA_EXIT_USAGE;
	}
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "kma-agent: factory-reset erases this node's identity; "
			                "give --yes when not at a terminal\n");
			return KMA_EXIT_USAGE;
		}
		printf("Erase this node's identity (key, certificate, enrolment)? "
		       "It must then be QuickStarted and rejoined. [y/N] ");
		fflush(stdout);
		if (!fgets(answer, sizeof(answer), stdin) ||
		    (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("nothing erased\n");
			return KMA_EXIT_FAILURE;
		}
	}
	if (hal_identity_erase(hal) != HAL_OK) {
		fprintf(stderr, "kma-agent: factory-reset: %s\n", hal->error);
		return KMA_EXIT_IOERR;
	}
	printf("identity erased: this node is unprovisioned\n");
	return KMA_EXIT_OK;
}
