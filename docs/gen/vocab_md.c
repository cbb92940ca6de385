/*
 * Writes docs/causes.md from the vocabulary table the programs use (common/vocab.def), so
 * the operator's reference cannot drift from what kma-agent, kma-coord and kmactl print.
 * `make docs` regenerates the file; the ctest docs_causes fails when the committed copy
 * differs from this output.
 */

#include <stdio.h>
#include <string.h>

#include "vocab.h"

/* Markdown table cell: a '|' would end the cell early. */
static void cell(const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else
			putchar(*s);
	}
}

int main(void)
{
	puts(
	    "<!-- Generated from common/vocab.def by docs/gen/vocab_md.c (make docs): do not edit. "
	    "-->\n");
	puts("# Failure causes and identity states\n");
	puts("Every probe between two appliances ends in exactly one **cause**. The identifiers "
	     "are a\npublic contract: `kma-agent probe` and `kma-agent mesh` print them, "
	     "`kmactl mesh` shows them\nin its matrix, `--json` output and the protobuf enum "
	     "`kma.v1.Cause` carry them, and the\ncoordinator's diagnosis combines them from both "
	     "directions of every pair to name the\nculprit node. `kma-agent causes [--json]` "
	     "prints this table from the same source.\n");
	puts("For what to do during an incident (diagnosis, recovery plan, manual steps), see "
	     "the runbook:\n[recovery.md](recovery.md).\n");
	puts("## Causes\n");
	puts("| cause | meaning | remedy |");
	puts("| --- | --- | --- |");
	for (int c = 1; c < KMA_CAUSE_COUNT; c++) {
		enum kma_cause cause = (enum kma_cause)c;

		printf("| `%s` | ", kma_cause_id(cause));
		cell(kma_cause_meaning(cause));
		fputs(" | ", stdout);
		cell(kma_cause_remedy(cause));
		puts(" |");
	}
	puts(
	    "\n`rejected_by_peer` keeps the TLS alert number the peer sent (42 bad_certificate, "
	    "44\nrevoked, 45 expired, 46 certificate_unknown, 48 unknown_ca, 49 access_denied, 40\n"
	    "handshake_failure, ...); the peer's own observation of the same handshake carries "
	    "the full\nX.509 verify flags.\n");
	puts("## Identity states\n");
	puts("What `kma-agent identity` and `kmactl status` say about a node's own identity.\n");
	puts("| state | meaning |");
	puts("| --- | --- |");
	for (int s = 1; s < KMA_STATE_COUNT; s++) {
		enum kma_state state = (enum kma_state)s;

		printf("| `%s` | ", kma_state_id(state));
		cell(kma_state_meaning(state));
		puts(" |");
	}
	return 0;
}
