#!/bin/sh
# The install layout (cmake --install with DESTDIR): programs, default configuration that
# passes --check-config, boards where the agent looks for them, systemd units that
# systemd-analyze accepts, man pages that render, state directories 0700. Then the
# installed agent and kma-coord under a stand-in for systemd: READY=1, WATCHDOG=1 from
# their loops, STOPPING=1 on SIGTERM, one datagram each on $NOTIFY_SOCKET.
# (make image-test runs both units under a real systemd.)
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

D="$T/root"
DESTDIR="$D" cmake --install "$KMA_BUILD_DIR" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log" >&2; fail "cmake --install failed"; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$KMA_BUILD_DIR/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
board=$(cache KMA_BOARD)
# GNUInstallDirs: /etc and /var for the /usr prefix, PREFIX/etc and PREFIX/var otherwise.
case "$prefix" in
/usr) etc=/etc var=/var ;;
*) etc="$prefix/etc" var="$prefix/var" ;;
esac
units=$(cache KMA_SYSTEMD_UNIT_DIR)

for f in "$prefix/bin/kma-agent" "$prefix/bin/kma-coord" "$prefix/bin/kmactl" \
	"$etc/kma-agent/agent.conf" "$etc/kma-coord/coord.conf" "$etc/kma-agent/kmactl.conf" \
	"$prefix/share/kma-agent/boards/$board/board.conf" \
	"$prefix/share/kma-agent/boards/generic-aarch64/board.conf" \
	"$units/kma-agent.service" "$units/kma-coord.service" \
	"$prefix/share/man/man8/kma-agent.8" "$prefix/share/man/man8/kma-coord.8" \
	"$prefix/share/man/man1/kmactl.1"; do
	[ -f "$D$f" ] || fail "not installed: $f"
done
for dir in "$var/lib/kma-agent" "$var/lib/kma-coord"; do
	[ "$(stat -c %a "$D$dir")" = 700 ] || fail "$dir: mode $(stat -c %a "$D$dir"), want 700"
done
ok "programs, configuration, boards, units, man pages and state directories installed"

# The programs look for what was installed: the paths compiled in are the installed ones.
"$D$prefix/bin/kma-agent" --help >"$T/help"
expect_grep "$etc/kma-agent/agent.conf" "$T/help"
# Built-in defaults only: the board is looked for where it was installed (found there when
# this host has it installed for real).
printf '[agent]\n' >"$T/empty.conf"
if ! "$D$prefix/bin/kma-agent" -c "$T/empty.conf" --check-config >"$T/out" 2>"$T/err"; then
	expect_grep "$prefix/share/kma-agent/boards/$board/board.conf" "$T/err"
fi
"$D$prefix/bin/kma-coord" --help >"$T/help"
expect_grep "$etc/kma-coord/coord.conf" "$T/help"
expect_grep "#db = $var/lib/kma-coord/coord.db" "$D$etc/kma-coord/coord.conf"
expect_grep "#state_dir = $var/lib/kma-agent" "$D$etc/kma-agent/agent.conf"
expect_grep "ExecStart=$prefix/bin/kma-agent -c $etc/kma-agent/agent.conf run" \
	"$D$units/kma-agent.service"
ok "compiled-in defaults, configuration comments and units agree on the paths"

# What systemd does with the units (make image-test shows it under a real one):
# - both are Type=notify with a watchdog, and leave no core;
# - the configuration is checked by the main process, not by ExecStartPre=, whose exit 78
#   RestartPreventExitStatus= does not see (a bad configuration would restart for ever);
# - reload needs neither procps nor CAP_KILL in the unit's bounding set.
for u in kma-agent kma-coord; do
	f="$D$units/$u.service"
	for line in Type=notify NotifyAccess=main LimitCORE=0 Restart=on-failure; do
		grep -qx "$line" "$f" || fail "$u.service: no $line"
	done
	grep -q '^WatchdogSec=[1-9]' "$f" || fail "$u.service: no WatchdogSec="
	grep -q '^RestartPreventExitStatus=.*\<78\>' "$f" ||
		fail "$u.service: exit 78 (configuration) is restarted"
	grep -q '^ExecStartPre=' "$f" && fail "$u.service: ExecStartPre= (its exit 78 restarts)"
	grep -q '^Exec.*/bin/kill' "$f" && fail "$u.service: /bin/kill is procps, not on every image"
done
expect_grep "ExecReload=+/bin/sh -c 'kill -HUP \${MAINPID}'" "$D$units/kma-agent.service"
ok "units: Type=notify with a watchdog, no core, exit 78 not restarted, reload without procps"

# The default agent.conf, as installed, passes --check-config (the board folder is looked
# up under DESTDIR here, as it would be at its place on the target).
sed "s|^#dir = .*|dir = $D$prefix/share/kma-agent/boards|" "$D$etc/kma-agent/agent.conf" \
	>"$T/agent.conf"
expect_exit 0 "$D$prefix/bin/kma-agent" -c "$T/agent.conf" --check-config
expect_grep "board $board" "$T/out"
# coord.conf needs the operator's certificates: it says so, with the file and exit 78.
expect_exit 78 "$D$prefix/bin/kma-coord" -c "$D$etc/kma-coord/coord.conf" --check-config
expect_grep "cert is required" "$T/err"
expect_exit 78 "$D$prefix/bin/kmactl" -c "$D$etc/kma-agent/kmactl.conf" status
expect_grep "no coordinator URL" "$T/err"
ok "agent.conf passes --check-config; coord.conf and kmactl.conf ask for what is missing"

# No drift: every key a program's header documents is in its installed file (commented out
# with its default, or set where the build chose a value) and in docs/configuration.md.
keys_of() { sed -n 's/^ \*   \([a-z_]*\) = .*/\1/p' "$KMA_SOURCE_DIR/$1"; }
for pair in "agent/config.h:$etc/kma-agent/agent.conf" \
	"coordinator/core/coord_config.h:$etc/kma-coord/coord.conf" \
	"kmactl/ctl_config.h:$etc/kma-agent/kmactl.conf"; do
	hdr=${pair%%:*} conf=${pair#*:}
	[ -n "$(keys_of "$hdr")" ] || fail "no keys found in the comment of $hdr"
	for k in $(keys_of "$hdr"); do
		grep -Eq "^#?$k =( |\$)" "$D$conf" ||
			fail "$hdr documents '$k' but $conf (packaging/etc/) does not show it"
		grep -qF "\`$k\`" "$KMA_SOURCE_DIR/docs/configuration.md" ||
			fail "$hdr documents '$k' but docs/configuration.md does not"
	done
done
ok "every configuration key is in the installed files and in docs/configuration.md"

if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T/units"
	for u in kma-agent kma-coord; do
		sed "s|$prefix/bin/|$D$prefix/bin/|g" "$D$units/$u.service" >"$T/units/$u.service"
	done
	systemd-analyze verify --man=no "$T/units/kma-agent.service" \
		"$T/units/kma-coord.service" >"$T/verify" 2>&1 ||
		{ cat "$T/verify" >&2; fail "systemd-analyze verify"; }
	[ ! -s "$T/verify" ] || { cat "$T/verify" >&2; fail "systemd-analyze verify warns"; }
	ok "systemd-analyze verify accepts both units"

	# A board that needs root (generic-x86_64): the unit starts the agent as root with the
	# capabilities to drop its network side to kma-agent, which agent.conf names.
	cmake -S "$KMA_SOURCE_DIR" -B "$T/priv" -DKMA_BOARD=generic-x86_64 -DKMA_BUILD_TESTS=OFF \
		-DKMA_BUILD_COORD=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >"$T/priv.log" 2>&1 ||
		{ cat "$T/priv.log" >&2; fail "configuring for generic-x86_64"; }
	grep -qx "user = kma-agent" "$T/priv/packaging/agent.conf" ||
		fail "the generic-x86_64 agent.conf does not set user = kma-agent"
	grep -q "^User=" "$T/priv/packaging/kma-agent.service" &&
		fail "the generic-x86_64 unit sets User=: the agent could not read its serials"
	expect_grep "CapabilityBoundingSet=CAP_SYS_BOOT CAP_SETUID CAP_SETGID CAP_CHOWN" \
		"$T/priv/packaging/kma-agent.service"
	sed "s|$prefix/bin/|$D$prefix/bin/|g" "$T/priv/packaging/kma-agent.service" \
		>"$T/units/kma-agent.service"
	systemd-analyze verify --man=no "$T/units/kma-agent.service" >"$T/verify" 2>&1 ||
		{ cat "$T/verify" >&2; fail "systemd-analyze verify (generic-x86_64)"; }
	ok "generic-x86_64: root unit with CAP_SETUID/SETGID/CHOWN, agent.conf drops to kma-agent"
else
	ok "# SKIP systemd-analyze not installed"
fi
if command -v man >/dev/null 2>&1; then
	for m in man8/kma-agent.8 man8/kma-coord.8 man1/kmactl.1; do
		MANWIDTH=80 man --warnings -l "$D$prefix/share/man/$m" >"$T/man" 2>"$T/manerr" ||
			fail "man $m"
		[ ! -s "$T/manerr" ] || { cat "$T/manerr" >&2; fail "man $m warns"; }
		[ -s "$T/man" ] || fail "man $m is empty"
	done
	ok "man pages render without warnings"
fi

# The installed agent as systemd runs it (Type=notify, WatchdogSec=): a python3 stand-in
# binds the notify socket (an abstract name, as systemd may use) and records what arrives.
make_sim n1 SIM-BOARD-0001
# start_listener: records what arrives on $sock in $T/notify.log, one line per datagram.
start_listener() {
	python3 - "$sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "a") as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", "|") + "\n")
        out.flush()
        if "STOPPING=1" in msg:
            break
PY
	PIDS="$PIDS $!"
	n=0
	while [ ! -e "$T/notify.log.ready" ]; do
		n=$((n + 1)); [ $n -lt 400 ] || fail "notify listener did not start"; sleep 0.1
	done
}
sock="@kma-test-notify-$$"
start_listener
NOTIFY_SOCKET="$sock" WATCHDOG_USEC=400000 "$D$prefix/bin/kma-agent" -c "$T/n1/agent.conf" \
	run >"$T/agent.log" 2>&1 &
agent=$!
PIDS="$PIDS $agent"
wait_for_line "$T/notify.log" "READY=1|STATUS=running"
wait_for_line "$T/notify.log" "WATCHDOG=1"
n=0
while [ "$(grep -c '^WATCHDOG=1$' "$T/notify.log")" -lt 3 ]; do
	n=$((n + 1)); [ $n -lt 400 ] || { cat "$T/notify.log"; fail "fewer than 3 pings"; }
	sleep 0.1
done
kill -TERM "$agent"
wait "$agent" || { cat "$T/agent.log" >&2; fail "agent exit status $? after SIGTERM"; }
wait_for_line "$T/notify.log" "STOPPING=1"
[ "$(head -n 1 "$T/notify.log")" = "READY=1|STATUS=running" ] ||
	{ cat "$T/notify.log" >&2; fail "READY=1 was not the first notification"; }
expect_grep "systemd watchdog: a ping every 200 ms" "$T/agent.log"
ok "installed agent: READY=1, WATCHDOG=1 every half of WATCHDOG_USEC, STOPPING=1"

# kma-coord the same way: READY=1 once it serves, WATCHDOG=1 from its tick loop (paced to
# half of WATCHDOG_USEC, its rounds are 250 ms apart), STOPPING=1 on SIGTERM.
pki_make "$T/pki" || fail "test PKI"
pki_coord "$T/pki" || fail "coordinator certificates"
pki_coord_conf "$T/coord.conf" "$T/pki" "$(free_port)" "$T/coord.db"
sock="@kma-test-notify-coord-$$"
rm -f "$T/notify.log" "$T/notify.log.ready"
start_listener
NOTIFY_SOCKET="$sock" WATCHDOG_USEC=1000000 "$D$prefix/bin/kma-coord" -c "$T/coord.conf" \
	>"$T/coord.log" 2>&1 &
coord=$!
PIDS="$PIDS $coord"
wait_for_line "$T/notify.log" "READY=1|STATUS=serving"
n=0
while [ "$(grep -c '^WATCHDOG=1$' "$T/notify.log")" -lt 3 ]; do
	n=$((n + 1)); [ $n -lt 400 ] || { cat "$T/notify.log"; fail "fewer than 3 pings"; }
	sleep 0.1
done
kill -TERM "$coord"
wait "$coord" || { cat "$T/coord.log" >&2; fail "kma-coord exit status $? after SIGTERM"; }
wait_for_line "$T/notify.log" "STOPPING=1"
[ "$(head -n 1 "$T/notify.log")" = "READY=1|STATUS=serving" ] ||
	{ cat "$T/notify.log" >&2; fail "READY=1 was not kma-coord's first notification"; }
# Paced: 3 pings took at least one second (2 intervals of 500 ms), not 3 rounds of 250 ms.
[ "$(grep -c '^WATCHDOG=1$' "$T/notify.log")" -le 4 ] ||
	{ cat "$T/notify.log" >&2; fail "kma-coord pings more often than half of WATCHDOG_USEC"; }
ok "installed kma-coord: READY=1 once serving, WATCHDOG=1 from its tick loop, STOPPING=1"
