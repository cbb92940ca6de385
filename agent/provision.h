#ifndef KMA_AGENT_PROVISION_H
#define KMA_AGENT_PROVISION_H

/*
 * Installing an identity from PEM files (factory provisioning, or migrating a node whose
 * key and certificate were issued outside the cluster's enrolment). The key must match the
 * certificate and the chain must verify to the CA bundle; the current hardware identity is
 * recorded as the enrolled one and the QuickStart generation is bumped.
 */

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stddef.h>

#include "hal.h"

enum provision_status {
	PROVISION_OK = 0,
	PROVISION_ERR_INPUT,    /* a file is missing or unreadable */
	PROVISION_ERR_DATA,     /* PEM does not parse, key/cert mismatch, chain does not verify */
	PROVISION_ERR_HAL,      /* storing the record failed */
	PROVISION_ERR_INTERNAL, /* RNG or memory */
};

struct provision_files {
	const char *key_path;
	const char *cert_path; /* leaf first, intermediates may follow */
	const char *ca_path;
	const char *node_id; /* NULL: take the certificate's subject CN */
};

/* What an identity is installed from, and how to name each part in an error. */
struct provision_material {
	mbedtls_pk_context *key;
	mbedtls_x509_crt *chain; /* leaf first */
	mbedtls_x509_crt *ca;
	mbedtls_ctr_drbg_context *drbg; /* seeded */
	const char *node_id;            /* NULL: take the certificate's subject CN */
	const char *enrolled_serial;    /* NULL: not enrolled yet (state provisioned) */
	const char *key_label, *cert_label, *ca_label;
};

/*
 * Checks that the key belongs to the leaf, that the chain verifies to the CA and names
 * the node, then stores the identity record atomically with the current hardware as the
 * enrolled hardware and the next QuickStart generation.
 */
enum provision_status provision_install(struct hal *hal, const struct provision_material *m,
                                        char *err, size_t size) __attribute__((warn_unused_result));

/* Imports; on failure err says which file and why (never any key bytes). */
enum provision_status provision_import(struct hal *hal, const struct provision_files *files,
                                       char *err, size_t err_size)
    __attribute__((warn_unused_result));

#endif
