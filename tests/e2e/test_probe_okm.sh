#!/bin/sh
# The OKM archetype by name, between two kma-agent probes (the mesh's own behaviour): a-kma01
# had a part replaced, was QuickStarted (new certificate, serial ...85) and never rejoined, so
# the cluster still pins its old serial ...84. Each direction is seen from both ends:
#   u-kma02 -> a-kma01: u-kma02 sees peer_serial_mismatch (sends 49), a-kma01 rejected_by_peer;
#   a-kma01 -> u-kma02: a-kma01 sees rejected_by_peer (receives 49), u-kma02 peer_serial_mismatch.
# After the rejoin (new serial enrolled) both directions are ok.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

P="$T/pki"
pki_make "$P" || fail "could not create the test PKI"
OLD=E2207FDBA432E9010000000000000084
NEW=E2207FDBA432E9010000000000000085
U=$(cat "$P/serial.u-kma02")
A_NEW="--ca $P/ca.pem --cert $P/a-kma01-new.pem --key $P/a-kma01-new.key"
U_ME="--ca $P/ca.pem --cert $P/u-kma02.pem --key $P/u-kma02.key"

# listen ARGS...: kma-agent probe --json --accept on a free port (LPORT) in the background;
# its JSON in $LJ once it exits (see accepted).
nl=0
listen() {
	nl=$((nl + 1))
	LPORT=$(free_port)
	LJ="$T/accept.$nl.json"
	"$AGENT" probe --json --accept "127.0.0.1:$LPORT" --once "$@" </dev/null >"$LJ" 2>"$LJ.err" &
	LPID=$!
	PIDS="$PIDS $LPID"
	wait_listen "$LPORT" 60
}
# accepted STATUS CAUSE: bounded wait for the listener to exit; its status and cause.
accepted() {
	i=0
	while kill -0 "$LPID" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 800 ] && { cat "$LJ" "$LJ.err" >&2; fail "probe --accept did not exit"; }
		sleep 0.1
	done
	wait "$LPID"
	st=$?
	[ "$st" = "$1" ] || { cat "$LJ" "$LJ.err" >&2; fail "probe --accept exit $st, want $1"; }
	expect_jsons "$LJ" "j['cause']" "$2" "j['direction']" inbound
}
# connect STATUS CAUSE ARGS...: outbound kma-agent probe --json to the listener; JSON in $OJ.
OJ="$T/outbound.json"
connect() {
	want=$1
	cause=$2
	shift 2
	expect_exit "$want" "$AGENT" probe --json "$@" "127.0.0.1:$LPORT"
	cp "$T/out" "$OJ"
	expect_jsons "$OJ" "j['cause']" "$cause" "j['direction']" outbound
}
SENT="(j['alert_sent'] or {}).get('number')"
RECEIVED="(j['alert_received'] or {}).get('number')"

# u-kma02 probes a-kma01 (now on its QuickStart certificate; it still pins u-kma02 correctly)
listen $A_NEW --expect-id u-kma02 --expect-serial "$U"
connect 1 peer_serial_mismatch $U_ME --expect-id a-kma01 --expect-serial $OLD
accepted 1 rejected_by_peer
expect_jsons "$OJ" "$SENT" 49 "j['alert_received']" None \
	"j['peer_cert']['serial'], j['peer_cert']['node_id']" "('$NEW', 'a-kma01')" \
	"j['expected']['serial'], j['expected']['node_id']" "('$OLD', 'a-kma01')" \
	"len(j['verify_flags']) > 0" True
expect_jsons "$LJ" "$RECEIVED" 49 "j['alert_sent']" None
ok "u-kma02 -> a-kma01: peer_serial_mismatch (49 sent) / rejected_by_peer (49 received)"

# a-kma01 probes u-kma02, which pins a-kma01's old serial
listen $U_ME --expect-id a-kma01 --expect-serial $OLD
connect 1 rejected_by_peer $A_NEW --expect-id u-kma02 --expect-serial "$U"
accepted 1 peer_serial_mismatch
# TLS 1.3 between Mbed TLS 3.x agents: the alert comes sealed with keys the client has left.
expect_jsons "$OJ" "$RECEIVED" "$([ "$TLS13" = 1 ] && echo None || echo 49)" "j['alert_sent']" None \
	"j['peer_cert']['serial'], j['peer_cert']['node_id']" "('$U', 'u-kma02')"
expect_jsons "$LJ" "$SENT" 49 "j['alert_received']" None \
	"j['peer_cert']['serial'], j['peer_cert']['node_id']" "('$NEW', 'a-kma01')" \
	"j['expected']['serial'], j['expected']['node_id']" "('$OLD', 'a-kma01')"
ok "a-kma01 -> u-kma02: rejected_by_peer (49 received) / peer_serial_mismatch (49 sent)"

# the same pair with a-kma01's OLD certificate (before the QuickStart) was fine
listen $U_ME --expect-id a-kma01 --expect-serial $OLD
connect 0 ok --ca "$P/ca.pem" --cert "$P/a-kma01.pem" --key "$P/a-kma01.key" \
	--expect-id u-kma02 --expect-serial "$U"
accepted 0 ok
ok "before the QuickStart both ends were ok"

# after the rejoin the cluster pins the new serial: both directions ok
listen $U_ME --expect-id a-kma01 --expect-serial $NEW
connect 0 ok $A_NEW --expect-id u-kma02 --expect-serial "$U"
accepted 0 ok
listen $A_NEW --expect-id u-kma02 --expect-serial "$U"
connect 0 ok $U_ME --expect-id a-kma01 --expect-serial $NEW
accepted 0 ok
expect_jsons "$OJ" "j['peer_cert']['serial']" $NEW
ok "after the rejoin (new serial enrolled) both directions are ok"
