/*
 * Test helper for the coordinator's end-to-end test: writes an AgentReport and reads a
 * CoordinatorReply, so shell tests can talk protobuf through curl.
 *
 *   mkreport report NODE_ID SEQUENCE [STATE [PEER:DIRECTION:CAUSE ...]] > body
 *       numbers are the enum values of proto/kma.proto
 *   mkreport reply FILE
 *       prints "ack_sequence N", "peer_table_version N", "enrolled_serial S",
 *       "next_report_interval_ms N" and one "peer ID NAME ADDRESS SERIAL" line per peer
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kma.pb-c.h"

static int cmd_report(int argc, char **argv)
{
	Kma__V1__AgentReport r = KMA__V1__AGENT_REPORT__INIT;
	Kma__V1__PeerObservation *obs = NULL, **ptrs = NULL;
	char **dup = NULL;
	unsigned char *buf = NULL;
	size_t len, n = argc > 3 ? (size_t)(argc - 3) : 0;
	int ret = 1;

	if (argc < 2)
		return 64;
	r.node_id = argv[0];
	r.sequence = strtoull(argv[1], NULL, 10);
	r.state = argc > 2 ? (Kma__V1__IdentityState)atoi(argv[2])
	                   : KMA__V1__IDENTITY_STATE__IDENTITY_STATE_ENROLLED;
	r.phase = KMA__V1__PHASE__PHASE_RUNNING;
	r.agent_version = "mkreport";
	obs = calloc(n + 1, sizeof(*obs));
	ptrs = calloc(n + 1, sizeof(*ptrs));
	dup = calloc(n + 1, sizeof(*dup));
	if (!obs || !ptrs || !dup)
		goto exit;
	for (size_t i = 0; i < n; i++) {
		char *dir, *cause;

		dup[i] = strdup(argv[3 + i]);
		if (!dup[i])
			goto exit;
		dir = strchr(dup[i], ':');
		cause = dir ? strchr(dir + 1, ':') : NULL;
		if (!cause) {
			fprintf(stderr, "mkreport: peer '%s' is not PEER:DIRECTION:CAUSE\n",
			        argv[3 + i]);
			goto exit;
		}
		*dir++ = '\0';
		*cause++ = '\0';
		kma__v1__peer_observation__init(&obs[i]);
		obs[i].peer_node_id = dup[i];
		obs[i].direction = (Kma__V1__Direction)atoi(dir);
		obs[i].cause = (Kma__V1__Cause)atoi(cause);
		obs[i].observed_at = 1700000000;
		ptrs[i] = &obs[i];
	}
	r.peers = ptrs;
	r.n_peers = n;
	len = kma__v1__agent_report__get_packed_size(&r);
	buf = malloc(len + 1);
	if (!buf || kma__v1__agent_report__pack(&r, buf) != len)
		goto exit;
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		goto exit;
	ret = 0;
exit:
	for (size_t i = 0; dup && i < n; i++)
		free(dup[i]);
	free(dup);
	free(ptrs);
	free(obs);
	free(buf);
	return ret;
}

static int cmd_reply(const char *path)
{
	static unsigned char buf[1 << 20];
	Kma__V1__CoordinatorReply *r;
	FILE *f = fopen(path, "rb");
	size_t len;

	if (!f) {
		perror(path);
		return 66;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	r = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	if (!r) {
		fprintf(stderr, "mkreport: %s does not decode as CoordinatorReply\n", path);
		return 65;
	}
	printf("ack_sequence %llu\n", (unsigned long long)r->ack_sequence);
	printf("peer_table_version %llu\n", (unsigned long long)r->peer_table_version);
	printf("enrolled_serial %s\n", r->enrolled_serial);
	printf("next_report_interval_ms %u\n", r->next_report_interval_ms);
	for (size_t i = 0; i < r->n_peers; i++)
		printf("peer %s %s %s %s\n", r->peers[i]->node_id, r->peers[i]->name,
		       r->peers[i]->address, r->peers[i]->enrolled_serial);
	kma__v1__coordinator_reply__free_unpacked(r, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "reply") == 0)
		return cmd_reply(argv[2]);
	fprintf(stderr, "usage: mkreport report NODE_ID SEQUENCE [STATE [PEER:DIR:CAUSE ...]]\n"
	                "       mkreport reply FILE\n");
	return 64;
}
