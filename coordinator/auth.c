#include "auth.h"

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"

/* A CA bundle of a few certificates; anything this large is not one. */
#define CA_FILE_MAX (1024 * 1024)

struct auth {
	mbedtls_x509_crt cluster_ca;
	mbedtls_x509_crt operator_ca;
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
		char msg[128];

		certinfo_strerror(rc, msg, sizeof(msg));
		if (rc > 0)
			log_err("%s %s: %d certificates do not parse", what, path, rc);
		else
			log_err("%s %s: %s", what, path, msg);
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
	free(a);
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
	if (mbedtls_x509_crt_verify(&crt, (mbedtls_x509_crt *)&a->cluster_ca, NULL, NULL, &flags,
	                            NULL, NULL) == 0)
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
