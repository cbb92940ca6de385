#ifndef KMA_AGENT_TLSNAMES_H
#define KMA_AGENT_TLSNAMES_H

/* Names for what a TLS failure is made of: alerts and X.509 verify flags. */

#include <stddef.h>
#include <stdint.h>

/* RFC 8446 / RFC 5246 alert description name ("certificate_unknown"), "unknown" if none. */
const char *tlsnames_alert(int description);

/*
 * Calls fn(name) for each flag set in an mbedTLS verify result, in bit order, with names
 * as the library spells its macros ("MBEDTLS_X509_BADCERT_EXPIRED").
 */
void tlsnames_verify_flags(uint32_t flags, void (*fn)(const char *name, void *arg), void *arg);

/* The same as one comma-separated string. */
void tlsnames_verify_flags_str(uint32_t flags, char *buf, size_t size);

#endif
