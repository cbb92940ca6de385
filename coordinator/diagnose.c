#include "diagnose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "kma.pb-c.h"
#include "log.h"

void diagnose_self_from_report(struct store *st, const struct store_node *n, struct diag_self *s)
{
	unsigned char *body = NULL;
	size_t len = 0;
	Kma__V1__AgentReport *r;

	memset(s, 0, sizeof(*s));
	if (!n->has_report)
		return;
	snprintf(s->state, sizeof(s->state), "%s", n->report_state);
	s->report_at = n->report_at;
	if (store_report_body(st, n->node_id, &body, &len) != STORE_OK)
		return;
	r = kma__v1__agent_report__unpack(NULL, len, body);
	if (r && r->own_cert) {
		s->cert_not_after = r->own_cert->not_after;
		snprintf(s->cert_serial, sizeof(s->cert_serial), "%s", r->own_cert->serial);
	}
	if (r)
		kma__v1__agent_report__free_unpacked(r, NULL);
	free(body);
}

ssize_t diagnose_run(struct store *st, int64_t now, int64_t stale_after, struct diag_finding *f,
                     size_t max)
{
	struct store_node *nodes = NULL;
	struct store_observation *obs = NULL;
	struct diag_self *self = NULL;
	size_t n_nodes = 0, n_obs = 0;
	ssize_t n = -1;

	if (store_nodes_list(st, &nodes, &n_nodes) != STORE_OK ||
	    store_observations_list(st, &obs, &n_obs) != STORE_OK)
		goto exit;
	self = calloc(n_nodes ? n_nodes : 1, sizeof(*self));
	if (!self)
		goto exit;
	for (size_t i = 0; i < n_nodes; i++)
		diagnose_self_from_report(st, &nodes[i], &self[i]);
	{
		struct diag_input in = {nodes, self, n_nodes, obs, n_obs, now, stale_after};

		n = (ssize_t)diag_run(&in, f, max);
	}
exit:
	if (n < 0)
		log_err("diagnosis: the store could not be read");
	free(nodes);
	free(obs);
	free(self);
	return n;
}

json_object *diagnose_json(struct store *st, int64_t now, int64_t stale_after)
{
	struct diag_finding *f = calloc(DIAGNOSE_FINDINGS_MAX, sizeof(*f));
	ssize_t n = f ? diagnose_run(st, now, stale_after, f, DIAGNOSE_FINDINGS_MAX) : -1;
	json_object *root = NULL, *arr;
	bool healthy = true;
	size_t nodes = 0;
	struct store_node *list = NULL;

	if (n < 0 || store_nodes_list(st, &list, &nodes) != STORE_OK)
		goto exit;
	root = json_object_new_object();
	arr = json_object_new_array();
	for (ssize_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object(), *ev = json_object_new_array();

		healthy &= f[i].warning;
		json_object_object_add(o, "pattern", json_object_new_string(f[i].pattern));
		json_object_object_add(o, "severity",
		                       json_object_new_string(f[i].warning ? "warning" : "error"));
		json_object_object_add(
		    o, "culprit", f[i].culprit[0] ? json_object_new_string(f[i].culprit) : NULL);
		json_object_object_add(o, "summary", json_object_new_string(f[i].summary));
		json_object_object_add(o, "remedy", json_object_new_string(f[i].remedy));
		for (size_t e = 0; e < f[i].n_evidence; e++)
			json_object_array_add(ev, json_object_new_string(f[i].evidence[e]));
		json_object_object_add(o, "evidence", ev);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "healthy", json_object_new_boolean(healthy));
	json_object_object_add(root, "nodes", json_object_new_int64((int64_t)nodes));
	json_object_object_add(root, "findings", arr);
exit:
	free(list);
	free(f);
	return root;
}
