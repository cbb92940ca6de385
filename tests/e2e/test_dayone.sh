#!/bin/sh
# docs/day-one.md, word for word: every shell block of the guide runs here in its order, on
# loopback in a directory of the test's own. Only these differ, each said in the guide: the
# variables of its "vars" and "node-vars" blocks (the test's own values, every name checked
# against the guide), the service start (in the background, not systemctl), and the node's
# agent.conf (a simulated appliance's, with the [mesh] and [coordinator] the guide shows).
. "$KMA_SOURCE_DIR/tests/e2e/lib.sh"

GUIDE="$KMA_SOURCE_DIR/docs/day-one.md"
mkdir -p "$T/blocks" "$T/bin" "$T/ops"

# The guide's shell blocks, each with the marker before it, in order: NN-MARKER.sh.
python3 - "$GUIDE" "$T/blocks" <<'PY' || fail "cannot read the guide's blocks"
import re, sys
text = open(sys.argv[1]).read()
n = 0
for m in re.finditer(r"<!-- day-one: ([a-z-]+) -->\n```sh\n(.*?)```", text, re.S):
    n += 1
    open("%s/%02d-%s.sh" % (sys.argv[2], n, m.group(1)), "w").write(m.group(2))
if n < 7:
    sys.exit("only %d marked blocks" % n)
PY

# The test's values for the guide's variables; the guide's blocks must name no others.
CPORT=$(free_port)
CLUSTER=dc1
PKI="$T/etc/kma-coord/pki"
COORD_CONF="$T/etc/kma-coord/coord.conf"
COORD_HOST=localhost
COORD_LISTEN="127.0.0.1:$CPORT"
COORD_DB="$T/coord.db"
OPERATOR=alice
set_vars="CLUSTER PKI COORD_CONF COORD_HOST COORD_LISTEN COORD_DB OPERATOR NODE NODE_ADDR"
for b in "$T"/blocks/*-vars.sh; do
	for v in $(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$b"); do
		case " $set_vars " in *" $v "*) ;; *) fail "the guide sets $v; the test does not" ;; esac
	done
done
mkdir -p "$T/etc/kma-coord"
# A packaged install leaves the commented default there; the guide copies over it.
printf '# kma-coord configuration (every key commented out)\n' >"$COORD_CONF"
# The programs as installed: kma-coord and kmactl on PATH; kma-agent with the node's config.
ln -s "$KMA_BUILD_DIR/coordinator/kma-coord" "$KMA_BUILD_DIR/kmactl/kmactl" "$T/ops/"
PATH="$T/ops:$PATH"
export PATH
unset KMACTL_CONFIG

# run_block FILE: the block as the guide has it, stopping at its first error (which fails
# the test); what it exports (KMACTL_CONFIG) holds for the blocks after it.
run_block() {
	echo "--- $(basename "$1")" >>"$T/guide.log"
	(set -e; cd "$T" && . "$1" && export -p >"$T/exports") >>"$T/guide.log" 2>&1 ||
		{ cat "$T/guide.log" >&2; fail "the guide's block $(basename "$1") failed"; }
	eval "$(grep ' KMACTL_CONFIG=' "$T/exports")"
	return 0
}

# node_up NAME: a simulated appliance whose agent.conf says what the guide shows, and a
# kma-agent on PATH that reads it (the guide's commands take the default configuration).
node_up() {
	make_sim "$1" "SIM-$1"
	port=$(free_port)
	cat >>"$T/$1/agent.conf" <<CONF

[mesh]
listen = 127.0.0.1:$port
probe_interval = 2

[coordinator]
url = https://$COORD_HOST:$CPORT/
ca = $PKI/cluster-ca.pem
report_interval = 1
CONF
	mkdir -p "$T/$1/bin"
	printf '#!/bin/sh\nexec "%s" -c "%s" "$@"\n' "$AGENT" "$T/$1/agent.conf" >"$T/$1/bin/kma-agent"
	chmod +x "$T/$1/bin/kma-agent"
	NODE=$1
	NODE_ADDR="127.0.0.1:$port"
}

ops_done=false
for b in "$T"/blocks/*.sh; do
	case "$b" in
	*-vars.sh | *-node-vars.sh) ;;
	*-ops.sh) run_block "$b" ;;
	*-service.sh)
		expect_grep "systemctl enable --now kma-coord" "$b"
		start_bg "$T/coord.log" "$KMA_BUILD_DIR/coordinator/kma-coord" -c "$COORD_CONF"
		wait_for_line "$T/coord.log" "serving on 127.0.0.1:$CPORT"
		;;
	*-add.sh) ops_done=true ;;
	*-node.sh | *-check.sh) ;;
	*) fail "unknown block $(basename "$b")" ;;
	esac
	$ops_done && break
done
$ops_done || fail "the guide has no add block"
[ "$(stat -c %a "$PKI/cluster-ca.key")" = 600 ] || fail "cluster-ca.key is not 0600"
expect_grep "no nodes in the cluster" "$T/guide.log"
ok "kma-coord init, check-config, the service and kmactl status as the guide says"

# init again: refused, nothing changed.
sum=$(cat "$PKI"/* | cksum)
expect_exit 1 kma-coord init --dir "$PKI" --cluster "$CLUSTER" --host "$COORD_HOST"
expect_grep "exists: nothing was written" "$T/err"
[ "$(cat "$PKI"/* | cksum)" = "$sum" ] || fail "a second init changed the PKI"
ok "kma-coord init never overwrites"

# Each node: the add block on the operations host, the node block on the node.
for n in kma01 kma02 kma03; do
	node_up "$n"
	for b in "$T"/blocks/*-add.sh; do run_block "$b"; done
	[ -s "$T/$NODE.token" ] && [ "$(stat -c %a "$T/$NODE.token")" = 600 ] ||
		fail "no token file (0600) for $NODE"
	OLDPATH=$PATH
	PATH="$T/$n/bin:$PATH"
	for b in "$T"/blocks/*-node.sh; do run_block "$b"; done
	PATH=$OLDPATH
	[ -e "$T/$NODE.token" ] && fail "the token file stayed"
	start_bg "$T/$n/agent.log" "$AGENT" -c "$T/$n/agent.conf"
done
ok "three nodes added and enrolled with QuickStart as the guide says"

# The mesh: once it has settled, the guide's checks run and each exits 0.
n=0
until KMACTL_CONFIG="$PKI/kmactl.conf" "$KMA_BUILD_DIR/kmactl/kmactl" diagnose \
	>"$T/diag" 2>&1; do
	n=$((n + 1))
	[ $n -lt 480 ] || { cat "$T/diag" >&2; fail "the mesh never became healthy"; }
	sleep 1
done
for b in "$T"/blocks/*-check.sh; do run_block "$b"; done
expect_grep "3 nodes: 3 ok" "$T/guide.log"
grep -q "okok" "$T/guide.log" && fail "KEY SERVICE shows okok"
ok "kmactl status, mesh and diagnose say healthy, as the guide says"
