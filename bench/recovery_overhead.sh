#!/bin/sh
# Recovery overhead: what the coordinator adds per step beyond the node's own reboot and the
# stabilisation window. Runs the incident's recovery (scripts/demo.sh: reboot of a-kma02,
# then factory reset and rejoin of a-kma01, six steps) with 0 s windows RUNS times, and
# prints the plan's wall time per run and per step. With no window, a step's time is the
# scheduling overhead (tick, directive delivery with the next report, the result with the
# one after) plus the sim reboot (an exec) or the QuickStart (a P-256 key and a CSR).
# Usage: bench/recovery_overhead.sh BUILD_DIR [RUNS]
set -eu
build=$(cd "${1:-build-bench}" && pwd)
runs=${2:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-5s %-10s %-14s %s\n' run plan_s per_step_s "steps (s): reboot delete reset add quickstart join"
total=0
for i in $(seq 1 "$runs"); do
	KMA_DEMO_STABILISE=0 KMA_DEMO_DIR="$out/demo" sh "$src/scripts/demo.sh" "$build" \
		>"$out/run.txt" 2>&1 || { tail -n 40 "$out/run.txt"; exit 1; }
	# The journal has second resolution; the plan's own timestamps bracket all six steps.
	plan=$(sed -n 's/^plan 1 done: all 6 steps done in \([0-9]*\) s$/\1/p' "$out/run.txt")
	steps=$(sed -n 's/^ *[1-6]\. [a-z_]* *[a-z0-9-]* *done *\([0-9]*\)s.*/\1/p' "$out/run.txt" | tr '\n' ' ')
	printf '%-5s %-10s %-14s %s\n' "$i" "$plan" "$(awk "BEGIN { printf \"%.2f\", $plan / 6 }")" "$steps"
	total=$((total + plan))
done
printf '\nmean over %s runs: %s s per plan, %s s per step (target: under 1 s per step)\n' \
	"$runs" "$(awk "BEGIN { printf \"%.2f\", $total / $runs }")" \
	"$(awk "BEGIN { printf \"%.2f\", $total / $runs / 6 }")"
