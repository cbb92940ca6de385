# A real KMIP server nobody here wrote: PyKMIP 0.10's, from Debian's python3-pykmip.
# Sourced after lib.sh. /usr/bin/python3 explicitly: another python3 earlier on PATH (pyenv)
# lacks the module. Exits 77 (skipped) when the package is missing.

PYKMIP="/usr/bin/python3 /usr/bin/pykmip-server"
/usr/bin/python3 -c 'import kmip.services.server' 2>/dev/null && [ -f /usr/bin/pykmip-server ] ||
	{ echo "skipped: python3-pykmip is not installed (scripts/deps.sh test)"; exit 77; }

# kmip_server DIR PORT CERT KEY CA: PyKMIP on 127.0.0.1:PORT with client authentication,
# its state (SQLite, policies, log) under DIR; waits until it listens. Pid in $KMIP_PID.
kmip_server() {
	mkdir -p "$1/policies"
	cat >"$1/server.conf" <<CONF
[server]
hostname=127.0.0.1
port=$2
certificate_path=$3
key_path=$4
ca_path=$5
auth_suite=TLS1.2
policy_path=$1/policies
enable_tls_client_auth=True
logging_level=INFO
database_path=$1/pykmip.db
CONF
	start_bg "$1/out.log" $PYKMIP -f "$1/server.conf" -l "$1/server.log"
	KMIP_PID=$BG_PID
	wait_listen "$2" 60
}

# kmip_stop: stops the server started last and waits until it is gone.
kmip_stop() {
	kill "$KMIP_PID" 2>/dev/null
	wait "$KMIP_PID" 2>/dev/null
	:
}

# kmip_create PORT CERT KEY CA: PyKMIP's own client creates an AES-256 key as CERT's
# owner, gets it back (32 bytes) and prints its unique identifier.
kmip_create() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
port, cert, key, ca = sys.argv[1:5]
c = ProxyKmipClient(hostname="127.0.0.1", port=int(port), cert=cert, key=key, ca=ca,
                    config_file="/dev/null", kmip_version=enums.KMIPVersion.KMIP_1_2)
c.open()
uid = c.create(enums.CryptographicAlgorithm.AES, 256)
assert len(c.get(uid).value) == 32
c.close()
print(uid)
PY
}
