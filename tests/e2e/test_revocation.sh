#!/bin/sh
# Revocation end to end, on loopback, with the real programs: kma-coord is the cluster CA and
# three sim appliances enrol with QuickStart. n1 is enrolled again (a new one-time token, a new
# QuickStart), so its first certificate is superseded. Then:
#  - the CRL the agents received with the peer table revokes the old serial: OpenSSL reads it
#    and refuses the old certificate with it (and takes the new one);
#  - kma-coord refuses the old certificate (curl, and a kma-agent that imported the old
#    identity) with the reason "revoked" in its log;
#  - a peer presenting it is peer_cert_revoked for the others: inbound (openssl s_client) and
#    outbound (openssl s_server at n1's address, also to kma-agent probe with n2's identity),
#    and the diagnosis names node_cert_revoked;
#  - kma-coord restarted while the agents run honours it at once, and an agent restarted
#    while kma-coord is down probes with the CRL it kept.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
. "$src/scripts/simcluster.sh" >/dev/null
. "$src/tests/e2e/cluster.sh"
trap 'sc_cleanup; cleanup' EXIT INT TERM

# stop PID: SIGTERM, then a bounded wait until it is gone.
stop() {
	kill "$1" 2>/dev/null || return 0
	n=0
	while kill -0 "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 300 ] || fail "process $1 did not stop"
		sleep 0.1
	done
}

# wait_after FILE LINES PATTERN: bounded wait for PATTERN in FILE after its first LINES lines.
wait_after() {
	n=0
	until tail -n +"$(($2 + 1))" "$1" | grep -qF -- "$3"; do
		n=$((n + 1))
		[ $n -lt 2400 ] || { tail -n 30 "$1" >&2; fail "timed out waiting for '$3' in $1"; }
		sleep 0.1
	done
}

# cert_of NODE NAME: NODE's key and certificate as PEM in $T/NAME.key, $T/NAME.pem.
cert_of() {
	python3 "$src/tests/e2e/idrec.py" "$demo/$1/state/identity.rec" "$T/$2" ||
		fail "reading $1's identity record"
	openssl pkey -inform DER -in "$T/$2.key.der" -out "$T/$2.key" 2>/dev/null &&
		chmod 600 "$T/$2.key" &&
		openssl x509 -inform DER -in "$T/$2.crt.der" -out "$T/$2.pem" ||
		fail "converting $1's identity"
	rm -f "$T/$2.key.der"
}

# report_as NAME: POST /v1/report with $T/NAME.pem; the status in $code.
report_as() {
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		--cert "$T/$1.pem" --key "$T/$1.key" -H 'Content-Type: application/x-protobuf' \
		--data-binary '' "https://localhost:$CPORT/v1/report" 2>"$T/curl.err") ||
		code="curl-exit-$?"
}

sc_pki
sc_coord_start
sc_cluster n1 n2 n3
COORD_URL="https://localhost:$CPORT/"
wait_mesh n2 n1 outbound ok
wait_mesh n1 n2 outbound ok
cert_of n1 old
OLD=$(openssl x509 -in "$T/old.pem" -noout -serial | cut -d= -f2)
ok "a cluster of three enrolled with QuickStart; n1's first serial is $OLD"

# n1 enrolled again: a new token, a new QuickStart while its agent runs.
expect_exit 0 "$ctl" node token n1
sed -n 's/^token: //p' "$T/out" >"$T/token"
expect_exit 0 "$agent" -c "$demo/n1/agent.conf" quickstart --node-id n1 --token-file "$T/token"
cert_of n1 new
NEW=$(openssl x509 -in "$T/new.pem" -noout -serial | cut -d= -f2)
[ "$NEW" != "$OLD" ] || fail "the QuickStart kept serial $OLD"
CRL="$demo/n2/state/coordinator-crl.der"
until_ok 60 sh -c "openssl crl -inform DER -in '$CRL' -noout -text | grep -q 'Serial Number: $OLD'"
wait_mesh n2 n1 outbound ok
wait_mesh n1 n2 outbound ok
ok "n1 enrolled again as $NEW; the peers took the new table and a CRL revoking $OLD"

# A foreign reader: OpenSSL parses the CRL the agents keep and verifies with it.
openssl crl -inform DER -in "$CRL" -noout -text >"$T/crl.txt" 2>&1 || fail "openssl crl"
expect_grep "Version 2" "$T/crl.txt"
expect_grep "Issuer: O = Demo Cluster, CN = Demo Cluster CA" "$T/crl.txt"
expect_grep "X509v3 CRL Number" "$T/crl.txt"
expect_grep "Serial Number: $OLD" "$T/crl.txt"
grep -q "Serial Number: $NEW" "$T/crl.txt" && fail "the CRL revokes the current serial $NEW"
openssl crl -inform DER -in "$CRL" -out "$T/crl.pem" || fail "openssl crl -out"
openssl verify -crl_check -CAfile "$P/ca.pem" -CRLfile "$T/crl.pem" "$T/old.pem" \
	>"$T/verify.old" 2>&1 && fail "openssl verify took the revoked certificate"
expect_grep "certificate revoked" "$T/verify.old"
openssl verify -crl_check -CAfile "$P/ca.pem" -CRLfile "$T/crl.pem" "$T/new.pem" \
	>"$T/verify.new" 2>&1 || { cat "$T/verify.new" >&2; fail "openssl verify: the new one"; }
[ "$(stat -c %a "$CRL")" = 644 ] || fail "CRL file mode $(stat -c %a "$CRL")"
cmp -s "$CRL" "$demo/n3/state/coordinator-crl.der" || fail "n2 and n3 keep different CRLs"
ok "openssl reads the CRL (v2, the CA as issuer, a CRL number) and refuses $OLD with it"

# kma-coord refuses the old certificate, as revoked, before anything else.
report_as old
[ "$code" = 403 ] || fail "a report with the revoked certificate: $code"
wait_for_line "$demo/coord.log" "serial $OLD is revoked (on the cluster CA's CRL)"
code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
	--cert "$T/old.pem" --key "$T/old.key" "https://localhost:$CPORT/v1/watch?version=0")
[ "$code" = 403 ] || fail "a watch with the revoked certificate: $code"
expect_grep "is revoked" "$T/body"
report_as new
[ "$code" = 422 ] || fail "the current certificate's empty report: $code, want 422 (past auth)"
ok "kma-coord refuses $OLD: 403, 'revoked' in its log; the current certificate gets through"

# An agent with the old identity imported: refused as revoked, told the enrolled serial.
agent_start n1old "127.0.0.1:$(free_port)" "$T/old.key" "$T/old.pem" "$P/ca.pem"
wait_for_line "$T/n1old.log" "the coordinator does not take our certificate as this node's (it enrolled serial $NEW)"
wait_for_line "$demo/coord.log" "rejected (403): client certificate refused: CN 'n1' serial $OLD is revoked"
ok "kma-agent with the old identity: its reports are refused as revoked and it learns it is not enrolled"

# Peers: a client presenting the old certificate (inbound at n2).
lines=$(wc -l <"$demo/n2/agent.log")
openssl s_client -connect "127.0.0.1:$(cat "$demo/n2/port")" -cert "$T/old.pem" \
	-key "$T/old.key" -CAfile "$P/ca.pem" </dev/null >"$T/s_client.log" 2>&1
wait_after "$demo/n2/agent.log" "$lines" "peer n1 inbound"
wait_after "$demo/n2/agent.log" "$lines" "peer_cert_revoked"
ok "n2 calls a client with n1's old certificate peer_cert_revoked"

# ... and a server at n1's address presenting it (outbound at n2 and n3).
stop "$(cat "$demo/n1/pid")"
start_bg "$T/s_server.log" openssl s_server -accept "127.0.0.1:$(cat "$demo/n1/port")" \
	-cert "$T/old.pem" -key "$T/old.key" -verify 1 -CAfile "$P/ca.pem" -www
wait_listen "$(cat "$demo/n1/port")"
wait_mesh n2 n1 outbound peer_cert_revoked
wait_mesh n3 n1 outbound peer_cert_revoked
until_ok 60 sh -c "\"$ctl\" diagnose | grep -q node_cert_revoked"
ok "n2 and n3 call n1's address peer_cert_revoked; the diagnosis says node_cert_revoked"
# An operator's probe from n2 with its identity uses the CRL n2 kept, as its daemon does.
expect_exit 1 "$agent" -c "$demo/n2/agent.conf" probe --json --expect-id n1 \
	"127.0.0.1:$(cat "$demo/n1/port")"
expect_jsons "$T/out" "j['cause']" peer_cert_revoked "j['peer_cert']['serial']" "$OLD"
expect_exit 64 "$agent" -c "$demo/n2/agent.conf" probe --crl "$T/crl.pem" \
	"127.0.0.1:$(cat "$demo/n1/port")"
expect_grep "--crl with them" "$T/err"
ok "kma-agent probe with n2's identity calls it peer_cert_revoked too (the kept CRL)"

# kma-coord restarted while the agents run: the CRL before the first connection.
stop "$(cat "$demo/coord.pid")"
lines=$(wc -l <"$demo/coord.log")
sc_coord_start
wait_after "$demo/coord.log" "$lines" "revocation: a CRL of 1 serials"
report_as old
[ "$code" = 403 ] || fail "after a restart, a report with the revoked certificate: $code"
wait_after "$demo/coord.log" "$lines" "serial $OLD is revoked"
wait_mesh n2 n1 outbound peer_cert_revoked
ok "kma-coord restarted: it refuses $OLD at once; the agents still call it revoked"

# An agent restarted while kma-coord is down: the kept table and CRL.
stop "$(cat "$demo/coord.pid")"
stop "$(cat "$demo/n2/pid")"
lines=$(wc -l <"$demo/n2/agent.log")
start n2
wait_after "$demo/n2/agent.log" "$lines" "(2 peers, with its CRL) until the coordinator sends one"
wait_after "$demo/n2/agent.log" "$lines" "mesh: CRL of O=Demo Cluster, CN=Demo Cluster CA: 1 revoked serials"
wait_after "$demo/n2/agent.log" "$lines" "peer n1 outbound 127.0.0.1:$(cat "$demo/n1/port"): peer_cert_revoked"
ok "n2 restarted while kma-coord is down: it probes with the kept CRL and calls n1's address revoked"
