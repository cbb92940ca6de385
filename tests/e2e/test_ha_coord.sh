#!/bin/sh
# Two kma-coord instances on one 3-member etcd cluster (docs/ha.md), with real clients:
# one leads, the other answers every client 503 naming it; what the active one wrote
# survives its kill -9 and the standby serves it after the election's TTL; a restarted
# instance stands by; an active one frozen past its TTL is deposed: the one that took over
# writes, the frozen one, woken, never does and exits 75; SIGTERM hands over at once; a
# member of etcd killed does not stop the active one.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/etcd.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

etcd_need_store
etcd_start 3
sc_pki
SC_HA=2
TTL=5
SC_ELECTION_TTL=$TTL
sc_coord_config
URL1="https://localhost:$(cat "$demo/coord1.port")"
URL2="https://localhost:$(cat "$demo/coord2.port")"

# coord_start I: instance I in the background (its pid in C_I).
coord_start() {
	"$coord" -c "$demo/coord$1.conf" >>"$demo/coord$1.log" 2>&1 &
	eval "C_$1=$!"
	pids="$pids $!"
}
# ask URL PATH: the HTTP status of GET PATH as alice, its headers in $T/h, body in $T/b.
ask() {
	curl -s -o "$T/b" -D "$T/h" -w '%{http_code}' --cacert "$P/ca.pem" --cert "$P/alice.pem" \
		--key "$P/alice.key" "$1$2" 2>/dev/null || true
}
# serves URL: the instance at URL is the active one (it answers the node list).
serves() { [ "$(ask "$1" /v1/nodes)" = 200 ]; }
# stands_by URL ACTIVE: the instance at URL answers as a standby naming ACTIVE.
stands_by() {
	[ "$(ask "$1" /v1/nodes)" = 503 ] && grep -qi "^X-KMA-Active: $2" "$T/h" &&
		grep -q '"error":"standby"' "$T/b"
}
now_ms() { date +%s%3N; }
# exits_75 PID WHO: PID ends within 30 s with status 75 (no longer the active instance).
exits_75() {
	wait_gone "$1" 30 || fail "$2 still runs after 30 s"
	wait "$1"
	_rc=$?
	[ "$_rc" = 75 ] || fail "$2 exited $_rc, not 75"
}

coord_start 1
until_ok 15 serves "$URL1"
coord_start 2
until_ok 15 stands_by "$URL2" "$URL1"
grep -q "Retry-After: 1" "$T/h" || fail "a standby's answer has no Retry-After"
ok "instance 1 leads; instance 2 answers 503 naming it (X-KMA-Active, Retry-After, JSON)"

# A client without a certificate learns nothing from a standby.
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca.pem" "$URL2/v1/nodes" || true)
[ "$code" = 403 ] || fail "a standby answered $code to a client without a certificate"
ok "a standby refuses a client without a certificate (403), as the active one does"

"$ctl" --url "$URL1" node add n-1 --name one --address 127.0.0.1:9443 >/dev/null ||
	fail "node add on the active instance"
etcdctl_ "$(etcd_endpoints)" get --prefix /kma-sim/t/nodes/ >"$T/etcd.nodes"
grep -q '"node_id":"n-1"' "$T/etcd.nodes" || { cat "$T/etcd.nodes"; fail "the node is not in etcd"; }
ok "what the active instance writes is in etcd, one key per row"

# kill -9 the active: the standby takes over once the lease expires, with the node.
t0=$(now_ms)
kill -9 "$C_1"
until_ok 30 serves "$URL2"
t1=$(now_ms)
ask "$URL2" /v1/nodes >/dev/null
grep -q '"n-1"' "$T/b" || { cat "$T/b"; fail "instance 2 does not know the node instance 1 added"; }
echo "# failover after kill -9: $((t1 - t0)) ms (election_ttl $TTL s)"
[ $((t1 - t0)) -ge $((TTL * 2000 / 3 - 200)) ] ||
	fail "instance 2 served $((t1 - t0)) ms after the kill, before the lease could expire"
ok "kill -9 of the active: instance 2 serves its state after $((t1 - t0)) ms"

coord_start 1
until_ok 15 stands_by "$URL1" "$URL2"
ok "the killed instance, started again, stands by and names instance 2"

# Frozen past its TTL, instance 2 is deposed: 1 takes over and writes; 2, woken, exits 75
# and none of its writes lands.
kill -STOP "$C_2"
until_ok 30 serves "$URL1"
"$ctl" --url "$URL1" node add n-2 --name two --address 127.0.0.1:9444 >/dev/null ||
	fail "node add on the new active instance"
kill -CONT "$C_2"
exits_75 "$C_2" "the deposed instance 2, woken,"
grep -q "no longer the active coordinator" "$demo/coord2.log" ||
	fail "the deposed instance did not say why it exits"
serves "$URL1" || fail "instance 1 stopped serving"
grep -q '"n-2"' "$T/b" || fail "instance 1 lost n-2"
ok "an active instance frozen past its TTL is deposed: it exits 75 when woken, the new one keeps serving"

coord_start 2
until_ok 15 stands_by "$URL2" "$URL1"
# One etcd member down (the cluster's leader, if it is one of them): the active one goes on.
etcd_kill "$(etcd_leader || echo 1)"
"$ctl" --url "$URL1" node add n-3 --name three --address 127.0.0.1:9445 >/dev/null ||
	until_ok 10 "$ctl" --url "$URL1" node add n-3 --name three --address 127.0.0.1:9445
serves "$URL1" && grep -q '"n-3"' "$T/b" || fail "instance 1 lost n-3"
alive "$C_1" || fail "instance 1 exited when one etcd member died"
ok "one etcd member killed: the active instance keeps its lead and writes"

# SIGTERM hands over at once (the lease is revoked, not left to expire).
t0=$(now_ms)
kill "$C_1"
until_ok 30 serves "$URL2"
t1=$(now_ms)
echo "# handover after SIGTERM: $((t1 - t0)) ms"
ask "$URL2" /v1/nodes >/dev/null
for n in n-1 n-2 n-3; do grep -q "\"$n\"" "$T/b" || fail "instance 2 lost $n"; done
ok "SIGTERM to the active: instance 2 serves after $((t1 - t0)) ms with every node"

# The fence itself: the leader key is taken from instance 2 behind its back (its lease still
# renewed, so it does not know): its next write is refused by etcd, rolled back, and it
# exits 75; instance 1 takes over without the refused node.
coord_start 1
until_ok 15 stands_by "$URL1" "$URL2"
etcdctl_ "$(etcd_endpoints)" del /kma-sim/leader >/dev/null || fail "etcdctl del"
if "$ctl" --url "$URL2" node add n-4 --name four --address 127.0.0.1:9446 >"$T/add4" 2>&1; then
	cat "$T/add4"
	fail "instance 2 acknowledged a write after it lost the lead"
fi
exits_75 "$C_2" "instance 2, its write fenced,"
grep -q "its write was fenced" "$demo/coord2.log" || fail "instance 2 did not say its write was fenced"
until_ok 30 serves "$URL1"
grep -q '"n-4"' "$T/b" && fail "the fenced write reached instance 1"
etcdctl_ "$(etcd_endpoints)" get --prefix /kma-sim/t/nodes/ >"$T/etcd.nodes"
grep -q '"n-4"' "$T/etcd.nodes" && fail "the fenced write is in etcd"
ok "a write of an instance that lost the lead is refused by etcd (the fence), not acknowledged, and it exits 75"
