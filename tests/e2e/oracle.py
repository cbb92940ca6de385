#!/usr/bin/env python3
"""The randomized fault oracle (issue 14, item 6).

For each seed: a real cluster (the test PKI of pki.sh, kma-coord with its SQLite file,
nodes added through the operator API as cluster.sh adds them, kma-agent daemons on sim
boards, each in its own network namespace behind a router as cluster.sh's netns helpers
build it), a random combination of faults drawn from the seed alone, injected before the
nodes ever report ("start") or on a healthy cluster ("mid": the node's agent is stopped,
what the fault changes is changed, the agent is started again). Then the diagnosis is
polled about once a second and checked against the injected truth:

  named   every fault has a finding with its expected pattern and culprit (or an
          `ambiguous` finding lists its node among the candidates);
  safety  after the warm-up, on every poll and at the end: no error finding blames a
          node without a fault (a path "A <-> B" only the blocked pair), and the plan
          has no disruptive step (reboot, factory_reset, quickstart, delete_entry,
          add_entry, join) for a node without a fault.

How each fault is made (the node is X; `identity import` checks that the certificate
verifies to the trust store it is given, now, which shapes three of them):
  not_rejoined   a second cluster-CA certificate for X, new key and serial, not enrolled
  wedged         the sim board's `wedge` file (the listener closes; the agent reports)
  foreign_ca     a leaf for X from pki.sh's domain CA, sent with that root; X trusts both
                 CAs (it must, for the import), so only its peers distrust it
  wrong_id       a cluster-CA certificate for a node ID not in the cluster (kma9N)
  other_id       a cluster-CA certificate, never enrolled, for another node's ID; the
                 borrowed ID is always a node without a fault
  expired        X's enrolled certificate valid 2020..2021 (mid-run: the enrolled one
                 reissued with the same key and serial), imported under faketime
  not_yet_valid  the same, valid 2090..2100
  stale_trust    X's trust store is the domain CA only; its own (enrolled) certificate is
                 sent with the cluster CA cross-signed by the domain CA so that it imports
  stopped        X's agent killed (SIGKILL), mid-run only
  blocked_pair   the router (this run's namespace) drops A <-> B both ways with
                 `ip rule ... blackhole`, so their probes of each other time out
Draws keep at least two nodes without a fault (fewer faults than drawn then): the
patterns are told from what the other nodes see, and one witness is not "every peer".
Safety is checked from the warm-up on: every node the coordinator can hear has probed
every peer (the coordinator holds its outbound observation), plus one more probe period
with its jitter and timeout and one report, so every peer was probed twice.

A run ends when every fault is named and the findings stayed the same for 3 polls, or
KMA_ORACLE_DEADLINE seconds (60) after the last injection. Each run is a child process
in new network, mount and PID namespaces (unshare): when it ends, however it ends, the
kernel ends every process of the run and the namespaces vanish with it.

  oracle.py --count 30 [--from 1]    seeds 1..30: a line per run, then the summary
  oracle.py --seeds 3,8,12           those seeds
  oracle.py --list --count 30        only the scenarios the seeds draw (nothing runs)
  oracle.py --report ...             exit 0 whatever the runs found (the summary only)

Exit status: 0 when every run named every fault with no safety violation, 1 otherwise
(and when a run could not be carried out), 2 for bad usage or a host that cannot run it.
Needs KMA_BUILD_DIR (kma-agent, kma-coord, kmactl) and KMA_SOURCE_DIR, root or
unprivileged user namespaces, iproute2, openssl and faketime (scripts/deps.sh oracle).
Python 3 standard library only.
"""

import argparse
import glob
import http.client
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

# ---- what the cluster is configured with (as cluster.sh configures it) ----

PROBE_INTERVAL = 2  # s, [mesh] probe_interval; the agent adds up to 20 % jitter
PROBE_TIMEOUT = 2  # s, [mesh] probe_timeout
REPORT_INTERVAL = 1  # s, the agents' and the coordinator's report_interval
HUB = "10.77.0.1"  # the coordinator, on the router's loopback
CPORT = 8443  # the coordinator's port (the namespaces are the run's own)
MESH_PORT = 9443  # every agent's listener, at 10.77.I.2
POLL = 1.0  # s between two polls of the diagnosis
STABLE_POLLS = 3  # the same findings this many polls in a row: settled

# ---- the catalogue ----

KINDS = ("not_rejoined", "wedged", "foreign_ca", "wrong_id", "other_id", "expired",
         "not_yet_valid", "stale_trust", "stopped", "blocked_pair")
# A node that never ran cannot be stopped; everything else makes sense either way.
WHEN = {k: ("start", "mid") for k in KINDS}
WHEN["stopped"] = ("mid",)
EXPECT = {
    "not_rejoined": ("node_not_rejoined",),
    "wedged": ("node_refused",),
    "foreign_ca": ("node_untrusted",),
    "wrong_id": ("node_identity_wrong",),
    "other_id": ("node_identity_wrong",),
    "expired": ("node_cert_expired",),
    "not_yet_valid": ("node_cert_not_yet_valid",),
    "stale_trust": ("node_stale_trust",),
    "stopped": ("node_down", "node_silent"),
    "blocked_pair": ("pair_failure",),
}
DISRUPTIVE = ("reboot", "factory_reset", "quickstart", "delete_entry", "add_entry", "join")
# Faults whose node the coordinator cannot hear from (its client certificate is not the
# enrolled one, or not valid): the warm-up does not wait for their probes.
SILENT_AT_START = ("not_rejoined", "foreign_ca", "wrong_id", "other_id", "expired",
                   "not_yet_valid")
NOW0, NOW1 = "20000101000000Z", "21200101000000Z"
BAD_VALIDITY = {  # openssl -startdate/-enddate, and a clock at which the import accepts it
    "expired": ("20200101000000Z", "20210101000000Z", "2020-06-01 00:00:00"),
    "not_yet_valid": ("20900101000000Z", "21000101000000Z", "2095-01-01 00:00:00"),
}


def libfaketime():
    """The path of libfaketime (Debian's multiarch directory), or None."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") +
                   glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


def node_id(i):
    return "kma%02d" % i


def ghost_id(i):
    """A node ID that is not in the cluster (clusters have at most 7 nodes)."""
    return "kma%02d" % (90 + i)


def scenario(seed):
    """What seed draws: pure, so a seed names the same run on every machine.

    3..7 nodes and 1..3 faults on distinct nodes, but at least two nodes keep no fault:
    every pattern is recognised from what the other nodes see, and with fewer than two
    witnesses no "every peer" can be told from "one peer" (the draw is cut short then).
    KMA_ORACLE_SPARE=1 keeps only one: crowded shapes, where an honest diagnosis may have
    to say `ambiguous` (a seed draws another scenario then).
    """
    rng = random.Random(seed)
    n = rng.randint(3, 7)
    want = rng.randint(1, 3)
    ids = [node_id(i) for i in range(1, n + 1)]
    free = list(ids)
    budget = n - max(1, min(n - 1, int(os.environ.get("KMA_ORACLE_SPARE", "2"))))
    faults = []
    for _ in range(want):
        kinds = [k for k in KINDS if (2 if k == "blocked_pair" else 1) <= budget]
        if not kinds:
            break
        kind = rng.choice(kinds)
        nodes = sorted(rng.sample(free, 2 if kind == "blocked_pair" else 1))
        for x in nodes:
            free.remove(x)
        budget -= len(nodes)
        faults.append({"kind": kind, "nodes": nodes, "when": rng.choice(WHEN[kind])})
    for f in faults:
        if f["kind"] == "other_id":  # the ID it borrows is an innocent node's
            f["borrowed"] = rng.choice(sorted(free))
    return {"seed": seed, "n": n, "ids": ids, "faults": faults, "wanted": want}


def fault_label(f):
    if f["kind"] == "blocked_pair":
        who = "%s<->%s" % tuple(f["nodes"])
    else:
        who = f["nodes"][0]
    if f["kind"] == "other_id":
        who += " as " + f["borrowed"]
    return "%s %s@%s" % (f["kind"], who, f["when"])


def scenario_label(s):
    return "%d nodes, faults [%s]" % (s["n"], ", ".join(fault_label(f) for f in s["faults"]))


# ---- judging one diagnosis (pure) ----

def finding_label(f):
    c = f.get("culprit") or ""
    if f.get("candidates"):
        c = "{%s}" % ",".join(f["candidates"])
    sev = f.get("severity", "")
    return "%s%s%s" % (f.get("pattern"), " " + c if c else "",
                       "" if sev == "error" else " (%s)" % sev)


def pair_of(culprit):
    if culprit and " <-> " in culprit:
        return frozenset(culprit.split(" <-> ", 1))
    return None


def naming(fault, findings):
    """'named', 'ambiguous' or None: how the findings name this fault."""
    if fault["kind"] == "blocked_pair":
        want = frozenset(fault["nodes"])
        ok = lambda f: pair_of(f.get("culprit")) == want
    else:
        ok = lambda f: f.get("culprit") == fault["nodes"][0]
    if any(f.get("pattern") in EXPECT[fault["kind"]] and ok(f) for f in findings):
        return "named"
    if any(f.get("pattern") == "ambiguous" and set(f.get("candidates") or ()) & set(fault["nodes"])
           for f in findings):
        return "ambiguous"
    return None


def explains(fault, f):
    return naming(fault, [f]) is not None


def cites(f, x):
    """Whether an evidence line of f is about node x (as observer or as peer)."""
    return any(e.startswith(x + " ") or (" " + x + ":") in e for e in f.get("evidence") or ())


def about(fault, findings):
    """The findings that concern the fault's nodes, whatever their pattern: those that
    name them, and those without a culprit (`unexplained`) whose evidence cites them."""
    nodes = set(fault["nodes"])
    out = []
    for f in findings:
        c = f.get("culprit") or ""
        if c in nodes or (pair_of(c) or set()) & nodes or set(f.get("candidates") or ()) & nodes:
            out.append(finding_label(f))
        elif not c and not f.get("candidates") and any(cites(f, x) for x in sorted(nodes)):
            out.append("%s citing %s" % (finding_label(f), ",".join(
                x for x in sorted(nodes) if cites(f, x))))
    return out


def generic(label, fault):
    """A finding's label with the fault's nodes as X (or A and B, and Y for a borrowed ID)."""
    names = ["A", "B"] if fault["kind"] == "blocked_pair" else ["X"]
    for x, n in zip(fault["nodes"], names):
        label = label.replace(x, n)
    if fault.get("borrowed"):
        label = label.replace(fault["borrowed"], "Y")
    return label


def safety(ids, faulted, pairs, diag, plan):
    """The violations in one diagnosis and plan: (what, the finding or step) pairs."""
    v = []
    for f in diag.get("findings", []):
        if f.get("severity") != "error":
            continue
        c = f.get("culprit") or ""
        p = pair_of(c)
        if p is not None:
            if p not in pairs:
                v.append(("%s blames the path %s" % (f.get("pattern"), c), f))
        elif c in ids and c not in faulted:
            v.append(("%s blames %s" % (f.get("pattern"), c), f))
    steps = {}  # node -> its disruptive steps, one violation per innocent node
    for s in (plan or {}).get("steps", []):
        if s.get("kind") in DISRUPTIVE and s.get("node_id") not in faulted:
            steps.setdefault(s.get("node_id"), []).append(s)
    for x, ss in sorted(steps.items()):
        v.append(("plan: %s of %s" % (", ".join(s["kind"] for s in ss), x), ss[0]))
    return v


def signature(diag):
    return sorted((f.get("pattern"), f.get("severity"), f.get("culprit") or "",
                   tuple(sorted(f.get("candidates") or ()))) for f in diag.get("findings", []))


# ---- one run, inside its own namespaces ----

class RunError(Exception):
    """The run could not be carried out as drawn (not a verdict on the diagnosis)."""


def log(msg):
    sys.stderr.write("%8.3f %s\n" % (time.monotonic() - T_START, msg))
    sys.stderr.flush()


T_START = time.monotonic()


class Agent:
    def __init__(self, run, i, x):
        self.run, self.i, self.id = run, i, x
        self.dir = os.path.join(run.dir, x)
        self.conf = os.path.join(self.dir, "agent.conf")
        self.log = os.path.join(run.dir, x + ".log")
        self.addr = "10.77.%d.2:%d" % (i, MESH_PORT)
        self.ns = "n%d" % i
        self.proc = None

    def make_sim(self):
        """lib.sh's make_sim and cluster.sh's agent_start configuration."""
        hw = os.path.join(self.dir, "sim", "hw")
        os.makedirs(hw)
        for name, value in (("board_serial", "SIM-" + self.id),
                            ("product_uuid", "4c4c4544-0042-3510-8052-b4c04f564d32"),
                            ("disk_serial", "WD-WCC4N1234567"),
                            ("cpu_id", "Intel(R) Xeon(R) CPU E5-2620 v4"),
                            ("mac", "00:10:e0:8c:2a:11")):
            with open(os.path.join(hw, name), "w") as f:
                f.write(value + "\n")
        with open(self.conf, "w") as f:
            f.write("[agent]\nstate_dir = %s/state\nhw_check_interval = 1\n\n"
                    "[board]\nname = sim\ndir = %s/board\nroot = %s/sim\n\n"
                    "[mesh]\nlisten = %s\nprobe_interval = %d\nprobe_timeout = %d\n\n"
                    "[coordinator]\nurl = https://%s:%d/\nreport_interval = %d\nca = %s/ca.pem\n"
                    % (self.dir, self.run.source, self.dir, self.addr, PROBE_INTERVAL,
                       PROBE_TIMEOUT, HUB, CPORT, REPORT_INTERVAL, self.run.pki))

    def identity_import(self, key, cert, ca, clock=None):
        cmd = [self.run.agent, "-c", self.conf, "identity", "import", "--key", key,
               "--cert", cert, "--ca", ca]
        env = dict(os.environ)
        if clock:  # the import checks validity now: install it at a time it was valid
            # libfaketime preloaded with a frozen clock, not the faketime wrapper: the
            # wrapper names its semaphore after its PID, which repeats in each run's PID
            # namespace, so one killed run would make every later import fail.
            env["LD_PRELOAD"] = libfaketime()
            env["FAKETIME"] = clock
            # Preloaded ahead of a sanitizer build's runtime (make sanitize). ASan's
            # allocator reads the monotonic clock when it maps a region, to schedule its
            # release to the OS: through libfaketime's clock_gettime, whose first call
            # resolves symbols with dlsym, which allocates under the allocator's lock, a
            # deadlock (every import hung in CI). Release to the OS off: no clock read.
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                                   ":verify_asan_link_order=0"
                                   ":allocator_release_to_os_interval_ms=-1").lstrip(":")
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, timeout=120)
        except subprocess.TimeoutExpired:
            raise RunError("identity import on %s (%s): no answer in 120 s" %
                           (self.id, os.path.basename(cert)))
        if r.returncode != 0:
            raise RunError("identity import on %s (%s): exit %d: %s" %
                           (self.id, os.path.basename(cert), r.returncode, r.stdout.strip()))

    def start(self):
        offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, self.run.agent, "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        # Up once it listens, or once it has closed its listener for the wedge.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            if "listening on " + self.addr in text or "listener wedged" in text:
                return
            if self.proc.poll() is not None:
                self.run.note("%s: the agent exited at start (exit %d): %s" % (
                    self.id, self.proc.returncode, text.strip().splitlines()[-1:]))
                return
            time.sleep(0.05)
        raise RunError("%s: the agent did not listen within 30 s" % self.id)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Run:
    def __init__(self, scen, rundir, build, source, deadline):
        self.s = scen
        self.ids = scen["ids"]
        self.dir = rundir
        self.build, self.source = build, source
        self.agent = os.path.join(build, "agent", "kma-agent")
        self.coord_bin = os.path.join(build, "coordinator", "kma-coord")
        self.ctl = os.path.join(build, "kmactl", "kmactl")
        self.pki = os.path.join(rundir, "pki")
        self.deadline_s = deadline
        self.agents = {x: Agent(self, i, x) for i, x in enumerate(self.ids, 1)}
        self.fault_of = {x: f for f in scen["faults"] for x in f["nodes"]}
        self.coord = None
        self.faulted, self.pairs = set(), set()
        self.warm = False
        self.violations = {}  # text -> [first seen (s after the last injection or -1), count]
        self.notes = []
        self.polls = []  # signatures
        self.last = None  # (diag, plan)
        self.next_poll = 0.0
        self.t_last = None
        self.ctx = None

    def note(self, text):
        log("note: " + text)
        self.notes.append(text)

    # -- helpers over the real programs --

    def sh(self, name, body):
        """Runs body after sourcing pki.sh and cluster.sh (their helpers, not reimplemented)."""
        path = os.path.join(self.dir, name + ".sh")
        with open(path, "w") as f:
            f.write('. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"\n'
                    '. "$KMA_SOURCE_DIR/tests/e2e/cluster.sh"\n'
                    'fail() { echo "oracle: $*" >&2; exit 1; }\n'
                    "T='%s'\n%s\n" % (self.dir, body))
        env = dict(os.environ, KMA_BUILD_DIR=self.build, KMA_SOURCE_DIR=self.source)
        try:
            r = subprocess.run(["sh", path], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise RunError("%s.sh: no answer in 300 s" % name)
        if r.returncode != 0:
            raise RunError("%s.sh: exit %d: %s" % (name, r.returncode, r.stdout.strip()[-800:]))

    def api(self, method, path, body=None):
        if self.ctx is None:
            self.ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "ca.pem"))
            self.ctx.load_cert_chain(os.path.join(self.pki, "alice.pem"),
                                     os.path.join(self.pki, "alice.key"))
        c = http.client.HTTPSConnection("localhost", CPORT, context=self.ctx, timeout=20)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = {"raw": data.decode(errors="replace")}
        return r.status, doc

    def get(self, path):
        st, doc = self.api("GET", path)
        if st != 200:
            raise RunError("GET %s: %d %s" % (path, st, doc))
        return doc

    def plan(self):
        r = subprocess.run([self.ctl, "-c", os.path.join(self.dir, "kmactl.conf"), "plan",
                            "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise RunError("kmactl plan --json: exit %d: %s" % (r.returncode, r.stderr.strip()))
        return json.loads(r.stdout)

    # -- building the cluster --

    def material(self, x, phase):
        """(key, cert, ca, clock) node x imports at the start, or after its mid-run fault."""
        i = self.ids.index(x) + 1
        P = self.pki
        f = self.fault_of.get(x)
        base = ("%s/node%d.key" % (P, i), "%s/node%d.pem" % (P, i), P + "/ca.pem", None)
        if not f or f["kind"] in ("wedged", "stopped", "blocked_pair"):
            return base
        if (phase == "start") != (f["when"] == "start"):
            return base  # before a mid-run fault, the node is as its peers
        k = f["kind"]
        if k == "not_rejoined":
            return ("%s/node%d-qs.key" % (P, i), "%s/node%d-qs.pem" % (P, i), P + "/ca.pem", None)
        if k == "foreign_ca":  # it presents the foreign root too, and trusts both CAs
            return ("%s/node%d-dom.key" % (P, i), "%s/node%d-dom-chain.pem" % (P, i),
                    P + "/trust-both.pem", None)
        if k == "wrong_id":
            return ("%s/node%d-wrong.key" % (P, i), "%s/node%d-wrong.pem" % (P, i),
                    P + "/ca.pem", None)
        if k == "other_id":
            return ("%s/node%d-other.key" % (P, i), "%s/node%d-other.pem" % (P, i),
                    P + "/ca.pem", None)
        if k in BAD_VALIDITY:
            name = "node%d" % i if f["when"] == "start" else "node%d-bad" % i
            return ("%s/%s.key" % (P, name), "%s/%s.pem" % (P, name), P + "/ca.pem",
                    BAD_VALIDITY[k][2])
        if k == "stale_trust":
            # Its own certificate is the cluster's (sent with the cluster CA cross-signed
            # by the foreign one, so that it verifies to the only CA the node trusts).
            return ("%s/node%d.key" % (P, i), "%s/node%d-xchain.pem" % (P, i),
                    P + "/domain-ca.pem", None)
        raise AssertionError(k)

    def make_pki(self):
        L = ["cluster_pki",
             # the agents reach the coordinator at the router's address (test_diagnosis_pair)
             "printf '[server_ns]\\nbasicConstraints = CA:FALSE\\nkeyUsage = critical, "
             "digitalSignature\\nextendedKeyUsage = serverAuth\\nsubjectAltName = DNS:localhost, "
             "IP:127.0.0.1, IP:%s\\n' >>\"$P/ca/ca.cnf\"" % HUB,
             'pki_sign "$P/ca" coord-ns "/O=Example Cluster/CN=kma-coord" server_ns '
             '5E4E4E4E00000002 "$NOW0" "$NOW1" || fail "the coordinator certificate"',
             'cat "$P/ca.pem" "$P/domain-ca.pem" >"$P/trust-both.pem"',
             # a second index for the cluster CA: a certificate with a serial already issued
             'pki_conf "$P/ca2" && cp "$P/ca.pem" "$P/ca.key" "$P/ca2/" || fail ca2']
        cross = False
        for i, x in enumerate(self.ids, 1):
            f = self.fault_of.get(x)
            k = f["kind"] if f else None
            if k in BAD_VALIDITY and f["when"] == "start":
                L.append('cluster_leaf node%d %s "$P/ca" %s %s' % ((i, x) + BAD_VALIDITY[k][:2]))
            else:
                L.append('cluster_leaf node%d %s "$P/ca"' % (i, x))
            if k == "not_rejoined":
                L.append('cluster_leaf node%d-qs %s "$P/ca"' % (i, x))
            elif k == "foreign_ca":
                L.append('cluster_leaf node%d-dom %s "$P/domain-ca"' % (i, x))
                L.append('cat "$P/node%d-dom.pem" "$P/domain-ca.pem" >"$P/node%d-dom-chain.pem"'
                         % (i, i))
            elif k == "wrong_id":
                L.append('cluster_leaf node%d-wrong %s "$P/ca"' % (i, ghost_id(i)))
            elif k == "other_id":
                L.append('cluster_leaf node%d-other %s "$P/ca"' % (i, f["borrowed"]))
            elif k in BAD_VALIDITY and f["when"] == "mid":
                # the enrolled certificate again (same key and serial), its validity bad
                L.append('cp "$P/node%d.key" "$P/node%d-bad.key"' % (i, i))
                L.append('pki_sign "$P/ca2" node%d-bad "/O=Example Cluster/CN=%s" leaf '
                         '"$(cat "$P/serial.node%d")" %s %s "$P" || fail node%d-bad'
                         % ((i, x, i) + BAD_VALIDITY[k][:2] + (i,)))
            elif k == "stale_trust":
                if not cross:
                    cross = True
                    L.append('cp "$P/ca.key" "$P/xca.key"')
                    L.append('pki_sign "$P/domain-ca" xca "/O=Example Cluster/CN=Example Cluster '
                             'CA" int 0C0000000000000000000000000000A1 "$NOW0" "$NOW1" "$P" '
                             '|| fail "the cross-signed cluster CA"')
                L.append('cat "$P/node%d.pem" "$P/xca.pem" >"$P/node%d-xchain.pem"' % (i, i))
        self.sh("certs", "\n".join(L))  # not *pki.sh: pki.sh runs itself then

    def start_coord(self):
        P = self.pki
        with open(os.path.join(self.dir, "coord.conf"), "w") as f:
            f.write("[coord]\nlisten = 0.0.0.0:%d\ndb = %s/coord.db\ncert = %s/coord-ns.pem\n"
                    "key = %s/coord-ns.key\nca = %s/ca.pem\noperator_ca = %s/opca.pem\n"
                    "report_interval = %d\n" % (CPORT, self.dir, P, P, P, P, REPORT_INTERVAL))
        with open(os.path.join(self.dir, "kmactl.conf"), "w") as f:
            f.write("[kmactl]\nurl = https://localhost:%d/\ncert = %s/alice.pem\n"
                    "key = %s/alice.key\nca = %s/ca.pem\n" % (CPORT, P, P, P))
        clog = os.path.join(self.dir, "coord.log")
        with open(clog, "ab") as out:
            self.coord = subprocess.Popen(
                [self.coord_bin, "-c", os.path.join(self.dir, "coord.conf")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.wait(lambda: "serving on 0.0.0.0:%d" % CPORT in open(clog).read(), 30,
                  "kma-coord serving", poll=False)

    def node_add(self, i, x):
        serial = open(os.path.join(self.pki, "serial.node%d" % i)).read().strip()
        st, doc = self.api("POST", "/v1/nodes", {
            "node_id": x, "name": x, "address": self.agents[x].addr, "enrolled_serial": serial})
        if st != 201:
            raise RunError("adding %s: %d %s" % (x, st, doc))

    def block(self, a, b):
        """The router drops everything between a and b, both ways (policy routes, as
        test_diagnosis_pair): their probes of each other time out."""
        ia, ib = self.ids.index(a) + 1, self.ids.index(b) + 1
        for s, d in ((ia, ib), (ib, ia)):
            r = subprocess.run(["ip", "rule", "add", "from", "10.77.%d.2" % s, "to",
                                "10.77.%d.2" % d, "blackhole"], stderr=subprocess.PIPE, text=True)
            if r.returncode:
                raise RunError("blocking %s <-> %s: %s" % (a, b, r.stderr.strip()))

    # -- waiting on events, polling as we go --

    def wait(self, pred, seconds, what, poll=True):
        deadline = time.monotonic() + seconds
        while True:
            if pred():
                return True
            if time.monotonic() >= deadline:
                raise RunError("timed out (%d s) waiting for %s" % (seconds, what))
            if poll and self.warm:
                self.tick()
            else:
                time.sleep(0.2)

    def tick(self):
        """One poll of the diagnosis and the plan, about once a second."""
        delay = self.next_poll - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_poll = time.monotonic() + POLL
        diag = self.get("/v1/diagnosis")
        plan = self.plan()
        self.last = (diag, plan)
        self.polls.append(signature(diag))
        if self.warm:
            t = -1 if self.t_last is None else round(time.monotonic() - self.t_last, 1)
            for v, what in safety(self.ids, self.faulted, self.pairs, diag, plan):
                if v not in self.violations:
                    log("VIOLATION at %s s: %s: %s" % (t, v, json.dumps(what)))
                    self.violations[v] = [t, 0, what]
                self.violations[v][1] += 1
        return diag, plan

    def warm_up(self):
        """Until every agent probed every peer at least twice: the coordinator holds an
        outbound observation from every node it can hear of every peer (the first probe),
        then one more probe period with its jitter and timeout, and a report."""
        at_start = {x for x, f in self.fault_of.items() if f["when"] == "start"}
        heard = [x for x in self.ids
                 if not (x in at_start and self.fault_of[x]["kind"] in SILENT_AT_START)]
        want = {(a, b) for a in heard for b in self.ids if a != b}

        def probed():
            have = {(o["node_id"], o["peer_id"]) for o in self.get("/v1/mesh")["observations"]
                    if o["direction"] == "outbound"}
            return want <= have
        try:
            self.wait(probed, 30, "every node's first probe of every peer", poll=False)
        except RunError as e:
            self.note("warm-up: %s; going on" % e)
        end = time.monotonic() + PROBE_INTERVAL * 1.2 + PROBE_TIMEOUT + REPORT_INTERVAL
        while time.monotonic() < end:
            self.tick()
        self.warm = True
        log("warm: safety is checked from now on")

    def baseline(self):
        """Before a mid-run fault: every node without a fault at start has reported as
        enrolled and authenticates every other such node (the cluster is healthy but
        for the faults at start)."""
        h = [x for x in self.ids if x not in self.faulted]
        missing = []

        def healthy():
            nodes = {n["node_id"]: n for n in self.get("/v1/nodes")["nodes"]}
            missing[:] = ["%s reported %s" % (x, (nodes[x].get("last_report") or {}).get(
                "state", "nothing")) for x in h
                if (nodes[x].get("last_report") or {}).get("state") != "enrolled"]
            obs = {(o["node_id"], o["peer_id"]): o["cause"]
                   for o in self.get("/v1/mesh")["observations"] if o["direction"] == "outbound"}
            missing.extend("%s -> %s %s" % (a, b, obs.get((a, b), "unseen"))
                           for a in h for b in h if a != b and obs.get((a, b)) != "ok")
            return not missing
        try:
            self.wait(healthy, 30, "a healthy cluster (but for the faults at start)")
            log("baseline: %s enrolled and mutually authenticated" % ", ".join(h))
        except RunError as e:
            # The faults at start keep innocent nodes from it (a safety matter, checked on
            # every poll): the mid-run faults go in all the same.
            self.note("%s: %s; injecting all the same" % (e, ", ".join(missing[:6])))

    # -- the faults --

    def inject(self, f, phase):
        k, nodes = f["kind"], f["nodes"]
        self.faulted.update(nodes)  # from the moment it is touched, a node is not innocent
        if k == "blocked_pair":
            self.pairs.add(frozenset(nodes))
            self.block(*nodes)
            return
        a = self.agents[nodes[0]]
        if phase == "start":
            if k == "wedged":
                open(os.path.join(a.dir, "sim", "wedge"), "w").close()
            return  # its identity is imported with the others
        if k == "stopped":
            a.stop(signal.SIGKILL)
            return
        a.stop()
        if k == "wedged":
            open(os.path.join(a.dir, "sim", "wedge"), "w").close()
        else:
            a.identity_import(*self.material(a.id, "mid"))
        a.start()

    # -- the run --

    def execute(self):
        s = self.s
        for a in self.agents.values():
            a.make_sim()
        self.make_pki()
        self.sh("netns", "netns_hub\n" + "\n".join(
            "netns_node %s %d" % (a.ns, a.i) for a in self.agents.values()))
        self.start_coord()
        for i, x in enumerate(self.ids, 1):
            self.node_add(i, x)
        for f in s["faults"]:
            if f["when"] == "start":
                self.inject(f, "start")
        for x in self.ids:
            self.agents[x].identity_import(*self.material(x, "start"))
        for x in self.ids:
            self.agents[x].start()
        log("cluster up: %s" % scenario_label(s))
        self.t_last = time.monotonic()
        self.warm_up()
        mids = [f for f in s["faults"] if f["when"] == "mid"]
        if mids:
            self.baseline()
            for f in mids:
                log("inject " + fault_label(f))
                self.inject(f, "mid")
            self.t_last = time.monotonic()
        log("injected; waiting for the diagnosis to settle (deadline %d s)" % self.deadline_s)
        deadline = self.t_last + self.deadline_s
        settled = None
        while time.monotonic() < deadline:
            diag, _ = self.tick()
            if (all(naming(f, diag.get("findings", [])) for f in s["faults"]) and
                    len(self.polls) >= STABLE_POLLS and
                    all(p == self.polls[-1] for p in self.polls[-STABLE_POLLS:])):
                settled = round(time.monotonic() - self.t_last, 1)
                break
        return settled

    def result(self, settled, error):
        diag, plan = self.last if self.last else ({"findings": []}, {"steps": []})
        findings = diag.get("findings", [])
        faults = []
        for f in self.s["faults"]:
            g = dict(f)
            g["named"] = naming(f, findings)
            g["seen"] = about(f, findings)
            faults.append(g)
        # Findings that name no fault: about a node with a fault (side effects of it,
        # e.g. node_silent of a node that cannot report), or about no faulty node at all.
        extra, side = [], []
        for x in findings:
            if any(explains(f, x) for f in self.s["faults"]):
                continue
            if any(about(f, [x]) for f in self.s["faults"]) and (x.get("culprit") or
                                                                  x.get("candidates")):
                side.append(finding_label(x))
            else:
                extra.append(finding_label(x))
        outside = [finding_label(x) for x in findings
                   if (x.get("culprit") or "") and pair_of(x["culprit"]) is None and
                   x["culprit"] not in self.ids]
        return {"seed": self.s["seed"], "n": self.s["n"], "faults": faults,
                "violations": [{"what": k, "first_at": v[0], "polls": v[1], "detail": v[2]}
                               for k, v in self.violations.items()],
                "extra": extra, "side": side, "outside": outside, "notes": self.notes,
                "error": error, "settled_after": settled, "polls": len(self.polls),
                "final": {"diagnosis": diag, "plan": plan}}

    def teardown(self):
        for a in self.agents.values():
            if a.proc and a.proc.poll() is None:
                a.proc.terminate()
        if self.coord and self.coord.poll() is None:
            self.coord.terminate()
        procs = [a.proc for a in self.agents.values() if a.proc]
        procs += [self.coord] if self.coord else []
        end = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def child(args):
    """One run, as PID 1 of its own namespaces: writes result.json into its directory."""
    def stop(sig, _frame):
        raise SystemExit(128 + sig)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    scen = scenario(args.child)
    run = Run(scen, args.dir, args.build, args.source, args.deadline)
    settled, error = None, None
    t0 = time.monotonic()
    try:
        log("seed %d: %s" % (scen["seed"], scenario_label(scen)))
        settled = run.execute()
        # the end is judged on a final poll, safety included
        if run.warm:
            run.tick()
    except RunError as e:
        error = str(e)
        log("run error: " + error)
    except SystemExit:
        error = "interrupted"
        raise
    finally:
        try:
            res = run.result(settled, error)
            res["seconds"] = round(time.monotonic() - t0, 1)
            with open(os.path.join(args.dir, "result.json"), "w") as f:
                json.dump(res, f, indent=1)
        finally:
            run.teardown()
    return 0


# ---- the driver: one child per seed, then the summary ----

def ns_command():
    cmd = ["unshare", "--net", "--mount", "--propagation", "private", "--pid", "--fork",
           "--kill-child", "--mount-proc"]
    if os.getuid() != 0:
        cmd[1:1] = ["--user", "--map-root-user"]
    return cmd


def leftovers(rundir):
    """Processes whose command line names the run's directory (none, by construction)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if rundir.encode() in f.read():
                    found.append(int(p))
        except OSError:
            pass
    return found


def end_run(p):
    """Ends the run under p: its PID 1 cleans up on SIGTERM; if it does not, SIGKILL ends the
    namespace."""
    inner = []
    try:
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            inner = [int(x) for x in f.read().split()]
    except OSError:
        pass
    for pid in inner:
        os.kill(pid, signal.SIGTERM)
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        for pid in inner:
            os.kill(pid, signal.SIGKILL)
        p.kill()
        p.wait()


def run_seed(seed, args, verbose):
    rundir = tempfile.mkdtemp(prefix="kma-oracle-s%d-" % seed)
    cmd = ns_command() + [sys.executable, os.path.abspath(__file__), "--child", str(seed),
                          "--dir", rundir, "--build", args.build, "--source", args.source,
                          "--deadline", str(args.deadline)]
    out = None if verbose else open(os.path.join(rundir, "oracle.log"), "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                         start_new_session=True)
    # A run that outlives its own deadlines by far is stuck somewhere (a child without a
    # timeout): it is ended and fails, rather than taking the whole budget of ctest with it.
    cap = args.deadline + 240
    try:
        p.wait(cap)
    except subprocess.TimeoutExpired:
        end_run(p)
        if out:
            out.write(b"oracle: no result within %d s: run ended\n" % cap)
    except KeyboardInterrupt:
        end_run(p)
        if args.keep == "none":
            shutil.rmtree(rundir, ignore_errors=True)
        else:
            print("    kept " + rundir, flush=True)
        raise
    finally:
        if out:
            out.close()
    try:
        with open(os.path.join(rundir, "result.json")) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        res = {"seed": seed, "n": scenario(seed)["n"], "faults": scenario(seed)["faults"],
               "violations": [], "extra": [], "side": [], "outside": [], "notes": [],
               "error": "no result (exit %s): %s" % (p.returncode, e), "settled_after": None}
    res.setdefault("seconds", round(time.monotonic() - t0, 1))
    left = leftovers(rundir)
    if left:
        res["notes"].append("processes left running: %s (killed)" % left)
        res.setdefault("error", None)
        res["error"] = (res["error"] or "") + " processes left running"
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    res["dir"] = rundir
    return res


def failed(res):
    return bool(res.get("error") or res["violations"] or
                any(not f.get("named") for f in res["faults"]))


def run_line(res):
    fl = res["faults"]
    named = sum(1 for f in fl if f.get("named"))
    amb = sum(1 for f in fl if f.get("named") == "ambiguous")
    if res["violations"]:
        saf = "VIOLATION (%s)" % "; ".join("%s, first at %s s, %d polls" % (
            v["what"], v["first_at"], v["polls"]) for v in res["violations"])
    else:
        saf = "ok"
    line = "seed %d: %d nodes, faults [%s]: named %d/%d (ambiguous %d), safety %s, extra [%s]" % (
        res["seed"], res["n"], ", ".join(fault_label(f) for f in fl), named, len(fl), amb, saf,
        ", ".join(res["extra"]))
    if res.get("side"):
        line += ", about faulty nodes also [%s]" % ", ".join(res["side"])
    line += " (%.1f s%s)" % (res["seconds"], ", settled %.1f s after the last injection" %
                             res["settled_after"] if res.get("settled_after") is not None else "")
    for f in fl:
        if not f.get("named") and not res.get("error"):
            line += "\n    not named: %s; seen: %s" % (
                fault_label(f), "; ".join(f.get("seen") or ["nothing about it"]))
    if res.get("error"):
        line += "\n    RUN ERROR: " + res["error"]
    for n in res.get("notes", []):
        line += "\n    note: " + n
    if res.get("outside"):
        line += "\n    culprits outside the cluster: " + "; ".join(res["outside"])
    return line


def shape(f, faults):
    others = sorted("%s@%s" % (g["kind"], g["when"]) for g in faults if g is not f)
    return (f["kind"], f["when"], ", ".join(others) or "alone")


def summary(results):
    L = []
    runs = [r for r in results if not r.get("error")]
    errors = [r for r in results if r.get("error")]
    full = [r for r in runs if all(f.get("named") for f in r["faults"])]
    viol = [r for r in results if r["violations"]]
    L.append("== oracle summary: %d runs, %d fully named, %d with safety violations%s, "
             "%d run errors%s" % (
                 len(results), len(full), len(viol),
                 " (seeds %s)" % ",".join(str(r["seed"]) for r in viol) if viol else "",
                 len(errors),
                 " (seeds %s)" % ",".join(str(r["seed"]) for r in errors) if errors else ""))
    tally = {}
    for r in runs:
        for f in r["faults"]:
            t = tally.setdefault((f["kind"], f["when"]), [0, 0, 0])
            t[0] += 1
            t[1] += 1 if f.get("named") else 0
            t[2] += 1 if f.get("named") == "ambiguous" else 0
    L.append("named per fault kind and time (named/injected, [of them ambiguous]):")
    L.append("  %-14s %-12s %-12s" % ("kind", "at start", "mid-run"))
    for k in KINDS:
        cells = []
        for w in ("start", "mid"):
            t = tally.get((k, w))
            cells.append("-" if not t else "%d/%d%s" % (t[1], t[0], " [%d]" % t[2] if t[2] else ""))
        L.append("  %-14s %-12s %-12s" % (k, cells[0], cells[1]))
    unnamed = {}
    for r in runs:
        for f in r["faults"]:
            if not f.get("named"):
                u = unnamed.setdefault(shape(f, r["faults"]), {"seeds": {}, "seen": {}})
                u["seeds"][r["seed"]] = 1
                for s in f.get("seen") or ["nothing about it"]:
                    u["seen"][generic(s, f)] = 1
    if unnamed:
        L.append("not named (fault, when, the other faults of the run -> findings seen "
                 "instead; X = the fault's node, A and B a blocked pair's, Y a borrowed ID):")
        for (k, w, o), u in sorted(unnamed.items()):
            L.append("  %s@%s with [%s]: seeds %s; seen: %s" % (
                k, w, o, ",".join(map(str, u["seeds"])), "; ".join(u["seen"])))
    for r in viol:
        for v in r["violations"]:
            d = v.get("detail") or {}
            L.append("safety VIOLATION seed %d: %s (first %s s after the last injection or "
                     "the start, %d polls): %s" % (r["seed"], v["what"], v["first_at"],
                                                   v["polls"], d.get("summary") or
                                                   d.get("reason") or ""))
    extra = {}
    for r in runs:
        for e in r["extra"]:
            extra.setdefault(e.split(" ")[0], set()).add(r["seed"])
    if extra:
        L.append("findings no fault explains (pattern: seeds): " + "; ".join(
            "%s: %s" % (p, ",".join(map(str, sorted(s)))) for p, s in sorted(extra.items())))
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", help="comma-separated seeds")
    ap.add_argument("--count", type=int, help="this many seeds from --from")
    ap.add_argument("--from", dest="first", type=int, default=1, help="the first seed (1)")
    ap.add_argument("--list", action="store_true", help="print the scenarios only")
    ap.add_argument("--report", action="store_true",
                    help="print only the summary (each run's line on stderr) and exit 0")
    ap.add_argument("--keep", choices=("none", "failed", "all"),
                    default=os.environ.get("KMA_ORACLE_KEEP", "none"),
                    help="keep the runs' directories (logs, databases)")
    ap.add_argument("--deadline", type=float,
                    default=float(os.environ.get("KMA_ORACLE_DEADLINE", "60")),
                    help="seconds after the last injection (KMA_ORACLE_DEADLINE, 60)")
    ap.add_argument("--build", default=os.environ.get("KMA_BUILD_DIR"),
                    help="the build directory (KMA_BUILD_DIR)")
    ap.add_argument("--source", default=os.environ.get(
        "KMA_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))),
        help="the source tree: board/, tests/e2e/ (KMA_SOURCE_DIR, else this file's)")
    ap.add_argument("-v", "--verbose", action="store_true", help="the runs' progress on stderr")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args)

    if args.seeds:
        seeds = [int(x) for x in args.seeds.replace(" ", ",").split(",") if x]
    elif args.count:
        seeds = list(range(args.first, args.first + args.count))
    else:
        ap.error("say which seeds: --seeds LIST or --count N [--from S]")
    if args.list:
        for s in seeds:
            print("seed %d: %s" % (s, scenario_label(scenario(s))))
        return 0
    if not args.build:
        ap.error("KMA_BUILD_DIR (or --build) names the build directory")
    args.build, args.source = os.path.abspath(args.build), os.path.abspath(args.source)
    missing = [p for p in ("agent/kma-agent", "coordinator/kma-coord", "kmactl/kmactl")
               if not os.access(os.path.join(args.build, p), os.X_OK)]
    missing += [c for c in ("unshare", "ip", "openssl") if not shutil.which(c)]
    if not libfaketime():
        missing.append("libfaketime")
    if missing:
        sys.stderr.write("oracle: missing %s (build first; scripts/deps.sh oracle)\n" %
                         ", ".join(missing))
        return 2

    results = []
    try:
        for s in seeds:
            res = run_seed(s, args, args.verbose)
            results.append(res)
            out = sys.stderr if args.report else sys.stdout
            print(run_line(res), file=out, flush=True)
            bad = failed(res)
            if args.keep == "all" or (args.keep == "failed" and bad):
                print("    kept " + res["dir"], file=out, flush=True)
            else:
                shutil.rmtree(res["dir"], ignore_errors=True)
    except KeyboardInterrupt:
        print("interrupted: the run in progress was ended", flush=True)
        if results:
            print(summary(results))
        return 130
    if len(results) > 1 or args.report:
        print(summary(results), flush=True)
    if args.report:
        return 0
    return 1 if any(failed(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
