#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# raft_server.sh - uwal-raft-server(1) and uwal-raft-client(1): three
# servers on 127.0.0.1 in a temporary directory (bootstrapped there), 20
# records appended through a follower (the client follows the redirect) and
# read back from every node (a follower serves what it has applied: the
# reads poll until each node has it); the leader SIGKILLed, a new one
# elected by the other two, 20 more records appended and read back; the
# killed node restarted from its directory (its uwal log recovered) and
# seen to catch up with every record; then the leader stopped with SIGTERM
# while 8 clients append, and the other two after it: each must exit 0
# (under ASan, a leak or a double free makes it fail).
#
# Small snapshot threshold and trailing, so that snapshots are taken,
# stored and loaded on the restart. Every wait polls with a deadline; no
# timing is asserted. Registered only when libuwal-raft is built.
set -euo pipefail

name=raft_server
snap_threshold=16
snap_trailing=8
# shellcheck source=raft/cluster.sh
source "$(dirname "$0")/raft/cluster.sh"
start_cluster

declare -A records # index -> text

append_via() { # id text
	local idx
	idx=$("$client" --server "$(client_addr "$1")" --timeout "$wait_s" append "$2") ||
		fail "append \"$2\" via node $1 failed"
	[[ $idx =~ ^[0-9]+$ ]] || fail "append \"$2\": not an index: $idx"
	[ -z "${records[$idx]+x}" ] || fail "index $idx given twice"
	records[$idx]=$2
}

# Every record is read back from node $1, waiting for the node to apply it.
check_node() { # id
	local i=$1 idx got deadline=$((SECONDS + wait_s))
	for idx in "${!records[@]}"; do
		got=$(read_wait "$i" "$idx" "$deadline") || exit 1
		[ "$got" = "${records[$idx]}" ] ||
			fail "node $i: record $idx is \"$got\", want \"${records[$idx]}\""
	done
}

leader=$(wait_leader 1 0) || fail "no leader elected"
follower=$((leader % 3 + 1))
echo "raft_server: node $leader leads; appending through node $follower"
for n in $(seq 1 20); do append_via "$follower" "record $n: first round"; done
for i in 1 2 3; do check_node "$i"; done
echo "raft_server: ${#records[@]} records on every node"

kill -KILL "${pid[$leader]}"
wait "${pid[$leader]}" 2>/dev/null || true
unset "pid[$leader]"
killed=$leader
survivor=$((killed % 3 + 1))
leader=$(wait_leader "$survivor" "$killed") || fail "no new leader after node $killed was killed"
echo "raft_server: node $killed killed; node $leader leads"
for n in $(seq 1 20); do append_via "$survivor" "record $n: after the kill"; done
for i in 1 2 3; do [ "$i" = "$killed" ] || check_node "$i"; done

start_node "$killed"
wait_up "$killed" || fail "node $killed does not come back"
check_node "$killed"
echo "raft_server: node $killed restarted and caught up: ${#records[@]} records," \
	"applied to $(status_field "$killed" applied)"

# SIGTERM to the leader while 8 clients append: it answers what raft took,
# refuses the rest, closes, and must exit 0.
leader=$(wait_leader "$killed" 0) || fail "no leader after the restart"
"$client" --server "$(client_addr "$leader")" --timeout 10 bench --clients 8 \
	--seconds 30 --warmup 0 >"$work/bench.out" 2>&1 &
bench_pid=$!
deadline=$((SECONDS + wait_s))
# The leader's applied index, or fail() if it died or stopped answering.
applied_of() { # id
	local a
	a=$(status_field "$1" applied || true)
	alive "$1" || fail "node $1 died under load"
	[[ $a =~ ^[0-9]+$ ]] || fail "node $1 gives no applied index under load: \"$a\""
	echo "$a"
}
before=$(applied_of "$leader") || exit 1
while :; do
	now=$(applied_of "$leader") || exit 1
	[ "$now" -lt $((before + 200)) ] || break
	[ $SECONDS -lt $deadline ] || fail "the leader applied nothing under load"
	sleep 0.1
done
kill -TERM "${pid[$leader]}"
rc=0
wait "${pid[$leader]}" || rc=$?
unset "pid[$leader]"
[ $rc -eq 0 ] || fail "node $leader (the leader, under load) exited $rc on SIGTERM"
wait "$bench_pid" 2>/dev/null || true
echo "raft_server: the leader, node $leader, stopped under load"

for i in "${!pid[@]}"; do kill -TERM "${pid[$i]}"; done
for i in "${!pid[@]}"; do
	rc=0
	wait "${pid[$i]}" || rc=$?
	unset "pid[$i]"
	[ $rc -eq 0 ] || fail "node $i exited $rc on SIGTERM"
done
echo "raft_server: passed in $((SECONDS - start)) s"
