#ifndef KMA_COORD_CONFIG_H
#define KMA_COORD_CONFIG_H

/*
 * kma-coord configuration (INI, default /etc/kma-coord/coord.conf):
 *
 *   [coord]
 *   listen = 0.0.0.0:8443              ADDR:PORT, IPv6 as [ADDR]:PORT
 *   db = /var/lib/kma-coord/coord.db   SQLite file (WAL next to it)
 *   cert = /etc/kma-coord/server.pem   server certificate chain (PEM)
 *   key = /etc/kma-coord/server.key    its private key (PEM); never logged
 *   ca = /etc/kma-coord/ca.pem         cluster CA (PEM): agents chain to it
 *   operator_ca = ...                  operator CA (PEM): kmactl users chain to it
 *   report_interval = 30               seconds between agent reports (1..3600)
 *   max_body = 65536                   largest request body in bytes (1024..16777216)
 *   max_connections = 8192             connections held at once (16..1000000); each agent
 *                                      keeps up to three (reports, its watch); mind the
 *                                      process's file limit (LimitNOFILE)
 *   max_connections_per_ip = 512       connections from one address (0..1000000, 0: no
 *                                      limit), so one host cannot take them all; agents
 *                                      behind one NAT share an address
 *   log_level = info                   err | warn | notice | info | debug
 *   ca_key = /etc/kma-coord/ca.key     the cluster CA's private key (PEM, mode 0600): with
 *                                      it the coordinator signs QuickStart enrolments;
 *                                      without it POST /v1/enroll answers 503. Never logged.
 *   token_ttl = 3600                   seconds an enrolment token is valid (60..604800)
 *   cert_days = 825                    validity of issued certificates in days (1..3650)
 *   cluster_id = kma                   named in enrolment replies (1..64 bytes)
 *   status_listen =                    ADDR:PORT of the read-only status page (plain HTTP,
 *                                      no authentication: loopback or a management network;
 *                                      coordinator/api/status.h); empty: no page
 *
 *   [recovery]
 *   stabilise = 60                     seconds the mesh must stay whole after a step (0..86400)
 *   step_timeout = 900                 seconds a step may wait before the plan pauses (5..86400)
 *   lease_ttl = 300                    seconds a disruptive directive's lease lasts (5..86400)
 *   min_serving = 1                    nodes that must keep serving while one is disrupted
 *   max_disrupted = 1                  nodes disrupted at once; only 1 is supported
 *
 *   [ha]                               high availability (docs/ha.md)
 *   store = sqlite                     sqlite: db is the state, this host alone; etcd: the
 *                                      state lives in etcd, db is this instance's replica,
 *                                      and one instance of several is active
 *   etcd_endpoints = https://127.0.0.1:2379, ...   the etcd cluster's client URLs
 *   etcd_ca = ...                      CA of the etcd members' certificates (PEM)
 *   etcd_cert = ...                    this instance's client certificate for etcd (PEM)
 *   etcd_key = ...                     its private key (PEM, mode 0600)
 *   etcd_prefix = /kma/                the keys this cluster's coordinators use
 *   advertise_url = https://...        how agents and kmactl reach this instance (what a
 *                                      standby tells them when this one is active)
 *   election_ttl = 5                   seconds an active instance that stopped renewing its
 *                                      leadership keeps it (2..60): the failover time
 *
 * Every key but cert, key, ca and operator_ca is optional; those four are required to
 * serve (coord_config_check says which is missing). Unknown sections and keys are errors.
 * That ca_key belongs to ca is checked when the CA is loaded (enroll_ca_load), which
 * --check-config does too.
 */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define COORD_TOKEN_TTL_DEFAULT  3600u
#define COORD_CERT_DAYS_DEFAULT  825u
#define COORD_CLUSTER_ID_DEFAULT "kma"

struct coord_config {
	char path[PATH_MAX];
	char listen[128];
	char status_listen[128]; /* "" when there is no status page */
	char db[PATH_MAX];
	char cert[PATH_MAX];
	char key[PATH_MAX];
	char ca[PATH_MAX];
	char operator_ca[PATH_MAX];
	char ca_key[PATH_MAX]; /* "" when this coordinator does not issue certificates */
	unsigned token_ttl_s;
	unsigned cert_days;
	char cluster_id[65];
	unsigned report_interval_s;
	unsigned max_body;
	unsigned max_connections, max_per_ip;
	enum log_level log_level;
	unsigned stabilise_s, step_timeout_s, lease_ttl_s, min_serving;
	bool etcd; /* [ha] store = etcd */
	char etcd_endpoints[1024];
	char etcd_ca[PATH_MAX], etcd_cert[PATH_MAX], etcd_key[PATH_MAX];
	char etcd_prefix[96];
	char advertise_url[512];
	unsigned election_ttl_s;
};

struct coord_config_error {
	char path[PATH_MAX];
	int line; /* 0 when the error is not tied to a line */
	char message[256];
};

/* Fills cfg with the built-in defaults. */
void coord_config_defaults(struct coord_config *cfg);

/*
 * Parses the file at path over cfg (call coord_config_defaults first). On error returns -1
 * and fills err with file, line and message; cfg may then be partially updated.
 */
int coord_config_load(struct coord_config *cfg, const char *path, struct coord_config_error *err)
    __attribute__((warn_unused_result));

/*
 * Cross-field rules after a successful load: the four PEM paths are set and listen parses.
 * Returns -1 with err filled (line 0) when not.
 */
int coord_config_check(const struct coord_config *cfg, struct coord_config_error *err)
    __attribute__((warn_unused_result));

/*
 * Splits "ADDR:PORT" or "[ADDR]:PORT" into host (size bytes) and port. Numeric
 * addresses only. Returns 0, or -1 when it does not parse.
 */
int coord_config_split_listen(const char *listen, char *host, size_t size, unsigned *port)
    __attribute__((warn_unused_result));

/*
 * How long without a report before the diagnosis calls a node silent, and before its
 * observations stop counting: three report intervals and 5 s of slack. The one formula.
 */
static inline int64_t coord_stale_after_s(unsigned report_interval_s)
{
	return 3 * (int64_t)report_interval_s + 5;
}

/* "ADDR:PORT" or "[ADDR]:PORT" as a socket address. 0, or -1 when it does not parse. */
struct sockaddr_storage;
int coord_config_sockaddr(const char *listen, struct sockaddr_storage *ss)
    __attribute__((warn_unused_result));

/*
 * A TCP socket bound to listen and listening (non-blocking, close-on-exec, SO_REUSEADDR; an
 * IPv6 address only for IPv6), for MHD_OPTION_LISTEN_SOCKET: its descriptor, or -1 with
 * why, e.g. "127.0.0.1:8443: Address already in use (another kma-coord, or the status
 * page, on that port?)".
 */
int coord_listen_open(const char *listen, char *why, size_t size)
    __attribute__((warn_unused_result));

#endif
