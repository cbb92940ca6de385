# Shared helpers for end-to-end tests: real programs, temporary sim boards, no sleeps
# as assertions (waits are bounded polls for an event).
# Needs KMA_BUILD_DIR and KMA_SOURCE_DIR (ctest sets them).

set -u
: "${KMA_BUILD_DIR:?run through ctest (KMA_BUILD_DIR unset)}"
: "${KMA_SOURCE_DIR:?run through ctest (KMA_SOURCE_DIR unset)}"

AGENT="$KMA_BUILD_DIR/agent/kma-agent"
DATA="$KMA_SOURCE_DIR/tests/data"
T=$(mktemp -d "${TMPDIR:-/tmp}/kma-e2e.XXXXXX")
PIDS=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	rm -rf "$T"
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

# json_get FILE EXPR: evaluates a Python expression over the JSON document j.
json_get() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# expect_json FILE EXPR WANT
expect_json() {
	got=$(json_get "$1" "$2") || fail "bad JSON in $1"
	[ "$got" = "$3" ] || { cat "$1" >&2; fail "$2 = '$got', want '$3'"; }
}

# wait_for_line FILE PATTERN [SECONDS]: bounded wait for an event in a log.
wait_for_line() {
	n=0
	limit=$(( ${3:-30} * 10 ))
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
