#!/bin/sh
# make valgrind: two sim agents probe each other every second; one of them runs under
# valgrind memcheck for VALGRIND_SECONDS (default 60), is stopped with SIGTERM, and must
# end with no error and no leak (definite, indirect or possible).
# Usage: scripts/valgrind-mesh.sh BUILD_DIR
set -eu
KMA_BUILD_DIR=$(cd "${1:-build}" && pwd)
KMA_SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
export KMA_BUILD_DIR KMA_SOURCE_DIR
set +e
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
secs=${VALGRIND_SECONDS:-60}

PA=$(free_port)
PU=$(free_port)
openssl ecparam -name prime256v1 -genkey -noout -out "$T/u.key" 2>/dev/null
openssl req -new -key "$T/u.key" -subj "/O=Example Cluster/CN=u-kma02" -out "$T/u.csr" 2>/dev/null
openssl x509 -req -in "$T/u.csr" -CA "$DATA/ca.pem" -CAkey "$DATA/ca.key" -set_serial 0x0A \
	-days 3 -out "$T/u.pem" 2>/dev/null
make_sim a SIM-A
make_sim u SIM-U
printf '[peer u-kma02]\naddress = 127.0.0.1:%s\nserial = 0A\n' "$PU" >"$T/a/peers.conf"
printf '[peer a-kma01]\naddress = 127.0.0.1:%s\nserial = E2207FDBA432E9010000000000000084\n' \
	"$PA" >"$T/u/peers.conf"
for n in a u; do
	p=$PA
	[ $n = u ] && p=$PU
	printf '\n[mesh]\nlisten = 127.0.0.1:%s\npeers = %s\nprobe_interval = 1\n' "$p" \
		"$T/$n/peers.conf" >>"$T/$n/agent.conf"
done
expect_exit 0 "$AGENT" -c "$T/a/agent.conf" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
expect_exit 0 "$AGENT" -c "$T/u/agent.conf" identity import --key "$T/u.key" \
	--cert "$T/u.pem" --ca "$DATA/ca.pem"
start_bg "$T/u.log" "$AGENT" -c "$T/u/agent.conf"
start_bg "$T/vg.log" valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 \
	"$AGENT" -c "$T/a/agent.conf"
vg=$BG_PID
echo "valgrind: probing every second for $secs s..."
sleep "$secs"
kill -TERM "$vg"
wait "$vg"
st=$?
grep -E "total heap usage|ERROR SUMMARY" "$T/vg.log"
grep -q '"cause":"ok"' "$T/a/state/mesh.json" || fail "the agent under valgrind never authenticated its peer"
[ "$st" = 0 ] || { cat "$T/vg.log"; fail "valgrind exit $st"; }
echo "valgrind: clean"
