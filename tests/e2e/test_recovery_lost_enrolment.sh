#!/bin/sh
# The answer to the rejoin's QuickStart is lost: kma-coord is killed -9 right after it
# redeemed the one-time token and recorded the new serial, before its reply went out (gdb
# stops it on the return of store_token_redeem: the timing a full `make test` hit once by
# chance). It stays down 3 s. The agent, which got no certificate, tries again with the
# same token and the same key, and the restarted coordinator sends it the certificate it
# issued (docs/protocol.md, Enrolment): the node reports with it and the join completes.
# Before, the retry was refused (token already used) while the cluster had enrolled a serial
# the node never got: the join waited for it until the plan paused.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=2
command -v gdb >/dev/null || { echo "skipped: gdb is not installed" >&2; exit 77; }
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

sc_pki
sc_coord_start
sc_cluster a-kma01 a-kma02 u-kma02
bench_quickstart a-kma01 >/dev/null
until_ok 60 sh -c "\"$ctl\" diagnose >\"$demo/d\"; grep -q node_not_rejoined \"$demo/d\""
ok "the incident: a-kma01 never rejoined"

# The plan's only enrolment is a-kma01's QuickStart: the coordinator dies when it returns.
gdb -q -batch -p "$(cat "$demo/coord.pid")" -ex "break store_token_redeem" -ex continue \
	-ex finish -ex "signal SIGKILL" >"$T/gdb.out" 2>&1 &
GDB=$!
n=0
until grep -q "^Breakpoint 1 at" "$T/gdb.out" 2>/dev/null; do
	n=$((n + 1))
	if [ $n -ge 600 ] || ! kill -0 $GDB 2>/dev/null; then
		cat "$T/gdb.out"
		echo "skipped: gdb cannot stop kma-coord at store_token_redeem" >&2
		exit 77
	fi
	sleep 0.1
done

"$ctl" run --yes >"$T/run.out" 2>&1 &
RUN_PID=$!
wait $GDB
# The redemption returned, then SIGKILL: the process is gone. (gdb itself may die of an
# internal error while detaching from the killed process on a loaded machine, before it
# prints "Program terminated": its own output is not the proof.)
wait_gone "$(cat "$demo/coord.pid")" 30 ||
	{ cat "$T/gdb.out"; fail "kma-coord is still running after gdb's SIGKILL"; }
grep -q "^Value returned is .* = STORE_OK" "$T/gdb.out" &&
	grep -q "^Thread .* hit Breakpoint 1, store_token_redeem" "$T/gdb.out" ||
	{ cat "$T/gdb.out"; fail "kma-coord was not killed after the redemption"; }
enrolled=$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT serial FROM enrolments WHERE node_id = ? AND how = ? ORDER BY id DESC", ("a-kma01", "quickstart")).fetchone()[0])' "$demo/coord.db")
ok "kma-coord killed after it enrolled serial $enrolled for a-kma01, before its answer"
sleep 3
sc_coord_start

wait "$RUN_PID" || { cat "$T/run.out"; fail "kmactl run did not end well"; }
expect_grep "The cluster is healthy." "$T/run.out"
ok "the plan finished"

# The node holds the certificate issued before the crash: nothing was issued again.
expect_exit 0 "$AGENT" -c "$demo/a-kma01/agent.conf" identity --json
python3 - "$T/out" "$enrolled" <<'PY' || { cat "$T/out"; fail "a-kma01's identity"; }
import json, sys
v = json.load(open(sys.argv[1]))
assert v["state"] == "enrolled", v["state"]
assert v["certificate"]["serial"] == sys.argv[2], (v["certificate"]["serial"], sys.argv[2])
PY
python3 -c 'import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM enrolments WHERE node_id = ? AND how = ?", ("a-kma01", "quickstart")).fetchone()[0]
sys.exit(0 if n == 2 else 1)' "$demo/coord.db" || fail "a-kma01 enrolled more than once in the plan"
expect_grep "trying again" "$demo/a-kma01/agent.log"
expect_grep "sent again" "$demo/coord.log"
ok "a-kma01 got the certificate enrolled before the crash on its retry, with the same key"

"$ctl" history --json >"$T/j.json" || fail "history"
journal_check "$T/j.json" "{2: 1, 4: 1}" 5
ok "every step ran once, one directive each"
