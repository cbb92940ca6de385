#include "provision.h"

#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certinfo.h"
#include "fileio.h"
#include "mbedcompat.h"

#define PEM_MAX     (64 * 1024)
#define KEY_DER_MAX 2048

/* Reads a PEM file; mbedTLS wants the terminating NUL counted in the length. */
static int read_pem(const char *path, unsigned char **buf, size_t *len, char *err, size_t size)
{
	int e = fileio_read(path, PEM_MAX, buf, len);

	if (e) {
		snprintf(err, size, "%s: %s", path,
		         e == EFBIG ? "larger than 64 KiB" : strerror(e));
		return -1;
	}
	*len += 1;
	return 0;
}

static void mbed_err(char *err, size_t size, const char *what, const char *path, int rc)
{
	char msg[160];

	certinfo_strerror(rc, msg, sizeof(msg));
	snprintf(err, size, "%s: %s: %s (-0x%04x)", path, what, msg, (unsigned)-rc);
}

static enum provision_status store_record(struct hal *hal, const char *node_id,
                                          const unsigned char *key_der, size_t key_len,
                                          const mbedtls_x509_crt *chain, const mbedtls_x509_crt *ca,
                                          char *err, size_t size)
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
	rec.enrolment = KMA__V1__ENROLMENT_STATE__ENROLMENT_STATE_PENDING;
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

enum provision_status provision_import(struct hal *hal, const struct provision_files *files,
                                       char *err, size_t size)
{
	enum provision_status ret = PROVISION_ERR_INTERNAL;
	unsigned char *key_pem = NULL, *cert_pem = NULL, *ca_pem = NULL;
	size_t key_len = 0, cert_len = 0, ca_len = 0;
	unsigned char *key_der = NULL;
	mbedtls_pk_context pk;
	mbedtls_x509_crt chain, ca;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	struct certinfo leaf;
	uint32_t flags = 0;
	int rc, der_len;

	mbedtls_pk_init(&pk);
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_init(&ca);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);

	ret = PROVISION_ERR_INPUT;
	if (read_pem(files->key_path, &key_pem, &key_len, err, size) ||
	    read_pem(files->cert_path, &cert_pem, &cert_len, err, size) ||
	    read_pem(files->ca_path, &ca_pem, &ca_len, err, size))
		goto exit;

	ret = PROVISION_ERR_INTERNAL;
	rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	                           (const unsigned char *)"kma-import", 10);
	if (rc) {
		mbed_err(err, size, "seeding the RNG", "ctr_drbg", rc);
		goto exit;
	}

	ret = PROVISION_ERR_DATA;
	rc = kma_pk_parse_key(&pk, key_pem, key_len, &drbg);
	if (rc) {
		mbed_err(err, size, "private key", files->key_path, rc);
		goto exit;
	}
	rc = mbedtls_x509_crt_parse(&chain, cert_pem, cert_len);
	if (rc) {
		mbed_err(err, size, "certificate", files->cert_path, rc);
		goto exit;
	}
	rc = mbedtls_x509_crt_parse(&ca, ca_pem, ca_len);
	if (rc) {
		mbed_err(err, size, "CA bundle", files->ca_path, rc);
		goto exit;
	}
	rc = kma_pk_check_pair(&chain.pk, &pk, &drbg);
	if (rc) {
		snprintf(err, size, "%s does not belong to the certificate in %s", files->key_path,
		         files->cert_path);
		goto exit;
	}
	rc = mbedtls_x509_crt_verify(&chain, &ca, NULL, NULL, &flags, NULL, NULL);
	if (rc) {
		char why[256];

		mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
		why[strcspn(why, "\n")] = '\0';
		snprintf(err, size, "%s does not verify to the CA in %s: %s", files->cert_path,
		         files->ca_path, why);
		goto exit;
	}
	certinfo_from_crt(&chain, &leaf);
	if (files->node_id && strcmp(files->node_id, leaf.node_id) != 0) {
		snprintf(err, size, "%s names node '%s', not '%s'", files->cert_path, leaf.node_id,
		         files->node_id);
		goto exit;
	}
	if (leaf.node_id[0] == '\0') {
		snprintf(err, size, "%s has no subject CN to take the node ID from",
		         files->cert_path);
		goto exit;
	}

	ret = PROVISION_ERR_INTERNAL;
	key_der = malloc(KEY_DER_MAX);
	if (!key_der)
		goto exit;
	/* mbedtls_pk_write_key_der writes at the end of the buffer. */
	der_len = mbedtls_pk_write_key_der(&pk, key_der, KEY_DER_MAX);
	if (der_len <= 0) {
		mbed_err(err, size, "re-encoding the key", files->key_path, der_len);
		goto exit;
	}
	ret = store_record(hal, leaf.node_id, key_der + KEY_DER_MAX - der_len, (size_t)der_len,
	                   &chain, &ca, err, size);
exit:
	if (key_der) {
		mbedtls_platform_zeroize(key_der, KEY_DER_MAX);
		free(key_der);
	}
	if (key_pem) {
		mbedtls_platform_zeroize(key_pem, key_len);
		free(key_pem);
	}
	free(cert_pem);
	free(ca_pem);
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&ca);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return ret;
}
