#!/bin/sh
# Runs inside the image that tests/pkg/test_image.sh boots, as kma-image-test.service (a
# oneshot ordered after kma-agent.service whose SuccessAction= and FailureAction= power the
# container off): what systemd itself does with kma-agent.service and kma-coord.service.
# TAP lines go to /var/lib/kma-image-test/results, which the host reads once the
# container is gone. Plain POSIX sh and coreutils: the image has no procps, no python.
#
#   mode full (the host's architecture): every check below, the sandbox included;
#   mode boot (a foreign architecture under qemu-user, which enforces no seccomp filter):
#     the agent becomes active, pings its watchdog, reloads, and its network side drops to
#     kma-agent.
#
# The image carries drop-ins that shorten WatchdogSec= (4 s for the agent, 3 s for
# kma-coord) so that a watchdog restart fits in a test; everything else is the units as
# packaged.
set -u
res=/var/lib/kma-image-test/results
conf=/etc/kma-image-test
mode=$(cat "$conf/mode")
mkdir -p "${res%/*}"
: >"$res"
pass=0
fail=0

say() { echo "$*" >>"$res"; }
ok() { pass=$((pass + 1)); say "ok - $*"; }
notok() { fail=$((fail + 1)); say "not ok - $*"; }
# check DESC CMD...: ok when CMD succeeds.
check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}
show() { systemctl show -p "$2" --value "$1"; }
# wait_for SECONDS CMD...: polls CMD once a second until it succeeds; false at the deadline.
wait_for() {
	n=$1
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 1
	done
}
is_active() { [ "$(systemctl is-active "$1")" = active ]; }
is_failed() { [ "$(systemctl is-active "$1")" = failed ]; }
# proc_line PID KEY: a field of /proc/PID/status ("Uid", "CapEff", "Seccomp", ...).
proc_line() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null; }
# journal UNIT: its messages since the boot, message text only.
journal() { journalctl -b -u "$1" -o cat --no-pager 2>/dev/null; }
count_in_journal() { journal "$1" | grep -c -- "$2"; }
unit_state() {
	say "    $1: $(systemctl is-active "$1"), Type=$(show "$1" Type)," \
		"WatchdogUSec=$(show "$1" WatchdogUSec), MainPID=$(show "$1" MainPID)," \
		"NRestarts=$(show "$1" NRestarts), Result=$(show "$1" Result)," \
		"ExecMainStatus=$(show "$1" ExecMainStatus)"
}
# procs UNIT: every process of the unit, with its user, capabilities and seccomp mode.
procs() {
	cg=$(show "$1" ControlGroup)
	for p in $(cat "/sys/fs/cgroup$cg/cgroup.procs" 2>/dev/null); do
		say "    pid $p $(cat "/proc/$p/comm" 2>/dev/null): Uid $(proc_line "$p" Uid | tr '\t' ' ')," \
			"CapEff $(proc_line "$p" CapEff), NoNewPrivs $(proc_line "$p" NoNewPrivs)," \
			"Seccomp $(proc_line "$p" Seccomp)"
	done
}
# survives UNIT SECONDS: the same main process still runs SECONDS later, never restarted
# (the watchdog would have killed it had its pings stopped).
survives() {
	pid0=$(show "$1" MainPID)
	r0=$(show "$1" NRestarts)
	sleep "$2"
	is_active "$1" && [ "$(show "$1" MainPID)" = "$pid0" ] && [ "$(show "$1" NRestarts)" = "$r0" ]
}
# restarted UNIT OLDPID RESTARTS: active again, with a new main process, restarted once more.
restarted() {
	is_active "$1" && [ "$(show "$1" MainPID)" != "$2" ] && [ "$(show "$1" MainPID)" != 0 ] &&
		[ "$(show "$1" NRestarts)" -gt "$3" ]
}
# stopped_by_watchdog UNIT SECONDS: SIGSTOP to the main process; systemd's watchdog must
# notice the missing pings and restart the unit.
stopped_by_watchdog() {
	pid=$(show "$1" MainPID)
	r0=$(show "$1" NRestarts)
	t0=$(date +%s)
	kill -STOP "$pid"
	if wait_for "$2" restarted "$1" "$pid" "$r0"; then
		say "    $1: SIGSTOP to pid $pid, restarted as pid $(show "$1" MainPID)" \
			"after $(($(date +%s) - t0)) s"
		journal "$1" | grep -i "watchdog" | tail -n 2 | sed 's/^/    journal: /' >>"$res"
		return 0
	fi
	kill -CONT "$pid" 2>/dev/null
	unit_state "$1"
	return 1
}
# answers: kmactl reaches kma-coord over mutual TLS (a cluster without nodes is not
# healthy: exit 1 is an answer too).
answers() {
	kmactl -c "$conf/kmactl.conf" status >"$conf/kmactl.out" 2>&1
	rc=$?
	sed 's/^/    kmactl: /' "$conf/kmactl.out" | head -n 3 >>"$res"
	{ [ $rc -eq 0 ] || [ $rc -eq 1 ]; } && ! grep -qi "connect\|refused\|tls\|certificate" "$conf/kmactl.out"
}
# fails_once UNIT STATUS: (re)started with a configuration it refuses, the unit ends failed
# with the main process's STATUS and no automatic restart (RestartSec=5: 3 would have come).
fails_once() {
	systemctl reset-failed "$1" 2>/dev/null
	starts0=$(count_in_journal "$1" "Scheduled restart job")
	systemctl restart "$1" 2>/dev/null
	sleep 16
	unit_state "$1"
	is_failed "$1" && [ "$(show "$1" ExecMainStatus)" = "$2" ] &&
		[ "$(show "$1" NRestarts)" = 0 ] &&
		[ "$(count_in_journal "$1" "Scheduled restart job")" = "$starts0" ]
}

say "# kma image test on $(uname -m), mode $mode, $(systemctl --version | head -n 1)"
wait_for 120 is_active kma-agent
unit_state kma-agent

# --- kma-agent: Type=notify, its pings, the privilege split ---------------------------------
check "kma-agent.service active (Type=notify: READY=1 arrived)" \
	eval 'is_active kma-agent && [ "$(show kma-agent Type)" = notify ]'
pid=$(show kma-agent MainPID)
procs kma-agent
# unprivileged PID USER: PID runs as USER (real, effective, saved), no capability left.
unprivileged() {
	p=$1
	u=$(id -u "$2" 2>/dev/null) || return 1
	# shellcheck disable=SC2046
	set -- $(proc_line "$p" Uid)
	[ "$1" = "$u" ] && [ "$2" = "$u" ] && [ "$3" = "$u" ] &&
		[ "$(proc_line "$p" CapEff)" = 0000000000000000 ] &&
		[ "$(proc_line "$p" NoNewPrivs)" = 1 ]
}
check "kma-agent's network side (main process $pid) runs as kma-agent, no capability, no_new_privs" \
	unprivileged "$pid" kma-agent

# --- reload on a minimal root ------------------------------------------------------------
if [ -e /bin/kill ] || [ -e /usr/bin/kill ]; then
	say "    (this root has a kill binary: $(ls /bin/kill /usr/bin/kill 2>/dev/null))"
else
	say "    no /bin/kill on this root (procps is not installed)"
fi
hups=$(count_in_journal kma-agent "SIGHUP: checking")
got_hup() { [ "$(count_in_journal kma-agent "SIGHUP: checking")" -gt "$hups" ]; }
if systemctl reload kma-agent 2>>"$res"; then
	check "systemctl reload kma-agent: the agent got SIGHUP, same process" eval \
		'wait_for 15 got_hup && [ "$(show kma-agent MainPID)" = "$pid" ] && is_active kma-agent'
else
	notok "systemctl reload kma-agent failed"
	journal kma-agent | tail -n 5 | sed 's/^/    journal: /' >>"$res"
fi

# --- the watchdog: pings keep the agent, a stopped agent is restarted ----------------------
say "    watchdog of the packaged unit: $(grep '^WatchdogSec=' /lib/systemd/system/kma-agent.service)," \
	"in this image: WatchdogUSec=$(show kma-agent WatchdogUSec) (drop-in)"
check "kma-agent pings the watchdog: the same process after 3 watchdog intervals" \
	survives kma-agent 12

if [ "$mode" = full ]; then
	check "a stopped kma-agent (SIGSTOP) is restarted by the watchdog" \
		stopped_by_watchdog kma-agent 60

	# --- a configuration error: failed, not restarted ------------------------------------
	cp /etc/kma-agent/agent.conf "$conf/agent.conf.good"
	printf 'no_such_key = 1\n' >>/etc/kma-agent/agent.conf
	check "kma-agent with a configuration error: failed with exit 78, no restart loop" \
		fails_once kma-agent 78
	journal kma-agent | grep "no_such_key" | tail -n 1 | sed 's/^/    journal: /' >>"$res"
	cp "$conf/agent.conf.good" /etc/kma-agent/agent.conf
	systemctl reset-failed kma-agent
	check "kma-agent starts again once the configuration is fixed" \
		eval 'systemctl start kma-agent && is_active kma-agent'

	# --- kma-coord: without its certificates, then with them ------------------------------
	check "kma-coord without certificates (coord.conf as installed): failed with exit 78, no restart loop" \
		fails_once kma-coord 78
	journal kma-coord | grep "required" | tail -n 1 | sed 's/^/    journal: /' >>"$res"
	for f in coord.pem coord.key ca.pem opca.pem; do
		install -m 0640 -o root -g kma-coord "$conf/pki/$f" "/etc/kma-coord/$f"
	done
	cat >/etc/kma-coord/coord.conf <<CONF
[coord]
listen = 127.0.0.1:8443
cert = /etc/kma-coord/coord.pem
key = /etc/kma-coord/coord.key
ca = /etc/kma-coord/ca.pem
operator_ca = /etc/kma-coord/opca.pem
CONF
	systemctl reset-failed kma-coord
	systemctl start kma-coord 2>>"$res"
	unit_state kma-coord
	procs kma-coord
	check "kma-coord.service active with its certificates, Type=notify with a watchdog" eval '
		is_active kma-coord && [ "$(show kma-coord Type)" = notify ] &&
			[ "$(show kma-coord WatchdogUSec)" != 0 ] &&
			[ "$(show kma-coord WatchdogUSec)" != infinity ]'
	check "kma-coord answers an operator on 127.0.0.1:8443 (kmactl status)" answers
	check "kma-coord pings the watchdog from its tick loop: the same process after 3 intervals" \
		survives kma-coord 9
	check "a stopped kma-coord (SIGSTOP) is restarted by the watchdog" \
		stopped_by_watchdog kma-coord 60

	say "# systemd-analyze security (the sandbox, judged here on the native architecture)"
	for u in kma-agent.service kma-coord.service; do
		systemd-analyze security --no-pager "$u" >"$conf/security.$u" 2>&1
		# What is exposed (the ✗ lines, with their weight), then the score.
		say "    $u, exposed:"
		grep "✗" "$conf/security.$u" | sed 's/[[:space:]]*$//; s/^[[:space:]]*/      /' >>"$res"
		grep "Overall exposure" "$conf/security.$u" | sed 's/^[^O]*/# /' >>"$res"
	done
fi

say "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
