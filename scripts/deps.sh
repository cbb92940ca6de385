#!/bin/sh
# Installs the Debian packages the build and tests need, only those missing.
# Usage: scripts/deps.sh [build|test|cross|sanitize|bench|valgrind|package|image|oracle|extdeps|all]
set -eu

want="${1:-test}"

base="cmake make gcc pkg-config libc6-dev protobuf-c-compiler libprotobuf-c-dev
libmbedtls-dev libcurl4-openssl-dev libsqlite3-dev libinih-dev libevent-dev libjson-c-dev libmicrohttpd-dev"
# faketime: the fault oracle (e2e_oracle, make oracle) installs an expired or not-yet-valid
# certificate, which `identity import` verifies at the current time, under a clock of that time
# python3-pykmip: a real KMIP server (PyKMIP's) for the key-service check's tests
# etcd-server etcd-client: a real 3-member etcd cluster for the etcd client's tests (issue 19)
test_pkgs="libcmocka-dev openssl curl python3 procps iproute2 chromium faketime python3-pykmip etcd-server etcd-client"
cross_pkgs="qemu-user gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf dpkg-dev binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf"
sanitize_pkgs="clang libclang-rt-14-dev"
bench_pkgs="libssl-dev"
valgrind_pkgs="valgrind"
# make package / package-test: the cross build, dpkg-deb, and mmdebstrap for a clean root
package_pkgs="mmdebstrap arch-test"
# make image-test: boots the packages under systemd-nspawn; a foreign root's systemd runs
# under a static qemu registered with binfmt_misc; openssl makes kma-coord's test PKI
image_pkgs="systemd-container qemu-user-static openssl"
oracle_pkgs=""
# scripts/extdeps.sh: Debian source packages (dpkg-source) built with CMake (Mbed TLS) and
# autotools (curl's buildconf; SQLite's amalgamation is made by Tcl scripts)
extdeps_pkgs="dpkg-dev patch python3 autoconf automake libtool make tcl"

pkgs="$base"
case "$want" in
build) ;;
test) pkgs="$pkgs $test_pkgs" ;;
cross) pkgs="$pkgs $test_pkgs $cross_pkgs" ;;
sanitize) pkgs="$pkgs $test_pkgs $sanitize_pkgs" ;;
bench) pkgs="$pkgs $bench_pkgs" ;;
valgrind) pkgs="$pkgs $test_pkgs $valgrind_pkgs" ;;
package) pkgs="$pkgs $cross_pkgs $package_pkgs" ;;
image) pkgs="$pkgs $cross_pkgs $package_pkgs $image_pkgs" ;;
oracle) pkgs="$pkgs $test_pkgs $oracle_pkgs" ;;
extdeps) pkgs="$pkgs $extdeps_pkgs" ;;
all) pkgs="$pkgs $test_pkgs $cross_pkgs $sanitize_pkgs $bench_pkgs $package_pkgs $image_pkgs $oracle_pkgs $extdeps_pkgs" ;;
*) echo "usage: $0 [build|test|cross|sanitize|bench|valgrind|package|image|oracle|extdeps|all]" >&2; exit 64 ;;
esac

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages:$missing" >&2
	echo "install them as root: apt-get install$missing" >&2
	exit 69
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
