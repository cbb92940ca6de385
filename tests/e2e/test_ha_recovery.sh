#!/bin/sh
# The incident's two-culprit recovery under two kma-coord instances on a 3-member etcd
# cluster (docs/ha.md), the active one killed -9 at each step boundary: right after a
# directive goes out, after the reboot is seen, after the enrolment is removed, after the
# factory reset's and the QuickStart's directives, while the join stabilises; one etcd
# member killed mid-plan and started again. Each time the standby takes over from etcd's
# state and the plan goes on; agents and kmactl (two URLs each) follow the active one.
# At the end: the cluster is healthy, every step ran exactly once, never two directives out
# at once, a-kma02 rebooted exactly once, the journal is whole.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/etcd.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
SC_HA=2
SC_ELECTION_TTL=5
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

etcd_need_store
etcd_start 3
sc_pki
sc_coord_start 1
sc_coord_start 2
[ "$(sc_coord_active)" = 1 ] || fail "instance 1 does not lead"
sc_cluster a-kma01 a-kma02 u-kma02
sc_incident
ok "the incident under two coordinators on etcd: a-kma01 never rejoined, a-kma02 refuses"

"$ctl" run --yes >"$T/run.out" 2>&1 &
RUN_PID=$!

# failover_after N EVENT: waits for the journal's Nth entry of EVENT, kill -9 of the active
# instance, waits until the other serves (the time it took in $T/failovers), starts the
# killed one again (a standby).
kills=0
other_serves() { _a=$(sc_coord_active) && [ "$_a" != "$1" ]; }
failover_after() {
	journal_wait "$ctl" "$1" "$2" "$RUN_PID" "$T/run.out"
	was=$(sc_coord_active) || fail "no instance serves before kill $((kills + 1))"
	t0=$(date +%s%3N)
	kill -9 "$(cat "$demo/coord$was.pid")"
	until_ok 30 other_serves "$was"
	echo "$(($(date +%s%3N) - t0))" >>"$T/failovers"
	sc_coord_start "$was"
	kills=$((kills + 1))
}
failover_after 1 directive # reboot of a-kma02 out, not yet seen back
failover_after 1 rebooted  # a-kma02 back, gate not yet met
etcd_kill "$(etcd_leader || echo 2)"
ok "one etcd member killed mid-plan (its leader)"
failover_after 1 removed   # a-kma01's enrolment removed, peers not yet told
etcd_restart "$(seq 1 3 | while read -r i; do [ -n "$(_etcd_get ETCD_PID "$i")" ] || echo "$i"; done | head -n 1)"
failover_after 2 directive # factory reset out
failover_after 3 directive # QuickStart out: the agent may find no one to enrol with for a while
failover_after 2 stable    # join stabilising
wait "$RUN_PID" || { cat "$T/run.out"; fail "kmactl run did not end well"; }
expect_grep "The cluster is healthy." "$T/run.out"
ok "the active coordinator killed -9 $kills times mid-plan; the standby took over each time and the plan finished"

"$ctl" history --json >"$T/j.json" || fail "history"
journal_check "$T/j.json" "{1: 1, 3: 1, 5: 1}" 6
[ "$(cat "$demo/a-kma02/sim/reboots")" = 1 ] || fail "a-kma02 rebooted $(cat "$demo/a-kma02/sim/reboots") times"
until_ok 60 "$ctl" diagnose
ok "every step ran once, one directive at a time, one reboot, the journal whole; healthy"
echo "# failover times after kill -9 (ms, election_ttl 5 s): $(tr '\n' ' ' <"$T/failovers")"
