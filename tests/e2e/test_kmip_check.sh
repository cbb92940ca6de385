#!/bin/sh
# The key-service check against a real KMIP server (PyKMIP 0.10) on loopback: Discover
# Versions, Query and Get of a canary key that PyKMIP's own client created, succeed over
# mutual TLS with the test PKI; a missing key, another owner's key, a foreign CA, a closed
# port and a listener that never answers TLS each fail with their own result and cause.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"
. "$KMA_SOURCE_DIR/tests/e2e/kmip.sh"

P="$T/pki"
pki_make "$P" || fail "could not create the test PKI"
KPORT=$(free_port)
kmip_server "$T/kms" "$KPORT" "$P/u-kma02.pem" "$P/u-kma02.key" "$P/ca.pem"
ME="--cert $P/a-kma01.pem --key $P/a-kma01.key --ca $P/ca.pem"
make_sim node SIM-KMIP-1
cfg="$T/node/agent.conf"

# shellcheck disable=SC2086
expect_exit 0 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" $ME --json
expect_jsons "$T/out" 'j["result"]' ok 'j["cause"]' ok 'j["operation"]' "Discover Versions" \
	'j["result_status"]' success '"1.1" in j["answer"].split()' True \
	'j["cipher_suite"]' TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256 'j["latency_ms"] >= j["handshake_ms"]' True
ok "Discover Versions answered by PyKMIP: $(json_get "$T/out" 'j["answer"]'), $(json_get "$T/out" 'j["latency_ms"]') ms"

# shellcheck disable=SC2086
expect_exit 0 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" $ME --operation query --json
expect_jsons "$T/out" 'j["result"]' ok '"PyKMIP" in j["answer"]' True
ok "Query: $(json_get "$T/out" 'j["answer"]')"

UID1=$(kmip_create "$KPORT" "$P/a-kma01.pem" "$P/a-kma01.key" "$P/ca.pem") ||
	fail "PyKMIP's client could not create a key"
# shellcheck disable=SC2086
expect_exit 0 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" $ME --operation get --uid "$UID1" --json
expect_jsons "$T/out" 'j["result"]' ok 'j["answer"]' "symmetric key '$UID1'"
ok "Get of the canary key $UID1 that PyKMIP's client created"

# shellcheck disable=SC2086
expect_exit 1 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" $ME --operation get --uid 999999 --json
expect_jsons "$T/out" 'j["result"]' failed 'j["cause"]' ok 'j["result_status"]' operation_failed \
	'j["result_reason"]' item_not_found
ok "Get of a missing key: failed, item_not_found"

expect_exit 1 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" --cert "$P/u-kma02.pem" \
	--key "$P/u-kma02.key" --ca "$P/ca.pem" --operation get --uid "$UID1" --json
expect_jsons "$T/out" 'j["result"]' failed 'j["result_reason"]' permission_denied
ok "Get of another owner's key: failed, permission_denied"

expect_exit 1 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" --cert "$P/domain-leaf.pem" \
	--key "$P/domain-leaf.key" --ca "$P/domain-ca.pem" --json
expect_jsons "$T/out" 'j["result"]' connect 'j["cause"]' peer_cert_untrusted
ok "a key service whose CA we do not trust: connect, peer_cert_untrusted"

# shellcheck disable=SC2086
expect_exit 0 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" $ME --server-name u-kma02 --json
expect_jsons "$T/out" 'j["result"]' ok
# shellcheck disable=SC2086
expect_exit 1 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$KPORT" $ME --server-name kms.example --json
expect_jsons "$T/out" 'j["result"]' connect 'j["cause"]' peer_identity_mismatch
ok "server_name: the key service's certificate must name it (peer_identity_mismatch otherwise)"

CLOSED=$(free_port)
# shellcheck disable=SC2086
expect_exit 1 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$CLOSED" $ME --json
expect_jsons "$T/out" 'j["result"]' connect 'j["cause"]' tcp_refused
ok "a closed port: connect, tcp_refused"

# A listener that never accepts: the kernel completes the TCP handshake, TLS never starts.
MUTE=$(free_port)
start_bg "$T/mute.log" python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5); time.sleep(120)' "$MUTE"
wait_listen "$MUTE" 10
# shellcheck disable=SC2086
expect_exit 1 "$AGENT" -c "$cfg" kmip --address "127.0.0.1:$MUTE" $ME --timeout 1 --json
expect_jsons "$T/out" 'j["result"]' connect 'j["cause"]' handshake_timeout
ok "a listener that never answers: connect, handshake_timeout within the 1 s deadline"

kmip_stop
ok "PyKMIP stopped"
