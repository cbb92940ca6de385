#!/bin/sh
# kmactl against a real kma-coord on loopback: usage, configuration and connection
# failures with their exit codes, node management, status, and the mesh matrix of two
# real agents before and after one of them is QuickStarted without rejoining.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
CTL="$KMA_BUILD_DIR/kmactl/kmactl"
P="$T/pki"
OLD=E2207FDBA432E9010000000000000084
USER=866B070F94660D13000000000000001E

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"

CPORT=$(free_port)
PA=$(free_port)
PU=$(free_port)
pki_coord_conf "$T/coord.conf" "$P" "$CPORT" "$T/coord.db"
cat >>"$T/coord.conf" <<CONF
report_interval = 1
CONF
start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$CPORT"

cat >"$T/kmactl.conf" <<CONF
# operator alice
[kmactl]
url = https://localhost:$CPORT/
cert = $P/alice.pem
key = $P/alice.key
ca = $P/ca.pem
CONF
# the default /etc/kma-agent/kmactl.conf must not leak into the test
unset KMACTL_CONFIG
ctl() { "$CTL" -c "$T/kmactl.conf" "$@"; }

# --- local failures: no coordinator needed ---
expect_exit 0 "$CTL" --help
expect_grep "node remove ID [--yes]" "$T/out"
expect_grep "Exit status:" "$T/out"
expect_grep "78  configuration error" "$T/out"
expect_exit 0 "$CTL" --version
# every verb the global help lists has its own help, with its options and an example, the
# same whether asked as `kmactl help VERB` or `kmactl VERB --help`, without a configuration
"$CTL" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z -]*[a-z]\).*/\1/p' |
	sed 's/ [A-Z[].*//' | grep -v '^help$' >"$T/verbs"
[ "$(wc -l <"$T/verbs")" -ge 16 ] || fail "kmactl --help lists $(wc -l <"$T/verbs") commands"
while read -r verb; do
	# shellcheck disable=SC2086 # the verb's words are separate arguments
	expect_exit 0 "$CTL" -c "$T/missing.conf" $verb --help
	expect_grep "usage: kmactl [global options] $verb" "$T/out"
	expect_grep "kmactl $verb" "$T/out" # an example of it
	cp "$T/out" "$T/help.verb"
	# shellcheck disable=SC2086
	expect_exit 0 "$CTL" help $verb
	cmp -s "$T/out" "$T/help.verb" || fail "kmactl help $verb differs from $verb --help"
done <"$T/verbs"
expect_exit 0 "$CTL" run --help
expect_grep "  --dry-run" "$T/out"
expect_exit 0 "$CTL" node --help
expect_grep "node set-serial ID HEX" "$T/out"
expect_exit 64 "$CTL" help frobnicate
ok "each of $(wc -l <"$T/verbs") commands has --help with usage and an example, exit 0"

expect_exit 64 ctl stauts
expect_grep "did you mean 'status'?" "$T/err"
expect_exit 64 ctl node remvoe a-kma01
expect_grep "did you mean 'node remove'?" "$T/err"
expect_exit 64 ctl diagnose --jsno
expect_grep "did you mean --json?" "$T/err"
expect_exit 64 ctl reboot
expect_grep "unknown command 'reboot' (try kmactl help)" "$T/err"
ok "a misspelt command or option gets the nearest one"
expect_exit 64 ctl
expect_exit 64 ctl frobnicate
expect_grep "unknown command 'frobnicate'" "$T/err"
expect_exit 64 ctl node add x1 --name x1
expect_grep "needs --address" "$T/err"
expect_exit 64 ctl status --yes
expect_exit 64 ctl node set-serial a-kma01
expect_exit 64 ctl -w yaml status
expect_exit 64 ctl --url "http://localhost:$CPORT" status
expect_exit 64 ctl node remove 'a/../b' --yes
ok "usage errors exit 64"

expect_exit 66 ctl --cert "$T/nope.pem" status
expect_grep "nope.pem" "$T/err"
expect_exit 66 "$CTL" -c "$T/missing.conf" status
KMACTL_CONFIG="$T/missing.conf" expect_exit 66 "$CTL" status
unset KMACTL_CONFIG # a prefix assignment may outlive a shell function call
ok "a missing certificate or named configuration file exits 66"

printf '[kmactl]\nurl = https://localhost:%s/\ncert = %s\nkee = %s\n' "$CPORT" "$P/alice.pem" \
	"$P/alice.key" >"$T/typo.conf"
expect_exit 78 "$CTL" -c "$T/typo.conf" status
expect_grep "$T/typo.conf:4: unknown key 'kee'" "$T/err"
printf '[kmactl]\nurl = http://localhost:%s/\n' "$CPORT" >"$T/http.conf"
KMACTL_CONFIG="$T/http.conf" expect_exit 78 "$CTL" status
unset KMACTL_CONFIG
expect_grep "$T/http.conf:2: url" "$T/err"
printf '[kmactl]\ncert = %s\nkey = %s\n' "$P/alice.pem" "$P/alice.key" >"$T/nourl.conf"
expect_exit 78 "$CTL" -c "$T/nourl.conf" status
expect_grep "--url" "$T/err"
ok "configuration errors exit 78 with file:line"

# --- the coordinator unreachable or refusing ---
expect_exit 2 ctl --url "https://localhost:$(free_port)" node list
expect_grep "cannot reach the coordinator" "$T/err"
expect_exit 2 ctl --ca "$P/domain-ca.pem" node list
expect_grep "TLS" "$T/err"
ok "an unreachable or unverifiable coordinator exits 2"

expect_exit 1 ctl --cert "$P/a-kma01.pem" --key "$P/a-kma01.key" node list
expect_grep "403" "$T/err"
expect_grep "operator certificates only" "$T/err"
ok "an agent certificate on the operator API exits 1 with the coordinator's reason"

# --- nodes ---
expect_exit 0 ctl node list
expect_grep "no nodes" "$T/out"
expect_exit 0 ctl node add a-kma01 --name a-kma01 --address "127.0.0.1:$PA" --serial "$OLD"
expect_grep "node a-kma01 added" "$T/out"
expect_grep "enrolled_serial: $OLD" "$T/out"
if grep -q '^token: ' "$T/out"; then
	[ "$(grep -c '^token: [0-9a-f]\{64\}$' "$T/out")" = 1 ] || fail "token line: $(cat "$T/out")"
	! grep -q "$(sed -n 's/^token: //p' "$T/out")" "$T/coord.log" || fail "token in the log"
	ok "node add prints the enrolment token on its own line"
fi
expect_exit 0 ctl --json node add u-kma02 --name u-kma02 --address "127.0.0.1:$PU"
expect_json "$T/out" "j['node_id']" u-kma02
expect_exit 1 ctl node add u-kma02 --name u-kma02 --address "127.0.0.1:$PU"
expect_grep "node exists" "$T/err"
expect_exit 1 ctl node add bad-serial --name b --address 127.0.0.1:1 --serial XYZ
expect_grep "not a hex serial" "$T/err"
expect_exit 0 ctl node add x-kma03 --name x-kma03 --address 127.0.0.1:1
expect_exit 0 ctl node list
expect_grep "a-kma01" "$T/out"
expect_grep "u-kma02" "$T/out"
expect_grep "$OLD" "$T/out"
expect_exit 0 ctl -w json node list
expect_jsons "$T/out" "len(j['nodes'])" 3 "sorted(n['node_id'] for n in j['nodes'])" \
	"['a-kma01', 'u-kma02', 'x-kma03']"
ok "node add and node list (table and JSON)"

expect_exit 64 ctl node remove x-kma03
expect_grep "without --yes" "$T/err"
expect_exit 0 ctl node remove x-kma03 --yes
expect_grep "node x-kma03 removed" "$T/out"
expect_exit 1 ctl node remove x-kma03 --yes
expect_grep "no such node" "$T/err"
ok "node remove refuses without --yes and no terminal, removes with it"

expect_exit 0 ctl node set-serial u-kma02 "$USER"
expect_exit 0 ctl --json node list
expect_json "$T/out" "[n['enrolled_serial'] for n in j['nodes'] if n['node_id']=='u-kma02'][0]" "$USER"
expect_exit 1 ctl node set-serial nobody "$USER"
expect_grep "no such node" "$T/err"
ok "node set-serial records the serial"

expect_exit 1 ctl status
expect_grep "never reported" "$T/out"
expect_grep "2 never reported" "$T/out"
expect_exit 1 ctl --json status
expect_jsons "$T/out" "j['healthy']" False "[n['health'] for n in j['nodes']]" \
	"['never reported', 'never reported']"
expect_exit 1 ctl mesh
expect_grep "no observation yet" "$T/out"
ok "status and mesh exit 1 while no node has reported"

# --- two real agents (as tests/e2e/test_cluster.sh) ---
agent() {
	make_sim "$1" "SIM-$1"
	printf '\n[mesh]\nlisten = 127.0.0.1:%s\nprobe_interval = 3600\nprobe_timeout = 5\n' "$2" \
		>>"$T/$1/agent.conf"
	printf '\n[coordinator]\nurl = https://localhost:%s/\nreport_interval = 1\nca = %s\n' \
		"$CPORT" "$P/ca.pem" >>"$T/$1/agent.conf"
	expect_exit 0 "$AGENT" -c "$T/$1/agent.conf" identity import --key "$P/$3.key" \
		--cert "$P/$3.pem" --ca "$P/ca.pem"
	start_bg "$T/$1.log" "$AGENT" -c "$T/$1/agent.conf"
}
agent a "$PA" a-kma01
A_PID=$BG_PID
agent u "$PU" u-kma02

# until_exit STATUS WHAT CMD...: bounded wait until CMD exits STATUS.
until_exit() {
	want=$1 what=$2
	shift 2
	n=0
	until "$@" >"$T/out" 2>"$T/err"; [ $? = "$want" ]; do
		n=$((n + 1))
		[ $n -ge 600 ] && { cat "$T/out" "$T/err" "$T/a.log" "$T/u.log" >&2; fail "$what"; }
		sleep 0.2
	done
}
until_exit 0 "kmactl mesh never reached all ok" ctl mesh
expect_grep "OBSERVER" "$T/out"
grep -q '^a-kma01  *-  *ok$' "$T/out" || { cat "$T/out"; fail "mesh row a-kma01"; }
grep -q '^u-kma02  *ok  *-$' "$T/out" || { cat "$T/out"; fail "mesh row u-kma02"; }
expect_exit 0 ctl --json mesh
expect_jsons "$T/out" \
	"sorted(o['cause'] for o in j['observations'] if o['direction']=='outbound')" "['ok', 'ok']"
until_exit 0 "kmactl status never healthy" ctl status
expect_grep "2 nodes: 2 ok" "$T/out"
expect_grep "enrolled" "$T/out"
ok "mesh and status exit 0 once both agents report and authenticate each other"

# a-kma01: QuickStarted with a new key that the cluster never enrolled
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$P/a-kma01-new.key" \
	--cert "$P/a-kma01-new.pem" --ca "$P/ca.pem"
kill -HUP "$A_PID"
n=0
until ctl mesh >"$T/out" 2>"$T/err"; st=$?; grep -q '^u-kma02  *serial  *-$' "$T/out"; do
	n=$((n + 1))
	[ $n -ge 600 ] && { cat "$T/out" "$T/err" >&2; fail "no serial-mismatch cell"; }
	sleep 0.2
done
[ "$st" = 1 ] || { cat "$T/out"; fail "kmactl mesh exit $st with a serial mismatch, want 1"; }
expect_grep "peer_serial_mismatch: valid certificate, right ID, serial differs" "$T/out"
ok "kmactl mesh exits 1 and shows the serial-mismatch cell"

# diagnose names the re-keyed node and exits 1 while the cluster is unhealthy.
n=0
until ctl diagnose >"$T/out" 2>"$T/err"; st=$?; grep -q "culprit: *a-kma01" "$T/out"; do
	n=$((n + 1))
	[ $n -ge 400 ] && { cat "$T/out" "$T/err" >&2; fail "diagnose never named a-kma01"; }
	sleep 0.2
done
[ "$st" = 1 ] || { cat "$T/out"; fail "kmactl diagnose exit $st, want 1"; }
expect_grep "node_not_rejoined" "$T/out"
ok "kmactl diagnose exits 1 and names a-kma01"
