#!/bin/sh
# Agent footprint on the simulated cluster: one agent among N (default 21: a 20-node peer
# table) with the default intervals (probes every 30 s, reports every 30 s, hardware check
# every 60 s). Prints its steady RSS, its CPU and its wake-ups (voluntary context switches)
# per minute over WINDOW seconds (default 60) after the mesh settled, and the binaries'
# stripped sizes. Usage: bench/agent_footprint.sh BUILD_DIR [NODES] [WINDOW]
# As root with SC_AGENT_USER=kma-agent (or nobody), the agents split privileges
# (hal/privsep.h) and the root helper's memory is printed too.
set -eu
build=$(cd "${1:-build-bench}" && pwd)
nodes=${2:-21}
window=${3:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
demo=$(mktemp -d)
trap 'sc_cleanup; rm -rf "$demo"' EXIT
[ -z "${SC_AGENT_USER:-}" ] || chmod 755 "$demo" # the agents' user reads their configuration
SC_REPORT_INTERVAL=30
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; rm -rf "$demo"' EXIT

sc_pki
sc_coord_start
i=0
while [ $i -lt "$nodes" ]; do
	n=$(printf 'n%02d' $i)
	appliance "$n" "SIM-$n"
	sed -i '/^probe_interval/d; s/^report_interval = 1$/report_interval = 30/; /^hw_check_interval/d' \
		"$demo/$n/agent.conf"
	enrol "$n" >/dev/null
	start "$n"
	i=$((i + 1))
done
until_ok 300 "$ctl" mesh
pid=$(cat "$demo/n00/pid")
sleep 5 # let the start-up probes and reports finish
field() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
cs0=$(field voluntary_ctxt_switches)
t0=$(ticks)
sleep "$window"
cs1=$(field voluntary_ctxt_switches)
t1=$(ticks)
hz=$(getconf CLK_TCK)
rss=$(field VmRSS)
anon=$(field RssAnon)
file=$(field RssFile)
hwm=$(field VmHWM)
peers=$((nodes - 1))
echo "one agent with $peers peers, default intervals, over ${window} s:"
printf "  RSS %s kB (peak %s kB; %s kB anonymous, %s kB file-backed: mostly shared libraries), target under 4096 kB\n" "$rss" "$hwm" "$anon" "$file"
pss=$(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup")
printf '  PSS %s kB (shared pages divided among the processes that map them: here the other\n      agents of this bench too, which an appliance does not have)\n' "$pss"
helper=$(pgrep -P "$pid" -x kma-agent-priv || true)
if [ -n "$helper" ]; then
	printf '  privileged helper: RSS %s kB, %s kB anonymous, PSS %s kB\n' \
		"$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$helper/status")" \
		"$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$helper/status")" \
		"$(awk '$1 == "Pss:" { print $2 }' "/proc/$helper/smaps_rollup")"
fi
printf '  CPU %s ms per minute\n' $(((t1 - t0) * 1000 * 60 / hz / window))
printf '  wake-ups %s per minute (voluntary context switches)\n' $(((cs1 - cs0) * 60 / window))
for b in agent/kma-agent coordinator/kma-coord coordinator/kmactl; do
	strip -o "$demo/stripped" "$build/$b"
	printf '  %-22s %8s bytes stripped (x86_64, mbedTLS and the rest shared)\n' \
		"$(basename "$b")" "$(stat -c %s "$demo/stripped")"
done
