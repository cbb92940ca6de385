#!/bin/sh
# Prepares a Debian 12 sysroot for cross-compiling and for running the unit tests under
# qemu-user: downloads the target architecture's packages (the project's -dev packages, the
# target's libc and every library they depend on) with `apt-get download` and unpacks them
# with `dpkg -x`. Nothing of the target architecture is installed on the host, so host and
# target package versions may drift apart without breaking anything.
#
# Usage: scripts/sysroot.sh ARCH DIR      ARCH: aarch64 | armhf | x86_64
#   DIR           the sysroot to make (scripts/cross.sh uses build-cross-ARCH/sysroot)
#   KMA_DEB_CACHE where the .deb files are kept (default: DIR/../debs)
#   KMA_SYSROOT_EXTRA_PKGS  more target packages to put in (Debian names, no :arch)
#   KMA_SYSROOT_UPDATE=1    refresh the package lists now (else: when older than a day)
#
# apt runs with a private state in DIR/../apt (the target architecture's package lists only;
# the host's sources and keys): the host's dpkg architectures and apt lists are not touched,
# and no root is needed. Idempotent: the sysroot carries a stamp keyed on the exact list of
# .deb files; a second run with the same package versions downloads nothing and leaves DIR
# alone (a few seconds).
set -eu

usage() { echo "usage: $0 aarch64|armhf|x86_64 DIR" >&2; exit 64; }
[ $# -eq 2 ] || usage
arch="$1"
dir="$2"
case "$arch" in
aarch64 | arm64) debarch=arm64 triplet=aarch64-linux-gnu ;;
armhf | arm) debarch=armhf triplet=arm-linux-gnueabihf ;;
x86_64 | amd64) debarch=amd64 triplet=x86_64-linux-gnu ;;
*) usage ;;
esac
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
debs="${KMA_DEB_CACHE:-$(dirname "$dir")/debs}"

# What goes into the sysroot (dependencies are added below): the target's C library and
# every lib*-dev package of scripts/deps.sh's build and test lists (Debian names them the same
# on every architecture), so that a library added there is in the sysroot too.
deps_libs="$(awk '
	/^(base|test_pkgs)="/ { on = 1; sub(/^[a-z_]+="/, "") ; if (/"/) last = 1 }
	on && !/^(base|test_pkgs)=/ && /"/ { last = 1 }
	on { n = split($0, w, /[ \t"]+/); for (i = 1; i <= n; i++) if (w[i] ~ /^lib.+-dev$/) print w[i] }
	last { on = 0; last = 0 }' "$(dirname "$0")/deps.sh")"
[ -n "$deps_libs" ] || { echo "sysroot: no lib*-dev packages found in scripts/deps.sh" >&2; exit 1; }
pkgs="libc6 libc6-dev linux-libc-dev libgcc-s1 libcrypt-dev $deps_libs ${KMA_SYSROOT_EXTRA_PKGS:-}"

log() { echo "sysroot[$debarch]: $*"; }
die() { echo "sysroot[$debarch]: $*" >&2; exit 1; }

stamp_name=.kma-sysroot.stamp
if [ -d "$dir" ] && [ ! -f "$dir/$stamp_name" ] && [ -n "$(ls -A "$dir")" ]; then
	die "$dir exists and was not made by this script: not touching it"
fi

# apt with a private state (package lists of the target architecture only, as if it were a
# machine of that architecture with nothing installed) next to the sysroot; the host's apt
# sources, keys and settings. The host's dpkg and apt lists are left alone: adding a foreign
# architecture to them would make every later host `apt-get update` depend on that
# architecture's indexes being in sync on the mirror (an armhf security index out of sync
# fails the whole update, and scripts/deps.sh with it). No root needed.
state="$(dirname "$dir")/apt"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
[ -f "$state/status" ] || : >"$state/status"
apt_opts="-o Dir::State=$state -o Dir::State::Lists=$state/lists
-o Dir::State::status=$state/status -o Dir::Cache=$state/cache -o Dir::Cache::pkgcache=
-o Dir::Cache::srcpkgcache= -o APT::Architecture=$debarch -o APT::Architectures=$debarch
-o Debug::NoLocking=true -o APT::Sandbox::User=$(id -un)"
# shellcheck disable=SC2086
apt_get() { apt-get $apt_opts "$@"; }
# shellcheck disable=SC2086
apt_cache() { apt-cache $apt_opts "$@"; }

apt_update() {
	# A mirror's index may be mid-sync (size or hash mismatch): apt then leaves that suite
	# out (e.g. bookworm-security for armhf) and exits non-zero. Fine for a sysroot as long
	# as the rest resolves (checked by the caller): the packages are older, but consistent.
	log "apt-get update (lists of $debarch only, in $state)"
	apt_get update -qq >/dev/null 2>&1 || log "apt-get update reported errors (using what it got)"
}
# Refresh the lists when missing or older than a day (KMA_SYSROOT_UPDATE=1: always).
if [ -n "${KMA_SYSROOT_UPDATE:-}" ] || [ ! -f "$state/lists.stamp" ] ||
	[ -n "$(find "$state/lists.stamp" -mmin +1440)" ]; then
	apt_update
	touch "$state/lists.stamp"
fi

# 1. The package closure. Depends and Pre-Depends only; no virtual packages; Architecture:
# all packages (data, maintainer-script helpers) are dropped below from the download list: a
# sysroot needs headers and ELF objects of the target.
resolve() {
	# shellcheck disable=SC2086
	apt_cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances $pkgs | awk '/^[^ <]/ && $1 !~ /:/ { print $1 }' | sort -u
}
names="$(resolve)"
if ! echo "$names" | grep -qx libc6; then
	apt_update
	names="$(resolve)"
	echo "$names" | grep -qx libc6 ||
		die "no package lists for $debarch: check the apt sources (apt-get update)"
fi

# 2. Exact .deb file names of the candidate versions (apt's own naming, epoch as %3a).
# shellcheck disable=SC2086
uris() { apt_get --print-uris -qq download $names; }
if ! list="$(uris)"; then
	apt_update
	list="$(uris)" || die "apt-get --print-uris download failed"
fi
files="$(echo "$list" | awk '{ print $2 }' | grep -v '_all\.deb$' | sort -u)"
[ -n "$files" ] || die "empty download list"
count=$(echo "$files" | wc -l)

# 3. Download what the cache lacks (by name: apt picks the candidate, i.e. these files).
mkdir -p "$debs"
missing=""
for f in $files; do
	[ -s "$debs/$f" ] || missing="$missing ${f%%_*}"
done
if [ -n "$missing" ]; then
	log "downloading $(echo "$missing" | wc -w | tr -d ' ') of $count packages into $debs"
	# shellcheck disable=SC2086
	if ! err="$(cd "$debs" && apt_get download -qq $missing 2>&1 >/dev/null)"; then
		# The lists may name versions the mirror no longer has: refresh, then start over
		# with the new candidates (once).
		[ -z "${KMA_SYSROOT_RETRY:-}" ] || { echo "$err" >&2; die "apt-get download failed"; }
		apt_update
		touch "$state/lists.stamp"
		KMA_SYSROOT_RETRY=1 exec "$0" "$@"
	fi
	for f in $files; do
		[ -s "$debs/$f" ] || die "missing after download: $debs/$f"
	done
fi
# Forget the versions no longer wanted, so that the cache does not grow with every update.
for f in "$debs"/*.deb; do
	echo "$files" | grep -qxF "$(basename "$f")" || rm -f "$f"
done

# 4. Unpack, unless the sysroot already holds exactly these files.
key="$( (echo "kma-sysroot v1 $debarch"; echo "$files") | sha256sum | cut -d' ' -f1)"
if [ -f "$dir/$stamp_name" ] && [ "$(sed -n 1p "$dir/$stamp_name")" = "$key" ]; then
	log "$dir is up to date ($count packages)"
	exit 0
fi

log "unpacking $count packages into $dir"
new="$dir.new"
rm -rf "$new"
mkdir -p "$new"
for f in $files; do
	dpkg -x "$debs/$f" "$new"
done

# Absolute symlinks (e.g. usr/lib/TRIPLET/libfoo.so -> /lib/TRIPLET/libfoo.so.1, or the
# dynamic loader) would point into the host's root: make them relative within the sysroot.
find "$new" -type l | while IFS= read -r link; do
	target="$(readlink "$link")"
	case "$target" in
	/*) ln -sfn "$(realpath -s -m --relative-to="$(dirname "$link")" "$new$target")" "$link" ;;
	esac
done

# Linker scripts (libc.so, ...) name absolute paths: ld prefixes them with --sysroot because
# they lie inside it, so they stay as they are. Record what went in.
{
	echo "$key"
	echo "# made by scripts/sysroot.sh $arch: Debian $debarch packages, target $triplet"
	echo "$files"
} >"$new/$stamp_name"

rm -rf "$dir"
mv "$new" "$dir"
log "done: $dir ($count packages, $(du -sm "$dir" | cut -f1) MiB)"
