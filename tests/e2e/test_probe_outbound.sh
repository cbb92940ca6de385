#!/bin/sh
# kma-agent probe HOST:PORT (we are the TLS client) against openssl s_server and small python3
# servers, one scenario per failure mode of the field: every outcome gets its cause, exit
# status and evidence (alerts, verify flags, the peer's certificate, what was expected).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

P="$T/pki"
pki_make "$P" || fail "could not create the test PKI"
OLD=E2207FDBA432E9010000000000000084
NEW=E2207FDBA432E9010000000000000085
# We probe as u-kma02.
ME="--ca $P/ca.pem --cert $P/u-kma02.pem --key $P/u-kma02.key"

# s_server ARGS...: openssl s_server for one connection ($NACCEPT) on 127.0.0.1:$SPORT,
# requiring and checking a client certificate against the cluster CA unless ARGS say otherwise.
# A probe whose hello is refused makes one more connection per TLS version (asking which the
# peer accepts, test_probe_versions.sh): NACCEPT=5 serves those too.
nsrv=0
NACCEPT=1
s_server() {
	nsrv=$((nsrv + 1))
	start_bg "$T/s_server.$nsrv.log" openssl s_server -accept 127.0.0.1:0 -naccept "$NACCEPT" \
		-www "$@"
	wait_for_line "$T/s_server.$nsrv.log" "ACCEPT" 60
	SPORT=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$T/s_server.$nsrv.log")
	[ -n "$SPORT" ] || { cat "$T/s_server.$nsrv.log" >&2; fail "s_server gave no port"; }
}
VERIFY="-Verify 1 -verify_return_error -CAfile $P/ca.pem"

# fake_server MODE: a python3 TCP server on 127.0.0.1:$SPORT that misbehaves (see below).
cat >"$T/fake_server.py" <<'PY'
import socket, struct, sys, time
mode = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]

def read_client_hello(c):
    # the whole first record, so close() sends a FIN and not a RST for unread data
    c.settimeout(10)
    buf = b""
    while len(buf) < 5 or len(buf) < 5 + struct.unpack(">H", buf[3:5])[0]:
        d = c.recv(4096)
        if not d:
            break
        buf += d

def drain(c, secs=10):
    c.settimeout(secs)
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass

if mode == "backlog":
    # listen queue of one, filled, never accepted: further SYNs are dropped
    s.listen(0)
    f1 = socket.create_connection(("127.0.0.1", port))
    f2 = socket.socket()
    f2.setblocking(False)
    f2.connect_ex(("127.0.0.1", port))
    print("PORT", port, flush=True)
    time.sleep(120)
    sys.exit(0)

s.listen(8)
print("PORT", port, flush=True)
keep = []
while True:
    c, _ = s.accept()
    if mode == "silent":        # accepts, says nothing
        keep.append(c)
        continue
    if mode == "ssh":           # a service that talks first, not TLS
        c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        drain(c, 5)
    elif mode == "http":        # a web server on the port: reads, answers in HTTP
        read_client_hello(c)
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    elif mode == "fin":         # reads the ClientHello, closes cleanly without an alert
        read_client_hello(c)
    elif mode == "rst":         # reads the ClientHello, resets
        read_client_hello(c)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
PY
fake_server() {
	nsrv=$((nsrv + 1))
	start_bg "$T/fake.$nsrv.log" python3 "$T/fake_server.py" "$1"
	wait_for_line "$T/fake.$nsrv.log" "PORT " 60
	SPORT=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$T/fake.$nsrv.log")
	[ -n "$SPORT" ] || { cat "$T/fake.$nsrv.log" >&2; fail "fake server gave no port"; }
}

# probe STATUS CAUSE ARGS...: kma-agent probe --json, JSON kept in $J, common fields checked.
J="$T/probe.json"
probe() {
	want=$1
	cause=$2
	shift 2
	expect_exit "$want" "$AGENT" probe --json "$@"
	cp "$T/out" "$J"
	expect_jsons "$J" "j['cause']" "$cause" "j['direction']" outbound "bool(j['meaning'])" True \
		"j['cause'] == 'ok' or bool(j['remedy'])" True \
		"isinstance(j['handshake_ms'], int) and j['handshake_ms'] >= 0" True
}
# check EXPR WANT [EXPR WANT]...: on the last probe's JSON
check() { expect_jsons "$J" "$@"; }
SENT="(j['alert_sent'] or {}).get('number')"
RECEIVED="(j['alert_received'] or {}).get('number')"
FLAGS="len(j['verify_flags']) > 0"

# --- usage and input errors
expect_exit 64 "$AGENT" probe --json
expect_exit 64 "$AGENT" probe --json --ca "$P/ca.pem" 127.0.0.1:1
expect_exit 66 "$AGENT" probe --json --ca "$T/nope.pem" --cert "$P/u-kma02.pem" \
	--key "$P/u-kma02.key" 127.0.0.1:1
echo "not a certificate" >"$T/bad.pem"
expect_exit 65 "$AGENT" probe --json --ca "$T/bad.pem" --cert "$P/u-kma02.pem" \
	--key "$P/u-kma02.key" 127.0.0.1:1
ok "usage 64, unreadable file 66, bad PEM 65"

# --- 1 ok: mutual authentication with the enrolled serial
s_server -cert "$P/a-kma01.pem" -key "$P/a-kma01.key" $VERIFY
probe 0 ok $ME --expect-id a-kma01 --expect-serial $OLD "127.0.0.1:$SPORT"
check "str($SPORT) in j['peer']" True \
	"j['alert_sent'], j['alert_received'], j['tls_error']" "(None, None, None)" \
	"j['verify_flags']" "[]" \
	"j['peer_cert']['serial']" $OLD \
	"j['peer_cert']['node_id']" a-kma01 \
	"'a-kma01' in j['peer_cert']['subject']" True \
	"'Example Cluster CA' in j['peer_cert']['issuer']" True \
	"'2000' in j['peer_cert']['not_before'] and '2120' in j['peer_cert']['not_after']" True \
	"j['expected']['node_id'], j['expected']['serial']" "('a-kma01', '$OLD')" \
	"'$PROTO' in j['protocol']" True \
	"'ECDSA' in j['cipher_suite'] or '$PROTO' == '1.3'" True
ok "1 ok: mutual TLS with the enrolled node and serial"

# the pinned serial in another spelling (lower case, colons)
s_server -cert "$P/a-kma01.pem" -key "$P/a-kma01.key" $VERIFY
probe 0 ok $ME --expect-id a-kma01 \
	--expect-serial e2:20:7f:db:a4:32:e9:01:00:00:00:00:00:00:00:84 "127.0.0.1:$SPORT"
ok "1b ok: --expect-serial in lower case with colons"

# --- 2 tcp_refused
port=$(free_port)
probe 1 tcp_refused $ME "127.0.0.1:$port"
check "j['peer_cert'], j['cipher_suite']" "(None, None)"
ok "2 tcp_refused: nothing listens"

# --- 3 tcp_timeout: the listen queue is full, SYNs are dropped, connect never completes
fake_server backlog
start=$(date +%s)
probe 1 tcp_timeout $ME --timeout 1 "127.0.0.1:$SPORT"
# --timeout 1 held, by the probe's own clock (the default is 5000 ms); the wall clock only
# catches a hang.
check "j['handshake_ms'] < 4000" True
[ $(($(date +%s) - start)) -lt 60 ] || fail "--timeout 1 took $(($(date +%s) - start)) s"
check "j['peer_cert']" None
ok "3 tcp_timeout: connect does not complete within --timeout"

# --- 4 handshake_timeout: accepts, never answers
fake_server silent
start=$(date +%s)
probe 1 handshake_timeout $ME --timeout 1 "127.0.0.1:$SPORT"
# --timeout 1 held, by the probe's own clock (the default is 5000 ms); the wall clock only
# catches a hang.
check "j['handshake_ms'] < 4000" True
[ $(($(date +%s) - start)) -lt 60 ] || fail "--timeout 1 took $(($(date +%s) - start)) s"
ok "4 handshake_timeout: TCP up, no TLS answer"

# --- 5 not_tls
fake_server ssh
probe 1 not_tls $ME --timeout 2 "127.0.0.1:$SPORT"
check "j['peer_cert']" None
fake_server http
probe 1 not_tls $ME --timeout 2 "127.0.0.1:$SPORT"
ok "5 not_tls: an SSH banner, an HTTP answer"

# --- 6 peer_closed: FIN after our ClientHello, no alert
fake_server fin
probe 1 peer_closed $ME --timeout 2 "127.0.0.1:$SPORT"
check "j['alert_received']" None "j['peer_versions']" "[]"
ok "6 peer_closed: clean close without an alert (to every version asked after it)"

# --- 7 tcp_reset: RST after our ClientHello
fake_server rst
probe 1 tcp_reset $ME --timeout 2 "127.0.0.1:$SPORT"
check "j['peer_versions']" "[]" "[v['answer'] for v in j['version_probes']]" "['reset', 'reset', 'reset', 'reset']"
ok "7 tcp_reset: connection reset during the handshake (and to every version asked after it)"

# --- 8 protocol_mismatch: the peer speaks TLS 1.3 only (an agent on Mbed TLS 3.x speaks it)
NACCEPT=5
s_server -tls1_3 -cert "$P/a-kma01.pem" -key "$P/a-kma01.key" $VERIFY
if [ "$TLS13" = 1 ]; then
	probe 0 ok $ME "127.0.0.1:$SPORT"
	check "j['protocol']" TLSv1.3
	ok "8 a TLS 1.3-only peer: ok, TLS 1.3 (this agent speaks it)"
else
	probe 1 protocol_mismatch $ME "127.0.0.1:$SPORT"
	check "$RECEIVED" 70 "j['peer_versions']" "['TLS 1.3']"
	ok "8 protocol_mismatch: protocol_version alert received, the peer accepts TLS 1.3"
fi

# --- 9 cipher_mismatch: the peer offers RSA key exchange only
s_server -tls1_2 -cipher AES128-SHA -cert "$P/rsa.pem" -key "$P/rsa.key"
probe 1 cipher_mismatch $ME "127.0.0.1:$SPORT"
check "$RECEIVED" 40 "j['cipher_suite']" None "j['peer_versions']" "['TLS 1.2']"
NACCEPT=1
ok "9 cipher_mismatch: handshake_failure alert received, the versions match"

# --- 10 peer_cert_untrusted: the domain-CA incident, chain ends in a foreign root
s_server -cert "$P/domain-leaf.pem" -key "$P/domain-leaf.key" -cert_chain "$P/domain-ca.pem" \
	$VERIFY
probe 1 peer_cert_untrusted $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
check "$SENT" 48 "$FLAGS" True \
	"'Example Domain CA' in j['peer_cert']['issuer']" True \
	"j['peer_cert']['serial']" "$(cat "$P/serial.domain-leaf")"
ok "10 peer_cert_untrusted: foreign root, unknown_ca sent"

# --- 11 peer_chain_incomplete: leaf signed by an intermediate the peer does not send
s_server -cert "$P/a-kma03.pem" -key "$P/a-kma03.key" $VERIFY
probe 1 peer_chain_incomplete $ME --expect-id a-kma03 "127.0.0.1:$SPORT"
check "$SENT" 48 "$FLAGS" True "'Intermediate' in j['peer_cert']['issuer']" True
s_server -cert "$P/a-kma03.pem" -key "$P/a-kma03.key" -cert_chain "$P/int.pem" $VERIFY
probe 0 ok $ME --expect-id a-kma03 "127.0.0.1:$SPORT"
ok "11 peer_chain_incomplete without the intermediate, ok with it"

# a foreign leaf alone: its issuer is neither sent nor trusted
s_server -cert "$P/domain-leaf.pem" -key "$P/domain-leaf.key" $VERIFY
probe 1 peer_chain_incomplete $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
ok "11b peer_chain_incomplete: foreign leaf without its root"

# --- 12 peer_cert_expired
s_server -cert "$P/expired.pem" -key "$P/expired.key" $VERIFY
probe 1 peer_cert_expired $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
check "$SENT" 45 "$FLAGS" True "'2021' in j['peer_cert']['not_after']" True
ok "12 peer_cert_expired: certificate_expired sent"

# --- 13 peer_cert_not_yet_valid
s_server -cert "$P/notyet.pem" -key "$P/notyet.key" $VERIFY
probe 1 peer_cert_not_yet_valid $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
check "$SENT" 46 "$FLAGS" True "'2090' in j['peer_cert']['not_before']" True
ok "13 peer_cert_not_yet_valid: certificate_unknown sent"

# --- 14 peer_cert_revoked (and the same certificate without the CRL is accepted)
s_server -cert "$P/revoked.pem" -key "$P/revoked.key" $VERIFY
probe 1 peer_cert_revoked $ME --crl "$P/ca.crl" --expect-id a-kma01 "127.0.0.1:$SPORT"
check "$SENT" 44 "$FLAGS" True "j['peer_cert']['serial']" "$(cat "$P/serial.revoked")"
s_server -cert "$P/revoked.pem" -key "$P/revoked.key" $VERIFY
probe 0 ok $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
ok "14 peer_cert_revoked with --crl: certificate_revoked sent"

# --- 15 peer_cert_bad_usage: clientAuth-only certificate used by a server
s_server -cert "$P/clientonly.pem" -key "$P/clientonly.key" $VERIFY
probe 1 peer_cert_bad_usage $ME --expect-id a-kma01 "127.0.0.1:$SPORT"
check "$SENT" 43 "$FLAGS" True
ok "15 peer_cert_bad_usage: clientAuth-only EKU on a server, unsupported_certificate sent"

# --- 16 peer_identity_mismatch
s_server -cert "$P/u-kma02.pem" -key "$P/u-kma02.key" $VERIFY
probe 1 peer_identity_mismatch --ca "$P/ca.pem" --cert "$P/a-kma01.pem" --key "$P/a-kma01.key" \
	--expect-id a-kma02 "127.0.0.1:$SPORT"
check "j['alert_sent'] is not None" True "j['peer_cert']['node_id']" u-kma02 \
	"j['expected']['node_id']" a-kma02
ok "16 peer_identity_mismatch: u-kma02 where a-kma02 was expected"

# --- 17 peer_serial_mismatch: a-kma01 re-issued (QuickStart) and not rejoined
s_server -cert "$P/a-kma01-new.pem" -key "$P/a-kma01-new.key" $VERIFY
probe 1 peer_serial_mismatch $ME --expect-id a-kma01 --expect-serial $OLD "127.0.0.1:$SPORT"
check "$SENT" 49 "j['peer_cert']['serial']" $NEW "j['peer_cert']['node_id']" a-kma01 \
	"j['expected']['serial']" $OLD
ok "17 peer_serial_mismatch: access_denied sent, both serials shown"

# --- 18 rejected_by_peer: the peer does not trust our certificate
s_server -cert "$P/a-kma01.pem" -key "$P/a-kma01.key" -Verify 1 -verify_return_error \
	-CAfile "$P/domain-ca.pem"
probe 1 rejected_by_peer $ME --expect-id a-kma01 --expect-serial $OLD "127.0.0.1:$SPORT"
check "$RECEIVED in (42, 46, 48)" True "j['alert_sent']" None "j['peer_cert']['serial']" $OLD
ok "18 rejected_by_peer: the peer's fatal alert about our certificate is kept"
