/*
 * kma-coord: the cluster's single source of truth. This slice serves agent reports and
 * the operator's node table over HTTPS with client certificates (docs/protocol.md).
 *
 * Lifecycle: arguments, configuration, PEM files, store, authenticator, HTTPS server;
 * then it waits for SIGTERM or SIGINT and finalises in reverse.
 */

#include "mbedcompat.h"

#include <errno.h>
#include <getopt.h>
#include <mbedtls/entropy.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "certinfo.h"
#include "coord_config.h"
#include "coord_ha.h"
#include "diagnose.h"
#include "enroll.h"
#include "exitcodes.h"
#include "engine.h"
#include "fileio.h"
#include "http.h"
#include "keyguard.h"
#include "kma.pb-c.h"
#include "log.h"
#include "pkiinit.h"
#include "plantoken.h"
#include "revoke.h"
#include "sdnotify.h"
#include "status.h"
#include "store.h"
#include "store_replica.h"
#include "timeline.h"

#define SERVER_THREADS_MAX 4

#ifndef KMA_COORD_DEFAULT_CONFIG
#define KMA_COORD_DEFAULT_CONFIG "/etc/kma-coord/coord.conf"
#endif

/* PEM files are a few KiB; anything this large is not one. */
#define PEM_MAX (1024 * 1024)

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: kma-coord [-c FILE] [--check-config]\n"
	        "       kma-coord init --dir DIR --cluster NAME --host HOST ...   (day one: the\n"
	        "                      CAs, certificates and configurations; init --help)\n"
	        "  -c, --config FILE   configuration (default %s)\n"
	        "      --check-config  validate the configuration and the PEM files, then exit\n"
	        "  -V, --version       print the version\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Exit status: 0 ok, 64 usage, 65 unusable PEM, 66 missing input, 69 cannot\n"
	        "serve (address in use), 74 database failure, 78 configuration error.\n",
	        KMA_COORD_DEFAULT_CONFIG);
}

/* The PEM files, read once; the key is wiped as soon as the server has it. */
struct pem_files {
	char *cert;
	size_t cert_len;
	char *key;
	size_t key_len;
	char *trust; /* cluster CA then operator CA */
	size_t trust_len;
};

static void pem_files_free(struct pem_files *f)
{
	if (f->key)
		mbedtls_platform_zeroize(f->key, f->key_len);
	free(f->key);
	free(f->cert);
	free(f->trust);
	memset(f, 0, sizeof(*f));
}

static int read_pem(const char *path, const char *what, char **out, size_t *len)
{
	unsigned char *buf = NULL;
	int err = fileio_read_input(path, PEM_MAX, &buf, len);

	if (err) {
		log_errno(LOG_LVL_ERR, err, "%s %s: cannot read", what, path);
		return KMA_EXIT_NOINPUT;
	}
	*out = (char *)buf;
	return KMA_EXIT_OK;
}

/* KMA_EXIT_OK when the key file at path is private (keyguard.h), else why, logged. */
static int key_private(const char *path, const char *what)
{
	unsigned mode = 0;
	int err = keyguard_file_check(path, &mode);

	if (err == EPERM) {
		log_err("%s %s: mode %04o lets others read it; chmod 600 (or 640 with group "
		        "kma-coord under the packaged unit)",
		        what, path, mode);
		return KMA_EXIT_CONFIG;
	}
	if (err) {
		log_errno(LOG_LVL_ERR, err, "%s %s: cannot read", what, path);
		return KMA_EXIT_NOINPUT;
	}
	return KMA_EXIT_OK;
}

/* Checks that the server certificate and key parse and belong together. */
static int check_server_pair(const struct coord_config *cfg, const struct pem_files *f)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	char msg[128];
	int ret = KMA_EXIT_DATAERR, rc;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	rc = mbedtls_x509_crt_parse(&crt, (const unsigned char *)f->cert, f->cert_len + 1);
	if (rc != 0) {
		char where[PATH_MAX + 256];

		certinfo_pem_error(cfg->cert, (const unsigned char *)f->cert, f->cert_len, rc,
		                   where, sizeof(where));
		log_err("cert %s", where);
		goto exit;
	}
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	                          (const unsigned char *)"kma-coord", 9) != 0) {
		log_err("cannot seed the random generator");
		ret = KMA_EXIT_SOFTWARE;
		goto exit;
	}
	rc = kma_pk_parse_key(&pk, (const unsigned char *)f->key, f->key_len + 1, &drbg);
	if (rc != 0) {
		/* The error names the format problem only, never key material. */
		certinfo_strerror(rc, msg, sizeof(msg));
		log_err("key %s: %s", cfg->key, msg);
		goto exit;
	}
	if (kma_pk_check_pair(&crt.pk, &pk, &drbg) != 0) {
		log_err("key %s does not belong to cert %s", cfg->key, cfg->cert);
		goto exit;
	}
	ret = KMA_EXIT_OK;
exit:
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
	return ret;
}

static int load_pem_files(const struct coord_config *cfg, struct pem_files *f)
{
	char *ca = NULL, *opca = NULL;
	size_t ca_len = 0, opca_len = 0;
	int ret;

	memset(f, 0, sizeof(*f));
	ret = read_pem(cfg->cert, "cert", &f->cert, &f->cert_len);
	if (!ret)
		ret = key_private(cfg->key, "key");
	if (!ret)
		ret = read_pem(cfg->key, "key", &f->key, &f->key_len);
	if (!ret)
		ret = read_pem(cfg->ca, "ca", &ca, &ca_len);
	if (!ret)
		ret = read_pem(cfg->operator_ca, "operator_ca", &opca, &opca_len);
	if (ret)
		goto exit;
	f->trust_len = ca_len + 1 + opca_len;
	f->trust = malloc(f->trust_len + 1);
	if (!f->trust) {
		ret = KMA_EXIT_SOFTWARE;
		goto exit;
	}
	/* A newline between them, in case the first file lacks its last one. */
	memcpy(f->trust, ca, ca_len);
	f->trust[ca_len] = '\n';
	memcpy(f->trust + ca_len + 1, opca, opca_len + 1);
	ret = check_server_pair(cfg, f);
exit:
	free(ca);
	free(opca);
	if (ret)
		pem_files_free(f);
	return ret;
}

static int load_config(struct coord_config *cfg, const char *path)
{
	struct coord_config_error err;

	coord_config_defaults(cfg);
	if (coord_config_load(cfg, path, &err) != 0 || coord_config_check(cfg, &err) != 0) {
		if (err.line > 0)
			fprintf(stderr, "kma-coord: %s:%d: %s\n", err.path, err.line, err.message);
		else
			fprintf(stderr, "kma-coord: %s: %s\n", err.path, err.message);
		return KMA_EXIT_CONFIG;
	}
	log_set_level(cfg->log_level);
	return KMA_EXIT_OK;
}

/* Enough file descriptors for max_connections (up to the hard limit), said if not. */
static void raise_file_limit(unsigned max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warn("file limit %llu is below max_connections %u + 64: raise LimitNOFILE",
		         (unsigned long long)rl.rlim_cur, max_connections);
}

/*
 * One server thread per CPU, up to SERVER_THREADS_MAX: reports are stored one batch at a
 * time (http.h), so more threads would only share the rest of a report's work more thinly
 * (bench_coord at 2 CPUs: 4 threads no faster than 2, 8 slower).
 */
static unsigned server_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > SERVER_THREADS_MAX ? SERVER_THREADS_MAX : (unsigned)n;
}

static uint64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Until SIGTERM or SIGINT: the recovery engine's and the held watches' ticks, the CRL kept up
 * with the enrolment (revoke may be NULL) and the WAL's checkpoint, four a second.
 * systemd's watchdog is pinged from here, after a whole round: a round reads and writes the
 * database (engine, checkpoint) and takes the watch list's lock the HTTP threads take, so a
 * stuck database, a lock held for ever or a wedged engine stop the pings. It does not
 * prove that the HTTP threads answer.
 */
static void run_until_stop(const sigset_t *set, struct http_server *srv, struct store *st,
                           const struct engine_params *ep, struct revoke *revoke,
                           struct timeline *tl)
{
	const struct timespec tick = {.tv_sec = 0, .tv_nsec = 250 * 1000 * 1000};
	bool crl_stale = false;
	struct sdnotify_watchdog wd;
	int sig;

	sdnotify_watchdog_init(&wd);
	for (;;) {
		sig = sigtimedwait(set, NULL, &tick);
		if (sig < 0) {
			engine_tick(st, ep, time(NULL));
			http_tick(srv, st, time(NULL));
			timeline_tick(tl, st, time(NULL), ep->stale_after_s);
			if (revoke) {
				bool failed = revoke_refresh(revoke, st, time(NULL)) != 0;

				if (failed && !crl_stale)
					log_warn("CRL: not brought up to date; the kept one stays "
					         "until it can be");
				else if (!failed && crl_stale)
					log_notice("CRL: up to date again");
				crl_stale = failed;
			}
			if (store_checkpoint(st) != STORE_OK)
				log_warn("the database's WAL could not be checkpointed; it grows");
			sdnotify_watchdog_kick(&wd, monotonic_us());
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT) {
			log_notice("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		log_info("SIGHUP: nothing to reload in this version");
	}
}

/* Starts the HTTPS server; the private key is wiped once GnuTLS has its own copy. */
static struct http_server *serve(const struct http_params *hp, struct pem_files *pem)
{
	struct http_server *srv = http_start(hp);

	mbedtls_platform_zeroize(pem->key, pem->key_len);
	return srv;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = KMA_COORD_DEFAULT_CONFIG;
	bool check_only = false;
	struct coord_config cfg;
	struct pem_files pem = {0};
	struct store *store = NULL, *engine_store = NULL;
	struct engine_params ep;
	struct auth *auth = NULL;
	struct enroll_ca *enroll_ca = NULL;
	struct revoke *revoke = NULL;
	struct http_server *srv = NULL;
	struct status_server *status = NULL;
	struct timeline *timeline = NULL;
	struct coord_ha *ha = NULL;
	struct http_params hp;
	sigset_t set;
	int ret = KMA_EXIT_SOFTWARE, c;

	if (argc > 1 && strcmp(argv[1], "init") == 0)
		return pkiinit_main(argc - 1, argv + 1, stdout);
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'C':
			check_only = true;
			break;
		case 'V':
			printf("kma-coord %s (wire schema %s; stores: sqlite%s)\n", KMA_VERSION,
			       kma__v1__agent_report__descriptor.package_name,
			       store_replica_available() ? ", etcd" : "");
			return KMA_EXIT_OK;
		case 'h':
			usage(stdout);
			return KMA_EXIT_OK;
		default:
			usage(stderr);
			return KMA_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kma-coord: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return KMA_EXIT_USAGE;
	}
	log_init("kma-coord", LOG_LVL_INFO);
	c = keyguard_no_dumps();
	if (c)
		log_errno(LOG_LVL_WARN, c, "keys may reach a core dump");
	ret = load_config(&cfg, config_path);
	if (ret)
		return ret;
	ret = load_pem_files(&cfg, &pem);
	if (ret)
		goto exit;
	auth = auth_new(cfg.ca, cfg.operator_ca);
	if (!auth) {
		ret = KMA_EXIT_DATAERR;
		goto exit;
	}
	{
		char subjects[DIAGNOSE_CA_MAX][DIAG_DN_MAX];

		diagnose_set_cluster_ca((const char(*)[DIAG_DN_MAX])subjects,
		                        auth_cluster_subjects(auth, subjects, DIAGNOSE_CA_MAX));
	}
	/* Also for --check-config: ca_key must be private, parse and belong to ca. */
	if (cfg.ca_key[0]) {
		ret = key_private(cfg.ca_key, "ca_key");
		if (ret)
			goto exit;
		switch (enroll_ca_load(cfg.ca, cfg.ca_key, &enroll_ca)) {
		case ENROLL_OK:
			break;
		case ENROLL_ERR_INPUT:
			ret = KMA_EXIT_NOINPUT;
			goto exit;
		case ENROLL_ERR_DATA:
			ret = KMA_EXIT_DATAERR;
			goto exit;
		default:
			ret = KMA_EXIT_SOFTWARE;
			goto exit;
		}
	}
	if (enroll_ca && !enroll_ca_signs_crls(enroll_ca))
		log_warn("ca %s: its keyUsage lacks cRLSign: no CRL is kept (peers still refuse "
		         "superseded serials by pinning)",
		         cfg.ca);
	if (check_only) {
		printf("%s: ok (listen %s, %s %s, report interval %u s, enrolment %s, CRL %s)\n",
		       config_path, cfg.listen, cfg.etcd ? "etcd store, replica" : "db", cfg.db,
		       cfg.report_interval_s, enroll_ca ? "on" : "off (no ca_key)",
		       enroll_ca && enroll_ca_signs_crls(enroll_ca) ? "on" : "off");
		ret = KMA_EXIT_OK;
		goto exit;
	}

	/* The database, its WAL and everything else we create are ours alone. */
	umask(077);
	raise_file_limit(cfg.max_connections);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		ret = KMA_EXIT_SOFTWARE;
		goto exit;
	}
	signal(SIGPIPE, SIG_IGN);

	hp = (struct http_params){
	    .listen = cfg.listen,
	    .cert_pem = pem.cert,
	    .key_pem = pem.key,
	    .trust_pem = pem.trust,
	    .max_body = cfg.max_body,
	    .report_interval_ms = cfg.report_interval_s * 1000u,
	    .threads = server_threads(),
	    .auth = auth,
	    .enroll_ca = enroll_ca,
	    .token_ttl_s = cfg.token_ttl_s,
	    .cert_days = cfg.cert_days,
	    .cluster_id = cfg.cluster_id,
	    .min_serving = cfg.min_serving,
	    .max_connections = cfg.max_connections,
	    .max_per_ip = cfg.max_per_ip,
	};
	ep = (struct engine_params){
	    .stabilise_s = cfg.stabilise_s,
	    .step_timeout_s = cfg.step_timeout_s,
	    .lease_ttl_s = cfg.lease_ttl_s,
	    .stale_after_s = coord_stale_after_s(cfg.report_interval_s),
	    .min_serving = cfg.min_serving,
	};
	plan_token_key_set((const unsigned char *)pem.key, pem.key_len);
	if (cfg.etcd) {
		bool stopped = false;

		/* A standby until this instance leads; the server answers as one meanwhile. */
		if (!(srv = serve(&hp, &pem))) {
			ret = KMA_EXIT_UNAVAILABLE;
			goto exit;
		}
		ha = coord_ha_take_over(&cfg, srv, &set, &stopped);
		if (!ha) {
			ret = stopped ? KMA_EXIT_OK : KMA_EXIT_UNAVAILABLE;
			goto exit;
		}
	}
	/*
	 * Two handles on one file: the HTTP threads' and the recovery engine's (this thread's),
	 * which also checkpoints the WAL, off the threads answering reports.
	 */
	if (store_open(cfg.db, &store) != STORE_OK ||
	    store_open(cfg.db, &engine_store) != STORE_OK) {
		ret = KMA_EXIT_IOERR;
		goto exit;
	}
	store_defer_checkpoints(store);
	/* The CRL before the first connection, so that a restarted coordinator honours it. */
	if (enroll_ca && enroll_ca_signs_crls(enroll_ca)) {
		revoke = revoke_new(enroll_ca, auth_honour_crl, auth);
		if (!revoke || revoke_refresh(revoke, store, time(NULL)) != 0) {
			ret = KMA_EXIT_SOFTWARE;
			goto exit;
		}
	}
	hp.store = store;
	hp.revoke = revoke;
	if (srv) {
		http_promote(srv, store, revoke);
	} else if (!(srv = serve(&hp, &pem))) {
		ret = KMA_EXIT_UNAVAILABLE;
		goto exit;
	}
	if (cfg.status_listen[0]) {
		struct api_params prm = {cfg.token_ttl_s, ep.stale_after_s, cfg.min_serving};

		timeline = timeline_new();
		status = status_start(cfg.status_listen, cfg.db, &prm, cfg.cluster_id, timeline);
		if (!status) {
			ret = KMA_EXIT_UNAVAILABLE;
			goto exit;
		}
	}
	log_notice("serving on %s (db %s, report interval %u s, max body %u bytes)", cfg.listen,
	           cfg.db, cfg.report_interval_s, cfg.max_body);
	if (enroll_ca)
		log_notice("enrolment: issuing as %s (tokens valid %u s, certificates %u days)",
		           enroll_ca_subject(enroll_ca), cfg.token_ttl_s, cfg.cert_days);
	else
		log_notice("enrolment: off (no ca_key)");
	if (revoke)
		log_notice("revocation: a CRL of %zu serials, sent with every peer table and "
		           "honoured here",
		           revoke_count(revoke));
	/* Type=notify: both listeners accept and the first round is about to run. */
	sdnotify_tell("READY=1\nSTATUS=serving");
	run_until_stop(&set, srv, engine_store, &ep, revoke, timeline);
	sdnotify_tell("STOPPING=1");
	ret = KMA_EXIT_OK;
exit:
	status_stop(status);
	timeline_free(timeline);
	http_stop(srv);
	revoke_free(revoke);
	store_close(store);
	store_close(engine_store);
	coord_ha_end(ha);
	enroll_ca_free(enroll_ca);
	auth_free(auth);
	pem_files_free(&pem);
	if (!check_only && ret == KMA_EXIT_OK)
		log_notice("stopped");
	return ret;
}
