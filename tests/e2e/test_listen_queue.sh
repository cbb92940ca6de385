#!/bin/sh
# The listen queue, measured on the node: a-kma02's key service (its board's [kmip] port) is
# a listener that stopped accepting, and clients fill its accept queue for real; a-kma02's
# peer listener is wedged, so its peers get tcp_refused. The agent reports the queue
# (sock_diag) and the kernel's listen drops (/proc/net/netstat), its KMIP check fails, and
# the diagnosis puts a-kma02's own measurement beside its peers' tcp_refused.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

sc_pki
KPORT=$(free_port)
# A key service that stopped accepting: backlog 8, never accept(); and clients that fill
# it (the kernel queues backlog + 1, then drops the SYNs of the rest).
start_bg "$T/stuck.log" python3 -c 'import socket, sys, time
port = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(8)
print("listening", flush=True)
cs = []
for i in range(40):
    c = socket.socket(); c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    cs.append(c)
print("filled", flush=True)
time.sleep(300)' "$KPORT"
wait_for_line "$T/stuck.log" filled

mkdir -p "$T/boards/sim-kmip"
sed 's/^name = sim$/name = sim-kmip/' "$src/board/sim/board.conf" >"$T/boards/sim-kmip/board.conf"
printf '\n[kmip]\naddress = 127.0.0.1:%s\ntimeout = 2\n' "$KPORT" >>"$T/boards/sim-kmip/board.conf"
sc_coord_start
for n in a-kma01 a-kma02 u-kma02; do appliance "$n" "SIM-$n"; done
sed -i "s|^name = sim\$|name = sim-kmip|; s|^dir = .*|dir = $T/boards|" "$demo/a-kma02/agent.conf"
for n in a-kma01 a-kma02 u-kma02; do
	enrol "$n" >/dev/null
	start "$n"
done
until_ok 60 "$ctl" mesh
wait_for_line "$demo/a-kma02/agent.log" "listen queue full: key service on port $KPORT: accept queue 9/8"
ok "a-kma02's agent sees its key service's accept queue full: $(grep -m1 'listen queue full' "$demo/a-kma02/agent.log" | sed 's/.*listen queue full: //')"

wedge a-kma02
until_ok 60 sh -c "\"$ctl\" diagnose >\"$T/d\"; grep -q node_refused \"$T/d\""
until_ok 60 sh -c "\"$ctl\" diagnose >\"$T/d\"; grep -q \"a-kma02's key service on port $KPORT: accept queue 9/8 (full)\" \"$T/d\""
grep -q "connections\? dropped in the last" "$T/d" || { cat "$T/d"; fail "no drops in the evidence"; }
"$ctl" status >"$T/st.txt"
expect_grep "DOWN" "$T/st.txt"
ok "kmactl diagnose: $(grep "accept queue" "$T/d" | sed 's/^ *//')"
cat "$T/d"
"$ctl" diagnose --json >"$T/d.json" || true
python3 - "$T/d.json" "$KPORT" <<'PY' || fail "the diagnosis as JSON"
import json, sys
j = json.load(open(sys.argv[1]))
f = [x for x in j["findings"] if x["pattern"] == "node_refused"][0]
assert f["culprit"] == "a-kma02", f
assert any("tcp_refused" in e for e in f["evidence"]), f
assert any("key service on port %s: accept queue 9/8 (full)" % sys.argv[2] in e for e in f["evidence"]), f
PY
ok "node_refused a-kma02 cites its peers' tcp_refused and its own full accept queue"
