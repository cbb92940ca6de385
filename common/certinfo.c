#include "certinfo.h"

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexser.h"

/*
 * Civil date to days since 1970-01-01 (H. Hinnant's algorithm). Not timegm: armhf's time_t
 * is 32 bits and cluster certificates often run past 2038.
 */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned mp = m > 2 ? m - 3 : m + 9;
	unsigned doy = (153 * mp + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static int64_t x509_time_epoch(const mbedtls_x509_time *t)
{
	return days_from_civil(t->year, (unsigned)t->mon, (unsigned)t->day) * 86400 +
	       t->hour * 3600 + t->min * 60 + t->sec;
}

static void subject_cn(const mbedtls_x509_name *name, char *out, size_t size)
{
	out[0] = '\0';
	for (; name; name = name->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) != 0)
			continue;
		if (name->val.len >= size)
			return; /* an over-long CN names no node of ours */
		memcpy(out, name->val.p, name->val.len);
		out[name->val.len] = '\0';
		return;
	}
}

void certinfo_from_crt(const mbedtls_x509_crt *crt, struct certinfo *info)
{
	const unsigned char *p = crt->serial.p;
	size_t n = crt->serial.len;

	memset(info, 0, sizeof(*info));
	/* DER adds a 00 byte before a serial whose high bit is set; logs print the number. */
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n > (sizeof(info->serial) - 1) / 2)
		n = (sizeof(info->serial) - 1) / 2;
	hexser_format(p, n, info->serial);
	if (mbedtls_x509_dn_gets(info->subject, sizeof(info->subject), &crt->subject) < 0)
		snprintf(info->subject, sizeof(info->subject), "(unprintable)");
	if (mbedtls_x509_dn_gets(info->issuer, sizeof(info->issuer), &crt->issuer) < 0)
		snprintf(info->issuer, sizeof(info->issuer), "(unprintable)");
	subject_cn(&crt->subject, info->node_id, sizeof(info->node_id));
	info->not_before = x509_time_epoch(&crt->valid_from);
	info->not_after = x509_time_epoch(&crt->valid_to);
}

bool certinfo_from_der(const unsigned char *der, size_t len, struct certinfo *info)
{
	mbedtls_x509_crt crt;
	bool ok;

	mbedtls_x509_crt_init(&crt);
	ok = mbedtls_x509_crt_parse_der(&crt, der, len) == 0;
	if (ok)
		certinfo_from_crt(&crt, info);
	mbedtls_x509_crt_free(&crt);
	return ok;
}

void certinfo_time_str(int64_t t, char *buf, size_t size)
{
	/* The inverse of days_from_civil, for the same 2038 reason. */
	int64_t days = (t >= 0 ? t : t - 86399) / 86400;
	int64_t secs = t - days * 86400;
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = (int64_t)yoe + era * 400 + (m <= 2);

	snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d,
	         (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
}

void certinfo_strerror(int err, char *buf, size_t size)
{
	mbedtls_strerror(err, buf, size);
}

int certinfo_pem_where(const unsigned char *buf, size_t len, char *what, size_t size)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----",
	                  end[] = "-----END CERTIFICATE-----";
	const char *p = (const char *)buf, *stop = (const char *)buf + len;
	int line = 1, n = 0;
	bool any = false;

	what[0] = '\0';
	while (p < stop) {
		const char *eol = memchr(p, '\n', (size_t)(stop - p));
		const char *next = eol ? eol + 1 : stop;

		if ((size_t)(stop - p) >= sizeof(begin) - 1 &&
		    !memcmp(p, begin, sizeof(begin) - 1)) {
			const char *q = next, *e = NULL;
			int at = line;

			any = true;
			n++;
			/* the block: from its BEGIN line through its END line */
			while (q < stop) {
				const char *qe = memchr(q, '\n', (size_t)(stop - q));

				if ((size_t)(stop - q) >= sizeof(end) - 1 &&
				    !memcmp(q, end, sizeof(end) - 1)) {
					e = qe ? qe : stop;
					break;
				}
				q = qe ? qe + 1 : stop;
			}
			{
				size_t blen = (size_t)((e ? e : stop) - p);
				unsigned char *copy = malloc(blen + 1);
				mbedtls_x509_crt crt;
				int rc = -1;

				if (copy) {
					memcpy(copy, p, blen);
					copy[blen] = '\0';
					mbedtls_x509_crt_init(&crt);
					rc = mbedtls_x509_crt_parse(&crt, copy, blen + 1);
					mbedtls_x509_crt_free(&crt);
					free(copy);
				}
				if (rc != 0) {
					snprintf(what, size, "certificate %d%s", n,
					         e ? "" : " (no END line)");
					return at;
				}
			}
		}
		if (eol)
			line++;
		p = next;
	}
	if (!any)
		snprintf(what, size, "no '%s' line", begin);
	return 0;
}

void certinfo_pem_error(const char *path, const unsigned char *buf, size_t len, int rc, char *out,
                        size_t size)
{
	char msg[160], what[64];
	int line = certinfo_pem_where(buf, len, what, sizeof(what));

	if (rc > 0)
		snprintf(msg, sizeof(msg), "%d of its certificates do not parse", rc);
	else
		certinfo_strerror(rc, msg, sizeof(msg));
	if (line)
		snprintf(out, size, "%s:%d: %s: %s", path, line, what, msg);
	else if (what[0])
		snprintf(out, size, "%s: %s: %s", path, what, msg);
	else
		snprintf(out, size, "%s: %s", path, msg);
}
