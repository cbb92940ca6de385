#!/bin/sh
# Directives end to end: a real kma-agent on a sim appliance reporting to a stand-in
# coordinator (tests/tools/fakecoord.py: Python's ssl module, client certificates from the
# test PKI; the reply built with protobuf-c by tests/mkdirective) that sends directives.
# Shown: key-service health and the board's recovery modes in reports, the sim's wedge
# fault refusing connections until a reboot, a leased REBOOT re-executing the agent (same
# pid, new boot ID) exactly once, refusals with their reason, the record surviving a
# restart, FACTORY_RESET erasing the identity while the agent goes on reporting, and a
# QuickStart cut short by a crash never being redone.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

TOOL="$KMA_BUILD_DIR/tests/mkdirective"
P="$T/pki"
F="$T/fake"
mkdir -p "$F"
pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator certificate"

CPORT=$(free_port)
start_bg "$T/fake.log" python3 "$KMA_SOURCE_DIR/tests/tools/fakecoord.py" "$CPORT" \
	"$P/coord.pem" "$P/coord.key" "$P/ca.pem" "$F" "$TOOL"
wait_for_line "$T/fake.log" "serving on 127.0.0.1:$CPORT"

make_sim n1 SIM-BOARD-0001
SIM="$T/n1/sim"
STATE="$T/n1/state"
C="$T/n1/agent.conf"
MPORT=$(free_port)
cat >>"$C" <<CONF

[mesh]
listen = 127.0.0.1:$MPORT

[coordinator]
url = https://localhost:$CPORT/
report_interval = 1
ca = $P/ca.pem
CONF
expect_exit 0 "$AGENT" -c "$C" identity import --key "$P/a-kma01.key" --cert "$P/a-kma01.pem" \
	--ca "$P/ca.pem"

LOG="$T/agent.log"
start_bg "$LOG" "$AGENT" -c "$C" run
APID=$BG_PID

# last_report: the newest report as $T/last.json.
last_report() {
	tail -n 1 "$F/reports.jsonl" >"$T/last.json" 2>/dev/null
}
# wait_report EXPR [SECONDS]: bounded wait for a report (newer than any seen so far by
# this function) for which the Python expression over j is true; it is left in $T/last.json.
SEEN=0
wait_report() {
	python3 - "$F/reports.jsonl" "$1" "${2:-30}" "$SEEN" >"$T/match" <<'PY' || {
import json, sys, time
path, expr, limit, seen = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3]), int(sys.argv[4])
while time.time() < limit:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        lines = []
    for n, l in enumerate(lines[seen:], seen + 1):
        j = json.loads(l)
        if eval(expr):
            print(n)
            print(l)
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
		tail -n 3 "$F/reports.jsonl" >&2
		tail -n 20 "$LOG" >&2
		fail "no report with $1"
	}
	SEEN=$(head -n 1 "$T/match")
	tail -n 1 "$T/match" >"$T/last.json"
}
# directives LINE...: what the fake coordinator sends from now on (atomically replaced).
directives() {
	printf '%s\n' "$@" >"$F/directives.tmp"
	mv "$F/directives.tmp" "$F/directives"
}
count() { # count PATTERN FILE: lines of FILE with the fixed string PATTERN
	grep -cF -- "$1" "$2"
}

# ---- health and recovery modes in every report ----
wait_report "j['health'] is not None"
expect_jsons "$T/last.json" "j['node_id']" a-kma01 "j['client_cn']" a-kma01 \
	"j['health']['healthy']" True "j['health']['detail']" ok "j['health']['checked_at'] > 0" True \
	"j['phase']" 2 "j['last_directive']" None "j['fencing_token']" 0 \
	"[s['step'] for s in j['recovery']]" \
	"['reboot', 'delete_entry', 'factory_reset', 'add_entry', 'quickstart', 'join']" \
	"[s['manual'] for s in j['recovery']]" "[False, False, False, False, False, False]"
BOOT0=$(json_get "$T/last.json" "j['boot_id']")
ok "reports carry key-service health and the board's recovery modes"

echo "key store locked" >"$SIM/health"
wait_report "j['health'] and not j['health']['healthy']"
expect_json "$T/last.json" "j['health']['detail']" "key store locked"
wait_for_line "$LOG" "key service: unhealthy: key store locked"
# three more checks (one a second): the change is logged once, not once per check
wait_report "j['health'] and not j['health']['healthy']" 5
wait_report "j['health'] and not j['health']['healthy']" 5
wait_report "j['health'] and not j['health']['healthy']" 5
[ "$(count "key service: unhealthy" "$LOG")" = 1 ] || fail "health change logged more than once"
rm "$SIM/health"
wait_report "j['health'] and j['health']['healthy']"
wait_for_line "$LOG" "key service: healthy again (ok)"
ok "a health change reaches the coordinator at once and is logged once"

# ---- the wedge fault: the listener refuses until a reboot ----
PROBE="$AGENT probe --ca $P/ca.pem --cert $P/u-kma02.pem --key $P/u-kma02.key --timeout 3 --json"
wait_listen "$MPORT"
touch "$SIM/wedge"
kill -HUP "$APID"
wait_for_line "$LOG" "mesh: listener wedged"
$PROBE "127.0.0.1:$MPORT" >"$T/probe.json" 2>"$T/probe.err"
expect_json "$T/probe.json" "j['cause']" tcp_refused
wait_report "j['sequence'] > 0" 5
ok "with sim/wedge the agent's listener refuses connections (tcp_refused) and it still reports"

# ---- REBOOT with a valid lease: re-exec, new boot ID, exactly once ----
NOW=$(date +%s)
directives "r1 1 a-kma01 10 $((NOW + 600))"
wait_report "j['boot_id'] != '$BOOT0'" 30
expect_jsons "$T/last.json" "j['last_directive']['id']" r1 "j['last_directive']['ok']" True \
	"j['last_directive']['kind']" 1 "j['last_directive']['done_at'] > 0" True \
	"j['last_directive']['detail'].startswith('rebooted: boot ID ')" True \
	"j['fencing_token']" 10 "j['phase']" 2
BOOT1=$(json_get "$T/last.json" "j['boot_id']")
[ "$(cat "$SIM/reboots")" = 1 ] || fail "reboots = $(cat "$SIM/reboots"), want 1"
kill -0 "$APID" || fail "the agent's pid is gone after the reboot"
[ "$(count "starting: board sim" "$LOG")" = 2 ] || fail "the agent did not start exactly twice"
[ -e "$SIM/wedge" ] && fail "the reboot left the wedge"
wait_listen "$MPORT"
$PROBE "127.0.0.1:$MPORT" >"$T/probe.json" 2>"$T/probe.err"
[ "$(json_get "$T/probe.json" "j['cause']")" != tcp_refused ] || fail "still refused after reboot"
ok "a leased REBOOT re-executes the agent (same pid) with a new boot ID; the reboot cleared the wedge"

# The coordinator keeps sending r1 until it sees the result; it is never done again.
wait_report "j['sequence'] > 0" 5
wait_report "j['sequence'] > 0" 5
wait_report "j['sequence'] > 0" 5
expect_jsons "$T/last.json" "j['last_directive']['id']" r1 "j['boot_id']" "$BOOT1"
[ "$(cat "$SIM/reboots")" = 1 ] || fail "r1 rebooted again"
[ "$(count "simulated reboot done" "$LOG")" = 1 ] || fail "more than one reboot in the log"
ok "the same directive re-sent does not reboot again"

# ---- refusals: the reason in last_directive, nothing done, fencing token kept ----
NOW=$(date +%s)
directives "r1 1 a-kma01 10 $((NOW + 600))" "x1 1 a-kma01 11 $((NOW - 10))"
wait_report "j['last_directive']['id'] == 'x1'"
expect_jsons "$T/last.json" "j['last_directive']['ok']" False "j['fencing_token']" 10 \
	"j['last_directive']['detail'].startswith('refused: the lease expired at')" True \
	"j['last_directive']['done_at'] > 0" True
directives "x2 1 u-kma02 12 $((NOW + 600))"
wait_report "j['last_directive']['id'] == 'x2'"
expect_jsons "$T/last.json" "j['last_directive']['ok']" False "j['fencing_token']" 10 \
	"j['last_directive']['detail']" "refused: the lease is for node 'u-kma02', not for us (a-kma01)"
directives "x3 2 a-kma01 10 $((NOW + 600))"
wait_report "j['last_directive']['id'] == 'x3'"
expect_jsons "$T/last.json" "j['last_directive']['ok']" False "j['fencing_token']" 10 \
	"j['last_directive']['kind']" 2 \
	"j['last_directive']['detail']" \
	"refused: stale fencing token 10: not above 10, the highest this node accepted"
directives "x4 3 a-kma01 13 $((NOW + 600))"
wait_report "j['last_directive']['id'] == 'x4'"
expect_jsons "$T/last.json" "j['fencing_token']" 10 \
	"j['last_directive']['detail'].startswith('refused: quickstart needs an enrolment token')" True
directives "x5 2 - 0 0"
wait_report "j['last_directive']['id'] == 'x5'"
expect_json "$T/last.json" "j['last_directive']['detail']" \
	"refused: factory_reset needs a lease and none came with it"
[ "$(cat "$SIM/reboots")" = 1 ] || fail "a refused directive rebooted"
[ -f "$STATE/identity.rec" ] || fail "a refused factory reset erased the identity"
# r1 listed beside x1 (a coordinator that still lists a done directive) is not looked at again
[ "$(count "directive x1 (reboot): refused: the lease expired" "$LOG")" = 1 ] ||
	fail "x1 was handled more than once"
if grep -qF "directive r1 (reboot): refused" "$LOG"; then fail "r1 was handled again"; fi
expect_grep "directive x3 (factory_reset): refused: stale fencing token" "$LOG"
ok "expired lease, other node, stale fencing token, no token, no lease: refused with the reason"

directives "h1 6 - 0 0"
wait_report "j['last_directive']['id'] == 'h1'"
expect_jsons "$T/last.json" "j['last_directive']['ok']" True "j['fencing_token']" 10 \
	"j['last_directive']['detail']" holding
ok "HOLD needs no lease and is acknowledged"

# ---- the record survives a restart ----
kill -TERM "$APID"
wait "$APID" || fail "agent did not stop cleanly"
[ "$(stat -c %a "$STATE/directive")" = 600 ] || fail "directive record is not 0600"
LOG="$T/agent2.log"
start_bg "$LOG" "$AGENT" -c "$C" run
APID=$BG_PID
SEEN=$(wc -l <"$F/reports.jsonl")
wait_report "j['sequence'] == 1"
expect_jsons "$T/last.json" "j['last_directive']['id']" h1 "j['fencing_token']" 10 \
	"j['boot_id']" "$BOOT1"
ok "after a restart the first report carries the persisted result and fencing token"

# ---- FACTORY_RESET: identity erased, still reporting as unprovisioned ----
NOW=$(date +%s)
directives "f1 2 a-kma01 20 $((NOW + 600))"
wait_report "j['last_directive']['id'] == 'f1' and j['last_directive']['done_at'] > 0"
expect_jsons "$T/last.json" "j['last_directive']['ok']" True "j['state']" 1 \
	"j['node_id']" a-kma01 "j['client_cn']" a-kma01 "j['fencing_token']" 20 "j['phase']" 2 \
	"j['last_directive']['detail']" "identity erased; waiting for a QuickStart"
[ -e "$STATE/identity.rec" ] && fail "identity record still there"
[ -f "$STATE/directive" ] || fail "the factory reset erased the directive record"
wait_report "j['state'] == 1" 5
wait_for_line "$LOG" "still reporting to the coordinator as a-kma01"
ok "FACTORY_RESET erases the identity; the agent goes on reporting, unprovisioned"

# ---- QUICKSTART: the enrolment's error is reported; a crash during it is not redone ----
echo refuse >"$F/enroll"
directives "q1 3 a-kma01 21 $((NOW + 600)) one-time-token-q1"
wait_report "j['last_directive']['id'] == 'q1' and j['last_directive']['done_at'] > 0"
expect_jsons "$T/last.json" "j['last_directive']['ok']" False "j['fencing_token']" 21 \
	"'enrolment refused by the fake coordinator' in j['last_directive']['detail']" True
if grep -q "one-time-token" "$LOG"; then fail "the enrolment token is in the log"; fi
ok "a failed QuickStart is reported with the coordinator's reason; the token is never logged"

echo hang >"$F/enroll"
directives "q2 3 a-kma01 22 $((NOW + 600)) one-time-token-q2"
wait_for_line "$LOG" "directive q2 (quickstart): accepted"
wait_for_line "$F/enroll.log" "hang"
kill -KILL "$APID"
wait "$APID" 2>/dev/null
LOG="$T/agent3.log"
start_bg "$LOG" "$AGENT" -c "$C" run
APID=$BG_PID
wait_for_line "$LOG" "directive q2 (quickstart): failed: did not finish: the agent stopped during the quickstart; not retried"
wait_for_line "$LOG" "coordinator: not reporting: no identity"
sleep 2
[ "$(count hang "$F/enroll.log")" = 1 ] || fail "the QuickStart was tried again after the crash"
kill -TERM "$APID"
wait "$APID" || fail "agent did not stop cleanly"
ok "a QuickStart cut short by a crash is reported as unfinished and not redone"
