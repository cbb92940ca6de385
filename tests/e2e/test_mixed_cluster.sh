#!/bin/sh
# A cluster of agents built on different Mbed TLS lines, as a fleet is mid-upgrade: a-kma02
# runs the kma-agent of KMA_PEER_BUILD_DIR (make test MBEDTLS=3.6 sets it to the default
# build, Debian 12's 2.28), a-kma01 and u-kma02 this build's. The whole mesh must
# authenticate both ways with each pair's protocol as both sides' libraries allow; then
# the incident (a-kma01 QuickStarted at the bench, a-kma02's listener wedged) is diagnosed
# and recovered, the 2.28 agent rebooted by the plan like any other. Skipped (exit 77), not
# passed, without a peer build.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

PEER_AGENT="${KMA_PEER_BUILD_DIR:-}/agent/kma-agent"
if [ -z "${KMA_PEER_BUILD_DIR:-}" ] || [ ! -x "$PEER_AGENT" ]; then
	echo "SKIP: no peer build (KMA_PEER_BUILD_DIR='${KMA_PEER_BUILD_DIR:-}'): make test MBEDTLS=3.6 provides one"
	exit 77
fi
ours="$("$AGENT" --version)" || fail "kma-agent --version"
theirs="$("$PEER_AGENT" --version)" || fail "$PEER_AGENT --version"
echo "this build: $ours"
echo "peer build: $theirs"
mbed_of() { echo "$1" | sed -n 's/.*(Mbed TLS \([0-9]*\.[0-9]*\).*/\1/p'; }
our_line=$(mbed_of "$ours")
their_line=$(mbed_of "$theirs")
[ -n "$our_line" ] && [ -n "$their_line" ] || fail "no Mbed TLS version in --version"
[ "$our_line" != "$their_line" ] ||
	{ echo "SKIP: both builds use Mbed TLS $our_line: nothing mixed"; exit 77; }

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
SC_AGENTS="a-kma02=$PEER_AGENT"
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

# proto_between LINE LINE: what agents of two Mbed TLS lines speak: TLS 1.3 when both are
# 3.x, TLS 1.2 as soon as one is 2.28.
proto_between() {
	case "$1-$2" in
	3.*-3.*) echo TLSv1.3 ;;
	*) echo TLSv1.2 ;;
	esac
}

# mesh_ok NODE: the node's own view: every peer ok both ways, with the expected protocol.
mesh_ok() {
	python3 - "$demo/$1/state/mesh.json" "$1" "$our_line" "$their_line" \
		"$(proto_between "$our_line" "$our_line")" "$(proto_between "$our_line" "$their_line")" <<'PY'
import json, sys
path, me, ours, theirs, same, mixed = sys.argv[1:]
line = {"a-kma02": theirs}
j = json.load(open(path))
assert len(j["peers"]) == 2, ("peers", len(j["peers"]))
for p in j["peers"]:
    for d in ("outbound", "inbound"):
        o = p[d]
        assert o and o["cause"] == "ok", (me, p["node_id"], d, o and o["cause"], o and o["detail"])
    o = p["outbound"]
    want = same if line.get(me, ours) == line.get(p["node_id"], ours) else mixed
    assert o["protocol"] == want, (me, p["node_id"], o["protocol"], want)
PY
}

sc_pki
sc_coord_start
sc_cluster a-kma01 a-kma02 u-kma02
for n in a-kma01 a-kma02 u-kma02; do
	until_ok 60 mesh_ok "$n" || { mesh_ok "$n"; fail "$n: mesh not ok"; }
done
ok "mixed mesh ($our_line and $their_line): every pair ok both ways, each with the protocol both libraries speak"

sc_incident
"$ctl" mesh >"$T/mesh" || true
grep -q "tls_error\|tls-err" "$T/mesh" && { cat "$T/mesh"; fail "a pair failed with an unclassified TLS error"; }
ok "the incident on the mixed cluster: a-kma01 never rejoined, a-kma02 ($their_line) refuses"

expect_exit 0 "$ctl" run --yes
expect_grep "The cluster is healthy." "$T/out"
[ "$(cat "$demo/a-kma02/sim/reboots")" = 1 ] || fail "a-kma02 rebooted $(cat "$demo/a-kma02/sim/reboots" 2>/dev/null) times"
for n in a-kma01 a-kma02 u-kma02; do
	until_ok 60 mesh_ok "$n" || { mesh_ok "$n"; fail "$n: mesh not ok after the recovery"; }
done
"$ctl" diagnose >"$T/d" || { cat "$T/d"; fail "not healthy at the end"; }
ok "recovered: plan finished, a-kma02 rebooted once, every pair ok again with the right protocol"
