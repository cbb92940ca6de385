# Shared helpers for end-to-end tests: real programs, temporary sim boards, no sleeps
# as assertions (waits are bounded polls for an event).
# Needs KMA_BUILD_DIR and KMA_SOURCE_DIR (ctest sets them).

set -u
: "${KMA_BUILD_DIR:?run through ctest (KMA_BUILD_DIR unset)}"
: "${KMA_SOURCE_DIR:?run through ctest (KMA_SOURCE_DIR unset)}"

AGENT="$KMA_BUILD_DIR/agent/kma-agent"
# What the agent under test speaks: TLS 1.3 too when built on Mbed TLS 3.x (docs/
# dependencies.md). TLS13=1|0; OURS: its versions as probes print them; PROTO: the version
# it settles on with a peer that speaks every version (an OpenSSL s_server or s_client).
case "$("$AGENT" --version 2>/dev/null)" in
*"(Mbed TLS 3."*) TLS13=1 OURS="TLS 1.2, TLS 1.3" PROTO=1.3 ;;
*) TLS13=0 OURS="TLS 1.2" PROTO=1.2 ;;
esac
export TLS13 # for the Python checks
# shellcheck disable=SC2034 # used by the tests that source this file
OURS_JSON="['$(echo "$OURS" | sed "s/, /', '/g")']"
DATA="$KMA_SOURCE_DIR/tests/data"
T=$(mktemp -d "${TMPDIR:-/tmp}/kma-e2e.XXXXXX")
PIDS=""

# coord_has_etcd_store: this build's kma-coord has the etcd store (its SQLite has the
# preupdate hook; not an image's, SQLITE=image).
coord_has_etcd_store() {
	"$KMA_BUILD_DIR/coordinator/kma-coord" --version | grep -q "stores: .*etcd"
}

# alive PID: the process exists and is not a zombie waiting for its parent.
alive() {
	case $(cut -d')' -f2- "/proc/$1/stat" 2>/dev/null) in
	'' | ' Z'* | ' X'*) return 1 ;;
	esac
	return 0
}

# wait_gone PID [SECONDS]: bounded wait (default 30 s) until PID has ended (or is a zombie);
# non-zero when it still runs then.
wait_gone() {
	_n=0
	while alive "$1"; do
		_n=$((_n + 1))
		[ $_n -lt $((${2:-30} * 10)) ] || return 1
		sleep 0.1
	done
}

# stop_pids PID...: SIGTERM to each, a bounded wait for them to end (a daemon finishes
# what it is doing first), then SIGKILL to what is left. Nothing a test started outlives
# it: the suite's last test (tests/tools/leftovers.py) fails the run if anything does.
stop_pids() {
	[ $# -gt 0 ] || return 0
	for _p in "$@"; do kill "$_p" 2>/dev/null; done
	_n=0
	for _p in "$@"; do
		while alive "$_p"; do
			_n=$((_n + 1))
			[ $_n -lt 300 ] || { kill -KILL "$_p" 2>/dev/null; break; }
			sleep 0.1
		done
	done
	return 0
}

# KMA_E2E_KEEP=1 keeps the test's directory (logs, databases) for a post-mortem.
# Every background job of the test's shell is stopped too, registered or not.
cleanup() {
	# dash lists no jobs inside $(...): through a file
	jobs -p >"$T/.jobs" 2>/dev/null
	# shellcheck disable=SC2046 # one word per pid
	stop_pids $PIDS $(cat "$T/.jobs" 2>/dev/null)
	if [ -n "${KMA_E2E_KEEP:-}" ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	echo "ok - $*"
}

# expect_exit STATUS CMD...: runs CMD, output in $T/out and $T/err, checks the status.
expect_exit() {
	want=$1
	shift
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "--- stdout" >&2; cat "$T/out" >&2
		echo "--- stderr" >&2; cat "$T/err" >&2
		fail "exit $got, want $want: $*"
	fi
}

# expect_grep PATTERN FILE: FILE contains PATTERN (fixed string).
expect_grep() {
	grep -qF -- "$1" "$2" || { cat "$2" >&2; fail "'$1' not in $2"; }
}

# journal_check FILE DIRECTIVES STEPS: FILE, kmactl history --json of one plan that
# finished, has DIRECTIVES directives per step (a Python dict: "{1: 1, 3: 1}"), each of
# the steps 1 to STEPS done once, never two directives out at once, and the plan done.
journal_check() {
	python3 - "$@" <<'PY' || { cat "$1"; fail "the journal"; }
import ast, json, sys, collections
e = json.load(open(sys.argv[1]))["entries"]
want, steps = ast.literal_eval(sys.argv[2]), int(sys.argv[3])
d = collections.Counter(x["step"] for x in e if x["event"] == "directive")
done = collections.Counter(x["step"] for x in e if x["event"] == "done" and x["step"])
assert d == want, ("one directive per disruptive step", d)
assert done == {s: 1 for s in range(1, steps + 1)}, ("each step done once", done)
out = None
for x in e:
    if x["event"] == "directive":
        assert out is None, ("two directives out at once", x)
        out = x["step"]
    if x["event"] == "done" and x["step"] == out:
        out = None
assert [x for x in e if x["event"] == "done" and x["step"] == 0], "plan done"
PY
}

# journal_wait CTL N EVENT PID OUT: bounded wait (240 s) until the plan's journal (CTL
# history) holds N entries of EVENT, while PID (a kmactl run writing OUT) still runs.
journal_wait() {
	_n=0
	until "$1" history --json >"$T/j.json" 2>/dev/null &&
		[ "$(json_get "$T/j.json" "sum(1 for e in j['entries'] if e['event'] == '$3')")" -ge "$2" ]; do
		_n=$((_n + 1))
		[ $_n -lt 2400 ] || { cat "$5" "$T/j.json"; fail "no journal entry #$2 '$3'"; }
		kill -0 "$4" 2>/dev/null || { cat "$5"; fail "kmactl run ended early"; }
		sleep 0.1
	done
}

# json_get FILE EXPR: evaluates a Python expression over the JSON document j.
json_get() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# expect_json FILE EXPR WANT
expect_json() {
	got=$(json_get "$1" "$2") || fail "bad JSON in $1"
	[ "$got" = "$3" ] || { cat "$1" >&2; fail "$2 = '$got', want '$3'"; }
}

# wait_for_line FILE PATTERN [SECONDS]: bounded wait for an event in a log (default 90 s:
# generous, since only a failure waits that long, and a loaded machine is slow).
wait_for_line() {
	n=0
	limit=$(( ${3:-90} * 10 ))
	while ! grep -qF -- "$2" "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -ge $limit ] && { cat "$1" >&2; fail "timed out waiting for '$2' in $1"; }
		sleep 0.1
	done
}

# make_sim NAME BOARD_SERIAL: a simulated appliance under $T/NAME with its config.
make_sim() {
	d="$T/$1"
	mkdir -p "$d/sim/hw"
	echo "$2" >"$d/sim/hw/board_serial"
	echo "4c4c4544-0042-3510-8052-b4c04f564d32" >"$d/sim/hw/product_uuid"
	echo "WD-WCC4N1234567" >"$d/sim/hw/disk_serial"
	echo "Intel(R) Xeon(R) CPU E5-2620 v4" >"$d/sim/hw/cpu_id"
	echo "00:10:e0:8c:2a:11" >"$d/sim/hw/mac"
	cat >"$d/agent.conf" <<CONF
[agent]
state_dir = $d/state
hw_check_interval = 1

[board]
name = sim
dir = $KMA_SOURCE_DIR/board
root = $d/sim
CONF
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now (bound, then released).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_bg LOG CMD...: runs CMD in the background (stdin /dev/null, output to LOG), killed on
# exit; its pid in $BG_PID.
start_bg() {
	_log=$1
	shift
	"$@" </dev/null >"$_log" 2>&1 &
	BG_PID=$!
	PIDS="$PIDS $BG_PID"
}

# wait_listen PORT [SECONDS]: bounded wait until something listens on TCP PORT, without
# connecting to it (a one-shot listener keeps its single connection for the test).
wait_listen() {
	python3 - "$1" "${2:-90}" <<'PY' || fail "nothing listens on port $1"
import sys, time
port, limit = int(sys.argv[1]), time.time() + float(sys.argv[2])
def listening():
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for l in lines:
            c = l.split()
            if c[3] == "0A" and int(c[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False
while not listening():
    if time.time() > limit:
        sys.exit(1)
    time.sleep(0.05)
PY
}

# expect_jsons FILE EXPR WANT [EXPR WANT]...: expect_json for several pairs in one python3 run.
expect_jsons() {
	python3 -S - "$@" <<'PY' || fail "JSON check on $1"
import json, sys
f, a = sys.argv[1], sys.argv[2:]
try:
    j = json.load(open(f))
except Exception as e:
    sys.stderr.write(open(f).read() + "\nbad JSON in %s: %s\n" % (f, e))
    sys.exit(1)
for e, want in zip(a[0::2], a[1::2]):
    try:
        got = str(eval(e))
    except Exception as x:
        got = "error: %r" % x
    if got != want:
        sys.stderr.write(open(f).read() + "\n%s = '%s', want '%s'\n" % (e, got, want))
        sys.exit(1)
PY
}
