#!/usr/bin/env python3
"""A hostile etcd JSON gateway for tests/e2e/test_etcd_client.sh: TLS with the etcd
fixture's member certificate (client certificates required, as etcd's), and every answer
wrong in its own way. The r-th request gets MODES[r % len(MODES)]; "deep" answers with a
valid header and a malformed body for the path asked (the (r // len(MODES))-th variant).

Usage: etcd_hostile.py PORT PKI_DIR MODES_FILE  (writes the number of modes to MODES_FILE
once it listens)
"""
import http.server
import itertools
import ssl
import sys
import threading
import time

HDR = '"header":{"cluster_id":"1","member_id":"2","revision":"5","raft_term":"2"}'

# Per path: bodies whose header is fine and whose rest is not.
DEEP = {
    "/v3/kv/range": [
        '{%s,"kvs":"not an array"}' % HDR,
        '{%s,"kvs":[7]}' % HDR,
        '{%s,"kvs":[{"key":"!!not base64!!"}]}' % HDR,
        '{%s,"kvs":[{"key":"AGE="}]}' % HDR,  # "\0a": a NUL byte in a key
        '{%s,"kvs":[{"value":"eA=="}]}' % HDR,  # no key
        '{%s,"kvs":[{"key":"eA==","create_revision":3}]}' % HDR,  # a number, not a string
        '{%s,"kvs":[{"key":"eA==","mod_revision":"99999999999999999999"}]}' % HDR,
        '{%s,"kvs":[{"key":"eA==","lease":"12x"}]}' % HDR,
        '{%s,"kvs":[{"key":"eA==","value":5}]}' % HDR,
        '{%s,"kvs":[{"key":"eA==","value":"eA=\\u0000="}]}' % HDR,
    ],
    "/v3/kv/txn": [
        '{%s,"succeeded":"yes"}' % HDR,
        '{%s,"succeeded":1}' % HDR,
        '{"succeeded":true}',
    ],
    "/v3/lease/grant": [
        '{%s,"TTL":"10"}' % HDR,
        '{%s,"ID":"7","TTL":"abc"}' % HDR,
        '{%s,"ID":"7","TTL":"10","error":"boom"}' % HDR,
        '{%s,"ID":7,"TTL":"10"}' % HDR,
        '{%s,"ID":"7","TTL":"-3"}' % HDR,
    ],
    "/v3/lease/keepalive": [
        '{%s,"ID":"42","TTL":"5"}' % HDR,  # not wrapped in "result"
        '{"result":{%s,"ID":"43","TTL":"5"}}' % HDR,  # another lease
        '{"result":{%s,"ID":"42","TTL":"99999999999999999999"}}' % HDR,
        '{"result":{"ID":"42","TTL":"5"}}',
        '{"result":"x"}',
        '{"error":{"grpc_code":14,"http_code":503,"message":"no leader"}}',
    ],
}
# put, deleterange, revoke: a header is all they read.
HEADERS = [
    '{}',
    '{"header":"x"}',
    '{"header":{"revision":5}}',
    '{"header":{"revision":"0"}}',
    '{"header":{"revision":"-1"}}',
    '{"header":{"revision":"5x"}}',
    '{"header":{"revision":" 5"}}',
    '{"header":{"revision":""}}',
]


def deep(path, n):
    bodies = DEEP.get(path, HEADERS)
    return bodies[n % len(bodies)]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = itertools.count()
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for h in headers:
            self.send_header(*h)
        if not any(h[0] == "Content-Length" for h in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # The modes: each answers one request wrongly.
    def m_garbage(self, r):
        self.send(200, b"this is not JSON \x00\xff\xfe")

    def m_truncated(self, r):
        self.send(200, '{%s,"kvs":[{"key":"Zm9v","value":"YmFy"' % HDR)

    def m_deep(self, r):
        self.send(200, deep(self.path, r // len(MODES)))

    def m_trailing(self, r):
        self.send(200, '{%s} {"more":1}' % HDR)

    def m_nul_after(self, r):
        self.send(200, ('{%s}' % HDR).encode() + b"\x00")

    def m_array(self, r):
        self.send(200, "[1, 2, 3]")

    def m_nesting(self, r):
        self.send(200, "[" * 100000 + "]" * 100000)

    def m_dense(self, r):
        # 8 MiB of tiny values: json-c would build 40 times that
        self.send(200, '{%s,"kvs":[' % HDR + "7," * (4 << 20) + '7]}')

    def m_5xx(self, r):
        self.send(503, '{%s,"succeeded":true,"ID":"7","TTL":"5"}' % HDR)

    def m_redirect(self, r):
        self.send(302, "", [("Location", "http://127.0.0.1:1/v3/kv/range")])

    def m_204(self, r):
        self.send(204, "", [("Content-Length", "0")])

    def m_close(self, r):
        self.close_connection = True  # no answer at all

    def m_short(self, r):
        # promises more than it sends, then hangs up
        self.send(200, '{%s' % HDR, [("Content-Length", "1000")])
        self.close_connection = True

    def m_huge_length(self, r):
        self.send(200, "{", [("Content-Length", str(10 << 30))])
        self.close_connection = True

    def m_huge_chunked(self, r):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * (1 << 20)
        line = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        self.wfile.write(b"1\r\n{\r\n")
        try:
            for _ in range(80):  # 80 MiB: past the client's 64 MiB
                self.wfile.write(line)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        self.close_connection = True

    def m_slow(self, r):
        time.sleep(3)  # past the client's timeout
        try:
            self.send(200, '{%s}' % HDR)
        except OSError:
            pass

    def m_refused(self, r):
        self.send(400, b'{"error":"\x1b[31mred\x07 and long ' + b"x" * 500 + b'","code":3}')

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        with Handler.lock:
            r = next(Handler.counter)
        try:
            getattr(self, "m_" + MODES[r % len(MODES)])(r)
        except OSError:
            self.close_connection = True


MODES = [m[2:] for m in dir(Handler) if m.startswith("m_")]
# The driver cycles through 7 operations: every pair of mode and operation is met within
# 7 * len(MODES) requests only when the two are coprime.
if len(MODES) % 7 == 0:
    MODES.append("garbage")


def main():
    port, pki, modes_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki + "/member.pem", pki + "/member.key")
    ctx.load_verify_locations(pki + "/ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(modes_file, "w") as f:
        f.write("%d\n" % len(MODES))
    srv.serve_forever()


if __name__ == "__main__":
    main()
