#include "ctl_nodes.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_table.h"

static const char *string_member(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int ctl_nodes_parse(json_object *doc, struct ctl_node **out, size_t *n, char *why, size_t size)
{
	json_object *arr, *last, *v;
	struct ctl_node *nodes = NULL;
	size_t count;
	int ret = -1;

	*out = NULL;
	*n = 0;
	if (!doc || !json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "nodes", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		snprintf(why, size, "the coordinator's answer lacks the nodes array");
		goto exit;
	}
	count = json_object_array_length(arr);
	nodes = calloc(count ? count : 1, sizeof(*nodes));
	if (!nodes) {
		snprintf(why, size, "out of memory");
		goto exit;
	}
	for (size_t i = 0; i < count; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		struct ctl_node *nd = &nodes[i];

		nd->id = string_member(o, "node_id");
		nd->name = string_member(o, "name");
		nd->address = string_member(o, "address");
		nd->serial = string_member(o, "enrolled_serial");
		if (!nd->id) {
			snprintf(why, size, "node %zu has no node_id", i + 1);
			goto exit;
		}
		nd->name = nd->name ? nd->name : "";
		nd->address = nd->address ? nd->address : "";
		nd->serial = nd->serial ? nd->serial : "";
		nd->state = "";
		nd->health_why = "";
		if (json_object_object_get_ex(o, "health", &v) &&
		    json_object_is_type(v, json_type_object)) {
			json_object *h;

			nd->health_known = true;
			nd->health_ok = json_object_object_get_ex(v, "healthy", &h) &&
			                json_object_get_boolean(h);
			nd->health_why = string_member(v, "why");
			nd->health_why = nd->health_why ? nd->health_why : "";
		}
		if (json_object_object_get_ex(o, "reports_refused", &v) &&
		    json_object_is_type(v, json_type_object)) {
			nd->refused_serial = string_member(v, "serial");
			nd->refused_serial = nd->refused_serial ? nd->refused_serial : "?";
		}
		if (!json_object_object_get_ex(o, "last_report", &last) ||
		    !json_object_is_type(last, json_type_object))
			continue; /* null: never reported */
		if (!json_object_object_get_ex(last, "at", &v) ||
		    !json_object_is_type(v, json_type_int)) {
			snprintf(why, size, "node %s: last_report has no time", nd->id);
			goto exit;
		}
		nd->reported = true;
		nd->at = json_object_get_int64(v);
		nd->state = string_member(last, "state");
		nd->state = nd->state ? nd->state : "";
		if (json_object_object_get_ex(last, "key_service", &v) &&
		    json_object_is_type(v, json_type_object)) {
			json_object *h;

			nd->keys_known = true;
			nd->keys_ok = json_object_object_get_ex(v, "healthy", &h) &&
			              json_object_get_boolean(h);
			nd->keys_detail = string_member(v, "detail");
			if (json_object_object_get_ex(v, "kmip", &h) &&
			    json_object_is_type(h, json_type_object)) {
				json_object *ms;

				nd->kmip_op = string_member(h, "operation");
				if (json_object_object_get_ex(h, "latency_ms", &ms))
					nd->kmip_ms = json_object_get_int64(ms);
			}
		}
		nd->keys_detail = nd->keys_detail ? nd->keys_detail : "";
		if (json_object_object_get_ex(last, "parts_changed", &v) &&
		    json_object_is_type(v, json_type_array)) {
			for (size_t p = 0; p < json_object_array_length(v); p++) {
				const char *part =
				    json_object_get_string(json_object_array_get_idx(v, p));
				size_t used = strlen(nd->parts);

				snprintf(nd->parts + used, sizeof(nd->parts) - used, "%s%s",
				         used ? "," : "", part ? part : "?");
			}
		}
	}
	*out = nodes;
	*n = count;
	nodes = NULL;
	ret = 0;
exit:
	free(nodes);
	return ret;
}

enum ctl_node_health ctl_node_health(const struct ctl_node *node, int64_t now, unsigned stale_s)
{
	if (node->refused_serial)
		return CTL_NODE_REFUSED;

	if (!node->reported)
		return CTL_NODE_NEVER;
	if (now - node->at > (int64_t)stale_s)
		return CTL_NODE_STALE;
	if (strcmp(node->state, "enrolled") != 0)
		return CTL_NODE_BAD_STATE;
	if (node->keys_known && !node->keys_ok)
		return CTL_NODE_KEYS_DOWN;
	/* the coordinator's verdict: the diagnosis may blame a node that reports well */
	if (node->health_known && !node->health_ok)
		return CTL_NODE_UNHEALTHY;
	return CTL_NODE_OK;
}

const char *ctl_node_health_id(enum ctl_node_health h)
{
	switch (h) {
	case CTL_NODE_OK:
		return "ok";
	case CTL_NODE_NEVER:
		return "never reported";
	case CTL_NODE_STALE:
		return "stale";
	case CTL_NODE_BAD_STATE:
		return "bad state";
	case CTL_NODE_KEYS_DOWN:
		return "key service down";
	case CTL_NODE_REFUSED:
		return "reports refused";
	case CTL_NODE_UNHEALTHY:
		return "not healthy";
	case CTL_NODE_HEALTH_COUNT:
		break;
	}
	return "unknown";
}

void ctl_format_age(int64_t secs, char *buf, size_t size)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, size, "%" PRId64 "s", secs);
	else if (secs < 3600)
		snprintf(buf, size, "%" PRId64 "m%" PRId64 "s", secs / 60, secs % 60);
	else if (secs < 86400)
		snprintf(buf, size, "%" PRId64 "h%" PRId64 "m", secs / 3600, secs % 3600 / 60);
	else
		snprintf(buf, size, "%" PRId64 "d%" PRId64 "h", secs / 86400, secs % 86400 / 3600);
}

void ctl_format_date(int64_t at, char *buf, size_t size)
{
	time_t t = (time_t)at;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, size, "%" PRId64, at);
}

void ctl_format_when(int64_t at, int64_t now, char *buf, size_t size)
{
	char age[32], date[40];

	if (at == 0) {
		snprintf(buf, size, "never");
		return;
	}
	ctl_format_age(at > now ? at - now : now - at, age, sizeof(age));
	ctl_format_date(at, date, sizeof(date));
	snprintf(buf, size, "%s%s%s (%s)", at > now ? "in " : "", age, at > now ? "" : " ago",
	         date);
}

int ctl_nodes_render(const struct ctl_node *nodes, size_t n, int64_t now, unsigned stale_s,
                     bool with_health, FILE *out)
{
	static const char *const head[] = {"NODE",        "NAME",  "ADDRESS",     "SERIAL",
	                                   "LAST REPORT", "STATE", "KEY SERVICE", "HEALTH"};
	size_t ncols = with_health ? 8 : 6;
	struct ctl_table t;
	int ret;

	ctl_table_init(&t, ncols);
	ctl_table_add(&t, head);
	for (size_t i = 0; i < n; i++) {
		const struct ctl_node *nd = &nodes[i];
		char age[48], state[160], keys[96], health[160];
		const char *row[8];

		if (nd->reported) {
			ctl_format_age(now - nd->at, age, sizeof(age) - 4);
			strcat(age, " ago");
		} else {
			snprintf(age, sizeof(age), "never");
		}
		row[0] = nd->id;
		row[1] = nd->name[0] ? nd->name : "-";
		row[2] = nd->address[0] ? nd->address : "-";
		row[3] = nd->serial[0] ? nd->serial : "-";
		row[4] = age;
		snprintf(state, sizeof(state), "%s%s%s%s", nd->state[0] ? nd->state : "-",
		         nd->parts[0] ? " (" : "", nd->parts, nd->parts[0] ? ")" : "");
		if (!nd->keys_known)
			snprintf(keys, sizeof(keys), "-");
		else if (nd->keys_ok && nd->kmip_op)
			snprintf(keys, sizeof(keys), "ok (KMIP %.24s %lld ms)", nd->kmip_op,
			         (long long)nd->kmip_ms);
		else
			snprintf(keys, sizeof(keys), "%s%s%.80s", nd->keys_ok ? "ok" : "DOWN",
			         !nd->keys_ok && nd->keys_detail[0] ? ": " : "",
			         nd->keys_ok ? "" : nd->keys_detail); /* not "okok" */
		row[5] = state;
		row[6] = keys;
		row[7] = ctl_node_health_id(ctl_node_health(nd, now, stale_s));
		if (ctl_node_health(nd, now, stale_s) == CTL_NODE_UNHEALTHY) {
			snprintf(health, sizeof(health), "NOT HEALTHY: %.140s", nd->health_why);
			row[7] = health;
		} else if (nd->refused_serial) {
			snprintf(health, sizeof(health),
			         "reports refused: serial %.64s not enrolled", nd->refused_serial);
			row[7] = health;
		}
		ctl_table_add(&t, row);
	}
	ret = ctl_table_print(&t, out);
	ctl_table_free(&t);
	return ret;
}
