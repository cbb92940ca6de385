#!/bin/sh
# Identity on a sim appliance: unprovisioned, import, provisioned, board replaced,
# damaged record recovered from the previous copy, unusable record refused.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

make_sim n1 SIM-BOARD-0001
C="$T/n1/agent.conf"
REC="$T/n1/state/identity.rec"

expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['state']" unprovisioned
expect_json "$T/out" "j['node_id']" None
expect_json "$T/out" "j['hardware']['board_serial']" SIM-BOARD-0001
expect_json "$T/out" "len(j['hardware']['fingerprint'])" 64
ok "a new sim appliance is unprovisioned"

expect_exit 0 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
cat "$T/out" "$T/err" >"$T/import.log"
expect_grep "State:         provisioned" "$T/out"
[ "$(stat -c %a "$REC")" = 600 ] || fail "identity record mode $(stat -c %a "$REC"), want 600"
[ "$(stat -c %a "$T/n1/state")" = 700 ] || fail "state dir mode $(stat -c %a "$T/n1/state")"
expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['state']" provisioned
expect_json "$T/out" "j['node_id']" a-kma01
expect_json "$T/out" "j['certificate']['serial']" E2207FDBA432E9010000000000000084
expect_json "$T/out" "j['certificate']['expired']" False
expect_json "$T/out" "j['generation']" 1
expect_json "$T/out" "j['parts_changed']" "[]"
expect_json "$T/out" "j['enrolled_hardware']['board_serial']" SIM-BOARD-0001
ok "identity import stores a 0600 record and reports provisioned"

# The private key never appears in anything we print.
keyline=$(sed -n 2p "$DATA/a-kma01.key")
cat "$T/out" "$T/err" >>"$T/import.log"
if grep -qF -- "$keyline" "$T/import.log"; then fail "private key material printed"; fi
ok "no key material in the output"

expect_exit 65 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/other-ca.pem"
expect_grep "does not verify to the CA" "$T/err"
expect_exit 65 "$AGENT" -c "$C" identity import --key "$DATA/ca.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
expect_grep "does not belong to the certificate" "$T/err"
expect_exit 65 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem" --node-id u-kma02
expect_grep "names node 'a-kma01', not 'u-kma02'" "$T/err"
expect_exit 66 "$AGENT" -c "$C" identity import --key "$T/nope.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
expect_exit 64 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key"
expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['generation']" 1
ok "bad imports are refused and leave the identity as it was"

# The board is replaced: the agent says which part changed.
echo SIM-BOARD-0002 >"$T/n1/sim/hw/board_serial"
expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['state']" hardware_changed
expect_json "$T/out" "j['parts_changed']" "['board']"
expect_json "$T/out" "j['hardware']['board_serial']" SIM-BOARD-0002
expect_json "$T/out" "j['enrolled_hardware']['board_serial']" SIM-BOARD-0001
expect_exit 0 "$AGENT" -c "$C" identity
expect_grep "board serial   SIM-BOARD-0002" "$T/out"
expect_grep "<- changed" "$T/out"
expect_grep "factory reset and rejoin" "$T/out"
ok "a replaced board is reported as hardware_changed (board)"

# A second import (QuickStart generation 2) on the new board, then damage the record.
expect_exit 0 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['generation']" 2
expect_json "$T/out" "j['state']" provisioned
size=$(stat -c %s "$REC")
truncate -s $((size / 2)) "$REC"
expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['record']['from_backup']" True
expect_json "$T/out" "j['generation']" 1
expect_json "$T/out" "j['node_id']" a-kma01
ok "a truncated record falls back to the previous identity"

# Neither copy usable: a clear error, exit 65, never a half-loaded identity.
printf 'garbage' >"$REC"
printf 'KMAIDR01garbage' >"$REC.prev"
expect_exit 65 "$AGENT" -c "$C" identity --json
expect_grep "identity record unusable" "$T/err"
expect_json "$T/out" "j['node_id']" None
ok "an unusable record is refused with exit 65"

# Factory reset erases the identity record and only it; it asks first.
expect_exit 0 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
echo keep >"$T/n1/state/other-file"
expect_exit 64 "$AGENT" -c "$C" factory-reset </dev/null
expect_grep "give --yes" "$T/err"
expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['state']" provisioned
expect_exit 0 "$AGENT" -c "$C" factory-reset --yes
expect_exit 0 "$AGENT" -c "$C" identity --json
expect_json "$T/out" "j['state']" unprovisioned
[ -f "$T/n1/state/other-file" ] || fail "factory reset removed more than the identity"
[ ! -e "$REC.prev" ] || fail "factory reset left the previous identity behind"
ok "factory-reset asks, then erases the identity record and nothing else"

expect_exit 64 "$AGENT" -c "$C" quickstart --node-id a-kma01
expect_exit 64 "$AGENT" -c "$C" quickstart --node-id 'a,O=evil' --token x
expect_grep "node ID 'a,O=evil'" "$T/err"
ok "quickstart refuses bad arguments before generating anything"

# Issue 16 item 9: a FIFO at the identity path (planted after a factory reset) is refused at
# once as not a regular file; before, `identity` and the daemon's loader blocked forever.
rm -f "$REC" "$REC.prev"
mkfifo "$REC"
expect_exit 65 timeout 30 "$AGENT" -c "$C" identity
expect_grep "identity.rec: not a regular file" "$T/err"
rm -f "$REC"
ln -s "$DATA/a-kma01.pem" "$REC"
expect_exit 65 timeout 30 "$AGENT" -c "$C" identity
expect_grep "identity.rec: not a regular file (a symbolic link)" "$T/err"
rm -f "$REC"
ok "a FIFO or a link at the identity path is refused at once, never waited on"

# The same for a file the board's key-service check reads ([kmip] server_ca, here --ca):
# a FIFO there is refused at once (it was read with mbedtls_x509_crt_parse_file's fopen).
expect_exit 0 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"
mkfifo "$T/kmip-ca.pem"
timeout 30 "$AGENT" -c "$C" kmip --address "127.0.0.1:$(free_port)" --ca "$T/kmip-ca.pem" \
	>"$T/out" 2>"$T/err"
[ $? != 124 ] || fail "kma-agent kmip waited on a FIFO as its server CA"
cat "$T/out" >>"$T/err"
expect_grep "kmip-ca.pem: not a regular file" "$T/err"
ok "a FIFO as the key-service check's CA is refused at once"
