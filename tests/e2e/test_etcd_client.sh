#!/bin/sh
# kma-coord's etcd client (coordinator/store/etcd.h, issue 19) against a real etcd cluster:
# three members with mutual TLS on loopback (tests/e2e/etcd.sh), through the endpoint
# failovers the client is for (a closed port, a member killed -9, every member down), then
# against a hostile gateway (tests/e2e/etcd_hostile.py). The driver is
# tests/tools/etcd_driver.c; it prints its measurements (failover time, put/s and txn/s).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/etcd.sh"

DRIVER="$KMA_BUILD_DIR/tests/etcd_driver"

# drive [-t MS] ENDPOINTS COMMAND [ARG]: the driver must succeed; its output is shown.
drive() {
	_t=2000
	if [ "$1" = -t ]; then
		_t=$2
		shift 2
	fi
	_eps=$1
	shift
	expect_exit 0 "$DRIVER" -t "$_t" "$_eps" "$ETCD_DIR" "$@"
	cat "$T/out"
}

etcd_pki
drive none config
etcd_start 3
ok "3 etcd members with mutual TLS on loopback"
EPS=$(etcd_endpoints)

drive "$EPS" all
drive "$EPS" expiry
drive "$EPS" bench 10

# A closed loopback port first: the client goes on to the next endpoint.
CLOSED="https://127.0.0.1:$(free_port)"
drive "$CLOSED,$EPS" all
expect_grep "etcd $CLOSED/v3/kv/put: " "$T/err"
ok "failover past a closed port"

# The leader killed -9, its endpoint first: puts go through once the others have elected
# a new leader (etcd's failover: about 1.1 to 1.6 s here).
L=$(etcd_leader) || fail "no etcd leader"
DEAD=$(etcd_endpoints ' ' | cut -d' ' -f"$L")
REST=$(etcd_endpoints ' ' | tr ' ' '\n' | grep -vx "$DEAD" | tr '\n' ',')
etcd_kill "$L"
drive "$DEAD,$REST" until-ok 60
etcd_wait_healthy
drive "$DEAD,$REST" all
ok "every call succeeds with member $L (the leader) killed -9"
etcd_restart "$L"
drive "$EPS" kv
ok "member $L back"

# A hostile gateway: every kind of wrong answer, to every operation, is an ETCD_ERROR
# (never a crash); the log names the endpoint. Then the same gateway first and the cluster
# after it: the client goes past it.
HPORT=$(free_port)
HOSTILE="https://127.0.0.1:$HPORT"
start_bg "$T/hostile.log" python3 "$KMA_SOURCE_DIR/tests/e2e/etcd_hostile.py" "$HPORT" \
	"$ETCD_DIR" "$T/modes"
wait_listen "$HPORT"
wait_for_line "$T/modes" ""
MODES=$(cat "$T/modes")
drive -t 500 "$HOSTILE" hostile $((7 * MODES * 2))
for p in kv/range kv/put kv/deleterange kv/txn lease/grant lease/keepalive lease/revoke; do
	expect_grep "etcd $HOSTILE/v3/$p: " "$T/err"
done
expect_grep "answer larger than the limit" "$T/err"
drive -t 500 "$HOSTILE,$EPS" all
ok "a hostile gateway: $MODES kinds of wrong answers, each ETCD_ERROR, no crash"

# Every member down: each call ETCD_ERROR, within its bound (the driver checks).
etcd_stop_all
drive -t 500 "$CLOSED,$EPS" down
ok "every member down: ETCD_ERROR in bounded time"
