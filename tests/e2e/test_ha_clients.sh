#!/bin/sh
# The agent and kmactl with several coordinator URLs (docs/ha-clients.md), against real
# kma-coords and tests/e2e/standby.py (a standby as the contract says it answers; a trap that
# counts the connections to a URL that must not be asked):
#   1. [closed port, kma-coord]: the agent reports, its report stored;
#   2. an active instance turned standby naming the 3rd URL: the agent and kmactl follow it
#      past the 2nd (never asked), the agent logs the switch and reports at once (the
#      coordinators ask for an hour between reports);
#   3. a standby naming a URL not in the list: not followed, the next configured is asked;
#      `kma-agent quickstart` fails over the same way;
#   4. nothing answers: kmactl gives up within its bound naming each URL and what it said;
#      the agent keeps running and reports once a kma-coord comes back.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
CTL="$KMA_BUILD_DIR/kmactl/kmactl"
STANDBY="$KMA_SOURCE_DIR/tests/e2e/standby.py"
P="$T/pki"
SERIAL=E2207FDBA432E9010000000000000084
unset KMACTL_CONFIG

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
chmod 600 "$P/ca.key"

u() { echo "https://localhost:$1/"; }
ctl() { "$CTL" --cert "$P/alice.pem" --key "$P/alice.key" --ca "$P/ca.pem" "$@"; }

# coord NAME PORT: a kma-coord asking for an hour between reports, with node a-kma01.
coord() {
	pki_coord_conf "$T/$1.conf" "$P" "$2" "$T/$1.db"
	printf 'report_interval = 3600\nca_key = %s\n' "$P/ca.key" >>"$T/$1.conf"
	start_bg "$T/$1.log" "$COORD" -c "$T/$1.conf"
	wait_for_line "$T/$1.log" "serving on 127.0.0.1:$2"
	[ -f "$T/$1.added" ] && return 0
	expect_exit 0 ctl --url "$(u "$2")" node add a-kma01 --name a-kma01 \
		--address "127.0.0.1:$(free_port)" --serial "$SERIAL"
	: >"$T/$1.added"
}

# agent NAME URLS: a-kma01 on its own sim, reporting to URLS.
agent() {
	make_sim "$1" "SIM-$1"
	printf '\n[coordinator]\nurl = %s\nreport_interval = 1\nca = %s\n' "$2" "$P/ca.pem" \
		>>"$T/$1/agent.conf"
	expect_exit 0 "$AGENT" -c "$T/$1/agent.conf" identity import --key "$P/a-kma01.key" \
		--cert "$P/a-kma01.pem" --ca "$P/ca.pem"
	start_bg "$T/$1.log" "$AGENT" -c "$T/$1/agent.conf"
}

# last_report PORT: a-kma01's last report as the kma-coord on PORT holds it.
last_report() {
	ctl --url "$(u "$1")" --json node list >"$T/nodes" || fail "node list at $1"
	json_get "$T/nodes" "[n['last_report'] for n in j['nodes'] if n['node_id'] == 'a-kma01'][0]"
}

# until_report PORT BEFORE: bounded wait for a report other than BEFORE at PORT.
until_report() {
	n=0
	while [ "$(last_report "$1")" = "$2" ]; do
		n=$((n + 1))
		[ $n -ge 300 ] && { cat "$T"/*.log >&2; fail "no new report at port $1"; }
		sleep 0.2
	done
}

# standby NAME PORT ACTIVE [--proxy PORT | --trap]
standby() {
	_n=$1 _p=$2
	shift 2
	: >"$T/$_n.hits"
	start_bg "$T/$_n.log" python3 "$STANDBY" "$_p" "$P" "$1" "$T/$_n.hits" "${2:-}" "${3:-}"
	wait_listen "$_p"
}

no_hits() { [ ! -s "$T/$1.hits" ] || fail "$1 was asked: $(wc -l <"$T/$1.hits") connections"; }

P3=$(free_port)
CLOSED=$(free_port)
coord c3 "$P3"
C3_PID=$BG_PID

# --- 1. a closed port first, then the coordinator ---
agent a "$(u "$CLOSED"), $(u "$P3")"
A_PID=$BG_PID
until_report "$P3" None
# libcurl's words differ by version ("Couldn't connect", 8.x "Could not connect").
wait_for_line "$T/a.log" "; trying $(u "$P3")"
grep -qE "coordinator: $(u "$CLOSED"): Could(n't| not) connect to server; trying $(u "$P3")" \
	"$T/a.log" || { cat "$T/a.log" >&2; fail "the switch past the closed port is not logged"; }
expect_grep "coordinator: 2 instances, asked in this order" "$T/a.log"
stop_pids "$A_PID"
ok "agent with [closed port, kma-coord] reports and its report is stored"

# --- 2. the active instance turns standby and names the 3rd URL ---
PH=$(free_port)
PS=$(free_port)
PT=$(free_port)
coord c1 "$PH"
standby s1 "$PS" "$(u "$P3")" --proxy "$PH"
S1_PID=$BG_PID
standby trap1 "$PT" "" --trap
agent b "$(u "$PS") $(u "$PT"),$(u "$P3")"
B_PID=$BG_PID
until_report "$PH" None
wait_for_line "$T/b.log" "coordinator: peer table version"
BEFORE=$(last_report "$P3")
kill -USR1 "$S1_PID"
wait_for_line "$T/b.log" "coordinator: now reporting to $(u "$P3") (was $(u "$PS"))"
expect_grep "coordinator: $(u "$PS") is a standby (active: $(u "$P3")); trying $(u "$P3")" \
	"$T/b.log"
until_report "$P3" "$BEFORE"
no_hits trap1
ok "the agent follows X-KMA-Active past the 2nd URL, logs the switch and reports at once"

expect_exit 0 ctl --url "$(u "$PS")" --url "$(u "$PT"),$(u "$P3")" --json node list
expect_json "$T/out" "[n['node_id'] for n in j['nodes']]" "['a-kma01']"
printf '[kmactl]\nurl = %s, %s %s\ncert = %s\nkey = %s\nca = %s\n' "$(u "$PS")" "$(u "$PT")" \
	"$(u "$P3")" "$P/alice.pem" "$P/alice.key" "$P/ca.pem" >"$T/kmactl.conf"
expect_exit 0 "$CTL" -c "$T/kmactl.conf" node list
expect_grep "a-kma01" "$T/out"
no_hits trap1
stop_pids "$B_PID"
ok "kmactl ([kmactl] url and --url lists) follows it too"

# --- 3. a standby naming a URL that is not configured ---
PS2=$(free_port)
PX=$(free_port)
standby trapx "$PX" "" --trap
standby s2 "$PS2" "$(u "$PX")"
expect_exit 0 ctl --url "$(u "$PS2"), $(u "$P3")" --json node list
expect_json "$T/out" "[n['node_id'] for n in j['nodes']]" "['a-kma01']"
BEFORE=$(last_report "$P3")
agent d "$(u "$PS2"), $(u "$P3")"
D_PID=$BG_PID
wait_for_line "$T/d.log" "coordinator: $(u "$PS2") is a standby (active: $(u "$PX")); trying $(u "$P3")"
until_report "$P3" "$BEFORE"
no_hits trapx
stop_pids "$D_PID"
ok "X-KMA-Active naming a URL not in the list is not followed"

expect_exit 0 ctl --url "$(u "$P3")" node add q-kma09 --name q-kma09 --address 127.0.0.1:9
sed -n 's/^token: //p' "$T/out" >"$T/token"
[ -s "$T/token" ] || fail "no token: $(cat "$T/out")"
make_sim q SIM-Q
printf '\n[coordinator]\nurl = %s %s %s\nca = %s\n' "$(u "$CLOSED")" "$(u "$PS2")" "$(u "$P3")" \
	"$P/ca.pem" >>"$T/q/agent.conf"
expect_exit 0 "$AGENT" -c "$T/q/agent.conf" quickstart --node-id q-kma09 --token-file "$T/token"
expect_grep "q-kma09" "$T/out"
no_hits trapx
expect_exit 0 ctl --url "$(u "$P3")" --json node list
expect_json "$T/out" "[n['enrolled_serial'] != '' for n in j['nodes'] if n['node_id'] == 'q-kma09']" \
	"[True]"
ok "kma-agent quickstart fails over past a closed port and a standby"

# --- 4. nothing answers, then a coordinator comes back ---
PS3=$(free_port)
standby s3 "$PS3" ""
C2=$(free_port)
start=$(date +%s)
expect_exit 2 ctl --url "$(u "$CLOSED"),$(u "$PS3"),$(u "$C2")" node list
took=$(($(date +%s) - start))
[ "$took" -le 14 ] || fail "kmactl gave up after $took s"
expect_grep "no coordinator instance answered" "$T/err"
expect_grep "$(u "$CLOSED"): cannot reach the coordinator" "$T/err"
expect_grep "$(u "$PS3"): a standby (no instance is active yet)" "$T/err"
expect_grep "$(u "$C2"): cannot reach the coordinator" "$T/err"
ok "kmactl gives up after $took s naming each URL and what it said"

BEFORE=$(last_report "$P3")
stop_pids "$C3_PID"
agent e "$(u "$CLOSED"), $(u "$P3")"
E_PID=$BG_PID
wait_for_line "$T/e.log" "every instance asked; retrying with backoff"
coord c3 "$P3"
wait_for_line "$T/e.log" "coordinator: reachable again after"
alive "$E_PID" || fail "the agent ended"
until_report "$P3" "$BEFORE"
ok "the agent keeps running while nothing answers and reports once kma-coord is back"
