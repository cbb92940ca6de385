# A real cluster for the diagnosis scenarios: the test PKI, kma-coord, nodes added through
# the operator API, and kma-agent daemons on sim boards that report to the coordinator.
# Sourced after lib.sh and pki.sh (netns_enter may come first: it needs neither).
#
#   cluster_pki                      test PKI in $P (pki_make, pki_coord)
#   cluster_leaf NAME CN CADIR [START END]   one more node certificate, serial in $P/serial.NAME
#   cluster_coord [CLIENT_CA [CERT [LISTEN_HOST [AGENT_URL_HOST]]]]   kma-coord started
#   op METHOD PATH [JSON]            the operator API as alice: status in $code, body in $T/body
#   node_add ID ADDRESS SERIAL       enrols a node (201 or fail)
#   agent_start NAME LISTEN KEY CERT CA [NETNS]   identity import, then the daemon
#   wait_mesh NODE PEER DIRECTION CAUSE           bounded wait for that observation
#   diag_expect WHAT <<'PY' ... PY   GET /v1/diagnosis once, Python assertions over it
#   netns_enter SCRIPT / netns_hub / netns_node NAME INDEX   see below
#
# Agents probe every 2 s (not hourly as in test_cluster.sh): a probe that ran before its
# peer was up is simply run again, so no scenario depends on the order agents start in.

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
# shellcheck disable=SC2034 # for the scenarios: kmactl -c "$T/kmactl.conf"
CTL="$KMA_BUILD_DIR/kmactl/kmactl"

cluster_pki() {
	P="$T/pki"
	pki_make "$P" || fail "test PKI"
	pki_coord "$P" || fail "coordinator and operator certificates"
}

# cluster_leaf NAME CN CADIR [START END]: a leaf for node CN signed by the CA in CADIR
# (e.g. $P/ca), valid 2000..2120 unless START and END (openssl -startdate format) say.
cluster_leaf() {
	_n=$(($(cat "$P/.leaves" 2>/dev/null || echo 0) + 1))
	echo "$_n" >"$P/.leaves"
	pki_sign "$3" "$1" "/O=Example Cluster/CN=$2" leaf "$(printf '4D1A%028X' "$_n")" \
		"${4:-$NOW0}" "${5:-$NOW1}" || fail "issuing $1"
}

# cluster_coord [CLIENT_CA [CERT [LISTEN_HOST [AGENT_URL_HOST]]]]: kma-coord with the
# cluster CA CLIENT_CA (default $P/ca.pem; a bundle during a CA change) and the server
# certificate $P/CERT.pem (default coord). Agents reach it at AGENT_URL_HOST.
# shellcheck disable=SC2120 # every argument has a default
cluster_coord() {
	CPORT=$(free_port)
	COORD_URL="https://${4:-localhost}:$CPORT/"
	cat >"$T/coord.conf" <<CONF
[coord]
listen = ${3:-127.0.0.1}:$CPORT
db = $T/coord.db
cert = $P/${2:-coord}.pem
key = $P/${2:-coord}.key
ca = ${1:-$P/ca.pem}
operator_ca = $P/opca.pem
report_interval = 1
CONF
	start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
	wait_for_line "$T/coord.log" "serving on ${3:-127.0.0.1}:$CPORT"
	cat >"$T/kmactl.conf" <<CONF
[kmactl]
url = https://localhost:$CPORT/
cert = $P/alice.pem
key = $P/alice.key
ca = $P/ca.pem
CONF
}

op() {
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		--cert "$P/alice.pem" --key "$P/alice.key" -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "https://localhost:$CPORT$2" 2>"$T/curl.err") || code="curl-exit-$?"
}

node_add() {
	op POST /v1/nodes "{\"node_id\":\"$1\",\"name\":\"$1\",\"address\":\"$2\",\"enrolled_serial\":\"$3\"}"
	[ "$code" = 201 ] || fail "adding $1: $code $(cat "$T/body" "$T/curl.err")"
}

# agent_start NAME LISTEN KEY CERT CA [NETNS]: a sim appliance NAME whose identity is KEY,
# CERT (leaf first, then any chain) and trust store CA; the daemon listens on LISTEN and
# reports to the coordinator, whose own CA is always $P/ca.pem ([coordinator] ca).
agent_start() {
	make_sim "$1" "SIM-$1"
	printf '\n[mesh]\nlisten = %s\nprobe_interval = 2\nprobe_timeout = 5\n' "$2" \
		>>"$T/$1/agent.conf"
	printf '\n[coordinator]\nurl = %s\nreport_interval = 1\nca = %s\n' "$COORD_URL" \
		"$P/ca.pem" >>"$T/$1/agent.conf"
	expect_exit 0 "$AGENT" -c "$T/$1/agent.conf" identity import --key "$3" --cert "$4" \
		--ca "$5"
	if [ -n "${6:-}" ]; then
		start_bg "$T/$1.log" ip netns exec "$6" "$AGENT" -c "$T/$1/agent.conf"
	else
		start_bg "$T/$1.log" "$AGENT" -c "$T/$1/agent.conf"
	fi
	wait_for_line "$T/$1.log" "listening on $2"
}

wait_mesh() {
	_n=0
	while :; do
		op GET /v1/mesh
		_got=$(python3 -c 'import json,sys
j=json.load(open(sys.argv[1]))
print(next((o["cause"] for o in j["observations"] if o["node_id"]==sys.argv[2] and o["peer_id"]==sys.argv[3] and o["direction"]==sys.argv[4]), "-"))' \
			"$T/body" "$1" "$2" "$3" 2>/dev/null)
		[ "$_got" = "$4" ] && return 0
		_n=$((_n + 1))
		if [ $_n -ge 600 ]; then
			cat "$T/body" >&2
			tail -n 20 "$T"/*.log >&2
			fail "coordinator: $1 -> $2 $3 is '$_got', want '$4'"
		fi
		sleep 0.2
	done
}

# diag_expect WHAT: fetches the diagnosis and runs the Python statements on stdin over it:
# j is the document, F its findings; one(P) is the only finding with pattern P, errors()
# the findings of severity error, cites(f, *parts) whether one evidence line of f holds
# every part. Fails with the document when an assertion does.
diag_expect() {
	op GET /v1/diagnosis
	[ "$code" = 200 ] || fail "GET /v1/diagnosis: $code $(cat "$T/body")"
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
F = j["findings"]
def one(p):
    f = [x for x in F if x["pattern"] == p]
    assert len(f) == 1, "want one %s finding, have %d" % (p, len(f))
    return f[0]
def errors():
    return [x for x in F if x["severity"] == "error"]
def cites(f, *parts):
    return any(all(p in e for p in parts) for e in f["evidence"])
'"$(cat)" "$T/body" || { python3 -m json.tool "$T/body" >&2; fail "diagnosis: $1"; }
}

# ---- network namespaces: one per agent, routed through the test's own namespace ----

# netns_enter SCRIPT: runs SCRIPT again, and exits with its status, in new network and
# mount namespaces (and a user namespace when not root), so that nothing below touches the
# host's network and everything vanishes with the test. A host that cannot do that fails
# the test with the reason: it is not skipped.
netns_enter() {
	[ -n "${KMA_E2E_NETNS:-}" ] && return 0
	for _c in unshare ip; do
		command -v $_c >/dev/null ||
			{ echo "FAIL: $1 needs $_c (util-linux, iproute2)" >&2; exit 1; }
	done
	if [ "$(id -u)" = 0 ]; then
		set -- "$1" unshare --net --mount --propagation private
	else
		set -- "$1" unshare --user --map-root-user --net --mount --propagation private
	fi
	_s=$1
	shift
	"$@" true 2>"${TMPDIR:-/tmp}/kma-netns.$$" || {
		echo "FAIL: $_s needs new network namespaces ($*):" \
			"$(cat "${TMPDIR:-/tmp}/kma-netns.$$")" >&2
		rm -f "${TMPDIR:-/tmp}/kma-netns.$$"
		exit 1
	}
	rm -f "${TMPDIR:-/tmp}/kma-netns.$$"
	export KMA_E2E_NETNS=1
	exec "$@" sh "$_s"
}

# netns_hub: the test's namespace becomes the router between the agents' namespaces,
# with 10.77.0.1 on its loopback for the coordinator. Named namespaces live on a tmpfs
# of this mount namespace only.
netns_hub() {
	if [ -d /run/netns ] || mkdir /run/netns 2>/dev/null; then
		mount -t tmpfs kma-e2e /run/netns
	else
		mount -t tmpfs kma-e2e /run && mkdir /run/netns
	fi || fail "no private /run/netns"
	{
		ip link set lo up && ip addr add 10.77.0.1/32 dev lo &&
			echo 1 >/proc/sys/net/ipv4/ip_forward
	} || fail "setting up the hub namespace"
}

# netns_node NAME I: namespace NAME at 10.77.I.2, linked to the hub's 10.77.I.1.
netns_node() {
	{
		ip netns add "$1" &&
			ip link add "hub$2" type veth peer name "$1-eth" &&
			ip link set "$1-eth" netns "$1" &&
			ip addr add "10.77.$2.1/24" dev "hub$2" && ip link set "hub$2" up &&
			ip -n "$1" link set lo up &&
			ip -n "$1" addr add "10.77.$2.2/24" dev "$1-eth" &&
			ip -n "$1" link set "$1-eth" up &&
			ip -n "$1" route add default via "10.77.$2.1"
	} || fail "creating network namespace $1"
}
