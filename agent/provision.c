#include "provision.h"

#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certinfo.h"
#include "mbedcompat.h"
#include "tlsctx.h"

#define KEY_DER_MAX 2048

static void mbed_err(char *err, size_t size, const char *what, const char *path, int rc)
{
	char msg[160];

	certinfo_strerror(rc, msg, sizeof(msg));
	snprintf(err, size, "%s: %s: %s (-0x%04x)", path, what, msg, (unsigned)-rc);
}

static enum provision_status store_record(struct hal *hal, const char *node_id,
                                          const unsigned char *key_der, size_t key_len,
                                          const mbedtls_x509_crt *chain, const mbedtls_x509_crt *ca,
                                          const char *enrolled_serial, char *err, size_t size)
{
	enum provision_status ret = PROVISION_ERR_INTERNAL;
	Kma__V1__IdentityRecord rec = KMA__V1__IDENTITY_RECORD__INIT;
	Kma__V1__IdentityRecord *old = NULL;
	Kma__V1__HardwareIdentity hw_msg = KMA__V1__HARDWARE_IDENTITY__INIT;
	struct hal_load_info info;
	struct hal_hwid hw;
	uint8_t fp[HAL_FP_LEN];
	ProtobufCBinaryData certs[8], cas[8];
	size_t n_certs = 0, n_cas = 0;

	if (hal_read_hwid(hal, &hw) != HAL_OK) {
		snprintf(err, size, "reading the hardware identity: %s", hal->error);
		ret = PROVISION_ERR_HAL;
		goto exit;
	}
	hal_hwid_to_msg(&hw, &hw_msg, fp);
	for (const mbedtls_x509_crt *c = chain; c && c->raw.len && n_certs < 8; c = c->next)
		certs[n_certs++] = (ProtobufCBinaryData){c->raw.len, c->raw.p};
	for (const mbedtls_x509_crt *c = ca; c && c->raw.len && n_cas < 8; c = c->next)
		cas[n_cas++] = (ProtobufCBinaryData){c->raw.len, c->raw.p};

	rec.version = 1;
	rec.node_id = (char *)node_id;
	rec.key_der = (ProtobufCBinaryData){key_len, (uint8_t *)key_der};
	rec.n_cert_chain_der = n_certs;
	rec.cert_chain_der = certs;
	rec.n_ca_der = n_cas;
	rec.ca_der = cas;
	rec.enrolled_hardware = &hw_msg;
	rec.enrolment = enrolled_serial ? KMA__V1__ENROLMENT_STATE__ENROLMENT_STATE_JOINED
	                                : KMA__V1__ENROLMENT_STATE__ENROLMENT_STATE_PENDING;
	rec.enrolled_serial = (char *)(enrolled_serial ? enrolled_serial : "");
	rec.generation = 1;
	rec.stored_at = hal_time_real(hal);
	/* A new identity on the same node is a new QuickStart generation. */
	if (hal_identity_load(hal, &old, &info) == HAL_OK) {
		rec.generation = old->generation + 1;
		kma__v1__identity_record__free_unpacked(old, NULL);
	}
	if (hal_identity_store(hal, &rec) != HAL_OK) {
		snprintf(err, size, "storing the identity record: %s", hal->error);
		ret = PROVISION_ERR_HAL;
		goto exit;
	}
	ret = PROVISION_OK;
exit:
	return ret;
}

enum provision_status provision_install(struct hal *hal, const struct provision_material *m,
                                        char *err, size_t size)
{
	enum provision_status ret = PROVISION_ERR_DATA;
	unsigned char *key_der = NULL;
	struct certinfo leaf;
	uint32_t flags = 0;
	int rc, der_len;

	rc = kma_pk_check_pair(&m->chain->pk, m->key, m->drbg);
	if (rc) {
		snprintf(err, size, "%s does not belong to the certificate in %s", m->key_label,
		         m->cert_label);
		goto exit;
	}
	rc = mbedtls_x509_crt_verify(m->chain, m->ca, NULL, NULL, &flags, NULL, NULL);
	if (rc) {
		char why[256];

		mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
		why[strcspn(why, "\n")] = '\0';
		snprintf(err, size, "%s does not verify to the CA in %s: %s", m->cert_label,
		         m->ca_label, why);
		goto exit;
	}
	certinfo_from_crt(m->chain, &leaf);
	if (m->node_id && strcmp(m->node_id, leaf.node_id) != 0) {
		snprintf(err, size, "%s names node '%s', not '%s'", m->cert_label, leaf.node_id,
		         m->node_id);
		goto exit;
	}
	if (leaf.node_id[0] == '\0') {
		snprintf(err, size, "%s has no subject CN to take the node ID from", m->cert_label);
		goto exit;
	}

	ret = PROVISION_ERR_INTERNAL;
	key_der = malloc(KEY_DER_MAX);
	if (!key_der)
		goto exit;
	/* mbedtls_pk_write_key_der writes at the end of the buffer. */
	der_len = mbedtls_pk_write_key_der(m->key, key_der, KEY_DER_MAX);
	if (der_len <= 0) {
		mbed_err(err, size, "re-encoding the key", m->key_label, der_len);
		goto exit;
	}
	ret = store_record(hal, leaf.node_id, key_der + KEY_DER_MAX - der_len, (size_t)der_len,
	                   m->chain, m->ca, m->enrolled_serial, err, size);
exit:
	if (key_der) {
		mbedtls_platform_zeroize(key_der, KEY_DER_MAX);
		free(key_der);
	}
	return ret;
}

static enum provision_status from_tlsctx(enum tlsctx_status st)
{
	switch (st) {
	case TLSCTX_OK:
		return PROVISION_OK;
	case TLSCTX_ERR_INPUT:
		return PROVISION_ERR_INPUT;
	case TLSCTX_ERR_DATA:
		return PROVISION_ERR_DATA;
	case TLSCTX_ERR_INTERNAL:
		break;
	}
	return PROVISION_ERR_INTERNAL;
}

enum provision_status provision_import(struct hal *hal, const struct provision_files *files,
                                       char *err, size_t size)
{
	enum provision_status ret;
	struct tlsctx t;

	tlsctx_init(&t);
	ret = from_tlsctx(tlsctx_load_files(&t, files->key_path, files->cert_path, files->ca_path,
	                                    NULL, err, size));
	if (ret == PROVISION_OK) {
		struct provision_material m = {
		    .key = &t.key,
		    .chain = &t.chain,
		    .ca = &t.ca,
		    .drbg = &t.drbg,
		    .node_id = files->node_id,
		    .key_label = files->key_path,
		    .cert_label = files->cert_path,
		    .ca_label = files->ca_path,
		};

		ret = provision_install(hal, &m, err, size);
	}
	tlsctx_free(&t);
	return ret;
}
