#include "auth.h"

#include <mbedtls/oid.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crlcheck.h"
#include "fileio.h"
#include "log.h"

/* A CA bundle of a few certificates; anything this large is not one. */
#define CA_FILE_MAX (1024 * 1024)

struct auth {
	mbedtls_x509_crt cluster_ca;
	mbedtls_x509_crt operator_ca;
	/*
	 * The cluster CA's CRL (NULL: none) and its generation: written under the lock held
	 * for writing, read under it held for reading (a verification reads crl throughout).
	 */
	pthread_rwlock_t lock;
	mbedtls_x509_crl *crl;
	uint64_t crl_generation;
};

static int load_ca(mbedtls_x509_crt *crt, const char *path, const char *what)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int ret = -1, rc, err;

	err = fileio_read_input(path, CA_FILE_MAX, &buf, &len);
	if (err) {
		log_errno(LOG_LVL_ERR, err, "%s %s: cannot read", what, path);
		goto exit;
	}
	/* fileio_read_input NUL-terminates; mbedtls wants the NUL counted for PEM. */
	rc = mbedtls_x509_crt_parse(crt, buf, len + 1);
	if (rc != 0) {
		char where[PATH_MAX + 256];

		certinfo_pem_error(path, buf, len, rc, where, sizeof(where));
		log_err("%s %s", what, where);
		goto exit;
	}
	ret = 0;
exit:
	free(buf);
	return ret;
}

size_t auth_cluster_subjects(const struct auth *a, char (*out)[256], size_t max)
{
	size_t n = 0;

	for (const mbedtls_x509_crt *c = &a->cluster_ca; c && c->raw.len && n < max; c = c->next)
		if (mbedtls_x509_dn_gets(out[n], sizeof(out[n]), &c->subject) > 0)
			n++;
	return n;
}

struct auth *auth_new(const char *cluster_ca_path, const char *operator_ca_path)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (!a) {
		log_err("auth: out of memory");
		return NULL;
	}
	mbedtls_x509_crt_init(&a->cluster_ca);
	mbedtls_x509_crt_init(&a->operator_ca);
	pthread_rwlock_init(&a->lock, NULL);
	if (load_ca(&a->cluster_ca, cluster_ca_path, "cluster CA") != 0 ||
	    load_ca(&a->operator_ca, operator_ca_path, "operator CA") != 0) {
		auth_free(a);
		return NULL;
	}
	return a;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	mbedtls_x509_crt_free(&a->cluster_ca);
	mbedtls_x509_crt_free(&a->operator_ca);
	if (a->crl)
		mbedtls_x509_crl_free(a->crl);
	free(a->crl);
	pthread_rwlock_destroy(&a->lock);
	free(a);
}

int auth_set_crl(struct auth *a, const unsigned char *der, size_t len)
{
	mbedtls_x509_crl *crl = NULL, *old;
	char why[320];

	if (len > 0) {
		crl = malloc(sizeof(*crl));
		if (!crl) {
			log_err("auth: out of memory for the CRL");
			return -1;
		}
		mbedtls_x509_crl_init(crl);
		if (crlcheck_load(crl, der, len, &a->cluster_ca, why, sizeof(why)) != CRLCHECK_OK) {
			log_err("auth: the cluster CA's CRL is refused: %s", why);
			free(crl);
			return -1;
		}
	}
	pthread_rwlock_wrlock(&a->lock);
	old = a->crl;
	a->crl = crl;
	a->crl_generation++;
	pthread_rwlock_unlock(&a->lock);
	if (old)
		mbedtls_x509_crl_free(old);
	free(old);
	return 0;
}

int auth_honour_crl(void *a, const unsigned char *der, size_t len)
{
	return auth_set_crl(a, der, len);
}

/* Casts: as in crl_lists. */
uint64_t auth_crl_generation(const struct auth *a)
{
	uint64_t g;

	pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
	g = a->crl_generation;
	pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
	return g;
}

/*
 * Whether the CRL taken lists leaf, a certificate the cluster CA issued. Read from the list
 * alone: its signature was checked when it was taken (auth_set_crl), where Mbed TLS would
 * verify it again on every verification it is given to; and its age is no reason to refuse
 * anyone (crlcheck.h).
 */
static bool crl_lists(const struct auth *a, const mbedtls_x509_crt *leaf)
{
	const mbedtls_x509_crl *crl;
	bool listed;

	/* Cast: a const struct auth still takes its lock, which guards no part of its contract. */
	pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
	crl = a->crl;
	listed = crl && crl->issuer_raw.len == leaf->issuer_raw.len &&
	         memcmp(crl->issuer_raw.p, leaf->issuer_raw.p, leaf->issuer_raw.len) == 0 &&
	         mbedtls_x509_crt_is_revoked(leaf, crl);
	pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
	return listed;
}

const char *auth_role_name(enum auth_role role)
{
	switch (role) {
	case AUTH_AGENT:
		return "agent";
	case AUTH_OPERATOR:
		return "operator";
	case AUTH_NONE:
		break;
	}
	return "none";
}

void auth_check(const struct auth *a, const struct auth_der *chain, size_t n,
                struct auth_result *out)
{
	mbedtls_x509_crt crt;
	struct certinfo info;
	enum auth_role role = AUTH_NONE;
	uint32_t flags = 0, op_flags = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->role = AUTH_NONE;
	mbedtls_x509_crt_init(&crt);
	if (n == 0) {
		snprintf(out->why, sizeof(out->why), "no client certificate");
		goto exit;
	}
	if (n > AUTH_CHAIN_MAX) {
		snprintf(out->why, sizeof(out->why), "chain of %zu certificates (limit %d)", n,
		         AUTH_CHAIN_MAX);
		goto exit;
	}
	for (size_t i = 0; i < n; i++) {
		if (mbedtls_x509_crt_parse_der(&crt, chain[i].data, chain[i].len) != 0) {
			snprintf(out->why, sizeof(out->why), "certificate %zu does not parse", i);
			goto exit;
		}
	}
	certinfo_from_crt(&crt, &info);
	snprintf(out->serial, sizeof(out->serial), "%s", info.serial);
	/* Casts: mbedtls 2.28 takes non-const trust anchors; verification does not change them. */
	rc = mbedtls_x509_crt_verify(&crt, (mbedtls_x509_crt *)&a->cluster_ca, NULL, NULL, &flags,
	                             NULL, NULL);
	if (!(flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) && crl_lists(a, &crt)) {
		/* Ours, and withdrawn: not to be taken under any other role. */
		snprintf(out->why, sizeof(out->why),
		         "CN '%.64s' serial %.64s is revoked (on the cluster CA's CRL)",
		         info.node_id, info.serial);
		snprintf(out->name, sizeof(out->name), "%s", info.node_id);
		out->revoked = true;
		goto exit;
	}
	if (rc == 0)
		role = AUTH_AGENT;
	else if (mbedtls_x509_crt_verify(&crt, (mbedtls_x509_crt *)&a->operator_ca, NULL, NULL,
	                                 &op_flags, NULL, NULL) == 0)
		role = AUTH_OPERATOR;
	if (role == AUTH_NONE) {
		char vinfo[128];
		int len = mbedtls_x509_crt_verify_info(vinfo, sizeof(vinfo), "", flags);

		/* verify_info ends every flag's line with a newline: one log line is enough. */
		for (int i = 0; i < len; i++)
			if (vinfo[i] == '\n')
				vinfo[i] = i == len - 1 ? '\0' : ';';
		snprintf(out->why, sizeof(out->why),
		         "CN '%.64s' serial %.64s chains to neither CA (cluster CA: %.100s)",
		         info.node_id, info.serial, len > 0 ? vinfo : "unknown");
		goto exit;
	}
	if (info.node_id[0] == '\0') {
		snprintf(out->why, sizeof(out->why), "%s certificate without a CN",
		         auth_role_name(role));
		goto exit;
	}
	if (mbedtls_x509_crt_check_extended_key_usage(
	        &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0) {
		snprintf(out->why, sizeof(out->why), "%s certificate '%.64s' not for clientAuth",
		         auth_role_name(role), info.node_id);
		goto exit;
	}
	out->role = role;
	snprintf(out->name, sizeof(out->name), "%s", info.node_id);
exit:
	mbedtls_x509_crt_free(&crt);
}
