#ifndef KMA_HOSTPORT_H
#define KMA_HOSTPORT_H

/*
 * "host:port" and "[v6]:port", as the agent's configuration, peer tables and command line
 * write an address. One parser, so that every place refuses the same things: a port must
 * be decimal digits only and from 1 to 65535 (getaddrinfo takes "99999" and quietly binds
 * or connects to 99999 mod 65536).
 */

#include <stdbool.h>
#include <stddef.h>

#define HOSTPORT_HOST_MAX 256

/*
 * Splits in into host (brackets of an IPv6 literal removed, NUL-terminated, at most hsize
 * bytes with the NUL) and *port. Returns 0, or -1 with a short reason in why ("no :PORT",
 * "port '99999' is not from 1 to 65535", ...).
 */
int hostport_split(const char *in, char *host, size_t hsize, unsigned *port, char *why,
                   size_t wsize) __attribute__((warn_unused_result));

/* Whether host is a numeric IPv4 or IPv6 address (what a listener binds to). */
bool hostport_is_numeric(const char *host);

/*
 * Checks the authority of an "https://host[:port][/path]" URL: a non-empty host and, when
 * a port is written, 1..65535. Returns 0 or -1 with why.
 */
int hostport_check_url(const char *url, char *why, size_t wsize)
    __attribute__((warn_unused_result));

#endif
