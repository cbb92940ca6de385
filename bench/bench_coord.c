/*
 * Coordinator load: thousands of simulated agents report to a real kma-coord over keep-alive
 * mutual TLS, as the agent does (libcurl multi, one easy handle and one client certificate
 * per agent, the agent's headers and options), and the coordinator's CPU and memory are
 * read from /proc while they do.
 *
 * For each size AGENTSxNODES (agents in clusters of NODES) the bench makes a PKI in memory
 * with mbedTLS, starts kma-coord on a fresh database, adds every node through the operator
 * API, connects every agent once (unmeasured), then runs three phases of the same length:
 *   floor   the same reports, back to back, to a server of this program's made with
 *           libmicrohttpd and GnuTLS as kma-coord sets them up, answering with a reply of
 *           the size of the coordinator's to an agent that holds the peer table (every
 *           report after the first) but without authorisation, decoding or store: the
 *           transport's cost, the baseline the coordinator is compared with
 *   max     each agent posts its next report as soon as the last is answered (closed loop):
 *           the most reports per second the coordinator sustains at this size
 *   paced   reports at a fixed total rate, spread evenly over the agents (open loop);
 *           latency counts from the scheduled send time, so a late coordinator or a busy
 *           agent counts against it (no coordinated omission)
 * A report carries 2 * (NODES - 1) observations, an outbound and an inbound probe of every
 * other node of its cluster, with the evidence the agent fills in. Their time moves on by
 * 30 s with each report, as a real agent's last probe does at the default intervals
 * (probes and reports every 30 s); -f keeps it fixed, the best case, where only the
 * report's own fields change.
 *
 * Usage: bench_coord [-t SECONDS] [-r RATE] [-k] [-f] [-x FILE] KMA_COORD [SIZE ...]
 *   -t  length of each phase (default 10)   -r  rate of the paced phase (default 5000)
 *   -k  keep the work directory (database, log, config) and print its path
 *   -f  fixed observation times (see above)
 *   -x  appended to kma-coord's configuration (an [ha] section: bench/coord_etcd.sh)
 */

#include "mbedcompat.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kma.pb-c.h"

#define PHASE_S_DEFAULT  10
#define RATE_DEFAULT     5000
#define RAMP_US          1000000   /* unmeasured start of every phase, at least */
#define RAMP_MAX_US      120000000 /* at most, while agents still (re)connect */
#define DRAIN_US         30000000
#define RETRY_US         100000 /* an agent whose request failed waits this long */
#define WARM_PARALLEL    64     /* connections opened at once before the phases */
#define OP_PARALLEL      4      /* operator connections adding nodes */
#define REPLY_HEAD       32     /* bytes of a reply kept: ack_sequence, peer_table_version */
#define CERT_PEM_MAX     2048
#define KEY_PEM_MAX      512
#define SIZES_MAX        16
#define ORG              "KMA Bench"
#define VALID_FROM       "20000101000000"
#define VALID_TO         "21200101000000"
#define VALID_FROM_EPOCH 946684800LL
#define VALID_TO_EPOCH   4733510400LL

/* serverAuth and clientAuth, as the coordinator's enrolment issues them. */
static const unsigned char eku_both[] = {
    0x30, 0x14, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03,
    0x01, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02,
};
static const unsigned char eku_server[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01,
};
static const unsigned char eku_client[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02,
};
/* subjectAltName: DNS:localhost, IP:127.0.0.1 */
static const unsigned char san_localhost[] = {
    0x30, 0x11, 0x82, 0x09, 'l',  'o',  'c',  'a',  'l',  'h',
    'o',  's',  't',  0x87, 0x04, 0x7f, 0x00, 0x00, 0x01,
};

struct size {
	unsigned agents;
	unsigned nodes; /* per cluster */
};

struct bench;

/* One transfer in the multi handle; done is called once it ends, after it is removed. */
struct xfer {
	CURL *easy;
	void (*done)(struct bench *b, struct xfer *x, CURLcode rc, long status);
};

struct agent {
	struct xfer x; /* first: a struct xfer * is a struct agent * */
	CURLSH *conns; /* its own connection cache (see agent_easy) */
	unsigned idx;
	char node_id[32];
	char serial[20];
	char address[40];
	char cert_pem[CERT_PEM_MAX];
	struct curl_blob cert;
	unsigned char *body; /* the packed report, then room for the fields appended per send */
	size_t base_len;
	size_t *at_off; /* where each observation's observed_at varint is in body */
	uint64_t first_at;
	unsigned n_at;
	uint64_t sequence;
	uint64_t table_version;
	uint64_t started_us; /* when the request was due (paced) or sent */
	bool busy;
	unsigned owed;   /* paced: sends that fell due while busy */
	uint64_t owed_s; /* paced: the slot of the oldest of them */
	uint64_t retry_at_us;
	struct agent *next_retry;
	unsigned seen_phase;
	unsigned char head[REPLY_HEAD];
	size_t rx;
	unsigned char *full; /* agent 0 in the warm-up: the whole reply, to describe it */
	size_t full_len, full_cap;
};

struct opclient {
	struct xfer x;
	unsigned next; /* the node it adds next */
	char json[256];
};

enum phase_kind { PH_IDLE, PH_ADD, PH_WARM, PH_FLOOR, PH_MAX, PH_PACED };

struct proc_sample {
	double cpu_s;    /* coordinator utime + stime */
	double client_s; /* this process */
	uint64_t at_us;
	long rss_kb, hwm_kb;
	long wal_kb; /* the database's WAL file */
};

struct phase {
	enum phase_kind kind;
	unsigned id;       /* which phase an agent's seen_phase refers to */
	unsigned answered; /* agents answered at least once in this phase */
	uint64_t start_us, t0_us, end_us;
	double rate;
	uint64_t next_s; /* paced: the next slot to dispatch */
	long want_status;
	bool stopping, sampled0, sampled1;
	struct proc_sample s0, s1;
	uint32_t *lat_us;
	size_t n_lat, cap_lat;
	uint64_t errors, new_conns;
	long first_status;
	CURLcode first_rc;
	unsigned warm_next, warm_left;
	unsigned add_left;
};

struct result {
	double per_s, p50_ms, p99_ms, cpu_s, cpu_pct, client_pct;
	uint64_t n, errors, new_conns;
	long rss_kb, hwm_kb, wal_kb;
	long first_status;
	CURLcode first_rc;
};

struct pki {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context ca_key, op_ca_key, leaf_key;
	char ca_pem[CERT_PEM_MAX], op_ca_pem[CERT_PEM_MAX], coord_pem[CERT_PEM_MAX];
	char op_pem[CERT_PEM_MAX + KEY_PEM_MAX];
	char leaf_key_pem[KEY_PEM_MAX], coord_key_pem[KEY_PEM_MAX];
	struct curl_blob ca, op_cert, leaf_key_blob;
};

struct bench {
	const char *coord_bin;
	unsigned phase_s;
	double rate;
	bool keep;
	bool fixed_at;     /* -f */
	const char *extra; /* -x: the text of a file appended to coord.conf */
	struct pki pki;
	char dir[64];
	unsigned port;
	pid_t coord, floor;
	pid_t target; /* the server whose CPU and memory a phase samples */
	CURLM *multi;
	int epfd;
	uint64_t curl_deadline_us;
	struct curl_slist *report_headers, *json_headers;
	char report_url[64], floor_url[64], nodes_url[64];
	struct agent *agents;
	unsigned n_agents, nodes;
	struct agent *retry_head, *retry_tail;
	unsigned inflight;
	struct phase ph;
	size_t report_len, full_reply_len, reply_len, reply_peers;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench_coord: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int floor_server(int argc, char **argv);
static void usage(void) __attribute__((noreturn));

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the PKI: cluster CA, the coordinator's certificate, operator CA and one operator ---- */

static void pki_key(struct pki *p, mbedtls_pk_context *k)
{
	mbedtls_pk_init(k);
	if (mbedtls_pk_setup(k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*k),
	                        mbedtls_ctr_drbg_random, &p->drbg) != 0)
		die("cannot make a P-256 key");
}

/*
 * A certificate for subject_key named subject, signed by issuer_key named issuer (the same
 * for a root), as PEM in out. ext: extended key usage DER (leaf) or NULL (CA).
 */
static void pki_issue(struct pki *p, const char *subject, mbedtls_pk_context *subject_key,
                      const char *issuer, mbedtls_pk_context *issuer_key, uint64_t serial_num,
                      const unsigned char *ext, size_t ext_len, bool san, char *out, size_t size)
{
	mbedtls_x509write_cert w;
	unsigned char serial[8];

	for (int i = 0; i < 8; i++)
		serial[i] = (unsigned char)(serial_num >> (56 - 8 * i));
	mbedtls_x509write_crt_init(&w);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, subject_key);
	mbedtls_x509write_crt_set_issuer_key(&w, issuer_key);
	if (kma_x509write_crt_set_serial(&w, serial, sizeof(serial)) != 0 ||
	    mbedtls_x509write_crt_set_validity(&w, VALID_FROM, VALID_TO) != 0 ||
	    mbedtls_x509write_crt_set_subject_name(&w, subject) != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&w, issuer) != 0)
		die("cannot name the certificate %s", subject);
	if (!ext) {
		if (mbedtls_x509write_crt_set_basic_constraints(&w, 1, -1) != 0 ||
		    mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
		                                                MBEDTLS_X509_KU_CRL_SIGN) != 0)
			die("cannot make %s a CA", subject);
	} else if (mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1) != 0 ||
	           mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) !=
	               0 ||
	           mbedtls_x509write_crt_set_extension(
	               &w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
	               MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, ext, ext_len) != 0) {
		die("cannot set the usages of %s", subject);
	}
	if (san &&
	    mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
	                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
	                                        san_localhost, sizeof(san_localhost)) != 0)
		die("cannot name localhost in %s", subject);
	if (mbedtls_x509write_crt_pem(&w, (unsigned char *)out, size, mbedtls_ctr_drbg_random,
	                              &p->drbg) != 0)
		die("cannot sign %s", subject);
	mbedtls_x509write_crt_free(&w);
}

static void key_pem(mbedtls_pk_context *k, char *out, size_t size)
{
	if (mbedtls_pk_write_key_pem(k, (unsigned char *)out, size) != 0)
		die("cannot write a key");
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) == EOF || fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
	chmod(path, 0600);
}

static void blob(struct curl_blob *b, const char *pem)
{
	b->data = (void *)pem;
	b->len = strlen(pem);
	b->flags = CURL_BLOB_NOCOPY;
}

static void pki_make(struct pki *p)
{
	static const char ca_dn[] = "O=" ORG ",CN=KMA Bench Cluster CA";
	static const char op_ca_dn[] = "O=" ORG " Operators,CN=KMA Bench Operator CA";
	mbedtls_pk_context coord_key, op_key;
	char pem[KEY_PEM_MAX];

	mbedtls_entropy_init(&p->entropy);
	mbedtls_ctr_drbg_init(&p->drbg);
	if (mbedtls_ctr_drbg_seed(&p->drbg, mbedtls_entropy_func, &p->entropy,
	                          (const unsigned char *)"bench_coord", 11) != 0)
		die("no randomness");
	pki_key(p, &p->ca_key);
	pki_key(p, &p->op_ca_key);
	pki_key(p, &p->leaf_key); /* shared by every agent: each has its own certificate */
	pki_key(p, &coord_key);
	pki_key(p, &op_key);
	pki_issue(p, ca_dn, &p->ca_key, ca_dn, &p->ca_key, 1, NULL, 0, false, p->ca_pem,
	          sizeof(p->ca_pem));
	pki_issue(p, "O=" ORG ",CN=localhost", &coord_key, ca_dn, &p->ca_key, 2, eku_server,
	          sizeof(eku_server), true, p->coord_pem, sizeof(p->coord_pem));
	pki_issue(p, op_ca_dn, &p->op_ca_key, op_ca_dn, &p->op_ca_key, 1, NULL, 0, false,
	          p->op_ca_pem, sizeof(p->op_ca_pem));
	pki_issue(p, "O=" ORG " Operators,CN=bench-operator", &op_key, op_ca_dn, &p->op_ca_key, 2,
	          eku_client, sizeof(eku_client), false, p->op_pem, sizeof(p->op_pem));
	/* The operator's certificate and key in one PEM blob: curl finds the key in it. */
	key_pem(&op_key, pem, sizeof(pem));
	if (strlen(p->op_pem) + strlen(pem) >= sizeof(p->op_pem))
		die("operator PEM too long");
	strcat(p->op_pem, pem);
	key_pem(&p->leaf_key, p->leaf_key_pem, sizeof(p->leaf_key_pem));
	key_pem(&coord_key, p->coord_key_pem, sizeof(p->coord_key_pem));
	blob(&p->ca, p->ca_pem);
	blob(&p->op_cert, p->op_pem);
	blob(&p->leaf_key_blob, p->leaf_key_pem);
	mbedtls_pk_free(&op_key);
	mbedtls_pk_free(&coord_key);
}

/* ---- the agents: a certificate and a packed report each ---- */

static void agent_name(const struct bench *b, unsigned idx, char *id, size_t id_size, char *addr,
                       size_t addr_size)
{
	unsigned c = idx / b->nodes, m = idx % b->nodes + 1;

	snprintf(id, id_size, "c%04u-n%02u", c, m);
	snprintf(addr, addr_size, "127.%u.%u.%u:8443", (c >> 8) & 255, c & 255, m);
}

static uint64_t agent_serial(unsigned idx)
{
	return 0x4B4D414200000000ull | (idx + 1u); /* "KMAB" then the index: positive */
}

static void cert_msg(Kma__V1__CertInfo *m, const char *node_id, char *serial, char *subject,
                     size_t subject_size)
{
	static char issuer[] = "O=" ORG ", CN=KMA Bench Cluster CA";

	kma__v1__cert_info__init(m);
	snprintf(subject, subject_size, "O=%s, CN=%s", ORG, node_id);
	m->serial = serial;
	m->subject = subject;
	m->issuer = issuer;
	m->not_before = VALID_FROM_EPOCH;
	m->not_after = VALID_TO_EPOCH;
	m->node_id = (char *)node_id;
}

static size_t put_varint(unsigned char *p, uint64_t v);

/* The offsets of the n observed_at fields (tag 17 then the 5-byte varint of mark) in body. */
static void find_observed_at(struct agent *a, unsigned n, int64_t mark)
{
	unsigned char pat[8] = {0x88, 0x01}; /* field 17, varint */
	size_t plen = 2 + put_varint(pat + 2, (uint64_t)mark);

	if (plen != 7)
		die("the clock's seconds do not take 5 varint bytes");
	a->at_off = calloc(n ? n : 1, sizeof(*a->at_off));
	if (!a->at_off)
		die("out of memory");
	for (size_t i = 0; i + plen <= a->base_len; i++)
		if (memcmp(a->body + i, pat, plen) == 0 && a->n_at < n)
			a->at_off[a->n_at++] = i + 2;
	if (a->n_at != n)
		die("found %u of the %u observation times of %s", a->n_at, n, a->node_id);
}

/*
 * The report an agent of a healthy cluster sends: every probe of every other member of its
 * cluster succeeded, both ways, with the evidence the agent attaches (coordlink.c). Packed
 * once; the fields that change per report are appended at each send (agent_send).
 */
static void agent_report(struct bench *b, struct agent *a)
{
	static char proto[] = "TLSv1.2", suite[] = "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
	            empty[] = "", version[] = "bench", board[] = "sim";
	Kma__V1__AgentReport r = KMA__V1__AGENT_REPORT__INIT;
	Kma__V1__HardwareIdentity hw = KMA__V1__HARDWARE_IDENTITY__INIT;
	Kma__V1__KeyServiceHealth health = KMA__V1__KEY_SERVICE_HEALTH__INIT;
	Kma__V1__CertInfo own, *certs;
	Kma__V1__PeerObservation *obs, **ptrs;
	unsigned first = a->idx / b->nodes * b->nodes, last = first + b->nodes, n = 0;
	char own_subject[64], (*subjects)[64], boot_id[40], board_serial[48];
	uint8_t fp[32];
	int64_t now = (int64_t)time(NULL);
	size_t len;

	if (last > b->n_agents)
		last = b->n_agents;
	certs = calloc(last - first, sizeof(*certs));
	subjects = calloc(last - first, sizeof(*subjects));
	obs = calloc(2 * (last - first), sizeof(*obs));
	ptrs = calloc(2 * (last - first), sizeof(*ptrs));
	if (!certs || !subjects || !obs || !ptrs)
		die("out of memory");
	for (unsigned j = first; j < last; j++) {
		struct agent *p = &b->agents[j];

		if (j == a->idx)
			continue;
		cert_msg(&certs[j - first], p->node_id, p->serial, subjects[j - first],
		         sizeof(subjects[0]));
		for (int d = 0; d < 2; d++) {
			Kma__V1__PeerObservation *o = &obs[n];

			kma__v1__peer_observation__init(o);
			o->peer_node_id = p->node_id;
			o->peer_address = p->address;
			o->direction = d ? KMA__V1__DIRECTION__DIRECTION_INBOUND
			                 : KMA__V1__DIRECTION__DIRECTION_OUTBOUND;
			o->cause = KMA__V1__CAUSE__CAUSE_OK;
			o->peer_cert = &certs[j - first];
			o->expected_node_id = p->node_id;
			o->expected_serial = p->serial;
			o->handshake_ms = 7;
			o->protocol = proto;
			o->cipher_suite = suite;
			o->observed_at = now + 1; /* a mark found again below */
			o->detail = empty;
			ptrs[n++] = o;
		}
	}
	snprintf(boot_id, sizeof(boot_id), "6f1c2b7e-0000-4000-8000-%012x", a->idx);
	snprintf(board_serial, sizeof(board_serial), "BENCH-%s", a->node_id);
	memset(fp, (int)(a->idx & 255), sizeof(fp));
	hw.board_serial = board_serial;
	hw.product_uuid = boot_id;
	hw.disk_serial = board_serial;
	hw.cpu_id = suite;
	hw.mac = empty;
	hw.fingerprint.data = fp;
	hw.fingerprint.len = sizeof(fp);
	health.healthy = true;
	health.detail = empty;
	health.checked_at = now;
	cert_msg(&own, a->node_id, a->serial, own_subject, sizeof(own_subject));
	r.node_id = a->node_id;
	r.boot_id = boot_id;
	r.agent_version = version;
	r.board = board;
	r.state = KMA__V1__IDENTITY_STATE__IDENTITY_STATE_ENROLLED;
	r.phase = KMA__V1__PHASE__PHASE_RUNNING;
	r.own_cert = &own;
	r.hardware = &hw;
	r.enrolled_hardware = &hw;
	r.generation = 1;
	r.peers = ptrs;
	r.n_peers = n;
	r.health = &health;
	len = kma__v1__agent_report__get_packed_size(&r);
	a->body = malloc(len + 40);
	if (!a->body || kma__v1__agent_report__pack(&r, a->body) != len)
		die("cannot pack the report of %s", a->node_id);
	a->base_len = len;
	find_observed_at(a, n, now + 1);
	a->first_at = (uint64_t)now;
	free(ptrs);
	free(obs);
	free(subjects);
	free(certs);
}

static size_t put_varint(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* peer_table_version (field 2) from the start of a CoordinatorReply; false if not there. */
static bool reply_version(const unsigned char *p, size_t n, uint64_t *version)
{
	size_t i = 0;

	while (i < n) {
		uint64_t tag = 0, v = 0;
		unsigned shift = 0;

		while (i < n && shift < 64) {
			tag |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if (!(p[i++] & 0x80))
				break;
		}
		if ((tag & 7) != 0)
			return false; /* past the leading numbers */
		shift = 0;
		while (i < n && shift < 64) {
			v |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if (!(p[i++] & 0x80)) {
				if (tag >> 3 == 2) {
					*version = v;
					return true;
				}
				break;
			}
		}
	}
	return false;
}

static size_t on_agent_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct agent *a = arg;
	size_t n = size * nmemb;

	if (a->rx < REPLY_HEAD)
		memcpy(a->head + a->rx, data, n < REPLY_HEAD - a->rx ? n : REPLY_HEAD - a->rx);
	if (a->full) {
		if (a->full_len + n > a->full_cap) {
			size_t cap = (a->full_len + n) * 2;
			unsigned char *f = realloc(a->full, cap);

			if (!f)
				return 0;
			a->full = f;
			a->full_cap = cap;
		}
		memcpy(a->full + a->full_len, data, n);
		a->full_len += n;
	}
	a->rx += n;
	return n;
}

static size_t on_discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/* The options the agent's reporter sets (agent/reporter.c), with this agent's certificate. */
static void agent_easy(struct bench *b, struct agent *a)
{
	CURL *e = curl_easy_init();

	if (!e)
		die("curl_easy_init");
	a->x.easy = e;
	/*
	 * One connection cache per agent, as each agent process has: in the multi handle's
	 * shared cache curl would look through every agent's connection (each with another
	 * client certificate) for every request, which costs the client O(agents) a request.
	 */
	a->conns = curl_share_init();
	if (!a->conns ||
	    curl_share_setopt(a->conns, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)
		die("curl_share_init");
	curl_easy_setopt(e, CURLOPT_SHARE, a->conns);
	curl_easy_setopt(e, CURLOPT_URL, b->report_url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)a->base_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->report_headers);
	curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &a->cert);
	curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b->pki.leaf_key_blob);
	curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b->pki.ca);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_agent_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(e, CURLOPT_PRIVATE, &a->x);
}

static void agent_done(struct bench *b, struct xfer *x, CURLcode rc, long status);

static void agents_make(struct bench *b)
{
	b->agents = calloc(b->n_agents, sizeof(*b->agents));
	if (!b->agents)
		die("out of memory for %u agents", b->n_agents);
	for (unsigned i = 0; i < b->n_agents; i++) {
		struct agent *a = &b->agents[i];
		char subject[64];

		a->idx = i;
		a->x.done = agent_done;
		agent_name(b, i, a->node_id, sizeof(a->node_id), a->address, sizeof(a->address));
		snprintf(a->serial, sizeof(a->serial), "%016llX",
		         (unsigned long long)agent_serial(i));
		snprintf(subject, sizeof(subject), "O=%s,CN=%s", ORG, a->node_id);
		pki_issue(&b->pki, subject, &b->pki.leaf_key, "O=" ORG ",CN=KMA Bench Cluster CA",
		          &b->pki.ca_key, agent_serial(i), eku_both, sizeof(eku_both), false,
		          a->cert_pem, sizeof(a->cert_pem));
		blob(&a->cert, a->cert_pem);
	}
	for (unsigned i = 0; i < b->n_agents; i++) {
		agent_report(b, &b->agents[i]);
		agent_easy(b, &b->agents[i]);
	}
}

static void agents_free(struct bench *b)
{
	for (unsigned i = 0; b->agents && i < b->n_agents; i++) {
		curl_easy_cleanup(b->agents[i].x.easy);
		curl_share_cleanup(b->agents[i].conns);
		free(b->agents[i].body);
		free(b->agents[i].at_off);
		free(b->agents[i].full);
	}
	free(b->agents);
	b->agents = NULL;
}

/* ---- the event loop: curl's multi socket interface on epoll ---- */

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct bench *b = userp;
	struct epoll_event ev;

	(void)e;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, s, NULL); /* gone already when closed */
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	ev.data.fd = s;
	if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, s, &ev) != 0 &&
	    (errno != ENOENT || epoll_ctl(b->epfd, EPOLL_CTL_ADD, s, &ev) != 0))
		die("epoll_ctl: %s", strerror(errno));
	return 0;
}

static int on_timer(CURLM *m, long ms, void *userp)
{
	struct bench *b = userp;

	(void)m;
	b->curl_deadline_us = ms < 0 ? UINT64_MAX : now_us() + (uint64_t)ms * 1000u;
	return 0;
}

static void multi_make(struct bench *b)
{
	b->multi = curl_multi_init();
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!b->multi || b->epfd < 0)
		die("curl_multi_init or epoll_create1");
	b->curl_deadline_us = UINT64_MAX;
	curl_multi_setopt(b->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(b->multi, CURLMOPT_SOCKETDATA, b);
	curl_multi_setopt(b->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(b->multi, CURLMOPT_TIMERDATA, b);
	/*
	 * Every agent keeps its connections between reports, however few are in flight: one to
	 * the coordinator and one to the floor server.
	 */
	curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS,
	                  (long)(2 * b->n_agents + OP_PARALLEL + 16));
}

static void multi_free(struct bench *b)
{
	curl_multi_cleanup(b->multi);
	b->multi = NULL;
	close(b->epfd);
}

static void xfer_start(struct bench *b, struct xfer *x)
{
	if (curl_multi_add_handle(b->multi, x->easy) != CURLM_OK)
		die("curl_multi_add_handle");
	b->inflight++;
}

static void drain_done(struct bench *b)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(b->multi, &left))) {
		CURL *e = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct xfer *x = NULL;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(b->multi, e);
		b->inflight--;
		x->done(b, x, rc, status);
	}
}

/* Waits for sockets until wake_us at the latest and lets curl act on what happened. */
static void loop_once(struct bench *b, uint64_t wake_us)
{
	struct epoll_event ev[256];
	uint64_t now = now_us(),
	         until = wake_us < b->curl_deadline_us ? wake_us : b->curl_deadline_us;
	uint64_t wait = until > now ? until - now : 0;
	struct timespec ts = {(time_t)(wait / 1000000u), (long)(wait % 1000000u) * 1000};
	int running, n;

	n = epoll_pwait2(b->epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])), &ts, NULL);
	if (n < 0 && errno != EINTR)
		die("epoll_pwait2: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		int act = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
		          (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0);

		if (!act)
			act =
			    CURL_CSELECT_IN | CURL_CSELECT_OUT; /* error or hang-up: let curl see */
		curl_multi_socket_action(b->multi, ev[i].data.fd, act, &running);
	}
	if (now_us() >= b->curl_deadline_us) {
		b->curl_deadline_us = UINT64_MAX;
		curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	drain_done(b);
}

/* ---- the coordinator under test ---- */

static unsigned free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		die("no free port: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static bool file_has(const char *path, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Runs argv with its output in logpath until it logs ready; returns its pid. */
static pid_t proc_start(char *const argv[], const char *logpath, const char *ready)
{
	uint64_t limit;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	limit = now_us() + 20000000u;
	while (!file_has(logpath, ready)) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			die("%s exited (status %d); see %s", argv[0], status, logpath);
		if (now_us() > limit)
			die("%s is not serving after 20 s; see %s", argv[0], logpath);
		usleep(20000);
	}
	return pid;
}

static void proc_stop(pid_t pid)
{
	uint64_t limit = now_us() + 10000000u;
	int status;

	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (now_us() > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		usleep(20000);
	}
}

static void coord_start(struct bench *b)
{
	char conf[4096], path[128], logpath[128], ready[64];
	char *argv[] = {(char *)b->coord_bin, "-c", path, NULL};

	snprintf(b->dir, sizeof(b->dir), "%s/kma-bench-coord.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(b->dir))
		die("mkdtemp: %s", strerror(errno));
	write_file(b->dir, "ca.pem", b->pki.ca_pem);
	write_file(b->dir, "opca.pem", b->pki.op_ca_pem);
	write_file(b->dir, "coord.pem", b->pki.coord_pem);
	write_file(b->dir, "coord.key", b->pki.coord_key_pem);
	write_file(b->dir, "operator.pem", b->pki.op_pem); /* for curl by hand with -k */
	b->port = free_port();
	snprintf(conf, sizeof(conf),
	         "[coord]\nlisten = 127.0.0.1:%u\ndb = %s/coord.db\ncert = %s/coord.pem\n"
	         "key = %s/coord.key\nca = %s/ca.pem\noperator_ca = %s/opca.pem\n"
	         /* Every simulated agent connects from 127.0.0.1. */
	         "max_connections_per_ip = 0\nlog_level = notice\n%s",
	         b->port, b->dir, b->dir, b->dir, b->dir, b->dir, b->extra ? b->extra : "");
	write_file(b->dir, "coord.conf", conf);
	snprintf(path, sizeof(path), "%s/coord.conf", b->dir);
	snprintf(logpath, sizeof(logpath), "%s/coord.log", b->dir);
	snprintf(ready, sizeof(ready), "serving on 127.0.0.1:%u", b->port);
	b->coord = proc_start(argv, logpath, ready);
	b->target = b->coord;
	fprintf(stderr, "bench_coord: kma-coord pid %d in %s\n", (int)b->coord, b->dir);
	snprintf(b->report_url, sizeof(b->report_url), "https://localhost:%u/v1/report", b->port);
	snprintf(b->nodes_url, sizeof(b->nodes_url), "https://localhost:%u/v1/nodes", b->port);
}

/* The transport floor (floor_server below) on its own port, answering reply_len bytes. */
static void floor_start(struct bench *b, size_t reply_len)
{
	char port[16], len[24], logpath[128], ready[64];
	unsigned p = free_port();
	char *argv[] = {"/proc/self/exe", "--floor-server", b->dir, port, len, NULL};

	snprintf(port, sizeof(port), "%u", p);
	snprintf(len, sizeof(len), "%zu", reply_len);
	snprintf(logpath, sizeof(logpath), "%s/floor.log", b->dir);
	snprintf(ready, sizeof(ready), "floor serving on %u", p);
	b->floor = proc_start(argv, logpath, ready);
	b->target = b->floor;
	snprintf(b->floor_url, sizeof(b->floor_url), "https://localhost:%u/v1/report", p);
}

static void floor_stop(struct bench *b)
{
	proc_stop(b->floor);
	b->floor = 0;
	b->target = b->coord;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void coord_stop(struct bench *b)
{
	proc_stop(b->coord);
	if (b->keep)
		fprintf(stderr, "bench_coord: kept %s\n", b->dir);
	else if (nftw(b->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "bench_coord: cannot remove %s\n", b->dir);
}

/*
 * CPU seconds and memory of the coordinator from /proc, this process's CPU from getrusage,
 * and the size of the database's WAL (which a coordinator that cannot checkpoint grows).
 */
static void sample(const struct bench *b, struct proc_sample *s)
{
	char path[sizeof(b->dir) + 16], buf[2048], *p;
	unsigned long long ut = 0, st = 0;
	struct rusage ru;
	struct stat sb;
	FILE *f;
	size_t n;

	memset(s, 0, sizeof(*s));
	s->at_us = now_us();
	snprintf(path, sizeof(path), "%s/coord.db-wal", b->dir);
	s->wal_kb = stat(path, &sb) == 0 ? (long)(sb.st_size / 1024) : 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)b->target);
	f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces; fields 3.. follow it */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		die("%s: unexpected format", path);
	s->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)b->target);
	f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(buf, sizeof(buf), f)) {
		if (strncmp(buf, "VmRSS:", 6) == 0)
			s->rss_kb = strtol(buf + 6, NULL, 10);
		else if (strncmp(buf, "VmHWM:", 6) == 0)
			s->hwm_kb = strtol(buf + 6, NULL, 10);
	}
	fclose(f);
	getrusage(RUSAGE_SELF, &ru);
	s->client_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the operator adds every node ---- */

static void op_send(struct bench *b, struct opclient *o)
{
	const struct agent *a = &b->agents[o->next];

	snprintf(o->json, sizeof(o->json),
	         "{\"node_id\":\"%s\",\"name\":\"%s\",\"address\":\"%s\","
	         "\"enrolled_serial\":\"%s\"}",
	         a->node_id, a->node_id, a->address, a->serial);
	curl_easy_setopt(o->x.easy, CURLOPT_POSTFIELDS, o->json);
	xfer_start(b, &o->x);
}

static void op_done(struct bench *b, struct xfer *x, CURLcode rc, long status)
{
	struct opclient *o = (struct opclient *)(void *)x;

	if (rc != CURLE_OK || status != 201)
		die("adding node %s: %s, HTTP %ld", b->agents[o->next].node_id,
		    curl_easy_strerror(rc), status);
	b->ph.add_left--;
	o->next += OP_PARALLEL;
	if (o->next < b->n_agents)
		op_send(b, o);
}

static void nodes_add(struct bench *b)
{
	struct opclient ops[OP_PARALLEL];
	uint64_t limit = now_us() + 600000000u;

	memset(ops, 0, sizeof(ops));
	b->ph.kind = PH_ADD;
	b->ph.add_left = b->n_agents;
	for (unsigned i = 0; i < OP_PARALLEL; i++) {
		CURL *e = curl_easy_init();

		if (!e)
			die("curl_easy_init");
		ops[i].x.easy = e;
		ops[i].x.done = op_done;
		ops[i].next = i;
		curl_easy_setopt(e, CURLOPT_URL, b->nodes_url);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->json_headers);
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b->pki.op_cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b->pki.op_cert);
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b->pki.ca);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_discard);
		curl_easy_setopt(e, CURLOPT_PRIVATE, &ops[i].x);
		if (i < b->n_agents)
			op_send(b, &ops[i]);
	}
	while (b->ph.add_left > 0) {
		if (now_us() > limit)
			die("adding %u nodes takes more than 10 minutes", b->n_agents);
		loop_once(b, now_us() + 100000u);
	}
	for (unsigned i = 0; i < OP_PARALLEL; i++)
		curl_easy_cleanup(ops[i].x.easy);
	b->ph.kind = PH_IDLE;
}

/* ---- the agents report ---- */

static void agent_send(struct bench *b, struct agent *a, uint64_t due_us)
{
	size_t len = a->base_len;

	/*
	 * Every probe moved on since the last report, 30 s at the default intervals: the time
	 * an agent's n-th report carries is 30 n s after its first, however fast the bench
	 * sends them (the same varint length for centuries).
	 */
	for (unsigned i = 0; !b->fixed_at && i < a->n_at; i++)
		put_varint(a->body + a->at_off[i], a->first_at + 30 * (a->sequence + 1));

	/* Fields appended to a packed message merge into it (proto3 encoding rules). */
	a->body[len++] = 0x10; /* sequence, field 2 */
	len += put_varint(a->body + len, ++a->sequence);
	a->body[len++] = 0x80; /* sent_at, field 16 */
	a->body[len++] = 0x01;
	len += put_varint(a->body + len, (uint64_t)time(NULL));
	if (a->table_version) {
		a->body[len++] = 0x88; /* peer_table_version, field 17 */
		a->body[len++] = 0x01;
		len += put_varint(a->body + len, a->table_version);
	}
	curl_easy_setopt(a->x.easy, CURLOPT_POSTFIELDSIZE, (long)len);
	a->rx = 0;
	a->started_us = due_us;
	a->busy = true;
	xfer_start(b, &a->x);
}

static uint64_t paced_due(const struct phase *p, uint64_t slot)
{
	return p->start_us + (uint64_t)((double)slot * 1e6 / p->rate);
}

/* Sends what fell due: slot s goes to agent s mod agents. Returns when the next falls due. */
static uint64_t paced_dispatch(struct bench *b, uint64_t now)
{
	struct phase *p = &b->ph;
	uint64_t due;

	while ((due = paced_due(p, p->next_s)) <= now) {
		struct agent *a = &b->agents[p->next_s % b->n_agents];

		if (!a->busy)
			agent_send(b, a, due);
		else if (a->owed++ == 0)
			a->owed_s = p->next_s;
		p->next_s++;
	}
	return due;
}

static void retry_push(struct bench *b, struct agent *a, uint64_t at)
{
	a->retry_at_us = at;
	a->next_retry = NULL;
	if (b->retry_tail)
		b->retry_tail->next_retry = a;
	else
		b->retry_head = a;
	b->retry_tail = a;
}

static uint64_t retry_run(struct bench *b, uint64_t now)
{
	while (b->retry_head && b->retry_head->retry_at_us <= now) {
		struct agent *a = b->retry_head;

		b->retry_head = a->next_retry;
		if (!b->retry_head)
			b->retry_tail = NULL;
		agent_send(b, a, now);
	}
	return b->retry_head ? b->retry_head->retry_at_us : UINT64_MAX;
}

static void lat_add(struct phase *p, uint64_t us)
{
	if (p->n_lat == p->cap_lat) {
		size_t cap = p->cap_lat ? p->cap_lat * 2 : 65536;
		uint32_t *l = realloc(p->lat_us, cap * sizeof(*l));

		if (!l)
			die("out of memory for latencies");
		p->lat_us = l;
		p->cap_lat = cap;
	}
	p->lat_us[p->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void agent_done(struct bench *b, struct xfer *x, CURLcode rc, long status)
{
	struct agent *a = (struct agent *)(void *)x;
	struct phase *p = &b->ph;
	uint64_t now = now_us(), v;
	bool ok = rc == CURLE_OK && status == p->want_status;
	long conns = 0;

	a->busy = false;
	if (ok && a->seen_phase != p->id) {
		a->seen_phase = p->id;
		p->answered++;
	}
	if (ok && p->kind != PH_FLOOR &&
	    reply_version(a->head, a->rx < REPLY_HEAD ? a->rx : REPLY_HEAD, &v))
		a->table_version = v;
	if (!ok && p->first_status == 0 && p->first_rc == CURLE_OK) {
		p->first_status = status;
		p->first_rc = rc;
	}
	if (p->kind >= PH_FLOOR && now >= p->t0_us && now <= p->end_us) {
		curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns);
		p->new_conns += (uint64_t)conns;
		if (ok)
			lat_add(p, now - a->started_us);
		else
			p->errors++;
	}
	switch (p->kind) {
	case PH_WARM:
		p->warm_left--;
		if (!ok)
			p->errors++;
		if (p->warm_next < b->n_agents)
			agent_send(b, &b->agents[p->warm_next++], now);
		break;
	case PH_FLOOR:
	case PH_MAX:
		if (p->stopping)
			break;
		if (ok)
			agent_send(b, a, now);
		else
			retry_push(b, a, now + RETRY_US);
		break;
	case PH_PACED:
		if (!p->stopping && a->owed) {
			uint64_t slot = a->owed_s;

			a->owed--;
			a->owed_s += b->n_agents;
			agent_send(b, a, paced_due(p, slot));
		}
		break;
	default:
		break;
	}
}

static void phase_reset(struct phase *p, enum phase_kind kind)
{
	uint32_t *lat = p->lat_us;
	size_t cap = p->cap_lat;
	unsigned id = p->id + 1;

	memset(p, 0, sizeof(*p));
	p->lat_us = lat;
	p->cap_lat = cap;
	p->id = id;
	p->kind = kind;
	p->want_status = 200;
}

/* Every agent reports once, WARM_PARALLEL at a time: connections and peer tables are set up. */
static double warm(struct bench *b, uint64_t *errors)
{
	struct phase *p = &b->ph;
	uint64_t t0 = now_us(), limit = t0 + 600000000u;
	struct agent *a0 = &b->agents[0];

	phase_reset(p, PH_WARM);
	p->warm_left = b->n_agents;
	a0->full = malloc(4096);
	a0->full_cap = a0->full ? 4096 : 0;
	a0->full_len = 0;
	while (p->warm_next < b->n_agents && p->warm_next < WARM_PARALLEL)
		agent_send(b, &b->agents[p->warm_next++], now_us());
	while (p->warm_left > 0) {
		if (now_us() > limit)
			die("the agents' first reports take more than 10 minutes");
		loop_once(b, now_us() + 100000u);
	}
	if (a0->full) {
		Kma__V1__CoordinatorReply *r =
		    kma__v1__coordinator_reply__unpack(NULL, a0->full_len, a0->full);

		b->full_reply_len = a0->full_len;
		b->reply_peers = r ? r->n_peers : 0;
		if (r)
			kma__v1__coordinator_reply__free_unpacked(r, NULL);
		/*
		 * Agent 0 again, now holding the peer table: the reply every later report gets,
		 * which the floor answers with.
		 */
		a0->full_len = 0;
		p->warm_left = 1;
		agent_send(b, a0, now_us());
		while (p->warm_left > 0) {
			if (now_us() > limit)
				die("agent 0's second report takes more than 10 minutes");
			loop_once(b, now_us() + 100000u);
		}
		b->reply_len = a0->full_len;
		free(a0->full);
		a0->full = NULL;
	}
	*errors = p->errors;
	p->kind = PH_IDLE;
	return (double)(now_us() - t0) / 1e6;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;

	return a < c ? -1 : a > c;
}

static double percentile_ms(const uint32_t *sorted, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)n + 0.999999);
	i = i ? i - 1 : 0;
	return (double)sorted[i < n ? i : n - 1] / 1000.0;
}

static void floor_mode(struct bench *b, bool on)
{
	for (unsigned i = 0; i < b->n_agents; i++)
		curl_easy_setopt(b->agents[i].x.easy, CURLOPT_URL,
		                 on ? b->floor_url : b->report_url);
}

static void phase_run(struct bench *b, enum phase_kind kind, struct result *r)
{
	struct phase *p = &b->ph;
	uint64_t drain_limit = 0, now;
	double window;

	phase_reset(p, kind);
	p->rate = b->rate;
	p->start_us = now_us();
	/*
	 * The window opens once every agent has been answered in this phase: connections the
	 * server closed while idle are made again before it, not inside it.
	 */
	p->t0_us = UINT64_MAX;
	p->end_us = UINT64_MAX;
	if (kind != PH_PACED)
		for (unsigned i = 0; i < b->n_agents; i++)
			agent_send(b, &b->agents[i], p->start_us);
	while (!p->stopping || b->inflight > 0) {
		uint64_t wake;

		now = now_us();
		if (p->t0_us == UINT64_MAX && now >= p->start_us + RAMP_US &&
		    (p->answered == b->n_agents || now >= p->start_us + RAMP_MAX_US)) {
			p->t0_us = now;
			p->end_us = now + (uint64_t)b->phase_s * 1000000u;
		}
		if (!p->sampled0 && now >= p->t0_us) {
			sample(b, &p->s0);
			p->sampled0 = true;
		}
		if (!p->sampled1 && now >= p->end_us) {
			sample(b, &p->s1);
			p->sampled1 = true;
			p->stopping = true;
			drain_limit = now + DRAIN_US;
			b->retry_head = b->retry_tail = NULL;
			for (unsigned i = 0; i < b->n_agents; i++)
				b->agents[i].owed = 0;
		}
		if (p->stopping) {
			if (now > drain_limit)
				die("%u requests still in flight 30 s after the phase",
				    b->inflight);
			wake = drain_limit;
		} else {
			wake = p->sampled0              ? p->end_us
			       : p->t0_us == UINT64_MAX ? now + 10000u
			                                : p->t0_us;
			if (kind == PH_PACED) {
				uint64_t due = paced_dispatch(b, now);

				wake = due < wake ? due : wake;
			}
			now = retry_run(b, now);
			wake = now < wake ? now : wake;
		}
		loop_once(b, wake);
	}
	window = (double)(p->s1.at_us - p->s0.at_us) / 1e6;
	qsort(p->lat_us, p->n_lat, sizeof(p->lat_us[0]), cmp_u32);
	memset(r, 0, sizeof(*r));
	r->n = p->n_lat;
	r->per_s = (double)p->n_lat / window;
	r->p50_ms = percentile_ms(p->lat_us, p->n_lat, 0.50);
	r->p99_ms = percentile_ms(p->lat_us, p->n_lat, 0.99);
	r->errors = p->errors;
	r->new_conns = p->new_conns;
	r->cpu_s = p->s1.cpu_s - p->s0.cpu_s;
	r->cpu_pct = 100.0 * r->cpu_s / window;
	r->client_pct = 100.0 * (p->s1.client_s - p->s0.client_s) / window;
	r->rss_kb = p->s1.rss_kb;
	r->hwm_kb = p->s1.hwm_kb;
	r->wal_kb = p->s1.wal_kb;
	r->first_status = p->first_status;
	r->first_rc = p->first_rc;
	fprintf(stderr, "bench_coord:   %s: %llu answered, %llu errors, %.1f s\n",
	        kind == PH_FLOOR ? "floor"
	        : kind == PH_MAX ? "max"
	                         : "paced",
	        (unsigned long long)r->n, (unsigned long long)r->errors,
	        (double)(now_us() - p->start_us) / 1e6);
	p->kind = PH_IDLE;
}

/* ---- one size, and the tables ---- */

struct size_result {
	struct size sz;
	double cert_s, add_s, warm_s;
	uint64_t warm_errors;
	long rss_idle_kb, rss_nodes_kb, rss_conn_kb;
	size_t report_len, full_reply_len, reply_len, reply_peers;
	struct result floor, max, paced;
};

static void size_run(struct bench *b, const struct size *sz, struct size_result *out)
{
	struct proc_sample s;
	uint64_t t;

	memset(out, 0, sizeof(*out));
	out->sz = *sz;
	b->n_agents = sz->agents;
	b->nodes = sz->nodes;
	fprintf(stderr, "bench_coord: %u agents in clusters of %u\n", sz->agents, sz->nodes);
	coord_start(b); /* first: agents_make needs the URLs */
	t = now_us();
	agents_make(b);
	out->cert_s = (double)(now_us() - t) / 1e6;
	out->report_len = b->agents[0].base_len;
	multi_make(b);
	sample(b, &s);
	out->rss_idle_kb = s.rss_kb;
	t = now_us();
	nodes_add(b);
	out->add_s = (double)(now_us() - t) / 1e6;
	sample(b, &s);
	out->rss_nodes_kb = s.rss_kb;
	out->warm_s = warm(b, &out->warm_errors);
	out->full_reply_len = b->full_reply_len;
	out->reply_len = b->reply_len;
	out->reply_peers = b->reply_peers;
	sample(b, &s);
	out->rss_conn_kb = s.rss_kb;
	/* The floor in between, while the coordinator's store holds every node. */
	floor_start(b, b->reply_len);
	floor_mode(b, true);
	warm(b, &t);
	phase_run(b, PH_FLOOR, &out->floor);
	floor_mode(b, false);
	floor_stop(b);
	warm(b, &t); /* connections the coordinator closed while idle */
	phase_run(b, PH_MAX, &out->max);
	phase_run(b, PH_PACED, &out->paced);
	agents_free(b);
	multi_free(b);
	coord_stop(b);
}

static void print_row(const struct size_result *s, const char *phase, const struct result *r)
{
	char err[64] = "";

	if (r->errors)
		snprintf(err, sizeof(err), "  first: %s%s HTTP %ld",
		         r->first_rc ? curl_easy_strerror(r->first_rc) : "", r->first_rc ? "," : "",
		         r->first_status);
	printf("%6u %5u  %-6s %9.0f %8.2f %8.2f %7llu %6llu %7.2f %6.0f%% %7.3f %7.1f %7.1f "
	       "%6.0f%% %7.1f%s\n",
	       s->sz.agents, s->sz.nodes, phase, r->per_s, r->p50_ms, r->p99_ms,
	       (unsigned long long)r->errors, (unsigned long long)r->new_conns, r->cpu_s,
	       r->cpu_pct, r->n ? 1000.0 * r->cpu_s / (double)r->n : 0.0,
	       (double)r->rss_kb / 1024.0, (double)r->hwm_kb / 1024.0, r->client_pct,
	       (double)r->wal_kb / 1024.0, err);
}

static void print_tables(const struct bench *b, const struct size_result *res, size_t n)
{
	printf("\nkma-coord under simulated agents: keep-alive mutual TLS (P-256), %u s per phase, "
	       "paced at %.0f reports/s\n",
	       b->phase_s, b->rate);
	printf("floor = the same reports, back to back, to libmicrohttpd + GnuTLS set up as "
	       "kma-coord does,\n        answering with as many bytes (reply B), without auth, "
	       "decoding or store: the baseline\n");
	printf("max = every agent back to back; paced = open loop, latency from the scheduled "
	       "send\nsrv = the server's CPU (s, %% of one core, ms per answered request) and "
	       "memory; conns = new connections;\ntable B = the first reply (the whole peer "
	       "table), reply B = every later one;\nWAL = the database's write-ahead log at the "
	       "phase's end (bounded when checkpoints keep up)\n\n");
	printf("%6s %5s  %-6s %9s %8s %8s %7s %6s %7s %7s %7s %7s %7s %7s %7s\n", "agents", "nodes",
	       "phase", "req/s", "p50 ms", "p99 ms", "errors", "conns", "srv s", "srv%", "ms/req",
	       "RSS MB", "HWM MB", "client%", "WAL MB");
	for (size_t i = 0; i < n; i++) {
		print_row(&res[i], "floor", &res[i].floor);
		print_row(&res[i], "max", &res[i].max);
		print_row(&res[i], "paced", &res[i].paced);
	}
	printf("\n%6s %5s %9s %9s %7s %8s %8s %8s %9s %8s %8s %8s %9s\n", "agents", "nodes",
	       "report B", "table B", "peers", "reply B", "certs s", "add/s", "connect s",
	       "RSS idle", "+nodes", "+conns", "KB/agent");
	for (size_t i = 0; i < n; i++) {
		const struct size_result *s = &res[i];

		printf("%6u %5u %9zu %9zu %7zu %8zu %8.2f %8.0f %9.2f %8.1f %8.1f %8.1f %9.1f%s\n",
		       s->sz.agents, s->sz.nodes, s->report_len, s->full_reply_len, s->reply_peers,
		       s->reply_len, s->cert_s, (double)s->sz.agents / s->add_s, s->warm_s,
		       (double)s->rss_idle_kb / 1024.0, (double)s->rss_nodes_kb / 1024.0,
		       (double)s->rss_conn_kb / 1024.0,
		       (double)(s->max.hwm_kb - s->rss_idle_kb) / (double)s->sz.agents,
		       s->warm_errors ? "  (connect errors)" : "");
	}
	printf("\ntarget: >= 5000 reports/s paced with p99 < 50 ms\n");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &res[i].paced;
		bool met =
		    r->per_s >= 0.98 * 5000 && b->rate >= 5000 && r->p99_ms < 50 && r->errors == 0;

		printf("  %5u agents x %2u nodes: %s (%.0f/s, p99 %.1f ms, %llu errors)\n",
		       res[i].sz.agents, res[i].sz.nodes, met ? "met" : "MISSED", r->per_s,
		       r->p99_ms, (unsigned long long)r->errors);
	}
}

/* ---- the floor: libmicrohttpd and GnuTLS as kma-coord sets them up, and nothing else ---- */

struct floor_srv {
	unsigned char *reply;
	size_t reply_len;
};

static enum MHD_Result floor_request(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
	static int started;
	const struct floor_srv *f = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* read and dropped */
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(f->reply_len, f->reply, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-protobuf");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static char *slurp_path(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 16384);
	size_t n;

	if (!buf || !f)
		die("cannot read %s", path);
	n = fread(buf, 1, 16383, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static char *slurp(const char *dir, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return slurp_path(path);
}

/*
 * bench_coord --floor-server DIR PORT REPLY_BYTES: serves POST with REPLY_BYTES of reply and
 * the daemon options of coordinator/api/http.c (TLS 1.2+, client certificates requested against
 * the same trust, one internal polling thread), but no connection limit, no authorisation,
 * no decoding and no store. Stops on SIGTERM.
 */
static int floor_server(int argc, char **argv)
{
	struct floor_srv f;
	struct MHD_Daemon *d;
	char *cert, *key, *ca, *opca, *trust;
	unsigned long port;
	sigset_t set;
	int sig;

	if (argc != 5)
		usage();
	port = strtoul(argv[3], NULL, 10);
	f.reply_len = strtoul(argv[4], NULL, 10);
	f.reply = calloc(1, f.reply_len + 1);
	cert = slurp(argv[2], "coord.pem");
	key = slurp(argv[2], "coord.key");
	ca = slurp(argv[2], "ca.pem");
	opca = slurp(argv[2], "opca.pem");
	trust = malloc(strlen(ca) + strlen(opca) + 2);
	if (!f.reply || !trust || port == 0 || port > 65535)
		die("floor server: bad arguments or out of memory");
	sprintf(trust, "%s\n%s", ca, opca);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(
	    MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)port, NULL,
	    NULL, floor_request, &f, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
	    MHD_OPTION_HTTPS_MEM_TRUST, trust, MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_CONNECTION_LIMIT, 30000u, MHD_OPTION_END);
	if (!d)
		die("floor server: cannot serve on port %lu", port);
	printf("floor serving on %lu\n", port);
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}

static bool parse_size(const char *s, struct size *out)
{
	char *end;
	unsigned long a, n;

	a = strtoul(s, &end, 10);
	if (end == s || (*end != 'x' && *end != 'X'))
		return false;
	n = strtoul(end + 1, &end, 10);
	if (*end || a < 2 || a > 20000 || n < 2 || n > 200)
		return false;
	out->agents = (unsigned)a;
	out->nodes = (unsigned)n;
	return true;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_coord [-t SECONDS] [-r RATE] [-k] [-f] [-x FILE] KMA_COORD "
	                "[AGENTSxNODES ...]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	static const char *const defaults[] = {"100x20", "1000x20", "3000x20", "1000x5", "1000x50"};
	struct size sizes[SIZES_MAX];
	struct size_result res[SIZES_MAX];
	struct bench b;
	struct rlimit rl;
	size_t n = 0;
	int opt;

	if (argc >= 2 && strcmp(argv[1], "--floor-server") == 0)
		return floor_server(argc, argv);
	memset(&b, 0, sizeof(b));
	b.phase_s = PHASE_S_DEFAULT;
	b.rate = RATE_DEFAULT;
	while ((opt = getopt(argc, argv, "t:r:kfx:")) != -1) {
		switch (opt) {
		case 't':
			b.phase_s = (unsigned)strtoul(optarg, NULL, 10);
			if (b.phase_s < 1 || b.phase_s > 3600)
				usage();
			break;
		case 'r':
			b.rate = strtod(optarg, NULL);
			if (!(b.rate >= 1 && b.rate <= 1e6))
				usage();
			break;
		case 'k':
			b.keep = true;
			break;
		case 'f':
			b.fixed_at = true;
			break;
		case 'x':
			b.extra = slurp_path(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	b.coord_bin = argv[optind++];
	for (; optind < argc; optind++) {
		if (n == SIZES_MAX || !parse_size(argv[optind], &sizes[n++]))
			usage();
	}
	for (size_t i = 0; n == 0 && i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (!parse_size(defaults[i], &sizes[i]))
			usage();
	if (n == 0)
		n = sizeof(defaults) / sizeof(defaults[0]);
	/* Two sockets per agent between us and the coordinator (ours, inherited limit, theirs). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init");
	b.report_headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	b.report_headers = curl_slist_append(b.report_headers, "Accept: application/x-protobuf");
	b.json_headers = curl_slist_append(NULL, "Content-Type: application/json");
	pki_make(&b.pki);
	for (size_t i = 0; i < n; i++) {
		size_run(&b, &sizes[i], &res[i]);
		print_tables(&b, &res[i], 1);
		fflush(stdout);
	}
	if (n > 1)
		print_tables(&b, res, n);
	free(b.ph.lat_us);
	curl_slist_free_all(b.report_headers);
	curl_slist_free_all(b.json_headers);
	curl_global_cleanup();
	return 0;
}
