#ifndef KMA_COORD_ETCD_H
#define KMA_COORD_ETCD_H

/*
 * A client of one etcd cluster through its JSON gateway (etcd 3.4: /v3/kv/range,
 * /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/lease/revoke), over libcurl with client-certificate TLS (https only). Not
 * thread-safe: one per thread. The process calls kma_psa_init() and curl_global_init()
 * before the first etcd_open (as kmactl's ctl_http_global_init does).
 *
 * Every call is synchronous: it blocks for up to timeout_ms per endpoint tried.
 *
 * Retries: a request that gets no answer from an endpoint (connection refused, timeout, a
 * 5xx or 429 status, an answer that is not what the gateway sends) is sent once to each
 * other endpoint, starting from the next one; the client remembers the endpoint that last
 * answered and starts there. A request that got no answer may still have been applied (the
 * answer was lost, or the member applied it before it failed): a write retried on another
 * member can be applied twice, and an ETCD_ERROR write may or may not have happened. This is
 * intended; the caller's writes must be idempotent or fenced (a txn whose compare makes the
 * second application fail, e.g. on a key's MOD revision).
 *
 * Every answer is untrusted: sizes are bounded (ETCD_ANSWER_MAX), every field's type is
 * checked, and a malformed answer is an ETCD_ERROR and a log line naming the endpoint. Keys
 * may be logged; values never are (they may hold key material).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Endpoints a client takes, the length of one, and the largest answer it reads. */
#define ETCD_ENDPOINTS_MAX 8
#define ETCD_ENDPOINT_LEN  256
#define ETCD_ANSWER_MAX    (64u << 20)

struct etcd;

struct etcd_config {
	/* "https://127.0.0.1:2379,https://127.0.0.1:22379" (comma or space separated, up to
	 * ETCD_ENDPOINTS_MAX; a trailing '/' is dropped) */
	const char *endpoints;
	const char *ca, *cert, *key; /* PEM files; cert/key may be NULL (then no client cert) */
	long timeout_ms;             /* per request and endpoint; 0: 2000 */
};

enum etcd_status {
	ETCD_OK,
	ETCD_FAILED, /* a txn's compare was false / lease gone (expired, revoked, unknown) */
	/* no endpoint answered, or a malformed answer: outcome unknown; also a request the
	 * cluster refused (a 4xx answer other than "not found", logged) */
	ETCD_ERROR,
};

/* A client of the endpoints in cfg (copied: cfg may go). NULL and a log line on a bad
 * configuration (no endpoint, more than ETCD_ENDPOINTS_MAX, one not https://, a missing CA)
 * or no memory. Connects to nothing yet. */
struct etcd *etcd_open(const struct etcd_config *cfg);

/* Closes the connections and frees e; NULL is safe. */
void etcd_close(struct etcd *e);

/* A key and its value as a range returns them. key is NUL-terminated; value holds
 * value_len bytes and a NUL after them (never NULL for a key the range returned). */
struct etcd_kv {
	char *key;
	unsigned char *value;
	size_t value_len;
	int64_t create_rev, mod_rev, lease;
};

/*
 * The key (prefix false) or every key that starts with key (prefix true; "" is every key),
 * in key order, into *out (n of them, the caller frees with etcd_kvs_free; NULL and 0 when
 * none). revision (may be NULL) gets the store's revision of the answer. A key holding a NUL
 * byte (not ours: our keys are C strings) makes the answer malformed. ETCD_OK or ETCD_ERROR.
 */
enum etcd_status etcd_range(struct etcd *e, const char *key, bool prefix, struct etcd_kv **out,
                            size_t *n, int64_t *revision);

/* Frees what etcd_range returned; NULL is safe. */
void etcd_kvs_free(struct etcd_kv *kv, size_t n);

/* key = value (len bytes), attached to lease (0: none). ETCD_FAILED: the lease is gone. */
enum etcd_status etcd_put(struct etcd *e, const char *key, const void *value, size_t len,
                          int64_t lease);

/* Deletes key, or every key starting with it (prefix). Deleting nothing is ETCD_OK. */
enum etcd_status etcd_delete(struct etcd *e, const char *key, bool prefix);

enum etcd_cmp_target { ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_LEASE };

/* key's target == value (EQUAL only); CREATE 0 = key absent */
struct etcd_cmp {
	const char *key;
	enum etcd_cmp_target target;
	int64_t value;
};

enum etcd_op_kind { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_DELETE_PREFIX };

/* A put (value, len, lease as etcd_put's) or a delete (value, len and lease unused). */
struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	const void *value;
	size_t len;
	int64_t lease;
};

/*
 * All compares hold: the ops are applied atomically, ETCD_OK; one does not: nothing
 * applied, ETCD_FAILED. revision (may be NULL) gets the header revision (after the ops, on
 * ETCD_OK). No compare: the ops are applied. Up to the cluster's --max-txn-ops ops (more is
 * refused: ETCD_ERROR). A put to a lease that is gone: ETCD_FAILED, nothing applied.
 */
enum etcd_status etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp,
                          const struct etcd_op *ops, size_t nops, int64_t *revision);

/* A new lease of ttl_s seconds: its id, and the TTL granted (granted_ttl may be NULL). */
enum etcd_status etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl);

/* Renews lease id once; ttl_left (may be NULL) gets its TTL. Expired or unknown:
 * ETCD_FAILED. */
enum etcd_status etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_left);

/* Ends lease id now, deleting its keys. Unknown (expired, revoked): ETCD_FAILED. */
enum etcd_status etcd_lease_revoke(struct etcd *e, int64_t id);

/* "ok", "failed" or "error" (for log lines). */
const char *etcd_status_text(enum etcd_status st);

#endif
