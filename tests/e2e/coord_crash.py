#!/usr/bin/env python3
# Shared by test_coord_crash.sh and test_coord_powercut.sh: an agent reports and an operator
# adds nodes as fast as they can while kma-coord is stopped at random moments, then checks
# what the coordinator acknowledged against what its database holds.
#
# usage: coord_crash.py COORD CONF PORT PKI LOG DB kill|powercut KILLS
#   kill      SIGKILL: every acknowledged report and node must be there.
#   powercut  SIGKILL under tests/tools libpowercut.so (LD_PRELOAD), then the database files
#             as a power cut leaves them (each as of its last fsync, the unsynced gone):
#             every acknowledged node must be there (synced before the answer), the
#             database must pass integrity_check, and reports, committed without waiting
#             for the disk, may go back by the few since the last sync; the agent's next
#             reports are accepted again. How many were lost is printed.
import http.client, json, os, random, shutil, signal, socket, sqlite3, ssl, subprocess, sys, threading, time

coord, conf, port, pki, log, db, mode, kills = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                                 sys.argv[4], sys.argv[5], sys.argv[6],
                                                 sys.argv[7], int(sys.argv[8]))
env = dict(os.environ)
if mode == "powercut":
    env["LD_PRELOAD"] = os.path.join(os.environ["KMA_BUILD_DIR"], "tests", "libpowercut.so")
    env["POWERCUT_PREFIX"] = db
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
        body = json.dumps({"node_id": "n-%d" % i, "name": "n", "address": "127.0.1.1:9443"})
        try:
            st, _ = request(alice, "alice", "POST", "/v1/nodes", body, "application/json")
            if st == 201:
                state["acked_nodes"].append("n-%d" % i)
        except (OSError, http.client.HTTPException):
            state["errors"] += 1
            time.sleep(0.02)

def start():
    p = subprocess.Popen([coord, "-c", conf], stdout=open(log, "a"), stderr=subprocess.STDOUT,
                         env=env)
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
                json.dumps({"node_id": "a-kma01", "name": "a", "address": "127.0.0.1:9443",
                            "enrolled_serial": open(pki + "/serial.a-kma01").read().strip()}),
                "application/json")
assert st == 201, st
threads = [threading.Thread(target=reporter), threading.Thread(target=operator)]
for t in threads:
    t.start()
DB_FILES = ("", "-wal", "-shm", "-journal")  # the database and its SQLite companions

def power_cut():
    """The database files as the disk holds them: each as of its last fsync."""
    for suffix in DB_FILES:
        f = db + suffix
        if os.path.exists(f + ".durable"):  # stays: the disk still holds it
            shutil.copyfile(f + ".durable", f)
        elif os.path.exists(f):
            os.remove(f)

def stored_sequence():
    c = sqlite3.connect(db)
    try:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "corrupt database"
        row = c.execute("SELECT sequence FROM reports WHERE node_id = 'a-kma01'").fetchone()
        return row[0] if row else 0
    finally:
        c.close()  # checkpoints and removes the WAL, beside the shim: sync the model
        for suffix in DB_FILES:
            f = db + suffix
            if os.path.exists(f):
                shutil.copyfile(f, f + ".durable")
            elif os.path.exists(f + ".durable"):
                os.remove(f + ".durable")

lost = []
for k in range(kills):
    time.sleep(random.uniform(0.15, 0.6))
    p.send_signal(signal.SIGKILL)
    p.wait()
    if mode == "powercut":
        acked = state["acked_seq"]
        power_cut()
        lost.append(max(0, acked - stored_sequence()))
    p = start()
# After the last restart the agent's reports must get through again.
resumed = state["acked_reports"]
for _ in range(100):
    if state["acked_reports"] > resumed + 2:
        break
    time.sleep(0.05)
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
print("%s x%d, reports acknowledged %d (last sequence %d, stored %d, counted %d), "
      "nodes acknowledged %d, failed requests %d" % (mode, kills, state["acked_reports"],
      state["acked_seq"], stored, counted, len(state["acked_nodes"]), state["errors"]))
if mode == "powercut":
    print("acknowledged reports lost per power cut: %s (total %d)" % (lost, sum(lost)))
assert state["acked_reports"] > 0 and state["acked_nodes"], "no load got through"
assert state["acked_reports"] > resumed, "no report accepted after the last restart"
assert stored >= state["acked_seq"], "the last acknowledged report is lost"
if mode == "kill":
    assert counted >= state["acked_reports"], "acknowledged reports are not counted"
assert not missing, "acknowledged nodes lost: %s" % missing[:5]
assert p.returncode == 0, p.returncode
