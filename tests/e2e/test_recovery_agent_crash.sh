#!/bin/sh
# The agent being recovered dies in the middle of its rejoin (the sim board's crash points
# kill it with SIGKILL at the worst moment), and is restarted as systemd would:
#  1. right after its identity is erased by the factory reset, before it could say so: it
#     comes back with no identity, so it cannot report; the plan pauses saying what it
#     waits for; the operator QuickStarts it by hand (runbook) and resumes;
#  2. right after its QuickStart enrolled a new certificate (token spent), before the
#     identity was stored: the enrolment happened, the node has nothing; the join step
#     pauses; the operator QuickStarts again and resumes;
#  3. during the join's stabilisation: it restarts with its new identity and the join
#     completes on its own.
# Each time the cluster ends healthy, no directive is sent twice, no step is done twice,
# and no step's effect is taken on trust.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
# Scenarios 1 and 2 end in a step that times out (the node cannot do it): that is what
# pauses the plan. Every other step must finish well within it on a loaded machine (a
# second build on the same two cores, a sanitizer build): 8 s was missed there.
SC_STEP_TIMEOUT=60
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

# restart_after_death NODE: waits for the agent to die (bounded), starts it again.
restart_after_death() {
	n=0
	while kill -0 "$(cat "$demo/$1/pid")" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 600 ] || fail "$1's agent did not die at its crash point"
		sleep 0.1
	done
	start "$1"
}

# quickstart_by_hand NODE: the runbook's manual QuickStart with a fresh token.
quickstart_by_hand() {
	expect_exit 0 "$ctl" node token "$1"
	sed -n 's/^token: //p' "$T/out" >"$T/token"
	expect_exit 0 "$AGENT" -c "$demo/$1/agent.conf" quickstart --node-id "$1" \
		--token-file "$T/token"
}

# journal_check PLAN: one directive per disruptive step, each step done once.
journal_check() {
	"$ctl" history --json >"$T/j.json" || fail "history"
	python3 - "$T/j.json" "$1" "$2" <<'PY' || { cat "$T/j.json"; fail "the journal of plan $1"; }
import json, sys, collections
plan, want = int(sys.argv[2]), json.loads(sys.argv[3])
e = [x for x in json.load(open(sys.argv[1]))["entries"] if x["plan_id"] == plan]
d = collections.Counter(x["step"] for x in e if x["event"] == "directive")
done = collections.Counter(x["step"] for x in e if x["event"] == "done" and x["step"])
assert {str(k): v for k, v in d.items()} == want, ("directives per step", dict(d), want)
assert done == {s: 1 for s in range(1, 6)}, ("each step done once", done)
PY
}

sc_pki
sc_coord_start
sc_cluster a-kma01 a-kma02 u-kma02

# 1. Killed right after the factory reset erased the identity.
bench_quickstart a-kma01 >/dev/null
until_ok 60 sh -c "\"$ctl\" diagnose | grep -q node_not_rejoined"
echo factory_reset_erased >"$demo/a-kma01/sim/crash_at"
"$ctl" run --yes >"$T/run1.out" 2>&1 &
R=$!
restart_after_death a-kma01
wait "$R" && fail "kmactl run succeeded although a-kma01 died mid-step"
expect_grep "plan 1 paused" "$T/run1.out"
expect_grep "waiting for the node to" "$T/run1.out"
[ -f "$demo/a-kma01/state/identity.rec" ] && fail "a-kma01 still has an identity after the reset"
quickstart_by_hand a-kma01
expect_exit 0 "$ctl" resume
expect_exit 0 "$ctl" follow
expect_grep "The cluster is healthy." "$T/out"
journal_check 1 '{"2": 1}'
ok "killed after the erase: the plan paused, a QuickStart by hand and resume finished it; nothing ran twice"

# 2. Killed after the QuickStart's enrolment, before the identity was stored.
bench_quickstart a-kma01 >/dev/null
until_ok 60 sh -c "\"$ctl\" diagnose | grep -q node_not_rejoined"
echo quickstart_enrolled >"$demo/a-kma01/sim/crash_at"
"$ctl" run --yes >"$T/run2.out" 2>&1 &
R=$!
restart_after_death a-kma01
wait "$R" && fail "kmactl run succeeded although a-kma01 died mid-QuickStart"
expect_grep "plan 2 paused" "$T/run2.out"
expect_grep "a-kma01 presents serial (none)" "$T/run2.out"
quickstart_by_hand a-kma01
expect_exit 0 "$ctl" resume
expect_exit 0 "$ctl" follow
expect_grep "The cluster is healthy." "$T/out"
journal_check 2 '{"2": 1, "4": 1}'
ok "killed after the enrolment: the join paused on the missing identity, a QuickStart by hand finished it"

# 3. Killed -9 from outside while the join stabilises: it comes back and the join completes.
bench_quickstart a-kma01 >/dev/null
until_ok 60 sh -c "\"$ctl\" diagnose | grep -q node_not_rejoined"
"$ctl" run --yes >"$T/run3.out" 2>&1 &
R=$!
until_ok 60 sh -c "\"$ctl\" status | grep -q 'step 5 join a-kma01'"
kill -9 "$(cat "$demo/a-kma01/pid")"
start a-kma01
wait "$R" || { cat "$T/run3.out"; fail "the plan did not finish after a-kma01 was killed mid-join"; }
expect_grep "The cluster is healthy." "$T/run3.out"
journal_check 3 '{"2": 1, "4": 1}'
ok "killed mid-join: restarted, the join completed by itself"
