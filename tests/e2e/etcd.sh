# A real etcd cluster on loopback for the tests of kma-coord's etcd client (issue 19):
# three members (etcd-server's /usr/bin/etcd) with mutual TLS on the client and the peer
# ports, data and logs under the test's $T. Sourced after lib.sh: its cleanup stops every
# member (they are started with start_bg).
#
#   etcd_pki                 CA, member and client certificates in $ETCD_DIR
#   etcd_start [N]           N members (default 3), returns once the cluster is healthy
#   etcd_endpoints [SEP]     the members' client URLs, comma separated (or by SEP)
#   etcd_kill I              kill -9 member I (1..N)
#   etcd_restart I           start member I again (same ports, same data)
#   etcd_wait_healthy [I...] bounded wait until the members named (default all running)
#                            answer a linearizable read: a leader and a quorum
#   etcd_leader              the index of the current leader
#   etcd_stop_all            SIGTERM to every member, bounded wait
#   etcdctl_ EPS ARGS...     etcdctl with the client certificate, against the endpoints EPS
#   etcd_ha_conf PREFIX URL [TTL]  kma-coord's [ha] section on this cluster (docs/ha.md):
#                            keys under PREFIX, advertised as URL, election_ttl TTL (2)
#   etcd_need_store          skip the test (77) unless kma-coord has the etcd store

command -v etcd >/dev/null 2>&1 || { echo "SKIP: no etcd (scripts/deps.sh test)"; exit 77; }

# etcd_need_store: skip (77) unless this build's kma-coord has the etcd store.
etcd_need_store() {
	coord_has_etcd_store && return 0
	echo "SKIP: this kma-coord has no etcd store (its SQLite has no preupdate hook)"
	exit 77
}

ETCD_DIR="$T/etcd"
ETCD_N=0
# Members start in a second or two; a loaded machine (two suites at once, a sanitizer build
# beside) takes longer: only a failure waits this long.
ETCD_WAIT_S=${ETCD_WAIT_S:-60}

# etcd_pki: a CA, one certificate for every member (server and client use: members are
# each other's clients on the peer port), and kma-coord's client certificate.
etcd_pki() {
	mkdir -p "$ETCD_DIR"
	(
		cd "$ETCD_DIR" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=kma etcd test CA" -keyout ca.key -out ca.pem 2>/dev/null &&
			_etcd_issue member "/CN=etcd member" \
				"extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1" &&
			_etcd_issue client "/CN=kma-coord" "extendedKeyUsage=clientAuth"
	) || fail "etcd test PKI"
}

# _etcd_issue NAME SUBJECT EXTENSIONS: NAME.key and NAME.pem signed by ca.pem (in the cwd).
_etcd_issue() {
	printf '%s\n' "$3" >"$1.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
		-keyout "$1.key" -out "$1.csr" 2>/dev/null &&
		openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
			-extfile "$1.ext" -out "$1.pem" 2>/dev/null
}

etcdctl_() {
	_eps=$1
	shift
	ETCDCTL_API=3 etcdctl --endpoints="$_eps" --cacert "$ETCD_DIR/ca.pem" \
		--cert "$ETCD_DIR/client.pem" --key "$ETCD_DIR/client.key" \
		--dial-timeout=2s --command-timeout=3s "$@"
}

_etcd_get() { eval "echo \"\${$1_$2}\""; }

# etcd_start [N]: allocates ports, starts N members, waits until the cluster is healthy.
etcd_start() {
	ETCD_N=${1:-3}
	[ -f "$ETCD_DIR/ca.pem" ] || etcd_pki
	_initial=""
	for _i in $(seq 1 "$ETCD_N"); do
		eval "ETCD_CPORT_$_i=$(free_port) ETCD_PPORT_$_i=$(free_port)"
		_initial="$_initial${_initial:+,}m$_i=https://127.0.0.1:$(_etcd_get ETCD_PPORT "$_i")"
	done
	ETCD_INITIAL=$_initial
	for _i in $(seq 1 "$ETCD_N"); do
		_etcd_run "$_i"
	done
	etcd_wait_healthy
}

# _etcd_run I: member I in the background; its pid in ETCD_PID_I. The initial cluster is
# read only on the first start (the data directory holds the membership afterwards).
_etcd_run() {
	_c="https://127.0.0.1:$(_etcd_get ETCD_CPORT "$1")"
	_p="https://127.0.0.1:$(_etcd_get ETCD_PPORT "$1")"
	start_bg "$ETCD_DIR/m$1.log.$(date +%s%N)" etcd --name "m$1" \
		--data-dir "$ETCD_DIR/m$1.data" \
		--listen-client-urls "$_c" --advertise-client-urls "$_c" \
		--listen-peer-urls "$_p" --initial-advertise-peer-urls "$_p" \
		--initial-cluster "$ETCD_INITIAL" --initial-cluster-state new \
		--initial-cluster-token "kma-test-$$" \
		--client-cert-auth --trusted-ca-file "$ETCD_DIR/ca.pem" \
		--cert-file "$ETCD_DIR/member.pem" --key-file "$ETCD_DIR/member.key" \
		--peer-client-cert-auth --peer-trusted-ca-file "$ETCD_DIR/ca.pem" \
		--peer-cert-file "$ETCD_DIR/member.pem" --peer-key-file "$ETCD_DIR/member.key" \
		--max-txn-ops 1024 --logger zap --log-outputs stderr
	eval "ETCD_PID_$1=$BG_PID"
}

# etcd_endpoints [SEP]: the running and stopped members' client URLs, in member order.
etcd_endpoints() {
	_out=""
	for _i in $(seq 1 "$ETCD_N"); do
		_out="$_out${_out:+${1:-,}}https://127.0.0.1:$(_etcd_get ETCD_CPORT "$_i")"
	done
	echo "$_out"
}

# etcd_wait_healthy [I...]: every member named answers a linearizable read.
etcd_wait_healthy() {
	_eps=""
	for _i in ${*:-$(seq 1 "$ETCD_N")}; do
		[ -n "$(_etcd_get ETCD_PID "$_i")" ] || continue
		_eps="$_eps${_eps:+,}https://127.0.0.1:$(_etcd_get ETCD_CPORT "$_i")"
	done
	_end=$(($(date +%s) + ETCD_WAIT_S))
	until etcdctl_ "$_eps" endpoint health >"$ETCD_DIR/health" 2>&1; do
		if [ "$(date +%s)" -ge "$_end" ]; then
			cat "$ETCD_DIR/health" >&2
			tail -n 20 "$ETCD_DIR"/m*.log.* >&2
			fail "etcd cluster not healthy within ${ETCD_WAIT_S}s ($_eps)"
		fi
		sleep 0.2
	done
}

# etcd_leader: the index of the member that leads now (asked of the running members).
etcd_leader() {
	for _i in $(seq 1 "$ETCD_N"); do
		[ -n "$(_etcd_get ETCD_PID "$_i")" ] || continue
		etcdctl_ "https://127.0.0.1:$(_etcd_get ETCD_CPORT "$_i")" endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)' && { echo "$_i"; return 0; }
	done
	return 1
}

# _etcd_forget PID: PID is gone and waited for; lib.sh's cleanup no longer signals it.
_etcd_forget() {
	wait "$1" 2>/dev/null
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# etcd_kill I: member I dies at once (SIGKILL: no goodbye to its peers).
etcd_kill() {
	_pid=$(_etcd_get ETCD_PID "$1")
	[ -n "$_pid" ] || fail "etcd member $1 is not running"
	kill -KILL "$_pid"
	_etcd_forget "$_pid"
	eval "ETCD_PID_$1="
}

# etcd_restart I: member I starts again on its ports and data; waits until it is healthy.
etcd_restart() {
	[ -z "$(_etcd_get ETCD_PID "$1")" ] || fail "etcd member $1 is running"
	_etcd_run "$1"
	etcd_wait_healthy "$1"
}

etcd_stop_all() {
	_pids=""
	for _i in $(seq 1 "$ETCD_N"); do
		_pid=$(_etcd_get ETCD_PID "$_i")
		[ -n "$_pid" ] || continue
		_pids="$_pids $_pid"
		eval "ETCD_PID_$_i="
	done
	# shellcheck disable=SC2086 # one word per pid
	stop_pids $_pids
	for _pid in $_pids; do _etcd_forget "$_pid"; done
}

etcd_ha_conf() {
	cat <<CONF
[ha]
store = etcd
etcd_endpoints = $(etcd_endpoints)
etcd_ca = $ETCD_DIR/ca.pem
etcd_cert = $ETCD_DIR/client.pem
etcd_key = $ETCD_DIR/client.key
etcd_prefix = $1
advertise_url = $2
election_ttl = ${3:-2}
CONF
}
