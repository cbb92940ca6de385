# A simulated cluster on loopback, for make demo and the recovery tests: the PKI, kma-coord
# (the cluster CA, with a [recovery] section), kmactl's configuration, sim appliances that
# QuickStart with one-time tokens, and the incident's two faults.
#
# Source it with build (the build directory), src (the source tree) and demo (a fresh
# working directory) set; it defines:
#   say TEXT / run CMD... / port / until_ok SECONDS CMD...
#   sc_pki                      cluster CA, coordinator certificate, operator alice
#   sc_coord_start [I]          writes coord.conf (once) and starts kma-coord; again after
#                               a kill -9, same port and database. SC_HA=N: N instances
#                               on etcd (tests/e2e/etcd.sh's), I of them; sc_coord_active
#                               names the one that serves
#   appliance NAME SERIAL [BOARD]   a sim appliance's hardware and agent.conf
#   enrol NAME / start NAME     kmactl node add + kma-agent quickstart / the agent daemon
#   sc_cluster NAME[:BOARD]...  each appliance (board sim unless named) enrolled and
#                               started, then a bounded wait for the whole mesh ok
#   bench_quickstart NODE       the incident: parts replaced, QuickStarted at the bench
#                               with a certificate the cluster never enrolled
#   wedge NODE                  the node's listener refuses connections until a reboot
#   sc_incident                 both faults on a-kma01 and a-kma02, until diagnosed
# SC_STABILISE (default 10) is the stabilisation window; SC_STEP_TIMEOUT (120) a step's;
# SC_AGENT_USER, when set, the user the agents' network side runs as (privilege separation).
# SC_AGENTS, when set, "NAME=PROGRAM ..." runs those appliances with another kma-agent (a
# build against another Mbed TLS: tests/e2e/test_mixed_cluster.sh); the rest run $agent.

agent="$build/agent/kma-agent"
coord="$build/coordinator/kma-coord"
ctl="$build/kmactl/kmactl"
pids=""

# agent_of NAME: the kma-agent that appliance runs.
agent_of() {
	for _a in ${SC_AGENTS:-}; do
		[ "${_a%%=*}" != "$1" ] || { echo "${_a#*=}"; return; }
	done
	echo "$agent"
}

# sc_cleanup: SIGTERM to every program started here, a bounded wait for each to end (an
# agent may be in the middle of a simulated reboot), then SIGKILL to what is left.
sc_cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	_w=0
	for p in $pids; do
		while kill -0 "$p" 2>/dev/null &&
			! cut -d')' -f2- "/proc/$p/stat" 2>/dev/null | grep -q '^ [ZX]'; do
			_w=$((_w + 1))
			[ $_w -lt 300 ] || { kill -KILL "$p" 2>/dev/null || true; break; }
			sleep 0.1
		done
	done
}
trap sc_cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	"$@"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# until_ok SECONDS CMD...: bounded wait until CMD succeeds (quietly). The bound is
# SC_WAIT_SCALE (default 4) times SECONDS: what it waits for is an event, and a loaded
# machine (a second build on the same cores, a sanitizer build) takes longer to get there;
# only a failure waits the whole bound.
until_ok() {
	limit=$(($1 * 10 * ${SC_WAIT_SCALE:-4}))
	shift
	n=0
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -lt $limit ] || { echo "timed out waiting for: $*" >&2; exit 1; }
		sleep 0.1
	done
}

rm -rf "$demo"
mkdir -p "$demo/pki"
P="$demo/pki"

sc_pki() {
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
}

# sc_coord_start [I]: kma-coord on a port chosen once; again after a kill -9, same port and
# db. With SC_HA=N, instance I (default 1) of N on one etcd cluster (tests/e2e/etcd.sh's,
# started): its files are coordI.conf, .log, .pid and .db; the first to start leads.
sc_coord_start() {
	[ -f "$demo/kmactl.conf" ] || sc_coord_config
	_c=coord${SC_HA:+${1:-1}}
	"$coord" -c "$demo/$_c.conf" >>"$demo/$_c.log" 2>&1 &
	echo $! >"$demo/$_c.pid"
	pids="$pids $!"
	until_ok 10 "$ctl" node list
}

# sc_coord_active: the instance (1..SC_HA) that serves now, if one does.
sc_coord_active() {
	for _i in $(seq 1 "$SC_HA"); do
		curl -sf -o /dev/null --cacert "$P/ca.pem" --cert "$P/alice.pem" --key "$P/alice.key" \
			"https://localhost:$(cat "$demo/coord$_i.port")/v1/nodes" 2>/dev/null &&
			{ echo "$_i"; return 0; }
	done
	return 1
}

# coord_conf I PORT: instance I's configuration (coord.conf without SC_HA).
coord_conf() {
	_c=coord${SC_HA:+$1}
	cat >"$demo/$_c.conf" <<CONF
[coord]
listen = 127.0.0.1:$2
db = $demo/$_c.db
cert = $P/coord.pem
key = $P/coord.key
ca = $P/ca.pem
ca_key = $P/ca.key
operator_ca = $P/opca.pem
report_interval = ${SC_REPORT_INTERVAL:-1}
cluster_id = demo
[recovery]
stabilise = ${SC_STABILISE:-10}
step_timeout = ${SC_STEP_TIMEOUT:-120}
lease_ttl = 60
min_serving = 1
CONF
	[ -z "${SC_HA:-}" ] ||
		etcd_ha_conf /kma-sim/ "https://localhost:$2" "${SC_ELECTION_TTL:-2}" >>"$demo/$_c.conf"
}

sc_coord_config() {
	CPORT=$(port)
	COORD_URLS="https://localhost:$CPORT"
	coord_conf 1 "$CPORT"
	echo "$CPORT" >"$demo/coord${SC_HA:+1}.port"
	for _i in $(seq 2 "${SC_HA:-1}"); do
		_p=$(port)
		COORD_URLS="$COORD_URLS, https://localhost:$_p"
		coord_conf "$_i" "$_p"
		echo "$_p" >"$demo/coord$_i.port"
	done
	cat >"$demo/kmactl.conf" <<CONF
[kmactl]
url = $COORD_URLS
cert = $P/alice.pem
key = $P/alice.key
ca = $P/ca.pem
CONF
	export KMACTL_CONFIG="$demo/kmactl.conf"
}

# appliance NAME BOARD_SERIAL [BOARD]: a sim appliance's hardware and configuration.
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
hw_check_interval = 1
${SC_AGENT_USER:+user = $SC_AGENT_USER}
[board]
name = ${3:-sim}
dir = $src/board
root = $d/sim
[mesh]
listen = 127.0.0.1:$p
probe_interval = 5
[coordinator]
url = $COORD_URLS
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
	run "$(agent_of "$1")" -c "$demo/$1/agent.conf" quickstart --node-id "$1" --token-file "$demo/$1/token" |
		sed -n '1,3p'
}

start() {
	"$(agent_of "$1")" -c "$demo/$1/agent.conf" >>"$demo/$1/agent.log" 2>&1 &
	echo $! >"$demo/$1/pid"
	pids="$pids $!"
}


sc_cluster() {
	for _spec in "$@"; do
		_n=${_spec%%:*}
		_b=${_spec#"$_n"}
		appliance "$_n" "SIM-$_n" "${_b#:}"
	done
	for _spec in "$@"; do
		enrol "${_spec%%:*}" >/dev/null
		start "${_spec%%:*}"
	done
	until_ok 60 "$ctl" mesh
}

# bench_quickstart NODE: the incident. The node's disk, system board and CPU are replaced
# and it is QuickStarted at the bench with a certificate from the cluster CA that the
# cluster never enrolled; then its agent starts again.
bench_quickstart() {
	kill "$(cat "$demo/$1/pid")"
	echo "1406NNN0JK" >"$demo/$1/sim/hw/board_serial"
	echo "WD-WCC4N7654321" >"$demo/$1/sim/hw/disk_serial"
	echo "Intel(R) Xeon(R) CPU E5-2630 v4" >"$demo/$1/sim/hw/cpu_id"
	run "$(agent_of "$1")" -c "$demo/$1/agent.conf" factory-reset --yes
	(
		cd "$P"
		openssl ecparam -name prime256v1 -genkey -noout -out bench.key 2>/dev/null
		openssl req -new -key bench.key -subj "/O=Demo Cluster/CN=$1" -out bench.csr 2>/dev/null
		printf 'extendedKeyUsage=serverAuth,clientAuth\n' >leaf.ext
		openssl x509 -req -in bench.csr -CA ca.pem -CAkey ca.key -days 825 -sha256 \
			-set_serial 0xE2207FDBA432E9010000000000000084 -extfile leaf.ext -out bench.pem 2>/dev/null
		chmod 600 bench.key
	)
	run "$(agent_of "$1")" -c "$demo/$1/agent.conf" identity import --key "$P/bench.key" \
		--cert "$P/bench.pem" --ca "$P/ca.pem" | sed -n '1,2p'
	start "$1"
}

# wedge NODE: the sim board's stand-in for a full listen queue (refused until a reboot).
wedge() {
	touch "$demo/$1/sim/wedge"
	kill -HUP "$(cat "$demo/$1/pid")"
}

# sc_incident: the OKM incident on a cluster with a-kma01 and a-kma02 (sc_cluster): a-kma01
# QuickStarted at the bench, a-kma02 wedged; a bounded wait until the diagnosis finds both
# (node_not_rejoined, node_refused), in $demo/d.
sc_incident() {
	bench_quickstart a-kma01 >/dev/null
	wedge a-kma02
	until_ok 60 sh -c "\"$ctl\" diagnose >\"$demo/d\"; grep -q node_not_rejoined \"$demo/d\" && grep -q node_refused \"$demo/d\""
}
