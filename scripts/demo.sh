#!/bin/sh
# make demo: the OKM incident on a simulated cluster of three key-management appliances,
# and its recovery as a guided, sequenced plan.
#
#  1. the cluster is built the way an operator would: kma-coord (cluster CA, enrolment),
#     three sim appliances enrolled with one-time tokens (kmactl node add, kma-agent
#     quickstart), every pair authenticating both ways;
#  2. the incident: a-kma01 gets a new disk, system board and CPU and is QuickStarted at
#     the bench with a certificate the cluster never enrolled; a-kma02's listener wedges
#     (the sim board's stand-in for the incident's full listen queue: connection refused
#     until a reboot);
#  3. kmactl mesh and kmactl diagnose show what the logs of the incident only hinted at,
#     and name both culprits;
#  4. kmactl plan proposes the incident's fix: a rolling reboot of a-kma02 first, then the
#     factory reset and rejoin of a-kma01; kmactl run executes it one node at a time,
#     each step gated and stabilised, and exits 0 only when the cluster is healthy.
# Usage: scripts/demo.sh BUILD_DIR
# KMA_DEMO_STABILISE (default 10) is the stabilisation window in seconds (60 in production).
set -eu

build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
demo="${KMA_DEMO_DIR:-$build/demo}"
SC_STABILISE="${KMA_DEMO_STABILISE:-10}"
. "$src/scripts/simcluster.sh"

say "The cluster CA (held by kma-coord), its server certificate, and an operator"
sc_pki
sc_coord_start
echo "kma-coord serving on 127.0.0.1:$CPORT (log: $demo/coord.log)"

say "Three appliances join the cluster: entry, one-time token, QuickStart"
for n in a-kma01 a-kma02 u-kma02; do
	appliance "$n" "SIM-$n"
	enrol "$n"
	start "$n"
done
until_ok 30 "$ctl" mesh
run "$ctl" status
run "$ctl" mesh
run "$ctl" diagnose

say "a-kma01: disk, system board and CPU replaced; QuickStarted at the bench, never joined"
bench_quickstart a-kma01

say "a-kma02: its listen queue fills up; peers get 'Connection refused'"
wedge a-kma02

say "What the cluster sees now"
until_ok 60 sh -c "\"$ctl\" diagnose >\"$demo/diagnose.out\"; grep -q node_not_rejoined \"$demo/diagnose.out\" && grep -q node_refused \"$demo/diagnose.out\""
run "$ctl" mesh || true
run "$ctl" diagnose || true
echo "u-kma02's agent log says:"
grep "peer a-kma01\|peer a-kma02" "$demo/u-kma02/agent.log" | tail -n 3
echo "a-kma01's agent log says:"
grep "peer u-kma02\|not enrolled\|enrolled serial" "$demo/a-kma01/agent.log" | tail -n 2

say "The plan: what recovery would do, step by step, and why"
run "$ctl" plan

say "The recovery, one node at a time (kmactl run --yes; at a terminal it asks first)"
start_s=$(date +%s)
run "$ctl" run --yes
echo "(recovery took $(($(date +%s) - start_s)) s with ${KMA_DEMO_STABILISE:-10} s stabilisation windows)"

say "Afterwards"
run "$ctl" history
run "$ctl" mesh
run "$ctl" diagnose
echo "a-kma02 rebooted $(cat "$demo/a-kma02/sim/reboots") time(s); a-kma01 QuickStarted generation $("$agent" -c "$demo/a-kma01/agent.conf" identity --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')"

say "Done: the cluster is healthy"
echo "Logs and state are in $demo."
