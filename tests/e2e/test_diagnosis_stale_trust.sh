#!/bin/sh
# Diagnosis node_stale_trust on a real three-node cluster, in the middle of a CA rollover:
# u-kma02 and a-kma03 have certificates from the new cluster CA and trust both the new and
# the old CA; a-kma01 missed the rollover: its certificate is from the old CA (which its
# peers still trust) and its trust store holds the old CA only. a-kma01 distrusts every
# peer and rejects their client certificates, while they trust each other: the coordinator
# must name a-kma01's trust store, with evidence from both sides, and blame no one else.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"
. "$KMA_SOURCE_DIR/tests/e2e/cluster.sh"

cluster_pki
pki_root "$P" old-ca "/O=Example Cluster/CN=Example Cluster CA 2019" || fail "the old root"
cluster_leaf a1 a-kma01 "$P/old-ca"
cat "$P/ca.pem" "$P/old-ca.pem" >"$P/both.pem"
cluster_coord "$P/both.pem"
PA=$(free_port)
PU=$(free_port)
PC=$(free_port)
node_add a-kma01 "127.0.0.1:$PA" "$(cat "$P/serial.a1")"
node_add u-kma02 "127.0.0.1:$PU" "$(cat "$P/serial.u-kma02")"
node_add a-kma03 "127.0.0.1:$PC" "$(cat "$P/serial.a-kma03")"
agent_start a "127.0.0.1:$PA" "$P/a1.key" "$P/a1.pem" "$P/old-ca.pem"
agent_start u "127.0.0.1:$PU" "$P/u-kma02.key" "$P/u-kma02.pem" "$P/both.pem"
agent_start c "127.0.0.1:$PC" "$P/a-kma03.key" "$P/a-kma03-chain.pem" "$P/both.pem"

wait_mesh a-kma01 u-kma02 outbound peer_chain_incomplete
wait_mesh a-kma01 a-kma03 outbound peer_chain_incomplete
wait_mesh a-kma01 u-kma02 inbound peer_chain_incomplete
wait_mesh u-kma02 a-kma01 outbound rejected_by_peer
wait_mesh a-kma03 a-kma01 outbound rejected_by_peer
wait_mesh u-kma02 a-kma03 outbound ok
wait_mesh a-kma03 u-kma02 outbound ok
ok "a-kma01 distrusts and rejects both peers, who trust it and each other"

diag_expect "node_stale_trust names a-kma01" <<'PY'
assert j["healthy"] is False
f = one("node_stale_trust")
assert f["culprit"] == "a-kma01" and f["severity"] == "error", f
assert "install the current cluster CA on a-kma01" in f["remedy"], f
assert cites(f, "a-kma01 -> u-kma02: peer_chain_incomplete"), f
assert cites(f, "a-kma01 -> a-kma03: peer_chain_incomplete"), f
# TLS 1.3 between Mbed TLS 3.x agents: the refusal's alert is unreadable for the client
alert = () if __import__("os").environ.get("TLS13") == "1" else ("alert 48 received",)
assert cites(f, "u-kma02 -> a-kma01: rejected_by_peer", *alert), f
assert cites(f, "a-kma03 -> a-kma01: rejected_by_peer", *alert), f
assert errors() == [f], errors()
PY
ok "the diagnosis names a-kma01 (node_stale_trust) with evidence from both sides"
