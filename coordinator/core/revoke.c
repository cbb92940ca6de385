#include "revoke.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crl.h"
#include "log.h"

struct revoke {
	struct enroll_ca *ca;
	revoke_honour_fn *honour;
	void *honour_arg;
	/* Held while the kept CRL is read or replaced, and while one is built. */
	pthread_mutex_t lock;
	bool have;
	uint64_t version; /* the peer table version it was built for */
	int64_t built_at; /* its thisUpdate */
	unsigned char *der;
	size_t len;
	size_t count; /* serials it revokes */
	/* The last build that failed (logged): not tried again for that version for a while. */
	bool failed;
	uint64_t failed_version;
	int64_t failed_at;
};

/* After a CRL could not be built, the seconds until it is tried again for that version (the
 * tick asks four times a second; each attempt logs why it failed). */
#define RETRY_S 30

struct revoke *revoke_new(struct enroll_ca *ca, revoke_honour_fn *honour, void *arg)
{
	struct revoke *r = calloc(1, sizeof(*r));

	if (!r) {
		log_err("CRL: out of memory");
		return NULL;
	}
	r->ca = ca;
	r->honour = honour;
	r->honour_arg = arg;
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void revoke_free(struct revoke *r)
{
	if (!r)
		return;
	free(r->der);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void put_be64(unsigned char *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

/* A CRL of what the store revokes now, for version; count: how many serials it lists. */
static int build(struct revoke *r, struct store *st, uint64_t version, int64_t now,
                 unsigned char **der, size_t *len, size_t *count)
{
	struct store_revoked *rv = NULL;
	struct crl_entry *e = NULL;
	unsigned char number[16];
	size_t n = 0, k = 0;
	int ret = -1;

	if (store_revoked(st, &rv, &n) != STORE_OK)
		goto exit;
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e) {
		log_err("CRL: out of memory for %zu entries", n);
		goto exit;
	}
	for (size_t i = 0; i < n; i++) {
		/* An operator may have recorded anything as a serial: it revokes no certificate. */
		if (!crl_serial_ok(rv[i].serial)) {
			log_warn("CRL: '%.64s' of the enrolment history is not a serial; left out",
			         rv[i].serial);
			continue;
		}
		e[k].serial = rv[i].serial;
		e[k].revoked_at = rv[i].at;
		k++;
	}
	put_be64(number, version);
	put_be64(number + 8, (uint64_t)now);
	{
		struct crl_params p = {now, now + REVOKE_CRL_LIFETIME_S, number, sizeof(number), e,
		                       k};

		if (enroll_ca_sign_crl(r->ca, &p, der, len) != ENROLL_OK)
			goto exit;
	}
	*count = k;
	ret = 0;
exit:
	free(e);
	free(rv);
	return ret;
}

/* Whether the kept CRL stands for version at now. */
static bool fresh(const struct revoke *r, uint64_t version, int64_t now)
{
	return r->have && r->version == version && now >= r->built_at &&
	       now - r->built_at < REVOKE_CRL_LIFETIME_S / 2;
}

/* Under r->lock: the CRL for version (kept, or built and kept when not older). */
static int current(struct revoke *r, struct store *st, uint64_t version, int64_t now,
                   unsigned char **der, size_t *len)
{
	unsigned char *built = NULL;
	size_t built_len = 0, count = 0;

	if (!fresh(r, version, now)) {
		if (r->failed && r->failed_version == version && now >= r->failed_at &&
		    now - r->failed_at < RETRY_S)
			return -1;
		if (build(r, st, version, now, &built, &built_len, &count) != 0) {
			r->failed = true;
			r->failed_version = version;
			r->failed_at = now;
			return -1;
		}
		r->failed = false;
		if (r->have && version < r->version) {
			/* A reader behind a newer commit: its own answer, and the kept one stays.
			 */
			if (der) {
				*der = built;
				*len = built_len;
			} else {
				free(built);
			}
			return 0;
		}
		if (r->honour(r->honour_arg, built, built_len) != 0) {
			free(built);
			r->failed = true;
			r->failed_version = version;
			r->failed_at = now;
			return -1;
		}
		if (!r->have || r->version != version)
			log_notice("CRL: %zu serials revoked (peer table version %llu, %zu bytes)",
			           count, (unsigned long long)version, built_len);
		free(r->der);
		r->der = built;
		r->len = built_len;
		r->count = count;
		r->version = version;
		r->built_at = now;
		r->have = true;
	}
	if (!der)
		return 0;
	*der = malloc(r->len);
	if (!*der) {
		log_err("CRL: out of memory for a copy of %zu bytes", r->len);
		return -1;
	}
	memcpy(*der, r->der, r->len);
	*len = r->len;
	return 0;
}

int revoke_crl(struct revoke *r, struct store *st, uint64_t version, int64_t now,
               unsigned char **der, size_t *len)
{
	int ret;

	*der = NULL;
	*len = 0;
	pthread_mutex_lock(&r->lock);
	ret = current(r, st, version, now, der, len);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int revoke_refresh(struct revoke *r, struct store *st, int64_t now)
{
	uint64_t version;
	int ret;

	if (store_peer_table_version(st, &version) != STORE_OK)
		return -1;
	pthread_mutex_lock(&r->lock);
	ret = current(r, st, version, now, NULL, NULL);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

size_t revoke_count(struct revoke *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->count;
	pthread_mutex_unlock(&r->lock);
	return n;
}
