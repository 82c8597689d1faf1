#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/crash/broken.sh - does the simulated power loss catch broken engines?
#
#   tests/crash/broken.sh [--iterations N] [--seed S] [--build DIR]
#
# Runs crashwal --mode sim with each of the crash simulator's forget modes
# (tests/io/crashsim.h): an engine that acknowledges before its fdatasync
# (ring-fdatasync), before its write reached the file (write-before-sync),
# leaves a seal unsynced (seal-fdatasync), skips the directory fsync
# after a segment's creation rename (create-dirsync), or acknowledges a
# truncation before its FRONT or BACK frame is durable
# (trunc-fdatasync: every plan a truncation plan, --truncating, and twice
# the iterations, as only a cut soon after such a truncation shows it).
# Each runs N iterations (default 200) and must FAIL some of them; the script prints
# how many and the first failure, and fails itself if any broken engine
# passed every iteration. The crashwal binary: --build DIR, else
# $UWAL_BUILD_DIR, else the repository's build/.
set -uo pipefail

iterations=200
seed=""
build="${UWAL_BUILD_DIR:-}"
while [ $# -gt 0 ]; do
	case "$1" in
	--iterations) iterations="$2"; shift 2 ;;
	--seed) seed="$2"; shift 2 ;;
	--build) build="$2"; shift 2 ;;
	-h|--help) sed -n '2,21p' "$0"; exit 0 ;;
	*) echo "broken.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$build" ] || build="$(cd "$(dirname "$0")/../.." && pwd)/build"
crashwal="$build/tests/crashwal"
if [ ! -x "$crashwal" ]; then
	echo "broken.sh: $crashwal not found (build first, or pass --build DIR)" >&2
	exit 1
fi
[ -z "$seed" ] && seed="0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

status=0
for mode in ring-fdatasync write-before-sync seal-fdatasync create-dirsync trunc-fdatasync; do
	extra=()
	n="$iterations"
	if [ "$mode" = trunc-fdatasync ]; then
		extra=(--truncating)
		n=$((2 * iterations))
	fi
	"$crashwal" --mode sim --forget "$mode" --expect-failures --iterations "$n" \
		--seed "$seed" "${extra[@]}" >"$log" 2>&1
	rc=$?
	counts="$(grep -E '^sim: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)"
	forgotten="$(grep -oE '[0-9]+ operations forgotten' "$log" | tail -1)"
	first="$(grep -m1 '^FAIL' "$log")"
	if [ "$rc" -eq 0 ]; then
		echo "broken engine $mode: caught (${counts#sim: }; $forgotten)"
		echo "  first: $first"
	else
		echo "broken engine $mode: NOT caught (${counts:-no result}; $forgotten; seed $seed)"
		tail -5 "$log"
		status=1
	fi
done
exit $status
