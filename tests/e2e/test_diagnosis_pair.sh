#!/bin/sh
# Diagnosis pair_failure on a real three-node cluster, each agent in its own network
# namespace behind a router (this test's namespace, which also runs the coordinator).
# First the full mesh authenticates. Then the router drops everything between a-kma01 and
# u-kma02, both ways: their probes of each other time out while both still authenticate
# a-kma03 and report. The coordinator must blame the path between them, not either node.
# Needs new network namespaces (root, or unprivileged user namespaces) and iproute2: a
# host without them fails this test, it does not skip it.
. "$KMA_SOURCE_DIR/tests/e2e/cluster.sh"
netns_enter "$0"
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

netns_hub
netns_node n1 1
netns_node n2 2
netns_node n3 3
cluster_pki
# The agents reach the coordinator at the router's 10.77.0.1.
printf '[server_ns]\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1, IP:10.77.0.1\n' \
	>>"$P/ca/ca.cnf"
pki_sign "$P/ca" coord-ns "/O=Example Cluster/CN=kma-coord" server_ns 5E4E4E4E00000002 \
	"$NOW0" "$NOW1" || fail "the coordinator's certificate"
cluster_coord "" coord-ns 0.0.0.0 10.77.0.1
node_add a-kma01 10.77.1.2:9443 "$(cat "$P/serial.a-kma01")"
node_add u-kma02 10.77.2.2:9443 "$(cat "$P/serial.u-kma02")"
node_add a-kma03 10.77.3.2:9443 "$(cat "$P/serial.a-kma03")"
agent_start a 10.77.1.2:9443 "$P/a-kma01.key" "$P/a-kma01.pem" "$P/ca.pem" n1
agent_start u 10.77.2.2:9443 "$P/u-kma02.key" "$P/u-kma02.pem" "$P/ca.pem" n2
agent_start c 10.77.3.2:9443 "$P/a-kma03.key" "$P/a-kma03-chain.pem" "$P/ca.pem" n3

NODES="a-kma01 u-kma02 a-kma03"
for x in $NODES; do
	for y in $NODES; do
		[ "$x" = "$y" ] || wait_mesh "$x" "$y" outbound ok
	done
done
diag_expect "a healthy cluster before the path fails" <<'PY'
assert j["healthy"] is True and F == [], F
PY
ok "across the router every pair authenticates and the cluster is healthy"

{
	ip rule add from 10.77.1.2 to 10.77.2.2 blackhole &&
		ip rule add from 10.77.2.2 to 10.77.1.2 blackhole
} || fail "blocking the path"
wait_mesh a-kma01 u-kma02 outbound tcp_timeout
wait_mesh u-kma02 a-kma01 outbound tcp_timeout
for x in a-kma01 u-kma02; do
	wait_mesh "$x" a-kma03 outbound ok
	wait_mesh a-kma03 "$x" outbound ok
done
ok "a-kma01 and u-kma02 time out on each other and still authenticate a-kma03"

diag_expect "pair_failure between a-kma01 and u-kma02" <<'PY'
assert j["healthy"] is False
f = one("pair_failure")
assert f["culprit"] == "a-kma01 <-> u-kma02" and f["severity"] == "error", f
assert "network path and firewalls between a-kma01 and u-kma02" in f["remedy"], f
assert cites(f, "a-kma01 -> u-kma02: tcp_timeout"), f
assert cites(f, "u-kma02 -> a-kma01: tcp_timeout"), f
assert errors() == [f], errors()
PY
ok "the diagnosis blames the path between a-kma01 and u-kma02 (pair_failure), no node"
