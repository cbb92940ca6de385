#!/bin/sh
# Two real agents probe each other over mutual TLS on loopback. The probe interval is an
# hour: every change below must be noticed from events (start, a new identity, a
# reloaded peer table, a peer that connects with something new), not from the period. Then the OKM incident's
# first half: a-kma01 gets a new certificate (QuickStart after a part replacement) but the
# cluster still enrols its old serial. u-kma02 must see peer_serial_mismatch for a-kma01
# in both directions, and a-kma01 must see that u-kma02 rejects it (alert 49).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

# issue NAME SERIAL: a P-256 leaf for node NAME from the test cluster CA.
issue() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$T/$1-$2.key" 2>/dev/null
	openssl req -new -key "$T/$1-$2.key" -subj "/O=Example Cluster/CN=$1" \
		-out "$T/$1.csr" 2>/dev/null
	printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
		>"$T/ext.cnf"
	openssl x509 -req -in "$T/$1.csr" -CA "$DATA/ca.pem" -CAkey "$DATA/ca.key" \
		-set_serial "0x$2" -days 30 -sha256 -extfile "$T/ext.cnf" \
		-out "$T/$1-$2.pem" 2>/dev/null || fail "openssl could not issue $1"
}

A_OLD=E2207FDBA432E9010000000000000084
A_NEW=E2207FDBA432E9010000000000000085
U_SER=866B070F94660D13000000000000001E
issue a-kma01 $A_OLD
issue a-kma01 $A_NEW
issue u-kma02 $U_SER
PA=$(free_port)
PU=$(free_port)

make_sim a SIM-A
make_sim u SIM-U
# peers NODE_DIR PEER_ID PORT SERIAL
peers() {
	printf '[peer %s]\naddress = 127.0.0.1:%s\nserial = %s\n' "$2" "$3" "$4" >"$T/$1/peers.conf"
}
peers a u-kma02 "$PU" "$U_SER"
peers u a-kma01 "$PA" "$A_OLD"
for n in a u; do
	port=$PA
	[ $n = u ] && port=$PU
	printf '\n[mesh]\nlisten = 127.0.0.1:%s\npeers = %s\nprobe_interval = 3600\nprobe_timeout = 5\n' \
		"$port" "$T/$n/peers.conf" >>"$T/$n/agent.conf"
done
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$T/a-kma01-$A_OLD.key" \
	--cert "$T/a-kma01-$A_OLD.pem" --ca "$DATA/ca.pem"
expect_exit 0 "$AGENT" -c "$T/u/agent.conf" identity import --key "$T/u-kma02-$U_SER.key" \
	--cert "$T/u-kma02-$U_SER.pem" --ca "$DATA/ca.pem"

"$AGENT" -c "$T/a/agent.conf" >"$T/a.log" 2>&1 &
PIDS="$!"
"$AGENT" -c "$T/u/agent.conf" >"$T/u.log" 2>&1 &
PIDS="$PIDS $!"

# wait_cause NODE DIR CAUSE: bounded wait until NODE's mesh.json shows CAUSE for its peer.
wait_cause() {
	n=0
	while :; do
		got=$(python3 -c 'import json,sys
try:
    j=json.load(open(sys.argv[1])); o=j["peers"][0][sys.argv[2]]; print(o["cause"] if o else "-")
except Exception: print("-")' "$T/$1/state/mesh.json" "$2")
		[ "$got" = "$3" ] && return 0
		n=$((n + 1))
		[ $n -ge 1200 ] && { cat "$T/$1/state/mesh.json" "$T/a.log" "$T/u.log" >&2; \
			fail "$1 $2: '$got', want '$3'"; }
		sleep 0.1
	done
}
wait_cause a outbound ok
wait_cause u outbound ok
wait_cause a inbound ok
wait_cause u inbound ok
expect_json "$T/u/state/mesh.json" "j['peers'][0]['outbound']['peer_serial']" "$A_OLD"
expect_json "$T/u/state/mesh.json" "j['peers'][0]['consecutive_failures']" 0
expect_exit 0 "$AGENT" -c "$T/u/agent.conf" mesh
expect_grep "a-kma01" "$T/out"
# when the file was written, and when each peer was last probed, beside its last success
expect_grep "as of 20" "$T/out"
expect_grep "LAST PROBED" "$T/out"
[ "$(grep -c '^a-kma01 .* 20[0-9-]*T[0-9:]*Z  *20[0-9-]*T[0-9:]*Z$' "$T/out")" = 1 ] ||
	fail "no last-probed and last-ok times for a-kma01: $(cat "$T/out")"
ok "two agents authenticate each other in both directions"

# a-kma01's parts are replaced and it is QuickStarted: new key, new serial, not rejoined.
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$T/a-kma01-$A_NEW.key" \
	--cert "$T/a-kma01-$A_NEW.pem" --ca "$DATA/ca.pem"
kill -HUP $(echo $PIDS | cut -d' ' -f1)
wait_cause u outbound peer_serial_mismatch
wait_cause u inbound peer_serial_mismatch
wait_cause a outbound rejected_by_peer
M="$T/u/state/mesh.json"
expect_json "$M" "j['peers'][0]['outbound']['peer_serial']" "$A_NEW"
expect_json "$M" "j['peers'][0]['outbound']['expected_serial']" "$A_OLD"
expect_json "$M" "j['peers'][0]['outbound']['alert_sent']" 49
expect_json "$M" "j['peers'][0]['inbound']['alert_sent']" 49
# TLS 1.3 between two Mbed TLS 3.x agents: the refusal's alert arrives sealed with keys the
# client has left (the cause says so); 2.28 and TLS 1.2 read it.
if [ "$TLS13" = 1 ]; then
	expect_json "$T/a/state/mesh.json" "j['peers'][0]['outbound']['alert_received']" None
else
	expect_json "$T/a/state/mesh.json" "j['peers'][0]['outbound']['alert_received']" 49
fi
expect_json "$M" "j['peers'][0]['consecutive_failures'] >= 1" True
expect_grep "peer a-kma01 outbound 127.0.0.1:$PA: peer_serial_mismatch (alert sent 49 access_denied)" "$T/u.log"
if [ "$TLS13" = 1 ]; then
	expect_grep "peer u-kma02 outbound 127.0.0.1:$PU: rejected_by_peer" "$T/a.log"
else
	expect_grep "peer u-kma02 outbound 127.0.0.1:$PU: rejected_by_peer (alert received 49 access_denied)" "$T/a.log"
fi
expect_exit 1 "$AGENT" -c "$T/u/agent.conf" mesh
expect_grep "peer_serial_mismatch     peer_serial_mismatch" "$T/out"
ok "QuickStart without rejoin: serial mismatch on one side, rejected_by_peer on the other"

# Enrol the new serial (what the rejoin does) and reload u-kma02's table: the mesh heals.
peers u a-kma01 "$PA" "$A_NEW"
kill -HUP $(echo $PIDS | cut -d' ' -f2)
wait_for_line "$T/u.log" "peer table reloaded: 1 peers"
wait_cause u outbound ok
wait_cause a inbound ok
wait_cause a outbound ok
expect_json "$T/u/state/mesh.json" "j['peers'][0]['outbound']['peer_serial']" "$A_NEW"
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" mesh
ok "after enrolling the new serial both directions are ok again, without waiting a period"
