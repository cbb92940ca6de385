/* `kma-agent kmip`: the board's KMIP check of the key service, once, from the command line. */

#include <event2/event.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcodes.h"
#include "kmipcheck.h"

struct run {
	struct kmipcheck_outcome out;
	bool done;
};

static void on_done(void *arg, const struct kmipcheck_outcome *o)
{
	struct run *r = arg;

	r->out = *o;
	r->done = true;
}

static void print_json(const struct kmipcheck_outcome *o)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "endpoint", json_object_new_string(o->endpoint));
	json_object_object_add(j, "operation", json_object_new_string(kmip_op_name(o->operation)));
	json_object_object_add(j, "result", json_object_new_string(kmipcheck_result_id(o->result)));
	json_object_object_add(j, "cause", json_object_new_string(kma_cause_id(o->cause)));
	json_object_object_add(j, "latency_ms", json_object_new_int64(o->latency_ms));
	json_object_object_add(j, "handshake_ms", json_object_new_int64(o->handshake_ms));
	json_object_object_add(j, "protocol", json_object_new_string(o->protocol));
	json_object_object_add(j, "cipher_suite", json_object_new_string(o->suite));
	if (o->result == KMIPCHECK_OK || o->result == KMIPCHECK_FAILED) {
		json_object_object_add(j, "result_status",
		                       json_object_new_string(kmip_status_name(o->result_status)));
		json_object_object_add(
		    j, "result_reason",
		    o->has_reason ? json_object_new_string(kmip_reason_name(o->result_reason))
		                  : NULL);
	}
	json_object_object_add(j, "answer", json_object_new_string(o->answer));
	json_object_object_add(j, "detail", json_object_new_string(o->detail));
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
	json_object_put(j);
}

static void print_text(const struct kmipcheck_outcome *o)
{
	printf("result:     %s\n", kmipcheck_result_id(o->result));
	printf("endpoint:   %s\n", o->endpoint);
	printf("operation:  KMIP %s\n", kmip_op_name(o->operation));
	printf("cause:      %s\n", kma_cause_id(o->cause));
	if (o->suite[0])
		printf("tls:        %s, %s\n", o->protocol, o->suite);
	printf("latency:    %u ms (TLS handshake %u ms)\n", o->latency_ms, o->handshake_ms);
	if (o->result == KMIPCHECK_OK || o->result == KMIPCHECK_FAILED)
		printf("status:     %s%s%s\n", kmip_status_name(o->result_status),
		       o->has_reason ? ", " : "",
		       o->has_reason ? kmip_reason_name(o->result_reason) : "");
	if (o->answer[0])
		printf("answer:     %s\n", o->answer);
	printf("detail:     %s\n", o->detail);
}

int cli_kmip(struct hal *hal, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"address", required_argument, NULL, 'a'},
	    {"operation", required_argument, NULL, 'o'},
	    {"uid", required_argument, NULL, 'u'},
	    {"cert", required_argument, NULL, 'C'},
	    {"key", required_argument, NULL, 'K'},
	    {"ca", required_argument, NULL, 'A'},
	    {"timeout", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},
	    {"server-name", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	struct board_kmip k = hal->board->kmip;
	Kma__V1__IdentityRecord *rec = NULL;
	struct event_base *base = NULL;
	struct kmipcheck *c;
	struct run r = {.done = false};
	bool json = false;
	int ret = KMA_EXIT_USAGE, opt;
	char *end;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			snprintf(k.address, sizeof(k.address), "%s", optarg);
			break;
		case 'o':
			if (strcmp(optarg, "discover_versions") && strcmp(optarg, "query") &&
			    strcmp(optarg, "get")) {
				fprintf(stderr,
				        "kma-agent kmip: --operation discover_versions, query "
				        "or get\n");
				return KMA_EXIT_USAGE;
			}
			snprintf(k.operation, sizeof(k.operation), "%s", optarg);
			break;
		case 'u':
			snprintf(k.canary_uid, sizeof(k.canary_uid), "%s", optarg);
			break;
		case 'C':
			snprintf(k.client_cert, sizeof(k.client_cert), "%s", optarg);
			break;
		case 'K':
			snprintf(k.client_key, sizeof(k.client_key), "%s", optarg);
			break;
		case 'A':
			snprintf(k.server_ca, sizeof(k.server_ca), "%s", optarg);
			break;
		case 'n':
			snprintf(k.server_name, sizeof(k.server_name), "%s", optarg);
			break;
		case 't':
			k.timeout_s = (unsigned)strtoul(optarg, &end, 10);
			if (*end || k.timeout_s < 1 || k.timeout_s > 60) {
				fprintf(stderr,
				        "kma-agent kmip: --timeout wants 1 to 60 seconds\n");
				return KMA_EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		default:
			return KMA_EXIT_USAGE;
		}
	}
	if (optind < argc || !k.address[0]) {
		fprintf(stderr, "kma-agent kmip: %s\n",
		        optind < argc ? "unexpected argument"
		                      : "board declares no [kmip] check: give --address");
		return KMA_EXIT_USAGE;
	}
	if (!k.operation[0])
		snprintf(k.operation, sizeof(k.operation), "discover_versions");
	if (!k.client_cert[0])
		snprintf(k.client_cert, sizeof(k.client_cert), "identity");
	if (!k.client_key[0])
		snprintf(k.client_key, sizeof(k.client_key), "identity");
	if (!k.server_ca[0])
		snprintf(k.server_ca, sizeof(k.server_ca), "identity");
	if (strcmp(k.client_cert, "identity") == 0 || strcmp(k.server_ca, "identity") == 0) {
		struct hal_load_info info;

		if (hal_identity_load(hal, &rec, &info) != HAL_OK) {
			fprintf(stderr, "kma-agent kmip: this node has no identity: give --cert, "
			                "--key and --ca\n");
			return KMA_EXIT_NOINPUT;
		}
	}
	ret = KMA_EXIT_SOFTWARE;
	base = event_base_new();
	if (!base)
		goto exit;
	c = kmipcheck_start(base, &k, rec, hal_time_real(hal), on_done, &r);
	if (!c)
		goto exit;
	while (!r.done && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	if (!r.done)
		goto exit;
	if (json)
		print_json(&r.out);
	else
		print_text(&r.out);
	ret = r.out.result == KMIPCHECK_OK ? KMA_EXIT_OK : KMA_EXIT_FAILURE;
exit:
	if (base)
		event_base_free(base);
	if (rec)
		kma__v1__identity_record__free_unpacked(rec, NULL);
	return ret;
}
