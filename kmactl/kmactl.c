/*
 * kmactl: the operator's view of the cluster through kma-coord's operator API (status,
 * nodes, mesh, diagnose). The verbs live in ctl_cmd.c; main parses the command line,
 * reads the configuration and runs one verb.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_config.h"
#include "ctl_http.h"
#include "ctl_nodes.h"
#include "exitcodes.h"
#include "suggest.h"
#include "urllist.h"

enum {
	OPT_URL = 256,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_JSON,
	OPT_STALE,
	OPT_NAME,
	OPT_ADDRESS,
	OPT_SERIAL,
	OPT_YES,
	OPT_DRY_RUN,
	OPT_WATCH,
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "kmactl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try kmactl --help)\n");
	return KMA_EXIT_USAGE;
}

/* Says that arg is no option, with the nearest long option when there is one; 64. */
static int unknown_option(const char *arg, const struct option *longopts)
{
	const char *known[32];
	char name[SUGGEST_WORD_MAX + 1];
	const char *near;
	size_t n = 0;

	if (strncmp(arg, "--", 2) != 0)
		return usage_error("unknown option %s", arg);
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
	for (; longopts[n].name && n < sizeof(known) / sizeof(known[0]); n++)
		known[n] = longopts[n].name;
	near = suggest_nearest(name, known, n);
	if (!near)
		return usage_error("unknown option %s", arg);
	fprintf(stderr, "kmactl: unknown option %s; did you mean --%s?\n", arg, near);
	return KMA_EXIT_USAGE;
}

/* Parses the options into opts; KMA_EXIT_OK, -1 after --version, or 64. */
static int parse_options(int argc, char **argv, struct ctl_opts *opts)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"url", required_argument, NULL, OPT_URL},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"ca", required_argument, NULL, OPT_CA},
	    {"write-out", required_argument, NULL, 'w'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"stale", required_argument, NULL, OPT_STALE},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"address", required_argument, NULL, OPT_ADDRESS},
	    {"serial", required_argument, NULL, OPT_SERIAL},
	    {"yes", no_argument, NULL, OPT_YES},
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"watch", no_argument, NULL, OPT_WATCH},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	char *end, why[200];
	unsigned long v;
	int c;

	opterr = 0; /* our own messages, with the exit status the tests expect */
	while ((c = getopt_long(argc, argv, ":c:w:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->config = optarg;
			break;
		case OPT_URL:
			if (urllist_add(&opts->urls, optarg, why, sizeof(why)) != 0)
				return usage_error("--url: %s", why);
			break;
		case OPT_CERT:
			opts->cert = optarg;
			break;
		case OPT_KEY:
			opts->key = optarg;
			break;
		case OPT_CA:
			opts->ca = optarg;
			break;
		case 'w':
			if (strcmp(optarg, "json") == 0)
				opts->output = CTL_OUT_JSON;
			else if (strcmp(optarg, "table") == 0)
				opts->output = CTL_OUT_TABLE;
			else
				return usage_error("-w '%s': use table or json", optarg);
			break;
		case OPT_JSON:
			opts->output = CTL_OUT_JSON;
			break;
		case OPT_STALE:
			v = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || optarg[0] == '-' || v < 1 || v > 86400)
				return usage_error("--stale '%s': seconds from 1 to 86400", optarg);
			opts->stale_s = (unsigned)v;
			opts->given |= CTL_FLAG_STALE;
			break;
		case OPT_NAME:
			opts->name = optarg;
			opts->given |= CTL_FLAG_NAME;
			break;
		case OPT_ADDRESS:
			opts->address = optarg;
			opts->given |= CTL_FLAG_ADDRESS;
			break;
		case OPT_SERIAL:
			opts->serial = optarg;
			opts->given |= CTL_FLAG_SERIAL;
			break;
		case OPT_YES:
			opts->yes = true;
			opts->given |= CTL_FLAG_YES;
			break;
		case OPT_WATCH:
			opts->watch = true;
			opts->given |= CTL_FLAG_WATCH;
			break;
		case OPT_DRY_RUN:
			opts->dry_run = true;
			opts->given |= CTL_FLAG_DRY_RUN;
			break;
		case 'h':
			opts->help = true;
			break;
		case 'V':
			printf("kmactl %s\n", KMA_VERSION);
			return -1;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			return unknown_option(argv[optind - 1], longopts);
		}
	}
	return KMA_EXIT_OK;
}

/* Copies a command-line path over the file's; false when it does not fit. */
static bool override(char *dst, size_t size, const char *value)
{
	if (!value)
		return true;
	if (strlen(value) >= size)
		return false;
	memcpy(dst, value, strlen(value) + 1);
	return true;
}

int main(int argc, char **argv)
{
	struct ctl_opts opts = {.stale_s = CTL_STALE_DEFAULT_S};
	struct ctl_config cfg;
	struct ctl_config_error err;
	const struct ctl_verb *verb;
	enum ctl_config_status st;
	const char *path, *env = getenv("KMACTL_CONFIG");
	char msg[2 * PATH_MAX + 300], urls[URLLIST_MAX * (URLLIST_URL_SIZE + 2)];
	int ret, nwords;
	bool named;

	ret = parse_options(argc, argv, &opts);
	if (ret != KMA_EXIT_OK)
		return ret < 0 ? KMA_EXIT_OK : ret;
	/* help needs no configuration: `kmactl help node add`, `kmactl node add --help` */
	if (optind < argc && strcmp(argv[optind], "help") == 0)
		return ctl_cmd_help_for(argc - optind - 1, argv + optind + 1, stdout, stderr);
	if (opts.help)
		return ctl_cmd_help_for(argc - optind, argv + optind, stdout, stderr);
	verb = ctl_cmd_find(argc - optind, argv + optind, &opts, &nwords, stderr);
	if (!verb)
		return KMA_EXIT_USAGE;

	/* -c, then $KMACTL_CONFIG: both name a file that must exist; the default may not */
	named = opts.config || (env && env[0]);
	path = opts.config ? opts.config : named ? env : KMACTL_DEFAULT_CONFIG;
	ctl_config_init(&cfg);
	st = ctl_config_load(&cfg, path, named, &err);
	if (st == CTL_CONFIG_NOINPUT || st == CTL_CONFIG_INVALID) {
		ctl_config_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "kmactl: %s\n", msg);
		return st == CTL_CONFIG_NOINPUT ? KMA_EXIT_NOINPUT : KMA_EXIT_CONFIG;
	}
	if (opts.urls.n)
		urllist_text(&opts.urls, urls, sizeof(urls));
	if (!override(cfg.url, sizeof(cfg.url), opts.urls.n ? urls : NULL) ||
	    !override(cfg.cert, sizeof(cfg.cert), opts.cert) ||
	    !override(cfg.key, sizeof(cfg.key), opts.key) ||
	    !override(cfg.ca, sizeof(cfg.ca), opts.ca))
		return usage_error("%s", "a --url, --cert, --key or --ca value is too long");
	st = ctl_config_check(&cfg, &err);
	if (st != CTL_CONFIG_OK) {
		ctl_config_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "kmactl: %s\n", msg);
		return st == CTL_CONFIG_NOINPUT ? KMA_EXIT_NOINPUT : KMA_EXIT_CONFIG;
	}

	if (ctl_http_global_init() != 0) {
		fprintf(stderr, "kmactl: cannot initialise libcurl\n");
		return KMA_EXIT_SOFTWARE;
	}
	ret = ctl_cmd_run(verb, argv + optind + nwords, &opts, &cfg);
	ctl_http_global_cleanup();
	return ret;
}
