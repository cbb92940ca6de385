#!/bin/sh
# Cross-builds the project for another architecture and runs its unit tests there, under
# qemu-user (no binfmt_misc needed: the toolchain file sets CMAKE_CROSSCOMPILING_EMULATOR).
#
# Usage: scripts/cross.sh [aarch64|armhf|x86_64]     (make cross ARCH=... installs the tools)
#   1. scripts/sysroot.sh: Debian 12 packages of the target -> build-cross-ARCH/sysroot
#   2. cmake with toolchain/TRIPLET.cmake and -DKMA_WERROR=ON, build
#   3. ctest -L unit (end-to-end tests are native only)
#   4. sizes of the stripped executables (the target's strip, on copies)
# Environment: JOBS (parallel jobs, default nproc), KMA_CROSS_BUILD (build tree, default
# build-cross-ARCH), CMAKE_FLAGS (more configure arguments), KMA_DEB_CACHE (see sysroot.sh).
set -eu

arch="${1:-aarch64}"
case "$arch" in
aarch64 | arm64) arch=aarch64 triplet=aarch64-linux-gnu ;;
armhf | arm) arch=armhf triplet=arm-linux-gnueabihf ;;
x86_64 | amd64) arch=x86_64 triplet=x86_64-linux-gnu ;;
*) echo "usage: $0 aarch64|armhf|x86_64" >&2; exit 64 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${KMA_CROSS_BUILD:-$root/build-cross-$arch}"
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
sysroot="$build/sysroot"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

now() { date +%s; }
t0=$(now)
"$root/scripts/sysroot.sh" "$arch" "$sysroot"
t1=$(now)

# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/toolchain/$triplet.cmake" \
	-DKMA_SYSROOT="$sysroot" -DKMA_WERROR=ON -DKMA_BOARD="${KMA_BOARD:-generic-$arch}" \
	${CMAKE_FLAGS:-}
cmake --build "$build" -j"$jobs"
t2=$(now)

# A default timeout keeps a test that hangs under emulation from eating a CI run.
rc=0
(cd "$build" && ctest -L unit --output-on-failure --no-tests=error --timeout 300 -j"$jobs") || rc=$?
t3=$(now)

strip="$(command -v "$triplet-strip" || true)"
if [ -z "$strip" ] && [ "$arch" = x86_64 ]; then strip="$(command -v strip || true)"; fi
[ -n "$strip" ] || { echo "cross: $triplet-strip not found (binutils-$triplet)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo
echo "cross $arch ($triplet): executables in bytes, stripped with $(basename "$strip")"
size="$(command -v "$triplet-size" || command -v size || true)"
printf '  %-10s %10s %10s %16s\n' program bytes stripped "text+data+bss"
for exe in kma-agent kma-coord kmactl; do
	path="$(find "$build" -path "$sysroot" -prune -o -type f -name "$exe" -print | head -n 1)"
	if [ -z "$path" ]; then
		printf '  %-10s %10s\n' "$exe" "not built"
		continue
	fi
	cp "$path" "$tmp/$exe"
	"$strip" "$tmp/$exe"
	mem=""
	[ -z "$size" ] || mem="$("$size" "$tmp/$exe" | awk 'NR == 2 { print $4 }')"
	printf '  %-10s %10s %10s %16s\n' "$exe" "$(wc -c <"$path" | tr -d ' ')" \
		"$(wc -c <"$tmp/$exe" | tr -d ' ')" "$mem"
done
echo "cross $arch: sysroot $((t1 - t0)) s, configure+build $((t2 - t1)) s," \
	"unit tests $((t3 - t2)) s, total $((t3 - t0)) s"
[ "$rc" -eq 0 ] || echo "cross $arch: unit tests FAILED (ctest exit $rc)" >&2
exit "$rc"
