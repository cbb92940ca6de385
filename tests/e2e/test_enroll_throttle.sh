#!/bin/sh
# Guessing enrolment tokens is throttled per source address (issue 16, item 6): after 10
# wrong tokens from 127.0.0.1 in a row every request, even one with the right token, gets
# 429 with Retry-After before its body is read; the right token works again once the wait
# is over; /metrics counts the failures and the refusals; the log says so once, not per
# guess. Once 410 wrong tokens a second were each answered 403 and logged.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
chmod 600 "$P/ca.key"
PORT=$(free_port)
pki_coord_conf "$T/coord.conf" "$P" "$PORT" "$T/coord.db"
echo "ca_key = $P/ca.key" >>"$T/coord.conf"
start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
COORD_PID=$BG_PID
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$PORT"

code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
	--cert "$P/alice.pem" --key "$P/alice.key" -H 'Content-Type: application/json' \
	--data '{"node_id":"u-kma02","name":"u-kma02","address":"127.0.0.1:9"}' \
	"https://localhost:$PORT/v1/nodes" 2>"$T/curl.err") || code="curl-exit-$?"
[ "$code" = 201 ] || fail "adding u-kma02: $code $(cat "$T/body" "$T/curl.err")"
json_get "$T/body" "j['token']" >"$T/token"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/u.key" \
	-subj "/CN=u-kma02" -outform DER -out "$T/csr" 2>/dev/null || fail "CSR"

python3 - "$P" "$PORT" "$T/token" "$T/csr" <<'PY' || { tail -n 30 "$T/coord.log" >&2; fail "throttle"; }
import http.client, ssl, sys, time
p, port, token, csr = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read().strip(), open(sys.argv[4], "rb").read()

def varint(n):
    b = b""
    while True:
        c = n & 0x7F
        n >>= 7
        b += bytes([c | (0x80 if n else 0)])
        if not n:
            return b

def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data

ctx = ssl.create_default_context(cafile=p + "/ca.pem")
def enroll(tok):
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=20)
    c.request("POST", "/v1/enroll", field(1, b"u-kma02") + field(2, tok.encode()) + field(3, csr),
              {"Content-Type": "application/x-protobuf"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, r.getheader("Retry-After")

got = [enroll("%064x" % i)[0] for i in range(10)]
assert got == [403] * 10, got
status, retry = enroll("%064x" % 99)
assert status == 429 and retry and 1 <= int(retry) <= 6, (status, retry)
status, retry = enroll(token)
assert status == 429, ("the right token while throttled", status)
print("10 x 403, then 429 (Retry-After %s), also for the right token" % retry)
time.sleep(int(retry) + 1)
status, _ = enroll(token)
assert status == 200, ("the right token after the wait", status)
print("after %s s: 200" % retry)
PY
ok "10 wrong tokens, then 429 with Retry-After for every token; after the wait, 200"

code=$(curl -sS -o "$T/metrics" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
	--cert "$P/alice.pem" --key "$P/alice.key" "https://localhost:$PORT/metrics" 2>"$T/curl.err") ||
	code="curl-exit-$?"
[ "$code" = 200 ] || fail "GET /metrics: $code"
expect_grep "kma_coord_enroll_token_failures_total 10" "$T/metrics"
expect_grep "kma_coord_enroll_throttled_total 2" "$T/metrics"
grep -q "^kma_coord_enroll_throttled_sources [01]$" "$T/metrics" ||
	{ grep enroll "$T/metrics"; fail "kma_coord_enroll_throttled_sources"; }
n=$(grep -c "failed too many tokens" "$T/coord.log")
[ "$n" = 1 ] || fail "the throttle logged $n times"
ok "/metrics counts 10 failures and 2 refusals; one log line for the throttle"

kill "$COORD_PID"
wait "$COORD_PID"
PIDS=""
