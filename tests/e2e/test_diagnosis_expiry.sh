#!/bin/sh
# Diagnosis cert_expiring on a real three-node cluster: a-kma03's certificate expires in
# ten days, u-kma02's in 90 s (half a minute was not enough for a loaded machine to bring
# the cluster up and look while it was still valid). While both are valid the mesh is fine and the
# diagnosis forecasts both as warnings: the cluster stays healthy and kmactl diagnose
# exits 0. Once u-kma02's certificate has expired its peers reject it, and the same
# finding becomes an error that makes the cluster unhealthy.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"
. "$KMA_SOURCE_DIR/tests/e2e/cluster.sh"

# utc SECONDS: now + SECONDS in openssl's -startdate/-enddate format
utc() {
	python3 -c 'import sys, time; print(time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + int(sys.argv[1]))))' "$1"
}

cluster_pki
cluster_leaf c3 a-kma03 "$P/ca" "$(utc -86400)" "$(utc 864000)"
cluster_leaf u2 u-kma02 "$P/ca" "$(utc -86400)" "$(utc 90)"
cluster_coord
PA=$(free_port)
PU=$(free_port)
PC=$(free_port)
node_add a-kma01 "127.0.0.1:$PA" "$(cat "$P/serial.a-kma01")"
node_add u-kma02 "127.0.0.1:$PU" "$(cat "$P/serial.u2")"
node_add a-kma03 "127.0.0.1:$PC" "$(cat "$P/serial.c3")"
agent_start a "127.0.0.1:$PA" "$P/a-kma01.key" "$P/a-kma01.pem" "$P/ca.pem"
agent_start u "127.0.0.1:$PU" "$P/u2.key" "$P/u2.pem" "$P/ca.pem"
agent_start c "127.0.0.1:$PC" "$P/c3.key" "$P/c3.pem" "$P/ca.pem"

for x in a-kma01 u-kma02 a-kma03; do
	for y in a-kma01 u-kma02 a-kma03; do
		[ "$x" = "$y" ] || wait_mesh "$x" "$y" outbound ok
	done
done
ok "the mesh is fine while every certificate is valid"

diag_expect "cert_expiring warnings on a healthy cluster" <<PY
assert j["healthy"] is True
assert errors() == [], errors()
w = {x["culprit"]: x for x in F if x["pattern"] == "cert_expiring"}
assert sorted(w) == ["a-kma03", "u-kma02"], F
assert all(x["severity"] == "warning" for x in w.values()), w
assert "serial $(cat "$P/serial.c3")" in w["a-kma03"]["summary"], w
assert "expires in 9 days" in w["a-kma03"]["summary"], w
assert "expires in 0 days" in w["u-kma02"]["summary"], w
assert "renew a-kma03's certificate" in w["a-kma03"]["remedy"], w
PY
expect_exit 0 "$CTL" -c "$T/kmactl.conf" diagnose
expect_grep "healthy: 2 findings" "$T/out"
ok "both forecasts are warnings: the cluster is healthy and kmactl diagnose exits 0"

# 90 s after it was issued u-kma02's certificate expires: its peers reject it,
# and the coordinator refuses its reports too.
wait_mesh a-kma01 u-kma02 outbound peer_cert_expired
wait_mesh a-kma03 u-kma02 outbound peer_cert_expired
diag_expect "an expired certificate is an error that explains its peers' rejections" <<PY
assert j["healthy"] is False
w = {x["culprit"]: x for x in F if x["pattern"] == "cert_expiring"}
f = one("node_cert_expired")
assert f["culprit"] == "u-kma02", f
assert f["severity"] == "error" and "expired 0 days ago" in f["summary"], f
assert f["presents"]["serial"] == "$(cat "$P/serial.u2")", f
assert "renew u-kma02's certificate" in f["remedy"], f
assert cites(f, "a-kma01 -> u-kma02: peer_cert_expired", "alert 45 sent"), f
assert cites(f, "a-kma03 -> u-kma02: peer_cert_expired", "alert 45 sent"), f
assert w["a-kma03"]["severity"] == "warning", w
assert not [x for x in F if x["pattern"] == "unexplained"], F
# u-kma02 may be silent by now (its reports are refused): still no one else's fault.
assert {x["culprit"] for x in errors()} == {"u-kma02"}, errors()
PY
expect_exit 1 "$CTL" -c "$T/kmactl.conf" diagnose
expect_grep "NOT HEALTHY" "$T/out"
ok "once expired, u-kma02's certificate is an error naming u-kma02 with its peers' evidence"
