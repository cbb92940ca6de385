#include "mbedcompat.h"

#include "quickstart.h"

#include <curl/curl.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_csr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certinfo.h"
#include "fileio.h"
#include "nodeid.h"
#include "reporter.h"
#include "hexser.h"
#include "log.h"
#include "urllist.h"

#define CSR_MAX   2048
#define REPLY_MAX (256 * 1024)

struct buf {
	unsigned char *data;
	size_t len;
};

/* The HAL is the entropy source, so a board (or the sim, in tests) decides where keys'
 * randomness comes from. */
static int hal_entropy(void *arg, unsigned char *out, size_t len)
{
	return hal_random(arg, out, len) == HAL_OK ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

/* The QuickStart generation this enrolment will be (the record stores it too). */
static uint32_t next_generation(struct hal *hal)
{
	Kma__V1__IdentityRecord *old = NULL;
	struct hal_load_info info;
	uint32_t g = 1;

	if (hal_identity_load(hal, &old, &info) == HAL_OK) {
		g = old->generation + 1;
		kma__v1__identity_record__free_unpacked(old, NULL);
	}
	return g;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	unsigned char *grown;

	if (b->len + len > REPLY_MAX)
		return 0;
	grown = realloc(b->data, b->len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, data, len);
	b->data = grown;
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	urllist_active_header(line, size * n, arg, URLLIST_URL_SIZE);
	return size * n;
}

/* Appends "; " (after the first) and what one URL said to err. */
static void say(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *err, size_t size, const char *fmt, ...)
{
	size_t used = strlen(err);
	va_list ap;

	if (used && used + 2 < size)
		used += (size_t)snprintf(err + used, size - used, "; ");
	va_start(ap, fmt);
	vsnprintf(err + used, size - used, fmt, ap);
	va_end(ap);
}

/*
 * POSTs to each coordinator URL by common/urllist.h's rule until one gives a real answer
 * (any but a transport failure or a standby's 503), once round the list: *status is its
 * HTTP status, or 0 when none answered (err says what each said).
 */
static void post_round(CURL *c, const struct urllist *urls, struct buf *reply, long *status,
                       char *err, size_t size)
{
	struct urllist_cursor cur;
	char url[URLLIST_URL_SIZE + 16], active[URLLIST_URL_SIZE];
	CURLcode rc;

	urllist_cursor_init(&cur);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, (void *)active);
	err[0] = '\0';
	do {
		free(reply->data);
		*reply = (struct buf){0};
		active[0] = '\0';
		*status = 0;
		if (urllist_join(urls->url[cur.at], "v1/enroll", url, sizeof(url)) != 0) {
			say(err, size, "%s: URL too long", urls->url[cur.at]);
			continue;
		}
		curl_easy_setopt(c, CURLOPT_URL, url);
		rc = curl_easy_perform(c);
		if (rc != CURLE_OK) {
			say(err, size, "%s: %s", url, curl_easy_strerror(rc));
			continue;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		if (!urllist_standby(*status, reply->data, reply->len))
			return;
		log_printable(active);
		say(err, size, "%s: a standby (active: %.64s)", url, active[0] ? active : "none");
	} while (urllist_failed(urls, &cur, active));
	*status = 0;
}

static enum quickstart_status post_enroll(const struct agent_config *cfg, const uint8_t *body,
                                          size_t len, struct buf *reply, char *err, size_t size)
{
	enum quickstart_status ret = QUICKSTART_ERR_INTERNAL;
	struct curl_slist *headers = NULL;
	unsigned char *ca = NULL;
	size_t ca_len = 0;
	struct reporter_pem pem = {0};
	bool blobs;
	long status = 0;
	CURL *c = NULL;
	CURLcode rc;
	int e;

	if (!cfg->coord_urls.n || !cfg->coord_ca[0]) {
		snprintf(err, size,
		         "QuickStart needs [coordinator] url and ca in the configuration");
		return QUICKSTART_ERR_USAGE;
	}
	e = fileio_read_input(cfg->coord_ca, 256 * 1024, &ca, &ca_len);
	if (e) {
		snprintf(err, size, "%s: %s", cfg->coord_ca, fileio_strerror(e));
		return QUICKSTART_ERR_USAGE;
	}
	headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	c = curl_easy_init();
	/* fileio_read_input() ends what it read with a NUL: ca is a string */
	if (!c || !headers || reporter_pem_set(&pem, (const char *)ca))
		goto exit;
	rc = reporter_trust(c, &pem, &blobs);
	if (rc != CURLE_OK) {
		snprintf(err, size, "%s: %s", cfg->coord_ca, curl_easy_strerror(rc));
		goto exit;
	}
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
	post_round(c, &cfg->coord_urls, reply, &status, err, size);
	if (status == 0) {
		ret = QUICKSTART_ERR_UNREACHABLE;
		goto exit;
	}
	if (status != 200) {
		snprintf(err, size, "the coordinator refused the enrolment: HTTP %ld: %.*s", status,
		         (int)(reply->len < 200 ? reply->len : 200),
		         reply->data ? (const char *)reply->data : "");
		err[strcspn(err, "\r\n")] = '\0';
		ret = QUICKSTART_ERR_REFUSED;
		goto exit;
	}
	ret = QUICKSTART_OK;
exit:
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	reporter_pem_free(&pem);
	free(ca);
	return ret;
}

enum quickstart_status quickstart_run(struct hal *hal, const struct agent_config *cfg,
                                      const char *node_id, const char *token,
                                      mbedtls_pk_context *key, char *err, size_t size)
{
	enum quickstart_status ret = QUICKSTART_ERR_INTERNAL;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509write_csr csr;
	mbedtls_x509_crt chain, ca;
	Kma__V1__EnrollRequest req = KMA__V1__ENROLL_REQUEST__INIT;
	Kma__V1__HardwareIdentity hw_msg = KMA__V1__HARDWARE_IDENTITY__INIT;
	Kma__V1__EnrollReply *rep = NULL;
	struct hal_hwid hw;
	uint8_t fp[HAL_FP_LEN], *body = NULL;
	unsigned char csr_buf[CSR_MAX];
	char subject[96], serial[KMA_SERIAL_SIZE];
	struct buf reply = {0};
	int csr_len;
	size_t body_len = 0;

	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_x509write_csr_init(&csr);
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_init(&ca);
	if (!kma_node_id_ok(node_id)) { /* it goes into a DN string */
		snprintf(err, size, "node ID '%s': use 1 to 64 letters, digits, '.', '_' or '-'",
		         node_id);
		ret = QUICKSTART_ERR_USAGE;
		goto exit;
	}
	if (hal_read_hwid(hal, &hw) != HAL_OK) {
		snprintf(err, size, "reading the hardware identity: %s", hal->error);
		ret = QUICKSTART_ERR_HAL;
		goto exit;
	}
	snprintf(subject, sizeof(subject), "CN=%s", node_id);
	if (mbedtls_ctr_drbg_seed(&drbg, hal_entropy, hal, (const unsigned char *)"kma-qs", 6)) {
		snprintf(err, size, "seeding the random generator failed");
		goto exit;
	}
	/* A key from an earlier try whose answer may have been lost is asked for again. */
	if (mbedtls_pk_get_type(key) == MBEDTLS_PK_NONE &&
	    (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
	     mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
	                         mbedtls_ctr_drbg_random, &drbg))) {
		mbedtls_pk_free(key);
		mbedtls_pk_init(key);
		snprintf(err, size, "generating the key failed");
		goto exit;
	}
	mbedtls_x509write_csr_set_key(&csr, key);
	mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
	if (mbedtls_x509write_csr_set_subject_name(&csr, subject)) {
		snprintf(err, size, "building the CSR failed");
		goto exit;
	}
	/* Written at the end of the buffer. */
	csr_len = mbedtls_x509write_csr_der(&csr, csr_buf, sizeof(csr_buf), mbedtls_ctr_drbg_random,
	                                    &drbg);
	if (csr_len <= 0) {
		snprintf(err, size, "signing the CSR failed");
		goto exit;
	}
	hal_hwid_to_msg(&hw, &hw_msg, fp);
	req.node_id = (char *)node_id;
	req.token = (char *)token;
	req.csr_der = (ProtobufCBinaryData){(size_t)csr_len, csr_buf + sizeof(csr_buf) - csr_len};
	req.hardware = &hw_msg;
	req.generation = next_generation(hal);
	body_len = kma__v1__enroll_request__get_packed_size(&req);
	body = malloc(body_len);
	if (!body)
		goto exit;
	kma__v1__enroll_request__pack(&req, body);
	ret = post_enroll(cfg, body, body_len, &reply, err, size);
	if (ret != QUICKSTART_OK)
		goto exit;

	ret = QUICKSTART_ERR_DATA;
	rep = kma__v1__enroll_reply__unpack(NULL, reply.len, reply.data);
	if (!rep || !rep->ok || rep->n_cert_chain_der == 0 || rep->n_ca_der == 0) {
		snprintf(err, size, "the enrolment reply is not usable%s%s",
		         rep && rep->error ? ": " : "", rep && rep->error ? rep->error : "");
		goto exit;
	}
	for (size_t i = 0; i < rep->n_cert_chain_der; i++)
		if (mbedtls_x509_crt_parse_der(&chain, rep->cert_chain_der[i].data,
		                               rep->cert_chain_der[i].len)) {
			snprintf(err, size, "the enrolment reply's certificate does not parse");
			goto exit;
		}
	for (size_t i = 0; i < rep->n_ca_der; i++)
		if (mbedtls_x509_crt_parse_der(&ca, rep->ca_der[i].data, rep->ca_der[i].len)) {
			snprintf(err, size, "the enrolment reply's CA does not parse");
			goto exit;
		}
	{
		struct certinfo leaf;
		struct provision_material m = {
		    .key = key,
		    .chain = &chain,
		    .ca = &ca,
		    .drbg = &drbg,
		    .node_id = node_id,
		    .enrolled_serial = serial,
		    .key_label = "our new key",
		    .cert_label = "the enrolment reply",
		    .ca_label = "the enrolment reply's CA",
		};

		certinfo_from_crt(&chain, &leaf);
		snprintf(serial, sizeof(serial), "%s", leaf.serial);
		hal_crash_point(hal, "quickstart_enrolled");
		switch (provision_install(hal, &m, err, size)) {
		case PROVISION_OK:
			ret = QUICKSTART_OK;
			break;
		case PROVISION_ERR_HAL:
			ret = QUICKSTART_ERR_HAL;
			break;
		case PROVISION_ERR_DATA:
			ret = QUICKSTART_ERR_DATA;
			break;
		default:
			ret = QUICKSTART_ERR_INTERNAL;
			break;
		}
	}
exit:
	if (rep)
		kma__v1__enroll_reply__free_unpacked(rep, NULL);
	free(reply.data);
	if (body) /* it holds the token */
		mbedtls_platform_zeroize(body, body_len);
	free(body);
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509write_csr_free(&csr);
	mbedtls_ctr_drbg_free(&drbg);
	return ret;
}
