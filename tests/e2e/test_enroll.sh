#!/bin/sh
# QuickStart enrolment end to end: a real kma-coord acting as the cluster CA (ca_key), the
# operator adding nodes with curl, a real `kma-agent quickstart` on a sim appliance, and
# OpenSSL as a foreign verifier of what the coordinator issues. Token expiry is covered by
# tests/unit/test_enroll.c (an explicit clock); here: unknown, used and other-node tokens,
# no token in any log or output, and durability across kill -9.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
chmod 600 "$P/ca.key"

# coord_conf FILE PORT DB [CA_KEY]
coord_conf() {
	pki_coord_conf "$1" "$P" "$2" "$3"
	cat >>"$1" <<CONF
report_interval = 1
cluster_id = e2e-cluster
CONF
	[ -n "${4:-}" ] && echo "ca_key = $4" >>"$1"
	return 0
}

# --check-config loads the CA key and checks it against the CA certificate.
CPORT=$(free_port)
coord_conf "$T/coord.conf" "$CPORT" "$T/coord.db" "$P/ca.key"
expect_exit 0 "$COORD" -c "$T/coord.conf" --check-config
expect_grep "enrolment on" "$T/out"
coord_conf "$T/wrong.conf" "$CPORT" "$T/coord.db" "$P/u-kma02.key"
expect_exit 65 "$COORD" -c "$T/wrong.conf" --check-config
expect_grep "does not belong to any certificate of ca" "$T/err"
cp "$P/ca.key" "$T/open.key" && chmod 644 "$T/open.key"
coord_conf "$T/open.conf" "$CPORT" "$T/coord.db" "$T/open.key"
expect_exit 78 "$COORD" -c "$T/open.conf" --check-config
expect_grep "ca_key $T/open.key: mode 0644 lets others read it" "$T/err"
if grep -q "PRIVATE KEY" "$T/out" "$T/err"; then fail "key material in the output"; fi
ok "--check-config: ca_key must belong to ca; a key others can read is refused"

# The etcd store needs SQLite's preupdate hook: a build against a SQLite without it (an
# image's, make test SQLITE=image) refuses store = etcd with why, and keeps SQLite's store.
cp "$T/coord.conf" "$T/ha.conf"
printf '[ha]\nstore = etcd\netcd_endpoints = https://127.0.0.1:%s\netcd_ca = %s\nadvertise_url = https://127.0.0.1:%s\n' \
	"$(free_port)" "$P/ca.pem" "$CPORT" >>"$T/ha.conf"
if coord_has_etcd_store; then
	expect_exit 0 "$COORD" -c "$T/ha.conf" --check-config
	expect_grep "etcd store, replica" "$T/out"
	ok "--check-config: store = etcd with a SQLite that has the preupdate hook"
else
	expect_exit 78 "$COORD" -c "$T/ha.conf" --check-config
	expect_grep "SQLite has no preupdate hook (SQLITE_ENABLE_PREUPDATE_HOOK)" "$T/err"
	ok "--check-config: store = etcd refused, with why, on a SQLite without the preupdate hook"
fi

start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
COORD_PID=$BG_PID
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$CPORT"

# op METHOD PATH [JSON]: the operator API, as alice.
op() {
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		--cert "$P/alice.pem" --key "$P/alice.key" -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "https://localhost:$CPORT$2" 2>"$T/curl.err") || code="curl-exit-$?"
}
# add_node ID: adds the node (no enrolled serial) and keeps its token in $T/token.ID.
add_node() {
	op POST /v1/nodes "{\"node_id\":\"$1\",\"name\":\"$1\",\"address\":\"127.0.0.1:9\"}"
	[ "$code" = 201 ] || fail "adding $1: $code $(cat "$T/body")"
	expect_jsons "$T/body" "j['node_id']" "$1" "j['enrolled_serial']" "" \
		"len(j['token'])" 64 "j['expires_at'] > 0" True
	json_get "$T/body" "j['token']" >"$T/token.$1"
}
add_node a-kma01
add_node u-kma02
op POST /v1/nodes/nobody/token
[ "$code" = 404 ] || fail "token for an unknown node: $code"
ok "POST /v1/nodes answers with a one-time token; an unknown node gets none"

make_sim a SIM-A
printf '\n[coordinator]\nurl = https://localhost:%s/\nreport_interval = 1\nca = %s\n' \
	"$CPORT" "$P/ca.pem" >>"$T/a/agent.conf"
QS="$AGENT -c $T/a/agent.conf quickstart --node-id a-kma01"

# Refusals first: each leaves the token usable and says why.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token.random"
expect_exit 1 $QS --token-file "$T/token.random"
expect_grep "HTTP 403: unknown enrolment token" "$T/err"
expect_exit 1 $QS --token-file "$T/token.u-kma02"
expect_grep "HTTP 403: the enrolment token is for another node" "$T/err"
ok "unknown token and another node's token are refused with the coordinator's reason"

expect_exit 0 $QS --token-file "$T/token.a-kma01"
cp "$T/out" "$T/qs.out"
cp "$T/err" "$T/qs.err"
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity --json
cp "$T/out" "$T/id.json"
SERIAL1=$(json_get "$T/id.json" "j['certificate']['serial']")
expect_jsons "$T/id.json" "j['state']" enrolled "j['node_id']" a-kma01 \
	"j['enrolled_serial']" "$SERIAL1" "j['certificate']['issuer']" "O=Example Cluster, CN=Example Cluster CA" \
	"j['certificate']['subject'].endswith('CN=a-kma01')" True "len(j['certificate']['serial'])" 32
op GET /v1/nodes
expect_json "$T/body" "[n['enrolled_serial'] for n in j['nodes'] if n['node_id']=='a-kma01'][0]" "$SERIAL1"
REC="$T/a/state/identity.rec"
[ "$(stat -c %a "$REC")" = 600 ] || fail "identity record mode $(stat -c %a "$REC"), want 600"
ok "quickstart enrols a-kma01: issued by the cluster CA, serial $SERIAL1 = the coordinator's, record 0600"

expect_exit 1 $QS --token-file "$T/token.a-kma01"
expect_grep "HTTP 403: the enrolment token was already used" "$T/err"
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity --json
expect_json "$T/out" "j['certificate']['serial']" "$SERIAL1"
ok "a used token is refused and the enrolled identity stays"

# A foreign client: an OpenSSL CSR posted as a hand-packed EnrollRequest; OpenSSL verifies
# the certificate for both purposes.
# enroll_raw NODE TOKENFILE CSR_DER OUT: POSTs, writes $OUT.status and, on 200, $OUT.leaf.pem,
# $OUT.ca.pem and $OUT.serial.
enroll_raw() {
	python3 - "$1" "$2" "$3" "$4" "$CPORT" "$P/ca.pem" <<'PY' || fail "enroll_raw $1"
import base64, http.client, ssl, sys
node, tokfile, csrfile, out, port, ca = sys.argv[1:]
def varint(n):
    b = b""
    while True:
        c = n & 0x7F
        n >>= 7
        b += bytes([c | (0x80 if n else 0)])
        if not n:
            return b
def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data
body = field(1, node.encode()) + field(2, open(tokfile).read().strip().encode()) + \
    field(3, open(csrfile, "rb").read())
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("localhost", int(port), context=ctx, timeout=20)
c.request("POST", "/v1/enroll", body, {"Content-Type": "application/x-protobuf"})
r = c.getresponse()
data = r.read()
open(out + ".status", "w").write("%d %s" % (r.status, data.decode("latin-1") if r.status != 200 else ""))
if r.status != 200:
    sys.exit(0)
fields, i = {}, 0
while i < len(data):
    key, s = 0, 0
    while True:
        b = data[i]; i += 1; key |= (b & 0x7F) << s; s += 7
        if not b & 0x80: break
    if key & 7 == 0:
        v, s = 0, 0
        while True:
            b = data[i]; i += 1; v |= (b & 0x7F) << s; s += 7
            if not b & 0x80: break
        fields.setdefault(key >> 3, []).append(v)
        continue
    n, s = 0, 0
    while True:
        b = data[i]; i += 1; n |= (b & 0x7F) << s; s += 7
        if not b & 0x80: break
    fields.setdefault(key >> 3, []).append(data[i:i + n]); i += n
pem = lambda d: "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(d).decode() + "-----END CERTIFICATE-----\n"
assert fields[1] == [1], fields.get(1)
open(out + ".leaf.pem", "w").write(pem(fields[3][0]))
open(out + ".ca.pem", "w").write("".join(pem(d) for d in fields[4]))
open(out + ".serial", "w").write(fields[5][0].decode())
assert fields[6][0] == b"e2e-cluster", fields[6]
PY
}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k" \
	-subj "/CN=a-kma01" -outform DER -out "$T/csr.wrongcn" 2>/dev/null || fail "CSR"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/u.key" \
	-subj "/O=Example Cluster/CN=u-kma02" -outform DER -out "$T/csr.u" 2>/dev/null || fail "CSR"
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/rsa.key" -subj "/CN=u-kma02" \
	-outform DER -out "$T/csr.rsa" 2>/dev/null || fail "RSA CSR"
enroll_raw u-kma02 "$T/token.u-kma02" "$T/csr.wrongcn" "$T/r1"
expect_grep "422 the CSR's subject CN is not the node ID" "$T/r1.status"
enroll_raw u-kma02 "$T/token.u-kma02" "$T/csr.rsa" "$T/r2"
expect_grep "422 the CSR's key is not ECDSA P-256" "$T/r2.status"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/s.key" \
	-sha1 -subj "/CN=u-kma02" -outform DER -out "$T/csr.sha1" 2>/dev/null || fail "SHA-1 CSR"
enroll_raw u-kma02 "$T/token.u-kma02" "$T/csr.sha1" "$T/r5"
expect_grep "400 the CSR is signed with SHA1; SHA-256 or stronger is required" "$T/r5.status"
echo "0123" >"$T/token.none"
enroll_raw u-kma02 "$T/token.none" "$T/csr.rsa" "$T/r6"
expect_grep "422 the CSR's key is not ECDSA P-256" "$T/r6.status"
head -c 100 "$T/csr.u" >"$T/csr.cut"
enroll_raw u-kma02 "$T/token.u-kma02" "$T/csr.cut" "$T/r3"
expect_grep "400 the CSR does not parse" "$T/r3.status"
enroll_raw u-kma02 "$T/token.u-kma02" "$T/csr.u" "$T/r4"
expect_grep "200" "$T/r4.status"
for purpose in sslclient sslserver; do
	openssl verify -CAfile "$T/r4.ca.pem" -purpose $purpose "$T/r4.leaf.pem" >"$T/verify" 2>&1 ||
		{ cat "$T/verify" >&2; fail "openssl verify -purpose $purpose"; }
done
openssl x509 -in "$T/r4.leaf.pem" -noout -serial -subject -issuer -ext basicConstraints,keyUsage \
	>"$T/leaf.txt" 2>&1 || fail "openssl x509"
expect_grep "serial=$(cat "$T/r4.serial")" "$T/leaf.txt"
expect_grep "CA:FALSE" "$T/leaf.txt"
expect_grep "Digital Signature" "$T/leaf.txt"
openssl x509 -in "$T/r4.leaf.pem" -noout -pubkey >"$T/leaf.pub"
openssl pkey -in "$T/u.key" -pubout >"$T/u.pub"
cmp -s "$T/leaf.pub" "$T/u.pub" || fail "the certificate is not for the CSR's key"
ok "OpenSSL CSRs: 422 CN, 422 RSA (with or without a token), 400 SHA-1, 400 cut CSR; a good one verifies in OpenSSL for client and server"

# No coordinator without ca_key signs anything.
C2=$(free_port)
coord_conf "$T/noca.conf" "$C2" "$T/noca.db"
start_bg "$T/noca.log" "$COORD" -c "$T/noca.conf"
wait_for_line "$T/noca.log" "serving on 127.0.0.1:$C2"
code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
	-H 'Content-Type: application/x-protobuf' --data-binary @"$T/csr.u" \
	"https://localhost:$C2/v1/enroll" 2>"$T/curl.err")
[ "$code" = 503 ] || fail "enrol without ca_key: $code $(cat "$T/body")"
expect_grep "this coordinator does not issue certificates (no ca_key)" "$T/body"
code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
	"https://localhost:$CPORT/v1/nodes" 2>"$T/curl.err")
[ "$code" = 403 ] || fail "operator API without a certificate: $code"
ok "without ca_key /v1/enroll is 503; other routes still need a certificate"

# A new token, a second QuickStart, then kill -9 right after: the new serial is durable.
op POST /v1/nodes/a-kma01/token
[ "$code" = 201 ] || fail "new token: $code $(cat "$T/body")"
json_get "$T/body" "j['token']" >"$T/token.a2"
expect_exit 0 $QS --token-file "$T/token.a2"
kill -9 "$COORD_PID"
wait "$COORD_PID" 2>/dev/null
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity --json
SERIAL2=$(json_get "$T/out" "j['certificate']['serial']")
[ "$SERIAL2" != "$SERIAL1" ] || fail "the second QuickStart kept serial $SERIAL1"
start_bg "$T/coord2.log" "$COORD" -c "$T/coord.conf"
wait_for_line "$T/coord2.log" "serving on 127.0.0.1:$CPORT"
op GET /v1/nodes
expect_json "$T/body" "[n['enrolled_serial'] for n in j['nodes'] if n['node_id']=='a-kma01'][0]" "$SERIAL2"
expect_exit 1 $QS --token-file "$T/token.a2"
expect_grep "already used" "$T/err"
ok "a re-issued token enrols a new serial that survives kill -9 of the coordinator"

# The enrolled agent reports with its new certificate and is enrolled at the coordinator.
PA=$(free_port)
printf '\n[mesh]\nlisten = 127.0.0.1:%s\nprobe_interval = 3600\nprobe_timeout = 5\n' "$PA" \
	>>"$T/a/agent.conf"
start_bg "$T/a.log" "$AGENT" -c "$T/a/agent.conf"
n=0
while :; do
	op GET /v1/nodes
	st=$(json_get "$T/body" "([n['last_report']['state'] for n in j['nodes'] if n['node_id']=='a-kma01' and n['last_report']] or ['-'])[0]" 2>/dev/null)
	[ "$st" = enrolled ] && break
	n=$((n + 1))
	[ $n -ge 600 ] && { cat "$T/body" "$T/a.log" >&2; fail "a-kma01 does not report as enrolled ($st)"; }
	sleep 0.2
done
expect_grep "coordinator: peer table version" "$T/a.log"
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity --json
expect_jsons "$T/out" "j['state']" enrolled "j['enrolled_serial']" "$SERIAL2"
ok "the enrolled agent reports with its issued certificate and is enrolled"

# No token anywhere it should not be: logs, outputs, the database (only SHA-256 there).
for tok in "$T"/token.a-kma01 "$T"/token.a2 "$T"/token.u-kma02; do
	t=$(cat "$tok")
	for f in "$T"/coord.log "$T"/coord2.log "$T"/noca.log "$T"/a.log "$T"/qs.out "$T"/qs.err \
		"$T"/out "$T"/err "$T"/coord.db*; do
		[ -f "$f" ] || continue
		if grep -aqF "$t" "$f"; then fail "token of $tok appears in $f"; fi
	done
done
h=$(printf '%s' "$(cat "$T/token.a2")" | sha256sum | cut -d' ' -f1)
[ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM tokens WHERE token_sha256 = ? AND used_at IS NOT NULL", (sys.argv[2],)).fetchone()[0])' "$T/coord.db" "$h")" = 1 ] ||
	fail "the token's SHA-256 is not stored as used"
if grep -q "PRIVATE KEY" "$T"/coord.log "$T"/coord2.log; then fail "key material in the log"; fi
ok "tokens never appear in logs, outputs or the database (only their SHA-256)"
