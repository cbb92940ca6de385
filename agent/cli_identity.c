#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "exitcodes.h"
#include "hexser.h"
#include "identity.h"
#include "provision.h"

struct part_row {
	enum kma_part part;
	const char *label;
	size_t off;
};

static const struct part_row part_rows[] = {
    {KMA_PART_BOARD, "board serial", offsetof(struct hal_hwid, board_serial)},
    {KMA_PART_PRODUCT_UUID, "product uuid", offsetof(struct hal_hwid, product_uuid)},
    {KMA_PART_DISK, "disk serial", offsetof(struct hal_hwid, disk_serial)},
    {KMA_PART_CPU, "cpu", offsetof(struct hal_hwid, cpu_id)},
    {KMA_PART_MAC, "mac", offsetof(struct hal_hwid, mac)},
};
#define N_PART_ROWS (sizeof(part_rows) / sizeof(part_rows[0]))

static const char *hw_field(const struct hal_hwid *hw, size_t i)
{
	return (const char *)hw + part_rows[i].off;
}

static const char *state_remedy(const struct identity_view *v)
{
	switch (v->state) {
	case KMA_STATE_UNPROVISIONED:
		return "run QuickStart on this node (kma-agent quickstart, or identity import)";
	case KMA_STATE_HARDWARE_CHANGED:
		return "hardware was replaced since enrolment: factory reset and rejoin this node";
	case KMA_STATE_NOT_ENROLLED:
		return "our certificate is not the one the cluster enrolled: join this node";
	default:
		return NULL;
	}
}

static json_object *hw_json(const struct hal_hwid *hw, const uint8_t *fp)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "board_serial", json_object_new_string(hw->board_serial));
	json_object_object_add(o, "product_uuid", json_object_new_string(hw->product_uuid));
	json_object_object_add(o, "disk_serial", json_object_new_string(hw->disk_serial));
	json_object_object_add(o, "cpu_id", json_object_new_string(hw->cpu_id));
	json_object_object_add(o, "mac", json_object_new_string(hw->mac));
	if (fp) {
		char hex[2 * HAL_FP_LEN + 1];

		hexser_format(fp, HAL_FP_LEN, hex);
		json_object_object_add(o, "fingerprint", json_object_new_string(hex));
	}
	return o;
}

static json_object *time_json(int64_t t)
{
	char buf[32];

	certinfo_time_str(t, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static void print_json(const struct hal *hal, const struct identity_view *v)
{
	json_object *o = json_object_new_object();
	json_object *parts = json_object_new_array();
	json_object *record = json_object_new_object();
	const char *remedy = state_remedy(v);

	json_object_object_add(o, "node_id",
	                       v->has_record ? json_object_new_string(v->node_id) : NULL);
	json_object_object_add(o, "state", json_object_new_string(kma_state_id(v->state)));
	json_object_object_add(o, "state_meaning",
	                       json_object_new_string(kma_state_meaning(v->state)));
	json_object_object_add(o, "remedy", remedy ? json_object_new_string(remedy) : NULL);
	json_object_object_add(o, "board", json_object_new_string(hal->board->name));
	json_object_object_add(o, "backend", json_object_new_string(hal->ops->name));
	json_object_object_add(o, "boot_id", json_object_new_string(v->boot_id));
	json_object_object_add(o, "hardware", hw_json(&v->hw, v->hw_fp));
	json_object_object_add(o, "enrolled_hardware",
	                       v->has_record ? hw_json(&v->enrolled_hw, NULL) : NULL);
	for (int p = 1; p < KMA_PART_COUNT; p++)
		if (v->parts_changed & (1u << p))
			json_object_array_add(
			    parts, json_object_new_string(kma_part_id((enum kma_part)p)));
	json_object_object_add(o, "parts_changed", parts);
	json_object_object_add(o, "generation", json_object_new_int64(v->generation));
	json_object_object_add(o, "enrolled_serial",
	                       v->enrolled_serial[0] ? json_object_new_string(v->enrolled_serial)
	                                             : NULL);
	if (v->has_cert) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "serial", json_object_new_string(v->cert.serial));
		json_object_object_add(c, "subject", json_object_new_string(v->cert.subject));
		json_object_object_add(c, "issuer", json_object_new_string(v->cert.issuer));
		json_object_object_add(c, "not_before", time_json(v->cert.not_before));
		json_object_object_add(c, "not_after", time_json(v->cert.not_after));
		json_object_object_add(c, "expired", json_object_new_boolean(v->cert_expired));
		json_object_object_add(c, "not_yet_valid",
		                       json_object_new_boolean(v->cert_not_yet_valid));
		json_object_object_add(o, "certificate", c);
	} else {
		json_object_object_add(o, "certificate", NULL);
	}
	json_object_object_add(record, "present", json_object_new_boolean(v->has_record));
	json_object_object_add(record, "from_backup", json_object_new_boolean(v->from_backup));
	json_object_object_add(record, "problem",
	                       v->record_problem[0] ? json_object_new_string(v->record_problem)
	                                            : NULL);
	json_object_object_add(o, "record", record);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void print_text(const struct hal *hal, const struct identity_view *v)
{
	char parts[96];
	const char *remedy = state_remedy(v);

	identity_parts_str(v->parts_changed, parts, sizeof(parts));
	printf("Node:          %s\n", v->has_record ? v->node_id : "(none: no identity record)");
	printf("State:         %s (%s)\n", kma_state_id(v->state), kma_state_meaning(v->state));
	if (parts[0])
		printf("Changed:       %s\n", parts);
	if (remedy)
		printf("Remedy:        %s\n", remedy);
	printf("Board:         %s (HAL backend %s)\n", hal->board->name, hal->ops->name);
	printf("Boot ID:       %s\n", v->boot_id[0] ? v->boot_id : "-");
	printf("%-17s%-38s %s\n", "Hardware:", "now", v->has_record ? "enrolled" : "");
	for (size_t i = 0; i < N_PART_ROWS; i++) {
		const char *now = hw_field(&v->hw, i);

		printf("  %-14s %-38s %s%s\n", part_rows[i].label, now[0] ? now : "-",
		       v->has_record
		           ? (hw_field(&v->enrolled_hw, i)[0] ? hw_field(&v->enrolled_hw, i) : "-")
		           : "",
		       v->parts_changed & (1u << part_rows[i].part) ? "   <- changed" : "");
	}
	if (v->has_cert) {
		char nb[32], na[32];

		certinfo_time_str(v->cert.not_before, nb, sizeof(nb));
		certinfo_time_str(v->cert.not_after, na, sizeof(na));
		printf("Certificate:   serial %s\n", v->cert.serial);
		printf("  subject      %s\n", v->cert.subject);
		printf("  issuer       %s\n", v->cert.issuer);
		printf("  valid        %s to %s%s\n", nb, na,
		       v->cert_expired ? "   EXPIRED"
		                       : (v->cert_not_yet_valid ? "   NOT YET VALID" : ""));
	}
	if (v->has_record) {
		printf("Generation:    %u\n", v->generation);
		printf("Enrolled as:   %s\n",
		       v->enrolled_serial[0] ? v->enrolled_serial
		                             : "(the cluster has not confirmed an enrolment yet)");
	}
	if (v->from_backup)
		printf("Warning:       current identity record damaged (%s); the previous copy "
		       "was loaded\n",
		       v->record_problem);
}

int cli_identity_problem(enum identity_status st, const struct identity_view *v)
{
	if (st == IDENTITY_ERR_CORRUPT) {
		fprintf(stderr,
		        "kma-agent: identity record unusable: %s\n"
		        "kma-agent: no usable previous copy; the agent would run without an "
		        "identity: this node needs kma-agent factory-reset, then QuickStart\n",
		        v->record_problem);
		return KMA_EXIT_DATAERR;
	}
	if (st == IDENTITY_ERR_IO) {
		fprintf(stderr, "kma-agent: cannot read the identity record: %s\n",
		        v->record_problem);
		return KMA_EXIT_IOERR;
	}
	return KMA_EXIT_OK;
}

int cli_identity_show(struct hal *hal, bool json)
{
	struct identity_view v;
	enum identity_status st = identity_assess(hal, &v);

	if (st == IDENTITY_ERR_HAL) {
		fprintf(stderr, "kma-agent: cannot read the hardware identity: %s\n", hal->error);
		return KMA_EXIT_IOERR;
	}
	if (json)
		print_json(hal, &v);
	else
		print_text(hal, &v);
	return cli_identity_problem(st, &v);
}

int cli_identity_import(struct hal *hal, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, 'k'}, {"cert", required_argument, NULL, 'c'},
	    {"ca", required_argument, NULL, 'a'},  {"node-id", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
	};
	struct provision_files files = {0};
	char err[512];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			files.key_path = optarg;
			break;
		case 'c':
			files.cert_path = optarg;
			break;
		case 'a':
			files.ca_path = optarg;
			break;
		case 'n':
			files.node_id = optarg;
			break;
		case 'h':
			printf("usage: kma-agent identity import --key KEY.pem --cert CERT.pem "
			       "--ca CA.pem [--node-id ID]\n");
			return KMA_EXIT_OK;
		default:
			return KMA_EXIT_USAGE;
		}
	}
	if (!files.key_path || !files.cert_path || !files.ca_path || optind != argc) {
		fprintf(stderr, "kma-agent: identity import needs --key, --cert and --ca\n");
		return KMA_EXIT_USAGE;
	}
	switch (provision_import(hal, &files, err, sizeof(err))) {
	case PROVISION_OK:
		break;
	case PROVISION_ERR_INPUT:
		fprintf(stderr, "kma-agent: %s\n", err);
		return KMA_EXIT_NOINPUT;
	case PROVISION_ERR_DATA:
		fprintf(stderr, "kma-agent: %s\n", err);
		return KMA_EXIT_DATAERR;
	case PROVISION_ERR_HAL:
		fprintf(stderr, "kma-agent: %s\n", err);
		return KMA_EXIT_IOERR;
	default:
		fprintf(stderr, "kma-agent: %s\n", err);
		return KMA_EXIT_SOFTWARE;
	}
	return cli_identity_show(hal, false);
}

int cli_causes(bool json)
{
	json_object *arr = json ? json_object_new_array() : NULL;

	for (int c = 1; c < KMA_CAUSE_COUNT; c++) {
		enum kma_cause cause = (enum kma_cause)c;

		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "cause",
			                       json_object_new_string(kma_cause_id(cause)));
			json_object_object_add(o, "meaning",
			                       json_object_new_string(kma_cause_meaning(cause)));
			json_object_object_add(o, "remedy",
			                       json_object_new_string(kma_cause_remedy(cause)));
			json_object_array_add(arr, o);
		} else {
			printf("%-24s %s\n%-24s remedy: %s\n", kma_cause_id(cause),
			       kma_cause_meaning(cause), "", kma_cause_remedy(cause));
		}
	}
	if (json) {
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
		                                             JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	return KMA_EXIT_OK;
}
