#include "plantoken.h"

#include <errno.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

#define NONCE_PREFIX "v1:"
#define NONCE_BYTES  16
#define KEY_LABEL    "kma-coord plan enrolment tokens v1"

static unsigned char key[32];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void key_random(void)
{
	/* No key was set (unit tests): a random one, for this process only. */
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		log_errno(LOG_LVL_ERR, errno, "plan tokens: getrandom");
}

static void key_none(void)
{
}

void plan_token_key_set(const unsigned char *material, size_t len)
{
	const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	pthread_once(&key_once, key_none);
	if (mbedtls_md_hmac(sha256, (const unsigned char *)KEY_LABEL, strlen(KEY_LABEL), material,
	                    len, key) != 0)
		key_random();
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int derive(const char *nonce, char *token)
{
	unsigned char mac[32];

	pthread_once(&key_once, key_random);
	if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, sizeof(key),
	                    (const unsigned char *)nonce, strlen(nonce), mac) != 0) {
		token[0] = '\0';
		return -1;
	}
	hex(mac, sizeof(mac), token);
	mbedtls_platform_zeroize(mac, sizeof(mac));
	return 0;
}

int plan_token_new(char *nonce, char *token, char *sha256)
{
	unsigned char raw[NONCE_BYTES];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		log_errno(LOG_LVL_ERR, errno, "plan token: getrandom");
		return -1;
	}
	memcpy(nonce, NONCE_PREFIX, sizeof(NONCE_PREFIX));
	hex(raw, sizeof(raw), nonce + strlen(NONCE_PREFIX));
	if (derive(nonce, token) != 0)
		return -1;
	enroll_token_hash(token, sha256);
	return 0;
}

int plan_token_get(const char *kept, char *token)
{
	size_t n = strlen(kept);

	token[0] = '\0';
	if (strncmp(kept, NONCE_PREFIX, strlen(NONCE_PREFIX)) == 0)
		return derive(kept, token);
	if (n == 2 * ENROLL_TOKEN_BYTES && strspn(kept, "0123456789abcdef") == n) {
		memcpy(token, kept, n + 1);
		return 0;
	}
	return -1;
}
