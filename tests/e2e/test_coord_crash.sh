#!/bin/sh
# kill -9 of kma-coord at random moments while an agent reports and an operator adds
# nodes as fast as they can: nothing the coordinator acknowledged is lost. Every report
# answered 200 is counted and the last one is stored; every node answered 201 exists;
# the database opens cleanly each time (WAL, synchronous=FULL, one transaction per change).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"
pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
PORT=$(free_port)
cat >"$T/coord.conf" <<CONF
[coord]
listen = 127.0.0.1:$PORT
db = $T/coord.db
cert = $P/coord.pem
key = $P/coord.key
ca = $P/ca.pem
operator_ca = $P/opca.pem
report_interval = 5
CONF

python3 - "$COORD" "$T/coord.conf" "$PORT" "$P" "$T/coord.log" <<'PY' || fail "acknowledged data lost"
import http.client, json, os, random, signal, socket, ssl, subprocess, sys, threading, time

coord, conf, port, pki, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
random.seed(int.from_bytes(os.urandom(4), "big"))

def ctx(who):
    c = ssl.create_default_context(cafile=pki + "/ca.pem")
    c.load_cert_chain(pki + "/" + who + ".pem", pki + "/" + who + ".key")
    return c

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def report(seq):  # AgentReport{node_id=1, sequence=2, state=6 (enrolled)}
    node = b"a-kma01"
    return b"\x0a" + varint(len(node)) + node + b"\x10" + varint(seq) + b"\x30\x05"

def request(c, who, method, path, body, ctype):
    conn = http.client.HTTPSConnection("localhost", port, context=c, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()

agent, alice = ctx("a-kma01"), ctx("alice")
state = {"acked_seq": 0, "acked_reports": 0, "acked_nodes": [], "stop": False, "errors": 0}

def reporter():
    seq = 0
    while not state["stop"]:
        seq += 1
        try:
            st, _ = request(agent, "a-kma01", "POST", "/v1/report", report(seq), "application/x-protobuf")
            if st == 200:
                state["acked_seq"] = seq
                state["acked_reports"] += 1
        except (OSError, http.client.HTTPException):
            state["errors"] += 1
            time.sleep(0.02)

def operator():
    i = 0
    while not state["stop"]:
        i += 1
        body = json.dumps({"node_id": "n-%d" % i, "name": "n", "address": "10.1.0.1:9443"})
        try:
            st, _ = request(alice, "alice", "POST", "/v1/nodes", body, "application/json")
            if st == 201:
                state["acked_nodes"].append("n-%d" % i)
        except (OSError, http.client.HTTPException):
            state["errors"] += 1
            time.sleep(0.02)

def start():
    p = subprocess.Popen([coord, "-c", conf], stdout=open(log, "a"), stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            if p.poll() is not None:
                sys.exit("kma-coord exited with %s after a crash (see %s)" % (p.returncode, log))
            time.sleep(0.05)
    sys.exit("kma-coord did not come back")

p = start()
st, _ = request(alice, "alice", "POST", "/v1/nodes",
                json.dumps({"node_id": "a-kma01", "name": "a", "address": "10.0.0.1:9443"}),
                "application/json")
assert st == 201, st
threads = [threading.Thread(target=reporter), threading.Thread(target=operator)]
for t in threads:
    t.start()
kills = 12
for k in range(kills):
    time.sleep(random.uniform(0.15, 0.6))
    p.send_signal(signal.SIGKILL)
    p.wait()
    p = start()
time.sleep(0.3)
state["stop"] = True
for t in threads:
    t.join()

st, body = request(alice, "alice", "GET", "/v1/nodes", None, "application/json")
nodes = {n["node_id"]: n for n in json.loads(body)["nodes"]}
stored = nodes["a-kma01"]["last_report"]["sequence"]
missing = [n for n in state["acked_nodes"] if n not in nodes]
st, metrics = request(alice, "alice", "GET", "/metrics", None, "text/plain")
accepted = [l for l in metrics.decode().splitlines()
            if l.startswith('kma_coord_reports_total{result="accepted"}')]
counted = int(accepted[0].split()[-1])
p.send_signal(signal.SIGTERM)
p.wait()
print("kills %d, reports acknowledged %d (last sequence %d, stored %d, counted %d), "
      "nodes acknowledged %d, failed requests %d" % (kills, state["acked_reports"],
      state["acked_seq"], stored, counted, len(state["acked_nodes"]), state["errors"]))
assert state["acked_reports"] > 0 and state["acked_nodes"], "no load got through"
assert stored >= state["acked_seq"], "the last acknowledged report is lost"
assert counted >= state["acked_reports"], "acknowledged reports are not counted"
assert not missing, "acknowledged nodes lost: %s" % missing[:5]
assert p.returncode == 0, p.returncode
PY
ok "kma-coord killed -9 12 times under load: every acknowledged report and node is there"
