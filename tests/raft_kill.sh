#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# raft_kill.sh - three uwal-raft-server(1) processes on 127.0.0.1 and a
# client that appends records one after another (each answered once
# committed), while a random node is SIGKILLed every few hundred
# milliseconds and restarted from its directory (its uwal log and files
# recovered), for ROUNDS rounds:
#
#   tests/raft_kill.sh [--rounds N]      (default 12, or $RAFT_KILL_ROUNDS;
#                                         tests/crash/run.sh runs 100)
#
# Then, with every node up again: no record acknowledged as committed is
# lost or reordered - each is on every node at the index it was given,
# and the indexes grow in the order the client appended - and every
# restarted node caught up. An append whose answer was lost (its node
# killed) may or may not be committed; it is not judged. Small snapshot
# threshold and trailing, so that restarted nodes load snapshots and
# lagging ones get them. Every wait polls with a deadline; no timing is
# asserted. Registered only when libuwal-raft is built.
set -euo pipefail

rounds=${RAFT_KILL_ROUNDS:-12}
if [ "${1:-}" = --rounds ]; then
	rounds=${2:?--rounds N}
fi
name=raft_kill
snap_threshold=64
snap_trailing=32
# shellcheck source=raft/cluster.sh
source "$(dirname "$0")/raft/cluster.sh"
start_cluster
wait_leader 1 0 >/dev/null || fail "no leader elected"

# The appender: record k<n> through a random node (the client follows a
# redirect to the leader); "<index> <text>" for each acknowledged one, in
# the order acknowledged.
appender() {
	local n=0 idx node
	while [ ! -e "$work/stop" ]; do
		n=$((n + 1))
		node=$((RANDOM % 3 + 1))
		if idx=$("$client" --server "$(client_addr "$node")" --timeout 3 append "k$n" \
			2>/dev/null); then
			echo "$idx k$n" >>"$work/acked"
		else
			echo "k$n" >>"$work/unknown"
		fi
	done
}
: >"$work/acked"
: >"$work/unknown"
appender &
appender_pid=$!

kills=0
for r in $(seq 1 "$rounds"); do
	sleep "0.$((2 + RANDOM % 4))"
	victim=$((RANDOM % 3 + 1))
	kill -KILL "${pid[$victim]}" 2>/dev/null || true
	wait "${pid[$victim]}" 2>/dev/null || true
	kills=$((kills + 1))
	sleep "0.$((1 + RANDOM % 3))"
	start_node "$victim"
	rc=0
	wait_up "$victim" || rc=$?
	[ $rc -eq 0 ] || fail "round $r: node $victim does not come back (rc $rc)"
done
touch "$work/stop"
wait "$appender_pid" || true

acked=$(wc -l <"$work/acked")
[ "$acked" -gt 0 ] || fail "no append was acknowledged in $rounds rounds"
# Acknowledged one after another: their indexes grow, each given once.
awk 'NR > 1 && $1 <= prev { print "index " $1 " (" $2 ") after index " prev; bad = 1 }
     { prev = $1 } END { exit bad }' "$work/acked" ||
	fail "acknowledged records out of order (above)"

# Every node, up again, holds every acknowledged record at its index.
leader=$(wait_leader 1 0) || fail "no leader after the last round"
deadline=$((SECONDS + wait_s))
for i in 1 2 3; do
	while read -r idx text; do
		got=$(read_wait "$i" "$idx" "$deadline") || exit 1
		[ "$got" = "$text" ] || fail "node $i: record $idx is \"$got\", want \"$text\""
	done <"$work/acked"
done
echo "$name: $rounds rounds, $kills SIGKILLs; $acked acknowledged records on every node" \
	"in order ($(wc -l <"$work/unknown") appends with a lost answer not judged);" \
	"node $leader leads; $((SECONDS - start)) s"
