#!/bin/sh
# kma-coord over HTTPS against a foreign client (curl): client-certificate roles, the report
# endpoint's checks in docs/protocol.md order, the operator API, durability across kill -9.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
MKREPORT="$KMA_BUILD_DIR/tests/mkreport"
P="$T/pki"
CT="Content-Type: application/x-protobuf"

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"

PORT=$(free_port)
C="$T/coord.conf"
pki_coord_conf "$C" "$P" "$PORT" "$T/coord.db"
cat >>"$C" <<CONF
report_interval = 5
max_body = 65536
log_level = debug
CONF

# --- configuration -------------------------------------------------------------------------
expect_exit 0 "$COORD" --version
expect_grep "kma-coord " "$T/out"
expect_exit 0 "$COORD" -c "$C" --check-config
expect_grep "ok (listen 127.0.0.1:$PORT" "$T/out"
[ -e "$T/coord.db" ] && fail "--check-config created the database"
sed 's/^report_interval = 5$/report_intervall = 5/' "$C" >"$T/typo.conf"
expect_exit 78 "$COORD" -c "$T/typo.conf" --check-config
expect_grep "typo.conf:8: unknown key 'report_intervall' in [coord]; did you mean 'report_interval'?" "$T/err"
sed 's/^report_interval = 5$/report_interval = 0/' "$C" >"$T/range.conf"
expect_exit 78 "$COORD" -c "$T/range.conf" --check-config
expect_grep "range.conf:8: report_interval: expected a duration from 1 to 3600 s" "$T/err"
sed 's/^report_interval = 5$/report_interval = 5s/' "$C" >"$T/unit.conf"
printf '[recovery]\nstabilize = 1m\n' >>"$T/unit.conf"
expect_exit 78 "$COORD" -c "$T/unit.conf" --check-config
expect_grep "unknown key 'stabilize' in [recovery]; did you mean 'stabilise'?" "$T/err"
sed -i 's/^stabilize/stabilise/' "$T/unit.conf"
printf 'lease_ttl = 2m\nstep_timeout = 1h\n' >>"$T/unit.conf"
expect_exit 0 "$COORD" -c "$T/unit.conf" --check-config
sed "s|^key = .*|key = $P/u-kma02.key|" "$C" >"$T/pair.conf"
expect_exit 65 "$COORD" -c "$T/pair.conf" --check-config
expect_grep "does not belong to cert" "$T/err"
sed "s|^ca = .*|ca = $T/missing.pem|" "$C" >"$T/missing.conf"
expect_exit 66 "$COORD" -c "$T/missing.conf" --check-config
ok "configuration: --version, --check-config, file:line errors, exit codes 78/65/66"

# A PEM file that does not parse is told by file:line and which certificate of it.
cat "$P/ca.pem" >"$T/bundle.pem"
printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >>"$T/bundle.pem"
line=$(($(wc -l <"$P/ca.pem") + 1))
sed "s|^ca = .*|ca = $T/bundle.pem|" "$C" >"$T/pem.conf"
expect_exit 65 "$COORD" -c "$T/pem.conf" --check-config
expect_grep "$T/bundle.pem:$line: certificate 2: " "$T/err"
ok "a certificate that does not parse is told as file:line (certificate 2 of the file)"

# A port in use: said as such, exit 69 (not libmicrohttpd's "port 0").
BUSY=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$BUSY" &
HOLDER=$!
PIDS="$PIDS $HOLDER"
wait_listen "$BUSY"
sed "s/^listen = .*/listen = 127.0.0.1:$BUSY/; s|^db = .*|db = $T/busy.db|" "$C" >"$T/busy.conf"
expect_exit 69 "$COORD" -c "$T/busy.conf"
expect_grep "cannot listen on 127.0.0.1:$BUSY: Address already in use (another kma-coord" "$T/err"
grep -q "port 0" "$T/err" && fail "libmicrohttpd's 'port 0' reached the operator"
kill "$HOLDER"
ok "a listen address in use is said as such (exit 69)"

# --- helpers -------------------------------------------------------------------------------
LOG="$T/coord.log"
start_coord() {
	: >"$LOG"
	start_bg "$LOG" "$COORD" -c "$C"
	COORD_PID=$BG_PID
	wait_for_line "$LOG" "serving on 127.0.0.1:$PORT"
}

# call WHO METHOD PATH [curl args...]: HTTP status in $code, body in $T/body. WHO is a
# certificate name under $P (a-kma03-chain: that chain with a-kma03.key) or "none".
call() {
	_who=$1 _m=$2 _p=$3
	shift 3
	case $_who in
	none) set -- "$@" ;;
	*-chain) set -- --cert "$P/$_who.pem" --key "$P/${_who%-chain}.key" "$@" ;;
	*) set -- --cert "$P/$_who.pem" --key "$P/$_who.key" "$@" ;;
	esac
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		-X "$_m" "$@" "https://localhost:$PORT$_p" 2>"$T/curl.err") || code="curl-exit-$?"
}

# expect_code WANT WHAT
expect_code() {
	[ "$code" = "$1" ] || {
		cat "$T/body" "$T/curl.err" >&2
		tail -n 20 "$LOG" >&2
		fail "$2: HTTP $code, want $1"
	}
}

report() { # report WHO NODE_ID SEQ [STATE [PEER:DIR:CAUSE...]]
	_who=$1
	shift
	"$MKREPORT" report "$@" >"$T/report.bin" || fail "mkreport $*"
	call "$_who" POST /v1/report -H "$CT" --data-binary @"$T/report.bin"
}

start_coord
[ "$(stat -c %a "$T/coord.db")" = 600 ] || fail "database mode $(stat -c %a "$T/coord.db")"

# --- operator API ----------------------------------------------------------------------------
call alice POST /v1/nodes -H 'Content-Type: application/json' \
	-d '{"node_id":"a-kma01","name":"kma01.example","address":"127.0.0.1:9443","enrolled_serial":"e2:20:7f:db:a4:32:e9:01:00:00:00:00:00:00:00:84"}'
expect_code 201 "add a-kma01"
expect_jsons "$T/body" 'j["enrolled_serial"]' E2207FDBA432E9010000000000000084
call alice POST /v1/nodes -d '{"node_id":"u-kma02","name":"kma02.example","address":"127.0.0.2:9443"}'
expect_code 201 "add u-kma02"
call alice POST /v1/nodes -d '{"node_id":"u-kma02","name":"again","address":"x:1"}'
expect_code 409 "add u-kma02 twice"
call alice POST /v1/nodes -d '{"node_id":"bad id","name":"n","address":"x:1"}'
expect_code 400 "bad node ID"
call alice POST /v1/nodes -d '{"node_id":'
expect_code 400 "bad JSON"
call alice GET /v1/nodes
expect_code 200 "list nodes"
expect_jsons "$T/body" 'len(j["nodes"])' 2 'j["nodes"][0]["node_id"]' a-kma01 \
	'j["nodes"][1]["node_id"]' u-kma02 'j["nodes"][1]["address"]' 127.0.0.2:9443 \
	'j["nodes"][0]["last_report"]' None 'j["peer_table_version"]' 2
ok "operator adds and lists nodes (201, 409, 400, 200)"

call a-kma01 GET /v1/nodes
expect_code 403 "agent certificate on the operator API"
call none GET /v1/nodes
expect_code 403 "no client certificate"
expect_grep "no client certificate" "$T/body"
call domain-leaf GET /v1/nodes
expect_code 403 "foreign CA"
call expired GET /v1/nodes
expect_code 403 "expired agent certificate"
expect_grep "expired" "$T/body"
report coord kma-coord 1
expect_code 403 "a serverAuth-only certificate as a client"
expect_grep "not for clientAuth" "$T/body"
ok "agent cert, no cert (TLS completes, then 403), foreign-CA, expired, server-only certs refused"

# --- reports ---------------------------------------------------------------------------------
report a-kma01 a-kma01 1 5 u-kma02:1:1 u-kma02:2:18
expect_code 200 "valid report"
"$MKREPORT" reply "$T/body" >"$T/reply.txt" || fail "reply does not decode"
expect_grep "ack_sequence 1" "$T/reply.txt"
expect_grep "peer_table_version 2" "$T/reply.txt"
expect_grep "enrolled_serial E2207FDBA432E9010000000000000084" "$T/reply.txt"
expect_grep "next_report_interval_ms 5000" "$T/reply.txt"
# u-kma02 has no enrolled serial yet: not a member, so not in anyone's peer table.
grep -q "peer u-kma02" "$T/reply.txt" && { cat "$T/reply.txt"; fail "an unenrolled node is in the peer table"; }
grep -q "^peer a-kma01" "$T/reply.txt" && fail "the reporting node is in its own peer table"
ok "a-kma01 reports: 200, the reply decodes; unenrolled u-kma02 is not in its peer table"

call alice GET /v1/mesh
expect_code 200 "mesh"
expect_jsons "$T/body" 'len(j["observations"])' 2 \
	'[(o["peer_id"], o["direction"], o["cause"]) for o in j["observations"]]' \
	"[('u-kma02', 'inbound', 'peer_serial_mismatch'), ('u-kma02', 'outbound', 'ok')]"
ok "GET /v1/mesh shows the stored observations"

report a-kma01 u-kma02 2
expect_code 403 "a-kma01 speaking for u-kma02"
expect_grep "differs from the certificate" "$T/body"
report a-kma03-chain a-kma03 1
expect_code 403 "node not in the cluster (intermediate-signed chain)"
expect_grep "not in the cluster" "$T/body"
report alice alice 1
expect_code 403 "operator certificate reporting"
report a-kma01 a-kma01 3 99
expect_code 422 "state outside the vocabulary"
expect_grep "state: 99" "$T/body"
report a-kma01 "" 3
expect_code 422 "empty node_id"
printf 'this is not protobuf' >"$T/garbage"
call a-kma01 POST /v1/report -H "$CT" --data-binary @"$T/garbage"
expect_code 400 "garbage body"
"$MKREPORT" report a-kma01 4 >"$T/report.bin"
call a-kma01 POST /v1/report -H "Content-Type: application/json" --data-binary @"$T/report.bin"
expect_code 415 "wrong content type"
call a-kma01 GET /v1/report
expect_code 405 "GET on the report endpoint"
head -c 1048576 /dev/zero >"$T/big"
# With Expect: 100-continue the 413 comes before any byte of the body is sent; without it
# curl may still be sending when kma-coord answers and closes, and on a loaded machine
# the close resets the connection before curl reads the answer (curl exit 55).
call a-kma01 POST /v1/report -H "$CT" -H "Expect: 100-continue" --data-binary @"$T/big"
expect_code 413 "1 MiB body"
# Chunked: no length up front, so the body is dropped as it arrives and answered 413 at its end;
# one far past the limit (16 x max_body) gets its connection closed instead.
call a-kma01 POST /v1/report -H "$CT" -H "Transfer-Encoding: chunked" --data-binary @"$T/big"
expect_code 413 "1 MiB chunked body"
cat "$T/big" "$T/big" >"$T/big2"
call a-kma01 POST /v1/report -H "$CT" -H "Transfer-Encoding: chunked" --data-binary @"$T/big2"
case $code in
curl-exit-*) ;;
*) expect_code "curl-exit-*" "2 MiB chunked body: connection not closed" ;;
esac
report a-kma01 a-kma01 5 5
expect_code 200 "the server still answers after the 413"
kill -0 "$COORD_PID" || fail "kma-coord died"
ok "403 (other node, unknown node, operator), 422, 400, 415, 405, 413 and the server goes on"

python3 - "$T/coord.db" <<'PY' || fail "rejects table"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
got = dict(db.execute("SELECT status, count FROM rejects"))
want = {403: 4, 422: 2, 400: 1, 415: 1, 405: 1}
for k, v in want.items():
    if got.get(k) != v:
        sys.exit("rejects %r, want at least %r" % (got, want))
if got.get(413) != 3:
    sys.exit("rejects %r: want three 413" % got)
PY
expect_grep "rejected (422): state: 99 is not a IdentityState" "$LOG"
ok "rejected reports are counted by status and logged with the reason"

# --- durability --------------------------------------------------------------------------------
report a-kma01 a-kma01 42 5
expect_code 200 "report before the crash"
kill -9 "$COORD_PID"
wait "$COORD_PID" 2>/dev/null
start_coord
call alice GET /v1/nodes
expect_code 200 "list after restart"
expect_jsons "$T/body" 'j["nodes"][0]["last_report"]["sequence"]' 42 \
	'j["nodes"][0]["last_report"]["state"]' enrolled 'j["peer_table_version"]' 2
ok "kill -9 right after a 200: the report is there after the restart"

# --- serial changes reach the peers ------------------------------------------------------------
call alice PUT /v1/nodes/u-kma02/serial -d '{"enrolled_serial":"866b070f94660d13000000000000001e"}'
expect_code 200 "PUT serial"
call alice PUT /v1/nodes/nobody/serial -d '{"enrolled_serial":"01"}'
expect_code 404 "PUT serial of an unknown node"
call alice PUT /v1/nodes/u-kma02/serial -d '{"enrolled_serial":"xyz"}'
expect_code 400 "PUT a serial that is not hex"
call alice GET /v1/nodes
expect_jsons "$T/body" 'j["peer_table_version"]' 3 \
	'j["nodes"][1]["enrolled_serial"]' 866B070F94660D13000000000000001E
report a-kma01 a-kma01 43 5
expect_code 200 "report after the serial change"
"$MKREPORT" reply "$T/body" >"$T/reply.txt" || fail "reply does not decode"
expect_grep "peer_table_version 3" "$T/reply.txt"
expect_grep "peer u-kma02 kma02.example 127.0.0.2:9443 866B070F94660D13000000000000001E" \
	"$T/reply.txt"
report u-kma02 u-kma02 1 5
expect_code 200 "u-kma02 reports"
"$MKREPORT" reply "$T/body" >"$T/reply.txt"
expect_grep "enrolled_serial 866B070F94660D13000000000000001E" "$T/reply.txt"
ok "PUT serial bumps peer_table_version and the next reply carries the new serial"

# --- the watch: held until the peer table changes, then answered at once -----------------------
call a-kma01 GET '/v1/watch?version=2'
expect_code 200 "watch with an old version: answered at once"
call alice GET '/v1/watch?version=3'
expect_code 403 "watch with an operator certificate"
call a-kma01 GET '/v1/watch'
expect_code 400 "watch without a version"
curl -sS -o /dev/null -w '%{http_code}' --max-time 30 --cacert "$P/ca.pem" --cert "$P/a-kma01.pem" \
	--key "$P/a-kma01.key" "https://localhost:$PORT/v1/watch?version=3" >"$T/watch.code" 2>&1 &
W=$!
# Held: nothing changed, so it is still open a moment later (an answer would end curl).
sleep 1
kill -0 "$W" 2>/dev/null || { cat "$T/watch.code"; fail "the watch was answered with nothing new"; }
call alice PUT /v1/nodes/a-kma01/serial -d '{"enrolled_serial":"E2207FDBA432E9010000000000000084"}'
expect_code 200 "PUT serial while a watch is held"
wait "$W"
[ "$(cat "$T/watch.code")" = 200 ] || fail "held watch answered $(cat "$T/watch.code"), want 200"
ok "GET /v1/watch: agents only, answered at once when behind, held until the table changes"

call alice DELETE /v1/nodes/u-kma02
expect_code 204 "delete u-kma02"
call alice DELETE /v1/nodes/u-kma02
expect_code 404 "delete u-kma02 again"
report u-kma02 u-kma02 2 5
expect_code 403 "report of a deleted node"
call alice GET /v1/nodes
expect_jsons "$T/body" 'len(j["nodes"])' 1 'j["peer_table_version"]' 5
ok "DELETE removes the node (204, 404) and its reports are refused"

kill -TERM "$COORD_PID"
wait "$COORD_PID"
st=$?
PIDS=""
[ "$st" = 0 ] || { cat "$LOG" >&2; fail "exit status $st after SIGTERM"; }
expect_grep "SIGTERM: shutting down" "$LOG"
expect_grep "stopped" "$LOG"
grep -q "PRIVATE KEY" "$LOG" && fail "key material in the log"
ok "SIGTERM stops kma-coord cleanly with status 0"
