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

build=${UWAL_BUILD_DIR:-$PWD}
server=$build/raft/uwal-raft-server
client=$build/raft/uwal-raft-client
for b in "$server" "$client"; do
	[ -x "$b" ] || { echo "raft_server: $b is not built" >&2; exit 1; }
done

base_tmp=${UWAL_TEST_DIR:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$base_tmp/raft_server.XXXXXX")
declare -A pid
cleanup() {
	for i in "${!pid[@]}"; do
		kill -KILL "${pid[$i]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "raft_server: FAIL: $*" >&2
	for i in 1 2 3; do
		[ -f "$work/log$i" ] || continue
		echo "---- node $i's log (last 30 lines) ----" >&2
		tail -n 30 "$work/log$i" >&2
	done
	exit 1
}

# Deadlines in seconds; generous for a loaded machine and the sanitizers.
wait_s=60
start=$SECONDS

raft_port() { echo $((port_base + $1)); }
client_addr() { echo "127.0.0.1:$((port_base + $1 + 1000))"; }

start_node() { # id
	local i=$1
	"$server" --id "$i" --dir "$work/node$i" --address "127.0.0.1:$(raft_port "$i")" \
		--cluster "$cluster" --snapshot-threshold 16 --snapshot-trailing 8 \
		>>"$work/log$i" 2>&1 &
	pid[$i]=$!
}

alive() { kill -0 "${pid[$1]}" 2>/dev/null; }

# A node answers STATUS; or the deadline passes (1) or it died (2).
wait_up() { # id
	local deadline=$((SECONDS + wait_s))
	while ! "$client" --server "$(client_addr "$1")" --timeout 5 status >/dev/null 2>&1; do
		alive "$1" || return 2
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# Start the three on free ports: a port taken by someone else makes a server
# exit at once; then all three start again on other ports.
started=0
for attempt in 1 2 3 4 5; do
	port_base=$((10000 + (($$ * 7 + attempt * 1009) % 9000) * 3))
	cluster="1@127.0.0.1:$(raft_port 1),2@127.0.0.1:$(raft_port 2),3@127.0.0.1:$(raft_port 3)"
	rm -rf "$work"/node* "$work"/log*
	for i in 1 2 3; do start_node "$i"; done
	ok=1
	for i in 1 2 3; do
		rc=0
		wait_up "$i" || rc=$?
		[ $rc -eq 0 ] && continue
		[ $rc -eq 1 ] && fail "node $i does not answer after ${wait_s} s"
		ok=0
	done
	[ $ok -eq 1 ] && { started=1; break; }
	grep -qi 'in use' "$work"/log* ||
		fail "a server exited at start, and not for a port in use"
	echo "raft_server: a port was taken (attempt $attempt): trying others" >&2
	for i in 1 2 3; do kill -KILL "${pid[$i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
done
[ $started -eq 1 ] || fail "could not start three servers"
echo "raft_server: three servers on 127.0.0.1:$(raft_port 1)..$(raft_port 3)"

# The field KEY of a node's STATUS line.
status_field() { # id key
	"$client" --server "$(client_addr "$1")" --timeout 5 status 2>/dev/null |
		tr ' ' '\n' | sed -n "s/^$2=//p"
}

# Wait until node $1 names a leader other than $2 (0: any).
wait_leader() { # id not
	local deadline=$((SECONDS + wait_s)) l
	while :; do
		l=$(status_field "$1" leader || true)
		if [ -n "$l" ] && [ "$l" != 0 ] && [ "$l" != "$2" ]; then
			echo "$l"
			return 0
		fi
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

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
	local i=$1 idx got rc deadline
	deadline=$((SECONDS + wait_s))
	for idx in "${!records[@]}"; do
		while :; do
			rc=0
			got=$("$client" --server "$(client_addr "$i")" --timeout 5 read "$idx" 2>/dev/null) ||
				rc=$?
			[ $rc -eq 0 ] && break
			[ $rc -eq 3 ] || [ $rc -eq 1 ] || fail "read $idx from node $i: exit $rc"
			[ $SECONDS -lt $deadline ] ||
				fail "node $i has no record at $idx after ${wait_s} s (exit $rc)"
			sleep 0.1
		done
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
before=$(status_field "$leader" applied)
while [ "$(status_field "$leader" applied)" -lt $((before + 200)) ]; do
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
