#!/bin/sh
# The incident's recovery on a product where deleting the entry and QuickStart are manual
# (board sim-manual for a-kma01), and a gate that does not open:
#  - u-kma02's key service is down, so rebooting a-kma02 would leave nobody serving: the
#    plan waits, then pauses saying which gate failed and what it saw; a-kma02 is never
#    rebooted; kmactl run exits 1;
#  - with the key service back, resume: the reboot runs, then the plan stops at the
#    manual delete_entry with the board's instruction; confirming another step is refused;
#  - a QuickStart confirmed but never done is not taken on trust: the plan pauses again;
#  - the operator gets a token (kmactl node token), QuickStarts at the appliance, resumes:
#    the plan finishes and the cluster is healthy.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=1
# The closed gate pauses the plan when it outlasts this; every step that should pass must
# finish well within it on a loaded machine.
SC_STEP_TIMEOUT=60
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

# plan_is EXPR: bounded wait until a Python expression over the current plan p holds.
plan_is() {
	n=0
	while :; do
		curl -sS --cacert "$P/ca.pem" --cert "$P/alice.pem" --key "$P/alice.key" \
			"https://localhost:$CPORT/v1/plans/current" >"$T/p.json" 2>/dev/null &&
			python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); s=p["steps"]; sys.exit(0 if eval(sys.argv[2]) else 1)' \
				"$T/p.json" "$1" 2>/dev/null && return 0
		n=$((n + 1))
		[ $n -lt 3000 ] || { cat "$T/p.json"; fail "plan never reached: $1"; }
		sleep 0.1
	done
}

sc_pki
sc_coord_start
sc_cluster a-kma01:sim-manual a-kma02 u-kma02
bench_quickstart a-kma01 >/dev/null
wedge a-kma02
echo "keystore offline" >"$demo/u-kma02/sim/health"
until_ok 30 sh -c "\"$ctl\" status | grep u-kma02 | grep -q 'DOWN: keystore offline'"
until_ok 60 sh -c "\"$ctl\" diagnose >\"$demo/d\"; grep -q node_not_rejoined \"$demo/d\" && grep -q node_refused \"$demo/d\""

# One verdict: a-kma02 reports well (enrolled, key service up) but refuses its peers; status
# says so, as diagnose does, the status page's data and /metrics too.
expect_exit 1 "$ctl" status
grep '^a-kma02 ' "$T/out" | grep -q "NOT HEALTHY: node_refused" ||
	fail "kmactl status does not call a-kma02 unhealthy: $(grep '^a-kma02 ' "$T/out")"
expect_grep "not healthy (kmactl diagnose says why)" "$T/out"
curl -sS --cacert "$P/ca.pem" --cert "$P/alice.pem" --key "$P/alice.key" \
	"https://localhost:$CPORT/metrics" >"$T/metrics" || fail "metrics"
expect_grep 'kma_coord_node_healthy{node_id="a-kma02"} 0' "$T/metrics"
ok "a node that reports well but refuses its peers is not healthy in kmactl status and /metrics"

expect_exit 0 "$ctl" plan
expect_grep "MANUAL" "$T/out"
expect_grep "In the cluster management console" "$T/out"
expect_grep "u-kma02: key service unhealthy (keystore offline)" "$T/out"
ok "kmactl plan: the board's manual steps with their instructions; the closed gate and why"

expect_exit 1 "$ctl" run --yes
expect_grep "plan 1 paused" "$T/out"
expect_grep "gate before the step not met for more than $SC_STEP_TIMEOUT s: u-kma02: key service unhealthy (keystore offline)" "$T/out"
[ ! -f "$demo/a-kma02/sim/reboots" ] || fail "a-kma02 was rebooted through a closed gate"
expect_exit 1 "$ctl" status
expect_grep "recovery plan 1: paused" "$T/out"
curl -sS --cacert "$P/ca.pem" --cert "$P/alice.pem" --key "$P/alice.key" \
	"https://localhost:$CPORT/metrics" >"$T/metrics" || fail "metrics"
expect_grep 'kma_coord_plan_state{state="paused"} 1' "$T/metrics"
expect_grep 'kma_coord_plan_steps{state="active"} 1' "$T/metrics"
ok "a closed gate pauses the plan with what it saw; nothing was disrupted; kmactl run exits 1"

# run again while it is paused: no new proposal, no "nothing to recover", but what to do.
expect_exit 1 "$ctl" run --yes
expect_grep "Plan 1, started by alice, is paused: step 1 (reboot a-kma02): gate before" "$T/out"
expect_grep "kmactl resume goes on with it, kmactl abort ends it." "$T/out"
grep -q "Nothing to recover" "$T/out" && fail "run on a paused plan said nothing to recover"
ok "kmactl run on a paused plan says so and how to go on"

rm "$demo/u-kma02/sim/health"
expect_exit 0 "$ctl" resume
"$ctl" follow >"$T/follow1.out" 2>&1 &
F1=$!
# A second operator follows too, then presses Ctrl-C: told the plan goes on, and how to
# look again; the plan is not touched.
"$ctl" follow >"$T/follow2.out" 2>&1 &
F2=$!
until_ok 30 grep -q "step 1 reboot a-kma02" "$T/follow2.out"
kill -INT "$F2"
rc=0
wait "$F2" || rc=$?
[ "$rc" = 130 ] || fail "kmactl follow interrupted exited $rc, want 130"
expect_grep "stopped following plan 1; it goes on without us (kmactl follow to look again" \
	"$T/follow2.out"
ok "Ctrl-C on kmactl follow says the plan goes on and how to follow it again (exit 130)"
plan_is 's[1]["phase"] == "confirm"'
[ "$(cat "$demo/a-kma02/sim/reboots")" = 1 ] || fail "a-kma02 not rebooted once"
# What the operator following the plan is told, before anyone confirms.
until_ok 30 grep -q "MANUAL STEP: In the cluster management console" "$T/follow1.out"
expect_grep "kmactl confirm 2" "$T/follow1.out"
expect_exit 1 "$ctl" confirm 5
expect_grep "not waiting for a confirmation" "$T/err"
expect_exit 0 "$ctl" confirm 2
plan_is 's[4]["phase"] == "confirm"'
ok "resumed: a-kma02 rebooted once; the manual delete_entry waited for kmactl confirm 2 (confirm 5 refused)"

# Confirmed, but the QuickStart never happened: the enrolment check says so.
expect_exit 0 "$ctl" confirm 5
wait "$F1" && fail "kmactl follow exited 0 on a paused plan"
plan_is 'p["state"] == "paused" and "waiting for the QuickStart enrolment" in p["detail"]'
ok "a QuickStart confirmed but not done pauses the plan instead of going on"

expect_exit 0 "$ctl" node token a-kma01
sed -n 's/^token: //p' "$T/out" >"$T/token"
expect_exit 0 "$AGENT" -c "$demo/a-kma01/agent.conf" quickstart --node-id a-kma01 --token-file "$T/token"
expect_exit 0 "$ctl" resume
expect_exit 0 "$ctl" follow
expect_grep "The cluster is healthy." "$T/out"
expect_exit 0 "$ctl" history
expect_grep "alice        confirmed" "$T/out"
grep -Eq '^20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9] UTC  plan 1 ' "$T/out" ||
	fail "history lines carry no date and zone: $(head -n 2 "$T/out")"
grep -q "step 0" "$T/out" && fail "history shows 'step 0' for the plan's own events"
ok "with the QuickStart done at the appliance and the plan resumed, it finishes healthy"
grep -q "$(cat "$T/token")" "$demo/coord.log" "$demo"/*/agent.log && fail "a token is in a log"
ok "the token is in no log"
