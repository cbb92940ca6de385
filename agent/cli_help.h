#ifndef KMA_AGENT_CLI_HELP_H
#define KMA_AGENT_CLI_HELP_H

/*
 * kma-agent's help: one table names every command, its usage, what it does, its options and
 * examples; `kma-agent --help`, `kma-agent help [COMMAND]`, `kma-agent COMMAND --help` and the
 * "did you mean" of an unknown command all read it. Nothing here needs the configuration.
 */

#include <stdbool.h>
#include <stdio.h>

/* The global help: usage, every command with its one-line summary, options, exit statuses. */
void cli_help_global(FILE *out, const char *default_config);

/*
 * The help of the command that words (the operands after the program's options, e.g.
 * {"identity", "import"}) name: KMA_EXIT_OK. Words that name no command: said on stderr
 * with the nearest command, KMA_EXIT_USAGE. No words: the global help.
 */
int cli_help(int argc, char **argv, FILE *out, const char *default_config);

/* Whether cmd names a command (its first word: "identity" for "identity import"). */
bool cli_help_known(const char *cmd);

/* Says on stderr that cmd is no command, with the nearest one when there is one. */
void cli_help_unknown(const char *cmd);

/* Whether -h or --help is among argv[first..argc-1] (before a "--"). */
bool cli_help_asked(int argc, char **argv, int first);

#endif
