#!/bin/sh
# kma-agent probe --accept ADDR:PORT --once (we are the TLS server, a client certificate is
# required) against openssl s_client and small python3 clients: each way a connecting peer
# can fail gets its cause, exit status and evidence.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

P="$T/pki"
pki_make "$P" || fail "could not create the test PKI"
OLD=E2207FDBA432E9010000000000000084
U=$(cat "$P/serial.u-kma02")
# We listen as a-kma01; the peer connecting is u-kma02 unless said otherwise.
ME="--ca $P/ca.pem --cert $P/a-kma01.pem --key $P/a-kma01.key"

# listen ARGS...: kma-agent probe --json --accept on a free port (LPORT), in the background,
# ready when the port listens (checked without connecting: it accepts only one connection).
nl=0
listen() {
	nl=$((nl + 1))
	LPORT=$(free_port)
	J="$T/accept.$nl.json"
	"$AGENT" probe --json --accept "127.0.0.1:$LPORT" --once "$@" </dev/null >"$J" 2>"$J.err" &
	LPID=$!
	PIDS="$PIDS $LPID"
	wait_listen "$LPORT" 60
}

# result STATUS CAUSE: bounded wait for the listener to exit, then its status and common fields.
result() {
	i=0
	while kill -0 "$LPID" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 600 ] && { cat "$J" "$J.err" >&2; fail "probe --accept did not exit"; }
		sleep 0.1
	done
	wait "$LPID"
	st=$?
	[ "$st" = "$1" ] || { cat "$J" "$J.err" >&2; fail "probe --accept exit $st, want $1"; }
	expect_jsons "$J" "j['cause']" "$2" "j['direction']" inbound "bool(j['meaning'])" True \
		"j['cause'] == 'ok' or bool(j['remedy'])" True \
		"'127.0.0.1' in j['peer']" True
}
check() { expect_jsons "$J" "$@"; }
SENT="(j['alert_sent'] or {}).get('number')"
RECEIVED="(j['alert_received'] or {}).get('number')"
FLAGS="len(j['verify_flags']) > 0"

# s_client ARGS...: openssl s_client to the listener, its output in $T/s_client.log
s_client() {
	openssl s_client -connect "127.0.0.1:$LPORT" "$@" </dev/null >"$T/s_client.log" 2>&1
}
UCERT="-cert $P/u-kma02.pem -key $P/u-kma02.key"

# python3 clients that are not TLS clients
cat >"$T/fake_client.py" <<'PY'
import socket, sys
mode, port = sys.argv[1], int(sys.argv[2])
c = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "http":          # a web client on the port
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
if mode in ("http", "silent"):
    try:                    # until the listener gives up and closes
        while c.recv(4096):
            pass
    except OSError:
        pass
c.close()                   # "close": connects and closes at once
PY
fake_client() { python3 "$T/fake_client.py" "$1" "$LPORT" || fail "fake client $1"; }

# --- 19 ok
listen $ME --expect-id u-kma02 --expect-serial "$U"
s_client $UCERT -CAfile "$P/ca.pem" -verify_return_error || { cat "$T/s_client.log" >&2; fail "s_client"; }
result 0 ok
check "j['alert_sent'], j['alert_received'], j['tls_error']" "(None, None, None)" \
	"j['verify_flags']" "[]" \
	"j['peer_cert']['serial'], j['peer_cert']['node_id']" "('$U', 'u-kma02')" \
	"j['expected']['node_id'], j['expected']['serial']" "('u-kma02', '$U')" \
	"'$PROTO' in j['protocol'] and ('ECDSA' in j['cipher_suite'] or '$PROTO' == '1.3')" True \
	"isinstance(j['handshake_ms'], int) and j['handshake_ms'] >= 0" True
expect_grep "Verify return code: 0 (ok)" "$T/s_client.log"
ok "19 ok: a cluster peer with the enrolled serial connects"

# --- 20 peer_no_client_cert
listen $ME --expect-id u-kma02
s_client -CAfile "$P/ca.pem"
result 1 peer_no_client_cert
check "j['peer_cert']" None
ok "20 peer_no_client_cert: the client sent no certificate"

# --- 21 peer_cert_untrusted: a client with a domain-CA certificate (root sent along)
listen $ME --expect-id a-kma01
s_client -cert "$P/domain-leaf.pem" -key "$P/domain-leaf.key" -cert_chain "$P/domain-ca.pem" \
	-CAfile "$P/ca.pem"
result 1 peer_cert_untrusted
check "$SENT" 48 "$FLAGS" True "'Example Domain CA' in j['peer_cert']['issuer']" True
ok "21 peer_cert_untrusted (inbound): unknown_ca sent"

# --- 22 peer_serial_mismatch: right node, valid certificate, not the enrolled serial
listen $ME --expect-id u-kma02 --expect-serial $OLD
s_client $UCERT -CAfile "$P/ca.pem"
result 1 peer_serial_mismatch
check "$SENT" 49 "j['peer_cert']['serial']" "$U" "j['expected']['serial']" $OLD
# TLS 1.3: s_client's handshake is over before our verdict; it may leave before the alert
# comes, and when it reads it, it cannot decrypt it (Mbed TLS seals it with its handshake
# keys, after the client switched to its application keys: "bad record mac").
[ "$TLS13" = 1 ] || expect_grep "access denied" "$T/s_client.log"
ok "22 peer_serial_mismatch (inbound): access_denied sent"

# --- 23 rejected_by_peer: the client does not trust our certificate
listen $ME --expect-id u-kma02
s_client $UCERT -CAfile "$P/domain-ca.pem" -verify_return_error
result 1 rejected_by_peer
check "$RECEIVED" 48 "j['alert_sent']" None
ok "23 rejected_by_peer (inbound): unknown_ca received"

# --- 25 not_tls: an HTTP request
listen $ME --timeout 2
fake_client http
result 1 not_tls
check "j['peer_cert']" None
ok "25 not_tls (inbound): an HTTP request"

# --- 26 peer_closed: connects and closes at once
listen $ME --timeout 2
fake_client close
result 1 peer_closed
ok "26 peer_closed (inbound): connected and closed without a word"

# --- 27 handshake_timeout: connects and sends nothing
listen $ME --timeout 1
start=$(date +%s)
fake_client silent
result 1 handshake_timeout
# --timeout 1 held, by the probe's own monotonic clock (the default would be 5000 ms); the
# wall clock only catches a hang (a loaded machine starts programs slowly).
check "j['handshake_ms'] < 4000" True
[ $(($(date +%s) - start)) -lt 60 ] || fail "--timeout 1 took $(($(date +%s) - start)) s"
ok "27 handshake_timeout (inbound): a silent client is dropped at the deadline"

# --- 24 protocol_mismatch: a TLS 1.3-only client. Its ClientHello offers supported_versions
# {0x0304} and TLS 1.3 suites only: no version in common (a version outside ours offered), which
# is a protocol mismatch even though no 1.2 suite is offered either. Last, as the other
# scenarios do not depend on it.
# An agent that speaks TLS 1.3 (Mbed TLS 3.x) accepts that client; its mismatch is a client
# that speaks TLS 1.1 only.
listen $ME --expect-id u-kma02
if [ "$TLS13" = 1 ]; then
	s_client $UCERT -CAfile "$P/ca.pem" -tls1_3
	result 0 ok
	check "j['protocol']" TLSv1.3
	listen $ME --expect-id u-kma02
	s_client $UCERT -CAfile "$P/ca.pem" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
	result 1 protocol_mismatch
	ok "24 TLS 1.3-only client ok; protocol_mismatch (inbound): TLS 1.1-only client"
else
	s_client $UCERT -CAfile "$P/ca.pem" -tls1_3
	result 1 protocol_mismatch
	ok "24 protocol_mismatch (inbound): TLS 1.3-only client"
fi
