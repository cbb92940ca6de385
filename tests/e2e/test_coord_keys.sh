#!/bin/sh
# Private keys stay private (issue 16, item 4): kma-coord refuses a TLS key or cluster CA
# key that others may read, at start and with --check-config, naming the file and its mode
# (0640 passes only for the service's own group, as the packaged unit has it); kma-coord
# and kma-agent make themselves non-dumpable with a core limit of 0, so no core file holds
# a key. Run as an unprivileged user, where the kernel shows it: a non-dumpable process's
# /proc/PID files belong to root.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
P="$T/pki"

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"
chmod 600 "$P/ca.key" "$P/coord.key"
PORT=$(free_port)
C="$T/coord.conf"
pki_coord_conf "$C" "$P" "$PORT" "$T/coord.db"
echo "ca_key = $P/ca.key" >>"$C"

expect_exit 0 "$COORD" -c "$C" --check-config
chmod 644 "$P/coord.key"
expect_exit 78 "$COORD" -c "$C" --check-config
expect_grep "key $P/coord.key: mode 0644 lets others read it" "$T/err"
expect_exit 78 "$COORD" -c "$C"
expect_grep "key $P/coord.key: mode 0644" "$T/err"
chmod 600 "$P/coord.key"
chmod 604 "$P/ca.key"
expect_exit 78 "$COORD" -c "$C" --check-config
expect_grep "ca_key $P/ca.key: mode 0604" "$T/err"
# Group-readable, by a group we do not run as (or of a file we own): refused too.
chmod 640 "$P/ca.key"
expect_exit 78 "$COORD" -c "$C" --check-config
expect_grep "ca_key $P/ca.key: mode 0640" "$T/err"
if grep -q "PRIVATE KEY" "$T/out" "$T/err"; then fail "key material in the output"; fi
ok "a key that others may read is refused (exit 78), by --check-config and at start"

command -v setpriv >/dev/null || { echo "setpriv missing: the rest needs it" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "not root: cannot run as another user; rest skipped"; exit 0; }
NOBODY=$(id -u nobody) || exit 77
NOGROUP=$(id -g nobody) || exit 77
# Words of a command prefix: split on purpose where it is used.
SETPRIV="setpriv --reuid=$NOBODY --regid=$NOGROUP --clear-groups"

# The packaged layout: root owns the keys, the service's group reads them (0640).
chmod 755 "$T" "$P"
chgrp "$NOGROUP" "$P/ca.key" "$P/coord.key"
chmod 640 "$P/ca.key" "$P/coord.key"
mkdir -m 700 "$T/db" && chown "$NOBODY:$NOGROUP" "$T/db"
sed -i "s|^db = .*|db = $T/db/coord.db|" "$C"
$SETPRIV "$COORD" -c "$C" --check-config >"$T/out" 2>"$T/err" ||
	{ cat "$T/err"; fail "0640 for the service's group refused"; }
ok "0640 keys of root's, read through the service's own group: accepted"

# not_dumpable PID WHAT: the process runs as nobody, but its /proc files are root's, and its
# core limit is 0.
not_dumpable() {
	owner=$(stat -c %u "/proc/$1/environ") || fail "$2: no /proc/$1"
	[ "$owner" = 0 ] || fail "$2 is dumpable: /proc/$1/environ belongs to uid $owner"
	awk '/^Max core file size/ { if ($5 != 0 || $6 != 0) exit 1 }' "/proc/$1/limits" ||
		{ grep core "/proc/$1/limits"; fail "$2: core file size not 0"; }
}
# shellcheck disable=SC2086
start_bg "$T/coord.log" $SETPRIV "$COORD" -c "$C"
COORD_PID=$BG_PID
wait_for_line "$T/coord.log" "serving on 127.0.0.1:$PORT"
not_dumpable "$COORD_PID" kma-coord
ok "kma-coord is not dumpable and its core limit is 0"

# kma-agent, as a probe listener holding its key (any command does the same first thing).
chgrp "$NOGROUP" "$P/a-kma01.key" && chmod 640 "$P/a-kma01.key"
LPORT=$(free_port)
# shellcheck disable=SC2086
start_bg "$T/agent.log" $SETPRIV "$AGENT" probe --accept "127.0.0.1:$LPORT" --once \
	--ca "$P/ca.pem" --cert "$P/a-kma01.pem" --key "$P/a-kma01.key"
AGENT_PID=$BG_PID
wait_listen "$LPORT" 20
not_dumpable "$AGENT_PID" kma-agent
ok "kma-agent is not dumpable and its core limit is 0"
kill "$AGENT_PID" "$COORD_PID"
wait "$AGENT_PID" "$COORD_PID" 2>/dev/null
PIDS=""
