#!/bin/sh
# Installs the packages of `make package ARCH=...` (dist/kma-agent_*.deb, kma-coord_*.deb)
# into a clean Debian 12 root of that architecture, made by mmdebstrap from Debian's
# packages, and runs the programs there. Slow (a root from scratch): make package-test, not
# make test.
#
#   same architecture as the host: variant "apt" plus systemd; apt resolves our Depends and
#     dpkg installs the packages (maintainer scripts run: the kma-coord user is created);
#     the programs run under chroot.
#   foreign architecture: no binfmt_misc here, so nothing of the target can run during the
#     install: variant "extract" unpacks our packages and every package their Depends pull
#     in (resolved by apt, so a wrong Depends still fails); maintainer scripts do not run.
#     The programs then run under qemu-user with the root as their / (-L: the loader,
#     libraries and files such as /etc/kma-agent/agent.conf are the root's).
#
# Usage: tests/pkg/test_package.sh [aarch64|armhf|x86_64]
# Environment: KMA_DIST (where the .deb files are, default dist/), KMA_PKG_ROOT (the root to
# make, default build-pkg-ARCH/root; removed first), KMA_APT_SOURCES (apt sources for the
# root, default the host's /etc/apt/sources.list.d/debian.sources or sources.list).
set -eu

arch="${1:-aarch64}"
case "$arch" in
aarch64 | arm64) arch=aarch64 debarch=arm64 qemu=qemu-aarch64 ;;
armhf | arm) arch=armhf debarch=armhf qemu=qemu-arm ;;
x86_64 | amd64) arch=x86_64 debarch=amd64 qemu=qemu-x86_64 ;;
*) echo "usage: $0 aarch64|armhf|x86_64" >&2; exit 64 ;;
esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
dist="${KMA_DIST:-$root/dist}"
target="${KMA_PKG_ROOT:-$root/build-pkg-$arch/root}"
sources="${KMA_APT_SOURCES:-}"
if [ -z "$sources" ]; then
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		[ -s "$f" ] && { sources="$f"; break; }
	done
fi
[ -n "$sources" ] || { echo "no apt sources: set KMA_APT_SOURCES" >&2; exit 1; }

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "not ok - $*"; }

version="$(sed -n 's/^project(kma-agent VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
agent_deb="$dist/kma-agent_${version}_$debarch.deb"
coord_deb="$dist/kma-coord_${version}_$debarch.deb"
for d in "$agent_deb" "$coord_deb"; do
	[ -f "$d" ] || { echo "$d missing: make package ARCH=$arch" >&2; exit 66; }
done

hostarch="$(dpkg --print-architecture)"
mkdir -p "$(dirname "$target")"
t0=$(date +%s)

# A mirror's security index can be mid-sync for one architecture (seen for armhf):
# mmdebstrap's apt-get update fails on it. Then once more without the security suite:
# the packages are older, the test is the same.
nosec="$(dirname "$target")/sources.nosec"
awk 'BEGIN { RS = ""; ORS = "\n\n" } !/-security/' "$sources" >"$nosec.822"
grep -v '^[[:space:]]*deb .*-security' "$sources" >"$nosec.list" || true
case "$sources" in *.sources) nosec="$nosec.822" ;; *) nosec="$nosec.list" ;; esac

# A failed mmdebstrap may leave its bind mounts of the .deb files in the root.
clear_root() {
	unmount_debs
	rm -rf "$target"
}

unmount_debs() {
	findmnt -rn -o TARGET | grep "^$target/" | sort -r | while IFS= read -r m; do
		umount "$m" || true
	done
}
trap unmount_debs EXIT

mkroot() {
	clear_root
	if mkroot_with "$sources"; then
		return 0
	fi
	echo "mmdebstrap failed with $sources; again without the security suite" >&2
	clear_root
	mkroot_with "$nosec"
}

if [ "$debarch" = "$hostarch" ]; then
	# The packages go in by apt inside the finished root (a customize hook): mmdebstrap's
	# own --include of a .deb path fails in root mode (dpkg, chrooted, looks for apt's copy
	# in the host's /tmp).
	mkroot_with() {
		mmdebstrap --quiet --mode=root --variant=apt --architectures="$debarch" \
			--include=systemd \
			--customize-hook="copy-in $agent_deb $coord_deb /tmp" \
			--customize-hook="chroot \"\$1\" apt-get install --yes --quiet --no-install-recommends /tmp/$(basename "$agent_deb") /tmp/$(basename "$coord_deb")" \
			--customize-hook='rm -f "$1"/tmp/*.deb' \
			bookworm "$target" "$1"
	}
	mkroot
	how="installed with apt and dpkg (maintainer scripts run), programs under chroot"
else
	mkroot_with() {
		mmdebstrap --quiet --mode=root --variant=extract --architectures="$debarch" \
			--skip=check/qemu \
			--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
			--include="$agent_deb" --include="$coord_deb" \
			bookworm "$target" "$1"
	}
	mkroot
	command -v "$qemu" >/dev/null || { echo "$qemu missing (qemu-user)" >&2; exit 69; }
	run() {
		p="$1"
		shift
		"$qemu" -L "$target" "$target$p" "$@"
	}
	how="extracted with their dependencies, programs under $qemu -L root"
fi
echo "root for $debarch in $(($(date +%s) - t0)) s, $(du -sm "$target" | cut -f1) MiB: $how"

# run PATH ARGS...: the program at PATH inside the root.
if [ "$debarch" = "$hostarch" ]; then
	run() { chroot "$target" "$@"; }
fi

check() {
	desc=$1
	want=$2
	shift 2
	if out="$(run "$@" 2>&1)"; then got=0; else got=$?; fi
	if [ "$got" = "$want" ]; then
		printf '%s\n' "$out" | head -n 1 | sed 's/^/    /'
		ok "$desc"
	else
		printf '%s\n' "$out" | sed 's/^/    /'
		notok "$desc (exit $got, want $want)"
	fi
}

check "kma-agent --version" 0 /usr/bin/kma-agent --version
check "kma-agent --check-config of the installed agent.conf" 0 \
	/usr/bin/kma-agent -c /etc/kma-agent/agent.conf --check-config
if run /usr/bin/kma-agent -c /etc/kma-agent/agent.conf --check-config 2>&1 |
	grep -q "board generic-$arch, HAL backend linux"; then
	ok "the package's default board is generic-$arch"
else
	notok "the package's default board is not generic-$arch"
fi
check "kma-agent causes --json" 0 /usr/bin/kma-agent causes --json
check "kma-coord --version" 0 /usr/bin/kma-coord --version
check "kmactl --version" 0 /usr/bin/kmactl --version
# Without the operator's certificates coord.conf is incomplete, and says so (exit 78).
check "kma-coord --check-config names what is missing" 78 \
	/usr/bin/kma-coord -c /etc/kma-coord/coord.conf --check-config
for f in /lib/systemd/system/kma-agent.service /lib/systemd/system/kma-coord.service \
	/usr/share/man/man8/kma-agent.8 /usr/share/man/man1/kmactl.1; do
	if [ -f "$target$f" ]; then ok "$f installed"; else notok "$f missing"; fi
done
if [ "$debarch" = "$hostarch" ]; then
	if chroot "$target" getent passwd kma-coord >/dev/null; then
		ok "postinst created the system user kma-coord"
	else
		notok "no user kma-coord after the install"
	fi
	if chroot "$target" dpkg -s kma-agent kma-coord 2>/dev/null | grep -c "Status: install ok installed" |
		grep -qx 2; then
		ok "dpkg: kma-agent and kma-coord installed"
	else
		notok "dpkg does not list both packages as installed"
	fi
fi

for d in "$agent_deb" "$coord_deb"; do
	echo "$(basename "$d"): $(wc -c <"$d" | tr -d ' ') bytes"
done
echo "package-test $debarch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
