#!/bin/sh
# Session resumption between probes, with real agents and foreign peers on loopback:
#   1. after one full handshake, probes resume, and both ends say so (outbound and inbound);
#   2. a restarted peer (new process, new ticket key) gets a full, verified handshake;
#   3. a peer re-keyed under the same node ID is caught as peer_serial_mismatch although a
#      session was saved;
#   4. full_handshake_interval forces full handshakes between resumed ones;
#   5. interop: openssl s_client resumes with our listener (-sess_out/-sess_in), and we
#      resume with openssl s_server, which verifies our certificate once; an s_server that
#      sends no ticket and waits for the client is probed ok every time.
# Waits are bounded polls for a state that persists (counters, causes), never durations.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

P="$T/pki"
pki_make "$P" || fail "could not create the test PKI"
A_OLD=$(cat "$P/serial.a-kma01")
A_NEW=$(cat "$P/serial.a-kma01-new")
U_SER=$(cat "$P/serial.u-kma02")
PA=$(free_port)
PU=$(free_port)

make_sim a SIM-A
make_sim u SIM-U
printf '[peer u-kma02]\naddress = 127.0.0.1:%s\nserial = %s\n' "$PU" "$U_SER" >"$T/a/peers.conf"
printf '[peer a-kma01]\naddress = 127.0.0.1:%s\nserial = %s\n' "$PA" "$A_OLD" >"$T/u/peers.conf"
for n in a u; do
	port=$PA
	[ $n = u ] && port=$PU
	printf '\n[mesh]\nlisten = 127.0.0.1:%s\npeers = %s\nprobe_interval = 1\nprobe_timeout = 5\n' \
		"$port" "$T/$n/peers.conf" >>"$T/$n/agent.conf"
done
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$P/a-kma01.key" \
	--cert "$P/a-kma01.pem" --ca "$P/ca.pem"
expect_exit 0 "$AGENT" -c "$T/u/agent.conf" identity import --key "$P/u-kma02.key" \
	--cert "$P/u-kma02.pem" --ca "$P/ca.pem"

start_a() {
	start_bg "$T/a.log.$1" "$AGENT" -c "$T/a/agent.conf"
	A_PID=$BG_PID
}
start_u() {
	start_bg "$T/u.log.$1" "$AGENT" -c "$T/u/agent.conf"
	U_PID=$BG_PID
}
stop() {
	kill "$1"
	wait "$1" 2>/dev/null
}

# wait_py NODE EXPR [WHAT]: bounded wait until a Python expression over NODE's mesh.json (j;
# p is its first peer, o its outbound and i its inbound observation) is true.
wait_py() {
	python3 - "$T/$1/state/mesh.json" "$2" <<'PY' || { cat "$T/$1/state/mesh.json" "$T"/*.log.* "$T"/s_server.log >&2; fail "${3:-$2} ($1)"; }
import json, sys, time
f, e = sys.argv[1], sys.argv[2]
end = time.time() + 60
while time.time() < end:
    try:
        j = json.load(open(f))
        p = j["peers"][0]
        o, i = p["outbound"] or {}, p["inbound"] or {}
        if eval(e):
            sys.exit(0)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    time.sleep(0.1)
sys.exit(1)
PY
}
RESUMED_OK="o.get('cause') == 'ok' and o.get('resumed') is True"
INBOUND_RESUMED="i.get('cause') == 'ok' and i.get('resumed') is True"

# ---- 1. resumption, agreed by both ends ----
start_a 1
start_u 1
wait_py u "$RESUMED_OK" "u-kma02 resumes its probes of a-kma01"
wait_py a "$INBOUND_RESUMED" "a-kma01 sees u-kma02's probes resume"
wait_py a "$RESUMED_OK" "a-kma01 resumes its probes of u-kma02"
wait_py u "$INBOUND_RESUMED" "u-kma02 sees a-kma01's probes resume"
M="$T/u/state/mesh.json"
expect_jsons "$M" "j['peers'][0]['outbound']['peer_serial']" "$A_OLD" \
	"'resuming a session' in j['peers'][0]['outbound']['detail']" True \
	"j['peers'][0]['outbound_ok_handshakes']['full']" 1
expect_jsons "$T/a/state/mesh.json" "j['peers'][0]['inbound']['peer_serial']" "$U_SER" \
	"j['peers'][0]['inbound']['peer_node_id']" u-kma02 \
	"j['peers'][0]['inbound']['expected_serial']" "$U_SER"
ok "after one full handshake, probes resume; both ends report it with the verified certificate"

# ---- 2. a restarted peer cannot resume: full handshake, verified ----
stop "$A_PID"
start_a 2
wait_py u "p['outbound_ok_handshakes']['full'] == 2 and $RESUMED_OK" \
	"u-kma02 verifies the restarted a-kma01 in full once, then resumes"
expect_json "$M" "j['peers'][0]['outbound']['peer_serial']" "$A_OLD"
ok "a restarted peer gets one full, verified handshake, then resumption again"

# ---- 3. re-keyed under the same node ID: caught despite the saved session ----
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$P/a-kma01-new.key" \
	--cert "$P/a-kma01-new.pem" --ca "$P/ca.pem"
kill -HUP "$A_PID"
wait_py u "o.get('cause') == 'peer_serial_mismatch' and o.get('resumed') is False" \
	"u-kma02 catches the re-keyed a-kma01"
wait_py u "i.get('cause') == 'peer_serial_mismatch'" "u-kma02 rejects the re-keyed a-kma01 inbound"
expect_jsons "$M" "j['peers'][0]['outbound']['peer_serial']" "$A_NEW" \
	"j['peers'][0]['outbound']['expected_serial']" "$A_OLD" \
	"j['peers'][0]['outbound']['alert_sent']" 49
ok "a re-keyed peer is peer_serial_mismatch, not a resumed ok"
stop "$A_PID"
stop "$U_PID"

# ---- 4. the forced full handshake at the interval ----
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$P/a-kma01.key" \
	--cert "$P/a-kma01.pem" --ca "$P/ca.pem"
printf 'full_handshake_interval = 2\n' >>"$T/u/agent.conf"
start_a 3
start_u 2
wait_py u "p['outbound_ok_handshakes']['full'] >= 3 and p['outbound_ok_handshakes']['resumed'] >= 2" \
	"u-kma02 alternates full and resumed handshakes every 2 s"
stop "$U_PID"
ok "full_handshake_interval forces full handshakes between resumed probes"

# ---- 5a. openssl s_client resumes with our listener ----
# TLS 1.2 (s_client reading stdin from /dev/null may leave before a TLS 1.3 ticket comes);
# TLS 1.3 resumption between agents is shown above, and with s_server below.
SC="openssl s_client -tls1_2 -connect 127.0.0.1:$PA -cert $P/u-kma02.pem -key $P/u-kma02.key \
	-CAfile $P/ca.pem -verify_return_error"
$SC -sess_out "$T/sess.pem" </dev/null >"$T/s_client.1" 2>&1 || { cat "$T/s_client.1"; fail "s_client"; }
expect_grep "New, TLSv1.2" "$T/s_client.1"
expect_grep "Verify return code: 0 (ok)" "$T/s_client.1"
wait_py a "i.get('cause') == 'ok' and i.get('resumed') is False and '127.0.0.1' in i.get('peer')" \
	"a-kma01 verifies s_client in full"
$SC -sess_in "$T/sess.pem" </dev/null >"$T/s_client.2" 2>&1 || { cat "$T/s_client.2"; fail "s_client"; }
expect_grep "Reused, TLSv1.2" "$T/s_client.2"
wait_py a "$INBOUND_RESUMED and i.get('peer_serial') == '$U_SER'" \
	"a-kma01 reports s_client's resumed session with the certificate verified before"
ok "openssl s_client resumes with our listener, which reports the verified certificate"

# ---- 5b. we resume with openssl s_server, which checks us and sends one ticket a session ----
stop "$A_PID"
start_bg "$T/s_server.log" openssl s_server -accept "127.0.0.1:$PU" -cert "$P/u-kma02.pem" \
	-key "$P/u-kma02.key" -CAfile "$P/ca.pem" -Verify 1 -verify_return_error -www -num_tickets 1
SS_PID=$BG_PID
wait_for_line "$T/s_server.log" "ACCEPT" 60
start_a 4
wait_py a "$RESUMED_OK" "a-kma01 resumes with openssl s_server"
# Every probe after the first resumed: one full handshake, and never a probe left waiting
# for a TLS 1.3 ticket Mbed TLS had already read (it holds it back for the next call).
expect_json "$T/a/state/mesh.json" "j['peers'][0]['outbound_ok_handshakes']['full']" 1
! grep -q handshake_timeout "$T/a.log.4" || { cat "$T/a.log.4" >&2; fail "a probe of s_server timed out"; }
# s_server verified our certificate once: the resumed handshake was resumed on its side too.
n=$(grep -c "^depth=0 .*CN = a-kma01" "$T/s_server.log")
[ "$n" = 1 ] || { cat "$T/s_server.log" >&2; fail "s_server verified us $n times, want 1"; }
ok "we resume with openssl s_server, which verified our certificate only at the full handshake"

# ---- 5c. a server that sends no ticket and waits for the client ----
# (s_server -num_tickets 0 -www: in TLS 1.3 it says nothing after our Finished until we
# speak; -no_ticket -no_cache: in TLS 1.2 no session to resume either.) Every probe is ok,
# by a full handshake; none runs into its deadline.
stop "$A_PID"
stop_pids "$SS_PID"
start_bg "$T/s_server0.log" openssl s_server -accept "127.0.0.1:$PU" -cert "$P/u-kma02.pem" \
	-key "$P/u-kma02.key" -CAfile "$P/ca.pem" -Verify 1 -verify_return_error -www -num_tickets 0 -no_ticket -no_cache
wait_for_line "$T/s_server0.log" "ACCEPT" 60
start_a 5
wait_py a "o.get('cause') == 'ok' and o.get('resumed') is False" "a-kma01 probes s_server -num_tickets 0 ok"
# s_server verifies us at every probe (no ticket, no resumption): four probes (one a second;
# mesh.json is rewritten only on a change), and none of them ran into its deadline.
n=0
while [ "$(grep -c "^depth=0 .*CN = a-kma01" "$T/s_server0.log")" -lt 4 ]; do
	n=$((n + 1))
	[ $n -lt 600 ] || { cat "$T/s_server0.log" >&2; fail "s_server -num_tickets 0 saw fewer than 4 probes in 60 s"; }
	sleep 0.1
done
! grep -q "handshake_timeout" "$T/a.log.5" || { cat "$T/a.log.5" >&2; fail "a probe of s_server -num_tickets 0 timed out"; }
expect_json "$T/a/state/mesh.json" "j['peers'][0]['outbound']['cause']" ok
ok "a server that sends no ticket and waits: every probe ok, none timed out"
