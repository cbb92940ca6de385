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

# Every command the global help lists has its own help (usage, options or text, an
# example), exit 0, asked either way, without a configuration.
"$AGENT" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z -]*[a-z]\)  .*/\1/p' |
	grep -v '^help' >"$T/cmds"
[ "$(wc -l <"$T/cmds")" -ge 8 ] || fail "kma-agent --help lists $(wc -l <"$T/cmds") commands"
while read -r cmd; do
	# shellcheck disable=SC2086 # the command's words are separate arguments
	expect_exit 0 "$AGENT" -c "$T/missing.conf" $cmd --help
	expect_grep "usage: kma-agent [-c FILE] $cmd" "$T/out"
	expect_grep "kma-agent" "$(sed -n '/^Example/,$p' "$T/out" >"$T/ex"; echo "$T/ex")"
	cp "$T/out" "$T/help.cmd"
	# shellcheck disable=SC2086
	expect_exit 0 "$AGENT" help $cmd
	cmp -s "$T/out" "$T/help.cmd" || fail "kma-agent help $cmd differs from $cmd --help"
done <"$T/cmds"
expect_exit 64 "$AGENT" mehs
expect_grep "did you mean 'mesh'?" "$T/err"
expect_exit 64 "$AGENT" help reboot
expect_grep "unknown command 'reboot' (try kma-agent help)" "$T/err"
ok "each of $(wc -l <"$T/cmds") commands has --help with usage and an example, exit 0"

make_sim n1 SIM-BOARD-0001
expect_exit 0 "$AGENT" -c "$T/n1/agent.conf" --check-config
expect_grep "ok (board sim, HAL backend sim" "$T/out"
# Read-only images link /etc into a data partition: a symlinked file must work.
ln -s "$T/n1/agent.conf" "$T/linked.conf"
expect_exit 0 "$AGENT" -c "$T/linked.conf" --check-config
ok "--check-config accepts a good configuration, also through a symlink"

# An identity record that is there but unusable: the daemon would run without an identity.
mkdir -p "$T/n1/state"
printf 'garbage' >"$T/n1/state/identity.rec"
chmod 600 "$T/n1/state/identity.rec"
expect_exit 65 "$AGENT" -c "$T/n1/agent.conf" --check-config
expect_grep "identity record unusable" "$T/err"
expect_grep "kma-agent factory-reset, then QuickStart" "$T/err"
rm "$T/n1/state/identity.rec"
expect_exit 0 "$AGENT" -c "$T/n1/agent.conf" --check-config
ok "--check-config refuses a corrupt identity record (65) with the remedy; none is fine"

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

# Issue 16 item 10: what the agent cannot do is refused (78), by --check-config and by the
# daemon alike, rather than bound elsewhere or run without a listener or reports.
cp "$T/n1/agent.conf" "$T/port.conf"
printf '[mesh]\nlisten = 127.0.0.1:99999\n' >>"$T/port.conf"
expect_exit 78 "$AGENT" -c "$T/port.conf" --check-config
expect_grep "port.conf:10: listen: port '99999' is not from 1 to 65535" "$T/err"
expect_exit 78 timeout 30 "$AGENT" -c "$T/port.conf" run
expect_grep "port '99999'" "$T/err"
cp "$T/n1/agent.conf" "$T/url.conf"
printf '[coordinator]\nurl = https://localhost:70000/\n' >>"$T/url.conf"
expect_exit 78 "$AGENT" -c "$T/url.conf" --check-config
expect_grep "url.conf:10: url: port '70000' is not from 1 to 65535" "$T/err"
printf '[peer u-kma02]\naddress = 127.0.0.1:1\nserial = 01\n\n[peer u-kma02]\naddress = 127.0.0.1:2\n' \
	>"$T/dup-peers.conf"
cp "$T/n1/agent.conf" "$T/dup.conf"
printf '[mesh]\nlisten = 127.0.0.1:%s\npeers = %s\n' "$(free_port)" "$T/dup-peers.conf" >>"$T/dup.conf"
expect_exit 78 "$AGENT" -c "$T/dup.conf" --check-config
expect_grep "dup-peers.conf:6: peer u-kma02 listed twice: [peer u-kma02] on line 1 and again on line 5" "$T/err"
expect_exit 78 timeout 30 "$AGENT" -c "$T/dup.conf" run
expect_grep "listed twice" "$T/err"
printf '[peer u-kma02]\naddress = 127.0.0.1\n' >"$T/dup-peers.conf"
expect_exit 78 "$AGENT" -c "$T/dup.conf" --check-config
expect_grep "dup-peers.conf:2: address: '127.0.0.1' has no :PORT" "$T/err"
cp "$T/n1/agent.conf" "$T/ca.conf"
printf '[coordinator]\nurl = https://localhost:%s/\nca = %s\n' "$(free_port)" "$T/no-ca.pem" >>"$T/ca.conf"
expect_exit 78 "$AGENT" -c "$T/ca.conf" --check-config
expect_grep "[coordinator] ca $T/no-ca.pem: No such file or directory" "$T/err"
expect_exit 78 timeout 30 "$AGENT" -c "$T/ca.conf" run
mkfifo "$T/no-ca.pem"
expect_exit 78 timeout 30 "$AGENT" -c "$T/ca.conf" --check-config
expect_grep "not a regular file" "$T/err"
sed "s#^root = .*#root = $T/no-such-sim#" "$T/n1/agent.conf" >"$T/root.conf"
expect_exit 78 "$AGENT" -c "$T/root.conf" --check-config
expect_grep "[board] root $T/no-such-sim: not a directory" "$T/err"
# The identity may be missing (before QuickStart): that is no configuration error.
cp "$T/n1/agent.conf" "$T/fresh.conf"
printf '[mesh]\nlisten = 127.0.0.1:%s\n[coordinator]\nurl = https://localhost:%s/\nca = %s\n' \
	"$(free_port)" "$(free_port)" "$DATA/ca.pem" >>"$T/fresh.conf"
expect_exit 0 "$AGENT" -c "$T/fresh.conf" --check-config
ok "a bad port, a duplicate or broken peer table, a missing coordinator CA: exit 78 for --check-config and run"

expect_exit 0 "$AGENT" causes --json
expect_json "$T/out" "len(j)" 24
expect_json "$T/out" "[c['cause'] for c in j].index('peer_serial_mismatch') >= 0" True
expect_exit 0 "$AGENT" causes
expect_grep "rejected_by_peer" "$T/out"
ok "cause vocabulary printed from the one table"
