#!/bin/sh
# kma-coord at the edges of HTTP, with an operator certificate and raw requests over TLS
# (what curl would not send): every request gets an answer within seconds, and none that
# is ambiguous is acted on (issue 16, items 5 and 8). Duplicate or conflicting body
# framing: 400; a Transfer-Encoding other than chunked: 400; hundreds of query arguments:
# 431; a NUL decoded from the path or a query argument: 400, and nothing is deleted. The
# status page (plain HTTP) answers the same requests the same way.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
PORT=$(free_port)
SPORT=$(free_port)
pki_coord_conf "$T/coord.conf" "$P" "$PORT" "$T/coord.db"
echo "status_listen = 127.0.0.1:$SPORT" >>"$T/coord.conf"
start_bg "$T/coord.log" "$COORD" -c "$T/coord.conf"
COORD_PID=$BG_PID
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$PORT"
wait_listen "$SPORT"

# op METHOD PATH [JSON]: the operator API with curl, as alice.
op() {
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
		--cert "$P/alice.pem" --key "$P/alice.key" -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "https://localhost:$PORT$2" 2>"$T/curl.err") || code="curl-exit-$?"
}
for n in a-kma01 a-kma02; do
	op POST /v1/nodes "{\"node_id\":\"$n\",\"name\":\"$n\",\"address\":\"127.0.0.1:9\"}"
	[ "$code" = 201 ] || fail "adding $n: $code $(cat "$T/body")"
done

# Each case: a raw request and the status it must get within 15 s (a busy machine), on
# the TLS port with alice's certificate and, where it applies, on the status page.
python3 - "$P" "$PORT" "$SPORT" <<'PY' || { tail -n 40 "$T/coord.log" >&2; fail "HTTP edges"; }
import socket, ssl, sys, time
p, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def send(req, tls=True):
    s = socket.create_connection(("127.0.0.1", port if tls else sport), timeout=15)
    if tls:
        ctx = ssl.create_default_context(cafile=p + "/ca.pem")
        ctx.load_cert_chain(p + "/alice.pem", p + "/alice.key")
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.settimeout(15)
    t0 = time.time()
    s.sendall(req)
    got = b""
    try:
        while b"\r\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except (socket.timeout, TimeoutError):
        return "no answer after %.0f s" % (time.time() - t0)
    except (ConnectionError, ssl.SSLError) as e:
        return "closed without an answer (%s)" % e.__class__.__name__
    finally:
        s.close()
    if not got:
        return "closed without an answer"
    line = got.split(b"\r\n", 1)[0].decode("latin-1")
    return line.split(" ")[1] if line.startswith("HTTP/1.1 ") else line

node = b'{"node_id":"b-kma01","name":"b","address":"127.0.0.1:9"}'
H = b"Host: localhost\r\nContent-Type: application/json\r\n"
many = b"&".join(b"a%d=1" % i for i in range(600))
cases = [
    # (what, request, status, also on the status page)
    ("two different Content-Length headers",
     b"POST /v1/nodes HTTP/1.1\r\n" + H + b"Content-Length: %d\r\nContent-Length: 2\r\n\r\n" % len(node) + node,
     "400", False),
    ("Content-Length and Transfer-Encoding",
     b"POST /v1/nodes HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
     + b"%x\r\n" % len(node) + node + b"\r\n0\r\n\r\n", "400", False),
    ("Transfer-Encoding: xchunked",
     b"POST /v1/nodes HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n"
     + b"%x\r\n" % len(node) + node + b"\r\n0\r\n\r\n", "400", True),
    ("Transfer-Encoding: identity, chunked",
     b"POST /v1/nodes HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity, chunked\r\n\r\n"
     + b"%x\r\n" % len(node) + node + b"\r\n0\r\n\r\n", "400", True),
    ("600 query arguments", b"GET /v1/nodes?" + many + b" HTTP/1.1\r\n" + H + b"\r\n", "431", True),
    ("a NUL in the path", b"DELETE /v1/nodes/a-kma01%00x HTTP/1.1\r\n" + H + b"\r\n", "400", True),
    ("a NUL in a query argument", b"GET /v1/nodes?x=%00 HTTP/1.1\r\n" + H + b"\r\n", "400", True),
    # What must still work: the same content properly framed, chunked, a few arguments.
    ("one Content-Length",
     b"POST /v1/nodes HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % len(node) + node, "201", False),
    ("chunked", b"POST /v1/nodes HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     + b"%x\r\n" % len(node) + node.replace(b"b-kma01", b"b-kma02") + b"\r\n0\r\n\r\n", "201", False),
    ("three query arguments", b"GET /v1/nodes?a=1&b=2&c=%41 HTTP/1.1\r\n" + H + b"\r\n", "200", False),
]
bad = []
for what, req, want, status_page in cases:
    got = send(req)
    print("%-40s %s" % (what, got))
    if got != want:
        bad.append("%s: %s, want %s" % (what, got, want))
    if status_page:
        sp = req.replace(b"/v1/nodes", b"/status.json")
        got = send(sp, tls=False)
        print("%-40s %s (status page)" % (what, got))
        if got == "200" or not got.isdigit():
            bad.append("%s on the status page: %s" % (what, got))
if bad:
    sys.exit("\n".join(bad))
PY
ok "ambiguous framing, other transfer codings, 600 arguments and NULs get 400/431 at once"

op GET /v1/nodes
expect_jsons "$T/body" "sorted(n['node_id'] for n in j['nodes'])" "['a-kma01', 'a-kma02', 'b-kma01', 'b-kma02']"
ok "DELETE /v1/nodes/a-kma01%00x deleted nothing"

# Every route parameter is checked: node IDs in paths, plan step numbers, watch arguments.
for path in "/v1/nodes/a-kma01%2Fx" "/v1/nodes/a%20kma01" "/v1/nodes/a-kma01/serial%00"; do
	op DELETE "$path"
	case $code in 4??) ;; *) fail "DELETE $path: $code" ;; esac
done
for path in "/v1/plans/current/steps/1x/confirm" "/v1/plans/current/steps/-1/confirm" \
	"/v1/plans/current/steps/%2B1/confirm" "/v1/plans/current/steps/%201/confirm" \
	"/v1/plans/current/steps/99999999999999999999/confirm"; do
	op POST "$path"
	case $code in 4??) ;; *) fail "POST $path: $code $(cat "$T/body")" ;; esac
done
op GET /v1/nodes
expect_jsons "$T/body" "len(j['nodes'])" 4
ok "malformed node IDs and step numbers: 4xx, nothing changed"

kill "$COORD_PID"
wait "$COORD_PID"
PIDS=""
