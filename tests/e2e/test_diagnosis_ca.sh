#!/bin/sh
# Diagnosis cluster_ca_mismatch (the domain-CA incident) on a real three-node cluster:
# each node's identity comes from a different CA (the cluster CA, a domain CA, an image's
# default CA) and each trusts only its own, so every node distrusts every other node's
# chain. The agents still report: the coordinator's CA ([coordinator] ca) is separate, and
# the coordinator trusts all three issuers. The diagnosis must blame the cluster's CAs,
# not a node, with every pair's evidence.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"
. "$KMA_SOURCE_DIR/tests/e2e/cluster.sh"

cluster_pki
pki_root "$P" dflt-ca "/O=Example Appliance/CN=DefaultDomain" || fail "a third root"
cluster_leaf u2 u-kma02 "$P/domain-ca"
cluster_leaf c3 a-kma03 "$P/dflt-ca"
# Each node sends its root too: its peers see a self-signed root that is not theirs.
cat "$P/a-kma01.pem" "$P/ca.pem" >"$P/a1-chain.pem"
cat "$P/u2.pem" "$P/domain-ca.pem" >"$P/u2-chain.pem"
cat "$P/c3.pem" "$P/dflt-ca.pem" >"$P/c3-chain.pem"
cat "$P/ca.pem" "$P/domain-ca.pem" "$P/dflt-ca.pem" >"$P/issuers.pem"
cluster_coord "$P/issuers.pem"
PA=$(free_port)
PU=$(free_port)
PC=$(free_port)
node_add a-kma01 "127.0.0.1:$PA" "$(cat "$P/serial.a-kma01")"
node_add u-kma02 "127.0.0.1:$PU" "$(cat "$P/serial.u2")"
node_add a-kma03 "127.0.0.1:$PC" "$(cat "$P/serial.c3")"
agent_start a "127.0.0.1:$PA" "$P/a-kma01.key" "$P/a1-chain.pem" "$P/ca.pem"
agent_start u "127.0.0.1:$PU" "$P/u2.key" "$P/u2-chain.pem" "$P/domain-ca.pem"
agent_start c "127.0.0.1:$PC" "$P/c3.key" "$P/c3-chain.pem" "$P/dflt-ca.pem"

for x in a-kma01 u-kma02 a-kma03; do
	for y in a-kma01 u-kma02 a-kma03; do
		[ "$x" = "$y" ] || wait_mesh "$x" "$y" outbound peer_cert_untrusted
	done
done
ok "every node distrusts every other node's chain, and every node reports"

diag_expect "cluster_ca_mismatch" <<'PY'
assert j["healthy"] is False
f = one("cluster_ca_mismatch")
assert f["culprit"] is None and f["severity"] == "error", f
assert "distribute the right cluster CA" in f["remedy"], f
nodes = ("a-kma01", "u-kma02", "a-kma03")
for x in nodes:
    for y in nodes:
        assert x == y or cites(f, "%s -> %s: peer_cert_untrusted" % (x, y)), (x, y)
assert errors() == [f], errors()
PY
ok "the diagnosis blames the cluster's CAs (cluster_ca_mismatch) with all six directions"
