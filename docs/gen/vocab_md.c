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
	puts("## Key-service checks (KMIP)\n");
	puts("A board that declares `[kmip]` (boards.md) has its agent send the key service one "
	     "KMIP request\nover mutual TLS at every hardware check; the key service counts as "
	     "serving keys only\nafter a successful answer. `kma-agent kmip`, `kmactl status "
	     "--json` (`key_service.kmip`) and\nthe protobuf enum `kma.v1.KmipResult` carry the "
	     "result; a gate that waits on the key\nservice shows its detail.\n");
	puts("| result | meaning | remedy |");
	puts("| --- | --- | --- |");
	for (int r = 1; r < KMA_KMIP_RESULT_COUNT; r++) {
		enum kma_kmip_result res = (enum kma_kmip_result)r;

		printf("| `%s` | ", kma_kmip_result_id(res));
		cell(kma_kmip_result_meaning(res));
		fputs(" | ", stdout);
		cell(kma_kmip_result_remedy(res));
		puts(" |");
	}
	puts("\nA node whose peers get `tcp_refused` is diagnosed `node_refused`; when its agent "
	     "measured a\nfull accept queue or dropped connections on its key service's port or "
	     "its own listener,\nthe finding says so beside the peers' views: `a-kma02's key "
	     "service on port 5696: accept\nqueue 128/128 (full), 4,211 connections dropped in "
	     "the last minute`.\n");
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
