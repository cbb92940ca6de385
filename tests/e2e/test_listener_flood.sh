#!/bin/sh
# The listener must never become the node that refuses connections: with hundreds of
# idle, garbage and byte-at-a-time connections held open against it, real peers' probes still
# authenticate, nothing is refused, and the agent drops the stalled connections.
# KMA_FLOOD_IDLE (default 300) idle connections; `make stress` holds thousands.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

IDLE=${KMA_FLOOD_IDLE:-300}
SLOW=40
ulimit -n $((IDLE + 2 * SLOW + 256)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

PORT=$(free_port)
openssl ecparam -name prime256v1 -genkey -noout -out "$T/u.key" 2>/dev/null
openssl req -new -key "$T/u.key" -subj "/O=Example Cluster/CN=u-kma02" -out "$T/u.csr" 2>/dev/null
printf 'extendedKeyUsage=serverAuth,clientAuth\n' >"$T/ext.cnf"
openssl x509 -req -in "$T/u.csr" -CA "$DATA/ca.pem" -CAkey "$DATA/ca.key" -set_serial 0x0A \
	-days 30 -sha256 -extfile "$T/ext.cnf" -out "$T/u.pem" 2>/dev/null

make_sim a SIM-A
printf '[peer u-kma02]\naddress = 127.0.0.1:1\nserial = 0A\n' >"$T/a/peers.conf"
printf '\n[mesh]\nlisten = 127.0.0.1:%s\npeers = %s\nprobe_interval = 3600\nprobe_timeout = 5\nmax_handshakes = 64\nmax_per_source = 48\n' \
	"$PORT" "$T/a/peers.conf" >>"$T/a/agent.conf"
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
"$AGENT" -c "$T/a/agent.conf" >"$T/a.log" 2>&1 &
PIDS="$!"
wait_for_line "$T/a.log" "mesh: 1 peers, listening on 127.0.0.1:$PORT"

# IDLE idle connections, 40 that send random bytes and 40 that send one byte of a
# ClientHello every 200 ms.
cat >"$T/flood.py" <<'PY'
import os, socket, sys, time
port, ready, n_idle, n_slow = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
idle, slow, garbage, refused = [], [], [], 0
for i in range(n_idle + 2 * n_slow):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        refused += 1
        continue
    if i < n_idle:
        idle.append(s)
    elif i < n_idle + n_slow:
        s.send(os.urandom(64))
        garbage.append(s)
    else:
        slow.append(s)
hello = bytes([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]) + bytes(189)
open(ready, "w").write("refused=%d\n" % refused)
end = time.time() + 20
i = 0
while time.time() < end and i < len(hello):
    for s in slow:
        try:
            s.send(hello[i:i + 1])
        except OSError:
            pass
    i += 1
    time.sleep(0.2)
PY
python3 "$T/flood.py" "$PORT" "$T/flood.ready" "$IDLE" "$SLOW" &
PIDS="$PIDS $!"
n=0
until [ -s "$T/flood.ready" ]; do
	n=$((n + 1)); [ $n -lt 1200 ] || fail "flood did not start"; sleep 0.1
done
expect_grep "refused=0" "$T/flood.ready"
ok "$((IDLE + 2 * SLOW)) hostile connections (idle, garbage, slow) accepted, none refused"

# Real peers keep getting through while the flood holds its connections.
for i in 1 2 3 4 5; do
	expect_exit 0 "$AGENT" probe --ca "$DATA/ca.pem" --cert "$T/u.pem" --key "$T/u.key" \
		--expect-id a-kma01 --expect-serial E2207FDBA432E9010000000000000084 --json \
		"127.0.0.1:$PORT"
	expect_json "$T/out" "j['cause']" ok
done
ok "5 real probes authenticate during the flood"

wait_for_line "$T/a/state/mesh.json" '"inbound":{'
expect_json "$T/a/state/mesh.json" "j['peers'][0]['inbound']['cause']" ok
expect_json "$T/a/state/mesh.json" "j['listener']['evicted'] >= $((IDLE + SLOW - 64))" True
ok "the agent recorded the real peer's inbound ok and evicted stalled connections"
kill -TERM $(echo $PIDS | cut -d' ' -f1)
wait $(echo $PIDS | cut -d' ' -f1) || fail "agent did not stop cleanly under load"
ok "agent stops cleanly"
