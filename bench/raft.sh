#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# raft.sh - a three-node uwal-raft-server cluster on 127.0.0.1, raft's log
# on uwal (--storage uwal) against raft's own storage (--storage raft_uv),
# in the same run: committed records/s and commit latency p50/p99 seen by
# uwal-raft-client bench with 1, 16 and 64 concurrent clients (each one
# APPEND in flight on its own connection to the leader; a reply comes once
# the record is committed and applied on the leader).
#
# Each pass starts a fresh cluster per storage (new directories), runs every
# client count on it, and stops it; the passes alternate which storage goes
# first. The table gives each point's median over the passes and the
# spread (min..max) of the rate. Snapshots are off in effect
# (--snapshot-threshold 4000000000): the figures are of the log, not of the
# state machine's snapshots. Nothing is asserted: this is a measurement.
#
# usage: bench/raft.sh [--build DIR] [--dir DIR] [--seconds S] [--warmup S]
#                      [--passes N] [--clients "1 16 64"] [--size BYTES]
#                      [--storages "uwal raft_uv"] [--keep]
#   --build   the build tree (default: ./build, or $UWAL_BUILD_DIR)
#   --dir     where the nodes' directories go (default: BUILD/bench-data/raft);
#             the file system there is what is measured
set -euo pipefail

build=${UWAL_BUILD_DIR:-$PWD/build}
dir=
seconds=3
warmup=0.5
passes=2
clients_list="1 16 64"
size=64
storages="uwal raft_uv"
keep=0

die() {
	echo "raft.sh: $*" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a value}; shift 2 ;;
	--dir) dir=${2:?--dir needs a value}; shift 2 ;;
	--seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
	--warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
	--passes) passes=${2:?--passes needs a value}; shift 2 ;;
	--clients) clients_list=${2:?--clients needs a value}; shift 2 ;;
	--size) size=${2:?--size needs a value}; shift 2 ;;
	--storages) storages=${2:?--storages needs a value}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ $passes =~ ^[1-9][0-9]*$ ]] || die "--passes: \"$passes\" is not a count"
for s in $storages; do
	[ "$s" = uwal ] || [ "$s" = raft_uv ] || die "--storages: \"$s\" is not uwal or raft_uv"
done
server=$build/raft/uwal-raft-server
client=$build/raft/uwal-raft-client
for b in "$server" "$client"; do
	[ -x "$b" ] || die "$b is not built (libuwal-raft needs libraft-dev and libuv1-dev)"
done
[ -n "$dir" ] || dir=$build/bench-data/raft
mkdir -p "$dir"
work=$(mktemp -d "$dir/run.XXXXXX")
results=$work/results

declare -A pid
bad_exits=0
stop_all() { # [check]: a node that does not exit 0 on SIGTERM is counted
	local rc
	for i in "${!pid[@]}"; do
		kill -TERM "${pid[$i]}" 2>/dev/null || true
	done
	for i in "${!pid[@]}"; do
		rc=0
		wait "${pid[$i]}" 2>/dev/null || rc=$?
		unset "pid[$i]"
		if [ -n "${1:-}" ] && [ $rc -ne 0 ]; then
			echo "raft.sh: node $i exited $rc on SIGTERM; its log:" >&2
			grep "\[$i\]\|^[^u]" "$work/server.log" | tail -n 20 >&2 || true
			bad_exits=$((bad_exits + 1))
		fi
	done
}
cleanup() {
	for i in "${!pid[@]}"; do kill -KILL "${pid[$i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ $keep -eq 1 ] && { echo "raft.sh: kept $work" >&2; return; }
	rm -rf "$work"
}
trap cleanup EXIT

client_addr() { echo "127.0.0.1:$((port_base + $1 + 1000))"; }

# Start three nodes of storage $1 in $2 on free ports; 0, or 1.
start_cluster() { # storage dir
	local attempt i deadline up
	for attempt in 1 2 3 4 5; do
		# Below Linux's ephemeral ports (32768 on), as tests/raft/cluster.sh.
		port_base=$((10000 + (($$ * 13 + attempt * 1013 + RANDOM) % 6500) * 3))
		local cluster="1@127.0.0.1:$((port_base + 1)),2@127.0.0.1:$((port_base + 2)),3@127.0.0.1:$((port_base + 3))"
		rm -rf "$2"
		mkdir -p "$2"
		: >"$work/server.log"
		for i in 1 2 3; do
			"$server" --id "$i" --dir "$2/node$i" --address "127.0.0.1:$((port_base + i))" \
				--cluster "$cluster" --storage "$1" --snapshot-threshold 4000000000 \
				--quiet >>"$work/server.log" 2>&1 &
			pid[$i]=$!
		done
		deadline=$((SECONDS + 60))
		up=0
		while [ $SECONDS -lt $deadline ]; do
			up=1
			for i in 1 2 3; do
				kill -0 "${pid[$i]}" 2>/dev/null || { up=2; break; }
				"$client" --server "$(client_addr "$i")" --timeout 5 status \
					>/dev/null 2>&1 || up=0
			done
			[ $up -ne 0 ] && break
			sleep 0.1
		done
		[ $up -eq 1 ] && return 0
		stop_all
		# Only a port in use is worth another try.
		grep -qi 'in use' "$work/server.log" || return 1
	done
	return 1
}

echo "raft.sh: 3 nodes on 127.0.0.1, data in $dir ($(df -PT "$dir" | awk 'NR == 2 { print $2 }'))," \
	"${seconds} s per point after ${warmup} s warm-up, ${size}-byte records, $passes passes" >&2
: >"$results"
for pass in $(seq 1 "$passes"); do
	order=$storages
	if [ $((pass % 2)) -eq 0 ]; then
		order=$(echo "$storages" | tr ' ' '\n' | tac | tr '\n' ' ')
	fi
	for storage in $order; do
		start_cluster "$storage" "$work/$storage" ||
			{ echo "raft.sh: could not start a $storage cluster (see $work/server.log)" >&2; keep=1; exit 1; }
		for n in $clients_list; do
			line=$("$client" --server "$(client_addr 1)" --timeout 30 bench --clients "$n" \
				--seconds "$seconds" --warmup "$warmup" --size "$size") ||
				{ echo "raft.sh: bench failed: $storage, $n clients" >&2; keep=1; exit 1; }
			echo "pass=$pass storage=$storage $line" >>"$results"
			echo "raft.sh: pass $pass $storage: $line" >&2
		done
		stop_all check
		rm -rf "${work:?}/$storage"
	done
done

# The table: per storage and client count, the median of the passes'
# rates, p50 and p99, and the rates' min..max and spread.
awk -v storages="$storages" -v clients="$clients_list" '
	function field(name,   i) {
		for (i = 1; i <= NF; i++)
			if (index($i, name "=") == 1)
				return substr($i, length(name) + 2)
		return ""
	}
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		k = field("storage") SUBSEP field("clients")
		rate[k] = rate[k] " " field("entries_per_s")
		p50[k] = p50[k] " " field("p50_us")
		p99[k] = p99[k] " " field("p99_us")
	}
	END {
		printf "%-8s %7s %12s %10s %10s %19s %7s\n", "storage", "clients", "entries/s",
			"p50 us", "p99 us", "entries/s min..max", "spread"
		ns = split(storages, s, " ")
		nc = split(clients, c, " ")
		for (j = 1; j <= nc; j++)
			for (i = 1; i <= ns; i++) {
				k = s[i] SUBSEP c[j]
				if (!(k in rate))
					continue
				m = median(rate[k])
				n = split(rate[k], r, " ")
				lo = hi = r[1]
				for (x = 2; x <= n; x++) {
					if (r[x] + 0 < lo + 0) lo = r[x]
					if (r[x] + 0 > hi + 0) hi = r[x]
				}
				printf "%-8s %7s %12.0f %10.0f %10.0f %9.0f..%-9.0f %6.1f%%\n", s[i], c[j], m,
					median(p50[k]), median(p99[k]), lo, hi, (m > 0 ? 100 * (hi - lo) / m : 0)
			}
	}' "$results"
if [ $bad_exits -gt 0 ]; then
	echo "raft.sh: $bad_exits node(s) did not exit 0 on SIGTERM" >&2
	exit 1
fi
