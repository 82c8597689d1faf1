# SPDX-License-Identifier: Apache-2.0
# tests/raft/cluster.sh - sourced by the tests that run uwal-raft-server(1)
# clusters (tests/raft_server.sh, tests/raft_kill.sh): three servers on
# 127.0.0.1 in a temporary directory, on free ports; their pids in pid[],
# their logs in $work/log<id>; fail() prints the logs' tails and exits 1;
# the trap kills the servers and removes the directory. The caller sets
# name (for messages), snap_threshold and snap_trailing first, and calls
# start_cluster. Every wait polls with a deadline; no timing is asserted.
build=${UWAL_BUILD_DIR:-$PWD}
server=$build/raft/uwal-raft-server
client=$build/raft/uwal-raft-client
for b in "$server" "$client"; do
	[ -x "$b" ] || { echo "$name: $b is not built" >&2; exit 1; }
done

base_tmp=${UWAL_TEST_DIR:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$base_tmp/$name.XXXXXX")
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
	echo "$name: FAIL: $*" >&2
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
		--cluster "$cluster" --snapshot-threshold "$snap_threshold" \
		--snapshot-trailing "$snap_trailing" \
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

start_cluster() {
	# Start the three on free ports: a port taken by someone else makes a server
	# exit at once; then all three start again on other ports. Raft ports
	# 10000..29499 and client ports 1000 above, below Linux's ephemeral range
	# (32768 on): an outgoing connection's port there took a node's raft port.
	started=0
	for attempt in 1 2 3 4 5; do
		port_base=$((10000 + (($$ * 7 + attempt * 1009) % 6500) * 3))
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
		echo "$name: a port was taken (attempt $attempt): trying others" >&2
		for i in 1 2 3; do kill -KILL "${pid[$i]}" 2>/dev/null || true; done
		wait 2>/dev/null || true
	done
	[ $started -eq 1 ] || fail "could not start three servers"
	echo "$name: three servers on 127.0.0.1:$(raft_port 1)..$(raft_port 3)"
}

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


# The record at index $2 as node $1 serves it, once it has applied it;
# fail() if it has none within the deadline $3 (an absolute $SECONDS).
read_wait() { # id index deadline
	local got rc
	while :; do
		rc=0
		got=$("$client" --server "$(client_addr "$1")" --timeout 5 read "$2" 2>/dev/null) ||
			rc=$?
		[ $rc -eq 0 ] && break
		[ $rc -eq 3 ] || [ $rc -eq 1 ] || fail "read $2 from node $1: exit $rc"
		[ $SECONDS -lt "$3" ] || fail "node $1 has no record at $2 in time (exit $rc)"
		sleep 0.1
	done
	printf '%s\n' "$got"
}
