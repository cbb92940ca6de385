#!/bin/sh
# kill -9 of kma-coord at random moments while an agent reports and an operator adds
# nodes as fast as they can: nothing the coordinator acknowledged is lost. Every report
# answered 200 is counted and the last one is stored; every node answered 201 exists;
# the database opens cleanly each time (WAL, synchronous=FULL, one transaction per change).
# KMA_CRASH_MODE=powercut (test_coord_powercut.sh) models a power cut instead.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"
pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
PORT=$(free_port)
pki_coord_conf "$T/coord.conf" "$P" "$PORT" "$T/coord.db"
cat >>"$T/coord.conf" <<CONF
report_interval = 5
CONF

MODE=${KMA_CRASH_MODE:-kill} # test_coord_powercut.sh: powercut
python3 "$KMA_SOURCE_DIR/tests/e2e/coord_crash.py" "$COORD" "$T/coord.conf" "$PORT" "$P" \
	"$T/coord.log" "$T/coord.db" "$MODE" 12 >"$T/crash.out" || { cat "$T/crash.out"; fail "acknowledged data lost"; }
cat "$T/crash.out"
if [ "$MODE" = kill ]; then
	ok "kma-coord killed -9 12 times under load: every acknowledged report and node is there"
else
	ok "12 power cuts under load: every acknowledged node is there, the database intact, reports resume"
fi
