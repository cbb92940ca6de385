#ifndef KMA_CTL_CMD_H
#define KMA_CTL_CMD_H

/*
 * kmactl's verbs: one table names each verb, its arguments, the flags it takes and its
 * summary; the dispatcher, the usage checks and `kmactl --help` all read it.
 *
 * Exit statuses (common/exitcodes.h, plus KMACTL_EXIT_REMOTE in ctl_ctx.h):
 *   0  ok / healthy
 *   1  the answer is "not healthy", or the coordinator refused the request (4xx)
 *   2  cannot reach, or authenticate to, the coordinator (connection or TLS error), or it
 *      failed (5xx, unreadable answer)
 *   64 usage, 66 a certificate, key, CA or named configuration file is missing,
 *   69 the coordinator does not offer the feature, 78 configuration error
 */

#include <stdio.h>

#include "ctl_config.h"
#include "ctl_ctx.h"

#ifndef KMACTL_DEFAULT_CONFIG /* set by the build from the install prefix */
#define KMACTL_DEFAULT_CONFIG "/etc/kma-agent/kmactl.conf"
#endif

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
