#include "tlsnames.h"

#include <mbedtls/x509.h>
#include <stdio.h>
#include <string.h>

static const struct {
	int number;
	const char *name;
} alerts[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {21, "decryption_failed"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {41, "no_certificate"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {60, "export_restriction"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

const char *tlsnames_alert(int description)
{
	for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
		if (alerts[i].number == description)
			return alerts[i].name;
	return "unknown";
}

#define FLAG(f)                                                                                    \
	{                                                                                          \
		f, #f                                                                              \
	}
static const struct {
	uint32_t flag;
	const char *name;
} flags_tab[] = {
    FLAG(MBEDTLS_X509_BADCERT_EXPIRED),       FLAG(MBEDTLS_X509_BADCERT_REVOKED),
    FLAG(MBEDTLS_X509_BADCERT_CN_MISMATCH),   FLAG(MBEDTLS_X509_BADCERT_NOT_TRUSTED),
    FLAG(MBEDTLS_X509_BADCRL_NOT_TRUSTED),    FLAG(MBEDTLS_X509_BADCRL_EXPIRED),
    FLAG(MBEDTLS_X509_BADCERT_MISSING),       FLAG(MBEDTLS_X509_BADCERT_SKIP_VERIFY),
    FLAG(MBEDTLS_X509_BADCERT_OTHER),         FLAG(MBEDTLS_X509_BADCERT_FUTURE),
    FLAG(MBEDTLS_X509_BADCRL_FUTURE),         FLAG(MBEDTLS_X509_BADCERT_KEY_USAGE),
    FLAG(MBEDTLS_X509_BADCERT_EXT_KEY_USAGE), FLAG(MBEDTLS_X509_BADCERT_NS_CERT_TYPE),
    FLAG(MBEDTLS_X509_BADCERT_BAD_MD),        FLAG(MBEDTLS_X509_BADCERT_BAD_PK),
    FLAG(MBEDTLS_X509_BADCERT_BAD_KEY),       FLAG(MBEDTLS_X509_BADCRL_BAD_MD),
    FLAG(MBEDTLS_X509_BADCRL_BAD_PK),         FLAG(MBEDTLS_X509_BADCRL_BAD_KEY),
};
#undef FLAG

void tlsnames_verify_flags(uint32_t flags, void (*fn)(const char *name, void *arg), void *arg)
{
	for (size_t i = 0; i < sizeof(flags_tab) / sizeof(flags_tab[0]); i++)
		if (flags & flags_tab[i].flag)
			fn(flags_tab[i].name, arg);
}

struct strbuf {
	char *buf;
	size_t size, used;
};

static void append(const char *name, void *arg)
{
	struct strbuf *sb = arg;
	int n =
	    snprintf(sb->buf + sb->used, sb->size - sb->used, "%s%s", sb->used ? "," : "", name);

	if (n > 0 && (size_t)n < sb->size - sb->used)
		sb->used += (size_t)n;
}

void tlsnames_verify_flags_str(uint32_t flags, char *buf, size_t size)
{
	struct strbuf sb = {buf, size, 0};

	buf[0] = '\0';
	tlsnames_verify_flags(flags, append, &sb);
}
