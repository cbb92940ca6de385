#include "lead.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* The leader key as it is now: ETCD_OK with its holder's lease, create revision and URL. */
static enum etcd_status leader_get(struct etcd *e, const char *key, int64_t *lease,
                                   int64_t *create_rev, char *url, size_t size)
{
	struct etcd_kv *kv = NULL;
	size_t n = 0;
	enum etcd_status st = etcd_range(e, key, false, &kv, &n, NULL);

	if (url && size)
		url[0] = '\0';
	if (st != ETCD_OK)
		return st;
	if (n == 0)
		return ETCD_FAILED;
	*lease = kv[0].lease;
	*create_rev = kv[0].create_rev;
	if (url && size)
		snprintf(url, size, "%.*s",
		         (int)(kv[0].value_len < size ? kv[0].value_len : size - 1),
		         (const char *)kv[0].value);
	etcd_kvs_free(kv, n);
	return ETCD_OK;
}

enum etcd_status lead_try(struct etcd *e, const char *key, const char *url, int64_t ttl_s,
                          struct lead *l, char *active, size_t size)
{
	struct etcd_cmp absent = {key, ETCD_CMP_CREATE, 0};
	struct etcd_op put = {ETCD_OP_PUT, key, url, strlen(url), 0};
	int64_t lease = 0, granted = 0, holder = 0, rev = 0;
	enum etcd_status st;

	memset(l, 0, sizeof(*l));
	st = leader_get(e, key, &holder, &rev, active, size);
	if (st == ETCD_OK)
		return ETCD_FAILED; /* another instance leads */
	if (st != ETCD_FAILED)
		return st;
	if (etcd_lease_grant(e, ttl_s, &lease, &granted) != ETCD_OK)
		return ETCD_ERROR;
	put.lease = lease;
	st = etcd_txn(e, &absent, 1, &put, 1, NULL);
	/* An unknown outcome is settled by reading the key: it is ours if it has our lease. */
	if (st != ETCD_FAILED && leader_get(e, key, &holder, &rev, active, size) == ETCD_OK &&
	    holder == lease) {
		snprintf(l->key, sizeof(l->key), "%s", key);
		l->lease = lease;
		l->create_rev = rev;
		l->ttl_s = granted ? granted : ttl_s;
		return ETCD_OK;
	}
	(void)etcd_lease_revoke(e, lease);
	return st == ETCD_ERROR ? ETCD_ERROR : ETCD_FAILED;
}

enum etcd_status lead_renew(struct etcd *e, const struct lead *l)
{
	int64_t left = 0;
	enum etcd_status st = etcd_lease_keepalive(e, l->lease, &left);

	if (st == ETCD_OK && left <= 0)
		return ETCD_FAILED;
	return st;
}

void lead_resign(struct etcd *e, const struct lead *l)
{
	if (l->lease && etcd_lease_revoke(e, l->lease) != ETCD_OK)
		log_warn("ha: the leadership could not be given up at once; it lapses in %lld s",
		         (long long)l->ttl_s);
}
