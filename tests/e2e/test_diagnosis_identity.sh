#!/bin/sh
# Diagnosis node_identity_wrong on a real three-node cluster: the agent at u-kma02's
# enrolled address holds a certificate (from the right CA) for another node ID, u-kma09,
# as after a QuickStart with the wrong ID. Every peer that probes u-kma02's address finds
# u-kma09 there; the coordinator must name u-kma02, with that evidence from both peers,
# and blame no one else.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"
. "$KMA_SOURCE_DIR/tests/e2e/cluster.sh"

cluster_pki
cluster_leaf wrong u-kma09 "$P/ca"
cluster_coord
PA=$(free_port)
PU=$(free_port)
PC=$(free_port)
node_add a-kma01 "127.0.0.1:$PA" "$(cat "$P/serial.a-kma01")"
node_add u-kma02 "127.0.0.1:$PU" "$(cat "$P/serial.u-kma02")"
node_add a-kma03 "127.0.0.1:$PC" "$(cat "$P/serial.a-kma03")"
agent_start a "127.0.0.1:$PA" "$P/a-kma01.key" "$P/a-kma01.pem" "$P/ca.pem"
agent_start u "127.0.0.1:$PU" "$P/wrong.key" "$P/wrong.pem" "$P/ca.pem"
agent_start c "127.0.0.1:$PC" "$P/a-kma03.key" "$P/a-kma03-chain.pem" "$P/ca.pem"

wait_mesh a-kma01 u-kma02 outbound peer_identity_mismatch
wait_mesh a-kma03 u-kma02 outbound peer_identity_mismatch
wait_mesh a-kma01 a-kma03 outbound ok
wait_mesh a-kma03 a-kma01 outbound ok
# The impostor cannot speak for u-kma02 at the coordinator either.
wait_for_line "$T/coord.log" "node 'u-kma09' is not in the cluster"
ok "both peers find u-kma09 at u-kma02's address; a-kma01 and a-kma03 authenticate each other"

diag_expect "node_identity_wrong names u-kma02" <<PY
assert j["healthy"] is False
f = one("node_identity_wrong")
assert f["culprit"] == "u-kma02" and f["severity"] == "error", f
assert "factory reset and rejoin the node at u-kma02's address" in f["remedy"], f
for peer in ("a-kma01", "a-kma03"):
    assert cites(f, peer + " -> u-kma02: peer_identity_mismatch",
                 "its certificate names u-kma09",
                 "presented serial $(cat "$P/serial.wrong")",
                 "enrolled $(cat "$P/serial.u-kma02")"), peer
# u-kma02 itself never reports: the impostor at its address is refused as u-kma09.
assert {x["culprit"] for x in errors()} == {"u-kma02"}, errors()
assert not [x for x in F if x["pattern"] == "unexplained"]
PY
ok "the diagnosis names u-kma02 (node_identity_wrong) with both peers' evidence"

# The plan resets the node at u-kma02's address, by hand: it reports as u-kma09, so it can
# take no directive as u-kma02; and every step is justified by what its peers find there.
expect_exit 0 "$CTL" -c "$T/kmactl.conf" --json plan
python3 - "$T/out" <<'PY' || { cat "$T/out"; fail "the plan for u-kma02"; }
import json, sys
p = json.load(open(sys.argv[1]))
s = {x["kind"]: x for x in p["steps"]}
assert [x["kind"] for x in p["steps"]] == ["delete_entry", "factory_reset", "add_entry",
                                           "quickstart", "join"], p
assert all(x["node_id"] == "u-kma02" for x in p["steps"]), p
assert "node_identity_wrong at u-kma02's address" in s["delete_entry"]["justified_by"], s
assert not s["delete_entry"]["manual"], s
assert s["factory_reset"]["manual"] and "cannot take directives" in s["factory_reset"]["instruction"], s
assert s["quickstart"]["manual"] and "kma-agent quickstart --node-id u-kma02" in s["quickstart"]["instruction"], s
PY
ok "the plan: u-kma02's reset and QuickStart are manual (it cannot take directives), each step justified"
