#!/bin/sh
# Regenerates the generated seeds in tests/fuzz/corpus/<target>/ (run once, commit the
# result; `ctest -L fuzz` replays them, `make fuzz` starts from them). Overwrites only the
# files it makes: regression inputs (regress-*) and hand-written seeds stay.
#
# Usage: tests/fuzz/make-seeds.sh        Needs protoc-c, openssl, python3.
#
# Protobuf seeds come from text format through `protoc-c --encode`; identity records are
# framed like hal/idstore.c does (magic, big-endian length, SHA-256); the ClientHellos and
# the server flight are captured from openssl s_client / s_server on loopback.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/corpus"
data="$root/tests/data"
tmp="$(mktemp -d)"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

for t in proto idstore inifile config peers board hello sniff tlshello crl; do mkdir -p "$out/$t"; done

# --- protobuf ---------------------------------------------------------------------------

# encode TYPE: text format on stdin -> binary on stdout
encode() {
	protoc-c --proto_path="$root/proto" --encode="kma.v1.$1" kma.proto identity.proto
}
# esc FILE: the file's bytes as a text-format string body (octal escapes)
esc() {
	python3 -c 'import sys; print("".join("\\%03o" % b for b in open(sys.argv[1], "rb").read()), end="")' "$1"
}
# seed DIR NAME SELECTOR TYPE: one fuzz_proto input (selector byte, then the message)
seed() {
	{ printf '%b' "\\0$(printf %03o "$3")"; encode "$4"; } >"$out/$1/$2"
}

openssl x509 -in "$data/a-kma01.pem" -outform DER -out "$tmp/leaf.der"
openssl x509 -in "$data/ca.pem" -outform DER -out "$tmp/ca.der"
openssl req -new -key "$data/a-kma01.key" -subj "/O=Example Cluster/CN=a-kma01" \
	-outform DER -out "$tmp/csr.der"

hw='board_serial: "PF2ABC12" product_uuid: "4c4c4544-0042-3510-8052-b4c04f564d32"
disk_serial: "WD-WCC4N1234567" cpu_id: "Intel(R) Xeon(R) CPU E5-2620 v4"
mac: "00:10:e0:8c:2a:11"
fingerprint: "\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245"'
cert='serial: "E2207FDBA432E9010000000000000084" subject: "CN=a-kma01, O=Example Cluster"
issuer: "CN=Example Cluster CA" not_before: 1700000000 not_after: 4102444800 node_id: "a-kma01"'

# selectors: 0 AgentReport, 1 EnrollRequest, 2 CoordinatorReply, 3 Directive, 4 EnrollReply
seed proto agent-report 0 AgentReport <<MSG
node_id: "a-kma01" sequence: 42 boot_id: "0b6c0f9e-6d7e-4c36-9f0e-1d2b3c4d5e6f"
agent_version: "0.1.0" board: "sim" state: IDENTITY_STATE_ENROLLED phase: PHASE_RUNNING
own_cert { $cert }
hardware { $hw }
enrolled_hardware { $hw }
parts_changed: HARDWARE_PART_BOARD parts_changed: HARDWARE_PART_DISK
generation: 3
peers {
  peer_node_id: "u-kma02" peer_address: "22.222.222.134:9443" direction: DIRECTION_OUTBOUND
  cause: CAUSE_PEER_SERIAL_MISMATCH
  alert_sent { number: 42 name: "bad_certificate" }
  tls_error: -9984 tls_error_name: "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED"
  verify_flags: 65536 verify_flag_names: "MBEDTLS_X509_BADCERT_OTHER"
  peer_cert { $cert }
  expected_node_id: "u-kma02" expected_serial: "866B070F94660D13000000000000001E"
  handshake_ms: 12 protocol: "TLSv1.2" cipher_suite: "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
  observed_at: 1700000100 detail: "the peer's certificate is valid but its serial is not the enrolled one"
}
peers {
  peer_node_id: "b-kma03" peer_address: "127.0.0.3:9443" direction: DIRECTION_INBOUND
  cause: CAUSE_PROTOCOL_MISMATCH alert_received { number: 70 name: "protocol_version" }
}
health { healthy: true detail: "ok" checked_at: 1700000090 }
last_directive { directive_id: "d-17" ok: false detail: "reboot command failed" }
sent_at: 1700000101 peer_table_version: 7
MSG
seed proto agent-report-empty 0 AgentReport </dev/null
seed proto enroll-request 1 EnrollRequest <<MSG
node_id: "a-kma01" token: "kma-enrol-0123456789abcdef" csr_der: "$(esc "$tmp/csr.der")"
hardware { $hw }
generation: 1
MSG
seed proto coordinator-reply 2 CoordinatorReply <<MSG
ack_sequence: 42 peer_table_version: 8
peers { node_id: "u-kma02" name: "u-kma02" address: "22.222.222.134:9443"
        enrolled_serial: "866B070F94660D13000000000000001E" }
peers { node_id: "b-kma03" address: "[fd00::3]:9443" }
directives { id: "d-18" kind: DIRECTIVE_KIND_REBOOT reason: "hardware changed"
             lease { id: "l-5" node_id: "a-kma01" fencing_token: 12 expires_at: 1700000700 } }
directives { id: "d-19" kind: DIRECTIVE_KIND_HOLD }
next_report_interval_ms: 30000 enrolled_serial: "E2207FDBA432E9010000000000000084"
cluster_id: "c-example"
MSG
seed proto directive-quickstart 3 Directive <<MSG
id: "d-20" kind: DIRECTIVE_KIND_QUICKSTART
lease { id: "l-6" node_id: "a-kma01" fencing_token: 13 expires_at: 1700000800 }
enrolment_token: "kma-enrol-fedcba9876543210" reason: "board replaced"
MSG
seed proto enroll-reply 4 EnrollReply <<MSG
ok: true cert_chain_der: "$(esc "$tmp/leaf.der")" ca_der: "$(esc "$tmp/ca.der")"
serial: "E2207FDBA432E9010000000000000084" cluster_id: "c-example"
MSG
seed proto enroll-reply-refused 4 EnrollReply <<MSG
ok: false error: "enrolment token expired"
MSG

# --- identity records -------------------------------------------------------------------

# frame FILE: hal/idstore.c's framing of a payload, on stdout
frame() {
	python3 - "$1" <<'PY'
import hashlib, struct, sys
p = open(sys.argv[1], "rb").read()
h = b"KMAIDR01" + struct.pack(">I", len(p)) + p
sys.stdout.buffer.write(h + hashlib.sha256(h).digest())
PY
}

openssl pkey -in "$data/a-kma01.key" -outform DER -out "$tmp/key.der"
encode IdentityRecord >"$tmp/record.pb" <<MSG
version: 1 node_id: "a-kma01" key_der: "$(esc "$tmp/key.der")"
cert_chain_der: "$(esc "$tmp/leaf.der")" ca_der: "$(esc "$tmp/ca.der")"
enrolled_hardware { $hw }
generation: 2 enrolment: ENROLMENT_STATE_JOINED
enrolled_serial: "E2207FDBA432E9010000000000000084" stored_at: 1700000000 cluster_id: "c-example"
MSG
encode IdentityRecord >"$tmp/minimal.pb" <<MSG
version: 1 node_id: "a-kma01" enrolment: ENROLMENT_STATE_PENDING
MSG
encode IdentityRecord >"$tmp/version2.pb" <<MSG
version: 2 node_id: "a-kma01"
MSG
frame "$tmp/record.pb" >"$out/idstore/record.rec"
frame "$tmp/minimal.pb" >"$out/idstore/minimal.rec"
frame "$tmp/version2.pb" >"$out/idstore/version2.rec"
# the payload alone: the harness frames it itself
cp "$tmp/record.pb" "$out/idstore/record-payload.pb"
# one flipped checksum bit
python3 - "$out/idstore/minimal.rec" "$out/idstore/bad-checksum.rec" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-1] ^= 1
open(sys.argv[2], "wb").write(b)
PY

# --- INI files --------------------------------------------------------------------------

for d in "$root"/board/*/; do
	[ -f "$d/board.conf" ] && cp "$d/board.conf" "$out/board/$(basename "$d").conf"
done
cp "$root/board/generic-x86_64/board.conf" "$out/inifile/board.conf"

cat >"$out/config/agent.conf" <<'CONF'
# every key of agent/config.h
[agent]
state_dir = /var/lib/kma-agent
log_level = debug
hw_check_interval = 60

[board]
name = generic-x86_64
dir = /usr/share/kma-agent/boards
root = /

[mesh]
listen = 0.0.0.0:9443
peers = /etc/kma-agent/peers.conf
probe_interval = 30
probe_timeout = 5
max_handshakes = 64
max_per_source = 16
CONF
cat >"$out/config/sim.conf" <<'CONF'
[agent]
state_dir = /tmp/kma/a/state
hw_check_interval = 1

[board]
name = sim
dir = /work/board
root = /tmp/kma/a/sim
CONF
printf '[agent]\r\nlog_level = warn ; CRLF and a comment\r\n\r\n[mesh]\r\nlisten =\r\n' \
	>"$out/config/crlf.conf"
cp "$out/config/agent.conf" "$out/inifile/agent.conf"

cat >"$out/peers/peers.conf" <<'CONF'
[peer u-kma02]                                  ; the node ID (certificate CN)
address = 22.222.222.134:9443
serial  = 866B070F94660D13000000000000001E
name    = u-kma02

[peer b-kma03]
address = [fd00::3]:9443
serial = 0a:1b:2c:3d

[peer c-kma04]
address = c-kma04.example.net:9443
CONF
printf '[peer u-kma02]\naddress = 127.0.0.1:1\nserial = 0A\n' >"$out/peers/one.conf"
cp "$out/peers/peers.conf" "$out/inifile/peers.conf"

# inih's corners: byte order mark, continuation lines, inline comments, no final newline
printf '\357\273\277[board]\nname = x\ndescription = first line\n  second line\n\t[not a section]\n; comment\n# comment\n[recovery]\nreboot = manual ; inline\nreboot_instruction = press\n  the button\n[]\nkey: colon\nno equals sign' \
	>"$out/inifile/corners.ini"

# --- CRL --------------------------------------------------------------------------------

# OpenSSL's CRL of the cluster CA of tests/data (the CA fuzz_crl trusts), revoking a-kma01.
# (corpus/crl/kma-coord.der is coordinator/core/crl.c's, by the same CA: not made here.)
mkdir -p "$tmp/crlca/new"
: >"$tmp/crlca/index.txt"
echo 01 >"$tmp/crlca/crlnumber"
cat >"$tmp/crlca/ca.cnf" <<CONF
[ca]
default_ca = this
[this]
database = $tmp/crlca/index.txt
new_certs_dir = $tmp/crlca/new
certificate = $data/ca.pem
private_key = $data/ca.key
crlnumber = $tmp/crlca/crlnumber
default_md = sha256
default_crl_days = 36500
CONF
openssl ca -batch -config "$tmp/crlca/ca.cnf" -revoke "$data/a-kma01.pem" 2>/dev/null
openssl ca -batch -config "$tmp/crlca/ca.cnf" -gencrl -out "$tmp/crlca/crl.pem" 2>/dev/null
openssl crl -in "$tmp/crlca/crl.pem" -outform DER -out "$out/crl/openssl.der"

# --- TLS --------------------------------------------------------------------------------

# capture_hello NAME ARGS...: the first record openssl s_client sends, whole, to $tmp/NAME
capture_hello() {
	name=$1
	shift
	python3 - "$tmp/$name" "$@" <<'PY'
import socket, subprocess, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
cli = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + sys.argv[2:],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
conn, _ = srv.accept()
conn.settimeout(5)
buf = b""
while len(buf) < 5 or len(buf) < 5 + (buf[3] << 8 | buf[4]):
    chunk = conn.recv(4096)
    if not chunk:
        break
    buf += chunk
conn.close()
cli.kill()
cli.wait()
n = 5 + (buf[3] << 8 | buf[4])
open(sys.argv[1], "wb").write(buf[:n])
PY
}
capture_hello hello-default.rec -servername u-kma02
capture_hello hello-tls13.rec -tls1_3
capture_hello hello-tls12.rec -tls1_2 -no_ticket
# the handshake message is the record's body
for h in default tls13 tls12; do
	tail -c +6 "$tmp/hello-$h.rec" >"$out/hello/clienthello-$h"
done
# a TLS 1.2 hello cut down to what the inspector reads, and one with supported_versions
# listing 1.3 and 1.1 only
python3 - "$out/hello" <<'PY'
import sys
def hello(exts):
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\xc0\x2b" + b"\x01\x00"
    body += len(exts).to_bytes(2, "big") + exts
    return b"\x01" + len(body).to_bytes(3, "big") + body
sv = b"\x00\x2b\x00\x05\x04\x03\x04\x03\x02"
open(sys.argv[1] + "/minimal-no-versions", "wb").write(hello(b""))
open(sys.argv[1] + "/versions-13-11", "wb").write(hello(sv))
PY

# the server's first flight answering our default hello: openssl s_server, TLS 1.3
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$port" -cert "$data/a-kma01.pem" -key "$data/a-kma01.key" \
	-naccept 1 -quiet </dev/null >/dev/null 2>&1 &
pids="$!"
python3 - "$tmp/hello-default.rec" "$tmp/flight.bin" "$port" <<'PY'
import socket, sys, time
hello = open(sys.argv[1], "rb").read()
for _ in range(50):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[3])))
        break
    except OSError:
        time.sleep(0.1)
s.sendall(hello)
s.settimeout(1)
buf = b""
try:
    while len(buf) < 3500:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
except socket.timeout:
    pass
open(sys.argv[2], "wb").write(buf[:3500])
PY

# fuzz_sniff inputs: ctl (bit 0 server, bit 1 eof, bits 2-4 tls result), chunk, the length
# of the peer's bytes (2 bytes, big-endian), the peer's bytes, ours
python3 - "$tmp" "$out/sniff" <<'PY'
import sys
tmp, out = sys.argv[1], sys.argv[2]
rd = lambda n: open(tmp + "/" + n, "rb").read()
def put(name, ctl, chunk, peer, ours=b""):
    data = bytes([ctl, chunk]) + len(peer).to_bytes(2, "big") + peer + ours
    assert len(data) < 4096, name
    open(out + "/" + name, "wb").write(data)
hello, hello13 = rd("hello-default.rec"), rd("hello-tls13.rec")
fatal_alert = 1 << 2
bad_version = 4 << 2
# inbound: the peer's hello, whole and byte by byte
put("inbound-hello", 1, 0, hello)
put("inbound-hello-bytewise", 1, 1, hello)
# inbound from a TLS 1.3-only client that our 1.2 server refused
put("inbound-tls13-only", 1 | bad_version, 0, hello13, b"\x15\x03\x03\x00\x02\x02\x46")
# outbound: the server's flight (ServerHello, ChangeCipherSpec, encrypted records)
put("outbound-flight", 0, 0, rd("flight.bin")[:3000], hello)
# outbound: a fatal handshake_failure alert answering our hello
put("outbound-alert", fatal_alert, 7, b"\x15\x03\x03\x00\x02\x02\x28", hello)
# not TLS: an HTTP server, and an SSH banner
put("outbound-http", 2, 0, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", hello)
put("inbound-ssh", 1 | 2, 3, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
PY
# fuzz_tlshello inputs: what openssl s_server answers to a hello offering one version (built
# here as agent/tlshello.c builds it, with fewer suites), cut to VERSCAN_ANSWER_MAX bytes
python3 - "$out/tlshello" "$data" <<'PY'
import os, socket, subprocess, sys, time
out, data = sys.argv[1], sys.argv[2]

def l16(b):
    return len(b).to_bytes(2, "big") + b

def u16s(items):
    return l16(b"".join(x.to_bytes(2, "big") for x in items))

def ext(t, d):
    return t.to_bytes(2, "big") + l16(d)

def hello(v):
    tls13 = v == 0x0304
    if tls13:
        suites = [0x1301, 0x1302, 0x1303]
    else:
        suites = ([0xc02c, 0xc02b, 0xc030, 0xc02f] if v == 0x0303 else []) + \
                 [0xc00a, 0xc009, 0xc014, 0xc013, 0x0035, 0x002f, 0x000a, 0x00ff]
    e = ext(10, u16s([0x1d, 0x17, 0x18]))
    if v >= 0x0303:
        e += ext(13, u16s([0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501, 0x0201]))
    if tls13:
        e += ext(43, b"\x02\x03\x04")
        e += ext(51, l16(b"\x00\x1d" + l16(bytes([9]) + bytes(31))))
    else:
        e += ext(11, b"\x01\x00") + ext(23, b"")
    body = (0x0303 if tls13 else v).to_bytes(2, "big") + os.urandom(32) + b"\x00" + \
        u16s(suites) + b"\x01\x00" + l16(e)
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + l16(msg)

def answer(server_args, version):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-naccept",
                            "1", "-www", "-cert", data + "/a-kma01.pem", "-key", data + "/a-kma01.key"] +
                           server_args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        c.sendall(hello(version))
        c.settimeout(2)
        buf = b""
        try:
            while len(buf) < 2048:
                chunk = c.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except OSError:  # the time is up, or the server reset after its answer
            pass
        c.close()
        return buf[:2048]
    finally:
        srv.kill()
        srv.wait()

old = ["-cipher", "DEFAULT:@SECLEVEL=0"]
seeds = {
    "tls10-accepted": (["-tls1"] + old, 0x0301),
    "tls10-chosen-for-12": (["-tls1"] + old, 0x0303),
    "tls11-accepted": (["-tls1_1"] + old, 0x0302),
    "tls12-accepted": ([], 0x0303),
    "tls13-accepted": ([], 0x0304),
    "tls13-retry": (["-groups", "P-256"], 0x0304),
    "tls12-only-refuses-10": (["-tls1_2"], 0x0301),
    "tls12-only-refuses-13": (["-tls1_2"], 0x0304),
}
for name, (args, v) in seeds.items():
    b = answer(args, v)
    assert b[:1] in (b"\x15", b"\x16"), (name, b[:16])
    open(out + "/" + name, "wb").write(b)
# the TLS 1.2 ServerHello split into records of 5 bytes, and after a warning alert
sh = open(out + "/tls12-accepted", "rb").read()
msg = sh[5:5 + (sh[3] << 8 | sh[4])]
msg = msg[:4 + (msg[1] << 16 | msg[2] << 8 | msg[3])]
split = b"".join(b"\x16\x03\x03" + l16(msg[i:i + 5]) for i in range(0, len(msg), 5))
open(out + "/split-records", "wb").write(split)
open(out + "/warning-then-hello", "wb").write(b"\x15\x03\x03\x00\x02\x01\x70" + sh[:5 + len(msg)])
open(out + "/alert-handshake-failure", "wb").write(b"\x15\x03\x03\x00\x02\x02\x28")
PY

# --- KMIP TTLV (fuzz_ttlv) ----------------------------------------------------------------

# Requests and responses as PyKMIP's encoder writes them (Debian's python3-pykmip; /usr/bin's
# python3, since another python3 earlier on PATH may lack the module).
mkdir -p "$out/ttlv"
if /usr/bin/python3 -c 'import kmip' 2>/dev/null; then
	/usr/bin/python3 - "$out/ttlv" <<'PY'
import os, sys
from kmip.core import enums, utils
from kmip.core.messages import contents, messages, payloads
out = sys.argv[1]
E = enums
def save(name, m):
    s = utils.BytearrayStream(); m.write(s)
    open(os.path.join(out, name), "wb").write(bytes(s.buffer))
def req(op, payload):
    h = messages.RequestHeader(protocol_version=contents.ProtocolVersion(1, 1),
                               batch_count=contents.BatchCount(1))
    return messages.RequestMessage(request_header=h, batch_items=[
        messages.RequestBatchItem(operation=contents.Operation(op), request_payload=payload)])
def resp(op, status, payload=None, reason=None, msg=None):
    h = messages.ResponseHeader(protocol_version=contents.ProtocolVersion(1, 1),
                                time_stamp=contents.TimeStamp(0x5E0BE100),
                                batch_count=contents.BatchCount(1))
    return messages.ResponseMessage(response_header=h, batch_items=[messages.ResponseBatchItem(
        operation=contents.Operation(op), result_status=contents.ResultStatus(status),
        result_reason=contents.ResultReason(reason) if reason else None,
        result_message=contents.ResultMessage(msg) if msg else None,
        response_payload=payload)])
V = contents.ProtocolVersion
save("req-discover", req(E.Operation.DISCOVER_VERSIONS, payloads.DiscoverVersionsRequestPayload()))
save("req-query", req(E.Operation.QUERY, payloads.QueryRequestPayload(query_functions=[
    E.QueryFunction.QUERY_OPERATIONS, E.QueryFunction.QUERY_SERVER_INFORMATION])))
save("req-get", req(E.Operation.GET, payloads.GetRequestPayload(unique_identifier="1")))
save("resp-discover", resp(E.Operation.DISCOVER_VERSIONS, E.ResultStatus.SUCCESS,
    payloads.DiscoverVersionsResponsePayload(protocol_versions=[V(1, 2), V(1, 1), V(1, 0)])))
save("resp-query", resp(E.Operation.QUERY, E.ResultStatus.SUCCESS,
    payloads.QueryResponsePayload(operations=[E.Operation.GET, E.Operation.QUERY,
        E.Operation.DISCOVER_VERSIONS], vendor_identification="PyKMIP")))
save("resp-get-failed", resp(E.Operation.GET, E.ResultStatus.OPERATION_FAILED, None,
    E.ResultReason.ITEM_NOT_FOUND, "Could not locate object: 9"))
PY
else
	echo "make-seeds: python3-pykmip missing: tests/fuzz/corpus/ttlv left as it is" >&2
fi

echo "seeds written to $out"
