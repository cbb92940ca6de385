#include "crl.h"

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexser.h"

/* Room for one entry: SEQUENCE { INTEGER of up to 65 bytes, a GeneralizedTime }. */
#define ENTRY_MAX (4 + 2 + 1 + CRL_SERIAL_MAX_BYTES + 2 + 15)
/* Everything but the issuer, the key ID and the entries, with room to spare. */
#define FIXED_MAX 512
/* More entries than any store lists (STORE_REVOKED_MAX): refused before any arithmetic. */
#define ENTRIES_MAX (1u << 20)

const char *crl_status_str(enum crl_status s)
{
	switch (s) {
	case CRL_OK:
		return "ok";
	case CRL_ERR_SERIAL:
		return "bad serial";
	case CRL_ERR_TIME:
		return "time out of range";
	case CRL_ERR_NUMBER:
		return "CRL number too long";
	case CRL_ERR_KEY:
		return "key signs neither ECDSA nor RSA";
	case CRL_ERR_SIGN:
		return "signing failed";
	case CRL_ERR_MEMORY:
		return "out of memory";
	}
	return "unknown";
}

/* A time as X.509 writes it (RFC 5280 4.1.2.5): its text and tag, or -1 outside 1950..9999. */
struct x509_time_form {
	char text[16]; /* "YYMMDDhhmmssZ" or "YYYYMMDDhhmmssZ" */
	size_t len;
	unsigned char tag;
};

/* Civil date of a day count since 1970-01-01 (H. Hinnant's algorithm): no time_t, which is
 * 32 bits on armhf while a nextUpdate may pass 2038. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

static int time_form(int64_t t, struct x509_time_form *f)
{
	int64_t days, secs, y;
	unsigned m, d;
	int n;

	/* 9999-12-31T23:59:59Z and 1950-01-01T00:00:00Z; also keeps the day count small. */
	if (t > 253402300799 || t < -631152000)
		return -1;
	days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	secs = t - days * 86400;
	civil_from_days(days, &y, &m, &d);
	if (y < 2050) {
		n = snprintf(f->text, sizeof(f->text), "%02u%02u%02u%02u%02u%02uZ",
		             (unsigned)(y % 100), m, d, (unsigned)(secs / 3600),
		             (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
		f->tag = MBEDTLS_ASN1_UTC_TIME;
	} else {
		n = snprintf(f->text, sizeof(f->text), "%04u%02u%02u%02u%02u%02uZ", (unsigned)y, m,
		             d, (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60),
		             (unsigned)(secs % 60));
		f->tag = MBEDTLS_ASN1_GENERALIZED_TIME;
	}
	f->len = (size_t)n;
	return 0;
}

/*
 * An unsigned big-endian number as the content of a DER INTEGER: leading zero bytes dropped
 * (one kept for zero), a 00 byte put back before a top bit that is set. out holds max + 1.
 */
static size_t integer_content(const unsigned char *num, size_t len, unsigned char *out)
{
	size_t n = 0;

	while (len > 1 && num[0] == 0) {
		num++;
		len--;
	}
	if (len == 0 || num[0] & 0x80)
		out[n++] = 0;
	memcpy(out + n, num, len);
	return n + len;
}

/* A hex serial as INTEGER content (out: CRL_SERIAL_MAX_BYTES + 1 bytes); 0 when unusable. */
static size_t serial_content(const char *hex, unsigned char *out)
{
	/* The digits from norm[1] on; norm[0] is room for the 0 an odd count needs. Leading
	 * zeros take room too: as many again as the number may have. */
	char norm[4 * CRL_SERIAL_MAX_BYTES + 2], *h = norm;
	unsigned char raw[CRL_SERIAL_MAX_BYTES];
	size_t n = 0;

	if (!hexser_normalize(hex, norm + 1, sizeof(norm) - 1))
		return 0;
	while (h[1] == '0' && h[2] != '\0')
		h++; /* leading zeros are no part of the number */
	if (strlen(h + 1) % 2)
		*h = '0';
	else
		h++;
	if (strlen(h) > 2 * sizeof(raw))
		return 0;
	for (; h[n * 2]; n++) {
		unsigned v;

		if (sscanf(h + n * 2, "%2x", &v) != 1)
			return 0;
		raw[n] = (unsigned char)v;
	}
	return integer_content(raw, n, out);
}

bool crl_serial_ok(const char *hex)
{
	unsigned char content[CRL_SERIAL_MAX_BYTES + 1];

	return serial_content(hex, content) > 0;
}

/*
 * The subjectKeyIdentifier of a certificate (the key ID in its extension), or -1 when it has
 * none. Read from the raw extensions: Mbed TLS 2.28 does not keep it.
 */
static int subject_key_id(const mbedtls_x509_crt *c, const unsigned char **id, size_t *id_len)
{
	static const unsigned char oid_ski[] = MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER;
	unsigned char *p = c->v3_ext.p;
	const unsigned char *end;
	size_t n;

	if (!p || c->v3_ext.len == 0)
		return -1;
	end = p + c->v3_ext.len;
	if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
		return -1;
	end = p + n;
	while (p < end) {
		unsigned char *ext_end;
		bool is_ski;

		if (mbedtls_asn1_get_tag(&p, end, &n,
		                         MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
			return -1;
		ext_end = p + n;
		if (mbedtls_asn1_get_tag(&p, ext_end, &n, MBEDTLS_ASN1_OID))
			return -1;
		is_ski = n == sizeof(oid_ski) - 1 && memcmp(p, oid_ski, n) == 0;
		p += n;
		if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN) {
			if (mbedtls_asn1_get_tag(&p, ext_end, &n, MBEDTLS_ASN1_BOOLEAN))
				return -1;
			p += n;
		}
		if (mbedtls_asn1_get_tag(&p, ext_end, &n, MBEDTLS_ASN1_OCTET_STRING))
			return -1;
		if (is_ski) {
			if (mbedtls_asn1_get_tag(&p, p + n, &n, MBEDTLS_ASN1_OCTET_STRING))
				return -1;
			*id = p;
			*id_len = n;
			return 0;
		}
		p = ext_end;
	}
	return -1;
}

/*
 * The writers below write backwards, ending at *p, never before start (Mbed TLS's ASN.1
 * writer); each returns the bytes it wrote or a negative Mbed TLS error.
 */

/* The tag and length of the len bytes that follow. */
static int wrap(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
	int ret;
	size_t n = 0;

	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(p, start, tag));
	return (int)n;
}

static int write_integer(unsigned char **p, unsigned char *start, const unsigned char *content,
                         size_t len)
{
	int ret;
	size_t n = 0;

	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(p, start, content, len));
	MBEDTLS_ASN1_CHK_ADD(n, wrap(p, start, n, MBEDTLS_ASN1_INTEGER));
	return (int)n;
}

static int write_time(unsigned char **p, unsigned char *start, int64_t t)
{
	struct x509_time_form f;
	int ret;
	size_t n = 0;

	if (time_form(t, &f) != 0)
		return MBEDTLS_ERR_ASN1_INVALID_DATA; /* checked before: cannot happen */
	MBEDTLS_ASN1_CHK_ADD(
	    n, mbedtls_asn1_write_raw_buffer(p, start, (const unsigned char *)f.text, f.len));
	MBEDTLS_ASN1_CHK_ADD(n, wrap(p, start, n, f.tag));
	return (int)n;
}

/* AlgorithmIdentifier: the OID, and NULL parameters for RSA only (RFC 5754 / RFC 4055). */
static int write_sig_alg(unsigned char **p, unsigned char *start, const char *oid, size_t oid_len,
                         mbedtls_pk_type_t pk_alg)
{
	int ret;
	size_t n = 0;

	if (pk_alg == MBEDTLS_PK_RSA)
		MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_null(p, start));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_oid(p, start, oid, oid_len));
	MBEDTLS_ASN1_CHK_ADD(n,
	                     wrap(p, start, n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)n;
}

/* Extension ::= SEQUENCE { extnID, extnValue OCTET STRING } (never critical here); the value's
 * DER is the value_len bytes already written right after *p. */
static int wrap_extension(unsigned char **p, unsigned char *start, const char *oid, size_t oid_len,
                          size_t value_len)
{
	int ret;
	size_t n = value_len;

	MBEDTLS_ASN1_CHK_ADD(n, wrap(p, start, n, MBEDTLS_ASN1_OCTET_STRING));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_oid(p, start, oid, oid_len));
	MBEDTLS_ASN1_CHK_ADD(n,
	                     wrap(p, start, n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)(n - value_len);
}

/* crlExtensions [0] EXPLICIT: authorityKeyIdentifier (when key_id), then cRLNumber. */
static int write_extensions(unsigned char **p, unsigned char *start, const unsigned char *number,
                            size_t number_len, const unsigned char *key_id, size_t key_id_len)
{
	int ret;
	size_t n = 0, v = 0;

	MBEDTLS_ASN1_CHK_ADD(v, write_integer(p, start, number, number_len));
	MBEDTLS_ASN1_CHK_ADD(n, wrap_extension(p, start, MBEDTLS_OID_CRL_NUMBER,
	                                       MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER), v));
	n += v;
	if (key_id) {
		/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
		 */
		v = 0;
		MBEDTLS_ASN1_CHK_ADD(v,
		                     mbedtls_asn1_write_raw_buffer(p, start, key_id, key_id_len));
		MBEDTLS_ASN1_CHK_ADD(v, wrap(p, start, v, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0));
		MBEDTLS_ASN1_CHK_ADD(
		    v, wrap(p, start, v, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
		MBEDTLS_ASN1_CHK_ADD(
		    n, wrap_extension(p, start, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
		                      MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), v));
		n += v;
	}
	MBEDTLS_ASN1_CHK_ADD(n,
	                     wrap(p, start, n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	MBEDTLS_ASN1_CHK_ADD(
	    n, wrap(p, start, n, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
	return (int)n;
}

/* revokedCertificates: every entry, in the order given (written last to first). */
static int write_entries(unsigned char **p, unsigned char *start, const struct crl_params *prm)
{
	int ret;
	size_t n = 0;

	for (size_t i = prm->n_entries; i-- > 0;) {
		unsigned char content[CRL_SERIAL_MAX_BYTES + 1];
		size_t len = serial_content(prm->entries[i].serial, content), e = 0;

		MBEDTLS_ASN1_CHK_ADD(e, write_time(p, start, prm->entries[i].revoked_at));
		MBEDTLS_ASN1_CHK_ADD(e, write_integer(p, start, content, len));
		MBEDTLS_ASN1_CHK_ADD(
		    e, wrap(p, start, e, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
		n += e;
	}
	MBEDTLS_ASN1_CHK_ADD(n,
	                     wrap(p, start, n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)n;
}

/* The TBSCertList. */
static int write_tbs(unsigned char **p, unsigned char *start, const mbedtls_x509_crt *issuer,
                     const struct crl_params *prm, const unsigned char *number, size_t number_len,
                     const char *oid, size_t oid_len, mbedtls_pk_type_t pk_alg)
{
	const unsigned char *key_id = NULL;
	size_t key_id_len = 0, n = 0;
	int ret;

	if (subject_key_id(issuer, &key_id, &key_id_len) != 0)
		key_id = NULL;
	MBEDTLS_ASN1_CHK_ADD(n, write_extensions(p, start, number, number_len, key_id, key_id_len));
	/* An empty list is left out (RFC 5280 5.1.2.6). */
	if (prm->n_entries > 0)
		MBEDTLS_ASN1_CHK_ADD(n, write_entries(p, start, prm));
	MBEDTLS_ASN1_CHK_ADD(n, write_time(p, start, prm->next_update));
	MBEDTLS_ASN1_CHK_ADD(n, write_time(p, start, prm->this_update));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(p, start, issuer->subject_raw.p,
	                                                      issuer->subject_raw.len));
	MBEDTLS_ASN1_CHK_ADD(n, write_sig_alg(p, start, oid, oid_len, pk_alg));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_int(p, start, 1)); /* v2 */
	MBEDTLS_ASN1_CHK_ADD(n,
	                     wrap(p, start, n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)n;
}

/* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue } */
static int write_list(unsigned char **p, unsigned char *start, const unsigned char *tbs,
                      size_t tbs_len, const char *oid, size_t oid_len, mbedtls_pk_type_t pk_alg,
                      const unsigned char *sig, size_t sig_len)
{
	int ret;
	size_t n = 0;

	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_bitstring(p, start, sig, sig_len * 8));
	MBEDTLS_ASN1_CHK_ADD(n, write_sig_alg(p, start, oid, oid_len, pk_alg));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(p, start, tbs, tbs_len));
	MBEDTLS_ASN1_CHK_ADD(n,
	                     wrap(p, start, n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	return (int)n;
}

/* What crl_write refuses before writing anything. */
static enum crl_status check_params(const struct crl_params *p, char *why, size_t size)
{
	struct x509_time_form f;
	unsigned char content[CRL_SERIAL_MAX_BYTES + 1];

	if (p->n_entries > ENTRIES_MAX) {
		snprintf(why, size, "%zu entries (limit %u)", p->n_entries, ENTRIES_MAX);
		return CRL_ERR_MEMORY;
	}
	if (!p->number || p->number_len == 0 || p->number_len > CRL_NUMBER_MAX_BYTES) {
		snprintf(why, size, "a CRL number of %zu bytes (1 to %d)", p->number_len,
		         CRL_NUMBER_MAX_BYTES);
		return CRL_ERR_NUMBER;
	}
	if (time_form(p->this_update, &f) != 0 || time_form(p->next_update, &f) != 0) {
		snprintf(why, size, "thisUpdate %lld or nextUpdate %lld outside 1950..9999",
		         (long long)p->this_update, (long long)p->next_update);
		return CRL_ERR_TIME;
	}
	for (size_t i = 0; i < p->n_entries; i++) {
		if (serial_content(p->entries[i].serial, content) == 0) {
			snprintf(why, size,
			         "entry %zu: serial '%.64s' is not hex of at most %d bytes", i,
			         p->entries[i].serial ? p->entries[i].serial : "(null)",
			         CRL_SERIAL_MAX_BYTES);
			return CRL_ERR_SERIAL;
		}
		if (time_form(p->entries[i].revoked_at, &f) != 0) {
			snprintf(why, size, "entry %zu: revocation time %lld outside 1950..9999", i,
			         (long long)p->entries[i].revoked_at);
			return CRL_ERR_TIME;
		}
	}
	return CRL_OK;
}

enum crl_status crl_write(const mbedtls_x509_crt *issuer, mbedtls_pk_context *key,
                          mbedtls_ctr_drbg_context *drbg, const struct crl_params *prm,
                          unsigned char **der, size_t *len, char *why, size_t size)
{
	enum crl_status ret;
	mbedtls_pk_type_t pk_alg;
	const char *oid = NULL;
	size_t oid_len = 0, tbs_size, out_size, sig_len = 0;
	unsigned char number[CRL_NUMBER_MAX_BYTES + 1], hash[32];
	unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	unsigned char *tbs_buf = NULL, *out = NULL, *p;
	size_t number_len;
	int tbs_len, list_len;

	*der = NULL;
	*len = 0;
	snprintf(why, size, "-");
	ret = check_params(prm, why, size);
	if (ret != CRL_OK)
		goto exit;
	number_len = integer_content(prm->number, prm->number_len, number);
	ret = CRL_ERR_KEY;
	if (mbedtls_pk_can_do(key, MBEDTLS_PK_ECDSA))
		pk_alg = MBEDTLS_PK_ECDSA;
	else if (mbedtls_pk_can_do(key, MBEDTLS_PK_RSA))
		pk_alg = MBEDTLS_PK_RSA;
	else
		pk_alg = MBEDTLS_PK_NONE;
	if (pk_alg == MBEDTLS_PK_NONE ||
	    mbedtls_oid_get_oid_by_sig_alg(pk_alg, MBEDTLS_MD_SHA256, &oid, &oid_len) != 0) {
		snprintf(why, size, "the CA key (%s) signs neither ECDSA nor RSA with SHA-256",
		         mbedtls_pk_get_name(key));
		goto exit;
	}
	ret = CRL_ERR_MEMORY;
	snprintf(why, size, "out of memory");
	tbs_size =
	    FIXED_MAX + issuer->subject_raw.len + issuer->v3_ext.len + prm->n_entries * ENTRY_MAX;
	out_size = tbs_size + FIXED_MAX + sizeof(sig);
	tbs_buf = malloc(tbs_size);
	out = malloc(out_size);
	if (!tbs_buf || !out)
		goto exit;
	/* Written at the end of each buffer. */
	p = tbs_buf + tbs_size;
	tbs_len = write_tbs(&p, tbs_buf, issuer, prm, number, number_len, oid, oid_len, pk_alg);
	ret = CRL_ERR_SIGN;
	if (tbs_len < 0) {
		snprintf(why, size, "writing the TBSCertList: -0x%04x", (unsigned)-tbs_len);
		goto exit;
	}
	if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), p, (size_t)tbs_len, hash) !=
	        0 ||
	    kma_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sizeof(sig), &sig_len,
	                drbg) != 0) {
		snprintf(why, size, "signing the TBSCertList with the CA key failed");
		goto exit;
	}
	{
		unsigned char *q = out + out_size;

		list_len =
		    write_list(&q, out, p, (size_t)tbs_len, oid, oid_len, pk_alg, sig, sig_len);
		if (list_len < 0) {
			snprintf(why, size, "writing the CertificateList: -0x%04x",
			         (unsigned)-list_len);
			goto exit;
		}
		memmove(out, q, (size_t)list_len);
	}
	*der = out;
	*len = (size_t)list_len;
	out = NULL;
	ret = CRL_OK;
exit:
	free(out);
	free(tbs_buf);
	return ret;
}
