/*
 * Test helper for tests/e2e/test_directives.sh's fake coordinator: builds the
 * CoordinatorReply that carries directives, and shows an agent's AgentReport as JSON.
 *
 *   mkdirective reply FILE
 *       FILE: one directive per line, "ID KIND LEASE_NODE FENCING EXPIRES_AT [TOKEN]"
 *       (KIND the enum value of proto/kma.proto; LEASE_NODE "-" for no lease; "#" starts
 *       a comment); writes the packed reply (report interval 1 s) to stdout
 *   mkdirective show FILE
 *       prints the AgentReport in FILE as one line of JSON: node_id, sequence, boot_id,
 *       state, phase, health, last_directive, fencing_token, recovery, n_peers
 */

#define _POSIX_C_SOURCE 200809L

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kma.pb-c.h"

#define MAX_DIRECTIVES 16

static int cmd_reply(const char *path)
{
	Kma__V1__CoordinatorReply r = KMA__V1__COORDINATOR_REPLY__INIT;
	Kma__V1__Directive d[MAX_DIRECTIVES], *dp[MAX_DIRECTIVES];
	Kma__V1__Lease l[MAX_DIRECTIVES];
	char lines[MAX_DIRECTIVES][1024];
	unsigned char *buf = NULL;
	size_t n = 0, len;
	FILE *f = fopen(path, "r");
	int ret = 1;

	if (!f) {
		perror(path);
		return 66;
	}
	while (n < MAX_DIRECTIVES && fgets(lines[n], sizeof(lines[n]), f)) {
		char *save = NULL, *tok[6] = {0};
		int k = 0;

		for (char *t = strtok_r(lines[n], " \t\r\n", &save); t && k < 6;
		     t = strtok_r(NULL, " \t\r\n", &save))
			tok[k++] = t;
		if (k == 0 || tok[0][0] == '#')
			continue;
		if (k < 5) {
			fprintf(stderr,
			        "mkdirective: %s: a line needs ID KIND LEASE_NODE FENCING "
			        "EXPIRES_AT [TOKEN]\n",
			        path);
			goto exit;
		}
		kma__v1__directive__init(&d[n]);
		d[n].id = tok[0];
		d[n].kind = (Kma__V1__DirectiveKind)atoi(tok[1]);
		if (strcmp(tok[2], "-") != 0) {
			kma__v1__lease__init(&l[n]);
			l[n].id = tok[0];
			l[n].node_id = tok[2];
			l[n].fencing_token = strtoull(tok[3], NULL, 10);
			l[n].expires_at = strtoll(tok[4], NULL, 10);
			d[n].lease = &l[n];
		}
		if (tok[5])
			d[n].enrolment_token = tok[5];
		d[n].reason = "e2e";
		dp[n] = &d[n];
		n++;
	}
	r.directives = dp;
	r.n_directives = n;
	r.next_report_interval_ms = 1000;
	len = kma__v1__coordinator_reply__get_packed_size(&r);
	buf = malloc(len + 1);
	if (!buf || kma__v1__coordinator_reply__pack(&r, buf) != len)
		goto exit;
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		goto exit;
	ret = 0;
exit:
	fclose(f);
	free(buf);
	return ret;
}

static json_object *str(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static int cmd_show(const char *path)
{
	static unsigned char buf[1 << 20];
	Kma__V1__AgentReport *r;
	json_object *j, *rec;
	FILE *f = fopen(path, "rb");
	size_t len;

	if (!f) {
		perror(path);
		return 66;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	r = kma__v1__agent_report__unpack(NULL, len, buf);
	if (!r) {
		fprintf(stderr, "mkdirective: %s does not decode as AgentReport\n", path);
		return 65;
	}
	j = json_object_new_object();
	json_object_object_add(j, "node_id", str(r->node_id));
	json_object_object_add(j, "sequence", json_object_new_int64((int64_t)r->sequence));
	json_object_object_add(j, "boot_id", str(r->boot_id));
	json_object_object_add(j, "state", json_object_new_int(r->state));
	json_object_object_add(j, "phase", json_object_new_int(r->phase));
	json_object_object_add(j, "n_peers", json_object_new_int((int)r->n_peers));
	json_object_object_add(j, "fencing_token",
	                       json_object_new_int64((int64_t)r->fencing_token));
	if (r->health) {
		json_object *h = json_object_new_object();

		json_object_object_add(h, "healthy", json_object_new_boolean(r->health->healthy));
		json_object_object_add(h, "detail", str(r->health->detail));
		json_object_object_add(h, "checked_at",
		                       json_object_new_int64(r->health->checked_at));
		json_object_object_add(j, "health", h);
	} else {
		json_object_object_add(j, "health", NULL);
	}
	if (r->last_directive) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "id", str(r->last_directive->directive_id));
		json_object_object_add(d, "ok", json_object_new_boolean(r->last_directive->ok));
		json_object_object_add(d, "detail", str(r->last_directive->detail));
		json_object_object_add(d, "kind", json_object_new_int(r->last_directive->kind));
		json_object_object_add(d, "done_at",
		                       json_object_new_int64(r->last_directive->done_at));
		json_object_object_add(j, "last_directive", d);
	} else {
		json_object_object_add(j, "last_directive", NULL);
	}
	rec = json_object_new_array();
	for (size_t i = 0; i < r->n_recovery; i++) {
		json_object *s = json_object_new_object();

		json_object_object_add(s, "step", str(r->recovery[i]->step));
		json_object_object_add(s, "manual",
		                       json_object_new_boolean(r->recovery[i]->manual));
		json_object_object_add(s, "instruction", str(r->recovery[i]->instruction));
		json_object_array_add(rec, s);
	}
	json_object_object_add(j, "recovery", rec);
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	kma__v1__agent_report__free_unpacked(r, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "reply") == 0)
		return cmd_reply(argv[2]);
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return cmd_show(argv[2]);
	fprintf(stderr, "usage: mkdirective reply FILE\n       mkdirective show FILE\n");
	return 64;
}
