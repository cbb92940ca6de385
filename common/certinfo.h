#ifndef KMA_CERTINFO_H
#define KMA_CERTINFO_H

/*
 * What an operator needs to know about a certificate: serial (uppercase hex, no
 * separators), subject, issuer, validity and the node ID it names (subject CN).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "hexser.h"
#include "nodeid.h"

struct certinfo {
	char serial[KMA_SERIAL_SIZE];
	char subject[256];
	char issuer[256];
	char node_id[KMA_NODE_ID_SIZE];
	int64_t not_before; /* seconds since the epoch, UTC */
	int64_t not_after;
};

/* Fills info from a parsed certificate. */
void certinfo_from_crt(const mbedtls_x509_crt *crt, struct certinfo *info);

/* Parses one DER certificate into info; false when it does not parse. */
bool certinfo_from_der(const unsigned char *der, size_t len, struct certinfo *info);

/* Formats an epoch time as "2026-11-23T20:13:00Z" into buf (at least 21 bytes). */
void certinfo_time_str(int64_t t, char *buf, size_t size);

/* Name of an mbedTLS error code ("X509 - Certificate verification failed ..."). */
void certinfo_strerror(int err, char *buf, size_t size);

/*
 * Where a PEM file of certificates (buf, len bytes, NUL-terminated or not) stops parsing:
 * the line of the first "-----BEGIN CERTIFICATE-----" block that Mbed TLS refuses, with
 * which certificate of the file it is ("certificate 2") in what; 0 and "no
 * '-----BEGIN CERTIFICATE-----' line" when the file has no such block; 0 and "" when every
 * block parses (the problem is elsewhere: the file as a whole, or none).
 */
int certinfo_pem_where(const unsigned char *buf, size_t len, char *what, size_t size);

/*
 * Why mbedtls_x509_crt_parse refused the certificates of path (its contents buf, len): rc
 * (a negative Mbed TLS error, or the positive count of blocks that did not parse) told as
 * "PATH:LINE: certificate N: <why>", "PATH: no '-----BEGIN CERTIFICATE-----' line: <why>"
 * or "PATH: <why>".
 */
void certinfo_pem_error(const char *path, const unsigned char *buf, size_t len, int rc, char *out,
                        size_t size);

#endif
