/*
 * Test driver of kma-coord's etcd client (coordinator/store/etcd.h) for
 * tests/e2e/test_etcd_client.sh, against a real etcd cluster or a hostile gateway.
 *
 *   etcd_driver [-t MS] ENDPOINTS PKI_DIR COMMAND [ARG]
 *       PKI_DIR holds ca.pem, client.pem and client.key (tests/e2e/etcd.sh's)
 *   commands:
 *       config          bad configurations are refused (no server needed)
 *       kv              put/range/delete round trips with binary values
 *       txn             compares on CREATE, MOD and LEASE, a 1000-op txn
 *       lease           grant, put with the lease, keepalive, revoke
 *       expiry          a 2 s lease not kept alive expires, its key with it
 *       all             kv, txn and lease
 *       down            every operation fails (ETCD_ERROR) within its bounded time
 *       hostile N       N operations against a hostile gateway: each ETCD_ERROR
 *       until-ok S      puts until one succeeds (S seconds at most): prints how long
 *       bench N         N sequential puts, then N txns: prints the rates
 * Prints "ok - ..." per check; exits 1 at the first failure.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "etcd.h"
#include "log.h"
#include "mbedcompat.h"

static char prefix[64];
static struct etcd_config cfg;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(__VA_ARGS__);                                                         \
	} while (0)

/* st must be want. */
#define EXPECT(st, want, what)                                                                     \
	do {                                                                                       \
		enum etcd_status st_ = (st);                                                       \
		CHECK(st_ == (want), "%s: %s, want %s", what, etcd_status_text(st_),               \
		      etcd_status_text(want));                                                     \
	} while (0)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* prefix + name, in one of 64 buffers used in turn (a function's keys stay apart). */
static const char *key(const char *name)
{
	static char k[64][128];
	static int i;

	i = (i + 1) % 64;
	snprintf(k[i], sizeof(k[i]), "%s%s", prefix, name);
	return k[i];
}

/* The one key under name, its value and revisions; false when there is none. */
static bool get(struct etcd *e, const char *name, struct etcd_kv *out)
{
	struct etcd_kv *kv;
	size_t n;

	EXPECT(etcd_range(e, key(name), false, &kv, &n, NULL), ETCD_OK, "range");
	CHECK(n <= 1, "range of %s: %zu keys", name, n);
	if (n == 0)
		return false;
	*out = kv[0];
	free(kv);
	return true;
}

static void expect_value(struct etcd *e, const char *name, const void *v, size_t len)
{
	struct etcd_kv kv;

	CHECK(get(e, name, &kv), "%s: gone", name);
	CHECK(kv.value_len == len && memcmp(kv.value, v, len) == 0 && kv.value[len] == '\0',
	      "%s: %zu bytes, not the %zu put", name, kv.value_len, len);
	free(kv.key);
	free(kv.value);
}

static void expect_gone(struct etcd *e, const char *name)
{
	struct etcd_kv kv;

	if (get(e, name, &kv)) {
		free(kv.key);
		free(kv.value);
		fail("%s: still there", name);
	}
}

static size_t count_prefix(struct etcd *e, const char *name)
{
	struct etcd_kv *kv;
	size_t n;

	EXPECT(etcd_range(e, key(name), true, &kv, &n, NULL), ETCD_OK, "range prefix");
	etcd_kvs_free(kv, n);
	return n;
}

#define NINE_ENDPOINTS                                                                             \
	("https://1,https://2,https://3,https://4,https://5,https://6,https://7,https://8 "        \
	 "https://9")

static void cmd_config(const char *ca)
{
	static const char *const bad[] = {
	    "", " , ", "http://127.0.0.1:2379", "https://", "ftp://x", NINE_ENDPOINTS,
	};
	struct etcd_config c = {.ca = ca};
	struct etcd *e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.endpoints = bad[i];
		CHECK(!etcd_open(&c), "endpoints '%s' taken", bad[i]);
	}
	c.endpoints = "https://127.0.0.1:1/ https://127.0.0.1:2,";
	c.ca = "/nonexistent/ca.pem";
	CHECK(!etcd_open(&c), "a missing CA taken");
	c.ca = ca;
	c.cert = ca;
	CHECK(!etcd_open(&c), "a certificate without its key taken");
	c.cert = NULL;
	c.timeout_ms = -1;
	CHECK(!etcd_open(&c), "a negative timeout taken");
	c.timeout_ms = 0;
	e = etcd_open(&c);
	CHECK(e, "two endpoints and a CA refused");
	etcd_close(e);
	etcd_close(NULL);
	etcd_kvs_free(NULL, 0);
	printf("ok - bad configurations refused\n");
}

static void cmd_kv(struct etcd *e)
{
	static unsigned char big[200 * 1000];
	static const unsigned char nul[] = {'a', 0, 'b', 0, 0, 0xff, 'c'};
	struct etcd_kv *kv;
	int64_t rev = 0;
	size_t i, n;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + i / 251);
	EXPECT(etcd_put(e, key("kv/a"), nul, sizeof(nul), 0), ETCD_OK, "put NUL bytes");
	EXPECT(etcd_put(e, key("kv/b"), big, sizeof(big), 0), ETCD_OK, "put 200 kB");
	EXPECT(etcd_put(e, key("kv/c"), "", 0, 0), ETCD_OK, "put empty");
	EXPECT(etcd_put(e, key("kv/\xff\xff"), "z", 1, 0), ETCD_OK, "put 0xff key");
	EXPECT(etcd_put(e, key("kv0"), "sibling", 7, 0), ETCD_OK, "put sibling");
	EXPECT(etcd_range(e, key("kv/"), true, &kv, &n, &rev), ETCD_OK, "range prefix");
	CHECK(n == 4, "prefix kv/: %zu keys, want 4", n);
	CHECK(strcmp(kv[0].key, key("kv/a")) == 0 && strcmp(kv[3].key, key("kv/\xff\xff")) == 0,
	      "keys out of order");
	CHECK(kv[0].value_len == sizeof(nul) && !memcmp(kv[0].value, nul, sizeof(nul)),
	      "NUL bytes changed");
	CHECK(kv[1].value_len == sizeof(big) && !memcmp(kv[1].value, big, sizeof(big)),
	      "200 kB changed");
	CHECK(kv[2].value_len == 0 && kv[2].value && kv[2].value[0] == '\0', "empty value");
	for (i = 0; i < n; i++)
		CHECK(kv[i].create_rev > 0 && kv[i].mod_rev >= kv[i].create_rev &&
		          kv[i].lease == 0 && rev >= kv[i].mod_rev,
		      "revisions of %s", kv[i].key);
	etcd_kvs_free(kv, n);
	expect_value(e, "kv/b", big, sizeof(big));
	expect_gone(e, "kv/none");
	EXPECT(etcd_delete(e, key("kv/a"), false), ETCD_OK, "delete");
	CHECK(count_prefix(e, "kv/") == 3, "delete of one key");
	EXPECT(etcd_delete(e, key("kv/"), true), ETCD_OK, "delete prefix");
	CHECK(count_prefix(e, "kv/") == 0, "delete prefix left keys");
	expect_value(e, "kv0", "sibling", 7);
	EXPECT(etcd_delete(e, key("kv0"), false), ETCD_OK, "delete sibling");
	EXPECT(etcd_delete(e, key("kv0"), false), ETCD_OK, "delete of nothing");
	EXPECT(etcd_range(e, "", true, &kv, &n, NULL), ETCD_OK, "range of every key");
	etcd_kvs_free(kv, n);
	printf("ok - kv: binary values (NUL bytes, 200 kB, empty), prefixes, deletes\n");
}

static void cmd_txn(struct etcd *e)
{
	static struct etcd_op many[1000];
	struct etcd_cmp absent = {key("txn/k"), ETCD_CMP_CREATE, 0};
	struct etcd_op create[] = {{ETCD_OP_PUT, key("txn/k"), "one", 3, 0},
	                           {ETCD_OP_PUT, key("txn/k2"), "x", 1, 0}};
	struct etcd_cmp mod = {key("txn/k"), ETCD_CMP_MOD, 0};
	struct etcd_op update[] = {{ETCD_OP_PUT, key("txn/k"), "two", 3, 0},
	                           {ETCD_OP_DELETE, key("txn/k2"), NULL, 0, 0}};
	struct etcd_cmp nolease = {key("txn/k"), ETCD_CMP_LEASE, 0};
	struct etcd_op wipe = {ETCD_OP_DELETE_PREFIX, key("txn/"), NULL, 0, 0};
	struct etcd_kv kv, k2;
	int64_t rev = 0, rev2 = 0;
	size_t i;

	EXPECT(etcd_txn(e, &absent, 1, create, 2, &rev), ETCD_OK, "txn CREATE==0");
	CHECK(get(e, "txn/k2", &k2), "txn/k2 not created");
	CHECK(k2.mod_rev == rev, "txn revision %lld, key's %lld", (long long)rev,
	      (long long)k2.mod_rev);
	EXPECT(etcd_txn(e, &absent, 1, update, 2, &rev2), ETCD_FAILED, "second txn CREATE==0");
	CHECK(rev2 >= rev, "revision of a failed txn");
	expect_value(e, "txn/k", "one", 3);
	CHECK(get(e, "txn/k2", &kv) && kv.mod_rev == k2.mod_rev, "failed txn applied an op");
	free(kv.key);
	free(kv.value);
	free(k2.key);
	free(k2.value);
	CHECK(get(e, "txn/k", &kv), "txn/k gone");
	mod.value = kv.mod_rev;
	free(kv.key);
	free(kv.value);
	EXPECT(etcd_txn(e, &mod, 1, update, 2, NULL), ETCD_OK, "txn MOD==current");
	expect_value(e, "txn/k", "two", 3);
	expect_gone(e, "txn/k2");
	EXPECT(etcd_txn(e, &mod, 1, create, 1, NULL), ETCD_FAILED, "txn MOD==stale");
	expect_value(e, "txn/k", "two", 3);
	EXPECT(etcd_txn(e, &nolease, 1, NULL, 0, NULL), ETCD_OK, "txn LEASE==0");
	for (i = 0; i < sizeof(many) / sizeof(many[0]); i++) {
		char *k = malloc(128);

		CHECK(k, "out of memory");
		snprintf(k, 128, "%stxn/many/%04zu", prefix, i);
		many[i] = (struct etcd_op){ETCD_OP_PUT, k, "v", 1, 0};
	}
	EXPECT(etcd_txn(e, NULL, 0, many, 1000, NULL), ETCD_OK, "txn of 1000 puts");
	for (i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		free((char *)many[i].key);
	CHECK(count_prefix(e, "txn/many/") == 1000, "1000 puts in one txn");
	EXPECT(etcd_txn(e, NULL, 0, &wipe, 1, NULL), ETCD_OK, "txn delete prefix");
	CHECK(count_prefix(e, "txn/") == 0, "txn delete prefix left keys");
	printf("ok - txn: CREATE==0 once then FAILED with nothing applied, MOD, LEASE, 1000 ops\n");
}

static void cmd_lease(struct etcd *e)
{
	int64_t id = 0, ttl = 0, left = 0;
	struct etcd_cmp held = {key("lease/k"), ETCD_CMP_LEASE, 0};
	struct etcd_kv kv;

	EXPECT(etcd_lease_grant(e, 30, &id, &ttl), ETCD_OK, "lease grant");
	CHECK(id != 0 && ttl == 30, "lease %lld of %lld s", (long long)id, (long long)ttl);
	EXPECT(etcd_put(e, key("lease/k"), "held", 4, id), ETCD_OK, "put with lease");
	CHECK(get(e, "lease/k", &kv) && kv.lease == id, "key's lease");
	free(kv.key);
	free(kv.value);
	EXPECT(etcd_lease_keepalive(e, id, &left), ETCD_OK, "keepalive");
	CHECK(left > 0 && left <= 30, "keepalive TTL %lld", (long long)left);
	held.value = id;
	EXPECT(etcd_txn(e, &held, 1, NULL, 0, NULL), ETCD_OK, "txn LEASE==id");
	EXPECT(etcd_lease_revoke(e, id), ETCD_OK, "revoke");
	expect_gone(e, "lease/k");
	EXPECT(etcd_lease_keepalive(e, id, &left), ETCD_FAILED, "keepalive of a revoked lease");
	EXPECT(etcd_lease_revoke(e, id), ETCD_FAILED, "revoke of a revoked lease");
	EXPECT(etcd_put(e, key("lease/k"), "x", 1, id), ETCD_FAILED, "put on a revoked lease");
	expect_gone(e, "lease/k");
	printf("ok - lease: grant, put, keepalive, revoke takes the key\n");
}

static void cmd_expiry(struct etcd *e)
{
	int64_t id = 0, start, left;
	struct etcd_kv kv;

	EXPECT(etcd_lease_grant(e, 2, &id, NULL), ETCD_OK, "lease grant");
	EXPECT(etcd_put(e, key("expiry/k"), "short", 5, id), ETCD_OK, "put with lease");
	start = now_ms();
	while (get(e, "expiry/k", &kv)) {
		free(kv.key);
		free(kv.value);
		CHECK(now_ms() - start < 30000, "a 2 s lease still holds its key after 30 s");
		usleep(100 * 1000);
	}
	EXPECT(etcd_lease_keepalive(e, id, &left), ETCD_FAILED, "keepalive of an expired lease");
	printf("ok - expiry: a 2 s lease's key gone after %lld ms\n",
	       (long long)(now_ms() - start));
}

/* One of each operation, the i-th; its status. */
static enum etcd_status one_op(struct etcd *e, unsigned i)
{
	struct etcd_cmp c = {key("x"), ETCD_CMP_CREATE, 0};
	struct etcd_op o = {ETCD_OP_PUT, key("x"), "v", 1, 0};
	struct etcd_kv *kv = NULL;
	int64_t id = 0, ttl;
	size_t n = 0;
	enum etcd_status st = ETCD_ERROR;

	switch (i % 7) {
	case 0:
		st = etcd_range(e, key("x"), i % 2, &kv, &n, NULL);
		CHECK(st != ETCD_ERROR || (!kv && n == 0), "range's output on an error");
		etcd_kvs_free(kv, n);
		break;
	case 1:
		st = etcd_put(e, key("x"), "v", 1, 0);
		break;
	case 2:
		st = etcd_delete(e, key("x"), i % 2);
		break;
	case 3:
		st = etcd_txn(e, &c, 1, &o, 1, NULL);
		break;
	case 4:
		st = etcd_lease_grant(e, 10, &id, &ttl);
		break;
	case 5:
		st = etcd_lease_keepalive(e, 42, &ttl);
		break;
	case 6:
		st = etcd_lease_revoke(e, 42);
		break;
	}
	return st;
}

/* Every operation ETCD_ERROR, none longer than each endpoint's timeout allows. */
static void cmd_errors(struct etcd *e, unsigned n, const char *what)
{
	int64_t t, worst = 0, bound;
	size_t eps = 1;
	const char *p;
	unsigned i;

	for (p = cfg.endpoints; *p; p++)
		eps += *p == ',';
	bound = (int64_t)eps * cfg.timeout_ms + 2000;
	for (i = 0; i < n; i++) {
		t = now_ms();
		EXPECT(one_op(e, i), ETCD_ERROR, what);
		t = now_ms() - t;
		CHECK(t <= bound, "%s: call %u took %lld ms (bound %lld)", what, i, (long long)t,
		      (long long)bound);
		worst = t > worst ? t : worst;
	}
	printf("ok - %s: %u calls, each ETCD_ERROR, the slowest %lld ms\n", what, n,
	       (long long)worst);
}

static void cmd_until_ok(struct etcd *e, int seconds)
{
	int64_t start = now_ms(), tries = 0;

	while (etcd_put(e, key("until"), "v", 1, 0) != ETCD_OK) {
		tries++;
		CHECK(now_ms() - start < seconds * 1000LL, "no put succeeded in %d s", seconds);
	}
	printf("ok - first put after %lld ms (%lld failed calls before)\n",
	       (long long)(now_ms() - start), (long long)tries);
}

static void cmd_bench(struct etcd *e, unsigned n)
{
	struct etcd_cmp c = {NULL, ETCD_CMP_CREATE, 0};
	struct etcd_op o = {ETCD_OP_PUT, NULL, "0123456789abcdef0123456789abcdef", 32, 0};
	char k[128];
	int64_t t;
	unsigned i;

	t = now_ms();
	for (i = 0; i < n; i++)
		EXPECT(etcd_put(e, key("bench/put"), o.value, o.len, 0), ETCD_OK, "bench put");
	t = now_ms() - t;
	printf("bench put: %u in %lld ms, %.0f/s\n", n, (long long)t, n * 1000.0 / (t ? t : 1));
	t = now_ms();
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%sbench/txn/%u", prefix, i);
		c.key = o.key = k;
		EXPECT(etcd_txn(e, &c, 1, &o, 1, NULL), ETCD_OK, "bench txn");
	}
	t = now_ms() - t;
	printf("bench txn: %u in %lld ms, %.0f/s\n", n, (long long)t, n * 1000.0 / (t ? t : 1));
	EXPECT(etcd_delete(e, key("bench/"), true), ETCD_OK, "bench cleanup");
}

static int usage(void)
{
	fprintf(stderr, "usage: etcd_driver [-t MS] ENDPOINTS PKI_DIR "
	                "config|kv|txn|lease|expiry|all|down|hostile N|until-ok S|bench N\n");
	return 64;
}

int main(int argc, char **argv)
{
	char ca[512], cert[512], ckey[512];
	struct etcd *e;
	const char *cmd;
	long n;
	int opt;

	log_init("etcd_driver", LOG_LVL_INFO);
	cfg.timeout_ms = 2000;
	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't')
			return usage();
		cfg.timeout_ms = atol(optarg);
	}
	if (argc - optind < 3)
		return usage();
	cmd = argv[optind + 2];
	n = argc - optind > 3 ? atol(argv[optind + 3]) : 10;
	snprintf(ca, sizeof(ca), "%s/ca.pem", argv[optind + 1]);
	snprintf(cert, sizeof(cert), "%s/client.pem", argv[optind + 1]);
	snprintf(ckey, sizeof(ckey), "%s/client.key", argv[optind + 1]);
	snprintf(prefix, sizeof(prefix), "/kma-test/%ld/", (long)getpid());
	if (kma_psa_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fail("libcurl initialisation");
	if (strcmp(cmd, "config") == 0) {
		cmd_config(ca);
		curl_global_cleanup();
		return 0;
	}
	cfg.endpoints = argv[optind];
	cfg.ca = ca;
	cfg.cert = cert;
	cfg.key = ckey;
	if (!strstr(" kv txn lease expiry all down hostile until-ok bench ", cmd) ||
	    strchr(cmd, ' ') || !*cmd)
		return usage();
	e = etcd_open(&cfg);
	CHECK(e, "etcd_open(%s)", cfg.endpoints);
	if (strcmp(cmd, "kv") == 0 || strcmp(cmd, "all") == 0)
		cmd_kv(e);
	if (strcmp(cmd, "txn") == 0 || strcmp(cmd, "all") == 0)
		cmd_txn(e);
	if (strcmp(cmd, "lease") == 0 || strcmp(cmd, "all") == 0)
		cmd_lease(e);
	if (strcmp(cmd, "expiry") == 0)
		cmd_expiry(e);
	if (strcmp(cmd, "down") == 0)
		cmd_errors(e, 14, "no member up");
	if (strcmp(cmd, "hostile") == 0)
		cmd_errors(e, (unsigned)n, "hostile gateway");
	if (strcmp(cmd, "until-ok") == 0)
		cmd_until_ok(e, (int)n);
	if (strcmp(cmd, "bench") == 0)
		cmd_bench(e, (unsigned)n);
	etcd_close(e);
	curl_global_cleanup();
	return 0;
}
