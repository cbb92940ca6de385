#!/bin/sh
# `make fuzz`: builds the libFuzzer targets of tests/fuzz (clang, ASan+UBSan) and runs each
# for a bounded time, starting from its committed corpus.
#
# Usage: scripts/fuzz.sh [TARGET...]          (default: every target; names as in
#                                              tests/fuzz/fuzz_<name>.c, e.g. proto idstore)
# Environment:
#   FUZZ_SECONDS  time per target (libFuzzer -max_total_time), default 60
#   FUZZ_JOBS     targets run at once, default 1
#   FUZZ_BUILD    build tree, default build-fuzz
#   FUZZ_ARGS     more libFuzzer arguments (e.g. -dict=..., -max_len=8192)
#   JOBS          parallel compile jobs, default nproc; CMAKE_FLAGS more configure arguments
#
# The committed corpus (tests/fuzz/corpus/<name>) is only read: inputs libFuzzer finds go
# to BUILD/fuzz-corpus/<name>, crash, leak and timeout inputs to BUILD/artifacts/<name>/,
# each run's log to BUILD/fuzz-logs/<name>.log. Replay a finding with
#   BUILD/tests/fuzz/fuzz_<name>_replay BUILD/artifacts/<name>/crash-...
# then keep it as tests/fuzz/corpus/<name>/regress-<what> once fixed.
# Exit status: 0 when no target found anything, 1 otherwise (or when a step failed).
set -eu

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD:-$root/build-fuzz}"
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
secs="${FUZZ_SECONDS:-60}"
fjobs="${FUZZ_JOBS:-1}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

"$root/scripts/deps.sh" sanitize

# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
	-DKMA_SANITIZE=ON -DKMA_FUZZ=ON -DKMA_WERROR=ON ${CMAKE_FLAGS:-}
cmake --build "$build" -j"$jobs" --target fuzzers

if [ $# -gt 0 ]; then
	targets="$*"
else
	targets=$(cd "$root/tests/fuzz" && find . -maxdepth 1 -name 'fuzz_*.c' | sort |
		sed 's|^\./fuzz_||; s|\.c$||')
fi

# The same sanitizer settings as `make sanitize`; leaks count as findings.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

mkdir -p "$build/fuzz-logs"

# run_one NAME: one libFuzzer session; its exit status in BUILD/fuzz-logs/NAME.rc
run_one() {
	name=$1
	exe="$build/tests/fuzz/fuzz_$name"
	log="$build/fuzz-logs/$name.log"
	rm -f "$build/fuzz-logs/$name.rc"
	if [ ! -x "$exe" ]; then
		echo "fuzz: no target $name ($exe)" >"$log"
		echo 2 >"$build/fuzz-logs/$name.rc"
		return
	fi
	mkdir -p "$build/fuzz-corpus/$name" "$build/artifacts/$name"
	rc=0
	# shellcheck disable=SC2086
	"$exe" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$name/" ${FUZZ_ARGS:-} \
		"$build/fuzz-corpus/$name" "$root/tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
	echo "$rc" >"$build/fuzz-logs/$name.rc"
}

# shellcheck disable=SC2086 # one line, the names separated by single spaces
echo "fuzz: $secs s per target, $fjobs at a time:" $targets
running=0
for t in $targets; do
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$fjobs" ]; then
		wait
		running=0
	fi
done
wait

failed=0
printf '%-10s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in $targets; do
	log="$build/fuzz-logs/$t.log"
	rc=$(cat "$build/fuzz-logs/$t.rc" 2>/dev/null || echo 2)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	corp=$(find "$build/fuzz-corpus/$t" -type f 2>/dev/null | wc -l)
	if [ "$rc" = 0 ]; then
		result=ok
	else
		result="FAILED (exit $rc): see $log and $build/artifacts/$t/"
		failed=1
	fi
	printf '%-10s %12s %10s %8s  %s\n' "$t" "${execs:--}" "${rate:--}" "$corp" "$result"
done
exit "$failed"
