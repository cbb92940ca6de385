#!/bin/sh
# protocol_mismatch or cipher_mismatch, told by what the peer speaks: after a negotiation
# failure answering our ClientHello, kma-agent probe asks the peer about each TLS version on
# its own (agent/verscan.h) and classifies with the answers.
#
# The foreign peers are openssl s_server (OpenSSL 3.0) limited to old versions. What each
# sends to our TLS 1.2 hello, found by running them: handshake_failure (40), not
# protocol_version, for -tls1, -tls1_1 and -no_tls1_2 -no_tls1_3 alike (OpenSSL settles on
# its highest version below ours, then finds none of our TLS 1.2 AEAD suites); the alert
# alone reads as cipher_mismatch, the case issue 14 names. -tls1_3 sends protocol_version
# (70). A small python3 peer covers a version-intolerant server that closes instead.
#
# Each s_server serves exactly five connections (-naccept 5): the probe and one follow-up per
# version, so its exit shows that no more were made.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

P="$T/pki"
pki_make "$P" || fail "could not create the test PKI"
ME="--ca $P/ca.pem --cert $P/u-kma02.pem --key $P/u-kma02.key"
SERVER="-cert $P/a-kma01.pem -key $P/a-kma01.key"
VERIFY="-Verify 1 -verify_return_error -CAfile $P/ca.pem"
# OpenSSL 3.0 needs security level 0 to negotiate TLS 1.0 or 1.1 at all.
OLD="-cipher DEFAULT:@SECLEVEL=0"

# s_server N ARGS...: openssl s_server on 127.0.0.1:$SPORT for N connections (0: until the
# test ends), pid in $SPID.
nsrv=0
s_server() {
	n=$1
	shift
	nsrv=$((nsrv + 1))
	[ "$n" -gt 0 ] && set -- -naccept "$n" "$@"
	start_bg "$T/s_server.$nsrv.log" openssl s_server -accept 127.0.0.1:0 -www "$@"
	SPID=$BG_PID
	wait_for_line "$T/s_server.$nsrv.log" "ACCEPT" 60
	SPORT=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$T/s_server.$nsrv.log")
	[ -n "$SPORT" ] || { cat "$T/s_server.$nsrv.log" >&2; fail "s_server gave no port"; }
}

# served: bounded wait for the last s_server to exit, i.e. to have served all its connections.
served() {
	i=0
	while kill -0 "$SPID" 2>/dev/null; do
		i=$((i + 1))
		[ $i -ge 1200 ] && { cat "$T/s_server.$nsrv.log" >&2; fail "s_server did not get its connections"; }
		sleep 0.1
	done
}

# probe STATUS CAUSE ARGS...: kma-agent probe --json, JSON kept in $J.
J="$T/probe.json"
probe() {
	want=$1
	cause=$2
	shift 2
	expect_exit "$want" "$AGENT" probe --json "$@"
	cp "$T/out" "$J"
	expect_jsons "$J" "j['cause']" "$cause" "j['our_versions']" "$OURS_JSON"
}
check() { expect_jsons "$J" "$@"; }
# What OpenSSL answers to our hello when it speaks only older versions: handshake_failure
# to a TLS 1.2 hello, protocol_version to one that also offers TLS 1.3.
HELLO_ALERT=$([ "$TLS13" = 1 ] && echo 70 || echo 40)
RECEIVED="(j['alert_received'] or {}).get('number')"
# the answer to each follow-up, oldest version first, as "answer[/alert|/chosen]"
ANSWERS="' '.join(v['answer'] + ('/%d' % v['alert']['number'] if v['alert'] else '') + ('/' + v['chosen'] if v['answer'] == 'other_version' else '') for v in j['version_probes'])"

# --- 1 a TLS 1.0-only peer: handshake_failure to our hello, protocol_mismatch by its versions
s_server 5 -tls1 $OLD $SERVER
probe 1 protocol_mismatch $ME "127.0.0.1:$SPORT"
check "$RECEIVED" "$HELLO_ALERT" "j['peer_versions']" "['TLS 1.0']" \
	"$ANSWERS" "accepted other_version/TLS 1.0 other_version/TLS 1.0 alert/70" \
	"'no TLS version in common (peer accepts TLS 1.0; we speak $OURS)' in j['detail']" True \
	"j['remedy']" "align the TLS versions of both nodes" \
	"isinstance(j['version_probes_ms'], int)" True
served
ok "1 TLS 1.0-only s_server: alert 40, protocol_mismatch, peer accepts TLS 1.0"

# --- 2 a TLS 1.1-only peer
s_server 5 -tls1_1 $OLD $SERVER
probe 1 protocol_mismatch $ME "127.0.0.1:$SPORT"
check "$RECEIVED" "$HELLO_ALERT" "j['peer_versions']" "['TLS 1.1']" \
	"$ANSWERS" "alert/70 accepted other_version/TLS 1.1 alert/70"
served
ok "2 TLS 1.1-only s_server: alert 40, protocol_mismatch, peer accepts TLS 1.1"

# --- 3 TLS 1.0 and 1.1, and the same in the human output
s_server 5 -no_tls1_2 -no_tls1_3 $OLD $SERVER
probe 1 protocol_mismatch $ME "127.0.0.1:$SPORT"
check "$RECEIVED" "$HELLO_ALERT" "j['peer_versions']" "['TLS 1.0', 'TLS 1.1']" \
	"'(peer accepts TLS 1.0, TLS 1.1; we speak $OURS)' in j['detail']" True
served
s_server 5 -no_tls1_2 -no_tls1_3 $OLD $SERVER
expect_exit 1 "$AGENT" probe $ME "127.0.0.1:$SPORT"
expect_grep "protocol_mismatch" "$T/out"
expect_grep "Peer versions:  accepts TLS 1.0, TLS 1.1 (we speak $OURS)" "$T/out"
expect_grep "  TLS 1.3       alert 70 protocol_version" "$T/out"
expect_grep "  TLS 1.2       other_version (chose TLS 1.1)" "$T/out"
served
ok "3 TLS 1.0+1.1 s_server: peer accepts TLS 1.0, TLS 1.1 (JSON and text)"

# --- 4 TLS 1.2 with a suite we do not offer: the versions match, cipher_mismatch stays
s_server 5 -tls1_2 -cipher AES128-SHA -cert "$P/rsa.pem" -key "$P/rsa.key"
probe 1 cipher_mismatch $ME "127.0.0.1:$SPORT"
check "$RECEIVED" 40 "j['peer_versions']" "['TLS 1.2']" \
	"'(versions match: peer accepts TLS 1.2; we speak $OURS)' in j['detail']" True \
	"$ANSWERS" "alert/70 alert/70 accepted alert/70" \
	"j['remedy']" "align the cipher suites of both nodes"
served
ok "4 TLS 1.2 s_server with AES128-SHA only: cipher_mismatch, versions match"

# --- 5 TLS 1.3 only: protocol_version, and now what it speaks (ok for an agent that speaks it)
if [ "$TLS13" = 1 ]; then
	s_server 1 -tls1_3 $SERVER $VERIFY
	probe 0 ok $ME "127.0.0.1:$SPORT"
	check "j['protocol']" TLSv1.3 "j['version_probes']" None
	served
	ok "5 TLS 1.3-only s_server: ok in TLS 1.3, no follow-up probes"
else
	s_server 5 -tls1_3 $SERVER $VERIFY
	probe 1 protocol_mismatch $ME "127.0.0.1:$SPORT"
	check "$RECEIVED" 70 "j['peer_versions']" "['TLS 1.3']" \
		"'(peer accepts TLS 1.3; we speak $OURS)' in j['detail']" True
	served
	ok "5 TLS 1.3-only s_server: alert 70, peer accepts TLS 1.3"
fi

# --- 6 no follow-up probe after a handshake that was not refused in negotiation
s_server 1 $SERVER $VERIFY
probe 0 ok $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
check "j['peer_versions'], j['version_probes'], j['version_probes_ms']" "(None, None, None)"
s_server 1 -cert "$P/expired.pem" -key "$P/expired.key" $VERIFY
probe 1 peer_cert_expired $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
check "j['version_probes']" None
s_server 1 $SERVER -Verify 1 -verify_return_error -CAfile "$P/domain-ca.pem"
probe 1 rejected_by_peer $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
check "j['version_probes']" None
ok "6 no follow-up probes: ok, a certificate we reject, our certificate rejected"

# --- 7 a version-intolerant peer (python3): closes on any hello but a TLS 1.0 one, which it
# answers with a TLS 1.0 ServerHello. A close with no alert is a refusal too.
cat >"$T/intolerant.py" <<'PY'
import os, socket, struct, sys
only10 = sys.argv[1] == "only10"
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print("PORT", s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(10)
    buf = b""
    try:
        while len(buf) < 5 or len(buf) < 5 + struct.unpack(">H", buf[3:5])[0]:
            d = c.recv(4096)
            if not d:
                break
            buf += d
        # a TLS 1.0 hello: client_version 3.1 and no supported_versions listing others
        if only10 and len(buf) > 10 and buf[9:11] == b"\x03\x01":
            body = b"\x03\x01" + os.urandom(32) + b"\x00" + b"\xc0\x13" + b"\x00"
            msg = b"\x02" + len(body).to_bytes(3, "big") + body
            c.sendall(b"\x16\x03\x01" + len(msg).to_bytes(2, "big") + msg)
            while c.recv(4096):
                pass
    except OSError:
        pass
    c.close()
PY
intolerant() {
	nsrv=$((nsrv + 1))
	start_bg "$T/intolerant.$nsrv.log" python3 "$T/intolerant.py" "$1"
	wait_for_line "$T/intolerant.$nsrv.log" "PORT " 60
	SPORT=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$T/intolerant.$nsrv.log")
}
intolerant only10
probe 1 protocol_mismatch $ME --timeout 5 "127.0.0.1:$SPORT"
check "j['alert_received']" None "j['peer_versions']" "['TLS 1.0']" \
	"$ANSWERS" "accepted closed closed closed" \
	"'closed the connection after our hello: no TLS version in common' in j['detail']" True
intolerant none
probe 1 peer_closed $ME --timeout 5 "127.0.0.1:$SPORT"
check "j['peer_versions']" "[]" "$ANSWERS" "closed closed closed closed" \
	"'(peer accepts none; we speak $OURS)' in j['detail']" True
ok "7 a peer that closes on our hello: protocol_mismatch when it speaks TLS 1.0 only, else peer_closed"

# --- 8 the daemon's mesh: the same evidence in mesh.json (and so in its reports), and one
# probe counted, not one per follow-up connection
s_server 0 -tls1 $OLD $SERVER
make_sim u SIM-U
printf '[peer a-kma01]\naddress = 127.0.0.1:%s\nserial = %s\n' "$SPORT" \
	"$(cat "$P/serial.a-kma01")" >"$T/u/peers.conf"
printf '\n[mesh]\nlisten = 127.0.0.1:%s\npeers = %s\nprobe_interval = 3600\nprobe_timeout = 5\n' \
	"$(free_port)" "$T/u/peers.conf" >>"$T/u/agent.conf"
expect_exit 0 "$AGENT" -c "$T/u/agent.conf" identity import --key "$P/u-kma02.key" \
	--cert "$P/u-kma02.pem" --ca "$P/ca.pem"
start_bg "$T/u.log" "$AGENT" -c "$T/u/agent.conf"
# bounded wait for the first outbound observation (the only one: the interval is an hour)
observed() {
	python3 -c 'import json,sys
j=json.load(open(sys.argv[1])); sys.exit(0 if j["peers"][0]["outbound"] else 1)' \
		"$T/u/state/mesh.json" 2>/dev/null
}
i=0
until observed; do
	i=$((i + 1))
	[ $i -ge 1200 ] && { cat "$T/u.log" >&2; fail "no outbound observation in mesh.json"; }
	sleep 0.1
done
expect_jsons "$T/u/state/mesh.json" "j['peers'][0]['outbound']['cause']" protocol_mismatch \
	"j['peers'][0]['outbound']['alert_received']" "$HELLO_ALERT" \
	"'(peer accepts TLS 1.0; we speak $OURS)' in j['peers'][0]['outbound']['detail']" True \
	"j['peers'][0]['consecutive_failures']" 1 \
	"j['listener']['accepted']" 0
expect_grep "protocol_mismatch (alert received $HELLO_ALERT " "$T/u.log"
ok "8 the mesh: protocol_mismatch with the peer's versions in mesh.json, one failed probe counted"
