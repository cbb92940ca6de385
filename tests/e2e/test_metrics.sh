#!/bin/sh
# kma-coord's GET /metrics against curl: operator certificates only, the Prometheus text
# format 0.0.4 checked line by line, and the report counters after an accepted and a
# rejected report.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"
. "$KMA_SOURCE_DIR/tests/e2e/pki.sh"

COORD="$KMA_BUILD_DIR/coordinator/kma-coord"
MKREPORT="$KMA_BUILD_DIR/tests/mkreport"
P="$T/pki"
CT="Content-Type: application/x-protobuf"

pki_make "$P" || fail "test PKI"
pki_coord "$P" || fail "coordinator and operator certificates"

PORT=$(free_port)
C="$T/coord.conf"
pki_coord_conf "$C" "$P" "$PORT" "$T/coord.db"
cat >>"$C" <<CONF
report_interval = 5
max_body = 65536
log_level = debug
CONF

LOG="$T/coord.log"
start_bg "$LOG" "$COORD" -c "$C"
wait_for_line "$LOG" "serving on 127.0.0.1:$PORT"

# call WHO METHOD PATH [curl args...]: status in $code, body in $T/body, headers in $T/head.
call() {
	_who=$1 _m=$2 _p=$3
	shift 3
	code=$(curl -sS -o "$T/body" -D "$T/head" -w '%{http_code}' --max-time 20 \
		--cacert "$P/ca.pem" --cert "$P/$_who.pem" --key "$P/$_who.key" \
		-X "$_m" "$@" "https://localhost:$PORT$_p" 2>"$T/curl.err") || code="curl-exit-$?"
}

expect_code() {
	[ "$code" = "$1" ] || {
		cat "$T/body" "$T/curl.err" >&2
		tail -n 20 "$LOG" >&2
		fail "$2: HTTP $code, want $1"
	}
}

# check_format FILE: the Prometheus text format 0.0.4, strictly: every line a HELP, a TYPE or
# a sample; one HELP and one TYPE per family, both before its samples; a family's samples
# together; counters named *_total; no series twice.
check_format() {
	python3 -S - "$1" <<'PY' || fail "text format of $1"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
sample_re = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*,?)?\})? (\S+)(?: (-?\d+))?$" % (NAME, LABEL, LABEL))
help_re = re.compile(r"^# HELP (%s) (?:[^\\\n]|\\[\\n])*$" % NAME)
type_re = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
errors, helps, types, done, series = [], {}, {}, set(), set()
current = None
if not text.endswith("\n"):
    errors.append("no final newline")
for n, line in enumerate(text.split("\n")[:-1], 1):
    m = help_re.match(line)
    if m:
        f = m.group(1)
        if f in helps:
            errors.append("%d: second HELP for %s" % (n, f))
        if f in done:
            errors.append("%d: HELP for %s after its samples" % (n, f))
        helps[f] = n
        continue
    m = type_re.match(line)
    if m:
        f = m.group(1)
        if f in types:
            errors.append("%d: second TYPE for %s" % (n, f))
        if f in done:
            errors.append("%d: TYPE for %s after its samples" % (n, f))
        types[f] = m.group(2)
        if m.group(2) == "counter" and not f.endswith("_total"):
            errors.append("%d: counter %s does not end in _total" % (n, f))
        continue
    if line.startswith("#") or line == "":
        errors.append("%d: stray line %r" % (n, line))
        continue
    m = sample_re.match(line)
    if not m:
        errors.append("%d: not a sample: %r" % (n, line))
        continue
    name = m.group(1)
    try:
        float((line.rsplit("}", 1)[1] if "{" in line else line[len(name):]).split()[0])
    except ValueError:
        errors.append("%d: value of %r is not a number" % (n, line))
    if name not in helps or name not in types:
        errors.append("%d: %s has no HELP or TYPE before it" % (n, name))
    if current != name:
        if name in done:
            errors.append("%d: samples of %s are not together" % (n, name))
        if current:
            done.add(current)
        current = name
    labels = tuple(sorted(re.findall(LABEL, m.group(2) or "")))
    if len(set(k for k, _ in labels)) != len(labels):
        errors.append("%d: a label twice in %r" % (n, line))
    if (name, labels) in series:
        errors.append("%d: series twice: %r" % (n, line))
    series.add((name, labels))
for f in set(helps) | set(types):
    if f not in helps or f not in types:
        errors.append("family %s lacks HELP or TYPE" % f)
if errors:
    sys.stderr.write(text + "\n" + "\n".join(errors) + "\n")
    sys.exit(1)
PY
}

# expect_sample LINE: the body holds exactly this sample line.
expect_sample() {
	grep -qxF "$1" "$T/body" || {
		cat "$T/body" >&2
		fail "no line '$1'"
	}
}

# --- authorisation and format ----------------------------------------------------------------
call alice GET /metrics
expect_code 200 "alice scrapes /metrics"
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$T/head" ||
	fail "Content-Type: $(grep -i '^content-type' "$T/head")"
check_format "$T/body"
expect_sample 'kma_coord_reports_total{result="accepted"} 0'
expect_sample 'kma_coord_nodes{state="none"} 0'
expect_sample 'kma_coord_peer_table_version 0'
expect_sample 'kma_coord_diagnosis_healthy 1'
expect_sample 'kma_coord_plan_state{state="running"} 0'
expect_sample 'kma_coord_plan_steps{state="pending"} 0'
expect_sample 'kma_coord_lease_held 0'
ok "operator certificate: 200, text format 0.0.4, every family with one HELP and TYPE"

call a-kma01 GET /metrics
expect_code 403 "agent certificate on /metrics"
expect_grep "operator certificates only" "$T/body"
code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$P/ca.pem" \
	"https://localhost:$PORT/metrics" 2>"$T/curl.err") || code="curl-exit-$?"
expect_code 403 "no client certificate on /metrics"
call alice POST /metrics -d x
expect_code 405 "POST /metrics"
grep -qi '^allow: GET' "$T/head" || fail "405 without Allow: GET"
ok "agent certificate and no certificate: 403; POST: 405"

# --- counters after reports ------------------------------------------------------------------
call alice POST /v1/nodes -d '{"node_id":"a-kma01","name":"kma01","address":"127.0.0.1:9443","enrolled_serial":"E2207FDBA432E9010000000000000084"}'
expect_code 201 "add a-kma01"
call alice POST /v1/nodes -d '{"node_id":"u-kma02","name":"kma02","address":"127.0.0.2:9443"}'
expect_code 201 "add u-kma02"
"$MKREPORT" report a-kma01 1 5 u-kma02:1:1 u-kma02:2:18 >"$T/report.bin" || fail "mkreport"
call a-kma01 POST /v1/report -H "$CT" --data-binary @"$T/report.bin"
expect_code 200 "valid report"
printf 'this is not protobuf' >"$T/garbage"
call a-kma01 POST /v1/report -H "$CT" --data-binary @"$T/garbage"
expect_code 400 "garbage report"

call alice GET /metrics
expect_code 200 "scrape after reports"
check_format "$T/body"
expect_sample 'kma_coord_reports_total{result="accepted"} 1'
expect_sample 'kma_coord_reports_total{result="rejected_400"} 1'
expect_sample 'kma_coord_reports_total{result="rejected_422"} 0'
expect_sample 'kma_coord_nodes{state="enrolled"} 1'
expect_sample 'kma_coord_nodes{state="none"} 1'
expect_sample 'kma_coord_pair_results{cause="ok"} 1'
expect_sample 'kma_coord_pair_results{cause="peer_serial_mismatch"} 1'
expect_sample 'kma_coord_peer_table_version 2'
grep -q '^kma_coord_node_last_report_timestamp_seconds{node_id="a-kma01"} [0-9]*$' "$T/body" ||
	fail "no last report time for a-kma01"
grep 'node_id="u-kma02"' "$T/body" | grep -qv '^kma_coord_node_healthy{' &&
	fail "u-kma02 never reported but has a per-node sample"
expect_sample 'kma_coord_node_healthy{node_id="u-kma02"} 0'
ok "accepted report counted once, garbage under rejected_400, nodes by state, pairs by cause"

kill -0 "$BG_PID" || fail "kma-coord died"
