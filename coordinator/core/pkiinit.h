#ifndef KMA_COORD_PKIINIT_H
#define KMA_COORD_PKIINIT_H

/*
 * `kma-coord init`: a cluster's first day, the way `kubeadm init phase certs` does it. Into
 * one directory it writes, with P-256 keys made here (0600) and certificates signed here:
 *
 *   cluster-ca.pem, cluster-ca.key    the cluster CA: signs every node's certificate at
 *                                     enrolment (kma-coord's ca and ca_key) and its CRL; every
 *                                     node trusts it ([coordinator] ca in agent.conf)
 *   coord.pem, coord.key              kma-coord's TLS certificate, from the cluster CA:
 *                                     serverAuth, a subjectAltName for each --host
 *   operator-ca.pem, operator-ca.key  the operator CA (kma-coord's operator_ca); its key is
 *                                     needed only to add operators, and belongs offline
 *   OPERATOR.pem, OPERATOR.key        the first operator's certificate (clientAuth)
 *   coord.conf, kmactl.conf           configurations naming all of these
 *
 * Nothing is overwritten: when any of these files exists, nothing is written at all. The
 * directory is made (0700) when it does not exist. No network, no store.
 */

#include <stdio.h>

#define PKIINIT_HOSTS_MAX 8

struct pkiinit_params {
	const char *dir;
	const char *cluster;  /* the cluster's name: certificate subjects, cluster_id */
	const char *operator; /* the first operator's name (its certificate's CN) */
	const char *hosts[PKIINIT_HOSTS_MAX]; /* names and addresses of kma-coord (SAN) */
	size_t n_hosts;
	const char *listen; /* kma-coord's [coord] listen, NULL: its default */
	const char *db;     /* its database, NULL: its default */
	unsigned port;      /* the port kmactl.conf's url names */
	unsigned days;      /* validity of the coordinator's and operator's certificates */
	unsigned ca_days;   /* of the two CAs */
};

/*
 * `kma-coord init [options]` (argv[0] is "init"): parses the options, writes everything
 * (pkiinit_write) and prints on out what was made and the commands that come next. Returns
 * a KMA_EXIT_* status; errors are said on stderr.
 */
int pkiinit_main(int argc, char **argv, FILE *out);

/*
 * Writes everything p says into p->dir; 0, or -1 with why (the file, what went wrong)
 * and nothing written (a file written before a later failure is removed again).
 */
int pkiinit_write(const struct pkiinit_params *p, char *why, size_t size)
    __attribute__((warn_unused_result));

#endif
