#!/bin/sh
# kill -9 of the coordinator in the middle of the incident's recovery, again and again:
# right after each step starts, after each directive goes out, after the reboot is seen,
# after the enrolment is removed, while a step stabilises. Each time kma-coord restarts on
# the same database and the plan resumes where it was. kmactl run, started once, waits the
# crashes out (an agent that finds the coordinator down for its QuickStart tries again,
# within its lease: nothing was spent). At the end: the cluster is healthy, every step ran
# exactly once (one directive per disruptive step, one "done" per step), never two
# directives out at once, and a-kma02 rebooted exactly once.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

sc_pki
sc_coord_start
sc_cluster a-kma01 a-kma02 u-kma02
sc_incident
ok "the incident: a-kma01 never rejoined, a-kma02 refuses"

"$ctl" run --yes >"$T/run.out" 2>&1 &
RUN_PID=$!

# crash_after N EVENT [DOWN]: waits for the journal's Nth entry of EVENT, then kill -9, and
# a restart DOWN seconds later (default 0.3).
crashes=0
crash_after() {
	journal_wait "$ctl" "$1" "$2" "$RUN_PID" "$T/run.out"
	kill -9 "$(cat "$demo/coord.pid")"
	sleep "${3:-0.3}"
	sc_coord_start
	crashes=$((crashes + 1))
}
crash_after 1 directive # reboot of a-kma02 out, not yet seen back
crash_after 1 rebooted  # a-kma02 back, gate not yet met
crash_after 1 removed   # a-kma01's enrolment removed, peers not yet told
crash_after 2 directive # factory reset out
crash_after 3 directive 3 # QuickStart out: the agent may find no one to enrol with
crash_after 2 stable    # join stabilising
wait "$RUN_PID" || { cat "$T/run.out"; fail "kmactl run did not end well"; }
expect_grep "The cluster is healthy." "$T/run.out"
ok "kma-coord killed -9 $crashes times mid-plan; kmactl run waited it out and the plan finished"

"$ctl" history --json >"$T/j.json" || fail "history"
journal_check "$T/j.json" "{1: 1, 3: 1, 5: 1}" 6
[ "$(cat "$demo/a-kma02/sim/reboots")" = 1 ] || fail "a-kma02 rebooted $(cat "$demo/a-kma02/sim/reboots") times"
# An agent backing off from the restarted coordinator (with jitter) may be silent a while
# on a loaded machine: healthy within a bound, not at one instant.
n=0
until "$ctl" diagnose >"$T/d"; do
	n=$((n + 1))
	[ $n -lt 600 ] || { cat "$T/d"; fail "not healthy at the end"; }
	sleep 0.1
done
ok "every step ran once, one directive at a time, one reboot; healthy"
# The one-time token lived in the database only while its QuickStart needed it.
python3 -c 'import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM steps WHERE secret != \"\"").fetchone()[0]
sys.exit(1 if n else 0)' "$demo/coord.db" || fail "an enrolment token is still stored after the plan"
ok "no enrolment token left in the database"
