#include "tlshello.h"

#include <stdio.h>
#include <string.h>

/*
 * What each hello offers. Broad on purpose: the question is whether the peer speaks the
 * version at all, so anything a server of that era commonly picks is in, ours or not.
 */
static const uint16_t suites_cbc[] = {
    0xc00a, 0xc009, 0xc014, 0xc013, /* ECDHE-ECDSA/RSA with AES-CBC-SHA */
    0x0039, 0x0033, 0x0035, 0x002f, /* DHE-RSA and RSA with AES-CBC-SHA */
    0xc012, 0x0016, 0x000a,         /* 3DES, still all some old servers have */
};
static const uint16_t suites_tls12[] = {
    0xc02c, 0xc02b, 0xc030, 0xc02f, 0xcca9, 0xcca8, 0xccaa, 0x009f, 0x009e, 0xc0ad, 0xc0ac,
    0xc024, 0xc023, 0xc028, 0xc027, 0x006b, 0x0067, 0x009d, 0x009c, 0x003d, 0x003c,
};
static const uint16_t suites_tls13[] = {0x1301, 0x1302, 0x1303, 0x1304};
static const uint16_t groups[] = {0x001d, 0x0017, 0x0018, 0x0019, 0x001e, 0x0100, 0x0101};
static const uint16_t sigalgs[] = {
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806,
    0x0809, 0x080a, 0x080b, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
};
/* The X25519 base point: a valid public key, and nobody will ever use it. */
static const unsigned char x25519_share[32] = {9};
/* ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3). */
static const unsigned char hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

#define EXT_SUPPORTED_GROUPS   10
#define EXT_EC_POINT_FORMATS   11
#define EXT_SIGNATURE_ALGS     13
#define EXT_PADDING            21
#define EXT_EXTENDED_MS        23
#define EXT_SUPPORTED_VERSIONS 43
#define EXT_KEY_SHARE          51

/* A bounded writer: a write past size sets bad and writes nothing. */
struct wr {
	unsigned char *b;
	size_t n, size;
	bool bad;
};

static void put(struct wr *w, unsigned v, size_t bytes)
{
	if (w->bad || w->size - w->n < bytes) {
		w->bad = true;
		return;
	}
	for (size_t i = bytes; i > 0; i--)
		w->b[w->n++] = (unsigned char)(v >> (8 * (i - 1)));
}

static void put_bytes(struct wr *w, const unsigned char *p, size_t len)
{
	if (w->bad || w->size - w->n < len) {
		w->bad = true;
		return;
	}
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

/* Opens a length field of bytes bytes; close_len fills it with what was written since. */
static size_t open_len(struct wr *w, size_t bytes)
{
	size_t at = w->n;

	put(w, 0, bytes);
	return at;
}

static void close_len(struct wr *w, size_t at, size_t bytes)
{
	size_t len = w->n - at - bytes;

	if (w->bad)
		return;
	for (size_t i = 0; i < bytes; i++)
		w->b[at + i] = (unsigned char)(len >> (8 * (bytes - 1 - i)));
}

static void put_list16(struct wr *w, const uint16_t *v, size_t n, size_t len_bytes)
{
	size_t at = open_len(w, len_bytes);

	for (size_t i = 0; i < n; i++)
		put(w, v[i], 2);
	close_len(w, at, len_bytes);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

size_t tlshello_build(unsigned version, const unsigned char random[32], unsigned char *buf,
                      size_t size)
{
	struct wr w = {.b = buf, .size = size};
	bool tls13 = version == TLSHELLO_TLS13;
	size_t rec, msg, body, suites, exts, ext, msg_len;

	if (version < TLSHELLO_TLS10 || version > TLSHELLO_TLS13 || size < TLSHELLO_HELLO_MAX)
		return 0;
	put(&w, 22, 1); /* handshake record, version 1.0 as first hellos have it */
	put(&w, TLSHELLO_TLS10, 2);
	rec = open_len(&w, 2);
	msg = w.n;
	put(&w, 1, 1); /* client_hello */
	body = open_len(&w, 3);
	put(&w, tls13 ? TLSHELLO_TLS12 : version, 2);
	put_bytes(&w, random, 32);
	put(&w, 0, 1); /* no session ID */
	suites = open_len(&w, 2);
	if (tls13) {
		for (size_t i = 0; i < COUNT(suites_tls13); i++)
			put(&w, suites_tls13[i], 2);
	} else {
		for (size_t i = 0; version == TLSHELLO_TLS12 && i < COUNT(suites_tls12); i++)
			put(&w, suites_tls12[i], 2);
		for (size_t i = 0; i < COUNT(suites_cbc); i++)
			put(&w, suites_cbc[i], 2);
		put(&w, 0x00ff, 2); /* renegotiation_info SCSV */
	}
	close_len(&w, suites, 2);
	put(&w, 1, 1); /* compression methods: null only */
	put(&w, 0, 1);
	exts = open_len(&w, 2);

	put(&w, EXT_SUPPORTED_GROUPS, 2);
	ext = open_len(&w, 2);
	put_list16(&w, groups, COUNT(groups), 2);
	close_len(&w, ext, 2);
	if (version >= TLSHELLO_TLS12) { /* RFC 5246 7.4.1.4.1: not before 1.2 */
		put(&w, EXT_SIGNATURE_ALGS, 2);
		ext = open_len(&w, 2);
		put_list16(&w, sigalgs, COUNT(sigalgs), 2);
		close_len(&w, ext, 2);
	}
	if (tls13) {
		put(&w, EXT_SUPPORTED_VERSIONS, 2);
		put(&w, 3, 2);
		put(&w, 2, 1);
		put(&w, TLSHELLO_TLS13, 2);
		put(&w, EXT_KEY_SHARE, 2);
		ext = open_len(&w, 2);
		put(&w, 2 + 2 + sizeof(x25519_share), 2);
		put(&w, 0x001d, 2);
		put(&w, sizeof(x25519_share), 2);
		put_bytes(&w, x25519_share, sizeof(x25519_share));
		close_len(&w, ext, 2);
	} else {
		put(&w, EXT_EC_POINT_FORMATS, 2);
		put(&w, 2, 2);
		put(&w, 1, 1);
		put(&w, 0, 1); /* uncompressed */
		put(&w, EXT_EXTENDED_MS, 2);
		put(&w, 0, 2);
	}
	/* Some servers hang on a ClientHello of 256 to 511 bytes (RFC 7685): pad to 512. */
	msg_len = w.n - msg;
	if (msg_len >= 256 && msg_len < 512) {
		size_t pad = msg_len + 4 < 512 ? 512 - msg_len - 4 : 0;

		put(&w, EXT_PADDING, 2);
		put(&w, pad, 2);
		for (size_t i = 0; i < pad; i++)
			put(&w, 0, 1);
	}
	close_len(&w, exts, 2);
	close_len(&w, body, 3);
	close_len(&w, rec, 2);
	return w.bad ? 0 : w.n;
}

/* Reads a big-endian field of n bytes at *p, if it is within end. */
static bool take(const unsigned char **p, const unsigned char *end, size_t n, size_t *out)
{
	size_t v = 0;

	if ((size_t)(end - *p) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | (*p)[i];
	*p += n;
	*out = v;
	return true;
}

/* The body of a complete ServerHello message (after its 4-byte header). */
static enum tlshello_kind server_hello(const unsigned char *p, size_t n, struct tlshello_answer *a)
{
	const unsigned char *end = p + n, *ext_end;
	size_t legacy, sid, suite, comp, ext_len;
	bool seen = false;

	if (!take(&p, end, 2, &legacy) || legacy >> 8 != 3 || (size_t)(end - p) < 32)
		return a->kind = TLSHELLO_BAD;
	a->retry = memcmp(p, hrr_random, 32) == 0;
	p += 32;
	if (!take(&p, end, 1, &sid) || sid > 32 || (size_t)(end - p) < sid)
		return a->kind = TLSHELLO_BAD;
	p += sid;
	if (!take(&p, end, 2, &suite) || !take(&p, end, 1, &comp))
		return a->kind = TLSHELLO_BAD;
	a->version = (unsigned)legacy;
	a->suite = (unsigned)suite;
	if (p == end && !a->retry) /* no extensions: a TLS 1.2 or older server */
		return a->kind = TLSHELLO_SERVER_HELLO;
	if (!take(&p, end, 2, &ext_len) || ext_len != (size_t)(end - p))
		return a->kind = TLSHELLO_BAD;
	ext_end = p + ext_len;
	while (p < ext_end) {
		size_t type, elen, v;

		if (!take(&p, ext_end, 2, &type) || !take(&p, ext_end, 2, &elen) ||
		    (size_t)(ext_end - p) < elen)
			return a->kind = TLSHELLO_BAD;
		if (type == EXT_SUPPORTED_VERSIONS) {
			/* A server names one version here, once, and only a 1.3 one. */
			if (seen || elen != 2 || !take(&p, ext_end, 2, &v) || v >> 8 != 3)
				return a->kind = TLSHELLO_BAD;
			a->version = (unsigned)v;
			seen = true;
			continue;
		}
		p += elen;
	}
	/* A HelloRetryRequest without the version it asks us to retry is not one. */
	if (a->retry && !seen)
		return a->kind = TLSHELLO_BAD;
	return a->kind = TLSHELLO_SERVER_HELLO;
}

enum tlshello_kind tlshello_parse_answer(const unsigned char *buf, size_t len,
                                         struct tlshello_answer *a)
{
	/* The ServerHello's bytes, gathered from as many handshake records as it spans. */
	unsigned char hs[TLSHELLO_SERVER_HELLO_MAX];
	size_t hs_len = 0, msg_len = 0, pos = 0;

	memset(a, 0, sizeof(*a));
	a->kind = TLSHELLO_MORE;
	while (pos < len) {
		const unsigned char *r = buf + pos;
		size_t avail = len - pos, rec_len, body;

		if ((r[0] != 21 && r[0] != 22) || (avail >= 2 && r[1] != 3))
			return a->kind = TLSHELLO_BAD;
		if (avail < 5)
			return a->kind = TLSHELLO_MORE;
		rec_len = (size_t)r[3] << 8 | r[4];
		if (rec_len == 0 || rec_len > 16384)
			return a->kind = TLSHELLO_BAD;
		body = avail - 5 < rec_len ? avail - 5 : rec_len;
		if (r[0] == 21) {
			/* Alerts come whole, two bytes each, and not inside a split message. */
			if (hs_len > 0 || rec_len % 2)
				return a->kind = TLSHELLO_BAD;
			for (size_t i = 0; i < rec_len; i += 2) {
				if (i + 2 > body)
					return a->kind = TLSHELLO_MORE;
				if (r[5 + i] == 2 || r[6 + i] == 0) {
					a->alert = r[6 + i];
					return a->kind = TLSHELLO_ALERT;
				}
				if (r[5 + i] != 1)
					return a->kind = TLSHELLO_BAD;
			}
			pos += 5 + rec_len;
			continue;
		}
		for (size_t i = 0; i < body && (hs_len < 4 || hs_len < 4 + msg_len); i++) {
			hs[hs_len++] = r[5 + i];
			if (hs_len != 4)
				continue;
			msg_len = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
			if (hs[0] != 2 || msg_len > sizeof(hs) - 4)
				return a->kind = TLSHELLO_BAD;
		}
		if (hs_len >= 4 && hs_len == 4 + msg_len)
			return server_hello(hs + 4, msg_len, a);
		if (body < rec_len)
			return a->kind = TLSHELLO_MORE;
		pos += 5 + rec_len;
	}
	return a->kind = TLSHELLO_MORE;
}

const char *tlshello_version_name(unsigned version)
{
	switch (version) {
	case 0x0300:
		return "SSL 3.0";
	case TLSHELLO_TLS10:
		return "TLS 1.0";
	case TLSHELLO_TLS11:
		return "TLS 1.1";
	case TLSHELLO_TLS12:
		return "TLS 1.2";
	case TLSHELLO_TLS13:
		return "TLS 1.3";
	default:
		return "unknown";
	}
}

int tlshello_versions_str(unsigned mask, char *buf, size_t size)
{
	size_t used = 0;
	int n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < TLSHELLO_N; i++) {
		int k;

		if (!(mask & TLSHELLO_BIT(TLSHELLO_VERSION(i))))
			continue;
		k = snprintf(buf + used, size - used, "%s%s", n ? ", " : "",
		             tlshello_version_name(TLSHELLO_VERSION(i)));
		if (k < 0)
			return k;
		n += k;
		used = (size_t)n < size ? (size_t)n : size - 1;
	}
	return n ? n : snprintf(buf, size, "none");
}
