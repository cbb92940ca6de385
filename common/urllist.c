#include "urllist.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hostport.h"

#define SEPARATORS ", \t\r\n"

int urllist_check(const char *url, char *why, size_t wsize)
{
	if (strlen(url) >= URLLIST_URL_SIZE) {
		snprintf(why, wsize, "'%.40s...' is too long (%d bytes at most)", url,
		         URLLIST_URL_SIZE - 1);
		return -1;
	}
	if (strncasecmp(url, "https://", 8) != 0 || url[8] == '\0') {
		snprintf(why, wsize, "'%s' is not an https:// URL", url);
		return -1;
	}
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, wsize, "'%s' holds white space or a control character", url);
			return -1;
		}
	}
	return hostport_check_url(url, why, wsize);
}

int urllist_add(struct urllist *l, const char *text, char *why, size_t wsize)
{
	struct urllist out = *l;
	char url[URLLIST_URL_SIZE + 1];
	const char *p = text;

	while (*(p += strspn(p, SEPARATORS))) {
		size_t len = strcspn(p, SEPARATORS);

		snprintf(url, sizeof(url), "%.*s", (int)len, p);
		p += len;
		if (out.n == URLLIST_MAX) {
			snprintf(why, wsize, "more than %d URLs", URLLIST_MAX);
			return -1;
		}
		if (urllist_check(url, why, wsize) != 0)
			return -1;
		if (urllist_find(&out, url) != URLLIST_NONE) {
			snprintf(why, wsize, "'%s' is listed twice", url);
			return -1;
		}
		memcpy(out.url[out.n++], url, strlen(url) + 1);
	}
	if (out.n == l->n) {
		snprintf(why, wsize, "no URL");
		return -1;
	}
	*l = out;
	return 0;
}

/* A URL's parts as urllist_same compares them; pointers into the URL with lengths. */
struct parts {
	const char *scheme, *host, *port, *path;
	size_t scheme_len, host_len, port_len, path_len;
};

static void split(const char *url, struct parts *p)
{
	const char *auth = strstr(url, "://"), *end, *colon = NULL;

	memset(p, 0, sizeof(*p));
	p->scheme = url;
	p->scheme_len = auth ? (size_t)(auth - url) : 0;
	auth = auth ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', (size_t)(end - auth));

		colon = close && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
	}
	p->host = auth;
	p->host_len = (size_t)((colon ? colon : end) - auth);
	p->port = colon ? colon + 1 : "443";
	p->port_len = colon ? (size_t)(end - colon - 1) : 3;
	p->path = end;
	p->path_len = strlen(end);
	while (p->path_len > 0 && end[p->path_len - 1] == '/')
		p->path_len--;
	/* "0443" is 443 too */
	while (p->port_len > 1 && p->port[0] == '0') {
		p->port++;
		p->port_len--;
	}
}

static bool same_part(const char *a, size_t alen, const char *b, size_t blen, bool anycase)
{
	if (alen != blen)
		return false;
	return anycase ? strncasecmp(a, b, alen) == 0 : memcmp(a, b, alen) == 0;
}

bool urllist_same(const char *a, const char *b)
{
	struct parts x, y;

	split(a, &x);
	split(b, &y);
	return same_part(x.scheme, x.scheme_len, y.scheme, y.scheme_len, true) &&
	       same_part(x.host, x.host_len, y.host, y.host_len, true) &&
	       same_part(x.port, x.port_len, y.port, y.port_len, false) &&
	       same_part(x.path, x.path_len, y.path, y.path_len, false);
}

size_t urllist_find(const struct urllist *l, const char *url)
{
	for (size_t i = 0; i < l->n; i++)
		if (urllist_same(l->url[i], url))
			return i;
	return URLLIST_NONE;
}

int urllist_join(const char *base, const char *path, char *out, size_t size)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	path += strspn(path, "/");
	return (size_t)snprintf(out, size, "%.*s/%s", (int)n, base, path) < size ? 0 : -1;
}

void urllist_text(const struct urllist *l, char *out, size_t size)
{
	size_t used = 0;

	if (size)
		out[0] = '\0';
	for (size_t i = 0; i < l->n && used < size; i++) {
		int k = snprintf(out + used, size - used, "%s%s", i ? ", " : "", l->url[i]);

		if (k < 0)
			break;
		used += (size_t)k;
	}
}

static const char *find(const char *s, size_t len, const char *what)
{
	size_t n = strlen(what);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(s + i, what, n) == 0)
			return s + i;
	return NULL;
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

bool urllist_standby(long status, const void *body, size_t len)
{
	const char *p = body, *end;

	if (status != 503 || !body)
		return false;
	end = p + len;
	/* The contract's member, wherever it stands in the object; any spacing around ':'. */
	while ((p = find(p, (size_t)(end - p), "\"error\""))) {
		p = skip_space(p + 7, end);
		if (p < end && *p == ':') {
			p = skip_space(p + 1, end);
			return (size_t)(end - p) >= 9 && memcmp(p, "\"standby\"", 9) == 0;
		}
	}
	return false;
}

bool urllist_active_header(const char *line, size_t len, char *out, size_t size)
{
	size_t name = sizeof(URLLIST_ACTIVE_HEADER) - 1;
	const char *v, *end = line + len;

	if (len <= name || strncasecmp(line, URLLIST_ACTIVE_HEADER, name) != 0 || line[name] != ':')
		return false;
	v = skip_space(line + name + 1, end);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (size == 0)
		return true;
	if ((size_t)(end - v) >= size)
		end = v;
	snprintf(out, size, "%.*s", (int)(end - v), v);
	return true;
}

void urllist_cursor_init(struct urllist_cursor *c)
{
	c->at = 0;
	c->answered = URLLIST_NONE;
	c->hint = URLLIST_NONE;
	c->tried = 0;
}

bool urllist_answered(struct urllist_cursor *c, size_t *was)
{
	bool changed = c->answered != URLLIST_NONE && c->answered != c->at;

	*was = c->answered;
	c->answered = c->at;
	c->hint = URLLIST_NONE;
	c->tried = 0;
	return changed;
}

bool urllist_failed(const struct urllist *l, struct urllist_cursor *c, const char *active)
{
	size_t named = active && active[0] ? urllist_find(l, active) : URLLIST_NONE;

	c->tried |= 1u << c->at;
	if (named != URLLIST_NONE)
		c->hint = named;
	if (named != URLLIST_NONE && !(c->tried & (1u << named))) {
		c->at = named;
		return true;
	}
	for (size_t k = 1; k < l->n; k++) {
		size_t i = (c->at + k) % l->n;

		if (!(c->tried & (1u << i))) {
			c->at = i;
			return true;
		}
	}
	/* Every URL asked: the next round starts where an answer is likeliest. */
	c->at = c->hint != URLLIST_NONE ? c->hint : c->answered != URLLIST_NONE ? c->answered : 0;
	c->hint = URLLIST_NONE;
	c->tried = 0;
	return false;
}
