#!/bin/sh
# kma-coord under a connection flood from one host: hundreds of idle, garbage and
# half-finished TLS connections, and slow uploads, from 127.0.0.2. With
# max_connections_per_ip the flood holds only its share, and a real agent's report and an
# operator's request from 127.0.0.1 still get through while it lasts. `make stress` floods
# with thousands from ten addresses under the default limits (KMA_FLOOD_N, _MAXC, _PERIP).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
MKREPORT="$KMA_BUILD_DIR/tests/mkreport"
P="$T/pki"
pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
PORT=$(free_port)
pki_coord_conf "$T/coord.conf" "$P" "$PORT" "$T/coord.db"
cat >>"$T/coord.conf" <<CONF
max_connections = ${KMA_FLOOD_MAXC:-96}
max_connections_per_ip = ${KMA_FLOOD_PERIP:-24}
CONF
start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$PORT"

curl_as() { # curl_as WHO ARGS...: the status code
	_w=$1
	shift
	curl -sS -o "$T/body" -w '%{http_code}' --max-time 10 --cacert "$P/ca.pem" \
		--cert "$P/$_w.pem" --key "$P/$_w.key" "$@" 2>"$T/curl.err" || echo "curl-exit-$?"
}
code=$(curl_as alice -X POST -H 'Content-Type: application/json' \
	-d '{"node_id":"a-kma01","name":"a","address":"127.0.0.1:9443","enrolled_serial":"'"$(cat "$P/serial.a-kma01")"'"}' \
	"https://localhost:$PORT/v1/nodes")
[ "$code" = 201 ] || fail "adding a-kma01: $code"

# The flood: N connections (KMA_FLOOD_N, default 300; `make stress` thousands) from
# 127.0.0.2 on, 400 per address, a third idle, a third garbage, a third a TLS ClientHello
# cut short, plus slow uploads of a report body; held open until told.
N=${KMA_FLOOD_N:-300}
ulimit -n $((N + 256)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
python3 - "$PORT" "$T/flood.ready" "$T/flood.stop" "$N" <<'PY' &
import os, socket, sys, time
port, ready, stop, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
socks, refused = [], 0
hello = bytes.fromhex("160301") + b"\x02\x00" + b"\x01\x00\x01\xfc\x03\x03" + os.urandom(32)
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (2 + i // 400), 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        if i % 3 == 1:
            s.send(os.urandom(64))
        elif i % 3 == 2:
            s.send(hello[:40])
        socks.append(s)
    except OSError:
        refused += 1
open(ready, "w").write("%d held, %d refused\n" % (len(socks), refused))
while not os.path.exists(stop):
    for s in socks[::10]:  # slow uploads: a byte now and then
        try:
            s.send(b"\x00")
        except OSError:
            pass
    time.sleep(0.2)
PY
FLOOD=$!
PIDS="$PIDS $FLOOD"
n=0
until [ -s "$T/flood.ready" ]; do
	n=$((n + 1)); [ $n -lt 1200 ] || fail "the flood did not start"; sleep 0.1
done

"$MKREPORT" report a-kma01 1 5 >"$T/report.bin" || fail "mkreport"
code=$(curl_as a-kma01 -H 'Content-Type: application/x-protobuf' --data-binary @"$T/report.bin" \
	"https://localhost:$PORT/v1/report")
[ "$code" = 200 ] || { cat "$T/curl.err"; fail "a real report during the flood: $code"; }
code=$(curl_as alice "https://localhost:$PORT/v1/nodes")
[ "$code" = 200 ] || { cat "$T/curl.err"; fail "the operator during the flood: $code"; }
touch "$T/flood.stop"
wait "$FLOOD" 2>/dev/null
kill -0 "$BG_PID" 2>/dev/null || fail "kma-coord died under the flood"
ok "$(cut -d, -f1 "$T/flood.ready") idle, garbage, half-TLS and slow connections: a real agent and an operator still got through"
