#!/bin/sh
# Boots a Debian 12 root with the built packages under a real systemd (systemd-nspawn -b)
# and checks what systemd does with kma-agent.service and kma-coord.service: the checks run
# inside, as a oneshot unit (tests/pkg/image_checks.sh) that writes its results to a file
# and powers the container off. Slow (a root, a boot), so `make image-test`, not make test.
#
#   x86_64 (the host's architecture): every check (mode full): Type=notify and the
#     watchdog of both units, reload on a root without procps, a stopped agent restarted,
#     a configuration error failed without a restart loop, the agent's network side
#     unprivileged, systemd-analyze security of both units.
#   aarch64 / armhf: the same root of that architecture, systemd and the programs under
#     qemu-user through binfmt_misc (registered here if it is not, and removed again);
#     mode boot: the agent becomes active, pings its watchdog, reloads and drops its
#     network side. qemu-user enforces no seccomp filter, and the boot's sysusers, tmpfiles
#     and sysctl services fail under it ("Failed to set up credentials"; the packages'
#     users come from their postinst, which dpkg runs before the boot), so the sandbox is
#     judged on x86_64 only.
#
# The root: mmdebstrap (variant apt: Essential packages and apt, no procps) plus systemd
# and every package the two .debs depend on, made once and kept as a tarball in the cache,
# keyed on what goes in (architecture, suite, package list, apt sources, mmdebstrap's
# version, the recipe's version below); each run unpacks it afresh, installs the .debs with
# dpkg (maintainer scripts run), enables kma-agent.service and boots. The container has
# its own network namespace with loopback only (--private-network): kma-coord listens on
# 127.0.0.1:8443 inside it.
#
# Usage: tests/pkg/test_image.sh [x86_64|aarch64|armhf]     (make image-test builds the .debs)
# Environment: KMA_DIST (the .deb files, default dist/), KMA_IMAGE_CACHE (the root tarballs,
# default ~/.cache/kma-agent/image), KMA_IMAGE_WORK (the unpacked root and logs, default
# build-image-ARCH), KMA_IMAGE_REFRESH=1 (make the root again), KMA_IMAGE_CACHED_ONLY=1
# (skip, saying so, when the root is not cached: CI's budget has no room to make one),
# KMA_IMAGE_TIMEOUT (seconds the boot may take, default 600 natively, 1500 under
# emulation), KMA_APT_SOURCES.
set -eu

arch="${1:-x86_64}"
case "$arch" in
aarch64 | arm64) arch=aarch64 debarch=arm64 qemu=aarch64 ;;
armhf | arm) arch=armhf debarch=armhf qemu=arm ;;
x86_64 | amd64) arch=x86_64 debarch=amd64 qemu=x86_64 ;;
*) echo "usage: $0 x86_64|aarch64|armhf" >&2; exit 64 ;;
esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
dist="${KMA_DIST:-$root/dist}"
cache="${KMA_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kma-agent/image}"
work="${KMA_IMAGE_WORK:-$root/build-image-$arch}"
case "$work" in /*) ;; *) work="$(pwd)/$work" ;; esac
target="$work/root"
# Bump when the way the root is made changes: older tarballs are then not used.
recipe=1

log() { echo "image-test[$debarch]: $*"; }
die() { echo "image-test[$debarch]: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root, systemd-nspawn)"
for t in mmdebstrap systemd-nspawn; do
	command -v "$t" >/dev/null || die "$t missing (make image-test installs it)"
done

version="$(sed -n 's/^project(kma-agent VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
agent_deb="$dist/kma-agent_${version}_$debarch.deb"
coord_deb="$dist/kma-coord_${version}_$debarch.deb"
for d in "$agent_deb" "$coord_deb"; do
	[ -f "$d" ] || { echo "$d missing: make package ARCH=$arch" >&2; exit 66; }
done

sources="${KMA_APT_SOURCES:-}"
if [ -z "$sources" ]; then
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		[ -s "$f" ] && { sources="$f"; break; }
	done
fi
[ -n "$sources" ] || die "no apt sources: set KMA_APT_SOURCES"

hostarch="$(dpkg --print-architecture)"
foreign=false
[ "$debarch" = "$hostarch" ] || foreign=true

# --- binfmt_misc for a foreign root: its systemd and programs run under qemu-user --------
registered=""
cleanup() {
	[ -z "${nspawn_pid:-}" ] || kill "$nspawn_pid" 2>/dev/null || true
	[ -z "$registered" ] || echo -1 >"/proc/sys/fs/binfmt_misc/$registered" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if $foreign; then
	bf=/proc/sys/fs/binfmt_misc
	[ -e "$bf/register" ] || mount -t binfmt_misc binfmt_misc "$bf" ||
		die "cannot mount binfmt_misc"
	if [ ! -e "$bf/qemu-$qemu" ]; then
		# qemu-user-static's entry: F (the interpreter opened now, so it is found inside
		# the container's root too), a static qemu (no libraries needed there).
		conf="/usr/lib/binfmt.d/qemu-$qemu.conf"
		[ -f "$conf" ] || die "$conf missing (qemu-user-static)"
		grep -q ':[A-Z]*F[A-Z]*$' "$conf" || die "$conf: no F flag"
		cat "$conf" >"$bf/register" || die "cannot register $conf with binfmt_misc"
		registered="qemu-$qemu"
		log "registered $conf with binfmt_misc (removed again at the end)"
	fi
fi

# --- the cached root --------------------------------------------------------------------
# Every package the two .debs depend on (names only; apt takes the suite's versions).
deps="$(for d in "$agent_deb" "$coord_deb"; do dpkg-deb -f "$d" Depends; done |
	tr ',' '\n' | sed 's/[[:space:]]*(.*//; s/^[[:space:]]*//; /^$/d' | sort -u)"
include="systemd systemd-sysv $deps"
key="$(
	{
		echo "recipe $recipe $debarch bookworm variant=apt"
		mmdebstrap --version
		echo "$include"
		cat "$sources"
	} | sha256sum | cut -c1-16
)"
tarball="$cache/bookworm-$debarch-$key.tar"
mkdir -p "$cache" "$work"
t0=$(date +%s)
if [ -n "${KMA_IMAGE_CACHED_ONLY:-}" ] && [ ! -s "$tarball" ]; then
	log "SKIP: no cached root $tarball (KMA_IMAGE_CACHED_ONLY; make image-test makes it)"
	exit 0
fi
if [ -n "${KMA_IMAGE_REFRESH:-}" ] || [ ! -s "$tarball" ]; then
	# A mirror's security index can be mid-sync for one architecture: then once more
	# without the security suite (older packages, the same test).
	nosec="$work/sources.nosec"
	case "$sources" in
	*.sources) nosec="$nosec.sources"; awk 'BEGIN { RS = ""; ORS = "\n\n" } !/-security/' "$sources" >"$nosec" ;;
	*) nosec="$nosec.list"; grep -v '^[[:space:]]*deb .*-security' "$sources" >"$nosec" || true ;;
	esac
	partial="$cache/partial-$debarch-$key.tar"
	mk() {
		rm -f "$partial"
		mmdebstrap --quiet --mode=root --variant=apt --architectures="$debarch" \
			--include="$(echo "$include" | tr ' \n' ',,' | sed 's/,,*/,/g; s/,$//')" \
			--customize-hook='rm -f "$1"/etc/hostname "$1"/etc/machine-id' \
			--customize-hook='touch "$1"/etc/machine-id' \
			bookworm "$partial" "$1"
	}
	log "making the root (mmdebstrap, $(echo "$include" | wc -w) packages asked for)"
	if ! mk "$sources"; then
		log "mmdebstrap failed with $sources; again without the security suite"
		mk "$nosec" || die "mmdebstrap failed"
	fi
	mv "$partial" "$tarball"
	# One tarball per architecture: older keys are superseded.
	for old in "$cache"/bookworm-"$debarch"-*.tar; do
		[ "$old" = "$tarball" ] || rm -f "$old"
	done
	how="made"
else
	how="cached"
fi
t1=$(date +%s)
log "root $how in $((t1 - t0)) s: $tarball ($(du -m "$tarball" | cut -f1) MiB)"

# --- this run's root: the tarball, the .debs, the checks ---------------------------------
rm -rf "$target"
mkdir -p "$target"
tar -C "$target" -xf "$tarball"
mkdir -p "$target/var/cache/kma-image-test"
cp "$agent_deb" "$coord_deb" "$target/var/cache/kma-image-test/"
# nspawn running one command, no boot: a chroot with /proc, /sys and /dev (under qemu for a
# foreign root).
in_root() {
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn --quiet --register=no --keep-unit \
		--private-network --pipe -D "$target" "$@"
}
in_root dpkg -i /var/cache/kma-image-test/kma-agent_"${version}"_"$debarch".deb \
	/var/cache/kma-image-test/kma-coord_"${version}"_"$debarch".deb >"$work/dpkg.log" 2>&1 ||
	{ cat "$work/dpkg.log" >&2; die "dpkg -i failed"; }
rm -rf "$target/var/cache/kma-image-test"
log "installed $(basename "$agent_deb") and $(basename "$coord_deb") with dpkg"
systemctl --root="$target" enable kma-agent.service >/dev/null 2>&1 ||
	die "systemctl enable kma-agent.service"

# The PKI for kma-coord (tests/e2e/pki.sh: the cluster CA, kma-coord's certificate for
# 127.0.0.1, the operator CA and the operator alice); kmactl's configuration for alice.
conf="$target/etc/kma-image-test"
mkdir -p "$conf/pki"
(
	# shellcheck source=../e2e/pki.sh
	. "$root/tests/e2e/pki.sh"
	pki_make "$work/pki" >"$work/pki.log" 2>&1 && pki_coord "$work/pki" >>"$work/pki.log" 2>&1
) || { cat "$work/pki.log" >&2; die "test PKI"; }
for f in coord.pem coord.key ca.pem opca.pem alice.pem alice.key; do
	cp "$work/pki/$f" "$conf/pki/$f"
done
cat >"$conf/kmactl.conf" <<CONF
[kmactl]
url = https://127.0.0.1:8443
cert = /etc/kma-image-test/pki/alice.pem
key = /etc/kma-image-test/pki/alice.key
ca = /etc/kma-image-test/pki/ca.pem
CONF
if $foreign; then echo boot >"$conf/mode"; else echo full >"$conf/mode"; fi
install -m 0755 "$root/tests/pkg/image_checks.sh" "$target/usr/local/sbin/kma-image-checks"

# Watchdog intervals a restart fits a test in; the rest of each unit is as packaged.
for u in kma-agent:4 kma-coord:3; do
	mkdir -p "$target/etc/systemd/system/${u%:*}.service.d"
	printf '[Service]\nWatchdogSec=%s\n' "${u#*:}" \
		>"$target/etc/systemd/system/${u%:*}.service.d/image-test.conf"
done
cat >"$target/etc/systemd/system/kma-image-test.service" <<'UNIT'
[Unit]
Description=kma image test: the units under this systemd, then power off
After=kma-agent.service multi-user.target
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kma-image-checks
StandardOutput=journal+console
TimeoutStartSec=20min

[Install]
WantedBy=multi-user.target
UNIT
systemctl --root="$target" enable kma-image-test.service >/dev/null 2>&1 ||
	die "systemctl enable kma-image-test.service"
# Nothing else that waits for a network or a terminal.
systemctl --root="$target" mask systemd-networkd-wait-online.service \
	console-getty.service getty@.service >/dev/null 2>&1 || true
t2=$(date +%s)
log "root ready in $((t2 - t1)) s"

# --- boot ---------------------------------------------------------------------------------
timeout="${KMA_IMAGE_TIMEOUT:-}"
[ -n "$timeout" ] || { if $foreign; then timeout=1500; else timeout=600; fi; }
log "booting (systemd-nspawn -b, loopback only; console in $work/console.log)"
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn --quiet --register=no --keep-unit \
	--private-network --console=read-only -b -D "$target" \
	--machine="kma-image-$debarch" </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
n=0
while kill -0 "$nspawn_pid" 2>/dev/null; do
	n=$((n + 1))
	if [ "$n" -gt "$timeout" ]; then
		kill "$nspawn_pid" 2>/dev/null || true
		sleep 2
		kill -9 "$nspawn_pid" 2>/dev/null || true
		tail -n 40 "$work/console.log" >&2
		die "the container did not power off within $timeout s: killed"
	fi
	sleep 1
done
rc=0
wait "$nspawn_pid" || rc=$?
nspawn_pid=""
t3=$(date +%s)
log "container powered off after $((t3 - t2)) s (systemd-nspawn exit $rc)"

results="$target/var/lib/kma-image-test/results"
[ -s "$results" ] || { tail -n 60 "$work/console.log" >&2; die "no results: $results"; }
cp "$results" "$work/results"
cat "$results"
log "total $((t3 - t0)) s (root $((t1 - t0)) s, install $((t2 - t1)) s, boot and checks $((t3 - t2)) s)"
grep -q '^not ok' "$results" && exit 1
grep -q '^# [0-9]* passed, 0 failed' "$results" || die "the checks did not finish"
