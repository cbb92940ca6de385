#!/bin/sh
# Builds the libraries of an appliance image from Debian's source packages, by name, into
# prefixes cached outside the tree, so that the project can be built and tested against them
# (make test MBEDTLS=3.6 CURL=image, see the Makefile). Nothing is vendored: the sources come
# from Debian's archive with `apt-get source`, with a private apt state (deb-src lines only).
#
# Usage: scripts/extdeps.sh COMMAND          prints the prefix on stdout, logs on stderr
#   mbedtls-3.6            Mbed TLS 3.6 LTS from Debian 13's `mbedtls` source, upstream
#                          default configuration (include/mbedtls/mbedtls_config.h untouched),
#                          shared and static libraries, CMake package files
#   curl-image [2.28|3.6]  libcurl from Debian's `curl` source (with Debian's fixes: 12's
#                          7.88.1 on 2.28, 13's 8.14.1 on 3.6, see curl_prefix), configured
#                          as an image builds it: Mbed TLS backend, HTTP and HTTPS
#                          only; no LDAP, SSH, Kerberos/GSS-API, HTTP/2, HTTP/3, IDN, PSL,
#                          brotli, zstd, zlib, RTMP, NTLM-WB; built against Debian 12's Mbed
#                          TLS 2.28 (libmbedtls-dev, the default) or the mbedtls-3.6
#                          prefix; shared and static libraries (KMA_STATIC_CURL)
#   sqlite-image           SQLite from Debian 12's `sqlite3` source (with Debian's fixes),
#                          configured as Yocto's sqlite3 recipe builds it: upstream's
#                          defaults, thread-safe, column metadata, unlock notify, dbstat;
#                          not Debian's extras (the preupdate hook, the session extension,
#                          FTS, R-Tree...); shared and static libraries, sqlite3.pc
#   path MBEDTLS CURL [SQLITE]  the prefixes (";"-separated, what CMAKE_PREFIX_PATH takes)
#                          for a combination: MBEDTLS 2.28|3.6, CURL debian|image, SQLITE
#                          debian|image; empty for Debian's
#   list                   the cached prefixes
#
# Environment:
#   KMA_DEPS_CACHE   the cache (default /var/cache/kma-deps as root, else
#                    ${XDG_CACHE_HOME:-~/.cache}/kma-deps): the private apt states, the
#                    source packages and one prefix per source version and configuration
#   KMA_DEPS_UPDATE=1  refresh the source lists now (else when older than a day)
#   KMA_DEPS_JOBS    parallel compile jobs (default 2)
#
# A prefix's name carries the source version and a hash of everything that went into it
# (this script's recipe, the configure flags, the compiler, the Mbed TLS it was built
# against), so a new Debian revision or a changed recipe builds a new prefix beside the old
# one and a cached prefix is never modified. Builds run under a lock (several engineers or
# CI jobs may ask at once) in a temporary directory renamed into place when complete. The
# libraries carry a RUNPATH to their own prefix (libcurl to its Mbed TLS too), so they load
# what they were built against wherever the program's own RUNPATH does not reach.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
jobs="${KMA_DEPS_JOBS:-2}"
if [ -n "${KMA_DEPS_CACHE:-}" ]; then
	cache="$KMA_DEPS_CACHE"
elif [ "$(id -u)" -eq 0 ]; then
	cache=/var/cache/kma-deps
else
	cache="${XDG_CACHE_HOME:-$HOME/.cache}/kma-deps"
fi

log() { echo "extdeps: $*" >&2; }
die() { echo "extdeps: $*" >&2; exit 1; }
usage() {
	sed -n '/^# Usage/,/^# Environment/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 64
}

# Recipe versions: bump when a build below changes in a way the flags do not show.
mbedtls_recipe="mbedtls-3.6 r1"
curl_recipe="curl-image r2"
sqlite_recipe="sqlite-image r1"

# --- private apt state, one per Debian release, deb-src only --------------------------------

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror="${KMA_DEPS_MIRROR:-http://deb.debian.org/debian}"
security="${KMA_DEPS_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

# apt_setup DIST: sets $apt_opts for a private state that knows DIST's sources (DIST,
# DIST-updates, DIST-security) and nothing of the host's apt configuration or lists.
apt_setup() {
	state="$cache/apt-$1"
	mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/sources.list.d"
	[ -f "$state/status" ] || : >"$state/status"
	{
		echo "deb-src [signed-by=$keyring] $mirror $1 main"
		echo "deb-src [signed-by=$keyring] $mirror $1-updates main"
		echo "deb-src [signed-by=$keyring] $security $1-security main"
	} >"$state/sources.list"
	apt_opts="-o Dir::State=$state -o Dir::State::Lists=$state/lists
-o Dir::State::status=$state/status -o Dir::Cache=$state/cache -o Dir::Cache::pkgcache=
-o Dir::Cache::srcpkgcache= -o Dir::Etc::sourcelist=$state/sources.list
-o Dir::Etc::sourceparts=$state/sources.list.d -o Debug::NoLocking=true
-o APT::Sandbox::User=$(id -un)"
	if [ -n "${KMA_DEPS_UPDATE:-}" ] || [ ! -f "$state/lists.stamp" ] ||
		[ -n "$(find "$state/lists.stamp" -mmin +1440)" ]; then
		log "apt-get update ($1 sources, in $state)"
		# shellcheck disable=SC2086
		if apt-get $apt_opts update -qq >/dev/null 2>&1; then
			touch "$state/lists.stamp"
		else
			log "apt-get update reported errors (using what it got)"
		fi
	fi
}

# src_version DIST PKG: the newest source version of DIST's suites that the mirror serves
# (an index may name a version its pool does not have yet: the next one down is taken, and
# said), its files downloaded into the cache.
src_version() {
	apt_setup "$1"
	srcdir="$cache/src/$2"
	mkdir -p "$srcdir"
	# shellcheck disable=SC2086
	for v in $(apt-cache $apt_opts showsrc "$2" 2>/dev/null |
		awk '/^Version:/ { print $2 }' | sort -uVr); do
		[ -s "$srcdir/$2_$(echo "$v" | sed 's/^[0-9]*://').dsc" ] && { echo "$v"; return; }
		# shellcheck disable=SC2086
		if (cd "$srcdir" && apt-get $apt_opts source --download-only -qq "$2=$v" >/dev/null 2>&1); then
			echo "$v"
			return
		fi
		log "Debian $1's mirror does not serve $2=$v (yet): trying the version before it"
	done
	die "no source package $2 in Debian $1 that the mirror serves (apt-get update failed?)"
}

# src_unpack DIST PKG VERSION DIR: fetch the source package (cached) and unpack it into
# DIR, without applying Debian's patches (the caller applies the ones it wants).
src_unpack() {
	apt_setup "$1"
	srcdir="$cache/src/$2"
	mkdir -p "$srcdir"
	dsc="$srcdir/$2_$(echo "$3" | sed 's/^[0-9]*://').dsc"
	if [ ! -s "$dsc" ]; then
		log "apt-get source $2=$3 (Debian $1)"
		# shellcheck disable=SC2086
		(cd "$srcdir" && apt-get $apt_opts source --download-only -qq "$2=$3" >/dev/null) ||
			die "apt-get source $2=$3 failed"
	fi
	[ -s "$dsc" ] || die "apt-get source $2=$3 left no $dsc"
	# The archive's Release signature vouches for the .dsc's hashes (checked by apt on
	# download); the .dsc's own signature needs the uploader's key, which we do not have.
	dpkg-source --no-check --skip-patches -x "$dsc" "$4" >/dev/null ||
		die "dpkg-source -x $dsc failed"
}

# apply_series DIR [STOP]: apply debian/patches/series in order, up to (not including) STOP.
apply_series() {
	[ -f "$1/debian/patches/series" ] || return 0
	sed 's/#.*//' "$1/debian/patches/series" | while read -r p _; do
		[ -n "$p" ] || continue
		[ "$p" != "${2:-}" ] || break
		patch -d "$1" -p1 -s -f <"$1/debian/patches/$p" || die "patch $p failed"
	done
}

key_of() { (echo "$@"; gcc -dumpfullversion 2>/dev/null || true) | sha256sum | cut -c1-12; }
safe() { echo "$1" | tr '~+:' '___'; }

# build_locked NAME PREFIX FUNCTION: run FUNCTION STAGING under a lock unless PREFIX exists.
build_locked() {
	mkdir -p "$cache"
	[ -f "$2/.kma-extdeps" ] && return 0
	exec 9>"$cache/.lock-$1"
	flock 9
	if [ ! -f "$2/.kma-extdeps" ]; then
		[ "$(id -u)" -ne 0 ] || "$here/deps.sh" extdeps >&2
		rm -rf "$2" "$2.tmp" "$cache/work-$1"
		mkdir -p "$cache/work-$1"
		start=$(date +%s)
		"$3" "$2" "$cache/work-$1"
		echo "built by scripts/extdeps.sh in $(($(date +%s) - start)) s: $4" >"$2/.kma-extdeps"
		rm -rf "$cache/work-$1"
		log "built $2 in $(($(date +%s) - start)) s"
	fi
	exec 9>&-
}

# --- Mbed TLS 3.6 --------------------------------------------------------------------------

mbedtls_flags="-DCMAKE_BUILD_TYPE=Release -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF
-DUSE_SHARED_MBEDTLS_LIBRARY=ON -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DGEN_FILES=OFF
-DMBEDTLS_FATAL_WARNINGS=OFF -DCMAKE_INSTALL_LIBDIR=lib"

# Sets mbedtls_version and mbedtls_p (the prefix).
mbedtls_prefix() {
	mbedtls_version="$(src_version trixie mbedtls)"
	case "$mbedtls_version" in 3.6.*) ;; *) die "Debian 13's mbedtls is $mbedtls_version, not 3.6" ;; esac
	mbedtls_p="$cache/mbedtls-$(safe "$mbedtls_version")-$(key_of "$mbedtls_recipe" "$mbedtls_version" "$mbedtls_flags")"
}

mbedtls_build() { # PREFIX WORK
	src_unpack trixie mbedtls "$mbedtls_version" "$2/src"
	# Debian's patches are build fixes (gcc 14, no bundled 3rdparty in CMake); the
	# configuration stays upstream's default: Debian's rules do not touch it either.
	apply_series "$2/src"
	log "building Mbed TLS $mbedtls_version (upstream default configuration)"
	# shellcheck disable=SC2086
	cmake -S "$2/src" -B "$2/build" $mbedtls_flags -DCMAKE_INSTALL_PREFIX="$1" \
		-DCMAKE_INSTALL_RPATH="$1/lib" >"$2/configure.log" 2>&1 ||
		{ tail -n 30 "$2/configure.log" >&2; die "Mbed TLS: cmake failed"; }
	cmake --build "$2/build" -j"$jobs" >"$2/build.log" 2>&1 ||
		{ tail -n 30 "$2/build.log" >&2; die "Mbed TLS: build failed"; }
	cmake --install "$2/build" >"$2/install.log" 2>&1 ||
		{ tail -n 30 "$2/install.log" >&2; die "Mbed TLS: install failed"; }
}

# Builds Mbed TLS 3.6 unless cached; sets mbedtls_p.
mbedtls_ensure() {
	mbedtls_prefix
	build_locked mbedtls "$mbedtls_p" mbedtls_build "Debian trixie mbedtls $mbedtls_version; $mbedtls_flags"
}

# --- image-style libcurl -------------------------------------------------------------------

curl_flags="--enable-static --enable-shared --disable-manual --disable-dependency-tracking
--enable-http --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp
--disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb
--disable-smtp --disable-gopher --disable-mqtt --disable-ntlm-wb --without-openssl
--without-gnutls --without-nss --without-wolfssl --without-bearssl --without-rustls
--without-libssh2 --without-libssh --without-wolfssh --without-gssapi --without-nghttp2
--without-nghttp3 --without-ngtcp2 --without-quiche --without-msh3 --without-hyper
--without-libidn2 --without-libpsl --without-brotli --without-zstd --without-zlib
--without-librtmp --without-libgsasl --without-ca-bundle --without-ca-path"

# curl_prefix MBEDTLS: sets curl_dist, curl_version, curl_mbed (the Mbed TLS prefix) and
# curl_p. On 2.28, Debian 12's curl (7.88.1, what a Debian 12 based image has); on 3.6,
# Debian 13's (8.14.1): 7.88.1 cannot use Mbed TLS 3.6 (it sets up its SSL context before
# giving the configuration an RNG, which 3.6 refuses: "mbedTLS: ssl_init failed" on every
# transfer; later curl fixed the order and initialises PSA Crypto), and an image with 3.6
# (Yocto scarthgap and later) carries a curl 8.
curl_prefix() {
	case "$1" in
	2.28) curl_dist=bookworm ;;
	3.6) curl_dist=trixie ;;
	*) usage ;;
	esac
	curl_version="$(src_version "$curl_dist" curl)"
	case "$1" in
	2.28)
		curl_mbed=/usr
		curl_mbed_desc="Debian 12 libmbedtls-dev $(dpkg-query -W -f='${Version}' libmbedtls-dev 2>/dev/null || echo missing)"
		;;
	3.6)
		mbedtls_ensure
		curl_mbed="$mbedtls_p" curl_mbed_desc="$mbedtls_p"
		;;
	*) usage ;;
	esac
	curl_p="$cache/curl-image-$(safe "$curl_version")-mbedtls$1-$(key_of "$curl_recipe" "$curl_dist" "$curl_version" "$curl_flags" "$curl_mbed_desc")"
}

curl_build() { # PREFIX WORK
	src_unpack "$curl_dist" curl "$curl_version" "$2/src"
	# Debian's fixes (CVEs, regressions); on 7.88.1 not the two last patches, which turn
	# the source into libcurl-gnutls and libcurl-nss (Debian's rules pop them for the
	# OpenSSL flavour); 8.x's GnuTLS patch only acts with --with-gnutls.
	apply_series "$2/src" 90_gnutls.patch
	log "building libcurl $curl_version (image profile, Mbed TLS in $curl_mbed)"
	(
		cd "$2/src"
		autoreconf -fi >"$2/buildconf.log" 2>&1 ||
			{ tail -n 30 "$2/buildconf.log" >&2; exit 1; }
		rpath=""
		[ "$curl_mbed" = /usr ] || rpath="-Wl,-rpath,$curl_mbed/lib"
		# shellcheck disable=SC2086
		./configure --prefix="$1" --libdir="$1/lib" --with-mbedtls="$curl_mbed" $curl_flags \
			LDFLAGS="$rpath" >"$2/configure.log" 2>&1 ||
			{ tail -n 40 "$2/configure.log" >&2; tail -n 60 config.log >&2; exit 1; }
		make -j"$jobs" -C lib >"$2/build.log" 2>&1 &&
			make -C lib install >>"$2/build.log" 2>&1 &&
			make -C include install >>"$2/build.log" 2>&1 &&
			make install-pkgconfigDATA install-binSCRIPTS >>"$2/build.log" 2>&1 ||
			{ tail -n 30 "$2/build.log" >&2; exit 1; }
		grep -A 40 'Configured to build curl' "$2/configure.log" >"$1/configure-summary.txt" || true
	) || die "libcurl build failed (logs in $2)"
	rm -f "$1"/lib/*.la
}

# curl_ensure MBEDTLS: builds the image libcurl unless cached; sets curl_p.
curl_ensure() {
	curl_prefix "$1"
	[ "$1" = 3.6 ] || [ "$(id -u)" -ne 0 ] || "$here/deps.sh" build >&2 # libmbedtls-dev
	build_locked "curl-$1" "$curl_p" curl_build "Debian $curl_dist curl $curl_version; $curl_mbed_desc; $curl_flags"
}

# --- image-style SQLite ------------------------------------------------------------------

sqlite_flags="--enable-shared --enable-static --enable-threadsafe --disable-tcl
--disable-readline --disable-editline --disable-dependency-tracking"
sqlite_cflags="-O2 -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_UNLOCK_NOTIFY
-DSQLITE_ENABLE_DBSTAT_VTAB"

# Sets sqlite_version and sqlite_p (the prefix).
sqlite_prefix() {
	sqlite_version="$(src_version bookworm sqlite3)"
	sqlite_p="$cache/sqlite-image-$(safe "$sqlite_version")-$(key_of "$sqlite_recipe" "$sqlite_version" "$sqlite_flags" "$sqlite_cflags")"
}

sqlite_build() { # PREFIX WORK
	src_unpack bookworm sqlite3 "$sqlite_version" "$2/src"
	apply_series "$2/src"
	log "building SQLite $sqlite_version (image profile: no preupdate hook)"
	(
		cd "$2/src"
		# The amalgamation (sqlite3.c) is generated by Tcl scripts: tclsh is a build tool.
		# shellcheck disable=SC2086
		./configure --prefix="$1" --libdir="$1/lib" $sqlite_flags \
			CFLAGS="$(echo $sqlite_cflags)" >"$2/configure.log" 2>&1 ||
			{ tail -n 40 "$2/configure.log" >&2; exit 1; }
		make -j"$jobs" libsqlite3.la >"$2/build.log" 2>&1 &&
			make lib_install >>"$2/build.log" 2>&1 ||
			{ tail -n 30 "$2/build.log" >&2; exit 1; }
		mkdir -p "$1/include" "$1/lib/pkgconfig"
		cp sqlite3.h src/sqlite3ext.h "$1/include/" &&
			cp sqlite3.pc "$1/lib/pkgconfig/"
	) || die "SQLite build failed (logs in $2)"
	rm -f "$1"/lib/*.la
}

# Builds the image SQLite unless cached; sets sqlite_p.
sqlite_ensure() {
	sqlite_prefix
	build_locked sqlite "$sqlite_p" sqlite_build "Debian bookworm sqlite3 $sqlite_version; $sqlite_flags; $sqlite_cflags"
}

# --- commands ------------------------------------------------------------------------------

[ $# -ge 1 ] || usage
case "$1" in
mbedtls-3.6)
	[ $# -eq 1 ] || usage
	mbedtls_ensure
	echo "$mbedtls_p"
	;;
curl-image)
	[ $# -le 2 ] || usage
	curl_ensure "${2:-2.28}"
	echo "$curl_p"
	;;
sqlite-image)
	[ $# -eq 1 ] || usage
	sqlite_ensure
	echo "$sqlite_p"
	;;
path)
	[ $# -eq 3 ] || [ $# -eq 4 ] || usage
	case "$2" in 2.28 | 3.6) ;; *) die "MBEDTLS=$2: 2.28 (Debian 12) or 3.6" ;; esac
	out=""
	[ "$2" = 2.28 ] || { mbedtls_ensure && out="$mbedtls_p"; }
	case "$3" in
	debian) ;;
	image) curl_ensure "$2" && out="${out:+$out;}$curl_p" ;;
	*) die "CURL=$3: debian (Debian 12's libcurl4-openssl) or image" ;;
	esac
	case "${4:-debian}" in
	debian) ;;
	image) sqlite_ensure && out="${out:+$out;}$sqlite_p" ;;
	*) die "SQLITE=$4: debian (Debian 12's libsqlite3-dev) or image" ;;
	esac
	echo "$out"
	;;
list)
	for d in "$cache"/*/.kma-extdeps; do
		[ -f "$d" ] || continue
		echo "$(dirname "$d"): $(cat "$d")"
	done
	;;
*) usage ;;
esac
