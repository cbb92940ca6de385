#ifndef KMA_CTL_CMD_H
#define KMA_CTL_CMD_H

/*
 * kmactl's verbs: one table names each verb, its arguments, the flags it takes and its
 * summary; the dispatcher, the usage checks and `kmactl --help` all read it.
 *
 * Exit statuses (common/exitcodes.h, plus KMACTL_EXIT_REMOTE):
 *   0  ok / healthy
 *   1  the answer is "not healthy", or the coordinator refused the request (4xx)
 *   2  cannot reach, or authenticate to, the coordinator (connection or TLS error), or it
 *      failed (5xx, unreadable answer)
 *   64 usage, 66 a certificate, key, CA or named configuration file is missing,
 *   69 the coordinator does not offer the feature, 78 configuration error
 */

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "ctl_config.h"
#include "ctl_http.h"

/*
 * etcdctl exits 2 for connection problems and Vault 2 for remote errors, and operators'
 * scripts already tell "cannot ask" from "the answer is no" that way. Only kmactl talks
 * to a remote service on an operator's behalf, so the value is not in exitcodes.h (where
 * the daemons would not use it).
 */
#define KMACTL_EXIT_REMOTE 2

#ifndef KMACTL_DEFAULT_CONFIG /* set by the build from the install prefix */
#define KMACTL_DEFAULT_CONFIG "/etc/kma-agent/kmactl.conf"
#endif

enum ctl_output {
	CTL_OUT_TABLE = 0,
	CTL_OUT_JSON,
};

/* Flags a verb may take (global flags are always allowed). */
enum ctl_flag {
	CTL_FLAG_STALE = 1u << 0,
	CTL_FLAG_NAME = 1u << 1,
	CTL_FLAG_ADDRESS = 1u << 2,
	CTL_FLAG_SERIAL = 1u << 3,
	CTL_FLAG_YES = 1u << 4,
	CTL_FLAG_DRY_RUN = 1u << 5,
	CTL_FLAG_WATCH = 1u << 6,
};

/* Everything the command line said, before the configuration is read. */
struct ctl_opts {
	const char *config; /* -c, else $KMACTL_CONFIG, else NULL for the default path */
	const char *url, *cert, *key, *ca; /* overrides, NULL when not given */
	enum ctl_output output;
	unsigned stale_s;
	const char *name, *address, *serial;
	bool yes, dry_run, watch;
	bool help; /* -h or --help: the help of the verb the operands name, else the global one */
	unsigned given; /* enum ctl_flag bits of the verb flags on the command line */
};

struct ctl_verb;

/*
 * Finds the verb named by the first words of argv (argc words, the operands after the
 * options) and checks its operand count and the flags given. Returns the verb and sets
 * *nwords (words naming it), or NULL after printing a usage error to err.
 */
const struct ctl_verb *ctl_cmd_find(int argc, char **argv, const struct ctl_opts *opts, int *nwords,
                                    FILE *err);

/*
 * Runs verb with its operands (argv after the verb's words) against the coordinator of
 * cfg. Prints results to stdout and problems to stderr; returns the exit status.
 */
int ctl_cmd_run(const struct ctl_verb *verb, char **args, const struct ctl_opts *opts,
                const struct ctl_config *cfg);

/* ---- for the verb modules (ctl_plan.c) ---- */

struct ctl_ctx {
	const struct ctl_opts *opts;
	const struct ctl_config *cfg;
};

/* Sends the request; 0 when an HTTP answer arrived (any status), else the exit status. */
int ctl_transport(const struct ctl_ctx *c, const char *method, const char *path, const char *json,
                  struct ctl_http_reply *r);
/* Says why the coordinator did not do it; 1 for a refusal (4xx), 2 for its failure. */
int ctl_refused(const char *method, const char *path, const struct ctl_http_reply *r);
/* The reply's body as one JSON value into *doc; 0 or the exit status. */
int ctl_parse(const char *path, const struct ctl_http_reply *r, json_object **doc);
/* GET path into *doc; 0 or the exit status after saying why. */
int ctl_get_json(const struct ctl_ctx *c, const char *path, json_object **doc);
void ctl_print_json(json_object *doc);
/* Whether id is a node ID the coordinator accepts; ctl_bad_node_id says it is not (64). */
bool ctl_node_id_ok(const char *id);
int ctl_bad_node_id(const char *id);
/* At a terminal asks question [y/N]; true only for y or yes. */
bool ctl_ask(const char *question);

/* The full help: synopsis, verbs (from the table), options, exit statuses. */
void ctl_cmd_help(FILE *out);

/*
 * `kmactl help [WORDS]` and `kmactl WORDS --help`: the global help for no words, the help
 * of the verb they name (usage, what it does, its options, examples), or of the node verbs
 * for "node" alone; KMA_EXIT_OK. Words that name nothing: said on err with the nearest verb,
 * KMA_EXIT_USAGE.
 */
int ctl_cmd_help_for(int argc, char **argv, FILE *out, FILE *err);

#endif
