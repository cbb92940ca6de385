#ifndef KMA_CTL_NODES_H
#define KMA_CTL_NODES_H

/*
 * Nodes as GET /v1/nodes returns them, their health for `kmactl status`, and the node
 * table. Pure functions over the parsed JSON (unit-tested without a coordinator).
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_STALE_DEFAULT_S 90 /* three of the agents' default 30 s report intervals */

/* One node; the strings point into the JSON document it was parsed from. */
struct ctl_node {
	const char *id;
	const char *name;
	const char *address;
	const char *serial; /* "" when none is enrolled */
	bool reported;      /* a last report exists */
	int64_t at;         /* its time, Unix seconds */
	const char *state;  /* the identity state it carried, "" when absent */
	bool keys_known;    /* the report said how its key service is */
	bool keys_ok;
	const char *keys_detail;    /* "" when absent */
	const char *kmip_op;        /* the KMIP check's operation, NULL when none reported */
	int64_t kmip_ms;            /* its latency */
	char parts[96];             /* changed hardware parts, "board,disk", "" when none */
	const char *refused_serial; /* its reports come with this serial and are refused, or NULL */
	/* the coordinator's verdict (GET /v1/nodes "health"), the one every view shows */
	bool health_known, health_ok;
	const char *health_why; /* "" when healthy or unknown */
};

enum ctl_node_health {
	CTL_NODE_OK = 0,
	CTL_NODE_NEVER,     /* the node never reported */
	CTL_NODE_STALE,     /* the last report is older than the stale limit */
	CTL_NODE_BAD_STATE, /* the last report's identity state is not "enrolled" */
	CTL_NODE_KEYS_DOWN, /* its key service is not healthy */
	CTL_NODE_REFUSED,   /* it reports with a certificate that is not its enrolled one */
	CTL_NODE_UNHEALTHY, /* the coordinator's verdict: not healthy (health_why says why) */
	CTL_NODE_HEALTH_COUNT
};

/*
 * Parses a GET /v1/nodes document into a new array (*out, free() it; strings borrowed
 * from doc, which must outlive it). Returns 0, or -1 with why filled when doc does not
 * have the documented shape or memory runs out.
 */
int ctl_nodes_parse(json_object *doc, struct ctl_node **out, size_t *n, char *why, size_t size)
    __attribute__((warn_unused_result));

/* The node's health at now (Unix seconds), with reports older than stale_s seconds stale. */
enum ctl_node_health ctl_node_health(const struct ctl_node *node, int64_t now, unsigned stale_s);

/*
 * "ok", "never reported", "stale", "bad state", "key service down": also the JSON "health"
 * values.
 */
const char *ctl_node_health_id(enum ctl_node_health h);

/* An age in seconds as "42s", "3m12s", "5h3m" or "2d4h"; negative (clock skew) as "0s". */
void ctl_format_age(int64_t secs, char *buf, size_t size);

/*
 * A moment against now, for people: "in 23h59m (2026-12-03 14:00:00 UTC)", "12s ago
 * (...)", the date in UTC with its zone; 0 (unknown) as "never".
 */
void ctl_format_when(int64_t at, int64_t now, char *buf, size_t size);

/* A timestamp with its date and zone, in UTC: "2026-12-02 15:04:05 UTC". */
void ctl_format_date(int64_t at, char *buf, size_t size);

/*
 * Prints the node table (NODE, NAME, ADDRESS, SERIAL, LAST REPORT, STATE with the changed
 * hardware parts and, when with_health, KEY SERVICE and HEALTH) to out. 0, or -1 when out
 * of memory.
 */
int ctl_nodes_render(const struct ctl_node *nodes, size_t n, int64_t now, unsigned stale_s,
                     bool with_health, FILE *out) __attribute__((warn_unused_result));

#endif
