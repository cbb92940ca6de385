#include "mbedcompat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "coordlink.h"
#include "crlcheck.h"
#include "exitcodes.h"
#include "fileio.h"
#include "hexser.h"
#include "hostport.h"
#include "probe.h"
#include "setup.h"
#include "tlshello.h"
#include "tlsnames.h"
#include "verscan.h"

struct probe_opts {
	const char *ca, *cert, *key, *crl, *config;
	const char *expect_id, *expect_serial;
	const char *accept;
	const char *target;
	bool once, json;
	unsigned timeout_s;
};

static void probe_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: kma-agent probe [--ca F --cert F --key F] [--crl F] [--config F]\n"
	    "                       [--expect-id ID] [--expect-serial HEX] [--timeout S]\n"
	    "                       [--json] HOST:PORT\n"
	    "       kma-agent probe --accept ADDR:PORT --once [same options]\n"
	    "\n"
	    "Runs one mutual-TLS handshake (outbound to HOST:PORT, or inbound from the first\n"
	    "peer that connects to ADDR:PORT) and says why it failed. Without --ca/--cert/--key\n"
	    "the node's own identity is used, with the CRL its coordinator sent (--crl goes\n"
	    "with --ca/--cert/--key). Exit status 0 only when the cause is ok.\n"
	    "\n"
	    "When a peer refuses our hello (handshake_failure, protocol_version,\n"
	    "insufficient_security, or a close), one more short connection per TLS version\n"
	    "asks which versions it accepts: protocol_mismatch or cipher_mismatch follows.\n");
}

/* "host:port", "[v6]:port" (hostport_split), the port as the service name for getaddrinfo. */
static int split_hostport(const char *in, char *host, size_t hsize, char *port, size_t psize)
{
	char why[160];
	unsigned p;

	if (hostport_split(in, host, hsize, &p, why, sizeof(why)) != 0)
		return -1;
	snprintf(port, psize, "%u", p);
	return 0;
}

static void drive(struct probe *p)
{
	enum probe_wait w;

	while ((w = probe_step(p)) != PROBE_WAIT_DONE) {
		struct pollfd pfd = {.fd = probe_fd(p),
		                     .events = w == PROBE_WAIT_READ ? POLLIN : POLLOUT};
		uint64_t now = probe_now_ms(), dl = probe_deadline(p);

		poll(&pfd, 1, dl > now ? (int)(dl - now) : 0);
	}
}

static json_object *alert_json(int a)
{
	json_object *o;

	if (a < 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "number", json_object_new_int(a));
	json_object_object_add(o, "name", json_object_new_string(tlsnames_alert(a)));
	return o;
}

static json_object *str_or_null(const char *s)
{
	return s && s[0] ? json_object_new_string(s) : NULL;
}

static void add_flag(const char *name, void *arg)
{
	json_object_array_add(arg, json_object_new_string(name));
}

/* A TLSHELLO_BIT mask as ["TLS 1.0", ...]. */
static json_object *versions_json(unsigned mask)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < TLSHELLO_N; i++)
		if (mask & TLSHELLO_BIT(TLSHELLO_VERSION(i)))
			json_object_array_add(
			    a, json_object_new_string(tlshello_version_name(TLSHELLO_VERSION(i))));
	return a;
}

/* Each follow-up probe: {"version", "answer", "alert", "chosen"}. */
static json_object *version_probes_json(const struct probe_obs *o)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < TLSHELLO_N; i++) {
		const struct verscan_result *r = &o->versions[i];
		json_object *v = json_object_new_object();

		json_object_object_add(
		    v, "version",
		    json_object_new_string(tlshello_version_name(TLSHELLO_VERSION(i))));
		json_object_object_add(v, "answer",
		                       json_object_new_string(verscan_answer_name(r->answer)));
		json_object_object_add(v, "alert", alert_json(r->alert));
		json_object_object_add(
		    v, "chosen",
		    r->version ? json_object_new_string(tlshello_version_name(r->version)) : NULL);
		json_object_array_add(a, v);
	}
	return a;
}

static void print_json(const struct probe_obs *o)
{
	json_object *j = json_object_new_object(), *flags = json_object_new_array();
	json_object *expected = json_object_new_object();
	char t1[32], t2[32];

	json_object_object_add(j, "cause", json_object_new_string(kma_cause_id(o->cause)));
	json_object_object_add(j, "direction",
	                       json_object_new_string(o->inbound ? "inbound" : "outbound"));
	json_object_object_add(j, "peer", json_object_new_string(o->peer));
	json_object_object_add(j, "alert_sent", alert_json(o->alert_sent));
	json_object_object_add(j, "alert_received", alert_json(o->alert_received));
	if (o->tls_error) {
		json_object *e = json_object_new_object();
		char msg[160];

		certinfo_strerror(o->tls_error, msg, sizeof(msg));
		json_object_object_add(e, "code", json_object_new_int(o->tls_error));
		json_object_object_add(e, "name", json_object_new_string(msg));
		json_object_object_add(j, "tls_error", e);
	} else {
		json_object_object_add(j, "tls_error", NULL);
	}
	tlsnames_verify_flags(o->verify_flags, add_flag, flags);
	json_object_object_add(j, "verify_flags", flags);
	if (o->has_cert) {
		json_object *c = json_object_new_object();

		certinfo_time_str(o->cert.not_before, t1, sizeof(t1));
		certinfo_time_str(o->cert.not_after, t2, sizeof(t2));
		json_object_object_add(c, "serial", json_object_new_string(o->cert.serial));
		json_object_object_add(c, "subject", json_object_new_string(o->cert.subject));
		json_object_object_add(c, "issuer", json_object_new_string(o->cert.issuer));
		json_object_object_add(c, "not_before", json_object_new_string(t1));
		json_object_object_add(c, "not_after", json_object_new_string(t2));
		json_object_object_add(c, "node_id", str_or_null(o->cert.node_id));
		json_object_object_add(j, "peer_cert", c);
	} else {
		json_object_object_add(j, "peer_cert", NULL);
	}
	json_object_object_add(expected, "node_id", str_or_null(o->expect_id));
	json_object_object_add(expected, "serial", str_or_null(o->expect_serial));
	json_object_object_add(j, "expected", expected);
	json_object_object_add(j, "protocol", str_or_null(o->protocol));
	json_object_object_add(j, "cipher_suite", str_or_null(o->suite));
	json_object_object_add(j, "handshake_ms", json_object_new_int64(o->handshake_ms));
	json_object_object_add(j, "our_versions", versions_json(o->versions_ours));
	/* null when no follow-up probe ran (only a refused outbound hello asks them) */
	json_object_object_add(j, "peer_versions",
	                       o->versions_probed ? versions_json(o->versions_accepted) : NULL);
	json_object_object_add(j, "version_probes",
	                       o->versions_probed ? version_probes_json(o) : NULL);
	json_object_object_add(j, "version_probes_ms",
	                       o->versions_probed ? json_object_new_int64(o->versions_ms) : NULL);
	json_object_object_add(j, "meaning", json_object_new_string(kma_cause_meaning(o->cause)));
	json_object_object_add(
	    j, "remedy",
	    o->cause == KMA_CAUSE_OK ? NULL : json_object_new_string(kma_cause_remedy(o->cause)));
	json_object_object_add(j, "detail", str_or_null(o->detail));
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
	                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

static void print_alert(const char *label, int a)
{
	if (a < 0)
		printf("%-15s none\n", label);
	else
		printf("%-15s %d %s\n", label, a, tlsnames_alert(a));
}

/* The follow-up probes: what the peer accepts, then each version's answer. */
static void print_versions(const struct probe_obs *o)
{
	char acc[40], ours[40];

	tlshello_versions_str(o->versions_accepted, acc, sizeof(acc));
	tlshello_versions_str(o->versions_ours, ours, sizeof(ours));
	printf("%-15s accepts %s (we speak %s), asked in %u ms\n", "Peer versions:", acc, ours,
	       o->versions_ms);
	for (unsigned i = 0; i < TLSHELLO_N; i++) {
		const struct verscan_result *r = &o->versions[i];

		printf("  %-13s %s", tlshello_version_name(TLSHELLO_VERSION(i)),
		       verscan_answer_name(r->answer));
		if (r->answer == VERSCAN_ALERT)
			printf(" %d %s", r->alert, tlsnames_alert(r->alert));
		else if (r->answer == VERSCAN_OTHER_VERSION)
			printf(" (chose %s)", tlshello_version_name(r->version));
		putchar('\n');
	}
}

static void print_text(const struct probe_obs *o)
{
	char buf[512];

	printf("%-15s %s %s\n", "Probe:", o->inbound ? "inbound from" : "outbound to", o->peer);
	printf("%-15s %s (%s)\n", "Cause:", kma_cause_id(o->cause), kma_cause_meaning(o->cause));
	if (o->detail[0])
		printf("%-15s %s\n", "Why:", o->detail);
	print_alert("Alert sent:", o->alert_sent);
	print_alert("Alert received:", o->alert_received);
	if (o->tls_error) {
		certinfo_strerror(o->tls_error, buf, sizeof(buf));
		printf("%-15s -0x%04x %s\n", "mbedTLS error:", (unsigned)-o->tls_error, buf);
	}
	if (o->verify_flags) {
		tlsnames_verify_flags_str(o->verify_flags, buf, sizeof(buf));
		printf("%-15s %s\n", "Verify flags:", buf);
	}
	if (o->has_cert) {
		char t1[32], t2[32];

		certinfo_time_str(o->cert.not_before, t1, sizeof(t1));
		certinfo_time_str(o->cert.not_after, t2, sizeof(t2));
		printf("%-15s serial %s\n", "Peer cert:", o->cert.serial);
		printf("  %-13s %s\n", "subject", o->cert.subject);
		printf("  %-13s %s\n", "issuer", o->cert.issuer);
		printf("  %-13s %s to %s\n", "valid", t1, t2);
	} else {
		printf("%-15s none presented\n", "Peer cert:");
	}
	if (o->expect_id[0] || o->expect_serial[0])
		printf("%-15s node %s, serial %s\n",
		       "Expected:", o->expect_id[0] ? o->expect_id : "(any)",
		       o->expect_serial[0] ? o->expect_serial : "(any)");
	if (o->protocol[0])
		printf("%-15s %s %s\n", "Negotiated:", o->protocol, o->suite);
	printf("%-15s %u ms\n", "Handshake:", o->handshake_ms);
	if (o->versions_probed)
		print_versions(o);
	if (o->cause != KMA_CAUSE_OK)
		printf("%-15s %s\n", "Remedy:", kma_cause_remedy(o->cause));
}

/* The CRL the agent kept from its coordinator (coordlink.h), as the daemon's probes use it. */
static void kept_crl(struct tlsctx *tls, const struct hal *hal)
{
	char path[PATH_MAX], err[320];
	unsigned char *der = NULL;
	size_t len = 0;
	int e;

	if (snprintf(path, sizeof(path), "%s/%s", hal->state_dir, COORDLINK_CRL_FILE) >=
	    (int)sizeof(path))
		return;
	e = fileio_read(path, CRLCHECK_DER_MAX, &der, &len);
	if (e == 0 && tlsctx_set_crl(tls, der, len, err, sizeof(err)) != TLSCTX_OK)
		fprintf(stderr, "kma-agent: probe: %s: not used: %s\n", path, err);
	else if (e && e != ENOENT)
		fprintf(stderr, "kma-agent: probe: %s: %s\n", path, strerror(e));
	free(der);
}

/* Our TLS material: from files, or from the node's identity record. */
static int load_tls(struct tlsctx *tls, const struct probe_opts *o, const char *config_path,
                    bool explicit_config, const char *level_arg)
{
	char err[512];
	enum tlsctx_status st;

	if (o->cert || o->key || o->ca || o->crl) {
		if (!o->cert || !o->key || !o->ca) {
			fprintf(stderr, "kma-agent: probe: --ca, --cert and --key go together%s\n",
			        o->crl ? ", and --crl with them" : "");
			return KMA_EXIT_USAGE;
		}
		st = tlsctx_load_files(tls, o->key, o->cert, o->ca, o->crl, err, sizeof(err));
	} else {
		struct agent_config cfg;
		struct board board;
		struct hal hal = {0};
		Kma__V1__IdentityRecord *rec = NULL;
		struct hal_load_info info;
		int ret;

		if (o->config) {
			config_path = o->config;
			explicit_config = true;
		}
		ret = setup_config(&cfg, config_path, explicit_config, level_arg);
		if (!ret)
			ret = setup_board(&cfg, &board);
		if (!ret)
			ret = setup_hal(&cfg, &board, &hal);
		if (ret) {
			hal_close(&hal);
			return ret;
		}
		if (hal_identity_load(&hal, &rec, &info) != HAL_OK) {
			fprintf(stderr,
			        "kma-agent: probe: no usable identity (%s); give --ca, "
			        "--cert and --key\n",
			        hal.error[0] ? hal.error : "unprovisioned");
			hal_close(&hal);
			return KMA_EXIT_NOINPUT;
		}
		st = tlsctx_load_record(tls, rec, err, sizeof(err));
		kma__v1__identity_record__free_unpacked(rec, NULL);
		if (st == TLSCTX_OK)
			kept_crl(tls, &hal);
		hal_close(&hal);
	}
	if (st == TLSCTX_OK)
		st = tlsctx_setup(tls, err, sizeof(err));
	switch (st) {
	case TLSCTX_OK:
		return KMA_EXIT_OK;
	case TLSCTX_ERR_INPUT:
		fprintf(stderr, "kma-agent: probe: %s\n", err);
		return KMA_EXIT_NOINPUT;
	case TLSCTX_ERR_DATA:
		fprintf(stderr, "kma-agent: probe: %s\n", err);
		return KMA_EXIT_DATAERR;
	default:
		fprintf(stderr, "kma-agent: probe: %s\n", err);
		return KMA_EXIT_SOFTWARE;
	}
}

static void probe_outbound(struct probe *p, struct tlsctx *tls, const struct probe_opts *o,
                           const struct probe_expect *e)
{
	char host[256], port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int rc;

	split_hostport(o->target, host, sizeof(host), port, sizeof(port));
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		probe_resolve_failed(p, o->target, e, gai_strerror(rc));
		return;
	}
	probe_connect(p, tls, ai->ai_addr, ai->ai_addrlen, o->target, e, o->timeout_s * 1000u);
	freeaddrinfo(ai);
	drive(p);
}

static int probe_inbound(struct probe *p, struct tlsctx *tls, const struct probe_opts *o,
                         const struct probe_expect *e)
{
	char host[256], port[16], label[PROBE_ADDR_MAX], ip[INET6_ADDRSTRLEN];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int lfd = -1, fd, one = 1, rc, ret = KMA_EXIT_UNAVAILABLE;

	if (split_hostport(o->accept, host, sizeof(host), port, sizeof(port)) ||
	    (rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		fprintf(stderr, "kma-agent: probe: cannot listen on '%s'\n", o->accept);
		return KMA_EXIT_USAGE;
	}
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 8) < 0) {
		fprintf(stderr, "kma-agent: probe: listen on %s: %s\n", o->accept, strerror(errno));
		goto exit;
	}
	do
		fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		fprintf(stderr, "kma-agent: probe: accept: %s\n", strerror(errno));
		goto exit;
	}
	if (peer.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&peer;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(label, sizeof(label), "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&peer;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(label, sizeof(label), "%s:%u", ip, ntohs(s4->sin_port));
	}
	close(lfd);
	lfd = -1;
	probe_accept(p, tls, fd, label, e, o->timeout_s * 1000u);
	drive(p);
	ret = KMA_EXIT_OK;
exit:
	if (lfd >= 0)
		close(lfd);
	freeaddrinfo(ai);
	return ret;
}

int cli_probe(int argc, char **argv, const char *config_path, bool explicit_config,
              const char *level_arg)
{
	static const struct option opts[] = {
	    {"ca", required_argument, NULL, 'a'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"crl", required_argument, NULL, 'r'},
	    {"config", required_argument, NULL, 'C'},
	    {"expect-id", required_argument, NULL, 'i'},
	    {"expect-serial", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"accept", required_argument, NULL, 'A'},
	    {"once", no_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct probe_opts o = {.timeout_s = 5};
	struct probe_expect e = {0};
	struct tlsctx tls;
	struct probe p;
	char norm[KMA_SERIAL_SIZE], host[256], port[16];
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.ca = optarg;
			break;
		case 'c':
			o.cert = optarg;
			break;
		case 'k':
			o.key = optarg;
			break;
		case 'r':
			o.crl = optarg;
			break;
		case 'C':
			o.config = optarg;
			break;
		case 'i':
			o.expect_id = optarg;
			break;
		case 's':
			o.expect_serial = optarg;
			break;
		case 'A':
			o.accept = optarg;
			break;
		case 'o':
			o.once = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v < 1 || v > 3600) {
				fprintf(stderr, "kma-agent: probe: --timeout takes 1 to 3600 s\n");
				return KMA_EXIT_USAGE;
			}
			o.timeout_s = (unsigned)v;
			break;
		}
		case 'h':
			probe_usage(stdout);
			return KMA_EXIT_OK;
		default:
			probe_usage(stderr);
			return KMA_EXIT_USAGE;
		}
	}
	if (o.accept ? (optind != argc || !o.once) : optind + 1 != argc) {
		probe_usage(stderr);
		return KMA_EXIT_USAGE;
	}
	if (!o.accept) {
		o.target = argv[optind];
		if (split_hostport(o.target, host, sizeof(host), port, sizeof(port))) {
			fprintf(
			    stderr,
			    "kma-agent: probe: '%s' is not HOST:PORT (a port from 1 to 65535)\n",
			    o.target);
			return KMA_EXIT_USAGE;
		}
	}
	if (o.expect_serial && !hexser_normalize(o.expect_serial, norm, sizeof(norm))) {
		fprintf(stderr, "kma-agent: probe: --expect-serial '%s' is not a hex serial\n",
		        o.expect_serial);
		return KMA_EXIT_USAGE;
	}
	e.node_id = o.expect_id;
	e.serial = o.expect_serial;

	tlsctx_init(&tls);
	ret = load_tls(&tls, &o, config_path, explicit_config, level_arg);
	if (ret)
		goto exit;
	if (o.accept) {
		ret = probe_inbound(&p, &tls, &o, &e);
		if (ret)
			goto exit;
	} else {
		probe_outbound(&p, &tls, &o, &e);
	}
	if (o.json)
		print_json(probe_result(&p));
	else
		print_text(probe_result(&p));
	ret = probe_result(&p)->cause == KMA_CAUSE_OK ? KMA_EXIT_OK : KMA_EXIT_FAILURE;
	probe_free(&p);
exit:
	tlsctx_free(&tls);
	return ret;
}
