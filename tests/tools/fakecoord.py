#!/usr/bin/env python3
"""A stand-in coordinator for tests/e2e/test_directives.sh (the real one's recovery-plan
engine is not there yet): an HTTPS server on 127.0.0.1 that

  POST /v1/report  requires a client certificate signed by --ca; saves the AgentReport as
                   DIR/last.bin, appends it as one JSON line to DIR/reports.jsonl (decoded by
                   mkdirective show, plus the client certificate's CN as "client_cn") and
                   answers with the CoordinatorReply that `mkdirective reply DIR/directives`
                   builds (no directives while that file is missing);
  POST /v1/enroll  answers as DIR/enroll says: "refuse" (403 with a reason, the default) or
                   "hang" (answers nothing for 60 s: an enrolment the agent waits on).

Usage: fakecoord.py PORT CERT KEY CA DIR MKDIRECTIVE
"""

import http.server
import os
import ssl
import subprocess
import sys
import time

PORT, CERT, KEY, CA, DIR, TOOL = sys.argv[1:7]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fakecoord: " + (fmt % args) + "\n")

    def answer(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/report":
            self.report(body)
        elif self.path == "/v1/enroll":
            self.enroll()
        else:
            self.answer(404, b"no such endpoint\n")

    def report(self, body):
        cert = self.connection.getpeercert()
        if not cert:
            self.answer(403, b"a client certificate is required\n")
            return
        cn = [v for rdn in cert["subject"] for (k, v) in rdn if k == "commonName"]
        tmp = os.path.join(DIR, "report.tmp")
        with open(tmp, "wb") as f:
            f.write(body)
        os.replace(tmp, os.path.join(DIR, "last.bin"))
        shown = subprocess.run([TOOL, "show", os.path.join(DIR, "last.bin")],
                               capture_output=True, text=True)
        if shown.returncode != 0:
            self.answer(400, b"report does not decode\n")
            return
        line = shown.stdout.strip()
        line = line[:-1] + ', "client_cn": "%s"}' % (cn[0] if cn else "")
        with open(os.path.join(DIR, "reports.jsonl"), "a") as f:
            f.write(line + "\n")
        directives = os.path.join(DIR, "directives")
        if not os.path.exists(directives):
            directives = os.devnull
        reply = subprocess.run([TOOL, "reply", directives], capture_output=True)
        if reply.returncode != 0:
            self.answer(500, b"cannot build the reply\n")
            return
        self.answer(200, reply.stdout, "application/x-protobuf")

    def enroll(self):
        mode = "refuse"
        try:
            with open(os.path.join(DIR, "enroll")) as f:
                mode = f.read().strip()
        except OSError:
            pass
        with open(os.path.join(DIR, "enroll.log"), "a") as f:
            f.write(mode + "\n")
        if mode == "hang":
            time.sleep(60)
        self.answer(403, b"enrolment refused by the fake coordinator\n")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
ctx.load_verify_locations(CA)
# Enrolment comes from a node without an identity; reports must carry a certificate.
ctx.verify_mode = ssl.CERT_OPTIONAL
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
server.daemon_threads = True
server.socket = ctx.wrap_socket(server.socket, server_side=True)
sys.stderr.write("fakecoord: serving on 127.0.0.1:%s\n" % PORT)
sys.stderr.flush()
server.serve_forever()
