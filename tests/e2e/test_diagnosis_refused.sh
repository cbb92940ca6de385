#!/bin/sh
# Diagnosis node_refused on a real three-node cluster: u-kma02's agent runs, reports and
# probes its peers, but listens on another port than the address the cluster enrolled for
# it, so no peer can connect to it. The coordinator must name u-kma02 (refused by every
# peer), not the peers it still authenticates, and must not call it silent.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"
. "$KMA_SOURCE_DIR/tests/e2e/cluster.sh"

cluster_pki
cluster_coord
PA=$(free_port)
PU=$(free_port)
PC=$(free_port)
PX=$(free_port) # where u-kma02 really listens
node_add a-kma01 "127.0.0.1:$PA" "$(cat "$P/serial.a-kma01")"
node_add u-kma02 "127.0.0.1:$PU" "$(cat "$P/serial.u-kma02")"
node_add a-kma03 "127.0.0.1:$PC" "$(cat "$P/serial.a-kma03")"
agent_start a "127.0.0.1:$PA" "$P/a-kma01.key" "$P/a-kma01.pem" "$P/ca.pem"
agent_start u "127.0.0.1:$PX" "$P/u-kma02.key" "$P/u-kma02.pem" "$P/ca.pem"
agent_start c "127.0.0.1:$PC" "$P/a-kma03.key" "$P/a-kma03-chain.pem" "$P/ca.pem"

wait_mesh a-kma01 u-kma02 outbound tcp_refused
wait_mesh a-kma03 u-kma02 outbound tcp_refused
# u-kma02 itself is fine: it reports, and its own probes get through both ways.
wait_mesh u-kma02 a-kma01 outbound ok
wait_mesh u-kma02 a-kma03 outbound ok
wait_mesh a-kma01 u-kma02 inbound ok
wait_mesh a-kma01 a-kma03 outbound ok
wait_mesh a-kma03 a-kma01 outbound ok
ok "nobody reaches u-kma02's enrolled address while u-kma02 reaches everyone"

diag_expect "node_refused names u-kma02" <<PY
assert j["healthy"] is False
f = one("node_refused")
assert f["culprit"] == "u-kma02" and f["severity"] == "error", f
assert "rolling reboot of u-kma02" in f["remedy"], f
assert cites(f, "a-kma01 -> u-kma02: tcp_refused"), f
assert cites(f, "a-kma03 -> u-kma02: tcp_refused"), f
assert errors() == [f], errors()
assert not [x for x in F if x["culprit"] in ("a-kma01", "a-kma03")], F
PY
ok "the diagnosis names u-kma02 (node_refused) with both peers' evidence, and nothing else"
