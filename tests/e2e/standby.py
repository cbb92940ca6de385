#!/usr/bin/env python3
# A kma-coord standby as the agent and kmactl meet it (docs/ha-clients.md), for
# test_ha_clients.sh: on 127.0.0.1:PORT, mutual TLS with the test PKI's coordinator
# certificate (a client certificate of the cluster or the operator CA required), every
# request answered 503, Retry-After: 1, X-KMA-Active: ACTIVE (left out when ACTIVE is ""),
# {"error":"standby","active":ACTIVE}.
#
# usage: standby.py PORT PKI ACTIVE HITS [--proxy TO_PORT | --trap]
#   HITS          a line is appended for every connection accepted
#   --proxy PORT  an active instance until SIGUSR1: connections pass, bytes as they are, to
#                 127.0.0.1:PORT (a real kma-coord); SIGUSR1 cuts them and makes it a standby
#   --trap        no TLS: each connection is counted and closed (a URL never to be asked)
import json, signal, socket, ssl, sys, threading

port, pki, active, hits = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
mode = sys.argv[5] if len(sys.argv) > 5 else "standby"
proxy_to = int(sys.argv[6]) if mode == "--proxy" else 0
lock = threading.Lock()
proxied = set()

tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(pki + "/coord.pem", pki + "/coord.key")
tls.verify_mode = ssl.CERT_REQUIRED
tls.load_verify_locations(pki + "/ca.pem")
tls.load_verify_locations(pki + "/opca.pem")


def to_standby(signum, frame):
    global mode
    with lock:
        mode = "standby"
        for s in list(proxied):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def proxy(c):
    u = socket.create_connection(("127.0.0.1", proxy_to))
    with lock:
        proxied.update((c, u))
    t = threading.Thread(target=pipe, args=(u, c), daemon=True)
    t.start()
    pipe(c, u)
    t.join()
    with lock:
        proxied.difference_update((c, u))
    c.close()
    u.close()


def standby(c):
    try:
        s = tls.wrap_socket(c, server_side=True)
        s.settimeout(30)
        f = s.makefile("rb")
        length = 0
        while True:
            line = f.readline(8192)
            if not line or line in (b"\r\n", b"\n"):
                break
            k, _, v = line.decode("latin-1").partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        if line and length:
            f.read(length)
        body = json.dumps({"error": "standby", "active": active}).encode()
        head = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
        if active:
            head += "X-KMA-Active: %s\r\n" % active
        head += ("Content-Type: application/json\r\nContent-Length: %d\r\n"
                 "Connection: close\r\n\r\n" % len(body))
        s.sendall(head.encode() + body)
        s.close()
    except (OSError, ValueError):
        c.close()


def serve(c):
    with open(hits, "a") as h:
        h.write("hit\n")
    with lock:
        m = mode
    if m == "--trap":
        c.close()
    elif m == "--proxy":
        proxy(c)
    else:
        standby(c)


signal.signal(signal.SIGUSR1, to_standby)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(64)
while True:
    conn, _ = ls.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
