#!/bin/sh
# Detection latency: from a node's identity change (QuickStarted at the bench with a
# certificate the cluster never enrolled, its agent started again) to the coordinator's
# diagnosis naming it (node_not_rejoined), on the simulated three-node cluster with the
# default probe interval (30 s) and report interval (30 s): the detection must come from
# events (the restarted node connecting to its peers, their reports), not from periods.
# The time includes the bench QuickStart itself (openssl key, CSR and certificate, import,
# agent start: a few hundred ms), so it is an upper bound.
# Usage: bench/detection_latency.sh BUILD_DIR [RUNS]
set -eu
build=$(cd "${1:-build-bench}" && pwd)
runs=${2:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT

ms() { date +%s%3N; }

printf '%-5s %s\n' run detection_ms
total=0
for i in $(seq 1 "$runs"); do
	(
		demo="$top/run$i"
		SC_REPORT_INTERVAL=30
		. "$src/scripts/simcluster.sh" >/dev/null
		sc_pki
		sc_coord_start
		for n in a-kma01 a-kma02 u-kma02; do
			appliance "$n" "SIM-$n"
			# the defaults: probe every 30 s, report every 30 s
			sed -i '/^probe_interval/d; s/^report_interval = 1$/report_interval = 30/' \
				"$demo/$n/agent.conf"
			enrol "$n" >/dev/null
			start "$n"
		done
		until_ok 120 "$ctl" mesh
		t0=$(ms)
		bench_quickstart a-kma01 >/dev/null
		until_ok 120 sh -c "\"$ctl\" diagnose | grep -q node_not_rejoined"
		echo $(($(ms) - t0)) >"$top/ms$i"
	)
	d=$(cat "$top/ms$i")
	printf '%-5s %s\n' "$i" "$d"
	total=$((total + d))
done
printf '\nmean over %s runs: %s ms from the QuickStart to the diagnosis (target: under 2000 ms)\n' \
	"$runs" $((total / runs))
