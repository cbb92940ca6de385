#!/bin/sh
# make demo: one simulated appliance, a-kma01, goes through what the OKM incident began
# with: it is provisioned, runs, then its system board is replaced under it.
# Usage: scripts/demo.sh BUILD_DIR
set -eu

build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
agent="$build/agent/kma-agent"
demo="$build/demo"
pid=""

trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

rm -rf "$demo"
mkdir -p "$demo/sim/hw" "$demo/pki"
echo "1329FMM04H" >"$demo/sim/hw/board_serial"
echo "4c4c4544-0042-3510-8052-b4c04f564d32" >"$demo/sim/hw/product_uuid"
echo "WD-WCC4N1234567" >"$demo/sim/hw/disk_serial"
echo "Intel(R) Xeon(R) CPU E5-2620 v4" >"$demo/sim/hw/cpu_id"
echo "00:10:e0:8c:2a:11" >"$demo/sim/hw/mac"
cat >"$demo/agent.conf" <<CONF
[agent]
state_dir = $demo/state
hw_check_interval = 1

[board]
name = sim
dir = $src/board
root = $demo/sim
CONF

say "A new appliance a-kma01 on the sim board: no identity yet"
run "$agent" -c "$demo/agent.conf" --check-config
run "$agent" -c "$demo/agent.conf" identity

say "Provision it: a cluster CA issues a-kma01's certificate (P-256), the agent stores it"
(
	cd "$demo/pki"
	openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
	openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/O=Demo Cluster/CN=Demo Cluster CA" \
		-out ca.pem 2>/dev/null
	openssl ecparam -name prime256v1 -genkey -noout -out node.key 2>/dev/null
	openssl req -new -key node.key -subj "/O=Demo Cluster/CN=a-kma01" -out node.csr 2>/dev/null
	openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key \
		-set_serial 0xE2207FDBA432E9010000000000000084 -days 825 -sha256 -out node.pem 2>/dev/null
	chmod 600 ca.key node.key
)
run "$agent" -c "$demo/agent.conf" identity import --key "$demo/pki/node.key" \
	--cert "$demo/pki/node.pem" --ca "$demo/pki/ca.pem"

say "Start the agent (it re-reads the hardware identity every second in this demo)"
"$agent" -c "$demo/agent.conf" run >"$demo/agent.log" 2>&1 &
pid=$!
n=0
until grep -q "running;" "$demo/agent.log"; do
	n=$((n + 1)); [ $n -lt 100 ] || { cat "$demo/agent.log"; exit 1; }; sleep 0.1
done
cat "$demo/agent.log"

say "Field service replaces the system board (and with it the board serial)"
run sh -c "echo 1406NNN0JK > $demo/sim/hw/board_serial"
n=0
until grep -q "hardware_changed" "$demo/agent.log"; do
	n=$((n + 1)); [ $n -lt 100 ] || { cat "$demo/agent.log"; exit 1; }; sleep 0.1
done
sleep 0.2
echo "agent log:"
sed -n '/hardware:/,$p' "$demo/agent.log"

say "What the agent now says about this node"
run "$agent" -c "$demo/agent.conf" identity
run "$agent" -c "$demo/agent.conf" identity --json

say "Stop the agent (SIGTERM)"
kill -TERM "$pid"
wait "$pid"
status=$?
pid=""
tail -n 2 "$demo/agent.log"
echo "agent exit status: $status"

say "Done"
echo "This stage shows the node's own identity. Peer probing, the coordinator and the"
echo "guided recovery of the OKM incident come with the next issues."
exit "$status"
