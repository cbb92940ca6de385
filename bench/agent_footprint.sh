#!/bin/sh
# Agent footprint on the simulated cluster: one agent among N (default 21: a 20-node peer
# table) with the default intervals (probes every 30 s, reports every 30 s, hardware check
# every 60 s). Prints its steady RSS (target: 4096 kB), where it goes (per mapping: each
# library, the heap, the stack, anonymous maps), its CPU and its wake-ups (voluntary
# context switches) per minute over WINDOW seconds (default 60) after the mesh settled,
# and the binaries' stripped sizes.
# Usage: bench/agent_footprint.sh BUILD_DIR [NODES] [WINDOW]
# FOOTPRINT_AGENTS="LABEL=PATH ..." measures other kma-agent binaries (another profile, such
# as Debian's libcurl beside an image's; an earlier revision) in the same run, as the same
# node, each from its own start, and prints each one's RSS as a ratio to the first's.
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

variants="${FOOTPRINT_LABEL:-this}=$agent ${FOOTPRINT_AGENTS:-}"
for v in $variants; do
	[ -x "${v#*=}" ] || { echo "not an executable: ${v#*=}" >&2; exit 66; }
done

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

# restart BINARY: n00 again, from BINARY; waits until it probed every peer and reported.
restart() {
	old=$(cat "$demo/n00/pid")
	kill "$old" 2>/dev/null || true
	n=0
	while kill -0 "$old" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 300 ] || { echo "n00 does not stop" >&2; exit 1; }
		sleep 0.1
	done
	: >"$demo/n00/agent.log"
	"$1" -c "$demo/n00/agent.conf" >>"$demo/n00/agent.log" 2>&1 &
	echo $! >"$demo/n00/pid"
	pids="$pids $!"
	until_ok 120 grep -q "reporting to" "$demo/n00/agent.log"
	until_ok 300 "$1" -c "$demo/n00/agent.conf" mesh
	sleep 5 # let the start-up probes and reports finish
}

# breakdown PID: resident kB per mapping (a library by name, [heap], [stack], anonymous:
# thread stacks and blocks malloc maps on their own), largest first
breakdown() {
	awk '
	/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "anon" : $6); sub(".*/", "", name)
		sub("[.]so.*", "", name); sub("^\\[", "", name); sub("\\]$", "", name); next }
	$1 == "Rss:" { rss[name] += $2 }
	END { for (n in rss) if (rss[n] > 0) printf "%d %s\n", rss[n], n }' "/proc/$1/smaps" |
		sort -rn | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 } END { print "" }'
}

field() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
peers=$((nodes - 1))
echo "one agent with $peers peers, default intervals, each measured over ${window} s from its own start:"
first=""
for v in $variants; do
	label=${v%%=*}
	restart "${v#*=}"
	pid=$(cat "$demo/n00/pid")
	curlv=$(sed -n 's/.*reporting to .* (libcurl \(.*\))$/\1/p' "$demo/n00/agent.log" | head -n 1)
	cs0=$(field voluntary_ctxt_switches)
	t0=$(ticks)
	sleep "$window"
	cs1=$(field voluntary_ctxt_switches)
	t1=$(ticks)
	rss=$(field VmRSS)
	[ -n "$first" ] || first=$rss
	printf '  %s (libcurl %s):\n' "$label" "$curlv"
	target=""
	if [ "$label" = "${variants%%=*}" ]; then
		target=", target 4096 kB: NOT met"
		[ "$rss" -gt 4096 ] || target=", target 4096 kB: met"
	fi
	printf '    RSS %s kB (%s of the first; peak %s kB; %s kB anonymous, %s kB file-backed)%s\n' \
		"$rss" "$(awk -v a="$rss" -v b="$first" 'BEGIN { printf "%.2f", a / b }')" \
		"$(field VmHWM)" "$(field RssAnon)" "$(field RssFile)" "$target"
	printf '    kB per mapping: %s\n' "$(breakdown "$pid")"
	printf '    PSS %s kB (shared pages divided among the processes that map them: here the\n      other agents of this bench too, which an appliance does not have)\n' \
		"$(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup")"
	printf '    threads %s; CPU %s ms per minute; wake-ups %s per minute (voluntary context switches)\n' \
		"$(ls "/proc/$pid/task" | wc -l)" $(((t1 - t0) * 1000 * 60 / hz / window)) \
		$(((cs1 - cs0) * 60 / window))
	helper=$(pgrep -P "$pid" -x kma-agent-priv || true)
	if [ -n "$helper" ]; then
		printf '    privileged helper: RSS %s kB, %s kB anonymous, PSS %s kB\n' \
			"$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$helper/status")" \
			"$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$helper/status")" \
			"$(awk '$1 == "Pss:" { print $2 }' "/proc/$helper/smaps_rollup")"
	fi
done
for b in agent/kma-agent coordinator/kma-coord kmactl/kmactl; do
	strip -o "$demo/stripped" "$build/$b"
	printf '  %-22s %8s bytes stripped (x86_64, %s)\n' \
		"$(basename "$b")" "$(stat -c %s "$demo/stripped")" \
		"$(if ldd "$build/$b" | grep -q libmbedcrypto; then echo "Mbed TLS and the rest shared"
		else echo "Mbed TLS and the rest linked in"; fi)"
done
