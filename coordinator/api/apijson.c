#include "apijson.h"

#include <stdbool.h>
#include <stdlib.h>

#include "diagnose.h"

json_object *api_diagnosis_json(struct store *st, int64_t now, int64_t stale_after)
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
		json_object_object_add(o, "pattern",
		                       json_object_new_string(kma_pattern_id(f[i].pattern)));
		json_object_object_add(o, "severity",
		                       json_object_new_string(f[i].warning ? "warning" : "error"));
		json_object_object_add(
		    o, "culprit", f[i].culprit[0] ? json_object_new_string(f[i].culprit) : NULL);
		if (f[i].n_candidates) {
			json_object *cand = json_object_new_array();

			for (size_t k = 0; k < f[i].n_candidates; k++)
				json_object_array_add(cand,
				                      json_object_new_string(f[i].candidates[k]));
			json_object_object_add(o, "candidates", cand);
		}
		if (f[i].serial[0]) {
			json_object *p = json_object_new_object();

			json_object_object_add(p, "serial", json_object_new_string(f[i].serial));
			json_object_object_add(p, "node_id", json_object_new_string(f[i].name));
			json_object_object_add(o, "presents", p);
		}
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

json_object *api_timeline_json(struct timeline *t, int64_t now)
{
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	struct timeline_sample *s = calloc(TIMELINE_SAMPLES, sizeof(*s));
	size_t n = s ? timeline_samples(t, now, s) : 0;

	json_object_object_add(root, "step_s", json_object_new_int(TIMELINE_STEP_S));
	json_object_object_add(root, "samples", arr);
	for (size_t k = 0; k < n; k++) {
		json_object *o = json_object_new_object(), *b = json_object_new_array();

		json_object_object_add(o, "at", json_object_new_int64(s[k].at));
		json_object_object_add(o, "ok", json_object_new_int64(s[k].ok));
		json_object_object_add(o, "failed", json_object_new_int64(s[k].failed));
		json_object_object_add(o, "healthy", json_object_new_boolean(s[k].healthy));
		for (size_t i = 0; i < s[k].n_blamed; i++)
			json_object_array_add(b, json_object_new_string(s[k].blamed[i]));
		json_object_object_add(o, "blamed", b);
		json_object_array_add(arr, o);
	}
	free(s);
	return root;
}
