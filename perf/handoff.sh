#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/handoff.sh - the hand-off floor and the waiting policies around an
# fdatasync (see README.md).
#   perf/handoff.sh [REPS [SECONDS_PURE [SECONDS_IO [DIR]]]]
#   defaults: 3 reps, 0.5 s per pure hand-off job, 2 s per I/O job,
#   /var/tmp/uwal-stall (must be on the disk, not tmpfs)
# Part A: every writer policy x every submitter policy, 1 and 2 submitters,
# no I/O. Part B: one submitter, the writer does pwrite+fdatasync or an
# io_uring linked write+fdatasync per round trip; the writer and the
# submitter wait with the same policy; with the bare one-thread loops in the
# same rotation. Each rep runs every job once, in order, so variants
# alternate. Results: perf/results/handoff-DATE/.
set -euo pipefail
cd "$(dirname "$0")"
make -s handoff
REPS=${1:-3}
TA=${2:-0.5}
TB=${3:-2}
DIR=${4:-/var/tmp/uwal-stall}
OUT=results/handoff-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
POLS="spin yield futex eventfd sf50"
IOPOLS="spin yield futex eventfd sf50 sf300"
run() {
	local la0 la1 line
	la0=$(cut -d' ' -f1 /proc/loadavg)
	line=$(./handoff -d "$DIR" "$@" | grep '^RESULT')
	la1=$(cut -d' ' -f1 /proc/loadavg)
	echo "${line#RESULT } load0=$la0 load1=$la1" | tee -a "$OUT/$PART.txt"
}
PARTS=${PARTS:-pure io}     # PARTS=io perf/handoff.sh: only part B
for rep in $(seq 1 "$REPS"); do
	PART=pure
	case " $PARTS " in *" pure "*) ;; *) NS= ;; esac
	for n in ${NS-1 2}; do
		for w in $POLS; do
			for s in $POLS; do
				run -t "$TA" -n "$n" -w "$w" -s "$s"
			done
		done
	done
	PART=io
	case " $PARTS " in *" io "*) ;; *) continue ;; esac
	run -t "$TB" -i bare-pwrite -v bare-pwrite
	for p in $IOPOLS; do
		run -t "$TB" -i pwrite -w "$p" -s "$p" -v "pwrite/$p"
	done
	run -t "$TB" -i bare-uring -v bare-uring
	for p in $IOPOLS; do
		run -t "$TB" -i uring -w "$p" -s "$p" -v "uring/$p"
	done
done
[ -e "$OUT/pure.txt" ] && python3 ./summarize.py handoff "$OUT/pure.txt" | tee "$OUT/pure.md"
[ -e "$OUT/io.txt" ] && python3 ./summarize.py handoff "$OUT/io.txt" | tee "$OUT/io.md"
echo "results in perf/$OUT"
