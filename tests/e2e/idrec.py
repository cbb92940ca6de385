"""idrec.py RECORD PREFIX: the private key and leaf certificate of an agent's identity record
(hal/idstore.c: "KMAIDR01", a 4-byte length, an IdentityRecord in protobuf, its SHA-256) as
DER, into PREFIX.key.der and PREFIX.crt.der, for a test to hand to openssl or curl. Only the
fields it needs are read: key_der (3) and the first of cert_chain_der (4)."""
import hashlib
import struct
import sys

rec, prefix = sys.argv[1], sys.argv[2]
data = open(rec, "rb").read()
if data[:8] != b"KMAIDR01":
    sys.exit("%s: not an identity record" % rec)
(n,) = struct.unpack(">I", data[8:12])
payload = data[12:12 + n]
if hashlib.sha256(data[:12 + n]).digest() != data[12 + n:12 + n + 32]:
    sys.exit("%s: checksum mismatch" % rec)


def varint(b, i):
    v, s = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


fields, i = {}, 0
while i < len(payload):
    key, i = varint(payload, i)
    kind = key & 7
    if kind == 0:
        _, i = varint(payload, i)
    elif kind == 2:
        size, i = varint(payload, i)
        fields.setdefault(key >> 3, []).append(payload[i:i + size])
        i += size
    else:
        sys.exit("%s: wire type %d not expected" % (rec, kind))
open(prefix + ".key.der", "wb").write(fields[3][0])
open(prefix + ".crt.der", "wb").write(fields[4][0])
