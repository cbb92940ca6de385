#!/bin/sh
# Least privilege on a real cluster: three sim appliances whose agents start as root with
# [agent] user = nobody (hal/privsep.h). Each network-facing process runs as nobody with no
# capability and no way back, beside one root helper; the identity record is the helper's
# (root, 0600, in a sticky directory nobody can neither read nor empty). The incident's
# recovery then runs through the helpers: a-kma02's reboot (the sim re-executes the agent,
# which finds its helper again), a-kma01's factory reset and QuickStart. Last, an agent
# whose helper dies stops with an error instead of running on without it.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (privilege separation starts as root)"; exit 77; }
id nobody >/dev/null 2>&1 || fail "this system has no user nobody"
NOBODY=$(id -u nobody)

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
SC_AGENT_USER=nobody
chmod 755 "$T" # nobody reads its configuration, board and sim tree under here
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM
runuser -u nobody -- test -x "$AGENT" ||
	fail "nobody cannot execute $AGENT (a parent directory is closed to others)"

status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
helper_of() { pgrep -P "$1" -x kma-agent-priv; }

# check_split NODE: the network side is nobody without capabilities, its one child is root.
check_split() {
	p=$(cat "$demo/$1/pid")
	[ "$(status_field "$p" Uid)" = "$NOBODY" ] || fail "$1's agent runs as uid $(status_field "$p" Uid)"
	[ "$(status_field "$p" CapEff)" = 0000000000000000 ] || fail "$1's agent has capabilities"
	[ "$(status_field "$p" CapPrm)" = 0000000000000000 ] || fail "$1's agent can regain capabilities"
	[ "$(status_field "$p" NoNewPrivs)" = 1 ] || fail "$1's agent may gain privileges by exec"
	h=$(helper_of "$p") || fail "$1's agent has no helper"
	[ "$(echo "$h" | wc -l)" = 1 ] || fail "$1's agent has several helpers: $h"
	[ "$(status_field "$h" Uid)" = 0 ] || fail "$1's helper does not run as root"
	echo "$h"
}

sc_pki
sc_coord_start
sc_cluster a-kma01 a-kma02 a-kma03
for n in a-kma01 a-kma02 a-kma03; do check_split "$n" >"$T/$n.helper"; done
ok "each agent runs as nobody (no capabilities, no new privileges) beside one root helper"

S="$demo/a-kma03/state"
[ "$(stat -c '%u %a' "$S/identity.rec")" = "0 600" ] || fail "identity.rec: $(stat -c '%u %a' "$S/identity.rec")"
[ "$(stat -c '%u %G %a' "$S")" = "0 $(id -gn nobody) 1770" ] || fail "state dir: $(stat -c '%u %G %a' "$S")"
[ "$(stat -c %u "$S/mesh.json")" = "$NOBODY" ] || fail "mesh.json is not the agent's"
runuser -u nobody -- cat "$S/identity.rec" >/dev/null 2>&1 && fail "nobody read the identity record"
runuser -u nobody -- rm -f "$S/identity.rec" 2>/dev/null
runuser -u nobody -- mv "$S/identity.rec" "$S/x" 2>/dev/null
[ -f "$S/identity.rec" ] || fail "nobody removed the identity record"
ok "the identity record is root's: the agent's user can neither read, remove nor rename it"

# The incident, recovered through the helpers.
bench_quickstart a-kma01 >/dev/null
wedge a-kma02
until_ok 60 sh -c "\"$ctl\" diagnose | grep -q node_not_rejoined"
until_ok 60 sh -c "\"$ctl\" diagnose | grep -q node_refused"
serial_before=$("$AGENT" -c "$demo/a-kma01/agent.conf" identity --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["certificate"]["serial"])')
helper2=$(helper_of "$(cat "$demo/a-kma02/pid")")
"$ctl" run --yes >"$T/run.out" 2>&1 || { tail -n 40 "$T/run.out"; fail "the recovery failed"; }
expect_grep "The cluster is healthy." "$T/run.out"
[ "$(cat "$demo/a-kma02/sim/reboots")" = 1 ] || fail "a-kma02 rebooted $(cat "$demo/a-kma02/sim/reboots") times"
[ "$(check_split a-kma02)" = "$helper2" ] || fail "a-kma02's helper changed across the reboot"
check_split a-kma01 >/dev/null
serial_after=$("$AGENT" -c "$demo/a-kma01/agent.conf" identity --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["certificate"]["serial"])')
[ "$serial_after" != "$serial_before" ] || fail "a-kma01 kept the bench certificate"
[ "$(stat -c '%u %a' "$demo/a-kma01/state/identity.rec")" = "0 600" ] ||
	fail "a-kma01's new identity.rec: $(stat -c '%u %a' "$demo/a-kma01/state/identity.rec")"
expect_grep "privileged helper: rebooting" "$demo/a-kma02/agent.log"
expect_grep "privileged helper: erasing the identity record" "$demo/a-kma01/agent.log"
grep -rqi "BEGIN EC PRIVATE KEY\|BEGIN PRIVATE KEY" "$demo"/*/agent.log && fail "a private key is in a log"
ok "the incident's recovery ran through the helpers: reboot (same helper after the re-exec), factory reset, QuickStart"

# A helper that dies takes the agent down with an error (the service manager restarts it).
p=$(cat "$demo/a-kma03/pid")
kill -9 "$(helper_of "$p")"
n=0
while kill -0 "$p" 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 400 ] || fail "a-kma03's agent runs on without its helper"
	sleep 0.1
done
wait "$p"
rc=$?
[ "$rc" = 70 ] || fail "a-kma03's agent exited $rc without its helper, want 70"
expect_grep "privileged helper has exited" "$demo/a-kma03/agent.log"
ok "an agent whose helper died stopped with status 70, saying why"
