#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/stall.sh - attribute the periodic fdatasync stall (see README.md).
#   perf/stall.sh [REPS [SECONDS [DIR]]]     defaults: 4 reps, 4 s, /var/tmp/uwal-stall
# DIR must be on a real filesystem (the root ext4), never tmpfs.
# Runs every variant once per rep, alternating, then a perf block/sched trace
# of one quiet and one busy run. Everything lands in perf/results/stall-DATE/;
# the tables are printed at the end (min/median/max over the reps).
set -euo pipefail
cd "$(dirname "$0")"
make -s stall duty
REPS=${1:-4}
T=${2:-4}
DIR=${3:-/var/tmp/uwal-stall}
OUT=results/stall-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
if [ "$(stat -f -c %T "$(dirname "$DIR")")" = tmpfs ]; then
	echo "stall.sh: $DIR is on tmpfs; give a directory on the disk" >&2
	exit 1
fi

env_report() {
	echo "## environment $(date -Is)"
	uname -r
	echo "hypervisor flag in /proc/cpuinfo: $(grep -c -m1 -w hypervisor /proc/cpuinfo || true)"
	dmesg 2>/dev/null | grep -m3 -iE 'Hypervisor detected|FIRECK|firecracker' || true
	echo "DMI: $(cat /sys/class/dmi/id/sys_vendor 2>/dev/null || echo 'not present')"
	grep -o 'firecracker-init\|nested_pvm=[^ ]*\|sched_vcpu_pack=[^ ]*\|haltpoll[^ ]*' /proc/cmdline | sort -u | tr '\n' ' '
	echo
	for f in /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.stat /sys/fs/cgroup/cpu/cpu.cfs_quota_us \
		/sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.stat /sys/fs/cgroup/unified/cpu.stat; do
		[ -e "$f" ] && { echo "$f:"; sed 's/^/    /' "$f"; } || echo "$f: absent"
	done
	echo "steal in /proc/stat (ticks since boot): $(awk '/^cpu /{print $9}' /proc/stat)"
	echo "ext4 journal of /: $(cat /sys/fs/ext4/"$(findmnt -no SOURCE / | sed 's|/dev/||')"/journal_task 2>/dev/null)"
	echo "jbd2 threads: $(ps -eo comm | grep -c '^jbd2' || true)"
	findmnt -no OPTIONS /
	for f in /proc/sched_debug /sys/kernel/debug/sched/debug; do
		[ -e "$f" ] && echo "$f present" || echo "$f absent"
	done
	echo "perf: $(perf --version 2>&1)"
}
env_report | tee "$OUT/env.txt"

LOAD=
start_load() {
	case $1 in
	busy | probe-busy | pwrite-busy) taskset -c 1 sh -c 'while :; do :; done' & LOAD=$! ;;
	duty) taskset -c 1 ./duty 100 100 & LOAD=$! ;;
	*) LOAD= ;;
	esac
	return 0
}
stop_load() {
	if [ -n "$LOAD" ]; then
		kill "$LOAD" 2>/dev/null || true
		wait "$LOAD" 2>/dev/null || true
	fi
	LOAD=
}
trap stop_load EXIT

args_for() {
	case $1 in
	quiet | busy | duty) echo "-m uring" ;;
	probe) echo "-m uring -p 1" ;;              # the in-process spinner is the busy CPU
	spin) echo "-m uring-spin" ;;
	spin-ctl) echo "-m uring-nd" ;;             # same ring flags as spin, but sleeps
	pwrite) echo "-m pwrite" ;;
	pwrite-busy) echo "-m pwrite" ;;
	esac
}

VARIANTS="quiet busy probe duty spin spin-ctl pwrite pwrite-busy"
: >"$OUT/summary.txt"
for rep in $(seq 1 "$REPS"); do
	for v in $VARIANTS; do
		la0=$(cut -d' ' -f1 /proc/loadavg)
		start_load "$v"
		# shellcheck disable=SC2046
		line=$(./stall -d "$DIR" -t "$T" $(args_for "$v") -o "$OUT/$v-$rep" | tee "$OUT/$v-$rep.txt" | grep '^SUMMARY')
		stop_load
		la1=$(cut -d' ' -f1 /proc/loadavg)
		echo "variant=$v rep=$rep load0=$la0 load1=$la1 ${line#SUMMARY }" | tee -a "$OUT/summary.txt"
	done
done

# perf: context switches, and a block + scheduler trace of one quiet and one busy run
{
	echo "## perf stat, quiet"
	perf stat -e context-switches,cpu-migrations,task-clock ./stall -d "$DIR" -t 2 -m uring 2>&1 | grep -vE '^\s*$'
	echo "## perf stat, pwrite"
	perf stat -e context-switches,cpu-migrations,task-clock ./stall -d "$DIR" -t 2 -m pwrite 2>&1 | grep -vE '^\s*$'
} >"$OUT/perfstat.txt" 2>&1 || echo "perf stat failed" >>"$OUT/perfstat.txt"
dev=$(basename "$(findmnt -no SOURCE /)")
vdev=$(basename "$(readlink -f /sys/block/"$dev"/device)")
IRQ=$(awk -v n="$vdev-req" 'index($0, n) { sub(":", "", $1); print $1; exit }' /proc/interrupts)
for v in quiet busy; do
	start_load "$v"
	perf record -q -m 8M -k CLOCK_MONOTONIC -a -o "$OUT/trace-$v.data" -e block:block_rq_issue \
		-e irq:irq_handler_entry -e sched:sched_switch -- \
		./stall -d "$DIR" -t 3 -m uring -o "$OUT/trace-$v" >"$OUT/trace-$v.txt" 2>&1 || true
	stop_load
	perf script -i "$OUT/trace-$v.data" -F tid,cpu,time,event,trace >"$OUT/trace-$v.script" 2>/dev/null || true
	rm -f "$OUT/trace-$v.data"
	t0=$(sed -n 's/.* t0_ns=\([0-9]*\).*/\1/p' "$OUT/trace-$v.txt")
	{
		echo "## block/sched trace, $v"
		grep -v SUMMARY "$OUT/trace-$v.txt"
		python3 ./blocktrace.py "$OUT/trace-$v.script" "$OUT/trace-$v.calls.csv" "$t0" "$IRQ"
	} >"$OUT/blocktrace-$v.txt" 2>&1 || true
	gzip -f "$OUT/trace-$v.script"
done

python3 ./summarize.py stall "$OUT/summary.txt" | tee "$OUT/table.md"
cat "$OUT"/blocktrace-*.txt "$OUT/perfstat.txt"
echo "results in perf/$OUT"
