#include "diagnose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "kma.pb-c.h"
#include "log.h"

#define FINDINGS_MAX 64

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

json_object *diagnose_json(struct store *st, int64_t now, int64_t stale_after)
{
	struct store_node *nodes = NULL;
	struct store_observation *obs = NULL;
	struct diag_self *self = NULL;
	struct diag_finding *f = NULL;
	size_t n_nodes = 0, n_obs = 0, n;
	json_object *root = NULL, *arr;
	bool healthy = true;

	if (store_nodes_list(st, &nodes, &n_nodes) != STORE_OK ||
	    store_observations_list(st, &obs, &n_obs) != STORE_OK)
		goto exit;
	self = calloc(n_nodes ? n_nodes : 1, sizeof(*self));
	f = calloc(FINDINGS_MAX, sizeof(*f));
	if (!self || !f)
		goto exit;
	for (size_t i = 0; i < n_nodes; i++)
		diagnose_self_from_report(st, &nodes[i], &self[i]);
	{
		struct diag_input in = {nodes, self, n_nodes, obs, n_obs, now, stale_after};

		n = diag_run(&in, f, FINDINGS_MAX);
	}
	root = json_object_new_object();
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
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
	json_object_object_add(root, "nodes", json_object_new_int64((int64_t)n_nodes));
	json_object_object_add(root, "findings", arr);
exit:
	if (!root)
		log_err("diagnosis: the store could not be read");
	free(nodes);
	free(obs);
	free(self);
	free(f);
	return root;
}
