#ifndef KMA_HEXSER_H
#define KMA_HEXSER_H

/*
 * Certificate serial numbers as the cluster writes them: uppercase hex without
 * separators ("E2207FDBA432E9010000000000000084", as in the OKM logs). Input is accepted
 * in any case, with or without colons or spaces between bytes.
 */

#include <stdbool.h>
#include <stddef.h>

/* A serial in canonical form: up to 64 bytes (RFC 5280 allows 20) as hex, and the NUL. */
#define KMA_SERIAL_SIZE 130

/* Writes the canonical form of raw bytes; out must hold 2 * len + 1 bytes. */
void hexser_format(const unsigned char *raw, size_t len, char *out);

/*
 * Canonicalises a serial typed by a person or found in a log into out (size bytes).
 * Leading zero bytes are kept as given. False when it is not hex, is empty or does not fit.
 */
bool hexser_normalize(const char *in, char *out, size_t size);

/* True when both name the same serial once normalised. */
bool hexser_equal(const char *a, const char *b);

#endif
