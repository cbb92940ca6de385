#include "mbedcompat.h"

#include "pkiinit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "enroll.h"
#include "exitcodes.h"
#include "fileio.h"
#include "hostport.h"

#define PEM_MAX      4096
#define NAME_MAX_    64
#define BACKDATE_S   300 /* a little slack for clocks behind ours */
#define DEFAULT_OP   "admin"
#define DEFAULT_DAYS 825
#define CA_DAYS      3650

/* extendedKeyUsage: serverAuth, or clientAuth (RFC 5280, 4.2.1.12). */
static const unsigned char eku_server[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                           0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
static const unsigned char eku_client[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                           0x01, 0x05, 0x05, 0x07, 0x03, 0x02};

/* One file to write: its name in the directory, its mode and contents. */
struct out_file {
	char name[NAME_MAX_ + 16];
	mode_t mode;
	char *data;
	bool written;
};

enum {
	F_CA_KEY,
	F_CA,
	F_COORD_KEY,
	F_COORD,
	F_OPCA_KEY,
	F_OPCA,
	F_OP_KEY,
	F_OP,
	F_CONF,
	F_CTL,
	F_N
};

struct issuer {
	mbedtls_pk_context key;
	char subject[160];
};

/* A name an operator or a cluster may have: 1 to 64 of A-Z a-z 0-9 . _ - */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= NAME_MAX_ &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A DNS name (letters, digits, dots and hyphens) or an IPv4 or IPv6 address. */
static bool host_ok(const char *s)
{
	size_t n = strlen(s);

	if (hostport_is_numeric(s))
		return true;
	return n > 0 && n <= 253 && s[0] != '-' && s[0] != '.' &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

static int gen_key(mbedtls_pk_context *pk, mbedtls_ctr_drbg_context *drbg)
{
	int rc = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));

	if (rc == 0)
		rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
		                         mbedtls_ctr_drbg_random, drbg);
	return rc;
}

static char *key_pem(mbedtls_pk_context *pk)
{
	char *buf = calloc(1, PEM_MAX);

	if (buf && mbedtls_pk_write_key_pem(pk, (unsigned char *)buf, PEM_MAX) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * subjectAltName for hosts: a dNSName [2] or an iPAddress [7] each (RFC 5280, 4.2.1.6),
 * written backwards at the end of buf; its DER starts at *start. Returns its length or < 0.
 */
static int san_der(const struct pkiinit_params *p, unsigned char *buf, size_t size,
                   unsigned char **start)
{
	unsigned char *c = buf + size;
	size_t len = 0;
	int rc;

	for (size_t i = p->n_hosts; i-- > 0;) {
		unsigned char a[16];
		const unsigned char *v = (const unsigned char *)p->hosts[i];
		size_t n = strlen(p->hosts[i]), before = len;
		int tag = 2;

		if (inet_pton(AF_INET, p->hosts[i], a) == 1) {
			v = a, n = 4, tag = 7;
		} else if (inet_pton(AF_INET6, p->hosts[i], a) == 1) {
			v = a, n = 16, tag = 7;
		}
		if ((rc = mbedtls_asn1_write_raw_buffer(&c, buf, v, n)) < 0)
			return rc;
		len += (size_t)rc;
		if ((rc = mbedtls_asn1_write_len(&c, buf, len - before)) < 0)
			return rc;
		len += (size_t)rc;
		if ((rc = mbedtls_asn1_write_tag(&c, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag)) < 0)
			return rc;
		len += (size_t)rc;
	}
	if ((rc = mbedtls_asn1_write_len(&c, buf, len)) < 0)
		return rc;
	len += (size_t)rc;
	if ((rc = mbedtls_asn1_write_tag(&c, buf,
	                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
		return rc;
	len += (size_t)rc;
	*start = c;
	return (int)len;
}

/* What one certificate is. */
struct cert_spec {
	const char *subject;
	bool ca;
	const unsigned char *eku; /* NULL for a CA */
	size_t eku_len;
	const unsigned char *san; /* NULL: none */
	size_t san_len;
	unsigned days;
};

/* Signs a certificate for key as spec says, by issuer (NULL: self-signed); PEM or NULL. */
static char *make_cert(mbedtls_pk_context *key, struct issuer *issuer, const struct cert_spec *spec,
                       int64_t now, mbedtls_ctr_drbg_context *drbg)
{
	mbedtls_x509write_cert w;
	unsigned char serial[ENROLL_SERIAL_BYTES];
	char nb[16], na[16];
	char *pem = calloc(1, PEM_MAX);
	int rc = -1;

	mbedtls_x509write_crt_init(&w);
	if (enroll_random_serial(serial) != 0)
		goto exit;
	if (!pem || enroll_validity_time(now - BACKDATE_S, nb, sizeof(nb)) != 0 ||
	    enroll_validity_time(now + (int64_t)spec->days * 86400, na, sizeof(na)) != 0)
		goto exit;
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, key);
	mbedtls_x509write_crt_set_issuer_key(&w, issuer ? &issuer->key : key);
	if (kma_x509write_crt_set_serial(&w, serial, sizeof(serial)) != 0 ||
	    mbedtls_x509write_crt_set_validity(&w, nb, na) != 0 ||
	    mbedtls_x509write_crt_set_subject_name(&w, spec->subject) != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&w, issuer ? issuer->subject : spec->subject) !=
	        0 ||
	    mbedtls_x509write_crt_set_basic_constraints(&w, spec->ca, spec->ca ? 0 : -1) != 0 ||
	    mbedtls_x509write_crt_set_key_usage(
	        &w, spec->ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
	                     : MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
	    mbedtls_x509write_crt_set_subject_key_identifier(&w) != 0 ||
	    mbedtls_x509write_crt_set_authority_key_identifier(&w) != 0)
		goto exit;
	if (spec->eku &&
	    mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
	                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
	                                        spec->eku, spec->eku_len) != 0)
		goto exit;
	if (spec->san &&
	    mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
	                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
	                                        spec->san, spec->san_len) != 0)
		goto exit;
	rc = mbedtls_x509write_crt_pem(&w, (unsigned char *)pem, PEM_MAX, mbedtls_ctr_drbg_random,
	                               drbg);
exit:
	mbedtls_x509write_crt_free(&w);
	if (rc != 0) {
		free(pem);
		return NULL;
	}
	return pem;
}

/* The two configurations, naming the files in dir (absolute). */
static char *coord_conf(const struct pkiinit_params *p, const char *dir)
{
	size_t size = 8 * strlen(dir) + 4 * strlen(p->cluster) + 1024;
	char *buf = calloc(1, size), listen[96], db[PATH_MAX + 8];

	if (!buf)
		return NULL;
	if (p->listen)
		snprintf(listen, sizeof(listen), "listen = %s", p->listen);
	else
		snprintf(listen, sizeof(listen), "#listen = 0.0.0.0:8443");
	snprintf(db, sizeof(db), "%s%s", p->db ? "db = " : "#db = (the default)",
	         p->db ? p->db : "");
	snprintf(buf, size,
	         "# kma-coord for the cluster %s, written by kma-coord init.\n"
	         "[coord]\n"
	         "%s\n"
	         "%s\n"
	         "cluster_id = %s\n"
	         "cert = %s/coord.pem\n"
	         "key = %s/coord.key\n"
	         "ca = %s/cluster-ca.pem\n"
	         "ca_key = %s/cluster-ca.key\n"
	         "operator_ca = %s/operator-ca.pem\n",
	         p->cluster, listen, db, p->cluster, dir, dir, dir, dir, dir);
	return buf;
}

static char *ctl_conf(const struct pkiinit_params *p, const char *dir)
{
	size_t size = 8 * strlen(dir) + 4 * strlen(p->operator) + 1024;
	char *buf = calloc(1, size);
	bool v6 = strchr(p->hosts[0], ':') != NULL;

	if (!buf)
		return NULL;
	snprintf(buf, size,
	         "# kmactl as %s, for the cluster %s, written by kma-coord init.\n"
	         "[kmactl]\n"
	         "url = https://%s%s%s:%u/\n"
	         "cert = %s/%s.pem\n"
	         "key = %s/%s.key\n"
	         "ca = %s/cluster-ca.pem\n",
	         p->operator, p->cluster, v6 ? "[" : "", p->hosts[0], v6 ? "]" : "", p->port, dir,
	         p->operator, dir, p->operator, dir);
	return buf;
}

/* Writes every file with O_EXCL; on any failure removes those it wrote. */
static int write_all(const char *dir, struct out_file *f, size_t n, char *why, size_t size)
{
	char path[PATH_MAX + 2 * NAME_MAX_];

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(f[i].data);
		ssize_t w;
		int fd;

		snprintf(path, sizeof(path), "%s/%.80s", dir, f[i].name);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f[i].mode);
		if (fd < 0) {
			snprintf(why, size, "%s: %s", path, strerror(errno));
			goto undo;
		}
		f[i].written = true;
		w = write(fd, f[i].data, len);
		if (w != (ssize_t)len || fchmod(fd, f[i].mode) != 0 || fsync(fd) != 0) {
			snprintf(why, size, "%s: cannot write: %s", path,
			         w < 0 ? strerror(errno) : "short write");
			close(fd);
			goto undo;
		}
		close(fd);
	}
	if (fileio_sync_dir(dir) != 0) {
		snprintf(why, size, "%s: cannot sync the directory", dir);
		goto undo;
	}
	return 0;
undo:
	for (size_t i = 0; i < n; i++) {
		if (!f[i].written)
			continue;
		snprintf(path, sizeof(path), "%s/%.80s", dir, f[i].name);
		unlink(path);
	}
	return -1;
}

int pkiinit_write(const struct pkiinit_params *p, char *why, size_t size)
{
	struct out_file f[F_N];
	struct issuer ca, opca;
	mbedtls_pk_context coord_key, op_key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	unsigned char sanbuf[1024], *san = NULL;
	char dir[PATH_MAX], subject[160];
	int64_t now = (int64_t)time(NULL);
	int ret = -1, san_len;
	struct stat sb;

	memset(f, 0, sizeof(f));
	mbedtls_pk_init(&ca.key);
	mbedtls_pk_init(&opca.key);
	mbedtls_pk_init(&coord_key);
	mbedtls_pk_init(&op_key);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);

	snprintf(f[F_CA_KEY].name, sizeof(f[0].name), "cluster-ca.key");
	snprintf(f[F_CA].name, sizeof(f[0].name), "cluster-ca.pem");
	snprintf(f[F_COORD_KEY].name, sizeof(f[0].name), "coord.key");
	snprintf(f[F_COORD].name, sizeof(f[0].name), "coord.pem");
	snprintf(f[F_OPCA_KEY].name, sizeof(f[0].name), "operator-ca.key");
	snprintf(f[F_OPCA].name, sizeof(f[0].name), "operator-ca.pem");
	snprintf(f[F_OP_KEY].name, sizeof(f[0].name), "%s.key", p->operator);
	snprintf(f[F_OP].name, sizeof(f[0].name), "%s.pem", p->operator);
	snprintf(f[F_CONF].name, sizeof(f[0].name), "coord.conf");
	snprintf(f[F_CTL].name, sizeof(f[0].name), "kmactl.conf");
	for (size_t i = 0; i < F_N; i++)
		f[i].mode = i == F_CA_KEY || i == F_COORD_KEY || i == F_OPCA_KEY || i == F_OP_KEY
		                ? 0600
		                : 0644;
	if (strcmp(p->operator, "cluster-ca") == 0 || strcmp(p->operator, "operator-ca") == 0 ||
	    strcmp(p->operator, "coord") == 0) {
		snprintf(why, size, "the operator cannot be named %s (a file of its own)",
		         p->operator);
		goto exit;
	}

	/* The directory, then: nothing there already. */
	if (fileio_mkdirs(p->dir, 0700) != 0 || !realpath(p->dir, dir)) {
		snprintf(why, size, "%s: %s", p->dir, strerror(errno));
		goto exit;
	}
	for (size_t i = 0; i < F_N; i++) {
		char path[PATH_MAX + 2 * NAME_MAX_];

		snprintf(path, sizeof(path), "%s/%.80s", dir, f[i].name);
		if (lstat(path, &sb) == 0 || errno != ENOENT) {
			snprintf(why, size,
			         "%s exists: nothing was written (kma-coord init never "
			         "overwrites; move it away or use another --dir)",
			         path);
			goto exit;
		}
	}

	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	                          (const unsigned char *)"kma-coord init", 14) != 0 ||
	    gen_key(&ca.key, &drbg) != 0 || gen_key(&opca.key, &drbg) != 0 ||
	    gen_key(&coord_key, &drbg) != 0 || gen_key(&op_key, &drbg) != 0) {
		snprintf(why, size, "cannot make the keys (random or P-256)");
		goto exit;
	}
	san_len = san_der(p, sanbuf, sizeof(sanbuf), &san);
	if (san_len < 0) {
		snprintf(why, size, "too many or too long --host names");
		goto exit;
	}
	snprintf(ca.subject, sizeof(ca.subject), "O=%s,CN=%s Cluster CA", p->cluster, p->cluster);
	snprintf(opca.subject, sizeof(opca.subject), "O=%s Operators,CN=%s Operator CA", p->cluster,
	         p->cluster);
	f[F_CA_KEY].data = key_pem(&ca.key);
	f[F_OPCA_KEY].data = key_pem(&opca.key);
	f[F_COORD_KEY].data = key_pem(&coord_key);
	f[F_OP_KEY].data = key_pem(&op_key);
	f[F_CA].data = make_cert(
	    &ca.key, NULL,
	    &(struct cert_spec){.subject = ca.subject, .ca = true, .days = p->ca_days}, now, &drbg);
	f[F_OPCA].data =
	    make_cert(&opca.key, NULL,
	              &(struct cert_spec){.subject = opca.subject, .ca = true, .days = p->ca_days},
	              now, &drbg);
	snprintf(subject, sizeof(subject), "O=%s,CN=kma-coord", p->cluster);
	f[F_COORD].data = make_cert(&coord_key, &ca,
	                            &(struct cert_spec){.subject = subject,
	                                                .eku = eku_server,
	                                                .eku_len = sizeof(eku_server),
	                                                .san = san,
	                                                .san_len = (size_t)san_len,
	                                                .days = p->days},
	                            now, &drbg);
	snprintf(subject, sizeof(subject), "O=%s Operators,CN=%s", p->cluster, p->operator);
	f[F_OP].data = make_cert(&op_key, &opca,
	                         &(struct cert_spec){.subject = subject,
	                                             .eku = eku_client,
	                                             .eku_len = sizeof(eku_client),
	                                             .days = p->days},
	                         now, &drbg);
	f[F_CONF].data = coord_conf(p, dir);
	f[F_CTL].data = ctl_conf(p, dir);
	for (size_t i = 0; i < F_N; i++) {
		if (!f[i].data) {
			snprintf(why, size, "cannot make %s", f[i].name);
			goto exit;
		}
	}
	ret = write_all(dir, f, F_N, why, size);
exit:
	for (size_t i = 0; i < F_N; i++) {
		if (f[i].data)
			mbedtls_platform_zeroize(f[i].data, strlen(f[i].data));
		free(f[i].data);
	}
	mbedtls_pk_free(&ca.key);
	mbedtls_pk_free(&opca.key);
	mbedtls_pk_free(&coord_key);
	mbedtls_pk_free(&op_key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return ret;
}

static void init_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: kma-coord init --dir DIR --cluster NAME --host HOST [--host HOST ...]\n"
	    "                      [--operator NAME] [--listen ADDR:PORT] [--db FILE] [--days N]\n"
	    "\n"
	    "A cluster's first day: makes the cluster CA, kma-coord's certificate (a\n"
	    "subjectAltName for each --host, the names and addresses agents and operators\n"
	    "use), the operator CA and a first operator's certificate, all with P-256 keys\n"
	    "(0600), and coord.conf and kmactl.conf naming them, in DIR. Never overwrites.\n"
	    "\n"
	    "Options:\n"
	    "  --dir DIR            where everything goes (made 0700 when missing)\n"
	    "  --cluster NAME       the cluster's name (A-Z a-z 0-9 . _ -): subjects, cluster_id\n"
	    "  --host HOST          a DNS name or IP address of kma-coord (up to %d)\n"
	    "  --operator NAME      the first operator (default %s)\n"
	    "  --listen ADDR:PORT   kma-coord's listen (default its own, 0.0.0.0:8443)\n"
	    "  --db FILE            kma-coord's database (default its own)\n"
	    "  --days N             validity of kma-coord's and the operator's certificates\n"
	    "                       (default %d; the CAs: %d)\n"
	    "\n"
	    "Example:\n"
	    "  kma-coord init --dir /etc/kma-coord --cluster dc1 --host kma-coord.dc1.example \\\n"
	    "      --host 127.0.0.1 --operator alice\n",
	    PKIINIT_HOSTS_MAX, DEFAULT_OP, DEFAULT_DAYS, CA_DAYS);
}

static void next_steps(const struct pkiinit_params *p, FILE *out)
{
	char dir[PATH_MAX], files[NAME_MAX_ + 16];

	snprintf(files, sizeof(files), "%s.pem, .key", p->operator);
	if (!realpath(p->dir, dir))
		snprintf(dir, sizeof(dir), "%s", p->dir);
	fprintf(out,
	        "cluster %s: in %s\n"
	        "  cluster-ca.pem, .key    the cluster CA (give cluster-ca.pem to every node)\n"
	        "  coord.pem, .key         kma-coord's certificate (for %s%s)\n"
	        "  operator-ca.pem, .key   the operator CA (keep its key offline)\n"
	        "  %-22s  the operator %s\n"
	        "  coord.conf, kmactl.conf\n"
	        "\n"
	        "Next:\n"
	        "  kma-coord -c %s/coord.conf --check-config\n"
	        "  kma-coord -c %s/coord.conf      (or: systemctl enable --now kma-coord)\n"
	        "  export KMACTL_CONFIG=%s/kmactl.conf\n"
	        "  kmactl node add NODE --name NAME --address HOST:PORT    (prints its token)\n"
	        "  on the node, with cluster-ca.pem as agent.conf's [coordinator] ca:\n"
	        "    kma-agent quickstart --node-id NODE --token-file FILE\n"
	        "  kmactl status; kmactl mesh\n",
	        p->cluster, dir, p->hosts[0], p->n_hosts > 1 ? " and more" : "", files, p->operator,
	        dir, dir, dir);
}

int pkiinit_main(int argc, char **argv, FILE *out)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"cluster", required_argument, NULL, 'c'},
	    {"host", required_argument, NULL, 'H'},
	    {"operator", required_argument, NULL, 'o'},
	    {"listen", required_argument, NULL, 'l'},
	    {"days", required_argument, NULL, 'D'},
	    {"db", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct pkiinit_params p = {
	    .operator= DEFAULT_OP, .port = 8443, .days = DEFAULT_DAYS, .ca_days = CA_DAYS};
	char why[PATH_MAX + 200], *end;
	unsigned long v;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			p.dir = optarg;
			break;
		case 'c':
			p.cluster = optarg;
			break;
		case 'H':
			if (p.n_hosts == PKIINIT_HOSTS_MAX || !host_ok(optarg)) {
				fprintf(stderr, "kma-coord init: --host '%s': %s\n", optarg,
				        p.n_hosts == PKIINIT_HOSTS_MAX
				            ? "too many"
				            : "not a DNS name or IP address");
				return KMA_EXIT_USAGE;
			}
			p.hosts[p.n_hosts++] = optarg;
			break;
		case 'o':
			p.operator= optarg;
			break;
		case 'l': {
			const char *colon = strrchr(optarg, ':');

			v = colon ? strtoul(colon + 1, &end, 10) : 0;
			if (!colon || colon == optarg || *end || v < 1 || v > 65535) {
				fprintf(stderr, "kma-coord init: --listen '%s' is not ADDR:PORT\n",
				        optarg);
				return KMA_EXIT_USAGE;
			}
			p.listen = optarg;
			p.port = (unsigned)v;
			break;
		}
		case 'b':
			if (optarg[0] != '/') {
				fprintf(stderr, "kma-coord init: --db wants an absolute path\n");
				return KMA_EXIT_USAGE;
			}
			p.db = optarg;
			break;
		case 'D':
			v = strtoul(optarg, &end, 10);
			if (*end || optarg[0] == '-' || v < 1 || v > 3650) {
				fprintf(stderr, "kma-coord init: --days takes 1 to 3650\n");
				return KMA_EXIT_USAGE;
			}
			p.days = (unsigned)v;
			break;
		case 'h':
			init_usage(out);
			return KMA_EXIT_OK;
		default:
			fprintf(stderr,
			        "kma-coord init: bad option %s (try kma-coord init --help)\n",
			        argv[optind - 1]);
			return KMA_EXIT_USAGE;
		}
	}
	if (optind != argc || !p.dir || !p.cluster || p.n_hosts == 0) {
		fprintf(stderr, "kma-coord init: needs --dir, --cluster and at least one --host "
		                "(try kma-coord init --help)\n");
		return KMA_EXIT_USAGE;
	}
	if (!name_ok(p.cluster) || !name_ok(p.operator)) {
		fprintf(stderr, "kma-coord init: '%s' is not a name (1 to %d of A-Z a-z 0-9 . _ -)\n",
		        name_ok(p.cluster) ? p.operator : p.cluster, NAME_MAX_);
		return KMA_EXIT_USAGE;
	}
	if (kma_psa_init() != 0) {
		fprintf(stderr, "kma-coord init: PSA Crypto cannot start\n");
		return KMA_EXIT_SOFTWARE;
	}
	if (pkiinit_write(&p, why, sizeof(why)) != 0) {
		fprintf(stderr, "kma-coord init: %s\n", why);
		return strstr(why, " exists: ") ? KMA_EXIT_FAILURE : KMA_EXIT_IOERR;
	}
	next_steps(&p, out);
	return KMA_EXIT_OK;
}
