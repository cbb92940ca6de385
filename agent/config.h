#ifndef KMA_AGENT_CONFIG_H
#define KMA_AGENT_CONFIG_H

/*
 * kma-agent configuration (INI, default /etc/kma-agent/agent.conf):
 *
 *   [agent]
 *   state_dir = /var/lib/kma-agent     where the identity record lives
 *   log_level = info                   err | warn | notice | info | debug
 *   hw_check_interval = 60             seconds between hardware identity checks (1..86400)
 *   user =                             started as root: run the network-facing process as
 *                                      this user, with a privileged helper for the board's
 *                                      actions and the identity record (hal/privsep.h);
 *                                      empty: one process, as started
 *
 *   [board]
 *   name = sim                         a folder under dir
 *   dir  = /usr/share/kma-agent/boards where board definitions live
 *   root = /                           HAL root: "/" on hardware, the sim directory for sim
 *
 *   [mesh]
 *   listen = 0.0.0.0:9443              where peers' probes arrive (absent: do not listen)
 *   peers = /etc/kma-agent/peers.conf  static peer table (see agent/peers.h)
 *   probe_interval = 30                seconds between probes of a peer, +-20 % (1..86400)
 *   probe_timeout = 5                  deadline of one connect + handshake (1..300)
 *   max_handshakes = 64                inbound handshakes held at once (1..4096)
 *   max_per_source = 16                of those, from one address (1..4096)
 *   full_handshake_interval = 300      seconds (0..86400) between full, certificate-verifying
 *                                      handshakes with a peer; probes in between resume the
 *                                      TLS session (tickets) of the last one, which a
 *                                      restarted or re-keyed peer cannot. 0: never resume
 *
 *   [coordinator]
 *   url = https://coord.example:8443/  where reports go (empty: no coordinator); https only;
 *                                      up to 5, separated by commas and/or spaces: the
 *                                      instances of a coordinator with standbys, tried in
 *                                      order (common/urllist.h, docs/ha-clients.md)
 *   report_interval = 30               seconds between reports (1..3600); the coordinator
 *                                      may ask for another interval in its reply
 *   ca = /etc/kma-agent/coord-ca.pem   CA of the coordinator's server certificate (default:
 *                                      the cluster CA of our identity record)
 *
 * Every key is optional; unknown sections and keys are errors (a typo must not be ignored).
 */

#include <limits.h>

#include "board.h"
#include "log.h"
#include "urllist.h"

struct agent_config {
	char path[PATH_MAX];
	char state_dir[PATH_MAX];
	enum log_level log_level;
	unsigned hw_check_interval_s;
	char user[33]; /* empty: no privilege separation */
	char board_name[BOARD_NAME_MAX];
	char board_dir[PATH_MAX];
	char hal_root[PATH_MAX];
	char mesh_listen[128];
	char peers_file[PATH_MAX];
	unsigned probe_interval_s;
	unsigned probe_timeout_s;
	unsigned max_handshakes;
	unsigned max_per_source;
	unsigned full_handshake_interval_s; /* 0: every probe is a full handshake */
	struct urllist coord_urls;          /* n == 0: no coordinator */
	unsigned report_interval_s;
	char coord_ca[PATH_MAX];
};

struct config_error {
	char path[PATH_MAX];
	int line; /* 0 when the error is not tied to a line */
	char message[256];
};

/* Fills cfg with the built-in defaults. */
void config_defaults(struct agent_config *cfg);

/*
 * Parses the file at path over cfg (call config_defaults first). On error returns -1 and
 * fills err with file, line and message; cfg may then be partially updated.
 */
int config_load(struct agent_config *cfg, const char *path, struct config_error *err)
    __attribute__((warn_unused_result));

#endif
