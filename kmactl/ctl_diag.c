#include "ctl_diag.h"

static const char *text(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "-";
	return json_object_get_string(v);
}

int ctl_diag_check(json_object *doc, bool *healthy, char *why, size_t size)
{
	json_object *h, *findings;

	*healthy = false;
	if (!doc || !json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "healthy", &h) ||
	    !json_object_is_type(h, json_type_boolean) ||
	    !json_object_object_get_ex(doc, "findings", &findings) ||
	    !json_object_is_type(findings, json_type_array)) {
		snprintf(why, size, "the diagnosis lacks healthy (boolean) or findings (array)");
		return -1;
	}
	*healthy = json_object_get_boolean(h);
	return 0;
}

void ctl_diag_render(json_object *doc, FILE *out)
{
	json_object *h = NULL, *findings = NULL, *evidence;
	size_t n;

	json_object_object_get_ex(doc, "healthy", &h);
	json_object_object_get_ex(doc, "findings", &findings);
	n = json_object_array_length(findings);
	fprintf(out, "%s: %zu finding%s\n", json_object_get_boolean(h) ? "healthy" : "NOT HEALTHY",
	        n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		json_object *f = json_object_array_get_idx(findings, i);

		fprintf(out, "\n[%zu] %s\n", i + 1, text(f, "pattern"));
		fprintf(out, "    culprit:  %s\n", text(f, "culprit"));
		fprintf(out, "    summary:  %s\n", text(f, "summary"));
		fprintf(out, "    remedy:   %s\n", text(f, "remedy"));
		if (!json_object_object_get_ex(f, "evidence", &evidence) ||
		    !json_object_is_type(evidence, json_type_array) ||
		    json_object_array_length(evidence) == 0)
			continue;
		fprintf(out, "    evidence:\n");
		for (size_t e = 0; e < json_object_array_length(evidence); e++) {
			json_object *ev = json_object_array_get_idx(evidence, e);

			fprintf(out, "      - %s\n",
			        json_object_is_type(ev, json_type_string)
			            ? json_object_get_string(ev)
			            : json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
		}
	}
}
