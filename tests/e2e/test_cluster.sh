#!/bin/sh
# The OKM incident's first half on a real cluster: kma-coord and two agents on loopback.
# The operator enrols a-kma01 and u-kma02; the agents report, get their peer tables from
# the coordinator and authenticate each other. Then a-kma01's parts are replaced and it
# is QuickStarted with a new certificate the cluster never enrolled: the coordinator must
# hear both sides of the failure, a-kma01 must know it is not enrolled, and enrolling the
# new serial must heal the mesh. Every agent probes once an hour: all of it is events.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"
OLD=E2207FDBA432E9010000000000000084
NEW=E2207FDBA432E9010000000000000085
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

# op METHOD PATH [JSON]: the operator API, as alice.
op() {
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		--cert "$P/alice.pem" --key "$P/alice.key" -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "https://localhost:$CPORT$2" 2>"$T/curl.err") || code="curl-exit-$?"
}
op POST /v1/nodes "{\"node_id\":\"a-kma01\",\"name\":\"a-kma01\",\"address\":\"127.0.0.1:$PA\",\"enrolled_serial\":\"$OLD\"}"
[ "$code" = 201 ] || fail "adding a-kma01: $code $(cat "$T/body")"
op POST /v1/nodes "{\"node_id\":\"u-kma02\",\"name\":\"u-kma02\",\"address\":\"127.0.0.1:$PU\",\"enrolled_serial\":\"$USER\"}"
[ "$code" = 201 ] || fail "adding u-kma02: $code $(cat "$T/body")"

# agent NAME PORT CERT: a sim appliance that reports to the coordinator.
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

# wait_mesh NODE PEER DIR CAUSE: bounded wait until the coordinator has that observation.
wait_mesh() {
	n=0
	while :; do
		op GET /v1/mesh
		got=$(python3 -c 'import json,sys
j=json.load(open(sys.argv[1]))
print(next((o["cause"] for o in j["observations"] if o["node_id"]==sys.argv[2] and o["peer_id"]==sys.argv[3] and o["direction"]==sys.argv[4]), "-"))' \
			"$T/body" "$1" "$2" "$3" 2>/dev/null)
		[ "$got" = "$4" ] && return 0
		n=$((n + 1))
		[ $n -ge 600 ] && { cat "$T/body" "$T/a.log" "$T/u.log" >&2; fail "coordinator: $1 -> $2 $3 is '$got', want '$4'"; }
		sleep 0.2
	done
}
wait_mesh a-kma01 u-kma02 outbound ok
wait_mesh u-kma02 a-kma01 outbound ok
wait_mesh a-kma01 u-kma02 inbound ok
wait_mesh u-kma02 a-kma01 inbound ok
expect_grep "coordinator: peer table version" "$T/a.log"
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity --json
expect_json "$T/out" "j['state']" enrolled
expect_json "$T/out" "j['enrolled_serial']" "$OLD"
ok "agents take their peer tables from the coordinator, authenticate both ways, are enrolled"

# a-kma01: parts replaced, QuickStarted with a new key; the cluster still enrols the old serial.
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$P/a-kma01-new.key" \
	--cert "$P/a-kma01-new.pem" --ca "$P/ca.pem"
kill -HUP "$A_PID"
wait_mesh u-kma02 a-kma01 inbound peer_serial_mismatch
wait_mesh u-kma02 a-kma01 outbound peer_serial_mismatch
n=0
until "$AGENT" -c "$T/a/agent.conf" identity --json >"$T/id.json" 2>/dev/null &&
	[ "$(json_get "$T/id.json" "j['state']")" = not_enrolled ]; do
	n=$((n + 1)); [ $n -lt 400 ] || { cat "$T/id.json"; fail "a-kma01 does not know it is not enrolled"; }
	sleep 0.1
done
python3 -c 'import json,sys
j=json.load(open(sys.argv[1]))
o=[o for o in j["observations"] if o["node_id"]=="u-kma02" and o["peer_id"]=="a-kma01" and o["direction"]=="outbound"][0]
assert o["peer_serial"]==sys.argv[2] and o["expected_serial"]==sys.argv[3] and o["alert_sent"]==49, o' \
	"$T/body" "$NEW" "$OLD" || { cat "$T/body"; fail "evidence at the coordinator"; }
# a-kma01's own reports come with the certificate the cluster never enrolled: refused.
wait_for_line "$T/coord.log" "certificate serial $NEW is not the enrolled serial of a-kma01"
expect_grep "the coordinator does not take our certificate as this node's (it enrolled serial $OLD)" \
	"$T/a.log"
op GET /v1/diagnosis
[ "$code" = 200 ] || fail "diagnosis: $code"
python3 -c 'import json,sys
j=json.load(open(sys.argv[1]))
assert j["healthy"] is False, j
f=[f for f in j["findings"] if f["pattern"]=="node_not_rejoined"]
assert len(f)==1 and f[0]["culprit"]=="a-kma01", j
assert "factory reset and rejoin a-kma01" in f[0]["remedy"], f
assert any("a certificate for a-kma01 with serial " + sys.argv[2] in e and "refused" in e
           for e in f[0]["evidence"]), f
assert not [g for g in j["findings"] if g["culprit"]=="u-kma02"], j' "$T/body" "$NEW" ||
	{ cat "$T/body"; fail "the diagnosis does not name a-kma01"; }
op GET /metrics
[ "$code" = 200 ] || fail "metrics: $code"
expect_grep 'kma_coord_refused_certificates{node="known"} 1' "$T/body"
grep -q '^kma_coord_reports_total{result="rejected_403"} [1-9]' "$T/body" ||
	{ cat "$T/body"; fail "the refused reports are not counted"; }
ok "QuickStart without rejoin: u-kma02 rejects the serial (alert 49), a-kma01's reports are refused, the diagnosis names a-kma01, and a-kma01 knows it is not_enrolled"

# The rejoin: the operator enrols the new serial; every agent gets it with its next reply.
op PUT /v1/nodes/a-kma01/serial "{\"enrolled_serial\":\"$NEW\"}"
[ "$code" = 200 ] || fail "enrolling the new serial: $code $(cat "$T/body")"
wait_mesh u-kma02 a-kma01 outbound ok
wait_mesh a-kma01 u-kma02 outbound ok
wait_mesh u-kma02 a-kma01 inbound ok
n=0
until "$AGENT" -c "$T/a/agent.conf" identity --json >"$T/id.json" 2>/dev/null &&
	[ "$(json_get "$T/id.json" "j['state']")" = enrolled ]; do
	n=$((n + 1)); [ $n -lt 400 ] || { cat "$T/id.json"; fail "a-kma01 is not enrolled after the rejoin"; }
	sleep 0.1
done
n=0
until op GET /v1/diagnosis && [ "$(json_get "$T/body" "j['healthy']")" = True ]; do
	n=$((n + 1)); [ $n -lt 400 ] || { cat "$T/body"; fail "the cluster is not diagnosed healthy"; }
	sleep 0.2
done
ok "after enrolling the new serial the mesh heals, a-kma01 is enrolled, the cluster is healthy"
