#!/bin/sh
# The project's headline test: `make demo` itself (scripts/demo.sh), the OKM incident on a
# three-node sim cluster and its guided recovery, with 2 s stabilisation windows. Asserts
# each stage from what the demo printed: both culprits named, the plan in the incident's
# order (reboot the refusing node first, then factory reset and rejoin), one disruption at
# a time in the journal, exactly one reboot, and a healthy cluster at the end.
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

OUT="$T/demo.out"
KMA_DEMO_STABILISE=2 KMA_DEMO_DIR="$T/demo" sh "$KMA_SOURCE_DIR/scripts/demo.sh" \
	"$KMA_BUILD_DIR" >"$OUT" 2>&1 || { tail -n 80 "$OUT"; fail "make demo failed"; }

# section NAME: what the demo printed under its "== NAME" heading.
section() {
	awk -v h="$1" 'index($0, "== " h) { on = 1; next } /^.*== / && on { exit } on' "$OUT"
}

section "What the cluster sees now" >"$T/seen"
expect_grep "node_not_rejoined" "$T/seen"
expect_grep "node_refused" "$T/seen"
grep "node_not_rejoined" -A1 "$T/seen" | grep -q "a-kma01" ||
	{ cat "$T/seen"; fail "node_not_rejoined does not name a-kma01"; }
ok "the diagnosis names a-kma01 (never rejoined) and a-kma02 (refused)"

section "The plan" >"$T/plan"
order=$(sed -n 's/^ *[0-9]*\. \([a-z_]*\) *\([a-z0-9-]*\).*/\1 \2/p' "$T/plan" | tr '\n' ',')
[ "$order" = "reboot a-kma02,delete_entry a-kma01,factory_reset a-kma01,add_entry a-kma01,quickstart a-kma01,join a-kma01," ] ||
	{ cat "$T/plan"; fail "plan order: $order"; }
ok "the plan: reboot a-kma02 first, then delete_entry, factory_reset, add_entry, quickstart, join of a-kma01"

section "Afterwards" >"$T/after"
# One disruption at a time: every directive's step is done before the next directive.
# History lines: DATE TIME ZONE plan ID [step N] ACTOR EVENT DETAIL (no step for the plan's
# own events).
ev='{ event = "" } $4 == "plan" { if ($6 == "step") { step = $7; event = $9 } else { step = 0; event = $7 } }'
awk "$ev"' event == "directive" { if (open) bad = 1; open = 1 }
	event == "done" && step != 0 { open = 0 } END { exit bad }' "$T/after" ||
	{ cat "$T/after"; fail "two directives overlapped"; }
n=$(awk "$ev"' event == "directive"' "$T/after" | wc -l)
[ "$n" = 3 ] || { cat "$T/after"; fail "$n directives, want 3 (reboot, factory_reset, quickstart)"; }
expect_grep "a-kma02 rebooted 1 time(s)" "$OUT"
expect_grep "healthy: 0 findings" "$T/after"
ok "three directives, one at a time; a-kma02 rebooted exactly once; healthy afterwards"

expect_grep "The cluster is healthy." "$OUT"
grep -q "$(cat "$T/demo/a-kma01/token" 2>/dev/null || echo no-token-file)" "$T/demo/coord.log" &&
	fail "an enrolment token is in the coordinator's log"
grep -rqi "BEGIN EC PRIVATE KEY\|BEGIN PRIVATE KEY" "$T/demo"/*.log "$T/demo"/*/agent.log &&
	fail "a private key is in a log"
ok "make demo ends healthy; no token or key in any log"
