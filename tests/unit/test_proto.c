/*
 * Wire schema: every message round-trips field for field, and truncated or garbage bytes
 * give a clean NULL from the decoder (run under ASan in `make sanitize`).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "identity.pb-c.h"
#include "kma.pb-c.h"

/* Packs any message into a new buffer. */
static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(msg);
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(msg, buf), *len);
	return buf;
}

static void fill_cert(Kma__V1__CertInfo *c)
{
	c->serial = "E2207FDBA432E9010000000000000084";
	c->subject = "CN=a-kma01, O=Example Cluster";
	c->issuer = "CN=Example Cluster CA";
	c->not_before = 1700000000;
	c->not_after = 4102444800; /* past 2038 on purpose */
	c->node_id = "a-kma01";
}

static void test_agent_report_roundtrip(void **state)
{
	Kma__V1__AgentReport r = KMA__V1__AGENT_REPORT__INIT;
	Kma__V1__CertInfo own = KMA__V1__CERT_INFO__INIT, peer_cert = KMA__V1__CERT_INFO__INIT;
	Kma__V1__HardwareIdentity hw = KMA__V1__HARDWARE_IDENTITY__INIT;
	Kma__V1__PeerObservation obs = KMA__V1__PEER_OBSERVATION__INIT;
	Kma__V1__PeerObservation *obsv[1] = {&obs};
	Kma__V1__TlsAlert alert = KMA__V1__TLS_ALERT__INIT;
	Kma__V1__KeyServiceHealth health = KMA__V1__KEY_SERVICE_HEALTH__INIT;
	Kma__V1__DirectiveResult last = KMA__V1__DIRECTIVE_RESULT__INIT;
	Kma__V1__HardwarePart parts[2] = {KMA__V1__HARDWARE_PART__HARDWARE_PART_BOARD,
	                                  KMA__V1__HARDWARE_PART__HARDWARE_PART_DISK};
	char *flag_names[2] = {"MBEDTLS_X509_BADCERT_OTHER", "MBEDTLS_X509_BADCERT_NOT_TRUSTED"};
	uint8_t fp[32];
	Kma__V1__AgentReport *back;
	uint8_t *buf;
	size_t len;

	(void)state;
	memset(fp, 0xA5, sizeof(fp));
	fill_cert(&own);
	fill_cert(&peer_cert);
	peer_cert.serial = "866B070F94660D13000000000000001E";
	hw.board_serial = "SIM-BOARD-0001";
	hw.product_uuid = "4c4c4544-0042-3510-8052-b4c04f564d32";
	hw.disk_serial = "WD-WCC4N1234567";
	hw.cpu_id = "Intel(R) Xeon(R) CPU E5-2620 v4";
	hw.mac = "00:10:e0:8c:2a:11";
	hw.fingerprint = (ProtobufCBinaryData){sizeof(fp), fp};
	alert.number = 46;
	alert.name = "certificate_unknown";
	obs.peer_node_id = "u-kma02";
	obs.peer_address = "22.222.222.134:9443";
	obs.direction = KMA__V1__DIRECTION__DIRECTION_INBOUND;
	obs.cause = KMA__V1__CAUSE__CAUSE_PEER_SERIAL_MISMATCH;
	obs.alert_sent = &alert;
	obs.tls_error = -0x2700;
	obs.tls_error_name = "X509 - Certificate verification failed";
	obs.verify_flags = 0x8000 | 0x08;
	obs.n_verify_flag_names = 2;
	obs.verify_flag_names = flag_names;
	obs.peer_cert = &peer_cert;
	obs.expected_node_id = "u-kma02";
	obs.expected_serial = "866B070F94660D130000000000000010";
	obs.handshake_ms = 37;
	obs.protocol = "TLSv1.2";
	obs.cipher_suite = "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256";
	obs.observed_at = 1424501159;
	health.healthy = true;
	health.detail = "serving keys";
	last.directive_id = "d-17";
	last.ok = true;
	r.node_id = "a-kma01";
	r.sequence = UINT64_MAX - 1;
	r.boot_id = "0b5e1f0a-7c2e-4a43-9d63-2f0d1c1c9e11";
	r.agent_version = "0.1.0";
	r.board = "sim";
	r.state = KMA__V1__IDENTITY_STATE__IDENTITY_STATE_HARDWARE_CHANGED;
	r.phase = KMA__V1__PHASE__PHASE_RUNNING;
	r.own_cert = &own;
	r.hardware = &hw;
	r.enrolled_hardware = &hw;
	r.n_parts_changed = 2;
	r.parts_changed = parts;
	r.generation = 3;
	r.n_peers = 1;
	r.peers = obsv;
	r.health = &health;
	r.last_directive = &last;
	r.sent_at = -5;
	r.peer_table_version = 9;

	buf = pack(&r.base, &len);
	back = kma__v1__agent_report__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_string_equal(back->node_id, "a-kma01");
	assert_true(back->sequence == UINT64_MAX - 1);
	assert_int_equal(back->state, r.state);
	assert_int_equal(back->phase, r.phase);
	assert_string_equal(back->own_cert->serial, own.serial);
	assert_true(back->own_cert->not_after == 4102444800);
	assert_memory_equal(back->hardware->fingerprint.data, fp, sizeof(fp));
	assert_string_equal(back->enrolled_hardware->mac, hw.mac);
	assert_int_equal(back->n_parts_changed, 2);
	assert_int_equal(back->parts_changed[1], KMA__V1__HARDWARE_PART__HARDWARE_PART_DISK);
	assert_int_equal(back->n_peers, 1);
	assert_int_equal(back->peers[0]->cause, KMA__V1__CAUSE__CAUSE_PEER_SERIAL_MISMATCH);
	assert_int_equal(back->peers[0]->direction, KMA__V1__DIRECTION__DIRECTION_INBOUND);
	assert_non_null(back->peers[0]->alert_sent);
	assert_null(back->peers[0]->alert_received);
	assert_int_equal(back->peers[0]->alert_sent->number, 46);
	assert_int_equal(back->peers[0]->tls_error, -0x2700);
	assert_int_equal(back->peers[0]->n_verify_flag_names, 2);
	assert_string_equal(back->peers[0]->verify_flag_names[1], flag_names[1]);
	assert_string_equal(back->peers[0]->peer_cert->serial, peer_cert.serial);
	assert_string_equal(back->peers[0]->cipher_suite, obs.cipher_suite);
	assert_true(back->health->healthy);
	assert_string_equal(back->last_directive->directive_id, "d-17");
	assert_true(back->sent_at == -5);
	assert_true(back->peer_table_version == 9);
	kma__v1__agent_report__free_unpacked(back, NULL);
	free(buf);
}

static void test_reply_and_directive_roundtrip(void **state)
{
	Kma__V1__CoordinatorReply r = KMA__V1__COORDINATOR_REPLY__INIT;
	Kma__V1__Peer p1 = KMA__V1__PEER__INIT, p2 = KMA__V1__PEER__INIT;
	Kma__V1__Peer *peers[2] = {&p1, &p2};
	Kma__V1__Directive d = KMA__V1__DIRECTIVE__INIT;
	Kma__V1__Directive *dirs[1] = {&d};
	Kma__V1__Lease lease = KMA__V1__LEASE__INIT;
	Kma__V1__CoordinatorReply *back;
	uint8_t *buf;
	size_t len;

	(void)state;
	p1.node_id = "E2207FDBA432E901";
	p1.name = "a-kma02";
	p1.address = "11.111.111.25:9443";
	p1.enrolled_serial = "E2207FDBA432E9010000000000000084";
	p2.node_id = "C24B4174506FA63A";
	p2.name = "u-kma02";
	p2.address = "[2001:db8::2]:9443";
	lease.id = "lease-4";
	lease.node_id = "a-kma01";
	lease.fencing_token = 12;
	lease.expires_at = 1424501459;
	d.id = "d-18";
	d.kind = KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART;
	d.lease = &lease;
	d.enrolment_token = "tok-one-time";
	d.reason = "factory reset and rejoin of a-kma01";
	r.ack_sequence = 41;
	r.peer_table_version = 7;
	r.n_peers = 2;
	r.peers = peers;
	r.n_directives = 1;
	r.directives = dirs;
	r.next_report_interval_ms = 15000;
	r.enrolled_serial = "E2207FDBA432E9010000000000000084";
	r.cluster_id = "okm-east";

	buf = pack(&r.base, &len);
	back = kma__v1__coordinator_reply__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->n_peers, 2);
	assert_string_equal(back->peers[0]->enrolled_serial, p1.enrolled_serial);
	assert_string_equal(back->peers[1]->address, p2.address);
	assert_string_equal(back->peers[1]->enrolled_serial, ""); /* proto3 default */
	assert_int_equal(back->n_directives, 1);
	assert_int_equal(back->directives[0]->kind,
	                 KMA__V1__DIRECTIVE_KIND__DIRECTIVE_KIND_QUICKSTART);
	assert_true(back->directives[0]->lease->fencing_token == 12);
	assert_string_equal(back->directives[0]->enrolment_token, "tok-one-time");
	assert_int_equal(back->next_report_interval_ms, 15000);
	assert_string_equal(back->cluster_id, "okm-east");
	kma__v1__coordinator_reply__free_unpacked(back, NULL);
	free(buf);
}

static void test_enroll_roundtrip(void **state)
{
	Kma__V1__EnrollRequest q = KMA__V1__ENROLL_REQUEST__INIT;
	Kma__V1__EnrollReply a = KMA__V1__ENROLL_REPLY__INIT;
	uint8_t csr[300], leaf[500], ca[400];
	ProtobufCBinaryData chain[1], cas[1];
	Kma__V1__EnrollRequest *q2;
	Kma__V1__EnrollReply *a2;
	uint8_t *buf;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(csr); i++)
		csr[i] = (uint8_t)i;
	memset(leaf, 0x30, sizeof(leaf));
	memset(ca, 0x31, sizeof(ca));
	q.node_id = "a-kma01";
	q.token = "tok";
	q.csr_der = (ProtobufCBinaryData){sizeof(csr), csr};
	q.generation = 2;
	buf = pack(&q.base, &len);
	q2 = kma__v1__enroll_request__unpack(NULL, len, buf);
	assert_non_null(q2);
	assert_int_equal(q2->csr_der.len, sizeof(csr));
	assert_memory_equal(q2->csr_der.data, csr, sizeof(csr));
	assert_null(q2->hardware);
	assert_int_equal(q2->generation, 2);
	kma__v1__enroll_request__free_unpacked(q2, NULL);
	free(buf);

	chain[0] = (ProtobufCBinaryData){sizeof(leaf), leaf};
	cas[0] = (ProtobufCBinaryData){sizeof(ca), ca};
	a.ok = true;
	a.n_cert_chain_der = 1;
	a.cert_chain_der = chain;
	a.n_ca_der = 1;
	a.ca_der = cas;
	a.serial = "0A";
	buf = pack(&a.base, &len);
	a2 = kma__v1__enroll_reply__unpack(NULL, len, buf);
	assert_non_null(a2);
	assert_true(a2->ok);
	assert_int_equal(a2->cert_chain_der[0].len, sizeof(leaf));
	assert_memory_equal(a2->ca_der[0].data, ca, sizeof(ca));
	kma__v1__enroll_reply__free_unpacked(a2, NULL);
	free(buf);
}

static void test_identity_record_roundtrip(void **state)
{
	Kma__V1__IdentityRecord r = KMA__V1__IDENTITY_RECORD__INIT;
	uint8_t key[121];
	ProtobufCBinaryData chain[2];
	Kma__V1__IdentityRecord *back;
	uint8_t *buf;
	size_t len;

	(void)state;
	memset(key, 0x42, sizeof(key));
	chain[0] = (ProtobufCBinaryData){3, (uint8_t *)"abc"};
	chain[1] = (ProtobufCBinaryData){2, (uint8_t *)"de"};
	r.version = 1;
	r.node_id = "a-kma01";
	r.key_der = (ProtobufCBinaryData){sizeof(key), key};
	r.n_cert_chain_der = 2;
	r.cert_chain_der = chain;
	r.generation = 5;
	r.enrolment = KMA__V1__ENROLMENT_STATE__ENROLMENT_STATE_JOINED;
	r.enrolled_serial = "0A";
	buf = pack(&r.base, &len);
	back = kma__v1__identity_record__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->version, 1);
	assert_memory_equal(back->key_der.data, key, sizeof(key));
	assert_int_equal(back->n_cert_chain_der, 2);
	assert_memory_equal(back->cert_chain_der[1].data, "de", 2);
	assert_int_equal(back->enrolment, KMA__V1__ENROLMENT_STATE__ENROLMENT_STATE_JOINED);
	kma__v1__identity_record__free_unpacked(back, NULL);
	free(buf);
}

/*
 * Every strict prefix of a message that ends inside a length-delimited field must be
 * refused; prefixes that end on a field boundary are valid shorter messages in protobuf,
 * so for those we only ask that decoding is clean.
 */
static void test_truncated_reports(void **state)
{
	Kma__V1__AgentReport r = KMA__V1__AGENT_REPORT__INIT;
	Kma__V1__CertInfo own = KMA__V1__CERT_INFO__INIT;
	uint8_t *buf;
	size_t len, refused = 0;

	(void)state;
	fill_cert(&own);
	r.node_id = "a-kma01";
	r.own_cert = &own;
	r.boot_id = "b";
	buf = pack(&r.base, &len);
	for (size_t cut = 0; cut < len; cut++) {
		Kma__V1__AgentReport *back = kma__v1__agent_report__unpack(NULL, cut, buf);

		if (!back)
			refused++;
		else
			kma__v1__agent_report__free_unpacked(back, NULL);
	}
	/* Cutting inside node_id (bytes 2..8) or inside own_cert can never decode. */
	for (size_t cut = 3; cut < 2 + strlen("a-kma01"); cut++)
		assert_null(kma__v1__agent_report__unpack(NULL, cut, buf));
	assert_true(refused > len / 2);
	free(buf);
}

static void test_garbage(void **state)
{
	static const struct {
		const char *what;
		uint8_t bytes[16];
		size_t len;
	} cases[] = {
	    {"wire type 7", {0x0f, 0x00}, 2},
	    {"wire type 6", {0x0e, 0x00}, 2},
	    {"varint longer than 10 bytes",
	     {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	     12},
	    {"length past the end", {0x0a, 0x7f, 'a'}, 3},
	    {"huge length", {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, 6},
	    {"field number 0", {0x00, 0x01}, 2},
	    {"submessage with bad inner field", {0x42, 0x02, 0x0f, 0x00}, 4},
	    {"lone tag", {0x10}, 1},
	};
	uint32_t x = 2463534242u;
	uint8_t noise[257];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Kma__V1__AgentReport *r =
		    kma__v1__agent_report__unpack(NULL, cases[i].len, cases[i].bytes);

		if (r) {
			kma__v1__agent_report__free_unpacked(r, NULL);
			fail_msg("accepted garbage: %s", cases[i].what);
		}
	}
	/* Random noise into every decoder: must never crash or leak (ASan checks). */
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(round % (int)sizeof(noise));

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			noise[i] = (uint8_t)x;
		}
		void *m[] = {
		    kma__v1__agent_report__unpack(NULL, n, noise),
		    kma__v1__coordinator_reply__unpack(NULL, n, noise),
		    kma__v1__directive__unpack(NULL, n, noise),
		    kma__v1__enroll_request__unpack(NULL, n, noise),
		    kma__v1__enroll_reply__unpack(NULL, n, noise),
		    kma__v1__identity_record__unpack(NULL, n, noise),
		};
		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
			if (m[i])
				protobuf_c_message_free_unpacked(m[i], NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_report_roundtrip),
	    cmocka_unit_test(test_reply_and_directive_roundtrip),
	    cmocka_unit_test(test_enroll_roundtrip),
	    cmocka_unit_test(test_identity_record_roundtrip),
	    cmocka_unit_test(test_truncated_reports),
	    cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
