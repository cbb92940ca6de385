#!/bin/sh
# The agent and kmactl trust the coordinator's CA they are configured with, and nothing else:
# not the system's CA directory, which libcurl searches by default. A server whose
# certificate a CA of the system store issued (for the right host name) is refused.
#
# The system store is replaced, for these processes only, by one holding a "public" CA of
# the test's (a private mount namespace), and `curl --cacert` first shows that libcurl's
# defaults would indeed trust the server through it. Needs root (unshare -m).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

unshare -m true 2>/dev/null || {
	echo "SKIP: no private mount namespace here (unshare -m needs root)" >&2
	exit 77
}
command -v curl >/dev/null || fail "curl is needed"

# A "public" CA in a stand-in system store, and a server certificate it issued for localhost.
P="$T/pub"
mkdir -p "$P/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/ca.key" \
	-out "$P/certs/public-ca.pem" -subj "/CN=Some Public Root CA" -days 2 2>/dev/null ||
	fail "public CA"
openssl rehash "$P/certs" || fail "openssl rehash"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/srv.key" \
	-out "$P/srv.csr" -subj "/CN=localhost" 2>/dev/null || fail "server key"
printf 'subjectAltName = DNS:localhost\n' >"$P/ext"
openssl x509 -req -in "$P/srv.csr" -CA "$P/certs/public-ca.pem" -CAkey "$P/ca.key" \
	-CAcreateserial -days 2 -extfile "$P/ext" -out "$P/srv.pem" 2>/dev/null || fail "server cert"

PORT=$(free_port)
start_bg "$T/s_server.log" openssl s_server -accept "127.0.0.1:$PORT" -cert "$P/srv.pem" \
	-key "$P/srv.key" -www
wait_listen "$PORT"

# in_store CMD...: CMD with the stand-in as the system's CA directory.
in_store() {
	unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs && exec "$@"' "$P/certs" "$@"
}

# libcurl's defaults trust the server through the stand-in store, next to the cluster CA.
code=$(in_store curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$DATA/ca.pem" \
	"https://localhost:$PORT/") || fail "curl with libcurl's defaults did not connect: $code"
[ "$code" = 200 ] || fail "curl with libcurl's defaults: HTTP $code"
ok "libcurl's defaults trust a server of the system store's CA (the stand-in store works)"

# The agent, configured with the cluster CA, refuses it.
make_sim n1 SIM-TRUST-0001
C="$T/n1/agent.conf"
expect_exit 0 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
printf '\n[coordinator]\nurl = https://localhost:%s/\nreport_interval = 1\nca = %s\n' \
	"$PORT" "$DATA/ca.pem" >>"$C"
# In the background the function runs in a subshell: exec, so that $! is the agent itself
# (cleanup's kill reaches it, and no agent outlives the test).
(exec unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs && exec "$@"' "$P/certs" \
	"$AGENT" -c "$C" run) >"$T/agent.log" 2>&1 &
PIDS="$PIDS $!"
wait_for_line "$T/agent.log" "coordinator: report 1 failed"
grep "coordinator: report 1 failed" "$T/agent.log" | grep -q "SSL peer certificate" ||
	fail "the agent's report failed for another reason: $(grep 'report 1 failed' "$T/agent.log")"
expect_grep "ACCEPT" "$T/s_server.log"
! grep -q "GET /" "$T/s_server.log" || fail "the agent sent a request to an untrusted server"
ok "the agent does not report to a server only the system store trusts"

# Nor does its QuickStart send an enrolment token there.
make_sim n2 SIM-TRUST-0002
printf '\n[coordinator]\nurl = https://localhost:%s/\nca = %s\n' "$PORT" "$DATA/ca.pem" \
	>>"$T/n2/agent.conf"
echo "kma1-secret-token-not-to-be-sent" >"$T/token"
chmod 600 "$T/token"
in_store "$AGENT" -c "$T/n2/agent.conf" quickstart --node-id a-kma01 --token-file "$T/token" \
	>"$T/qs.log" 2>&1 && fail "quickstart enrolled with an untrusted server"
expect_grep "SSL peer certificate" "$T/qs.log"
ok "quickstart does not enrol with a server only the system store trusts"

# kmactl with a configured CA, the same.
cat >"$T/kmactl.conf" <<CONF
[kmactl]
url = https://localhost:$PORT/
cert = $DATA/a-kma01.pem
key = $DATA/a-kma01.key
ca = $DATA/ca.pem
CONF
in_store "$KMA_BUILD_DIR/kmactl/kmactl" -c "$T/kmactl.conf" status >"$T/ctl.log" 2>&1 &&
	fail "kmactl accepted an untrusted server"
grep -qi "certificate" "$T/ctl.log" || fail "kmactl failed for another reason: $(cat "$T/ctl.log")"
ok "kmactl with a configured CA does not trust the system store"
