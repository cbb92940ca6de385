#!/bin/sh
# The unauthenticated status page under a soak: thousands of GET /status.json (and a few
# hundred GET /v1/diagnosis, which builds the same document) must not grow kma-coord's
# memory. Each request once leaked the whole diagnosis document (issue 16, item 1).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"
SOAK=${KMA_SOAK_REQUESTS:-4000}

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
PORT=$(free_port)
SPORT=$(free_port)
pki_coord_conf "$T/coord.conf" "$P" "$PORT" "$T/coord.db"
echo "status_listen = 127.0.0.1:$SPORT" >>"$T/coord.conf"

# Freed memory is reused at once, not parked in ASan's quarantine, so that RSS means the
# same in a sanitizer build (LeakSanitizer still reports a leak at exit).
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
export ASAN_OPTIONS
start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
COORD_PID=$BG_PID
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$PORT"
wait_listen "$SPORT"

# A dozen nodes, so that every document has something in it.
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		--cert "$P/alice.pem" --key "$P/alice.key" -H 'Content-Type: application/json' \
		--data "{\"node_id\":\"s-kma$i\",\"name\":\"s-kma$i\",\"address\":\"127.0.0.1:9\"}" \
		"https://localhost:$PORT/v1/nodes" 2>"$T/curl.err") || code="curl-exit-$?"
	[ "$code" = 201 ] || { cat "$T/body" "$T/curl.err" >&2; fail "adding s-kma$i: $code"; }
done

# RSS after a warm-up, then after the soak (keep-alive, one connection, as a page left open).
python3 - "$COORD_PID" "$SPORT" "$SOAK" >"$T/soak.out" <<'PY' || { cat "$T/soak.out"; fail "soak"; }
import http.client, sys
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def rss_kb():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
size = 0
def soak(k):
    global size
    for _ in range(k):
        c.request("GET", "/status.json")
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, r.status
        size = len(body)
soak(300)
before = rss_kb()
soak(n)
after = rss_kb()
print(n, size, before, after, after - before)
PY
read -r n size before after growth <"$T/soak.out"
echo "requests $n, document $size bytes, RSS $before -> $after KB (growth $growth KB)"
# A leak of the diagnosis alone is several KB per request: ~10 MB or more over the soak.
[ "$growth" -le 4096 ] || fail "RSS grew by $growth KB over $n requests of $size bytes"
ok "$n GET /status.json: RSS $before -> $after KB"

# GET /v1/diagnosis (operator) builds the same document.
python3 - "$COORD_PID" "$PORT" "$P" >"$T/diag.out" <<'PY' || { cat "$T/diag.out"; fail "diagnosis soak"; }
import http.client, ssl, sys
pid, port, p = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=p + "/ca.pem")
ctx.load_cert_chain(p + "/alice.pem", p + "/alice.key")

def rss_kb():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=30)
def soak(k):
    for _ in range(k):
        c.request("GET", "/v1/diagnosis")
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
soak(100)
before = rss_kb()
soak(1500)
after = rss_kb()
print(before, after, after - before)
PY
read -r before after growth <"$T/diag.out"
echo "GET /v1/diagnosis: RSS $before -> $after KB (growth $growth KB)"
[ "$growth" -le 2048 ] || fail "RSS grew by $growth KB over 1500 GET /v1/diagnosis"
ok "1500 GET /v1/diagnosis: RSS $before -> $after KB"

kill "$COORD_PID"
wait "$COORD_PID"
rc=$?
PIDS=""
[ "$rc" = 0 ] || { tail -n 30 "$T/coord.log" >&2; fail "kma-coord exit $rc (LeakSanitizer?)"; }
ok "kma-coord stopped cleanly"
