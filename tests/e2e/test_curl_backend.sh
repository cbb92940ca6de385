#!/bin/sh
# Everything the agent asks of libcurl, against a real kma-coord, on the libcurl this build
# links: Debian's (OpenSSL), Debian's libcurl3-gnutls (-DKMA_CURL_LIBRARY=...), or an image's
# on Mbed TLS (make test CURL=image). Each backend reads the PEM blobs its own way
# (agent/reporter.h reporter_pem_blob). Checked: QuickStart with a one-time token (the
# coordinator's CA as a blob), reports with the issued certificate and key as blobs (mutual
# TLS), the held watch bringing a change at once (the report interval is 10 minutes), and
# trust in the coordinator's CA alone, with its name checked.
# KMA_EXPECT_CURL_TLS=OpenSSL|GnuTLS|mbedTLS makes a build that links another fail.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
# A certificate for the coordinator that the cluster CA signed for another name.
printf '[othername]\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:elsewhere.invalid\n' \
	>>"$P/ca/ca.cnf"
pki_sign "$P/ca" othername "/O=Example Cluster/CN=elsewhere.invalid" othername \
	5E4E4E4E00000002 "$NOW0" "$NOW1" || fail "othername certificate"
chmod 600 "$P/ca.key"

CPORT=$(free_port)
pki_coord_conf "$T/coord.conf" "$P" "$CPORT" "$T/coord.db"
printf 'report_interval = 600\ncluster_id = e2e-cluster\nca_key = %s\n' "$P/ca.key" \
	>>"$T/coord.conf"
start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$CPORT"

op() {
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		--cert "$P/alice.pem" --key "$P/alice.key" -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "https://localhost:$CPORT$2" 2>"$T/curl.err") || code="curl-exit-$?"
}
op POST /v1/nodes '{"node_id":"a-kma01","name":"a-kma01","address":"127.0.0.1:9"}'
[ "$code" = 201 ] || fail "adding a-kma01: $code $(cat "$T/body")"
json_get "$T/body" "j['token']" >"$T/token"
op POST /v1/nodes '{"node_id":"u-kma02","name":"u-kma02","address":"127.0.0.1:9"}'
[ "$code" = 201 ] || fail "adding u-kma02: $code $(cat "$T/body")"

make_sim a SIM-A
cp "$T/a/agent.conf" "$T/a/base.conf"
# coordinator URL CA: the agent's configuration with that [coordinator] section
coordinator() {
	cp "$T/a/base.conf" "$T/a/agent.conf"
	printf '\n[coordinator]\nurl = %s\nreport_interval = 600\nca = %s\n' "$1" "$2" \
		>>"$T/a/agent.conf"
}
QS="$AGENT -c $T/a/agent.conf quickstart --node-id a-kma01 --token-file $T/token"

# Trust: another CA, or the right CA for a certificate naming another host: no enrolment,
# and the token stays usable.
coordinator "https://localhost:$CPORT/" "$P/domain-ca.pem"
expect_exit 69 $QS
expect_grep "SSL peer certificate" "$T/err"
C2=$(free_port)
sed -e "s/:$CPORT\$/:$C2/" -e "s#/coord.pem#/othername.pem#" -e "s#/coord.key#/othername.key#" \
	-e "s#$T/coord.db#$T/other.db#" "$T/coord.conf" >"$T/other.conf"
start_bg "$T/other.log" "$COORD" -c "$T/other.conf"
wait_for_line "$T/other.log" "serving on 127.0.0.1:$C2"
coordinator "https://localhost:$C2/" "$P/ca.pem"
expect_exit 69 $QS
expect_grep "SSL peer certificate" "$T/err"
ok "QuickStart trusts the coordinator's CA only, and checks its name"

coordinator "https://localhost:$CPORT/" "$P/ca.pem"
expect_exit 0 $QS
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity --json
SERIAL=$(json_get "$T/out" "j['certificate']['serial']")
expect_jsons "$T/out" "j['state']" enrolled "j['enrolled_serial']" "$SERIAL"
ok "QuickStart enrols a-kma01 (serial $SERIAL)"

start_bg "$T/a.log" "$AGENT" -c "$T/a/agent.conf" run
wait_for_line "$T/a.log" "coordinator: reporting to"
TLS=$(sed -n 's/.*coordinator: reporting to .* (libcurl \([^ ]*\) on \([^/ ]*\).*/\2/p' "$T/a.log" |
	head -n 1)
VER=$(sed -n 's/.*coordinator: reporting to .* (libcurl \(.*\))$/\1/p' "$T/a.log" | head -n 1)
[ -n "$TLS" ] || fail "no libcurl TLS backend in the log: $(grep 'reporting to' "$T/a.log")"
if [ -n "${KMA_EXPECT_CURL_TLS:-}" ] && [ "$TLS" != "$KMA_EXPECT_CURL_TLS" ]; then
	fail "the agent's libcurl is on $TLS, not $KMA_EXPECT_CURL_TLS"
fi
# reported SEQUENCE: the coordinator has a-kma01's report with at least that sequence
reported() {
	op GET /v1/nodes
	[ "$code" = 200 ] && python3 -c '
import json, sys
n = [n for n in json.load(open(sys.argv[1]))["nodes"] if n["node_id"] == "a-kma01"][0]
r = n["last_report"]
sys.exit(0 if r and r["state"] == "enrolled" and r["sequence"] >= int(sys.argv[2]) else 1)
' "$T/body" "$1"
}
n=0
until reported 1; do
	n=$((n + 1))
	[ $n -lt 1200 ] || { cat "$T/a.log" >&2; fail "a-kma01 does not report"; }
	sleep 0.1
done
if grep -q "report .* failed" "$T/a.log"; then fail "a report failed: $(grep failed "$T/a.log")"; fi
ok "a-kma01 reports with its issued certificate and key (libcurl $VER)"

# The watch: a new peer table reaches the agent long before the next report is due.
# The first reply's table (no peers yet: u-kma02 has no serial) is in before the change.
wait_for_line "$T/a.log" "coordinator: peer table version"
op PUT /v1/nodes/u-kma02/serial '{"enrolled_serial":"866b070f94660d13000000000000001e"}'
[ "$code" = 200 ] || fail "PUT serial: $code $(cat "$T/body")"
n=0
until grep -q "coordinator: peer table version [0-9]*, 1 peers" "$T/a.log"; do
	n=$((n + 1))
	[ $n -lt 2400 ] || { cat "$T/a.log" >&2; fail "the new peer table did not arrive"; }
	sleep 0.1
done
ok "the held watch brings the new peer table at once (report interval 600 s)"

kill "$BG_PID"
echo "ok - libcurl on $TLS: QuickStart, reports and watch against kma-coord"
