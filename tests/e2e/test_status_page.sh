#!/bin/sh
# The status page in a real browser: headless Chromium (Debian's chromium) opens
# kma-coord's read-only page against a running cluster in the middle of the incident's
# recovery, and the DOM it renders must show the nodes and their states, the mesh as a
# matrix coloured by cause, and the plan stopped at its manual step with that step's gate.
# A screenshot is kept for people: $KMA_BUILD_DIR/screenshots/status.png.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
	fail "chromium is not installed (scripts/deps.sh test installs it)"

build="$KMA_BUILD_DIR"
src="$KMA_SOURCE_DIR"
demo="$T/c"
SC_STABILISE=1
. "$src/scripts/simcluster.sh" >/dev/null
trap 'sc_cleanup; cleanup' EXIT INT TERM

sc_pki
sc_coord_config
SPORT=$(port)
printf 'status_listen = 127.0.0.1:%s\n' "$SPORT" >"$T/status.ini"
# [coord] is the first section: the key goes right after its header.
sed -i "/^\[coord\]/r $T/status.ini" "$demo/coord.conf"
sc_coord_start
sc_cluster a-kma01:sim-manual a-kma02 u-kma02
bench_quickstart a-kma01 >/dev/null
until_ok 60 sh -c "\"$ctl\" diagnose | grep -q node_not_rejoined"
"$ctl" run --yes >"$T/run.out" 2>&1 &
until_ok 60 sh -c "\"$ctl\" status | grep -q 'waiting for an operator'"
ok "a cluster mid-recovery: a-kma01 never rejoined, the plan waits at its manual delete_entry"

# The page and its data, as a script would see them.
curl -sS "http://127.0.0.1:$SPORT/" >"$T/page.html" || fail "GET /"
expect_grep "<title>kma cluster status</title>" "$T/page.html"
curl -sS "http://127.0.0.1:$SPORT/status.json" >"$T/status.json" || fail "GET /status.json"
expect_json "$T/status.json" 'j["plan"]["steps"][0]["phase"]' confirm
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$SPORT/status.json")
[ "$code" = 405 ] || fail "POST on the read-only page: $code"
ok "GET / and /status.json over plain HTTP; POST refused (405)"
"$ctl" --json status >"$T/st.json" && fail "kmactl status exit 0 mid-recovery"
expect_json "$T/st.json" 'j["plan"]["steps"][0]["phase"]' confirm
expect_json "$T/st.json" 'j["healthy"]' False
ok "kmactl --json status carries the plan"

# The page's own data: the cluster's name, the journal of the last hour, and a timeline
# sampled every 30 s (two samples with probes in them before the browser looks).
expect_json "$T/status.json" 'j["cluster"]' demo
expect_json "$T/status.json" '[e["event"] for e in j["journal"]][:2]' "['created', 'started']"
until_ok 120 sh -c "curl -sS 'http://127.0.0.1:$SPORT/status.json' >'$T/tl.json' &&
	python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))[\"timeline\"][\"samples\"]
sys.exit(0 if len([x for x in s if x[\"ok\"] + x[\"failed\"] > 0]) >= 2 and not s[-1][\"healthy\"] else 1)' '$T/tl.json'"
ok "status.json: the cluster's name, the last hour's journal and a timeline of samples"

# The browser: the DOM after the page's script ran, and a screenshot.
export HOME="$T/home"
mkdir -p "$HOME" "$build/screenshots"
flags="--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
	--user-data-dir=$T/chromium --virtual-time-budget=5000"
# shellcheck disable=SC2086 # flags are words
"$CHROMIUM" $flags --dump-dom "http://127.0.0.1:$SPORT/" >"$T/dom.html" 2>"$T/chromium.err" ||
	{ cat "$T/chromium.err"; fail "chromium --dump-dom"; }
# shellcheck disable=SC2086
"$CHROMIUM" $flags --window-size=1280,1000 --screenshot="$build/screenshots/status.png" \
	"http://127.0.0.1:$SPORT/" >/dev/null 2>>"$T/chromium.err" ||
	{ cat "$T/chromium.err"; fail "chromium --screenshot"; }
[ -s "$build/screenshots/status.png" ] || fail "no screenshot"

python3 - "$T/dom.html" <<'PY' || { cat "$T/dom.html"; fail "what the page shows"; }
import sys
from html.parser import HTMLParser

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.cells, self.rows, self.text = [], {}, {}, {}
        self.loaded = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body" and a.get("data-loaded") == "1":
            self.loaded = True
        self.stack.append((tag, a))
    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass
    def handle_data(self, data):
        for tag, a in reversed(self.stack):
            if "data-from" in a:
                self.cells[(a["data-from"], a["data-to"])] = (a.get("class", ""), a["data-cause"])
                break
            if "data-step" in a or "data-node" in a:
                key = ("step", a["data-step"]) if "data-step" in a else ("node", a["data-node"])
                self.rows.setdefault(key, []).append(data)
                self.rows[key + ("class",)] = a.get("class", "")
                break
            if a.get("id"):
                self.text.setdefault(a["id"], "")
                self.text[a["id"]] += data
                break

p = Page()
p.feed(open(sys.argv[1]).read())
assert p.loaded, "the page's script did not render"
assert p.text.get("verdict") == "NOT HEALTHY", p.text
# Nodes and their states.
# a-kma01 reports with the certificate the cluster never enrolled: refused, and shown so.
assert "reports refused: serial E2207FDBA432E9010000000000000084 not enrolled" in " ".join(p.rows[("node", "a-kma01")]), p.rows
assert "enrolled" in p.rows[("node", "u-kma02")], p.rows
# The matrix, coloured by cause: u-kma02's probe of a-kma01 is a serial mismatch.
cls, cause = p.cells[("u-kma02", "a-kma01")]
assert cause == "peer_serial_mismatch" and "c-identity" in cls, (cls, cause)
cls, cause = p.cells[("u-kma02", "a-kma02")]
assert cause == "ok" and "c-ok" in cls, (cls, cause)
# The culprit stands out: its row, its column of the matrix; the others do not.
assert p.rows[("node", "a-kma01", "class")] == "culprit", p.rows
assert "NOT HEALTHY: " in " ".join(p.rows[("node", "a-kma01")]), p.rows
assert p.rows[("node", "u-kma02", "class")] == "", p.rows
assert "culprit" in p.cells[("u-kma02", "a-kma01")][0], p.cells
assert "culprit" not in p.cells[("a-kma01", "u-kma02")][0], p.cells
# The plan at its manual step, with its gate.
step = " ".join(p.rows[("step", "1")])
assert "delete_entry" in step and "confirm" in step and "kmactl confirm 1" in step, step
assert p.rows[("step", "1", "class")] == "active", p.rows
assert "plan 1: running" in p.text.get("plan", ""), p.text
assert p.text.get("cluster") == "demo", p.text
# The timeline: the share of probes ok, the unhealthy period, the plan's events.
dom = open(sys.argv[1]).read()
assert 'id="tl-ok"' in dom and 'data-unhealthy="1"' in dom, "no timeline drawn"
assert 'data-event="started"' in dom, "the plan's start is not on the timeline"
assert "a-kma01 since " in p.text.get("since", ""), p.text
PY
ok "headless Chromium shows the nodes, the matrix coloured by cause and the plan at its manual step"

# kmactl status --watch, not at a terminal: a block now, another only when something changes.
"$ctl" status --watch >"$T/watch.out" 2>&1 &
W=$!
until_ok 30 grep -q "recovery plan 1: running" "$T/watch.out"
expect_exit 0 "$ctl" confirm 1
until_ok 30 sh -c "grep -q 'step 1 delete_entry' \"$T/watch.out\" && grep -q 'step [2-5] ' \"$T/watch.out\""
kill "$W"
blocks=$(grep -c "^recovery plan 1:" "$T/watch.out")
[ "$blocks" -ge 2 ] && [ "$blocks" -le 12 ] ||
	{ cat "$T/watch.out"; fail "status --watch printed $blocks blocks"; }
ok "kmactl status --watch off a terminal: printed again only on changes ($blocks blocks)"
echo "screenshot: $build/screenshots/status.png"
