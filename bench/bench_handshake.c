/*
 * CPU per mutual-TLS probe (both sides, P-256, TLS 1.2), measured as process CPU time in
 * one run:
 *   floor    the mbedTLS operations a full handshake is made of: 2 ECDHE key generations,
 *            2 shared secrets, 2 ECDSA signatures, 4 ECDSA verifications (each side checks
 *            the peer's certificate and its handshake signature)
 *   kma      our probe code, client and server, over loopback TCP, full handshake
 *   resumed  our probe resuming the session ticket of an earlier full probe
 *   amortised  the mesh's mix at the default intervals: one full handshake (tickets on)
 *            per full_handshake_interval, resumed probes every probe_interval in between
 *   openssl  OpenSSL's libssl doing the same full handshake, same certificates, same suite
 * Usage: bench_handshake DATA_DIR [N]   (DATA_DIR holds ca.pem, a-kma01.pem, a-kma01.key)
 */

#include "mbedcompat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/sha256.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "probe.h"
#include "probe_pair.h"
#include "tlsctx.h"

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

static int listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0)
		die("listen");
	return fd;
}

/* ---- floor: the public-key operations of one handshake ---- */

static double floor_ms(struct tlsctx *t, int n)
{
	mbedtls_ecp_group grp;
	mbedtls_mpi d1, d2, z;
	mbedtls_ecp_point q1, q2;
	unsigned char hash[32] = {1}, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t slen;
	double start;

	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&d1);
	mbedtls_mpi_init(&d2);
	mbedtls_mpi_init(&z);
	mbedtls_ecp_point_init(&q1);
	mbedtls_ecp_point_init(&q2);
	if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1))
		die("group");
	start = cpu_ms();
	for (int i = 0; i < n; i++) {
		if (mbedtls_ecdh_gen_public(&grp, &d1, &q1, mbedtls_ctr_drbg_random, &t->drbg) ||
		    mbedtls_ecdh_gen_public(&grp, &d2, &q2, mbedtls_ctr_drbg_random, &t->drbg) ||
		    mbedtls_ecdh_compute_shared(&grp, &z, &q2, &d1, mbedtls_ctr_drbg_random,
		                                &t->drbg) ||
		    mbedtls_ecdh_compute_shared(&grp, &z, &q1, &d2, mbedtls_ctr_drbg_random,
		                                &t->drbg))
			die("ecdh");
		for (int s = 0; s < 2; s++)
			if (kma_pk_sign(&t->key, MBEDTLS_MD_SHA256, hash, 32, sig, sizeof(sig),
			                &slen, &t->drbg))
				die("sign");
		for (int v = 0; v < 4; v++)
			if (mbedtls_pk_verify(&t->chain.pk, MBEDTLS_MD_SHA256, hash, 32, sig, slen))
				die("verify");
	}
	start = (cpu_ms() - start) / n;
	mbedtls_ecp_point_free(&q1);
	mbedtls_ecp_point_free(&q2);
	mbedtls_mpi_free(&d1);
	mbedtls_mpi_free(&d2);
	mbedtls_mpi_free(&z);
	mbedtls_ecp_group_free(&grp);
	return start;
}

/* ---- our probe, both sides ---- */

/* One probe, client and server driven from this thread; dies unless both say ok. */
static void kma_probe(struct tlsctx *t, int lfd, const struct sockaddr_in *addr,
                      struct probe_session *sess, bool want_resumed)
{
	struct probe c, s;
	struct probe_expect ec = {.node_id = "a-kma01", .session = sess};
	struct probe_expect es = {.node_id = "a-kma01"};
	int fd;

	probe_connect(&c, t, (const struct sockaddr *)addr, sizeof(*addr), "bench", &ec, 5000);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		die("accept");
	probe_accept(&s, t, fd, "bench", &es, 5000);
	probe_pair_run(&c, &s);
	if (probe_result(&c)->cause != KMA_CAUSE_OK || probe_result(&s)->cause != KMA_CAUSE_OK)
		die("our handshake did not succeed");
	if (probe_result(&c)->resumed != want_resumed || probe_result(&s)->resumed != want_resumed)
		die(want_resumed ? "a probe did not resume" : "a full probe resumed");
	probe_free(&c);
	probe_free(&s);
}

/*
 * n probes; with sess, every full_every-th one (the first included) is a full handshake
 * that saves a session, the others resume it. Without sess, all are full.
 */
static double kma_ms(struct tlsctx *t, int n, struct probe_session *sess, int full_every)
{
	struct sockaddr_in addr;
	int lfd = listener(&addr);
	double start = cpu_ms();

	for (int i = 0; i < n; i++) {
		bool full = !sess || i % full_every == 0;

		if (sess && full)
			probe_session_forget(sess);
		kma_probe(t, lfd, &addr, sess, !full);
	}
	start = (cpu_ms() - start) / n;
	close(lfd);
	return start;
}

/* Resumed probes only: one full probe first, outside the measurement. */
static double kma_resumed_ms(struct tlsctx *t, int n, struct probe_session *sess)
{
	struct sockaddr_in addr;
	int lfd = listener(&addr);
	double start;

	probe_session_forget(sess);
	kma_probe(t, lfd, &addr, sess, false);
	start = cpu_ms();
	for (int i = 0; i < n; i++)
		kma_probe(t, lfd, &addr, sess, true);
	start = (cpu_ms() - start) / n;
	close(lfd);
	return start;
}

/* ---- OpenSSL, both sides ---- */

static bool want_io(int e)
{
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

static SSL_CTX *ossl_ctx(const char *dir, bool server)
{
	char ca[512], cert[512], key[512];
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/a-kma01.pem", dir);
	snprintf(key, sizeof(key), "%s/a-kma01.key", dir);
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256") ||
	    !SSL_CTX_set1_groups_list(ctx, "P-256") ||
	    SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		die("openssl context");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static double openssl_ms(const char *dir, int n)
{
	SSL_CTX *sc = ossl_ctx(dir, true), *cc = ossl_ctx(dir, false);
	struct sockaddr_in addr;
	int lfd = listener(&addr);
	double start = cpu_ms();

	for (int i = 0; i < n; i++) {
		int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), sfd;
		SSL *c = SSL_new(cc), *s = SSL_new(sc);
		int rc_c = 0, rc_s = 0;

		if (connect(cfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect");
		sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		SSL_set_fd(c, cfd);
		SSL_set_fd(s, sfd);
		SSL_set_connect_state(c);
		SSL_set_accept_state(s);
		fcntl(cfd, F_SETFL, O_NONBLOCK);
		fcntl(sfd, F_SETFL, O_NONBLOCK);
		/* One thread drives both ends: alternate until both are done. */
		for (int guard = 0; rc_c != 1 || rc_s != 1; guard++) {
			if (guard > 100000)
				die("openssl handshake does not finish");
			if (rc_c != 1)
				rc_c = SSL_do_handshake(c);
			if (rc_s != 1)
				rc_s = SSL_do_handshake(s);
			if ((rc_c != 1 && !want_io(SSL_get_error(c, rc_c))) ||
			    (rc_s != 1 && !want_io(SSL_get_error(s, rc_s))))
				die("openssl handshake failed");
		}
		SSL_free(c);
		SSL_free(s);
		close(cfd);
		close(sfd);
	}
	start = (cpu_ms() - start) / n;
	close(lfd);
	SSL_CTX_free(sc);
	SSL_CTX_free(cc);
	return start;
}

int main(int argc, char **argv)
{
	struct tlsctx t, tr;
	struct agent_config cfg;
	struct probe_session sess;
	char err[256], ca[512], cert[512], key[512];
	int n = argc > 2 ? atoi(argv[2]) : 200, k;
	double fl, km, kf, kr, ka, os;

	if (argc < 2 || n < 1) {
		fprintf(stderr, "usage: bench_handshake DATA_DIR [N]\n");
		return 64;
	}
	snprintf(ca, sizeof(ca), "%s/ca.pem", argv[1]);
	snprintf(cert, sizeof(cert), "%s/a-kma01.pem", argv[1]);
	snprintf(key, sizeof(key), "%s/a-kma01.key", argv[1]);
	config_defaults(&cfg);
	/* Probes per full handshake at the default intervals (the jitter averages out). */
	k = (int)(cfg.full_handshake_interval_s / cfg.probe_interval_s);
	if (k < 1)
		k = 1;
	tlsctx_init(&t);
	tlsctx_init(&tr);
	probe_session_init(&sess);
	if (tlsctx_load_files(&t, key, cert, ca, NULL, err, sizeof(err)) ||
	    tlsctx_setup(&t, err, sizeof(err)) ||
	    tlsctx_load_files(&tr, key, cert, ca, NULL, err, sizeof(err)) ||
	    tlsctx_setup(&tr, err, sizeof(err)) ||
	    tlsctx_enable_resumption(&tr, cfg.full_handshake_interval_s, err, sizeof(err)))
		die(err);
	fl = floor_ms(&t, n);
	km = kma_ms(&t, n, NULL, 1);
	kf = kma_ms(&tr, n, &sess, 1);
	kr = kma_resumed_ms(&tr, n, &sess);
	ka = kma_ms(&tr, n / k * k > 0 ? n / k * k : k, &sess, k);
	os = openssl_ms(argv[1], n);
	printf("CPU per mutual-TLS 1.2 probe, both sides, P-256, ECDHE-ECDSA-AES128-GCM, N=%d\n",
	       n);
	printf("  %-60s %7.3f ms\n", "mbedTLS floor (2 keygen, 2 ECDH, 2 sign, 4 verify)", fl);
	printf("  %-60s %7.3f ms   %.2fx floor\n",
	       "kma full probe (mbedTLS " MBEDTLS_VERSION_STRING ")", km, km / fl);
	printf("  %-60s %7.3f ms   %.2fx floor\n", "kma full probe, tickets on (issue + save)", kf,
	       kf / fl);
	printf("  %-60s %7.3f ms   %.3fx full\n", "kma resumed probe (session ticket)", kr,
	       kr / kf);
	snprintf(err, sizeof(err), "kma amortised: 1 full per %u s, a probe every %u s (1:%d)",
	         cfg.full_handshake_interval_s, cfg.probe_interval_s, k - 1);
	printf("  %-60s %7.3f ms   %.3fx full\n", err, ka, ka / kf);
	printf("  %-60s %7.3f ms\n", OpenSSL_version(OPENSSL_VERSION), os);
	printf("  ratios to OpenSSL's full handshake: kma full %.2fx, kma resumed %.3fx, kma "
	       "amortised %.2fx (target < 1)\n",
	       km / os, kr / os, ka / os);
	printf("  probe cost per peer per hour at a %u s interval (%u probes, both sides): "
	       "%.2f CPU s full, %.2f CPU s amortised\n",
	       cfg.probe_interval_s, 3600 / cfg.probe_interval_s,
	       km * (3600 / cfg.probe_interval_s) / 1000,
	       ka * (3600 / cfg.probe_interval_s) / 1000);
	probe_session_free(&sess);
	tlsctx_free(&tr);
	tlsctx_free(&t);
	return 0;
}
