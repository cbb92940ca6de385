#!/bin/sh
# "Fully functional and providing keys" with a key: a-kma02's board declares a KMIP check
# (Get of a canary key) of its key service, a real PyKMIP server on loopback. a-kma02's
# listener is wedged and its key service is down (the incident); the plan reboots it, and
# its gate does not open while the key service refuses: the step waits with the KMIP
# evidence ("key service unhealthy (no TLS session ...: tcp_refused ...)"). Once PyKMIP
# serves again and the canary comes back, the step stabilises and the plan ends healthy.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/kmip.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

sc_pki
# The key service's own certificate, from the cluster CA; and a client certificate naming
# a-kma02, whose owner PyKMIP's client creates the canary key as.
(
	cd "$P"
	for n in kms:serverAuth canary:clientAuth; do
		openssl ecparam -name prime256v1 -genkey -noout -out "${n%%:*}.key" 2>/dev/null
		cn=$([ "${n%%:*}" = kms ] && echo kms.local || echo a-kma02)
		openssl req -new -key "${n%%:*}.key" -subj "/O=Demo Cluster/CN=$cn" \
			-out "${n%%:*}.csr" 2>/dev/null
		printf 'extendedKeyUsage=%s\n' "${n#*:}" >"${n%%:*}.ext"
		openssl x509 -req -in "${n%%:*}.csr" -CA ca.pem -CAkey ca.key -days 30 -sha256 \
			-set_serial "0x$(openssl rand -hex 8)" -extfile "${n%%:*}.ext" \
			-out "${n%%:*}.pem" 2>/dev/null
	done
	chmod 600 ./*.key
) || fail "key service certificates"
KPORT=$(free_port)
kmip_server "$T/kms" "$KPORT" "$P/kms.pem" "$P/kms.key" "$P/ca.pem"
CANARY=$(kmip_create "$KPORT" "$P/canary.pem" "$P/canary.key" "$P/ca.pem") ||
	fail "PyKMIP's client could not create the canary key"
ok "PyKMIP serves on 127.0.0.1:$KPORT; canary key $CANARY created as a-kma02"

# a-kma02's product: the sim board plus a KMIP check of its key service.
mkdir -p "$T/boards/sim-kmip"
sed 's/^name = sim$/name = sim-kmip/' "$src/board/sim/board.conf" >"$T/boards/sim-kmip/board.conf"
cat >>"$T/boards/sim-kmip/board.conf" <<CONF

[kmip]
address = 127.0.0.1:$KPORT
operation = get
canary_uid = $CANARY
timeout = 3
CONF
sc_coord_start
for n in a-kma01 a-kma02 u-kma02; do appliance "$n" "SIM-$n"; done
sed -i "s|^name = sim\$|name = sim-kmip|; s|^dir = .*|dir = $T/boards|" "$demo/a-kma02/agent.conf"
"$agent" -c "$demo/a-kma02/agent.conf" --check-config >/dev/null || fail "sim-kmip board"
for n in a-kma01 a-kma02 u-kma02; do
	enrol "$n" >/dev/null
	start "$n"
done
until_ok 60 "$ctl" mesh
until_ok 60 sh -c "\"$ctl\" status --json >\"$T/st.json\" && grep -q \"KMIP Get answered\" \"$T/st.json\""
python3 - "$T/st.json" <<'PY' || { cat "$T/st.json"; fail "a-kma02's key service in kmactl status"; }
import json, sys
j = json.load(open(sys.argv[1]))
n = [x for x in j["nodes"] if x["node_id"] == "a-kma02"][0]
k = n["last_report"]["key_service"]
assert k["healthy"] is True, k
assert k["kmip"]["result"] == "ok" and k["kmip"]["operation"] == "Get", k
assert "symmetric key" in k["kmip"]["answer"], k
PY
"$ctl" status >"$T/st.txt" || fail "kmactl status"
expect_grep "ok (KMIP Get" "$T/st.txt"
ok "a-kma02 serves its canary key: $(json_get "$T/st.json" '[x for x in j["nodes"] if x["node_id"]=="a-kma02"][0]["last_report"]["key_service"]["detail"]')"

# The incident on a-kma02: its listener refuses and its key service is down.
kmip_stop
wedge a-kma02
until_ok 60 sh -c "\"$ctl\" diagnose >\"$T/d\"; grep -q node_refused \"$T/d\""
ok "a-kma02 refuses connections and its key service is down"

"$ctl" run --yes >"$T/run.out" 2>&1 &
RUN_PID=$!
PIDS="$PIDS $RUN_PID"
# The reboot happens; the step then waits on the key service, not on the mesh.
n=0
until curl -sS --max-time 10 --cacert "$P/ca.pem" --cert "$P/alice.pem" --key "$P/alice.key" \
	"https://localhost:$CPORT/v1/plans/current" >"$T/plan.json" 2>/dev/null &&
	python3 - "$T/plan.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = [x for x in j.get("steps", []) if x["kind"] == "reboot"]
sys.exit(0 if s and s[0]["phase"] == "back" and "key service unhealthy" in s[0]["detail"]
         and "tcp_refused" in s[0]["detail"] else 1)
PY
do
	n=$((n + 1))
	[ $n -lt 2400 ] || { cat "$T/plan.json" "$T/run.out"; fail "the reboot step never waited on the key service"; }
	kill -0 "$RUN_PID" 2>/dev/null || { cat "$T/run.out"; fail "kmactl run ended before the key service came back"; }
	sleep 0.1
done
[ "$(cat "$demo/a-kma02/sim/reboots")" = 1 ] || fail "a-kma02 not rebooted once"
ok "after the reboot the gate waits: $(python3 -c 'import json,sys; print([x for x in json.load(open(sys.argv[1]))["steps"] if x["kind"]=="reboot"][0]["detail"])' "$T/plan.json")"

# Still waiting a while later: nothing but the key service holds it.
sleep 3
curl -sS --max-time 10 --cacert "$P/ca.pem" --cert "$P/alice.pem" --key "$P/alice.key" \
	"https://localhost:$CPORT/v1/plans/current" >"$T/plan.json" || fail "plan"
python3 -c 'import json,sys
s=[x for x in json.load(open(sys.argv[1]))["steps"] if x["kind"]=="reboot"][0]
sys.exit(0 if s["state"] != "done" and "key service unhealthy" in s["detail"] else 1)' "$T/plan.json" ||
	{ cat "$T/plan.json"; fail "the reboot step went on without the key service"; }
back_at=$(date +%s)
kmip_server "$T/kms" "$KPORT" "$P/kms.pem" "$P/kms.key" "$P/ca.pem"
ok "PyKMIP started again (same database: the canary is still there)"

wait "$RUN_PID" || { cat "$T/run.out"; fail "kmactl run did not end well"; }
expect_grep "The cluster is healthy." "$T/run.out"
"$ctl" history --json >"$T/j.json" || fail "history"
python3 - "$T/j.json" "$back_at" <<'PY' || { cat "$T/j.json"; fail "the journal"; }
import json, sys
e = json.load(open(sys.argv[1]))["entries"]
back = int(sys.argv[2])
done = [x for x in e if x["event"] == "done" and x["step"] == 1]
assert done and done[0]["at"] >= back, ("step 1 done before the key service was back", done, back)
PY
"$ctl" status --json >"$T/st.json" || fail "status"
expect_jsons "$T/st.json" \
	'[x for x in j["nodes"] if x["node_id"]=="a-kma02"][0]["last_report"]["key_service"]["kmip"]["result"]' ok
ok "the reboot step ended only after a-kma02 served its canary key again; the cluster is healthy"
kmip_stop
