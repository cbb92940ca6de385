#!/bin/sh
# Builds the Debian packages of one architecture with the cross toolchain of `make cross`:
#   dist/kma-agent_VERSION_DEBARCH.deb   the appliance: kma-agent, /etc/kma-agent/agent.conf,
#                                        boards, kma-agent.service, man page, /var/lib/kma-agent
#   dist/kma-coord_VERSION_DEBARCH.deb   the operations host: kma-coord, kmactl, their
#                                        configuration, kma-coord.service, man pages
#
# Usage: scripts/package.sh [aarch64|armhf|x86_64]     (make package ARCH=... installs the tools)
#   1. scripts/sysroot.sh: Debian 12 packages of the target -> build-pkg-ARCH/sysroot
#   2. cmake with toolchain/TRIPLET.cmake, prefix /usr, Release, no tests, the board
#      generic-ARCH (KMA_BOARD overrides), then cmake --install --strip per component
#   3. Depends: every shared library the programs need (ELF NEEDED), mapped to the Debian
#      package and minimum version through the shlibs files of the very .deb files the
#      sysroot was made from: what dpkg-shlibdeps does, without installing them on the host
#   4. dpkg-deb --build (root-owned files, xz)
# Environment: JOBS, KMA_PKG_BUILD (build tree, default build-pkg-ARCH), KMA_DIST (output,
# default dist/), CMAKE_FLAGS (more configure arguments), KMA_BOARD.
set -eu

arch="${1:-aarch64}"
case "$arch" in
aarch64 | arm64) arch=aarch64 triplet=aarch64-linux-gnu debarch=arm64 ;;
armhf | arm) arch=armhf triplet=arm-linux-gnueabihf debarch=armhf ;;
x86_64 | amd64) arch=x86_64 triplet=x86_64-linux-gnu debarch=amd64 ;;
*) echo "usage: $0 aarch64|armhf|x86_64" >&2; exit 64 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${KMA_PKG_BUILD:-$root/build-pkg-$arch}"
dist="${KMA_DIST:-$root/dist}"
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
case "$dist" in /*) ;; *) dist="$(pwd)/$dist" ;; esac
sysroot="$build/sysroot"
debs="$build/debs"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
board="${KMA_BOARD:-generic-$arch}"

log() { echo "package[$debarch]: $*"; }
die() { echo "package[$debarch]: $*" >&2; exit 1; }

mkdir -p "$build"
KMA_DEB_CACHE="$debs" "$root/scripts/sysroot.sh" "$arch" "$sysroot"

# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/toolchain/$triplet.cmake" \
	-DKMA_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	-DKMA_BUILD_TESTS=OFF -DKMA_WERROR=ON -DKMA_BOARD="$board" \
	-DKMA_SYSTEMD_UNIT_DIR=/lib/systemd/system -DKMA_SYSUSERS_DIR=/usr/lib/sysusers.d \
	${CMAKE_FLAGS:-} >"$build/configure.log" 2>&1 ||
	{ cat "$build/configure.log" >&2; die "cmake configure failed"; }
cmake --build "$build" -j"$jobs"
version="$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")"
[ -n "$version" ] || die "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"

# shlibs of every library package in the sysroot: "[type:] name soversion dependencies".
shlibs="$build/shlibs"
: >"$shlibs"
for deb in "$debs"/*.deb; do
	dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./shlibs 2>/dev/null |
		grep -v '^[[:space:]]*\(#\|$\|udeb:\)' >>"$shlibs" || true
done

# depends_of FILE...: the Depends of these ELF files, one "pkg (>= v)" per line.
depends_of() {
	for f in "$@"; do
		readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
	done | sort -u | while IFS= read -r so; do
		# libfoo.so.7 -> "libfoo 7"; libfoo-1.2.so -> "libfoo 1.2" (Debian's soname rule)
		case "$so" in
		*.so.*) name="${so%%.so.*}" ver="${so#*.so.}" ;;
		*-*.so) base="${so%.so}" name="${base%-*}" ver="${base##*-}" ;;
		*) die "$f: cannot parse the soname $so" ;;
		esac
		dep="$(awk -v n="$name" -v v="$ver" '$1 == n && $2 == v {
			$1 = ""; $2 = ""; sub(/^  /, ""); print; exit }' "$shlibs")"
		[ -n "$dep" ] || die "no package in the sysroot provides $so (shlibs of $debs)"
		echo "$dep"
	done | sort -u | paste -sd, - | sed 's/,/, /g'
}

mkdir -p "$dist"
rm -rf "$build/stage"
# make_deb NAME DESCRIPTION COMPONENT...
make_deb() {
	name=$1 desc=$2
	shift 2
	stage="$build/stage/$name"
	mkdir -p "$stage/DEBIAN"
	for comp in "$@"; do
		DESTDIR="$stage" cmake --install "$build" --component "$comp" --strip >/dev/null
	done
	elves="$(find "$stage/usr/bin" -type f)"
	# shellcheck disable=SC2086
	depends="$(depends_of $elves)"
	find "$stage/etc" -type f | sed "s|^$stage||" | sort >"$stage/DEBIAN/conffiles"
	users="$(cd "$stage" && ls usr/lib/sysusers.d 2>/dev/null | tr '\n' ' ')"
	if [ -n "$users" ]; then
		cat >"$stage/DEBIAN/postinst" <<SH
#!/bin/sh
# The service's system user (systemd-sysusers(8) file from /usr/lib/sysusers.d).
set -e
if [ "\$1" = configure ]; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers $users
	fi
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
fi
exit 0
SH
		chmod 0755 "$stage/DEBIAN/postinst"
	fi
	cat >"$stage/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: $debarch
Maintainer: kma-agent developers <kma-agent@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Recommends: systemd
Section: admin
Priority: optional
Description: $desc
 Keeps a cluster of key-management appliances trusting each other and brings it
 back safely when hardware is replaced (kma-agent, kma-coord, kmactl).
 Built for the board $board.
CTL
	out="$dist/${name}_${version}_$debarch.deb"
	dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
	log "$(basename "$out"): $(wc -c <"$out" | tr -d ' ') bytes," \
		"installed $(du -sk --exclude=DEBIAN "$stage" | cut -f1) KiB; Depends: $depends"
}

make_deb kma-agent "KMA cluster agent for key-management appliances" agent
# kma-coord and kmactl carry no component of their own: "Unspecified".
make_deb kma-coord "KMA cluster coordinator and operator CLI (kmactl)" coord Unspecified
