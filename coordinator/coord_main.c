/*
 * kma-coord: the cluster's single source of truth (reports, enrolment, mesh diagnosis,
 * recovery plans). This build only knows its version and the wire schema; serving lands
 * with the coordinator issue.
 */

#include <getopt.h>
#include <stdio.h>

#include "exitcodes.h"
#include "kma.pb-c.h"

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
			printf("kma-coord %s (wire schema %s)\n", KMA_VERSION,
			       kma__v1__agent_report__descriptor.package_name);
			return KMA_EXIT_OK;
		case 'h':
			printf("usage: kma-coord [--version]\n");
			return KMA_EXIT_OK;
		default:
			return KMA_EXIT_USAGE;
		}
	}
	fprintf(stderr, "kma-coord: serving is not implemented in this build yet\n");
	return KMA_EXIT_UNAVAILABLE;
}
