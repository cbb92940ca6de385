#include "hostport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int port_parse(const char *s, size_t len, unsigned *port, char *why, size_t wsize)
{
	unsigned long v = 0;

	if (len == 0) {
		snprintf(why, wsize, "no port after ':'");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 5) {
			snprintf(why, wsize, "port '%.*s' is not from 1 to 65535",
			         (int)(len > 16 ? 16 : len), s);
			return -1;
		}
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535) {
		snprintf(why, wsize, "port '%.*s' is not from 1 to 65535", (int)len, s);
		return -1;
	}
	*port = (unsigned)v;
	return 0;
}

int hostport_split(const char *in, char *host, size_t hsize, unsigned *port, char *why,
                   size_t wsize)
{
	const char *h, *colon;
	size_t hl;

	if (in[0] == '[') {
		const char *end = strchr(in, ']');

		if (!end || end[1] != ':') {
			snprintf(why, wsize, "'%s' is not [ADDRESS]:PORT", in);
			return -1;
		}
		h = in + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(in, ':');
		if (!colon) {
			snprintf(why, wsize, "'%s' has no :PORT", in);
			return -1;
		}
		h = in;
		hl = (size_t)(colon - in);
		if (memchr(h, ':', hl)) {
			snprintf(why, wsize, "'%s': an IPv6 address is written [ADDRESS]:PORT", in);
			return -1;
		}
	}
	if (hl == 0 || hl >= hsize) {
		snprintf(why, wsize, "'%s': %s host", in, hl ? "too long a" : "no");
		return -1;
	}
	if (port_parse(colon + 1, strlen(colon + 1), port, why, wsize) != 0)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 0;
}

bool hostport_is_numeric(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

int hostport_check_url(const char *url, char *why, size_t wsize)
{
	const char *auth, *end, *colon;

	auth = strstr(url, "://");
	if (!auth) {
		snprintf(why, wsize, "'%s' is not a URL", url);
		return -1;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth))) {
		snprintf(why, wsize, "credentials do not belong in the URL");
		return -1;
	}
	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', (size_t)(end - auth));

		if (!close || close == auth + 1) {
			snprintf(why, wsize, "'%s': bad [IPv6] host", url);
			return -1;
		}
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close + 1 != end) {
			snprintf(why, wsize, "'%s': bad [IPv6] host", url);
			return -1;
		}
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
		if (colon == auth || end == auth) {
			snprintf(why, wsize, "'%s' has no host", url);
			return -1;
		}
	}
	if (colon) {
		unsigned port;

		return port_parse(colon + 1, (size_t)(end - colon - 1), &port, why, wsize);
	}
	return 0;
}
