#ifndef KMA_CTL_CTX_H
#define KMA_CTL_CTX_H

/*
 * What every kmactl verb runs with (struct ctl_ctx: the command line and the
 * configuration), and the helpers verbs share to ask the coordinator, read its answer,
 * say why it refused, and ask the operator. It sits below both the verb table (ctl_cmd.c)
 * and the verb modules (ctl_plan.c), so neither includes the other's header for them.
 */

#include <stdbool.h>

#include <json-c/json.h>

#include "ctl_config.h"
#include "ctl_http.h"
#include "urllist.h"

/*
 * etcdctl exits 2 for connection problems and Vault 2 for remote errors, and operators'
 * scripts already tell "cannot ask" from "the answer is no" that way. Only kmactl talks
 * to a remote service on an operator's behalf, so the value is not in exitcodes.h (where
 * the daemons would not use it).
 */
#define KMACTL_EXIT_REMOTE 2

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
	const char *config;          /* -c, else $KMACTL_CONFIG, else NULL for the default path */
	struct urllist urls;         /* --url (each given appends), n == 0 when none */
	const char *cert, *key, *ca; /* overrides, NULL when not given */
	enum ctl_output output;
	unsigned stale_s;
	const char *name, *address, *serial;
	bool yes, dry_run, watch;
	bool help; /* -h or --help: the help of the verb the operands name, else the global one */
	unsigned given; /* enum ctl_flag bits of the verb flags on the command line */
};

/* What a verb runs with: the command line and the configuration read after it. */
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

#endif
