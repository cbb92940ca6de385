/*
 * kmactl: the operator's view of the cluster (status, mesh, diagnose, plan, run, ...).
 * This build only knows its version; the verbs land with the coordinator and recovery
 * issues.
 */

#include <getopt.h>
#include <stdio.h>

#include "exitcodes.h"

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'V':
			printf("kmactl %s\n", KMA_VERSION);
			return KMA_EXIT_OK;
		case 'h':
			printf("usage: kmactl [--version]\n");
			return KMA_EXIT_OK;
		default:
			return KMA_EXIT_USAGE;
		}
	}
	fprintf(stderr, "kmactl: no verbs are implemented in this build yet\n");
	return KMA_EXIT_UNAVAILABLE;
}
