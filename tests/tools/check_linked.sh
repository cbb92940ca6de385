#!/bin/sh
# Usage: check_linked.sh MBEDTLS_PREFIX CURL_PREFIX SQLITE_PREFIX PROGRAM...
# Whether each program, as the dynamic loader resolves it (ldd), loads Mbed TLS, libcurl and
# SQLite from the prefixes it was built against (an empty prefix: the system's), and one Mbed TLS
# only (an image libcurl built on another Mbed TLS would bring a second one).
set -eu
mb="$1" cu="$2" sq="$3"
shift 3
fail=0
for prog in "$@"; do
	out="$(ldd "$prog")"
	echo "$prog:"
	echo "$out" | grep -E 'lib(mbed(tls|x509|crypto)|curl|sqlite3)' | sed 's/^/  /' || true
	if echo "$out" | grep -q 'not found'; then
		echo "  FAIL: a library is not found"
		fail=1
	fi
	n=$(echo "$out" | grep -c 'libmbedtls\.so' || true)
	if [ "$n" -gt 1 ]; then
		echo "  FAIL: $n Mbed TLS libraries loaded"
		fail=1
	fi
	for lib in libmbedtls libmbedx509 libmbedcrypto libcurl libsqlite3; do
		case "$lib" in libcurl) want="$cu" ;; libsqlite3) want="$sq" ;; *) want="$mb" ;; esac
		path="$(echo "$out" | awk -v l="$lib.so" 'index($1, l) == 1 { print $3 }')"
		[ -n "$path" ] || continue
		if [ -n "$want" ]; then
			case "$path" in
			"$want"/*) ;;
			*) echo "  FAIL: $lib from $path, not from $want"; fail=1 ;;
			esac
		else
			case "$path" in
			/lib/* | /usr/lib/*) ;;
			*) echo "  FAIL: $lib from $path, not the system's"; fail=1 ;;
			esac
		fi
	done
done
exit $fail
