#!/bin/sh
# The running agent notices a board replacement by itself and stops cleanly on SIGTERM.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

make_sim n1 SIM-BOARD-0001
C="$T/n1/agent.conf"
LOG="$T/agent.log"
expect_exit 0 "$AGENT" -c "$C" identity import --key "$DATA/a-kma01.key" \
	--cert "$DATA/a-kma01.pem" --ca "$DATA/ca.pem"

"$AGENT" -c "$C" run >"$LOG" 2>&1 &
pid=$!
PIDS="$pid"
wait_for_line "$LOG" "running; hardware check every 1 s"
expect_grep "identity: node a-kma01 state=provisioned generation=1" "$LOG"
ok "agent starts and reports its identity"

# Swap the board while it runs.
echo SIM-BOARD-0002 >"$T/n1/sim/hw/board_serial"
wait_for_line "$LOG" "hardware: board changed from 'SIM-BOARD-0001' to 'SIM-BOARD-0002'"
wait_for_line "$LOG" "identity: state provisioned -> hardware_changed"
wait_for_line "$LOG" "changed=board"
ok "agent reports the board replacement while running"

kill -TERM "$pid"
wait "$pid"
st=$?
PIDS=""
[ "$st" = 0 ] || { cat "$LOG" >&2; fail "agent exit status $st after SIGTERM"; }
expect_grep "SIGTERM: shutting down" "$LOG"
expect_grep "stopped" "$LOG"
ok "SIGTERM stops the agent cleanly with status 0"

# With an hour between checks, only SIGHUP can make the agent look again.
sed 's/^hw_check_interval = 1$/hw_check_interval = 3600/' "$C" >"$T/slow.conf"
"$AGENT" -c "$T/slow.conf" >"$T/slow.log" 2>&1 &
pid=$!
PIDS="$pid"
wait_for_line "$T/slow.log" "running; hardware check every 3600 s"
expect_grep "state=hardware_changed" "$T/slow.log"
echo SIM-BOARD-0001 >"$T/n1/sim/hw/board_serial"
kill -HUP "$pid"
wait_for_line "$T/slow.log" "identity: state hardware_changed -> provisioned"
kill -TERM "$pid"
wait "$pid" || fail "agent did not stop cleanly"
PIDS=""
ok "SIGHUP makes the agent check the hardware at once"

# An agent without an identity keeps running (unprovisioned), it does not crash.
make_sim n2 SIM-BOARD-0100
"$AGENT" -c "$T/n2/agent.conf" >"$T/n2.log" 2>&1 &
pid=$!
PIDS="$pid"
wait_for_line "$T/n2.log" "state=unprovisioned"
kill -TERM "$pid"
wait "$pid" || fail "unprovisioned agent did not stop cleanly"
PIDS=""
ok "an unprovisioned agent runs and stops cleanly"
