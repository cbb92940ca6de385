#!/bin/sh
# kma-coord on the etcd store (docs/ha.md) against the same kma-coord on SQLite, in one run:
# bench_coord on each, then the ratios of their max and paced rates and of adding nodes
# (each node a durable write: one etcd transaction). A 3-member etcd cluster on loopback
# (tests/e2e/etcd.sh), a single kma-coord instance (it leads at once).
#
# usage: bench/coord_etcd.sh BUILD_DIR [bench_coord options and sizes...]
set -eu
BUILD=$(cd "${1:?usage: $0 BUILD_DIR [options] [AGENTSxNODES ...]}" && pwd)
shift
KMA_BUILD_DIR=$BUILD
KMA_SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
export KMA_BUILD_DIR KMA_SOURCE_DIR
set +e
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/etcd.sh"
trap cleanup EXIT INT TERM

etcd_start 3
bench="$BUILD/bench/bench_coord"
coord="$BUILD/coordinator/kma-coord"
# bench_coord takes its options before the program and the sizes (AGENTSxNODES) after it;
# each size on etcd gets a prefix of its own (the store outlives each size's kma-coord).
opts="" sizes=""
for a in "$@"; do
	case "$a" in
	[0-9]*x[0-9]*) sizes="$sizes $a" ;;
	*) opts="$opts $a" ;;
	esac
done
for size in ${sizes:-100x20 1000x20 3000x20}; do
	etcd_ha_conf "/kma-bench-$size/" https://127.0.0.1:1 >"$T/ha.conf" # one instance: it leads
	# shellcheck disable=SC2086 # words on purpose
	"$bench" $opts "$coord" "$size" >>"$T/sqlite.out" 2>"$T/sqlite.err" ||
		{ cat "$T/sqlite.err"; fail "bench on SQLite"; }
	# shellcheck disable=SC2086
	"$bench" -x "$T/ha.conf" $opts "$coord" "$size" >>"$T/etcd.out" 2>"$T/etcd.err" ||
		{ cat "$T/etcd.err"; fail "bench on etcd"; }
done
echo "== SQLite"
cat "$T/sqlite.out"
echo "== etcd (3 members on loopback)"
cat "$T/etcd.out"
# agents nodes phase req/s ...: the max and paced rows; the second table's add/s.
python3 - "$T/sqlite.out" "$T/etcd.out" <<'PY'
import sys
def rows(path):
    rates, adds = {}, {}
    for line in open(path):
        f = line.split()
        if len(f) >= 4 and f[2] in ("max", "paced") and f[0].isdigit():
            rates[(f[0], f[1], f[2])] = (float(f[3]), float(f[5]))
        elif len(f) == 13 and f[0].isdigit():
            adds[(f[0], f[1])] = float(f[7])
    return rates, adds
(sr, sa), (er, ea) = rows(sys.argv[1]), rows(sys.argv[2])
print("\netcd / SQLite, same run (reports/s; p99 ms; nodes added/s)")
for k in sorted(sr):
    if k in er:
        print("  %5s agents x %2s nodes %-5s  %7.0f / %7.0f = %.2f   p99 %7.1f / %7.1f" %
              (k[0], k[1], k[2], er[k][0], sr[k][0], er[k][0] / sr[k][0], er[k][1], sr[k][1]))
for k in sorted(sa):
    if k in ea:
        print("  %5s agents x %2s nodes add   %7.0f / %7.0f = %.2f" %
              (k[0], k[1], ea[k], sa[k], ea[k] / sa[k]))
PY
