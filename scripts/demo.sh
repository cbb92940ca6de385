#!/bin/sh
# make demo: the OKM incident on a simulated cluster of three key-management appliances.
#
#  1. the cluster is built the way an operator would: kma-coord (cluster CA, enrolment),
#     three sim appliances enrolled with one-time tokens (kmactl node add, kma-agent
#     quickstart), every pair authenticating both ways;
#  2. a-kma01 gets a new disk, system board and CPU, and is QuickStarted at the bench with
#     a certificate the cluster never enrolled (the incident);
#  3. kmactl mesh and kmactl diagnose show what the logs of the incident only hinted at,
#     and name the culprit;
#  4. the incident's fix, step by step: delete the entry, factory reset, re-add, QuickStart
#     and join; the mesh heals and the cluster is diagnosed healthy.
# Usage: scripts/demo.sh BUILD_DIR
set -eu

build=$(cd "${1:-build}" && pwd)
agent="$build/agent/kma-agent"
coord="$build/coordinator/kma-coord"
ctl="$build/coordinator/kmactl"
src=$(cd "$(dirname "$0")/.." && pwd)
demo="$build/demo"
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	"$@"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# until_ok SECONDS CMD...: bounded wait until CMD succeeds (quietly).
until_ok() {
	limit=$(($1 * 10))
	shift
	n=0
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -lt $limit ] || { echo "demo: timed out waiting for: $*" >&2; exit 1; }
		sleep 0.1
	done
}

rm -rf "$demo"
mkdir -p "$demo/pki"
P="$demo/pki"

say "The cluster CA (held by kma-coord), its server certificate, and an operator"
(
	cd "$P"
	openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
	openssl req -x509 -new -key ca.key -sha256 -days 3650 -out ca.pem \
		-subj "/O=Demo Cluster/CN=Demo Cluster CA" 2>/dev/null
	openssl ecparam -name prime256v1 -genkey -noout -out coord.key 2>/dev/null
	openssl req -new -key coord.key -subj "/O=Demo Cluster/CN=kma-coord" -out coord.csr 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >srv.ext
	openssl x509 -req -in coord.csr -CA ca.pem -CAkey ca.key -set_serial 0x10 -days 30 \
		-sha256 -extfile srv.ext -out coord.pem 2>/dev/null
	openssl ecparam -name prime256v1 -genkey -noout -out opca.key 2>/dev/null
	openssl req -x509 -new -key opca.key -sha256 -days 3650 -out opca.pem \
		-subj "/O=Demo Operators/CN=Demo Operator CA" 2>/dev/null
	openssl ecparam -name prime256v1 -genkey -noout -out alice.key 2>/dev/null
	openssl req -new -key alice.key -subj "/O=Demo Operators/CN=alice" -out alice.csr 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >cli.ext
	openssl x509 -req -in alice.csr -CA opca.pem -CAkey opca.key -set_serial 0x11 -days 30 \
		-sha256 -extfile cli.ext -out alice.pem 2>/dev/null
	chmod 600 ./*.key
)
CPORT=$(port)
cat >"$demo/coord.conf" <<CONF
[coord]
listen = 127.0.0.1:$CPORT
db = $demo/coord.db
cert = $P/coord.pem
key = $P/coord.key
ca = $P/ca.pem
ca_key = $P/ca.key
operator_ca = $P/opca.pem
report_interval = 1
cluster_id = demo
CONF
cat >"$demo/kmactl.conf" <<CONF
[kmactl]
url = https://localhost:$CPORT
cert = $P/alice.pem
key = $P/alice.key
ca = $P/ca.pem
CONF
export KMACTL_CONFIG="$demo/kmactl.conf"
"$coord" -c "$demo/coord.conf" >"$demo/coord.log" 2>&1 &
pids="$pids $!"
until_ok 10 grep -q "serving on" "$demo/coord.log"
echo "kma-coord serving on 127.0.0.1:$CPORT (log: $demo/coord.log)"

# appliance NAME BOARD_SERIAL: a sim appliance's hardware and configuration.
appliance() {
	d="$demo/$1"
	mkdir -p "$d/sim/hw"
	echo "$2" >"$d/sim/hw/board_serial"
	echo "WD-$2" >"$d/sim/hw/disk_serial"
	echo "Intel(R) Xeon(R) CPU E5-2620 v4" >"$d/sim/hw/cpu_id"
	echo "00:10:e0:8c:2a:$(printf %02x "$(cksum <"$d/sim/hw/board_serial" | cut -c1-2)")" >"$d/sim/hw/mac"
	p=$(port)
	echo "$p" >"$d/port"
	cat >"$d/agent.conf" <<CONF
[agent]
state_dir = $d/state
[board]
name = sim
dir = $src/board
root = $d/sim
[mesh]
listen = 127.0.0.1:$p
[coordinator]
url = https://localhost:$CPORT/
ca = $P/ca.pem
report_interval = 1
CONF
}

# enrol NAME: the operator adds the entry, the appliance QuickStarts with the token.
enrol() {
	run "$ctl" node add "$1" --name "$1" --address "127.0.0.1:$(cat "$demo/$1/port")" >"$demo/$1/add.out"
	grep -v '^token:' "$demo/$1/add.out" || true
	sed -n 's/^token: //p' "$demo/$1/add.out" >"$demo/$1/token"
	chmod 600 "$demo/$1/token"
	echo "(one-time token written to $demo/$1/token)"
	run "$agent" -c "$demo/$1/agent.conf" quickstart --node-id "$1" --token-file "$demo/$1/token" |
		sed -n '1,3p'
}

start() {
	"$agent" -c "$demo/$1/agent.conf" >>"$demo/$1/agent.log" 2>&1 &
	echo $! >"$demo/$1/pid"
	pids="$pids $!"
}

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
kill "$(cat "$demo/a-kma01/pid")"
echo "1406NNN0JK" >"$demo/a-kma01/sim/hw/board_serial"
echo "WD-WCC4N7654321" >"$demo/a-kma01/sim/hw/disk_serial"
echo "Intel(R) Xeon(R) CPU E5-2630 v4" >"$demo/a-kma01/sim/hw/cpu_id"
run "$agent" -c "$demo/a-kma01/agent.conf" factory-reset --yes
(
	cd "$P"
	openssl ecparam -name prime256v1 -genkey -noout -out bench.key 2>/dev/null
	openssl req -new -key bench.key -subj "/O=Demo Cluster/CN=a-kma01" -out bench.csr 2>/dev/null
	printf 'extendedKeyUsage=serverAuth,clientAuth\n' >leaf.ext
	openssl x509 -req -in bench.csr -CA ca.pem -CAkey ca.key -days 825 -sha256 \
		-set_serial 0xE2207FDBA432E9010000000000000084 -extfile leaf.ext -out bench.pem 2>/dev/null
	chmod 600 bench.key
)
run "$agent" -c "$demo/a-kma01/agent.conf" identity import --key "$P/bench.key" \
	--cert "$P/bench.pem" --ca "$P/ca.pem" | sed -n '1,2p'
start a-kma01

say "What the cluster sees now"
until_ok 30 sh -c "\"$ctl\" diagnose | grep -q node_not_rejoined"
run "$ctl" mesh || true
run "$ctl" diagnose || true
echo "u-kma02's agent log says:"
grep "peer a-kma01" "$demo/u-kma02/agent.log" | tail -n 2
echo "a-kma01's agent log says:"
grep "peer u-kma02\|not enrolled\|enrolled serial" "$demo/a-kma01/agent.log" | tail -n 2

say "The fix, one step at a time: delete the entry, factory reset, re-add, QuickStart, join"
run "$ctl" node remove a-kma01 --yes
kill "$(cat "$demo/a-kma01/pid")"
run "$agent" -c "$demo/a-kma01/agent.conf" factory-reset --yes
enrol a-kma01
start a-kma01
until_ok 60 "$ctl" mesh
until_ok 30 "$ctl" diagnose
run "$ctl" mesh
run "$ctl" diagnose

say "Done: the cluster is healthy"
echo "Next issues make this a guided, resumable procedure (kmactl plan/run) with rolling"
echo "reboots of refusing nodes; logs and state are in $demo."
