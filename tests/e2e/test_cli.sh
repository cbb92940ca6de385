#!/bin/sh
# kma-agent's command line: version, help, configuration checks and exit statuses.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

expect_exit 0 "$AGENT" --version
expect_grep "kma-agent 0." "$T/out"
expect_exit 0 "$AGENT" --help
expect_grep "identity import" "$T/out"
expect_exit 64 "$AGENT" --no-such-option
expect_exit 64 "$AGENT" frobnicate
expect_grep "unknown command 'frobnicate'" "$T/err"
ok "version, help and usage errors"

make_sim n1 SIM-BOARD-0001
expect_exit 0 "$AGENT" -c "$T/n1/agent.conf" --check-config
expect_grep "ok (board sim, HAL backend sim" "$T/out"
# Read-only images link /etc into a data partition: a symlinked file must work.
ln -s "$T/n1/agent.conf" "$T/linked.conf"
expect_exit 0 "$AGENT" -c "$T/linked.conf" --check-config
ok "--check-config accepts a good configuration, also through a symlink"

# A typo is an error with file and line, never ignored.
sed 's/^hw_check_interval/hw_check_intervall/' "$T/n1/agent.conf" >"$T/typo.conf"
expect_exit 78 "$AGENT" -c "$T/typo.conf" --check-config
expect_grep "typo.conf:3: unknown key 'hw_check_intervall' in [agent]" "$T/err"
printf '[agent]\nlog_level = loud\n' >"$T/level.conf"
expect_exit 78 "$AGENT" -c "$T/level.conf" --check-config
expect_grep "level.conf:2: log_level" "$T/err"
expect_exit 78 "$AGENT" -c "$T/missing.conf" --check-config
expect_grep "missing.conf: cannot open" "$T/err"
ok "configuration errors exit 78 with file and line"

# A board that does not exist, and a board definition with an error in it.
sed 's/^name = sim/name = no-such-board/' "$T/n1/agent.conf" >"$T/noboard.conf"
expect_exit 78 "$AGENT" -c "$T/noboard.conf" --check-config
expect_grep "board no-such-board" "$T/err"
mkdir -p "$T/boards/broken"
printf '[board]\nname = broken\nbackend = quantum\n' >"$T/boards/broken/board.conf"
sed -e 's/^name = sim/name = broken/' -e "s#^dir = .*#dir = $T/boards#" "$T/n1/agent.conf" \
	>"$T/broken.conf"
expect_exit 78 "$AGENT" -c "$T/broken.conf" --check-config
expect_grep "board.conf:3:" "$T/err"
ok "board errors exit 78 with file and line"

expect_exit 0 "$AGENT" causes --json
expect_json "$T/out" "len(j)" 23
expect_json "$T/out" "[c['cause'] for c in j].index('peer_serial_mismatch') >= 0" True
expect_exit 0 "$AGENT" causes
expect_grep "rejected_by_peer" "$T/out"
ok "cause vocabulary printed from the one table"
