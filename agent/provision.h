#ifndef KMA_AGENT_PROVISION_H
#define KMA_AGENT_PROVISION_H

/*
 * Installing an identity from PEM files (factory provisioning, or migrating a node whose
 * key and certificate were issued outside the cluster's enrolment). The key must match the
 * certificate and the chain must verify to the CA bundle; the current hardware identity is
 * recorded as the enrolled one and the QuickStart generation is bumped.
 */

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

/* Imports; on failure err says which file and why (never any key bytes). */
enum provision_status provision_import(struct hal *hal, const struct provision_files *files,
                                       char *err, size_t err_size)
    __attribute__((warn_unused_result));

#endif
