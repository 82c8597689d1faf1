#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/crash/run.sh - uwal's crash, power-loss and fault testing (crashwal).
#
#   tests/crash/run.sh [--iterations N] [--crash-iterations N] [--power-iterations N]
#                      [--sim-iterations N] [--raft-rounds N] [--seed S] [--build DIR]
#                      [--only crash|sim|ext4|xfs|raft]
#
# Runs crashwal's process-crash mode (default 200 iterations), then its
# power-loss mode on ext4 and on xfs (default 100 iterations each) on a
# small image attached to a loop device. --iterations N runs N of each
# (e.g. --iterations 10000 for the long version); --crash-iterations and
# --power-iterations set one side only. Power loss is skipped,
# with a "SKIP:" line and success, when not root, or when loop devices,
# mkfs.ext4/mkfs.xfs or the filesystem are unavailable. Simulated power
# loss (crashwal --mode sim, no root) runs 5000 iterations by default (and
# N with --iterations); --sim-iterations N sets it alone, 0 skips it.
# Last, when libuwal-raft is built, tests/raft_kill.sh: three
# uwal-raft-server processes, a random one SIGKILLed and restarted each
# round, 100 rounds (--raft-rounds N; 0 skips it; ctest runs raft_kill
# itself, with fewer).
#
# The crashwal binary: --build DIR, else $UWAL_BUILD_DIR (set by ctest),
# else the repository's build/; it is DIR/tests/crashwal. Scratch space: $UWAL_TEST_DIR
# (set by ctest), else DIR/test-data. Whatever happens (failure, Ctrl-C,
# crashwal killed), the trap unmounts the images and detaches their loop
# devices. The seed is random unless given; every failure prints it.
set -uo pipefail

iterations=""
crash_n=""
power_n=""
sim_n=""
raft_n=100
seed=""
build="${UWAL_BUILD_DIR:-}"
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--iterations) iterations="$2"; shift 2 ;;
	--crash-iterations) crash_n="$2"; shift 2 ;;
	--power-iterations) power_n="$2"; shift 2 ;;
	--sim-iterations) sim_n="$2"; shift 2 ;;
	--raft-rounds) raft_n="$2"; shift 2 ;;
	--seed) seed="$2"; shift 2 ;;
	--build) build="$2"; shift 2 ;;
	--only) only="$2"; shift 2 ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$build" ] || build="$(cd "$(dirname "$0")/../.." && pwd)/build"
crashwal="$build/tests/crashwal"
if [ ! -x "$crashwal" ]; then
	echo "run.sh: $crashwal not found (build first, or pass --build DIR)" >&2
	exit 1
fi
work="${UWAL_TEST_DIR:-$build/test-data}/crash"
mkdir -p "$work"
[ -z "$seed" ] && seed="0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"

common=(--seed "$seed")
[ -n "$crash_n" ] || crash_n="${iterations:-200}"
[ -n "$power_n" ] || power_n="${iterations:-100}"
[ -n "$sim_n" ] || sim_n="${iterations:-5000}"

# Unmount and detach everything of ours, even if crashwal died.
cleanup() {
	for fs in ext4 xfs; do
		local mnt="$work/$fs.mnt" img="$work/$fs.img"
		if mountpoint -q "$mnt" 2>/dev/null; then
			for _ in $(seq 1 100); do
				umount "$mnt" 2>/dev/null && break
				sleep 0.05
			done
		fi
		if [ -e "$img" ]; then
			losetup -j "$img" 2>/dev/null | cut -d: -f1 | while read -r dev; do
				losetup -d "$dev" 2>/dev/null
			done
			rm -f "$img"
		fi
	done
}
cleanup # whatever an earlier run that was killed outright left behind
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
run() {
	echo "run.sh: $*"
	"$@" || status=1
}

if [ -z "$only" ] || [ "$only" = crash ]; then
	run "$crashwal" --iterations "$crash_n" --dir "$work/proc" "${common[@]}"
fi

if { [ -z "$only" ] || [ "$only" = sim ]; } && [ "$sim_n" != 0 ]; then
	# In /dev/shm (crashwal's default for sim) where it is writable.
	run "$crashwal" --mode sim --iterations "$sim_n" --keep-going "${common[@]}"
fi

power_skip() {
	echo "SKIP: power loss on $1: $2"
}

for fs in ext4 xfs; do
	[ -z "$only" ] || [ "$only" = "$fs" ] || continue
	if [ "$(id -u)" != 0 ]; then
		power_skip "$fs" "needs root"
		continue
	fi
	if ! command -v losetup >/dev/null || ! losetup -f >/dev/null 2>&1; then
		power_skip "$fs" "needs loop devices (losetup -f found none)"
		continue
	fi
	if ! command -v "mkfs.$fs" >/dev/null; then
		power_skip "$fs" "needs mkfs.$fs"
		continue
	fi
	if ! grep -qw "$fs" /proc/filesystems && ! modprobe "$fs" 2>/dev/null; then
		power_skip "$fs" "the kernel has no $fs"
		continue
	fi
	run "$crashwal" --power-loss --fs "$fs" --image "$work/$fs.img" --mnt "$work/$fs.mnt" \
		--iterations "$power_n" "${common[@]}"
done

if { [ -z "$only" ] || [ "$only" = raft ]; } && [ "$raft_n" != 0 ]; then
	if [ -x "$build/raft/uwal-raft-server" ]; then
		UWAL_BUILD_DIR="$build" run bash "$(dirname "$0")/../raft_kill.sh" --rounds "$raft_n"
	else
		echo "SKIP: raft SIGKILL rounds: $build/raft/uwal-raft-server is not built"
	fi
fi
exit $status
